#include <apr_strings.h>

#include <mod_proxy.h>

#include "mod_aoproxy_private.h"
#include "mod_aoproxy_balancer.h"
#include "mod_aoproxy_config.h"

/* A worker per instance, named origin + "/" + instance name: two instances on one
 * host (say, two keys of one resource) stay distinct members with their own
 * connection pools.  The path never goes on the wire: our canon_handler builds the
 * whole backend URL. */
static const char *worker_url(apr_pool_t *p, const aop_instance_t *inst)
{
    return apr_pstrcat(p, inst->origin, "/", inst->name, NULL);
}

static const char *define_worker(apr_pool_t *pconf, server_rec *s, aop_srv_conf_t *sc,
                                 proxy_server_conf *psf, proxy_balancer *balancer,
                                 int i)
{
    const aop_instance_t *inst = APR_ARRAY_IDX(sc->cfg->instances, i, aop_instance_t *);
    proxy_worker *w = NULL;
    const char *err;

    err = ap_proxy_define_worker_ex(pconf, &w, balancer, psf, worker_url(pconf, inst), 0);
    if (err) {
        return apr_psprintf(pconf, "instance %s: %s", inst->name, err);
    }
    PROXY_COPY_CONF_PARAMS(w, psf);
    w->s->timeout = (apr_interval_time_t)(sc->cfg->timeout * APR_USEC_PER_SEC);
    w->s->timeout_set = 1;
    w->s->conn_timeout = sc->connect_timeout.value;
    w->s->conn_timeout_set = 1;
    w->s->retry = sc->retry_interval.value;
    w->s->retry_set = 1;
    if (!inst->enabled) {
        w->s->status |= PROXY_WORKER_DISABLED;
    }
    sc->workers[i] = w;
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, AOPLOGNO(00020)
                 "instance %s: worker %s", inst->name, w->s->name_ex);
    return NULL;
}

static const char *define_balancer(apr_pool_t *pconf, server_rec *s, aop_srv_conf_t *sc,
                                   const proxy_balancer_method *lbmethod)
{
    proxy_server_conf *psf = ap_get_module_config(s->module_config, &proxy_module);
    proxy_balancer *balancer = NULL;
    const char *err;
    int i;

    if (ap_proxy_get_balancer(pconf, psf, AOP_BALANCER_URL, 0)) {
        return AOP_BALANCER_URL " is reserved for mod_aoproxy: remove the <Proxy> or "
               "BalancerMember that defines it";
    }
    err = ap_proxy_define_balancer(pconf, &balancer, psf, AOP_BALANCER_URL, "/", 0);
    if (err) {
        return err;
    }
    balancer->lbmethod = (proxy_balancer_method *)lbmethod;
    balancer->lbmethod_set = 1;
    PROXY_STRNCPY(balancer->s->lbpname, AOP_LBMETHOD_NAME);
    /* mod_proxy counts attempts after the first: routing.retries further instances. */
    balancer->s->max_attempts = sc->cfg->retries;
    balancer->s->max_attempts_set = 1;
    sc->workers = apr_pcalloc(pconf, sizeof(proxy_worker *) * (sc->cfg->instances->nelts + 1));
    for (i = 0; i < sc->cfg->instances->nelts; i++) {
        if ((err = define_worker(pconf, s, sc, psf, balancer, i))) {
            return err;
        }
    }
    sc->balancer = balancer;
    return NULL;
}

int aop_balancer_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                             server_rec *s)
{
    const proxy_balancer_method *lbmethod;
    const char *err;

    lbmethod = ap_lookup_provider(PROXY_LBMETHOD, AOP_LBMETHOD_NAME, "0");
    if (!lbmethod) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, AOPLOGNO(00021)
                     "our lbmethod provider is not registered");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    for (; s; s = s->next) {
        aop_srv_conf_t *sc = aop_srv_conf(s);

        if (!sc->cfg || !sc->proxy_used) {
            continue;
        }
        if ((err = define_balancer(pconf, s, sc, lbmethod))) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s, AOPLOGNO(00022)
                         "cannot define " AOP_BALANCER_URL ": %s", err);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

void aop_balancer_register_hooks(apr_pool_t *p)
{
    static const char *const pred[] = { "mod_proxy.c", NULL };
    static const char *const succ[] = { "mod_proxy_balancer.c", NULL };

    ap_hook_post_config(aop_balancer_post_config, pred, succ, APR_HOOK_MIDDLE);
}
