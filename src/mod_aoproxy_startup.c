/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Start-up, in one place: every lifecycle hook of the module, from the configuration
 * to the children (mod_md's md_post_config_before_ssl / _after_ssl is the model).
 * The other glue files are libraries: they register request hooks (mod_aoproxy.c
 * calls their register functions) but no lifecycle hook; what they keep per
 * configuration cycle they reset, make and attach when this file calls them.
 *
 * Who runs what, in the order httpd runs it:
 *
 *   parent, every pass   pre_config      forget the last cycle: the log callback, the
 *                                        fleets, shared memory; register the admin
 *                                        mutex type; libcurl's global set-up
 *   parent, every pass   check_config    load every configuration's YAML, one fleet per
 *                                        configuration (mod_aoproxy_config.c)
 *   parent, every pass   post_config,    each fleet's instances (store over YAML), each
 *                        before          proxying server's balancer and workers, which
 *                        mod_proxy_      mod_proxy_balancer then puts into its shared
 *                        balancer's      memory
 *   parent, real pass    post_config,    shared memory sized for every fleet, the admin
 *                        after mod_      mutex, the token table and its watchdog task,
 *                        proxy_balancer  the response-affinity table, each fleet's
 *                                        instances published as its first generation
 *                                        and made the parent's view
 *   parent, first start  pre_mpm         hand the start-up's freed heap back
 *   and full restart
 *   each child           child_init      the lock's owner (this pid), the admin mutex
 *   parent, once a       monitor         give back the token reservations of dead or
 *   second                               stalled requests; report lock takeovers
 *
 * The trial pass.  A start reads the configuration twice: first a trial pass
 * (AP_SQ_MAIN_STATE is AP_SQ_MS_CREATE_PRE_CONFIG) in the process that was started,
 * then - after httpd detached into the daemon - the real pass, which the MPM then
 * runs.  The trial pass checks all it can (a store that cannot be read fails it, and
 * so the start) but changes nothing and leaves the warnings to its twin: no store
 * directory is made, no state file imported, no shared memory or mutex made.
 *
 * configtest (apache2ctl -t) runs pre_config and check_config only, then exits:
 * check_config is where a bad configuration must fail (strictly: an instance that
 * cannot be completed fails configtest but is only left out of a real start).
 *
 * A restart (graceful or not) runs the real pass again in the same parent: httpd
 * clears the configuration pool, which unloads the module (a DSO) before it is
 * loaded anew; pre_config resets what must start over all the same (the fleets, the
 * segment pointer, the admin mutex), so a module linked in statically is alike.
 * Shared memory is kept (ap_retained_data): its budgets, cooldowns and statistics
 * go on, and the new generation re-attaches the segment when it is big enough.  On
 * a graceful restart the old children finish their requests on the old
 * configuration meanwhile; pre_mpm does not run.
 *
 * Background tasks (mod_watchdog) are registered in aop_post_config_after_balancer
 * on the real pass: ap_watchdog_get_instance and ap_watchdog_register_callback
 * retrieved with APR_RETRIEVE_OPTIONAL_FN (failing loudly without mod_watchdog), and
 * "mod_watchdog.c" among that hook's successors, as mod_watchdog's own post_config
 * makes a singleton's mutex (its child_init starts a child's watchdog thread).  The
 * one task so far renews Entra ID tokens (mod_aoproxy_token.c): the singleton child
 * watchdog "aoproxy", every 200 ms, in whichever child holds its mutex.
 */
#include <apr_strings.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <http_core.h>
#include <mpm_common.h>
#include <scoreboard.h>

#include "aop_layers.h"
#include "mod_aoproxy_private.h"
#include "mod_aoproxy_affinity.h"
#include "mod_aoproxy_api_verify.h"
#include "mod_aoproxy_balancer.h"
#include "mod_aoproxy_config.h"
#include "mod_aoproxy_fleets.h"
#include "mod_aoproxy_lbmethod.h"
#include "mod_aoproxy_proxy.h"
#include "mod_aoproxy_publish.h"
#include "mod_aoproxy_reservations.h"
#include "mod_aoproxy_shm.h"
#include "mod_aoproxy_startup.h"
#include "mod_aoproxy_token.h"

/* The first run of post_config of a start: checks, makes nothing. */
static int trial_pass(void)
{
    return ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG;
}

/* The core (src/aop_*) logs through this: its messages reach the main server's log. */
static void core_log(void *baton, aop_log_level_e level, apr_status_t rv, const char *msg)
{
    ap_log_error(APLOG_MARK, (int)level, rv, (server_rec *)baton, "%s", msg);
}

/* ------------------------------------------------------------------ configuration */

static int aop_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    aop_log_set(NULL, NULL);
    aop_fleets_reset();
    aop_shm_reset();
    aop_token_reset();
    aop_affinity_reset();
    aop_api_verify_init(pconf, plog);
    return aop_admin_mutex_register(pconf) == APR_SUCCESS ? OK : HTTP_INTERNAL_SERVER_ERROR;
}

static int aop_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                            server_rec *s)
{
    aop_log_set(core_log, s);
    return aop_config_check(pconf, plog, ptemp, s);
}

/* ------------------------------------------------------------------ post_config */

/* A fleet's instances at start-up: its store (on the real pass, after importing the
 * state file into an empty one) merged over its YAML.  A store that cannot be read
 * stops start-up. */
