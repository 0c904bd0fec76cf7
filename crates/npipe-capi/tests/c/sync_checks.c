/* npipe's own C test of the Win32 synchronisation and thread calls: events, the wait functions,
 * CreateThread and thread handles, APCs, npipe_wait_fd and GetTickCount. Compiled against
 * <npipe/win32.h> and libnpipe by tests/sync_checks.rs. Every expected value is Windows' own
 * (Microsoft's documentation and ../../../../../shared/conformance/next/expected/21_events_waits.txt,
 * the transcript Windows prints for the same calls). Prints "N passed, M failed" and exits
 * non-zero on any failure. */
#include <npipe/win32.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Declarations <npipe/win32.h> may not have yet, with Win32's exact values and signatures:
 * once the header has them these are identical redeclarations, which C allows. */
#ifndef WAIT_OBJECT_0
#define WAIT_OBJECT_0 0x00000000L
#endif
#ifndef WAIT_FAILED
#define WAIT_FAILED ((DWORD)0xFFFFFFFF)
#endif
#ifndef INFINITE
#define INFINITE 0xFFFFFFFF
#endif
#ifndef MAXIMUM_WAIT_OBJECTS
#define MAXIMUM_WAIT_OBJECTS 64
#endif
#ifndef STILL_ACTIVE
#define STILL_ACTIVE 259
#endif
#ifndef CREATE_SUSPENDED
#define CREATE_SUSPENDED 0x00000004
#endif
#ifndef STACK_SIZE_PARAM_IS_A_RESERVATION
#define STACK_SIZE_PARAM_IS_A_RESERVATION 0x00010000
#endif
#ifndef EVENT_ALL_ACCESS
#define EVENT_ALL_ACCESS 0x1F0003
#endif
#ifndef ERROR_GEN_FAILURE
#define ERROR_GEN_FAILURE 31L
#endif
typedef DWORD (WINAPI *LPTHREAD_START_ROUTINE)(LPVOID lpThreadParameter);
typedef VOID (CALLBACK *PAPCFUNC)(ULONG_PTR Parameter);
HANDLE WINAPI CreateEventA(LPSECURITY_ATTRIBUTES lpEventAttributes, BOOL bManualReset, BOOL bInitialState,
                           LPCSTR lpName);
HANDLE WINAPI OpenEventA(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCSTR lpName);
BOOL WINAPI SetEvent(HANDLE hEvent);
BOOL WINAPI ResetEvent(HANDLE hEvent);
BOOL WINAPI PulseEvent(HANDLE hEvent);
DWORD WINAPI WaitForSingleObject(HANDLE hHandle, DWORD dwMilliseconds);
DWORD WINAPI WaitForSingleObjectEx(HANDLE hHandle, DWORD dwMilliseconds, BOOL bAlertable);
DWORD WINAPI WaitForMultipleObjects(DWORD nCount, const HANDLE *lpHandles, BOOL bWaitAll, DWORD dwMilliseconds);
DWORD WINAPI WaitForMultipleObjectsEx(DWORD nCount, const HANDLE *lpHandles, BOOL bWaitAll, DWORD dwMilliseconds,
                                      BOOL bAlertable);
VOID WINAPI Sleep(DWORD dwMilliseconds);
DWORD WINAPI SleepEx(DWORD dwMilliseconds, BOOL bAlertable);
DWORD WINAPI GetTickCount(void);
HANDLE WINAPI CreateThread(LPSECURITY_ATTRIBUTES lpThreadAttributes, SIZE_T dwStackSize,
                           LPTHREAD_START_ROUTINE lpStartAddress, LPVOID lpParameter, DWORD dwCreationFlags,
                           LPDWORD lpThreadId);
__attribute__((noreturn)) VOID WINAPI ExitThread(DWORD dwExitCode);
HANDLE WINAPI GetCurrentThread(void);
DWORD WINAPI GetCurrentThreadId(void);
BOOL WINAPI GetExitCodeThread(HANDLE hThread, LPDWORD lpExitCode);
DWORD WINAPI ResumeThread(HANDLE hThread);
DWORD WINAPI QueueUserAPC(PAPCFUNC pfnAPC, HANDLE hThread, ULONG_PTR dwData);
int npipe_wait_fd(HANDLE h);

#include "checks.h"

