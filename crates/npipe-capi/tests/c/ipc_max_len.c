/* ipc.h with IPC_MESSAGE_MAX_LENGTH defined before the include, as ipc.h allows: the server
 * built here takes requests of up to that many bytes (NUL included) and gives the handler a
 * response buffer of that size. Built and run by tests/ipc_h.rs; prints "N passed, M failed". */
#define IPC_MESSAGE_MAX_LENGTH 10000
#include <ipc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int passed, failed;
#define CHECK(cond, what) do { if (cond) passed++; else { failed++; printf("FAIL %s (line %d)\n", what, __LINE__); } } while (0)

static size_t seen_capacity;

static void handler(char const *request, void *user_data, char *response, size_t capacity) {
    (void)user_data;
    if (!request) return;
    seen_capacity = capacity;
    /* The reply: the request's length in decimal, then '#' to fill the whole buffer. */
    int n = snprintf(response, capacity, "%zu:", strlen(request));
    memset(response + n, '#', capacity - 1 - (size_t)n);
}

int main(void) {
    char name[64];
    snprintf(name, sizeof name, "npipe-ipc-max-%d", (int)getpid());
    ipc_server_t *s = ipc_server_start(name, handler, NULL);
    ipc_client_t *c = ipc_client_connect(name);
    CHECK(s && c, "start and connect");
    static char big[IPC_MESSAGE_MAX_LENGTH + 1], reply[IPC_MESSAGE_MAX_LENGTH];
    memset(big, 'm', IPC_MESSAGE_MAX_LENGTH - 1);
    int size = 0;
    CHECK(ipc_client_send(c, big), "send 9999 characters and the NUL");
    CHECK(ipc_client_receive(c, reply, sizeof reply, &size) == IPC_RECEIVE_STATUS_DONE, "receive");
    CHECK(size == IPC_MESSAGE_MAX_LENGTH && strncmp(reply, "9999:#", 6) == 0 && reply[size - 1] == '\0', "a reply of the whole buffer");
    CHECK(seen_capacity == IPC_MESSAGE_MAX_LENGTH, "the handler's capacity");
    big[IPC_MESSAGE_MAX_LENGTH - 1] = 'm';
    ipc_client_send(c, big);
    CHECK(ipc_client_receive(c, reply, sizeof reply, &size) == IPC_RECEIVE_STATUS_ERROR, "one byte more is refused");
    ipc_client_disconnect(c);
    ipc_server_stop(s);
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
