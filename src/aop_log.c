/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <stdarg.h>
#include <stdio.h>

#include <apr_strings.h>

#include "aop_log.h"

static aop_log_fn *log_fn;
static void *log_baton;
static aop_log_level_e log_level = AOP_LOG_WARNING;

void aop_log_set(aop_log_fn *fn, void *baton)
{
    log_fn = fn;
    log_baton = baton;
}

void aop_log_set_level(aop_log_level_e level)
{
    log_level = level;
}

int aop_log_is_level(aop_log_level_e level)
{
    return log_fn != NULL || level <= log_level;
}

void aop_log(aop_log_level_e level, apr_status_t rv, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;

    va_start(ap, fmt);
    apr_vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (log_fn) {
        log_fn(log_baton, level, rv, buf);
    }
    else if (level <= log_level) {
        fprintf(stderr, "[aop %d] %s\n", (int)level, buf);
    }
}
