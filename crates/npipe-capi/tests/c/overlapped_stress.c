/* Adversarial checks of npipe's overlapped C ABI (ReadFile/WriteFile/ConnectNamedPipe/
 * TransactNamedPipe with an OVERLAPPED, ReadFileEx/WriteFileEx, GetOverlappedResult(Ex),
 * CancelIo(Ex), CloseHandle with I/O pending), compiled against <npipe/win32.h> and libnpipe by
 * tests/overlapped_stress.rs.
 *
 * Each test runs in a process of its own (forked from the runner before it touches the library),
 * in its own process group, with a deadline: a test that hangs is reported with the step it was
 * in ("HANG [test] at: ...") and killed with every helper it started; a crash is reported with
 * its signal. Helpers are this program run again ("--role NAME args"): they are the peer process
 * where one matters (killed with SIGKILL in the middle of I/O, exiting with I/O pending, ...).
 * Every CHECK names the Windows fact it holds the library to (W-numbers of
 * docs/WINDOWS-BEHAVIOUR.md). The program prints "N passed, M failed" and exits non-zero on failure.
 *
 * Checks of bugs known today are compiled only with -DNPIPE_KNOWN_BUGS; the default build runs
 * only checks that pass. Found by this suite and fixed since (their checks now run by default):
 * GetOverlappedResult after CloseHandle or with a closed hEvent; a client connecting during an
 * overlapped ConnectNamedPipe (pending forever, or TRUE); a cancelled write delivered anyway
 * (the withdrawal gave up on the lock the engine held); a DATA CORRUPTION when a streaming
 * write was cancelled under a reader (the withdrawal slot reused before the reader saw it);
 * torn messages from a writer killed mid-stream; writes completing out of issue order; cancelled
 * reads returning part of a message; named events in a forked child; a cancel racing the
 * reader's final consume of the message reported ERROR_OPERATION_ABORTED although the message
 * was delivered (about 1 in 3,000 cancels of cancel_write_storm, W98). No check is guarded
 * today.
 *
 * NPIPE_STRESS_ONLY=name[,name...] runs only those tests; NPIPE_STRESS_BENCH=0 skips the
 * round-trip benchmark (it only prints numbers). */
#include <npipe/win32.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------------ */
/* Framework */

struct shared {
    volatile int passed, failed;
    char test[64];
    char step[256];
};
static struct shared local_shared;
static struct shared *SH = &local_shared;
static const char *ROLE = NULL; /* set in helper processes */

static void check_(int ok, int line, const char *fmt, ...) {
    if (ok) {
        __sync_fetch_and_add(&SH->passed, 1);
        return;
    }
    DWORD err = GetLastError();
    __sync_fetch_and_add(&SH->failed, 1);
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    printf("FAIL [%s%s%s] line %d: %s (last error %u)\n", ROLE ? "role " : "", ROLE ? ROLE : SH->test,
           "", line, msg, (unsigned)err);
    fflush(stdout);
}
#define CHECK(cond, ...) check_(!!(cond), __LINE__, __VA_ARGS__)
#define STEP(...) snprintf(SH->step, sizeof SH->step, __VA_ARGS__)
#define NOTE(...) (printf("  note [%s] ", ROLE ? ROLE : SH->test), printf(__VA_ARGS__), printf("\n"))

/* A known library bug: the checks that show it are compiled only with -DNPIPE_KNOWN_BUGS. */
#ifdef NPIPE_KNOWN_BUGS
#define KNOWN_BUGS 1
#else
#define KNOWN_BUGS 0
#endif

static void msleep(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void usleep_(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static uint32_t rng_state = 12345;
static uint32_t rnd(void) {
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return rng_state = x;
}
__attribute__((unused)) static uint32_t rnd_range(uint32_t lo, uint32_t hi) { return lo + rnd() % (hi - lo + 1); }

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        printf("out of memory (%zu)\n", n);
        _exit(99);
    }
    return p;
}

/* ------------------------------------------------------------------------------------------ */
/* Messages that verify themselves: a 16-byte header (magic, stream, seq, total length) and a
 * payload drawn from a generator seeded by (stream, seq), so a receiver checks every byte. */

#define MAGIC 0x4E504956u
#define HDR 16u

static uint32_t mix(uint32_t a, uint32_t b) {
    uint32_t x = a * 0x9E3779B1u ^ (b + 0x7F4A7C15u) * 0x85EBCA77u;
    x ^= x >> 15;
    x *= 0x2C1B3C6Du;
    x ^= x >> 12;
    x *= 0x297A2D39u;
    x ^= x >> 15;
    return x ? x : 1;
}

static void gen(uint8_t *b, uint32_t len, uint32_t stream, uint32_t seq) {
    uint32_t x = mix(stream, seq);
    uint32_t i = 0;
    for (; i + 4 <= len; i += 4) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        memcpy(b + i, &x, 4);
    }
    if (i < len) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        memcpy(b + i, &x, len - i);
    }
    if (len >= HDR) {
        uint32_t h[4] = {MAGIC, stream, seq, len};
        memcpy(b, h, HDR);
    }
}

/* 0 when `b` (n bytes) is a whole, intact message; its stream and seq are stored. */
static int verify(const uint8_t *b, uint32_t n, uint32_t *stream, uint32_t *seq) {
    uint32_t h[4];
    if (n < HDR) return -1;
    memcpy(h, b, HDR);
    if (h[0] != MAGIC) return -2;
    if (h[3] != n) return -3;
    *stream = h[1];
    *seq = h[2];
    uint32_t x = mix(h[1], h[2]);
    uint32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        if (i >= HDR && memcmp(b + i, &x, 4) != 0) return -4;
    }
    if (i < n) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        if (memcmp(b + i, &x, n - i) != 0) return -4;
    }
    return 0;
}

/* The byte at position p of byte stream `s`. */
static uint8_t stream_byte(uint32_t s, uint64_t p) { return (uint8_t)(mix(s, (uint32_t)(p >> 2)) >> (8 * (p & 3))); }
__attribute__((unused)) static void stream_fill(uint8_t *b, uint32_t n, uint32_t s, uint64_t at) {
    for (uint32_t i = 0; i < n; i++) b[i] = stream_byte(s, at + i);
}
__attribute__((unused)) static int64_t stream_check(const uint8_t *b, uint32_t n, uint32_t s, uint64_t at) {
    for (uint32_t i = 0; i < n; i++)
        if (b[i] != stream_byte(s, at + i)) return (int64_t)i;
    return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Pipes */

#define STATUS_CANCELLED_ 0xC0000120u
#define STATUS_PIPE_BROKEN_ 0xC000014Bu
#define STATUS_BUFFER_OVERFLOW_ 0x80000005u
#define STATUS_PIPE_BROKEN_ 0xC000014Bu

static const char *pname(const char *tag) {
    static int n;
    char *s = xmalloc(160);
    snprintf(s, 160, "\\\\.\\pipe\\adv-%d-%s-%d", (int)getpid(), tag, __sync_fetch_and_add(&n, 1));
    return s;
}

static HANDLE mkserver(const char *name, DWORD flags, DWORD mode, DWORD max, DWORD out, DWORD in) {
    return CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX | flags, mode, max, out, in, 0, NULL);
}

static HANDLE mkclient(const char *name, DWORD flags) {
    for (int i = 0; i < 2000; i++) {
        HANDLE h = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, flags, NULL);
        if (h != INVALID_HANDLE_VALUE) return h;
        DWORD e = GetLastError();
        if (e == ERROR_PIPE_BUSY)
            WaitNamedPipeA(name, 50);
        else
            msleep(5);
    }
    return INVALID_HANDLE_VALUE;
}

static void set_msg_mode(HANDLE h) {
    DWORD m = PIPE_READMODE_MESSAGE;
    SetNamedPipeHandleState(h, &m, NULL, NULL);
}

static HANDLE mkev(void) { return CreateEventA(NULL, TRUE, FALSE, NULL); }

static void ov_init(OVERLAPPED *ov, HANDLE ev) {
    memset(ov, 0, sizeof *ov);
    ov->hEvent = ev;
}

/* A connected pair in this process. `mode`: PIPE_TYPE_* | PIPE_READMODE_* of the server (the
 * client gets the same read mode); `quota`: both buffer sizes. */
static void mkpair(const char *tag, DWORD mode, DWORD quota, DWORD sflags, DWORD cflags, HANDLE *s, HANDLE *c) {
    const char *name = pname(tag);
    *s = mkserver(name, sflags, mode, 1, quota, quota);
    *c = mkclient(name, cflags);
    if (*s == INVALID_HANDLE_VALUE || *c == INVALID_HANDLE_VALUE) {
        printf("FAIL [%s] cannot make a pipe pair %s (%u)\n", SH->test, name, (unsigned)GetLastError());
        __sync_fetch_and_add(&SH->failed, 1);
        _exit(3);
    }
    if (mode & PIPE_READMODE_MESSAGE) set_msg_mode(*c);
    OVERLAPPED ov;
    ov_init(&ov, mkev());
    BOOL r = ConnectNamedPipe(*s, (sflags & FILE_FLAG_OVERLAPPED) ? &ov : NULL);
    if (!r && GetLastError() != ERROR_PIPE_CONNECTED) {
        printf("FAIL [%s] connect of the pair: %u\n", SH->test, (unsigned)GetLastError());
        __sync_fetch_and_add(&SH->failed, 1);
    }
    CloseHandle(ov.hEvent);
}

/* GetOverlappedResultEx with a bounded wait; *err = 0 on success, else the error
 * (WAIT_TIMEOUT (258) when the operation did not complete in `ms`). */
static BOOL ovres(HANDLE h, OVERLAPPED *ov, DWORD *n, DWORD ms, DWORD *err) {
    *n = 0xDEAD;
    SetLastError(0);
    BOOL r = GetOverlappedResultEx(h, ov, n, ms, FALSE);
    *err = r ? 0 : GetLastError();
    return r;
}

/* Waits until the operation of `ov` is no longer pending (Internal), at most `ms`. */
static int wait_done(OVERLAPPED *ov, int ms) {
    double end = now_s() + ms / 1000.0;
    while (!HasOverlappedIoCompleted(ov)) {
        if (now_s() > end) return 0;
        usleep_(200);
    }
    return 1;
}

static int ev_set(HANDLE ev) { return WaitForSingleObject(ev, 0) == WAIT_OBJECT_0; }

/* Full-duplex sync helpers */
static int write_all_sync(HANDLE h, const void *b, DWORD n) {
    DWORD w = 0;
    return WriteFile(h, b, n, &w, NULL) && w == n;
}

/* ------------------------------------------------------------------------------------------ */
/* Helper processes: this program again, "--role NAME args...". */

static char *SELF_EXE;

__attribute__((unused)) static pid_t spawn_role(const char *role, ...) {
    char *argv[16];
    int k = 0;
    argv[k++] = SELF_EXE;
    argv[k++] = "--role";
    argv[k++] = (char *)role;
    va_list ap;
    va_start(ap, role);
    char *a;
    while ((a = va_arg(ap, char *)) != NULL && k < 15) argv[k++] = a;
    va_end(ap);
    argv[k] = NULL;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    return pid;
}

/* Waits for a child at most `ms`: its exit code, 128+signal, or -1 (timed out; it is killed). */
__attribute__((unused)) static int wait_child(pid_t pid, int ms) {
    double end = now_s() + ms / 1000.0;
    int st = 0;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) break;
        if (r < 0) return -2;
        if (now_s() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        usleep_(2000);
    }
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return -3;
}

__attribute__((unused)) static char *fmt_u(unsigned v) {
    char *s = xmalloc(24);
    snprintf(s, 24, "%u", v);
    return s;
}

/* ------------------------------------------------------------------------------------------ */
/* Completion routines */

struct cr {
    OVERLAPPED ov; /* first: the routine gets &ov */
    volatile int ran;
    DWORD err, n, tid;
    int order;
};
static volatile int cr_order;
static volatile int cr_depth, cr_max_depth;
static VOID WINAPI cr_done(DWORD err, DWORD n, LPOVERLAPPED ov) {
    struct cr *c = (struct cr *)ov;
    int d = __sync_add_and_fetch(&cr_depth, 1);
    if (d > cr_max_depth) cr_max_depth = d;
    c->ran++;
    c->err = err;
    c->n = n;
    c->tid = GetCurrentThreadId();
    c->order = cr_order++;
    __sync_sub_and_fetch(&cr_depth, 1);
}

/* ------------------------------------------------------------------------------------------ */
/* Bad arguments and odd OVERLAPPEDs */

static void t_badargs(void) {
    HANDLE s, c;
    DWORD n = 0, err = 0;
    char buf[64];
    mkpair("bad", PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 4096, FILE_FLAG_OVERLAPPED, FILE_FLAG_OVERLAPPED, &s, &c);
    HANDLE ev = mkev();
    OVERLAPPED ov;
    struct cr cr;

    STEP("NULL buffers");
    ov_init(&ov, ev);
    CHECK(!ReadFile(s, NULL, 10, &n, &ov) && GetLastError() == ERROR_NOACCESS, "ReadFile(NULL, 10) overlapped: ERROR_NOACCESS");
    CHECK(!WriteFile(c, NULL, 10, &n, &ov) && GetLastError() == ERROR_NOACCESS, "WriteFile(NULL, 10) overlapped: ERROR_NOACCESS");
    memset(&cr, 0, sizeof cr);
    CHECK(!ReadFileEx(s, NULL, 10, &cr.ov, cr_done) && GetLastError() == ERROR_NOACCESS, "ReadFileEx(NULL, 10): ERROR_NOACCESS");
    CHECK(!WriteFileEx(c, NULL, 10, &cr.ov, cr_done) && GetLastError() == ERROR_NOACCESS, "WriteFileEx(NULL, 10): ERROR_NOACCESS");
    CHECK(!TransactNamedPipe(c, NULL, 4, buf, sizeof buf, &n, &ov) && GetLastError() == ERROR_NOACCESS, "TransactNamedPipe(NULL request): ERROR_NOACCESS");
    CHECK(!TransactNamedPipe(c, "abcd", 4, NULL, 10, &n, &ov) && GetLastError() == ERROR_NOACCESS, "TransactNamedPipe(NULL reply): ERROR_NOACCESS");
    SleepEx(0, TRUE);
    CHECK(cr.ran == 0, "no completion routine for a call that failed at once (W101)");
    DWORD avail = 99;
    CHECK(PeekNamedPipe(s, NULL, 0, NULL, &avail, NULL) && avail == 0, "nothing was written by the failed calls (avail %u)", (unsigned)avail);
    /* A zero-size NULL buffer is fine: a 0-byte read of an empty pipe stays pending (W78). */
    ov_init(&ov, ev);
    CHECK(!ReadFile(s, NULL, 0, &n, &ov) && GetLastError() == ERROR_IO_PENDING, "ReadFile(NULL, 0) overlapped: pending (W78)");
    CHECK(CancelIoEx(s, &ov), "cancel it");
    CHECK(!ovres(s, &ov, &n, 2000, &err) && err == ERROR_OPERATION_ABORTED, "cancelled 0-byte read: ERROR_OPERATION_ABORTED (err %u)", (unsigned)err);

    STEP("NULL OVERLAPPED to the Ex calls");
    CHECK(!ReadFileEx(s, buf, sizeof buf, NULL, cr_done) && GetLastError() == ERROR_INVALID_PARAMETER, "ReadFileEx(NULL OVERLAPPED): ERROR_INVALID_PARAMETER");
    CHECK(!WriteFileEx(c, "x", 1, NULL, cr_done) && GetLastError() == ERROR_INVALID_PARAMETER, "WriteFileEx(NULL OVERLAPPED): ERROR_INVALID_PARAMETER");

    STEP("hEvent that is not an event");
    CHECK(write_all_sync(c, "hello", 5), "write hello");
    ov_init(&ov, c); /* a pipe handle */
    CHECK(!ReadFile(s, buf, sizeof buf, &n, &ov) && GetLastError() == ERROR_INVALID_HANDLE, "hEvent = a pipe handle: ERROR_INVALID_HANDLE (STATUS_OBJECT_TYPE_MISMATCH)");
    ov_init(&ov, (HANDLE)(uintptr_t)0x7ff0);
    CHECK(!ReadFile(s, buf, sizeof buf, &n, &ov) && GetLastError() == ERROR_INVALID_HANDLE, "hEvent = a bogus value: ERROR_INVALID_HANDLE");
    ov_init(&ov, (HANDLE)(uintptr_t)0x7ff0);
    CHECK(!WriteFile(c, "x", 1, &n, &ov) && GetLastError() == ERROR_INVALID_HANDLE, "WriteFile with a bogus hEvent: ERROR_INVALID_HANDLE");
    ov_init(&ov, (HANDLE)(uintptr_t)0x7ff0);
    CHECK(!ConnectNamedPipe(s, &ov) && GetLastError() == ERROR_INVALID_HANDLE, "ConnectNamedPipe with a bogus hEvent: ERROR_INVALID_HANDLE");
    avail = 0;
    CHECK(PeekNamedPipe(s, NULL, 0, NULL, &avail, NULL) && avail == 5, "the failed reads took nothing (avail %u)", (unsigned)avail);

    STEP("hEvent with the low bit set");
    ov_init(&ov, (HANDLE)((uintptr_t)ev | 1));
    SetEvent(ev);
    n = 0;
    CHECK(ReadFile(s, buf, sizeof buf, &n, &ov) && n == 5 && memcmp(buf, "hello", 5) == 0, "read at once with hEvent|1 (W56)");
    CHECK(ev_set(ev), "hEvent|1: the event is signalled on completion (low bit only masks IOCP)");
    ov_init(&ov, (HANDLE)((uintptr_t)ev | 1));
    CHECK(!ReadFile(s, buf, sizeof buf, &n, &ov) && GetLastError() == ERROR_IO_PENDING, "pending read with hEvent|1 (W64)");
    CHECK(!ev_set(ev), "hEvent|1: the event is reset when the read starts (W64)");
    CHECK(write_all_sync(c, "abc", 3), "write abc");
    CHECK(WaitForSingleObject(ev, 5000) == WAIT_OBJECT_0, "hEvent|1: the event is signalled when the pending read completes");
    CHECK(ovres(s, &ov, &n, 2000, &err) && n == 3, "GetOverlappedResult with hEvent|1: TRUE, 3 (n %u err %u)", (unsigned)n, (unsigned)err);

    STEP("OVERLAPPED never issued");
    OVERLAPPED z;
    memset(&z, 0, sizeof z);
    z.InternalHigh = 1234;
    n = 0;
    CHECK(GetOverlappedResult(s, &z, &n, TRUE) && n == 1234, "GetOverlappedResult(bWait) on a zeroed OVERLAPPED: TRUE at once with InternalHigh (%u)", (unsigned)n);
    z.Internal = STATUS_PENDING;
    CHECK(!GetOverlappedResult(s, &z, &n, FALSE) && GetLastError() == ERROR_IO_INCOMPLETE, "Internal = STATUS_PENDING, bWait FALSE: ERROR_IO_INCOMPLETE (W39)");
    CHECK(!GetOverlappedResultEx(s, &z, &n, 30, FALSE) && GetLastError() == WAIT_TIMEOUT, "never-issued pending OVERLAPPED, 30 ms: WAIT_TIMEOUT (W106)");
    z.Internal = STATUS_CANCELLED_;
    z.InternalHigh = 0;
    CHECK(!GetOverlappedResult(s, &z, &n, TRUE) && GetLastError() == ERROR_OPERATION_ABORTED, "Internal = STATUS_CANCELLED: ERROR_OPERATION_ABORTED");
    z.Internal = STATUS_BUFFER_OVERFLOW_;
    z.InternalHigh = 7;
    CHECK(!GetOverlappedResult(s, &z, &n, TRUE) && GetLastError() == ERROR_MORE_DATA && n == 7, "Internal = STATUS_BUFFER_OVERFLOW: ERROR_MORE_DATA with the count (W70)");

    STEP("CancelIoEx with a foreign OVERLAPPED");
    OVERLAPPED pend, foreign;
    HANDLE ev2 = mkev();
    ov_init(&pend, ev2);
    memset(&foreign, 0, sizeof foreign);
    CHECK(!ReadFile(s, buf, sizeof buf, &n, &pend) && GetLastError() == ERROR_IO_PENDING, "a pending read");
    CHECK(!CancelIoEx(s, &foreign) && GetLastError() == ERROR_NOT_FOUND, "CancelIoEx(foreign OVERLAPPED): ERROR_NOT_FOUND (W97)");
    CHECK(!CancelIoEx(c, &pend) && GetLastError() == ERROR_NOT_FOUND, "CancelIoEx on the other end's handle: ERROR_NOT_FOUND");
    CHECK(!HasOverlappedIoCompleted(&pend), "the read is still pending");
    CHECK(CancelIo(c), "CancelIo on a handle with nothing pending: TRUE");
    CHECK(!HasOverlappedIoCompleted(&pend), "still pending after CancelIo of another handle");

    STEP("OVERLAPPED reused while pending");
    CHECK(!ReadFile(s, buf + 32, 16, &n, &pend) && GetLastError() == ERROR_IO_PENDING, "a second read on the same OVERLAPPED (undefined on Windows): no crash");
    CHECK(write_all_sync(c, "one", 3) && write_all_sync(c, "two", 3), "two messages");
    CHECK(WaitForSingleObject(ev2, 5000) == WAIT_OBJECT_0, "the shared event is signalled");
    msleep(50);
    CHECK(HasOverlappedIoCompleted(&pend), "both reads done");
    CHECK(memcmp(buf, "one", 3) == 0 && memcmp(buf + 32, "two", 3) == 0, "each read got its message, in order (W66)");
    CHECK(!CancelIoEx(s, &pend) && GetLastError() == ERROR_NOT_FOUND, "nothing left to cancel (W97)");

    STEP("calls on a closed handle");
    HANDLE s2, c2;
    mkpair("bad2", PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 4096, FILE_FLAG_OVERLAPPED, FILE_FLAG_OVERLAPPED, &s2, &c2);
    CHECK(CloseHandle(s2), "close");
    ov_init(&ov, ev);
    memset(&cr, 0, sizeof cr);
    CHECK(!ReadFile(s2, buf, 8, &n, &ov) && GetLastError() == ERROR_INVALID_HANDLE, "ReadFile on a closed handle: ERROR_INVALID_HANDLE");
    CHECK(!WriteFile(s2, buf, 8, &n, &ov) && GetLastError() == ERROR_INVALID_HANDLE, "WriteFile on a closed handle");
    CHECK(!ReadFileEx(s2, buf, 8, &cr.ov, cr_done) && GetLastError() == ERROR_INVALID_HANDLE, "ReadFileEx on a closed handle");
    CHECK(!WriteFileEx(s2, buf, 8, &cr.ov, cr_done) && GetLastError() == ERROR_INVALID_HANDLE, "WriteFileEx on a closed handle");
    CHECK(!ConnectNamedPipe(s2, &ov) && GetLastError() == ERROR_INVALID_HANDLE, "ConnectNamedPipe on a closed handle");
    CHECK(!TransactNamedPipe(s2, "a", 1, buf, 8, &n, &ov) && GetLastError() == ERROR_INVALID_HANDLE, "TransactNamedPipe on a closed handle");
    CHECK(!CancelIo(s2) && GetLastError() == ERROR_INVALID_HANDLE, "CancelIo on a closed handle");
    CHECK(!CancelIoEx(s2, NULL) && GetLastError() == ERROR_INVALID_HANDLE, "CancelIoEx on a closed handle (W100)");
    CHECK(!DisconnectNamedPipe(s2) && GetLastError() == ERROR_INVALID_HANDLE, "DisconnectNamedPipe on a closed handle");
    CHECK(!ReadFile(INVALID_HANDLE_VALUE, buf, 8, &n, &ov) && GetLastError() == ERROR_INVALID_HANDLE, "ReadFile(INVALID_HANDLE_VALUE)");
    CHECK(!ReadFile(NULL, buf, 8, &n, &ov) && GetLastError() == ERROR_INVALID_HANDLE, "ReadFile(NULL handle)");
    CHECK(!ReadFile(ev, buf, 8, &n, &ov) && GetLastError() == ERROR_INVALID_HANDLE, "ReadFile on an event handle");
    CHECK(!CloseHandle(s2) && GetLastError() == ERROR_INVALID_HANDLE, "closing twice");
    SleepEx(0, TRUE);
    CHECK(cr.ran == 0, "no routine for calls that failed");
    CloseHandle(c2);

    STEP("ReadFileEx on a synchronous handle");
    HANDLE s3, c3;
    mkpair("bad3", PIPE_TYPE_BYTE, 4096, 0, 0, &s3, &c3);
    memset(&cr, 0, sizeof cr);
    CHECK(!ReadFileEx(s3, buf, 8, &cr.ov, cr_done) && GetLastError() == ERROR_INVALID_PARAMETER, "ReadFileEx on a handle without FILE_FLAG_OVERLAPPED: ERROR_INVALID_PARAMETER");
    CloseHandle(s3);
    CloseHandle(c3);
    CloseHandle(s);
    CloseHandle(c);
    CloseHandle(ev);
    CloseHandle(ev2);
}

