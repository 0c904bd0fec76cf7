/* overlapped_server: a single-threaded named-pipe server that serves several clients at once
 * with overlapped I/O, in the style of Microsoft's "Named Pipe Server Using Overlapped I/O".
 *
 * Usage: overlapped_server PIPENAME CLIENTS
 *
 * It creates INSTANCES instances of \\.\pipe\PIPENAME (message type, FILE_FLAG_OVERLAPPED), each
 * with its own manual-reset event, and starts an overlapped ConnectNamedPipe on all of them. One
 * WaitForMultipleObjects loop then drives every instance through CONNECTING -> READING ->
 * WRITING -> READING..., finishing pending operations with GetOverlappedResult. Each request gets
 * the reply "answer to <REQUEST>". When a client closes its end (the read fails), the instance is
 * disconnected and listens again for a new client (DisconnectNamedPipe + ConnectNamedPipe).
 * After CLIENTS clients have come and gone, the server cancels the connects still pending
 * (CancelIo) and exits with status 0.
 *
 * Output: one line per event, e.g.
 *   Instance 2: client connected
 *   Instance 2: request "hello" -> 18 byte reply
 *   Instance 2: client left after 1 request(s)
 *   Instance 0: pending connect cancelled (error 995)
 *   Served 3 clients (5 requests), exiting
 */
#include <windows.h>
#include <stdio.h>
#include <tchar.h>
#include <strsafe.h>

#define CONNECTING_STATE 0
#define READING_STATE 1
#define WRITING_STATE 2
#define FINISHED_STATE 3
#define INSTANCES 4
#define PIPE_TIMEOUT 5000
#define BUFSIZE 512

typedef struct {
    OVERLAPPED oOverlap;     /* the instance's operation in progress; hEvent is hEvents[i] */
    HANDLE hPipeInst;
    TCHAR chRequest[BUFSIZE + 1];
    DWORD cbRead;
    TCHAR chReply[BUFSIZE];
    DWORD cbToWrite;
    DWORD dwState;
    BOOL fPendingIO;         /* the last operation returned ERROR_IO_PENDING */
    DWORD cRequests;         /* requests answered for the current client */
} PIPEINST, *LPPIPEINST;

static PIPEINST Pipe[INSTANCES];
static HANDLE hEvents[INSTANCES];
static DWORD cClientsServed, cRequestsServed, cClientsWanted;

/* Starts an overlapped connect on an instance. Returns TRUE while the connect is pending, FALSE
 * when a client is already connected (the event is then set by hand so the loop picks it up). */
static BOOL ConnectToNewClient(HANDLE hPipe, LPOVERLAPPED lpo, BOOL *pfFailed) {
    *pfFailed = FALSE;
    if (ConnectNamedPipe(hPipe, lpo)) {
        /* An overlapped ConnectNamedPipe reports its result through GetLastError. */
        _tprintf(TEXT("ConnectNamedPipe returned TRUE, GLE=%lu\n"), (unsigned long)GetLastError());
        *pfFailed = TRUE;
        return FALSE;
    }
    switch (GetLastError()) {
    case ERROR_IO_PENDING:
        return TRUE;
    case ERROR_PIPE_CONNECTED:
        /* The client came between CreateNamedPipe (or DisconnectNamedPipe) and this call. */
        if (SetEvent(lpo->hEvent)) return FALSE;
        /* fall through */
    default:
        _tprintf(TEXT("ConnectNamedPipe failed, GLE=%lu\n"), (unsigned long)GetLastError());
        *pfFailed = TRUE;
        return FALSE;
    }
}

static BOOL StartConnect(DWORD i) {
    BOOL fFailed;
    Pipe[i].cRequests = 0;
    Pipe[i].fPendingIO = ConnectToNewClient(Pipe[i].hPipeInst, &Pipe[i].oOverlap, &fFailed);
    Pipe[i].dwState = Pipe[i].fPendingIO ? CONNECTING_STATE : READING_STATE;
    if (!Pipe[i].fPendingIO && !fFailed) _tprintf(TEXT("Instance %lu: client connected\n"), (unsigned long)i);
    return !fFailed;
}

