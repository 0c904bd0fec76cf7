/* Hardening checks of libnpipe's Win32 ABI against careless or hostile callers: NULL buffers,
 * names with unpaired UTF-16 surrogates, CloseHandle while another thread is blocked on the
 * handle, and fork() while other threads are inside the library. Built and run by
 * tests/c_hardening.rs. Each check states what Windows does (W-numbers from
 * docs/WINDOWS-BEHAVIOUR.md where one applies).
 *
 * Anything that may hang or crash runs in a child process: this program re-run with a role name
 * (fork + exec, so the child starts clean), killed after a deadline. A role prints a FAIL line
 * per failed expectation and exits with the number of failures. The parent prints
 * "N passed, M failed" and exits non-zero on any failure. */
#include <npipe/win32.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#ifndef ERROR_NOACCESS
#define ERROR_NOACCESS 998L
#endif

static int passed, failed;
#define CHECK(cond, ...)                                        \
    do {                                                        \
        if (cond) {                                             \
            passed++;                                           \
        } else {                                                \
            failed++;                                           \
            printf("FAIL (line %d) ", __LINE__);                \
            printf(__VA_ARGS__);                                \
            printf("\n");                                       \
        }                                                       \
    } while (0)

/* Inside a role: count and print failed expectations. */
static int role_failures;
static const char *role_name = "?";
#define EXPECT(cond, ...)                                       \
    do {                                                        \
        if (!(cond)) {                                          \
            role_failures++;                                    \
            printf("  FAIL [%s] ", role_name);                  \
            printf(__VA_ARGS__);                                \
            printf("\n");                                       \
            fflush(stdout);                                     \
        }                                                       \
    } while (0)

static const char *self_argv0;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* Runs this program again as `role` with `arg`; kills it after `timeout_s`. Returns its exit
 * status, 128 + signal if it was killed by a signal, or -1 if it hung. */
static int run_role(const char *role, const char *arg, int timeout_s) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", self_argv0, role, arg, (char *)NULL);
        _exit(127);
    }
    double end = now_s() + timeout_s;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        if (now_s() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            printf("  role %s: HUNG, still running after %d s, killed\n", role, timeout_s);
            return -1;
        }
        sleep_ms(10);
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    printf("  role %s: killed by signal %d\n", role, WTERMSIG(status));
    return 128 + WTERMSIG(status);
}

static HANDLE make_server(const char *name, DWORD type) {
    return CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX, type, 1, 4096, 4096, 0, NULL);
}

static HANDLE open_client(const char *name) {
    return CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
}

/* One blocking call on another thread, so the caller can give up on it after a deadline. */
enum op_kind { OP_READ, OP_WRITE, OP_CONNECT, OP_ANSWER };
struct op {
    HANDLE h;
    enum op_kind kind;
    atomic_int done;
    BOOL ok;
    DWORD err;
    DWORD n;
};

static void *run_op(void *p) {
    struct op *o = p;
    char buf[64];
    DWORD n = 0;
    switch (o->kind) {
    case OP_READ:
        o->ok = ReadFile(o->h, buf, sizeof buf, &n, NULL);
        break;
    case OP_WRITE:
        o->ok = WriteFile(o->h, "x", 1, &n, NULL);
        break;
    case OP_CONNECT:
        o->ok = ConnectNamedPipe(o->h, NULL);
        break;
    case OP_ANSWER:
        /* A server that answers one request (so a transaction never waits for nothing). */
        o->ok = ReadFile(o->h, buf, sizeof buf, &n, NULL) && WriteFile(o->h, "reply", 5, &n, NULL);
        break;
    }
    o->err = GetLastError();
    o->n = n;
    atomic_store(&o->done, 1);
    return NULL;
}

static void start_op(struct op *o, pthread_t *t, HANDLE h, enum op_kind kind) {
    o->h = h;
    o->kind = kind;
    atomic_store(&o->done, 0);
    pthread_create(t, NULL, run_op, o);
    pthread_detach(*t);
}

static int op_done_within(struct op *o, double secs) {
    double end = now_s() + secs;
    while (!atomic_load(&o->done)) {
        if (now_s() > end) return 0;
        sleep_ms(5);
    }
    return 1;
}

/* ---- 11c: NULL buffers with a non-zero size ------------------------------------------------
 * Windows probes the buffer and fails with ERROR_NOACCESS (998); npipe today treats NULL as an
 * empty buffer and succeeds. W82: (LPVOID)1 with size 0 is never touched and succeeds. */
