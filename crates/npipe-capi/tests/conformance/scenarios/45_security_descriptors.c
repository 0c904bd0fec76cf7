/* Security descriptors on pipes (W133, and the documented advapi32 calls): building SIDs,
 * ACLs and descriptors, SDDL strings, a DACL as the pipe's access check, impersonation.
 *
 * - InitializeSecurityDescriptor: revision 2 -> ERROR_UNKNOWN_REVISION; a NULL DACL is valid;
 * - SIDs: Everyone is 12 bytes, "S-1-1-0", equal to the WD alias; 9 sub-authorities ->
 *   ERROR_INVALID_PARAMETER; a SID announcing 20 sub-authorities is invalid;
 * - SetEntriesInAcl: SET_ACCESS makes one allow ACE; a deny comes before an allow;
 * - InitializeAcl / AddAccessAllowedAce: too small, bad revision, full;
 * - SDDL: "D:(A;;GA;;;WD)" is a 48-byte self-relative descriptor; malformed strings and
 *   revision 2 fail;
 * - a pipe whose DACL grants everyone GENERIC_READ only: a read-write or write open ->
 *   ERROR_ACCESS_DENIED, a read open succeeds (the creator has no implicit data access);
 * - ImpersonateNamedPipeClient before anything was read -> ERROR_CANNOT_IMPERSONATE, after a
 *   read TRUE; RevertToSelf TRUE (W133). */
#include "w32.h"
#include <aclapi.h>
#include <sddl.h>

static void show_err(const char *label, BOOL r) {
    if (r) printf("%s: TRUE\n", label);
    else printf("%s: FALSE err=%lu\n", label, (unsigned long)GetLastError());
}

