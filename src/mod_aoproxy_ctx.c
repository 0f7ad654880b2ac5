/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The per-request state: made once, found by every hook of the request. */
#include "mod_aoproxy_private.h"
#include "mod_aoproxy_ctx.h"

aop_req_t *aop_req_make(request_rec *r)
{
    aop_req_t *ctx = apr_pcalloc(r->pool, sizeof(*ctx));

    ctx->r = r;
    ctx->sc = aop_srv_conf(r->server);
    ctx->chosen = -1;
    ctx->preselected = -1;
    ctx->pinned = -1;
    ctx->ttfb = -1;
    ap_set_module_config(r->request_config, &aoproxy_module, ctx);
    return ctx;
}

aop_req_t *aop_req_get(const request_rec *r)
{
    return ap_get_module_config(r->request_config, &aoproxy_module);
}
