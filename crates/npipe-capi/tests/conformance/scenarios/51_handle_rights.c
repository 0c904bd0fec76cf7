/* The rights behind the named-pipe calls (W24, W120).
 *
 * A server handle holds the rights of its pipe's direction (W24): an inbound server can read
 * data and attributes but not write attributes, so SetNamedPipeHandleState fails with
 * ERROR_ACCESS_DENIED; an outbound one can write but not read attributes or data, so
 * GetNamedPipeHandleState (asked for the state), GetNamedPipeInfo and PeekNamedPipe fail,
 * while GetNamedPipeHandleState with every output NULL asks nothing and succeeds (W118). A
 * client holds what it opened with: GENERIC_WRITE alone cannot peek, GENERIC_READ alone cannot
 * set the read mode (Microsoft's documentation of SetNamedPipeHandleState: a read-only client
 * needs FILE_WRITE_ATTRIBUTES too), and GENERIC_READ | FILE_WRITE_ATTRIBUTES can. */
#include "w32.h"

#ifndef FILE_WRITE_ATTRIBUTES
#define FILE_WRITE_ATTRIBUTES 0x0100
#endif

int main(void) {
    DWORD mode, state, f, o, i, m, avail;

    HANDLE s = CreateNamedPipeA(PIPE("51in"), PIPE_ACCESS_INBOUND, PIPE_TYPE_MESSAGE | PIPE_WAIT,
                                1, 512, 512, 0, NULL);
    HANDLE c = CreateFileA(PIPE("51in"), GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    SHOW_HANDLE("inbound_client", c);
    mode = PIPE_READMODE_BYTE;
    SHOW_BOOL("inbound_server_set_state", SetNamedPipeHandleState(s, &mode, NULL, NULL));
    SHOW_BOOL("inbound_server_get_state", GetNamedPipeHandleStateA(s, &state, NULL, NULL, NULL, NULL, 0));
    SHOW_BOOL("inbound_server_info", GetNamedPipeInfo(s, &f, &o, &i, &m));
    SHOW_BOOL("inbound_server_peek", PeekNamedPipe(s, NULL, 0, NULL, &avail, NULL));
    SHOW_BOOL("write_only_client_peek", PeekNamedPipe(c, NULL, 0, NULL, &avail, NULL));
    mode = PIPE_READMODE_MESSAGE;
    SHOW_BOOL("write_only_client_set_state", SetNamedPipeHandleState(c, &mode, NULL, NULL));
    CloseHandle(c);
    CloseHandle(s);

    s = CreateNamedPipeA(PIPE("51out"), PIPE_ACCESS_OUTBOUND, PIPE_TYPE_MESSAGE | PIPE_WAIT, 1,
                         512, 512, 0, NULL);
    c = CreateFileA(PIPE("51out"), GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL);
    SHOW_HANDLE("outbound_client", c);
    SHOW_BOOL("outbound_server_get_state", GetNamedPipeHandleStateA(s, &state, NULL, NULL, NULL, NULL, 0));
    SHOW_BOOL("outbound_server_get_nothing", GetNamedPipeHandleStateA(s, NULL, NULL, NULL, NULL, NULL, 0));
    SHOW_BOOL("outbound_server_info", GetNamedPipeInfo(s, &f, &o, &i, &m));
    SHOW_BOOL("outbound_server_peek", PeekNamedPipe(s, NULL, 0, NULL, &avail, NULL));
    mode = PIPE_READMODE_BYTE;
    SHOW_BOOL("outbound_server_set_state", SetNamedPipeHandleState(s, &mode, NULL, NULL));
    SHOW_BOOL("read_only_client_peek", PeekNamedPipe(c, NULL, 0, NULL, &avail, NULL));
    SHOW_BOOL("read_only_client_info", GetNamedPipeInfo(c, &f, &o, &i, &m));
    mode = PIPE_READMODE_MESSAGE;
    SHOW_BOOL("read_only_client_set_state", SetNamedPipeHandleState(c, &mode, NULL, NULL));
    CloseHandle(c);
    CloseHandle(s);

    s = CreateNamedPipeA(PIPE("51ro"), PIPE_ACCESS_OUTBOUND, PIPE_TYPE_MESSAGE | PIPE_WAIT, 1,
                         512, 512, 0, NULL);
    c = CreateFileA(PIPE("51ro"), GENERIC_READ | FILE_WRITE_ATTRIBUTES, 0, NULL, OPEN_EXISTING, 0,
                    NULL);
    SHOW_HANDLE("read_attributes_client", c);
    SHOW_BOOL("read_attributes_client_set_state", SetNamedPipeHandleState(c, &mode, NULL, NULL));
    CloseHandle(c);
    CloseHandle(s);
    return 0;
}
