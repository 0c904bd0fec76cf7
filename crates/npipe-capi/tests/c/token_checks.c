/* Access tokens and accounts as Windows programs use them: PuTTY/Pageant's get_user_sid
 * (OpenProcessToken, GetTokenInformation(TokenUser) size query then fill, GetLengthSid,
 * CopySid) and its descriptor (SetSecurityDescriptorOwner), the other token classes, the token
 * pseudo handles, LookupAccountSid/LookupAccountName against the user and group databases,
 * GetUserName, and what a token handle is not (readable, writable, waitable).
 * Then a pipe server and a client process (this program re-run with "client"): the server
 * reads, impersonates, and asks who the client is (OpenThreadToken, TokenUser, GetUserName,
 * LookupAccountSid), then reverts. As root the client drops to uid and gid 65534 first, so the
 * client's identity differs from the server's; otherwise that part is skipped with a message
 * and the same checks run with the server's own uid.
 * Compiled against <npipe/win32.h> and <sddl.h> by tests/token.rs. */
#include <npipe/win32.h>
#include <sddl.h>
#include <grp.h>
#include <pwd.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "checks.h"

#define OTHER_ID 65534

static char pipe_name[128];

/* The SID string of a token's user (TokenUser), or "" on failure; the caller frees nothing. */
static const char *token_user(HANDLE t, char *out, size_t n) {
    DWORD len = 0;
    TOKEN_USER *tu;
    char *s = NULL;
    out[0] = 0;
    if (GetTokenInformation(t, TokenUser, NULL, 0, &len) || GetLastError() != ERROR_INSUFFICIENT_BUFFER) return out;
    tu = malloc(len);
    if (tu && GetTokenInformation(t, TokenUser, tu, len, &len) && ConvertSidToStringSidA(tu->User.Sid, &s)) {
        snprintf(out, n, "%s", s);
        LocalFree(s);
    }
    free(tu);
    return out;
}

/* The SID string of a TOKEN_OWNER or TOKEN_PRIMARY_GROUP (both one PSID then the SID). */
static const char *token_sid(HANDLE t, TOKEN_INFORMATION_CLASS c, char *out, size_t n) {
    union {
        TOKEN_OWNER owner;
        char bytes[128];
    } u;
    DWORD len = 0;
    char *s = NULL;
    out[0] = 0;
    if (GetTokenInformation(t, c, &u, sizeof u, &len) && ConvertSidToStringSidA(u.owner.Owner, &s)) {
        snprintf(out, n, "%s", s);
        LocalFree(s);
    }
    return out;
}

static DWORD token_dword(HANDLE t, TOKEN_INFORMATION_CLASS c) {
    DWORD v = 0xFFFFFFFF, len = 0;
    if (!GetTokenInformation(t, c, &v, sizeof v, &len) || len != sizeof v) return 0xFFFFFFFF;
    return v;
}

static const char *user_name_of(uid_t uid, char *out, size_t n) {
    struct passwd *pw = getpwuid(uid);
    if (pw) snprintf(out, n, "%s", pw->pw_name);
    else snprintf(out, n, "%u", (unsigned)uid);
    return out;
}

