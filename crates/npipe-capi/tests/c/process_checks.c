/* Processes, standard handles, inheritance, DuplicateHandle, files, pipe listings and
 * FormatMessage through libnpipe, across real processes: the program runs copies of itself
 * (and Linux programs such as tr and sleep) as children. Prints "N passed, M failed". */
#include <windows.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/sysmacros.h>
#include <stdlib.h>

#include "checks.h"

static const char *self;
static char scratch[] = "/tmp/npipe-process-checks-XXXXXX";

/* Whether a path exists (stat: the Linux way, so the check does not depend on npipe). */
static int GetFileAttributesCheck(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* ---- children ---- */

/* Copies standard input to standard output through the standard handles, upper-casing. */
static int child_upper(void) {
    HANDLE in = GetStdHandle(STD_INPUT_HANDLE), out = GetStdHandle(STD_OUTPUT_HANDLE);
    char buf[512];
    DWORD n, w;
    if (in == INVALID_HANDLE_VALUE || out == INVALID_HANDLE_VALUE || in == NULL || out == NULL) return 10;
    if (GetStdHandle(STD_INPUT_HANDLE) != in) return 11; /* the same value every time */
    if (GetFileType(in) != FILE_TYPE_PIPE) return 12;
    for (;;) {
        DWORD i;
        if (!ReadFile(in, buf, sizeof buf, &n, NULL)) {
            if (GetLastError() != ERROR_BROKEN_PIPE) return 13;
            break;
        }
        for (i = 0; i < n; i++)
            if (buf[i] >= 'a' && buf[i] <= 'z') buf[i] -= 32;
        if (!WriteFile(out, buf, n, &w, NULL) || w != n) return 14;
    }
    return 0;
}

/* argv: child-inherit <inheritable handle> <not inheritable handle> <its inode> <ino>...
 * Reads "inherited" from the first handle and then finds its pipe ended (the parent's write end,
 * not inheritable, did not come along), expects ERROR_INVALID_HANDLE on the second, and checks
 * that no descriptor of this process is one of the listed pipe inodes. */
static int child_inherit(int argc, char **argv) {
    HANDLE yes;
    HANDLE no = (HANDLE)(uintptr_t)strtoull(argv[3], NULL, 0);
    char buf[64] = {0};
    DWORD n = 0, flags = 0;
    DIR *d;
    struct dirent *de;
    int i;
    /* Before any npipe call: libnpipe took the inherited descriptors in when it was loaded,
     * so they are close-on-exec already, and the variable that listed them is gone. */
    d = opendir("/proc/self/fd");
    if (!d) return 23;
    while ((de = readdir(d)) != NULL) {
        int fd = atoi(de->d_name);
        struct stat st;
        if (de->d_name[0] == '.' || fd < 3 || fd == dirfd(d)) continue;
        /* Only the inherited pipe: a test harness may pass descriptors of its own (a jobserver). */
        if (fstat(fd, &st) != 0 || (unsigned long long)st.st_ino != strtoull(argv[4], NULL, 0)) continue;
        if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC)) return 26;
    }
    closedir(d);
    if (getenv("NPIPE_INHERITED_HANDLES") != NULL) return 27;
    yes = (HANDLE)(uintptr_t)strtoull(argv[2], NULL, 0);
    /* The first npipe call is about the inherited handle's flags. */
    if (!GetHandleInformation(yes, &flags) || !(flags & HANDLE_FLAG_INHERIT)) return 21;
    if (!ReadFile(yes, buf, sizeof buf - 1, &n, NULL) || strcmp(buf, "inherited") != 0) return 20;
    if (ReadFile(no, buf, sizeof buf, &n, NULL) || GetLastError() != ERROR_INVALID_HANDLE) return 22;
    /* The parent closed its write end: no copy of it is here, so the pipe has ended. */
    if (PeekNamedPipe(yes, NULL, 0, NULL, &n, NULL) || GetLastError() != ERROR_BROKEN_PIPE) return 25;
    d = opendir("/proc/self/fd");
    if (!d) return 23;
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        int fd = atoi(de->d_name);
        if (de->d_name[0] == '.' || fd == dirfd(d)) continue;
        if (fstat(fd, &st) != 0) continue;
        for (i = 5; i < argc; i++)
            if ((unsigned long long)st.st_ino == strtoull(argv[i], NULL, 0)) return 24;
    }
    closedir(d);
    return 0;
}

/* Standard input must be /dev/null (the parent gave no handle), not a file of this process. */
static int child_stdin_null(void) {
    struct stat st;
    if (fstat(0, &st) != 0) return 30;
    return (S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3) ? 0 : 31;
}

/* Standard input is a read-only file: writing it is ERROR_ACCESS_DENIED. */
static int child_stdin_ro(void) {
    DWORD n;
    HANDLE in = GetStdHandle(STD_INPUT_HANDLE);
    if (WriteFile(in, "x", 1, &n, NULL)) return 32;
    return GetLastError() == ERROR_ACCESS_DENIED ? 0 : 33;
}

/* With descriptor 0 closed, runs itself with no standard input handle: the grandchild must
 * still get /dev/null there. */
static int child_closed0(void) {
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    char cmd[700];
    DWORD code = 99;
    close(0);
    ZeroMemory(&si, sizeof si);
    si.cb = sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = NULL;
    si.hStdOutput = GetStdHandle(STD_OUTPUT_HANDLE);
    si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
    snprintf(cmd, sizeof cmd, "\"%s\" child-stdin-null", self);
    if (!CreateProcessA(NULL, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi)) return 34;
    WaitForSingleObject(pi.hProcess, INFINITE);
    GetExitCodeProcess(pi.hProcess, &code);
    return (int)code;
}