/* Whether `fd` polls readable right now. */
static int readable(int fd) {
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* A handle value that is not open: one that was, and was closed. */
static HANDLE closed_handle(void) {
    HANDLE h = CreateEventA(NULL, TRUE, FALSE, NULL);
    CloseHandle(h);
    return h;
}

static HANDLE start(LPTHREAD_START_ROUTINE fn, void *arg, DWORD flags, DWORD *tid) {
    HANDLE t = CreateThread(NULL, 0, fn, arg, flags, tid);
    if (t == NULL) {
        printf("FAIL CreateThread (err %u)\n", (unsigned)GetLastError());
        exit(2);
    }
    return t;
}

/* ---- events ---------------------------------------------------------------------------- */

/* A thread that waits on an event and counts the waits it won. */
struct waiter { HANDLE ev; DWORD ms; DWORD result; atomic_int *woken; };
static DWORD WINAPI wait_and_count(LPVOID p) {
    struct waiter *w = p;
    w->result = WaitForSingleObject(w->ev, w->ms);
    if (w->result == WAIT_OBJECT_0) atomic_fetch_add(w->woken, 1);
    return 0;
}

static void events(void) {
    HANDLE m = CreateEventA(NULL, TRUE, FALSE, NULL);
    HANDLE a = CreateEventA(NULL, FALSE, FALSE, NULL);
    CHECK(m != NULL && a != NULL, "create events");
    CHECK(WaitForSingleObject(m, 0) == WAIT_TIMEOUT, "manual starts unset");
    CHECK(SetEvent(m), "SetEvent");
    CHECK(WaitForSingleObject(m, 0) == WAIT_OBJECT_0, "manual set");
    CHECK(WaitForSingleObject(m, 0) == WAIT_OBJECT_0, "manual stays set");
    CHECK(ResetEvent(m), "ResetEvent");
    CHECK(WaitForSingleObject(m, 0) == WAIT_TIMEOUT, "manual reset");
    CHECK(SetEvent(a), "SetEvent auto");
    CHECK(WaitForSingleObject(a, 0) == WAIT_OBJECT_0, "auto set");
    CHECK(WaitForSingleObject(a, 0) == WAIT_TIMEOUT, "auto consumed by one wait");
    DWORD t0 = GetTickCount();
    CHECK(WaitForSingleObject(a, 50) == WAIT_TIMEOUT, "auto 50 ms timeout");
    CHECK(GetTickCount() - t0 >= 45, "the timeout waited");
    HANDLE mi = CreateEventA(NULL, TRUE, TRUE, NULL), ai = CreateEventA(NULL, FALSE, TRUE, NULL);
    CHECK(WaitForSingleObject(mi, 0) == WAIT_OBJECT_0 && WaitForSingleObject(mi, 0) == WAIT_OBJECT_0,
          "manual created set");
    CHECK(WaitForSingleObject(ai, 0) == WAIT_OBJECT_0 && WaitForSingleObject(ai, 0) == WAIT_TIMEOUT,
          "auto created set, consumed once");
    CloseHandle(mi);
    CloseHandle(ai);
    HANDLE gone = closed_handle();
    CHECK(!SetEvent(gone) && GetLastError() == ERROR_INVALID_HANDLE, "SetEvent closed handle");
    CHECK(!ResetEvent(NULL) && GetLastError() == ERROR_INVALID_HANDLE, "ResetEvent NULL");

    /* Two threads wait on an auto-reset event: one SetEvent releases exactly one of them. */
    atomic_int woken = 0;
    struct waiter w1 = { a, 5000, 99, &woken }, w2 = { a, 5000, 99, &woken };
    HANDLE th[2] = { start(wait_and_count, &w1, 0, NULL), start(wait_and_count, &w2, 0, NULL) };
    Sleep(100);
    SetEvent(a);
    Sleep(200);
    CHECK(atomic_load(&woken) == 1, "one SetEvent releases one auto waiter");
    CHECK(WaitForSingleObject(a, 0) == WAIT_TIMEOUT, "and the event is consumed");
    SetEvent(a);
    CHECK(WaitForMultipleObjects(2, th, TRUE, 5000) == WAIT_OBJECT_0, "both waiters end");
    CHECK(atomic_load(&woken) == 2 && w1.result == WAIT_OBJECT_0 && w2.result == WAIT_OBJECT_0,
          "the second SetEvent releases the other");
    CloseHandle(th[0]);
    CloseHandle(th[1]);

    /* A manual-reset event releases every waiter. */
    atomic_store(&woken, 0);
    w1 = (struct waiter){ m, 5000, 99, &woken };
    w2 = (struct waiter){ m, 5000, 99, &woken };
    th[0] = start(wait_and_count, &w1, 0, NULL);
    th[1] = start(wait_and_count, &w2, 0, NULL);
    Sleep(50);
    SetEvent(m);
    CHECK(WaitForMultipleObjects(2, th, TRUE, 5000) == WAIT_OBJECT_0 && atomic_load(&woken) == 2,
          "manual SetEvent releases both waiters");
    CloseHandle(th[0]);
    CloseHandle(th[1]);
    ResetEvent(m);

    /* PulseEvent: releases the waiters there are (all for manual, one for auto) and leaves the
     * event reset; with nobody waiting it only leaves it reset. npipe records the release for
     * the waiters of that moment, so every one of them is released even if it has not run
     * yet when the event is reset (Windows documents a rare miss for a waiter that is briefly
     * out of its wait running a kernel-mode APC; npipe has no such moment). Checked over several
     * rounds: a set-yield-reset pulse missed a waiter in about one run out of three. */
    CHECK(PulseEvent(m), "PulseEvent no waiters");
    CHECK(WaitForSingleObject(m, 0) == WAIT_TIMEOUT, "PulseEvent with no waiter leaves it reset");
    SetEvent(m);
    CHECK(PulseEvent(m) && WaitForSingleObject(m, 0) == WAIT_TIMEOUT, "PulseEvent resets a set event");
    atomic_store(&woken, 0);
    w1 = (struct waiter){ m, 3000, 99, &woken };
    w2 = (struct waiter){ m, 3000, 99, &woken };
    th[0] = start(wait_and_count, &w1, 0, NULL);
    th[1] = start(wait_and_count, &w2, 0, NULL);
    Sleep(100);
    CHECK(PulseEvent(m), "PulseEvent manual with waiters");
    CHECK(WaitForSingleObject(m, 0) == WAIT_TIMEOUT, "manual reset after the pulse");
    CHECK(WaitForMultipleObjects(2, th, TRUE, 5000) == WAIT_OBJECT_0, "pulsed waiters end");
    CHECK(atomic_load(&woken) <= 2 && WaitForSingleObject(m, 0) == WAIT_TIMEOUT, "PulseEvent manual: reset after");
    CHECK(atomic_load(&woken) == 2, "PulseEvent on a manual event releases every waiter");
    CloseHandle(th[0]);
    CloseHandle(th[1]);
    atomic_store(&woken, 0);
    w1 = (struct waiter){ a, 1000, 99, &woken };
    w2 = (struct waiter){ a, 1000, 99, &woken };
    th[0] = start(wait_and_count, &w1, 0, NULL);
    th[1] = start(wait_and_count, &w2, 0, NULL);
    Sleep(100);
    CHECK(PulseEvent(a), "PulseEvent auto with waiters");
    CHECK(WaitForMultipleObjects(2, th, TRUE, 5000) == WAIT_OBJECT_0, "auto waiters end");
    CHECK(atomic_load(&woken) <= 1, "PulseEvent on an auto event releases at most one waiter");
    CHECK(atomic_load(&woken) == 1, "PulseEvent on an auto event releases one waiter");
    CHECK(WaitForSingleObject(a, 0) == WAIT_TIMEOUT, "auto reset after the pulse");
    CloseHandle(th[0]);
    CloseHandle(th[1]);

    /* The same, many times over, with three waiters each, and a waiter that starts after the
     * pulse is never released by it. */
    int manual_all = 1, auto_one = 1, late_missed = 1;
    for (int round = 0; round < 10; round++) {
        struct waiter w[3];
        HANDLE t3[3];
        atomic_store(&woken, 0);
        for (int k = 0; k < 3; k++) {
            w[k] = (struct waiter){ m, 3000, 99, &woken };
            t3[k] = start(wait_and_count, &w[k], 0, NULL);
        }
        Sleep(30);
        PulseEvent(m);
        if (WaitForSingleObject(m, 20) != WAIT_TIMEOUT) late_missed = 0;
        WaitForMultipleObjects(3, t3, TRUE, 5000);
        if (atomic_load(&woken) != 3) manual_all = 0;
        for (int k = 0; k < 3; k++) CloseHandle(t3[k]);
        atomic_store(&woken, 0);
        for (int k = 0; k < 3; k++) {
            w[k] = (struct waiter){ a, 300, 99, &woken };
            t3[k] = start(wait_and_count, &w[k], 0, NULL);
        }
        Sleep(30);
        PulseEvent(a);
        WaitForMultipleObjects(3, t3, TRUE, 5000);
        if (atomic_load(&woken) != 1) auto_one = 0;
        for (int k = 0; k < 3; k++) CloseHandle(t3[k]);
    }
    CHECK(manual_all, "10 rounds: a manual pulse releases all three waiters");
    CHECK(auto_one, "10 rounds: an auto pulse releases exactly one of three waiters");
    CHECK(late_missed, "10 rounds: a wait that starts after the pulse is not released by it");

    /* SetEvent releases the waiters of that moment: a ResetEvent right after it does not take
     * the release back (manual), and a waiting thread owns an auto-reset release, so a
     * WaitForSingleObject(h, 0) right after SetEvent finds the event reset. */
    atomic_store(&woken, 0);
    w1 = (struct waiter){ m, 3000, 99, &woken };
    w2 = (struct waiter){ m, 3000, 99, &woken };
    th[0] = start(wait_and_count, &w1, 0, NULL);
    th[1] = start(wait_and_count, &w2, 0, NULL);
    Sleep(50);
    SetEvent(m);
    ResetEvent(m);
    CHECK(WaitForMultipleObjects(2, th, TRUE, 5000) == WAIT_OBJECT_0 && atomic_load(&woken) == 2,
          "SetEvent then ResetEvent at once still releases both manual waiters");
    CloseHandle(th[0]);
    CloseHandle(th[1]);
    atomic_store(&woken, 0);
    w1 = (struct waiter){ a, 3000, 99, &woken };
    th[0] = start(wait_and_count, &w1, 0, NULL);
    Sleep(50);
    SetEvent(a);
    CHECK(WaitForSingleObject(a, 0) == WAIT_TIMEOUT, "an auto SetEvent with a waiter goes to the waiter");
    CHECK(WaitForSingleObject(th[0], 5000) == WAIT_OBJECT_0 && atomic_load(&woken) == 1, "which is released");
    CloseHandle(th[0]);

    /* Named events: one object per name while a handle is open. */
    char name[64], missing[64];
    snprintf(name, sizeof name, "npipe_sync_checks_%d", (int)getpid());
    snprintf(missing, sizeof missing, "npipe_sync_checks_missing_%d", (int)getpid());
    SetLastError(77);
    HANDLE n1 = CreateEventA(NULL, TRUE, FALSE, name);
    CHECK(n1 != NULL && GetLastError() == ERROR_SUCCESS, "named create: ERROR_SUCCESS");
    HANDLE n2 = CreateEventA(NULL, FALSE, TRUE, name);
    CHECK(n2 != NULL && n2 != n1 && GetLastError() == ERROR_ALREADY_EXISTS, "named twice: ERROR_ALREADY_EXISTS");
    CHECK(WaitForSingleObject(n2, 0) == WAIT_TIMEOUT, "the second create keeps the first's state");
    HANDLE n3 = OpenEventA(EVENT_ALL_ACCESS, FALSE, name);
    CHECK(n3 != NULL && n3 != n1, "OpenEventA");
    SetEvent(n3);
    CHECK(WaitForSingleObject(n1, 0) == WAIT_OBJECT_0, "opened event shares the state");
    CHECK(WaitForSingleObject(n2, 0) == WAIT_OBJECT_0 && WaitForSingleObject(n2, 0) == WAIT_OBJECT_0,
          "and the first's manual reset");
    SetLastError(0);
    HANDLE n4 = OpenEventA(EVENT_ALL_ACCESS, FALSE, missing);
    CHECK(n4 == NULL && GetLastError() == ERROR_FILE_NOT_FOUND, "OpenEventA missing: ERROR_FILE_NOT_FOUND");
    CloseHandle(n1);
    CloseHandle(n2);
    CloseHandle(n3);
    n4 = OpenEventA(EVENT_ALL_ACCESS, FALSE, name);
    CHECK(n4 == NULL && GetLastError() == ERROR_FILE_NOT_FOUND, "the name goes with its last handle");

    /* Kernel object names (Windows' answers, from the conformance oracle): case-sensitive,
     * Local\ stripped, Global\ a separate set, no other backslash, MAX_PATH. */
    char upper[80], local[96], global[96], longname[300];
    snprintf(upper, sizeof upper, "NPIPE_SYNC_CHECKS_%d", (int)getpid());
    snprintf(local, sizeof local, "Local\\%s", name);
    snprintf(global, sizeof global, "Global\\%s", name);
    n1 = CreateEventA(NULL, TRUE, FALSE, name);
    SetLastError(0);
    CHECK(OpenEventA(EVENT_ALL_ACCESS, FALSE, upper) == NULL && GetLastError() == ERROR_FILE_NOT_FOUND,
          "event names are case-sensitive");
    n2 = OpenEventA(EVENT_ALL_ACCESS, FALSE, local);
    CHECK(n2 != NULL, "Local\\ names the same event");
    SetEvent(n2);
    CHECK(WaitForSingleObject(n1, 0) == WAIT_OBJECT_0, "through Local\\");
    SetLastError(0);
    CHECK(OpenEventA(EVENT_ALL_ACCESS, FALSE, global) == NULL && GetLastError() == ERROR_FILE_NOT_FOUND,
          "Global\\ is another set of names");
    n3 = CreateEventA(NULL, TRUE, FALSE, global);
    CHECK(n3 != NULL && GetLastError() == ERROR_SUCCESS, "Global\\ creates its own");
    CloseHandle(n3);
    CloseHandle(n2);
    SetLastError(0);
    CHECK(CreateEventA(NULL, TRUE, FALSE, "npipe_no_such_dir\\x") == NULL && GetLastError() == ERROR_PATH_NOT_FOUND,
          "a backslash: ERROR_PATH_NOT_FOUND");
    SetLastError(0);
    CHECK(CreateEventA(NULL, TRUE, FALSE, "LOCAL\\x") == NULL && GetLastError() == ERROR_PATH_NOT_FOUND,
          "prefixes are case-sensitive");
    SetLastError(0);
    CHECK(CreateEventA(NULL, TRUE, FALSE, "Local\\") == NULL && GetLastError() == ERROR_INVALID_NAME,
          "nothing after Local\\: ERROR_INVALID_NAME");
    SetLastError(0);
    CHECK(CreateEventA(NULL, TRUE, FALSE, "\\x") == NULL && GetLastError() == 161 /* ERROR_BAD_PATHNAME */,
          "a leading backslash: ERROR_BAD_PATHNAME");
    SetLastError(0);
    CHECK(CreateEventA(NULL, TRUE, FALSE, "Global") == NULL && GetLastError() == ERROR_INVALID_HANDLE,
          "the name of a namespace link: ERROR_INVALID_HANDLE");
    memset(longname, 'x', 260);
    longname[260] = 0;
    SetLastError(0);
    CHECK(CreateEventA(NULL, TRUE, FALSE, longname) == NULL && GetLastError() == ERROR_FILENAME_EXCED_RANGE,
          "260 characters: ERROR_FILENAME_EXCED_RANGE");
    SetLastError(0);
    CHECK(OpenEventA(EVENT_ALL_ACCESS, FALSE, longname) == NULL && GetLastError() == ERROR_FILENAME_EXCED_RANGE,
          "OpenEventA 260 characters: ERROR_FILENAME_EXCED_RANGE");
    longname[259] = 0;
    n2 = CreateEventA(NULL, TRUE, FALSE, longname);
    CHECK(n2 != NULL, "259 characters");
    CloseHandle(n2);
    SetLastError(77);
    n2 = CreateEventA(NULL, TRUE, FALSE, "");
    n3 = CreateEventA(NULL, TRUE, FALSE, "");
    CHECK(n2 != NULL && n3 != NULL && GetLastError() == ERROR_SUCCESS, "an empty name is no name");
    SetEvent(n2);
    CHECK(WaitForSingleObject(n3, 0) == WAIT_TIMEOUT, "two empty-named events are two events");
    CloseHandle(n2);
    CloseHandle(n3);
    SetLastError(0);
    CHECK(OpenEventA(EVENT_ALL_ACCESS, FALSE, NULL) == NULL && GetLastError() == ERROR_INVALID_PARAMETER,
          "OpenEventA NULL: ERROR_INVALID_PARAMETER");
    SetLastError(0);
    CHECK(OpenEventA(EVENT_ALL_ACCESS, FALSE, "") == NULL && GetLastError() == ERROR_INVALID_HANDLE,
          "OpenEventA empty: ERROR_INVALID_HANDLE");
    CloseHandle(n1);

    /* A named event whose last handle closes while another thread waits on it lives until that
     * wait ends, and no longer: the name is free again at once. */
    char lifetime[64];
    snprintf(lifetime, sizeof lifetime, "npipe_sync_checks_lifetime_%d", (int)getpid());
    atomic_int lw = 0;
    struct waiter lwait = { CreateEventA(NULL, TRUE, FALSE, lifetime), 300, 0, &lw };
    CHECK(lwait.ev != NULL, "named event for the lifetime check");
    HANDLE lt = start(wait_and_count, &lwait, 0, NULL);
    Sleep(50);
    CHECK(CloseHandle(lwait.ev), "closed while a thread waits on it");
    CHECK(WaitForSingleObject(lt, 5000) == WAIT_OBJECT_0 && lwait.result == WAIT_TIMEOUT,
          "the wait goes on to its timeout");
    CloseHandle(lt);
    SetLastError(0);
    CHECK(OpenEventA(EVENT_ALL_ACCESS, FALSE, lifetime) == NULL && GetLastError() == ERROR_FILE_NOT_FOUND,
          "the event went with the wait");

    CloseHandle(m);
    CloseHandle(a);
}

/* ---- WaitForMultipleObjects ------------------------------------------------------------ */

struct delayed { HANDLE ev; DWORD ms; };
static DWORD WINAPI set_later(LPVOID p) {
    struct delayed *d = p;
    Sleep(d->ms);
    SetEvent(d->ev);
    return 0;
}

static void waits(void) {
    HANDLE m = CreateEventA(NULL, TRUE, FALSE, NULL);
    HANDLE a = CreateEventA(NULL, FALSE, FALSE, NULL);
    HANDLE both[2] = { m, a };
    CHECK(WaitForMultipleObjects(2, both, FALSE, 0) == WAIT_TIMEOUT, "any, none set");
    SetEvent(a);
    CHECK(WaitForMultipleObjects(2, both, FALSE, 0) == WAIT_OBJECT_0 + 1, "any, second set");
    CHECK(WaitForSingleObject(a, 0) == WAIT_TIMEOUT, "any consumed the auto event");
    SetEvent(a);
    CHECK(WaitForMultipleObjects(2, both, TRUE, 0) == WAIT_TIMEOUT, "all, one set");
    CHECK(WaitForMultipleObjects(2, both, TRUE, 30) == WAIT_TIMEOUT, "all, one set, 30 ms");
    CHECK(WaitForSingleObject(a, 0) == WAIT_OBJECT_0, "a failed wait-all consumes nothing");
    SetEvent(a);
    SetEvent(m);
    CHECK(WaitForMultipleObjects(2, both, TRUE, 0) == WAIT_OBJECT_0, "all, both set");
    CHECK(WaitForSingleObject(a, 0) == WAIT_TIMEOUT, "wait-all consumed the auto event");
    CHECK(WaitForSingleObject(m, 0) == WAIT_OBJECT_0, "and left the manual one set");
    SetEvent(a);
    CHECK(WaitForMultipleObjects(2, both, FALSE, 0) == WAIT_OBJECT_0, "any, both set: lowest index");
    CHECK(WaitForSingleObject(a, 0) == WAIT_OBJECT_0, "the auto event at a higher index is not consumed");

    /* A wait-all completes when the last object is set by another thread. */
    ResetEvent(m);
    SetEvent(a);
    struct delayed d = { m, 100 };
    HANDLE t = start(set_later, &d, 0, NULL);
    DWORD t0 = GetTickCount();
    CHECK(WaitForMultipleObjects(2, both, TRUE, 5000) == WAIT_OBJECT_0, "all, completed by another thread");
    CHECK(GetTickCount() - t0 >= 80, "it waited for the other thread");
    CHECK(WaitForSingleObject(a, 0) == WAIT_TIMEOUT, "and consumed the auto event then");
    WaitForSingleObject(t, INFINITE);
    CloseHandle(t);

    /* Bad arguments. */
    CHECK(WaitForMultipleObjects(0, both, FALSE, 0) == WAIT_FAILED && GetLastError() == ERROR_INVALID_PARAMETER,
          "0 handles: ERROR_INVALID_PARAMETER");
    HANDLE many[MAXIMUM_WAIT_OBJECTS + 1];
    for (int i = 0; i <= MAXIMUM_WAIT_OBJECTS; i++) many[i] = CreateEventA(NULL, FALSE, FALSE, NULL);
    SetLastError(0);
    CHECK(WaitForMultipleObjects(MAXIMUM_WAIT_OBJECTS + 1, many, FALSE, 0) == WAIT_FAILED &&
              GetLastError() == ERROR_INVALID_PARAMETER,
          "65 handles: ERROR_INVALID_PARAMETER");
    CHECK(WaitForMultipleObjects(MAXIMUM_WAIT_OBJECTS, many, FALSE, 0) == WAIT_TIMEOUT, "64 handles");
    SetEvent(many[MAXIMUM_WAIT_OBJECTS - 1]);
    CHECK(WaitForMultipleObjects(MAXIMUM_WAIT_OBJECTS, many, FALSE, 0) == WAIT_OBJECT_0 + 63, "64 handles, last set");
    for (int i = 0; i <= MAXIMUM_WAIT_OBJECTS; i++) CloseHandle(many[i]);
    HANDLE gone = closed_handle();
    CHECK(WaitForSingleObject(gone, 0) == WAIT_FAILED && GetLastError() == ERROR_INVALID_HANDLE,
          "closed handle: ERROR_INVALID_HANDLE");
    CHECK(WaitForSingleObject(NULL, 0) == WAIT_FAILED && GetLastError() == ERROR_INVALID_HANDLE,
          "NULL handle: ERROR_INVALID_HANDLE");
    HANDLE mixed[2] = { m, gone };
    SetEvent(m);
    CHECK(WaitForMultipleObjects(2, mixed, FALSE, 0) == WAIT_FAILED && GetLastError() == ERROR_INVALID_HANDLE,
          "any with one closed handle: ERROR_INVALID_HANDLE");

    /* Wait-all with one object twice fails (Windows: STATUS_INVALID_PARAMETER_MIX), after the
     * handles were checked; wait-any may name it twice. Two handles to one named event are
     * one object. */
    SetEvent(m);
    HANDLE twice[2] = { m, m };
    SetLastError(0);
    CHECK(WaitForMultipleObjects(2, twice, TRUE, 0) == WAIT_FAILED && GetLastError() == ERROR_INVALID_PARAMETER,
          "wait-all, one handle twice: ERROR_INVALID_PARAMETER");
    CHECK(WaitForMultipleObjects(2, twice, FALSE, 0) == WAIT_OBJECT_0, "wait-any, one handle twice");
    char dname[64];
    snprintf(dname, sizeof dname, "npipe_sync_checks_dup_%d", (int)getpid());
    HANDLE d1 = CreateEventA(NULL, TRUE, TRUE, dname), d2 = OpenEventA(EVENT_ALL_ACCESS, FALSE, dname);
    HANDLE same[2] = { d1, d2 };
    SetLastError(0);
    CHECK(WaitForMultipleObjects(2, same, TRUE, 0) == WAIT_FAILED && GetLastError() == ERROR_INVALID_PARAMETER,
          "wait-all, one named event through two handles: ERROR_INVALID_PARAMETER");
    CloseHandle(d1);
    CloseHandle(d2);
    HANDLE dup_bad[3] = { m, m, closed_handle() };
    SetLastError(0);
    CHECK(WaitForMultipleObjects(3, dup_bad, TRUE, 0) == WAIT_FAILED && GetLastError() == ERROR_INVALID_HANDLE,
          "a bad handle is reported before a duplicate");

    /* INVALID_HANDLE_VALUE is GetCurrentProcess(): a wait on it times out. */
    DWORD t1 = GetTickCount();
    SetLastError(0);
    CHECK(WaitForSingleObject(INVALID_HANDLE_VALUE, 0) == WAIT_TIMEOUT, "wait on (HANDLE)-1: WAIT_TIMEOUT");
    CHECK(WaitForSingleObject(INVALID_HANDLE_VALUE, 50) == WAIT_TIMEOUT && GetTickCount() - t1 >= 45,
          "wait on (HANDLE)-1 for 50 ms: WAIT_TIMEOUT after 50 ms");
    ResetEvent(m);
    HANDLE with_proc[2] = { m, INVALID_HANDLE_VALUE };
    CHECK(WaitForMultipleObjects(2, with_proc, FALSE, 0) == WAIT_TIMEOUT, "wait-any with (HANDLE)-1: WAIT_TIMEOUT");
    SetEvent(m);
    CHECK(WaitForMultipleObjects(2, with_proc, FALSE, 0) == WAIT_OBJECT_0, "and an event set: that event");
    CHECK(WaitForMultipleObjects(2, with_proc, TRUE, 0) == WAIT_TIMEOUT, "wait-all with (HANDLE)-1 never completes");
    HANDLE procs[2] = { INVALID_HANDLE_VALUE, INVALID_HANDLE_VALUE };
    SetLastError(0);
    CHECK(WaitForMultipleObjects(2, procs, TRUE, 0) == WAIT_FAILED && GetLastError() == ERROR_INVALID_PARAMETER,
          "wait-all on (HANDLE)-1 twice: the same object twice");
    SetLastError(0);
    CHECK(!SetEvent(INVALID_HANDLE_VALUE) && GetLastError() == ERROR_INVALID_HANDLE,
          "SetEvent((HANDLE)-1): not an event");

    /* Timeouts: WAIT_TIMEOUT (258) after at least the time asked. */
    ResetEvent(m);
    t0 = GetTickCount();
    CHECK(WaitForSingleObject(m, 100) == 258, "WAIT_TIMEOUT is 258");
    DWORD took = GetTickCount() - t0;
    CHECK(took >= 95 && took < 2000, "100 ms timeout");
    t0 = GetTickCount();
    CHECK(WaitForMultipleObjects(2, both, FALSE, 60) == WAIT_TIMEOUT && GetTickCount() - t0 >= 55,
          "WaitForMultipleObjects 60 ms timeout");

    CloseHandle(m);
    CloseHandle(a);
}

/* ---- threads --------------------------------------------------------------------------- */

struct worker { HANDLE go; DWORD own_id; atomic_int ran; DWORD ret; };
static DWORD WINAPI gated_worker(LPVOID p) {
    struct worker *w = p;
    w->own_id = GetCurrentThreadId();
    atomic_store(&w->ran, 1);
    if (w->go) WaitForSingleObject(w->go, 5000);
    return w->ret;
}

static int after_exit;
static void deep_exit(DWORD code) {
    ExitThread(code);
}
static DWORD WINAPI exiting_worker(LPVOID p) {
    deep_exit((DWORD)(uintptr_t)p);
    after_exit = 1;
    return 1;
}

static int cleanup_ran;
static void note_cleanup(void *p) { (void)p; cleanup_ran = 1; }
static DWORD WINAPI exit_with_cleanup(LPVOID p) {
    (void)p;
    pthread_cleanup_push(note_cleanup, NULL);
    ExitThread(55);
    pthread_cleanup_pop(0);
    return 0;
}

/* A thread not made by CreateThread: ExitThread ends it too. */
static void *posix_exiting(void *p) {
    (void)p;
    ExitThread(3);
    after_exit = 2;
    return (void *)1;
}

struct stack_probe { size_t size; int ok; };
static size_t own_stack_size(void) {
    pthread_attr_t at;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &at) != 0) return 0;
    pthread_attr_getstacksize(&at, &size);
    pthread_attr_destroy(&at);
    return size;
}
static int deep(int n) {
    volatile char pad[1024];
    pad[0] = (char)n;
    return n == 0 ? pad[0] : deep(n - 1) + pad[0];
}
static DWORD WINAPI stack_worker(LPVOID p) {
    struct stack_probe *s = p;
    s->size = own_stack_size();
    s->ok = deep(200) >= 0; /* ~200 KiB of stack */
    return 0;
}

