/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Which instance store aoproxy-db works on: the resolution order is in the header.
 *
 * The tool used to take $INSTANCE_MANAGER_DB_PATH or the module's default path only,
 * so where AOProxyStateDB named the store, every command worked on a file that did
 * not exist ("missing").  Now it reads the configuration the server reads, and always
 * says where the path came from, so that a missing file tells where it looked. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>

#include "aoproxy_db_copy.h"
#include "aoproxy_db_httpdconf.h"
#include "aoproxy_db_locate.h"
#include "aop_store.h"

#define ENVVARS_OUTPUT_MAX (1024 * 1024)
#define DB_ENV "INSTANCE_MANAGER_DB_PATH"

extern char **environ;

/* A store the configuration uses, and its servers (aoproxy_db_conf_server_t *). */
typedef struct {
    const char *path;
    const char *source;
    apr_array_header_t *servers;
} store_t;

/* The configuration being looked at: what it is called in messages, Apache's
 * environment for it, and the envvars file that made that environment. */
typedef struct {
    apr_pool_t *p;
    const char *path;
    const char *how;            /* "--config", "$APACHE_CONFDIR", ... */
    const char *envvars;        /* NULL: none was sourced */
    apr_hash_t *env;
    aoproxy_db_conf_t *conf;
} httpd_t;

