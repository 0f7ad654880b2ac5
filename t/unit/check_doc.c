/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* The live document's lines: read back as written, every 64-bit hash intact, a
 * damaged line refused. */
#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>

#include "aop_doc.h"
#include "check_suites.h"

static const char *line(apr_pool_t *p, const char *name, int slot, const char *json,
                        const char *pairs, int npairs)
{
    return apr_psprintf(p, "%016" APR_UINT64_T_HEX_FMT " %d %s http://h:1/%s %d%s\t%s\n",
                        aop_doc_rev(json, strlen(json)), slot, name, name, npairs, pairs,
                        json);
}

START_TEST(lines_read_back_as_written)
{
    apr_pool_t *p;
    aop_doc_t doc;
    const char *err = NULL, *a = "{\"name\":\"a\"}", *b = "{\"name\":\"b\",\"x\":\"\\t\"}";
    char *text;

    apr_pool_create(&p, NULL);
    text = apr_pstrcat(p, "{\"settings\":{},\"_models\":{\"m\":3},\"instances\":2,\"yaml\":1}\n",
                       line(p, "a", 7, a, " 11 12", 2), line(p, "b", 0, b, "", 0),
                       "a\t{\"name\":\"a\",\"yaml\":1}\n", NULL);
    ck_assert_int_eq(aop_doc_read(p, text, &doc, &err), APR_SUCCESS);
    ck_assert_int_eq(doc.n, 2);
    ck_assert_int_eq(doc.nyaml, 1);
    ck_assert_str_eq(doc.inst[0].name, "a");
    ck_assert_str_eq(doc.inst[0].worker, "http://h:1/a");
    ck_assert_int_eq(doc.inst[0].slot, 7);
    ck_assert_int_eq(doc.inst[0].npairs, 2);
    ck_assert_int_eq(doc.inst[0].pairs[0], 11);
    ck_assert_int_eq(doc.inst[0].pairs[1], 12);
    ck_assert_str_eq(doc.inst[0].json, a);
    ck_assert_str_eq(doc.inst[1].json, b);
    ck_assert_int_eq(doc.inst[1].npairs, 0);
    ck_assert(doc.inst[0].rev == aop_doc_rev(a, strlen(a)));
    ck_assert(doc.inst[1].rev == aop_doc_rev(b, strlen(b)));
    ck_assert_str_eq(doc.yaml[0], "{\"name\":\"a\",\"yaml\":1}");
    ck_assert_str_eq(doc.yaml_name[0], "a");
    apr_pool_destroy(p);
}
END_TEST

/* Half of all hashes have their top bit set: read as a signed number they would all
 * clamp to one value (and every such instance be decoded again at every change). */
START_TEST(a_hash_with_its_top_bit_set_reads_back)
{
    apr_pool_t *p;
    aop_doc_t doc;
    const char *err = NULL;
    char *text;

    apr_pool_create(&p, NULL);
    text = apr_pstrdup(p, "{\"instances\":1,\"yaml\":0}\n"
                          "fedcba9876543210 1 a - 0\t{}\n");
    ck_assert_int_eq(aop_doc_read(p, text, &doc, &err), APR_SUCCESS);
    ck_assert(doc.inst[0].rev == APR_UINT64_C(0xfedcba9876543210));
    apr_pool_destroy(p);
}
END_TEST

/* A view copies the header and the instance lines alone: the header's first key
 * says how long they are; anything else (absent, torn, too long) means all. */
