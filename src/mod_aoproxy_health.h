/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The health of an instance, judged when asked from what shared memory holds: its
 * key refused, connections refused, cooling down, budget spent, recent errors. */
#ifndef MOD_AOPROXY_HEALTH_H
#define MOD_AOPROXY_HEALTH_H

#include <httpd.h>

#include "aop_stats.h"
#include "mod_aoproxy_config.h"
#include "mod_aoproxy_view.h"
#include "mod_aoproxy_shm.h"

typedef enum {
    AOP_HEALTHY = 0,
    AOP_DEGRADED,
    AOP_RATE_LIMITED,
    AOP_UNHEALTHY,
    AOP_DISABLED
} aop_health_e;

typedef struct aop_health_t {
    aop_health_e status;
    const char *reason;
} aop_health_t;

/* Error rate (client 4xx excluded) in the main window from which an instance that
 * answers is called degraded, and the fewest requests that make it meaningful. */
#define AOP_DEGRADED_ERROR_RATE 0.25
#define AOP_DEGRADED_MIN_REQUESTS 4

/* si is a copy taken under the lock; window its main window's counts. */
aop_health_t aop_health_of(apr_pool_t *p, aop_view_t *view, int idx,
                           const aop_shm_inst_t *si, const aop_counts_t *window,
                           apr_time_t now);

const char *aop_health_name(aop_health_e h);

/* The service as a whole: healthy when every enabled instance is, unhealthy when none
 * can serve, degraded in between. */
aop_health_e aop_health_overall(const aop_health_e *each, int n, aop_view_t *view);

/* Requests that failed for a reason of the instance's (not the client's). */
apr_uint64_t aop_health_errors(const aop_counts_t *c);

#endif
