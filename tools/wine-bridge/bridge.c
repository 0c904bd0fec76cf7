/* bridge.c: npipe-wine-bridge's main, its acceptor and its pumps.
 *
 *   npipe-wine-bridge --export NAME   an npipe server is reachable as \\.\pipe\NAME by Wine programs
 *   npipe-wine-bridge --import NAME   a Wine server is reachable as \\.\pipe\NAME by npipe clients
 *
 * The "back" side holds the real server (npipe for --export, Wine for --import); the bridge serves
 * instances on the "front" side. Mechanism:
 *   1. Probe: one client connection to the real server, for its parameters (GetNamedPipeInfo:
 *      type, quotas, max instances), closed at once. Front instances are created with them.
 *   2. Acceptor: a front instance listens only while the back name has a listening instance
 *      (WaitNamedPipe on the back side); while it waits for a client it checks the back side every
 *      200 ms and withdraws the instance when the back server has no free instance (it is
 *      disconnected and kept, so front clients get ERROR_PIPE_BUSY and WaitNamedPipe waits) or
 *      has been gone for 250 ms (every idle instance is closed: ERROR_FILE_NOT_FOUND). When a
 *      front client connects, the bridge opens the back pipe and starts a pair of pumps for that
 *      connection, then goes back to 2 for the next instance. Idle instances (withdrawn, or whose
 *      client closed) are kept disconnected and listen again when the back side has room, as a
 *      Windows server reuses an instance with DisconnectNamedPipe and ConnectNamedPipe.
 *   3. Pumps: one thread per direction reads a whole message (or a chunk in byte mode) and writes
 *      it to the other side. The first pump to end decides what the peer on the other side sees:
 *      a close becomes a close (ERROR_BROKEN_PIPE after the data already passed), a server's
 *      DisconnectNamedPipe becomes a DisconnectNamedPipe (ERROR_PIPE_NOT_CONNECTED); it stops the
 *      other pump through stop events (no handle is closed under a running call), and the last
 *      pump out closes both handles.
 *   4. Exit: once the back name has been gone for --gone-ms (default 1000), the acceptor stops, the
 *      live connections finish and the bridge exits 0. A Wine prefix that goes away (wineserver
 *      killed) takes the bridge with it, as every process of the prefix.
 * The two sides are the operation tables of side_wine.c and side_np.c (bridge.h). */
#include <windows.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"

static int verbose;
static volatile LONG live_connections;

/* Idle front instances: disconnected, not listening; they keep the name alive for front clients
 * (ERROR_PIPE_BUSY rather than ERROR_FILE_NOT_FOUND) until the back side has room again. */
static CRITICAL_SECTION idle_lock;
static void *idle[256];
static int n_idle;

/* Keeps a disconnected front instance for later, or closes it when there is no room. */
static void idle_put(const struct side *front, void *h) {
    EnterCriticalSection(&idle_lock);
    int kept = n_idle < (int)(sizeof idle / sizeof *idle);
    if (kept)
        idle[n_idle++] = h;
    LeaveCriticalSection(&idle_lock);
    if (!kept)
        front->close(h);
}

static void *idle_take(void) {
    EnterCriticalSection(&idle_lock);
    void *h = n_idle ? idle[--n_idle] : NULL;
    LeaveCriticalSection(&idle_lock);
    return h;
}

/* The back server is gone: front clients must get ERROR_FILE_NOT_FOUND. */
static void idle_close_all(const struct side *front) {
    void *h;
    while ((h = idle_take()))
        front->close(h);
}

