/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <apr_strings.h>

#include <http_protocol.h>

#include "aop_json.h"
#include "mod_aoproxy_private.h"
#include "mod_aoproxy_errors.h"

const char *aop_error_type(int status)
{
    switch (status) {
    case HTTP_UNAUTHORIZED: return "authentication_error";
    case HTTP_FORBIDDEN: return "permission_error";
    case HTTP_TOO_MANY_REQUESTS: return "rate_limit_error";
    default:
        return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

void aop_send_json(request_rec *r, int status, const char *json)
{
    apr_size_t len = strlen(json);

    r->status = status;
    ap_set_content_type(r, "application/json");
    ap_set_content_length(r, (apr_off_t)len + 1);
    if (!r->header_only) {
        ap_rwrite(json, (int)len, r);
        ap_rputs("\n", r);
    }
}

void aop_send_error(request_rec *r, int status, const char *message, const char *param,
                    const char *code)
{
    aop_send_json(r, status, aop_json_error_body(r->pool, message, aop_error_type(status),
                                                 param, code));
}

const char *aop_rate_limited(request_rec *r, apr_table_t *headers, const char *model,
                             apr_interval_time_t wait)
{
    long secs = (long)((wait + APR_USEC_PER_SEC - 1) / APR_USEC_PER_SEC);

    secs = secs > 0 ? secs : 1;
    apr_table_setn(headers, "Retry-After", apr_ltoa(r->pool, secs));
    return apr_psprintf(r->pool, "Rate limit reached for model `%s` on every instance that "
                        "serves it. Please retry after %ld second%s.", model, secs,
                        secs == 1 ? "" : "s");
}

/* Azure's stream broke after the client got its first bytes: no failover is possible
 * any more, so the client is told in the stream itself, in OpenAI's error shape,
 * before the connection ends.  The leading blank line ends whatever partial event
 * came before (between whole events it is an empty line SSE ignores). */
static const char broken_stream_event[] =
    "\n\ndata: {\"error\":{\"message\":\"The upstream Azure OpenAI stream was interrupted "
    "before it ended.\",\"type\":\"server_error\",\"param\":null,"
    "\"code\":\"stream_interrupted\"}}\n\n";

apr_bucket *aop_broken_stream_event(apr_bucket_alloc_t *ba)
{
    return apr_bucket_immortal_create(broken_stream_event, sizeof(broken_stream_event) - 1,
                                      ba);
}
