/* Handle flags, DuplicateHandle and inheritance into a child process (documented Win32
 * behaviour: CreatePipe, GetHandleInformation, SetHandleInformation, DuplicateHandle,
 * CreateProcess, GetExitCodeProcess, TerminateProcess, GetStdHandle; W140 for CreatePipe's
 * bInheritHandle).
 *
 * - CreatePipe with bInheritHandle makes both handles HANDLE_FLAG_INHERIT, without
 *   SECURITY_ATTRIBUTES neither; SetHandleInformation changes only the flags in the mask.
 * - HANDLE_FLAG_PROTECT_FROM_CLOSE makes CloseHandle fail and keep the handle.
 * - DuplicateHandle gives a handle with its own flags; DUPLICATE_CLOSE_SOURCE closes the source;
 *   a bad source is ERROR_INVALID_HANDLE; GetCurrentThread() becomes a real, waitable handle.
 * - A child made with bInheritHandles gets the inheritable handles at the same values, and not
 *   the others; its standard output can be a pipe handle (STARTF_USESTDHANDLES); while it runs
 *   GetExitCodeProcess gives STILL_ACTIVE (259), then its exit code; TerminateProcess after the
 *   exit fails with ERROR_ACCESS_DENIED (TerminateProcess documentation; Wine returns TRUE, see
 *   overrides.txt); a missing program is ERROR_FILE_NOT_FOUND.
 * - GetStdHandle with a bad selector is INVALID_HANDLE_VALUE and ERROR_INVALID_HANDLE. */
#include "w32.h"
#ifndef _WIN32
#include <unistd.h>
#endif

static void self_path(char *buf, size_t n) {
#ifdef _WIN32
    GetModuleFileNameA(NULL, buf, (DWORD)n);
#else
    ssize_t k = readlink("/proc/self/exe", buf, n - 1);
    buf[k > 0 ? k : 0] = 0;
#endif
}

static void show_flags(const char *label, HANDLE h) {
    DWORD f = 99;
    if (GetHandleInformation(h, &f)) printf("%s: flags=%lu\n", label, (unsigned long)f);
    else printf("%s: FALSE err=%lu\n", label, (unsigned long)GetLastError());
}

static int child(HANDLE yes, HANDLE no, HANDLE gate) {
    char buf[32] = {0};
    DWORD n = 0;
    BOOL r = ReadFile(yes, buf, sizeof buf - 1, &n, NULL);
    printf("child inherited read: %s n=%lu data=\"%s\"\n", r ? "TRUE" : "FALSE", (unsigned long)n, buf);
    r = ReadFile(no, buf, sizeof buf, &n, NULL);
    if (r) printf("child other read: TRUE\n");
    else printf("child other read: FALSE err=%lu\n", (unsigned long)GetLastError());
    fflush(stdout);
    /* Wait until the parent has looked at the exit code of a running process. */
    r = ReadFile(gate, buf, 1, &n, NULL);
    return 7;
}

