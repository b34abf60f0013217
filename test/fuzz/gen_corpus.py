#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Writes the seed corpus of fuzz_inet_rx (see the record format there):
# valid frames of every kind the stack handles, for the fuzzer to mutate.
import os, struct, socket

OUR_MAC = bytes.fromhex('020000000002')
PEER_MAC = bytes.fromhex('020000000009')
OUR = socket.inet_aton('10.0.0.2')
PEER = socket.inet_aton('10.0.0.1')

def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff

def eth(payload, etype=0x0800, dst=OUR_MAC):
    return dst + PEER_MAC + struct.pack('!H', etype) + payload

def ip(proto, l4, off=0, src=PEER, dst=OUR):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(l4), 1, off, 64, proto, 0, src, dst)
    h = h[:10] + struct.pack('!H', csum(h)) + h[12:]
    return h + l4

def tcp(sport, dport, seq, ack, flags, opts=b'', data=b'', wnd=65535):
    off = (20 + len(opts)) // 4
    h = struct.pack('!HHIIBBHHH', sport, dport, seq, ack, off << 4, flags, wnd, 0, 0) + opts
    ph = PEER + OUR + struct.pack('!BBH', 0, 6, len(h) + len(data))
    c = csum(ph + h + data)
    return h[:16] + struct.pack('!H', c) + h[18:] + data

def udp(sport, dport, data):
    h = struct.pack('!HHHH', sport, dport, 8 + len(data), 0)
    ph = PEER + OUR + struct.pack('!BBH', 0, 17, 8 + len(data))
    c = csum(ph + h + data) or 0xffff
    return h[:6] + struct.pack('!H', c) + data

def icmp_echo(data=b'pingpong'):
    h = struct.pack('!BBHHH', 8, 0, 0, 0x1234, 1) + data
    return h[:2] + struct.pack('!H', csum(h)) + h[4:]

def arp_req():
    return struct.pack('!HHBBH6s4s6s4s', 1, 0x0800, 6, 4, 1, PEER_MAC, PEER, b'\0' * 6, OUR)

OUR6 = socket.inet_pton(socket.AF_INET6, 'fd00::2')
PEER6 = socket.inet_pton(socket.AF_INET6, 'fd00::1')

def ip6(nxt, l4, src=PEER6, dst=OUR6, hops=64, ext=b'', first=None):
    # checksums are fixed by the harness (flags bit 0)
    return struct.pack('!IHBB', 6 << 28, len(ext) + len(l4), first if first is not None else nxt, hops) + \
        src + dst + ext + l4

def icmp6(t, code=0, rest=b'\0\0\0\0', body=b''):
    return struct.pack('!BBH', t, code, 0) + rest + body

def icmp6_sum(msg, src, dst):
    # for frames with extension headers, which the harness cannot fix
    c = csum(src + dst + struct.pack('!IxxxB', len(msg), 58) + msg)
    return msg[:2] + struct.pack('!H', c) + msg[4:]

MLD_SRC = bytes.fromhex('fe800000000000000000000000000009')
ALL_NODES = bytes.fromhex('ff020000000000000000000000000001')

def rec(frame, flags=1):
    return struct.pack('<HB', len(frame), flags) + frame

SYN_OPTS = bytes([2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 9, 0, 0, 0, 0, 1, 3, 3, 7])
TS = bytes([1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 1])
SACK = bytes([1, 1, 5, 10]) + struct.pack('!II', 100, 600)

