/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The mappings of aop_bigbuf.h.  mmap/munmap rather than malloc/free: glibc raises
 * its mmap threshold to the size of each mapped chunk it frees (up to 32 MB), after
 * which a 1 MB body comes from a heap arena where free() keeps it; an unmapped body
 * is measurably gone (the e2e test reads the children's private memory).
 *
 * The lock is a plain pthread mutex of this process: it guards a few pointers, is
 * never held across I/O or a system call, and exists before any thread (no
 * child_init needed); httpd's parent never takes it, so a fork never copies it
 * held. */
#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>

#include "aop_bigbuf.h"

typedef struct {
    char *buf;
    apr_size_t cap;
} slot_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static slot_t kept[AOP_BIGBUF_CACHE_SLOTS];
static int n_kept;
static int in_flight;

static apr_size_t size_class(apr_size_t need)
{
    apr_size_t cap = AOP_BIGBUF_MIN;

    while (cap < need && cap <= ((apr_size_t)-1) / 2) {
        cap *= 2;
    }
    return cap < need ? need : cap;
}

/* A kept mapping of exactly cap bytes, or NULL; counts the new one in flight. */
static char *take_kept(apr_size_t cap)
{
    char *buf = NULL;
    int i;

    pthread_mutex_lock(&lock);
    for (i = 0; i < n_kept; i++) {
        if (kept[i].cap == cap) {
            buf = kept[i].buf;
            kept[i] = kept[--n_kept];
            break;
        }
    }
    in_flight++;
    pthread_mutex_unlock(&lock);
    return buf;
}

char *aop_bigbuf_get(apr_size_t need, apr_size_t *cap)
{
    char *buf;
    void *m;

    *cap = size_class(need);
    if ((buf = take_kept(*cap)) != NULL) {
        return buf;
    }
    m = mmap(NULL, *cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        int err = errno;

        pthread_mutex_lock(&lock);
        in_flight--;
        pthread_mutex_unlock(&lock);
        errno = err;
        return NULL;
    }
#ifdef MADV_POPULATE_WRITE
    /* The pages the body fills, in one call rather than a fault each (the rest of the
     * power of two is never touched: it costs address space only). */
    (void)madvise(m, need, MADV_POPULATE_WRITE);
#endif
    return m;
}

void aop_bigbuf_put(char *buf, apr_size_t cap)
{
    slot_t out[AOP_BIGBUF_CACHE_SLOTS + 1];
    int n_out = 0, i;

    pthread_mutex_lock(&lock);
    in_flight--;
    if (n_kept < in_flight && n_kept < AOP_BIGBUF_CACHE_SLOTS
        && cap <= AOP_BIGBUF_CACHE_MAX_CAP) {
        kept[n_kept].buf = buf;
        kept[n_kept++].cap = cap;
    }
    else {
        out[n_out].buf = buf;
        out[n_out++].cap = cap;
    }
    /* Never more kept than in flight: the last body given back empties the cache. */
    while (n_kept > in_flight) {
        out[n_out++] = kept[--n_kept];
    }
    pthread_mutex_unlock(&lock);
    for (i = 0; i < n_out; i++) {
        munmap(out[i].buf, out[i].cap);
    }
}

void aop_bigbuf_counts(int *flight, int *n)
{
    pthread_mutex_lock(&lock);
    *flight = in_flight;
    *n = n_kept;
    pthread_mutex_unlock(&lock);
}
