/* Compile-only check of npipe's Win32 headers (<windows.h>, <tchar.h>, <strsafe.h>,
 * <npipe/win32.h>): tests/samples.rs compiles it with -fsyntax-only as C99 and C++11, with
 * -pedantic-errors and every warning an error, in both include orders (-DREVERSED). It uses the
 * declarations the way MSDN-style programs do, so a wrong type or a missing name fails the build.
 * The layout checks make an array of negative size when OVERLAPPED differs from Win32's.
 * With mingw-w64 (x86_64-w64-mingw32-gcc -fsyntax-only) it compiles against the real Windows
 * headers too, which shows the usage below is Win32's. */
#ifdef _WIN32
#define STRSAFE_NO_DEPRECATE /* lstrcpy and lstrcat are used below on purpose */
#endif
#ifndef REVERSED
#include <windows.h>
#include <tchar.h>
#include <strsafe.h>
#else
#include <strsafe.h>
#include <tchar.h>
#include <npipe/win32.h>
#include <windows.h>
#endif
#include <stddef.h>
#include <stdio.h>

#ifdef _WIN32 /* npipe's extensions, absent from Windows */
#define npipe_wait_fd(h) ((void)(h), -1)
#define npipe_handle_fd(h) ((void)(h), -1)
#endif

#define LAYOUT_CHECK(name, cond) typedef char name[(cond) ? 1 : -1]
LAYOUT_CHECK(overlapped_size, sizeof(OVERLAPPED) == 2 * sizeof(ULONG_PTR) + sizeof(PVOID) + sizeof(HANDLE));
LAYOUT_CHECK(overlapped_internal_high, offsetof(OVERLAPPED, InternalHigh) == sizeof(ULONG_PTR));
LAYOUT_CHECK(overlapped_offset, offsetof(OVERLAPPED, Offset) == 2 * sizeof(ULONG_PTR));
LAYOUT_CHECK(overlapped_offset_high, offsetof(OVERLAPPED, OffsetHigh) == 2 * sizeof(ULONG_PTR) + 4);
LAYOUT_CHECK(overlapped_pointer, offsetof(OVERLAPPED, Pointer) == 2 * sizeof(ULONG_PTR));
LAYOUT_CHECK(overlapped_event, offsetof(OVERLAPPED, hEvent) == 2 * sizeof(ULONG_PTR) + sizeof(PVOID));
LAYOUT_CHECK(dword_size, sizeof(DWORD) == 4 && sizeof(LONG) == 4 && sizeof(WORD) == 2 && sizeof(BYTE) == 1);
LAYOUT_CHECK(ulonglong_size, sizeof(ULONGLONG) == 8 && sizeof(LONGLONG) == 8);
LAYOUT_CHECK(ptr_size, sizeof(DWORD_PTR) == sizeof(void *) && sizeof(SIZE_T) == sizeof(void *));
LAYOUT_CHECK(tchar_size, sizeof(TCHAR) == 1 && sizeof(_TCHAR) == 1);
LAYOUT_CHECK(wait_values, WAIT_OBJECT_0 == 0 && WAIT_ABANDONED_0 == 0x80 && WAIT_IO_COMPLETION == 0xC0 &&
                              WAIT_TIMEOUT == 258 && WAIT_FAILED == 0xFFFFFFFF && INFINITE == 0xFFFFFFFF);
LAYOUT_CHECK(status_values, STATUS_PENDING == 0x103 && STILL_ACTIVE == 0x103 && MAXIMUM_WAIT_OBJECTS == 64);
LAYOUT_CHECK(misc_values, MAX_PATH == 260 && CREATE_SUSPENDED == 4 && EVENT_MODIFY_STATE == 2 &&
                              EVENT_ALL_ACCESS == 0x1F0003 && SYNCHRONIZE == 0x100000);
LAYOUT_CHECK(memory_values, HEAP_ZERO_MEMORY == 8 && GPTR == 0x40 && LPTR == 0x40 && GMEM_FIXED == 0 &&
                                LMEM_FIXED == 0 && GMEM_ZEROINIT == 0x40 && LMEM_ZEROINIT == 0x40);
