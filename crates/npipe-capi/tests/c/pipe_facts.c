/* npipe's C test of the Win32-visible pipe facts no other C test names: compiled against
 * <npipe/win32.h> and libnpipe by tests/pipe_facts.rs. Each CHECK names its W-number
 * (docs/WINDOWS-BEHAVIOUR.md): names with punctuation and spaces (W4), a second instance that
 * differs from the first (W15), buffer sizes and instances as reported (W19, W20, W122), the
 * default wait (W35), a synchronous connect before and after a client (W38), read modes (W60 to
 * W63), an empty message that outlives its writer (W81), peek's counts (W84, W85) and peek after
 * the peer closed (W88), PIPE_NOWAIT as reported (W112), the access every client holds
 * (W25), and when a client can be impersonated (W133, with CreateFile's security quality of
 * service). A second process (this program re-run with a role) plays the peer where processes
 * matter. Prints "N passed, M failed". */
#include <npipe/win32.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"

static char base[64];

/* `\\.\pipe\<base>-<tag>`, in one of four rotating buffers. */
static const char *name_for(const char *tag) {
    static char buf[4][160];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "\\\\.\\pipe\\%s-%s", base, tag);
    return b;
}

static HANDLE server(const char *name, DWORD mode, DWORD max, DWORD out, DWORD in, DWORD timeout) {
    return CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX, mode, max, out, in, timeout, NULL);
}

static HANDLE client(const char *name, DWORD access) {
    return CreateFileA(name, access, 0, NULL, OPEN_EXISTING, 0, NULL);
}

static DWORD read_mode(HANDLE h) {
    DWORD st = 77;
    if (!GetNamedPipeHandleStateA(h, &st, NULL, NULL, NULL, NULL, 0)) return 77;
    return st;
}

/* W4 (and W5): such names are created and opened, also from another process. */
static void names(const char *argv0) {
    const char *tags[] = {"a<>*?|\"/b", "my pipe", "sub\\pipe"};
    for (int k = 0; k < 3; k++) {
        const char *n = name_for(tags[k]);
        HANDLE s = server(n, PIPE_TYPE_BYTE, 1, 1024, 1024, 0);
        CHECK(s != INVALID_HANDLE_VALUE, "W4 a name with punctuation or spaces is created");
        pid_t child = spawn_self(argv0, "open", n);
        CHECK(ConnectNamedPipe(s, NULL) || GetLastError() == ERROR_PIPE_CONNECTED,
              "W4 another process opens it");
        CHECK(wait_ok(child), "W4 the other process opened it");
        CloseHandle(s);
    }
}

/* W15, W19, W20, W122: a second instance may differ; the first one's sizes, type and limit
 * stay the pipe's, and are reported as given, with no rounding. */
static void instances(void) {
    const char *n = name_for("inst");
    HANDLE a = server(n, PIPE_TYPE_BYTE | PIPE_WAIT, 4, 1024, 1024, NMPWAIT_USE_DEFAULT_WAIT);
    HANDLE b = server(n, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT, 3, 102, 24, 1234);
    CHECK(a != INVALID_HANDLE_VALUE && b != INVALID_HANDLE_VALUE,
          "W15 a second instance of other type, limit, sizes and timeout is created");
    DWORD fl = 0, out = 0, in = 0, max = 0, cur = 0;
    CHECK(GetNamedPipeInfo(b, &fl, &out, &in, &max), "W15 GetNamedPipeInfo on the second");
    CHECK(fl == (PIPE_SERVER_END | PIPE_TYPE_BYTE) && out == 1024 && in == 1024 && max == 4,
          "W15 the second reports the first instance's type, sizes and limit");
    CHECK(GetNamedPipeHandleStateA(a, NULL, &cur, NULL, NULL, NULL, 0) && cur == 2,
          "W15 two instances counted");
    CloseHandle(b);
    CloseHandle(a);

    const DWORD sizes[3] = {1024, 0, 0xf000};
    for (int k = 0; k < 3; k++) {
        const char *m = name_for("sizes");
        HANDLE s = server(m, PIPE_TYPE_MESSAGE, PIPE_UNLIMITED_INSTANCES, sizes[k], sizes[k], 0);
        HANDLE c = client(m, GENERIC_READ);
        fl = out = in = max = 77;
        CHECK(GetNamedPipeInfo(s, &fl, &out, &in, &max) && out == sizes[k] && in == sizes[k],
              "W19 the server reports the sizes as given");
        CHECK(fl == (PIPE_SERVER_END | PIPE_TYPE_MESSAGE), "W20 message-type server flags");
        CHECK(max == PIPE_UNLIMITED_INSTANCES, "W122 an unlimited pipe reports 255");
        fl = out = in = max = 77;
        CHECK(GetNamedPipeInfo(c, &fl, &out, &in, &max) && out == sizes[k] && in == sizes[k]
                  && fl == PIPE_TYPE_MESSAGE,
              "W19 W20 the client reports the same sizes, without PIPE_SERVER_END");
        CloseHandle(c);
        CloseHandle(s);
    }
}

