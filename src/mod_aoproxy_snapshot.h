/* A consistent copy of the shared state a report needs, taken under the lock and
 * read at leisure afterwards (the lock is never held while JSON is built). */
#ifndef MOD_AOPROXY_SNAPSHOT_H
#define MOD_AOPROXY_SNAPSHOT_H

#include <httpd.h>

#include "mod_aoproxy_config.h"
#include "mod_aoproxy_health.h"
#include "mod_aoproxy_live.h"
#include "mod_aoproxy_shm.h"

typedef struct aop_snapshot_t {
    aop_live_t *live;
    apr_time_t now;
    apr_int64_t minute;
    int n;                           /* instances */
    aop_shm_inst_t *inst;            /* copies, parallel to cfg->instances */
    aop_counts_t **life;             /* [instance][i]: parallel to its supported_models */
    aop_shm_overall_t overall;
    aop_health_t *health;            /* judged over the main window */
} aop_snapshot_t;

aop_snapshot_t *aop_snapshot_take(apr_pool_t *p, aop_live_t *live);

/* An instance's (idx >= 0) or the overall (idx < 0) counts over the last minutes. */
void aop_snapshot_window(const aop_snapshot_t *snap, int idx, int minutes, aop_counts_t *out);

aop_health_e aop_snapshot_overall_health(const aop_snapshot_t *snap);

#endif
