/* Statistics as plain fixed-size records (they live in shared memory): additive
 * counters for one minute, a ring of the last 60 minutes, windows summed over the
 * ring, and latency histograms with fixed log-scale buckets from which percentiles
 * are estimated (no list of samples is ever kept).  Callers serialise updates (the
 * module's global mutex); nothing here allocates. */
#ifndef AOP_STATS_H
#define AOP_STATS_H

#include <apr.h>
#include <apr_time.h>

#define AOP_STATS_MINUTES 60
#define AOP_HIST_BUCKETS 17

/* Upper bounds of the histogram buckets in microseconds, ascending; the last is
 * APR_INT64_MAX (+Inf).  5 ms, 10, 25, 50, 100, 250, 500 ms, 1 s, 2.5, 5, 10, 20,
 * 30, 60, 120, 300 s, +Inf. */
extern const apr_int64_t aop_hist_bounds_us[AOP_HIST_BUCKETS];

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
    AOP_KIND_COUNT
} aop_kind_e;

typedef struct aop_counts_t {
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
    apr_uint64_t latency_count;
    apr_uint64_t latency_sum_us;
    apr_uint64_t latency_hist[AOP_HIST_BUCKETS];   /* per bucket, not cumulative */
    apr_uint64_t ttfb_count;         /* streams: time to first byte */
    apr_uint64_t ttfb_sum_us;
    apr_uint64_t ttfb_hist[AOP_HIST_BUCKETS];
} aop_counts_t;

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
    int cooldown;                /* 1: a cooldown started */
} aop_stats_event_t;

typedef struct aop_stats_ring_t {
    apr_int64_t minute[AOP_STATS_MINUTES];   /* epoch minute each slot holds, 0 = empty */
    aop_counts_t counts[AOP_STATS_MINUTES];
} aop_stats_ring_t;

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

void aop_stats_reset(aop_stats_ring_t *ring);

/* The q-quantile (0 < q <= 1) of a histogram in seconds, interpolated linearly
 * inside its bucket as Prometheus' histogram_quantile does; -1 when empty.  A
 * quantile in the +Inf bucket answers the highest finite bound. */
double aop_hist_quantile(const apr_uint64_t hist[AOP_HIST_BUCKETS], double q);

/* The bucket a duration falls in. */
int aop_hist_bucket(apr_interval_time_t us);

#endif
