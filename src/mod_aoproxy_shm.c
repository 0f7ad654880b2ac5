/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <apr_atomic.h>
#include <apr_shm.h>
#include <apr_strings.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <http_core.h>
#include <ap_mpm.h>

#include "mod_aoproxy_private.h"
#include "mod_aoproxy_config.h"
#include "mod_aoproxy_shm.h"

#define SHM_MAGIC 0x414f5053u        /* "AOPS" */
#define SHM_MIN_SLOTS 64

/* A fleet's live document: the effective instances every process builds its view
 * from (mod_aoproxy_view.c), and the generation that tells a process its view is old. */
typedef struct shm_fleet_t {
    volatile apr_uint64_t generation;
    apr_uint32_t len;
} shm_fleet_t;

typedef struct shm_header_t {
    apr_uint32_t magic;
    apr_uint32_t layout;             /* changes whenever a record's size does */
    apr_uint32_t inst_cap;
    apr_uint32_t model_cap;
    apr_uint32_t pair_cap;
    apr_uint32_t doc_cap;            /* bytes per fleet document */
    apr_uint32_t resv_cap;           /* token reservations in flight (aop_resv.h) */
    apr_uint32_t lock_takeovers;     /* locks taken from a stopped or stuck holder */
    apr_uint64_t lock;               /* 0: free; else holder's pid << 32 | a sequence */
    shm_fleet_t fleet[AOP_SHM_MAX_FLEETS];
    aop_shm_overall_t overall;
} shm_header_t;

/* Survives graceful restarts (ap_retained_data): the statistics and budgets of the
 * last generation are still there for the next. */
typedef struct retained_t {
    apr_shm_t *shm;
} retained_t;

static shm_header_t *hdr;

/* Bumped when records change order without changing size.  3: the rings moved out
 * of the instance records into their own table, with log-linear histograms. */
#define LAYOUT_REVISION 3
#define LAYOUT ((apr_uint32_t)(sizeof(aop_shm_inst_t) * 7 + sizeof(aop_shm_model_t) * 3 \
                               + sizeof(aop_shm_pair_t) + sizeof(shm_header_t) \
                               + sizeof(aop_stats_ring_t) * 5 \
                               + sizeof(aop_resv_rec_t) * 11 \
                               + LAYOUT_REVISION * 65536))

static aop_shm_inst_t *inst_table(void)
{
    return (aop_shm_inst_t *)((char *)hdr + APR_ALIGN_DEFAULT(sizeof(*hdr)));
}

/* Parallel to the instance table. */
static aop_stats_ring_t *ring_table(void)
{
    return (aop_stats_ring_t *)(inst_table() + hdr->inst_cap);
}

static aop_shm_model_t *model_table(void)
{
    return (aop_shm_model_t *)(ring_table() + hdr->inst_cap);
}

static aop_shm_pair_t *pair_table(void)
{
    return (aop_shm_pair_t *)(model_table() + hdr->model_cap);
}

static char *doc_area(int fleet)
{
    return (char *)(pair_table() + hdr->pair_cap) + (apr_size_t)fleet * hdr->doc_cap;
}

/* After the documents, 8-aligned: the token reservations. */
static aop_resv_table_t *resv_table(void)
{
    return (aop_resv_table_t *)APR_ALIGN_DEFAULT((apr_uintptr_t)doc_area(AOP_SHM_MAX_FLEETS));
}

static apr_size_t segment_size(apr_uint32_t inst_cap, apr_uint32_t model_cap,
                               apr_uint32_t pair_cap, apr_uint32_t doc_cap,
                               apr_uint32_t resv_cap)
{
    return APR_ALIGN_DEFAULT(sizeof(shm_header_t))
           + (sizeof(aop_shm_inst_t) + sizeof(aop_stats_ring_t)) * inst_cap
           + sizeof(aop_shm_model_t) * model_cap + sizeof(aop_shm_pair_t) * pair_cap
           + (apr_size_t)doc_cap * AOP_SHM_MAX_FLEETS + 8 /* resv_table()'s alignment */
           + aop_resv_size(resv_cap);
}

