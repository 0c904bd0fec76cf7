//! `npipe serve`: a pipe server with one thread per instance, each serving one client at a
//! time: an echo, or one `sh -c CMD` process per client with its stdin and stdout relayed to
//! the pipe. The end-of-data convention the relay keeps (an empty message ends a direction)
//! is the one `npipe cat` keeps; docs/CLI.md describes both. Stopping (signals, reaping) is
//! `stop`.
//!
//! Per client of an `--exec` server:
//! - one thread copies the pipe to the child's stdin; the client's empty message (or its
//!   close) closes the child's stdin;
//! - this instance's thread copies the child's stdout to the pipe (a message per read, or per
//!   line with `--message`); at its end it sends an empty message (message-type pipes), waits
//!   until the client has read everything (FlushFileBuffers), and disconnects;
//! - a client that goes away while the child still writes gets the child a SIGTERM;
//! - the child is reaped before the instance listens again.

use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use clap::{ArgGroup, Args};
use rustix::process::Signal;

use crate::fail::{full_name, Context, Failure, Kind, Outcome};
use crate::stop::{Children, StopSignals, Stopper};
use npipe::error::code::*;
use npipe::{
    win32_code, Access, AccessPolicy, NamedPipeServer, PipeMode, ReadMode, ServerOptions,
    SmbExposure, Trustee,
};

/// `npipe serve`: options.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("what").required(true).args(["echo", "exec"])))]
pub(crate) struct ServeArgs {
    /// The pipe name (a bare NAME is \\.\pipe\NAME).
    name: String,
    /// Send every message back to its client as it came.
    #[arg(long)]
    echo: bool,
    /// Run `sh -c CMD` for each client, its stdin and stdout wired to the pipe.
    #[arg(long, value_name = "CMD")]
    exec: Option<String>,
    /// Send each line the command writes as one message (with --exec).
    #[arg(long)]
    message: bool,
    /// Make a byte-type pipe (PIPE_TYPE_BYTE) instead of a message-type one: clients then
    /// cannot mark the end of their input, so a command sees its stdin end only when the
    /// client closes.
    #[arg(long, conflicts_with = "message")]
    byte: bool,
    /// Instances: how many clients are served at once (at most 64).
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    instances: u32,
    /// nOutBufferSize: the server-to-client quota in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 65536)]
    out_buffer: u32,
    /// nInBufferSize: the client-to-server quota in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 65536)]
    in_buffer: u32,
    /// Admit clients of every user (by default only this user and root may connect).
    #[arg(long)]
    allow_everyone: bool,
    /// Also admit clients running as this uid (repeatable).
    #[arg(long, value_name = "UID")]
    allow_uid: Vec<u32>,
    /// Also admit clients in this group, primary or supplementary (repeatable).
    #[arg(long, value_name = "GID")]
    allow_gid: Vec<u32>,
    /// Also serve SMB clients through the local Samba server (\\HOST\IPC$\NAME; needs
    /// root). They are admitted as the SMB user's uid: see --allow-uid and --allow-everyone.
    #[arg(long)]
    smb: bool,
    /// Samba's np directory (`<ncalrpc dir>/np`) for --smb, instead of asking testparm.
    #[arg(long, value_name = "DIR", requires = "smb")]
    smb_np_dir: Option<std::path::PathBuf>,
}

impl ServeArgs {
    /// The access policy the --allow-* options ask for (`None`: the default, this user and
    /// root).
    fn policy(&self) -> Option<AccessPolicy> {
        if !self.allow_everyone && self.allow_uid.is_empty() && self.allow_gid.is_empty() {
            return None;
        }
        let mut p = AccessPolicy::owner_and_root();
        if self.allow_everyone {
            p = p.allow(Trustee::Everyone, Access::ALL);
        }
        for &u in &self.allow_uid {
            p = p.allow(Trustee::Uid(u), Access::ALL);
        }
        for &g in &self.allow_gid {
            p = p.allow(Trustee::Gid(g), Access::ALL);
        }
        Some(p)
    }
}

/// Size of the relay buffers.
const CHUNK: usize = 64 * 1024;
/// How long a stop waits for children to end after SIGTERM before it sends SIGKILL.
const GRACE: Duration = Duration::from_secs(2);

/// What every instance thread shares.
struct Shared<'a> {
    name: String,
    args: &'a ServeArgs,
    message_type: bool,
    stopping: AtomicBool,
    children: Children,
    stopper: Stopper,
    failure: Mutex<Option<Failure>>,
    /// Progress lines on stderr (only when it is a terminal).
    verbose: bool,
}

impl Shared<'_> {
    fn stopping(&self) -> bool {
        // Relaxed: see the store in `run`.
        self.stopping.load(Ordering::Relaxed)
    }

    /// Records a failure that ends the server, and ends it.
    fn fail(&self, f: Failure) {
        let mut slot = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(f);
        self.stopper.stop();
    }
}

