//! Builds `tests/c/sync_checks.c` against `include/npipe/win32.h` and the freshly built
//! `libnpipe.so`, runs it and requires every check to pass: events, the wait functions,
//! CreateThread and thread handles, APCs, `npipe_wait_fd` and GetTickCount, with Windows'
//! values.

use std::path::PathBuf;
use std::process::Command;

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
fn sync_and_thread_calls_behave_as_on_windows() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let libdir = target_dir();
    assert!(
        libdir.join("libnpipe.so").exists(),
        "libnpipe.so not built in {}",
        libdir.display()
    );
    let out = std::env::temp_dir().join(format!("npipe-sync-checks-{}", std::process::id()));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    // _GNU_SOURCE: pthread_getattr_np, to read a thread's stack size.
    let st = Command::new(cc)
        .args(["-std=c11", "-Wall", "-Werror", "-D_GNU_SOURCE", "-I"])
        .arg(root.join("include"))
        .arg(root.join("tests/c/sync_checks.c"))
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
        "the C test does not compile against npipe/win32.h"
    );
    let run = Command::new(&out)
        .env("LD_LIBRARY_PATH", &libdir)
        .output()
        .expect("run the C test");
    let _ = std::fs::remove_file(&out);
    let text = String::from_utf8_lossy(&run.stdout);
    print!("{text}");
    assert!(
        run.status.success(),
        "sync checks failed ({}):\n{text}",
        run.status
    );
    assert!(text.contains(" passed, 0 failed"), "{text}");
}
