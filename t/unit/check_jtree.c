/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The pool JSON parser: every value type, the tree's shape and source spans, escapes,
 * the strictness of RFC 8259 with the offset of each error, the depth limit, integer
 * saturation, and real request and answer bodies. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <apr_strings.h>

#include "aop_jtree.h"
#include "check_suites.h"

static apr_pool_t *pool;

static void setup(void)
{
    apr_pool_create(&pool, NULL);
}

static void teardown(void)
{
    apr_pool_destroy(pool);
}

static apr_status_t free_cleanup(void *buf)
{
    free(buf);
    return APR_SUCCESS;
}

/* len bytes copied into a malloc'd block of exactly that size (no NUL after it),
 * freed with the pool: under valgrind any read past the end is an error. */
static const char *copy_exact(const char *text, apr_size_t len)
{
    char *buf = malloc(len ? len : 1);

    ck_assert_ptr_nonnull(buf);
    memcpy(buf, text, len);
    apr_pool_cleanup_register(pool, buf, free_cleanup, apr_pool_cleanup_null);
    return buf;
}

/* Raw mode reads the same tree as the copying parser: same nodes and spans, the same
 * decoded lengths and (decoded on demand) strings, the same member names; its
 * unescaped strings and names stay in the text. */
static void same_tree(const aop_jnode_t *a, const aop_jnode_t *raw, const char *text,
                      apr_size_t len)
{
    const aop_jnode_t *x, *y;
    const char *s;
    apr_size_t n = 0;

    ck_assert_int_eq(a->type, raw->type);
    ck_assert_ptr_eq(a->src, raw->src);
    ck_assert_uint_eq(a->src_len, raw->src_len);
    ck_assert_uint_eq(a->count, raw->count);
    ck_assert(a->b == raw->b && a->i == raw->i);
    if (a->type == AOP_JSTRING) {
        ck_assert_ptr_null(raw->str);
        ck_assert_uint_eq(a->str_len, raw->str_len);
        s = aop_jtree_str(pool, raw, &n);
        ck_assert_uint_eq(n, a->str_len);
        ck_assert(memcmp(s, a->str, n + 1) == 0);
    }
    for (x = a->child, y = raw->child; x && y; x = x->next, y = y->next) {
        ck_assert_uint_eq(x->key_len, y->key_len);
        if (x->key) {
            ck_assert(memcmp(x->key, y->key, x->key_len) == 0);
            if (y->key >= text && y->key < text + len) {
                ck_assert(y->key[-1] == '"' && y->key[y->key_len] == '"');
            }
        }
        same_tree(x, y, text, len);
    }
    ck_assert(x == NULL && y == NULL);
}

/* Parses len bytes (see copy_exact), in raw mode too: both must agree, on the tree or
 * on the error. */
static aop_jnode_t *parse_len(const char *text, apr_size_t len, const char **perr)
{
    const char *buf = copy_exact(text, len), *rerr = NULL;
    aop_jnode_t *root = aop_jtree_parse(pool, buf, len, perr), *raw;

    raw = aop_jtree_parse_raw(pool, buf, len, &rerr);
    ck_assert((root == NULL) == (raw == NULL));
    if (root) {
        same_tree(root, raw, buf, len);
    }
    else if (perr) {
        ck_assert_str_eq(*perr, rerr);
    }
    return root;
}

/* A document that must parse. */
static aop_jnode_t *ok(const char *text)
{
    const char *err = "not set";
    aop_jnode_t *root = parse_len(text, strlen(text), &err);

    ck_assert_msg(root != NULL, "'%s' did not parse: %s", text, err ? err : "(no error)");
    ck_assert_ptr_null(err);
    return root;
}

/* A document that must fail with exactly this message. */
static void bad(const char *text, apr_size_t len, const char *want)
{
    const char *err = NULL;

    ck_assert_msg(parse_len(text, len, &err) == NULL, "'%s' parsed", text);
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_nonnull(strstr(err, " at offset "));
    ck_assert_msg(strcmp(err, want) == 0, "'%s': got \"%s\", want \"%s\"", text, err, want);
}

/* The node's source text as a string. */
static const char *src_of(const aop_jnode_t *n)
{
    return apr_pstrmemdup(pool, n->src, n->src_len);
}

/* The i-th element or member of a container. */
static const aop_jnode_t *nth(const aop_jnode_t *c, apr_size_t i)
{
    const aop_jnode_t *n = c->child;

    while (n && i--) {
        n = n->next;
    }
    ck_assert_ptr_nonnull(n);
    return n;
}

