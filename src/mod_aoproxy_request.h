/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The fixups hook that turns an OpenAI call into a mod_proxy request for our
 * balancer (its state: mod_aoproxy_ctx.h), and the local handler that answers what
 * never reaches a backend. */
#ifndef MOD_AOPROXY_REQUEST_H
#define MOD_AOPROXY_REQUEST_H

#include <httpd.h>

void aop_request_register_hooks(apr_pool_t *p);

#endif
