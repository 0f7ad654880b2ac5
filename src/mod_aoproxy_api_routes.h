/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The management API's table of endpoints (mod_aoproxy_api_routes.c). */
#ifndef MOD_AOPROXY_API_ROUTES_H
#define MOD_AOPROXY_API_ROUTES_H

#include <httpd.h>

/* Hands the table to the router, which registers the handler hook. */
void aop_api_routes_register_hooks(apr_pool_t *p);

#endif