START_TEST(scalars)
{
    aop_jnode_t *v;

    v = ok("null");
    ck_assert_int_eq(v->type, AOP_JNULL);
    ck_assert_str_eq(src_of(v), "null");
    v = ok("true");
    ck_assert_int_eq(v->type, AOP_JBOOL);
    ck_assert_int_eq(v->b, 1);
    v = ok("false");
    ck_assert_int_eq(v->type, AOP_JBOOL);
    ck_assert_int_eq(v->b, 0);
    ck_assert_str_eq(src_of(v), "false");
    v = ok("42");
    ck_assert_int_eq(v->type, AOP_JINT);
    ck_assert_int_eq(v->i, 42);
    ck_assert(v->d == 42.0);
    v = ok("-7");
    ck_assert_int_eq(v->type, AOP_JINT);
    ck_assert_int_eq(v->i, -7);
    ck_assert_str_eq(src_of(v), "-7");
    v = ok("0");
    ck_assert_int_eq(v->type, AOP_JINT);
    ck_assert_int_eq(v->i, 0);
    v = ok("-0");
    ck_assert_int_eq(v->type, AOP_JINT);
    ck_assert_int_eq(v->i, 0);
    v = ok("\"abc\"");
    ck_assert_int_eq(v->type, AOP_JSTRING);
    ck_assert_str_eq(v->str, "abc");
    ck_assert_uint_eq(v->str_len, 3);
    ck_assert_str_eq(src_of(v), "\"abc\"");
    ck_assert_ptr_null(v->key);
    v = ok("\"\"");
    ck_assert_str_eq(v->str, "");
    ck_assert_uint_eq(v->str_len, 0);
    v = ok("{}");
    ck_assert_int_eq(v->type, AOP_JOBJECT);
    ck_assert_uint_eq(v->count, 0);
    ck_assert_ptr_null(v->child);
    v = ok("[]");
    ck_assert_int_eq(v->type, AOP_JARRAY);
    ck_assert_uint_eq(v->count, 0);
    ck_assert_ptr_null(v->child);
    ck_assert_str_eq(src_of(v), "[]");
}
END_TEST

START_TEST(doubles)
{
    aop_jnode_t *v;
    char longnum[200];

    v = ok("1.5e3");
    ck_assert_int_eq(v->type, AOP_JDOUBLE);
    ck_assert(v->d == 1500.0);
    ck_assert_str_eq(src_of(v), "1.5e3");
    v = ok("-0.25");
    ck_assert_int_eq(v->type, AOP_JDOUBLE);
    ck_assert(v->d == -0.25);
    v = ok("1E2");
    ck_assert_int_eq(v->type, AOP_JDOUBLE);
    ck_assert(v->d == 100.0);
    v = ok("25e-2");
    ck_assert(v->d == 0.25);
    v = ok("2E+1");
    ck_assert(v->d == 20.0);
    v = ok("0.0");
    ck_assert_int_eq(v->type, AOP_JDOUBLE);
    ck_assert(v->d == 0.0);
    /* Longer than the stack buffer: copied into the pool instead. */
    strcpy(longnum, "0.");
    memset(longnum + 2, '0', 150);
    strcpy(longnum + 152, "125");
    v = ok(longnum);
    ck_assert_int_eq(v->type, AOP_JDOUBLE);
    ck_assert(v->d > 1.2e-151 && v->d < 1.3e-151);
    ck_assert_uint_eq(v->src_len, strlen(longnum));
    /* Out of double's range: strtod's infinity, as json-c gives. */
    v = ok("1e999");
    ck_assert(isinf(v->d));
}
END_TEST

START_TEST(int64_limits_and_saturation)
{
    aop_jnode_t *v;

    v = ok("9223372036854775807");
    ck_assert_int_eq(v->type, AOP_JINT);
    ck_assert(v->i == APR_INT64_MAX);
    v = ok("-9223372036854775808");
    ck_assert(v->i == APR_INT64_MIN);
    v = ok("9223372036854775806");
    ck_assert(v->i == APR_INT64_MAX - 1);
    v = ok("-9223372036854775807");
    ck_assert(v->i == APR_INT64_MIN + 1);
    /* One past either end, and far past: saturated, still integers. */
    v = ok("9223372036854775808");
    ck_assert_int_eq(v->type, AOP_JINT);
    ck_assert(v->i == APR_INT64_MAX);
    v = ok("-9223372036854775809");
    ck_assert_int_eq(v->type, AOP_JINT);
    ck_assert(v->i == APR_INT64_MIN);
    v = ok("123456789012345678901234567890");
    ck_assert(v->i == APR_INT64_MAX);
    ck_assert_str_eq(src_of(v), "123456789012345678901234567890");
    v = ok("-18446744073709551616");
    ck_assert(v->i == APR_INT64_MIN);
    v = ok("[18446744073709551615, 1]");
    ck_assert(nth(v, 0)->i == APR_INT64_MAX);
    ck_assert_int_eq(nth(v, 1)->i, 1);
}
END_TEST

