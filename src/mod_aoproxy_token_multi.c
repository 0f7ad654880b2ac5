/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <string.h>

#include <apr_strings.h>
#include <curl/curl.h>

#include "mod_aoproxy_private.h"
#include "mod_aoproxy_token_fetch.h"
#include "mod_aoproxy_token_multi.h"

typedef struct fetch_t fetch_t;
struct fetch_t {
    fetch_t *next;
    apr_pool_t *p;
    CURL *h;
    struct curl_slist *hdrs;
    aop_token_sink_t sink;
    char errbuf[CURL_ERROR_SIZE];
    const char *endpoint;
    apr_time_t start;
    void *baton;
};

static CURLM *multi;
static apr_pool_t *base;         /* the fetches' pools hang here, not in a tick's */
static fetch_t *flying;
static int nflying;

apr_pool_t *aop_token_multi_pool(void)
{
    apr_pool_t *p;

    if (!base) {
        apr_pool_create(&base, NULL);
        apr_pool_tag(base, "aoproxy_token_fetches");
    }
    apr_pool_create(&p, base);
    return p;
}

/* Takes f out of the multi and the list, and frees it with its pool. */
static void drop(fetch_t *f)
{
    fetch_t **at;

    for (at = &flying; *at; at = &(*at)->next) {
        if (*at == f) {
            *at = f->next;
            nflying--;
            break;
        }
    }
    curl_multi_remove_handle(multi, f->h);
    curl_easy_cleanup(f->h);
    curl_slist_free_all(f->hdrs);
    apr_pool_destroy(f->p);
}

apr_status_t aop_token_multi_start(apr_pool_t *p, const aop_instance_t *inst,
                                   apr_interval_time_t timeout, apr_time_t start,
                                   void *baton, aop_token_answer_t *out,
                                   const char **endpoint)
{
    fetch_t *f = apr_pcalloc(p, sizeof(*f));
    aop_token_req_t req;

    *endpoint = NULL;
    if (aop_token_prepare(p, inst, &req, out) != APR_SUCCESS) {
        return APR_EGENERAL;
    }
    if (!multi && (multi = curl_multi_init()) == NULL) {
        out->error = "libcurl has no multi handle to give";
        return APR_EGENERAL;
    }
    if ((f->h = aop_token_handle(p, &req, timeout, &f->sink, f->errbuf, &f->hdrs)) == NULL) {
        curl_slist_free_all(f->hdrs);
        out->error = "libcurl is not available";
        return APR_EGENERAL;
    }
    curl_easy_setopt(f->h, CURLOPT_PRIVATE, f);
    if (curl_multi_add_handle(multi, f->h) != CURLM_OK) {
        curl_easy_cleanup(f->h);
        curl_slist_free_all(f->hdrs);
        out->error = "libcurl refused one more fetch";
        return APR_EGENERAL;
    }
    f->p = p;
    f->endpoint = *endpoint = req.endpoint;
    f->start = start;
    f->baton = baton;
    f->next = flying;
    flying = f;
    nflying++;
    return APR_SUCCESS;
}

/* Every fetch libcurl says is over: its answer to done, then gone. */
static void harvest(aop_token_multi_done_fn *done)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
        fetch_t *f = NULL;
        aop_token_answer_t ans;

        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&f);
        if (!f) {
            continue;
        }
        aop_token_answer(f->p, f->h, msg->data.result, f->errbuf, &f->sink, f->start, &ans);
        done(f->baton, f->p, &ans, f->endpoint, f->start);
        drop(f);
    }
}

void aop_token_multi_run(apr_interval_time_t wait, aop_token_multi_done_fn *done)
{
    apr_time_t deadline = apr_time_now() + wait, now;
    int running = 0;

    while (multi && flying) {
        curl_multi_perform(multi, &running);
        harvest(done);
        if (!flying || (now = apr_time_now()) >= deadline) {
            break;
        }
        /* sleeps until a socket moves, at most the rest of wait */
        curl_multi_wait(multi, NULL, 0, (int)apr_time_as_msec(deadline - now) + 1, NULL);
    }
}

int aop_token_multi_count(void)
{
    return nflying;
}

void aop_token_multi_stop(void)
{
    while (flying) {
        drop(flying);
    }
    if (multi) {
        curl_multi_cleanup(multi);
        multi = NULL;
    }
}
