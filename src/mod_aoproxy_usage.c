/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <apr_strings.h>

#include <http_protocol.h>
#include <util_filter.h>
#include <http_request.h>

#include "aop_sat.h"
#include "aop_usage.h"
#include "aop_event_stream.h"
#include "mod_aoproxy_private.h"
#include "mod_aoproxy_ctx.h"
#include "mod_aoproxy_errors.h"
#include "mod_aoproxy_fallback.h"
#include "mod_aoproxy_reservations.h"
#include "mod_aoproxy_responses.h"
#include "mod_aoproxy_resume.h"
#include "mod_aoproxy_stats.h"
#include "mod_aoproxy_usage.h"

typedef struct usage_filter_t {
    aop_req_t *req;
    aop_usage_parser_t *parser;      /* NULL: this answer is not parsed */
    aop_usage_parser_t *refusal;     /* an instance's 400, read for the content filter's
                                      * codes (no usage) */
    int strip;
    apr_bucket_brigade *out;         /* strip mode (else NULL): what goes on */
    apr_bucket_brigade *fed;         /* strip mode (else NULL): the buckets read, kept
                                      * until what points into them has gone on */
    const char *piece;               /* strip mode: the data of the bucket being fed */
    apr_size_t piece_len;
    int told;                        /* the Responses API: where the new response lives
                                      * was noted (aop_responses_answered) */
} usage_filter_t;

static int is_event_stream(const request_rec *r)
{
    return aop_is_event_stream(r->content_type);
}

static usage_filter_t *filter_ctx(ap_filter_t *f)
{
    usage_filter_t *uf = f->ctx;
    request_rec *r = f->r;
    int sse;

    if (uf) {
        return uf;
    }
    uf = f->ctx = apr_pcalloc(r->pool, sizeof(*uf));
    uf->req = aop_req_get(r);
    if (uf->req && uf->req->inst) {
        aop_fallback_headers(r, uf->req);      /* before the headers go out */
    }
    if (uf->req && uf->req->by_id && uf->req->inst && r->status >= 200 && r->status < 300) {
        /* A stored response's: found where it was looked for, or deleted.  Its events
         * (a replay) were counted when it was made: no usage read. */
        aop_responses_answered(r, uf->req, NULL);
        uf->told = 1;
    }
    else if (uf->req && uf->req->inst && r->status >= 200 && r->status < 300) {
        sse = is_event_stream(r);
        /* A stream that may resume is held an event at a time too (strip mode), so that
         * a cut one never gives the client half an event. */
        uf->strip = sse && (uf->req->injected_usage || uf->req->resumable);
        if (uf->strip) {
            /* We take bytes out: Azure's length no longer holds (the headers are
             * still to be sent, downstream of this filter). */
            apr_table_unset(r->headers_out, "Content-Length");
        }
        uf->parser = aop_usage_parser_create(r->pool, sse, uf->strip);
        if (uf->req->op == AOP_OP_RESPONSES) {
            aop_usage_want_id(uf->parser);
        }
        if (uf->strip && uf->req->resumable) {
            aop_usage_keep_text(uf->parser, AOP_RESUME_MAX_TEXT);
            if (!uf->req->injected_usage) {
                aop_usage_keep_usage_chunk(uf->parser);
            }
        }
        if (uf->strip) {
            /* Only strip mode takes the buckets apart (two brigades are two
             * allocations and two pool cleanups a request). */
            uf->out = apr_brigade_create(r->pool, f->c->bucket_alloc);
            uf->fed = apr_brigade_create(r->pool, f->c->bucket_alloc);
        }
    }
    else if (uf->req && uf->req->inst && r->status == HTTP_BAD_REQUEST) {
        uf->refusal = aop_usage_parser_create(r->pool, 0, 0);
    }
    return uf;
}

/* An instance's 400 passes as it is; its bytes are read on the way for the content
 * filter's codes, so that such refusals count apart (AOP_KIND_CONTENT_FILTER).  The
 * scanner stops at the end of the JSON document, and an error body is small. */
static void read_refusal(usage_filter_t *uf, request_rec *r, apr_bucket_brigade *bb)
{
    apr_bucket *b;
    const char *data;
    apr_size_t len;

    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb); b = APR_BUCKET_NEXT(b)) {
        if (APR_BUCKET_IS_EOS(b)) {
            uf->req->content_filtered = aop_usage_content_filter(uf->refusal);
            aop_stats_finish(r, uf->req);
        }
        else if (!APR_BUCKET_IS_METADATA(b)
                 && apr_bucket_read(b, &data, &len, APR_BLOCK_READ) == APR_SUCCESS) {
            aop_usage_feed(uf->refusal, data, len, NULL, NULL);
        }
    }
}

