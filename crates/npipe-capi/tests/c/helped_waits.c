/* Overlapped operations completed by the thread that waits for them (the engine's "help": a
 * wait spins as a blocking call would and steps the operation itself while the peer answers
 * within microseconds), across two processes, in every way a program waits for one:
 *   0  WaitForSingleObject on the OVERLAPPED's event, then GetOverlappedResult(FALSE)
 *      (Microsoft's overlapped server sample);
 *   1  GetOverlappedResult(TRUE);
 *   2  no event: WaitForSingleObject on the pipe handle, which the completion signals (W26);
 *   3  ReadFileEx / WriteFileEx, the routines run by SleepEx(INFINITE, TRUE) (W104);
 *   4  two instances served by one thread through WaitForMultipleObjects over their events;
 *   5  mode 0 and a wait that never calls the library in turn (HasOverlappedIoCompleted
 *      polled): a read issued right after one a waiter completed is armed lazily (the peer's
 *      write gives the waiter a moment before it signals), and must complete all the same
 *      when nobody comes to help it;
 *   6  mode 0 with an auto-reset event: the wait that returns for the completion takes the
 *      event (a look right after it finds it reset), also when the wait's help completed the
 *      operation.
 * Each mode is an echo conversation with a client process (this program, started with
 * CreateProcessA, waiting the same way): messages of random size, every 40th larger than the
 * ring (streamed by the engine, which a helping waiter must leave to it), every echo checked
 * whole against what was sent. A wake-up lost by the help (an operation left unarmed) shows as
 * a wait that lasts until the engine's next look at its ends, 200 ms later: waits of 150 ms or
 * more are counted, and more than 10 of a mode's 3,000 fail it (a run without the bug has none;
 * one that loses a wake-up in fifty ops has 60). Prints "N passed, M failed";
 * a client prints its failures and exits non-zero. */
#include <windows.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"

#define ROUNDS 1500
#define BIG 300000      /* larger than the ring of a 4 KiB quota */
#define BUF (BIG + 64)  /* every read buffer */
#define QUOTA 4096
#define STALL_MS 150    /* a wait this long waited for the engine's periodic look */
#define MAX_STALLS 10   /* of 3,000 waits: room for a loaded machine, none without one */

static long waits, stalls;

static DWORD now_ms(void) { return GetTickCount(); }

static const char *self;

static void pipe_name(char *out, size_t n, const char *tag, int inst) {
    snprintf(out, n, "\\\\.\\pipe\\npipe-helped-%s-%d", tag, inst);
}

/* The length and contents of message `i` of stream `s`. */
static DWORD msg_len(uint32_t s, uint32_t i) {
    uint32_t x = (s * 2654435761u) ^ (i * 40503u + 7);
    x ^= x >> 13;
    return i % 40 == 39 ? BIG - (x % 1000) : 1 + x % 300;
}

static void fill(uint8_t *b, DWORD len, uint32_t s, uint32_t i) {
    for (DWORD k = 0; k < len; k++) b[k] = (uint8_t)(s * 31 + i * 7 + k * 13 + (k >> 8));
}

/* ---- one overlapped operation, waited for the way `mode` says ---- */

static volatile LONG routine_done;
static DWORD routine_err, routine_n;

static VOID WINAPI on_done(DWORD err, DWORD n, LPOVERLAPPED ov) {
    (void)ov;
    routine_err = err;
    routine_n = n;
    routine_done = 1;
}

/* Reads (`write` 0) or writes `len` bytes through an overlapped handle, waiting as `mode` says.
 * Returns the byte count, or -1 with the error in *err. */
