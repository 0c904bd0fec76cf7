/* Pending overlapped operations when the other end goes away (W44, W48, W101, W115).
 *
 * - the client closes: the server's pending write fails with ERROR_BROKEN_PIPE (STATUS_PIPE_BROKEN),
 *   0 bytes (W115), and so does its pending read (W101);
 * - the server closes: the client's pending write and read fail the same way (W115 "the other way
 *   round", W101 with the roles swapped);
 * - DisconnectNamedPipe: pending writes in both directions fail with ERROR_PIPE_NOT_CONNECTED
 *   (STATUS_PIPE_DISCONNECTED) (W48), and so do pending reads on either end (Wine's server and
 *   NPFS as reimplemented by ReactOS complete every queued request with STATUS_PIPE_DISCONNECTED;
 *   W44 gives the same error for every later operation). */
#include "w32.h"

/* Waits for the event, then shows the result and the status block. */
static void show_done(const char *label, HANDLE h, OVERLAPPED *ov) {
    DWORD n = 12345;
    DWORD w = WaitForSingleObject(ov->hEvent, 2000);
    BOOL r = GetOverlappedResult(h, ov, &n, FALSE);
    printf("%s: wait=%lu ", label, (unsigned long)w);
    show_io("result", r, n, NULL);
    printf("%s internal: 0x%lx high: %lu\n", label, (unsigned long)ov->Internal, (unsigned long)ov->InternalHigh);
}

static void start(OVERLAPPED *ov, HANDLE ev) {
    memset(ov, 0, sizeof *ov);
    ov->hEvent = ev;
    ResetEvent(ev);
}

static HANDLE make_server(void) {
    return CreateNamedPipeA(PIPE("42"), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                            PIPE_TYPE_BYTE | PIPE_WAIT, 1, 1000, 1000, 0, NULL);
}

static HANDLE make_client(void) {
    return CreateFileA(PIPE("42"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                       FILE_FLAG_OVERLAPPED, NULL);
}

int main(void) {
    static char big[1500], buf[64], buf2[64];
    OVERLAPPED ow, or_, ow2, or2;
    BOOL r;
    HANDLE ew = CreateEventA(NULL, TRUE, FALSE, NULL);
    HANDLE er = CreateEventA(NULL, TRUE, FALSE, NULL);
    HANDLE ew2 = CreateEventA(NULL, TRUE, FALSE, NULL);
    HANDLE er2 = CreateEventA(NULL, TRUE, FALSE, NULL);
    HANDLE s, c;
    memset(big, 'x', sizeof big);

    /* 1. the client closes with a server write and a server read pending */
    s = make_server();
    c = make_client();
    SHOW_HANDLE("client", c);
    start(&ow, ew);
    r = WriteFile(s, big, sizeof big, NULL, &ow);
    SHOW_BOOL("server_write_pending", r);
    start(&or_, er);
    r = ReadFile(s, buf, sizeof buf, NULL, &or_);
    SHOW_BOOL("server_read_pending", r);
    SHOW_BOOL("close_client", CloseHandle(c));
    show_done("server_write_after_client_close", s, &ow);
    show_done("server_read_after_client_close", s, &or_);
    CloseHandle(s);

    /* 2. the server closes with a client write and a client read pending */
    s = make_server();
    c = make_client();
    SHOW_HANDLE("client2", c);
    start(&ow, ew);
    r = WriteFile(c, big, sizeof big, NULL, &ow);
    SHOW_BOOL("client_write_pending", r);
    start(&or_, er);
    r = ReadFile(c, buf, sizeof buf, NULL, &or_);
    SHOW_BOOL("client_read_pending", r);
    SHOW_BOOL("close_server", CloseHandle(s));
    show_done("client_write_after_server_close", c, &ow);
    show_done("client_read_after_server_close", c, &or_);
    CloseHandle(c);

    /* 3. DisconnectNamedPipe with writes and reads pending on both ends */
    s = make_server();
    c = make_client();
    SHOW_HANDLE("client3", c);
    start(&ow, ew);
    r = WriteFile(c, big, sizeof big, NULL, &ow);
    SHOW_BOOL("client_write_pending", r);
    start(&ow2, ew2);
    r = WriteFile(s, big, sizeof big, NULL, &ow2);
    SHOW_BOOL("server_write_pending", r);
    SHOW_BOOL("disconnect", DisconnectNamedPipe(s));
    show_done("client_write_after_disconnect", c, &ow);
    show_done("server_write_after_disconnect", s, &ow2);
    CloseHandle(c);
    CloseHandle(s);

    s = make_server();
    c = make_client();
    SHOW_HANDLE("client4", c);
    start(&or_, er);
    r = ReadFile(c, buf, sizeof buf, NULL, &or_);
    SHOW_BOOL("client_read_pending", r);
    start(&or2, er2);
    r = ReadFile(s, buf2, sizeof buf2, NULL, &or2);
    SHOW_BOOL("server_read_pending", r);
    SHOW_BOOL("disconnect", DisconnectNamedPipe(s));
    show_done("client_read_after_disconnect", c, &or_);
    show_done("server_read_after_disconnect", s, &or2);
    CloseHandle(c);
    CloseHandle(s);

    CloseHandle(ew);
    CloseHandle(er);
    CloseHandle(ew2);
    CloseHandle(er2);
    return 0;
}