static int role_nullbuf(const char *tag) {
    role_name = "nullbuf";
    char name[128], mname[128];
    snprintf(name, sizeof name, "\\\\.\\pipe\\npipe-hard-null-%s", tag);
    snprintf(mname, sizeof mname, "\\\\.\\pipe\\npipe-hard-nullmsg-%s", tag);
    HANDLE s = make_server(name, PIPE_TYPE_BYTE);
    HANDLE c = open_client(name);
    if (s == INVALID_HANDLE_VALUE || c == INVALID_HANDLE_VALUE) {
        EXPECT(0, "setup: err %u", (unsigned)GetLastError());
        return role_failures;
    }
    DWORD n = 0, r = 0, a = 0, l = 0;
    ConnectNamedPipe(s, NULL);
    /* Data both ways, so no read below waits. */
    WriteFile(c, "abc", 3, &n, NULL);
    WriteFile(s, "xyz", 3, &n, NULL);

    SetLastError(0);
    n = 77;
    BOOL ok = ReadFile(s, NULL, 10, &n, NULL);
    EXPECT(!ok && GetLastError() == ERROR_NOACCESS,
           "ReadFile(server, NULL, 10) -> %d, err %u, read %u; want FALSE, ERROR_NOACCESS", ok,
           (unsigned)GetLastError(), (unsigned)n);
    SetLastError(0);
    ok = ReadFile(c, NULL, 10, &n, NULL);
    EXPECT(!ok && GetLastError() == ERROR_NOACCESS,
           "ReadFile(client, NULL, 10) -> %d, err %u; want FALSE, ERROR_NOACCESS", ok,
           (unsigned)GetLastError());
    SetLastError(0);
    ok = WriteFile(s, NULL, 10, &n, NULL);
    EXPECT(!ok && GetLastError() == ERROR_NOACCESS,
           "WriteFile(server, NULL, 10) -> %d, err %u, written %u; want FALSE, ERROR_NOACCESS", ok,
           (unsigned)GetLastError(), (unsigned)n);
    SetLastError(0);
    ok = WriteFile(c, NULL, 10, &n, NULL);
    EXPECT(!ok && GetLastError() == ERROR_NOACCESS,
           "WriteFile(client, NULL, 10) -> %d, err %u; want FALSE, ERROR_NOACCESS", ok,
           (unsigned)GetLastError());
    /* PeekNamedPipe documents a NULL buffer as "no data is to be read": Windows peeks into a
     * buffer of its own and reports the count (kernelbase/Wine copy into lpBuffer only when it
     * is not NULL), so this succeeds and copies nothing. */
    SetLastError(0);
    r = a = 77;
    ok = PeekNamedPipe(s, NULL, 10, &r, &a, &l);
    EXPECT(ok && r == 3 && a == 3,
           "PeekNamedPipe(server, NULL, 10) with 3 bytes waiting -> %d read %u avail %u, err %u; "
           "want TRUE, 3, 3",
           ok, (unsigned)r, (unsigned)a, (unsigned)GetLastError());
    /* W82: a dummy pointer with size 0 is fine and reports the counts. */
    r = a = 77;
    ok = PeekNamedPipe(s, (LPVOID)1, 0, &r, &a, NULL);
    EXPECT(ok && r == 0 && a == 3, "W82 PeekNamedPipe((LPVOID)1, 0) -> %d read %u avail %u", ok,
           (unsigned)r, (unsigned)a);
    /* The refused calls consumed nothing. */
    char buf[16] = {0};
    ok = ReadFile(s, buf, sizeof buf, &n, NULL);
    EXPECT(ok && n == 3 && memcmp(buf, "abc", 3) == 0, "the server's data after refused calls: %d, %u bytes", ok,
           (unsigned)n);

    /* TransactNamedPipe with a NULL request of 10 bytes (message pipe, message read mode). */
    HANDLE ms = make_server(mname, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE);
    HANDLE mc = open_client(mname);
    DWORD mode = PIPE_READMODE_MESSAGE;
    if (ms == INVALID_HANDLE_VALUE || mc == INVALID_HANDLE_VALUE ||
        !SetNamedPipeHandleState(mc, &mode, NULL, NULL)) {
        EXPECT(0, "message pipe setup: err %u", (unsigned)GetLastError());
        return role_failures;
    }
    ConnectNamedPipe(ms, NULL);
    struct op answer;
    pthread_t t;
    start_op(&answer, &t, ms, OP_ANSWER);
    char out[64];
    SetLastError(0);
    n = 77;
    ok = TransactNamedPipe(mc, NULL, 10, out, sizeof out, &n, NULL);
    EXPECT(!ok && GetLastError() == ERROR_NOACCESS,
           "TransactNamedPipe(client, NULL, 10, ...) -> %d, err %u, read %u; want FALSE, "
           "ERROR_NOACCESS",
           ok, (unsigned)GetLastError(), (unsigned)n);
    return role_failures;
}

