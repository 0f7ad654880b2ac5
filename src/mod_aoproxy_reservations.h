/* Gives back the token reservations of requests whose process died or stalled
 * (aop_resv.h): a sweep once a second in the parent (httpd's monitor hook, which
 * the MPM runs in its maintenance loop: once per server, never on a request's
 * path). */
#ifndef MOD_AOPROXY_RESERVATIONS_H
#define MOD_AOPROXY_RESERVATIONS_H

#include <httpd.h>

void aop_reservations_register_hooks(apr_pool_t *p);

#endif
