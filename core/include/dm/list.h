/* SPDX-License-Identifier: MIT */
/* Intrusive doubly linked circular list (the Linux list_head idea). */
#ifndef DM_LIST_H
#define DM_LIST_H

#include <stdbool.h>
#include "dm/compiler.h"

struct dm_list {
    struct dm_list *next, *prev;
};

static inline void dm_list_init(struct dm_list *l) { l->next = l->prev = l; }
static inline bool dm_list_empty(const struct dm_list *l) { return l->next == l; }
/* A node that is in no list points at itself (after init or del). */
static inline bool dm_list_linked(const struct dm_list *n) { return n->next != n; }

static inline void dm_list_insert_(struct dm_list *n, struct dm_list *prev, struct dm_list *next)
{
    n->next = next;
    n->prev = prev;
    prev->next = n;
    next->prev = n;
}
static inline void dm_list_add_tail(struct dm_list *head, struct dm_list *n) { dm_list_insert_(n, head->prev, head); }
static inline void dm_list_add_head(struct dm_list *head, struct dm_list *n) { dm_list_insert_(n, head, head->next); }
static inline void dm_list_del(struct dm_list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = n;
}
#define dm_list_entry(ptr, type, member) dm_container_of(ptr, type, member)
#define dm_list_first(head, type, member) dm_list_entry((head)->next, type, member)
#define dm_list_for_each(pos, head) for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)
#define dm_list_for_each_safe(pos, tmp, head) \
    for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); (pos) = (tmp), (tmp) = (pos)->next)

#endif /* DM_LIST_H */
