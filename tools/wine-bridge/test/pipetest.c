/* pipetest.c: the test client and echo server of .ci/wine, one Win32 source built twice: with
 * mingw-w64 as a Windows program run under Wine, and with cc against npipe's <windows.h> as a
 * native npipe program. Each check prints PASS or FAIL; the exit code is the number of FAILs.
 *
 *   pipetest server NAME [--max N] [--byte]     echo server (runs until killed)
 *   pipetest client NAME [--max N] [--byte]     the checks against an echo server
 *   pipetest busy NAME                          checks against a server started with --max 1
 *   pipetest absent NAME                        CreateFile and WaitNamedPipe on a missing name
 *   pipetest bench NAME N                       N 64-byte round trips; prints the p50 in us
 *
 * Server commands, as whole messages: "BIG n" answers with one n-byte message; "CLOSE" answers
 * "BYE" and closes the instance; "DISCONNECT" disconnects the client (DisconnectNamedPipe) and
 * closes the instance; anything else is echoed. */
#include <windows.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char path[300];
static int byte_mode;
static DWORD max_instances = PIPE_UNLIMITED_INSTANCES;
static volatile LONG fails;

static void check(int ok, const char *what) {
    printf("%s %s\n", ok ? "PASS" : "FAIL", what);
    fflush(stdout);
    if (!ok)
        InterlockedIncrement(&fails);
}

/* Reads one message into *buf, growing it. In byte mode: exactly want bytes, or with want 0
 * what one ReadFile returns (as much as has arrived, up to the buffer). */
static BOOL read_msg(HANDLE h, char **buf, DWORD *cap, DWORD want, DWORD *len, DWORD *err) {
    *len = 0;
    for (;;) {
        if (*cap - *len < 65536) {
            /* (npipe's header has no HeapReAlloc: allocate, copy, free) */
            char *p = HeapAlloc(GetProcessHeap(), 0, *cap + 65536);
            if (!p) {
                *err = ERROR_NOT_ENOUGH_MEMORY;
                return FALSE;
            }
            if (*buf) {
                memcpy(p, *buf, *len);
                HeapFree(GetProcessHeap(), 0, *buf);
            }
            *buf = p, *cap += 65536;
        }
        DWORD n = 0, room = *cap - *len;
        if (byte_mode && want && room > want - *len)
            room = want - *len;
        BOOL ok = ReadFile(h, *buf + *len, room, &n, NULL);
        *len += n;
        if (!ok && GetLastError() == ERROR_MORE_DATA)
            continue;
        if (!ok) {
            *err = GetLastError();
            return FALSE;
        }
        if (!byte_mode || *len >= want)
            return TRUE;
    }
}

static BOOL write_all(HANDLE h, const char *p, DWORD n) {
    DWORD w = 0;
    return WriteFile(h, p, n, &w, NULL) && w == n;
}

/* ---- server ---- */

static DWORD WINAPI serve_one(LPVOID arg) {
    HANDLE h = arg;
    char *buf = NULL;
    DWORD cap = 0, len, err;
    /* (in byte mode a chunk as it arrives: reading one byte per call made each echo of the
     * client's 64 KiB cost 65,536 Wine round trips, about 11 s through the bridge) */
    while (read_msg(h, &buf, &cap, 0, &len, &err)) {
        if (len > 4 && !memcmp(buf, "BIG ", 4)) {
            DWORD n = (DWORD)atoi(buf + 4);
            char *big = HeapAlloc(GetProcessHeap(), 0, n ? n : 1);
            for (DWORD i = 0; i < n; i++)
                big[i] = (char)('a' + i % 26);
            write_all(h, big, n);
            HeapFree(GetProcessHeap(), 0, big);
        } else if (len == 10 && !memcmp(buf, "DISCONNECT", 10)) {
            DisconnectNamedPipe(h);
            break;
        } else if (len == 5 && !memcmp(buf, "CLOSE", 5)) {
            write_all(h, "BYE", 3);
            break;
        } else if (!write_all(h, buf, len)) {
            break;
        }
    }
    CloseHandle(h);
    HeapFree(GetProcessHeap(), 0, buf);
    return 0;
}

static int server(void) {
    DWORD mode = byte_mode ? PIPE_TYPE_BYTE | PIPE_READMODE_BYTE : PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE;
    printf("serving %s\n", path);
    fflush(stdout);
    for (;;) {
        HANDLE h = CreateNamedPipeA(path, PIPE_ACCESS_DUPLEX, mode | PIPE_WAIT, max_instances, 65536, 65536, 0, NULL);
        if (h == INVALID_HANDLE_VALUE) {
            Sleep(10); /* at the instance limit: wait for one to close */
            continue;
        }
        if (!ConnectNamedPipe(h, NULL) && GetLastError() != ERROR_PIPE_CONNECTED) {
            CloseHandle(h);
            continue;
        }
        HANDLE t = CreateThread(NULL, 0, serve_one, h, 0, NULL);
        if (t)
            CloseHandle(t);
        else
            CloseHandle(h);
    }
    return 0;
}

