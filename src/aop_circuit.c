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