/* ---- helpers ---- */

static unsigned long long ino_of(HANDLE h) {
    struct stat st;
    int fd = npipe_handle_fd(h);
    if (fd < 0 || fstat(fd, &st) != 0) return 0;
    return (unsigned long long)st.st_ino;
}

static BOOL run(char *cmd, BOOL inherit, STARTUPINFOA *si, PROCESS_INFORMATION *pi) {
    STARTUPINFOA none;
    ZeroMemory(&none, sizeof none);
    none.cb = sizeof none;
    ZeroMemory(pi, sizeof *pi);
    return CreateProcessA(NULL, cmd, NULL, NULL, inherit, 0, NULL, NULL, si ? si : &none, pi);
}

static DWORD wait_exit(PROCESS_INFORMATION *pi) {
    DWORD code = 12345;
    WaitForSingleObject(pi->hProcess, INFINITE);
    GetExitCodeProcess(pi->hProcess, &code);
    CloseHandle(pi->hProcess);
    CloseHandle(pi->hThread);
    return code;
}

/* ---- checks ---- */

static void redirected_child(void) {
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
    HANDLE in_r, in_w, out_r, out_w, file;
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    char cmd[600], got[256] = {0};
    DWORD n, total = 0, code = 0;
    const char *path = "npipe-process-checks-input.txt";
    const char *text = "a file, copied into a child's pipe\n";

    file = CreateFileA(path, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    CHECK(file != INVALID_HANDLE_VALUE, "create the input file");
    CHECK(WriteFile(file, text, (DWORD)strlen(text), &n, NULL) && n == strlen(text), "write the input file");
    CloseHandle(file);

    CHECK(CreatePipe(&out_r, &out_w, &sa, 0) && CreatePipe(&in_r, &in_w, &sa, 0), "CreatePipe x2");
    CHECK(SetHandleInformation(out_r, HANDLE_FLAG_INHERIT, 0) && SetHandleInformation(in_w, HANDLE_FLAG_INHERIT, 0),
          "SetHandleInformation");
    ZeroMemory(&si, sizeof si);
    si.cb = sizeof si;
    si.hStdInput = in_r;
    si.hStdOutput = out_w;
    si.hStdError = out_w;
    si.dwFlags |= STARTF_USESTDHANDLES;
    snprintf(cmd, sizeof cmd, "\"%s\" child-upper", self);
    CHECK(run(cmd, TRUE, &si, &pi), "CreateProcess with redirected standard handles");
    CHECK(GetExitCodeProcess(pi.hProcess, &code) && (code == STILL_ACTIVE || code == 0), "GetExitCodeProcess while running");
    CHECK(pi.dwProcessId != 0 && GetProcessId(pi.hProcess) == pi.dwProcessId, "dwProcessId");
    CloseHandle(out_w);
    CloseHandle(in_r);

    file = CreateFileA(path, GENERIC_READ, 0, NULL, OPEN_EXISTING, FILE_ATTRIBUTE_READONLY, NULL);
    CHECK(file != INVALID_HANDLE_VALUE, "CreateFile OPEN_EXISTING on an ordinary file");
    for (;;) {
        char chunk[8];
        DWORD w;
        if (!ReadFile(file, chunk, sizeof chunk, &n, NULL) || n == 0) break;
        if (!WriteFile(in_w, chunk, n, &w, NULL)) break;
    }
    CloseHandle(file);
    CHECK(CloseHandle(in_w), "close the child's stdin pipe");
    for (;;) {
        if (!ReadFile(out_r, got + total, sizeof got - 1 - total, &n, NULL) || n == 0) break;
        total += n;
    }
    CHECK(GetLastError() == ERROR_BROKEN_PIPE, "the child's output ends with ERROR_BROKEN_PIPE");
    CHECK(strcmp(got, "A FILE, COPIED INTO A CHILD'S PIPE\n") == 0, "the child's output is the file, upper-cased");
    CHECK(wait_exit(&pi) == 0, "child exit code 0");
    CloseHandle(out_r);
    DeleteFileA(path);
}

static void linux_program_child(void) {
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
    HANDLE in_r, in_w, out_r, out_w;
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    char cmd[] = "tr a-z A-Z", got[64] = {0};
    DWORD n;
    CreatePipe(&out_r, &out_w, &sa, 0);
    CreatePipe(&in_r, &in_w, &sa, 0);
    SetHandleInformation(out_r, HANDLE_FLAG_INHERIT, 0);
    SetHandleInformation(in_w, HANDLE_FLAG_INHERIT, 0);
    ZeroMemory(&si, sizeof si);
    si.cb = sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = in_r;
    si.hStdOutput = out_w;
    si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
    CHECK(run(cmd, TRUE, &si, &pi), "CreateProcess runs a Linux program found on PATH");
    CloseHandle(in_r);
    CloseHandle(out_w);
    WriteFile(in_w, "abc", 3, &n, NULL);
    CloseHandle(in_w);
    CHECK(ReadFile(out_r, got, sizeof got - 1, &n, NULL) && n == 3 && strcmp(got, "ABC") == 0, "tr's output");
    CHECK(wait_exit(&pi) == 0, "tr exits with 0");
    CloseHandle(out_r);
}

static void inheritance(void) {
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
    HANDLE yes_r, yes_w, no_r, no_w, dup = NULL;
    PROCESS_INFORMATION pi;
    char cmd[700];
    DWORD n, flags = 99;
    CHECK(CreatePipe(&yes_r, &yes_w, &sa, 0), "inheritable pipe");
    CHECK(CreatePipe(&no_r, &no_w, NULL, 0), "non-inheritable pipe");
    CHECK(GetHandleInformation(yes_r, &flags) && flags == HANDLE_FLAG_INHERIT, "bInheritHandle sets HANDLE_FLAG_INHERIT");
    CHECK(GetHandleInformation(no_r, &flags) && flags == 0, "no SECURITY_ATTRIBUTES: not inheritable");
    /* The write end of the inheritable pipe must not reach the child, or the child would hold it. */
    CHECK(DuplicateHandle(GetCurrentProcess(), yes_w, GetCurrentProcess(), &dup, 0, FALSE,
                          DUPLICATE_SAME_ACCESS | DUPLICATE_CLOSE_SOURCE),
          "DuplicateHandle to a non-inheritable copy, closing the source");
    CHECK(GetHandleInformation(yes_w, &flags) == FALSE && GetLastError() == ERROR_INVALID_HANDLE, "the source is closed");
    CHECK(WriteFile(dup, "inherited", 9, &n, NULL) && n == 9, "write through the duplicate");
    CHECK(CloseHandle(dup), "close the write end");
    snprintf(cmd, sizeof cmd, "\"%s\" child-inherit %p %p %llu %llu", self, yes_r, no_r, ino_of(yes_r), ino_of(no_r));
    CHECK(run(cmd, TRUE, NULL, &pi), "CreateProcess with bInheritHandles");
    {
        DWORD code = wait_exit(&pi);
        CHECK(code == 0, "the child read the inheritable handle, and has no other descriptor of ours");
        if (code != 0) printf("  child-inherit exit code %lu\n", (unsigned long)code);
    }
    /* bInheritHandles FALSE: not even the inheritable handle. */
    CHECK(run(cmd, FALSE, NULL, &pi), "CreateProcess without bInheritHandles");
    CHECK(wait_exit(&pi) == 21, "without bInheritHandles the handle is not there");
    CloseHandle(yes_r);
    CloseHandle(no_r);
    CloseHandle(no_w);
}

static void set_std_handle_recipe(void) {
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
    HANDLE r, w, saved = GetStdHandle(STD_OUTPUT_HANDLE), rdup;
    PROCESS_INFORMATION pi;
    char cmd[] = "echo via SetStdHandle", got[64] = {0};
    DWORD n;
    CreatePipe(&r, &w, &sa, 0);
    CHECK(SetStdHandle(STD_OUTPUT_HANDLE, w) && GetStdHandle(STD_OUTPUT_HANDLE) == w, "SetStdHandle");
    CHECK(DuplicateHandle(GetCurrentProcess(), r, GetCurrentProcess(), &rdup, 0, FALSE, DUPLICATE_SAME_ACCESS), "dup");
    CloseHandle(r);
    CHECK(run(cmd, TRUE, NULL, &pi), "CreateProcess inherits the standard handles set");
    SetStdHandle(STD_OUTPUT_HANDLE, saved);
    CloseHandle(w);
    CHECK(ReadFile(rdup, got, sizeof got - 1, &n, NULL) && strcmp(got, "via SetStdHandle\n") == 0, "child output");
    wait_exit(&pi);
    CloseHandle(rdup);
}

static void terminate_and_errors(void) {
    PROCESS_INFORMATION pi;
    char sleeper[] = "sleep 30", missing[] = "npipe-no-such-program-xyz arg", exit7[700];
    DWORD code = 0;
    CHECK(run(sleeper, FALSE, NULL, &pi), "run sleep");
    CHECK(WaitForSingleObject(pi.hProcess, 50) == WAIT_TIMEOUT, "a running process is not signalled");
    CHECK(GetExitCodeProcess(pi.hProcess, &code) && code == STILL_ACTIVE, "STILL_ACTIVE");
    CHECK(TerminateProcess(pi.hProcess, 42), "TerminateProcess");
    CHECK(WaitForSingleObject(pi.hProcess, 10000) == WAIT_OBJECT_0, "a terminated process is signalled");
    CHECK(WaitForSingleObject(pi.hThread, 0) == WAIT_OBJECT_0, "hThread is signalled too");
    CHECK(GetExitCodeProcess(pi.hProcess, &code) && code == 42, "exit code from TerminateProcess");
    CHECK(!TerminateProcess(pi.hProcess, 1) && GetLastError() == ERROR_ACCESS_DENIED, "TerminateProcess after exit");
    CloseHandle(pi.hProcess);
    CloseHandle(pi.hThread);
    CHECK(!run(missing, FALSE, NULL, &pi) && GetLastError() == ERROR_FILE_NOT_FOUND, "missing program");
    snprintf(exit7, sizeof exit7, "\"%s\" child-exit 7", self);
    CHECK(run(exit7, FALSE, NULL, &pi) && wait_exit(&pi) == 7, "exit code 7 through ExitProcess");
    CHECK(!GetExitCodeProcess(GetStdHandle(STD_INPUT_HANDLE), &code) && GetLastError() == ERROR_INVALID_HANDLE,
          "GetExitCodeProcess on a non-process");
}

static void named_pipe_as_stdout(void) {
    char name[128], cmd[] = "echo through a named pipe", got[64] = {0};
    HANDLE srv, cli;
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    DWORD n;
    snprintf(name, sizeof name, "\\\\.\\pipe\\npipe-proc-relay-%lu", (unsigned long)GetCurrentProcessId());
    srv = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT, 1, 4096, 4096, 0, NULL);
    cli = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    CHECK(srv != INVALID_HANDLE_VALUE && cli != INVALID_HANDLE_VALUE, "named pipe pair");
    CHECK(SetHandleInformation(cli, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT), "make the client end inheritable");
    ZeroMemory(&si, sizeof si);
    si.cb = sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = NULL;
    si.hStdOutput = cli;
    si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
    CHECK(run(cmd, TRUE, &si, &pi), "CreateProcess with a named pipe end as standard output");
    CloseHandle(cli); /* the child's copy keeps the end open */
    CHECK(ReadFile(srv, got, sizeof got - 1, &n, NULL) && strcmp(got, "through a named pipe\n") == 0, "server reads the child's output");
    CHECK(wait_exit(&pi) == 0, "echo exits");
    CHECK(!ReadFile(srv, got, sizeof got, &n, NULL) && GetLastError() == ERROR_BROKEN_PIPE, "the end closes after the child");
    CloseHandle(srv);
}