struct gor_arg {
    HANDLE h;
    OVERLAPPED *ov;
    volatile int done;
    BOOL r;
    DWORD n, err;
};
__attribute__((unused)) static void *gor_thread(void *p) {
    struct gor_arg *a = p;
    a->r = GetOverlappedResult(a->h, a->ov, &a->n, TRUE);
    a->err = a->r ? 0 : GetLastError();
    a->done = 1;
    return NULL;
}

/* Windows' GetOverlappedResult(Ex) reads only the OVERLAPPED once the operation is over: it
 * touches hFile only to wait on it, and only when hEvent is NULL (kernelbase GetOverlappedResultEx;
 * Wine and ReactOS do the same). An operation ended by CloseHandle is collected after the
 * close this way, and an hEvent closed under a wait makes the wait fail instead of hanging. */
static void t_result_after_close(void) {
    HANDLE s, c;
    DWORD n = 0, err = 0;
    char buf[64];
    mkpair("rac", PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 4096, FILE_FLAG_OVERLAPPED, FILE_FLAG_OVERLAPPED, &s, &c);
    HANDLE ev = mkev();
    OVERLAPPED ov;
    ov_init(&ov, ev);
    CHECK(!ReadFile(s, buf, sizeof buf, &n, &ov) && GetLastError() == ERROR_IO_PENDING, "pending read");
    CHECK(CloseHandle(s), "close the handle with the read pending");
    CHECK(ev_set(ev), "the event is signalled by the close (W31)");
    CHECK((DWORD)ov.Internal == STATUS_PIPE_BROKEN_ && ov.InternalHigh == 0, "Internal = STATUS_PIPE_BROKEN, 0 bytes: a close is no cancel (scenario 54) (Internal %#lx)", (unsigned long)ov.Internal);
    /* Fixed (was: GetOverlappedResult looked the handle up first and fails with ERROR_INVALID_HANDLE. */
    BOOL r = ovres(s, &ov, &n, 0, &err);
    CHECK(!r && err == ERROR_BROKEN_PIPE && n == 0, "GetOverlappedResult(closed handle) after the close: ERROR_BROKEN_PIPE, 0 (got %d err %u)", r, (unsigned)err);
    /* Same with a completed (not cancelled) operation: the result is in the OVERLAPPED. */
    HANDLE s2, c2;
    mkpair("rac2", PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 4096, FILE_FLAG_OVERLAPPED, FILE_FLAG_OVERLAPPED, &s2, &c2);
    CHECK(write_all_sync(c2, "abc", 3), "write");
    ov_init(&ov, ev);
    CHECK(ReadFile(s2, buf, sizeof buf, &n, &ov) && n == 3, "read at once");
    CloseHandle(s2);
    r = ovres(s2, &ov, &n, INFINITE, &err);
    CHECK(r && n == 3, "GetOverlappedResult(closed handle, completed read, bWait): TRUE, 3 (got %d n %u err %u)", r, (unsigned)n, (unsigned)err);
    CloseHandle(c2);
    (void)err;
    CloseHandle(c);

    /* hEvent closed while the operation is pending: Windows' wait on the closed event fails
     * (WAIT_FAILED, ERROR_INVALID_HANDLE) instead of waiting. */
    HANDLE s3, c3;
    mkpair("rac3", PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 4096, FILE_FLAG_OVERLAPPED, FILE_FLAG_OVERLAPPED, &s3, &c3);
    HANDLE ev3 = mkev();
    static OVERLAPPED ov3;
    ov_init(&ov3, ev3);
    CHECK(!ReadFile(s3, buf, sizeof buf, &n, &ov3) && GetLastError() == ERROR_IO_PENDING, "pending read");
    CHECK(CloseHandle(ev3), "close its event");
    /* Fixed (was: with its hEvent closed, GetOverlappedResultEx waited on the file handle, which the
     * completion does not signal: a timeout here, and GetOverlappedResult(bWait) never returns
     * even after the read completes. */
    BOOL r3 = ovres(s3, &ov3, &n, 300, &err);
    CHECK(!r3 && err == ERROR_INVALID_HANDLE, "GetOverlappedResultEx(300 ms) on a pending OVERLAPPED whose hEvent was closed: ERROR_INVALID_HANDLE at once (got %d err %u)", r3, (unsigned)err);
    pthread_t th;
    static struct gor_arg ga;
    ga.h = s3;
    ga.ov = &ov3;
    ga.done = 0;
    pthread_create(&th, NULL, gor_thread, &ga);
    msleep(50);
    CHECK(write_all_sync(c3, "later", 5), "the data arrives");
    CHECK(wait_done(&ov3, 5000), "the read completes though its event is closed");
    double end = now_s() + 3;
    while (!ga.done && now_s() < end) msleep(5);
    CHECK(ga.done, "GetOverlappedResult(bWait) with a closed hEvent returns (it hangs: it waits on the file handle)");
    if (ga.done) pthread_join(th, NULL);
    CloseHandle(s3);
    CloseHandle(c3);
    CloseHandle(ev);
}

/* ------------------------------------------------------------------------------------------ */
/* Zero-byte I/O, several operations pending on one handle, issue order, cancelling one */

static void t_order_zero(void) {
    HANDLE s, c;
    DWORD n = 0, err = 0;
    char buf[2000];
    HANDLE e[12];
    OVERLAPPED o[12];
    for (int i = 0; i < 12; i++) e[i] = mkev();

    STEP("byte pipe: W66, W78");
    mkpair("oz1", PIPE_TYPE_BYTE, 5000, FILE_FLAG_OVERLAPPED, FILE_FLAG_OVERLAPPED, &s, &c);
    ov_init(&o[0], e[0]);
    ov_init(&o[1], e[1]);
    o[0].InternalHigh = 77;
    CHECK(!ReadFile(s, buf, 0, &n, &o[0]) && GetLastError() == ERROR_IO_PENDING, "0-byte read pending (W78)");
    CHECK((DWORD)o[0].Internal == STATUS_PENDING && o[0].InternalHigh == 77, "Internal STATUS_PENDING, InternalHigh untouched (W78)");
    CHECK(!ReadFile(s, buf, 1000, &n, &o[1]) && GetLastError() == ERROR_IO_PENDING, "1000-byte read pending behind it");
    msleep(100);
    CHECK(!HasOverlappedIoCompleted(&o[0]), "the 0-byte read is still pending after 100 ms (W78)");
    CHECK(write_all_sync(c, "Z", 1), "write 1 byte");
    CHECK(ovres(s, &o[0], &n, 3000, &err) && n == 0, "the 0-byte read completes with 0 bytes (W66, W78) (err %u)", (unsigned)err);
    CHECK(ovres(s, &o[1], &n, 3000, &err) && n == 1 && buf[0] == 'Z', "the next read gets the byte (W66) (n %u err %u)", (unsigned)n, (unsigned)err);

    STEP("byte pipe: W75, W83, W91, W93");
    static char big[5000];
    memset(big, 'q', sizeof big);
    ov_init(&o[2], e[2]);
    ov_init(&o[3], e[3]);
    ov_init(&o[4], e[4]);
    ov_init(&o[5], e[5]);
    CHECK(WriteFile(s, big, 3000, &n, &o[2]) && n == 3000, "3000 within the quota: TRUE at once (W56)");
    CHECK(!WriteFile(s, big, 5000, &n, &o[3]) && GetLastError() == ERROR_IO_PENDING && n == 0, "5000 more: pending (W91)");
    CHECK(!WriteFile(s, big, 1, &n, &o[4]) && GetLastError() == ERROR_IO_PENDING, "1 more: pending");
    CHECK(WriteFile(s, big, 0, &n, &o[5]) && n == 0, "0-byte write completes at once over the quota (W75)");
    DWORD avail = 0;
    CHECK(PeekNamedPipe(c, NULL, 0, NULL, &avail, NULL) && avail == 8001, "peek counts the pending writes' bytes: 8001 (W83) (%u)", (unsigned)avail);
    static char rb[8001];
    ov_init(&o[6], e[6]);
    CHECK(ReadFile(c, rb, 3000, &n, &o[6]) && n == 3000, "read 3000 at once");
    CHECK(ovres(s, &o[3], &n, 3000, &err) && n == 5000, "the 5000 write completes once 3000 are read (W93) (err %u)", (unsigned)err);
    msleep(50);
    CHECK(!HasOverlappedIoCompleted(&o[4]), "the 1-byte write is still pending: 5001 > 5000 (W93)");
    ov_init(&o[6], e[6]);
    CHECK(ReadFile(c, rb, 1, &n, &o[6]) && n == 1, "read 1 more byte");
    CHECK(ovres(s, &o[4], &n, 3000, &err) && n == 1, "now the 1-byte write completes (W93) (err %u)", (unsigned)err);
    CloseHandle(s);
    CloseHandle(c);

    STEP("message pipe: W76, W77, W79");
    mkpair("oz2", PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 4096, FILE_FLAG_OVERLAPPED, FILE_FLAG_OVERLAPPED, &s, &c);
    ov_init(&o[0], e[0]);
    CHECK(!ReadFile(s, buf, 0, &n, &o[0]) && GetLastError() == ERROR_IO_PENDING, "0-byte read pending");
    CHECK(write_all_sync(c, "M", 1), "1-byte message");
    CHECK(!ovres(s, &o[0], &n, 3000, &err) && err == ERROR_MORE_DATA && n == 0, "completed by a 1-byte message: ERROR_MORE_DATA, 0 (W79) (err %u n %u)", (unsigned)err, (unsigned)n);
    CHECK(ReadFile(s, buf, 10, &n, &o[0]) && n == 1 && buf[0] == 'M', "the message is still there");
    ov_init(&o[0], e[0]);
    ov_init(&o[1], e[1]);
    CHECK(!ReadFile(s, buf, 0, &n, &o[0]) && GetLastError() == ERROR_IO_PENDING, "0-byte read pending");
    CHECK(!ReadFile(s, buf, 0, &n, &o[1]) && GetLastError() == ERROR_IO_PENDING, "second 0-byte read pending");
    CHECK(write_all_sync(c, "", 0), "0-byte message");
    CHECK(ovres(s, &o[0], &n, 3000, &err) && n == 0, "the first read completes with the empty message (W76, W77) (err %u)", (unsigned)err);
    msleep(100);
    CHECK(!HasOverlappedIoCompleted(&o[1]), "the second stays pending: an empty message wakes exactly one read (W77)");
    CHECK(CancelIoEx(s, &o[1]), "cancel it");
    CHECK(!ovres(s, &o[1], &n, 3000, &err) && err == ERROR_OPERATION_ABORTED && n == 0, "cancelled: ERROR_OPERATION_ABORTED, 0 (W97)");

    STEP("message pipe: W97 cancel one of two");
    ov_init(&o[0], e[0]);
    ov_init(&o[1], e[1]);
    CHECK(!ReadFile(s, buf, 100, &n, &o[0]) && GetLastError() == ERROR_IO_PENDING, "read A pending");
    CHECK(!ReadFile(s, buf + 100, 100, &n, &o[1]) && GetLastError() == ERROR_IO_PENDING, "read B pending");
    CHECK(CancelIoEx(s, &o[0]), "cancel A");
    CHECK(!ovres(s, &o[0], &n, 3000, &err) && err == ERROR_OPERATION_ABORTED && n == 0, "A: ERROR_OPERATION_ABORTED, 0 (W97)");
    CHECK(!CancelIoEx(s, &o[0]) && GetLastError() == ERROR_NOT_FOUND, "cancel A again: ERROR_NOT_FOUND (W97)");
    CHECK(!HasOverlappedIoCompleted(&o[1]), "B still pending (W97)");
    CHECK(write_all_sync(c, "b", 1), "write");
    CHECK(ovres(s, &o[1], &n, 3000, &err) && n == 1 && buf[100] == 'b', "B gets it (W97)");

    STEP("message pipe: 10 pending reads, 10 messages, in order");
    for (int i = 0; i < 10; i++) {
        ov_init(&o[i], e[i]);
        CHECK(!ReadFile(s, buf + i * 100, 100, &n, &o[i]) && GetLastError() == ERROR_IO_PENDING, "read %d pending", i);
    }
    for (int i = 0; i < 10; i++) {
        char m[16];
        int len = snprintf(m, sizeof m, "msg%d", i);
        CHECK(write_all_sync(c, m, (DWORD)len), "write %d", i);
    }
    for (int i = 0; i < 10; i++) {
        char m[16];
        int len = snprintf(m, sizeof m, "msg%d", i);
        CHECK(ovres(s, &o[i], &n, 3000, &err) && n == (DWORD)len && memcmp(buf + i * 100, m, len) == 0, "read %d got message %d (W66)", i, i);
    }

    STEP("message pipe: W98 cancel a pending write");
    static char big2[6000];
    memset(big2, 'w', sizeof big2);
    ov_init(&o[0], e[0]);
    ov_init(&o[1], e[1]);
    CHECK(!WriteFile(s, big2, 4096 + 1000, &n, &o[0]) && GetLastError() == ERROR_IO_PENDING, "write of quota+1000 pending");
    CHECK(!WriteFile(s, "1", 1, &n, &o[1]) && GetLastError() == ERROR_IO_PENDING, "1-byte write pending behind it");
    CHECK(CancelIoEx(s, &o[0]), "cancel the first");
    CHECK(!ovres(s, &o[0], &n, 3000, &err) && err == ERROR_OPERATION_ABORTED && n == 0, "cancelled write: ERROR_OPERATION_ABORTED, 0 (W98)");
    avail = 0;
    DWORD left = 0;
    CHECK(PeekNamedPipe(c, buf, sizeof buf, &n, &avail, &left) && avail == 1 && n == 1, "its data is gone: peek shows 1/1 (W98) (avail %u)", (unsigned)avail);
    ov_init(&o[2], e[2]);
    CHECK(ReadFile(c, buf, sizeof buf, &n, &o[2]) && n == 1, "read the 1 byte");
    CHECK(ovres(s, &o[1], &n, 3000, &err) && n == 1, "the 1-byte write completes (W98)");
    CloseHandle(s);
    CloseHandle(c);

    /* W98 again, with the write behind the cancelled one streaming a message larger than the ring
     * (the engine then holds the writer lock between steps). */
    STEP("message pipe: W98 cancel a quota-waiting write while the next one streams");
    mkpair("oz3", PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 4096, FILE_FLAG_OVERLAPPED, FILE_FLAG_OVERLAPPED, &s, &c);
    uint32_t bigw = 1u << 20;
    uint8_t *m1 = xmalloc(8000), *m2 = xmalloc(bigw), *rd = xmalloc(bigw + 100);
    gen(m1, 8000, 1, 1);
    gen(m2, bigw, 1, 2);
    ov_init(&o[0], e[0]);
    ov_init(&o[1], e[1]);
    CHECK(!WriteFile(s, m1, 8000, &n, &o[0]) && GetLastError() == ERROR_IO_PENDING, "8000-byte write: in the ring, pending on the quota");
    CHECK(!WriteFile(s, m2, bigw, &n, &o[1]) && GetLastError() == ERROR_IO_PENDING, "1 MiB write pending behind it (streams)");
    msleep(100);
    double t0 = now_s();
    CHECK(CancelIoEx(s, &o[0]), "cancel the 8000-byte write");
    double dt = now_s() - t0;
    CHECK(!ovres(s, &o[0], &n, 3000, &err) && err == ERROR_OPERATION_ABORTED, "cancelled: ERROR_OPERATION_ABORTED (err %u)", (unsigned)err);
    if (dt > 0.04) NOTE("CancelIoEx took %.0f ms", dt * 1000);
    ov_init(&o[2], e[2]);
    BOOL r = ReadFile(c, rd, bigw + 100, &n, &o[2]);
    if (!r && GetLastError() == ERROR_IO_PENDING) r = ovres(c, &o[2], &n, 5000, &err);
    uint32_t st = 0, sq = 0;
    int v = r ? verify(rd, n, &st, &sq) : -9;
    /* Fixed (was: the withdrawal of the cancelled write needed the writer lock, which the engine thread
     * itself holds for the streaming write behind it; it gives up and the cancelled message
     * stays in the pipe. */
    CHECK(r && v == 0 && sq == 2, "the reader gets the 1 MiB message, not the cancelled one (W98) (r %d n %u seq %u)", r, (unsigned)n, (unsigned)sq);
    CancelIoEx(s, NULL);
    CloseHandle(s);
    CloseHandle(c);
    free(m1);
    free(m2);
    free(rd);
    for (int i = 0; i < 12; i++) CloseHandle(e[i]);
}

/* ------------------------------------------------------------------------------------------ */
/* CloseHandle with operations pending */

struct rd_arg {
    HANDLE h;
    uint8_t *buf;
    uint32_t size;
    volatile int done;
    BOOL r;
    DWORD n, err;
};
static void *sync_read_thread(void *p) {
    struct rd_arg *a = p;
    a->r = ReadFile(a->h, a->buf, a->size, &a->n, NULL);
    a->err = a->r ? 0 : GetLastError();
    a->done = 1;
    return NULL;
}

static void t_close_pending(void) {
    HANDLE s, c;
    DWORD n = 0, err = 0;
    char buf[64], buf2[64];
    static uint8_t m[20000];
    memset(m, 'm', sizeof m);

    STEP("close a server with a read, a write and a ReadFileEx pending");
    mkpair("cp1", PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 4096, FILE_FLAG_OVERLAPPED, FILE_FLAG_OVERLAPPED, &s, &c);
    HANDLE er = mkev(), ew = mkev();
    OVERLAPPED orr, ow;
    struct cr cr;
    memset(&cr, 0, sizeof cr);
    ov_init(&orr, er);
    ov_init(&ow, ew);
    CHECK(!ReadFile(s, buf, sizeof buf, &n, &orr) && GetLastError() == ERROR_IO_PENDING, "read pending");
    CHECK(!WriteFile(s, m, 10000, &n, &ow) && GetLastError() == ERROR_IO_PENDING, "10000-byte write pending (quota 4096)");
    CHECK(ReadFileEx(s, buf2, sizeof buf2, &cr.ov, cr_done), "ReadFileEx pending");
    double t0 = now_s();
    CHECK(CloseHandle(s), "CloseHandle");
    CHECK(now_s() - t0 < 1.0, "CloseHandle returns promptly (%.0f ms)", (now_s() - t0) * 1000);
    CHECK(ev_set(er) && ev_set(ew), "both events signalled by the close (W31)");
    CHECK((DWORD)orr.Internal == STATUS_PIPE_BROKEN_ && orr.InternalHigh == 0, "read: STATUS_PIPE_BROKEN, 0 (%#lx)", (unsigned long)orr.Internal);
    CHECK((DWORD)ow.Internal == STATUS_PIPE_BROKEN_ && ow.InternalHigh == 0, "write: STATUS_PIPE_BROKEN, 0 (%#lx)", (unsigned long)ow.Internal);
    CHECK(cr.ran == 0, "the routine waits for an alertable wait (W104)");
    CHECK(SleepEx(0, TRUE) == WAIT_IO_COMPLETION, "SleepEx(0, TRUE) runs it");
    CHECK(cr.ran == 1 && cr.err == ERROR_BROKEN_PIPE && cr.n == 0, "routine once with ERROR_BROKEN_PIPE, 0 (ran %d err %u)", cr.ran, (unsigned)cr.err);
    static uint8_t rb[20000];
    OVERLAPPED oc;
    ov_init(&oc, er);
    BOOL r = ReadFile(c, rb, sizeof rb, &n, &oc);
    err = r ? 0 : GetLastError();
    if (!r && err == ERROR_IO_PENDING) r = ovres(c, &oc, &n, 3000, &err);
    CHECK(!r && err == ERROR_BROKEN_PIPE, "the client finds no part of the write ended by the close: ERROR_BROKEN_PIPE (W98, W113) (r %d n %u err %u)", r, (unsigned)n, (unsigned)err);
    CloseHandle(c);

    STEP("close a server with ConnectNamedPipe pending");
    const char *name = pname("cp2");
    HANDLE s2 = mkserver(name, FILE_FLAG_OVERLAPPED, PIPE_TYPE_BYTE, 1, 1024, 1024);
    OVERLAPPED ocn;
    ov_init(&ocn, er);
    ResetEvent(er);
    CHECK(!ConnectNamedPipe(s2, &ocn) && GetLastError() == ERROR_IO_PENDING, "connect pending (W39)");
    CHECK(CloseHandle(s2), "close");
    CHECK(ev_set(er), "the connect's event is signalled (W31)");
    CHECK((DWORD)ocn.Internal == STATUS_PIPE_BROKEN_, "connect: STATUS_PIPE_BROKEN (NPFS as ReactOS rebuilt it; Wine: STATUS_HANDLES_CLOSED) (%#lx)", (unsigned long)ocn.Internal);
    CHECK(CreateFileA(name, GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL) == INVALID_HANDLE_VALUE && GetLastError() == ERROR_FILE_NOT_FOUND, "the name is gone (W9)");

    STEP("close a client with TransactNamedPipe pending");
    HANDLE s3, c3;
    mkpair("cp3", PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 4096, FILE_FLAG_OVERLAPPED, FILE_FLAG_OVERLAPPED, &s3, &c3);
    OVERLAPPED ot;
    ov_init(&ot, er);
    r = TransactNamedPipe(c3, "req", 3, buf, sizeof buf, &n, &ot);
    CHECK(!r && GetLastError() == ERROR_IO_PENDING, "transaction pending (no reply)");
    CHECK(CloseHandle(c3), "close the client");
    CHECK(ev_set(er) && (DWORD)ot.Internal == STATUS_PIPE_BROKEN_, "transaction ended by the close (STATUS_PIPE_BROKEN), event signalled (%#lx)", (unsigned long)ot.Internal);
    CHECK(ReadFile(s3, buf, sizeof buf, &n, &orr) || GetLastError() == ERROR_IO_PENDING, "server reads");
    CHECK(ovres(s3, &orr, &n, 3000, &err) && n == 3 && memcmp(buf, "req", 3) == 0, "the request stays in the pipe (W99)");
    ov_init(&orr, er);
    r = ReadFile(s3, buf, sizeof buf, &n, &orr);
    err = r ? 0 : GetLastError();
    CHECK(!r && err == ERROR_BROKEN_PIPE, "then ERROR_BROKEN_PIPE (W113) (err %u)", (unsigned)err);
    CloseHandle(s3);

    STEP("close a client while its write streams a message larger than the ring into a pending read");
    for (int round = 0; round < 6; round++) {
        HANDLE s4, c4;
        mkpair("cp4", PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 4096, FILE_FLAG_OVERLAPPED, FILE_FLAG_OVERLAPPED, &s4, &c4);
        uint32_t len = 32u << 20;
        uint8_t *wm = xmalloc(len), *rm = xmalloc(len + 16);
        gen(wm, len, 4, round);
        OVERLAPPED o1, o2;
        HANDLE e1 = mkev(), e2 = mkev();
        ov_init(&o1, e1);
        ov_init(&o2, e2);
        BOOL rr = ReadFile(s4, rm, len + 16, &n, &o1);
        CHECK(!rr && GetLastError() == ERROR_IO_PENDING, "big read pending");
        BOOL wr = WriteFile(c4, wm, len, &n, &o2);
        CHECK(!wr && GetLastError() == ERROR_IO_PENDING, "32 MiB write pending");
        usleep_(round * 2000);
        t0 = now_s();
        CHECK(CloseHandle(c4), "close the writer mid-stream");
        CHECK(now_s() - t0 < 1.0, "CloseHandle returns promptly (%.0f ms)", (now_s() - t0) * 1000);
        BOOL w_ok = ovres(c4, &o2, &n, 0, &err);
        (void)w_ok;
        DWORD wst = (DWORD)o2.Internal;
        rr = ovres(s4, &o1, &n, 5000, &err);
        uint32_t st, sq;
        NOTE("round %d: write status %#x after the close", round, (unsigned)wst);
        if (wst == 0) {
            CHECK(rr && n == len && verify(rm, n, &st, &sq) == 0, "write completed before the close: the reader has it whole (n %u err %u)", (unsigned)n, (unsigned)err);
        } else {
            CHECK(wst == STATUS_PIPE_BROKEN_, "write ended by the close: STATUS_PIPE_BROKEN (%#x)", (unsigned)wst);
            CHECK(!rr && err == ERROR_BROKEN_PIPE && n == 0, "round %d: the reader gets no torn message, ERROR_BROKEN_PIPE (W98, W103) (r %d n %u err %u)", round, rr, (unsigned)n, (unsigned)err);
        }
        CloseHandle(s4);
        CloseHandle(e1);
        CloseHandle(e2);
        free(wm);
        free(rm);
    }
    CloseHandle(er);
    CloseHandle(ew);
}

