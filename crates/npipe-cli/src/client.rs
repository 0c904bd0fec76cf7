//! The client commands: `call` (CallNamedPipe), `wait` (WaitNamedPipe), and `cat` / `send`,
//! which copy their input to the pipe and the pipe to stdout until both directions are done.
//!
//! End of data (docs/CLI.md): Windows pipes cannot be half-closed, so on a message-type pipe
//! an empty message ends a direction: `cat` sends one when its input ends, and stops reading
//! at the first one it receives (an `npipe serve` sends one when its command's output ends).
//! On a byte-type pipe, where an empty write sends nothing, the output ends only when the
//! server closes or disconnects.

use std::io::{self, BufRead, Read, Write};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use clap::Args;

use crate::fail::{full_name, Context, Failure, Kind, Outcome};
use npipe::error::code::*;
use npipe::{
    call_named_pipe, wait_named_pipe, win32_code, ClientOptions, NamedPipeClient, ReadMode, WaitFor,
};

/// Largest reply `call` takes.
const MAX_REPLY: usize = 1 << 20;
/// Size of the copy buffers.
const CHUNK: usize = 64 * 1024;

/// `npipe call`: options.
#[derive(Debug, Args)]
pub(crate) struct CallArgs {
    /// The pipe name (a bare NAME is \\.\pipe\NAME).
    name: String,
    /// The request, sent as one message.
    message: String,
    /// How long to wait for a free instance, in milliseconds [default: forever].
    #[arg(long, value_name = "MS")]
    timeout: Option<u32>,
}

/// `npipe wait`: options.
#[derive(Debug, Args)]
pub(crate) struct WaitArgs {
    /// The pipe name (a bare NAME is \\.\pipe\NAME).
    name: String,
    /// How long to wait, in milliseconds (0: only look) [default: forever].
    #[arg(long, value_name = "MS")]
    timeout: Option<u32>,
}

/// `npipe cat`: options.
#[derive(Debug, Args)]
pub(crate) struct CatArgs {
    /// The pipe name (a bare NAME is \\.\pipe\NAME).
    name: String,
    /// Send each line of stdin (with its newline) as one message, and print each message
    /// received on its own line.
    #[arg(long)]
    message: bool,
    /// How long to wait for a free instance, in milliseconds [default: forever].
    #[arg(long, value_name = "MS")]
    timeout: Option<u32>,
}

/// `npipe send`: options.
#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// The pipe name (a bare NAME is \\.\pipe\NAME).
    name: String,
    /// The data, sent as one message.
    message: String,
    /// Print each message received on its own line.
    #[arg(long = "message")]
    message_lines: bool,
    /// How long to wait for a free instance, in milliseconds [default: forever].
    #[arg(long, value_name = "MS")]
    timeout: Option<u32>,
}

fn wait_for(timeout: Option<u32>) -> WaitFor {
    match timeout {
        None => WaitFor::Forever,
        Some(ms) => WaitFor::Timeout(Duration::from_millis(ms.into())),
    }
}

/// Whether `e` means the other end is done (closed, disconnected).
fn ended(e: &io::Error) -> bool {
    matches!(
        win32_code(e),
        ERROR_BROKEN_PIPE | ERROR_PIPE_NOT_CONNECTED | ERROR_NO_DATA
    )
}

/// Writes `data` to stdout; `false` when stdout is gone (a reader that stopped early).
fn emit(out: &mut impl Write, data: &[u8]) -> Result<bool, Failure> {
    match out.write_all(data).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(Failure::new("stdout", e)),
    }
}

/// Runs `npipe call`: prints the reply, with a newline after it unless it ends with one.
pub(crate) fn call(args: &CallArgs) -> Outcome {
    let name = full_name(&args.name, Kind::Pipe)?;
    let mut reply = vec![0u8; MAX_REPLY];
    // CallNamedPipe waits for a free instance once; another client may take it first, so it
    // is called again while time is left, as `open` waits for the other commands.
    let deadline = deadline_of(args.timeout);
    let m = loop {
        let wait = wait_left(deadline).unwrap_or(WaitFor::Timeout(Duration::ZERO));
        match call_named_pipe(&name, args.message.as_bytes(), &mut reply, wait) {
            Err(e) if win32_code(&e) == ERROR_PIPE_BUSY && wait_left(deadline).is_some() => {}
            r => break r.on(&name)?,
        }
    };
    let mut out = io::stdout().lock();
    emit(&mut out, &reply[..m.read])?;
    if !reply[..m.read].ends_with(b"\n") {
        emit(&mut out, b"\n")?;
    }
    if !m.complete() {
        return Err(Failure::new(
            &name,
            npipe::Error::io(ERROR_MORE_DATA, "reply longer than 1 MiB"),
        )
        .because("the reply is longer than 1 MiB"));
    }
    Ok(())
}

/// Runs `npipe wait`: success once an instance listens.
pub(crate) fn wait(args: &WaitArgs) -> Outcome {
    let name = full_name(&args.name, Kind::Pipe)?;
    wait_named_pipe(&name, wait_for(args.timeout)).on(&name)
}

