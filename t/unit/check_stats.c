/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Statistics: kinds, additive counts, the 60-minute ring, windows, histograms. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <apr_time.h>   /* apr_interval_time_t: aop_stats.h includes only apr.h */

#include "aop_stats.h"
#include "check_suites.h"

static const apr_int64_t M0 = 30000000;      /* an epoch minute (2027) */

#define MS 1000
#define SEC 1000000

/* Every field of aop_tally_t is an apr_uint64_t: tests view it as a flat array so
 * that a field added later cannot slip past the merge checks. */
#define NWORDS (sizeof(aop_tally_t) / sizeof(apr_uint64_t))

static aop_stats_event_t event(int request, int status, apr_interval_time_t latency)
{
    aop_stats_event_t ev;

    memset(&ev, 0, sizeof(ev));
    ev.request = request;
    ev.status = status;
    ev.kind = aop_stats_kind(status, 0);
    ev.latency = latency;
    ev.ttfb = -1;
    return ev;
}

static void record_requests(aop_stats_ring_t *r, apr_int64_t minute, int n)
{
    aop_stats_event_t ev = event(1, 200, -1);
    int i;

    for (i = 0; i < n; i++) {
        aop_stats_record(r, minute, &ev);
    }
}

static apr_uint64_t window_requests(const aop_stats_ring_t *r, apr_int64_t now, int minutes)
{
    aop_counts_t w;

    aop_stats_window(r, now, minutes, &w);
    return w.n.requests;
}

static int all_zero(const void *p, size_t len)
{
    const unsigned char *b = p;
    size_t i;

    for (i = 0; i < len; i++) {
        if (b[i] != 0) {
            return 0;
        }
    }
    return 1;
}

START_TEST(kinds_from_status)
{
    static const struct { int status, timed_out; aop_kind_e kind; } cases[] = {
        { 200, 0, AOP_KIND_SUCCESS },      { 201, 1, AOP_KIND_SUCCESS },
        { 204, 0, AOP_KIND_SUCCESS },      { 301, 0, AOP_KIND_SUCCESS },
        { 304, 0, AOP_KIND_SUCCESS },      { 399, 0, AOP_KIND_SUCCESS },
        { 429, 0, AOP_KIND_RATE_LIMITED }, { 429, 1, AOP_KIND_RATE_LIMITED },
        { 408, 0, AOP_KIND_TIMEOUT },      { 504, 0, AOP_KIND_TIMEOUT },
        { 500, 0, AOP_KIND_UPSTREAM_5XX }, { 502, 1, AOP_KIND_UPSTREAM_5XX },
        { 503, 0, AOP_KIND_UPSTREAM_5XX }, { 599, 0, AOP_KIND_UPSTREAM_5XX },
        { 400, 0, AOP_KIND_CLIENT_4XX },   { 401, 0, AOP_KIND_CLIENT_4XX },
        { 404, 0, AOP_KIND_CLIENT_4XX },   { 413, 0, AOP_KIND_CLIENT_4XX },
        { 499, 0, AOP_KIND_CLIENT_4XX },
        { 0, 0, AOP_KIND_CONNECTION },     { 0, 1, AOP_KIND_TIMEOUT },
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(aop_stats_kind(cases[i].status, cases[i].timed_out) == cases[i].kind,
                      "status %d timed_out %d", cases[i].status, cases[i].timed_out);
    }
}
END_TEST

START_TEST(add_counts_requests_by_kind_and_class)
{
    aop_counts_t cs;
    aop_tally_t *c = &cs.n;
    aop_stats_event_t ev;

    memset(&cs, 0, sizeof(cs));
    ev = event(1, 200, -1);
    aop_counts_add(&cs, &ev);
    ev = event(1, 429, -1);
    aop_counts_add(&cs, &ev);
    ev = event(1, 408, -1);
    aop_counts_add(&cs, &ev);
    ev = event(1, 504, -1);
    aop_counts_add(&cs, &ev);
    ev = event(1, 503, -1);
    aop_counts_add(&cs, &ev);
    ev = event(1, 404, -1);
    aop_counts_add(&cs, &ev);
    ev = event(1, 0, -1);                                  /* refused */
    aop_counts_add(&cs, &ev);
    ev = event(1, 0, -1);                                  /* no answer in time */
    ev.kind = aop_stats_kind(0, 1);
    aop_counts_add(&cs, &ev);
    ev = event(0, 502, -1);                                /* an attempt, not a request */
    aop_counts_add(&cs, &ev);

    ck_assert_uint_eq(c->requests, 8);
    ck_assert_uint_eq(c->successes, 1);
    ck_assert_uint_eq(c->errors_4xx, 3);                    /* 429, 408, 404 */
    ck_assert_uint_eq(c->errors_5xx, 2);                    /* 504, 503 */
    ck_assert_uint_eq(c->errors_other, 2);
    ck_assert_uint_eq(c->by_kind[AOP_KIND_SUCCESS], 0);
    ck_assert_uint_eq(c->by_kind[AOP_KIND_RATE_LIMITED], 1);
    ck_assert_uint_eq(c->by_kind[AOP_KIND_TIMEOUT], 3);
    ck_assert_uint_eq(c->by_kind[AOP_KIND_CONNECTION], 1);
    ck_assert_uint_eq(c->by_kind[AOP_KIND_UPSTREAM_5XX], 1);
    ck_assert_uint_eq(c->by_kind[AOP_KIND_CLIENT_4XX], 1);
    ck_assert_uint_eq(c->requests, c->successes + c->errors_4xx + c->errors_5xx + c->errors_other);
    /* Nothing else moved. */
    ck_assert_uint_eq(c->total_tokens + c->failovers + c->cooldowns, 0);
    ck_assert_uint_eq(cs.latency.count + cs.ttfb.count, 0);
}
END_TEST

