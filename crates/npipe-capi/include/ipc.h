/* ipc.h: simple client/server IPC over named pipes, implemented by libnpipe.
 *
 * Source-compatible with the final version of the single-header ipc.h by Mattias Gustavsson
 * (finos/SymphonyElectron, auto_update/ipc.h): code written against it compiles and links
 * against libnpipe unchanged, from C and from C++. The implementation is in the library, so the
 * usual second include with IPC_IMPLEMENTATION defined adds nothing.
 *
 * Names: a bare "NAME" is the pipe \\.\pipe\NAME (case-insensitive); a full "\\.\pipe\NAME"
 * is also accepted. Pipes made here and with npipe/win32.h (CreateNamedPipeA, CreateFileA)
 * talk to each other: a message-type, duplex pipe.
 *
 * Client: ipc_client_connect waits up to 20 s while all instances are busy and returns NULL when
 * nothing serves the name (GetLastError: ERROR_FILE_NOT_FOUND at once, or ERROR_SEM_TIMEOUT when
 * no instance came free in time, also when the server stopped meanwhile: until then the wait
 * goes on for a server of that name to come back). ipc_client_send sends strlen(message) + 1
 * bytes as one message. ipc_client_receive returns IPC_RECEIVE_STATUS_MORE_DATA when the reply
 * is longer than the buffer; the next call returns the rest.
 *
 * Server: ipc_server_start serves up to 32 clients at once; a 33rd waits for a free instance.
 * Any local user may connect, as the original grants Everyone FILE_ALL_ACCESS on Windows (so a
 * service running as root serves ordinary users); a client talks only to a server of its own
 * user or root (docs/SECURITY.md).
 * Each request is passed to the handler as a C string, with a zeroed response buffer of
 * `capacity` (IPC_MESSAGE_MAX_LENGTH) bytes; the reply, strlen(response) + 1 bytes, is always
 * sent, even when the handler writes nothing. Handlers of different clients run concurrently,
 * on the server's threads, with the same user_data: make what they share thread-safe. When a
 * client goes away the handler is called once as handler(NULL, user_data, NULL, 0). A request
 * longer than IPC_MESSAGE_MAX_LENGTH (NUL included; a request from another client that lacks
 * its NUL gets one, which counts) is refused: the handler is not called and the client is
 * disconnected (its ipc_client_receive returns IPC_RECEIVE_STATUS_ERROR). So a handler's
 * request always has strlen(request) < IPC_MESSAGE_MAX_LENGTH.
 * ipc_server_stop stops accepting, lets handler calls in progress finish and send their replies,
 * ends every client and returns when no handler runs any more; the name is gone then. Called
 * from inside a handler, it cannot wait for that call: it returns once every other handler has
 * ended, and that handler's connection and the name go when it returns. Handlers must not
 * throw C++ exceptions (the process would abort).
 *
 * IPC_MESSAGE_MAX_LENGTH may be defined before including this header; ipc_server_start then
 * uses that length. Functions that fail leave a Win32 error code in GetLastError()
 * (npipe/win32.h).
 *
 * Link with -lnpipe -lpthread.
 */
#ifndef ipc_h
#define ipc_h

#include <stdbool.h>
#include <stddef.h>

#ifndef IPC_MESSAGE_MAX_LENGTH
#define IPC_MESSAGE_MAX_LENGTH 4096
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* client */

typedef struct ipc_client_t ipc_client_t;

ipc_client_t* ipc_client_connect(char const* pipe_name);

void ipc_client_disconnect(ipc_client_t* connection);

typedef enum ipc_receive_status_t {
    IPC_RECEIVE_STATUS_DONE = 0,
    IPC_RECEIVE_STATUS_MORE_DATA = 1,
    IPC_RECEIVE_STATUS_ERROR = 2
} ipc_receive_status_t;

ipc_receive_status_t ipc_client_receive(ipc_client_t* connection, char* output, int output_size,
                                        int* received_size);

bool ipc_client_send(ipc_client_t* connection, char const* message);

/* server */

typedef struct ipc_server_t ipc_server_t;

typedef void (*ipc_request_handler_t)(char const* request, void* user_data, char* response,
                                      size_t capacity);

ipc_server_t* ipc_server_start(char const* pipe_name, ipc_request_handler_t request_handler,
                               void* user_data);

void ipc_server_stop(ipc_server_t* server);

/* Whether a server of `pipe_name` exists (busy or not). The original defines it in its
 * implementation part; declared here so C++ code that declares it again links to it. */
bool pipe_exists(const char* pipe_name);

/* npipe extension: ipc_server_start with another maximum request length than 4096. */
ipc_server_t* npipe_ipc_server_start_max(char const* pipe_name, ipc_request_handler_t request_handler,
                                         void* user_data, size_t max_message_length);

#ifdef __cplusplus
}
#endif

#if IPC_MESSAGE_MAX_LENGTH != 4096
#define ipc_server_start(pipe_name, request_handler, user_data)                                     \
    npipe_ipc_server_start_max((pipe_name), (request_handler), (user_data),                         \
                               (size_t)(IPC_MESSAGE_MAX_LENGTH))
#endif

#endif /* ipc_h */

#ifdef IPC_IMPLEMENTATION
#undef IPC_IMPLEMENTATION
/* Nothing to compile: libnpipe implements ipc.h. */
#endif
