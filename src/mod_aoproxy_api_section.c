/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* <AOProxyAPI [prefix]>'s requests: the management API's paths, and the directives
 * the section holds for them (Require local, say), without a <Location> section.
 * (The directive itself reads them, in mod_aoproxy_config.c.)
 *
 * Why not <Location>s: httpd compares every request of a server with each of its
 * <Location> sections, and a server with any pays for the walk (a copy of the URI,
 * its slashes merged, three times a request).  The seven the API needed cost each
 * /v1/ call about 1 350 instructions and 90 first-level cache misses (callgrind),
 * about 2 % of the throughput to an https backend (tools/bench).  This section's
 * directives are merged only into the requests for the API's paths.
 *
 * Where: in map_to_storage, as mod_proxy takes its proxied URLs there.  The API's
 * paths are not of the filesystem: no <Directory> walk and no stat for them.  httpd
 * walks the <Location>s after map_to_storage, so an operator's own <Location
 * "/metrics"> still overrides the section for its path, as it overrode the shipped
 * <Location>s before (docs/security.md's recipes), and access control runs after
 * both. */
#include <httpd.h>
#include <http_config.h>
#include <http_request.h>

#include "mod_aoproxy_private.h"
#include "mod_aoproxy_api_section.h"
#include "mod_aoproxy_config.h"

/* A request for the API: its section merged into the server's defaults (httpd set
 * r->per_dir_config to them just before), and the API's handler.  A /v1/ call never
 * gets here: mod_proxy's map_to_storage, which runs first, takes its "proxy:" URL. */
static int api_map_to_storage(request_rec *r)
{
    const aop_srv_conf_t *sc = aop_srv_conf(r->server);

    if (!aop_api_section_has(sc, r->uri)) {
        return DECLINED;
    }
    r->per_dir_config = ap_merge_per_dir_configs(r->pool, r->per_dir_config,
                                                 sc->api_section);
    r->handler = AOP_API_HANDLER;
    return OK;
}

void aop_api_section_register_hooks(apr_pool_t *p)
{
    ap_hook_map_to_storage(api_map_to_storage, NULL, NULL, APR_HOOK_MIDDLE);
}
