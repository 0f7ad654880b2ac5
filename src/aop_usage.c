/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
#include <limits.h>
#include <string.h>

#include <apr_strings.h>

#include "aop_jscan.h"
#include "aop_jskip.h"
#include "aop_jtree.h"
#include "aop_sat.h"
#include "aop_usage.h"

/* Where the JSON scanner is in capturing the top-level "usage" value. */
typedef enum {
    CAP_NONE,                   /* not at "usage" */
    CAP_COLON,                  /* read the key "usage", expecting ':' */
    CAP_VALUE,                  /* read ':', expecting the value */
    CAP_ON                      /* copying the value until ',' or '}' at depth 1 */
} cap_state_e;

/* Where the event parser is within the current line. */
typedef enum {
    LS_START,                   /* nothing read yet: a line break here is a blank line */
    LS_FIELD,                   /* reading the field name */
    LS_SPACE,                   /* after ':', where one space is skipped */
    LS_VALUE,                   /* reading the value (kept when the field is data) */
    LS_SKIP                     /* a comment: ignored up to the line break */
} line_state_e;

/* The JSON body scanner: just enough state to tell a top-level key from a string
 * value or a nested key, without building the document. */
typedef struct {
    int depth;
    int in_str, esc;
    int top_obj;                /* the depth-1 container is an object */
    int expect_key;             /* the next depth-1 string is a key */
    int in_key;                 /* inside a depth-1 key */
    int done;                   /* the top-level value closed */
    char prev;                  /* the last byte outside strings but space */
    int vcmp;                   /* in a string that is kept in vbuf: a key (any
                                 * depth), or the value of a key is_filter_key() */
    int is_val;                 /* ... the value */
    int filter_key;             /* the last key was one is_filter_key() */
    char vbuf[32];
    apr_size_t vlen;
    char key[8];
    apr_size_t key_len;
    cap_state_e cap;
    int cap_id;                 /* capturing "id", not "usage" */
    char *buf;                  /* the usage value, AOP_USAGE_MAX_VALUE bytes */
    apr_size_t len;
    int over;                   /* the value did not fit: it is ignored */
} json_scan_t;

/* The event parser.  In strip mode the bytes of the current event that arrived in
 * earlier pieces are held in hold; those of the piece being fed are tracked by
 * offsets (ev_start, emit_from) and copied only if the piece ends mid-event. */
typedef struct {
    line_state_e line;
    char field[8];
    apr_size_t field_len;
    int line_is_data;
    int after_cr;               /* a line ended with CR: a following LF belongs to it */
    int pending;                /* a blank line ended with CR: dispatch unless LF follows */
    char *data;                 /* the event's data lines joined with '\n' */
    const char *direct;         /* or, while they are one line in the piece being fed,
                                 * that line where it lies (data is then unused) */
    apr_size_t data_len, data_cap, data_done;   /* data_done: through the last full line */
    int data_lines, data_over;
    apr_size_t ev_raw;          /* bytes of the event so far */
    int passthrough;            /* the event outgrew AOP_USAGE_MAX_EVENT: not held */
    char *hold;
    apr_size_t hold_len, hold_cap;
    apr_size_t ev_start;        /* where the current event starts in the piece */
    apr_size_t emit_from;       /* the piece's first byte neither emitted nor dropped */
} sse_scan_t;

struct aop_usage_parser_t {
    apr_pool_t *pool;
    apr_pool_t *scratch;        /* one event's parse tree, cleared after each */
    int sse, strip;
    int keep_usage;             /* strip mode that drops no usage chunk */
    int text_on, text_bad;      /* aop_usage_keep_text; the answer cannot be resumed */
    char *text;
    apr_size_t text_len, text_max;
    aop_usage_t usage;
    apr_int64_t content_chars;
    int saw_done, events;
    int content_filter;         /* aop_usage_content_filter() */
    int want_id;                /* keep the answer's id (aop_usage_want_id) */
    int fed;                    /* a byte was fed (aop_usage_feed_whole's condition) */
    int tree_parses;            /* events parsed into a tree (aop_usage_tree_parses) */
    const char *id;
    json_scan_t j;
    sse_scan_t s;
};

aop_usage_parser_t *aop_usage_parser_create(apr_pool_t *p, int sse, int strip)
{
    aop_usage_parser_t *up = apr_pcalloc(p, sizeof(*up));

    up->pool = p;
    up->sse = sse;
    up->strip = strip;
    return up;
}

/* ---- results shared by both formats ------------------------------------------ */

/* Parses len bytes of JSON (aop_jtree: no json-c on the path of every answer) into
 * the scratch pool, which the caller clears: a stream may carry any number of usage
 * objects, and must not grow the request's pool with each.  NULL when invalid. */
static const aop_jnode_t *parse_json(aop_usage_parser_t *up, const char *text,
                                     apr_size_t len)
{
    if (!up->scratch) {
        apr_pool_create(&up->scratch, up->pool);
    }
    up->tree_parses += up->tree_parses < INT_MAX;
    return aop_jtree_parse(up->scratch, text, len, NULL);
}

/* A non-negative integer member, held at AOP_USAGE_MAX_TOKENS; -1 when absent or
 * not one. */
static apr_int64_t count_member(const aop_jnode_t *obj, const char *key)
{
    const aop_jnode_t *v = aop_jtree_get(obj, key);

    if (!v || v->type != AOP_JINT || v->i < 0) {
        return -1;
    }
    return v->i > AOP_USAGE_MAX_TOKENS ? AOP_USAGE_MAX_TOKENS : v->i;
}

/* The counts a usage object gives (count_member's), by name. */
typedef enum {
    U_PROMPT, U_INPUT, U_COMPLETION, U_OUTPUT, U_TOTAL, U_COUNT
} usage_count_e;

#define USAGE_NAME(s) { s, sizeof(s) - 1 }
static const struct {
    const char *name;
    apr_size_t len;
} usage_names[U_COUNT] = {
    USAGE_NAME("prompt_tokens"), USAGE_NAME("input_tokens"),
    USAGE_NAME("completion_tokens"), USAGE_NAME("output_tokens"), USAGE_NAME("total_tokens")
};
#undef USAGE_NAME

