/* Security through libnpipe: SIDs, ACLs, security descriptors and SDDL (with hostile input),
 * descriptors as CreateNamedPipe's access policy, ImpersonateNamedPipeClient/RevertToSelf and
 * npipe_get_server_uid. The parts that need other users run only as root (forked children
 * drop to uid 4242 and friends); otherwise they print that they were skipped.
 * Prints "N passed, M failed". */
#include <windows.h>
#include <aclapi.h>
#include <sddl.h>
#include <ipc.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "checks.h"

static char scratch[] = "/tmp/npipe-security-checks-XXXXXX";

static void pipe_name(char *out, size_t n, const char *tag) {
    snprintf(out, n, "\\\\.\\pipe\\npipe-c-sec-%s-%d", tag, (int)getpid());
}

static void sids(void) {
    /* Both spellings programs use: Microsoft's samples' and Qt's (braces around the macro). */
    SID_IDENTIFIER_AUTHORITY world = SECURITY_WORLD_SID_AUTHORITY, nt = {SECURITY_NT_AUTHORITY};
    PSID everyone = NULL, admins = NULL, wd = NULL, bogus_out = NULL;
    LPSTR text = NULL;
    BYTE bogus[16] = {1, 20, 0, 0, 0, 0, 0, 5};
    BYTE badrev[12] = {2, 1, 0, 0, 0, 0, 0, 1};

    CHECK(AllocateAndInitializeSid(&world, 1, SECURITY_WORLD_RID, 0, 0, 0, 0, 0, 0, 0, &everyone), "everyone SID");
    CHECK(IsValidSid(everyone) && GetLengthSid(everyone) == 12, "everyone SID valid, 12 bytes");
    CHECK(ConvertSidToStringSidA(everyone, &text) && strcmp(text, "S-1-1-0") == 0, "S-1-1-0");
    LocalFree(text);
    CHECK(ConvertStringSidToSidA(SDDL_EVERYONE, &wd) && EqualSid(wd, everyone), "WD is Everyone");
    LocalFree(wd);
    CHECK(AllocateAndInitializeSid(&nt, 2, SECURITY_BUILTIN_DOMAIN_RID, DOMAIN_ALIAS_RID_ADMINS, 0, 0, 0, 0, 0, 0,
                                   &admins),
          "administrators SID");
    CHECK(ConvertSidToStringSidA(admins, &text) && strcmp(text, "S-1-5-32-544") == 0, "S-1-5-32-544");
    LocalFree(text);
    SetLastError(0);
    CHECK(!EqualSid(admins, everyone) && GetLastError() == ERROR_SUCCESS, "different SIDs");
    CHECK(FreeSid(admins) == NULL, "FreeSid returns NULL");

    /* Hostile input: clear errors, never a crash. */
    SetLastError(0);
    CHECK(!AllocateAndInitializeSid(&world, 9, 0, 0, 0, 0, 0, 0, 0, 0, &bogus_out) &&
              GetLastError() == ERROR_INVALID_SID,
          "nine sub-authorities");
    CHECK(!AllocateAndInitializeSid(NULL, 1, 0, 0, 0, 0, 0, 0, 0, 0, &bogus_out) &&
              GetLastError() == ERROR_INVALID_PARAMETER,
          "NULL authority");
    CHECK(!IsValidSid(bogus) && GetLastError() == ERROR_INVALID_SID, "20 sub-authorities");
    CHECK(!IsValidSid(badrev) && GetLastError() == ERROR_INVALID_SID, "SID revision 2");
    CHECK(!IsValidSid(NULL) && GetLastError() == ERROR_INVALID_SID, "NULL SID");
    CHECK(GetLengthSid(bogus) == 0 && GetLastError() == ERROR_INVALID_SID, "length of a bogus SID");
    CHECK(!ConvertSidToStringSidA(bogus, &text) && GetLastError() == ERROR_INVALID_SID, "string of a bogus SID");
    CHECK(!ConvertStringSidToSidA("S-1-x-2", &bogus_out) && GetLastError() == ERROR_INVALID_SID, "bad SID string");
    CHECK(!ConvertStringSidToSidA(NULL, &bogus_out) && GetLastError() == ERROR_INVALID_PARAMETER, "NULL SID string");
    CHECK(ConvertStringSidToSidA("S-1-22-1-4242", &bogus_out) && GetLengthSid(bogus_out) == 16, "Samba uid SID");
    LocalFree(bogus_out);
    FreeSid(everyone);
}

