/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <apr_strings.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "aop_doc.h"
#include "aop_json.h"

apr_uint64_t aop_doc_rev(const char *json, apr_size_t len)
{
    apr_uint64_t h = 1469598103934665603ULL;      /* FNV-1a */
    apr_size_t i;

    for (i = 0; i < len; i++) {
        h = (h ^ (unsigned char)json[i]) * 1099511628211ULL;
    }
    return h;
}

/* The next line of *pos (cut at its newline), or NULL at the end. */
static char *next_line(char **pos)
{
    char *line = *pos, *nl;

    if (!line || !*line) {
        return NULL;
    }
    if ((nl = strchr(line, '\n'))) {
        *nl = '\0';
        *pos = nl + 1;
    }
    else {
        *pos = line + strlen(line);
    }
    return line;
}

/* The next blank-separated word of *pos (cut), or NULL. */
static char *next_word(char **pos)
{
    char *w = *pos, *end;

    if (!w || !*w) {
        return NULL;
    }
    end = strchr(w, ' ');
    if (end) {
        *end = '\0';
        *pos = end + 1;
    }
    else {
        *pos = w + strlen(w);
    }
    return w;
}

static int number(const char *w, int lo, int hi, int *out)
{
    char *end;
    long v;

    if (!w || !*w) {
        return 0;
    }
    v = strtol(w, &end, 10);
    if (*end || v < lo || v > hi) {
        return 0;
    }
    *out = (int)v;
    return 1;
}

static apr_status_t read_instance_line(apr_pool_t *p, char *line, aop_doc_line_t *out)
{
    char *tab = strchr(line, '\t'), *pos = line, *w, *end;
    int j;

    if (!tab) {
        return APR_EINVAL;
    }
    *tab = '\0';
    out->json = tab + 1;
    out->json_len = strlen(out->json);
    w = next_word(&pos);
    if (!w || strlen(w) != 16) {
        return APR_EINVAL;
    }
    out->rev = (apr_uint64_t)strtoull(w, &end, 16);   /* all 64 bits: no signed clamp */
    if (*end || !number(next_word(&pos), 0, INT_MAX, &out->slot)
        || !(out->name = next_word(&pos)) || !(out->worker = next_word(&pos))
        || !number(next_word(&pos), 0, 65536, &out->npairs)) {
        return APR_EINVAL;
    }
    out->pairs = apr_palloc(p, sizeof(int) * (apr_size_t)(out->npairs + 1));
    for (j = 0; j < out->npairs; j++) {
        if (!number(next_word(&pos), 0, INT_MAX, &out->pairs[j])) {
            return APR_EINVAL;
        }
    }
    out->pairs[out->npairs] = -1;
    return APR_SUCCESS;
}

