/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Fast scans of JSON text, sixteen bytes at a time where SSE2 is: for the tree parser
 * (aop_jtree.c) and the answer scanner that builds no tree (aop_usage.c).  Inline:
 * the scanner calls them every few bytes of a stream's events, where a call across
 * files cost more than the bytes it skipped. */
#ifndef AOP_JSCAN_H
#define AOP_JSCAN_H

#include <stddef.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Bytes that end the fast scan of a string: the closing quote, a backslash, and the
 * control characters RFC 8259 forbids unescaped. */
static const unsigned char aop_jscan_stop[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    ['"'] = 1, ['\\'] = 1
};

/* The first byte in [s, end) that ends the fast scan (aop_jscan_stop), or end.  A
 * prompt of a megabyte is one string: a byte at a time it would cost about a
 * millisecond, sixteen at a time (SSE2, in every x86-64) a tenth of that. */
static inline const char *aop_jscan_plain(const char *s, const char *end)
{
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i ctl = _mm_set1_epi8(0x1f);

    while (end - s >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)s);
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote),
                                                _mm_cmpeq_epi8(x, bslash)),
                                   _mm_cmpeq_epi8(_mm_min_epu8(x, ctl), x));
        int mask = _mm_movemask_epi8(hit);

        if (mask) {
            return s + __builtin_ctz((unsigned)mask);
        }
        s += 16;
    }
#endif
    while (s < end && !aop_jscan_stop[(unsigned char)*s]) {
        s++;
    }
    return s;
}

/* The first quote in [s, end), or end: for a scanner that looks at the quotes of an
 * event's text alone (aop_usage's scan_event), where they are a few bytes apart and
 * aop_jscan_plain()'s two more tests a block, and its stop at every backslash, made
 * a stream's scan a tenth dearer (callgrind). */
static inline const char *aop_jscan_quote(const char *s, const char *end)
{
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"');

    while (end - s >= 16) {
        int mask = _mm_movemask_epi8(_mm_cmpeq_epi8(
            _mm_loadu_si128((const __m128i *)(const void *)s), quote));

        if (mask) {
            return s + __builtin_ctz((unsigned)mask);
        }
        s += 16;
    }
#endif
    while (s < end && *s != '"') {
        s++;
    }
    return s;
}

#endif
