/* Hardening checks of libnpipe's Win32 ABI against careless or hostile callers: NULL buffers,
 * names with unpaired UTF-16 surrogates, CloseHandle while another thread is blocked on the
 * handle or used it lately, and fork() while other threads are inside the library. Built and run by
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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/resource.h>
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

/* Starts this program again as `role` with `arg`. */
static pid_t spawn_role(const char *role, const char *arg) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", self_argv0, role, arg, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Waits for a role started by spawn_role; kills it after `timeout_s`. Returns its exit status,
 * 128 + signal if it was killed by a signal, or -1 if it hung. */
static int wait_role(pid_t pid, const char *role, int timeout_s) {
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

/* Runs this program again as `role` with `arg` and waits for it (see wait_role). */
static int run_role(const char *role, const char *arg, int timeout_s) {
    return wait_role(spawn_role(role, arg), role, timeout_s);
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

/* ---- 11f: CloseHandle of a handle another thread used lately ------------------------------
 * A thread keeps the lookups of the pipe handles it used last. A CloseHandle on another thread
 * must take effect at once all the same: the client process sees the close (ERROR_BROKEN_PIPE
 * once it read everything, W113) while the thread that used the handle lives on and never
 * calls again; that thread's next call with the old value fails with ERROR_INVALID_HANDLE; and
 * once a new handle takes the value, the value names the new object. An anonymous pipe's
 * write end, closed the same way, ends its reader's data (ERROR_BROKEN_PIPE). */
struct user {
    HANDLE h;
    atomic_int phase; /* odd: the user thread is done with a step; even: its next step */
    BOOL ok;
    DWORD err;
};

static void user_wait(struct user *u, int phase) {
    while (atomic_load(&u->phase) != phase) sleep_ms(1);
}

/* Step 0: 100 one-byte messages; 2: one more after the close; 4: one after the value was
 * reused; 6: leave. */
static void *cached_user(void *p) {
    struct user *u = p;
    DWORD n = 0;
    u->ok = TRUE;
    for (int i = 0; i < 100 && u->ok; i++) u->ok = WriteFile(u->h, "m", 1, &n, NULL);
    u->err = GetLastError();
    atomic_store(&u->phase, 1);
    user_wait(u, 2);
    u->ok = WriteFile(u->h, "after", 5, &n, NULL);
    u->err = GetLastError();
    atomic_store(&u->phase, 3);
    user_wait(u, 4);
    u->ok = WriteFile(u->h, "reused", 6, &n, NULL);
    u->err = GetLastError();
    atomic_store(&u->phase, 5);
    user_wait(u, 6);
    return NULL;
}

/* Waits up to 10 s for the user thread to finish a step. */
static int user_done(struct user *u, int phase) {
    double end = now_s() + 10;
    while (atomic_load(&u->phase) != phase) {
        if (now_s() > end) return 0;
        sleep_ms(1);
    }
    return 1;
}

/* The client process of close_cached: reads the 100 messages, then wants ERROR_BROKEN_PIPE. */
static int role_cache_peer(const char *name) {
    role_name = "cache_peer";
    HANDLE c = INVALID_HANDLE_VALUE;
    for (int i = 0; i < 200 && c == INVALID_HANDLE_VALUE; i++) {
        c = open_client(name);
        if (c == INVALID_HANDLE_VALUE) sleep_ms(25);
    }
    if (c == INVALID_HANDLE_VALUE) {
        EXPECT(0, "open %s: err %u", name, (unsigned)GetLastError());
        return role_failures;
    }
    /* The client reads in byte mode: the messages' bytes arrive in any grouping. */
    char buf[128];
    DWORD n = 0;
    int got = 0, bad = 0;
    while (got < 100 && ReadFile(c, buf, sizeof buf, &n, NULL) && n > 0) {
        for (DWORD i = 0; i < n; i++) bad += buf[i] != 'm';
        got += (int)n;
    }
    EXPECT(got == 100 && bad == 0, "read %d of the 100 bytes, %d wrong (last err %u)", got, bad,
           (unsigned)GetLastError());
    BOOL ok = ReadFile(c, buf, sizeof buf, &n, NULL);
    EXPECT(!ok && GetLastError() == ERROR_BROKEN_PIPE,
           "ReadFile after the server's handle was closed -> %d, err %u; want FALSE, "
           "ERROR_BROKEN_PIPE",
           ok, (unsigned)GetLastError());
    return role_failures;
}

static int role_close_cached(const char *tag) {
    role_name = "close_cached";
    char name[128], name2[128];
    snprintf(name, sizeof name, "\\\\.\\pipe\\npipe-hard-cached-%s", tag);
    snprintf(name2, sizeof name2, "\\\\.\\pipe\\npipe-hard-cached2-%s", tag);
    DWORD msg = PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE;
    HANDLE s = make_server(name, msg);
    if (s == INVALID_HANDLE_VALUE) {
        EXPECT(0, "setup: err %u", (unsigned)GetLastError());
        return role_failures;
    }
    pid_t peer = spawn_role("cache_peer", name);
    BOOL connected = ConnectNamedPipe(s, NULL) || GetLastError() == ERROR_PIPE_CONNECTED;
    EXPECT(connected, "ConnectNamedPipe: err %u", (unsigned)GetLastError());
    static struct user u;
    u.h = s;
    atomic_store(&u.phase, 0);
    pthread_t t;
    pthread_create(&t, NULL, cached_user, &u);
    pthread_detach(t);
    if (!user_done(&u, 1)) {
        EXPECT(0, "the 100 writes did not finish within 10 s");
        return role_failures;
    }
    EXPECT(u.ok, "a write of the 100 failed: err %u", (unsigned)u.err);
    EXPECT(CloseHandle(s), "CloseHandle(server) failed: err %u", (unsigned)GetLastError());
    atomic_store(&u.phase, 2);
    if (user_done(&u, 3))
        EXPECT(!u.ok && u.err == ERROR_INVALID_HANDLE,
               "WriteFile with the closed value on the thread that used it -> %d, err %u; want "
               "FALSE, ERROR_INVALID_HANDLE",
               u.ok, (unsigned)u.err);
    else
        EXPECT(0, "WriteFile with the closed value did not return within 10 s");
    /* The user thread is alive and does not call: the client must see the close regardless. */
    int r = wait_role(peer, "cache_peer", 20);
    EXPECT(r == 0, "the client process did not see the close (role: %d)", r);

    HANDLE s2 = make_server(name2, msg);
    HANDLE c2 = open_client(name2);
    EXPECT(s2 == s, "setup: the next handle should reuse the closed value %p (got %p)", s, s2);
    atomic_store(&u.phase, 4);
    if (user_done(&u, 5)) {
        EXPECT(u.ok, "WriteFile with the reused value -> FALSE, err %u; want the new pipe",
               (unsigned)u.err);
        char buf[16] = {0};
        DWORD n = 0;
        BOOL ok = ReadFile(c2, buf, sizeof buf, &n, NULL);
        EXPECT(ok && n == 6 && memcmp(buf, "reused", 6) == 0,
               "the new pipe's client read %d, %u bytes, err %u; want \"reused\"", ok,
               (unsigned)n, (unsigned)GetLastError());
    } else {
        EXPECT(0, "WriteFile with the reused value did not return within 10 s");
    }
    atomic_store(&u.phase, 6);
    CloseHandle(c2);
    CloseHandle(s2);

    /* An anonymous pipe's write end, used by a thread that then lives on without calling,
     * and closed by another. */
    HANDLE rd, wr;
    if (!CreatePipe(&rd, &wr, NULL, 0)) {
        EXPECT(0, "CreatePipe: err %u", (unsigned)GetLastError());
        return role_failures;
    }
    static struct user a;
    a.h = wr;
    atomic_store(&a.phase, 0);
    pthread_create(&t, NULL, cached_user, &a);
    pthread_detach(t);
    if (!user_done(&a, 1) || !a.ok) {
        EXPECT(0, "100 writes to the anonymous pipe: done %d, err %u", atomic_load(&a.phase),
               (unsigned)a.err);
        return role_failures;
    }
    EXPECT(CloseHandle(wr), "CloseHandle(write end): err %u", (unsigned)GetLastError());
    char b[128];
    DWORD got = 0, n = 0;
    while (got < 100 && ReadFile(rd, b, sizeof b, &n, NULL)) got += n;
    EXPECT(got == 100, "read %u of the 100 bytes (err %u)", (unsigned)got,
           (unsigned)GetLastError());
    static struct op rest;
    pthread_t tr;
    start_op(&rest, &tr, rd, OP_READ);
    if (op_done_within(&rest, 5))
        EXPECT(!rest.ok && rest.err == ERROR_BROKEN_PIPE,
               "ReadFile after the write end closed -> %d, err %u; want FALSE, "
               "ERROR_BROKEN_PIPE",
               rest.ok, (unsigned)rest.err);
    else
        EXPECT(0, "ReadFile still blocked 5 s after the only write end was closed");
    for (int p = 2; p <= 6; p += 2) {
        atomic_store(&a.phase, p);
        if (p < 6 && !user_done(&a, p + 1)) break;
    }
    return role_failures;
}

/* ---- 11g: calls racing CloseHandle on the same values --------------------------------------
 * Three threads call ReadFile, WriteFile and PeekNamedPipe (PIPE_NOWAIT: none of them waits)
 * on server handles that a fourth thread keeps closing and replacing, so the values are reused
 * all the time. Every call must succeed or fail with an error a closed, reused or unconnected
 * handle gives (the values stored may name a new server not yet connected, or a client); none
 * may crash or fail otherwise (a lookup that used a released entry does). */
#define RACE_PAIRS 8
static atomic_uintptr_t race_srv[RACE_PAIRS];
static atomic_int race_stop;
static atomic_long race_calls, race_bad;

static void *race_user(void *p) {
    unsigned seed = (unsigned)(uintptr_t)p;
    char buf[64];
    DWORD n = 0, avail = 0;
    while (!atomic_load(&race_stop)) {
        HANDLE h = (HANDLE)atomic_load(&race_srv[rand_r(&seed) % RACE_PAIRS]);
        BOOL ok;
        switch (rand_r(&seed) % 3) {
        case 0: ok = ReadFile(h, buf, sizeof buf, &n, NULL); break;
        case 1: ok = WriteFile(h, "race", 4, &n, NULL); break;
        default: ok = PeekNamedPipe(h, buf, sizeof buf, &n, &avail, NULL); break;
        }
        DWORD e = GetLastError();
        if (!ok && e != ERROR_INVALID_HANDLE && e != ERROR_NO_DATA && e != ERROR_BROKEN_PIPE &&
            e != ERROR_PIPE_LISTENING && e != ERROR_PIPE_NOT_CONNECTED &&
            e != ERROR_OPERATION_ABORTED && e != ERROR_MORE_DATA &&
            /* PeekNamedPipe on a listening or disconnected server (W45). */
            e != ERROR_BAD_PIPE) {
            if (atomic_fetch_add(&race_bad, 1) < 5) printf("  unexpected error %u\n", (unsigned)e);
        }
        atomic_fetch_add(&race_calls, 1);
    }
    return NULL;
}

static int role_close_race_cached(const char *tag) {
    role_name = "close_race_cached";
    char name[128];
    HANDLE cli[RACE_PAIRS];
    DWORD mode = PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_NOWAIT;
    for (int i = 0; i < RACE_PAIRS; i++) {
        snprintf(name, sizeof name, "\\\\.\\pipe\\npipe-hard-race-%s-%d", tag, i);
        HANDLE s = make_server(name, mode);
        cli[i] = open_client(name);
        if (s == INVALID_HANDLE_VALUE || cli[i] == INVALID_HANDLE_VALUE) {
            EXPECT(0, "setup %d: err %u", i, (unsigned)GetLastError());
            return role_failures;
        }
        atomic_store(&race_srv[i], (uintptr_t)s);
    }
    pthread_t users[3];
    for (int i = 0; i < 3; i++) pthread_create(&users[i], NULL, race_user, (void *)(uintptr_t)(i + 1));
    double end = now_s() + 2.0;
    unsigned seed = 7;
    int replaced = 0;
    while (now_s() < end) {
        int i = rand_r(&seed) % RACE_PAIRS;
        HANDLE old = (HANDLE)atomic_load(&race_srv[i]);
        EXPECT(CloseHandle(old), "CloseHandle(server %d): err %u", i, (unsigned)GetLastError());
        CloseHandle(cli[i]);
        snprintf(name, sizeof name, "\\\\.\\pipe\\npipe-hard-race-%s-%d", tag, i);
        HANDLE s = make_server(name, mode);
        cli[i] = open_client(name);
        if (s == INVALID_HANDLE_VALUE || cli[i] == INVALID_HANDLE_VALUE) {
            EXPECT(0, "replace %d: err %u", i, (unsigned)GetLastError());
            break;
        }
        atomic_store(&race_srv[i], (uintptr_t)s);
        replaced++;
    }
    atomic_store(&race_stop, 1);
    /* A value may name a client by now, and a client waits in ReadFile: closing every handle
     * ends any call still waiting. */
    for (int i = 0; i < RACE_PAIRS; i++) {
        CloseHandle((HANDLE)atomic_load(&race_srv[i]));
        CloseHandle(cli[i]);
    }
    for (int i = 0; i < 3; i++) pthread_join(users[i], NULL);
    printf("  close race: %d handles replaced under %ld calls\n", replaced, atomic_load(&race_calls));
    EXPECT(replaced > 100, "only %d replacements in 2 s", replaced);
    EXPECT(atomic_load(&race_bad) == 0, "%ld calls failed with an unexpected error",
           atomic_load(&race_bad));
    return role_failures;
}

/* ---- 11h: CloseHandle lets go of the end's descriptors before it returns -------------------
 * Once CloseHandle of a pipe end's last handle returns, the descriptors behind it are closed, as
 * they were before lookups were cached: the end's readiness descriptor leaves a caller's epoll
 * set at once (a level-triggered set that still held it would report a handle the program has
 * closed and perhaps freed the state of), and a program that connects and closes in a loop
 * never holds more descriptors than its open handles need, even while another thread is blocked
 * in a call on an entry one of whose handles was closed (DuplicateHandle) - the releaser then
 * looks only every 100 ms. */
static HANDLE pinned_srv;

static void *pinned_reader(void *p) {
    char buf[16];
    DWORD n = 0;
    (void)p;
    while (ReadFile(pinned_srv, buf, sizeof buf, &n, NULL)) {
    }
    return NULL;
}

static int open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory's own */
}

static int role_close_releases(const char *tag) {
    role_name = "close_releases";
    char name[128], pin_name[128];
    snprintf(name, sizeof name, "\\\\.\\pipe\\npipe-hard-release-%s", tag);
    snprintf(pin_name, sizeof pin_name, "\\\\.\\pipe\\npipe-hard-pin-%s", tag);
    DWORD msg = PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, n = 0;
    char buf[16];
    int ep = epoll_create1(EPOLL_CLOEXEC);
    /* One exchange first, so what the library makes once per process exists. */
    HANDLE s = make_server(name, msg), c = open_client(name);
    if (s == INVALID_HANDLE_VALUE || c == INVALID_HANDLE_VALUE || ep < 0) {
        EXPECT(0, "setup: err %u", (unsigned)GetLastError());
        return role_failures;
    }
    WriteFile(c, "warm", 4, &n, NULL);
    ReadFile(s, buf, sizeof buf, &n, NULL);
    CloseHandle(c);
    CloseHandle(s);
    sleep_ms(50);

    int before = open_fds();
    s = make_server(name, msg);
    c = open_client(name);
    WriteFile(c, "x", 1, &n, NULL);
    ReadFile(s, buf, sizeof buf, &n, NULL);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 11};
    EXPECT(epoll_ctl(ep, EPOLL_CTL_ADD, npipe_ready_fd(s), &ev) == 0, "epoll takes the ready fd");
    EXPECT(npipe_arm(s, NPIPE_READY_READ), "npipe_arm: err %u", (unsigned)GetLastError());
    CloseHandle(c); /* the hang-up makes the server's descriptor readable */
    struct epoll_event out[4];
    EXPECT(epoll_wait(ep, out, 4, 2000) == 1, "the client's close did not make the server ready");
    CloseHandle(s);
    int k = epoll_wait(ep, out, 4, 0);
    EXPECT(k == 0,
           "epoll reports the ready fd of a handle closed before (%d events): the descriptor "
           "outlived CloseHandle",
           k);
    int after = open_fds();
    EXPECT(after == before, "%d descriptors open before the pair was made, %d right after both "
           "CloseHandle calls returned", before, after);

    /* The server end closed first, its client still open: the client holds the end's eventfd
     * (it signals the end through it), and a close signals it, but what npipe_ready_fd gave is
     * the server process's own descriptor, so it still leaves the set at once. */
    s = make_server(name, msg);
    c = open_client(name);
    WriteFile(c, "y", 1, &n, NULL);
    ReadFile(s, buf, sizeof buf, &n, NULL);
    ev.data.u64 = 12;
    EXPECT(epoll_ctl(ep, EPOLL_CTL_ADD, npipe_ready_fd(s), &ev) == 0, "epoll takes the ready fd");
    EXPECT(npipe_arm(s, NPIPE_READY_READ), "npipe_arm: err %u", (unsigned)GetLastError());
    CloseHandle(s);
    k = epoll_wait(ep, out, 4, 0);
    EXPECT(k == 0, "epoll reports the ready fd of a server end closed before its client (%d "
           "events)", k);
    WriteFile(c, "z", 1, &n, NULL); /* the client goes on: nothing may reach the closed end */
    CloseHandle(c);
    k = epoll_wait(ep, out, 4, 50);
    EXPECT(k == 0, "epoll reports the ready fd of a server end after its client closed too (%d "
           "events)", k);

    /* A reader blocked in a call on an entry one of whose handles is closed. */
    pinned_srv = make_server(pin_name, msg);
    HANDLE pc = open_client(pin_name);
    WriteFile(pc, "a", 1, &n, NULL);
    pthread_t t;
    pthread_create(&t, NULL, pinned_reader, NULL);
    pthread_detach(t);
    sleep_ms(50); /* it read "a" and waits in its next ReadFile */
    HANDLE dup = NULL;
    EXPECT(DuplicateHandle(GetCurrentProcess(), pinned_srv, GetCurrentProcess(), &dup, 0, FALSE,
                           DUPLICATE_SAME_ACCESS),
           "DuplicateHandle: err %u", (unsigned)GetLastError());
    CloseHandle(dup);
    sleep_ms(400);
    int base = open_fds();
    struct rlimit rl = {(rlim_t)base + 30, (rlim_t)base + 30};
    EXPECT(setrlimit(RLIMIT_NOFILE, &rl) == 0, "setrlimit");
    int fails = 0, peak = base;
    for (int i = 0; i < 2000; i++) {
        s = make_server(name, msg);
        c = open_client(name);
        if (s == INVALID_HANDLE_VALUE || c == INVALID_HANDLE_VALUE) {
            if (fails++ < 3) printf("  cycle %d: err %u\n", i, (unsigned)GetLastError());
        } else {
            WriteFile(c, "x", 1, &n, NULL);
            ReadFile(s, buf, sizeof buf, &n, NULL);
        }
        if (c != INVALID_HANDLE_VALUE) CloseHandle(c);
        if (s != INVALID_HANDLE_VALUE) CloseHandle(s);
        int now = open_fds();
        if (now > peak) peak = now;
    }
    EXPECT(fails == 0 && peak <= base + 1,
           "2000 connect-and-close cycles under RLIMIT_NOFILE %d (%d open before): %d failed, "
           "up to %d descriptors open at once",
           base + 30, base, fails, peak);
    return role_failures;
}

