//! Builds the C and C++ programs that use `include/ipc.h` against the freshly built
//! `libnpipe.so` and runs them: the C checks (`tests/c/ipc_checks.c`, which re-runs itself as a
//! second process), the C++ checks (`tests/c/ipc_checks.cpp`, `c++ -std=c++11`), a program that
//! overrides `IPC_MESSAGE_MAX_LENGTH`, and the example pair in `examples/c` (a service and a
//! helper in two processes).

mod cbuild;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A path for a built program, unique to this test run.
fn program(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("npipe-ipc-{tag}-{}", std::process::id()))
}

/// Compiles `sources` with `compiler` (from `env_var`, else `default`) and `flags` against
/// include/ and libnpipe into `out`, with every warning an error.
fn build(env_var: &str, default: &str, flags: &[&str], sources: &[PathBuf], out: &Path) {
    let libdir = cbuild::lib_dir();
    let compiler = std::env::var(env_var).unwrap_or_else(|_| default.into());
    let st = Command::new(&compiler)
        .args(flags)
        .args(["-Wall", "-Wextra", "-Werror", "-I"])
        .arg(cbuild::crate_dir().join("include"))
        .args(sources)
        .arg("-o")
        .arg(out)
        .arg("-L")
        .arg(&libdir)
        .arg(format!("-Wl,-rpath,{}", libdir.display()))
        .args(["-lnpipe", "-lpthread"])
        .status()
        .unwrap_or_else(|e| panic!("run {compiler}: {e}"));
    assert!(st.success(), "{sources:?} do not compile against ipc.h");
}

fn build_c(source: &str, out: &Path) {
    let flags = ["-std=c11", "-D_DEFAULT_SOURCE"];
    build("CC", "cc", &flags, &[cbuild::crate_dir().join(source)], out);
}

/// Waits for `child` with a generous limit (a hang fails the test instead of blocking CI).
fn finish(mut child: Child, what: &str) -> Output {
    let t0 = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if t0.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collect output");
            panic!(
                "{what} hung; output so far:\n{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("collect output")
}

/// Runs a checks program and requires "N passed, 0 failed" and exit status 0.
fn run_checks(exe: &Path, what: &str) {
    let child = Command::new(exe)
        .env("LD_LIBRARY_PATH", cbuild::lib_dir())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {what}: {e}"));
    let out = finish(child, what);
    let _ = std::fs::remove_file(exe);
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    assert!(out.status.success(), "{what} failed:\n{text}");
    assert!(text.contains(" passed, 0 failed"), "{text}");
}

#[test]
fn c_program_against_ipc_h() {
    let exe = program("c");
    build_c("tests/c/ipc_checks.c", &exe);
    run_checks(&exe, "the ipc.h C checks");
}

#[test]
fn cpp_program_against_ipc_h() {
    let exe = program("cpp");
    let src = cbuild::crate_dir().join("tests/c/ipc_checks.cpp");
    build("CXX", "c++", &["-std=c++11"], &[src], &exe);
    run_checks(&exe, "the ipc.h C++ checks");
}

#[test]
fn message_length_override() {
    let exe = program("max");
    build_c("tests/c/ipc_max_len.c", &exe);
    run_checks(&exe, "the IPC_MESSAGE_MAX_LENGTH checks");
}

#[test]
fn example_service_and_helper() {
    let (service, helper) = (program("service"), program("helper"));
    build_c("examples/c/update_service.c", &service);
    build_c("examples/c/update_helper.c", &helper);
    let pipe = format!("npipe-example-update-{}", std::process::id());
    let svc = Command::new(&service)
        .env("LD_LIBRARY_PATH", cbuild::lib_dir())
        .arg(&pipe)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the service");
    let help = Command::new(&helper)
        .env("LD_LIBRARY_PATH", cbuild::lib_dir())
        .args([pipe.as_str(), "pkg-1.2.3.msi"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the helper");
    let help = finish(help, "the helper");
    let svc = finish(svc, "the service");
    let _ = std::fs::remove_file(&service);
    let _ = std::fs::remove_file(&helper);
    let (h, s) = (
        String::from_utf8_lossy(&help.stdout),
        String::from_utf8_lossy(&svc.stdout),
    );
    print!("{h}{s}");
    assert!(help.status.success(), "helper failed:\n{h}\n{s}");
    assert!(svc.status.success(), "service failed:\n{h}\n{s}");
    for line in [
        "helper: SERVICE LOG | installing pkg-1.2.3.msi",
        "helper: SERVICE LOG | pkg-1.2.3.msi installed",
        "helper: installation successful, 2 log lines",
    ] {
        assert!(h.contains(line), "missing {line:?} in:\n{h}");
    }
    for line in [
        "service: restarting after the install",
        "service: shut down",
    ] {
        assert!(s.contains(line), "missing {line:?} in:\n{s}");
    }
}
