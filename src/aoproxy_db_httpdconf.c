/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* aoproxy-db's reading of an Apache httpd configuration.
 *
 * httpd has no way to print a module's directives as it parsed them (-D DUMP_CONFIG
 * needs mod_info loaded, and running the server binary needs its environment and
 * often root), so this follows the parts of httpd's own reading that decide which
 * lines count: which files are included, which conditional sections are in, which
 * server a line belongs to, what ${VAR} stands for.  Lines are read in order, as
 * httpd does: Include, ServerRoot, Define and LoadModule take effect at once, the
 * module's directives apply when the whole tree is read (paths against the final
 * ServerRoot). */
#include <dirent.h>
#include <glob.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "aoproxy_db_httpdconf.h"
#include "aop_file.h"

#define CONF_FILE_MAX (4 * 1024 * 1024)
#define MAX_INCLUDE_DEPTH 32        /* httpd allows 128; a loop shows long before */

/* Compiled into Debian's apache2 (apache2 -l): <IfModule> sees them without a
 * LoadModule.  Identifier and source file name, as <IfModule> accepts either. */
static const char *const static_modules[] = {
    "core_module", "core.c", "so_module", "mod_so.c", "watchdog_module", "mod_watchdog.c",
    "http_module", "http_core.c", "log_config_module", "mod_log_config.c",
    "logio_module", "mod_logio.c", "version_module", "mod_version.c",
    "unixd_module", "mod_unixd.c", NULL
};

typedef struct {
    apr_pool_t *p;
    apr_hash_t *env;
    apr_hash_t *vars;           /* Define NAME VALUE: what ${NAME} stands for */
    apr_hash_t *defines;        /* every Define'd NAME, for <IfDefine> */
    apr_hash_t *modules;        /* loaded so far, by identifier and source file name */
    const char *root;           /* ServerRoot as read so far */
    aoproxy_db_conf_t *conf;
    aoproxy_db_conf_server_t *main, *server;   /* server: where lines apply now */
    int depth;                  /* of Includes */
    const char *err;
} reader_t;

typedef struct {
    const char *name;
    int line;
    int vhost;
} section_t;

/* One file being read: its open sections, and how deep inside a skipped section
 * (a false condition, a <Macro>) the current line is. */
typedef struct {
    const char *path;
    int line;
    apr_array_header_t *open;   /* section_t */
    int skip;
} file_t;

