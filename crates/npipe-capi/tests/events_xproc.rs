//! Builds `tests/c/events_xproc.c` against `include/npipe/win32.h` and the freshly built
//! `libnpipe.so`, runs it (it runs itself again as the other processes) and requires every
//! check to pass: named events shared across processes with Windows' results.

mod cbuild;

#[test]
fn named_events_work_across_processes() {
    cbuild::run_checks(
        "events_xproc.c",
        "events-xproc",
        &["-D_GNU_SOURCE"],
        "cross-process event checks",
    );
}
