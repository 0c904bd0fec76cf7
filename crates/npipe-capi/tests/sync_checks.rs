//! Builds `tests/c/sync_checks.c` against `include/npipe/win32.h` and the freshly built
//! `libnpipe.so`, runs it and requires every check to pass: events, the wait functions,
//! CreateThread and thread handles, APCs, `npipe_wait_fd` and GetTickCount, with Windows'
//! values.

mod cbuild;

#[test]
fn sync_and_thread_calls_behave_as_on_windows() {
    // _GNU_SOURCE: pthread_getattr_np, to read a thread's stack size.
    cbuild::run_checks(
        "sync_checks.c",
        "sync-checks",
        &["-D_GNU_SOURCE"],
        "sync and thread checks",
    );
}
