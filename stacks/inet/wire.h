/* SPDX-License-Identifier: MIT */
/*
 * Wire formats of the protocols stacks/inet speaks (Ethernet II, ARP,
 * IPv4, ICMP, IPv6, ICMPv6 with neighbour discovery, UDP, TCP). Packed structs: frames reach us 2-byte aligned
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
#define ETH_P_IPV6      0x86dd
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
#define ICMP_TIME_EXCEEDED  11
#define ICMP_PARAM_PROB     12

struct icmp_hdr {
    uint8_t type;
    uint8_t code;
    uint16_t csum;
    uint32_t rest;    /* echo: id and sequence; unreachable: unused/mtu */
} __attribute__((packed));

/* IPv6 (RFC 8200) */
#define IP6_HLEN        40
#define IP6_DEFAULT_HOPS 64
#define IP6_NH_HOPOPTS  0
#define IP6_NH_ROUTING  43
#define IP6_NH_FRAGMENT 44
#define IP6_FRAG_HLEN   8  /* next header, reserved, offset | M, identification */
#define IP6_NH_ICMP6    58
#define IP6_NH_NONE     59
#define IP6_NH_DSTOPTS  60

struct ip6_hdr {
    uint32_t vtcfl;   /* version 6 << 28 | traffic class << 20 | flow label */
    uint16_t plen;    /* payload length (what follows this header) */
    uint8_t nxt;      /* next header */
    uint8_t hops;     /* hop limit */
    uint8_t src[16];
    uint8_t dst[16];
} __attribute__((packed));

/* ICMPv6 (RFC 4443) and neighbour discovery (RFC 4861) */
#define ICMP6_DST_UNREACH     1
#define ICMP6_PORT_UNREACH    4 /* code */
#define ICMP6_PACKET_TOO_BIG  2
#define ICMP6_TIME_EXCEEDED   3
#define ICMP6_PARAM_PROB      4
#define ICMP6_ECHO_REQUEST    128
#define ICMP6_ECHO_REPLY      129
#define MLD_LISTENER_QUERY    130
#define MLDV2_LISTENER_REPORT 143
#define MLDV2_MODE_IS_EXCLUDE 2   /* a record answering a query: "in the group" */
#define MLDV2_CHANGE_TO_EXCLUDE 4 /* a record of an unsolicited report: joined */
#define ND_ROUTER_SOLICIT     133
#define ND_ROUTER_ADVERT      134
#define ND_NEIGHBOR_SOLICIT   135
#define ND_NEIGHBOR_ADVERT    136
#define ND_REDIRECT           137
#define ND_OPT_SOURCE_LLADDR  1
#define ND_OPT_TARGET_LLADDR  2
#define ND_NA_FLAG_ROUTER     0x80000000u
#define ND_NA_FLAG_SOLICITED  0x40000000u
#define ND_NA_FLAG_OVERRIDE   0x20000000u
#define ND_HOP_LIMIT          255 /* ND messages must arrive with it (not forwarded) */
#define IP6_MIN_MTU           1280

struct icmp6_hdr {
    uint8_t type;
    uint8_t code;
    uint16_t csum;
    uint32_t rest;    /* echo: id and sequence; NA: flags; errors: unused/mtu/pointer */
} __attribute__((packed));

/* Neighbour solicitation / advertisement: icmp6_hdr then the target. */
struct nd_msg {
    struct icmp6_hdr h;
    uint8_t target[16];
} __attribute__((packed));

/* Link-layer address option for Ethernet (8 bytes: len 1). */
struct nd_opt_lla {
    uint8_t type;
    uint8_t len;      /* in units of 8 bytes */
    uint8_t mac[ETH_ALEN];
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
