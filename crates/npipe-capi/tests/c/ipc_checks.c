/* npipe's C test of ipc.h: compiled against <ipc.h> and libnpipe by tests/ipc_h.rs. It covers
 * what the original ipc.h test suite checked (start and stop with pipe_exists, 32 clients over 10
 * rounds, one full-size message each way, 64 ordered round trips, the disconnect call) and more:
 * MORE_DATA reassembly, many threads connecting at once, concurrent handlers, the 33rd client
 * waiting for a free instance, a request that is too long, an empty reply, a stop during a
 * handler call, and interop with CreateNamedPipeA servers and CreateFileA clients of
 * npipe/win32.h (the W-numbers are those of docs/WINDOWS-BEHAVIOUR.md). Clients run in a second
 * process (this program re-run with a role) where it matters. Prints "N passed, M failed". */
#include <ipc.h>
#include <npipe/win32.h>

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int passed, failed;
/* Handlers check too, on the server's threads: the counts are atomic. */
#define CHECK(cond, what) do { if (cond) __atomic_add_fetch(&passed, 1, __ATOMIC_SEQ_CST); else { __atomic_add_fetch(&failed, 1, __ATOMIC_SEQ_CST); printf("FAIL %s (line %d, err %u)\n", what, __LINE__, (unsigned)GetLastError()); fflush(stdout); } } while (0)

static char base[64];

/* A fresh bare pipe name for each test. */
static const char *name_for(const char *tag) {
    static char buf[8][128];
    static int next;
    char *b = buf[next++ % 8];
    snprintf(b, sizeof buf[0], "%s-%s", base, tag);
    return b;
}

static void sleep_ms(int ms) {
    struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {}
}

/* A counter other threads can wait on, with a deadline (never a tight one). */
typedef struct {
    pthread_mutex_t m;
    pthread_cond_t c;
    int n;
} counter_t;

static void counter_init(counter_t *k) {
    pthread_mutex_init(&k->m, NULL);
    pthread_cond_init(&k->c, NULL);
    k->n = 0;
}

static void counter_add(counter_t *k) {
    pthread_mutex_lock(&k->m);
    k->n++;
    pthread_cond_broadcast(&k->c);
    pthread_mutex_unlock(&k->m);
}

static int counter_get(counter_t *k) {
    pthread_mutex_lock(&k->m);
    int n = k->n;
    pthread_mutex_unlock(&k->m);
    return n;
}

/* Waits until the counter reaches `target` or `seconds` pass; returns whether it did. */
static int counter_wait(counter_t *k, int target, int seconds) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += seconds;
    pthread_mutex_lock(&k->m);
    while (k->n < target) {
        if (pthread_cond_timedwait(&k->c, &k->m, &until) == ETIMEDOUT) break;
    }
    int ok = k->n >= target;
    pthread_mutex_unlock(&k->m);
    return ok;
}

static pid_t spawn_role(char **argv, const char *role, const char *arg) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", argv[0], role, arg, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int wait_ok(pid_t pid) {
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Receives a whole reply into `out` (size `cap`), MORE_DATA pieces included; returns its size
 * or -1. */
static int receive_all(ipc_client_t *c, char *out, int cap) {
    int total = 0, got = 0;
    ipc_receive_status_t st;
    do {
        st = ipc_client_receive(c, out + total, cap - total, &got);
        if (st == IPC_RECEIVE_STATUS_ERROR) return -1;
        total += got;
    } while (st == IPC_RECEIVE_STATUS_MORE_DATA && total < cap);
    return st == IPC_RECEIVE_STATUS_DONE ? total : -1;
}

/* One request and its whole reply; returns the reply size or -1. */
static int round_trip(ipc_client_t *c, const char *request, char *out, int cap) {
    if (!ipc_client_send(c, request)) return -1;
    return receive_all(c, out, cap);
}

/* ---- handlers ---- */

static void noop_handler(char const *request, void *user_data, char *response, size_t capacity) {
    (void)request; (void)user_data; (void)response; (void)capacity;
}

