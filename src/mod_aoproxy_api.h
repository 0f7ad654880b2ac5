/* The JSON management API (SetHandler aoproxy-api): a table of method + path
 * routes; later features add their routes to it. */
#ifndef MOD_AOPROXY_API_H
#define MOD_AOPROXY_API_H

#include <httpd.h>

void aop_api_register_hooks(apr_pool_t *p);

#endif
