/* npipe/win32.h: the Win32 named-pipe API on Linux, implemented by libnpipe.
 *
 * Code written against <windows.h> for these calls compiles against this header unchanged:
 * the names, types, constants and error codes are Win32's (as in Microsoft's documentation and
 * the mingw-w64 headers). DWORD, LONG and ULONG are 32 bits, as on Windows. GetLastError() is
 * thread-local.
 *
 * Link with -lnpipe -lpthread.
 *
 * The header compiles as C99 (and later) with -pedantic-errors, and as C++11 (and later).
 * <windows.h>, <tchar.h> and <strsafe.h> next to the npipe directory let MSDN-style programs
 * include the usual names; compile with -I pointing at this include directory.
 *
 * Where npipe departs from Win32, the declaration says so in a comment beginning "npipe departs:".
 * The main ones:
 *   - WCHAR is a 16-bit code unit (uint16_t), not the platform's 32-bit wchar_t, so L"..."
 *     literals are not WCHAR strings. TCHAR, TEXT() and the generic names (CreateFile...) are
 *     ANSI unless UNICODE is defined, as on Windows; with UNICODE, TEXT() exists only in C11 and
 *     later (see TCHAR below), and <tchar.h> and <strsafe.h> refuse to compile.
 *   - The heap functions (HeapAlloc, GlobalAlloc, LocalAlloc...), lstrlen/lstrcpy/lstrcmp... and
 *     ZeroMemory/CopyMemory... are static inline functions or macros in this header over the C
 *     library (malloc, calloc, free, strlen, memset...), not libnpipe exports.
 */
#ifndef NPIPE_WIN32_H
#define NPIPE_WIN32_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Calling conventions and decorations: all empty on Linux (one calling convention). */
#ifndef WINAPI
#define WINAPI
#endif
#ifndef APIENTRY
#define APIENTRY WINAPI
#endif
#ifndef CALLBACK
#define CALLBACK
#endif
#ifndef NTAPI
#define NTAPI
#endif
#ifndef CONST
#define CONST const
#endif

/* DECLSPEC_NORETURN: the function never returns (ExitThread). */
#ifndef DECLSPEC_NORETURN
#if defined(__GNUC__) || defined(__clang__)
#define DECLSPEC_NORETURN __attribute__((noreturn))
#elif defined(_MSC_VER)
#define DECLSPEC_NORETURN __declspec(noreturn)
#else
#define DECLSPEC_NORETURN
#endif
#endif

/* Nameless unions and structs (OVERLAPPED) are an extension before C11 and in C++: mark them the
 * way mingw-w64 does, so -pedantic-errors accepts them. Define NONAMELESSUNION to get the named
 * members u and s instead (ov.u.s.Offset), as with Microsoft's and mingw-w64's headers. */
#ifndef NPIPE_EXTENSION
#if defined(__GNUC__) || defined(__clang__)
#define NPIPE_EXTENSION __extension__
#else
#define NPIPE_EXTENSION
#endif
#endif
#ifndef DUMMYUNIONNAME
#ifdef NONAMELESSUNION
#define DUMMYUNIONNAME u
#else
#define DUMMYUNIONNAME
#endif
#endif
#ifndef DUMMYSTRUCTNAME
#ifdef NONAMELESSUNION
#define DUMMYSTRUCTNAME s
#else
#define DUMMYSTRUCTNAME
#endif
#endif

typedef void *HANDLE;
typedef HANDLE *PHANDLE, *LPHANDLE;
typedef HANDLE HLOCAL, HGLOBAL;
typedef uint8_t BYTE;
typedef BYTE *PBYTE, *LPBYTE;
typedef BYTE BOOLEAN, *PBOOLEAN;
typedef uint16_t WORD;
typedef WORD *PWORD, *LPWORD;
typedef uint32_t DWORD;
typedef DWORD *PDWORD, *LPDWORD;
typedef int32_t LONG;
typedef LONG *PLONG, *LPLONG;
typedef uint32_t ULONG;
typedef ULONG *PULONG;
typedef short SHORT;
typedef SHORT *PSHORT;
typedef unsigned short USHORT;
typedef USHORT *PUSHORT;
typedef unsigned char UCHAR;
typedef UCHAR *PUCHAR;
typedef int INT;
typedef INT *PINT, *LPINT;
typedef unsigned int UINT;
typedef UINT *PUINT;
typedef long long LONGLONG;
typedef LONGLONG *PLONGLONG;
typedef unsigned long long ULONGLONG;
typedef ULONGLONG *PULONGLONG;
typedef ULONGLONG DWORDLONG, DWORD64;
typedef int BOOL;
typedef BOOL *PBOOL, *LPBOOL;
typedef void VOID;
typedef void *PVOID, *LPVOID;
typedef const void *LPCVOID;
typedef char CHAR;
typedef CHAR *PCHAR;
typedef CHAR *LPSTR, *PSTR;
typedef const CHAR *LPCSTR, *PCSTR;
typedef uint16_t WCHAR;
typedef WCHAR *LPWSTR, *PWSTR;
typedef const WCHAR *LPCWSTR, *PCWSTR;
typedef uintptr_t ULONG_PTR;
typedef ULONG_PTR *PULONG_PTR;
typedef intptr_t LONG_PTR;
typedef LONG_PTR *PLONG_PTR;
typedef uintptr_t UINT_PTR;
typedef intptr_t INT_PTR;
typedef ULONG_PTR SIZE_T, DWORD_PTR;
typedef SIZE_T *PSIZE_T;
typedef DWORD_PTR *PDWORD_PTR;
typedef LONG HRESULT;

