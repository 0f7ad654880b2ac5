#include <apr_shm.h>
#include <apr_strings.h>
#include <apr_global_mutex.h>

#include <http_core.h>
#include <util_mutex.h>
#include <ap_mpm.h>

#include "mod_aoproxy_private.h"
#include "mod_aoproxy_config.h"
#include "mod_aoproxy_shm.h"

#define SHM_MAGIC 0x414f5053u        /* "AOPS" */
#define SHM_MIN_SLOTS 64

typedef struct shm_header_t {
    apr_uint32_t magic;
    apr_uint32_t layout;             /* changes whenever a record's size does */
    apr_uint32_t inst_cap;
    apr_uint32_t model_cap;
    apr_uint32_t pair_cap;
    aop_shm_overall_t overall;
} shm_header_t;

/* Survives graceful restarts (ap_retained_data): the statistics and budgets of the
 * last generation are still there for the next. */
typedef struct retained_t {
    apr_shm_t *shm;
} retained_t;

static shm_header_t *hdr;
static apr_global_mutex_t *mutex;

#define LAYOUT ((apr_uint32_t)(sizeof(aop_shm_inst_t) * 7 + sizeof(aop_shm_model_t) * 3 \
                               + sizeof(aop_shm_pair_t) + sizeof(shm_header_t)))

static aop_shm_inst_t *inst_table(void)
{
    return (aop_shm_inst_t *)((char *)hdr + APR_ALIGN_DEFAULT(sizeof(*hdr)));
}

static aop_shm_model_t *model_table(void)
{
    return (aop_shm_model_t *)(inst_table() + hdr->inst_cap);
}

static aop_shm_pair_t *pair_table(void)
{
    return (aop_shm_pair_t *)(model_table() + hdr->model_cap);
}

static apr_size_t segment_size(apr_uint32_t inst_cap, apr_uint32_t model_cap,
                               apr_uint32_t pair_cap)
{
    return APR_ALIGN_DEFAULT(sizeof(shm_header_t)) + sizeof(aop_shm_inst_t) * inst_cap
           + sizeof(aop_shm_model_t) * model_cap + sizeof(aop_shm_pair_t) * pair_cap;
}

apr_status_t aop_shm_lock(void)
{
    return mutex ? apr_global_mutex_lock(mutex) : APR_SUCCESS;
}

void aop_shm_unlock(void)
{
    if (mutex) {
        apr_global_mutex_unlock(mutex);
    }
}

aop_shm_inst_t *aop_shm_inst(const aop_shm_map_t *map, int idx)
{
    return hdr && map ? inst_table() + map->inst_slot[idx] : NULL;
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
        aop_stats_reset(&inst_table()[i].ring);
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

static int map_instance(const aop_instance_t *inst, apr_hash_t *wanted)
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
        apr_cpystrn(si->name, inst->name, sizeof(si->name));
        aop_tpm_init(&si->tpm);
    }
    /* A reload may have fixed a key or a deployment: health judgements start anew;
     * budgets and Azure's cooldowns are facts and stay. */
    si->unhealthy_until = 0;
    memset(si->missing_until, 0, sizeof(si->missing_until));
    si->missing_latest = 0;
    return slot;
}

static int map_model(const char *model, apr_hash_t *wanted)
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
    /* Candidate order may have changed with the configuration: rotation starts over. */
    memset(sm, 0, sizeof(*sm));
    apr_cpystrn(sm->model, key, sizeof(sm->model));
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

