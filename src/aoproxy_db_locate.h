/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Which instance store aoproxy-db works on, and why: the first of
 *   --db-path P                    the file named;
 *   --config FILE [--vhost NAME]   the store the server configured in FILE uses;
 *   $INSTANCE_MANAGER_DB_PATH      (unless --vhost asks for a configuration);
 *   Apache's own configuration     $APACHE_CONFDIR/apache2.conf when APACHE_CONFDIR is
 *                                  set (as apache2ctl reads it), else the one apxs
 *                                  names (Debian: /etc/apache2/apache2.conf), when it
 *                                  exists and configures mod_aoproxy;
 *   AOP_DEFAULT_DB_PATH            the module's default.
 * Within a configuration the module's own rule applies: AOProxyStateDB of the server,
 * else $INSTANCE_MANAGER_DB_PATH of Apache's environment (the tool's environment with
 * the envvars file next to the configuration sourced, as apache2ctl does), else the
 * default; servers sharing an AOProxyConfigDir and environment share the store of the
 * first of them in httpd's order. */
#ifndef AOPROXY_DB_LOCATE_H
#define AOPROXY_DB_LOCATE_H

#include <apr_pools.h>

/* The directory and file name of the Apache configuration read when nothing names
 * one (the build takes them from apxs -q SYSCONFDIR and TARGET). */
#ifndef AOP_HTTPD_SYSCONFDIR
#define AOP_HTTPD_SYSCONFDIR "/etc/apache2"
#endif
#ifndef AOP_HTTPD_CONF_NAME
#define AOP_HTTPD_CONF_NAME "apache2.conf"
#endif

typedef struct {
    const char *db_path;        /* --db-path */
    const char *config;         /* --config */
    const char *vhost;          /* --vhost */
} aoproxy_db_where_t;

typedef struct {
    const char *path;           /* the database */
    const char *source;         /* where the path comes from, in words, for messages */
} aoproxy_db_found_t;

/* APR_SUCCESS with *found; APR_EINVAL when the configuration names several stores
 * and no --vhost chose one (*err lists them with the servers that use each: the
 * caller's usage error); APR_EGENERAL with *err otherwise (a configuration that
 * cannot be read, a --vhost that names no server of it, a --config without
 * mod_aoproxy). */
apr_status_t aoproxy_db_locate(apr_pool_t *p, const aoproxy_db_where_t *where,
                               aoproxy_db_found_t *found, const char **err);

#endif