static int boot_fleet(apr_pool_t *pconf, apr_pool_t *ptemp, aop_fleet_t *fleet, int trial)
{
    const char *err = NULL;

    fleet->balancer = NULL;
    fleet->boot_workers = NULL;
    if (aop_publish_boot_layers(pconf, ptemp, fleet->s, fleet, trial, &err) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, fleet->s, AOPLOGNO(00082)
                     "instance store %s: %s", fleet->db_path, err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

/* After mod_proxy's post_config, before mod_proxy_balancer's (which puts the
 * balancers it finds into shared memory): every fleet's instances first (the API
 * may serve a fleet no server proxies for), then the balancers.  Both passes. */
static int aop_post_config_before_balancer(apr_pool_t *pconf, apr_pool_t *plog,
                                           apr_pool_t *ptemp, server_rec *s)
{
    int trial = trial_pass(), i, rc;

    if (!trial) {
        aop_config_log_findings(ptemp, s);
    }
    if ((rc = aop_lb_bind_proxy(s)) != OK) {
        return rc;
    }
    aop_proxy_prepare(pconf);
    for (i = 0; i < aop_fleets_count(); i++) {
        if ((rc = boot_fleet(pconf, ptemp, aop_fleets_at(i), trial)) != OK) {
            return rc;
        }
    }
    return aop_balancer_define_all(pconf, ptemp, s);
}

/* What shared memory must hold for every fleet's instances. */
static void count(apr_uint32_t *ninst, apr_uint32_t *nmodels, apr_uint32_t *npairs,
                  apr_uint32_t *growth)
{
    int i, j;

    for (i = 0; i < aop_fleets_count(); i++) {
        aop_fleet_t *fleet = aop_fleets_at(i);

        for (j = 0; j < fleet->boot->nelts; j++) {
            const aop_instance_t *inst = APR_ARRAY_IDX(fleet->boot, j, aop_effective_t *)->inst;

            (*ninst)++;
            *nmodels += inst->supported_models->nelts;
            *npairs += inst->supported_models->nelts;
        }
        *growth += fleet->growth;
    }
}

/* Each fleet's boot instances become its first generation in shared memory and the
 * parent's view, which the children inherit. */
static int publish_fleets(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    int i;

    for (i = 0; i < aop_fleets_count(); i++) {
        aop_fleet_t *fleet = aop_fleets_at(i);
        const char *err = NULL;

#if APR_HAS_THREADS
        apr_thread_mutex_create(&fleet->mutex, APR_THREAD_MUTEX_DEFAULT, pconf);
#endif
        fleet->current = NULL;
        if (aop_publish_boot(ptemp, s, fleet, &err) != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, AOPLOGNO(00052)
                         "cannot publish the instances: %s", err);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

/* After mod_proxy_balancer's post_config, which gave each balancer its worker slots:
 * shared memory, the admin mutex, the first generation.  Real pass only. */
static int aop_post_config_after_balancer(apr_pool_t *pconf, apr_pool_t *plog,
                                          apr_pool_t *ptemp, server_rec *s)
{
    apr_uint32_t ninst = 0, nmodels = 0, npairs = 0, growth = 0;
    apr_status_t rv;

    if (trial_pass() || !aop_fleets_count()) {
        return OK;
    }
    if (aop_fleets_count() > AOP_SHM_MAX_FLEETS) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s, AOPLOGNO(00083)
                     "at most %d distinct AOProxyConfigDir/environment pairs are supported",
                     AOP_SHM_MAX_FLEETS);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    count(&ninst, &nmodels, &npairs, &growth);
    if ((rv = aop_shm_setup(pconf, s, ninst, nmodels, npairs, growth)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, AOPLOGNO(00051)
                     "cannot set up shared memory and its mutex");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (aop_admin_mutex_create(pconf, s) != APR_SUCCESS) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* The token table, and the task that renews the tokens: a singleton child
     * watchdog of mod_watchdog, whose own post_config (after this one) makes its
     * mutex, and whose child_init starts it in every child - the one that takes
     * the mutex runs it. */
    if (aop_token_setup(pconf, s) != APR_SUCCESS) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* One response-affinity table for the whole httpd: the main server's size. */
    if (aop_affinity_setup(s, aop_srv_conf(s)->affinity) != APR_SUCCESS) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return publish_fleets(pconf, ptemp, s);
}

/* ------------------------------------------------------------------ the processes */

/* Start-up builds the published document and its layers as json-c trees (malloc,
 * some megabytes with hundreds of instances) in ptemp, which httpd destroys after
 * post_config.  The freed heap stays resident in the parent, and in every child that
 * forks from it, unless it is given back before the MPM starts them. */
static int aop_pre_mpm(apr_pool_t *p, ap_scoreboard_e sb_type)
{
#ifdef __GLIBC__
    if (aop_fleets_count()) {
        malloc_trim(0);
    }
#endif
    aop_shm_release_pages();
    return OK;
}

static void aop_child_init(apr_pool_t *p, server_rec *s)
{
    aop_shm_child_init();
    aop_admin_mutex_child_init(p, s);
}

static int aop_monitor(apr_pool_t *p, server_rec *s)
{
    aop_reservations_sweep(s);
    return DECLINED;
}

void aop_startup_register_hooks(apr_pool_t *p)
{
    static const char *const proxy[] = { "mod_proxy.c", NULL };
    static const char *const balancer[] = { "mod_proxy_balancer.c", NULL };
    static const char *const watchdog[] = { "mod_watchdog.c", NULL };

    ap_hook_pre_config(aop_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(aop_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(aop_post_config_before_balancer, proxy, balancer, APR_HOOK_MIDDLE);
    ap_hook_post_config(aop_post_config_after_balancer, balancer, watchdog, APR_HOOK_MIDDLE);
    ap_hook_pre_mpm(aop_pre_mpm, NULL, NULL, APR_HOOK_MIDDLE);
    /* First, so that the lock knows its owner before anything of ours runs. */
    ap_hook_child_init(aop_child_init, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_monitor(aop_monitor, NULL, NULL, APR_HOOK_MIDDLE);
}