/* W35: NMPWAIT_USE_DEFAULT_WAIT waits the first instance's nDefaultTimeOut; 0 there is 50 ms. */
static void default_wait(void) {
    const DWORD timeouts[2] = {300, 0};
    const DWORD at_least[2] = {250, 30};
    for (int k = 0; k < 2; k++) {
        const char *n = name_for(k ? "def0" : "def");
        HANDLE s = server(n, PIPE_TYPE_BYTE, 1, 0, 0, timeouts[k]);
        HANDLE c = client(n, GENERIC_READ);
        DWORD t0 = GetTickCount();
        BOOL r = WaitNamedPipeA(n, NMPWAIT_USE_DEFAULT_WAIT);
        DWORD err = GetLastError(), waited = GetTickCount() - t0;
        CHECK(!r && err == ERROR_SEM_TIMEOUT, "W35 the default wait times out on a busy pipe");
        CHECK(waited >= at_least[k] && waited < 5000, "W35 after the pipe's default time");
        CloseHandle(c);
        CloseHandle(s);
    }
}

/* W38: a synchronous connect with a client there already, after one came and went, and before
 * one comes (from another process). */
static void connect_sync(const char *argv0) {
    const char *n = name_for("connect");
    HANDLE s = server(n, PIPE_TYPE_BYTE, 1, 0, 0, 0);
    HANDLE c = client(n, GENERIC_READ);
    CHECK(!ConnectNamedPipe(s, NULL) && GetLastError() == ERROR_PIPE_CONNECTED,
          "W38 a client there already: ERROR_PIPE_CONNECTED");
    CloseHandle(c);
    CHECK(!ConnectNamedPipe(s, NULL) && GetLastError() == ERROR_NO_DATA,
          "W38 a client that came and went: ERROR_NO_DATA");
    CHECK(DisconnectNamedPipe(s), "W38 disconnect");
    pid_t child = spawn_self(argv0, "open", n);
    CHECK(ConnectNamedPipe(s, NULL), "W38 TRUE once a client connects after the call");
    CHECK(wait_ok(child), "W38 the client process opened the pipe");
    CloseHandle(s);
}

