//! The MSDN-style C programs in `tests/c/samples/` and the Win32 entry headers they include
//! (`<windows.h>`, `<tchar.h>`, `<strsafe.h>`, `<npipe/win32.h>`):
//!
//! - the headers compile cleanly as C99 and as C++11 with `-pedantic-errors` and every warning an
//!   error, in both include orders (`header_check.c`), and `<tchar.h>`/`<strsafe.h>` refuse
//!   UNICODE;
//! - `strsafe_check.c` prints exactly what the same program prints on Windows (the transcript in
//!   `strsafe_check.expected` came from its mingw-w64 build run under Wine);
//! - every sample compiles against the headers (C99 and C++11; with mingw-w64 against the real
//!   Windows headers too when `x86_64-w64-mingw32-gcc` is installed);
//! - each server runs as its own process with several client processes against it, some at once:
//!   the overlapped server (one thread, four instances, six clients), the completion-routine
//!   server, the multithreaded server (with pipe_client and transact_client), and the mailslot
//!   reader waiting on an event that mailslot_writer processes set. Every run has its own pipe
//!   name and `NPIPE_NAMESPACE`, and a deadline after which every process is killed and the test
//!   fails.
//!
//! The samples build with `cc -std=c99 -pedantic-errors -Wall -Wextra -Werror -I include ...
//! -lnpipe -lpthread`. The expected outputs are those the same programs print under Wine (see the
//! comment at the top of each program); `NPIPE_SAMPLES_WINE=1 cargo test -p npipe-capi --test
//! samples` runs the same scenarios on their mingw-w64 builds under Wine to check that again.

mod cbuild;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long one server scenario may take before every process in it is killed.
const SCENARIO_LIMIT: Duration = Duration::from_secs(60);

fn include_dir() -> PathBuf {
    cbuild::crate_dir().join("include")
}

fn sample_source(name: &str) -> PathBuf {
    cbuild::crate_dir()
        .join("tests/c/samples")
        .join(format!("{name}.c"))
}

/// A path for a built program, unique to this test process.
fn program(tag: &str) -> PathBuf {
    let ext = if wine_mode() { ".exe" } else { "" };
    std::env::temp_dir().join(format!("npipe-samples-{tag}-{}{ext}", std::process::id()))
}

/// The compiler named by `env_var`, else `default`.
fn compiler(env_var: &str, default: &str) -> String {
    std::env::var(env_var).unwrap_or_else(|_| default.into())
}

