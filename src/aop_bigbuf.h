/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Large buffers (request bodies of 64 KB and more) mapped outside every pool, so that
 * a body given back leaves the process at once instead of staying in r->pool for a
 * stream's minutes.
 *
 * A fresh mapping costs its page faults on every request (for a 1 MB body, more CPU
 * than the rest of the request), so a process keeps a few given back for the next
 * bodies, but never more than the bodies it has in flight at that moment: under load
 * the mappings are reused, and once the bodies are all given back (streams answering,
 * nothing arriving) the cache is empty and every page is back with the kernel.
 * Thread-safe; core library: no httpd headers. */
#ifndef AOP_BIGBUF_H
#define AOP_BIGBUF_H

#include <apr.h>

/* Buffers are mapped in powers of two from this size on (a body smaller takes pool
 * memory instead). */
#define AOP_BIGBUF_MIN (64 * 1024)
/* The most mappings a process keeps for reuse, whatever its bodies in flight. */
#define AOP_BIGBUF_CACHE_SLOTS 16
/* Mappings larger than this are never kept. */
#define AOP_BIGBUF_CACHE_MAX_CAP (4 * 1024 * 1024)

/* A buffer of at least need bytes (need >= 1); its size in *cap.  NULL with errno
 * set when the mapping fails.  The buffer counts as in flight until given back. */
char *aop_bigbuf_get(apr_size_t need, apr_size_t *cap);

/* Gives back a buffer of aop_bigbuf_get (cap as it said): kept for the next body
 * while fewer are kept than are in flight, unmapped otherwise. */
void aop_bigbuf_put(char *buf, apr_size_t cap);

/* For the tests: buffers in flight, and kept. */
void aop_bigbuf_counts(int *in_flight, int *kept);

#endif
