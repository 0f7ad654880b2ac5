#include <apr_strings.h>

#include "mod_aoproxy_private.h"
#include "mod_aoproxy_snapshot.h"

static void copy_instances(apr_pool_t *p, aop_snapshot_t *snap)
{
    const aop_config_t *cfg = snap->live->cfg;
    int i, j;

    for (i = 0; i < snap->n; i++) {
        const aop_instance_t *inst = APR_ARRAY_IDX(cfg->instances, i, aop_instance_t *);
        const aop_shm_inst_t *si = aop_shm_inst(snap->live->shm_map, i);
        int models = inst->supported_models->nelts;

        snap->life[i] = apr_pcalloc(p, sizeof(aop_counts_t) * (models + 1));
        if (!si) {
            continue;
        }
        snap->inst[i] = *si;
        for (j = 0; j < models; j++) {
            const aop_shm_pair_t *pair = aop_shm_pair(snap->live->shm_map, inst, i,
                                                      APR_ARRAY_IDX(inst->supported_models,
                                                                    j, const char *));
            if (pair) {
                snap->life[i][j] = pair->life;
            }
        }
    }
}

aop_snapshot_t *aop_snapshot_take(apr_pool_t *p, aop_live_t *live)
{
    aop_snapshot_t *snap = apr_pcalloc(p, sizeof(*snap));
    const aop_shm_overall_t *all;
    int i;

    snap->live = live;
    snap->n = live->cfg->instances->nelts;
    snap->inst = apr_pcalloc(p, sizeof(aop_shm_inst_t) * (snap->n + 1));
    snap->life = apr_pcalloc(p, sizeof(aop_counts_t *) * (snap->n + 1));
    snap->health = apr_pcalloc(p, sizeof(aop_health_t) * (snap->n + 1));
    aop_shm_lock();
    snap->now = apr_time_now();
    copy_instances(p, snap);
    if ((all = aop_shm_overall())) {
        snap->overall = *all;
    }
    aop_shm_unlock();
    snap->minute = apr_time_sec(snap->now) / 60;
    for (i = 0; i < snap->n; i++) {
        aop_counts_t window;

        aop_snapshot_window(snap, i, live->cfg->stats_window_minutes, &window);
        snap->health[i] = aop_health_of(p, live, i, &snap->inst[i], &window, snap->now);
    }
    return snap;
}

void aop_snapshot_window(const aop_snapshot_t *snap, int idx, int minutes, aop_counts_t *out)
{
    aop_stats_window(idx >= 0 ? &snap->inst[idx].ring : &snap->overall.ring, snap->minute,
                     minutes, out);
}

aop_health_e aop_snapshot_overall_health(const aop_snapshot_t *snap)
{
    aop_health_e each[AOP_SHM_MAX_CANDIDATES];
    int i, n = snap->n < AOP_SHM_MAX_CANDIDATES ? snap->n : AOP_SHM_MAX_CANDIDATES;

    for (i = 0; i < n; i++) {
        each[i] = snap->health[i].status;
    }
    return aop_health_overall(each, n, snap->live);
}
