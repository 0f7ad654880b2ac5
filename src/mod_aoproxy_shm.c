/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <apr_atomic.h>
#include <apr_shm.h>
#include <apr_strings.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif
#include <time.h>
#include <unistd.h>

#include <http_core.h>
#include <ap_mpm.h>

#include "aop_slots.h"
#include "mod_aoproxy_private.h"
#include "mod_aoproxy_config.h"
#include "mod_aoproxy_fleets.h"
#include "mod_aoproxy_shm.h"

#define SHM_MAGIC 0x414f5053u        /* "AOPS" */
#define SHM_MIN_SLOTS 64
/* Bytes of a fleet's document an instance may take (doc_capacity), and the most a
 * document may have. */
#define SHM_DOC_PER_INSTANCE 16384
#define SHM_DOC_MAX 0xF0000000u

/* A fleet's live document: the effective instances every process builds its view
 * from (mod_aoproxy_view.c), and the generation that tells a process its view is old. */
typedef struct shm_fleet_t {
    volatile apr_uint64_t generation;
    apr_uint32_t len;
    volatile apr_uint32_t seq;       /* odd while the document is being written */
} shm_fleet_t;

/* An (instance, model) pair's name, "instance\tmodel": in a table of its own, apart
 * from the pair's counters, so that finding the pairs in use reads a few pages. */
typedef struct shm_pair_key_t {
    char key[AOP_NAME_MAX + 1 + AOP_SHM_MODEL_MAX + 1];
} shm_pair_key_t;

typedef struct shm_header_t {
    apr_uint32_t magic;
    apr_uint32_t layout;             /* changes whenever a record's size does */
    apr_uint32_t inst_cap;
    apr_uint32_t model_cap;
    apr_uint32_t pair_cap;
    apr_uint32_t doc_cap;            /* bytes per fleet document */
    apr_uint32_t doc_count;          /* fleet documents: the fleets configured */
    apr_uint32_t resv_cap;           /* token reservations in flight (aop_resv.h) */
    apr_uint32_t lock_takeovers;     /* locks taken from a stopped or stuck holder */
    /* Slots at or past a table's high-water mark were never named: still zero as
     * the segment came, so claiming one writes its name alone and the megabytes of
     * statistics behind it stay untouched until traffic comes. */
    apr_uint32_t inst_hwm;
    apr_uint32_t model_hwm;
    apr_uint32_t pair_hwm;
    /* Writes of names in the three tables, counted after each (aop_slots.h): a
     * mapping planned without the lock is applied under it only if none came since. */
    volatile apr_uint32_t names_seq;
    apr_uint64_t lock;               /* 0: free; else holder's pid << 32 | a sequence */
    apr_size_t off_ring, off_model, off_pair_key, off_pair, off_credit, off_doc, off_resv;
    shm_fleet_t fleet[AOP_SHM_MAX_FLEETS];
    aop_shm_overall_t overall;
} shm_header_t;

/* Survives graceful restarts (ap_retained_data): the statistics and budgets of the
 * last generation are still there for the next. */
typedef struct retained_t {
    apr_shm_t *shm;
} retained_t;

static shm_header_t *hdr;
static apr_size_t segment_size;      /* hdr's bytes */

/* Bumped when records change order without changing size.  4: pair names and
 * rotation credits in tables of their own, documents only for the fleets there are,
 * high-water marks.  5: a pair's cooldown, circuit and windows; an instance's
 * request window; a reservation's pair.  7: the content filter's kind and count in
 * every tally.  8: the header's count of name writes (names_seq).  9: the lock word's
 * LOCK_WAITERS bit (a waiter asleep on it). */
#define LAYOUT_REVISION 9
#define LAYOUT ((apr_uint32_t)(sizeof(aop_shm_inst_t) * 7 + sizeof(aop_shm_model_t) * 3 \
                               + sizeof(aop_shm_pair_t) + sizeof(shm_header_t) \
                               + sizeof(shm_pair_key_t) * 13 \
                               + sizeof(aop_stats_ring_t) * 5 \
                               + sizeof(aop_resv_rec_t) * 11 \
                               + LAYOUT_REVISION * 65536))

static void *at(apr_size_t off)
{
    return (char *)hdr + off;
}

static aop_shm_inst_t *inst_table(void)
{
    return at(APR_ALIGN_DEFAULT(sizeof(*hdr)));
}

/* Parallel to the instance table. */
static aop_stats_ring_t *ring_table(void)
{
    return at(hdr->off_ring);
}