static void named_pipe_as_stdin(void) {
    char name[128], cmd[] = "head -c 5", got[16] = {0};
    HANDLE srv, cli, out_r, out_w;
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    DWORD n;
    snprintf(name, sizeof name, "\\\\.\\pipe\\npipe-proc-stdin-%lu", (unsigned long)GetCurrentProcessId());
    srv = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1, 4096, 4096, 0, &sa);
    cli = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    CreatePipe(&out_r, &out_w, &sa, 0);
    SetHandleInformation(out_r, HANDLE_FLAG_INHERIT, 0);
    ZeroMemory(&si, sizeof si);
    si.cb = sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = srv;
    si.hStdOutput = out_w;
    si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
    CHECK(run(cmd, TRUE, &si, &pi), "CreateProcess with a named pipe end as standard input");
    CloseHandle(srv);
    CloseHandle(out_w);
    CHECK(WriteFile(cli, "hello world", 11, &n, NULL), "the client writes to the child's standard input");
    CHECK(ReadFile(out_r, got, sizeof got - 1, &n, NULL) && strcmp(got, "hello") == 0, "head read it");
    CHECK(wait_exit(&pi) == 0, "head exits");
    /* The child is gone: the relay lets go of the server end, which closes (the parent closed
     * its own handle at once). */
    CHECK(!ReadFile(cli, got, sizeof got, &n, NULL) && GetLastError() == ERROR_BROKEN_PIPE,
          "the server end closes once the child is gone");
    CloseHandle(cli);
    CloseHandle(out_r);
}

