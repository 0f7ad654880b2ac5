/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* aoproxy-db's progress line: what a long command is doing, counted, on stderr,
 * rewritten in place with \r ("backup: copying 1200/5000 pages (24%)").  The caller
 * turns it on when stderr is a terminal or --progress asks; off (or NULL) every call
 * does nothing, so scripts and cron see only the result. */
#ifndef AOPROXY_DB_PROGRESS_H
#define AOPROXY_DB_PROGRESS_H

#include <apr_pools.h>

typedef struct aoproxy_db_progress_t aoproxy_db_progress_t;

/* A progress line for command cmd, shown when on; NULL when off. */
aoproxy_db_progress_t *aoproxy_db_progress_make(apr_pool_t *p, const char *cmd, int on);

/* "cmd: what done/total unit (N%)", rewritten whenever the percentage changes;
 * another what starts a new line. */
void aoproxy_db_progress_count(aoproxy_db_progress_t *pr, const char *what,
                               apr_int64_t done, apr_int64_t total, const char *unit);

/* "cmd: what", a step that has nothing to count. */
void aoproxy_db_progress_phase(aoproxy_db_progress_t *pr, const char *what);

/* Ends the line, before the command prints its result. */
void aoproxy_db_progress_end(aoproxy_db_progress_t *pr);

/* Counts the rows that any SQLite connection the process opens from now on inserts
 * into table, as "what n/total unit", until aoproxy_db_progress_unwatch().  For work
 * done inside the store's own connection (migrate's import), which has no callback
 * of its own: SQLite's auto-extension gives every new connection an update hook. */
void aoproxy_db_progress_watch_inserts(aoproxy_db_progress_t *pr, const char *table,
                                       const char *what, apr_int64_t total,
                                       const char *unit);
void aoproxy_db_progress_unwatch(void);

#endif
