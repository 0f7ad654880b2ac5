/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Changes through the management API: add, add-many, patch, delete, rollback and
 * reload.  Each is validated whole before anything is written, then - under the
 * admin lock - stored in SQLite (one transaction) and published to every process
 * (mod_aoproxy_publish.c): after the answer, every process's next request sees it. */
#include <apr_strings.h>

#include <http_protocol.h>

#include "aop_instance_json.h"
#include "aop_json.h"
#include "aop_layers.h"
#include "aop_store.h"
#include "mod_aoproxy_private.h"
#include "mod_aoproxy_api.h"
#include "mod_aoproxy_api_handlers.h"
#include "mod_aoproxy_errors.h"
#include "mod_aoproxy_publish.h"

#define MAX_ADMIN_BODY (1024 * 1024)

static void change_error(aop_api_t *q, const aop_change_error_t *err)
{
    if (err->status >= 500) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, q->r, AOPLOGNO(00092)
                      "instance change not applied: %s", err->message);
    }
    aop_send_error(q->r, err->status, err->message, err->param, err->code);
}

/* Appends n bytes to the pool buffer *buf (len used, *cap allocated), at most
 * MAX_ADMIN_BODY in all (the caller checks).  Copied with memcpy, not string
 * functions: a body may hold a NUL byte, which must reach the parser to be refused
 * there, never cut the buffer short of len. */
static void body_append(apr_pool_t *p, char **buf, apr_size_t *len, apr_size_t *cap,
                        const char *data, apr_size_t n)
{
    if (*len + n + 1 > *cap) {
        apr_size_t ncap = *cap ? *cap * 2 : 16384;
        char *nbuf;

        while (ncap < *len + n + 1) {
            ncap *= 2;
        }
        nbuf = apr_palloc(p, ncap);
        if (*len) {
            memcpy(nbuf, *buf, *len);
        }
        *buf = nbuf;
        *cap = ncap;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
}

static json_object *parse_body(aop_api_t *q, const char *buf, apr_size_t len)
{
    const char *err = NULL, *field = NULL;
    json_object *obj;

    if (!len) {
        aop_send_error(q->r, HTTP_BAD_REQUEST, "The request needs a JSON body.", NULL,
                       "invalid_json");
        return NULL;
    }
    if ((obj = aop_json_parse_names(q->r->pool, buf, len, &err, &field)) == NULL) {
        /* A NUL in a name: "ok\u0000evil" would otherwise be stored as "ok". */
        aop_send_error(q->r, HTTP_BAD_REQUEST, field ? err : "We could not parse the JSON "
                       "body of your request.", field && *field ? field : NULL,
                       field ? "invalid_value" : "invalid_json");
    }
    return obj;
}

/* The request body as JSON; NULL (answered) when it is missing, too big or not JSON. */
static json_object *read_body(aop_api_t *q)
{
    request_rec *r = q->r;
    char *buf = NULL;
    apr_size_t len = 0, cap = 0;
    long n;
    char chunk[8192];

    if (ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK) != OK) {
        aop_send_error(r, HTTP_BAD_REQUEST, "The request body cannot be read.", NULL, NULL);
        return NULL;
    }
    if (ap_should_client_block(r)) {
        while ((n = ap_get_client_block(r, chunk, sizeof(chunk))) > 0) {
            if (len + (apr_size_t)n > MAX_ADMIN_BODY) {
                aop_send_error(r, HTTP_REQUEST_ENTITY_TOO_LARGE, "The request body is larger "
                               "than 1 MiB.", NULL, "request_too_large");
                return NULL;
            }
            body_append(r->pool, &buf, &len, &cap, chunk, (apr_size_t)n);
        }
        if (n < 0) {
            aop_send_error(r, HTTP_BAD_REQUEST, "The request body cannot be read.", NULL, NULL);
            return NULL;
        }
    }
    return parse_body(q, buf, len);
}

static const char *who(aop_api_t *q)
{
    return apr_psprintf(q->r->pool, "admin-api %s", q->r->useragent_ip);
}

