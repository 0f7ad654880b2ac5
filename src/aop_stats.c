/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <string.h>

#include <apr_time.h>   /* apr_interval_time_t: aop_stats.h includes only apr.h */

#include "aop_sat.h"
#include "aop_stats.h"

aop_kind_e aop_stats_kind(int status, int timed_out)
{
    if (status <= 0) {
        return timed_out ? AOP_KIND_TIMEOUT : AOP_KIND_CONNECTION;
    }
    if (status == 429) {
        return AOP_KIND_RATE_LIMITED;
    }
    if (status == 408 || status == 504) {
        return AOP_KIND_TIMEOUT;
    }
    /* Anything past 599 is no valid status: blame the upstream that sent it. */
    if (status >= 500) {
        return AOP_KIND_UPSTREAM_5XX;
    }
    if (status >= 400) {
        return AOP_KIND_CLIENT_4XX;
    }
    return AOP_KIND_SUCCESS;
}

/* ------------------------------------------------------------------ buckets */

/* The width of the buckets below 2^MIN_EXP, as log2. */
#define LINEAR_SHIFT (AOP_HIST_MIN_EXP - AOP_HIST_SUB_BITS)

int aop_hist_bucket(apr_interval_time_t us)
{
    apr_uint64_t u;
    int e;

    /* (lower, upper]: index by us - 1, so that an upper bound is in its own bucket. */
    if (us <= 1) {
        return 0;
    }
    u = (apr_uint64_t)us - 1;
    if (u < ((apr_uint64_t)1 << AOP_HIST_MIN_EXP)) {
        return (int)(u >> LINEAR_SHIFT);
    }
    if (u >= ((apr_uint64_t)1 << AOP_HIST_MAX_EXP)) {
        return AOP_HIST_BUCKETS - 1;
    }
    /* The leading one's place: at 2^MIN_EXP <= u < 2^MAX_EXP, e stays in range.  A
     * shift a step cost a request's four samples about 200 instructions (callgrind). */
    e = 63 - __builtin_clzll((unsigned long long)u);
    /* The bits after the leading one pick the linear bucket inside the power. */
    return AOP_HIST_SUB + (e - AOP_HIST_MIN_EXP) * AOP_HIST_SUB
           + (int)(u >> (e - AOP_HIST_SUB_BITS)) - AOP_HIST_SUB;
}

apr_int64_t aop_hist_upper_us(int i)
{
    int k, e;

    if (i < 0) {
        return 0;
    }
    if (i < AOP_HIST_SUB) {
        return (apr_int64_t)(i + 1) << LINEAR_SHIFT;
    }
    if (i >= AOP_HIST_BUCKETS - 1) {
        return APR_INT64_MAX;
    }
    k = i - AOP_HIST_SUB;
    e = AOP_HIST_MIN_EXP + k / AOP_HIST_SUB;
    return (apr_int64_t)(AOP_HIST_SUB + k % AOP_HIST_SUB + 1) << (e - AOP_HIST_SUB_BITS);
}

int aop_hist_ends_power(int i)
{
    return i >= 0 && i < AOP_HIST_BUCKETS - 1 && (i + 1) % AOP_HIST_SUB == 0;
}

/* ------------------------------------------------------------------ adding */

/* Negative inputs would wrap to huge unsigned counts in shared memory. */
static apr_uint64_t nonneg(apr_int64_t v)
{
    return v > 0 ? (apr_uint64_t)v : 0;
}

/* Every request lands in exactly one of successes / 4xx / 5xx / other, so the four
 * always add up to requests. */
static void add_request(aop_tally_t *c, const aop_stats_event_t *ev)
{
    c->requests++;
    if (ev->kind == AOP_KIND_SUCCESS) {
        c->successes++;
        return;
    }
    /* kind indexes shared memory: a corrupt value must not write out of bounds. */
    if (ev->kind > AOP_KIND_SUCCESS && ev->kind < AOP_KIND_COUNT) {
        c->by_kind[ev->kind]++;
    }
    if (ev->status >= 400 && ev->status < 500) {
        c->errors_4xx++;
    } else if (ev->status >= 500 && ev->status < 600) {
        c->errors_5xx++;
    } else {
        c->errors_other++;
    }
}

