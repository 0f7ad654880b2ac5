/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The strict JSON parser of aop_jtree.h: one pass over the text, recursive descent
 * bounded by AOP_JTREE_MAX_DEPTH, every node and string from the pool. */
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include "aop_jscan.h"
#include "aop_jtree.h"

/* Numbers longer than this are copied into the pool for strtod instead of the stack. */
#define NUM_BUF 64

/* Nodes are taken from the pool this many at a time: a chat request's body is eight
 * to a dozen nodes, and its tree stays in the request's pool for the request's
 * life.  Sixteen at a time (1.7 KB) made a small stream's request pool cross into
 * one more 8 KB block, a page more for each stream (69.2 KB a stream against plain
 * mod_proxy's 64.8 in tools/bench; 65.3 with ten). */
#define NODE_SLAB 10

typedef struct {
    apr_pool_t *p;
    int raw;                    /* aop_jtree_parse_raw: strings stay in the text */
    char *strings;              /* every decoded string, NUL after each: one allocation
                                 * as long as the text, which they never outgrow (each
                                 * takes at least its two quotes) */
    aop_jnode_t *slab;          /* nodes not handed out yet */
    int slab_left;
    const char *text;           /* the document's first byte: offsets count from here */
    const char *pos;            /* the next byte to read */
    const char *end;            /* one past the last byte */
    const char *err;            /* the first error, with its offset */
} jparser_t;

static apr_size_t offset_of(const jparser_t *ps, const char *at)
{
    return (apr_size_t)(at - ps->text);
}

/* Records what went wrong at at; returns NULL so that callers can return it. */
static void *fail(jparser_t *ps, const char *what, const char *at)
{
    ps->err = apr_psprintf(ps->p, "%s at offset %" APR_SIZE_T_FMT, what, offset_of(ps, at));
    return NULL;
}

/* The byte at at is not what the grammar allows there, or the text ended before it. */
static void *unexpected(jparser_t *ps, const char *at)
{
    unsigned char c;

    if (at >= ps->end) {
        return fail(ps, "unexpected end of input", ps->end);
    }
    c = (unsigned char)*at;
    /* Control and non-ASCII bytes are shown in hex: the message may end up in a log
     * line or a JSON error body, where a raw byte would be unreadable or invalid. */
    if (c >= 0x20 && c < 0x7f) {
        return fail(ps, apr_psprintf(ps->p, "invalid character '%c'", c), at);
    }
    return fail(ps, apr_psprintf(ps->p, "invalid character '\\x%02x'", c), at);
}

static void skip_ws(jparser_t *ps)
{
    const char *s = ps->pos, *end = ps->end;

    while (s < end && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')) {
        s++;
    }
    ps->pos = s;
}

/* A node of the given type whose text starts at src; src_len is set when it ends.
 * Nodes come from slabs of NODE_SLAB: one pool allocation per sixteen, not per node. */
static aop_jnode_t *new_node(jparser_t *ps, aop_jtype_e type, const char *src)
{
    aop_jnode_t *n;

    if (ps->slab_left == 0) {
        ps->slab = apr_palloc(ps->p, sizeof(*n) * NODE_SLAB);
        ps->slab_left = NODE_SLAB;
    }
    n = ps->slab++;
    ps->slab_left--;
    memset(n, 0, sizeof(*n));
    n->type = type;
    n->src = src;
    return n;
}

static void *finish(jparser_t *ps, aop_jnode_t *n)
{
    n->src_len = (apr_size_t)(ps->pos - n->src);
    return n;
}

/* ---- strings ------------------------------------------------------------------ */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* The four hex digits at s, already checked by check_escape. */
static unsigned hex4(const char *s)
{
    return (unsigned)(hex_value(s[0]) << 12 | hex_value(s[1]) << 8
                      | hex_value(s[2]) << 4 | hex_value(s[3]));
}

/* The length of the escape whose backslash is at bs: 2, or 6 for \uXXXX; 0 when it
 * is not a valid escape, -1 when the text ends inside it. */