seeds = {
    'arp_request': rec(eth(arp_req(), 0x0806), 0),
    'icmp_echo': rec(eth(ip(1, icmp_echo()))),
    'udp_to_bound_port': rec(eth(ip(17, udp(1000, 53, b'query')))),
    'udp_to_closed_port': rec(eth(ip(17, udp(1000, 54, b'query')))),
    'tcp_syn_new_port': rec(eth(ip(6, tcp(41000, 80, 5000, 0, 0x02, SYN_OPTS)))),
    'tcp_syn_no_listener': rec(eth(ip(6, tcp(41000, 81, 5000, 0, 0x02)))),
    'tcp_data_in_order': rec(eth(ip(6, tcp(40000, 80, 0, 0, 0x18, TS, b'more data')))), 
    'tcp_data_out_of_order': rec(eth(ip(6, tcp(40000, 80, 100, 0, 0x18, TS, b'later')))) ,
    'tcp_ack_with_sack': rec(eth(ip(6, tcp(40000, 80, 0, 1000, 0x10, TS + SACK)))),
    'tcp_rst_exact': rec(eth(ip(6, tcp(40000, 80, 0, 0, 0x04)))),
    'tcp_rst_guess': rec(eth(ip(6, tcp(40000, 80, 5000, 0, 0x04)))),
    'tcp_fin': rec(eth(ip(6, tcp(40000, 80, 0, 0, 0x11, TS)))),
    'tcp_syn_in_window': rec(eth(ip(6, tcp(40000, 80, 3, 0, 0x02)))),
    'ip_fragment': rec(eth(ip(17, udp(1000, 53, b'frag'), off=0x2000))),
    'garbage': rec(b'\x02\x00\x00\x00\x00\x02' + os.urandom(40), 0),
    'ip6_echo': rec(eth(ip6(58, icmp6(128, rest=b'\x12\x34\0\1', body=b'pingpong')), 0x86dd)),
    'ip6_ns': rec(eth(ip6(58, icmp6(135, body=OUR6 + bytes([1, 1]) + PEER_MAC),
                          dst=bytes.fromhex('ff0200000000000000000001ff000002'), hops=255), 0x86dd,
                      dst=bytes.fromhex('3333ff000002'))),
    'ip6_na': rec(eth(ip6(58, icmp6(136, rest=b'\x60\0\0\0', body=PEER6 + bytes([2, 1]) + PEER_MAC),
                          hops=255), 0x86dd)),
    'ip6_tcp_syn': rec(eth(ip6(6, tcp(41000, 8080, 5000, 0, 0x02, SYN_OPTS)), 0x86dd)),
    'ip6_udp': rec(eth(ip6(17, udp(1000, 5353, b'query')), 0x86dd)),
    'ip6_udp_closed': rec(eth(ip6(17, udp(1000, 5354, b'query')), 0x86dd)),
    'ip6_ext_chain': rec(eth(ip6(58, icmp6(128, rest=b'\x12\x34\0\2'), first=0,
                                 ext=bytes([60, 0, 1, 4, 0, 0, 0, 0, 43, 0, 1, 4, 0, 0, 0, 0,
                                            58, 0, 0, 0, 0, 0, 0, 0])), 0x86dd), 0),
    'ip6_mld_query': rec(eth(ip6(58, icmp6_sum(icmp6(130, rest=b'\x03\xe8\0\0', body=b'\0' * 20),
                                               MLD_SRC, ALL_NODES),
                                 src=MLD_SRC, dst=ALL_NODES, hops=1, first=0,
                                 ext=bytes([58, 0, 5, 2, 0, 0, 1, 0])), 0x86dd,
                             dst=bytes.fromhex('333300000001')), 0),
    'ip6_fragment': rec(eth(ip6(17, udp(1000, 5353, b'frag'), first=44,
                                ext=bytes([17, 0, 0, 1, 0, 0, 0, 9])), 0x86dd), 0),
}
# relative seq/ack for the established connection: flags 3
for k in ('tcp_data_in_order', 'tcp_data_out_of_order', 'tcp_ack_with_sack', 'tcp_rst_exact', 'tcp_fin',
          'tcp_syn_in_window', 'tcp_rst_guess'):
    seeds[k] = seeds[k][:2] + b'\x03' + seeds[k][3:]
seeds['sequence_data_ooo_fin'] = seeds['tcp_data_out_of_order'] + seeds['tcp_data_in_order'] + seeds['tcp_fin']
seeds['sequence_everything'] = b''.join(v for k, v in sorted(seeds.items()) if not k.startswith('sequence'))

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus')
os.makedirs(out, exist_ok=True)
for k, v in seeds.items():
    with open(os.path.join(out, k + '.bin'), 'wb') as f:
        f.write(v)
print('wrote %d seeds to %s' % (len(seeds), out))