void bridge_log(const char *fmt, ...) {
    if (!verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "npipe-wine-bridge: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

uint32_t bridge_buf_grow(struct buf *b, size_t want) {
    if (want <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < want)
        cap *= 2;
    /* Wine's heap: Wine's overlapped I/O rejects glibc malloc memory (ERROR_INVALID_USER_BUFFER). */
    void *p = b->data ? HeapReAlloc(GetProcessHeap(), 0, b->data, cap) : HeapAlloc(GetProcessHeap(), 0, cap);
    if (!p)
        return BR_ERROR_NOT_ENOUGH_MEMORY;
    b->data = p;
    b->cap = cap;
    return 0;
}

/* One bridged connection: the front server instance, the back client end, a stop event on each side. */
struct conn {
    const struct side *front, *back;
    void *front_h, *back_h;
    void *front_stop, *back_stop;
    int message;
    volatile LONG ended; /* set by the first pump to end */
    int front_reusable;  /* the front client left first: the instance can serve another */
    volatile LONG refs;  /* pumps still running */
};

struct pump {
    struct conn *c;
    int from_back; /* 1: back -> front, 0: front -> back */
};

static void conn_release(struct conn *c) {
    if (InterlockedDecrement(&c->refs))
        return;
    if (c->front_reusable && !c->front->disconnect(c->front_h))
        idle_put(c->front, c->front_h);
    else
        c->front->close(c->front_h);
    c->back->close(c->back_h);
    c->front->stop_free(c->front_stop);
    c->back->stop_free(c->back_stop);
    HeapFree(GetProcessHeap(), 0, c);
    InterlockedDecrement(&live_connections);
}

static DWORD WINAPI pump_main(void *arg) {
    struct pump *pm = arg;
    struct conn *c = pm->c;
    int from_back = pm->from_back;
    const struct side *src = pm->from_back ? c->back : c->front, *dst = pm->from_back ? c->front : c->back;
    void *hs = pm->from_back ? c->back_h : c->front_h, *hd = pm->from_back ? c->front_h : c->back_h;
    void *ss = pm->from_back ? c->back_stop : c->front_stop, *sd = pm->from_back ? c->front_stop : c->back_stop;
    HeapFree(GetProcessHeap(), 0, pm);
    pm = NULL;
    void *io_src = src->stop_new(), *io_dst = dst->stop_new();
    struct buf b = {0};
    uint32_t rerr = 0, werr = 0;
    if (!io_src || !io_dst)
        rerr = BR_ERROR_NOT_ENOUGH_MEMORY;
    while (!rerr && !werr) {
        rerr = src->read(hs, c->message, &b, io_src, ss);
        if (rerr == BR_ERROR_MORE_DATA) /* byte mode reports it for a message pipe read in bytes */
            rerr = 0;
        if (rerr || (!c->message && b.len == 0))
            continue;
        werr = dst->write(hd, &b, io_dst, sd);
    }
    if (!InterlockedCompareExchange(&c->ended, 1, 0)) {
        bridge_log("%s -> %s ends: read error %u, write error %u", src->what, dst->what, rerr, werr);
        /* The real server disconnected its client end: disconnect ours, so the front client sees
         * ERROR_PIPE_NOT_CONNECTED rather than ERROR_BROKEN_PIPE. A close needs nothing more: the
         * last pump closes both handles. */
        if (from_back && rerr == BR_ERROR_PIPE_NOT_CONNECTED)
            c->front->disconnect(c->front_h);
        /* The front client closed (our read saw it, or our write did): keep the instance. */
        c->front_reusable = from_back ? (werr == BR_ERROR_NO_DATA || werr == BR_ERROR_BROKEN_PIPE)
                                      : (rerr == BR_ERROR_BROKEN_PIPE || rerr == BR_ERROR_PIPE_NOT_CONNECTED);
        c->front->stop_set(c->front_stop);
        c->back->stop_set(c->back_stop);
    }
    if (b.data)
        HeapFree(GetProcessHeap(), 0, b.data);
    if (io_src)
        src->stop_free(io_src);
    if (io_dst)
        dst->stop_free(io_dst);
    conn_release(c);
    return 0;
}

static int start_connection(const struct side *front, const struct side *back, void *front_h, void *back_h,
                            int message) {
    struct conn *c = HeapAlloc(GetProcessHeap(), HEAP_ZERO_MEMORY, sizeof *c);
    if (!c)
        return -1;
    c->front = front, c->back = back, c->front_h = front_h, c->back_h = back_h, c->message = message;
    c->front_stop = front->stop_new();
    c->back_stop = back->stop_new();
    if (!c->front_stop || !c->back_stop) {
        if (c->front_stop)
            front->stop_free(c->front_stop);
        if (c->back_stop)
            back->stop_free(c->back_stop);
        HeapFree(GetProcessHeap(), 0, c);
        return -1;
    }
    c->refs = 2;
    InterlockedIncrement(&live_connections);
    for (int i = 0; i < 2; i++) {
        struct pump *pm = HeapAlloc(GetProcessHeap(), 0, sizeof *pm);
        HANDLE t = pm ? (pm->c = c, pm->from_back = i, CreateThread(NULL, 256 * 1024, pump_main, pm, 0, NULL)) : NULL;
        if (!t) {
            /* The thread that did start stops at once; this one's share is released here. */
            if (pm)
                HeapFree(GetProcessHeap(), 0, pm);
            if (!InterlockedCompareExchange(&c->ended, 1, 0)) {
                front->stop_set(c->front_stop);
                back->stop_set(c->back_stop);
            }
            if (i == 0)
                conn_release(c);
            conn_release(c);
            return -1;
        }
        CloseHandle(t);
    }
    return 0;
}

static void usage(FILE *f) {
    fprintf(f, "usage: npipe-wine-bridge --export NAME | --import NAME [--gone-ms N] [--verbose]\n"
               "  --export NAME  make the npipe server \\\\.\\pipe\\NAME reachable by Wine programs\n"
               "  --import NAME  make the Wine server \\\\.\\pipe\\NAME reachable by npipe clients\n"
               "  --gone-ms N    exit once the real server's name has been gone N ms (default 1000)\n"
               "Run it inside the Wine prefix of the Windows programs (WINEPREFIX), with the\n"
               "NPIPE_NAMESPACE of the native programs.\n");
}

int main(int argc, char **argv) {
    const char *name = NULL;
    int export_mode = -1;
    unsigned long gone_ms = 1000;
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "--export") || !strcmp(argv[i], "--import")) && i + 1 < argc && export_mode < 0) {
            export_mode = !strcmp(argv[i], "--export");
            name = argv[++i];
        } else if (!strcmp(argv[i], "--gone-ms") && i + 1 < argc) {
            gone_ms = strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v")) {
            verbose = 1;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (export_mode < 0 || !name || !*name) {
        usage(stderr);
        return 2;
    }
    char path[300];
    if (!strncmp(name, "\\\\.\\pipe\\", 9))
        snprintf(path, sizeof path, "%s", name);
    else if (snprintf(path, sizeof path, "\\\\.\\pipe\\%s", name) >= (int)sizeof path) {
        fprintf(stderr, "npipe-wine-bridge: invalid pipe name: %s\n", name);
        return 2;
    }
    const struct side *back = export_mode ? &side_np : &side_wine, *front = export_mode ? &side_wine : &side_np;

    /* 1. Probe the real server for its parameters. */
    struct pipe_params p;
    int said_waiting = 0;
    for (;;) {
        void *h;
        uint32_t e = back->open_client(path, &p, &h);
        if (!e) {
            back->close(h);
            break;
        }
        if (e == BR_ERROR_PIPE_BUSY) {
            back->wait_name(path, 1000);
        } else if (e == BR_ERROR_FILE_NOT_FOUND) {
            if (!said_waiting++)
                fprintf(stderr, "npipe-wine-bridge: waiting for the %s server %s\n", back->what, path);
            Sleep(50);
        } else {
            fprintf(stderr, "npipe-wine-bridge: cannot open the %s server %s: error %u\n", back->what, path, e);
            return 1;
        }
    }

    /* 2. Acceptor. */
    InitializeCriticalSection(&idle_lock);
    DWORD gone_since = 0;
    int gone = 0, said_ready = 0;
    for (;;) {
        uint32_t e = back->wait_name(path, 200);
        if (e == BR_ERROR_FILE_NOT_FOUND) {
            DWORD now = GetTickCount();
            if (!gone)
                gone = 1, gone_since = now;
            else if (now - gone_since >= gone_ms)
                break;
            /* A server that closes its last instance and creates the next one leaves the name
             * missing for a moment; after 250 ms it is gone for front clients too. */
            if (now - gone_since >= 250)
                idle_close_all(front);
            Sleep(20);
            continue;
        }
        gone = 0;
        if (e)
            continue; /* no free instance yet: keep none on the front side either */
        void *inst = idle_take(), *pending = NULL;
        if (!inst && (e = front->create_server(path, &p, &inst))) {
            /* ERROR_PIPE_BUSY: every instance the server allows is in use on the front side */
            bridge_log("cannot create the %s instance: error %u", front->what, e);
            Sleep(50);
            continue;
        }
        uint32_t b = 0;
        for (;;) {
            e = front->accept(inst, &pending, 200);
            if (!said_ready++) {
                printf("npipe-wine-bridge: %s %s (%s, out %u, in %u, max instances %u)\n",
                       export_mode ? "exporting" : "importing", path, p.message ? "message" : "byte", p.out_quota,
                       p.in_quota, p.max_instances);
                fflush(stdout);
            }
            if (e != BR_ERROR_SEM_TIMEOUT)
                break;
            if ((b = back->wait_name(path, 0))) {
                e = BR_ERROR_PIPE_BUSY; /* withdraw: the back side cannot take a client now */
                break;
            }
        }
        front->accept_cancel(e ? inst : NULL, &pending);
        if (e) {
            bridge_log("%s instance withdrawn or failed: %u (back %u)", front->what, e, b);
            if (b == BR_ERROR_SEM_TIMEOUT && !front->disconnect(inst))
                idle_put(front, inst);
            else
                front->close(inst);
            continue;
        }
        void *back_h;
        DWORD start = GetTickCount();
        while ((e = back->open_client(path, NULL, &back_h)) == BR_ERROR_PIPE_BUSY && GetTickCount() - start < 5000)
            back->wait_name(path, 500);
        if (e) {
            /* The back server went away or stayed busy: the front client sees the close. */
            bridge_log("cannot open the %s server: error %u", back->what, e);
            front->close(inst);
            continue;
        }
        if (start_connection(front, back, inst, back_h, (int)p.message)) {
            front->close(inst);
            back->close(back_h);
        }
    }

    /* 4. The real server is gone: let the live connections finish. */
    idle_close_all(front);
    bridge_log("%s server gone; waiting for %ld connections", back->what, (long)live_connections);
    while (live_connections > 0)
        Sleep(20);
    printf("npipe-wine-bridge: the %s server %s is gone; exiting\n", back->what, path);
    fflush(stdout);
    return 0;
}