/* ---- client ---- */

static HANDLE open_pipe(DWORD *err) {
    /* The usual loop: another client may take the instance WaitNamedPipe saw. */
    HANDLE h;
    for (int tries = 0;; tries++) {
        h = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
        if (h != INVALID_HANDLE_VALUE || GetLastError() != ERROR_PIPE_BUSY || tries == 20)
            break;
        if (!WaitNamedPipeA(path, 5000))
            break;
    }
    *err = h == INVALID_HANDLE_VALUE ? GetLastError() : 0;
    if (h != INVALID_HANDLE_VALUE && !byte_mode) {
        DWORD m = PIPE_READMODE_MESSAGE;
        SetNamedPipeHandleState(h, &m, NULL, NULL);
    }
    return h;
}

/* Sends an n-byte message of a pattern and checks that the same comes back. */
static int echo(HANDLE h, DWORD n, unsigned seed, char **buf, DWORD *cap) {
    if (byte_mode && n == 0)
        return 1; /* no such thing as an empty write on a byte pipe */
    char *msg = HeapAlloc(GetProcessHeap(), 0, n ? n : 1);
    for (DWORD i = 0; i < n; i++)
        msg[i] = (char)(seed + i * 7);
    if (n >= 4 && (!memcmp(msg, "BIG ", 4) || !memcmp(msg, "CLOSE", n < 5 ? n : 5)))
        msg[0] = 'x';
    DWORD len = 0, err = 0;
    int ok = write_all(h, msg, n) && read_msg(h, buf, cap, n, &len, &err) && len == n && !memcmp(*buf, msg, n);
    HeapFree(GetProcessHeap(), 0, msg);
    return ok;
}

struct worker {
    int id, ok;
};

static DWORD WINAPI client_worker(LPVOID arg) {
    struct worker *w = arg;
    DWORD err;
    HANDLE h = open_pipe(&err);
    char *buf = NULL;
    DWORD cap = 0;
    w->ok = h != INVALID_HANDLE_VALUE;
    for (int i = 0; w->ok && i < 50; i++) {
        w->ok = echo(h, (DWORD)(i * 997 % 5000), (unsigned)(w->id * 31 + i), &buf, &cap);
        if (!w->ok)
            printf("client %d: echo %d of %lu B failed (error %lu)\n", w->id, i, (unsigned long)(i * 997 % 5000),
                   (unsigned long)GetLastError());
    }
    if (h != INVALID_HANDLE_VALUE)
        CloseHandle(h);
    HeapFree(GetProcessHeap(), 0, buf);
    return 0;
}

