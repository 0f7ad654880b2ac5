/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Putting a fleet's instances live: the layers (SQLite store over state file over
 * YAML) merged into effective instances, a balancer worker for each, the whole
 * published to shared memory as the fleet's next generation.  At start-up in the
 * parent; at run time by the process that served an admin request, under the admin
 * lock, so that two changes never publish out of order. */
#ifndef MOD_AOPROXY_PUBLISH_H
#define MOD_AOPROXY_PUBLISH_H

#include <httpd.h>

#include "aop_config.h"
#include "mod_aoproxy_view.h"

/* An OpenAI-style error for the admin API. */
typedef struct aop_change_error_t {
    int status;
    const char *message;             /* never holds a key */
    const char *code;
    const char *param;
} aop_change_error_t;

/* Start-up: reads the store (on the real start, after importing the state file into
 * an empty one, and handing the files to httpd's User) and merges it over the YAML
 * into fleet->boot.  Warnings are logged. */
apr_status_t aop_publish_boot_layers(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s,
                                     aop_fleet_t *fleet, int trial, const char **perr);

/* Start-up, after the balancer has its workers: publishes fleet->boot and makes it
 * the parent's view, which the children inherit. */
apr_status_t aop_publish_boot(apr_pool_t *ptemp, server_rec *s, aop_fleet_t *fleet,
                              const char **perr);

/* Run time, under the admin lock: merges the store over the YAML layer (new_yaml, or
 * the one already published) and publishes the result.  Fails without changing
 * anything live. */
apr_status_t aop_publish_change(request_rec *r, aop_fleet_t *fleet,
                                const aop_config_t *new_yaml, aop_change_error_t *err);

/* Under the admin lock: the instance the live YAML layer (the YAML as last loaded,
 * with the defaults; keys included) defines as name, or *out NULL if none does. */
apr_status_t aop_publish_yaml_instance(request_rec *r, aop_fleet_t *fleet, const char *name,
                                       const aop_instance_t **out, aop_change_error_t *err);

/* Whether the balancer and shared memory have room for instances (a change not yet
 * stored): checked before the store is written, so that a change is either stored and
 * live or neither. */
apr_status_t aop_publish_room(request_rec *r, aop_view_t *view,
                              const apr_array_header_t *instances, aop_change_error_t *err);

/* Serialises changes across processes and threads; never held across network I/O
 * (the store is a local file). */
apr_status_t aop_admin_lock(void);
void aop_admin_unlock(void);

/* Its life (mod_aoproxy_startup.c): the mutex type registered in pre_config (which
 * forgets the last generation's mutex), the mutex made in the real pass's
 * post_config, attached to in each child. */
apr_status_t aop_admin_mutex_register(apr_pool_t *pconf);
apr_status_t aop_admin_mutex_create(apr_pool_t *pconf, server_rec *s);
void aop_admin_mutex_child_init(apr_pool_t *p, server_rec *s);

#endif