/* A reset has no status; a truncated answer has the 200 it started with, and is no
 * success: both are errors of class "other", each of its own kind. */
START_TEST(add_counts_resets_and_truncated_answers)
{
    aop_counts_t cs;
    aop_tally_t *c = &cs.n;
    aop_stats_event_t ev;

    memset(&cs, 0, sizeof(cs));
    ev = event(1, 0, -1);
    ev.kind = AOP_KIND_RESET;
    aop_counts_add(&cs, &ev);
    ev = event(1, 200, -1);
    ev.kind = AOP_KIND_TRUNCATED;
    aop_counts_add(&cs, &ev);
    ev = event(1, 200, -1);
    aop_counts_add(&cs, &ev);

    ck_assert_uint_eq(c->requests, 3);
    ck_assert_uint_eq(c->successes, 1);
    ck_assert_uint_eq(c->errors_other, 2);
    ck_assert_uint_eq(c->errors_4xx + c->errors_5xx, 0);
    ck_assert_uint_eq(c->by_kind[AOP_KIND_RESET], 1);
    ck_assert_uint_eq(c->by_kind[AOP_KIND_TRUNCATED], 1);
    ck_assert_uint_eq(c->by_kind[AOP_KIND_CONNECTION] + c->by_kind[AOP_KIND_TIMEOUT], 0);
}
END_TEST

START_TEST(add_counts_tokens_durations_and_attempts)
{
    aop_counts_t c;
    aop_stats_event_t ev;
    int i;

    memset(&c, 0, sizeof(c));
    ev = event(1, 200, 120 * MS);
    ev.ttfb = 30 * MS;
    ev.prompt_tokens = 10;
    ev.completion_tokens = 5;
    ev.total_tokens = 16;                                  /* as reported, not recomputed */
    ev.failovers = 2;
    aop_counts_add(&c, &ev);

    ev = event(1, 200, 5 * MS);
    ev.prompt_tokens = 7;                                  /* total missing: the sum */
    ev.completion_tokens = 3;
    ev.estimated = 1;
    aop_counts_add(&c, &ev);

    ev = event(1, 200, -1);
    ev.estimated = 1;                                      /* no tokens: not counted */
    aop_counts_add(&c, &ev);

    ev = event(0, 503, 2 * SEC);                           /* a failed attempt */
    ev.cooldowns = 1;
    ev.ttfb = 0;
    ev.total_tokens = 4;
    ev.estimated = 1;
    aop_counts_add(&c, &ev);

    ev = event(1, 429, -1);                                /* a request whose attempts */
    ev.cooldowns = 3;                                      /* rested three instances */
    aop_counts_add(&c, &ev);
    ev.cooldowns = -2;                                     /* nonsense counts nothing */
    ev.request = 0;
    aop_counts_add(&c, &ev);

    ck_assert_uint_eq(c.n.requests, 4);
    ck_assert_uint_eq(c.n.successes, 3);
    ck_assert_uint_eq(c.n.errors_5xx, 0);
    ck_assert_uint_eq(c.n.by_kind[AOP_KIND_UPSTREAM_5XX], 0);
    ck_assert_uint_eq(c.n.by_kind[AOP_KIND_RATE_LIMITED], 1);
    ck_assert_uint_eq(c.n.prompt_tokens, 17);
    ck_assert_uint_eq(c.n.completion_tokens, 8);
    ck_assert_uint_eq(c.n.total_tokens, 30);
    ck_assert_uint_eq(c.n.estimated_requests, 2);
    ck_assert_uint_eq(c.n.estimated_tokens, 14);
    ck_assert_uint_eq(c.n.failovers, 2);
    ck_assert_uint_eq(c.n.cooldowns, 4);
    ck_assert_uint_eq(c.latency.count, 3);
    ck_assert_uint_eq(c.latency.sum_us, 120 * MS + 5 * MS + 2 * SEC);
    ck_assert_uint_eq(c.latency.min_us, 5 * MS);
    ck_assert_uint_eq(c.latency.max_us, 2 * SEC);
    ck_assert_uint_eq(c.ttfb.count, 2);
    ck_assert_uint_eq(c.ttfb.sum_us, 30 * MS);
    ck_assert_uint_eq(c.ttfb.min_us, 0);
    ck_assert_uint_eq(c.ttfb.max_us, 30 * MS);
    for (i = 0; i < AOP_HIST_BUCKETS; i++) {
        apr_uint64_t lat = (i == aop_hist_bucket(5 * MS) || i == aop_hist_bucket(120 * MS)
                            || i == aop_hist_bucket(2 * SEC)) ? 1 : 0;
        apr_uint64_t ttfb = (i == 0 || i == aop_hist_bucket(30 * MS)) ? 1 : 0;

        ck_assert_uint_eq(c.latency.bucket[i], lat);
        ck_assert_uint_eq(c.ttfb.bucket[i], ttfb);
    }
}
END_TEST

