/* CreateFile tells a mailslot from a pipe on the name as Win32's path normalisation leaves it
 * ('..' and '.' segments resolved, '/' is '\'), not on its spelling: \\.\mailslot\..\pipe\x is
 * the pipe \\.\pipe\x and \\.\pipe\..\mailslot\x the mailslot \\.\mailslot\x. WaitNamedPipe
 * checks the normalised name before the pipe file system sees it: anything but \\.\pipe\NAME
 * (a mailslot, another device, a relative name, \\.\pipe itself) is ERROR_PATH_NOT_FOUND, the
 * empty pipe name \\.\pipe\ ERROR_INVALID_PARAMETER, and a pipe that does not exist
 * ERROR_FILE_NOT_FOUND. */
#include "w32.h"

static void wait_for(const char *label, const char *name) { SHOW_BOOL(label, WaitNamedPipeA(name, 10)); }

int main(void) {
    char buf[32];
    DWORD n = 0, next = 0, count = 0;
    BOOL r;

    /* A pipe reached through the mailslot device's name. */
    HANDLE s = CreateNamedPipeA(PIPE("n57pipe"), PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT,
                                2, 512, 512, 0, NULL);
    SHOW_HANDLE("pipe_create", s);
    SHOW_BOOL("pipe_wait_via_mailslot_dotdot", WaitNamedPipeA("\\\\.\\mailslot\\..\\pipe\\conformance_n57pipe", 100));
    HANDLE c = CreateFileA("\\\\.\\mailslot\\..\\pipe\\conformance_n57pipe", GENERIC_READ | GENERIC_WRITE, 0, NULL,
                           OPEN_EXISTING, 0, NULL);
    SHOW_HANDLE("pipe_open_via_mailslot_dotdot", c);
    if (c != INVALID_HANDLE_VALUE) {
        r = WriteFile(c, "hello", 5, &n, NULL);
        show_io("pipe_write", r, n, NULL);
        n = 0;
        r = ReadFile(s, buf, sizeof buf, &n, NULL);
        show_io("pipe_read_server", r, n, buf);
        CloseHandle(c);
    }
    /* The first instance is still connected: a second one takes this client. */
    HANDLE s2 = CreateNamedPipeA(PIPE("n57pipe"), PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT,
                                 2, 512, 512, 0, NULL);
    SHOW_HANDLE("pipe_create_second", s2);
    c = CreateFileA("//./mailslot/./../pipe/conformance_n57pipe", GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                    0, NULL);
    SHOW_HANDLE("pipe_open_via_slashes_dot_dotdot", c);
    if (c != INVALID_HANDLE_VALUE) CloseHandle(c);
    if (s2 != INVALID_HANDLE_VALUE) CloseHandle(s2);
    CloseHandle(s);

    /* A mailslot reached through the pipe device's name. */
    HANDLE m = CreateMailslotA(MAILSLOT("n57slot"), 0, 0, NULL);
    SHOW_HANDLE("mailslot_create", m);
    HANDLE w = CreateFileA("\\\\.\\pipe\\..\\mailslot\\conformance_n57slot", GENERIC_WRITE, FILE_SHARE_READ, NULL,
                           OPEN_EXISTING, 0, NULL);
    SHOW_HANDLE("mailslot_open_via_pipe_dotdot", w);
    if (w != INVALID_HANDLE_VALUE) {
        n = 0;
        r = WriteFile(w, "slot", 4, &n, NULL);
        show_io("mailslot_write", r, n, NULL);
        CloseHandle(w);
    }
    SHOW_BOOL("mailslot_info", GetMailslotInfo(m, NULL, &next, &count, NULL));
    printf("mailslot_info_next: %lu count: %lu\n", (unsigned long)next, (unsigned long)count);
    SHOW_BOOL("pipe_wait_via_pipe_dotdot_to_mailslot", WaitNamedPipeA("\\\\.\\pipe\\..\\mailslot\\conformance_n57slot", 10));
    CloseHandle(m);

    /* A name that leaves the device: \\.\pipe\..\x is neither. */
    c = CreateFileA("\\\\.\\pipe\\..\\conformance_n57none", GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL);
    SHOW_HANDLE("open_above_devices", c);
    if (c != INVALID_HANDLE_VALUE) CloseHandle(c);

    /* What WaitNamedPipe takes. */
    wait_for("wait_mailslot", "\\\\.\\mailslot\\conformance_n57slot");
    wait_for("wait_other_device", "\\\\.\\foo\\x");
    wait_for("wait_above_pipe", "\\\\.\\pipe\\..\\conformance_n57none");
    wait_for("wait_pipe_root_separator", "\\\\.\\pipe\\");
    wait_for("wait_pipe_root", "\\\\.\\pipe");
    wait_for("wait_relative", "conformance_n57none");
    wait_for("wait_absent", PIPE("n57absent"));
    wait_for("wait_verbatim_mailslot", "\\\\?\\mailslot\\conformance_n57slot");
    wait_for("wait_verbatim_absent", "\\\\?\\pipe\\conformance_n57absent");
    wait_for("wait_slashes_absent", "//./pipe/conformance_n57absent");
    wait_for("wait_empty", "");
    return 0;
}