static void threads(void) {
    DWORD tid = 0, code = 1;
    struct worker w = { CreateEventA(NULL, TRUE, FALSE, NULL), 0, 0, 7 };
    HANDLE t = CreateThread(NULL, 0, gated_worker, &w, 0, &tid);
    CHECK(t != NULL, "CreateThread");
    CHECK(tid != 0 && tid != GetCurrentThreadId(), "lpThreadId set before CreateThread returns");
    CHECK(GetExitCodeThread(t, &code) && code == STILL_ACTIVE, "STILL_ACTIVE (259) while running");
    CHECK(WaitForSingleObject(t, 50) == WAIT_TIMEOUT, "a running thread's handle is not signalled");
    SetEvent(w.go);
    CHECK(WaitForSingleObject(t, 5000) == WAIT_OBJECT_0, "the handle is signalled when the thread ends");
    CHECK(WaitForSingleObject(t, 0) == WAIT_OBJECT_0, "and stays signalled");
    CHECK(GetExitCodeThread(t, &code) && code == 7, "the exit code is the return value");
    CHECK(w.own_id == tid, "lpThreadId is the thread's GetCurrentThreadId");
    int fd = npipe_wait_fd(t);
    CHECK(fd >= 0 && readable(fd), "npipe_wait_fd of an ended thread polls readable");
    CHECK(CloseHandle(t), "CloseHandle thread");
    CHECK(!CloseHandle(t) && GetLastError() == ERROR_INVALID_HANDLE, "CloseHandle twice");
    CHECK(!GetExitCodeThread(t, &code) && GetLastError() == ERROR_INVALID_HANDLE, "GetExitCodeThread closed");

    /* GetCurrentThreadId is the Linux tid. */
    CHECK(GetCurrentThreadId() == (DWORD)syscall(SYS_gettid), "GetCurrentThreadId is gettid");
    /* And in a forked child, whose one thread has a new tid (the library keeps each thread's
     * tid once asked: it must not give the parent's). */
    pid_t forked = fork();
    if (forked == 0) _exit(GetCurrentThreadId() == (DWORD)syscall(SYS_gettid) ? 0 : 1);
    int forked_status = -1;
    CHECK(forked > 0 && waitpid(forked, &forked_status, 0) == forked && WIFEXITED(forked_status) &&
              WEXITSTATUS(forked_status) == 0,
          "GetCurrentThreadId in a forked child is the child's tid");

    /* ExitThread from a nested call: the code, and nothing after it runs. */
    t = start(exiting_worker, (void *)(uintptr_t)1234, 0, NULL);
    CHECK(WaitForSingleObject(t, 5000) == WAIT_OBJECT_0, "ExitThread ends the thread");
    CHECK(GetExitCodeThread(t, &code) && code == 1234 && after_exit == 0, "ExitThread's code");
    CloseHandle(t);
    t = start(exit_with_cleanup, NULL, 0, NULL);
    CHECK(WaitForSingleObject(t, 5000) == WAIT_OBJECT_0 && GetExitCodeThread(t, &code) && code == 55,
          "ExitThread under a cleanup handler");
    CHECK(cleanup_ran == 1, "ExitThread unwinds the C frames (cleanup handlers run)");
    CloseHandle(t);
    pthread_t pt;
    void *ret = NULL;
    CHECK(pthread_create(&pt, NULL, posix_exiting, NULL) == 0 && pthread_join(pt, &ret) == 0 && ret == NULL &&
              after_exit == 0,
          "ExitThread on a thread CreateThread did not make");

    /* CREATE_SUSPENDED: the id is known, the thread waits for ResumeThread. */
    struct worker s = { NULL, 0, 0, 9 };
    tid = 0;
    t = CreateThread(NULL, 0, gated_worker, &s, CREATE_SUSPENDED, &tid);
    CHECK(t != NULL && tid != 0, "CREATE_SUSPENDED: handle and id");
    Sleep(100);
    CHECK(atomic_load(&s.ran) == 0, "a suspended thread does not run");
    CHECK(GetExitCodeThread(t, &code) && code == STILL_ACTIVE, "suspended: STILL_ACTIVE");
    CHECK(WaitForSingleObject(t, 0) == WAIT_TIMEOUT, "suspended: not signalled");
    CHECK(ResumeThread(t) == 1, "ResumeThread: previous count 1");
    CHECK(WaitForSingleObject(t, 5000) == WAIT_OBJECT_0 && atomic_load(&s.ran) == 1, "resumed thread ran");
    CHECK(s.own_id == tid, "a suspended thread's id is its GetCurrentThreadId");
    CHECK(ResumeThread(t) == 0, "ResumeThread again: 0");
    CHECK(GetExitCodeThread(t, &code) && code == 9, "resumed thread's exit code");
    CloseHandle(t);
    /* A thread whose handle is closed while it runs goes on running. */
    struct worker c = { CreateEventA(NULL, TRUE, FALSE, NULL), 0, 0, 0 };
    HANDLE done = CreateEventA(NULL, TRUE, FALSE, NULL);
    struct delayed d = { done, 10 };
    t = start(gated_worker, &c, 0, NULL);
    CHECK(CloseHandle(t), "close a running thread's handle");
    HANDLE t2 = start(set_later, &d, 0, NULL);
    SetEvent(c.go);
    CHECK(WaitForSingleObject(done, 5000) == WAIT_OBJECT_0 && WaitForSingleObject(t2, 5000) == WAIT_OBJECT_0,
          "threads run on after CloseHandle");
    CloseHandle(t2);
    CloseHandle(done);
    CloseHandle(c.go);

    /* Bad arguments. */
    HANDLE ev = CreateEventA(NULL, TRUE, FALSE, NULL);
    HANDLE gone = closed_handle();
    SetLastError(0);
    CHECK(CreateThread(NULL, 0, NULL, NULL, 0, &tid) == NULL && GetLastError() == ERROR_INVALID_PARAMETER,
          "CreateThread NULL routine");
    CHECK(CreateThread(NULL, 0, gated_worker, &s, 0x8, &tid) == NULL && GetLastError() == ERROR_INVALID_PARAMETER,
          "CreateThread unknown flag");
    CHECK(ResumeThread(gone) == (DWORD)-1 && GetLastError() == ERROR_INVALID_HANDLE, "ResumeThread closed handle");
    CHECK(ResumeThread(ev) == (DWORD)-1 && GetLastError() == ERROR_INVALID_HANDLE, "ResumeThread on an event");
    CHECK(!GetExitCodeThread(ev, &code) && GetLastError() == ERROR_INVALID_HANDLE, "GetExitCodeThread event");
    CHECK(!GetExitCodeThread(ev, NULL) && GetLastError() == ERROR_INVALID_HANDLE, "handle checked before pointer");
    CHECK(!GetExitCodeThread(GetCurrentThread(), NULL) && GetLastError() == ERROR_NOACCESS,
          "GetExitCodeThread NULL out: ERROR_NOACCESS");
    CloseHandle(ev);

    /* The pseudo handle. */
    CHECK(GetCurrentThread() == (HANDLE)(LONG_PTR)-2, "GetCurrentThread is (HANDLE)-2");
    CHECK(GetExitCodeThread(GetCurrentThread(), &code) && code == STILL_ACTIVE, "pseudo handle: STILL_ACTIVE");
    CHECK(ResumeThread(GetCurrentThread()) == 0, "pseudo handle: ResumeThread 0");
    DWORD t0 = GetTickCount();
    CHECK(WaitForSingleObject(GetCurrentThread(), 50) == WAIT_TIMEOUT && GetTickCount() - t0 >= 45,
          "waiting on the pseudo handle times out");

    /* Stack sizes: a reservation is the stack; a small commit size keeps the default stack. */
    struct stack_probe sp = { 0, 0 };
    t = CreateThread(NULL, 256 * 1024, stack_worker, &sp, STACK_SIZE_PARAM_IS_A_RESERVATION, NULL);
    CHECK(t != NULL && WaitForSingleObject(t, 5000) == WAIT_OBJECT_0, "STACK_SIZE_PARAM_IS_A_RESERVATION");
    CHECK(sp.size >= 256 * 1024 && sp.size < 1024 * 1024, "a 256 KiB reservation is the stack");
    CloseHandle(t);
    sp = (struct stack_probe){ 0, 0 };
    t = CreateThread(NULL, 4096, stack_worker, &sp, 0, NULL);
    CHECK(t != NULL && WaitForSingleObject(t, 5000) == WAIT_OBJECT_0 && sp.ok, "4 KiB commit size");
    CHECK(sp.size >= 1024 * 1024, "a small commit size leaves the default reserve");
    CloseHandle(t);
    sp = (struct stack_probe){ 0, 0 };
    t = CreateThread(NULL, 16 * 1024 * 1024 + 1, stack_worker, &sp, 0, NULL);
    CHECK(t != NULL && WaitForSingleObject(t, 5000) == WAIT_OBJECT_0, "17 MiB commit size");
    CHECK(sp.size >= 17 * 1024 * 1024, "a commit size above the default grows the stack");
    CloseHandle(t);
    SetLastError(0);
    CHECK(CreateThread(NULL, (SIZE_T)1 << 62, stack_worker, &sp, STACK_SIZE_PARAM_IS_A_RESERVATION, NULL) == NULL &&
              GetLastError() == ERROR_NOT_ENOUGH_MEMORY,
          "an impossible stack: ERROR_NOT_ENOUGH_MEMORY");
}