START_TEST(nested_structures_in_document_order)
{
    aop_jnode_t *root = ok("{\"a\":[1,\"two\",{\"b\":null},[]],\"c\":{\"d\":true,\"e\":false},"
                           "\"f\":2.5}");
    const aop_jnode_t *a, *c, *obj;

    ck_assert_int_eq(root->type, AOP_JOBJECT);
    ck_assert_uint_eq(root->count, 3);
    ck_assert_str_eq(nth(root, 0)->key, "a");
    ck_assert_str_eq(nth(root, 1)->key, "c");
    ck_assert_str_eq(nth(root, 2)->key, "f");
    ck_assert_uint_eq(nth(root, 2)->key_len, 1);
    ck_assert_ptr_null(nth(root, 2)->next);

    a = aop_jtree_get(root, "a");
    ck_assert_ptr_eq(a, root->child);
    ck_assert_int_eq(a->type, AOP_JARRAY);
    ck_assert_uint_eq(a->count, 4);
    ck_assert_int_eq(nth(a, 0)->type, AOP_JINT);
    ck_assert_int_eq(nth(a, 0)->i, 1);
    ck_assert_ptr_null(nth(a, 0)->key);
    ck_assert_str_eq(nth(a, 1)->str, "two");
    obj = nth(a, 2);
    ck_assert_int_eq(obj->type, AOP_JOBJECT);
    ck_assert_uint_eq(obj->count, 1);
    ck_assert_int_eq(aop_jtree_get(obj, "b")->type, AOP_JNULL);
    ck_assert_int_eq(nth(a, 3)->type, AOP_JARRAY);
    ck_assert_uint_eq(nth(a, 3)->count, 0);
    ck_assert_ptr_null(nth(a, 3)->next);

    c = aop_jtree_get(root, "c");
    ck_assert_uint_eq(c->count, 2);
    ck_assert_int_eq(aop_jtree_get(c, "d")->b, 1);
    ck_assert_int_eq(aop_jtree_get(c, "e")->b, 0);
    ck_assert_int_eq(aop_jtree_get(c, "e")->type, AOP_JBOOL);
    ck_assert(aop_jtree_get(root, "f")->d == 2.5);
}
END_TEST

START_TEST(source_spans)
{
    aop_jnode_t *root = ok("  {\"a\": [1, 2], \"s\" : \"x\\ty\" ,\"o\":{ \"k\" : -1.5e1 } ,"
                           "\"n\":null}\n");
    const aop_jnode_t *a = aop_jtree_get(root, "a");

    ck_assert_str_eq(src_of(root), "{\"a\": [1, 2], \"s\" : \"x\\ty\" ,\"o\":{ \"k\" : -1.5e1 } ,"
                                   "\"n\":null}");
    ck_assert_str_eq(src_of(a), "[1, 2]");
    ck_assert_str_eq(src_of(nth(a, 0)), "1");
    ck_assert_str_eq(src_of(nth(a, 1)), "2");
    /* A string's span is its raw text, quotes and escapes included. */
    ck_assert_str_eq(src_of(aop_jtree_get(root, "s")), "\"x\\ty\"");
    ck_assert_str_eq(aop_jtree_get(root, "s")->str, "x\ty");
    ck_assert_str_eq(src_of(aop_jtree_get(root, "o")), "{ \"k\" : -1.5e1 }");
    ck_assert_str_eq(src_of(aop_jtree_get(aop_jtree_get(root, "o"), "k")), "-1.5e1");
    ck_assert_str_eq(src_of(aop_jtree_get(root, "n")), "null");
    /* The spans point into the caller's text, not into copies. */
    ck_assert_ptr_eq(a->src, root->src + 6);
}
END_TEST

START_TEST(duplicate_names_last_wins)
{
    aop_jnode_t *root = ok("{\"a\":1,\"b\":2,\"a\":3,\"b\":\"x\",\"a\":{\"z\":0}}");
    const aop_jnode_t *a = aop_jtree_get(root, "a");

    /* Every member stays in the tree; a lookup sees the last. */
    ck_assert_uint_eq(root->count, 5);
    ck_assert_int_eq(a->type, AOP_JOBJECT);
    ck_assert_ptr_eq(a, nth(root, 4));
    ck_assert_int_eq(aop_jtree_get(root, "b")->type, AOP_JSTRING);
    ck_assert_int_eq(nth(root, 0)->i, 1);
}
END_TEST

START_TEST(escapes)
{
    aop_jnode_t *v;

    v = ok("\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t\"");
    ck_assert_str_eq(v->str, "q\" b\\ s/ \b\f\n\r\t");
    ck_assert_uint_eq(v->str_len, strlen("q\" b\\ s/ \b\f\n\r\t"));
    v = ok("\"caf\\u00e9\"");
    ck_assert_str_eq(v->str, "caf\xc3\xa9");
    ck_assert_uint_eq(v->str_len, 5);
    v = ok("\"\\u00E9\\u00C9\"");               /* hex in either case */
    ck_assert_str_eq(v->str, "\xc3\xa9\xc3\x89");
    v = ok("\"\\u20ac1\"");
    ck_assert_str_eq(v->str, "\xe2\x82\xac" "1");
    v = ok("\"\\u0041\\u007f\\u0080\\u07FF\\u0800\\uFFFF\"");
    ck_assert_str_eq(v->str, "A\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf");
    /* A surrogate pair is one 4-byte character. */
    v = ok("\"<\\ud83d\\ude00>\"");
    ck_assert_str_eq(v->str, "<\xf0\x9f\x98\x80>");
    ck_assert_uint_eq(v->str_len, 6);
    v = ok("\"\\uDBFF\\uDFFF\"");
    ck_assert_str_eq(v->str, "\xf4\x8f\xbf\xbf");
    /* Lone surrogates: kept as their own 3-byte sequences. */
    v = ok("\"\\ud800\"");
    ck_assert_str_eq(v->str, "\xed\xa0\x80");
    v = ok("\"\\udc00x\"");
    ck_assert_str_eq(v->str, "\xed\xb0\x80x");
    v = ok("\"\\ud83d\\u0041\"");
    ck_assert_str_eq(v->str, "\xed\xa0\xbd" "A");
    v = ok("\"\\ud83d\\n\"");
    ck_assert_str_eq(v->str, "\xed\xa0\xbd\n");
    v = ok("\"\\ud83d\"");
    ck_assert_uint_eq(v->str_len, 3);
    /* \u0000 is kept, counted, and the text is still NUL-terminated after it. */
    v = ok("\"a\\u0000b\"");
    ck_assert_uint_eq(v->str_len, 3);
    ck_assert_int_eq(memcmp(v->str, "a\0b", 4), 0);
    /* Raw bytes >= 0x80 are copied as they are. */
    v = ok("\"\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80 \xff\"");
    ck_assert_str_eq(v->str, "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80 \xff");
    v = ok("\"\xc3\xa9\\n\xe2\x82\xac\"");
    ck_assert_str_eq(v->str, "\xc3\xa9\n\xe2\x82\xac");
}
END_TEST

