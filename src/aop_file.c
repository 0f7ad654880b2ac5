/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <apr_file_io.h>
#include <apr_file_info.h>

#include "aop_file.h"

static aop_file_e read_open(apr_pool_t *p, apr_file_t *f, apr_off_t max, const char **text,
                            apr_size_t *len, apr_status_t *prv)
{
    apr_finfo_t fi;
    char *buf;

    if ((*prv = apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_TYPE, f)) != APR_SUCCESS) {
        return AOP_FILE_STAT;
    }
    if (fi.filetype != APR_REG) {
        return AOP_FILE_NOT_REGULAR;
    }
    if (fi.size > max) {
        return AOP_FILE_TOO_LARGE;
    }
    buf = apr_palloc(p, (apr_size_t)fi.size + 1);
    if (fi.size > 0
        && (*prv = apr_file_read_full(f, buf, (apr_size_t)fi.size, len)) != APR_SUCCESS) {
        *len = 0;
        return AOP_FILE_READ;
    }
    buf[*len] = '\0';
    *text = buf;
    return AOP_FILE_OK;
}

aop_file_e aop_file_read(apr_pool_t *p, const char *path, apr_off_t max, const char **text,
                         apr_size_t *len, apr_status_t *prv)
{
    apr_file_t *f;
    aop_file_e got;

    *text = NULL;
    *len = 0;
    *prv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, APR_OS_DEFAULT, p);
    if (*prv != APR_SUCCESS) {
        return APR_STATUS_IS_ENOENT(*prv) ? AOP_FILE_MISSING : AOP_FILE_OPEN;
    }
    got = read_open(p, f, max, text, len, prv);
    apr_file_close(f);
    return got;
}
