/* A thread's pending overlapped operations are cancelled when the thread exits (Windows cancels
 * a thread's I/O at its exit for handles not bound to a completion port; the ExitThread
 * documentation): the event is signaled, Internal is STATUS_CANCELLED and GetOverlappedResult
 * fails with ERROR_OPERATION_ABORTED; the data written afterwards stays in the pipe for the
 * next read. An operation issued by a thread that is still running stays pending, and one
 * another thread issued on the same handle is not touched (W41, W97). */
#include "w32.h"

static HANDLE server;
static OVERLAPPED ov_exit, ov_live;
static char buf_exit[16], buf_live[16];
static HANDLE go_on, done;

static void show_result(const char *label, HANDLE h, OVERLAPPED *ov, char *buf) {
    DWORD n = 77;
    BOOL r = GetOverlappedResult(h, ov, &n, FALSE);
    show_io(label, r, n, buf);
}

THREAD_FN(reads_then_exits) {
    (void)arg;
    BOOL r = ReadFile(server, buf_exit, sizeof buf_exit, NULL, &ov_exit);
    printf("exiting_thread_read: %s err=%lu\n", r ? "TRUE" : "FALSE", r ? 0ul : (unsigned long)GetLastError());
    THREAD_RETURN;
}

THREAD_FN(reads_and_stays) {
    (void)arg;
    BOOL r = ReadFile(server, buf_live, sizeof buf_live, NULL, &ov_live);
    printf("staying_thread_read: %s err=%lu\n", r ? "TRUE" : "FALSE", r ? 0ul : (unsigned long)GetLastError());
    SetEvent(done);
    WaitForSingleObject(go_on, INFINITE);
    THREAD_RETURN;
}

int main(void) {
    DWORD n;
    char buf[16];
    server = CreateNamedPipeA(PIPE("50"), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                              PIPE_TYPE_BYTE | PIPE_WAIT, 1, 512, 512, 0, NULL);
    SHOW_HANDLE("server", server);
    HANDLE c = CreateFileA(PIPE("50"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0,
                           NULL);
    SHOW_HANDLE("client", c);
    go_on = CreateEventA(NULL, TRUE, FALSE, NULL);
    done = CreateEventA(NULL, TRUE, FALSE, NULL);
    memset(&ov_live, 0, sizeof ov_live);
    ov_live.hEvent = CreateEventA(NULL, TRUE, FALSE, NULL);
    thread_t stays = thread_start(reads_and_stays, NULL);
    WaitForSingleObject(done, INFINITE);

    memset(&ov_exit, 0, sizeof ov_exit);
    ov_exit.hEvent = CreateEventA(NULL, TRUE, FALSE, NULL);
    thread_t t = thread_start(reads_then_exits, NULL);
    thread_join(t);
    printf("event_after_exit: %lu\n", (unsigned long)WaitForSingleObject(ov_exit.hEvent, 1000));
    printf("cancelled: %d\n", ov_exit.Internal == 0xC0000120);
    show_result("exited_result", server, &ov_exit, buf_exit);
    printf("live_event: %lu\n", (unsigned long)WaitForSingleObject(ov_live.hEvent, 0));

    SHOW_BOOL("client_write", WriteFile(c, "abc", 3, &n, NULL));
    printf("live_event_after_write: %lu\n", (unsigned long)WaitForSingleObject(ov_live.hEvent, 1000));
    show_result("live_result", server, &ov_live, buf_live);
    SHOW_BOOL("client_write_2", WriteFile(c, "def", 3, &n, NULL));
    OVERLAPPED ov;
    memset(&ov, 0, sizeof ov);
    ov.hEvent = CreateEventA(NULL, TRUE, FALSE, NULL);
    BOOL r = ReadFile(server, buf, sizeof buf, NULL, &ov);
    if (!r && GetLastError() == ERROR_IO_PENDING) WaitForSingleObject(ov.hEvent, 1000);
    show_result("main_read", server, &ov, buf);

    SetEvent(go_on);
    thread_join(stays);
    CloseHandle(ov.hEvent);
    CloseHandle(ov_exit.hEvent);
    CloseHandle(ov_live.hEvent);
    CloseHandle(go_on);
    CloseHandle(done);
    CloseHandle(c);
    CloseHandle(server);
    return 0;
}
