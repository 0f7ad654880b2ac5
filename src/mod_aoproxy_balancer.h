/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Defines balancer://aoproxy and one mod_proxy worker per instance, at start-up,
 * the way <Proxy balancer://...> and BalancerMember would; at run time adds workers
 * for new instances in the balancer's spare slots (BalancerGrowth) and disables
 * those of removed ones, the way balancer-manager would. */
#ifndef MOD_AOPROXY_BALANCER_H
#define MOD_AOPROXY_BALANCER_H

#include <httpd.h>

#include "mod_aoproxy_view.h"

/* post_config, after mod_proxy's and before mod_proxy_balancer's (which puts the
 * balancers it finds into shared memory), once every fleet has its boot instances:
 * each proxying server's balancer with a worker per instance, attached to its fleet
 * (mod_aoproxy_fleets.h) and to the server (sc->balancer).  OK, or an error logged. */
int aop_balancer_define_all(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);

/* Under the admin lock: a worker for each effective instance (aop_effective_t *) -
 * its own, else a removed instance's on the same origin, else a new one in a spare
 * slot - named in names[i].  An error message when the slots are used up. */
const char *aop_balancer_assign(request_rec *r, aop_fleet_t *fleet,
                                const apr_array_header_t *eff, const char **names);

/* Enables the workers of enabled instances, disables the rest (removed instances'
 * too), and gives each instance's worker its connection settings (disable_reuse,
 * tcp_keepalive, connect_timeout; pool_max and pool_ttl take a restart); retries >= 0
 * sets the balancer's attempts. */
void aop_balancer_flag(aop_fleet_t *fleet, const apr_array_header_t *eff, const char **names,
                       int retries);

int aop_balancer_free_slots(aop_fleet_t *fleet);

/* The name (URL) of an instance's own worker: origin + "/" + instance name. */
const char *aop_balancer_worker_url(apr_pool_t *p, const aop_instance_t *inst);

/* The worker of b named name (its full URL), or NULL. */
struct proxy_worker *aop_balancer_worker_named(struct proxy_balancer *b, const char *name);

/* Workers that another process added (the balancer's shared list moved on) become
 * known in this one, as mod_proxy_balancer does before each request to it. */
void aop_balancer_sync(struct proxy_balancer *b, server_rec *s);

/* How many of instances (aop_instance_t *) would take a new slot: neither their own
 * worker nor a removed instance's on their origin (one unused by live) is there. */
int aop_balancer_workers_needed(aop_view_t *view, const apr_array_header_t *instances);

#endif
