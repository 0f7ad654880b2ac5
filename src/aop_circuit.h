/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* When an instance that failed may take requests again: a circuit breaker over the
 * instance's consecutive failures (5xx, 408, timeouts, resets, refused connections,
 * answers broken off) and its cooldown.
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
