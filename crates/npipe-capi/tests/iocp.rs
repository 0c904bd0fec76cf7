//! Builds `tests/c/iocp_checks.c` against `include/npipe/win32.h` and the freshly built
//! `libnpipe.so` and runs it: a completion-port server with a pool of worker threads serving
//! client processes (the program re-run as "client"), and the port's own behaviour.

mod cbuild;

#[test]
fn completion_port_server_and_port_behaviour() {
    cbuild::run_checks(
        "iocp_checks.c",
        "iocp-checks",
        &["-D_DEFAULT_SOURCE"],
        "completion port checks",
    );
}