START_TEST(escaped_keys)
{
    aop_jnode_t *root = ok("{\"k\\u00e9y\":1,\"a\\u0000b\":2,\"t\\\"q\":3}");

    ck_assert_int_eq(aop_jtree_get(root, "k\xc3\xa9y")->i, 1);
    ck_assert_uint_eq(nth(root, 0)->key_len, 4);
    /* A name with a NUL in it matches no C string, not even its prefix. */
    ck_assert_uint_eq(nth(root, 1)->key_len, 3);
    ck_assert_ptr_null(aop_jtree_get(root, "a"));
    ck_assert_int_eq(aop_jtree_get(root, "t\"q")->i, 3);
    ck_assert_str_eq(src_of(aop_jtree_get(root, "t\"q")), "3");
}
END_TEST

/* The process's resident memory in bytes (APR's pools take their blocks from malloc
 * or, as Debian builds it, from mmap: either way they show here once written). */
static apr_size_t heap_in_use(void)
{
    unsigned long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%lu %lu", &size, &resident), 2);
    fclose(f);
    return (apr_size_t)resident * (apr_size_t)sysconf(_SC_PAGESIZE);
}

/* Raw mode copies no string: values are spans of the text, names too unless escaped,
 * and a string of megabytes costs its node alone. */
START_TEST(raw_mode_points_into_the_text)
{
    const char *text = "{\"model\":\"g\\u0070t\",\"k\\u00e9\":\"a\\nb\",\"c\":\"xyz\"}";
    const aop_jnode_t *root = aop_jtree_parse_raw(pool, text, strlen(text), NULL), *v;
    apr_size_t big = 4 << 20, len = 0, before;
    char *doc = malloc(big + 2);
    apr_pool_t *sub;

    ck_assert_ptr_nonnull(root);
    v = aop_jtree_get(root, "model");
    ck_assert_ptr_null(v->str);
    ck_assert_uint_eq(v->str_len, 3);
    ck_assert_str_eq(aop_jtree_str(pool, v, &len), "gpt");
    ck_assert_uint_eq(len, 3);
    /* An unescaped name is the text's own bytes; an escaped one is decoded. */
    ck_assert_ptr_eq(root->child->key, text + 2);
    ck_assert_ptr_nonnull(aop_jtree_get(root, "k\xc3\xa9"));
    ck_assert_uint_eq(aop_jtree_get(root, "k\xc3\xa9")->str_len, 3);
    ck_assert_str_eq(aop_jtree_str(pool, aop_jtree_get(root, "c"), &len), "xyz");
    ck_assert_ptr_null(aop_jtree_str(pool, root, &len));
    /* ["xxxx..."]: the process grows by far less than the string (the copying parser
     * takes as much again). */
    ck_assert_ptr_nonnull(doc);
    memset(doc, 'x', big + 2);
    doc[0] = '[';
    doc[1] = doc[big] = '"';
    doc[big + 1] = ']';
    apr_pool_create(&sub, pool);
    before = heap_in_use();
    v = aop_jtree_parse_raw(sub, doc, big + 2, NULL);
    ck_assert_uint_lt(heap_in_use() - before, big / 8);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(v->child->str_len, big - 2);
    ck_assert_ptr_null(v->child->str);
    ck_assert_ptr_nonnull(aop_jtree_parse(sub, doc, big + 2, NULL));
    ck_assert_uint_gt(heap_in_use() - before, big);
    apr_pool_destroy(sub);
    free(doc);
}
END_TEST