/* TCHAR and TEXT(): ANSI (char) unless UNICODE is defined, as in <winnt.h>.
 * npipe departs: with UNICODE, TCHAR is WCHAR (16 bits) and TEXT("x") is u"x", which needs C11
 * (char16_t is uint_least16_t, the same type as WCHAR). In C++ char16_t is a distinct type and in
 * C99 there is no 16-bit literal, so there TEXT() is left undefined under UNICODE: use the ANSI
 * names, or the ...W functions with WCHAR arrays you fill yourself. <tchar.h> and <strsafe.h>
 * are ANSI-only. */
#ifndef UNICODE
typedef char TCHAR, *PTCHAR;
typedef unsigned char TBYTE, *PTBYTE;
typedef LPSTR PTSTR, LPTSTR;
typedef LPCSTR PCTSTR, LPCTSTR;
#define __TEXT(quote) quote
#else
typedef WCHAR TCHAR, *PTCHAR;
typedef WCHAR TBYTE, *PTBYTE;
typedef LPWSTR PTSTR, LPTSTR;
typedef LPCWSTR PCTSTR, LPCTSTR;
#if !defined(__cplusplus) && defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define __TEXT(quote) u##quote
#endif
#endif
#ifdef __TEXT
#define TEXT(quote) __TEXT(quote)
#endif

typedef struct _OVERLAPPED {
    ULONG_PTR Internal;     /* NTSTATUS of the operation; STATUS_PENDING while it runs */
    ULONG_PTR InternalHigh; /* bytes transferred */
    NPIPE_EXTENSION union {
        NPIPE_EXTENSION struct {
            DWORD Offset;
            DWORD OffsetHigh;
        } DUMMYSTRUCTNAME;
        PVOID Pointer;
    } DUMMYUNIONNAME;
    HANDLE hEvent;
} OVERLAPPED, *POVERLAPPED, *LPOVERLAPPED;

/* Completion routine of ReadFileEx/WriteFileEx: runs in an alertable wait of the thread that
 * started the I/O, with the error code, the byte count and the OVERLAPPED pointer passed in. */
typedef VOID(WINAPI *LPOVERLAPPED_COMPLETION_ROUTINE)(DWORD dwErrorCode, DWORD dwNumberOfBytesTransfered,
                                                      LPOVERLAPPED lpOverlapped);
typedef DWORD(WINAPI *PTHREAD_START_ROUTINE)(LPVOID lpThreadParameter);
typedef PTHREAD_START_ROUTINE LPTHREAD_START_ROUTINE;
typedef VOID(NTAPI *PAPCFUNC)(ULONG_PTR Parameter);

typedef struct _SECURITY_ATTRIBUTES {
    DWORD nLength;
    LPVOID lpSecurityDescriptor;
    BOOL bInheritHandle;
} SECURITY_ATTRIBUTES, *PSECURITY_ATTRIBUTES, *LPSECURITY_ATTRIBUTES;

#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif

#define INVALID_HANDLE_VALUE ((HANDLE)(LONG_PTR)-1)

/* CreateNamedPipe open mode */
#define PIPE_ACCESS_INBOUND 0x00000001
#define PIPE_ACCESS_OUTBOUND 0x00000002
#define PIPE_ACCESS_DUPLEX 0x00000003
#define FILE_FLAG_FIRST_PIPE_INSTANCE 0x00080000
#define FILE_FLAG_WRITE_THROUGH 0x80000000
#define FILE_FLAG_OVERLAPPED 0x40000000
#define WRITE_DAC 0x00040000
#define WRITE_OWNER 0x00080000
#define ACCESS_SYSTEM_SECURITY 0x01000000