int main(void) {
    SECURITY_DESCRIPTOR sd;
    SID_IDENTIFIER_AUTHORITY world = SECURITY_WORLD_SID_AUTHORITY, nt = SECURITY_NT_AUTHORITY;
    PSID everyone = NULL, admins = NULL, wd = NULL, out = NULL;
    LPSTR text = NULL;
    BYTE bogus[16] = {1, 20, 0, 0, 0, 0, 0, 5};
    EXPLICIT_ACCESS_A ea[2];
    PACL acl = NULL;
    DWORD buf[16];
    PSECURITY_DESCRIPTOR rel = NULL;
    ULONG len = 0;
    SECURITY_ATTRIBUTES sa;
    HANDLE s, c;
    DWORD n;
    char b[8];
    int i, added = 0;

    show_err("init revision 2", InitializeSecurityDescriptor(&sd, 2));
    show_err("init", InitializeSecurityDescriptor(&sd, SECURITY_DESCRIPTOR_REVISION));
    show_err("null dacl", SetSecurityDescriptorDacl(&sd, TRUE, NULL, FALSE));
    show_err("valid sd", IsValidSecurityDescriptor(&sd));

    show_err("everyone", AllocateAndInitializeSid(&world, 1, SECURITY_WORLD_RID, 0, 0, 0, 0, 0, 0, 0, &everyone));
    printf("everyone length: %lu\n", (unsigned long)GetLengthSid(everyone));
    if (ConvertSidToStringSidA(everyone, &text)) {
        printf("everyone string: %s\n", text);
        LocalFree(text);
    }
    show_err("WD alias", ConvertStringSidToSidA("WD", &wd));
    printf("WD equals everyone: %d\n", EqualSid(wd, everyone) ? 1 : 0);
    LocalFree(wd);
    show_err("nine sub-authorities", AllocateAndInitializeSid(&world, 9, 0, 0, 0, 0, 0, 0, 0, 0, &out));
    show_err("bogus sid valid", IsValidSid(bogus));
    show_err("bad sid string", ConvertStringSidToSidA("S-1-x-2", &out));
    show_err("admins", AllocateAndInitializeSid(&nt, 2, SECURITY_BUILTIN_DOMAIN_RID, DOMAIN_ALIAS_RID_ADMINS, 0, 0, 0,
                                                0, 0, 0, &admins));
    if (ConvertSidToStringSidA(admins, &text)) {
        printf("admins string: %s\n", text);
        LocalFree(text);
    }

    memset(ea, 0, sizeof ea);
    ea[0].grfAccessPermissions = GENERIC_READ;
    ea[0].grfAccessMode = SET_ACCESS;
    ea[0].grfInheritance = NO_INHERITANCE;
    ea[0].Trustee.TrusteeForm = TRUSTEE_IS_SID;
    ea[0].Trustee.TrusteeType = TRUSTEE_IS_WELL_KNOWN_GROUP;
    ea[0].Trustee.ptstrName = (LPSTR)everyone;
    printf("set entries: %lu\n", (unsigned long)SetEntriesInAclA(1, ea, NULL, &acl));
    if (acl) {
        ACCESS_ALLOWED_ACE *ace = (ACCESS_ALLOWED_ACE *)(acl + 1);
        printf("acl: count=%u type=%u mask=0x%lx\n", (unsigned)acl->AceCount, (unsigned)ace->Header.AceType,
               (unsigned long)ace->Mask);
        LocalFree(acl);
        acl = NULL;
    }
    ea[1] = ea[0];
    ea[1].grfAccessPermissions = GENERIC_ALL;
    ea[1].grfAccessMode = DENY_ACCESS;
    ea[1].Trustee.TrusteeType = TRUSTEE_IS_GROUP;
    ea[1].Trustee.ptstrName = (LPSTR)admins;
    printf("set two entries: %lu\n", (unsigned long)SetEntriesInAclA(2, ea, NULL, &acl));
    if (acl) {
        ACE_HEADER *first = (ACE_HEADER *)(acl + 1);
        printf("acl: count=%u first type=%u\n", (unsigned)acl->AceCount, (unsigned)first->AceType);
        LocalFree(acl);
    }

    show_err("acl of 4 bytes", InitializeAcl((PACL)buf, 4, ACL_REVISION));
    show_err("acl revision 7", InitializeAcl((PACL)buf, sizeof buf, 7));
    show_err("acl", InitializeAcl((PACL)buf, sizeof buf, ACL_REVISION));
    for (i = 0; i < 10; i++) {
        if (!AddAccessAllowedAce((PACL)buf, ACL_REVISION, GENERIC_READ, everyone)) break;
        added++;
    }
    printf("aces added: %d err=%lu\n", added, (unsigned long)GetLastError());

    show_err("sddl everyone", ConvertStringSecurityDescriptorToSecurityDescriptorA("D:(A;;GA;;;WD)", SDDL_REVISION_1,
                                                                                  &rel, &len));
    printf("sddl length: %lu\n", (unsigned long)len);
    LocalFree(rel);
    show_err("sddl malformed", ConvertStringSecurityDescriptorToSecurityDescriptorA("D:(A;;GA;;WD", 1, &rel, NULL));
    show_err("sddl revision 2", ConvertStringSecurityDescriptorToSecurityDescriptorA("D:(A;;GA;;;WD)", 2, &rel, NULL));

    memset(&sa, 0, sizeof sa);
    sa.nLength = sizeof sa;
    show_err("sddl read-only", ConvertStringSecurityDescriptorToSecurityDescriptorA("D:(A;;GR;;;WD)", 1,
                                                                                   &sa.lpSecurityDescriptor, NULL));
    s = CreateNamedPipeA(PIPE("security_ro"), PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE, 2, 512, 512, 0, &sa);
    SHOW_HANDLE("read-only pipe", s);
    c = CreateFileA(PIPE("security_ro"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    SHOW_HANDLE("read-write open", c);
    c = CreateFileA(PIPE("security_ro"), GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    SHOW_HANDLE("write open", c);
    c = CreateFileA(PIPE("security_ro"), GENERIC_READ, 0, NULL, OPEN_EXISTING, 0, NULL);
    SHOW_HANDLE("read open", c);
    CloseHandle(c);
    CloseHandle(s);
    LocalFree(sa.lpSecurityDescriptor);

    s = CreateNamedPipeA(PIPE("security_imp"), PIPE_ACCESS_DUPLEX, PIPE_TYPE_BYTE, 1, 512, 512, 0, NULL);
    c = CreateFileA(PIPE("security_imp"), GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    show_err("impersonate before read", ImpersonateNamedPipeClient(s));
    show_err("client write", WriteFile(c, "hi", 2, &n, NULL));
    show_err("server read", ReadFile(s, b, 2, &n, NULL));
    show_err("impersonate after read", ImpersonateNamedPipeClient(s));
    show_err("revert", RevertToSelf());
    show_err("revert again", RevertToSelf());
    CloseHandle(c);
    CloseHandle(s);
    FreeSid(admins);
    FreeSid(everyone);
    return 0;
}
