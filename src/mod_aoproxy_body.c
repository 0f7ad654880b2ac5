/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The request body, once: one buffer sized by Content-Length (a chunked body grows,
 * bounded by AOProxyMaxBodySize), parsed in place, replayed to mod_proxy_http as
 * buckets pointing into it (the stream_options splice is a small piece between two
 * of them), and freed as soon as no failover can need it. */
#include <errno.h>
#include <string.h>

#include <apr_strings.h>

#include <http_protocol.h>
#include <util_filter.h>

#include "aop_bigbuf.h"
#include "mod_aoproxy_private.h"
#include "mod_aoproxy_body.h"

/* mod_proxy_http keeps the body it prefetched in this r->pool userdata between
 * balancer attempts; after a partial send it would resend only what was left. */
#define PROXY_HTTP_SAVED_BODY "proxy-req-input"

/* A chunked body starts with this much room (from r->pool) and doubles; from
 * AOP_BIGBUF_MIN on, as a body of known length, it is mapped (aop_bigbuf.h: pool
 * memory would stay until the request's end, for a stream minutes after its body
 * stopped mattering). */
#define BODY_CHUNKED_START (16 * 1024)

/* How much one read asks the input filters for: one socket read's worth.  More (say
 * 64 KB) makes the core read that much ahead into 8 KB heap buckets whose blocks then
 * stay on the connection's allocator for the stream's life (+64 KB a stream). */
#define BODY_READ_SIZE AP_IOBUFSIZE

static int too_large(request_rec *r, aop_req_t *ctx)
{
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AOPLOGNO(00010)
                  "request body exceeds AOProxyMaxBodySize (%" APR_OFF_T_FMT " bytes)",
                  ctx->sc->max_body);
    /* The rest of the body is not read: the connection cannot be reused. */
    r->connection->keepalive = AP_CONN_CLOSE;
    return HTTP_REQUEST_ENTITY_TOO_LARGE;
}

static void unmap(aop_body_t *b)
{
    if (b->mapped) {
        aop_bigbuf_put(b->data, b->cap);
        b->mapped = 0;
    }
    b->data = NULL;
    b->cap = 0;
}

/* r->pool's end: a body not released before (an answer that never started) goes. */
static apr_status_t body_cleanup(void *data)
{
    unmap(data);
    return APR_SUCCESS;
}

/* The room for a body of need bytes: exactly that from r->pool when the length is
 * known and small, twice the old room for a chunked body still small, mapped from
 * AOP_BIGBUF_MIN on. */
static char *body_alloc(request_rec *r, const aop_body_t *b, apr_size_t need, int exact,
                        apr_size_t *cap, int *mapped)
{
    char *data;

    *cap = exact ? need : b->cap ? 2 * b->cap : BODY_CHUNKED_START;
    while (*cap < need) {
        *cap *= 2;
    }
    if (*cap < AOP_BIGBUF_MIN) {
        *mapped = 0;
        return apr_palloc(r->pool, *cap);
    }
    if ((data = aop_bigbuf_get(need, cap)) == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, errno, r, AOPLOGNO(00260)
                      "mapping %" APR_SIZE_T_FMT " bytes for the request body failed", need);
        return NULL;
    }
    *mapped = 1;
    return data;
}

/* Makes room for need bytes: the body's length when known, or more of a chunked body
 * (or of a Content-Length that lied low: the HTTP input filter refuses one that lies
 * high). */
static int body_grow(request_rec *r, aop_body_t *b, apr_size_t need, int exact)
{
    apr_size_t cap;
    char *data;
    int mapped;

    if ((data = body_alloc(r, b, need, exact, &cap, &mapped)) == NULL) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (b->len) {
        memcpy(data, b->data, b->len);
    }
    unmap(b);                   /* a pool buffer stays in the pool: under 64 KB */
    b->data = data;
    b->cap = cap;
    b->mapped = mapped;
    return OK;
}

