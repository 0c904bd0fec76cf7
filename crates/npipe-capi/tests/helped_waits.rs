//! Overlapped operations completed by the thread that waits for them (`engine::help`), across
//! two processes, for every way of waiting (an event, GetOverlappedResult(TRUE), the handle,
//! completion routines, WaitForMultipleObjects over two instances): `tests/c/helped_waits.c`.

mod cbuild;

#[test]
fn helped_waits() {
    cbuild::run_checks(
        "helped_waits.c",
        "helped-waits",
        &["-D_DEFAULT_SOURCE"],
        "helped_waits",
    );
}
