/* Statistics: kinds, additive counts, the 60-minute ring, windows, histograms. */
#include <string.h>

#include <apr_time.h>   /* apr_interval_time_t: aop_stats.h includes only apr.h */

#include "aop_stats.h"
#include "check_suites.h"

static const apr_int64_t M0 = 30000000;      /* an epoch minute (2027) */

#define MS 1000
#define SEC 1000000

/* Every field of aop_counts_t is an apr_uint64_t: tests view it as a flat array so
 * that a field added later cannot slip past the merge and reset checks. */
#define NWORDS (sizeof(aop_counts_t) / sizeof(apr_uint64_t))

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
    return w.requests;
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
    aop_counts_t c;
    aop_stats_event_t ev;

    memset(&c, 0, sizeof(c));
    ev = event(1, 200, -1);
    aop_counts_add(&c, &ev);
    ev = event(1, 429, -1);
    aop_counts_add(&c, &ev);
    ev = event(1, 408, -1);
    aop_counts_add(&c, &ev);
    ev = event(1, 504, -1);
    aop_counts_add(&c, &ev);
    ev = event(1, 503, -1);
    aop_counts_add(&c, &ev);
    ev = event(1, 404, -1);
    aop_counts_add(&c, &ev);
    ev = event(1, 0, -1);                                  /* refused */
    aop_counts_add(&c, &ev);
    ev = event(1, 0, -1);                                  /* no answer in time */
    ev.kind = aop_stats_kind(0, 1);
    aop_counts_add(&c, &ev);
    ev = event(0, 502, -1);                                /* an attempt, not a request */
    aop_counts_add(&c, &ev);

    ck_assert_uint_eq(c.requests, 8);
    ck_assert_uint_eq(c.successes, 1);
    ck_assert_uint_eq(c.errors_4xx, 3);                    /* 429, 408, 404 */
    ck_assert_uint_eq(c.errors_5xx, 2);                    /* 504, 503 */
    ck_assert_uint_eq(c.errors_other, 2);
    ck_assert_uint_eq(c.by_kind[AOP_KIND_SUCCESS], 0);
    ck_assert_uint_eq(c.by_kind[AOP_KIND_RATE_LIMITED], 1);
    ck_assert_uint_eq(c.by_kind[AOP_KIND_TIMEOUT], 3);
    ck_assert_uint_eq(c.by_kind[AOP_KIND_CONNECTION], 1);
    ck_assert_uint_eq(c.by_kind[AOP_KIND_UPSTREAM_5XX], 1);
    ck_assert_uint_eq(c.by_kind[AOP_KIND_CLIENT_4XX], 1);
    ck_assert_uint_eq(c.requests, c.successes + c.errors_4xx + c.errors_5xx + c.errors_other);
    /* Nothing else moved. */
    ck_assert_uint_eq(c.total_tokens + c.failovers + c.cooldowns, 0);
    ck_assert_uint_eq(c.latency_count + c.ttfb_count, 0);
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
    ev.cooldown = 1;
    ev.ttfb = 0;
    ev.total_tokens = 4;
    ev.estimated = 1;
    aop_counts_add(&c, &ev);

    ck_assert_uint_eq(c.requests, 3);
    ck_assert_uint_eq(c.successes, 3);
    ck_assert_uint_eq(c.errors_5xx, 0);
    ck_assert_uint_eq(c.by_kind[AOP_KIND_UPSTREAM_5XX], 0);
    ck_assert_uint_eq(c.prompt_tokens, 17);
    ck_assert_uint_eq(c.completion_tokens, 8);
    ck_assert_uint_eq(c.total_tokens, 30);
    ck_assert_uint_eq(c.estimated_requests, 2);
    ck_assert_uint_eq(c.estimated_tokens, 14);
    ck_assert_uint_eq(c.failovers, 2);
    ck_assert_uint_eq(c.cooldowns, 1);
    ck_assert_uint_eq(c.latency_count, 3);
    ck_assert_uint_eq(c.latency_sum_us, 120 * MS + 5 * MS + 2 * SEC);
    ck_assert_uint_eq(c.ttfb_count, 2);
    ck_assert_uint_eq(c.ttfb_sum_us, 30 * MS);
    for (i = 0; i < AOP_HIST_BUCKETS; i++) {
        apr_uint64_t lat = (i == 0 || i == 5 || i == 8) ? 1 : 0;  /* 5 ms, 250, 2.5 s */
        apr_uint64_t ttfb = (i == 0 || i == 3) ? 1 : 0;           /* 0, 30 ms */

        ck_assert_uint_eq(c.latency_hist[i], lat);
        ck_assert_uint_eq(c.ttfb_hist[i], ttfb);
    }
}
END_TEST

