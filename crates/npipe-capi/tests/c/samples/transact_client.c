/* transact_client: named-pipe transactions in the style of Microsoft's "Transactions on Named
 * Pipes": TransactNamedPipe on an open handle, then CallNamedPipe.
 *
 * Usage: transact_client PIPENAME MESSAGE1 MESSAGE2
 *
 * 1. Opens \\.\pipe\PIPENAME with CreateFile (waiting with WaitNamedPipe while the instances
 *    are busy, retrying for a while if the pipe does not exist yet), switches to message-read
 *    mode and sends MESSAGE1 with TransactNamedPipe, whose read buffer is deliberately smaller
 *    than the reply: the transaction fails with ERROR_MORE_DATA and the rest of the reply is
 *    read with ReadFile. Then it closes the handle.
 * 2. Sends MESSAGE2 with CallNamedPipe (open, message mode, transact and close in one call).
 * Each is a separate connection, so a server sees two clients. Exits 0 when both got replies.
 *
 * Output:
 *   TransactNamedPipe reply: "answer to <m1>" (15 bytes in 2 pieces)
 *   CallNamedPipe reply: "answer to <m2>" (15 bytes)
 */
#include <windows.h>
#include <stdio.h>
#include <tchar.h>
#include <strsafe.h>

#define SMALLBUF 10     /* bytes: smaller than any reply, to get ERROR_MORE_DATA */
#define BUFSIZE 512
#define STARTUP_WAIT 15000

int _tmain(int argc, TCHAR *argv[]) {
    HANDLE hPipe;
    TCHAR szPipename[MAX_PATH];
    TCHAR chReadBuf[BUFSIZE];
    TCHAR chReply[BUFSIZE];
    DWORD cbRead, cbReply, cPieces, dwMode, dwErr, dwStart;
    BOOL fSuccess;

    if (argc != 4) {
        _tprintf(TEXT("usage: %s PIPENAME MESSAGE1 MESSAGE2\n"), argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    StringCchPrintf(szPipename, MAX_PATH, TEXT("\\\\.\\pipe\\%s"), argv[1]);

    /* 1. TransactNamedPipe. Open the pipe, waiting for it if necessary. */
    dwStart = GetTickCount();
    for (;;) {
        hPipe = CreateFile(szPipename, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
        if (hPipe != INVALID_HANDLE_VALUE) break;
        dwErr = GetLastError();
        if (dwErr == ERROR_PIPE_BUSY) {
            if (!WaitNamedPipe(szPipename, 20000) && GetLastError() != ERROR_FILE_NOT_FOUND) {
                _tprintf(TEXT("Could not open pipe: WaitNamedPipe failed, GLE=%lu\n"), (unsigned long)GetLastError());
                return 1;
            }
            continue;
        }
        if (dwErr == ERROR_FILE_NOT_FOUND && GetTickCount() - dwStart < STARTUP_WAIT) {
            Sleep(20);
            continue;
        }
        _tprintf(TEXT("Could not open pipe, GLE=%lu\n"), (unsigned long)dwErr);
        return 1;
    }

    /* Transactions need message-read mode. */
    dwMode = PIPE_READMODE_MESSAGE;
    if (!SetNamedPipeHandleState(hPipe, &dwMode, NULL, NULL)) {
        _tprintf(TEXT("SetNamedPipeHandleState failed, GLE=%lu\n"), (unsigned long)GetLastError());
        return 1;
    }

    /* Write the request and read the reply in one call; the reply does not fit. */
    fSuccess = TransactNamedPipe(hPipe, argv[2], (DWORD)(lstrlen(argv[2]) + 1) * sizeof(TCHAR), chReadBuf, SMALLBUF,
                                 &cbRead, NULL);
    if (!fSuccess && GetLastError() != ERROR_MORE_DATA) {
        _tprintf(TEXT("TransactNamedPipe failed, GLE=%lu\n"), (unsigned long)GetLastError());
        return 1;
    }
    CopyMemory(chReply, chReadBuf, cbRead);
    cbReply = cbRead;
    cPieces = 1;

    /* Read the rest of the message while ReadFile reports ERROR_MORE_DATA. */
    while (!fSuccess) {
        fSuccess = ReadFile(hPipe, chReadBuf, SMALLBUF, &cbRead, NULL);
        if (!fSuccess && GetLastError() != ERROR_MORE_DATA) {
            _tprintf(TEXT("ReadFile failed, GLE=%lu\n"), (unsigned long)GetLastError());
            return 1;
        }
        if (cbReply + cbRead > sizeof(chReply)) {
            _tprintf(TEXT("Reply too long\n"));
            return 1;
        }
        CopyMemory((LPBYTE)chReply + cbReply, chReadBuf, cbRead);
        cbReply += cbRead;
        cPieces++;
    }
    if (cbReply == 0 || chReply[cbReply / sizeof(TCHAR) - 1] != TEXT('\0')) {
        _tprintf(TEXT("Transact reply is not a string (%lu bytes)\n"), (unsigned long)cbReply);
        return 1;
    }
    _tprintf(TEXT("TransactNamedPipe reply: \"%s\" (%lu bytes in %lu pieces)\n"), chReply, (unsigned long)cbReply,
             (unsigned long)cPieces);
    CloseHandle(hPipe);

    /* 2. CallNamedPipe: the same transaction on a connection of its own. It waits up to 20
     * seconds for a free instance; retry while the pipe does not exist (between instances). */
    dwStart = GetTickCount();
    for (;;) {
        fSuccess = CallNamedPipe(szPipename, argv[3], (DWORD)(lstrlen(argv[3]) + 1) * sizeof(TCHAR), chReply,
                                 sizeof(chReply), &cbRead, 20000);
        if (fSuccess || GetLastError() != ERROR_FILE_NOT_FOUND || GetTickCount() - dwStart >= STARTUP_WAIT) break;
        Sleep(20);
    }
    if (!fSuccess) {
        /* ERROR_MORE_DATA would mean the rest of the reply was lost with the handle. */
        _tprintf(TEXT("CallNamedPipe failed, GLE=%lu\n"), (unsigned long)GetLastError());
        return 1;
    }
    if (cbRead == 0 || chReply[cbRead / sizeof(TCHAR) - 1] != TEXT('\0')) {
        _tprintf(TEXT("CallNamedPipe reply is not a string (%lu bytes)\n"), (unsigned long)cbRead);
        return 1;
    }
    _tprintf(TEXT("CallNamedPipe reply: \"%s\" (%lu bytes)\n"), chReply, (unsigned long)cbRead);
    return 0;
}
