/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The instance store in SQLite.
 *
 * Tables (schema version 1):
 *   instances          the latest version of every stored name; a deleted name keeps
 *                      its row (deleted=1) so that it goes on hiding a YAML instance
 *                      and its version numbers go on counting;
 *   instance_versions  every version (data NULL for a deletion), for history and
 *                      rollback, and its fields for which fields a record owns;
 *   change_log         who did what when, across all instances;
 *   schema_version     one row, for later migrations.
 * data holds the instance as aop_instance_to_json(inst, 1) writes it, key included:
 * the database file is created owner-only for that reason.
 *
 * Each public call opens the file, sets the busy timeout and WAL mode, runs its work
 * inside one BEGIN IMMEDIATE transaction (so that a read-check-write cannot race
 * another process) and closes the file; any failure rolls the whole call back. */
#include <stdarg.h>
#include <string.h>

#include <apr_file_io.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <sqlite3.h>

#include "aop_instance_json.h"
#include "aop_json.h"
#include "aop_store.h"
#include "aop_store_private.h"

#define STORE_SCHEMA_VERSION 1

static int busy_timeout_ms = AOP_STORE_BUSY_TIMEOUT_DEFAULT;

void aop_store_set_busy_timeout(int ms)
{
    busy_timeout_ms = ms > 0 ? ms : AOP_STORE_BUSY_TIMEOUT_DEFAULT;
}

static const char *const status_names[] = {
    "ok", "invalid", "not found", "conflict", "busy", "corrupt", "unwritable", "error"
};

const char *aop_store_status_name(aop_store_status_e status)
{
    if ((int)status < 0 || (int)status > (int)AOP_STORE_ERROR) {
        return "error";
    }
    return status_names[status];
}

int aop_store_http_status(aop_store_status_e status)
{
    static const int codes[] = { 200, 400, 404, 409, 503, 503, 503, 500 };

    if ((int)status < 0 || (int)status > (int)AOP_STORE_ERROR) {
        return 500;
    }
    return codes[status];
}

static apr_status_t status_rv(aop_store_status_e status)
{
    switch (status) {
    case AOP_STORE_OK:         return APR_SUCCESS;
    case AOP_STORE_INVALID:    return APR_EINVAL;
    case AOP_STORE_NOT_FOUND:  return APR_ENOENT;
    case AOP_STORE_CONFLICT:   return APR_EEXIST;
    case AOP_STORE_BUSY:       return APR_EBUSY;
    case AOP_STORE_UNWRITABLE: return APR_ENOSPC;
    case AOP_STORE_CORRUPT:
    case AOP_STORE_ERROR:      break;
    }
    return APR_EGENERAL;
}

/* --------------------------------------------------------------------------
 * one call's connection
 */
typedef struct {
    apr_pool_t *p;
    const char *path;
    sqlite3 *db;
    apr_array_header_t *stmts;  /* sqlite3_stmt *, finalized by close_db() */
    aop_store_result_t *res;
    const char *now;            /* one timestamp for everything a call writes */
    const char *who;
} store_t;

static void init_store(store_t *s, apr_pool_t *p, const char *path, const char *who,
                       aop_store_result_t *res)
{
    apr_time_exp_t t;

    memset(s, 0, sizeof(*s));
    s->p = p;
    s->path = path ? path : "";
    s->stmts = apr_array_make(p, 8, sizeof(sqlite3_stmt *));
    s->res = res;
    s->who = (who && *who) ? who : "unknown";
    memset(res, 0, sizeof(*res));
    apr_time_exp_gmt(&t, apr_time_now());
    s->now = apr_psprintf(p, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", t.tm_year + 1900,
                          t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                          t.tm_usec / 1000);
}

static apr_status_t vfail(apr_pool_t *p, aop_store_result_t *res, const char *path,
                          aop_store_status_e status, const char *name, const char *fmt,
                          va_list ap)
    __attribute__((format(printf, 6, 0)));

static apr_status_t vfail(apr_pool_t *p, aop_store_result_t *res, const char *path,
                          aop_store_status_e status, const char *name, const char *fmt,
                          va_list ap)
{
    res->message = apr_pstrcat(p, "instance store ", path, ": ", apr_pvsprintf(p, fmt, ap),
                               NULL);
    res->status = status;
    res->name = name ? apr_pstrdup(p, name) : NULL;
    return status_rv(status);
}

apr_status_t aop_store_failed(apr_pool_t *p, aop_store_result_t *res, const char *path,
                              aop_store_status_e status, const char *name,
                              const char *fmt, ...)
{
    va_list ap;
    apr_status_t rv;

    va_start(ap, fmt);
    rv = vfail(p, res, path ? path : "", status, name, fmt, ap);
    va_end(ap);
    return rv;
}

static apr_status_t fail(store_t *s, aop_store_status_e status, const char *name,
                         const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static apr_status_t fail(store_t *s, aop_store_status_e status, const char *name,
                         const char *fmt, ...)
{
    va_list ap;
    apr_status_t rv;

    va_start(ap, fmt);
    rv = vfail(s->p, s->res, s->path, status, name, fmt, ap);
    va_end(ap);
    return rv;
}

static aop_store_status_e classify(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return AOP_STORE_BUSY;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_FORMAT:
        return AOP_STORE_CORRUPT;
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_PERM:
    case SQLITE_NOLFS:
        return AOP_STORE_UNWRITABLE;
    default:
        return AOP_STORE_ERROR;
    }
}

/* SQLite's message names the cause ("database is locked", "file is not a
 * database"); values are always bound, never part of SQL, so it holds no data. */
static apr_status_t db_fail(store_t *s, int rc, const char *what)
{
    const char *why = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);

    return fail(s, classify(rc), NULL, "%s: %s", what, why);
}

static apr_status_t exec(store_t *s, const char *sql, const char *what)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? APR_SUCCESS : db_fail(s, rc, what);
}

