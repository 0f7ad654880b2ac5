/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <string.h>

#include <apr_hash.h>
#include <apr_optional.h>
#include <apr_strings.h>

#include <mod_watchdog.h>

#include "mod_aoproxy_private.h"
#include "mod_aoproxy_fleets.h"
#include "mod_aoproxy_token.h"
#include "mod_aoproxy_shm.h"
#include "mod_aoproxy_token_fetch.h"
#include "mod_aoproxy_token_multi.h"
#include "mod_aoproxy_token_table.h"
#include "mod_aoproxy_view.h"

/* The watchdog's name: one singleton child watchdog for the module's tasks. */
#define WATCHDOG_NAME "aoproxy"
/* A slot no instance used for this long is freed (its credential was changed or
 * its instances removed). */
#define UNWANTED_FOR apr_time_from_sec(3600)
#define SWEEP_EVERY apr_time_from_sec(60)
/* How long a tick waits for the fetches in flight (a tick is AOP_TOKEN_TICK). */
#define AOP_TOKEN_RUN apr_time_from_msec(100)

static apr_time_t last_sweep;

/* ------------------------------------------------------------------ the task */

/* A fetch in flight (in its own pool, aop_token_multi.h). */
typedef struct {
    apr_uint64_t key;
    aop_token_slot_t *slot;
    const char *name;
    const char *auth_type;
    aop_token_state_t st;        /* the slot when the fetch began */
    unsigned refusals;           /* the streak to store with the new token */
} job_t;

/* The credentials with a fetch in flight (in this process: the task's). */
static apr_hash_t *busy;

static int needs_token(const aop_instance_t *inst)
{
    return inst->enabled && aop_auth_of(inst) != AOP_AUTH_API_KEY;
}

static apr_uint64_t key_of(const aop_instance_t *inst)
{
    aop_token_env_t env;

    aop_token_env_get(&env);
    return aop_token_fingerprint(inst, &env);
}

/* *refused: due because Azure refused the token (aop_token_refused_renew_at()). */
static int due(const aop_token_state_t *st, apr_time_t now, int *refused)
{
    apr_time_t at = aop_token_refused_renew_at(st->fetched, st->refused_at, st->refusals);

    *refused = at && now >= at;
    return (!st->expires_at || now >= st->refresh_at || *refused) && now >= st->next_try;
}

static void obtained(server_rec *s, const job_t *job, const aop_token_answer_t *ans,
                     const char *endpoint, apr_time_t start)
{
    apr_time_t refresh = aop_token_refresh_at(start, ans->expires_at);

    if (job->st.failures) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, AOPLOGNO(00301)
                     "instance %s: Entra ID token obtained from %s after %u failed "
                     "attempt(s); the instance serves again", job->name, endpoint,
                     job->st.failures);
        return;
    }
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, AOPLOGNO(00302)
                 "instance %s: Entra ID token (auth.type %s) obtained from %s, valid for "
                 "%" APR_TIME_T_FMT " s, renewed in %" APR_TIME_T_FMT " ms", job->name,
                 job->auth_type, endpoint, apr_time_sec(ans->expires_at - start),
                 apr_time_as_msec(refresh - start));
}

static void failed(apr_pool_t *p, server_rec *s, const job_t *job,
                   const aop_token_answer_t *ans, const char *endpoint,
                   apr_interval_time_t wait, apr_time_t now)
{
    const aop_token_state_t *st = &job->st;
    const char *code = ans->aad_code ? apr_psprintf(p, "AADSTS%d", ans->aad_code) : NULL;
    const char *keeps = st->expires_at > now
        ? apr_psprintf(p, "it keeps its current token, which expires in %"
                       APR_TIME_T_FMT " s", apr_time_sec(st->expires_at - now))
        : "it is not picked until a token is obtained";

    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, AOPLOGNO(00300)
                 "instance %s: no Entra ID token (auth.type %s) from %s: %s%s%s; %s; next "
                 "attempt in %" APR_TIME_T_FMT " s", job->name, job->auth_type,
                 endpoint ? endpoint : "(no request made)", ans->error,
                 code ? " - " : "", code ? code : "", keeps, apr_time_sec(wait));
}