static apr_status_t fail(reader_t *r, const file_t *f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static apr_status_t fail(reader_t *r, const file_t *f, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    r->err = apr_pstrcat(r->p, f->path, ":", apr_itoa(r->p, f->line), ": ",
                         apr_pvsprintf(r->p, fmt, ap), NULL);
    va_end(ap);
    return APR_EGENERAL;
}

const char *aoproxy_db_conf_relative(apr_pool_t *p, const char *root, const char *path)
{
    size_t n = strlen(root);

    if (path[0] == '/') {
        return path;
    }
    return apr_pstrcat(p, root, n && root[n - 1] == '/' ? "" : "/", path, NULL);
}

/* --------------------------------------------------------------------------
 * words and variables
 */

/* The next argument as httpd's ap_getword_conf() takes it: a quoted string (a
 * backslash escapes the quote) or a run of non-blanks; NULL at the end. */
static const char *next_word(apr_pool_t *p, const char **s)
{
    const char *start, *end;
    char quote, *word, *out;

    while (apr_isspace(**s)) {
        ++*s;
    }
    if (!**s) {
        return NULL;
    }
    if (**s != '"' && **s != '\'') {
        for (start = *s; **s && !apr_isspace(**s); ++*s) {
        }
        return apr_pstrmemdup(p, start, (apr_size_t)(*s - start));
    }
    quote = *(*s)++;
    for (end = *s; *end && *end != quote; end += (*end == '\\' && end[1] == quote) ? 2 : 1) {
    }
    word = out = apr_palloc(p, (apr_size_t)(end - *s) + 1);
    for (start = *s; start < end; ++start) {
        if (start[0] == '\\' && start[1] == quote) {
            ++start;
        }
        *out++ = *start;
    }
    *out = '\0';
    *s = *end ? end + 1 : end;
    return word;
}

/* ${NAME} replaced as httpd's ap_resolve_env() does: a Define'd variable first, then
 * the environment; an unknown one stays as written. */
static const char *expand(reader_t *r, const char *s)
{
    const char *out = "", *open, *close, *name, *value;

    while ((open = strstr(s, "${")) != NULL && (close = strchr(open + 2, '}')) != NULL) {
        name = apr_pstrmemdup(r->p, open + 2, (apr_size_t)(close - open - 2));
        if (!(value = apr_hash_get(r->vars, name, APR_HASH_KEY_STRING))
            && !(value = apr_hash_get(r->env, name, APR_HASH_KEY_STRING))) {
            value = apr_pstrcat(r->p, "${", name, "}", NULL);
        }
        out = apr_pstrcat(r->p, out, apr_pstrmemdup(r->p, s, (apr_size_t)(open - s)), value,
                          NULL);
        s = close + 1;
    }
    return apr_pstrcat(r->p, out, s, NULL);
}

/* --------------------------------------------------------------------------
 * servers and conditions
 */
static aoproxy_db_conf_server_t *new_server(reader_t *r, const char *vhost, const file_t *f)
{
    aoproxy_db_conf_server_t *s = apr_pcalloc(r->p, sizeof(*s));

    s->vhost = vhost;
    s->file = f ? f->path : NULL;
    s->line = f ? f->line : 0;
    s->names = apr_array_make(r->p, 2, sizeof(const char *));
    APR_ARRAY_PUSH(r->conf->servers, aoproxy_db_conf_server_t *) = s;
    return s;
}

static void add_module(reader_t *r, const char *name)
{
    apr_hash_set(r->modules, name, APR_HASH_KEY_STRING, "");
}

/* <IfModule>, <IfDefine>, <IfFile>: whether the section is in; the others that
 * depend on httpd's build (<IfVersion>, <IfDirective>, <IfSection>) are taken as in. */
static int condition(reader_t *r, const char *kind, const char *args)
{
    const char *arg = next_word(r->p, &args);
    struct stat st;
    int neg, in;

    if (!arg) {
        return 1;
    }
    if ((neg = (*arg == '!')) != 0) {
        ++arg;
    }
    if (!strcasecmp(kind, "IfModule")) {
        in = apr_hash_get(r->modules, arg, APR_HASH_KEY_STRING) != NULL;
    }
    else if (!strcasecmp(kind, "IfDefine")) {
        in = apr_hash_get(r->defines, arg, APR_HASH_KEY_STRING) != NULL;
    }
    else if (!strcasecmp(kind, "IfFile")) {
        in = stat(aoproxy_db_conf_relative(r->p, r->root, arg), &st) == 0;
    }
    else {
        return 1;
    }
    return in != neg;
}

static int is_condition(const char *kind)
{
    static const char *const kinds[] = { "IfModule", "IfDefine", "IfFile", NULL };
    int i;

    for (i = 0; kinds[i] && strcasecmp(kinds[i], kind); ++i) {
    }
    return kinds[i] != NULL;
}

/* --------------------------------------------------------------------------
 * Include
 */
static apr_status_t read_file(reader_t *r, const char *path);

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A directory is included as all its entries, in name order, recursively. */
static apr_status_t include_path(reader_t *r, const char *path)
{
    apr_array_header_t *names;
    struct dirent *e;
    struct stat st;
    apr_status_t rv = APR_SUCCESS;
    DIR *d;
    int i;

    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return read_file(r, path);
    }
    if (!(d = opendir(path))) {
        r->err = apr_psprintf(r->p, "cannot read the directory %s", path);
        return APR_EGENERAL;
    }
    names = apr_array_make(r->p, 16, sizeof(const char *));
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            APR_ARRAY_PUSH(names, const char *) = apr_pstrcat(r->p, path, "/", e->d_name,
                                                              NULL);
        }
    }
    closedir(d);
    qsort(names->elts, (size_t)names->nelts, sizeof(const char *), by_name);
    for (i = 0; i < names->nelts && rv == APR_SUCCESS; ++i) {
        rv = include_path(r, APR_ARRAY_IDX(names, i, const char *));
    }
    return rv;
}

/* Include fails when nothing matches; IncludeOptional does not. */
static apr_status_t include(reader_t *r, const file_t *f, const char *args, int optional)
{
    const char *arg = next_word(r->p, &args), *path;
    apr_status_t rv = APR_SUCCESS;
    struct stat st;
    glob_t g;
    size_t i;

    if (!arg) {
        return fail(r, f, "Include needs a file name");
    }
    if (r->depth >= MAX_INCLUDE_DEPTH) {
        return fail(r, f, "Includes nested more than %d deep (one includes itself?)",
                    MAX_INCLUDE_DEPTH);
    }
    path = aoproxy_db_conf_relative(r->p, r->root, arg);
    if (!strpbrk(path, "*?[")) {
        if (stat(path, &st) != 0) {
            return optional ? APR_SUCCESS : fail(r, f, "Include %s: no such file", path);
        }
        return include_path(r, path);
    }
    if (glob(path, 0, NULL, &g) != 0) {
        globfree(&g);
        return optional ? APR_SUCCESS : fail(r, f, "Include %s: no file matches", path);
    }
    for (i = 0; i < g.gl_pathc && rv == APR_SUCCESS; ++i) {
        rv = include_path(r, apr_pstrdup(r->p, g.gl_pathv[i]));
    }
    globfree(&g);
    return rv;
}