LAYOUT_CHECK(hresult_values, S_OK == 0 && STRSAFE_E_INSUFFICIENT_BUFFER == (HRESULT)0x8007007A &&
                                 STRSAFE_E_INVALID_PARAMETER == (HRESULT)0x80070057);

static DWORD WINAPI thread_proc(LPVOID lpParam) { return (DWORD)(DWORD_PTR)lpParam; }

static VOID WINAPI completion(DWORD dwErr, DWORD cbTransferred, LPOVERLAPPED lpOverlapped) {
    (void)dwErr;
    (void)cbTransferred;
    (void)lpOverlapped;
}

static VOID CALLBACK apc(ULONG_PTR dwParam) { (void)dwParam; }

typedef struct {
    OVERLAPPED oOverlap;
    HANDLE hPipeInst;
    TCHAR chRequest[MAX_PATH];
    DWORD cbRead;
} PIPEINST, *LPPIPEINST;

int _tmain(int argc, TCHAR *argv[]) {
    LPCTSTR lpszPipename = TEXT("\\\\.\\pipe\\header_check");
    PCTSTR pcName = _T("name");
    TCHAR achBuf[64];
    HANDLE hEvents[2], hThread, hHeap;
    OVERLAPPED ov;
    LPPIPEINST inst;
    DWORD dwWait, cbRet = 0, dwExit = 0, tid = 0;
    ULONGLONG t64;
    size_t cch = 0;
    BOOL fSuccess;
    HRESULT hr;
    LPBYTE pb;
    LPTSTR copy;
    int fd;

    (void)argc;
    (void)argv;
    ZeroMemory(&ov, sizeof(ov));
    ov.Offset = 0;
    ov.OffsetHigh = 0;
    ov.Pointer = NULL;
    ov.Internal = STATUS_PENDING;
    ov.InternalHigh = 0;
    hEvents[0] = CreateEvent(NULL, TRUE, FALSE, NULL);
    hEvents[1] = OpenEvent(EVENT_ALL_ACCESS | SYNCHRONIZE, FALSE, TEXT("Local\\header_check"));
    ov.hEvent = hEvents[0];
    SetEvent(hEvents[0]);
    ResetEvent(hEvents[0]);
    PulseEvent(hEvents[1]);
    (void)CreateEventW(NULL, FALSE, FALSE, NULL);
    (void)OpenEventA(EVENT_MODIFY_STATE, FALSE, "x");
    (void)OpenEventW(EVENT_MODIFY_STATE, FALSE, NULL);

    dwWait = WaitForMultipleObjects(2, hEvents, FALSE, INFINITE);
    if (dwWait == WAIT_FAILED || dwWait == WAIT_TIMEOUT || dwWait == WAIT_ABANDONED_0 ||
        dwWait - WAIT_OBJECT_0 > 1 || dwWait == WAIT_ABANDONED)
        return 1;
    dwWait = WaitForMultipleObjectsEx(2, hEvents, TRUE, 10, TRUE);
    if (WaitForSingleObject(hEvents[0], 0) != WAIT_OBJECT_0) return 1;
    if (WaitForSingleObjectEx(hEvents[0], 0, TRUE) == WAIT_IO_COMPLETION) return 1;
    Sleep(0);
    if (SleepEx(0, TRUE) == WAIT_IO_COMPLETION) return 1;

    fSuccess = GetOverlappedResult(INVALID_HANDLE_VALUE, &ov, &cbRet, FALSE);
    fSuccess = GetOverlappedResultEx(INVALID_HANDLE_VALUE, &ov, &cbRet, 0, FALSE) || fSuccess;
    if (!HasOverlappedIoCompleted(&ov)) CancelIoEx(INVALID_HANDLE_VALUE, &ov);
    CancelIo(INVALID_HANDLE_VALUE);
    ReadFileEx(INVALID_HANDLE_VALUE, achBuf, sizeof(achBuf), &ov, completion);
    WriteFileEx(INVALID_HANDLE_VALUE, achBuf, sizeof(achBuf), &ov, (LPOVERLAPPED_COMPLETION_ROUTINE)completion);
    if (!fSuccess && GetLastError() != ERROR_IO_INCOMPLETE && GetLastError() != ERROR_OPERATION_ABORTED) return 1;

    hThread = CreateThread(NULL, 0, thread_proc, (LPVOID)(DWORD_PTR)7, CREATE_SUSPENDED, &tid);
    ResumeThread(hThread);
    QueueUserAPC(apc, hThread, (ULONG_PTR)0);
    if (GetExitCodeThread(hThread, &dwExit) && dwExit == STILL_ACTIVE) WaitForSingleObject(hThread, INFINITE);
    CloseHandle(hThread);
    if (GetCurrentThreadId() == 0) ExitThread(1);
    t64 = GetTickCount64();
    if (GetTickCount() == 0 && t64 == 0) return 1;
    fd = npipe_wait_fd(hEvents[0]);
    fd = npipe_handle_fd(hEvents[0]) + fd;

    hHeap = GetProcessHeap();
    inst = (LPPIPEINST)HeapAlloc(hHeap, HEAP_ZERO_MEMORY, sizeof(PIPEINST));
    if (inst == NULL) return 1;
    inst->hPipeInst = INVALID_HANDLE_VALUE;
    hr = StringCchCopy(inst->chRequest, MAX_PATH, lpszPipename);
    hr = StringCchCat(inst->chRequest, MAX_PATH, pcName);
    hr = StringCchPrintf(achBuf, sizeof(achBuf) / sizeof(TCHAR), TEXT("%s #%lu"), inst->chRequest, (unsigned long)tid);
    hr = StringCbPrintf(achBuf, sizeof(achBuf), TEXT("%d"), 5);
    hr = StringCbCopy(achBuf, sizeof(achBuf), TEXT("x"));
    hr = StringCbCat(achBuf, sizeof(achBuf), TEXT("y"));
    hr = StringCchCopyN(achBuf, 64, TEXT("abc"), 2);
    hr = StringCchLength(achBuf, 64, &cch);
    hr = StringCbLength(achBuf, 64, &cch);
    if (FAILED(hr) || !SUCCEEDED(hr) || cch != (size_t)lstrlen(achBuf)) return 1;
    inst->cbRead = (DWORD)(lstrlen(inst->chRequest) + 1) * sizeof(TCHAR);
    lstrcpy(achBuf, TEXT("abc"));
    lstrcpyn(achBuf, TEXT("abcdef"), 4);
    lstrcat(achBuf, TEXT("d"));
    if (lstrcmp(achBuf, TEXT("abcd")) != 0 || lstrcmpi(achBuf, TEXT("ABCD")) != 0) return 1;
    HeapFree(hHeap, 0, inst);

    pb = (LPBYTE)GlobalAlloc(GPTR, 16);
    CopyMemory(pb, "0123456789abcdef", 16);
    MoveMemory(pb + 1, pb, 8);
    FillMemory(pb, 4, 0x2a);
    GlobalFree((HGLOBAL)pb);
    pb = (LPBYTE)LocalAlloc(LPTR, 16);
    LocalFree((HLOCAL)pb);
    SecureZeroMemory(achBuf, sizeof(achBuf));

    copy = _tcsdup(TEXT("Copy"));
    _tprintf(TEXT("%s %d %d %d\n"), copy, (int)_tcslen(copy), _tcsicmp(copy, _T("COPY")), _ttoi(_T("42")));
    _ftprintf(stderr, _T("%s\n"), _tcsupr(copy));
    _sntprintf(achBuf, 64, _T("%s"), _tcslwr(copy));
    if (_tcscmp(achBuf, _T("copy")) != 0 || _tcsncmp(achBuf, _T("cop"), 3) != 0 || !_tcschr(achBuf, 'p') ||
        !_tcsstr(achBuf, _T("op")) || _tcstol(_T("10"), NULL, 10) != 10 || _tcsnicmp(_T("AB"), _T("ab"), 2) != 0)
        return 1;
    _tcsncpy(achBuf, _T("xyz"), 64);
    _tcscpy(achBuf, _T("x"));
    _tcscat(achBuf, _T("y"));
    free(copy);
    (void)fd;
    return 0;
}