/* Records a usage object's counts (-1: absent or not a count). */
static void set_usage(aop_usage_parser_t *up, const apr_int64_t *c)
{
    /* Chat's names, else the Responses API's. */
    apr_int64_t prompt = c[U_PROMPT] >= 0 ? c[U_PROMPT] : c[U_INPUT];
    apr_int64_t completion = c[U_COMPLETION] >= 0 ? c[U_COMPLETION] : c[U_OUTPUT];
    apr_int64_t total = c[U_TOTAL];

    up->usage.prompt_tokens = prompt < 0 ? 0 : prompt;
    up->usage.completion_tokens = completion < 0 ? 0 : completion;
    up->usage.total_tokens = total >= 0 ? total
                             : aop_sat_add_nonneg(up->usage.prompt_tokens,
                                                  up->usage.completion_tokens);
    up->usage.found = 1;
}

/* Records a usage object; null or anything else is no usage. */
static void take_usage(aop_usage_parser_t *up, const aop_jnode_t *u)
{
    apr_int64_t c[U_COUNT];
    int k;

    if (!u || u->type != AOP_JOBJECT) {
        return;
    }
    for (k = 0; k < U_COUNT; k++) {
        c[k] = count_member(u, usage_names[k].name);
    }
    set_usage(up, c);
}

/* An id a later request may name (a stored response's): a string of at most
 * AOP_USAGE_MAX_ID bytes, kept once. */
static void take_id(aop_usage_parser_t *up, const aop_jnode_t *v)
{
    apr_size_t len;
    const char *id;

    if (up->id || !v || v->type != AOP_JSTRING || v->str_len == 0
        || v->str_len > AOP_USAGE_MAX_ID) {
        return;
    }
    /* Copied: the node may live in the scratch pool, cleared after each event. */
    id = aop_jtree_str(up->pool, v, &len);
    if (!memchr(id, '\0', len)) {
        up->id = apr_pstrmemdup(up->pool, id, len);
    }
}

