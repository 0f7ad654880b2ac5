/* mod_proxy hooks: the backend URL of the chosen instance, its headers, the
 * per-attempt wrapper around the scheme handler, and OpenAI-shaped failures. */
#ifndef MOD_AOPROXY_PROXY_H
#define MOD_AOPROXY_PROXY_H

#include <httpd.h>

void aop_proxy_register_hooks(apr_pool_t *p);

#endif
