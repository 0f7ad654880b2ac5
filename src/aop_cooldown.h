/* How long an instance that answered 429 (or 5xx) should be left alone, from the
 * headers Azure and OpenAI send, in order of precision. */
#ifndef AOP_COOLDOWN_H
#define AOP_COOLDOWN_H

#include <apr_time.h>

/* Longest cooldown a response can ask for: a wild header must not bench an instance
 * for a day. */
#define AOP_COOLDOWN_MAX apr_time_from_sec(3600)

typedef const char *aop_header_fn(void *baton, const char *name);

/* retry-after-ms, else Retry-After (seconds or an HTTP date), else
 * x-ratelimit-reset-tokens / x-ratelimit-reset-requests (seconds, or durations such
 * as "6m0s", "1.5s", "250ms"), else dflt.  Capped at AOP_COOLDOWN_MAX. */
apr_interval_time_t aop_cooldown_from_headers(aop_header_fn *get, void *baton,
                                              apr_time_t now, apr_interval_time_t dflt);

/* A duration: plain seconds ("12", "0.5") or Go-style ("1m30s", "250ms", "2h").
 * Returns -1 when s is not one. */
apr_interval_time_t aop_cooldown_parse_duration(const char *s);

#endif