/* CreateNamedPipe pipe mode, Get/SetNamedPipeHandleState */
#define PIPE_WAIT 0x00000000
#define PIPE_NOWAIT 0x00000001
#define PIPE_READMODE_BYTE 0x00000000
#define PIPE_READMODE_MESSAGE 0x00000002
#define PIPE_TYPE_BYTE 0x00000000
#define PIPE_TYPE_MESSAGE 0x00000004
#define PIPE_ACCEPT_REMOTE_CLIENTS 0x00000000
#define PIPE_REJECT_REMOTE_CLIENTS 0x00000008
#define PIPE_UNLIMITED_INSTANCES 255

/* GetNamedPipeInfo flags */
#define PIPE_CLIENT_END 0x00000000
#define PIPE_SERVER_END 0x00000001

/* WaitNamedPipe / CallNamedPipe timeouts */
#define NMPWAIT_USE_DEFAULT_WAIT 0x00000000
#define NMPWAIT_NOWAIT 0x00000001
#define NMPWAIT_WAIT_FOREVER 0xffffffff

/* Mailslots */
#define MAILSLOT_NO_MESSAGE ((DWORD)-1)
#define MAILSLOT_WAIT_FOREVER ((DWORD)-1)

/* Access rights, sharing, dispositions */
#define GENERIC_READ 0x80000000
#define GENERIC_WRITE 0x40000000
#define GENERIC_EXECUTE 0x20000000
#define GENERIC_ALL 0x10000000
#define SYNCHRONIZE 0x00100000
#define READ_CONTROL 0x00020000
#define FILE_READ_DATA 0x0001
#define FILE_WRITE_DATA 0x0002
#define FILE_APPEND_DATA 0x0004
#define FILE_READ_EA 0x0008
#define FILE_WRITE_EA 0x0010
#define FILE_READ_ATTRIBUTES 0x0080
#define FILE_WRITE_ATTRIBUTES 0x0100
#define FILE_SHARE_READ 0x00000001
#define FILE_SHARE_WRITE 0x00000002
#define FILE_SHARE_DELETE 0x00000004
#define CREATE_NEW 1
#define CREATE_ALWAYS 2
#define OPEN_EXISTING 3
#define OPEN_ALWAYS 4
#define TRUNCATE_EXISTING 5
#define FILE_ATTRIBUTE_NORMAL 0x00000080

/* Error codes */
#define ERROR_SUCCESS 0L
#define NO_ERROR 0L
#define ERROR_INVALID_FUNCTION 1L
#define ERROR_FILE_NOT_FOUND 2L
#define ERROR_PATH_NOT_FOUND 3L
#define ERROR_ACCESS_DENIED 5L
#define ERROR_INVALID_HANDLE 6L
#define ERROR_NOT_ENOUGH_MEMORY 8L
#define ERROR_OUTOFMEMORY 14L
#define ERROR_INVALID_DATA 13L
#define ERROR_SHARING_VIOLATION 32L
#define ERROR_HANDLE_EOF 38L
#define ERROR_NOT_SUPPORTED 50L
#define ERROR_INVALID_PARAMETER 87L
#define ERROR_BROKEN_PIPE 109L
#define ERROR_SEM_TIMEOUT 121L
#define ERROR_INSUFFICIENT_BUFFER 122L
#define ERROR_INVALID_NAME 123L
#define ERROR_ALREADY_EXISTS 183L
#define ERROR_FILENAME_EXCED_RANGE 206L
#define ERROR_BAD_PIPE 230L
#define ERROR_PIPE_BUSY 231L
#define ERROR_NO_DATA 232L
#define ERROR_PIPE_NOT_CONNECTED 233L
#define ERROR_MORE_DATA 234L
#define WAIT_TIMEOUT 258L
#define ERROR_PIPE_CONNECTED 535L
#define ERROR_PIPE_LISTENING 536L
#define ERROR_ABANDONED_WAIT_0 735L
#define ERROR_OPERATION_ABORTED 995L
#define ERROR_IO_INCOMPLETE 996L
#define ERROR_IO_PENDING 997L
#define ERROR_NOACCESS 998L
#define ERROR_NOT_FOUND 1168L
#define ERROR_CANNOT_IMPERSONATE 1368L
#define ERROR_TIMEOUT 1460L
#define ERROR_NOT_ENOUGH_QUOTA 1816L

/* HRESULT (<winerror.h>) */
#define S_OK ((HRESULT)0x00000000)
#define S_FALSE ((HRESULT)0x00000001)
#define E_FAIL ((HRESULT)0x80004005)
#define E_OUTOFMEMORY ((HRESULT)0x8007000E)
#define E_INVALIDARG ((HRESULT)0x80070057)
#define SUCCEEDED(hr) (((HRESULT)(hr)) >= 0)
#define FAILED(hr) (((HRESULT)(hr)) < 0)
#define FACILITY_WIN32 7
#define HRESULT_FROM_WIN32(x)                                                                          \
    ((HRESULT)(x) <= 0 ? ((HRESULT)(x)) : ((HRESULT)(((x) & 0x0000FFFF) | (FACILITY_WIN32 << 16) | 0x80000000)))

