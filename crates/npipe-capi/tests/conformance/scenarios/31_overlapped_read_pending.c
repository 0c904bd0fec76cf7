/* Pending overlapped reads (W64-W66, W70, W77-W79).
 *
 * An overlapped ReadFile on an empty pipe returns FALSE/ERROR_IO_PENDING with the count set to 0
 * and resets the event first (W64). Pending reads are served in FIFO order, each completing with
 * what is available (W65, W66). A pending 0-byte read stays pending until data arrives, then
 * completes with 0 bytes and leaves the data in the pipe (W78); in message read mode it completes
 * with ERROR_MORE_DATA (W79). A pending read completed by a longer message reports
 * ERROR_MORE_DATA with the buffer's count (W70). A 0-byte write wakes no read on a byte pipe and
 * exactly one on a message pipe (W77). */
#include "w32.h"

static void show_wait(const char *label, DWORD r) {
    if (r == WAIT_FAILED) printf("%s: WAIT_FAILED err=%lu\n", label, (unsigned long)GetLastError());
    else printf("%s: %lu\n", label, (unsigned long)r);
}

/* The caller has already waited on the event; this only reads the result. */
static void show_result(const char *label, HANDLE h, OVERLAPPED *ov, const char *buf) {
    DWORD n = 12345;
    BOOL r = GetOverlappedResult(h, ov, &n, FALSE);
    show_io(label, r, n, buf);
}

static void show_internal(const char *label, OVERLAPPED *ov) {
    printf("%s internal: 0x%lx high: 0x%lx\n", label, (unsigned long)ov->Internal, (unsigned long)ov->InternalHigh);
}

static void show_avail(const char *label, HANDLE h) {
    DWORD avail = 99999;
    BOOL r = PeekNamedPipe(h, NULL, 0, NULL, &avail, NULL);
    if (r) printf("%s: TRUE avail=%lu\n", label, (unsigned long)avail);
    else printf("%s: FALSE err=%lu\n", label, (unsigned long)GetLastError());
}

static void start(OVERLAPPED *ov, HANDLE ev) {
    memset(ov, 0, sizeof *ov);
    ov->hEvent = ev;
    ResetEvent(ev);
}

