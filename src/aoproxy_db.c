/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* aoproxy-db: maintenance of mod_aoproxy's instance store, the SQLite database that
 * holds the instances operators change through the admin API.  It replaces the
 * Python service's app.maintenance.sqlite_backup, sqlite_health, restore and
 * app.tools.migrate_from_file, with their options.
 *
 *   aoproxy-db backup | health | restore | migrate | versions | log  [options]
 *
 * It works on the file while Apache runs: the module opens the database per use,
 * every copy goes through SQLite's backup API, and every read is one transaction.
 * The file is the one the server uses (aoproxy_db_locate.h: --db-path, --config,
 * $INSTANCE_MANAGER_DB_PATH, Apache's configuration, the default), and the tool
 * says where it found it.  Exit status: 0 done, 1 failed (the message on stderr
 * names the path and the cause, never a key), 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_general.h>
#include <apr_hash.h>
#include <apr_strings.h>

#include "aoproxy_db_copy.h"
#include "aoproxy_db_locate.h"
#include "aoproxy_db_progress.h"
#include "aoproxy_db_report.h"
#include "aop_file.h"
#include "aop_json.h"
#include "aop_store.h"
#include "aop_store_import.h"

#define EXIT_USAGE 2
#define DEFAULT_MAX_BACKUPS 7
#define DEFAULT_LOG_LIMIT 100
#define STATE_FILE_MAX (16 * 1024 * 1024)

enum {
    OPT_DB_PATH = 1 << 0, OPT_BACKUP_DIR = 1 << 1, OPT_MAX_BACKUPS = 1 << 2,
    OPT_NO_VACUUM = 1 << 3, OPT_OUTPUT = 1 << 4, OPT_BACKUP_PATH = 1 << 5,
    OPT_NO_PRE_RESTORE = 1 << 6, OPT_STATE_FILE = 1 << 7, OPT_LIMIT = 1 << 8,
    OPT_HELP = 1 << 9, OPT_CONFIG = 1 << 10, OPT_VHOST = 1 << 11, OPT_VERBOSE = 1 << 12,
    OPT_PROGRESS = 1 << 13
};

/* Every command takes these: they choose the database. */
#define OPT_WHERE (OPT_DB_PATH | OPT_CONFIG | OPT_VHOST | OPT_VERBOSE)

static const struct option all_options[] = {
    { "db-path", required_argument, NULL, OPT_DB_PATH },
    { "backup-dir", required_argument, NULL, OPT_BACKUP_DIR },
    { "max-backups", required_argument, NULL, OPT_MAX_BACKUPS },
    { "no-vacuum", no_argument, NULL, OPT_NO_VACUUM },
    { "output", required_argument, NULL, OPT_OUTPUT },
    { "backup-path", required_argument, NULL, OPT_BACKUP_PATH },
    { "no-pre-restore-backup", no_argument, NULL, OPT_NO_PRE_RESTORE },
    { "state-file", required_argument, NULL, OPT_STATE_FILE },
    { "limit", required_argument, NULL, OPT_LIMIT },
    { "help", no_argument, NULL, OPT_HELP },
    { "config", required_argument, NULL, OPT_CONFIG },
    { "vhost", required_argument, NULL, OPT_VHOST },
    { "verbose", no_argument, NULL, OPT_VERBOSE },
    { "progress", no_argument, NULL, OPT_PROGRESS }
};
#define N_OPTIONS (sizeof(all_options) / sizeof(all_options[0]))

typedef struct {
    apr_pool_t *p;
    const char *cmd;
    aoproxy_db_where_t where;   /* what the options say about the database */
    const char *db_path;        /* the database found from it */
    const char *db_source;      /* where its path came from */
    aoproxy_db_progress_t *pr;  /* NULL: no progress shown */
    const char *backup_dir;
    const char *backup_path;
    const char *state_file;
    const char *output;
    const char *name;
    int max_backups;
    int limit;
    int vacuum;
    int pre_restore;
    int verbose;
    int progress;
} opts_t;

typedef int cmd_fn(opts_t *o);

typedef struct {
    const char *name;
    cmd_fn *run;
    unsigned options;
    const char *args;           /* the positional argument, if any */
    const char *synopsis;
    const char *help;           /* what it does */
    const char *options_help;   /* its options but those of where_help and --help */
} command_t;

static const char where_help[] =
    "  --db-path P          the database itself\n"
    "  --config FILE        the database of the server this httpd.conf configures\n"
    "                       (its AOProxyStateDB, through Includes and ${VAR}s)\n"
    "  --vhost NAME         that of the server with this ServerName, ServerAlias or\n"
    "                       <VirtualHost> address, when the configuration has several\n"
    "  --verbose            say on stderr which database, and where its path came from\n";

static const char where_note[] =
    "Without --db-path or --config: $INSTANCE_MANAGER_DB_PATH, else the database that\n"
    "Apache's configuration ($APACHE_CONFDIR/" AOP_HTTPD_CONF_NAME ", else\n"
    AOP_HTTPD_SYSCONFDIR "/" AOP_HTTPD_CONF_NAME ") gives its server, else\n"
    AOP_DEFAULT_DB_PATH ".\n";

static const char progress_help[] =
    "  --progress           show progress on stderr even when it is not a terminal\n";

static int failed(const opts_t *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int failed(const opts_t *o, const char *fmt, ...)
{
    va_list ap;

    aoproxy_db_progress_end(o->pr);
    fprintf(stderr, "aoproxy-db %s: ", o->cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EXIT_FAILURE;
}

static int exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

static const char *backup_dir(const opts_t *o)
{
    return o->backup_dir ? o->backup_dir
                         : apr_pstrcat(o->p, aoproxy_db_dirname(o->p, o->db_path),
                                       "/backups", NULL);
}

/* --------------------------------------------------------------------------
 * backup
 */
static int cmd_backup(opts_t *o)
{
    const char *dir = backup_dir(o), *out, *err;
    apr_array_header_t *removed;
    aop_store_report_t rep;
    aop_store_result_t res;
    int i;

    aoproxy_db_progress_phase(o->pr, "checking the database");
    if (aop_store_check(o->p, o->db_path, &rep, &res) != APR_SUCCESS) {
        return failed(o, "%s%s", res.status == AOP_STORE_CORRUPT
                      ? "refusing to back up a damaged database: " : "", res.message);
    }
    if (aoproxy_db_backup(o->p, o->db_path, dir, "", o->vacuum, o->pr, "copying", &out, &err)
        != APR_SUCCESS) {
        return failed(o, "%s", err);
    }
    aoproxy_db_progress_phase(o->pr, "checking the copy");
    if (aop_store_check(o->p, out, &rep, &res) != APR_SUCCESS) {
        aoproxy_db_remove_db(o->p, out);
        return failed(o, "the new backup fails its check, removed it: %s", res.message);
    }
    aoproxy_db_progress_end(o->pr);
    printf("backed up %s to %s: %" APR_INT64_T_FMT " instances, %" APR_INT64_T_FMT
           " deleted, %" APR_INT64_T_FMT " versions, %" APR_OFF_T_FMT " bytes%s\n",
           o->db_path, out, rep.instances, rep.deleted, rep.versions, rep.file_size,
           o->vacuum ? ", vacuumed" : "");
    if (aoproxy_db_rotate(o->p, dir, o->max_backups, &removed, &err) != APR_SUCCESS) {
        return failed(o, "%s", err);
    }
    for (i = 0; i < removed->nelts; ++i) {
        printf("removed old backup %s\n", APR_ARRAY_IDX(removed, i, const char *));
    }
    return EXIT_SUCCESS;
}

/* --------------------------------------------------------------------------
 * health
 */
/* The report says where the path came from: "missing" tells where the tool looked. */
static int cmd_health(opts_t *o)
{
    const char *err, *werr, *text;
    json_object *report;
    int ok;

    report = aoproxy_db_health(o->p, o->db_path, &ok, &err);
    json_object_object_add(report, "db_source", json_object_new_string(o->db_source));
    text = aoproxy_db_json_text(o->p, report);
    if (!o->output) {
        fputs(text, stdout);
    }
    else if (aoproxy_db_write_file(o->p, o->output, text, 0644, &werr) != APR_SUCCESS) {
        return failed(o, "%s", werr);
    }
    return ok ? EXIT_SUCCESS : failed(o, "%s", err);
}

/* --------------------------------------------------------------------------
 * restore
 */

/* The store's messages begin "instance store PATH: "; about the staging copy they
 * are about the backup. */
static const char *about_backup(const opts_t *o, const char *stage, const char *msg)
{
    const char *prefix = apr_pstrcat(o->p, "instance store ", stage, ": ", NULL);

    if (msg && !strncmp(msg, prefix, strlen(prefix))) {
        msg += strlen(prefix);
    }
    return apr_pstrcat(o->p, "backup ", o->backup_path, ": ", msg, NULL);
}

/* The backup must be an intact instance store whose every record loads with this
 * version's rules: it is copied to a staging file next to the database and loaded
 * there (loading switches a file to WAL mode: the backup itself stays untouched),
 * and the staging file is what gets restored. */
static int stage_backup(opts_t *o, const char *stage, int *view)
{
    apr_array_header_t *records;
    aop_store_report_t rep;
    aop_store_result_t res;
    const char *err;
    int created, i;

    aoproxy_db_progress_phase(o->pr, "checking the backup");
    if (aop_store_check(o->p, o->backup_path, &rep, &res) != APR_SUCCESS) {
        return failed(o, "refusing to restore: %s", res.message);
    }
    if (rep.schema_version <= 0) {
        return failed(o, "refusing to restore: %s holds no instance store", o->backup_path);
    }
    if (aoproxy_db_create_private(o->p, stage, &created, &err) != APR_SUCCESS
        || aoproxy_db_copy(o->p, o->backup_path, stage, o->pr, "staging the backup", &err)
           != APR_SUCCESS) {
        return failed(o, "%s", err);
    }
    aoproxy_db_progress_phase(o->pr, "loading the backup's instances");
    if (aop_store_load(o->p, stage, &records, &res) != APR_SUCCESS) {
        return failed(o, "refusing to restore: %s", about_backup(o, stage, res.message));
    }
    for (*view = 0, i = 0; i < records->nelts; ++i) {
        *view += APR_ARRAY_IDX(records, i, aop_store_record_t *)->inst != NULL;
    }
    return EXIT_SUCCESS;
}

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;

    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev
           && sa.st_ino == sb.st_ino;
}

static int save_current(opts_t *o)
{
    const char *out, *err;

    if (!o->pre_restore) {
        return EXIT_SUCCESS;
    }
    if (!exists(o->db_path)) {
        aoproxy_db_progress_end(o->pr);
        printf("no database at %s yet: nothing to save first\n", o->db_path);
        return EXIT_SUCCESS;
    }
    if (aoproxy_db_backup(o->p, o->db_path, backup_dir(o), AOPROXY_DB_PRE_RESTORE_PREFIX, 0,
                          o->pr, "saving the current database", &out, &err) != APR_SUCCESS) {
        return failed(o, "cannot save the current database first (--no-pre-restore-backup "
                      "restores without): %s", err);
    }
    aoproxy_db_progress_end(o->pr);
    printf("saved the current database %s to %s\n", o->db_path, out);
    return EXIT_SUCCESS;
}

/* The copy writes into the existing file, which keeps its owner; a new file gets
 * the directory's (aoproxy_db_create_private()). */
static int copy_into_place(opts_t *o, const char *stage)
{
    struct stat before;
    const char *err;
    int had = stat(o->db_path, &before) == 0, created;

    if (aoproxy_db_create_private(o->p, o->db_path, &created, &err) != APR_SUCCESS
        || aoproxy_db_copy(o->p, stage, o->db_path, o->pr, "copying into place", &err)
           != APR_SUCCESS) {
        return failed(o, "%s", err);
    }
    if (chmod(o->db_path, 0600) != 0
        || (had && geteuid() == 0 && chown(o->db_path, before.st_uid, before.st_gid) != 0)) {
        return failed(o, "restored, but cannot set the owner and mode of %s: %s",
                      o->db_path, strerror(errno));
    }
    return EXIT_SUCCESS;
}

static int cmd_restore(opts_t *o)
{
    const char *stage = apr_psprintf(o->p, "%s/.aoproxy-db-restore-%ld.db",
                                     aoproxy_db_dirname(o->p, o->db_path), (long)getpid());
    aop_store_report_t rep;
    aop_store_result_t res;
    int rc, view = 0;

    if (!exists(o->backup_path)) {
        return failed(o, "the backup %s does not exist", o->backup_path);
    }
    if (same_file(o->backup_path, o->db_path)) {
        return failed(o, "the backup %s is the database itself", o->backup_path);
    }
    if ((rc = stage_backup(o, stage, &view)) == EXIT_SUCCESS
        && (rc = save_current(o)) == EXIT_SUCCESS) {
        rc = copy_into_place(o, stage);
    }
    aoproxy_db_remove_db(o->p, stage);
    if (rc != EXIT_SUCCESS) {
        return rc;
    }
    aoproxy_db_progress_phase(o->pr, "checking the result");
    if (aop_store_check(o->p, o->db_path, &rep, &res) != APR_SUCCESS) {
        return failed(o, "restored, but the check fails: %s", res.message);
    }
    aoproxy_db_progress_end(o->pr);
    printf("restored %s into %s: %d instances, %" APR_INT64_T_FMT " deleted, %"
           APR_INT64_T_FMT " versions\n", o->backup_path, o->db_path, view, rep.deleted,
           rep.versions);
    return EXIT_SUCCESS;
}

/* --------------------------------------------------------------------------
 * migrate
 */

/* The names the state file lists, as aop_store_import_state_file() reads them. */
static apr_hash_t *state_names(opts_t *o)
{
    apr_hash_t *names = apr_hash_make(o->p);
    json_object *root, *list, *name;
    const char *text, *err;
    apr_size_t len;
    apr_status_t rv;
    size_t i;

    if (aop_file_read(o->p, o->state_file, STATE_FILE_MAX, &text, &len, &rv) != AOP_FILE_OK
        || !(root = aop_json_parse(o->p, text, len, &err))
        || !json_object_object_get_ex(root, "instances", &list)) {
        return names;
    }
    if (json_object_is_type(list, json_type_object)) {
        json_object_object_foreach(list, key, val) {
            (void)val;
            apr_hash_set(names, apr_pstrdup(o->p, key), APR_HASH_KEY_STRING, "");
        }
    }
    for (i = 0; json_object_is_type(list, json_type_array)
                && i < json_object_array_length(list); ++i) {
        if (json_object_object_get_ex(json_object_array_get_idx(list, i), "name", &name)) {
            apr_hash_set(names, apr_pstrdup(o->p, json_object_get_string(name)),
                         APR_HASH_KEY_STRING, "");
        }
    }
    return names;
}

/* Loads the store again and finds every name of the state file there, live. */
static int verify_migration(opts_t *o, apr_hash_t *expected, int imported, const char **list)
{
    apr_array_header_t *records;
    aop_store_record_t *r;
    aop_store_result_t res;
    int i, found = 0;

    aoproxy_db_progress_phase(o->pr, "verifying");
    if (aop_store_load(o->p, o->db_path, &records, &res) != APR_SUCCESS) {
        return failed(o, "imported, but the database does not load: %s", res.message);
    }
    *list = "";
    for (i = 0; i < records->nelts; ++i) {
        r = APR_ARRAY_IDX(records, i, aop_store_record_t *);
        if (r->inst && apr_hash_get(expected, r->name, APR_HASH_KEY_STRING)) {
            *list = apr_pstrcat(o->p, *list, found++ ? ", " : "", r->name, NULL);
        }
    }
    if (imported != (int)apr_hash_count(expected) || found != imported
        || records->nelts != imported) {
        return failed(o, "verification failed: the state file lists %u instances, %d were "
                      "imported, %d of them are in %s as it loads now (%d stored names); "
                      "did Apache import meanwhile?", apr_hash_count(expected), imported,
                      found, o->db_path, records->nelts);
    }
    return EXIT_SUCCESS;
}

/* Refuses a database that holds instances already: migrating is for the first
 * start, as Apache's own import is. */
static int check_empty(opts_t *o)
{
    aop_store_report_t rep;
    aop_store_result_t res;

    if (!exists(o->db_path)) {
        return EXIT_SUCCESS;
    }
    if (aop_store_check(o->p, o->db_path, &rep, &res) != APR_SUCCESS) {
        return failed(o, "%s", res.message);
    }
    if (rep.instances + rep.deleted > 0) {
        return failed(o, "refusing to migrate: %s holds %" APR_INT64_T_FMT " instances and %"
                      APR_INT64_T_FMT " deletions already; migrating only fills an empty "
                      "database", o->db_path, rep.instances, rep.deleted);
    }
    return EXIT_SUCCESS;
}

/* The import runs in the store's own connection: its inserts into "instances" are
 * what the progress line counts. */
static int import(opts_t *o, apr_hash_t *expected, int *imported)
{
    aop_store_result_t res;
    const char *err;
    int created;
    apr_status_t rv;

    if (aoproxy_db_create_private(o->p, o->db_path, &created, &err) != APR_SUCCESS) {
        return failed(o, "%s", err);
    }
    aoproxy_db_progress_watch_inserts(o->pr, "instances", "importing",
                                      apr_hash_count(expected), "instances");
    rv = aop_store_import_state_file(o->p, o->db_path, o->state_file, NULL, imported, &res);
    aoproxy_db_progress_unwatch();
    if (rv != APR_SUCCESS) {
        if (created) {
            aoproxy_db_remove_db(o->p, o->db_path);
        }
        return failed(o, "%s", res.message);
    }
    return EXIT_SUCCESS;
}

static int cmd_migrate(opts_t *o)
{
    const char *names = "";
    apr_hash_t *expected;
    int imported = 0, rc;

    if (!exists(o->state_file)) {
        return failed(o, "the state file %s does not exist", o->state_file);
    }
    if ((rc = check_empty(o)) != EXIT_SUCCESS) {
        return rc;
    }
    aoproxy_db_progress_phase(o->pr, "reading the state file");
    expected = state_names(o);
    if ((rc = import(o, expected, &imported)) != EXIT_SUCCESS
        || (rc = verify_migration(o, expected, imported, &names)) != EXIT_SUCCESS) {
        return rc;
    }
    aoproxy_db_progress_end(o->pr);
    printf("migrated %d instances from %s into %s%s%s\n", imported, o->state_file,
           o->db_path, imported ? ": " : "", names);
    return EXIT_SUCCESS;
}

/* --------------------------------------------------------------------------
 * versions and log
 */
/* The store's calls would create a missing database: these only read. */
static int cmd_versions(opts_t *o)
{
    json_object *obj;
    const char *err;

    if (!exists(o->db_path)) {
        return failed(o, "the database %s does not exist", o->db_path);
    }
    if (aoproxy_db_versions(o->p, o->db_path, o->name, &obj, &err) != APR_SUCCESS) {
        return failed(o, "%s", err);
    }
    fputs(aoproxy_db_json_text(o->p, obj), stdout);
    return EXIT_SUCCESS;
}

static int cmd_log(opts_t *o)
{
    json_object *obj;
    const char *err;

    if (!exists(o->db_path)) {
        return failed(o, "the database %s does not exist", o->db_path);
    }
    if (aoproxy_db_log(o->p, o->db_path, o->limit, &obj, &err) != APR_SUCCESS) {
        return failed(o, "%s", err);
    }
    fputs(aoproxy_db_json_text(o->p, obj), stdout);
    return EXIT_SUCCESS;
}

/* --------------------------------------------------------------------------
 * command line
 */
#define WHERE "[--db-path P | --config F [--vhost N]]"

static const command_t commands[] = {
    { "backup", cmd_backup,
      OPT_WHERE | OPT_BACKUP_DIR | OPT_MAX_BACKUPS | OPT_NO_VACUUM | OPT_PROGRESS, NULL,
      WHERE " [--backup-dir D] [--max-backups N] [--no-vacuum] [--progress]",
      "Checks the database's integrity (a damaged one is refused), copies it while\n"
      "Apache runs with SQLite's backup API, VACUUMs the copy, and keeps the newest N\n"
      "backups instance_state_YYYYMMDD_HHMMSS.db (UTC) in D.\n",
      "  --backup-dir D       where backups go (default: backups/ next to the database)\n"
      "  --max-backups N      how many backups to keep (default: 7)\n"
      "  --no-vacuum          copy as is, without VACUUM\n" },
    { "health", cmd_health, OPT_WHERE | OPT_OUTPUT, NULL, WHERE " [--output FILE]",
      "Prints a JSON report: integrity, schema version, sizes, rows per table, the span\n"
      "of the version history and the change log, and where the path came from.  Exit\n"
      "status 1 when the database is missing or fails its integrity check.\n",
      "  --output FILE        write the report to FILE (mode 0644) instead of stdout\n" },
    { "restore", cmd_restore,
      OPT_WHERE | OPT_BACKUP_PATH | OPT_BACKUP_DIR | OPT_NO_PRE_RESTORE | OPT_PROGRESS, NULL,
      "--backup-path B " WHERE " [--backup-dir D] [--no-pre-restore-backup] [--progress]",
      "Checks backup B (integrity, schema, every instance valid), saves the current\n"
      "database as pre_restore_instance_state_*.db in D, then copies B over it with\n"
      "SQLite's backup API (safe while Apache runs; -wal and -shm stay consistent).\n"
      "Running Apache processes keep the instances they have in memory until\n"
      "POST /config/reload or a restart.\n",
      "  --backup-path B      the backup to restore (required)\n"
      "  --backup-dir D       where the pre-restore backup goes (default: backups/ next\n"
      "                       to the database)\n"
      "  --no-pre-restore-backup  do not save the current database first\n" },
    { "migrate", cmd_migrate, OPT_WHERE | OPT_STATE_FILE | OPT_PROGRESS, NULL,
      "--state-file S " WHERE " [--progress]",
      "Imports the Python service's state file into an empty database (creating it),\n"
      "then loads the database again to verify.  A database that holds instances is\n"
      "refused.  Apache imports $INSTANCE_MANAGER_STATE_FILE itself on its first\n"
      "start (then with the YAML instances as defaults for absent fields); this command\n"
      "takes no YAML: every instance must be complete.\n",
      "  --state-file S       the state file (required)\n" },
    { "versions", cmd_versions, OPT_WHERE, "NAME", "NAME " WHERE,
      "Prints the stored versions of instance NAME as JSON, newest first (keys masked).\n",
      "" },
    { "log", cmd_log, OPT_WHERE | OPT_LIMIT, NULL, WHERE " [--limit N]",
      "Prints the change log as JSON, newest first.\n",
      "  --limit N            at most N entries (default: 100; 0: all)\n" }
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
    size_t i;

    fprintf(f, "Usage: aoproxy-db COMMAND [OPTIONS]\n\n"
            "Maintenance of mod_aoproxy's instance store (SQLite).\n\nCommands:\n");
    for (i = 0; i < N_COMMANDS; ++i) {
        fprintf(f, "  aoproxy-db %-8s %s\n", commands[i].name, commands[i].synopsis);
    }
    fprintf(f, "\n%s%s\n%s\n'aoproxy-db COMMAND --help' describes a command.  Exit status: "
            "0 done, 1 failed, 2 usage error.\n", where_help, progress_help, where_note);
}

static void command_usage(FILE *f, const command_t *c)
{
    fprintf(f, "Usage: aoproxy-db %s %s\n\n%s\nOptions:\n%s%s%s"
            "  --help               this text\n\n%s", c->name, c->synopsis, c->help,
            c->options_help, (c->options & OPT_PROGRESS) ? progress_help : "", where_help,
            where_note);
}

static int usage_error(const command_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int usage_error(const command_t *c, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "aoproxy-db %s: ", c->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nUsage: aoproxy-db %s %s\n'aoproxy-db %s --help' describes it.\n",
            c->name, c->synopsis, c->name);
    return EXIT_USAGE;
}

static int parse_count(const char *text, int min, int *out)
{
    char *end;
    long v = strtol(text, &end, 10);

    if (!*text || *end || v < min || v > 1000000) {
        return 0;
    }
    *out = (int)v;
    return 1;
}

static const char *option_name(int opt)
{
    size_t i;

    for (i = 0; i < N_OPTIONS && all_options[i].val != opt; ++i) {
    }
    return i < N_OPTIONS ? all_options[i].name : "?";
}

static int set_option(opts_t *o, const command_t *c, int opt, const char *arg)
{
    const char **text[] = { &o->where.db_path, &o->backup_dir, &o->output, &o->backup_path,
                            &o->state_file, &o->where.config, &o->where.vhost };
    static const int text_opts[] = { OPT_DB_PATH, OPT_BACKUP_DIR, OPT_OUTPUT,
                                     OPT_BACKUP_PATH, OPT_STATE_FILE, OPT_CONFIG, OPT_VHOST };
    size_t i;

    for (i = 0; i < sizeof(text_opts) / sizeof(text_opts[0]); ++i) {
        if (opt == text_opts[i]) {
            *text[i] = arg;
            return *arg ? 0 : usage_error(c, "--%s needs a non-empty value",
                                          option_name(opt));
        }
    }
    switch (opt) {
    case OPT_MAX_BACKUPS:
        return parse_count(arg, 1, &o->max_backups)
               ? 0 : usage_error(c, "--max-backups %s: expected a number from 1", arg);
    case OPT_LIMIT:
        return parse_count(arg, 0, &o->limit)
               ? 0 : usage_error(c, "--limit %s: expected a number from 0", arg);
    case OPT_NO_VACUUM:
        o->vacuum = 0;
        return 0;
    case OPT_NO_PRE_RESTORE:
        o->pre_restore = 0;
        return 0;
    case OPT_VERBOSE:
        o->verbose = 1;
        return 0;
    case OPT_PROGRESS:
        o->progress = 1;
        return 0;
    }
    return usage_error(c, "--%s: unexpected option", option_name(opt));
}

/* The command's options only; -1 when they are fine, else the exit status. */
static int parse_options(opts_t *o, const command_t *c, int argc, char **argv)
{
    struct option longopts[N_OPTIONS + 1];
    size_t i, n = 0;
    int opt, rc;

    for (i = 0; i < N_OPTIONS; ++i) {
        if ((c->options | OPT_HELP) & (unsigned)all_options[i].val) {
            longopts[n++] = all_options[i];
        }
    }
    memset(&longopts[n], 0, sizeof(longopts[n]));
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (opt == 'h' || opt == OPT_HELP) {
            command_usage(stdout, c);
            return EXIT_SUCCESS;
        }
        if (opt == ':') {
            return usage_error(c, "%s needs a value", argv[optind - 1]);
        }
        if (opt == '?') {
            return usage_error(c, "unknown option %s", argv[optind - 1]);
        }
        if ((rc = set_option(o, c, opt, optarg)) != 0) {
            return rc;
        }
    }
    if (c->args && optind + 1 != argc) {
        return usage_error(c, "expected one %s", c->args);
    }
    if (!c->args && optind != argc) {
        return usage_error(c, "unexpected argument %s", argv[optind]);
    }
    o->name = c->args ? argv[optind] : NULL;
    return -1;
}

static int required(const opts_t *o, const command_t *c)
{
    if ((c->options & OPT_BACKUP_PATH) && !o->backup_path) {
        return usage_error(c, "%s is required", "--backup-path");
    }
    if ((c->options & OPT_STATE_FILE) && !o->state_file) {
        return usage_error(c, "%s is required", "--state-file");
    }
    if (o->where.db_path && (o->where.config || o->where.vhost)) {
        return usage_error(c, "--db-path names the database itself: not with %s",
                           o->where.config ? "--config" : "--vhost");
    }
    return -1;
}

/* Sets o->db_path to the store the server uses, and says how it was found when asked
 * or when a person watches (stderr is a terminal). */
static int find_database(opts_t *o, const command_t *c)
{
    aoproxy_db_found_t found;
    const char *err;
    apr_status_t rv = aoproxy_db_locate(o->p, &o->where, &found, &err);

    if (rv == APR_EINVAL) {
        fprintf(stderr, "aoproxy-db %s: %s\n", c->name, err);
        return EXIT_USAGE;
    }
    if (rv != APR_SUCCESS) {
        return failed(o, "%s", err);
    }
    o->db_path = found.path;
    o->db_source = found.source;
    if (o->verbose || (isatty(STDERR_FILENO) && !o->where.db_path)) {
        fprintf(stderr, "aoproxy-db %s: database %s, from %s\n", c->name, o->db_path,
                o->db_source);
    }
    return -1;
}

/* A failure says where the path came from, unless the command line named it. */
static int run_command(opts_t *o, const command_t *c)
{
    int rc;

    if ((rc = find_database(o, c)) >= 0) {
        return rc;
    }
    o->pr = aoproxy_db_progress_make(o->p, c->name, (c->options & OPT_PROGRESS)
                                     && (o->progress || isatty(STDERR_FILENO)));
    rc = c->run(o);
    aoproxy_db_progress_end(o->pr);
    if (rc == EXIT_FAILURE && !o->where.db_path && !o->verbose && !isatty(STDERR_FILENO)) {
        fprintf(stderr, "aoproxy-db %s: database %s, from %s\n", c->name, o->db_path,
                o->db_source);
    }
    return rc;
}

static int run(apr_pool_t *p, int argc, char **argv)
{
    opts_t o;
    size_t i;
    int rc;

    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")
        || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_SUCCESS;
    }
    memset(&o, 0, sizeof(o));
    o.p = p;
    o.max_backups = DEFAULT_MAX_BACKUPS;
    o.limit = DEFAULT_LOG_LIMIT;
    o.vacuum = o.pre_restore = 1;
    for (i = 0; i < N_COMMANDS; ++i) {
        if (!strcmp(argv[1], commands[i].name)) {
            o.cmd = commands[i].name;
            if ((rc = parse_options(&o, &commands[i], argc - 1, argv + 1)) >= 0
                || (rc = required(&o, &commands[i])) >= 0) {
                return rc;
            }
            return run_command(&o, &commands[i]);
        }
    }
    fprintf(stderr, "aoproxy-db: unknown command %s\n\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}

int main(int argc, const char *const *argv)
{
    apr_pool_t *p;
    int rc;

    if (apr_app_initialize(&argc, &argv, NULL) != APR_SUCCESS
        || apr_pool_create(&p, NULL) != APR_SUCCESS) {
        fputs("aoproxy-db: cannot initialise APR\n", stderr);
        return EXIT_FAILURE;
    }
    rc = run(p, argc, (char **)argv);
    apr_pool_destroy(p);
    apr_terminate();
    return rc;
}
