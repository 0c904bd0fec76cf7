/* side_np.c: the npipe half of the bridge, the pipe operations of bridge.h on libnpipe.
 *
 * This translation unit sees only <npipe/win32.h>, with NPIPE_NO_WIN32_NAMES, and calls the
 * npipe_ functions by their prefixed names: in a winelib module every plain Win32 name
 * (ReadFile, CloseHandle...) is bound by winebuild to Wine's kernel32, so no Wine header may
 * be seen here and no plain name used. Handles are opened with FILE_FLAG_OVERLAPPED and every
 * blocking call waits on its event and on the caller's stop event, so that another thread can
 * end a pump without closing a handle under it (npipe reuses handle values). */
#define NPIPE_NO_WIN32_NAMES
#include <npipe/win32.h>

#include "bridge.h"

static void *np_stop_new(void) {
    HANDLE e = npipe_CreateEventA(NULL, TRUE, FALSE, NULL);
    return e ? e : NULL;
}

static void np_stop_set(void *stop) { npipe_SetEvent(stop); }

static void np_stop_free(void *stop) { npipe_CloseHandle(stop); }

static uint32_t np_wait_name(const char *path, uint32_t timeout_ms) {
    if (npipe_WaitNamedPipeA(path, timeout_ms ? timeout_ms : 1))
        return 0;
    DWORD e = npipe_GetLastError();
    return e == ERROR_FILE_NOT_FOUND ? BR_ERROR_FILE_NOT_FOUND : BR_ERROR_SEM_TIMEOUT;
}

static uint32_t np_open_client(const char *path, struct pipe_params *p, void **h) {
    HANDLE c = npipe_CreateFileA(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                                 FILE_FLAG_OVERLAPPED, NULL);
    if (c == INVALID_HANDLE_VALUE)
        return npipe_GetLastError();
    DWORD flags = 0, out = 0, in = 0, max = 0;
    if (!npipe_GetNamedPipeInfo(c, &flags, &out, &in, &max)) {
        DWORD e = npipe_GetLastError();
        npipe_CloseHandle(c);
        return e;
    }
    if (flags & PIPE_TYPE_MESSAGE) {
        DWORD mode = PIPE_READMODE_MESSAGE;
        if (!npipe_SetNamedPipeHandleState(c, &mode, NULL, NULL)) {
            DWORD e = npipe_GetLastError();
            npipe_CloseHandle(c);
            return e;
        }
    }
    if (p) {
        p->message = (flags & PIPE_TYPE_MESSAGE) != 0;
        p->out_quota = out;
        p->in_quota = in;
        p->max_instances = max;
    }
    *h = c;
    return 0;
}

static uint32_t np_create_server(const char *path, const struct pipe_params *p, void **h) {
    DWORD mode = p->message ? PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE : PIPE_TYPE_BYTE | PIPE_READMODE_BYTE;
    HANDLE s = npipe_CreateNamedPipeA(path, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED, mode | PIPE_WAIT,
                                      p->max_instances, p->out_quota, p->in_quota, 0, NULL);
    if (s == INVALID_HANDLE_VALUE)
        return npipe_GetLastError();
    *h = s;
    return 0;
}

/* Completes one overlapped operation: waits for its event or for stop. On stop it cancels and
 * waits for the cancellation, so the buffer is free when it returns. */
static uint32_t np_finish(HANDLE h, OVERLAPPED *ov, BOOL started, void *stop, DWORD *n) {
    if (!started) {
        DWORD e = npipe_GetLastError();
        if (e == ERROR_IO_PENDING) {
            HANDLE hs[2] = {ov->hEvent, stop};
            DWORD w = npipe_WaitForMultipleObjects(stop ? 2 : 1, hs, FALSE, INFINITE);
            if (w != WAIT_OBJECT_0) {
                npipe_CancelIoEx(h, ov);
                npipe_GetOverlappedResult(h, ov, n, TRUE);
                *n = 0;
                return BR_ERROR_OPERATION_ABORTED;
            }
        } else if (e != ERROR_MORE_DATA) {
            *n = 0;
            return e;
        }
    }
    if (!npipe_GetOverlappedResult(h, ov, n, TRUE))
        return npipe_GetLastError();
    return 0;
}

static uint32_t np_accept(void *h, void **pending, uint32_t timeout_ms) {
    OVERLAPPED *ov = *pending;
    if (!ov) {
        ov = calloc(1, sizeof *ov);
        if (!ov)
            return BR_ERROR_NOT_ENOUGH_MEMORY;
        ov->hEvent = npipe_CreateEventA(NULL, TRUE, FALSE, NULL);
        if (!ov->hEvent) {
            free(ov);
            return BR_ERROR_NOT_ENOUGH_MEMORY;
        }
        *pending = ov;
        if (npipe_ConnectNamedPipe(h, ov))
            return 0;
        DWORD e = npipe_GetLastError();
        if (e == ERROR_PIPE_CONNECTED)
            return 0;
        if (e != ERROR_IO_PENDING)
            return e;
    }
    DWORD w = npipe_WaitForSingleObject(ov->hEvent, timeout_ms);
    if (w == WAIT_TIMEOUT)
        return BR_ERROR_SEM_TIMEOUT;
    DWORD n;
    if (!npipe_GetOverlappedResult(h, ov, &n, TRUE))
        return npipe_GetLastError();
    return 0;
}

static void np_accept_cancel(void *h, void **pending) {
    OVERLAPPED *ov = *pending;
    if (!ov)
        return;
    DWORD n;
    if (h && !HasOverlappedIoCompleted(ov)) {
        npipe_CancelIoEx(h, ov);
        npipe_GetOverlappedResult(h, ov, &n, TRUE);
    }
    npipe_CloseHandle(ov->hEvent);
    free(ov);
    *pending = NULL;
}

static uint32_t np_read(void *h, int message, struct buf *b, void *io, void *stop) {
    OVERLAPPED ov;
    uint32_t err = 0;
    b->len = 0;
    for (;;) {
        if (b->cap - b->len < 65536 && (err = bridge_buf_grow(b, b->len + 65536)))
            break;
        DWORD n = 0;
        memset(&ov, 0, sizeof ov);
        ov.hEvent = io;
        npipe_ResetEvent(io);
        BOOL ok = npipe_ReadFile(h, b->data + b->len, (DWORD)(b->cap - b->len), &n, &ov);
        err = np_finish(h, &ov, ok, stop, &n);
        b->len += n;
        if (err == BR_ERROR_MORE_DATA && message)
            continue; /* the rest of this message follows */
        break;
    }
    return err;
}

static uint32_t np_write(void *h, const struct buf *b, void *io, void *stop) {
    OVERLAPPED ov = {0};
    ov.hEvent = io;
    npipe_ResetEvent(io);
    DWORD n = 0;
    BOOL ok = npipe_WriteFile(h, b->data, (DWORD)b->len, &n, &ov);
    return np_finish(h, &ov, ok, stop, &n);
}

static uint32_t np_disconnect(void *h) { return npipe_DisconnectNamedPipe(h) ? 0 : npipe_GetLastError(); }

static void np_close(void *h) { npipe_CloseHandle(h); }

const struct side side_np = {
    .what = "npipe",
    .stop_new = np_stop_new,
    .stop_set = np_stop_set,
    .stop_free = np_stop_free,
    .wait_name = np_wait_name,
    .open_client = np_open_client,
    .create_server = np_create_server,
    .accept = np_accept,
    .accept_cancel = np_accept_cancel,
    .read = np_read,
    .write = np_write,
    .disconnect = np_disconnect,
    .close = np_close,
};
