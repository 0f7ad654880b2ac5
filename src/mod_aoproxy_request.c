/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The fixups hook that turns an OpenAI call into a mod_proxy request for our
 * balancer, and the local handler that answers what never reaches a backend
 * (errors found here, /v1/models). */
#include <apr_strings.h>

#include <http_protocol.h>
#include <http_request.h>
#include <mod_proxy.h>

#include "aop_json.h"
#include "mod_aoproxy_private.h"
#include "mod_aoproxy_balancer.h"
#include "mod_aoproxy_body.h"
#include "mod_aoproxy_ctx.h"
#include "mod_aoproxy_errors.h"
#include "mod_aoproxy_fallback.h"
#include "mod_aoproxy_lbmethod.h"
#include "mod_aoproxy_view.h"
#include "mod_aoproxy_hold.h"
#include "mod_aoproxy_resume.h"
#include "mod_aoproxy_proxy.h"
#include "mod_aoproxy_request.h"
#include "mod_aoproxy_reservations.h"
#include "mod_aoproxy_responses.h"
#include "mod_aoproxy_usage.h"

/* Records an error for the local handler to answer; fixups then returns OK. */
static int answer_error(request_rec *r, aop_req_t *ctx, int status, const char *message,
                        const char *param, const char *code)
{
    r->proxyreq = PROXYREQ_NONE;    /* marked in translate_name: mod_proxy must decline */
    ctx->err_status = status;
    ctx->err_body = aop_json_error_body(r->pool, message, aop_error_type(status),
                                        param, code);
    r->handler = AOP_LOCAL_HANDLER;
    return OK;
}

static int answer_bad_method(request_rec *r, aop_req_t *ctx, const char *allow)
{
    apr_table_setn(r->err_headers_out, "Allow", allow);
    return answer_error(r, ctx, HTTP_METHOD_NOT_ALLOWED,
                        apr_psprintf(r->pool, "Method %s is not allowed for %s; use %s.",
                                     r->method,
                                     r->uri, allow),
                        NULL, "method_not_allowed");
}

static int answer_body_status(request_rec *r, aop_req_t *ctx, int status)
{
    if (status == HTTP_REQUEST_ENTITY_TOO_LARGE) {
        return answer_error(r, ctx, status,
                            apr_psprintf(r->pool, "The request body is larger than the "
                                         "%" APR_OFF_T_FMT " bytes this proxy accepts.",
                                         ctx->sc->max_body),
                            NULL, "request_too_large");
    }
    return answer_error(r, ctx, status, "The request body could not be read.", NULL, NULL);
}

/* However the request ends (even aborted), its token reservation is given back. */
static apr_status_t release_reservation(void *data)
{
    aop_reservation_release(data, 0);
    return APR_SUCCESS;
}

/* "proxy:balancer://aoproxy/v1/...": the balancer of this server's configuration.
 * Made twice a request (translate_name, then fixups), with memcpy: apr_pstrcat cost
 * about 280 instructions each time, this about 100. */
static char *proxy_filename(request_rec *r, const aop_srv_conf_t *sc)
{
    const char *name = sc->balancer ? sc->balancer->s->name : AOP_BALANCER_URL;
    apr_size_t n = strlen(name), u = strlen(r->uri);
    char *f = apr_palloc(r->pool, 6 + n + u + 1);

    memcpy(f, "proxy:", 6);
    memcpy(f + 6, name, n);
    memcpy(f + 6 + n, r->uri, u + 1);
    return f;
}

static void hand_to_proxy(request_rec *r, aop_req_t *ctx)
{
    aop_proxy_override_errors(r);
    r->filename = proxy_filename(r, ctx->sc);
    r->proxyreq = PROXYREQ_REVERSE;
    r->handler = "proxy-server";
    aop_body_replay_add(r, ctx);
}

/* A stream whose client did not ask for usage still gets it from Azure (the
 * usage filter takes the extra chunk out again): tokens of streams count too. */
static void ask_for_stream_usage(request_rec *r, aop_req_t *ctx)
{
    if (!ctx->info.stream || ctx->info.include_usage
        || (ctx->op != AOP_OP_CHAT && ctx->op != AOP_OP_COMPLETIONS)
        || !ctx->info.usage_splice.text) {
        return;
    }
    /* Sent as buckets around the body: the body itself is not copied. */
    ctx->splice = &ctx->info.usage_splice;
    ctx->injected_usage = 1;
}

static int answer_nothing_available(request_rec *r, aop_req_t *ctx, int status,
                                    apr_interval_time_t wait)
{
    if (ctx->pinned >= 0) {
        /* The one instance that holds the response: never a silent new start elsewhere. */
        if (status == HTTP_TOO_MANY_REQUESTS) {
            aop_rate_limited(r, r->err_headers_out, ctx->info.model, wait);
        }
        return answer_error(r, ctx, status, aop_responses_unavailable(r, ctx, status), NULL,
                            status == HTTP_TOO_MANY_REQUESTS ? "rate_limit_exceeded"
                                                             : "response_instance_unavailable");
    }
    if (status == HTTP_TOO_MANY_REQUESTS) {
        return answer_error(r, ctx, status,
                            aop_rate_limited(r, r->err_headers_out, ctx->info.model, wait),
                            NULL, "rate_limit_exceeded");
    }
    return answer_error(r, ctx, status,
                        apr_psprintf(r->pool, "No instance can serve model `%s` right now.",
                                     ctx->info.model), NULL, "no_instance_available");
}