/* What goes on.  Bytes of the bucket being fed (nearly all: every event that came
 * whole in one read) go as a transient bucket pointing into it, as mod_proxy_http
 * hands over its own reads: the bucket is kept (uf->fed) until the brigade has been
 * passed, and the core copies only what it cannot write at once.  A copy here would
 * cost each stream a heap bucket's 8 KB node in its connection's allocator.  Bytes
 * of the parser's own buffer (an event that arrived in pieces), which the next
 * event may overwrite, are copied. */
static apr_status_t emit(void *baton, const char *data, apr_size_t len)
{
    usage_filter_t *uf = baton;

    if (len && uf->piece && data >= uf->piece && data + len <= uf->piece + uf->piece_len) {
        APR_BRIGADE_INSERT_TAIL(uf->out, apr_bucket_transient_create(data, len,
                                                                     uf->out->bucket_alloc));
        return APR_SUCCESS;
    }
    return apr_brigade_write(uf->out, NULL, NULL, data, len);
}

/* The tokens to count: Azure's usage, else an estimate (prompt from the request,
 * completion from the text seen at about four characters a token). */
static void account(usage_filter_t *uf)
{
    aop_usage_t u;
    aop_req_t *req = uf->req;

    aop_usage_get(uf->parser, &u);
    if (u.found) {
        req->used_prompt = u.prompt_tokens;
        req->used_completion = u.completion_tokens;
        req->used_tokens = u.total_tokens;
        req->usage_estimated = 0;
    }
    else {
        req->used_prompt = req->info.prompt_estimate;
        req->used_completion = aop_usage_content_chars(uf->parser) / 4
                               + (aop_usage_content_chars(uf->parser) % 4 != 0);
        req->used_tokens = aop_sat_add_nonneg(req->used_prompt, req->used_completion);
        req->usage_estimated = 1;
    }
}

/* finish: the parser still holds the partial event (strip mode): out with it first. */
static void announce_broken_stream(usage_filter_t *uf, apr_bucket *before, int finish)
{
    apr_bucket_alloc_t *ba = before->list;
    apr_bucket *ev = aop_broken_stream_event(ba);

    if (uf->strip) {
        if (finish) {
            aop_usage_finish(uf->parser, emit, uf);
        }
        APR_BRIGADE_INSERT_TAIL(uf->out, ev);
        APR_BRIGADE_INSERT_TAIL(uf->out, apr_bucket_flush_create(ba));
    }
    else {
        APR_BUCKET_INSERT_BEFORE(before, ev);
        APR_BUCKET_INSERT_BEFORE(before, apr_bucket_flush_create(ba));
    }
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, uf->req->r, AOPLOGNO(00047)
                  "instance %s broke off a stream for model %s; the client got an error "
                  "event", uf->req->inst ? uf->req->inst->name : "?", uf->req->info.model);
}

static int is_sse_unfinished(const usage_filter_t *uf)
{
    return aop_usage_events(uf->parser) > 0 && !aop_usage_saw_done(uf->parser);
}

/* The answer ends (the parser is finished): a stream without its [DONE] was cut,
 * though its HTTP end looked clean, unless the client went away (mod_proxy_http
 * stopped reading then, and the instance is not to blame). */
static void check_complete(usage_filter_t *uf, ap_filter_t *f, apr_bucket *eos)
{
    if (uf->req->broken || !is_event_stream(f->r) || aop_usage_saw_done(uf->parser)
        || f->c->aborted) {
        return;
    }
    uf->req->broken = 1;
    if (aop_usage_events(uf->parser) > 0) {
        announce_broken_stream(uf, eos, 0);
    }
}

/* A new response's id is remembered as soon as it is read, before the client can have
 * it (and name it in its next call, maybe to another process); at the end, with none
 * seen, the conversation or looked-up id still is. */
static void tell_where(usage_filter_t *uf, int at_end)
{
    const char *id;

    if (uf->told || uf->req->op != AOP_OP_RESPONSES) {
        return;
    }
    id = aop_usage_id(uf->parser);
    if (id || at_end) {
        aop_responses_answered(uf->req->r, uf->req, id);
        uf->told = 1;
    }
}

/* whole: the answer's end follows b (a held answer comes so, mod_aoproxy_hold.c). */
static apr_status_t feed_bucket(usage_filter_t *uf, apr_bucket *b, int whole)
{
    const char *data;
    apr_size_t len;
    apr_status_t rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (len && uf->req->ttfb < 0 && is_event_stream(uf->req->r)) {
        uf->req->ttfb = apr_time_now() - uf->req->attempt_start;
    }
    if (len && uf->req->resv_tracked) {
        aop_reservation_alive(uf->req, apr_time_now());
    }
    uf->piece = data;
    uf->piece_len = len;
    rv = (whole ? aop_usage_feed_whole : aop_usage_feed)(uf->parser, data, len,
                                                          uf->strip ? emit : NULL, uf);
    uf->piece = NULL;
    tell_where(uf, 0);
    return rv;
}

