/* Named pipes in a caller's own epoll loop (npipe_ready_fd, npipe_arm, the PIPE_NOWAIT calls,
 * npipe_wait_named_pipe_start/poll): one server process runs a single-threaded epoll loop that
 * never blocks, over two PIPE_NOWAIT instances, serving three client processes (copies of this
 * program started with CreateProcessA):
 *   A says hello; the server writes K messages to it until the quota is full (WriteFile writes
 *     nothing), waits for writable, and goes on once A reads; A says bye and closes (hang-up);
 *   B says hello, gets an echo, holds its instance until the server releases it, closes;
 *   C finds both instances busy (ERROR_PIPE_BUSY), times out once in an async wait, then waits
 *     in its own epoll loop for a free instance, which A's hang-up makes, and connects.
 * The order is forced by two named events, never by time: A reads only after C is parked.
 * Prints "N passed, M failed"; children print their failures and exit non-zero. */
#include <windows.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/epoll.h>

#include "checks.h"

#define K 40        /* messages the server writes to A */
#define MSG 64      /* their size */
#define QUOTA 256   /* the server's nOutBufferSize: four messages fit while A does not read */
#define GUARD 30000 /* ms an epoll_wait may see nothing before the loop reports itself stalled */

static char pipe_name[128], go_name[64], parked_name[64];

static void names(const char *tag) {
    snprintf(pipe_name, sizeof pipe_name, "\\\\.\\pipe\\npipe-ready-%s", tag);
    snprintf(go_name, sizeof go_name, "npipe-ready-go-%s", tag);
    snprintf(parked_name, sizeof parked_name, "npipe-ready-parked-%s", tag);
}

/* ---- clients (blocking calls are fine here) ---- */

static HANDLE open_client(void) {
    DWORD mode = PIPE_READMODE_MESSAGE;
    HANDLE h = CreateFileA(pipe_name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    CHECK(h != INVALID_HANDLE_VALUE, "client opens the pipe");
    CHECK(SetNamedPipeHandleState(h, &mode, NULL, NULL), "client: message read mode");
    return h;
}

static void say(HANDLE h, const char *s) {
    DWORD n = 0;
    CHECK(WriteFile(h, s, (DWORD)strlen(s), &n, NULL) && n == strlen(s), "client writes");
}

static void expect(HANDLE h, const char *s) {
    char buf[128] = {0};
    DWORD n = 0;
    CHECK(ReadFile(h, buf, sizeof buf - 1, &n, NULL) && strcmp(buf, s) == 0, s);
}

static int client_a(void) {
    HANDLE h = open_client(), go = OpenEventA(SYNCHRONIZE, FALSE, go_name);
    char buf[MSG];
    DWORD n;
    int i, j, ok = 1;
    CHECK(go != NULL, "A opens the go event");
    say(h, "hello A");
    /* Not a byte is read until C is parked: the server's writes fill the quota meanwhile. */
    CHECK(WaitForSingleObject(go, INFINITE) == WAIT_OBJECT_0, "A waits for go");
    for (i = 0; i < K; i++) {
        n = 0;
        if (!ReadFile(h, buf, sizeof buf, &n, NULL) || n != MSG) ok = 0;
        for (j = 0; j < MSG; j++)
            if (buf[j] != (char)(i + j)) ok = 0;
    }
    CHECK(ok, "A reads the K messages whole and in order");
    say(h, "bye A");
    CloseHandle(h);
    CloseHandle(go);
    return failed != 0;
}

static int client_b(void) {
    HANDLE h = open_client();
    say(h, "hello B");
    expect(h, "echo B");
    expect(h, "release");
    CloseHandle(h);
    return failed != 0;
}

/* Waits in an epoll loop until the async wait has an answer; returns poll's result. */
static BOOL wait_answer(HANDLE w) {
    int ep = epoll_create1(EPOLL_CLOEXEC), fd = npipe_ready_fd(w);
    struct epoll_event ev = {.events = EPOLLIN}, got;
    BOOL r;
    CHECK(fd >= 0, "the wait has a ready fd");
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0, "epoll takes the wait's fd");
    while (!(r = npipe_wait_named_pipe_poll(w)) && GetLastError() == ERROR_IO_INCOMPLETE) {
        if (epoll_wait(ep, &got, 1, GUARD) != 1) {
            CHECK(0, "the wait's fd became readable");
            break;
        }
    }
    close(ep);
    return r;
}

