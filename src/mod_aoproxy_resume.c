/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <http_protocol.h>
#include <util_filter.h>

#include "mod_aoproxy_private.h"
#include "mod_aoproxy_errors.h"
#include "mod_aoproxy_lbmethod.h"
#include "mod_aoproxy_outcome.h"
#include "mod_aoproxy_reservations.h"
#include "mod_aoproxy_resume.h"
#include "mod_aoproxy_stats.h"
#include "mod_aoproxy_stream_timer.h"

int aop_resume_possible(const aop_req_t *ctx)
{
    const aop_route_t *rt;

    if (ctx->op != AOP_OP_CHAT || !ctx->info.stream || ctx->info.n != 1
        || !ctx->info.messages_end || !ctx->view) {
        return 0;
    }
    rt = aop_route_find(ctx->view->routes, ctx->info.model);
    return rt && rt->resumes;
}

/* Whether an instance that resumes is ready for the next attempt. */
static int resumer_ready(request_rec *r, aop_req_t *ctx)
{
    int was = ctx->resuming, ready;

    ctx->resuming = 1;                  /* the pick leaves out the others */
    ready = aop_lb_next_exists(r, ctx);
    ctx->resuming = was;
    return ready;
}

int aop_resume_take(request_rec *r, aop_req_t *ctx, aop_usage_parser_t *up)
{
    const char *text;
    apr_size_t len;

    if (!ctx->resumable || ctx->resume_over || r->connection->aborted
        || !(text = aop_usage_text(up, &len)) || !resumer_ready(r, ctx)) {
        return 0;
    }
    aop_usage_drop_partial(up);
    ctx->resume_text = text;
    ctx->resume_len = len;
    ctx->resume_wanted = 1;
    return 1;
}

/* The prefill goes into the body that every following attempt replays (a resumable
 * request has a messages array: aop_resume_possible).  With no text yet (cut before
 * the first word), there is nothing to continue: the resume is the request as it was. */
static void plan_prefill(request_rec *r, aop_req_t *ctx)
{
    if (ctx->resume_len > 0) {
        aop_request_prefill(r->pool, &ctx->info, ctx->resume_text, ctx->resume_len,
                            &ctx->prefill);
        ctx->body.joined = NULL;        /* a joined copy without it is out of date */
    }
}

/* The client gets the break after all: the error event, then the answer's end. */
static void end_with_break(request_rec *r, aop_req_t *ctx)
{
    apr_bucket_brigade *bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);

    ctx->resume_over = 1;
    ctx->resuming = 0;
    ctx->broken = 1;
    r->status = HTTP_OK;
    APR_BRIGADE_INSERT_TAIL(bb, aop_broken_stream_event(bb->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(bb->bucket_alloc));
    ap_pass_brigade(r->output_filters, bb);
}

int aop_resume_next(request_rec *r, aop_req_t *ctx)
{
    int stalled = ctx->stream_timeout == AOP_STREAM_TIMEOUT_IDLE, rested;
    apr_time_t until;

    ctx->resume_wanted = 0;
    rested = aop_outcome_unreachable(ctx, stalled ? HTTP_GATEWAY_TIME_OUT : HTTP_BAD_GATEWAY,
                                     1, &until);
    aop_reservation_release(ctx, 0);
    aop_stats_attempt(r, ctx, HTTP_OK, stalled ? AOP_KIND_TIMEOUT : AOP_KIND_TRUNCATED, 1,
                      rested);
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, AOPLOGNO(00342)
                  "instance %s %s a stream for model %s after %" APR_SIZE_T_FMT " bytes of "
                  "text: resuming it on another instance (stream_resume)", ctx->inst->name,
                  stalled ? "went silent in" : "broke off", ctx->info.model, ctx->resume_len);
    ctx->broken = 0;
    ctx->resuming = 1;
    plan_prefill(r, ctx);
    if (!aop_lb_next_exists(r, ctx)) {
        end_with_break(r, ctx);
        return 0;
    }
    return 1;
}

int aop_resume_failed(request_rec *r, aop_req_t *ctx, int status, int answered)
{
    apr_time_t until;
    int rested = answered ? aop_outcome_note(r, ctx, status)
                          : aop_outcome_unreachable(ctx, status, 1, &until);
    int next = aop_lb_next_exists(r, ctx);

    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, AOPLOGNO(00343)
                  "instance %s did not resume the stream for model %s (%d): %s",
                  ctx->inst->name, ctx->info.model, status,
                  next ? "trying the next instance that resumes"
                       : "the client gets the original break");
    ctx->broken = ctx->dropped = 0;
    aop_reservation_release(ctx, 0);
    aop_stats_attempt(r, ctx, status, aop_stats_kind(status, 0), next, rested);
    if (!next) {
        end_with_break(r, ctx);
    }
    return next;
}
