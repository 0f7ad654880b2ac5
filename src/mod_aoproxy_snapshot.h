/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* A copy of the shared state a report needs, taken under the lock and read at
 * leisure afterwards (the lock is never held while JSON is built).  Each instance is
 * copied under one short hold of the lock - its state, its main window and, for
 * /metrics, its lifetime counters - so an instance's numbers agree with each other;
 * the rings themselves (some 190 KiB an instance) are never copied: other windows
 * are summed from shared memory when asked for. */
#ifndef MOD_AOPROXY_SNAPSHOT_H
#define MOD_AOPROXY_SNAPSHOT_H

#include <httpd.h>

#include "aop_circuit.h"
#include "mod_aoproxy_config.h"
#include "mod_aoproxy_health.h"
#include "mod_aoproxy_view.h"
#include "mod_aoproxy_shm.h"

/* A deployment's (instance x model pair's) own state, as a report shows it. */
typedef struct aop_snap_pair_t {
    apr_time_t cooldown_until;
    apr_time_t probe_until;
    apr_uint32_t consecutive_failures;
    int last_status;
    apr_time_t last_error_at;
    apr_int64_t rpm_second;          /* requests in this second */
    apr_int64_t rpm_ten;             /* ... and in the last ten */
    apr_int64_t tpm_used;            /* tokens in the last minute */
    apr_int64_t tpm_reserved;
} aop_snap_pair_t;

typedef struct aop_snapshot_t {
    aop_view_t *view;
    apr_time_t now;
    apr_int64_t minute;
    int n;                           /* instances */
    aop_shm_inst_t *inst;            /* copies, parallel to cfg->instances; an instance's
                                      * cooldown_until is the latest of its own and its
                                      * deployments', its consecutive_failures and last
                                      * error the largest and the latest of them, so
                                      * that a resting deployment shows on its instance */
    aop_snap_pair_t **pairs;         /* [instance][i]: parallel to its supported_models */
    int *circuit;                    /* each instance's own circuit (aop_circuit_state_e:
                                      * refused keys and connections), parallel */
    aop_counts_t *window;            /* each one's main window, parallel */
    aop_counts_t **life;             /* [instance][i]: parallel to its supported_models;
                                      * NULL unless taken with AOP_SNAP_PAIRS */
    aop_counts_t overall_window;     /* every request, main window */
    aop_counts_t overall_life;       /* every request since start or reset */
    apr_time_t since;                /* when counting (re)started */
    aop_health_t *health;            /* judged over the main window */
} aop_snapshot_t;

/* What a snapshot takes besides each instance's state and main window. */
#define AOP_SNAP_PAIRS        1      /* the lifetime counters of every instance x model pair */
#define AOP_SNAP_WINDOW_TALLY 2      /* the main window's tally alone, no histograms (enough
                                      * for health; /metrics reports no window) */

aop_snapshot_t *aop_snapshot_take(apr_pool_t *p, aop_view_t *view, int flags);

/* The same for the instances only[0..count) alone (a page: aop_page.h); the other
 * instances' entries are left unset, and aop_snapshot_overall_health() is not for it. */
aop_snapshot_t *aop_snapshot_take_page(apr_pool_t *p, aop_view_t *view, int flags,
                                       const int *only, int count);

/* An instance's (idx >= 0) or the overall (idx < 0) counts over the last minutes,
 * as of the snapshot's minute. */
void aop_snapshot_window(const aop_snapshot_t *snap, int idx, int minutes, aop_counts_t *out);

aop_health_e aop_snapshot_overall_health(const aop_snapshot_t *snap);

#endif
