/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The instance store: the instances operators add, change and delete through the
 * admin API, kept in SQLite with every version, so that changes survive restarts
 * and can be rolled back.  A stored record overrides a YAML instance of the same name
 * field by field: only the fields its versions set (aop_store_record_t.owned) take
 * precedence, the others stay YAML's (aop_layers.c merges the two); a stored
 * deletion hides the YAML instance as a whole.
 *
 * Every call takes the database's path, opens it, does all its work in one
 * transaction and closes it again: nothing is kept open across httpd's forks, and a
 * failed call changes nothing.  Callers choose the path (this file never guesses
 * one).  Errors come back in an aop_store_result_t whose status says what the
 * caller should answer; messages name the path and the cause, never a key.  The
 * Python version's state file is imported by aop_store_import.h. */
#ifndef AOP_STORE_H
#define AOP_STORE_H

#include <apr_file_info.h>
#include <apr_hash.h>
#include <apr_pools.h>
#include <apr_tables.h>
#include <json-c/json.h>

#include "aop_config.h"

/* The database callers use when neither a directive nor $INSTANCE_MANAGER_DB_PATH
 * names one: the module and aoproxy-db keep it in this one place. */
#define AOP_DEFAULT_DB_PATH "/var/lib/apache2/aoproxy/instance_state.db"

typedef enum {
    AOP_STORE_OK = 0,
    AOP_STORE_INVALID,      /* an instance breaks the schema (field says which): 400 */
    AOP_STORE_NOT_FOUND,    /* no such instance or version: 404 */
    AOP_STORE_CONFLICT,     /* exists already, changed meanwhile, named twice: 409 */
    AOP_STORE_BUSY,         /* locked by another writer past the busy timeout: 503 */
    AOP_STORE_CORRUPT,      /* not a database, damaged, or a stored record broken: 503 */
    AOP_STORE_UNWRITABLE,   /* disk full, read-only, cannot open, I/O error: 503 */
    AOP_STORE_ERROR         /* anything else (a newer schema, an unreadable file): 500 */
} aop_store_status_e;

typedef struct {
    aop_store_status_e status;
    const char *message;    /* NULL on success */
    const char *field;      /* AOP_STORE_INVALID: "weight", "model_deployments.gpt-4o" */
    const char *name;       /* the instance concerned, if any */
} aop_store_result_t;

/* "ok", "invalid", "not found", "conflict", "busy", "corrupt", "unwritable", "error" */
const char *aop_store_status_name(aop_store_status_e status);

/* The HTTP status for the admin API to answer: 200, 400, 404, 409, 503 or 500. */
int aop_store_http_status(aop_store_status_e status);

/* How long a call waits for another process's transaction before AOP_STORE_BUSY.
 * Process-wide; ms <= 0 restores the default. */
#define AOP_STORE_BUSY_TIMEOUT_DEFAULT 5000
void aop_store_set_busy_timeout(int ms);

/* Every call below returns APR_SUCCESS, or an error with *res filled in (res may be
 * NULL): APR_EINVAL, APR_ENOENT, APR_EEXIST, APR_EBUSY, APR_EGENERAL (corrupt or
 * other) or APR_ENOSPC (unwritable), matching res->status. */

/* Who last set one field of a stored record. */
typedef struct {
    int imported;   /* 1: set by the state-file import, 0: by the API (add, update, rollback) */
    int version;    /* the version that last set it */
} aop_store_owner_t;

typedef struct {
    const char *name;
    aop_instance_t *inst;   /* NULL when deleted; inst->file and sources name the path */
    int version;            /* the latest version, a deletion's too */
    int deleted;
    const char *updated_at; /* ISO 8601 UTC, "2024-05-01T12:00:00.123Z" */
    const char *updated_by;
    apr_hash_t *owned;      /* the fields the record sets: instance JSON key ->
                             * aop_store_owner_t *; NULL when deleted */
} aop_store_record_t;

/* Every stored name (aop_store_record_t *, by name): live instances, and deleted ones
 * (inst NULL), which must hide a YAML instance of the same name.  A stored record
 * that no longer passes aop_instance_from_json() fails the whole load
 * (AOP_STORE_CORRUPT, naming the instance and the field) rather than silently
 * falling back to YAML.
 *
 * owned follows the versions of a name, oldest to newest: "add" sets every key;
 * "import" exactly the keys its state-file entry gave, and "name" (imported=1);
 * "update" and "rollback" add their fields to the earlier versions' set; a deletion
 * (a "delete", or a rollback to one) and a "revert" (aop_store_revert) empty it.  inst holds every field all the
 * same: the rest are those of the YAML instance or defaults at the time of writing. */
apr_status_t aop_store_load(apr_pool_t *p, const char *path,
                            apr_array_header_t **records, aop_store_result_t *res);