START_TEST(a_view_reads_the_instance_lines_alone)
{
    apr_pool_t *p;
    aop_doc_t doc;
    const char *err = NULL, *a = "{\"name\":\"a\"}";
    const char *inst, *head, *text;
    char *cut;
    apr_size_t len;

    apr_pool_create(&p, NULL);
    inst = line(p, "a", 7, a, " 11", 1);
    head = apr_psprintf(p, "{\"lines_bytes\":%" APR_SIZE_T_FMT ",\"instances\":1,"
                        "\"yaml\":1}\n", strlen(inst));
    text = apr_pstrcat(p, head, inst, "a\t{\"name\":\"a\",\"yaml\":1}\n", NULL);
    len = strlen(text);
    ck_assert_uint_eq(aop_doc_view_len(text, len), strlen(head) + strlen(inst));
    cut = apr_pstrmemdup(p, text, aop_doc_view_len(text, len));
    ck_assert_int_eq(aop_doc_read_instances(p, cut, &doc, &err), APR_SUCCESS);
    ck_assert_int_eq(doc.n, 1);
    ck_assert_int_eq(doc.nyaml, 0);
    ck_assert_str_eq(doc.inst[0].json, a);
    /* the whole document needs its YAML lines */
    cut = apr_pstrmemdup(p, text, aop_doc_view_len(text, len));
    ck_assert_int_ne(aop_doc_read(p, cut, &doc, &err), APR_SUCCESS);
    /* no count, a count past the end, no newline, no digits: all of it */
    ck_assert_uint_eq(aop_doc_view_len("{\"instances\":0,\"yaml\":0}\n", 25), 25);
    ck_assert_uint_eq(aop_doc_view_len("{\"lines_bytes\":99,\"a\":1}\nxx", 27), 27);
    ck_assert_uint_eq(aop_doc_view_len("{\"lines_bytes\":1", 16), 16);
    ck_assert_uint_eq(aop_doc_view_len("{\"lines_bytes\":,\"a\":1}\nxx", 25), 25);
    ck_assert_uint_eq(aop_doc_view_len("{\"lines_bytes\":99999999999999999999999}\nx",
                                       41), 41);
    ck_assert_uint_eq(aop_doc_view_len("{\"lines_bytes\":2,\"a\":1}\nxyz", 27), 26);
    apr_pool_destroy(p);
}
END_TEST

START_TEST(damaged_documents_are_refused)
{
    static const char *const bad[] = {
        "",
        "not json\n",
        "{\"instances\":1,\"yaml\":0}\n",                         /* a line short */
        "{\"instances\":1,\"yaml\":0}\nfedcba9876543210 1 a - 0 {}\n",   /* no tab */
        "{\"instances\":1,\"yaml\":0}\nfedcba98765432 1 a - 0\t{}\n",    /* short hash */
        "{\"instances\":1,\"yaml\":0}\nfedcba9876543210 -1 a - 0\t{}\n", /* bad slot */
        "{\"instances\":1,\"yaml\":0}\nfedcba9876543210 1 a - 2 5\t{}\n",/* pairs short */
        "{\"instances\":1,\"yaml\":0}\nfedcba9876543210 1 a\t{}\n",      /* fields short */
        "{\"instances\":0,\"yaml\":1}\n",                         /* YAML cut short */
        "{\"instances\":0,\"yaml\":1}\n{\"name\":\"a\"}\n",         /* YAML line unnamed */
        NULL
    };
    apr_pool_t *p;
    aop_doc_t doc;
    int i;

    apr_pool_create(&p, NULL);
    for (i = 0; bad[i]; i++) {
        const char *err = NULL;

        ck_assert_msg(aop_doc_read(p, apr_pstrdup(p, bad[i]), &doc, &err) != APR_SUCCESS,
                      "accepted: %s", bad[i]);
        ck_assert_ptr_nonnull(err);
    }
    apr_pool_destroy(p);
}
END_TEST

/* Splits text (whole lines) into line ends, as a view keeps them. */
static int ends_of(apr_pool_t *p, const char *text, apr_size_t **ends)
{
    apr_size_t i, len = strlen(text);
    int n = 0;

    *ends = apr_palloc(p, sizeof(apr_size_t) * (len + 1));
    for (i = 0; i < len; i++) {
        if (text[i] == '\n') {
            (*ends)[n++] = i + 1;
        }
    }
    return n;
}