/* The state lock is a spinlock in the segment itself.  What it guards are a few
 * dozen loads and stores (a pick, a reservation, counters), far shorter than a
 * sleep: an APR global mutex (a robust, priority-inheriting pthread mutex plus a
 * thread mutex) made every contended acquisition a pair of system calls, measured
 * at a tenth of the proxy's throughput.  A waiter spins briefly, then yields the
 * CPU to whoever holds it.
 *
 * No holder can stall the others for long.  A waiter that has waited LOCK_ASK
 * asks about the holder: gone (a crash) or stopped (SIGSTOP, a debugger: state T or
 * t in /proc), and the lock is taken over at once; after LOCK_MAX_WAIT it is taken
 * over whatever the holder is doing (swapped out, starved).  A holder that resumes
 * after a takeover finishes the few stores it was making beside the new holder's
 * (at worst a counter off by one request's numbers) and its unlock, which only
 * releases the lock it took, changes nothing.  The lock word is the holder's process
 * id and a per-acquisition number, so that a stale unlock never releases a later
 * acquisition by another thread of the same process. */
#define SPINS_BEFORE_YIELD 100
#define YIELDS_BEFORE_CHECK 64
#define LOCK_ASK apr_time_from_msec(5)
#define LOCK_MAX_WAIT apr_time_from_msec(250)

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("pause");
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* getpid() is a system call: the lock asks this instead (set in each child). */
static apr_uint32_t my_pid;
static apr_uint32_t lock_seq;
static __thread apr_uint64_t held_token;

static apr_uint32_t holder_pid(apr_uint64_t word)
{
    return (apr_uint32_t)(word >> 32);
}

/* Stopped by a signal or a debugger: its /proc state is T or t (the state follows
 * the last ')', the command name may hold one). */
static int process_stopped(apr_uint32_t pid)
{
    char path[64], buf[512], *paren;
    ssize_t n;
    int fd;

    apr_snprintf(path, sizeof(path), "/proc/%u/stat", (unsigned)pid);
    if ((fd = open(path, O_RDONLY)) < 0) {
        return 0;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' && (paren[2] == 'T' || paren[2] == 't');
}

/* Whether a waiter that has waited this long may take the lock from its holder. */
static int may_take_over(apr_uint64_t word, apr_uint32_t me, apr_interval_time_t waited)
{
    apr_uint32_t pid = holder_pid(word);

    if (waited < LOCK_ASK || pid == me) {
        return 0;
    }
    if (waited >= LOCK_MAX_WAIT) {
        return 1;
    }
    return (kill((pid_t)pid, 0) != 0 && errno == ESRCH) || process_stopped(pid);
}

apr_status_t aop_shm_lock(void)
{
    apr_uint32_t me = my_pid ? my_pid : (apr_uint32_t)getpid();
    apr_uint64_t token = ((apr_uint64_t)me << 32) | apr_atomic_inc32(&lock_seq), word = 0;
    apr_time_t started = 0;
    unsigned spins = 0, yields = 0;

    if (!hdr) {
        return APR_SUCCESS;
    }
    while (!__atomic_compare_exchange_n(&hdr->lock, &word, token, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED)) {
        if (++spins < SPINS_BEFORE_YIELD) {
            cpu_relax();
        }
        else if (++yields % YIELDS_BEFORE_CHECK != 0) {
            sched_yield();
        }
        else if (!started) {
            started = apr_time_now();
        }
        else if (may_take_over(word, me, apr_time_now() - started)
                 && __atomic_compare_exchange_n(&hdr->lock, &word, token, 0,
                                                __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
            hdr->lock_takeovers++;
            break;
        }
        word = 0;
    }
    held_token = token;
    return APR_SUCCESS;
}

void aop_shm_unlock(void)
{
    apr_uint64_t mine = held_token;

    if (hdr) {
        __atomic_compare_exchange_n(&hdr->lock, &mine, 0, 0, __ATOMIC_RELEASE,
                                    __ATOMIC_RELAXED);
    }
    held_token = 0;
}

apr_uint32_t aop_shm_my_pid(void)
{
    return my_pid ? my_pid : (apr_uint32_t)getpid();
}

apr_uint32_t aop_shm_lock_takeovers(void)
{
    return hdr ? hdr->lock_takeovers : 0;
}

aop_shm_inst_t *aop_shm_inst(const aop_shm_map_t *map, int idx)
{
    return hdr && map ? inst_table() + map->inst_slot[idx] : NULL;
}

aop_stats_ring_t *aop_shm_ring(const aop_shm_inst_t *si)
{
    return hdr && si ? ring_table() + (si - inst_table()) : NULL;
}

aop_shm_model_t *aop_shm_model(const aop_shm_map_t *map, const char *model)
{
    int *slot = map ? apr_hash_get(map->model_slot, model, APR_HASH_KEY_STRING) : NULL;

    return hdr && slot ? model_table() + *slot : NULL;
}

static apr_uint64_t model_hash(const char *s)
{
    apr_uint64_t h = 1469598103934665603ULL;      /* FNV-1a */

    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    }
    return h ? h : 1;
}

aop_shm_pair_t *aop_shm_pair(const aop_shm_map_t *map, const aop_instance_t *inst, int idx,
                             const char *model)
{
    int i;

    if (!hdr || !map || !model) {
        return NULL;
    }
    for (i = 0; i < inst->supported_models->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(inst->supported_models, i, const char *), model) == 0) {
            return pair_table() + map->pair_slot[idx][i];
        }
    }
    return NULL;
}