/* 1-...: the process token, PuTTY's way and every class. */
static void process_token(void) {
    HANDLE t = NULL, dup = NULL, ev;
    DWORD len = 0, need, n;
    TOKEN_USER *tu;
    TOKEN_GROUPS *tg;
    PSID sid, copy;
    char *s = NULL, want[64], got[128], name[256], domain[64];
    BYTE small[8];
    SID_NAME_USE use = 0;
    DWORD cn, cd, i;
    int everyone = 0;
    TOKEN_ELEVATION el;
    unsigned uid = (unsigned)geteuid(), gid = (unsigned)getegid();

    printf("1 OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY)\n");
    CHECK(OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &t) && t != NULL && t != INVALID_HANDLE_VALUE,
          "OpenProcessToken");

    printf("2 TokenUser: size query, too small, then filled\n");
    CHECK(!GetTokenInformation(t, TokenUser, NULL, 0, &len) && GetLastError() == ERROR_INSUFFICIENT_BUFFER,
          "size query fails with ERROR_INSUFFICIENT_BUFFER");
    CHECK(len == sizeof(TOKEN_USER) + 16, "TokenUser needs the struct and a two-part SID");
    tu = malloc(len);
    need = len;
    CHECK(!GetTokenInformation(t, TokenUser, tu, need - 1, &len) && GetLastError() == ERROR_INSUFFICIENT_BUFFER &&
              len == need,
          "one byte short: ERROR_INSUFFICIENT_BUFFER and the size");
    CHECK(GetTokenInformation(t, TokenUser, tu, need, &len) && len == need, "TokenUser filled");
    len = 0;
    CHECK(!GetTokenInformation(t, TokenUser, (void *)(UINTPTR_MAX - 7), 0, &len) &&
              GetLastError() == ERROR_INSUFFICIENT_BUFFER && len == need,
          "a length of 0 at an address near the top: only the size (nothing is written there)");
    sid = tu->User.Sid;
    CHECK((char *)sid == (char *)tu + sizeof(TOKEN_USER), "the SID follows the struct in the buffer");
    CHECK(IsValidSid(sid), "a valid SID");
    snprintf(want, sizeof want, "S-1-22-1-%u", uid);
    CHECK(ConvertSidToStringSidA(sid, &s) && strcmp(s, want) == 0, "the user SID is S-1-22-1-<euid>");
    if (s) printf("  user SID %s\n", s);
    LocalFree(s);

    printf("3 GetLengthSid, CopySid, the SID accessors\n");
    CHECK(GetLengthSid(sid) == 16, "GetLengthSid");
    CHECK(!CopySid(sizeof small, small, sid) && GetLastError() == ERROR_INSUFFICIENT_BUFFER, "CopySid too small");
    copy = malloc(GetLengthSid(sid));
    CHECK(CopySid(GetLengthSid(sid), copy, sid) && EqualSid(copy, sid), "CopySid");
    CHECK(!CopySid(16, copy, NULL) && GetLastError() == ERROR_INVALID_SID, "CopySid of NULL");
    CHECK(*GetSidSubAuthorityCount(copy) == 2, "GetSidSubAuthorityCount");
    CHECK(*GetSidSubAuthority(copy, 0) == 1 && *GetSidSubAuthority(copy, 1) == uid, "GetSidSubAuthority");
    CHECK(GetSidSubAuthority(copy, 2) == NULL, "GetSidSubAuthority past the count");
    CHECK(GetSidIdentifierAuthority(copy)->Value[5] == 22 && GetSidIdentifierAuthority(copy)->Value[0] == 0,
          "GetSidIdentifierAuthority");

    printf("4 LookupAccountSid of the user: size query, then the name getpwuid gives\n");
    cn = 0;
    cd = 0;
    CHECK(!LookupAccountSidA(NULL, sid, NULL, &cn, NULL, &cd, &use) && GetLastError() == ERROR_INSUFFICIENT_BUFFER,
          "LookupAccountSidA size query");
    user_name_of(uid, want, sizeof want);
    if (getpwuid(uid)) {
        CHECK(cn == strlen(want) + 1 && cd == strlen("Unix User") + 1, "sizes with the NUL");
        cn = sizeof name;
        cd = sizeof domain;
        CHECK(LookupAccountSidA(NULL, sid, name, &cn, domain, &cd, &use), "LookupAccountSidA");
        CHECK(strcmp(name, want) == 0 && strcmp(domain, "Unix User") == 0 && use == SidTypeUser,
              "Unix User\\<name>, SidTypeUser");
        CHECK(cn == strlen(want) && cd == strlen(domain), "lengths without the NUL");
        printf("  %s\\%s\n", domain, name);
        {
            WCHAR wn[64], wd[64];
            DWORD wcn = 64, wcd = 64;
            CHECK(LookupAccountSidW(NULL, sid, wn, &wcn, wd, &wcd, &use) && wcn == strlen(want) &&
                      wn[0] == (WCHAR)want[0] && wd[0] == 'U' && wd[wcd] == 0,
                  "LookupAccountSidW");
        }
        {
            BYTE sb[64];
            DWORD cb = 0;
            cd = 0;
            CHECK(!LookupAccountNameA(NULL, want, NULL, &cb, NULL, &cd, &use) &&
                      GetLastError() == ERROR_INSUFFICIENT_BUFFER && cb == 16 && cd == strlen("Unix User") + 1,
                  "LookupAccountNameA size query");
            cb = sizeof sb;
            cd = sizeof domain;
            CHECK(LookupAccountNameA(NULL, want, sb, &cb, domain, &cd, &use) && EqualSid(sb, sid) &&
                      use == SidTypeUser && strcmp(domain, "Unix User") == 0,
                  "LookupAccountNameA of the user gives its SID");
        }
    } else {
        printf("  uid %u has no name: ERROR_NONE_MAPPED expected\n", uid);
        CHECK(GetLastError() == ERROR_NONE_MAPPED, "no name");
    }
    {
        PSID other = NULL;
        BYTE sb[64];
        DWORD cb = sizeof sb;
        cn = sizeof name;
        cd = sizeof domain;
        CHECK(ConvertStringSidToSidA("S-1-1-0", &other) &&
                  LookupAccountSidA(NULL, other, name, &cn, domain, &cd, &use) && strcmp(name, "Everyone") == 0 &&
                  domain[0] == 0 && use == SidTypeWellKnownGroup,
              "Everyone is a well-known group");
        cd = sizeof domain;
        CHECK(LookupAccountNameA(NULL, "Everyone", sb, &cb, domain, &cd, &use) && EqualSid(sb, other),
              "LookupAccountNameA(Everyone)");
        /* Qualified names: the domain must be the account's; the W call counts UTF-16 units. */
        {
            static const char *qualified = "builtin\\Administrators";
            WCHAR wq[64], wd[16];
            size_t i;
            for (i = 0; qualified[i]; i++) wq[i] = (WCHAR)qualified[i];
            wq[i] = 0;
            BYTE admins[68]; /* SECURITY_MAX_SID_SIZE */
            DWORD wcb = sizeof admins, wcd = 7;
            CHECK(!LookupAccountNameW(NULL, wq, admins, &wcb, wd, &wcd, &use) &&
                      GetLastError() == ERROR_INSUFFICIENT_BUFFER && wcd == 8,
                  "LookupAccountNameW: a domain buffer without room for the NUL");
            wcb = sizeof admins;
            CHECK(LookupAccountNameW(NULL, wq, admins, &wcb, wd, &wcd, &use) && wcd == 7 && wd[0] == 'B' &&
                      wd[6] == 'N' && wd[7] == 0 && use == SidTypeAlias && wcb == GetLengthSid(admins),
                  "LookupAccountNameW(builtin\\Administrators)");
            PSID ba = NULL;
            CHECK(ConvertStringSidToSidA("BA", &ba) && EqualSid(ba, admins), "it is S-1-5-32-544");
            LocalFree(ba);
            cb = sizeof sb;
            cd = sizeof domain;
            CHECK(!LookupAccountNameA(NULL, "NT AUTHORITY\\Everyone", sb, &cb, domain, &cd, &use) &&
                      GetLastError() == ERROR_NONE_MAPPED,
                  "Everyone is in no domain");
        }
        LocalFree(other);
        other = NULL;
        cn = sizeof name;
        cd = sizeof domain;
        CHECK(ConvertStringSidToSidA("S-1-5-32-544", &other) &&
                  LookupAccountSidA(NULL, other, name, &cn, domain, &cd, &use) &&
                  strcmp(name, "Administrators") == 0 && strcmp(domain, "BUILTIN") == 0 && use == SidTypeAlias,
              "BUILTIN\\Administrators");
        LocalFree(other);
        other = NULL;
        cn = sizeof name;
        cd = sizeof domain;
        CHECK(ConvertStringSidToSidA("S-1-5-21-1-2-3-1001", &other) &&
                  !LookupAccountSidA(NULL, other, name, &cn, domain, &cd, &use) &&
                  GetLastError() == ERROR_NONE_MAPPED,
              "a domain SID is ERROR_NONE_MAPPED");
        cn = sizeof name;
        cd = sizeof domain;
        CHECK(!LookupAccountSidA("otherhost", other, name, &cn, domain, &cd, &use) &&
                  GetLastError() == RPC_S_SERVER_UNAVAILABLE,
              "another machine cannot be asked");
        LocalFree(other);
        other = NULL;
        cb = sizeof sb;
        cd = sizeof domain;
        CHECK(!LookupAccountNameA(NULL, "no-such-account-npipe", sb, &cb, domain, &cd, &use) &&
                  GetLastError() == ERROR_NONE_MAPPED,
              "LookupAccountNameA of nobody known");
        cn = sizeof name;
        cd = sizeof domain;
        CHECK(ConvertStringSidToSidA("S-1-22-2-0", &other) &&
                  LookupAccountSidA(NULL, other, name, &cn, domain, &cd, &use) && strcmp(domain, "Unix Group") == 0 &&
                  use == SidTypeGroup && getgrgid(0) && strcmp(name, getgrgid(0)->gr_name) == 0,
              "group 0 is Unix Group\\<its name>");
        LocalFree(other);
    }

    printf("5 TokenGroups, TokenOwner, TokenPrimaryGroup\n");
    len = 0;
    CHECK(!GetTokenInformation(t, TokenGroups, NULL, 0, &len) && GetLastError() == ERROR_INSUFFICIENT_BUFFER,
          "TokenGroups size query");
    tg = malloc(len);
    CHECK(GetTokenInformation(t, TokenGroups, tg, len, &len) && tg->GroupCount >= 2, "TokenGroups");
    snprintf(want, sizeof want, "S-1-22-2-%u", gid);
    s = NULL;
    CHECK(ConvertSidToStringSidA(tg->Groups[0].Sid, &s) && strcmp(s, want) == 0 &&
              tg->Groups[0].Attributes == (SE_GROUP_MANDATORY | SE_GROUP_ENABLED_BY_DEFAULT | SE_GROUP_ENABLED),
          "the primary group first, enabled");
    LocalFree(s);
    for (i = 0; i < tg->GroupCount; i++) {
        s = NULL;
        if (!IsValidSid(tg->Groups[i].Sid) || (char *)tg->Groups[i].Sid < (char *)tg ||
            (char *)tg->Groups[i].Sid >= (char *)tg + len)
            everyone = -1000;
        if (ConvertSidToStringSidA(tg->Groups[i].Sid, &s) && strcmp(s, "S-1-1-0") == 0) everyone++;
        LocalFree(s);
    }
    CHECK(everyone == 1, "every group SID valid and in the buffer; Everyone listed once");
    free(tg);
    CHECK(strcmp(token_sid(t, TokenPrimaryGroup, got, sizeof got), want) == 0, "TokenPrimaryGroup");
    snprintf(want, sizeof want, "S-1-22-1-%u", uid);
    CHECK(strcmp(token_sid(t, TokenOwner, got, sizeof got), want) == 0, "TokenOwner is the user");

    printf("6 TokenType, TokenElevation, TokenSessionId, TokenImpersonationLevel, other classes\n");
    CHECK(token_dword(t, TokenType) == TokenPrimary, "TokenType is TokenPrimary");
    len = 0;
    CHECK(GetTokenInformation(t, TokenElevation, &el, sizeof el, &len) && len == sizeof el &&
              el.TokenIsElevated == (geteuid() == 0),
          "TokenElevation: elevated as root only");
    CHECK(token_dword(t, TokenSessionId) == (DWORD)getsid(0), "TokenSessionId is the Linux session");
    CHECK(!GetTokenInformation(t, TokenImpersonationLevel, &n, sizeof n, &len) &&
              GetLastError() == ERROR_INVALID_PARAMETER,
          "TokenImpersonationLevel of a primary token");
    CHECK(!GetTokenInformation(t, TokenPrivileges, got, sizeof got, &len) && GetLastError() == ERROR_INVALID_PARAMETER,
          "TokenPrivileges is not provided");
    CHECK(!GetTokenInformation(t, (TOKEN_INFORMATION_CLASS)1000, got, sizeof got, &len) &&
              GetLastError() == ERROR_INVALID_PARAMETER,
          "an unknown class");
    CHECK(!GetTokenInformation(t, TokenType, &n, sizeof n, NULL) && GetLastError() == ERROR_NOACCESS,
          "a NULL ReturnLength");
    CHECK(!GetTokenInformation(t, TokenType, NULL, 4, &len) && GetLastError() == ERROR_NOACCESS,
          "a NULL buffer with a length");

    printf("7 a token is no file and not waitable; DuplicateHandle, CloseHandle\n");
    CHECK(!ReadFile(t, got, 4, &n, NULL) && GetLastError() == ERROR_INVALID_HANDLE, "ReadFile on a token");
    CHECK(!WriteFile(t, "x", 1, &n, NULL) && GetLastError() == ERROR_INVALID_HANDLE, "WriteFile on a token");
    CHECK(WaitForSingleObject(t, 0) == WAIT_FAILED && GetLastError() == ERROR_INVALID_HANDLE,
          "WaitForSingleObject on a token");
    ev = CreateEventA(NULL, TRUE, TRUE, NULL);
    {
        HANDLE two[2] = {ev, t};
        CHECK(WaitForMultipleObjects(2, two, FALSE, 0) == WAIT_FAILED && GetLastError() == ERROR_INVALID_HANDLE,
              "WaitForMultipleObjects with a token");
    }
    CHECK(DuplicateHandle(GetCurrentProcess(), t, GetCurrentProcess(), &dup, 0, FALSE, DUPLICATE_SAME_ACCESS),
          "DuplicateHandle of a token");
    CHECK(CloseHandle(t), "CloseHandle of the token");
    CHECK(strcmp(token_user(dup, got, sizeof got), want) == 0, "the duplicate still answers");
    CHECK(CloseHandle(dup), "CloseHandle of the duplicate");
    CHECK(!GetTokenInformation(dup, TokenType, &n, sizeof n, &len) && GetLastError() == ERROR_INVALID_HANDLE,
          "a closed token handle");

    printf("8 bad handles and pointers, access, pseudo handles\n");
    CHECK(!OpenProcessToken((HANDLE)(intptr_t)0x4444, TOKEN_QUERY, &t) && GetLastError() == ERROR_INVALID_HANDLE,
          "OpenProcessToken of no handle");
    CHECK(!OpenProcessToken(ev, TOKEN_QUERY, &t) && GetLastError() == ERROR_INVALID_HANDLE,
          "OpenProcessToken of an event");
    CHECK(!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, NULL) && GetLastError() == ERROR_NOACCESS,
          "OpenProcessToken with a NULL out pointer");
    CHECK(!GetTokenInformation(ev, TokenUser, got, sizeof got, &len) && GetLastError() == ERROR_INVALID_HANDLE,
          "GetTokenInformation on an event");
    CHECK(!GetTokenInformation(NULL, TokenUser, got, sizeof got, &len) && GetLastError() == ERROR_INVALID_HANDLE,
          "GetTokenInformation on NULL");
    CHECK(OpenProcessToken(GetCurrentProcess(), TOKEN_DUPLICATE, &t), "a token without TOKEN_QUERY");
    CHECK(!GetTokenInformation(t, TokenType, &n, sizeof n, &len) && GetLastError() == ERROR_ACCESS_DENIED,
          "querying it is ERROR_ACCESS_DENIED");
    CloseHandle(t);
    CHECK(strcmp(token_user(GetCurrentProcessToken(), got, sizeof got), want) == 0, "GetCurrentProcessToken()");
    CHECK(!GetTokenInformation(GetCurrentThreadToken(), TokenType, &n, sizeof n, &len) &&
              GetLastError() == ERROR_NO_TOKEN,
          "GetCurrentThreadToken() without impersonation");
    CHECK(token_dword(GetCurrentThreadEffectiveToken(), TokenType) == TokenPrimary,
          "GetCurrentThreadEffectiveToken() is the process token");
    CHECK(!OpenThreadToken(GetCurrentThread(), TOKEN_QUERY, TRUE, &t) && GetLastError() == ERROR_NO_TOKEN,
          "OpenThreadToken without impersonation: ERROR_NO_TOKEN");
    CHECK(!OpenThreadToken(GetCurrentThread(), TOKEN_QUERY, FALSE, NULL) && GetLastError() == ERROR_NOACCESS,
          "OpenThreadToken with a NULL out pointer");
    CHECK(!OpenThreadToken(ev, TOKEN_QUERY, TRUE, &t) && GetLastError() == ERROR_INVALID_HANDLE,
          "OpenThreadToken of an event");
    CloseHandle(ev);

    printf("9 GetUserName\n");
    user_name_of(uid, want, sizeof want);
    n = 0;
    CHECK(!GetUserNameA(NULL, &n) && GetLastError() == ERROR_INSUFFICIENT_BUFFER && n == strlen(want) + 1,
          "GetUserNameA size query");
    n = (DWORD)strlen(want);
    CHECK(!GetUserNameA(name, &n) && GetLastError() == ERROR_INSUFFICIENT_BUFFER, "no room for the NUL");
    n = sizeof name;
    CHECK(GetUserNameA(name, &n) && strcmp(name, want) == 0 && n == strlen(want) + 1, "GetUserNameA");
    {
        WCHAR w[64];
        DWORD wn = 64;
        CHECK(GetUserNameW(w, &wn) && wn == strlen(want) + 1 && w[0] == (WCHAR)want[0] && w[wn - 1] == 0,
              "GetUserNameW");
        wn = 0;
        CHECK(!GetUserNameW(NULL, &wn) && wn == strlen(want) + 1, "GetUserNameW size query");
    }
    CHECK(!GetUserNameA(name, NULL) && GetLastError() == ERROR_NOACCESS, "GetUserNameA with a NULL count");

    printf("10 a private descriptor owned by the user (PuTTY), and the owner read back\n");
    {
        SECURITY_DESCRIPTOR sd;
        SECURITY_ATTRIBUTES sa = {sizeof sa, &sd, FALSE};
        PSID o = NULL, g = NULL;
        BOOL def = TRUE;
        PSECURITY_DESCRIPTOR rel = NULL;
        HANDLE p;
        CHECK(InitializeSecurityDescriptor(&sd, SECURITY_DESCRIPTOR_REVISION), "InitializeSecurityDescriptor");
        CHECK(GetSecurityDescriptorOwner(&sd, &o, &def) && o == NULL && !def, "no owner yet");
        CHECK(SetSecurityDescriptorOwner(&sd, copy, FALSE), "SetSecurityDescriptorOwner");
        CHECK(GetSecurityDescriptorOwner(&sd, &o, &def) && o == copy && !def, "GetSecurityDescriptorOwner");
        CHECK(SetSecurityDescriptorGroup(&sd, copy, TRUE) && GetSecurityDescriptorGroup(&sd, &g, &def) && g == copy &&
                  def,
              "the group, defaulted");
        CHECK(!GetSecurityDescriptorOwner(&sd, NULL, &def) && GetLastError() == ERROR_NOACCESS,
              "GetSecurityDescriptorOwner with a NULL out pointer");
        CHECK(SetSecurityDescriptorDacl(&sd, TRUE, NULL, FALSE), "a NULL DACL");
        snprintf(name, sizeof name, "\\\\.\\pipe\\npipe-c-token-owned-%d", (int)getpid());
        p = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE, 1, 512, 512, 0, &sa);
        CHECK(p != INVALID_HANDLE_VALUE, "CreateNamedPipe with an owner in the descriptor");
        CloseHandle(p);
        CHECK(ConvertStringSecurityDescriptorToSecurityDescriptorA("O:S-1-22-1-0G:S-1-22-2-0D:(A;;GA;;;WD)",
                                                                   SDDL_REVISION_1, &rel, NULL),
              "a self-relative descriptor");
        s = NULL;
        CHECK(rel && GetSecurityDescriptorOwner(rel, &o, &def) && ConvertSidToStringSidA(o, &s) &&
                  strcmp(s, "S-1-22-1-0") == 0,
              "its owner read back");
        LocalFree(s);
        s = NULL;
        CHECK(rel && GetSecurityDescriptorGroup(rel, &g, &def) && ConvertSidToStringSidA(g, &s) &&
                  strcmp(s, "S-1-22-2-0") == 0,
              "its group read back");
        LocalFree(s);
        CHECK(!SetSecurityDescriptorOwner(rel, copy, FALSE) && GetLastError() == ERROR_INVALID_SECURITY_DESCR,
              "a self-relative descriptor cannot be changed");
        LocalFree(rel);
    }

    printf("11 the UTF-16 SID strings\n");
    {
        WCHAR *w = NULL;
        PSID back = NULL;
        CHECK(ConvertSidToStringSidW(copy, &w) && w[0] == 'S' && w[1] == '-', "ConvertSidToStringSidW");
        CHECK(w && ConvertStringSidToSidW(w, &back) && EqualSid(back, copy), "ConvertStringSidToSidW round trip");
        LocalFree(w);
        LocalFree(back);
    }

    printf("12 another process's token: its effective uid\n");
    {
        STARTUPINFOA si;
        PROCESS_INFORMATION pi;
        char cmd[] = "sleep 2";
        memset(&si, 0, sizeof si);
        si.cb = sizeof si;
        if (CreateProcessA(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi)) {
            snprintf(want, sizeof want, "S-1-22-1-%u", uid);
            CHECK(OpenProcessToken(pi.hProcess, TOKEN_QUERY, &t), "OpenProcessToken of a child");
            CHECK(strcmp(token_user(t, got, sizeof got), want) == 0, "the child's user");
            CHECK(token_dword(t, TokenType) == TokenPrimary, "a primary token");
            CloseHandle(t);
            WaitForSingleObject(pi.hProcess, INFINITE);
            CloseHandle(pi.hProcess);
            CloseHandle(pi.hThread);
        } else {
            CHECK(0, "CreateProcessA(sleep 2)");
        }
    }
    free(copy);
    free(tu);
}

