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
 * W-numbers in comments (W33...) are the Windows behaviour facts listed in docs/WINDOWS-BEHAVIOUR.md.
 *
 * Where npipe departs from Win32, the declaration says so in a comment beginning "npipe departs:".
 * The main ones:
 *   - WCHAR is a 16-bit code unit (uint16_t), not the platform's 32-bit wchar_t, so L"..."
 *     literals are not WCHAR strings, unless the program is built with -fshort-wchar (GCC,
 *     Clang): then WCHAR is wchar_t, as on Windows, and L"..." literals and TEXT() work in C and
 *     C++ (the C library's wide functions, wcslen and the like, then do not). TCHAR, TEXT() and
 *     the generic names (CreateFile...) are ANSI unless UNICODE is defined, as on Windows; with
 *     UNICODE and a 32-bit wchar_t, TEXT() exists only in C11 and later (see TCHAR below), and
 *     <tchar.h> and <strsafe.h> refuse to compile.
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
#include <stdarg.h>
#include <stdio.h>
#include <malloc.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version of these headers; npipe_version() gives the library's, NPIPE_VERSION_NUMBER is
 * major * 10000 + minor * 100 + patch. */
#define NPIPE_VERSION_MAJOR 0
#define NPIPE_VERSION_MINOR 1
#define NPIPE_VERSION_PATCH 0
#define NPIPE_VERSION "0.1.0"
#define NPIPE_VERSION_NUMBER (NPIPE_VERSION_MAJOR * 10000 + NPIPE_VERSION_MINOR * 100 + NPIPE_VERSION_PATCH)

const char *npipe_version(void);

/* Symbols. libnpipe defines each Win32 function under an npipe_ prefix (npipe_ReadFile,
 * npipe_CreateNamedPipeA...), and this header declares those. Unless NPIPE_NO_WIN32_NAMES is
 * defined before it is included, the Win32 names are macros for them, so code calls ReadFile as
 * on Windows and its object files refer only to npipe_ symbols.
 * Define NPIPE_NO_WIN32_NAMES in a translation unit that must keep the Win32 names for another
 * Win32 layer (Wine, a compatibility library): it then calls npipe_ReadFile... explicitly, and
 * this header leaves out the Win32-named macros, the generic (TCHAR) names and its inline
 * helpers (HeapAlloc, lstrlen, MessageBox...). The types and constants stay, so such a
 * translation unit must not include another windows.h.
 * The default build of libnpipe also exports the plain names (CreateNamedPipeA...) for callers
 * that bind by name (dlsym); built with the cargo feature "prefixed" it exports only the npipe_
 * ones, and cannot interpose on another layer's symbols. */
#ifndef NPIPE_NO_WIN32_NAMES
#define AddAccessAllowedAce npipe_AddAccessAllowedAce
#define AddAccessDeniedAce npipe_AddAccessDeniedAce
#define AllocateAndInitializeSid npipe_AllocateAndInitializeSid
#define CallNamedPipeA npipe_CallNamedPipeA
#define CallNamedPipeW npipe_CallNamedPipeW
#define CancelIo npipe_CancelIo
#define CancelIoEx npipe_CancelIoEx
#define CancelSynchronousIo npipe_CancelSynchronousIo
#define CloseHandle npipe_CloseHandle
#define ConnectNamedPipe npipe_ConnectNamedPipe
#define ConvertSidToStringSidA npipe_ConvertSidToStringSidA
#define ConvertSidToStringSidW npipe_ConvertSidToStringSidW
#define ConvertStringSecurityDescriptorToSecurityDescriptorA npipe_ConvertStringSecurityDescriptorToSecurityDescriptorA
#define ConvertStringSecurityDescriptorToSecurityDescriptorW npipe_ConvertStringSecurityDescriptorToSecurityDescriptorW
#define ConvertStringSidToSidA npipe_ConvertStringSidToSidA
#define ConvertStringSidToSidW npipe_ConvertStringSidToSidW
#define CopySid npipe_CopySid
#define CreateEventA npipe_CreateEventA
#define CreateEventW npipe_CreateEventW
#define CreateFileA npipe_CreateFileA
#define CreateFileW npipe_CreateFileW
#define CreateIoCompletionPort npipe_CreateIoCompletionPort
#define CreateMailslotA npipe_CreateMailslotA
#define CreateMailslotW npipe_CreateMailslotW
#define CreateNamedPipeA npipe_CreateNamedPipeA
#define CreateNamedPipeW npipe_CreateNamedPipeW
#define CreatePipe npipe_CreatePipe
#define CreateProcessA npipe_CreateProcessA
#define CreateProcessW npipe_CreateProcessW
#define CreateThread npipe_CreateThread
#define DeleteFileA npipe_DeleteFileA
#define DisconnectNamedPipe npipe_DisconnectNamedPipe
#define DuplicateHandle npipe_DuplicateHandle
#define EqualSid npipe_EqualSid
#define ExitProcess npipe_ExitProcess
#define ExitThread npipe_ExitThread
#define FindClose npipe_FindClose
#define FindFirstFileA npipe_FindFirstFileA
#define FindNextFileA npipe_FindNextFileA
#define FlushFileBuffers npipe_FlushFileBuffers
#define FormatMessageA npipe_FormatMessageA
#define FormatMessageW npipe_FormatMessageW
#define FreeSid npipe_FreeSid
#define GetCommandLineA npipe_GetCommandLineA
#define GetCurrentProcess npipe_GetCurrentProcess
#define GetCurrentProcessId npipe_GetCurrentProcessId
#define GetCurrentThread npipe_GetCurrentThread
#define GetCurrentThreadId npipe_GetCurrentThreadId
#define GetExitCodeProcess npipe_GetExitCodeProcess
#define GetExitCodeThread npipe_GetExitCodeThread
#define GetFileSize npipe_GetFileSize
#define GetFileSizeEx npipe_GetFileSizeEx
#define GetFileType npipe_GetFileType
#define GetHandleInformation npipe_GetHandleInformation
#define GetLastError npipe_GetLastError
#define GetLengthSid npipe_GetLengthSid
#define GetMailslotInfo npipe_GetMailslotInfo
#define GetModuleFileNameA npipe_GetModuleFileNameA
#define GetModuleHandleA npipe_GetModuleHandleA
#define GetModuleHandleW npipe_GetModuleHandleW
#define GetProcAddress npipe_GetProcAddress
#define LoadLibraryA npipe_LoadLibraryA
#define LoadLibraryW npipe_LoadLibraryW
#define FreeLibrary npipe_FreeLibrary
#define GetNamedPipeClientComputerNameA npipe_GetNamedPipeClientComputerNameA
#define GetNamedPipeClientComputerNameW npipe_GetNamedPipeClientComputerNameW
#define GetNamedPipeClientProcessId npipe_GetNamedPipeClientProcessId
#define GetNamedPipeClientSessionId npipe_GetNamedPipeClientSessionId
#define GetNamedPipeHandleStateA npipe_GetNamedPipeHandleStateA
#define GetNamedPipeHandleStateW npipe_GetNamedPipeHandleStateW
#define GetNamedPipeInfo npipe_GetNamedPipeInfo
#define GetNamedPipeServerProcessId npipe_GetNamedPipeServerProcessId
#define GetNamedPipeServerSessionId npipe_GetNamedPipeServerSessionId
#define GetOverlappedResult npipe_GetOverlappedResult
#define GetOverlappedResultEx npipe_GetOverlappedResultEx
#define GetProcessId npipe_GetProcessId
#define GetQueuedCompletionStatus npipe_GetQueuedCompletionStatus
#define GetQueuedCompletionStatusEx npipe_GetQueuedCompletionStatusEx
#define GetSecurityDescriptorDacl npipe_GetSecurityDescriptorDacl
#define GetSecurityDescriptorGroup npipe_GetSecurityDescriptorGroup
#define GetSecurityDescriptorOwner npipe_GetSecurityDescriptorOwner
#define GetSidIdentifierAuthority npipe_GetSidIdentifierAuthority
#define GetSidSubAuthority npipe_GetSidSubAuthority
#define GetSidSubAuthorityCount npipe_GetSidSubAuthorityCount
#define GetStdHandle npipe_GetStdHandle
#define GetTickCount npipe_GetTickCount
#define GetTickCount64 npipe_GetTickCount64
#define GetTokenInformation npipe_GetTokenInformation
#define GetUserNameA npipe_GetUserNameA
#define GetUserNameW npipe_GetUserNameW
#define ImpersonateNamedPipeClient npipe_ImpersonateNamedPipeClient
#define InitializeAcl npipe_InitializeAcl
#define InitializeSecurityDescriptor npipe_InitializeSecurityDescriptor
#define IsValidAcl npipe_IsValidAcl
#define IsValidSecurityDescriptor npipe_IsValidSecurityDescriptor
#define IsValidSid npipe_IsValidSid
#define LookupAccountNameA npipe_LookupAccountNameA
#define LookupAccountNameW npipe_LookupAccountNameW
#define LookupAccountSidA npipe_LookupAccountSidA
#define LookupAccountSidW npipe_LookupAccountSidW
#define OpenEventA npipe_OpenEventA
#define OpenEventW npipe_OpenEventW
#define OpenProcessToken npipe_OpenProcessToken
#define OpenThreadToken npipe_OpenThreadToken
#define PeekNamedPipe npipe_PeekNamedPipe
#define PostQueuedCompletionStatus npipe_PostQueuedCompletionStatus
#define PulseEvent npipe_PulseEvent
#define QueryPerformanceCounter npipe_QueryPerformanceCounter
#define QueryPerformanceFrequency npipe_QueryPerformanceFrequency
#define QueueUserAPC npipe_QueueUserAPC
#define ReadFile npipe_ReadFile
#define ReadFileEx npipe_ReadFileEx
#define RegisterWaitForSingleObject npipe_RegisterWaitForSingleObject
#define ResetEvent npipe_ResetEvent
#define ResumeThread npipe_ResumeThread
#define RevertToSelf npipe_RevertToSelf
#define SetEndOfFile npipe_SetEndOfFile
#define SetEntriesInAclA npipe_SetEntriesInAclA
#define SetEvent npipe_SetEvent
#define SetFileCompletionNotificationModes npipe_SetFileCompletionNotificationModes
#define SetFilePointer npipe_SetFilePointer
#define SetFilePointerEx npipe_SetFilePointerEx
#define SetHandleInformation npipe_SetHandleInformation
#define SetLastError npipe_SetLastError
#define SetMailslotInfo npipe_SetMailslotInfo
#define SetNamedPipeHandleState npipe_SetNamedPipeHandleState
#define SetSecurityDescriptorDacl npipe_SetSecurityDescriptorDacl
#define SetSecurityDescriptorGroup npipe_SetSecurityDescriptorGroup
#define SetSecurityDescriptorOwner npipe_SetSecurityDescriptorOwner
#define SetStdHandle npipe_SetStdHandle
#define Sleep npipe_Sleep
#define SleepEx npipe_SleepEx
#define TerminateProcess npipe_TerminateProcess
#define TransactNamedPipe npipe_TransactNamedPipe
#define UnregisterWait npipe_UnregisterWait
#define UnregisterWaitEx npipe_UnregisterWaitEx
#define WaitForMultipleObjects npipe_WaitForMultipleObjects
#define WaitForMultipleObjectsEx npipe_WaitForMultipleObjectsEx
#define WaitForSingleObject npipe_WaitForSingleObject
#define WaitForSingleObjectEx npipe_WaitForSingleObjectEx
#define WaitNamedPipeA npipe_WaitNamedPipeA
#define WaitNamedPipeW npipe_WaitNamedPipeW
#define WNetAddConnection2A npipe_WNetAddConnection2A
#define WNetAddConnection2W npipe_WNetAddConnection2W
#define WNetCancelConnection2A npipe_WNetCancelConnection2A
#define WNetCancelConnection2W npipe_WNetCancelConnection2W
#define WriteFile npipe_WriteFile
#define WriteFileEx npipe_WriteFileEx
#endif /* NPIPE_NO_WIN32_NAMES */

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
typedef HANDLE HMODULE, HINSTANCE, HWND;
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
#if defined(__SIZEOF_WCHAR_T__) && __SIZEOF_WCHAR_T__ == 2
/* -fshort-wchar: wchar_t is a 16-bit code unit, and WCHAR is wchar_t as on Windows. */
#define NPIPE_SHORT_WCHAR 1
typedef wchar_t WCHAR;
#else
typedef uint16_t WCHAR;
#endif
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
 * With UNICODE, TCHAR is WCHAR (16 bits); built with -fshort-wchar, TEXT("x") is L"x" as on
 * Windows. npipe departs: with a 32-bit wchar_t, TEXT("x") is u"x", which needs C11 (char16_t
 * is uint_least16_t, the same type as WCHAR). In C++ char16_t is a distinct type and in C99
 * there is no 16-bit literal, so there TEXT() is left undefined under UNICODE: build with
 * -fshort-wchar, use the ANSI names, or the ...W functions with WCHAR arrays you fill yourself.
 * <tchar.h> and <strsafe.h> are ANSI-only. */
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
#if defined(NPIPE_SHORT_WCHAR)
#define __TEXT(quote) L##quote
#elif !defined(__cplusplus) && defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
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

/* CreateFile's security quality of service (dwFlagsAndAttributes with SECURITY_SQOS_PRESENT):
 * the impersonation level a client grants the server. With static tracking (no
 * SECURITY_CONTEXT_TRACKING) the server may impersonate the client as soon as it is connected,
 * as on Windows; otherwise once it has read from it (ERROR_CANNOT_IMPERSONATE before). The level
 * is not enforced: on Linux a server can take on its client's identity
 * (ImpersonateNamedPipeClient) only if it may change its file-system uid to the client's at all
 * (the same user, or CAP_SETUID), and then does whatever the level asked for. */
typedef enum _SECURITY_IMPERSONATION_LEVEL {
    SecurityAnonymous,
    SecurityIdentification,
    SecurityImpersonation,
    SecurityDelegation
} SECURITY_IMPERSONATION_LEVEL, *PSECURITY_IMPERSONATION_LEVEL;
#define SECURITY_ANONYMOUS (SecurityAnonymous << 16)
#define SECURITY_IDENTIFICATION (SecurityIdentification << 16)
#define SECURITY_IMPERSONATION (SecurityImpersonation << 16)
#define SECURITY_DELEGATION (SecurityDelegation << 16)
#define SECURITY_CONTEXT_TRACKING 0x00040000
#define SECURITY_EFFECTIVE_ONLY 0x00080000
#define SECURITY_SQOS_PRESENT 0x00100000
#define SECURITY_VALID_SQOS_FLAGS 0x001F0000

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
#define ERROR_NO_TOKEN 1008L
#define ERROR_NOT_FOUND 1168L
#define ERROR_CANNOT_IMPERSONATE 1368L
#define ERROR_PIPE_LOCAL 229L
#define ERROR_UNKNOWN_REVISION 1305L
#define ERROR_REVISION_MISMATCH 1306L
#define ERROR_PRIVILEGE_NOT_HELD 1314L
#define ERROR_NONE_MAPPED 1332L
#define ERROR_INVALID_ACL 1336L
#define ERROR_INVALID_SID 1337L
#define ERROR_INVALID_SECURITY_DESCR 1338L
#define ERROR_ALLOTTED_SPACE_EXCEEDED 1344L
#define ERROR_TIMEOUT 1460L
#define RPC_S_SERVER_UNAVAILABLE 1722L
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
#define HEAP_REALLOC_IN_PLACE_ONLY 0x00000010
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
DWORD WINAPI npipe_GetLastError(void);
void WINAPI npipe_SetLastError(DWORD dwErrCode);
DWORD WINAPI npipe_GetCurrentProcessId(void);
BOOL WINAPI npipe_CloseHandle(HANDLE hObject);

/* Files. npipe departs: CreateFile opens only pipe (\\.\pipe\name) and mailslot
 * (\\.\mailslot\name) names; there is no file system behind it. */
HANDLE WINAPI npipe_CreateFileA(LPCSTR lpFileName, DWORD dwDesiredAccess, DWORD dwShareMode,
                                LPSECURITY_ATTRIBUTES lpSecurityAttributes, DWORD dwCreationDisposition,
                                DWORD dwFlagsAndAttributes, HANDLE hTemplateFile);
HANDLE WINAPI npipe_CreateFileW(LPCWSTR lpFileName, DWORD dwDesiredAccess, DWORD dwShareMode,
                                LPSECURITY_ATTRIBUTES lpSecurityAttributes, DWORD dwCreationDisposition,
                                DWORD dwFlagsAndAttributes, HANDLE hTemplateFile);
BOOL WINAPI npipe_ReadFile(HANDLE hFile, LPVOID lpBuffer, DWORD nNumberOfBytesToRead,
                           LPDWORD lpNumberOfBytesRead, LPOVERLAPPED lpOverlapped);
BOOL WINAPI npipe_WriteFile(HANDLE hFile, LPCVOID lpBuffer, DWORD nNumberOfBytesToWrite,
                            LPDWORD lpNumberOfBytesWritten, LPOVERLAPPED lpOverlapped);
BOOL WINAPI npipe_FlushFileBuffers(HANDLE hFile);

/* Named pipes */
HANDLE WINAPI npipe_CreateNamedPipeA(LPCSTR lpName, DWORD dwOpenMode, DWORD dwPipeMode, DWORD nMaxInstances,
                                     DWORD nOutBufferSize, DWORD nInBufferSize, DWORD nDefaultTimeOut,
                                     LPSECURITY_ATTRIBUTES lpSecurityAttributes);
HANDLE WINAPI npipe_CreateNamedPipeW(LPCWSTR lpName, DWORD dwOpenMode, DWORD dwPipeMode, DWORD nMaxInstances,
                                     DWORD nOutBufferSize, DWORD nInBufferSize, DWORD nDefaultTimeOut,
                                     LPSECURITY_ATTRIBUTES lpSecurityAttributes);
BOOL WINAPI npipe_ConnectNamedPipe(HANDLE hNamedPipe, LPOVERLAPPED lpOverlapped);
BOOL WINAPI npipe_DisconnectNamedPipe(HANDLE hNamedPipe);
BOOL WINAPI npipe_WaitNamedPipeA(LPCSTR lpNamedPipeName, DWORD nTimeOut);
BOOL WINAPI npipe_WaitNamedPipeW(LPCWSTR lpNamedPipeName, DWORD nTimeOut);
BOOL WINAPI npipe_PeekNamedPipe(HANDLE hNamedPipe, LPVOID lpBuffer, DWORD nBufferSize, LPDWORD lpBytesRead,
                                LPDWORD lpTotalBytesAvail, LPDWORD lpBytesLeftThisMessage);
BOOL WINAPI npipe_TransactNamedPipe(HANDLE hNamedPipe, LPVOID lpInBuffer, DWORD nInBufferSize, LPVOID lpOutBuffer,
                                    DWORD nOutBufferSize, LPDWORD lpBytesRead, LPOVERLAPPED lpOverlapped);
BOOL WINAPI npipe_CallNamedPipeA(LPCSTR lpNamedPipeName, LPVOID lpInBuffer, DWORD nInBufferSize, LPVOID lpOutBuffer,
                                 DWORD nOutBufferSize, LPDWORD lpBytesRead, DWORD nTimeOut);
BOOL WINAPI npipe_CallNamedPipeW(LPCWSTR lpNamedPipeName, LPVOID lpInBuffer, DWORD nInBufferSize, LPVOID lpOutBuffer,
                                 DWORD nOutBufferSize, LPDWORD lpBytesRead, DWORD nTimeOut);
BOOL WINAPI npipe_SetNamedPipeHandleState(HANDLE hNamedPipe, LPDWORD lpMode, LPDWORD lpMaxCollectionCount,
                                          LPDWORD lpCollectDataTimeout);

/* Remote pipes (\\server\pipe\name over SMB2/3; libnpipe built with the cargo feature "smb",
 * else these and remote names fail with ERROR_NOT_SUPPORTED). WNetAddConnection2 takes only
 * lpRemoteName "\\server\IPC$" (lpLocalName NULL): later opens of \\server\pipe\... log on
 * as lpUserName ("DOMAIN\user" allowed; NULL: anonymous). Without it the environment gives
 * the credentials (NPIPE_SMB_USER, NPIPE_SMB_PASSWORD, NPIPE_SMB_DOMAIN). Port: 445, or
 * NPIPE_SMB_PORT, or the extension \\server@port\IPC$ and \\server@port\pipe\name. */
typedef struct _NETRESOURCEA {
    DWORD dwScope;
    DWORD dwType;
    DWORD dwDisplayType;
    DWORD dwUsage;
    LPSTR lpLocalName;
    LPSTR lpRemoteName;
    LPSTR lpComment;
    LPSTR lpProvider;
} NETRESOURCEA, *LPNETRESOURCEA;
typedef struct _NETRESOURCEW {
    DWORD dwScope;
    DWORD dwType;
    DWORD dwDisplayType;
    DWORD dwUsage;
    LPWSTR lpLocalName;
    LPWSTR lpRemoteName;
    LPWSTR lpComment;
    LPWSTR lpProvider;
} NETRESOURCEW, *LPNETRESOURCEW;
#ifndef RESOURCETYPE_ANY
#define RESOURCETYPE_ANY 0x00000000
#define RESOURCETYPE_DISK 0x00000001
#endif
DWORD WINAPI npipe_WNetAddConnection2A(LPNETRESOURCEA lpNetResource, LPCSTR lpPassword, LPCSTR lpUserName,
                                       DWORD dwFlags);
DWORD WINAPI npipe_WNetAddConnection2W(LPNETRESOURCEW lpNetResource, LPCWSTR lpPassword, LPCWSTR lpUserName,
                                       DWORD dwFlags);
DWORD WINAPI npipe_WNetCancelConnection2A(LPCSTR lpName, DWORD dwFlags, BOOL fForce);
DWORD WINAPI npipe_WNetCancelConnection2W(LPCWSTR lpName, DWORD dwFlags, BOOL fForce);
BOOL WINAPI npipe_GetNamedPipeHandleStateA(HANDLE hNamedPipe, LPDWORD lpState, LPDWORD lpCurInstances,
                                           LPDWORD lpMaxCollectionCount, LPDWORD lpCollectDataTimeout,
                                           LPSTR lpUserName, DWORD nMaxUserNameSize);
BOOL WINAPI npipe_GetNamedPipeHandleStateW(HANDLE hNamedPipe, LPDWORD lpState, LPDWORD lpCurInstances,
                                           LPDWORD lpMaxCollectionCount, LPDWORD lpCollectDataTimeout,
                                           LPWSTR lpUserName, DWORD nMaxUserNameSize);
BOOL WINAPI npipe_GetNamedPipeInfo(HANDLE hNamedPipe, LPDWORD lpFlags, LPDWORD lpOutBufferSize,
                                   LPDWORD lpInBufferSize, LPDWORD lpMaxInstances);
BOOL WINAPI npipe_GetNamedPipeClientProcessId(HANDLE Pipe, PULONG ClientProcessId);
BOOL WINAPI npipe_GetNamedPipeServerProcessId(HANDLE Pipe, PULONG ServerProcessId);

/* Mailslots: one reader (the handle CreateMailslot returns), writers from CreateFile on the name.
 * Writes never block: a full queue (1 MiB per mailslot) fails with ERROR_NOT_ENOUGH_QUOTA. */
HANDLE WINAPI npipe_CreateMailslotA(LPCSTR lpName, DWORD nMaxMessageSize, DWORD lReadTimeout,
                                    LPSECURITY_ATTRIBUTES lpSecurityAttributes);
HANDLE WINAPI npipe_CreateMailslotW(LPCWSTR lpName, DWORD nMaxMessageSize, DWORD lReadTimeout,
                                    LPSECURITY_ATTRIBUTES lpSecurityAttributes);
BOOL WINAPI npipe_GetMailslotInfo(HANDLE hMailslot, LPDWORD lpMaxMessageSize, LPDWORD lpNextSize,
                                  LPDWORD lpMessageCount, LPDWORD lpReadTimeout);
BOOL WINAPI npipe_SetMailslotInfo(HANDLE hMailslot, DWORD lReadTimeout);

/* Anonymous pipes: kernel pipes. bInheritHandle makes both handles HANDLE_FLAG_INHERIT, which
 * CreateProcess honours; the descriptors themselves stay close-on-exec, so no other exec
 * (system(), posix_spawn) carries them. To hand an end to a child made another way, dup2 its
 * npipe_handle_fd onto the descriptor the child expects. */
BOOL WINAPI npipe_CreatePipe(PHANDLE hReadPipe, PHANDLE hWritePipe, LPSECURITY_ATTRIBUTES lpPipeAttributes,
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
HANDLE WINAPI npipe_CreateEventA(LPSECURITY_ATTRIBUTES lpEventAttributes, BOOL bManualReset, BOOL bInitialState,
                                 LPCSTR lpName);
HANDLE WINAPI npipe_CreateEventW(LPSECURITY_ATTRIBUTES lpEventAttributes, BOOL bManualReset, BOOL bInitialState,
                                 LPCWSTR lpName);
HANDLE WINAPI npipe_OpenEventA(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCSTR lpName);
HANDLE WINAPI npipe_OpenEventW(DWORD dwDesiredAccess, BOOL bInheritHandle, LPCWSTR lpName);
BOOL WINAPI npipe_SetEvent(HANDLE hEvent);
BOOL WINAPI npipe_ResetEvent(HANDLE hEvent);
BOOL WINAPI npipe_PulseEvent(HANDLE hEvent);

/* Waits. Waitable handles: events, threads (signalled once the thread has exited), and pipe and
 * mailslot handles (signalled while no I/O is in progress on them, W26-W27). An alertable wait
 * (bAlertable TRUE) also returns WAIT_IO_COMPLETION after running the completion routines and
 * APCs queued to the calling thread. */
DWORD WINAPI npipe_WaitForSingleObject(HANDLE hHandle, DWORD dwMilliseconds);
DWORD WINAPI npipe_WaitForSingleObjectEx(HANDLE hHandle, DWORD dwMilliseconds, BOOL bAlertable);
DWORD WINAPI npipe_WaitForMultipleObjects(DWORD nCount, CONST HANDLE *lpHandles, BOOL bWaitAll, DWORD dwMilliseconds);
DWORD WINAPI npipe_WaitForMultipleObjectsEx(DWORD nCount, CONST HANDLE *lpHandles, BOOL bWaitAll, DWORD dwMilliseconds,
                                            BOOL bAlertable);
VOID WINAPI npipe_Sleep(DWORD dwMilliseconds);
DWORD WINAPI npipe_SleepEx(DWORD dwMilliseconds, BOOL bAlertable);

/* Thread-pool waits: the callback runs on a thread of the library's when hObject is signalled
 * (TimerOrWaitFired FALSE) or dwMilliseconds pass (TRUE); again and again unless
 * WT_EXECUTEONLYONCE. UnregisterWait stops it (FALSE with ERROR_IO_PENDING while a callback
 * still runs); UnregisterWaitEx(h, INVALID_HANDLE_VALUE) also waits for that callback, and with
 * an event handle sets the event once none runs. npipe departs: a thread per registration, and
 * the other WT_* flags change nothing. */
typedef VOID(NTAPI *WAITORTIMERCALLBACK)(PVOID lpParameter, BOOLEAN TimerOrWaitFired);
#define WT_EXECUTEDEFAULT 0x00000000
#define WT_EXECUTEINIOTHREAD 0x00000001
#define WT_EXECUTEINWAITTHREAD 0x00000004
#define WT_EXECUTEONLYONCE 0x00000008
#define WT_EXECUTELONGFUNCTION 0x00000010
#define WT_EXECUTEINPERSISTENTTHREAD 0x00000080
BOOL WINAPI npipe_RegisterWaitForSingleObject(PHANDLE phNewWaitObject, HANDLE hObject, WAITORTIMERCALLBACK Callback,
                                              PVOID Context, ULONG dwMilliseconds, ULONG dwFlags);
BOOL WINAPI npipe_UnregisterWait(HANDLE WaitHandle);
BOOL WINAPI npipe_UnregisterWaitEx(HANDLE WaitHandle, HANDLE CompletionEvent);

/* Overlapped I/O on handles opened with FILE_FLAG_OVERLAPPED: ReadFile, WriteFile,
 * ConnectNamedPipe and TransactNamedPipe with an OVERLAPPED return FALSE with ERROR_IO_PENDING
 * while the operation runs, and signal OVERLAPPED.hEvent when it completes (W39-W41, W64-W79).
 * ReadFileEx/WriteFileEx run their completion routine only in a later alertable wait of the
 * calling thread (W104). Pipe operations themselves are never alertable (W28). */
BOOL WINAPI npipe_GetOverlappedResult(HANDLE hFile, LPOVERLAPPED lpOverlapped, LPDWORD lpNumberOfBytesTransferred,
                                      BOOL bWait);
BOOL WINAPI npipe_GetOverlappedResultEx(HANDLE hFile, LPOVERLAPPED lpOverlapped, LPDWORD lpNumberOfBytesTransferred,
                                        DWORD dwMilliseconds, BOOL bAlertable);
BOOL WINAPI npipe_CancelIo(HANDLE hFile);
BOOL WINAPI npipe_CancelIoEx(HANDLE hFile, LPOVERLAPPED lpOverlapped);
/* CancelSynchronousIo: ends the synchronous pipe call hThread is blocked in (ConnectNamedPipe,
 * ReadFile, WriteFile, TransactNamedPipe, FlushFileBuffers, WaitNamedPipe, a mailslot read),
 * which then fails with ERROR_OPERATION_ABORTED; a write's message leaves the pipe unless the
 * reader already took it. FALSE with ERROR_NOT_FOUND when the thread is in no such call (no
 * call, only overlapped I/O, or a call that has not reached its wait yet: retry while the call
 * goes on), ERROR_INVALID_HANDLE
 * for a handle that is not a thread (W42). npipe departs: a read on an anonymous pipe (a
 * kernel pipe) cannot be cancelled (ERROR_NOT_FOUND), nor can a read that has already taken
 * part of a message larger than the pipe's ring (it goes on to the end of the message). */
BOOL WINAPI npipe_CancelSynchronousIo(HANDLE hThread);
/* I/O completion ports. A handle opened with FILE_FLAG_OVERLAPPED and bound to a port with
 * CreateIoCompletionPort queues a packet (its key, the OVERLAPPED, the byte count, the status)
 * for each overlapped operation that completes, including one that completes inside its call
 * (not with FILE_SKIP_COMPLETION_PORT_ON_SUCCESS), never for one that fails inside its call
 * (W105), nor when the low bit of OVERLAPPED.hEvent is set. A partial message read is reported
 * pending and its packet makes GetQueuedCompletionStatus fail with ERROR_MORE_DATA (W72). A bound
 * handle takes no ReadFileEx/WriteFileEx (ERROR_INVALID_PARAMETER); a synchronous handle cannot
 * be bound (ERROR_INVALID_PARAMETER). npipe departs: the concurrency value is not enforced, and
 * packets go to waiting threads first in, first out. */
typedef struct _OVERLAPPED_ENTRY {
    ULONG_PTR lpCompletionKey;
    LPOVERLAPPED lpOverlapped;
    ULONG_PTR Internal;
    DWORD dwNumberOfBytesTransferred;
} OVERLAPPED_ENTRY, *LPOVERLAPPED_ENTRY;
#define FILE_SKIP_COMPLETION_PORT_ON_SUCCESS 0x1
#define FILE_SKIP_SET_EVENT_ON_HANDLE 0x2
#define FILE_SKIP_SET_USER_EVENT_ON_FAST_IO 0x4
HANDLE WINAPI npipe_CreateIoCompletionPort(HANDLE FileHandle, HANDLE ExistingCompletionPort, ULONG_PTR CompletionKey,
                                           DWORD NumberOfConcurrentThreads);
BOOL WINAPI npipe_GetQueuedCompletionStatus(HANDLE CompletionPort, LPDWORD lpNumberOfBytesTransferred,
                                            PULONG_PTR lpCompletionKey, LPOVERLAPPED *lpOverlapped,
                                            DWORD dwMilliseconds);
BOOL WINAPI npipe_GetQueuedCompletionStatusEx(HANDLE CompletionPort, LPOVERLAPPED_ENTRY lpCompletionPortEntries,
                                              ULONG ulCount, PULONG ulNumEntriesRemoved, DWORD dwMilliseconds,
                                              BOOL fAlertable);
BOOL WINAPI npipe_PostQueuedCompletionStatus(HANDLE CompletionPort, DWORD dwNumberOfBytesTransferred,
                                             ULONG_PTR dwCompletionKey, LPOVERLAPPED lpOverlapped);
BOOL WINAPI npipe_SetFileCompletionNotificationModes(HANDLE FileHandle, UCHAR Flags);
BOOL WINAPI npipe_ReadFileEx(HANDLE hFile, LPVOID lpBuffer, DWORD nNumberOfBytesToRead, LPOVERLAPPED lpOverlapped,
                             LPOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine);
BOOL WINAPI npipe_WriteFileEx(HANDLE hFile, LPCVOID lpBuffer, DWORD nNumberOfBytesToWrite, LPOVERLAPPED lpOverlapped,
                              LPOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine);

/* Threads. A thread handle is waitable; GetCurrentThread returns the pseudo handle
 * (HANDLE)(LONG_PTR)-2, "the calling thread", which needs no CloseHandle. */
HANDLE WINAPI npipe_CreateThread(LPSECURITY_ATTRIBUTES lpThreadAttributes, SIZE_T dwStackSize,
                                 LPTHREAD_START_ROUTINE lpStartAddress, LPVOID lpParameter, DWORD dwCreationFlags,
                                 LPDWORD lpThreadId);
DECLSPEC_NORETURN VOID WINAPI npipe_ExitThread(DWORD dwExitCode);
DWORD WINAPI npipe_GetCurrentThreadId(void);
HANDLE WINAPI npipe_GetCurrentThread(void);
BOOL WINAPI npipe_GetExitCodeThread(HANDLE hThread, LPDWORD lpExitCode);
DWORD WINAPI npipe_ResumeThread(HANDLE hThread);
DWORD WINAPI npipe_QueueUserAPC(PAPCFUNC pfnAPC, HANDLE hThread, ULONG_PTR dwData);

/* Time: milliseconds since an unspecified start (GetTickCount wraps after 49.7 days). */
DWORD WINAPI npipe_GetTickCount(void);
ULONGLONG WINAPI npipe_GetTickCount64(void);

/* npipe extension: a file descriptor that polls readable (POLLIN, EPOLLIN) while the waitable
 * object behind hObject (an event, a thread, a pipe or mailslot handle) is signalled, to put npipe
 * objects in an epoll, poll or libuv loop. The handle keeps owning the descriptor: do not read,
 * write or close it; it is valid until CloseHandle(hObject). Readiness consumes nothing: for an
 * auto-reset event, call a wait function (WaitForSingleObject(hObject, 0)) to take the signal,
 * which may then find it already taken by another waiter (WAIT_TIMEOUT). -1 and
 * ERROR_INVALID_HANDLE for a handle that is not waitable. */
int npipe_wait_fd(HANDLE hObject);

/* npipe extension: named pipes in the caller's own epoll, poll or libuv loop, without blocking.
 * The operations are the PIPE_NOWAIT calls (SetNamedPipeHandleState, or PIPE_NOWAIT in
 * CreateNamedPipe), which never wait (W107-W111): ReadFile with nothing there fails with
 * ERROR_NO_DATA; WriteFile that does not fit the quota writes nothing (a message) or part (bytes)
 * and returns TRUE with the count; ConnectNamedPipe fails with ERROR_PIPE_LISTENING until a client
 * arrives, then ERROR_PIPE_CONNECTED (ERROR_NO_DATA if it already left). The loop tries them,
 * calls npipe_arm with what it still waits for, and polls npipe_ready_fd until it is readable
 * (readiness may be spurious), then tries again.
 * npipe_ready_fd: the end's readiness descriptor (an epoll set of this process alone, also for a
 * wait below); the handle keeps owning it (do not read, write or close it; valid until CloseHandle,
 * which closes it: it leaves the caller's epoll sets then, even while the peer lives on). -1 and
 * ERROR_INVALID_HANDLE for a handle that is not open or not a named pipe end or wait.
 * npipe_arm: clears the descriptor, arms it once for dwEvents and makes it readable at once if one
 * of them holds already. NPIPE_READY_READ: data or an empty message to read. NPIPE_READY_WRITE:
 * the reader consumed something since the last PIPE_NOWAIT WriteFile that did not fit (at once
 * before any such write; a message larger than the quota never fits). NPIPE_READY_CONNECT
 * (servers): a client arrived; a listening instance always reports it, armed or not.
 * NPIPE_READY_HANGUP: the peer closed or died, or the server disconnected; every event reports
 * that too. FALSE with ERROR_INVALID_PARAMETER for no or unknown bits or CONNECT on a client,
 * ERROR_INVALID_HANDLE for a handle that is not a named pipe end, ERROR_INVALID_FUNCTION while
 * overlapped operations are pending on the handle (do not mix the two on one handle).
 * npipe_wait_named_pipe_start: WaitNamedPipeA that returns at once (nTimeOut as WaitNamedPipe:
 * NMPWAIT_USE_DEFAULT_WAIT, NMPWAIT_WAIT_FOREVER or milliseconds) with a handle whose
 * npipe_ready_fd polls readable when npipe_wait_named_pipe_poll may have the answer: TRUE once an
 * instance listens (open it then; as for WaitNamedPipe, nothing is reserved, W34), FALSE with
 * ERROR_IO_INCOMPLETE while waiting, ERROR_SEM_TIMEOUT after the timeout, ERROR_FILE_NOT_FOUND
 * when the pipe went away. The start fails with ERROR_FILE_NOT_FOUND when no such pipe exists and
 * ERROR_INVALID_PARAMETER for a NULL name. CloseHandle ends the wait. */
#define NPIPE_READY_READ 0x1
#define NPIPE_READY_WRITE 0x2
#define NPIPE_READY_CONNECT 0x4
#define NPIPE_READY_HANGUP 0x8
int npipe_ready_fd(HANDLE hPipe);
BOOL npipe_arm(HANDLE hPipe, DWORD dwEvents);
HANDLE npipe_wait_named_pipe_start(LPCSTR lpNamedPipeName, DWORD nTimeOut);
BOOL npipe_wait_named_pipe_poll(HANDLE hWait);

/* Processes, standard handles, files, listings and messages. */
#define STD_INPUT_HANDLE ((DWORD)-10)
#define STD_OUTPUT_HANDLE ((DWORD)-11)
#define STD_ERROR_HANDLE ((DWORD)-12)
#define HANDLE_FLAG_INHERIT 0x00000001
#define HANDLE_FLAG_PROTECT_FROM_CLOSE 0x00000002
#define DUPLICATE_CLOSE_SOURCE 0x00000001
#define DUPLICATE_SAME_ACCESS 0x00000002
#define STARTF_USESHOWWINDOW 0x00000001
#define STARTF_USESTDHANDLES 0x00000100
#define DEBUG_PROCESS 0x00000001
#define DEBUG_ONLY_THIS_PROCESS 0x00000002
#define DETACHED_PROCESS 0x00000008
#define CREATE_NEW_CONSOLE 0x00000010
#define NORMAL_PRIORITY_CLASS 0x00000020
#define CREATE_NEW_PROCESS_GROUP 0x00000200
#define CREATE_UNICODE_ENVIRONMENT 0x00000400
#define CREATE_NO_WINDOW 0x08000000
#define PROCESS_TERMINATE 0x0001
#define PROCESS_DUP_HANDLE 0x0040
#define PROCESS_QUERY_INFORMATION 0x0400
#define PROCESS_QUERY_LIMITED_INFORMATION 0x1000
#define PROCESS_ALL_ACCESS (STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0xFFFF)
#define FILE_TYPE_UNKNOWN 0x0000
#define FILE_TYPE_DISK 0x0001
#define FILE_TYPE_CHAR 0x0002
#define FILE_TYPE_PIPE 0x0003
#define FILE_TYPE_REMOTE 0x8000
#define FILE_BEGIN 0
#define FILE_CURRENT 1
#define FILE_END 2
#define INVALID_SET_FILE_POINTER ((DWORD)-1)
#define INVALID_FILE_SIZE ((DWORD)0xFFFFFFFF)
#define FILE_ATTRIBUTE_READONLY 0x00000001
#define FILE_ATTRIBUTE_HIDDEN 0x00000002
#define FILE_ATTRIBUTE_SYSTEM 0x00000004
#define FILE_ATTRIBUTE_DIRECTORY 0x00000010
#define FILE_ATTRIBUTE_ARCHIVE 0x00000020
#define FILE_ATTRIBUTE_TEMPORARY 0x00000100
#define FILE_FLAG_NO_BUFFERING 0x20000000
#define FILE_FLAG_RANDOM_ACCESS 0x10000000
#define FILE_FLAG_SEQUENTIAL_SCAN 0x08000000
#define FILE_FLAG_DELETE_ON_CLOSE 0x04000000
#define FILE_FLAG_BACKUP_SEMANTICS 0x02000000
#define FILE_ALL_ACCESS (STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0x1FF)
#define FILE_GENERIC_READ (READ_CONTROL | FILE_READ_DATA | FILE_READ_ATTRIBUTES | FILE_READ_EA | SYNCHRONIZE)
#define FILE_GENERIC_WRITE (READ_CONTROL | FILE_WRITE_DATA | FILE_WRITE_ATTRIBUTES | FILE_WRITE_EA | FILE_APPEND_DATA | SYNCHRONIZE)
#define ERROR_TOO_MANY_OPEN_FILES 4L
#define ERROR_NO_MORE_FILES 18L
#define ERROR_GEN_FAILURE 31L
#define ERROR_HANDLE_DISK_FULL 39L
#define ERROR_BAD_NETPATH 53L
#define ERROR_NETNAME_DELETED 64L
#define ERROR_BAD_NET_NAME 67L
#define ERROR_BAD_DEVICE 1200L
#define ERROR_LOGON_FAILURE 1326L
#define ERROR_NOT_CONNECTED 2250L
#define ERROR_FILE_EXISTS 80L
#define ERROR_DISK_FULL 112L
#define ERROR_CALL_NOT_IMPLEMENTED 120L
#define ERROR_NEGATIVE_SEEK 131L
#define ERROR_DIR_NOT_EMPTY 145L
#define ERROR_BAD_PATHNAME 161L
#define ERROR_BUSY 170L
#define ERROR_MOD_NOT_FOUND 126L
#define ERROR_PROC_NOT_FOUND 127L
#define ERROR_BAD_EXE_FORMAT 193L
#define ERROR_DIRECTORY 267L
#define ERROR_MR_MID_NOT_FOUND 317L
#define ERROR_IO_DEVICE 1117L
#define ERROR_RESOURCE_LANG_NOT_FOUND 1815L
#define ERROR_CANT_RESOLVE_FILENAME 1921L
#define FORMAT_MESSAGE_ALLOCATE_BUFFER 0x00000100
#define FORMAT_MESSAGE_IGNORE_INSERTS 0x00000200
#define FORMAT_MESSAGE_FROM_STRING 0x00000400
#define FORMAT_MESSAGE_FROM_HMODULE 0x00000800
#define FORMAT_MESSAGE_FROM_SYSTEM 0x00001000
#define FORMAT_MESSAGE_ARGUMENT_ARRAY 0x00002000
#define FORMAT_MESSAGE_MAX_WIDTH_MASK 0x000000FF
#define LANG_NEUTRAL 0x00
#define LANG_ENGLISH 0x09
#define SUBLANG_NEUTRAL 0x00
#define SUBLANG_DEFAULT 0x01
#define SUBLANG_SYS_DEFAULT 0x02
#define SUBLANG_ENGLISH_US 0x01
#define MAKELANGID(p, s) ((((WORD)(s)) << 10) | (WORD)(p))
#define LANG_USER_DEFAULT (MAKELANGID(LANG_NEUTRAL, SUBLANG_DEFAULT))
#define LANG_SYSTEM_DEFAULT (MAKELANGID(LANG_NEUTRAL, SUBLANG_SYS_DEFAULT))
#define MB_OK 0x00000000L
#define MB_OKCANCEL 0x00000001L
#define MB_ICONERROR 0x00000010L
#define MB_ICONWARNING 0x00000030L
#define MB_ICONINFORMATION 0x00000040L
#define IDOK 1

typedef struct _STARTUPINFOA {
    DWORD cb;
    LPSTR lpReserved;
    LPSTR lpDesktop;
    LPSTR lpTitle;
    DWORD dwX;
    DWORD dwY;
    DWORD dwXSize;
    DWORD dwYSize;
    DWORD dwXCountChars;
    DWORD dwYCountChars;
    DWORD dwFillAttribute;
    DWORD dwFlags;
    WORD wShowWindow;
    WORD cbReserved2;
    LPBYTE lpReserved2;
    HANDLE hStdInput;
    HANDLE hStdOutput;
    HANDLE hStdError;
} STARTUPINFOA, *LPSTARTUPINFOA;
typedef struct _STARTUPINFOW {
    DWORD cb;
    LPWSTR lpReserved;
    LPWSTR lpDesktop;
    LPWSTR lpTitle;
    DWORD dwX;
    DWORD dwY;
    DWORD dwXSize;
    DWORD dwYSize;
    DWORD dwXCountChars;
    DWORD dwYCountChars;
    DWORD dwFillAttribute;
    DWORD dwFlags;
    WORD wShowWindow;
    WORD cbReserved2;
    LPBYTE lpReserved2;
    HANDLE hStdInput;
    HANDLE hStdOutput;
    HANDLE hStdError;
} STARTUPINFOW, *LPSTARTUPINFOW;
typedef struct _PROCESS_INFORMATION {
    HANDLE hProcess;
    HANDLE hThread;
    DWORD dwProcessId;
    DWORD dwThreadId;
} PROCESS_INFORMATION, *PPROCESS_INFORMATION, *LPPROCESS_INFORMATION;
typedef struct _FILETIME {
    DWORD dwLowDateTime;
    DWORD dwHighDateTime;
} FILETIME, *PFILETIME, *LPFILETIME;
typedef union _LARGE_INTEGER {
    NPIPE_EXTENSION struct {
        DWORD LowPart;
        LONG HighPart;
    } DUMMYSTRUCTNAME;
    struct {
        DWORD LowPart;
        LONG HighPart;
    } u;
    LONGLONG QuadPart;
} LARGE_INTEGER, *PLARGE_INTEGER;

/* The performance counter: the monotonic clock at 10 MHz (QueryPerformanceFrequency gives
 * 10000000, as on current Windows). */
BOOL WINAPI npipe_QueryPerformanceCounter(LARGE_INTEGER *lpPerformanceCount);
BOOL WINAPI npipe_QueryPerformanceFrequency(LARGE_INTEGER *lpFrequency);
typedef struct _WIN32_FIND_DATAA {
    DWORD dwFileAttributes;
    FILETIME ftCreationTime;
    FILETIME ftLastAccessTime;
    FILETIME ftLastWriteTime;
    DWORD nFileSizeHigh;
    DWORD nFileSizeLow;
    DWORD dwReserved0;
    DWORD dwReserved1;
    CHAR cFileName[MAX_PATH];
    CHAR cAlternateFileName[14];
} WIN32_FIND_DATAA, *PWIN32_FIND_DATAA, *LPWIN32_FIND_DATAA;

/* Processes. CreateProcess runs a Linux program: the command line is split with Windows'
 * rules and its first token (or lpApplicationName, a path) is the program, looked up beside the
 * calling program, in the current directory, then on PATH ("child.exe" also finds "child").
 * With STARTF_USESTDHANDLES the STARTUPINFO handles become the child's descriptors 0, 1 and 2,
 * otherwise this process's standard handles do. With bInheritHandles, every inheritable file and
 * anonymous pipe handle (HANDLE_FLAG_INHERIT: CreatePipe/CreateFile with bInheritHandle,
 * SetHandleInformation, DuplicateHandle) reaches the child at the same handle value; a handle
 * that is not inheritable is never open in the child. A named pipe end as a standard handle is
 * carried by a relay thread of this process. The process handle is signalled when the process
 * exits, and hThread, the main thread (GetExitCodeThread gives the process's code, ResumeThread
 * 0, and the process calls refuse it), at the same time; a wait-all may name both. An
 * inheritable handle given as a standard handle is that standard handle in the child (the same
 * value: closing it there releases the pipe), and GetCommandLineA there is lpCommandLine as
 * written.
 * npipe departs: CREATE_SUSPENDED fails with ERROR_NOT_SUPPORTED; window, console and priority
 * flags, the security attributes and lpDesktop/lpTitle are ignored; named pipe, mailslot, event
 * and thread handles are not inherited (open the name again in the child); a Linux exit status
 * keeps only the low 8 bits of an exit code; a child killed by a signal exits with the code
 * TerminateProcess gave, 0xC0000005 for SIGSEGV, 3 for SIGABRT, or 128 + the signal. */
BOOL WINAPI npipe_CreateProcessA(LPCSTR lpApplicationName, LPSTR lpCommandLine, LPSECURITY_ATTRIBUTES lpProcessAttributes,
                                 LPSECURITY_ATTRIBUTES lpThreadAttributes, BOOL bInheritHandles, DWORD dwCreationFlags,
                                 LPVOID lpEnvironment, LPCSTR lpCurrentDirectory, LPSTARTUPINFOA lpStartupInfo,
                                 LPPROCESS_INFORMATION lpProcessInformation);
BOOL WINAPI npipe_CreateProcessW(LPCWSTR lpApplicationName, LPWSTR lpCommandLine, LPSECURITY_ATTRIBUTES lpProcessAttributes,
                                 LPSECURITY_ATTRIBUTES lpThreadAttributes, BOOL bInheritHandles, DWORD dwCreationFlags,
                                 LPVOID lpEnvironment, LPCWSTR lpCurrentDirectory, LPSTARTUPINFOW lpStartupInfo,
                                 LPPROCESS_INFORMATION lpProcessInformation);
BOOL WINAPI npipe_GetExitCodeProcess(HANDLE hProcess, LPDWORD lpExitCode);
BOOL WINAPI npipe_TerminateProcess(HANDLE hProcess, UINT uExitCode);
DECLSPEC_NORETURN VOID WINAPI npipe_ExitProcess(UINT uExitCode);
HANDLE WINAPI npipe_GetCurrentProcess(void);
DWORD WINAPI npipe_GetProcessId(HANDLE Process);
/* GetModuleFileNameA(NULL, ...) (or the program's module handle) is this program's path;
 * GetCommandLineA its arguments with Windows' quoting. npipe departs: another module is
 * ERROR_MOD_NOT_FOUND. */
DWORD WINAPI npipe_GetModuleFileNameA(HMODULE hModule, LPSTR lpFilename, DWORD nSize);
/* Modules, for functions looked up at run time: GetModuleHandle(NULL) is the program, and the
 * system DLLs npipe provides functions of (kernel32, kernelbase, advapi32, mpr; with or without
 * ".dll", any case, any path) are one module, in which GetProcAddress finds every function this
 * header declares by its Win32 name ("CancelIoEx"). npipe departs: no other library is loaded
 * (ERROR_MOD_NOT_FOUND), and ordinals and the program's own exports are ERROR_PROC_NOT_FOUND. */
typedef INT_PTR (WINAPI *FARPROC)(void);
HMODULE WINAPI npipe_GetModuleHandleA(LPCSTR lpModuleName);
HMODULE WINAPI npipe_GetModuleHandleW(LPCWSTR lpModuleName);
HMODULE WINAPI npipe_LoadLibraryA(LPCSTR lpLibFileName);
HMODULE WINAPI npipe_LoadLibraryW(LPCWSTR lpLibFileName);
BOOL WINAPI npipe_FreeLibrary(HMODULE hLibModule);
FARPROC WINAPI npipe_GetProcAddress(HMODULE hModule, LPCSTR lpProcName);
LPSTR WINAPI npipe_GetCommandLineA(void);

/* Handles. DuplicateHandle works within this process (GetCurrentProcess() as source and
 * target); the duplicate names the same object, which closes with its last handle.
 * npipe departs: another process as source or target is ERROR_NOT_SUPPORTED; dwDesiredAccess
 * is not enforced. */
BOOL WINAPI npipe_DuplicateHandle(HANDLE hSourceProcessHandle, HANDLE hSourceHandle, HANDLE hTargetProcessHandle,
                                  LPHANDLE lpTargetHandle, DWORD dwDesiredAccess, BOOL bInheritHandle, DWORD dwOptions);
BOOL WINAPI npipe_GetHandleInformation(HANDLE hObject, LPDWORD lpdwFlags);
BOOL WINAPI npipe_SetHandleInformation(HANDLE hObject, DWORD dwMask, DWORD dwFlags);

/* Standard handles: made over descriptors 0, 1 and 2 on first use (a pipe there is an
 * anonymous pipe end: PeekNamedPipe works, end of file is ERROR_BROKEN_PIPE). SetStdHandle
 * changes what GetStdHandle returns and what a child gets, not this program's descriptors.
 * CloseHandle on one closes the descriptor's pipe or file and leaves /dev/null in its place. */
HANDLE WINAPI npipe_GetStdHandle(DWORD nStdHandle);
BOOL WINAPI npipe_SetStdHandle(DWORD nStdHandle, HANDLE hHandle);

/* Files. CreateFile on a name that is not \\.\pipe\ or \\.\mailslot\ (or another \\ name)
 * opens a Unix path, relative or absolute; "NUL" is /dev/null. Dispositions, FILE_APPEND_DATA,
 * FILE_ATTRIBUTE_READONLY (a new file is made read-only), FILE_FLAG_DELETE_ON_CLOSE and
 * FILE_FLAG_BACKUP_SEMANTICS (needed for a directory) work as on Windows; a named FIFO opened
 * one way is an anonymous pipe end. ReadFile/WriteFile with an OVERLAPPED use its offset and
 * complete at once.
 * npipe departs: sharing modes are not enforced (Linux has no mandatory sharing), other
 * attributes and flags are ignored. */
DWORD WINAPI npipe_GetFileType(HANDLE hFile);
DWORD WINAPI npipe_GetFileSize(HANDLE hFile, LPDWORD lpFileSizeHigh);
BOOL WINAPI npipe_GetFileSizeEx(HANDLE hFile, PLARGE_INTEGER lpFileSize);
DWORD WINAPI npipe_SetFilePointer(HANDLE hFile, LONG lDistanceToMove, PLONG lpDistanceToMoveHigh, DWORD dwMoveMethod);
BOOL WINAPI npipe_SetFilePointerEx(HANDLE hFile, LARGE_INTEGER liDistanceToMove, PLARGE_INTEGER lpNewFilePointer,
                                   DWORD dwMoveMethod);
BOOL WINAPI npipe_SetEndOfFile(HANDLE hFile);
BOOL WINAPI npipe_DeleteFileA(LPCSTR lpFileName);

/* Listings. FindFirstFileA("\\\\.\\pipe\\*") lists the pipes this process can see (served in the
 * same NPIPE_NAMESPACE by the same user, or by anyone for root): cFileName is the name after the
 * prefix as created, nFileSizeLow the number of instances, the attributes FILE_ATTRIBUTE_NORMAL.
 * "\\\\.\\mailslot\\*" lists mailslots. Any other pattern lists a directory (* and ? in the last
 * component, letters matched without case; "." and ".." included as on Windows). No match is
 * ERROR_FILE_NOT_FOUND, the end of a listing ERROR_NO_MORE_FILES. */
HANDLE WINAPI npipe_FindFirstFileA(LPCSTR lpFileName, LPWIN32_FIND_DATAA lpFindFileData);
BOOL WINAPI npipe_FindNextFileA(HANDLE hFindFile, LPWIN32_FIND_DATAA lpFindFileData);
BOOL WINAPI npipe_FindClose(HANDLE hFindFile);

/* Messages: Windows' English texts for every code npipe sets (FORMAT_MESSAGE_FROM_SYSTEM), and
 * FORMAT_MESSAGE_FROM_STRING. A buffer from FORMAT_MESSAGE_ALLOCATE_BUFFER is freed with
 * LocalFree.
 * npipe departs: inserts are filled only from FORMAT_MESSAGE_ARGUMENT_ARRAY (without it or
 * FORMAT_MESSAGE_IGNORE_INSERTS, a message with inserts fails with ERROR_INVALID_PARAMETER). */
DWORD WINAPI npipe_FormatMessageA(DWORD dwFlags, LPCVOID lpSource, DWORD dwMessageId, DWORD dwLanguageId, LPSTR lpBuffer,
                                  DWORD nSize, va_list *Arguments);
DWORD WINAPI npipe_FormatMessageW(DWORD dwFlags, LPCVOID lpSource, DWORD dwMessageId, DWORD dwLanguageId, LPWSTR lpBuffer,
                                  DWORD nSize, va_list *Arguments);

#ifndef NPIPE_NO_WIN32_NAMES
/* The token pseudo handles (inline functions in Windows' headers too): GetTokenInformation
 * takes them; GetCurrentThreadToken is ERROR_NO_TOKEN on a thread that does not impersonate,
 * GetCurrentThreadEffectiveToken is then the process token. */
static inline HANDLE GetCurrentProcessToken(void) {
    return (HANDLE)(intptr_t)-4;
}
static inline HANDLE GetCurrentThreadToken(void) {
    return (HANDLE)(intptr_t)-5;
}
static inline HANDLE GetCurrentThreadEffectiveToken(void) {
    return (HANDLE)(intptr_t)-6;
}

/* npipe departs: MessageBox writes "caption: text" and a newline to standard error (there is no
 * window system) and returns IDOK. */
static inline int WINAPI MessageBoxA(HWND hWnd, LPCSTR lpText, LPCSTR lpCaption, UINT uType) {
    (void)hWnd;
    (void)uType;
    fprintf(stderr, "%s: %s\n", lpCaption ? lpCaption : "Error", lpText ? lpText : "");
    return IDOK;
}

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
/* HeapReAlloc: realloc. npipe departs: the C library does not record a block's requested size,
 * so HEAP_ZERO_MEMORY zeroes from the end of the old block as malloc sized it
 * (malloc_usable_size, a few bytes past the old size at most); and HEAP_REALLOC_IN_PLACE_ONLY
 * always fails (returns NULL), which Windows allows when a block cannot stay in place. */
static inline LPVOID WINAPI HeapReAlloc(HANDLE hHeap, DWORD dwFlags, LPVOID lpMem, SIZE_T dwBytes) {
    void *p;
    size_t old;
    (void)hHeap;
    if (lpMem == NULL || (dwFlags & HEAP_REALLOC_IN_PLACE_ONLY)) return NULL;
    if (dwBytes == 0) dwBytes = 1;
    old = malloc_usable_size(lpMem);
    p = realloc(lpMem, dwBytes);
    if (p != NULL && (dwFlags & HEAP_ZERO_MEMORY) && dwBytes > old) memset((char *)p + old, 0, dwBytes - old);
    return p;
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
static inline SIZE_T WINAPI LocalSize(HLOCAL hMem) { return hMem ? malloc_usable_size(hMem) : 0; }
static inline SIZE_T WINAPI GlobalSize(HGLOBAL hMem) { return hMem ? malloc_usable_size(hMem) : 0; }
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

/* Interlocked operations: static inline functions over the compiler's atomic builtins, each a
 * full barrier as on Windows; they return the new value (Increment, Decrement) or the old one
 * (Exchange, CompareExchange, ExchangeAdd). */
static inline LONG InterlockedIncrement(LONG volatile *Addend) {
    return __atomic_add_fetch(Addend, 1, __ATOMIC_SEQ_CST);
}
static inline LONG InterlockedDecrement(LONG volatile *Addend) {
    return __atomic_sub_fetch(Addend, 1, __ATOMIC_SEQ_CST);
}
static inline LONG InterlockedExchange(LONG volatile *Target, LONG Value) {
    return __atomic_exchange_n(Target, Value, __ATOMIC_SEQ_CST);
}
static inline LONG InterlockedExchangeAdd(LONG volatile *Addend, LONG Value) {
    return __atomic_fetch_add(Addend, Value, __ATOMIC_SEQ_CST);
}
static inline LONG InterlockedCompareExchange(LONG volatile *Destination, LONG Exchange, LONG Comparand) {
    __atomic_compare_exchange_n(Destination, &Comparand, Exchange, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return Comparand;
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


/* Security (winnt.h, securitybaseapi.h, namedpipeapi.h): SIDs, ACLs and security descriptors,
 * which CreateNamedPipe and CreateMailslot read from lpSecurityAttributes as the object's
 * access policy, and impersonation of a pipe's client. <aclapi.h> adds SetEntriesInAcl and
 * <sddl.h> the SDDL string calls.
 * npipe departs:
 *   - Unix users and groups are the SIDs Samba gives them, S-1-22-1-<uid> and S-1-22-2-<gid>.
 *     Everyone, Authenticated Users, Interactive and BUILTIN\Users are every local process;
 *     LocalSystem and BUILTIN\Administrators are root; CREATOR OWNER and OWNER RIGHTS the
 *     creating user; entries for NETWORK and Anonymous match no local process. A DACL that
 *     names any other SID, or holds ACE types other than allow and deny, fails the create with
 *     ERROR_INVALID_SECURITY_DESCR rather than grant more or less than it says. Owner, group
 *     and SACL are not used.
 *   - ImpersonateNamedPipeClient switches the calling thread's fsuid, fsgid and supplementary
 *     groups (files it opens are checked as the client's). A server of another user than the
 *     client needs CAP_SETUID and CAP_SETGID; without them the call fails with
 *     ERROR_PRIVILEGE_NOT_HELD. A thread created while impersonating starts as the client.
 *   - npipe_get_server_uid (an npipe extension) gives a client the server's effective uid. */
typedef DWORD ACCESS_MASK;
typedef ACCESS_MASK *PACCESS_MASK;
typedef PVOID PSID;
typedef PVOID PSECURITY_DESCRIPTOR;
typedef WORD SECURITY_DESCRIPTOR_CONTROL, *PSECURITY_DESCRIPTOR_CONTROL;
typedef struct _SID_IDENTIFIER_AUTHORITY {
    BYTE Value[6];
} SID_IDENTIFIER_AUTHORITY, *PSID_IDENTIFIER_AUTHORITY;
typedef struct _SID {
    BYTE Revision;
    BYTE SubAuthorityCount;
    SID_IDENTIFIER_AUTHORITY IdentifierAuthority;
    DWORD SubAuthority[1];
} SID, *PISID;
typedef struct _ACL {
    BYTE AclRevision;
    BYTE Sbz1;
    WORD AclSize;
    WORD AceCount;
    WORD Sbz2;
} ACL, *PACL;
typedef struct _ACE_HEADER {
    BYTE AceType;
    BYTE AceFlags;
    WORD AceSize;
} ACE_HEADER, *PACE_HEADER;
typedef struct _ACCESS_ALLOWED_ACE {
    ACE_HEADER Header;
    ACCESS_MASK Mask;
    DWORD SidStart;
} ACCESS_ALLOWED_ACE, *PACCESS_ALLOWED_ACE;
typedef struct _ACCESS_DENIED_ACE {
    ACE_HEADER Header;
    ACCESS_MASK Mask;
    DWORD SidStart;
} ACCESS_DENIED_ACE, *PACCESS_DENIED_ACE;
typedef struct _SECURITY_DESCRIPTOR {
    BYTE Revision;
    BYTE Sbz1;
    SECURITY_DESCRIPTOR_CONTROL Control;
    PSID Owner;
    PSID Group;
    PACL Sacl;
    PACL Dacl;
} SECURITY_DESCRIPTOR, *PISECURITY_DESCRIPTOR;

#define SECURITY_DESCRIPTOR_REVISION 1
#define SECURITY_DESCRIPTOR_REVISION1 1
#define SECURITY_DESCRIPTOR_MIN_LENGTH (sizeof(SECURITY_DESCRIPTOR))
#define SID_REVISION 1
#define SID_MAX_SUB_AUTHORITIES 15
#define ACL_REVISION 2
#define ACL_REVISION_DS 4
#define SE_OWNER_DEFAULTED 0x0001
#define SE_GROUP_DEFAULTED 0x0002
#define SE_DACL_PRESENT 0x0004
#define SE_DACL_DEFAULTED 0x0008
#define SE_SACL_PRESENT 0x0010
#define SE_SACL_DEFAULTED 0x0020
#define SE_DACL_AUTO_INHERIT_REQ 0x0100
#define SE_DACL_AUTO_INHERITED 0x0400
#define SE_DACL_PROTECTED 0x1000
#define SE_SELF_RELATIVE 0x8000
#define ACCESS_ALLOWED_ACE_TYPE 0x0
#define ACCESS_DENIED_ACE_TYPE 0x1
#define OBJECT_INHERIT_ACE 0x1
#define CONTAINER_INHERIT_ACE 0x2
#define NO_PROPAGATE_INHERIT_ACE 0x4
#define INHERIT_ONLY_ACE 0x8
#define INHERITED_ACE 0x10
#ifndef DELETE
#define DELETE 0x00010000
#endif
#define WRITE_OWNER 0x00080000
#define STANDARD_RIGHTS_READ READ_CONTROL
#define STANDARD_RIGHTS_WRITE READ_CONTROL
#define STANDARD_RIGHTS_EXECUTE READ_CONTROL
#define STANDARD_RIGHTS_ALL 0x001F0000
#define MAXIMUM_ALLOWED 0x02000000
#ifndef FILE_EXECUTE
#define FILE_EXECUTE 0x0020
#endif
#ifndef FILE_GENERIC_EXECUTE
#define FILE_GENERIC_EXECUTE (STANDARD_RIGHTS_EXECUTE | FILE_READ_ATTRIBUTES | FILE_EXECUTE | SYNCHRONIZE)
#endif
/* As <winnt.h> spells them, so that both `SID_IDENTIFIER_AUTHORITY a = SECURITY_NT_AUTHORITY;`
 * (Microsoft's samples) and `= { SECURITY_NT_AUTHORITY }` (Qt) are that authority; GCC's
 * -Wmissing-braces (in -Wall, for C) warns about the first, as it does with mingw-w64. */
#define SECURITY_NULL_SID_AUTHORITY {0, 0, 0, 0, 0, 0}
#define SECURITY_WORLD_SID_AUTHORITY {0, 0, 0, 0, 0, 1}
#define SECURITY_LOCAL_SID_AUTHORITY {0, 0, 0, 0, 0, 2}
#define SECURITY_CREATOR_SID_AUTHORITY {0, 0, 0, 0, 0, 3}
#define SECURITY_NT_AUTHORITY {0, 0, 0, 0, 0, 5}
#define SECURITY_NULL_RID 0x00000000L
#define SECURITY_WORLD_RID 0x00000000L
#define SECURITY_CREATOR_OWNER_RID 0x00000000L
#define SECURITY_CREATOR_OWNER_RIGHTS_RID 0x00000004L
#define SECURITY_NETWORK_RID 0x00000002L
#define SECURITY_INTERACTIVE_RID 0x00000004L
#define SECURITY_ANONYMOUS_LOGON_RID 0x00000007L
#define SECURITY_AUTHENTICATED_USER_RID 0x0000000BL
#define SECURITY_LOCAL_SYSTEM_RID 0x00000012L
#define SECURITY_BUILTIN_DOMAIN_RID 0x00000020L
#define DOMAIN_ALIAS_RID_ADMINS 0x00000220L
#define DOMAIN_ALIAS_RID_USERS 0x00000221L

BOOL WINAPI npipe_AllocateAndInitializeSid(PSID_IDENTIFIER_AUTHORITY pIdentifierAuthority,
                                           BYTE nSubAuthorityCount, DWORD nSubAuthority0,
                                           DWORD nSubAuthority1, DWORD nSubAuthority2,
                                           DWORD nSubAuthority3, DWORD nSubAuthority4,
                                           DWORD nSubAuthority5, DWORD nSubAuthority6,
                                           DWORD nSubAuthority7, PSID *pSid);
PVOID WINAPI npipe_FreeSid(PSID pSid);
BOOL WINAPI npipe_IsValidSid(PSID pSid);
DWORD WINAPI npipe_GetLengthSid(PSID pSid);
BOOL WINAPI npipe_EqualSid(PSID pSid1, PSID pSid2);
BOOL WINAPI npipe_InitializeAcl(PACL pAcl, DWORD nAclLength, DWORD dwAclRevision);
BOOL WINAPI npipe_IsValidAcl(PACL pAcl);
BOOL WINAPI npipe_AddAccessAllowedAce(PACL pAcl, DWORD dwAceRevision, DWORD AccessMask, PSID pSid);
BOOL WINAPI npipe_AddAccessDeniedAce(PACL pAcl, DWORD dwAceRevision, DWORD AccessMask, PSID pSid);
BOOL WINAPI npipe_InitializeSecurityDescriptor(PSECURITY_DESCRIPTOR pSecurityDescriptor, DWORD dwRevision);
BOOL WINAPI npipe_SetSecurityDescriptorDacl(PSECURITY_DESCRIPTOR pSecurityDescriptor, BOOL bDaclPresent,
                                            PACL pDacl, BOOL bDaclDefaulted);
BOOL WINAPI npipe_GetSecurityDescriptorDacl(PSECURITY_DESCRIPTOR pSecurityDescriptor,
                                            LPBOOL lpbDaclPresent, PACL *pDacl, LPBOOL lpbDaclDefaulted);
BOOL WINAPI npipe_IsValidSecurityDescriptor(PSECURITY_DESCRIPTOR pSecurityDescriptor);
/* npipe departs: CreateNamedPipe and CreateMailslot read only a descriptor's DACL; the owner
 * and group are recorded in it and given back, and the object's owner (CREATOR OWNER, OWNER
 * RIGHTS) stays the creating user. */
BOOL WINAPI npipe_SetSecurityDescriptorOwner(PSECURITY_DESCRIPTOR pSecurityDescriptor, PSID pOwner,
                                             BOOL bOwnerDefaulted);
BOOL WINAPI npipe_SetSecurityDescriptorGroup(PSECURITY_DESCRIPTOR pSecurityDescriptor, PSID pGroup,
                                             BOOL bGroupDefaulted);
BOOL WINAPI npipe_GetSecurityDescriptorOwner(PSECURITY_DESCRIPTOR pSecurityDescriptor, PSID *pOwner,
                                             LPBOOL lpbOwnerDefaulted);
BOOL WINAPI npipe_GetSecurityDescriptorGroup(PSECURITY_DESCRIPTOR pSecurityDescriptor, PSID *pGroup,
                                             LPBOOL lpbGroupDefaulted);
BOOL WINAPI npipe_CopySid(DWORD nDestinationSidLength, PSID pDestinationSid, PSID pSourceSid);
PDWORD WINAPI npipe_GetSidSubAuthority(PSID pSid, DWORD nSubAuthority);
PUCHAR WINAPI npipe_GetSidSubAuthorityCount(PSID pSid);
PSID_IDENTIFIER_AUTHORITY WINAPI npipe_GetSidIdentifierAuthority(PSID pSid);

/* Access tokens and accounts. A token is a snapshot of a Linux identity taken when it is
 * opened: its user is S-1-22-1-<uid>, its groups S-1-22-2-<gid> (the primary group first, then
 * the supplementary ones), Everyone, and BUILTIN\Administrators for root. OpenProcessToken
 * gives the calling thread's own identity (also while it impersonates; of another process, its
 * effective ids from /proc); OpenThreadToken the identity of the pipe client the calling thread
 * impersonates (ImpersonateNamedPipeClient), or ERROR_NO_TOKEN when it does not.
 * npipe departs: tokens carry no privileges and are not waitable (ERROR_INVALID_HANDLE);
 * OpenThreadToken opens only the calling thread's token (another thread: ERROR_NOT_SUPPORTED);
 * GetTokenInformation answers TokenUser, TokenGroups, TokenOwner, TokenPrimaryGroup,
 * TokenType, TokenImpersonationLevel, TokenSessionId (this process's tokens: the Linux session)
 * and TokenElevation (root), and ERROR_INVALID_PARAMETER for any other class.
 * Accounts are named as Samba names them: user S-1-22-1-<uid> is "Unix User\<name>"
 * (SidTypeUser), group S-1-22-2-<gid> "Unix Group\<name>" (SidTypeGroup); the well-known SIDs
 * have their Windows names. Only this machine can be asked (lpSystemName NULL or empty; any
 * other gives RPC_S_SERVER_UNAVAILABLE). GetUserName is the calling thread's user (the client
 * while impersonating). */
#define TOKEN_ASSIGN_PRIMARY 0x0001
#define TOKEN_DUPLICATE 0x0002
#define TOKEN_IMPERSONATE 0x0004
#define TOKEN_QUERY 0x0008
#define TOKEN_QUERY_SOURCE 0x0010
#define TOKEN_ADJUST_PRIVILEGES 0x0020
#define TOKEN_ADJUST_GROUPS 0x0040
#define TOKEN_ADJUST_DEFAULT 0x0080
#define TOKEN_ADJUST_SESSIONID 0x0100
#define TOKEN_READ (STANDARD_RIGHTS_READ | TOKEN_QUERY)
#define TOKEN_ALL_ACCESS 0x000F01FF
#define SE_GROUP_MANDATORY 0x00000001L
#define SE_GROUP_ENABLED_BY_DEFAULT 0x00000002L
#define SE_GROUP_ENABLED 0x00000004L
#define SE_GROUP_OWNER 0x00000008L
#define UNLEN 256
typedef enum _TOKEN_INFORMATION_CLASS {
    TokenUser = 1,
    TokenGroups,
    TokenPrivileges,
    TokenOwner,
    TokenPrimaryGroup,
    TokenDefaultDacl,
    TokenSource,
    TokenType,
    TokenImpersonationLevel,
    TokenStatistics,
    TokenRestrictedSids,
    TokenSessionId,
    TokenGroupsAndPrivileges,
    TokenSessionReference,
    TokenSandBoxInert,
    TokenAuditPolicy,
    TokenOrigin,
    TokenElevationType,
    TokenLinkedToken,
    TokenElevation,
    TokenHasRestrictions,
    TokenAccessInformation,
    TokenVirtualizationAllowed,
    TokenVirtualizationEnabled,
    TokenIntegrityLevel,
    TokenUIAccess,
    TokenMandatoryPolicy,
    TokenLogonSid
} TOKEN_INFORMATION_CLASS, *PTOKEN_INFORMATION_CLASS;
typedef enum _TOKEN_TYPE { TokenPrimary = 1, TokenImpersonation } TOKEN_TYPE, *PTOKEN_TYPE;
typedef struct _SID_AND_ATTRIBUTES {
    PSID Sid;
    DWORD Attributes;
} SID_AND_ATTRIBUTES, *PSID_AND_ATTRIBUTES;
typedef struct _TOKEN_USER {
    SID_AND_ATTRIBUTES User;
} TOKEN_USER, *PTOKEN_USER;
typedef struct _TOKEN_GROUPS {
    DWORD GroupCount;
    SID_AND_ATTRIBUTES Groups[1];
} TOKEN_GROUPS, *PTOKEN_GROUPS;
typedef struct _TOKEN_OWNER {
    PSID Owner;
} TOKEN_OWNER, *PTOKEN_OWNER;
typedef struct _TOKEN_PRIMARY_GROUP {
    PSID PrimaryGroup;
} TOKEN_PRIMARY_GROUP, *PTOKEN_PRIMARY_GROUP;
typedef struct _TOKEN_ELEVATION {
    DWORD TokenIsElevated;
} TOKEN_ELEVATION, *PTOKEN_ELEVATION;
typedef enum _SID_NAME_USE {
    SidTypeUser = 1,
    SidTypeGroup,
    SidTypeDomain,
    SidTypeAlias,
    SidTypeWellKnownGroup,
    SidTypeDeletedAccount,
    SidTypeInvalid,
    SidTypeUnknown,
    SidTypeComputer,
    SidTypeLabel,
    SidTypeLogonSession
} SID_NAME_USE, *PSID_NAME_USE;

BOOL WINAPI npipe_OpenProcessToken(HANDLE ProcessHandle, DWORD DesiredAccess, PHANDLE TokenHandle);
BOOL WINAPI npipe_OpenThreadToken(HANDLE ThreadHandle, DWORD DesiredAccess, BOOL OpenAsSelf, PHANDLE TokenHandle);
BOOL WINAPI npipe_GetTokenInformation(HANDLE TokenHandle, TOKEN_INFORMATION_CLASS TokenInformationClass,
                                      LPVOID TokenInformation, DWORD TokenInformationLength, PDWORD ReturnLength);
BOOL WINAPI npipe_LookupAccountSidA(LPCSTR lpSystemName, PSID Sid, LPSTR Name, LPDWORD cchName,
                                    LPSTR ReferencedDomainName, LPDWORD cchReferencedDomainName, PSID_NAME_USE peUse);
BOOL WINAPI npipe_LookupAccountSidW(LPCWSTR lpSystemName, PSID Sid, LPWSTR Name, LPDWORD cchName,
                                    LPWSTR ReferencedDomainName, LPDWORD cchReferencedDomainName, PSID_NAME_USE peUse);
BOOL WINAPI npipe_LookupAccountNameA(LPCSTR lpSystemName, LPCSTR lpAccountName, PSID Sid, LPDWORD cbSid,
                                     LPSTR ReferencedDomainName, LPDWORD cchReferencedDomainName, PSID_NAME_USE peUse);
BOOL WINAPI npipe_LookupAccountNameW(LPCWSTR lpSystemName, LPCWSTR lpAccountName, PSID Sid, LPDWORD cbSid,
                                     LPWSTR ReferencedDomainName, LPDWORD cchReferencedDomainName, PSID_NAME_USE peUse);
BOOL WINAPI npipe_GetUserNameA(LPSTR lpBuffer, LPDWORD pcbBuffer);
BOOL WINAPI npipe_GetUserNameW(LPWSTR lpBuffer, LPDWORD pcbBuffer);
BOOL WINAPI npipe_ImpersonateNamedPipeClient(HANDLE hNamedPipe);
BOOL WINAPI npipe_RevertToSelf(void);
/* npipe departs: session ids are Linux session ids (getsid); the peer's is read through a pidfd
 * for that very process (Linux 6.5; ERROR_NOT_SUPPORTED before), and ERROR_NOT_FOUND once the
 * peer has exited. */
BOOL WINAPI npipe_GetNamedPipeClientSessionId(HANDLE Pipe, PULONG ClientSessionId);
BOOL WINAPI npipe_GetNamedPipeServerSessionId(HANDLE Pipe, PULONG ServerSessionId);
BOOL WINAPI npipe_GetNamedPipeClientComputerNameA(HANDLE Pipe, LPSTR ClientComputerName,
                                                  ULONG ClientComputerNameLength);
BOOL WINAPI npipe_GetNamedPipeClientComputerNameW(HANDLE Pipe, LPWSTR ClientComputerName,
                                                  ULONG ClientComputerNameLength);
/* npipe extension: the effective uid of the process serving the pipe of this client handle
 * (this process's on a server handle). */
BOOL WINAPI npipe_get_server_uid(HANDLE hNamedPipe, uint32_t *puid);

/* npipe extension: serve SMB clients through the local Samba server. Exposes the pipe lpName
 * (\\.\pipe\NAME), which this process must already serve, as \\HOST\IPC$\NAME: smbd's
 * opens arrive at lpNpDir/<name lowercased> (NULL: Samba's "ncalrpc dir" + "/np", asked of
 * testparm). Each SMB open becomes one client of the pipe with the SMB user's identity (access
 * policy, ImpersonateNamedPipeClient, PIPE_REJECT_REMOTE_CLIENTS,
 * GetNamedPipeClientComputerName = the client's IP address). SMB has no PIPE_BUSY: with no free
 * instance, the open is closed after the pipe's default timeout; messages are 1..65535 bytes.
 * Needs root (Samba's np directory is root-only). ERROR_INVALID_NAME for Samba's own pipe
 * names, ERROR_FILE_NOT_FOUND when this process does not serve lpName, ERROR_ACCESS_DENIED when
 * another listener holds the socket, ERROR_ALREADY_EXISTS when already exposed.
 * npipe_UnexposeNamedPipeSmbA stops it: the socket file goes, relayed clients are disconnected. */
BOOL WINAPI npipe_ExposeNamedPipeSmbA(LPCSTR lpName, LPCSTR lpNpDir);
BOOL WINAPI npipe_UnexposeNamedPipeSmbA(LPCSTR lpName);

#ifndef UNICODE
#define CreateFile CreateFileA
#define GetNamedPipeClientComputerName GetNamedPipeClientComputerNameA
#define CreateProcess CreateProcessA
#define STARTUPINFO STARTUPINFOA
#define LPSTARTUPINFO LPSTARTUPINFOA
#define FormatMessage FormatMessageA
#define MessageBox MessageBoxA
#define GetModuleFileName GetModuleFileNameA
#define GetModuleHandle GetModuleHandleA
#define LoadLibrary LoadLibraryA
#define GetCommandLine GetCommandLineA
#define DeleteFile DeleteFileA
#define FindFirstFile FindFirstFileA
#define FindNextFile FindNextFileA
#define WIN32_FIND_DATA WIN32_FIND_DATAA
#define LPWIN32_FIND_DATA LPWIN32_FIND_DATAA
#define CreateNamedPipe CreateNamedPipeA
#define WaitNamedPipe WaitNamedPipeA
#define CallNamedPipe CallNamedPipeA
#define WNetAddConnection2 WNetAddConnection2A
#define WNetCancelConnection2 WNetCancelConnection2A
#define NETRESOURCE NETRESOURCEA
#define LPNETRESOURCE LPNETRESOURCEA
#define GetNamedPipeHandleState GetNamedPipeHandleStateA
#define LookupAccountSid LookupAccountSidA
#define LookupAccountName LookupAccountNameA
#define GetUserName GetUserNameA
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
#define GetNamedPipeClientComputerName GetNamedPipeClientComputerNameW
#define CreateProcess CreateProcessW
#define STARTUPINFO STARTUPINFOW
#define LPSTARTUPINFO LPSTARTUPINFOW
#define FormatMessage FormatMessageW
#define GetModuleHandle GetModuleHandleW
#define LoadLibrary LoadLibraryW
#define CreateNamedPipe CreateNamedPipeW
#define WaitNamedPipe WaitNamedPipeW
#define CallNamedPipe CallNamedPipeW
#define WNetAddConnection2 WNetAddConnection2W
#define WNetCancelConnection2 WNetCancelConnection2W
#define NETRESOURCE NETRESOURCEW
#define LPNETRESOURCE LPNETRESOURCEW
#define GetNamedPipeHandleState GetNamedPipeHandleStateW
#define LookupAccountSid LookupAccountSidW
#define LookupAccountName LookupAccountNameW
#define GetUserName GetUserNameW
#define CreateMailslot CreateMailslotW
#define CreateEvent CreateEventW
#define OpenEvent OpenEventW
#define lstrlen lstrlenW
/* npipe departs: no lstrcpyW, lstrcatW, lstrcmpW... */
#endif

#endif /* NPIPE_NO_WIN32_NAMES: inline helpers and generic names */

#ifdef __cplusplus
}
#endif

#endif /* NPIPE_WIN32_H */