aop_shm_overall_t *aop_shm_overall(void)
{
    return hdr ? &hdr->overall : NULL;
}

aop_resv_table_t *aop_shm_reservations(void)
{
    return hdr ? resv_table() : NULL;
}

aop_shm_inst_t *aop_shm_inst_slot(int slot)
{
    return hdr && slot >= 0 && (apr_uint32_t)slot < hdr->inst_cap ? inst_table() + slot : NULL;
}

int aop_shm_inst_slot_of(const aop_shm_map_t *map, int idx)
{
    return map ? map->inst_slot[idx] : -1;
}

void aop_shm_reset_stats(void)
{
    apr_uint32_t i;

    if (!hdr) {
        return;
    }
    aop_shm_lock();
    aop_stats_reset(&hdr->overall.ring);
    memset(&hdr->overall.life, 0, sizeof(hdr->overall.life));
    hdr->overall.since = apr_time_now();
    for (i = 0; i < hdr->inst_cap; i++) {
        aop_stats_reset(ring_table() + i);
    }
    for (i = 0; i < hdr->pair_cap; i++) {
        memset(&pair_table()[i].life, 0, sizeof(pair_table()[i].life));
    }
    aop_shm_unlock();
}

int aop_shm_model_missing(const aop_shm_inst_t *si, const char *model, apr_time_t now)
{
    apr_uint64_t h;
    int i;

    if (now >= si->missing_latest) {
        return 0;                    /* the usual case, asked per candidate per pick */
    }
    h = model_hash(model);
    for (i = 0; i < AOP_SHM_MAX_MISSING; i++) {
        if (si->missing_hash[i] == h && si->missing_until[i] > now) {
            return 1;
        }
    }
    return 0;
}

void aop_shm_mark_missing(aop_shm_inst_t *si, const char *model, apr_time_t until)
{
    apr_uint64_t h = model_hash(model);
    int i, oldest = 0;

    for (i = 0; i < AOP_SHM_MAX_MISSING; i++) {
        if (si->missing_hash[i] == h) {
            oldest = i;
            break;
        }
        if (si->missing_until[i] < si->missing_until[oldest]) {
            oldest = i;
        }
    }
    si->missing_hash[oldest] = h;
    si->missing_until[oldest] = until;
    if (until > si->missing_latest) {
        si->missing_latest = until;
    }
}

/* ------------------------------------------------------------------ mapping */