/* The client process: as root it becomes uid and gid 65534 first; it writes "hi" and reads
 * the server's "ok". Exit 0 when all went well. */
static int client(const char *name) {
    HANDLE c = INVALID_HANDLE_VALUE;
    DWORD n;
    char b[4];
    int i;
    if (geteuid() == 0) {
        if (setgroups(0, NULL) != 0 || setgid(OTHER_ID) != 0 || setuid(OTHER_ID) != 0) return 10;
    }
    for (i = 0; i < 500 && c == INVALID_HANDLE_VALUE; i++) {
        c = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
        if (c == INVALID_HANDLE_VALUE) usleep(10000);
    }
    if (c == INVALID_HANDLE_VALUE) return 11;
    if (!WriteFile(c, "hi", 2, &n, NULL)) return 12;
    if (!ReadFile(c, b, 2, &n, NULL) || n != 2 || memcmp(b, "ok", 2) != 0) return 13;
    CloseHandle(c);
    return 0;
}

/* 20-...: a server asks who its client (another process) is while impersonating it. */
/* What a thread started by an impersonating thread finds itself to be. */
struct probe {
    unsigned fsuid;
    int no_token;
    int named;
    char name[64];
};

static DWORD WINAPI thread_probe(LPVOID p) {
    struct probe *r = p;
    HANDLE t = NULL;
    DWORD n = sizeof r->name;
    /* setfsuid(-1) is always refused and returns the current fsuid. */
    r->fsuid = (unsigned)syscall(SYS_setfsuid, -1);
    r->no_token = !OpenThreadToken(GetCurrentThread(), TOKEN_QUERY, TRUE, &t) && GetLastError() == ERROR_NO_TOKEN;
    if (t) CloseHandle(t);
    r->named = GetUserNameA(r->name, &n);
    return 0;
}

