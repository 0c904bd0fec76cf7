/* completion_server: a single-threaded named-pipe server driven by completion routines, in the
 * style of Microsoft's "Named Pipe Server Using Completion Routines".
 *
 * Usage: completion_server PIPENAME CLIENTS
 *
 * One instance of \\.\pipe\PIPENAME at a time listens with an overlapped ConnectNamedPipe whose
 * OVERLAPPED carries a manual-reset event. The main loop sits in an alertable
 * WaitForSingleObjectEx on that event:
 *   - WAIT_OBJECT_0: a client connected. The server gives the instance its own state block
 *     (LocalAlloc), starts the conversation with ReadFileEx, and creates the next instance to
 *     listen for the next client (PIPE_UNLIMITED_INSTANCES).
 *   - WAIT_IO_COMPLETION: completion routines ran. Each read's routine answers the request with
 *     WriteFileEx ("answer to <REQUEST>"), each write's routine starts the next ReadFileEx; when
 *     the client closes its end the read fails and the instance is disconnected and closed.
 * After CLIENTS clients have come and gone, the pending connect is cancelled (CancelIo) and the
 * server exits with status 0.
 *
 * Output: one line per event, e.g.
 *   Connection 1: client connected
 *   Connection 1: request "hello" -> 18 byte reply
 *   Connection 1: client left after 1 request(s) (read error 109)
 *   Pending connect cancelled (error 995)
 *   Served 3 clients (3 requests, 7 alertable wakes for completion routines), exiting
 */
#include <windows.h>
#include <stdio.h>
#include <tchar.h>
#include <strsafe.h>

#define PIPE_TIMEOUT 5000
#define BUFSIZE 512

typedef struct {
    OVERLAPPED oOverlap;     /* first member: the completion routines cast it back to PIPEINST */
    HANDLE hPipeInst;
    TCHAR chRequest[BUFSIZE + 1];
    DWORD cbRead;
    TCHAR chReply[BUFSIZE];
    DWORD cbToWrite;
    DWORD dwClient;
    DWORD cRequests;
} PIPEINST, *LPPIPEINST;

static HANDLE hPipe;                 /* the instance listening for the next client */
static TCHAR szPipename[MAX_PATH];
static DWORD cClientsConnected, cClientsServed, cRequestsServed;

static VOID WINAPI CompletedWriteRoutine(DWORD dwErr, DWORD cbWritten, LPOVERLAPPED lpOverLap);
static VOID WINAPI CompletedReadRoutine(DWORD dwErr, DWORD cbBytesRead, LPOVERLAPPED lpOverLap);

/* The client has gone or the conversation failed: disconnect, close and free the instance. */
static VOID DisconnectAndClose(LPPIPEINST lpPipeInst, LPCTSTR lpszWhy, DWORD dwErr) {
    cClientsServed++;
    _tprintf(TEXT("Connection %lu: client left after %lu request(s) (%s %lu)\n"), (unsigned long)lpPipeInst->dwClient,
             (unsigned long)lpPipeInst->cRequests, lpszWhy, (unsigned long)dwErr);
    if (!DisconnectNamedPipe(lpPipeInst->hPipeInst))
        _tprintf(TEXT("DisconnectNamedPipe failed, GLE=%lu\n"), (unsigned long)GetLastError());
    CloseHandle(lpPipeInst->hPipeInst);
    LocalFree(lpPipeInst);
}

/* Starts reading the next request; the read's completion routine writes the answer. */
static VOID StartRead(LPPIPEINST lpPipeInst) {
    if (!ReadFileEx(lpPipeInst->hPipeInst, lpPipeInst->chRequest, BUFSIZE * sizeof(TCHAR),
                    (LPOVERLAPPED)lpPipeInst, CompletedReadRoutine))
        DisconnectAndClose(lpPipeInst, TEXT("ReadFileEx error"), GetLastError());
}

/* Runs in the alertable wait after a write finished: read the next request. */
static VOID WINAPI CompletedWriteRoutine(DWORD dwErr, DWORD cbWritten, LPOVERLAPPED lpOverLap) {
    LPPIPEINST lpPipeInst = (LPPIPEINST)lpOverLap;

    if (dwErr != 0 || cbWritten != lpPipeInst->cbToWrite) {
        DisconnectAndClose(lpPipeInst, TEXT("write error"), dwErr);
        return;
    }
    StartRead(lpPipeInst);
}

/* Runs in the alertable wait after a read finished: answer the request. */
static VOID WINAPI CompletedReadRoutine(DWORD dwErr, DWORD cbBytesRead, LPOVERLAPPED lpOverLap) {
    LPPIPEINST lpPipeInst = (LPPIPEINST)lpOverLap;

    if (dwErr != 0 || cbBytesRead == 0) {
        /* ERROR_BROKEN_PIPE (109): the client closed its end. */
        DisconnectAndClose(lpPipeInst, TEXT("read error"), dwErr);
        return;
    }
    lpPipeInst->chRequest[cbBytesRead / sizeof(TCHAR)] = TEXT('\0');
    StringCchPrintf(lpPipeInst->chReply, BUFSIZE, TEXT("answer to <%s>"), lpPipeInst->chRequest);
    lpPipeInst->cbToWrite = (DWORD)(lstrlen(lpPipeInst->chReply) + 1) * sizeof(TCHAR);
    lpPipeInst->cRequests++;
    cRequestsServed++;
    _tprintf(TEXT("Connection %lu: request \"%s\" -> %lu byte reply\n"), (unsigned long)lpPipeInst->dwClient,
             lpPipeInst->chRequest, (unsigned long)lpPipeInst->cbToWrite);
    if (!WriteFileEx(lpPipeInst->hPipeInst, lpPipeInst->chReply, lpPipeInst->cbToWrite, (LPOVERLAPPED)lpPipeInst,
                     CompletedWriteRoutine))
        DisconnectAndClose(lpPipeInst, TEXT("WriteFileEx error"), GetLastError());
}