/* The stream ended without its end ([DONE], or the Responses API's last event),
 * though its HTTP end looked clean: cut, unless the client went away. */
static int ended_early(usage_filter_t *uf, ap_filter_t *f)
{
    return is_event_stream(f->r) && !aop_usage_saw_done(uf->parser) && !f->c->aborted;
}

/* The stream broke at b and goes on elsewhere (mod_aoproxy_resume.c): the break (the
 * error bucket, the EOS) goes nowhere, the client keeps its connection and its
 * answer, and what it got so far goes out now. */
static void hand_over(usage_filter_t *uf, apr_bucket_brigade *bb, apr_bucket *b)
{
    while (b != APR_BRIGADE_SENTINEL(bb)) {
        apr_bucket *next = APR_BUCKET_NEXT(b);

        apr_bucket_delete(b);
        b = next;
    }
    APR_BRIGADE_INSERT_TAIL(uf->out, apr_bucket_flush_create(uf->out->bucket_alloc));
}

static apr_status_t usage_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    usage_filter_t *uf = filter_ctx(f);
    apr_bucket *b, *next;
    apr_status_t rv;

    if (uf->refusal) {
        read_refusal(uf, f->r, bb);
        return ap_pass_brigade(f->next, bb);
    }
    if (!uf->parser) {
        /* Not an answer of Azure's to read (our own, or an error): only its end
         * matters, for the statistics. */
        if (uf->req && !APR_BRIGADE_EMPTY(bb) && APR_BUCKET_IS_EOS(APR_BRIGADE_LAST(bb))) {
            aop_stats_finish(f->r, uf->req);
        }
        return ap_pass_brigade(f->next, bb);
    }
    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb); b = next) {
        next = APR_BUCKET_NEXT(b);
        if ((AP_BUCKET_IS_ERROR(b) || (APR_BUCKET_IS_EOS(b) && ended_early(uf, f)))
            && uf->strip && aop_resume_take(f->r, uf->req, uf->parser)) {
            hand_over(uf, bb, b);
            break;
        }
        if (AP_BUCKET_IS_ERROR(b)) {
            /* mod_proxy_http: the instance broke off after bytes had gone out. */
            uf->req->broken = 1;
            if (is_sse_unfinished(uf)) {
                announce_broken_stream(uf, b, 1);
            }
        }
        else if (APR_BUCKET_IS_EOS(b)) {
            aop_usage_finish(uf->parser, uf->strip ? emit : NULL, uf);
            tell_where(uf, 1);
            check_complete(uf, f, b);
            account(uf);
            uf->req->content_filtered = aop_usage_content_filter(uf->parser);
            aop_stats_finish(f->r, uf->req);
        }
        else if (!APR_BUCKET_IS_METADATA(b)
                 && (rv = feed_bucket(uf, b, next != APR_BRIGADE_SENTINEL(bb)
                                             && APR_BUCKET_IS_EOS(next))) != APR_SUCCESS) {
            /* What went to out may point into buckets this call's caller frees. */
            if (uf->strip) {
                apr_brigade_cleanup(uf->out);
                apr_brigade_cleanup(uf->fed);
            }
            return rv;
        }
        if (uf->strip) {
            /* Data went out through emit(); metadata (FLUSH, EOS) keeps its place. */
            APR_BUCKET_REMOVE(b);
            APR_BRIGADE_INSERT_TAIL(APR_BUCKET_IS_METADATA(b) ? uf->out : uf->fed, b);
        }
    }
    if (!uf->strip) {
        return ap_pass_brigade(f->next, bb);
    }
    rv = ap_pass_brigade(f->next, uf->out);
    apr_brigade_cleanup(uf->out);
    apr_brigade_cleanup(uf->fed);
    return rv;
}

/* Added by its handle, as the hold filter is (mod_aoproxy_hold.c). */
static ap_filter_rec_t *usage_filter_handle;

void aop_usage_filter_add(request_rec *r)
{
    ap_add_output_filter_handle(usage_filter_handle, NULL, r, r->connection);
}

void aop_usage_register_hooks(apr_pool_t *p)
{
    usage_filter_handle = ap_register_output_filter(AOP_USAGE_FILTER, usage_filter, NULL,
                                                    AP_FTYPE_RESOURCE);
}
