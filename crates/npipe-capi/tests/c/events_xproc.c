/* npipe's C test of named events across processes: CreateEvent/OpenEvent/SetEvent/PulseEvent
 * and the wait functions in one process acting on the event another process created, with
 * Windows' results (auto reset releases exactly one waiter among processes, a pulse releases
 * the waiters of the moment in every process, a wait-all takes a local and a shared event at
 * once, npipe_wait_fd polls readable in every process, the name lives while any process holds
 * a handle). Compiled against <npipe/win32.h> and libnpipe by tests/events_xproc.rs; the
 * program runs itself again as the other processes (argv[1] names the role). Prints
 * "N passed, M failed" and exits non-zero on any failure. */
#include <npipe/win32.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef EVENT_MODIFY_STATE
#define EVENT_MODIFY_STATE 0x0002
#endif
#ifndef SYNCHRONIZE
#define SYNCHRONIZE 0x00100000L
#endif
#ifndef EVENT_ALL_ACCESS
#define EVENT_ALL_ACCESS 0x1F0003
#endif
int npipe_wait_fd(HANDLE h);

static int passed, failed;
#define CHECK(cond, what)                                                                        \
    do {                                                                                         \
        if (cond)                                                                                \
            passed++;                                                                            \
        else {                                                                                   \
            failed++;                                                                            \
            printf("FAIL %s (line %d, err %u)\n", what, __LINE__, (unsigned)GetLastError());     \
        }                                                                                        \
    } while (0)