START_TEST(invalid_documents)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"", "unexpected end of input at offset 0"},
        {" \t\r\n", "unexpected end of input at offset 4"},
        {"{", "unexpected end of input at offset 1"},
        {"[1,2", "unexpected end of input at offset 4"},
        {"{\"a\":1", "unexpected end of input at offset 6"},
        {"{\"a\"", "unexpected end of input at offset 4"},
        {"{\"a\":", "unexpected end of input at offset 5"},
        {"\"abc", "unexpected end of input at offset 4"},
        /* trailing commas, missing separators */
        {"[1,]", "invalid character ']' at offset 3"},
        {"{\"a\":1,}", "invalid character '}' at offset 7"},
        {"[1,,2]", "invalid character ',' at offset 3"},
        {"[,1]", "invalid character ',' at offset 1"},
        {"[1 2]", "invalid character '2' at offset 3"},
        {"{\"a\" 1}", "invalid character '1' at offset 5"},
        {"{\"a\":}", "invalid character '}' at offset 5"},
        {"{1:2}", "invalid character '1' at offset 1"},
        {"{\"a\":1 \"b\":2}", "invalid character '\"' at offset 7"},
        {"[1}", "invalid character '}' at offset 2"},
        {"{\"a\":1]", "invalid character ']' at offset 6"},
        /* comments, single quotes, bare words */
        {"// c\n1", "invalid character '/' at offset 0"},
        {"[1 /* c */]", "invalid character '/' at offset 3"},
        {"{'a':1}", "invalid character ''' at offset 1"},
        {"['a']", "invalid character ''' at offset 1"},
        {"{a:1}", "invalid character 'a' at offset 1"},
        {"NaN", "invalid character 'N' at offset 0"},
        {"Infinity", "invalid character 'I' at offset 0"},
        {"-Infinity", "invalid character 'I' at offset 1"},
        {"[nan]", "invalid character 'a' at offset 2"},
        {"True", "invalid character 'T' at offset 0"},
        {"tru", "unexpected end of input at offset 3"},
        {"trux", "invalid character 'x' at offset 3"},
        {"nul", "unexpected end of input at offset 3"},
        {"fals e", "invalid character ' ' at offset 4"},
        /* numbers */
        {"01", "invalid character '1' at offset 1"},
        {"-01", "invalid character '1' at offset 2"},
        {"[00]", "invalid character '0' at offset 2"},
        {"+1", "invalid character '+' at offset 0"},
        {".5", "invalid character '.' at offset 0"},
        {"1.", "unexpected end of input at offset 2"},
        {"[1.]", "invalid character ']' at offset 3"},
        {"1.e5", "invalid character 'e' at offset 2"},
        {"1e", "unexpected end of input at offset 2"},
        {"1e+", "unexpected end of input at offset 3"},
        {"[1e-]", "invalid character ']' at offset 4"},
        {"-", "unexpected end of input at offset 1"},
        {"- 1", "invalid character ' ' at offset 1"},
        {"0x10", "trailing data at offset 1"},
        /* control characters in strings, bad escapes */
        {"\"a\tb\"", "invalid character '\\x09' at offset 2"},
        {"\"a\nb\"", "invalid character '\\x0a' at offset 2"},
        {"[\"\x1f\"]", "invalid character '\\x1f' at offset 2"},
        {"\"\\x\"", "invalid escape at offset 1"},
        {"\"ab\\'\"", "invalid escape at offset 3"},
        {"\"\\U00e9\"", "invalid escape at offset 1"},
        {"\"\\u12G4\"", "invalid escape at offset 1"},
        {"\"\\u12\"", "invalid escape at offset 1"},
        {"{\"k\\a\":1}", "invalid escape at offset 3"},
        {"\"\\u12", "unexpected end of input at offset 5"},
        {"\"\\", "unexpected end of input at offset 2"},
        /* only space, tab, CR and LF are whitespace */
        {"\f1", "invalid character '\\x0c' at offset 0"},
        {"\v1", "invalid character '\\x0b' at offset 0"},
        {"\xc3\xa9", "invalid character '\\xc3' at offset 0"},
        {"\xef\xbb\xbf{}", "invalid character '\\xef' at offset 0"},   /* a BOM */
        /* one value only */
        {"1 2", "trailing data at offset 2"},
        {"{} x", "trailing data at offset 3"},
        {"{}{}", "trailing data at offset 2"},
        {"\"a\"\"b\"", "trailing data at offset 3"},
        {"[1],", "trailing data at offset 3"},
        {"truefalse", "trailing data at offset 4"},
        {"null\n\x01", "trailing data at offset 5"},
    };
    size_t k;

    for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        bad(cases[k].text, strlen(cases[k].text), cases[k].want);
    }
    /* A raw NUL byte is neither whitespace nor allowed in a string. */
    bad("[1]\0", 4, "trailing data at offset 3");
    bad("\"a\0\"", 4, "invalid character '\\x00' at offset 2");
}
END_TEST

/* n arrays nested in one another: [[[...]]] */
static const char *nested_arrays(int n)
{
    char *s = apr_palloc(pool, 2 * (apr_size_t)n + 1);

    memset(s, '[', (size_t)n);
    memset(s + n, ']', (size_t)n);
    s[2 * n] = '\0';
    return s;
}