/* old's lines as a view keeps them. */
static aop_doc_lines_t kept(apr_pool_t *p, const char *old)
{
    aop_doc_lines_t o;
    apr_size_t *ends, *head_end;
    char *heads = apr_pcalloc(p, strlen(old) + 1);
    int k, n = ends_of(p, old, &ends);
    apr_size_t at = 0;

    head_end = apr_palloc(p, sizeof(apr_size_t) * (apr_size_t)(n + 1));
    for (k = 0; k < n; k++) {
        apr_size_t start = k ? ends[k - 1] : 0, hl = aop_doc_line_head(old + start,
                                                                       ends[k] - start);

        memcpy(heads + at, old + start, hl);
        at += hl;
        head_end[k] = at;
    }
    o.heads = heads;
    o.head_end = head_end;
    o.end = ends;
    o.n = n;
    return o;
}

static aop_doc_splice_t splice(apr_pool_t *p, const char *old, const char *new_text)
{
    aop_doc_splice_t sp;
    aop_doc_lines_t o = kept(p, old);

    aop_doc_splice(&o, new_text, strlen(new_text), &sp);
    return sp;
}

/* A change of one line among thousands reads that line alone. */
START_TEST(a_change_reads_only_the_lines_it_changed)
{
    apr_pool_t *p;
    aop_doc_splice_t sp;
    const char *old = "aa 1\nbb 2\ncc 3\ndd 4\n";

    apr_pool_create(&p, NULL);
    sp = splice(p, old, "aa 1\nbb 2\ncc 3\ndd 4\nee 5\n");            /* an add */
    ck_assert_int_eq(sp.head, 4);
    ck_assert_int_eq(sp.tail, 0);
    ck_assert_uint_eq(sp.from, 20);
    ck_assert_uint_eq(sp.to, 25);
    sp = splice(p, old, "aa 1\nbb 9\ncc 3\ndd 4\n");                  /* a patch */
    ck_assert_int_eq(sp.head, 1);
    ck_assert_int_eq(sp.tail, 2);
    ck_assert_uint_eq(sp.from, 5);
    ck_assert_uint_eq(sp.to, 10);
    sp = splice(p, old, "aa 1\ncc 3\ndd 4\n");                        /* a deletion */
    ck_assert_int_eq(sp.head, 1);
    ck_assert_int_eq(sp.tail, 2);
    ck_assert_uint_eq(sp.from, sp.to);
    sp = splice(p, old, "00 0\naa 1\nbb 2\ncc 3\ndd 4\n");            /* first */
    ck_assert_int_eq(sp.head, 0);
    ck_assert_int_eq(sp.tail, 4);
    ck_assert_uint_eq(sp.from, 0);
    ck_assert_uint_eq(sp.to, 5);
    sp = splice(p, old, old);                                        /* settings alone */
    ck_assert_int_eq(sp.head, 4);
    ck_assert_int_eq(sp.tail, 0);
    ck_assert_uint_eq(sp.from, 20);
    ck_assert_uint_eq(sp.to, 20);
    sp = splice(p, "", "aa 1\n");                                    /* no old lines */
    ck_assert_int_eq(sp.head + sp.tail, 0);
    ck_assert_uint_eq(sp.to, 5);
    apr_pool_destroy(p);
}
END_TEST

/* A line of old whose bytes end new is new's line only if new breaks the line
 * where old does: "c" ends both "ab\nc\n" and "abc\n", and is not a line of the
 * second. */
