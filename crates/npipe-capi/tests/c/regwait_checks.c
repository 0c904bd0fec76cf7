/* Thread-pool waits (RegisterWaitForSingleObject, UnregisterWait(Ex)) as Qt's QWinEventNotifier
 * uses them: a callback per signal of an auto-reset event, a timeout reported with TRUE,
 * WT_EXECUTEONLYONCE, unregistering while a callback runs (ERROR_IO_PENDING, a completion
 * event, INVALID_HANDLE_VALUE waiting for it), no callback after the unregistration, errors;
 * and a pipe server that learns of a client in another process (this program re-run with
 * "client") through a registered wait on its overlapped ConnectNamedPipe's event.
 * Compiled against <npipe/win32.h> by tests/regwait.rs. */
#include <npipe/win32.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checks.h"

static char pipe_name[128];

struct counts {
    atomic_int fired, timed_out;
    int sleep_ms; /* how long each callback takes */
    atomic_int inside;
};

static VOID NTAPI callback(PVOID p, BOOLEAN timer_fired) {
    struct counts *c = p;
    atomic_fetch_add(&c->inside, 1);
    if (timer_fired) atomic_fetch_add(&c->timed_out, 1);
    else atomic_fetch_add(&c->fired, 1);
    if (c->sleep_ms) Sleep((DWORD)c->sleep_ms);
    atomic_fetch_sub(&c->inside, 1);
}

static int wait_for(atomic_int *v, int want, int ms) {
    for (int i = 0; i < ms / 5 && atomic_load(v) < want; i++) Sleep(5);
    return atomic_load(v) >= want;
}

static void events(void) {
    struct counts c;
    memset(&c, 0, sizeof c);
    HANDLE ev = CreateEventA(NULL, FALSE, FALSE, NULL);
    HANDLE w = NULL;
    CHECK(RegisterWaitForSingleObject(&w, ev, callback, &c, INFINITE, WT_EXECUTEDEFAULT) && w != NULL,
          "register a wait on an auto-reset event");
    Sleep(50);
    CHECK(atomic_load(&c.fired) == 0, "nothing before the event is set");
    for (int i = 1; i <= 3; i++) {
        SetEvent(ev);
        CHECK(wait_for(&c.fired, i, 2000), "one callback per SetEvent");
    }
    Sleep(50);
    CHECK(atomic_load(&c.fired) == 3 && atomic_load(&c.timed_out) == 0, "exactly three, none timed out");
    CHECK(WaitForSingleObject(ev, 0) == WAIT_TIMEOUT, "the wait took each signal of the auto-reset event");
    CHECK(UnregisterWaitEx(w, INVALID_HANDLE_VALUE), "UnregisterWaitEx(INVALID_HANDLE_VALUE)");
    SetEvent(ev);
    Sleep(100);
    CHECK(atomic_load(&c.fired) == 3, "no callback after the unregistration");
    CHECK(WaitForSingleObject(ev, 0) == WAIT_OBJECT_0, "and the event is left set");

    /* A timeout, once. */
    memset(&c, 0, sizeof c);
    ResetEvent(ev);
    CHECK(RegisterWaitForSingleObject(&w, ev, callback, &c, 30, WT_EXECUTEONLYONCE), "register with 30 ms, once");
    CHECK(wait_for(&c.timed_out, 1, 2000), "the timeout calls back with TRUE");
    Sleep(150);
    CHECK(atomic_load(&c.timed_out) == 1 && atomic_load(&c.fired) == 0, "once only");
    CHECK(UnregisterWait(w), "unregister a wait that already ran");

    /* Without WT_EXECUTEONLYONCE the timeout repeats. */
    memset(&c, 0, sizeof c);
    CHECK(RegisterWaitForSingleObject(&w, ev, callback, &c, 20, WT_EXECUTEDEFAULT), "register with 20 ms");
    CHECK(wait_for(&c.timed_out, 3, 3000), "the timeout comes again and again");
    CHECK(UnregisterWaitEx(w, INVALID_HANDLE_VALUE), "unregister");
    int after = atomic_load(&c.timed_out);
    Sleep(100);
    CHECK(atomic_load(&c.timed_out) == after, "and stops");

    /* Unregistering while a callback runs. */
    memset(&c, 0, sizeof c);
    c.sleep_ms = 300;
    CHECK(RegisterWaitForSingleObject(&w, ev, callback, &c, INFINITE, 0), "register a slow callback");
    SetEvent(ev);
    CHECK(wait_for(&c.inside, 1, 2000), "it runs");
    HANDLE done = CreateEventA(NULL, TRUE, FALSE, NULL);
    BOOL r = UnregisterWaitEx(w, done);
    CHECK(!r && GetLastError() == ERROR_IO_PENDING, "UnregisterWaitEx with an event while it runs: ERROR_IO_PENDING");
    CHECK(WaitForSingleObject(done, 0) == WAIT_TIMEOUT, "the event waits for the callback");
    CHECK(WaitForSingleObject(done, 3000) == WAIT_OBJECT_0 && atomic_load(&c.inside) == 0,
          "and is set once it returned");
    SetEvent(ev);
    Sleep(100);
    CHECK(atomic_load(&c.fired) == 1, "no callback after it");

    memset(&c, 0, sizeof c);
    c.sleep_ms = 200;
    CHECK(RegisterWaitForSingleObject(&w, ev, callback, &c, INFINITE, 0), "register again");
    CHECK(wait_for(&c.inside, 1, 2000), "it runs (the event was left set)");
    r = UnregisterWait(w);
    CHECK(!r && GetLastError() == ERROR_IO_PENDING, "UnregisterWait while it runs: ERROR_IO_PENDING");
    CHECK(wait_for(&c.fired, 1, 100) && atomic_load(&c.inside) == 1, "the callback goes on");
    Sleep(400);
    CHECK(atomic_load(&c.inside) == 0 && atomic_load(&c.fired) == 1, "and ends; none after");

    /* Errors. */
    HANDLE bogus = (HANDLE)(uintptr_t)0x7ffc;
    CHECK(!RegisterWaitForSingleObject(&w, bogus, callback, &c, INFINITE, 0) && GetLastError() == ERROR_INVALID_HANDLE,
          "a handle that is not open: ERROR_INVALID_HANDLE");
    CHECK(!UnregisterWait(bogus) && GetLastError() == ERROR_INVALID_HANDLE, "UnregisterWait of no wait: ERROR_INVALID_HANDLE");
    CHECK(!UnregisterWait(ev) && GetLastError() == ERROR_INVALID_HANDLE, "UnregisterWait of an event: ERROR_INVALID_HANDLE");
    CloseHandle(done);
    CloseHandle(ev);
}