START_TEST(tally_is_counters_only)
{
    /* merge_tally adds aop_tally_t word by word. */
    ck_assert_uint_eq(sizeof(aop_tally_t) % sizeof(apr_uint64_t), 0);
    ck_assert_uint_eq(NWORDS, 5 + AOP_KIND_COUNT + 8);
}
END_TEST

START_TEST(merge_sums_every_field)
{
    apr_uint64_t a[NWORDS], b[NWORDS], sum[NWORDS];
    static aop_counts_t into, from, empty;
    size_t i;

    memset(&into, 0, sizeof(into));
    memset(&from, 0, sizeof(from));
    for (i = 0; i < NWORDS; i++) {
        a[i] = 1000 * (i + 1);
        b[i] = i + 1;
    }
    memcpy(&into.n, a, sizeof(into.n));
    memcpy(&from.n, b, sizeof(from.n));
    for (i = 0; i < AOP_HIST_BUCKETS; i++) {
        into.latency.bucket[i] = 1000 * (i + 1);
        from.latency.bucket[i] = i + 1;
        from.ttfb.bucket[i] = 2;
    }
    into.latency.count = 7;
    into.latency.sum_us = 700;
    into.latency.min_us = 50;
    into.latency.max_us = 90;
    from.latency.count = 3;
    from.latency.sum_us = 30;
    from.latency.min_us = 5;
    from.latency.max_us = 20;
    from.ttfb.count = 4;
    from.ttfb.sum_us = 400;
    from.ttfb.min_us = 60;
    from.ttfb.max_us = 200;
    aop_counts_merge(&into, &from);
    memcpy(sum, &into.n, sizeof(sum));
    for (i = 0; i < NWORDS; i++) {
        ck_assert_msg(sum[i] == 1001 * (i + 1), "word %u", (unsigned)i);
    }
    for (i = 0; i < AOP_HIST_BUCKETS; i++) {
        ck_assert_uint_eq(into.latency.bucket[i], 1001 * (i + 1));
        ck_assert_uint_eq(into.ttfb.bucket[i], 2);
    }
    ck_assert_uint_eq(into.latency.count, 10);
    ck_assert_uint_eq(into.latency.sum_us, 730);
    ck_assert_uint_eq(into.latency.min_us, 5);             /* the smaller */
    ck_assert_uint_eq(into.latency.max_us, 90);            /* the larger */
    ck_assert_uint_eq(into.ttfb.min_us, 60);               /* from an empty one: taken */
    ck_assert_uint_eq(into.ttfb.max_us, 200);
    ck_assert_uint_eq(from.n.requests, 1);                 /* from is left alone */

    /* An empty histogram's zero minimum is no minimum. */
    memset(&empty, 0, sizeof(empty));
    aop_counts_merge(&into, &empty);
    ck_assert_uint_eq(into.latency.min_us, 5);
    ck_assert_uint_eq(into.ttfb.min_us, 60);
}
END_TEST

START_TEST(counters_saturate)
{
    static aop_stats_ring_t r;
    aop_counts_t c, w;
    aop_stats_event_t ev = event(1, 200, 1 * SEC);

    memset(&c, 0, sizeof(c));
    c.n.prompt_tokens = APR_UINT64_MAX - 5;
    c.latency.sum_us = APR_UINT64_MAX - 5;
    ev.prompt_tokens = 10;
    aop_counts_add(&c, &ev);
    ck_assert_uint_eq(c.n.prompt_tokens, APR_UINT64_MAX);
    ck_assert_uint_eq(c.latency.sum_us, APR_UINT64_MAX);

    /* A minute's 32-bit bucket stops at its top rather than wrapping to 0. */
    aop_stats_reset(&r);
    aop_stats_record(&r, M0, &ev);
    r.slot[M0 % AOP_STATS_MINUTES].latency.bucket[aop_hist_bucket(1 * SEC)] = APR_UINT32_MAX;
    aop_stats_record(&r, M0, &ev);
    aop_stats_window(&r, M0, 1, &w);
    ck_assert_uint_eq(w.latency.bucket[aop_hist_bucket(1 * SEC)], APR_UINT32_MAX);
    ck_assert_uint_eq(w.latency.count, 2);
}
END_TEST

