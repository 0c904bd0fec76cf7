/* I/O completion ports across processes: a server of the shape Microsoft documents for
 * scalable pipe servers (several overlapped instances bound to one port, a pool of worker
 * threads in GetQueuedCompletionStatus driving connect, read, write and disconnect) serves
 * client processes (this program re-run with "client"); then what a port does on its own: a
 * waiter leaves with ERROR_ABANDONED_WAIT_0 when the port's handle is closed (documented for
 * GetQueuedCompletionStatus), an alertable GetQueuedCompletionStatusEx runs a queued APC and
 * returns WAIT_IO_COMPLETION, a port handle is signalled while it holds packets, and a port
 * duplicated with DuplicateHandle stays open until its last handle closes; then what binding
 * does: a ReadFileEx pending at the binding reports through its routine only, a bound handle
 * takes no more routines, FILE_SKIP_SET_EVENT_ON_HANDLE leaves the handle unsignalled (W26),
 * GetQueuedCompletionStatusEx takes at most its room, a closed port leaves lpOverlapped NULL,
 * and an ordinary file's reads and writes come to its port (W105).
 * Compiled against <npipe/win32.h> by tests/iocp.rs. */
#include <npipe/win32.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checks.h"

#define INSTANCES 3
#define CLIENTS 6
#define ROUNDS 20
#define WORKERS 2

static char pipe_name[128];

/* ---- the client process -------------------------------------------------------------------- */