/* A new database holds keys: create it owner-only before SQLite does (its -wal
 * and -shm files then take the same mode). */
static void create_private(store_t *s)
{
    apr_file_t *f;

    if (apr_file_open(&f, s->path, APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_EXCL,
                      APR_FPROT_UREAD | APR_FPROT_UWRITE, s->p) == APR_SUCCESS) {
        apr_file_close(f);
    }
}

/* writer=0 (the check) neither creates the file nor switches it to WAL. */
static apr_status_t open_db(store_t *s, int writer)
{
    int rc;

    if (writer) {
        create_private(s);
    }
    rc = sqlite3_open_v2(s->path, &s->db,
                         SQLITE_OPEN_READWRITE | (writer ? SQLITE_OPEN_CREATE : 0), NULL);
    if (rc != SQLITE_OK) {
        return db_fail(s, rc, "cannot open the database");
    }
    sqlite3_busy_timeout(s->db, busy_timeout_ms);
    return writer ? exec(s, "PRAGMA journal_mode=WAL", "cannot open the database")
                  : APR_SUCCESS;
}

static void close_db(store_t *s)
{
    int i;

    for (i = 0; i < s->stmts->nelts; ++i) {
        sqlite3_finalize(APR_ARRAY_IDX(s->stmts, i, sqlite3_stmt *));
    }
    s->stmts->nelts = 0;
    if (s->db && !sqlite3_get_autocommit(s->db)) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_close(s->db);   /* NULL is a no-op */
    s->db = NULL;
}

static apr_status_t prep(store_t *s, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);

    if (rc != SQLITE_OK) {
        return db_fail(s, rc, "cannot prepare a statement");
    }
    APR_ARRAY_PUSH(s->stmts, sqlite3_stmt *) = *st;
    return APR_SUCCESS;
}

/* *row is 1 for a row, 0 at the end. */
static apr_status_t step(store_t *s, sqlite3_stmt *st, const char *what, int *row)
{
    int rc = sqlite3_step(st);

    *row = (rc == SQLITE_ROW);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        return APR_SUCCESS;
    }
    return db_fail(s, rc, what);
}

static apr_status_t run(store_t *s, sqlite3_stmt *st, const char *what)
{
    int row;

    return step(s, st, what, &row);
}

static void bind_text(sqlite3_stmt *st, int i, const char *text)
{
    if (text) {
        sqlite3_bind_text(st, i, text, -1, SQLITE_TRANSIENT);
    }
    else {
        sqlite3_bind_null(st, i);
    }
}

static const char *col_text(store_t *s, sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    return t ? apr_pstrdup(s->p, (const char *)t) : NULL;
}

/* --------------------------------------------------------------------------
 * schema
 */
static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS instances(name TEXT PRIMARY KEY, data TEXT NOT NULL,"
    " version INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0, updated_at TEXT,"
    " updated_by TEXT);"
    "CREATE TABLE IF NOT EXISTS instance_versions(name TEXT NOT NULL,"
    " version INTEGER NOT NULL, data TEXT, changed_at TEXT, changed_by TEXT,"
    " change TEXT NOT NULL, fields TEXT, PRIMARY KEY(name, version));"
    "CREATE TABLE IF NOT EXISTS change_log(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " at TEXT, who TEXT, action TEXT, name TEXT, detail TEXT);";

static apr_status_t read_schema_version(store_t *s, int *version)
{
    sqlite3_stmt *st;
    apr_status_t rv;
    int row;

    *version = 0;
    if ((rv = prep(s, "SELECT max(version) FROM schema_version", &st)) != APR_SUCCESS
        || (rv = step(s, st, "cannot read the schema version", &row)) != APR_SUCCESS) {
        return rv;
    }
    *version = row ? sqlite3_column_int(st, 0) : 0;
    return APR_SUCCESS;
}

/* Creates what is missing; a database from a newer module is left alone rather than
 * half understood.  Migrations from older versions go here when there are any. */
static apr_status_t ensure_schema(store_t *s)
{
    sqlite3_stmt *st;
    apr_status_t rv;
    int version;

    if ((rv = exec(s, schema_sql, "cannot create the tables")) != APR_SUCCESS
        || (rv = read_schema_version(s, &version)) != APR_SUCCESS) {
        return rv;
    }
    if (version > STORE_SCHEMA_VERSION) {
        return fail(s, AOP_STORE_ERROR, NULL, "schema version %d is newer than this "
                    "module's (%d)", version, STORE_SCHEMA_VERSION);
    }
    if (version == STORE_SCHEMA_VERSION) {
        return APR_SUCCESS;
    }
    if ((rv = prep(s, "INSERT INTO schema_version(version) VALUES(?)", &st)) != APR_SUCCESS) {
        return rv;
    }
    sqlite3_bind_int(st, 1, STORE_SCHEMA_VERSION);
    return run(s, st, "cannot write the schema version");
}

typedef apr_status_t work_fn(store_t *s, void *baton);

/* One call: open, one transaction, close.  Nothing is committed unless fn succeeds. */
static apr_status_t in_transaction(store_t *s, work_fn *fn, void *baton)
{
    apr_status_t rv;

    if ((rv = open_db(s, 1)) == APR_SUCCESS
        && (rv = exec(s, "BEGIN IMMEDIATE", "cannot begin a transaction")) == APR_SUCCESS
        && (rv = ensure_schema(s)) == APR_SUCCESS
        && (rv = fn(s, baton)) == APR_SUCCESS) {
        rv = exec(s, "COMMIT", "cannot commit");
    }
    close_db(s);
    return rv;
}

/* --------------------------------------------------------------------------
 * records
 */
typedef struct {
    int exists;
    int version;
    int deleted;
    const char *data;
} current_t;