/* W60-W63, W84, W85, W112: read modes and peek on a message pipe. */
static void read_modes(void) {
    const char *n = name_for("modes");
    HANDLE s = server(n, PIPE_TYPE_MESSAGE, 1, 1024, 1024, 0);
    HANDLE c = client(n, GENERIC_READ | GENERIC_WRITE);
    char buf[64];
    DWORD w, got, rd, avail, left;
    CHECK(read_mode(s) == PIPE_READMODE_BYTE && read_mode(c) == PIPE_READMODE_BYTE,
          "W63 both ends start in byte read mode");
    WriteFile(s, "12345678901", 11, &w, NULL);
    WriteFile(s, "1234567890", 10, &w, NULL);
    rd = avail = left = 77;
    CHECK(PeekNamedPipe(c, buf, 32, &rd, &avail, &left) && rd == 11 && avail == 21 && left == 0,
          "W84 peek copies at most the first message, whatever the read mode");
    CHECK(PeekNamedPipe(c, buf, 4, &rd, &avail, &left) && rd == 4 && avail == 21 && left == 7,
          "W85 peek of 4 of 11: 7 left of the message");
    CHECK(PeekNamedPipe(c, NULL, 0, &rd, &avail, &left) && rd == 0 && left == 11,
          "W85 peek without a buffer: the whole first message left");
    got = 0;
    CHECK(ReadFile(c, buf, 32, &got, NULL) && got == 21 && memcmp(buf + 11, "1234567890", 10) == 0,
          "W60 byte read mode joins the messages, no ERROR_MORE_DATA");
    WriteFile(s, "12345678901", 11, &w, NULL);
    WriteFile(s, "1234567890", 10, &w, NULL);
    DWORD mode = PIPE_READMODE_MESSAGE;
    CHECK(SetNamedPipeHandleState(c, &mode, NULL, NULL), "W61 the client switches to message");
    CHECK(read_mode(c) == PIPE_READMODE_MESSAGE && read_mode(s) == PIPE_READMODE_BYTE,
          "W63 read mode is per handle");
    CHECK(ReadFile(c, buf, 32, &got, NULL) && got == 11, "W61 queued data: first message");
    CHECK(ReadFile(c, buf, 32, &got, NULL) && got == 10, "W61 queued data: second message");
    mode = PIPE_READMODE_BYTE;
    CHECK(SetNamedPipeHandleState(c, &mode, NULL, NULL) && read_mode(c) == PIPE_READMODE_BYTE,
          "W63 the client switches back to byte");
    mode = PIPE_READMODE_MESSAGE;
    CHECK(SetNamedPipeHandleState(s, &mode, NULL, NULL) && read_mode(s) == PIPE_READMODE_MESSAGE,
          "W63 the server switches to message");
    mode = PIPE_READMODE_MESSAGE | PIPE_NOWAIT;
    CHECK(SetNamedPipeHandleState(s, &mode, NULL, NULL)
              && read_mode(s) == (PIPE_READMODE_MESSAGE | PIPE_NOWAIT),
          "W112 PIPE_NOWAIT is reported");
    CHECK(read_mode(c) == PIPE_READMODE_BYTE, "W112 nonblocking mode is per handle");
    CloseHandle(c);
    CloseHandle(s);

    n = name_for("bytes");
    s = server(n, PIPE_TYPE_BYTE, 1, 1024, 1024, 0);
    c = client(n, GENERIC_READ | GENERIC_WRITE);
    mode = PIPE_READMODE_MESSAGE;
    CHECK(!SetNamedPipeHandleState(s, &mode, NULL, NULL) && GetLastError() == ERROR_INVALID_PARAMETER,
          "W62 message read mode on a byte pipe fails on the server");
    CHECK(!SetNamedPipeHandleState(c, &mode, NULL, NULL) && GetLastError() == ERROR_INVALID_PARAMETER,
          "W62 and on the client");
    CloseHandle(c);
    CloseHandle(s);
}