START_TEST(merge_sums_every_field)
{
    apr_uint64_t a[NWORDS], b[NWORDS], sum[NWORDS];
    aop_counts_t into, from;
    size_t i;

    ck_assert_uint_eq(sizeof(aop_counts_t) % sizeof(apr_uint64_t), 0);
    for (i = 0; i < NWORDS; i++) {
        a[i] = 1000 * (i + 1);
        b[i] = i + 1;
    }
    memcpy(&into, a, sizeof(into));
    memcpy(&from, b, sizeof(from));
    aop_counts_merge(&into, &from);
    memcpy(sum, &into, sizeof(sum));
    for (i = 0; i < NWORDS; i++) {
        ck_assert_msg(sum[i] == 1001 * (i + 1), "word %u", (unsigned)i);
    }
    ck_assert_uint_eq(from.requests, 1);                   /* from is left alone */

    /* And by name, for the arrays' ends. */
    ck_assert_uint_eq(into.by_kind[AOP_KIND_COUNT - 1], a[5 + AOP_KIND_COUNT - 1] + b[5 + AOP_KIND_COUNT - 1]);
    ck_assert_uint_eq(into.ttfb_hist[AOP_HIST_BUCKETS - 1], 1001 * NWORDS);
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
    ck_assert_uint_eq(c.prompt_tokens, APR_UINT64_MAX);
    ck_assert_uint_eq(c.completion_tokens, APR_UINT64_MAX);
    ck_assert_uint_eq(c.total_tokens, APR_UINT64_MAX);
    ck_assert_uint_eq(c.estimated_tokens, APR_UINT64_MAX);
    memcpy(&w, &c, sizeof(w));
    aop_counts_merge(&w, &c);
    ck_assert_uint_eq(w.total_tokens, APR_UINT64_MAX);
    ck_assert_uint_eq(w.prompt_tokens, APR_UINT64_MAX);
    ck_assert_uint_eq(w.estimated_tokens, APR_UINT64_MAX);
    ck_assert_uint_eq(w.requests, 6);
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
    ck_assert_uint_eq(w.requests, 1);
    ck_assert_uint_eq(w.successes, 1);
    ck_assert_uint_eq(w.errors_5xx, 0);
    ck_assert_uint_eq(w.latency_count, 1);
    ck_assert_uint_eq(w.latency_sum_us, 10 * MS);
    ck_assert_uint_eq(w.latency_hist[aop_hist_bucket(1 * SEC)], 0);
    ck_assert_int_eq(r.minute[M0 % AOP_STATS_MINUTES], M0 + 60);
    ck_assert_uint_eq(r.counts[M0 % AOP_STATS_MINUTES].requests, 1);
    ck_assert_uint_eq(r.counts[M0 % AOP_STATS_MINUTES].latency_sum_us, 10 * MS);

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
    aop_stats_record(&r, now - 2, &ev);
    aop_stats_record(&r, now - 20, &ev);
    aop_stats_window(&r, now, 15, &w);
    ck_assert_uint_eq(w.requests, 1 + 2 + 1 + 4 + 8 + 16);
    ck_assert_uint_eq(w.successes, 1 + 2 + 4 + 8 + 16);
    ck_assert_uint_eq(w.by_kind[AOP_KIND_RATE_LIMITED], 1);
    ck_assert_uint_eq(w.total_tokens, 50);
    ck_assert_uint_eq(w.latency_count, 1);
    ck_assert_uint_eq(w.latency_hist[4], 1);
    aop_stats_window(&r, now, 60, &w);
    ck_assert_uint_eq(w.by_kind[AOP_KIND_RATE_LIMITED], 2);
    ck_assert_uint_eq(w.total_tokens, 100);
    ck_assert_uint_eq(w.latency_sum_us, 200 * MS);
}
END_TEST