/// Whether `e` means the client's session is over (it left, was disconnected, or the server
/// is stopping and closed the instance).
fn ended(e: &io::Error) -> bool {
    matches!(
        win32_code(e),
        ERROR_BROKEN_PIPE
            | ERROR_PIPE_NOT_CONNECTED
            | ERROR_NO_DATA
            | ERROR_OPERATION_ABORTED
            | ERROR_INVALID_HANDLE
    )
}

/// Runs `npipe serve` until a signal (or a failure) stops it.
pub(crate) fn run(args: &ServeArgs) -> Outcome {
    if args.message && args.exec.is_none() {
        // (clap's `requires` is not applied to a flag whose partner is in a group.)
        return Err(Failure::usage(
            "serve",
            io::Error::other("the argument '--message' requires '--exec <CMD>'"),
        ));
    }
    let name = full_name(&args.name, Kind::Pipe)?;
    let mut signals = StopSignals::install().on("signal handlers")?;
    let message_type = !args.byte;
    let mut opts = ServerOptions::new();
    opts.pipe_mode(if message_type {
        PipeMode::Message
    } else {
        PipeMode::Byte
    })
    .read_mode(if message_type {
        ReadMode::Message
    } else {
        ReadMode::Byte
    })
    .max_instances(args.instances)
    .out_buffer_size(args.out_buffer)
    .in_buffer_size(args.in_buffer);
    if let Some(p) = args.policy() {
        opts.access_policy(p);
    }
    // The first instance owns the name: a name someone else serves is refused (ERROR_PIPE_BUSY
    // when that server has all its instances, W16).
    let first = opts
        .clone()
        .first_pipe_instance(true)
        .create(&name)
        .map_err(|e| match win32_code(&e) {
            ERROR_ACCESS_DENIED | ERROR_PIPE_BUSY => Failure::new(&name, e).already_served(),
            _ => Failure::new(&name, e),
        })?;
    let mut instances = vec![first];
    for _ in 1..args.instances {
        instances.push(opts.create(&name).on(&name)?);
    }
    // SMB clients become clients of these instances; the listener goes with `_smb`.
    let _smb = if args.smb {
        let mut x = SmbExposure::new();
        if let Some(d) = &args.smb_np_dir {
            x.np_dir(d);
        }
        Some(
            x.expose(&name)
                .map_err(|e| Failure::new(&name, e).because("cannot expose it over SMB"))?,
        )
    } else {
        None
    };
    let sh = Shared {
        name,
        args,
        message_type,
        stopping: AtomicBool::new(false),
        children: Children::default(),
        stopper: signals.stopper(),
        failure: Mutex::new(None),
        verbose: io::stderr().is_terminal(),
    };
    if sh.verbose {
        eprintln!(
            "npipe: serving {} ({} instances, {} type); Ctrl-C stops",
            sh.name,
            args.instances,
            if message_type { "message" } else { "byte" }
        );
        if let Some(l) = &_smb {
            eprintln!(
                "npipe: SMB clients reach it through {}",
                l.socket_path().display()
            );
        }
    }
    thread::scope(|s| {
        let workers: Vec<_> = instances
            .iter()
            .enumerate()
            .map(|(i, inst)| {
                let sh = &sh;
                thread::Builder::new()
                    .name(format!("instance-{i}"))
                    .spawn_scoped(s, move || instance(sh, i, inst))
            })
            .collect();
        if let Some(Err(e)) = workers.iter().find(|w| w.is_err()) {
            sh.fail(Failure::new(
                "start a thread",
                io::Error::new(e.kind(), e.to_string()),
            ));
        }
        signals.wait();
        // Relaxed is enough: the closes below, which make the instance threads' calls fail,
        // go through the library's locks after this store, and a thread reads the flag only
        // after its call failed.
        sh.stopping.store(true, Ordering::Relaxed);
        for inst in &instances {
            inst.close();
        }
        sh.children.signal_all(Signal::TERM);
        let started = Instant::now();
        while workers
            .iter()
            .any(|w| w.as_ref().is_ok_and(|h| !h.is_finished()))
        {
            if started.elapsed() > GRACE {
                sh.children.signal_all(Signal::KILL);
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
    });
    if sh.verbose {
        eprintln!("npipe: stopped serving {}", sh.name);
    }
    match sh.failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

/// One instance's thread: listen, serve the client, disconnect, again, until the stop.
fn instance(sh: &Shared<'_>, i: usize, inst: &NamedPipeServer) {
    loop {
        match inst.connect() {
            Ok(()) => {}
            Err(_) if sh.stopping() => return,
            // The client came and went already (W43): what it wrote stays readable (W113), so
            // it is served like any other (a `send` that closed at once still reaches the
            // command).
            Err(e) if win32_code(&e) == ERROR_NO_DATA => {}
            Err(e) => return sh.fail(Failure::new(&sh.name, e)),
        }
        let pid = inst.client_process_id().ok();
        let who = pid.map_or_else(|| "a client".to_owned(), |p| format!("client pid {p}"));
        if sh.verbose {
            eprintln!("npipe: instance {i}: {who} connected");
        }
        let r = match &sh.args.exec {
            Some(cmd) => exec(sh, inst, cmd, pid),
            None => echo(sh, inst),
        };
        if sh.stopping() {
            return;
        }
        if let Err(f) = r {
            // One client's trouble is reported, and the instance serves the next one.
            eprintln!("{f}");
        } else if sh.verbose {
            eprintln!("npipe: instance {i}: {who} done");
        }
        let _ = inst.disconnect();
    }
}

/// `--echo`: every message back as it came (byte pipes: every chunk).
fn echo(sh: &Shared<'_>, inst: &NamedPipeServer) -> Outcome {
    let mut buf = vec![0u8; CHUNK];
    let mut msg = Vec::new();
    loop {
        let r = if sh.message_type {
            inst.recv_msg(&mut buf).map(|m| (m.read, m.left))
        } else {
            (&*inst).read(&mut buf).map(|n| (n, 0))
        };
        let (n, left) = match r {
            Ok((0, 0)) if !sh.message_type => return Ok(()),
            Ok(x) => x,
            Err(e) if ended(&e) => return Ok(()),
            Err(e) => return Err(Failure::new(&sh.name, e)),
        };
        msg.extend_from_slice(&buf[..n]);
        if left > 0 {
            continue;
        }
        let w = if sh.message_type {
            inst.send_msg(&msg).map(|_| ())
        } else {
            (&*inst).write_all(&msg)
        };
        msg.clear();
        match w {
            Ok(()) => {}
            Err(e) if ended(&e) => return Ok(()),
            Err(e) => return Err(Failure::new(&sh.name, e)),
        }
    }
}

/// `--exec CMD`: one `sh -c CMD` for this client (see the module docs).
fn exec(sh: &Shared<'_>, inst: &NamedPipeServer, cmd: &str, client: Option<u32>) -> Outcome {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .process_group(0)
        .env("NPIPE_PIPE", &sh.name);
    if let Some(pid) = client {
        c.env("NPIPE_CLIENT_PID", pid.to_string());
    }
    let mut child = c.spawn().on(&format!("sh -c {cmd:?}"))?;
    sh.children.add(&child);
    let pid = child.id();
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    thread::scope(|s| {
        s.spawn(|| pipe_to_child(sh, inst, stdin, pid));
        if let Some(out) = stdout {
            if !child_to_pipe(sh, inst, out) {
                sh.children.signal(pid, Signal::TERM);
            }
        }
        if sh.message_type {
            let _ = inst.send_msg(b"");
        }
        // Everything written stays readable until the client has read it, then the session
        // ends (which also ends the other relay thread's read).
        let _ = inst.flush_buffers();
        let _ = inst.disconnect();
    });
    sh.children
        .reap(&mut child)
        .on(&format!("wait for sh -c {cmd:?}"))?;
    Ok(())
}

/// Copies the client's data to the child's stdin until the client's empty message or its
/// end; a child that stops reading makes the rest be discarded. On a message pipe a client
/// that goes away without its empty message has left: the child (`pid`) is stopped, as when it
/// leaves while the child writes, since its output has nowhere to go (a byte pipe's client
/// can only end its input by closing, which leaves the child running).
fn pipe_to_child(
    sh: &Shared<'_>,
    inst: &NamedPipeServer,
    stdin: Option<std::process::ChildStdin>,
    pid: u32,
) {
    let mut stdin = stdin;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let r = if sh.message_type {
            inst.recv_msg(&mut buf).map(|m| (m.read, m.left))
        } else {
            (&*inst).read(&mut buf).map(|n| (n, 0))
        };
        match r {
            // An empty message (or, on a byte pipe, the client's close): end of input.
            Ok((0, 0)) => return,
            Ok((n, _)) => {
                if let Some(w) = stdin.as_mut() {
                    if w.write_all(&buf[..n]).is_err() {
                        stdin = None;
                    }
                }
            }
            Err(e) if sh.message_type && ended(&e) => {
                sh.children.signal(pid, Signal::TERM);
                return;
            }
            Err(_) => return,
        }
    }
}

/// Copies the child's stdout to the pipe until it ends; `false` when the client went away
/// first (the caller then stops the child; its output has nowhere to go).
fn child_to_pipe(sh: &Shared<'_>, inst: &NamedPipeServer, out: std::process::ChildStdout) -> bool {
    let mut out = BufReader::with_capacity(CHUNK, out);
    let mut line = Vec::new();
    loop {
        let sent = if sh.args.message {
            line.clear();
            match out.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return true,
                Ok(_) => inst.send_msg(&line).map(|_| ()),
            }
        } else {
            let n = match out.fill_buf() {
                Ok([]) | Err(_) => return true,
                Ok(b) if sh.message_type => inst.send_msg(b).map(|_| b.len()),
                Ok(b) => (&*inst).write_all(b).map(|()| b.len()),
            };
            n.map(|n| out.consume(n))
        };
        if sent.is_err() {
            return false;
        }
    }
}
