// npipe's C++ test of ipc.h, built with `c++ -std=c++11` by tests/ipc_h.rs. It uses ipc.h the
// way the original's own C++ test suite does: log macros defined before the include, handlers
// written as capture-less lambdas, `bool pipe_exists(const char*)` declared again at file scope
// (outside any extern "C"), and the header included a second time with IPC_IMPLEMENTATION at
// the end. The checks are those of that suite: start, stop and pipe_exists, 32 clients, 32
// clients over 10 rounds, one message each way, a full-size message each way, 64 ordered round
// trips. Prints "N passed, M failed".
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <unistd.h>

// Unused with npipe's ipc.h (it does not log), as in the original with logging off.
void quiet_log(char const*, ...) {}
#define IPC_LOG_INFO quiet_log
#define IPC_LOG_ERROR quiet_log
#define IPC_LOG_LAST_ERROR quiet_log
#include <ipc.h>

bool pipe_exists(const char* pipe_name);

static int passed = 0, failed = 0;
#define CHECK(cond, what)                                                                  \
    do {                                                                                   \
        if (cond) {                                                                        \
            passed++;                                                                      \
        } else {                                                                           \
            failed++;                                                                      \
            std::printf("FAIL %s (line %d)\n", what, __LINE__);                            \
        }                                                                                  \
    } while (0)

static std::string pipe_name;

static ipc_server_t* start_quiet() {
    return ipc_server_start(pipe_name.c_str(), [](char const*, void*, char*, size_t) {}, nullptr);
}

static void fill(char* buf, int len, char first, char last) {
    for (int i = 0; i < len; ++i) buf[i] = static_cast<char>(first + i % (last - first + 1));
    buf[len] = '\0';
}

