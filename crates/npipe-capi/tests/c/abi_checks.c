/* npipe's own C test of the Win32 ABI: compiled against <npipe/win32.h> and libnpipe by
 * tests/c_abi.rs. Each CHECK names the W-number it covers (docs/WINDOWS-BEHAVIOUR.md); the
 * program prints "N passed, M failed" and exits non-zero on any failure. A second process (this
 * program re-run with "child") plays the client where processes matter. */
#include <npipe/win32.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
#include <pthread.h>
#include <stdint.h>

#include "checks.h"

static char pipe_name[128];
static char slot_name[128];

/* Runs this program again as a child playing `role`; returns its pid. */
/* A thread blocked in ReadFile on a handle another thread closes. */
struct blocked_read { HANDLE h; BOOL ok; DWORD err; volatile int started; };
static void *blocked_reader(void *arg) {
    struct blocked_read *b = arg;
    char buf[16];
    DWORD n = 0;
    /* A call first, so the ReadFile finds the handle in this thread's lookup cache (the C
     * layer's quick path, which must leave an observed handle to the general one, W27). */
    PeekNamedPipe(b->h, NULL, 0, NULL, NULL, NULL);
    __atomic_store_n(&b->started, 1, __ATOMIC_RELEASE);
    b->ok = ReadFile(b->h, buf, sizeof buf, &n, NULL);
    b->err = GetLastError();
    return NULL;
}

/* A thread in a synchronous WriteFile of `len` bytes. */
struct blocked_write { HANDLE h; const char *data; DWORD len; BOOL ok; DWORD n; };
static void *blocked_writer(void *arg) {
    struct blocked_write *b = arg;
    PeekNamedPipe(b->h, NULL, 0, NULL, NULL, NULL); /* as in blocked_reader */
    b->ok = WriteFile(b->h, b->data, b->len, &b->n, NULL);
    return NULL;
}

/* A thread in a synchronous call on a handle nothing has waited on yet: `what` 'r' ReadFile
 * through the general path (the thread's first use of the handle), 'q' ReadFile through the
 * quick path (a call first puts the handle in the thread's lookup cache), 'c' ConnectNamedPipe,
 * 't' TransactNamedPipe. */
struct unwatched { HANDLE h; char what; BOOL ok; DWORD n; };
static void *unwatched_call(void *arg) {
    struct unwatched *u = arg;
    char buf[16];
    switch (u->what) {
    case 'q':
        PeekNamedPipe(u->h, NULL, 0, NULL, NULL, NULL);
        /* fall through */
    case 'r': u->ok = ReadFile(u->h, buf, sizeof buf, &u->n, NULL); break;
    case 'c': u->ok = ConnectNamedPipe(u->h, NULL); break;
    case 't': u->ok = TransactNamedPipe(u->h, "ask", 3, buf, sizeof buf, &u->n, NULL); break;
    }
    return NULL;
}

/* A thread in FlushFileBuffers on `h`. */
static void *flusher(void *arg) {
    FlushFileBuffers(*(HANDLE *)arg);
    return NULL;
}

/* Two threads on one client handle nothing waits on: `writer` makes writes that finish at
 * once (each ends a synchronous call) while the main thread's reads wait for `poker`'s
 * messages, and `drainer` takes the writes on the server. */
struct mixed { HANDLE c, s, s2; volatile int stop; };
static void *mixed_writer(void *arg) {
    struct mixed *m = arg;
    DWORD n;
    while (!__atomic_load_n(&m->stop, __ATOMIC_ACQUIRE)) WriteFile(m->c, "w", 1, &n, NULL);
    return NULL;
}
static void *mixed_drainer(void *arg) {
    struct mixed *m = arg;
    char b[64];
    DWORD n;
    while (ReadFile(m->s, b, sizeof b, &n, NULL) && !(n == 4 && memcmp(b, "quit", 4) == 0)) {
    }
    return NULL;
}
static void *mixed_poker(void *arg) {
    struct mixed *m = arg;
    DWORD n;
    for (int k = 0; k < 20; k++) {
        usleep(200);
        WriteFile(m->s2, "x", 1, &n, NULL);
    }
    return NULL;
}