static void warn_plain_http(aop_api_t *q, const aop_instance_t *inst)
{
    if (strcmp(inst->scheme, "http") == 0) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, q->r, AOPLOGNO(00093)
                      "instance %s: api_base uses plain http: its api-key travels "
                      "unencrypted", inst->name);
    }
}

static int invalid(aop_api_t *q, const char *prefix, const char *err, const char *field)
{
    aop_send_error(q->r, HTTP_BAD_REQUEST, prefix ? apr_pstrcat(q->r->pool, prefix, err, NULL)
                                                  : err, field, "invalid_instance");
    return 0;
}

/* The view after a change (and the lock's release is the caller's). */
static aop_view_t *fresh(aop_api_t *q)
{
    aop_view_t *view = aop_view_acquire(q->r, q->sc->fleet);

    return view ? view : q->view;
}

static json_object *instance_answer(aop_api_t *q, const char *name, const char *key,
                                    json_object *root)
{
    aop_view_t *view = fresh(q);
    int idx = aop_view_find(view, name);

    if (idx >= 0) {
        const aop_effective_t *e = APR_ARRAY_IDX(view->effective, idx, aop_effective_t *);
        json_object *o = aop_instance_to_json(e->inst, 0);

        json_object_object_add(o, "version", json_object_new_int(e->version));
        json_object_object_add(root, key, o);
    }
    json_object_object_add(root, "generation", json_object_new_int64((apr_int64_t)view->generation));
    return root;
}

/* Under the admin lock: the view as it is now (another change may have come first). */
static int locked(aop_api_t *q)
{
    if (aop_admin_lock() != APR_SUCCESS) {
        aop_send_error(q->r, HTTP_SERVICE_UNAVAILABLE, "The admin lock is not available.",
                       NULL, NULL);
        return 0;
    }
    q->view = fresh(q);
    return 1;
}

/* After the store call of a change, made under the admin lock: answers its failure,
 * else puts the change live; releases the lock either way.  1 when it is live. */
static int commit_change(aop_api_t *q, apr_status_t store_rv, const aop_store_result_t *res)
{
    aop_change_error_t err;
    int ok = 0;

    if (store_rv != APR_SUCCESS) {
        aop_admin_unlock();
        aop_api_store_error(q, res);
        return 0;
    }
    ok = aop_publish_change(q->r, q->sc->fleet, NULL, &err) == APR_SUCCESS;
    aop_admin_unlock();
    if (!ok) {
        change_error(q, &err);
    }
    return ok;
}

/* ------------------------------------------------------------------ add */

/* Parses and checks one new instance; 0 (answered) if it is invalid. */
static int parse_new(aop_api_t *q, json_object *obj, const char *where, aop_instance_t **out)
{
    const char *err = NULL, *field = NULL;

    if (aop_instance_from_json(q->r->pool, obj, NULL, 0, out, &err, &field) != APR_SUCCESS) {
        return invalid(q, where, err, field);
    }
    /* /instances/add is the add endpoint for every method: an instance of that name
     * could never be read, changed or deleted at /instances/{name}. */
    if (aop_api_name_reserved(q->r->pool, (*out)->name)) {
        return invalid(q, where, apr_psprintf(q->r->pool, "name: `%s` is reserved (/instances/%s "
                                              "is an endpoint of the API).", (*out)->name,
                                              (*out)->name), "name");
    }
    return 1;
}

static int room_for(aop_api_t *q, apr_array_header_t *insts)
{
    aop_change_error_t err;

    if (aop_publish_room(q->r, q->view, insts, &err) != APR_SUCCESS) {
        change_error(q, &err);
        return 0;
    }
    return 1;
}

