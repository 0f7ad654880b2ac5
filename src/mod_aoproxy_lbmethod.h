/* Our mod_proxy_balancer lbmethod provider: picks the instance for an attempt. */
#ifndef MOD_AOPROXY_LBMETHOD_H
#define MOD_AOPROXY_LBMETHOD_H

#include <httpd.h>

#include "mod_aoproxy_request.h"

/* Whether another attempt of this request would find an instance: asked after a
 * failed attempt, so that mod_proxy is not sent back to a finder with nothing left. */
int aop_lb_next_exists(request_rec *r, const aop_req_t *ctx);

void aop_lbmethod_register_hooks(apr_pool_t *p);

/* post_config: fetch mod_proxy's optional functions, failing loudly without it. */
int aop_lbmethod_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                             server_rec *s);

#endif
