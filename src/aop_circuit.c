/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include "aop_circuit.h"

int aop_circuit_admits(apr_uint32_t failures, apr_time_t probe_until, apr_time_t now)
{
    return failures == 0 || now >= probe_until;
}

apr_time_t aop_circuit_sent(apr_uint32_t failures, apr_time_t probe_until, apr_time_t now,
                            apr_interval_time_t window)
{
    if (failures == 0) {
        return 0;
    }
    /* Not admitted (a caller that did not ask): the probe in flight keeps its time. */
    if (now < probe_until) {
        return probe_until;
    }
    return now + (window > 0 ? window : 0);
}

apr_interval_time_t aop_circuit_window(double timeout_seconds)
{
    /* Bounded before conversion: a configuration's timeout is checked, but a wild
     * double must not overflow the microseconds. */
    if (!(timeout_seconds > 0.0)) {
        timeout_seconds = 0.0;
    }
    else if (timeout_seconds > 86400.0) {
        timeout_seconds = 86400.0;
    }
    return (apr_interval_time_t)(timeout_seconds * (double)APR_USEC_PER_SEC)
           + apr_time_from_sec(1);
}

aop_circuit_state_e aop_circuit_state(apr_uint32_t failures, apr_time_t cooldown_until,
                                      apr_time_t now)
{
    if (now < cooldown_until) {
        return AOP_CIRCUIT_OPEN;
    }
    return failures ? AOP_CIRCUIT_HALF_OPEN : AOP_CIRCUIT_CLOSED;
}

const char *aop_circuit_state_name(aop_circuit_state_e state)
{
    switch (state) {
    case AOP_CIRCUIT_OPEN:
        return "open";
    case AOP_CIRCUIT_HALF_OPEN:
        return "half_open";
    case AOP_CIRCUIT_CLOSED:
        break;
    }
    return "closed";
}

apr_interval_time_t aop_circuit_backoff(apr_interval_time_t base, apr_uint32_t failures)
{
    apr_uint32_t shift = failures > 1 ? failures - 1 : 0;
    apr_interval_time_t grown;

    if (base <= 0) {
        return 0;
    }
    if (base >= AOP_CIRCUIT_BACKOFF_MAX) {
        return base;
    }
    if (shift > AOP_CIRCUIT_BACKOFF_SHIFT) {
        shift = AOP_CIRCUIT_BACKOFF_SHIFT;
    }
    /* base < 300 s and shift <= 5: no overflow. */
    grown = base << shift;
    return grown < AOP_CIRCUIT_BACKOFF_MAX ? grown : AOP_CIRCUIT_BACKOFF_MAX;
}
