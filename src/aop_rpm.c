/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include "aop_rpm.h"

static apr_int64_t bounded(apr_int64_t max_rpm)
{
    return max_rpm > AOP_RPM_MAX ? AOP_RPM_MAX : max_rpm;
}

apr_int64_t aop_rpm_per_second(apr_int64_t max_rpm)
{
    apr_int64_t n = bounded(max_rpm) / 60;

    return max_rpm <= 0 ? 0 : n > 0 ? n : 1;
}

apr_int64_t aop_rpm_per_ten_seconds(apr_int64_t max_rpm)
{
    apr_int64_t n = bounded(max_rpm) / 6;

    return max_rpm <= 0 ? 0 : n > 0 ? n : 1;
}

/* A bucket's place: its second modulo the window (a negative second, which no clock
 * gives, is taken as 0). */
static int slot(apr_int64_t sec)
{
    return sec > 0 ? (int)(sec % AOP_RPM_BUCKETS) : 0;
}

apr_int64_t aop_rpm_in_second(const aop_rpm_t *t, apr_int64_t now)
{
    int i = slot(now);

    return t->sec[i] == now && now > 0 ? t->count[i] : 0;
}

apr_int64_t aop_rpm_in_ten(const aop_rpm_t *t, apr_int64_t now)
{
    apr_int64_t sum = 0;
    int i;

    for (i = 0; i < AOP_RPM_BUCKETS; i++) {
        if (t->sec[i] > now - AOP_RPM_BUCKETS && t->sec[i] <= now) {
            sum += t->count[i];
        }
    }
    return sum;
}

int aop_rpm_fits(const aop_rpm_t *t, apr_int64_t max_rpm, apr_int64_t now)
{
    if (max_rpm <= 0) {
        return 1;
    }
    return aop_rpm_in_second(t, now) < aop_rpm_per_second(max_rpm)
           && aop_rpm_in_ten(t, now) < aop_rpm_per_ten_seconds(max_rpm);
}

apr_int64_t aop_rpm_fits_at(const aop_rpm_t *t, apr_int64_t max_rpm, apr_int64_t now)
{
    apr_int64_t at;

    /* Within ten seconds every bucket seen now has left the window. */
    for (at = now; at < now + AOP_RPM_BUCKETS; at++) {
        if (aop_rpm_fits(t, max_rpm, at)) {
            return at;
        }
    }
    return now + AOP_RPM_BUCKETS;
}

void aop_rpm_take(aop_rpm_t *t, apr_int64_t now)
{
    int i = slot(now);

    if (t->sec[i] != now) {
        t->sec[i] = now;
        t->count[i] = 0;
    }
    if (t->count[i] < APR_UINT32_MAX) {
        t->count[i]++;
    }
}
