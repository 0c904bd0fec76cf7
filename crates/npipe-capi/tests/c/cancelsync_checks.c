/* CancelSynchronousIo (W42; docs/WINDOWS-BEHAVIOUR.md): a thread blocked in a synchronous
 * ConnectNamedPipe, ReadFile (byte and message mode), WriteFile waiting for its quota,
 * TransactNamedPipe, FlushFileBuffers, WaitNamedPipe or a mailslot read is cancelled (TRUE,
 * the last error untouched; the call fails with ERROR_OPERATION_ABORTED) through a
 * CreateThread handle, a DuplicateHandle'd copy or, for itself, GetCurrentThread(); a thread
 * with no I/O or only overlapped I/O gives ERROR_NOT_FOUND; a handle that is no thread gives
 * ERROR_INVALID_HANDLE. The pipe stays usable and loses nothing: a cancelled read leaves the
 * data for the next read, a cancelled write leaves nothing for the reader (this program re-run
 * as "peer" is the client process there). 200 cancels raced against a thread entering a
 * blocking read: every TRUE is matched by exactly one ERROR_OPERATION_ABORTED, and no cancel
 * carries over to the next read. Every wait is bounded. Compiled by tests/cancelsync.rs. */
#include <npipe/win32.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checks.h"

#define LONG_WAIT 10000 /* ms: a bound, never expected to be reached */

static char pipe_name[128];

/* One blocking call run on a thread of its own. */
enum op { OP_CONNECT, OP_READ, OP_WRITE, OP_TRANSACT, OP_FLUSH, OP_WAITPIPE, OP_IDLE, OP_OVERLAPPED };
struct job {
    enum op op;
    HANDLE h;
    char buf[64];
    DWORD len; /* bytes to write, or the read buffer's size */
    BOOL ok;
    DWORD err, n;
    HANDLE done;    /* set when the call returned */
    HANDLE release; /* OP_IDLE, OP_OVERLAPPED: when to end */
    HANDLE issued;  /* OP_OVERLAPPED: the read is pending */
    OVERLAPPED ov;
};

static DWORD WINAPI run_job(LPVOID p) {
    struct job *j = p;
    j->n = 0;
    switch (j->op) {
    case OP_CONNECT: j->ok = ConnectNamedPipe(j->h, NULL); break;
    case OP_READ: j->ok = ReadFile(j->h, j->buf, j->len, &j->n, NULL); break;
    case OP_WRITE: {
        static char big[2048];
        memset(big, 'w', sizeof big);
        j->ok = WriteFile(j->h, big, j->len, &j->n, NULL);
        break;
    }
    case OP_TRANSACT:
        j->ok = TransactNamedPipe(j->h, "req", 3, j->buf, sizeof j->buf, &j->n, NULL);
        break;
    case OP_FLUSH: j->ok = FlushFileBuffers(j->h); break;
    case OP_WAITPIPE: j->ok = WaitNamedPipeA(pipe_name, NMPWAIT_WAIT_FOREVER); break;
    case OP_IDLE:
        j->ok = WaitForSingleObject(j->release, LONG_WAIT) == WAIT_OBJECT_0;
        j->err = 0;
        SetEvent(j->done);
        return 0;
    case OP_OVERLAPPED:
        memset(&j->ov, 0, sizeof j->ov);
        j->ov.hEvent = CreateEventA(NULL, TRUE, FALSE, NULL);
        j->ok = ReadFile(j->h, j->buf, j->len, NULL, &j->ov);
        j->err = GetLastError();
        SetEvent(j->issued);
        WaitForSingleObject(j->release, LONG_WAIT);
        SetEvent(j->done);
        return 0;
    }
    j->err = j->ok ? 0 : GetLastError();
    SetEvent(j->done);
    return 0;
}

static HANDLE start(struct job *j, enum op op, HANDLE h, DWORD len) {
    memset(j->buf, 0, sizeof j->buf);
    j->op = op;
    j->h = h;
    j->len = len;
    j->ok = FALSE;
    j->err = 0;
    j->done = CreateEventA(NULL, TRUE, FALSE, NULL);
    j->release = CreateEventA(NULL, TRUE, FALSE, NULL);
    j->issued = CreateEventA(NULL, TRUE, FALSE, NULL);
    HANDLE t = CreateThread(NULL, 0, run_job, j, 0, NULL);
    CHECK(t != NULL, "CreateThread");
    return t;
}