/* Creates an instance and starts an overlapped connect on it. Returns TRUE while the connect is
 * pending; FALSE if a client is already there (the event is set) or on failure (*pfFailed). */
static BOOL CreateAndConnectInstance(LPOVERLAPPED lpoOverlap, BOOL *pfFailed) {
    *pfFailed = FALSE;
    hPipe = CreateNamedPipe(szPipename, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                            PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT, PIPE_UNLIMITED_INSTANCES,
                            BUFSIZE * sizeof(TCHAR), BUFSIZE * sizeof(TCHAR), PIPE_TIMEOUT, NULL);
    if (hPipe == INVALID_HANDLE_VALUE) {
        _tprintf(TEXT("CreateNamedPipe failed, GLE=%lu\n"), (unsigned long)GetLastError());
        *pfFailed = TRUE;
        return FALSE;
    }
    if (ConnectNamedPipe(hPipe, lpoOverlap)) {
        _tprintf(TEXT("ConnectNamedPipe returned TRUE, GLE=%lu\n"), (unsigned long)GetLastError());
        *pfFailed = TRUE;
        return FALSE;
    }
    switch (GetLastError()) {
    case ERROR_IO_PENDING:
        return TRUE;
    case ERROR_PIPE_CONNECTED:
        if (SetEvent(lpoOverlap->hEvent)) return FALSE;
        /* fall through */
    default:
        _tprintf(TEXT("ConnectNamedPipe failed, GLE=%lu\n"), (unsigned long)GetLastError());
        *pfFailed = TRUE;
        return FALSE;
    }
}

int _tmain(int argc, TCHAR *argv[]) {
    HANDLE hConnectEvent;
    OVERLAPPED oConnect;
    LPPIPEINST lpPipeInst;
    DWORD dwWait, cbRet, cClientsWanted, cWakes = 0;
    BOOL fSuccess, fPendingIO, fFailed;

    if (argc != 3 || _ttoi(argv[2]) <= 0) {
        _tprintf(TEXT("usage: %s PIPENAME CLIENTS\n"), argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    StringCchPrintf(szPipename, MAX_PATH, TEXT("\\\\.\\pipe\\%s"), argv[1]);
    cClientsWanted = (DWORD)_ttoi(argv[2]);

    /* One manual-reset event for the connects, signalled at first (each connect resets it). */
    hConnectEvent = CreateEvent(NULL, TRUE, TRUE, NULL);
    if (hConnectEvent == NULL) {
        _tprintf(TEXT("CreateEvent failed, GLE=%lu\n"), (unsigned long)GetLastError());
        return 1;
    }
    ZeroMemory(&oConnect, sizeof(oConnect));
    oConnect.hEvent = hConnectEvent;

    fPendingIO = CreateAndConnectInstance(&oConnect, &fFailed);
    if (fFailed) return 1;
    _tprintf(TEXT("Listening on %s\n"), szPipename);

    while (cClientsServed < cClientsWanted) {
        /* Wait for a client, or let finished reads and writes run their completion routines. */
        dwWait = WaitForSingleObjectEx(hConnectEvent, INFINITE, TRUE);
        switch (dwWait) {
        case WAIT_OBJECT_0:
            if (fPendingIO) {
                fSuccess = GetOverlappedResult(hPipe, &oConnect, &cbRet, FALSE);
                if (!fSuccess) {
                    _tprintf(TEXT("ConnectNamedPipe completed with error %lu\n"), (unsigned long)GetLastError());
                    return 1;
                }
            }
            lpPipeInst = (LPPIPEINST)LocalAlloc(LPTR, sizeof(PIPEINST));
            if (lpPipeInst == NULL) {
                _tprintf(TEXT("LocalAlloc failed, GLE=%lu\n"), (unsigned long)GetLastError());
                return 1;
            }
            lpPipeInst->hPipeInst = hPipe;
            lpPipeInst->dwClient = ++cClientsConnected;
            _tprintf(TEXT("Connection %lu: client connected\n"), (unsigned long)lpPipeInst->dwClient);
            StartRead(lpPipeInst);

            /* A new instance for the next client. */
            fPendingIO = CreateAndConnectInstance(&oConnect, &fFailed);
            if (fFailed) return 1;
            break;
        case WAIT_IO_COMPLETION:
            /* Completion routines ran inside the wait. */
            cWakes++;
            break;
        default:
            _tprintf(TEXT("WaitForSingleObjectEx returned %lu, GLE=%lu\n"), (unsigned long)dwWait,
                     (unsigned long)GetLastError());
            return 1;
        }
    }

    /* Enough clients: cancel the listening instance's connect and wait for it to end. */
    if (fPendingIO) {
        CancelIo(hPipe);
        fSuccess = GetOverlappedResult(hPipe, &oConnect, &cbRet, TRUE);
        _tprintf(TEXT("Pending connect cancelled (%s %lu)\n"), fSuccess ? TEXT("completed,") : TEXT("error"),
                 fSuccess ? 0UL : (unsigned long)GetLastError());
    }
    CloseHandle(hPipe);
    CloseHandle(hConnectEvent);
    _tprintf(TEXT("Served %lu clients (%lu requests, %lu alertable wakes for completion routines), exiting\n"),
             (unsigned long)cClientsServed, (unsigned long)cRequestsServed, (unsigned long)cWakes);
    return 0;
}