static int client(const char *tag) {
    HANDLE c = INVALID_HANDLE_VALUE;
    for (int tries = 0; tries < 500 && c == INVALID_HANDLE_VALUE; tries++) {
        c = CreateFileA(pipe_name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
        if (c == INVALID_HANDLE_VALUE) {
            DWORD e = GetLastError();
            if (e != ERROR_PIPE_BUSY && e != ERROR_FILE_NOT_FOUND) {
                printf("client %s: open failed with %lu\n", tag, (unsigned long)e);
                return 1;
            }
            WaitNamedPipeA(pipe_name, 100);
        }
    }
    if (c == INVALID_HANDLE_VALUE) {
        printf("client %s: never connected\n", tag);
        return 1;
    }
    DWORD mode = PIPE_READMODE_MESSAGE;
    SetNamedPipeHandleState(c, &mode, NULL, NULL);
    for (int i = 0; i < ROUNDS; i++) {
        char req[64], rep[64], want[64];
        DWORD n = 0;
        snprintf(req, sizeof req, "ping %s %d", tag, i);
        snprintf(want, sizeof want, "pong %s %d", tag, i);
        if (!TransactNamedPipe(c, req, (DWORD)strlen(req), rep, sizeof rep, &n, NULL)) {
            printf("client %s: transact %d failed with %lu\n", tag, i, (unsigned long)GetLastError());
            return 1;
        }
        if (n != strlen(want) || memcmp(rep, want, n) != 0) {
            printf("client %s: reply %d is \"%.*s\"\n", tag, i, (int)n, rep);
            return 1;
        }
    }
    CloseHandle(c);
    return 0;
}

/* ---- the server: instances bound to one port, workers on the port --------------------------- */

enum state { CONNECTING, READING, WRITING };

struct inst {
    OVERLAPPED ov; /* first: the packet's OVERLAPPED pointer is the instance */
    HANDLE h;
    enum state st;
    char buf[64];
    DWORD len;
};

static struct inst insts[INSTANCES];
static HANDLE port;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int served, errors, bad_keys;

static void count(int *what) {
    pthread_mutex_lock(&lock);
    (*what)++;
    pthread_mutex_unlock(&lock);
}

/* Starts the next operation of `in`; a failure inside the call queues no packet (W50, W105), so
 * the caller goes on by itself. */
static void start(struct inst *in);

static void start_connect(struct inst *in) {
    memset(&in->ov, 0, sizeof in->ov);
    in->st = CONNECTING;
    if (ConnectNamedPipe(in->h, &in->ov)) return;
    DWORD e = GetLastError();
    if (e == ERROR_IO_PENDING) return;
    if (e == ERROR_PIPE_CONNECTED) {
        /* Connected before the call: no packet; read at once. */
        in->st = READING;
        start(in);
        return;
    }
    count(&errors);
}

static void start(struct inst *in) {
    memset(&in->ov, 0, sizeof in->ov);
    BOOL ok;
    if (in->st == READING) ok = ReadFile(in->h, in->buf, sizeof in->buf, NULL, &in->ov);
    else ok = WriteFile(in->h, in->buf, in->len, NULL, &in->ov);
    if (ok || GetLastError() == ERROR_IO_PENDING) return; /* a packet comes either way */
    /* The client went away: serve the next one. */
    DisconnectNamedPipe(in->h);
    start_connect(in);
}

static void *worker(void *arg) {
    (void)arg;
    for (;;) {
        DWORD n = 0;
        ULONG_PTR key = 0;
        OVERLAPPED *ov = NULL;
        BOOL ok = GetQueuedCompletionStatus(port, &n, &key, &ov, INFINITE);
        if (!ok && ov == NULL) break; /* the port closed (ERROR_ABANDONED_WAIT_0) */
        if (key == 0xDEAD) break;     /* posted: stop */
        struct inst *in = (struct inst *)ov;
        if (key != (ULONG_PTR)(in - insts) + 1) count(&bad_keys);
        if (!ok) {
            /* The client closed (ERROR_BROKEN_PIPE): serve the next one. */
            DisconnectNamedPipe(in->h);
            start_connect(in);
            continue;
        }
        switch (in->st) {
        case CONNECTING:
            in->st = READING;
            start(in);
            break;
        case READING:
            if (n >= 5 && memcmp(in->buf, "ping ", 5) == 0) {
                memcpy(in->buf, "pong ", 5);
                in->len = n;
                in->st = WRITING;
            } else {
                count(&errors);
            }
            start(in);
            break;
        case WRITING:
            count(&served);
            in->st = READING;
            start(in);
            break;
        }
    }
    return NULL;
}

static pid_t spawn_client(char **argv, int i) {
    char tag[16];
    snprintf(tag, sizeof tag, "c%d", i);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", argv[0], "client", tag, pipe_name, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void serve_clients(char **argv) {
    port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, WORKERS);
    CHECK(port != NULL, "CreateIoCompletionPort makes a port");
    for (int i = 0; i < INSTANCES; i++) {
        insts[i].h = CreateNamedPipeA(pipe_name, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                                      PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT, INSTANCES, 4096,
                                      4096, 0, NULL);
        CHECK(insts[i].h != INVALID_HANDLE_VALUE, "instance");
        CHECK(CreateIoCompletionPort(insts[i].h, port, (ULONG_PTR)i + 1, 0) == port,
              "binding an instance returns the port");
        start_connect(&insts[i]);
    }
    pthread_t w[WORKERS];
    for (int i = 0; i < WORKERS; i++) pthread_create(&w[i], NULL, worker, NULL);
    pid_t kids[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) kids[i] = spawn_client(argv, i);
    int ok = 1;
    for (int i = 0; i < CLIENTS; i++) {
        int status = 0;
        waitpid(kids[i], &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ok = 0;
    }
    CHECK(ok, "every client process got every reply");
    for (int i = 0; i < WORKERS; i++) PostQueuedCompletionStatus(port, 0, 0xDEAD, NULL);
    for (int i = 0; i < WORKERS; i++) pthread_join(w[i], NULL);
    CHECK(served == CLIENTS * ROUNDS, "the workers served every request through the port");
    if (served != CLIENTS * ROUNDS) printf("  served %d of %d\n", served, CLIENTS * ROUNDS);
    CHECK(errors == 0, "no operation failed inside its call except for a gone client");
    CHECK(bad_keys == 0, "each packet carries its instance's key (W105)");
    for (int i = 0; i < INSTANCES; i++) CloseHandle(insts[i].h);
    CHECK(CloseHandle(port), "close the port");
}

/* ---- the port on its own ------------------------------------------------------------------- */

struct waiting {
    HANDLE port;
    BOOL ok;
    DWORD err;
    OVERLAPPED *ov;
    volatile int done;
};

static void *wait_forever(void *arg) {
    struct waiting *w = arg;
    DWORD n;
    ULONG_PTR key;
    w->ov = (OVERLAPPED *)1;
    w->ok = GetQueuedCompletionStatus(w->port, &n, &key, &w->ov, INFINITE);
    w->err = GetLastError();
    w->done = 1;
    return NULL;
}

static int apc_ran;
static VOID WINAPI an_apc(ULONG_PTR p) { apc_ran += (int)p; }

static void port_alone(void) {
    HANDLE p = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    struct waiting w = {p, TRUE, 0, NULL, 0};
    pthread_t t;
    pthread_create(&t, NULL, wait_forever, &w);
    usleep(100 * 1000);
    CHECK(!w.done, "a waiter with nothing queued waits");
    CHECK(CloseHandle(p), "close the port under the waiter");
    for (int i = 0; i < 300 && !w.done; i++) usleep(10 * 1000);
    CHECK(w.done, "the waiter leaves when the port's handle is closed");
    if (w.done) pthread_join(t, NULL);
    CHECK(!w.ok && w.err == ERROR_ABANDONED_WAIT_0 && w.ov == NULL,
          "with FALSE, ERROR_ABANDONED_WAIT_0 and a NULL OVERLAPPED (GetQueuedCompletionStatus docs)");

    p = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);
    CHECK(WaitForSingleObject(p, 0) == WAIT_TIMEOUT, "an empty port is not signalled");
    CHECK(PostQueuedCompletionStatus(p, 1, 2, NULL), "post");
    CHECK(WaitForSingleObject(p, 0) == WAIT_OBJECT_0, "a port holding a packet is signalled");
    CHECK(WaitForSingleObject(p, 0) == WAIT_OBJECT_0, "and a wait takes no packet");
    OVERLAPPED_ENTRY e[2];
    ULONG removed = 0;
    CHECK(GetQueuedCompletionStatusEx(p, e, 2, &removed, 0, FALSE) && removed == 1 && e[0].lpCompletionKey == 2 &&
              e[0].dwNumberOfBytesTransferred == 1,
          "GetQueuedCompletionStatusEx takes it");
    CHECK(WaitForSingleObject(p, 0) == WAIT_TIMEOUT, "empty again");

    CHECK(QueueUserAPC(an_apc, GetCurrentThread(), 5), "queue an APC to this thread");
    BOOL r = GetQueuedCompletionStatusEx(p, e, 2, &removed, 1000, TRUE);
    CHECK(!r && GetLastError() == WAIT_IO_COMPLETION && apc_ran == 5,
          "an alertable GetQueuedCompletionStatusEx runs the APC and returns WAIT_IO_COMPLETION");
    DWORD n;
    ULONG_PTR key;
    OVERLAPPED *ov;
    r = GetQueuedCompletionStatus(p, &n, &key, &ov, 20);
    CHECK(!r && GetLastError() == WAIT_TIMEOUT && ov == NULL, "a timeout: WAIT_TIMEOUT, NULL OVERLAPPED");

    HANDLE dup = NULL;
    CHECK(DuplicateHandle(GetCurrentProcess(), p, GetCurrentProcess(), &dup, 0, FALSE, DUPLICATE_SAME_ACCESS),
          "duplicate the port");
    CHECK(CloseHandle(p), "close the first handle");
    CHECK(PostQueuedCompletionStatus(dup, 3, 4, NULL), "the duplicate still posts");
    CHECK(GetQueuedCompletionStatus(dup, &n, &key, &ov, 0) && n == 3 && key == 4, "and takes");
    CHECK(CloseHandle(dup), "close the last handle");
    CHECK(!PostQueuedCompletionStatus(dup, 0, 0, NULL) && GetLastError() == ERROR_INVALID_HANDLE,
          "a closed port: ERROR_INVALID_HANDLE");
}


