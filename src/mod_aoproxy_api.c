/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The management API's router: method + path, admin key, JSON answers, over the
 * table of endpoints it is handed; and the helpers the handlers share. */
#include <apr_strings.h>

#include <http_protocol.h>

#include "aop_instance_json.h"
#include "aop_json.h"
#include "aop_path.h"
#include "mod_aoproxy_private.h"
#include "mod_aoproxy_api.h"
#include "mod_aoproxy_config.h"
#include "mod_aoproxy_errors.h"

#define ADMIN_HEADER "X-Admin-API-Key"

void aop_api_send(aop_api_t *q, json_object *root)
{
    aop_send_json(q->r, HTTP_OK, aop_json_to_string(q->r->pool, root));
}

json_object *aop_api_time(apr_pool_t *p, apr_time_t t)
{
    apr_time_exp_t tm;
    char buf[32];
    apr_size_t len;

    if (!t) {
        return NULL;
    }
    apr_time_exp_gmt(&tm, t);
    apr_strftime(buf, &len, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_object_new_string(buf);
}

json_object *aop_api_instance_config(const aop_instance_t *inst)
{
    return aop_instance_to_json(inst, 0);
}

void aop_api_not_found(aop_api_t *q, const char *name)
{
    aop_send_error(q->r, HTTP_NOT_FOUND, apr_psprintf(q->r->pool, "No instance named `%s`.",
                                                      name), "name", "instance_not_found");
}

void aop_api_store_error(aop_api_t *q, const aop_store_result_t *res)
{
    int status = aop_store_http_status(res->status);

    if (status >= 500) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, q->r, AOPLOGNO(00091)
                      "instance store %s: %s (%s)", q->view->fleet->db_path,
                      res->message ? res->message : "failed",
                      aop_store_status_name(res->status));
    }
    aop_send_error(q->r, status, res->message ? res->message : "The instance store failed.",
                   res->field, res->status == AOP_STORE_INVALID ? "invalid_instance"
                   : res->status == AOP_STORE_CONFLICT ? "conflict"
                   : res->status == AOP_STORE_NOT_FOUND ? "not_found"
                   : res->status == AOP_STORE_BUSY ? "store_busy" : "store_unavailable");
}

/* ------------------------------------------------------------------ routing */

/* Paths of the service this module replaces, moved for good (301, any method). */
static const struct {
    const char *from;                /* "*" stands for one path segment */
    const char *to;                  /* followed by the segment, if any */
} moved[] = {
    { "/verification/instances/*", "/instances/verify/" },
    { "/health/instances/*", "/instances/" },
    { "/health/instances", "/stats/instances" },
};

/* The endpoints (mod_aoproxy_api_routes.c), handed in at registration. */
static const aop_api_route_t *routes;
static apr_size_t nroutes;

/* The API's own part of the URI: from its first segment we know, so that it can be
 * mounted below a prefix ("/gateway/stats" works like "/stats"). */
static const char *api_path(const char *uri)
{
    const char *p;

    for (p = uri; p; p = strchr(p + 1, '/')) {
        if (aop_path_api_root(p)) {
            return p;
        }
    }
    return uri;
}

/* Matches path against pattern; a "*" segment (anywhere) captures into *arg. */
static int path_matches(apr_pool_t *p, const char *path, const char *pattern,
                        const char **arg)
{
    const char *star = strchr(pattern, '*');
    size_t n = star ? (size_t)(star - pattern) : strlen(pattern);
    size_t sl = star ? strlen(star + 1) : 0;
    size_t len = strlen(path);

    while (len > 1 && path[len - 1] == '/') {
        len--;
    }
    if (!star) {
        return len == n && strncmp(path, pattern, n) == 0;
    }
    if (len <= n + sl || strncmp(path, pattern, n) != 0
        || strncmp(path + len - sl, star + 1, sl) != 0
        || memchr(path + n, '/', len - n - sl)) {
        return 0;
    }
    *arg = apr_pstrmemdup(p, path + n, len - n - sl);
    return 1;
}

/* The same every time for a given key length: no timing tells how much of a guess
 * was right. */
static int keys_equal(const char *given, const char *key)
{
    size_t kl = strlen(key), gl = strlen(given), i;
    unsigned char diff = kl != gl;

    for (i = 0; i < kl; i++) {
        diff |= (unsigned char)(key[i] ^ (gl ? given[i % gl] : 0));
    }
    return diff == 0;
}

/* Mutations need the admin key; with none configured they are refused. */
static int admin_refused(aop_api_t *q)
{
    const char *given = apr_table_get(q->r->headers_in, ADMIN_HEADER);

    if (!q->sc->admin_key) {
        aop_send_error(q->r, HTTP_FORBIDDEN, "No usable admin key is configured "
                       "(AOProxyAdminKey, AOProxyAdminKeyFile or ADMIN_API_KEY): "
                       "administrative requests are refused.", NULL,
                       "admin_key_not_configured");
        return 1;
    }
    if (!given || !keys_equal(given, q->sc->admin_key)) {
        aop_send_error(q->r, HTTP_UNAUTHORIZED, given ? "The X-Admin-API-Key is wrong."
                       : "This request needs the X-Admin-API-Key header.", NULL,
                       "invalid_admin_key");
        return 1;
    }
    return 0;
}

static int literal(const aop_api_route_t *route)
{
    return strchr(route->path, '*') == NULL;
}

