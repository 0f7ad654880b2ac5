/* The management API's router: method + path, admin key, JSON answers; and the
 * configuration views (/instances, /config). */
#include <apr_strings.h>

#include <http_protocol.h>

#include "aop_instance_json.h"
#include "aop_json.h"
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

static json_object *instances_json(const aop_config_t *cfg)
{
    json_object *arr = json_object_new_array();
    int i;

    for (i = 0; i < cfg->instances->nelts; i++) {
        json_object_array_add(arr, aop_api_instance_config(APR_ARRAY_IDX(cfg->instances, i,
                                                                         aop_instance_t *)));
    }
    return arr;
}

static void get_instances(aop_api_t *q)
{
    json_object *root = aop_json_own(q->r->pool, json_object_new_object());

    json_object_object_add(root, "instances", instances_json(q->sc->cfg));
    aop_api_send(q, root);
}

static json_object *int_list(const apr_array_header_t *a)
{
    json_object *arr = json_object_new_array();
    int i;

    for (i = 0; i < a->nelts; i++) {
        json_object_array_add(arr, json_object_new_int(APR_ARRAY_IDX(a, i, int)));
    }
    return arr;
}

static json_object *routing_json(const aop_config_t *cfg)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "strategy", json_object_new_string(aop_strategy_name(cfg->strategy)));
    json_object_object_add(o, "retries", json_object_new_int(cfg->retries));
    json_object_object_add(o, "timeout", json_object_new_double(cfg->timeout));
    return o;
}

/* The effective configuration; secrets (keys, the webhook URL) are masked. */
static void get_config(aop_api_t *q)
{
    const aop_config_t *cfg = q->sc->cfg;
    json_object *root = aop_json_own(q->r->pool, json_object_new_object());
    json_object *logging = json_object_new_object(), *monitoring = json_object_new_object();

    json_object_object_add(root, "name", json_object_new_string(cfg->name ? cfg->name : ""));
    json_object_object_add(root, "version",
                           json_object_new_string(cfg->version ? cfg->version : ""));
    json_object_object_add(root, "port", json_object_new_int(cfg->port));
    json_object_object_add(root, "routing", routing_json(cfg));
    json_object_object_add(logging, "level",
                           json_object_new_string(cfg->log_level ? cfg->log_level : "INFO"));
    json_object_object_add(logging, "feishu_webhook",
                           json_object_new_string(cfg->feishu_webhook && *cfg->feishu_webhook
                                                  ? "***" : ""));
    json_object_object_add(root, "logging", logging);
    json_object_object_add(monitoring, "stats_window_minutes",
                           json_object_new_int(cfg->stats_window_minutes));
    json_object_object_add(monitoring, "additional_windows", int_list(cfg->additional_windows));
    json_object_object_add(root, "monitoring", monitoring);
    json_object_object_add(root, "instances", instances_json(cfg));
    aop_api_send(q, root);
}

/* ------------------------------------------------------------------ routing */

typedef struct route_t {
    int method;
    const char *path;                /* "*" stands for one path segment: the arg */
    aop_api_fn *fn;
    int admin;                       /* needs X-Admin-API-Key */
} route_t;

/* Paths of the service this module replaces, moved for good (301, any method). */
static const struct {
    const char *from;                /* "*" stands for one path segment */
    const char *to;                  /* followed by the segment, if any */
} moved[] = {
    { "/verification/instances/*", "/instances/verify/" },
    { "/health/instances/*", "/instances/" },
    { "/health/instances", "/stats/instances" },
};

static const route_t routes[] = {
    { M_GET, "/instances", get_instances, 0 },
    { M_GET, "/instances/*", aop_api_get_instance, 0 },
    { M_GET, "/config", get_config, 0 },
    { M_GET, "/stats", aop_api_get_stats, 0 },
    { M_GET, "/stats/windows", aop_api_get_stats_windows, 0 },
    { M_GET, "/stats/instances", aop_api_get_stats_instances, 0 },
    { M_GET, "/stats/health", aop_api_get_stats_health, 0 },
    { M_POST, "/stats/reset", aop_api_post_stats_reset, 1 },
    { M_POST, "/instances/verify/*", aop_api_post_instance_verify, 1 },
    { M_GET, "/metrics", aop_api_get_metrics, 0 },
};

/* The API's own part of the URI: from its first segment we know, so that it can be
 * mounted below a prefix ("/gateway/stats" works like "/stats"). */
static const char *api_path(const char *uri)
{
    static const char *const roots[] = {
        "/instances", "/stats", "/config", "/admin", "/metrics", "/health",
        "/verification", NULL
    };
    const char *p;
    int i;

    for (p = uri; p; p = strchr(p + 1, '/')) {
        for (i = 0; roots[i]; i++) {
            size_t n = strlen(roots[i]);

            if (strncmp(p, roots[i], n) == 0 && (p[n] == '\0' || p[n] == '/')) {
                return p;
            }
        }
    }
    return uri;
}

/* Matches path against pattern; a "*" segment captures into *arg. */
static int path_matches(apr_pool_t *p, const char *path, const char *pattern,
                        const char **arg)
{
    const char *star = strchr(pattern, '*');
    size_t n = star ? (size_t)(star - pattern) : strlen(pattern);
    size_t len = strlen(path);

    while (len > 1 && path[len - 1] == '/') {
        len--;
    }
    if (!star) {
        return len == n && strncmp(path, pattern, n) == 0;
    }
    if (len <= n || strncmp(path, pattern, n) != 0 || memchr(path + n, '/', len - n)) {
        return 0;
    }
    *arg = apr_pstrmemdup(p, path + n, len - n);
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
        aop_send_error(q->r, HTTP_FORBIDDEN, "No admin key is configured (AOProxyAdminKey or "
                       "ADMIN_API_KEY): administrative requests are refused.", NULL,
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

static const char *allowed_methods(apr_pool_t *p, const char *path)
{
    const char *allow = NULL, *arg;
    size_t i;

    for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (path_matches(p, path, routes[i].path, &arg)) {
            const char *m = ap_method_name_of(p, routes[i].method);
            allow = allow ? apr_pstrcat(p, allow, ", ", m, NULL) : m;
        }
    }
    return allow;
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

static void dispatch(aop_api_t *q)
{
    const char *path = api_path(q->r->uri), *allow;
    size_t i;

    if (redirected(q, path)) {
        return;
    }
    for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (routes[i].method == q->r->method_number
            && path_matches(q->r->pool, path, routes[i].path, &q->arg)) {
            if (!routes[i].admin || !admin_refused(q)) {
                routes[i].fn(q);
            }
            return;
        }
    }
    if ((allow = allowed_methods(q->r->pool, path))) {
        apr_table_setn(q->r->err_headers_out, "Allow", allow);
        aop_send_error(q->r, HTTP_METHOD_NOT_ALLOWED, "Method not allowed.", NULL,
                       "method_not_allowed");
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
    if (!q.sc->cfg) {
        aop_send_error(r, HTTP_SERVICE_UNAVAILABLE, "No AOProxyConfigDir is set for this "
                       "server.", NULL, "not_configured");
        return OK;
    }
    dispatch(&q);
    return OK;
}

void aop_api_register_hooks(apr_pool_t *p)
{
    ap_hook_handler(aop_api_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