/* The fetch's outcome into the slot, and the log line. */
static void finish(server_rec *s, apr_pool_t *p, const job_t *job,
                   const aop_token_answer_t *ans, const char *endpoint, apr_time_t start)
{
    apr_time_t now;
    apr_interval_time_t wait;

    if (ans->access_token) {
        aop_token_table_store(job->slot, ans->access_token, strlen(ans->access_token), start,
                              ans->expires_at, aop_token_refresh_at(start, ans->expires_at),
                              job->refusals);
        obtained(s, job, ans, endpoint, start);
        return;
    }
    now = apr_time_now();
    wait = aop_token_backoff(job->st.failures + 1);
    aop_token_table_fail(job->slot, ans->error, ans->aad_code, now + wait);
    failed(p, s, job, ans, endpoint, wait, now);
}

static server_rec *task_server;

/* A fetch of the multi handle finished. */
static void fetched(void *baton, apr_pool_t *p, const aop_token_answer_t *ans,
                    const char *endpoint, apr_time_t start)
{
    job_t *job = baton;

    apr_hash_set(busy, &job->key, sizeof(job->key), NULL);
    finish(task_server, p, job, ans, endpoint, start);
}

/* Starts a fetch for the credential of inst, with no lock held: it runs beside the
 * others (aop_token_multi.h), so a token endpoint that never answers delays no
 * other credential.  One that cannot even be sent fails at once. */
static void renew(server_rec *s, const aop_instance_t *inst, apr_uint64_t key,
                  aop_token_slot_t *slot, const aop_token_state_t *st, int refused)
{
    apr_pool_t *p = aop_token_multi_pool();
    job_t *job = apr_pcalloc(p, sizeof(*job));
    aop_token_answer_t ans;
    const char *endpoint = NULL;
    apr_time_t start = apr_time_now();

    job->key = key;
    job->slot = slot;
    job->name = apr_pstrdup(p, inst->name);
    job->auth_type = apr_pstrdup(p, inst->auth_type);
    job->st = *st;
    job->refusals = refused ? aop_token_refused_streak(st->fetched, st->refused_at,
                                                       st->refusals) + 1 : st->refusals;
    if (refused) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, AOPLOGNO(00308)
                     "instance %s: Azure refused the Entra ID token (auth.type %s) "
                     "fetched %" APR_TIME_T_FMT " s before; fetching a new one now "
                     "(refusal %u in a row)", inst->name, inst->auth_type,
                     apr_time_sec(st->refused_at - st->fetched), job->refusals);
    }
    if (aop_token_multi_start(p, inst, AOP_TOKEN_FETCH_TIMEOUT, start, job, &ans,
                              &endpoint) != APR_SUCCESS) {
        finish(s, p, job, &ans, endpoint, start);
        /* The form held the secret: gone with the pool. */
        apr_pool_destroy(p);
        return;
    }
    apr_hash_set(busy, &job->key, sizeof(job->key), job);
}

/* An instance Azure refused a token of rests (aop_outcome_note_locked()) until a
 * token fetched after every refusal of its credential is in: then it serves again
 * at once, not when AOP_TOKEN_REFUSED_REST ends.  The check is under the shm lock,
 * where the request path records the refusal, so none is missed. */
static void end_rest(server_rec *s, aop_view_t *view, int idx, const aop_instance_t *inst,
                     apr_uint64_t key, apr_time_t now)
{
    aop_shm_inst_t *si = aop_shm_inst(view->shm_map, idx);
    aop_token_state_t st;
    int ended = 0;

    if (!si || now >= si->unhealthy_until || aop_shm_lock() != APR_SUCCESS) {
        return;
    }
    if (now < si->unhealthy_until && aop_token_table_read(key, &st, NULL, 0)
        && st.expires_at > now && st.fetched > st.refused_at) {
        si->unhealthy_until = 0;
        ended = 1;
    }
    aop_shm_unlock();
    if (ended) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, AOPLOGNO(00309)
                     "instance %s: a new Entra ID token is in; it serves again",
                     inst->name);
    }
}

/* Every credential in use in the fleet: kept wanted, renewed when due (once per
 * tick, however many instances share it, and never twice at once). */