/* W81, W88: what a writer in another process leaves behind when it closes. */
static void after_close(const char *argv0) {
    const char *n = name_for("empty");
    HANDLE s = server(n, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1, 1024, 1024, 0);
    pid_t child = spawn_self(argv0, "empty", n);
    CHECK(ConnectNamedPipe(s, NULL) || GetLastError() == ERROR_PIPE_CONNECTED, "W81 connected");
    CHECK(wait_ok(child), "W81 the writer wrote an empty message and closed");
    char buf[32];
    DWORD got = 99;
    CHECK(ReadFile(s, buf, sizeof buf, &got, NULL) && got == 0,
          "W81 the empty message outlives its writer");
    CHECK(!ReadFile(s, buf, sizeof buf, &got, NULL) && GetLastError() == ERROR_BROKEN_PIPE,
          "W81 then ERROR_BROKEN_PIPE");
    CloseHandle(s);

    n = name_for("peek");
    s = server(n, PIPE_TYPE_BYTE, 1, 1024, 1024, 0);
    child = spawn_self(argv0, "twelve", n);
    CHECK(ConnectNamedPipe(s, NULL) || GetLastError() == ERROR_PIPE_CONNECTED, "W88 connected");
    CHECK(wait_ok(child), "W88 the writer wrote 12 bytes and closed");
    DWORD rd = 77, avail = 77, left = 77;
    CHECK(PeekNamedPipe(s, buf, sizeof buf, &rd, &avail, &left) && rd == 12 && avail == 12,
          "W88 peek succeeds while data remains");
    CHECK(ReadFile(s, buf, sizeof buf, &got, NULL) && got == 12 && memcmp(buf, "0123456789ab", 12) == 0,
          "W88 the data is read");
    rd = avail = left = 77;
    CHECK(!PeekNamedPipe(s, buf, sizeof buf, &rd, &avail, &left) && GetLastError() == ERROR_BROKEN_PIPE,
          "W88 then peek fails with ERROR_BROKEN_PIPE");
    CHECK(rd == 77 && avail == 77 && left == 77, "W88 leaving its out parameters untouched");
    CloseHandle(s);
}

/* W25: CreateFile adds SYNCHRONIZE and FILE_READ_ATTRIBUTES to any access, so a client that
 * asked for writing only, or for nothing, may still query its pipe (a write-only .NET client
 * reads NumberOfServerInstances so). The clients are another process. */
static void implied_access(const char *argv0) {
    const char *n = name_for("implied");
    const char *roles[3] = {"query-write", "query-none", "query-data"};
    for (int k = 0; k < 3; k++) {
        HANDLE s = server(n, PIPE_TYPE_MESSAGE, 2, 512, 512, 0);
        HANDLE s2 = server(n, PIPE_TYPE_MESSAGE, 2, 512, 512, 0);
        pid_t child = spawn_self(argv0, roles[k], n);
        CHECK(ConnectNamedPipe(s, NULL) || GetLastError() == ERROR_PIPE_CONNECTED,
              "W25 the querying client connected");
        CHECK(wait_ok(child), roles[k]);
        CloseHandle(s2);
        CloseHandle(s);
    }
}

/* W133 and CreateFile's security quality of service: a server may impersonate a client that
 * opened with SECURITY_SQOS_PRESENT and static tracking as soon as it is connected (its context
 * is taken at the open; .NET's GetImpersonationUserName right after WaitForConnection relies on
 * it); a client without SQOS, or with SECURITY_CONTEXT_TRACKING, only once the server has read
 * from it. The clients are another process, which writes one byte and waits to be told to go. */
static void impersonate_at_connect(const char *argv0) {
    const char *n = name_for("sqos");
    const char *roles[3] = {"sqos-static", "sqos-none", "sqos-dynamic"};
    for (int k = 0; k < 3; k++) {
        HANDLE s = server(n, PIPE_TYPE_BYTE, 1, 512, 512, 0);
        pid_t child = spawn_self(argv0, roles[k], n);
        CHECK(ConnectNamedPipe(s, NULL) || GetLastError() == ERROR_PIPE_CONNECTED, "W133 connected");
        /* Wait until the client's byte is there, without reading it. */
        DWORD avail = 0;
        for (int i = 0; i < 2000 && avail == 0; i++) {
            if (!PeekNamedPipe(s, NULL, 0, NULL, &avail, NULL)) break;
            if (avail == 0) Sleep(5);
        }
        BOOL r = ImpersonateNamedPipeClient(s);
        DWORD err = GetLastError();
        char user[64] = "";
        BOOL named = GetNamedPipeHandleStateA(s, NULL, NULL, NULL, NULL, user, sizeof user);
        if (k == 0) {
            CHECK(r, "SQOS static: impersonation before any read");
            CHECK(named && user[0] != 0, "SQOS static: the client's user name before any read");
            CHECK(RevertToSelf(), "RevertToSelf");
        } else {
            CHECK(!r && err == ERROR_CANNOT_IMPERSONATE,
                  "W133 without static tracking: ERROR_CANNOT_IMPERSONATE before a read");
            CHECK(!named, "W133 and no user name before a read");
        }
        char b;
        DWORD got = 0;
        CHECK(ReadFile(s, &b, 1, &got, NULL) && got == 1, "the client's byte");
        CHECK(ImpersonateNamedPipeClient(s), "W133 impersonation after a read");
        CHECK(RevertToSelf(), "RevertToSelf after a read");
        DWORD w = 0;
        WriteFile(s, "g", 1, &w, NULL);
        CHECK(wait_ok(child), roles[k]);
        CloseHandle(s);
    }
}

