/* An OVERLAPPED passed on a handle opened without FILE_FLAG_OVERLAPPED (W28, W56, W69, W70).
 *
 * The call stays synchronous (it blocks until done) but fills the OVERLAPPED: Internal gets the
 * NTSTATUS, InternalHigh the count, and its event is signaled. A partial message read gives
 * FALSE/ERROR_MORE_DATA with *lpNumberOfBytesRead = 0 (without an OVERLAPPED it is the count),
 * Internal = STATUS_BUFFER_OVERFLOW, InternalHigh = the count, and GetOverlappedResult reports
 * ERROR_MORE_DATA with the count (W69, W70). A successful read or write sets the count (W56).
 * A blocking read is not alertable: a queued user APC does not run during it (W28). */
#include "w32.h"

static void show_wait(const char *label, DWORD r) {
    if (r == WAIT_FAILED) printf("%s: WAIT_FAILED err=%lu\n", label, (unsigned long)GetLastError());
    else printf("%s: %lu\n", label, (unsigned long)r);
}

static void show_internal(const char *label, OVERLAPPED *ov) {
    printf("%s internal: 0x%lx high: %lu\n", label, (unsigned long)ov->Internal, (unsigned long)ov->InternalHigh);
}

static void start(OVERLAPPED *ov, HANDLE ev) {
    memset(ov, 0, sizeof *ov);
    ov->hEvent = ev;
    if (ev) ResetEvent(ev);
}

static HANDLE client;
static volatile int written;
static int apc_calls;

static VOID CALLBACK apc(ULONG_PTR param) {
    (void)param;
    apc_calls++;
}

THREAD_FN(late_writer) {
    DWORD n;
    (void)arg;
    sleep_ms(200);
    written = 1;
    WriteFile(client, "late", 4, &n, NULL);
    THREAD_RETURN;
}

int main(void) {
    static char msg[512];
    OVERLAPPED ov;
    char buf[600];
    DWORD n;
    BOOL r;
    HANDLE e = CreateEventA(NULL, TRUE, FALSE, NULL);
    memset(msg, 'p', sizeof msg);

    HANDLE s = CreateNamedPipeA(PIPE("38"), PIPE_ACCESS_DUPLEX,
                                PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT, 1, 1024, 1024, 0, NULL);
    SHOW_HANDLE("server", s);
    client = CreateFileA(PIPE("38"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    SHOW_HANDLE("client", client);
    r = WriteFile(client, msg, sizeof msg, &n, NULL);
    show_io("client_write_512", r, n, NULL);

    /* 1. partial reads of the 512-byte message */
    n = 12345;
    r = ReadFile(s, buf, 1, &n, NULL);
    show_io("read_1_no_overlapped", r, n, NULL);

    start(&ov, NULL);
    n = 12345;
    r = ReadFile(s, buf, 1, &n, &ov);
    show_io("read_1_overlapped_no_event", r, n, NULL);
    show_internal("read_1_overlapped_no_event", &ov);

    start(&ov, e);
    n = 12345;
    r = ReadFile(s, buf, 1, &n, &ov);
    show_io("read_1_overlapped_event", r, n, NULL);
    show_internal("read_1_overlapped_event", &ov);
    show_wait("read_1_overlapped_event_event", WaitForSingleObject(e, 0));
    n = 12345;
    r = GetOverlappedResult(s, &ov, &n, FALSE);
    show_io("read_1_overlapped_event_result", r, n, NULL);

    start(&ov, e);
    n = 12345;
    r = ReadFile(s, buf, sizeof buf, &n, &ov);
    show_io("read_rest", r, n, NULL);
    show_internal("read_rest", &ov);
    show_wait("read_rest_event", WaitForSingleObject(e, 0));

    /* 2. a read with an OVERLAPPED on a synchronous handle still blocks until data arrives,
     *    and a user APC queued before it does not run during it */
    SHOW_BOOL("queue_apc", QueueUserAPC(apc, GetCurrentThread(), 0) != 0);
    thread_t t = thread_start(late_writer, NULL);
    start(&ov, e);
    n = 12345;
    memset(buf, 0, sizeof buf);
    r = ReadFile(s, buf, sizeof buf, &n, &ov);
    printf("blocking_read_returned_after_write: %d apc_calls=%d\n", written, apc_calls);
    show_io("blocking_read", r, n, buf);
    show_internal("blocking_read", &ov);
    show_wait("blocking_read_event", WaitForSingleObject(e, 0));
    thread_join(t);
    n = SleepEx(0, TRUE);
    printf("sleepex: %lu apc_calls=%d\n", (unsigned long)n, apc_calls);

    /* 3. a write with an OVERLAPPED on a synchronous handle */
    start(&ov, e);
    n = 12345;
    r = WriteFile(s, "reply", 5, &n, &ov);
    show_io("write_overlapped", r, n, NULL);
    show_internal("write_overlapped", &ov);
    show_wait("write_overlapped_event", WaitForSingleObject(e, 0));
    n = 12345;
    r = ReadFile(client, buf, sizeof buf, &n, NULL);
    show_io("client_read", r, n, buf);

    CloseHandle(client);
    CloseHandle(s);
    CloseHandle(e);
    return 0;
}
