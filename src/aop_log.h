/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The httpd-free core logs through this callback so the module can route it to
 * ap_log_error and the unit tests to stderr (the core never includes httpd headers). */
#ifndef AOP_LOG_H
#define AOP_LOG_H

#include <apr_pools.h>

typedef enum {
    AOP_LOG_ERR = 3,
    AOP_LOG_WARNING = 4,
    AOP_LOG_NOTICE = 5,
    AOP_LOG_INFO = 6,
    AOP_LOG_DEBUG = 7,
    AOP_LOG_TRACE1 = 8
} aop_log_level_e;

/* Stable message codes: every message at debug or above starts with one.
 * docs/error-codes.md documents each; t/check-logcodes.sh rejects duplicates. */
#define AOPLOGNO(n) "AOP" #n ": "

typedef void aop_log_fn(void *baton, aop_log_level_e level, apr_status_t rv,
                        const char *msg);

void aop_log_set(aop_log_fn *fn, void *baton);
int aop_log_is_level(aop_log_level_e level);
void aop_log_set_level(aop_log_level_e level);
void aop_log(aop_log_level_e level, apr_status_t rv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
