//! Builds `tests/c/abi_checks.c` against `include/npipe/win32.h` and the freshly built
//! `libnpipe.so`, runs it (it spawns itself as a second process) and requires every check to pass.

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
fn c_program_against_win32_h() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let libdir = target_dir();
    assert!(
        libdir.join("libnpipe.so").exists(),
        "libnpipe.so not built in {}",
        libdir.display()
    );
    let out = std::env::temp_dir().join(format!("npipe-abi-checks-{}", std::process::id()));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let st = Command::new(cc)
        .args(["-std=c11", "-Wall", "-Werror", "-D_DEFAULT_SOURCE", "-I"])
        .arg(root.join("include"))
        .arg(root.join("tests/c/abi_checks.c"))
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
    assert!(run.status.success(), "C ABI checks failed:\n{text}");
    assert!(text.contains(" passed, 0 failed"), "{text}");
}
