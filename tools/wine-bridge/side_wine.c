/* side_wine.c: the Wine half of the bridge, the pipe operations of bridge.h on Wine's kernel32.
 *
 * This translation unit includes Wine's <windows.h> and nothing of npipe: every Win32 name here
 * is Wine's (winebuild binds them to kernel32). Handles are opened with FILE_FLAG_OVERLAPPED so
 * that one pump can read while the other writes on the same handle, and every wait also watches
 * the caller's stop event; on stop the operation is cancelled with CancelIoEx and its completion
 * awaited before the (HeapAlloc'd) buffer may be reused. */
#include <windows.h>

#include "bridge.h"

static void *w_stop_new(void) { return CreateEventA(NULL, TRUE, FALSE, NULL); }

static void w_stop_set(void *stop) { SetEvent(stop); }

static void w_stop_free(void *stop) { CloseHandle(stop); }

static uint32_t w_wait_name(const char *path, uint32_t timeout_ms) {
    if (WaitNamedPipeA(path, timeout_ms ? timeout_ms : 1))
        return 0;
    return GetLastError() == ERROR_FILE_NOT_FOUND ? BR_ERROR_FILE_NOT_FOUND : BR_ERROR_SEM_TIMEOUT;
}

static uint32_t w_open_client(const char *path, struct pipe_params *p, void **h) {
    HANDLE c = CreateFileA(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, NULL);
    if (c == INVALID_HANDLE_VALUE)
        return GetLastError();
    DWORD flags = 0, out = 0, in = 0, max = 0;
    if (!GetNamedPipeInfo(c, &flags, &out, &in, &max)) {
        DWORD e = GetLastError();
        CloseHandle(c);
        return e;
    }
    if (flags & PIPE_TYPE_MESSAGE) {
        DWORD mode = PIPE_READMODE_MESSAGE;
        if (!SetNamedPipeHandleState(c, &mode, NULL, NULL)) {
            DWORD e = GetLastError();
            CloseHandle(c);
            return e;
        }
    }
    if (p) {
        p->message = (flags & PIPE_TYPE_MESSAGE) != 0;
        p->out_quota = out;
        p->in_quota = in;
        /* Wine reports an unlimited pipe as 0xFFFFFFFF; both worlds create one with 255. */
        p->max_instances = max > PIPE_UNLIMITED_INSTANCES ? PIPE_UNLIMITED_INSTANCES : max;
    }
    *h = c;
    return 0;
}

static uint32_t w_create_server(const char *path, const struct pipe_params *p, void **h) {
    DWORD mode = p->message ? PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE : PIPE_TYPE_BYTE | PIPE_READMODE_BYTE;
    HANDLE s = CreateNamedPipeA(path, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED, mode | PIPE_WAIT, p->max_instances,
                                p->out_quota, p->in_quota, 0, NULL);
    if (s == INVALID_HANDLE_VALUE)
        return GetLastError();
    *h = s;
    return 0;
}

/* Completes one overlapped operation (see side_np.c's twin). */
static uint32_t w_finish(HANDLE h, OVERLAPPED *ov, BOOL started, void *stop, DWORD *n) {
    if (!started) {
        DWORD e = GetLastError();
        if (e == ERROR_IO_PENDING) {
            HANDLE hs[2] = {ov->hEvent, stop};
            DWORD w = WaitForMultipleObjects(stop ? 2 : 1, hs, FALSE, INFINITE);
            if (w != WAIT_OBJECT_0) {
                CancelIoEx(h, ov);
                GetOverlappedResult(h, ov, n, TRUE);
                *n = 0;
                return BR_ERROR_OPERATION_ABORTED;
            }
        } else if (e != ERROR_MORE_DATA) {
            *n = 0;
            return e;
        }
    }
    if (!GetOverlappedResult(h, ov, n, TRUE))
        return GetLastError();
    return 0;
}

static uint32_t w_accept(void *h, void **pending, uint32_t timeout_ms) {
    OVERLAPPED *ov = *pending;
    if (!ov) {
        ov = HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, sizeof *ov);
        if (!ov)
            return BR_ERROR_NOT_ENOUGH_MEMORY;
        ov->hEvent = CreateEventA(NULL, TRUE, FALSE, NULL);
        if (!ov->hEvent) {
            HeapFree(GetProcessHeap(), 0, ov);
            return BR_ERROR_NOT_ENOUGH_MEMORY;
        }
        *pending = ov;
        if (ConnectNamedPipe(h, ov))
            return 0;
        DWORD e = GetLastError();
        if (e == ERROR_PIPE_CONNECTED)
            return 0;
        if (e != ERROR_IO_PENDING)
            return e;
    }
    if (WaitForSingleObject(ov->hEvent, timeout_ms) == WAIT_TIMEOUT)
        return BR_ERROR_SEM_TIMEOUT;
    DWORD n;
    if (!GetOverlappedResult(h, ov, &n, TRUE))
        return GetLastError();
    return 0;
}

static void w_accept_cancel(void *h, void **pending) {
    OVERLAPPED *ov = *pending;
    if (!ov)
        return;
    DWORD n;
    if (h && !HasOverlappedIoCompleted(ov)) {
        CancelIoEx(h, ov);
        GetOverlappedResult(h, ov, &n, TRUE);
    }
    CloseHandle(ov->hEvent);
    HeapFree(GetProcessHeap(), 0, ov);
    *pending = NULL;
}

static uint32_t w_read(void *h, int message, struct buf *b, void *io, void *stop) {
    OVERLAPPED ov;
    uint32_t err = 0;
    b->len = 0;
    for (;;) {
        if (b->cap - b->len < 65536 && (err = bridge_buf_grow(b, b->len + 65536)))
            break;
        DWORD n = 0;
        ZeroMemory(&ov, sizeof ov);
        ov.hEvent = io;
        ResetEvent(io);
        BOOL ok = ReadFile(h, b->data + b->len, (DWORD)(b->cap - b->len), &n, &ov);
        err = w_finish(h, &ov, ok, stop, &n);
        b->len += n;
        if (err == BR_ERROR_MORE_DATA && message)
            continue; /* the rest of this message follows */
        break;
    }
    return err;
}

static uint32_t w_write(void *h, const struct buf *b, void *io, void *stop) {
    OVERLAPPED ov;
    ZeroMemory(&ov, sizeof ov);
    ov.hEvent = io;
    ResetEvent(io);
    DWORD n = 0;
    BOOL ok = WriteFile(h, b->data, (DWORD)b->len, &n, &ov);
    return w_finish(h, &ov, ok, stop, &n);
}

static uint32_t w_disconnect(void *h) { return DisconnectNamedPipe(h) ? 0 : GetLastError(); }

static void w_close(void *h) { CloseHandle(h); }

const struct side side_wine = {
    .what = "wine",
    .stop_new = w_stop_new,
    .stop_set = w_stop_set,
    .stop_free = w_stop_free,
    .wait_name = w_wait_name,
    .open_client = w_open_client,
    .create_server = w_create_server,
    .accept = w_accept,
    .accept_cancel = w_accept_cancel,
    .read = w_read,
    .write = w_write,
    .disconnect = w_disconnect,
    .close = w_close,
};
