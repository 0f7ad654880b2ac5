/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <stdlib.h>
#include <apr_strings.h>

#include "mod_aoproxy_private.h"
#include "mod_aoproxy_snapshot.h"

static const aop_instance_t *instance_at(const aop_snapshot_t *snap, int idx)
{
    return APR_ARRAY_IDX(snap->view->cfg->instances, idx, aop_instance_t *);
}

/* Caller holds the lock. */
static void copy_pairs_locked(apr_pool_t *p, aop_snapshot_t *snap, int i)
{
    const aop_instance_t *inst = instance_at(snap, i);
    int j, models = inst->supported_models->nelts;

    snap->life[i] = apr_pcalloc(p, sizeof(aop_counts_t) * (models + 1));
    for (j = 0; j < models; j++) {
        const aop_shm_pair_t *pair = aop_shm_pair(snap->view->shm_map, inst, i,
                                                  APR_ARRAY_IDX(inst->supported_models, j,
                                                                const char *));
        if (pair) {
            snap->life[i][j] = pair->life;
        }
    }
}

/* Caller holds the lock: each deployment's state, folded into the instance's copy. */
static void copy_states_locked(apr_pool_t *p, aop_snapshot_t *snap, int i)
{
    const aop_instance_t *inst = instance_at(snap, i);
    aop_shm_inst_t *si = &snap->inst[i];
    apr_int64_t sec = apr_time_sec(snap->now);
    int j, models = inst->supported_models->nelts;

    snap->pairs[i] = apr_pcalloc(p, sizeof(aop_snap_pair_t) * (models + 1));
    for (j = 0; j < models; j++) {
        const aop_shm_pair_t *sp = aop_shm_pair(snap->view->shm_map, inst, i,
                                                APR_ARRAY_IDX(inst->supported_models, j,
                                                              const char *));
        aop_snap_pair_t *out = &snap->pairs[i][j];

        if (!sp) {
            continue;
        }
        out->cooldown_until = sp->cooldown_until;
        out->probe_until = sp->probe_until;
        out->consecutive_failures = sp->consecutive_failures;
        out->last_status = sp->last_status;
        out->last_error_at = sp->last_error_at;
        out->rpm_second = aop_rpm_in_second(&sp->rpm, sec);
        out->rpm_ten = aop_rpm_in_ten(&sp->rpm, sec);
        out->tpm_used = aop_tpm_used(&sp->tpm, sec);
        out->tpm_reserved = sp->tpm.reserved;
        if (sp->cooldown_until > si->cooldown_until) {
            si->cooldown_until = sp->cooldown_until;
        }
        if (sp->consecutive_failures > si->consecutive_failures) {
            si->consecutive_failures = sp->consecutive_failures;
        }
        if (sp->last_error_at > si->last_error_at) {
            si->last_error_at = sp->last_error_at;
            si->last_status = sp->last_status;
        }
    }
}

/* One instance, under one short hold of the lock. */
static void copy_instance(apr_pool_t *p, aop_snapshot_t *snap, int i, int flags)
{
    int with_pairs = flags & AOP_SNAP_PAIRS;
    const aop_shm_inst_t *si = aop_shm_inst(snap->view->shm_map, i);

    if (!si) {
        if (with_pairs) {
            snap->life[i] = apr_pcalloc(p, sizeof(aop_counts_t)
                                           * (instance_at(snap, i)->supported_models->nelts + 1));
        }
        snap->pairs[i] = apr_pcalloc(p, sizeof(aop_snap_pair_t)
                                        * (instance_at(snap, i)->supported_models->nelts + 1));
        return;
    }
    aop_shm_lock();
    snap->inst[i] = *si;
    snap->circuit[i] = (int)aop_circuit_state(si->consecutive_failures,
                                              si->cooldown_until > si->unhealthy_until
                                              ? si->cooldown_until : si->unhealthy_until,
                                              snap->now);
    copy_states_locked(p, snap, i);
    (flags & AOP_SNAP_WINDOW_TALLY ? aop_stats_window_tally : aop_stats_window)(
        aop_shm_ring(si), snap->minute, snap->view->cfg->stats_window_minutes,
        &snap->window[i]);
    if (with_pairs) {
        copy_pairs_locked(p, snap, i);
    }
    aop_shm_unlock();
}

