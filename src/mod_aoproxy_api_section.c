/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* <AOProxyAPI [prefix]>: the management API's paths, and the directives that apply
 * to them (Require local, say), without a <Location> section.
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
#include <apr_strings.h>

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_request.h>

#include "mod_aoproxy_private.h"
#include "mod_aoproxy_api.h"
#include "mod_aoproxy_api_section.h"
#include "mod_aoproxy_config.h"

const char *aop_api_section(cmd_parms *cmd, void *dconf, const char *arg)
{
    aop_srv_conf_t *sc = aop_srv_conf(cmd->server);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE);
    const char *end = ap_strrchr_c(arg, '>');
    char *old_path = cmd->path;
    int old_override = cmd->override;
    const char *args, *prefix;
    ap_conf_vector_t *conf;
    apr_size_t n;

    if (err) {
        return err;
    }
    if (!end) {
        return "<AOProxyAPI> lacks its closing '>'";
    }
    args = apr_pstrmemdup(cmd->temp_pool, arg, (apr_size_t)(end - arg));
    prefix = ap_getword_conf(cmd->pool, &args);
    if (*args) {
        return "<AOProxyAPI> takes one argument at most: the path the API is served "
               "below (none: /instances, /stats, ... at the root)";
    }
    if (*prefix && *prefix != '/') {
        return apr_psprintf(cmd->pool, "<AOProxyAPI %s>: the prefix must be a path that "
                            "starts with '/'", prefix);
    }
    if (sc->api_section) {
        return "<AOProxyAPI> appears twice in one server (a <VirtualHost> may have its own)";
    }
    n = strlen(prefix);
    while (n > 0 && prefix[n - 1] == '/') {
        n--;                            /* "/gateway/" as "/gateway", "/" as "" */
    }
    conf = ap_create_per_dir_config(cmd->pool);
    /* As <Location "prefix/"> reads its directives: a directory's context. */
    cmd->path = apr_pstrcat(cmd->pool, apr_pstrmemdup(cmd->temp_pool, prefix, n), "/", NULL);
    cmd->override = OR_ALL | ACCESS_CONF;
    err = ap_walk_config(cmd->directive->first_child, cmd, conf);
    cmd->path = old_path;
    cmd->override = old_override;
    if (err) {
        return err;
    }
    sc->api_section = conf;
    sc->api_prefix = apr_pstrmemdup(cmd->pool, prefix, n);
    sc->api_prefix_len = n;
    return NULL;
}

int aop_api_section_has(const aop_srv_conf_t *sc, const char *uri)
{
    return sc->api_section && uri
           && strncmp(uri, sc->api_prefix, sc->api_prefix_len) == 0
           && aop_api_root_at(uri + sc->api_prefix_len) > 0;
}

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
