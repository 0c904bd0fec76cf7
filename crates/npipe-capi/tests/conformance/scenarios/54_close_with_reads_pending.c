/* Closing a pipe handle (its last handle) while overlapped reads are pending on it: closing is
 * not cancelling. The pipe file system's cleanup of the closing end completes its pending reads
 * with STATUS_PIPE_BROKEN (ERROR_BROKEN_PIPE), whichever thread closes, and signals their
 * events; the other end then reads ERROR_BROKEN_PIPE and writes ERROR_NO_DATA (W101, W113,
 * W114). Wine completes them so; so does NPFS as ReactOS rebuilt it (NpSetClosingPipeState).
 * A cancel, by contrast, gives ERROR_OPERATION_ABORTED (W41). */
#include "w32.h"

static HANDLE to_close;

THREAD_FN(closer) {
    (void)arg;
    sleep_ms(50);
    SHOW_BOOL("closer_thread_close", CloseHandle(to_close));
    THREAD_RETURN;
}

static void show_done(const char *label, OVERLAPPED *ov, HANDLE h) {
    char l[96];
    DWORD n = 77;
    snprintf(l, sizeof l, "%s_event", label);
    printf("%s: %s\n", l, WaitForSingleObject(ov->hEvent, 1000) == WAIT_OBJECT_0 ? "signaled" : "not signaled");
    printf("%s_internal: 0x%08lx\n", label, (unsigned long)ov->Internal);
    BOOL r = GetOverlappedResult(h, ov, &n, FALSE);
    DWORD e = GetLastError();
    if (r) printf("%s_result: TRUE n=%lu\n", label, (unsigned long)n);
    else printf("%s_result: FALSE err=%lu n=%lu\n", label, (unsigned long)e, (unsigned long)n);
}

/* A read pending on `reader`, then `reader` closed by another thread or this one; then what
 * the other end sees. */
static void one(const char *label, int close_server, int same_thread) {
    char buf[64], l[96];
    DWORD n = 0;
    HANDLE s = CreateNamedPipeA(PIPE("n54"), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                                PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT, 1, 1024, 1024, 0, NULL);
    HANDLE c = CreateFileA(PIPE("n54"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                           FILE_FLAG_OVERLAPPED, NULL);
    if (s == INVALID_HANDLE_VALUE || c == INVALID_HANDLE_VALUE) {
        printf("%s: setup failed\n", label);
        return;
    }
    HANDLE reader = close_server ? s : c, other = close_server ? c : s;
    OVERLAPPED ov;
    memset(&ov, 0, sizeof ov);
    ov.hEvent = CreateEventA(NULL, TRUE, FALSE, NULL);
    BOOL r = ReadFile(reader, buf, sizeof buf, &n, &ov);
    DWORD e = GetLastError();
    snprintf(l, sizeof l, "%s_read", label);
    if (r) printf("%s: TRUE\n", l);
    else printf("%s: FALSE err=%lu\n", l, (unsigned long)e);
    if (same_thread) {
        snprintf(l, sizeof l, "%s_close", label);
        SHOW_BOOL(l, CloseHandle(reader));
    } else {
        to_close = reader;
        thread_t t = thread_start(closer, NULL);
        thread_join(t);
    }
    show_done(label, &ov, reader);
    OVERLAPPED o2;
    memset(&o2, 0, sizeof o2);
    o2.hEvent = CreateEventA(NULL, TRUE, FALSE, NULL);
    n = 0;
    r = ReadFile(other, buf, sizeof buf, &n, &o2);
    e = GetLastError();
    snprintf(l, sizeof l, "%s_other_read", label);
    if (r) printf("%s: TRUE n=%lu\n", l, (unsigned long)n);
    else printf("%s: FALSE err=%lu\n", l, (unsigned long)e);
    r = WriteFile(other, "x", 1, &n, &o2);
    e = GetLastError();
    snprintf(l, sizeof l, "%s_other_write", label);
    if (r) printf("%s: TRUE n=%lu\n", l, (unsigned long)n);
    else printf("%s: FALSE err=%lu\n", l, (unsigned long)e);
    CloseHandle(o2.hEvent);
    CloseHandle(ov.hEvent);
    CloseHandle(other);
}

int main(void) {
    one("server_other_thread", 1, 0);
    one("client_other_thread", 0, 0);
    one("server_same_thread", 1, 1);
    return 0;
}