/* Copies the brigade's data to the end of the body. */
static int body_append(request_rec *r, aop_req_t *ctx, apr_bucket_brigade *bb)
{
    aop_body_t *b = &ctx->body;
    apr_bucket *e;
    const char *data;
    apr_size_t len;
    apr_status_t rv;
    int status;

    for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb); e = APR_BUCKET_NEXT(e)) {
        if (APR_BUCKET_IS_METADATA(e)) {
            continue;
        }
        if ((rv = apr_bucket_read(e, &data, &len, APR_BLOCK_READ)) != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, r, AOPLOGNO(00261)
                          "reading a bucket of the request body failed");
            return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
        }
        if ((apr_off_t)(b->len + len) > ctx->sc->max_body) {
            return too_large(r, ctx);
        }
        if (b->len + len > b->cap && (status = body_grow(r, b, b->len + len, 0)) != OK) {
            return status;
        }
        memcpy(b->data + b->len, data, len);
        b->len += len;
    }
    return OK;
}

int aop_body_read(request_rec *r, aop_req_t *ctx)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");
    apr_bucket_brigade *tmp = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    aop_body_t *b = &ctx->body;
    apr_off_t declared = 0;
    apr_status_t rv;
    int seen_eos = 0, status;

    if (cl && ap_parse_strict_length(&declared, cl) && declared > ctx->sc->max_body) {
        return too_large(r, ctx);
    }
    apr_pool_cleanup_register(r->pool, b, body_cleanup, apr_pool_cleanup_null);
    if (declared > 0 && (status = body_grow(r, b, (apr_size_t)declared, 1)) != OK) {
        return status;
    }
    while (!seen_eos) {
        rv = ap_get_brigade(r->input_filters, tmp, AP_MODE_READBYTES, APR_BLOCK_READ,
                            BODY_READ_SIZE);
        if (rv != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, r, AOPLOGNO(00011)
                          "reading the request body failed");
            return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
        }
        seen_eos = !APR_BRIGADE_EMPTY(tmp) && APR_BUCKET_IS_EOS(APR_BRIGADE_LAST(tmp));
        status = body_append(r, ctx, tmp);
        apr_brigade_cleanup(tmp);
        if (status != OK) {
            return status;
        }
    }
    apr_brigade_destroy(tmp);
    return OK;
}

static void insert(apr_bucket_brigade *bb, const char *data, apr_size_t len)
{
    if (len > 0) {
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_immortal_create(data, len, bb->bucket_alloc));
    }
}

#define MAX_SPLICES 3

/* This attempt's splices in body order: the model (the instance's deployment), the
 * stream_options one and a resumed stream's prefill (mod_aoproxy_resume.c), each
 * when planned.  They never overlap (each is in a member of its own). */
static int splices(const aop_req_t *ctx, const aop_splice_t *sp[MAX_SPLICES])
{
    int n = 0, i, j;

    if (ctx->model_splice.text) {
        sp[n++] = &ctx->model_splice;
    }
    if (ctx->splice) {
        sp[n++] = ctx->splice;
    }
    if (ctx->prefill.text) {
        sp[n++] = &ctx->prefill;
    }
    for (i = 1; i < n; i++) {
        for (j = i; j > 0 && sp[j]->from < sp[j - 1]->from; j--) {
            const aop_splice_t *t = sp[j];

            sp[j] = sp[j - 1];
            sp[j - 1] = t;
        }
    }
    return n;
}

/* The body's parts around the splices, with their texts: into bb as buckets, or (out
 * non-NULL) copied into out. */
static apr_size_t put_parts(apr_bucket_brigade *bb, char *out, const aop_body_t *b,
                            const aop_splice_t *const *sp, int n)
{
    apr_size_t at = 0, len = 0;
    int i;

    for (i = 0; i <= n; i++) {
        apr_size_t to = i < n ? sp[i]->from : b->len;

        if (out) {
            memcpy(out + len, b->data + at, to - at);
        }
        else {
            insert(bb, b->data + at, to - at);
        }
        len += to - at;
        if (i < n) {
            if (out) {
                memcpy(out + len, sp[i]->text, sp[i]->text_len);
            }
            else {
                insert(bb, sp[i]->text, sp[i]->text_len);
            }
            len += sp[i]->text_len;
            at = sp[i]->to;
        }
    }
    return len;
}