/* The slot named name; else a free one; else one no configuration names any more. */
static int find_slot(const char *name, apr_size_t stride, char *table, apr_uint32_t cap,
                     apr_hash_t *wanted, int *fresh)
{
    apr_uint32_t i;
    int free_slot = -1, stale = -1;

    for (i = 0; i < cap; i++) {
        const char *n = table + (apr_size_t)i * stride;

        if (strcmp(n, name) == 0) {
            *fresh = 0;
            return (int)i;
        }
        if (!*n && free_slot < 0) {
            free_slot = (int)i;
        }
        else if (*n && stale < 0 && !apr_hash_get(wanted, n, APR_HASH_KEY_STRING)) {
            stale = (int)i;
        }
    }
    *fresh = 1;
    return free_slot >= 0 ? free_slot : stale;
}

/* A slot for inst (found by name, else claimed).  Health judgements of an instance
 * in reset start anew (a reload or an API change may have fixed its key or a
 * deployment); budgets and Azure's cooldowns are facts and stay. */
static int map_instance(const aop_instance_t *inst, apr_hash_t *wanted, apr_hash_t *reset)
{
    int fresh, slot = find_slot(inst->name, sizeof(aop_shm_inst_t), inst_table()->name,
                                hdr->inst_cap, wanted, &fresh);
    aop_shm_inst_t *si;

    if (slot < 0) {
        return -1;
    }
    si = inst_table() + slot;
    if (fresh) {
        memset(si, 0, sizeof(*si));
        aop_stats_reset(ring_table() + slot);
        apr_cpystrn(si->name, inst->name, sizeof(si->name));
        aop_tpm_init(&si->tpm);
    }
    if (reset && apr_hash_get(reset, inst->name, APR_HASH_KEY_STRING)) {
        si->unhealthy_until = 0;
        memset(si->missing_until, 0, sizeof(si->missing_until));
        si->missing_latest = 0;
    }
    return slot;
}

/* A model's rotation state is positional over its candidates: when they change, it
 * starts over. */
static int map_model(const char *model, apr_hash_t *wanted, apr_hash_t *reset)
{
    char key[AOP_SHM_MODEL_MAX + 1];
    int fresh, slot;
    aop_shm_model_t *sm;

    apr_cpystrn(key, model, sizeof(key));
    slot = find_slot(key, sizeof(aop_shm_model_t), model_table()->model, hdr->model_cap,
                     wanted, &fresh);
    if (slot < 0) {
        return -1;
    }
    sm = model_table() + slot;
    if (fresh || (reset && apr_hash_get(reset, model, APR_HASH_KEY_STRING))) {
        memset(sm, 0, sizeof(*sm));
        apr_cpystrn(sm->model, key, sizeof(sm->model));
    }
    return slot;
}

static const char *pair_key(apr_pool_t *p, const char *inst, const char *model)
{
    char key[sizeof(((aop_shm_pair_t *)0)->key)];

    apr_cpystrn(key, apr_pstrcat(p, inst, "\t", model, NULL), sizeof(key));
    return apr_pstrdup(p, key);
}

/* A pair's counters survive restarts like the instance's; new ones start at zero. */
static int map_pair(apr_pool_t *p, const char *inst, const char *model, apr_hash_t *wanted)
{
    const char *key = pair_key(p, inst, model);
    int fresh, slot = find_slot(key, sizeof(aop_shm_pair_t), pair_table()->key,
                                hdr->pair_cap, wanted, &fresh);

    if (slot >= 0 && fresh) {
        memset(pair_table() + slot, 0, sizeof(aop_shm_pair_t));
        apr_cpystrn(pair_table()[slot].key, key, sizeof(pair_table()[slot].key));
    }
    return slot;
}

static int map_pairs(apr_pool_t *p, aop_shm_map_t *map, int idx, const aop_instance_t *inst,
                     apr_hash_t *wanted)
{
    int j;

    map->pair_slot[idx] = apr_pcalloc(p, sizeof(int) * (inst->supported_models->nelts + 1));
    for (j = 0; j < inst->supported_models->nelts; j++) {
        map->pair_slot[idx][j] = map_pair(p, inst->name, APR_ARRAY_IDX(inst->supported_models,
                                                                      j, const char *), wanted);
        if (map->pair_slot[idx][j] < 0) {
            return -1;
        }
    }
    return 0;
}

