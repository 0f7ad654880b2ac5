/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Parsing an instance's api_base: the checks that keep the proxy from forwarding to
 * something it cannot or should not reach, and the parts mod_proxy needs (the origin
 * for its worker, the path prefix for every backend request). */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "aop_url.h"

/* Digits only (strtol alone would also take a sign and leading spaces), 1..65535. */
static int parse_port(const char *s, int *out)
{
    char *end;
    apr_int64_t port;

    if (!apr_isdigit(*s)) {
        return 0;
    }
    errno = 0;
    port = apr_strtoi64(s, &end, 10);
    if (errno != 0 || *end != '\0' || port < 1 || port > 65535) {
        return 0;
    }
    *out = (int)port;
    return 1;
}

static int is_host_char(char ch)
{
    return apr_isalnum(ch) || ch == '.' || ch == '-' || ch == '_';
}

/* host[:port] from the authority of api_base; IPv6 literals come in brackets. */
static const char *parse_authority(apr_pool_t *p, const char *a, aop_instance_t *inst)
{
    const char *colon = NULL, *q;
    char addr[16];

    if (*a == '[') {
        if ((q = strchr(a, ']')) == NULL) {
            return "has an unterminated IPv6 literal";
        }
        inst->host = apr_pstrmemdup(p, a + 1, (apr_size_t)(q - a - 1));
        if (inet_pton(AF_INET6, inst->host, addr) != 1) {
            return "has an invalid IPv6 address";
        }
        if (q[1] && q[1] != ':') {
            return "has garbage after the IPv6 literal";
        }
        colon = q[1] ? q + 1 : NULL;
    }
    else {
        colon = strchr(a, ':');
        inst->host = colon ? apr_pstrmemdup(p, a, (apr_size_t)(colon - a)) : a;
        for (q = inst->host; *q; ++q) {
            if (!is_host_char(*q)) {
                return "has an invalid character in its host name";
            }
        }
    }
    if (!*inst->host) {
        return "has no host";
    }
    if (colon && !parse_port(colon + 1, &inst->port)) {
        return "has an invalid port (expected 1..65535)";
    }
    return NULL;
}

/* The scheme's name and default port, or NULL for anything but http(s). */
static const char *url_scheme(const char *url, int *dflt)
{
    if (!strncasecmp(url, "https://", 8)) {
        *dflt = 443;
        return "https";
    }
    if (!strncasecmp(url, "http://", 7)) {
        *dflt = 80;
        return "http";
    }
    return NULL;
}

static const char *url_chars_problem(const char *url)
{
    const char *s;

    for (s = url; *s; ++s) {
        if (apr_iscntrl(*s) || apr_isspace(*s)) {
            return "must not contain spaces or control characters";
        }
    }
    return strpbrk(url, "?#") ? "must not contain a query or a fragment" : NULL;
}

/* Host names are case-insensitive: lower-case them so that origins compare equal. */
static void set_origin(apr_pool_t *p, aop_instance_t *inst, int dflt)
{
    char *host = apr_pstrdup(p, inst->host);
    int v6 = (strchr(host, ':') != NULL);

    inst->host = host;
    for (; *host; ++host) {
        *host = apr_tolower(*host);
    }
    inst->origin = apr_psprintf(p, "%s://%s%s%s", inst->scheme, v6 ? "[" : "", inst->host,
                                v6 ? "]" : "");
    if (inst->port != dflt) {
        inst->origin = apr_psprintf(p, "%s:%d", inst->origin, inst->port);
    }
}

/* Splits scheme://authority/path of api_base.  The URL is never quoted in a message:
 * a mistaken one may carry credentials. */
const char *aop_url_parse_api_base(apr_pool_t *p, const char *url, aop_instance_t *inst)
{
    const char *auth, *slash, *problem;
    apr_size_t len = strlen(url), alen;
    int dflt = 0;

    if ((inst->scheme = url_scheme(url, &dflt)) == NULL) {
        return "must be an absolute http:// or https:// URL";
    }
    if ((problem = url_chars_problem(url)) != NULL) {
        return problem;
    }
    auth = url + strlen(inst->scheme) + 3;
    slash = strchr(auth, '/');
    alen = slash ? (apr_size_t)(slash - auth) : strlen(auth);
    if (memchr(auth, '@', alen)) {
        return "must not contain user information (put the key in api_key)";
    }
    inst->port = dflt;
    if ((problem = parse_authority(p, apr_pstrmemdup(p, auth, alen), inst)) != NULL) {
        return problem;
    }
    while (len > 0 && url[len - 1] == '/') {
        --len;
    }
    inst->api_base = apr_pstrmemdup(p, url, len);
    inst->base_path = slash ? apr_pstrmemdup(p, slash, len - (apr_size_t)(slash - url)) : "";
    set_origin(p, inst, dflt);
    return NULL;
}


static int unreserved(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
           || c == '-' || c == '.' || c == '_' || c == '~';
}

int aop_url_unreserved(int c)
{
    return unreserved(c);
}

/* Every request escapes its deployment and api-version, nearly always unreserved
 * already: then s itself, with no copy. */
const char *aop_url_escape(apr_pool_t *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    const char *k = s;
    char *out, *o;

    while (*k && unreserved((unsigned char)*k)) {
        k++;
    }
    if (!*k) {
        return s;
    }
    out = apr_palloc(p, strlen(s) * 3 + 1);
    memcpy(out, s, (apr_size_t)(k - s));
    for (o = out + (k - s), s = k; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (unreserved(c)) {
            *o++ = (char)c;
        }
        else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}