static apr_status_t get_current(store_t *s, const char *name, current_t *cur)
{
    sqlite3_stmt *st;
    apr_status_t rv;
    int row;

    memset(cur, 0, sizeof(*cur));
    if ((rv = prep(s, "SELECT data, version, deleted FROM instances WHERE name = ?", &st))
        != APR_SUCCESS) {
        return rv;
    }
    bind_text(st, 1, name);
    if ((rv = step(s, st, "cannot read an instance", &row)) != APR_SUCCESS || !row) {
        return rv;
    }
    cur->exists = 1;
    cur->data = col_text(s, st, 0);
    cur->version = sqlite3_column_int(st, 1);
    cur->deleted = sqlite3_column_int(st, 2);
    return APR_SUCCESS;
}

static apr_status_t parse_stored(store_t *s, const char *name, int version,
                                 const char *data, json_object **out)
{
    const char *err;

    *out = data ? aop_json_parse(s->p, data, strlen(data), &err) : NULL;
    if (!*out) {
        return fail(s, AOP_STORE_CORRUPT, name, "version %d of instance \"%s\" is not "
                    "valid JSON", version, name);
    }
    return APR_SUCCESS;
}

/* The live data of cur as JSON, or NULL when there is none (new, deleted, YAML). */
static apr_status_t current_json(store_t *s, const char *name, const current_t *cur,
                                 json_object **out)
{
    *out = NULL;
    if (!cur->exists || cur->deleted) {
        return APR_SUCCESS;
    }
    return parse_stored(s, name, cur->version, cur->data, out);
}

static const char *fields_text(apr_pool_t *p, const apr_array_header_t *fields)
{
    return aop_json_to_string(p, aop_json_own(p, aop_json_str_array(fields)));
}

static apr_array_header_t *fields_array(apr_pool_t *p, const char *text)
{
    apr_array_header_t *fields = apr_array_make(p, 4, sizeof(const char *));
    const char *err;
    json_object *arr = text ? aop_json_parse(p, text, strlen(text), &err) : NULL;
    size_t i;

    for (i = 0; json_object_is_type(arr, json_type_array)
                && i < json_object_array_length(arr); ++i) {
        APR_ARRAY_PUSH(fields, const char *) = apr_pstrdup(p, json_object_get_string(
            json_object_array_get_idx(arr, i)));
    }
    return fields;
}

static const char *detail_text(apr_pool_t *p, int version, const char *fields,
                               int to_version)
{
    const char *err;
    json_object *d = aop_json_own(p, json_object_new_object());

    json_object_object_add(d, "version", json_object_new_int(version));
    json_object_object_add(d, "fields", json_object_get(
        aop_json_parse(p, fields, strlen(fields), &err)));
    if (to_version > 0) {
        json_object_object_add(d, "to_version", json_object_new_int(to_version));
    }
    return aop_json_to_string(p, d);
}

/* A deleted name that was never stored (a YAML instance) still needs data. */
static const char *tombstone(apr_pool_t *p, const char *name)
{
    json_object *o = aop_json_own(p, json_object_new_object());

    json_object_object_add(o, "name", json_object_new_string(name));
    return aop_json_to_string(p, o);
}

typedef struct {
    const char *name;
    const char *data;           /* NULL: a deletion */
    const char *change;
    const char *fields;         /* JSON array */
    int to_version;             /* a rollback's target, else 0 */
} version_t;

/* The one place that writes: a version row, the latest row, a change-log row. */
static apr_status_t write_version(store_t *s, current_t *cur, const version_t *v,
                                  int *new_version)
{
    int version = cur->exists ? cur->version + 1 : 1;
    const char *latest = v->data ? v->data : cur->exists ? cur->data : tombstone(s->p, v->name);
    sqlite3_stmt *hist, *inst, *log;
    apr_status_t rv;

    if ((rv = prep(s, "INSERT INTO instance_versions(name, version, data, changed_at, "
                   "changed_by, change, fields) VALUES(?, ?, ?, ?, ?, ?, ?)", &hist))
            != APR_SUCCESS
        || (rv = prep(s, "INSERT OR REPLACE INTO instances(name, data, version, deleted, "
                      "updated_at, updated_by) VALUES(?, ?, ?, ?, ?, ?)", &inst))
            != APR_SUCCESS
        || (rv = prep(s, "INSERT INTO change_log(at, who, action, name, detail) "
                      "VALUES(?, ?, ?, ?, ?)", &log)) != APR_SUCCESS) {
        return rv;
    }
    bind_text(hist, 1, v->name);
    sqlite3_bind_int(hist, 2, version);
    bind_text(hist, 3, v->data);
    bind_text(hist, 4, s->now);
    bind_text(hist, 5, s->who);
    bind_text(hist, 6, v->change);
    bind_text(hist, 7, v->fields);
    bind_text(inst, 1, v->name);
    bind_text(inst, 2, latest);
    sqlite3_bind_int(inst, 3, version);
    sqlite3_bind_int(inst, 4, v->data ? 0 : 1);
    bind_text(inst, 5, s->now);
    bind_text(inst, 6, s->who);
    bind_text(log, 1, s->now);
    bind_text(log, 2, s->who);
    bind_text(log, 3, v->change);
    bind_text(log, 4, v->name);
    bind_text(log, 5, detail_text(s->p, version, v->fields, v->to_version));
    if ((rv = run(s, hist, "cannot write a version")) != APR_SUCCESS
        || (rv = run(s, inst, "cannot write an instance")) != APR_SUCCESS
        || (rv = run(s, log, "cannot write the change log")) != APR_SUCCESS) {
        return rv;
    }
    cur->exists = 1;
    cur->version = version;
    cur->deleted = !v->data;
    cur->data = latest;
    if (new_version) {
        *new_version = version;
    }
    return APR_SUCCESS;
}

/* --------------------------------------------------------------------------
 * put and delete
 */

/* An instance is checked again with the admin API's rules before it is stored, so
 * that everything in the database loads again. */
