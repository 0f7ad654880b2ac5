/* mod_proxy hooks: the backend URL of the chosen instance, its headers, the
 * per-attempt wrapper around the scheme handler, and OpenAI-shaped failures. */
#ifndef MOD_AOPROXY_PROXY_H
#define MOD_AOPROXY_PROXY_H

#include <httpd.h>

#include "mod_aoproxy_request.h"

/* Takes back the error state mod_proxy gave a worker only so that the request
 * would move on (see aop_scheme_handler): one bad answer does not put an instance
 * out of service for mod_proxy's whole retry interval. */
void aop_proxy_restore_soft_failed(aop_req_t *ctx);

/* Makes mod_proxy_http hand Azure's error statuses to us instead of the client, for
 * this request only: each becomes a failover or an error of ours. */
void aop_proxy_override_errors(request_rec *r);

void aop_proxy_register_hooks(apr_pool_t *p);

int aop_proxy_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                          server_rec *s);

#endif
