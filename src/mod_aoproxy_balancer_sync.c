/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Balancer members another process added, known in this one (aop_balancer_sync). */
#include <stdlib.h>

#include <mod_proxy.h>

#include "mod_aoproxy_private.h"
#include "mod_aoproxy_balancer.h"

/* mod_proxy's own serialisation of runtime changes to a balancer's list of workers
 * (exported by mod_proxy.so; proxy_util.c declares it the same way). */
extern apr_global_mutex_t *proxy_mutex;

/* What a process knows of a balancer's worker slots: per slot the hash of the worker
 * it has there (zero: none), filled in from the balancer's list as it grows. */
typedef struct known_t {
    proxy_balancer *volatile b;
    proxy_hashes *hash;              /* max_workers of them */
    int n;                           /* b->workers entries already in hash */
} known_t;

#define KNOWN_MAX 64                 /* balancers a process syncs itself; past them,
                                      * mod_proxy does (the slow way) */
static known_t known[KNOWN_MAX];
static volatile apr_uint32_t known_used;

/* Caller holds b's thread lock (no other thread makes b's entry meanwhile). */
static known_t *known_of(proxy_balancer *b)
{
    apr_uint32_t i, n = __atomic_load_n(&known_used, __ATOMIC_ACQUIRE);
    known_t *k;

    for (i = 0; i < n && i < KNOWN_MAX; i++) {
        if (known[i].b == b) {
            return &known[i];
        }
    }
    if (b->max_workers < 1 || (i = __atomic_fetch_add(&known_used, 1, __ATOMIC_ACQ_REL))
                              >= KNOWN_MAX) {
        return NULL;
    }
    k = &known[i];
    /* For the process's life, as its balancers. */
    if (!(k->hash = calloc((size_t)b->max_workers, sizeof(*k->hash)))) {
        return NULL;
    }
    __atomic_store_n(&k->b, b, __ATOMIC_RELEASE);
    return k;
}

static void know_new_entries(known_t *k, proxy_balancer *b)
{
    for (; k->n < b->workers->nelts; k->n++) {
        proxy_worker *w = APR_ARRAY_IDX(b->workers, k->n, proxy_worker *);

        if (w->s && w->s->index >= 0 && w->s->index < b->max_workers) {
            k->hash[w->s->index] = w->hash;
        }
    }
}

static int same_hash(proxy_hashes a, proxy_hashes b)
{
    return a.def == b.def && a.fnv == b.fnv;
}

/* Whether the process has a worker for shm (at its slot, else anywhere in the list:
 * what mod_proxy asks, for the few slots the first answer does not settle). */
static int has_worker(const known_t *k, proxy_balancer *b, int index,
                      const proxy_worker_shared *shm)
{
    int i;

    if (same_hash(k->hash[index], shm->hash)) {
        return 1;
    }
    for (i = 0; i < b->workers->nelts; i++) {
        if (same_hash(APR_ARRAY_IDX(b->workers, i, proxy_worker *)->hash, shm->hash)) {
            return 1;
        }
    }
    return 0;
}

/* A worker of this process for the slot another process filled, as mod_proxy's sync
 * makes it. */
static apr_status_t add_runtime_worker(proxy_balancer *b, server_rec *s,
                                       proxy_server_conf *conf, proxy_worker_shared *shm)
{
    proxy_worker *w = calloc(1, sizeof(*w));  /* for the process's life, as mod_proxy's */

    if (!w) {
        return APR_ENOMEM;
    }
    w->hash = shm->hash;
    w->balancer = b;
    w->s = shm;
    if (proxy_mutex) {
        apr_global_mutex_lock(proxy_mutex);
    }
    APR_ARRAY_PUSH(b->workers, proxy_worker *) = w;    /* grows in conf->pool */
    if (proxy_mutex) {
        apr_global_mutex_unlock(proxy_mutex);
    }
    return ap_proxy_initialize_worker(w, s, conf->pool);
}

/* ap_proxy_sync_balancer's work, for the slots the process does not know alone.
 * mod_proxy compares every slot with every worker of the list (the outer loop over
 * the slots, the inner over the list, from its start): 13 to 17 ms at 5000 instances,
 * in each process after each add, under the balancer's thread lock that each request
 * to it takes; this is a look at each slot.  1: synced (mod_proxy's own then finds
 * nothing to do); 0: left to mod_proxy. */
static int sync_quickly(proxy_balancer *b, server_rec *s, proxy_server_conf *conf)
{
    apr_time_t seen = b->s->wupdated;
    proxy_balancer_method *lbmethod;
    proxy_worker_shared *shm;
    known_t *k = known_of(b);
    int index;

    if (!k || !b->storage || !b->wslot) {
        return 0;
    }
    know_new_entries(k, b);
    for (index = 0; index < b->max_workers; index++) {
        if (b->storage->dptr(b->wslot, (unsigned int)index, (void *)&shm) != APR_SUCCESS) {
            return 0;
        }
        if (!shm->hash.def || !shm->hash.fnv || has_worker(k, b, index, shm)) {
            continue;
        }
        if (add_runtime_worker(b, s, conf, shm) != APR_SUCCESS) {
            return 0;
        }
        know_new_entries(k, b);
    }
    if ((lbmethod = ap_lookup_provider(PROXY_LBMETHOD, b->s->lbpname, "0"))) {
        b->lbmethod = lbmethod;
    }
    if (b->s->need_reset) {
        if (b->lbmethod && b->lbmethod->reset) {
            b->lbmethod->reset(b, s);
        }
        b->s->need_reset = 0;
    }
    /* As of the start: a worker added meanwhile is the next sync's. */
    b->wupdated = seen;
    return 1;
}

void aop_balancer_sync(proxy_balancer *b, server_rec *s)
{
    proxy_server_conf *conf;

    if (b->s->wupdated > b->wupdated && PROXY_THREAD_LOCK(b) == APR_SUCCESS) {
        conf = ap_get_module_config(s->module_config, &proxy_module);
        if (b->s->wupdated > b->wupdated && !sync_quickly(b, s, conf)) {
            ap_proxy_sync_balancer(b, s, conf);
        }
        PROXY_THREAD_UNLOCK(b);
    }
}
