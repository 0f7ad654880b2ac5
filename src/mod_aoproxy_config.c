/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Directives, their configuration records, and loading the YAML they point at. */
#include <apr_strings.h>
#include <apr_env.h>

#include <http_core.h>
#include <http_main.h>

#include "mod_aoproxy_private.h"
#include "aop_affinity.h"
#include "aop_path.h"
#include "aop_secret_file.h"
#include "aop_store.h"
#include "mod_aoproxy_config.h"
#include "mod_aoproxy_fleets.h"
#include "mod_aoproxy_user_access.h"

aop_srv_conf_t *aop_srv_conf(const server_rec *s)
{
    return ap_get_module_config(s->module_config, &aoproxy_module);
}

int aop_dir_enabled(const request_rec *r)
{
    aop_dir_conf_t *dc = ap_get_module_config(r->per_dir_config, &aoproxy_module);

    return dc && dc->enabled == 1;
}

void *aop_create_srv_conf(apr_pool_t *p, server_rec *s)
{
    aop_srv_conf_t *sc = apr_pcalloc(p, sizeof(*sc));

    sc->max_body = AOP_DEFAULT_MAX_BODY;
    sc->retry_interval.value = AOP_DEFAULT_RETRY_INTERVAL;
    sc->connect_timeout.value = AOP_DEFAULT_CONNECT_TIMEOUT;
    sc->cooldown.value = AOP_DEFAULT_COOLDOWN;
    sc->growth = AOP_DEFAULT_GROWTH;
    sc->affinity = AOP_DEFAULT_AFFINITY;
    return sc;
}

#define MERGE_SET(field) \
    do { \
        conf->field = add->field##_set ? add->field : base->field; \
        conf->field##_set = add->field##_set || base->field##_set; \
    } while (0)

void *aop_merge_srv_conf(apr_pool_t *p, void *basev, void *addv)
{
    aop_srv_conf_t *base = basev, *add = addv;
    aop_srv_conf_t *conf = apr_pcalloc(p, sizeof(*conf));

    conf->config_dir = add->config_dir ? add->config_dir : base->config_dir;
    conf->environment = add->environment ? add->environment : base->environment;
    conf->proxy_used = add->proxy_used || base->proxy_used;
    MERGE_SET(max_body);
    conf->retry_interval = add->retry_interval.set ? add->retry_interval : base->retry_interval;
    conf->connect_timeout = add->connect_timeout.set ? add->connect_timeout
                                                     : base->connect_timeout;
    conf->cooldown = add->cooldown.set ? add->cooldown : base->cooldown;
    conf->admin_key = add->admin_key ? add->admin_key : base->admin_key;
    conf->admin_key_file = add->admin_key_file ? add->admin_key_file : base->admin_key_file;
    conf->state_db = add->state_db ? add->state_db : base->state_db;
    MERGE_SET(growth);
    MERGE_SET(affinity);
    if (add->api_section) {
        conf->api_section = add->api_section;
        conf->api_prefix = add->api_prefix;
        conf->api_prefix_len = add->api_prefix_len;
    }
    else {
        conf->api_section = base->api_section;
        conf->api_prefix = base->api_prefix;
        conf->api_prefix_len = base->api_prefix_len;
    }
    /* cfg, fleet and balancer are resolved per server at start-up. */
    return conf;
}

void *aop_create_dir_conf(apr_pool_t *p, char *dir)
{
    aop_dir_conf_t *dc = apr_pcalloc(p, sizeof(*dc));

    dc->enabled = -1;
    return dc;
}

void *aop_merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    aop_dir_conf_t *base = basev, *add = addv;
    aop_dir_conf_t *conf = apr_pcalloc(p, sizeof(*conf));

    conf->enabled = add->enabled != -1 ? add->enabled : base->enabled;
    return conf;
}

/* ------------------------------------------------------------------ directives */

static const char *set_enabled(cmd_parms *cmd, void *dconf, int flag)
{
    aop_dir_conf_t *dc = dconf;

    dc->enabled = flag ? 1 : 0;
    if (flag) {
        aop_srv_conf(cmd->server)->proxy_used = 1;
    }
    return NULL;
}

/* A path directive (relative to ServerRoot) into the server field at offset
 * cmd->info: AOProxyConfigDir, AOProxyStateDB, AOProxyAdminKeyFile. */