static void tend_fleet(server_rec *s, apr_pool_t *pool, aop_fleet_t *fleet,
                       apr_hash_t *seen, apr_time_t now)
{
    aop_view_t *view = aop_view_hold(pool, s, fleet);
    aop_token_state_t st;
    int i, refused;

    for (i = 0; view && i < view->cfg->instances->nelts; i++) {
        const aop_instance_t *inst = APR_ARRAY_IDX(view->cfg->instances, i, aop_instance_t *);
        apr_uint64_t *key;
        aop_token_slot_t *slot;

        if (!needs_token(inst)) {
            continue;
        }
        key = apr_palloc(pool, sizeof(*key));
        *key = key_of(inst);
        end_rest(s, view, i, inst, *key, now);
        if (apr_hash_get(seen, key, sizeof(*key))) {
            continue;
        }
        apr_hash_set(seen, key, sizeof(*key), inst);
        if ((slot = aop_token_table_claim(*key)) == NULL) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, AOPLOGNO(00303)
                         "instance %s: the token table is full (%d credentials)",
                         inst->name, AOP_TOKEN_SLOTS);
            continue;
        }
        aop_token_table_want(slot, now);
        aop_token_table_state(slot, &st);
        if (!apr_hash_get(busy, key, sizeof(*key)) && due(&st, now, &refused)) {
            renew(s, inst, *key, slot, &st, refused);
        }
    }
}

static apr_status_t tick(int state, void *data, apr_pool_t *pool)
{
    server_rec *s = data;
    apr_hash_t *seen;
    apr_time_t now = apr_time_now();
    int i;

    if (state == AP_WATCHDOG_STATE_STOPPING) {
        aop_token_multi_stop();
        if (busy) {
            apr_hash_clear(busy);
        }
        return APR_SUCCESS;
    }
    task_server = s;
    if (!busy) {
        busy = apr_hash_make(aop_token_multi_pool());
    }
    seen = apr_hash_make(pool);
    for (i = 0; i < aop_fleets_count(); i++) {
        tend_fleet(s, pool, aop_fleets_at(i), seen, now);
    }
    /* The fetches move on for a short while: a token endpoint on time answers
     * within this tick, a slow one is waited for on the next ones. */
    aop_token_multi_run(AOP_TOKEN_RUN, fetched);
    if (now - last_sweep > SWEEP_EVERY) {
        aop_token_table_sweep(now - UNWANTED_FOR);
        last_sweep = now;
    }
    /* Anything but APR_SUCCESS would stop mod_watchdog calling us. */
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------ start-up */

apr_status_t aop_token_setup(apr_pool_t *pconf, server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *get_instance;
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *register_callback;
    ap_watchdog_t *wd = NULL;
    apr_status_t rv;

    if ((rv = aop_token_table_setup(s)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, AOPLOGNO(00304)
                     "cannot create the shared memory of Entra ID tokens");
        return rv;
    }
    aop_token_env_init();
    get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    register_callback = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (!get_instance || !register_callback) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, AOPLOGNO(00305)
                     "mod_watchdog is not loaded: it renews the Entra ID tokens");
        return APR_ENOTIMPL;
    }
    last_sweep = apr_time_now();
    if ((rv = get_instance(&wd, WATCHDOG_NAME, 0, 1, pconf)) != APR_SUCCESS
        || (rv = register_callback(wd, AOP_TOKEN_TICK, s, tick)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, AOPLOGNO(00306)
                     "cannot register the Entra ID token task with mod_watchdog");
        return rv;
    }
    return APR_SUCCESS;
}

void aop_token_reset(void)
{
    aop_token_table_reset();
}

/* ------------------------------------------------------------------ the request path */

int aop_token_usable(const aop_instance_t *inst, apr_time_t now)
{
    return aop_auth_of(inst) == AOP_AUTH_API_KEY
           || aop_token_table_ready(key_of(inst), now);
}

const char *aop_token_problem(apr_pool_t *p, const aop_instance_t *inst, apr_time_t now)
{
    aop_token_state_t st;

    if (aop_token_usable(inst, now)) {
        return NULL;
    }
    if (!aop_token_table_read(key_of(inst), &st, NULL, 0) || !st.error[0]) {
        return "no Entra ID token yet";
    }
    return apr_pstrcat(p, "no Entra ID token: ", st.error, NULL);
}

void aop_token_refused(const aop_instance_t *inst, apr_time_t now)
{
    if (aop_auth_of(inst) != AOP_AUTH_API_KEY) {
        aop_token_table_refuse(key_of(inst), now);
    }
}

const char *aop_token_bearer(apr_pool_t *p, const aop_instance_t *inst)
{
    aop_token_state_t st;
    char *token = apr_palloc(p, AOP_TOKEN_MAX);

    if (!aop_token_table_read(key_of(inst), &st, token, AOP_TOKEN_MAX) || !*token) {
        return NULL;
    }
    return apr_pstrcat(p, "Bearer ", token, NULL);
}