static void add_instances(aop_api_t *q, apr_array_header_t *insts, int many)
{
    apr_array_header_t *changes = apr_array_make(q->r->pool, insts->nelts,
                                                 sizeof(aop_store_change_t));
    aop_store_result_t res;
    json_object *root, *names;
    int i;

    if (!locked(q)) {
        return;
    }
    for (i = 0; i < insts->nelts; i++) {
        const aop_instance_t *inst = APR_ARRAY_IDX(insts, i, aop_instance_t *);
        aop_store_change_t *c = apr_array_push(changes);

        if (aop_view_find(q->view, inst->name) >= 0) {
            aop_admin_unlock();
            aop_send_error(q->r, HTTP_CONFLICT, apr_psprintf(
                               q->r->pool, "An instance named `%s` exists already (change it "
                               "with PATCH /instances/%s).", inst->name, inst->name),
                           "name", "instance_exists");
            return;
        }
        memset(c, 0, sizeof(*c));
        c->inst = inst;
        c->change = "add";
    }
    if (!room_for(q, insts)) {
        aop_admin_unlock();
        return;
    }
    if (!commit_change(q, aop_store_put_many(q->r->pool, q->sc->fleet->db_path, changes,
                                             who(q), &res), &res)) {
        return;
    }
    root = aop_json_own(q->r->pool, json_object_new_object());
    names = json_object_new_array();
    for (i = 0; i < insts->nelts; i++) {
        const aop_instance_t *inst = APR_ARRAY_IDX(insts, i, aop_instance_t *);

        warn_plain_http(q, inst);
        json_object_array_add(names, json_object_new_string(inst->name));
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, q->r, AOPLOGNO(00094)
                      "instance %s added by %s", inst->name, who(q));
    }
    if (many) {
        json_object_object_add(root, "added", names);
        json_object_object_add(root, "instances", json_object_new_array());
        for (i = 0; i < insts->nelts; i++) {
            json_object *one = json_object_new_object();

            instance_answer(q, APR_ARRAY_IDX(insts, i, aop_instance_t *)->name, "instance", one);
            json_object_array_add(json_object_object_get(root, "instances"),
                                  json_object_get(json_object_object_get(one, "instance")));
            json_object_object_add(root, "generation",
                                   json_object_get(json_object_object_get(one, "generation")));
            json_object_put(one);
        }
    }
    else {
        json_object_put(names);
        instance_answer(q, APR_ARRAY_IDX(insts, 0, aop_instance_t *)->name, "instance", root);
    }
    aop_send_json(q->r, HTTP_CREATED, aop_json_to_string(q->r->pool, root));
}

void aop_api_post_add(aop_api_t *q)
{
    json_object *obj = read_body(q);
    apr_array_header_t *insts = apr_array_make(q->r->pool, 1, sizeof(aop_instance_t *));
    aop_instance_t *inst;

    if (!obj || !parse_new(q, obj, NULL, &inst)) {
        return;
    }
    APR_ARRAY_PUSH(insts, aop_instance_t *) = inst;
    add_instances(q, insts, 0);
}

/* {"instances": [...]} or a bare array: all are added, or none. */
void aop_api_post_add_many(aop_api_t *q)
{
    json_object *obj = read_body(q), *list = obj;
    apr_array_header_t *insts;
    apr_hash_t *seen = apr_hash_make(q->r->pool);
    size_t i, n;

    if (!obj) {
        return;
    }
    if (json_object_is_type(obj, json_type_object)
        && !json_object_object_get_ex(obj, "instances", &list)) {
        list = NULL;
    }
    if (!list || !json_object_is_type(list, json_type_array)
        || !(n = json_object_array_length(list))) {
        aop_send_error(q->r, HTTP_BAD_REQUEST, "instances: a non-empty array of instances is "
                       "required.", "instances", "invalid_instance");
        return;
    }
    insts = apr_array_make(q->r->pool, (int)n, sizeof(aop_instance_t *));
    for (i = 0; i < n; i++) {
        aop_instance_t *inst;

        if (!parse_new(q, json_object_array_get_idx(list, i),
                       apr_psprintf(q->r->pool, "instances[%d]: ", (int)i), &inst)) {
            return;
        }
        if (apr_hash_get(seen, inst->name, APR_HASH_KEY_STRING)) {
            aop_send_error(q->r, HTTP_CONFLICT, apr_psprintf(
                               q->r->pool, "instances[%d]: the name `%s` is given twice.",
                               (int)i, inst->name), "name", "duplicate_name");
            return;
        }
        apr_hash_set(seen, inst->name, APR_HASH_KEY_STRING, "");
        APR_ARRAY_PUSH(insts, aop_instance_t *) = inst;
    }
    add_instances(q, insts, 1);
}