static void add_tokens(aop_tally_t *c, const aop_stats_event_t *ev)
{
    apr_uint64_t prompt = nonneg(ev->prompt_tokens);
    apr_uint64_t completion = nonneg(ev->completion_tokens);
    apr_uint64_t total = nonneg(ev->total_tokens);

    /* Some answers (and our estimates) carry only the parts. */
    if (total == 0) {
        total = aop_sat_addu(prompt, completion);
    }
    c->prompt_tokens = aop_sat_addu(c->prompt_tokens, prompt);
    c->completion_tokens = aop_sat_addu(c->completion_tokens, completion);
    c->total_tokens = aop_sat_addu(c->total_tokens, total);
    if (ev->estimated && total > 0) {
        c->estimated_requests++;
        c->estimated_tokens = aop_sat_addu(c->estimated_tokens, total);
    }
}

static void add_tally(aop_tally_t *c, const aop_stats_event_t *ev)
{
    if (ev->request) {
        add_request(c, ev);
    }
    add_tokens(c, ev);
    c->failovers = aop_sat_addu(c->failovers, nonneg(ev->failovers));
    c->cooldowns = aop_sat_addu(c->cooldowns, nonneg(ev->cooldowns));
    c->filtered_answers = aop_sat_addu(c->filtered_answers, ev->filtered_answer != 0);
}

/* count, sum and extremes: the same for both bucket widths. */
#define ADD_SAMPLE(h, v) do {                                           \
        if ((h)->count == 0 || (v) < (h)->min_us) {                     \
            (h)->min_us = (v);                                          \
        }                                                               \
        if ((h)->count == 0 || (v) > (h)->max_us) {                     \
            (h)->max_us = (v);                                          \
        }                                                               \
        (h)->count++;                                                   \
        (h)->sum_us = aop_sat_addu((h)->sum_us, (v));                        \
    } while (0)

static void add_duration(aop_hist_t *h, apr_interval_time_t us)
{
    if (us < 0) {
        return;
    }
    ADD_SAMPLE(h, (apr_uint64_t)us);
    h->bucket[aop_hist_bucket(us)]++;
}

static void add_duration32(aop_hist32_t *h, apr_interval_time_t us)
{
    apr_uint32_t *b;

    if (us < 0) {
        return;
    }
    ADD_SAMPLE(h, (apr_uint64_t)us);
    b = &h->bucket[aop_hist_bucket(us)];
    if (*b < APR_UINT32_MAX) {
        (*b)++;
    }
}

void aop_counts_add(aop_counts_t *c, const aop_stats_event_t *ev)
{
    add_tally(&c->n, ev);
    add_duration(&c->latency, ev->latency);
    add_duration(&c->ttfb, ev->ttfb);
}

/* ------------------------------------------------------------------ merging */

static void merge_tally(aop_tally_t *into, const aop_tally_t *from)
{
    apr_uint64_t *to = (apr_uint64_t *)into;
    const apr_uint64_t *add = (const apr_uint64_t *)from;
    size_t i;

    /* aop_tally_t is nothing but apr_uint64_t counters (checked by the unit tests). */
    for (i = 0; i < sizeof(*into) / sizeof(apr_uint64_t); i++) {
        to[i] = aop_sat_addu(to[i], add[i]);
    }
}

/* count, sum and extremes of from (not empty) into into. */
#define MERGE_HEAD(into, from) do {                                     \
        if (!(into)->count || (from)->min_us < (into)->min_us) {        \
            (into)->min_us = (from)->min_us;                            \
        }                                                               \
        if (!(into)->count || (from)->max_us > (into)->max_us) {        \
            (into)->max_us = (from)->max_us;                            \
        }                                                               \
        (into)->count = aop_sat_addu((into)->count, (from)->count);          \
        (into)->sum_us = aop_sat_addu((into)->sum_us, (from)->sum_us);       \
    } while (0)

static void merge_hist(aop_hist_t *into, const aop_hist_t *from)
{
    int i;

    if (!from->count) {
        return;
    }
    MERGE_HEAD(into, from);
    for (i = 0; i < AOP_HIST_BUCKETS; i++) {
        into->bucket[i] = aop_sat_addu(into->bucket[i], from->bucket[i]);
    }
}

static void merge_hist32(aop_hist_t *into, const aop_hist32_t *from)
{
    int i;

    if (!from->count) {
        return;
    }
    MERGE_HEAD(into, from);
    for (i = 0; i < AOP_HIST_BUCKETS; i++) {
        into->bucket[i] += from->bucket[i];      /* 60 x 2^32 fits 64 bits */
    }
}

