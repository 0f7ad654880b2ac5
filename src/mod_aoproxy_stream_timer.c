/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* mod_proxy_http reads an instance's answer with the worker's timeout
 * (routing.timeout) set on the backend socket.  For each answer it makes a fake
 * request on the backend connection and runs mod_proxy's create_req hook with it:
 * ours puts an input filter in front of that request's body reads.  For each blocking
 * read of a 2xx event stream the filter sets the socket's timeout to the shorter
 * limit and puts the previous one back before it returns, so the pooled connection
 * goes back to the pool as it came.  No thread and no timer: the read itself times
 * out, and mod_proxy_http ends the answer as after any failed read (AH01110, an error
 * bucket): the hold filter drops it (nothing went out: the wrapper fails over) or
 * the usage filter ends the stream with its error event (the client had bytes). */
#include <apr_network_io.h>

#include <httpd.h>

#include <http_connection.h>
#include <http_core.h>
#include <mod_proxy.h>
#include <util_filter.h>
#include <apr_optional_hooks.h>

#include "aop_event_stream.h"
#include "mod_aoproxy_private.h"
#include "mod_aoproxy_ctx.h"
#include "mod_aoproxy_stream_timer.h"

typedef struct stream_timer_t {
    aop_req_t *ctx;
    apr_time_t first_by;             /* the first byte is due by then; 0: no limit */
    apr_interval_time_t idle;        /* the longest silence once it flows; 0: none */
    int flowing;                     /* a byte of the answer came */
} stream_timer_t;

static int is_event_stream_2xx(const request_rec *r)
{
    return r->status >= 200 && r->status < 300 && r->content_type
           && aop_is_event_stream(r->content_type);
}

/* The limit of the next read, 0 = none of ours (the worker's timeout alone). */
static apr_interval_time_t limit_now(const stream_timer_t *t, aop_stream_timeout_e *which)
{
    apr_interval_time_t left;

    if (!t->flowing && t->first_by) {
        *which = AOP_STREAM_TIMEOUT_FIRST_TOKEN;
        left = t->first_by - apr_time_now();
        return left > 0 ? left : 1;      /* due already: only what is there counts */
    }
    *which = AOP_STREAM_TIMEOUT_IDLE;
    return t->flowing ? t->idle : 0;
}

static apr_status_t timed_read(ap_filter_t *f, apr_bucket_brigade *bb, ap_input_mode_t mode,
                               apr_off_t readbytes, apr_interval_time_t limit,
                               aop_stream_timeout_e which)
{
    stream_timer_t *t = f->ctx;
    apr_socket_t *sock = ap_get_conn_socket(f->c);
    apr_interval_time_t before = -1;
    apr_time_t start = apr_time_now();
    apr_status_t rv;

    if (sock && apr_socket_timeout_get(sock, &before) == APR_SUCCESS
        && (before < 0 || limit < before)) {
        apr_socket_timeout_set(sock, limit);
    }
    else {
        sock = NULL;                     /* the worker's timeout is the shorter one */
    }
    rv = ap_get_brigade(f->next, bb, mode, APR_BLOCK_READ, readbytes);
    if (sock) {
        apr_socket_timeout_set(sock, before);
        /* A TLS layer may report the timeout as an error of its own. */
        if (rv != APR_SUCCESS && !APR_STATUS_IS_EOF(rv)
            && (APR_STATUS_IS_TIMEUP(rv) || apr_time_now() - start >= limit)) {
            t->ctx->stream_timeout = which;
        }
    }
    return rv;
}

/* Added by its handle, as the hold filter is (mod_aoproxy_hold.c). */
static ap_filter_rec_t *stream_timer_handle;

static apr_status_t stream_timer_filter(ap_filter_t *f, apr_bucket_brigade *bb,
                                        ap_input_mode_t mode, apr_read_type_e block,
                                        apr_off_t readbytes)
{
    stream_timer_t *t = f->ctx;
    aop_stream_timeout_e which = AOP_STREAM_TIMEOUT_NONE;
    apr_interval_time_t limit = 0;
    apr_off_t len = 0;
    apr_status_t rv;

    if (block == APR_BLOCK_READ && is_event_stream_2xx(t->ctx->r)) {
        limit = limit_now(t, &which);
    }
    rv = limit > 0 ? timed_read(f, bb, mode, readbytes, limit, which)
                   : ap_get_brigade(f->next, bb, mode, block, readbytes);
    if (rv == APR_SUCCESS && !t->flowing && apr_brigade_length(bb, 0, &len) == APR_SUCCESS
        && len > 0) {
        t->flowing = 1;
    }
    return rv;
}

/* mod_proxy_http's fake request for the answer of this attempt (pr): the filter goes
 * in front of its body reads (the status line and headers are read before, through
 * the connection's own filters, with the worker's timeout). */
static int aop_timer_create_req(request_rec *r, request_rec *pr)
{
    aop_req_t *ctx = aop_req_get(r);
    const aop_config_t *cfg;
    stream_timer_t *t;
    double first, idle;

    if (!ctx || !ctx->inst || !ctx->view || !ctx->view->fleet
        || !(cfg = ctx->view->fleet->boot_cfg)) {
        return DECLINED;
    }
    first = aop_config_first_token_timeout(cfg, ctx->info.model);
    idle = cfg->stream_idle_timeout;
    if (!(first > 0.0) && !(idle > 0.0)) {
        return DECLINED;
    }
    t = apr_pcalloc(pr->pool, sizeof(*t));
    t->ctx = ctx;
    /* Time to first token: from the start of the attempt, headers included. */
    t->first_by = first > 0.0
                  ? ctx->attempt_start + (apr_interval_time_t)(first * APR_USEC_PER_SEC) : 0;
    t->idle = idle > 0.0 ? (apr_interval_time_t)(idle * APR_USEC_PER_SEC) : 0;
    ap_add_input_filter_handle(stream_timer_handle, t, pr, pr->connection);
    return DECLINED;
}

void aop_stream_timer_register_hooks(apr_pool_t *p)
{
    stream_timer_handle = ap_register_input_filter(AOP_STREAM_TIMER_FILTER,
                                                   stream_timer_filter, NULL,
                                                   AP_FTYPE_RESOURCE);
    APR_OPTIONAL_HOOK(proxy, create_req, aop_timer_create_req, NULL, NULL, APR_HOOK_MIDDLE);
}