START_TEST(depth_limit)
{
    const char *err = NULL;
    const aop_jnode_t *v;
    const char *s;
    int d = 0;

    ck_assert_int_eq(AOP_JTREE_MAX_DEPTH, 64);
    for (v = ok(nested_arrays(64)); v; v = v->child) {
        d++;
    }
    ck_assert_int_eq(d, 64);
    s = nested_arrays(65);
    ck_assert_ptr_null(parse_len(s, strlen(s), &err));
    ck_assert_str_eq(err, "nesting too deep at offset 64");
    /* Objects count the same; scalars inside the deepest container are fine. */
    s = "";
    for (d = 0; d < 63; d++) {
        s = apr_pstrcat(pool, "{\"a\":", s, NULL);
    }
    s = apr_pstrcat(pool, s, "[1,\"x\",null]", NULL);
    for (d = 0; d < 63; d++) {
        s = apr_pstrcat(pool, s, "}", NULL);
    }
    ok(s);
    s = apr_pstrcat(pool, "[", s, "]", NULL);
    bad(s, strlen(s), "nesting too deep at offset 316");
    /* Depth is nesting, not the number of containers. */
    s = "[";
    for (d = 0; d < 200; d++) {
        s = apr_pstrcat(pool, s, d ? "," : "", "[[]]", NULL);
    }
    ck_assert_uint_eq(ok(apr_pstrcat(pool, s, "]", NULL))->count, 200);
}
END_TEST

START_TEST(not_nul_terminated)
{
    static const char buf[] = "{\"a\":[1,2]}{\"b\":3}";
    const char *err = NULL;
    aop_jnode_t *v;

    /* A prefix of a longer buffer, parsed in place. */
    v = aop_jtree_parse(pool, buf, 11, &err);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(v->src_len, 11);
    ck_assert_uint_eq(aop_jtree_get(v, "a")->count, 2);
    ck_assert_ptr_null(aop_jtree_get(v, "b"));
    /* The parser stops at len even where the buffer goes on. */
    v = parse_len("12345", 3, &err);
    ck_assert_int_eq(v->i, 123);
    ck_assert_uint_eq(v->src_len, 3);
    v = parse_len("1.25e10", 4, &err);
    ck_assert_int_eq(v->type, AOP_JDOUBLE);
    ck_assert(v->d == 1.25);
    v = parse_len("\"ab\"cd", 4, &err);
    ck_assert_str_eq(v->str, "ab");
    bad("\"abcd\"", 4, "unexpected end of input at offset 4");
    bad("\"a\\u00e9\"", 6, "unexpected end of input at offset 6");
    bad("true", 3, "unexpected end of input at offset 3");
    bad("[1,2]", 4, "unexpected end of input at offset 4");
    bad("1.5", 2, "unexpected end of input at offset 2");
    bad("-5", 1, "unexpected end of input at offset 1");
    bad("{}", 0, "unexpected end of input at offset 0");
}
END_TEST

START_TEST(whitespace_around_and_inside)
{
    aop_jnode_t *v = ok(" \t\r\n{ \"a\" :\t1 ,\r\n\"b\"\n:\n[ 1 , 2 ] } \n\t\r ");

    ck_assert_str_eq(src_of(v), "{ \"a\" :\t1 ,\r\n\"b\"\n:\n[ 1 , 2 ] }");
    ck_assert_int_eq(aop_jtree_get(v, "a")->i, 1);
    ck_assert_str_eq(src_of(aop_jtree_get(v, "b")), "[ 1 , 2 ]");
    ck_assert_uint_eq(aop_jtree_get(v, "b")->count, 2);
    v = ok("\n\"x\"\n");
    ck_assert_str_eq(v->str, "x");
    ck_assert_str_eq(src_of(v), "\"x\"");
    ck_assert_uint_eq(ok("[ ]")->count, 0);
    ck_assert_uint_eq(ok("{\n}")->count, 0);
}
END_TEST

START_TEST(get_and_type_words)
{
    aop_jnode_t *root = ok("{\"n\":null,\"b\":true,\"i\":1,\"d\":1.0,\"s\":\"\",\"a\":[],"
                           "\"o\":{}}");
    aop_jnode_t *arr = ok("[{\"a\":1}]");

    ck_assert_str_eq(aop_jtree_type_word(aop_jtree_get(root, "n")), "null");
    ck_assert_str_eq(aop_jtree_type_word(aop_jtree_get(root, "b")), "a boolean");
    ck_assert_str_eq(aop_jtree_type_word(aop_jtree_get(root, "i")), "an integer");
    ck_assert_str_eq(aop_jtree_type_word(aop_jtree_get(root, "d")), "a decimal");
    ck_assert_str_eq(aop_jtree_type_word(aop_jtree_get(root, "s")), "a string");
    ck_assert_str_eq(aop_jtree_type_word(aop_jtree_get(root, "a")), "an array");
    ck_assert_str_eq(aop_jtree_type_word(aop_jtree_get(root, "o")), "an object");
    ck_assert_str_eq(aop_jtree_type_word(root), "an object");
    ck_assert_str_eq(aop_jtree_type_word(NULL), "null");
    /* Lookups in what is not an object, or of what is not there. */
    ck_assert_ptr_null(aop_jtree_get(NULL, "a"));
    ck_assert_ptr_null(aop_jtree_get(arr, "a"));
    ck_assert_ptr_null(aop_jtree_get(ok("\"a\""), "a"));
    ck_assert_ptr_null(aop_jtree_get(ok("null"), "a"));
    ck_assert_ptr_null(aop_jtree_get(aop_jtree_get(root, "o"), "a"));
    ck_assert_ptr_null(aop_jtree_get(root, "x"));
    ck_assert_ptr_null(aop_jtree_get(root, ""));
    ck_assert_ptr_null(aop_jtree_get(root, "nn"));
    ck_assert_int_eq(aop_jtree_get(arr->child, "a")->i, 1);
    ck_assert_int_eq(aop_jtree_get(ok("{\"\":5}"), "")->i, 5);
}
END_TEST