/* ---- 11e: CloseHandle while another thread is blocked on the handle ------------------------
 * The blocked call must end (FALSE, ERROR_OPERATION_ABORTED or ERROR_INVALID_HANDLE) and the
 * client must see the close: reads fail with ERROR_BROKEN_PIPE (W113), writes with
 * ERROR_NO_DATA (W114). Today the blocked thread keeps the instance alive. */
static int role_close_read(const char *tag) {
    role_name = "close_read";
    char name[128];
    snprintf(name, sizeof name, "\\\\.\\pipe\\npipe-hard-closeread-%s", tag);
    HANDLE s = make_server(name, PIPE_TYPE_BYTE);
    HANDLE c = open_client(name);
    if (s == INVALID_HANDLE_VALUE || c == INVALID_HANDLE_VALUE) {
        EXPECT(0, "setup: err %u", (unsigned)GetLastError());
        return role_failures;
    }
    ConnectNamedPipe(s, NULL);
    struct op rd, cr, cw;
    pthread_t t1, t2, t3;
    start_op(&rd, &t1, s, OP_READ);
    sleep_ms(300);
    EXPECT(!atomic_load(&rd.done), "the server's ReadFile returned before CloseHandle");
    EXPECT(CloseHandle(s), "CloseHandle(server) failed: err %u", (unsigned)GetLastError());
    if (!op_done_within(&rd, 5)) {
        EXPECT(0, "ReadFile on the server handle still blocked 5 s after another thread closed "
                  "the handle");
    } else {
        EXPECT(!rd.ok && (rd.err == ERROR_OPERATION_ABORTED || rd.err == ERROR_INVALID_HANDLE),
               "the blocked ReadFile ended with %d, err %u; want FALSE with "
               "ERROR_OPERATION_ABORTED or ERROR_INVALID_HANDLE",
               rd.ok, (unsigned)rd.err);
    }
    start_op(&cr, &t2, c, OP_READ);
    if (!op_done_within(&cr, 5)) {
        EXPECT(0, "the client's ReadFile still blocked 5 s after the server handle was closed; "
                  "want FALSE, ERROR_BROKEN_PIPE");
    } else {
        EXPECT(!cr.ok && cr.err == ERROR_BROKEN_PIPE,
               "the client's ReadFile after the server's close -> %d, err %u; want FALSE, "
               "ERROR_BROKEN_PIPE",
               cr.ok, (unsigned)cr.err);
    }
    start_op(&cw, &t3, c, OP_WRITE);
    if (!op_done_within(&cw, 5)) {
        EXPECT(0, "the client's WriteFile still blocked 5 s after the server handle was closed");
    } else {
        EXPECT(!cw.ok && cw.err == ERROR_NO_DATA,
               "the client's WriteFile after the server's close -> %d, err %u; want FALSE, "
               "ERROR_NO_DATA",
               cw.ok, (unsigned)cw.err);
    }
    return role_failures;
}

/* W31, W41/W42: a pending ConnectNamedPipe ends when its handle is closed. */
static int role_close_connect(const char *tag) {
    role_name = "close_connect";
    char name[128];
    snprintf(name, sizeof name, "\\\\.\\pipe\\npipe-hard-closeconn-%s", tag);
    HANDLE s = make_server(name, PIPE_TYPE_BYTE);
    if (s == INVALID_HANDLE_VALUE) {
        EXPECT(0, "setup: err %u", (unsigned)GetLastError());
        return role_failures;
    }
    struct op cn;
    pthread_t t;
    start_op(&cn, &t, s, OP_CONNECT);
    sleep_ms(300);
    EXPECT(!atomic_load(&cn.done), "ConnectNamedPipe returned before CloseHandle");
    EXPECT(CloseHandle(s), "CloseHandle(server) failed: err %u", (unsigned)GetLastError());
    if (!op_done_within(&cn, 5)) {
        EXPECT(0, "ConnectNamedPipe still blocked 5 s after another thread closed the handle");
    } else {
        EXPECT(!cn.ok && (cn.err == ERROR_OPERATION_ABORTED || cn.err == ERROR_INVALID_HANDLE),
               "the blocked ConnectNamedPipe ended with %d, err %u; want FALSE with "
               "ERROR_OPERATION_ABORTED or ERROR_INVALID_HANDLE",
               cn.ok, (unsigned)cn.err);
    }
    /* W9: the only instance is closed, so the name is gone. */
    HANDLE c = open_client(name);
    EXPECT(c == INVALID_HANDLE_VALUE && GetLastError() == ERROR_FILE_NOT_FOUND,
           "CreateFile after the only instance was closed -> %s, err %u; want "
           "ERROR_FILE_NOT_FOUND",
           c == INVALID_HANDLE_VALUE ? "INVALID_HANDLE_VALUE" : "a handle",
           (unsigned)GetLastError());
    return role_failures;
}

