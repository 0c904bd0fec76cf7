//! Builds `tests/c/cancelsync_checks.c` against `include/npipe/win32.h` and the freshly built
//! `libnpipe.so` and runs it: CancelSynchronousIo (W42) on threads blocked in ConnectNamedPipe,
//! ReadFile, WriteFile, TransactNamedPipe, FlushFileBuffers, WaitNamedPipe and mailslot reads,
//! with a client in another process, its errors, and 200 cancels raced against a blocking read.

mod cbuild;

#[test]
fn cancel_synchronous_io() {
    cbuild::run_checks(
        "cancelsync_checks.c",
        "cancelsync-checks",
        &["-D_DEFAULT_SOURCE"],
        "CancelSynchronousIo checks",
    );
}
