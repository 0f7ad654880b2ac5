/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* State every Apache process must see alike: per instance its token window,
 * cooldown and health, per model the routing strategy's state.  One anonymous APR
 * shared memory segment, created by the parent in post_config and kept across
 * graceful restarts; every update happens under the segment's own lock (a
 * spinlock of atomics, see aop_shm_lock), which is never held across any I/O. */
#ifndef MOD_AOPROXY_SHM_H
#define MOD_AOPROXY_SHM_H

#include <httpd.h>

#include "aop_config.h"
#include "aop_resv.h"
#include "aop_rpm.h"
#include "aop_route.h"
#include "aop_stats.h"
#include "aop_tpm.h"

#define AOP_SHM_MAX_MISSING 16       /* models one instance can have marked missing */
#define AOP_SHM_MODEL_MAX 128        /* longest model name kept */
#define AOP_SHM_MAX_FLEETS 8         /* distinct configurations (AOProxyConfigDir) */

/* One instance, found again by name after a restart.  Its statistics ring (its last
 * hour, minute by minute: aop_shm_ring) lives in a table of its own, so that these
 * records, which every pick reads, stay small and close together. */
typedef struct aop_shm_inst_t {
    /* What a pick reads, next to the token window's own (aop_tpm_t): with many
     * instances each one's state is cold when its turn comes, and every line counts. */
    apr_time_t cooldown_until;       /* a rest of the whole instance; none sets it in
                                      * shared memory now (429/408/5xx, timeouts and
                                      * resets rest a deployment: aop_shm_pair_t), but a
                                      * snapshot's copy holds the latest of its
                                      * deployments' there (what /stats shows) */
    apr_time_t probe_until;          /* half-open: a probe is out until this (aop_circuit.h) */
    apr_time_t unhealthy_until;      /* 401/403: the key is refused */
    apr_time_t missing_latest;       /* the latest of missing_until: a quick "none" */
    aop_tpm_t tpm;
    char name[AOP_NAME_MAX + 1];
    apr_uint64_t missing_hash[AOP_SHM_MAX_MISSING];  /* DeploymentNotFound, by model */
    apr_time_t missing_until[AOP_SHM_MAX_MISSING];
    apr_uint32_t consecutive_failures;   /* of the instance as a whole: refused keys,
                                          * refused connections */
    int last_status;
    apr_time_t last_error_at;
    aop_rpm_t rpm;                   /* requests sent, for max_rpm */
} aop_shm_inst_t;

/* One model's routing state: the rotation's cursor.  Its candidates' smooth weighted
 * round-robin credits are the pairs' (aop_shm_credits), so that a model may have
 * as many candidates as there are instances. */
typedef struct aop_shm_model_t {
    char model[AOP_SHM_MODEL_MAX + 1];
    apr_uint64_t cursor;
} aop_shm_model_t;

/* One instance serving one model: its deployment.  Azure's rate limits and outages
 * are per deployment, so a 429, 408 or 5xx, a timeout or a reset rests the pair
 * (its own circuit: aop_circuit.h) and the instance's other models go on; the
 * deployment's own max_tpm/max_rpm count here.  Also its counters since start (or
 * reset): what Prometheus scrapes, labelled by both.  (Its name, "instance\tmodel",
 * is kept in a table of its own.) */
typedef struct aop_shm_pair_t {
    apr_time_t cooldown_until;       /* not picked for this model before this */
    apr_time_t base_until;           /* ... that rest without its backoff growth: past
                                      * it, a pick with nothing else left may probe it */
    apr_time_t probe_until;          /* half-open: a probe is out until this */
    apr_uint32_t consecutive_failures;
    int last_status;
    apr_time_t last_error_at;
    aop_rpm_t rpm;                   /* requests sent to the deployment */
    aop_tpm_t tpm;                   /* tokens of the deployment */
    aop_counts_t life;
} aop_shm_pair_t;