static aop_shm_model_t *model_table(void)
{
    return at(hdr->off_model);
}

static shm_pair_key_t *pair_key_table(void)
{
    return at(hdr->off_pair_key);
}

/* Parallel to the pair keys: counters, and each pair's smooth weighted round-robin
 * credit in its model's rotation. */
static aop_shm_pair_t *pair_table(void)
{
    return at(hdr->off_pair);
}

static apr_int64_t *credit_table(void)
{
    return at(hdr->off_credit);
}

static char *doc_area(int fleet)
{
    return (char *)at(hdr->off_doc) + (apr_size_t)fleet * hdr->doc_cap;
}

static aop_resv_table_t *resv_table(void)
{
    return at(hdr->off_resv);
}

/* Sets the tables' offsets in h; returns the segment's size. */
static apr_size_t lay_out(shm_header_t *h)
{
    apr_size_t off = APR_ALIGN_DEFAULT(sizeof(*h)) + sizeof(aop_shm_inst_t) * h->inst_cap;

    h->off_ring = off = APR_ALIGN_DEFAULT(off);
    off += sizeof(aop_stats_ring_t) * h->inst_cap;
    h->off_model = off = APR_ALIGN_DEFAULT(off);
    off += sizeof(aop_shm_model_t) * h->model_cap;
    h->off_pair_key = off = APR_ALIGN_DEFAULT(off);
    off += sizeof(shm_pair_key_t) * h->pair_cap;
    h->off_pair = off = APR_ALIGN_DEFAULT(off);
    off += sizeof(aop_shm_pair_t) * h->pair_cap;
    h->off_credit = off = APR_ALIGN_DEFAULT(off);
    off += sizeof(apr_int64_t) * h->pair_cap;
    h->off_doc = off = APR_ALIGN_DEFAULT(off);
    off += (apr_size_t)h->doc_cap * h->doc_count;
    h->off_resv = off = APR_ALIGN_DEFAULT(off);
    return off + aop_resv_size(h->resv_cap);
}

/* The state lock lives in the segment itself.  What it guards are a few dozen loads
 * and stores (a pick, a reservation, counters), far shorter than a sleep: an APR
 * global mutex (a robust, priority-inheriting pthread mutex plus a thread mutex)
 * made every contended acquisition a pair of system calls, measured at a tenth of
 * the proxy's throughput.  A waiter spins briefly, for a holder running on another
 * core.
 *
 * Then it sleeps on a futex until the holder's unlock wakes it.  A holder can be
 * preempted inside: its time slice ends there, on two cores shared by sixty threads.
 * Waiters that yielded the CPU instead of sleeping stayed runnable, and as they use
 * almost no CPU time the scheduler kept choosing them over the holder, whose slice
 * had just run out: 0.28 % of the acquisitions waited over 5 ms, up to 35 ms, and
 * mod_aoproxy's p99 at saturation was 2.5 x plain mod_proxy's.  Asleep, they leave
 * the CPU to the holder.  A waiter asks to be woken by setting LOCK_WAITERS in the
 * lock word; the unlock that finds it set wakes one; the one woken takes the lock
 * with the bit set again, for the others still asleep.
 *
 * No holder can stall the others for long.  A waiter wakes every LOCK_NAP to look;
 * one that has waited LOCK_ASK asks about the holder: gone (a crash) or stopped
 * (SIGSTOP, a debugger: state T or t in /proc), and the lock is taken over at once;
 * after LOCK_MAX_WAIT it is taken over whatever the holder is doing (swapped out,
 * starved).  A holder that resumes after a takeover finishes the few stores it was
 * making beside the new holder's (at worst a counter off by one request's numbers)
 * and its unlock, which only releases the lock it took, changes nothing.  The lock
 * word is the holder's process id and a per-acquisition number, so that a stale
 * unlock never releases a later acquisition by another thread of the same process. */
#define SPINS_BEFORE_SLEEP 100
#define LOCK_NAP_NS 2000000L
#define LOCK_ASK apr_time_from_msec(5)
#define LOCK_MAX_WAIT apr_time_from_msec(250)
#define LOCK_WAITERS ((apr_uint64_t)1 << 31)   /* the sequence's top bit */

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("pause");
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* The futex is the lock word's half that holds the sequence and LOCK_WAITERS: it
 * changes with every acquisition and release. */
static apr_uint32_t *lock_futex(void)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return (apr_uint32_t *)&hdr->lock + 1;
#else
    return (apr_uint32_t *)&hdr->lock;
