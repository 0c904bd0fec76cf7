//! Builds `tests/c/hardening.c` against `include/npipe/win32.h` and the freshly built
//! `libnpipe.so`, runs it (it re-runs itself as child processes for the checks that may hang or
//! crash, each killed after a deadline) and requires every check to pass.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where cargo put libnpipe.so for this test build: next to the test binary
/// (target/<profile>/deps), or one level up after a `cargo build`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("deps dir").to_path_buf();
    if deps.join("libnpipe.so").exists() {
        return deps;
    }
    deps.parent().expect("target dir").to_path_buf()
}

#[test]
fn c_hardening_checks() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let libdir = target_dir();
    assert!(
        libdir.join("libnpipe.so").exists(),
        "libnpipe.so not built in {}",
        libdir.display()
    );
    let out = std::env::temp_dir().join(format!("npipe-hardening-{}", std::process::id()));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let st = Command::new(cc)
        .args(["-std=c11", "-Wall", "-Werror", "-D_DEFAULT_SOURCE", "-I"])
        .arg(root.join("include"))
        .arg(root.join("tests/c/hardening.c"))
        .arg("-o")
        .arg(&out)
        .arg("-L")
        .arg(&libdir)
        .arg(format!("-Wl,-rpath,{}", libdir.display()))
        .args(["-lnpipe", "-lpthread"])
        .status()
        .expect("run the C compiler");
    assert!(
        st.success(),
        "the C hardening test does not compile against npipe/win32.h"
    );
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
