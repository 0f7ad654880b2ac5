/* Defines balancer://aoproxy and one mod_proxy worker per instance, at start-up,
 * the way <Proxy balancer://...> and BalancerMember would. */
#ifndef MOD_AOPROXY_BALANCER_H
#define MOD_AOPROXY_BALANCER_H

#include <httpd.h>

/* post_config, ordered after mod_proxy's and before mod_proxy_balancer's (which
 * puts the balancers it finds into shared memory). */
int aop_balancer_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                             server_rec *s);

void aop_balancer_register_hooks(apr_pool_t *p);

#endif
