/* I/O completion ports on a named pipe (W26, W50, W72, W105): the packets of a connect, of a
 * read that completes inside its call and of one that completes later, each with its key and
 * OVERLAPPED, a write that waited for its quota, a cancelled read and a read on a handle
 * closed under it; none for a failure inside the call, nor with the low bit of hEvent set (on
 * an operation that completes inside the call or later), nor for a
 * success inside the call with FILE_SKIP_COMPLETION_PORT_ON_SUCCESS; a partial message read
 * reported pending with an ERROR_MORE_DATA packet; posted packets; several at once with
 * GetQueuedCompletionStatusEx; a timeout; the handle still signalled on completion; a read
 * left pending by a thread that exits completes to the port; and the calls' errors. (A waiter
 * leaves with ERROR_ABANDONED_WAIT_0 when the port's handle is closed, as documented; Wine 8
 * leaves it waiting, so that is checked in tests/c/iocp_checks.c instead.) */
#include "w32.h"

static HANDLE port;

static void show_gqcs(const char *label, DWORD ms, OVERLAPPED *mine) {
    DWORD n = 77;
    ULONG_PTR key = 77;
    OVERLAPPED *o = (OVERLAPPED *)1;
    BOOL r = GetQueuedCompletionStatus(port, &n, &key, &o, ms);
    DWORD e = GetLastError();
    const char *which = o == NULL ? "null" : (o == mine ? "mine" : "other");
    if (r) printf("%s: TRUE n=%lu key=%lu ov=%s\n", label, (unsigned long)n, (unsigned long)key, which);
    else if (o == NULL) printf("%s: FALSE err=%lu ov=null\n", label, (unsigned long)e);
    else printf("%s: FALSE err=%lu n=%lu key=%lu ov=%s\n", label, (unsigned long)e, (unsigned long)n, (unsigned long)key, which);
}

static void show_call(const char *label, BOOL r, DWORD n) {
    DWORD e = GetLastError();
    if (r) printf("%s: TRUE n=%lu\n", label, (unsigned long)n);
    else printf("%s: FALSE err=%lu\n", label, (unsigned long)e);
}

static HANDLE reader_pipe;
static OVERLAPPED thread_ov;
static char thread_buf[16];

THREAD_FN(issue_and_exit) {
    (void)arg;
    DWORD n = 0;
    BOOL r = ReadFile(reader_pipe, thread_buf, sizeof thread_buf, &n, &thread_ov);
    show_call("thread_read", r, n);
    THREAD_RETURN;
}