/* Whether a route spells path out ("/instances/add"): then only such routes name it,
 * whatever the method, and no star of another route ("/instances/{name}") takes it as
 * an argument.  So GET /instances/add answers 405, never "no instance named add". */
static int spelled_out(apr_pool_t *p, const char *path)
{
    const char *arg;
    size_t i;

    for (i = 0; i < nroutes; i++) {
        if (literal(&routes[i]) && path_matches(p, path, routes[i].path, &arg)) {
            return 1;
        }
    }
    return 0;
}

/* Whether route i names path (with its argument in *arg). */
static int names_path(apr_pool_t *p, size_t i, const char *path, int exact, const char **arg)
{
    return literal(&routes[i]) == exact && path_matches(p, path, routes[i].path, arg);
}

/* Not ap_method_name_of(): httpd's registry maps M_GET to "HEAD" as well, and which
 * name comes back depends on a hash's order. */
static const char *method_name(int method)
{
    switch (method) {
    case M_GET:
        return "GET";
    case M_POST:
        return "POST";
    case M_PATCH:
        return "PATCH";
    case M_DELETE:
        return "DELETE";
    default:
        return "OPTIONS";            /* no route uses another */
    }
}

/* The methods of the routes that name path, each once ("GET, PATCH, DELETE"). */
static const char *allowed_methods(apr_pool_t *p, const char *path, int exact)
{
    const char *allow = NULL, *arg, *m;
    apr_int64_t seen = 0;
    size_t i;

    for (i = 0; i < nroutes; i++) {
        if (!(seen & (AP_METHOD_BIT << routes[i].method))
            && names_path(p, i, path, exact, &arg)) {
            seen |= AP_METHOD_BIT << routes[i].method;
            m = method_name(routes[i].method);
            allow = allow ? apr_pstrcat(p, allow, ", ", m, NULL) : m;
        }
    }
    return allow;
}

int aop_api_name_reserved(apr_pool_t *p, const char *name)
{
    return spelled_out(p, apr_pstrcat(p, "/instances/", name, NULL));
}

/* An old path answers with a permanent redirect to its new place, below the same
 * prefix the API is mounted at.  /verification/instances/test is simply gone. */
static int redirected(aop_api_t *q, const char *path)
{
    const char *arg = NULL, *to;
    size_t i;

    if (path_matches(q->r->pool, path, "/verification/instances/test", &arg)) {
        return 0;
    }
    for (i = 0; i < sizeof(moved) / sizeof(moved[0]); i++) {
        if (path_matches(q->r->pool, path, moved[i].from, &arg)) {
            to = apr_pstrcat(q->r->pool, moved[i].to,
                             arg ? ap_escape_uri(q->r->pool, arg) : "", NULL);
            to = apr_pstrcat(q->r->pool, apr_pstrmemdup(q->r->pool, q->r->uri,
                                                        (apr_size_t)(path - q->r->uri)),
                             to, q->r->args ? "?" : "", q->r->args ? q->r->args : "", NULL);
            apr_table_setn(q->r->headers_out, "Location", to);
            aop_send_error(q->r, HTTP_MOVED_PERMANENTLY, apr_pstrcat(q->r->pool, "Moved to ",
                                                                    to, NULL),
                           NULL, "moved_permanently");
            return 1;
        }
    }
    return 0;
}

/* A path that exists with other methods answers 405 with Allow; one that does not,
 * 404. */
static void dispatch(aop_api_t *q)
{
    const char *path = api_path(q->r->uri), *allow;
    int exact;
    size_t i;

    if (redirected(q, path)) {
        return;
    }
    exact = spelled_out(q->r->pool, path);
    for (i = 0; i < nroutes; i++) {
        if (routes[i].method == q->r->method_number
            && names_path(q->r->pool, i, path, exact, &q->arg)) {
            if (!routes[i].admin || !admin_refused(q)) {
                routes[i].fn(q);
            }
            return;
        }
    }
    if ((allow = allowed_methods(q->r->pool, path, exact))) {
        apr_table_setn(q->r->err_headers_out, "Allow", allow);
        aop_send_error(q->r, HTTP_METHOD_NOT_ALLOWED,
                       apr_psprintf(q->r->pool, "Method %s is not allowed on this path "
                                    "(allowed: %s).", q->r->method, allow),
                       NULL, "method_not_allowed");
        return;
    }
    aop_send_error(q->r, HTTP_NOT_FOUND, apr_psprintf(q->r->pool, "Invalid URL (%s %s)",
                                                      q->r->method, q->r->uri),
                   NULL, "unknown_url");
}

static int aop_api_handler(request_rec *r)
{
    aop_api_t q;

    if (!r->handler || strcmp(r->handler, AOP_API_HANDLER) != 0) {
        return DECLINED;
    }
    q.r = r;
    q.sc = aop_srv_conf(r->server);
    q.arg = NULL;
    if (!q.sc->cfg || !(q.view = aop_view_acquire(r, q.sc->fleet))) {
        aop_send_error(r, HTTP_SERVICE_UNAVAILABLE, "No AOProxyConfigDir is set for this "
                       "server.", NULL, "not_configured");
        return OK;
    }
    dispatch(&q);
    return OK;
}

void aop_api_register_hooks(apr_pool_t *p, const aop_api_route_t *table, apr_size_t n)
{
    routes = table;
    nroutes = n;
    ap_hook_handler(aop_api_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
