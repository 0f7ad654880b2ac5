/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Statistics as plain fixed-size records (they live in shared memory): additive
 * counters for one minute, a ring of the last 60 minutes, windows summed over the
 * ring, and duration histograms from which percentiles are estimated (no list of
 * samples is ever kept).  Callers serialise updates (the module's shared-memory
 * lock); nothing here allocates.
 *
 * The histograms are log-linear, as HdrHistogram's are: every power of two of
 * microseconds from 2^5 (32 us) to 2^28 (268 s) is cut into AOP_HIST_SUB equal
 * buckets, and [0, 32 us] into AOP_HIST_SUB buckets of 2 us; one more bucket holds
 * what lies beyond 2^28 us.  A bucket is at most 1/16 as wide as its lower bound, so
 * an estimate inside the right bucket is within 6.25 % of the true value from 32 us
 * to 268 s.  Buckets hold (lower, upper] as Prometheus' `le` does. */
#ifndef AOP_STATS_H
#define AOP_STATS_H

#include <apr.h>
#include <apr_time.h>

#define AOP_STATS_MINUTES 60

#define AOP_HIST_SUB_BITS 4
#define AOP_HIST_SUB (1 << AOP_HIST_SUB_BITS)   /* linear buckets per power of two */
#define AOP_HIST_MIN_EXP 5                      /* 2^5 us: where the powers start */
#define AOP_HIST_MAX_EXP 28                     /* 2^28 us (268 s): where they end */
/* [0, 2^MIN_EXP], each power up to 2^MAX_EXP, and the rest. */
#define AOP_HIST_BUCKETS (AOP_HIST_SUB * (AOP_HIST_MAX_EXP - AOP_HIST_MIN_EXP + 1) + 1)

/* What kind of failure an attempt or request was, for the error counters. */
typedef enum {
    AOP_KIND_SUCCESS = 0,
    AOP_KIND_RATE_LIMITED,       /* 429 (Azure's, or ours when budgets are spent) */
    AOP_KIND_TIMEOUT,            /* no answer in time (504/408) */
    AOP_KIND_CONNECTION,         /* no connection could be made (refused) */
    AOP_KIND_UPSTREAM_5XX,       /* Azure answered 5xx */
    AOP_KIND_CLIENT_4XX,         /* any other 4xx */
    AOP_KIND_RESET,              /* the connection was reset (or closed) before an answer */
    AOP_KIND_TRUNCATED,          /* the answer broke off: shorter than its Content-Length,
                                  * a stream without its end, a stall mid-answer */
    AOP_KIND_CONTENT_FILTER,     /* Azure's content filter refused the prompt (a 400 with
                                  * code content_filter, content_policy_violation or
                                  * ResponsibleAIPolicyViolation): final, the client's
                                  * matter, not the instance's */
    AOP_KIND_COUNT
} aop_kind_e;

/* The additive counters, alike in a minute and in a total. */
typedef struct aop_tally_t {
    apr_uint64_t requests;
    apr_uint64_t successes;
    apr_uint64_t errors_4xx;         /* by status class */
    apr_uint64_t errors_5xx;
    apr_uint64_t errors_other;       /* no HTTP status (transport failures) */
    apr_uint64_t by_kind[AOP_KIND_COUNT];   /* [AOP_KIND_SUCCESS] unused (0) */
    apr_uint64_t prompt_tokens;
    apr_uint64_t completion_tokens;
    apr_uint64_t total_tokens;
    apr_uint64_t estimated_requests; /* requests whose tokens were estimated */
    apr_uint64_t estimated_tokens;   /* the part of total_tokens that was estimated */
    apr_uint64_t failovers;          /* attempts beyond the first */
    apr_uint64_t cooldowns;          /* cooldowns started */
    apr_uint64_t filtered_answers;   /* answers Azure's content filter cut (a success whose
                                      * finish_reason, or incomplete_details.reason, is
                                      * content_filter) */
} aop_tally_t;

