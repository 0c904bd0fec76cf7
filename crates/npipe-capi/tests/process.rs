//! Processes, standard handles, inheritance, DuplicateHandle, files, pipe listings and
//! FormatMessage through the C ABI (`tests/c/process_checks.c`), across real processes: the
//! program runs copies of itself and Linux programs (tr, sleep, echo) as children.

mod cbuild;

#[test]
fn process_checks() {
    cbuild::run_checks(
        "process_checks.c",
        "process-checks",
        &["-D_DEFAULT_SOURCE"],
        "process_checks",
    );
}
