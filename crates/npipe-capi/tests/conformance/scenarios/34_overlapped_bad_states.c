/* Overlapped operations that fail at once (W40, W43, W46, W47, W50, W51, W101, W107, W111, W113).
 *
 * An immediate failure returns FALSE with the error, sets the count to 0, leaves
 * OVERLAPPED.Internal at STATUS_PENDING (0x103, set by the call itself) and InternalHigh untouched,
 * and queues no completion: the event, reset by the call, stays unsignaled (W47, W101; the
 * ntdll test shows NtReadFile resetting the event even when it fails with STATUS_PIPE_BROKEN).
 * - never-connected (listening) server: ERROR_PIPE_LISTENING (W46, W51);
 * - disconnected server, synchronous or overlapped handle: ERROR_PIPE_NOT_CONNECTED (W47);
 * - client closed: the data it wrote is still read, then ReadFile -> ERROR_BROKEN_PIPE, WriteFile
 *   -> ERROR_NO_DATA; FlushFileBuffers and DisconnectNamedPipe succeed (W50, W101, W113);
 * - ConnectNamedPipe after the client closed -> ERROR_NO_DATA (W43); after the disconnect the
 *   overlapped connect is pending again;
 * - ConnectNamedPipe with a client already connected -> ERROR_PIPE_CONNECTED, Internal
 *   STATUS_PENDING, event reset (W40);
 * - PIPE_NOWAIT server: overlapped ReadFile on an empty pipe -> ERROR_NO_DATA at once (W107);
 *   ConnectNamedPipe -> ERROR_PIPE_LISTENING / ERROR_NO_DATA / ERROR_PIPE_LISTENING (W111). */
#include "w32.h"

static void show_wait(const char *label, DWORD r) {
    if (r == WAIT_FAILED) printf("%s: WAIT_FAILED err=%lu\n", label, (unsigned long)GetLastError());
    else printf("%s: %lu\n", label, (unsigned long)r);
}

static void show_internal(const char *label, OVERLAPPED *ov) {
    printf("%s internal: 0x%lx high: 0x%lx\n", label, (unsigned long)ov->Internal, (unsigned long)ov->InternalHigh);
}

static void show_event(const char *label, HANDLE ev) {
    char name[96];
    snprintf(name, sizeof name, "%s_event", label);
    show_wait(name, WaitForSingleObject(ev, 0));
}

/* Sets the event and a sentinel InternalHigh before the call, to show what the call changes. */
static void start(OVERLAPPED *ov, HANDLE ev) {
    memset(ov, 0, sizeof *ov);
    ov->hEvent = ev;
    ov->InternalHigh = 0xdeadbeef;
    SetEvent(ev);
}

/* One overlapped ReadFile or WriteFile that is expected to fail at once. */
static void immediate(const char *label, BOOL write, HANDLE h, HANDLE ev) {
    OVERLAPPED ov;
    char buf[16];
    DWORD n = 12345;
    BOOL r;
    start(&ov, ev);
    r = write ? WriteFile(h, "data", 4, &n, &ov) : ReadFile(h, buf, sizeof buf, &n, &ov);
    show_io(label, r, n, NULL);
    show_internal(label, &ov);
    show_event(label, ev);
}

static void connect_immediate(const char *label, HANDLE s, HANDLE ev) {
    OVERLAPPED ov;
    start(&ov, ev);
    SHOW_BOOL(label, ConnectNamedPipe(s, &ov));
    /* InternalHigh is not shown: Wine's ConnectNamedPipe zeroes it; Windows' is not pinned down */
    printf("%s internal: 0x%lx\n", label, (unsigned long)ov.Internal);
    show_event(label, ev);
}