static long io_(HANDLE h, HANDLE ev, int mode, int write, void *buf, DWORD len, DWORD *err) {
    OVERLAPPED ov;
    DWORD n = 0;
    ZeroMemory(&ov, sizeof ov);
    *err = 0;
    if (mode == 3) {
        routine_done = 0;
        BOOL ok = write ? WriteFileEx(h, buf, len, &ov, on_done) : ReadFileEx(h, buf, len, &ov, on_done);
        if (!ok) {
            *err = GetLastError();
            return -1;
        }
        while (!routine_done) SleepEx(INFINITE, TRUE);
        if (routine_err) {
            *err = routine_err;
            return -1;
        }
        return (long)routine_n;
    }
    ov.hEvent = mode == 2 ? NULL : ev;
    BOOL ok = write ? WriteFile(h, buf, len, &n, &ov) : ReadFile(h, buf, len, &n, &ov);
    static unsigned turn;
    if (!ok && GetLastError() == ERROR_IO_PENDING && mode == 5 && turn++ % 2) {
        /* The macro reads the status word: no call into the library until it completes (a
         * pause now and then, so the engine gets a CPU on a machine with one). */
        for (unsigned k = 1; !HasOverlappedIoCompleted(&ov); k++)
            if (k % 100000 == 0) Sleep(1);
        ok = GetOverlappedResult(h, &ov, &n, FALSE);
    } else if (!ok && GetLastError() == ERROR_IO_PENDING) {
        if (mode == 0 || mode == 4 || mode == 5 || mode == 6) {
            if (WaitForSingleObject(ev, INFINITE) != WAIT_OBJECT_0) {
                *err = GetLastError();
                return -1;
            }
            if (mode == 6 && WaitForSingleObject(ev, 0) != WAIT_TIMEOUT) {
                printf("  an auto-reset event stayed set after the wait that returned for it\n");
                *err = ERROR_INVALID_DATA;
                return -1;
            }
            ok = GetOverlappedResult(h, &ov, &n, FALSE);
        } else if (mode == 2) {
            if (WaitForSingleObject(h, INFINITE) != WAIT_OBJECT_0) {
                *err = GetLastError();
                return -1;
            }
            ok = GetOverlappedResult(h, &ov, &n, FALSE);
        } else {
            ok = GetOverlappedResult(h, &ov, &n, TRUE);
        }
    }
    if (!ok) {
        *err = GetLastError();
        return -1;
    }
    return (long)n;
}

static long io(HANDLE h, HANDLE ev, int mode, int write, void *buf, DWORD len, DWORD *err) {
    DWORD t0 = now_ms();
    long r = io_(h, ev, mode, write, buf, len, err);
    waits++;
    if (now_ms() - t0 >= STALL_MS) stalls++;
    return r;
}

/* ---- the client: echoes every message until the server goes ---- */

static int client(int mode, const char *name) {
    HANDLE h = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, NULL);
    DWORD rmode = PIPE_READMODE_MESSAGE, err = 0;
    CHECK(h != INVALID_HANDLE_VALUE, "client: opens the pipe");
    CHECK(SetNamedPipeHandleState(h, &rmode, NULL, NULL), "client: message read mode");
    HANDLE ev = CreateEventA(NULL, mode != 6, FALSE, NULL);
    uint8_t *buf = malloc(BUF);
    long echoed = 0;
    for (;;) {
        long n = io(h, ev, mode == 4 ? 0 : mode, 0, buf, BUF, &err);
        if (n < 0) {
            CHECK(err == ERROR_BROKEN_PIPE, "client: the conversation ends with the server's close (W113)");
            break;
        }
        long w = io(h, ev, mode == 4 ? 0 : mode, 1, buf, (DWORD)n, &err);
        if (w != n) {
            CHECK(0, "client: echo written whole");
            break;
        }
        echoed++;
    }
    CHECK(echoed > 0, "client: echoed something");
    CHECK(stalls <= MAX_STALLS, "client: no lost wake-ups (at most 10 waits of 150 ms or more)");
    if (stalls) printf("  client, mode %d: %ld of %ld waits took %d ms or more\n", mode, stalls, waits, STALL_MS);
    free(buf);
    CloseHandle(ev);
    CloseHandle(h);
    return failed ? 1 : 0;
}

/* ---- the server ---- */

struct conv {
    HANDLE h, ev;
    PROCESS_INFORMATION pi;
    uint8_t *out, *in;
    uint32_t stream, sent, checked;
    int bad;
};