/// When a `--timeout MS` runs out (`None`: never).
fn deadline_of(timeout: Option<u32>) -> Option<Instant> {
    timeout.map(|ms| Instant::now() + Duration::from_millis(ms.into()))
}

/// The wait for a free instance that is left before `deadline`; `None` once it has passed.
fn wait_left(deadline: Option<Instant>) -> Option<WaitFor> {
    match deadline {
        None => Some(WaitFor::Forever),
        Some(d) => d
            .checked_duration_since(Instant::now())
            .map(WaitFor::Timeout),
    }
}

/// Opens `name`, waiting (up to `timeout`) while every instance is busy.
fn open(name: &str, timeout: Option<u32>) -> Result<NamedPipeClient, Failure> {
    let deadline = deadline_of(timeout);
    loop {
        match ClientOptions::new().open(name) {
            Ok(c) => return Ok(c),
            Err(e) if win32_code(&e) == ERROR_PIPE_BUSY => {
                let Some(wait) = wait_left(deadline) else {
                    return Err(Failure::new(name, e));
                };
                // Another client may take the instance first: then open fails busy again.
                wait_named_pipe(name, wait).on(name)?;
            }
            Err(e) => return Err(Failure::new(name, e)),
        }
    }
}

/// What goes to the pipe.
enum Input {
    /// stdin, in chunks or (line framing) lines.
    Stdin { lines: bool },
    /// One message.
    Message(Vec<u8>),
}

/// Runs `npipe cat`.
pub(crate) fn cat(args: &CatArgs) -> Outcome {
    let name = full_name(&args.name, Kind::Pipe)?;
    copy_both(
        &name,
        args.timeout,
        Input::Stdin {
            lines: args.message,
        },
        args.message,
    )
}

/// Runs `npipe send`.
pub(crate) fn send(args: &SendArgs) -> Outcome {
    let name = full_name(&args.name, Kind::Pipe)?;
    copy_both(
        &name,
        args.timeout,
        Input::Message(args.message.clone().into_bytes()),
        args.message_lines,
    )
}

/// Sends `input` on a thread of its own and copies the pipe to stdout here, until the server
/// ends its output (see the module docs). The input thread is not waited for: a server that
/// is done has no use for the rest of the input.
fn copy_both(name: &str, timeout: Option<u32>, input: Input, line_output: bool) -> Outcome {
    let client = Arc::new(open(name, timeout)?);
    let message_type = client.is_message_type();
    if message_type {
        client.set_mode(ReadMode::Message, false).on(name)?;
    }
    let writer = Arc::clone(&client);
    thread::Builder::new()
        .name("input".into())
        .spawn(move || send_input(&writer, input, message_type))
        .on("start the input thread")?;
    let mut out = io::stdout().lock();
    let mut buf = vec![0u8; CHUNK];
    let mut msg = Vec::new();
    loop {
        let r = if message_type {
            client.recv_msg(&mut buf).map(|m| (m.read, m.left))
        } else {
            (&*client).read(&mut buf).map(|n| (n, 0))
        };
        let (n, left) = match r {
            Ok((0, 0)) if !message_type => return Ok(()),
            Ok(x) => x,
            Err(e) if ended(&e) => return Ok(()),
            Err(e) => return Err(Failure::new(name, e)),
        };
        if !line_output {
            if n == 0 && left == 0 {
                // The server's end of output.
                return Ok(());
            }
            if !emit(&mut out, &buf[..n])? {
                return Ok(());
            }
            continue;
        }
        msg.extend_from_slice(&buf[..n]);
        if left > 0 {
            continue;
        }
        if msg.is_empty() && message_type {
            return Ok(());
        }
        if !msg.ends_with(b"\n") {
            msg.push(b'\n');
        }
        if !emit(&mut out, &msg)? {
            return Ok(());
        }
        msg.clear();
    }
}

/// Sends the input, then (message-type pipes) the empty message that ends it. Stops quietly
/// when the pipe fails: the reading side reports what happened.
fn send_input(c: &NamedPipeClient, input: Input, message_type: bool) {
    let send = |data: &[u8]| -> bool {
        if message_type {
            c.send_msg(data).is_ok()
        } else {
            let mut w = c;
            w.write_all(data).is_ok()
        }
    };
    match input {
        Input::Message(m) => {
            // An empty MESSAGE sends nothing: an empty message would end the input at once,
            // which is what happens next anyway.
            if !m.is_empty() && !send(&m) {
                return;
            }
        }
        Input::Stdin { lines } => {
            let stdin = io::stdin();
            let mut r = stdin.lock();
            let mut line = Vec::new();
            loop {
                let more = if lines {
                    line.clear();
                    match r.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => false,
                        Ok(_) => send(&line),
                    }
                } else {
                    match r.fill_buf() {
                        Ok([]) | Err(_) => false,
                        Ok(b) => {
                            let n = b.len();
                            let ok = send(b);
                            r.consume(n);
                            ok
                        }
                    }
                };
                if !more {
                    break;
                }
            }
        }
    }
    if message_type {
        let _ = c.send_msg(b"");
    }
}
