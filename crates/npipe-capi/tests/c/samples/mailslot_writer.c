/* mailslot_writer: a mailslot client in the style of Microsoft's "Writing to a Mailslot".
 *
 * Usage: mailslot_writer SLOTNAME MESSAGE...
 *
 * Opens \\.\mailslot\SLOTNAME with CreateFile, sharing it with other writers (retrying for a
 * while if the reader has not created it yet), and opens the reader's event "SLOTNAME_written"
 * with OpenEvent. It then writes each MESSAGE (with its NUL) as one mailslot message and sets
 * the event after each write so that the reader wakes up. Exits 0 when every message was
 * written.
 *
 * Output, per message:
 *   Slot written to successfully: "Message one."
 */
#include <windows.h>
#include <stdio.h>
#include <tchar.h>
#include <strsafe.h>

#define STARTUP_WAIT 15000

static BOOL WriteSlot(HANDLE hSlot, HANDLE hEvent, LPCTSTR lpszMessage) {
    DWORD cbWritten, cbMessage = (DWORD)(lstrlen(lpszMessage) + 1) * sizeof(TCHAR);

    if (!WriteFile(hSlot, lpszMessage, cbMessage, &cbWritten, (LPOVERLAPPED)NULL) || cbWritten != cbMessage) {
        _tprintf(TEXT("WriteFile failed, GLE=%lu\n"), (unsigned long)GetLastError());
        return FALSE;
    }
    if (!SetEvent(hEvent)) {
        _tprintf(TEXT("SetEvent failed, GLE=%lu\n"), (unsigned long)GetLastError());
        return FALSE;
    }
    _tprintf(TEXT("Slot written to successfully: \"%s\"\n"), lpszMessage);
    return TRUE;
}

int _tmain(int argc, TCHAR *argv[]) {
    HANDLE hFile, hEvent;
    TCHAR szSlotName[MAX_PATH], szEventName[MAX_PATH];
    DWORD dwStart;
    int i;

    if (argc < 3) {
        _tprintf(TEXT("usage: %s SLOTNAME MESSAGE...\n"), argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    StringCchPrintf(szSlotName, MAX_PATH, TEXT("\\\\.\\mailslot\\%s"), argv[1]);
    StringCchPrintf(szEventName, MAX_PATH, TEXT("%s_written"), argv[1]);

    dwStart = GetTickCount();
    for (;;) {
        /* FILE_SHARE_WRITE too: other writers may have the mailslot open at the same time. */
        hFile = CreateFile(szSlotName, GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, (LPSECURITY_ATTRIBUTES)NULL,
                           OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, (HANDLE)NULL);
        if (hFile != INVALID_HANDLE_VALUE) break;
        if (GetLastError() != ERROR_FILE_NOT_FOUND || GetTickCount() - dwStart >= STARTUP_WAIT) {
            _tprintf(TEXT("CreateFile failed, GLE=%lu\n"), (unsigned long)GetLastError());
            return 1;
        }
        Sleep(20); /* the reader has not created the mailslot yet */
    }

    /* The reader created the event before the mailslot, so it exists now. */
    hEvent = OpenEvent(EVENT_MODIFY_STATE, FALSE, szEventName);
    if (hEvent == NULL) {
        _tprintf(TEXT("OpenEvent failed, GLE=%lu\n"), (unsigned long)GetLastError());
        return 1;
    }

    for (i = 2; i < argc; i++)
        if (!WriteSlot(hFile, hEvent, argv[i])) return 1;

    CloseHandle(hEvent);
    CloseHandle(hFile);
    return 0;
}
