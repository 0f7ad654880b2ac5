/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Named slots in a table every process shares (shared memory's instances, models and
 * (instance, model) pairs), and how a mapping finds or claims them without holding
 * the table's lock for the long part.
 *
 * A mapping reads every name of a table once into a hash (a lookup a name then, not a
 * scan of the table for each): at 5000 instances that is milliseconds, and under the
 * lock every request of every process takes it was a stall of as many milliseconds.
 * So a mapping is a plan, read and decided without the lock, then applied under it:
 * aop_slots_seq() before the plan is read, and aop_slots_unchanged() under the lock
 * says whether any name was written since (every write of names goes through
 * aop_slots_apply(), under the lock, and counts there).  When none was, the plan's
 * picture of the table is the table itself and applying it is a few stores; when one
 * was, the caller maps anew under the lock (plan and apply both), as before.
 *
 * The core knows names alone: what a slot's record holds besides is the caller's,
 * initialised between unchanged() and apply() for the slots claimed fresh. */
#ifndef AOP_SLOTS_H
#define AOP_SLOTS_H

#include <apr_hash.h>
#include <apr_pools.h>
#include <apr_tables.h>

/* A table: cap slots stride bytes apart, a slot's name (NUL-terminated, at most
 * name_size - 1 bytes) at base + slot * stride; no slot at or past *hwm was ever
 * named (claimed there, a slot needs no clearing: it is as the segment came). */
typedef struct aop_slot_table_t {
    char *base;
    apr_size_t stride;
    apr_size_t name_size;
    apr_uint32_t cap;
    apr_uint32_t *hwm;
} aop_slot_table_t;

/* A slot claimed by a plan for a name it did not hold. */
typedef struct aop_slot_claim_t {
    int slot;
    int dirty;                       /* it held another name once: its record is stale */
    const char *name;
} aop_slot_claim_t;

/* One table's plan. */
typedef struct aop_slots_t {
    const aop_slot_table_t *tab;
    apr_hash_t *slot_of;             /* name -> slot + 1 (as a pointer-sized integer) */
    const char **name_at;            /* [slot]: its name as read, NULL: nameless */
    apr_array_header_t *free;        /* int: nameless slots below the mark, ascending */
    apr_array_header_t *stale;       /* int: slots named by no one wanted */
    int free_at, stale_at;
    apr_uint32_t hwm;                /* the mark after the plan's claims */
    apr_array_header_t *claims;      /* aop_slot_claim_t, in the order made */
    apr_array_header_t *cleared;     /* int: slots whose names the plan forgets */
} aop_slots_t;

/* The count of name writes, to be read before a plan's aop_slots_read() (acquire). */
apr_uint32_t aop_slots_seq(const volatile apr_uint32_t *seq);

/* Caller holds the lock: whether no name was written since seen was read. */
int aop_slots_unchanged(const volatile apr_uint32_t *seq, apr_uint32_t seen);

/* The names in tab as they are (with or without the lock: a name half-written by
 * another process is read as it lies, and unchanged() says so later).  wanted (may
 * be NULL: every name in use is): names whose slots may not be taken for others.
 * gone (may be NULL): names to forget, each slot whose name is one of them, or
 * starts with one followed by sep (sep not 0), is planned nameless. */
aop_slots_t *aop_slots_read(apr_pool_t *p, const aop_slot_table_t *tab, apr_hash_t *wanted,
                            apr_hash_t *gone, char sep);

/* The slot called name: found, else claimed (*fresh; *dirty when its record held
 * another name before): a nameless slot below the mark, else one never named, else
 * one whose name no one wanted.  -1: no room. */
int aop_slots_claim(apr_pool_t *p, aop_slots_t *s, const char *name, int *fresh, int *dirty);

/* Caller holds the lock and found the plan unchanged: the plan's forgotten names
 * cleared, its claims' names written, the mark moved, *seq counted. */
void aop_slots_apply(aop_slots_t *s, volatile apr_uint32_t *seq);

#endif
