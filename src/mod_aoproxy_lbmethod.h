/* Our mod_proxy_balancer lbmethod provider: picks the instance for an attempt by the
 * configured strategy among those eligible, and reserves its token estimate. */
#ifndef MOD_AOPROXY_LBMETHOD_H
#define MOD_AOPROXY_LBMETHOD_H

#include <httpd.h>

#include "mod_aoproxy_request.h"

/* Before proxying, under the lock: picks the first attempt's instance and reserves
 * its estimate (the finder then takes it), so that "is there budget" and "this one"
 * are one decision.  OK, or HTTP_TOO_MANY_REQUESTS with *retry_after (budgets spent
 * or cooling down), or HTTP_SERVICE_UNAVAILABLE (none usable at all). */
int aop_lb_pick_first(request_rec *r, aop_req_t *ctx, apr_interval_time_t *retry_after);

/* When the earliest candidate will be able to take the request again. */
apr_interval_time_t aop_lb_retry_after(request_rec *r, const aop_req_t *ctx);

/* Whether another attempt of this request would find an instance: asked after a
 * failed attempt, so that mod_proxy is not sent back to a finder with nothing left. */
int aop_lb_next_exists(request_rec *r, const aop_req_t *ctx);

/* Ends the reservation of the current attempt: used tokens count in its window.
 * The _locked form is for callers that hold the shm lock already. */
void aop_lb_release(aop_req_t *ctx, apr_int64_t used);
void aop_lb_release_locked(aop_req_t *ctx, apr_int64_t used);

/* Slack beyond the instance's timeouts before a silent request's reservation is
 * given back by the sweep. */
#define AOP_RESV_SLACK apr_time_from_sec(2)

/* How long a reservation may go without a sign of life: twice the worker's timeout
 * (mod_proxy may wait that long to send the body, then as long for the answer's
 * first bytes; between later bytes it waits once), the connect timeout and
 * AOP_RESV_SLACK.  A live request is never that silent: mod_proxy gives up first. */
apr_interval_time_t aop_lb_reservation_span(const aop_req_t *ctx);

/* A sign of life of the request holding a reservation (answer bytes passed): its
 * deadline moves on by the span.  No lock, one store. */
void aop_lb_alive(aop_req_t *ctx, apr_time_t now);

void aop_lbmethod_register_hooks(apr_pool_t *p);

/* post_config: fetch mod_proxy's optional functions, failing loudly without it. */
int aop_lbmethod_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                             server_rec *s);

#endif