/* Limits */
#define MAX_PATH 260
#define MAXIMUM_WAIT_OBJECTS 64
#define INFINITE 0xffffffff

/* NTSTATUS values that show through the Win32 API (OVERLAPPED.Internal, wait results) */
#define STATUS_WAIT_0 ((DWORD)0x00000000)
#define STATUS_ABANDONED_WAIT_0 ((DWORD)0x00000080)
#define STATUS_USER_APC ((DWORD)0x000000C0)
#define STATUS_TIMEOUT ((DWORD)0x00000102)
#define STATUS_PENDING ((DWORD)0x00000103)

/* Wait results (WAIT_TIMEOUT is above, with the error codes) */
#define WAIT_FAILED ((DWORD)0xffffffff)
#define WAIT_OBJECT_0 ((STATUS_WAIT_0) + 0)
#define WAIT_ABANDONED ((STATUS_ABANDONED_WAIT_0) + 0)
#define WAIT_ABANDONED_0 ((STATUS_ABANDONED_WAIT_0) + 0)
#define WAIT_IO_COMPLETION STATUS_USER_APC

/* TRUE once the overlapped operation has finished (Internal is no longer STATUS_PENDING). */
#define HasOverlappedIoCompleted(lpOverlapped) (((DWORD)(lpOverlapped)->Internal) != STATUS_PENDING)

/* Threads */
#define STILL_ACTIVE STATUS_PENDING
#define CREATE_SUSPENDED 0x4
#define STACK_SIZE_PARAM_IS_A_RESERVATION 0x10000

/* Event access rights (SYNCHRONIZE is above) */
#define STANDARD_RIGHTS_REQUIRED 0x000F0000
#define EVENT_MODIFY_STATE 0x0002
#define EVENT_ALL_ACCESS (STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0x3)

/* Heap, global and local memory flags */
#define HEAP_NO_SERIALIZE 0x00000001
#define HEAP_GENERATE_EXCEPTIONS 0x00000004
#define HEAP_ZERO_MEMORY 0x00000008
#define GMEM_FIXED 0x0
#define GMEM_MOVEABLE 0x2
#define GMEM_ZEROINIT 0x40
#define GHND (GMEM_MOVEABLE | GMEM_ZEROINIT)
#define GPTR (GMEM_FIXED | GMEM_ZEROINIT)
#define LMEM_FIXED 0x0
#define LMEM_MOVEABLE 0x2
#define LMEM_ZEROINIT 0x40
#define LHND (LMEM_MOVEABLE | LMEM_ZEROINIT)
#define LPTR (LMEM_FIXED | LMEM_ZEROINIT)
#define NONZEROLHND (LMEM_MOVEABLE)
#define NONZEROLPTR (LMEM_FIXED)

/* Errors and process */
DWORD WINAPI GetLastError(void);
void WINAPI SetLastError(DWORD dwErrCode);
DWORD WINAPI GetCurrentProcessId(void);
BOOL WINAPI CloseHandle(HANDLE hObject);

/* Files. npipe departs: CreateFile opens only pipe (\\.\pipe\name) and mailslot
 * (\\.\mailslot\name) names; there is no file system behind it. */
HANDLE WINAPI CreateFileA(LPCSTR lpFileName, DWORD dwDesiredAccess, DWORD dwShareMode,
                          LPSECURITY_ATTRIBUTES lpSecurityAttributes, DWORD dwCreationDisposition,
                          DWORD dwFlagsAndAttributes, HANDLE hTemplateFile);
HANDLE WINAPI CreateFileW(LPCWSTR lpFileName, DWORD dwDesiredAccess, DWORD dwShareMode,
                          LPSECURITY_ATTRIBUTES lpSecurityAttributes, DWORD dwCreationDisposition,
                          DWORD dwFlagsAndAttributes, HANDLE hTemplateFile);
BOOL WINAPI ReadFile(HANDLE hFile, LPVOID lpBuffer, DWORD nNumberOfBytesToRead,
                     LPDWORD lpNumberOfBytesRead, LPOVERLAPPED lpOverlapped);
BOOL WINAPI WriteFile(HANDLE hFile, LPCVOID lpBuffer, DWORD nNumberOfBytesToWrite,
                      LPDWORD lpNumberOfBytesWritten, LPOVERLAPPED lpOverlapped);
BOOL WINAPI FlushFileBuffers(HANDLE hFile);

