//! Builds `tests/c/abi_checks.c` against `include/npipe/win32.h` and the freshly built
//! `libnpipe.so`, runs it (it spawns itself as a second process) and requires every check to pass.

mod cbuild;

#[test]
fn c_program_against_win32_h() {
    cbuild::run_checks(
        "abi_checks.c",
        "abi-checks",
        &["-D_DEFAULT_SOURCE"],
        "C ABI checks",
    );
}