/* The second process's roles. */
static int child_main(const char *role, const char *name) {
    DWORD w;
    if (strncmp(role, "sqos-", 5) == 0) {
        DWORD flags = strcmp(role, "sqos-static") == 0 ? SECURITY_SQOS_PRESENT | SECURITY_IMPERSONATION
                      : strcmp(role, "sqos-dynamic") == 0
                          ? SECURITY_SQOS_PRESENT | SECURITY_IMPERSONATION | SECURITY_CONTEXT_TRACKING
                          : 0;
        HANDLE c = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, flags, NULL);
        if (c == INVALID_HANDLE_VALUE) return 1;
        char b;
        DWORD got = 0;
        int ok = WriteFile(c, "x", 1, &w, NULL) && ReadFile(c, &b, 1, &got, NULL) && got == 1;
        CloseHandle(c);
        return ok ? 0 : 1;
    }
    if (strncmp(role, "query-", 6) == 0) {
        DWORD access = strcmp(role, "query-write") == 0 ? GENERIC_WRITE
                       : strcmp(role, "query-none") == 0 ? 0
                                                         : FILE_READ_DATA | FILE_WRITE_ATTRIBUTES;
        HANDLE c = client(name, access);
        if (c == INVALID_HANDLE_VALUE) return 1;
        DWORD st = 77, cur = 77, fl = 77, out = 77, in = 77, max = 77;
        int ok = GetNamedPipeHandleStateA(c, &st, &cur, NULL, NULL, NULL, 0) && st == 0 && cur == 2
                 && GetNamedPipeInfo(c, &fl, &out, &in, &max) && fl == PIPE_TYPE_MESSAGE
                 && out == 512 && in == 512 && max == 2
                 && WaitForSingleObject(c, 0) == WAIT_OBJECT_0;
        if (!ok) printf("FAIL %s: queries refused (GetLastError %lu)\n", role, (unsigned long)GetLastError());
        /* What it did not ask for stays refused (GENERIC_WRITE includes
         * FILE_WRITE_ATTRIBUTES). */
        DWORD mode = PIPE_READMODE_MESSAGE;
        if (access == 0) {
            ok = ok && !SetNamedPipeHandleState(c, &mode, NULL, NULL) && GetLastError() == ERROR_ACCESS_DENIED;
            if (!ok) printf("FAIL %s: SetNamedPipeHandleState not refused\n", role);
        }
        CloseHandle(c);
        return ok ? 0 : 1;
    }
    HANDLE c = client(name, strcmp(role, "open") == 0 ? 0 : GENERIC_WRITE);
    if (c == INVALID_HANDLE_VALUE) return 1;
    int ok = 1;
    if (strcmp(role, "empty") == 0) ok = WriteFile(c, "", 0, &w, NULL) && w == 0;
    if (strcmp(role, "twelve") == 0) ok = WriteFile(c, "0123456789ab", 12, &w, NULL) && w == 12;
    CloseHandle(c);
    return ok ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc == 3) return child_main(argv[1], argv[2]);
    snprintf(base, sizeof base, "npipe-facts-%d", (int)getpid());
    names(argv[0]);
    instances();
    default_wait();
    connect_sync(argv[0]);
    read_modes();
    after_close(argv[0]);
    implied_access(argv[0]);
    impersonate_at_connect(argv[0]);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