/* Issue 12: token counts come from backends; a counter fed huge counts again and
 * again is held at its top instead of wrapping to a small number. */
START_TEST(token_counters_saturate)
{
    aop_stats_event_t ev = event(1, 200, -1);
    aop_counts_t c, w;
    int i;

    memset(&c, 0, sizeof(c));
    ev.prompt_tokens = APR_INT64_MAX;
    ev.completion_tokens = APR_INT64_MAX;       /* no total: the parts' sum */
    ev.estimated = 1;
    for (i = 0; i < 3; i++) {
        aop_counts_add(&c, &ev);
    }
    ck_assert_uint_eq(c.n.prompt_tokens, APR_UINT64_MAX);
    ck_assert_uint_eq(c.n.completion_tokens, APR_UINT64_MAX);
    ck_assert_uint_eq(c.n.total_tokens, APR_UINT64_MAX);
    ck_assert_uint_eq(c.n.estimated_tokens, APR_UINT64_MAX);
    memcpy(&w, &c, sizeof(w));
    aop_counts_merge(&w, &c);
    ck_assert_uint_eq(w.n.total_tokens, APR_UINT64_MAX);
    ck_assert_uint_eq(w.n.prompt_tokens, APR_UINT64_MAX);
    ck_assert_uint_eq(w.n.estimated_tokens, APR_UINT64_MAX);
    ck_assert_uint_eq(w.n.requests, 6);
}
END_TEST

START_TEST(ring_slot_reused_after_an_hour_starts_from_zero)
{
    static aop_stats_ring_t r;
    aop_counts_t w;
    aop_stats_event_t ev = event(1, 503, 1 * SEC);

    aop_stats_reset(&r);
    aop_stats_record(&r, M0, &ev);
    aop_stats_record(&r, M0, &ev);
    ck_assert_uint_eq(window_requests(&r, M0, 1), 2);

    /* Same slot, 60 minutes on: the old hour is gone, not added to. */
    ev = event(1, 200, 10 * MS);
    aop_stats_record(&r, M0 + 60, &ev);
    aop_stats_window(&r, M0 + 60, 60, &w);
    ck_assert_uint_eq(w.n.requests, 1);
    ck_assert_uint_eq(w.n.successes, 1);
    ck_assert_uint_eq(w.n.errors_5xx, 0);
    ck_assert_uint_eq(w.latency.count, 1);
    ck_assert_uint_eq(w.latency.sum_us, 10 * MS);
    ck_assert_uint_eq(w.latency.max_us, 10 * MS);
    ck_assert_uint_eq(w.latency.bucket[aop_hist_bucket(1 * SEC)], 0);
    ck_assert_int_eq(r.slot[M0 % AOP_STATS_MINUTES].minute, M0 + 60);
    ck_assert_uint_eq(r.slot[M0 % AOP_STATS_MINUTES].n.requests, 1);
    ck_assert_uint_eq(r.slot[M0 % AOP_STATS_MINUTES].latency.sum_us, 10 * MS);

    /* 61 minutes apart: different slots, and the older out of every window. */
    aop_stats_reset(&r);
    record_requests(&r, M0, 3);
    record_requests(&r, M0 + 61, 5);
    ck_assert_uint_eq(window_requests(&r, M0 + 61, 60), 5);
    ck_assert_uint_eq(window_requests(&r, M0 + 61, 1), 5);
    ck_assert_uint_eq(window_requests(&r, M0, 60), 3);     /* and the future not in the past */
}
END_TEST

