#include <string.h>

#include <apr_time.h>   /* apr_interval_time_t: aop_stats.h includes only apr.h */

#include "aop_sat.h"
#include "aop_stats.h"

const apr_int64_t aop_hist_bounds_us[AOP_HIST_BUCKETS] = {
    5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000, 10000000, 20000000, 30000000,
    60000000, 120000000, 300000000, APR_INT64_MAX
};

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

int aop_hist_bucket(apr_interval_time_t us)
{
    int i;

    /* Prometheus `le`: a duration equal to a bound belongs to that bucket. */
    for (i = 0; i < AOP_HIST_BUCKETS - 1; i++) {
        if (us <= aop_hist_bounds_us[i]) {
            return i;
        }
    }
    return AOP_HIST_BUCKETS - 1;
}

/* Negative inputs would wrap to huge unsigned counts in shared memory. */
static apr_uint64_t nonneg(apr_int64_t v)
{
    return v > 0 ? (apr_uint64_t)v : 0;
}

/* Every request lands in exactly one of successes / 4xx / 5xx / other, so the four
 * always add up to requests. */
static void add_request(aop_counts_t *c, const aop_stats_event_t *ev)
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

static void add_tokens(aop_counts_t *c, const aop_stats_event_t *ev)
{
    apr_uint64_t prompt = nonneg(ev->prompt_tokens);
    apr_uint64_t completion = nonneg(ev->completion_tokens);
    apr_uint64_t total = nonneg(ev->total_tokens);

    /* Some answers (and our estimates) carry only the parts. */
    if (total == 0) {
        total = aop_sat_addu(prompt, completion);
    }
    /* Token counts come from backends: a counter held at its top, never wrapped to a
     * small number by a backend that claims huge usage again and again. */
    c->prompt_tokens = aop_sat_addu(c->prompt_tokens, prompt);
    c->completion_tokens = aop_sat_addu(c->completion_tokens, completion);
    c->total_tokens = aop_sat_addu(c->total_tokens, total);
    if (ev->estimated && total > 0) {
        c->estimated_requests++;
        c->estimated_tokens = aop_sat_addu(c->estimated_tokens, total);
    }
}

static void add_duration(apr_uint64_t *count, apr_uint64_t *sum_us,
                         apr_uint64_t hist[AOP_HIST_BUCKETS], apr_interval_time_t us)
{
    if (us < 0) {
        return;
    }
    (*count)++;
    *sum_us += (apr_uint64_t)us;
    hist[aop_hist_bucket(us)]++;
}

void aop_counts_add(aop_counts_t *c, const aop_stats_event_t *ev)
{
    if (ev->request) {
        add_request(c, ev);
    }
    add_tokens(c, ev);
    c->failovers += nonneg(ev->failovers);
    c->cooldowns += ev->cooldown ? 1 : 0;
    add_duration(&c->latency_count, &c->latency_sum_us, c->latency_hist, ev->latency);
    add_duration(&c->ttfb_count, &c->ttfb_sum_us, c->ttfb_hist, ev->ttfb);
}

static void merge_array(apr_uint64_t *into, const apr_uint64_t *from, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        into[i] += from[i];
    }
}

void aop_counts_merge(aop_counts_t *into, const aop_counts_t *from)
{
    into->requests += from->requests;
    into->successes += from->successes;
    into->errors_4xx += from->errors_4xx;
    into->errors_5xx += from->errors_5xx;
    into->errors_other += from->errors_other;
    merge_array(into->by_kind, from->by_kind, AOP_KIND_COUNT);
    into->prompt_tokens = aop_sat_addu(into->prompt_tokens, from->prompt_tokens);
    into->completion_tokens = aop_sat_addu(into->completion_tokens, from->completion_tokens);
    into->total_tokens = aop_sat_addu(into->total_tokens, from->total_tokens);
    into->estimated_requests += from->estimated_requests;
    into->estimated_tokens = aop_sat_addu(into->estimated_tokens, from->estimated_tokens);
    into->failovers += from->failovers;
    into->cooldowns += from->cooldowns;
    into->latency_count += from->latency_count;
    into->latency_sum_us += from->latency_sum_us;
    merge_array(into->latency_hist, from->latency_hist, AOP_HIST_BUCKETS);
    into->ttfb_count += from->ttfb_count;
    into->ttfb_sum_us += from->ttfb_sum_us;
    merge_array(into->ttfb_hist, from->ttfb_hist, AOP_HIST_BUCKETS);
}

/* Non-negative even for a (bogus) negative minute: it indexes shared memory. */
static int slot_of(apr_int64_t minute)
{
    int slot = (int)(minute % AOP_STATS_MINUTES);

    return slot < 0 ? slot + AOP_STATS_MINUTES : slot;
}

void aop_stats_record(aop_stats_ring_t *ring, apr_int64_t now_minute,
                      const aop_stats_event_t *ev)
{
    int slot = slot_of(now_minute);

    /* The slot still holds a minute an hour (or more) old: start it afresh. */
    if (ring->minute[slot] != now_minute) {
        memset(&ring->counts[slot], 0, sizeof(ring->counts[slot]));
        ring->minute[slot] = now_minute;
    }
    aop_counts_add(&ring->counts[slot], ev);
}

void aop_stats_window(const aop_stats_ring_t *ring, apr_int64_t now_minute, int minutes,
                      aop_counts_t *out)
{
    int i;

    if (minutes < 1) {
        minutes = 1;
    } else if (minutes > AOP_STATS_MINUTES) {
        minutes = AOP_STATS_MINUTES;
    }
    memset(out, 0, sizeof(*out));
    /* Slots are matched by the minute they hold, not by position, so minutes never
     * written and minutes of an earlier hour drop out by themselves. */
    for (i = 0; i < AOP_STATS_MINUTES; i++) {
        if (ring->minute[i] > now_minute - minutes && ring->minute[i] <= now_minute) {
            aop_counts_merge(out, &ring->counts[i]);
        }
    }
}

void aop_stats_reset(aop_stats_ring_t *ring)
{
    memset(ring, 0, sizeof(*ring));
}

static double seconds(apr_int64_t us)
{
    return (double)us / 1e6;
}

double aop_hist_quantile(const apr_uint64_t hist[AOP_HIST_BUCKETS], double q)
{
    apr_uint64_t total = 0, before = 0;
    double rank, lower, upper;
    int i;

    for (i = 0; i < AOP_HIST_BUCKETS; i++) {
        total += hist[i];
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
    /* Empty buckets are skipped: with rank 0 the first bucket would otherwise
     * divide by a zero count. */
    for (i = 0; i < AOP_HIST_BUCKETS - 1; i++) {
        if (hist[i] > 0 && (double)(before + hist[i]) >= rank) {
            break;
        }
        before += hist[i];
    }
    /* The +Inf bucket has no upper bound to interpolate towards. */
    if (i == AOP_HIST_BUCKETS - 1) {
        return seconds(aop_hist_bounds_us[AOP_HIST_BUCKETS - 2]);
    }
    lower = i == 0 ? 0.0 : seconds(aop_hist_bounds_us[i - 1]);
    upper = seconds(aop_hist_bounds_us[i]);
    return lower + (upper - lower) * ((rank - (double)before) / (double)hist[i]);
}
