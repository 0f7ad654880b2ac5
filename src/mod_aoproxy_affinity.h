/* TEMPORARY STUB until the affinity branch merges: nothing is remembered. */
#ifndef MOD_AOPROXY_AFFINITY_H
#define MOD_AOPROXY_AFFINITY_H
#include <httpd.h>
int aop_affinity_remember_id(server_rec *s, const char *id, apr_size_t len,
                             const char *instance_name);
int aop_affinity_lookup(server_rec *s, const char *id, apr_size_t len,
                        apr_uint64_t *name_hash);
void aop_affinity_forget_id(server_rec *s, const char *id, apr_size_t len);
apr_uint64_t aop_affinity_name_hash(const char *name);
#endif
