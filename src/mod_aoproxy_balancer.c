/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <apr_strings.h>

#include <mod_proxy.h>

#include "mod_aoproxy_private.h"
#include "mod_aoproxy_balancer.h"
#include "aop_layers.h"
#include "mod_aoproxy_config.h"
#include "mod_aoproxy_view.h"

/* A worker per instance, named origin + "/" + instance name: two instances on one
 * host (say, two keys of one resource) stay distinct members with their own
 * connection pools.  The path never goes on the wire: our canon_handler builds the
 * whole backend URL. */
const char *aop_balancer_worker_url(apr_pool_t *p, const aop_instance_t *inst)
{
    return apr_pstrcat(p, inst->origin, "/", inst->name, NULL);
}

/* The instance's settings that mod_proxy reads at each connection (keepalive,
 * connectiontimeout) or at each release (disablereuse): set on the worker's shared
 * record, they hold in every process from the next connection on. */
static void connection_params(proxy_worker *w, const aop_instance_t *inst,
                              const aop_srv_conf_t *sc)
{
    w->s->conn_timeout = inst->connect_timeout ? apr_time_from_sec(inst->connect_timeout)
                                               : sc->connect_timeout.value;
    w->s->conn_timeout_set = 1;
    w->s->keepalive = inst->tcp_keepalive ? 1 : 0;
    w->s->keepalive_set = 1;
    w->s->disablereuse = inst->disable_reuse ? 1 : 0;
    w->s->disablereuse_set = 1;
    /* mod_proxy would otherwise make a worker defined with disablereuse forget its
     * address after each connection (is_address_reusable = 0), and keep it so: the
     * address stays cached, and reuse can be switched back on at run time. */
    w->s->address_ttl_set = 1;
}

/* The pool's size and idle lifetime: mod_proxy builds each process's pool from them
 * when the process first initializes the worker, so they hold for a worker defined
 * now, and for an existing one after a restart.  0 leaves mod_proxy's default
 * (max: ThreadsPerChild; ttl: none). */
static void pool_params(proxy_worker *w, const aop_instance_t *inst)
{
    w->s->hmax = inst->pool_max;
    w->s->ttl = apr_time_from_sec(inst->pool_ttl);
}

static void configure_worker(proxy_worker *w, const aop_srv_conf_t *sc, proxy_server_conf *psf,
                             const aop_config_t *cfg, const aop_instance_t *inst)
{
    PROXY_COPY_CONF_PARAMS(w, psf);
    w->s->timeout = (apr_interval_time_t)(cfg->timeout * APR_USEC_PER_SEC);
    w->s->timeout_set = 1;
    w->s->retry = sc->retry_interval.value;
    w->s->retry_set = 1;
    connection_params(w, inst, sc);
    pool_params(w, inst);
}

static const char *define_worker(apr_pool_t *pconf, server_rec *s, aop_srv_conf_t *sc,
                                 proxy_server_conf *psf, proxy_balancer *balancer,
                                 const aop_instance_t *inst, proxy_worker **out)
{
    proxy_worker *w = NULL;
    const char *err;

    err = ap_proxy_define_worker_ex(pconf, &w, balancer, psf,
                                    aop_balancer_worker_url(pconf, inst), 0);
    if (err) {
        return apr_psprintf(pconf, "instance %s: %s", inst->name, err);
    }
    configure_worker(w, sc, psf, sc->fleet->boot_cfg, inst);
    if (!inst->enabled) {
        w->s->status |= PROXY_WORKER_DISABLED;
    }
    *out = w;
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, AOPLOGNO(00020)
                 "instance %s: worker %s", inst->name, w->s->name_ex);
    return NULL;
}

/* The balancer's name: balancer://aoproxy for the first configuration, with a
 * number for the others.  Two configurations can meet in one mod_proxy record: a
 * <VirtualHost> without mod_proxy directives of its own is handed the main server's
 * record as it is (httpd merges a module's server configuration only where the
 * module was configured), so it sees the balancers defined for the main server. */
static const char *balancer_url(apr_pool_t *p, const aop_fleet_t *fleet)
{
    return fleet->id == 0 ? AOP_BALANCER_URL
                          : apr_psprintf(p, AOP_BALANCER_URL "%d", fleet->id + 1);
}

/* Key of what this start-up defined: a mod_proxy record and a balancer name. */
static const char *defined_key(apr_pool_t *p, const proxy_server_conf *psf, const char *url)
{
    return apr_psprintf(p, "%pp %s", (const void *)psf, url);
}