START_TEST(window_overwrites_its_output)
{
    static aop_stats_ring_t r;
    aop_counts_t w;

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
    ev.cooldown = 1;
    for (i = 0; i < AOP_STATS_MINUTES; i++) {
        aop_stats_record(&r, M0 + i, &ev);
    }
    ck_assert_uint_eq(window_requests(&r, M0 + 59, 60), 60);
    aop_stats_reset(&r);
    ck_assert(all_zero(&r, sizeof(r)));
    ck_assert_uint_eq(window_requests(&r, M0 + 59, 60), 0);
}
END_TEST

START_TEST(bucket_boundaries)
{
    int i;

    ck_assert_int_eq(aop_hist_bucket(-1), 0);
    ck_assert_int_eq(aop_hist_bucket(-10 * SEC), 0);
    ck_assert_int_eq(aop_hist_bucket(0), 0);
    ck_assert_int_eq(aop_hist_bucket(5000), 0);
    ck_assert_int_eq(aop_hist_bucket(5001), 1);
    ck_assert_int_eq(aop_hist_bucket(100 * MS), 4);
    ck_assert_int_eq(aop_hist_bucket(1 * SEC), 7);
    ck_assert_int_eq(aop_hist_bucket(300 * (apr_interval_time_t)SEC), 15);
    ck_assert_int_eq(aop_hist_bucket(300 * (apr_interval_time_t)SEC + 1), 16);
    ck_assert_int_eq(aop_hist_bucket(APR_INT64_MAX), AOP_HIST_BUCKETS - 1);
    /* Each bound is in its own bucket, one past it in the next. */
    for (i = 0; i < AOP_HIST_BUCKETS - 1; i++) {
        ck_assert_int_lt(aop_hist_bounds_us[i], aop_hist_bounds_us[i + 1]);
        ck_assert_int_eq(aop_hist_bucket(aop_hist_bounds_us[i]), i);
        ck_assert_int_eq(aop_hist_bucket(aop_hist_bounds_us[i] + 1), i + 1);
    }
    ck_assert_int_eq(aop_hist_bounds_us[0], 5000);
    ck_assert_int_eq(aop_hist_bounds_us[AOP_HIST_BUCKETS - 2], 300 * (apr_int64_t)SEC);
    ck_assert_int_eq(aop_hist_bounds_us[AOP_HIST_BUCKETS - 1], APR_INT64_MAX);
}
END_TEST

static void fill(apr_uint64_t hist[AOP_HIST_BUCKETS], apr_interval_time_t us, int n)
{
    hist[aop_hist_bucket(us)] += (apr_uint64_t)n;
}

START_TEST(quantiles_of_a_known_distribution)
{
    apr_uint64_t h[AOP_HIST_BUCKETS];
    double p50, p95, p99;

    memset(h, 0, sizeof(h));
    fill(h, 100 * MS, 90);
    fill(h, 1 * SEC, 10);
    p50 = aop_hist_quantile(h, 0.50);
    p95 = aop_hist_quantile(h, 0.95);
    p99 = aop_hist_quantile(h, 0.99);
    ck_assert(p50 > 0.05 && p50 <= 0.1);
    ck_assert(p95 > 0.5 && p95 <= 1.0);
    ck_assert(p99 > 0.5 && p99 <= 1.0);
    /* Prometheus' interpolation: 0.05 + 0.05 * 50/90, 0.5 + 0.5 * 5/10, ... */
    ck_assert_double_eq_tol(p50, 0.05 + 0.05 * 50.0 / 90.0, 1e-12);
    ck_assert_double_eq_tol(p95, 0.75, 1e-12);
    ck_assert_double_eq_tol(p99, 0.95, 1e-12);
    ck_assert_double_eq_tol(aop_hist_quantile(h, 0.90), 0.1, 1e-12);   /* bucket's top */
    ck_assert_double_eq_tol(aop_hist_quantile(h, 1.0), 1.0, 1e-12);
}
END_TEST