/// Whether `compiler` can be run at all (`--version` succeeds).
fn have_compiler(compiler: &str) -> bool {
    Command::new(compiler)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Runs a compiler command; returns its success and its diagnostics.
fn run_compiler(cmd: &mut Command, stdin: Option<&str>) -> (bool, String) {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    if let Some(src) = stdin {
        let mut pipe = child.stdin.take().expect("piped stdin");
        pipe.write_all(src.as_bytes()).expect("write the source");
    }
    let out = child.wait_with_output().expect("wait for the compiler");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The strict flags every header check and sample build uses, per language.
const C99: &[&str] = &[
    "-std=c99",
    "-pedantic-errors",
    "-Wall",
    "-Wextra",
    "-Werror",
];
const CXX11: &[&str] = &[
    "-x",
    "c++",
    "-std=c++11",
    "-pedantic-errors",
    "-Wall",
    "-Wextra",
    "-Werror",
];

/// `-fsyntax-only` compile of `source` against include/ with `flags` (plus `extra`).
fn syntax_check(compiler: &str, flags: &[&str], extra: &[&str], source: &Path) -> (bool, String) {
    run_compiler(
        Command::new(compiler)
            .args(flags)
            .args(extra)
            .arg("-fsyntax-only")
            .arg("-I")
            .arg(include_dir())
            .arg(source),
        None,
    )
}

#[test]
fn headers_compile_as_c99_pedantic() {
    let cc = compiler("CC", "cc");
    let src = sample_source("header_check");
    for order in [&[][..], &["-DREVERSED"][..]] {
        let (ok, diag) = syntax_check(&cc, C99, order, &src);
        assert!(ok, "header_check.c {order:?} fails as C99:\n{diag}");
        assert!(diag.trim().is_empty(), "warnings as C99 {order:?}:\n{diag}");
    }
}

#[test]
fn headers_compile_as_cxx11_pedantic() {
    let cxx = compiler("CXX", "c++");
    if !have_compiler(&cxx) {
        println!("note: no C++ compiler ({cxx}); the C++11 header check is skipped");
        return;
    }
    let src = sample_source("header_check");
    for order in [&[][..], &["-DREVERSED"][..]] {
        let (ok, diag) = syntax_check(&cxx, CXX11, order, &src);
        assert!(ok, "header_check.c {order:?} fails as C++11:\n{diag}");
        assert!(
            diag.trim().is_empty(),
            "warnings as C++11 {order:?}:\n{diag}"
        );
    }
}

#[test]
fn nonamelessunion_names_the_members() {
    // As with the Windows headers, NONAMELESSUNION names OVERLAPPED's union u and struct s.
    let src = "#include <windows.h>\n\
               DWORD f(OVERLAPPED *ov) { ov->u.Pointer = 0; ov->u.s.Offset = 1; return ov->u.s.OffsetHigh; }\n";
    let (ok, diag) = run_compiler(
        Command::new(compiler("CC", "cc"))
            .args(C99)
            .args(["-DNONAMELESSUNION", "-fsyntax-only", "-x", "c", "-I"])
            .arg(include_dir())
            .arg("-"),
        Some(src),
    );
    assert!(ok, "NONAMELESSUNION:\n{diag}");
}

#[test]
fn unicode_builds() {
    let cc = compiler("CC", "cc");
    // windows.h alone works under UNICODE (TCHAR is WCHAR; TEXT() needs C11), in C99 and C11.
    let wide = "#include <windows.h>\n\
                int f(void) { TCHAR buf[4] = {0}; return lstrlen(buf) + (int)sizeof(OVERLAPPED); }\n\
                #if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L\n\
                int g(void) { LPCTSTR s = TEXT(\"wide\"); return lstrlenW(s); }\n\
                #endif\n";
    for std in ["-std=c99", "-std=c11"] {
        let (ok, diag) = run_compiler(
            Command::new(&cc)
                .args([std, "-pedantic-errors", "-Wall", "-Wextra", "-Werror"])
                .args(["-DUNICODE", "-fsyntax-only", "-x", "c", "-I"])
                .arg(include_dir())
                .arg("-"),
            Some(wide),
        );
        assert!(ok, "windows.h under UNICODE ({std}):\n{diag}");
    }
    // tchar.h and strsafe.h are ANSI-only and say so.
    for (header, define) in [("tchar.h", "-D_UNICODE"), ("strsafe.h", "-DUNICODE")] {
        let (ok, diag) = run_compiler(
            Command::new(&cc)
                .args([define, "-fsyntax-only", "-x", "c", "-I"])
                .arg(include_dir())
                .arg("-"),
            Some(&format!("#include <{header}>\n")),
        );
        assert!(!ok, "{header} compiled with {define}");
        assert!(diag.contains("ANSI-only"), "{header}: {diag}");
    }
}

#[test]
fn strsafe_and_tchar_behave_as_on_windows() {
    let exe = program("strsafe");
    let (ok, diag) = run_compiler(
        Command::new(compiler("CC", "cc"))
            .args(C99)
            .arg("-I")
            .arg(include_dir())
            .arg(sample_source("strsafe_check"))
            .arg("-o")
            .arg(&exe),
        None,
    );
    assert!(ok, "strsafe_check.c does not build:\n{diag}");
    let out = Command::new(&exe)
        .env("LD_LIBRARY_PATH", cbuild::lib_dir())
        .output()
        .expect("run strsafe_check");
    let _ = std::fs::remove_file(&exe);
    assert!(out.status.success(), "strsafe_check failed");
    let got = String::from_utf8_lossy(&out.stdout);
    let expected =
        std::fs::read_to_string(cbuild::crate_dir().join("tests/c/samples/strsafe_check.expected"))
            .expect("read strsafe_check.expected");
    let diff: Vec<String> = expected
        .lines()
        .zip(got.lines())
        .filter(|(e, g)| e != g)
        .map(|(e, g)| format!("  windows: {e}\n  npipe:   {g}"))
        .collect();
    assert!(
        diff.is_empty() && expected.lines().count() == got.lines().count(),
        "strsafe_check differs from the Windows transcript:\n{}\nfull output:\n{got}",
        diff.join("\n")
    );
}

/// The MSDN-style programs.
const SAMPLES: &[&str] = &[
    "overlapped_server",
    "completion_server",
    "multithreaded_server",
    "pipe_client",
    "transact_client",
    "mailslot_reader",
    "mailslot_writer",
    "redirect_parent",
    "redirect_child",
];

#[test]
fn samples_compile_against_the_headers() {
    let cc = compiler("CC", "cc");
    let cxx = compiler("CXX", "c++");
    let have_cxx = have_compiler(&cxx);
    if !have_cxx {
        println!("note: no C++ compiler ({cxx}); the samples are checked as C only");
    }
    let mingw = "x86_64-w64-mingw32-gcc";
    let have_mingw = have_compiler(mingw);
    if !have_mingw {
        println!("note: no {mingw}; the samples are not checked against the Windows headers");
    }
    for name in SAMPLES.iter().chain(["strsafe_check"].iter()) {
        let src = sample_source(name);
        let (ok, diag) = syntax_check(&cc, C99, &[], &src);
        assert!(ok && diag.trim().is_empty(), "{name}.c as C99:\n{diag}");
        if have_cxx {
            let (ok, diag) = syntax_check(&cxx, CXX11, &[], &src);
            assert!(ok && diag.trim().is_empty(), "{name}.c as C++11:\n{diag}");
        }
        if have_mingw {
            // The real <windows.h>: proof that the program is a genuine Win32 program.
            let (ok, diag) = run_compiler(
                Command::new(mingw)
                    .args(["-Wall", "-Wextra", "-Werror", "-fsyntax-only"])
                    .arg(&src),
                None,
            );
            assert!(
                ok,
                "{name}.c against the mingw-w64 Windows headers:\n{diag}"
            );
        }
    }
}

/// With `NPIPE_SAMPLES_WINE` set, the scenarios build the samples with mingw-w64 against the
/// real Windows headers and run them under Wine (`wine` on PATH; set WINEPREFIX as you like):
/// the same expectations then check the programs against Windows' behaviour, as Wine
/// reproduces it. `NPIPE_SAMPLES_WINE=1 cargo test -p npipe-capi --test samples`.
fn wine_mode() -> bool {
    std::env::var_os("NPIPE_SAMPLES_WINE").is_some()
}

/// Builds a sample against include/ and libnpipe: `cc -std=c99 -pedantic-errors -Wall -Wextra
/// -Werror -I include SRC -o OUT -L LIBDIR -Wl,-rpath,LIBDIR -lnpipe -lpthread` (under
/// `wine_mode`, `x86_64-w64-mingw32-gcc -Wall -Wextra -Werror SRC -o OUT`).
fn build_sample(name: &str, out: &Path) {
    if wine_mode() {
        let (ok, diag) = run_compiler(
            Command::new("x86_64-w64-mingw32-gcc")
                .args(["-Wall", "-Wextra", "-Werror", "-O1"])
                .arg(sample_source(name))
                .arg("-o")
                .arg(out),
            None,
        );
        assert!(ok, "{name}.c does not build with mingw-w64:\n{diag}");
        return;
    }
    let libdir = cbuild::lib_dir();
    let (ok, diag) = run_compiler(
        Command::new(compiler("CC", "cc"))
            .args(C99)
            .arg("-I")
            .arg(include_dir())
            .arg(sample_source(name))
            .arg("-o")
            .arg(out)
            .arg("-L")
            .arg(&libdir)
            .arg(format!("-Wl,-rpath,{}", libdir.display()))
            .args(["-lnpipe", "-lpthread"]),
        None,
    );
    assert!(ok, "{name}.c does not build against libnpipe:\n{diag}");
}

/// A running sample whose stdout and stderr are collected as they come.
struct Proc {
    what: String,
    child: Child,
    out: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
    status: Option<std::process::ExitStatus>,
}

fn collect(mut from: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock()
                .expect("output lock")
                .extend_from_slice(&buf[..n]);
        }
    })
}