static int client_c(void) {
    HANDLE h, w, parked = OpenEventA(EVENT_MODIFY_STATE, FALSE, parked_name);
    char missing[160];
    CHECK(parked != NULL, "C opens the parked event");
    h = CreateFileA(pipe_name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    CHECK(h == INVALID_HANDLE_VALUE && GetLastError() == ERROR_PIPE_BUSY, "both instances busy");

    snprintf(missing, sizeof missing, "%s-missing", pipe_name);
    CHECK(npipe_wait_named_pipe_start(missing, NMPWAIT_WAIT_FOREVER) == INVALID_HANDLE_VALUE &&
              GetLastError() == ERROR_FILE_NOT_FOUND,
          "an async wait for no pipe: ERROR_FILE_NOT_FOUND");
    CHECK(npipe_wait_named_pipe_start(NULL, 0) == INVALID_HANDLE_VALUE && GetLastError() == ERROR_INVALID_PARAMETER,
          "an async wait for NULL: ERROR_INVALID_PARAMETER");
    CHECK(!npipe_wait_named_pipe_poll((HANDLE)(uintptr_t)0x7ff0) && GetLastError() == ERROR_INVALID_HANDLE,
          "poll of a bad handle: ERROR_INVALID_HANDLE");
    CHECK(!npipe_wait_named_pipe_poll(parked) && GetLastError() == ERROR_INVALID_HANDLE,
          "poll of an event handle: ERROR_INVALID_HANDLE");

    /* Nothing frees an instance before C says it is parked: a 1 ms wait times out. */
    w = npipe_wait_named_pipe_start(pipe_name, 1);
    CHECK(w != INVALID_HANDLE_VALUE, "a 1 ms async wait starts");
    CHECK(!wait_answer(w) && GetLastError() == ERROR_SEM_TIMEOUT, "the 1 ms async wait times out");
    CloseHandle(w);

    w = npipe_wait_named_pipe_start(pipe_name, NMPWAIT_WAIT_FOREVER);
    CHECK(w != INVALID_HANDLE_VALUE, "the async wait starts");
    CHECK(!npipe_wait_named_pipe_poll(w) && GetLastError() == ERROR_IO_INCOMPLETE, "the wait is parked");
    CHECK(SetEvent(parked), "C says it is parked");
    CHECK(wait_answer(w), "an instance became free");
    CHECK(npipe_wait_named_pipe_poll(w), "the answer stays");
    CloseHandle(w);
    h = open_client();
    say(h, "hello C");
    expect(h, "echo C");
    CloseHandle(h);
    CloseHandle(parked);
    return failed != 0;
}

/* ---- the server: one thread, one epoll loop, PIPE_NOWAIT handles only ---- */

enum { LISTENING, CONNECTED };
static struct inst {
    HANDLE h;
    int state;
    char who;    /* 'A', 'B', 'C' once it said hello */
    int sending; /* writing A's K messages */
} in[2];
static int sent, stalls, stalled_at = -1, connects, hangups, bye_a, c_started, released, idle_wakes;
static PROCESS_INFORMATION kids[3];
static const char *self;

static void spawn(char who, PROCESS_INFORMATION *pi, const char *tag) {
    char cmd[512];
    STARTUPINFOA si;
    ZeroMemory(&si, sizeof si);
    si.cb = sizeof si;
    snprintf(cmd, sizeof cmd, "\"%s\" client %c %s", self, who, tag);
    CHECK(CreateProcessA(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, pi), "CreateProcessA a client");
}

static void arm(struct inst *p, DWORD ev) { CHECK(npipe_arm(p->h, ev), "npipe_arm"); }

static void send_small(struct inst *p, const char *s) {
    DWORD n = 0;
    CHECK(WriteFile(p->h, s, (DWORD)strlen(s), &n, NULL) && n == strlen(s), "server sends a short message");
}

static void pump(struct inst *p) {
    char msg[MSG];
    DWORD n;
    int j;
    while (sent < K) {
        for (j = 0; j < MSG; j++) msg[j] = (char)(sent + j);
        n = 12345;
        CHECK(WriteFile(p->h, msg, MSG, &n, NULL), "a PIPE_NOWAIT WriteFile succeeds");
        if (n == 0) { /* the quota is full: nothing written, wait for writable */
            if (stalls++ == 0) stalled_at = sent;
            return;
        }
        CHECK(n == MSG, "a message goes whole");
        sent++;
    }
    p->sending = 0;
}

static struct inst *by_who(char who) {
    return in[0].who == who ? &in[0] : in[1].who == who ? &in[1] : NULL;
}

static void on_message(struct inst *p, const char *m) {
    if (strcmp(m, "hello A") == 0) {
        p->who = 'A';
        p->sending = 1;
    } else if (strcmp(m, "hello B") == 0) {
        p->who = 'B';
        send_small(p, "echo B");
    } else if (strcmp(m, "hello C") == 0) {
        struct inst *b = by_who('B');
        p->who = 'C';
        send_small(p, "echo C");
        CHECK(b != NULL, "B still holds its instance when C connects");
        if (b) send_small(b, "release");
    } else if (strcmp(m, "bye A") == 0) {
        CHECK(sent == K, "A says bye after all K messages");
        bye_a = 1;
    } else
        CHECK(0, "a known message");
}

static void listen_again(struct inst *p) {
    p->state = LISTENING;
    p->who = 0;
    p->sending = 0;
    CHECK(DisconnectNamedPipe(p->h), "DisconnectNamedPipe");
    CHECK(!ConnectNamedPipe(p->h, NULL) && GetLastError() == ERROR_PIPE_LISTENING,
          "a PIPE_NOWAIT ConnectNamedPipe listens");
    arm(p, NPIPE_READY_CONNECT);
}

static void service(struct inst *p, const char *tag) {
    char buf[256];
    DWORD n;
    if (p->state == LISTENING) {
        if (ConnectNamedPipe(p->h, NULL) || GetLastError() == ERROR_PIPE_CONNECTED) {
            p->state = CONNECTED;
            connects++;
        } else if (GetLastError() == ERROR_PIPE_LISTENING) {
            arm(p, NPIPE_READY_CONNECT);
            return;
        } else {
            CHECK(0, "ConnectNamedPipe: connected or listening");
            listen_again(p);
            return;
        }
    }
    for (;;) {
        n = 0;
        if (ReadFile(p->h, buf, sizeof buf - 1, &n, NULL)) {
            buf[n] = 0;
            on_message(p, buf);
            continue;
        }
        if (GetLastError() == ERROR_NO_DATA) break;
        CHECK(GetLastError() == ERROR_BROKEN_PIPE, "a read ends with ERROR_NO_DATA or ERROR_BROKEN_PIPE");
        hangups++;
        listen_again(p);
        return;
    }
    if (!c_started && by_who('A') && by_who('B')) {
        c_started = 1;
        spawn('C', &kids[2], tag);
    }
    if (p->sending) pump(p);
    arm(p, NPIPE_READY_READ | NPIPE_READY_HANGUP | (p->sending ? NPIPE_READY_WRITE : 0));
}

static int server(const char *tag) {
    HANDLE go = CreateEventA(NULL, TRUE, FALSE, go_name), parked = CreateEventA(NULL, FALSE, FALSE, parked_name);
    int ep = epoll_create1(EPOLL_CLOEXEC), i;
    struct epoll_event ev = {.events = EPOLLIN}, got[8];

    CHECK(go && parked && ep >= 0, "events and the epoll set");
    CHECK(npipe_ready_fd((HANDLE)(uintptr_t)0x7ff0) == -1 && GetLastError() == ERROR_INVALID_HANDLE,
          "npipe_ready_fd of a bad handle: ERROR_INVALID_HANDLE");
    CHECK(npipe_ready_fd(go) == -1 && GetLastError() == ERROR_INVALID_HANDLE,
          "npipe_ready_fd of an event: ERROR_INVALID_HANDLE");
    CHECK(!npipe_arm((HANDLE)(uintptr_t)0x7ff0, NPIPE_READY_READ) && GetLastError() == ERROR_INVALID_HANDLE,
          "npipe_arm of a bad handle: ERROR_INVALID_HANDLE");
    CHECK(!npipe_arm(go, NPIPE_READY_READ) && GetLastError() == ERROR_INVALID_HANDLE,
          "npipe_arm of an event: ERROR_INVALID_HANDLE");
    for (i = 0; i < 2; i++) {
        in[i].h = CreateNamedPipeA(pipe_name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_NOWAIT,
                                   2, QUOTA, 4096, 0, NULL);
        CHECK(in[i].h != INVALID_HANDLE_VALUE, "CreateNamedPipeA with PIPE_NOWAIT");
        ev.data.u32 = (uint32_t)i;
        CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, npipe_ready_fd(in[i].h), &ev) == 0, "epoll takes an instance's ready fd");
        in[i].state = LISTENING;
    }
    CHECK(!npipe_arm(in[0].h, 0) && GetLastError() == ERROR_INVALID_PARAMETER, "npipe_arm of no event");
    CHECK(!npipe_arm(in[0].h, 0x10) && GetLastError() == ERROR_INVALID_PARAMETER, "npipe_arm of an unknown bit");
    CHECK(npipe_ready_fd(in[0].h) == npipe_ready_fd(in[0].h), "the ready fd stays the same");
    ev.data.u32 = 100;
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, npipe_wait_fd(parked), &ev) == 0, "epoll takes the parked event");
    for (i = 0; i < 2; i++) service(&in[i], tag);
    spawn('A', &kids[0], tag);
    spawn('B', &kids[1], tag);

    while (hangups < 3 && !failed) {
        int n = epoll_wait(ep, got, 8, GUARD);
        if (n <= 0) {
            CHECK(0, "the loop is woken (stalled)");
            break;
        }
        for (i = 0; i < n; i++) {
            if (got[i].data.u32 == 100) {
                if (WaitForSingleObject(parked, 0) == WAIT_OBJECT_0) {
                    CHECK(stalls >= 1 && sent < K, "the writes to A hit the quota before A reads");
                    CHECK(SetEvent(go), "go");
                    released = 1;
                    epoll_ctl(ep, EPOLL_CTL_DEL, npipe_wait_fd(parked), NULL);
                }
                continue;
            }
            /* Before go, A's instance has nothing new: a wake-up there is a busy retry. */
            if (!released && stalls > 0 && in[got[i].data.u32].who == 'A') idle_wakes++;
            service(&in[got[i].data.u32], tag);
        }
    }
    close(ep);
    CHECK(released, "C was parked while both instances were busy");
    CHECK(connects == 3 && hangups == 3, "three clients connected and hung up");
    CHECK(stalled_at >= 1 && stalled_at <= QUOTA / MSG, "the quota took at most QUOTA / MSG messages before A read");
    CHECK(idle_wakes < 10, "the loop sleeps while the quota is full (no busy retry)");
    /* After the stall only a writable signal (A's reads) could make the loop write again. */
    CHECK(sent == K && bye_a, "all K messages reached A");
    for (i = 0; i < 3; i++) {
        DWORD code = 99;
        if (!kids[i].hProcess) continue;
        CHECK(WaitForSingleObject(kids[i].hProcess, INFINITE) == WAIT_OBJECT_0, "a client exits");
        CHECK(GetExitCodeProcess(kids[i].hProcess, &code) && code == 0, "a client passed its checks");
        CloseHandle(kids[i].hProcess);
        CloseHandle(kids[i].hThread);
    }
    for (i = 0; i < 2; i++) CloseHandle(in[i].h);
    CloseHandle(go);
    CloseHandle(parked);
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}

int main(int argc, char **argv) {
    char tag[32];
    self = argv[0];
    if (argc == 4 && strcmp(argv[1], "client") == 0) {
        names(argv[3]);
        switch (argv[2][0]) {
        case 'A': return client_a();
        case 'B': return client_b();
        case 'C': return client_c();
        }
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    snprintf(tag, sizeof tag, "%lu", (unsigned long)GetCurrentProcessId());
    names(tag);
    return server(tag);
}
