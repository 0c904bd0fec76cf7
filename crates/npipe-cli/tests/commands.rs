//! The pipe commands of `npipe`, the built binary against itself: `serve` (echo and exec),
//! `cat`, `send`, `call`, `wait`, `list` and `mailslot`, each test in a namespace of its own
//! (`NPIPE_NAMESPACE`). Servers are stopped with SIGINT, as Ctrl-C would, and must exit 0
//! with their children reaped. No test asserts a timing: readiness is polled for, with the
//! server's own exit as the way out.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

/// A namespace no other test (or run) uses.
fn unique_ns() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "npipe-cli-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn cmd(ns: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_npipe"));
    c.args(args).env("NPIPE_NAMESPACE", ns);
    c
}

fn run(ns: &str, args: &[&str]) -> Output {
    cmd(ns, args)
        .stdin(Stdio::null())
        .output()
        .expect("run npipe")
}

/// Runs `npipe ARGS` with `input` on stdin.
fn run_with(ns: &str, args: &[&str], input: &[u8]) -> Output {
    let mut c = cmd(ns, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn npipe");
    c.stdin.take().unwrap().write_all(input).unwrap();
    c.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A running `npipe serve` (or `mailslot create`).
struct Server {
    child: Child,
}

impl Server {
    /// Starts `npipe ARGS` and waits until `ready` (an `npipe` command) succeeds.
    fn start(ns: &str, args: &[&str], ready: &[&str]) -> Server {
        let child = cmd(ns, args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn server");
        let mut s = Server { child };
        loop {
            if let Some(st) = s.child.try_wait().unwrap() {
                let mut err = String::new();
                s.child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                panic!("{args:?} ended before it was ready: {st}: {err}");
            }
            if run(ns, ready).status.success() {
                return s;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends SIGINT (Ctrl-C) and returns the exit status and stderr.
    fn interrupt(mut self) -> (Option<i32>, String) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            e.read_to_string(&mut err).unwrap();
        }
        (self.child.wait().unwrap().code(), err)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A test that failed half-way leaves no server behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ready(name: &str) -> Vec<&str> {
    vec!["wait", name, "--timeout", "0"]
}

/// `npipe list --json`, parsed.
fn listing(ns: &str) -> Vec<serde_json::Value> {
    let o = run(ns, &["list", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(doc["format"], 1);
    doc["objects"].as_array().unwrap().clone()
}

#[test]
fn exec_server_with_cat_upper_cases() {
    let ns = unique_ns();
    let srv = Server::start(&ns, &["serve", "up", "--exec", "tr a-z A-Z"], &ready("up"));
    let o = run_with(&ns, &["cat", "up"], b"abc\n");
    assert_eq!(
        (o.status.code(), text(&o.stdout)),
        (Some(0), "ABC\n".into())
    );
    // The same instance serves the next client: a new process per client.
    let o = run_with(&ns, &["cat", r"\\.\PIPE\UP"], b"second\n");
    assert_eq!(text(&o.stdout), "SECOND\n");
    // No input at all still ends.
    let o = run_with(&ns, &["cat", "up"], b"");
    assert_eq!((o.status.code(), o.stdout.len()), (Some(0), 0));
    assert_eq!(srv.interrupt().0, Some(0));
}

#[test]
fn message_framing_is_a_line_per_message() {
    let ns = unique_ns();
    let srv = Server::start(
        &ns,
        &["serve", "lines", "--exec", "sed s/^/x/", "--message"],
        &ready("lines"),
    );
    let o = run_with(&ns, &["cat", "lines", "--message"], b"a\n\nb");
    assert_eq!(text(&o.stdout), "xa\nx\nxb\n");
    assert_eq!(srv.interrupt().0, Some(0));
}

#[test]
fn echo_server_answers_call_send_and_wait() {
    let ns = unique_ns();
    let srv = Server::start(&ns, &["serve", "echo", "--echo"], &ready("echo"));
    let o = run(&ns, &["call", "echo", "hello", "--timeout", "5000"]);
    assert_eq!(
        (o.status.code(), text(&o.stdout)),
        (Some(0), "hello\n".into())
    );
    let o = run(&ns, &["send", "echo", "hi there"]);
    assert_eq!(
        (o.status.code(), text(&o.stdout)),
        (Some(0), "hi there".into())
    );
    let o = run(&ns, &["send", "echo", "framed", "--message"]);
    assert_eq!(text(&o.stdout), "framed\n");
    let o = run_with(&ns, &["cat", "echo"], b"one\ntwo\n");
    assert_eq!(text(&o.stdout), "one\ntwo\n");
    assert_eq!(run(&ns, &["wait", "echo"]).status.code(), Some(0));
    let (code, err) = srv.interrupt();
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        run(&ns, &["wait", "echo", "--timeout", "0"]).status.code(),
        Some(3)
    );
}

#[test]
fn byte_server_ends_output_by_disconnecting() {
    let ns = unique_ns();
    let srv = Server::start(
        &ns,
        &["serve", "b", "--byte", "--exec", "echo from-the-server"],
        &ready("b"),
    );
    let o = run(&ns, &["send", "b", "ignored"]);
    assert_eq!(
        (o.status.code(), text(&o.stdout)),
        (Some(0), "from-the-server\n".into())
    );
    let l = listing(&ns);
    assert_eq!(l[0]["type"], "byte");
    assert_eq!(srv.interrupt().0, Some(0));
}

/// Reads the first line the process writes.
fn first_line(c: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(c.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    line
}

#[test]
fn instances_serve_clients_at_once_and_busy_times_out() {
    let ns = unique_ns();
    let srv = Server::start(
        &ns,
        &["serve", "two", "--exec", "cat", "--instances", "2"],
        &ready("two"),
    );
    let mut clients: Vec<Child> = (0..2)
        .map(|_| {
            cmd(&ns, &["cat", "two"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Both connected, each with a command of its own: they answer while both are open.
    for (i, c) in clients.iter_mut().enumerate() {
        writeln!(c.stdin.as_mut().unwrap(), "client {i}").unwrap();
        assert_eq!(first_line(c), format!("client {i}\n"));
    }
    let l = listing(&ns);
    assert_eq!(
        (&l[0]["instances"], &l[0]["listening"]),
        (&2.into(), &0.into())
    );
    let o = run(&ns, &["wait", "two", "--timeout", "20"]);
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(
        text(&o.stderr),
        "npipe: \\\\.\\pipe\\two: timed out (ERROR_SEM_TIMEOUT)\n"
    );
    let o = run(&ns, &["cat", "two", "--timeout", "20"]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o.stderr));
    for mut c in clients {
        drop(c.stdin.take());
        assert!(c.wait().unwrap().success());
    }
    assert_eq!(srv.interrupt().0, Some(0));
}

/// The pids of the children of `pid`.
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let p = t.unwrap().path().join("children");
        let s = std::fs::read_to_string(p).unwrap_or_default();
        out.extend(s.split_whitespace().map(|x| x.parse::<u32>().unwrap()));
    }
    out
}

/// Whether `pid` exists, as a zombie too (exited, not reaped).
fn exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether `pid` runs (exists and is not a zombie).
fn running(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The state follows the command name in parentheses.
    stat.rsplit_once(") ")
        .is_some_and(|(_, rest)| !rest.starts_with('Z'))
}

#[test]
fn ctrl_c_closes_instances_and_reaps_children() {
    let ns = unique_ns();
    let srv = Server::start(
        &ns,
        &["serve", "slow", "--exec", "sleep 1000; echo never"],
        &ready("slow"),
    );
    let client = cmd(&ns, &["cat", "slow"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let server_pid = srv.child.id();
    let kids = loop {
        let k = children(server_pid);
        if !k.is_empty() {
            break k;
        }
        thread::sleep(Duration::from_millis(10));
    };
    let grandkids: Vec<u32> = kids.iter().flat_map(|&k| children(k)).collect();
    let (code, err) = srv.interrupt();
    assert_eq!(code, Some(0), "{err}");
    // The children were reaped by the server; their own children (not the server's to reap)
    // were stopped with them.
    for pid in &kids {
        assert!(!exists(*pid), "child {pid} left behind");
    }
    for pid in &grandkids {
        assert!(!running(*pid), "grandchild {pid} still running");
    }
    // The client sees the server go and ends without output.
    let o = client.wait_with_output().unwrap();
    assert_eq!((o.status.code(), o.stdout.len()), (Some(0), 0));
    assert_eq!(
        run(&ns, &["wait", "slow", "--timeout", "0"]).status.code(),
        Some(3)
    );
}

#[test]
fn list_shows_pipes_and_mailslots_as_table_and_json() {
    let ns = unique_ns();
    assert_eq!(listing(&ns).len(), 0);
    let a = Server::start(
        &ns,
        &[
            "serve",
            "Alpha Pipe",
            "--echo",
            "--instances",
            "3",
            "--out-buffer",
            "4096",
        ],
        &ready("alpha pipe"),
    );
    let m = Server::start(&ns, &["mailslot", "create", "box"], &["list"]);
    let l = loop {
        let l = listing(&ns);
        if l.len() == 2 {
            break l;
        }
        thread::sleep(Duration::from_millis(10));
    };
    let p = &l[0];
    assert_eq!(p["kind"], "pipe");
    assert_eq!(p["name"], r"\\.\pipe\Alpha Pipe");
    assert_eq!(p["leaf"], "Alpha Pipe");
    assert_eq!(
        (&p["type"], &p["direction"]),
        (&"message".into(), &"duplex".into())
    );
    assert_eq!(
        (&p["instances"], &p["max_instances"]),
        (&3.into(), &3.into())
    );
    assert_eq!(p["out_buffer_size"], 4096);
    assert_eq!(p["server_pid"], a.child.id());
    assert!(p["owner_uid"].is_u64());
    let s = &l[1];
    assert_eq!(
        (&s["kind"], &s["name"]),
        (&"mailslot".into(), &r"\\.\mailslot\box".into())
    );
    assert_eq!(s["server_pid"], m.child.id());
    let o = run(&ns, &["list"]);
    let table = text(&o.stdout);
    assert!(table.starts_with("KIND"), "{table}");
    assert!(table.contains(r"\\.\pipe\Alpha Pipe") && table.contains(r"\\.\mailslot\box"));
    assert!(table.contains("3/3"), "{table}");
    assert_eq!(a.interrupt().0, Some(0));
    assert_eq!(m.interrupt().0, Some(0));
    assert_eq!(listing(&ns).len(), 0);
}

#[test]
fn mailslot_prints_each_message_on_its_own_line() {
    let ns = unique_ns();
    let mut m = Server::start(&ns, &["mailslot", "create", "inbox"], &["list"]);
    // Ready once a writer can open it.
    while run(&ns, &["mailslot", "send", "inbox", "first"])
        .status
        .code()
        != Some(0)
    {
        assert!(
            m.child.try_wait().unwrap().is_none(),
            "mailslot create ended"
        );
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        run(&ns, &["mailslot", "send", "INBOX", "second\n"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        run(&ns, &["mailslot", "send", "inbox", ""]).status.code(),
        Some(0)
    );
    let mut out = BufReader::new(m.child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..3 {
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        lines.push(l);
    }
    assert_eq!(lines, ["first\n", "second\n", "\n"]);
    // One reader per name.
    let o = run(&ns, &["mailslot", "create", "inbox"]);
    assert_eq!(o.status.code(), Some(5));
    assert!(text(&o.stderr).contains("already exists (ERROR_ALREADY_EXISTS)"));
    assert_eq!(m.interrupt().0, Some(0));
}

#[test]
fn serving_a_served_name_is_refused() {
    let ns = unique_ns();
    let srv = Server::start(&ns, &["serve", "mine", "--echo"], &ready("mine"));
    let o = run(&ns, &["serve", "mine", "--echo"]);
    assert_eq!(o.status.code(), Some(5));
    assert_eq!(
        text(&o.stderr),
        "npipe: \\\\.\\pipe\\mine: already served (ERROR_ACCESS_DENIED)\n"
    );
    assert_eq!(srv.interrupt().0, Some(0));
}
