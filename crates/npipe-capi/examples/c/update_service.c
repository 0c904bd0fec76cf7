/* update_service: an ipc.h service in the style of an auto-update service. It answers text
 * commands from update_helper (or any ipc.h client) on the pipe named on its command line:
 *
 *   install PACKAGE   "OK"; the service then restarts once the client has gone, as an
 *                     installer that replaces the service would make it do
 *   status            "FINISHED" after an install, "INVALID" before
 *   log               the next line of the service's log, "" when none is left
 *   shutdown          "BYE"; the service exits once the client has gone
 *   anything else     "ERROR"
 *
 * Build: cc -I crates/npipe-capi/include update_service.c -L target/debug -lnpipe -lpthread
 * Run:   ./update_service my_update_pipe
 */
#include <ipc.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define LOG_LINES 16

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int clients_gone;        /* disconnect calls so far */
    int restart_pending;     /* an install asked for a restart */
    int shutdown_requested;
    int installed;
    char log[LOG_LINES][128];
    int log_written, log_read;
} service_t;

static void log_line(service_t *s, const char *format, const char *arg) {
    if (s->log_written < LOG_LINES) {
        snprintf(s->log[s->log_written++], sizeof s->log[0], format, arg);
    }
    printf("service: ");
    printf(format, arg);
    printf("\n");
    fflush(stdout);
}

/* Runs on the server's threads, one per client: state changes take the lock. */
static void handler(char const *request, void *user_data, char *response, size_t capacity) {
    service_t *s = (service_t *)user_data;
    pthread_mutex_lock(&s->lock);
    if (!request) {
        s->clients_gone++;
        pthread_cond_broadcast(&s->changed);
    } else if (strncasecmp(request, "install ", 8) == 0 && request[8]) {
        log_line(s, "installing %s", request + 8);
        log_line(s, "%s installed", request + 8);
        s->installed = 1;
        s->restart_pending = 1;
        snprintf(response, capacity, "OK");
    } else if (strcasecmp(request, "status") == 0) {
        snprintf(response, capacity, "%s", s->installed ? "FINISHED" : "INVALID");
    } else if (strcasecmp(request, "log") == 0) {
        if (s->log_read < s->log_written) {
            snprintf(response, capacity, "%s", s->log[s->log_read++]);
        }
        /* else: an empty reply, the end of the log */
    } else if (strcasecmp(request, "shutdown") == 0) {
        s->shutdown_requested = 1;
        snprintf(response, capacity, "BYE");
    } else {
        log_line(s, "unknown command \"%s\"", request);
        snprintf(response, capacity, "ERROR");
    }
    pthread_mutex_unlock(&s->lock);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s PIPE_NAME\n", argv[0]);
        return 2;
    }
    service_t s;
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.changed, NULL);
    for (;;) {
        ipc_server_t *server = ipc_server_start(argv[1], handler, &s);
        if (!server) {
            fprintf(stderr, "service: cannot serve %s\n", argv[1]);
            return 1;
        }
        printf("service: listening on %s\n", argv[1]);
        fflush(stdout);
        /* Serve until a client that asked for a restart or a shutdown has gone. */
        pthread_mutex_lock(&s.lock);
        int seen = s.clients_gone;
        for (;;) {
            while (s.clients_gone == seen) pthread_cond_wait(&s.changed, &s.lock);
            seen = s.clients_gone;
            if (s.restart_pending || s.shutdown_requested) break;
        }
        int restart = s.restart_pending, shutdown = s.shutdown_requested;
        s.restart_pending = 0;
        pthread_mutex_unlock(&s.lock);
        ipc_server_stop(server);
        /* Both can be pending when the helper's later commands reached this server before this
         * thread woke: the install's restart comes first, then the shutdown. */
        if (restart) {
            printf("service: restarting after the install\n");
            fflush(stdout);
        }
        if (shutdown) {
            printf("service: shut down\n");
            return 0;
        }
    }
}
