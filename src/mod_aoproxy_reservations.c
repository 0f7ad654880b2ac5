/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <errno.h>
#include <signal.h>

#include "mod_aoproxy_private.h"
#include "mod_aoproxy_view.h"
#include "mod_aoproxy_reservations.h"
#include "mod_aoproxy_shm.h"

/* ------------------------------------------------------------------ a request's */

/* The deployment's window counts every request's tokens, with a limit of its own or
 * not, so that one set later by the API starts from the truth. */
void aop_reservation_take_locked(aop_req_t *ctx, int idx, apr_time_t now)
{
    aop_shm_inst_t *si = aop_shm_inst(ctx->view->shm_map, idx);
    aop_resv_table_t *table = aop_shm_reservations();
    int pair = aop_req_pair_slot(ctx, idx);

    if (si) {
        aop_tpm_reserve(&si->tpm, ctx->info.estimate);
        ctx->reserved_in = si;
        ctx->reserved_pair = aop_shm_pair_slot(pair);
        if (ctx->reserved_pair) {
            aop_tpm_reserve(&ctx->reserved_pair->tpm, ctx->info.estimate);
        }
        ctx->reserved = ctx->info.estimate;
        ctx->resv_span = aop_reservation_span(ctx);
        ctx->resv_tracked = 0;
        if (table) {
            ctx->ticket = aop_resv_claim(table, aop_shm_my_pid(),
                                         aop_shm_inst_slot_of(ctx->view->shm_map, idx),
                                         pair, ctx->reserved, now + ctx->resv_span);
            ctx->resv_tracked = ctx->ticket.idx >= 0;
        }
    }
}

void aop_reservation_release_locked(aop_req_t *ctx, apr_int64_t used)
{
    apr_int64_t held;

    if (!ctx->reserved_in) {
        return;
    }
    held = ctx->resv_tracked ? aop_resv_release(aop_shm_reservations(), &ctx->ticket)
                             : ctx->reserved;
    if (ctx->resv_tracked && held == 0 && ctx->reserved > 0) {
        /* The sweep gave it back already, counting the estimate as used. */
        used = used > ctx->reserved ? used - ctx->reserved : 0;
    }
    aop_tpm_commit(&ctx->reserved_in->tpm, held, used, apr_time_sec(apr_time_now()));
    if (ctx->reserved_pair) {
        aop_tpm_commit(&ctx->reserved_pair->tpm, held, used, apr_time_sec(apr_time_now()));
    }
    ctx->reserved_in = NULL;
    ctx->reserved_pair = NULL;
    ctx->reserved = 0;
    ctx->resv_tracked = 0;
}

void aop_reservation_release(aop_req_t *ctx, apr_int64_t used)
{
    if (ctx->reserved_in) {
        aop_shm_lock();
        aop_reservation_release_locked(ctx, used);
        aop_shm_unlock();
    }
}

apr_interval_time_t aop_reservation_span(const aop_req_t *ctx)
{
    return (apr_interval_time_t)(2 * ctx->view->cfg->timeout * APR_USEC_PER_SEC)
           + ctx->sc->connect_timeout.value + AOP_RESV_SLACK;
}

void aop_reservation_alive(aop_req_t *ctx, apr_time_t now)
{
    if (ctx->resv_tracked) {
        aop_resv_touch(aop_shm_reservations(), &ctx->ticket, now + ctx->resv_span);
    }
}

/* ------------------------------------------------------------------ the sweep */

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
static void give_back(void *baton, int slot, int pair, apr_int64_t tokens)
{
    aop_shm_inst_t *si = aop_shm_inst_slot(slot);
    aop_shm_pair_t *sp = aop_shm_pair_slot(pair);

    if (si) {
        aop_tpm_commit(&si->tpm, tokens, tokens, apr_time_sec(*(apr_time_t *)baton));
    }
    if (sp) {
        aop_tpm_commit(&sp->tpm, tokens, tokens, apr_time_sec(*(apr_time_t *)baton));
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

void aop_reservations_sweep(server_rec *s)
{
    aop_resv_table_t *table = aop_shm_reservations();
    aop_resv_stale_t stale[SWEEP_BATCH];
    apr_time_t now = apr_time_now();
    apr_uint64_t tokens_before;
    int found, done;

    if (!table) {
        return;
    }
    log_takeovers(s);
    if (!table->in_use) {
        return;
    }
    found = aop_resv_find_stale(table, now, alive, NULL, stale, SWEEP_BATCH);
    if (!found) {
        return;
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
}
