#include <http_protocol.h>
#include <util_filter.h>

#include "mod_aoproxy_private.h"
#include "mod_aoproxy_hold.h"
#include "mod_aoproxy_lbmethod.h"
#include "mod_aoproxy_request.h"

typedef enum { HOLD_UNDECIDED = 0, HOLD_ANSWER, HOLD_FIRST_BYTE, HOLD_PASS } hold_mode_e;

typedef struct hold_t {
    hold_mode_e mode;
    apr_bucket_brigade *held;
    apr_off_t len;
} hold_t;

/* Only an instance's good answer is worth holding: an error answer is final, and
 * ours are answered whole anyway. */
static hold_mode_e mode_for(request_rec *r)
{
    aop_req_t *ctx = aop_req_get(r);

    if (!ctx || !ctx->inst || r->status < 200 || r->status >= 300) {
        return HOLD_PASS;
    }
    if (r->content_type && ap_cstr_casecmpn(r->content_type, "text/event-stream", 17) == 0) {
        return HOLD_FIRST_BYTE;
    }
    return HOLD_ANSWER;
}

static hold_t *hold_ctx(ap_filter_t *f)
{
    hold_t *h = f->ctx;

    if (!h) {
        h = f->ctx = apr_pcalloc(f->r->pool, sizeof(*h));
        h->mode = mode_for(f->r);
        h->held = apr_brigade_create(f->r->pool, f->c->bucket_alloc);
    }
    return h;
}

static int has_error(apr_bucket_brigade *bb)
{
    apr_bucket *b;

    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb); b = APR_BUCKET_NEXT(b)) {
        if (AP_BUCKET_IS_ERROR(b)) {
            return 1;
        }
    }
    return 0;
}

static int has_data(apr_bucket_brigade *bb)
{
    apr_bucket *b;

    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb); b = APR_BUCKET_NEXT(b)) {
        if (!APR_BUCKET_IS_METADATA(b) && b->length != 0) {
            return 1;
        }
    }
    return 0;
}

static int has_eos(apr_bucket_brigade *bb)
{
    apr_bucket *b;

    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb); b = APR_BUCKET_NEXT(b)) {
        if (APR_BUCKET_IS_EOS(b)) {
            return 1;
        }
    }
    return 0;
}

/* mod_proxy_http says the backend broke off (an error bucket, then EOS): nothing of
 * this answer went out, so it is dropped whole, and the next answer through here (the
 * next instance's, or our error) starts afresh. */
static apr_status_t drop(ap_filter_t *f, hold_t *h, apr_bucket_brigade *bb)
{
    aop_req_t *ctx = aop_req_get(f->r);

    apr_brigade_cleanup(h->held);
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
    h->mode = HOLD_PASS;
    APR_BRIGADE_PREPEND(bb, h->held);
    return ap_pass_brigade(f->next, bb);
}

static apr_status_t hold_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    aop_req_t *ctx = aop_req_get(f->r);
    hold_t *h = hold_ctx(f);
    apr_off_t len = 0;
    apr_status_t rv;

    if (h->mode == HOLD_PASS || APR_BRIGADE_EMPTY(bb)) {
        return h->mode == HOLD_PASS ? ap_pass_brigade(f->next, bb) : APR_SUCCESS;
    }
    /* A stream that ends before its first byte of data is as broken as one cut. */
    if (has_error(bb) || (h->mode == HOLD_FIRST_BYTE && !has_data(bb) && has_eos(bb))) {
        return drop(f, h, bb);
    }
    if (has_eos(bb) || (h->mode == HOLD_FIRST_BYTE && has_data(bb))) {
        return release(f, h, bb);
    }
    /* Held buckets outlive this call (mod_proxy_http's point into its backend
     * connection's buffers): ap_save_brigade sets them aside in the request pool. */
    apr_brigade_length(bb, 1, &len);
    h->len += len;
    if (len && ctx->resv_tracked) {
        aop_lb_alive(ctx, apr_time_now());     /* bytes came: the request is alive */
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

void aop_hold_register_hooks(apr_pool_t *p)
{
    ap_register_output_filter(AOP_HOLD_FILTER, hold_filter, NULL, AP_FTYPE_RESOURCE);
}