/* ---- APCs ------------------------------------------------------------------------------ */

static atomic_int apc_count;
static DWORD apc_thread;
static ULONG_PTR apc_data[8];
static VOID CALLBACK record_apc(ULONG_PTR data) {
    int i = atomic_fetch_add(&apc_count, 1);
    if (i < 8) apc_data[i] = data;
    apc_thread = GetCurrentThreadId();
}

/* Runs only alertable waits until an APC tells it to stop. */
struct alertable { atomic_int stop; DWORD result; int waits; };
static VOID CALLBACK stop_apc(ULONG_PTR p) {
    struct alertable *a = (struct alertable *)p;
    atomic_store(&a->stop, 1);
    apc_thread = GetCurrentThreadId();
}
static DWORD WINAPI alertable_loop(LPVOID p) {
    struct alertable *a = p;
    while (!atomic_load(&a->stop) && a->waits < 100) {
        a->result = SleepEx(5000, TRUE);
        a->waits++;
    }
    return 0;
}

/* Sleeps (not alertable), then waits alertably once. */
struct sleeper { DWORD plain_ms; int count_after_plain; DWORD result; };
static DWORD WINAPI plain_then_alertable(LPVOID p) {
    struct sleeper *s = p;
    Sleep(s->plain_ms);
    s->count_after_plain = atomic_load(&apc_count);
    s->result = SleepEx(0, TRUE);
    return 0;
}

