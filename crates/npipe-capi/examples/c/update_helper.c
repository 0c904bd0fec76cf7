/* update_helper: the client half of the update_service example. It asks the service to install
 * a package, reconnects while the service restarts, checks the status, fetches the service's log
 * line by line and shuts the service down.
 *
 * Build: cc -I crates/npipe-capi/include update_helper.c -L target/debug -lnpipe -lpthread
 * Run:   ./update_helper my_update_pipe some-package-1.2.3
 */
#include <ipc.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

/* Connects, retrying for up to 10 seconds while nothing serves the name yet (the service is
 * starting or restarting). */
static ipc_client_t *connect_with_retry(const char *pipe_name) {
    for (int attempt = 0; attempt < 200; ++attempt) {
        ipc_client_t *client = ipc_client_connect(pipe_name);
        if (client) return client;
        struct timespec pause = { 0, 50 * 1000000L };
        nanosleep(&pause, NULL);
    }
    return NULL;
}

/* Sends a command and receives the whole reply into `response`, a piece at a time (the
 * buffer given to each receive is kept small on purpose). Returns 0 on failure. */
static int command(ipc_client_t *client, const char *text, char *response, int capacity) {
    printf("helper: sending \"%s\"\n", text);
    if (!ipc_client_send(client, text)) return 0;
    int size = 0, piece = 0;
    ipc_receive_status_t status = IPC_RECEIVE_STATUS_MORE_DATA;
    while (status == IPC_RECEIVE_STATUS_MORE_DATA && size < capacity - 1) {
        int room = capacity - 1 - size < 8 ? capacity - 1 - size : 8;
        status = ipc_client_receive(client, response + size, room, &piece);
        if (status == IPC_RECEIVE_STATUS_ERROR) return 0;
        size += piece;
    }
    response[size] = '\0';
    return status == IPC_RECEIVE_STATUS_DONE;
}

/* `command` on `*client`, once more on a new connection if the first one fails: the service
 * may have been restarting (a connection made just before its old server stopped is ended by
 * the stop). */
static int command_reconnecting(ipc_client_t **client, const char *pipe_name, const char *text,
                                char *response, int capacity) {
    if (command(*client, text, response, capacity)) return 1;
    printf("helper: connection lost, reconnecting\n");
    ipc_client_disconnect(*client);
    *client = connect_with_retry(pipe_name);
    return *client && command(*client, text, response, capacity);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s PIPE_NAME PACKAGE\n", argv[0]);
        return 2;
    }
    const char *pipe_name = argv[1];
    char text[256], response[256];

    ipc_client_t *client = connect_with_retry(pipe_name);
    if (!client) {
        printf("helper: the service is not running\n");
        return 1;
    }
    snprintf(text, sizeof text, "install %s", argv[2]);
    if (!command(client, text, response, sizeof response) || strcmp(response, "OK") != 0) {
        printf("helper: install failed: \"%s\"\n", response);
        return 1;
    }
    printf("helper: installation in progress, reconnecting\n");
    ipc_client_disconnect(client);

    /* The service restarts now; connect again. */
    client = connect_with_retry(pipe_name);
    if (!client) {
        printf("helper: the service did not come back\n");
        return 1;
    }
    if (!command_reconnecting(&client, pipe_name, "status", response, sizeof response) ||
        strcmp(response, "FINISHED") != 0) {
        printf("helper: unexpected status \"%s\"\n", response);
        return 1;
    }
    int lines = 0;
    for (;;) {
        if (!command_reconnecting(&client, pipe_name, "log", response, sizeof response)) {
            printf("helper: fetching the log failed\n");
            return 1;
        }
        if (!response[0]) break;
        printf("helper: SERVICE LOG | %s\n", response);
        lines++;
    }
    if (!command_reconnecting(&client, pipe_name, "shutdown", response, sizeof response) ||
        strcmp(response, "BYE") != 0) {
        printf("helper: shutdown refused: \"%s\"\n", response);
        return 1;
    }
    ipc_client_disconnect(client);
    printf("helper: installation successful, %d log lines\n", lines);
    return 0;
}

/* Single-header habit: the implementation part, which libnpipe provides. */
#define IPC_IMPLEMENTATION
#include <ipc.h>