static void start(struct conv *c, int mode, const char *tag, int inst) {
    char name[128], cmd[512];
    STARTUPINFOA si;
    OVERLAPPED ov;
    DWORD n = 0;
    pipe_name(name, sizeof name, tag, inst);
    c->h = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                            PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT, 1, QUOTA, QUOTA, 0, NULL);
    CHECK(c->h != INVALID_HANDLE_VALUE, "CreateNamedPipeA");
    c->ev = CreateEventA(NULL, mode != 6, FALSE, NULL);
    c->out = malloc(BUF);
    c->in = malloc(BUF);
    c->stream = (uint32_t)(mode * 10 + inst);
    waits = stalls = 0;
    c->sent = c->checked = 0;
    c->bad = 0;
    ZeroMemory(&si, sizeof si);
    si.cb = sizeof si;
    snprintf(cmd, sizeof cmd, "\"%s\" client %d %s", self, mode, name);
    CHECK(CreateProcessA(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &c->pi), "CreateProcessA the client");
    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = c->ev;
    BOOL ok = ConnectNamedPipe(c->h, &ov);
    if (!ok && GetLastError() == ERROR_IO_PENDING) ok = GetOverlappedResult(c->h, &ov, &n, TRUE);
    CHECK(ok || GetLastError() == ERROR_PIPE_CONNECTED, "the client connects");
}

/* Checks echo `c->checked` (its length `n`) against what was sent. */
static void check_echo(struct conv *c, long n) {
    DWORD want = msg_len(c->stream, c->checked);
    fill(c->out, want, c->stream, c->checked);
    if (n != (long)want || memcmp(c->in, c->out, want) != 0) {
        if (!c->bad) printf("  echo %u of stream %u: %ld bytes, wanted %lu\n", c->checked, c->stream, n, (unsigned long)want);
        c->bad = 1;
    }
    c->checked++;
}

static void finish(struct conv *c, const char *what) {
    DWORD code = 1;
    CHECK(!c->bad && c->checked == ROUNDS, what);
    CHECK(stalls <= MAX_STALLS, "no lost wake-ups (at most 10 waits of 150 ms or more)");
    if (stalls) printf("  stream %u: %ld of %ld waits took %d ms or more\n", c->stream, stalls, waits, STALL_MS);
    CloseHandle(c->h);
    CHECK(WaitForSingleObject(c->pi.hProcess, 30000) == WAIT_OBJECT_0 && GetExitCodeProcess(c->pi.hProcess, &code) && code == 0,
          "the client ends cleanly");
    CloseHandle(c->pi.hProcess);
    CloseHandle(c->pi.hThread);
    CloseHandle(c->ev);
    free(c->out);
    free(c->in);
}

/* Modes 0-3 and 5: one conversation, a message and its echo at a time. */
static void one(int mode, const char *tag) {
    static const char *what[] = {
        "event + WaitForSingleObject: every echo whole and in order",
        "GetOverlappedResult(TRUE): every echo whole and in order",
        "no event, a wait on the handle (W26): every echo whole and in order",
        "ReadFileEx/WriteFileEx + SleepEx (W104): every echo whole and in order",
        NULL,
        "WaitForSingleObject and HasOverlappedIoCompleted in turn: every echo whole and in order",
        "an auto-reset event + WaitForSingleObject: taken by each wait, every echo whole and in order",
    };
    struct conv c;
    DWORD err = 0;
    start(&c, mode, tag, 0);
    while (c.checked < ROUNDS && !c.bad) {
        DWORD len = msg_len(c.stream, c.sent);
        fill(c.out, len, c.stream, c.sent);
        if (io(c.h, c.ev, mode, 1, c.out, len, &err) != (long)len) {
            printf("  write %u: error %lu\n", c.sent, (unsigned long)err);
            c.bad = 1;
            break;
        }
        c.sent++;
        long n = io(c.h, c.ev, mode, 0, c.in, BUF, &err);
        if (n < 0) {
            printf("  read %u: error %lu\n", c.checked, (unsigned long)err);
            c.bad = 1;
            break;
        }
        check_echo(&c, n);
    }
    finish(&c, what[mode]);
}

/* Mode 4: two conversations at once, one thread: each instance has a read pending; one
 * WaitForMultipleObjects over the two events says which echo came, which is checked, and the
 * next message goes out on that instance. A wait helping one instance's read must still return
 * the other's completion. */
