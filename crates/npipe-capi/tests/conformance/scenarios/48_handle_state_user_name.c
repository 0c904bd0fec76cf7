/* GetNamedPipeHandleState's lpUserName (what .NET's GetImpersonationUserName asks for).
 *
 * On the server end Windows impersonates the client to read its user name, so it fails with
 * ERROR_CANNOT_IMPERSONATE before anything was read from the client (W133), and gives the name
 * after; a buffer too short for it is ERROR_INSUFFICIENT_BUFFER. The collection count and
 * timeout are for clients of remote pipes: asking for them on a local pipe is
 * ERROR_INVALID_PARAMETER (W118), and so is asking a client end for the user name. */
#include "w32.h"

static void show_user(const char *label, HANDLE h, DWORD size) {
    char user[256];
    DWORD state = 77;
    memset(user, 0, sizeof user);
    BOOL r = GetNamedPipeHandleStateA(h, &state, NULL, NULL, NULL, user, size);
    if (r) printf("%s: TRUE state=%lu name_nonempty=%d\n", label, (unsigned long)state, user[0] != 0);
    else printf("%s: FALSE err=%lu\n", label, (unsigned long)GetLastError());
}

int main(void) {
    char buf[16];
    DWORD n, timeout;
    HANDLE s = CreateNamedPipeA(PIPE("48"), PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE | PIPE_WAIT, 1,
                                512, 512, 0, NULL);
    SHOW_HANDLE("server", s);
    HANDLE c = CreateFileA(PIPE("48"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0,
                           NULL);
    SHOW_HANDLE("client", c);
    SHOW_BOOL("write", WriteFile(c, "x", 1, &n, NULL));
    show_user("before_read", s, 256);
    SHOW_BOOL("read", ReadFile(s, buf, sizeof buf, &n, NULL));
    show_user("after_read", s, 256);
    show_user("one_char_buffer", s, 1);
    show_user("client_end", c, 256);
    SHOW_BOOL("collect_timeout", GetNamedPipeHandleStateA(s, NULL, NULL, NULL, &timeout, NULL, 0));
    CloseHandle(c);
    CloseHandle(s);
    return 0;
}
