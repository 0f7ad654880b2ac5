/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The response-affinity table's shared memory segment, and the request path's
 * calls into it. */
#include <apr_general.h>
#include <apr_shm.h>

#include "mod_aoproxy_private.h"
#include "mod_aoproxy_affinity.h"

#define RETAINED_KEY "mod_aoproxy_affinity"

/* An id is kept until its entry is overwritten, however old: a response Azure no
 * longer stores is answered 404 by its own instance at once, where an id forgotten
 * would make the gateway ask every instance in turn. */
#define MAX_AGE 0

typedef struct {
    apr_shm_t *shm;
} retained_t;

static aop_affinity_t *table;

/* ------------------------------------------------------------------ the segment */

static void drop(retained_t *kept)
{
    /* Only the parent's mapping goes: the children of the last generation, still
     * finishing requests, keep theirs until they exit. */
    if (kept->shm) {
        apr_shm_destroy(kept->shm);
        kept->shm = NULL;
    }
}

static apr_status_t create(server_rec *s, retained_t *kept, apr_uint64_t entries)
{
    unsigned char seed[AOP_AFFINITY_SEED_LEN];
    apr_size_t size = aop_affinity_size(entries);
    apr_shm_t *shm;
    apr_status_t rv;

    if ((rv = apr_generate_random_bytes(seed, sizeof(seed))) != APR_SUCCESS
        || (rv = apr_shm_create(&shm, size, NULL, s->process->pool)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, AOPLOGNO(00320)
                     "cannot create the response affinity table (%" APR_SIZE_T_FMT
                     " bytes of shared memory for AOProxyResponseAffinity %" APR_UINT64_T_FMT
                     ")", size, entries);
        return rv;
    }
    if (kept->shm) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, AOPLOGNO(00321)
                     "response affinity: AOProxyResponseAffinity (or the table's layout) "
                     "changed: a new, empty table replaces the old one, whose response ids "
                     "are forgotten");
        drop(kept);
    }
    /* An anonymous segment comes zero-filled: no memset, so that the pages no entry
     * was written to cost no memory. */
    table = aop_affinity_init(apr_shm_baseaddr_get(shm), apr_shm_size_get(shm), entries,
                              seed, MAX_AGE);
    kept->shm = shm;
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, AOPLOGNO(00322)
                 "response affinity: %" APR_UINT64_T_FMT " entries in %" APR_SIZE_T_FMT
                 " bytes of shared memory", aop_affinity_capacity(table), size);
    return table ? APR_SUCCESS : APR_EGENERAL;
}

apr_status_t aop_affinity_setup(server_rec *s, apr_uint64_t entries)
{
    retained_t *kept = ap_retained_data_get(RETAINED_KEY);

    if (!kept) {
        kept = ap_retained_data_create(RETAINED_KEY, sizeof(*kept));
    }
    table = NULL;
    if (entries == 0) {
        if (kept->shm) {
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, AOPLOGNO(00323)
                         "response affinity is now off (AOProxyResponseAffinity 0): the "
                         "response ids remembered are forgotten");
        }
        drop(kept);
        return APR_SUCCESS;
    }
    if (kept->shm && (table = aop_affinity_attach(apr_shm_baseaddr_get(kept->shm),
                                                  apr_shm_size_get(kept->shm), entries))) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, AOPLOGNO(00324)
                     "response affinity: the table of %" APR_UINT64_T_FMT " entries is kept "
                     "(%" APR_UINT64_T_FMT " in use)", aop_affinity_capacity(table),
                     aop_affinity_used(table));
        return APR_SUCCESS;
    }
    return create(s, kept, entries);
}

void aop_affinity_reset(void)
{
    table = NULL;
}

/* ------------------------------------------------------------------ the request path */

int aop_affinity_remember_id(server_rec *s, const char *id, apr_size_t len,
                             const char *instance_name)
{
    if (!table || !instance_name) {
        return 0;
    }
    if (!aop_affinity_remember(table, id, len, aop_affinity_name_hash(instance_name),
                               apr_time_now())) {
        ap_log_error(APLOG_MARK, APLOG_TRACE2, 0, s,
                     "affinity: id of %" APR_SIZE_T_FMT " bytes not remembered", len);
        return 0;
    }
    return 1;
}

int aop_affinity_lookup(server_rec *s, const char *id, apr_size_t len,
                        apr_uint64_t *name_hash)
{
    *name_hash = table ? aop_affinity_find(table, id, len, apr_time_now()) : 0;
    return *name_hash != 0;
}

void aop_affinity_forget_id(server_rec *s, const char *id, apr_size_t len)
{
    if (table) {
        aop_affinity_forget(table, id, len);
    }
}

int aop_affinity_usage(apr_uint64_t *capacity, apr_uint64_t *used)
{
    *capacity = aop_affinity_capacity(table);
    *used = aop_affinity_used(table);
    return table != NULL;
}