apr_status_t aop_doc_read_header(apr_pool_t *p, char *line, aop_doc_t *out,
                                 const char **perr)
{
    json_object *v;

    memset(out, 0, sizeof(*out));
    out->header = line ? aop_json_parse(p, line, strlen(line), perr) : NULL;
    if (!out->header || !json_object_object_get_ex(out->header, "instances", &v)
        || (out->n = json_object_get_int(v)) < 0
        || !json_object_object_get_ex(out->header, "yaml", &v)
        || (out->nyaml = json_object_get_int(v)) < 0) {
        *perr = *perr ? *perr : "the document has no header";
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

apr_status_t aop_doc_read_line(apr_pool_t *p, char **pos, aop_doc_line_t *out)
{
    char *line = next_line(pos);

    return line ? read_instance_line(p, line, out) : APR_EINVAL;
}

static apr_status_t read_doc(apr_pool_t *p, char *doc, aop_doc_t *out, int with_yaml,
                             const char **perr)
{
    char *pos = doc, *line = next_line(&pos);
    int i;

    if (aop_doc_read_header(p, line, out, perr) != APR_SUCCESS) {
        return APR_EINVAL;
    }
    out->inst = apr_pcalloc(p, sizeof(*out->inst) * (apr_size_t)(out->n + 1));
    for (i = 0; i < out->n; i++) {
        if (aop_doc_read_line(p, &pos, &out->inst[i]) != APR_SUCCESS) {
            *perr = apr_psprintf(p, "instance line %d of the document is damaged", i + 1);
            return APR_EINVAL;
        }
    }
    if (!with_yaml) {
        out->nyaml = 0;
    }
    out->yaml = apr_pcalloc(p, sizeof(char *) * (apr_size_t)(out->nyaml + 1));
    out->yaml_name = apr_pcalloc(p, sizeof(char *) * (apr_size_t)(out->nyaml + 1));
    for (i = 0; i < out->nyaml; i++) {
        char *tab;

        if (!(line = next_line(&pos))) {
            *perr = "the document's YAML layer is cut short";
            return APR_EINVAL;
        }
        if (!(tab = strchr(line, '\t')) || tab == line) {
            *perr = apr_psprintf(p, "YAML line %d of the document is damaged", i + 1);
            return APR_EINVAL;
        }
        *tab = '\0';
        out->yaml_name[i] = line;
        out->yaml[i] = tab + 1;
    }
    return APR_SUCCESS;
}

apr_status_t aop_doc_read(apr_pool_t *p, char *doc, aop_doc_t *out, const char **perr)
{
    return read_doc(p, doc, out, 1, perr);
}

apr_status_t aop_doc_read_instances(apr_pool_t *p, char *doc, aop_doc_t *out,
                                    const char **perr)
{
    return read_doc(p, doc, out, 0, perr);
}

apr_size_t aop_doc_view_len(const char *doc, apr_size_t len)
{
    static const char key[] = "{\"lines_bytes\":";
    const char *nl = memchr(doc, '\n', len), *d;
    apr_size_t head, lines = 0;

    if (!nl || (apr_size_t)(nl - doc) < sizeof(key) - 1
        || memcmp(doc, key, sizeof(key) - 1) != 0) {
        return len;
    }
    head = (apr_size_t)(nl - doc) + 1;
    for (d = doc + sizeof(key) - 1; d < nl && *d >= '0' && *d <= '9'; d++) {
        if (lines > len) {
            return len;
        }
        lines = lines * 10 + (apr_size_t)(*d - '0');
    }
    return d > doc + sizeof(key) - 1 && lines <= len - head ? head + lines : len;
}

apr_size_t aop_doc_line_head(const char *line, apr_size_t len)
{
    const char *tab = memchr(line, '\t', len);

    if (tab) {
        return (apr_size_t)(tab - line) + 1;
    }
    return len && line[len - 1] == '\n' ? len - 1 : len;
}

/* Whether old's line k lies whole at t[at] (t_len bytes): where lines break, with
 * its length and its head; its head holds the hash of the rest. */
static int line_at(const aop_doc_lines_t *o, int k, const char *t, apr_size_t t_len,
                   apr_size_t at)
{
    apr_size_t hs = k ? o->head_end[k - 1] : 0, hl = o->head_end[k] - hs;
    apr_size_t ll = o->end[k] - (k ? o->end[k - 1] : 0);

    return at + ll <= t_len && t[at + ll - 1] == '\n' && (at == 0 || t[at - 1] == '\n')
           && memcmp(t + at, o->heads + hs, hl) == 0;
}

void aop_doc_splice(const aop_doc_lines_t *old, const char *new_text, apr_size_t new_len,
                    aop_doc_splice_t *out)
{
    apr_size_t at = 0, end = new_len;
    int k, j = old->n;

    for (k = 0; k < old->n && line_at(old, k, new_text, new_len, at); k++) {
        at = old->end[k];
    }
    out->head = k;
    out->from = at;
    while (j > out->head) {
        apr_size_t ll = old->end[j - 1] - (j > 1 ? old->end[j - 2] : 0);

        if (ll > end - at || !line_at(old, j - 1, new_text, new_len, end - ll)) {
            break;
        }
        end -= ll;
        j--;
    }
    out->tail = old->n - j;
    out->to = end;
}