/* Named pipes */
HANDLE WINAPI CreateNamedPipeA(LPCSTR lpName, DWORD dwOpenMode, DWORD dwPipeMode, DWORD nMaxInstances,
                               DWORD nOutBufferSize, DWORD nInBufferSize, DWORD nDefaultTimeOut,
                               LPSECURITY_ATTRIBUTES lpSecurityAttributes);
HANDLE WINAPI CreateNamedPipeW(LPCWSTR lpName, DWORD dwOpenMode, DWORD dwPipeMode, DWORD nMaxInstances,
                               DWORD nOutBufferSize, DWORD nInBufferSize, DWORD nDefaultTimeOut,
                               LPSECURITY_ATTRIBUTES lpSecurityAttributes);
BOOL WINAPI ConnectNamedPipe(HANDLE hNamedPipe, LPOVERLAPPED lpOverlapped);
BOOL WINAPI DisconnectNamedPipe(HANDLE hNamedPipe);
BOOL WINAPI WaitNamedPipeA(LPCSTR lpNamedPipeName, DWORD nTimeOut);
BOOL WINAPI WaitNamedPipeW(LPCWSTR lpNamedPipeName, DWORD nTimeOut);
BOOL WINAPI PeekNamedPipe(HANDLE hNamedPipe, LPVOID lpBuffer, DWORD nBufferSize, LPDWORD lpBytesRead,
                          LPDWORD lpTotalBytesAvail, LPDWORD lpBytesLeftThisMessage);
BOOL WINAPI TransactNamedPipe(HANDLE hNamedPipe, LPVOID lpInBuffer, DWORD nInBufferSize, LPVOID lpOutBuffer,
                              DWORD nOutBufferSize, LPDWORD lpBytesRead, LPOVERLAPPED lpOverlapped);
BOOL WINAPI CallNamedPipeA(LPCSTR lpNamedPipeName, LPVOID lpInBuffer, DWORD nInBufferSize, LPVOID lpOutBuffer,
                           DWORD nOutBufferSize, LPDWORD lpBytesRead, DWORD nTimeOut);
BOOL WINAPI CallNamedPipeW(LPCWSTR lpNamedPipeName, LPVOID lpInBuffer, DWORD nInBufferSize, LPVOID lpOutBuffer,
                           DWORD nOutBufferSize, LPDWORD lpBytesRead, DWORD nTimeOut);
BOOL WINAPI SetNamedPipeHandleState(HANDLE hNamedPipe, LPDWORD lpMode, LPDWORD lpMaxCollectionCount,
                                    LPDWORD lpCollectDataTimeout);
BOOL WINAPI GetNamedPipeHandleStateA(HANDLE hNamedPipe, LPDWORD lpState, LPDWORD lpCurInstances,
                                     LPDWORD lpMaxCollectionCount, LPDWORD lpCollectDataTimeout,
                                     LPSTR lpUserName, DWORD nMaxUserNameSize);
BOOL WINAPI GetNamedPipeHandleStateW(HANDLE hNamedPipe, LPDWORD lpState, LPDWORD lpCurInstances,
                                     LPDWORD lpMaxCollectionCount, LPDWORD lpCollectDataTimeout,
                                     LPWSTR lpUserName, DWORD nMaxUserNameSize);
BOOL WINAPI GetNamedPipeInfo(HANDLE hNamedPipe, LPDWORD lpFlags, LPDWORD lpOutBufferSize,
                             LPDWORD lpInBufferSize, LPDWORD lpMaxInstances);
BOOL WINAPI GetNamedPipeClientProcessId(HANDLE Pipe, PULONG ClientProcessId);
BOOL WINAPI GetNamedPipeServerProcessId(HANDLE Pipe, PULONG ServerProcessId);

/* Mailslots: one reader (the handle CreateMailslot returns), writers from CreateFile on the name.
 * Writes never block: a full queue (1 MiB per mailslot) fails with ERROR_NOT_ENOUGH_QUOTA. */
HANDLE WINAPI CreateMailslotA(LPCSTR lpName, DWORD nMaxMessageSize, DWORD lReadTimeout,
                              LPSECURITY_ATTRIBUTES lpSecurityAttributes);
HANDLE WINAPI CreateMailslotW(LPCWSTR lpName, DWORD nMaxMessageSize, DWORD lReadTimeout,
                              LPSECURITY_ATTRIBUTES lpSecurityAttributes);
BOOL WINAPI GetMailslotInfo(HANDLE hMailslot, LPDWORD lpMaxMessageSize, LPDWORD lpNextSize,
                            LPDWORD lpMessageCount, LPDWORD lpReadTimeout);
BOOL WINAPI SetMailslotInfo(HANDLE hMailslot, DWORD lReadTimeout);

/* Anonymous pipes: kernel pipes, close-on-exec unless bInheritHandle is TRUE. */
BOOL WINAPI CreatePipe(PHANDLE hReadPipe, PHANDLE hWritePipe, LPSECURITY_ATTRIBUTES lpPipeAttributes,
                       DWORD nSize);

