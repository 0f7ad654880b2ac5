#include <apr_strings.h>

#include <http_protocol.h>
#include <mod_proxy.h>
#include <apr_optional_hooks.h>

#include "mod_aoproxy_private.h"
#include "mod_aoproxy_body.h"
#include "mod_aoproxy_errors.h"
#include "mod_aoproxy_lbmethod.h"
#include "mod_aoproxy_proxy.h"
#include "mod_aoproxy_request.h"

/* Client headers that must not reach Azure: credentials meant for us (or for
 * OpenAI), cookies, and Accept-Encoding (usage must be readable in the answer). */
static const char *const dropped_headers[] = {
    "Authorization", "api-key", "OpenAI-Organization", "OpenAI-Project", "Cookie",
    "Accept-Encoding", "Proxy-Authorization", NULL
};

/* balancer_fixup() re-runs the canon handlers once our finder picked an instance:
 * the whole backend URL is built here, for this instance. */
static int aop_canon(request_rec *r, char *url)
{
    aop_req_t *ctx = aop_req_get(r);

    if (!ctx || !ctx->inst || ap_cstr_casecmpn(url, "balancer:", 9) == 0) {
        return DECLINED;
    }
    r->filename = apr_pstrcat(r->pool, "proxy:", ctx->inst->origin,
                              aop_route_backend_path(r->pool, ctx->inst, ctx->deployment,
                                                     ctx->op), NULL);
    return OK;
}

/* Runs on mod_proxy's temporary copy of the request headers, so the key never
 * enters r->headers_in (and so never a log line that prints them). */
static int aop_proxy_fixups(request_rec *r)
{
    aop_req_t *ctx = aop_req_get(r);
    int i;

    if (!ctx || !ctx->inst) {
        return DECLINED;
    }
    for (i = 0; dropped_headers[i]; i++) {
        apr_table_unset(r->headers_in, dropped_headers[i]);
    }
    apr_table_setn(r->headers_in, "api-key", ctx->inst->api_key);
    return OK;
}

void aop_proxy_restore_soft_failed(aop_req_t *ctx)
{
    if (ctx->soft_failed) {
        ctx->soft_failed->s->status &= ~PROXY_WORKER_IN_ERROR;
        ctx->soft_failed = NULL;
    }
}

/* mod_proxy moves to the next member only when the scheme handler says 503.  A
 * backend that reset the connection or timed out (502/504) before anything reached
 * the client is worth the next instance too. */
static int retry_elsewhere(const request_rec *r, int status)
{
    return (status == HTTP_BAD_GATEWAY || status == HTTP_GATEWAY_TIME_OUT)
           && !r->sent_bodyct;
}

/* Wraps the real scheme handler for each attempt: the body is replayed from the
 * start, so a failover resends it whole. */
static int aop_scheme_handler(request_rec *r, proxy_worker *worker, proxy_server_conf *conf,
                              char *url, const char *proxyhost, apr_port_t proxyport)
{
    aop_req_t *ctx = aop_req_get(r);
    int status;

    if (!ctx || !ctx->inst || ctx->in_scheme_handler) {
        return DECLINED;
    }
    ctx->in_scheme_handler = 1;
    ctx->attempts++;
    aop_body_rewind(r, ctx);
    status = proxy_run_scheme_handler(r, worker, conf, url, proxyhost, proxyport);
    ctx->in_scheme_handler = 0;
    ctx->last_status = status;
    if (status == HTTP_SERVICE_UNAVAILABLE) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, AOPLOGNO(00040)
                      "instance %s could not be reached (attempt %d for model %s)",
                      ctx->inst->name, ctx->attempts, ctx->info.model);
    }
    else if (retry_elsewhere(r, status)) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, AOPLOGNO(00042)
                      "instance %s failed before answering (%d, attempt %d for model %s)",
                      ctx->inst->name, status, ctx->attempts, ctx->info.model);
        if (!PROXY_WORKER_IS(worker, PROXY_WORKER_IN_ERROR)) {
            ctx->soft_failed = worker;
        }
        status = HTTP_SERVICE_UNAVAILABLE;
    }
    if (status == HTTP_SERVICE_UNAVAILABLE && !aop_lb_next_exists(r, ctx)) {
        /* Nothing left to try: end mod_proxy's loop here (any other status than
         * 503 does) and let request_status answer. */
        status = HTTP_BAD_GATEWAY;
    }
    return status;
}

/* When mod_proxy gives up (no instance left, or every attempt failed) the client
 * gets an OpenAI error instead of an HTML error page. */
static int aop_request_status(int *status, request_rec *r)
{
    aop_req_t *ctx = aop_req_get(r);
    const char *msg;

    if (!ctx) {
        return DECLINED;
    }
    aop_proxy_restore_soft_failed(ctx);
    if (*status < 500 || r->sent_bodyct) {
        return DECLINED;
    }
    if (ctx->attempts == 0) {
        msg = apr_psprintf(r->pool, "No instance can serve model `%s` right now.",
                           ctx->info.model);
        aop_send_error(r, HTTP_SERVICE_UNAVAILABLE, msg, NULL, "no_instance_available");
    }
    else {
        msg = apr_psprintf(r->pool, "The upstream Azure OpenAI service did not answer "
                           "(%d attempt%s for model `%s`).", ctx->attempts,
                           ctx->attempts == 1 ? "" : "s", ctx->info.model);
        aop_send_error(r, ctx->last_status == HTTP_GATEWAY_TIME_OUT ? HTTP_GATEWAY_TIME_OUT
                                                                    : HTTP_BAD_GATEWAY,
                       msg, NULL, "upstream_unavailable");
    }
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOPLOGNO(00041) "%s", msg);
    *status = OK;
    return OK;
}

void aop_proxy_register_hooks(apr_pool_t *p)
{
    proxy_hook_canon_handler(aop_canon, NULL, NULL, APR_HOOK_REALLY_FIRST);
    proxy_hook_scheme_handler(aop_scheme_handler, NULL, NULL, APR_HOOK_REALLY_FIRST);
    APR_OPTIONAL_HOOK(proxy, fixups, aop_proxy_fixups, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(proxy, request_status, aop_request_status, NULL, NULL,
                      APR_HOOK_MIDDLE);
}
