/* Cancelling pending overlapped operations (W41, W97, W98).
 *
 * CancelIoEx(h, &ov) cancels only that operation: it completes with ERROR_OPERATION_ABORTED
 * (STATUS_CANCELLED), 0 bytes, its event set; the other pending read stays pending and gets the
 * next byte; a second CancelIoEx on the same OVERLAPPED fails with ERROR_NOT_FOUND (W97).
 * CancelIo(h) cancels every operation the calling thread issued on the handle, and only those
 * (documented: "issued by the calling thread"); CancelIoEx(h, NULL) cancels those of every thread.
 * Cancelling a pending write removes its unread data from the pipe, even after part of it was
 * read, and the write reports 0 bytes (W98). */
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
    printf("%s internal: 0x%lx high: %lu\n", label, (unsigned long)ov->Internal, (unsigned long)ov->InternalHigh);
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

/* A second thread with its own pending read, kept alive until told to quit. */
static HANDLE server, issued, quit, e3;
static OVERLAPPED ov3;
static char buf3[8];
static BOOL other_r;
static DWORD other_err;

THREAD_FN(other_reader) {
    (void)arg;
    start(&ov3, e3);
    other_r = ReadFile(server, buf3, 1, NULL, &ov3);
    other_err = GetLastError();
    SetEvent(issued);
    WaitForSingleObject(quit, 10000);
    THREAD_RETURN;
}

int main(void) {
    static char big[1200];
    OVERLAPPED ov1, ov2;
    char buf1[1200], buf2[8];
    DWORD n;
    BOOL r;
    HANDLE e1 = CreateEventA(NULL, TRUE, FALSE, NULL);
    HANDLE e2 = CreateEventA(NULL, TRUE, FALSE, NULL);
    e3 = CreateEventA(NULL, TRUE, FALSE, NULL);
    issued = CreateEventA(NULL, TRUE, FALSE, NULL);
    quit = CreateEventA(NULL, TRUE, FALSE, NULL);
    memset(big, 'w', sizeof big);

    server = CreateNamedPipeA(PIPE("32"), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                              PIPE_TYPE_BYTE | PIPE_WAIT, 1, 1000, 1000, 0, NULL);
    SHOW_HANDLE("server", server);
    HANDLE c = CreateFileA(PIPE("32"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    SHOW_HANDLE("client", c);

    /* 1. cancel the second of two pending reads */
    start(&ov1, e1);
    r = ReadFile(server, buf1, 1, NULL, &ov1);
    SHOW_BOOL("first_read_pending", r);
    start(&ov2, e2);
    r = ReadFile(server, buf2, 1, NULL, &ov2);
    SHOW_BOOL("second_read_pending", r);
    SHOW_BOOL("cancel_second", CancelIoEx(server, &ov2));
    show_wait("second_event", WaitForSingleObject(e2, 2000));
    show_result("second_result", server, &ov2, NULL);
    show_internal("second_result", &ov2);
    show_wait("first_still_pending", WaitForSingleObject(e1, 100));
    SHOW_BOOL("cancel_second_again", CancelIoEx(server, &ov2));
    r = WriteFile(c, "q", 1, &n, NULL);
    show_io("client_write_q", r, n, NULL);
    show_wait("first_event", WaitForSingleObject(e1, 2000));
    show_result("first_result", server, &ov1, buf1);

    /* 2. CancelIo cancels all of this thread's pending reads */
    start(&ov1, e1);
    r = ReadFile(server, buf1, 1, NULL, &ov1);
    SHOW_BOOL("read_a_pending", r);
    start(&ov2, e2);
    r = ReadFile(server, buf2, 1, NULL, &ov2);
    SHOW_BOOL("read_b_pending", r);
    SHOW_BOOL("cancelio", CancelIo(server));
    show_wait("read_a_event", WaitForSingleObject(e1, 2000));
    show_result("read_a_result", server, &ov1, NULL);
    show_wait("read_b_event", WaitForSingleObject(e2, 2000));
    show_result("read_b_result", server, &ov2, NULL);

    /* 3. CancelIo leaves another thread's read alone; CancelIoEx(h, NULL) cancels it */
    thread_t t = thread_start(other_reader, NULL);
    WaitForSingleObject(issued, 5000);
    printf("other_thread_read: %s err=%lu\n", other_r ? "TRUE" : "FALSE", (unsigned long)other_err);
    start(&ov1, e1);
    r = ReadFile(server, buf1, 1, NULL, &ov1);
    SHOW_BOOL("own_read_pending", r);
    SHOW_BOOL("cancelio_own", CancelIo(server));
    show_wait("own_read_event", WaitForSingleObject(e1, 2000));
    show_result("own_read_result", server, &ov1, NULL);
    show_wait("other_read_still_pending", WaitForSingleObject(e3, 100));
    SHOW_BOOL("cancelioex_all", CancelIoEx(server, NULL));
    show_wait("other_read_event", WaitForSingleObject(e3, 2000));
    show_result("other_read_result", server, &ov3, NULL);
    SetEvent(quit);
    thread_join(t);

    /* 4. cancelling a pending write removes its data; the write behind it then completes */
    start(&ov1, e1);
    r = WriteFile(server, big, sizeof big, NULL, &ov1);
    SHOW_BOOL("write_1200_pending", r);
    start(&ov2, e2);
    r = WriteFile(server, "1", 1, NULL, &ov2);
    SHOW_BOOL("write_1_pending", r);
    show_avail("avail_before_cancel", c);
    SHOW_BOOL("cancel_write_1200", CancelIoEx(server, &ov1));
    show_wait("write_1200_event", WaitForSingleObject(e1, 2000));
    show_result("write_1200_result", server, &ov1, NULL);
    show_avail("avail_after_cancel", c);
    r = ReadFile(c, buf1, sizeof buf1, &n, NULL);
    show_io("client_read", r, n, buf1);
    show_wait("write_1_event", WaitForSingleObject(e2, 2000));
    show_result("write_1_result", server, &ov2, NULL);

    /* 5. the same after 10 bytes of the pending write were read */
    start(&ov1, e1);
    r = WriteFile(server, big, sizeof big, NULL, &ov1);
    SHOW_BOOL("write_1200_pending_again", r);
    start(&ov2, e2);
    r = WriteFile(server, "2", 1, NULL, &ov2);
    SHOW_BOOL("write_1_pending_again", r);
    r = ReadFile(c, buf1, 10, &n, NULL);
    show_io("client_read_10", r, n, NULL);
    show_wait("write_1200_still_pending", WaitForSingleObject(e1, 100));
    SHOW_BOOL("cancel_partly_read_write", CancelIoEx(server, &ov1));
    show_wait("partly_read_write_event", WaitForSingleObject(e1, 2000));
    show_result("partly_read_write_result", server, &ov1, NULL);
    show_avail("avail_after_second_cancel", c);
    r = ReadFile(c, buf1, sizeof buf1, &n, NULL);
    show_io("client_read_again", r, n, buf1);
    show_wait("write_1_again_event", WaitForSingleObject(e2, 2000));
    show_result("write_1_again_result", server, &ov2, NULL);

    CloseHandle(c);
    CloseHandle(server);
    CloseHandle(e1);
    CloseHandle(e2);
    CloseHandle(e3);
    CloseHandle(issued);
    CloseHandle(quit);
    return 0;
}
