/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* aoproxy-db's file work: online copies, backups and their rotation.
 *
 * Copies go through sqlite3_backup rather than cp: a byte copy of a database that
 * Apache is writing can catch half a transaction, and a byte copy over a live
 * database leaves its -wal and -shm describing the old pages, which SQLite would then
 * replay onto the new ones.  Plain POSIX calls are used where APR has no equivalent
 * (fchown, rename semantics); the tool runs on the same Unix as httpd. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_file_io.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <sqlite3.h>

#include "aoproxy_db_copy.h"
#include "aop_store.h"

#define BACKUP_BASE "instance_state_"
#define MAX_SUFFIX 99           /* backups within one second */
#define POLL_MS 50
#define STEP_PAGES 128          /* per step of a copy: 512 KiB of 4 KiB pages */

static apr_status_t fail(apr_pool_t *p, const char **err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static apr_status_t fail(apr_pool_t *p, const char **err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    *err = apr_pvsprintf(p, fmt, ap);
    va_end(ap);
    return APR_EGENERAL;
}

/* errno's text, after a failed system call on path. */
static apr_status_t sys_fail(apr_pool_t *p, const char **err, const char *what,
                             const char *path)
{
    int e = errno;

    fail(p, err, "%s %s: %s", what, path, strerror(e));
    return APR_FROM_OS_ERROR(e);
}

const char *aoproxy_db_dirname(apr_pool_t *p, const char *path)
{
    const char *slash = strrchr(path, '/');

    if (!slash) {
        return ".";
    }
    return slash == path ? "/" : apr_pstrmemdup(p, path, (apr_size_t)(slash - path));
}

/* --------------------------------------------------------------------------
 * SQLite
 */
static int open_db(const char *path, int flags, sqlite3 **db)
{
    int rc = sqlite3_open_v2(path, db, flags, NULL);

    sqlite3_busy_timeout(*db, AOP_STORE_BUSY_TIMEOUT_DEFAULT);  /* NULL is a no-op */
    return rc;
}

static const char *db_message(apr_pool_t *p, sqlite3 *db, int rc)
{
    return apr_pstrdup(p, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

/* One read transaction on the source for the whole copy, so that the copy is one
 * snapshot even though it goes in steps: sqlite3_backup_step() keeps a transaction it
 * finds open, where it would otherwise start one per step and start over whenever
 * another process wrote in between.  The destination stays locked from the first
 * step to the last. */
static int begin_read(sqlite3 *src)
{
    int rc = sqlite3_exec(src, "BEGIN", NULL, NULL, NULL);

    return rc == SQLITE_OK ? sqlite3_exec(src, "SELECT count(*) FROM sqlite_master", NULL,
                                          NULL, NULL)
                           : rc;
}

/* The whole database, STEP_PAGES at a time so that progress can be shown; a busy
 * source or destination is waited for up to the store's busy timeout. */
static int backup_all(sqlite3 *src, sqlite3 *dst, aoproxy_db_progress_t *pr,
                      const char *what)
{
    sqlite3_backup *b;
    int rc, waited = 0;

    if ((rc = begin_read(src)) != SQLITE_OK) {
        return rc;
    }
    if (!(b = sqlite3_backup_init(dst, "main", src, "main"))) {
        sqlite3_exec(src, "ROLLBACK", NULL, NULL, NULL);
        return sqlite3_errcode(dst);
    }
    while ((rc = sqlite3_backup_step(b, STEP_PAGES)) == SQLITE_OK || rc == SQLITE_BUSY
           || rc == SQLITE_LOCKED) {
        if (rc == SQLITE_OK) {
            waited = 0;
            aoproxy_db_progress_count(pr, what, sqlite3_backup_pagecount(b)
                                      - sqlite3_backup_remaining(b),
                                      sqlite3_backup_pagecount(b), "pages");
            continue;
        }
        if (waited >= AOP_STORE_BUSY_TIMEOUT_DEFAULT) {
            break;
        }
        sqlite3_sleep(POLL_MS);
        waited += POLL_MS;
    }
    if (rc == SQLITE_DONE) {
        aoproxy_db_progress_count(pr, what, sqlite3_backup_pagecount(b),
                                  sqlite3_backup_pagecount(b), "pages");
    }
    sqlite3_backup_finish(b);
    sqlite3_exec(src, "ROLLBACK", NULL, NULL, NULL);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

apr_status_t aoproxy_db_copy(apr_pool_t *p, const char *from, const char *to,
                             aoproxy_db_progress_t *pr, const char *what, const char **err)
{
    sqlite3 *src = NULL, *dst = NULL;
    apr_status_t rv = APR_SUCCESS;
    int rc;

    if ((rc = open_db(from, SQLITE_OPEN_READWRITE, &src)) != SQLITE_OK) {
        rv = fail(p, err, "cannot open %s: %s", from, db_message(p, src, rc));
    }
    else if ((rc = open_db(to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &dst))
             != SQLITE_OK) {
        rv = fail(p, err, "cannot open %s: %s", to, db_message(p, dst, rc));
    }
    else if ((rc = backup_all(src, dst, pr, what)) != SQLITE_OK) {
        rv = fail(p, err, "cannot copy %s to %s: %s", from, to, sqlite3_errstr(rc));
    }
    sqlite3_close(dst);
    sqlite3_close(src);
    return rv;
}

/* The copy carries the source's WAL flag in its header: a backup is better one
 * self-contained file, so it goes back to a rollback journal (then VACUUM, which
 * rebuilds it without free pages). */
static apr_status_t finish_backup(apr_pool_t *p, const char *path, int vacuum,
                                  aoproxy_db_progress_t *pr, const char **err)
{
    sqlite3 *db = NULL;
    int rc = open_db(path, SQLITE_OPEN_READWRITE, &db);

    if (rc == SQLITE_OK) {
        rc = sqlite3_exec(db, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK && vacuum) {
        aoproxy_db_progress_phase(pr, "vacuuming the copy");
        rc = sqlite3_exec(db, "VACUUM", NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        fail(p, err, "cannot %s the backup %s: %s", vacuum ? "vacuum" : "finish", path,
             db_message(p, db, rc));
    }
    sqlite3_close(db);
    return rc == SQLITE_OK ? APR_SUCCESS : APR_EGENERAL;
}

/* --------------------------------------------------------------------------
 * files
 */
void aoproxy_db_remove_db(apr_pool_t *p, const char *path)
{
    static const char *const suffixes[] = { "", "-journal", "-wal", "-shm" };
    size_t i;

    for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); ++i) {
        unlink(apr_pstrcat(p, path, suffixes[i], NULL));
    }
}

/* A new empty file, 0600 whatever the umask; EEXIST if it is there already. */
static int open_private(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    if (fd >= 0 && fchmod(fd, 0600) != 0) {
        close(fd);
        unlink(path);
        return -1;
    }
    return fd;
}

apr_status_t aoproxy_db_create_private(apr_pool_t *p, const char *path, int *created,
                                       const char **err)
{
    const char *dir = aoproxy_db_dirname(p, path);
    struct stat st;
    int fd = open_private(path);

    *created = 0;
    if (fd < 0 && errno == EEXIST) {
        return APR_SUCCESS;
    }
    if (fd < 0 && errno == ENOENT) {
        return fail(p, err, "cannot create %s: directory %s does not exist", path, dir);
    }
    if (fd < 0) {
        return sys_fail(p, err, "cannot create", path);
    }
    *created = 1;
    if (geteuid() == 0 && stat(dir, &st) == 0 && fchown(fd, st.st_uid, st.st_gid) != 0) {
        sys_fail(p, err, "cannot give to the owner of its directory", path);
        close(fd);
        unlink(path);
        return APR_EGENERAL;
    }
    close(fd);
    return APR_SUCCESS;
}

static apr_status_t make_dir(apr_pool_t *p, const char *dir, const char **err)
{
    struct stat st;
    apr_status_t rv = apr_dir_make_recursive(dir, APR_FPROT_UREAD | APR_FPROT_UWRITE
                                                  | APR_FPROT_UEXECUTE, p);
    char ebuf[128];

    if (rv != APR_SUCCESS) {
        return fail(p, err, "cannot create the backup directory %s: %s", dir,
                    apr_strerror(rv, ebuf, sizeof(ebuf)));
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return fail(p, err, "the backup directory %s is not a directory", dir);
    }
    return APR_SUCCESS;
}

/* --------------------------------------------------------------------------
 * backup files
 */
typedef struct {
    const char *path;
    apr_int64_t stamp;          /* YYYYMMDDHHMMSS */
    int suffix;
} backup_file_t;

/* 1 if name is [prefix]instance_state_YYYYMMDD_HHMMSS[_N].db; its order in *f. */
static int parse_backup_name(const char *name, const char *prefix, backup_file_t *f)
{
    const char *s;
    int i;

    if (strncmp(name, prefix, strlen(prefix))) {
        return 0;
    }
    s = name + strlen(prefix);
    if (strncmp(s, BACKUP_BASE, strlen(BACKUP_BASE))) {
        return 0;
    }
    s += strlen(BACKUP_BASE);
    f->stamp = 0;
    for (i = 0; i < 15; ++i, ++s) {
        if (i == 8 ? *s != '_' : !apr_isdigit(*s)) {
            return 0;
        }
        f->stamp = i == 8 ? f->stamp : f->stamp * 10 + (*s - '0');
    }
    f->suffix = 0;
    if (*s == '_') {
        for (i = 0, ++s; apr_isdigit(*s) && i < 6; ++i, ++s) {
            f->suffix = f->suffix * 10 + (*s - '0');
        }
        if (i == 0) {
            return 0;
        }
    }
    return !strcmp(s, ".db");
}

static int newest_first(const void *a, const void *b)
{
    const backup_file_t *x = a, *y = b;

    if (x->stamp != y->stamp) {
        return x->stamp < y->stamp ? 1 : -1;
    }
    return y->suffix - x->suffix;
}

static apr_status_t list_backups(apr_pool_t *p, const char *dir, const char *prefix,
                                 apr_array_header_t *files, const char **err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    struct stat st;
    backup_file_t f;

    if (!d) {
        return sys_fail(p, err, "cannot read the backup directory", dir);
    }
    while ((e = readdir(d)) != NULL) {
        f.path = apr_pstrcat(p, dir, "/", e->d_name, NULL);
        if (parse_backup_name(e->d_name, prefix, &f) && lstat(f.path, &st) == 0
            && S_ISREG(st.st_mode)) {
            APR_ARRAY_PUSH(files, backup_file_t) = f;
        }
    }
    closedir(d);
    return APR_SUCCESS;
}

/* Takes the backup's name by creating it (O_EXCL), so that two processes cannot
 * take the same one.  Within one second the suffix grows past every existing one:
 * a name freed by rotation must not come back, or the newest backup would sort as
 * the oldest and be rotated away. */
static apr_status_t reserve_name(apr_pool_t *p, const char *dir, const char *prefix,
                                 const char **out, const char **err)
{
    apr_array_header_t *files = apr_array_make(p, 16, sizeof(backup_file_t));
    const backup_file_t *f;
    apr_time_exp_t t;
    const char *path;
    apr_status_t rv;
    int i, n = 0, fd, ymd, hms;

    if ((rv = list_backups(p, dir, prefix, files, err)) != APR_SUCCESS) {
        return rv;
    }
    apr_time_exp_gmt(&t, apr_time_now());
    ymd = (t.tm_year + 1900) * 10000 + (t.tm_mon + 1) * 100 + t.tm_mday;
    hms = t.tm_hour * 10000 + t.tm_min * 100 + t.tm_sec;
    for (i = 0; i < files->nelts; ++i) {
        f = &APR_ARRAY_IDX(files, i, backup_file_t);
        if (f->stamp == ymd * APR_INT64_C(1000000) + hms && f->suffix >= n) {
            n = f->suffix + 1;
        }
    }
    for (; n <= MAX_SUFFIX; ++n) {
        path = apr_psprintf(p, "%s/%s" BACKUP_BASE "%08d_%06d%s.db", dir, prefix, ymd,
                            hms, n ? apr_psprintf(p, "_%d", n) : "");
        if ((fd = open_private(path)) >= 0) {
            close(fd);
            *out = path;
            return APR_SUCCESS;
        }
        if (errno != EEXIST) {
            return sys_fail(p, err, "cannot create", path);
        }
    }
    return fail(p, err, "cannot create a backup in %s: too many within one second", dir);
}

/* Written under a temporary name and renamed over the reserved one, so that a
 * backup file that has its final name is complete. */
apr_status_t aoproxy_db_backup(apr_pool_t *p, const char *db, const char *dir,
                               const char *prefix, int vacuum, aoproxy_db_progress_t *pr,
                               const char *what, const char **out, const char **err)
{
    const char *final = NULL, *tmp;
    apr_status_t rv;
    int fd;

    if ((rv = make_dir(p, dir, err)) != APR_SUCCESS
        || (rv = reserve_name(p, dir, prefix, &final, err)) != APR_SUCCESS) {
        return rv;
    }
    tmp = apr_pstrcat(p, final, ".partial", NULL);
    aoproxy_db_remove_db(p, tmp);
    if ((fd = open_private(tmp)) < 0) {
        rv = sys_fail(p, err, "cannot create", tmp);
    }
    else {
        close(fd);
        if ((rv = aoproxy_db_copy(p, db, tmp, pr, what, err)) == APR_SUCCESS
            && (rv = finish_backup(p, tmp, vacuum, pr, err)) == APR_SUCCESS
            && rename(tmp, final) != 0) {
            rv = sys_fail(p, err, "cannot rename the backup to", final);
        }
    }
    aoproxy_db_remove_db(p, tmp);
    if (rv != APR_SUCCESS) {
        unlink(final);
        return rv;
    }
    *out = final;
    return APR_SUCCESS;
}

/* --------------------------------------------------------------------------
 * rotation
 */
apr_status_t aoproxy_db_rotate(apr_pool_t *p, const char *dir, int keep,
                               apr_array_header_t **removed, const char **err)
{
    apr_array_header_t *files = apr_array_make(p, 16, sizeof(backup_file_t));
    apr_status_t rv, first = APR_SUCCESS;
    const char *path;
    int i;

    *removed = apr_array_make(p, 4, sizeof(const char *));
    if ((rv = list_backups(p, dir, "", files, err)) != APR_SUCCESS) {
        return rv;
    }
    qsort(files->elts, (size_t)files->nelts, sizeof(backup_file_t), newest_first);
    for (i = keep; i < files->nelts; ++i) {
        path = APR_ARRAY_IDX(files, i, backup_file_t).path;
        if (unlink(path) == 0) {
            APR_ARRAY_PUSH(*removed, const char *) = path;
        }
        else if (first == APR_SUCCESS) {
            first = sys_fail(p, err, "cannot remove the old backup", path);
        }
    }
    return first;
}

/* --------------------------------------------------------------------------
 * reports
 */
static int write_all(int fd, const char *text, size_t len)
{
    ssize_t n;

    while (len > 0) {
        if ((n = write(fd, text, len)) < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        text += n;
        len -= (size_t)n;
    }
    return 0;
}

apr_status_t aoproxy_db_write_file(apr_pool_t *p, const char *path, const char *text,
                                   int mode, const char **err)
{
    const char *tmp = apr_psprintf(p, "%s.tmp.%ld", path, (long)getpid());
    apr_status_t rv = APR_SUCCESS;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);

    if (fd < 0) {
        return sys_fail(p, err, "cannot create", tmp);
    }
    if (write_all(fd, text, strlen(text)) != 0 || fchmod(fd, (mode_t)mode) != 0) {
        rv = sys_fail(p, err, "cannot write", tmp);
    }
    if (close(fd) != 0 && rv == APR_SUCCESS) {
        rv = sys_fail(p, err, "cannot write", tmp);
    }
    if (rv == APR_SUCCESS && rename(tmp, path) != 0) {
        rv = sys_fail(p, err, "cannot write", path);
    }
    if (rv != APR_SUCCESS) {
        unlink(tmp);
    }
    return rv;
}