static void review_regressions(void) {
    PROCESS_INFORMATION pi;
    STARTUPINFOA si;
    char cmd[800], name[128], got[64] = {0};
    HANDLE h, srv, cli, dup = NULL;
    DWORD n, total = 0;
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
    /* A parent whose descriptor 0 is closed still gives /dev/null to a child without one. */
    snprintf(cmd, sizeof cmd, "\"%s\" child-closed0", self);
    CHECK(run(cmd, TRUE, NULL, &pi) && wait_exit(&pi) == 0, "no standard input handle: /dev/null, also when fd 0 is closed");
    /* A relative program path is found from this process's directory, not lpCurrentDirectory. */
    CHECK(symlink(self, "selfcopy") == 0, "symlink");
    snprintf(cmd, sizeof cmd, "./selfcopy child-exit 3");
    ZeroMemory(&si, sizeof si);
    si.cb = sizeof si;
    CHECK(CreateProcessA(NULL, cmd, NULL, NULL, FALSE, 0, NULL, "/", &si, &pi) && wait_exit(&pi) == 3,
          "./prog with lpCurrentDirectory elsewhere");
    unlink("selfcopy");
    /* Standard input a read-only file: the child cannot write it. */
    h = CreateFileA("ro-input", GENERIC_READ, 0, &sa, CREATE_NEW, 0, NULL);
    CHECK(h != INVALID_HANDLE_VALUE, "access GENERIC_READ with CREATE_NEW creates the file");
    ZeroMemory(&si, sizeof si);
    si.cb = sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = h;
    si.hStdOutput = GetStdHandle(STD_OUTPUT_HANDLE);
    si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
    snprintf(cmd, sizeof cmd, "\"%s\" child-stdin-ro", self);
    CHECK(CreateProcessA(NULL, cmd, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi) && wait_exit(&pi) == 0,
          "a read-only standard input: WriteFile gives ERROR_ACCESS_DENIED");
    CHECK(!SetEndOfFile(h) && GetLastError() == ERROR_ACCESS_DENIED, "SetEndOfFile on a read-only handle");
    CloseHandle(h);
    DeleteFileA("ro-input");
    h = CreateFileA("no-access", 0, 0, NULL, CREATE_NEW, 0, NULL);
    CHECK(h != INVALID_HANDLE_VALUE && GetFileAttributesCheck("no-access"), "access 0 with CREATE_NEW creates the file");
    SetLastError(77);
    CHECK(DuplicateHandle(GetCurrentProcess(), h, GetCurrentProcess(), &dup, 0, FALSE, DUPLICATE_SAME_ACCESS | DUPLICATE_CLOSE_SOURCE) &&
              GetLastError() == 0,
          "DUPLICATE_CLOSE_SOURCE leaves ERROR_SUCCESS");
    CloseHandle(dup);
    DeleteFileA("no-access");
    /* One named pipe end as standard output and error: one relay, the order kept. */
    snprintf(name, sizeof name, "\\\\.\\pipe\\npipe-proc-both-%lu", (unsigned long)GetCurrentProcessId());
    srv = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE, 1, 4096, 4096, 0, NULL);
    cli = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, &sa, OPEN_EXISTING, 0, NULL);
    ZeroMemory(&si, sizeof si);
    si.cb = sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdOutput = cli;
    si.hStdError = cli;
    snprintf(cmd, sizeof cmd, "sh -c \"echo a; echo b >&2; echo c; echo d >&2\"");
    CHECK(run(cmd, TRUE, &si, &pi), "sh with one named pipe end as stdout and stderr");
    CloseHandle(cli);
    CHECK(wait_exit(&pi) == 0, "sh exits");
    while (total < sizeof got - 1 && ReadFile(srv, got + total, sizeof got - 1 - total, &n, NULL) && n > 0) total += n;
    CHECK(strcmp(got, "a\nb\nc\nd\n") == 0, "output and error in the order written");
    CloseHandle(srv);
}

