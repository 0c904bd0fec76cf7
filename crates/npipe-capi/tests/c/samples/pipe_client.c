/* pipe_client: a named-pipe client in the style of Microsoft's "Named Pipe Client".
 *
 * Usage: pipe_client [-hold MS] PIPENAME MESSAGE...
 *
 * Opens \\.\pipe\PIPENAME with CreateFile, waiting with WaitNamedPipe while every instance is
 * busy (ERROR_PIPE_BUSY) and retrying for a while if the pipe does not exist yet (the server may
 * still be starting). It switches the handle to message-read mode, then for each MESSAGE writes
 * it (with its NUL) as one message and reads the reply. The read buffer is deliberately small
 * (READSIZE bytes), so a longer reply arrives in pieces: ReadFile fails with ERROR_MORE_DATA
 * until the last piece. With -hold, it keeps the connection idle for MS milliseconds before the
 * first message, so that clients started together hold several instances at the same time.
 * Exits 0 when every message got a reply.
 *
 * Output, per message:
 *   Sending 6 byte message: "hello"
 *   Reply: "answer to <hello>" (18 bytes in 2 reads)
 */
#include <windows.h>
#include <stdio.h>
#include <tchar.h>
#include <strsafe.h>

#define READSIZE 16      /* bytes per ReadFile: small on purpose, to exercise ERROR_MORE_DATA */
#define REPLYSIZE 1024
#define STARTUP_WAIT 15000

/* Opens the pipe, waiting for a free instance; INVALID_HANDLE_VALUE after printing why. */
static HANDLE OpenPipe(LPCTSTR lpszPipename) {
    DWORD dwStart = GetTickCount(), dwErr;
    HANDLE hPipe;

    for (;;) {
        hPipe = CreateFile(lpszPipename, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
        if (hPipe != INVALID_HANDLE_VALUE) return hPipe;
        dwErr = GetLastError();
        if (dwErr == ERROR_PIPE_BUSY) {
            /* Every instance is busy: wait up to 20 seconds for one to listen again. Another
             * client may still take it first, so try CreateFile again either way. */
            if (!WaitNamedPipe(lpszPipename, 20000)) {
                dwErr = GetLastError();
                if (dwErr != ERROR_FILE_NOT_FOUND) {
                    _tprintf(TEXT("Could not open pipe: WaitNamedPipe failed, GLE=%lu\n"), (unsigned long)dwErr);
                    return INVALID_HANDLE_VALUE;
                }
            }
            continue;
        }
        if (dwErr == ERROR_FILE_NOT_FOUND && GetTickCount() - dwStart < STARTUP_WAIT) {
            /* No instance exists (yet, or for a moment between instances). */
            Sleep(20);
            continue;
        }
        _tprintf(TEXT("Could not open pipe, GLE=%lu\n"), (unsigned long)dwErr);
        return INVALID_HANDLE_VALUE;
    }
}

int _tmain(int argc, TCHAR *argv[]) {
    HANDLE hPipe;
    TCHAR szPipename[MAX_PATH];
    TCHAR chBuf[READSIZE];
    TCHAR chReply[REPLYSIZE];
    DWORD cbRead, cbReply, cReads, cbToWrite, cbWritten, dwMode;
    DWORD dwHold = 0;
    BOOL fSuccess;
    int iArg = 1;

    if (argc > 3 && _tcscmp(argv[1], TEXT("-hold")) == 0) {
        dwHold = (DWORD)_ttoi(argv[2]);
        iArg = 3;
    }
    if (argc - iArg < 2) {
        _tprintf(TEXT("usage: %s [-hold MS] PIPENAME MESSAGE...\n"), argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    StringCchPrintf(szPipename, MAX_PATH, TEXT("\\\\.\\pipe\\%s"), argv[iArg]);

    hPipe = OpenPipe(szPipename);
    if (hPipe == INVALID_HANDLE_VALUE) return 1;

    /* The pipe connected; change to message-read mode. */
    dwMode = PIPE_READMODE_MESSAGE;
    if (!SetNamedPipeHandleState(hPipe, &dwMode, NULL, NULL)) {
        _tprintf(TEXT("SetNamedPipeHandleState failed, GLE=%lu\n"), (unsigned long)GetLastError());
        return 1;
    }

    if (dwHold) Sleep(dwHold);

    for (iArg++; iArg < argc; iArg++) {
        cbToWrite = (DWORD)(lstrlen(argv[iArg]) + 1) * sizeof(TCHAR);
        _tprintf(TEXT("Sending %lu byte message: \"%s\"\n"), (unsigned long)cbToWrite, argv[iArg]);
        if (!WriteFile(hPipe, argv[iArg], cbToWrite, &cbWritten, NULL) || cbWritten != cbToWrite) {
            _tprintf(TEXT("WriteFile to pipe failed, GLE=%lu\n"), (unsigned long)GetLastError());
            return 1;
        }

        /* Read the reply piece by piece: ERROR_MORE_DATA means the message goes on. */
        cbReply = 0;
        cReads = 0;
        do {
            fSuccess = ReadFile(hPipe, chBuf, READSIZE * sizeof(TCHAR), &cbRead, NULL);
            if (!fSuccess && GetLastError() != ERROR_MORE_DATA) break;
            cReads++;
            if (cbReply + cbRead > sizeof(chReply)) {
                _tprintf(TEXT("Reply too long\n"));
                return 1;
            }
            CopyMemory((LPBYTE)chReply + cbReply, chBuf, cbRead);
            cbReply += cbRead;
        } while (!fSuccess);
        if (!fSuccess) {
            _tprintf(TEXT("ReadFile from pipe failed, GLE=%lu\n"), (unsigned long)GetLastError());
            return 1;
        }
        if (cbReply == 0 || chReply[cbReply / sizeof(TCHAR) - 1] != TEXT('\0')) {
            _tprintf(TEXT("Reply is not a string (%lu bytes)\n"), (unsigned long)cbReply);
            return 1;
        }
        _tprintf(TEXT("Reply: \"%s\" (%lu bytes in %lu reads)\n"), chReply, (unsigned long)cbReply,
                 (unsigned long)cReads);
    }

    CloseHandle(hPipe);
    return 0;
}
