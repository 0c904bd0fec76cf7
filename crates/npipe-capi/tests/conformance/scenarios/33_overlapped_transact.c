/* Overlapped TransactNamedPipe (W99, W123-W129).
 *
 * On an overlapped handle the transaction is pending until the callee replies and completes with
 * the reply (W124); a reply longer than the buffer gives ERROR_MORE_DATA with the buffer's count
 * and the rest stays readable (W127); a callee read already pending is satisfied by the
 * transaction's write (W128); empty messages work both ways (W128); the write half never blocks,
 * even behind a write pending on the quota (W126); cancelling a transaction keeps its written
 * message (W99).
 * Failures: with unread data in the caller's inbound queue -> ERROR_PIPE_BUSY (W125); a caller in
 * byte read mode, or a byte-type pipe -> ERROR_BAD_PIPE (W123), which Windows 8 and later report
 * as ERROR_IO_PENDING with the OVERLAPPED then completing with the error; a peer that closed ->
 * ERROR_BAD_PIPE (W129). For W125 and W129 the facts do not say whether the error comes at once
 * or through the OVERLAPPED, so those lines print the error whichever way it arrives. */
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

static void start(OVERLAPPED *ov, HANDLE ev) {
    memset(ov, 0, sizeof *ov);
    ov->hEvent = ev;
    ResetEvent(ev);
}

/* A read or write on an overlapped handle, waited for. */
static BOOL do_io(BOOL write, HANDLE h, void *buf, DWORD len, DWORD *n) {
    OVERLAPPED ov;
    DWORD err;
    BOOL r;
    memset(&ov, 0, sizeof ov);
    ov.hEvent = CreateEventA(NULL, TRUE, FALSE, NULL);
    *n = 12345;
    r = write ? WriteFile(h, buf, len, n, &ov) : ReadFile(h, buf, len, n, &ov);
    if (!r && (GetLastError() == ERROR_IO_PENDING || GetLastError() == ERROR_MORE_DATA))
        r = GetOverlappedResult(h, &ov, n, TRUE);
    err = GetLastError();
    CloseHandle(ov.hEvent);
    SetLastError(err);
    return r;
}

/* Prints the error of a transaction that must fail, whether it fails at once or completes with
 * the error through the OVERLAPPED. */
static void show_transact_error(const char *label, HANDLE c, const char *msg, DWORD len, HANDLE ev) {
    OVERLAPPED ov;
    char buf[64];
    DWORD n = 12345;
    start(&ov, ev);
    BOOL r = TransactNamedPipe(c, (void *)msg, len, buf, sizeof buf, NULL, &ov);
    if (!r && GetLastError() == ERROR_IO_PENDING) {
        WaitForSingleObject(ev, 2000);
        r = GetOverlappedResult(c, &ov, &n, FALSE);
    }
    if (r) printf("%s: TRUE\n", label);
    else printf("%s: FALSE err=%lu\n", label, (unsigned long)GetLastError());
}

