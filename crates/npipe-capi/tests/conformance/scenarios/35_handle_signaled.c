/* The signaled state of a pipe handle (W26).
 *
 * A new server handle is signaled. Starting an I/O on it makes it non-signaled. When that I/O
 * completes, the handle becomes signaled again only if no event was supplied: with an event only
 * the event is signaled; with no event (hEvent NULL) or with only a completion routine
 * (ReadFileEx), the handle is signaled. So GetOverlappedResult(bWait = TRUE) with hEvent NULL
 * waits on the handle and works. After an overlapped ConnectNamedPipe with an event completes,
 * the server handle stays non-signaled while the new client handle is signaled. */
#include "w32.h"

static int calls;
static DWORD last_err, last_n;

static VOID WINAPI done(DWORD err, DWORD n, LPOVERLAPPED ov) {
    (void)ov;
    calls++;
    last_err = err;
    last_n = n;
}

static HANDLE client;

THREAD_FN(late_writer) {
    DWORD n;
    (void)arg;
    sleep_ms(200);
    WriteFile(client, "hi", 2, &n, NULL);
    THREAD_RETURN;
}

static void show_wait(const char *label, DWORD r) {
    if (r == WAIT_FAILED) printf("%s: WAIT_FAILED err=%lu\n", label, (unsigned long)GetLastError());
    else printf("%s: %lu\n", label, (unsigned long)r);
}

static void start(OVERLAPPED *ov, HANDLE ev) {
    memset(ov, 0, sizeof *ov);
    ov->hEvent = ev;
    if (ev) ResetEvent(ev);
}

int main(void) {
    OVERLAPPED ov;
    char buf[64];
    DWORD n, r;
    BOOL ok;
    HANDLE e = CreateEventA(NULL, TRUE, FALSE, NULL);

    HANDLE s = CreateNamedPipeA(PIPE("35"), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                                PIPE_TYPE_BYTE | PIPE_WAIT, 1, 1024, 1024, 0, NULL);
    SHOW_HANDLE("server", s);
    show_wait("new_server_handle", WaitForSingleObject(s, 0));

    /* 1. overlapped connect with an event */
    start(&ov, e);
    SHOW_BOOL("connect", ConnectNamedPipe(s, &ov));
    show_wait("server_during_connect", WaitForSingleObject(s, 0));
    HANDLE c = CreateFileA(PIPE("35"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    SHOW_HANDLE("client", c);
    show_wait("connect_event", WaitForSingleObject(e, 2000));
    show_wait("new_client_handle", WaitForSingleObject(c, 0));
    show_wait("server_after_connect_with_event", WaitForSingleObject(s, 0));
    n = 12345;
    ok = GetOverlappedResult(s, &ov, &n, FALSE);
    show_io("connect_result", ok, n, NULL);

    /* 2. a read with an event: only the event is signaled */
    start(&ov, e);
    memset(buf, 0, sizeof buf);
    ok = ReadFile(s, buf, sizeof buf, NULL, &ov);
    SHOW_BOOL("read_with_event", ok);
    show_wait("server_during_read_with_event", WaitForSingleObject(s, 0));
    ok = WriteFile(c, "abc", 3, &n, NULL);
    show_io("client_write_abc", ok, n, NULL);
    show_wait("read_with_event_event", WaitForSingleObject(e, 2000));
    show_wait("server_after_read_with_event", WaitForSingleObject(s, 0));
    n = 12345;
    ok = GetOverlappedResult(s, &ov, &n, FALSE);
    show_io("read_with_event_result", ok, n, buf);

    /* 3. a read without an event: the handle is signaled; GetOverlappedResult waits on it */
    start(&ov, NULL);
    memset(buf, 0, sizeof buf);
    ok = ReadFile(s, buf, sizeof buf, NULL, &ov);
    SHOW_BOOL("read_without_event", ok);
    show_wait("server_during_read_without_event", WaitForSingleObject(s, 0));
    ok = WriteFile(c, "defg", 4, &n, NULL);
    show_io("client_write_defg", ok, n, NULL);
    n = 12345;
    ok = GetOverlappedResult(s, &ov, &n, TRUE);
    show_io("read_without_event_result", ok, n, buf);
    show_wait("server_after_read_without_event", WaitForSingleObject(s, 0));

    /* 3b. the same, with the data written by another thread while GetOverlappedResult waits */
    start(&ov, NULL);
    memset(buf, 0, sizeof buf);
    ok = ReadFile(s, buf, sizeof buf, NULL, &ov);
    SHOW_BOOL("read_without_event_2", ok);
    show_wait("server_during_read_without_event_2", WaitForSingleObject(s, 100));
    show_wait("client_handle_after_its_writes", WaitForSingleObject(c, 0));
    client = c;
    thread_t t = thread_start(late_writer, NULL);
    n = 12345;
    ok = GetOverlappedResult(s, &ov, &n, TRUE);
    show_io("read_without_event_2_result", ok, n, buf);
    thread_join(t);

    /* 4. a new read with an event makes the handle non-signaled again, and it stays so */
    start(&ov, e);
    ok = ReadFile(s, buf, sizeof buf, NULL, &ov);
    SHOW_BOOL("read_with_event_again", ok);
    show_wait("server_during_read_with_event_again", WaitForSingleObject(s, 0));
    ok = WriteFile(c, "x", 1, &n, NULL);
    show_wait("read_with_event_again_event", WaitForSingleObject(e, 2000));
    show_wait("server_after_read_with_event_again", WaitForSingleObject(s, 0));

    /* 5. a completion routine only: the handle is signaled */
    start(&ov, NULL);
    ok = ReadFileEx(s, buf, sizeof buf, &ov, done);
    SHOW_BOOL("read_ex", ok);
    show_wait("server_during_read_ex", WaitForSingleObject(s, 0));
    ok = WriteFile(c, "yz", 2, &n, NULL);
    r = SleepEx(2000, TRUE);
    printf("sleepex: %lu calls=%d err=%lu n=%lu\n", (unsigned long)r, calls, (unsigned long)last_err,
           (unsigned long)last_n);
    show_wait("server_after_read_ex", WaitForSingleObject(s, 0));

    CloseHandle(c);
    CloseHandle(s);
    CloseHandle(e);
    return 0;
}
