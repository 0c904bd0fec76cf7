/* Pipe names are paths: Win32 normalises them as GetFullPathName does before the pipe file
 * system sees them (the "File path formats on Windows systems" rules): '/' is '\', a run of
 * separators is one, '.' segments go, '..' removes the segment before it, a segment's single
 * trailing period goes, and a name that does not end in a separator loses its trailing periods
 * and spaces. A name that starts exactly with \\?\ is not normalised. mpv names its pipe
 * \\.\pipe\/tmp/mpv-socket, which clients open as \\.\pipe\tmp\mpv-socket.
 *
 * Each case creates the pipe under one spelling and opens it (WaitNamedPipe, CreateFile) under
 * another; a spelling that is a different name gives ERROR_FILE_NOT_FOUND. */
#include "w32.h"

static void open_as(const char *label, const char *create, const char *open) {
    char l[128];
    HANDLE s = CreateNamedPipeA(create, PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE | PIPE_WAIT, 1, 512, 512, 0, NULL);
    snprintf(l, sizeof l, "%s_create", label);
    SHOW_HANDLE(l, s);
    if (s == INVALID_HANDLE_VALUE) return;
    snprintf(l, sizeof l, "%s_wait", label);
    SHOW_BOOL(l, WaitNamedPipeA(open, 100));
    HANDLE c = CreateFileA(open, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    snprintf(l, sizeof l, "%s_open", label);
    SHOW_HANDLE(l, c);
    if (c != INVALID_HANDLE_VALUE) CloseHandle(c);
    CloseHandle(s);
}

int main(void) {
    open_as("slash_run", PIPE("n53\\/tmp/mpv-socket"), PIPE("n53\\tmp\\mpv-socket"));
    open_as("slash_run_back", PIPE("n53\\tmp\\mpv-socket"), PIPE("n53/tmp//mpv-socket"));
    open_as("double_backslash", PIPE("n53a\\\\b"), PIPE("n53a\\b"));
    open_as("dot_segment", PIPE("n53a\\.\\b"), PIPE("n53a\\b"));
    open_as("dotdot_segment", PIPE("n53a\\x\\..\\b"), PIPE("n53a\\b"));
    open_as("trailing_dot", PIPE("n53name."), PIPE("n53name"));
    open_as("trailing_dots_spaces", PIPE("n53name. . "), PIPE("n53name"));
    open_as("segment_dot", PIPE("n53seg.\\x"), PIPE("n53seg\\x"));
    open_as("segment_two_dots", PIPE("n53seg..\\x"), PIPE("n53seg.\\x"));
    open_as("three_dots_name", PIPE("n53x\\...\\y"), PIPE("n53x\\...\\y"));
    open_as("trailing_separator", PIPE("n53t\\"), PIPE("n53t"));
    open_as("trailing_separator_same", PIPE("n53u\\"), PIPE("n53u\\"));
    open_as("verbatim_open", PIPE("n53verb"), "\\\\?\\pipe\\conformance_n53verb");
    open_as("verbatim_keeps_dot", "\\\\?\\pipe\\conformance_n53vdot.", PIPE("n53vdot"));
    open_as("doubled_prefix", PIPE("n53pre"), "\\\\.\\\\pipe\\conformance_n53pre");
    open_as("dotdot_prefix", PIPE("n53dd"), "\\\\.\\pipe\\..\\pipe\\conformance_n53dd");
    HANDLE s = CreateNamedPipeA("\\\\.\\pipe\\..\\conformance_n53up", PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE, 1, 512, 512, 0, NULL);
    SHOW_HANDLE("dotdot_above_pipe_create", s);
    if (s != INVALID_HANDLE_VALUE) CloseHandle(s);
    s = CreateNamedPipeA(PIPE("n53only\\. ."), PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE, 1, 512, 512, 0, NULL);
    SHOW_HANDLE("dots_and_spaces_segment_create", s);
    if (s != INVALID_HANDLE_VALUE) CloseHandle(s);
    return 0;
}
