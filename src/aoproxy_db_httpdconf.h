/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* aoproxy-db's reading of an Apache httpd configuration: just enough of httpd's own
 * parse to know, for the main server and every <VirtualHost>, the mod_aoproxy
 * directives that choose the instance store (AOProxyConfigDir, AOProxyEnvironment,
 * AOProxyStateDB).
 *
 * What it follows as httpd does: Include and IncludeOptional (wildcards, directories,
 * relative to the ServerRoot of that moment), ServerRoot, Define and UnDefine,
 * ${VAR} from Define or the environment given, <IfModule> (against LoadModule lines
 * read so far and the modules Debian's apache2 has compiled in), <IfDefine>,
 * <IfFile>, <VirtualHost>, ServerName and ServerAlias, continuation lines.  What it
 * reads naively: <IfVersion>, <IfDirective> and <IfSection> count as true; <Macro>
 * bodies are skipped and Use is not expanded; -D arguments of the command line are
 * unknown.  Every other section is read through. */
#ifndef AOPROXY_DB_HTTPDCONF_H
#define AOPROXY_DB_HTTPDCONF_H

#include <apr_hash.h>
#include <apr_pools.h>
#include <apr_tables.h>

/* One directive's value in one server, and where it was set; value NULL: not set
 * there.  AOProxyConfigDir and AOProxyStateDB are made absolute against the final
 * ServerRoot, as httpd's ap_server_root_relative() does when it applies them. */
typedef struct {
    const char *value;
    const char *file;
    int line;
} aoproxy_db_conf_value_t;

typedef struct {
    const char *vhost;              /* the <VirtualHost> arguments; NULL: main server */
    const char *file;               /* where the <VirtualHost> begins */
    int line;
    apr_array_header_t *names;      /* const char *: ServerName (also its host part
                                     * alone), ServerAlias */
    aoproxy_db_conf_value_t config_dir, environment, state_db;
} aoproxy_db_conf_server_t;

typedef struct {
    const char *path;               /* the main file */
    const char *server_root;        /* at the end of reading */
    int aoproxy_loaded;             /* a LoadModule aoproxy_module was read */
    apr_array_header_t *servers;    /* aoproxy_db_conf_server_t *: the main server
                                     * first, then the virtual hosts in file order */
} aoproxy_db_conf_t;

/* Reads the configuration at path.  server_root is the ServerRoot until a
 * ServerRoot directive says otherwise (httpd's -d); env holds the environment
 * variables (const char * by name) that ${VAR} may name.  On failure *err says
 * which file and line, and why: a file that cannot be read, an Include that matches
 * nothing, a section that is not closed, Includes nested too deep. */
apr_status_t aoproxy_db_conf_read(apr_pool_t *p, const char *path, const char *server_root,
                                  apr_hash_t *env, aoproxy_db_conf_t **out,
                                  const char **err);

/* path made absolute against root, as ap_server_root_relative() does. */
const char *aoproxy_db_conf_relative(apr_pool_t *p, const char *root, const char *path);

#endif
