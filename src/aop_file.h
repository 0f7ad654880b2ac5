/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Reading a small file whole (a YAML layer, a state file) into pool memory. */
#ifndef AOP_FILE_H
#define AOP_FILE_H

#include <apr_pools.h>

typedef enum {
    AOP_FILE_OK = 0,
    AOP_FILE_MISSING,            /* does not exist */
    AOP_FILE_OPEN,               /* cannot be opened otherwise */
    AOP_FILE_STAT,
    AOP_FILE_NOT_REGULAR,
    AOP_FILE_TOO_LARGE,          /* more than max bytes */
    AOP_FILE_READ
} aop_file_e;

/* The whole regular file at path, NUL-terminated, if it has at most max bytes; on
 * anything else *text is NULL, *len 0, and *prv holds APR's status (where there is
 * one) for the caller's message. */
aop_file_e aop_file_read(apr_pool_t *p, const char *path, apr_off_t max, const char **text,
                         apr_size_t *len, apr_status_t *prv);

#endif