/* --------------------------------------------------------------------------
 * directives
 */
typedef apr_status_t directive_fn(reader_t *r, const file_t *f, const char *args);

static apr_status_t d_include(reader_t *r, const file_t *f, const char *args)
{
    return include(r, f, args, 0);
}

static apr_status_t d_include_optional(reader_t *r, const file_t *f, const char *args)
{
    return include(r, f, args, 1);
}

static apr_status_t d_server_root(reader_t *r, const file_t *f, const char *args)
{
    const char *arg = next_word(r->p, &args);

    r->root = arg ? arg : r->root;
    return APR_SUCCESS;
}

/* Define NAME [VALUE]: NAME counts for <IfDefine>, VALUE is what ${NAME} stands for. */
static apr_status_t d_define(reader_t *r, const file_t *f, const char *args)
{
    const char *name = next_word(r->p, &args), *value = next_word(r->p, &args);

    if (name) {
        apr_hash_set(r->defines, name, APR_HASH_KEY_STRING, "");
        if (value) {
            apr_hash_set(r->vars, name, APR_HASH_KEY_STRING, value);
        }
    }
    return APR_SUCCESS;
}

static apr_status_t d_undefine(reader_t *r, const file_t *f, const char *args)
{
    const char *name = next_word(r->p, &args);

    if (name) {
        apr_hash_set(r->defines, name, APR_HASH_KEY_STRING, NULL);
        apr_hash_set(r->vars, name, APR_HASH_KEY_STRING, NULL);
    }
    return APR_SUCCESS;
}

/* LoadModule foo_module FILE: <IfModule> knows it as foo_module and mod_foo.c. */
static apr_status_t d_load_module(reader_t *r, const file_t *f, const char *args)
{
    const char *name = next_word(r->p, &args);
    size_t n = name ? strlen(name) : 0;

    if (!name) {
        return APR_SUCCESS;
    }
    add_module(r, name);
    if (n > 7 && !strcmp(name + n - 7, "_module")) {
        add_module(r, apr_pstrcat(r->p, "mod_", apr_pstrmemdup(r->p, name, n - 7), ".c",
                                  NULL));
    }
    r->conf->aoproxy_loaded |= !strcmp(name, "aoproxy_module");
    return APR_SUCCESS;
}

/* ServerName [scheme://]host[:port]: --vhost may give it whole or the host alone. */
static apr_status_t d_server_name(reader_t *r, const file_t *f, const char *args)
{
    const char *arg = next_word(r->p, &args), *host, *colon;

    if (!arg) {
        return APR_SUCCESS;
    }
    APR_ARRAY_PUSH(r->server->names, const char *) = arg;
    host = strstr(arg, "://") ? strstr(arg, "://") + 3 : arg;
    colon = strrchr(host, ':');
    host = colon ? apr_pstrmemdup(r->p, host, (apr_size_t)(colon - host)) : host;
    if (strcmp(host, arg)) {
        APR_ARRAY_PUSH(r->server->names, const char *) = host;
    }
    return APR_SUCCESS;
}

static apr_status_t d_server_alias(reader_t *r, const file_t *f, const char *args)
{
    const char *arg;

    while ((arg = next_word(r->p, &args)) != NULL) {
        APR_ARRAY_PUSH(r->server->names, const char *) = arg;
    }
    return APR_SUCCESS;
}

/* As the module's setters: the last one in a server wins. */
static apr_status_t set_value(reader_t *r, const file_t *f, aoproxy_db_conf_value_t *v,
                              const char *args)
{
    const char *arg = next_word(r->p, &args);

    if (arg) {
        v->value = arg;
        v->file = f->path;
        v->line = f->line;
    }
    return APR_SUCCESS;
}

static apr_status_t d_config_dir(reader_t *r, const file_t *f, const char *args)
{
    return set_value(r, f, &r->server->config_dir, args);
}

static apr_status_t d_environment(reader_t *r, const file_t *f, const char *args)
{
    return set_value(r, f, &r->server->environment, args);
}

static apr_status_t d_state_db(reader_t *r, const file_t *f, const char *args)
{
    return set_value(r, f, &r->server->state_db, args);
}