START_TEST(errors_and_results_reported)
{
    const char *err = "untouched";

    /* Success clears *perr; a NULL perr is allowed either way. */
    ck_assert_ptr_nonnull(aop_jtree_parse(pool, "1", 1, &err));
    ck_assert_ptr_null(err);
    ck_assert_ptr_nonnull(aop_jtree_parse(pool, "[1]", 3, NULL));
    ck_assert_ptr_null(aop_jtree_parse(pool, "[1", 2, NULL));
    /* The first error found is the one reported, not a later consequence. */
    bad("[\"\\q\", 01, x]", 13, "invalid escape at offset 2");
}
END_TEST

START_TEST(long_documents)
{
    apr_size_t n = 10000, k;
    char *s = apr_palloc(pool, n * 8 + 3), *w = s;
    aop_jnode_t *v;
    const aop_jnode_t *e;
    char *big = apr_palloc(pool, 100003);

    /* Many siblings: appended in order, counted, each with its own value. */
    *w++ = '[';
    for (k = 0; k < n; k++) {
        w += sprintf(w, k ? ",%lu" : "%lu", (unsigned long)k);
    }
    *w++ = ']';
    *w = '\0';
    v = ok(s);
    ck_assert_uint_eq(v->count, n);
    for (k = 0, e = v->child; e; e = e->next, k++) {
        ck_assert_int_eq(e->i, (apr_int64_t)k);
    }
    ck_assert_uint_eq(k, n);
    /* A long string on the fast path and one with an escape at its very end. */
    big[0] = '"';
    memset(big + 1, 'x', 100000);
    strcpy(big + 100001, "\"");
    v = ok(big);
    ck_assert_uint_eq(v->str_len, 100000);
    strcpy(big + 99999, "\\n\"");
    v = ok(big);
    ck_assert_uint_eq(v->str_len, 99999);
    ck_assert_int_eq(v->str[99998], '\n');
    ck_assert_int_eq(v->str[99999], '\0');
}
END_TEST

START_TEST(chat_completion_request)
{
    aop_jnode_t *root = ok(
        "{\n"
        "  \"model\": \"gpt-4o\",\n"
        "  \"messages\": [\n"
        "    {\"role\": \"system\", \"content\": \"You are a helpful assistant.\"},\n"
        "    {\"role\": \"user\", \"content\": [\n"
        "      {\"type\": \"text\", \"text\": \"What is in this image? \\u2014 be brief\"},\n"
        "      {\"type\": \"image_url\", \"image_url\": {\"url\": \"https://example.com/a.png\","
        " \"detail\": \"high\"}}\n"
        "    ]},\n"
        "    {\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"id\": \"call_1\","
        " \"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"arguments\":"
        " \"{\\\"city\\\":\\\"Paris\\\"}\"}}]},\n"
        "    {\"role\": \"tool\", \"tool_call_id\": \"call_1\", \"content\": \"18\\u00b0C\"}\n"
        "  ],\n"
        "  \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\","
        " \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\":"
        " \"string\"}}, \"required\": [\"city\"]}}}],\n"
        "  \"temperature\": 0.7,\n"
        "  \"max_tokens\": 512,\n"
        "  \"n\": 1,\n"
        "  \"stream\": true,\n"
        "  \"stream_options\": {\"include_usage\": true},\n"
        "  \"user\": \"u-42\"\n"
        "}\n");
    const aop_jnode_t *msgs = aop_jtree_get(root, "messages"), *parts, *call, *tools;

    ck_assert_uint_eq(root->count, 9);
    ck_assert_str_eq(aop_jtree_get(root, "model")->str, "gpt-4o");
    ck_assert_int_eq(msgs->type, AOP_JARRAY);
    ck_assert_uint_eq(msgs->count, 4);
    ck_assert_str_eq(aop_jtree_get(nth(msgs, 0), "role")->str, "system");
    parts = aop_jtree_get(nth(msgs, 1), "content");
    ck_assert_uint_eq(parts->count, 2);
    ck_assert_str_eq(aop_jtree_get(nth(parts, 0), "text")->str,
                     "What is in this image? \xe2\x80\x94 be brief");
    ck_assert_str_eq(aop_jtree_get(aop_jtree_get(nth(parts, 1), "image_url"), "detail")->str,
                     "high");
    ck_assert_int_eq(aop_jtree_get(nth(msgs, 2), "content")->type, AOP_JNULL);
    call = nth(aop_jtree_get(nth(msgs, 2), "tool_calls"), 0);
    ck_assert_str_eq(aop_jtree_get(aop_jtree_get(call, "function"), "arguments")->str,
                     "{\"city\":\"Paris\"}");
    ck_assert_str_eq(aop_jtree_get(nth(msgs, 3), "content")->str, "18\xc2\xb0" "C");
    tools = aop_jtree_get(root, "tools");
    ck_assert_str_eq(src_of(tools), "[{\"type\": \"function\", \"function\": {\"name\": "
                     "\"get_weather\", \"parameters\": {\"type\": \"object\", \"properties\": "
                     "{\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}]");
    ck_assert(aop_jtree_get(root, "temperature")->d == 0.7);
    ck_assert_int_eq(aop_jtree_get(root, "max_tokens")->i, 512);
    ck_assert_int_eq(aop_jtree_get(root, "stream")->b, 1);
    ck_assert_int_eq(aop_jtree_get(aop_jtree_get(root, "stream_options"), "include_usage")->b,
                     1);
    ck_assert_ptr_null(aop_jtree_get(root, "max_completion_tokens"));
}
END_TEST

