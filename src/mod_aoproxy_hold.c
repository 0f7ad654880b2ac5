/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <apr_strings.h>

#include <http_protocol.h>
#include <util_filter.h>

#include "aop_event_stream.h"
#include "mod_aoproxy_private.h"
#include "mod_aoproxy_body.h"
#include "mod_aoproxy_ctx.h"
#include "mod_aoproxy_fallback.h"
#include "mod_aoproxy_hold.h"
#include "mod_aoproxy_reservations.h"

/* A JSON answer is held until it is whole, a stream until its first byte; a 400
 * that may be Azure's context_length_exceeded, when the model has a
 * context_window_fallbacks list, until it is whole too (HOLD_REFUSAL).  An answer
 * that is no stream, to an attempt that resumes one, is dropped whole (HOLD_DROP):
 * the client is in the middle of a stream. */
typedef enum { HOLD_ANSWER, HOLD_FIRST_BYTE, HOLD_PASS, HOLD_REFUSAL, HOLD_DROP } hold_mode_e;

typedef struct hold_t {
    hold_mode_e mode;
    int attempt;                     /* the attempt whose answer this is */
    apr_bucket_brigade *held;        /* NULL until something is held */
    apr_off_t len;
} hold_t;

/* Only an instance's good answer is worth holding: an error answer is final, and
 * ours are answered whole anyway. */
static hold_mode_e mode_for(request_rec *r)
{
    aop_req_t *ctx = aop_req_get(r);

    if (ctx && ctx->inst && r->status == HTTP_BAD_REQUEST
        && aop_fallback_context_possible(ctx)) {
        return HOLD_REFUSAL;
    }
    if (!ctx || !ctx->inst || r->status < 200 || r->status >= 300) {
        return HOLD_PASS;
    }
    if (aop_is_event_stream(r->content_type)) {
        return HOLD_FIRST_BYTE;
    }
    return ctx->resuming ? HOLD_DROP : HOLD_ANSWER;
}

/* Each attempt's answer is judged afresh: after a stream resumed on another instance
 * (mod_aoproxy_resume.c), the new answer is held until its first byte like any. */
static hold_t *hold_ctx(ap_filter_t *f)
{
    aop_req_t *ctx = aop_req_get(f->r);
    hold_t *h = f->ctx;

    if (!h || (ctx && h->attempt != ctx->attempts)) {
        h = f->ctx = apr_pcalloc(f->r->pool, sizeof(*h));
        h->mode = mode_for(f->r);
        h->attempt = ctx ? ctx->attempts : 0;
        /* h->held: made by ap_save_brigade when something is held (a brigade is an
         * allocation and a pool cleanup, and most answers come whole, with their end). */
    }
    return h;
}

/* What a brigade from mod_proxy_http holds. */
typedef struct seen_t {
    int error;                       /* the backend broke off (ap_proxy_backend_broke) */
    int data;                        /* a byte of the answer */
    int eos;                         /* the answer's end */
} seen_t;

static seen_t scan(apr_bucket_brigade *bb)
{
    seen_t seen = { 0, 0, 0 };
    apr_bucket *b;

    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb); b = APR_BUCKET_NEXT(b)) {
        seen.error |= AP_BUCKET_IS_ERROR(b);
        seen.eos |= APR_BUCKET_IS_EOS(b);
        seen.data |= !APR_BUCKET_IS_METADATA(b) && b->length != 0;
    }
    return seen;
}

/* mod_proxy_http says the backend broke off (an error bucket, then EOS): nothing of
 * this answer went out, so it is dropped whole, and the next answer through here (the
 * next instance's, or our error) starts afresh. */
static apr_status_t drop(ap_filter_t *f, hold_t *h, apr_bucket_brigade *bb)
{
    aop_req_t *ctx = aop_req_get(f->r);

    if (h->held) {
        apr_brigade_cleanup(h->held);
    }
    apr_brigade_cleanup(bb);
    ctx->broken = ctx->dropped = 1;
    /* ap_pass_brigade marked the EOS sent; the answer that replaces this one
     * (perhaps ours, written with ap_rwrite) needs the core to end it. */
    f->r->eos_sent = 0;
    f->ctx = NULL;
    return APR_SUCCESS;
}

/* Whatever is held goes on first, then bb; from now on everything passes. */
static apr_status_t release(ap_filter_t *f, hold_t *h, apr_bucket_brigade *bb)
{
    aop_req_t *ctx = aop_req_get(f->r);

    h->mode = HOLD_PASS;
    if (ctx && !ctx->resumable) {
        aop_body_release(f->r, ctx);     /* bytes go out: no failover needs it */
    }
    if (h->held) {
        APR_BRIGADE_PREPEND(bb, h->held);
    }
    return ap_pass_brigade(f->next, bb);
}

