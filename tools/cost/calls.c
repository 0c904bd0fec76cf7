/* The calls' own cost, counted in instructions (tools/callgrind-cost runs it under callgrind):
 * both ends of a message pipe in this process, one thread writing 64 B and reading it back N
 * times, synchronously (argv[2] = 0) or on FILE_FLAG_OVERLAPPED handles with an event per
 * OVERLAPPED, WaitForSingleObject and GetOverlappedResult (argv[2] = 1), as `npipe bench`'s
 * cpu64 rows do. With argv[2] = 2 the client end is another process (this program run again as
 * `calls peer`, outside valgrind, which echoes every message) and each round issues the read
 * first, so it goes pending and its wait completes it, as a round trip's reads do: ReadFile,
 * WriteFile, the write's wait and GetOverlappedResult, then the read's. Prints "ok N" and exits
 * 0, or says what failed. */
#include <npipe/win32.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int fail(const char *what) {
    printf("%s failed: %u\n", what, (unsigned)GetLastError());
    return 1;
}

static const char *name = "\\\\.\\pipe\\npipe-calls-cost";

/* The peer of argv[2] = 2: echoes each message until the pipe breaks. */
static int peer(void) {
    HANDLE c = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    if (c == INVALID_HANDLE_VALUE) return fail("CreateFile (peer)");
    DWORD mode = PIPE_READMODE_MESSAGE, r, w;
    if (!SetNamedPipeHandleState(c, &mode, NULL, NULL)) return fail("SetNamedPipeHandleState (peer)");
    char buf[128];
    while (ReadFile(c, buf, sizeof buf, &r, NULL))
        if (!WriteFile(c, buf, r, &w, NULL)) return fail("WriteFile (peer)");
    return GetLastError() == ERROR_BROKEN_PIPE ? 0 : fail("ReadFile (peer)");
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "peer") == 0) return peer();
    int n = argc > 1 ? atoi(argv[1]) : 10000;
    int ov = argc > 2 ? atoi(argv[2]) : 1;
    DWORD fl = ov ? FILE_FLAG_OVERLAPPED : 0;
    HANDLE s = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX | fl, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT, 1,
                                65536, 65536, 0, NULL);
    if (s == INVALID_HANDLE_VALUE) return fail("CreateNamedPipe");
    pid_t child = -1;
    HANDLE c = INVALID_HANDLE_VALUE;
    if (ov == 2) {
        child = fork();
        if (child < 0) return fail("fork");
        if (child == 0) {
            execl(argv[0], argv[0], "peer", (char *)NULL);
            _exit(127);
        }
    } else {
        c = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, fl, NULL);
        if (c == INVALID_HANDLE_VALUE) return fail("CreateFile");
    }
    if (ov) {
        OVERLAPPED o;
        DWORD x;
        memset(&o, 0, sizeof o);
        o.hEvent = CreateEventA(NULL, TRUE, FALSE, NULL);
        if (!ConnectNamedPipe(s, &o) && GetLastError() != ERROR_PIPE_CONNECTED && !GetOverlappedResult(s, &o, &x, TRUE))
            return fail("ConnectNamedPipe");
        CloseHandle(o.hEvent);
    } else if (!ConnectNamedPipe(s, NULL) && GetLastError() != ERROR_PIPE_CONNECTED) {
        return fail("ConnectNamedPipe");
    }
    DWORD mode = PIPE_READMODE_MESSAGE;
    if (ov != 2 && !SetNamedPipeHandleState(c, &mode, NULL, NULL)) return fail("SetNamedPipeHandleState");
    char out[64], in[128];
    memset(out, 7, sizeof out);
    HANDLE ew = CreateEventA(NULL, TRUE, FALSE, NULL), er = CreateEventA(NULL, TRUE, FALSE, NULL);
    for (int i = 0; i < n; i++) {
        DWORD w = 0, r = 0;
        if (ov) {
            /* Mode 2 writes and reads the server end (the peer echoes), the read first: nothing
             * is there to read until the peer has the write, so it goes pending. */
            HANDLE wh = ov == 2 ? s : c;
            OVERLAPPED ow, orr;
            memset(&ow, 0, sizeof ow);
            memset(&orr, 0, sizeof orr);
            ow.hEvent = ew;
            orr.hEvent = er;
            if (ov == 2 && (ReadFile(s, in, sizeof in, &r, &orr) || GetLastError() != ERROR_IO_PENDING))
                return fail("ReadFile (pending)");
            if (!WriteFile(wh, out, 64, &w, &ow) && GetLastError() != ERROR_IO_PENDING) return fail("WriteFile");
            if (WaitForSingleObject(ew, INFINITE) != WAIT_OBJECT_0) return fail("WaitForSingleObject");
            if (!GetOverlappedResult(wh, &ow, &w, FALSE)) return fail("GetOverlappedResult (write)");
            if (ov == 1 && !ReadFile(s, in, sizeof in, &r, &orr) && GetLastError() != ERROR_IO_PENDING)
                return fail("ReadFile");
            if (WaitForSingleObject(er, INFINITE) != WAIT_OBJECT_0) return fail("WaitForSingleObject");
            if (!GetOverlappedResult(s, &orr, &r, FALSE)) return fail("GetOverlappedResult (read)");
        } else {
            if (!WriteFile(c, out, 64, &w, NULL)) return fail("WriteFile");
            if (!ReadFile(s, in, sizeof in, &r, NULL)) return fail("ReadFile");
        }
        if (w != 64 || r != 64) {
            printf("wrote %u, read %u\n", (unsigned)w, (unsigned)r);
            return 1;
        }
    }
    if (ov == 2) {
        int st;
        CloseHandle(s);
        if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            printf("the peer failed\n");
            return 1;
        }
    }
    printf("ok %d\n", n);
    return 0;
}
