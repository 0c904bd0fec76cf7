/* pipe_client: the client side of pipe_server, written against <windows.h> as Windows clients
 * are: open the pipe, and while every instance is busy (ERROR_PIPE_BUSY) wait for one with
 * WaitNamedPipe and try again; switch the handle to message read mode; send each request and
 * read its reply whole, however long (ERROR_MORE_DATA: read on).
 *
 * Build against an installed libnpipe:
 *   cc $(pkg-config --cflags npipe) pipe_client.c -o pipe_client $(pkg-config --libs npipe)
 * Run (each argument after the name is one request; prints each reply):
 *   ./pipe_client \\.\pipe\echo hello world
 */
#include <windows.h>

#include <stdio.h>
#include <string.h>

static HANDLE open_pipe(const char *name) {
    for (;;) {
        HANDLE pipe = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
        if (pipe != INVALID_HANDLE_VALUE) return pipe;
        DWORD err = GetLastError();
        if (err != ERROR_PIPE_BUSY) {
            char text[256];
            FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, err, 0, text,
                           sizeof text, NULL);
            fprintf(stderr, "pipe_client: cannot open %s: %lu: %s", name, (unsigned long)err, text);
            return INVALID_HANDLE_VALUE;
        }
        /* Every instance is serving another client: wait up to 20 s for one. */
        if (!WaitNamedPipeA(name, 20000)) {
            fprintf(stderr, "pipe_client: no instance of %s became free: %lu\n", name,
                    (unsigned long)GetLastError());
            return INVALID_HANDLE_VALUE;
        }
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: pipe_client \\\\.\\pipe\\NAME REQUEST...\n");
        return 2;
    }
    HANDLE pipe = open_pipe(argv[1]);
    if (pipe == INVALID_HANDLE_VALUE) return 1;
    DWORD mode = PIPE_READMODE_MESSAGE;
    if (!SetNamedPipeHandleState(pipe, &mode, NULL, NULL)) {
        fprintf(stderr, "pipe_client: SetNamedPipeHandleState failed: %lu\n", (unsigned long)GetLastError());
        return 1;
    }
    for (int i = 2; i < argc; i++) {
        DWORD n = 0;
        if (!WriteFile(pipe, argv[i], (DWORD)strlen(argv[i]), &n, NULL)) {
            fprintf(stderr, "pipe_client: WriteFile failed: %lu\n", (unsigned long)GetLastError());
            return 1;
        }
        /* A small buffer on purpose: a longer reply arrives in pieces, each read but the last
         * failing with ERROR_MORE_DATA. */
        char piece[16];
        for (;;) {
            BOOL ok = ReadFile(pipe, piece, sizeof piece, &n, NULL);
            if (!ok && GetLastError() != ERROR_MORE_DATA) {
                fprintf(stderr, "pipe_client: ReadFile failed: %lu\n", (unsigned long)GetLastError());
                return 1;
            }
            fwrite(piece, 1, n, stdout);
            if (ok) break;
        }
        putchar('\n');
    }
    CloseHandle(pipe);
    return 0;
}