static apr_status_t fail(const char **err, apr_pool_t *p, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static apr_status_t fail(const char **err, apr_pool_t *p, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    *err = apr_pvsprintf(p, fmt, ap);
    va_end(ap);
    return APR_EGENERAL;
}

static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

static int is_file(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* --------------------------------------------------------------------------
 * Apache's environment
 */
static void add_var(apr_pool_t *p, apr_hash_t *env, const char *var)
{
    const char *eq = strchr(var, '=');

    if (eq && eq > var) {
        apr_hash_set(env, apr_pstrmemdup(p, var, (apr_size_t)(eq - var)), APR_HASH_KEY_STRING,
                     apr_pstrdup(p, eq + 1));
    }
}

static apr_hash_t *our_env(apr_pool_t *p)
{
    apr_hash_t *env = apr_hash_make(p);
    char **v;

    for (v = environ; *v; ++v) {
        add_var(p, env, *v);
    }
    return env;
}

/* What `env -0` printed, to its end or the cap. */
static apr_status_t read_all(apr_pool_t *p, apr_file_t *f, char **out, apr_size_t *len)
{
    char *buf = apr_palloc(p, ENVVARS_OUTPUT_MAX + 1);
    apr_size_t n;
    apr_status_t rv = APR_SUCCESS;

    for (*len = 0; *len < ENVVARS_OUTPUT_MAX && rv == APR_SUCCESS; *len += n) {
        n = ENVVARS_OUTPUT_MAX - *len;
        rv = apr_file_read(f, buf + *len, &n);
    }
    buf[*len] = '\0';
    *out = buf;
    return rv == APR_EOF || rv == APR_SUCCESS ? APR_SUCCESS : rv;
}

/* The environment apache2ctl gives httpd: ours, with APACHE_CONFDIR set to the
 * configuration's directory and its envvars sourced by /bin/sh, as apache2ctl does
 * (the file is a shell script: Debian's computes a suffix from APACHE_CONFDIR). */
static apr_status_t source_envvars(httpd_t *h, const char *dir, const char **err)
{
    const char *args[] = { "/bin/sh", "-c", ". \"$1\" >/dev/null 2>&1; exec env -0", "sh",
                           h->envvars, NULL };
    apr_array_header_t *envp = apr_array_make(h->p, 64, sizeof(const char *));
    apr_exit_why_e why;
    apr_procattr_t *attr;
    apr_proc_t proc;
    const char *var;
    apr_size_t len;
    char **v, *out;
    int code;

    for (v = environ; *v; ++v) {
        if (strncmp(*v, "APACHE_CONFDIR=", 15)) {
            APR_ARRAY_PUSH(envp, const char *) = *v;
        }
    }
    APR_ARRAY_PUSH(envp, const char *) = apr_pstrcat(h->p, "APACHE_CONFDIR=", dir, NULL);
    APR_ARRAY_PUSH(envp, const char *) = NULL;
    if (apr_procattr_create(&attr, h->p) != APR_SUCCESS
        || apr_procattr_io_set(attr, APR_NO_PIPE, APR_FULL_BLOCK, APR_NO_PIPE) != APR_SUCCESS
        || apr_procattr_cmdtype_set(attr, APR_PROGRAM) != APR_SUCCESS
        || apr_proc_create(&proc, args[0], args, (const char *const *)envp->elts, attr, h->p)
           != APR_SUCCESS) {
        return fail(err, h->p, "cannot run /bin/sh to read %s", h->envvars);
    }
    read_all(h->p, proc.out, &out, &len);
    apr_file_close(proc.out);
    if (apr_proc_wait(&proc, &code, &why, APR_WAIT) != APR_CHILD_DONE
        || why != APR_PROC_EXIT || code != 0) {
        return fail(err, h->p, "cannot read %s: /bin/sh failed on it", h->envvars);
    }
    for (var = out; var < out + len; var += strlen(var) + 1) {
        add_var(h->p, h->env, var);
    }
    return APR_SUCCESS;
}

/* $APACHE_ENVVARS, else the envvars next to the configuration: apache2ctl's choice. */
static apr_status_t apache_env(httpd_t *h, const char **err)
{
    const char *dir = aoproxy_db_dirname(h->p, h->path);
    const char *envvars = nonempty(getenv("APACHE_ENVVARS"));

    envvars = envvars ? envvars : apr_pstrcat(h->p, dir, "/envvars", NULL);
    if (!is_file(envvars)) {
        h->env = our_env(h->p);
        return APR_SUCCESS;
    }
    h->envvars = envvars;
    h->env = apr_hash_make(h->p);
    return source_envvars(h, dir, err);
}

/* --------------------------------------------------------------------------
 * the stores of a configuration
 */

/* The module's fleet_of(): AOProxyStateDB as merged into the server, else
 * $INSTANCE_MANAGER_DB_PATH of Apache's environment, else the default. */
static void store_of(const httpd_t *h, const aoproxy_db_conf_server_t *s,
                     const aoproxy_db_conf_server_t *main, const char **path,
                     const char **source)
{
    const aoproxy_db_conf_value_t *v = s->state_db.value ? &s->state_db : &main->state_db;
    const char *env = nonempty(apr_hash_get(h->env, DB_ENV, APR_HASH_KEY_STRING));

    if (v->value) {
        *path = v->value;
        *source = apr_psprintf(h->p, "AOProxyStateDB at %s:%d", v->file, v->line);
    }
    else if (env) {
        *path = env;
        *source = apr_pstrcat(h->p, "$" DB_ENV, h->envvars ? " after sourcing " : "",
                              h->envvars ? h->envvars : "", ", as no AOProxyStateDB is set",
                              NULL);
    }
    else {
        *path = AOP_DEFAULT_DB_PATH;
        *source = "the module's default, as neither AOProxyStateDB nor $" DB_ENV " is set";
    }
    *source = apr_pstrcat(h->p, *source, " (Apache configuration ", h->path, ", ", h->how,
                          ")", NULL);
}

static store_t *store_named(const httpd_t *h, apr_array_header_t *stores, const char *path,
                            const char *source)
{
    store_t *st;
    int i;

    for (i = 0; i < stores->nelts; ++i) {
        if (!strcmp((st = APR_ARRAY_IDX(stores, i, store_t *))->path, path)) {
            return st;
        }
    }
    st = apr_pcalloc(h->p, sizeof(*st));
    st->path = path;
    st->source = source;
    st->servers = apr_array_make(h->p, 2, sizeof(const aoproxy_db_conf_server_t *));
    APR_ARRAY_PUSH(stores, store_t *) = st;
    return st;
}

/* The stores (store_t *) of the servers that use mod_aoproxy (an AOProxyConfigDir,
 * their own or the main server's).  Servers with the same AOProxyConfigDir and
 * environment share one configuration and the store of the first of them, in
 * httpd's order: the main server, then the virtual hosts last to first (httpd puts
 * each new <VirtualHost> at the head of its list). */
static apr_array_header_t *stores_of(const httpd_t *h)
{
    const apr_array_header_t *servers = h->conf->servers;
    const aoproxy_db_conf_server_t *main = APR_ARRAY_IDX(servers, 0,
                                                         aoproxy_db_conf_server_t *), *s;
    apr_array_header_t *stores = apr_array_make(h->p, 2, sizeof(store_t *));
    apr_hash_t *fleets = apr_hash_make(h->p);
    const char *dir, *env, *key, *path, *source;
    int i, n = servers->nelts;
    store_t *st;

    for (i = 0; i < n; ++i) {
        s = APR_ARRAY_IDX(servers, i ? n - i : 0, aoproxy_db_conf_server_t *);
        if (!(dir = s->config_dir.value ? s->config_dir.value : main->config_dir.value)) {
            continue;
        }
        env = s->environment.value ? s->environment.value : main->environment.value;
        env = env ? env : nonempty(apr_hash_get(h->env, "ENVIRONMENT", APR_HASH_KEY_STRING));
        key = apr_pstrcat(h->p, dir, "\n", env ? env : "", NULL);
        if (!(st = apr_hash_get(fleets, key, APR_HASH_KEY_STRING))) {
            store_of(h, s, main, &path, &source);
            st = store_named(h, stores, path, source);
            apr_hash_set(fleets, key, APR_HASH_KEY_STRING, st);
        }
        APR_ARRAY_PUSH(st->servers, const aoproxy_db_conf_server_t *) = s;
    }
    return stores;
}

static const char *describe(apr_pool_t *p, const aoproxy_db_conf_server_t *s)
{
    const char *d = s->vhost ? apr_psprintf(p, "<VirtualHost %s> at %s:%d", s->vhost,
                                            s->file, s->line)
                             : "the main server";

    return s->names->nelts ? apr_pstrcat(p, d, " (", APR_ARRAY_IDX(s->names, 0, const char *),
                                         ")", NULL)
                           : d;
}

/* Each store with the servers that use it, one per line. */
static const char *list_stores(apr_pool_t *p, const apr_array_header_t *stores)
{
    const char *out = "", *users;
    store_t *st;
    int i, j;

    for (i = 0; i < stores->nelts; ++i) {
        st = APR_ARRAY_IDX(stores, i, store_t *);
        for (users = "", j = 0; j < st->servers->nelts; ++j) {
            users = apr_pstrcat(p, users, j ? "; " : "",
                                describe(p, APR_ARRAY_IDX(st->servers, j,
                                                          aoproxy_db_conf_server_t *)), NULL);
        }
        out = apr_pstrcat(p, out, "\n  ", st->path, "\n    used by ", users, "\n    from ",
                          st->source, NULL);
    }
    return out;
}

/* --------------------------------------------------------------------------
 * --vhost
 */

/* name is one of the server's ServerName, ServerAlias or <VirtualHost> addresses. */
static int named(apr_pool_t *p, const aoproxy_db_conf_server_t *s, const char *name)
{
    char *addrs = apr_pstrdup(p, s->vhost ? s->vhost : ""), *last, *w;
    int i;

    for (i = 0; i < s->names->nelts; ++i) {
        if (!strcasecmp(APR_ARRAY_IDX(s->names, i, const char *), name)) {
            return 1;
        }
    }
    for (w = apr_strtok(addrs, " \t", &last); w; w = apr_strtok(NULL, " \t", &last)) {
        if (!strcasecmp(w, name)) {
            return 1;
        }
    }
    return 0;
}

static apr_status_t pick(const httpd_t *h, const apr_array_header_t *stores,
                         const char *vhost, aoproxy_db_found_t *found, const char **err)
{
    const store_t *st, *chosen = NULL;
    int i, j;

    for (i = 0; i < stores->nelts; ++i) {
        st = APR_ARRAY_IDX(stores, i, store_t *);
        for (j = 0; j < st->servers->nelts; ++j) {
            if (!named(h->p, APR_ARRAY_IDX(st->servers, j, aoproxy_db_conf_server_t *), vhost)) {
                continue;
            }
            if (chosen && chosen != st) {
                return fail(err, h->p, "--vhost %s names servers of %s with different "
                            "instance stores; choose one with --db-path:%s", vhost, h->path,
                            list_stores(h->p, stores));
            }
            chosen = st;
        }
    }
    for (i = 0; !chosen && i < h->conf->servers->nelts; ++i) {
        if (named(h->p, APR_ARRAY_IDX(h->conf->servers, i, aoproxy_db_conf_server_t *),
                  vhost)) {
            return fail(err, h->p, "--vhost %s: that server of %s does not use mod_aoproxy "
                        "(no AOProxyConfigDir)", vhost, h->path);
        }
    }
    if (!chosen) {
        return fail(err, h->p, "--vhost %s: no server of %s has that ServerName, ServerAlias "
                    "or <VirtualHost> address", vhost, h->path);
    }
    found->path = chosen->path;
    found->source = chosen->source;
    return APR_SUCCESS;
}

/* --------------------------------------------------------------------------
 * the resolution
 */
static void use_default(apr_pool_t *p, aoproxy_db_found_t *found, const char *why)
{
    found->path = AOP_DEFAULT_DB_PATH;
    found->source = apr_pstrcat(p, "the module's default, as ", why, NULL);
}

static apr_status_t from_config(apr_pool_t *p, const char *path, const char *how,
                                const aoproxy_db_where_t *where, aoproxy_db_found_t *found,
                                const char **err)
{
    httpd_t h = { p, path, how, NULL, NULL, NULL };
    apr_array_header_t *stores;
    const char *cerr;

    if (apache_env(&h, err) != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    if (aoproxy_db_conf_read(p, path, aoproxy_db_dirname(p, path), h.env, &h.conf, &cerr)
        != APR_SUCCESS) {
        return fail(err, p, "cannot read the Apache configuration %s (%s): %s", path, how,
                    cerr);
    }
    stores = stores_of(&h);
    if (where->vhost) {
        return pick(&h, stores, where->vhost, found, err);
    }
    if (stores->nelts == 1) {
        found->path = APR_ARRAY_IDX(stores, 0, store_t *)->path;
        found->source = APR_ARRAY_IDX(stores, 0, store_t *)->source;
        return APR_SUCCESS;
    }
    if (stores->nelts > 1) {
        *err = apr_psprintf(p, "the Apache configuration %s uses %d instance stores; choose "
                            "one with --vhost NAME or --db-path P:%s", path, stores->nelts,
                            list_stores(p, stores));
        return APR_EINVAL;
    }
    if (where->config) {
        return fail(err, p, "the Apache configuration %s has no server that uses mod_aoproxy "
                    "(no AOProxyConfigDir)", path);
    }
    use_default(p, found, apr_psprintf(p, "the Apache configuration %s (%s) has no server "
                                       "that uses mod_aoproxy (no AOProxyConfigDir)", path,
                                       how));
    return APR_SUCCESS;
}

/* $APACHE_CONFDIR/apache2.conf, as apache2ctl reads it, else the build's. */
static apr_status_t from_apache(apr_pool_t *p, const aoproxy_db_where_t *where,
                                aoproxy_db_found_t *found, const char **err)
{
    const char *dir = nonempty(getenv("APACHE_CONFDIR"));
    const char *how = dir ? "named by $APACHE_CONFDIR" : "Apache's default configuration";
    const char *path = apr_pstrcat(p, dir ? dir : AOP_HTTPD_SYSCONFDIR, "/",
                                   AOP_HTTPD_CONF_NAME, NULL);

    if (is_file(path)) {
        return from_config(p, path, how, where, found, err);
    }
    if (where->vhost) {
        return fail(err, p, "--vhost %s: there is no Apache configuration at %s (%s); "
                    "--config names one", where->vhost, path, how);
    }
    use_default(p, found, apr_psprintf(p, "there is no Apache configuration at %s (%s)",
                                       path, how));
    return APR_SUCCESS;
}

apr_status_t aoproxy_db_locate(apr_pool_t *p, const aoproxy_db_where_t *where,
                               aoproxy_db_found_t *found, const char **err)
{
    const char *env = nonempty(getenv(DB_ENV));
    char *path;

    if (where->db_path) {
        found->path = where->db_path;
        found->source = "--db-path";
        return APR_SUCCESS;
    }
    if (where->config) {
        if (apr_filepath_merge(&path, NULL, where->config, 0, p)
            != APR_SUCCESS) {
            return fail(err, p, "--config %s: not a usable path", where->config);
        }
        return from_config(p, path, "--config", where, found, err);
    }
    if (env && !where->vhost) {
        found->path = env;
        found->source = "$" DB_ENV;
        return APR_SUCCESS;
    }
    return from_apache(p, where, found, err);
}
