//! Builds `tests/c/smb_checks.c` (the SMB exposure through the C ABI, with the test program
//! playing smbd on the socket; no Samba needed) and requires every check to pass.

mod cbuild;

#[test]
fn smb_exposure_from_c() {
    cbuild::run_checks(
        "smb_checks.c",
        "smb-checks",
        &["-D_DEFAULT_SOURCE"],
        "SMB exposure C checks",
    );
}
