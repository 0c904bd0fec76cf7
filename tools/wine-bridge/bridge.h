/* bridge.h: the interface between the bridge's two worlds.
 *
 * npipe-wine-bridge is one winelib program with two halves that cannot share headers: Wine's
 * <windows.h> on one side (side_wine.c, bridge.c) and npipe's <npipe/win32.h> with
 * NPIPE_NO_WIN32_NAMES on the other (side_np.c). This header uses only C types, so both include
 * it. Each half implements the same table of pipe operations (struct side); bridge.c runs the
 * acceptor and the pumps over two such tables without knowing which is which.
 *
 * Conventions: a handle is a void *; every operation returns 0 on success or a Win32 error code
 * (the numbers are the same in Wine and npipe). Blocking operations take a stop object of the same
 * side and return ERROR_OPERATION_ABORTED (995) once it is signalled. */
#ifndef NPIPE_WINE_BRIDGE_H
#define NPIPE_WINE_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

#define BR_ERROR_FILE_NOT_FOUND 2u
#define BR_ERROR_NOT_ENOUGH_MEMORY 8u
#define BR_ERROR_BROKEN_PIPE 109u
#define BR_ERROR_SEM_TIMEOUT 121u
#define BR_ERROR_PIPE_BUSY 231u
#define BR_ERROR_NO_DATA 232u
#define BR_ERROR_PIPE_NOT_CONNECTED 233u
#define BR_ERROR_MORE_DATA 234u
#define BR_ERROR_OPERATION_ABORTED 995u

/* What a server instance is created with: GetNamedPipeInfo's answer on the real server's pipe. */
struct pipe_params {
    uint32_t message;       /* 1: PIPE_TYPE_MESSAGE (and read mode message), 0: bytes */
    uint32_t out_quota;     /* nOutBufferSize, server to client */
    uint32_t in_quota;      /* nInBufferSize, client to server */
    uint32_t max_instances; /* 255 is PIPE_UNLIMITED_INSTANCES in both worlds */
};

/* A message buffer. Its memory comes from Wine's heap (bridge_buf_grow), because Wine's
 * overlapped I/O rejects buffers from glibc's malloc; npipe takes any memory. */
struct buf {
    unsigned char *data;
    size_t cap; /* bytes allocated */
    size_t len; /* bytes of the current message or chunk */
};

/* Makes b->cap at least want, keeping the first b->len bytes. 0 or ERROR_NOT_ENOUGH_MEMORY. */
uint32_t bridge_buf_grow(struct buf *b, size_t want);

/* Prints a diagnostic line on stderr when --verbose is on. */
void bridge_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct side {
    const char *what; /* "wine" or "npipe", for messages */
    /* A manual-reset event of this side, used as a stop object or as the event of a pump's
     * overlapped I/O (io below); NULL when it cannot be made. */
    void *(*stop_new)(void);
    void (*stop_set)(void *stop);
    void (*stop_free)(void *stop);
    /* 0 when an instance of the pipe listens now; ERROR_FILE_NOT_FOUND when the name does not
     * exist; ERROR_SEM_TIMEOUT when it exists with no free instance after timeout_ms. */
    uint32_t (*wait_name)(const char *path, uint32_t timeout_ms);
    /* Opens the pipe as a client (overlapped, read mode message when p->message), and fills p
     * from GetNamedPipeInfo when p is not NULL. */
    uint32_t (*open_client)(const char *path, struct pipe_params *p, void **h);
    /* Creates one server instance (overlapped, duplex) with the parameters p. */
    uint32_t (*create_server)(const char *path, const struct pipe_params *p, void **h);
    /* Waits for a client on a server instance, at most timeout_ms: 0 when one connected,
     * ERROR_SEM_TIMEOUT when none came yet (the wait stays armed: call again), another error
     * when the instance failed. */
    uint32_t (*accept)(void *h, void **pending, uint32_t timeout_ms);
    /* Cancels what accept left armed (pending, from accept) before the handle is closed. */
    void (*accept_cancel)(void *h, void **pending);
    /* Reads one message (message mode, growing b) or one chunk (byte mode) into b. */
    uint32_t (*read)(void *h, int message, struct buf *b, void *io, void *stop);
    /* Writes b->len bytes as one message (or bytes), waiting until they are taken. */
    uint32_t (*write)(void *h, const struct buf *b, void *io, void *stop);
    /* DisconnectNamedPipe (server ends): the client sees ERROR_PIPE_NOT_CONNECTED, and the
     * instance stays, not listening, until accept listens again. */
    uint32_t (*disconnect)(void *h);
    void (*close)(void *h);
};

extern const struct side side_wine;
extern const struct side side_np;

#endif
