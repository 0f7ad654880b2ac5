/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The per-request state of a proxied OpenAI call (as mod_h2's h2_conn_ctx is of a
 * connection): made by the fixups hook, found again by every later hook and filter
 * through aop_req_get(), gone with r->pool.
 *
 * The fields are grouped by who writes them; everyone else only reads them.  A field
 * written in two places says so. */
#ifndef MOD_AOPROXY_CTX_H
#define MOD_AOPROXY_CTX_H

#include <httpd.h>

#include "aop_request.h"
#include "aop_resv.h"
#include "aop_route.h"
#include "mod_aoproxy_config.h"
#include "mod_aoproxy_view.h"

/* The request body (mod_aoproxy_body.c): one buffer, from r->pool when small, mapped
 * when large, given back by aop_body_release. */
typedef struct aop_body_t {
    char *data;                           /* NULL once released */
    apr_size_t len;
    apr_size_t cap;
    int mapped;                           /* data is from aop_bigbuf_get, cap bytes */
    int released;                         /* no failover can need it any more: gone */
    const char *joined;                   /* a small body with its splices, r->pool */
    apr_size_t joined_len;
    const char *joined_for;               /* ... made with this model splice text */
} aop_body_t;

struct aop_shm_inst_t;
struct proxy_worker;

typedef struct aop_req_t {
    /* ---- the request hook (mod_aoproxy_request.c, fixups), once; the body replay
     * filter (mod_aoproxy_body.c) reads the body in and marks it handed out, and
     * aop_body_release (called by the hold filter) gives it back */
    request_rec *r;
    aop_srv_conf_t *sc;
    aop_view_t *view;                     /* the instances this request started with */
    aop_op_e op;
    aop_path_t path;                      /* what the client's path names */
    const char *model_id;                 /* /v1/models/{id} */
    aop_request_info_t info;              /* model, stream, estimate... of the body */
    int injected_usage;                   /* we asked Azure for stream usage, not the client */
    aop_body_t body;                      /* the request body as the client sent it */
    const aop_splice_t *splice;           /* the change to send with it (&info.usage_splice),
                                           * NULL = none */
    int body_delivered;                   /* the replay filter handed it out already */
    const aop_route_t *route;             /* the model's, in view->routes */
    const apr_array_header_t *candidates; /* route->candidates: indices into
                                           * view->cfg->instances */
    /* ---- the Responses API (mod_aoproxy_responses.c), in fixups */
    const char *stored_id;                /* the stored response (or conversation) the
                                           * request names, NULL = none */
    int pinned;                           /* the instance that holds it, -1 = none known */
    int lookup;                           /* not known: the instances are asked in turn,
                                           * and "not here" moves on */
    int by_id;                            /* a call on a stored response: no body model,
                                           * no tokens */
    /* ---- fallbacks (mod_aoproxy_fallback.c): info.model is the model being tried */
    const char *asked_model;              /* the client's (aliases resolved) */
    int fallback_at;                      /* fallbacks used up */
    int waited;                           /* waited once for a Retry-After */
    int context_at;                       /* context window fallbacks used up */
    const char *context_from;             /* the model whose context was exceeded */
    int context_exceeded;                 /* the hold filter took Azure's
                                           * context_length_exceeded: move on */
    int err_status;                       /* a local error answer, 0 = none */
    const char *err_body;

    /* ---- the pick (mod_aoproxy_lbmethod.c: aop_lb_pick_first in fixups, then the
     * finder for each attempt) */
    unsigned char *tried;                 /* per instance index: attempted already */
    int chosen;                           /* instance index of this attempt, -1 = none */
    int preselected;                      /* picked (and reserved) in fixups, -1 = none */
    int probes_ignored;                   /* this pick may take an instance whose probe
                                           * is out */
    int probe_blocked;                    /* ... and one was left out for that alone */
    const aop_instance_t *inst;           /* the instance of this attempt */
    const char *deployment;               /* its deployment for the model */
    struct {                              /* the last (instance, model) pair looked up
                                           * (aop_req_pair, aop_req_limits): a request
                                           * asks for its pair six times, each a hash
                                           * and a name search */
        int idx;
        const char *model;                /* NULL = nothing cached */
        int slot;                         /* the pair's slot, -1 = none */
        const aop_deployment_limits_t *limits;
        const char *deployment;
    } pair_memo;
    aop_splice_t model_splice;            /* the body's model made the deployment, for
                                           * this attempt (mod_aoproxy_proxy.c's canon);
                                           * text NULL = none */

    /* ---- the token reservation of the pick (mod_aoproxy_reservations.c) */
    struct aop_shm_inst_t *reserved_in;   /* the instance holding our token reservation */
    struct aop_shm_pair_t *reserved_pair; /* ... and its deployment (the model's pair) */
    apr_int64_t reserved;                 /* its amount */
    aop_resv_ticket_t ticket;             /* its record (owner, deadline): aop_resv.h */
    int resv_tracked;                     /* ticket names a record (else the table was full) */
    apr_interval_time_t resv_span;        /* how far ahead each sign of life moves its
                                           * deadline */

    /* ---- each attempt (mod_aoproxy_proxy.c, the scheme handler wrapper); the hold
     * filter (mod_aoproxy_hold.c) marks an answer broken or dropped, the usage filter
     * (mod_aoproxy_usage.c) a stream broken and its first byte */
    int attempts;
    apr_time_t attempt_start;             /* when the current attempt began */
    int last_status;                      /* what the last attempt's scheme handler said */
    const char *failed;                   /* "name (status), ...": attempts that failed */
    struct proxy_worker *soft_failed;     /* put in error by mod_proxy only to fail over */
    int in_scheme_handler;                /* re-entrancy guard of our wrapper */
    int broken;                           /* the current attempt's answer broke off */
    int dropped;                          /* ... and the client got none of it */
    apr_interval_time_t ttfb;             /* streams: first byte of the answer, -1 = none */
    int stream_timeout;                   /* aop_stream_timeout_e: a limit of ours ended
                                           * the answer (mod_aoproxy_stream_timer.c) */

    /* ---- resuming a cut stream (mod_aoproxy_resume.c) */
    int resumable;                        /* its stream may resume if cut: the body is
                                           * kept past the first byte */
    int resume_wanted;                    /* the usage filter took a cut stream over */
    int resuming;                         /* the attempts continue it: only deployments
                                           * with stream_resume are picked */
    int resume_over;                      /* it was given up: the client had the break */
    const char *resume_text;              /* what the client got of the answer's text */
    apr_size_t resume_len;
    aop_splice_t prefill;                 /* that text as the assistant's message */

    /* ---- the usage filter (mod_aoproxy_usage.c), as the answer passes */
    apr_int64_t used_tokens;              /* what the answer used (or an estimate) */
    apr_int64_t used_prompt;              /* ... of which prompt */
    apr_int64_t used_completion;          /* ... and completion */
    int usage_estimated;                  /* no usage in the answer: used_tokens guessed */
    int content_filtered;                 /* Azure's content filter spoke in the answer:
                                           * a 400 refused the prompt, a 2xx was cut
                                           * (aop_usage_content_filter) */

    /* ---- the statistics (mod_aoproxy_stats.c) */
    int attempt_recorded;                 /* the current attempt is in the statistics
                                           * (the wrapper clears it for each attempt) */
    int cooldowns;                        /* cooldowns its attempts started */
    int finished;                         /* the request is in the statistics */
} aop_req_t;

/* fixups: this request's state, nothing picked yet, kept in r->request_config. */
aop_req_t *aop_req_make(request_rec *r);

/* The state of a request of ours, or NULL (not an OpenAI call under AOProxy On). */
aop_req_t *aop_req_get(const request_rec *r);

/* The shared record of candidate idx's deployment of the model being tried
 * (aop_shm_pair), its limits (aop_instance_limits) and its name
 * (aop_instance_deployment): remembered for the last
 * candidate asked, a cache that does not change what ctx says (hence const). */
struct aop_shm_pair_t *aop_req_pair(const aop_req_t *ctx, int idx);
int aop_req_pair_slot(const aop_req_t *ctx, int idx);
const aop_deployment_limits_t *aop_req_limits(const aop_req_t *ctx, int idx);
const char *aop_req_deployment(const aop_req_t *ctx, int idx);

#endif