static int order, apc_order, routine_order;
static VOID CALLBACK early_apc(ULONG_PTR p) { (void)p; apc_order = ++order; }
static DWORD WINAPI note_order(LPVOID p) { (void)p; routine_order = ++order; return 0; }
static DWORD WINAPI returns_zero(LPVOID p) { (void)p; return 0; }
static DWORD WINAPI waits_on_gate(LPVOID p) { WaitForSingleObject((HANDLE)p, 3000); return 0; }

/* A plain pthread (not CreateThread) that uses the library, then calls it again from a
 * pthread key destructor, which glibc runs after the library's own thread-locals are gone. */
static pthread_key_t teardown_key;
static volatile DWORD teardown_result;
static void teardown_dtor(void *p) {
    (void)p;
    QueueUserAPC(record_apc, GetCurrentThread(), 51);
    teardown_result = SleepEx(0, TRUE);
}
static void *teardown_thread(void *p) {
    (void)p;
    pthread_key_create(&teardown_key, teardown_dtor);
    pthread_setspecific(teardown_key, (void *)1);
    /* Use the library: this thread now has an APC queue and a thread entry. */
    QueueUserAPC(record_apc, GetCurrentThread(), 50);
    SleepEx(0, TRUE);
    atomic_store(&apc_count, 0);
    return NULL;
}

