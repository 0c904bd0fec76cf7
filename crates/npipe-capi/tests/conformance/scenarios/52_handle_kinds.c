/* Named-pipe calls on handles that are not named pipes, and closing pseudo handles.
 *
 * Closing the pseudo handle of the current process (the value of INVALID_HANDLE_VALUE) or of
 * the current thread has no effect and succeeds (the GetCurrentProcess and GetCurrentThread
 * documentation). A named-pipe call on a handle that is no file at all (an event) fails with
 * ERROR_INVALID_HANDLE: the object is of the wrong type (STATUS_OBJECT_TYPE_MISMATCH), before
 * any file system sees the call. */
#include "w32.h"

int main(void) {
    DWORD f, o, i, m, avail;
    SHOW_BOOL("close_current_process", CloseHandle(GetCurrentProcess()));
    SHOW_BOOL("close_invalid_handle_value", CloseHandle(INVALID_HANDLE_VALUE));
    SHOW_BOOL("close_current_thread", CloseHandle(GetCurrentThread()));

    HANDLE e = CreateEventA(NULL, TRUE, FALSE, NULL);
    SHOW_BOOL("event_disconnect", DisconnectNamedPipe(e));
    SHOW_BOOL("event_connect", ConnectNamedPipe(e, NULL));
    SHOW_BOOL("event_info", GetNamedPipeInfo(e, &f, &o, &i, &m));
    SHOW_BOOL("event_peek", PeekNamedPipe(e, NULL, 0, NULL, &avail, NULL));
    SHOW_BOOL("event_get_state", GetNamedPipeHandleStateA(e, &f, NULL, NULL, NULL, NULL, 0));
    CloseHandle(e);

    return 0;
}
