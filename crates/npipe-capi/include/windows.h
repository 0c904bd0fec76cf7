/* <windows.h> for programs built against npipe on Linux: compile with -I pointing at this
 * directory and link with -lnpipe -lpthread, and MSDN-style code that includes <windows.h> for
 * named pipes, mailslots, anonymous pipes, events, waits, overlapped I/O, threads, child
 * processes with redirected standard handles, ordinary files and FormatMessage compiles
 * unchanged. Everything is declared in <npipe/win32.h>, which this header includes.
 *
 * npipe departs: this is not the Windows SDK.
 *   - It declares only what libnpipe implements (listed in npipe/win32.h), plus a few inline
 *     helpers over the C library (memory, lstr*, ZeroMemory..., MessageBox to stderr). There is
 *     no user32/gdi32, registry or Winsock; CreateProcess runs Linux programs, and CreateFile
 *     opens Unix paths besides \\.\pipe\ and \\.\mailslot\ names.
 *   - It does not define _WIN32, WIN32 or _MSC_VER: code that tests them still takes its POSIX
 *     branches. Test NPIPE_WIN32_H to know you got npipe's Win32 API.
 *   - Generic names (TCHAR, TEXT, CreateFile...) are ANSI unless UNICODE is defined; <tchar.h>
 *     and <strsafe.h> are ANSI-only (see npipe/win32.h about WCHAR and TEXT under UNICODE).
 *   - The usual helper headers are here too: <tchar.h> and <strsafe.h>.
 */
#ifndef NPIPE_WINDOWS_H
#define NPIPE_WINDOWS_H

#include "npipe/win32.h"

#endif /* NPIPE_WINDOWS_H */