static void apcs(void) {
    HANDLE ev = CreateEventA(NULL, TRUE, FALSE, NULL);
    /* To this thread: queued, run only by an alertable wait. */
    CHECK(QueueUserAPC(record_apc, GetCurrentThread(), 5) != 0, "QueueUserAPC to self");
    Sleep(20);
    CHECK(atomic_load(&apc_count) == 0, "a plain Sleep does not run APCs");
    CHECK(WaitForSingleObject(ev, 20) == WAIT_TIMEOUT && atomic_load(&apc_count) == 0,
          "a non-alertable wait does not run APCs");
    DWORD t0 = GetTickCount();
    CHECK(SleepEx(5000, TRUE) == WAIT_IO_COMPLETION, "SleepEx returns WAIT_IO_COMPLETION (192)");
    CHECK(GetTickCount() - t0 < 1000, "at once");
    CHECK(atomic_load(&apc_count) == 1 && apc_data[0] == 5 && apc_thread == GetCurrentThreadId(),
          "the APC ran on this thread with its data");
    CHECK(SleepEx(0, TRUE) == 0, "SleepEx with nothing queued: 0");
    /* Several run in one alertable wait, in order. */
    atomic_store(&apc_count, 0);
    QueueUserAPC(record_apc, GetCurrentThread(), 10);
    QueueUserAPC(record_apc, GetCurrentThread(), 11);
    QueueUserAPC(record_apc, GetCurrentThread(), 12);
    CHECK(WaitForSingleObjectEx(ev, 5000, TRUE) == WAIT_IO_COMPLETION, "WaitForSingleObjectEx alertable");
    CHECK(atomic_load(&apc_count) == 3 && apc_data[0] == 10 && apc_data[1] == 11 && apc_data[2] == 12,
          "queued APCs run first in, first out");
    atomic_store(&apc_count, 0);
    HANDLE one[1] = { ev };
    QueueUserAPC(record_apc, GetCurrentThread(), 13);
    CHECK(WaitForMultipleObjectsEx(1, one, FALSE, 5000, TRUE) == WAIT_IO_COMPLETION && atomic_load(&apc_count) == 1,
          "WaitForMultipleObjectsEx alertable");

    /* To another thread that only waits alertably. */
    struct alertable al = { 0, 0, 0 };
    DWORD tid = 0;
    HANDLE t = start(alertable_loop, &al, 0, &tid);
    Sleep(50);
    CHECK(QueueUserAPC(stop_apc, t, (ULONG_PTR)&al) != 0, "QueueUserAPC to another thread");
    CHECK(WaitForSingleObject(t, 3000) == WAIT_OBJECT_0, "its SleepEx ran the APC and it ended");
    CHECK(atomic_load(&al.stop) == 1 && apc_thread == tid, "the APC ran on the target thread");
    CHECK(al.result == WAIT_IO_COMPLETION && al.waits == 1, "its SleepEx returned WAIT_IO_COMPLETION");
    /* A thread that has ended takes no more APCs. */
    SetLastError(0);
    CHECK(QueueUserAPC(record_apc, t, 1) == 0 && GetLastError() == ERROR_GEN_FAILURE, "QueueUserAPC ended thread");
    CloseHandle(t);

    /* To a thread in a plain Sleep: it runs at its next alertable wait only. */
    atomic_store(&apc_count, 0);
    struct sleeper sl = { 300, -1, 99 };
    t = start(plain_then_alertable, &sl, 0, &tid);
    Sleep(50);
    CHECK(QueueUserAPC(record_apc, t, 21) != 0, "QueueUserAPC to a sleeping thread");
    Sleep(100);
    CHECK(atomic_load(&apc_count) == 0, "a plain Sleep does not run it");
    CHECK(WaitForSingleObject(t, 3000) == WAIT_OBJECT_0, "sleeper ends");
    CHECK(sl.count_after_plain == 0 && sl.result == WAIT_IO_COMPLETION && atomic_load(&apc_count) == 1 &&
              apc_thread == tid,
          "SleepEx(0, TRUE) after the Sleep runs it");
    CloseHandle(t);

    /* Queued before a suspended thread begins: it runs first (Windows: "the thread begins by
     * calling the APC function"). */
    t = CreateThread(NULL, 0, note_order, NULL, CREATE_SUSPENDED, NULL);
    CHECK(QueueUserAPC(early_apc, t, 0) != 0, "QueueUserAPC to a suspended thread");
    ResumeThread(t);
    CHECK(WaitForSingleObject(t, 3000) == WAIT_OBJECT_0 && apc_order == 1 && routine_order == 2,
          "the APC runs before the start routine");
    CloseHandle(t);

    /* An alertable wait looks at its objects first: a signalled object wins and the APC stays
     * queued (Windows returns 0 for WaitForSingleObjectEx(set event, 0, TRUE) with an APC
     * queued); with nothing signalled, the APC runs. */
    atomic_store(&apc_count, 0);
    HANDLE set_ev = CreateEventA(NULL, TRUE, TRUE, NULL), auto_set = CreateEventA(NULL, FALSE, TRUE, NULL);
    QueueUserAPC(record_apc, GetCurrentThread(), 31);
    CHECK(WaitForSingleObjectEx(set_ev, 0, TRUE) == WAIT_OBJECT_0 && atomic_load(&apc_count) == 0,
          "alertable wait on a set event: WAIT_OBJECT_0, the APC stays queued");
    CHECK(WaitForSingleObjectEx(set_ev, INFINITE, TRUE) == WAIT_OBJECT_0 && atomic_load(&apc_count) == 0,
          "the same with INFINITE");
    HANDLE mix[2] = { ev, auto_set };
    CHECK(WaitForMultipleObjectsEx(2, mix, FALSE, 0, TRUE) == WAIT_OBJECT_0 + 1 && atomic_load(&apc_count) == 0,
          "alertable wait-any, second set: its index, APC still queued");
    CHECK(WaitForSingleObjectEx(ev, 0, TRUE) == WAIT_IO_COMPLETION && atomic_load(&apc_count) == 1,
          "alertable wait on an unset event with an APC queued: WAIT_IO_COMPLETION");
    CloseHandle(set_ev);
    CloseHandle(auto_set);

    /* A thread that ends with APCs queued drops them (they never run); calls made while the
     * thread's locals are torn down (a pthread key destructor) neither run APCs nor crash. */
    atomic_store(&apc_count, 0);
    HANDLE gate = CreateEventA(NULL, TRUE, FALSE, NULL);
    t = start(waits_on_gate, gate, 0, NULL);
    Sleep(30);
    CHECK(QueueUserAPC(record_apc, t, 41) != 0, "QueueUserAPC to a thread in a plain wait");
    SetEvent(gate);
    CHECK(WaitForSingleObject(t, 3000) == WAIT_OBJECT_0, "the thread ended without an alertable wait");
    Sleep(20);
    CHECK(atomic_load(&apc_count) == 0, "its queued APC never ran");
    SetLastError(0);
    CHECK(QueueUserAPC(record_apc, t, 42) == 0 && GetLastError() == ERROR_GEN_FAILURE, "and it takes no more");
    CloseHandle(t);
    CloseHandle(gate);
    pthread_t pt;
    atomic_store(&apc_count, 0);
    teardown_result = 99;
    CHECK(pthread_create(&pt, NULL, teardown_thread, NULL) == 0 && pthread_join(pt, NULL) == 0,
          "a thread whose key destructor calls SleepEx and QueueUserAPC ends normally");
    CHECK(teardown_result == 0 && atomic_load(&apc_count) == 0,
          "during teardown: SleepEx(0, TRUE) returns 0, the APC queued then never runs");

    /* Bad arguments. */
    t = start(returns_zero, NULL, CREATE_SUSPENDED, NULL);
    HANDLE gone = closed_handle(); /* after `t`, which would reuse its slot */
    SetLastError(0);
    CHECK(QueueUserAPC(NULL, t, 0) == 0 && GetLastError() == ERROR_INVALID_PARAMETER, "QueueUserAPC NULL function");
    CHECK(QueueUserAPC(record_apc, gone, 0) == 0 && GetLastError() == ERROR_INVALID_HANDLE, "QueueUserAPC closed");
    CHECK(QueueUserAPC(record_apc, ev, 0) == 0 && GetLastError() == ERROR_INVALID_HANDLE, "QueueUserAPC event");
    ResumeThread(t);
    WaitForSingleObject(t, 3000);
    CloseHandle(t);
    CloseHandle(ev);
}