START_TEST(windows_sum_exactly_their_minutes)
{
    static aop_stats_ring_t r;
    const apr_int64_t now = M0 + 100;
    aop_counts_t w;
    aop_stats_event_t ev;

    aop_stats_reset(&r);
    /* A stale slot from an earlier hour at the same position as now - 3. */
    record_requests(&r, now - 63, 1000);
    record_requests(&r, now - 90, 2000);                   /* older than any window */
    record_requests(&r, now, 1);
    record_requests(&r, now - 1, 2);
    record_requests(&r, now - 4, 4);                       /* last of the 5-minute window */
    record_requests(&r, now - 5, 8);
    record_requests(&r, now - 14, 16);                     /* last of the 15-minute window */
    record_requests(&r, now - 15, 32);
    record_requests(&r, now - 59, 64);                     /* last of the hour */
    /* now - 2, -3, -10, ... were never written. */

    ck_assert_uint_eq(window_requests(&r, now, 1), 1);
    ck_assert_uint_eq(window_requests(&r, now, 5), 1 + 2 + 4);
    ck_assert_uint_eq(window_requests(&r, now, 15), 1 + 2 + 4 + 8 + 16);
    ck_assert_uint_eq(window_requests(&r, now, 60), 1 + 2 + 4 + 8 + 16 + 32 + 64);
    /* Out-of-range widths are clamped to 1..60. */
    ck_assert_uint_eq(window_requests(&r, now, 0), 1);
    ck_assert_uint_eq(window_requests(&r, now, -5), 1);
    ck_assert_uint_eq(window_requests(&r, now, 1000), 127);
    /* Asked a minute later, with nothing new, everything shifts by one. */
    ck_assert_uint_eq(window_requests(&r, now + 1, 1), 0);
    ck_assert_uint_eq(window_requests(&r, now + 1, 5), 1 + 2);
    ck_assert_uint_eq(window_requests(&r, now + 1, 60), 1 + 2 + 4 + 8 + 16 + 32);

    /* Other fields follow the same minutes. */
    ev = event(1, 429, 100 * MS);
    ev.total_tokens = 50;
    ev.cooldowns = 1;
    aop_stats_record(&r, now - 2, &ev);
    ev.latency = 300 * MS;
    aop_stats_record(&r, now - 20, &ev);
    aop_stats_window(&r, now, 15, &w);
    ck_assert_uint_eq(w.n.requests, 1 + 2 + 1 + 4 + 8 + 16);
    ck_assert_uint_eq(w.n.successes, 1 + 2 + 4 + 8 + 16);
    ck_assert_uint_eq(w.n.by_kind[AOP_KIND_RATE_LIMITED], 1);
    ck_assert_uint_eq(w.n.cooldowns, 1);
    ck_assert_uint_eq(w.n.total_tokens, 50);
    ck_assert_uint_eq(w.latency.count, 1);
    ck_assert_uint_eq(w.latency.bucket[aop_hist_bucket(100 * MS)], 1);
    ck_assert_uint_eq(w.latency.max_us, 100 * MS);
    aop_stats_window(&r, now, 60, &w);
    ck_assert_uint_eq(w.n.by_kind[AOP_KIND_RATE_LIMITED], 2);
    ck_assert_uint_eq(w.n.cooldowns, 2);
    ck_assert_uint_eq(w.n.total_tokens, 100);
    ck_assert_uint_eq(w.latency.sum_us, 400 * MS);
    ck_assert_uint_eq(w.latency.min_us, 100 * MS);
    ck_assert_uint_eq(w.latency.max_us, 300 * MS);
    /* The tally alone: the same counters, no histogram. */
    {
        aop_counts_t t;

        memset(&t, 0xff, sizeof(t));
        aop_stats_window_tally(&r, now, 60, &t);
        ck_assert_mem_eq(&t.n, &w.n, sizeof(t.n));
        ck_assert_uint_eq(t.latency.count, 0);
        ck_assert_uint_eq(t.latency.sum_us, 0);
        ck_assert_uint_eq(t.ttfb.count, 0);
        ck_assert_uint_eq(t.latency.bucket[aop_hist_bucket(100 * MS)], 0);
    }
}
END_TEST

START_TEST(window_overwrites_its_output)
{
    static aop_stats_ring_t r;
    static aop_counts_t w;

    aop_stats_reset(&r);
    memset(&w, 0xff, sizeof(w));
    aop_stats_window(&r, M0, 60, &w);
    ck_assert(all_zero(&w, sizeof(w)));
}
END_TEST

START_TEST(reset_zeroes_everything)
{
    static aop_stats_ring_t r;
    aop_stats_event_t ev = event(1, 500, 3 * SEC);
    int i;

    ev.ttfb = 1 * SEC;
    ev.total_tokens = 9;
    ev.failovers = 1;
    ev.cooldowns = 1;
    for (i = 0; i < AOP_STATS_MINUTES; i++) {
        aop_stats_record(&r, M0 + i, &ev);
    }
    ck_assert_uint_eq(window_requests(&r, M0 + 59, 60), 60);
    aop_stats_reset(&r);
    ck_assert(all_zero(&r, sizeof(r)));
    ck_assert_uint_eq(window_requests(&r, M0 + 59, 60), 0);
}
END_TEST

/* ------------------------------------------------------------------ buckets */

