/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <apr_file_info.h>
#include <apr_file_io.h>
#include <apr_strings.h>

#include "check_tmpdir.h"

char *check_tmpdir_make(apr_pool_t *p, const char *prefix)
{
    const char *tmp = "/tmp";
    char *dir;

    apr_temp_dir_get(&tmp, p);
    dir = apr_pstrcat(p, tmp, "/", prefix, "-XXXXXX", NULL);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    return dir;
}

void check_tmpdir_remove(apr_pool_t *p, const char *dir)
{
    apr_dir_t *d;
    apr_finfo_t fi;

    if (apr_dir_open(&d, dir, p) == APR_SUCCESS) {
        while (apr_dir_read(&fi, APR_FINFO_NAME, d) == APR_SUCCESS) {
            if (strcmp(fi.name, ".") && strcmp(fi.name, "..")) {
                apr_file_remove(apr_pstrcat(p, dir, "/", fi.name, NULL), p);
            }
        }
        apr_dir_close(d);
    }
    apr_dir_remove(dir, p);
}