int main(void) {
    char buf[64];
    DWORD n = 0;
    HANDLE s = CreateNamedPipeA(PIPE("n55"), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                                PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT, 1, 1024, 1024, 0, NULL);
    SHOW_HANDLE("server", s);
    port = CreateIoCompletionPort(s, NULL, 7, 0);
    printf("bind_new_port: %s\n", port ? "port" : "NULL");
    HANDLE again = CreateIoCompletionPort(s, port, 8, 0);
    DWORD e = GetLastError();
    printf("bind_twice: %s err=%lu\n", again ? "port" : "NULL", again ? 0ul : (unsigned long)e);

    OVERLAPPED oc;
    memset(&oc, 0, sizeof oc);
    BOOL r = ConnectNamedPipe(s, &oc);
    show_call("connect", r, 0);
    show_gqcs("nothing_yet", 0, &oc);
    HANDLE c = CreateFileA(PIPE("n55"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    SHOW_HANDLE("client", c);
    show_gqcs("connect_packet", 1000, &oc);
    printf("server_signaled: %s\n", WaitForSingleObject(s, 0) == WAIT_OBJECT_0 ? "yes" : "no");

    HANDLE sync_port = CreateIoCompletionPort(c, port, 9, 0);
    e = GetLastError();
    printf("bind_synchronous_client: %s err=%lu\n", sync_port ? "port" : "NULL", sync_port ? 0ul : (unsigned long)e);

    OVERLAPPED o1;
    memset(&o1, 0, sizeof o1);
    WriteFile(c, "hello", 5, &n, NULL);
    r = ReadFile(s, buf, sizeof buf, &n, &o1);
    show_call("read_at_once", r, n);
    show_gqcs("read_at_once_packet", 0, &o1);

    memset(&o1, 0, sizeof o1);
    r = ReadFile(s, buf, sizeof buf, &n, &o1);
    show_call("read_pending", r, n);
    show_gqcs("read_pending_nothing", 0, &o1);
    WriteFile(c, "world!", 6, &n, NULL);
    show_gqcs("read_pending_packet", 1000, &o1);

    memset(&o1, 0, sizeof o1);
    WriteFile(c, "0123456789", 10, &n, NULL);
    r = ReadFile(s, buf, 4, &n, &o1);
    show_call("partial_read", r, n);
    show_gqcs("partial_read_packet", 1000, &o1);
    memset(&o1, 0, sizeof o1);
    r = ReadFile(s, buf, sizeof buf, &n, &o1);
    show_call("rest_read", r, n);
    show_gqcs("rest_read_packet", 1000, &o1);

    HANDLE ev = CreateEventA(NULL, TRUE, FALSE, NULL);
    memset(&o1, 0, sizeof o1);
    o1.hEvent = (HANDLE)((ULONG_PTR)ev | 1);
    WriteFile(c, "masked", 6, &n, NULL);
    r = ReadFile(s, buf, sizeof buf, &n, &o1);
    show_call("masked_read", r, n);
    show_gqcs("masked_read_nothing", 0, &o1);
    printf("masked_event: %s\n", WaitForSingleObject(ev, 0) == WAIT_OBJECT_0 ? "signaled" : "not signaled");

    /* The low bit is read when the operation is issued: a masked read that goes pending. */
    ResetEvent(ev);
    memset(&o1, 0, sizeof o1);
    o1.hEvent = (HANDLE)((ULONG_PTR)ev | 1);
    r = ReadFile(s, buf, sizeof buf, &n, &o1);
    show_call("masked_pending_read", r, n);
    WriteFile(c, "later", 5, &n, NULL);
    printf("masked_pending_event: %s\n", WaitForSingleObject(ev, 1000) == WAIT_OBJECT_0 ? "signaled" : "not signaled");
    show_gqcs("masked_pending_nothing", 0, &o1);

    /* A write waiting for its quota, then read: its packet carries the bytes. */
    static char big[3000];
    memset(big, 'w', sizeof big);
    memset(&o1, 0, sizeof o1);
    r = WriteFile(s, big, sizeof big, &n, &o1);
    show_call("quota_write", r, n);
    static char rbig[4000];
    DWORD got = 0;
    BOOL rr = ReadFile(c, rbig, sizeof rbig, &got, NULL);
    show_call("client_reads_it", rr, got);
    show_gqcs("quota_write_packet", 1000, &o1);

    /* CancelIoEx of a pending read: its packet carries ERROR_OPERATION_ABORTED. */
    memset(&o1, 0, sizeof o1);
    r = ReadFile(s, buf, sizeof buf, &n, &o1);
    show_call("to_cancel", r, n);
    SHOW_BOOL("cancel", CancelIoEx(s, &o1));
    show_gqcs("cancel_packet", 1000, &o1);

    OVERLAPPED ox;
    memset(&ox, 0, sizeof ox);
    r = ReadFileEx(s, buf, sizeof buf, &ox, NULL);
    e = GetLastError();
    printf("readfileex_no_routine: %s err=%lu\n", r ? "TRUE" : "FALSE", r ? 0ul : (unsigned long)e);

    OVERLAPPED op1, op2;
    SHOW_BOOL("post_1", PostQueuedCompletionStatus(port, 42, 100, &op1));
    SHOW_BOOL("post_2", PostQueuedCompletionStatus(port, 43, 101, &op2));
    OVERLAPPED_ENTRY ents[4];
    ULONG removed = 99;
    r = GetQueuedCompletionStatusEx(port, ents, 4, &removed, 0, FALSE);
    e = GetLastError();
    if (r) printf("gqcs_ex: TRUE removed=%lu first=%lu/%lu/%s second=%lu/%lu/%s\n", (unsigned long)removed,
                  (unsigned long)ents[0].lpCompletionKey, (unsigned long)ents[0].dwNumberOfBytesTransferred,
                  ents[0].lpOverlapped == &op1 ? "op1" : "?", (unsigned long)ents[1].lpCompletionKey,
                  (unsigned long)ents[1].dwNumberOfBytesTransferred, ents[1].lpOverlapped == &op2 ? "op2" : "?");
    else printf("gqcs_ex: FALSE err=%lu\n", (unsigned long)e);
    r = GetQueuedCompletionStatusEx(port, ents, 4, &removed, 10, FALSE);
    e = GetLastError();
    printf("gqcs_ex_empty: %s err=%lu\n", r ? "TRUE" : "FALSE", r ? 0ul : (unsigned long)e);

    SHOW_BOOL("skip_on_success", SetFileCompletionNotificationModes(s, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS));
    memset(&o1, 0, sizeof o1);
    WriteFile(c, "skip", 4, &n, NULL);
    r = ReadFile(s, buf, sizeof buf, &n, &o1);
    show_call("skipped_read", r, n);
    show_gqcs("skipped_read_nothing", 0, &o1);

    reader_pipe = s;
    memset(&thread_ov, 0, sizeof thread_ov);
    thread_t t = thread_start(issue_and_exit, NULL);
    thread_join(t);
    WriteFile(c, "late", 4, &n, NULL);
    show_gqcs("exited_thread_read_packet", 1000, &thread_ov);

    CloseHandle(c);
    memset(&o1, 0, sizeof o1);
    r = ReadFile(s, buf, sizeof buf, &n, &o1);
    show_call("read_after_client_closed", r, n);
    show_gqcs("failure_queues_nothing", 0, &o1);

    /* A second instance bound to the same port, closed with a read pending: ERROR_BROKEN_PIPE. */
    HANDLE s2 = CreateNamedPipeA(PIPE("n55b"), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                                 PIPE_TYPE_BYTE | PIPE_WAIT, 1, 1024, 1024, 0, NULL);
    printf("bind_second: %s\n", CreateIoCompletionPort(s2, port, 70, 0) == port ? "same port" : "other");
    HANDLE c2 = CreateFileA(PIPE("n55b"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    SHOW_HANDLE("client_second", c2);
    memset(&o1, 0, sizeof o1);
    r = ConnectNamedPipe(s2, &o1);
    show_call("connect_second", r, 0);
    memset(&o1, 0, sizeof o1);
    r = ReadFile(s2, buf, sizeof buf, &n, &o1);
    show_call("read_then_close", r, n);
    SHOW_BOOL("close_second", CloseHandle(s2));
    show_gqcs("close_packet", 1000, &o1);
    CloseHandle(c2);

    HANDLE bad = CreateIoCompletionPort(INVALID_HANDLE_VALUE, port, 1, 0);
    e = GetLastError();
    printf("new_port_with_existing: %s err=%lu\n", bad ? "port" : "NULL", bad ? 0ul : (unsigned long)e);
    DWORD bn;
    ULONG_PTR bk;
    OVERLAPPED *bo;
    r = GetQueuedCompletionStatus(ev, &bn, &bk, &bo, 0);
    e = GetLastError();
    printf("gqcs_on_event: %s err=%lu\n", r ? "TRUE" : "FALSE", r ? 0ul : (unsigned long)e);

    SHOW_BOOL("close_port", CloseHandle(port));
    show_gqcs("gqcs_on_closed_port", 0, &o1);
    CloseHandle(s);
    CloseHandle(ev);
    return 0;
}
