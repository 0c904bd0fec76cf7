//! Test helpers shared by the C programs' test drivers: where the freshly built libnpipe is,
//! compiling a C check program against `include/` and it, and running a program that reports
//! "N passed, 0 failed".
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// Where cargo put libnpipe.so for this test build: next to the test binary
/// (target/<profile>/deps), or one level up after a `cargo build`.
pub fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("deps dir").to_path_buf();
    let dir = if deps.join("libnpipe.so").exists() {
        deps
    } else {
        deps.parent().expect("target dir").to_path_buf()
    };
    assert!(
        dir.join("libnpipe.so").exists(),
        "libnpipe.so not built in {}",
        dir.display()
    );
    dir
}

/// This crate's directory.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Compiles `tests/c/<source>` as C11 with every warning an error, `flags` added, against
/// `include/` and libnpipe (found at run time through an rpath); returns the program, named
/// after `tag` and this process.
pub fn compile_c(source: &str, tag: &str, flags: &[&str]) -> PathBuf {
    let libdir = lib_dir();
    let out = std::env::temp_dir().join(format!("npipe-{tag}-{}", std::process::id()));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let st = Command::new(cc)
        .args(["-std=c11", "-Wall", "-Werror"])
        .args(flags)
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg(crate_dir().join("tests/c").join(source))
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
        "{source} does not compile against npipe/win32.h"
    );
    out
}

/// Runs a check program to its end and removes it; returns its output.
pub fn run(program: &PathBuf) -> Output {
    let out = Command::new(program)
        .env("LD_LIBRARY_PATH", lib_dir())
        .output()
        .expect("run the C test");
    let _ = std::fs::remove_file(program);
    out
}

/// Compiles and runs `tests/c/<source>`, prints what it printed, and requires it to succeed
/// with every check passed.
pub fn run_checks(source: &str, tag: &str, flags: &[&str], what: &str) {
    let out = run(&compile_c(source, tag, flags));
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{text}",
        out.status
    );
    assert!(text.contains(" passed, 0 failed"), "{text}");
}
