/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The instances of the Python version's state file (INSTANCE_MANAGER_STATE_FILE),
 * imported into an empty instance store (aop_store.h) at the first start. */
#ifndef AOP_STORE_IMPORT_H
#define AOP_STORE_IMPORT_H

#include <apr_pools.h>
#include <apr_tables.h>

#include "aop_store.h"

/* First start: when the database has no instance rows at all (not even deletions)
 * and state_path names an existing file, imports its instances (change "import", who
 * "state-file"), all or nothing, and sets *imported to their number; otherwise
 * *imported is 0.  bases (aop_instance_t *, may be NULL) are the YAML instances: a
 * state-file instance of the same name takes its absent fields from there (state file
 * over YAML, field by field); others need every required field.  Each import version
 * records as its fields the instance keys the entry gave, so that only those (and the
 * name) are owned: the fields taken from a base stay YAML's.  The file format is
 * described at aop_store_import_state_file() in aop_store_import.c. */
apr_status_t aop_store_import_state_file(apr_pool_t *p, const char *db_path,
                                         const char *state_path,
                                         const apr_array_header_t *bases, int *imported,
                                         aop_store_result_t *res);

#endif
