/* Zero-byte reads and writes on an anonymous pipe (CreatePipe, W135-W139).
 *
 * A ReadFile of 0 bytes waits until data is there, as a longer read does, then takes nothing
 * (libuv waits for a child's output this way); once every write end is closed and nothing is
 * left it fails with ERROR_BROKEN_PIPE. A WriteFile of 0 bytes succeeds while the read end is
 * open and fails with ERROR_NO_DATA once it is closed, as any write does (W139). */
#include "w32.h"

/* show_io with the count read after the call (arguments have no order of evaluation). */
static void show_after(const char *label, BOOL r, const DWORD *n, const char *buf) {
    show_io(label, r, *n, buf);
}

static HANDLE wr;
static volatile int written;

THREAD_FN(late_writer) {
    DWORD n;
    (void)arg;
    sleep_ms(200);
    written = 1;
    WriteFile(wr, "late", 4, &n, NULL);
    THREAD_RETURN;
}

int main(void) {
    HANDLE rd;
    char buf[64];
    DWORD n;

    SHOW_BOOL("create", CreatePipe(&rd, &wr, NULL, 0));
    thread_t t = thread_start(late_writer, NULL);
    n = 77;
    show_after("zero_read_waits", ReadFile(rd, buf, 0, &n, NULL), &n, NULL);
    printf("written_before_it_returned: %d\n", written);
    thread_join(t);
    show_after("read_after", ReadFile(rd, buf, sizeof buf, &n, NULL), &n, buf);
    n = 77;
    show_after("zero_write", WriteFile(wr, buf, 0, &n, NULL), &n, NULL);
    show_after("write_more", WriteFile(wr, "x", 1, &n, NULL), &n, NULL);
    SHOW_BOOL("close_write", CloseHandle(wr));
    n = 77;
    show_after("zero_read_with_data_left", ReadFile(rd, buf, 0, &n, NULL), &n, NULL);
    show_after("read_last", ReadFile(rd, buf, sizeof buf, &n, NULL), &n, buf);
    n = 77;
    show_after("zero_read_writer_gone", ReadFile(rd, buf, 0, &n, NULL), &n, NULL);
    CloseHandle(rd);

    SHOW_BOOL("create_again", CreatePipe(&rd, &wr, NULL, 0));
    SHOW_BOOL("close_read", CloseHandle(rd));
    n = 77;
    show_after("zero_write_reader_gone", WriteFile(wr, buf, 0, &n, NULL), &n, NULL);
    show_after("write_reader_gone", WriteFile(wr, "x", 1, &n, NULL), &n, NULL);
    CloseHandle(wr);
    return 0;
}