static int is_one_of(const char *const *words, const char *s, apr_size_t n)
{
    int i;

    for (i = 0; words[i]; i++) {
        /* The first byte rules out nearly every key without a strlen. */
        if (n && words[i][0] == s[0] && strlen(words[i]) == n && memcmp(words[i], s, n) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The values by which Azure's content filter says it spoke (aop_usage.h)... */
static int is_filter_word(const char *s, apr_size_t n)
{
    static const char *const words[] = {
        "content_filter", "content_policy_violation", "ResponsibleAIPolicyViolation", NULL
    };

    return is_one_of(words, s, n);
}

/* The member names the scans look for: the event scan's (usage, type, content, text)
 * and the content filter's keys, which carry its words (a model's text that happens
 * to be one of the words, "content": "content_filter", is no sign).  By length first:
 * the event scan asks this of nearly every member's name, and inline, for two callers
 * would otherwise make it a call per name (some 800 instructions a stream). */
enum {
    NAME_OTHER, NAME_USAGE, NAME_TYPE, NAME_TEXT, NAME_FILTER_KEY
};

static inline int name_kind(const char *n, apr_size_t len)
{
    switch (len) {
    case 4:
        return memcmp(n, "type", 4) == 0 ? NAME_TYPE
               : memcmp(n, "text", 4) == 0 ? NAME_TEXT
               : memcmp(n, "code", 4) == 0 ? NAME_FILTER_KEY : NAME_OTHER;
    case 5:
        return memcmp(n, "usage", 5) == 0 ? NAME_USAGE : NAME_OTHER;
    case 6:
        return memcmp(n, "reason", 6) == 0 ? NAME_FILTER_KEY : NAME_OTHER;
    case 7:
        return memcmp(n, "content", 7) == 0 ? NAME_TEXT : NAME_OTHER;
    case 13:
        return memcmp(n, "finish_reason", 13) == 0 ? NAME_FILTER_KEY : NAME_OTHER;
    }
    return NAME_OTHER;
}

static int is_filter_key(const char *s, apr_size_t n)
{
    return name_kind(s, n) == NAME_FILTER_KEY;
}

/* ---- one JSON document ---------------------------------------------------------- */

static void cap_put(json_scan_t *j, char c)
{
    if (j->len < AOP_USAGE_MAX_VALUE) {
        j->buf[j->len++] = c;
    }
    else {
        j->over = 1;
    }
}

static void cap_end(aop_usage_parser_t *up)
{
    up->j.cap = CAP_NONE;
    if (up->j.over) {
        return;
    }
    /* Once per answer: the request's pool will do. */
    if (up->j.cap_id) {
        take_id(up, aop_jtree_parse(up->pool, up->j.buf, up->j.len, NULL));
    }
    else {
        take_usage(up, aop_jtree_parse(up->pool, up->j.buf, up->j.len, NULL));
    }
}

static void key_end(aop_usage_parser_t *up)
{
    json_scan_t *j = &up->j;

    j->in_key = 0;
    j->cap_id = up->want_id && !up->id && j->key_len == 2 && memcmp(j->key, "id", 2) == 0;
    if (j->cap_id || (j->key_len == 5 && memcmp(j->key, "usage", 5) == 0)) {
        j->cap = CAP_COLON;
        j->len = 0;
        j->over = 0;
        if (!j->buf) {
            j->buf = apr_palloc(up->pool, AOP_USAGE_MAX_VALUE);
        }
    }
}

/* A byte of a key, or of a filter key's string value, while it may still be one of
 * the words compared.  None has a backslash: an escape ends the comparison (the key
 * is then of no interest), so the quote that ends it here is the string's end. */
static void value_byte(aop_usage_parser_t *up, char c)
{
    json_scan_t *j = &up->j;

    if (c == '"') {
        j->vcmp = 0;
        if (j->is_val) {
            up->content_filter |= is_filter_word(j->vbuf, j->vlen);
        }
        else {
            j->filter_key = is_filter_key(j->vbuf, j->vlen);
        }
    }
    else if (c == '\\' || j->vlen == sizeof(j->vbuf)) {
        j->vcmp = 0;
    }
    else {
        j->vbuf[j->vlen++] = c;
    }
}

/* Inside a string: keys are compared raw, so an escaped "usage" key is not seen
 * (no server writes one). */
static void json_str_byte(aop_usage_parser_t *up, char c)
{
    json_scan_t *j = &up->j;

    if (j->vcmp) {
        value_byte(up, c);
    }

    if (!j->esc && c == '"') {
        j->in_str = 0;
        if (j->in_key) {
            key_end(up);
        }
        return;
    }
    j->esc = !j->esc && c == '\\';
    if (j->in_key) {
        if (j->key_len < sizeof(j->key)) {
            j->key[j->key_len] = c;
        }
        j->key_len++;
    }
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Moves the capture along for a byte outside strings; returns whether to copy it. */
static int cap_step(aop_usage_parser_t *up, char c)
{
    json_scan_t *j = &up->j;

    switch (j->cap) {
    case CAP_COLON:
        j->cap = c == ':' ? CAP_VALUE : is_space(c) ? CAP_COLON : CAP_NONE;
        return 0;
    case CAP_VALUE:
        if (is_space(c)) {
            return 0;
        }
        j->cap = CAP_ON;
        return 1;
    case CAP_ON:
        if (j->depth == 1 && (c == ',' || c == '}')) {
            cap_end(up);
            return 0;
        }
        return 1;
    case CAP_NONE:
        break;
    }
    return 0;
}

static void json_byte(aop_usage_parser_t *up, char c)
{
    json_scan_t *j = &up->j;

    if (cap_step(up, c)) {
        cap_put(j, c);
    }
    switch (c) {
    case '"':
        j->in_str = 1;
        /* A string right after ':' is a member's value, at any depth; one after '{'
         * or ',' a key (or an array's element: compared for nothing). */
        j->is_val = j->prev == ':';
        j->vcmp = !j->is_val || j->filter_key;
        j->filter_key = 0;
        j->vlen = 0;
        if (j->depth == 1 && j->top_obj && j->expect_key) {
            j->in_key = 1;
            j->key_len = 0;
            j->expect_key = 0;
        }
        break;
    case '{':
    case '[':
        if (j->depth++ == 0) {
            j->top_obj = j->expect_key = c == '{';
        }
        break;
    case '}':
    case ']':
        if (j->depth > 0 && --j->depth == 0) {
            j->done = 1;
        }
        break;
    case ',':
        j->expect_key = j->depth == 1 && j->top_obj;
        break;
    }
    if (!is_space(c)) {
        j->prev = c;
    }
}

/* n bytes inside a string, none of them a quote or a backslash (and no escape
 * pending): what json_str_byte() does with each, done for the span at once.  A
 * small answer is mostly keys, every one of which is compared: byte by byte, they
 * made the scan of the benchmark's 346-byte answer 12 000 instructions, half of all
 * the module's work on a small chat (callgrind; 8 600 with spans). */
static void str_span(json_scan_t *j, const char *s, apr_size_t n)
{
    if (j->cap == CAP_ON) {
        apr_size_t room = AOP_USAGE_MAX_VALUE - j->len;

        memcpy(j->buf + j->len, s, n < room ? n : room);
        j->len += n < room ? n : room;
        j->over |= n > room;
    }
    if (j->vcmp) {
        /* value_byte() stops comparing at the byte that finds vbuf full. */
        if (j->vlen + n <= sizeof(j->vbuf)) {
            memcpy(j->vbuf + j->vlen, s, n);
            j->vlen += n;
        }
        else {
            j->vcmp = 0;
        }
    }
    if (j->in_key) {
        if (j->key_len < sizeof(j->key)) {
            apr_size_t room = sizeof(j->key) - j->key_len;

            memcpy(j->key + j->key_len, s, n < room ? n : room);
        }
        j->key_len += n;
    }
}

static void json_feed(aop_usage_parser_t *up, const char *d, apr_size_t len)
{
    json_scan_t *j = &up->j;
    apr_size_t i = 0, k;

    while (i < len && !j->done) {
        if (j->in_str && !j->esc) {
            /* A control character stops the run too; json_str_byte() takes it. */
            k = (apr_size_t)(aop_jscan_plain(d + i, d + len) - d);
            if (k > i) {
                str_span(j, d + i, k - i);
                i = k;
                continue;
            }
        }
        if (j->in_str) {
            if (j->cap == CAP_ON) {
                cap_put(j, d[i]);
            }
            json_str_byte(up, d[i]);
        }
        else {
            json_byte(up, d[i]);
        }
        i++;
    }
}

/* ---- a usage object read in place -------------------------------------------- */

/* The usage object of a whole answer (whole_json below), read as aop_jtree would
 * parse it and take_usage read the tree, without building one: the JSON grammar
 * checked as strictly (a text the tree parser refuses is refused: the full scan then
 * decides), the counts kept as count_member keeps them.  The tree cost a small
 * answer some 1 500 instructions, most of them in making nodes. */

/* Past the value at s (space skipped), in a container at depth, or NULL; *count: a
 * number's count_member value (-1 when it has a fraction or an exponent, or is below
 * zero), -1 for anything else. */
static const char *u_value(const char *s, const char *e, int depth, apr_int64_t *count)
{
    const char *end, *d;
    aop_jnum_t num;
    apr_int64_t v = 0;

    *count = -1;
    if (s >= e || (*s != '-' && (*s < '0' || *s > '9'))) {
        return aop_jskip_value(s, e, depth, NULL);
    }
    if ((end = aop_jskip_number(s, e, &num)) == NULL) {
        return NULL;
    }
    /* Held at AOP_USAGE_MAX_TOKENS as it is read: the tree's integer saturates at
     * INT64_MAX, which count_member then holds there too. */
    for (d = num.digits; d < num.digits_end && v <= AOP_USAGE_MAX_TOKENS; d++) {
        v = v * 10 + (*d - '0');
    }
    *count = !num.is_int || (num.neg && v != 0) ? -1
             : v > AOP_USAGE_MAX_TOKENS ? AOP_USAGE_MAX_TOKENS : v;
    return end;
}

/* The counts' index of a member name, or -1. */
static int u_name(const char *name, apr_size_t len)
{
    int k;

    for (k = 0; k < U_COUNT; k++) {
        if (usage_names[k].len == len && memcmp(name, usage_names[k].name, len) == 0) {
            return k;
        }
    }
    return -1;
}

/* Past the usage object at s (its '{'), or NULL: the members named in usage_names
 * set their counts in c, a later one replacing an earlier one, as the tree's lookup
 * takes the last.  Its depth is 1: the full scan parses the value alone. */
static const char *usage_object_end(const char *s, const char *e, apr_int64_t *c)
{
    apr_int64_t count;
    const char *name;
    apr_size_t len;
    int k, more;

    s = aop_jskip_ws(s + 1, e);
    if (s < e && *s == '}') {
        return s + 1;
    }
    do {
        /* A name with a backslash is refused: whole_json's walk has already sent
         * answers with one to the scan. */
        if ((s = aop_jskip_name(s, e, &name, &len)) == NULL) {
            return NULL;
        }
        k = u_name(name, len);
        if ((s = u_value(s, e, 1, &count)) == NULL) {
            return NULL;
        }
        if (k >= 0) {
            c[k] = count;
        }
    } while ((more = aop_jskip_next(&s, e, '}')) > 0);
    return more == 0 ? s : NULL;
}

/* The usage object [s, e) (from its '{', maybe space after its '}'): 1 and its
 * counts recorded, or 0 when it is not one valid JSON object. */
static int read_usage_object(aop_usage_parser_t *up, const char *s, const char *e)
{
    apr_int64_t c[U_COUNT] = { -1, -1, -1, -1, -1 };

    if (s >= e || *s != '{' || (s = usage_object_end(s, e, c)) == NULL || aop_jskip_ws(s, e) != e) {
        return 0;
    }
    set_usage(up, c);
    return 1;
}

/* ---- a whole JSON answer: its usage found from the end ------------------------- */

/* One past the last byte of d[0, e) that is not space. */
static apr_size_t trim_end(const char *d, apr_size_t e)
{
    while (e > 0 && is_space(d[e - 1])) {
        e--;
    }
    return e;
}

/* The longest of is_filter_word's words ("ResponsibleAIPolicyViolation"). */
#define FILTER_WORD_MAX 28

/* Whether one of is_filter_word's words, with its closing quote, starts at p (which
 * follows a quote).  They all begin "content_" or 'R': that test turns away nearly
 * every other quoted text ("choices", "content", "created") at once. */
static int filter_word_at(const char *p, const char *end)
{
    apr_size_t room = (apr_size_t)(end - p);
    const char *q;

    if (*p != 'R' && (room < 8 || memcmp(p, "content_", 8) != 0)) {
        return 0;
    }
    q = memchr(p, '"', room < FILTER_WORD_MAX + 1 ? room : FILTER_WORD_MAX + 1);
    return q && is_filter_word(p, (apr_size_t)(q - p));
}

/* Whether a filter word stands between quotes anywhere in d.  If none does, the
 * full scan could not flag the answer: it compares a filter key's value raw, as the
 * bytes between its quotes.  Sixteen bytes at a time where SSE2 is, a quote followed
 * by 'c' or 'R' found by two overlapping loads: a quote at a time, with the words
 * compared after every 'c', it cost a small answer about 1 500 instructions. */
static int may_be_filtered(const char *d, apr_size_t len)
{
    const char *p = d, *end = d + len;

#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), c = _mm_set1_epi8('c'), R = _mm_set1_epi8('R');

    while (end - p >= 17) {
        __m128i at = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i next = _mm_loadu_si128((const __m128i *)(const void *)(p + 1));
        unsigned mask = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(at, quote))
                        & (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(next, c),
                                                                   _mm_cmpeq_epi8(next, R)));

        while (mask) {
            if (filter_word_at(p + __builtin_ctz(mask) + 1, end)) {
                return 1;
            }
            mask &= mask - 1;
        }
        p += 16;
    }
#endif
    for (; p + 1 < end; p++) {
        if (*p == '"' && filter_word_at(p + 1, end)) {
            return 1;
        }
    }
    return 0;
}

/* The walk of bracket_start() below, one byte back: 1 when it has ended (*found set),
 * 0 to go on.  Only quotes, backslashes and brackets do anything. */
typedef struct {
    int depth;                  /* brackets closed and not yet opened again */
    int in_string;              /* between a closing quote and its opening one */
} walk_t;

static int walk_byte(walk_t *w, const char *d, apr_size_t lo, apr_size_t p,
                     apr_size_t *found)
{
    char c = d[p];

    *found = 0;
    if (w->in_string) {
        /* With no backslash in the string, the quote before its closing one opens it;
         * a backslash leaves it to the full scan (a quote in it could mislead). */
        if (c == '\\' || (c == '"' && (p <= lo || d[p - 1] == '\\'))) {
            return 1;
        }
        w->in_string = c != '"';
        return 0;
    }
    if (c == '"') {
        w->in_string = 1;
    }
    else if (c == '}' || c == ']') {
        w->depth++;
    }
    else if ((c == '{' || c == '[') && --w->depth == 0) {
        *found = c == '{' ? p : 0;
        return 1;
    }
    return 0;
}

/* Walks back over the value that ends at d[e - 1] ('}' or ']') to its opening
 * bracket, above lo: its index, or 0 when it is not found or a string in it holds a
 * backslash (then a quote in it could mislead the walk; the full scan decides).
 * Sixteen bytes at a time where SSE2 is, stopping only at the bytes that matter: a
 * byte at a time, the usage object of a small answer cost about 600 instructions. */
static apr_size_t bracket_start(const char *d, apr_size_t lo, apr_size_t e)
{
    walk_t w = { 0, 0 };
    apr_size_t i = e, found;

#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i low = _mm_set1_epi8(0x20), open = _mm_set1_epi8('{');
    const __m128i close = _mm_set1_epi8('}');

    while (i - lo >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(d + i - 16));
        /* '[' and ']' are '{' and '}' without the 0x20 bit; no other byte is. */
        __m128i y = _mm_or_si128(x, low);
        unsigned mask = (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
                         _mm_or_si128(_mm_cmpeq_epi8(y, open), _mm_cmpeq_epi8(y, close))));

        while (mask) {
            int bit = 31 - __builtin_clz(mask);

            if (walk_byte(&w, d, lo, i - 16 + (apr_size_t)bit, &found)) {
                return found;
            }
            mask &= ~(1u << bit);
        }
        i -= 16;
    }
#endif
    while (i > lo) {
        if (walk_byte(&w, d, lo, --i, &found)) {
            return found;
        }
    }
    return 0;
}

