/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Requests-per-minute limits as Azure OpenAI enforces them: not over a minute but
 * over short windows, RPM/60 requests in any one second and RPM/6 in any ten
 * (Azure's quota documentation: "evaluated over 1 s or 10 s").  A burst that a
 * minute's count would let through draws 429s from Azure; this keeps the gateway
 * from sending it.
 *
 * Ten one-second buckets keyed by their epoch second, a plain fixed-size struct:
 * it lives in shared memory and every change happens under the segment's lock.
 * Both limits are rounded down (never above Azure's) and are at least 1, so that a
 * small RPM still serves one request now and then. */
#ifndef AOP_RPM_H
#define AOP_RPM_H

#include <apr.h>

#define AOP_RPM_BUCKETS 10          /* seconds: the longer window */
/* The largest max_rpm a configuration may give (a billion a minute: far above any
 * Azure quota, and every sum below stays far from overflowing). */
#define AOP_RPM_MAX 1000000000

typedef struct aop_rpm_t {
    apr_int64_t sec[AOP_RPM_BUCKETS];    /* the epoch second a bucket counts, 0 = empty */
    apr_uint32_t count[AOP_RPM_BUCKETS]; /* requests sent in that second */
} aop_rpm_t;

/* The limits of max_rpm (0: none) per one-second and per ten-second window. */
apr_int64_t aop_rpm_per_second(apr_int64_t max_rpm);
apr_int64_t aop_rpm_per_ten_seconds(apr_int64_t max_rpm);

/* Requests counted in the second now, and in the ten seconds ending with now. */
apr_int64_t aop_rpm_in_second(const aop_rpm_t *t, apr_int64_t now);
apr_int64_t aop_rpm_in_ten(const aop_rpm_t *t, apr_int64_t now);

/* Whether one more request fits both windows now (max_rpm 0: always). */
int aop_rpm_fits(const aop_rpm_t *t, apr_int64_t max_rpm, apr_int64_t now);

/* The first second, at or after now, at which one more request fits (nothing else
 * arriving meanwhile); now when it fits already. */
apr_int64_t aop_rpm_fits_at(const aop_rpm_t *t, apr_int64_t max_rpm, apr_int64_t now);

/* A request goes out now: counted in the second now (a count held at its maximum
 * rather than wrapped). */
void aop_rpm_take(aop_rpm_t *t, apr_int64_t now);

#endif