static const char *set_path(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);
    const char *path;

    if (err) {
        return err;
    }
    if (!(path = ap_server_root_relative(cmd->pool, arg))) {
        return apr_pstrcat(cmd->pool, cmd->directive->directive, ": invalid path '", arg, "'",
                           NULL);
    }
    *(const char **)(void *)((char *)aop_srv_conf(cmd->server) + (apr_size_t)cmd->info) = path;
    return NULL;
}

static const char *set_environment(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);

    if (err) {
        return err;
    }
    aop_srv_conf(cmd->server)->environment = arg;
    return NULL;
}

static const char *set_max_body(cmd_parms *cmd, void *dconf, const char *arg)
{
    aop_srv_conf_t *sc = aop_srv_conf(cmd->server);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);
    char *end;
    apr_off_t n;

    if (err) {
        return err;
    }
    if (apr_strtoff(&n, arg, &end, 10) != APR_SUCCESS || *end || n < 1) {
        return "AOProxyMaxBodySize must be a positive number of bytes";
    }
    sc->max_body = n;
    sc->max_body_set = 1;
    return NULL;
}

/* Which aop_seconds_t of the server config a duration directive sets, and whether 0
 * is meaningful for it (cmd->info). */
typedef struct seconds_slot_t {
    apr_size_t offset;
    int allow_zero;
} seconds_slot_t;

static const seconds_slot_t retry_slot = { APR_OFFSETOF(aop_srv_conf_t, retry_interval), 1 };
static const seconds_slot_t connect_slot = { APR_OFFSETOF(aop_srv_conf_t, connect_timeout), 0 };
static const seconds_slot_t cooldown_slot = { APR_OFFSETOF(aop_srv_conf_t, cooldown), 1 };

/* A number of seconds (fractions allowed, at most a day). */
static const char *set_seconds(cmd_parms *cmd, void *dconf, const char *arg)
{
    const seconds_slot_t *slot = cmd->info;
    aop_seconds_t *out = (aop_seconds_t *)((char *)aop_srv_conf(cmd->server) + slot->offset);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);
    char *end;
    double v;

    if (err) {
        return err;
    }
    v = strtod(arg, &end);
    if (end == arg || *end || v < 0 || (!slot->allow_zero && v == 0) || v > 86400) {
        return apr_pstrcat(cmd->pool, cmd->directive->directive,
                           " must be a number of seconds", NULL);
    }
    out->value = (apr_interval_time_t)(v * APR_USEC_PER_SEC);
    out->set = 1;
    return NULL;
}

static const char *set_admin_key(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);

    if (err) {
        return err;
    }
    if ((err = aop_admin_key_problem(cmd->pool, arg))) {
        return apr_pstrcat(cmd->pool, "AOProxyAdminKey ", err, NULL);
    }
    aop_srv_conf(cmd->server)->admin_key = arg;
    return NULL;
}

static const char *set_growth(cmd_parms *cmd, void *dconf, const char *arg)
{
    aop_srv_conf_t *sc = aop_srv_conf(cmd->server);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);
    char *end;
    long n;

    if (err) {
        return err;
    }
    n = strtol(arg, &end, 10);
    if (end == arg || *end || n < 0 || n > 4096) {
        return "AOProxyInstanceGrowth must be a number of instances from 0 to 4096";
    }
    sc->growth = (int)n;
    sc->growth_set = 1;
    return NULL;
}

/* One table per httpd (every virtual host shares it): the main server's only. */
static const char *set_affinity(cmd_parms *cmd, void *dconf, const char *arg)
{
    aop_srv_conf_t *sc = aop_srv_conf(cmd->server);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    char *end;
    apr_int64_t n;

    if (err) {
        return err;
    }
    n = apr_strtoi64(arg, &end, 10);
    if (end == arg || *end || (n != 0 && (n < AOP_AFFINITY_MIN || n > AOP_AFFINITY_MAX_ENTRIES))) {
        return apr_psprintf(cmd->pool, "AOProxyResponseAffinity must be 0 (off) or a number "
                            "of entries from %d to %d, not '%s'", AOP_AFFINITY_MIN,
                            AOP_AFFINITY_MAX_ENTRIES, arg);
    }
    sc->affinity = (apr_uint32_t)n;
    sc->affinity_set = 1;
    return NULL;
}

/* <AOProxyAPI [prefix]>: its directives read, as core's <Location> reads its own,
 * into a vector of their own, which mod_aoproxy_api_section.c merges into the API's
 * requests. */
static const char *api_section(cmd_parms *cmd, void *dconf, const char *arg)
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
           && aop_path_api_root(uri + sc->api_prefix_len) > 0;
}

