/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Saturating arithmetic for the numbers a client or a backend hands us (token
 * counts, estimates, reservations, durations): a sum that would leave the 64-bit
 * range sticks at its end instead of wrapping (undefined behaviour for signed
 * integers, and a budget that turns negative for ever), and the counters that must
 * never go below zero are clamped there.  Header only: every caller is on a hot path
 * and each helper is a compare or a compiler builtin. */
#ifndef AOP_SAT_H
#define AOP_SAT_H

#include <apr.h>

/* a + b, held at APR_INT64_MAX / APR_INT64_MIN instead of overflowing. */
static inline apr_int64_t aop_sat_add(apr_int64_t a, apr_int64_t b)
{
    apr_int64_t r;

    if (__builtin_add_overflow(a, b, &r)) {
        return b > 0 ? APR_INT64_MAX : APR_INT64_MIN;
    }
    return r;
}

/* a - b, held at the range's ends. */
static inline apr_int64_t aop_sat_sub(apr_int64_t a, apr_int64_t b)
{
    apr_int64_t r;

    if (__builtin_sub_overflow(a, b, &r)) {
        return b < 0 ? APR_INT64_MAX : APR_INT64_MIN;
    }
    return r;
}

/* a * b, held at the range's ends. */
static inline apr_int64_t aop_sat_mul(apr_int64_t a, apr_int64_t b)
{
    apr_int64_t r;

    if (__builtin_mul_overflow(a, b, &r)) {
        return (a < 0) == (b < 0) ? APR_INT64_MAX : APR_INT64_MIN;
    }
    return r;
}

/* v clamped into [lo, hi]. */
static inline apr_int64_t aop_sat_clamp(apr_int64_t v, apr_int64_t lo, apr_int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* A counter that never goes below zero: a + b for b >= 0, never past APR_INT64_MAX;
 * a negative a or b counts as 0. */
static inline apr_int64_t aop_sat_add_nonneg(apr_int64_t a, apr_int64_t b)
{
    return aop_sat_add(a > 0 ? a : 0, b > 0 ? b : 0);
}

/* a - b for a counter that must not go below zero (a reservation handed back twice,
 * or larger than what is held, leaves 0, never a negative balance). */
static inline apr_int64_t aop_sat_sub_nonneg(apr_int64_t a, apr_int64_t b)
{
    apr_int64_t r = aop_sat_sub(a, b > 0 ? b : 0);

    return r > 0 ? r : 0;
}

/* Unsigned counters (statistics): a + b held at the top rather than wrapping to a
 * small number. */
static inline apr_uint64_t aop_sat_addu(apr_uint64_t a, apr_uint64_t b)
{
    apr_uint64_t r;

    return __builtin_add_overflow(a, b, &r) ? APR_UINT64_MAX : r;
}

/* a - b for unsigned counters, 0 when b > a (counts read at slightly different
 * moments must not wrap to 1.8e19). */
static inline apr_uint64_t aop_sat_subu(apr_uint64_t a, apr_uint64_t b)
{
    return a > b ? a - b : 0;
}

/* A double (from strtod on a header) as microseconds in [0, max]: NaN and negative
 * give -1 (not a duration), anything above max (infinity included) gives max.  The
 * comparison happens in double, before the conversion that would be undefined out of
 * range. */
static inline apr_int64_t aop_sat_usec(double v, apr_int64_t max)
{
    if (!(v >= 0)) {
        return -1;
    }
    return v >= (double)max ? max : (apr_int64_t)v;
}

#endif