static void acls(void) {
    BYTE small[12];
    DWORD buf[64];
    PACL acl = (PACL)buf, made = NULL;
    SID_IDENTIFIER_AUTHORITY world = SECURITY_WORLD_SID_AUTHORITY;
    PSID everyone = NULL;
    EXPLICIT_ACCESS ea;
    ACCESS_ALLOWED_ACE *ace = NULL;
    int i, added = 0;

    AllocateAndInitializeSid(&world, 1, SECURITY_WORLD_RID, 0, 0, 0, 0, 0, 0, 0, &everyone);
    CHECK(!InitializeAcl((PACL)small, 4, ACL_REVISION) && GetLastError() == ERROR_INSUFFICIENT_BUFFER, "ACL of 4 bytes");
    CHECK(!InitializeAcl(acl, sizeof buf, 7) && GetLastError() == ERROR_INVALID_PARAMETER, "ACL revision 7");
    CHECK(InitializeAcl(acl, sizeof buf, ACL_REVISION), "InitializeAcl");
    CHECK(IsValidAcl(acl) && acl->AceCount == 0 && acl->AclSize == sizeof buf, "empty ACL");
    for (i = 0; i < 40; i++) {
        if (!AddAccessAllowedAce(acl, ACL_REVISION, GENERIC_READ, everyone)) break;
        added++;
    }
    CHECK(added == 12 && GetLastError() == ERROR_ALLOTTED_SPACE_EXCEEDED, "ACL full after 12 ACEs of 20 bytes");
    CHECK(!AddAccessAllowedAce(NULL, ACL_REVISION, GENERIC_READ, everyone) && GetLastError() == ERROR_INVALID_ACL,
          "NULL ACL");
    acl->AclSize = 3;
    CHECK(!IsValidAcl(acl) && GetLastError() == ERROR_INVALID_ACL, "AclSize 3");
    acl->AclSize = sizeof buf;
    acl->AceCount = 1000;
    CHECK(!IsValidAcl(acl) && GetLastError() == ERROR_INVALID_ACL, "AceCount beyond AclSize");

    memset(&ea, 0, sizeof ea);
    ea.grfAccessPermissions = GENERIC_READ;
    ea.grfAccessMode = SET_ACCESS;
    ea.grfInheritance = NO_INHERITANCE;
    ea.Trustee.TrusteeForm = TRUSTEE_IS_SID;
    ea.Trustee.TrusteeType = TRUSTEE_IS_WELL_KNOWN_GROUP;
    ea.Trustee.ptstrName = (LPSTR)everyone;
    CHECK(SetEntriesInAcl(1, &ea, NULL, &made) == ERROR_SUCCESS, "SetEntriesInAcl");
    CHECK(made && IsValidAcl(made) && made->AceCount == 1, "one ACE");
    if (made) {
        ace = (ACCESS_ALLOWED_ACE *)(made + 1);
        CHECK(ace->Header.AceType == ACCESS_ALLOWED_ACE_TYPE && ace->Mask == GENERIC_READ &&
                  EqualSid((PSID)&ace->SidStart, everyone),
              "the ACE grants Everyone GENERIC_READ");
        LocalFree(made);
    }
    CHECK(SetEntriesInAcl(1, NULL, NULL, &made) == ERROR_INVALID_PARAMETER, "NULL entries");
    CHECK(SetEntriesInAcl(1, &ea, NULL, NULL) == ERROR_INVALID_PARAMETER, "NULL result");
    ea.grfAccessMode = (ACCESS_MODE)99;
    CHECK(SetEntriesInAcl(1, &ea, NULL, &made) == ERROR_INVALID_PARAMETER, "unknown access mode");
    ea.grfAccessMode = GRANT_ACCESS;
    ea.Trustee.TrusteeForm = TRUSTEE_IS_NAME;
    ea.Trustee.ptstrName = "nosuchuser";
    CHECK(SetEntriesInAcl(1, &ea, NULL, &made) == ERROR_NONE_MAPPED, "unknown trustee name");
    FreeSid(everyone);
}

