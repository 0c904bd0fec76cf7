/* Remote pipes through the Win32 ABI (libnpipe built with the "smb" feature): WNetAddConnection2A
 * on \\server\IPC$, CreateFileA on \\server\pipe\name, message read mode, TransactNamedPipe with
 * ERROR_MORE_DATA and the rest by ReadFile, WriteFile/ReadFile, PeekNamedPipe (not supported by
 * Samba), CallNamedPipeA, WaitNamedPipeA, WNetCancelConnection2A. Run by tests/smb_remote_c.rs with
 * argv: server (127.0.0.1@port), pipe name, user, password; prints "N passed, M failed". */
#include <npipe/win32.h>
#include <stdio.h>
#include <string.h>

#include "checks.h"

/* A library built without the "smb" feature: remote names and the WNet calls fail clearly. */
static int absent(void) {
    NETRESOURCEA res;
    memset(&res, 0, sizeof res);
    res.lpRemoteName = "\\\\fileserver\\IPC$";
    CHECK(WNetAddConnection2A(&res, "pw", "user", 0) == ERROR_NOT_SUPPORTED, "WNetAddConnection2A");
    CHECK(GetLastError() == ERROR_NOT_SUPPORTED, "and the last error");
    HANDLE h = CreateFileA("\\\\fileserver\\pipe\\x", GENERIC_READ | GENERIC_WRITE, 0, NULL,
                           OPEN_EXISTING, 0, NULL);
    CHECK(h == INVALID_HANDLE_VALUE && GetLastError() == ERROR_NOT_SUPPORTED, "CreateFileA");
    CHECK(!WaitNamedPipeA("\\\\fileserver\\pipe\\x", 10) && GetLastError() == ERROR_NOT_SUPPORTED,
          "WaitNamedPipeA");
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "absent") == 0)
        return absent();
    if (argc != 5) {
        printf("usage: %s SERVER PIPE USER PASSWORD\n", argv[0]);
        return 2;
    }
    char ipc[300], name[300], missing[300], share[300];
    snprintf(ipc, sizeof ipc, "\\\\%s\\IPC$", argv[1]);
    snprintf(share, sizeof share, "\\\\%s\\share", argv[1]);
    snprintf(name, sizeof name, "\\\\%s\\pipe\\%s", argv[1], argv[2]);
    snprintf(missing, sizeof missing, "\\\\%s\\pipe\\no-such-pipe", argv[1]);

    NETRESOURCEA res;
    memset(&res, 0, sizeof res);
    res.dwType = RESOURCETYPE_ANY;
    res.lpRemoteName = share;
    CHECK(WNetAddConnection2A(&res, argv[4], argv[3], 0) == ERROR_BAD_NET_NAME, "only IPC$ shares");
    res.lpRemoteName = ipc;
    CHECK(WNetAddConnection2A(&res, "wrong", argv[3], 0) == NO_ERROR, "add with a wrong password");
    HANDLE h = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    CHECK(h == INVALID_HANDLE_VALUE && GetLastError() == ERROR_LOGON_FAILURE, "wrong password");
    CHECK(WNetAddConnection2A(&res, argv[4], argv[3], 0) == NO_ERROR, "WNetAddConnection2A");

    h = CreateFileA(missing, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    CHECK(h == INVALID_HANDLE_VALUE && GetLastError() == ERROR_FILE_NOT_FOUND, "missing pipe");

    h = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    CHECK(h != INVALID_HANDLE_VALUE, "CreateFileA on the remote pipe");
    DWORD mode = PIPE_READMODE_MESSAGE, n = 0;
    CHECK(SetNamedPipeHandleState(h, &mode, NULL, NULL), "message read mode");

    char buf[64];
    BOOL ok = TransactNamedPipe(h, "big:40", 6, buf, 16, &n, NULL);
    CHECK(!ok && GetLastError() == ERROR_MORE_DATA && n == 16, "transact: ERROR_MORE_DATA");
    ok = ReadFile(h, buf, sizeof buf, &n, NULL);
    CHECK(ok && n == 24, "the rest of the reply");

    ok = WriteFile(h, "hello", 5, &n, NULL);
    CHECK(ok && n == 5, "WriteFile");
    ok = ReadFile(h, buf, sizeof buf, &n, NULL);
    CHECK(ok && n == 5 && memcmp(buf, "hello", 5) == 0, "ReadFile");

    DWORD avail = 0;
    ok = PeekNamedPipe(h, NULL, 0, NULL, &avail, NULL);
    CHECK(!ok && GetLastError() == ERROR_NOT_SUPPORTED, "PeekNamedPipe: Samba has no FSCTL_PIPE_PEEK");
    CHECK(CloseHandle(h), "CloseHandle");

    CHECK(WaitNamedPipeA(name, 2000), "WaitNamedPipeA");
    ok = CallNamedPipeA(name, "call", 4, buf, sizeof buf, &n, NMPWAIT_USE_DEFAULT_WAIT);
    CHECK(ok && n == 4 && memcmp(buf, "call", 4) == 0, "CallNamedPipeA");

    CHECK(WNetCancelConnection2A(ipc, 0, TRUE) == NO_ERROR, "WNetCancelConnection2A");
    CHECK(WNetCancelConnection2A(ipc, 0, TRUE) == ERROR_NOT_CONNECTED, "cancel twice");

    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