const command_rec aop_cmds[] = {
    AP_INIT_FLAG("AOProxy", set_enabled, NULL, RSRC_CONF | ACCESS_CONF,
                 "On: serve OpenAI API calls (/v1/...) here from the configured Azure "
                 "OpenAI instances"),
    AP_INIT_TAKE1("AOProxyConfigDir", set_path,
                  (void *)APR_OFFSETOF(aop_srv_conf_t, config_dir), RSRC_CONF,
                  "Directory holding base.yaml and <environment>.yaml"),
    AP_INIT_TAKE1("AOProxyEnvironment", set_environment, NULL, RSRC_CONF,
                  "Environment whose YAML overlays base.yaml (default: $ENVIRONMENT)"),
    AP_INIT_TAKE1("AOProxyMaxBodySize", set_max_body, NULL, RSRC_CONF,
                  "Largest request body accepted, in bytes (default 16777216)"),
    AP_INIT_TAKE1("AOProxyRetryInterval", set_seconds, (void *)&retry_slot, RSRC_CONF,
                  "Seconds an instance that refused connections is left out (default 60)"),
    AP_INIT_TAKE1("AOProxyConnectTimeout", set_seconds, (void *)&connect_slot, RSRC_CONF,
                  "Seconds allowed to connect to an instance (default 5)"),
    AP_INIT_TAKE1("AOProxyAdminKey", set_admin_key, NULL, RSRC_CONF,
                  "Key the management API's mutations require in X-Admin-API-Key "
                  "(default: $ADMIN_API_KEY; none: mutations are refused)"),
    AP_INIT_TAKE1("AOProxyAdminKeyFile", set_path,
                  (void *)APR_OFFSETOF(aop_srv_conf_t, admin_key_file), RSRC_CONF,
                  "File whose first line is the admin key, read at every start and "
                  "graceful restart; readable by its owner and group only"),
    AP_INIT_TAKE1("AOProxyCooldown", set_seconds, (void *)&cooldown_slot, RSRC_CONF,
                  "Seconds an instance rests after a 429 or 5xx that says not how long "
                  "(default 10)"),
    AP_INIT_TAKE1("AOProxyStateDB", set_path,
                  (void *)APR_OFFSETOF(aop_srv_conf_t, state_db), RSRC_CONF,
                  "SQLite file of the instances changed through the management API "
                  "(default: $INSTANCE_MANAGER_DB_PATH, else " AOP_DEFAULT_DB_PATH ")"),
    AP_INIT_TAKE1("AOProxyInstanceGrowth", set_growth, NULL, RSRC_CONF,
                  "Instances the management API may add beyond the configured ones "
                  "without a restart (default 32)"),
    AP_INIT_TAKE1("AOProxyResponseAffinity", set_affinity, NULL, RSRC_CONF,
                  "Response and conversation ids whose instance is remembered, in shared "
                  "memory (32 bytes each; default 1048576; 0: off)"),
    AP_INIT_RAW_ARGS("<AOProxyAPI", api_section, NULL, RSRC_CONF,
                     "Container of the management API (/instances, /stats, /config, "
                     "/admin, /metrics, /health, /verification below an optional path "
                     "prefix) and the directives for its requests, such as Require"),
    { NULL }
};

/* ------------------------------------------------------------------ loading */

/* A variable of httpd's environment (/etc/apache2/envvars on Debian), if set and
 * not empty. */
static const char *env_or(apr_pool_t *p, const char *name, const char *dflt)
{
    char *v = NULL;

    if (apr_env_get(&v, name, p) == APR_SUCCESS && v && *v) {
        return v;
    }
    return dflt;
}

static const char *resolve_environment(const aop_srv_conf_t *sc, apr_pool_t *p)
{
    return sc->environment ? sc->environment : env_or(p, "ENVIRONMENT", NULL);
}

/* Maps logging.level onto this module's log level unless LogLevel already set one. */
static void apply_log_level(apr_pool_t *p, server_rec *s, const aop_config_t *cfg)
{
    static const struct { const char *name; int level; } map[] = {
        { "DEBUG", APLOG_DEBUG }, { "INFO", APLOG_INFO }, { "WARNING", APLOG_WARNING },
        { "ERROR", APLOG_ERR }, { "CRITICAL", APLOG_CRIT },
    };
    int idx = aoproxy_module.module_index;
    size_t i;

    if (!cfg->log_level
        || (s->log.module_levels && s->log.module_levels[idx] != APLOG_NO_MODULE)) {
        return;
    }
    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(map[i].name, cfg->log_level) == 0) {
            ap_set_module_loglevel(p, &s->log, idx, map[i].level);
        }
    }
}