static void descriptors(void) {
    SECURITY_DESCRIPTOR sd;
    PSECURITY_DESCRIPTOR rel = NULL;
    ULONG len = 0;
    BOOL present = FALSE, defaulted = TRUE;
    PACL dacl = (PACL)1;

    CHECK(!InitializeSecurityDescriptor(&sd, 2) && GetLastError() == ERROR_UNKNOWN_REVISION, "SD revision 2");
    CHECK(!InitializeSecurityDescriptor(NULL, SECURITY_DESCRIPTOR_REVISION) && GetLastError() == ERROR_NOACCESS,
          "NULL SD");
    CHECK(InitializeSecurityDescriptor(&sd, SECURITY_DESCRIPTOR_REVISION), "InitializeSecurityDescriptor");
    CHECK(IsValidSecurityDescriptor(&sd), "valid SD");
    CHECK(SetSecurityDescriptorDacl(&sd, TRUE, NULL, FALSE), "NULL DACL");
    CHECK(GetSecurityDescriptorDacl(&sd, &present, &dacl, &defaulted) && present && dacl == NULL && !defaulted,
          "GetSecurityDescriptorDacl");
    sd.Revision = 9;
    CHECK(!SetSecurityDescriptorDacl(&sd, TRUE, NULL, FALSE) && GetLastError() == ERROR_UNKNOWN_REVISION,
          "SetSecurityDescriptorDacl on revision 9");
    CHECK(!IsValidSecurityDescriptor(&sd) && GetLastError() == ERROR_INVALID_SECURITY_DESCR, "revision 9 invalid");
    sd.Revision = SECURITY_DESCRIPTOR_REVISION;

    CHECK(ConvertStringSecurityDescriptorToSecurityDescriptor("D:(A;;GA;;;WD)", SDDL_REVISION_1, &rel, &len),
          "SDDL everyone");
    CHECK(rel && len >= 20 && IsValidSecurityDescriptor(rel), "self-relative SD");
    CHECK(rel && !SetSecurityDescriptorDacl(rel, TRUE, NULL, FALSE) && GetLastError() == ERROR_INVALID_SECURITY_DESCR,
          "a self-relative SD cannot take a DACL pointer");
    LocalFree(rel);
    rel = NULL;
    CHECK(!ConvertStringSecurityDescriptorToSecurityDescriptorA("D:(A;;GA;;;WD)", 2, &rel, NULL) &&
              GetLastError() == ERROR_UNKNOWN_REVISION,
          "SDDL revision 2");
    CHECK(!ConvertStringSecurityDescriptorToSecurityDescriptorA("D:(A;;GA;;WD", 1, &rel, NULL) &&
              GetLastError() == ERROR_INVALID_ACL,
          "malformed SDDL ACE");
    CHECK(!ConvertStringSecurityDescriptorToSecurityDescriptorA("D:(A;;ZZ;;;WD)", 1, &rel, NULL) &&
              GetLastError() == ERROR_INVALID_ACL,
          "unknown right");
    CHECK(!ConvertStringSecurityDescriptorToSecurityDescriptorA("Q:(A;;GA;;;WD)", 1, &rel, NULL) &&
              GetLastError() == ERROR_INVALID_PARAMETER,
          "unknown SDDL part");
    CHECK(!ConvertStringSecurityDescriptorToSecurityDescriptorA(NULL, 1, &rel, NULL) &&
              GetLastError() == ERROR_INVALID_PARAMETER,
          "NULL SDDL");
    CHECK(!ConvertStringSecurityDescriptorToSecurityDescriptorA("D:(A;;GA;;;WD)", 1, NULL, NULL) &&
              GetLastError() == ERROR_INVALID_PARAMETER,
          "NULL result");
}

