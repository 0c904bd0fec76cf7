/* Listing pipes with FindFirstFile / FindNextFile / FindClose on \\.\pipe\ (documented Win32
 * behaviour: the named pipe file system lists one entry per pipe name, cFileName without the
 * prefix, nFileSizeLow the number of instances of that name; what tools such as Sysinternals'
 * PipeList print). Wine 8 cannot list the pipe file system (FindFirstFile fails with
 * ERROR_BAD_DEV_TYPE, 66): overrides.txt gives Windows' lines.
 *
 * - a pattern that matches no pipe: INVALID_HANDLE_VALUE, ERROR_FILE_NOT_FOUND;
 * - a pipe with two instances is listed once, with nFileSizeLow 2 and FILE_ATTRIBUTE_NORMAL;
 * - patterns (* and ?) match without case, the name comes back as created;
 * - FindNextFile after the last entry: FALSE, ERROR_NO_MORE_FILES;
 * - once the last instance is closed the pipe is no longer listed. */
#include "w32.h"

/* One line per listing: the first entry, what FindNextFile says after it, FindClose. */
static void find(const char *label, const char *pattern) {
    WIN32_FIND_DATAA fd;
    BOOL more;
    DWORD err;
    HANDLE f = FindFirstFileA(pattern, &fd);
    if (f == INVALID_HANDLE_VALUE) {
        printf("%s: INVALID err=%lu\n", label, (unsigned long)GetLastError());
        return;
    }
    printf("%s: name=%s instances=%lu attributes=%lu", label, fd.cFileName, (unsigned long)fd.nFileSizeLow,
           (unsigned long)fd.dwFileAttributes);
    more = FindNextFileA(f, &fd);
    err = GetLastError();
    if (more) printf(" next=%s", fd.cFileName);
    else printf(" next=FALSE err=%lu", (unsigned long)err);
    printf(" close=%s\n", FindClose(f) ? "TRUE" : "FALSE");
}

int main(void) {
    HANDLE a, b, c;
    find("before", PIPE("listing_Alpha*"));
    a = CreateNamedPipeA(PIPE("listing_Alpha"), PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE, 4, 512, 512, 0, NULL);
    b = CreateNamedPipeA(PIPE("listing_Alpha"), PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE, 4, 512, 512, 0, NULL);
    SHOW_HANDLE("instance 1", a);
    SHOW_HANDLE("instance 2", b);
    find("exact", PIPE("listing_Alpha"));
    find("star", PIPE("listing_Al*"));
    find("case", PIPE("LISTING_ALPHA"));
    find("question", PIPE("listing_Alph?"));
    find("no match", PIPE("listing_Beta*"));
    c = CreateFileA(PIPE("listing_Alpha"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    SHOW_HANDLE("client", c);
    find("with a client", PIPE("listing_Alpha"));
    CloseHandle(c);
    CloseHandle(a);
    CloseHandle(b);
    find("after close", PIPE("listing_Alpha*"));
    return 0;
}