static int escape_len(const char *bs, const char *end)
{
    int k;

    if (bs + 1 >= end) {
        return -1;
    }
    switch (bs[1]) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        return 2;
    case 'u':
        for (k = 2; k < 6; k++) {
            if (bs + k >= end) {
                return -1;
            }
            if (hex_value(bs[k]) < 0) {
                return 0;
            }
        }
        return 6;
    }
    return 0;
}

/* Checks the escape whose backslash is at bs; returns its length, or 0 after failing
 * (an escape cut by the end of the text is an early end, any other flaw an invalid
 * escape at its backslash). */
static apr_size_t check_escape(jparser_t *ps, const char *bs)
{
    int n = escape_len(bs, ps->end);

    if (n > 0) {
        return (apr_size_t)n;
    }
    if (n < 0) {
        unexpected(ps, ps->end);
    }
    else {
        fail(ps, "invalid escape", bs);
    }
    return 0;
}

/* Writes code point cp as UTF-8 at out; returns the bytes written. */
static apr_size_t put_utf8(char *out, unsigned long cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The bytes code point cp takes in UTF-8. */
static apr_size_t utf8_len(unsigned long cp)
{
    return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/* Decodes the \u escape at s (inside [s, end), checked) into out (or only counts,
 * when out is NULL); returns how many input bytes it took (6, or 12 for a surrogate
 * pair) and adds the output's length to *o. */
static apr_size_t decode_u(const char *s, const char *end, char *out, apr_size_t *o)
{
    unsigned long cp = hex4(s + 2);

    if (cp >= 0xD800 && cp <= 0xDBFF && end - s >= 12 && s[6] == '\\' && s[7] == 'u') {
        unsigned long lo = hex4(s + 8);

        if (lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            *o += out ? put_utf8(out + *o, cp) : utf8_len(cp);
            return 12;
        }
    }
    /* A lone surrogate is not valid Unicode, but refusing it would refuse bodies that
     * json-c, Python and most JavaScript engines accept: like them it is kept, encoded
     * as its own 3-byte sequence. */
    *o += out ? put_utf8(out + *o, cp) : utf8_len(cp);
    return 6;
}

apr_size_t aop_jtree_escape(const char *bs, const char *end, apr_size_t *out)
{
    int n = escape_len(bs, end);

    if (n <= 0) {
        return 0;
    }
    if (n == 2) {
        *out += 1;
        return 2;
    }
    /* decode_u reads a pair's second half unchecked: checked here (a flaw in it is
     * one the parser would refuse the text for too). */
    if (end - bs >= 12 && bs[6] == '\\' && bs[7] == 'u' && escape_len(bs + 6, end) != 6) {
        return 0;
    }
    return decode_u(bs, end, NULL, out);
}

/* Decodes the escaped string body [s, end), already checked, into out; with out NULL
 * it only counts the decoded length (raw mode).  Escapes only ever shrink the text
 * (\uXXXX: 6 bytes in, at most 3 out; a pair: 12 in, 4 out), so the raw length
 * (+ NUL) is enough room. */
static void decode_string(char *out, const char *s, const char *end, apr_size_t *len)
{
    apr_size_t o = 0;

    while (s < end) {
        const char *bs = memchr(s, '\\', (apr_size_t)(end - s));
        apr_size_t run = (apr_size_t)((bs ? bs : end) - s);

        if (out) {
            memcpy(out + o, s, run);
        }
        o += run;
        if (!bs) {
            break;
        }
        if (bs[1] == 'u') {
            s = bs + decode_u(bs, end, out, &o);
            continue;
        }
        if (out) {
            switch (bs[1]) {
            case 'b': out[o] = '\b'; break;
            case 'f': out[o] = '\f'; break;
            case 'n': out[o] = '\n'; break;
            case 'r': out[o] = '\r'; break;
            case 't': out[o] = '\t'; break;
            default: out[o] = bs[1]; break;     /* " \ / */
            }
        }
        o++;
        s = bs + 2;
    }
    if (out) {
        out[o] = '\0';
    }
    *len = o;
}

/* Scans the string whose opening quote is at ps->pos, checking every escape; returns
 * the byte after its closing quote (ps->pos is not moved), or NULL after failing.
 * *escaped says whether it holds a backslash. */
static const char *scan_string(jparser_t *ps, int *escaped)
{
    const char *s = ps->pos + 1, *end = ps->end;

    *escaped = 0;
    for (;;) {
        apr_size_t esc;

        s = aop_jscan_plain(s, end);
        if (s >= end) {
            return unexpected(ps, end);
        }
        if (*s == '"') {
            return s;
        }
        if (*s != '\\') {
            return unexpected(ps, s);           /* a control character */
        }
        if ((esc = check_escape(ps, s)) == 0) {
            return NULL;
        }
        *escaped = 1;
        s += esc;
    }
}

/* Decodes [start, s) into the pool (raw mode: one allocation for this string only). */
static const char *decode_alone(apr_pool_t *p, const char *start, const char *s,
                                apr_size_t *len)
{
    char *out = apr_palloc(p, (apr_size_t)(s - start) + 1);

    decode_string(out, start, s, len);
    return out;
}

/* Reads the string whose opening quote is at ps->pos; returns its decoded text (in
 * ps->strings, NUL-terminated) and leaves ps->pos after the closing quote.  The common
 * case, no backslash, is one tight scan and one copy; escaped strings are checked
 * during the same scan and decoded in a second pass.
 *
 * Raw mode copies nothing for a value (want_text 0): it returns the text between the
 * quotes, as the document has it, and *len is the decoded length all the same.  A
 * member name (want_text 1) comes back as it is in the text when it has no escape
 * (then it is not NUL-terminated), decoded into the pool otherwise. */
static const char *parse_string(jparser_t *ps, apr_size_t *len, int want_text)
{
    const char *start = ps->pos + 1, *s;
    int escaped;
    char *out = ps->strings;

    if ((s = scan_string(ps, &escaped)) == NULL) {
        return NULL;
    }
    ps->pos = s + 1;
    if (ps->raw) {
        if (!escaped) {
            *len = (apr_size_t)(s - start);
            return start;
        }
        if (want_text) {
            return decode_alone(ps->p, start, s, len);
        }
        decode_string(NULL, start, s, len);
        return start;
    }
    if (escaped) {
        decode_string(out, start, s, len);
    }
    else {
        *len = (apr_size_t)(s - start);
        memcpy(out, start, *len);
        out[*len] = '\0';
    }
    ps->strings += *len + 1;
    return out;
}

static aop_jnode_t *parse_string_value(jparser_t *ps)
{
    aop_jnode_t *n = new_node(ps, AOP_JSTRING, ps->pos);
    const char *text;

    if ((text = parse_string(ps, &n->str_len, 0)) == NULL) {
        return NULL;
    }
    n->str = ps->raw ? NULL : text;
    return finish(ps, n);
}

/* ---- numbers, literals ---------------------------------------------------------- */

/* Reads a run of digits, at least one. */
static int scan_digits(jparser_t *ps)
{
    const char *s = ps->pos;

    if (s >= ps->end || *s < '0' || *s > '9') {
        unexpected(ps, s);
        return -1;
    }
    while (s < ps->end && *s >= '0' && *s <= '9') {
        s++;
    }
    ps->pos = s;
    return 0;
}

/* The integer [s, end) of plain digits, by hand (strtoll would be slower and needs a
 * NUL-terminated copy).  Out of range it saturates to INT64_MAX / INT64_MIN, as json-c
 * does, and stays an integer. */
apr_int64_t aop_jtree_int(const char *s, const char *end, int neg)
{
    /* The magnitude's limit: 2^63 for a negative number, 2^63 - 1 otherwise. */
    const apr_uint64_t limit = (apr_uint64_t)APR_INT64_MAX + (neg ? 1 : 0);
    apr_uint64_t mag = 0;

    /* Eighteen digits never reach the limit: no test, no division, a digit. */
    if (end - s <= 18) {
        for (; s < end; s++) {
            mag = mag * 10 + (unsigned)(*s - '0');
        }
        return neg ? -(apr_int64_t)mag : (apr_int64_t)mag;
    }
    for (; s < end; s++) {
        unsigned d = (unsigned)(*s - '0');

        if (mag > (limit - d) / 10) {
            mag = limit;
            break;
        }
        mag = mag * 10 + d;
    }
    if (!neg) {
        return (apr_int64_t)mag;
    }
    return mag == limit ? APR_INT64_MIN : -(apr_int64_t)mag;
}

/* A number with a fraction or an exponent.  strtod follows the locale's decimal
 * point; httpd runs in the C locale (it never calls setlocale), so '.' is right.
 * Out of double's range it gives +-HUGE_VAL or 0, which are kept, as json-c does. */
static double double_value(apr_pool_t *p, const char *s, apr_size_t len)
{
    char buf[NUM_BUF];
    char *copy = len < sizeof(buf) ? buf : apr_palloc(p, len + 1);

    memcpy(copy, s, len);
    copy[len] = '\0';
    return strtod(copy, NULL);
}

static aop_jnode_t *parse_number(jparser_t *ps)
{
    aop_jnode_t *n = new_node(ps, AOP_JINT, ps->pos);
    const char *digits;
    int neg = 0;

    if (*ps->pos == '-') {
        neg = 1;
        ps->pos++;
    }
    digits = ps->pos;
    if (digits < ps->end && *digits == '0') {
        ps->pos++;
        if (ps->pos < ps->end && *ps->pos >= '0' && *ps->pos <= '9') {
            return unexpected(ps, ps->pos);     /* a leading zero */
        }
    }
    else if (scan_digits(ps) < 0) {
        return NULL;
    }
    if (ps->pos < ps->end && (*ps->pos == '.' || *ps->pos == 'e' || *ps->pos == 'E')) {
        if (*ps->pos == '.') {
            ps->pos++;
            if (scan_digits(ps) < 0) {
                return NULL;
            }
        }
        if (ps->pos < ps->end && (*ps->pos == 'e' || *ps->pos == 'E')) {
            ps->pos++;
            if (ps->pos < ps->end && (*ps->pos == '+' || *ps->pos == '-')) {
                ps->pos++;
            }
            if (scan_digits(ps) < 0) {
                return NULL;
            }
        }
        n->type = AOP_JDOUBLE;
        n->d = double_value(ps->p, n->src, (apr_size_t)(ps->pos - n->src));
        return finish(ps, n);
    }
    n->i = aop_jtree_int(digits, ps->pos, neg);
    n->d = (double)n->i;
    return finish(ps, n);
}

/* true, false or null: word must follow in full. */
static aop_jnode_t *parse_literal(jparser_t *ps, const char *word, aop_jtype_e type, int b)
{
    aop_jnode_t *n = new_node(ps, type, ps->pos);

    for (; *word; word++, ps->pos++) {
        if (ps->pos >= ps->end || *ps->pos != *word) {
            return unexpected(ps, ps->pos);
        }
    }
    n->b = b;
    return finish(ps, n);
}

/* ---- containers ------------------------------------------------------------------ */

static aop_jnode_t *parse_value(jparser_t *ps, int depth);

/* Appends n to parent's children; *tail keeps the last one so this is O(1). */
static void append(aop_jnode_t *parent, aop_jnode_t **tail, aop_jnode_t *n)
{
    if (*tail) {
        (*tail)->next = n;
    }
    else {
        parent->child = n;
    }
    *tail = n;
    parent->count++;
}

/* After a member or element: ',' (another follows) returns 1, the closing byte 0,
 * anything else fails with -1. */
static int after_item(jparser_t *ps, char close)
{
    skip_ws(ps);
    if (ps->pos < ps->end && *ps->pos == ',') {
        ps->pos++;
        skip_ws(ps);
        return 1;
    }
    if (ps->pos < ps->end && *ps->pos == close) {
        ps->pos++;
        return 0;
    }
    unexpected(ps, ps->pos);
    return -1;
}

/* Opens the container at ps->pos: its node, past the opening byte and whitespace;
 * NULL when it would nest deeper than AOP_JTREE_MAX_DEPTH. */
static aop_jnode_t *open_container(jparser_t *ps, aop_jtype_e type, int depth)
{
    aop_jnode_t *n;

    if (depth > AOP_JTREE_MAX_DEPTH) {
        return fail(ps, "nesting too deep", ps->pos);
    }
    n = new_node(ps, type, ps->pos);
    ps->pos++;
    skip_ws(ps);
    return n;
}

/* One "key": value member, ps->pos at the key's opening quote. */
static aop_jnode_t *parse_member(jparser_t *ps, int depth)
{
    const char *key;
    apr_size_t key_len;
    aop_jnode_t *v;

    if (ps->pos >= ps->end || *ps->pos != '"') {
        return unexpected(ps, ps->pos);
    }
    if ((key = parse_string(ps, &key_len, 1)) == NULL) {
        return NULL;
    }
    skip_ws(ps);
    if (ps->pos >= ps->end || *ps->pos != ':') {
        return unexpected(ps, ps->pos);
    }
    ps->pos++;
    skip_ws(ps);
    if ((v = parse_value(ps, depth)) == NULL) {
        return NULL;
    }
    v->key = key;
    v->key_len = key_len;
    return v;
}

/* An array or an object (depth: its own nesting level, 1 at the top), whose items
 * item() reads: values for an array, "key": value members for an object. */
static aop_jnode_t *parse_container(jparser_t *ps, int depth, aop_jtype_e type, char close,
                                    aop_jnode_t *(*item)(jparser_t *, int))
{
    aop_jnode_t *c = open_container(ps, type, depth), *tail = NULL, *one;
    int more;

    if (!c) {
        return NULL;
    }
    if (ps->pos < ps->end && *ps->pos == close) {
        ps->pos++;
        return finish(ps, c);
    }
    do {
        if ((one = item(ps, depth)) == NULL) {
            return NULL;
        }
        append(c, &tail, one);
    } while ((more = after_item(ps, close)) > 0);
    return more < 0 ? NULL : finish(ps, c);
}

/* The value at ps->pos (whitespace already skipped); depth: the containers around it. */
static aop_jnode_t *parse_value(jparser_t *ps, int depth)
{
    if (ps->pos >= ps->end) {
        return unexpected(ps, ps->pos);
    }
    switch (*ps->pos) {
    case '{': return parse_container(ps, depth + 1, AOP_JOBJECT, '}', parse_member);
    case '[': return parse_container(ps, depth + 1, AOP_JARRAY, ']', parse_value);
    case '"': return parse_string_value(ps);
    case 't': return parse_literal(ps, "true", AOP_JBOOL, 1);
    case 'f': return parse_literal(ps, "false", AOP_JBOOL, 0);
    case 'n': return parse_literal(ps, "null", AOP_JNULL, 0);
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return parse_number(ps);
    }
    return unexpected(ps, ps->pos);
}

static aop_jnode_t *parse_doc(apr_pool_t *p, int raw, const char *text, apr_size_t len,
                              const char **perr)
{
    jparser_t ps;
    aop_jnode_t *root;

    ps.p = p;
    ps.raw = raw;
    ps.strings = raw ? NULL : apr_palloc(p, len + 1);
    ps.slab = NULL;
    ps.slab_left = 0;
    ps.text = ps.pos = text;
    ps.end = text + len;
    ps.err = NULL;
    skip_ws(&ps);
    if ((root = parse_value(&ps, 0)) != NULL) {
        skip_ws(&ps);
        if (ps.pos < ps.end) {
            root = fail(&ps, "trailing data", ps.pos);
        }
    }
    if (perr) {
        *perr = ps.err;
    }
    return root;
}

aop_jnode_t *aop_jtree_parse(apr_pool_t *p, const char *text, apr_size_t len, const char **perr)
{
    return parse_doc(p, 0, text, len, perr);
}

aop_jnode_t *aop_jtree_parse_raw(apr_pool_t *p, const char *text, apr_size_t len,
                                 const char **perr)
{
    return parse_doc(p, 1, text, len, perr);
}

const char *aop_jtree_str(apr_pool_t *p, const aop_jnode_t *v, apr_size_t *len)
{
    const char *start, *end;
    char *out;

    if (!v || v->type != AOP_JSTRING) {
        return NULL;
    }
    if (v->str) {
        *len = v->str_len;
        return v->str;
    }
    start = v->src + 1;
    end = v->src + v->src_len - 1;
    out = apr_palloc(p, v->str_len + 1);
    /* Every escape decodes shorter than it is written: a string as long decoded as
     * between its quotes has none. */
    if (v->str_len != (apr_size_t)(end - start)) {
        decode_string(out, start, end, len);
    }
    else {
        memcpy(out, start, v->str_len);
        out[v->str_len] = '\0';
        *len = v->str_len;
    }
    return out;
}

const aop_jnode_t *aop_jtree_get(const aop_jnode_t *obj, const char *key)
{
    const aop_jnode_t *m, *found = NULL;
    apr_size_t len;

    if (!obj || obj->type != AOP_JOBJECT) {
        return NULL;
    }
    len = strlen(key);
    /* The whole list is walked: with duplicate names the last one wins, as in json-c. */
    for (m = obj->child; m; m = m->next) {
        if (m->key_len == len && memcmp(m->key, key, len) == 0) {
            found = m;
        }
    }
    return found;
}

static int has_nul(const char *s, apr_size_t len)
{
    return s && memchr(s, '\0', len) != NULL;
}

/* The path below v of its first NUL ("" for v itself), or NULL.  Built only on the
 * way back from a find: a clean document costs no allocation.  The recursion is
 * bounded by the parser's AOP_JTREE_MAX_DEPTH. */
static const char *nul_below(apr_pool_t *p, const aop_jnode_t *v)
{
    const aop_jnode_t *c;
    const char *sub;
    apr_size_t i = 0;

    if (v->type == AOP_JSTRING) {
        return has_nul(v->str, v->str_len) ? "" : NULL;
    }
    for (c = v->child; c; c = c->next, i++) {
        /* a name with a NUL is shown as far as it goes: the path stays printable */
        if (v->type == AOP_JOBJECT && has_nul(c->key, c->key_len)) {
            return c->key;
        }
        if ((sub = nul_below(p, c)) == NULL) {
            continue;
        }
        if (*sub && *sub != '[') {
            sub = apr_pstrcat(p, ".", sub, NULL);
        }
        return v->type == AOP_JOBJECT
               ? apr_pstrcat(p, c->key, sub, NULL)
               : apr_psprintf(p, "[%" APR_SIZE_T_FMT "]%s", i, sub);
    }
    return NULL;
}

const char *aop_jtree_nul_path(apr_pool_t *p, const aop_jnode_t *v)
{
    return v ? nul_below(p, v) : NULL;
}

const char *aop_jtree_type_word(const aop_jnode_t *v)
{
    switch (v ? v->type : AOP_JNULL) {
    case AOP_JNULL: return "null";
    case AOP_JBOOL: return "a boolean";
    case AOP_JINT: return "an integer";
    case AOP_JDOUBLE: return "a decimal";
    case AOP_JSTRING: return "a string";
    case AOP_JARRAY: return "an array";
    case AOP_JOBJECT: return "an object";
    }
    return "an unknown type";
}
