/* SPDX-License-Identifier: MIT */
/*
 * Socket addresses inside the library: a struct sockaddr_in or a struct
 * sockaddr_in6, told apart by the family field (at the same offset in
 * both). Ops and completions pass `const struct sockaddr *` and the size
 * follows from the family, so IPv4-only code (our TCP/IP, RDMA) keeps
 * using struct sockaddr_in after checking the family.
 */
#ifndef DM_ADDR_H
#define DM_ADDR_H

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* Holds either kind (smaller than sockaddr_storage, which we never need). */
union dm_sockaddr {
    struct sockaddr sa;
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
};

/* The size Linux gives an address of a's family (AF_UNSPEC: as v4). */
static inline socklen_t dm_addr_len(const struct sockaddr *a)
{
    return a->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

/* Copies a into out, clearing what a's family does not use. */
static inline void dm_addr_copy(union dm_sockaddr *out, const struct sockaddr *a)
{
    memset(out, 0, sizeof(*out));
    memcpy(out, a, dm_addr_len(a));
}

/* A MAC address written aa:bb:cc:dd:ee:ff (one or two hex digits a
 * group, nothing after): 0, or -EINVAL. A station address must also not
 * be multicast (mac[0] & 1): the caller's check where it matters. */
static inline int dm_mac_parse(const char *s, uint8_t mac[6])
{
    for (int i = 0; i < 6; i++) {
        unsigned v = 0, digits = 0;
        for (; digits < 3; digits++, s++) {
            char c = *s;
            unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                       : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                       : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16u;
            if (d == 16)
                break;
            v = v * 16 + d;
        }
        if (digits == 0 || digits > 2 || *s != (i < 5 ? ':' : '\0'))
            return -EINVAL;
        mac[i] = (uint8_t)v;
        s++;
    }
    return 0;
}

#endif /* DM_ADDR_H */
