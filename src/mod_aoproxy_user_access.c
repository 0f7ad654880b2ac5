/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_strings.h>
#include <unixd.h>

#include "mod_aoproxy_user_access.h"

const char *aop_user_name(void)
{
    return ap_unixd_config.user_name ? ap_unixd_config.user_name : "(unknown)";
}

static int in_groups(gid_t gid, const gid_t *groups, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        if (groups[i] == gid) {
            return 1;
        }
    }
    return 0;
}

/* The permission bits (rwx as 4/2/1) the User gets on st: owner's, group's or
 * others', whichever class it falls in, as the kernel chooses. */
static int bits_for_user(const struct stat *st, const gid_t *groups, int n)
{
    if (st->st_uid == ap_unixd_config.user_id) {
        return (st->st_mode >> 6) & 7;
    }
    if (in_groups(st->st_gid, groups, n)) {
        return (st->st_mode >> 3) & 7;
    }
    return st->st_mode & 7;
}

static const char *owner_of(apr_pool_t *p, const struct stat *st)
{
    struct passwd *pw = getpwuid(st->st_uid);
    struct group *gr = getgrgid(st->st_gid);

    return apr_psprintf(p, "%s:%s, mode %04o",
                        pw ? apr_pstrdup(p, pw->pw_name) : apr_itoa(p, (int)st->st_uid),
                        gr ? apr_pstrdup(p, gr->gr_name) : apr_itoa(p, (int)st->st_gid),
                        (unsigned)(st->st_mode & 07777));
}

/* One step of the path: a directory on the way needs x, the path itself want. */
static const char *check_one(apr_pool_t *p, const char *path, int need, const gid_t *groups,
                             int n)
{
    struct stat st;

    if (stat(path, &st) != 0) {
        return errno == ENOENT ? NULL : apr_psprintf(p, "%s cannot be examined (%s)", path,
                                                     strerror(errno));
    }
    if ((bits_for_user(&st, groups, n) & need) == need) {
        return NULL;
    }
    return apr_psprintf(p, "%s is not %s by %s (%s)", path,
                        need == 1 ? "searchable" : need == AOP_ACCESS_WRITE ? "writable"
                                                                             : "readable",
                        aop_user_name(), owner_of(p, &st));
}

const char *aop_user_access(apr_pool_t *p, const char *path, int want)
{
    gid_t groups[64];
    int n = (int)(sizeof(groups) / sizeof(groups[0]));
    char *walk;
    const char *why;
    char *slash;

    if (geteuid() != 0 || ap_unixd_config.user_id == 0 || !path || *path != '/') {
        return NULL;
    }
    if (getgrouplist(aop_user_name(), ap_unixd_config.group_id, groups, &n) < 0) {
        groups[0] = ap_unixd_config.group_id;
        n = 1;
    }
    walk = apr_pstrdup(p, path);
    for (slash = strchr(walk + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        why = check_one(p, walk, 1, groups, n);
        *slash = '/';
        if (why) {
            return why;
        }
    }
    return check_one(p, path, want, groups, n);
}
