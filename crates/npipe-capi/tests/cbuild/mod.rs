//! Test helpers shared by the C programs' test drivers: where the freshly built libnpipe is,
//! compiling a C check program against `include/` and it, and running a program that reports
//! "N passed, 0 failed".
#![allow(dead_code)]

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

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
    compile_file(&crate_dir().join("tests/c").join(source), tag, flags)
}

/// As [`compile_c`], for a C file anywhere (the examples).
pub fn compile_file(source: &Path, tag: &str, flags: &[&str]) -> PathBuf {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let mut all = vec!["-std=c11", "-Wall", "-Werror"];
    all.extend_from_slice(flags);
    compile_with(&cc, &all, source, tag)
}

/// Compiles `source` with `compiler` and exactly `flags` against the headers and links it
/// with libnpipe; the program's path.
pub fn compile_with(compiler: &str, flags: &[&str], source: &Path, tag: &str) -> PathBuf {
    let libdir = lib_dir();
    let out = std::env::temp_dir().join(format!("npipe-{tag}-{}", std::process::id()));
    let st = Command::new(compiler)
        .args(flags)
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg(source)
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
        "{} does not compile against npipe/win32.h",
        source.display()
    );
    out
}

/// How long a check program may run before everything it started is killed.
pub const LIMIT: Duration = Duration::from_secs(420);

/// Runs `cmd` in a process group of its own, collecting its output, and kills the whole group
/// once it ends or at `limit` (a check that hangs, or helpers it left behind, never hold the
/// test run). A program killed at the limit has a failed status and says so in its stderr.
pub fn run_bounded(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("run the C test");
    let pgid = child.id() as i32;
    let drain = |p: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut p) = p {
                let _ = p.read_to_end(&mut v);
            }
            v
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + limit;
    let finished = loop {
        if child.try_wait().expect("try_wait").is_some() {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // SAFETY: kill(2) on the process group this function created; no memory is involved.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
    let status = child.wait().expect("wait");
    let stdout = out.join().unwrap_or_default();
    let mut stderr = err.join().unwrap_or_default();
    if !finished {
        stderr.extend_from_slice(format!("\nKILLED: still running after {limit:?}\n").as_bytes());
    }
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Runs a check program to its end (at most [`LIMIT`]) and removes it; returns its output.
pub fn run(program: &PathBuf) -> Output {
    let mut cmd = Command::new(program);
    cmd.env("LD_LIBRARY_PATH", lib_dir());
    let out = run_bounded(cmd, LIMIT);
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
