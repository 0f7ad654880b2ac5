/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Response affinity: which instance made a response or holds a conversation, in one
 * anonymous shared memory segment per httpd (every virtual host, every process),
 * made by the parent in post_config (AOProxyResponseAffinity entries) and kept
 * across graceful restarts (ap_retained_data), so that the ids remembered survive a
 * graceful restart and any change of the instances through the API; a full stop
 * forgets them.  The table itself is aop_affinity.c: lock-free for readers and
 * writers.
 *
 * An instance is remembered by the hash of its name (aop_affinity_name_hash of
 * aop_affinity.h), not by its index, so that adding or removing instances never
 * sends an id to another instance. */
#ifndef MOD_AOPROXY_AFFINITY_H
#define MOD_AOPROXY_AFFINITY_H

#include <httpd.h>

#include "aop_affinity.h"

/* post_config, real pass: the table of entries (0: none).  Re-attaches the kept
 * segment when its size is unchanged, else makes a new one (the old ids are lost,
 * and logged so). */
apr_status_t aop_affinity_setup(server_rec *s, apr_uint64_t entries);
/* pre_config: forget the segment's address until setup runs again. */
void aop_affinity_reset(void);

/* Remembers that the response or conversation id (len bytes) lives on the instance
 * named instance_name.  1 when stored; 0 when affinity is off or the id is refused
 * (empty or longer than AOP_AFFINITY_KEY_MAX bytes). */
int aop_affinity_remember_id(server_rec *s, const char *id, apr_size_t len,
                             const char *instance_name);

/* 1 and the name hash of the instance that holds id, 0 when it is not known. */
int aop_affinity_lookup(server_rec *s, const char *id, apr_size_t len,
                        apr_uint64_t *name_hash);

/* Forgets id (a deleted response). */
void aop_affinity_forget_id(server_rec *s, const char *id, apr_size_t len);

/* The table's capacity and entries in use; 0 when affinity is off. */
int aop_affinity_usage(apr_uint64_t *capacity, apr_uint64_t *used);

#endif
