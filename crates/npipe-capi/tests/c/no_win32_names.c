/* A translation unit that keeps the Win32 names for another layer (tests/exports.rs): it
 * defines its own ReadFile and CloseHandle, as a process with Wine or a compatibility library
 * has them, and reaches npipe only through the npipe_ names. */
#define NPIPE_NO_WIN32_NAMES
#include <npipe/win32.h>

#include <stdio.h>
#include <string.h>

static int failed, passed;
#define CHECK(cond)                                                   \
    do {                                                              \
        if (cond) {                                                   \
            passed++;                                                 \
        } else {                                                      \
            failed++;                                                 \
            printf("FAIL line %d: %s\n", __LINE__, #cond);            \
        }                                                             \
    } while (0)

/* The other layer's functions, with the Win32 names and different behaviour. */
static int other_reads, other_closes;
BOOL ReadFile(HANDLE h, void *buf, DWORD n, DWORD *got, void *ov) {
    (void)h, (void)buf, (void)n, (void)ov;
    other_reads++;
    *got = 0;
    return FALSE;
}
BOOL CloseHandle(HANDLE h) {
    (void)h;
    other_closes++;
    return TRUE;
}

#ifdef ReadFile
#error "NPIPE_NO_WIN32_NAMES still maps ReadFile"
#endif
#ifdef CreateFile
#error "NPIPE_NO_WIN32_NAMES still defines the generic names"
#endif

int main(void) {
    char name[64];
    snprintf(name, sizeof name, "\\\\.\\pipe\\npipe-prefixed-%d", (int)npipe_GetCurrentProcessId());
    HANDLE srv = npipe_CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1,
                                        4096, 4096, 0, NULL);
    CHECK(srv != INVALID_HANDLE_VALUE);
    HANDLE cli = npipe_CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    CHECK(cli != INVALID_HANDLE_VALUE);
    DWORD n = 0;
    CHECK(npipe_WriteFile(cli, "hello", 5, &n, NULL) && n == 5);
    char buf[16] = {0};
    CHECK(npipe_ReadFile(srv, buf, sizeof buf, &n, NULL) && n == 5 && memcmp(buf, "hello", 5) == 0);
    /* The program's own ReadFile is the one its name reaches. */
    CHECK(!ReadFile(srv, buf, sizeof buf, &n, NULL) && other_reads == 1);
    CHECK(CloseHandle(cli) && other_closes == 1);
    CHECK(npipe_CloseHandle(cli));
    CHECK(!npipe_CloseHandle(cli) && npipe_GetLastError() == ERROR_INVALID_HANDLE);
    CHECK(npipe_CloseHandle(srv));
    CHECK(strcmp(npipe_version(), NPIPE_VERSION) == 0);
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
