/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The mod_aoproxy authors (LICENSE) */
/* Replays a fuzz target's checked-in inputs without libFuzzer, so that `make check`
 * (gcc, no clang needed) runs every seed and every crash the fuzzers ever found:
 * t/fuzz/corpus/NAME/ and t/fuzz/regressions/NAME/ below $AOP_SRCDIR, or the files
 * and directories given as arguments.  A broken invariant aborts (fuzz.h). */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#ifndef FUZZ_NAME
#error "FUZZ_NAME names the target (its corpus directory)"
#endif

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0, n;

    if (!f) {
        perror(path);
        return -1;
    }
    do {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            if ((buf = realloc(buf, cap)) == NULL) {
                abort();
            }
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

/* Every regular file of dir (not recursive); a missing dir is none. */
static int replay_dir(const char *dir, int *count)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];
    struct stat st;

    if (!d) {
        return 0;
    }
    while ((e = readdir(d)) != NULL) {
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (e->d_name[0] == '.' || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        if (replay_file(path) != 0) {
            closedir(d);
            return -1;
        }
        (*count)++;
    }
    closedir(d);
    return 0;
}

static int replay_path(const char *path, int *count)
{
    struct stat st;

    if (stat(path, &st) != 0) {
        perror(path);
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        return replay_dir(path, count);
    }
    (*count)++;
    return replay_file(path);
}

int main(int argc, char **argv)
{
    const char *src = getenv("AOP_SRCDIR");
    char dir[4096];
    int i, count = 0, rc = 0;

    LLVMFuzzerInitialize(&argc, &argv);
    if (argc > 1) {
        for (i = 1; i < argc && rc == 0; i++) {
            rc = replay_path(argv[i], &count);
        }
    }
    else {
        snprintf(dir, sizeof(dir), "%s/t/fuzz/corpus/%s", src ? src : ".", FUZZ_NAME);
        rc = replay_dir(dir, &count);
        snprintf(dir, sizeof(dir), "%s/t/fuzz/regressions/%s", src ? src : ".", FUZZ_NAME);
        rc = rc ? rc : replay_dir(dir, &count);
        if (rc == 0 && count == 0) {
            fprintf(stderr, "fuzz %s: no inputs under %s/t/fuzz\n", FUZZ_NAME,
                    src ? src : ".");
            return 1;
        }
    }
    printf("fuzz %s: %d inputs replayed\n", FUZZ_NAME, count);
    return rc ? 1 : 0;
}