static int client(void) {
    DWORD err;
    char what[400], *buf = NULL;
    DWORD cap = 0;
    HANDLE h = open_pipe(&err);
    snprintf(what, sizeof what, "open %s (error %lu)", path, (unsigned long)err);
    check(h != INVALID_HANDLE_VALUE, what);
    if (h == INVALID_HANDLE_VALUE)
        return 1;

    DWORD flags = 0, out = 0, in = 0, max = 0;
    BOOL info = GetNamedPipeInfo(h, &flags, &out, &in, &max);
    snprintf(what, sizeof what, "GetNamedPipeInfo: %s, out %lu, in %lu, max instances %lu (the server's)",
             flags & PIPE_TYPE_MESSAGE ? "message" : "byte", (unsigned long)out, (unsigned long)in,
             (unsigned long)max);
    check(info && (!(flags & PIPE_TYPE_MESSAGE)) == byte_mode && out == 65536 && in == 65536 &&
              (max == max_instances || (max_instances == PIPE_UNLIMITED_INSTANCES && max == 0xFFFFFFFF)),
          what);

    static const DWORD sizes[] = {0, 1, 65536, 300000, 64, 3};
    /* (in byte mode the echo of 300000 B written at once would fill both quotas and deadlock, as on Windows) */
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        if (byte_mode && (sizes[i] == 0 || sizes[i] > 65536))
            continue;
        snprintf(what, sizeof what, "%s of %lu B echoed whole", byte_mode ? "bytes" : "message",
                 (unsigned long)sizes[i]);
        check(echo(h, sizes[i], (unsigned)i, &buf, &cap), what);
    }

    if (!byte_mode) {
        /* Nine messages back to back, then read: boundaries kept, empty ones too. */
        static const DWORD nine[] = {1, 5, 64, 0, 4096, 3, 1000, 0, 9000};
        char *m = HeapAlloc(GetProcessHeap(), 0, 9000);
        memset(m, 'q', 9000);
        int ok = 1;
        for (int i = 0; i < 9; i++)
            ok &= write_all(h, m, nine[i]);
        for (int i = 0; i < 9 && ok; i++) {
            DWORD len = 0;
            ok = read_msg(h, &buf, &cap, 0, &len, &err) && len == nine[i];
        }
        HeapFree(GetProcessHeap(), 0, m);
        check(ok, "nine pipelined messages keep their boundaries (two empty)");

        /* ERROR_MORE_DATA: a 100-byte message read with 16-byte buffers. */
        write_all(h, "BIG 100", 7);
        char small[16];
        int more = 0, total = 0;
        for (;;) {
            DWORD n = 0;
            BOOL r = ReadFile(h, small, sizeof small, &n, NULL);
            total += (int)n;
            if (r)
                break;
            if (GetLastError() != ERROR_MORE_DATA) {
                more = -100;
                break;
            }
            more++;
        }
        snprintf(what, sizeof what, "100 B message read by 16 B: %d x ERROR_MORE_DATA then TRUE, %d B", more, total);
        check(more == 6 && total == 100, what);
    }

    /* Several clients at once. */
    struct worker w[4];
    HANDLE t[4];
    for (int i = 0; i < 4; i++) {
        w[i].id = i, w[i].ok = 0;
        t[i] = CreateThread(NULL, 0, client_worker, &w[i], 0, NULL);
    }
    DWORD wr = WaitForMultipleObjects(4, t, TRUE, 60000);
    int all = wr == WAIT_OBJECT_0;
    for (int i = 0; i < 4; i++)
        all &= w[i].ok, CloseHandle(t[i]);
    snprintf(what, sizeof what, "four clients at once, 50 messages each (wait %lu, ok %d%d%d%d)", (unsigned long)wr,
             w[0].ok, w[1].ok, w[2].ok, w[3].ok);
    check(all, what);

    /* The server closes: the answer written before still arrives, then ERROR_BROKEN_PIPE. */
    if (!byte_mode) {
        DWORD len = 0;
        int ok = write_all(h, "CLOSE", 5) && read_msg(h, &buf, &cap, 3, &len, &err) && len == 3 &&
                 !memcmp(buf, "BYE", 3);
        check(ok, "reply written just before the server's CloseHandle arrives");
        DWORD n;
        char c;
        BOOL r = ReadFile(h, &c, 1, &n, NULL);
        err = r ? 0 : GetLastError();
        snprintf(what, sizeof what, "then ReadFile fails with ERROR_BROKEN_PIPE (got %lu)", (unsigned long)err);
        check(!r && err == ERROR_BROKEN_PIPE, what);
        r = WriteFile(h, "x", 1, &n, NULL);
        err = r ? 0 : GetLastError();
        snprintf(what, sizeof what, "and WriteFile fails with ERROR_NO_DATA (got %lu)", (unsigned long)err);
        check(!r && err == ERROR_NO_DATA, what);
    }
    CloseHandle(h);

    /* The server disconnects: the client's next ReadFile fails with ERROR_PIPE_NOT_CONNECTED.
     * (Message pipes only: the byte-mode server reads in pieces and sees no command.) */
    h = byte_mode ? INVALID_HANDLE_VALUE : open_pipe(&err);
    if (h != INVALID_HANDLE_VALUE) {
        DWORD n;
        char c;
        write_all(h, "DISCONNECT", 10);
        BOOL r = ReadFile(h, &c, 1, &n, NULL);
        err = r ? 0 : GetLastError();
        CloseHandle(h);
    }
    if (!byte_mode) {
        snprintf(what, sizeof what,
                 "server's DisconnectNamedPipe: ReadFile fails with ERROR_PIPE_NOT_CONNECTED (got %lu)",
                 (unsigned long)err);
        check(err == ERROR_PIPE_NOT_CONNECTED, what);
    }
    HeapFree(GetProcessHeap(), 0, buf);
    return (int)fails;
}

/* Against a server with one instance: a second client gets ERROR_PIPE_BUSY at CreateFile and
 * ERROR_SEM_TIMEOUT from WaitNamedPipe, and gets in once the first one leaves. */