/* npipe extension: the file descriptor behind an anonymous pipe handle (the handle keeps owning
 * it), to pass an end to a child process with dup2() before exec(). -1 and ERROR_INVALID_HANDLE
 * for any other handle. */
int npipe_handle_fd(HANDLE hPipe);

/* Events. A named event is shared by every process of the same user (and root) that creates or
 * opens the name: one state, and SetEvent, ResetEvent, PulseEvent and the waits act on it from
 * any process (an auto-reset event releases exactly one waiter among all processes; npipe_wait_fd
 * polls readable in every process while it is set). CreateEvent of an existing name returns a new
 * handle to that event (its reset mode and state kept, bManualReset and bInitialState ignored)
 * and sets ERROR_ALREADY_EXISTS; OpenEvent of a missing name fails with ERROR_FILE_NOT_FOUND, of a
 * NULL name with ERROR_INVALID_PARAMETER. Names are Windows' kernel object names: case-sensitive,
 * "Local\" accepted and stripped, "Global\" a separate set of names (both per user here: there
 * are no sessions), at most MAX_PATH - 1 characters (ERROR_FILENAME_EXCED_RANGE; for the W
 * functions too, where Windows accepts longer names), no other
 * backslash (ERROR_PATH_NOT_FOUND; a leading one is ERROR_BAD_PATHNAME); "" is no name.
 * SetEvent and PulseEvent release the threads waiting at that moment even if the event is reset
 * before they run; PulseEvent releases no thread that starts waiting after it.
 * npipe departs: the name lives while the creating process has a handle or any other process
 * holds one, but not beyond the creating process: once it exits, other processes' handles keep
 * working, yet the name can no longer be opened from a process without a handle, and creating
 * it there makes a new event. Security attributes, access rights and bInheritHandle are ignored.
 * Wait functions: a wait-all naming one object twice fails with ERROR_INVALID_PARAMETER, and
 * INVALID_HANDLE_VALUE is GetCurrentProcess(), which a wait never sees signalled. */
HANDLE WINAPI CreateEventA(LPSECURITY_ATTRIBUTES lpEventAttributes, BOOL bManualReset, BOOL bInitialState,
                           LPCSTR lpName);
HANDLE WINAPI CreateEventW(LPSECURITY_ATTRIBUTES lpEventAttributes, BOOL bManualReset, BOOL bInitialState,
                           LPCWSTR lpName);
HANDLE WINAPI OpenEventA(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCSTR lpName);
HANDLE WINAPI OpenEventW(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCWSTR lpName);
BOOL WINAPI SetEvent(HANDLE hEvent);
BOOL WINAPI ResetEvent(HANDLE hEvent);
BOOL WINAPI PulseEvent(HANDLE hEvent);

/* Waits. Waitable handles: events, threads (signalled once the thread has exited), and pipe and
 * mailslot handles (signalled while no I/O is in progress on them, W26-W27). An alertable wait
 * (bAlertable TRUE) also returns WAIT_IO_COMPLETION after running the completion routines and
 * APCs queued to the calling thread. */
DWORD WINAPI WaitForSingleObject(HANDLE hHandle, DWORD dwMilliseconds);
DWORD WINAPI WaitForSingleObjectEx(HANDLE hHandle, DWORD dwMilliseconds, BOOL bAlertable);
DWORD WINAPI WaitForMultipleObjects(DWORD nCount, CONST HANDLE *lpHandles, BOOL bWaitAll, DWORD dwMilliseconds);
DWORD WINAPI WaitForMultipleObjectsEx(DWORD nCount, CONST HANDLE *lpHandles, BOOL bWaitAll, DWORD dwMilliseconds,
                                      BOOL bAlertable);
VOID WINAPI Sleep(DWORD dwMilliseconds);
DWORD WINAPI SleepEx(DWORD dwMilliseconds, BOOL bAlertable);

/* Overlapped I/O on handles opened with FILE_FLAG_OVERLAPPED: ReadFile, WriteFile,
 * ConnectNamedPipe and TransactNamedPipe with an OVERLAPPED return FALSE with ERROR_IO_PENDING
 * while the operation runs, and signal OVERLAPPED.hEvent when it completes (W39-W41, W64-W79).
 * ReadFileEx/WriteFileEx run their completion routine only in a later alertable wait of the
 * calling thread (W104). Pipe operations themselves are never alertable (W28). */
BOOL WINAPI GetOverlappedResult(HANDLE hFile, LPOVERLAPPED lpOverlapped, LPDWORD lpNumberOfBytesTransferred,
                                BOOL bWait);