static void server(const char *self) {
    SECURITY_DESCRIPTOR sd;
    SECURITY_ATTRIBUTES sa = {sizeof sa, &sd, FALSE};
    STARTUPINFOA si;
    PROCESS_INFORMATION pi;
    HANDLE s, tt = NULL, pt = NULL;
    char cmd[512], b[4], want[64], got[128], name[128], domain[64], own[64], client_name[64];
    DWORD n, cn, cd, code = 99, level = 0, len = 0;
    SID_NAME_USE use = 0;
    BOOL ok;
    int root = geteuid() == 0;
    unsigned client_uid = root ? OTHER_ID : (unsigned)geteuid();
    unsigned client_gid = root ? OTHER_ID : (unsigned)getegid();

    if (!root) printf("different-uid checks skipped (need root): the client runs as this uid\n");
    InitializeSecurityDescriptor(&sd, SECURITY_DESCRIPTOR_REVISION);
    SetSecurityDescriptorDacl(&sd, TRUE, NULL, FALSE);
    s = CreateNamedPipeA(pipe_name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE, 1, 512, 512, 0, &sa);
    printf("20 a pipe everyone may open, and a client process%s\n", root ? " of uid 65534" : "");
    CHECK(s != INVALID_HANDLE_VALUE, "CreateNamedPipeA");
    snprintf(cmd, sizeof cmd, "%s client %s", self, pipe_name);
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    CHECK(CreateProcessA(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi), "CreateProcessA the client");
    ok = ConnectNamedPipe(s, NULL) || GetLastError() == ERROR_PIPE_CONNECTED;
    CHECK(ok && ReadFile(s, b, 2, &n, NULL) && n == 2, "the client wrote");

    printf("21 impersonating: the thread token is the client's\n");
    CHECK(!OpenThreadToken(GetCurrentThread(), TOKEN_QUERY, TRUE, &tt) && GetLastError() == ERROR_NO_TOKEN,
          "no thread token before impersonating");
    CHECK(ImpersonateNamedPipeClient(s), "ImpersonateNamedPipeClient");
    CHECK(OpenThreadToken(GetCurrentThread(), TOKEN_QUERY, TRUE, &tt), "OpenThreadToken(..., TRUE)");
    snprintf(want, sizeof want, "S-1-22-1-%u", client_uid);
    CHECK(strcmp(token_user(tt, got, sizeof got), want) == 0, "TokenUser is the client's uid");
    printf("  thread token user %s\n", got);
    snprintf(want, sizeof want, "S-1-22-2-%u", client_gid);
    CHECK(strcmp(token_sid(tt, TokenPrimaryGroup, got, sizeof got), want) == 0, "TokenPrimaryGroup is the client's gid");
    CHECK(token_dword(tt, TokenType) == TokenImpersonation, "TokenType is TokenImpersonation");
    CHECK(GetTokenInformation(tt, TokenImpersonationLevel, &level, sizeof level, &len) &&
              level == SecurityImpersonation,
          "TokenImpersonationLevel is SecurityImpersonation");
    CHECK(token_dword(tt, TokenElevation) == (client_uid == 0), "TokenElevation of the client");
    snprintf(want, sizeof want, "S-1-22-1-%u", client_uid);
    CHECK(strcmp(token_user(GetCurrentThreadEffectiveToken(), got, sizeof got), want) == 0,
          "GetCurrentThreadEffectiveToken() is the client");
    CHECK(token_dword(GetCurrentThreadToken(), TokenType) == TokenImpersonation, "GetCurrentThreadToken()");
    snprintf(want, sizeof want, "S-1-22-1-%u", (unsigned)geteuid());
    CHECK(OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &pt) && strcmp(token_user(pt, got, sizeof got), want) == 0,
          "the process token is still the server's");
    CloseHandle(pt);
    user_name_of(client_uid, client_name, sizeof client_name);
    n = sizeof name;
    CHECK(GetUserNameA(name, &n) && strcmp(name, client_name) == 0, "GetUserName names the client");
    printf("  GetUserName while impersonating: %s\n", name);
    if (getpwuid(client_uid)) {
        union {
            TOKEN_USER tu;
            char bytes[64];
        } u;
        cn = sizeof name;
        cd = sizeof domain;
        CHECK(GetTokenInformation(tt, TokenUser, &u, sizeof u, &len) &&
                  LookupAccountSidA(NULL, u.tu.User.Sid, name, &cn, domain, &cd, &use) &&
                  strcmp(name, client_name) == 0 && use == SidTypeUser,
              "LookupAccountSid of the client's SID");
    }

    {
        struct probe r;
        HANDLE th;
        memset(&r, 0, sizeof r);
        printf("21b a thread started while impersonating runs as the process (Windows: the process token)\n");
        th = CreateThread(NULL, 0, thread_probe, &r, 0, NULL);
        CHECK(th != NULL && WaitForSingleObject(th, 10000) == WAIT_OBJECT_0, "CreateThread while impersonating");
        if (th) CloseHandle(th);
        CHECK(r.fsuid == (unsigned)geteuid(), "the new thread's fsuid is the process's");
        if (r.fsuid != (unsigned)geteuid()) printf("  new thread's fsuid %u\n", r.fsuid);
        CHECK(r.no_token, "the new thread has no thread token (ERROR_NO_TOKEN)");
        user_name_of(geteuid(), own, sizeof own);
        CHECK(r.named && strcmp(r.name, own) == 0, "GetUserName in the new thread names the server");
        n = sizeof name;
        CHECK(GetUserNameA(name, &n) && strcmp(name, client_name) == 0, "the creating thread still impersonates");
    }

    printf("22 RevertToSelf: the server again\n");
    CHECK(RevertToSelf(), "RevertToSelf");
    user_name_of(geteuid(), own, sizeof own);
    n = sizeof name;
    CHECK(GetUserNameA(name, &n) && strcmp(name, own) == 0, "GetUserName names the server");
    CHECK(!OpenThreadToken(GetCurrentThread(), TOKEN_QUERY, TRUE, &pt) && GetLastError() == ERROR_NO_TOKEN,
          "no thread token after RevertToSelf");
    snprintf(want, sizeof want, "S-1-22-1-%u", client_uid);
    CHECK(strcmp(token_user(tt, got, sizeof got), want) == 0, "the token opened before still names the client");
    CloseHandle(tt);
    CHECK(WriteFile(s, "ok", 2, &n, NULL), "answer the client");
    CHECK(WaitForSingleObject(pi.hProcess, 30000) == WAIT_OBJECT_0 && GetExitCodeProcess(pi.hProcess, &code) &&
              code == 0,
          "the client process succeeded");
    if (code != 0) printf("  client exit code %lu\n", (unsigned long)code);
    CloseHandle(pi.hProcess);
    CloseHandle(pi.hThread);
    CloseHandle(s);
}

