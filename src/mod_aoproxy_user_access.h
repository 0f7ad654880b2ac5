/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* What httpd's User (the children's identity) may do with a file, checked by the
 * parent, which runs as root at start-up: a file only root can read works at start
 * and at a graceful restart, then fails at the first reload or API change a child
 * makes.  Finding that at start-up is the point. */
#ifndef MOD_AOPROXY_USER_ACCESS_H
#define MOD_AOPROXY_USER_ACCESS_H

#include <httpd.h>

#define AOP_ACCESS_READ  4
#define AOP_ACCESS_WRITE 2

/* NULL when httpd's User may read (or write) path, every directory on the way
 * searchable; else why not, naming the path's owner and mode (e.g. "/etc/aoproxy/base.yaml
 * is readable by root:root only (mode 0600)").  Always NULL when httpd does not run
 * as root (the User is then this process, which already read the file). */
const char *aop_user_access(apr_pool_t *p, const char *path, int want);

/* The name of httpd's User, for messages. */
const char *aop_user_name(void);

#endif
