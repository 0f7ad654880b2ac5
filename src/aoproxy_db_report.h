/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* aoproxy-db's JSON reports: the health of the instance store, an instance's
 * versions and the change log.  Objects are owned by the pool (aop_json_own()).  No
 * report holds an api_key: the health report shows no instance data at all, and
 * versions come from aop_store_versions(), which masks the keys. */
#ifndef AOPROXY_DB_REPORT_H
#define AOPROXY_DB_REPORT_H

#include <apr_pools.h>
#include <json-c/json.h>

/* The health of the database at path:
 *   {"status": "ok"|"missing"|"corrupt"|"busy"|..., "ok": bool, "db_path", "checked_at",
 *    "integrity", "schema_version", "file_size", "wal_size", "page_size", "page_count",
 *    "freelist_count", "journal_mode", "tables": {name: rows},
 *    "instances": {"live", "deleted"},
 *    "versions": {"total", "instances", "max_per_instance", "oldest", "newest"},
 *    "change_log": {"entries", "oldest", "newest"}, "error" (when not ok)}
 * as far as they could be read.  *ok is 1 when the file exists, passes
 * integrity_check and could be read; otherwise *err says why.  Never creates the
 * database. */
json_object *aoproxy_db_health(apr_pool_t *p, const char *path, int *ok,
                               const char **err);

/* {"name": name, "versions": [{"version", "changed_at", "changed_by", "change",
 * "fields", "instance"}, ...]}, newest first; instance is null for a deletion. */
apr_status_t aoproxy_db_versions(apr_pool_t *p, const char *path, const char *name,
                                 json_object **out, const char **err);

/* {"entries": [{"id", "at", "who", "action", "name", "detail"}, ...]}, newest first,
 * at most limit entries (0: all). */
apr_status_t aoproxy_db_log(apr_pool_t *p, const char *path, int limit,
                            json_object **out, const char **err);

/* obj as indented JSON text with a final newline. */
const char *aoproxy_db_json_text(apr_pool_t *p, json_object *obj);

#endif