static int busy(void) {
    char what[200];
    DWORD err;
    HANDLE a = open_pipe(&err);
    check(a != INVALID_HANDLE_VALUE, "first client takes the only instance");
    Sleep(500); /* the bridge withdraws its instance within 200 ms */
    HANDLE b = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    err = b == INVALID_HANDLE_VALUE ? GetLastError() : 0;
    snprintf(what, sizeof what, "second client: CreateFile fails with ERROR_PIPE_BUSY (got %lu)", (unsigned long)err);
    check(err == ERROR_PIPE_BUSY, what);
    if (b != INVALID_HANDLE_VALUE)
        CloseHandle(b);
    BOOL wt = WaitNamedPipeA(path, 300);
    err = wt ? 0 : GetLastError();
    snprintf(what, sizeof what, "WaitNamedPipe(300 ms) fails with ERROR_SEM_TIMEOUT (got %lu)", (unsigned long)err);
    check(!wt && err == ERROR_SEM_TIMEOUT, what);
    CloseHandle(a);
    wt = WaitNamedPipeA(path, 5000);
    DWORD werr = wt ? 0 : GetLastError();
    err = 0;
    b = wt ? open_pipe(&err) : INVALID_HANDLE_VALUE;
    char *buf = NULL;
    DWORD cap = 0;
    int echoed = b != INVALID_HANDLE_VALUE && echo(b, 10, 1, &buf, &cap);
    snprintf(what, sizeof what,
             "after the first one leaves, WaitNamedPipe (error %lu) then CreateFile (error %lu) get in and echo (%d)",
             (unsigned long)werr, (unsigned long)err, echoed);
    check(echoed, what);
    if (b != INVALID_HANDLE_VALUE)
        CloseHandle(b);
    return (int)fails;
}

static int absent(void) {
    char what[200];
    HANDLE h = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    DWORD err = h == INVALID_HANDLE_VALUE ? GetLastError() : 0;
    snprintf(what, sizeof what, "no server: CreateFile fails with ERROR_FILE_NOT_FOUND (got %lu)", (unsigned long)err);
    check(err == ERROR_FILE_NOT_FOUND, what);
    if (h != INVALID_HANDLE_VALUE)
        CloseHandle(h);
    BOOL w = WaitNamedPipeA(path, 100);
    err = w ? 0 : GetLastError();
    snprintf(what, sizeof what, "no server: WaitNamedPipe fails with ERROR_FILE_NOT_FOUND (got %lu)", (unsigned long)err);
    check(!w && err == ERROR_FILE_NOT_FOUND, what);
    return (int)fails;
}

/* Microseconds from a monotonic clock (npipe's header has no QueryPerformanceCounter). */
#ifdef _WIN32
static ULONGLONG now_us(void) {
    LARGE_INTEGER f, t;
    QueryPerformanceFrequency(&f);
    QueryPerformanceCounter(&t);
    return (ULONGLONG)(t.QuadPart / f.QuadPart * 1000000 + t.QuadPart % f.QuadPart * 1000000 / f.QuadPart);
}
#else
#include <time.h>
static ULONGLONG now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (ULONGLONG)ts.tv_sec * 1000000 + (ULONGLONG)ts.tv_nsec / 1000;
}
#endif

static int cmp_ull(const void *a, const void *b) {
    ULONGLONG x = *(const ULONGLONG *)a, y = *(const ULONGLONG *)b;
    return x < y ? -1 : x > y;
}

static int bench(int n) {
    DWORD err;
    HANDLE h = open_pipe(&err);
    if (h == INVALID_HANDLE_VALUE) {
        printf("FAIL bench: open (error %lu)\n", (unsigned long)err);
        return 1;
    }
    ULONGLONG *us = HeapAlloc(GetProcessHeap(), 0, sizeof *us * (size_t)n);
    char *buf = NULL;
    DWORD cap = 0;
    for (int i = -200; i < n; i++) {
        ULONGLONG t0 = now_us();
        if (!echo(h, 64, (unsigned)i, &buf, &cap)) {
            printf("FAIL bench: echo %d\n", i);
            return 1;
        }
        if (i >= 0)
            us[i] = now_us() - t0;
    }
    qsort(us, (size_t)n, sizeof *us, cmp_ull);
    printf("p50 %llu us (min %llu, p90 %llu) over %d round trips of 64 B\n", (unsigned long long)us[n / 2],
           (unsigned long long)us[0], (unsigned long long)us[n * 9 / 10], n);
    CloseHandle(h);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: pipetest server|client|busy|absent|bench NAME [N] [--max N] [--byte]\n");
        return 2;
    }
    snprintf(path, sizeof path, "\\\\.\\pipe\\%s", argv[2]);
    int n = 3000;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--max") && i + 1 < argc)
            max_instances = (DWORD)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--byte"))
            byte_mode = 1;
        else
            n = atoi(argv[i]);
    }
    if (!strcmp(argv[1], "server"))
        return server();
    if (!strcmp(argv[1], "client"))
        return client();
    if (!strcmp(argv[1], "busy"))
        return busy();
    if (!strcmp(argv[1], "absent"))
        return absent();
    if (!strcmp(argv[1], "bench"))
        return bench(n > 0 ? n : 3000);
    fprintf(stderr, "unknown command %s\n", argv[1]);
    return 2;
}