#endif
}

/* Sleeps while the futex still says `word` (LOCK_NAP at most).  A shared futex, not
 * a private one: the waiters are in several processes. */
static void lock_sleep(apr_uint64_t word)
{
#ifdef __linux__
    struct timespec nap = { 0, LOCK_NAP_NS };

    syscall(SYS_futex, lock_futex(), FUTEX_WAIT, (apr_uint32_t)word, &nap, NULL, 0);
#else
    (void)word;
    sched_yield();
#endif
}

static void lock_wake_one(void)
{
#ifdef __linux__
    syscall(SYS_futex, lock_futex(), FUTEX_WAKE, 1, NULL, NULL, 0);
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
    apr_uint64_t token = ((apr_uint64_t)me << 32)
                         | (apr_atomic_inc32(&lock_seq) & (LOCK_WAITERS - 1));
    apr_uint64_t word, waiters = 0;  /* LOCK_WAITERS once this one slept */
    apr_time_t started = 0;
    unsigned spins = 0;

    if (!hdr) {
        return APR_SUCCESS;
    }
    for (;;) {
        word = 0;
        if (__atomic_compare_exchange_n(&hdr->lock, &word, token | waiters, 0,
                                        __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
            break;
        }
        if (++spins < SPINS_BEFORE_SLEEP) {
            cpu_relax();
            continue;
        }
        if (!started) {
            started = apr_time_now();
        }
        else if (may_take_over(word, me, apr_time_now() - started)
                 && __atomic_compare_exchange_n(&hdr->lock, &word,
                                                token | (word & LOCK_WAITERS), 0,
                                                __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
            hdr->lock_takeovers++;
            break;
        }
        /* Asks the holder's unlock to wake a sleeper; a word that changed meanwhile
         * is looked at again. */
        if (!(word & LOCK_WAITERS)
            && !__atomic_compare_exchange_n(&hdr->lock, &word, word | LOCK_WAITERS, 0,
                                            __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            continue;
        }
        lock_sleep(word | LOCK_WAITERS);
        waiters = LOCK_WAITERS;
    }
    held_token = token;
    return APR_SUCCESS;
}

void aop_shm_unlock(void)
{
    apr_uint64_t mine = held_token, word;

    held_token = 0;
    if (!hdr || !mine) {
        return;
    }
    word = __atomic_load_n(&hdr->lock, __ATOMIC_RELAXED);
    /* Only the acquisition this thread made (not one taken over from it since). */
    while ((word & ~LOCK_WAITERS) == mine) {
        if (__atomic_compare_exchange_n(&hdr->lock, &word, 0, 0, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED)) {
            if (word & LOCK_WAITERS) {
                lock_wake_one();
            }
            return;
        }
    }
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

int aop_shm_pair_slot_at(const aop_shm_map_t *map, int idx, int i)
{
    return hdr && map && i >= 0 && map->pair_slot[idx] ? map->pair_slot[idx][i] : -1;
}

int aop_shm_pair_slot_of(const aop_shm_map_t *map, const aop_instance_t *inst, int idx,
                         const char *model)
{
    return aop_shm_pair_slot_at(map, idx, aop_instance_model_index(inst, model));
}

aop_shm_pair_t *aop_shm_pair_slot(int slot)
{
    return hdr && slot >= 0 && (apr_uint32_t)slot < hdr->pair_cap ? pair_table() + slot : NULL;
}

aop_shm_pair_t *aop_shm_pair(const aop_shm_map_t *map, const aop_instance_t *inst, int idx,
                             const char *model)
{
    return aop_shm_pair_slot(aop_shm_pair_slot_of(map, inst, idx, model));
}

const int *aop_shm_route_credits(const aop_shm_map_t *map, const char *model)
{
    return hdr && map && map->route_credit
           ? apr_hash_get(map->route_credit, model, APR_HASH_KEY_STRING) : NULL;
}

apr_int64_t *aop_shm_credits(void)
{
    return hdr ? credit_table() : NULL;
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
    for (i = 0; i < hdr->inst_hwm; i++) {      /* past the mark: never counted */
        aop_stats_reset(ring_table() + i);
    }
    for (i = 0; i < hdr->pair_hwm; i++) {
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

/* A table's slots and names, for aop_slots. */
static aop_slot_table_t *slot_table(apr_pool_t *p, char *first_name, apr_size_t stride,
                                    apr_size_t name_size, apr_uint32_t cap, apr_uint32_t *hwm)
{
    aop_slot_table_t *t = apr_pcalloc(p, sizeof(*t));

    t->base = first_name;
    t->stride = stride;
    t->name_size = name_size;
    t->cap = cap;
    t->hwm = hwm;
    return t;
}

/* A record a plan claimed fresh or starts anew. */
typedef struct todo_t {
    int slot;
    int fresh, dirty, reset;
    const char *name;
} todo_t;

/* A mapping planned (aop_shm_map_plan) and what applying it writes: the slots are
 * decided, only the records claimed or starting anew are touched under the lock. */
struct aop_shm_plan_t {
    aop_shm_map_t *map;
    const aop_route_table_t *routes;
    aop_slots_t *inst, *model, *pair;
    apr_uint32_t seen;               /* names written, as the plan read the tables */
    apr_array_header_t *inst_todo, *model_todo, *pair_todo;    /* todo_t */
    apr_hash_t *reset;
    apr_hash_t *restarted;           /* models whose rotation starts over */
};

static void todo(apr_array_header_t *list, int slot, int fresh, int dirty, int reset,
                 const char *name)
{
    todo_t *t = apr_array_push(list);

    t->slot = slot;
    t->fresh = fresh;
    t->dirty = dirty;
    t->reset = reset;
    t->name = name;
}

/* A slot for inst (found by name, else claimed). */
static int plan_instance(apr_pool_t *p, aop_shm_plan_t *m, const aop_instance_t *inst)
{
    int fresh, dirty, slot = aop_slots_claim(p, m->inst, inst->name, &fresh, &dirty);
    int reset = m->reset && apr_hash_get(m->reset, inst->name, APR_HASH_KEY_STRING);

    if (slot >= 0 && (fresh || reset)) {
        todo(m->inst_todo, slot, fresh, dirty, reset, inst->name);
    }
    return slot;
}

/* A model's rotation state is positional over its candidates: when they change, it
 * starts over (its cursor here, its credits in its pairs: restart_credits). */
static int plan_model(apr_pool_t *p, aop_shm_plan_t *m, const char *model)
{
    char key[AOP_SHM_MODEL_MAX + 1];
    int fresh, dirty, slot;

    apr_cpystrn(key, model, sizeof(key));
    if ((slot = aop_slots_claim(p, m->model, key, &fresh, &dirty)) < 0) {
        return -1;
    }
    if (fresh || (m->reset && apr_hash_get(m->reset, model, APR_HASH_KEY_STRING))) {
        todo(m->model_todo, slot, fresh, dirty, 1, apr_pstrdup(p, key));
        apr_hash_set(m->restarted, model, APR_HASH_KEY_STRING, "");
    }
    return slot;
}

/* A pair's counters survive restarts like the instance's; new ones start at zero. */
static int plan_pair(apr_pool_t *p, aop_shm_plan_t *m, const char *inst, const char *model)
{
    char key[sizeof(((shm_pair_key_t *)0)->key)];
    int fresh, dirty, slot;

    apr_cpystrn(key, apr_pstrcat(p, inst, "\t", model, NULL), sizeof(key));
    slot = aop_slots_claim(p, m->pair, key, &fresh, &dirty);
    if (slot >= 0 && fresh) {
        todo(m->pair_todo, slot, fresh, dirty, 0, NULL);
    }
    return slot;
}

static int plan_pairs(apr_pool_t *p, aop_shm_plan_t *m, int idx, const aop_instance_t *inst)
{
    int j;

    m->map->pair_slot[idx] = apr_pcalloc(p, sizeof(int) * (inst->supported_models->nelts + 1));
    for (j = 0; j < inst->supported_models->nelts; j++) {
        m->map->pair_slot[idx][j] = plan_pair(p, m, inst->name,
                                              APR_ARRAY_IDX(inst->supported_models, j,
                                                            const char *));
        if (m->map->pair_slot[idx][j] < 0) {
            return -1;
        }
    }
    return 0;
}

aop_shm_map_t *aop_shm_map_make(apr_pool_t *p, int ninst)
{
    aop_shm_map_t *map = apr_pcalloc(p, sizeof(*map));

    map->inst_slot = apr_pcalloc(p, sizeof(int) * (ninst + 1));
    map->pair_slot = apr_pcalloc(p, sizeof(int *) * (ninst + 1));
    map->model_slot = apr_hash_make(p);
    return map;
}

void aop_shm_map_routes(apr_pool_t *p, aop_shm_map_t *map, const aop_config_t *cfg,
                        const aop_route_table_t *routes)
{
    int i, k, j;

    map->route_credit = apr_hash_make(p);
    for (i = 0; i < routes->models->nelts; i++) {
        const char *model = APR_ARRAY_IDX(routes->models, i, const char *);
        const apr_array_header_t *c = aop_route_candidates(routes, model);
        int *credit = apr_pcalloc(p, sizeof(int) * (c->nelts + 1));

        for (k = 0; k < c->nelts; k++) {
            int idx = APR_ARRAY_IDX(c, k, int);
            const aop_instance_t *inst = APR_ARRAY_IDX(cfg->instances, idx, aop_instance_t *);

            credit[k] = -1;
            for (j = 0; j < inst->supported_models->nelts; j++) {
                if (!strcmp(APR_ARRAY_IDX(inst->supported_models, j, const char *), model)) {
                    credit[k] = map->pair_slot[idx][j];
                    break;
                }
            }
        }
        apr_hash_set(map->route_credit, model, APR_HASH_KEY_STRING, credit);
    }
}

int aop_shm_map_valid(const aop_shm_map_t *map, const aop_config_t *cfg)
{
    apr_hash_index_t *hi;
    apr_pool_t *p = cfg->instances->pool;
    int i, j;

    if (!hdr) {
        return 0;
    }
    for (i = 0; i < cfg->instances->nelts; i++) {
        const aop_instance_t *inst = APR_ARRAY_IDX(cfg->instances, i, aop_instance_t *);

        if (map->inst_slot[i] < 0 || (apr_uint32_t)map->inst_slot[i] >= hdr->inst_cap
            || !map->pair_slot[i]) {
            return 0;
        }
        for (j = 0; j < inst->supported_models->nelts; j++) {
            if (map->pair_slot[i][j] < 0 || (apr_uint32_t)map->pair_slot[i][j] >= hdr->pair_cap) {
                return 0;
            }
        }
    }
    for (hi = apr_hash_first(p, map->model_slot); hi; hi = apr_hash_next(hi)) {
        const int *slot = apr_hash_this_val(hi);

        if (*slot < 0 || (apr_uint32_t)*slot >= hdr->model_cap) {
            return 0;
        }
    }
    return 1;
}

/* Zeroes the credits of the models whose rotation starts over. */
static void restart_credits(const aop_shm_map_t *map, const aop_route_table_t *routes,
                            apr_hash_t *restarted)
{
    int i, k;

    for (i = 0; i < routes->models->nelts; i++) {
        const char *model = APR_ARRAY_IDX(routes->models, i, const char *);
        const int *credit = apr_hash_get(map->route_credit, model, APR_HASH_KEY_STRING);
        int n = aop_route_candidates(routes, model)->nelts;

        for (k = 0; credit && apr_hash_get(restarted, model, APR_HASH_KEY_STRING) && k < n; k++) {
            if (credit[k] >= 0) {
                credit_table()[credit[k]] = 0;
            }
        }
    }
}

static apr_hash_t *name_set(apr_pool_t *p, const apr_array_header_t *names)
{
    apr_hash_t *set = apr_hash_make(p);
    int k;

    for (k = 0; names && k < names->nelts; k++) {
        apr_hash_set(set, APR_ARRAY_IDX(names, k, const char *), APR_HASH_KEY_STRING, "");
    }
    return set;
}

/* The tables' names as they are, the plan's own picture of them. */
static void plan_read(apr_pool_t *p, aop_shm_plan_t *m, apr_hash_t *wanted,
                      const apr_array_header_t *removed)
{
    apr_hash_t *gone = removed && removed->nelts ? name_set(p, removed) : NULL;

    /* Before the names: a write after it is one apply_locked sees. */
    m->seen = aop_slots_seq(&hdr->names_seq);
    /* A removed instance's slot and its pairs' are nameless from now on. */
    m->inst = aop_slots_read(p, slot_table(p, inst_table()->name, sizeof(aop_shm_inst_t),
                                           sizeof(inst_table()->name), hdr->inst_cap,
                                           &hdr->inst_hwm), wanted, gone, 0);
    m->model = aop_slots_read(p, slot_table(p, model_table()->model, sizeof(aop_shm_model_t),
                                            sizeof(model_table()->model), hdr->model_cap,
                                            &hdr->model_hwm), wanted, NULL, 0);
    m->pair = aop_slots_read(p, slot_table(p, pair_key_table()->key, sizeof(shm_pair_key_t),
                                           sizeof(pair_key_table()->key), hdr->pair_cap,
                                           &hdr->pair_hwm), wanted, gone, '\t');
}

aop_shm_plan_t *aop_shm_map_plan(apr_pool_t *p, const aop_config_t *cfg,
                                 const aop_route_table_t *routes, apr_hash_t *wanted,
                                 apr_hash_t *reset, const apr_array_header_t *removed)
{
    aop_shm_plan_t *m;
    int i;

    if (!hdr) {
        return NULL;
    }
    m = apr_pcalloc(p, sizeof(*m));
    m->routes = routes;
    m->reset = reset;
    m->restarted = apr_hash_make(p);
    m->inst_todo = apr_array_make(p, 4, sizeof(todo_t));
    m->model_todo = apr_array_make(p, 4, sizeof(todo_t));
    m->pair_todo = apr_array_make(p, 4, sizeof(todo_t));
    /* wanted NULL: every name in use now is wanted (claims free slots only). */
    plan_read(p, m, wanted, removed);
    m->map = aop_shm_map_make(p, cfg->instances->nelts);
    for (i = 0; i < cfg->instances->nelts; i++) {
        const aop_instance_t *inst = APR_ARRAY_IDX(cfg->instances, i, aop_instance_t *);

        if ((m->map->inst_slot[i] = plan_instance(p, m, inst)) < 0
            || plan_pairs(p, m, i, inst) < 0) {
            return NULL;
        }
    }
    for (i = 0; i < routes->models->nelts; i++) {
        const char *model = APR_ARRAY_IDX(routes->models, i, const char *);
        int *slot = apr_palloc(p, sizeof(int));

        if ((*slot = plan_model(p, m, model)) < 0) {
            return NULL;
        }
        apr_hash_set(m->map->model_slot, model, APR_HASH_KEY_STRING, slot);
    }
    aop_shm_map_routes(p, m->map, cfg, routes);
    return m;
}

/* Health judgements of an instance in reset start anew (a reload or an API change
 * may have fixed its key or a deployment); budgets and Azure's cooldowns are facts
 * and stay.  A record claimed fresh starts empty (its name is written after). */
static void begin_instance(const todo_t *t)
{
    aop_shm_inst_t *si = inst_table() + t->slot;

    if (t->fresh) {
        memset(si, 0, sizeof(*si));
        if (t->dirty) {
            aop_stats_reset(ring_table() + t->slot);
        }
        aop_tpm_init(&si->tpm);
    }
    if (t->reset) {
        si->unhealthy_until = 0;
        memset(si->missing_until, 0, sizeof(si->missing_until));
        si->missing_latest = 0;
    }
}

static void begin_pair(const todo_t *t)
{
    if (t->dirty) {
        memset(pair_table() + t->slot, 0, sizeof(aop_shm_pair_t));
    }
    aop_tpm_init(&pair_table()[t->slot].tpm);
    credit_table()[t->slot] = 0;
}

/* A model's name comes first in its record (what begin_model keeps). */
typedef char model_name_first[offsetof(aop_shm_model_t, model) == 0 ? 1 : -1];

static void begin_model(const todo_t *t)
{
    aop_shm_model_t *sm = model_table() + t->slot;

    if (t->fresh) {
        memset(sm, 0, sizeof(*sm));  /* its name: aop_slots_apply, which counts it */
        return;
    }
    /* The rotation alone starts over: the name stays in place, as a plan made
     * without the lock may be reading it (clearing and writing it back would be a
     * write of names no count tells it of). */
    memset((char *)sm + sizeof(sm->model), 0, sizeof(*sm) - sizeof(sm->model));
}

aop_shm_map_t *aop_shm_map_apply_locked(aop_shm_plan_t *m)
{
    int i;

    if (!hdr || !m || !aop_slots_unchanged(&hdr->names_seq, m->seen)) {
        return NULL;
    }
    for (i = 0; i < m->inst_todo->nelts; i++) {
        begin_instance(&APR_ARRAY_IDX(m->inst_todo, i, todo_t));
    }
    for (i = 0; i < m->pair_todo->nelts; i++) {
        begin_pair(&APR_ARRAY_IDX(m->pair_todo, i, todo_t));
    }
    for (i = 0; i < m->model_todo->nelts; i++) {
        begin_model(&APR_ARRAY_IDX(m->model_todo, i, todo_t));
    }
    aop_slots_apply(m->inst, &hdr->names_seq);
    aop_slots_apply(m->model, &hdr->names_seq);
    aop_slots_apply(m->pair, &hdr->names_seq);
    restart_credits(m->map, m->routes, m->restarted);
    return m->map;
}

aop_shm_map_t *aop_shm_map_locked(apr_pool_t *p, const aop_config_t *cfg,
                                  const aop_route_table_t *routes, apr_hash_t *wanted,
                                  apr_hash_t *reset, const apr_array_header_t *removed)
{
    return aop_shm_map_apply_locked(aop_shm_map_plan(p, cfg, routes, wanted, reset, removed));
}

apr_uint64_t aop_shm_generation(int fleet)
{
    return hdr ? apr_atomic_read64(&hdr->fleet[fleet].generation) : 0;
}

/* The document's sequence is its writers' lock too: a writer makes it odd from even
 * (changes are one at a time already, through the admin mutex; this keeps a parent
 * publishing at a graceful restart and an old child's change apart).  Not the
 * shared-state lock: copying megabytes under it held every pick in every process
 * for milliseconds (2 ms at 5000 instances). */
static apr_uint32_t doc_write_begin(shm_fleet_t *f)
{
    apr_uint32_t s;

    for (;;) {
        s = __atomic_load_n(&f->seq, __ATOMIC_RELAXED);
        if (!(s & 1) && __atomic_compare_exchange_n(&f->seq, &s, s + 1, 0, __ATOMIC_ACQ_REL,
                                                    __ATOMIC_RELAXED)) {
            return s;
        }
        sched_yield();
    }
}

apr_status_t aop_shm_publish(int fleet, const char *doc, apr_size_t len, apr_uint64_t *gen)
{
    shm_fleet_t *f;
    apr_uint32_t s;

    if (!hdr || fleet < 0 || (apr_uint32_t)fleet >= hdr->doc_count) {
        return APR_EINVAL;
    }
    if (len >= hdr->doc_cap) {
        return APR_ENOSPC;
    }
    f = &hdr->fleet[fleet];
    s = doc_write_begin(f);
    memcpy(doc_area(fleet), doc, len);
    doc_area(fleet)[len] = '\0';
    f->len = (apr_uint32_t)len;
    __atomic_store_n(&f->seq, s + 2, __ATOMIC_RELEASE);
    *gen = apr_atomic_inc64(&f->generation) + 1;
    return APR_SUCCESS;
}

/* A sequence lock: megabytes of document copied under the shared-state lock held
 * every pick in every process for milliseconds; a reader reads without it and
 * reads again if a writer came in between (writers are rare: changes). */
int aop_shm_read_doc_with(int fleet, apr_uint64_t *gen, aop_shm_doc_reader_fn *reader,
                          void *baton)
{
    shm_fleet_t *f;
    apr_uint32_t before, len;
    int got;

    if (!hdr || fleet < 0 || (apr_uint32_t)fleet >= hdr->doc_count) {
        return 0;
    }
    f = &hdr->fleet[fleet];
    for (;;) {
        before = __atomic_load_n(&f->seq, __ATOMIC_ACQUIRE);
        if (before & 1) {
            sched_yield();
            continue;
        }
        *gen = apr_atomic_read64(&f->generation);
        len = f->len < hdr->doc_cap ? f->len : 0;
        got = len && reader(doc_area(fleet), len, baton);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&f->seq, __ATOMIC_ACQUIRE) == before) {
            return got;
        }
    }
}

typedef struct {
    apr_pool_t *p;
    aop_shm_doc_prefix_fn *prefix;
    char *doc;
} copy_t;

static int copy_doc(const char *doc, apr_size_t len, void *baton)
{
    copy_t *c = baton;

    if (c->prefix) {
        apr_size_t want = c->prefix(doc, len);

        len = want && want < len ? want : len;
    }
    c->doc = apr_pstrmemdup(c->p, doc, len);
    return 1;
}

char *aop_shm_read_doc(apr_pool_t *p, int fleet, apr_uint64_t *gen,
                       aop_shm_doc_prefix_fn *prefix)
{
    copy_t c = { p, prefix, NULL };

    return aop_shm_read_doc_with(fleet, gen, copy_doc, &c) ? c.doc : NULL;
}

/* ------------------------------------------------------------------ set-up */

static int fits(apr_shm_t *shm, const shm_header_t *want)
{
    shm_header_t *h = shm ? apr_shm_baseaddr_get(shm) : NULL;

    return h && h->magic == SHM_MAGIC && h->layout == LAYOUT && h->inst_cap >= want->inst_cap
           && h->model_cap >= want->model_cap && h->pair_cap >= want->pair_cap
           && h->doc_cap >= want->doc_cap && h->doc_count >= want->doc_count
           && h->resv_cap >= want->resv_cap;
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

/* Room for what the configuration names plus the instances the API may add
 * (AOProxyInstanceGrowth), at least SHM_MIN_SLOTS.  A restart that renames instances
 * reuses the slots of names no fleet has any more (aop_publish_boot's wanted). */
static apr_uint32_t capacity(apr_uint32_t n, apr_uint32_t growth)
{
    apr_uint32_t c = n + growth;

    return c > SHM_MIN_SLOTS ? c : SHM_MIN_SLOTS;
}

static apr_uint32_t doc_capacity(apr_uint32_t inst_cap)
{
    apr_uint64_t bytes = 64 * 1024 + (apr_uint64_t)inst_cap * SHM_DOC_PER_INSTANCE;

    return bytes < SHM_DOC_MAX ? (apr_uint32_t)bytes : SHM_DOC_MAX;
}

apr_status_t aop_shm_setup(apr_pool_t *pconf, server_rec *s, apr_uint32_t ninst,
                           apr_uint32_t nmodels, apr_uint32_t npairs, apr_uint32_t growth)
{
    retained_t *kept = ap_retained_data_get("mod_aoproxy_shm");
    /* The header holds the overall ring: too big for a stack. */
    shm_header_t *want = apr_pcalloc(pconf, sizeof(*want));
    apr_status_t rv;

    want->inst_cap = capacity(ninst, growth);
    want->model_cap = capacity(nmodels, growth * 4);
    want->pair_cap = capacity(npairs, growth * 8);
    /* An instance takes a line of its effective record and one of its YAML layer,
     * 3 to 8 KiB together with every key of the schema and long file paths (10 000
     * block-style instances in a deep directory overflowed 4 KiB an instance).  The
     * budget is generous since untouched pages cost nothing but address space; it is
     * capped below 4 GiB, the field's range. */
    want->doc_cap = doc_capacity(want->inst_cap);
    want->doc_count = (apr_uint32_t)aop_fleets_count();
    want->resv_cap = reservations_capacity();
    if (!kept) {
        kept = ap_retained_data_create("mod_aoproxy_shm", sizeof(*kept));
    }
    if (!fits(kept->shm, want)) {
        /* The old segment (if any) stays mapped for children still finishing
         * requests; it is released when the server stops. */
        apr_size_t size = lay_out(want);

        rv = apr_shm_create(&kept->shm, size, NULL, s->process->pool);
        if (rv != APR_SUCCESS) {
            kept->shm = NULL;
            return rv;
        }
        hdr = apr_shm_baseaddr_get(kept->shm);
        /* No memset: an anonymous segment (mmap MAP_SHARED|MAP_ANONYMOUS) comes
         * zero-filled, and pages no instance touches (the spare capacity, the rings
         * of quiet instances) then cost no memory at all. */
        memcpy(hdr, want, sizeof(*want));
        hdr->magic = SHM_MAGIC;
        hdr->layout = LAYOUT;
        aop_resv_init(resv_table(), hdr->resv_cap);
        hdr->overall.since = apr_time_now();
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, AOPLOGNO(00050) "shared memory: %"
                     APR_SIZE_T_FMT " bytes for %u instances, %u models, %u pairs",
                     size, hdr->inst_cap, hdr->model_cap, hdr->pair_cap);
    }
    hdr = apr_shm_baseaddr_get(kept->shm);
    segment_size = apr_shm_size_get(kept->shm);
    return APR_SUCCESS;
}

void aop_shm_release_pages(void)
{
#ifdef __linux__
    long page = sysconf(_SC_PAGESIZE);
    apr_uintptr_t from, to;

    if (!hdr || page <= 0) {
        return;
    }
    /* Whole pages of the segment (APR's own bytes before hdr are shared too). */
    from = (apr_uintptr_t)hdr & ~(apr_uintptr_t)(page - 1);
    to = ((apr_uintptr_t)hdr + segment_size) & ~(apr_uintptr_t)(page - 1);
    if (to > from) {
        madvise((void *)from, to - from, MADV_DONTNEED);
    }
#endif
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
