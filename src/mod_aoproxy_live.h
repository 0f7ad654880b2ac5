/* The live instances: what every Apache process serves from, changed at run time by
 * the management API without a restart.
 *
 * A fleet is one configuration (one AOProxyConfigDir and environment) with its
 * balancer and its SQLite store.  Its instances live in shared memory as a JSON
 * document with a generation number (mod_aoproxy_shm.c); each process keeps a view
 * parsed from it - settings, effective instances, routes, shared-memory slots,
 * balancer workers - and builds a new one when the generation moves.  A request
 * holds the view it started with until it ends, so in-flight requests finish on the
 * configuration they began with; the last holder of an old view frees it. */
#ifndef MOD_AOPROXY_LIVE_H
#define MOD_AOPROXY_LIVE_H

#include <httpd.h>
#include <apr_thread_mutex.h>

#include "aop_config.h"
#include "aop_route.h"

struct proxy_worker;
struct proxy_balancer;
struct aop_shm_map_t;
typedef struct aop_fleet_t aop_fleet_t;

/* Another server's balancer for the same fleet (virtual hosts sharing a configuration
 * each have their own, with the same workers). */
typedef struct aop_fleet_member_t {
    struct proxy_balancer *balancer;
    server_rec *s;
} aop_fleet_member_t;

typedef struct aop_live_t {
    aop_fleet_t *fleet;
    apr_pool_t *pool;                /* owns the view; destroyed with the last reference */
    apr_uint64_t generation;
    aop_config_t *cfg;               /* settings; instances: the effective ones */
    apr_array_header_t *effective;   /* aop_effective_t *, parallel to cfg->instances */
    aop_route_table_t *routes;
    struct aop_shm_map_t *shm_map;
    const char **worker_names;       /* parallel to cfg->instances */
    struct proxy_worker **workers;   /* parallel; found in the balancer on first use */
    volatile apr_uint32_t refs;
} aop_live_t;

struct aop_fleet_t {
    int id;                          /* its document's place in shared memory */
    server_rec *s;                   /* the first server that uses it */
    const char *config_dir;
    const char *environment;
    const char *db_path;             /* AOProxyStateDB, $INSTANCE_MANAGER_DB_PATH, default */
    const char *state_file;          /* $INSTANCE_MANAGER_STATE_FILE, or NULL */
    int growth;                      /* AOProxyInstanceGrowth */
    aop_config_t *boot_cfg;          /* the YAML as loaded at start-up */
    apr_array_header_t *boot;        /* aop_effective_t *: the instances at start-up */
    struct proxy_balancer *balancer; /* the first proxying server's */
    server_rec *balancer_server;
    apr_array_header_t *members;     /* aop_fleet_member_t: the other servers' */
    struct proxy_worker **boot_workers;   /* parallel to boot */
    aop_live_t *current;
#if APR_HAS_THREADS
    apr_thread_mutex_t *mutex;       /* guards current in this process */
#endif
};

/* The fleet's current view, held until r->pool is cleaned up; NULL if the fleet has
 * none (shared memory missing).  Builds a new view when the generation moved. */
aop_live_t *aop_live_acquire(request_rec *r, aop_fleet_t *fleet);

/* The worker of instance idx in balancer (NULL: the fleet's first), or NULL while
 * this process's balancer does not know it yet (mod_proxy_balancer syncs new workers
 * before each request to it). */
struct proxy_worker *aop_live_worker(aop_live_t *live, struct proxy_balancer *balancer,
                                     int idx);

/* Index of the instance called name, or -1. */
int aop_live_find(const aop_live_t *live, const char *name);

/* ---- start-up (mod_aoproxy_balancer.c and the post_config below) */

/* Reads the store (importing the state file on first start), merges it over the
 * YAML and sets fleet->boot.  A store that cannot be read stops start-up. */
int aop_live_boot(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s, aop_fleet_t *fleet,
                  int trial);

void aop_live_register_hooks(apr_pool_t *p);

/* ---- changes (mod_aoproxy_publish.c) */

/* The view of a document (the publisher's own, or one read from shared memory). */
aop_live_t *aop_live_build(aop_fleet_t *fleet, const char *doc, apr_uint64_t generation,
                           const char **perr);

/* All fleets of this server tree, for the start-up publisher. */
apr_array_header_t *aop_live_fleets(void);

#endif
