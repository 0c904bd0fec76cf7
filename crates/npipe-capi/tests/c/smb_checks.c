/* The SMB exposure through the C ABI, without Samba: this program plays smbd on the socket
 * that npipe_ExposeNamedPipeSmbA binds in a scratch np directory (a level-7 request built here
 * in smbd 4.17's layout, for uid 1001 from 192.0.2.7), and checks what the pipe's server sees
 * (GetNamedPipeClientComputerName, the client process id), PIPE_REJECT_REMOTE_CLIENTS, the
 * refused names and npipe_UnexposeNamedPipeSmbA. Prints "N passed, M failed". */
#include <windows.h>
#include <sddl.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "checks.h"

static unsigned char req[1024];
static size_t req_len;

static void put32(uint32_t x) {
    memcpy(req + req_len, &x, 4);
    req_len += 4;
}
static void align(size_t to) {
    while (req_len % to) req[req_len++] = 0;
}
static void put_bytes(const void *b, size_t n) {
    memcpy(req + req_len, b, n);
    req_len += n;
}
static void put_string(const char *s) {
    uint32_t n = (uint32_t)strlen(s) + 1;
    align(4);
    put32(n);
    put32(0);
    put32(n);
    put_bytes(s, n);
}

/* smbd's request (little-endian host assumed, as on every platform npipe supports). */
static void build_request(void) {
    static const unsigned char flags_sid[8] = {1, 2, 0, 0, 0, 0, 0, 22};
    unsigned char key[16], guid[16], zeros[56] = {0};
    uint64_t ids[4] = {1001, 1001, 1, 1001};
    uint32_t head[] = {7, 7, 1, 0, 0x20004, 40000, 0, 0, 445, 0x20008};
    uint32_t info[] = {0x2001c, 0, 0, 0x20020, 0, 0, 0, 0, 0, 0, 0};
    memset(key, 0xAA, sizeof key);
    memset(guid, 0x11, sizeof guid);
    req_len = 4;
    put_bytes("NPAM", 4);
    for (size_t i = 0; i < sizeof head / 4; i++) put32(head[i]);
    put_string("192.0.2.7");
    align(4);
    put32(0x2000c); put32(0);
    put32(0x20010); put32(0x20014); put32(0x20018); put32(0); put32(0); put32(16);
    put_bytes(key, 16);
    put32(0);
    put_bytes(guid, 16);
    align(8);
    put32(2); put32(2);
    put_bytes(flags_sid, 8); /* S-1-22-1-1001: the Unix user (same authority as the flags SID) */
    put32(1); put32(1001);
    put_bytes(flags_sid, 8);
    put32(2041152804u); put32(0);
    align(8);
    put_bytes(zeros, 12);
    put32(1);
    align(8);
    put_bytes(ids, sizeof ids);
    for (size_t i = 0; i < sizeof info / 4; i++) put32(info[i]);
    put_bytes(zeros, 56);
    put32(1);
    put_string("user");
    put_string("DOMAIN");
    uint32_t l = (uint32_t)(req_len - 4);
    req[0] = (unsigned char)(l >> 24); req[1] = (unsigned char)(l >> 16);
    req[2] = (unsigned char)(l >> 8); req[3] = (unsigned char)l;
}

/* Connects to the socket as smbd, sends the request; returns the socket, or -1. */
static int smbd_connect(const char *path) {
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) return -1;
    if (write(fd, req, req_len) != (ssize_t)req_len) return -1;
    return fd;
}

static int read_full(int fd, unsigned char *b, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, b + got, n - got);
        if (r <= 0) return 0;
        got += (size_t)r;
    }
    return 1;
}

