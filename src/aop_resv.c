/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <stddef.h>
#include <string.h>

#include "aop_resv.h"

apr_size_t aop_resv_size(apr_uint32_t cap)
{
    return offsetof(aop_resv_table_t, rec) + sizeof(aop_resv_rec_t) * (cap ? cap : 1);
}

void aop_resv_init(aop_resv_table_t *t, apr_uint32_t cap)
{
    apr_uint32_t i;

    memset(t, 0, aop_resv_size(cap));
    t->cap = cap;
    t->free_head = cap ? 0 : -1;
    for (i = 0; i < cap; i++) {
        t->rec[i].next_free = i + 1 < cap ? (apr_int32_t)(i + 1) : -1;
    }
}

aop_resv_ticket_t aop_resv_claim(aop_resv_table_t *t, apr_uint32_t pid, int inst, int pair,
                                 apr_int64_t tokens, apr_time_t deadline)
{
    aop_resv_ticket_t ticket = { -1, 0 };
    aop_resv_rec_t *r;

    if (t->free_head < 0) {
        t->full++;
        return ticket;
    }
    r = &t->rec[t->free_head];
    ticket.idx = t->free_head;
    ticket.seq = r->seq;
    t->free_head = r->next_free;
    r->next_free = -1;
    r->pid = pid ? pid : 1;
    r->inst = inst;
    r->pair = pair;
    r->tokens = tokens;
    r->deadline = deadline;
    t->in_use++;
    return ticket;
}

static void free_rec(aop_resv_table_t *t, apr_int32_t idx)
{
    aop_resv_rec_t *r = &t->rec[idx];

    r->pid = 0;
    r->seq++;
    r->tokens = 0;
    r->deadline = 0;
    r->next_free = t->free_head;
    t->free_head = idx;
    t->in_use--;
}

static int owns(const aop_resv_table_t *t, const aop_resv_ticket_t *ticket)
{
    return ticket->idx >= 0 && (apr_uint32_t)ticket->idx < t->cap
           && t->rec[ticket->idx].pid && t->rec[ticket->idx].seq == ticket->seq;
}

apr_int64_t aop_resv_release(aop_resv_table_t *t, aop_resv_ticket_t *ticket)
{
    apr_int64_t tokens = 0;

    if (owns(t, ticket)) {
        tokens = t->rec[ticket->idx].tokens;
        free_rec(t, ticket->idx);
    }
    ticket->idx = -1;
    return tokens;
}

void aop_resv_touch(aop_resv_table_t *t, const aop_resv_ticket_t *ticket,
                    apr_time_t deadline)
{
    if (ticket->idx >= 0 && (apr_uint32_t)ticket->idx < t->cap
        && t->rec[ticket->idx].seq == ticket->seq) {
        t->rec[ticket->idx].deadline = deadline;
    }
}

int aop_resv_find_stale(const aop_resv_table_t *t, apr_time_t now, aop_resv_alive_fn *alive,
                        void *baton, aop_resv_stale_t *out, int max)
{
    apr_uint32_t i;
    int n = 0;

    for (i = 0; i < t->cap && n < max; i++) {
        const aop_resv_rec_t *r = &t->rec[i];
        apr_uint32_t pid = r->pid, seq = r->seq;
        int gone;

        if (!pid) {
            continue;
        }
        gone = !alive(baton, pid);
        if (gone || r->deadline < now) {
            out[n].ticket.idx = (apr_int32_t)i;
            out[n].ticket.seq = seq;
            out[n].gone = gone;
            n++;
        }
    }
    return n;
}

int aop_resv_reclaim(aop_resv_table_t *t, const aop_resv_stale_t *stale, int n,
                     apr_time_t now, aop_resv_reclaim_fn *reclaim, void *baton)
{
    int i, done = 0;

    for (i = 0; i < n; i++) {
        aop_resv_rec_t *r;

        if (!owns(t, &stale[i].ticket)) {
            continue;                /* released (or reclaimed) since */
        }
        r = &t->rec[stale[i].ticket.idx];
        if (!stale[i].gone && r->deadline >= now) {
            continue;                /* its owner moved the deadline on since */
        }
        reclaim(baton, r->inst, r->pair, r->tokens);
        t->reclaimed++;
        t->reclaimed_tokens += (apr_uint64_t)(r->tokens > 0 ? r->tokens : 0);
        free_rec(t, stale[i].ticket.idx);
        done++;
    }
    return done;
}
