/* npipe's test of wide-character programs built as on Windows: compiled with -fshort-wchar and
 * UNICODE, as C99 and as C++11, by tests/wide_literals.rs. L"..." literals and TEXT() are WCHAR
 * strings there, and the generic names (CreateNamedPipe, CreateFile, WaitNamedPipe,
 * CallNamedPipe) are the W functions; a second process (this program re-run) is the client.
 * Prints "N passed, M failed". */
#include <windows.h>
#include <string.h>

#include "checks.h"

/* TEXT("\\\\.\\pipe\\npipe-wide-") followed by the digits of `id`. */
static void pipe_name(WCHAR *out, size_t cap, unsigned long id) {
    const WCHAR *prefix = TEXT("\\\\.\\pipe\\npipe-wide-");
    size_t n = 0;
    while (prefix[n] && n + 1 < cap) {
        out[n] = prefix[n];
        n++;
    }
    char digits[24];
    int k = snprintf(digits, sizeof digits, "%lu", id);
    for (int i = 0; i < k && n + 1 < cap; i++) out[n++] = (WCHAR)digits[i];
    out[n] = 0;
}

static int client(unsigned long id) {
    WCHAR name[64];
    pipe_name(name, 64, id);
    if (!WaitNamedPipe(name, 10000)) return 1;
    HANDLE c = CreateFile(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    if (c == INVALID_HANDLE_VALUE) return 2;
    DWORD mode = PIPE_READMODE_MESSAGE;
    if (!SetNamedPipeHandleState(c, &mode, NULL, NULL)) return 3;
    const WCHAR *hello = L"hello";
    DWORD n = 0;
    if (!WriteFile(c, hello, 5 * sizeof(WCHAR), &n, NULL) || n != 10) return 4;
    WCHAR back[8] = {0};
    if (!ReadFile(c, back, sizeof back, &n, NULL) || n != 10) return 5;
    if (memcmp(back, L"world", 10) != 0) return 6;
    CloseHandle(c);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3) return client(strtoul(argv[2], NULL, 10));
    CHECK(sizeof(WCHAR) == 2 && sizeof(L"ab") == 6, "L\"...\" literals are WCHAR strings");
    CHECK(sizeof(TCHAR) == 2 && sizeof(TEXT("ab")) == 6, "TEXT() is L under UNICODE");
    unsigned long id = (unsigned long)getpid();
    WCHAR name[64];
    pipe_name(name, 64, id);
    HANDLE s = CreateNamedPipe(name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE,
                               1, 512, 512, 0, NULL);
    CHECK(s != INVALID_HANDLE_VALUE, "CreateNamedPipe (W) with a TEXT() name");
    char arg[24];
    snprintf(arg, sizeof arg, "%lu", id);
    pid_t kid = spawn_self(argv[0], "client", arg);
    CHECK(ConnectNamedPipe(s, NULL) || GetLastError() == ERROR_PIPE_CONNECTED,
          "the client process connected by its L\"...\" name");
    WCHAR got[8] = {0};
    DWORD n = 0;
    CHECK(ReadFile(s, got, sizeof got, &n, NULL) && n == 10 && memcmp(got, L"hello", 10) == 0,
          "a message of WCHARs arrives");
    CHECK(WriteFile(s, L"world", 10, &n, NULL) && n == 10, "and one goes back");
    CHECK(wait_ok(kid), "the client process saw its answer");
    CloseHandle(s);
    CHECK(!WaitNamedPipe(TEXT("\\\\.\\pipe\\npipe-wide-none"), 0)
              && GetLastError() == ERROR_FILE_NOT_FOUND,
          "WaitNamedPipe (W) on a name nobody serves");
    DWORD rd = 0;
    char buf[8];
    CHECK(!CallNamedPipe(TEXT("\\\\.\\pipe\\npipe-wide-none"), buf, 1, buf, sizeof buf, &rd, 0)
              && GetLastError() == ERROR_FILE_NOT_FOUND,
          "CallNamedPipe (W) on a name nobody serves");
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