/* ------------------------------------------------------------------ patch, delete */

/* The fields the body names (a nested "auth" object: the auth.* keys it has). */
static apr_array_header_t *body_keys(apr_pool_t *p, json_object *obj)
{
    return aop_instance_json_keys(p, obj);
}

void aop_api_patch_instance(aop_api_t *q)
{
    json_object *obj = read_body(q);
    const char *err = NULL, *field = NULL;
    apr_array_header_t *one = apr_array_make(q->r->pool, 1, sizeof(aop_instance_t *));
    aop_instance_t *inst;
    aop_store_result_t res;
    int idx, version;

    if (!obj) {
        return;
    }
    if (!json_object_is_type(obj, json_type_object)) {
        invalid(q, NULL, "The body must be a JSON object of the fields to change.", NULL);
        return;
    }
    if (!locked(q)) {
        return;
    }
    if ((idx = aop_view_find(q->view, q->arg)) < 0) {
        aop_admin_unlock();
        aop_api_not_found(q, q->arg);
        return;
    }
    if (aop_instance_from_json(q->r->pool, obj,
                               APR_ARRAY_IDX(q->view->cfg->instances, idx, aop_instance_t *),
                               1, &inst, &err, &field) != APR_SUCCESS) {
        aop_admin_unlock();
        invalid(q, NULL, err, field);
        return;
    }
    APR_ARRAY_PUSH(one, aop_instance_t *) = inst;
    if (!room_for(q, one)) {
        aop_admin_unlock();
        return;
    }
    /* The keys the body names are the ones the database now sets over the YAML. */
    if (commit_change(q, aop_store_put(q->r->pool, q->sc->fleet->db_path, inst, who(q),
                                       "update", body_keys(q->r->pool, obj), &version, &res),
                      &res)) {
        warn_plain_http(q, inst);
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, q->r, AOPLOGNO(00095)
                      "instance %s changed by %s (version %d)", inst->name, who(q), version);
        aop_api_send(q, instance_answer(q, inst->name, "instance",
                                        aop_json_own(q->r->pool, json_object_new_object())));
    }
}

void aop_api_delete_instance(aop_api_t *q)
{
    aop_store_result_t res;
    json_object *root;
    int version;

    if (!locked(q)) {
        return;
    }
    if (aop_view_find(q->view, q->arg) < 0) {
        aop_admin_unlock();
        aop_api_not_found(q, q->arg);
        return;
    }
    if (commit_change(q, aop_store_delete(q->r->pool, q->sc->fleet->db_path, q->arg, who(q),
                                          &version, &res), &res)) {
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, q->r, AOPLOGNO(00096)
                      "instance %s deleted by %s (version %d)", q->arg, who(q), version);
        root = aop_json_own(q->r->pool, json_object_new_object());
        json_object_object_add(root, "deleted", json_object_new_string(q->arg));
        json_object_object_add(root, "version", json_object_new_int(version));
        json_object_object_add(root, "generation",
                               json_object_new_int64((apr_int64_t)fresh(q)->generation));
        aop_api_send(q, root);
    }
}

/* ------------------------------------------------------------------ rollback */

/* The store call of a rollback: to version 0, the YAML definition (or nothing). */
static apr_status_t store_rollback(aop_api_t *q, int to, int *version,
                                   aop_store_result_t *res)
{
    const aop_instance_t *base = NULL;
    aop_change_error_t err;

    if (to > 0) {
        return aop_store_rollback(q->r->pool, q->sc->fleet->db_path, q->arg, to, who(q),
                                  version, res);
    }
    if (aop_publish_yaml_instance(q->r, q->sc->fleet, q->arg, &base, &err) != APR_SUCCESS) {
        memset(res, 0, sizeof(*res));
        res->status = AOP_STORE_ERROR;
        res->message = err.message;
        return APR_EGENERAL;
    }
    return aop_store_revert(q->r->pool, q->sc->fleet->db_path, q->arg, base, who(q), version,
                            res);
}