int main(void) {
    static char big[2000];
    OVERLAPPED ov, ovw, ovr;
    char buf[64], sbuf[64];
    DWORD n, mode;
    BOOL r;
    HANDLE e = CreateEventA(NULL, TRUE, FALSE, NULL);
    HANDLE ew = CreateEventA(NULL, TRUE, FALSE, NULL);
    HANDLE er = CreateEventA(NULL, TRUE, FALSE, NULL);
    memset(big, 'B', sizeof big);

    HANDLE s = CreateNamedPipeA(PIPE("33"), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                                PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT, 1, 1024, 1024, 0, NULL);
    SHOW_HANDLE("server", s);
    HANDLE c = CreateFileA(PIPE("33"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                           FILE_FLAG_OVERLAPPED, NULL);
    SHOW_HANDLE("client", c);
    mode = PIPE_READMODE_MESSAGE;
    SHOW_BOOL("client_message_mode", SetNamedPipeHandleState(c, &mode, NULL, NULL));

    /* 1. pending until the callee replies */
    start(&ov, e);
    memset(buf, 0, sizeof buf);
    r = TransactNamedPipe(c, "abc", 3, buf, sizeof buf, NULL, &ov);
    SHOW_BOOL("transact", r);
    show_wait("transact_event_before_reply", WaitForSingleObject(e, 100));
    r = do_io(TRUE, s, "test", 4, &n);
    show_io("callee_write", r, n, NULL);
    show_wait("transact_event", WaitForSingleObject(e, 2000));
    show_result("transact_result", c, &ov, buf);
    r = do_io(FALSE, s, sbuf, sizeof sbuf, &n);
    show_io("callee_read", r, n, sbuf);

    /* 2. a pending callee read gets the request; the reply is longer than the buffer */
    start(&ovr, er);
    r = ReadFile(s, sbuf, 10, NULL, &ovr);
    SHOW_BOOL("callee_read_pending", r);
    start(&ov, e);
    r = TransactNamedPipe(c, "hello", 5, buf, 6, NULL, &ov);
    SHOW_BOOL("transact_short_buffer", r);
    show_wait("callee_read_event", WaitForSingleObject(er, 2000));
    show_result("callee_read_result", s, &ovr, sbuf);
    show_wait("transact_short_buffer_before_reply", WaitForSingleObject(e, 100));
    r = do_io(TRUE, s, "0123456789", 10, &n);
    show_io("callee_write_10", r, n, NULL);
    show_wait("transact_short_buffer_event", WaitForSingleObject(e, 2000));
    show_result("transact_short_buffer_result", c, &ov, buf);
    r = do_io(FALSE, c, buf, sizeof buf, &n);
    show_io("caller_read_rest", r, n, buf);

    /* 3. empty messages: request of 5 bytes, empty reply */
    start(&ov, e);
    r = TransactNamedPipe(c, "hello", 5, buf, 0, NULL, &ov);
    SHOW_BOOL("transact_read0", r);
    r = do_io(FALSE, s, sbuf, sizeof sbuf, &n);
    show_io("callee_read_request", r, n, sbuf);
    r = do_io(TRUE, s, "", 0, &n);
    show_io("callee_write_empty", r, n, NULL);
    show_wait("transact_read0_event", WaitForSingleObject(e, 2000));
    show_result("transact_read0_result", c, &ov, NULL);

    /* empty request, empty reply: the transaction stays pending until the empty reply */
    start(&ov, e);
    r = TransactNamedPipe(c, "", 0, buf, 0, NULL, &ov);
    SHOW_BOOL("transact_empty", r);
    r = do_io(FALSE, s, sbuf, sizeof sbuf, &n);
    show_io("callee_read_empty_request", r, n, NULL);
    show_wait("transact_empty_before_reply", WaitForSingleObject(e, 100));
    r = do_io(TRUE, s, "", 0, &n);
    show_io("callee_write_empty_reply", r, n, NULL);
    show_wait("transact_empty_event", WaitForSingleObject(e, 2000));
    show_result("transact_empty_result", c, &ov, NULL);

    /* 4. the write half never blocks: a 1500-byte write is pending on the 1024 quota */
    start(&ovw, ew);
    r = WriteFile(c, big, 1500, NULL, &ovw);
    SHOW_BOOL("big_write", r);
    start(&ov, e);
    r = TransactNamedPipe(c, "tt", 2, buf, 1, NULL, &ov);
    SHOW_BOOL("transact_behind_big_write", r);
    show_wait("transact_behind_big_write_before_reply", WaitForSingleObject(e, 100));
    r = do_io(TRUE, s, "r", 1, &n);
    show_io("callee_write_r", r, n, NULL);
    show_wait("transact_behind_big_write_event", WaitForSingleObject(e, 2000));
    show_result("transact_behind_big_write_result", c, &ov, buf);
    show_wait("big_write_still_pending", WaitForSingleObject(ew, 100));
    r = do_io(FALSE, s, big, sizeof big, &n);
    show_io("callee_read_big", r, n, NULL);
    show_wait("big_write_event", WaitForSingleObject(ew, 2000));
    show_result("big_write_result", c, &ovw, NULL);
    r = do_io(FALSE, s, sbuf, sizeof sbuf, &n);
    show_io("callee_read_tt", r, n, sbuf);

    /* 5. cancelling a pending transaction keeps its written message */
    start(&ovw, ew);
    r = WriteFile(c, big, 1500, NULL, &ovw);
    SHOW_BOOL("big_write_again", r);
    start(&ov, e);
    r = TransactNamedPipe(c, "uu", 2, buf, 1, NULL, &ov);
    SHOW_BOOL("transact_to_cancel", r);
    SHOW_BOOL("cancel_transact", CancelIoEx(c, &ov));
    show_wait("cancelled_transact_event", WaitForSingleObject(e, 2000));
    show_result("cancelled_transact_result", c, &ov, NULL);
    r = do_io(FALSE, s, big, sizeof big, &n);
    show_io("callee_read_big_again", r, n, NULL);
    show_wait("big_write_again_event", WaitForSingleObject(ew, 2000));
    show_result("big_write_again_result", c, &ovw, NULL);
    r = do_io(FALSE, s, sbuf, sizeof sbuf, &n);
    show_io("callee_read_uu", r, n, sbuf);

    /* 6. unread data in the caller's inbound queue */
    r = do_io(TRUE, s, "zz", 2, &n);
    show_io("callee_write_zz", r, n, NULL);
    show_transact_error("transact_with_unread_data", c, "y", 1, e);
    r = do_io(FALSE, c, buf, sizeof buf, &n);
    show_io("caller_read_zz", r, n, buf);

    /* 7. caller in byte read mode (Windows 8+: pending, then the error) */
    mode = PIPE_READMODE_BYTE;
    SHOW_BOOL("client_byte_mode", SetNamedPipeHandleState(c, &mode, NULL, NULL));
    start(&ov, e);
    r = TransactNamedPipe(c, "ab", 2, buf, 1, NULL, &ov);
    SHOW_BOOL("transact_byte_read_mode", r);
    show_wait("transact_byte_read_mode_event", WaitForSingleObject(e, 500));
    show_result("transact_byte_read_mode_result", c, &ov, NULL);

    /* 8. the peer closed: ERROR_BAD_PIPE */
    mode = PIPE_READMODE_MESSAGE;
    SetNamedPipeHandleState(c, &mode, NULL, NULL);
    CloseHandle(s);
    show_transact_error("transact_peer_closed", c, "x", 1, e);
    CloseHandle(c);

    /* 9. byte-type pipe (Windows 8+: pending, then the error) */
    s = CreateNamedPipeA(PIPE("33b"), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                         PIPE_TYPE_BYTE | PIPE_WAIT, 1, 1024, 1024, 0, NULL);
    c = CreateFileA(PIPE("33b"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                    FILE_FLAG_OVERLAPPED, NULL);
    SHOW_HANDLE("byte_client", c);
    start(&ov, e);
    r = TransactNamedPipe(c, "ab", 2, buf, 1, NULL, &ov);
    SHOW_BOOL("transact_byte_pipe", r);
    show_wait("transact_byte_pipe_event", WaitForSingleObject(e, 500));
    show_result("transact_byte_pipe_result", c, &ov, NULL);
    CloseHandle(c);
    CloseHandle(s);

    CloseHandle(e);
    CloseHandle(ew);
    CloseHandle(er);
    return 0;
}
