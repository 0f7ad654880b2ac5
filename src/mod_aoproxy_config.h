/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* httpd directives and the per-server / per-directory configuration they build. */
#ifndef MOD_AOPROXY_CONFIG_H
#define MOD_AOPROXY_CONFIG_H

#include <httpd.h>
#include <http_config.h>

#include "aop_config.h"
#include "aop_route.h"

struct proxy_worker;
struct proxy_balancer;
struct aop_shm_map_t;
struct aop_fleet_t;

/* A duration directive: its value and whether this server set it (for merging). */
typedef struct aop_seconds_t {
    apr_interval_time_t value;
    int set;
} aop_seconds_t;

typedef struct aop_srv_conf_t {
    const char *config_dir;          /* AOProxyConfigDir */
    const char *environment;         /* AOProxyEnvironment, else $ENVIRONMENT */
    int proxy_used;                  /* "AOProxy On" appears in this server's scope */
    apr_off_t max_body;              /* AOProxyMaxBodySize, bytes */
    int max_body_set;
    aop_seconds_t retry_interval;    /* AOProxyRetryInterval */
    aop_seconds_t connect_timeout;   /* AOProxyConnectTimeout */
    aop_seconds_t cooldown;          /* AOProxyCooldown */
    const char *admin_key;           /* AOProxyAdminKey, else the key file's, else
                                      * $ADMIN_API_KEY: a secret */
    const char *admin_key_file;      /* AOProxyAdminKeyFile */
    const char *admin_key_problem;   /* why a configured key is not used (post_config logs it) */
    const char *state_db;            /* AOProxyStateDB */
    int growth;                      /* AOProxyInstanceGrowth */
    int growth_set;
    apr_uint32_t affinity;           /* AOProxyResponseAffinity: entries, 0: off */
    int affinity_set;
    /* <AOProxyAPI prefix>: its directives, merged into the API's requests
     * (mod_aoproxy_api_section.h); NULL: none (a <VirtualHost> takes the main one's). */
    struct ap_conf_vector_t *api_section;
    const char *api_prefix;          /* without a trailing '/': "" for the root */
    apr_size_t api_prefix_len;
    /* Resolved at start-up (check_config / post_config); read-only afterwards. */
    aop_config_t *cfg;               /* the YAML as loaded at start-up */
    struct aop_fleet_t *fleet;       /* its configuration's: mod_aoproxy_fleets.h */
    struct proxy_balancer *balancer; /* this server's balancer://aoproxy, if it proxies */
} aop_srv_conf_t;

typedef struct aop_dir_conf_t {
    int enabled;                     /* AOProxy On|Off; -1 = unset */
} aop_dir_conf_t;

#define AOP_DEFAULT_MAX_BODY (16 * 1024 * 1024)
#define AOP_DEFAULT_RETRY_INTERVAL apr_time_from_sec(60)
#define AOP_DEFAULT_CONNECT_TIMEOUT apr_time_from_sec(5)
#define AOP_DEFAULT_COOLDOWN apr_time_from_sec(10)
#define AOP_DEFAULT_GROWTH 32
/* AOProxyResponseAffinity: 0 or AOP_AFFINITY_MIN to AOP_AFFINITY_MAX_ENTRIES
 * (aop_affinity.h) entries; the default takes 32 MiB of address space, resident as
 * entries are written. */
#define AOP_DEFAULT_AFFINITY (1024 * 1024)
#define AOP_AFFINITY_MIN 1024
/* The shortest admin key accepted, from any source. */
#define AOP_ADMIN_KEY_MIN 16

extern const command_rec aop_cmds[];

void *aop_create_srv_conf(apr_pool_t *p, server_rec *s);
void *aop_merge_srv_conf(apr_pool_t *p, void *basev, void *addv);
void *aop_create_dir_conf(apr_pool_t *p, char *dir);
void *aop_merge_dir_conf(apr_pool_t *p, void *basev, void *addv);

aop_srv_conf_t *aop_srv_conf(const server_rec *s);

/* NULL when key may be the admin key; else what is wrong with it (never the key). */
const char *aop_admin_key_problem(apr_pool_t *p, const char *key);
int aop_dir_enabled(const request_rec *r);

/* Whether sc has an <AOProxyAPI> section and uri is one of its paths. */
int aop_api_section_has(const aop_srv_conf_t *sc, const char *uri);

/* check_config: loads the YAML of every server that needs it, and adds a fleet for
 * each configuration to the registry (mod_aoproxy_fleets.h).  A file that cannot be
 * read or parsed stops start-up with file, line and key; an instance that cannot be
 * completed stops `apache2ctl configtest` but is only left out of a real start or a
 * graceful restart, so one instance never takes the server down. */
int aop_config_check(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                     server_rec *s);

/* post_config of the real pass (mod_aoproxy_startup.c): what check_config found short
 * of fatal (warnings, instances left out, files httpd's User cannot read, an unusable
 * admin key) goes to the error log, which is open only now; check_config's own
 * messages reach the terminal alone.  Each configuration's findings once. */
void aop_config_log_findings(apr_pool_t *ptemp, server_rec *s);

#endif
