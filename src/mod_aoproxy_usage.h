/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The output filter that learns the tokens an answer used, streamed or not, while
 * passing every byte on at once, and that removes the usage chunk we asked Azure for
 * when the client did not. */
#ifndef MOD_AOPROXY_USAGE_H
#define MOD_AOPROXY_USAGE_H

#include <httpd.h>

#define AOP_USAGE_FILTER "AOPROXY_USAGE"

/* Adds the usage filter to r (fixups, for every call of ours). */
void aop_usage_filter_add(request_rec *r);
void aop_usage_register_hooks(apr_pool_t *p);

#endif
