/* close_wake.c: checks, inside a winelib process like the bridge, that npipe's CloseHandle ends
 * a synchronous call blocked on the same handle in another (Wine) thread, and that the peer sees
 * the close (the hardening the bridge's notes asked for; the bridge itself stops its pumps with
 * events, because npipe reuses handle values). Prints PASS/FAIL lines; exit status = FAILs.
 * Wine half: threads and timing; npipe half: close_wake_np.c. */
#include <windows.h>

#include <stdint.h>
#include <stdio.h>

int cw_setup(const char *path);
uint32_t cw_blocked_read(void);
int cw_close_client(void);
uint32_t cw_server_read(void);

static volatile uint32_t read_err = 0xffffffff;

static DWORD WINAPI reader(void *arg) {
    (void)arg;
    read_err = cw_blocked_read();
    return 0;
}

int main(int argc, char **argv) {
    int fails = 0;
    char path[200];
    setvbuf(stdout, NULL, _IONBF, 0);
    snprintf(path, sizeof path, "\\\\.\\pipe\\%s", argc > 1 ? argv[1] : "close-wake");
    if (!cw_setup(path)) {
        printf("FAIL close_wake: setup\n");
        return 1;
    }
    HANDLE t = CreateThread(NULL, 0, reader, NULL, 0, NULL);
    Sleep(200); /* the reader is blocked in ReadFile by now */
    DWORD t0 = GetTickCount();
    int closed = cw_close_client();
    DWORD w = WaitForSingleObject(t, 2000);
    DWORD dt = GetTickCount() - t0;
    int ok = closed && w == WAIT_OBJECT_0 && read_err != 0;
    printf("%s CloseHandle of an npipe end wakes a ReadFile blocked on it in another Wine thread "
           "(after %lu ms, error %u)\n",
           ok ? "PASS" : "FAIL", (unsigned long)dt, (unsigned)read_err);
    fails += !ok;
    uint32_t e = cw_server_read();
    printf("%s the peer sees the close: ReadFile fails with ERROR_BROKEN_PIPE (got %u)\n", e == 109 ? "PASS" : "FAIL",
           (unsigned)e);
    fails += e != 109;
    return fails;
}