aop_shm_map_t *aop_shm_map_locked(apr_pool_t *p, const aop_config_t *cfg,
                                  const aop_route_table_t *routes, apr_hash_t *wanted,
                                  apr_hash_t *reset)
{
    aop_shm_map_t *map = apr_pcalloc(p, sizeof(*map));
    int i;

    if (!hdr) {
        return NULL;
    }
    if (!wanted) {
        wanted = apr_hash_make(p);   /* claims free slots only; steals none */
        for (i = 0; i < (int)hdr->inst_cap; i++) {
            if (inst_table()[i].name[0]) {
                apr_hash_set(wanted, inst_table()[i].name, APR_HASH_KEY_STRING, "");
            }
        }
        for (i = 0; i < (int)hdr->model_cap; i++) {
            if (model_table()[i].model[0]) {
                apr_hash_set(wanted, model_table()[i].model, APR_HASH_KEY_STRING, "");
            }
        }
        for (i = 0; i < (int)hdr->pair_cap; i++) {
            if (pair_table()[i].key[0]) {
                apr_hash_set(wanted, pair_table()[i].key, APR_HASH_KEY_STRING, "");
            }
        }
    }
    map->inst_slot = apr_pcalloc(p, sizeof(int) * (cfg->instances->nelts + 1));
    map->pair_slot = apr_pcalloc(p, sizeof(int *) * (cfg->instances->nelts + 1));
    map->model_slot = apr_hash_make(p);
    for (i = 0; i < cfg->instances->nelts; i++) {
        const aop_instance_t *inst = APR_ARRAY_IDX(cfg->instances, i, aop_instance_t *);

        if ((map->inst_slot[i] = map_instance(inst, wanted, reset)) < 0
            || map_pairs(p, map, i, inst, wanted) < 0) {
            return NULL;
        }
    }
    for (i = 0; i < routes->models->nelts; i++) {
        const char *m = APR_ARRAY_IDX(routes->models, i, const char *);
        int *slot = apr_palloc(p, sizeof(int));

        if ((*slot = map_model(m, wanted, reset)) < 0) {
            return NULL;
        }
        apr_hash_set(map->model_slot, m, APR_HASH_KEY_STRING, slot);
    }
    return map;
}

void aop_shm_forget_locked(const char *name)
{
    apr_uint32_t i;
    apr_size_t n = strlen(name);

    for (i = 0; hdr && i < hdr->inst_cap; i++) {
        if (strcmp(inst_table()[i].name, name) == 0) {
            inst_table()[i].name[0] = '\0';
        }
    }
    for (i = 0; hdr && i < hdr->pair_cap; i++) {
        if (strncmp(pair_table()[i].key, name, n) == 0 && pair_table()[i].key[n] == '\t') {
            pair_table()[i].key[0] = '\0';
        }
    }
}

apr_uint64_t aop_shm_generation(int fleet)
{
    return hdr ? apr_atomic_read64(&hdr->fleet[fleet].generation) : 0;
}

apr_status_t aop_shm_publish_locked(int fleet, const char *doc, apr_size_t len,
                                    apr_uint64_t *gen)
{
    if (!hdr || fleet < 0 || fleet >= AOP_SHM_MAX_FLEETS) {
        return APR_EINVAL;
    }
    if (len >= hdr->doc_cap) {
        return APR_ENOSPC;
    }
    memcpy(doc_area(fleet), doc, len);
    doc_area(fleet)[len] = '\0';
    hdr->fleet[fleet].len = (apr_uint32_t)len;
    *gen = apr_atomic_inc64(&hdr->fleet[fleet].generation) + 1;
    return APR_SUCCESS;
}

char *aop_shm_read_doc(apr_pool_t *p, int fleet, apr_uint64_t *gen)
{
    char *doc;

    if (!hdr || fleet < 0 || fleet >= AOP_SHM_MAX_FLEETS) {
        return NULL;
    }
    aop_shm_lock();
    *gen = hdr->fleet[fleet].generation;
    doc = hdr->fleet[fleet].len ? apr_pstrmemdup(p, doc_area(fleet), hdr->fleet[fleet].len)
                                : NULL;
    aop_shm_unlock();
    return doc;
}