/* ---- npipe_wait_fd, GetTickCount ------------------------------------------------------- */

static void wait_fds(void) {
    HANDLE m = CreateEventA(NULL, TRUE, FALSE, NULL);
    HANDLE a = CreateEventA(NULL, FALSE, FALSE, NULL);
    int fm = npipe_wait_fd(m), fa = npipe_wait_fd(a);
    CHECK(fm >= 0 && fa >= 0, "npipe_wait_fd on events");
    CHECK(!readable(fm), "unset: not readable");
    SetEvent(m);
    CHECK(readable(fm) && readable(fm), "set: readable, and polling consumes nothing");
    ResetEvent(m);
    CHECK(!readable(fm), "reset: not readable");
    SetEvent(a);
    CHECK(readable(fa), "auto set: readable");
    CHECK(WaitForSingleObject(a, 0) == WAIT_OBJECT_0 && !readable(fa), "a wait takes it: not readable");
    SetEvent(m);
    PulseEvent(m);
    CHECK(!readable(fm), "after PulseEvent: not readable");
    HANDLE gone = closed_handle();
    CHECK(npipe_wait_fd(gone) == -1 && GetLastError() == ERROR_INVALID_HANDLE, "npipe_wait_fd closed handle");
    CloseHandle(m);
    CloseHandle(a);

    DWORD t0 = GetTickCount();
    Sleep(50);
    DWORD dt = GetTickCount() - t0;
    CHECK(dt >= 50 && dt < 1000, "GetTickCount advances across Sleep(50)");

    LARGE_INTEGER freq, c0, c1;
    CHECK(QueryPerformanceFrequency(&freq) && freq.QuadPart == 10000000, "QueryPerformanceFrequency is 10 MHz");
    CHECK(QueryPerformanceCounter(&c0), "QueryPerformanceCounter");
    Sleep(20);
    CHECK(QueryPerformanceCounter(&c1), "QueryPerformanceCounter again");
    LONGLONG us = (c1.QuadPart - c0.QuadPart) * 1000000 / freq.QuadPart;
    CHECK(us >= 20000 && us < 1000000, "the performance counter advances across Sleep(20)");
    SetLastError(0);
    CHECK(!QueryPerformanceCounter(NULL) && GetLastError() == ERROR_NOACCESS, "QueryPerformanceCounter(NULL)");
}