/* A small body with its splices, as one piece of r->pool, made once for every attempt
 * that sends the same (another instance's deployment makes it anew): the buckets of a
 * large one cost a small one about 4 KB more for a stream's life (measured; somewhere
 * on the way to the backend) than this copy does. */
static void insert_joined(apr_bucket_brigade *bb, aop_req_t *ctx,
                          const aop_splice_t *const *sp, int n)
{
    aop_body_t *b = &ctx->body;
    apr_size_t len = b->len;
    int i;

    if (!b->joined || b->joined_for != ctx->model_splice.text) {
        for (i = 0; i < n; i++) {
            len = len - (sp[i]->to - sp[i]->from) + sp[i]->text_len;
        }
        b->joined = apr_palloc(ctx->r->pool, len > 0 ? len : 1);
        b->joined_len = put_parts(NULL, (char *)b->joined, b, sp, n);
        b->joined_for = ctx->model_splice.text;
    }
    insert(bb, b->joined, b->joined_len);
}

/* The body as buckets: pointing into it (immortal: it outlives every brigade that
 * holds them, until aop_body_release, which empties mod_proxy_http's first), with
 * the splices' texts between its parts. */
static void insert_body(apr_bucket_brigade *bb, aop_req_t *ctx)
{
    const aop_body_t *b = &ctx->body;
    const aop_splice_t *sp[MAX_SPLICES];
    int n = splices(ctx, sp);

    if (!n) {
        insert(bb, b->data, b->len);
    }
    else if (!b->mapped) {
        insert_joined(bb, ctx, sp, n);
    }
    else {
        put_parts(bb, NULL, b, sp, n);
    }
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
    if (ctx->body.released && !ctx->body_delivered) {
        /* Never an empty body in place of the one given back: the attempt fails. */
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, f->r, AOPLOGNO(00262)
                      "the request body was asked for again after it was released");
        return APR_EGENERAL;
    }
    if (!ctx->body_delivered) {
        insert_body(bb, ctx);
    }
    if (mode != AP_MODE_SPECULATIVE) {
        ctx->body_delivered = 1;
    }
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(bb->bucket_alloc));
    return APR_SUCCESS;
}

/* Forgets what mod_proxy_http kept of an earlier attempt (its buckets point into the
 * body). */
static void forget_saved(request_rec *r)
{
    apr_bucket_brigade *saved = NULL;

    apr_pool_userdata_get((void **)&saved, PROXY_HTTP_SAVED_BODY, r->pool);
    if (saved) {
        apr_brigade_cleanup(saved);
    }
}

void aop_body_rewind(request_rec *r, aop_req_t *ctx)
{
    forget_saved(r);
    ctx->body_delivered = 0;
}

void aop_body_release(request_rec *r, aop_req_t *ctx)
{
    if (!ctx || ctx->body.released) {
        return;
    }
    ctx->body.released = 1;
    ctx->body.len = 0;
    ctx->splice = NULL;
    ctx->model_splice.text = NULL;
    if (!ctx->body.mapped) {
        /* r->pool's memory, which stays until the request's end: what mod_proxy_http
         * kept that points into it stays valid, and there is nothing to give back (the
         * cleanup, left on the pool's list, then finds nothing).  Looking up its kept
         * brigade and taking the cleanup off the list cost a small chat about 300
         * instructions (callgrind). */
        ctx->body.data = NULL;
        ctx->body.cap = 0;
        return;
    }
    forget_saved(r);
    /* Runs body_cleanup now (the mapping goes back) and takes it off r->pool's list. */
    apr_pool_cleanup_run(r->pool, &ctx->body, body_cleanup);
}

/* Added by its handle, as the hold filter is (mod_aoproxy_hold.c). */
static ap_filter_rec_t *replay_filter_handle;

void aop_body_replay_add(request_rec *r, aop_req_t *ctx)
{
    ap_add_input_filter_handle(replay_filter_handle, ctx, r, r->connection);
}

void aop_body_register_hooks(apr_pool_t *p)
{
    replay_filter_handle = ap_register_input_filter(AOP_BODY_FILTER, replay_filter, NULL,
                                                    AP_FTYPE_RESOURCE);
}