/* Every request, whether or not an instance served it. */
typedef struct aop_shm_overall_t {
    aop_stats_ring_t ring;
    aop_counts_t life;
    apr_time_t since;                /* when counting (re)started */
} aop_shm_overall_t;

/* Where a configuration's instances and models live in the segment (parent-made,
 * inherited by the children). */
typedef struct aop_shm_map_t {
    int *inst_slot;                  /* parallel to cfg->instances */
    int **pair_slot;                 /* [instance][i]: parallel to its supported_models */
    apr_hash_t *model_slot;          /* model name -> int * */
    apr_hash_t *route_credit;        /* model name -> int *: per candidate (route order)
                                      * its pair's slot in aop_shm_credits(), or -1 */
} aop_shm_map_t;

/* pre_config: no segment until post_config attaches one. */
void aop_shm_reset(void);

/* The parent, before the MPM starts the children: the pages of the segment it wrote
 * (the first generation: records, names, documents; at 5000 instances some 60 MB)
 * leave its own mappings, not the segment.  A shared mapping keeps its data
 * (MADV_DONTNEED refills from the segment), and fork copies no page table entries
 * of a shared mapping: the children fault in what they use either way.  The parent
 * reads little of it again (a page or two faults back).  Linux only. */
void aop_shm_release_pages(void);

/* child_init: the lock's owner is this child (its pid, cached). */
void aop_shm_child_init(void);

/* post_config of the real pass: creates the segment, or re-attaches the one kept
 * across a graceful restart when it is big enough, sized for ninst/nmodels/npairs as
 * configured plus growth instances added at run time. */
apr_status_t aop_shm_setup(apr_pool_t *pconf, server_rec *s, apr_uint32_t ninst,
                           apr_uint32_t nmodels, apr_uint32_t npairs, apr_uint32_t growth);

/* The segment's lock: never held across I/O, never waited for more than a quarter
 * of a second (a stopped or stuck holder loses it: see mod_aoproxy_shm.c). */
apr_status_t aop_shm_lock(void);
void aop_shm_unlock(void);

/* How many times a waiter took the lock from a holder that was gone, stopped or
 * stuck (since the segment was made). */
apr_uint32_t aop_shm_lock_takeovers(void);

/* This process's id (cached in children). */
apr_uint32_t aop_shm_my_pid(void);

/* Where cfg's instances, their (instance, model) pairs and routes' models are to
 * live (found by name, else claimed), planned without the lock: the names of every
 * table read into hashes, which at thousands of instances is milliseconds.  wanted:
 * names whose slots must not be taken for others (NULL: every name in use now).
 * reset: instance and model names whose health, or rotation, start anew (NULL:
 * none).  removed: instances whose slots, and their pairs', are given up (NULL:
 * none).  NULL when out of room as the tables were read. */
typedef struct aop_shm_plan_t aop_shm_plan_t;
aop_shm_plan_t *aop_shm_map_plan(apr_pool_t *p, const aop_config_t *cfg,
                                 const aop_route_table_t *routes, apr_hash_t *wanted,
                                 apr_hash_t *reset, const apr_array_header_t *removed);

/* Caller holds the lock: the plan made so (the records it claimed or resets begun,
 * the names written), and its map; a few stores for a change of a few instances.
 * NULL when a name was written since the plan read the tables (another process
 * claimed a slot meanwhile): map anew with aop_shm_map_locked. */
aop_shm_map_t *aop_shm_map_apply_locked(aop_shm_plan_t *plan);

/* Caller holds the lock: planned and applied under it.  NULL when out of room. */
aop_shm_map_t *aop_shm_map_locked(apr_pool_t *p, const aop_config_t *cfg,
                                  const aop_route_table_t *routes, apr_hash_t *wanted,
                                  apr_hash_t *reset, const apr_array_header_t *removed);

/* A map with room for ninst instances, its slots to be filled in by the caller
 * (the slots a document names: mod_aoproxy_view.c), then aop_shm_map_routes(). */
