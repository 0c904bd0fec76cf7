//! Builds `tests/c/token_checks.c` against `include/npipe/win32.h` and the freshly built
//! `libnpipe.so` and runs it: process tokens (every class GetTokenInformation answers, size
//! queries, bad handles and pointers, what a token handle is not), the SID accessors, the
//! account calls (LookupAccountSid, LookupAccountName, GetUserName), owners in security
//! descriptors, and a pipe server asking who its client process is while impersonating it
//! (as root the client runs as uid 65534; otherwise that part says it was skipped).

mod cbuild;

#[test]
fn token_checks() {
    cbuild::run_checks(
        "token_checks.c",
        "token-checks",
        &["-D_DEFAULT_SOURCE"],
        "token checks",
    );
}
