//! Test helpers: unique names and child processes that re-run this test binary in a role
//! (the ipc-channel pattern). A test file calls `child_roles!` with its role functions; the
//! parent spawns `child(role, arg)` and checks the exit status.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A pipe name no other test (or test run) uses.
pub fn unique_name(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        r"\\.\pipe\npipe-test-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The env var that tells a re-run test binary which role to play.
pub const ROLE: &str = "NPIPE_TEST_ROLE";
/// Its argument.
pub const ARG: &str = "NPIPE_TEST_ARG";

/// Spawns this test binary as a child playing `role` with `arg`.
pub fn child(role: &str, arg: &str) -> Child {
    Command::new(std::env::current_exe().expect("current_exe"))
        .args([
            "--exact",
            "child_process_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE, role)
        .env(ARG, arg)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn child test process")
}

/// Waits for a child and asserts it exited with status 0.
pub fn expect_ok(mut c: Child) {
    let st = c.wait().expect("wait child");
    assert!(st.success(), "child failed: {st}");
}

/// Polls `f` until it returns true or `limit` passes.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

/// Dispatches a child role: when this process was spawned by [`child`], runs the role and
/// exits with 0 on success and 1 (after printing the error) on failure.
#[macro_export]
macro_rules! child_roles {
    ($($name:literal => $f:expr),* $(,)?) => {
        /// Entry point of child processes (does nothing when run as a normal test).
        #[test]
        fn child_process_entry() {
            let Ok(role) = std::env::var(util::ROLE) else { return };
            let arg = std::env::var(util::ARG).unwrap_or_default();
            let r: Result<(), String> = match role.as_str() {
                $($name => ($f)(&arg),)*
                other => Err(format!("unknown role {other}")),
            };
            match r {
                Ok(()) => std::process::exit(0),
                Err(e) => {
                    eprintln!("child role {role} failed: {e}");
                    std::process::exit(1)
                }
            }
        }
    };
}