/* CloseHandle from another thread while the issuing thread waits for the result. */
static void t_close_while_waiting(void) {
    for (int withev = 0; withev < 2; withev++) {
        STEP("GetOverlappedResult(bWait) while another thread closes the handle (event %d)", withev);
        HANDLE s, c;
        DWORD n = 0;
        char buf[64];
        mkpair("cww", PIPE_TYPE_BYTE, 4096, FILE_FLAG_OVERLAPPED, FILE_FLAG_OVERLAPPED, &s, &c);
        static OVERLAPPED ov;
        ov_init(&ov, withev ? mkev() : NULL);
        CHECK(!ReadFile(s, buf, sizeof buf, &n, &ov) && GetLastError() == ERROR_IO_PENDING, "read pending");
        static struct gor_arg ga;
        memset(&ga, 0, sizeof ga);
        ga.h = s;
        ga.ov = &ov;
        pthread_t th;
        pthread_create(&th, NULL, gor_thread, &ga);
        msleep(100);
        CHECK(!ga.done, "the waiter waits");
        CHECK(CloseHandle(s), "close from this thread");
        double end = now_s() + 3;
        while (!ga.done && now_s() < end) msleep(2);
        CHECK(ga.done, "the waiter returns after the close");
        if (ga.done) {
            pthread_join(th, NULL);
            CHECK(!ga.r && ga.err == ERROR_BROKEN_PIPE && ga.n == 0, "with ERROR_BROKEN_PIPE, 0 (r %d err %u)", ga.r, (unsigned)ga.err);
        }
        CloseHandle(c);
    }

    STEP("a thread blocked in a synchronous ReadFile on a handle another thread closes");
    HANDLE s, c;
    mkpair("cww2", PIPE_TYPE_BYTE, 4096, 0, FILE_FLAG_OVERLAPPED, &s, &c);
    static struct rd_arg ra;
    static uint8_t b[64];
    ra.h = s;
    ra.buf = b;
    ra.size = sizeof b;
    pthread_t th;
    pthread_create(&th, NULL, sync_read_thread, &ra);
    msleep(100);
    CHECK(CloseHandle(s), "close");
    double end = now_s() + 3;
    while (!ra.done && now_s() < end) msleep(2);
    CHECK(ra.done, "the blocked ReadFile returns");
    if (ra.done) CHECK(!ra.r && ra.err == ERROR_OPERATION_ABORTED, "with ERROR_OPERATION_ABORTED (err %u)", (unsigned)ra.err);
    CloseHandle(c);

    STEP("WaitForSingleObject on a pipe handle (no event) that another thread closes");
    mkpair("cww3", PIPE_TYPE_BYTE, 4096, FILE_FLAG_OVERLAPPED, FILE_FLAG_OVERLAPPED, &s, &c);
    static OVERLAPPED ov2;
    DWORD n = 0;
    ov_init(&ov2, NULL);
    CHECK(!ReadFile(s, b, sizeof b, &n, &ov2) && GetLastError() == ERROR_IO_PENDING, "read pending, no event");
    CHECK(WaitForSingleObject(s, 0) == WAIT_TIMEOUT, "the handle is not signalled while the read is pending (W26)");
    CHECK(CloseHandle(s), "close");
    CHECK((DWORD)ov2.Internal == STATUS_PIPE_BROKEN_, "ended with STATUS_PIPE_BROKEN");
    CloseHandle(c);
}

/* CancelIo cancels the calling thread's operations only; CancelIoEx anybody's. */
struct issue_arg {
    HANDLE h;
    OVERLAPPED ov;
    char buf[64];
    HANDLE gate;
    volatile int issued;
    BOOL r;
    DWORD err;
};
static void *issue_read_and_wait(void *p) {
    struct issue_arg *a = p;
    DWORD n;
    a->r = ReadFile(a->h, a->buf, sizeof a->buf, &n, &a->ov);
    a->err = GetLastError();
    a->issued = 1;
    WaitForSingleObject(a->gate, INFINITE);
    return NULL;
}
static void *cancelio_thread(void *p) {
    HANDLE h = p;
    return (void *)(intptr_t)CancelIo(h);
}

static void t_cancel_affinity(void) {
    HANDLE s, c;
    DWORD n = 0, err = 0;
    char buf[64];
    mkpair("caf", PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 4096, FILE_FLAG_OVERLAPPED, FILE_FLAG_OVERLAPPED, &s, &c);
    static struct issue_arg a;
    a.h = s;
    ov_init(&a.ov, mkev());
    a.gate = mkev();
    pthread_t ta;
    pthread_create(&ta, NULL, issue_read_and_wait, &a);
    while (!a.issued) msleep(1);
    CHECK(!a.r && a.err == ERROR_IO_PENDING, "thread A: read pending");
    OVERLAPPED om;
    ov_init(&om, mkev());
    CHECK(!ReadFile(s, buf, sizeof buf, &n, &om) && GetLastError() == ERROR_IO_PENDING, "main: read pending behind A's");
    CHECK(CancelIo(s), "main: CancelIo");
    CHECK(!ovres(s, &om, &n, 2000, &err) && err == ERROR_OPERATION_ABORTED, "main's read cancelled");
    msleep(20);
    CHECK(!HasOverlappedIoCompleted(&a.ov), "A's read is not: CancelIo cancels the calling thread's I/O only");
    pthread_t tb;
    void *rv;
    pthread_create(&tb, NULL, cancelio_thread, s);
    pthread_join(tb, &rv);
    CHECK(rv != NULL, "thread B (no I/O): CancelIo TRUE");
    msleep(20);
    CHECK(!HasOverlappedIoCompleted(&a.ov), "A's read still pending");
    CHECK(CancelIoEx(s, &a.ov), "main: CancelIoEx(A's OVERLAPPED)");
    CHECK(!ovres(s, &a.ov, &n, 2000, &err) && err == ERROR_OPERATION_ABORTED, "A's read cancelled from another thread");
    CHECK(!CancelIoEx(s, &a.ov) && GetLastError() == ERROR_NOT_FOUND, "again: ERROR_NOT_FOUND (W97)");
    SetEvent(a.gate);
    pthread_join(ta, NULL);

    STEP("cancelling the middle one of three keeps the others in order");
    OVERLAPPED o[3];
    char b3[3][16];
    for (int i = 0; i < 3; i++) {
        ov_init(&o[i], mkev());
        CHECK(!ReadFile(s, b3[i], 16, &n, &o[i]) && GetLastError() == ERROR_IO_PENDING, "read %d pending", i);
    }
    CHECK(CancelIoEx(s, &o[1]), "cancel the middle one");
    CHECK(write_all_sync(c, "a", 1) && write_all_sync(c, "b", 1), "two messages");
    CHECK(ovres(s, &o[0], &n, 2000, &err) && n == 1 && b3[0][0] == 'a', "first gets a");
    CHECK(!ovres(s, &o[1], &n, 2000, &err) && err == ERROR_OPERATION_ABORTED, "middle cancelled");
    CHECK(ovres(s, &o[2], &n, 2000, &err) && n == 1 && b3[2][0] == 'b', "third gets b");

    STEP("CancelIoEx(NULL) cancels every thread's operations");
    a.issued = 0;
    ov_init(&a.ov, mkev());
    ResetEvent(a.gate);
    pthread_create(&ta, NULL, issue_read_and_wait, &a);
    while (!a.issued) msleep(1);
    ov_init(&om, mkev());
    CHECK(!ReadFile(s, buf, sizeof buf, &n, &om) && GetLastError() == ERROR_IO_PENDING, "main: read pending");
    CHECK(CancelIoEx(s, NULL), "CancelIoEx(NULL)");
    CHECK(!ovres(s, &a.ov, &n, 2000, &err) && err == ERROR_OPERATION_ABORTED, "A's cancelled");
    CHECK(!ovres(s, &om, &n, 2000, &err) && err == ERROR_OPERATION_ABORTED, "main's cancelled");
    CHECK(!CancelIoEx(s, NULL) && GetLastError() == ERROR_NOT_FOUND, "nothing left: ERROR_NOT_FOUND");
    SetEvent(a.gate);
    pthread_join(ta, NULL);
    CloseHandle(s);
    CloseHandle(c);
}

/* CloseHandle racing with an overlapped call being issued on another thread: the operation
 * either fails at once or completes (cancelled) — it never stays pending on a closed handle. */
struct race_arg {
    HANDLE h;
    OVERLAPPED ov;
    uint8_t buf[256];
    int kind; /* 0 read, 1 write over quota, 2 connect */
    volatile int go, started;
    BOOL r;
    DWORD err;
};
static void *race_issue(void *p) {
    struct race_arg *a = p;
    DWORD n;
    while (!a->go) {
    }
    a->started = 1;
    if (a->kind == 0)
        a->r = ReadFile(a->h, a->buf, sizeof a->buf, &n, &a->ov);
    else if (a->kind == 1)
        a->r = WriteFile(a->h, a->buf, sizeof a->buf, &n, &a->ov);
    else
        a->r = ConnectNamedPipe(a->h, &a->ov);
    a->err = a->r ? 0 : GetLastError();
    return NULL;
}

static void t_close_race(void) {
    int stuck[3] = {0, 0, 0}, pending[3] = {0, 0, 0};
    int outcome[3][4] = {{0}};
    DWORD other_err[3] = {0, 0, 0};
    for (int i = 0; i < 1500; i++) {
        int kind = i % 3;
        HANDLE s, c = INVALID_HANDLE_VALUE;
        STEP("iteration %d kind %d", i, kind);
        if (kind == 2) {
            s = mkserver(pname("cr"), FILE_FLAG_OVERLAPPED, PIPE_TYPE_BYTE, 1, 128, 128);
        } else {
            mkpair("cr", PIPE_TYPE_BYTE, 128, FILE_FLAG_OVERLAPPED, FILE_FLAG_OVERLAPPED, &s, &c);
        }
        static struct race_arg a;
        memset(&a, 0, sizeof a);
        a.h = s;
        a.kind = kind;
        ov_init(&a.ov, mkev());
        pthread_t th;
        pthread_create(&th, NULL, race_issue, &a);
        a.go = 1;
        while (!a.started) {
        }
        long spin = rnd() % 40000;
        for (volatile long k = 0; k < spin; k++) {
        }
        CloseHandle(s);
        pthread_join(th, NULL);
        outcome[kind][a.r ? 0 : a.err == ERROR_INVALID_HANDLE ? 1 : a.err == ERROR_IO_PENDING ? 2 : 3]++;
        if (!a.r && a.err != ERROR_INVALID_HANDLE && a.err != ERROR_IO_PENDING) other_err[kind] = a.err;
        if (!a.r && a.err == ERROR_IO_PENDING) {
            pending[kind]++;
            if (WaitForSingleObject(a.ov.hEvent, 2000) != WAIT_OBJECT_0 || !HasOverlappedIoCompleted(&a.ov)) stuck[kind]++;
        }
        if (c != INVALID_HANDLE_VALUE) CloseHandle(c);
        CloseHandle(a.ov.hEvent);
    }
    NOTE("outcomes (ok/invalid handle/pending/other): read %d/%d/%d/%d write %d/%d/%d/%d connect %d/%d/%d/%d", outcome[0][0], outcome[0][1], outcome[0][2], outcome[0][3], outcome[1][0], outcome[1][1], outcome[1][2], outcome[1][3], outcome[2][0], outcome[2][1], outcome[2][2], outcome[2][3]);
    NOTE("an 'other' error: read %u, write %u, connect %u", (unsigned)other_err[0], (unsigned)other_err[1], (unsigned)other_err[2]);
    NOTE("issued pending across the close: read %d, write %d, connect %d; never completed: %d, %d, %d", pending[0], pending[1], pending[2], stuck[0], stuck[1], stuck[2]);
    CHECK(stuck[0] + stuck[1] + stuck[2] == 0, "an operation issued while another thread closes the handle never stays pending (read %d, write %d, connect %d stuck)", stuck[0], stuck[1], stuck[2]);
}

/* ------------------------------------------------------------------------------------------ */
/* Completion routines */

struct chain {
    OVERLAPPED ov;
    HANDLE h;
    int next, total, bad;
    uint8_t buf[64];
};
static VOID WINAPI chain_done(DWORD err, DWORD n, LPOVERLAPPED ov) {
    struct chain *ch = (struct chain *)ov;
    int d = __sync_add_and_fetch(&cr_depth, 1);
    if (d > cr_max_depth) cr_max_depth = d;
    uint32_t st, sq;
    if (err != 0 || verify(ch->buf, n, &st, &sq) != 0 || sq != (uint32_t)ch->next) ch->bad++;
    ch->next++;
    if (ch->next < ch->total) {
        memset(&ch->ov, 0, sizeof ch->ov);
        if (!ReadFileEx(ch->h, ch->buf, sizeof ch->buf, &ch->ov, chain_done)) ch->bad += 1000;
    }
    __sync_sub_and_fetch(&cr_depth, 1);
}

struct affinity_arg {
    HANDLE h;
    struct cr cr;
    char buf[16];
    volatile int issued;
    DWORD tid, sleep_ret;
};
static void *affinity_thread(void *p) {
    struct affinity_arg *a = p;
    a->tid = GetCurrentThreadId();
    a->issued = ReadFileEx(a->h, a->buf, sizeof a->buf, &a->cr.ov, cr_done) ? 1 : -1;
    a->sleep_ret = SleepEx(INFINITE, TRUE);
    return NULL;
}

static struct cr close_cr[2];
static HANDLE close_in_routine_h;
static VOID WINAPI close_in_routine(DWORD err, DWORD n, LPOVERLAPPED ov) {
    cr_done(err, n, ov);
    CloseHandle(close_in_routine_h); /* the other operation of the handle is still pending */
}

static void t_routines(void) {
    HANDLE s, c;
    DWORD n = 0, err = 0;
    mkpair("rt", PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1 << 20, FILE_FLAG_OVERLAPPED, FILE_FLAG_OVERLAPPED, &s, &c);

    STEP("300 WriteFileEx completing at once: routines only in an alertable wait, in order");
    enum { NW = 300 };
    static struct cr w[NW];
    static uint8_t msgs[NW][100];
    cr_order = 0;
    int all_true = 1;
    for (int i = 0; i < NW; i++) {
        memset(&w[i], 0, sizeof w[i]);
        gen(msgs[i], 100, 7, i);
        if (!WriteFileEx(c, msgs[i], 100, &w[i].ov, cr_done)) all_true = 0;
    }
    CHECK(all_true, "every WriteFileEx returns TRUE");
    HANDLE ev = mkev();
    char tmp[8];
    CHECK(write_all_sync(s, "x", 1), "a synchronous WriteFile");
    OVERLAPPED o;
    ov_init(&o, ev);
    CHECK(ReadFile(c, tmp, sizeof tmp, &n, &o) && n == 1, "an overlapped ReadFile");
    WaitForSingleObject(ev, 10);
    WaitForSingleObjectEx(ev, 0, FALSE);
    Sleep(10);
    SleepEx(5, FALSE);
    int ran = 0;
    for (int i = 0; i < NW; i++) ran += w[i].ran;
    CHECK(ran == 0, "no routine ran in non-alertable calls (W104) (%d ran)", ran);
    CHECK(SleepEx(0, TRUE) == WAIT_IO_COMPLETION, "SleepEx(0, TRUE): WAIT_IO_COMPLETION");
    int once = 1, inorder = 1, okres = 1;
    DWORD me = GetCurrentThreadId();
    for (int i = 0; i < NW; i++) {
        if (w[i].ran != 1) once = 0;
        if (w[i].order != i) inorder = 0;
        if (w[i].err != 0 || w[i].n != 100 || w[i].tid != me) okres = 0;
    }
    CHECK(once, "each routine ran exactly once (W104)");
    CHECK(inorder, "in issue order");
    CHECK(okres, "with error 0, 100 bytes, on the issuing thread (W104)");
    CHECK(SleepEx(0, TRUE) == 0, "nothing left: SleepEx(0, TRUE) returns 0");
    int good = 1;
    for (int i = 0; i < NW; i++) {
        uint8_t b[200];
        uint32_t st, sq;
        ov_init(&o, ev);
        if (!ReadFile(s, b, sizeof b, &n, &o) || verify(b, n, &st, &sq) != 0 || sq != (uint32_t)i) good = 0;
    }
    CHECK(good, "the 300 messages arrive intact and in order");

    STEP("a routine runs only in its own thread");
    static struct affinity_arg aa;
    memset(&aa, 0, sizeof aa);
    aa.h = s;
    pthread_t th;
    pthread_create(&th, NULL, affinity_thread, &aa);
    while (!aa.issued) msleep(1);
    CHECK(aa.issued == 1, "thread T: ReadFileEx pending");
    int foreign = 0;
    for (int i = 0; i < 5; i++)
        if (SleepEx(10, TRUE) != 0) foreign++;
    CHECK(foreign == 0 && aa.cr.ran == 0, "alertable waits of another thread run nothing of T's");
    CHECK(write_all_sync(c, "wake", 4), "data for T's read");
    pthread_join(th, NULL);
    CHECK(aa.sleep_ret == WAIT_IO_COMPLETION, "T's SleepEx(INFINITE, TRUE) wakes with WAIT_IO_COMPLETION");
    CHECK(aa.cr.ran == 1 && aa.cr.tid == aa.tid && aa.cr.n == 4 && aa.cr.err == 0, "T's routine ran once in T (tid %u vs %u)", (unsigned)aa.cr.tid, (unsigned)aa.tid);

    STEP("a chain of 20000 ReadFileEx issued from their own routines");
    enum { NC = 20000 };
    for (int i = 0; i < NC; i++) {
        uint8_t m[40];
        gen(m, 40, 8, i);
        if (!write_all_sync(c, m, 40)) {
            CHECK(0, "queue message %d", i);
            break;
        }
    }
    static struct chain ch;
    memset(&ch, 0, sizeof ch);
    ch.h = s;
    ch.total = NC;
    cr_depth = cr_max_depth = 0;
    CHECK(ReadFileEx(s, ch.buf, sizeof ch.buf, &ch.ov, chain_done), "first ReadFileEx");
    double end = now_s() + 20;
    int waits = 0;
    while (ch.next < NC && now_s() < end) {
        SleepEx(100, TRUE);
        waits++;
    }
    CHECK(ch.next == NC && ch.bad == 0, "every message read in order through the chain (%d of %d, %d bad)", ch.next, NC, ch.bad);
    CHECK(cr_max_depth == 1, "routines never nest: a routine's I/O does not run routines (W104) (depth %d)", cr_max_depth);
    NOTE("20000 chained routines took %d alertable waits", waits);

    STEP("CloseHandle inside a completion routine while another operation of the handle is pending");
    HANDLE s2, c2;
    mkpair("rt2", PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 4096, FILE_FLAG_OVERLAPPED, FILE_FLAG_OVERLAPPED, &s2, &c2);
    memset(close_cr, 0, sizeof close_cr);
    static char b2[2][16];
    close_in_routine_h = s2;
    CHECK(ReadFileEx(s2, b2[0], 16, &close_cr[0].ov, close_in_routine), "read 1 pending");
    CHECK(ReadFileEx(s2, b2[1], 16, &close_cr[1].ov, cr_done), "read 2 pending");
    CHECK(write_all_sync(c2, "1", 1), "data for read 1");
    end = now_s() + 5;
    while ((close_cr[0].ran == 0 || close_cr[1].ran == 0) && now_s() < end) SleepEx(50, TRUE);
    CHECK(close_cr[0].ran == 1 && close_cr[0].err == 0 && close_cr[0].n == 1, "routine 1: the data");
    CHECK(close_cr[1].ran == 1 && close_cr[1].err == ERROR_BROKEN_PIPE, "routine 2: ended by the close in routine 1 with ERROR_BROKEN_PIPE (err %u ran %d)", (unsigned)close_cr[1].err, close_cr[1].ran);
    CloseHandle(c2);

    STEP("GetOverlappedResultEx on a pending write: W106");
    HANDLE s3, c3;
    mkpair("rt3", PIPE_TYPE_BYTE, 1024, FILE_FLAG_OVERLAPPED, FILE_FLAG_OVERLAPPED, &s3, &c3);
    static uint8_t big[3000];
    static struct cr apc_cr;
    memset(&apc_cr, 0, sizeof apc_cr);
    OVERLAPPED ow;
    ov_init(&ow, mkev());
    CHECK(!WriteFile(s3, big, sizeof big, &n, &ow) && GetLastError() == ERROR_IO_PENDING, "write over the quota pending");
    CHECK(WriteFileEx(c3, "q", 1, &apc_cr.ov, cr_done), "a routine queued (WriteFileEx done at once)");
    CHECK(!GetOverlappedResultEx(s3, &ow, &n, 0, TRUE) && GetLastError() == ERROR_IO_INCOMPLETE && apc_cr.ran == 0, "timeout 0, alertable: ERROR_IO_INCOMPLETE, no routine runs (W106)");
    CHECK(!GetOverlappedResultEx(s3, &ow, &n, 10, FALSE) && GetLastError() == WAIT_TIMEOUT && apc_cr.ran == 0, "10 ms: WAIT_TIMEOUT (W106)");
    CHECK(!GetOverlappedResultEx(s3, &ow, &n, 10, TRUE) && GetLastError() == WAIT_IO_COMPLETION && apc_cr.ran == 1, "10 ms alertable: WAIT_IO_COMPLETION, the routine ran (W106)");
    CancelIo(s3);
    CloseHandle(s3);
    CloseHandle(c3);
    CloseHandle(s);
    CloseHandle(c);
    (void)err;
}

/* ------------------------------------------------------------------------------------------ */
/* PIPE_NOWAIT handles opened for overlapped I/O (W107-W111) */

