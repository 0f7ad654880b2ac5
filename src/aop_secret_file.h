/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Secrets kept in files (an instance's api_key_file, AOProxyAdminKeyFile): read at
 * every start, graceful restart and reload, so that a changed key takes effect
 * without the full restart an environment variable needs. */
#ifndef AOP_SECRET_FILE_H
#define AOP_SECRET_FILE_H

#include <apr_pools.h>

/* A key file holds one key; anything larger is not one. */
#define AOP_SECRET_FILE_MAX 4096

/* The secret on the first line of path (trailing blanks and line end removed): the
 * file must be a regular file no one but its owner and group can read or write, and
 * the secret printable ASCII (it travels in a request header) of at least min_len
 * characters.  NULL on success; else why not, naming the file, never its content. */
const char *aop_secret_file_read(apr_pool_t *p, const char *path, apr_size_t min_len,
                                 const char **secret);

/* The whole of path (at most max bytes: a PEM key and certificate), with the same
 * rule about who may read or write it.  NULL on success; else why not, naming the
 * file, never its content. */
const char *aop_secret_file_read_all(apr_pool_t *p, const char *path, apr_off_t max,
                                     const char **text, apr_size_t *len);

/* NULL when key is usable as a secret given inline (printable, at least min_len
 * characters); else what is wrong with it, never the key itself. */
const char *aop_secret_problem(apr_pool_t *p, const char *key, apr_size_t min_len);

#endif