/* ---- HeapReAlloc ---------------------------------------------------------------------- */
static void heap_realloc(void) {
    HANDLE heap = GetProcessHeap();
    unsigned char *p = (unsigned char *)HeapAlloc(heap, 0, 16);
    CHECK(p != NULL, "HeapAlloc 16");
    memset(p, 0xAB, 16);
    unsigned char *q = (unsigned char *)HeapReAlloc(heap, HEAP_ZERO_MEMORY, p, 4096);
    CHECK(q != NULL, "HeapReAlloc to 4096");
    int kept = 1, zero = 1;
    for (int i = 0; i < 16; i++) kept &= q[i] == 0xAB;
    /* Zeroed from the end of the old block as malloc sized it (a documented departure). */
    for (int i = 64; i < 4096; i++) zero &= q[i] == 0;
    CHECK(kept, "HeapReAlloc keeps the old bytes");
    CHECK(zero, "HEAP_ZERO_MEMORY zeroes past the old block");
    CHECK(HeapReAlloc(heap, HEAP_REALLOC_IN_PLACE_ONLY, q, 8) == NULL, "in place only fails");
    CHECK(HeapFree(heap, 0, q), "HeapFree");
}

int main(void) {
    alarm(120); /* a hang fails the test instead of stalling it */
    events();
    waits();
    threads();
    apcs();
    wait_fds();
    heap_realloc();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
