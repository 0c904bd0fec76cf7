/* The child of redirect_parent, written the way Microsoft's documented sample child is: it
 * copies GetStdHandle(STD_INPUT_HANDLE) to GetStdHandle(STD_OUTPUT_HANDLE) with ReadFile and
 * WriteFile until its input pipe ends, after a line printed with printf. */
#include <windows.h>
#include <stdio.h>

#define BUFSIZE 4096

int main(void) {
    CHAR chBuf[BUFSIZE];
    DWORD dwRead, dwWritten;
    HANDLE hStdin, hStdout;
    BOOL bSuccess;

    hStdout = GetStdHandle(STD_OUTPUT_HANDLE);
    hStdin = GetStdHandle(STD_INPUT_HANDLE);
    if ((hStdout == INVALID_HANDLE_VALUE) || (hStdin == INVALID_HANDLE_VALUE)) ExitProcess(1);

    printf("\n ** This is a message from the child process. ** \n");
    fflush(stdout);

    for (;;) {
        bSuccess = ReadFile(hStdin, chBuf, BUFSIZE, &dwRead, NULL);
        if (!bSuccess || dwRead == 0) break;
        bSuccess = WriteFile(hStdout, chBuf, dwRead, &dwWritten, NULL);
        if (!bSuccess) break;
    }
    return 0;
}
