/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* A private directory per test, for tests that need real files (SQLite, state files). */
#ifndef CHECK_TMPDIR_H
#define CHECK_TMPDIR_H

#include <apr_pools.h>

/* Makes $TMPDIR/<prefix>-XXXXXX (fails the test if it cannot). */
char *check_tmpdir_make(apr_pool_t *p, const char *prefix);

/* Removes the files in dir, then dir itself. */
void check_tmpdir_remove(apr_pool_t *p, const char *dir);

#endif