/* A whole answer whose last top-level member is "usage" with an object for value
 * (Azure sorts its members: "usage" comes last), no filter word in it and no id
 * wanted: its usage is taken from the end, as the full scan would take it, and 1
 * returned; 0 leaves it to the full scan.  The benchmark's 346-byte answer cost the
 * full scan 10 200 instructions (callgrind). */
static int whole_json(aop_usage_parser_t *up, const char *d, apr_size_t len)
{
    apr_size_t b = 0, e = trim_end(d, len), close, from, k;

    while (b < e && is_space(d[b])) {
        b++;
    }
    if (up->want_id || e < b + 2 || d[b] != '{' || d[e - 1] != '}') {
        return 0;
    }
    close = e - 1;              /* the top-level object's end */
    e = trim_end(d, close);
    if (e <= b + 1 || d[e - 1] != '}' || !(from = bracket_start(d, b + 1, e))) {
        return 0;
    }
    /* The full scan captures from the value to the top-level '}', and ignores a
     * capture that outgrows its buffer. */
    if (close - from > AOP_USAGE_MAX_VALUE) {
        return 0;
    }
    k = trim_end(d, from);
    if (k <= b || d[k - 1] != ':') {
        return 0;
    }
    k = trim_end(d, k - 1);
    if (k < b + 1 + 7 || memcmp(d + k - 7, "\"usage\"", 7) != 0) {
        return 0;
    }
    k = trim_end(d, k - 7);
    if (k - 1 != b && d[k - 1] != ',') {
        return 0;
    }
    if (may_be_filtered(d + b, e - b)) {
        return 0;
    }
    /* An object the full scan would take (else it keeps an earlier one's). */
    if (!read_usage_object(up, d + from, d + close)) {
        return 0;
    }
    up->j.done = 1;
    return 1;
}