/* `apache2ctl configtest` (-t) fails on any problem; a real start or a graceful
 * restart serves what it can (aop_config_mode_e). */
static int config_test(void)
{
    return ap_state_query(AP_SQ_RUN_MODE) == AP_SQ_RM_CONFIG_TEST;
}

/* The YAML files httpd's User cannot read: the parent (root) read them, but the
 * children re-read them at POST /config/reload. */
static const char *unreadable_files(apr_pool_t *p, const aop_config_t *cfg)
{
    int i;

    for (i = 0; i < cfg->files->nelts; i++) {
        const char *why = aop_user_access(p, APR_ARRAY_IDX(cfg->files, i, const char *),
                                          AOP_ACCESS_READ);
        if (why) {
            return why;
        }
    }
    return NULL;
}

/* Warnings written one by one before the rest are counted in one line: a fleet of
 * thousands of http:// instances (a test fleet, a local emulator) wrote thousands. */
#define WARNINGS_LOGGED 20

static void log_warnings(server_rec *s, const aop_config_t *cfg)
{
    int i, n = cfg->warnings->nelts;

    for (i = 0; i < n && i < WARNINGS_LOGGED; i++) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, AOPLOGNO(00002) "configuration: %s",
                     APR_ARRAY_IDX(cfg->warnings, i, const char *));
    }
    if (n > WARNINGS_LOGGED) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, AOPLOGNO(00112) "configuration: %d "
                     "more warnings like these, not written one by one (the last: %s)",
                     n - WARNINGS_LOGGED, APR_ARRAY_IDX(cfg->warnings, n - 1, const char *));
    }
}

/* Key files only root can read work at start and graceful restart, not at a reload
 * made by a child: worth a warning, not a refusal. */
static void log_key_file_access(apr_pool_t *p, server_rec *s, const aop_config_t *cfg)
{
    int i;

    for (i = 0; i < cfg->instances->nelts; i++) {
        const aop_instance_t *inst = APR_ARRAY_IDX(cfg->instances, i, aop_instance_t *);
        const char *why = inst->api_key_file
                          ? aop_user_access(p, inst->api_key_file, AOP_ACCESS_READ) : NULL;

        if (why) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, AOPLOGNO(00104)
                         "instance %s: %s: POST /config/reload will leave it out (make the "
                         "key file readable by the group of httpd's User)", inst->name, why);
        }
    }
}

/* One load per (directory, environment): virtual hosts inheriting the main
 * server's AOProxyConfigDir share its configuration. */
static aop_config_t *load_once(apr_pool_t *pconf, server_rec *s, apr_hash_t *cache,
                               const char *dir, const char *env)
{
    const char *key = apr_pstrcat(pconf, dir, "\n", env ? env : "", NULL);
    aop_config_t *cfg = apr_hash_get(cache, key, APR_HASH_KEY_STRING);
    const char *err = NULL;

    if (cfg) {
        return cfg;
    }
    if (aop_config_load_mode(pconf, dir, env, NULL, NULL,
                             config_test() ? AOP_CONFIG_STRICT : AOP_CONFIG_LENIENT, &cfg,
                             &err) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                     AOPLOGNO(00001) "configuration error: %s", err);
        return NULL;
    }
    if (config_test()) {
        if ((err = unreadable_files(pconf, cfg))) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s, AOPLOGNO(00103)
                         "configuration error: %s: httpd's children read it at every "
                         "POST /config/reload", err);
            return NULL;
        }
        log_warnings(s, cfg);
        log_key_file_access(pconf, s, cfg);
    }
    apr_hash_set(cache, key, APR_HASH_KEY_STRING, cfg);
    return cfg;
}

/* One fleet per loaded configuration: servers sharing a configuration share its
 * live instances and its store (the first server's AOProxyStateDB wins). */
static aop_fleet_t *fleet_of(apr_pool_t *pconf, server_rec *s, aop_srv_conf_t *sc,
                             const char *env)
{
    aop_fleet_t *fleet = aop_fleets_find(sc->cfg);

    if (fleet) {
        return fleet;
    }
    fleet = apr_pcalloc(pconf, sizeof(*fleet));
    fleet->config_dir = sc->config_dir;
    fleet->environment = env;
    fleet->db_path = sc->state_db ? sc->state_db
                                  : env_or(pconf, "INSTANCE_MANAGER_DB_PATH", AOP_DEFAULT_DB_PATH);
    fleet->state_file = env_or(pconf, "INSTANCE_MANAGER_STATE_FILE", NULL);
    fleet->growth = sc->growth;
    fleet->boot_cfg = sc->cfg;
    aop_fleets_add(pconf, s, fleet);
    return fleet;
}