static void finish(struct job *j, HANDLE t) {
    CHECK(WaitForSingleObject(t, LONG_WAIT) == WAIT_OBJECT_0, "the thread ends");
    CloseHandle(t);
    CloseHandle(j->done);
    CloseHandle(j->release);
    CloseHandle(j->issued);
}

/* Cancels the call thread `t` is blocked in: tries until TRUE (FALSE is ERROR_NOT_FOUND while
 * the call has not reached its wait), at most about LONG_WAIT ms. TRUE must leave the last
 * error alone. Returns whether a cancel succeeded. */
static int cancel_until(HANDLE t, struct job *j, const char *what) {
    for (int i = 0; i < LONG_WAIT; i++) {
        SetLastError(4242);
        if (CancelSynchronousIo(t)) {
            CHECK(GetLastError() == 4242, what);
            return 1;
        }
        if (GetLastError() != ERROR_NOT_FOUND) {
            CHECK(0, what);
            return 0;
        }
        if (WaitForSingleObject(j->done, 0) == WAIT_OBJECT_0) break; /* it ended by itself */
        Sleep(1);
    }
    CHECK(0, what);
    return 0;
}

/* The cancelled call failed with ERROR_OPERATION_ABORTED. */
static void check_aborted(struct job *j, const char *what) {
    CHECK(WaitForSingleObject(j->done, LONG_WAIT) == WAIT_OBJECT_0, what);
    CHECK(!j->ok && j->err == ERROR_OPERATION_ABORTED, what);
}

static HANDLE make_pipe(const char *suffix, DWORD mode, DWORD flags, DWORD buf) {
    snprintf(pipe_name, sizeof pipe_name, "\\\\.\\pipe\\npipe-cancelsync-%d-%s", (int)getpid(),
             suffix);
    return CreateNamedPipeA(pipe_name, PIPE_ACCESS_DUPLEX | flags, mode | PIPE_WAIT, 1, buf, buf, 0,
                            NULL);
}

