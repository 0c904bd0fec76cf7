/* GetOverlappedResultEx on a pending write (W92, W106).
 *
 * The client writes 8000 bytes against a 6000-byte quota, so the write is pending. With a user APC
 * queued to the thread:
 * - timeout 0 -> FALSE, ERROR_IO_INCOMPLETE, alertable or not, and the APC does not run;
 * - 10 ms, not alertable -> FALSE, WAIT_TIMEOUT (258) as the error, the APC does not run;
 * - 10 ms, alertable -> FALSE, WAIT_IO_COMPLETION (192) as the error, and the APC has run.
 * Once the server has read the data the write completes with its full size. */
#include "w32.h"

static int apc_calls;
static ULONG_PTR apc_param;

static VOID CALLBACK apc(ULONG_PTR param) {
    apc_calls++;
    apc_param = param;
}

static void show_gorex(const char *label, HANDLE h, OVERLAPPED *ov, DWORD ms, BOOL alertable) {
    DWORD n = 12345;
    SetLastError(0xdeadbeef);
    BOOL r = GetOverlappedResultEx(h, ov, &n, ms, alertable);
    if (r) printf("%s: TRUE n=%lu apc_calls=%d\n", label, (unsigned long)n, apc_calls);
    else printf("%s: FALSE err=%lu apc_calls=%d\n", label, (unsigned long)GetLastError(), apc_calls);
}

int main(void) {
    static char buf[8000];
    OVERLAPPED ov, ovr;
    DWORD n;
    BOOL r;
    HANDLE e = CreateEventA(NULL, TRUE, FALSE, NULL);
    HANDLE er = CreateEventA(NULL, TRUE, FALSE, NULL);
    memset(buf, 'g', sizeof buf);

    HANDLE s = CreateNamedPipeA(PIPE("37"), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                                PIPE_TYPE_BYTE | PIPE_WAIT, 1, 5000, 6000, 0, NULL);
    SHOW_HANDLE("server", s);
    HANDLE c = CreateFileA(PIPE("37"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                           FILE_FLAG_OVERLAPPED, NULL);
    SHOW_HANDLE("client", c);

    memset(&ov, 0, sizeof ov);
    ov.hEvent = e;
    r = WriteFile(c, buf, sizeof buf, NULL, &ov);
    SHOW_BOOL("write_8000", r);
    SHOW_BOOL("queue_apc", QueueUserAPC(apc, GetCurrentThread(), 37) != 0);

    show_gorex("gorex_0_not_alertable", c, &ov, 0, FALSE);
    show_gorex("gorex_0_alertable", c, &ov, 0, TRUE);
    show_gorex("gorex_10_not_alertable", c, &ov, 10, FALSE);
    show_gorex("gorex_10_alertable", c, &ov, 10, TRUE);
    printf("apc_param: %lu\n", (unsigned long)apc_param);
    {
        DWORD m = 12345;
        r = GetOverlappedResult(c, &ov, &m, FALSE);
        if (r) printf("gor_nowait: TRUE\n");
        else printf("gor_nowait: FALSE err=%lu\n", (unsigned long)GetLastError());
    }

    /* the server reads everything (a pending write's data is already in the pipe) */
    memset(&ovr, 0, sizeof ovr);
    ovr.hEvent = er;
    n = 12345;
    r = ReadFile(s, buf, sizeof buf, &n, &ovr);
    if (!r && GetLastError() == ERROR_IO_PENDING) r = GetOverlappedResult(s, &ovr, &n, TRUE);
    show_io("server_read", r, n, NULL);
    show_gorex("gorex_after_read", c, &ov, 2000, FALSE);
    show_gorex("gorex_completed_0", c, &ov, 0, TRUE);

    CloseHandle(c);
    CloseHandle(s);
    CloseHandle(e);
    CloseHandle(er);
    return 0;
}