/* ---- server-sent events --------------------------------------------------------- */

/* Grows a pool buffer by doubling, up to AOP_USAGE_MAX_EVENT, from 1 KB: an event
 * of Azure's is a few hundred bytes, and the buffer lives as long as the stream. */
static void buf_reserve(apr_pool_t *p, char **buf, apr_size_t *cap, apr_size_t used,
                        apr_size_t need)
{
    apr_size_t ncap = *cap ? *cap : 1024;
    char *nbuf;

    if (need <= *cap) {
        return;
    }
    while (ncap < need) {
        ncap *= 2;
    }
    if (ncap > AOP_USAGE_MAX_EVENT) {
        ncap = AOP_USAGE_MAX_EVENT;
    }
    nbuf = apr_palloc(p, ncap);
    if (used) {
        memcpy(nbuf, *buf, used);
    }
    *buf = nbuf;
    *cap = ncap;
}

static void data_keep(aop_usage_parser_t *up);

/* An event's first data is not copied: nearly every event of a stream is one data
 * line that arrives whole in one piece, and is evaluated where it lies.  The buffer,
 * which lives as long as the stream, is made only for an event of several lines or
 * one that continues in the next piece (data_keep). */
static void data_append(aop_usage_parser_t *up, const char *d, apr_size_t n)
{
    sse_scan_t *s = &up->s;

    if (s->data_over || n == 0) {
        return;
    }
    if (s->data_len + n > AOP_USAGE_MAX_EVENT) {
        s->data_over = 1;
        s->direct = NULL;
        return;
    }
    if (s->data_len == 0) {
        s->direct = d;
        s->data_len = n;
        return;
    }
    data_keep(up);
    buf_reserve(up->pool, &s->data, &s->data_cap, s->data_len, s->data_len + n);
    memcpy(s->data + s->data_len, d, n);
    s->data_len += n;
}

/* The data stops pointing into the piece (it ends, or more data follows): copied. */
static void data_keep(aop_usage_parser_t *up)
{
    sse_scan_t *s = &up->s;

    if (!s->direct) {
        return;
    }
    buf_reserve(up->pool, &s->data, &s->data_cap, 0, s->data_len);
    memcpy(s->data, s->direct, s->data_len);
    s->direct = NULL;
}

static apr_int64_t utf8_chars(const char *str, apr_size_t len)
{
    apr_int64_t n = 0;
    apr_size_t i;

    for (i = 0; i < len; i++) {
        n += ((unsigned char)str[i] & 0xC0) != 0x80;
    }
    return n;
}

static apr_int64_t string_chars(const aop_jnode_t *obj, const char *key)
{
    const aop_jnode_t *v = aop_jtree_get(obj, key);

    return v && v->type == AOP_JSTRING ? utf8_chars(v->str, v->str_len) : 0;
}

/* Generated text: choices[].delta.content (chat) and choices[].text (completions). */
static void count_choices(aop_usage_parser_t *up, const aop_jnode_t *choices)
{
    const aop_jnode_t *c, *delta;

    for (c = choices->child; c; c = c->next) {
        if (c->type != AOP_JOBJECT) {
            continue;
        }
        if ((delta = aop_jtree_get(c, "delta")) != NULL && delta->type == AOP_JOBJECT) {
            up->content_chars = aop_sat_add_nonneg(up->content_chars,
                                                   string_chars(delta, "content"));
        }
        up->content_chars = aop_sat_add_nonneg(up->content_chars, string_chars(c, "text"));
    }
}

static int is_done(const char *d, apr_size_t len)
{
    while (len > 0 && is_space(d[len - 1])) {
        len--;
    }
    return len == 6 && memcmp(d, "[DONE]", 6) == 0;
}

/* The characters of a JSON string's text, from just after its opening quote: an
 * escape counts as one character, as do the bytes of one UTF-8 character.  *end is
 * set after the closing quote (or to len when the string is cut short). */
static apr_int64_t json_string_chars(const char *d, apr_size_t len, apr_size_t *end)
{
    apr_int64_t n = 0;
    apr_size_t i = 0;

    while (i < len && d[i] != '"') {
        if (d[i] == '\\') {
            i += (i + 1 < len && d[i + 1] == 'u') ? 6 : 2;
            n++;
        }
        else {
            n += ((unsigned char)d[i] & 0xC0) != 0x80;
            i++;
        }
    }
    *end = i < len ? i + 1 : len;
    return n;
}

