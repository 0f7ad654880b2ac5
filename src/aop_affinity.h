/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The response-affinity table: which instance made a response ("resp_...") or holds
 * a conversation ("conv_..."), so that the calls naming it go back there.
 *
 * A fixed-capacity table in a block the caller supplies (an anonymous shared memory
 * segment): no pointer inside, every process that maps the block uses it at once.
 * An entry is 32 bytes: the 64-bit hash of the key (its tag), the instance's 64-bit
 * name hash, a seal (a second, independent 64-bit hash of the key XOR the name hash)
 * and when it was remembered.  Buckets of AOP_AFFINITY_BUCKET entries (256 bytes,
 * the eight tags in one cache line); a key may live in either of two buckets (two
 * independent choices from its hash: a table filled to 70% has lost no key yet, at
 * 80% about 2 in 10 000, at 90% under 1%), and when both are full the entry
 * remembered longest ago of the two is overwritten.
 *
 * No lock, for readers nor writers.  Each field is one aligned 64-bit atomic word;
 * a reader accepts an entry only when its tag is the key's and its seal XOR its
 * name hash is the key's second hash.  A reader that meets an entry half written
 * (or two writers that raced on one entry) therefore sees a miss, never a torn name
 * hash: the name it returns was written for that very key, unless 64 bits of two
 * independent hashes happen to agree (2^-64 for each torn read).  A key taken for
 * another needs both its 64-bit tag and its 64-bit check to match: about 8 x 2^-128
 * per lookup (the 16 entries of its two buckets).  Racing writers may lose an entry
 * (the last writer wins, or neither): the caller then asks the instances in turn.
 *
 * The hashes are SipHash-2-4 (128-bit output) under a per-table random key, so that
 * nobody can choose ids that crowd one bucket. */
#ifndef AOP_AFFINITY_H
#define AOP_AFFINITY_H

#include <apr.h>
#include <apr_time.h>

/* Keys: 1 to 256 bytes (OpenAI's ids are about 50). */
#define AOP_AFFINITY_KEY_MAX 256
/* Entries of a bucket (8 x 32 bytes: four cache lines, by kind of word). */
#define AOP_AFFINITY_BUCKET 8
/* The largest table (2 GiB of entries): bounds the arithmetic of the size. */
#define AOP_AFFINITY_MAX_ENTRIES (64 * 1024 * 1024)
/* The random key of a table's hashes. */
#define AOP_AFFINITY_SEED_LEN 16

typedef struct aop_affinity_t aop_affinity_t;

/* Bytes a table of n entries takes: n rounded up to whole buckets of 32-byte
 * entries, a 64-byte header and 64 bytes to align the block on a cache line; 0 when
 * n is 0 or above AOP_AFFINITY_MAX_ENTRIES. */
apr_size_t aop_affinity_size(apr_uint64_t n);

/* Makes a table of n entries in block (size bytes, 8-byte aligned, all zero as an
 * anonymous mapping comes: init writes the header only, so that untouched pages stay
 * unallocated).  Entries older than max_age are no longer found (0: kept until
 * overwritten).  NULL when size is short of aop_affinity_size(n). */
aop_affinity_t *aop_affinity_init(void *block, apr_size_t size, apr_uint64_t n,
                                  const unsigned char seed[AOP_AFFINITY_SEED_LEN],
                                  apr_interval_time_t max_age);

/* The table of n entries a block already holds (made by aop_affinity_init, this
 * layout), for a new generation of the server; NULL when it holds none, or one of
 * another capacity. */
aop_affinity_t *aop_affinity_attach(void *block, apr_size_t size, apr_uint64_t n);

/* Remembers that key (key_len bytes) lives on the instance whose name hash is
 * name_hash (aop_affinity_name_hash, never 0), at now.  1 when stored; 0 when the key
 * or the name hash is refused (empty, longer than AOP_AFFINITY_KEY_MAX, 0) or a
 * racing writer took every candidate entry. */
int aop_affinity_remember(aop_affinity_t *t, const char *key, apr_size_t key_len,
                          apr_uint64_t name_hash, apr_time_t now);

/* The name hash remembered for key, 0 when none (unknown, forgotten, overwritten,
 * older than the table's max_age, or a refused key).  Lock-free, writes nothing. */
apr_uint64_t aop_affinity_find(const aop_affinity_t *t, const char *key, apr_size_t key_len,
                               apr_time_t now);

/* Forgets key (a deleted response); 1 when it was there. */
int aop_affinity_forget(aop_affinity_t *t, const char *key, apr_size_t key_len);

/* The name hash of an instance name: the same in every process and every generation
 * (unkeyed), never 0.  Two of a fleet's names share one with a chance of about
 * n^2 / 2^65 (n names). */
apr_uint64_t aop_affinity_name_hash(const char *name);

/* Entries the table holds at most, and now (a count kept as entries fill and
 * empty: no scan). */
apr_uint64_t aop_affinity_capacity(const aop_affinity_t *t);
apr_uint64_t aop_affinity_used(const aop_affinity_t *t);

/* SipHash-2-4 with a 128-bit output of data under key (16 bytes): out[0], out[1].
 * Exposed for its test vectors. */
void aop_affinity_siphash128(const unsigned char key[16], const void *data, apr_size_t len,
                             apr_uint64_t out[2]);

#endif