static apr_status_t validated(store_t *s, const aop_instance_t *inst, json_object **out)
{
    json_object *obj = aop_json_own(s->p, aop_instance_to_json(inst, 1));
    aop_instance_t *checked;
    const char *err, *field;

    if (aop_instance_from_json(s->p, obj, NULL, 0, &checked, &err, &field) != APR_SUCCESS) {
        fail(s, AOP_STORE_INVALID, inst->name, "instance \"%s\": %s",
             inst->name ? inst->name : "", err);
        s->res->field = field;
        return APR_EINVAL;
    }
    /* normalised: deployments of models it does not list are gone */
    *out = aop_json_own(s->p, aop_instance_to_json(checked, 1));
    return APR_SUCCESS;
}

static apr_status_t resolve_change(store_t *s, const char *name, const current_t *cur,
                                   const char *change, const char **out)
{
    int view = cur->exists && !cur->deleted;

    *out = change;
    if (!change) {
        *out = view ? "update" : "add";
    }
    else if (!strcmp(change, "add") || !strcmp(change, "import")) {
        if (view) {
            return fail(s, AOP_STORE_CONFLICT, name, "instance \"%s\" exists already",
                        name);
        }
    }
    else if (!strcmp(change, "update")) {
        if (cur->exists && cur->deleted) {
            return fail(s, AOP_STORE_NOT_FOUND, name, "instance \"%s\" is deleted", name);
        }
    }
    else {
        return fail(s, AOP_STORE_ERROR, name, "unknown change \"%.32s\"", change);
    }
    return APR_SUCCESS;
}

static apr_status_t check_if_version(store_t *s, const char *name, const current_t *cur,
                                     int if_version)
{
    if (if_version > 0 && (!cur->exists || cur->version != if_version)) {
        return fail(s, AOP_STORE_CONFLICT, name, "instance \"%s\" is at version %d, not "
                    "%d: it was changed meanwhile", name, cur->version, if_version);
    }
    return APR_SUCCESS;
}

static apr_status_t put_one(store_t *s, aop_store_change_t *c)
{
    json_object *after, *before;
    current_t cur;
    version_t v;
    apr_status_t rv;

    if ((rv = validated(s, c->inst, &after)) != APR_SUCCESS
        || (rv = get_current(s, c->inst->name, &cur)) != APR_SUCCESS
        || (rv = check_if_version(s, c->inst->name, &cur, c->if_version)) != APR_SUCCESS
        || (rv = resolve_change(s, c->inst->name, &cur, c->change, &v.change))
           != APR_SUCCESS
        || (rv = current_json(s, c->inst->name, &cur, &before)) != APR_SUCCESS) {
        return rv;
    }
    v.name = c->inst->name;
    v.data = aop_json_to_string(s->p, after);
    v.fields = fields_text(s->p, c->fields ? c->fields
                                           : aop_instance_json_diff(s->p, before, after));
    v.to_version = 0;
    return write_version(s, &cur, &v, &c->new_version);
}

static apr_status_t delete_one(store_t *s, aop_store_change_t *c, const char *change,
                               int to_version)
{
    current_t cur;
    version_t v;
    apr_status_t rv;

    if (!aop_instance_name_ok(c->name)) {
        fail(s, AOP_STORE_INVALID, c->name, "\"%.80s\" is not a valid instance name",
             c->name ? c->name : "");
        s->res->field = "name";
        return APR_EINVAL;
    }
    if ((rv = get_current(s, c->name, &cur)) != APR_SUCCESS
        || (rv = check_if_version(s, c->name, &cur, c->if_version)) != APR_SUCCESS) {
        return rv;
    }
    if (cur.exists && cur.deleted) {
        if (to_version) {
            return fail(s, AOP_STORE_CONFLICT, c->name, "instance \"%s\" is deleted already "
                        "(version %d is a deletion: roll back to a version with its data, or "
                        "to version 0 for its YAML definition)", c->name, to_version);
        }
        return fail(s, AOP_STORE_NOT_FOUND, c->name, "instance \"%s\" is deleted already",
                    c->name);
    }
    v.name = c->name;
    v.data = NULL;
    v.change = change;
    v.fields = "[]";
    v.to_version = to_version;
    return write_version(s, &cur, &v, &c->new_version);
}

static const char *change_name(const aop_store_change_t *c)
{
    return c->inst ? c->inst->name : c->name;
}

