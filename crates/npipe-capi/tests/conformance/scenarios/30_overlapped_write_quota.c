/* Overlapped writes against the write quota (W56, W74, W75, W83, W86, W90-W93).
 *
 * Server -> client writes are limited by nOutBufferSize (1000 here). A write completes at once
 * iff the unread bytes queued before it plus its own bytes fit the quota; otherwise WriteFile
 * returns FALSE/ERROR_IO_PENDING with the written count set to 0, its bytes are already readable
 * (and counted by PeekNamedPipe), and it completes with its full size once the reader has drained
 * enough. Pending writes complete in the order they were issued. A 0-byte write always completes
 * at once and completes none of the pending writes.
 * Part 2 does the same on a message pipe read in message mode: the reader gets ERROR_MORE_DATA
 * from the message of a still-pending write. */
#include "w32.h"

static void show_wait(const char *label, DWORD r) {
    if (r == WAIT_FAILED) printf("%s: WAIT_FAILED err=%lu\n", label, (unsigned long)GetLastError());
    else printf("%s: %lu\n", label, (unsigned long)r);
}

/* The caller has already waited on the event; this only reads the result. */
static void show_result(const char *label, HANDLE h, OVERLAPPED *ov) {
    DWORD n = 12345;
    BOOL r = GetOverlappedResult(h, ov, &n, FALSE);
    show_io(label, r, n, NULL);
}

static void show_internal(const char *label, OVERLAPPED *ov) {
    printf("%s internal: 0x%lx high: %lu\n", label, (unsigned long)ov->Internal, (unsigned long)ov->InternalHigh);
}

static void show_incomplete(const char *label, HANDLE h, OVERLAPPED *ov) {
    DWORD n = 12345;
    BOOL r = GetOverlappedResult(h, ov, &n, FALSE);
    if (r) printf("%s: TRUE\n", label);
    else printf("%s: FALSE err=%lu\n", label, (unsigned long)GetLastError());
}

static void show_peek(const char *label, HANDLE h) {
    DWORD avail = 99999, left = 99999;
    BOOL r = PeekNamedPipe(h, NULL, 0, NULL, &avail, &left);
    if (r) printf("%s: TRUE avail=%lu left=%lu\n", label, (unsigned long)avail, (unsigned long)left);
    else printf("%s: FALSE err=%lu\n", label, (unsigned long)GetLastError());
}

static void start(OVERLAPPED *ov, HANDLE ev) {
    memset(ov, 0, sizeof *ov);
    ov->hEvent = ev;
}

