/* The per-request state of a proxied OpenAI call, from the fixups hook that reads
 * the body to the hooks that pick, address and account for an instance. */
#ifndef MOD_AOPROXY_REQUEST_H
#define MOD_AOPROXY_REQUEST_H

#include <httpd.h>

#include "aop_request.h"
#include "aop_resv.h"
#include "mod_aoproxy_config.h"
#include "mod_aoproxy_live.h"

typedef struct aop_req_t {
    request_rec *r;
    aop_srv_conf_t *sc;
    struct aop_live_t *live;              /* the instances this request started with */
    aop_op_e op;
    const char *model_id;                 /* /v1/models/{id} */
    aop_request_info_t info;
    int injected_usage;                   /* we asked Azure for stream usage, not the client */
    const char *body;                     /* the request body to send, r->pool */
    apr_size_t body_len;
    int body_delivered;                   /* the replay filter handed it out already */
    const aop_route_t *route;           /* the model's, in live->routes */
    const apr_array_header_t *candidates; /* route->candidates: indices into live->cfg->instances */
    unsigned char *tried;                 /* per instance index: attempted already */
    int chosen;                           /* instance index of this attempt, -1 = none */
    int preselected;                      /* picked (and reserved) in fixups, -1 = none */
    int probes_ignored;                   /* this pick may take an instance whose probe is out */
    int probe_blocked;                    /* ... and one was left out for that alone */
    const aop_instance_t *inst;           /* the instance of this attempt */
    const char *deployment;               /* its deployment for the model */
    struct aop_shm_inst_t *reserved_in;   /* the instance holding our token reservation */
    apr_int64_t reserved;                 /* its amount */
    aop_resv_ticket_t ticket;             /* its record (owner, deadline): aop_resv.h */
    int resv_tracked;                     /* ticket names a record (else the table was full) */
    apr_interval_time_t resv_span;        /* how far ahead each sign of life moves its deadline */
    int attempts;
    int cooldowns;                        /* cooldowns its attempts started */
    const char *failed;                   /* "name (status), ...": attempts that failed */
    int last_status;                      /* what the last attempt's scheme handler said */
    struct proxy_worker *soft_failed;     /* put in error by mod_proxy only to fail over */
    int in_scheme_handler;                /* re-entrancy guard of our wrapper */
    apr_int64_t used_tokens;              /* what the answer used (or an estimate) */
    apr_int64_t used_prompt;              /* ... of which prompt */
    apr_int64_t used_completion;          /* ... and completion */
    int usage_estimated;                  /* no usage in the answer: used_tokens guessed */
    apr_time_t attempt_start;             /* when the current attempt began */
    int attempt_recorded;                 /* the current attempt is in the statistics */
    int broken;                           /* the current attempt's answer broke off */
    int dropped;                          /* ... and the client got none of it */
    int finished;                         /* the request is in the statistics */
    apr_interval_time_t ttfb;             /* streams: first byte of the answer, -1 = none */
    int err_status;                       /* a local error answer, 0 = none */
    const char *err_body;
} aop_req_t;

aop_req_t *aop_req_get(const request_rec *r);

void aop_request_register_hooks(apr_pool_t *p);

#endif
