/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Every lifecycle hook of the module: pre_config, check_config, post_config (before
 * and after mod_proxy_balancer's), pre_mpm, child_init and monitor.  The order, the
 * processes and the passes are told at the head of mod_aoproxy_startup.c. */
#ifndef MOD_AOPROXY_STARTUP_H
#define MOD_AOPROXY_STARTUP_H

#include <httpd.h>

void aop_startup_register_hooks(apr_pool_t *p);

#endif