/// One scenario: its programs, its namespace and its deadline.
struct Scenario {
    tag: String,
    namespace: String,
    deadline: Instant,
    procs: Vec<Proc>,
    built: Vec<PathBuf>,
}

impl Scenario {
    fn new(tag: &str) -> Self {
        Scenario {
            tag: tag.to_string(),
            namespace: format!("samples-{}-{tag}", std::process::id()),
            deadline: Instant::now() + SCENARIO_LIMIT,
            procs: Vec::new(),
            built: Vec::new(),
        }
    }

    /// Builds `name` once for this scenario; returns the program.
    fn build(&mut self, name: &str) -> PathBuf {
        // Each scenario builds its own copies: tests run in parallel, and one scenario must not
        // rebuild or delete a program another one is running.
        let exe = program(&format!("{}-{name}", self.tag));
        if !self.built.contains(&exe) {
            build_sample(name, &exe);
            self.built.push(exe.clone());
        }
        exe
    }

    /// Builds (once) and starts `name` with `args`; returns its index.
    fn start(&mut self, name: &str, args: &[&str]) -> usize {
        let exe = self.build(name);
        let mut cmd = if wine_mode() {
            let mut c = Command::new("wine");
            c.arg(&exe).env("WINEDEBUG", "-all");
            c
        } else {
            Command::new(&exe)
        };
        let mut child = cmd
            .args(args)
            .env("NPIPE_NAMESPACE", &self.namespace)
            // The library this test built, not an older one cargo's own search path names.
            .env("LD_LIBRARY_PATH", cbuild::lib_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let out = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().expect("stdout"), out.clone()),
            collect(child.stderr.take().expect("stderr"), out.clone()),
        ];
        self.procs.push(Proc {
            what: format!("{name} {}", args.join(" ")),
            child,
            out,
            readers,
            status: None,
        });
        self.procs.len() - 1
    }

    fn output(&self, i: usize) -> String {
        let text =
            String::from_utf8_lossy(&self.procs[i].out.lock().expect("output lock")).into_owned();
        // Windows programs under Wine end their lines with CR LF.
        text.replace("\r\n", "\n")
    }

    /// Everything every process printed so far, for failure messages.
    fn transcript(&self) -> String {
        let mut s = String::new();
        for (i, p) in self.procs.iter().enumerate() {
            s += &format!("--- {} ({:?})\n{}", p.what, p.status, self.output(i));
        }
        s
    }

    /// Kills every process still running and fails with everything they printed.
    fn fail(&mut self, why: &str) -> ! {
        for p in &mut self.procs {
            if p.status.is_none() {
                let _ = p.child.kill();
                p.status = p.child.wait().ok();
            }
        }
        panic!("{why}\n{}", self.transcript());
    }

    /// Waits until process `i` has printed `marker` (a server announcing it listens).
    fn wait_for_line(&mut self, i: usize, marker: &str) {
        while !self.output(i).contains(marker) {
            if let Some(st) = self.procs[i].child.try_wait().expect("try_wait") {
                self.procs[i].status = Some(st);
                self.fail(&format!(
                    "{} exited before printing {marker:?}",
                    self.procs[i].what
                ));
            }
            if Instant::now() > self.deadline {
                self.fail(&format!(
                    "{} did not print {marker:?} in time",
                    self.procs[i].what
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for every process to exit (killing them all at the deadline) and requires exit
    /// status 0 from each.
    fn finish(&mut self) {
        loop {
            let mut running = 0;
            for p in &mut self.procs {
                if p.status.is_none() {
                    match p.child.try_wait().expect("try_wait") {
                        Some(st) => p.status = Some(st),
                        None => running += 1,
                    }
                }
            }
            if running == 0 {
                break;
            }
            if Instant::now() > self.deadline {
                self.fail(&format!(
                    "{running} process(es) still running after {SCENARIO_LIMIT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        for p in &mut self.procs {
            for r in p.readers.drain(..) {
                let _ = r.join();
            }
        }
        print!("{}", self.transcript());
        let failed: Vec<String> = self
            .procs
            .iter()
            .filter(|p| !p.status.is_some_and(|s| s.success()))
            .map(|p| format!("{} ({:?})", p.what, p.status))
            .collect();
        if !failed.is_empty() {
            self.fail(&format!("these exited with a failure: {failed:?}"));
        }
    }

    /// Requires process `i`'s output to contain `line` (a whole line).
    fn expect_line(&mut self, i: usize, line: &str) {
        if !self.output(i).lines().any(|l| l == line) {
            let what = self.procs[i].what.clone();
            self.fail(&format!("{what}: no line {line:?}"));
        }
    }

    /// Requires process `i` to print at least one line containing `part`.
    fn expect_some(&mut self, i: usize, part: &str) {
        if !self.output(i).lines().any(|l| l.contains(part)) {
            let what = self.procs[i].what.clone();
            self.fail(&format!("{what}: no line with {part:?}"));
        }
    }

    /// Requires process `i` to print exactly `n` lines containing `part`.
    fn expect_count(&mut self, i: usize, part: &str, n: usize) {
        let got = self.output(i).lines().filter(|l| l.contains(part)).count();
        if got != n {
            let what = self.procs[i].what.clone();
            self.fail(&format!("{what}: {got} lines with {part:?}, expected {n}"));
        }
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        for p in &mut self.procs {
            if p.status.is_none() {
                let _ = p.child.kill();
                let _ = p.child.wait();
            }
        }
        for exe in &self.built {
            let _ = std::fs::remove_file(exe);
        }
    }
}

/// A pipe name unique to this test run.
fn pipe_name(tag: &str) -> String {
    format!("npipe_sample_{tag}_{}", std::process::id())
}

/// Starts `pipe_client -hold MS PIPE "client K message 1" "client K message 2"`.
fn start_client(s: &mut Scenario, pipe: &str, k: usize, hold_ms: u32) -> usize {
    let hold = hold_ms.to_string();
    let (m1, m2) = (
        format!("client {k} message 1"),
        format!("client {k} message 2"),
    );
    s.start("pipe_client", &["-hold", &hold, pipe, &m1, &m2])
}

/// What pipe_client prints for client `k`, message 1 and 2 (31-byte replies in 16-byte reads).
fn expect_client_replies(s: &mut Scenario, i: usize, k: usize) {
    for m in 1..=2 {
        s.expect_line(
            i,
            &format!("Sending 19 byte message: \"client {k} message {m}\""),
        );
        s.expect_line(
            i,
            &format!("Reply: \"answer to <client {k} message {m}>\" (31 bytes in 2 reads)"),
        );
    }
}

#[test]
fn overlapped_server_serves_six_clients_on_four_instances() {
    let mut s = Scenario::new("overlapped");
    let pipe = pipe_name("overlapped");
    let server = s.start("overlapped_server", &[&pipe, "6"]);
    s.wait_for_line(server, "Listening on");
    // Six clients at once, each holding its connection for a while: four take the four
    // instances together, two find them busy and wait (WaitNamedPipe) for a reconnect.
    let clients: Vec<usize> = (1..=6)
        .map(|k| start_client(&mut s, &pipe, k, 500))
        .collect();
    s.finish();
    for (k, &c) in clients.iter().enumerate() {
        expect_client_replies(&mut s, c, k + 1);
    }
    s.expect_line(server, "Served 6 clients (12 requests), exiting");
    s.expect_count(server, ": client connected", 6);
    s.expect_count(server, "client left after 2 request(s)", 6);
    // All four instances were in use (the clients overlapped), and the three instances still
    // listening at the end had their connect cancelled with ERROR_OPERATION_ABORTED.
    for i in 0..4 {
        s.expect_some(server, &format!("Instance {i}: client connected"));
    }
    s.expect_count(server, "pending connect cancelled (error 995)", 3);
}

#[test]
fn completion_routine_server_serves_clients_and_transactions() {
    let mut s = Scenario::new("completion");
    let pipe = pipe_name("completion");
    // Three pipe_client connections and the two of transact_client.
    let server = s.start("completion_server", &[&pipe, "5"]);
    s.wait_for_line(server, "Listening on");
    let clients: Vec<usize> = (1..=3)
        .map(|k| start_client(&mut s, &pipe, k, 300))
        .collect();
    let transact = s.start(
        "transact_client",
        &[&pipe, "transact request", "call request"],
    );
    s.finish();
    for (k, &c) in clients.iter().enumerate() {
        expect_client_replies(&mut s, c, k + 1);
    }
    expect_transact_replies(&mut s, transact);
    s.expect_some(server, "Served 5 clients (8 requests, ");
    s.expect_count(server, ": client connected", 5);
    // Each client's end closed: the read that followed failed with ERROR_BROKEN_PIPE, either at
    // once (ReadFileEx) or through its completion routine.
    s.expect_count(server, " error 109)", 5);
    s.expect_line(server, "Pending connect cancelled (error 995)");
}

/// What transact_client prints: a 29-byte reply read in 10-byte pieces, then CallNamedPipe's.
fn expect_transact_replies(s: &mut Scenario, i: usize) {
    s.expect_line(
        i,
        "TransactNamedPipe reply: \"answer to <transact request>\" (29 bytes in 3 pieces)",
    );
    s.expect_line(
        i,
        "CallNamedPipe reply: \"answer to <call request>\" (25 bytes)",
    );
}

#[test]
fn multithreaded_server_serves_clients_and_transactions() {
    let mut s = Scenario::new("multithreaded");
    let pipe = pipe_name("multithreaded");
    let server = s.start("multithreaded_server", &[&pipe, "5"]);
    s.wait_for_line(server, "Listening on");
    let clients: Vec<usize> = (1..=3)
        .map(|k| start_client(&mut s, &pipe, k, 300))
        .collect();
    let transact = s.start(
        "transact_client",
        &[&pipe, "transact request", "call request"],
    );
    s.finish();
    for (k, &c) in clients.iter().enumerate() {
        expect_client_replies(&mut s, c, k + 1);
    }
    expect_transact_replies(&mut s, transact);
    s.expect_line(server, "Served 5 clients (8 requests), exiting");
    s.expect_count(server, "connected, thread", 5);
    s.expect_count(server, ": client disconnected after", 5);
    s.expect_count(server, ": thread exit code ", 5);
    for k in 1..=5 {
        let line = format!("Client {k}: thread exit code ");
        let code_ok = s
            .output(server)
            .lines()
            .filter_map(|l| l.strip_prefix(&line))
            .any(|code| code == "1" || code == "2");
        if !code_ok {
            s.fail(&format!("no exit code 1 or 2 for client {k}"));
        }
    }
}

#[test]
fn mailslot_reader_waits_on_an_event_for_writers() {
    let mut s = Scenario::new("mailslot");
    let slot = pipe_name("mailslot");
    let reader = s.start("mailslot_reader", &[&slot, "5"]);
    // The first writer comes once the reader is waiting on its event for an empty mailslot.
    s.wait_for_line(reader, "Waiting for a message...");
    let w1 = s.start("mailslot_writer", &[&slot, "Message one.", "Message two."]);
    let w2 = s.start("mailslot_writer", &[&slot, "Message three."]);
    let w3 = s.start(
        "mailslot_writer",
        &[&slot, "Message four.", "Message five."],
    );
    s.finish();
    for (w, msgs) in [
        (w1, &["Message one.", "Message two."][..]),
        (w2, &["Message three."][..]),
        (w3, &["Message four.", "Message five."][..]),
    ] {
        for m in msgs {
            s.expect_line(w, &format!("Slot written to successfully: \"{m}\""));
            s.expect_count(reader, &format!("Contents of the mailslot: {m} (#"), 1);
        }
    }
    s.expect_line(reader, &format!("Mailslot \\\\.\\mailslot\\{slot} ready"));
    s.expect_line(reader, "Read 5 messages, exiting");
    // Each writer's messages arrive in the order it wrote them.
    let out = s.output(reader);
    for (a, b) in [
        ("Message one.", "Message two."),
        ("Message four.", "Message five."),
    ] {
        let (pa, pb) = (out.find(a), out.find(b));
        if !(pa.is_some() && pb.is_some() && pa < pb) {
            s.fail(&format!("{a:?} should come before {b:?}"));
        }
    }
}

#[test]
fn redirect_parent_feeds_a_file_through_a_child() {
    if wine_mode() {
        // The parent takes the child's Linux path on its command line.
        return;
    }
    let mut s = Scenario::new("redirect");
    let child = s.build("redirect_child");
    let input = std::env::temp_dir().join(format!("npipe-redirect-input-{}", std::process::id()));
    std::fs::write(&input, "line one\nline two\n").expect("write the input file");
    let cmdline = format!("\"{}\"", child.display());
    let parent = s.start("redirect_parent", &[&input.to_string_lossy(), &cmdline]);
    s.finish();
    let _ = std::fs::remove_file(&input);
    s.expect_line(parent, "->Start of parent execution.");
    s.expect_line(parent, " ** This is a message from the child process. ** ");
    s.expect_line(parent, "line one");
    s.expect_line(parent, "line two");
    s.expect_line(parent, "->End of parent execution.");
    let out = s.output(parent);
    if out.contains("failed with error") {
        s.fail("the parent reported an error");
    }
}
