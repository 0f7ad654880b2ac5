/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* mod_proxy hooks: the backend URL of the chosen instance, its headers, the
 * per-attempt wrapper around the scheme handler, and OpenAI-shaped failures. */
#ifndef MOD_AOPROXY_PROXY_H
#define MOD_AOPROXY_PROXY_H

#include <httpd.h>

/* Makes mod_proxy_http hand Azure's error statuses to us instead of the client, for
 * this request only: each becomes a failover or an error of ours. */
void aop_proxy_override_errors(request_rec *r);

void aop_proxy_register_hooks(apr_pool_t *p);

/* post_config (mod_aoproxy_startup.c): what aop_proxy_override_errors needs, made
 * once per configuration (the statuses, the size of a per-dir configuration). */
void aop_proxy_prepare(apr_pool_t *pconf);

#endif