/* AOProxyAdminKey, else AOProxyAdminKeyFile (read now: at every start and graceful
 * restart), else $ADMIN_API_KEY (the parent's environment: only a full restart
 * renews it).  A configured key that cannot be used leaves none, with the reason in
 * admin_key_problem; returns whether there is one. */
static int resolve_admin_key(apr_pool_t *pconf, aop_srv_conf_t *sc)
{
    const char *key = NULL, *why;

    sc->admin_key_problem = NULL;
    if (sc->admin_key) {
        return 0;                    /* the directive checked it already */
    }
    if (sc->admin_key_file) {
        why = aop_secret_file_read(pconf, sc->admin_key_file, AOP_ADMIN_KEY_MIN, &key);
    }
    else if ((key = env_or(pconf, "ADMIN_API_KEY", NULL))) {
        why = aop_secret_problem(pconf, key, AOP_ADMIN_KEY_MIN);
        why = why ? apr_pstrcat(pconf, "$ADMIN_API_KEY ", why, NULL) : NULL;
    }
    else {
        return 0;
    }
    sc->admin_key = why ? NULL : key;
    sc->admin_key_problem = why;
    return why != NULL;
}

const char *aop_admin_key_problem(apr_pool_t *p, const char *key)
{
    return aop_secret_problem(p, key, AOP_ADMIN_KEY_MIN);
}

int aop_config_check(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                     server_rec *s)
{
    apr_hash_t *cache = apr_hash_make(ptemp);

    for (; s; s = s->next) {
        aop_srv_conf_t *sc = aop_srv_conf(s);
        const char *env;

        if (!sc->config_dir) {
            if (sc->proxy_used) {
                ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                             AOPLOGNO(00003) "AOProxy On is used in %s:%d but no "
                             "AOProxyConfigDir is set for this server",
                             s->defn_name ? s->defn_name : "httpd.conf", s->defn_line_number);
                return HTTP_INTERNAL_SERVER_ERROR;
            }
            continue;
        }
        env = resolve_environment(sc, ptemp);
        sc->cfg = load_once(pconf, s, cache, sc->config_dir, env);
        if (!sc->cfg) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        sc->fleet = fleet_of(pconf, s, sc, env ? apr_pstrdup(pconf, env) : NULL);
        apply_log_level(pconf, s, sc->cfg);
        if (resolve_admin_key(pconf, sc) && config_test()) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s, AOPLOGNO(00105)
                         "the admin key is not usable: %s", sc->admin_key_problem);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

void aop_config_log_findings(apr_pool_t *ptemp, server_rec *s)
{
    apr_hash_t *seen = apr_hash_make(ptemp);
    int i;

    for (; s; s = s->next) {
        aop_srv_conf_t *sc = aop_srv_conf(s);
        const char *why;

        if (sc->admin_key_problem && !apr_hash_get(seen, sc->admin_key_problem,
                                                   APR_HASH_KEY_STRING)) {
            apr_hash_set(seen, sc->admin_key_problem, APR_HASH_KEY_STRING, "");
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, AOPLOGNO(00106)
                         "the admin key is not usable, the management API refuses changes: "
                         "%s", sc->admin_key_problem);
        }
        if (!sc->cfg || apr_hash_get(seen, &sc->cfg, sizeof(sc->cfg))) {
            continue;
        }
        apr_hash_set(seen, apr_pmemdup(ptemp, &sc->cfg, sizeof(sc->cfg)), sizeof(sc->cfg), "");
        log_warnings(s, sc->cfg);
        for (i = 0; sc->cfg->left_out && i < sc->cfg->left_out->nelts; i++) {
            const aop_left_out_t *lo = &APR_ARRAY_IDX(sc->cfg->left_out, i, aop_left_out_t);

            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, AOPLOGNO(00100)
                         "instance %s is left out, the others serve: %s", lo->name,
                         lo->problem);
        }
        if ((why = unreadable_files(ptemp, sc->cfg))) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, AOPLOGNO(00107)
                         "%s: POST /config/reload will fail until httpd's User can read it",
                         why);
        }
        log_key_file_access(ptemp, s, sc->cfg);
    }
}