static const struct {
    const char *name;
    directive_fn *fn;
} directives[] = {
    { "Include", d_include }, { "IncludeOptional", d_include_optional },
    { "ServerRoot", d_server_root }, { "Define", d_define }, { "UnDefine", d_undefine },
    { "LoadModule", d_load_module }, { "ServerName", d_server_name },
    { "ServerAlias", d_server_alias }, { "AOProxyConfigDir", d_config_dir },
    { "AOProxyEnvironment", d_environment }, { "AOProxyStateDB", d_state_db }
};

static apr_status_t directive(reader_t *r, const file_t *f, const char *line)
{
    const char *name = next_word(r->p, &line);
    size_t i;

    for (i = 0; i < sizeof(directives) / sizeof(directives[0]); ++i) {
        if (!strcasecmp(name, directives[i].name)) {
            return directives[i].fn(r, f, line);
        }
    }
    return APR_SUCCESS;
}

/* --------------------------------------------------------------------------
 * sections
 */

/* "<Name args>": the name, and the arguments before the closing '>'. */
static apr_status_t section_words(reader_t *r, const file_t *f, const char *line,
                                  const char **name, const char **args)
{
    const char *start = line + 1, *end = line + strlen(line);

    if (end[-1] != '>') {
        return fail(r, f, "%s: a section line must end with '>'", line);
    }
    for (line = start; line < end - 1 && !apr_isspace(*line); ++line) {
    }
    *name = apr_pstrmemdup(r->p, start, (apr_size_t)(line - start));
    *args = apr_pstrmemdup(r->p, line, (apr_size_t)(end - 1 - line));
    return APR_SUCCESS;
}

static const char *trimmed(apr_pool_t *p, const char *s)
{
    size_t n;

    while (apr_isspace(*s)) {
        ++s;
    }
    for (n = strlen(s); n > 0 && apr_isspace(s[n - 1]); --n) {
    }
    return apr_pstrmemdup(p, s, n);
}

static apr_status_t open_section(reader_t *r, file_t *f, const char *line)
{
    section_t *s = apr_array_push(f->open);
    const char *args = "";
    apr_status_t rv;

    if ((rv = section_words(r, f, line, &s->name, &args)) != APR_SUCCESS) {
        return rv;
    }
    s->line = f->line;
    s->vhost = !strcasecmp(s->name, "VirtualHost");
    if (s->vhost && r->server != r->main) {
        return fail(r, f, "<VirtualHost> inside <VirtualHost>");
    }
    if (s->vhost) {
        r->server = new_server(r, trimmed(r->p, args), f);
    }
    else if (!strcasecmp(s->name, "Macro")
             || (is_condition(s->name) && !condition(r, s->name, args))) {
        f->skip = 1;
    }
    return APR_SUCCESS;
}

static apr_status_t close_section(reader_t *r, file_t *f, const char *line)
{
    const char *name = apr_pstrmemdup(r->p, line + 2, strcspn(line + 2, "> \t"));
    section_t *s;

    if (f->open->nelts == 0) {
        return fail(r, f, "</%s> without a section to close", name);
    }
    s = &APR_ARRAY_IDX(f->open, f->open->nelts - 1, section_t);
    if (strcasecmp(s->name, name)) {
        return fail(r, f, "</%s> closes <%s> of line %d", name, s->name, s->line);
    }
    if (s->vhost) {
        r->server = r->main;
    }
    --f->open->nelts;
    return APR_SUCCESS;
}

/* Inside a skipped section only the nesting counts, until the line that closes it. */
static apr_status_t skipped_line(reader_t *r, file_t *f, const char *line)
{
    if (line[0] == '<' && line[1] == '/') {
        return --f->skip == 0 ? close_section(r, f, line) : APR_SUCCESS;
    }
    if (line[0] == '<') {
        ++f->skip;
    }
    return APR_SUCCESS;
}

static apr_status_t one_line(reader_t *r, file_t *f, const char *line)
{
    while (apr_isspace(*line)) {
        ++line;
    }
    if (!*line || *line == '#') {
        return APR_SUCCESS;
    }
    if (f->skip) {
        return skipped_line(r, f, line);
    }
    line = expand(r, line);
    if (line[0] == '<' && line[1] == '/') {
        return close_section(r, f, line);
    }
    if (line[0] == '<') {
        return open_section(r, f, line);
    }
    return directive(r, f, line);
}

/* --------------------------------------------------------------------------
 * files
 */

/* The next line at *cursor, joined with the following ones while it ends with a
 * backslash; *first is its first line number, f->line its last. */