static void files(void) {
    const char *p = "npipe-process-checks-file.bin";
    HANDLE h, h2;
    DWORD n, hi = 7;
    char buf[32] = {0};
    LARGE_INTEGER size, pos, zero;
    OVERLAPPED ov;
    DeleteFileA(p);
    CHECK(CreateFileA("no-such-dir-npipe/x", GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL) == INVALID_HANDLE_VALUE &&
              GetLastError() == ERROR_PATH_NOT_FOUND,
          "missing directory: ERROR_PATH_NOT_FOUND");
    CHECK(CreateFileA(p, GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL) == INVALID_HANDLE_VALUE &&
              GetLastError() == ERROR_FILE_NOT_FOUND,
          "missing file: ERROR_FILE_NOT_FOUND");
    CHECK(CreateFileA(p, GENERIC_READ, 0, NULL, 99, 0, NULL) == INVALID_HANDLE_VALUE && GetLastError() == ERROR_INVALID_PARAMETER,
          "bad disposition");
    h = CreateFileA(p, GENERIC_READ | GENERIC_WRITE, 0, NULL, CREATE_NEW, FILE_ATTRIBUTE_NORMAL, NULL);
    CHECK(h != INVALID_HANDLE_VALUE && GetLastError() == 0, "CREATE_NEW");
    CHECK(CreateFileA(p, GENERIC_READ, 0, NULL, CREATE_NEW, 0, NULL) == INVALID_HANDLE_VALUE && GetLastError() == ERROR_FILE_EXISTS,
          "CREATE_NEW on an existing file: ERROR_FILE_EXISTS");
    CHECK(GetFileType(h) == FILE_TYPE_DISK, "GetFileType: disk");
    CHECK(WriteFile(h, "0123456789", 10, &n, NULL) && n == 10, "write");
    CHECK(GetFileSize(h, &hi) == 10 && hi == 0, "GetFileSize");
    CHECK(GetFileSizeEx(h, &size) && size.QuadPart == 10, "GetFileSizeEx");
    CHECK(SetFilePointer(h, 2, NULL, FILE_BEGIN) == 2, "SetFilePointer");
    CHECK(ReadFile(h, buf, 3, &n, NULL) && n == 3 && memcmp(buf, "234", 3) == 0, "read at the position");
    zero.QuadPart = 0;
    CHECK(SetFilePointerEx(h, zero, &pos, FILE_END) && pos.QuadPart == 10, "SetFilePointerEx FILE_END");
    CHECK(ReadFile(h, buf, 3, &n, NULL) && n == 0, "read at end of file: TRUE, 0 bytes");
    CHECK(SetFilePointer(h, -20, NULL, FILE_CURRENT) == INVALID_SET_FILE_POINTER && GetLastError() == ERROR_NEGATIVE_SEEK,
          "seek before the start");
    ZeroMemory(&ov, sizeof ov);
    ov.Offset = 5;
    CHECK(ReadFile(h, buf, 4, &n, &ov) && n == 4 && memcmp(buf, "5678", 4) == 0, "read at an OVERLAPPED offset");
    SetFilePointer(h, 4, NULL, FILE_BEGIN);
    CHECK(SetEndOfFile(h) && GetFileSize(h, NULL) == 4, "SetEndOfFile");
    CHECK(FlushFileBuffers(h), "FlushFileBuffers on a file");
    CloseHandle(h);
    h = CreateFileA(p, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, 0, NULL);
    CHECK(h != INVALID_HANDLE_VALUE && GetLastError() == ERROR_ALREADY_EXISTS, "CREATE_ALWAYS over a file: ERROR_ALREADY_EXISTS");
    CHECK(GetFileSize(h, NULL) == 0, "CREATE_ALWAYS truncates");
    CHECK(!ReadFile(h, buf, 1, &n, NULL) && GetLastError() == ERROR_ACCESS_DENIED, "read on a write-only handle");
    CloseHandle(h);
    h = CreateFileA(p, GENERIC_READ, 0, NULL, OPEN_ALWAYS, 0, NULL);
    CHECK(h != INVALID_HANDLE_VALUE && GetLastError() == ERROR_ALREADY_EXISTS, "OPEN_ALWAYS on an existing file");
    CHECK(!WriteFile(h, "x", 1, &n, NULL) && GetLastError() == ERROR_ACCESS_DENIED, "write on a read-only handle");
    CloseHandle(h);
    CHECK(CreateFileA(p, GENERIC_READ, 0, NULL, TRUNCATE_EXISTING, 0, NULL) == INVALID_HANDLE_VALUE &&
              GetLastError() == ERROR_INVALID_PARAMETER,
          "TRUNCATE_EXISTING needs GENERIC_WRITE");
    h = CreateFileA(p, GENERIC_WRITE, 0, NULL, OPEN_EXISTING, FILE_FLAG_DELETE_ON_CLOSE, NULL);
    CHECK(DuplicateHandle(GetCurrentProcess(), h, GetCurrentProcess(), &h2, 0, FALSE, DUPLICATE_SAME_ACCESS), "dup a file");
    CloseHandle(h);
    CHECK(GetFileAttributesCheck(p), "the file lives while a duplicate is open");
    CloseHandle(h2);
    CHECK(!GetFileAttributesCheck(p), "FILE_FLAG_DELETE_ON_CLOSE removes it with the last handle");
    CHECK(CreateFileA(".", GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL) == INVALID_HANDLE_VALUE &&
              GetLastError() == ERROR_ACCESS_DENIED,
          "a directory without FILE_FLAG_BACKUP_SEMANTICS");
    CHECK(!CloseHandle((HANDLE)(uintptr_t)0x7ff0) && GetLastError() == ERROR_INVALID_HANDLE, "CloseHandle of a bad value");
}