START_TEST(azure_chat_completion_response)
{
    aop_jnode_t *root = ok(
        "{\"choices\":[{\"content_filter_results\":{\"hate\":{\"filtered\":false,\"severity\":"
        "\"safe\"},\"self_harm\":{\"filtered\":false,\"severity\":\"safe\"},\"sexual\":"
        "{\"filtered\":false,\"severity\":\"safe\"},\"violence\":{\"filtered\":false,"
        "\"severity\":\"safe\"}},\"finish_reason\":\"stop\",\"index\":0,\"logprobs\":null,"
        "\"message\":{\"annotations\":[],\"content\":\"Hello! How can I help you today?\","
        "\"refusal\":null,\"role\":\"assistant\"}}],\"created\":1733900000,\"id\":"
        "\"chatcmpl-AdF1x2y3z\",\"model\":\"gpt-4o-2024-08-06\",\"object\":\"chat.completion\","
        "\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{\"hate\":"
        "{\"filtered\":false,\"severity\":\"safe\"},\"jailbreak\":{\"filtered\":false,"
        "\"detected\":false}}}],\"system_fingerprint\":\"fp_f3927aa00d\",\"usage\":"
        "{\"completion_tokens\":9,\"completion_tokens_details\":{\"accepted_prediction_tokens\":"
        "0,\"audio_tokens\":0,\"reasoning_tokens\":0,\"rejected_prediction_tokens\":0},"
        "\"prompt_tokens\":19,\"prompt_tokens_details\":{\"audio_tokens\":0,\"cached_tokens\":0},"
        "\"total_tokens\":28}}");
    const aop_jnode_t *usage = aop_jtree_get(root, "usage"), *choice, *msg;

    ck_assert_int_eq(usage->type, AOP_JOBJECT);
    ck_assert_uint_eq(usage->count, 5);
    ck_assert_int_eq(aop_jtree_get(usage, "prompt_tokens")->i, 19);
    ck_assert_int_eq(aop_jtree_get(usage, "completion_tokens")->i, 9);
    ck_assert_int_eq(aop_jtree_get(usage, "total_tokens")->i, 28);
    ck_assert_int_eq(aop_jtree_get(aop_jtree_get(usage, "completion_tokens_details"),
                                   "reasoning_tokens")->i, 0);
    ck_assert_int_eq(aop_jtree_get(aop_jtree_get(usage, "prompt_tokens_details"),
                                   "cached_tokens")->type, AOP_JINT);
    ck_assert_ptr_eq(usage->src + usage->src_len, root->src + root->src_len - 1);
    ck_assert_int_eq(usage->src[0], '{');
    ck_assert_int_eq(usage->src[usage->src_len - 1], '}');
    choice = nth(aop_jtree_get(root, "choices"), 0);
    ck_assert_str_eq(aop_jtree_get(choice, "finish_reason")->str, "stop");
    msg = aop_jtree_get(choice, "message");
    ck_assert_str_eq(aop_jtree_get(msg, "content")->str, "Hello! How can I help you today?");
    ck_assert_int_eq(aop_jtree_get(msg, "refusal")->type, AOP_JNULL);
    ck_assert_str_eq(aop_jtree_get(root, "model")->str, "gpt-4o-2024-08-06");
    ck_assert_int_eq(aop_jtree_get(root, "created")->i, 1733900000);
    ck_assert_int_eq(aop_jtree_get(aop_jtree_get(aop_jtree_get(
        nth(aop_jtree_get(root, "prompt_filter_results"), 0), "content_filter_results"),
        "jailbreak"), "detected")->b, 0);
}
END_TEST

Suite *aop_jtree_suite(void)
{
    Suite *s = suite_create("aop_jtree");
    TCase *tc = tcase_create("jtree");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, scalars);
    tcase_add_test(tc, doubles);
    tcase_add_test(tc, int64_limits_and_saturation);
    tcase_add_test(tc, nested_structures_in_document_order);
    tcase_add_test(tc, source_spans);
    tcase_add_test(tc, duplicate_names_last_wins);
    tcase_add_test(tc, escapes);
    tcase_add_test(tc, escaped_keys);
    tcase_add_test(tc, raw_mode_points_into_the_text);
    tcase_add_test(tc, invalid_documents);
    tcase_add_test(tc, depth_limit);
    tcase_add_test(tc, not_nul_terminated);
    tcase_add_test(tc, whitespace_around_and_inside);
    tcase_add_test(tc, get_and_type_words);
    tcase_add_test(tc, errors_and_results_reported);
    tcase_add_test(tc, long_documents);
    tcase_add_test(tc, chat_completion_request);
    tcase_add_test(tc, azure_chat_completion_response);
    suite_add_tcase(s, tc);
    return s;
}