BOOL WINAPI GetOverlappedResultEx(HANDLE hFile, LPOVERLAPPED lpOverlapped, LPDWORD lpNumberOfBytesTransferred,
                                  DWORD dwMilliseconds, BOOL bAlertable);
BOOL WINAPI CancelIo(HANDLE hFile);
BOOL WINAPI CancelIoEx(HANDLE hFile, LPOVERLAPPED lpOverlapped);
BOOL WINAPI ReadFileEx(HANDLE hFile, LPVOID lpBuffer, DWORD nNumberOfBytesToRead, LPOVERLAPPED lpOverlapped,
                       LPOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine);
BOOL WINAPI WriteFileEx(HANDLE hFile, LPCVOID lpBuffer, DWORD nNumberOfBytesToWrite, LPOVERLAPPED lpOverlapped,
                        LPOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine);

/* Threads. A thread handle is waitable; GetCurrentThread returns the pseudo handle
 * (HANDLE)(LONG_PTR)-2, "the calling thread", which needs no CloseHandle. */
HANDLE WINAPI CreateThread(LPSECURITY_ATTRIBUTES lpThreadAttributes, SIZE_T dwStackSize,
                           LPTHREAD_START_ROUTINE lpStartAddress, LPVOID lpParameter, DWORD dwCreationFlags,
                           LPDWORD lpThreadId);
DECLSPEC_NORETURN VOID WINAPI ExitThread(DWORD dwExitCode);
DWORD WINAPI GetCurrentThreadId(void);
HANDLE WINAPI GetCurrentThread(void);
BOOL WINAPI GetExitCodeThread(HANDLE hThread, LPDWORD lpExitCode);
DWORD WINAPI ResumeThread(HANDLE hThread);
DWORD WINAPI QueueUserAPC(PAPCFUNC pfnAPC, HANDLE hThread, ULONG_PTR dwData);

/* Time: milliseconds since an unspecified start (GetTickCount wraps after 49.7 days). */
DWORD WINAPI GetTickCount(void);
ULONGLONG WINAPI GetTickCount64(void);

/* npipe extension: a file descriptor that polls readable (POLLIN, EPOLLIN) while the waitable
 * object behind hObject (an event, a thread, a pipe or mailslot handle) is signalled, to put npipe
 * objects in an epoll, poll or libuv loop. The handle keeps owning the descriptor: do not read,
 * write or close it; it is valid until CloseHandle(hObject). Readiness consumes nothing: for an
 * auto-reset event, call a wait function (WaitForSingleObject(hObject, 0)) to take the signal,
 * which may then find it already taken by another waiter (WAIT_TIMEOUT). -1 and
 * ERROR_INVALID_HANDLE for a handle that is not waitable. */
int npipe_wait_fd(HANDLE hObject);

/* Memory. npipe departs: these are static inline functions over the C library, not libnpipe
 * exports. GetProcessHeap returns a placeholder; HeapAlloc is malloc (calloc with
 * HEAP_ZERO_MEMORY) and ignores the heap handle and the other flags; HeapFree is free.
 * GlobalAlloc/LocalAlloc are the same (GMEM_ZEROINIT/LMEM_ZEROINIT zero the block) and treat
 * GMEM_MOVEABLE/LMEM_MOVEABLE as fixed: the returned handle is the pointer, so GlobalLock(h)
 * returns h. Memory from one family must be freed by the same family, as on Windows. */
static inline HANDLE WINAPI GetProcessHeap(void) {
    static char npipe_process_heap;
    return (HANDLE)&npipe_process_heap;
}
static inline LPVOID WINAPI HeapAlloc(HANDLE hHeap, DWORD dwFlags, SIZE_T dwBytes) {
    (void)hHeap;
    if (dwBytes == 0) dwBytes = 1;
    return (dwFlags & HEAP_ZERO_MEMORY) ? calloc(1, dwBytes) : malloc(dwBytes);
}
static inline BOOL WINAPI HeapFree(HANDLE hHeap, DWORD dwFlags, LPVOID lpMem) {
    (void)hHeap;
    (void)dwFlags;
    free(lpMem);
    return TRUE;
}
static inline HGLOBAL WINAPI GlobalAlloc(UINT uFlags, SIZE_T dwBytes) {
    void *p;
    if (dwBytes == 0) dwBytes = 1;
    p = (uFlags & GMEM_ZEROINIT) ? calloc(1, dwBytes) : malloc(dwBytes);
    if (p == NULL) SetLastError(ERROR_NOT_ENOUGH_MEMORY);
    return (HGLOBAL)p;
}
static inline HGLOBAL WINAPI GlobalFree(HGLOBAL hMem) {
    free(hMem);
    return NULL;
}
static inline LPVOID WINAPI GlobalLock(HGLOBAL hMem) { return hMem; }
static inline BOOL WINAPI GlobalUnlock(HGLOBAL hMem) {
    (void)hMem;
    SetLastError(NO_ERROR);
    return FALSE;
}
static inline HLOCAL WINAPI LocalAlloc(UINT uFlags, SIZE_T uBytes) {
    void *p;
    if (uBytes == 0) uBytes = 1;
    p = (uFlags & LMEM_ZEROINIT) ? calloc(1, uBytes) : malloc(uBytes);
    if (p == NULL) SetLastError(ERROR_NOT_ENOUGH_MEMORY);
    return (HLOCAL)p;
}
static inline HLOCAL WINAPI LocalFree(HLOCAL hMem) {
    free(hMem);
    return NULL;
}
static inline LPVOID WINAPI LocalLock(HLOCAL hMem) { return hMem; }
static inline BOOL WINAPI LocalUnlock(HLOCAL hMem) {
    (void)hMem;
    SetLastError(NO_ERROR);
    return FALSE;
}

