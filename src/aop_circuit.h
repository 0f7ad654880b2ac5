/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* When an instance, or one of its deployments (an instance x model pair), that failed
 * may take requests again: a circuit breaker over its consecutive failures (a
 * deployment's: 5xx, 408, 404, timeouts, resets, answers broken off; an instance's:
 * refused keys and connections) and its cooldown.  The callers keep one per instance
 * and one per pair in shared memory, and a request must pass both.
 *
 * After a failure the instance rests for its cooldown.  Then it is half-open: one
 * request at a time (a probe) goes to it until one succeeds, which closes the circuit
 * (consecutive failures back to 0), or fails, which rests it again.  Without the
 * probe, every process would send the instance its full share the moment its cooldown
 * ended: against one that stalls until routing.timeout, that is every worker thread
 * stuck for the whole timeout, once per cooldown. */
#ifndef AOP_CIRCUIT_H
#define AOP_CIRCUIT_H

#include <apr.h>
#include <apr_time.h>

/* The circuit's states, as /stats/instances shows them (aop_circuit_state_name). */
typedef enum {
    AOP_CIRCUIT_CLOSED,     /* no failure since the last success: every request may go */
    AOP_CIRCUIT_OPEN,       /* resting (a cooldown runs): none goes */
    AOP_CIRCUIT_HALF_OPEN   /* failed, rested: one probe at a time until one succeeds */
} aop_circuit_state_e;

/* Longest rest that repeated failures grow to (aop_circuit_backoff). */
#define AOP_CIRCUIT_BACKOFF_MAX apr_time_from_sec(300)
/* Doublings at most: base x 4 (with AOProxyCooldown's 10 s, 40 s: a deployment that
 * recovered is back within a minute). */
#define AOP_CIRCUIT_BACKOFF_SHIFT 2

aop_circuit_state_e aop_circuit_state(apr_uint32_t failures, apr_time_t cooldown_until,
                                      apr_time_t now);
const char *aop_circuit_state_name(aop_circuit_state_e state);

/* How long to rest after the failures-th consecutive failure: base for the first;
 * each further one (a probe that failed) doubles it, up to base x 4 and at most
 * AOP_CIRCUIT_BACKOFF_MAX (or base, when that alone is longer).  A base below 0
 * counts as 0. */
apr_interval_time_t aop_circuit_backoff(apr_interval_time_t base, apr_uint32_t failures);

/* Whether a request may go to the instance now (its cooldown is checked apart): the
 * circuit is closed (no failure since its last success), or half-open with no probe
 * in flight (probe_until has passed). */
int aop_circuit_admits(apr_uint32_t failures, apr_time_t probe_until, apr_time_t now);

/* A request was sent to the instance: returns its new probe_until.  When the circuit
 * is half-open, that request is the probe, and the next waits for its outcome, or at
 * most window (a probe whose process died must not keep the instance out for good). */
apr_time_t aop_circuit_sent(apr_uint32_t failures, apr_time_t probe_until, apr_time_t now,
                            apr_interval_time_t window);

/* How long a probe may keep the others waiting: the worker timeout (a stalled probe
 * fails, and so rests the instance again, within it) and a second for its outcome to
 * be recorded. */
apr_interval_time_t aop_circuit_window(double timeout_seconds);

#endif
