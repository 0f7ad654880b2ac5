/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Whether an answer's Content-Type is text/event-stream (any case, any parameters):
 * asked several times of every answer by the filters, where httpd's
 * ap_cstr_casecmpn cost some 200 instructions a call (callgrind). */
#ifndef AOP_EVENT_STREAM_H
#define AOP_EVENT_STREAM_H

static inline int aop_is_event_stream(const char *content_type)
{
    static const char want[] = "text/event-stream";
    unsigned i;

    if (!content_type) {
        return 0;
    }
    /* A shorter type stops at its NUL, which matches no byte of want. */
    for (i = 0; i < sizeof(want) - 1; i++) {
        char c = content_type[i];

        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        if (c != want[i]) {
            return 0;
        }
    }
    return 1;
}

#endif