int main() {
    pipe_name = "npipe-ipc-cpp-" + std::to_string(getpid());
    const char* name = pipe_name.c_str();

    CHECK(!pipe_exists(name), "not running yet");
    {
        ipc_server_t* server = start_quiet();
        CHECK(server != nullptr, "can start");
        ipc_server_stop(server);
    }
    {
        ipc_server_t* server = start_quiet();
        CHECK(server != nullptr, "can start again");
        CHECK(pipe_exists(name), "exists while running");
        ipc_server_stop(server);
        CHECK(!pipe_exists(name), "gone after stop");
    }
    {
        ipc_server_t* server = start_quiet();
        ipc_client_t* clients[32];
        int ok = 0;
        for (auto& c : clients) ok += (c = ipc_client_connect(name)) != nullptr;
        CHECK(ok == 32, "32 clients at once");
        for (auto c : clients) ipc_client_disconnect(c);
        ipc_server_stop(server);
    }
    {
        ipc_server_t* server = start_quiet();
        int ok = 0;
        for (int round = 0; round < 10; ++round) {
            ipc_client_t* clients[32];
            for (auto& c : clients) ok += (c = ipc_client_connect(name)) != nullptr;
            for (auto c : clients) ipc_client_disconnect(c);
        }
        CHECK(ok == 320, "32 clients over 10 rounds");
        ipc_server_stop(server);
    }
    {
        bool received = false;
        ipc_server_t* server = ipc_server_start(
            name,
            [](char const* message, void* user_data, char*, size_t) {
                if (!message) return;  // the client went away
                *static_cast<bool*>(user_data) = std::strcmp(message, "Test message") == 0;
            },
            &received);
        ipc_client_t* client = ipc_client_connect(name);
        CHECK(server && client, "start and connect");
        CHECK(ipc_client_send(client, "Test message"), "send");
        char temp[IPC_MESSAGE_MAX_LENGTH];
        int size = 0;
        // The reply (one NUL byte: the handler wrote nothing) comes after the handler ran.
        CHECK(ipc_client_receive(client, temp, sizeof temp, &size) == IPC_RECEIVE_STATUS_DONE && size == 1,
              "empty reply");
        CHECK(received, "the server received the message");
        ipc_client_disconnect(client);
        ipc_server_stop(server);
    }
    {
        ipc_server_t* server = ipc_server_start(
            name,
            [](char const* message, void*, char* response, size_t) {
                if (message) std::strcpy(response, "Test response");
            },
            nullptr);
        ipc_client_t* client = ipc_client_connect(name);
        CHECK(ipc_client_send(client, "Test message"), "send for a response");
        char response[IPC_MESSAGE_MAX_LENGTH];
        int size = 0;
        CHECK(ipc_client_receive(client, response, sizeof response, &size) == IPC_RECEIVE_STATUS_DONE,
              "receive the response");
        CHECK(size == static_cast<int>(std::strlen("Test response")) + 1 && std::strcmp(response, "Test response") == 0,
              "the response and its NUL");
        ipc_client_disconnect(client);
        ipc_server_stop(server);
    }
    {
        int bad = 0;
        ipc_server_t* server = ipc_server_start(
            name,
            [](char const* message, void* user_data, char* response, size_t capacity) {
                if (!message) return;
                char expected[IPC_MESSAGE_MAX_LENGTH];
                fill(expected, IPC_MESSAGE_MAX_LENGTH - 1, 'A', 'Z');
                if (std::strcmp(message, expected) != 0) ++*static_cast<int*>(user_data);
                fill(response, static_cast<int>(capacity) - 1, 'a', 'z');
            },
            &bad);
        ipc_client_t* client = ipc_client_connect(name);
        char message[IPC_MESSAGE_MAX_LENGTH], response[IPC_MESSAGE_MAX_LENGTH], expected[IPC_MESSAGE_MAX_LENGTH];
        fill(message, IPC_MESSAGE_MAX_LENGTH - 1, 'A', 'Z');
        fill(expected, IPC_MESSAGE_MAX_LENGTH - 1, 'a', 'z');
        CHECK(ipc_client_send(client, message), "send a full-size message");
        int size = 0;
        CHECK(ipc_client_receive(client, response, sizeof response, &size) == IPC_RECEIVE_STATUS_DONE,
              "receive a full-size message");
        CHECK(size == IPC_MESSAGE_MAX_LENGTH && std::strcmp(response, expected) == 0, "full-size response");
        ipc_client_disconnect(client);
        ipc_server_stop(server);
        CHECK(bad == 0, "full-size request");
    }
    {
        int count = 0;
        ipc_server_t* server = ipc_server_start(
            name,
            [](char const* message, void* user_data, char* response, size_t capacity) {
                if (!message) return;
                int* n = static_cast<int*>(user_data);
                std::string expected = "Test message " + std::to_string(*n);
                if (expected == message) std::snprintf(response, capacity, "Test response %d", *n);
                ++*n;
            },
            &count);
        ipc_client_t* client = ipc_client_connect(name);
        int ok = 0;
        for (int i = 0; i < 64; ++i) {
            std::string message = "Test message " + std::to_string(i);
            std::string expected = "Test response " + std::to_string(i);
            char response[IPC_MESSAGE_MAX_LENGTH];
            int size = 0;
            ok += ipc_client_send(client, message.c_str()) &&
                  ipc_client_receive(client, response, sizeof response, &size) == IPC_RECEIVE_STATUS_DONE &&
                  size == static_cast<int>(expected.size()) + 1 && expected == response;
        }
        CHECK(ok == 64 && count == 64, "64 ordered round trips");
        ipc_client_disconnect(client);
        ipc_server_stop(server);
    }
    {
        // Clients on std::threads while the disconnect calls arrive on the server's threads.
        ipc_server_t* server = start_quiet();
        int ok[8] = {0};
        std::thread threads[8];
        for (int t = 0; t < 8; ++t) {
            threads[t] = std::thread([t, &ok, name] {
                ipc_client_t* c = ipc_client_connect(name);
                char response[16];
                int size = 0;
                ok[t] = c && ipc_client_send(c, "x") &&
                        ipc_client_receive(c, response, sizeof response, &size) == IPC_RECEIVE_STATUS_DONE && size == 1;
                ipc_client_disconnect(c);
            });
        }
        int all = 0;
        for (int t = 0; t < 8; ++t) {
            threads[t].join();
            all += ok[t];
        }
        CHECK(all == 8, "clients on std::thread");
        ipc_server_stop(server);
    }

    std::printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}

#define IPC_IMPLEMENTATION
#include <ipc.h>