#define MoveMemory(Destination, Source, Length) memmove((Destination), (Source), (Length))
#define CopyMemory(Destination, Source, Length) memcpy((Destination), (Source), (Length))
#define FillMemory(Destination, Length, Fill) memset((Destination), (Fill), (Length))
#define ZeroMemory(Destination, Length) memset((Destination), 0, (Length))
static inline PVOID SecureZeroMemory(PVOID ptr, SIZE_T cnt) {
    volatile char *p = (volatile char *)ptr;
    while (cnt--) *p++ = 0;
    return ptr;
}

/* Strings. npipe departs: static inline functions over <string.h>; lstrcmpA compares bytes
 * (strcmp) and lstrcmpiA compares ASCII letters without case, where Windows uses the user's
 * locale (CompareString); a NULL string counts as empty for lstrlen. */
static inline int WINAPI lstrlenA(LPCSTR lpString) { return lpString ? (int)strlen(lpString) : 0; }
static inline int WINAPI lstrlenW(LPCWSTR lpString) {
    int n = 0;
    if (lpString)
        while (lpString[n]) n++;
    return n;
}
static inline LPSTR WINAPI lstrcpyA(LPSTR lpString1, LPCSTR lpString2) { return strcpy(lpString1, lpString2); }
static inline LPSTR WINAPI lstrcpynA(LPSTR lpString1, LPCSTR lpString2, int iMaxLength) {
    int i = 0;
    if (iMaxLength <= 0) return lpString1;
    while (i < iMaxLength - 1 && lpString2[i]) {
        lpString1[i] = lpString2[i];
        i++;
    }
    lpString1[i] = 0;
    return lpString1;
}
static inline LPSTR WINAPI lstrcatA(LPSTR lpString1, LPCSTR lpString2) { return strcat(lpString1, lpString2); }
static inline int WINAPI lstrcmpA(LPCSTR lpString1, LPCSTR lpString2) { return strcmp(lpString1, lpString2); }
static inline int WINAPI lstrcmpiA(LPCSTR lpString1, LPCSTR lpString2) {
    const unsigned char *a = (const unsigned char *)lpString1, *b = (const unsigned char *)lpString2;
    for (;; a++, b++) {
        int ca = (*a >= 'A' && *a <= 'Z') ? *a + ('a' - 'A') : *a;
        int cb = (*b >= 'A' && *b <= 'Z') ? *b + ('a' - 'A') : *b;
        if (ca != cb || ca == 0) return ca - cb;
    }
}

#ifndef UNICODE
#define CreateFile CreateFileA
#define CreateNamedPipe CreateNamedPipeA
#define WaitNamedPipe WaitNamedPipeA
#define CallNamedPipe CallNamedPipeA
#define GetNamedPipeHandleState GetNamedPipeHandleStateA
#define CreateMailslot CreateMailslotA
#define CreateEvent CreateEventA
#define OpenEvent OpenEventA
#define lstrlen lstrlenA
#define lstrcpy lstrcpyA
#define lstrcpyn lstrcpynA
#define lstrcat lstrcatA
#define lstrcmp lstrcmpA
#define lstrcmpi lstrcmpiA
#else
#define CreateFile CreateFileW
#define CreateNamedPipe CreateNamedPipeW
#define WaitNamedPipe WaitNamedPipeW
#define CallNamedPipe CallNamedPipeW
#define GetNamedPipeHandleState GetNamedPipeHandleStateW
#define CreateMailslot CreateMailslotW
#define CreateEvent CreateEventW
#define OpenEvent OpenEventW
#define lstrlen lstrlenW
/* npipe departs: no lstrcpyW, lstrcatW, lstrcmpW... */
#endif

#ifdef __cplusplus
}
#endif

#endif /* NPIPE_WIN32_H */
