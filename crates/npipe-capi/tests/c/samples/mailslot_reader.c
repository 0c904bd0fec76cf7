/* mailslot_reader: a mailslot server that waits on an event, in the style of Microsoft's
 * "Reading from a Mailslot".
 *
 * Usage: mailslot_reader SLOTNAME COUNT
 *
 * Creates the auto-reset event "SLOTNAME_written" (writers open it with OpenEvent and set it
 * after each message), then the mailslot \\.\mailslot\SLOTNAME. It loops on GetMailslotInfo:
 * while messages are queued it reads each one with ReadFile, passing an OVERLAPPED whose
 * hEvent is that event, into a GlobalAlloc'd buffer sized from the next-message size, and
 * appends the message number with StringCbCat; when the mailslot is empty it waits for the
 * event (WaitForSingleObject, at most WAIT_LIMIT ms, then it gives up). It exits with status 0
 * after reading COUNT messages.
 *
 * Output, e.g.:
 *   Mailslot \\.\mailslot\demo ready
 *   Waiting for a message...
 *   Contents of the mailslot: Message one. (#1 of 2 queued)
 *   Contents of the mailslot: Message two. (#2 of 2 queued)
 *   Read 2 messages, exiting
 */
#include <windows.h>
#include <stdio.h>
#include <tchar.h>
#include <strsafe.h>

#define WAIT_LIMIT 20000

int _tmain(int argc, TCHAR *argv[]) {
    HANDLE hSlot, hEvent;
    OVERLAPPED ov;
    TCHAR szSlotName[MAX_PATH], szEventName[MAX_PATH], achID[80];
    DWORD cbMessage, cMessage, cAllMessages, cbRead, cbBuffer, cWanted, cRead = 0, dwWait;
    LPTSTR lpszBuffer;
    BOOL fResult;

    if (argc != 3 || _ttoi(argv[2]) <= 0) {
        _tprintf(TEXT("usage: %s SLOTNAME COUNT\n"), argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    StringCchPrintf(szSlotName, MAX_PATH, TEXT("\\\\.\\mailslot\\%s"), argv[1]);
    StringCchPrintf(szEventName, MAX_PATH, TEXT("%s_written"), argv[1]);
    cWanted = (DWORD)_ttoi(argv[2]);

    /* The event first, so that a writer who can open the mailslot can also open the event. */
    hEvent = CreateEvent(NULL, FALSE, FALSE, szEventName);
    if (hEvent == NULL) {
        _tprintf(TEXT("CreateEvent failed, GLE=%lu\n"), (unsigned long)GetLastError());
        return 1;
    }
    hSlot = CreateMailslot(szSlotName, 0, MAILSLOT_WAIT_FOREVER, (LPSECURITY_ATTRIBUTES)NULL);
    if (hSlot == INVALID_HANDLE_VALUE) {
        _tprintf(TEXT("CreateMailslot failed, GLE=%lu\n"), (unsigned long)GetLastError());
        return 1;
    }
    _tprintf(TEXT("Mailslot %s ready\n"), szSlotName);

    ZeroMemory(&ov, sizeof(ov));
    ov.Offset = 0;
    ov.OffsetHigh = 0;
    ov.hEvent = hEvent;

    while (cRead < cWanted) {
        fResult = GetMailslotInfo(hSlot, (LPDWORD)NULL, &cbMessage, &cMessage, (LPDWORD)NULL);
        if (!fResult) {
            _tprintf(TEXT("GetMailslotInfo failed, GLE=%lu\n"), (unsigned long)GetLastError());
            return 1;
        }
        if (cbMessage == MAILSLOT_NO_MESSAGE) {
            /* Empty: sleep until a writer signals the event. */
            _tprintf(TEXT("Waiting for a message...\n"));
            dwWait = WaitForSingleObject(hEvent, WAIT_LIMIT);
            if (dwWait == WAIT_TIMEOUT) {
                _tprintf(TEXT("No message for %d ms, giving up\n"), WAIT_LIMIT);
                return 1;
            }
            if (dwWait != WAIT_OBJECT_0) {
                _tprintf(TEXT("WaitForSingleObject returned %lu, GLE=%lu\n"), (unsigned long)dwWait,
                         (unsigned long)GetLastError());
                return 1;
            }
            continue;
        }

        /* Read every message queued now. */
        cAllMessages = cMessage;
        while (cMessage != 0 && cbMessage != MAILSLOT_NO_MESSAGE) {
            StringCchPrintf(achID, 80, TEXT(" (#%lu of %lu queued)"), (unsigned long)(cAllMessages - cMessage + 1),
                            (unsigned long)cAllMessages);
            cbBuffer = (DWORD)lstrlen(achID) * sizeof(TCHAR) + cbMessage + sizeof(TCHAR);
            lpszBuffer = (LPTSTR)GlobalAlloc(GPTR, cbBuffer);
            if (lpszBuffer == NULL) {
                _tprintf(TEXT("GlobalAlloc failed, GLE=%lu\n"), (unsigned long)GetLastError());
                return 1;
            }
            lpszBuffer[0] = TEXT('\0');

            fResult = ReadFile(hSlot, lpszBuffer, cbMessage, &cbRead, &ov);
            if (!fResult && GetLastError() == ERROR_IO_PENDING)
                fResult = GetOverlappedResult(hSlot, &ov, &cbRead, TRUE);
            if (!fResult) {
                _tprintf(TEXT("ReadFile failed, GLE=%lu\n"), (unsigned long)GetLastError());
                GlobalFree((HGLOBAL)lpszBuffer);
                return 1;
            }
            cRead++;

            /* The message is a NUL-terminated string; add its number after it. */
            StringCbCat(lpszBuffer, cbBuffer, achID);
            _tprintf(TEXT("Contents of the mailslot: %s\n"), lpszBuffer);
            GlobalFree((HGLOBAL)lpszBuffer);

            fResult = GetMailslotInfo(hSlot, (LPDWORD)NULL, &cbMessage, &cMessage, (LPDWORD)NULL);
            if (!fResult) {
                _tprintf(TEXT("GetMailslotInfo failed, GLE=%lu\n"), (unsigned long)GetLastError());
                return 1;
            }
        }
    }

    CloseHandle(hSlot);
    CloseHandle(hEvent);
    _tprintf(TEXT("Read %lu messages, exiting\n"), (unsigned long)cRead);
    return 0;
}
