/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <string.h>

#include <apr_file_info.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include "aop_file.h"
#include "aop_secret_file.h"

/* Whoever else can read the file has the key; whoever else can write it chooses
 * whose account the gateway's traffic is billed to. */
static const char *private_problem(apr_pool_t *p, const char *path)
{
    apr_finfo_t fi;
    apr_status_t rv = apr_stat(&fi, path, APR_FINFO_PROT, p);
    char ebuf[128];

    if (rv != APR_SUCCESS) {
        return apr_psprintf(p, "cannot read %s: %s", path,
                            apr_strerror(rv, ebuf, sizeof(ebuf)));
    }
    if (fi.protection & (APR_WREAD | APR_WWRITE | APR_WEXECUTE)) {
        /* APR keeps each octal digit of the mode in a hex digit: 0644 is 0x0644. */
        return apr_psprintf(p, "%s can be read or written by others (mode %04x): "
                            "`chmod o-rwx` it", path, (unsigned)(fi.protection & 0x0777));
    }
    return NULL;
}

const char *aop_secret_problem(apr_pool_t *p, const char *key, apr_size_t min_len)
{
    const char *q;

    for (q = key; *q && apr_isprint(*q); ++q) {
    }
    if (*q) {
        return "must be printable characters only";
    }
    if ((apr_size_t)(q - key) < min_len) {
        return apr_psprintf(p, "must be at least %" APR_SIZE_T_FMT " characters long",
                            min_len);
    }
    return NULL;
}

const char *aop_secret_file_read(apr_pool_t *p, const char *path, apr_size_t min_len,
                                 const char **secret)
{
    const char *text, *end, *why;
    apr_size_t len;
    apr_status_t rv;
    char ebuf[128];

    *secret = NULL;
    if ((why = private_problem(p, path))) {
        return why;
    }
    if (aop_file_read(p, path, AOP_SECRET_FILE_MAX, &text, &len, &rv) != AOP_FILE_OK) {
        return apr_psprintf(p, "cannot read %s: %s", path,
                            rv ? apr_strerror(rv, ebuf, sizeof(ebuf))
                               : "not a regular file of at most 4 KiB");
    }
    end = memchr(text, '\n', len);
    end = end ? end : text + len;
    while (end > text && apr_isspace(end[-1])) {
        --end;
    }
    text = apr_pstrmemdup(p, text, end - text);
    if (!*text || (why = aop_secret_problem(p, text, min_len))) {
        return apr_psprintf(p, "the first line of %s %s", path,
                            *text ? why : "must hold the key");
    }
    *secret = text;
    return NULL;
}

const char *aop_secret_file_read_all(apr_pool_t *p, const char *path, apr_off_t max,
                                     const char **text, apr_size_t *len)
{
    const char *why;
    apr_status_t rv;
    char ebuf[128];

    *text = NULL;
    *len = 0;
    if ((why = private_problem(p, path))) {
        return why;
    }
    if (aop_file_read(p, path, max, text, len, &rv) != AOP_FILE_OK) {
        return apr_psprintf(p, "cannot read %s: %s", path,
                            rv ? apr_strerror(rv, ebuf, sizeof(ebuf))
                               : "not a regular file of the expected size");
    }
    return NULL;
}
