/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Included by every httpd glue file: the module record and per-module log level,
 * so `LogLevel aoproxy:trace5` reaches every message of ours. */
#ifndef MOD_AOPROXY_PRIVATE_H
#define MOD_AOPROXY_PRIVATE_H

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>

#include "aop_log.h"

/* The one symbol httpd looks up in the module (LoadModule): the module is built with
 * -fvisibility=hidden (Makefile.am), so that its own calls across files are direct,
 * not through the PLT. */
extern module AP_MODULE_DECLARE_DATA __attribute__((visibility("default"))) aoproxy_module;

/* mod_aoproxy.c declares the module with AP_DECLARE_MODULE, which does this itself. */
#if defined(APLOG_USE_MODULE) && !defined(AOP_MODULE_MAIN)
APLOG_USE_MODULE(aoproxy);
#endif

/* The balancer every enabled server gets, defined programmatically at start-up. */
#define AOP_BALANCER_URL "balancer://aoproxy"
/* Our lbmethod provider's name (mod_proxy allows at most 15 characters). */
#define AOP_LBMETHOD_NAME "aoproxy"
/* r->handler values of ours. */
#define AOP_API_HANDLER "aoproxy-api"
#define AOP_LOCAL_HANDLER "aoproxy-local"

#endif