/* Polls `h` until its signalled state is `want` (WAIT_OBJECT_0 or WAIT_TIMEOUT), 5 s at most. */
static int reaches(HANDLE h, DWORD want) {
    for (int i = 0; i < 5000; i++) {
        if (WaitForSingleObject(h, 0) == want) return 1;
        usleep(1000);
    }
    return 0;
}

static int mailslot_child(void) {
    /* W148, W149: writers in another process; each WriteFile is one message. The second
     * writer names the mailslot through the pipe device (\\.\pipe\..\mailslot\...):
     * CreateFile routes on the normalised name (scenario 57). */
    char via_pipe[160];
    HANDLE w = CreateFileA(slot_name, GENERIC_WRITE, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL);
    DWORD n = 0;
    if (w == INVALID_HANDLE_VALUE) return 20;
    if (!WriteFile(w, "first", 5, &n, NULL) || n != 5) return 21;
    if (ReadFile(w, &n, 1, &n, NULL) || GetLastError() != ERROR_ACCESS_DENIED) return 23;
    if (!CloseHandle(w)) return 24;
    snprintf(via_pipe, sizeof via_pipe, "\\\\.\\pipe\\..\\%s", slot_name + 4);
    w = CreateFileA(via_pipe, GENERIC_WRITE, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL);
    if (w == INVALID_HANDLE_VALUE) return 25;
    if (!WriteFile(w, "", 0, &n, NULL) || n != 0) return 22;
    return CloseHandle(w) ? 0 : 26;
}

static int child(void) {
    /* W22/W57: the client opens in byte read mode; W130 CallNamedPipe from another process. */
    char out[64];
    DWORD n = 0;
    if (!WaitNamedPipeA(pipe_name, 10000)) return 10;
    if (!CallNamedPipeA(pipe_name, "ping", 4, out, sizeof out, &n, 10000)) return 11;
    if (n != 9 || memcmp(out, "pong:ping", 9) != 0) return 12;
    return 0;
}

/* A client of MAXIMUM_ALLOWED access in another process: it gets what the pipe grants (it reads
 * and writes a duplex pipe); once the server disconnects it, its reads fail with
 * ERROR_PIPE_NOT_CONNECTED and its handle is no longer signaled (W45). */
static int disconnected_child(void) {
    char buf[16];
    DWORD n = 0;
    if (!WaitNamedPipeA(pipe_name, 10000)) return 20;
    HANDLE c = CreateFileA(pipe_name, MAXIMUM_ALLOWED, 0, NULL, OPEN_EXISTING, 0, NULL);
    if (c == INVALID_HANDLE_VALUE) return 21;
    if (!WriteFile(c, "max", 3, &n, NULL) || n != 3) return 22;
    if (!ReadFile(c, buf, sizeof buf, &n, NULL) || n != 2 || memcmp(buf, "ok", 2) != 0) return 23;
    if (WaitForSingleObject(c, 0) != WAIT_OBJECT_0) return 24;
    /* Blocks until the server disconnects. */
    if (ReadFile(c, buf, sizeof buf, &n, NULL) || GetLastError() != ERROR_PIPE_NOT_CONNECTED) return 25;
    if (WaitForSingleObject(c, 100) != WAIT_TIMEOUT) return 26;
    CloseHandle(c);
    return 0;
}

