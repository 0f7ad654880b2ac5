/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The output filter that keeps an instance's answer from the client until it can no
 * longer fail over for want of it: a JSON answer until it is complete, a stream until
 * its first byte of data.  An answer that breaks off before then (shorter than its
 * Content-Length, a stream closed before any event, a stall past routing.timeout) is
 * dropped as if it never came, so the scheme handler wrapper can try the next
 * instance; the client never sees it. */
#ifndef MOD_AOPROXY_HOLD_H
#define MOD_AOPROXY_HOLD_H

#include <httpd.h>

#define AOP_HOLD_FILTER "AOPROXY_HOLD"

/* The largest answer held back: past this, what is held goes on and the rest
 * streams through (a break after that point reaches the client).  Chat and
 * completion answers are far smaller; embeddings of a few dozen long inputs fit. */
#define AOP_HOLD_MAX (4 * 1024 * 1024)

/* Adds the hold filter to r (fixups, for every call of ours). */
void aop_hold_filter_add(request_rec *r);
void aop_hold_register_hooks(apr_pool_t *p);

#endif