/* The client has gone (or the connection failed): count it, disconnect, and listen again
 * unless enough clients have been served. */
static BOOL DisconnectAndReconnect(DWORD i) {
    cClientsServed++;
    _tprintf(TEXT("Instance %lu: client left after %lu request(s)\n"), (unsigned long)i,
             (unsigned long)Pipe[i].cRequests);
    if (!DisconnectNamedPipe(Pipe[i].hPipeInst))
        _tprintf(TEXT("DisconnectNamedPipe failed, GLE=%lu\n"), (unsigned long)GetLastError());
    if (cClientsServed >= cClientsWanted) {
        Pipe[i].dwState = FINISHED_STATE;
        Pipe[i].fPendingIO = FALSE;
        ResetEvent(hEvents[i]);
        return TRUE;
    }
    return StartConnect(i);
}

static VOID GetAnswerToRequest(LPPIPEINST pipe, DWORD i) {
    /* Requests are NUL-terminated strings; terminate defensively anyway. */
    pipe->chRequest[pipe->cbRead / sizeof(TCHAR)] = TEXT('\0');
    StringCchPrintf(pipe->chReply, BUFSIZE, TEXT("answer to <%s>"), pipe->chRequest);
    pipe->cbToWrite = (DWORD)(lstrlen(pipe->chReply) + 1) * sizeof(TCHAR);
    pipe->cRequests++;
    cRequestsServed++;
    _tprintf(TEXT("Instance %lu: request \"%s\" -> %lu byte reply\n"), (unsigned long)i, pipe->chRequest,
             (unsigned long)pipe->cbToWrite);
}

