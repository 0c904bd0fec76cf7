/* CancelSynchronousIo (W42): a thread blocked in a synchronous ConnectNamedPipe, ReadFile or
 * WriteFile (on its quota) is cancelled: TRUE with the last error untouched, and the call fails
 * with ERROR_OPERATION_ABORTED; a second cancel finds nothing (ERROR_NOT_FOUND). The pipe stays
 * usable: the next ConnectNamedPipe connects, the next read gets the data written after the
 * cancel, and the reader finds nothing of the cancelled write. A thread with no I/O or only
 * overlapped I/O pending, and the calling thread itself, give ERROR_NOT_FOUND; a bogus handle
 * and a handle that is no thread give ERROR_INVALID_HANDLE (W27, W41, W42). */
#include "w32.h"

static HANDLE server;
static HANDLE go;
static BOOL result;
static DWORD error, count;
static char buf[16];

static DWORD WINAPI connects(LPVOID p) {
    (void)p;
    result = ConnectNamedPipe(server, NULL);
    error = result ? 0 : GetLastError();
    return 0;
}

static DWORD WINAPI reads(LPVOID p) {
    (void)p;
    count = 77;
    result = ReadFile(server, buf, sizeof buf, &count, NULL);
    error = result ? 0 : GetLastError();
    return 0;
}

static DWORD WINAPI writes(LPVOID p) {
    static char big[2048];
    (void)p;
    memset(big, 'w', sizeof big);
    count = 77;
    result = WriteFile(server, big, sizeof big, &count, NULL);
    error = result ? 0 : GetLastError();
    return 0;
}

static DWORD WINAPI idles(LPVOID p) {
    (void)p;
    WaitForSingleObject(go, 5000);
    return 0;
}

static OVERLAPPED ov;
static HANDLE ov_server;
static DWORD WINAPI reads_overlapped(LPVOID p) {
    (void)p;
    BOOL r = ReadFile(ov_server, buf, sizeof buf, NULL, &ov);
    printf("overlapped_read: %s err=%lu\n", r ? "TRUE" : "FALSE", r ? 0ul : (unsigned long)GetLastError());
    WaitForSingleObject(go, 5000);
    return 0;
}

/* Cancels the call thread `t` is blocked in (after giving it 200 ms to get there), prints
 * the cancel and then what the call returned. */
static void cancel_blocked(const char *label, HANDLE t) {
    char l[64];
    sleep_ms(200);
    SetLastError(4242);
    BOOL r = CancelSynchronousIo(t);
    DWORD e = GetLastError();
    if (r) printf("%s_cancel: TRUE last_error_kept=%d\n", label, e == 4242);
    else printf("%s_cancel: FALSE err=%lu\n", label, (unsigned long)e);
    printf("%s_thread_ends: %lu\n", label, (unsigned long)WaitForSingleObject(t, 5000));
    if (result) printf("%s: TRUE n=%lu\n", label, (unsigned long)count);
    else printf("%s: FALSE err=%lu\n", label, (unsigned long)error);
    snprintf(l, sizeof l, "%s_cancel_again", label);
    SHOW_BOOL(l, CancelSynchronousIo(t));
    CloseHandle(t);
}

int main(void) {
    DWORD n;
    go = CreateEventA(NULL, TRUE, FALSE, NULL);

    SHOW_BOOL("bogus_handle", CancelSynchronousIo((HANDLE)(ULONG_PTR)0x7ffc));
    SHOW_BOOL("event_handle", CancelSynchronousIo(go));
    SHOW_BOOL("current_thread", CancelSynchronousIo(GetCurrentThread()));
    HANDLE t = CreateThread(NULL, 0, idles, NULL, 0, NULL);
    sleep_ms(100);
    SHOW_BOOL("idle_thread", CancelSynchronousIo(t));
    SetEvent(go);
    printf("idle_thread_ends: %lu\n", (unsigned long)WaitForSingleObject(t, 5000));
    CloseHandle(t);
    ResetEvent(go);

    /* Only overlapped I/O pending. */
    ov_server = CreateNamedPipeA(PIPE("56ov"), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                                 PIPE_TYPE_BYTE | PIPE_WAIT, 1, 512, 512, 0, NULL);
    HANDLE ov_client = CreateFileA(PIPE("56ov"), GENERIC_READ | GENERIC_WRITE, 0, NULL,
                                   OPEN_EXISTING, 0, NULL);
    memset(&ov, 0, sizeof ov);
    ov.hEvent = CreateEventA(NULL, TRUE, FALSE, NULL);
    t = CreateThread(NULL, 0, reads_overlapped, NULL, 0, NULL);
    sleep_ms(200);
    SHOW_BOOL("overlapped_only", CancelSynchronousIo(t));
    printf("overlapped_still_pending: %d\n", WaitForSingleObject(ov.hEvent, 0) == WAIT_TIMEOUT);
    SHOW_BOOL("overlapped_write", WriteFile(ov_client, "xy", 2, &n, NULL));
    printf("overlapped_done: %lu\n", (unsigned long)WaitForSingleObject(ov.hEvent, 5000));
    SetEvent(go);
    WaitForSingleObject(t, 5000);
    CloseHandle(t);
    show_io("overlapped_result", GetOverlappedResult(ov_server, &ov, &n, FALSE), n, buf);
    CloseHandle(ov.hEvent);
    CloseHandle(ov_client);
    CloseHandle(ov_server);

    /* A blocked ConnectNamedPipe; then a client connects to the next one. */
    server = CreateNamedPipeA(PIPE("56"), PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE | PIPE_WAIT, 1, 512,
                              512, 0, NULL);
    SHOW_HANDLE("server", server);
    cancel_blocked("connect", CreateThread(NULL, 0, connects, NULL, 0, NULL));
    t = CreateThread(NULL, 0, connects, NULL, 0, NULL);
    sleep_ms(200);
    HANDLE client = CreateFileA(PIPE("56"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                                0, NULL);
    SHOW_HANDLE("client", client);
    printf("connect_again_ends: %lu\n", (unsigned long)WaitForSingleObject(t, 5000));
    CloseHandle(t);
    printf("connect_again: %s\n", result ? "TRUE" : "FALSE");

    /* A blocked ReadFile; the data written after it goes to the next read. */
    cancel_blocked("read", CreateThread(NULL, 0, reads, NULL, 0, NULL));
    SHOW_BOOL("client_write", WriteFile(client, "abc", 3, &n, NULL));
    memset(buf, 0, sizeof buf);
    show_io("next_read", ReadFile(server, buf, sizeof buf, &n, NULL), n, buf);

    /* A WriteFile of 2048 bytes against a quota of 512 the client does not read. */
    cancel_blocked("write", CreateThread(NULL, 0, writes, NULL, 0, NULL));
    SHOW_BOOL("server_write", WriteFile(server, "end", 3, &n, NULL));
    DWORD avail = 99;
    SHOW_BOOL("peek", PeekNamedPipe(client, NULL, 0, NULL, &avail, NULL));
    printf("peek_avail: %lu\n", (unsigned long)avail);
    memset(buf, 0, sizeof buf);
    show_io("client_read", ReadFile(client, buf, sizeof buf, &n, NULL), n, buf);

    CloseHandle(client);
    CloseHandle(server);
    CloseHandle(go);
    return 0;
}