aop_shm_map_t *aop_shm_map_make(apr_pool_t *p, int ninst);

/* The routes' credit slots from the pairs' (done by aop_shm_map_locked too). */
void aop_shm_map_routes(apr_pool_t *p, aop_shm_map_t *map, const aop_config_t *cfg,
                        const aop_route_table_t *routes);

/* Whether every slot of map lies inside the segment (a document's are checked). */
int aop_shm_map_valid(const aop_shm_map_t *map, const aop_config_t *cfg);

/* A fleet's live document: written with a new generation (*gen), without the
 * shared-state lock, read as a copy; the generation alone is read without any lock
 * (a request's "is my view current?").  APR_ENOSPC when the document does not fit. */
apr_status_t aop_shm_publish(int fleet, const char *doc, apr_size_t len, apr_uint64_t *gen);
/* prefix (may be NULL: all of it): how many of the document's first bytes to copy,
 * given the document as it lies (a writer may be changing it: the copy is checked
 * after, and taken again if it was). */
typedef apr_size_t aop_shm_doc_prefix_fn(const char *doc, apr_size_t len);
char *aop_shm_read_doc(apr_pool_t *p, int fleet, apr_uint64_t *gen,
                       aop_shm_doc_prefix_fn *prefix);
/* The document as it lies, to read (not change) in place: reader(doc, len, baton)
 * is called, and called again if a writer came in between (what it made of a torn
 * document is to be thrown away: the last call's stands).  0 when there is no
 * document or the reader said so. */
typedef int aop_shm_doc_reader_fn(const char *doc, apr_size_t len, void *baton);
int aop_shm_read_doc_with(int fleet, apr_uint64_t *gen, aop_shm_doc_reader_fn *reader,
                          void *baton);
apr_uint64_t aop_shm_generation(int fleet);

aop_shm_inst_t *aop_shm_inst(const aop_shm_map_t *map, int idx);
/* The statistics ring of an instance record (from aop_shm_inst). */
aop_stats_ring_t *aop_shm_ring(const aop_shm_inst_t *si);
aop_shm_model_t *aop_shm_model(const aop_shm_map_t *map, const char *model);
aop_shm_pair_t *aop_shm_pair(const aop_shm_map_t *map, const aop_instance_t *inst, int idx,
                             const char *model);
aop_shm_overall_t *aop_shm_overall(void);

/* The segment slot of a view's instance idx serving model, or -1 (by the model's
 * index i in its supported_models: aop_instance_model_index); and the pair at a slot
 * (a reservation's), or NULL. */
int aop_shm_pair_slot_of(const aop_shm_map_t *map, const aop_instance_t *inst, int idx,
                         const char *model);
int aop_shm_pair_slot_at(const aop_shm_map_t *map, int idx, int i);
aop_shm_pair_t *aop_shm_pair_slot(int slot);

/* The candidates' credit slots of a model's route (aop_shm_map_t.route_credit), and
 * the credits themselves (read and written under the lock). */
const int *aop_shm_route_credits(const aop_shm_map_t *map, const char *model);
apr_int64_t *aop_shm_credits(void);

/* Who holds which token reservation (aop_resv.h); NULL without a segment. */
aop_resv_table_t *aop_shm_reservations(void);

/* The instance record at a slot of the segment (a reservation's), or NULL. */
aop_shm_inst_t *aop_shm_inst_slot(int slot);

/* The segment slot of a view's instance idx, or -1. */
int aop_shm_inst_slot_of(const aop_shm_map_t *map, int idx);

/* Zeroes every statistic (rings and lifetime counters); budgets and health stay. */
void aop_shm_reset_stats(void);

/* Whether a model is marked missing on an instance (DeploymentNotFound). */
int aop_shm_model_missing(const aop_shm_inst_t *si, const char *model, apr_time_t now);
void aop_shm_mark_missing(aop_shm_inst_t *si, const char *model, apr_time_t until);

#endif