int main(int argc, char **argv) {
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
    HANDLE yr, yw, nr, nw, out_r, out_w, gate_r, gate_w, d = NULL, t = NULL;
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    char path[MAX_PATH], cmd[MAX_PATH + 128], buf[256];
    DWORD n, code = 0, total = 0;
    if (argc == 5 && strcmp(argv[1], "child") == 0)
        return child((HANDLE)(uintptr_t)strtoull(argv[2], NULL, 16), (HANDLE)(uintptr_t)strtoull(argv[3], NULL, 16),
                     (HANDLE)(uintptr_t)strtoull(argv[4], NULL, 16));

    SHOW_BOOL("CreatePipe inheritable", CreatePipe(&yr, &yw, &sa, 0));
    SHOW_BOOL("CreatePipe plain", CreatePipe(&nr, &nw, NULL, 0));
    show_flags("inheritable read end", yr);
    show_flags("inheritable write end", yw);
    show_flags("plain read end", nr);
    SHOW_BOOL("SetHandleInformation clear inherit", SetHandleInformation(yw, HANDLE_FLAG_INHERIT, 0));
    show_flags("write end after clear", yw);
    SHOW_BOOL("SetHandleInformation protect", SetHandleInformation(nw, HANDLE_FLAG_PROTECT_FROM_CLOSE, HANDLE_FLAG_PROTECT_FROM_CLOSE));
    show_flags("protected", nw);
    SHOW_BOOL("SetHandleInformation mask 0", SetHandleInformation(nw, 0, 0));
    show_flags("protected after mask 0", nw);
    SHOW_BOOL("CloseHandle protected", CloseHandle(nw));
    SHOW_BOOL("SetHandleInformation unprotect", SetHandleInformation(nw, HANDLE_FLAG_PROTECT_FROM_CLOSE, 0));
    SHOW_BOOL("CloseHandle unprotected", CloseHandle(nw));
    show_flags("closed handle", nw);

    SHOW_BOOL("DuplicateHandle inheritable copy",
              DuplicateHandle(GetCurrentProcess(), nr, GetCurrentProcess(), &d, 0, TRUE, DUPLICATE_SAME_ACCESS));
    show_flags("duplicate", d);
    show_flags("source keeps its flags", nr);
    SHOW_BOOL("DuplicateHandle close source",
              DuplicateHandle(GetCurrentProcess(), d, GetCurrentProcess(), &nr, 0, FALSE,
                              DUPLICATE_SAME_ACCESS | DUPLICATE_CLOSE_SOURCE));
    show_flags("new handle", nr);
    SHOW_BOOL("DuplicateHandle bad source",
              DuplicateHandle(GetCurrentProcess(), (HANDLE)(uintptr_t)0x7ff0, GetCurrentProcess(), &d, 0, FALSE, DUPLICATE_SAME_ACCESS));
    SHOW_BOOL("DuplicateHandle current thread",
              DuplicateHandle(GetCurrentProcess(), GetCurrentThread(), GetCurrentProcess(), &t, 0, FALSE, DUPLICATE_SAME_ACCESS));
    printf("wait on own thread: %lu\n", (unsigned long)WaitForSingleObject(t, 0));
    CloseHandle(t);

    SHOW_HANDLE("GetStdHandle bad selector", GetStdHandle(5));

    /* The child: reads the inheritable handle and tries the plain one; its output comes back
     * through a pipe; a third pipe holds it until the parent has checked it is running. */
    SHOW_BOOL("write for the child", WriteFile(yw, "hello", 5, &n, NULL));
    CreatePipe(&out_r, &out_w, &sa, 0);
    SetHandleInformation(out_r, HANDLE_FLAG_INHERIT, 0);
    CreatePipe(&gate_r, &gate_w, &sa, 0);
    SetHandleInformation(gate_w, HANDLE_FLAG_INHERIT, 0);
    self_path(path, sizeof path);
    snprintf(cmd, sizeof cmd, "\"%s\" child %llx %llx %llx", path, (unsigned long long)(uintptr_t)yr,
             (unsigned long long)(uintptr_t)nr, (unsigned long long)(uintptr_t)gate_r);
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = gate_r;
    si.hStdOutput = out_w;
    si.hStdError = out_w;
    SHOW_BOOL("CreateProcess", CreateProcessA(NULL, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi));
    CloseHandle(out_w);
    CloseHandle(gate_r);
    sleep_ms(200);
    SHOW_BOOL("GetExitCodeProcess running", GetExitCodeProcess(pi.hProcess, &code));
    printf("exit code while running: %lu\n", (unsigned long)code);
    printf("wait running: %lu\n", (unsigned long)WaitForSingleObject(pi.hProcess, 0));
    CloseHandle(gate_w);
    while (total < sizeof buf - 1 && ReadFile(out_r, buf + total, (DWORD)(sizeof buf - 1 - total), &n, NULL) && n > 0)
        total += n;
    buf[total] = 0;
    {
        /* Windows writes CRLF to a redirected stdout; the transcript keeps Unix lines. */
        char *s = buf, *o = buf;
        for (; *s; s++)
            if (*s != '\r') *o++ = *s;
        *o = 0;
    }
    printf("%s", buf);
    printf("wait exited: %lu\n", (unsigned long)WaitForSingleObject(pi.hProcess, 5000));
    SHOW_BOOL("GetExitCodeProcess exited", GetExitCodeProcess(pi.hProcess, &code));
    printf("exit code: %lu\n", (unsigned long)code);
    SHOW_BOOL("TerminateProcess exited", TerminateProcess(pi.hProcess, 1));
    CloseHandle(pi.hProcess);
    CloseHandle(pi.hThread);
    CloseHandle(out_r);

    {
        char missing[] = "npipe_conformance_no_such_program_43.exe";
        memset(&si, 0, sizeof si);
        si.cb = sizeof si;
        SHOW_BOOL("CreateProcess missing", CreateProcessA(NULL, missing, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi));
    }
    CloseHandle(yr);
    CloseHandle(yw);
    CloseHandle(nr);
    return 0;
}
