/* <aclapi.h> (with the <accctrl.h> types) for programs built against npipe on Linux:
 * SetEntriesInAcl and EXPLICIT_ACCESS, to build the DACL of a pipe's or mailslot's security
 * descriptor. See the security notes in npipe/win32.h for what each SID means on Linux.
 *
 * npipe departs: only the ANSI SetEntriesInAclA exists (SetEntriesInAcl is it unless UNICODE is
 * defined); trustees are TRUSTEE_IS_SID, or TRUSTEE_IS_NAME with "CURRENT_USER" or
 * "Everyone" (other names fail with ERROR_NONE_MAPPED); pMultipleTrustee is not used. */
#ifndef NPIPE_ACLAPI_H
#define NPIPE_ACLAPI_H

#include "windows.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum _ACCESS_MODE {
    NOT_USED_ACCESS = 0,
    GRANT_ACCESS,
    SET_ACCESS,
    DENY_ACCESS,
    REVOKE_ACCESS,
    SET_AUDIT_SUCCESS,
    SET_AUDIT_FAILURE
} ACCESS_MODE;

typedef enum _MULTIPLE_TRUSTEE_OPERATION {
    NO_MULTIPLE_TRUSTEE,
    TRUSTEE_IS_IMPERSONATE
} MULTIPLE_TRUSTEE_OPERATION;

typedef enum _TRUSTEE_FORM {
    TRUSTEE_IS_SID,
    TRUSTEE_IS_NAME,
    TRUSTEE_BAD_FORM,
    TRUSTEE_IS_OBJECTS_AND_SID,
    TRUSTEE_IS_OBJECTS_AND_NAME
} TRUSTEE_FORM;

typedef enum _TRUSTEE_TYPE {
    TRUSTEE_IS_UNKNOWN,
    TRUSTEE_IS_USER,
    TRUSTEE_IS_GROUP,
    TRUSTEE_IS_DOMAIN,
    TRUSTEE_IS_ALIAS,
    TRUSTEE_IS_WELL_KNOWN_GROUP,
    TRUSTEE_IS_DELETED,
    TRUSTEE_IS_INVALID,
    TRUSTEE_IS_COMPUTER
} TRUSTEE_TYPE;

typedef struct _TRUSTEE_A {
    struct _TRUSTEE_A *pMultipleTrustee;
    MULTIPLE_TRUSTEE_OPERATION MultipleTrusteeOperation;
    TRUSTEE_FORM TrusteeForm;
    TRUSTEE_TYPE TrusteeType;
    LPSTR ptstrName;
} TRUSTEE_A, *PTRUSTEE_A, TRUSTEEA, *PTRUSTEEA;

typedef struct _EXPLICIT_ACCESS_A {
    DWORD grfAccessPermissions;
    ACCESS_MODE grfAccessMode;
    DWORD grfInheritance;
    TRUSTEE_A Trustee;
} EXPLICIT_ACCESS_A, *PEXPLICIT_ACCESS_A, EXPLICIT_ACCESSA, *PEXPLICIT_ACCESSA;

#define NO_INHERITANCE 0x0
#define SUB_OBJECTS_ONLY_INHERIT 0x1
#define SUB_CONTAINERS_ONLY_INHERIT 0x2
#define SUB_CONTAINERS_AND_OBJECTS_INHERIT 0x3
#define INHERIT_NO_PROPAGATE 0x4
#define INHERIT_ONLY 0x8

DWORD WINAPI npipe_SetEntriesInAclA(ULONG cCountOfExplicitEntries, PEXPLICIT_ACCESS_A pListOfExplicitEntries,
                                    PACL OldAcl, PACL *NewAcl);

#ifndef UNICODE
#define TRUSTEE TRUSTEE_A
#define PTRUSTEE PTRUSTEE_A
#define EXPLICIT_ACCESS EXPLICIT_ACCESS_A
#define PEXPLICIT_ACCESS PEXPLICIT_ACCESS_A
#define SetEntriesInAcl SetEntriesInAclA
#endif

#ifdef __cplusplus
}
#endif

#endif /* NPIPE_ACLAPI_H */
