//! Builds `tests/c/pipe_facts.c` against `include/npipe/win32.h` and the freshly built
//! `libnpipe.so`, runs it (it spawns itself as the peer process) and requires every check to
//! pass: names, instances, reported sizes, the default wait, synchronous connects, read modes,
//! peek, and what a closed writer leaves behind, with Windows' values.

mod cbuild;

#[test]
fn pipe_facts_hold_as_on_windows() {
    cbuild::run_checks("pipe_facts.c", "pipe-facts", &[], "pipe facts checks");
}
