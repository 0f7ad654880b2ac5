/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* mod_aoproxy: OpenAI API calls served from a fleet of Azure OpenAI instances
 * through mod_proxy and a balancer whose lbmethod is ours.
 *
 * This file only dispatches.  Start-up - every lifecycle hook, parent and child,
 * trial and real pass - is src/mod_aoproxy_startup.c; each file of the request path
 * registers its own request hooks, filters and providers.  The request flow is
 * described in docs/architecture.md. */
#define AOP_MODULE_MAIN
#include <httpd.h>
#include <http_config.h>

#include "src/mod_aoproxy_private.h"
#include "src/mod_aoproxy_api_routes.h"
#include "src/mod_aoproxy_api_section.h"
#include "src/mod_aoproxy_body.h"
#include "src/mod_aoproxy_config.h"
#include "src/mod_aoproxy_hold.h"
#include "src/mod_aoproxy_lbmethod.h"
#include "src/mod_aoproxy_proxy.h"
#include "src/mod_aoproxy_request.h"
#include "src/mod_aoproxy_startup.h"
#include "src/mod_aoproxy_stats.h"
#include "src/mod_aoproxy_stream_timer.h"
#include "src/mod_aoproxy_usage.h"

static void register_hooks(apr_pool_t *p)
{
    aop_startup_register_hooks(p);
    aop_lbmethod_register_hooks(p);
    aop_body_register_hooks(p);
    aop_request_register_hooks(p);
    aop_proxy_register_hooks(p);
    aop_hold_register_hooks(p);
    aop_stream_timer_register_hooks(p);
    aop_usage_register_hooks(p);
    aop_stats_register_hooks(p);
    aop_api_routes_register_hooks(p);
    aop_api_section_register_hooks(p);
}

AP_DECLARE_MODULE(aoproxy) = {
    STANDARD20_MODULE_STUFF,
    aop_create_dir_conf,
    aop_merge_dir_conf,
    aop_create_srv_conf,
    aop_merge_srv_conf,
    aop_cmds,
    register_hooks,
#if defined(AP_MODULE_FLAG_ALWAYS_MERGE)
    AP_MODULE_FLAG_ALWAYS_MERGE
#endif
};