/* CreateNamedPipe with a descriptor: read-only for everyone; one it cannot express. */
static void pipes_with_descriptors(void) {
    char name[128];
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, FALSE};
    HANDLE s, c;
    DWORD n;
    char buf[8];

    pipe_name(name, sizeof name, "ro");
    CHECK(ConvertStringSecurityDescriptorToSecurityDescriptorA("D:(A;;GR;;;WD)", 1, &sa.lpSecurityDescriptor, NULL),
          "read-only SDDL");
    s = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE, 1, 512, 512, 0, &sa);
    CHECK(s != INVALID_HANDLE_VALUE, "pipe with a read-only descriptor");
    c = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    CHECK(c == INVALID_HANDLE_VALUE && GetLastError() == ERROR_ACCESS_DENIED, "read-write open refused");
    c = CreateFileA(name, GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    CHECK(c == INVALID_HANDLE_VALUE && GetLastError() == ERROR_ACCESS_DENIED, "write open refused");
    c = CreateFileA(name, GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL);
    CHECK(c != INVALID_HANDLE_VALUE, "read open admitted");
    CHECK(!ImpersonateNamedPipeClient(s) && GetLastError() == ERROR_CANNOT_IMPERSONATE,
          "W133: nothing read yet");
    {
        uint32_t uid = 99;
        CHECK(npipe_get_server_uid(c, &uid) && uid == (uint32_t)geteuid(), "npipe_get_server_uid");
        CHECK(!npipe_get_server_uid(c, NULL) && GetLastError() == ERROR_INSUFFICIENT_BUFFER, "NULL uid");
    }
    CHECK(!GetNamedPipeClientComputerNameA(s, buf, sizeof buf) && GetLastError() == ERROR_PIPE_LOCAL,
          "a local client has no computer name");
    {
        WCHAR wbuf[8];
        CHECK(!GetNamedPipeClientComputerNameW(s, wbuf, sizeof wbuf) && GetLastError() == ERROR_PIPE_LOCAL,
              "W form too");
    }
    {
        ULONG sid = 0;
        CHECK(GetNamedPipeClientSessionId(s, &sid) && sid == (ULONG)getsid(0), "client session (this process)");
        sid = 0;
        CHECK(GetNamedPipeServerSessionId(c, &sid) && sid == (ULONG)getsid(0), "server session (this process)");
        CHECK(GetNamedPipeServerSessionId(s, &sid) && GetNamedPipeClientSessionId(c, &sid), "own sessions");
        CHECK(!GetNamedPipeClientSessionId(s, NULL) && GetLastError() == ERROR_INSUFFICIENT_BUFFER, "NULL id");
    }
    CHECK(WriteFile(s, "x", 1, &n, NULL), "server writes");
    CHECK(DisconnectNamedPipe(s), "disconnect");
    {
        ULONG sid = 0;
        CHECK(!GetNamedPipeClientSessionId(s, &sid) && GetLastError() == ERROR_NOT_FOUND,
              "W132: no client session after a disconnect");
        CHECK(!GetNamedPipeServerSessionId(c, &sid) && GetLastError() == ERROR_PIPE_NOT_CONNECTED,
              "W132: a disconnected client has no server session");
    }
    CloseHandle(c);
    CloseHandle(s);
    LocalFree(sa.lpSecurityDescriptor);

    pipe_name(name, sizeof name, "bad");
    sa.lpSecurityDescriptor = NULL;
    CHECK(ConvertStringSecurityDescriptorToSecurityDescriptorA("D:(A;;GA;;;S-1-5-21-1-2-3-1001)", 1,
                                                               &sa.lpSecurityDescriptor, NULL),
          "SDDL naming a domain user");
    s = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE, 1, 512, 512, 0, &sa);
    CHECK(s == INVALID_HANDLE_VALUE && GetLastError() == ERROR_INVALID_SECURITY_DESCR,
          "a descriptor npipe cannot express fails the create");
    s = CreateMailslotA("\\\\.\\mailslot\\npipe-c-sec-bad", 0, 0, &sa);
    CHECK(s == INVALID_HANDLE_VALUE && GetLastError() == ERROR_INVALID_SECURITY_DESCR,
          "and a mailslot's");
    LocalFree(sa.lpSecurityDescriptor);

    /* Impersonating a client of this very user: allowed without privileges. */
    pipe_name(name, sizeof name, "self");
    s = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE, 1, 512, 512, 0, NULL);
    c = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    CHECK(WriteFile(c, "hi", 2, &n, NULL) && ReadFile(s, buf, 2, &n, NULL), "exchange");
    CHECK(ImpersonateNamedPipeClient(s), "impersonating after a read");
    CHECK(RevertToSelf(), "RevertToSelf");
    CHECK(RevertToSelf(), "RevertToSelf without impersonation");
    CHECK(!ImpersonateNamedPipeClient(c) && GetLastError() == ERROR_CANNOT_IMPERSONATE, "a client cannot impersonate");
    CloseHandle(c);
    CloseHandle(s);
}

