/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#ifndef AOP_DOC_H
#define AOP_DOC_H

#include <apr_pools.h>

#include "aop_json.h"

/* A fleet's live document, one in shared memory per fleet (mod_aoproxy_shm.c):
 * mod_aoproxy_publish.c writes it, every process's view (mod_aoproxy_view.c) and
 * the next change read it.  Lines:
 *   line 1: JSON {"lines_bytes": B, "settings": {...}, "_models": {model: slot},
 *           "instances": N, "yaml": M}, B the bytes of the N instance lines (its first
 *           key: a reader finds it before it has parsed anything)
 *   N lines, one an instance: "REV SLOT NAME WORKER NPAIRS PAIR...\tJSON\n" with REV
 *           the 16 hex digits of the FNV-1a hash of JSON (its effective record, key
 *           included), SLOT and PAIRs its shared-memory slots (instance, and one per
 *           supported model in order), WORKER its balancer member's name
 *   M lines: the YAML layer, "NAME\tJSON" an instance (its effective record, key
 *           included): read by changes alone, which decode only the names they
 *           change.
 * Names and worker names hold no blank (instance names are [A-Za-z0-9._-], workers
 * URLs).  A process decodes the JSON of an instance only when its REV is new. */
typedef struct aop_doc_line_t {
    apr_uint64_t rev;
    int slot;
    const char *name;
    const char *worker;
    int npairs;
    int *pairs;
    char *json;
    apr_size_t json_len;
} aop_doc_line_t;

typedef struct aop_doc_t {
    json_object *header;
    int n, nyaml;
    aop_doc_line_t *inst;            /* n of them */
    char **yaml;                     /* nyaml JSON texts */
    const char **yaml_name;          /* parallel: each one's instance name */
} aop_doc_t;

/* Splits doc (a private copy: cut in place) into its parts; APR_EINVAL and *perr. */
apr_status_t aop_doc_read(apr_pool_t *p, char *doc, aop_doc_t *out, const char **perr);

/* The same without the YAML layer (out->nyaml 0), which doc may lack: what a view
 * reads, a copy of aop_doc_view_len() bytes. */
apr_status_t aop_doc_read_instances(apr_pool_t *p, char *doc, aop_doc_t *out,
                                    const char **perr);

/* How many of a document's len bytes a view needs: its header and instance lines
 * (the YAML layer, as long again, is for changes alone); len when the header does
 * not say or says something impossible (doc may be a torn copy, checked after). */
apr_size_t aop_doc_view_len(const char *doc, apr_size_t len);

/* The header line alone (cut from the document: no line break), into out (its n
 * and nyaml; no line read yet). */
apr_status_t aop_doc_read_header(apr_pool_t *p, char *line, aop_doc_t *out,
                                 const char **perr);

/* The instance line at *pos (cut in place), *pos moved past it; APR_EINVAL when it
 * is damaged or there is none. */
apr_status_t aop_doc_read_line(apr_pool_t *p, char **pos, aop_doc_line_t *out);

/* What the instance lines of two documents have in common, so that a view built
 * from old takes its first head and last tail instances as they are and reads only
 * the lines between (a change touches a few lines of thousands). */
typedef struct aop_doc_splice_t {
    int head;                        /* old's first lines that begin new */
    int tail;                        /* old's last lines that end new */
    apr_size_t from, to;             /* the bytes of new between them */
} aop_doc_splice_t;

/* A document's instance lines as a view keeps them: not their text (megabytes), but
 * each one's head - its fields up to its tab, the tab included, the hash of its
 * JSON among them - and where each line and each head ends. */
typedef struct aop_doc_lines_t {
    const char *heads;               /* each line's head, one after the other */
    const apr_size_t *head_end;      /* where each head ends in heads */
    const apr_size_t *end;           /* where each line ends (just past its break) */
    int n;
} aop_doc_lines_t;

/* How long the head of a line (len bytes) is: up to its tab, the tab included; a
 * line without a tab is all head (but its break). */
apr_size_t aop_doc_line_head(const char *line, apr_size_t len);

/* old's first and last lines that new_text (new_len bytes of whole lines) has at the
 * same place from its start and from its end: the same head (hash included) and
 * length, where new_text breaks lines. */
void aop_doc_splice(const aop_doc_lines_t *old, const char *new_text, apr_size_t new_len,
                    aop_doc_splice_t *out);

/* The FNV-1a hash a line's REV is. */
apr_uint64_t aop_doc_rev(const char *json, apr_size_t len);

#endif
