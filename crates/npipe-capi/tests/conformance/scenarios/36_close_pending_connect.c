/* Closing a server handle that has an overlapped ConnectNamedPipe pending (W9, W31).
 *
 * The close signals the OVERLAPPED's event and completes the connect (it is no longer
 * STATUS_PENDING), and GetOverlappedResult then reports failure. The last server instance is gone,
 * so the name is gone too: CreateFile -> ERROR_FILE_NOT_FOUND and WaitNamedPipe ->
 * ERROR_FILE_NOT_FOUND (W7-W9). With a second instance still open, the name survives and the
 * remaining instance still accepts a client. */
#include "w32.h"

static void show_wait(const char *label, DWORD r) {
    if (r == WAIT_FAILED) printf("%s: WAIT_FAILED err=%lu\n", label, (unsigned long)GetLastError());
    else printf("%s: %lu\n", label, (unsigned long)r);
}

int main(void) {
    OVERLAPPED ov, ov2;
    DWORD n;
    BOOL r;
    HANDLE e = CreateEventA(NULL, TRUE, FALSE, NULL);
    HANDLE e2 = CreateEventA(NULL, TRUE, FALSE, NULL);

    /* 1. the only instance */
    HANDLE s = CreateNamedPipeA(PIPE("36"), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                                PIPE_TYPE_BYTE | PIPE_WAIT, 2, 1024, 1024, 0, NULL);
    SHOW_HANDLE("server", s);
    memset(&ov, 0, sizeof ov);
    ov.hEvent = e;
    SHOW_BOOL("connect_pending", ConnectNamedPipe(s, &ov));
    show_wait("event_before_close", WaitForSingleObject(e, 100));
    SHOW_BOOL("close_server", CloseHandle(s));
    show_wait("event_after_close", WaitForSingleObject(e, 2000));
    printf("has_completed: %d\n", HasOverlappedIoCompleted(&ov) ? 1 : 0);
    n = 12345;
    r = GetOverlappedResult(s, &ov, &n, FALSE);
    printf("result_after_close: %s\n", r ? "TRUE" : "FALSE");
    HANDLE c = CreateFileA(PIPE("36"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    SHOW_HANDLE("open_after_close", c);
    SHOW_BOOL("wait_pipe_after_close", WaitNamedPipeA(PIPE("36"), 100));

    /* 2. two instances, each with a pending connect; close the first */
    s = CreateNamedPipeA(PIPE("36"), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                         PIPE_TYPE_BYTE | PIPE_WAIT, 2, 1024, 1024, 0, NULL);
    HANDLE s2 = CreateNamedPipeA(PIPE("36"), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                                 PIPE_TYPE_BYTE | PIPE_WAIT, 2, 1024, 1024, 0, NULL);
    SHOW_HANDLE("server_a", s);
    SHOW_HANDLE("server_b", s2);
    ResetEvent(e);
    memset(&ov, 0, sizeof ov);
    ov.hEvent = e;
    SHOW_BOOL("connect_a_pending", ConnectNamedPipe(s, &ov));
    memset(&ov2, 0, sizeof ov2);
    ov2.hEvent = e2;
    SHOW_BOOL("connect_b_pending", ConnectNamedPipe(s2, &ov2));
    SHOW_BOOL("close_server_a", CloseHandle(s));
    show_wait("event_a_after_close", WaitForSingleObject(e, 2000));
    show_wait("event_b_after_close_a", WaitForSingleObject(e2, 100));
    c = CreateFileA(PIPE("36"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    SHOW_HANDLE("client_gets_b", c);
    show_wait("event_b_after_client", WaitForSingleObject(e2, 2000));
    n = 12345;
    r = GetOverlappedResult(s2, &ov2, &n, FALSE);
    show_io("connect_b_result", r, n, NULL);
    r = WriteFile(c, "b", 1, &n, NULL);
    show_io("client_write", r, n, NULL);
    CloseHandle(c);
    CloseHandle(s2);

    CloseHandle(e);
    CloseHandle(e2);
    return 0;
}
