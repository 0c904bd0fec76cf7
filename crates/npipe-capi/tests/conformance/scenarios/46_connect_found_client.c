/* What programs do around a connect that found its client, a disconnect and an open's access.
 *
 * 1. Overlapped ConnectNamedPipe when the client is already there: FALSE, ERROR_PIPE_CONNECTED,
 *    the OVERLAPPED left at STATUS_PENDING (W40). Microsoft's overlapped server then sets the
 *    event itself; GetOverlappedResult(bWait = TRUE) waits on the event, reads the OVERLAPPED
 *    once and counts the pending status as success: TRUE, 0 bytes (it must not wait for an
 *    operation that does not exist).
 * 2. After DisconnectNamedPipe the client handle is not signaled (W45), though it was before;
 *    a write that fails on it (ERROR_PIPE_NOT_CONNECTED) does not signal it either.
 * 3. A client opened with MAXIMUM_ALLOWED gets what the pipe grants: it reads and writes a
 *    duplex pipe.
 * 4. CreateFile with a security quality of service (SECURITY_SQOS_PRESENT |
 *    SECURITY_IDENTIFICATION, as Chromium's and go-winio's clients pass) opens the pipe. */
#include "w32.h"

/* show_io with the count read after the call (arguments have no order of evaluation). */
static void show_after(const char *label, BOOL r, const DWORD *n, const char *buf) {
    show_io(label, r, *n, buf);
}

int main(void) {
    char buf[64];
    DWORD n;
    OVERLAPPED ov;

    /* 1 */
    HANDLE s = CreateNamedPipeA(PIPE("46a"), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                                PIPE_TYPE_BYTE | PIPE_WAIT, 1, 512, 512, 0, NULL);
    SHOW_HANDLE("server", s);
    HANDLE c = CreateFileA(PIPE("46a"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                           FILE_FLAG_OVERLAPPED, NULL);
    SHOW_HANDLE("client", c);
    memset(&ov, 0, sizeof ov);
    ov.hEvent = CreateEventA(NULL, TRUE, FALSE, NULL);
    SHOW_BOOL("connect", ConnectNamedPipe(s, &ov));
    printf("internal_pending: %d\n", ov.Internal == 0x103);
    SHOW_BOOL("set_event", SetEvent(ov.hEvent));
    n = 77;
    show_after("result_wait", GetOverlappedResult(s, &ov, &n, TRUE), &n, NULL);
    n = 77;
    show_after("result_nowait", GetOverlappedResult(s, &ov, &n, FALSE), &n, NULL);
    CloseHandle(ov.hEvent);
    CloseHandle(c);
    CloseHandle(s);

    /* 2 */
    s = CreateNamedPipeA(PIPE("46b"), PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE | PIPE_WAIT, 1, 512, 512,
                         0, NULL);
    c = CreateFileA(PIPE("46b"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    SHOW_HANDLE("client_b", c);
    show_after("write", WriteFile(c, "abc", 3, &n, NULL), &n, NULL);
    show_after("read", ReadFile(s, buf, sizeof buf, &n, NULL), &n, buf);
    printf("client_signaled: %lu\n", (unsigned long)WaitForSingleObject(c, 0));
    SHOW_BOOL("disconnect", DisconnectNamedPipe(s));
    printf("client_after_disconnect: %lu\n", (unsigned long)WaitForSingleObject(c, 100));
    show_after("write_after_disconnect", WriteFile(c, "x", 1, &n, NULL), &n, NULL);
    printf("client_after_failed_write: %lu\n", (unsigned long)WaitForSingleObject(c, 0));
    CloseHandle(c);
    CloseHandle(s);

    /* 3 */
    s = CreateNamedPipeA(PIPE("46c"), PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE
                         | PIPE_WAIT, 1, 512, 512, 0, NULL);
    c = CreateFileA(PIPE("46c"), MAXIMUM_ALLOWED, 0, NULL, OPEN_EXISTING, 0, NULL);
    SHOW_HANDLE("maximum_allowed", c);
    show_after("max_write", WriteFile(c, "up", 2, &n, NULL), &n, NULL);
    show_after("server_read", ReadFile(s, buf, sizeof buf, &n, NULL), &n, buf);
    show_after("server_write", WriteFile(s, "down", 4, &n, NULL), &n, NULL);
    show_after("max_read", ReadFile(c, buf, sizeof buf, &n, NULL), &n, buf);
    CloseHandle(c);
    CloseHandle(s);

    /* 4 */
    s = CreateNamedPipeA(PIPE("46d"), PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE | PIPE_WAIT, 1, 512, 512,
                         0, NULL);
    c = CreateFileA(PIPE("46d"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                    SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION, NULL);
    SHOW_HANDLE("sqos_identification", c);
    show_after("sqos_write", WriteFile(c, "id", 2, &n, NULL), &n, NULL);
    show_after("sqos_server_read", ReadFile(s, buf, sizeof buf, &n, NULL), &n, buf);
    CloseHandle(c);
    CloseHandle(s);
    return 0;
}