/* Counts disconnect calls; answers "reply to " + request. */
static void counting_handler(char const *request, void *user_data, char *response, size_t capacity) {
    counter_t *gone = (counter_t *)user_data;
    if (!request) {
        CHECK(response == NULL && capacity == 0, "disconnect call has no buffer");
        counter_add(gone);
        return;
    }
    snprintf(response, capacity, "reply to %s", request);
}

static void pattern(char *buf, int len, char first, char last) {
    for (int i = 0; i < len; ++i) buf[i] = (char)(first + i % (last - first + 1));
    buf[len] = '\0';
}

/* The original's long-message test: a full-size request in, a full-size response out. */
static void full_size_handler(char const *request, void *user_data, char *response, size_t capacity) {
    int *bad = (int *)user_data;
    if (!request) return;
    char expected[IPC_MESSAGE_MAX_LENGTH];
    pattern(expected, IPC_MESSAGE_MAX_LENGTH - 1, 'A', 'Z');
    if (strcmp(request, expected) != 0 || capacity != IPC_MESSAGE_MAX_LENGTH) (*bad)++;
    for (size_t i = 0; i < capacity - 1; ++i) response[i] = (char)('a' + i % 26);
    response[capacity - 1] = '\0';
}

typedef struct {
    pthread_mutex_t m;
    int count;
    int bad;
} ordered_t;

/* The original's multiple-messages test: requests arrive in order, replies name them. */
static void ordered_handler(char const *request, void *user_data, char *response, size_t capacity) {
    ordered_t *o = (ordered_t *)user_data;
    if (!request) return;
    pthread_mutex_lock(&o->m);
    char expected[64];
    snprintf(expected, sizeof expected, "Test message %d", o->count);
    if (strcmp(request, expected) != 0) o->bad++;
    snprintf(response, capacity, "Test response %d", o->count);
    o->count++;
    pthread_mutex_unlock(&o->m);
}

/* Every call waits until `want` calls are inside at once (only concurrent calls get there). */
typedef struct {
    counter_t inside;
    int want;
} together_t;

static void together_handler(char const *request, void *user_data, char *response, size_t capacity) {
    together_t *t = (together_t *)user_data;
    if (!request) return;
    counter_add(&t->inside);
    snprintf(response, capacity, "%s", counter_wait(&t->inside, t->want, 20) ? "together" : "alone");
}

typedef struct {
    counter_t gone;
    counter_t started;
    int long_requests;
    int finished;
} misc_t;

/* "slow": takes 300 ms; "upper ...": the rest in capitals; "nothing": writes nothing. */
static void misc_handler(char const *request, void *user_data, char *response, size_t capacity) {
    misc_t *m = (misc_t *)user_data;
    if (!request) {
        counter_add(&m->gone);
        return;
    }
    if (strlen(request) >= IPC_MESSAGE_MAX_LENGTH) m->long_requests++;
    if (strcmp(request, "slow") == 0) {
        counter_add(&m->started);
        sleep_ms(300);
        m->finished = 1;
        snprintf(response, capacity, "slow done");
    } else if (strncmp(request, "upper ", 6) == 0) {
        size_t i;
        for (i = 0; request[6 + i] && i < capacity - 1; ++i) response[i] = (char)toupper((unsigned char)request[6 + i]);
    } else if (strcmp(request, "nothing") != 0) {
        snprintf(response, capacity, "%s", request);
    }
}

/* ---- child roles ---- */

/* The original's "multiple clients multiple times": 32 clients at once, 10 rounds. */
static int role_clients32(const char *name) {
    for (int round = 0; round < 10; ++round) {
        ipc_client_t *clients[32];
        for (int i = 0; i < 32; ++i) {
            clients[i] = ipc_client_connect(name);
            if (!clients[i]) return 10 + round;
        }
        char out[64];
        if (round_trip(clients[31], "last", out, sizeof out) != 14 || strcmp(out, "reply to last") != 0) return 30;
        for (int i = 0; i < 32; ++i) ipc_client_disconnect(clients[i]);
    }
    return 0;
}