/* ---- 8: fork() while other threads are inside the library ---------------------------------
 * Three threads create, open, connect, exchange and close pipes in a loop while the main thread
 * forks 200 times; each child at once does one exchange of its own and _exits. A child stuck on
 * a lock copied in the locked state is killed after 5 s and counted. */
static atomic_int stop_hammer;

static int exchange(const char *name) {
    char buf[16];
    DWORD n = 0, mode = PIPE_READMODE_MESSAGE;
    HANDLE s = make_server(name, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE);
    if (s == INVALID_HANDLE_VALUE) return 1;
    HANDLE c = open_client(name);
    int rc = 0;
    if (c == INVALID_HANDLE_VALUE) {
        CloseHandle(s);
        return 2;
    }
    ConnectNamedPipe(s, NULL);
    if (!SetNamedPipeHandleState(c, &mode, NULL, NULL)) rc = 3;
    else if (!WriteFile(c, "ping", 4, &n, NULL)) rc = 4;
    else if (!ReadFile(s, buf, sizeof buf, &n, NULL) || n != 4) rc = 5;
    else if (!WriteFile(s, "pong", 4, &n, NULL)) rc = 6;
    else if (!ReadFile(c, buf, sizeof buf, &n, NULL) || n != 4 || memcmp(buf, "pong", 4) != 0) rc = 7;
    CloseHandle(c);
    CloseHandle(s);
    return rc;
}

static void *hammer(void *p) {
    long id = (long)(intptr_t)p;
    char name[128];
    unsigned i = 0;
    while (!atomic_load(&stop_hammer)) {
        snprintf(name, sizeof name, "\\\\.\\pipe\\npipe-hard-hammer-%d-%ld-%u", (int)getpid(), id, i++);
        exchange(name);
    }
    return NULL;
}

static int role_fork_storm(const char *count_s) {
    role_name = "fork_storm";
    int count = atoi(count_s);
    pthread_t th[3];
    for (long i = 0; i < 3; i++) pthread_create(&th[i], NULL, hammer, (void *)(intptr_t)i);
    sleep_ms(100);
    int hung = 0, bad = 0, next = 0, nrun = 0;
    pid_t run[4];
    double deadline[4];
    while (next < count || nrun > 0) {
        while (nrun < 4 && next < count) {
            fflush(stdout);
            pid_t pid = fork();
            if (pid == 0) {
                char name[128];
                snprintf(name, sizeof name, "\\\\.\\pipe\\npipe-hard-forkchild-%d", (int)getpid());
                _exit(exchange(name));
            }
            if (pid < 0) {
                EXPECT(0, "fork failed");
                break;
            }
            run[nrun] = pid;
            deadline[nrun] = now_s() + 5;
            nrun++;
            next++;
        }
        for (int i = 0; i < nrun;) {
            int st = 0;
            pid_t r = waitpid(run[i], &st, WNOHANG);
            int gone = 0;
            if (r == run[i]) {
                if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) bad++;
                gone = 1;
            } else if (now_s() > deadline[i]) {
                kill(run[i], SIGKILL);
                waitpid(run[i], &st, 0);
                hung++;
                gone = 1;
            }
            if (gone) {
                run[i] = run[nrun - 1];
                deadline[i] = deadline[nrun - 1];
                nrun--;
            } else {
                i++;
            }
        }
        sleep_ms(2);
    }
    atomic_store(&stop_hammer, 1);
    printf("  fork storm: %d forks, %d children hung, %d failed\n", count, hung, bad);
    EXPECT(hung == 0 && bad == 0,
           "%d of %d forked children hung on the library (killed after 5 s), %d failed", hung,
           count, bad);
    return role_failures;
}