static int contains(const char *s, apr_size_t len, const char *want, apr_size_t n)
{
    const char *p = s, *end = s + len;

    while (n && (apr_size_t)(end - p) >= n && (p = memchr(p, want[0], (apr_size_t)(end - p)))
           && (apr_size_t)(end - p) >= n) {
        if (memcmp(p, want, n) == 0) {
            return 1;
        }
        p++;
    }
    return 0;
}

/* The whole 400 (held, then bb) says context_length_exceeded, and a fallback model
 * of the context window's can take the request: the request moves to it. */
static int context_exceeded(ap_filter_t *f, hold_t *h, apr_bucket_brigade *bb)
{
    static const char code[] = "context_length_exceeded";
    apr_off_t held_len = 0, last_len = 0;
    apr_size_t got = 0, more;
    char *all;

    /* Read, not taken: both stay as they are, for a release.  An error body is small
     * (and held to AOP_HOLD_MAX): copied once, held part first. */
    if ((h->held && apr_brigade_length(h->held, 1, &held_len) != APR_SUCCESS)
        || apr_brigade_length(bb, 1, &last_len) != APR_SUCCESS) {
        return 0;
    }
    all = apr_palloc(f->r->pool, (apr_size_t)(held_len + last_len) + 1);
    got = (apr_size_t)held_len;
    more = (apr_size_t)last_len;
    if ((h->held && apr_brigade_flatten(h->held, all, &got) != APR_SUCCESS)
        || apr_brigade_flatten(bb, all + got, &more) != APR_SUCCESS) {
        return 0;
    }
    return contains(all, got + more, code, sizeof(code) - 1)
           && aop_fallback_context_switch(f->r, aop_req_get(f->r));
}

/* Azure's refusal goes no further: the scheme handler's wrapper moves the request on
 * to the context window's fallback, which the switch made its model. */
static apr_status_t drop_refusal(ap_filter_t *f, hold_t *h, apr_bucket_brigade *bb)
{
    aop_req_t *ctx = aop_req_get(f->r);

    if (h->held) {
        apr_brigade_cleanup(h->held);
    }
    apr_brigade_cleanup(bb);
    ctx->context_exceeded = 1;
    f->r->eos_sent = 0;
    f->ctx = NULL;
    return APR_SUCCESS;
}

static apr_status_t hold_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    aop_req_t *ctx = aop_req_get(f->r);
    hold_t *h = hold_ctx(f);
    apr_off_t len = 0;
    apr_status_t rv;
    seen_t seen;

    if (h->mode == HOLD_PASS || APR_BRIGADE_EMPTY(bb)) {
        return h->mode == HOLD_PASS ? ap_pass_brigade(f->next, bb) : APR_SUCCESS;
    }
    seen = scan(bb);
    /* A stream that ends before its first byte of data is as broken as one cut
     * (unless the client went away: mod_proxy_http stopped reading then). */
    if (seen.error || h->mode == HOLD_DROP
        || (h->mode == HOLD_FIRST_BYTE && seen.eos && !seen.data && !f->c->aborted)) {
        return drop(f, h, bb);
    }
    if (seen.eos && h->mode == HOLD_REFUSAL && context_exceeded(f, h, bb)) {
        return drop_refusal(f, h, bb);
    }
    if (seen.eos || (h->mode == HOLD_FIRST_BYTE && seen.data)) {
        return release(f, h, bb);
    }
    /* Held buckets outlive this call (mod_proxy_http's point into its backend
     * connection's buffers): ap_save_brigade sets them aside in the request pool. */
    apr_brigade_length(bb, 1, &len);
    h->len += len;
    if (len && ctx->resv_tracked) {
        aop_reservation_alive(ctx, apr_time_now());     /* bytes came: the request is alive */
    }
    if ((rv = ap_save_brigade(f, &h->held, &bb, f->r->pool)) != APR_SUCCESS) {
        return rv;
    }
    apr_brigade_cleanup(bb);
    if (h->len > AOP_HOLD_MAX) {
        return release(f, h, bb);
    }
    return APR_SUCCESS;
}

/* Added by its handle: by name, every request paid a lookup in the filter registry
 * (about 700 instructions, callgrind). */
static ap_filter_rec_t *hold_filter_handle;

void aop_hold_filter_add(request_rec *r)
{
    ap_add_output_filter_handle(hold_filter_handle, NULL, r, r->connection);
}

void aop_hold_register_hooks(apr_pool_t *p)
{
    hold_filter_handle = ap_register_output_filter(AOP_HOLD_FILTER, hold_filter, NULL,
                                                   AP_FTYPE_RESOURCE);
}