static const char *define_balancer(apr_pool_t *pconf, server_rec *s, aop_srv_conf_t *sc,
                                   proxy_server_conf *psf, const char *url,
                                   const proxy_balancer_method *lbmethod)
{
    aop_fleet_t *fleet = sc->fleet;
    proxy_balancer *balancer = NULL;
    proxy_worker **workers;
    const char *err;
    int i, n = fleet->boot->nelts;

    err = ap_proxy_define_balancer(pconf, &balancer, psf, url, "/", 0);
    if (err) {
        return err;
    }
    balancer->lbmethod = (proxy_balancer_method *)lbmethod;
    balancer->lbmethod_set = 1;
    PROXY_STRNCPY(balancer->s->lbpname, AOP_LBMETHOD_NAME);
    /* mod_proxy counts attempts after the first: routing.retries further instances. */
    balancer->s->max_attempts = fleet->boot_cfg->retries;
    balancer->s->max_attempts_set = 1;
    /* Spare worker slots for the instances the management API adds. */
    balancer->growth = fleet->growth;
    balancer->growth_set = 1;
    workers = apr_pcalloc(pconf, sizeof(proxy_worker *) * (n + 1));
    for (i = 0; i < n; i++) {
        if ((err = define_worker(pconf, s, sc, psf, balancer,
                                 APR_ARRAY_IDX(fleet->boot, i, aop_effective_t *)->inst,
                                 &workers[i]))) {
            return err;
        }
    }
    if (!fleet->boot_workers) {
        fleet->boot_workers = workers;
    }
    return NULL;
}

/* Each proxying server's balancer, once per mod_proxy record: a server sharing the
 * record of one already done shares its balancer too.  A balancer of our name that
 * this start-up did not define is the configuration's own <Proxy>. */
static const char *define_balancers(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s,
                                    const proxy_balancer_method *lbmethod)
{
    apr_hash_t *defined = apr_hash_make(ptemp);
    const char *err;

    for (; s; s = s->next) {
        aop_srv_conf_t *sc = aop_srv_conf(s);
        proxy_server_conf *psf = ap_get_module_config(s->module_config, &proxy_module);
        const char *url, *key;

        if (!sc->fleet || !sc->proxy_used) {
            continue;
        }
        url = balancer_url(ptemp, sc->fleet);
        key = defined_key(ptemp, psf, url);
        if (apr_hash_get(defined, key, APR_HASH_KEY_STRING)) {
            continue;
        }
        if (ap_proxy_get_balancer(ptemp, psf, url, 0)) {
            return apr_psprintf(ptemp, "%s is reserved for mod_aoproxy, but the "
                                "configuration defines it (<Proxy %s> or a BalancerMember "
                                "of it): remove that definition", url, url);
        }
        if ((err = define_balancer(pconf, s, sc, psf, url, lbmethod))) {
            return err;
        }
        apr_hash_set(defined, key, APR_HASH_KEY_STRING, "");
    }
    return NULL;
}

/* Balancers live inside their mod_proxy record's array, which a later definition
 * may move: each server finds its balancer once all are defined. */
static void attach_balancers(apr_pool_t *ptemp, server_rec *s)
{
    apr_hash_t *seen = apr_hash_make(ptemp);

    for (; s; s = s->next) {
        aop_srv_conf_t *sc = aop_srv_conf(s);
        proxy_server_conf *psf = ap_get_module_config(s->module_config, &proxy_module);
        aop_fleet_t *fleet = sc->fleet;

        if (!fleet || !sc->proxy_used) {
            continue;
        }
        sc->balancer = ap_proxy_get_balancer(ptemp, psf, balancer_url(ptemp, fleet), 0);
        if (apr_hash_get(seen, &sc->balancer, sizeof(sc->balancer))) {
            continue;
        }
        apr_hash_set(seen, apr_pmemdup(ptemp, &sc->balancer, sizeof(sc->balancer)),
                     sizeof(sc->balancer), "");
        aop_fleet_attach(fleet, sc->balancer, s);
    }
}

/* ------------------------------------------------------------------ run time */

proxy_worker *aop_balancer_worker_named(proxy_balancer *b, const char *name)
{
    int i;

    for (i = 0; i < b->workers->nelts; i++) {
        proxy_worker *w = APR_ARRAY_IDX(b->workers, i, proxy_worker *);

        if (strcmp(w->s->name_ex, name) == 0) {
            return w;
        }
    }
    return NULL;
}

/* The balancer's workers by name. */
static apr_hash_t *worker_names(apr_pool_t *p, proxy_balancer *b)
{
    apr_hash_t *h = apr_hash_make(p);
    int i;

    for (i = 0; i < b->workers->nelts; i++) {
        proxy_worker *w = APR_ARRAY_IDX(b->workers, i, proxy_worker *);

        apr_hash_set(h, w->s->name_ex, APR_HASH_KEY_STRING, w);
    }
    return h;
}