/* ---- what is bound, and how it reports ------------------------------------------------------ */

static int routine_ran;
static DWORD routine_err, routine_n;
static VOID WINAPI routine(DWORD err, DWORD n, LPOVERLAPPED ov) {
    (void)ov;
    routine_ran++;
    routine_err = err;
    routine_n = n;
}

static void bindings(void) {
    char name[160];
    snprintf(name, sizeof name, "%s-b", pipe_name);
    HANDLE s = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED, PIPE_TYPE_BYTE | PIPE_WAIT, 2,
                                4096, 4096, 0, NULL);
    HANDLE c = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    CHECK(s != INVALID_HANDLE_VALUE && c != INVALID_HANDLE_VALUE, "a pair");
    OVERLAPPED o;
    memset(&o, 0, sizeof o);
    ConnectNamedPipe(s, &o);
    char buf[32];
    DWORD n = 0;

    /* A ReadFileEx pending when the handle is bound reports through its routine only: Windows
     * queues a completion's APC or its packet, never both. */
    memset(&o, 0, sizeof o);
    CHECK(ReadFileEx(s, buf, sizeof buf, &o, routine), "ReadFileEx pending");
    HANDLE p = CreateIoCompletionPort(s, NULL, 5, 0);
    CHECK(p != NULL, "bind with the ReadFileEx pending");
    CHECK(WriteFile(c, "abc", 3, &n, NULL), "data for it");
    for (int i = 0; i < 100 && !routine_ran; i++) SleepEx(10, TRUE);
    CHECK(routine_ran == 1 && routine_err == 0 && routine_n == 3, "its routine ran");
    ULONG_PTR key;
    OVERLAPPED *got = (OVERLAPPED *)1;
    CHECK(!GetQueuedCompletionStatus(p, &n, &key, &got, 50) && GetLastError() == WAIT_TIMEOUT && got == NULL,
          "and no packet came for it");
    memset(&o, 0, sizeof o);
    CHECK(!ReadFileEx(s, buf, sizeof buf, &o, routine) && GetLastError() == ERROR_INVALID_PARAMETER,
          "a bound handle takes no more ReadFileEx");

    /* FILE_SKIP_SET_EVENT_ON_HANDLE: a completion without an event leaves the handle alone (W26). */
    CHECK(WaitForSingleObject(s, 0) == WAIT_OBJECT_0, "the handle is signalled (its last read completed)");
    CHECK(SetFileCompletionNotificationModes(s, FILE_SKIP_SET_EVENT_ON_HANDLE), "skip the handle's event");
    CHECK(WaitForSingleObject(s, 0) == WAIT_TIMEOUT, "which leaves it unsignalled at once (W26)");
    memset(&o, 0, sizeof o);
    CHECK(!ReadFile(s, buf, sizeof buf, NULL, &o) && GetLastError() == ERROR_IO_PENDING, "read pending");
    CHECK(WaitForSingleObject(s, 0) == WAIT_TIMEOUT, "the handle is reset by the read (W26)");
    CHECK(WriteFile(c, "de", 2, &n, NULL), "data");
    CHECK(GetQueuedCompletionStatus(p, &n, &key, &got, 1000) && got == &o && n == 2 && key == 5, "the packet");
    CHECK(WaitForSingleObject(s, 0) == WAIT_TIMEOUT, "and the handle stays unsignalled");
    CHECK(SetFileCompletionNotificationModes(s, FILE_SKIP_SET_USER_EVENT_ON_FAST_IO),
          "FILE_SKIP_SET_USER_EVENT_ON_FAST_IO is accepted");
    CHECK(!SetFileCompletionNotificationModes(s, 8) && GetLastError() == ERROR_INVALID_PARAMETER,
          "an unknown mode: ERROR_INVALID_PARAMETER");
    HANDLE sync = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE, 2, 512, 512, 0, NULL);
    CHECK(sync != INVALID_HANDLE_VALUE, "a synchronous instance");
    CHECK(!SetFileCompletionNotificationModes(sync, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS) &&
              GetLastError() == ERROR_INVALID_PARAMETER,
          "modes on a synchronous handle: ERROR_INVALID_PARAMETER");
    CloseHandle(sync);

    /* GetQueuedCompletionStatusEx takes at most what it is given room for, oldest first. */
    for (int i = 0; i < 5; i++) PostQueuedCompletionStatus(p, (DWORD)i, 100 + i, NULL);
    OVERLAPPED_ENTRY e[3];
    ULONG removed = 0;
    CHECK(GetQueuedCompletionStatusEx(p, e, 3, &removed, 0, FALSE) && removed == 3 && e[0].lpCompletionKey == 100 &&
              e[2].lpCompletionKey == 102,
          "three of five, oldest first");
    CHECK(GetQueuedCompletionStatusEx(p, e, 3, &removed, 0, FALSE) && removed == 2 && e[0].lpCompletionKey == 103,
          "then the other two");
    CHECK(!GetQueuedCompletionStatusEx(p, e, 0, &removed, 0, FALSE) && GetLastError() == ERROR_INVALID_PARAMETER,
          "room for none: ERROR_INVALID_PARAMETER");

    /* A call on the port after it is closed leaves lpOverlapped NULL, so a loop that tells a
     * failed operation by it does not see the last packet again. */
    CloseHandle(c);
    CloseHandle(s);
    CHECK(CloseHandle(p), "close the port");
    got = &o;
    CHECK(!GetQueuedCompletionStatus(p, &n, &key, &got, 0) && GetLastError() == ERROR_INVALID_HANDLE && got == NULL,
          "a closed port: ERROR_INVALID_HANDLE, lpOverlapped NULL");

    /* An ordinary file opened for overlapped I/O reports its writes and reads to the port. */
    char path[] = "/tmp/npipe-iocp-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "a temporary file");
    close(fd);
    HANDLE f = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, NULL);
    CHECK(f != INVALID_HANDLE_VALUE, "open it overlapped");
    p = CreateIoCompletionPort(f, NULL, 9, 0);
    CHECK(p != NULL, "bind the file");
    memset(&o, 0, sizeof o);
    BOOL r = WriteFile(f, "hello", 5, NULL, &o);
    CHECK(r || GetLastError() == ERROR_IO_PENDING, "write at offset 0");
    got = NULL;
    CHECK(GetQueuedCompletionStatus(p, &n, &key, &got, 1000) && got == &o && n == 5 && key == 9,
          "the file's write comes to the port");
    memset(&o, 0, sizeof o);
    r = ReadFile(f, buf, sizeof buf, NULL, &o);
    CHECK(r || GetLastError() == ERROR_IO_PENDING, "read at offset 0");
    CHECK(GetQueuedCompletionStatus(p, &n, &key, &got, 1000) && got == &o && n == 5 && memcmp(buf, "hello", 5) == 0,
          "and its read");
    CloseHandle(f);
    CloseHandle(p);
    unlink(path);
}

int main(int argc, char **argv) {
    if (argc > 3 && strcmp(argv[1], "client") == 0) {
        snprintf(pipe_name, sizeof pipe_name, "%s", argv[3]);
        return client(argv[2]);
    }
    snprintf(pipe_name, sizeof pipe_name, "\\\\.\\pipe\\npipe-iocp-checks-%d", (int)getpid());
    serve_clients(argv);
    port_alone();
    bindings();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