/* Calls made in a thread's teardown, after the library's own thread-locals are gone (glibc runs
 * C++ and Rust thread-local destructors before pthread key destructors): they answer as for a
 * thread that does not impersonate, and never abort the process. */
static pthread_key_t teardown_key;
static volatile int teardown_name_ok = -1, teardown_token_ok = -1;

static void teardown_dtor(void *arg) {
    (void)arg;
    char name[256];
    DWORD n = sizeof name;
    teardown_name_ok = GetUserNameA(name, &n) && strlen(name) + 1 == n;
    HANDLE t = NULL;
    teardown_token_ok = OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &t) && CloseHandle(t);
}

static void *teardown_thread(void *arg) {
    (void)arg;
    char name[256];
    DWORD n = sizeof name;
    /* Makes the library's per-thread impersonation record, whose destructor then runs at exit. */
    CHECK(GetUserNameA(name, &n), "GetUserNameA in a thread");
    pthread_setspecific(teardown_key, (void *)1);
    return NULL;
}

static void teardown_calls(void) {
    pthread_t th;
    CHECK(pthread_key_create(&teardown_key, teardown_dtor) == 0, "pthread_key_create");
    CHECK(pthread_create(&th, NULL, teardown_thread, NULL) == 0, "pthread_create");
    pthread_join(th, NULL);
    CHECK(teardown_name_ok == 1, "GetUserNameA in a pthread key destructor");
    CHECK(teardown_token_ok == 1, "OpenProcessToken in a pthread key destructor");
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "client") == 0) return client(argv[2]);
    snprintf(pipe_name, sizeof pipe_name, "\\\\.\\pipe\\npipe-c-token-%d", (int)getpid());
    process_token();
    teardown_calls();
    server(argv[0]);
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
