/* Completion routines and user APCs (W104, W106; W26 for the handle).
 *
 * A ReadFileEx/WriteFileEx completion routine never runs inside the issuing call, nor inside later
 * ReadFile/WriteFile calls, nor in a non-alertable Sleep, nor in another thread's alertable wait:
 * only in an alertable wait of the issuing thread (SleepEx, WaitForSingleObjectEx,
 * WaitForMultipleObjectsEx), which then returns WAIT_IO_COMPLETION (192). It runs once with error
 * 0, the byte count and the same OVERLAPPED pointer. An operation that completes at once still
 * runs its routine only in the alertable wait. Several queued routines and user APCs all run, in
 * the order they were queued, in one alertable wait. QueueUserAPC to the current thread runs in
 * the next alertable wait; an alertable wait with nothing queued just times out. */
#include "w32.h"

static char log_buf[256];
static int calls;
static OVERLAPPED ov_a, ov_b, ov_c;

static void log_add(const char *entry) {
    if (log_buf[0]) strcat(log_buf, " ");
    strcat(log_buf, entry);
}

static VOID WINAPI done(DWORD err, DWORD n, LPOVERLAPPED ov) {
    char entry[32];
    const char *name = ov == &ov_a ? "A" : ov == &ov_b ? "B" : ov == &ov_c ? "C" : "?";
    calls++;
    snprintf(entry, sizeof entry, "%s:err=%lu:n=%lu", name, (unsigned long)err, (unsigned long)n);
    log_add(entry);
}

static VOID CALLBACK apc(ULONG_PTR param) {
    char entry[32];
    calls++;
    snprintf(entry, sizeof entry, "apc:%lu", (unsigned long)param);
    log_add(entry);
}

static void show_log(const char *label, DWORD r) {
    printf("%s: %lu calls=%d log=[%s]\n", label, (unsigned long)r, calls, log_buf);
    log_buf[0] = 0;
}

static HANDLE client;

/* Writes to the pipe, then waits alertably itself: the main thread's routine must not run here. */
THREAD_FN(other_thread) {
    DWORD n, r;
    (void)arg;
    WriteFile(client, "from other", 10, &n, NULL);
    r = SleepEx(200, TRUE);
    printf("other_thread_sleepex: %lu calls=%d\n", (unsigned long)r, calls);
    THREAD_RETURN;
}