static aop_shm_map_t *map_config(apr_pool_t *p, const aop_config_t *cfg,
                                 const aop_route_table_t *routes, apr_hash_t *wanted)
{
    aop_shm_map_t *map = apr_pcalloc(p, sizeof(*map));
    int i;

    map->inst_slot = apr_pcalloc(p, sizeof(int) * (cfg->instances->nelts + 1));
    map->pair_slot = apr_pcalloc(p, sizeof(int *) * (cfg->instances->nelts + 1));
    map->model_slot = apr_hash_make(p);
    for (i = 0; i < cfg->instances->nelts; i++) {
        const aop_instance_t *inst = APR_ARRAY_IDX(cfg->instances, i, aop_instance_t *);

        if ((map->inst_slot[i] = map_instance(inst, wanted)) < 0
            || map_pairs(p, map, i, inst, wanted) < 0) {
            return NULL;
        }
    }
    for (i = 0; i < routes->models->nelts; i++) {
        const char *m = APR_ARRAY_IDX(routes->models, i, const char *);
        int *slot = apr_palloc(p, sizeof(int));

        if ((*slot = map_model(m, wanted)) < 0) {
            return NULL;
        }
        apr_hash_set(map->model_slot, m, APR_HASH_KEY_STRING, slot);
    }
    return map;
}

/* ------------------------------------------------------------------ set-up */

static void want_pairs(apr_pool_t *p, const aop_instance_t *inst, apr_hash_t *wanted,
                       apr_uint32_t *npairs)
{
    int j;

    for (j = 0; j < inst->supported_models->nelts; j++, (*npairs)++) {
        apr_hash_set(wanted, pair_key(p, inst->name, APR_ARRAY_IDX(inst->supported_models, j,
                                                                   const char *)),
                     APR_HASH_KEY_STRING, "");
    }
}

/* Names every configuration uses (instances, models, pairs), and how many. */
static void wanted_names(apr_pool_t *p, server_rec *s, apr_hash_t *wanted,
                         apr_uint32_t *ninst, apr_uint32_t *nmodels, apr_uint32_t *npairs)
{
    apr_hash_t *seen = apr_hash_make(p);
    int i;

    *ninst = *nmodels = *npairs = 0;
    for (; s; s = s->next) {
        aop_srv_conf_t *sc = aop_srv_conf(s);

        if (!sc->cfg || apr_hash_get(seen, &sc->cfg, sizeof(sc->cfg))) {
            continue;
        }
        apr_hash_set(seen, apr_pmemdup(p, &sc->cfg, sizeof(sc->cfg)), sizeof(sc->cfg), "");
        for (i = 0; i < sc->cfg->instances->nelts; i++, (*ninst)++) {
            const aop_instance_t *inst = APR_ARRAY_IDX(sc->cfg->instances, i, aop_instance_t *);

            apr_hash_set(wanted, inst->name, APR_HASH_KEY_STRING, "");
            want_pairs(p, inst, wanted, npairs);
        }
        for (i = 0; i < sc->routes->models->nelts; i++, (*nmodels)++) {
            apr_hash_set(wanted, APR_ARRAY_IDX(sc->routes->models, i, const char *),
                         APR_HASH_KEY_STRING, "");
        }
    }
}

static int fits(apr_shm_t *shm, apr_uint32_t ninst, apr_uint32_t nmodels, apr_uint32_t npairs)
{
    shm_header_t *h = shm ? apr_shm_baseaddr_get(shm) : NULL;

    return h && h->magic == SHM_MAGIC && h->layout == LAYOUT && h->inst_cap >= 2 * ninst
           && h->model_cap >= 2 * nmodels && h->pair_cap >= 2 * npairs;
}

/* Room for twice what the configuration names (at least SHM_MIN_SLOTS): instances
 * added later, or renamed, find a slot without a new segment. */
static apr_uint32_t capacity(apr_uint32_t n)
{
    return n * 2 > SHM_MIN_SLOTS ? n * 2 : SHM_MIN_SLOTS;
}