static void t_nowait(void) {
    const char *name = pname("nw");
    DWORD n = 0;
    char buf[1024];
    HANDLE s = mkserver(name, FILE_FLAG_OVERLAPPED, PIPE_TYPE_BYTE | PIPE_NOWAIT, 1, 512, 512);
    CHECK(s != INVALID_HANDLE_VALUE, "create a PIPE_NOWAIT overlapped server");
    HANDLE ev = mkev();
    OVERLAPPED o;
    ov_init(&o, ev);
    CHECK(!ConnectNamedPipe(s, &o) && GetLastError() == ERROR_PIPE_LISTENING, "overlapped ConnectNamedPipe, no client: ERROR_PIPE_LISTENING, not pending (W111)");
    HANDLE c = mkclient(name, 0);
    CHECK(c != INVALID_HANDLE_VALUE, "a client can still connect (W111)");
    ov_init(&o, ev);
    CHECK(!ReadFile(s, buf, 10, &n, &o) && GetLastError() == ERROR_NO_DATA, "overlapped ReadFile on an empty PIPE_NOWAIT end: ERROR_NO_DATA at once (W107)");
    struct cr cr;
    memset(&cr, 0, sizeof cr);
    CHECK(!ReadFileEx(s, buf, 10, &cr.ov, cr_done) && GetLastError() == ERROR_NO_DATA, "ReadFileEx on it: ERROR_NO_DATA (W107)");
    SleepEx(0, TRUE);
    CHECK(cr.ran == 0, "no routine for it");
    static char big[600];
    ov_init(&o, ev);
    n = 99;
    CHECK(WriteFile(s, big, 513, &n, &o) && n == 0, "513 bytes into a 512-byte buffer: TRUE, 0 written (W108) (n %u)", (unsigned)n);
    ov_init(&o, ev);
    CHECK(WriteFile(s, big, 512, &n, &o) && n == 512, "512: TRUE, 512 (W108)");
    memset(&cr, 0, sizeof cr);
    CHECK(WriteFileEx(s, big, 1, &cr.ov, cr_done), "WriteFileEx on a full PIPE_NOWAIT end returns TRUE");
    CHECK(SleepEx(0, TRUE) == WAIT_IO_COMPLETION && cr.ran == 1 && cr.err == 0, "its routine runs (%u bytes)", (unsigned)cr.n);
    CHECK(ReadFile(c, buf, sizeof buf, &n, NULL) && n >= 512, "the client reads the 512");
    ov_init(&o, ev);
    CHECK(write_all_sync(c, "ping", 4), "client writes");
    CHECK(ReadFile(s, buf, 10, &n, &o) && n == 4, "the server reads it at once");
    CloseHandle(c);
    ov_init(&o, ev);
    CHECK(!ConnectNamedPipe(s, &o) && GetLastError() == ERROR_NO_DATA, "after the client closed: ERROR_NO_DATA (W43, W111)");
    CHECK(DisconnectNamedPipe(s), "disconnect");
    ov_init(&o, ev);
    CHECK(!ConnectNamedPipe(s, &o) && GetLastError() == ERROR_PIPE_LISTENING, "after a disconnect: ERROR_PIPE_LISTENING again (W111)");
    CloseHandle(s);

    STEP("PIPE_NOWAIT set while an overlapped read is pending");
    HANDLE s2, c2;
    mkpair("nw2", PIPE_TYPE_BYTE, 4096, FILE_FLAG_OVERLAPPED, 0, &s2, &c2);
    ov_init(&o, ev);
    CHECK(!ReadFile(s2, buf, 10, &n, &o) && GetLastError() == ERROR_IO_PENDING, "read pending");
    DWORD mode = PIPE_NOWAIT;
    CHECK(SetNamedPipeHandleState(s2, &mode, NULL, NULL), "switch to PIPE_NOWAIT");
    OVERLAPPED o2;
    ov_init(&o2, mkev());
    CHECK(!ReadFile(s2, buf + 10, 10, &n, &o2) && GetLastError() == ERROR_NO_DATA, "a new read fails at once (W107)");
    CHECK(write_all_sync(c2, "late", 4), "data");
    DWORD err = 0;
    CHECK(ovres(s2, &o, &n, 3000, &err) && n == 4 && memcmp(buf, "late", 4) == 0, "the read pending before the switch completes with it (err %u)", (unsigned)err);
    CloseHandle(s2);
    CloseHandle(c2);
    CloseHandle(ev);
}

/* ------------------------------------------------------------------------------------------ */
/* DisconnectNamedPipe with operations pending (W44, W48) */

static void t_disconnect_pending(void) {
    const char *name = pname("dp");
    HANDLE s = mkserver(name, FILE_FLAG_OVERLAPPED, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1, 4096, 4096);
    HANDLE c = mkclient(name, FILE_FLAG_OVERLAPPED);
    DWORD n = 0, err = 0;
    static uint8_t m[10000];
    char buf[64];
    OVERLAPPED o1, o2, o3;
    HANDLE e1 = mkev(), e2 = mkev(), e3 = mkev();
    ov_init(&o1, e1);
    CHECK(!ConnectNamedPipe(s, &o1) && GetLastError() == ERROR_PIPE_CONNECTED, "connected");

    STEP("writes pending in both directions");
    ov_init(&o1, e1);
    ov_init(&o2, e2);
    CHECK(!WriteFile(s, m, sizeof m, &n, &o1) && GetLastError() == ERROR_IO_PENDING, "server write pending");
    CHECK(!WriteFile(c, m, sizeof m, &n, &o2) && GetLastError() == ERROR_IO_PENDING, "client write pending");
    CHECK(DisconnectNamedPipe(s), "DisconnectNamedPipe");
    CHECK(!ovres(s, &o1, &n, 3000, &err) && err == ERROR_PIPE_NOT_CONNECTED, "server write: ERROR_PIPE_NOT_CONNECTED (W48) (err %u)", (unsigned)err);
    CHECK(!ovres(c, &o2, &n, 3000, &err) && err == ERROR_PIPE_NOT_CONNECTED, "client write: ERROR_PIPE_NOT_CONNECTED (W48) (err %u)", (unsigned)err);
    ov_init(&o2, e2);
    CHECK(!ReadFile(c, buf, sizeof buf, &n, &o2) && GetLastError() == ERROR_PIPE_NOT_CONNECTED, "client read after: ERROR_PIPE_NOT_CONNECTED at once (W44, W47)");

    STEP("reconnect; reads pending on both ends, then disconnect");
    ov_init(&o1, e1);
    CHECK(!ConnectNamedPipe(s, &o1) && GetLastError() == ERROR_IO_PENDING, "listen again (W49)");
    HANDLE c2 = mkclient(name, FILE_FLAG_OVERLAPPED);
    CHECK(ovres(s, &o1, &n, 3000, &err), "the new client connects");
    set_msg_mode(c2);
    ov_init(&o1, e1);
    ov_init(&o2, e2);
    ov_init(&o3, e3);
    CHECK(!ReadFile(s, buf, sizeof buf, &n, &o1) && GetLastError() == ERROR_IO_PENDING, "server read pending");
    CHECK(!ReadFile(c2, buf + 32, 32, &n, &o2) && GetLastError() == ERROR_IO_PENDING, "client read pending");
    CHECK(!ReadFile(c, buf, sizeof buf, &n, &o3) && GetLastError() == ERROR_PIPE_NOT_CONNECTED, "the old client is still cut off (W44)");
    CHECK(DisconnectNamedPipe(s), "DisconnectNamedPipe");
    CHECK(!ovres(s, &o1, &n, 3000, &err) && err == ERROR_PIPE_NOT_CONNECTED, "server read: ERROR_PIPE_NOT_CONNECTED (W48) (err %u)", (unsigned)err);
    CHECK(!ovres(c2, &o2, &n, 3000, &err) && err == ERROR_PIPE_NOT_CONNECTED, "client read: ERROR_PIPE_NOT_CONNECTED (W48) (err %u)", (unsigned)err);

    STEP("a read pending from the previous connection never gets the next client's data");
    ov_init(&o1, e1);
    CHECK(!ConnectNamedPipe(s, &o1) && GetLastError() == ERROR_IO_PENDING, "listen");
    HANDLE c3 = mkclient(name, FILE_FLAG_OVERLAPPED);
    CHECK(ovres(s, &o1, &n, 3000, &err), "third client connects");
    CHECK(write_all_sync(c3, "third", 5), "it writes");
    ov_init(&o1, e1);
    CHECK(ReadFile(s, buf, sizeof buf, &n, &o1) && n == 5 && memcmp(buf, "third", 5) == 0, "the server reads the third client's message");

    STEP("disconnect while a write streams a message larger than the ring");
    uint32_t len = 8u << 20;
    uint8_t *big = xmalloc(len);
    gen(big, len, 9, 0);
    ov_init(&o1, e1);
    CHECK(!WriteFile(s, big, len, &n, &o1) && GetLastError() == ERROR_IO_PENDING, "8 MiB write pending");
    uint8_t *rb = xmalloc(65536);
    ov_init(&o3, e3);
    BOOL r = ReadFile(c3, rb, 65536, &n, &o3); /* byte read mode: takes some of it */
    if (!r && GetLastError() == ERROR_IO_PENDING) r = ovres(c3, &o3, &n, 3000, &err);
    CHECK(r && n > 0, "the client reads part of it (W74) (n %u)", (unsigned)n);
    msleep(20);
    double t0 = now_s();
    CHECK(DisconnectNamedPipe(s), "DisconnectNamedPipe mid-stream");
    CHECK(now_s() - t0 < 1.0, "returns promptly (%.0f ms)", (now_s() - t0) * 1000);
    CHECK(!ovres(s, &o1, &n, 3000, &err) && err == ERROR_PIPE_NOT_CONNECTED, "the streaming write: ERROR_PIPE_NOT_CONNECTED (W48) (err %u)", (unsigned)err);
    ov_init(&o3, e3);
    CHECK(!ReadFile(c3, rb, 65536, &n, &o3) && GetLastError() == ERROR_PIPE_NOT_CONNECTED, "the client: ERROR_PIPE_NOT_CONNECTED, the rest discarded (W44)");
    ov_init(&o1, e1);
    CHECK(!ConnectNamedPipe(s, &o1) && GetLastError() == ERROR_IO_PENDING, "listen once more");
    HANDLE c4 = mkclient(name, 0);
    CHECK(ovres(s, &o1, &n, 3000, &err), "fourth client connects");
    CHECK(write_all_sync(s, "hi4", 3), "server writes to it (the writer lock was released)");
    CHECK(ReadFile(c4, buf, sizeof buf, &n, NULL) && n == 3 && memcmp(buf, "hi4", 3) == 0, "it reads exactly that");
    free(big);
    free(rb);
    CloseHandle(c);
    CloseHandle(c2);
    CloseHandle(c3);
    CloseHandle(c4);
    CloseHandle(s);
}

/* ------------------------------------------------------------------------------------------ */
/* An overlapped ConnectNamedPipe racing a client that opens the pipe the moment the instance
 * listens: the connect completes (W39), whenever the client arrives. */

