/* multithreaded_server: a named-pipe server with one thread per client, in the style of
 * Microsoft's "Multithreaded Pipe Server".
 *
 * Usage: multithreaded_server PIPENAME CLIENTS
 *
 * The main thread creates an instance of \\.\pipe\PIPENAME, waits in a blocking
 * ConnectNamedPipe for a client (ERROR_PIPE_CONNECTED also counts as connected), hands the
 * instance to a new thread (CreateThread) and loops to create the next instance, CLIENTS times.
 * Each instance thread allocates its buffers with HeapAlloc, answers every request with
 * "answer to <REQUEST>" until the client closes its end (ERROR_BROKEN_PIPE), then flushes,
 * disconnects and closes the instance and returns the number of requests it answered.
 * The main thread waits for all instance threads (WaitForMultipleObjects), collects their exit
 * codes with GetExitCodeThread and exits with status 0 when every thread succeeded.
 *
 * Output, e.g.:
 *   Client 1 connected, thread 1234 serves it
 *   Thread 1234: request "hello" -> 18 byte reply
 *   Thread 1234: client disconnected after 1 request(s)
 *   Client 1: thread exit code 1
 *   Served 3 clients (4 requests), exiting
 */
#include <windows.h>
#include <stdio.h>
#include <tchar.h>
#include <strsafe.h>

#define BUFSIZE 512
#define THREAD_FAILED ((DWORD)-1)

/* Builds the answer to one request; returns its size in bytes (with the NUL), 0 on failure. */
static DWORD GetAnswerToRequest(LPTSTR pchRequest, DWORD cbRequest, LPTSTR pchReply) {
    pchRequest[cbRequest / sizeof(TCHAR)] = TEXT('\0');
    if (FAILED(StringCchPrintf(pchReply, BUFSIZE, TEXT("answer to <%s>"), pchRequest))) {
        pchReply[0] = TEXT('\0');
        return 0;
    }
    return (DWORD)(lstrlen(pchReply) + 1) * sizeof(TCHAR);
}

/* Serves the client connected to the instance passed as parameter, then disconnects and closes
 * the instance. Returns the number of requests answered, or THREAD_FAILED. */
static DWORD WINAPI InstanceThread(LPVOID lpvParam) {
    HANDLE hHeap = GetProcessHeap();
    HANDLE hPipe = (HANDLE)lpvParam;
    TCHAR *pchRequest = (TCHAR *)HeapAlloc(hHeap, 0, (BUFSIZE + 1) * sizeof(TCHAR));
    TCHAR *pchReply = (TCHAR *)HeapAlloc(hHeap, 0, BUFSIZE * sizeof(TCHAR));
    DWORD cbBytesRead = 0, cbReplyBytes = 0, cbWritten = 0, cRequests = 0, dwErr, dwResult;
    DWORD dwThreadId = GetCurrentThreadId();
    BOOL fSuccess;

    if (hPipe == NULL || hPipe == INVALID_HANDLE_VALUE || pchRequest == NULL || pchReply == NULL) {
        _tprintf(TEXT("Thread %lu: bad parameter or out of memory\n"), (unsigned long)dwThreadId);
        if (pchRequest) HeapFree(hHeap, 0, pchRequest);
        if (pchReply) HeapFree(hHeap, 0, pchReply);
        return THREAD_FAILED;
    }

    for (;;) {
        /* Read a request; a request longer than BUFSIZE fails with ERROR_MORE_DATA. */
        fSuccess = ReadFile(hPipe, pchRequest, BUFSIZE * sizeof(TCHAR), &cbBytesRead, NULL);
        if (!fSuccess || cbBytesRead == 0) {
            dwErr = GetLastError();
            if (dwErr == ERROR_BROKEN_PIPE) {
                _tprintf(TEXT("Thread %lu: client disconnected after %lu request(s)\n"), (unsigned long)dwThreadId,
                         (unsigned long)cRequests);
                dwResult = cRequests;
            } else {
                _tprintf(TEXT("Thread %lu: ReadFile failed, GLE=%lu\n"), (unsigned long)dwThreadId,
                         (unsigned long)dwErr);
                dwResult = THREAD_FAILED;
            }
            break;
        }

        cbReplyBytes = GetAnswerToRequest(pchRequest, cbBytesRead, pchReply);
        _tprintf(TEXT("Thread %lu: request \"%s\" -> %lu byte reply\n"), (unsigned long)dwThreadId, pchRequest,
                 (unsigned long)cbReplyBytes);
        fSuccess = WriteFile(hPipe, pchReply, cbReplyBytes, &cbWritten, NULL);
        if (!fSuccess || cbReplyBytes != cbWritten) {
            _tprintf(TEXT("Thread %lu: WriteFile failed, GLE=%lu\n"), (unsigned long)dwThreadId,
                     (unsigned long)GetLastError());
            dwResult = THREAD_FAILED;
            break;
        }
        cRequests++;
    }

    /* Let the client read what is still in the pipe, then disconnect and close the instance. */
    FlushFileBuffers(hPipe);
    DisconnectNamedPipe(hPipe);
    CloseHandle(hPipe);
    HeapFree(hHeap, 0, pchRequest);
    HeapFree(hHeap, 0, pchReply);
    return dwResult;
}

