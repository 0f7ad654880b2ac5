/* TEMPORARY STUB until the affinity branch merges. */
#include "mod_aoproxy_affinity.h"
int aop_affinity_remember_id(server_rec *s, const char *id, apr_size_t len,
                             const char *instance_name)
{ (void)s; (void)id; (void)len; (void)instance_name; return 0; }
int aop_affinity_lookup(server_rec *s, const char *id, apr_size_t len,
                        apr_uint64_t *name_hash)
{ (void)s; (void)id; (void)len; (void)name_hash; return 0; }
void aop_affinity_forget_id(server_rec *s, const char *id, apr_size_t len)
{ (void)s; (void)id; (void)len; }
apr_uint64_t aop_affinity_name_hash(const char *name) { (void)name; return 1; }
