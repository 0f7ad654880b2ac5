/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The registry of this configuration's fleets and their balancers.
 *
 * A fleet is one configuration (one AOProxyConfigDir and environment): its YAML, its
 * SQLite store, the instances it serves (mod_aoproxy_view.h) and the balancer of
 * every server that proxies for it.  Servers sharing a configuration share its
 * fleet.  The registry is filled anew in every configuration cycle: emptied in
 * pre_config, a fleet added per configuration in check_config (its id: its place,
 * which names its document in shared memory), balancers attached in post_config;
 * read-only once the children run, but for each process's own view of a fleet
 * (current, mod_aoproxy_view.c). */
#ifndef MOD_AOPROXY_FLEETS_H
#define MOD_AOPROXY_FLEETS_H

#include <httpd.h>
#include <apr_thread_mutex.h>

#include "aop_config.h"

struct proxy_worker;
struct proxy_balancer;
struct aop_view_t;

/* A server's balancer for a fleet (virtual hosts sharing a configuration each have
 * their own, with the same workers). */
typedef struct aop_fleet_member_t {
    struct proxy_balancer *balancer;
    server_rec *s;
} aop_fleet_member_t;

typedef struct aop_fleet_t {
    int id;                          /* its place in the registry and in shared memory */
    server_rec *s;                   /* the first server that uses it */
    const char *config_dir;
    const char *environment;
    const char *db_path;             /* AOProxyStateDB, $INSTANCE_MANAGER_DB_PATH, default */
    const char *state_file;          /* $INSTANCE_MANAGER_STATE_FILE, or NULL */
    int growth;                      /* AOProxyInstanceGrowth */
    aop_config_t *boot_cfg;          /* the YAML as loaded at start-up */
    apr_array_header_t *boot;        /* aop_effective_t *: the instances at start-up */
    int boot_is_yaml;                /* the store changed none: boot is the YAML layer */
    struct proxy_balancer *balancer; /* the first proxying server's */
    server_rec *balancer_server;
    apr_array_header_t *members;     /* aop_fleet_member_t: the other servers' */
    struct proxy_worker **boot_workers;   /* parallel to boot */
    struct aop_view_t *current;      /* this process's view (mod_aoproxy_view.c) */
#if APR_HAS_THREADS
    apr_thread_mutex_t *mutex;       /* guards current in this process */
#endif
} aop_fleet_t;

/* pre_config: a new configuration cycle has no fleet yet. */
void aop_fleets_reset(void);

/* check_config: the fleet of configuration cfg, if one was added. */
aop_fleet_t *aop_fleets_find(const aop_config_t *cfg);

/* check_config: adds fleet (its fields set, boot_cfg its configuration) for server s,
 * giving it the next id. */
void aop_fleets_add(apr_pool_t *pconf, server_rec *s, aop_fleet_t *fleet);

int aop_fleets_count(void);
aop_fleet_t *aop_fleets_at(int id);

/* post_config: balancer b of server s serves the fleet (the first becomes
 * fleet->balancer, the others its members). */
void aop_fleet_attach(aop_fleet_t *fleet, struct proxy_balancer *b, server_rec *s);

/* Each balancer of the fleet with the server whose configuration holds it, the
 * first one first. */
apr_array_header_t *aop_fleet_balancers(apr_pool_t *p, const aop_fleet_t *fleet);

#endif
