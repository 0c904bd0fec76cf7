//! Builds `tests/c/hardening.c` against `include/npipe/win32.h` and the freshly built
//! `libnpipe.so`, runs it (it re-runs itself as child processes for the checks that may hang or
//! crash, each killed after a deadline) and requires every check to pass.

mod cbuild;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn c_hardening_checks() {
    let out = cbuild::compile_c("hardening.c", "hardening", &["-D_DEFAULT_SOURCE"]);
    let libdir = cbuild::lib_dir();
    // The program bounds each of its checks; this deadline only guards against a bug in it.
    let mut child = Command::new(&out)
        .env("LD_LIBRARY_PATH", &libdir)
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the C test");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let limit = Duration::from_secs(900);
    let end = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for the C test") {
            break Some(st);
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = reader.join().unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    print!("{text}");
    let status = status.unwrap_or_else(|| panic!("the C test hung for {limit:?}:\n{text}"));
    assert!(status.success(), "C hardening checks failed:\n{text}");
    assert!(text.contains(" passed, 0 failed"), "{text}");
}
