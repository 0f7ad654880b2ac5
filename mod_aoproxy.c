/* mod_aoproxy: OpenAI API calls served from a fleet of Azure OpenAI instances
 * through mod_proxy and a balancer whose lbmethod is ours.
 *
 * This file only dispatches: each subsystem registers its own hooks.  The request
 * flow is described in docs/architecture.md. */
#define AOP_MODULE_MAIN
#include <httpd.h>
#include <http_config.h>
#include <http_log.h>

#include "src/mod_aoproxy_private.h"
#include "src/mod_aoproxy_api.h"
#include "src/mod_aoproxy_balancer.h"
#include "src/mod_aoproxy_body.h"
#include "src/mod_aoproxy_config.h"
#include "src/mod_aoproxy_hold.h"
#include "src/mod_aoproxy_lbmethod.h"
#include "src/mod_aoproxy_live.h"
#include "src/mod_aoproxy_publish.h"
#include "src/mod_aoproxy_proxy.h"
#include "src/mod_aoproxy_request.h"
#include "src/mod_aoproxy_reservations.h"
#include "src/mod_aoproxy_shm.h"
#include "src/mod_aoproxy_stats.h"
#include "src/mod_aoproxy_usage.h"
#include "src/mod_aoproxy_verify.h"

/* The core (src/aop_*) logs through this: its messages reach the main server's log. */
static void core_log(void *baton, aop_log_level_e level, apr_status_t rv, const char *msg)
{
    ap_log_error(APLOG_MARK, (int)level, rv, (server_rec *)baton, "%s", msg);
}

static int aop_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    aop_log_set(NULL, NULL);
    return OK;
}

static int aop_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                            server_rec *s)
{
    aop_log_set(core_log, s);
    return aop_config_check(pconf, plog, ptemp, s);
}

static void register_hooks(apr_pool_t *p)
{
    ap_hook_pre_config(aop_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(aop_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(aop_config_post_config, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_post_config(aop_lbmethod_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(aop_proxy_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    aop_shm_register_hooks(p);
    aop_live_register_hooks(p);
    aop_publish_register_hooks(p);
    aop_lbmethod_register_hooks(p);
    aop_reservations_register_hooks(p);
    aop_balancer_register_hooks(p);
    aop_body_register_hooks(p);
    aop_request_register_hooks(p);
    aop_proxy_register_hooks(p);
    aop_hold_register_hooks(p);
    aop_usage_register_hooks(p);
    aop_stats_register_hooks(p);
    aop_api_register_hooks(p);
    aop_verify_register_hooks(p);
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
