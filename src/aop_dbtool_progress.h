/* aoproxy-db's progress line: what a long command is doing, counted, on stderr,
 * rewritten in place with \r ("backup: copying 1200/5000 pages (24%)").  The caller
 * turns it on when stderr is a terminal or --progress asks; off (or NULL) every call
 * does nothing, so scripts and cron see only the result. */
#ifndef AOP_DBTOOL_PROGRESS_H
#define AOP_DBTOOL_PROGRESS_H

#include <apr_pools.h>

typedef struct aop_dbtool_progress_t aop_dbtool_progress_t;

/* A progress line for command cmd, shown when on; NULL when off. */
aop_dbtool_progress_t *aop_dbtool_progress_make(apr_pool_t *p, const char *cmd, int on);

/* "cmd: what done/total unit (N%)", rewritten whenever the percentage changes;
 * another what starts a new line. */
void aop_dbtool_progress_count(aop_dbtool_progress_t *pr, const char *what,
                               apr_int64_t done, apr_int64_t total, const char *unit);

/* "cmd: what", a step that has nothing to count. */
void aop_dbtool_progress_phase(aop_dbtool_progress_t *pr, const char *what);

/* Ends the line, before the command prints its result. */
void aop_dbtool_progress_end(aop_dbtool_progress_t *pr);

/* Counts the rows that any SQLite connection the process opens from now on inserts
 * into table, as "what n/total unit", until aop_dbtool_progress_unwatch().  For work
 * done inside the store's own connection (migrate's import), which has no callback
 * of its own: SQLite's auto-extension gives every new connection an update hook. */
void aop_dbtool_progress_watch_inserts(aop_dbtool_progress_t *pr, const char *table,
                                       const char *what, apr_int64_t total,
                                       const char *unit);
void aop_dbtool_progress_unwatch(void);

#endif