static void listing(void) {
    char name[160], leaf[128];
    WIN32_FIND_DATAA fd;
    HANDLE f, a, b;
    int seen = 0;
    DWORD inst = 0;
    snprintf(leaf, sizeof leaf, "npipe-Find-%lu", (unsigned long)GetCurrentProcessId());
    snprintf(name, sizeof name, "\\\\.\\pipe\\%s", leaf);
    f = FindFirstFileA("\\\\.\\pipe\\npipe-find-*", &fd);
    CHECK(f == INVALID_HANDLE_VALUE && GetLastError() == ERROR_FILE_NOT_FOUND, "no pipe yet: ERROR_FILE_NOT_FOUND");
    a = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE, 4, 512, 512, 0, NULL);
    b = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE, 4, 512, 512, 0, NULL);
    f = FindFirstFileA("\\\\.\\pipe\\*", &fd);
    CHECK(f != INVALID_HANDLE_VALUE, "FindFirstFileA on \\\\.\\pipe\\*");
    if (f != INVALID_HANDLE_VALUE) {
        do {
            if (strcmp(fd.cFileName, leaf) == 0) {
                seen++;
                inst = fd.nFileSizeLow;
                CHECK(fd.dwFileAttributes == FILE_ATTRIBUTE_NORMAL, "a pipe's attributes");
            }
        } while (FindNextFileA(f, &fd));
        CHECK(GetLastError() == ERROR_NO_MORE_FILES, "the listing ends with ERROR_NO_MORE_FILES");
        CHECK(FindClose(f), "FindClose");
    }
    CHECK(seen == 1 && inst == 2, "the pipe is listed once, by its name as created, with its 2 instances");
    f = FindFirstFileA("\\\\.\\PIPE\\NPIPE-FIND-*", &fd);
    CHECK(f != INVALID_HANDLE_VALUE && strcmp(fd.cFileName, leaf) == 0, "patterns match without case");
    if (f != INVALID_HANDLE_VALUE) FindClose(f);
    CloseHandle(a);
    CloseHandle(b);
    f = FindFirstFileA(name, &fd);
    CHECK(f == INVALID_HANDLE_VALUE && GetLastError() == ERROR_FILE_NOT_FOUND, "gone once closed");
    CHECK(!FindClose(GetStdHandle(STD_INPUT_HANDLE)) && GetLastError() == ERROR_INVALID_HANDLE, "FindClose on another handle");
    f = FindFirstFileA("*", &fd);
    CHECK(f != INVALID_HANDLE_VALUE && strcmp(fd.cFileName, ".") == 0 && (fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY),
          "a directory listing starts with .");
    if (f != INVALID_HANDLE_VALUE) FindClose(f);
}