/* ---- root only: clients of other users, forked ---- */

static int drop_to(uid_t uid, gid_t gid, gid_t extra) {
    gid_t groups[1] = {extra};
    if (setgroups(extra ? 1 : 0, groups) != 0 || setgid(gid) != 0 || setuid(uid) != 0) return 0;
    return 1;
}

/* Forks a client running as uid/gid (+ one supplementary group): it opens `name` and writes
 * "hi" (exit 0), or expects ERROR_ACCESS_DENIED when `refused` (exit 0). */
static pid_t client_as(const char *name, uid_t uid, gid_t gid, gid_t extra, int refused) {
    pid_t pid = fork();
    if (pid == 0) {
        HANDLE c;
        DWORD n;
        char b[4];
        if (!drop_to(uid, gid, extra)) _exit(20);
        c = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
        if (refused) _exit(c == INVALID_HANDLE_VALUE && GetLastError() == ERROR_ACCESS_DENIED ? 0 : 21);
        if (c == INVALID_HANDLE_VALUE) _exit(22);
        if (!WriteFile(c, "hi", 2, &n, NULL)) _exit(23);
        if (!ReadFile(c, b, 2, &n, NULL)) _exit(24);
        _exit(0);
    }
    return pid;
}

static int exited_ok(pid_t pid) {
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) return 0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) printf("child status %d\n", WEXITSTATUS(st));
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static uid_t owner_of(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? st.st_uid : (uid_t)-1;
}

static void other_users(void) {
    char name[128], file[256];
    SECURITY_DESCRIPTOR sd;
    SECURITY_ATTRIBUTES sa = {sizeof sa, &sd, FALSE};
    HANDLE s, f;
    DWORD n;
    char b[4];
    pid_t kid;
    BOOL ok;
    PSID group = NULL;
    PACL dacl = NULL;
    EXPLICIT_ACCESS ea;

    /* The classic "everyone may connect" server: a NULL DACL. */
    InitializeSecurityDescriptor(&sd, SECURITY_DESCRIPTOR_REVISION);
    SetSecurityDescriptorDacl(&sd, TRUE, NULL, FALSE);
    pipe_name(name, sizeof name, "null-dacl");
    s = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE, 1, 512, 512, 0, &sa);
    CHECK(s != INVALID_HANDLE_VALUE, "NULL-DACL pipe");
    kid = client_as(name, 4242, 4242, 0, 0);
    ok = ConnectNamedPipe(s, NULL) || GetLastError() == ERROR_PIPE_CONNECTED;
    CHECK(ok, "a client of uid 4242 connects");
    CHECK(ReadFile(s, b, 2, &n, NULL) && n == 2, "its message arrives");
    CHECK(ImpersonateNamedPipeClient(s), "impersonate uid 4242");
    snprintf(file, sizeof file, "%s/as-client", scratch);
    f = CreateFileA(file, GENERIC_WRITE, 0, NULL, CREATE_NEW, FILE_ATTRIBUTE_NORMAL, NULL);
    CHECK(f != INVALID_HANDLE_VALUE, "create a file as the client");
    CloseHandle(f);
    CHECK(owner_of(file) == 4242, "the file belongs to the client");
    CHECK(RevertToSelf(), "RevertToSelf");
    snprintf(file, sizeof file, "%s/as-root", scratch);
    f = CreateFileA(file, GENERIC_WRITE, 0, NULL, CREATE_NEW, FILE_ATTRIBUTE_NORMAL, NULL);
    CloseHandle(f);
    CHECK(owner_of(file) == 0, "after RevertToSelf files belong to root");
    CHECK(WriteFile(s, "ok", 2, &n, NULL), "reply");
    CHECK(exited_ok(kid), "client of uid 4242");
    CloseHandle(s);

    /* One group only (S-1-22-2-4300): an outsider is refused and the pipe keeps serving. */
    ConvertStringSidToSidA("S-1-22-2-4300", &group);
    memset(&ea, 0, sizeof ea);
    ea.grfAccessPermissions = FILE_ALL_ACCESS;
    ea.grfAccessMode = SET_ACCESS;
    ea.grfInheritance = NO_INHERITANCE;
    ea.Trustee.TrusteeForm = TRUSTEE_IS_SID;
    ea.Trustee.TrusteeType = TRUSTEE_IS_GROUP;
    ea.Trustee.ptstrName = (LPSTR)group;
    CHECK(SetEntriesInAcl(1, &ea, NULL, &dacl) == ERROR_SUCCESS, "group ACL");
    InitializeSecurityDescriptor(&sd, SECURITY_DESCRIPTOR_REVISION);
    SetSecurityDescriptorDacl(&sd, TRUE, dacl, FALSE);
    pipe_name(name, sizeof name, "group");
    s = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE, 1, 512, 512, 0, &sa);
    CHECK(s != INVALID_HANDLE_VALUE, "group pipe");
    CHECK(exited_ok(client_as(name, 4243, 4243, 0, 1)), "an outsider gets ERROR_ACCESS_DENIED");
    kid = client_as(name, 4244, 4244, 4300, 0);
    ok = ConnectNamedPipe(s, NULL) || GetLastError() == ERROR_PIPE_CONNECTED;
    CHECK(ok && ReadFile(s, b, 2, &n, NULL) && WriteFile(s, "ok", 2, &n, NULL), "a member is served");
    CHECK(exited_ok(kid), "member client");
    CloseHandle(s);
    LocalFree(dacl);
    LocalFree(group);

    /* An impostor of another user serving a name: a client refuses it by default. */
    pipe_name(name, sizeof name, "impostor");
    kid = fork();
    if (kid == 0) {
        HANDLE t;
        InitializeSecurityDescriptor(&sd, SECURITY_DESCRIPTOR_REVISION);
        SetSecurityDescriptorDacl(&sd, TRUE, NULL, FALSE);
        if (!drop_to(4242, 4242, 0)) _exit(30);
        t = CreateNamedPipeA(name, PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE, 1, 512, 512, 0, &sa);
        if (t == INVALID_HANDLE_VALUE) _exit(31);
        sleep(2);
        _exit(0);
    }
    {
        HANDLE c = INVALID_HANDLE_VALUE;
        int i;
        for (i = 0; i < 200; i++) {
            c = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
            if (c != INVALID_HANDLE_VALUE || GetLastError() != ERROR_FILE_NOT_FOUND) break;
            usleep(10000);
        }
        CHECK(c == INVALID_HANDLE_VALUE && GetLastError() == ERROR_ACCESS_DENIED,
              "the impostor of uid 4242 is refused");
    }
    CHECK(exited_ok(kid), "impostor");
}

