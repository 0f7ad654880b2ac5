#include <errno.h>
#include <signal.h>

#include <mpm_common.h>

#include "mod_aoproxy_private.h"
#include "mod_aoproxy_reservations.h"
#include "mod_aoproxy_shm.h"

/* Records looked at per sweep: a second's worth of stale ones is far below this,
 * and the next sweep takes the rest. */
#define SWEEP_BATCH 256

static apr_uint32_t takeovers_logged;

static int alive(void *baton, apr_uint32_t pid)
{
    return kill((pid_t)pid, 0) == 0 || errno != ESRCH;
}

/* Under the lock: the reservation goes, and its estimate counts as used in the
 * instance's window: the process may have had Azure spend it, and a budget must
 * rather hold than be exceeded. */
static void give_back(void *baton, int slot, apr_int64_t tokens)
{
    aop_shm_inst_t *si = aop_shm_inst_slot(slot);

    if (si) {
        aop_tpm_commit(&si->tpm, tokens, tokens, apr_time_sec(*(apr_time_t *)baton));
    }
}

static void log_takeovers(server_rec *s)
{
    apr_uint32_t n = aop_shm_lock_takeovers();

    if (n != takeovers_logged) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, AOPLOGNO(00111)
                     "the shared state's lock was taken from a stopped, stuck or vanished "
                     "process %u time(s) since the last report", n - takeovers_logged);
        takeovers_logged = n;
    }
}

static int aop_reservations_monitor(apr_pool_t *p, server_rec *s)
{
    aop_resv_table_t *table = aop_shm_reservations();
    aop_resv_stale_t stale[SWEEP_BATCH];
    apr_time_t now = apr_time_now();
    apr_uint64_t tokens_before;
    int found, done;

    if (!table) {
        return DECLINED;
    }
    log_takeovers(s);
    if (!table->in_use) {
        return DECLINED;
    }
    found = aop_resv_find_stale(table, now, alive, NULL, stale, SWEEP_BATCH);
    if (!found) {
        return DECLINED;
    }
    aop_shm_lock();
    tokens_before = table->reclaimed_tokens;
    done = aop_resv_reclaim(table, stale, found, now, give_back, &now);
    tokens_before = table->reclaimed_tokens - tokens_before;
    aop_shm_unlock();
    if (done) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, AOPLOGNO(00110)
                     "gave back %d token reservation(s) (%" APR_UINT64_T_FMT " tokens, "
                     "counted as used) of requests whose process ended or stalled",
                     done, tokens_before);
    }
    return DECLINED;
}

void aop_reservations_register_hooks(apr_pool_t *p)
{
    ap_hook_monitor(aop_reservations_monitor, NULL, NULL, APR_HOOK_MIDDLE);
}
