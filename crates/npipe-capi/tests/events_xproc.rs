//! Builds `tests/c/events_xproc.c` against `include/npipe/win32.h` and the freshly built
//! `libnpipe.so`, runs it (it runs itself again as the other processes) and requires every
//! check to pass: named events shared across processes with Windows' results.

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
fn named_events_work_across_processes() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let libdir = target_dir();
    assert!(
        libdir.join("libnpipe.so").exists(),
        "libnpipe.so not built in {}",
        libdir.display()
    );
    let out = std::env::temp_dir().join(format!("npipe-events-xproc-{}", std::process::id()));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let st = Command::new(cc)
        .args(["-std=c11", "-Wall", "-Werror", "-D_GNU_SOURCE", "-I"])
        .arg(root.join("include"))
        .arg(root.join("tests/c/events_xproc.c"))
        .arg("-o")
        .arg(&out)
        .arg("-L")
        .arg(&libdir)
        .arg(format!("-Wl,-rpath,{}", libdir.display()))
        .arg("-lnpipe")
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
        "cross-process event checks failed ({}):\n{text}",
        run.status
    );
    assert!(text.contains(" passed, 0 failed"), "{text}");
}