START_TEST(quantiles_interpolate_inside_a_bucket)
{
    apr_uint64_t h[AOP_HIST_BUCKETS];

    /* 4 samples in (0, 5 ms], 6 in (5, 10 ms], 10 in (2.5, 5 s]. */
    memset(h, 0, sizeof(h));
    h[0] = 4;
    h[1] = 6;
    h[9] = 10;
    /* rank 2.5 of 20 -> 2.5/4 into bucket 0: 0.005 * 0.625 */
    ck_assert_double_eq_tol(aop_hist_quantile(h, 0.125), 0.003125, 1e-12);
    /* rank 7 -> 3/6 into (0.005, 0.010] */
    ck_assert_double_eq_tol(aop_hist_quantile(h, 0.35), 0.0075, 1e-12);
    /* rank 10 -> the top of bucket 1, not the bottom of the empty ones above */
    ck_assert_double_eq_tol(aop_hist_quantile(h, 0.5), 0.010, 1e-12);
    /* rank 18 -> 8/10 into (2.5, 5 s] */
    ck_assert_double_eq_tol(aop_hist_quantile(h, 0.9), 4.5, 1e-9);
}
END_TEST

START_TEST(quantiles_edge_cases)
{
    apr_uint64_t h[AOP_HIST_BUCKETS];

    memset(h, 0, sizeof(h));
    ck_assert_double_eq(aop_hist_quantile(h, 0.5), -1.0);          /* empty */
    ck_assert_double_eq(aop_hist_quantile(h, 1.0), -1.0);

    fill(h, 200 * MS, 1);                                          /* one sample */
    ck_assert_double_eq_tol(aop_hist_quantile(h, 0.5), 0.175, 1e-12);
    ck_assert_double_eq_tol(aop_hist_quantile(h, 0.99), 0.1 + 0.15 * 0.99, 1e-12);
    ck_assert_double_eq_tol(aop_hist_quantile(h, 1.0), 0.25, 1e-12);

    memset(h, 0, sizeof(h));
    fill(h, 3600 * (apr_interval_time_t)SEC, 7);                   /* all past 300 s */
    ck_assert_double_eq(aop_hist_quantile(h, 0.5), 300.0);
    ck_assert_double_eq(aop_hist_quantile(h, 1.0), 300.0);

    /* Out-of-contract q is clamped and never NaN: 0 is the first sample's bucket
     * bottom, more than 1 is the top. */
    memset(h, 0, sizeof(h));
    fill(h, 100 * MS, 2);
    ck_assert_double_eq_tol(aop_hist_quantile(h, 0.0), 0.05, 1e-12);
    ck_assert_double_eq_tol(aop_hist_quantile(h, -1.0), 0.05, 1e-12);
    ck_assert_double_eq_tol(aop_hist_quantile(h, 2.0), 0.1, 1e-12);
}
END_TEST

Suite *aop_stats_suite(void)
{
    Suite *s = suite_create("aop_stats");
    TCase *tc = tcase_create("stats");

    tcase_add_test(tc, kinds_from_status);
    tcase_add_test(tc, add_counts_requests_by_kind_and_class);
    tcase_add_test(tc, add_counts_tokens_durations_and_attempts);
    tcase_add_test(tc, merge_sums_every_field);
    tcase_add_test(tc, token_counters_saturate);
    tcase_add_test(tc, ring_slot_reused_after_an_hour_starts_from_zero);
    tcase_add_test(tc, windows_sum_exactly_their_minutes);
    tcase_add_test(tc, window_overwrites_its_output);
    tcase_add_test(tc, reset_zeroes_everything);
    tcase_add_test(tc, bucket_boundaries);
    tcase_add_test(tc, quantiles_of_a_known_distribution);
    tcase_add_test(tc, quantiles_interpolate_inside_a_bucket);
    tcase_add_test(tc, quantiles_edge_cases);
    suite_add_tcase(s, tc);
    return s;
}