int _tmain(int argc, TCHAR *argv[]) {
    DWORD i, dwWait, cbRet, dwErr;
    BOOL fSuccess;
    TCHAR szPipename[MAX_PATH];

    if (argc != 3 || _ttoi(argv[2]) <= 0) {
        _tprintf(TEXT("usage: %s PIPENAME CLIENTS\n"), argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    StringCchPrintf(szPipename, MAX_PATH, TEXT("\\\\.\\pipe\\%s"), argv[1]);
    cClientsWanted = (DWORD)_ttoi(argv[2]);

    /* Create the instances, each with a manual-reset event (signalled at first, as the
     * connect will reset it), and start an overlapped connect on every one. */
    for (i = 0; i < INSTANCES; i++) {
        hEvents[i] = CreateEvent(NULL, TRUE, TRUE, NULL);
        if (hEvents[i] == NULL) {
            _tprintf(TEXT("CreateEvent failed, GLE=%lu\n"), (unsigned long)GetLastError());
            return 1;
        }
        ZeroMemory(&Pipe[i].oOverlap, sizeof(OVERLAPPED));
        Pipe[i].oOverlap.hEvent = hEvents[i];
        Pipe[i].hPipeInst = CreateNamedPipe(szPipename, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                                            PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT, INSTANCES,
                                            BUFSIZE * sizeof(TCHAR), BUFSIZE * sizeof(TCHAR), PIPE_TIMEOUT, NULL);
        if (Pipe[i].hPipeInst == INVALID_HANDLE_VALUE) {
            _tprintf(TEXT("CreateNamedPipe failed, GLE=%lu\n"), (unsigned long)GetLastError());
            return 1;
        }
        if (!StartConnect(i)) return 1;
    }
    _tprintf(TEXT("Listening on %s with %d instances\n"), szPipename, INSTANCES);

    while (cClientsServed < cClientsWanted) {
        /* Wait for a connect, read or write to finish on any instance. */
        dwWait = WaitForMultipleObjects(INSTANCES, hEvents, FALSE, INFINITE);
        i = dwWait - WAIT_OBJECT_0;
        if (dwWait == WAIT_FAILED || i >= INSTANCES) {
            _tprintf(TEXT("WaitForMultipleObjects returned %lu, GLE=%lu\n"), (unsigned long)dwWait,
                     (unsigned long)GetLastError());
            return 1;
        }

        /* Finish the operation that was pending. */
        if (Pipe[i].fPendingIO) {
            fSuccess = GetOverlappedResult(Pipe[i].hPipeInst, &Pipe[i].oOverlap, &cbRet, FALSE);
            switch (Pipe[i].dwState) {
            case CONNECTING_STATE:
                if (!fSuccess) {
                    _tprintf(TEXT("Instance %lu: connect failed, GLE=%lu\n"), (unsigned long)i,
                             (unsigned long)GetLastError());
                    return 1;
                }
                _tprintf(TEXT("Instance %lu: client connected\n"), (unsigned long)i);
                Pipe[i].dwState = READING_STATE;
                break;
            case READING_STATE:
                if (!fSuccess || cbRet == 0) {
                    if (!DisconnectAndReconnect(i)) return 1;
                    continue;
                }
                Pipe[i].cbRead = cbRet;
                Pipe[i].dwState = WRITING_STATE;
                break;
            case WRITING_STATE:
                if (!fSuccess || cbRet != Pipe[i].cbToWrite) {
                    if (!DisconnectAndReconnect(i)) return 1;
                    continue;
                }
                Pipe[i].dwState = READING_STATE;
                break;
            default:
                _tprintf(TEXT("Instance %lu: invalid state %lu\n"), (unsigned long)i, (unsigned long)Pipe[i].dwState);
                return 1;
            }
        }

        /* Start the next operation. */
        switch (Pipe[i].dwState) {
        case READING_STATE:
            fSuccess = ReadFile(Pipe[i].hPipeInst, Pipe[i].chRequest, BUFSIZE * sizeof(TCHAR), &Pipe[i].cbRead,
                                &Pipe[i].oOverlap);
            if (fSuccess && Pipe[i].cbRead != 0) {
                /* Done at once; the event is signalled, so the loop comes straight back here. */
                Pipe[i].fPendingIO = FALSE;
                Pipe[i].dwState = WRITING_STATE;
                continue;
            }
            dwErr = GetLastError();
            if (!fSuccess && dwErr == ERROR_IO_PENDING) {
                Pipe[i].fPendingIO = TRUE;
                continue;
            }
            /* ERROR_BROKEN_PIPE: the client closed its end. */
            if (!DisconnectAndReconnect(i)) return 1;
            break;
        case WRITING_STATE:
            GetAnswerToRequest(&Pipe[i], i);
            fSuccess = WriteFile(Pipe[i].hPipeInst, Pipe[i].chReply, Pipe[i].cbToWrite, &cbRet, &Pipe[i].oOverlap);
            if (fSuccess && cbRet == Pipe[i].cbToWrite) {
                Pipe[i].fPendingIO = FALSE;
                Pipe[i].dwState = READING_STATE;
                continue;
            }
            dwErr = GetLastError();
            if (!fSuccess && dwErr == ERROR_IO_PENDING) {
                Pipe[i].fPendingIO = TRUE;
                continue;
            }
            if (!DisconnectAndReconnect(i)) return 1;
            break;
        case FINISHED_STATE:
            break;
        default:
            _tprintf(TEXT("Instance %lu: invalid state %lu\n"), (unsigned long)i, (unsigned long)Pipe[i].dwState);
            return 1;
        }
    }

    /* Enough clients: cancel the connects still pending and wait for the cancellation, which
     * must complete with ERROR_OPERATION_ABORTED, before closing. */
    for (i = 0; i < INSTANCES; i++) {
        if (Pipe[i].dwState == CONNECTING_STATE && Pipe[i].fPendingIO) {
            CancelIo(Pipe[i].hPipeInst);
            fSuccess = GetOverlappedResult(Pipe[i].hPipeInst, &Pipe[i].oOverlap, &cbRet, TRUE);
            _tprintf(TEXT("Instance %lu: pending connect cancelled (%s %lu)\n"), (unsigned long)i,
                     fSuccess ? TEXT("completed,") : TEXT("error"), fSuccess ? 0UL : (unsigned long)GetLastError());
        }
        CloseHandle(Pipe[i].hPipeInst);
        CloseHandle(hEvents[i]);
    }
    _tprintf(TEXT("Served %lu clients (%lu requests), exiting\n"), (unsigned long)cClientsServed,
             (unsigned long)cRequestsServed);
    return 0;
}
