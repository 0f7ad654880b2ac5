/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* POST /instances/verify/{name}: dns, connect (and TLS), the key and every
 * deployment of one instance, checked without spending a token.  The handler,
 * aop_api_post_instance_verify(), is declared with the API's others in
 * mod_aoproxy_api_handlers.h; the probes' meaning is in aop_verify.h. */
#ifndef MOD_AOPROXY_API_VERIFY_H
#define MOD_AOPROXY_API_VERIFY_H

#include <apr_pools.h>

/* pre_config (mod_aoproxy_startup.c): libcurl's global set-up, once per
 * configuration cycle in the parent, undone when the configuration pool goes. */
void aop_api_verify_init(apr_pool_t *pconf, apr_pool_t *plog);

#endif