START_TEST(bucket_layout)
{
    apr_int64_t lower = 0, upper;
    int i, powers = 0;

    ck_assert_int_eq(AOP_HIST_BUCKETS, 385);
    ck_assert_int_eq(aop_hist_bucket(-1), 0);
    ck_assert_int_eq(aop_hist_bucket(-10 * SEC), 0);
    ck_assert_int_eq(aop_hist_bucket(0), 0);
    ck_assert_int_eq(aop_hist_bucket(APR_INT64_MAX), AOP_HIST_BUCKETS - 1);
    ck_assert_int_eq(aop_hist_upper_us(AOP_HIST_BUCKETS - 1), APR_INT64_MAX);
    ck_assert_int_eq(aop_hist_upper_us(AOP_HIST_BUCKETS - 2), (apr_int64_t)1 << 28);
    ck_assert_int_eq(aop_hist_bucket(((apr_int64_t)1 << 28) + 1), AOP_HIST_BUCKETS - 1);
    for (i = 0; i < AOP_HIST_BUCKETS - 1; i++) {
        upper = aop_hist_upper_us(i);
        /* (lower, upper]: each bound in its own bucket, one past it in the next */
        ck_assert_int_gt(upper, lower);
        ck_assert_int_eq(aop_hist_bucket(upper), i);
        ck_assert_int_eq(aop_hist_bucket(upper + 1), i + 1);
        ck_assert_int_eq(aop_hist_bucket(lower + 1), i);
        /* At most 1/16 of the lower bound wide from 32 us on: the precision. */
        if (lower >= 32) {
            ck_assert_msg((upper - lower) * 16 <= lower, "bucket %d: (%" APR_INT64_T_FMT
                          ", %" APR_INT64_T_FMT "]", i, lower, upper);
        }
        else {
            ck_assert_int_eq(upper - lower, 2);
        }
        /* /metrics exports exactly the powers of two, 32 us .. 2^28 us */
        if (aop_hist_ends_power(i)) {
            ck_assert_int_eq(upper & (upper - 1), 0);
            ck_assert_int_eq(upper, (apr_int64_t)32 << powers);
            powers++;
        }
        else if (lower >= 32) {
            ck_assert_int_ne(upper & (upper - 1), 0);
        }
        lower = upper;
    }
    ck_assert_int_eq(powers, 24);
    ck_assert(!aop_hist_ends_power(AOP_HIST_BUCKETS - 1));
    ck_assert(!aop_hist_ends_power(-1));
    /* a few by hand: 1 ms, 1 s, 120 s */
    ck_assert_int_eq(aop_hist_upper_us(aop_hist_bucket(1000)), 1024);
    ck_assert_int_eq(aop_hist_upper_us(aop_hist_bucket(1000) - 1), 992);
    ck_assert_int_eq(aop_hist_upper_us(aop_hist_bucket(1 * SEC)), 1015808);
    ck_assert_int_eq(aop_hist_upper_us(aop_hist_bucket(120 * (apr_int64_t)SEC)),
                     121634816);
}
END_TEST

/* ------------------------------------------------------------------ percentiles */

static aop_hist_t *hist_of(const apr_int64_t *us, int n)
{
    static aop_counts_t c;
    aop_stats_event_t ev = event(1, 200, 0);
    int i;

    memset(&c, 0, sizeof(c));
    for (i = 0; i < n; i++) {
        ev.latency = us[i];
        aop_counts_add(&c, &ev);
    }
    return &c.latency;
}

START_TEST(quantiles_edge_cases)
{
    static aop_counts_t c;
    apr_int64_t one = 200 * MS, far[3] = { 300 * (apr_int64_t)SEC, 400 * (apr_int64_t)SEC,
                                           3600 * (apr_int64_t)SEC };
    aop_hist_t *h;

    memset(&c, 0, sizeof(c));
    ck_assert_double_eq(aop_hist_quantile(&c.latency, 0.5), -1.0);          /* empty */
    ck_assert_double_eq(aop_hist_quantile(&c.latency, 1.0), -1.0);

    /* One sample: every quantile is that sample, not its bucket's middle. */
    h = hist_of(&one, 1);
    ck_assert_double_eq_tol(aop_hist_quantile(h, 0.5), 0.2, 1e-12);
    ck_assert_double_eq_tol(aop_hist_quantile(h, 0.99), 0.2, 1e-12);
    ck_assert_double_eq_tol(aop_hist_quantile(h, 1.0), 0.2, 1e-12);

    /* Past 2^28 us the last bucket reaches to the largest duration seen. */
    h = hist_of(far, 3);
    ck_assert(aop_hist_quantile(h, 0.5) > 268.4 && aop_hist_quantile(h, 0.5) < 3600.0);
    ck_assert_double_eq_tol(aop_hist_quantile(h, 1.0), 3600.0, 1e-9);

    /* Out-of-contract q is clamped and never NaN: 0 and below are the smallest
     * sample, more than 1 the largest. */
    far[0] = 100 * MS;
    far[1] = 150 * MS;
    far[2] = 900 * MS;
    h = hist_of(far, 3);
    ck_assert_double_eq_tol(aop_hist_quantile(h, 0.0), 0.1, 1e-12);
    ck_assert_double_eq_tol(aop_hist_quantile(h, -1.0), 0.1, 1e-12);
    ck_assert_double_eq_tol(aop_hist_quantile(h, 2.0), 0.9, 1e-12);
}
END_TEST

