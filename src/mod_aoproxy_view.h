/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The live instances: what every Apache process serves from, changed at run time by
 * the management API without a restart.
 *
 * A fleet (mod_aoproxy_fleets.h) is one configuration with its balancers and its
 * SQLite store.  Its instances live in shared memory as a JSON document with a
 * generation number (mod_aoproxy_shm.c); each process keeps a view
 * parsed from it - settings, effective instances, routes, shared-memory slots,
 * balancer workers - and builds a new one when the generation moves.  A request
 * holds the view it started with until it ends, so in-flight requests finish on the
 * configuration they began with; the last holder of an old view frees it. */
#ifndef MOD_AOPROXY_VIEW_H
#define MOD_AOPROXY_VIEW_H

#include <httpd.h>

#include "aop_config.h"
#include "aop_doc.h"
#include "aop_route.h"
#include "mod_aoproxy_fleets.h"

struct proxy_worker;
struct proxy_balancer;
struct aop_shm_map_t;

struct aop_view_batch_t;

typedef struct aop_view_t {
    aop_fleet_t *fleet;
    apr_pool_t *pool;                /* owns the view; destroyed with the last reference */
    apr_uint64_t generation;
    aop_config_t *cfg;               /* settings; instances: the effective ones */
    apr_array_header_t *effective;   /* aop_effective_t *, parallel to cfg->instances */
    aop_route_table_t *routes;
    struct aop_shm_map_t *shm_map;
    const char **worker_names;       /* parallel to cfg->instances */
    struct proxy_worker **workers;   /* parallel; found in the balancer on first use */
    /* Instances are decoded into batches shared with later views: a view built after
     * a change decodes only the instances whose record changed (aop_view_build). */
    struct aop_view_batch_t **batch_of;   /* parallel: the batch holding each */
    apr_array_header_t *batches;     /* aop_view_batch_t *: each once, held by the view */
    apr_uint64_t *rev;               /* parallel: the hash of each one's record */
    apr_hash_t *by_rev;              /* rev (8 bytes) -> index + 1: a seed's alone (a view
                                      * built after a change reads a few lines) */
    apr_uint64_t serial;             /* this process's number for it */
    int doc_slots;                   /* its slots are the document's (not mapped anew) */
    int *pair_flat;                  /* the pair slots of shm_map, instance after instance */
    apr_size_t pair_total;           /* ints in pair_flat */
    int names_interned;              /* worker_names live as long as the process */
    struct aop_idx_map_t *volatile by_name_hash;   /* aop_view_by_name_hash's index,
                                      * made on first use by any thread (malloc) */
    volatile apr_uint32_t refs;
} aop_view_t;

/* The fleet's current view, held until r->pool is cleaned up; NULL if the fleet has
 * none (shared memory missing).  Builds a new view when the generation moved. */
aop_view_t *aop_view_acquire(request_rec *r, aop_fleet_t *fleet);

/* The same outside a request (a background task): held until p is cleaned up; s
 * logs a view that cannot be built. */
aop_view_t *aop_view_hold(apr_pool_t *p, server_rec *s, aop_fleet_t *fleet);

/* The worker of instance idx in balancer (NULL: the fleet's first), or NULL while
 * this process's balancer does not know it yet (mod_proxy_balancer syncs new workers
 * before each request to it). */
struct proxy_worker *aop_view_worker(aop_view_t *view, struct proxy_balancer *balancer,
                                     int idx);

/* Index of the instance called name, or -1. */
int aop_view_find(const aop_view_t *view, const char *name);

/* Index of the instance whose name hashes to h (aop_affinity_name_hash), or -1: a
 * lookup in an index made on the view's first call (a stored response's instance,
 * per request, must not cost a hash of every name of a fleet of thousands). */
int aop_view_by_name_hash(aop_view_t *view, apr_uint64_t h);

/* ---- changes (mod_aoproxy_publish.c) */

/* A stand-in for the view before the first: the instances the configuration was
 * loaded with (eff, in pconf) and their records' text, so that the first view takes
 * them as they are rather than decoding the document it was made from.  Only for
 * aop_view_build's prev; allocated in p. */
aop_view_t *aop_view_seed(apr_pool_t *p, aop_fleet_t *fleet, const apr_array_header_t *eff,
                          const char *const *text);

/* The view of a document (the publisher's own, or one read from shared memory);
 * the instances whose record is unchanged since prev (NULL: none) are prev's. */
aop_view_t *aop_view_build(aop_fleet_t *fleet, const char *doc, apr_uint64_t generation,
                           const aop_view_t *prev, const char **perr);

#endif
