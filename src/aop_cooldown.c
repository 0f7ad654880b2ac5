/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <stdlib.h>
#include <string.h>

#include <apr_date.h>

#include "aop_cooldown.h"
#include "aop_sat.h"

/* A plain decimal number ("12", "0.5") at s: its value, *end after it; -1 when s does
 * not start with one.  strtod alone would also take "inf", "nan", hex and exponents
 * ("1e999"), none of which a header means. */
static double decimal(const char *s, const char **end)
{
    apr_size_t span = strspn(s, "0123456789.");
    char *stop;
    double v;

    if (span == 0) {
        return -1;
    }
    v = strtod(s, &stop);
    if (stop != s + span) {
        return -1;              /* "1.2.3", or strtod went on into "e5" */
    }
    *end = stop;
    return v;
}

static apr_interval_time_t unit_usec(const char **s)
{
    if (strncmp(*s, "ms", 2) == 0) {
        *s += 2;
        return 1000;
    }
    if (strncmp(*s, "us", 2) == 0) {
        *s += 2;
        return 1;
    }
    switch (**s) {
    case 'h': (*s)++; return apr_time_from_sec(3600);
    case 'm': (*s)++; return apr_time_from_sec(60);
    case 's': (*s)++; return apr_time_from_sec(1);
    default: return -1;
    }
}

apr_interval_time_t aop_cooldown_parse_duration(const char *s)
{
    double total = 0;
    const char *end;

    if (!s || !*s) {
        return -1;
    }
    while (*s == ' ') {
        s++;
    }
    do {
        double v = decimal(s, &end);
        apr_interval_time_t unit;

        if (v < 0) {
            return -1;
        }
        s = end;
        if (*s == '\0' || *s == ' ') {          /* a bare number: seconds */
            unit = apr_time_from_sec(1);
        }
        else if ((unit = unit_usec(&s)) < 0) {
            return -1;
        }
        total += v * (double)unit;
    } while (*s && *s != ' ');
    /* In double, before the conversion: a "99999999999999999999h" stays defined. */
    return aop_sat_usec(total, AOP_DURATION_MAX);
}

static apr_interval_time_t retry_after(const char *v, apr_time_t now)
{
    apr_interval_time_t d = aop_cooldown_parse_duration(v);
    apr_time_t when;

    if (d >= 0) {
        return d;
    }
    when = apr_date_parse_http(v);
    return when > 0 ? (when > now ? when - now : 0) : -1;
}

apr_interval_time_t aop_cooldown_from_headers(aop_header_fn *get, void *baton,
                                              apr_time_t now, apr_interval_time_t dflt)
{
    static const char *const resets[] = {
        "x-ratelimit-reset-tokens", "x-ratelimit-reset-requests", NULL
    };
    apr_interval_time_t d = -1;
    const char *v;
    int i;

    if ((v = get(baton, "retry-after-ms"))) {
        const char *end;
        double ms = decimal(v, &end);

        if (ms >= 0) {
            d = aop_sat_usec(ms * 1000, AOP_DURATION_MAX);
        }
    }
    if (d < 0 && (v = get(baton, "Retry-After"))) {
        d = retry_after(v, now);
    }
    for (i = 0; d < 0 && resets[i]; i++) {
        if ((v = get(baton, resets[i]))) {
            d = aop_cooldown_parse_duration(v);
        }
    }
    if (d < 0) {
        d = dflt;
    }
    return d > AOP_COOLDOWN_MAX ? AOP_COOLDOWN_MAX : d;
}
