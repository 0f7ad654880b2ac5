/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* How long an instance that answered 429 (or 5xx) should be left alone, from the
 * headers Azure and OpenAI send, in order of precision. */
#ifndef AOP_COOLDOWN_H
#define AOP_COOLDOWN_H

#include <apr_time.h>

/* Longest cooldown a response can ask for: a wild header must not bench an instance
 * for a day. */
#define AOP_COOLDOWN_MAX apr_time_from_sec(3600)
/* Longest duration aop_cooldown_parse_duration() returns (a day); longer ones are held
 * there, so that no header value can overflow the arithmetic on times. */
#define AOP_DURATION_MAX apr_time_from_sec(86400)

typedef const char *aop_header_fn(void *baton, const char *name);

/* retry-after-ms, else Retry-After (seconds or an HTTP date), else
 * x-ratelimit-reset-tokens / x-ratelimit-reset-requests (seconds, or durations such
 * as "6m0s", "1.5s", "250ms"), else dflt.  Capped at AOP_COOLDOWN_MAX. */
apr_interval_time_t aop_cooldown_from_headers(aop_header_fn *get, void *baton,
                                              apr_time_t now, apr_interval_time_t dflt);

/* A duration: plain seconds ("12", "0.5") or Go-style ("1m30s", "250ms", "2h"),
 * decimal digits and '.' only (no sign, exponent, "inf" or "nan").  Returns -1 when s
 * is not one; a longer one than AOP_DURATION_MAX is held at it. */
apr_interval_time_t aop_cooldown_parse_duration(const char *s);

#endif