/* A worker of a removed instance on the same origin: its slot serves again. */
static proxy_worker *reusable(proxy_balancer *b, const aop_instance_t *inst, apr_hash_t *used)
{
    int i;

    for (i = 0; i < b->workers->nelts; i++) {
        proxy_worker *w = APR_ARRAY_IDX(b->workers, i, proxy_worker *);

        if (!apr_hash_get(used, w->s->name_ex, APR_HASH_KEY_STRING)
            && PROXY_WORKER_IS(w, PROXY_WORKER_DISABLED) && w->s->port == inst->port
            && strcasecmp(w->s->scheme, inst->scheme) == 0
            && strcasecmp(w->s->hostname_ex, inst->host) == 0) {
            return w;
        }
    }
    return NULL;
}

/* Like balancer-manager's "add worker": defined in this process, put into a spare
 * slot of the balancer's shared memory; the other processes' mod_proxy_balancer
 * picks it up (ap_proxy_sync_balancer) before their next request to the balancer. */
static const char *grow(request_rec *r, aop_fleet_member_t *m, aop_fleet_t *fleet,
                        const aop_instance_t *inst, const char *url)
{
    proxy_server_conf *psf = ap_get_module_config(m->s->module_config, &proxy_module);
    proxy_balancer *b = m->balancer;
    proxy_worker *w = NULL;
    proxy_worker_shared *shm;
    unsigned int index;
    const char *err;
    apr_status_t rv;

    if (!b->storage || !b->wslot || !b->storage->num_free_slots(b->wslot)) {
        return "the balancer has no free worker slot (raise AOProxyInstanceGrowth and "
               "restart)";
    }
    if ((err = ap_proxy_define_worker_ex(psf->pool, &w, b, psf, url, 0))) {
        return apr_psprintf(r->pool, "instance %s: %s", inst->name, err);
    }
    configure_worker(w, aop_srv_conf(m->s), psf, fleet->boot_cfg, inst);
    if ((rv = b->storage->grab(b->wslot, &index)) != APR_SUCCESS
        || (rv = b->storage->dptr(b->wslot, index, (void *)&shm)) != APR_SUCCESS
        || (rv = ap_proxy_share_worker(w, shm, index)) != APR_SUCCESS
        || (rv = ap_proxy_initialize_worker(w, m->s, psf->pool)) != APR_SUCCESS) {
        return apr_psprintf(r->pool, "instance %s: cannot add its worker (%pm)",
                            inst->name, &rv);
    }
    b->wupdated = b->s->wupdated = w->s->updated = apr_time_now();
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOPLOGNO(00023)
                  "instance %s: new worker %s", inst->name, w->s->name_ex);
    return NULL;
}

/* Workers other processes added, known here too. */
static void sync_all(apr_array_header_t *all)
{
    int j;

    for (j = 0; j < all->nelts; j++) {
        aop_fleet_member_t *m = &APR_ARRAY_IDX(all, j, aop_fleet_member_t);

        aop_balancer_sync(m->balancer, m->s);
    }
}

const char *aop_balancer_assign(request_rec *r, aop_fleet_t *fleet,
                                const apr_array_header_t *eff, const char **names)
{
    apr_array_header_t *all = aop_fleet_balancers(r->pool, fleet);
    apr_hash_t *used = apr_hash_make(r->pool), *by_name;
    aop_fleet_member_t *first;
    const char *err;
    int i, j;

    if (!all->nelts) {
        for (i = 0; i < eff->nelts; i++) {
            names[i] = aop_balancer_worker_url(r->pool,
                                               APR_ARRAY_IDX(eff, i, aop_effective_t *)->inst);
        }
        return NULL;                 /* no server proxies for this fleet */
    }
    sync_all(all);
    first = &APR_ARRAY_IDX(all, 0, aop_fleet_member_t);
    /* Exact names first, so that reuse never takes a worker an instance keeps.  By a
     * table of the workers' names: a search a name made every change quadratic in
     * the fleet (5000 instances: 12.5 million comparisons an add). */
    by_name = worker_names(r->pool, first->balancer);
    for (i = 0; i < eff->nelts; i++) {
        const char *url = aop_balancer_worker_url(
            r->pool, APR_ARRAY_IDX(eff, i, aop_effective_t *)->inst);

        if (apr_hash_get(by_name, url, APR_HASH_KEY_STRING)) {
            names[i] = url;
            apr_hash_set(used, url, APR_HASH_KEY_STRING, "");
        }
    }
    for (i = 0; i < eff->nelts; i++) {
        const aop_instance_t *inst = APR_ARRAY_IDX(eff, i, aop_effective_t *)->inst;
        proxy_worker *w;

        if (names[i]) {
            continue;
        }
        if ((w = reusable(first->balancer, inst, used))) {
            names[i] = apr_pstrdup(r->pool, w->s->name_ex);
        }
        else {
            names[i] = aop_balancer_worker_url(r->pool, inst);
            for (j = 0; j < all->nelts; j++) {
                if ((err = grow(r, &APR_ARRAY_IDX(all, j, aop_fleet_member_t), fleet, inst,
                                names[i]))) {
                    return err;
                }
            }
        }
        apr_hash_set(used, names[i], APR_HASH_KEY_STRING, "");
    }
    return NULL;
}

