//! `npipe mailslot`: `create` reads a mailslot and prints each message on its own line until
//! a signal stops it (see `stop`); `send` writes one message.

use std::io::{self, IsTerminal, Write};
use std::thread;

use clap::{Args, Subcommand};

use crate::fail::{full_name, Context, Failure, Kind, Outcome};
use crate::stop::StopSignals;
use npipe::{Mailslot, MailslotWriter};

/// `npipe mailslot`: its subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum MailslotCmd {
    /// Create a mailslot and print each message on its own line until interrupted.
    #[command(after_help = "Example:\n  npipe mailslot create logs")]
    Create(CreateArgs),
    /// Write one message to a mailslot.
    #[command(after_help = "Example:\n  npipe mailslot send logs 'disk almost full'")]
    Send(SendArgs),
}

/// `npipe mailslot create`: options.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// The mailslot name (a bare NAME is \\.\mailslot\NAME).
    name: String,
}

/// `npipe mailslot send`: options.
#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// The mailslot name (a bare NAME is \\.\mailslot\NAME).
    name: String,
    /// The message.
    message: String,
}

/// Runs an `npipe mailslot` subcommand.
pub(crate) fn run(cmd: &MailslotCmd) -> Outcome {
    match cmd {
        MailslotCmd::Create(a) => create(a),
        MailslotCmd::Send(a) => send(a),
    }
}

fn send(args: &SendArgs) -> Outcome {
    let name = full_name(&args.name, Kind::Mailslot)?;
    let w = MailslotWriter::open(&name).on(&name)?;
    w.send(args.message.as_bytes()).on(&name)
}

fn create(args: &CreateArgs) -> Outcome {
    let name = full_name(&args.name, Kind::Mailslot)?;
    let mut signals = StopSignals::install().on("signal handlers")?;
    let slot = Mailslot::create(&name).on(&name)?;
    let verbose = io::stderr().is_terminal();
    if verbose {
        eprintln!("npipe: reading {name}; Ctrl-C stops");
    }
    let stopper = signals.stopper();
    let reader = thread::Builder::new()
        .name("reader".into())
        .spawn(move || {
            let r = read_all(&slot);
            stopper.stop();
            r
        })
        .on("start the reader thread")?;
    signals.wait();
    if reader.is_finished() {
        // The reader ended by itself (stdout gone, or the mailslot failed).
        return reader.join().unwrap_or(Ok(()));
    }
    // Stopped by a signal while the reader waits for the next message: hold stdout so no
    // line is cut, and end the process (the mailslot's name goes with it).
    let mut out = io::stdout().lock();
    let _ = out.flush();
    if verbose {
        eprintln!("npipe: stopped reading {name}");
    }
    // `out` stays locked until the process is gone.
    std::process::exit(0)
}

/// Prints every message until stdout goes away (Ok) or a read fails.
fn read_all(slot: &Mailslot) -> Outcome {
    loop {
        let mut msg = slot.recv().on(slot.name())?;
        if !msg.ends_with(b"\n") {
            msg.push(b'\n');
        }
        let mut out = io::stdout().lock();
        match out.write_all(&msg).and_then(|()| out.flush()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(Failure::new("stdout", e)),
        }
    }
}