int main(int argc, char **argv) {
    snprintf(pipe_name, sizeof pipe_name, "\\\\.\\pipe\\npipe-c-abi-%s", argc > 2 ? argv[2] : "x");
    snprintf(slot_name, sizeof slot_name, "\\\\.\\mailslot\\npipe-c-abi\\%s", argc > 2 ? argv[2] : "x");
    if (argc > 1 && strcmp(argv[1], "child") == 0) return child();
    if (argc > 1 && strcmp(argv[1], "mailslot") == 0) return mailslot_child();
    if (argc > 1 && strcmp(argv[1], "disconnected") == 0) return disconnected_child();
    snprintf(pipe_name, sizeof pipe_name, "\\\\.\\pipe\\npipe-c-abi-%d", (int)getpid());

    /* Types are Win32's sizes. */
    CHECK(sizeof(DWORD) == 4 && sizeof(BOOL) == 4 && sizeof(HANDLE) == sizeof(void *), "type sizes");

    /* W2, W3, W11: parameter and name errors. */
    HANDLE h = CreateNamedPipeA(NULL, PIPE_ACCESS_DUPLEX, 0, 1, 0, 0, 0, NULL);
    CHECK(h == INVALID_HANDLE_VALUE && GetLastError() == ERROR_PATH_NOT_FOUND, "W3 NULL name");
    h = CreateNamedPipeA("bad", PIPE_ACCESS_DUPLEX, 0, 1, 0, 0, 0, NULL);
    CHECK(h == INVALID_HANDLE_VALUE && GetLastError() == ERROR_INVALID_NAME, "W2 bad name");
    h = CreateNamedPipeA(pipe_name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE | PIPE_READMODE_MESSAGE, 1, 0, 0, 0, NULL);
    CHECK(h == INVALID_HANDLE_VALUE && GetLastError() == ERROR_INVALID_PARAMETER, "W11");
    /* INVALID_HANDLE_VALUE is GetCurrentProcess(): closing a pseudo handle has no effect. */
    CHECK(CloseHandle(INVALID_HANDLE_VALUE), "close the current-process pseudo handle");
    CHECK(CloseHandle(GetCurrentThread()), "close the current-thread pseudo handle");
    CHECK(!CloseHandle((HANDLE)(uintptr_t)4000) && GetLastError() == ERROR_INVALID_HANDLE, "close unknown");

    /* A message server; W23: a new pipe leaves ERROR_SUCCESS, a second instance ERROR_ALREADY_EXISTS. */
    SetLastError(77);
    HANDLE s = CreateNamedPipeA(pipe_name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 2, 1024, 1024, 0, NULL);
    CHECK(s != INVALID_HANDLE_VALUE && GetLastError() == 0, "create");
    HANDLE s2 = CreateNamedPipeA(pipe_name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE, 2, 1024, 1024, 0, NULL);
    CHECK(s2 != INVALID_HANDLE_VALUE && GetLastError() == ERROR_ALREADY_EXISTS, "W23 second instance");
    CloseHandle(s2);

    /* W46: read on a listening server. */
    char buf[64];
    DWORD n = 5;
    CHECK(!ReadFile(s, buf, sizeof buf, &n, NULL) && GetLastError() == ERROR_PIPE_LISTENING && n == 0, "W46");

    /* Client in another process: CallNamedPipe. */
    char arg[32];
    snprintf(arg, sizeof arg, "%d", (int)getpid());
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", argv[0], "child", arg, (char *)NULL);
        _exit(127);
    }
    CHECK(ConnectNamedPipe(s, NULL) || GetLastError() == ERROR_PIPE_CONNECTED, "connect");
    ULONG cpid = 0;
    CHECK(GetNamedPipeClientProcessId(s, &cpid) && cpid == (ULONG)pid, "W131 client pid");
    n = 0;
    CHECK(ReadFile(s, buf, sizeof buf, &n, NULL) && n == 4 && memcmp(buf, "ping", 4) == 0, "request");
    CHECK(WriteFile(s, "pong:ping", 9, &n, NULL) && n == 9, "reply");
    /* W113: after the caller closes, reading fails with ERROR_BROKEN_PIPE, writing with ERROR_NO_DATA. */
    CHECK(!ReadFile(s, buf, sizeof buf, &n, NULL) && GetLastError() == ERROR_BROKEN_PIPE, "W113");
    CHECK(!WriteFile(s, "x", 1, &n, NULL) && GetLastError() == ERROR_NO_DATA, "W114");
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child process");
    CHECK(DisconnectNamedPipe(s), "disconnect");
    CHECK(!DisconnectNamedPipe(s) && GetLastError() == ERROR_PIPE_NOT_CONNECTED, "W45");

    /* A MAXIMUM_ALLOWED client in another process, disconnected while it reads (W45). */
    pid = spawn_self(argv[0], "disconnected", arg);
    CHECK(ConnectNamedPipe(s, NULL) || GetLastError() == ERROR_PIPE_CONNECTED, "connect the second child");
    CHECK(ReadFile(s, buf, sizeof buf, &n, NULL) && n == 3 && memcmp(buf, "max", 3) == 0, "MAXIMUM_ALLOWED client writes");
    CHECK(WriteFile(s, "ok", 2, &n, NULL) && n == 2, "and reads");
    Sleep(100);
    CHECK(DisconnectNamedPipe(s), "disconnect it while it reads");
    CHECK(wait_ok(pid), "the child saw ERROR_PIPE_NOT_CONNECTED and its handle unsignaled (W45)");

    /* W69: a partial read with an OVERLAPPED reports 0 bytes and STATUS_BUFFER_OVERFLOW. */
    HANDLE c = CreateFileA(pipe_name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    CHECK(c == INVALID_HANDLE_VALUE && GetLastError() == ERROR_PIPE_BUSY, "W32 busy while disconnected");
    CHECK(!ConnectNamedPipe(c, NULL) && GetLastError() == ERROR_INVALID_HANDLE, "connect on invalid handle");
    DWORD mode = PIPE_NOWAIT | PIPE_READMODE_MESSAGE;
    CHECK(SetNamedPipeHandleState(s, &mode, NULL, NULL), "set nowait");
    CHECK(!ConnectNamedPipe(s, NULL) && GetLastError() == ERROR_PIPE_LISTENING, "W111 nowait listen");
    c = CreateFileA(pipe_name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    CHECK(c != INVALID_HANDLE_VALUE, "open after nowait listen");
    CHECK(!ConnectNamedPipe(c, NULL) && GetLastError() == ERROR_INVALID_FUNCTION, "W37");
    CHECK(!ReadFile(s, buf, sizeof buf, &n, NULL) && GetLastError() == ERROR_NO_DATA, "W107 nowait empty read");
    CHECK(WriteFile(c, "0123456789", 10, &n, NULL) && n == 10, "client write");
    /* A NULL buffer with a non-zero size is ERROR_NOACCESS on Windows, for reads, writes and
     * transactions; the handle is checked first. Peek documents NULL as "no data wanted". */
    CHECK(!ReadFile(s, NULL, 10, &n, NULL) && GetLastError() == ERROR_NOACCESS, "ReadFile NULL buffer");
    CHECK(!WriteFile(c, NULL, 10, &n, NULL) && GetLastError() == ERROR_NOACCESS, "WriteFile NULL buffer");
    CHECK(!TransactNamedPipe(c, NULL, 4, buf, sizeof buf, &n, NULL) && GetLastError() == ERROR_NOACCESS, "Transact NULL buffer");
    CHECK(!ReadFile((HANDLE)(uintptr_t)4000, NULL, 10, &n, NULL) && GetLastError() == ERROR_INVALID_HANDLE, "handle checked first");
    CHECK(WriteFile(c, NULL, 0, &n, NULL) && n == 0, "NULL buffer of size 0");
    OVERLAPPED ov;
    memset(&ov, 0, sizeof ov);
    n = 99;
    CHECK(!ReadFile(s, buf, 1, &n, &ov) && GetLastError() == ERROR_MORE_DATA, "W69 more data");
    CHECK(n == 0 && ov.Internal == 0x80000005 && ov.InternalHigh == 1, "W69 counts");
    DWORD rd = 0, avail = 0, left = 0;
    CHECK(PeekNamedPipe(s, (LPVOID)1, 0, &rd, &avail, &left) && rd == 0 && avail == 9 && left == 9, "W82/W85 peek");
    /* W67: without an OVERLAPPED a partial read reports what it copied, and the rest stays
     * (both calls take the C layer's quick path: the handle is in this thread's cache). */
    n = 0;
    CHECK(!ReadFile(s, buf, 4, &n, NULL) && GetLastError() == ERROR_MORE_DATA && n == 4 && memcmp(buf, "1234", 4) == 0, "W67 more data");
    n = 0;
    CHECK(!ReadFile(s, buf, 2, &n, NULL) && GetLastError() == ERROR_MORE_DATA && n == 2 && memcmp(buf, "56", 2) == 0, "W67 more data again");
    CHECK(PeekNamedPipe(s, NULL, 0, NULL, &avail, &left) && avail == 3 && left == 3, "W67 the rest stays");
    DWORD state = 9, inst = 9;
    CHECK(GetNamedPipeHandleStateA(s, &state, &inst, NULL, NULL, NULL, 0) && state == 3 && inst == 1, "W118 state");
    DWORD coll = 0;
    CHECK(!GetNamedPipeHandleStateA(s, &state, &inst, &coll, NULL, NULL, 0) && GetLastError() == ERROR_INVALID_PARAMETER, "W118 collection");
    DWORD flags = 9, out = 9, in = 9, max = 9;
    CHECK(GetNamedPipeInfo(c, &flags, &out, &in, &max) && flags == PIPE_TYPE_MESSAGE && out == 1024 && in == 1024 && max == 2, "W20 client info");
    CloseHandle(c);
    CloseHandle(s);
    CHECK(!WaitNamedPipeA(pipe_name, 0) && GetLastError() == ERROR_FILE_NOT_FOUND, "W8 gone");

    /* CloseHandle while another thread is blocked in ReadFile on the handle: the read ends with
     * ERROR_OPERATION_ABORTED and the client sees the close at once. */
    s = CreateNamedPipeA(pipe_name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1, 0, 0, 0, NULL);
    c = CreateFileA(pipe_name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    CHECK(s != INVALID_HANDLE_VALUE && c != INVALID_HANDLE_VALUE, "pair for the close test");
    struct blocked_read br = {s, TRUE, 0, 0};
    pthread_t t;
    pthread_create(&t, NULL, blocked_reader, &br);
    /* Wait for the thread to be on its way into ReadFile (a loaded machine can start it late:
     * a read issued after the close would fail with ERROR_INVALID_HANDLE instead). */
    while (!__atomic_load_n(&br.started, __ATOMIC_ACQUIRE)) usleep(1000);
    usleep(200 * 1000);
    CHECK(CloseHandle(s), "close under a blocked read");
    pthread_join(t, NULL);
    if (br.ok || br.err != ERROR_OPERATION_ABORTED) printf("  the blocked read: ok %d, error %u\n", br.ok, (unsigned)br.err);
    CHECK(!br.ok && br.err == ERROR_OPERATION_ABORTED, "blocked read aborted");
    CHECK(!ReadFile(c, buf, sizeof buf, &n, NULL) && GetLastError() == ERROR_BROKEN_PIPE, "client sees the close");
    CHECK(!WriteFile(c, "x", 1, &n, NULL) && GetLastError() == ERROR_NO_DATA, "client write after the close");
    CloseHandle(c);

    /* W26, W27: a synchronous ReadFile or WriteFile without an OVERLAPPED makes its handle
     * non-signalled while it runs, and signalled again when it ends, once a wait has looked at
     * the handle. */
    s = CreateNamedPipeA(pipe_name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1, 4096, 4096, 0, NULL);
    c = CreateFileA(pipe_name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    CHECK(s != INVALID_HANDLE_VALUE && c != INVALID_HANDLE_VALUE, "pair for the signal test");
    CHECK(WaitForSingleObject(s, 0) == WAIT_OBJECT_0, "W26 a new server handle is signalled");
    struct blocked_read sr = {s, FALSE, 0, 0};
    pthread_create(&t, NULL, blocked_reader, &sr);
    CHECK(reaches(s, WAIT_TIMEOUT), "W27 non-signalled during a synchronous ReadFile");
    CHECK(WriteFile(c, "wake", 4, &n, NULL) && n == 4, "write for the blocked read");
    pthread_join(t, NULL);
    CHECK(sr.ok, "the blocked read completes");
    CHECK(WaitForSingleObject(s, 0) == WAIT_OBJECT_0, "W26 signalled after the synchronous ReadFile");
    /* A write larger than the reader's quota waits for the reader (W91). */
    static char big[64 * 1024];
    memset(big, 'b', sizeof big);
    CHECK(WaitForSingleObject(c, 0) == WAIT_OBJECT_0, "W26 a client handle is signalled");
    struct blocked_write bw = {c, big, sizeof big, FALSE, 0};
    pthread_create(&t, NULL, blocked_writer, &bw);
    CHECK(reaches(c, WAIT_TIMEOUT), "W27 non-signalled during a synchronous WriteFile");
    static char got[64 * 1024];
    n = 0;
    CHECK(ReadFile(s, got, sizeof got, &n, NULL) && n == sizeof got && memcmp(got, big, sizeof got) == 0, "the large message");
    pthread_join(t, NULL);
    CHECK(bw.ok && bw.n == sizeof big, "the blocked write completes");
    CHECK(WaitForSingleObject(c, 0) == WAIT_OBJECT_0, "W26 signalled after the synchronous WriteFile");
    /* A failed synchronous read leaves the handle signalled too. */
    CHECK(!ReadFile(s, NULL, 10, &n, NULL) && GetLastError() == ERROR_NOACCESS, "NULL buffer on the signal pair");
    CloseHandle(c);
    CHECK(!ReadFile(s, buf, sizeof buf, &n, NULL) && GetLastError() == ERROR_BROKEN_PIPE, "read after the client closed");
    CHECK(WaitForSingleObject(s, 0) == WAIT_OBJECT_0, "W26 signalled after a failed synchronous ReadFile");
    CloseHandle(s);

    /* W27 on handles nothing had looked at when the call began: the C layer leaves such a
     * handle's signal alone during calls that finish at once, but one that waits turns it
     * non-signalled until it ends, when another thread may look at it for the first time. */
    const char *kinds = "rqct";
    for (const char *k = kinds; *k; k++) {
        s = CreateNamedPipeA(pipe_name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1, 4096, 4096, 0, NULL);
        c = *k == 'c' ? INVALID_HANDLE_VALUE : CreateFileA(pipe_name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
        DWORD mode = PIPE_READMODE_MESSAGE;
        if (c != INVALID_HANDLE_VALUE) SetNamedPipeHandleState(c, &mode, NULL, NULL);
        struct unwatched u = {*k == 't' ? c : s, *k, FALSE, 0};
        pthread_create(&t, NULL, unwatched_call, &u);
        /* Long enough for the call to begin and wait (its spin is tens of microseconds): the
         * polls below are the first look at the handle. */
        usleep(100 * 1000);
        char what[96];
        snprintf(what, sizeof what, "W27 non-signalled while an unwatched call '%c' waits", *k);
        CHECK(reaches(u.h, WAIT_TIMEOUT), what);
        if (*k == 'c') {
            c = CreateFileA(pipe_name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
        } else if (*k == 't') {
            CHECK(ReadFile(s, buf, sizeof buf, &n, NULL) && n == 3, "the transaction's request");
            CHECK(WriteFile(s, "answer", 6, &n, NULL), "the transaction's reply");
        } else {
            CHECK(WriteFile(c, "wake", 4, &n, NULL) && n == 4, "write for the unwatched read");
        }
        pthread_join(t, NULL);
        snprintf(what, sizeof what, "the unwatched call '%c' completes", *k);
        CHECK(u.ok, what);
        snprintf(what, sizeof what, "W26 signalled after the unwatched call '%c'", *k);
        CHECK(WaitForSingleObject(u.h, 0) == WAIT_OBJECT_0, what);
        CloseHandle(c);
        CloseHandle(s);
    }

    /* W26, W27 for FlushFileBuffers, a synchronous call too: non-signalled while it waits for
     * the reader, signalled once it returns. */
    s = CreateNamedPipeA(pipe_name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1, 4096, 4096, 0, NULL);
    c = CreateFileA(pipe_name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    CHECK(WriteFile(c, "unread", 6, &n, NULL), "a message for the flush to wait on");
    pthread_create(&t, NULL, flusher, &c);
    usleep(100 * 1000);
    CHECK(reaches(c, WAIT_TIMEOUT), "W27 non-signalled while FlushFileBuffers waits");
    CHECK(ReadFile(s, buf, sizeof buf, &n, NULL) && n == 6, "the reader takes it");
    pthread_join(t, NULL);
    CHECK(WaitForSingleObject(c, 0) == WAIT_OBJECT_0, "W26 signalled after FlushFileBuffers");
    CloseHandle(c);
    CloseHandle(s);

    /* A handle two threads use at once: once neither has a call in progress, it is signalled,
     * whatever order their calls ended and waited in. */
    int stuck = -1;
    for (int round = 0; round < 200 && stuck < 0; round++) {
        struct mixed m = {INVALID_HANDLE_VALUE, INVALID_HANDLE_VALUE, INVALID_HANDLE_VALUE, 0};
        m.s = CreateNamedPipeA(pipe_name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1, 65536, 65536, 0, NULL);
        m.c = CreateFileA(pipe_name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
        DWORD mode = PIPE_READMODE_MESSAGE;
        SetNamedPipeHandleState(m.c, &mode, NULL, NULL);
        DuplicateHandle(GetCurrentProcess(), m.s, GetCurrentProcess(), &m.s2, 0, FALSE, DUPLICATE_SAME_ACCESS);
        pthread_t w, d, p;
        pthread_create(&d, NULL, mixed_drainer, &m);
        pthread_create(&w, NULL, mixed_writer, &m);
        pthread_create(&p, NULL, mixed_poker, &m);
        for (int k = 0; k < 20; k++) ReadFile(m.c, buf, sizeof buf, &n, NULL);
        pthread_join(p, NULL);
        __atomic_store_n(&m.stop, 1, __ATOMIC_RELEASE);
        pthread_join(w, NULL);
        WriteFile(m.c, "quit", 4, &n, NULL);
        pthread_join(d, NULL);
        if (WaitForSingleObject(m.c, 0) != WAIT_OBJECT_0) stuck = round;
        CloseHandle(m.c);
        CloseHandle(m.s2);
        CloseHandle(m.s);
    }
    if (stuck >= 0) printf("  round %d left the handle non-signalled\n", stuck);
    CHECK(stuck < 0, "W26 signalled once no call on a shared handle is in progress");

    /* Names with unpaired UTF-16 surrogates have no spelling of their own: they are refused
     * rather than aliased to one another (lossy decoding would make both U+FFFD). */
    WCHAR wa[] = {'\\', '\\', '.', '\\', 'p', 'i', 'p', 'e', '\\', 'x', 0xD800, 0};
    WCHAR wb[] = {'\\', '\\', '.', '\\', 'p', 'i', 'p', 'e', '\\', 'x', 0xDC00, 0};
    h = CreateNamedPipeW(wa, PIPE_ACCESS_DUPLEX, 0, 1, 0, 0, 0, NULL);
    CHECK(h == INVALID_HANDLE_VALUE && GetLastError() == ERROR_INVALID_NAME, "lone high surrogate");
    h = CreateNamedPipeW(wb, PIPE_ACCESS_DUPLEX, 0, 1, 0, 0, 0, NULL);
    CHECK(h == INVALID_HANDLE_VALUE && GetLastError() == ERROR_INVALID_NAME, "lone low surrogate");
    CHECK(CreateFileW(wa, GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL) == INVALID_HANDLE_VALUE && GetLastError() == ERROR_FILE_NOT_FOUND, "open lone surrogate");

    /* Mailslots (W141-W150), with the writer in another process. */
    snprintf(slot_name, sizeof slot_name, "\\\\.\\mailslot\\npipe-c-abi\\%d", (int)getpid());
    h = CreateMailslotA(NULL, 0, 0, NULL);
    CHECK(h == INVALID_HANDLE_VALUE && GetLastError() == ERROR_PATH_NOT_FOUND, "W141 NULL name");
    HANDLE ms = CreateMailslotA(slot_name, 0, MAILSLOT_WAIT_FOREVER, NULL);
    CHECK(ms != INVALID_HANDLE_VALUE, "create mailslot");
    CHECK(CreateMailslotA(slot_name, 0, 0, NULL) == INVALID_HANDLE_VALUE && GetLastError() == ERROR_ALREADY_EXISTS, "W144");
    CHECK(GetMailslotInfo(ms, NULL, NULL, NULL, NULL), "W142 NULL out pointers");
    CHECK(!GetMailslotInfo(INVALID_HANDLE_VALUE, NULL, NULL, NULL, NULL), "W141 info on invalid handle");
    pid = spawn_self(argv[0], "mailslot", arg);
    CHECK(wait_ok(pid), "mailslot writer process");
    DWORD next = 0, count = 0, timeout = 0;
    CHECK(GetMailslotInfo(ms, &max, &next, &count, &timeout) && max == 0 && next == 5 && count == 2 && timeout == MAILSLOT_WAIT_FOREVER, "W150 info");
    CHECK(!ReadFile(ms, buf, 2, &n, NULL) && GetLastError() == ERROR_INSUFFICIENT_BUFFER, "W151 short buffer");
    CHECK(ReadFile(ms, buf, sizeof buf, &n, NULL) && n == 5 && memcmp(buf, "first", 5) == 0, "W149 first message");
    CHECK(ReadFile(ms, buf, sizeof buf, &n, NULL) && n == 0, "W150 empty message");
    CHECK(!WriteFile(ms, "x", 1, &n, NULL) && GetLastError() == ERROR_ACCESS_DENIED, "W147");
    CHECK(SetMailslotInfo(ms, 0) && !ReadFile(ms, buf, sizeof buf, &n, NULL) && GetLastError() == ERROR_SEM_TIMEOUT, "W145/W152");
    CloseHandle(ms);
    CHECK(CreateFileA(slot_name, GENERIC_WRITE, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL) == INVALID_HANDLE_VALUE && GetLastError() == ERROR_FILE_NOT_FOUND, "W152 gone");

    /* Anonymous pipes (W135, W137, W139): a forked child writes through the inherited
     * descriptor; EOF reaches the parent only after the child's copy is gone too. */
    HANDLE r, w;
    CHECK(CreatePipe(&r, &w, NULL, 0), "CreatePipe");
    CHECK(GetNamedPipeInfo(r, &flags, &out, &in, &max) && flags == PIPE_SERVER_END && out == 4096 && max == 1, "W135 read end");
    int wfd = npipe_handle_fd(w);
    CHECK(wfd >= 0 && npipe_handle_fd((HANDLE)(uintptr_t)4000) == -1 && GetLastError() == ERROR_INVALID_HANDLE, "npipe_handle_fd");
    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        ssize_t k = write(wfd, "from child", 10);
        _exit(k == 10 ? 0 : 1);
    }
    CHECK(CloseHandle(w), "close parent write end");
    CHECK(wait_ok(pid), "anonymous pipe writer process");
    CHECK(ReadFile(r, buf, sizeof buf, &n, NULL) && n == 10 && memcmp(buf, "from child", 10) == 0, "read child data");
    CHECK(!ReadFile(r, buf, sizeof buf, &n, NULL) && GetLastError() == ERROR_BROKEN_PIPE, "W137 EOF");
    CloseHandle(r);
    CHECK(CreatePipe(&r, &w, NULL, 0) && CloseHandle(r), "second pipe");
    CHECK(!WriteFile(w, "x", 1, &n, NULL) && GetLastError() == ERROR_NO_DATA, "W139 no SIGPIPE");
    CloseHandle(w);

    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