static apr_status_t attach(server_rec *s, apr_uint32_t ninst, apr_uint32_t nmodels,
                           apr_uint32_t npairs)
{
    retained_t *kept = ap_retained_data_get("mod_aoproxy_shm");
    apr_uint32_t icap = capacity(ninst), mcap = capacity(nmodels), pcap = capacity(npairs);
    apr_status_t rv;

    if (!kept) {
        kept = ap_retained_data_create("mod_aoproxy_shm", sizeof(*kept));
    }
    if (!fits(kept->shm, ninst, nmodels, npairs)) {
        /* The old segment (if any) stays mapped for children still finishing
         * requests; it is released when the server stops. */
        rv = apr_shm_create(&kept->shm, segment_size(icap, mcap, pcap), NULL,
                            s->process->pool);
        if (rv != APR_SUCCESS) {
            kept->shm = NULL;
            return rv;
        }
        hdr = apr_shm_baseaddr_get(kept->shm);
        memset(hdr, 0, segment_size(icap, mcap, pcap));
        hdr->magic = SHM_MAGIC;
        hdr->layout = LAYOUT;
        hdr->inst_cap = icap;
        hdr->model_cap = mcap;
        hdr->pair_cap = pcap;
        hdr->overall.since = apr_time_now();
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, AOPLOGNO(00050) "shared memory: %"
                     APR_SIZE_T_FMT " bytes for %u instances, %u models, %u pairs",
                     segment_size(icap, mcap, pcap), icap, mcap, pcap);
    }
    hdr = apr_shm_baseaddr_get(kept->shm);
    return APR_SUCCESS;
}

static int map_servers(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s,
                       apr_hash_t *wanted)
{
    apr_hash_t *done = apr_hash_make(ptemp);

    for (; s; s = s->next) {
        aop_srv_conf_t *sc = aop_srv_conf(s);

        if (!sc->cfg) {
            continue;
        }
        sc->shm_map = apr_hash_get(done, &sc->cfg, sizeof(sc->cfg));
        if (!sc->shm_map) {
            sc->shm_map = map_config(pconf, sc->cfg, sc->routes, wanted);
            if (!sc->shm_map) {
                return HTTP_INTERNAL_SERVER_ERROR;
            }
            apr_hash_set(done, apr_pmemdup(ptemp, &sc->cfg, sizeof(sc->cfg)),
                         sizeof(sc->cfg), sc->shm_map);
        }
    }
    return OK;
}

int aop_shm_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                        server_rec *s)
{
    apr_hash_t *wanted = apr_hash_make(ptemp);
    apr_uint32_t ninst, nmodels, npairs;
    apr_status_t rv;
    int rc;

    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;                   /* the first, trial run of start-up */
    }
    wanted_names(ptemp, s, wanted, &ninst, &nmodels, &npairs);
    if (ninst == 0) {
        return OK;
    }
    if ((rv = ap_global_mutex_create(&mutex, NULL, AOP_SHM_MUTEX_TYPE, NULL, s, pconf, 0))
        != APR_SUCCESS || (rv = attach(s, ninst, nmodels, npairs)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, AOPLOGNO(00051)
                     "cannot set up shared memory and its mutex");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    aop_shm_lock();
    rc = map_servers(pconf, ptemp, s, wanted);
    aop_shm_unlock();
    if (rc != OK) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, AOPLOGNO(00052)
                     "shared memory has no room for the configured instances");
    }
    return rc;
}

static int aop_shm_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    mutex = NULL;
    hdr = NULL;
    return ap_mutex_register(pconf, AOP_SHM_MUTEX_TYPE, NULL, APR_LOCK_DEFAULT, 0);
}

static void aop_shm_child_init(apr_pool_t *p, server_rec *s)
{
    apr_status_t rv;

    if (mutex && (rv = apr_global_mutex_child_init(&mutex, apr_global_mutex_lockfile(mutex),
                                                   p)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, AOPLOGNO(00053)
                     "cannot attach to the shared-memory mutex in this child");
    }
}

void aop_shm_register_hooks(apr_pool_t *p)
{
    ap_hook_pre_config(aop_shm_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(aop_shm_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(aop_shm_child_init, NULL, NULL, APR_HOOK_MIDDLE);
}
