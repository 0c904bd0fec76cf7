//! The pipe commands of `npipe`, the built binary against itself: `serve` (echo and exec),
//! `cat`, `send`, `call`, `wait`, `list` and `mailslot`, each test in a namespace of its own
//! (`NPIPE_NAMESPACE`). Servers are stopped with SIGINT, as Ctrl-C would, and must exit 0
//! with their children reaped. No test asserts a timing: readiness is polled for, with the
//! server's own exit as the way out, and every wait gives up after a generous [`LIMIT`], so a
//! hung command fails its test instead of blocking the run.

#[path = "../../npipe/tests/smb/npa_request.rs"]
mod npa_request;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long a test waits for anything (a server to be ready, a process to exit, a line of
/// output, a polled condition) before it fails.
const LIMIT: Duration = Duration::from_secs(60);

/// Polls `f` every 10 ms until it gives a value; fails after [`LIMIT`], naming `what`.
#[track_caller]
fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + LIMIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "{what}: not within {LIMIT:?}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// Waits at most [`LIMIT`] for `c` to exit; `None` when it still runs then.
fn exit_within(c: &mut Child) -> Option<ExitStatus> {
    let end = Instant::now() + LIMIT;
    let mut nap = Duration::from_millis(1);
    loop {
        if let Some(st) = c.try_wait().expect("wait child") {
            return Some(st);
        }
        if Instant::now() >= end {
            return None;
        }
        thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(20));
    }
}

/// Everything `pipe` gives until EOF, read on a thread of its own; the receiver gets it once.
fn drain(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut v);
        }
        let _ = tx.send(v);
    });
    rx
}

/// `wait_with_output`, bounded: collects what `c` writes to its piped stdout and stderr and
/// waits for it to exit, at most [`LIMIT`] each; a process still running then is killed and
/// the test fails.
#[track_caller]
fn finish(mut c: Child) -> Output {
    let (out, err) = (drain(c.stdout.take()), drain(c.stderr.take()));
    let Some(status) = exit_within(&mut c) else {
        let _ = c.kill();
        let _ = c.wait();
        let err = err.recv_timeout(LIMIT).unwrap_or_default();
        panic!(
            "npipe still running after {LIMIT:?} (killed): {}",
            text(&err)
        );
    };
    let collect = |rx: mpsc::Receiver<Vec<u8>>| {
        rx.recv_timeout(LIMIT)
            .expect("the output stayed open after the process exited")
    };
    Output {
        status,
        stdout: collect(out),
        stderr: collect(err),
    }
}

