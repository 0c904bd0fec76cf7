//! The Win32 example pair in `examples/c` (`pipe_server.c`, `pipe_client.c`), built against
//! include/ and the freshly built libnpipe and run as separate processes: three clients at once
//! against a server that serves three and exits, one reply longer than the client's 16-byte
//! reads (ERROR_MORE_DATA). `.ci/c-package` runs the same pair against the installed library.
//! A stream of quick clients checks that the server's name never vanishes between clients.
//! Every wait is bounded (a hung example fails the test instead of blocking the run).

mod cbuild;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long the test waits for the server's first line and for the server to exit, and lets
/// each client run.
const LIMIT: Duration = Duration::from_secs(120);

/// The server, killed and reaped if the test ends before it exited (a failed assertion).
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The example server, started and past its first line, with the reader of its later lines.
struct Server {
    proc: KillOnDrop,
    lines: mpsc::Receiver<String>,
    pipe: String,
}

fn start_server(server: &std::path::Path, tag: &str, clients: usize) -> Server {
    let pipe = format!(r"\\.\pipe\npipe-example-{tag}-{}", std::process::id());
    let mut proc = KillOnDrop(
        Command::new(server)
            .env("LD_LIBRARY_PATH", cbuild::lib_dir())
            .args([pipe.as_str(), &clients.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start pipe_server"),
    );
    // The server's lines, read on a thread of their own so that every wait for one is bounded.
    let out = proc.0.stdout.take().expect("server stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let line = lines
        .recv_timeout(LIMIT)
        .expect("the server printed no first line");
    assert!(line.starts_with("listening on"), "{line}");
    Server { proc, lines, pipe }
}

/// Runs the client once with `args` and checks it got every echo.
fn run_client(client: &std::path::Path, pipe: &str, args: &[&str]) {
    let mut cmd = Command::new(client);
    cmd.env("LD_LIBRARY_PATH", cbuild::lib_dir())
        .arg(pipe)
        .args(args.iter());
    let o = cbuild::run_bounded(cmd, LIMIT);
    assert!(
        o.status.success(),
        "client {args:?}: {}: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    let want: String = args.iter().map(|a| format!("echo: {a}\n")).collect();
    assert_eq!(String::from_utf8_lossy(&o.stdout), want);
}

/// Waits (bounded) for the server to exit and checks it reports `clients` served.
fn finish(mut srv: Server, clients: usize) {
    let end = Instant::now() + LIMIT;
    let st = loop {
        if let Some(st) = srv.proc.0.try_wait().expect("wait server") {
            break st;
        }
        assert!(
            Instant::now() < end,
            "the server still runs after {LIMIT:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(st.success(), "server: {st}");
    // It has exited: its output ends, and the reader thread with it.
    let rest: Vec<String> = std::iter::from_fn(|| srv.lines.recv_timeout(LIMIT).ok()).collect();
    let want = format!("served {clients} clients");
    assert!(rest.iter().any(|l| l.contains(&want)), "{rest:?}");
}

/// The pair, built under names of the test's own (tests run in parallel).
struct Programs {
    server: std::path::PathBuf,
    client: std::path::PathBuf,
}

impl Drop for Programs {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.server);
        let _ = std::fs::remove_file(&self.client);
    }
}

fn build(tag: &str) -> Programs {
    let dir = cbuild::crate_dir().join("examples/c");
    let at =
        |f: &str, t: &str| cbuild::compile_file(&dir.join(f), &format!("{t}-{tag}"), &["-Wextra"]);
    Programs {
        server: at("pipe_server.c", "ex-server"),
        client: at("pipe_client.c", "ex-client"),
    }
}

#[test]
fn pipe_server_serves_three_clients_at_once() {
    let Programs { server, client } = &build("three");
    let srv = start_server(server, "echo", 3);
    let requests: [&[&str]; 3] = [
        &["hello", "a reply longer than sixteen bytes"],
        &["two"],
        &["three"],
    ];
    // Three clients at once, each on a thread of its own, each killed at the limit.
    std::thread::scope(|sc| {
        for args in requests {
            let pipe = srv.pipe.as_str();
            sc.spawn(move || run_client(client, pipe, args));
        }
    });
    finish(srv, 3);
}

/// Quick clients, three at a time against a fresh server, over and over: the server always has
/// an instance of the name while it runs (it creates the next one before handing a connected
/// one off), so no client finds the name gone (ERROR_FILE_NOT_FOUND) between the end of one
/// client and the next instance; each waits on ERROR_PIPE_BUSY instead (W30). A server that
/// created the next instance after the hand-off failed this test in each of two runs.
#[test]
fn pipe_server_never_lets_its_name_vanish_between_clients() {
    let Programs { server, client } = &build("stream");
    for round in 0..ROUNDS {
        let srv = start_server(server, &format!("stream{round}"), 3);
        std::thread::scope(|sc| {
            for c in 0..3 {
                let pipe = srv.pipe.as_str();
                sc.spawn(move || run_client(client, pipe, &[&format!("{round}.{c}")]));
            }
        });
        finish(srv, 3);
    }
}

const ROUNDS: usize = 150;