static void module_and_command_line(void) {
    char path[4096], small[5];
    struct stat a, b;
    DWORD n = GetModuleFileNameA(NULL, path, sizeof path);
    CHECK(n > 0 && n < sizeof path && stat(path, &a) == 0 && stat(self, &b) == 0 && a.st_ino == b.st_ino,
          "GetModuleFileNameA(NULL) is this program");
    n = GetModuleFileNameA(NULL, small, sizeof small);
    CHECK(n == sizeof small && small[4] == 0 && GetLastError() == ERROR_INSUFFICIENT_BUFFER, "GetModuleFileNameA truncates");
    CHECK(GetModuleFileNameA((HMODULE)path, path, sizeof path) == 0 && GetLastError() == ERROR_MOD_NOT_FOUND,
          "another module");
    CHECK(strstr(GetCommandLineA(), self) != NULL, "GetCommandLineA holds argv[0]");

    /* Functions looked up at run time, as Qt looks up CancelIoEx. */
    HMODULE me = GetModuleHandleA(NULL);
    CHECK(me != NULL && GetModuleFileNameA(me, path, sizeof path) > 0 && stat(path, &a) == 0 && a.st_ino == b.st_ino,
          "GetModuleHandleA(NULL) is this program");
    HMODULE k32 = GetModuleHandleA("kernel32.dll");
    const WCHAR upper[] = {'K', 'E', 'R', 'N', 'E', 'L', '3', '2', 0};
    CHECK(k32 != NULL && GetModuleHandleW(upper) == k32 && LoadLibraryA("C:\\Windows\\System32\\advapi32.dll") == k32,
          "the system DLLs are one module, any case, with or without .dll or a path");
    typedef BOOL(WINAPI * cancel_io_ex)(HANDLE, LPOVERLAPPED);
    cancel_io_ex cancel = (cancel_io_ex)GetProcAddress(k32, "CancelIoEx");
    CHECK(cancel != NULL && (void *)cancel == (void *)&CancelIoEx, "GetProcAddress finds CancelIoEx");
    SetLastError(0);
    CHECK(cancel && !cancel((HANDLE)(uintptr_t)0x7ff0, NULL) && GetLastError() == ERROR_INVALID_HANDLE,
          "and it is the function");
    CHECK(GetProcAddress(k32, "NoSuchFunction") == NULL && GetLastError() == ERROR_PROC_NOT_FOUND,
          "a function npipe does not provide");
    CHECK(GetProcAddress(k32, (LPCSTR)(uintptr_t)5) == NULL && GetLastError() == ERROR_PROC_NOT_FOUND, "an ordinal");
    CHECK(GetModuleHandleA("user32.dll") == NULL && GetLastError() == ERROR_MOD_NOT_FOUND, "another DLL");
    CHECK(FreeLibrary(k32), "FreeLibrary");
}

/* A child started by command_lines() with a line that starts with a blank: the C runtime's
 * rules give it an empty first argument (its path is the second), and GetCommandLineA gives
 * the line as written (the parent put it in NPIPE_TEST_EXPECT_LINE). */
static int child_args(int argc, char **argv) {
    const char *want = getenv("NPIPE_TEST_EXPECT_LINE");
    if (argc != 5 || argv[0][0] != 0 || strcmp(argv[3], "a b") != 0 || strcmp(argv[4], "-DX Y") != 0) return 2;
    if (!want || strcmp(GetCommandLineA(), want) != 0) return 3;
    return 0;
}

/* A child started by its path alone, a path with a blank: one argument, and the command line
 * is that path quoted. */
static int child_spaced(int argc, char **argv) {
    char want[4200];
    snprintf(want, sizeof want, "\"%s\"", argv[0]);
    if (argc != 1) return 2;
    if (strcmp(GetCommandLineA(), want) != 0) return 3;
    return 0;
}

/* A child given one inheritable pipe end as standard output and error: that handle is its
 * standard handle (the same value), and closing it releases the pipe while the child runs. */
static int child_close_stdout(char **argv) {
    HANDLE out = GetStdHandle(STD_OUTPUT_HANDLE);
    DWORD n = 0;
    if (out != (HANDLE)(uintptr_t)strtoull(argv[2], NULL, 0)) return 2;
    if (GetStdHandle(STD_ERROR_HANDLE) != out) return 3;
    if (!WriteFile(out, "x", 1, &n, NULL) || n != 1) return 4;
    if (!CloseHandle(out)) return 5;
    Sleep(3000);
    return 0;
}

static void closing_a_standard_handle(void) {
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
    HANDLE r = NULL, w = NULL;
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    char cmd[4200], buf[8];
    DWORD n = 0, code = 0;
    CHECK(CreatePipe(&r, &w, &sa, 0) && SetHandleInformation(r, HANDLE_FLAG_INHERIT, 0), "a pipe");
    ZeroMemory(&si, sizeof si);
    si.cb = sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = NULL;
    si.hStdOutput = w;
    si.hStdError = w;
    snprintf(cmd, sizeof cmd, "\"%s\" child-close-stdout %llu", self, (unsigned long long)(uintptr_t)w);
    CHECK(run(cmd, TRUE, &si, &pi), "CreateProcess with the write end as stdout and stderr");
    CloseHandle(w);
    DWORD t0 = GetTickCount();
    CHECK(ReadFile(r, buf, sizeof buf, &n, NULL) && n == 1 && buf[0] == 'x', "the child's byte");
    CHECK(!ReadFile(r, buf, sizeof buf, &n, NULL) && GetLastError() == ERROR_BROKEN_PIPE,
          "end of file once the child closed its standard output handle");
    CHECK(GetTickCount() - t0 < 2500 && GetExitCodeProcess(pi.hProcess, &code) && code == STILL_ACTIVE,
          "while the child still runs");
    {
        /* The process and its main thread are two objects: a wait-all may name both. */
        HANDLE both[2] = {pi.hProcess, pi.hThread};
        DWORD tc = 0;
        CHECK(GetExitCodeThread(pi.hThread, &tc) && tc == STILL_ACTIVE, "the main thread runs");
        CHECK(!GetExitCodeProcess(pi.hThread, &tc) && GetLastError() == ERROR_INVALID_HANDLE,
              "the thread handle is no process handle");
        CHECK(ResumeThread(pi.hThread) == 0, "ResumeThread on a running main thread");
        CHECK(WaitForMultipleObjects(2, both, TRUE, 10000) == WAIT_OBJECT_0, "wait for the process and its thread");
        CHECK(GetExitCodeThread(pi.hThread, &tc) && tc == 0, "the main thread's exit code");
    }
    CHECK(wait_exit(&pi) == 0, "the child's standard handle was the one passed, closed");
    CloseHandle(r);
}