/* A duration's distribution over a total or a window: 64-bit buckets. */
typedef struct aop_hist_t {
    apr_uint64_t count;
    apr_uint64_t sum_us;
    apr_uint64_t min_us;             /* meaningful when count > 0 */
    apr_uint64_t max_us;
    apr_uint64_t bucket[AOP_HIST_BUCKETS];   /* per bucket, not cumulative */
} aop_hist_t;

/* The same over one minute of a ring: 32-bit buckets (saturating), which halves the
 * ring; a minute never sees 2^32 durations in one bucket. */
typedef struct aop_hist32_t {
    apr_uint64_t count;
    apr_uint64_t sum_us;
    apr_uint64_t min_us;
    apr_uint64_t max_us;
    apr_uint32_t bucket[AOP_HIST_BUCKETS];
} aop_hist32_t;

/* Counts since start, or over a window. */
typedef struct aop_counts_t {
    aop_tally_t n;
    aop_hist_t latency;
    aop_hist_t ttfb;                 /* streams: time to first byte */
} aop_counts_t;

typedef struct aop_minute_t {
    apr_int64_t minute;              /* the epoch minute it holds, 0 = empty */
    aop_tally_t n;
    aop_hist32_t latency;
    aop_hist32_t ttfb;
} aop_minute_t;

typedef struct aop_stats_ring_t {
    aop_minute_t slot[AOP_STATS_MINUTES];
} aop_stats_ring_t;

/* One event to count.  Fields that do not apply are 0 (latency/ttfb: -1). */
typedef struct aop_stats_event_t {
    int request;                 /* 1: counts as a request (its status/kind below) */
    int status;                  /* HTTP status; 0 = none (transport failure) */
    aop_kind_e kind;
    apr_interval_time_t latency; /* microseconds, -1 = none */
    apr_interval_time_t ttfb;    /* microseconds, -1 = none */
    apr_int64_t prompt_tokens;
    apr_int64_t completion_tokens;
    apr_int64_t total_tokens;
    int estimated;               /* the tokens above are an estimate */
    int failovers;
    int cooldowns;               /* cooldowns started (or lengthened) by it */
    int filtered_answer;         /* a success the content filter cut (filtered_answers) */
} aop_stats_event_t;

/* A kind from an HTTP status (0 = transport failure: pass timed_out). */
aop_kind_e aop_stats_kind(int status, int timed_out);

void aop_counts_add(aop_counts_t *c, const aop_stats_event_t *ev);
void aop_counts_merge(aop_counts_t *into, const aop_counts_t *from);

/* Counts ev in the minute now_minute (epoch seconds / 60). */
void aop_stats_record(aop_stats_ring_t *ring, apr_int64_t now_minute,
                      const aop_stats_event_t *ev);

/* The sum of the last `minutes` minutes, the current one included (1..60). */
void aop_stats_window(const aop_stats_ring_t *ring, apr_int64_t now_minute, int minutes,
                      aop_counts_t *out);

/* The same window's tally alone (out->n; the histograms left zero): what health
 * needs, without summing two histograms a minute (/metrics, a page of hundreds). */
void aop_stats_window_tally(const aop_stats_ring_t *ring, apr_int64_t now_minute,
                            int minutes, aop_counts_t *out);

void aop_stats_reset(aop_stats_ring_t *ring);

/* The bucket a duration falls in (negative: the first). */
int aop_hist_bucket(apr_interval_time_t us);

/* The inclusive upper bound of bucket i in microseconds; APR_INT64_MAX for the
 * last.  Its lower (exclusive) bound is the previous bucket's upper, 0 for the first. */
apr_int64_t aop_hist_upper_us(int i);

/* Whether bucket i ends at a power of two: the boundaries /metrics exports. */
int aop_hist_ends_power(int i);

/* The q-quantile (0 < q <= 1) in seconds, -1 when empty: the bucket holding the
 * sample of rank q * count, interpolated linearly inside it (Prometheus'
 * histogram_quantile does the same), then kept within the smallest and largest
 * duration seen.  The last bucket's upper end is the largest duration seen. */
double aop_hist_quantile(const aop_hist_t *h, double q);

#endif
