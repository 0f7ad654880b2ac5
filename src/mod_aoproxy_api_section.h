/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* <AOProxyAPI [prefix]> ... </AOProxyAPI>: the management API served at prefix +
 * /instances, /stats, /config, /admin, /metrics, /health and /verification (and below
 * each), with the directives inside applied to those requests only, as a <Location>
 * of each would apply them, at no cost to the other requests.  docs/directives.md.
 * The directive is mod_aoproxy_config.c's; this is its map_to_storage hook. */
#ifndef MOD_AOPROXY_API_SECTION_H
#define MOD_AOPROXY_API_SECTION_H

#include <apr_pools.h>

/* map_to_storage: the section merged into the requests for its paths. */
void aop_api_section_register_hooks(apr_pool_t *p);

#endif