START_TEST(a_common_tail_is_taken_from_a_line_break_on)
{
    apr_pool_t *p;
    aop_doc_splice_t sp;

    apr_pool_create(&p, NULL);
    sp = splice(p, "ab\nc\n", "abc\n");
    ck_assert_int_eq(sp.head, 0);
    ck_assert_int_eq(sp.tail, 0);
    ck_assert_uint_eq(sp.to, 4);
    sp = splice(p, "x1\ny1\n", "x1\nzy1\n");
    ck_assert_int_eq(sp.head, 1);
    ck_assert_int_eq(sp.tail, 0);
    ck_assert_uint_eq(sp.from, 3);
    ck_assert_uint_eq(sp.to, 7);
    sp = splice(p, "x1\ny1\n", "x1\nz\ny1\n");
    ck_assert_int_eq(sp.head, 1);
    ck_assert_int_eq(sp.tail, 1);
    ck_assert_uint_eq(sp.from, 3);
    ck_assert_uint_eq(sp.to, 5);
    /* an instance line's head (its hash among it) stands for the line */
    sp = splice(p, "h1 a\t{1}\nh2 b\t{2}\n", "h1 a\t{1}\nh9 b\t{2}\n");
    ck_assert_int_eq(sp.head, 1);
    ck_assert_int_eq(sp.tail, 0);
    sp = splice(p, "h1 a\t{1}\nh2 b\t{2}\n", "h1 a\t{1}\nh2 b\t{22}\n");
    ck_assert_int_eq(sp.head, 1);
    ck_assert_uint_eq(sp.to, 19);
    apr_pool_destroy(p);
}
END_TEST

static char *random_lines(apr_pool_t *p, unsigned *seed, int n)
{
    char *out = apr_pcalloc(p, (apr_size_t)n * 4 + 1), *o = out;
    int i;

    for (i = 0; i < n; i++) {
        int len = (int)(rand_r(seed) % 3);

        while (len-- > 0) {
            *o++ = (char)('a' + rand_r(seed) % 2);
        }
        *o++ = '\n';
    }
    return out;
}

/* Whatever the two documents, new is old's head lines, its own lines between, and
 * old's tail lines (short lines of two letters: every kind of coincidence). */
START_TEST(a_splice_always_rebuilds_the_new_lines)
{
    apr_pool_t *p;
    unsigned seed = 14;
    int round;

    apr_pool_create(&p, NULL);
    for (round = 0; round < 20000; round++) {
        const char *old = random_lines(p, &seed, (int)(rand_r(&seed) % 8));
        const char *new_text = random_lines(p, &seed, (int)(rand_r(&seed) % 8));
        apr_size_t *ends, old_len = strlen(old), new_len = strlen(new_text), head, tail_at;
        int n = ends_of(p, old, &ends);
        aop_doc_lines_t o = kept(p, old);
        aop_doc_splice_t sp;

        aop_doc_splice(&o, new_text, new_len, &sp);
        head = sp.head ? ends[sp.head - 1] : 0;
        tail_at = sp.tail ? (n - sp.tail ? ends[n - sp.tail - 1] : 0) : old_len;
        ck_assert(sp.head >= 0 && sp.tail >= 0 && sp.head + sp.tail <= n);
        ck_assert(sp.from == head && sp.from <= sp.to && sp.to <= new_len);
        ck_assert(memcmp(old, new_text, head) == 0);
        ck_assert_uint_eq(new_len - sp.to, old_len - tail_at);
        ck_assert(memcmp(old + tail_at, new_text + sp.to, old_len - tail_at) == 0);
        ck_assert(sp.to == 0 || new_text[sp.to - 1] == '\n');
        if (!strcmp(old, new_text)) {
            ck_assert_int_eq(sp.head, n);
        }
    }
    apr_pool_destroy(p);
}
END_TEST

Suite *aop_doc_suite(void)
{
    Suite *s = suite_create("aop_doc");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, lines_read_back_as_written);
    tcase_add_test(tc, a_hash_with_its_top_bit_set_reads_back);
    tcase_add_test(tc, damaged_documents_are_refused);
    tcase_add_test(tc, a_view_reads_the_instance_lines_alone);
    tcase_add_test(tc, a_change_reads_only_the_lines_it_changed);
    tcase_add_test(tc, a_common_tail_is_taken_from_a_line_break_on);
    tcase_add_test(tc, a_splice_always_rebuilds_the_new_lines);
    suite_add_tcase(s, tc);
    return s;
}