/* Adds or updates inst (validated again here: AOP_STORE_INVALID) as a new version:
 *   change "add":    CONFLICT if the name is stored and not deleted (a deleted name
 *                    may be added again; its versions continue);
 *   change "update": NOT_FOUND if the name is stored as deleted; a name not stored
 *                    at all is an instance from YAML and gets its first version;
 *   change "import": like "add";
 *   change NULL:     "add" or "update", whichever applies.
 * fields (const char *) names what changed, for the history and for the record's
 * owned fields: the admin API passes the keys present in a PATCH body, so that a
 * PATCH of a YAML instance owns only those keys and YAML keeps the others.  NULL
 * computes it from the previous version (for the first version of a YAML instance,
 * that is every key).  "add" owns every key whatever fields says.  *new_version (may
 * be NULL) is the version written. */
apr_status_t aop_store_put(apr_pool_t *p, const char *path, const aop_instance_t *inst,
                           const char *who, const char *change,
                           const apr_array_header_t *fields, int *new_version,
                           aop_store_result_t *res);

typedef struct {
    const aop_instance_t *inst;     /* NULL: delete name */
    const char *name;               /* for a delete; ignored when inst is given */
    const char *change;             /* as for aop_store_put(); ignored for a delete */
    const apr_array_header_t *fields;
    int if_version;                 /* > 0: CONFLICT unless this is the latest version */
    int new_version;                /* out */
} aop_store_change_t;

/* Applies changes (aop_store_change_t, by value) in order, all or nothing: one
 * invalid, conflicting or missing entry (or a name given twice) and nothing is
 * written; res->name says which. */
apr_status_t aop_store_put_many(apr_pool_t *p, const char *path,
                                apr_array_header_t *changes, const char *who,
                                aop_store_result_t *res);

/* Writes a deletion as a new version.  NOT_FOUND if the name is stored as deleted; a
 * name not stored at all is taken to be a YAML instance and gets a deletion as its
 * first version (the caller checks that it exists). */
apr_status_t aop_store_delete(apr_pool_t *p, const char *path, const char *name,
                              const char *who, int *new_version, aop_store_result_t *res);

typedef struct {
    int version;
    const char *changed_at;
    const char *changed_by;
    const char *change;             /* add, update, delete, rollback, revert, import */
    apr_array_header_t *fields;     /* const char *: the fields changed */
    json_object *instance;          /* api_key masked; NULL for a deletion; owned by
                                     * the pool (json_object_get() it to keep it) */
} aop_store_version_t;

/* The versions of name (aop_store_version_t *), newest first; NOT_FOUND if none. */
apr_status_t aop_store_versions(apr_pool_t *p, const char *path, const char *name,
                                apr_array_header_t **versions, aop_store_result_t *res);

/* Writes version to_version's data again as a new version (change "rollback"); a
 * deletion is rolled back to by deleting (CONFLICT if already deleted).  NOT_FOUND if
 * there is no such version; INVALID if its data no longer passes validation. */
apr_status_t aop_store_rollback(apr_pool_t *p, const char *path, const char *name,
                                int to_version, const char *who, int *new_version,
                                aop_store_result_t *res);

/* Rolls name back to "version 0", before any stored change: base, the instance as
 * the YAML (and the defaults) define it, is written as a new version (change
 * "revert") that owns no field, so that every field follows the YAML again, from now
 * on too; with base NULL (no YAML defines the name) the version is a deletion.  A
 * deleted name comes back this way.  NOT_FOUND if the name has no versions (there is
 * nothing to revert), CONFLICT if it is deleted and base is NULL, INVALID if base
 * does not pass validation or is not called name. */
apr_status_t aop_store_revert(apr_pool_t *p, const char *path, const char *name,
                              const aop_instance_t *base, const char *who, int *new_version,
                              aop_store_result_t *res);

typedef struct {
    apr_int64_t id;
    const char *at;
    const char *who;
    const char *action;             /* add, update, delete, rollback, revert, import */
    const char *name;
    const char *detail;             /* JSON: {"version":N,"fields":[...]} and, for a
                                     * rollback, "to_version" */
} aop_store_log_entry_t;

/* The change log (aop_store_log_entry_t *), newest first: of name, or of every
 * instance when name is NULL; at most limit entries (<= 0: all). */
apr_status_t aop_store_change_log(apr_pool_t *p, const char *path, const char *name,
                                  int limit, apr_array_header_t **entries,
                                  aop_store_result_t *res);

typedef struct {
    int ok;                     /* integrity_check said "ok" */
    const char *integrity;      /* its findings, "; "-joined (at most 20) */
    int schema_version;         /* 0: no schema yet */
    apr_int64_t instances;      /* live */
    apr_int64_t deleted;
    apr_int64_t versions;
    apr_int64_t changes;        /* change_log rows */
    apr_off_t file_size;        /* bytes; -1 when absent */
    apr_off_t wal_size;
} aop_store_report_t;

/* For a maintenance tool: integrity_check, row counts and sizes, filled in as far as
 * they could be read.  Never creates the database (NOT_FOUND if it is missing);
 * AOP_STORE_CORRUPT when the integrity check fails. */
apr_status_t aop_store_check(apr_pool_t *p, const char *path, aop_store_report_t *report,
                             aop_store_result_t *res);

#endif
