/* The pass/fail counting the C check programs share (include it after <windows.h>):
 * CHECK(cond, what) counts a check that holds and prints one that fails, with its line and
 * GetLastError. Each program ends by printing "<passed> passed, <failed> failed", the line the
 * Rust side (tests/cbuild) looks for. */
#ifndef NPIPE_TESTS_CHECKS_H
#define NPIPE_TESTS_CHECKS_H

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static int passed, failed;

#define CHECK(cond, what)                                                                         \
    do {                                                                                          \
        if (cond) passed++;                                                                       \
        else {                                                                                    \
            failed++;                                                                             \
            printf("FAIL %s (line %d, GetLastError %lu)\n", what, __LINE__, (unsigned long)GetLastError()); \
        }                                                                                         \
    } while (0)

/* Runs this program again as a second process, `argv0 ROLE ARG`, for its main to dispatch on
 * ROLE (stdout flushed first, so nothing buffered is printed twice). */
static inline pid_t spawn_self(const char *argv0, const char *role, const char *arg) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", argv0, role, arg, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Waits for child `pid`: whether it exited with status 0. */
static inline int wait_ok(pid_t pid) {
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

#endif
