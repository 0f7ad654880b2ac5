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

/* How many bytes a and b have the same from their start (n at most); memcmp a page
 * at a time, where the C library compares many bytes at once. */
static apr_size_t same_head(const char *a, const char *b, apr_size_t n)
{
    apr_size_t i = 0;

    while (i + 4096 <= n && memcmp(a + i, b + i, 4096) == 0) {
        i += 4096;
    }
    while (i < n && a[i] == b[i]) {
        i++;
    }
    return i;
}

/* The same from their ends: a ends at a[alen], b at b[blen]. */
static apr_size_t same_tail(const char *a, apr_size_t alen, const char *b, apr_size_t blen,
                            apr_size_t n)
{
    apr_size_t i = 0;

    while (i + 4096 <= n && memcmp(a + alen - i - 4096, b + blen - i - 4096, 4096) == 0) {
        i += 4096;
    }
    while (i < n && a[alen - i - 1] == b[blen - i - 1]) {
        i++;
    }
    return i;
}

/* How many of the first lines of old (n, line k ending at end[k]) end within bytes. */
static int lines_within(const apr_size_t *end, int n, apr_size_t bytes)
{
    int lo = 0, hi = n;

    while (lo < hi) {                /* the first line that ends past bytes */
        int mid = lo + (hi - lo) / 2;

        if (end[mid] <= bytes) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    return lo;
}

void aop_doc_splice(const char *old, apr_size_t old_len, const apr_size_t *old_end, int old_n,
                    const char *new_text, apr_size_t new_len, aop_doc_splice_t *out)
{
    apr_size_t shorter = old_len < new_len ? old_len : new_len, head_bytes, tail, cut;
    int k;

    out->head = lines_within(old_end, old_n, same_head(old, new_text, shorter));
    head_bytes = out->head ? old_end[out->head - 1] : 0;
    tail = same_tail(old, old_len, new_text, new_len, shorter - head_bytes);
    /* The first of the last lines that lie whole in the common tail; a line that
     * starts exactly where the common tail does is new's line too only if new has a
     * line break (or its start) just before it. */
    cut = old_len - tail;
    k = lines_within(old_end, old_n, cut);       /* lines ending at or before cut */
    if (k < out->head) {
        k = out->head;
    }
    if (k < old_n && (k ? old_end[k - 1] : 0) < cut) {
        k++;                         /* line k starts before the common tail */
    }
    if (k < old_n && (k ? old_end[k - 1] : 0) == cut && new_len > tail
        && new_text[new_len - tail - 1] != '\n') {
        k++;
    }
    out->tail = old_n - k;
    out->from = head_bytes;
    out->to = new_len - (old_len - (k ? old_end[k - 1] : 0));
    if (out->tail == 0) {
        out->to = new_len;
    }
}