static int readable(int fd) {
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* ---- the other processes ----------------------------------------------------------------- */

static HANDLE must_open(const char *name) {
    HANDLE h = OpenEventA(EVENT_ALL_ACCESS, FALSE, name);
    if (h == NULL) {
        printf("child: OpenEvent(%s) failed, GLE=%u\n", name, (unsigned)GetLastError());
        exit(2);
    }
    return h;
}

/* Runs a role; returns the exit status. */
static int role(int argc, char **argv) {
    const char *r = argv[1];
    if (!strcmp(r, "set") && argc == 3) {
        /* The mailslot sample's writer: OpenEvent with EVENT_MODIFY_STATE, then SetEvent. */
        HANDLE h = OpenEventA(EVENT_MODIFY_STATE, FALSE, argv[2]);
        if (h == NULL) return GetLastError() == ERROR_FILE_NOT_FOUND ? 4 : 2;
        return SetEvent(h) ? 0 : 1;
    }
    if (!strcmp(r, "wait") && argc == 5) {
        HANDLE h = must_open(argv[2]);
        SetEvent(must_open(argv[3]));
        DWORD w = WaitForSingleObject(h, (DWORD)atoi(argv[4]));
        return w == WAIT_OBJECT_0 ? 0 : w == WAIT_TIMEOUT ? 3 : 1;
    }
    if (!strcmp(r, "create") && argc == 3) {
        /* The parent made a manual-reset event, set: our auto-reset, unset request is ignored. */
        SetLastError(0);
        HANDLE h = CreateEventA(NULL, FALSE, FALSE, argv[2]);
        if (h == NULL || GetLastError() != ERROR_ALREADY_EXISTS) return 1;
        if (WaitForSingleObject(h, 0) != WAIT_OBJECT_0 || WaitForSingleObject(h, 0) != WAIT_OBJECT_0) return 5;
        return 0;
    }
    if (!strcmp(r, "poll") && argc == 4) {
        HANDLE h = must_open(argv[2]);
        int fd = npipe_wait_fd(h);
        if (fd < 0 || readable(fd)) return 1;
        SetEvent(must_open(argv[3]));
        for (int i = 0; i < 500 && !readable(fd); i++) Sleep(10);
        if (!readable(fd) || !readable(fd)) return 6;
        if (WaitForSingleObject(h, 0) != WAIT_OBJECT_0 || readable(fd)) return 7;
        return 0;
    }
    if (!strcmp(r, "hold") && argc == 5) {
        HANDLE h = must_open(argv[2]);
        HANDLE go = must_open(argv[4]);
        SetEvent(must_open(argv[3]));
        if (WaitForSingleObject(go, 10000) != WAIT_OBJECT_0) return 8;
        return WaitForSingleObject(h, 5000) == WAIT_OBJECT_0 ? 0 : 9;
    }
    printf("child: unknown role %s\n", r);
    return 100;
}

/* ---- the test process --------------------------------------------------------------------- */

static pid_t spawn(const char *r, const char *a, const char *b, const char *c) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", "events_xproc", r, a, b, c, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int status_of(pid_t pid) {
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The exit status if the child has exited, else -1 (it keeps running). */
static int exited(pid_t pid) {
    int st = 0;
    if (waitpid(pid, &st, WNOHANG) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char base[64];
static const char *nm(char *buf, const char *tag) {
    snprintf(buf, 96, "%s_%s", base, tag);
    return buf;
}

static void another_process_sets(void) {
    char e[96];
    HANDLE h = CreateEventA(NULL, FALSE, FALSE, nm(e, "set"));
    CHECK(h != NULL && GetLastError() == ERROR_SUCCESS, "create a named auto-reset event");
    pid_t c = spawn("set", e, NULL, NULL);
    CHECK(WaitForSingleObject(h, 10000) == WAIT_OBJECT_0, "another process's SetEvent wakes a wait here");
    CHECK(status_of(c) == 0, "OpenEvent(EVENT_MODIFY_STATE) + SetEvent in the other process");
    CHECK(WaitForSingleObject(h, 0) == WAIT_TIMEOUT, "the wait took the auto-reset event");
    SetLastError(0);
    CHECK(OpenEventA(SYNCHRONIZE, FALSE, nm(e, "missing")) == NULL && GetLastError() == ERROR_FILE_NOT_FOUND,
          "OpenEvent of a missing name: ERROR_FILE_NOT_FOUND");
    SetLastError(0);
    CHECK(OpenEventA(SYNCHRONIZE, FALSE, NULL) == NULL && GetLastError() == ERROR_INVALID_PARAMETER,
          "OpenEvent NULL: ERROR_INVALID_PARAMETER");
    CloseHandle(h);

    HANDLE m = CreateEventA(NULL, TRUE, TRUE, nm(e, "exists"));
    c = spawn("create", e, NULL, NULL);
    CHECK(status_of(c) == 0, "CreateEvent in another process: ERROR_ALREADY_EXISTS, mode and state kept");
    CloseHandle(m);
}

static void auto_reset_releases_one_process(void) {
    char e[96], r[3][96], tag[16];
    HANDLE h = CreateEventA(NULL, FALSE, FALSE, nm(e, "auto"));
    HANDLE ready[3];
    pid_t kids[3];
    for (int k = 0; k < 3; k++) {
        snprintf(tag, sizeof tag, "auto_r%d", k);
        ready[k] = CreateEventA(NULL, TRUE, FALSE, nm(r[k], tag));
        kids[k] = spawn("wait", e, r[k], "5000");
    }
    CHECK(WaitForMultipleObjects(3, ready, TRUE, 10000) == WAIT_OBJECT_0, "wait-all on three named events");
    Sleep(300);
    CHECK(SetEvent(h), "SetEvent");
    Sleep(500);
    int done = 0, left[3];
    for (int k = 0; k < 3; k++) {
        left[k] = exited(kids[k]);
        if (left[k] == 0) done++;
    }
    CHECK(done == 1, "one SetEvent released exactly one of three processes");
    CHECK(WaitForSingleObject(h, 0) == WAIT_TIMEOUT, "and left the event reset");
    SetEvent(h);
    SetEvent(h);
    int all = 1;
    for (int k = 0; k < 3; k++)
        if (left[k] != 0 && status_of(kids[k]) != 0) all = 0;
    CHECK(all, "two more SetEvents released the other two");
    for (int k = 0; k < 3; k++) CloseHandle(ready[k]);
    CloseHandle(h);
}

static void pulses_across_processes(int manual) {
    char e[96], r[2][96], tag[24];
    snprintf(tag, sizeof tag, "pulse%d", manual);
    HANDLE h = CreateEventA(NULL, manual, FALSE, nm(e, tag));
    HANDLE ready[2];
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        snprintf(tag, sizeof tag, "pulse%d_r%d", manual, k);
        ready[k] = CreateEventA(NULL, TRUE, FALSE, nm(r[k], tag));
        kids[k] = spawn("wait", e, r[k], manual ? "5000" : "1500");
    }
    CHECK(WaitForMultipleObjects(2, ready, TRUE, 10000) == WAIT_OBJECT_0, "both waiters started");
    Sleep(300);
    CHECK(PulseEvent(h), "PulseEvent");
    CHECK(WaitForSingleObject(h, 0) == WAIT_TIMEOUT, "the pulse leaves the event reset");
    int a = status_of(kids[0]), b = status_of(kids[1]);
    if (manual)
        CHECK(a == 0 && b == 0, "a manual pulse released the waiters of both processes");
    else
        CHECK((a == 0 && b == 3) || (a == 3 && b == 0), "an auto pulse released one process, the other timed out");
    for (int k = 0; k < 2; k++) CloseHandle(ready[k]);
    CloseHandle(h);
}

static void wait_fd_in_every_process(void) {
    char e[96], r[96];
    HANDLE h = CreateEventA(NULL, FALSE, FALSE, nm(e, "fd"));
    HANDLE ready = CreateEventA(NULL, TRUE, FALSE, nm(r, "fd_r"));
    int fd = npipe_wait_fd(h);
    pid_t c = spawn("poll", e, r, NULL);
    CHECK(WaitForSingleObject(ready, 10000) == WAIT_OBJECT_0, "the poller started");
    CHECK(fd >= 0 && !readable(fd), "not readable while reset");
    SetEvent(h);
    CHECK(readable(fd), "readable here once set");
    CHECK(status_of(c) == 0, "readable in the other process too, which then took it");
    CHECK(!readable(fd) && WaitForSingleObject(h, 0) == WAIT_TIMEOUT, "taken there: not readable here");
    CloseHandle(ready);
    CloseHandle(h);
}

static void wait_all_local_and_shared(void) {
    char e[96];
    HANDLE local = CreateEventA(NULL, FALSE, TRUE, NULL);
    HANDLE shared = CreateEventA(NULL, FALSE, FALSE, nm(e, "all"));
    HANDLE both[2] = { local, shared };
    CHECK(WaitForMultipleObjects(2, both, TRUE, 50) == WAIT_TIMEOUT, "wait-all, only the local one set");
    CHECK(WaitForSingleObject(local, 0) == WAIT_OBJECT_0, "a failed wait-all consumed nothing");
    SetEvent(local);
    pid_t c = spawn("set", e, NULL, NULL);
    CHECK(WaitForMultipleObjects(2, both, TRUE, 10000) == WAIT_OBJECT_0, "wait-all completed by the other process");
    CHECK(status_of(c) == 0, "it set the shared event");
    CHECK(WaitForSingleObject(local, 0) == WAIT_TIMEOUT && WaitForSingleObject(shared, 0) == WAIT_TIMEOUT,
          "both auto-reset events were taken together");
    CloseHandle(local);
    CloseHandle(shared);
}

static void the_name_lives_while_a_process_holds_it(void) {
    char e[96], r[96], g[96];
    HANDLE h = CreateEventA(NULL, TRUE, FALSE, nm(e, "keep"));
    HANDLE ready = CreateEventA(NULL, TRUE, FALSE, nm(r, "keep_r"));
    HANDLE go = CreateEventA(NULL, TRUE, FALSE, nm(g, "keep_g"));
    pid_t holder = spawn("hold", e, r, g);
    CHECK(WaitForSingleObject(ready, 10000) == WAIT_OBJECT_0, "the holder opened it");
    CloseHandle(h); /* the creator's only handle */
    pid_t c = spawn("set", e, NULL, NULL);
    CHECK(status_of(c) == 0, "a third process opens and sets it by name after the creator closed");
    HANDLE again = OpenEventA(SYNCHRONIZE, FALSE, e);
    CHECK(again != NULL && WaitForSingleObject(again, 0) == WAIT_OBJECT_0, "the same event, still set");
    CloseHandle(again);
    SetEvent(go);
    CHECK(status_of(holder) == 0, "the holder saw it set");
    int gone = 0;
    for (int i = 0; i < 500 && !gone; i++) {
        HANDLE x = OpenEventA(SYNCHRONIZE, FALSE, e);
        if (x == NULL && GetLastError() == ERROR_FILE_NOT_FOUND) gone = 1;
        else {
            if (x) CloseHandle(x);
            Sleep(10);
        }
    }
    CHECK(gone, "the name went with the last handle of every process");
    CloseHandle(ready);
    CloseHandle(go);
}

int main(int argc, char **argv) {
    if (argc >= 2) return role(argc, argv);
    alarm(120); /* a hang fails the test instead of stalling it */
    snprintf(base, sizeof base, "npipe_events_xproc_%d", (int)getpid());
    another_process_sets();
    auto_reset_releases_one_process();
    pulses_across_processes(1);
    pulses_across_processes(0);
    wait_fd_in_every_process();
    wait_all_local_and_shared();
    the_name_lives_while_a_process_holds_it();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
