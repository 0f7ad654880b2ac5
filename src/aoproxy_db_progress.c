/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* aoproxy-db's progress line.  It is redrawn only when the percentage changes, so a
 * forced --progress into a file stays short, and padded with blanks over the end of
 * a longer previous text instead of terminal escapes, which a file would keep. */
#include <stdio.h>
#include <string.h>

#include <apr_strings.h>
#include <sqlite3.h>

#include "aoproxy_db_progress.h"

struct aoproxy_db_progress_t {
    FILE *out;
    const char *cmd;
    char what[64];              /* the step on the current line; "" when none */
    int width;                  /* the current line's length */
    int pct;                    /* its percentage; -1 when it has none */
};

aoproxy_db_progress_t *aoproxy_db_progress_make(apr_pool_t *p, const char *cmd, int on)
{
    aoproxy_db_progress_t *pr;

    if (!on) {
        return NULL;
    }
    pr = apr_pcalloc(p, sizeof(*pr));
    pr->out = stderr;
    pr->cmd = cmd;
    pr->pct = -1;
    return pr;
}

void aoproxy_db_progress_end(aoproxy_db_progress_t *pr)
{
    if (pr && pr->what[0]) {
        fputc('\n', pr->out);
        fflush(pr->out);
        pr->what[0] = '\0';
        pr->width = 0;
        pr->pct = -1;
    }
}

static void draw(aoproxy_db_progress_t *pr, const char *text)
{
    int n = (int)strlen(text);

    fprintf(pr->out, "\r%s%*s", text, pr->width > n ? pr->width - n : 0, "");
    fflush(pr->out);
    pr->width = n;
}

/* Starts a new line unless what is the step on the current one. */
static void step(aoproxy_db_progress_t *pr, const char *what)
{
    if (strcmp(pr->what, what)) {
        aoproxy_db_progress_end(pr);
        apr_cpystrn(pr->what, what, sizeof(pr->what));
    }
}

void aoproxy_db_progress_count(aoproxy_db_progress_t *pr, const char *what,
                               apr_int64_t done, apr_int64_t total, const char *unit)
{
    char text[256];
    int pct;

    if (!pr) {
        return;
    }
    pct = total > 0 ? (int)((done < total ? done : total) * 100 / total) : 0;
    step(pr, what);
    if (pct == pr->pct) {
        return;
    }
    pr->pct = pct;
    apr_snprintf(text, sizeof(text), "%s: %s %" APR_INT64_T_FMT "/%" APR_INT64_T_FMT
                 " %s (%d%%)", pr->cmd, what, done, total, unit, pct);
    draw(pr, text);
}

void aoproxy_db_progress_phase(aoproxy_db_progress_t *pr, const char *what)
{
    char text[256];

    if (!pr) {
        return;
    }
    step(pr, what);
    apr_snprintf(text, sizeof(text), "%s: %s", pr->cmd, what);
    draw(pr, text);
}

/* --------------------------------------------------------------------------
 * rows inserted by connections the tool does not open itself
 */
static struct {
    aoproxy_db_progress_t *pr;
    const char *table, *what, *unit;
    apr_int64_t done, total;
} watch;

static void on_update(void *baton, int op, const char *db, const char *table,
                      sqlite3_int64 rowid)
{
    if (op == SQLITE_INSERT && watch.pr && !strcmp(table, watch.table)) {
        aoproxy_db_progress_count(watch.pr, watch.what, ++watch.done, watch.total,
                                  watch.unit);
    }
}

static int watch_connection(sqlite3 *db, char **errmsg, const sqlite3_api_routines *api)
{
    sqlite3_update_hook(db, on_update, NULL);
    return SQLITE_OK;
}

void aoproxy_db_progress_watch_inserts(aoproxy_db_progress_t *pr, const char *table,
                                       const char *what, apr_int64_t total,
                                       const char *unit)
{
    if (!pr) {
        return;
    }
    watch.pr = pr;
    watch.table = table;
    watch.what = what;
    watch.unit = unit;
    watch.done = 0;
    watch.total = total;
    aoproxy_db_progress_count(pr, what, 0, total, unit);
    sqlite3_auto_extension((void (*)(void))watch_connection);
}

void aoproxy_db_progress_unwatch(void)
{
    if (watch.pr) {
        sqlite3_cancel_auto_extension((void (*)(void))watch_connection);
        watch.pr = NULL;
    }
}