int _tmain(int argc, TCHAR *argv[]) {
    HANDLE hPipe, hThreads[MAXIMUM_WAIT_OBJECTS];
    DWORD dwThreadId, cClients, i, dwExitCode, cRequests = 0, dwWait;
    BOOL fConnected, fAllGood = TRUE;
    TCHAR szPipename[MAX_PATH];

    if (argc != 3 || _ttoi(argv[2]) <= 0 || _ttoi(argv[2]) > MAXIMUM_WAIT_OBJECTS) {
        _tprintf(TEXT("usage: %s PIPENAME CLIENTS (1 to %d)\n"), argv[0], MAXIMUM_WAIT_OBJECTS);
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    StringCchPrintf(szPipename, MAX_PATH, TEXT("\\\\.\\pipe\\%s"), argv[1]);
    cClients = (DWORD)_ttoi(argv[2]);

    for (i = 0; i < cClients;) {
        hPipe = CreateNamedPipe(szPipename, PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT,
                                PIPE_UNLIMITED_INSTANCES, BUFSIZE, BUFSIZE, 0, NULL);
        if (hPipe == INVALID_HANDLE_VALUE) {
            _tprintf(TEXT("CreateNamedPipe failed, GLE=%lu\n"), (unsigned long)GetLastError());
            return 1;
        }
        if (i == 0) _tprintf(TEXT("Listening on %s\n"), szPipename);

        /* Wait for a client; one that came before this call also counts as connected. */
        fConnected = ConnectNamedPipe(hPipe, NULL) ? TRUE : (GetLastError() == ERROR_PIPE_CONNECTED);
        if (!fConnected) {
            _tprintf(TEXT("ConnectNamedPipe failed, GLE=%lu; trying again\n"), (unsigned long)GetLastError());
            CloseHandle(hPipe);
            continue;
        }

        hThreads[i] = CreateThread(NULL, 0, InstanceThread, (LPVOID)hPipe, 0, &dwThreadId);
        if (hThreads[i] == NULL) {
            _tprintf(TEXT("CreateThread failed, GLE=%lu\n"), (unsigned long)GetLastError());
            return 1;
        }
        _tprintf(TEXT("Client %lu connected, thread %lu serves it\n"), (unsigned long)(i + 1),
                 (unsigned long)dwThreadId);
        i++;
    }

    /* Wait for every instance thread and check how each one ended. */
    dwWait = WaitForMultipleObjects(cClients, hThreads, TRUE, INFINITE);
    if (dwWait >= WAIT_OBJECT_0 + cClients) {
        _tprintf(TEXT("WaitForMultipleObjects returned %lu, GLE=%lu\n"), (unsigned long)dwWait,
                 (unsigned long)GetLastError());
        return 1;
    }
    for (i = 0; i < cClients; i++) {
        if (!GetExitCodeThread(hThreads[i], &dwExitCode)) {
            _tprintf(TEXT("GetExitCodeThread failed, GLE=%lu\n"), (unsigned long)GetLastError());
            return 1;
        }
        _tprintf(TEXT("Client %lu: thread exit code %lu\n"), (unsigned long)(i + 1), (unsigned long)dwExitCode);
        if (dwExitCode == THREAD_FAILED || dwExitCode == STILL_ACTIVE)
            fAllGood = FALSE;
        else
            cRequests += dwExitCode;
        CloseHandle(hThreads[i]);
    }
    _tprintf(TEXT("Served %lu clients (%lu requests), exiting\n"), (unsigned long)cClients, (unsigned long)cRequests);
    return fAllGood ? 0 : 1;
}
