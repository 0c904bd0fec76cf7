/* Named-pipe calls on the ends of an anonymous pipe (CreatePipe), which Windows makes a byte
 * pipe with one instance (W135): libuv sets PIPE_READMODE_BYTE | PIPE_WAIT on the pipes it is
 * given, Git sets PIPE_NOWAIT.
 *
 * GetNamedPipeHandleState reports PIPE_WAIT | PIPE_READMODE_BYTE and one instance on both
 * ends; SetNamedPipeHandleState takes byte read mode and either wait mode, and refuses
 * PIPE_READMODE_MESSAGE with ERROR_INVALID_PARAMETER. In PIPE_NOWAIT mode a read of the empty
 * pipe fails at once with ERROR_NO_DATA (W107) and one with data succeeds; PIPE_WAIT again
 * makes reads wait. PeekNamedPipe on the write end is ERROR_ACCESS_DENIED. */
#include "w32.h"

static void show_state(const char *label, HANDLE h) {
    DWORD state = 77, cur = 77;
    if (GetNamedPipeHandleStateA(h, &state, &cur, NULL, NULL, NULL, 0))
        printf("%s: TRUE state=%lu instances=%lu\n", label, (unsigned long)state, (unsigned long)cur);
    else
        printf("%s: FALSE err=%lu\n", label, (unsigned long)GetLastError());
}

static void show_read(const char *label, HANDLE h) {
    char buf[16];
    DWORD n = 77;
    BOOL r = ReadFile(h, buf, sizeof buf, &n, NULL);
    show_io(label, r, n, buf);
}

static HANDLE wr;

THREAD_FN(late_writer) {
    DWORD n;
    (void)arg;
    sleep_ms(200);
    WriteFile(wr, "late", 4, &n, NULL);
    THREAD_RETURN;
}

int main(void) {
    HANDLE rd;
    DWORD mode, n, avail;
    SHOW_BOOL("create", CreatePipe(&rd, &wr, NULL, 0));
    show_state("read_end", rd);
    show_state("write_end", wr);
    mode = PIPE_READMODE_BYTE | PIPE_WAIT;
    SHOW_BOOL("read_end_byte_wait", SetNamedPipeHandleState(rd, &mode, NULL, NULL));
    SHOW_BOOL("write_end_byte_wait", SetNamedPipeHandleState(wr, &mode, NULL, NULL));
    mode = PIPE_READMODE_MESSAGE;
    SHOW_BOOL("read_end_message", SetNamedPipeHandleState(rd, &mode, NULL, NULL));
    mode = PIPE_READMODE_BYTE | PIPE_NOWAIT;
    SHOW_BOOL("read_end_nowait", SetNamedPipeHandleState(rd, &mode, NULL, NULL));
    show_state("read_end_after", rd);
    show_read("nowait_read_empty", rd);
    SHOW_BOOL("write", WriteFile(wr, "abc", 3, &n, NULL));
    show_read("nowait_read_data", rd);
    mode = PIPE_READMODE_BYTE | PIPE_WAIT;
    SHOW_BOOL("read_end_wait_again", SetNamedPipeHandleState(rd, &mode, NULL, NULL));
    show_state("read_end_waits", rd);
    thread_t t = thread_start(late_writer, NULL);
    show_read("wait_read", rd);
    thread_join(t);
    SetLastError(0);
    BOOL r = PeekNamedPipe(wr, NULL, 0, NULL, &avail, NULL);
    if (r) printf("peek_write_end: TRUE\n");
    else printf("peek_write_end: FALSE err=%lu\n", (unsigned long)GetLastError());
    CloseHandle(rd);
    CloseHandle(wr);
    return 0;
}
