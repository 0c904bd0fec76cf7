/* <sddl.h> for programs built against npipe on Linux: security descriptors and SIDs as strings
 * (SDDL), e.g. "D:(A;;GA;;;WD)" (everyone, full access) for CreateNamedPipe's
 * lpSecurityAttributes. Results are freed with LocalFree.
 *
 * npipe departs: the descriptor grammar is the subset pipe servers write (see the
 * ConvertStringSecurityDescriptorToSecurityDescriptor notes in docs/SECURITY.md): O:, G:, D:
 * and S: parts, allow and deny ACEs (audit and label ACEs in S:), no object GUIDs, and the SID
 * aliases WD AU IU NU AN SY BA BU CO OW (an ACL with another alias fails with
 * ERROR_INVALID_ACL, an owner or group with ERROR_INVALID_SID). Unix users
 * and groups are S-1-22-1-<uid> and S-1-22-2-<gid>. There is no ...ToStringSecurityDescriptor
 * direction and no W form of the SID calls. */
#ifndef NPIPE_SDDL_H
#define NPIPE_SDDL_H

#include "windows.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SDDL_REVISION_1 1
#define SDDL_REVISION SDDL_REVISION_1

#define SDDL_EVERYONE "WD"
#define SDDL_AUTHENTICATED_USERS "AU"
#define SDDL_INTERACTIVE "IU"
#define SDDL_NETWORK "NU"
#define SDDL_ANONYMOUS "AN"
#define SDDL_LOCAL_SYSTEM "SY"
#define SDDL_BUILTIN_ADMINISTRATORS "BA"
#define SDDL_BUILTIN_USERS "BU"
#define SDDL_CREATOR_OWNER "CO"
#define SDDL_OWNER_RIGHTS "OW"

BOOL WINAPI npipe_ConvertStringSecurityDescriptorToSecurityDescriptorA(LPCSTR StringSecurityDescriptor,
                                                                       DWORD StringSDRevision,
                                                                       PSECURITY_DESCRIPTOR *SecurityDescriptor,
                                                                       PULONG SecurityDescriptorSize);
BOOL WINAPI npipe_ConvertStringSecurityDescriptorToSecurityDescriptorW(LPCWSTR StringSecurityDescriptor,
                                                                       DWORD StringSDRevision,
                                                                       PSECURITY_DESCRIPTOR *SecurityDescriptor,
                                                                       PULONG SecurityDescriptorSize);
BOOL WINAPI npipe_ConvertSidToStringSidA(PSID Sid, LPSTR *StringSid);
BOOL WINAPI npipe_ConvertStringSidToSidA(LPCSTR StringSid, PSID *Sid);
BOOL WINAPI npipe_ConvertSidToStringSidW(PSID Sid, LPWSTR *StringSid);
BOOL WINAPI npipe_ConvertStringSidToSidW(LPCWSTR StringSid, PSID *Sid);

#ifdef UNICODE
#define ConvertStringSecurityDescriptorToSecurityDescriptor ConvertStringSecurityDescriptorToSecurityDescriptorW
#define ConvertSidToStringSid ConvertSidToStringSidW
#define ConvertStringSidToSid ConvertStringSidToSidW
#else
#define ConvertStringSecurityDescriptorToSecurityDescriptor ConvertStringSecurityDescriptorToSecurityDescriptorA
#define ConvertSidToStringSid ConvertSidToStringSidA
#define ConvertStringSidToSid ConvertStringSidToSidA
#endif

#ifdef __cplusplus
}
#endif

#endif /* NPIPE_SDDL_H */