/* The Responses API's stream ends with one of these events (it sends no [DONE]). */
static int is_terminal_type(const char *d, apr_size_t len)
{
    static const char *const ends[] = {
        "\"response.completed\"", "\"response.incomplete\"", "\"response.failed\"", NULL
    };
    int i;

    for (i = 0; ends[i]; i++) {
        apr_size_t n = strlen(ends[i]);

        if (len >= n && memcmp(d, ends[i], n) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The string whose opening quote is d[at], when it is short and has no escape: its
 * text's length, with *end at its closing quote; else -1. */
static int short_string(const char *d, apr_size_t len, apr_size_t at, apr_size_t *end)
{
    apr_size_t e = at + 1;

    while (e < len && e - at <= 32 && d[e] != '"' && d[e] != '\\') {
        e++;
    }
    if (e == len || d[e] != '"') {
        return -1;
    }
    *end = e;
    return (int)(e - at - 1);
}

/* The closing quote of the string whose text starts at s (end when the event cuts it
 * short): the first quote after an even run of backslashes, so an escaped quote
 * (\" or \\\") stays inside. */
static const char *string_close(const char *s, const char *end)
{
    const char *q = s, *b;

    for (;;) {
        q = aop_jscan_quote(q, end);
        if (q == end || q[-1] != '\\') {
            return q;           /* s[-1] is the opening quote: q[-1] can be read */
        }
        for (b = q; b > s && b[-1] == '\\'; b--) {
        }
        if (((q - b) & 1) == 0) {
            return q;
        }
        q++;
    }
}

/* One pass over an event's JSON, without building it: whether it has a "usage"
 * member, whether it ends a Responses stream, whether the content filter spoke in it
 * (a filter key whose value is one of its words), and the text of its string members
 * "content" and "text".  It goes from string to string, each skipped whole; a string
 * followed by ':' is a member's name (none can be inside a string, whose quotes
 * would be escaped).  A member whose value is not a string (logprobs' "content":
 * [...]) adds no text. */
static apr_int64_t scan_event(const char *d, apr_size_t len, int *has_usage, int *terminal,
                              int *filtered)
{
    const char *p = d, *end = d + len, *name, *close;
    apr_size_t v, after;
    apr_int64_t n = 0;
    int kind, wlen;

    *has_usage = 0;
    *terminal = 0;
    for (;;) {
        if ((p = aop_jscan_quote(p, end)) == end
            || (close = string_close(name = p + 1, end)) == end) {
            break;
        }
        p = close + 1;
        while (p < end && *p != ':' && is_space(*p)) {
            p++;
        }
        if (p == end || *p != ':') {
            continue;           /* a value's string, skipped */
        }
        do {
            p++;
        } while (p < end && is_space(*p));
        kind = name_kind(name, (apr_size_t)(close - name));
        v = (apr_size_t)(p - d);
        if (kind == NAME_USAGE) {
            /* With include_usage every chunk says "usage":null but the last: only
             * that one is parsed whole (by the caller).  The scan goes on (the
             * Responses API's last event says why it ended after its usage). */
            if (len - v < 4 || memcmp(p, "null", 4) != 0) {
                *has_usage = 1;
            }
        }
        else if (kind == NAME_TYPE) {
            *terminal = *terminal || is_terminal_type(p, len - v);
        }
        else if (kind == NAME_TEXT && p < end && *p == '"') {
            n += json_string_chars(p + 1, len - v - 1, &after);
            p += 1 + after;
        }
        else if (kind == NAME_FILTER_KEY && p < end && *p == '"'
                 && (wlen = short_string(d, len, v, &after)) >= 0) {
            *filtered |= is_filter_word(p + 1, (apr_size_t)wlen);
            p = d + after + 1;
        }
    }
    return n;
}

/* A stream that may be resumed: its one choice's text, decoded, as the client got it. */
static void keep_text(aop_usage_parser_t *up, const aop_jnode_t *choices)
{
    const aop_jnode_t *c, *delta, *v;
    apr_size_t len;
    const char *s;

    for (c = choices->child; c && !up->text_bad; c = c->next) {
        if (c->type != AOP_JOBJECT || ((v = aop_jtree_get(c, "index")) && v->type == AOP_JINT
                                       && v->i != 0)) {
            up->text_bad = 1;           /* n > 1: no prefill continues several */
            break;
        }
        if ((v = aop_jtree_get(c, "finish_reason")) && v->type != AOP_JNULL) {
            up->text_bad = 1;           /* complete: nothing to resume */
        }
        if (!(delta = aop_jtree_get(c, "delta")) || delta->type != AOP_JOBJECT) {
            continue;
        }
        if (((v = aop_jtree_get(delta, "tool_calls")) && v->type != AOP_JNULL)
            || ((v = aop_jtree_get(delta, "function_call")) && v->type != AOP_JNULL)) {
            up->text_bad = 1;           /* a call is no text to continue */
        }
        if ((v = aop_jtree_get(delta, "content")) && v->type == AOP_JSTRING && v->str_len) {
            if (v->str_len > up->text_max - up->text_len) {
                up->text_bad = 1;
                break;
            }
            s = aop_jtree_str(up->scratch, v, &len);
            memcpy(up->text + up->text_len, s, len);
            up->text_len += len;
        }
    }
}

/* A chat stream's usage chunk read without a tree: its top-level object walked as
 * aop_jtree would parse it, the last "usage" member's object read by
 * read_usage_object() as take_usage() reads the tree's, and the last "choices"
 * member's items counted.  1 when the usage was recorded (*usage_only: "choices" is
 * an empty array); 0 leaves the event to the tree: a text the tree would refuse, a
 * name with an escape, or no usage object at the top (a Responses event's is its
 * response's). */
static int usage_chunk(aop_usage_parser_t *up, const char *d, apr_size_t len,
                       int *usage_only)
{
    const char *e = d + len, *s = aop_jskip_ws(d, e), *name, *v, *us = NULL, *ue = NULL;
    apr_size_t n, items = 0;
    int more, choices = 0;

    if (s == e || *s != '{') {
        return 0;
    }
    s = aop_jskip_ws(s + 1, e);
    if (s < e && *s == '}') {
        return 0;                       /* no members, so no usage */
    }
    do {
        if ((v = aop_jskip_name(s, e, &name, &n)) == NULL) {
            return 0;
        }
        if (n == 7 && memcmp(name, "choices", 7) == 0) {
            s = aop_jskip_value(v, e, 1, &items);
            choices = *v == '[';
        }
        else {
            s = aop_jskip_value(v, e, 1, NULL);
        }
        if (!s) {
            return 0;
        }
        if (n == 5 && memcmp(name, "usage", 5) == 0) {
            us = v;
            ue = s;
        }
    } while ((more = aop_jskip_next(&s, e, '}')) > 0);
    if (more < 0 || aop_jskip_ws(s, e) != e || !us || *us != '{'
        || !read_usage_object(up, us, ue)) {
        return 0;
    }
    *usage_only = choices && items == 0;
    return 1;
}

/* Accounts for the event's data; returns whether it is the usage-only chunk.  Most
 * events of a stream are a delta without usage: those are only scanned for their
 * text (the estimate, should no usage come); the one with usage is read by
 * usage_chunk(), or parsed into a tree when it is not a chat chunk's shape (and every
 * event is when an id is still wanted or the text kept for a resume). */
static int evaluate(aop_usage_parser_t *up)
{
    sse_scan_t *s = &up->s;
    const aop_jnode_t *root, *choices, *usage, *response;
    const char *data = s->direct ? s->direct : s->data;
    int usage_only = 0, has_usage, terminal, filtered = 0;
    apr_int64_t chars;

    if (s->data_lines == 0 || (s->data_len == 0 && !s->data_over)) {
        return 0;               /* empty data: no event, as browsers see it */
    }
    if (up->events < INT_MAX) {
        up->events++;           /* an endless stream must not wrap it to "no events" */
    }
    if (s->data_over || s->passthrough) {
        return 0;
    }
    if (is_done(data, s->data_len)) {
        up->saw_done = 1;
        return 0;
    }
    chars = scan_event(data, s->data_len, &has_usage, &terminal, &filtered);
    up->saw_done |= terminal;
    up->content_filter |= filtered;
    if (!(up->want_id && !up->id) && !(up->text_on && !up->text_bad)
        && (!has_usage || usage_chunk(up, data, s->data_len, &usage_only))) {
        /* The scan's text, counted as count_choices() counts it for a chunk of
         * Azure's; once a usage is found the count is not used. */
        up->content_chars = aop_sat_add_nonneg(up->content_chars, chars);
        return usage_only;
    }
    root = parse_json(up, data, s->data_len);
    if (root && root->type == AOP_JOBJECT) {
        if ((choices = aop_jtree_get(root, "choices")) != NULL && choices->type != AOP_JARRAY) {
            choices = NULL;
        }
        if (choices && up->text_on && !up->text_bad) {
            keep_text(up, choices);
        }
        /* The Responses API's events carry the response: its id first, its usage
         * at the end. */
        response = aop_jtree_get(root, "response");
        if (response && response->type == AOP_JOBJECT) {
            take_id(up, aop_jtree_get(response, "id"));
        }
        if (!has_usage) {
            up->content_chars = aop_sat_add_nonneg(up->content_chars, chars);
            apr_pool_clear(up->scratch);
            return 0;
        }
        usage = aop_jtree_get(root, "usage");
        if (!usage && response && response->type == AOP_JOBJECT) {
            usage = aop_jtree_get(response, "usage");
        }
        if (choices) {
            count_choices(up, choices);
            usage_only = usage && usage->type == AOP_JOBJECT && choices->count == 0;
        }
        take_usage(up, usage);
    }
    apr_pool_clear(up->scratch);
    return usage_only;
}

static void event_reset(sse_scan_t *s, apr_size_t next_start)
{
    s->line = LS_START;
    s->line_is_data = 0;
    s->after_cr = s->pending = 0;
    s->data_len = s->data_done = 0;
    s->direct = NULL;
    s->data_lines = s->data_over = 0;
    s->ev_raw = 0;
    s->passthrough = 0;
    s->ev_start = next_start;
}

static apr_status_t emit_span(aop_usage_emit_fn *emit, void *baton, const char *d,
                              apr_size_t from, apr_size_t to)
{
    return to > from ? emit(baton, d + from, to - from) : APR_SUCCESS;
}

/* The event ended just before d[end]: forward or drop it. */
static apr_status_t dispatch(aop_usage_parser_t *up, const char *d, apr_size_t end,
                             aop_usage_emit_fn *emit, void *baton)
{
    sse_scan_t *s = &up->s;
    apr_status_t rv = APR_SUCCESS;
    int drop = evaluate(up) && up->strip && !up->keep_usage;

    if (drop) {
        /* Forward the events before it in this piece, then skip over it. */
        rv = emit_span(emit, baton, d, s->emit_from, s->ev_start);
        s->emit_from = end;
        s->hold_len = 0;
    }
    else if (up->strip && s->hold_len) {
        /* Its start was held: forward that, its rest stays in the piece's span. */
        rv = emit(baton, s->hold, s->hold_len);
        s->hold_len = 0;
    }
    event_reset(s, end);
    return rv;
}

/* The event is too big to hold: forward what was held and let the rest through. */
static apr_status_t go_passthrough(aop_usage_parser_t *up, aop_usage_emit_fn *emit,
                                   void *baton)
{
    sse_scan_t *s = &up->s;
    apr_status_t rv = APR_SUCCESS;

    s->passthrough = 1;
    if (s->hold_len) {
        rv = emit(baton, s->hold, s->hold_len);
        s->hold_len = 0;
    }
    return rv;
}

static int field_is_data(const sse_scan_t *s)
{
    return s->field_len == 4 && memcmp(s->field, "data", 4) == 0;
}

static void value_start(aop_usage_parser_t *up)
{
    up->s.line_is_data = field_is_data(&up->s);
    if (up->s.line_is_data && up->s.data_lines > 0) {
        data_append(up, "\n", 1);
    }
}

static void line_end(aop_usage_parser_t *up)
{
    sse_scan_t *s = &up->s;

    if (s->line == LS_FIELD) {
        value_start(up);        /* a line without ':' is a field with an empty value */
    }
    if (s->line_is_data) {
        s->data_lines += s->data_lines < INT_MAX;       /* a 12 GB event must not wrap it */
        s->data_done = s->data_len;
    }
    s->line = LS_START;
    s->line_is_data = 0;
}

/* A line break; sets *ended when it completes the event. */
static void sse_break(aop_usage_parser_t *up, char c, int *ended)
{
    sse_scan_t *s = &up->s;

    if (s->line != LS_START) {
        line_end(up);
        s->after_cr = c == '\r';
    }
    else if (c == '\r') {
        s->pending = 1;         /* CR LF or a lone CR: the next byte tells */
    }
    else {
        *ended = 1;
    }
}

/* The bytes before the first CR or LF (len when there is none): two memchr()s,
 * vectorised, rather than a loop over every byte of every event. */
static apr_size_t line_length(const char *d, apr_size_t len)
{
    const char *lf = memchr(d, '\n', len), *cr;
    apr_size_t n = lf ? (apr_size_t)(lf - d) : len;

    cr = memchr(d, '\r', n);
    return cr ? (apr_size_t)(cr - d) : n;
}

/* Consumes the next bytes of s (at least one); sets *ended when they complete the
 * event. */
static apr_size_t sse_scan(aop_usage_parser_t *up, const char *d, apr_size_t len,
                           int *ended)
{
    sse_scan_t *s = &up->s;
    apr_size_t n = 0;
    char c = d[0];

    if (s->pending) {           /* the caller saw that c is the LF ending the event */
        *ended = 1;
        return 1;
    }
    if (s->after_cr) {
        s->after_cr = 0;
        if (c == '\n') {
            return 1;
        }
    }
    if (c == '\r' || c == '\n') {
        sse_break(up, c, ended);
        return 1;
    }
    switch (s->line) {
    case LS_START:
        if (c == ':') {
            s->line = LS_SKIP;
            return 1;
        }
        s->field_len = 0;
        if (len > 5 && memcmp(d, "data:", 5) == 0) {
            /* Nearly every line of a stream: its field in one step, not a byte a call
             * (the value starts after the one optional space). */
            memcpy(s->field, "data", 4);
            s->field_len = 4;
            value_start(up);
            s->line = LS_VALUE;
            return d[5] == ' ' ? 6 : 5;
        }
        s->line = LS_FIELD;
        /* fall through */
    case LS_FIELD:
        if (c == ':') {
            value_start(up);
            s->line = LS_SPACE;
        }
        else if (s->field_len < sizeof(s->field)) {
            s->field[s->field_len++] = c;
        }
        else {
            s->field_len = sizeof(s->field) + 1;    /* too long for any field we know */
        }
        return 1;
    case LS_SPACE:
        s->line = LS_VALUE;
        if (c == ' ') {
            return 1;
        }
        /* fall through */
    case LS_VALUE:
    case LS_SKIP:
        n = line_length(d, len);
        if (s->line_is_data) {
            data_append(up, d, n);
        }
        return n;
    }
    return 1;
}

/* The piece ends mid-event: forward the events it completed, hold the rest. */
static apr_status_t piece_end(aop_usage_parser_t *up, const char *d, apr_size_t len,
                              aop_usage_emit_fn *emit, void *baton)
{
    sse_scan_t *s = &up->s;
    apr_status_t rv;
    apr_size_t rest;

    if (s->passthrough) {
        return emit_span(emit, baton, d, s->emit_from, len);
    }
    if ((rv = emit_span(emit, baton, d, s->emit_from, s->ev_start)) != APR_SUCCESS) {
        return rv;
    }
    if ((rest = len - s->ev_start) == 0) {
        return APR_SUCCESS;     /* nothing to hold (and no buffer yet: no memcpy to NULL) */
    }
    buf_reserve(up->pool, &s->hold, &s->hold_cap, s->hold_len, s->hold_len + rest);
    memcpy(s->hold + s->hold_len, d + s->ev_start, rest);
    s->hold_len += rest;
    return APR_SUCCESS;
}

static apr_status_t sse_feed(aop_usage_parser_t *up, const char *d, apr_size_t len,
                             aop_usage_emit_fn *emit, void *baton)
{
    sse_scan_t *s = &up->s;
    apr_status_t rv = APR_SUCCESS;
    apr_size_t i = 0, n;
    int ended;

    s->ev_start = s->emit_from = 0;
    while (i < len && rv == APR_SUCCESS) {
        if (s->pending && d[i] != '\n') {
            /* A blank line ended with a lone CR: the event ended before this byte. */
            if ((rv = dispatch(up, d, i, emit, baton)) != APR_SUCCESS) {
                break;
            }
        }
        ended = 0;
        n = sse_scan(up, d + i, len - i, &ended);
        i += n;
        s->ev_raw += n;
        if (ended) {
            rv = dispatch(up, d, i, emit, baton);
        }
        else if (up->strip && !s->passthrough && s->ev_raw > AOP_USAGE_MAX_EVENT) {
            rv = go_passthrough(up, emit, baton);
        }
    }
    data_keep(up);              /* the piece goes: an unfinished event's data stays */
    if (rv == APR_SUCCESS && up->strip) {
        rv = piece_end(up, d, len, emit, baton);
    }
    return rv;
}

apr_status_t aop_usage_feed(aop_usage_parser_t *up, const char *data, apr_size_t len,
                            aop_usage_emit_fn *emit, void *baton)
{
    if (len == 0) {
        return APR_SUCCESS;
    }
    up->fed = 1;
    if (up->sse) {
        return sse_feed(up, data, len, emit, baton);
    }
    json_feed(up, data, len);
    return up->strip ? emit(baton, data, len) : APR_SUCCESS;
}

apr_status_t aop_usage_feed_whole(aop_usage_parser_t *up, const char *data, apr_size_t len,
                                  aop_usage_emit_fn *emit, void *baton)
{
    if (up->sse || up->fed || len == 0 || !whole_json(up, data, len)) {
        return aop_usage_feed(up, data, len, emit, baton);
    }
    up->fed = 1;
    return up->strip ? emit(baton, data, len) : APR_SUCCESS;
}

apr_status_t aop_usage_finish(aop_usage_parser_t *up, aop_usage_emit_fn *emit,
                              void *baton)
{
    sse_scan_t *s = &up->s;
    apr_status_t rv = APR_SUCCESS;

    if (!up->sse) {
        return APR_SUCCESS;
    }
    s->ev_start = s->emit_from = 0;
    if (s->pending) {
        return dispatch(up, NULL, 0, emit, baton);      /* it only lacked a final LF */
    }
    /* Cut mid-event: its complete lines count, but it is forwarded as it is. */
    s->data_len = s->data_done;
    evaluate(up);
    if (up->strip && s->hold_len) {
        rv = emit(baton, s->hold, s->hold_len);
    }
    event_reset(s, 0);
    s->hold_len = 0;
    return rv;
}

void aop_usage_get(const aop_usage_parser_t *up, aop_usage_t *out)
{
    *out = up->usage;
}

int aop_usage_tree_parses(const aop_usage_parser_t *up)
{
    return up->tree_parses;
}

apr_int64_t aop_usage_content_chars(const aop_usage_parser_t *up)
{
    return up->content_chars;
}

int aop_usage_saw_done(const aop_usage_parser_t *up)
{
    return up->saw_done;
}

int aop_usage_events(const aop_usage_parser_t *up)
{
    return up->events;
}

void aop_usage_keep_usage_chunk(aop_usage_parser_t *up)
{
    up->keep_usage = 1;
}

void aop_usage_keep_text(aop_usage_parser_t *up, apr_size_t max)
{
    up->text_on = 1;
    up->text_max = max;
    up->text = apr_palloc(up->pool, max + 1);
}

const char *aop_usage_text(const aop_usage_parser_t *up, apr_size_t *len)
{
    if (!up->text_on || up->text_bad) {
        return NULL;
    }
    up->text[up->text_len] = '\0';
    *len = up->text_len;
    return up->text;
}

void aop_usage_drop_partial(aop_usage_parser_t *up)
{
    event_reset(&up->s, 0);
    up->s.hold_len = 0;
}

int aop_usage_content_filter(const aop_usage_parser_t *up)
{
    return up->content_filter;
}

void aop_usage_want_id(aop_usage_parser_t *up)
{
    up->want_id = 1;
}

const char *aop_usage_id(const aop_usage_parser_t *up)
{
    return up->id;
}