int main(void) {
    char dir[] = "/tmp/npipe-smb-checks-XXXXXX", np[128], name[128], reject[128], path[256];
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, FALSE};
    unsigned char reply[36], buf[64];
    char host[64];
    WCHAR whost[64];
    DWORD n = 0;
    ULONG pid = 0;
    if (!mkdtemp(dir)) {
        printf("cannot make a scratch directory\n");
        return 2;
    }
    snprintf(np, sizeof np, "%s/np", dir);
    snprintf(name, sizeof name, "\\\\.\\pipe\\NPipe-C-SMB-%d", (int)getpid());
    snprintf(reject, sizeof reject, "\\\\.\\pipe\\npipe-c-smb-reject-%d", (int)getpid());
    build_request();
    CHECK(ConvertStringSecurityDescriptorToSecurityDescriptorA("D:(A;;GA;;;WD)", 1, &sa.lpSecurityDescriptor, NULL),
          "everyone descriptor");

    HANDLE s = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE, 1, 4096, 4096,
                                0, &sa);
    CHECK(s != INVALID_HANDLE_VALUE, "CreateNamedPipeA");
    SetLastError(0);
    CHECK(!npipe_ExposeNamedPipeSmbA("\\\\.\\pipe\\npipe-c-smb-not-served", np) &&
              GetLastError() == ERROR_FILE_NOT_FOUND,
          "a pipe this process does not serve");
    CHECK(npipe_ExposeNamedPipeSmbA(name, np), "npipe_ExposeNamedPipeSmbA");
    snprintf(path, sizeof path, "%s/npipe-c-smb-%d", np, (int)getpid());
    struct stat st;
    CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode), "socket at np/<name lowercased>");
    CHECK(stat(np, &st) == 0 && (st.st_mode & 0777) == 0700, "np directory made 0700");
    SetLastError(0);
    CHECK(!npipe_ExposeNamedPipeSmbA(name, np) && GetLastError() == ERROR_ALREADY_EXISTS, "exposed twice");
    HANDLE lsa = CreateNamedPipeA("\\\\.\\pipe\\lsarpc", PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE, 1, 512, 512, 0, NULL);
    SetLastError(0);
    CHECK(!npipe_ExposeNamedPipeSmbA("\\\\.\\pipe\\lsarpc", np) && GetLastError() == ERROR_INVALID_NAME,
          "Samba's own pipe name refused");
    CloseHandle(lsa);

    /* A remote client. */
    SetLastError(0);
    CHECK(!GetNamedPipeClientComputerNameA(s, host, sizeof host) && GetLastError() == ERROR_PIPE_LOCAL,
          "no client yet: ERROR_PIPE_LOCAL");
    int fd = smbd_connect(path);
    CHECK(fd >= 0, "connect as smbd");
    CHECK(read_full(fd, reply, sizeof reply) && memcmp(reply, "\0\0\0\x20NPAM\x07\0\0\0\x07\0\0\0\x02\0", 18) == 0,
          "36-byte reply, level 7, message mode");
    CHECK(ConnectNamedPipe(s, NULL) || GetLastError() == ERROR_PIPE_CONNECTED, "ConnectNamedPipe");
    CHECK(write(fd, "\x03\0abc", 5) == 5, "frame to the pipe");
    CHECK(ReadFile(s, buf, sizeof buf, &n, NULL) && n == 3 && memcmp(buf, "abc", 3) == 0, "one frame, one message");
    CHECK(WriteFile(s, "xyz!", 4, &n, NULL) && n == 4, "WriteFile");
    CHECK(read_full(fd, buf, 6) && memcmp(buf, "\x04\0xyz!", 6) == 0, "one message, one frame");
    CHECK(GetNamedPipeClientComputerNameA(s, host, sizeof host) && strcmp(host, "192.0.2.7") == 0,
          "GetNamedPipeClientComputerNameA: the client's address");
    SetLastError(0);
    CHECK(!GetNamedPipeClientComputerNameA(s, host, 5) && GetLastError() == ERROR_INSUFFICIENT_BUFFER,
          "short buffer");
    CHECK(GetNamedPipeClientComputerNameW(s, whost, sizeof whost) && whost[0] == '1' && whost[9] == 0,
          "GetNamedPipeClientComputerNameW");
    SetLastError(0);
    CHECK(!GetNamedPipeClientProcessId(s, &pid) && GetLastError() == ERROR_NOT_FOUND, "no process id for SMB");
    close(fd);
    CHECK(!ReadFile(s, buf, sizeof buf, &n, NULL) && GetLastError() == ERROR_BROKEN_PIPE, "smbd's EOF: client closed");
    CHECK(DisconnectNamedPipe(s), "DisconnectNamedPipe");

    /* PIPE_REJECT_REMOTE_CLIENTS: the handshake is closed unanswered (so the SMB open itself
       fails) and the instance stays free. */
    HANDLE r = CreateNamedPipeA(reject, PIPE_ACCESS_DUPLEX,
                                PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_REJECT_REMOTE_CLIENTS, 1, 4096, 4096,
                                0, &sa);
    CHECK(r != INVALID_HANDLE_VALUE, "CreateNamedPipeA with PIPE_REJECT_REMOTE_CLIENTS");
    CHECK(npipe_ExposeNamedPipeSmbA(reject, np), "expose the rejecting pipe");
    snprintf(path, sizeof path, "%s/npipe-c-smb-reject-%d", np, (int)getpid());
    fd = smbd_connect(path);
    CHECK(fd >= 0 && read(fd, reply, sizeof reply) == 0, "closed unanswered: the remote client is rejected");
    if (fd >= 0) close(fd);
    HANDLE c = CreateFileA(reject, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    CHECK(c != INVALID_HANDLE_VALUE, "a local client still gets the instance");
    CloseHandle(c);

    CHECK(npipe_UnexposeNamedPipeSmbA(reject), "npipe_UnexposeNamedPipeSmbA");
    CHECK(stat(path, &st) != 0, "socket removed");
    SetLastError(0);
    CHECK(!npipe_UnexposeNamedPipeSmbA(reject) && GetLastError() == ERROR_FILE_NOT_FOUND, "not exposed any more");
    CHECK(npipe_UnexposeNamedPipeSmbA(name), "unexpose the first pipe");
    CloseHandle(r);
    CloseHandle(s);
    LocalFree(sa.lpSecurityDescriptor);
    {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0) printf("cannot remove %s\n", dir);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
