/* The routing strategies over plain arrays, so they are testable without httpd:
 * the caller says which candidates are eligible for this attempt and keeps the
 * strategy's state (in shared memory, updated under the global mutex). */
#ifndef AOP_SELECT_H
#define AOP_SELECT_H

#include <apr.h>

#include "aop_config.h"

typedef struct aop_cand_t {
    int priority;
    int weight;
    int eligible;
} aop_cand_t;

/* State of one model's candidates: smooth weighted round-robin credits and the
 * rotation cursor.  Sized by the caller: cw has one entry per candidate. */
typedef struct aop_select_state_t {
    apr_uint64_t cursor;
    apr_int64_t *cw;
} aop_select_state_t;

/* Picks a candidate index, or -1 when none is eligible.
 * - failover: the eligible candidates with the lowest priority value; among equals,
 *   shares by weight (smooth weighted round-robin).
 * - weighted: every eligible candidate, shared by weight (smooth, not random).
 * - round_robin: strict rotation over the eligible candidates. */
int aop_select(aop_strategy_e strategy, const aop_cand_t *c, int n, aop_select_state_t *st);

#endif