/* ipc.h's server answers "pong" to anything. */
static void pong(char const *request, void *user_data, char *response, size_t capacity) {
    (void)user_data;
    if (request) snprintf(response, capacity, "pong");
}

/* ipc.h's server grants everyone, as the original does on Windows: a client of uid 4242. */
static void ipc_other_user(void) {
    char name[64];
    ipc_server_t *server;
    pid_t kid;
    snprintf(name, sizeof name, "npipe-c-sec-ipc-%d", (int)getpid());
    server = ipc_server_start(name, pong, NULL);
    CHECK(server != NULL, "ipc server");
    kid = fork();
    if (kid == 0) {
        ipc_client_t *c;
        char out[16];
        int n = 0;
        if (!drop_to(4242, 4242, 0)) _exit(40);
        c = ipc_client_connect(name);
        if (!c) _exit(41);
        if (!ipc_client_send(c, "ping")) _exit(42);
        if (ipc_client_receive(c, out, sizeof out, &n) != IPC_RECEIVE_STATUS_DONE) _exit(43);
        if (strcmp(out, "pong") != 0) _exit(44);
        ipc_client_disconnect(c);
        _exit(0);
    }
    CHECK(exited_ok(kid), "an ipc.h client of uid 4242 is served");
    if (server) ipc_server_stop(server);
}

int main(void) {
    if (!mkdtemp(scratch) || chmod(scratch, 01777) != 0) {
        printf("cannot make a scratch directory\n");
        return 2;
    }
    sids();
    acls();
    descriptors();
    pipes_with_descriptors();
    if (geteuid() == 0) {
        other_users();
        ipc_other_user();
    }
    else printf("other-user checks skipped (need root)\n");
    {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", scratch);
        if (system(cmd) != 0) printf("cannot remove %s\n", scratch);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
