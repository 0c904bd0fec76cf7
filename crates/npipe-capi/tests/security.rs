//! Security through the C ABI (`tests/c/security_checks.c`): SIDs, ACLs, security
//! descriptors and SDDL (with hostile input), descriptors as the access policy of
//! CreateNamedPipe and CreateMailslot, impersonation and the server's uid. The checks with
//! clients of other users run when the test runs as root (as in CI) and are skipped, with a
//! message, otherwise.

mod cbuild;

#[test]
fn security_checks() {
    cbuild::run_checks(
        "security_checks.c",
        "security-checks",
        // The samples' `= SECURITY_WORLD_SID_AUTHORITY` draws -Wmissing-braces, as with
        // mingw-w64's <winnt.h>.
        &["-D_DEFAULT_SOURCE", "-Wno-missing-braces"],
        "security_checks",
    );
}
