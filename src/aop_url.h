/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* An instance's api_base, an absolute http(s) URL, split into the parts the proxy
 * uses: the origin that names the mod_proxy worker and the base path in front of
 * every backend request. */
#ifndef AOP_URL_H
#define AOP_URL_H

#include <apr_pools.h>

#include "aop_config.h"

/* Sets inst's api_base (trailing '/' removed), scheme, host (lower-case, an IPv6
 * address without its brackets), port (explicit or the scheme's default), origin and
 * base_path from url.  Returns NULL, or what is wrong with url as a phrase to follow
 * its key ("must not contain a query or a fragment"); the phrase never quotes url.
 * On error inst may be partly set. */
const char *aop_url_parse_api_base(apr_pool_t *p, const char *url, aop_instance_t *inst);

/* An RFC 3986 unreserved character: [A-Za-z0-9-._~]. */
int aop_url_unreserved(int c);

/* s with every byte but the unreserved ones percent-encoded (%XX, upper case): a path
 * segment, a query value or a form value, in p. */
const char *aop_url_escape(apr_pool_t *p, const char *s);

#endif
