/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <apr_strings.h>

#include <http_protocol.h>
#include <util_filter.h>

#include "mod_aoproxy_private.h"
#include "mod_aoproxy_body.h"

/* mod_proxy_http keeps the body it prefetched in this r->pool userdata between
 * balancer attempts; after a partial send it would resend only what was left. */
#define PROXY_HTTP_SAVED_BODY "proxy-req-input"

static int too_large(request_rec *r, aop_req_t *ctx)
{
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOPLOGNO(00010)
                  "request body exceeds AOProxyMaxBodySize (%" APR_OFF_T_FMT " bytes)",
                  ctx->sc->max_body);
    /* The rest of the body is not read: the connection cannot be reused. */
    r->connection->keepalive = AP_CONN_CLOSE;
    return HTTP_REQUEST_ENTITY_TOO_LARGE;
}

int aop_body_read(request_rec *r, aop_req_t *ctx)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    apr_bucket_brigade *bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    apr_bucket_brigade *tmp = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    apr_off_t declared = 0, total = 0, chunk = 0;
    apr_status_t rv;
    char *buf;
    apr_size_t len;
    int seen_eos = 0;

    if (cl && ap_parse_strict_length(&declared, cl) && declared > ctx->sc->max_body) {
        return too_large(r, ctx);
    }
    while (!seen_eos) {
        rv = ap_get_brigade(r->input_filters, tmp, AP_MODE_READBYTES, APR_BLOCK_READ,
                            HUGE_STRING_LEN);
        if (rv != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, r, AOPLOGNO(00011)
                          "reading the request body failed");
            return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
        }
        seen_eos = !APR_BRIGADE_EMPTY(tmp) && APR_BUCKET_IS_EOS(APR_BRIGADE_LAST(tmp));
        apr_brigade_length(tmp, 1, &chunk);
        total += chunk;
        if (total > ctx->sc->max_body) {
            return too_large(r, ctx);
        }
        if ((rv = ap_save_brigade(NULL, &bb, &tmp, r->pool)) != APR_SUCCESS) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        apr_brigade_cleanup(tmp);
    }
    if ((rv = apr_brigade_pflatten(bb, &buf, &len, r->pool)) != APR_SUCCESS) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    apr_brigade_destroy(bb);
    ctx->body = buf;
    ctx->body_len = len;
    return OK;
}

/* Hands out the whole body with EOS in one read: mod_proxy_http then sees that it
 * "fit" and sends it with an exact Content-Length instead of spooling or chunking. */
static apr_status_t replay_filter(ap_filter_t *f, apr_bucket_brigade *bb,
                                  ap_input_mode_t mode, apr_read_type_e block,
                                  apr_off_t readbytes)
{
    aop_req_t *ctx = f->ctx;

    if (mode != AP_MODE_READBYTES && mode != AP_MODE_SPECULATIVE
        && mode != AP_MODE_EXHAUSTIVE) {
        return APR_ENOTIMPL;
    }
    if (!ctx->body_delivered && ctx->body_len > 0) {
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_immortal_create(ctx->body, ctx->body_len,
                                                               bb->bucket_alloc));
    }
    if (mode != AP_MODE_SPECULATIVE) {
        ctx->body_delivered = 1;
    }
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(bb->bucket_alloc));
    return APR_SUCCESS;
}

void aop_body_rewind(request_rec *r, aop_req_t *ctx)
{
    apr_bucket_brigade *saved = NULL;

    apr_pool_userdata_get((void **)&saved, PROXY_HTTP_SAVED_BODY, r->pool);
    if (saved) {
        apr_brigade_cleanup(saved);
    }
    ctx->body_delivered = 0;
}

void aop_body_register_hooks(apr_pool_t *p)
{
    ap_register_input_filter(AOP_BODY_FILTER, replay_filter, NULL, AP_FTYPE_RESOURCE);
}
