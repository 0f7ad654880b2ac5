/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <string.h>

#include "aop_sat.h"
#include "aop_tpm.h"

void aop_tpm_init(aop_tpm_t *t)
{
    memset(t, 0, sizeof(*t));
    t->remote_remaining = -1;
}

static int in_window(apr_int64_t sec, apr_int64_t now)
{
    return sec > now - AOP_TPM_WINDOW && sec <= now;
}

static apr_int64_t window_sum(const aop_tpm_t *t, apr_int64_t now)
{
    apr_int64_t sum = 0;
    int i;

    for (i = 0; i < AOP_TPM_WINDOW; i++) {
        if (in_window(t->sec[i], now)) {
            sum = aop_sat_add_nonneg(sum, t->tokens[i]);
        }
    }
    return sum;
}

apr_int64_t aop_tpm_used(const aop_tpm_t *t, apr_int64_t now)
{
    return t->cache_sec == now && now != 0 ? t->cache_used : window_sum(t, now);
}

void aop_tpm_refresh(aop_tpm_t *t, apr_int64_t now)
{
    if (t->cache_sec != now) {
        t->cache_used = window_sum(t, now);
        t->cache_sec = now;
    }
}

/* Azure's own count, if fresh, bounds what is left: our window cannot see tokens
 * spent through other gateways on the same resource. */
static int remote_allows(const aop_tpm_t *t, apr_int64_t estimate, apr_int64_t now)
{
    if (t->remote_remaining < 0 || now - t->remote_at >= AOP_TPM_WINDOW) {
        return 1;
    }
    return t->remote_remaining >= estimate;
}

/* Every term is held in [0, INT64_MAX] and summed with saturation: a wild estimate
 * or count can only make the budget look spent, never wrap it into room. */
static int fits_with(apr_int64_t used, apr_int64_t reserved, apr_int64_t max_tpm,
                     apr_int64_t estimate)
{
    apr_int64_t held = aop_sat_add_nonneg(used, reserved);

    if (held == 0) {
        return 1;
    }
    return aop_sat_add_nonneg(held, estimate) <= max_tpm;
}

int aop_tpm_fits(const aop_tpm_t *t, apr_int64_t max_tpm, apr_int64_t estimate,
                 apr_int64_t now)
{
    if (!remote_allows(t, estimate, now)) {
        return 0;
    }
    if (max_tpm <= 0) {
        return 1;
    }
    return fits_with(aop_tpm_used(t, now), t->reserved, max_tpm, estimate);
}

int aop_tpm_fits_hint(const aop_tpm_t *t, apr_int64_t max_tpm, apr_int64_t estimate,
                      apr_int64_t now)
{
    if (!remote_allows(t, estimate, now)) {
        return 0;
    }
    if (max_tpm <= 0 || t->cache_sec != now || now == 0) {
        return 1;                    /* unlimited, or not known cheaply: maybe */
    }
    return fits_with(t->cache_used, t->reserved, max_tpm, estimate);
}

apr_int64_t aop_tpm_fits_at(const aop_tpm_t *t, apr_int64_t max_tpm, apr_int64_t estimate,
                            apr_int64_t now)
{
    apr_int64_t when = now, at;

    if (!remote_allows(t, estimate, now)) {
        when = t->remote_at + AOP_TPM_WINDOW;
    }
    if (max_tpm <= 0) {
        return when;
    }
    /* Buckets leave the window one second at a time: try each future second. */
    for (at = when; at <= now + AOP_TPM_WINDOW; at++) {
        if (fits_with(aop_tpm_used(t, at), t->reserved, max_tpm, estimate)) {
            return at;
        }
    }
    return now + AOP_TPM_WINDOW;
}

void aop_tpm_reserve(aop_tpm_t *t, apr_int64_t estimate)
{
    t->reserved = aop_sat_add_nonneg(t->reserved, estimate);
}

void aop_tpm_commit(aop_tpm_t *t, apr_int64_t reserved, apr_int64_t used, apr_int64_t now)
{
    int i = (int)(now % AOP_TPM_WINDOW);

    if (i < 0) {
        i += AOP_TPM_WINDOW;            /* a bogus negative clock must not index before sec[] */
    }

    t->reserved = aop_sat_sub_nonneg(t->reserved, reserved);
    if (used <= 0) {
        return;
    }
    if (t->sec[i] != now) {
        t->sec[i] = now;
        t->tokens[i] = 0;
    }
    t->tokens[i] = aop_sat_add_nonneg(t->tokens[i], used);
    if (t->cache_sec == now) {
        /* this second's bucket is in the window */
        t->cache_used = aop_sat_add_nonneg(t->cache_used, used);
    }
    if (t->remote_remaining >= 0 && now - t->remote_at < AOP_TPM_WINDOW) {
        t->remote_remaining = t->remote_remaining > used ? t->remote_remaining - used : 0;
    }
}

void aop_tpm_remote(aop_tpm_t *t, apr_int64_t remaining, apr_int64_t now)
{
    t->remote_remaining = remaining;
    t->remote_at = now;
}