int main(void) {
    static char a[600], b[600], big[4000];
    OVERLAPPED ov1, ov2, ov3, ov0;
    DWORD n, i, ca = 0, cb = 0, cc = 0;
    BOOL r;
    HANDLE e1 = CreateEventA(NULL, TRUE, FALSE, NULL);
    HANDLE e2 = CreateEventA(NULL, TRUE, FALSE, NULL);
    HANDLE e3 = CreateEventA(NULL, TRUE, FALSE, NULL);
    HANDLE e0 = CreateEventA(NULL, TRUE, FALSE, NULL);
    memset(a, 'a', sizeof a);
    memset(b, 'b', sizeof b);

    /* 1. byte pipe, quota 1000 in each direction */
    HANDLE s = CreateNamedPipeA(PIPE("30"), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                                PIPE_TYPE_BYTE | PIPE_WAIT, 1, 1000, 1000, 0, NULL);
    SHOW_HANDLE("server", s);
    HANDLE c = CreateFileA(PIPE("30"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    SHOW_HANDLE("client", c);

    start(&ov1, e1);
    n = 12345;
    r = WriteFile(s, a, sizeof a, &n, &ov1);
    show_io("write_600_fits", r, n, NULL);
    show_result("write_600_fits_result", s, &ov1);

    start(&ov2, e2);
    n = 12345;
    r = WriteFile(s, b, sizeof b, &n, &ov2);
    show_io("write_600_over_quota", r, n, NULL);
    show_wait("write_600_over_quota_event", WaitForSingleObject(e2, 100));
    show_incomplete("write_600_over_quota_nowait", s, &ov2);

    start(&ov3, e3);
    n = 12345;
    r = WriteFile(s, "c", 1, &n, &ov3);
    show_io("write_1_behind", r, n, NULL);

    start(&ov0, e0);
    n = 12345;
    r = WriteFile(s, "", 0, &n, &ov0);
    show_io("write_0_over_quota", r, n, NULL);
    show_result("write_0_over_quota_result", s, &ov0);
    show_wait("write_600_still_pending", WaitForSingleObject(e2, 100));
    show_wait("write_1_still_pending", WaitForSingleObject(e3, 0));
    show_peek("peek_counts_pending", c);

    /* 401 + 600 unread = 1001 > 1000: still pending */
    r = ReadFile(c, big, 199, &n, NULL);
    show_io("client_read_199", r, n, NULL);
    show_wait("write_600_after_199", WaitForSingleObject(e2, 100));
    /* 400 + 600 = 1000: the 600 write completes, the 1-byte write (1001) does not */
    r = ReadFile(c, big, 1, &n, NULL);
    show_io("client_read_1", r, n, NULL);
    show_wait("write_600_after_200", WaitForSingleObject(e2, 2000));
    show_result("write_600_result", s, &ov2);
    show_internal("write_600_result", &ov2);
    show_wait("write_1_after_200", WaitForSingleObject(e3, 100));
    r = ReadFile(c, big, 1, &n, NULL);
    show_io("client_read_1_more", r, n, NULL);
    show_wait("write_1_after_201", WaitForSingleObject(e3, 2000));
    show_result("write_1_result", s, &ov3);
    show_peek("peek_rest", c);
    r = ReadFile(c, big, sizeof big, &n, NULL);
    show_io("client_read_rest", r, n, NULL);
    for (i = 0; i < n && r; i++) {
        if (big[i] == 'a') ca++;
        else if (big[i] == 'b') cb++;
        else if (big[i] == 'c') cc++;
    }
    printf("rest_bytes: a=%lu b=%lu c=%lu last=%c\n", (unsigned long)ca, (unsigned long)cb,
           (unsigned long)cc, n > 0 ? big[n - 1] : '-');
    CloseHandle(c);
    CloseHandle(s);

    /* 2. message pipe read in message mode: a pending 1500-byte message, quota 1000 */
    s = CreateNamedPipeA(PIPE("30m"), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                         PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT, 1, 1000, 1000, 0, NULL);
    SHOW_HANDLE("msg_server", s);
    c = CreateFileA(PIPE("30m"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    SHOW_HANDLE("msg_client", c);
    DWORD mode = PIPE_READMODE_MESSAGE;
    SHOW_BOOL("msg_client_mode", SetNamedPipeHandleState(c, &mode, NULL, NULL));
    memset(big, 'm', 1500);
    ResetEvent(e1);
    start(&ov1, e1);
    n = 12345;
    r = WriteFile(s, big, 1500, &n, &ov1);
    show_io("msg_write_1500", r, n, NULL);
    r = ReadFile(c, big, 10, &n, NULL);
    show_io("msg_read_10_of_pending", r, n, NULL);
    show_peek("msg_peek", c);
    r = ReadFile(c, big, 489, &n, NULL);
    show_io("msg_read_489", r, n, NULL);
    show_wait("msg_write_after_499", WaitForSingleObject(e1, 100));
    r = ReadFile(c, big, 1, &n, NULL);
    show_io("msg_read_1", r, n, NULL);
    show_wait("msg_write_after_500", WaitForSingleObject(e1, 2000));
    show_result("msg_write_result", s, &ov1);
    r = ReadFile(c, big, sizeof big, &n, NULL);
    show_io("msg_read_rest", r, n, NULL);
    show_peek("msg_peek_empty", c);

    CloseHandle(c);
    CloseHandle(s);
    CloseHandle(e0);
    CloseHandle(e1);
    CloseHandle(e2);
    CloseHandle(e3);
    return 0;
}