/* 64 ordered round trips from another process. */
static int role_ordered(const char *name) {
    ipc_client_t *c = ipc_client_connect(name);
    if (!c) return 10;
    for (int i = 0; i < 64; ++i) {
        char msg[64], expected[64], out[IPC_MESSAGE_MAX_LENGTH];
        snprintf(msg, sizeof msg, "Test message %d", i);
        snprintf(expected, sizeof expected, "Test response %d", i);
        int n = round_trip(c, msg, out, sizeof out);
        if (n != (int)strlen(expected) + 1 || strcmp(out, expected) != 0) return 11;
    }
    ipc_client_disconnect(c);
    return 0;
}

/* A CreateNamedPipeA server (win32.h) answering one ipc.h client. */
static int role_win32_server(const char *name) {
    char full[160];
    snprintf(full, sizeof full, "\\\\.\\pipe\\%s", name);
    HANDLE s = CreateNamedPipeA(full, PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1, 4096, 4096, 0, NULL);
    if (s == INVALID_HANDLE_VALUE) return 10;
    if (!ConnectNamedPipe(s, NULL) && GetLastError() != ERROR_PIPE_CONNECTED) return 11;
    char buf[64];
    DWORD n = 0;
    /* ipc_client_send sends the NUL too. */
    if (!ReadFile(s, buf, sizeof buf, &n, NULL) || n != 17 || strcmp(buf, "hello from ipc.h") != 0) return 12;
    if (!WriteFile(s, "hello from win32.h", 19, &n, NULL) || n != 19) return 13;
    /* W113: the client's disconnect shows as a broken pipe once everything is read. */
    if (ReadFile(s, buf, sizeof buf, &n, NULL) || GetLastError() != ERROR_BROKEN_PIPE) return 14;
    CloseHandle(s);
    return 0;
}

