/* SPDX-License-Identifier: MIT */
/*
 * Wire formats of the protocols stacks/inet speaks (Ethernet II, ARP,
 * IPv4, ICMP, UDP, TCP). Packed structs: frames reach us 2-byte aligned
 * (the IPv4 header follows a 14-byte Ethernet header), so every field is
 * read through these types, never through a cast to an aligned word.
 * Multi-byte fields are in network order.
 */
#ifndef INET_WIRE_H
#define INET_WIRE_H

#include <stdint.h>

#define ETH_ALEN        6
#define ETH_HLEN        14
#define ETH_P_IPV4      0x0800
#define ETH_P_ARP       0x0806
#define ETH_MIN_FRAME   60 /* without FCS */

struct eth_hdr {
    uint8_t dst[ETH_ALEN];
    uint8_t src[ETH_ALEN];
    uint16_t type;
} __attribute__((packed));

#define ARP_HRD_ETHER   1
#define ARP_OP_REQUEST  1
#define ARP_OP_REPLY    2

struct arp_hdr {
    uint16_t hrd;
    uint16_t pro;
    uint8_t hln;
    uint8_t pln;
    uint16_t op;
    uint8_t sha[ETH_ALEN];
    uint32_t spa;
    uint8_t tha[ETH_ALEN];
    uint32_t tpa;
} __attribute__((packed));

#define IP_HLEN_MIN     20
#define IP_DF           0x4000
#define IP_MF           0x2000
#define IP_OFFMASK      0x1fff
#define IPPROTO_ICMP_   1
#define IPPROTO_TCP_    6
#define IPPROTO_UDP_    17
#define IP_DEFAULT_TTL  64

struct ip_hdr {
    uint8_t vhl;      /* version << 4 | header length in words */
    uint8_t tos;
    uint16_t len;
    uint16_t id;
    uint16_t off;
    uint8_t ttl;
    uint8_t proto;
    uint16_t csum;
    uint32_t src;
    uint32_t dst;
} __attribute__((packed));

#define ICMP_ECHO_REPLY     0
#define ICMP_DEST_UNREACH   3
#define ICMP_PORT_UNREACH   3 /* code */
#define ICMP_ECHO_REQUEST   8

struct icmp_hdr {
    uint8_t type;
    uint8_t code;
    uint16_t csum;
    uint32_t rest;    /* echo: id and sequence; unreachable: unused/mtu */
} __attribute__((packed));

struct udp_hdr {
    uint16_t sport;
    uint16_t dport;
    uint16_t len;
    uint16_t csum;
} __attribute__((packed));

#define TCP_HLEN_MIN    20
#define TCP_HLEN_MAX    60
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_ECE 0x40
#define TCP_CWR 0x80

struct tcp_hdr {
    uint16_t sport;
    uint16_t dport;
    uint32_t seq;
    uint32_t ack;
    uint8_t off;      /* data offset in words << 4 */
    uint8_t flags;
    uint16_t wnd;
    uint16_t csum;
    uint16_t urp;
} __attribute__((packed));

#endif /* INET_WIRE_H */