/// The lines `c` writes to its piped stdout (each with its newline), read on a thread of their
/// own, to be taken with [`next_line`].
fn lines_of(c: &mut Child) -> mpsc::Receiver<String> {
    let out = c.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut r = BufReader::new(out);
        loop {
            let mut l = String::new();
            match r.read_line(&mut l) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// The next line from [`lines_of`], waited for at most [`LIMIT`].
#[track_caller]
fn next_line(lines: &mpsc::Receiver<String>) -> String {
    lines
        .recv_timeout(LIMIT)
        .unwrap_or_else(|e| panic!("no line of output: {e}"))
}

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

#[track_caller]
fn run(ns: &str, args: &[&str]) -> Output {
    finish(
        cmd(ns, args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run npipe"),
    )
}

/// Runs `npipe ARGS` with `input` on stdin.
#[track_caller]
fn run_with(ns: &str, args: &[&str], input: &[u8]) -> Output {
    let mut c = cmd(ns, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn npipe");
    c.stdin.take().unwrap().write_all(input).unwrap();
    finish(c)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A running `npipe serve` (or `mailslot create`).
struct Server {
    child: Child,
}

impl Server {
    /// Starts `npipe ARGS` and waits until `ready` (an `npipe` command) succeeds, at most
    /// [`LIMIT`].
    #[track_caller]
    fn start(ns: &str, args: &[&str], ready: &[&str]) -> Server {
        let child = cmd(ns, args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn server");
        let mut s = Server { child };
        let end = Instant::now() + LIMIT;
        loop {
            if let Some(st) = s.child.try_wait().unwrap() {
                let err = drain(s.child.stderr.take())
                    .recv_timeout(LIMIT)
                    .unwrap_or_default();
                panic!("{args:?} ended before it was ready: {st}: {}", text(&err));
            }
            if run(ns, ready).status.success() {
                return s;
            }
            // Dropping `s` kills the server.
            assert!(Instant::now() < end, "{args:?} not ready within {LIMIT:?}");
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends SIGINT (Ctrl-C) and returns the exit status and stderr. A server still running
    /// [`LIMIT`] later is killed and the test fails.
    #[track_caller]
    fn interrupt(mut self) -> (Option<i32>, String) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
        let err = drain(self.child.stderr.take());
        let Some(st) = exit_within(&mut self.child) else {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let err = err.recv_timeout(LIMIT).unwrap_or_default();
            panic!(
                "still running {LIMIT:?} after SIGINT (killed): {}",
                text(&err)
            );
        };
        let err = err
            .recv_timeout(LIMIT)
            .expect("stderr stayed open after the server exited");
        (st.code(), text(&err))
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

#[test]
fn instances_serve_clients_at_once_and_busy_times_out() {
    let ns = unique_ns();
    let srv = Server::start(
        &ns,
        &["serve", "two", "--exec", "cat", "--instances", "2"],
        &ready("two"),
    );
    let mut clients: Vec<(Child, mpsc::Receiver<String>)> = (0..2)
        .map(|_| {
            let mut c = cmd(&ns, &["cat", "two"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let lines = lines_of(&mut c);
            (c, lines)
        })
        .collect();
    // Both connected, each with a command of its own: they answer while both are open.
    for (i, (c, lines)) in clients.iter_mut().enumerate() {
        writeln!(c.stdin.as_mut().unwrap(), "client {i}").unwrap();
        assert_eq!(next_line(lines), format!("client {i}\n"));
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
    for (mut c, _) in clients {
        drop(c.stdin.take());
        assert!(finish(c).status.success());
    }
    assert_eq!(srv.interrupt().0, Some(0));
}

#[test]
fn competing_calls_wait_for_the_one_instance() {
    // CallNamedPipe waits for a free instance once; `call` calls it again while its time lasts,
    // so calls that race for one instance all get their reply (none fails busy at once).
    let ns = unique_ns();
    let srv = Server::start(
        &ns,
        &["serve", "one", "--echo", "--instances", "1"],
        &ready("one"),
    );
    let calls: Vec<Child> = (0..12)
        .map(|i| {
            cmd(
                &ns,
                &["call", "one", &format!("m{i}"), "--timeout", "30000"],
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for (i, c) in calls.into_iter().enumerate() {
        let o = finish(c);
        assert!(o.status.success(), "call {i}: {}", text(&o.stderr));
        assert_eq!(text(&o.stdout), format!("m{i}\n"));
    }
    assert_eq!(srv.interrupt().0, Some(0));
}

#[test]
fn a_client_that_leaves_frees_its_instance_from_a_silent_command() {
    // The command neither reads nor writes: the client's departure stops it, and the instance
    // serves the next client (it stayed busy until the command exited).
    let ns = unique_ns();
    let srv = Server::start(
        &ns,
        &["serve", "quiet", "--exec", "sleep 600", "--instances", "1"],
        &ready("quiet"),
    );
    let mut c = cmd(&ns, &["cat", "quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    until("the instance is taken", || {
        (run(&ns, &["wait", "quiet", "--timeout", "0"]).status.code() == Some(4)).then_some(())
    });
    c.kill().unwrap();
    c.wait().unwrap();
    until("the instance is free again", || {
        run(&ns, &["wait", "quiet", "--timeout", "0"])
            .status
            .success()
            .then_some(())
    });
    assert_eq!(srv.interrupt().0, Some(0));
}

#[test]
fn demo_ends_quietly_when_its_reader_stops() {
    // `npipe demo | head -0`: its output finds no reader; it ends without a panic.
    let ns = unique_ns();
    let mut c = cmd(&ns, &["demo"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(c.stdout.take());
    let o = finish(c);
    assert!(o.status.success(), "{:?}: {}", o.status, text(&o.stderr));
    assert!(!text(&o.stderr).contains("panicked"), "{}", text(&o.stderr));
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
    let kids = until("the server starts a child for the client", || {
        let k = children(server_pid);
        (!k.is_empty()).then_some(k)
    });
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
    let o = finish(client);
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
    let l = until("both objects listed", || {
        let l = listing(&ns);
        (l.len() == 2).then_some(l)
    });
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
    until("a writer opens the mailslot", || {
        if run(&ns, &["mailslot", "send", "inbox", "first"])
            .status
            .code()
            == Some(0)
        {
            return Some(());
        }
        assert!(
            m.child.try_wait().unwrap().is_none(),
            "mailslot create ended"
        );
        None
    });
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
    let out = lines_of(&mut m.child);
    let lines: Vec<String> = (0..3).map(|_| next_line(&out)).collect();
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
        "npipe: \\\\.\\pipe\\mine: already served (ERROR_PIPE_BUSY)\n"
    );
    assert_eq!(srv.interrupt().0, Some(0));
}

/// `serve --allow-everyone` and `--allow-gid` admit clients of other users; without them such
/// a client is refused with exit status 5 (ERROR_ACCESS_DENIED). Needs root (to run clients
/// as uid 4242); skipped otherwise.
#[test]
fn serve_allow_options_admit_other_users() {
    use std::os::unix::process::CommandExt;
    if !rustix::process::geteuid().is_root() {
        eprintln!("serve_allow_options_admit_other_users: skipped (needs root)");
        return;
    }
    let as_user = |ns: &str, name: &str, gid: u32| {
        finish(
            cmd(ns, &["call", name, "hi", "--timeout", "5000"])
                .uid(4242)
                .gid(gid)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run npipe as uid 4242"),
        )
    };
    let ns = unique_ns();
    let _mine = Server::start(&ns, &["serve", "mine", "--echo"], &ready("mine"));
    assert_eq!(as_user(&ns, "mine", 4242).status.code(), Some(5));
    let _all = Server::start(
        &ns,
        &["serve", "all", "--echo", "--allow-everyone"],
        &ready("all"),
    );
    let o = as_user(&ns, "all", 4242);
    assert_eq!(
        (o.status.code(), text(&o.stdout)),
        (Some(0), "hi\n".into()),
        "{}",
        text(&o.stderr)
    );
    let _grp = Server::start(
        &ns,
        &["serve", "grp", "--echo", "--allow-gid", "4300"],
        &ready("grp"),
    );
    assert_eq!(as_user(&ns, "grp", 4242).status.code(), Some(5));
    assert_eq!(as_user(&ns, "grp", 4300).status.code(), Some(0));
}

/// `serve --smb`: this test plays smbd on the socket the server binds in a scratch np
/// directory (no Samba needed); an SMB frame is echoed as a frame, and Ctrl-C removes the
/// socket.
#[test]
fn serve_smb_relays_frames_and_removes_its_socket() {
    let ns = unique_ns();
    let np = std::env::temp_dir().join(format!("npipe-cli-np-{ns}"));
    let _ = std::fs::remove_dir_all(&np);
    let name = format!("SmbEcho-{ns}");
    let mut srv = Server::start(
        &ns,
        &[
            "serve",
            &name,
            "--echo",
            "--allow-everyone",
            "--smb",
            "--smb-np-dir",
            np.to_str().unwrap(),
        ],
        &ready(&name),
    );
    let path = np.join(name.to_lowercase());
    // The socket is bound right after the instances exist, which `ready` waited for; the
    // server's exit is the way out.
    let mut s = until(
        "the SMB socket accepts",
        || match std::os::unix::net::UnixStream::connect(&path) {
            Ok(s) => Some(s),
            Err(_) => {
                assert!(srv.child.try_wait().unwrap().is_none(), "the server ended");
                None
            }
        },
    );
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s.write_all(&npa_request::npa_request(0)).unwrap();
    let mut reply = [0u8; 36];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(&reply[..8], b"\0\0\0\x20NPAM");
    s.write_all(b"\x02\0hi").unwrap();
    let mut frame = [0u8; 4];
    s.read_exact(&mut frame).unwrap();
    assert_eq!(&frame, b"\x02\0hi");
    drop(s);
    let (code, err) = srv.interrupt();
    assert_eq!(code, Some(0), "{err}");
    assert!(!path.exists(), "the socket outlived the server");
    let _ = std::fs::remove_dir_all(&np);
}