int main(void) {
    OVERLAPPED ov1, ov2, ov3;
    char buf1[64], buf2[64], buf3[64];
    DWORD n;
    BOOL r;
    HANDLE e1 = CreateEventA(NULL, TRUE, FALSE, NULL);
    HANDLE e2 = CreateEventA(NULL, TRUE, FALSE, NULL);
    HANDLE e3 = CreateEventA(NULL, TRUE, FALSE, NULL);

    /* A. byte pipe */
    HANDLE s = CreateNamedPipeA(PIPE("31"), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                                PIPE_TYPE_BYTE | PIPE_WAIT, 1, 1024, 1024, 0, NULL);
    SHOW_HANDLE("server", s);
    HANDLE c = CreateFileA(PIPE("31"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    SHOW_HANDLE("client", c);

    /* A1. a 0-byte read: pending (the event is reset by the call), then completes with 0 bytes */
    start(&ov1, e1);
    SetEvent(e1);
    ov1.InternalHigh = 0xdeadbeef;
    n = 12345;
    r = ReadFile(s, buf1, 0, &n, &ov1);
    show_io("read0_pending", r, n, NULL);
    show_internal("read0_pending", &ov1);
    show_wait("read0_event_after_100ms", WaitForSingleObject(e1, 100));
    r = WriteFile(c, "x", 1, &n, NULL);
    show_io("client_write_x", r, n, NULL);
    show_wait("read0_event_after_write", WaitForSingleObject(e1, 2000));
    show_result("read0_result", s, &ov1, NULL);
    show_internal("read0_result", &ov1);
    show_avail("byte_stays", s);
    start(&ov1, e1);
    n = 12345;
    r = ReadFile(s, buf1, 1, &n, &ov1);
    show_io("read_the_byte", r, n, buf1);

    /* A2. FIFO: a 0-byte read then a 1000-byte read, one byte written */
    start(&ov1, e1);
    r = ReadFile(s, buf1, 0, NULL, &ov1);
    SHOW_BOOL("fifo_read0_pending", r);
    start(&ov2, e2);
    r = ReadFile(s, buf2, sizeof buf2, NULL, &ov2);
    SHOW_BOOL("fifo_read64_pending", r);
    r = WriteFile(c, "y", 1, &n, NULL);
    show_io("client_write_y", r, n, NULL);
    show_wait("fifo_read0_event", WaitForSingleObject(e1, 2000));
    show_result("fifo_read0_result", s, &ov1, NULL);
    show_wait("fifo_read64_event", WaitForSingleObject(e2, 2000));
    show_result("fifo_read64_result", s, &ov2, buf2);
    show_avail("fifo_empty", s);

    /* A3. one 8-byte write spread over three pending 3-byte reads, in order */
    start(&ov1, e1);
    ReadFile(s, buf1, 3, NULL, &ov1);
    start(&ov2, e2);
    ReadFile(s, buf2, 3, NULL, &ov2);
    start(&ov3, e3);
    r = ReadFile(s, buf3, 3, NULL, &ov3);
    SHOW_BOOL("three_reads_pending", r);
    r = WriteFile(c, "abcdefgh", 8, &n, NULL);
    show_io("client_write_8", r, n, NULL);
    show_wait("first_event", WaitForSingleObject(e1, 2000));
    show_result("first_result", s, &ov1, buf1);
    show_wait("second_event", WaitForSingleObject(e2, 2000));
    show_result("second_result", s, &ov2, buf2);
    show_wait("third_event", WaitForSingleObject(e3, 2000));
    show_result("third_result", s, &ov3, buf3);

    /* A4. byte pipe: a 0-byte write wakes no pending read */
    start(&ov1, e1);
    r = ReadFile(s, buf1, 8, NULL, &ov1);
    SHOW_BOOL("read8_pending", r);
    n = 12345;
    r = WriteFile(c, "", 0, &n, NULL);
    show_io("client_write_0", r, n, NULL);
    show_wait("read8_after_write_0", WaitForSingleObject(e1, 100));
    r = WriteFile(c, "z", 1, &n, NULL);
    show_wait("read8_after_write_z", WaitForSingleObject(e1, 2000));
    show_result("read8_result", s, &ov1, buf1);
    CloseHandle(c);
    CloseHandle(s);

    /* B. message pipe, server in message read mode */
    s = CreateNamedPipeA(PIPE("31m"), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                         PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT, 1, 1024, 1024, 0, NULL);
    SHOW_HANDLE("msg_server", s);
    c = CreateFileA(PIPE("31m"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    SHOW_HANDLE("msg_client", c);

    /* B1. a pending 0-byte read completed by a 1-byte message: ERROR_MORE_DATA, 0 bytes */
    start(&ov1, e1);
    r = ReadFile(s, buf1, 0, NULL, &ov1);
    SHOW_BOOL("msg_read0_pending", r);
    r = WriteFile(c, "m", 1, &n, NULL);
    show_io("client_write_m", r, n, NULL);
    show_wait("msg_read0_event", WaitForSingleObject(e1, 2000));
    show_result("msg_read0_result", s, &ov1, NULL);
    show_internal("msg_read0_result", &ov1);
    start(&ov1, e1);
    n = 12345;
    r = ReadFile(s, buf1, sizeof buf1, &n, &ov1);
    show_io("msg_read_m", r, n, buf1);

    /* B2. a pending 4-byte read completed by a 10-byte message */
    start(&ov1, e1);
    r = ReadFile(s, buf1, 4, NULL, &ov1);
    SHOW_BOOL("msg_read4_pending", r);
    r = WriteFile(c, "0123456789", 10, &n, NULL);
    show_io("client_write_10", r, n, NULL);
    show_wait("msg_read4_event", WaitForSingleObject(e1, 2000));
    show_result("msg_read4_result", s, &ov1, buf1);
    show_internal("msg_read4_result", &ov1);
    start(&ov1, e1);
    n = 12345;
    r = ReadFile(s, buf1, sizeof buf1, &n, &ov1);
    show_io("msg_read_rest", r, n, buf1);
    show_result("msg_read_rest_result", s, &ov1, buf1);

    /* B3. message pipe: a 0-byte write wakes exactly one pending read */
    start(&ov1, e1);
    r = ReadFile(s, buf1, 0, NULL, &ov1);
    SHOW_BOOL("msg_first_read0_pending", r);
    start(&ov2, e2);
    r = ReadFile(s, buf2, 1, NULL, &ov2);
    SHOW_BOOL("msg_second_read1_pending", r);
    n = 12345;
    r = WriteFile(c, "", 0, &n, NULL);
    show_io("client_write_empty", r, n, NULL);
    show_wait("msg_first_event", WaitForSingleObject(e1, 2000));
    show_result("msg_first_result", s, &ov1, NULL);
    show_wait("msg_second_after_empty", WaitForSingleObject(e2, 100));
    r = WriteFile(c, "k", 1, &n, NULL);
    show_wait("msg_second_event", WaitForSingleObject(e2, 2000));
    show_result("msg_second_result", s, &ov2, buf2);

    CloseHandle(c);
    CloseHandle(s);
    CloseHandle(e1);
    CloseHandle(e2);
    CloseHandle(e3);
    return 0;
}
