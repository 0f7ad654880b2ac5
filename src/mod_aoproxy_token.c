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
#include "mod_aoproxy_token_fetch.h"
#include "mod_aoproxy_token_table.h"
#include "mod_aoproxy_view.h"

/* The watchdog's name: one singleton child watchdog for the module's tasks. */
#define WATCHDOG_NAME "aoproxy"
/* A slot no instance used for this long is freed (its credential was changed or
 * its instances removed). */
#define UNWANTED_FOR apr_time_from_sec(3600)
#define SWEEP_EVERY apr_time_from_sec(60)

static apr_time_t last_sweep;

/* ------------------------------------------------------------------ the task */

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

static int due(const aop_token_state_t *st, apr_time_t now)
{
    return (!st->expires_at || now >= st->refresh_at) && now >= st->next_try;
}

static void obtained(server_rec *s, const aop_instance_t *inst, const aop_token_state_t *st,
                     const aop_token_answer_t *ans, const char *endpoint, apr_time_t start)
{
    apr_time_t refresh = aop_token_refresh_at(start, ans->expires_at);

    if (st->failures) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, AOPLOGNO(00301)
                     "instance %s: Entra ID token obtained from %s after %u failed "
                     "attempt(s); the instance serves again", inst->name, endpoint,
                     st->failures);
        return;
    }
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, AOPLOGNO(00302)
                 "instance %s: Entra ID token (auth.type %s) obtained from %s, valid for "
                 "%" APR_TIME_T_FMT " s, renewed in %" APR_TIME_T_FMT " ms", inst->name,
                 inst->auth_type, endpoint, apr_time_sec(ans->expires_at - start),
                 apr_time_as_msec(refresh - start));
}

static void failed(apr_pool_t *p, server_rec *s, const aop_instance_t *inst,
                   const aop_token_state_t *st, const aop_token_answer_t *ans,
                   const char *endpoint, apr_interval_time_t wait, apr_time_t now)
{
    const char *code = ans->aad_code ? apr_psprintf(p, "AADSTS%d", ans->aad_code) : NULL;
    const char *keeps = st->expires_at > now
        ? apr_psprintf(p, "it keeps its current token, which expires in %"
                       APR_TIME_T_FMT " s", apr_time_sec(st->expires_at - now))
        : "it is not picked until a token is obtained";

    ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, AOPLOGNO(00300)
                 "instance %s: no Entra ID token (auth.type %s) from %s: %s%s%s; %s; next "
                 "attempt in %" APR_TIME_T_FMT " s", inst->name, inst->auth_type,
                 endpoint ? endpoint : "(no request made)", ans->error,
                 code ? " - " : "", code ? code : "", keeps, apr_time_sec(wait));
}

/* One fetch for the credential of inst, with no lock held; the result into slot. */
static void renew(server_rec *s, apr_pool_t *pool, const aop_instance_t *inst,
                  aop_token_slot_t *slot, const aop_token_state_t *st)
{
    apr_pool_t *p;
    aop_token_answer_t ans;
    const char *endpoint = NULL;
    apr_time_t start = apr_time_now(), now;
    apr_interval_time_t wait;

    apr_pool_create(&p, pool);
    if (aop_token_obtain(p, inst, AOP_TOKEN_FETCH_TIMEOUT, &ans, &endpoint, start)
        == APR_SUCCESS) {
        aop_token_table_store(slot, ans.access_token, strlen(ans.access_token), start,
                              ans.expires_at, aop_token_refresh_at(start, ans.expires_at));
        obtained(s, inst, st, &ans, endpoint, start);
    }
    else {
        now = apr_time_now();
        wait = aop_token_backoff(st->failures + 1);
        aop_token_table_fail(slot, ans.error, ans.aad_code, now + wait);
        failed(p, s, inst, st, &ans, endpoint, wait, now);
    }
    /* The form held the secret and the answer the token: gone with the pool. */
    apr_pool_destroy(p);
}

/* Every credential in use in the fleet: kept wanted, renewed when due (once per
 * tick, however many instances share it). */
static void tend_fleet(server_rec *s, apr_pool_t *pool, aop_fleet_t *fleet,
                       apr_hash_t *seen, apr_time_t now)
{
    aop_view_t *view = aop_view_hold(pool, s, fleet);
    aop_token_state_t st;
    int i;

    for (i = 0; view && i < view->cfg->instances->nelts; i++) {
        const aop_instance_t *inst = APR_ARRAY_IDX(view->cfg->instances, i, aop_instance_t *);
        apr_uint64_t *key;
        aop_token_slot_t *slot;

        if (!needs_token(inst)) {
            continue;
        }
        key = apr_palloc(pool, sizeof(*key));
        *key = key_of(inst);
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
        if (due(&st, now)) {
            renew(s, pool, inst, slot, &st);
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
        return APR_SUCCESS;
    }
    seen = apr_hash_make(pool);
    for (i = 0; i < aop_fleets_count(); i++) {
        tend_fleet(s, pool, aop_fleets_at(i), seen, now);
    }
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

const char *aop_token_bearer(apr_pool_t *p, const aop_instance_t *inst)
{
    aop_token_state_t st;
    char *token = apr_palloc(p, AOP_TOKEN_MAX);

    if (!aop_token_table_read(key_of(inst), &st, token, AOP_TOKEN_MAX) || !*token) {
        return NULL;
    }
    return apr_pstrcat(p, "Bearer ", token, NULL);
}
