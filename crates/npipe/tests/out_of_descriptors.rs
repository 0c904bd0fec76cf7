//! A server process that has run out of descriptors: a client's open is refused with
//! ERROR_NOT_ENOUGH_MEMORY (the error npipe gives for EMFILE), through the server's reserve
//! descriptor, once the shortage has lasted a second, instead of waiting in the kernel's
//! backlog until its open gives up; once the
//! server has descriptors again, clients connect as before. The server is this test binary
//! re-run in a role, so its descriptor limit is its own.

mod util;

use std::io::{self, BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::time::{Duration, Instant};

use npipe::error::code::ERROR_NOT_ENOUGH_MEMORY;
use npipe::{win32_code, ClientOptions, PipeMode, ReadMode, ServerOptions};

/// How long an open may take before it counts as left waiting (the handshake's own limit is
/// 10 s; the server refuses once it has been out of descriptors for 1 s).
const PROMPT: Duration = Duration::from_secs(5);

/// Child: `name`. Serves one message-type instance, then opens `/dev/null` until the process
/// is out of descriptors and says "EXHAUSTED"; on a line on stdin it closes them, says "FREED",
/// and echoes one message for the next client. Ends when stdin closes.
fn role_exhausted_server(name: &str) -> Result<(), String> {
    let e2s = |e: io::Error| e.to_string();
    util::set_nofile(256)?;
    let s = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .create(name)
        .map_err(e2s)?;
    let mut hog = Vec::new();
    while let Ok(f) = std::fs::File::open("/dev/null") {
        hog.push(f);
    }
    say("EXHAUSTED");
    let mut line = String::new();
    io::stdin().lock().read_line(&mut line).map_err(e2s)?;
    drop(hog);
    say("FREED");
    s.connect().map_err(e2s)?;
    let mut buf = [0u8; 64];
    let m = s.recv_msg(&mut buf).map_err(e2s)?;
    s.send_msg(&buf[..m.read]).map_err(e2s)?;
    let _ = io::stdin().lock().read_line(&mut line);
    Ok(())
}

fn say(what: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{what}");
    let _ = out.flush();
}

child_roles! {
    "exhausted_server" => role_exhausted_server,
}

/// Reads the child's output up to a line that ends with `want` (the test harness prints text
/// of its own, also at the start of the role's first line).
fn expect_line(out: &mut BufReader<ChildStdout>, want: &str) {
    let mut line = String::new();
    loop {
        line.clear();
        let n = out.read_line(&mut line).expect("read the server's output");
        assert!(n > 0, "the server ended before saying {want}");
        if line.trim_end().ends_with(want) {
            return;
        }
    }
}

/// The `exhausted_server` role, running and out of descriptors.
struct Exhausted {
    name: String,
    server: Child,
    out: BufReader<ChildStdout>,
    stdin: Option<ChildStdin>,
}

impl Exhausted {
    /// Starts the server of a new pipe and waits until it is out of descriptors.
    fn start(tag: &str) -> Exhausted {
        let name = util::unique_name(tag);
        let mut server = util::child_command("exhausted_server", &name)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the server");
        let mut out = BufReader::new(server.stdout.take().unwrap());
        let stdin = server.stdin.take();
        expect_line(&mut out, "EXHAUSTED");
        Exhausted {
            name,
            server,
            out,
            stdin,
        }
    }

    /// Gives the server its descriptors back.
    fn free(&mut self) {
        writeln!(self.stdin.as_mut().unwrap(), "free").unwrap();
        expect_line(&mut self.out, "FREED");
    }

    /// Once freed: a client connects (an open may still meet the server's rest between
    /// rounds) and gets its message echoed, then the server ends cleanly.
    fn echo_and_finish(mut self) {
        let end = Instant::now() + util::PEER_WAIT;
        let c = loop {
            match ClientOptions::new().open(&self.name) {
                Ok(c) => break c,
                Err(e) if Instant::now() < end => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("no open succeeded once the server had descriptors: {e}"),
            }
        };
        c.set_mode(ReadMode::Message, false).unwrap();
        c.send_msg(b"again").unwrap();
        let mut buf = [0u8; 16];
        let m = c.recv_msg(&mut buf).unwrap();
        assert_eq!(&buf[..m.read], b"again");
        drop(self.stdin.take());
        match util::wait_child(&mut self.server, util::CHILD_LIMIT) {
            Ok(st) => assert!(st.success(), "server failed: {st}"),
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn an_open_of_a_server_out_of_descriptors_is_refused_not_left_waiting() {
    let mut server = Exhausted::start("emfile-refused");
    for _ in 0..3 {
        let t0 = Instant::now();
        let r = ClientOptions::new().open(&server.name);
        let took = t0.elapsed();
        let e = r.expect_err("the server has no descriptor to serve a client with");
        assert_eq!(win32_code(&e), ERROR_NOT_ENOUGH_MEMORY, "{e}");
        assert!(took < PROMPT, "the refusal took {took:?}");
        // The listener rests between rounds of refusals.
        std::thread::sleep(Duration::from_millis(150));
    }
    server.free();
    server.echo_and_finish();
}

#[test]
fn a_wait_outlasts_a_shortage_of_descriptors() {
    // WaitNamedPipe is told to ask again (ERROR_PIPE_BUSY), not failed, while the server is out
    // of descriptors: it succeeds once the server has them again, within its own time limit.
    let mut server = Exhausted::start("emfile-wait");
    let name = server.name.clone();
    let waiter = std::thread::spawn(move || {
        npipe::wait_named_pipe(&name, npipe::WaitFor::Timeout(util::PEER_WAIT))
    });
    // Past the second after which the server refuses its backlog.
    std::thread::sleep(Duration::from_millis(2500));
    server.free();
    let r = waiter.join().unwrap();
    server.echo_and_finish();
    if let Err(e) = r {
        panic!("the wait failed with {} ({e})", win32_code(&e));
    }
}
