/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The routing strategies over plain arrays, so they are testable without httpd:
 * the caller says which candidates are eligible for this attempt and keeps the
 * strategy's state (in shared memory, updated under the global mutex). */
#ifndef AOP_SELECT_H
#define AOP_SELECT_H

#include <apr.h>
#include <apr_pools.h>

#include "aop_config.h"

typedef struct aop_cand_t {
    int priority;
    int weight;
    int eligible;
} aop_cand_t;

/* State of one model's candidates: smooth weighted round-robin credits and the
 * rotation cursor.  Sized by the caller: cw has one entry per candidate. */
typedef struct aop_select_state_t {
    apr_uint64_t cursor;
    apr_int64_t *cw;
} aop_select_state_t;

/* Picks a candidate index, or -1 when none is eligible.  The cursor counts picks
 * (every strategy advances it by one); round_robin rotates by it.
 * - failover: the eligible candidates with the lowest priority value; among equals,
 *   shares by weight (smooth weighted round-robin).
 * - weighted: every eligible candidate, shared by weight (smooth, not random).
 * - round_robin: strict rotation over the eligible candidates. */
int aop_select(aop_strategy_e strategy, const aop_cand_t *c, int n, aop_select_state_t *st);

/* The longest schedule: heavier weights are scaled down to fit (each member keeps at
 * least one turn). */
#define AOP_SCHEDULE_MAX 4096

/* The order in which the strategy hands out the candidates while every one of them
 * is eligible, over one period: candidate indices, *len of them.
 * - weighted: the smooth weighted round-robin sequence of the candidates with a
 *   weight (period: the sum of the weights);
 * - failover: the same over those with the lowest priority value;
 * - round_robin: each candidate once, in order.
 * NULL (*len 0) when there is none (every weight 0).  Taking schedule[cursor % len]
 * and checking that one candidate makes a pick O(1) however many there are, and
 * gives what aop_select() gives when all are eligible; when the one it names is not,
 * aop_select() over all of them decides. */
int *aop_select_schedule(apr_pool_t *p, aop_strategy_e strategy, const aop_cand_t *c,
                         int n, int *len);

#endif