static int method_allowed(const request_rec *r, aop_op_e op)
{
    switch (op) {
    case AOP_OP_RESPONSE:
        return r->method_number == M_GET || r->method_number == M_DELETE;
    case AOP_OP_RESPONSE_ITEMS:
        return r->method_number == M_GET;
    default:
        return r->method_number == M_POST;
    }
}

/* The body's model (or the path's), aliases resolved, and its instances. */
static int read_call(request_rec *r, aop_req_t *ctx)
{
    aop_request_error_t err;
    const char *path_model = ctx->path.deployment
                             ? aop_config_model_of(ctx->sc->cfg, ctx->path.deployment) : NULL;

    if (aop_request_parse_for(r->pool, ctx->op, path_model, ctx->body.data, ctx->body.len,
                              &ctx->info, &err)) {
        return answer_error(r, ctx, HTTP_BAD_REQUEST, err.message, err.param, err.code);
    }
    ctx->info.model = aop_config_model_of(ctx->sc->cfg, ctx->info.model);
    ctx->asked_model = ctx->info.model;
    ctx->route = aop_route_find(ctx->view->routes, ctx->info.model);
    ctx->candidates = ctx->route ? ctx->route->candidates : NULL;
    if (!ctx->candidates) {
        return answer_error(r, ctx, HTTP_NOT_FOUND,
                            apr_psprintf(r->pool, "The model `%s` does not exist or you do "
                                         "not have access to it.", ctx->info.model),
                            "model", "model_not_found");
    }
    return OK;
}

/* A call on a stored response: no model, no tokens; the body (cancel's, if any) goes
 * as it came. */
static void read_by_id(aop_req_t *ctx)
{
    ctx->by_id = 1;
    ctx->info.model = "";
    ctx->info.n = 1;
}

/* A call to one of the proxied operations: body, model, instances. */
static int prepare_call(request_rec *r, aop_req_t *ctx)
{
    aop_responses_error_t rerr;
    apr_interval_time_t wait = 0;
    int status, n = ctx->view->cfg->instances->nelts;

    if (!method_allowed(r, ctx->op)) {
        return answer_bad_method(r, ctx, aop_path_op_methods(ctx->op));
    }
    if ((status = aop_body_read(r, ctx)) != OK) {
        return answer_body_status(r, ctx, status);
    }
    if (aop_path_op_by_id(ctx->op)) {
        read_by_id(ctx);
    }
    else if ((status = read_call(r, ctx)) != OK || ctx->err_status) {
        return status;
    }
    if ((ctx->op == AOP_OP_RESPONSES || ctx->by_id)
        && aop_responses_route(r, ctx, &rerr) != 0) {
        return answer_error(r, ctx, rerr.status, rerr.message, rerr.param, rerr.code);
    }
    if (ctx->by_id && ctx->candidates->nelts == 0) {
        return answer_error(r, ctx, HTTP_SERVICE_UNAVAILABLE, "No instance is enabled.",
                            NULL, "no_instance_available");
    }
    ctx->tried = apr_pcalloc(r->pool, n > 0 ? n : 1);
    /* Workers the API added in another process, known before the first pick
     * (mod_proxy_balancer syncs only later, in its pre_request). */
    aop_balancer_sync(ctx->sc->balancer, r->server);
    apr_pool_cleanup_register(r->pool, ctx, release_reservation, apr_pool_cleanup_null);
    while ((status = aop_lb_pick_first(r, ctx, &wait)) != OK) {
        if (!aop_fallback_switch(r, ctx)) {
            ctx->info.model = ctx->asked_model ? ctx->asked_model : ctx->info.model;
            return answer_nothing_available(r, ctx, status, wait);
        }
    }
    ask_for_stream_usage(r, ctx);
    ctx->resumable = aop_resume_possible(ctx);
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, "aoproxy: %s model=%s stream=%d "
                  "estimate=%" APR_INT64_T_FMT, aop_path_op_suffix(ctx->op),
                  ctx->info.model, ctx->info.stream, ctx->info.estimate);
    hand_to_proxy(r, ctx);
    return OK;
}

/* /v1/ under AOProxy On is a namespace of ours, not of the filesystem: like
 * ProxyPass, the request is marked in translate_name, so that mod_proxy's
 * map_to_storage takes it and the core never looks for it on disk (no stat, no
 * .htaccess lookups, no <Directory> rules).  Fixups then proxies it or answers it
 * locally (and unmarks it). */