/* A CreateFileA client (win32.h) calling an ipc.h server. */
static int role_win32_client(const char *name) {
    char full[160];
    snprintf(full, sizeof full, "\\\\.\\PIPE\\%s", name);
    if (!WaitNamedPipeA(full, 10000)) return 10;
    HANDLE c = CreateFileA(full, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    if (c == INVALID_HANDLE_VALUE) return 11;
    DWORD mode = PIPE_READMODE_MESSAGE, n = 0;
    if (!SetNamedPipeHandleState(c, &mode, NULL, NULL)) return 12;
    /* Without its NUL: the server adds one for the handler; the reply carries its own. */
    if (!WriteFile(c, "upper abc", 9, &n, NULL) || n != 9) return 13;
    char buf[64];
    if (!ReadFile(c, buf, sizeof buf, &n, NULL) || n != 4 || memcmp(buf, "ABC", 4) != 0) return 14;
    /* W67: a short buffer gets ERROR_MORE_DATA and the rest stays for the next read. */
    if (!WriteFile(c, "upper hello", 12, &n, NULL)) return 15;
    if (ReadFile(c, buf, 2, &n, NULL) || GetLastError() != ERROR_MORE_DATA || n != 2) return 16;
    if (!ReadFile(c, buf + 2, sizeof buf - 2, &n, NULL) || n != 4 || strcmp(buf, "HELLO") != 0) return 17;
    if (!TransactNamedPipe(c, "upper xyz", 10, buf, sizeof buf, &n, NULL) || n != 4 || strcmp(buf, "XYZ") != 0) return 18;
    CloseHandle(c);
    /* W130: CallNamedPipe opens, transacts and closes. */
    if (!CallNamedPipeA(full, "upper call", 11, buf, sizeof buf, &n, 10000) || n != 5 || strcmp(buf, "CALL") != 0) return 19;
    return 0;
}

/* ---- tests ---- */

static void test_start_stop_and_pipe_exists(void) {
    const char *name = name_for("start");
    CHECK(!pipe_exists(name), "not running before start");
    ipc_server_t *s = ipc_server_start(name, noop_handler, NULL);
    CHECK(s != NULL, "start");
    CHECK(pipe_exists(name), "exists while running");
    char upper[128], full[160];
    size_t i;
    for (i = 0; name[i] && i < sizeof upper - 1; ++i) upper[i] = (char)toupper((unsigned char)name[i]);
    upper[i] = '\0';
    snprintf(full, sizeof full, "\\\\.\\pipe\\%s", name);
    CHECK(pipe_exists(upper) && pipe_exists(full), "W1 names are case-insensitive; full names too");
    /* The name belongs to the first server (FILE_FLAG_FIRST_PIPE_INSTANCE, W16). */
    CHECK(ipc_server_start(name, noop_handler, NULL) == NULL && GetLastError() == ERROR_ACCESS_DENIED, "second server on the name");
    ipc_server_stop(s);
    CHECK(!pipe_exists(name), "gone after stop");
    CHECK(ipc_client_connect(name) == NULL && GetLastError() == ERROR_FILE_NOT_FOUND, "connect to a stopped server");
    /* Start and stop again at once, as the original's tests do back to back. */
    s = ipc_server_start(name, noop_handler, NULL);
    CHECK(s != NULL, "restart");
    ipc_server_stop(s);
    CHECK(!pipe_exists(name), "gone after the second stop");
    CHECK(ipc_server_start(NULL, noop_handler, NULL) == NULL && GetLastError() == ERROR_PATH_NOT_FOUND, "NULL name");
    CHECK(ipc_server_start(name, NULL, NULL) == NULL && GetLastError() == ERROR_INVALID_PARAMETER, "NULL handler");
    CHECK(ipc_client_connect(NULL) == NULL && !pipe_exists(NULL), "NULL client name");
    ipc_server_stop(NULL);
    ipc_client_disconnect(NULL);
    CHECK(!ipc_client_send(NULL, "x") && ipc_client_receive(NULL, NULL, 0, NULL) == IPC_RECEIVE_STATUS_ERROR, "NULL client");
}

static void test_32_clients_10_rounds(char **argv) {
    const char *name = name_for("32x10");
    counter_t gone;
    counter_init(&gone);
    ipc_server_t *s = ipc_server_start(name, counting_handler, &gone);
    CHECK(s != NULL, "start for 32 clients");
    CHECK(wait_ok(spawn_role(argv, "clients32", name)), "32 clients over 10 rounds in another process");
    CHECK(counter_wait(&gone, 320, 20), "one disconnect call per client");
    ipc_server_stop(s);
    CHECK(counter_get(&gone) == 320, "no disconnect call twice");
}

static void test_full_size_messages(void) {
    const char *name = name_for("full");
    int bad = 0;
    ipc_server_t *s = ipc_server_start(name, full_size_handler, &bad);
    ipc_client_t *c = ipc_client_connect(name);
    CHECK(s && c, "start and connect for full-size messages");
    char message[IPC_MESSAGE_MAX_LENGTH], response[IPC_MESSAGE_MAX_LENGTH], expected[IPC_MESSAGE_MAX_LENGTH];
    pattern(message, IPC_MESSAGE_MAX_LENGTH - 1, 'A', 'Z');
    pattern(expected, IPC_MESSAGE_MAX_LENGTH - 1, 'a', 'z');
    CHECK(ipc_client_send(c, message), "send a full-size request");
    int size = 0;
    CHECK(ipc_client_receive(c, response, sizeof response, &size) == IPC_RECEIVE_STATUS_DONE, "full-size reply in one receive");
    CHECK(size == IPC_MESSAGE_MAX_LENGTH && strcmp(response, expected) == 0, "full-size reply content");
    ipc_client_disconnect(c);
    ipc_server_stop(s);
    CHECK(bad == 0, "the handler got the full-size request intact");
}

static void test_64_ordered_round_trips(char **argv) {
    const char *name = name_for("ordered");
    ordered_t o;
    pthread_mutex_init(&o.m, NULL);
    o.count = 0;
    o.bad = 0;
    ipc_server_t *s = ipc_server_start(name, ordered_handler, &o);
    CHECK(s != NULL, "start for ordered round trips");
    CHECK(wait_ok(spawn_role(argv, "ordered", name)), "64 ordered round trips from another process");
    ipc_server_stop(s);
    CHECK(o.count == 64 && o.bad == 0, "the server saw 64 requests in order");
}

static void test_disconnect_call_and_empty_reply(void) {
    const char *name = name_for("gone");
    misc_t m;
    memset(&m, 0, sizeof m);
    counter_init(&m.gone);
    counter_init(&m.started);
    ipc_server_t *s = ipc_server_start(name, misc_handler, &m);
    ipc_client_t *c = ipc_client_connect(name);
    CHECK(s && c, "start and connect");
    char out[64];
    memset(out, 'x', sizeof out);
    /* The reply is sent even when the handler writes nothing: one byte, the NUL. */
    CHECK(round_trip(c, "nothing", out, sizeof out) == 1 && out[0] == '\0', "empty reply is one NUL byte");
    CHECK(round_trip(c, "", out, sizeof out) == 1 && out[0] == '\0', "empty request");
    CHECK(counter_get(&m.gone) == 0, "no disconnect call while connected");
    ipc_client_disconnect(c);
    CHECK(counter_wait(&m.gone, 1, 20), "disconnect call after the client left");
    ipc_server_stop(s);
    CHECK(counter_get(&m.gone) == 1, "exactly one disconnect call");
}

static void test_more_data_reassembly(void) {
    const char *name = name_for("more");
    int bad = 0;
    ipc_server_t *s = ipc_server_start(name, full_size_handler, &bad);
    ipc_client_t *c = ipc_client_connect(name);
    char message[IPC_MESSAGE_MAX_LENGTH], expected[IPC_MESSAGE_MAX_LENGTH], got[IPC_MESSAGE_MAX_LENGTH];
    pattern(message, IPC_MESSAGE_MAX_LENGTH - 1, 'A', 'Z');
    pattern(expected, IPC_MESSAGE_MAX_LENGTH - 1, 'a', 'z');
    CHECK(s && c && ipc_client_send(c, message), "send for MORE_DATA");
    int size = -1;
    /* W80: a zero-size receive copies nothing and reports more data. */
    CHECK(ipc_client_receive(c, got, 0, &size) == IPC_RECEIVE_STATUS_MORE_DATA && size == 0, "zero-size receive");
    /* W67: 4096 bytes through a 1000-byte buffer: 1000 x 4 with MORE_DATA, then 96, DONE. */
    int total = 0, pieces = 0, more = 0;
    ipc_receive_status_t st;
    do {
        st = ipc_client_receive(c, got + total, 1000, &size);
        pieces++;
        if (st == IPC_RECEIVE_STATUS_MORE_DATA) { more++; CHECK(size == 1000, "a full piece"); }
        if (st != IPC_RECEIVE_STATUS_ERROR) total += size;
    } while (st == IPC_RECEIVE_STATUS_MORE_DATA && total < IPC_MESSAGE_MAX_LENGTH);
    CHECK(st == IPC_RECEIVE_STATUS_DONE && size == 96 && pieces == 5 && more == 4, "W67 pieces");
    CHECK(total == IPC_MESSAGE_MAX_LENGTH && memcmp(got, expected, IPC_MESSAGE_MAX_LENGTH) == 0, "reassembled reply");
    ipc_client_disconnect(c);
    ipc_server_stop(s);
}

typedef struct {
    const char *name;
    pthread_barrier_t *gate;
    int ok;
} burst_arg_t;

static void *burst_client(void *p) {
    burst_arg_t *a = (burst_arg_t *)p;
    pthread_barrier_wait(a->gate);
    ipc_client_t *c = ipc_client_connect(a->name);
    if (!c) return NULL;
    int ok = 1;
    for (int i = 0; i < 10 && ok; ++i) {
        char msg[64], expected[80], out[128];
        snprintf(msg, sizeof msg, "%p/%d", (void *)a, i);
        snprintf(expected, sizeof expected, "reply to %s", msg);
        ok = round_trip(c, msg, out, sizeof out) == (int)strlen(expected) + 1 && strcmp(out, expected) == 0;
    }
    ipc_client_disconnect(c);
    a->ok = ok;
    return NULL;
}

static void test_many_threads_connect_at_once(void) {
    enum { N = 32 };
    const char *name = name_for("burst");
    counter_t gone;
    counter_init(&gone);
    ipc_server_t *s = ipc_server_start(name, counting_handler, &gone);
    pthread_barrier_t gate;
    pthread_barrier_init(&gate, NULL, N);
    pthread_t t[N];
    burst_arg_t a[N];
    for (int i = 0; i < N; ++i) {
        a[i].name = name;
        a[i].gate = &gate;
        a[i].ok = 0;
        pthread_create(&t[i], NULL, burst_client, &a[i]);
    }
    int ok = 0;
    for (int i = 0; i < N; ++i) {
        pthread_join(t[i], NULL);
        ok += a[i].ok;
    }
    CHECK(s && ok == N, "32 threads connecting at once all served");
    CHECK(counter_wait(&gone, N, 20), "a disconnect call for each");
    ipc_server_stop(s);
    pthread_barrier_destroy(&gate);
}

typedef struct {
    const char *name;
    const char *request;
    char reply[64];
    int size;
    volatile int done;
} call_arg_t;

static void *one_call(void *p) {
    call_arg_t *a = (call_arg_t *)p;
    ipc_client_t *c = ipc_client_connect(a->name);
    a->size = c ? round_trip(c, a->request, a->reply, sizeof a->reply) : -2;
    if (c) ipc_client_disconnect(c);
    __atomic_store_n(&a->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void test_handlers_run_concurrently(void) {
    enum { N = 4 };
    const char *name = name_for("together");
    together_t tg;
    counter_init(&tg.inside);
    tg.want = N;
    ipc_server_t *s = ipc_server_start(name, together_handler, &tg);
    pthread_t t[N];
    call_arg_t a[N];
    for (int i = 0; i < N; ++i) {
        memset(&a[i], 0, sizeof a[i]);
        a[i].name = name;
        a[i].request = "go";
        pthread_create(&t[i], NULL, one_call, &a[i]);
    }
    int together = 0;
    for (int i = 0; i < N; ++i) {
        pthread_join(t[i], NULL);
        together += a[i].size == 9 && strcmp(a[i].reply, "together") == 0;
    }
    CHECK(s && together == N, "handlers of different clients run concurrently");
    ipc_server_stop(s);
}

static void test_33rd_client_waits(void) {
    const char *name = name_for("33rd");
    counter_t gone;
    counter_init(&gone);
    ipc_server_t *s = ipc_server_start(name, counting_handler, &gone);
    ipc_client_t *c[32];
    int connected = 0;
    char out[64];
    for (int i = 0; i < 32; ++i) {
        c[i] = ipc_client_connect(name);
        connected += c[i] != NULL && round_trip(c[i], "hi", out, sizeof out) == 12;
    }
    CHECK(s && connected == 32, "32 clients at once");
    /* W32: no instance is free, so the 33rd waits in WaitNamedPipe (W30) for one. */
    call_arg_t a;
    memset(&a, 0, sizeof a);
    a.name = name;
    a.request = "33rd";
    pthread_t t;
    pthread_create(&t, NULL, one_call, &a);
    sleep_ms(300);
    CHECK(!__atomic_load_n(&a.done, __ATOMIC_SEQ_CST), "the 33rd client waits");
    ipc_client_disconnect(c[0]);
    pthread_join(t, NULL);
    CHECK(a.size == 14 && strcmp(a.reply, "reply to 33rd") == 0, "the 33rd client is served once one leaves");
    CHECK(round_trip(c[1], "still", out, sizeof out) == 15, "the server is still up");
    for (int i = 1; i < 32; ++i) ipc_client_disconnect(c[i]);
    CHECK(counter_wait(&gone, 33, 20), "33 disconnect calls");
    ipc_server_stop(s);
}

static void test_request_too_long(void) {
    const char *name = name_for("long");
    misc_t m;
    memset(&m, 0, sizeof m);
    counter_init(&m.gone);
    counter_init(&m.started);
    ipc_server_t *s = ipc_server_start(name, misc_handler, &m);
    ipc_client_t *c = ipc_client_connect(name);
    static char big[2 * IPC_MESSAGE_MAX_LENGTH];
    memset(big, 'L', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char out[64];
    /* 4096 bytes with the NUL is the longest request; one more is refused (W67, W44). */
    big[IPC_MESSAGE_MAX_LENGTH - 1] = '\0';
    int n = 0;
    char *reply = malloc(IPC_MESSAGE_MAX_LENGTH);
    CHECK(s && c && reply && ipc_client_send(c, big) && ipc_client_receive(c, reply, IPC_MESSAGE_MAX_LENGTH, &n) == IPC_RECEIVE_STATUS_DONE && n == IPC_MESSAGE_MAX_LENGTH && strcmp(reply, big) == 0, "the longest request is served");
    free(reply);
    big[IPC_MESSAGE_MAX_LENGTH - 1] = 'L';
    big[IPC_MESSAGE_MAX_LENGTH] = '\0';
    ipc_client_send(c, big); /* may succeed: the server reads the first part before it refuses */
    CHECK(ipc_client_receive(c, out, sizeof out, &n) == IPC_RECEIVE_STATUS_ERROR && GetLastError() == ERROR_PIPE_NOT_CONNECTED, "a longer request is refused");
    ipc_client_disconnect(c);
    CHECK(m.long_requests == 0, "the handler never saw it");
    CHECK(counter_wait(&m.gone, 1, 20), "the refused client got its disconnect call");
    /* A client other than ipc.h may leave out the NUL, which the server adds for the handler:
     * IPC_MESSAGE_MAX_LENGTH - 1 bytes so are served, IPC_MESSAGE_MAX_LENGTH bytes refused (with
     * the NUL they would be one byte over what the handler may assume). */
    char full[160];
    snprintf(full, sizeof full, "\\\\.\\pipe\\%s", name);
    for (int len = IPC_MESSAGE_MAX_LENGTH - 1; len <= IPC_MESSAGE_MAX_LENGTH; len++) {
        static char back[IPC_MESSAGE_MAX_LENGTH + 1];
        HANDLE raw = CreateFileA(full, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
        DWORD mode = PIPE_READMODE_MESSAGE, w = 0, r = 0;
        BOOL sent = raw != INVALID_HANDLE_VALUE && SetNamedPipeHandleState(raw, &mode, NULL, NULL) &&
                    WriteFile(raw, big, (DWORD)len, &w, NULL);
        BOOL got = ReadFile(raw, back, sizeof back, &r, NULL);
        if (len < IPC_MESSAGE_MAX_LENGTH)
            CHECK(sent && got && r == (DWORD)len + 1 && back[len] == '\0', "a request without its NUL is served");
        else
            CHECK(sent && !got && GetLastError() == ERROR_PIPE_NOT_CONNECTED, "at the limit without its NUL it is refused");
        CloseHandle(raw);
    }
    CHECK(m.long_requests == 0, "the handler never saw a request at the limit");
    c = ipc_client_connect(name);
    CHECK(c && round_trip(c, "upper ok", out, sizeof out) == 3 && strcmp(out, "OK") == 0, "the server goes on");
    ipc_client_disconnect(c);
    ipc_server_stop(s);
    CHECK(counter_get(&m.gone) == 4, "one disconnect call per connection");
}

static void test_stop_during_a_handler_call(void) {
    const char *name = name_for("stop");
    misc_t m;
    memset(&m, 0, sizeof m);
    counter_init(&m.gone);
    counter_init(&m.started);
    ipc_server_t *s = ipc_server_start(name, misc_handler, &m);
    ipc_client_t *idle = ipc_client_connect(name);
    char out[64];
    CHECK(s && idle && round_trip(idle, "hi", out, sizeof out) == 3, "an idle client");
    call_arg_t a;
    memset(&a, 0, sizeof a);
    a.name = name;
    a.request = "slow";
    pthread_t t;
    pthread_create(&t, NULL, one_call, &a);
    CHECK(counter_wait(&m.started, 1, 20), "the slow handler started");
    ipc_server_stop(s);
    CHECK(m.finished == 1, "stop returns after the handler call in progress");
    CHECK(counter_get(&m.gone) == 2, "stop ends both clients, with their disconnect calls");
    CHECK(!pipe_exists(name), "gone after stop");
    pthread_join(t, NULL);
    /* W113: the reply written before the close is still read. */
    CHECK(a.size == 10 && strcmp(a.reply, "slow done") == 0, "the call in progress got its reply");
    CHECK(round_trip(idle, "hi", out, sizeof out) == -1, "the idle client was ended");
    ipc_client_disconnect(idle);
}

static void test_interop_with_win32_h(char **argv) {
    /* An ipc.h client calling a CreateNamedPipeA server in another process. */
    const char *name = name_for("w32server");
    pid_t pid = spawn_role(argv, "win32server", name);
    int waited = 0;
    while (!pipe_exists(name) && waited < 10000) { sleep_ms(10); waited += 10; }
    ipc_client_t *c = ipc_client_connect(name);
    char out[64];
    CHECK(c && round_trip(c, "hello from ipc.h", out, sizeof out) == 19 && strcmp(out, "hello from win32.h") == 0, "ipc.h client, CreateNamedPipeA server");
    ipc_client_disconnect(c);
    CHECK(wait_ok(pid), "the CreateNamedPipeA server process");
    /* A CreateFileA client in another process calling an ipc.h server. */
    name = name_for("w32client");
    misc_t m;
    memset(&m, 0, sizeof m);
    counter_init(&m.gone);
    counter_init(&m.started);
    ipc_server_t *s = ipc_server_start(name, misc_handler, &m);
    CHECK(s && wait_ok(spawn_role(argv, "win32client", name)), "CreateFileA client, ipc.h server");
    CHECK(counter_wait(&m.gone, 2, 20), "disconnect calls for the CreateFileA and CallNamedPipeA clients");
    ipc_server_stop(s);
}

int main(int argc, char **argv) {
    if (argc > 2) {
        const char *role = argv[1], *name = argv[2];
        if (strcmp(role, "clients32") == 0) return role_clients32(name);
        if (strcmp(role, "ordered") == 0) return role_ordered(name);
        if (strcmp(role, "win32server") == 0) return role_win32_server(name);
        if (strcmp(role, "win32client") == 0) return role_win32_client(name);
        return 99;
    }
    snprintf(base, sizeof base, "npipe-ipc-c-%d", (int)getpid());

    test_start_stop_and_pipe_exists();
    test_32_clients_10_rounds(argv);
    test_full_size_messages();
    test_64_ordered_round_trips(argv);
    test_disconnect_call_and_empty_reply();
    test_more_data_reassembly();
    test_many_threads_connect_at_once();
    test_handlers_run_concurrently();
    test_33rd_client_waits();
    test_request_too_long();
    test_stop_during_a_handler_call();
    test_interop_with_win32_h(argv);

    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}

/* Single-header users include ipc.h once more with IPC_IMPLEMENTATION in one file. */
#define IPC_IMPLEMENTATION
#include <ipc.h>
