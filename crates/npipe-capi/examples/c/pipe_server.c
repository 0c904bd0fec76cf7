/* pipe_server: a multithreaded message-mode named pipe server written against <windows.h>, the
 * way Windows servers are written: create an instance, wait for a client, create the next
 * instance, hand the connected one to a thread.
 *
 * Each thread reads requests (whole messages, however long: ERROR_MORE_DATA means "read on")
 * and answers each with "echo: " + the request. The server exits after serving the number of
 * clients given as its second argument (0: never).
 *
 * Build against an installed libnpipe:
 *   cc $(pkg-config --cflags npipe) pipe_server.c -o pipe_server $(pkg-config --libs npipe)
 * Run:
 *   ./pipe_server \\.\pipe\echo 3
 */
#include <windows.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUFSIZE 4096

static volatile LONG served;

/* Reads one whole message into a growing buffer; returns its length, or -1 when the client
 * has gone (ERROR_BROKEN_PIPE) or on an error. */
static long read_message(HANDLE pipe, char **buf, size_t *cap) {
    size_t len = 0;
    for (;;) {
        DWORD got = 0;
        if (len == *cap) {
            *cap *= 2;
            *buf = realloc(*buf, *cap);
            if (!*buf) return -1;
        }
        if (ReadFile(pipe, *buf + len, (DWORD)(*cap - len), &got, NULL)) return (long)(len + got);
        DWORD err = GetLastError();
        if (err != ERROR_MORE_DATA) {
            if (err != ERROR_BROKEN_PIPE) fprintf(stderr, "pipe_server: ReadFile failed: %lu\n", (unsigned long)err);
            return -1;
        }
        len += got; /* the rest of the message is still in the pipe */
    }
}

static DWORD WINAPI serve_client(LPVOID param) {
    HANDLE pipe = (HANDLE)param;
    size_t cap = BUFSIZE;
    char *req = malloc(cap);
    char *reply = NULL;
    long n;
    while (req && (n = read_message(pipe, &req, &cap)) >= 0) {
        char *grown = realloc(reply, (size_t)n + 6);
        if (!grown) break;
        reply = grown;
        memcpy(reply, "echo: ", 6);
        memcpy(reply + 6, req, (size_t)n);
        DWORD written = 0;
        if (!WriteFile(pipe, reply, (DWORD)n + 6, &written, NULL) || written != (DWORD)n + 6) {
            fprintf(stderr, "pipe_server: WriteFile failed: %lu\n", (unsigned long)GetLastError());
            break;
        }
    }
    free(req);
    free(reply);
    FlushFileBuffers(pipe); /* let the client read the last reply before the pipe goes */
    DisconnectNamedPipe(pipe);
    CloseHandle(pipe);
    InterlockedIncrement(&served);
    return 0;
}

static HANDLE create_instance(const char *name) {
    HANDLE pipe = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX,
                                   PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT,
                                   PIPE_UNLIMITED_INSTANCES, BUFSIZE, BUFSIZE, 0, NULL);
    if (pipe == INVALID_HANDLE_VALUE)
        fprintf(stderr, "pipe_server: CreateNamedPipe failed: %lu\n", (unsigned long)GetLastError());
    return pipe;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: pipe_server \\\\.\\pipe\\NAME [CLIENTS]\n");
        return 2;
    }
    LONG clients = argc > 2 ? atol(argv[2]) : 0;
    HANDLE threads[64];
    int nthreads = 0;
    HANDLE next = create_instance(argv[1]);
    if (next == INVALID_HANDLE_VALUE) return 1;
    printf("listening on %s\n", argv[1]);
    fflush(stdout);
    for (LONG i = 0; clients == 0 || i < clients; i++) {
        HANDLE pipe = next;
        /* A client that came between CreateNamedPipe and ConnectNamedPipe is connected too. */
        BOOL ok = ConnectNamedPipe(pipe, NULL) ? TRUE : GetLastError() == ERROR_PIPE_CONNECTED;
        /* The next instance exists before this one is handed off: were it created after, a
         * client served quickly could close the only instance, and a client opening in that
         * moment would find no pipe of that name (ERROR_FILE_NOT_FOUND) instead of waiting. */
        next = INVALID_HANDLE_VALUE;
        if (!ok || clients == 0 || i + 1 < clients) {
            next = create_instance(argv[1]);
            if (next == INVALID_HANDLE_VALUE) {
                if (ok) CloseHandle(pipe);
                break;
            }
        }
        if (!ok) {
            CloseHandle(pipe);
            i--; /* nobody was served */
            continue;
        }
        HANDLE t = CreateThread(NULL, 0, serve_client, pipe, 0, NULL);
        if (!t) {
            fprintf(stderr, "pipe_server: CreateThread failed: %lu\n", (unsigned long)GetLastError());
            CloseHandle(pipe);
            continue;
        }
        if (nthreads == 64) {
            WaitForMultipleObjects(64, threads, TRUE, INFINITE);
            for (int k = 0; k < 64; k++) CloseHandle(threads[k]);
            nthreads = 0;
        }
        threads[nthreads++] = t;
    }
    if (next != INVALID_HANDLE_VALUE) CloseHandle(next);
    WaitForMultipleObjects((DWORD)nthreads, threads, TRUE, INFINITE);
    for (int k = 0; k < nthreads; k++) CloseHandle(threads[k]);
    printf("served %ld clients\n", (long)served);
    return 0;
}