static const char *next_line(apr_pool_t *p, char **cursor, file_t *f, int *first)
{
    const char *out = NULL;
    char *line, *nl;
    size_t n;

    while (*cursor) {
        line = *cursor;
        if ((nl = strchr(line, '\n')) != NULL) {
            *nl = '\0';
        }
        *cursor = nl ? nl + 1 : NULL;
        if (!out) {
            *first = f->line + 1;
        }
        ++f->line;
        for (n = strlen(line); n > 0 && apr_isspace(line[n - 1]); --n) {
        }
        line[n] = '\0';
        if (n == 0 || line[n - 1] != '\\') {
            return out ? apr_pstrcat(p, out, line, NULL) : line;
        }
        line[n - 1] = '\0';
        out = out ? apr_pstrcat(p, out, line, NULL) : line;
    }
    return out;
}

static const char *file_error(apr_pool_t *p, const char *path, aop_file_e e, apr_status_t rv)
{
    char buf[128];

    switch (e) {
    case AOP_FILE_MISSING:
        return apr_psprintf(p, "cannot read %s: no such file", path);
    case AOP_FILE_TOO_LARGE:
        return apr_psprintf(p, "cannot read %s: larger than %d bytes", path, CONF_FILE_MAX);
    case AOP_FILE_NOT_REGULAR:
        return apr_psprintf(p, "cannot read %s: not a regular file", path);
    default:
        return apr_psprintf(p, "cannot read %s: %s", path, apr_strerror(rv, buf, sizeof(buf)));
    }
}

static apr_status_t read_file(reader_t *r, const char *path)
{
    file_t f = { path, 0, NULL, 0 };
    apr_status_t rv = APR_SUCCESS, frv = APR_SUCCESS;
    const char *text, *line;
    apr_size_t len = 0;
    aop_file_e e;
    char *cursor;
    int first, last;

    if ((e = aop_file_read(r->p, path, CONF_FILE_MAX, &text, &len, &frv)) != AOP_FILE_OK) {
        r->err = file_error(r->p, path, e, frv);
        return APR_EGENERAL;
    }
    f.open = apr_array_make(r->p, 4, sizeof(section_t));
    cursor = apr_pstrmemdup(r->p, text, len);
    ++r->depth;
    while (rv == APR_SUCCESS && (line = next_line(r->p, &cursor, &f, &first)) != NULL) {
        last = f.line;
        f.line = first;
        rv = one_line(r, &f, line);
        f.line = last;
    }
    --r->depth;
    if (rv == APR_SUCCESS && f.open->nelts > 0) {
        f.line = APR_ARRAY_IDX(f.open, f.open->nelts - 1, section_t).line;
        rv = fail(r, &f, "<%s> is not closed in this file",
                  APR_ARRAY_IDX(f.open, f.open->nelts - 1, section_t).name);
    }
    return rv;
}

static void resolve_paths(aoproxy_db_conf_t *conf, apr_pool_t *p)
{
    aoproxy_db_conf_server_t *s;
    int i;

    for (i = 0; i < conf->servers->nelts; ++i) {
        s = APR_ARRAY_IDX(conf->servers, i, aoproxy_db_conf_server_t *);
        if (s->config_dir.value) {
            s->config_dir.value = aoproxy_db_conf_relative(p, conf->server_root,
                                                           s->config_dir.value);
        }
        if (s->state_db.value) {
            s->state_db.value = aoproxy_db_conf_relative(p, conf->server_root,
                                                         s->state_db.value);
        }
    }
}

apr_status_t aoproxy_db_conf_read(apr_pool_t *p, const char *path, const char *server_root,
                                  apr_hash_t *env, aoproxy_db_conf_t **out,
                                  const char **err)
{
    reader_t r;
    int i;

    memset(&r, 0, sizeof(r));
    r.p = p;
    r.env = env;
    r.vars = apr_hash_make(p);
    r.defines = apr_hash_make(p);
    r.modules = apr_hash_make(p);
    r.root = server_root;
    r.conf = apr_pcalloc(p, sizeof(*r.conf));
    r.conf->path = aoproxy_db_conf_relative(p, server_root, path);
    r.conf->servers = apr_array_make(p, 4, sizeof(aoproxy_db_conf_server_t *));
    r.main = r.server = new_server(&r, NULL, NULL);
    for (i = 0; static_modules[i]; ++i) {
        add_module(&r, static_modules[i]);
    }
    if (read_file(&r, r.conf->path) != APR_SUCCESS) {
        *err = r.err;
        return APR_EGENERAL;
    }
    r.conf->server_root = r.root;
    resolve_paths(r.conf, p);
    *out = r.conf;
    return APR_SUCCESS;
}