static apr_status_t put_many_work(store_t *s, void *baton)
{
    apr_array_header_t *changes = baton;
    apr_hash_t *seen = apr_hash_make(s->p);
    aop_store_change_t *c;
    const char *name;
    apr_status_t rv;
    int i;

    for (i = 0; i < changes->nelts; ++i) {
        c = &APR_ARRAY_IDX(changes, i, aop_store_change_t);
        if ((name = change_name(c)) != NULL && apr_hash_get(seen, name, APR_HASH_KEY_STRING)) {
            return fail(s, AOP_STORE_CONFLICT, name, "instance \"%s\" is named twice in "
                        "one change", name);
        }
        if (name) {
            apr_hash_set(seen, name, APR_HASH_KEY_STRING, name);
        }
        rv = c->inst ? put_one(s, c) : delete_one(s, c, "delete", 0);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

apr_status_t aop_store_put_many(apr_pool_t *p, const char *path,
                                apr_array_header_t *changes, const char *who,
                                aop_store_result_t *res)
{
    aop_store_result_t dummy;
    store_t s;

    init_store(&s, p, path, who, res ? res : &dummy);
    return in_transaction(&s, put_many_work, changes);
}

/* A single put or delete is a batch of one, so that both go the same way. */
static apr_status_t one_change(apr_pool_t *p, const char *path, aop_store_change_t *c,
                               const char *who, int *new_version, aop_store_result_t *res)
{
    apr_array_header_t *batch = apr_array_make(p, 1, sizeof(aop_store_change_t));
    apr_status_t rv;

    APR_ARRAY_PUSH(batch, aop_store_change_t) = *c;
    rv = aop_store_put_many(p, path, batch, who, res);
    if (rv == APR_SUCCESS && new_version) {
        *new_version = APR_ARRAY_IDX(batch, 0, aop_store_change_t).new_version;
    }
    return rv;
}

apr_status_t aop_store_put(apr_pool_t *p, const char *path, const aop_instance_t *inst,
                           const char *who, const char *change,
                           const apr_array_header_t *fields, int *new_version,
                           aop_store_result_t *res)
{
    aop_store_change_t c;

    memset(&c, 0, sizeof(c));
    c.inst = inst;
    c.change = change;
    c.fields = fields;
    if (!inst) {
        c.name = "";    /* rejected as an invalid name: a put needs an instance */
    }
    return one_change(p, path, &c, who, new_version, res);
}

apr_status_t aop_store_delete(apr_pool_t *p, const char *path, const char *name,
                              const char *who, int *new_version, aop_store_result_t *res)
{
    aop_store_change_t c;

    memset(&c, 0, sizeof(c));
    c.name = name;
    return one_change(p, path, &c, who, new_version, res);
}

/* --------------------------------------------------------------------------
 * load
 */

/* Every field of a stored instance comes from the database; which of them take
 * precedence over YAML is the record's owned set. */
static void mark_source(store_t *s, aop_instance_t *inst, json_object *obj)
{
    inst->file = s->path;
    inst->line = 0;
    json_object_object_foreach(obj, key, val) {
        (void)val;
        if (aop_instance_json_is_key(key)) {
            apr_table_set(inst->sources, key, s->path);
        }
    }
}

static apr_status_t load_record(store_t *s, sqlite3_stmt *st, aop_store_record_t *r)
{
    const char *data = col_text(s, st, 1), *err, *field;
    json_object *obj;
    apr_status_t rv;

    r->name = col_text(s, st, 0);
    r->version = sqlite3_column_int(st, 2);
    r->deleted = sqlite3_column_int(st, 3) != 0;
    r->updated_at = col_text(s, st, 4);
    r->updated_by = col_text(s, st, 5);
    if (r->deleted) {
        return APR_SUCCESS;
    }
    if ((rv = parse_stored(s, r->name, r->version, data, &obj)) != APR_SUCCESS) {
        return rv;
    }
    if (aop_instance_from_json(s->p, obj, NULL, 0, &r->inst, &err, &field) != APR_SUCCESS) {
        fail(s, AOP_STORE_CORRUPT, r->name, "stored instance \"%s\" (version %d) is not "
             "valid: %s", r->name, r->version, err);
        s->res->field = field;
        return APR_EGENERAL;
    }
    mark_source(s, r->inst, obj);
    return APR_SUCCESS;
}

static void own_key(apr_pool_t *p, apr_hash_t *owned, const char *key, int imported,
                    int version)
{
    aop_store_owner_t *o = apr_palloc(p, sizeof(*o));

    o->imported = imported;
    o->version = version;
    apr_hash_set(owned, key, APR_HASH_KEY_STRING, o);
}

/* Only instance keys: a history written by hand may name others. */
static void own_keys(apr_pool_t *p, apr_hash_t *owned, const apr_array_header_t *keys,
                     int imported, int version)
{
    const char *key;
    int i;

    for (i = 0; i < keys->nelts; ++i) {
        key = APR_ARRAY_IDX(keys, i, const char *);
        if (aop_instance_json_is_key(key)) {
            own_key(p, owned, key, imported, version);
        }
    }
}

/* One version's effect on the fields its name owns.  A deletion is told by its
 * missing data, since a rollback to a deletion is one too. */
static void own_version(apr_pool_t *p, apr_hash_t *owned, const apr_array_header_t *all,
                        const char *change, int deletion, const apr_array_header_t *fields,
                        int version)
{
    int add = !strcmp(change, "add"), import = !strcmp(change, "import");
    int revert = !strcmp(change, "revert");

    if (deletion || add || import || revert) {
        apr_hash_clear(owned);
    }
    /* a revert hands every field back to the YAML */
    if (deletion || revert) {
        return;
    }
    if (add) {
        own_keys(p, owned, all, 0, version);
    }
    else if (import) {
        own_keys(p, owned, fields, 1, version);
        own_key(p, owned, "name", 1, version);
    }
    else {
        /* update, rollback: on top of what the earlier versions set */
        own_keys(p, owned, fields, 0, version);
    }
}

/* The owned fields of every stored name (name -> apr_hash_t *), from one pass over
 * all versions in order rather than a query per name. */
static apr_status_t load_owners(store_t *s, apr_hash_t *by_name)
{
    const apr_array_header_t *all = aop_field_keys(s->p, AOP_FIELD_API);
    apr_hash_t *owned = NULL;
    const char *name, *change, *last = NULL;
    sqlite3_stmt *st;
    apr_status_t rv;
    int row;

    if ((rv = prep(s, "SELECT name, version, change, fields, data IS NULL "
                   "FROM instance_versions ORDER BY name, version", &st)) != APR_SUCCESS) {
        return rv;
    }
    while ((rv = step(s, st, "cannot read the versions", &row)) == APR_SUCCESS && row) {
        name = col_text(s, st, 0);
        change = col_text(s, st, 2);
        if (!name || !change) {
            return fail(s, AOP_STORE_CORRUPT, NULL, "a version has no name or change");
        }
        if (!last || strcmp(last, name)) {
            last = name;
            owned = apr_hash_make(s->p);
            apr_hash_set(by_name, last, APR_HASH_KEY_STRING, owned);
        }
        own_version(s->p, owned, all, change, sqlite3_column_int(st, 4),
                    fields_array(s->p, col_text(s, st, 3)), sqlite3_column_int(st, 1));
    }
    return rv;
}

static apr_status_t load_work(store_t *s, void *baton)
{
    apr_array_header_t *records = baton;
    apr_hash_t *owners = apr_hash_make(s->p);
    aop_store_record_t *r;
    sqlite3_stmt *st;
    apr_status_t rv;
    int row;

    if ((rv = load_owners(s, owners)) != APR_SUCCESS
        || (rv = prep(s, "SELECT name, data, version, deleted, updated_at, updated_by "
                      "FROM instances ORDER BY name", &st)) != APR_SUCCESS) {
        return rv;
    }
    while ((rv = step(s, st, "cannot read the instances", &row)) == APR_SUCCESS && row) {
        r = apr_pcalloc(s->p, sizeof(*r));
        if ((rv = load_record(s, st, r)) != APR_SUCCESS) {
            return rv;
        }
        if (!r->deleted) {
            r->owned = apr_hash_get(owners, r->name, APR_HASH_KEY_STRING);
            r->owned = r->owned ? r->owned : apr_hash_make(s->p);
        }
        APR_ARRAY_PUSH(records, aop_store_record_t *) = r;
    }
    return rv;
}

apr_status_t aop_store_load(apr_pool_t *p, const char *path,
                            apr_array_header_t **records, aop_store_result_t *res)
{
    aop_store_result_t dummy;
    store_t s;
    apr_array_header_t *all = apr_array_make(p, 8, sizeof(aop_store_record_t *));
    apr_status_t rv;

    init_store(&s, p, path, NULL, res ? res : &dummy);
    rv = in_transaction(&s, load_work, all);
    *records = (rv == APR_SUCCESS) ? all : NULL;
    return rv;
}

/* --------------------------------------------------------------------------
 * history
 */
/* What the API shows of a stored version: the schema's secrets masked. */
static void mask_secrets(json_object *obj)
{
    const aop_field_t *f;
    json_object *v;

    for (f = aop_instance_fields; f->key; ++f) {
        if ((f->flags & AOP_FIELD_SECRET) && json_object_object_get_ex(obj, f->key, &v)
            && json_object_is_type(v, json_type_string) && json_object_get_string_len(v)) {
            json_object_object_add(obj, f->key, json_object_new_string(AOP_API_KEY_MASK));
        }
    }
}

typedef struct {
    const char *name;
    apr_array_header_t *versions;
} versions_t;

static apr_status_t versions_work(store_t *s, void *baton)
{
    versions_t *vs = baton;
    aop_store_version_t *v;
    sqlite3_stmt *st;
    apr_status_t rv;
    int row;

    if ((rv = prep(s, "SELECT version, data, changed_at, changed_by, change, fields FROM "
                   "instance_versions WHERE name = ? ORDER BY version DESC", &st))
        != APR_SUCCESS) {
        return rv;
    }
    bind_text(st, 1, vs->name);
    while ((rv = step(s, st, "cannot read the versions", &row)) == APR_SUCCESS && row) {
        v = apr_pcalloc(s->p, sizeof(*v));
        v->version = sqlite3_column_int(st, 0);
        v->changed_at = col_text(s, st, 2);
        v->changed_by = col_text(s, st, 3);
        v->change = col_text(s, st, 4);
        v->fields = fields_array(s->p, col_text(s, st, 5));
        if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
            rv = parse_stored(s, vs->name, v->version, col_text(s, st, 1), &v->instance);
            if (rv != APR_SUCCESS) {
                return rv;
            }
            mask_secrets(v->instance);
        }
        APR_ARRAY_PUSH(vs->versions, aop_store_version_t *) = v;
    }
    if (rv == APR_SUCCESS && !vs->versions->nelts) {
        return fail(s, AOP_STORE_NOT_FOUND, vs->name, "instance \"%s\" has no stored "
                    "versions", vs->name);
    }
    return rv;
}

apr_status_t aop_store_versions(apr_pool_t *p, const char *path, const char *name,
                                apr_array_header_t **versions, aop_store_result_t *res)
{
    aop_store_result_t dummy;
    store_t s;
    versions_t vs;
    apr_status_t rv;

    init_store(&s, p, path, NULL, res ? res : &dummy);
    vs.name = name ? name : "";
    vs.versions = apr_array_make(p, 8, sizeof(aop_store_version_t *));
    rv = in_transaction(&s, versions_work, &vs);
    *versions = (rv == APR_SUCCESS) ? vs.versions : NULL;
    return rv;
}

typedef struct {
    const char *name;
    int to_version;
    int new_version;
} rollback_t;

/* The data of one version: *found 0 if there is no such version, *data NULL if it is
 * a deletion. */
static apr_status_t get_version(store_t *s, const char *name, int version, int *found,
                                const char **data)
{
    sqlite3_stmt *st;
    apr_status_t rv;

    *data = NULL;
    if ((rv = prep(s, "SELECT data FROM instance_versions WHERE name = ? AND version = ?",
                   &st)) != APR_SUCCESS) {
        return rv;
    }
    bind_text(st, 1, name);
    sqlite3_bind_int(st, 2, version);
    if ((rv = step(s, st, "cannot read a version", found)) == APR_SUCCESS && *found) {
        *data = col_text(s, st, 0);
    }
    return rv;
}

/* Old data is validated with today's rules: a version that no longer passes is not
 * brought back. */
static apr_status_t restore(store_t *s, rollback_t *rb, current_t *cur, const char *data)
{
    json_object *obj, *before;
    aop_instance_t *inst;
    const char *err, *field;
    version_t v;
    apr_status_t rv;

    if ((rv = parse_stored(s, rb->name, rb->to_version, data, &obj)) != APR_SUCCESS
        || (rv = current_json(s, rb->name, cur, &before)) != APR_SUCCESS) {
        return rv;
    }
    if (aop_instance_from_json(s->p, obj, NULL, 0, &inst, &err, &field) != APR_SUCCESS) {
        fail(s, AOP_STORE_INVALID, rb->name, "version %d of instance \"%s\" is no longer "
             "valid: %s", rb->to_version, rb->name, err);
        s->res->field = field;
        return APR_EINVAL;
    }
    obj = aop_json_own(s->p, aop_instance_to_json(inst, 1));
    v.name = rb->name;
    v.data = aop_json_to_string(s->p, obj);
    v.change = "rollback";
    v.fields = fields_text(s->p, aop_instance_json_diff(s->p, before, obj));
    v.to_version = rb->to_version;
    return write_version(s, cur, &v, &rb->new_version);
}

static apr_status_t rollback_work(store_t *s, void *baton)
{
    rollback_t *rb = baton;
    aop_store_change_t c;
    current_t cur;
    const char *data;
    apr_status_t rv;
    int found;

    if ((rv = get_current(s, rb->name, &cur)) != APR_SUCCESS
        || (rv = get_version(s, rb->name, rb->to_version, &found, &data)) != APR_SUCCESS) {
        return rv;
    }
    if (!found) {
        return fail(s, AOP_STORE_NOT_FOUND, rb->name, "instance \"%s\" has no version %d",
                    rb->name, rb->to_version);
    }
    if (data) {
        return restore(s, rb, &cur, data);
    }
    memset(&c, 0, sizeof(c));
    c.name = rb->name;
    rv = delete_one(s, &c, "rollback", rb->to_version);
    rb->new_version = c.new_version;
    return rv;
}

typedef struct {
    const char *name;
    const aop_instance_t *base;
    int new_version;
} revert_t;

/* Version 0: the YAML instance again, owning no field; with none, a deletion. */
static apr_status_t revert_work(store_t *s, void *baton)
{
    revert_t *rb = baton;
    aop_store_change_t c;
    json_object *after, *before;
    current_t cur;
    version_t v;
    apr_status_t rv;

    if ((rv = get_current(s, rb->name, &cur)) != APR_SUCCESS) {
        return rv;
    }
    if (!cur.exists) {
        return fail(s, AOP_STORE_NOT_FOUND, rb->name, "instance \"%s\" has no stored "
                    "versions", rb->name);
    }
    if (!rb->base) {
        if (cur.deleted) {
            return fail(s, AOP_STORE_CONFLICT, rb->name, "instance \"%s\" is deleted "
                        "already, and no YAML defines it", rb->name);
        }
        memset(&c, 0, sizeof(c));
        c.name = rb->name;
        rv = delete_one(s, &c, "revert", 0);
        rb->new_version = c.new_version;
        return rv;
    }
    if ((rv = validated(s, rb->base, &after)) != APR_SUCCESS
        || (rv = current_json(s, rb->name, &cur, &before)) != APR_SUCCESS) {
        return rv;
    }
    v.name = rb->name;
    v.data = aop_json_to_string(s->p, after);
    v.change = "revert";
    v.fields = fields_text(s->p, aop_instance_json_diff(s->p, before, after));
    v.to_version = 0;
    return write_version(s, &cur, &v, &rb->new_version);
}

apr_status_t aop_store_revert(apr_pool_t *p, const char *path, const char *name,
                              const aop_instance_t *base, const char *who, int *new_version,
                              aop_store_result_t *res)
{
    aop_store_result_t dummy;
    store_t s;
    revert_t r;
    apr_status_t rv;

    init_store(&s, p, path, who, res ? res : &dummy);
    r.name = name ? name : "";
    r.base = base;
    r.new_version = 0;
    if (base && (!base->name || strcmp(base->name, r.name) != 0)) {
        fail(&s, AOP_STORE_INVALID, r.name, "the YAML instance given is not \"%s\"", r.name);
        return APR_EINVAL;
    }
    rv = in_transaction(&s, revert_work, &r);
    if (rv == APR_SUCCESS && new_version) {
        *new_version = r.new_version;
    }
    return rv;
}

apr_status_t aop_store_rollback(apr_pool_t *p, const char *path, const char *name,
                                int to_version, const char *who, int *new_version,
                                aop_store_result_t *res)
{
    aop_store_result_t dummy;
    store_t s;
    rollback_t rb;
    apr_status_t rv;

    init_store(&s, p, path, who, res ? res : &dummy);
    rb.name = name ? name : "";
    rb.to_version = to_version;
    rb.new_version = 0;
    rv = in_transaction(&s, rollback_work, &rb);
    if (rv == APR_SUCCESS && new_version) {
        *new_version = rb.new_version;
    }
    return rv;
}

typedef struct {
    const char *name;
    int limit;
    apr_array_header_t *entries;
} log_t;

static apr_status_t log_work(store_t *s, void *baton)
{
    log_t *lg = baton;
    aop_store_log_entry_t *e;
    sqlite3_stmt *st;
    apr_status_t rv;
    int row;

    if ((rv = prep(s, "SELECT id, at, who, action, name, detail FROM change_log "
                   "WHERE ?1 IS NULL OR name = ?1 ORDER BY id DESC LIMIT ?2", &st))
        != APR_SUCCESS) {
        return rv;
    }
    bind_text(st, 1, lg->name);
    sqlite3_bind_int(st, 2, lg->limit > 0 ? lg->limit : -1);
    while ((rv = step(s, st, "cannot read the change log", &row)) == APR_SUCCESS && row) {
        e = apr_pcalloc(s->p, sizeof(*e));
        e->id = sqlite3_column_int64(st, 0);
        e->at = col_text(s, st, 1);
        e->who = col_text(s, st, 2);
        e->action = col_text(s, st, 3);
        e->name = col_text(s, st, 4);
        e->detail = col_text(s, st, 5);
        APR_ARRAY_PUSH(lg->entries, aop_store_log_entry_t *) = e;
    }
    return rv;
}

apr_status_t aop_store_change_log(apr_pool_t *p, const char *path, const char *name,
                                  int limit, apr_array_header_t **entries,
                                  aop_store_result_t *res)
{
    aop_store_result_t dummy;
    store_t s;
    log_t lg;
    apr_status_t rv;

    init_store(&s, p, path, NULL, res ? res : &dummy);
    lg.name = name;
    lg.limit = limit;
    lg.entries = apr_array_make(p, 16, sizeof(aop_store_log_entry_t *));
    rv = in_transaction(&s, log_work, &lg);
    *entries = (rv == APR_SUCCESS) ? lg.entries : NULL;
    return rv;
}

/* --------------------------------------------------------------------------
 * a first batch (aop_store_private.h: the state-file import)
 */
typedef struct {
    aop_store_batch_fn *build;
    void *baton;
    int applied;
} first_t;

static apr_status_t count_rows(store_t *s, apr_int64_t *n)
{
    sqlite3_stmt *st;
    apr_status_t rv;
    int row;

    if ((rv = prep(s, "SELECT count(*) FROM instances", &st)) != APR_SUCCESS
        || (rv = step(s, st, "cannot count the instances", &row)) != APR_SUCCESS) {
        return rv;
    }
    *n = row ? sqlite3_column_int64(st, 0) : 0;
    return APR_SUCCESS;
}

static apr_status_t first_work(store_t *s, void *baton)
{
    first_t *f = baton;
    apr_array_header_t *changes = apr_array_make(s->p, 8, sizeof(aop_store_change_t));
    apr_int64_t rows;
    apr_status_t rv;

    if ((rv = count_rows(s, &rows)) != APR_SUCCESS || rows > 0
        || (rv = f->build(s->p, f->baton, changes, s->res)) != APR_SUCCESS
        || (rv = put_many_work(s, changes)) != APR_SUCCESS) {
        return rv;
    }
    f->applied = changes->nelts;
    return APR_SUCCESS;
}

apr_status_t aop_store_put_many_if_empty(apr_pool_t *p, const char *path, const char *who,
                                         aop_store_batch_fn *build, void *baton,
                                         int *applied, aop_store_result_t *res)
{
    aop_store_result_t dummy;
    first_t f = { build, baton, 0 };
    store_t s;
    apr_status_t rv;

    init_store(&s, p, path, who, res ? res : &dummy);
    rv = in_transaction(&s, first_work, &f);
    *applied = (rv == APR_SUCCESS) ? f.applied : 0;
    return rv;
}

/* --------------------------------------------------------------------------
 * check
 */
static apr_status_t integrity(store_t *s, aop_store_report_t *rep)
{
    sqlite3_stmt *st;
    const char *line;
    apr_status_t rv;
    int row;

    if ((rv = prep(s, "PRAGMA integrity_check(20)", &st)) != APR_SUCCESS) {
        return rv;
    }
    while ((rv = step(s, st, "cannot check integrity", &row)) == APR_SUCCESS && row) {
        line = col_text(s, st, 0);
        rep->integrity = rep->integrity ? apr_pstrcat(s->p, rep->integrity, "; ", line, NULL)
                                        : line;
    }
    rep->ok = (rv == APR_SUCCESS && rep->integrity && !strcmp(rep->integrity, "ok"));
    return rv;
}

static apr_status_t count_sql(store_t *s, const char *sql, apr_int64_t *n)
{
    sqlite3_stmt *st;
    apr_status_t rv;
    int row;

    if ((rv = prep(s, sql, &st)) != APR_SUCCESS
        || (rv = step(s, st, "cannot count rows", &row)) != APR_SUCCESS) {
        return rv;
    }
    *n = row ? sqlite3_column_int64(st, 0) : 0;
    return APR_SUCCESS;
}

/* Counts only when the schema is there: the check never creates it. */
static apr_status_t counts(store_t *s, aop_store_report_t *rep)
{
    apr_int64_t tables = 0, version = 0;
    apr_status_t rv;

    if ((rv = count_sql(s, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                        "name IN ('schema_version', 'instances', 'instance_versions', "
                        "'change_log')", &tables)) != APR_SUCCESS || tables < 4) {
        return rv;
    }
    if ((rv = count_sql(s, "SELECT max(version) FROM schema_version", &version))
            != APR_SUCCESS
        || (rv = count_sql(s, "SELECT count(*) FROM instances WHERE deleted = 0",
                           &rep->instances)) != APR_SUCCESS
        || (rv = count_sql(s, "SELECT count(*) FROM instances WHERE deleted != 0",
                           &rep->deleted)) != APR_SUCCESS
        || (rv = count_sql(s, "SELECT count(*) FROM instance_versions", &rep->versions))
            != APR_SUCCESS) {
        return rv;
    }
    rep->schema_version = (int)version;
    return count_sql(s, "SELECT count(*) FROM change_log", &rep->changes);
}

static apr_off_t file_size(apr_pool_t *p, const char *path)
{
    apr_finfo_t fi;

    return apr_stat(&fi, path, APR_FINFO_SIZE, p) == APR_SUCCESS ? fi.size : -1;
}

apr_status_t aop_store_check(apr_pool_t *p, const char *path, aop_store_report_t *report,
                             aop_store_result_t *res)
{
    aop_store_result_t dummy;
    store_t s;
    apr_status_t rv;

    init_store(&s, p, path, NULL, res ? res : &dummy);
    memset(report, 0, sizeof(*report));
    report->file_size = file_size(p, s.path);
    report->wal_size = file_size(p, apr_pstrcat(p, s.path, "-wal", NULL));
    if (report->file_size < 0) {
        return fail(&s, AOP_STORE_NOT_FOUND, NULL, "does not exist");
    }
    if ((rv = open_db(&s, 0)) == APR_SUCCESS
        && (rv = exec(&s, "BEGIN", "cannot begin a transaction")) == APR_SUCCESS
        && (rv = integrity(&s, report)) == APR_SUCCESS
        && (rv = counts(&s, report)) == APR_SUCCESS) {
        rv = exec(&s, "COMMIT", "cannot commit");
    }
    close_db(&s);
    if (rv == APR_SUCCESS && !report->ok) {
        rv = fail(&s, AOP_STORE_CORRUPT, NULL, "integrity check failed: %s",
                  report->integrity ? report->integrity : "no answer");
    }
    return rv;
}