/* ---- a pipe server told of its client by a registered wait --------------------------------- */

static int client(void) {
    HANDLE c = INVALID_HANDLE_VALUE;
    for (int i = 0; i < 500 && c == INVALID_HANDLE_VALUE; i++) {
        c = CreateFileA(pipe_name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
        if (c == INVALID_HANDLE_VALUE) Sleep(10);
    }
    if (c == INVALID_HANDLE_VALUE) return 1;
    DWORD n = 0;
    BOOL ok = WriteFile(c, "hi", 2, &n, NULL);
    char b[8];
    ok = ok && ReadFile(c, b, sizeof b, &n, NULL) && n == 3 && memcmp(b, "bye", 3) == 0;
    CloseHandle(c);
    return ok ? 0 : 1;
}

static void pipe_server(char **argv) {
    HANDLE s = CreateNamedPipeA(pipe_name, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED, PIPE_TYPE_BYTE | PIPE_WAIT, 1,
                                4096, 4096, 0, NULL);
    CHECK(s != INVALID_HANDLE_VALUE, "the server");
    OVERLAPPED o;
    memset(&o, 0, sizeof o);
    o.hEvent = CreateEventA(NULL, TRUE, FALSE, NULL);
    CHECK(!ConnectNamedPipe(s, &o) && GetLastError() == ERROR_IO_PENDING, "connect pending");
    struct counts c;
    memset(&c, 0, sizeof c);
    HANDLE w;
    CHECK(RegisterWaitForSingleObject(&w, o.hEvent, callback, &c, INFINITE, WT_EXECUTEONLYONCE),
          "register a wait on the connect's event");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", argv[0], "client", pipe_name, (char *)NULL);
        _exit(127);
    }
    CHECK(wait_for(&c.fired, 1, 10000), "the callback tells of the client process");
    DWORD n = 0;
    CHECK(GetOverlappedResult(s, &o, &n, FALSE), "the connect completed");
    char b[8];
    CHECK(ReadFile(s, b, 2, &n, &o) || GetLastError() == ERROR_IO_PENDING, "read");
    CHECK(GetOverlappedResult(s, &o, &n, TRUE) && n == 2 && memcmp(b, "hi", 2) == 0, "the client's request");
    CHECK(WriteFile(s, "bye", 3, &n, &o) || GetLastError() == ERROR_IO_PENDING, "reply");
    CHECK(GetOverlappedResult(s, &o, &n, TRUE) && n == 3, "written");
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the client process got its reply");
    CHECK(UnregisterWaitEx(w, INVALID_HANDLE_VALUE), "unregister");
    CloseHandle(o.hEvent);
    CloseHandle(s);
}

/* A registered wait and a FindFirstFile search are no kernel objects on Windows: waiting on
 * one, or registering a wait on one, fails with ERROR_INVALID_HANDLE (they were taken for
 * signalled objects, so such a wait returned at once). */
static void not_waitable(void) {
    HANDLE ev = CreateEventA(NULL, FALSE, FALSE, NULL);
    struct counts c = {0};
    HANDLE reg = NULL;
    CHECK(RegisterWaitForSingleObject(&reg, ev, callback, &c, INFINITE, 0), "register");
    WIN32_FIND_DATAA fd;
    HANDLE find = FindFirstFileA("\\\\.\\pipe\\*", &fd);
    HANDLE both[2] = {ev, reg};
    SetLastError(0);
    CHECK(WaitForSingleObject(reg, 0) == WAIT_FAILED && GetLastError() == ERROR_INVALID_HANDLE,
          "a registered wait is not waitable");
    SetLastError(0);
    CHECK(WaitForMultipleObjects(2, both, FALSE, 0) == WAIT_FAILED
              && GetLastError() == ERROR_INVALID_HANDLE,
          "nor among other objects");
    if (find != INVALID_HANDLE_VALUE) {
        SetLastError(0);
        CHECK(WaitForSingleObject(find, 0) == WAIT_FAILED && GetLastError() == ERROR_INVALID_HANDLE,
              "a search is not waitable");
        HANDLE r2 = NULL;
        CHECK(!RegisterWaitForSingleObject(&r2, find, callback, &c, INFINITE, 0)
                  && GetLastError() == ERROR_INVALID_HANDLE,
              "nor can a wait be registered on it");
        FindClose(find);
    }
    CHECK(UnregisterWaitEx(reg, INVALID_HANDLE_VALUE), "unregister");
    CloseHandle(ev);
}

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "client") == 0) {
        snprintf(pipe_name, sizeof pipe_name, "%s", argv[2]);
        return client();
    }
    snprintf(pipe_name, sizeof pipe_name, "\\\\.\\pipe\\npipe-regwait-%d", (int)getpid());
    events();
    not_waitable();
    pipe_server(argv);
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
