//! Builds `tests/c/regwait_checks.c` against `include/npipe/win32.h` and the freshly built
//! `libnpipe.so` and runs it: registered waits on events (signals, timeouts, unregistering
//! while a callback runs) and a pipe server told of a client process by one.

mod cbuild;

#[test]
fn registered_waits() {
    cbuild::run_checks(
        "regwait_checks.c",
        "regwait-checks",
        &["-D_DEFAULT_SOURCE"],
        "registered wait checks",
    );
}