/* ---- 11i: a forked child closes a handle a thread of its parent was using ------------------
 * fork() copies every thread's state but runs only the thread that called it. A thread of the
 * parent waits in a ReadFile on the server end (a cached lookup) when the main thread forks;
 * the child closes both ends. The child has no thread inside a call, so the server entry must
 * go at once there, its readiness descriptor with it, and nothing may keep looking at it. */
static int role_fork_cached(const char *tag) {
    role_name = "fork_cached";
    char name[128];
    snprintf(name, sizeof name, "\\\\.\\pipe\\npipe-hard-forkcached-%s", tag);
    DWORD msg = PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, n = 0;
    pinned_srv = make_server(name, msg);
    HANDLE c = open_client(name);
    if (pinned_srv == INVALID_HANDLE_VALUE || c == INVALID_HANDLE_VALUE) {
        EXPECT(0, "setup: err %u", (unsigned)GetLastError());
        return role_failures;
    }
    int rfd = npipe_ready_fd(pinned_srv);
    EXPECT(rfd >= 0, "npipe_ready_fd: err %u", (unsigned)GetLastError());
    WriteFile(c, "a", 1, &n, NULL);
    pthread_t t;
    pthread_create(&t, NULL, pinned_reader, NULL);
    pthread_detach(t);
    sleep_ms(50); /* it read "a" and waits in its next ReadFile */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        CloseHandle(c);
        CloseHandle(pinned_srv);
        int bad = 0;
        if (fcntl(rfd, F_GETFD) != -1) {
            printf("  FAIL [fork_cached] the server's readiness descriptor is still open in the "
                   "child after CloseHandle\n");
            bad++;
        }
        fflush(stdout);
        _exit(bad);
    }
    int st = 0;
    double end = now_s() + 10;
    while (waitpid(pid, &st, WNOHANG) != pid) {
        if (now_s() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            break;
        }
        sleep_ms(5);
    }
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the forked child failed (status %d)", st);
    CloseHandle(c);
    CloseHandle(pinned_srv);
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
        else if (strcmp(argv[1], "close_cached") == 0) r = role_close_cached(argv[2]);
        else if (strcmp(argv[1], "cache_peer") == 0) r = role_cache_peer(argv[2]);
        else if (strcmp(argv[1], "close_race_cached") == 0) r = role_close_race_cached(argv[2]);
        else if (strcmp(argv[1], "close_releases") == 0) r = role_close_releases(argv[2]);
        else if (strcmp(argv[1], "fork_cached") == 0) r = role_fork_cached(argv[2]);
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
    r = run_role("close_cached", tag, 60);
    CHECK(r == 0, "11f: CloseHandle must take effect at once for a thread that used the handle lately (role: %d)", r);
    r = run_role("close_race_cached", tag, 60);
    CHECK(r == 0, "11g: calls racing CloseHandle on reused values must never crash (role: %d)", r);
    r = run_role("close_releases", tag, 60);
    CHECK(r == 0, "11h: CloseHandle must close the end's descriptors before it returns (role: %d)", r);
    r = run_role("fork_cached", tag, 30);
    CHECK(r == 0, "11i: a forked child's CloseHandle must not wait for its parent's threads (role: %d)", r);
    r = run_role("fork_storm", "200", 600);
    CHECK(r == 0, "8: fork() while threads use the library must never hang the child (role: %d)", r);

    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
