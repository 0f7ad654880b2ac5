/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include "aop_select.h"

/* Whether candidate i belongs to the subset a pick shares among: the eligible ones,
 * and for failover only those of the best priority.  A test rather than an array of
 * flags, so that a pick needs no room that grows with the number of candidates. */
typedef struct subset_t {
    int any_priority;            /* weighted: every eligible candidate */
    int top;                     /* failover: the priority value members have */
} subset_t;

static int member(const aop_cand_t *c, const subset_t *m)
{
    return c->eligible && (m->any_priority || c->priority == m->top);
}

/* Smooth weighted round-robin (as nginx's upstreams do) over the members of a subset:
 * each member gains its weight, the richest is picked and pays the subset's total.
 * Over any run of picks, shares follow the weights and never come in bursts. */
static int swrr(const aop_cand_t *c, int n, const subset_t *m, apr_int64_t *cw)
{
    apr_int64_t total = 0;
    int i, best = -1, first = -1;

    for (i = 0; i < n; i++) {
        if (!member(c + i, m)) {
            continue;
        }
        if (first < 0) {
            first = i;
        }
        if (c[i].weight <= 0) {
            continue;
        }
        cw[i] += c[i].weight;
        total += c[i].weight;
        if (best < 0 || cw[i] > cw[best]) {
            best = i;
        }
    }
    if (best < 0) {
        return first;           /* every member weighs 0: keep order */
    }
    cw[best] -= total;
    return best;
}

static int pick_failover(const aop_cand_t *c, int n, aop_select_state_t *st)
{
    subset_t m = { 0, 0 };
    int i, found = 0;

    for (i = 0; i < n; i++) {
        if (c[i].eligible && (!found || c[i].priority < m.top)) {
            m.top = c[i].priority;
            found = 1;
        }
    }
    return found ? swrr(c, n, &m, st->cw) : -1;
}

static int pick_weighted(const aop_cand_t *c, int n, aop_select_state_t *st)
{
    subset_t m = { 1, 0 };
    int i;

    for (i = 0; i < n; i++) {
        if (c[i].eligible) {
            return swrr(c, n, &m, st->cw);
        }
    }
    return -1;
}

/* The cursor advances once per pick, whoever picks: strict rotation across all
 * processes; an ineligible candidate's turn goes to the next one. */
static int pick_round_robin(const aop_cand_t *c, int n, aop_select_state_t *st)
{
    apr_uint64_t start = st->cursor++;
    int k;

    for (k = 0; k < n; k++) {
        int i = (int)((start + (apr_uint64_t)k) % (apr_uint64_t)n);

        if (c[i].eligible) {
            return i;
        }
    }
    return -1;
}

int aop_select(aop_strategy_e strategy, const aop_cand_t *c, int n, aop_select_state_t *st)
{
    if (n <= 0) {
        return -1;
    }
    if (strategy != AOP_STRATEGY_ROUND_ROBIN) {
        st->cursor++;           /* round robin moves it itself, from where it stood */
    }
    switch (strategy) {
    case AOP_STRATEGY_WEIGHTED:
        return pick_weighted(c, n, st);
    case AOP_STRATEGY_ROUND_ROBIN:
        return pick_round_robin(c, n, st);
    case AOP_STRATEGY_FAILOVER:
    default:
        return pick_failover(c, n, st);
    }
}

/* The members' weights (0 for the rest), scaled down when they add up to more than
 * AOP_SCHEDULE_MAX; returns the period (their sum). */
static int schedule_weights(const aop_cand_t *c, int n, const subset_t *m, aop_cand_t *scaled)
{
    apr_int64_t sum = 0, period = 0;
    int i;

    for (i = 0; i < n; i++) {
        scaled[i] = c[i];
        scaled[i].eligible = 1;
        sum += member(scaled + i, m) && c[i].weight > 0 ? c[i].weight : 0;
    }
    for (i = 0; i < n; i++) {
        if (!member(scaled + i, m) || c[i].weight <= 0) {
            scaled[i].weight = 0;
            continue;
        }
        if (sum > AOP_SCHEDULE_MAX) {
            apr_int64_t w = (apr_int64_t)c[i].weight * AOP_SCHEDULE_MAX / sum;

            scaled[i].weight = w > 0 ? (int)w : 1;
        }
        period += scaled[i].weight;
    }
    return (int)period;
}

/* Whether the members (eligible, weight > 0) all weigh the same. */
static int equal_weights(const aop_cand_t *c, int n)
{
    int i, w = 0;

    for (i = 0; i < n; i++) {
        if (c[i].eligible && w && c[i].weight != w) {
            return 0;
        }
        w = c[i].eligible ? c[i].weight : w;
    }
    return 1;
}

int *aop_select_schedule(apr_pool_t *p, aop_strategy_e strategy, const aop_cand_t *c,
                         int n, int *len)
{
    subset_t m = { strategy != AOP_STRATEGY_FAILOVER, 0 }, weighed = { 1, 0 };
    aop_cand_t *scaled;
    apr_int64_t *cw;
    int i, k, period, *seq;

    *len = 0;
    if (n <= 0) {
        return NULL;
    }
    if (strategy == AOP_STRATEGY_ROUND_ROBIN) {
        seq = apr_palloc(p, sizeof(int) * (apr_size_t)n);
        for (i = 0; i < n; i++) {
            seq[i] = i;
        }
        *len = n;
        return seq;
    }
    for (i = 0; i < n; i++) {
        m.top = i == 0 || c[i].priority < m.top ? c[i].priority : m.top;
    }
    scaled = apr_palloc(p, sizeof(*scaled) * (apr_size_t)n);
    if ((period = schedule_weights(c, n, &m, scaled)) == 0) {
        return NULL;            /* weight 0 everywhere: aop_select() keeps order */
    }
    for (i = 0; i < n; i++) {
        scaled[i].eligible = scaled[i].weight > 0;
    }
    seq = apr_palloc(p, sizeof(int) * (apr_size_t)period);
    if (equal_weights(scaled, n)) {
        /* What smooth weighted round-robin gives when every member weighs the same
         * (each in turn, in order), without its O(members) per turn: thousands of
         * instances made a schedule take a quadratic time. */
        for (i = 0, k = 0; i < n; i++) {
            if (scaled[i].eligible) {
                seq[k++] = i;
            }
        }
        for (i = k; i < period; i++) {
            seq[i] = seq[i - k];     /* the rotation again, as many times as they weigh */
        }
        *len = period;
        return seq;
    }
    /* One period of smooth weighted round-robin from zero credits, which it ends
     * at again: the sequence repeats exactly.  With more members than
     * AOP_SCHEDULE_MAX, each keeps one turn and the period is their number. */
    cw = apr_pcalloc(p, sizeof(*cw) * (apr_size_t)n);
    for (i = 0; i < period; i++) {
        seq[i] = swrr(scaled, n, &weighed, cw);
    }
    *len = period;
    return seq;
}