/* ------------------------------------------------------------------ set-up */

static int fits(apr_shm_t *shm, apr_uint32_t icap, apr_uint32_t mcap, apr_uint32_t pcap,
                apr_uint32_t dcap, apr_uint32_t rcap)
{
    shm_header_t *h = shm ? apr_shm_baseaddr_get(shm) : NULL;

    return h && h->magic == SHM_MAGIC && h->layout == LAYOUT && h->inst_cap >= icap
           && h->model_cap >= mcap && h->pair_cap >= pcap && h->doc_cap >= dcap
           && h->resv_cap >= rcap;
}

/* A reservation lives from a pick to the end of the handler that made it: at most
 * one per worker thread the MPM can ever run. */
static apr_uint32_t reservations_capacity(void)
{
    int daemons = 0, threads = 0;

    if (ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &daemons) != APR_SUCCESS || daemons < 1) {
        daemons = 256;
    }
    if (ap_mpm_query(AP_MPMQ_HARD_LIMIT_THREADS, &threads) != APR_SUCCESS || threads < 1) {
        threads = 1;
    }
    return (apr_uint32_t)daemons * (apr_uint32_t)threads + SHM_MIN_SLOTS;
}

/* Room for twice what the configuration names, or for what it names plus the
 * instances the API may add (AOProxyInstanceGrowth), at least SHM_MIN_SLOTS. */
static apr_uint32_t capacity(apr_uint32_t n, apr_uint32_t growth)
{
    apr_uint32_t c = n * 2 > n + growth ? n * 2 : n + growth;

    return c > SHM_MIN_SLOTS ? c : SHM_MIN_SLOTS;
}

apr_status_t aop_shm_setup(apr_pool_t *pconf, server_rec *s, apr_uint32_t ninst,
                           apr_uint32_t nmodels, apr_uint32_t npairs, apr_uint32_t growth)
{
    retained_t *kept = ap_retained_data_get("mod_aoproxy_shm");
    apr_uint32_t icap = capacity(ninst, growth), mcap = capacity(nmodels, growth * 4);
    apr_uint32_t pcap = capacity(npairs, growth * 8);
    /* A stored instance takes well under 2 KiB of JSON; the rest is headroom. */
    apr_uint32_t dcap = 64 * 1024 + icap * 4096;
    apr_uint32_t rcap = reservations_capacity();
    apr_status_t rv;

    if (!kept) {
        kept = ap_retained_data_create("mod_aoproxy_shm", sizeof(*kept));
    }
    if (!fits(kept->shm, icap, mcap, pcap, dcap, rcap)) {
        /* The old segment (if any) stays mapped for children still finishing
         * requests; it is released when the server stops. */
        apr_size_t size = segment_size(icap, mcap, pcap, dcap, rcap);

        rv = apr_shm_create(&kept->shm, size, NULL, s->process->pool);
        if (rv != APR_SUCCESS) {
            kept->shm = NULL;
            return rv;
        }
        hdr = apr_shm_baseaddr_get(kept->shm);
        /* No memset: an anonymous segment (mmap MAP_SHARED|MAP_ANONYMOUS) comes
         * zero-filled, and pages no instance touches (the spare capacity, the rings
         * of quiet instances) then cost no memory at all. */
        hdr->magic = SHM_MAGIC;
        hdr->layout = LAYOUT;
        hdr->inst_cap = icap;
        hdr->model_cap = mcap;
        hdr->pair_cap = pcap;
        hdr->doc_cap = dcap;
        hdr->resv_cap = rcap;
        aop_resv_init(resv_table(), rcap);
        hdr->overall.since = apr_time_now();
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, AOPLOGNO(00050) "shared memory: %"
                     APR_SIZE_T_FMT " bytes for %u instances, %u models, %u pairs",
                     size, icap, mcap, pcap);
    }
    hdr = apr_shm_baseaddr_get(kept->shm);
    return APR_SUCCESS;
}

void aop_shm_reset(void)
{
    hdr = NULL;
    my_pid = 0;                      /* the parent asks getpid() */
}

void aop_shm_child_init(void)
{
    my_pid = (apr_uint32_t)getpid();
}