/* {"version": N}: version N's data again; 0 stands for the instance before any change
 * through the API, that is as the YAML defines it. */
void aop_api_post_rollback(aop_api_t *q)
{
    json_object *obj = read_body(q), *v;
    aop_store_result_t res;
    json_object *root;
    int to, version;

    if (!obj) {
        return;
    }
    if (!json_object_is_type(obj, json_type_object)
        || !json_object_object_get_ex(obj, "version", &v) || !json_object_is_type(v, json_type_int)
        || (to = json_object_get_int(v)) < 0) {
        aop_send_error(q->r, HTTP_BAD_REQUEST, "version: the version to restore (an integer "
                       ">= 0; 0 is the YAML's definition) is required.", "version",
                       "invalid_version");
        return;
    }
    if (!locked(q)) {
        return;
    }
    if (commit_change(q, store_rollback(q, to, &version, &res), &res)) {
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, q->r, AOPLOGNO(00097)
                      "instance %s rolled back to version %d by %s (version %d)", q->arg, to,
                      who(q), version);
        root = aop_json_own(q->r->pool, json_object_new_object());
        json_object_object_add(root, "rolled_back_to", json_object_new_int(to));
        json_object_object_add(root, "version", json_object_new_int(version));
        aop_api_send(q, instance_answer(q, q->arg, "instance", root));
    }
}

/* ------------------------------------------------------------------ reload */

/* The instances a reload left out, logged and answered (names and problems carry
 * no secret). */
static json_object *left_out_json(aop_api_t *q, const aop_config_t *cfg)
{
    json_object *arr = json_object_new_array();
    int i;

    for (i = 0; i < cfg->left_out->nelts; i++) {
        const aop_left_out_t *lo = &APR_ARRAY_IDX(cfg->left_out, i, aop_left_out_t);
        json_object *o = json_object_new_object();

        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, q->r, AOPLOGNO(00109)
                      "reload: instance %s is left out, the others serve: %s", lo->name,
                      lo->problem);
        json_object_object_add(o, "name", json_object_new_string(lo->name));
        json_object_object_add(o, "problem", json_object_new_string(lo->problem));
        json_object_array_add(arr, o);
    }
    return arr;
}

/* Re-reads the YAML and the store; a YAML file that cannot be read or parsed
 * changes nothing, an instance that cannot be completed is left out.  In-flight
 * requests finish on the view they hold. */
void aop_api_post_reload(aop_api_t *q)
{
    aop_fleet_t *fleet = q->sc->fleet;
    aop_config_t *cfg = NULL;
    aop_change_error_t err;
    const char *perr = NULL;
    json_object *root;
    aop_view_t *view;
    int i;

    if (aop_config_load_mode(q->r->pool, fleet->config_dir, fleet->environment, NULL, NULL,
                             AOP_CONFIG_LENIENT, &cfg, &perr) != APR_SUCCESS) {
        aop_send_error(q->r, HTTP_BAD_REQUEST, perr, NULL, "config_invalid");
        return;
    }
    if (!locked(q)) {
        return;
    }
    if (aop_publish_change(q->r, fleet, cfg, &err) != APR_SUCCESS) {
        aop_admin_unlock();
        change_error(q, &err);
        return;
    }
    aop_admin_unlock();
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, q->r, AOPLOGNO(00098)
                  "configuration reloaded by %s", who(q));
    root = aop_json_own(q->r->pool, json_object_new_object());
    view = fresh(q);
    for (i = 0; i < cfg->warnings->nelts; i++) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, q->r, AOPLOGNO(00099) "configuration: %s",
                      APR_ARRAY_IDX(cfg->warnings, i, const char *));
    }
    json_object_object_add(root, "reloaded", json_object_new_boolean(1));
    json_object_object_add(root, "files", aop_json_str_array(cfg->files));
    json_object_object_add(root, "left_out", left_out_json(q, cfg));
    json_object_object_add(root, "instances", json_object_new_int(view->cfg->instances->nelts));
    json_object_object_add(root, "generation", json_object_new_int64((apr_int64_t)view->generation));
    aop_api_send(q, root);
}
