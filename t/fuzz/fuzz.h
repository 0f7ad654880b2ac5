/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* What every fuzz target shares: libFuzzer's entry points (the fuzzing build links
 * libFuzzer's main, t/fuzz/replay.c provides one for `make check`) and the check that
 * turns a broken invariant into a crash both of them report. */
#ifndef AOP_FUZZ_H
#define AOP_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the code under test: when it fails the input is a finding. */
#define FUZZ_CHECK(cond) do {                                                   \
        if (!(cond)) {                                                          \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,  \
                    #cond);                                                     \
            abort();                                                            \
        }                                                                       \
    } while (0)

#endif