static void copy_overall(aop_snapshot_t *snap)
{
    const aop_shm_overall_t *all = aop_shm_overall();

    if (!all) {
        return;
    }
    aop_shm_lock();
    snap->since = all->since;
    snap->overall_life = all->life;
    aop_stats_window(&all->ring, snap->minute, snap->view->cfg->stats_window_minutes,
                     &snap->overall_window);
    aop_shm_unlock();
}

aop_snapshot_t *aop_snapshot_take_page(apr_pool_t *p, aop_view_t *view, int flags,
                                       const int *only, int count)
{
    aop_snapshot_t *snap = apr_pcalloc(p, sizeof(*snap));
    int k;

    snap->view = view;
    snap->n = view->cfg->instances->nelts;
    snap->now = apr_time_now();
    snap->minute = apr_time_sec(snap->now) / 60;
    /* Parallel to the instances, but filled in only for those taken: a page of
     * thousands leaves the rest unwritten (and, being large, untouched). */
    snap->inst = apr_palloc(p, sizeof(aop_shm_inst_t) * (snap->n + 1));
    snap->window = apr_palloc(p, sizeof(aop_counts_t) * (snap->n + 1));
    snap->life = flags & AOP_SNAP_PAIRS ? apr_pcalloc(p, sizeof(aop_counts_t *) * (snap->n + 1)) : NULL;
    snap->health = apr_pcalloc(p, sizeof(aop_health_t) * (snap->n + 1));
    snap->pairs = apr_pcalloc(p, sizeof(aop_snap_pair_t *) * (snap->n + 1));
    snap->circuit = apr_pcalloc(p, sizeof(int) * (snap->n + 1));
    for (k = 0; k < (only ? count : snap->n); k++) {
        int i = only ? only[k] : k;

        memset(&snap->inst[i], 0, sizeof(snap->inst[i]));
        memset(&snap->window[i], 0, sizeof(snap->window[i]));
        copy_instance(p, snap, i, flags);
        snap->health[i] = aop_health_of(p, view, i, &snap->inst[i], &snap->window[i],
                                        snap->now);
    }
    copy_overall(snap);
    return snap;
}

aop_snapshot_t *aop_snapshot_take(apr_pool_t *p, aop_view_t *view, int flags)
{
    return aop_snapshot_take_page(p, view, flags, NULL, 0);
}

/* A window other than the main one, summed from shared memory: an instance's slot
 * is only read while it still holds that instance (a change may have given it away). */
static void window_now(const aop_snapshot_t *snap, int idx, int minutes, aop_counts_t *out)
{
    const aop_shm_inst_t *si = idx >= 0 ? aop_shm_inst(snap->view->shm_map, idx) : NULL;
    const aop_shm_overall_t *all = idx < 0 ? aop_shm_overall() : NULL;

    memset(out, 0, sizeof(*out));
    aop_shm_lock();
    if (si && strcmp(si->name, instance_at(snap, idx)->name) == 0) {
        aop_stats_window(aop_shm_ring(si), snap->minute, minutes, out);
    }
    else if (all) {
        aop_stats_window(&all->ring, snap->minute, minutes, out);
    }
    aop_shm_unlock();
}

void aop_snapshot_window(const aop_snapshot_t *snap, int idx, int minutes, aop_counts_t *out)
{
    if (minutes == snap->view->cfg->stats_window_minutes) {
        *out = idx >= 0 ? snap->window[idx] : snap->overall_window;
        return;
    }
    window_now(snap, idx, minutes, out);
}

aop_health_e aop_snapshot_overall_health(const aop_snapshot_t *snap)
{
    /* As many as there are instances: from the heap, briefly (no pool at hand). */
    aop_health_e *each = malloc(sizeof(*each) * (apr_size_t)(snap->n + 1)), overall;
    int i;

    if (!each) {
        return AOP_UNHEALTHY;
    }
    for (i = 0; i < snap->n; i++) {
        each[i] = snap->health[i].status;
    }
    overall = aop_health_overall(each, snap->n, snap->view);
    free(each);
    return overall;
}
