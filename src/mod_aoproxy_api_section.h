/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* <AOProxyAPI [prefix]> ... </AOProxyAPI>: the management API served at prefix +
 * /instances, /stats, /config, /admin, /metrics, /health and /verification (and below
 * each), with the directives inside applied to those requests only, as a <Location>
 * of each would apply them, at no cost to the other requests.  docs/directives.md. */
#ifndef MOD_AOPROXY_API_SECTION_H
#define MOD_AOPROXY_API_SECTION_H

#include <httpd.h>
#include <http_config.h>

#include "mod_aoproxy_config.h"

/* The section's directive (RAW_ARGS, server and <VirtualHost> context). */
const char *aop_api_section(cmd_parms *cmd, void *dconf, const char *arg);

/* Whether sc has a section and uri is one of its paths. */
int aop_api_section_has(const aop_srv_conf_t *sc, const char *uri);

/* map_to_storage: the section merged into the requests for its paths. */
void aop_api_section_register_hooks(apr_pool_t *p);

#endif
