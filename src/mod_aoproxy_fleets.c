/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include "mod_aoproxy_private.h"
#include "mod_aoproxy_fleets.h"

/* Every fleet of the running configuration (pconf), in id order. */
static apr_array_header_t *fleets;

void aop_fleets_reset(void)
{
    fleets = NULL;
}

aop_fleet_t *aop_fleets_find(const aop_config_t *cfg)
{
    int i;

    for (i = 0; fleets && i < fleets->nelts; i++) {
        if (APR_ARRAY_IDX(fleets, i, aop_fleet_t *)->boot_cfg == cfg) {
            return APR_ARRAY_IDX(fleets, i, aop_fleet_t *);
        }
    }
    return NULL;
}

void aop_fleets_add(apr_pool_t *pconf, server_rec *s, aop_fleet_t *fleet)
{
    if (!fleets) {
        fleets = apr_array_make(pconf, 2, sizeof(aop_fleet_t *));
    }
    fleet->id = fleets->nelts;
    fleet->s = s;
    fleet->members = apr_array_make(pconf, 1, sizeof(aop_fleet_member_t));
    APR_ARRAY_PUSH(fleets, aop_fleet_t *) = fleet;
}

int aop_fleets_count(void)
{
    return fleets ? fleets->nelts : 0;
}

aop_fleet_t *aop_fleets_at(int id)
{
    return APR_ARRAY_IDX(fleets, id, aop_fleet_t *);
}

void aop_fleet_attach(aop_fleet_t *fleet, struct proxy_balancer *b, server_rec *s)
{
    aop_fleet_member_t *m;

    if (!fleet->balancer) {
        fleet->balancer = b;
        fleet->balancer_server = s;
        return;
    }
    m = apr_array_push(fleet->members);
    m->balancer = b;
    m->s = s;
}

apr_array_header_t *aop_fleet_balancers(apr_pool_t *p, const aop_fleet_t *fleet)
{
    apr_array_header_t *all = apr_array_make(p, 2, sizeof(aop_fleet_member_t));
    aop_fleet_member_t *m;

    if (fleet->balancer) {
        m = apr_array_push(all);
        m->balancer = fleet->balancer;
        m->s = fleet->balancer_server;
    }
    apr_array_cat(all, fleet->members);
    return all;
}