/* Each balancer's workers as the published instances want them: the others'
 * disabled, and the instances' connection settings (the pool's size and lifetime
 * wait for a restart: pool_params). */
void aop_balancer_flag(aop_fleet_t *fleet, const apr_array_header_t *eff, const char **names,
                       int retries)
{
    apr_pool_t *p;
    apr_array_header_t *all;
    apr_hash_t *by_name;
    int i, j;

    apr_pool_create(&p, NULL);
    all = aop_fleet_balancers(p, fleet);
    by_name = apr_hash_make(p);
    for (i = 0; i < eff->nelts; i++) {
        apr_hash_set(by_name, names[i], APR_HASH_KEY_STRING,
                     APR_ARRAY_IDX(eff, i, aop_effective_t *)->inst);
    }
    for (j = 0; j < all->nelts; j++) {
        aop_fleet_member_t *m = &APR_ARRAY_IDX(all, j, aop_fleet_member_t);
        proxy_balancer *b = m->balancer;

        if (retries >= 0) {
            b->s->max_attempts = retries;
        }
        for (i = 0; i < b->workers->nelts; i++) {
            proxy_worker *w = APR_ARRAY_IDX(b->workers, i, proxy_worker *);
            const aop_instance_t *inst = apr_hash_get(by_name, w->s->name_ex,
                                                      APR_HASH_KEY_STRING);

            /* Removed instances' workers are disabled (and hidden from our API);
             * balancer-manager still lists them, as it lists every slot. */
            ap_proxy_set_wstatus(PROXY_WORKER_DISABLED_FLAG, !inst || !inst->enabled, w);
            if (inst && inst->enabled) {
                ap_proxy_set_wstatus(PROXY_WORKER_IN_ERROR_FLAG, 0, w);
            }
            if (inst) {
                connection_params(w, inst, aop_srv_conf(m->s));
            }
        }
    }
    apr_pool_destroy(p);
}

int aop_balancer_free_slots(aop_fleet_t *fleet)
{
    proxy_balancer *b = fleet->balancer;

    return b && b->storage && b->wslot ? (int)b->storage->num_free_slots(b->wslot) : 0;
}

int aop_balancer_workers_needed(aop_view_t *view, const apr_array_header_t *instances)
{
    proxy_balancer *b = view->fleet->balancer;
    apr_pool_t *p;
    apr_hash_t *used;
    int i, need = 0;

    if (!b) {
        return 0;
    }
    apr_pool_create(&p, NULL);
    sync_all(aop_fleet_balancers(p, view->fleet));
    used = apr_hash_make(p);
    for (i = 0; i < view->cfg->instances->nelts; i++) {
        if (view->worker_names[i]) {
            apr_hash_set(used, view->worker_names[i], APR_HASH_KEY_STRING, "");
        }
    }
    for (i = 0; i < instances->nelts; i++) {
        const aop_instance_t *inst = APR_ARRAY_IDX(instances, i, aop_instance_t *);
        proxy_worker *w;

        if (aop_balancer_worker_named(b, aop_balancer_worker_url(p, inst))) {
            continue;
        }
        if ((w = reusable(b, inst, used))) {
            apr_hash_set(used, w->s->name_ex, APR_HASH_KEY_STRING, "");
        }
        else {
            need++;
        }
    }
    apr_pool_destroy(p);
    return need;
}

/* ------------------------------------------------------------------ start-up */

int aop_balancer_define_all(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    const proxy_balancer_method *lbmethod;
    const char *err;

    lbmethod = ap_lookup_provider(PROXY_LBMETHOD, AOP_LBMETHOD_NAME, "0");
    if (!lbmethod) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, AOPLOGNO(00021)
                     "our lbmethod provider is not registered");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if ((err = define_balancers(pconf, ptemp, s, lbmethod))) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s, AOPLOGNO(00022)
                     "cannot define the proxy's balancer: %s", err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    attach_balancers(ptemp, s);
    return OK;
}