/* How a child sees the command line CreateProcess was given (the C runtime's rules). */
static void command_lines(void) {
    char cmd[4200], real[4096];
    PROCESS_INFORMATION pi;
    snprintf(cmd, sizeof cmd, " %s child-args  \"a b\"   -D\"X Y\"", self);
    setenv("NPIPE_TEST_EXPECT_LINE", cmd, 1);
    CHECK(run(cmd, FALSE, NULL, &pi) && wait_exit(&pi) == 0,
          "a line that starts with a blank: an empty first argument, the program's path the "
          "second, the rest intact, and GetCommandLineA as written");
    unsetenv("NPIPE_TEST_EXPECT_LINE");
    char dir[4200], link[4300];
    snprintf(dir, sizeof dir, "%s/sp dir", scratch);
    snprintf(link, sizeof link, "%s/npipe child", dir);
    if (realpath(self, real) && mkdir(dir, 0700) == 0 && symlink(real, link) == 0) {
        STARTUPINFOA si;
        ZeroMemory(&si, sizeof si);
        si.cb = sizeof si;
        ZeroMemory(&pi, sizeof pi);
        CHECK(CreateProcessA(link, NULL, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi) && wait_exit(&pi) == 0,
              "a program path with a blank and no command line stays one argument");
        unlink(link);
        rmdir(dir);
    } else {
        CHECK(0, "cannot set up a path with a blank");
    }
    ZeroMemory(&pi, sizeof pi);
    char empty[1] = "";
    CHECK(!run(empty, FALSE, NULL, &pi) && GetLastError() == ERROR_FILE_NOT_FOUND, "an empty command line");
}

static void messages(void) {
    char buf[256];
    LPSTR p = NULL;
    DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, ERROR_PIPE_BUSY,
                             MAKELANGID(LANG_NEUTRAL, SUBLANG_DEFAULT), buf, sizeof buf, NULL);
    CHECK(n == strlen("All pipe instances are busy.\r\n") && strcmp(buf, "All pipe instances are busy.\r\n") == 0,
          "FormatMessage ERROR_PIPE_BUSY");
    n = FormatMessageA(FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
                       ERROR_BROKEN_PIPE, 0, (LPSTR)&p, 0, NULL);
    CHECK(n > 0 && p && strcmp(p, "The pipe has been ended.\r\n") == 0, "FORMAT_MESSAGE_ALLOCATE_BUFFER");
    LocalFree(p);
    CHECK(FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, 2, 0, buf, 5, NULL) == 0 &&
              GetLastError() == ERROR_INSUFFICIENT_BUFFER,
          "small buffer: ERROR_INSUFFICIENT_BUFFER");
    CHECK(FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, 0x12345, 0, buf, sizeof buf, NULL) == 0 &&
              GetLastError() == ERROR_MR_MID_NOT_FOUND,
          "unknown code: ERROR_MR_MID_NOT_FOUND");
    n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS | FORMAT_MESSAGE_MAX_WIDTH_MASK, NULL,
                       ERROR_OPERATION_ABORTED, 0, buf, sizeof buf, NULL);
    CHECK(n > 0 && buf[n - 1] == ' ' && !strchr(buf, '\n'), "FORMAT_MESSAGE_MAX_WIDTH_MASK");
    {
        DWORD_PTR args[2] = {(DWORD_PTR) "pipe", 7};
        n = FormatMessageA(FORMAT_MESSAGE_FROM_STRING | FORMAT_MESSAGE_ARGUMENT_ARRAY, "%1 has %2!d! parts%n", 0, 0, buf,
                           sizeof buf, (va_list *)args);
        CHECK(n > 0 && strcmp(buf, "pipe has 7 parts\r\n") == 0, "FORMAT_MESSAGE_FROM_STRING with an argument array");
    }
}

int main(int argc, char **argv) {
    self = argv[0];
    if (argc > 2 && argv[0][0] == 0 && strcmp(argv[2], "child-args") == 0) return child_args(argc, argv);
    if (argc == 1 && strstr(argv[0], "sp dir/npipe child")) return child_spaced(argc, argv);
    if (argc > 2 && strcmp(argv[1], "child-close-stdout") == 0) return child_close_stdout(argv);
    if (argc > 1 && strcmp(argv[1], "child-upper") == 0) return child_upper();
    if (argc > 4 && strcmp(argv[1], "child-inherit") == 0) return child_inherit(argc, argv);
    if (argc > 2 && strcmp(argv[1], "child-exit") == 0) ExitProcess((UINT)atoi(argv[2]));
    if (argc > 1 && strcmp(argv[1], "child-stdin-null") == 0) return child_stdin_null();
    if (argc > 1 && strcmp(argv[1], "child-stdin-ro") == 0) return child_stdin_ro();
    if (argc > 1 && strcmp(argv[1], "child-closed0") == 0) return child_closed0();
    {
        if (!mkdtemp(scratch) || chdir(scratch) != 0) {
            printf("cannot make a scratch directory\n");
            return 2;
        }
    }
    redirected_child();
    linux_program_child();
    inheritance();
    set_std_handle_recipe();
    terminate_and_errors();
    named_pipe_as_stdout();
    named_pipe_as_stdin();
    review_regressions();
    files();
    listing();
    module_and_command_line();
    command_lines();
    closing_a_standard_handle();
    messages();
    if (chdir("/") == 0) rmdir(scratch);
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
