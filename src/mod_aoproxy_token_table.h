/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The Entra ID tokens every Apache process sends: a shared-memory table of its own
 * (one anonymous segment, made by the parent in post_config and kept across
 * restarts, so a restart does not wait for new tokens), one slot per credential
 * (aop_token_fingerprint()), so that instances with the same service principal or
 * identity share one token.
 *
 * One writer at a time per slot: the token task (mod_aoproxy_token.c, a singleton
 * mod_watchdog callback) claims, fills and frees slots.  Readers - the request path,
 * the health of an instance - never lock: each slot is a sequence lock (the counter
 * is odd while the slot is written; a reader copies, then checks the counter did not
 * move), so no reader ever sees half a token.  No lock is held across the fetch:
 * the writer takes a slot only to copy a result in. */
#ifndef MOD_AOPROXY_TOKEN_TABLE_H
#define MOD_AOPROXY_TOKEN_TABLE_H

#include <httpd.h>

#include "aop_token.h"

/* Credentials the table holds at once (about 8.5 KiB each; untouched slots cost no
 * memory). */
#define AOP_TOKEN_SLOTS 256
#define AOP_TOKEN_ERROR_MAX 400

typedef struct aop_token_slot_t aop_token_slot_t;

/* What a slot says besides its token (a consistent copy). */
typedef struct {
    apr_time_t fetched;          /* when the token was obtained, 0: never */
    apr_time_t expires_at;       /* 0: no token */
    apr_time_t refresh_at;       /* when the task renews it */
    apr_time_t next_try;         /* after a failure: not before this */
    apr_time_t wanted;           /* the last time an instance used the credential */
    unsigned failures;           /* in a row */
    unsigned refusals;           /* fetches in a row made because Azure refused the
                                  * token before (aop_token_refused_renew_at()) */
    apr_time_t refused_at;       /* when Azure last refused the credential's token
                                  * (401/403 to a Bearer request), 0: never */
    int aad_code;                /* of the last failure, 0: none */
    char error[AOP_TOKEN_ERROR_MAX];   /* the last failure ("" after a success) */
} aop_token_state_t;

/* post_config, real pass: the segment (created once, then re-attached). */
apr_status_t aop_token_table_setup(server_rec *s);
/* pre_config: forget the segment's address until setup runs again. */
void aop_token_table_reset(void);

/* A consistent copy of the slot of key: its state, and its token into token (cap
 * bytes; NULL: not wanted).  0 when the table has no such slot (or no segment). */
int aop_token_table_read(apr_uint64_t key, aop_token_state_t *st, char *token,
                         apr_size_t cap);

/* Whether key has a token that has not expired at now: lock-free, for the pick. */
int aop_token_table_ready(apr_uint64_t key, apr_time_t now);

/* The request path: Azure refused key's token at now.  The one thing a reader
 * writes: an atomic maximum beside the slot's sequence lock, read by the task on
 * its next tick (aop_token_state_t.refused_at), which then fetches a new token. */
void aop_token_table_refuse(apr_uint64_t key, apr_time_t now);

/* ---- the writer (the token task) */

/* The slot of key, claimed when it has none; NULL when the table is full. */
aop_token_slot_t *aop_token_table_claim(apr_uint64_t key);

/* An instance uses the slot's credential (freed an hour after the last use). */
void aop_token_table_want(aop_token_slot_t *slot, apr_time_t now);

/* Stores a new token (len < AOP_TOKEN_MAX bytes), clearing the failures;
 * refusals: the streak of fetches made for a refused token, this one included. */
void aop_token_table_store(aop_token_slot_t *slot, const char *token, apr_size_t len,
                           apr_time_t fetched, apr_time_t expires_at, apr_time_t refresh_at,
                           unsigned refusals);

/* Records a failure: error (never a secret) and when to try again.  A token still
 * valid is kept until it expires. */
void aop_token_table_fail(aop_token_slot_t *slot, const char *error, int aad_code,
                          apr_time_t next_try);

/* The slot's state (the writer's own read). */
void aop_token_table_state(aop_token_slot_t *slot, aop_token_state_t *st);

/* Frees the slots no instance wanted since before; returns how many. */
int aop_token_table_sweep(apr_time_t before);

#endif