static HANDLE open_client(void) {
    return CreateFileA(pipe_name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
}

/* ---- the client process ---- */

/* Reads exactly what `want` is (one message, or that many bytes). */
static int read_is(HANDLE h, const char *want) {
    char buf[64] = {0};
    DWORD n = 0, got = 0, len = (DWORD)strlen(want);
    while (got < len) {
        if (!ReadFile(h, buf + got, len - got, &n, NULL)) {
            fprintf(stderr, "peer: reading \"%s\" failed with %lu\n", want,
                    (unsigned long)GetLastError());
            return 0;
        }
        got += n;
    }
    if (memcmp(buf, want, len) != 0) {
        fprintf(stderr, "peer: wanted \"%s\", read \"%.*s\"\n", want, (int)len, buf);
        return 0;
    }
    return 1;
}

/* The client of the cross-process checks (argv[2] is the pipe name). It writes "ok" or "bad"
 * back as its verdict on what it read. */
static int peer(const char *name) {
    HANDLE c = INVALID_HANDLE_VALUE;
    for (int i = 0; i < 1000 && c == INVALID_HANDLE_VALUE; i++) {
        c = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
        if (c == INVALID_HANDLE_VALUE) Sleep(10);
    }
    if (c == INVALID_HANDLE_VALUE) return 2;
    DWORD n;
    /* 1: the server's read was cancelled; "hello" goes to its next read. */
    if (!read_is(c, "go1")) return 3;
    if (!WriteFile(c, "hello", 5, &n, NULL)) return 4;
    /* 2: the server writes 2048 bytes past its quota and is cancelled while this process does
     * not read; then it writes "end". Nothing of the cancelled write may come first. */
    if (!read_is(c, "go2")) return 5;
    /* Not a read before the server says its write was cancelled: a read would take it. */
    char ev_name[160];
    snprintf(ev_name, sizeof ev_name, "%s-cancelled", name + strlen("\\\\.\\pipe\\"));
    HANDLE ev = OpenEventA(SYNCHRONIZE, FALSE, ev_name);
    if (ev == NULL) return 8;
    if (WaitForSingleObject(ev, LONG_WAIT) != WAIT_OBJECT_0) return 9;
    CloseHandle(ev);
    BOOL good = read_is(c, "end");
    if (!WriteFile(c, good ? "ok" : "bad", good ? 2 : 3, &n, NULL)) return 6;
    if (!read_is(c, "bye")) return 7;
    CloseHandle(c);
    return 0;
}

/* ---- the checks ---- */

/* 1-3: handles that are no thread; the calling thread; a thread with no I/O. */
static void bad_handles_and_idle_threads(void) {
    SetLastError(0);
    CHECK(!CancelSynchronousIo(NULL) && GetLastError() == ERROR_INVALID_HANDLE,
          "1a: NULL -> ERROR_INVALID_HANDLE");
    SetLastError(0);
    CHECK(!CancelSynchronousIo((HANDLE)(ULONG_PTR)0x7ffc) && GetLastError() == ERROR_INVALID_HANDLE,
          "1b: a bogus handle -> ERROR_INVALID_HANDLE");
    SetLastError(0);
    CHECK(!CancelSynchronousIo(INVALID_HANDLE_VALUE) && GetLastError() == ERROR_INVALID_HANDLE,
          "1c: INVALID_HANDLE_VALUE (the current process) -> ERROR_INVALID_HANDLE");
    HANDLE ev = CreateEventA(NULL, TRUE, FALSE, NULL);
    SetLastError(0);
    CHECK(!CancelSynchronousIo(ev) && GetLastError() == ERROR_INVALID_HANDLE,
          "1d: an event -> ERROR_INVALID_HANDLE");
    CloseHandle(ev);

    SetLastError(0);
    CHECK(!CancelSynchronousIo(GetCurrentThread()) && GetLastError() == ERROR_NOT_FOUND,
          "2: the calling thread (GetCurrentThread) has no call in progress -> ERROR_NOT_FOUND");

    struct job j;
    HANDLE t = start(&j, OP_IDLE, NULL, 0);
    SetLastError(0);
    CHECK(!CancelSynchronousIo(t) && GetLastError() == ERROR_NOT_FOUND,
          "3: a thread with no I/O -> ERROR_NOT_FOUND");
    SetEvent(j.release);
    CHECK(WaitForSingleObject(j.done, LONG_WAIT) == WAIT_OBJECT_0 && j.ok,
          "3: its wait was not disturbed");
    finish(&j, t);
    SetLastError(0);
    CHECK(!CancelSynchronousIo(t) && GetLastError() == ERROR_INVALID_HANDLE,
          "3: a closed thread handle -> ERROR_INVALID_HANDLE");
}

/* 4: only overlapped I/O pending. */
static void overlapped_only(void) {
    HANDLE s = make_pipe("ov", PIPE_TYPE_BYTE, FILE_FLAG_OVERLAPPED, 4096);
    HANDLE c = open_client();
    CHECK(s != INVALID_HANDLE_VALUE && c != INVALID_HANDLE_VALUE, "4: pipe");
    struct job j;
    HANDLE t = start(&j, OP_OVERLAPPED, s, 16);
    CHECK(WaitForSingleObject(j.issued, LONG_WAIT) == WAIT_OBJECT_0, "4: read issued");
    CHECK(!j.ok && j.err == ERROR_IO_PENDING, "4: the overlapped read is pending");
    Sleep(20);
    SetLastError(0);
    CHECK(!CancelSynchronousIo(t) && GetLastError() == ERROR_NOT_FOUND,
          "4: only overlapped I/O pending -> ERROR_NOT_FOUND");
    CHECK(WaitForSingleObject(j.ov.hEvent, 0) == WAIT_TIMEOUT, "4: the overlapped read still pends");
    DWORD n;
    CHECK(WriteFile(c, "xy", 2, &n, NULL), "4: write");
    CHECK(WaitForSingleObject(j.ov.hEvent, LONG_WAIT) == WAIT_OBJECT_0, "4: the read completes");
    CHECK(GetOverlappedResult(s, &j.ov, &n, FALSE) && n == 2 && memcmp(j.buf, "xy", 2) == 0,
          "4: with the data");
    SetEvent(j.release);
    finish(&j, t);
    CloseHandle(j.ov.hEvent);
    CloseHandle(c);
    CloseHandle(s);
}

/* 5: a blocked ConnectNamedPipe; the pipe then still accepts a client. */
static void connect(void) {
    HANDLE s = make_pipe("connect", PIPE_TYPE_BYTE, 0, 4096);
    CHECK(s != INVALID_HANDLE_VALUE, "5: pipe");
    struct job j;
    HANDLE t = start(&j, OP_CONNECT, s, 0);
    if (cancel_until(t, &j, "5a: CancelSynchronousIo of a blocked ConnectNamedPipe -> TRUE"))
        check_aborted(&j, "5b: ConnectNamedPipe -> ERROR_OPERATION_ABORTED");
    SetLastError(0);
    CHECK(!CancelSynchronousIo(t) && GetLastError() == ERROR_NOT_FOUND,
          "5c: a second cancel finds nothing (the thread has ended its call)");
    finish(&j, t);

    /* Again, through a duplicated thread handle; then a client connects to the next listen. */
    t = start(&j, OP_CONNECT, s, 0);
    HANDLE dup = NULL;
    CHECK(DuplicateHandle(GetCurrentProcess(), t, GetCurrentProcess(), &dup, 0, FALSE,
                          DUPLICATE_SAME_ACCESS),
          "5d: DuplicateHandle of a thread");
    if (cancel_until(dup, &j, "5d: cancel through the duplicate -> TRUE"))
        check_aborted(&j, "5d: ConnectNamedPipe -> ERROR_OPERATION_ABORTED");
    CloseHandle(dup);
    finish(&j, t);

    t = start(&j, OP_CONNECT, s, 0);
    Sleep(20);
    HANDLE c = open_client();
    CHECK(c != INVALID_HANDLE_VALUE, "5e: a client opens after the cancelled listens");
    CHECK(WaitForSingleObject(j.done, LONG_WAIT) == WAIT_OBJECT_0 &&
              (j.ok || j.err == ERROR_PIPE_CONNECTED),
          "5e: the next ConnectNamedPipe connects it");
    finish(&j, t);
    DWORD n;
    char buf[8] = {0};
    CHECK(WriteFile(c, "hi", 2, &n, NULL) && ReadFile(s, buf, sizeof buf, &n, NULL) && n == 2,
          "5e: and the connection works");
    CloseHandle(c);
    CloseHandle(s);
}

/* 6-7: reads and a quota write against a client in another process (byte, then message). */
static void cross_process(char **argv, DWORD mode, const char *tag) {
    char what[160];
    HANDLE s = make_pipe(tag, mode | (mode == PIPE_TYPE_MESSAGE ? PIPE_READMODE_MESSAGE : 0), 0,
                         512);
    CHECK(s != INVALID_HANDLE_VALUE, "6: pipe");
    pid_t pid = spawn_self(argv[0], "peer", pipe_name);
    BOOL con = ConnectNamedPipe(s, NULL) || GetLastError() == ERROR_PIPE_CONNECTED;
    CHECK(con, "6: the client process connects");

    struct job j;
    HANDLE t = start(&j, OP_READ, s, 16);
    snprintf(what, sizeof what, "6a (%s): cancel of a blocked ReadFile -> TRUE", tag);
    if (cancel_until(t, &j, what)) {
        snprintf(what, sizeof what, "6b (%s): ReadFile -> ERROR_OPERATION_ABORTED, 0 bytes", tag);
        check_aborted(&j, what);
        CHECK(j.n == 0, what);
    }
    finish(&j, t);
    DWORD n;
    CHECK(WriteFile(s, "go1", 3, &n, NULL), "6: go1");
    /* The next read, on another thread this time, gets what the client wrote after the
     * cancel. */
    t = start(&j, OP_READ, s, 16);
    CHECK(WaitForSingleObject(j.done, LONG_WAIT) == WAIT_OBJECT_0, "6c: the next read returns");
    snprintf(what, sizeof what, "6c (%s): the next ReadFile gets the client's \"hello\"", tag);
    CHECK(j.ok && j.n == 5 && memcmp(j.buf, "hello", 5) == 0, what);
    finish(&j, t);

    char ev_name[160];
    snprintf(ev_name, sizeof ev_name, "%s-cancelled", pipe_name + strlen("\\\\.\\pipe\\"));
    HANDLE cancelled = CreateEventA(NULL, TRUE, FALSE, ev_name);
    CHECK(cancelled != NULL, "7: named event");
    CHECK(WriteFile(s, "go2", 3, &n, NULL), "7: go2");
    /* 2048 bytes against a quota of 512 that the client does not read: blocks. */
    t = start(&j, OP_WRITE, s, 2048);
    snprintf(what, sizeof what, "7a (%s): cancel of a WriteFile blocked on its quota -> TRUE", tag);
    if (cancel_until(t, &j, what)) {
        snprintf(what, sizeof what, "7b (%s): WriteFile -> ERROR_OPERATION_ABORTED, 0 written",
                 tag);
        check_aborted(&j, what);
        CHECK(j.n == 0, what);
    }
    finish(&j, t);
    CHECK(WriteFile(s, "end", 3, &n, NULL), "7: end");
    SetEvent(cancelled);
    char verdict[8] = {0};
    snprintf(what, sizeof what,
             "7c (%s): the client process read \"end\" first: nothing of the cancelled write", tag);
    CHECK(ReadFile(s, verdict, sizeof verdict, &n, NULL) && n == 2 && memcmp(verdict, "ok", 2) == 0,
          what);
    CHECK(WriteFile(s, "bye", 3, &n, NULL), "7: bye");
    CHECK(wait_ok(pid), "6-7: the client process succeeded");
    CloseHandle(cancelled);
    CloseHandle(s);
}

/* 8: TransactNamedPipe waiting for its reply; the request stays written (only the read half
 * is cancelled). 9: FlushFileBuffers waiting for the reader. */
static void transact_and_flush(void) {
    HANDLE s = make_pipe("transact", PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 0, 4096);
    HANDLE c = open_client();
    CHECK(s != INVALID_HANDLE_VALUE && c != INVALID_HANDLE_VALUE, "8: pipe");
    DWORD mode = PIPE_READMODE_MESSAGE;
    CHECK(SetNamedPipeHandleState(c, &mode, NULL, NULL), "8: client in message read mode");
    struct job j;
    HANDLE t = start(&j, OP_TRANSACT, c, 0);
    if (cancel_until(t, &j, "8a: cancel of a TransactNamedPipe waiting for its reply -> TRUE"))
        check_aborted(&j, "8b: TransactNamedPipe -> ERROR_OPERATION_ABORTED");
    finish(&j, t);
    char buf[16] = {0};
    DWORD n;
    CHECK(ReadFile(s, buf, sizeof buf, &n, NULL) && n == 3 && memcmp(buf, "req", 3) == 0,
          "8c: the request was written");
    CHECK(WriteFile(s, "late", 4, &n, NULL) && ReadFile(c, buf, sizeof buf, &n, NULL) && n == 4,
          "8c: the pipe still works both ways");

    CHECK(WriteFile(c, "unread", 6, &n, NULL), "9: unread data");
    t = start(&j, OP_FLUSH, c, 0);
    if (cancel_until(t, &j, "9a: cancel of a FlushFileBuffers waiting for the reader -> TRUE"))
        check_aborted(&j, "9b: FlushFileBuffers -> ERROR_OPERATION_ABORTED");
    finish(&j, t);
    CHECK(ReadFile(s, buf, sizeof buf, &n, NULL) && n == 6 && memcmp(buf, "unread", 6) == 0,
          "9c: the data is still there");
    CloseHandle(c);
    CloseHandle(s);
}

/* 10: WaitNamedPipe on a pipe whose only instance is busy. */
static void wait_named_pipe(void) {
    HANDLE s = make_pipe("wait", PIPE_TYPE_BYTE, 0, 4096);
    HANDLE c = open_client();
    CHECK(s != INVALID_HANDLE_VALUE && c != INVALID_HANDLE_VALUE, "10: pipe");
    struct job j;
    HANDLE t = start(&j, OP_WAITPIPE, NULL, 0);
    if (cancel_until(t, &j, "10a: cancel of a blocked WaitNamedPipe -> TRUE"))
        check_aborted(&j, "10b: WaitNamedPipe -> ERROR_OPERATION_ABORTED");
    finish(&j, t);
    CloseHandle(c);
    CloseHandle(s);
}

/* 11: a mailslot read; 12: an anonymous pipe read (a departure: not cancellable). */
static void mailslot_and_anonymous(void) {
    char name[128];
    snprintf(name, sizeof name, "\\\\.\\mailslot\\npipe-cancelsync-%d", (int)getpid());
    HANDLE ms = CreateMailslotA(name, 0, MAILSLOT_WAIT_FOREVER, NULL);
    CHECK(ms != INVALID_HANDLE_VALUE, "11: mailslot");
    struct job j;
    HANDLE t = start(&j, OP_READ, ms, 64);
    if (cancel_until(t, &j, "11a: cancel of a blocked mailslot ReadFile -> TRUE"))
        check_aborted(&j, "11b: ReadFile -> ERROR_OPERATION_ABORTED");
    finish(&j, t);
    HANDLE w = CreateFileA(name, GENERIC_WRITE, FILE_SHARE_READ, NULL, OPEN_EXISTING, 0, NULL);
    DWORD n;
    char buf[16] = {0};
    CHECK(w != INVALID_HANDLE_VALUE && WriteFile(w, "slot", 4, &n, NULL), "11c: write");
    CHECK(ReadFile(ms, buf, sizeof buf, &n, NULL) && n == 4 && memcmp(buf, "slot", 4) == 0,
          "11c: the next read gets the message");
    CloseHandle(w);
    CloseHandle(ms);

    HANDLE r, wr;
    CHECK(CreatePipe(&r, &wr, NULL, 0), "12: CreatePipe");
    t = start(&j, OP_READ, r, 16);
    Sleep(50);
    SetLastError(0);
    CHECK(!CancelSynchronousIo(t) && GetLastError() == ERROR_NOT_FOUND,
          "12a: an anonymous pipe's read cannot be cancelled (npipe departs) -> ERROR_NOT_FOUND");
    CHECK(WriteFile(wr, "anon", 4, &n, NULL), "12b: write");
    CHECK(WaitForSingleObject(j.done, LONG_WAIT) == WAIT_OBJECT_0 && j.ok && j.n == 4,
          "12b: the read gets the data");
    finish(&j, t);
    CloseHandle(r);
    CloseHandle(wr);
}

/* 13: 200 cancels raced against a thread that enters a blocking read again and again. */
#define RACES 200
static HANDLE race_pipe;
static atomic_int aborted, other;
static DWORD WINAPI racing_reader(LPVOID p) {
    (void)p;
    char buf[8];
    DWORD n;
    while (atomic_load(&aborted) + atomic_load(&other) < RACES) {
        if (!ReadFile(race_pipe, buf, sizeof buf, &n, NULL) &&
            GetLastError() == ERROR_OPERATION_ABORTED)
            atomic_fetch_add(&aborted, 1);
        else
            atomic_fetch_add(&other, 1);
    }
    return 0;
}

static void races(void) {
    race_pipe = make_pipe("race", PIPE_TYPE_BYTE, 0, 4096);
    HANDLE c = open_client();
    CHECK(race_pipe != INVALID_HANDLE_VALUE && c != INVALID_HANDLE_VALUE, "13: pipe");
    HANDLE t = CreateThread(NULL, 0, racing_reader, NULL, 0, NULL);
    int trues = 0, not_found = 0, lost = 0;
    while (trues < RACES && !lost) {
        SetLastError(4242);
        if (CancelSynchronousIo(t)) {
            trues++;
            if (GetLastError() != 4242) CHECK(0, "13: TRUE left the last error alone");
            /* That read, and only that one, ends with ERROR_OPERATION_ABORTED. */
            DWORD start = GetTickCount();
            while (atomic_load(&aborted) + atomic_load(&other) < trues) {
                if (GetTickCount() - start > LONG_WAIT) {
                    lost = 1;
                    break;
                }
                Sleep(0);
            }
        } else if (GetLastError() == ERROR_NOT_FOUND) {
            not_found++;
            /* A reader that ended its 200 reads without as many cancels: counted below. */
            if (WaitForSingleObject(t, 0) == WAIT_OBJECT_0) break;
        } else {
            CHECK(0, "13: FALSE is ERROR_NOT_FOUND");
            break;
        }
    }
    CHECK(!lost, "13a: every TRUE ends the read in progress (none left blocked)");
    /* Close the pipe so a read left blocked by a failure ends (ERROR_OPERATION_ABORTED). */
    CloseHandle(c);
    CHECK(WaitForSingleObject(t, LONG_WAIT) == WAIT_OBJECT_0, "13: the reader ends");
    CloseHandle(t);
    CHECK(trues == RACES, "13b: 200 cancels succeeded");
    CHECK(atomic_load(&aborted) == RACES && atomic_load(&other) == 0,
          "13c: every TRUE matched by one ERROR_OPERATION_ABORTED, no other outcome (no cancel "
          "carried over to the next read)");
    printf("races: %d TRUE, %d ERROR_NOT_FOUND on the way\n", trues, not_found);
    CloseHandle(race_pipe);
}

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "peer") == 0) return peer(argv[2]);
    bad_handles_and_idle_threads();
    overlapped_only();
    connect();
    cross_process(argv, PIPE_TYPE_BYTE, "byte");
    cross_process(argv, PIPE_TYPE_MESSAGE, "message");
    transact_and_flush();
    wait_named_pipe();
    mailslot_and_anonymous();
    races();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
