/* Our mod_proxy_balancer lbmethod provider: picks the instance for an attempt. */
#ifndef MOD_AOPROXY_LBMETHOD_H
#define MOD_AOPROXY_LBMETHOD_H

#include <httpd.h>

void aop_lbmethod_register_hooks(apr_pool_t *p);

/* post_config: fetch mod_proxy's optional functions, failing loudly without it. */
int aop_lbmethod_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                             server_rec *s);

#endif
