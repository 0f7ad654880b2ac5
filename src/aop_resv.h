/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Who holds which token reservation.  A request reserves its estimate on the
 * instance it picked (aop_tpm_t.reserved) and gives it back when it ends; a process
 * killed in between never gives it back, and one stopped (SIGSTOP, a debugger) holds
 * it for as long as it is stopped.  Each reservation is therefore a record here, with
 * its owner's process id and a deadline that the owner moves on while data flows;
 * a sweep (once a second, by the parent) gives back those whose owner is gone or
 * whose deadline has passed.
 *
 * A fixed-size table in shared memory with a free list: claim and release are O(1)
 * under the segment's lock; the sweep is O(capacity).  A sequence number per record
 * tells a late release (its owner was stopped past the deadline and the record
 * since reclaimed, maybe reused) that there is nothing left to give back. */
#ifndef AOP_RESV_H
#define AOP_RESV_H

#include <apr.h>
#include <apr_time.h>

typedef struct aop_resv_rec_t {
    apr_uint32_t pid;                /* the owner, 0 = free */
    apr_uint32_t seq;                /* bumped whenever the record is freed */
    apr_int32_t inst;                /* the instance's slot in shared memory */
    apr_int32_t next_free;           /* free list link, -1 = end */
    apr_int32_t pair;                /* the (instance, model) pair's slot: the
                                      * deployment's own window; -1 = none */
    apr_int32_t unused;              /* keeps tokens aligned */
    apr_int64_t tokens;              /* reserved */
    volatile apr_int64_t deadline;   /* apr_time_t: given back after it */
} aop_resv_rec_t;

typedef struct aop_resv_table_t {
    apr_uint32_t cap;
    apr_int32_t free_head;
    apr_uint32_t in_use;
    apr_uint32_t full;               /* claims that found no free record (untracked) */
    apr_uint64_t reclaimed;          /* records given back by the sweep */
    apr_uint64_t reclaimed_tokens;
    aop_resv_rec_t rec[1];           /* cap of them */
} aop_resv_table_t;

/* A claim, as its owner remembers it. */
typedef struct aop_resv_ticket_t {
    apr_int32_t idx;                 /* -1: none (or the table was full) */
    apr_uint32_t seq;
} aop_resv_ticket_t;

/* Bytes a table of cap records takes. */
apr_size_t aop_resv_size(apr_uint32_t cap);

void aop_resv_init(aop_resv_table_t *t, apr_uint32_t cap);

/* Caller holds the lock.  A record for tokens on instance slot inst (and pair slot
 * pair, -1 for none), owned by pid
 * until deadline; the ticket's idx is -1 when the table is full (counted in full:
 * the reservation then lives untracked, as before this table existed). */
aop_resv_ticket_t aop_resv_claim(aop_resv_table_t *t, apr_uint32_t pid, int inst, int pair,
                                 apr_int64_t tokens, apr_time_t deadline);

/* Caller holds the lock.  Frees the ticket's record and returns the tokens still
 * reserved in it: 0 when the sweep gave them back already. */
apr_int64_t aop_resv_release(aop_resv_table_t *t, aop_resv_ticket_t *ticket);

/* Without the lock: the owner moves its deadline on (a single aligned store; a
 * record reclaimed meanwhile is left alone by the sequence check under the lock). */
void aop_resv_touch(aop_resv_table_t *t, const aop_resv_ticket_t *ticket,
                    apr_time_t deadline);

/* Whether process pid still exists. */
typedef int aop_resv_alive_fn(void *baton, apr_uint32_t pid);

/* Called for each record given back, under the lock: the reserved tokens go back to
 * instance slot inst and pair slot pair (-1: none). */
typedef void aop_resv_reclaim_fn(void *baton, int inst, int pair, apr_int64_t tokens);

/* A record the sweep found stale, and why. */
typedef struct aop_resv_stale_t {
    aop_resv_ticket_t ticket;
    int gone;                        /* its owner no longer exists (else: past deadline) */
} aop_resv_stale_t;

/* Without the lock (asking whether a process exists is a system call): up to max
 * records whose owner is gone or whose deadline is before now.  A racing claim or
 * release is harmless: aop_resv_reclaim() checks again. */
int aop_resv_find_stale(const aop_resv_table_t *t, apr_time_t now, aop_resv_alive_fn *alive,
                        void *baton, aop_resv_stale_t *out, int max);

/* Caller holds the lock.  Gives back those of stale that are still the same claim
 * (and, unless their owner is gone, still past their deadline); returns how many. */
int aop_resv_reclaim(aop_resv_table_t *t, const aop_resv_stale_t *stale, int n,
                     apr_time_t now, aop_resv_reclaim_fn *reclaim, void *baton);

#endif