static void two(const char *tag) {
    struct conv c[2];
    OVERLAPPED rov[2];
    DWORD err = 0, n = 0;
    HANDLE evs[2];
    int live = 2;
    for (int k = 0; k < 2; k++) {
        start(&c[k], 4, tag, k);
        evs[k] = c[k].ev;
    }
    /* Each instance: write a message (waited for on the spot), then leave its echo's read
     * pending. */
    for (int k = 0; k < 2; k++) {
        DWORD len = msg_len(c[k].stream, c[k].sent);
        fill(c[k].out, len, c[k].stream, c[k].sent);
        CHECK(io(c[k].h, c[k].ev, 0, 1, c[k].out, len, &err) == (long)len, "first message written");
        c[k].sent++;
        ZeroMemory(&rov[k], sizeof rov[k]);
        rov[k].hEvent = c[k].ev;
        if (ReadFile(c[k].h, c[k].in, BUF, &n, &rov[k])) SetEvent(c[k].ev);
    }
    while (live > 0) {
        DWORD t0 = now_ms();
        DWORD w = WaitForMultipleObjects(2, evs, FALSE, 30000);
        waits++;
        if (now_ms() - t0 >= STALL_MS) stalls++;
        if (w != WAIT_OBJECT_0 && w != WAIT_OBJECT_0 + 1) {
            CHECK(0, "WaitForMultipleObjects returns one of the two events");
            break;
        }
        int k = (int)(w - WAIT_OBJECT_0);
        struct conv *p = &c[k];
        if (!GetOverlappedResult(p->h, &rov[k], &n, FALSE)) {
            printf("  instance %d read: error %lu\n", k, (unsigned long)GetLastError());
            p->bad = 1;
        } else {
            check_echo(p, (long)n);
        }
        ResetEvent(p->ev);
        if (p->bad || p->checked == ROUNDS) {
            /* Done: an event that stays reset drops out of the wait. */
            evs[k] = CreateEventA(NULL, TRUE, FALSE, NULL);
            live--;
            continue;
        }
        DWORD len = msg_len(p->stream, p->sent);
        fill(p->out, len, p->stream, p->sent);
        if (io(p->h, p->ev, 0, 1, p->out, len, &err) != (long)len) {
            p->bad = 1;
            evs[k] = CreateEventA(NULL, TRUE, FALSE, NULL);
            live--;
            continue;
        }
        p->sent++;
        ZeroMemory(&rov[k], sizeof rov[k]);
        rov[k].hEvent = p->ev;
        if (ReadFile(p->h, p->in, BUF, &n, &rov[k])) SetEvent(p->ev);
        else CHECK(GetLastError() == ERROR_IO_PENDING, "the next read is pending");
    }
    finish(&c[0], "WaitForMultipleObjects, instance 0: every echo whole and in order");
    finish(&c[1], "WaitForMultipleObjects, instance 1: every echo whole and in order");
}

/* Descriptors open in this process. */
static int open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    struct dirent *e;
    if (!d) return -1;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory's own */
}

/* The count once the earlier conversations' last references are gone (see `main`): the same
 * in two looks 5 ms apart. */
static int settled_fds(void) {
    int n = open_fds();
    for (int i = 0; i < 100; i++) {
        Sleep(5);
        int m = open_fds();
        if (m == n) break;
        n = m;
    }
    return n;
}

int main(int argc, char **argv) {
    char tag[32];
    self = argv[0];
    if (argc == 4 && strcmp(argv[1], "client") == 0) return client(atoi(argv[2]), argv[3]);
    setvbuf(stdout, NULL, _IONBF, 0);
    snprintf(tag, sizeof tag, "%lu", (unsigned long)GetCurrentProcessId());
    for (int mode = 0; mode < 4; mode++) one(mode, tag);
    one(5, tag);
    one(6, tag);
    /* Once every handle of a conversation is closed, nothing of it stays open, not even the
     * descriptor the engine watched between its operations. */
    int before = settled_fds();
    one(0, tag);
    /* The engine thread drops its reference to an OVERLAPPED's event (and the event's
     * descriptors with it, when CloseHandle closed it) just after setting it, so a loaded
     * machine may show the last completion's event for a moment; a descriptor left behind by a
     * closed handle (an end still watched by the engine, kept 200 ms after its last operation
     * before CloseHandle waited for the engine) shows for longer. */
    int after = open_fds();
    for (int i = 0; i < 20 && after != before; i++) {
        Sleep(5);
        after = open_fds();
    }
    CHECK(after == before, "CloseHandle let go of every descriptor of the conversation");
    if (after != before) printf("  %d descriptors open before the conversation, %d 100 ms after\n", before, after);
    two(tag);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