START_TEST(quantiles_interpolate_inside_a_bucket)
{
    static aop_counts_t c;
    int i;

    /* 10 samples spread over (1024, 1088] us (bucket width 64) and one at 2000 us:
     * rank 5.5 of 11 -> 5.5/10 into the bucket. */
    memset(&c, 0, sizeof(c));
    for (i = 0; i < 10; i++) {
        c.latency.bucket[aop_hist_bucket(1030 + 6 * i)]++;
    }
    c.latency.bucket[aop_hist_bucket(2000)]++;
    c.latency.count = 11;
    c.latency.min_us = 1030;
    c.latency.max_us = 2000;
    ck_assert_int_eq(aop_hist_bucket(1030), aop_hist_bucket(1084));
    ck_assert_double_eq_tol(aop_hist_quantile(&c.latency, 0.5), (1024 + 64 * 0.55) / 1e6,
                            1e-12);
    /* rank 10 is the top of that bucket, not the bottom of the empty ones above */
    ck_assert_double_eq_tol(aop_hist_quantile(&c.latency, 10.0 / 11.0), 1088 / 1e6, 1e-12);
}
END_TEST

/* Deterministic pseudo-random numbers (xorshift64*): the same samples every run. */
static apr_uint64_t rng_state;

static double uniform01(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static double normal01(void)
{
    double u = uniform01(), v = uniform01();

    return sqrt(-2.0 * log(u > 0.0 ? u : 1e-300)) * cos(2.0 * M_PI * v);
}

#define SAMPLES 20000
#define MIN_US 50
#define MAX_US (120 * (apr_int64_t)SEC)

static apr_int64_t clamp_us(double us)
{
    return us < MIN_US ? MIN_US : us > (double)MAX_US ? MAX_US : (apr_int64_t)us;
}

typedef enum {
    D_UNIFORM_FAST, D_UNIFORM_ALL, D_LOG_UNIFORM, D_LOG_NORMAL, D_LOG_NORMAL_WIDE,
    D_BIMODAL, D_NARROW, D_CONSTANT_50US, D_CONSTANT_POWER, D_CONSTANT_120S,
    D_COUNT
} dist_e;

static const char *const dist_names[D_COUNT] = {
    "uniform 50us-1ms", "uniform 50us-120s", "log-uniform 50us-120s",
    "log-normal median 300ms", "log-normal median 2ms sigma 3", "bimodal 0.4ms/20s",
    "normal 440us +- 60us", "constant 50us", "constant 65536us", "constant 120s"
};

static apr_int64_t draw(dist_e d)
{
    switch (d) {
    case D_UNIFORM_FAST:
        return clamp_us(MIN_US + uniform01() * (1000 - MIN_US));
    case D_UNIFORM_ALL:
        return clamp_us(MIN_US + uniform01() * (double)(MAX_US - MIN_US));
    case D_LOG_UNIFORM:
        return clamp_us(exp(log((double)MIN_US)
                            + uniform01() * (log((double)MAX_US) - log((double)MIN_US))));
    case D_LOG_NORMAL:
        return clamp_us(exp(log(300e3) + 1.0 * normal01()));
    case D_LOG_NORMAL_WIDE:
        return clamp_us(exp(log(2e3) + 3.0 * normal01()));
    case D_BIMODAL:
        return uniform01() < 0.9 ? clamp_us(400 + 80 * normal01())
                                 : clamp_us(20e6 + 4e6 * normal01());
    case D_NARROW:
        return clamp_us(440 + 60 * normal01());
    case D_CONSTANT_50US:
        return MIN_US;
    case D_CONSTANT_POWER:
        return 65536;
    default:
        return MAX_US;
    }
}

static int cmp_i64(const void *a, const void *b)
{
    apr_int64_t x = *(const apr_int64_t *)a, y = *(const apr_int64_t *)b;

    return x < y ? -1 : x > y;
}

/* The exact q-quantile: nearest rank, the smallest sample with at least q * n of the
 * samples at or below it. */
static double exact_quantile(const apr_int64_t *sorted, int n, double q)
{
    int rank = (int)ceil(q * n);

    return (double)sorted[rank < 1 ? 0 : rank - 1] / 1e6;
}

/* How far an estimate may be from the true value: the bound, and the one
 * the bucket width guarantees (1/16). */
#define REQUIRED 0.10
#define GUARANTEED 0.0625

static double check_quantiles(const char *what, dist_e d, const aop_hist_t *h,
                              apr_int64_t *samples, int n)
{
    static const double qs[] = { 0.50, 0.95, 0.99 };
    double worst = 0.0;
    size_t k;

    qsort(samples, (size_t)n, sizeof(*samples), cmp_i64);
    ck_assert_uint_eq(h->count, (apr_uint64_t)n);
    for (k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
        double want = exact_quantile(samples, n, qs[k]);
        double got = aop_hist_quantile(h, qs[k]);
        double err = fabs(got - want) / want;

        ck_assert_msg(err <= REQUIRED && err <= GUARANTEED + 1e-12,
                      "%s, %s: p%g is %.6f s, the samples' %.6f s (%.2f %% off)", what,
                      dist_names[d], qs[k] * 100, got, want, err * 100);
        worst = err > worst ? err : worst;
    }
    return worst;
}

/* Each distribution, counted as the lifetime totals count (aop_counts_add) and as a
 * window over a ring counts (32-bit minutes summed): p50/p95/p99 within 10 % of the
 * exact percentiles of the same samples. */
START_TEST(quantiles_match_exact_percentiles)
{
    static apr_int64_t samples[SAMPLES];
    static aop_counts_t life, window;
    static aop_stats_ring_t ring;
    aop_stats_event_t ev = event(1, 200, 0);
    double worst = 0.0, e;
    int d, i;

    for (d = 0; d < D_COUNT; d++) {
        rng_state = 0x9e3779b97f4a7c15ULL + (apr_uint64_t)d;
        memset(&life, 0, sizeof(life));
        aop_stats_reset(&ring);
        for (i = 0; i < SAMPLES; i++) {
            samples[i] = draw((dist_e)d);
            ck_assert(samples[i] >= MIN_US && samples[i] <= MAX_US);
            ev.latency = samples[i];
            ev.ttfb = samples[i];
            aop_counts_add(&life, &ev);
            aop_stats_record(&ring, M0 + i % 15, &ev);    /* spread over 15 minutes */
        }
        aop_stats_window(&ring, M0 + 14, 15, &window);
        e = check_quantiles("lifetime", (dist_e)d, &life.latency, samples, SAMPLES);
        worst = e > worst ? e : worst;
        e = check_quantiles("15-minute window", (dist_e)d, &window.latency, samples, SAMPLES);
        worst = e > worst ? e : worst;
        e = check_quantiles("time to first byte", (dist_e)d, &window.ttfb, samples, SAMPLES);
        worst = e > worst ? e : worst;
    }
    ck_assert(worst <= GUARANTEED);
}
END_TEST

/* Every value on a grid across the range, alone: its own percentiles come back
 * within the bucket precision (the constant case, at every scale). */
START_TEST(quantiles_of_single_values_across_the_range)
{
    static aop_counts_t c;
    aop_stats_event_t ev = event(1, 200, 0);
    double us;

    for (us = MIN_US; us <= (double)MAX_US; us *= 1.013) {
        memset(&c, 0, sizeof(c));
        ev.latency = (apr_int64_t)us;
        aop_counts_add(&c, &ev);
        aop_counts_add(&c, &ev);
        ev.latency = (apr_int64_t)(us * 1.03);           /* and a neighbour 3 % up */
        aop_counts_add(&c, &ev);
        ck_assert_msg(fabs(aop_hist_quantile(&c.latency, 0.5) * 1e6 - (double)(apr_int64_t)us)
                      <= GUARANTEED * (double)(apr_int64_t)us, "p50 of %f us", us);
        ck_assert_msg(fabs(aop_hist_quantile(&c.latency, 0.99) * 1e6
                           - (double)(apr_int64_t)(us * 1.03))
                      <= GUARANTEED * us * 1.03, "p99 of %f us", us * 1.03);
    }
}
END_TEST

Suite *aop_stats_suite(void)
{
    Suite *s = suite_create("aop_stats");
    TCase *tc = tcase_create("stats");
    TCase *hist = tcase_create("histograms");

    tcase_add_test(tc, kinds_from_status);
    tcase_add_test(tc, add_counts_requests_by_kind_and_class);
    tcase_add_test(tc, add_counts_resets_and_truncated_answers);
    tcase_add_test(tc, add_counts_tokens_durations_and_attempts);
    tcase_add_test(tc, tally_is_counters_only);
    tcase_add_test(tc, merge_sums_every_field);
    tcase_add_test(tc, counters_saturate);
    tcase_add_test(tc, token_counters_saturate);
    tcase_add_test(tc, ring_slot_reused_after_an_hour_starts_from_zero);
    tcase_add_test(tc, windows_sum_exactly_their_minutes);
    tcase_add_test(tc, window_overwrites_its_output);
    tcase_add_test(tc, reset_zeroes_everything);
    suite_add_tcase(s, tc);
    tcase_add_test(hist, bucket_layout);
    tcase_add_test(hist, quantiles_edge_cases);
    tcase_add_test(hist, quantiles_interpolate_inside_a_bucket);
    tcase_add_test(hist, quantiles_match_exact_percentiles);
    tcase_add_test(hist, quantiles_of_single_values_across_the_range);
    tcase_set_timeout(hist, 60);
    suite_add_tcase(s, hist);
    return s;
}