/* ---- 11d: unpaired surrogates must not alias ----------------------------------------------- */
static void wname(WCHAR *out, size_t cap, const char *ascii, WCHAR last) {
    size_t i = 0;
    for (; ascii[i] && i + 2 < cap; i++) out[i] = (WCHAR)(unsigned char)ascii[i];
    out[i++] = last;
    out[i] = 0;
}

static void check_surrogates(void) {
    char base[96];
    snprintf(base, sizeof base, "\\\\.\\pipe\\npipe-hard-sur-%d-", (int)getpid());
    WCHAR w1[128], w2[128], w3[128];
    wname(w1, 128, base, 0xD800);
    wname(w2, 128, base, 0xDC00);
    wname(w3, 128, base, 0xFFFD);
    DWORD open_mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_FIRST_PIPE_INSTANCE;
    HANDLE h1 = CreateNamedPipeW(w1, open_mode, PIPE_TYPE_BYTE, 1, 1024, 1024, 0, NULL);
    DWORD e1 = GetLastError();
    HANDLE h2 = CreateNamedPipeW(w2, open_mode, PIPE_TYPE_BYTE, 1, 1024, 1024, 0, NULL);
    DWORD e2 = GetLastError();
    HANDLE h3 = CreateNamedPipeW(w3, open_mode, PIPE_TYPE_BYTE, 1, 1024, 1024, 0, NULL);
    DWORD e3 = GetLastError();
    CHECK(h1 != INVALID_HANDLE_VALUE || e1 == ERROR_INVALID_NAME,
          "11d: CreateNamedPipeW(name + U+D800) failed with %u", (unsigned)e1);
    CHECK(h2 != INVALID_HANDLE_VALUE || e2 == ERROR_INVALID_NAME,
          "11d: CreateNamedPipeW(name + U+DC00) failed with %u%s", (unsigned)e2,
          e2 == ERROR_ACCESS_DENIED || e2 == ERROR_PIPE_BUSY
              ? " (it found the U+D800 pipe: the two names alias)"
              : "");
    CHECK((h1 != INVALID_HANDLE_VALUE) == (h2 != INVALID_HANDLE_VALUE),
          "11d: names ending in U+D800 and U+DC00 must both be distinct pipes or both be invalid "
          "(%s, %s)",
          h1 != INVALID_HANDLE_VALUE ? "created" : "refused",
          h2 != INVALID_HANDLE_VALUE ? "created" : "refused");
    CHECK(h3 != INVALID_HANDLE_VALUE,
          "11d: a name ending in a real U+FFFD is a pipe of its own, but create failed with %u%s",
          (unsigned)e3,
          e3 == ERROR_ACCESS_DENIED || e3 == ERROR_PIPE_BUSY
              ? " (an unpaired surrogate was turned into U+FFFD)"
              : "");
    if (h1 != INVALID_HANDLE_VALUE) CloseHandle(h1);
    if (h2 != INVALID_HANDLE_VALUE) CloseHandle(h2);
    if (h3 != INVALID_HANDLE_VALUE) CloseHandle(h3);
}

int main(int argc, char **argv) {
    self_argv0 = argv[0];
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 2) {
        int r = 100;
        if (strcmp(argv[1], "nullbuf") == 0) r = role_nullbuf(argv[2]);
        else if (strcmp(argv[1], "close_read") == 0) r = role_close_read(argv[2]);
        else if (strcmp(argv[1], "close_connect") == 0) r = role_close_connect(argv[2]);
        else if (strcmp(argv[1], "fork_storm") == 0) r = role_fork_storm(argv[2]);
        fflush(stdout);
        /* Threads may still be blocked in the library: leave without running exit handlers. */
        _exit(r > 100 ? 100 : r);
    }
    char tag[32];
    snprintf(tag, sizeof tag, "%d", (int)getpid());

    int r = run_role("nullbuf", tag, 30);
    CHECK(r == 0, "11c: NULL buffers with a non-zero size must fail with ERROR_NOACCESS (role: %d)", r);
    check_surrogates();
    r = run_role("close_read", tag, 40);
    CHECK(r == 0, "11e: CloseHandle must end a ReadFile blocked on the handle and tell the client (role: %d)", r);
    r = run_role("close_connect", tag, 30);
    CHECK(r == 0, "11e: CloseHandle must end a ConnectNamedPipe blocked on the handle (role: %d)", r);
    r = run_role("fork_storm", "200", 600);
    CHECK(r == 0, "8: fork() while threads use the library must never hang the child (role: %d)", r);

    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