void aop_counts_merge(aop_counts_t *into, const aop_counts_t *from)
{
    merge_tally(&into->n, &from->n);
    merge_hist(&into->latency, &from->latency);
    merge_hist(&into->ttfb, &from->ttfb);
}

/* ------------------------------------------------------------------ the ring */

/* Non-negative even for a (bogus) negative minute: it indexes shared memory. */
static int slot_of(apr_int64_t minute)
{
    int slot = (int)(minute % AOP_STATS_MINUTES);

    return slot < 0 ? slot + AOP_STATS_MINUTES : slot;
}

void aop_stats_record(aop_stats_ring_t *ring, apr_int64_t now_minute,
                      const aop_stats_event_t *ev)
{
    aop_minute_t *m = &ring->slot[slot_of(now_minute)];

    /* The slot still holds a minute an hour (or more) old: start it afresh. */
    if (m->minute != now_minute) {
        memset(m, 0, sizeof(*m));
        m->minute = now_minute;
    }
    add_tally(&m->n, ev);
    add_duration32(&m->latency, ev->latency);
    add_duration32(&m->ttfb, ev->ttfb);
}

static void window(const aop_stats_ring_t *ring, apr_int64_t now_minute, int minutes,
                   int hists, aop_counts_t *out)
{
    int i;

    if (minutes < 1) {
        minutes = 1;
    } else if (minutes > AOP_STATS_MINUTES) {
        minutes = AOP_STATS_MINUTES;
    }
    memset(out, 0, sizeof(*out));
    /* Only the slots the window's minutes map to are read (a slot is some 3 KiB: a
     * window of 5 over a page of hundreds of instances touched 60 pages of shared
     * memory an instance); each counts only when it holds that very minute, so
     * minutes never written and minutes of an earlier hour drop out by themselves. */
    for (i = 0; i < minutes; i++) {
        const aop_minute_t *m = &ring->slot[slot_of(now_minute - i)];

        if (m->minute == now_minute - i) {
            merge_tally(&out->n, &m->n);
            if (hists) {
                merge_hist32(&out->latency, &m->latency);
                merge_hist32(&out->ttfb, &m->ttfb);
            }
        }
    }
}

void aop_stats_window(const aop_stats_ring_t *ring, apr_int64_t now_minute, int minutes,
                      aop_counts_t *out)
{
    window(ring, now_minute, minutes, 1, out);
}

void aop_stats_window_tally(const aop_stats_ring_t *ring, apr_int64_t now_minute,
                            int minutes, aop_counts_t *out)
{
    window(ring, now_minute, minutes, 0, out);
}

void aop_stats_reset(aop_stats_ring_t *ring)
{
    memset(ring, 0, sizeof(*ring));
}

/* ------------------------------------------------------------------ percentiles */

double aop_hist_quantile(const aop_hist_t *h, double q)
{
    apr_uint64_t total = 0, before = 0;
    double rank, lower, upper, v;
    int i, found = -1, last = -1;

    for (i = 0; i < AOP_HIST_BUCKETS; i++) {
        total += h->bucket[i];
    }
    if (total == 0) {
        return -1.0;
    }
    /* Out-of-contract q (NaN included) is clamped rather than answered with NaN. */
    if (!(q > 0.0)) {
        q = 0.0;
    } else if (q > 1.0) {
        q = 1.0;
    }
    rank = q * (double)total;
    /* The first bucket whose cumulative count reaches the rank holds the sample of
     * that rank; empty buckets are skipped (rank 0 would divide by a zero count). */
    for (i = 0; i < AOP_HIST_BUCKETS && found < 0; i++) {
        if (!h->bucket[i]) {
            continue;
        }
        last = i;
        if ((double)(before + h->bucket[i]) >= rank) {
            found = i;
        } else {
            before += h->bucket[i];
        }
    }
    if (found < 0) {                 /* rounding: the highest sample */
        found = last;
        before = total - h->bucket[last];
    }
    lower = (double)aop_hist_upper_us(found - 1);
    upper = found == AOP_HIST_BUCKETS - 1 ? (double)h->max_us
                                          : (double)aop_hist_upper_us(found);
    if (upper < lower) {
        upper = lower;
    }
    v = lower + (upper - lower) * ((rank - (double)before) / (double)h->bucket[found]);
    /* Within what was seen: a constant latency answers itself, not its bucket's top. */
    if (h->count && v < (double)h->min_us) {
        v = (double)h->min_us;
    }
    if (h->count && v > (double)h->max_us) {
        v = (double)h->max_us;
    }
    return v / 1e6;
}