static int aop_translate(request_rec *r)
{
    if (r->main || !aop_path_is_ours(r->uri) || !aop_dir_enabled(r)) {
        return DECLINED;
    }
    r->filename = proxy_filename(r, aop_srv_conf(r->server));
    r->proxyreq = PROXYREQ_REVERSE;
    return OK;
}

static int aop_fixups(request_rec *r)
{
    aop_req_t *ctx;

    if (r->main || !aop_dir_enabled(r) || !aop_path_is_ours(r->uri)) {
        return DECLINED;
    }
    ctx = aop_req_make(r);
    /* An instance's answer is held until it cannot fail over for want of it, then
     * (every answer of ours, proxied or not) usage, and counting at its end. */
    aop_hold_filter_add(r);
    aop_usage_filter_add(r);
    if (!ctx->sc->cfg || !ctx->sc->balancer
        || !(ctx->view = aop_view_acquire(r, ctx->sc->fleet))) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AOPLOGNO(00012)
                      "AOProxy On for %s but this server has no instances configured",
                      r->uri);
        return answer_error(r, ctx, HTTP_INTERNAL_SERVER_ERROR,
                            "The proxy is not configured for this server.", NULL, NULL);
    }
    aop_path_parse(r->pool, r->uri, &ctx->path);
    ctx->op = ctx->path.op;
    ctx->model_id = ctx->path.model_id;
    switch (ctx->op) {
    case AOP_OP_NONE:
        return answer_error(r, ctx, HTTP_NOT_FOUND,
                            apr_psprintf(r->pool, "Invalid URL (%s %s)",
                                         r->method, r->uri), NULL, "unknown_url");
    case AOP_OP_MODELS:
        if (r->method_number != M_GET) {
            return answer_bad_method(r, ctx, "GET");
        }
        r->proxyreq = PROXYREQ_NONE;
        r->handler = AOP_LOCAL_HANDLER;
        return OK;
    default:
        return prepare_call(r, ctx);
    }
}

/* ------------------------------------------------------------------ /v1/models */

static json_object *model_entry(const char *id)
{
    json_object *m = json_object_new_object();

    json_object_object_add(m, "id", json_object_new_string(id));
    json_object_object_add(m, "object", json_object_new_string("model"));
    json_object_object_add(m, "created", json_object_new_int(0));
    json_object_object_add(m, "owned_by", json_object_new_string("azure-openai"));
    return m;
}

/* An alias is a model name a client may use: listed when its model is served. */
static void add_aliases(request_rec *r, const aop_req_t *ctx, json_object *data)
{
    apr_hash_index_t *hi;

    if (!ctx->sc->cfg->aliases) {
        return;
    }
    for (hi = apr_hash_first(r->pool, ctx->sc->cfg->aliases); hi; hi = apr_hash_next(hi)) {
        if (aop_route_candidates(ctx->view->routes, apr_hash_this_val(hi))) {
            json_object_array_add(data, model_entry(apr_hash_this_key(hi)));
        }
    }
}

static void answer_models(request_rec *r, aop_req_t *ctx)
{
    const apr_array_header_t *models = ctx->view->routes->models;
    json_object *root, *data;
    int i;

    if (ctx->model_id) {
        if (!aop_route_candidates(ctx->view->routes,
                                  aop_config_model_of(ctx->sc->cfg, ctx->model_id))) {
            aop_send_error(r, HTTP_NOT_FOUND,
                           apr_psprintf(r->pool, "The model `%s` does not exist or you do "
                                        "not have access to it.", ctx->model_id),
                           "model", "model_not_found");
            return;
        }
        root = aop_json_own(r->pool, model_entry(ctx->model_id));
        aop_send_json(r, HTTP_OK, aop_json_to_string(r->pool, root));
        return;
    }
    root = aop_json_own(r->pool, json_object_new_object());
    data = json_object_new_array();
    for (i = 0; i < models->nelts; i++) {
        json_object_array_add(data, model_entry(APR_ARRAY_IDX(models, i, const char *)));
    }
    add_aliases(r, ctx, data);
    json_object_object_add(root, "object", json_object_new_string("list"));
    json_object_object_add(root, "data", data);
    aop_send_json(r, HTTP_OK, aop_json_to_string(r->pool, root));
}

static int aop_local_handler(request_rec *r)
{
    aop_req_t *ctx;

    if (!r->handler || strcmp(r->handler, AOP_LOCAL_HANDLER) != 0
        || !(ctx = aop_req_get(r))) {
        return DECLINED;
    }
    if (ctx->err_status) {
        aop_send_json(r, ctx->err_status, ctx->err_body);
    }
    else {
        answer_models(r, ctx);
    }
    return OK;
}

void aop_request_register_hooks(apr_pool_t *p)
{
    /* Before mod_proxy's fixups, which canonicalises the proxy: URL we set here
     * (the slot mod_rewrite's [P] flag uses). */
    static const char *const succ[] = { "mod_proxy.c", NULL };

    ap_hook_translate_name(aop_translate, NULL, succ, APR_HOOK_FIRST);
    ap_hook_fixups(aop_fixups, NULL, succ, APR_HOOK_FIRST);
    ap_hook_handler(aop_local_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
