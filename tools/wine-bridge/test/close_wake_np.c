/* close_wake_np.c: the npipe half of close_wake (see close_wake.c): a server and a client end in
 * this process, a synchronous ReadFile on the client end, CloseHandle of that end, and what the
 * server sees. npipe_ names only (NPIPE_NO_WIN32_NAMES), as in the bridge. */
#define NPIPE_NO_WIN32_NAMES
#include <npipe/win32.h>

#include <stdint.h>

static HANDLE server, client;

int cw_setup(const char *path) {
    server = npipe_CreateNamedPipeA(path, PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1, 4096,
                                    4096, 0, NULL);
    if (server == INVALID_HANDLE_VALUE)
        return 0;
    client = npipe_CreateFileA(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    return client != INVALID_HANDLE_VALUE && (npipe_ConnectNamedPipe(server, NULL) ||
                                              npipe_GetLastError() == ERROR_PIPE_CONNECTED);
}

/* Blocks in ReadFile on the client end; the error it ends with (0 if it read something). */
uint32_t cw_blocked_read(void) {
    char buf[16];
    DWORD n;
    return npipe_ReadFile(client, buf, sizeof buf, &n, NULL) ? 0 : npipe_GetLastError();
}

int cw_close_client(void) { return npipe_CloseHandle(client); }

/* The server's ReadFile after the client's close: ERROR_BROKEN_PIPE as from a direct peer. */
uint32_t cw_server_read(void) {
    char buf[16];
    DWORD n;
    uint32_t e = npipe_ReadFile(server, buf, sizeof buf, &n, NULL) ? 0 : npipe_GetLastError();
    npipe_CloseHandle(server);
    return e;
}
