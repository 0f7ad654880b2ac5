/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* aoproxy-db's JSON reports.  The health report starts from aop_store_check() (the
 * integrity check, the counts the store knows) and adds what an operator watches over
 * time: every table's rows, page and free-page counts (when VACUUM would pay), and
 * the span of the version history and the change log. */
#include <string.h>

#include <apr_strings.h>
#include <apr_time.h>
#include <sqlite3.h>

#include "aoproxy_db_report.h"
#include "aop_json.h"
#include "aop_store.h"

static void add_str(json_object *obj, const char *key, const char *value)
{
    json_object_object_add(obj, key, value ? json_object_new_string(value) : NULL);
}

static void add_int(json_object *obj, const char *key, apr_int64_t value)
{
    json_object_object_add(obj, key, json_object_new_int64(value));
}

static json_object *column_json(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL:
        return NULL;
    case SQLITE_INTEGER:
        return json_object_new_int64(sqlite3_column_int64(st, i));
    default:
        return json_object_new_string((const char *)sqlite3_column_text(st, i));
    }
}

/* The columns of sql's first row, added to obj under keys (NULL-terminated). */
static int add_row(sqlite3 *db, const char *sql, json_object *obj,
                   const char *const *keys)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL), i;

    if (rc != SQLITE_OK) {
        return rc;
    }
    if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (i = 0; keys[i]; ++i) {
            json_object_object_add(obj, keys[i], column_json(st, i));
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* {"instances": 3, "change_log": 7, ...} for every table there is. */
static int table_rows(sqlite3 *db, json_object *tables)
{
    const char *key[2] = { NULL, NULL };
    sqlite3_stmt *st;
    char *sql;
    int rc = sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table' "
                                "ORDER BY name", -1, &st, NULL);

    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        key[0] = (const char *)sqlite3_column_text(st, 0);
        sql = sqlite3_mprintf("SELECT count(*) FROM \"%w\"", key[0]);
        rc = sql ? add_row(db, sql, tables, key) : SQLITE_NOMEM;
        sqlite3_free(sql);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int history(sqlite3 *db, const aop_store_report_t *rep, json_object *out)
{
    static const char *const pages[][2] = {
        { "PRAGMA page_size", "page_size" }, { "PRAGMA page_count", "page_count" },
        { "PRAGMA freelist_count", "freelist_count" }, { "PRAGMA journal_mode", "journal_mode" }
    };
    static const char *const version_keys[] = { "total", "instances", "oldest", "newest", NULL };
    static const char *const max_key[] = { "max_per_instance", NULL };
    static const char *const log_keys[] = { "entries", "oldest", "newest", NULL };
    json_object *tables = json_object_new_object(), *inst, *versions, *log;
    const char *key[2] = { NULL, NULL };
    size_t i;
    int rc = SQLITE_OK;

    for (i = 0; rc == SQLITE_OK && i < sizeof(pages) / sizeof(pages[0]); ++i) {
        key[0] = pages[i][1];
        rc = add_row(db, pages[i][0], out, key);
    }
    json_object_object_add(out, "tables", tables);
    if (rc != SQLITE_OK || (rc = table_rows(db, tables)) != SQLITE_OK
        || rep->schema_version <= 0) {
        return rc;     /* not an instance store (yet): no history to describe */
    }
    json_object_object_add(out, "instances", inst = json_object_new_object());
    add_int(inst, "live", rep->instances);
    add_int(inst, "deleted", rep->deleted);
    json_object_object_add(out, "versions", versions = json_object_new_object());
    json_object_object_add(out, "change_log", log = json_object_new_object());
    if ((rc = add_row(db, "SELECT count(*), count(DISTINCT name), min(changed_at), "
                      "max(changed_at) FROM instance_versions", versions, version_keys))
            == SQLITE_OK
        && (rc = add_row(db, "SELECT max(n) FROM (SELECT count(*) AS n FROM "
                         "instance_versions GROUP BY name)", versions, max_key))
            == SQLITE_OK) {
        rc = add_row(db, "SELECT count(*), min(at), max(at) FROM change_log", log, log_keys);
    }
    return rc;
}

/* What aop_store_check() does not count, read in one transaction; NULL or why not. */
static const char *details(apr_pool_t *p, const char *path, const aop_store_report_t *rep,
                           json_object *out)
{
    sqlite3 *db = NULL;
    const char *why = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);

    sqlite3_busy_timeout(db, AOP_STORE_BUSY_TIMEOUT_DEFAULT);
    if (rc == SQLITE_OK) {
        rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK && (rc = history(db, rep, out)) == SQLITE_OK) {
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        why = apr_psprintf(p, "instance store %s: cannot read the details: %s", path,
                           db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    }
    sqlite3_close(db);
    return why;
}

static const char *now_iso(apr_pool_t *p)
{
    apr_time_exp_t t;

    apr_time_exp_gmt(&t, apr_time_now());
    return apr_psprintf(p, "%04d-%02d-%02dT%02d:%02d:%02dZ", t.tm_year + 1900,
                        t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec);
}

json_object *aoproxy_db_health(apr_pool_t *p, const char *path, int *ok,
                               const char **err)
{
    json_object *r = aop_json_own(p, json_object_new_object());
    json_object *more = aop_json_own(p, json_object_new_object());
    aop_store_report_t rep;
    aop_store_result_t res;
    const char *status = "ok";

    *err = NULL;
    if (aop_store_check(p, path, &rep, &res) != APR_SUCCESS) {
        *err = res.message;
        status = res.status == AOP_STORE_NOT_FOUND ? "missing"
                                                   : aop_store_status_name(res.status);
    }
    else if ((*err = details(p, path, &rep, more)) != NULL) {
        status = "error";
    }
    *ok = (*err == NULL);
    add_str(r, "status", status);
    json_object_object_add(r, "ok", json_object_new_boolean(*ok));
    add_str(r, "db_path", path);
    add_str(r, "checked_at", now_iso(p));
    if (*err) {
        add_str(r, "error", *err);
    }
    add_str(r, "integrity", rep.integrity);
    add_int(r, "schema_version", rep.schema_version);
    json_object_object_add(r, "file_size", rep.file_size < 0 ? NULL
                                           : json_object_new_int64(rep.file_size));
    add_int(r, "wal_size", rep.wal_size < 0 ? 0 : rep.wal_size);
    json_object_object_foreach(more, key, val) {
        json_object_object_add(r, key, json_object_get(val));
    }
    return r;
}

/* --------------------------------------------------------------------------
 * history
 */
apr_status_t aoproxy_db_versions(apr_pool_t *p, const char *path, const char *name,
                                 json_object **out, const char **err)
{
    apr_array_header_t *versions;
    aop_store_result_t res;
    aop_store_version_t *v;
    json_object *list, *o;
    apr_status_t rv;
    int i;

    if ((rv = aop_store_versions(p, path, name, &versions, &res)) != APR_SUCCESS) {
        *err = res.message;
        return rv;
    }
    *out = aop_json_own(p, json_object_new_object());
    add_str(*out, "name", name);
    json_object_object_add(*out, "versions", list = json_object_new_array());
    for (i = 0; i < versions->nelts; ++i) {
        v = APR_ARRAY_IDX(versions, i, aop_store_version_t *);
        json_object_array_add(list, o = json_object_new_object());
        add_int(o, "version", v->version);
        add_str(o, "changed_at", v->changed_at);
        add_str(o, "changed_by", v->changed_by);
        add_str(o, "change", v->change);
        json_object_object_add(o, "fields", aop_json_str_array(v->fields));
        json_object_object_add(o, "instance", json_object_get(v->instance));  /* masked */
    }
    return APR_SUCCESS;
}

/* The detail column is JSON the store wrote; shown as such, or as text if not. */
static json_object *detail_json(apr_pool_t *p, const char *detail)
{
    const char *perr;
    json_object *d = detail ? aop_json_parse(p, detail, strlen(detail), &perr) : NULL;

    return d ? json_object_get(d) : detail ? json_object_new_string(detail) : NULL;
}

apr_status_t aoproxy_db_log(apr_pool_t *p, const char *path, int limit,
                            json_object **out, const char **err)
{
    apr_array_header_t *entries;
    aop_store_log_entry_t *e;
    aop_store_result_t res;
    json_object *list, *o;
    apr_status_t rv;
    int i;

    if ((rv = aop_store_change_log(p, path, NULL, limit, &entries, &res)) != APR_SUCCESS) {
        *err = res.message;
        return rv;
    }
    *out = aop_json_own(p, json_object_new_object());
    json_object_object_add(*out, "entries", list = json_object_new_array());
    for (i = 0; i < entries->nelts; ++i) {
        e = APR_ARRAY_IDX(entries, i, aop_store_log_entry_t *);
        json_object_array_add(list, o = json_object_new_object());
        add_int(o, "id", e->id);
        add_str(o, "at", e->at);
        add_str(o, "who", e->who);
        add_str(o, "action", e->action);
        add_str(o, "name", e->name);
        json_object_object_add(o, "detail", detail_json(p, e->detail));
    }
    return APR_SUCCESS;
}

const char *aoproxy_db_json_text(apr_pool_t *p, json_object *obj)
{
    return apr_pstrcat(p, json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY
                                                         | JSON_C_TO_STRING_SPACED
                                                         | JSON_C_TO_STRING_NOSLASHESCAPE),
                       "\n", NULL);
}