struct opener_arg {
    const char *name;
    volatile int go, done;
    HANDLE h;
};
static void *opener_thread(void *p) {
    struct opener_arg *a = p;
    while (!a->go) {
    }
    double end = now_s() + 3;
    HANDLE h = INVALID_HANDLE_VALUE;
    while (h == INVALID_HANDLE_VALUE && now_s() < end) h = CreateFileA(a->name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    a->h = h;
    a->done = 1;
    return NULL;
}

static void t_connect_race(void) {
    const char *name = pname("cnr");
    HANDLE s = mkserver(name, FILE_FLAG_OVERLAPPED, PIPE_TYPE_BYTE, 1, 1024, 1024);
    HANDLE c0 = mkclient(name, 0);
    HANDLE ev = mkev();
    OVERLAPPED ov;
    ov_init(&ov, ev);
    CHECK(!ConnectNamedPipe(s, &ov) && GetLastError() == ERROR_PIPE_CONNECTED, "first client");
    CloseHandle(c0);
    DisconnectNamedPipe(s);
    int pending = 0, at_once = 0, stuck = 0, noclient = 0, returned_true = 0;
    for (int i = 0; i < 250; i++) {
        STEP("iteration %d", i);
        static struct opener_arg a;
        memset(&a, 0, sizeof a);
        a.name = name;
        a.h = INVALID_HANDLE_VALUE;
        pthread_t th;
        pthread_create(&th, NULL, opener_thread, &a);
        a.go = 1;
        usleep_(rnd() % 50);
        ov_init(&ov, ev);
        BOOL r = ConnectNamedPipe(s, &ov);
        DWORD e = r ? 0 : GetLastError();
        pthread_join(th, NULL);
        if (a.h == INVALID_HANDLE_VALUE) noclient++;
        if (!r && e == ERROR_IO_PENDING) {
            pending++;
            if (WaitForSingleObject(ev, 1000) != WAIT_OBJECT_0) {
                stuck++;
                if (stuck == 1) NOTE("iteration %d: the client is connected (CreateFile succeeded) but ConnectNamedPipe stays pending", i);
                CancelIoEx(s, &ov);
            }
        } else if (!r && e == ERROR_PIPE_CONNECTED) {
            at_once++;
        } else if (r) {
            returned_true++;
        } else {
            CHECK(0, "ConnectNamedPipe: unexpected %d/%u", r, (unsigned)e);
        }
        if (a.h != INVALID_HANDLE_VALUE) CloseHandle(a.h);
        DisconnectNamedPipe(s);
    }
    NOTE("connect pending %d, ERROR_PIPE_CONNECTED %d, TRUE %d, client never got in %d, pending connect never completed %d", pending, at_once, returned_true, noclient, stuck);
    /* Fixed (was: ConnectNamedPipe started listening under the registry lock, releases it, then reads
     * the instance's change counter; a client that connects in between has already moved the
     * counter, so the pending connect waits for a change that never comes (the client is
     * connected and talking to nobody; the instance is lost to the server). */
    CHECK(stuck == 0, "a client connecting during ConnectNamedPipe completes it (W39) (%d of %d never completed)", stuck, pending);
    /* Fixed (was: when the client arrived between the start of the listen and the first step, the
     * overlapped ConnectNamedPipe returns TRUE. Windows returns FALSE with ERROR_IO_PENDING or
     * ERROR_PIPE_CONNECTED (W39, W40); Microsoft's overlapped and completion-routine servers
     * treat TRUE as a failure ("ConnectNamedPipe returned TRUE") and give up the instance. */
    CHECK(returned_true == 0, "an overlapped ConnectNamedPipe never returns TRUE (W39, W40) (%d times)", returned_true);
    CloseHandle(s);
    CloseHandle(ev);
}

/* ------------------------------------------------------------------------------------------ */
/* One overlapped server thread, 64 instances, WaitForMultipleObjects; client processes connect,
 * talk and disconnect in loops. Every message verified, per connection in order. */

#define NI 64
enum { S_CONNECT, S_READ, S_WRITE };
struct inst {
    HANDLE h;
    OVERLAPPED ov;
    HANDLE ev;
    int state, connected;
    uint32_t stream, next;
    uint8_t buf[8192];
};

/* Messages of connection `conn` of client `id`: 0 (connect and close), or 1..25; every 7th
 * connection closes right after its first message, without reading the reply. */
static int conn_msgs(uint32_t id, uint32_t conn) { return conn % 5 == 4 ? 0 : 1 + (int)(mix(id, conn) % 25); }
static int conn_early(uint32_t conn) { return conn % 7 == 6; }
static uint32_t conn_stream(uint32_t id, uint32_t conn) { return id * 100000u + conn; }

struct mi_stats {
    int finished, msgs, bad, order, dup_stream, more_data, other_err;
    uint8_t *seen; /* by stream */
};

static void mi_begin_connect(struct inst *in, struct mi_stats *st);

static void mi_end_connection(struct inst *in, struct mi_stats *st) {
    if (in->connected) st->finished++;
    in->connected = 0;
    DisconnectNamedPipe(in->h);
    mi_begin_connect(in, st);
}

static void mi_begin_read(struct inst *in, struct mi_stats *st) {
    DWORD n;
    ov_init(&in->ov, in->ev);
    in->state = S_READ;
    if (ReadFile(in->h, in->buf, sizeof in->buf, &n, &in->ov)) return; /* event is set: picked up by the wait */
    DWORD e = GetLastError();
    if (e == ERROR_IO_PENDING || e == ERROR_MORE_DATA) return;
    if (e != ERROR_BROKEN_PIPE && e != ERROR_PIPE_NOT_CONNECTED) {
        st->other_err++;
        printf("  instance read error %u\n", (unsigned)e);
    }
    mi_end_connection(in, st);
}

static void mi_begin_connect(struct inst *in, struct mi_stats *st) {
    for (int tries = 0; tries < 1000; tries++) {
        ov_init(&in->ov, in->ev);
        in->stream = 0xFFFFFFFFu;
        in->next = 0;
        in->state = S_CONNECT;
        if (ConnectNamedPipe(in->h, &in->ov)) {
            in->connected = 1;
            mi_begin_read(in, st);
            return;
        }
        DWORD e = GetLastError();
        if (e == ERROR_IO_PENDING) return;
        if (e == ERROR_PIPE_CONNECTED) {
            in->connected = 1;
            mi_begin_read(in, st);
            return;
        }
        if (e == ERROR_NO_DATA) { /* a client came and went already (W43): read what it wrote (W52) */
            in->connected = 1;
            mi_begin_read(in, st);
            return;
        }
        st->other_err++;
        printf("  connect error %u\n", (unsigned)e);
        return;
    }
}

static void mi_event(struct inst *in, struct mi_stats *st) {
    DWORD n = 0;
    BOOL ok = GetOverlappedResult(in->h, &in->ov, &n, FALSE);
    DWORD e = ok ? 0 : GetLastError();
    if (!ok && e == ERROR_IO_INCOMPLETE) {
        ResetEvent(in->ev); /* cannot happen: one operation per instance */
        st->other_err++;
        return;
    }
    switch (in->state) {
    case S_CONNECT:
        if (!ok) {
            st->other_err++;
            printf("  pending connect failed %u\n", (unsigned)e);
            mi_begin_connect(in, st);
            return;
        }
        in->connected = 1;
        mi_begin_read(in, st);
        return;
    case S_READ: {
        if (!ok) {
            if (e == ERROR_MORE_DATA) st->more_data++;
            else if (e != ERROR_BROKEN_PIPE && e != ERROR_PIPE_NOT_CONNECTED) {
                st->other_err++;
                printf("  read completion error %u\n", (unsigned)e);
            }
            mi_end_connection(in, st);
            return;
        }
        uint32_t sm, sq;
        if (verify(in->buf, n, &sm, &sq) != 0) {
            st->bad++;
            mi_end_connection(in, st);
            return;
        }
        st->msgs++;
        if (in->stream == 0xFFFFFFFFu) {
            in->stream = sm;
            uint32_t k = sm / 100000u * 1000u + sm % 100000u;
            if (k < 64000 && st->seen[k]++) st->dup_stream++;
        } else if (sm != in->stream) {
            st->order++; /* another connection's message */
        }
        if (sq != in->next) st->order++;
        in->next = sq + 1;
        ov_init(&in->ov, in->ev);
        in->state = S_WRITE;
        if (WriteFile(in->h, in->buf, n, &n, &in->ov)) return;
        e = GetLastError();
        if (e == ERROR_IO_PENDING) return;
        mi_end_connection(in, st); /* the client left early (ERROR_NO_DATA) */
        return;
    }
    case S_WRITE:
        if (!ok) {
            mi_end_connection(in, st);
            return;
        }
        mi_begin_read(in, st);
        return;
    }
}

static void t_many_instances(void) {
    const char *name = pname("mi");
    static struct inst I[NI];
    HANDLE evs[NI];
    struct mi_stats st;
    memset(&st, 0, sizeof st);
    st.seen = calloc(64000, 1);
    for (int i = 0; i < NI; i++) {
        I[i].h = mkserver(name, FILE_FLAG_OVERLAPPED, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, PIPE_UNLIMITED_INSTANCES, 4096, 4096);
        if (I[i].h == INVALID_HANDLE_VALUE) {
            CHECK(0, "instance %d", i);
            return;
        }
        I[i].ev = evs[i] = mkev();
        mi_begin_connect(&I[i], &st);
    }
    /* Clients: four that talk (two with synchronous handles, two overlapped) and two that only
     * connect and close. */
    int nconn[6] = {150, 150, 150, 150, 300, 300};
    const char *mode[6] = {"0", "1", "0", "1", "2", "2"};
    pid_t pid[6];
    int expect_conn = 0, expect_msgs = 0;
    for (int k = 0; k < 6; k++) {
        uint32_t id = k + 1;
        pid[k] = spawn_role("echo_client", name, fmt_u(id), fmt_u(nconn[k]), mode[k], NULL);
        expect_conn += nconn[k];
        if (mode[k][0] != '2')
            for (int c = 0; c < nconn[k]; c++) {
                int m = conn_msgs(id, c);
                expect_msgs += (m > 0 && conn_early(c)) ? 1 : m;
            }
    }
    double t0 = now_s(), last = now_s(), last_scan = now_s();
    int alive = 6, stuck = 0;
    int rc[6];
    for (int k = 0; k < 6; k++) rc[k] = -100;
    while (st.finished < expect_conn) {
        STEP("serving: %d of %d connections, %d messages", st.finished, expect_conn, st.msgs);
        DWORD w = WaitForMultipleObjects(NI, evs, FALSE, 200);
        if (w < NI) {
            mi_event(&I[w], &st);
            last = now_s();
        } else if (w != WAIT_TIMEOUT) {
            CHECK(0, "WaitForMultipleObjects: %u", (unsigned)w);
            break;
        }
        for (int k = 0; k < 6; k++)
            if (rc[k] == -100) {
                int stt;
                if (waitpid(pid[k], &stt, WNOHANG) == pid[k]) {
                    rc[k] = WIFEXITED(stt) ? WEXITSTATUS(stt) : 128 + WTERMSIG(stt);
                    alive--;
                }
            }
        if (now_s() - last_scan > 0.5) {
            /* Work around the connect_race bug: an instance whose ConnectNamedPipe stays pending
             * though a client is connected (a listening instance peeks ERROR_BAD_PIPE, W87) is
             * served anyway, so the client is not left waiting. */
            last_scan = now_s();
            for (int i = 0; i < NI; i++) {
                DWORD av;
                if (I[i].state == S_CONNECT && !(PeekNamedPipe(I[i].h, NULL, 0, NULL, &av, NULL) == FALSE && GetLastError() == ERROR_BAD_PIPE)) {
                    DWORD n2;
                    if (!HasOverlappedIoCompleted(&I[i].ov)) {
                        stuck++;
                        CancelIoEx(I[i].h, &I[i].ov);
                        GetOverlappedResult(I[i].h, &I[i].ov, &n2, TRUE);
                        I[i].connected = 1;
                        mi_begin_read(&I[i], &st);
                    }
                }
            }
        }
        if (alive == 0 && now_s() - last > 5) break;
        if (now_s() - t0 > 150) break;
    }
    double dt = now_s() - t0;
    for (int k = 0; k < 6; k++)
        if (rc[k] == -100) rc[k] = wait_child(pid[k], 10000);
    if (stuck) NOTE("%d instance(s) whose pending ConnectNamedPipe never completed though a client connected (the connect_race bug; served anyway)", stuck);
    CHECK(stuck == 0, "no connection lost to a pending ConnectNamedPipe that never completes (W39) (%d)", stuck);
    for (int k = 0; k < 6; k++) CHECK(rc[k] == 0, "client %d: every reply matched its message (exit %d)", k + 1, rc[k]);
    CHECK(st.finished == expect_conn, "every connection seen to its end (%d of %d)", st.finished, expect_conn);
    CHECK(st.msgs == expect_msgs, "every message received once (%d of %d)", st.msgs, expect_msgs);
    CHECK(st.bad == 0, "no corrupted message (%d)", st.bad);
    CHECK(st.order == 0, "per connection: its own messages, in order (%d out of place)", st.order);
    CHECK(st.dup_stream == 0, "no connection's messages seen on two instances (%d)", st.dup_stream);
    CHECK(st.more_data == 0 && st.other_err == 0, "no unexpected errors (more data %d, other %d)", st.more_data, st.other_err);
    NOTE("%d connections, %d round trips in %.1f s", st.finished, st.msgs, dt);
    for (int i = 0; i < NI; i++) CloseHandle(I[i].h);
}

static int role_echo_client(char **argv) {
    const char *name = argv[0];
    uint32_t id = atoi(argv[1]);
    int nconn = atoi(argv[2]);
    int mode = atoi(argv[3]); /* 0 sync handle, 1 overlapped handle, 2 connect and close only */
    uint8_t *out = xmalloc(8192), *in = xmalloc(8192);
    HANDLE ev = mkev();
    int bad = 0;
    for (int c = 0; c < nconn; c++) {
        HANDLE h = mkclient(name, mode == 1 ? FILE_FLAG_OVERLAPPED : 0);
        if (h == INVALID_HANDLE_VALUE) {
            printf("  client %u: cannot open (%u)\n", (unsigned)id, (unsigned)GetLastError());
            return 10;
        }
        set_msg_mode(h);
        int nm = mode == 2 ? 0 : conn_msgs(id, c);
        for (int m = 0; m < nm; m++) {
            uint32_t len = HDR + mix(id * 7919u + c, m) % 4000;
            gen(out, len, conn_stream(id, c), m);
            DWORD n = 0, err = 0;
            BOOL ok;
            OVERLAPPED ov;
            ov_init(&ov, ev);
            ok = WriteFile(h, out, len, &n, mode == 1 ? &ov : NULL);
            if (!ok && mode == 1 && GetLastError() == ERROR_IO_PENDING) ok = ovres(h, &ov, &n, 20000, &err);
            if (!ok || n != len) {
                printf("  client %u conn %d msg %d: write failed %u\n", (unsigned)id, c, m, (unsigned)GetLastError());
                bad++;
                break;
            }
            if (conn_early(c)) break;
            ov_init(&ov, ev);
            ok = ReadFile(h, in, 8192, &n, mode == 1 ? &ov : NULL);
            if (!ok && mode == 1 && GetLastError() == ERROR_IO_PENDING) ok = ovres(h, &ov, &n, 20000, &err);
            if (!ok || n != len || memcmp(in, out, len) != 0) {
                printf("  client %u conn %d msg %d: bad reply (ok %d n %u len %u err %u)\n", (unsigned)id, c, m, ok, (unsigned)n, (unsigned)len, (unsigned)(ok ? 0 : GetLastError()));
                bad++;
                break;
            }
        }
        CloseHandle(h);
    }
    return bad ? 11 : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Messages larger than the quota and the ring (1-8 MiB, ring 64 KiB), several pending on one
 * handle, across two processes. */

#define MIB (1u << 20)

/* The size of message `seq` of a writer: small, ring-sized, or 1-8 MiB. */
static uint32_t msg_size(uint32_t stream, uint32_t seq, uint32_t max) {
    uint32_t r = mix(stream ^ 0x5bd1e995u, seq);
    uint32_t sz;
    switch (seq % 4) {
    case 0: sz = HDR + r % 200; break;
    case 1: sz = 1000 + r % 70000; break;
    default: sz = MIB + r % (7 * MIB); break;
    }
    return sz > max ? max : sz;
}

/* Server writes; the peer reads (synchronously) and acknowledges each round. */
static void t_big_writes(void) {
    const char *name = pname("bw");
    HANDLE s = mkserver(name, FILE_FLAG_OVERLAPPED, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1, 4096, 4096);
    enum { K = 6, ROUNDS = 8 };
    pid_t pid = spawn_role("msg_reader", name, fmt_u(ROUNDS * K), "11", fmt_u(K), NULL);
    HANDLE ev[K], eack = mkev();
    OVERLAPPED ov[K], oack;
    uint8_t *buf[K];
    uint32_t size[K];
    DWORD n = 0, err = 0;
    for (int k = 0; k < K; k++) {
        ev[k] = mkev();
        buf[k] = xmalloc(8 * MIB);
    }
    ov_init(&ov[0], ev[0]);
    BOOL r = ConnectNamedPipe(s, &ov[0]);
    if (!r && GetLastError() == ERROR_IO_PENDING) r = ovres(s, &ov[0], &n, 10000, &err);
    CHECK(r || GetLastError() == ERROR_PIPE_CONNECTED, "reader connects");
    uint32_t seq = 0;
    int order_bad = 0, count_bad = 0, ack_bad = 0;
    for (int round = 0; round < ROUNDS; round++) {
        STEP("round %d: issuing", round);
        uint8_t ack[64];
        ov_init(&oack, eack);
        BOOL ar = ReadFile(s, ack, sizeof ack, &n, &oack);
        CHECK(!ar && GetLastError() == ERROR_IO_PENDING, "round %d: the ack read is pending while the writes stream", round);
        int pend = 0;
        for (int k = 0; k < K; k++) {
            size[k] = (k % 3 == 2) ? HDR + rnd() % 1000 : MIB + rnd() % (7 * MIB);
            gen(buf[k], size[k], 11, seq++);
            ov_init(&ov[k], ev[k]);
            BOOL w = WriteFile(s, buf[k], size[k], &n, &ov[k]);
            if (!w) {
                CHECK(GetLastError() == ERROR_IO_PENDING, "write %d pending (%u)", k, (unsigned)GetLastError());
                pend++;
            }
        }
        /* The first write (1-8 MiB against a 4 KiB quota) is pending when WriteFile returns;
         * later ones may complete at once when the reader has already taken everything before
         * them (W91), which a fast transport makes common. */
        CHECK(pend >= 1, "round %d: the writes queue up (%d pending)", round, pend);
        int done[K] = {0};
        for (int left = K; left > 0;) {
            STEP("round %d: %d writes left", round, left);
            HANDLE wh[K];
            int idx[K], m = 0;
            for (int k = 0; k < K; k++)
                if (!done[k]) {
                    wh[m] = ev[k];
                    idx[m++] = k;
                }
            DWORD w = WaitForMultipleObjects(m, wh, FALSE, 30000);
            if (w >= (DWORD)m) {
                CHECK(0, "round %d: a write never completed (wait %u)", round, (unsigned)w);
                goto out;
            }
            int k = idx[w];
            for (int j = 0; j < k; j++)
                if (!HasOverlappedIoCompleted(&ov[j])) order_bad++;
            if (!ovres(s, &ov[k], &n, 0, &err) || n != size[k]) count_bad++;
            done[k] = 1;
            left--;
        }
        STEP("round %d: waiting for the ack", round);
        if (!ovres(s, &oack, &n, 30000, &err)) {
            ack_bad++;
        } else {
            uint32_t st, sq;
            if (verify(ack, n, &st, &sq) != 0 || st != 12 || sq != (uint32_t)round) ack_bad++;
        }
    }
out:
    if (order_bad) NOTE("%d write(s) completed before an earlier one (the write_order bug)", order_bad);
    CHECK(order_bad == 0, "writes complete in issue order (W93) (%d out of order)", order_bad);
    CHECK(count_bad == 0, "each write reports its whole size (W92) (%d bad)", count_bad);
    CHECK(ack_bad == 0, "the peer acknowledged every round while the writes streamed (%d bad)", ack_bad);
    STEP("flush and close");
    CHECK(FlushFileBuffers(s), "FlushFileBuffers waits until the peer has read everything (W94)");
    CloseHandle(s);
    int rc = wait_child(pid, 30000);
    CHECK(rc == 0, "the reader got every message whole and in order (exit %d)", rc);
    for (int k = 0; k < K; k++) free(buf[k]);
}

static int role_msg_reader(char **argv) {
    const char *name = argv[0];
    uint32_t count = atoi(argv[1]), stream = atoi(argv[2]), ack_every = atoi(argv[3]);
    HANDLE h = mkclient(name, 0);
    if (h == INVALID_HANDLE_VALUE) return 10;
    set_msg_mode(h);
    uint8_t *b = xmalloc(9 * MIB);
    for (uint32_t i = 0; i < count; i++) {
        DWORD n = 0;
        if (!ReadFile(h, b, 9 * MIB, &n, NULL)) {
            printf("  reader: message %u: error %u\n", (unsigned)i, (unsigned)GetLastError());
            return 11;
        }
        uint32_t st, sq;
        int v = verify(b, n, &st, &sq);
        if (v != 0 || st != stream || sq != i) {
            printf("  reader: message %u: verify %d stream %u seq %u n %u\n", (unsigned)i, v, (unsigned)st, (unsigned)sq, (unsigned)n);
            return 12;
        }
        if (ack_every && (i + 1) % ack_every == 0) {
            uint8_t a[32];
            gen(a, 32, stream + 1, i / ack_every);
            if (!write_all_sync(h, a, 32)) return 13;
        }
    }
    DWORD n;
    if (ReadFile(h, b, 16, &n, NULL) || GetLastError() != ERROR_BROKEN_PIPE) {
        printf("  reader: after the last message: %u\n", (unsigned)GetLastError());
        return 14;
    }
    return 0;
}

/* The peer writes 1-8 MiB messages; here four overlapped reads stay pending while two threads
 * read the same handle with plain ReadFile, and an unrelated synchronous pipe carries big
 * messages between two more threads. Every message arrives whole, exactly once. */
struct big_rd {
    HANDLE h;
    uint8_t *buf;
    volatile int *count;
    uint8_t *got;
    int nmsgs, order_bad, bad, reads;
};
static void *big_sync_reader(void *p) {
    struct big_rd *a = p;
    int last = -1;
    for (;;) {
        DWORD n = 0;
        if (!ReadFile(a->h, a->buf, 9 * MIB, &n, NULL)) break;
        uint32_t st, sq;
        if (verify(a->buf, n, &st, &sq) != 0 || st != 21 || sq >= (uint32_t)a->nmsgs) {
            a->bad++;
            continue;
        }
        if ((int)sq <= last) a->order_bad++;
        last = sq;
        __sync_fetch_and_add(&a->got[sq], 1);
        __sync_fetch_and_add(a->count, 1);
        a->reads++;
    }
    return NULL;
}

struct sync_pair_arg {
    HANDLE h;
    int n, bad;
};
static void *sync_pair_writer(void *p) {
    struct sync_pair_arg *a = p;
    uint8_t *b = xmalloc(3 * MIB);
    for (int i = 0; i < a->n; i++) {
        uint32_t len = MIB + (uint32_t)(mix(5, i) % (2 * MIB));
        gen(b, len, 55, i);
        if (!write_all_sync(a->h, b, len)) a->bad++;
    }
    free(b);
    return NULL;
}
static void *sync_pair_reader(void *p) {
    struct sync_pair_arg *a = p;
    uint8_t *b = xmalloc(3 * MIB);
    for (int i = 0; i < a->n; i++) {
        DWORD n = 0;
        uint32_t st, sq;
        if (!ReadFile(a->h, b, 3 * MIB, &n, NULL) || verify(b, n, &st, &sq) != 0 || st != 55 || sq != (uint32_t)i) a->bad++;
    }
    free(b);
    return NULL;
}

static void t_big_reads(void) {
    const char *name = pname("br");
    HANDLE s = mkserver(name, FILE_FLAG_OVERLAPPED, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1, 4096, 4096);
    enum { NM = 80, K = 4 };
    pid_t pid = spawn_role("msg_writer", name, fmt_u(NM), "21", fmt_u(8 * MIB), NULL);
    DWORD n = 0, err = 0;
    HANDLE ev[K];
    OVERLAPPED ov[K];
    uint8_t *buf[K];
    for (int k = 0; k < K; k++) {
        ev[k] = mkev();
        buf[k] = xmalloc(9 * MIB);
    }
    ov_init(&ov[0], ev[0]);
    BOOL r = ConnectNamedPipe(s, &ov[0]);
    if (!r && GetLastError() == ERROR_IO_PENDING) r = ovres(s, &ov[0], &n, 10000, &err);
    CHECK(r || GetLastError() == ERROR_PIPE_CONNECTED, "writer connects");

    /* The unrelated synchronous pipe. */
    HANDLE ps, pc;
    mkpair("brs", PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 4096, 0, 0, &ps, &pc);
    static struct sync_pair_arg spw, spr;
    spw.h = ps;
    spw.n = spr.n = 12;
    spr.h = pc;
    pthread_t tw, tr;
    pthread_create(&tw, NULL, sync_pair_writer, &spw);
    pthread_create(&tr, NULL, sync_pair_reader, &spr);

    static volatile int count;
    static uint8_t got[NM];
    static struct big_rd sr[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        sr[i].h = s;
        sr[i].buf = xmalloc(9 * MIB);
        sr[i].count = &count;
        sr[i].got = got;
        sr[i].nmsgs = NM;
        pthread_create(&th[i], NULL, big_sync_reader, &sr[i]);
    }
    int head = 0, issued = 0, main_reads = 0, bad = 0, order_bad = 0, fifo_bad = 0, last = -1;
    for (int k = 0; k < K; k++) {
        ov_init(&ov[k], ev[k]);
        BOOL rr = ReadFile(s, buf[k], 9 * MIB, &n, &ov[k]);
        if (!rr && GetLastError() != ERROR_IO_PENDING) CHECK(0, "read %d: %u", k, (unsigned)GetLastError());
        issued++;
    }
    double end = now_s() + 60;
    while (count < NM && now_s() < end) {
        STEP("%d of %d messages", count, NM);
        int k = head % K;
        BOOL ok = ovres(s, &ov[k], &n, 200, &err);
        if (!ok && err == WAIT_TIMEOUT) {
            for (int j = 1; j < K; j++)
                if (HasOverlappedIoCompleted(&ov[(head + j) % K]) && !HasOverlappedIoCompleted(&ov[k])) fifo_bad++;
            continue;
        }
        if (!ok) {
            CHECK(0, "overlapped read failed: %u", (unsigned)err);
            break;
        }
        uint32_t st, sq;
        if (verify(buf[k], n, &st, &sq) != 0 || st != 21 || sq >= NM) {
            bad++;
        } else {
            if ((int)sq <= last) order_bad++;
            last = sq;
            __sync_fetch_and_add(&got[sq], 1);
            __sync_fetch_and_add(&count, 1);
            main_reads++;
        }
        head++;
        ov_init(&ov[k], ev[k]);
        BOOL rr = ReadFile(s, buf[k], 9 * MIB, &n, &ov[k]);
        if (!rr && GetLastError() != ERROR_IO_PENDING) CHECK(0, "reissue: %u", (unsigned)GetLastError());
    }
    CHECK(count == NM, "every message arrived (%d of %d)", count, NM);
    STEP("ack and wind down");
    {
        OVERLAPPED oa;
        ov_init(&oa, mkev());
        DWORD w;
        BOOL ok = WriteFile(s, "k", 1, &w, &oa);
        if (!ok && GetLastError() == ERROR_IO_PENDING) ok = ovres(s, &oa, &w, 5000, &err);
        CHECK(ok, "ack the writer");
    }
    int rc = wait_child(pid, 20000);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int k = 0; k < K; k++) {
        BOOL ok = ovres(s, &ov[k], &n, 5000, &err);
        CHECK(!ok && err == ERROR_BROKEN_PIPE, "the reads left pending end with ERROR_BROKEN_PIPE when the writer leaves (err %u)", (unsigned)err);
    }
    pthread_join(tw, NULL);
    pthread_join(tr, NULL);
    int dup = 0, missing = 0;
    for (int i = 0; i < NM; i++) {
        if (got[i] == 0) missing++;
        if (got[i] > 1) dup++;
    }
    CHECK(rc == 0, "writer exit %d", rc);
    CHECK(bad + sr[0].bad + sr[1].bad == 0, "no torn or corrupted message (%d, %d, %d)", bad, sr[0].bad, sr[1].bad);
    CHECK(dup == 0 && missing == 0, "each message read exactly once (%d twice, %d missing)", dup, missing);
    CHECK(order_bad + sr[0].order_bad + sr[1].order_bad == 0, "each reader sees increasing sequence numbers");
    CHECK(fifo_bad == 0, "pending overlapped reads complete in issue order (W66) (%d)", fifo_bad);
    CHECK(spw.bad == 0 && spr.bad == 0, "the unrelated synchronous pipe carried its 12 messages intact meanwhile");
    NOTE("overlapped reads took %d messages, plain ReadFile threads %d and %d", main_reads, sr[0].reads, sr[1].reads);
    CloseHandle(s);
    CloseHandle(ps);
    CloseHandle(pc);
}

static int role_msg_writer(char **argv) {
    const char *name = argv[0];
    uint32_t count = atoi(argv[1]), stream = atoi(argv[2]), max = atoi(argv[3]);
    HANDLE h = mkclient(name, 0);
    if (h == INVALID_HANDLE_VALUE) return 10;
    set_msg_mode(h);
    uint8_t *b = xmalloc(max);
    for (uint32_t i = 0; i < count; i++) {
        uint32_t len = msg_size(stream, i, max);
        gen(b, len, stream, i);
        if (!write_all_sync(h, b, len)) {
            printf("  writer: message %u: error %u\n", (unsigned)i, (unsigned)GetLastError());
            return 11;
        }
    }
    DWORD n;
    if (!ReadFile(h, b, 1, &n, NULL)) return 12; /* the ack */
    return 0;
}

/* Both ends at once: three writes and three reads pending on each end, messages up to 4 MiB,
 * both processes overlapped. */
static int duplex_run(HANDLE h, int nmsg, uint32_t sout, uint32_t sin, int *fifo_bad, int *wfifo_bad) {
    enum { K = 3 };
    HANDLE ew[K], er[K];
    OVERLAPPED ow[K], orr[K];
    uint8_t *wb[K], *rb[K];
    uint32_t wlen[K];
    for (int k = 0; k < K; k++) {
        ew[k] = mkev();
        er[k] = mkev();
        wb[k] = xmalloc(4 * MIB);
        rb[k] = xmalloc(4 * MIB + 64);
    }
    int wnext = 0, wdone = 0, rnext = 0, rdone = 0, bad = 0;
    DWORD n, err;
    /* slots: write i uses slot i % K; at most K in flight */
    double end = now_s() + 60;
    while ((wdone < nmsg || rdone < nmsg) && now_s() < end) {
        while (wnext < nmsg && wnext - wdone < K) {
            int k = wnext % K;
            wlen[k] = (wnext % 3 == 0) ? 65536 + mix(sout, wnext) % (4 * MIB - 65536) : HDR + mix(sout, wnext) % 65536;
            gen(wb[k], wlen[k], sout, wnext);
            ov_init(&ow[k], ew[k]);
            if (!WriteFile(h, wb[k], wlen[k], &n, &ow[k]) && GetLastError() != ERROR_IO_PENDING) {
                printf("  duplex write %d: %u\n", wnext, (unsigned)GetLastError());
                return 20;
            }
            wnext++;
        }
        while (rnext < nmsg && rnext - rdone < K) {
            int k = rnext % K;
            ov_init(&orr[k], er[k]);
            if (!ReadFile(h, rb[k], 4 * MIB + 64, &n, &orr[k]) && GetLastError() != ERROR_IO_PENDING) {
                printf("  duplex read %d: %u\n", rnext, (unsigned)GetLastError());
                return 21;
            }
            rnext++;
        }
        int progressed = 0;
        if (wdone < wnext && HasOverlappedIoCompleted(&ow[wdone % K])) {
            int k = wdone % K;
            if (!ovres(h, &ow[k], &n, 0, &err) || n != wlen[k]) {
                printf("  duplex write %d result %u n %u\n", wdone, (unsigned)err, (unsigned)n);
                bad++;
            }
            wdone++;
            progressed = 1;
        }
        if (rdone < rnext && HasOverlappedIoCompleted(&orr[rdone % K])) {
            int k = rdone % K;
            uint32_t st, sq;
            if (!ovres(h, &orr[k], &n, 0, &err) || verify(rb[k], n, &st, &sq) != 0 || st != sin || sq != (uint32_t)rdone) {
                printf("  duplex read %d: err %u n %u\n", rdone, (unsigned)err, (unsigned)n);
                bad++;
            }
            rdone++;
            progressed = 1;
        }
        if (progressed) continue;
        for (int j = wdone + 1; j < wnext; j++)
            if (HasOverlappedIoCompleted(&ow[j % K]) && !HasOverlappedIoCompleted(&ow[wdone % K])) (*wfifo_bad)++;
        for (int j = rdone + 1; j < rnext; j++)
            if (HasOverlappedIoCompleted(&orr[j % K]) && !HasOverlappedIoCompleted(&orr[rdone % K])) (*fifo_bad)++;
        HANDLE wh[2];
        int m = 0;
        if (wdone < wnext) wh[m++] = ew[wdone % K];
        if (rdone < rnext) wh[m++] = er[rdone % K];
        if (m) WaitForMultipleObjects(m, wh, FALSE, 100);
    }
    if (wdone < nmsg || rdone < nmsg) {
        printf("  duplex: stalled at writes %d/%d reads %d/%d\n", wdone, nmsg, rdone, nmsg);
        return 22;
    }
    return bad ? 23 : 0;
}

static void t_duplex_big(void) {
    const char *name = pname("dx");
    HANDLE s = mkserver(name, FILE_FLAG_OVERLAPPED, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1, 4096, 4096);
    pid_t pid = spawn_role("duplex", name, "200", NULL);
    OVERLAPPED o;
    DWORD n = 0, err = 0;
    ov_init(&o, mkev());
    BOOL r = ConnectNamedPipe(s, &o);
    if (!r && GetLastError() == ERROR_IO_PENDING) r = ovres(s, &o, &n, 10000, &err);
    CHECK(r || GetLastError() == ERROR_PIPE_CONNECTED, "peer connects");
    STEP("duplex traffic");
    int fifo_bad = 0, wfifo_bad = 0;
    int rc = duplex_run(s, 200, 30, 31, &fifo_bad, &wfifo_bad);
    CHECK(rc == 0, "this end sent and received 200 messages each way, intact and in order (%d)", rc);
    CHECK(fifo_bad == 0, "reads complete in issue order (W66) (%d)", fifo_bad);
    if (wfifo_bad) NOTE("%d time(s) a write was seen complete before an earlier one (the write_order bug)", wfifo_bad);
    CHECK(wfifo_bad == 0, "writes complete in issue order (W93) (%d)", wfifo_bad);
    FlushFileBuffers(s);
    CloseHandle(s);
    int prc = wait_child(pid, 30000);
    CHECK(prc == 0, "so did the peer (exit %d)", prc);
}

static int role_duplex(char **argv) {
    HANDLE h = mkclient(argv[0], FILE_FLAG_OVERLAPPED);
    if (h == INVALID_HANDLE_VALUE) return 10;
    set_msg_mode(h);
    int fifo_bad = 0, wfifo_bad = 0;
    int rc = duplex_run(h, atoi(argv[1]), 31, 30, &fifo_bad, &wfifo_bad);
    if (fifo_bad || wfifo_bad) {
        printf("  duplex peer: %d reads, %d writes seen completing out of issue order\n", fifo_bad, wfifo_bad);
        if (!rc) rc = 24;
    }
    FlushFileBuffers(h);
    DWORD n;
    char b[4];
    OVERLAPPED o;
    ov_init(&o, mkev());
    ReadFile(h, b, 4, &n, NULL); /* until the server closes */
    return rc;
}

/* A byte stream of 16 MiB: several writes and several reads of random sizes pending on each
 * side; the bytes arrive in order (W58, W65, W66). */
static void t_byte_stream(void) {
    const char *name = pname("bs");
    HANDLE s = mkserver(name, FILE_FLAG_OVERLAPPED, PIPE_TYPE_BYTE, 1, 4096, 4096);
    uint32_t total = 16 * MIB;
    pid_t pid = spawn_role("byte_writer", name, fmt_u(total), NULL);
    OVERLAPPED o;
    DWORD n = 0, err = 0;
    ov_init(&o, mkev());
    BOOL r = ConnectNamedPipe(s, &o);
    if (!r && GetLastError() == ERROR_IO_PENDING) r = ovres(s, &o, &n, 10000, &err);
    CHECK(r || GetLastError() == ERROR_PIPE_CONNECTED, "writer connects");
    enum { K = 5 };
    HANDLE ev[K];
    OVERLAPPED ov[K];
    uint8_t *buf[K];
    uint32_t want[K];
    for (int k = 0; k < K; k++) {
        ev[k] = mkev();
        buf[k] = xmalloc(200000);
    }
    uint64_t at = 0;
    int issued = 0, done = 0, bad = 0, fifo_bad = 0, reads = 0, eof = 0;
    while (at < total) {
        STEP("at %llu of %u", (unsigned long long)at, (unsigned)total);
        while (!eof && issued - done < K) {
            int k = issued % K;
            want[k] = 1 + rnd() % 200000;
            ov_init(&ov[k], ev[k]);
            if (!ReadFile(s, buf[k], want[k], &n, &ov[k]) && GetLastError() != ERROR_IO_PENDING) {
                /* The writer is gone and every byte is already taken by the reads before
                 * this one: ERROR_BROKEN_PIPE at once (W101). */
                if (GetLastError() != ERROR_BROKEN_PIPE) CHECK(0, "read: %u", (unsigned)GetLastError());
                eof = 1;
                break;
            }
            issued++;
        }
        if (done == issued) break;
        int k = done % K;
        BOOL ok = ovres(s, &ov[k], &n, 20000, &err);
        for (int j = done + 1; j < issued; j++)
            if (HasOverlappedIoCompleted(&ov[j % K]) && !HasOverlappedIoCompleted(&ov[k])) fifo_bad++;
        if (!ok) {
            CHECK(0, "read at %llu: %u", (unsigned long long)at, (unsigned)err);
            goto out;
        }
        if (n == 0 || n > want[k] || stream_check(buf[k], n, 77, at) >= 0) bad++;
        at += n;
        done++;
        reads++;
    }
out:
    CHECK(at == total && bad == 0, "16 MiB arrive in order, every byte right (%llu, %d bad reads)", (unsigned long long)at, bad);
    CHECK(fifo_bad == 0, "pending reads complete in issue order (W66) (%d)", fifo_bad);
    int rc = wait_child(pid, 20000);
    CHECK(rc == 0, "writer: its writes completed in order with their sizes (exit %d)", rc);
    for (int j = done; j < issued; j++) {
        BOOL ok = ovres(s, &ov[j % K], &n, 5000, &err);
        CHECK(!ok && err == ERROR_BROKEN_PIPE, "reads left pending: ERROR_BROKEN_PIPE once the writer is gone (err %u)", (unsigned)err);
    }
    NOTE("%d reads", reads);
    CloseHandle(s);
}

static int role_byte_writer(char **argv) {
    HANDLE h = mkclient(argv[0], FILE_FLAG_OVERLAPPED);
    if (h == INVALID_HANDLE_VALUE) return 10;
    uint32_t total = atoi(argv[1]);
    enum { K = 4 };
    HANDLE ev[K];
    OVERLAPPED ov[K];
    uint8_t *buf[K];
    uint32_t len[K];
    for (int k = 0; k < K; k++) {
        ev[k] = mkev();
        buf[k] = xmalloc(300000);
    }
    uint64_t at = 0;
    int issued = 0, done = 0, bad = 0;
    DWORD n, err;
    while (done < issued || at < total) {
        while (issued - done < K && at < total) {
            int k = issued % K;
            len[k] = 1 + rnd() % 300000;
            if (at + len[k] > total) len[k] = (uint32_t)(total - at);
            stream_fill(buf[k], len[k], 77, at);
            at += len[k];
            ov_init(&ov[k], ev[k]);
            if (!WriteFile(h, buf[k], len[k], &n, &ov[k]) && GetLastError() != ERROR_IO_PENDING) return 11;
            issued++;
        }
        int k = done % K;
        for (int j = done + 1; j < issued; j++)
            if (HasOverlappedIoCompleted(&ov[j % K]) && !HasOverlappedIoCompleted(&ov[k])) bad++; /* W93 */
        if (!ovres(h, &ov[k], &n, 20000, &err) || n != len[k]) bad++;
        done++;
    }
    FlushFileBuffers(h);
    return bad ? 12 : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Cancel storms while data flows between two processes */

struct storm {
    HANDLE h;
    OVERLAPPED *target;
    volatile int stop;
    int calls, hits;
};
static void *storm_thread(void *p) {
    struct storm *st = p;
    while (!st->stop) {
        usleep_(rnd() % 400);
        BOOL r = (rnd() % 4 == 0 && st->target) ? CancelIoEx(st->h, st->target) : CancelIoEx(st->h, NULL);
        st->calls++;
        if (r) st->hits++;
        else if (GetLastError() != ERROR_NOT_FOUND) {
            printf("  CancelIoEx: unexpected error %u\n", (unsigned)GetLastError());
            st->stop = 2;
        }
        if (rnd() % 8 == 0) CancelIo(st->h); /* this thread issued nothing: a no-op */
    }
    return NULL;
}

static void t_cancel_read_storm(void) {
    const char *name = pname("crs");
    HANDLE s = mkserver(name, FILE_FLAG_OVERLAPPED, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1, 4096, 4096);
    enum { NM = 800 };
    uint32_t maxlen = 300000;
    pid_t pid = spawn_role("msg_writer", name, fmt_u(NM), "51", fmt_u(maxlen), NULL);
    HANDLE ev = mkev();
    static OVERLAPPED ov;
    DWORD n = 0, err = 0;
    ov_init(&ov, ev);
    BOOL r = ConnectNamedPipe(s, &ov);
    if (!r && GetLastError() == ERROR_IO_PENDING) r = ovres(s, &ov, &n, 10000, &err);
    CHECK(r || GetLastError() == ERROR_PIPE_CONNECTED, "writer connects");
    static struct storm st;
    st.h = s;
    st.target = &ov;
    pthread_t th;
    pthread_create(&th, NULL, storm_thread, &st);
    uint8_t *acc = xmalloc(maxlen + 64), *rb = xmalloc(maxlen + 64);
    uint32_t acc_len = 0, next = 0;
    int aborted = 0, aborted_with_bytes = 0, partial = 0, bad = 0, other = 0, reads = 0;
    double end = now_s() + 90;
    while (next < NM && now_s() < end) {
        STEP("message %u, %d reads, %d cancelled", (unsigned)next, reads, aborted);
        ov_init(&ov, ev);
        r = ReadFile(s, rb, maxlen + 64, &n, &ov);
        DWORD e = r ? 0 : GetLastError();
        reads++;
        if (!r && e != ERROR_IO_PENDING && e != ERROR_MORE_DATA) {
            other++;
            printf("  read issue error %u\n", (unsigned)e);
            break;
        }
        BOOL ok = ovres(s, &ov, &n, 20000, &err);
        if (!ok && err == WAIT_TIMEOUT) {
            CHECK(0, "a read never completed");
            break;
        }
        if (ok || err == ERROR_MORE_DATA) {
            if (acc_len + n > maxlen + 64) {
                bad++;
                acc_len = 0;
                continue;
            }
            memcpy(acc + acc_len, rb, n);
            acc_len += n;
            if (!ok) {
                partial++;
                continue;
            }
            uint32_t sm, sq;
            if (verify(acc, acc_len, &sm, &sq) != 0 || sm != 51 || sq != next) {
                bad++;
                printf("  message %u: bad (len %u, seq %u)\n", (unsigned)next, (unsigned)acc_len, (unsigned)sq);
                if (bad > 5) break;
            }
            next++;
            acc_len = 0;
        } else if (err == ERROR_OPERATION_ABORTED) {
            aborted++;
            if (n != 0) aborted_with_bytes++;
        } else {
            other++;
            printf("  read error %u\n", (unsigned)err);
            break;
        }
    }
    st.stop = 1;
    pthread_join(th, NULL);
    CHECK(next == NM, "all %d messages received through the storm (%u)", NM, (unsigned)next);
    CHECK(bad == 0, "every message whole, intact, in order, none lost or twice (%d bad)", bad);
    CHECK(aborted_with_bytes == 0 && other == 0, "cancelled reads report 0 bytes (W97); no other errors (%d, %d)", aborted_with_bytes, other);
    CHECK(st.stop == 1, "CancelIoEx only ever failed with ERROR_NOT_FOUND");
    NOTE("%d reads, %d cancelled, %d completed with part of a message, %d CancelIoEx calls (%d found something)", reads, aborted, partial, st.calls, st.hits);
    /* Deviation: a cancelled read that had already taken part of a message streaming through
     * the ring completes with that part (ERROR_MORE_DATA) although its buffer is larger than
     * any message. On Windows a read is satisfied whole or cancelled with 0 bytes (W97). */
    CHECK(partial == 0, "a read with a buffer larger than every message never returns part of one (W97) (%d did)", partial);
    OVERLAPPED oa;
    ov_init(&oa, mkev());
    DWORD w;
    BOOL ak = WriteFile(s, "k", 1, &w, &oa);
    if (!ak && GetLastError() == ERROR_IO_PENDING) ak = ovres(s, &oa, &w, 5000, &err);
    int rc = wait_child(pid, 20000);
    CHECK(rc == 0, "writer exit %d", rc);
    CloseHandle(s);
}

static int cancel_write_storm(uint32_t maxlen) {
    const char *name = pname("cws");
    HANDLE s = mkserver(name, FILE_FLAG_OVERLAPPED, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1, 4096, 4096);
    enum { NM = 800, K = 3 };
    char outfile[128];
    snprintf(outfile, sizeof outfile, "/tmp/npipe-adv-sink-%d", (int)getpid());
    pid_t pid = spawn_role("msg_sink", name, outfile, fmt_u(maxlen), NULL);
    DWORD n = 0, err = 0;
    HANDLE ev[K];
    static OVERLAPPED ov[K];
    uint8_t *buf[K];
    uint32_t len[K];
    for (int k = 0; k < K; k++) {
        ev[k] = mkev();
        buf[k] = xmalloc(maxlen);
    }
    ov_init(&ov[0], ev[0]);
    BOOL r = ConnectNamedPipe(s, &ov[0]);
    if (!r && GetLastError() == ERROR_IO_PENDING) r = ovres(s, &ov[0], &n, 10000, &err);
    CHECK(r || GetLastError() == ERROR_PIPE_CONNECTED, "reader connects");
    static struct storm st;
    memset(&st, 0, sizeof st);
    st.h = s;
    pthread_t th;
    pthread_create(&th, NULL, storm_thread, &st);
    static uint8_t outcome[NM]; /* 1 ok, 2 cancelled, 3 other */
    memset(outcome, 0, sizeof outcome);
    int issued = 0, done = 0, aborted_bytes = 0, fifo_bad = 0, nfail = 0;
    while (done < NM) {
        STEP("write %d", done);
        while (issued < NM && issued - done < K) {
            int k = issued % K;
            len[k] = msg_size(61, issued, maxlen);
            gen(buf[k], len[k], 61, issued);
            ov_init(&ov[k], ev[k]);
            if (!WriteFile(s, buf[k], len[k], &n, &ov[k]) && GetLastError() != ERROR_IO_PENDING) {
                outcome[issued] = 3;
                if (nfail++ < 3) printf("  write %d: issue error %u\n", issued, (unsigned)GetLastError());
                ov[k].Internal = 0xFFFFFFFF; /* mark: failed at once */
            }
            issued++;
        }
        int k = done % K;
        if (ov[k].Internal == 0xFFFFFFFF) {
            done++;
            continue;
        }
        BOOL ok = ovres(s, &ov[k], &n, 20000, &err);
        for (int j = done + 1; j < issued; j++)
            if (HasOverlappedIoCompleted(&ov[j % K]) && (DWORD)ov[j % K].Internal == 0 && !HasOverlappedIoCompleted(&ov[k])) fifo_bad++;
        if (ok && n == len[k]) outcome[done] = 1;
        else if (!ok && err == ERROR_OPERATION_ABORTED) {
            outcome[done] = 2;
            if (n != 0) aborted_bytes++;
        } else {
            outcome[done] = 3;
            if (nfail++ < 3) printf("  write %d: ok %d n %u err %u\n", done, ok, (unsigned)n, (unsigned)err);
            if (!ok && err == WAIT_TIMEOUT) break;
        }
        done++;
    }
    st.stop = 1;
    pthread_join(th, NULL);
    STEP("flush and close");
    CHECK(FlushFileBuffers(s), "flush");
    CloseHandle(s);
    int rc = wait_child(pid, 30000);
    CHECK(rc == 0, "the reader saw only whole, intact messages (W98, W103) (exit %d)", rc);
    FILE *f = fopen(outfile, "rb");
    static uint32_t got[NM + 16];
    int ngot = f ? (int)fread(got, 4, NM + 16, f) : -1;
    if (f) fclose(f);
    unlink(outfile);
    CHECK(ngot >= 0, "the reader's list");
    static uint8_t seen[NM];
    memset(seen, 0, sizeof seen);
    int order_bad = 0, dup = 0, aborted_delivered = 0, ok_lost = 0, nok = 0, nab = 0, nother = 0;
    for (int i = 0; i < ngot; i++) {
        if (got[i] >= NM) {
            order_bad++;
            continue;
        }
        if (i && got[i] <= got[i - 1]) order_bad++;
        if (seen[got[i]]++) dup++;
    }
    for (int i = 0; i < NM; i++) {
        if (outcome[i] == 1) nok++;
        if (outcome[i] == 2) nab++;
        if (outcome[i] == 3) nother++;
        if (outcome[i] == 1 && !seen[i]) ok_lost++;
        if (outcome[i] == 2 && seen[i]) aborted_delivered++;
    }
    NOTE("%d writes completed, %d cancelled, %d other; reader got %d; %d CancelIoEx calls found something %d times", nok, nab, nother, ngot, st.calls, st.hits);
    CHECK(nother == 0, "every write completed or was cancelled (%d other)", nother);
    CHECK(aborted_bytes == 0, "cancelled writes report 0 bytes (W98)");
    CHECK(order_bad == 0 && dup == 0, "the reader got messages in order, none twice (%d, %d)", order_bad, dup);
    CHECK(ok_lost == 0, "every completed write was delivered (%d lost)", ok_lost);
    if (fifo_bad) NOTE("%d time(s) a write was seen complete before an earlier one (the write_order bug)", fifo_bad);
    CHECK(fifo_bad == 0, "writes complete in issue order (W93) (%d)", fifo_bad);
    if (aborted_delivered) NOTE("%d write(s) reported ERROR_OPERATION_ABORTED yet delivered", aborted_delivered);
    /* Fixed (about 1 in 3,000 cancels in this storm): a CancelIoEx that landed in the few
     * instructions between the reader's last check for a withdrawal and its consume of the
     * message was reported ERROR_OPERATION_ABORTED although the reader got the message. The
     * reader and the cancel now claim such a record (docs/DESIGN.md, "Withdrawal"). Windows
     * removes a cancelled write's data (W98), and a write it reports done was delivered. */
    CHECK(aborted_delivered == 0, "no write reports ERROR_OPERATION_ABORTED and is delivered anyway (W98) (%d)", aborted_delivered);
    return rc;
}

/* Messages that fit the ring (no streaming): what the default build holds the library to. */
static void t_cancel_write_storm(void) { cancel_write_storm(60000); }

/* Fixed (was a data corruption): messages larger than the ring. When a streaming write is cancelled
 * (its record cut short) while a synchronous reader is copying that message, the reader checks
 * for the cut before it reads the ring's tail; the next write's records, published right after
 * the cut, are then copied as the rest of the cancelled message: ReadFile returns TRUE with a
 * message whose first ~64 KiB belong to the cancelled write and the rest to the messages after
 * it (which are lost), and the reader's framing is broken from then on. */
static void t_cancel_write_storm_big(void) {
    /* The corruption shows in about half the runs of one storm: up to four storms. */
    for (int round = 0; round < 4; round++)
        if (cancel_write_storm(300000) != 0) break;
}


static int role_msg_sink(char **argv) {
    HANDLE h = mkclient(argv[0], 0);
    if (h == INVALID_HANDLE_VALUE) return 10;
    set_msg_mode(h);
    uint32_t maxlen = atoi(argv[2]);
    uint8_t *b = xmalloc(maxlen + 64);
    static uint32_t seqs[100000];
    int n = 0, corrupt = 0;
    for (;;) {
        DWORD got = 0;
        BOOL ok = ReadFile(h, b, maxlen + 64, &got, NULL);
        if (!ok && GetLastError() == ERROR_BROKEN_PIPE) break;
        if (!ok && GetLastError() != ERROR_MORE_DATA) {
            printf("  sink: read error %u after %d messages\n", (unsigned)GetLastError(), n);
            corrupt++;
            break;
        }
        uint32_t st = 0, sq = 0;
        DWORD e = ok ? 0 : GetLastError();
        int v = ok ? verify(b, got, &st, &sq) : -10;
        if (v != 0) {
            corrupt++;
            uint32_t h[4] = {0, 0, 0, 0};
            if (got >= 16) memcpy(h, b, 16);
            printf("  sink: bad message after seq %d (#%d): ok %d err %u n %u verify %d header magic %#x stream %u seq %u len %u\n", n ? (int)seqs[n - 1] : -1, n, ok, (unsigned)e, (unsigned)got, v, (unsigned)h[0], (unsigned)h[1], (unsigned)h[2], (unsigned)h[3]);
            if (h[0] == MAGIC && h[3] <= maxlen + 64) {
                uint8_t *x = xmalloc(h[3]);
                gen(x, h[3], h[1], h[2]);
                uint32_t k = 0, lim = got < h[3] ? got : h[3];
                while (k < lim && x[k] == b[k]) k++;
                printf("  sink: first wrong byte at %u of %u\n", (unsigned)k, (unsigned)h[3]);
                /* where does the tail come from: another message's header inside? */
                for (uint32_t q = 8; q + 16 <= got; q += 8) {
                    uint32_t hh[4];
                    memcpy(hh, b + q, 16);
                    if (hh[0] == MAGIC) {
                        printf("  sink: a header at offset %u: stream %u seq %u len %u\n", (unsigned)q, (unsigned)hh[1], (unsigned)hh[2], (unsigned)hh[3]);
                        break;
                    }
                }
                free(x);
            }
            if (!ok && e != ERROR_MORE_DATA) break;
            continue;
        }
        if (n < 100000) seqs[n++] = sq;
    }
    FILE *f = fopen(argv[1], "wb");
    if (!f) return 11;
    fwrite(seqs, 4, n, f);
    fclose(f);
    return corrupt ? 12 : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The peer process killed (SIGKILL) or exiting with I/O pending */

static BOOL connect_wait(HANDLE s, DWORD ms) {
    OVERLAPPED o;
    DWORD n, err;
    ov_init(&o, mkev());
    BOOL r = ConnectNamedPipe(s, &o);
    if (!r && GetLastError() == ERROR_IO_PENDING) r = ovres(s, &o, &n, ms, &err);
    else if (!r && GetLastError() == ERROR_PIPE_CONNECTED) r = TRUE;
    CloseHandle(o.hEvent);
    return r;
}

static BOOL read_wait(HANDLE h, void *b, DWORD size, DWORD *n, DWORD ms, DWORD *err) {
    OVERLAPPED o;
    ov_init(&o, mkev());
    BOOL r = ReadFile(h, b, size, n, &o);
    *err = r ? 0 : GetLastError();
    if (!r && (*err == ERROR_IO_PENDING || *err == ERROR_MORE_DATA)) r = ovres(h, &o, n, ms, err);
    CloseHandle(o.hEvent);
    return r;
}

static void t_kill_peer(void) {
    DWORD n = 0, err = 0;
    char buf[128];

    STEP("peer killed: pending ReadFile and ReadFileEx");
    const char *name = pname("kp1");
    HANDLE s = mkserver(name, FILE_FLAG_OVERLAPPED, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1, 4096, 4096);
    pid_t pid = spawn_role("sleeper", name, NULL);
    CHECK(connect_wait(s, 10000), "peer connects");
    CHECK(read_wait(s, buf, sizeof buf, &n, 10000, &err) && n == 5, "ready");
    OVERLAPPED o1;
    ov_init(&o1, mkev());
    static struct cr cr;
    memset(&cr, 0, sizeof cr);
    static char b2[64];
    CHECK(!ReadFile(s, buf, sizeof buf, &n, &o1) && GetLastError() == ERROR_IO_PENDING, "read pending");
    CHECK(ReadFileEx(s, b2, sizeof b2, &cr.ov, cr_done), "ReadFileEx pending");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    double t0 = now_s();
    BOOL r = ovres(s, &o1, &n, 5000, &err);
    CHECK(!r && err == ERROR_BROKEN_PIPE && n == 0, "the pending read: ERROR_BROKEN_PIPE, 0 (W101) (err %u, %.0f ms)", (unsigned)err, (now_s() - t0) * 1000);
    while (!cr.ran && now_s() - t0 < 5) SleepEx(100, TRUE);
    CHECK(cr.ran == 1 && cr.err == ERROR_BROKEN_PIPE, "the ReadFileEx routine: ERROR_BROKEN_PIPE (W101) (err %u)", (unsigned)cr.err);
    ov_init(&o1, o1.hEvent);
    CHECK(!WriteFile(s, "x", 1, &n, &o1) && GetLastError() == ERROR_NO_DATA, "writing to the dead peer: ERROR_NO_DATA (W50, W114)");
    CHECK(DisconnectNamedPipe(s), "disconnect (W50)");
    HANDLE c = INVALID_HANDLE_VALUE;
    ov_init(&o1, o1.hEvent);
    CHECK(!ConnectNamedPipe(s, &o1) && GetLastError() == ERROR_IO_PENDING, "listen again (W49)");
    c = mkclient(name, 0);
    CHECK(ovres(s, &o1, &n, 3000, &err), "a new client");
    set_msg_mode(c);
    CHECK(write_all_sync(c, "new", 3) && read_wait(s, buf, sizeof buf, &n, 3000, &err) && n == 3, "round trip with it");
    CloseHandle(c);
    CloseHandle(s);

    STEP("peer killed: pending write streaming a message larger than the ring");
    name = pname("kp2");
    s = mkserver(name, FILE_FLAG_OVERLAPPED, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1, 4096, 4096);
    pid = spawn_role("sleeper", name, NULL);
    CHECK(connect_wait(s, 10000), "peer connects");
    CHECK(read_wait(s, buf, sizeof buf, &n, 10000, &err) && n == 5, "ready");
    uint32_t len = 4 * MIB;
    uint8_t *m = xmalloc(len);
    gen(m, len, 42, 0);
    ov_init(&o1, mkev());
    CHECK(!WriteFile(s, m, len, &n, &o1) && GetLastError() == ERROR_IO_PENDING, "4 MiB write pending");
    msleep(50);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    t0 = now_s();
    r = ovres(s, &o1, &n, 5000, &err);
    CHECK(!r && err == ERROR_BROKEN_PIPE, "the pending write: ERROR_BROKEN_PIPE (W115) (err %u, %.0f ms)", (unsigned)err, (now_s() - t0) * 1000);
    CHECK(DisconnectNamedPipe(s), "disconnect");
    ov_init(&o1, o1.hEvent);
    CHECK(!ConnectNamedPipe(s, &o1) && GetLastError() == ERROR_IO_PENDING, "listen again");
    c = mkclient(name, 0);
    CHECK(ovres(s, &o1, &n, 3000, &err), "a new client");
    set_msg_mode(c);
    gen(m, 100000, 42, 1);
    ov_init(&o1, o1.hEvent);
    r = WriteFile(s, m, 100000, &n, &o1);
    CHECK(r || GetLastError() == ERROR_IO_PENDING, "a new 100000-byte message (the writer lock was released)");
    uint8_t *rb = xmalloc(len);
    uint32_t st, sq;
    CHECK(ReadFile(c, rb, len, &n, NULL) && verify(rb, n, &st, &sq) == 0 && sq == 1, "the new client gets exactly that message, nothing of the old one (n %u)", (unsigned)n);
    CHECK(ovres(s, &o1, &n, 3000, &err), "the write completes");
    CloseHandle(c);
    CloseHandle(s);

    STEP("server process killed: pending TransactNamedPipe and a pending read");
    name = pname("kp3");
    pid = spawn_role("server_sleeper", name, NULL);
    c = mkclient(name, FILE_FLAG_OVERLAPPED);
    CHECK(c != INVALID_HANDLE_VALUE, "open");
    set_msg_mode(c);
    CHECK(read_wait(c, buf, sizeof buf, &n, 10000, &err) && n == 5, "ready");
    ov_init(&o1, mkev());
    r = TransactNamedPipe(c, "req", 3, buf, sizeof buf, &n, &o1);
    CHECK(!r && GetLastError() == ERROR_IO_PENDING, "transaction pending");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    t0 = now_s();
    r = ovres(c, &o1, &n, 5000, &err);
    CHECK(!r && err == ERROR_BROKEN_PIPE, "the pending transaction: ERROR_BROKEN_PIPE (err %u, %.0f ms)", (unsigned)err, (now_s() - t0) * 1000);
    ov_init(&o1, o1.hEvent);
    r = ReadFile(c, buf, sizeof buf, &n, &o1);
    CHECK(!r && GetLastError() == ERROR_BROKEN_PIPE, "a read after: ERROR_BROKEN_PIPE at once (W101)");
    CloseHandle(c);
    free(m);
    free(rb);
}

static int role_sleeper(char **argv) {
    HANDLE h = mkclient(argv[0], 0);
    if (h == INVALID_HANDLE_VALUE) return 10;
    set_msg_mode(h);
    if (!write_all_sync(h, "ready", 5)) return 11;
    for (;;) pause();
}

static int role_server_sleeper(char **argv) {
    HANDLE s = mkserver(argv[0], 0, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1, 4096, 4096);
    if (s == INVALID_HANDLE_VALUE) return 10;
    if (!ConnectNamedPipe(s, NULL) && GetLastError() != ERROR_PIPE_CONNECTED) return 11;
    if (!write_all_sync(s, "ready", 5)) return 12;
    for (;;) pause();
}

/* W103: the writer process dies in the middle of a message larger than the ring. The reader
 * (whose buffer holds the whole message) gets the messages before it and then
 * ERROR_BROKEN_PIPE: never part of the dead writer's message. */
struct sync_big_read {
    HANDLE h;
    uint8_t *buf;
    uint32_t size;
    volatile int done;
    BOOL r;
    DWORD n, err;
};
static void *sync_big_read_thread(void *p) {
    struct sync_big_read *a = p;
    a->r = ReadFile(a->h, a->buf, a->size, &a->n, NULL);
    a->err = a->r ? 0 : GetLastError();
    a->done = 1;
    return NULL;
}

static void t_kill_stream(void) {
    int torn = 0, whole = 0, clean = 0;
    for (int variant = 0; variant < 3; variant++)
        for (int round = 0; round < 4; round++) {
            STEP("variant %d round %d", variant, round);
            const char *name = pname("ks");
            HANDLE s = mkserver(name, FILE_FLAG_OVERLAPPED, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1, 4096, 4096);
            uint32_t size = variant == 0 ? 4 * MIB : 64 * MIB;
            pid_t pid = spawn_role("big_writer", name, fmt_u(size), round % 2 ? "1" : "0", NULL);
            DWORD n = 0, err = 0;
            uint8_t *b = xmalloc(size + 64);
            uint32_t st, sq;
            CHECK(connect_wait(s, 10000), "writer connects");
            CHECK(read_wait(s, b, size + 64, &n, 10000, &err) && verify(b, n, &st, &sq) == 0 && sq == 0, "the first, small message");
            BOOL r;
            if (variant == 0) {
                DWORD avail = 0;
                double end = now_s() + 5;
                while (now_s() < end && (!PeekNamedPipe(s, NULL, 0, NULL, &avail, NULL) || avail < 60000)) msleep(2);
                CHECK(avail >= 60000, "the big message fills the ring (W74, W83) (avail %u)", (unsigned)avail);
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                r = read_wait(s, b, size + 64, &n, 5000, &err);
            } else if (variant == 1) {
                OVERLAPPED o;
                ov_init(&o, mkev());
                r = ReadFile(s, b, size + 64, &n, &o);
                err = r ? 0 : GetLastError();
                usleep_(2000 + round * 4000);
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                if (!r && err == ERROR_IO_PENDING) r = ovres(s, &o, &n, 5000, &err);
            } else {
                static struct sync_big_read a;
                memset(&a, 0, sizeof a);
                a.h = s;
                a.buf = b;
                a.size = size + 64;
                pthread_t th;
                pthread_create(&th, NULL, sync_big_read_thread, &a);
                usleep_(2000 + round * 4000);
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                double end = now_s() + 5;
                while (!a.done && now_s() < end) msleep(2);
                CHECK(a.done, "the blocked ReadFile returns after the writer died");
                if (!a.done) {
                    free(b);
                    continue;
                }
                pthread_join(th, NULL);
                r = a.r;
                n = a.n;
                err = a.err;
            }
            if (r && n == size && verify(b, n, &st, &sq) == 0) {
                whole++; /* the write finished before the kill: nothing to see */
            } else if (!r && err == ERROR_BROKEN_PIPE && n == 0) {
                clean++;
            } else {
                torn++;
                NOTE("variant %d round %d: the reader got r=%d err=%u n=%u of a %u-byte message", variant, round, r, (unsigned)err, (unsigned)n, (unsigned)size);
            }
            CloseHandle(s);
            free(b);
        }
    NOTE("outcomes: %d clean ERROR_BROKEN_PIPE, %d whole (write finished first), %d torn", clean, whole, torn);
    /* Fixed (was: the writer's process dies in the middle of a message larger than the ring; nobody
     * withdraws the record (only a later writer of the same end would), and the reader, seeing
     * the peer closed, hands back what arrived: FALSE, ERROR_MORE_DATA with part of the message
     * (then ERROR_BROKEN_PIPE). Windows: the unread part of the killed process's pending write
     * is gone (W103); a reader whose buffer holds the message never sees a part of it. */
    CHECK(torn == 0, "no torn message from a writer killed mid-stream (W103) (%d of %d)", torn, torn + clean + whole);
}

static int role_big_writer(char **argv) {
    HANDLE h = mkclient(argv[0], FILE_FLAG_OVERLAPPED);
    if (h == INVALID_HANDLE_VALUE) return 10;
    set_msg_mode(h);
    uint32_t size = atoi(argv[1]);
    int sync = atoi(argv[2]);
    uint8_t a[1000];
    gen(a, sizeof a, 41, 0);
    if (!write_all_sync(h, a, sizeof a)) return 11;
    uint8_t *b = xmalloc(size);
    gen(b, size, 41, 1);
    static OVERLAPPED o;
    ov_init(&o, mkev());
    DWORD n;
    if (sync)
        WriteFile(h, b, size, &n, NULL);
    else if (!WriteFile(h, b, size, &n, &o) && GetLastError() != ERROR_IO_PENDING)
        return 12;
    for (;;) pause();
}

/* W102: a process that exits (exit(), not killed) with overlapped I/O pending exits promptly;
 * its peer sees the pipe broken and no part of the unfinished write. */
static void t_exit_pending(void) {
    for (int mode = 0; mode < 3; mode++) {
        STEP("mode %d", mode);
        const char *name = pname("ep");
        HANDLE s = mkserver(name, FILE_FLAG_OVERLAPPED, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1, 4096, 4096);
        pid_t pid = spawn_role("exit_pending", name, mode == 0 ? "0" : mode == 1 ? "1" : "2", NULL);
        CHECK(connect_wait(s, 10000), "peer connects");
        double t0 = now_s();
        int rc = wait_child(pid, 8000);
        CHECK(rc == 0, "mode %d: the process exits cleanly with I/O pending (exit %d after %.1f s; -1: hung, 139: crashed)", mode, rc, now_s() - t0);
        uint8_t *b = xmalloc(300000);
        DWORD n = 0, err = 0;
        BOOL r = read_wait(s, b, 300000, &n, 5000, &err);
        CHECK(!r && err == ERROR_BROKEN_PIPE && n == 0, "mode %d: the peer then reads ERROR_BROKEN_PIPE, nothing of the unfinished 200000-byte write (W102, W103) (r %d err %u n %u)", mode, r, (unsigned)err, (unsigned)n);
        free(b);
        CloseHandle(s);
    }
}

static DWORD WINAPI exit_pending_thread(LPVOID p) {
    HANDLE h = p;
    static OVERLAPPED o1, o2;
    static struct cr cr;
    static uint8_t rb[64], rb2[64];
    static uint8_t wb[200000];
    DWORD n;
    ov_init(&o1, mkev());
    ov_init(&o2, mkev());
    ReadFile(h, rb, sizeof rb, &n, &o1);
    ReadFileEx(h, rb2, sizeof rb2, &cr.ov, cr_done);
    gen(wb, sizeof wb, 43, 0);
    WriteFile(h, wb, sizeof wb, &n, &o2);
    return 0;
}

static int role_exit_pending(char **argv) {
    HANDLE h = mkclient(argv[0], FILE_FLAG_OVERLAPPED);
    if (h == INVALID_HANDLE_VALUE) return 10;
    set_msg_mode(h);
    int mode = atoi(argv[1]);
    if (mode == 0) {
        exit_pending_thread(h);
    } else if (mode == 1) {
        HANDLE t = CreateThread(NULL, 0, exit_pending_thread, h, 0, NULL);
        WaitForSingleObject(t, INFINITE);
    } else {
        pthread_t th;
        pthread_create(&th, NULL, (void *(*)(void *))exit_pending_thread, h);
        pthread_join(th, NULL);
    }
    msleep(50);
    fflush(stdout);
    exit(0); /* a normal exit: atexit handlers, library destructors */
}

/* ------------------------------------------------------------------------------------------ */
/* Microsoft's completion-routine server: one thread, ReadFileEx/WriteFileEx chained from the
 * routines, a new instance for each client, WaitForSingleObjectEx alertable. */

struct rs_inst {
    OVERLAPPED ov; /* first */
    HANDLE h;
    uint32_t n, stream, next;
    uint8_t buf[8192];
};
static struct mi_stats rs_st;
static DWORD rs_tid;
static int rs_wrong_thread, rs_live;
static VOID WINAPI rs_read_done(DWORD err, DWORD n, LPOVERLAPPED ov);

static void rs_close(struct rs_inst *in) {
    rs_st.finished++;
    rs_live--;
    DisconnectNamedPipe(in->h);
    CloseHandle(in->h);
    free(in);
}

static VOID WINAPI rs_write_done(DWORD err, DWORD n, LPOVERLAPPED ov) {
    struct rs_inst *in = (struct rs_inst *)ov;
    if (GetCurrentThreadId() != rs_tid) rs_wrong_thread++;
    if (err == 0 && n == in->n) {
        memset(&in->ov, 0, sizeof in->ov);
        if (ReadFileEx(in->h, in->buf, sizeof in->buf, &in->ov, rs_read_done)) return;
    }
    rs_close(in);
}

static VOID WINAPI rs_read_done(DWORD err, DWORD n, LPOVERLAPPED ov) {
    struct rs_inst *in = (struct rs_inst *)ov;
    if (GetCurrentThreadId() != rs_tid) rs_wrong_thread++;
    if (err == 0 && n > 0) {
        uint32_t sm, sq;
        if (verify(in->buf, n, &sm, &sq) != 0) {
            rs_st.bad++;
        } else {
            rs_st.msgs++;
            if (in->stream == 0xFFFFFFFFu) {
                in->stream = sm;
                uint32_t k = sm / 100000u * 1000u + sm % 100000u;
                if (rs_st.seen && k < 64000 && rs_st.seen[k]++) rs_st.dup_stream++;
            }
            else if (sm != in->stream) rs_st.order++;
            if (sq != in->next) rs_st.order++;
            in->next = sq + 1;
        }
        in->n = n;
        memset(&in->ov, 0, sizeof in->ov);
        if (WriteFileEx(in->h, in->buf, n, &in->ov, rs_write_done)) return;
    } else if (err != ERROR_BROKEN_PIPE && err != ERROR_PIPE_NOT_CONNECTED) {
        if (err == ERROR_MORE_DATA) rs_st.more_data++;
        else rs_st.other_err++;
        printf("  routine server: read error %u\n", (unsigned)err);
    }
    rs_close(in);
}

static void t_routine_server(void) {
    const char *name = pname("rs");
    rs_tid = GetCurrentThreadId();
    memset(&rs_st, 0, sizeof rs_st);
    rs_st.seen = calloc(64000, 1);
    HANDLE ev = CreateEventA(NULL, TRUE, TRUE, NULL);
    OVERLAPPED co;
    int nconn[4] = {50, 50, 40, 100};
    const char *mode[4] = {"0", "1", "1", "2"};
    pid_t pid[4];
    int rc[4];
    int expect_conn = 0, expect_msgs = 0;
    for (int k = 0; k < 4; k++) {
        uint32_t id = 11 + k;
        pid[k] = spawn_role("echo_client", name, fmt_u(id), fmt_u(nconn[k]), mode[k], NULL);
        rc[k] = -100;
        expect_conn += nconn[k];
        if (mode[k][0] != '2')
            for (int c = 0; c < nconn[k]; c++) {
                int m = conn_msgs(id, c);
                expect_msgs += (m > 0 && conn_early(c)) ? 1 : m;
            }
    }
    HANDLE h = INVALID_HANDLE_VALUE;
    int pending = 0, true_returns = 0, alive = 4, stuck = 0, no_data = 0;
    double t0 = now_s(), last = now_s();
    for (;;) {
        if (h == INVALID_HANDLE_VALUE) {
            h = mkserver(name, FILE_FLAG_OVERLAPPED, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, PIPE_UNLIMITED_INSTANCES, 4096, 4096);
            ov_init(&co, ev);
            BOOL r = ConnectNamedPipe(h, &co);
            DWORD e = r ? 0 : GetLastError();
            if (r) {
                true_returns++; /* see connect_race */
                SetEvent(ev);
                pending = 0;
            } else if (e == ERROR_IO_PENDING) {
                pending = 1;
            } else if (e == ERROR_PIPE_CONNECTED) {
                SetEvent(ev);
                pending = 0;
            } else if (e == ERROR_NO_DATA) {
                /* The client connected (W33), wrote and closed before this call (W43): what it
                 * wrote is still there to read (W52, W113). */
                no_data++;
                SetEvent(ev);
                pending = 0;
            } else {
                CHECK(0, "ConnectNamedPipe: %u", (unsigned)e);
                break;
            }
        }
        if (rs_st.finished >= expect_conn) break;
        STEP("serving: %d of %d connections, %d messages, %d live", rs_st.finished, expect_conn, rs_st.msgs, rs_live);
        DWORD w = WaitForSingleObjectEx(ev, 200, TRUE);
        if (w == WAIT_OBJECT_0) {
            DWORD n;
            BOOL ok = pending ? GetOverlappedResult(h, &co, &n, FALSE) : TRUE;
            ResetEvent(ev);
            if (!ok) {
                CHECK(0, "pending connect: %u", (unsigned)GetLastError());
                CloseHandle(h);
            } else {
                struct rs_inst *in = calloc(1, sizeof *in);
                in->h = h;
                in->stream = 0xFFFFFFFFu;
                rs_live++;
                if (!ReadFileEx(h, in->buf, sizeof in->buf, &in->ov, rs_read_done)) rs_close(in);
            }
            h = INVALID_HANDLE_VALUE;
            last = now_s();
        } else if (w == WAIT_IO_COMPLETION) {
            last = now_s();
        } else if (w == WAIT_TIMEOUT) {
            DWORD av;
            if (pending && h != INVALID_HANDLE_VALUE && !HasOverlappedIoCompleted(&co) &&
                !(PeekNamedPipe(h, NULL, 0, NULL, &av, NULL) == FALSE && GetLastError() == ERROR_BAD_PIPE)) {
                /* Work around the connect_race bug (see many_instances). */
                DWORD n2;
                stuck++;
                CancelIoEx(h, &co);
                GetOverlappedResult(h, &co, &n2, TRUE);
                pending = 0;
                SetEvent(ev);
                continue;
            }
            for (int k = 0; k < 4; k++)
                if (rc[k] == -100) {
                    int stt;
                    if (waitpid(pid[k], &stt, WNOHANG) == pid[k]) {
                        rc[k] = WIFEXITED(stt) ? WEXITSTATUS(stt) : 128 + WTERMSIG(stt);
                        alive--;
                    }
                }
            if (alive == 0 && now_s() - last > 5) break;
            if (now_s() - t0 > 150) break;
        } else {
            CHECK(0, "WaitForSingleObjectEx: %u", (unsigned)w);
            break;
        }
    }
    double dt = now_s() - t0;
    for (int k = 0; k < 4; k++)
        if (rc[k] == -100) rc[k] = wait_child(pid[k], 10000);
    for (int k = 0; k < 4; k++) CHECK(rc[k] == 0, "client %d: every reply matched (exit %d)", k, rc[k]);
    CHECK(rs_st.finished == expect_conn, "every connection served to its end (%d of %d)", rs_st.finished, expect_conn);
    CHECK(rs_st.msgs == expect_msgs, "every message once (%d of %d)", rs_st.msgs, expect_msgs);
    for (int k = 0; k < 4; k++)
        if (mode[k][0] != '2')
            for (int c = 0; c < nconn[k]; c++) {
                uint32_t id = 11 + k, sm = conn_stream(id, c);
                if (conn_msgs(id, c) > 0 && !rs_st.seen[sm / 100000u * 1000u + sm % 100000u])
                    NOTE("connection %d of client %u (%s) never got to the server", c, (unsigned)id, conn_early(c) ? "sends one message and closes" : "talks");
            }
    CHECK(rs_st.bad == 0 && rs_st.order == 0, "intact and in order per connection (%d bad, %d out of order)", rs_st.bad, rs_st.order);
    CHECK(rs_st.more_data == 0 && rs_st.other_err == 0, "no unexpected errors");
    CHECK(rs_wrong_thread == 0, "every routine ran on the server thread (W104)");
    CHECK(rs_live == 0, "every instance closed");
    NOTE("%d connections (%d had come and gone before ConnectNamedPipe), %d round trips through chained routines in %.1f s", rs_st.finished, no_data, rs_st.msgs, dt);
    if (true_returns) NOTE("overlapped ConnectNamedPipe returned TRUE %d times (the connect_race bug; Microsoft's sample treats that as fatal)", true_returns);
    if (stuck) NOTE("%d pending ConnectNamedPipe never completed though a client connected (the connect_race bug; without the workaround the server stops: its only listening instance is lost)", stuck);
    CHECK(true_returns == 0 && stuck == 0, "ConnectNamedPipe never returns TRUE, never stays pending with a client (W39, W40)");
}

/* ------------------------------------------------------------------------------------------ */
/* fork() while overlapped I/O is pending and other threads use the library: the child (no exec)
 * uses the library for pipes of its own and must not hang on a lock a parent thread held. */

static volatile int fork_bg_stop;
static volatile int fork_bg_loops[3];
static void *fork_bg_events(void *p) {
    (void)p;
    for (int i = 0; !fork_bg_stop; i++) {
        HANDLE e = CreateEventA(NULL, FALSE, FALSE, (i & 1) ? "adv-fork-named-event" : NULL);
        SetEvent(e);
        WaitForSingleObject(e, 0);
        CloseHandle(e);
        fork_bg_loops[0]++;
    }
    return NULL;
}
static void *fork_bg_pipes(void *p) {
    (void)p;
    while (!fork_bg_stop) {
        HANDLE s, c;
        mkpair("fkbg", PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 4096, FILE_FLAG_OVERLAPPED, 0, &s, &c);
        DWORD n;
        char b[8];
        write_all_sync(c, "bg", 2);
        OVERLAPPED o;
        ov_init(&o, mkev());
        if (!ReadFile(s, b, sizeof b, &n, &o) && GetLastError() == ERROR_IO_PENDING) GetOverlappedResult(s, &o, &n, TRUE);
        CloseHandle(o.hEvent);
        CloseHandle(s);
        CloseHandle(c);
        fork_bg_loops[1]++;
    }
    return NULL;
}
static void *fork_bg_pingpong(void *p) {
    (void)p;
    HANDLE s, c;
    mkpair("fkpp", PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 4096, FILE_FLAG_OVERLAPPED, FILE_FLAG_OVERLAPPED, &s, &c);
    HANDLE e1 = mkev(), e2 = mkev();
    uint8_t big[100000];
    memset(big, 1, sizeof big);
    while (!fork_bg_stop) {
        OVERLAPPED o1, o2;
        DWORD n, n2 = 0;
        static uint8_t rb[100000];
        ov_init(&o1, e1);
        ov_init(&o2, e2);
        ReadFile(c, rb, sizeof rb, &n, &o2);
        WriteFile(s, big, sizeof big, &n, &o1); /* larger than the ring: streams in the engine */
        GetOverlappedResult(s, &o1, &n, TRUE);
        if (!GetOverlappedResult(c, &o2, &n2, TRUE) || n2 != sizeof big) {
            printf("  ping-pong: read %u of %u (err %u)\n", (unsigned)n2, (unsigned)sizeof big, (unsigned)GetLastError());
            break;
        }
        struct cr cr;
        memset(&cr, 0, sizeof cr);
        ReadFileEx(s, rb, 16, &cr.ov, cr_done);
        write_all_sync(c, "pp", 2);
        while (!cr.ran) SleepEx(100, TRUE);
        fork_bg_loops[2]++;
    }
    return NULL;
}

static DWORD WINAPI fork_child_thread_fn(LPVOID p) {
    (void)p;
    return 7;
}

static int fork_child_work(int i) {
    STEP("fork child %d: make a pipe", i);
    HANDLE s, c;
    mkpair("fkch", PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 4096, FILE_FLAG_OVERLAPPED, FILE_FLAG_OVERLAPPED, &s, &c);
    HANDLE ev = mkev();
    OVERLAPPED o;
    DWORD n, err;
    char b[64];
    STEP("fork child %d: pending overlapped read", i);
    ov_init(&o, ev);
    if (ReadFile(s, b, sizeof b, &n, &o) || GetLastError() != ERROR_IO_PENDING) return 20;
    if (!write_all_sync(c, "child", 5)) return 21;
    STEP("fork child %d: GetOverlappedResult", i);
    if (!ovres(s, &o, &n, 5000, &err) || n != 5) return 22;
    STEP("fork child %d: ReadFileEx + SleepEx", i);
    struct cr cr;
    memset(&cr, 0, sizeof cr);
    if (!ReadFileEx(s, b, sizeof b, &cr.ov, cr_done)) return 23;
    if (!write_all_sync(c, "ex", 2)) return 24;
    double end = now_s() + 5;
    while (!cr.ran && now_s() < end) SleepEx(100, TRUE);
    if (!cr.ran || cr.n != 2) return 25;
    STEP("fork child %d: big overlapped write (engine streaming)", i);
    static uint8_t big[300000], rb[300000];
    ov_init(&o, ev);
    OVERLAPPED o2;
    ov_init(&o2, mkev());
    WriteFile(s, big, sizeof big, &n, &o);
    if (!ReadFile(c, rb, sizeof rb, &n, &o2) && GetLastError() == ERROR_IO_PENDING) ovres(c, &o2, &n, 5000, &err);
    if (!ovres(s, &o, &n, 5000, &err) || n != sizeof big) return 26;
    STEP("fork child %d: CancelIoEx", i);
    ov_init(&o, ev);
    if (ReadFile(s, b, sizeof b, &n, &o) || GetLastError() != ERROR_IO_PENDING) return 27;
    if (!CancelIoEx(s, &o)) return 28;
    if (ovres(s, &o, &n, 5000, &err) || err != ERROR_OPERATION_ABORTED) return 29;
    STEP("fork child %d: CreateEvent (unnamed)", i);
    HANDLE e0 = CreateEventA(NULL, FALSE, TRUE, NULL);
    if (WaitForSingleObject(e0, 1000) != WAIT_OBJECT_0) return 32;
    CloseHandle(e0);
    /* Fixed (was a hang or a failure in most children): named events in a forked child. The child
     * kept copies of the parent's listeners (a name stayed bound after the parent stopped serving
     * it, and an open of it waited for ever), and a service stopped by its own acceptor thread
     * (its last holder hung up) lost its stop signal, so the name refused every open for good. */
    STEP("fork child %d: CreateEvent (named, the parent's name)", i);
    HANDLE e = CreateEventA(NULL, FALSE, FALSE, "adv-fork-named-event");
    if (!e || !SetEvent(e)) return 30;
    /* The parent's thread takes that auto-reset event's sets too: a wait here could lose its set
     * to it, as on Windows. The wait is checked on a name of this child's own. */
    STEP("fork child %d: CloseHandle (named event)", i);
    CloseHandle(e);
    char own[64];
    snprintf(own, sizeof own, "adv-fork-own-%d-%d", (int)getpid(), i);
    STEP("fork child %d: SetEvent/WaitForSingleObject (named, its own)", i);
    e = CreateEventA(NULL, FALSE, FALSE, own);
    if (!e || !SetEvent(e) || WaitForSingleObject(e, 1000) != WAIT_OBJECT_0) return 33;
    CloseHandle(e);
    STEP("fork child %d: CreateThread", i);
    HANDLE t = CreateThread(NULL, 0, fork_child_thread_fn, NULL, 0, NULL);
    if (!t || WaitForSingleObject(t, 5000) != WAIT_OBJECT_0) return 31;
    STEP("fork child %d: close", i);
    CloseHandle(s);
    CloseHandle(c);
    STEP("fork child %d: done", i);
    return 0;
}

enum { NFORK = 300 };
static void t_fork(void) {
    HANDLE s1, c1;
    mkpair("fk1", PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 4096, FILE_FLAG_OVERLAPPED, FILE_FLAG_OVERLAPPED, &s1, &c1);
    const char *name2 = pname("fk2");
    HANDLE s2 = mkserver(name2, FILE_FLAG_OVERLAPPED, PIPE_TYPE_BYTE, 1, 1024, 1024);
    DWORD n = 0, err = 0;
    static OVERLAPPED orr, ow, oc;
    static char rbuf[64];
    static uint8_t wbuf[10000];
    ov_init(&orr, mkev());
    ov_init(&ow, mkev());
    ov_init(&oc, mkev());
    CHECK(!ReadFile(s1, rbuf, sizeof rbuf, &n, &orr) && GetLastError() == ERROR_IO_PENDING, "parent: read pending");
    CHECK(!WriteFile(s1, wbuf, sizeof wbuf, &n, &ow) && GetLastError() == ERROR_IO_PENDING, "parent: write pending");
    CHECK(!ConnectNamedPipe(s2, &oc) && GetLastError() == ERROR_IO_PENDING, "parent: connect pending");
    pthread_t bg[3];
    pthread_create(&bg[0], NULL, fork_bg_events, NULL);
    pthread_create(&bg[1], NULL, fork_bg_pipes, NULL);
    pthread_create(&bg[2], NULL, fork_bg_pingpong, NULL);
    msleep(50);
    int hung = 0, failed_ = 0, crashed = 0;
    for (int i = 0; i < NFORK; i++) {
        STEP("forking child %d", i);
        usleep_(rnd() % 3000);
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) _exit(fork_child_work(i));
        int rc = wait_child(pid, 5000);
        if (rc == -1) {
            hung++;
            NOTE("child %d hung at: %s", i, SH->step);
        } else if (rc >= 128) {
            crashed++;
            NOTE("child %d died with signal %d at: %s", i, rc - 128, SH->step);
        } else if (rc != 0) {
            failed_++;
            NOTE("child %d failed with code %d", i, rc);
        }
    }
    fork_bg_stop = 1;
    for (int k = 0; k < 3; k++) pthread_join(bg[k], NULL);
    NOTE("background loops meanwhile: %d event, %d pipe, %d ping-pong", fork_bg_loops[0], fork_bg_loops[1], fork_bg_loops[2]);
    CHECK(hung == 0, "no forked child hangs using the library (%d of %d hung)", hung, NFORK);
    CHECK(crashed == 0 && failed_ == 0, "no forked child crashes or fails (%d crashed, %d failed)", crashed, failed_);
    STEP("parent: complete what was pending across the forks");
    CHECK(write_all_sync(c1, "after", 5), "data for the parent's pending read");
    CHECK(ovres(s1, &orr, &n, 5000, &err) && n == 5 && memcmp(rbuf, "after", 5) == 0, "the parent's read completes (err %u)", (unsigned)err);
    static uint8_t sink[20000];
    OVERLAPPED o;
    ov_init(&o, mkev());
    BOOL r = ReadFile(c1, sink, sizeof sink, &n, &o);
    if (!r && GetLastError() == ERROR_IO_PENDING) r = ovres(c1, &o, &n, 5000, &err);
    CHECK(r && n == sizeof wbuf, "the parent's pending write's data arrives whole (n %u)", (unsigned)n);
    CHECK(ovres(s1, &ow, &n, 5000, &err) && n == sizeof wbuf, "and the write completes (err %u)", (unsigned)err);
    HANDLE c2 = mkclient(name2, 0);
    CHECK(c2 != INVALID_HANDLE_VALUE && ovres(s2, &oc, &n, 5000, &err), "the parent's pending connect completes (err %u)", (unsigned)err);
    CloseHandle(c2);
    CloseHandle(s1);
    CloseHandle(c1);
    CloseHandle(s2);
}

/* ------------------------------------------------------------------------------------------ */
/* Round trips per second across two processes: synchronous ReadFile/WriteFile against
 * overlapped I/O (event + GetOverlappedResult) and completion routines. Printed, not asserted. */

static struct {
    HANDLE h;
    OVERLAPPED ov;
    uint8_t buf[64];
    long count;
    int failed;
} bx;
static VOID WINAPI bench_read_done(DWORD err, DWORD n, LPOVERLAPPED ov);
static VOID WINAPI bench_write_done(DWORD err, DWORD n, LPOVERLAPPED ov) {
    (void)n;
    (void)ov;
    if (err) {
        bx.failed = 1;
        return;
    }
    memset(&bx.ov, 0, sizeof bx.ov);
    if (!ReadFileEx(bx.h, bx.buf, sizeof bx.buf, &bx.ov, bench_read_done)) bx.failed = 1;
}
static VOID WINAPI bench_read_done(DWORD err, DWORD n, LPOVERLAPPED ov) {
    (void)ov;
    if (err || n != 64) {
        bx.failed = 1;
        return;
    }
    bx.count++;
    memset(&bx.ov, 0, sizeof bx.ov);
    if (!WriteFileEx(bx.h, bx.buf, 64, &bx.ov, bench_write_done)) bx.failed = 1;
}

static double bench_one(int mode, double secs) {
    const char *name = pname("bench");
    HANDLE s = mkserver(name, mode ? FILE_FLAG_OVERLAPPED : 0, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1, 4096, 4096);
    pid_t pid = spawn_role("bench_echo", name, mode ? "1" : "0", NULL);
    DWORD n, err;
    if (mode) CHECK(connect_wait(s, 10000), "bench peer connects");
    else CHECK(ConnectNamedPipe(s, NULL) || GetLastError() == ERROR_PIPE_CONNECTED, "bench peer connects");
    uint8_t msg[64], buf[64];
    memset(msg, 'b', sizeof msg);
    HANDLE ev = mkev();
    OVERLAPPED o;
    long count = 0;
    double t0 = 0, t1 = 0;
    int bad = 0;
    if (mode < 2) {
        for (long i = 0;; i++) {
            if (i == 500) {
                t0 = now_s();
                count = 0;
            }
            if (i > 500 && (i & 63) == 0 && now_s() - t0 > secs) break;
            if (mode == 0) {
                if (!WriteFile(s, msg, 64, &n, NULL) || !ReadFile(s, buf, 64, &n, NULL) || n != 64) {
                    bad = 1;
                    break;
                }
            } else {
                ov_init(&o, ev);
                BOOL r = WriteFile(s, msg, 64, &n, &o);
                if (!r && GetLastError() == ERROR_IO_PENDING) r = GetOverlappedResult(s, &o, &n, TRUE);
                ov_init(&o, ev);
                BOOL r2 = ReadFile(s, buf, 64, &n, &o);
                if (!r2 && GetLastError() == ERROR_IO_PENDING) r2 = GetOverlappedResult(s, &o, &n, TRUE);
                if (!r || !r2 || n != 64) {
                    bad = 1;
                    break;
                }
            }
            count++;
        }
        t1 = now_s();
    } else {
        memset(&bx, 0, sizeof bx);
        bx.h = s;
        memcpy(bx.buf, msg, 64);
        if (!WriteFileEx(s, bx.buf, 64, &bx.ov, bench_write_done)) bad = 1;
        while (!bad && !bx.failed && bx.count < 500) SleepEx(1000, TRUE);
        t0 = now_s();
        long c0 = bx.count;
        while (!bad && !bx.failed && now_s() - t0 < secs) SleepEx(1000, TRUE);
        t1 = now_s();
        count = bx.count - c0;
        bad |= bx.failed;
        CancelIo(s);
        SleepEx(0, TRUE);
    }
    (void)err;
    CHECK(!bad, "benchmark mode %d ran", mode);
    CloseHandle(s);
    wait_child(pid, 5000);
    return count / (t1 - t0);
}

static void t_bench(void) {
    const char *b = getenv("NPIPE_STRESS_BENCH");
    if (b && strcmp(b, "0") == 0) return;
    double secs = 1.5;
    double sync_rt = bench_one(0, secs);
    double ov_rt = bench_one(1, secs);
    double ex_rt = bench_one(2, secs);
    printf("BENCH 64-byte ping-pong across two processes: synchronous %.0f round trips/s, overlapped (event + GetOverlappedResult) %.0f/s (%.2fx), completion routines %.0f/s (%.2fx)\n",
           sync_rt, ov_rt, ov_rt / sync_rt, ex_rt, ex_rt / sync_rt);
}

static int role_bench_echo(char **argv) {
    int ovl = atoi(argv[1]);
    HANDLE h = mkclient(argv[0], ovl ? FILE_FLAG_OVERLAPPED : 0);
    if (h == INVALID_HANDLE_VALUE) return 10;
    set_msg_mode(h);
    HANDLE ev = mkev();
    uint8_t buf[64];
    for (;;) {
        DWORD n = 0;
        OVERLAPPED o;
        ov_init(&o, ev);
        BOOL r = ReadFile(h, buf, sizeof buf, &n, ovl ? &o : NULL);
        if (!r && ovl && GetLastError() == ERROR_IO_PENDING) r = GetOverlappedResult(h, &o, &n, TRUE);
        if (!r) break;
        ov_init(&o, ev);
        r = WriteFile(h, buf, n, &n, ovl ? &o : NULL);
        if (!r && ovl && GetLastError() == ERROR_IO_PENDING) r = GetOverlappedResult(h, &o, &n, TRUE);
        if (!r) break;
    }
    return 0;
}

/* W93: pending writes complete in order. A write issued while an earlier one waits only for the
 * quota (its bytes all in the pipe) is tried at once on the calling thread: when the reader has
 * just drained the pipe it completes inside WriteFile, before the earlier write (still pending
 * in the engine) is completed. */
struct drain_arg {
    HANDLE h;
    volatile int stop;
};
static void *drain_thread(void *p) {
    struct drain_arg *a = p;
    static uint8_t b[65536];
    while (!a->stop) {
        DWORD n;
        if (!ReadFile(a->h, b, sizeof b, &n, NULL)) break;
    }
    return NULL;
}
static void t_write_order(void) {
    HANDLE s, c;
    mkpair("wo", PIPE_TYPE_BYTE, 4096, FILE_FLAG_OVERLAPPED, 0, &s, &c);
    static struct drain_arg da;
    da.h = c;
    pthread_t th;
    pthread_create(&th, NULL, drain_thread, &da);
    static uint8_t m1[8000], m2[16];
    OVERLAPPED o1, o2;
    HANDLE e1 = mkev(), e2 = mkev();
    DWORD n = 0, err = 0;
    int inverted = 0, pend = 0;
    struct cr w1, w2;
    for (int i = 0; i < 3000; i++) {
        STEP("iteration %d", i);
        ov_init(&o1, e1);
        ov_init(&o2, e2);
        BOOL r1 = WriteFile(s, m1, sizeof m1, &n, &o1); /* over the quota: pending */
        if (r1) continue;
        pend++;
        BOOL r2 = WriteFile(s, m2, sizeof m2, &n, &o2);
        if (r2 && !HasOverlappedIoCompleted(&o1)) inverted++;
        ovres(s, &o1, &n, 5000, &err);
        ovres(s, &o2, &n, 5000, &err);
    }
    /* The same with completion routines: the order they run in. */
    int routine_inverted = 0;
    for (int i = 0; i < 1000; i++) {
        memset(&w1, 0, sizeof w1);
        memset(&w2, 0, sizeof w2);
        cr_order = 0;
        if (!WriteFileEx(s, m1, sizeof m1, &w1.ov, cr_done) || !WriteFileEx(s, m2, sizeof m2, &w2.ov, cr_done)) break;
        double end = now_s() + 5;
        while ((!w1.ran || !w2.ran) && now_s() < end) SleepEx(50, TRUE);
        if (w2.order < w1.order) routine_inverted++;
    }
    da.stop = 1;
    NOTE("%d of %d second writes completed inside WriteFile while the first was still pending; %d of 1000 routine pairs ran second-first", inverted, pend, routine_inverted);
    CHECK(inverted == 0 && routine_inverted == 0, "a write never completes before an earlier pending write of the handle (W93) (%d, %d routines)", inverted, routine_inverted);
    CloseHandle(s);
    pthread_join(th, NULL);
    CloseHandle(c);
}

/* ------------------------------------------------------------------------------------------ */
/* Many handles with I/O pending at once; descriptors come back after close */

static int count_fds(void) {
    int n = 0;
    for (int fd = 0; fd < 65536; fd++) {
        char p[64];
        snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
        if (access(p, F_OK) == 0) n++;
        else if (fd > 4096 && n > 0) break;
    }
    return n;
}

static void *exiting_issuer(void *p) {
    struct affinity_arg *a = p;
    a->tid = GetCurrentThreadId();
    a->issued = ReadFileEx(a->h, a->buf, sizeof a->buf, &a->cr.ov, cr_done) ? 1 : -1;
    return NULL; /* exits with its ReadFileEx pending */
}

static void t_many_pending(void) {
    enum { NP = 400 };
    /* A first pair so the engine and the watcher exist before the baseline. */
    HANDLE s0, c0;
    mkpair("mp0", PIPE_TYPE_BYTE, 4096, FILE_FLAG_OVERLAPPED, FILE_FLAG_OVERLAPPED, &s0, &c0);
    OVERLAPPED o0;
    DWORD n = 0, err = 0;
    char b0[8];
    ov_init(&o0, mkev());
    ReadFile(s0, b0, sizeof b0, &n, &o0);
    write_all_sync(c0, "w", 1);
    ovres(s0, &o0, &n, 2000, &err);
    int fd0 = count_fds();
    for (int round = 0; round < 2; round++) {
        STEP("round %d: %d pairs with a read pending", round, NP);
        static HANDLE s[NP], c[NP], ev[NP];
        static OVERLAPPED o[NP];
        static char b[NP][16];
        int pend = 0;
        for (int i = 0; i < NP; i++) {
            mkpair("mp", PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 4096, FILE_FLAG_OVERLAPPED, FILE_FLAG_OVERLAPPED, &s[i], &c[i]);
            ev[i] = mkev();
            ov_init(&o[i], ev[i]);
            if (!ReadFile(s[i], b[i], 16, &n, &o[i]) && GetLastError() == ERROR_IO_PENDING) pend++;
        }
        CHECK(pend == NP, "%d reads pending on %d handles", pend, NP);
        if (round == 0) {
            for (int i = NP - 1; i >= 0; i--) write_all_sync(c[i], &i, sizeof i);
            int ok = 0;
            for (int i = 0; i < NP; i++) {
                int v = -1;
                if (ovres(s[i], &o[i], &n, 5000, &err) && n == sizeof v) {
                    memcpy(&v, b[i], sizeof v);
                    if (v == i) ok++;
                }
            }
            CHECK(ok == NP, "each completes with its own pipe's data (%d of %d)", ok, NP);
        }
        STEP("round %d: closing", round);
        double t0 = now_s();
        int signalled = 0;
        for (int i = 0; i < NP; i++) {
            CloseHandle(s[i]);
            CloseHandle(c[i]);
            if (ev_set(ev[i])) signalled++;
            CloseHandle(ev[i]);
        }
        CHECK(signalled == NP, "every event signalled by the closes (%d)", signalled);
        NOTE("round %d: closing %d pairs took %.0f ms", round, NP, (now_s() - t0) * 1000);
    }
    msleep(300);
    int fd1 = count_fds();
    CHECK(fd1 <= fd0 + 4, "descriptors come back after %d pairs with overlapped I/O are closed (%d before, %d after)", 2 * NP, fd0, fd1);

    STEP("a ReadFileEx whose thread exits before it completes");
    static struct affinity_arg aa;
    memset(&aa, 0, sizeof aa);
    aa.h = s0;
    pthread_t th;
    pthread_create(&th, NULL, exiting_issuer, &aa);
    pthread_join(th, NULL);
    CHECK(aa.issued == 1, "issued");
    /* Windows cancels the I/O a thread issued when it exits (handles without a completion
     * port): the read no longer writes into the exited thread's buffers. */
    CHECK(wait_done(&aa.cr.ov, 3000) && aa.cr.ov.Internal == 0xC0000120, "cancelled at the thread's exit (Internal %#lx)", (unsigned long)aa.cr.ov.Internal);
    SleepEx(0, TRUE);
    CHECK(aa.cr.ran == 0, "its routine never runs in another thread (W104)");

    STEP("an auto-reset event as hEvent");
    HANDLE ae = CreateEventA(NULL, FALSE, FALSE, NULL);
    ov_init(&o0, ae);
    CHECK(!ReadFile(s0, b0, sizeof b0, &n, &o0) && GetLastError() == ERROR_IO_PENDING, "read pending with an auto-reset event");
    CHECK(write_all_sync(c0, "ab", 2), "data");
    CHECK(WaitForSingleObject(ae, 3000) == WAIT_OBJECT_0, "the wait takes the event");
    CHECK(WaitForSingleObject(ae, 0) == WAIT_TIMEOUT, "auto-reset: taken");
    CHECK(ovres(s0, &o0, &n, INFINITE, &err) && n == 2, "GetOverlappedResult(bWait) still returns at once: the OVERLAPPED is complete");
    CloseHandle(ae);
    CloseHandle(s0);
    CloseHandle(c0);
}

/* ------------------------------------------------------------------------------------------ */
/* Runner */

struct test {
    const char *name;
    void (*fn)(void);
    int timeout_s;
};

static struct test TESTS[] = {
    {"badargs", t_badargs, 30},
    {"result_after_close", t_result_after_close, 30},
    {"order_zero", t_order_zero, 30},
    {"close_pending", t_close_pending, 60},
    {"close_while_waiting", t_close_while_waiting, 30},
    {"cancel_affinity", t_cancel_affinity, 30},
    {"close_race", t_close_race, 120},
    {"routines", t_routines, 60},
    {"nowait", t_nowait, 30},
    {"disconnect_pending", t_disconnect_pending, 30},
    {"connect_race", t_connect_race, 120},
    {"many_instances", t_many_instances, 180},
    {"big_writes", t_big_writes, 120},
    {"big_reads", t_big_reads, 120},
    {"duplex_big", t_duplex_big, 120},
    {"byte_stream", t_byte_stream, 120},
    {"write_order", t_write_order, 60},
    {"many_pending", t_many_pending, 120},
    {"cancel_read_storm", t_cancel_read_storm, 150},
    {"cancel_write_storm", t_cancel_write_storm, 150},
    {"kill_peer", t_kill_peer, 60},
    {"kill_stream", t_kill_stream, 120},
    {"exit_pending", t_exit_pending, 60},
    {"routine_server", t_routine_server, 180},
    {"fork", t_fork, 600},
    {"bench", t_bench, 60},
    {"cancel_write_storm_big", t_cancel_write_storm_big, 150},
};

static int selected(const char *name) {
    const char *only = getenv("NPIPE_STRESS_ONLY");
    if (!only || !*only) return 1;
    size_t l = strlen(name);
    for (const char *p = only; *p;) {
        const char *e = strchr(p, ',');
        size_t k = e ? (size_t)(e - p) : strlen(p);
        if (k == l && strncmp(p, name, l) == 0) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

static void run_test(struct test *t) {
    snprintf(SH->test, sizeof SH->test, "%s", t->name);
    SH->step[0] = 0;
    int p0 = SH->passed, f0 = SH->failed;
    double t0 = now_s();
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        rng_state = mix(getpid(), 77);
        t->fn();
        fflush(stdout);
        _exit(0);
    }
    setpgid(pid, pid);
    double end = t0 + t->timeout_s;
    int st = 0;
    int how = 0; /* 0 exited, 1 hung */
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) break;
        if (now_s() > end) {
            how = 1;
            break;
        }
        usleep_(5000);
    }
    if (how == 1) {
        printf("HANG [%s] still running after %d s, at: %s\n", t->name, t->timeout_s, SH->step);
        kill(-pid, SIGKILL);
        waitpid(pid, &st, 0);
        SH->failed++;
    } else if (WIFSIGNALED(st)) {
        printf("CRASH [%s] signal %d, at: %s\n", t->name, WTERMSIG(st), SH->step);
        SH->failed++;
    } else if (WEXITSTATUS(st) != 0) {
        printf("EXIT [%s] status %d, at: %s\n", t->name, WEXITSTATUS(st), SH->step);
        SH->failed++;
    }
    kill(-pid, SIGKILL); /* helpers left behind */
    printf("%s %-22s %4d checks, %d failed, %.1f s\n", SH->failed == f0 ? "ok  " : "FAIL", t->name,
           SH->passed - p0 + SH->failed - f0, SH->failed - f0, now_s() - t0);
    fflush(stdout);
}

static int role_main(int argc, char **argv);

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    SELF_EXE = argv[0];
    if (argc > 2 && strcmp(argv[1], "--role") == 0) {
        ROLE = argv[2];
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        rng_state = mix(getpid(), 99);
        int rc = role_main(argc - 3, argv + 3);
        fflush(stdout);
        _exit(rc ? rc : (SH->failed ? 1 : 0));
    }
    SH = mmap(NULL, sizeof *SH, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (SH == MAP_FAILED) return 2;
    memset(SH, 0, sizeof *SH);
    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; i < sizeof TESTS / sizeof TESTS[0]; i++)
        if (selected(TESTS[i].name)) run_test(&TESTS[i]);
#if KNOWN_BUGS
    printf("(built with NPIPE_KNOWN_BUGS: checks of known bugs included)\n");
#endif
    printf("%d passed, %d failed\n", SH->passed, SH->failed);
    return SH->failed ? 1 : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Roles */

static int role_main(int argc, char **argv) {
    (void)argc;
    if (strcmp(ROLE, "echo_client") == 0) return role_echo_client(argv);
    if (strcmp(ROLE, "msg_reader") == 0) return role_msg_reader(argv);
    if (strcmp(ROLE, "msg_writer") == 0) return role_msg_writer(argv);
    if (strcmp(ROLE, "duplex") == 0) return role_duplex(argv);
    if (strcmp(ROLE, "msg_sink") == 0) return role_msg_sink(argv);
    if (strcmp(ROLE, "sleeper") == 0) return role_sleeper(argv);
    if (strcmp(ROLE, "server_sleeper") == 0) return role_server_sleeper(argv);
    if (strcmp(ROLE, "big_writer") == 0) return role_big_writer(argv);
    if (strcmp(ROLE, "exit_pending") == 0) return role_exit_pending(argv);
    if (strcmp(ROLE, "bench_echo") == 0) return role_bench_echo(argv);
    if (strcmp(ROLE, "byte_writer") == 0) return role_byte_writer(argv);
    printf("unknown role %s\n", ROLE);
    return 2;
}