int main(void) {
    OVERLAPPED ov;
    char buf[64];
    DWORD n, i;
    BOOL r;
    HANDLE ev = CreateEventA(NULL, TRUE, FALSE, NULL);
    HANDLE s, c;

    /* 1. a server no client has connected to yet */
    s = CreateNamedPipeA(PIPE("34"), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                         PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT, 1, 1024, 1024, 0, NULL);
    SHOW_HANDLE("listening_server", s);
    immediate("listening_read", FALSE, s, ev);
    immediate("listening_write", TRUE, s, ev);
    CloseHandle(s);

    /* 2. a disconnected server, with a synchronous handle (as Wine's test) and an overlapped one */
    for (i = 0; i < 2; i++) {
        s = CreateNamedPipeA(PIPE("34"), PIPE_ACCESS_DUPLEX | (i ? FILE_FLAG_OVERLAPPED : 0),
                             PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT, 1, 1024, 1024, 0, NULL);
        c = CreateFileA(PIPE("34"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
        SHOW_HANDLE(i ? "overlapped_client" : "sync_client", c);
        SHOW_BOOL("disconnect", DisconnectNamedPipe(s));
        immediate(i ? "disconnected_overlapped_read" : "disconnected_sync_read", FALSE, s, ev);
        immediate(i ? "disconnected_overlapped_write" : "disconnected_sync_write", TRUE, s, ev);
        CloseHandle(c);
        CloseHandle(s);
    }

    /* 3. the client wrote, then closed */
    s = CreateNamedPipeA(PIPE("34"), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                         PIPE_TYPE_BYTE | PIPE_WAIT, 1, 1024, 1024, 0, NULL);
    c = CreateFileA(PIPE("34"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    SHOW_HANDLE("client", c);
    r = WriteFile(c, "last", 4, &n, NULL);
    show_io("client_write", r, n, NULL);
    SHOW_BOOL("client_close", CloseHandle(c));
    memset(&ov, 0, sizeof ov);
    ov.hEvent = ev;
    n = 12345;
    r = ReadFile(s, buf, sizeof buf, &n, &ov);
    show_io("read_remaining_data", r, n, buf);
    immediate("read_after_close", FALSE, s, ev);
    immediate("write_after_close", TRUE, s, ev);
    connect_immediate("connect_after_close", s, ev);
    SHOW_BOOL("flush_after_close", FlushFileBuffers(s));
    SHOW_BOOL("disconnect_after_close", DisconnectNamedPipe(s));
    memset(&ov, 0, sizeof ov);
    ov.hEvent = ev;
    ResetEvent(ev);
    SHOW_BOOL("connect_after_disconnect", ConnectNamedPipe(s, &ov));
    SHOW_BOOL("cancel_connect", CancelIoEx(s, &ov));
    show_wait("cancelled_connect_event", WaitForSingleObject(ev, 2000));
    CloseHandle(s);

    /* 4. a client connected before ConnectNamedPipe */
    s = CreateNamedPipeA(PIPE("34"), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                         PIPE_TYPE_BYTE | PIPE_WAIT, 1, 1024, 1024, 0, NULL);
    c = CreateFileA(PIPE("34"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    SHOW_HANDLE("early_client", c);
    connect_immediate("connect_already_connected", s, ev);
    CloseHandle(c);
    CloseHandle(s);

    /* 5. PIPE_NOWAIT server */
    s = CreateNamedPipeA(PIPE("34n"), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                         PIPE_TYPE_BYTE | PIPE_NOWAIT, 1, 512, 512, 0, NULL);
    SHOW_HANDLE("nowait_server", s);
    memset(&ov, 0, sizeof ov);
    ov.hEvent = ev;
    SHOW_BOOL("nowait_connect_no_client", ConnectNamedPipe(s, &ov));
    c = CreateFileA(PIPE("34n"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    SHOW_HANDLE("nowait_client", c);
    memset(&ov, 0, sizeof ov);
    ov.hEvent = ev;
    n = 12345;
    r = ReadFile(s, buf, sizeof buf, &n, &ov);
    show_io("nowait_read_empty", r, n, NULL);
    r = WriteFile(c, "bits", 4, &n, NULL);
    show_io("nowait_client_write", r, n, NULL);
    memset(&ov, 0, sizeof ov);
    ov.hEvent = ev;
    n = 12345;
    r = ReadFile(s, buf, sizeof buf, &n, &ov);
    show_io("nowait_read_data", r, n, buf);
    CloseHandle(c);
    memset(&ov, 0, sizeof ov);
    ov.hEvent = ev;
    SHOW_BOOL("nowait_connect_after_close", ConnectNamedPipe(s, &ov));
    SHOW_BOOL("nowait_disconnect", DisconnectNamedPipe(s));
    memset(&ov, 0, sizeof ov);
    ov.hEvent = ev;
    SHOW_BOOL("nowait_connect_after_disconnect", ConnectNamedPipe(s, &ov));
    CloseHandle(s);

    CloseHandle(ev);
    return 0;
}
