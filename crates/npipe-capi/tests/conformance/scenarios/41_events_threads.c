/* Events, waits and thread handles: the waiting primitives the overlapped API is built on.
 * (Documented Win32 behaviour: CreateEvent, SetEvent, PulseEvent, WaitForSingleObject,
 * WaitForMultipleObjects, CreateThread, ExitThread, GetExitCodeThread, CloseHandle.)
 *
 * - PulseEvent on a manual-reset event releases every thread waiting at that moment and leaves
 *   the event unsignaled; with nobody waiting it just leaves it unsignaled. On an auto-reset
 *   event it releases one waiter.
 * - SetEvent on an auto-reset event with two waiters releases exactly one; the next SetEvent the
 *   other.
 * - WaitForMultipleObjects(bWaitAll = TRUE) consumes an auto-reset event only when all the objects
 *   are signaled together; bWaitAll = FALSE returns the lowest signaled index and consumes only
 *   that object.
 * - A thread handle is unsignaled while the thread runs (GetExitCodeThread gives STILL_ACTIVE,
 *   259) and signaled once it has ended, with the code it returned or passed to ExitThread.
 * - Bad arguments: an invalid or closed handle -> WAIT_FAILED / FALSE with ERROR_INVALID_HANDLE;
 *   more than MAXIMUM_WAIT_OBJECTS (64) handles -> WAIT_FAILED with ERROR_INVALID_PARAMETER;
 *   CloseHandle twice -> FALSE, ERROR_INVALID_HANDLE. */
#include "w32.h"

static void show_wait(const char *label, DWORD r) {
    if (r == WAIT_FAILED) printf("%s: WAIT_FAILED err=%lu\n", label, (unsigned long)GetLastError());
    else printf("%s: %lu\n", label, (unsigned long)r);
}

/* Two waiter threads on one event; each records its result in its own slot. */
static HANDLE target;
static DWORD target_timeout;
static volatile DWORD result[2];

THREAD_FN(waiter) {
    int i = arg ? 1 : 0;
    result[i] = WaitForSingleObject(target, target_timeout);
    THREAD_RETURN;
}

static int count_woken(void) {
    return (result[0] == WAIT_OBJECT_0) + (result[1] == WAIT_OBJECT_0);
}

static void start_waiters(HANDLE ev, DWORD timeout, thread_t *t) {
    target = ev;
    target_timeout = timeout;
    result[0] = result[1] = 999;
    t[0] = thread_start(waiter, NULL);
    t[1] = thread_start(waiter, (void *)1);
    sleep_ms(200);
}

static HANDLE both_a, both_m;
static volatile DWORD wait_all_result = 999;

THREAD_FN(wait_all) {
    HANDLE both[2];
    (void)arg;
    both[0] = both_a;
    both[1] = both_m;
    wait_all_result = WaitForMultipleObjects(2, both, TRUE, 2000);
    THREAD_RETURN;
}

static DWORD WINAPI returns_5(LPVOID arg) {
    (void)arg;
    Sleep(300);
    return 5;
}

static DWORD WINAPI exits_42(LPVOID arg) {
    (void)arg;
    Sleep(50);
    ExitThread(42);
    return 0;
}

