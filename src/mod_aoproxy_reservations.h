/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* A request's token reservation (aop_tpm.h: the estimate held in its instance's
 * window from the pick until the answer's usage replaces it), with its record in
 * shared memory (aop_resv.h: owner and deadline), so that one whose process died or
 * stalled is given back by the parent's sweep rather than held for good. */
#ifndef MOD_AOPROXY_RESERVATIONS_H
#define MOD_AOPROXY_RESERVATIONS_H

#include <httpd.h>

#include "mod_aoproxy_ctx.h"

/* Slack beyond the instance's timeouts before a silent request's reservation is
 * given back by the sweep. */
#define AOP_RESV_SLACK apr_time_from_sec(2)

/* Caller holds the shm lock: reserves the request's estimate in instance idx (of
 * ctx->view) for the attempt just picked, recorded with this process as its owner. */
void aop_reservation_take_locked(aop_req_t *ctx, int idx, apr_time_t now);

/* Ends the reservation of the current attempt: used tokens count in its window.
 * The _locked form is for callers that hold the shm lock already. */
void aop_reservation_release(aop_req_t *ctx, apr_int64_t used);
void aop_reservation_release_locked(aop_req_t *ctx, apr_int64_t used);

/* How long a reservation may go without a sign of life: twice the worker's timeout
 * (mod_proxy may wait that long to send the body, then as long for the answer's
 * first bytes; between later bytes it waits once), the connect timeout and
 * AOP_RESV_SLACK.  A live request is never that silent: mod_proxy gives up first. */
apr_interval_time_t aop_reservation_span(const aop_req_t *ctx);

/* A sign of life of the request holding a reservation (answer bytes passed): its
 * deadline moves on by the span.  No lock, one store. */
void aop_reservation_alive(aop_req_t *ctx, apr_time_t now);

/* The parent's sweep, once a second (httpd's monitor hook, run by the MPM in its
 * maintenance loop: never on a request's path): gives back the reservations of
 * requests whose process ended or stalled, and reports locks of the shared state
 * taken over since the last sweep. */
void aop_reservations_sweep(server_rec *s);

#endif
