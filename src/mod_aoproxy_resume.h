/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Resuming a cut stream (stream_resume, docs/balancing.md "Resuming a cut stream"):
 * a chat stream that breaks after the client had part of it goes on, on an instance
 * whose deployment of the model continues an assistant prefill, with the text the
 * client already has as that prefill, so that the client gets one whole answer.
 * Opt-in per deployment: Azure's GPT deployments do not continue prefills. */
#ifndef MOD_AOPROXY_RESUME_H
#define MOD_AOPROXY_RESUME_H

#include <httpd.h>

#include "aop_usage.h"
#include "mod_aoproxy_ctx.h"

/* The most text a stream may have sent and still be resumed (the prefill). */
#define AOP_RESUME_MAX_TEXT (256 * 1024)

/* fixups: whether this request's stream could resume if cut (a chat stream of one
 * choice, with messages, whose model has a deployment with stream_resume).  Such a
 * request keeps its body past the answer's first byte. */
int aop_resume_possible(const aop_req_t *ctx);

/* The usage filter: the stream broke (mod_proxy_http's error, or an end without
 * [DONE]).  Returns 1 when it is taken over for a resume: the event being read is
 * forgotten, nothing of the break goes to the client, and the scheme handler's
 * wrapper goes on (aop_resume_next); 0: the client gets the break as before. */
int aop_resume_take(request_rec *r, aop_req_t *ctx, aop_usage_parser_t *up);

/* The wrapper, after an attempt whose stream was taken over: counts the cut attempt
 * and plans the resume.  Returns 1 when an instance that resumes is to be tried
 * next; 0 when none is left, and the client got the break (the answer is over). */
int aop_resume_next(request_rec *r, aop_req_t *ctx);

/* The wrapper, after a resuming attempt that failed before its first byte (status:
 * its error answer, answered set; or 502/504 when none came; a refused prefill is
 * an answer): the instance's outcome is noted as for any attempt; 1 when
 * the next instance that resumes is to be tried; 0 when none is left, and the client
 * got the original break as it would have without a resume (the stream_interrupted
 * event): never the resume's own error. */
int aop_resume_failed(request_rec *r, aop_req_t *ctx, int status, int answered);

#endif
