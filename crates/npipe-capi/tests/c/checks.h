/* The pass/fail counting the C check programs share (include it after <windows.h>):
 * CHECK(cond, what) counts a check that holds and prints one that fails, with its line and
 * GetLastError. Each program ends by printing "<passed> passed, <failed> failed", the line the
 * Rust side (tests/cbuild) looks for. */
#ifndef NPIPE_TESTS_CHECKS_H
#define NPIPE_TESTS_CHECKS_H

#include <stdio.h>

static int passed, failed;

#define CHECK(cond, what)                                                                         \
    do {                                                                                          \
        if (cond) passed++;                                                                       \
        else {                                                                                    \
            failed++;                                                                             \
            printf("FAIL %s (line %d, GetLastError %lu)\n", what, __LINE__, (unsigned long)GetLastError()); \
        }                                                                                         \
    } while (0)

#endif