int main(void) {
    char buf_a[16], buf_b[16], cbuf[64];
    DWORD n, r;
    BOOL ok;
    HANDLE s = CreateNamedPipeA(PIPE("39"), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                                PIPE_TYPE_BYTE | PIPE_WAIT, 1, 1024, 1024, 0, NULL);
    SHOW_HANDLE("server", s);
    client = CreateFileA(PIPE("39"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    SHOW_HANDLE("client", client);
    HANDLE unset1 = CreateEventA(NULL, TRUE, FALSE, NULL);
    HANDLE unset2 = CreateEventA(NULL, TRUE, FALSE, NULL);

    /* 1. a pending ReadFileEx: not run inside ReadFile/WriteFile calls or a plain Sleep */
    memset(&ov_a, 0, sizeof ov_a);
    ok = ReadFileEx(s, buf_a, 3, &ov_a, done);
    SHOW_BOOL("read_ex", ok);
    printf("calls_after_read_ex: %d\n", calls);
    ok = WriteFile(client, "abc", 3, &n, NULL);
    show_io("client_write_abc", ok, n, NULL);
    printf("calls_after_client_write: %d\n", calls);
    ok = WriteFile(client, "de", 2, &n, NULL);
    memset(&ov_b, 0, sizeof ov_b);
    ok = ReadFile(s, buf_b, 2, &n, &ov_b);
    if (!ok && GetLastError() == ERROR_IO_PENDING) ok = GetOverlappedResult(s, &ov_b, &n, TRUE);
    show_io("server_plain_read", ok, n, buf_b);
    printf("calls_after_later_read: %d\n", calls);
    Sleep(100);
    printf("calls_after_plain_sleep: %d\n", calls);
    r = SleepEx(0, TRUE);
    show_log("sleepex_0", r);
    printf("read_a_data: \"%.3s\"\n", buf_a);
    r = SleepEx(0, TRUE);
    show_log("sleepex_nothing_queued", r);

    /* 2. another thread's alertable wait does not run this thread's routine */
    memset(&ov_a, 0, sizeof ov_a);
    ok = ReadFileEx(s, buf_a, 10, &ov_a, done);
    SHOW_BOOL("read_ex_for_other_thread_data", ok);
    thread_t t = thread_start(other_thread, NULL);
    thread_join(t);
    r = SleepEx(2000, TRUE);
    show_log("sleepex_after_other_thread", r);

    /* 3. several completions and an APC, all run in one alertable wait, in queue order */
    memset(&ov_a, 0, sizeof ov_a);
    memset(&ov_b, 0, sizeof ov_b);
    memset(&ov_c, 0, sizeof ov_c);
    ok = ReadFileEx(s, buf_a, 4, &ov_a, done);
    SHOW_BOOL("read_ex_a", ok);
    ok = ReadFileEx(s, buf_b, 4, &ov_b, done);
    SHOW_BOOL("read_ex_b", ok);
    ok = WriteFile(client, "12345678", 8, &n, NULL);
    show_io("client_write_8", ok, n, NULL);
    ok = WriteFileEx(s, "immediate", 9, &ov_c, done);
    SHOW_BOOL("write_ex_c_completes_at_once", ok);
    SHOW_BOOL("queue_apc", QueueUserAPC(apc, GetCurrentThread(), 7) != 0);
    printf("calls_before_alertable_wait: %d\n", calls);
    r = SleepEx(0, TRUE);
    show_log("sleepex_runs_all", r);
    printf("read_a_data: \"%.4s\" read_b_data: \"%.4s\"\n", buf_a, buf_b);
    ok = ReadFile(client, cbuf, sizeof cbuf, &n, NULL);
    show_io("client_read", ok, n, cbuf);

    /* 4. data already there: ReadFileEx completes at once, the routine runs only in the wait;
     *    WaitForMultipleObjectsEx alertable */
    ok = WriteFile(client, "ready", 5, &n, NULL);
    memset(&ov_a, 0, sizeof ov_a);
    ok = ReadFileEx(s, buf_a, sizeof buf_a, &ov_a, done);
    SHOW_BOOL("read_ex_data_ready", ok);
    printf("calls_after_read_ex_data_ready: %d\n", calls);
    {
        HANDLE both[2] = { unset1, unset2 };
        r = WaitForMultipleObjectsEx(2, both, FALSE, 2000, TRUE);
        show_log("wait_multiple_ex", r);
        r = WaitForMultipleObjectsEx(2, both, FALSE, 0, TRUE);
        show_log("wait_multiple_ex_nothing_queued", r);
    }

    /* 5. WaitForSingleObjectEx alertable, with a WriteFileEx and an APC */
    memset(&ov_c, 0, sizeof ov_c);
    ok = WriteFileEx(s, "pong", 4, &ov_c, done);
    SHOW_BOOL("write_ex_c", ok);
    SHOW_BOOL("queue_apc_2", QueueUserAPC(apc, GetCurrentThread(), 8) != 0);
    r = WaitForSingleObjectEx(unset1, 2000, TRUE);
    show_log("wait_single_ex", r);
    ok = ReadFile(client, cbuf, sizeof cbuf, &n, NULL);
    show_io("client_read_pong", ok, n, cbuf);

    /* 6. QueueUserAPC alone: not run by a non-alertable wait, run by SleepEx */
    SHOW_BOOL("queue_apc_3", QueueUserAPC(apc, GetCurrentThread(), 9) != 0);
    r = WaitForSingleObject(unset1, 50);
    show_log("wait_not_alertable", r);
    r = SleepEx(1000, TRUE);
    show_log("sleepex_apc", r);

    CloseHandle(unset1);
    CloseHandle(unset2);
    CloseHandle(client);
    CloseHandle(s);
    return 0;
}