int main(void) {
    thread_t t[2];
    DWORD code, i;
    HANDLE m = CreateEventA(NULL, TRUE, FALSE, NULL);
    HANDLE a = CreateEventA(NULL, FALSE, FALSE, NULL);
    HANDLE a2 = CreateEventA(NULL, FALSE, FALSE, NULL);

    /* 1. PulseEvent */
    SHOW_BOOL("pulse_manual_nobody_waiting", PulseEvent(m));
    show_wait("manual_after_pulse", WaitForSingleObject(m, 0));
    start_waiters(m, 2000, t);
    SHOW_BOOL("pulse_manual_two_waiting", PulseEvent(m));
    sleep_ms(200);
    printf("manual_pulse_woken: %d\n", count_woken());
    show_wait("manual_after_pulse_with_waiters", WaitForSingleObject(m, 0));
    thread_join(t[0]);
    thread_join(t[1]);

    start_waiters(a, 1000, t);
    SHOW_BOOL("pulse_auto_two_waiting", PulseEvent(a));
    sleep_ms(200);
    printf("auto_pulse_woken: %d\n", count_woken());
    show_wait("auto_after_pulse", WaitForSingleObject(a, 0));
    thread_join(t[0]);
    thread_join(t[1]);
    printf("auto_pulse_final: woken=%d timed_out=%d\n", count_woken(),
           (result[0] == WAIT_TIMEOUT) + (result[1] == WAIT_TIMEOUT));

    /* 2. SetEvent on an auto-reset event with two waiters */
    start_waiters(a, 2000, t);
    SHOW_BOOL("set_auto_two_waiting", SetEvent(a));
    sleep_ms(200);
    printf("auto_set_woken: %d\n", count_woken());
    show_wait("auto_after_set_unsignaled", WaitForSingleObject(a, 0));
    SHOW_BOOL("set_auto_again", SetEvent(a));
    sleep_ms(200);
    printf("auto_set_again_woken: %d\n", count_woken());
    thread_join(t[0]);
    thread_join(t[1]);

    /* 3. wait-all consumes an auto-reset event only when all are signaled */
    SetEvent(a);
    ResetEvent(m);
    {
        HANDLE both[2] = { a, m };
        show_wait("wait_all_one_set", WaitForMultipleObjects(2, both, TRUE, 0));
    }
    show_wait("auto_not_consumed_by_failed_wait_all", WaitForSingleObject(a, 0));
    SetEvent(a);
    both_a = a;
    both_m = m;
    thread_t w = thread_start(wait_all, NULL);
    sleep_ms(200);
    printf("wait_all_still_waiting: %d\n", wait_all_result == 999);
    SetEvent(m);
    thread_join(w);
    printf("wait_all_after_both_set: %lu\n", (unsigned long)wait_all_result);
    show_wait("auto_consumed_by_wait_all", WaitForSingleObject(a, 0));
    show_wait("manual_not_consumed_by_wait_all", WaitForSingleObject(m, 0));

    /* wait-any: lowest signaled index, only that one consumed */
    SetEvent(a);
    SetEvent(a2);
    {
        HANDLE both[2] = { a, a2 };
        show_wait("wait_any_both_set", WaitForMultipleObjects(2, both, FALSE, 0));
    }
    show_wait("second_not_consumed", WaitForSingleObject(a2, 0));
    show_wait("first_consumed", WaitForSingleObject(a, 0));

    /* 4. thread handles */
    HANDLE t5 = CreateThread(NULL, 0, returns_5, NULL, 0, NULL);
    HANDLE t42 = CreateThread(NULL, 0, exits_42, NULL, 0, NULL);
    SHOW_HANDLE("thread_5", t5 == NULL ? INVALID_HANDLE_VALUE : t5);
    SHOW_HANDLE("thread_42", t42 == NULL ? INVALID_HANDLE_VALUE : t42);
    show_wait("thread_running", WaitForSingleObject(t5, 0));
    code = 12345;
    SHOW_BOOL("exit_code_running_call", GetExitCodeThread(t5, &code));
    printf("exit_code_running: %lu\n", (unsigned long)code);
    {
        HANDLE th[2] = { t5, t42 };
        show_wait("wait_any_thread", WaitForMultipleObjects(2, th, FALSE, 2000));
        show_wait("wait_all_threads", WaitForMultipleObjects(2, th, TRUE, 2000));
    }
    code = 12345;
    GetExitCodeThread(t5, &code);
    printf("exit_code_returned: %lu\n", (unsigned long)code);
    code = 12345;
    GetExitCodeThread(t42, &code);
    printf("exit_code_exitthread: %lu\n", (unsigned long)code);
    show_wait("ended_thread_stays_signaled", WaitForSingleObject(t42, 0));
    SHOW_BOOL("close_thread", CloseHandle(t5));
    SHOW_BOOL("close_thread_again", CloseHandle(t5));
    code = 12345;
    SHOW_BOOL("exit_code_closed_handle", GetExitCodeThread(t5, &code));
    CloseHandle(t42);

    /* 5. bad handles and counts */
    show_wait("wait_null_handle", WaitForSingleObject(NULL, 0));
    HANDLE gone = CreateEventA(NULL, TRUE, TRUE, NULL);
    SHOW_BOOL("close_event", CloseHandle(gone));
    show_wait("wait_closed_handle", WaitForSingleObject(gone, 0));
    SHOW_BOOL("set_closed_event", SetEvent(gone));
    SHOW_BOOL("close_event_again", CloseHandle(gone));
    SHOW_BOOL("set_null_event", SetEvent(NULL));
    {
        HANDLE many[65];
        for (i = 0; i < 65; i++) many[i] = CreateEventA(NULL, TRUE, FALSE, NULL);
        show_wait("wait_64_handles", WaitForMultipleObjects(64, many, FALSE, 0));
        SetEvent(many[63]);
        show_wait("wait_64_handles_last_set", WaitForMultipleObjects(64, many, FALSE, 0));
        show_wait("wait_65_handles", WaitForMultipleObjects(65, many, FALSE, 0));
        show_wait("wait_65_handles_all", WaitForMultipleObjects(65, many, TRUE, 0));
        for (i = 0; i < 65; i++) CloseHandle(many[i]);
    }

    CloseHandle(m);
    CloseHandle(a);
    CloseHandle(a2);
    return 0;
}
