/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* aoproxy-db's file work: copies of the instance store made with SQLite's online
 * backup API, timestamped backup files and their rotation, and the owner and mode of
 * the files it creates.  Errors come back as a message in *err that names the path
 * and the cause (never a value from the database). */
#ifndef AOPROXY_DB_COPY_H
#define AOPROXY_DB_COPY_H

#include <apr_pools.h>
#include <apr_tables.h>

#include "aoproxy_db_progress.h"

/* instance_state_YYYYMMDD_HHMMSS.db, optionally _N before ".db": the backups that
 * rotation counts.  Pre-restore backups carry this prefix in front and are never
 * rotated away. */
#define AOPROXY_DB_PRE_RESTORE_PREFIX "pre_restore_"

/* Copies the database at from (which must exist) into to, page by page through
 * SQLite, in one read transaction on from: a consistent snapshot even while Apache
 * writes (in WAL mode writers are not held up).  to is opened as a database and
 * overwritten in place inside one write transaction, so its owner and mode stay, its
 * -wal and -shm stay consistent, and a process that opens it later sees either the
 * old or the new content.  Waits up to the store's busy timeout for locks.  The
 * pages copied show on pr (may be NULL) as step what. */
apr_status_t aoproxy_db_copy(apr_pool_t *p, const char *from, const char *to,
                             aoproxy_db_progress_t *pr, const char *what,
                             const char **err);

/* A new backup of db in dir (created owner-only if missing): copied to a temporary
 * name, switched to a rollback journal (a single self-contained file), VACUUMed if
 * vacuum is set, then renamed to [prefix]instance_state_YYYYMMDD_HHMMSS[_N].db (UTC;
 * _N when the name is taken), mode 0600.  Nothing is left behind on failure.  The
 * copy shows on pr (may be NULL) as step what, then the VACUUM. */
apr_status_t aoproxy_db_backup(apr_pool_t *p, const char *db, const char *dir,
                               const char *prefix, int vacuum, aoproxy_db_progress_t *pr,
                               const char *what, const char **out, const char **err);

/* Removes all but the newest keep backups (the rotated pattern above) from dir;
 * *removed (const char *, may be NULL) lists the paths removed. */
apr_status_t aoproxy_db_rotate(apr_pool_t *p, const char *dir, int keep,
                               apr_array_header_t **removed, const char **err);

/* Removes the database file path and its -journal, -wal and -shm. */
void aoproxy_db_remove_db(apr_pool_t *p, const char *path);

/* The directory part of path ("." for a bare name). */
const char *aoproxy_db_dirname(apr_pool_t *p, const char *path);

/* Creates path empty and owner-only (0600) unless it exists; *created says whether it
 * did.  When running as root the new file is given to the owner of its directory, so
 * that Apache's user can open what root created (SQLite then gives its -wal and -shm
 * files the same owner). */
apr_status_t aoproxy_db_create_private(apr_pool_t *p, const char *path, int *created,
                                       const char **err);

/* Writes text to path through a temporary file and a rename, with the given mode. */
apr_status_t aoproxy_db_write_file(apr_pool_t *p, const char *path, const char *text,
                                   int mode, const char **err);

#endif
