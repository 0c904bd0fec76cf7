//! `npipe`: the command-line tool. This file owns the command line (clap) and the dispatch to
//! one module per command: `list`, `serve`, `client` (call, send, cat, wait), `mailslot`,
//! `bench` (and `faults`), `demo`, `wine` (wine-bridge); `fail` has the error line and the exit codes, `stop` the
//! signal handling of servers. docs/CLI.md documents all of it.

#![deny(unsafe_code)]

mod bench;
mod client;
mod demo;
mod fail;
mod faults;
mod list;
mod mailslot;
mod serve;
mod stop;
mod wine;

use std::io;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use fail::{finish, Context, Failure, Outcome};

const EXAMPLES: &str = "\
Examples:
  npipe list                                   every pipe and mailslot you can see
  npipe serve upper --exec 'tr a-z A-Z' &      serve a command, one process per client
  echo abc | npipe cat upper                   prints ABC
  npipe serve echo --echo &                    an echo server
  npipe call echo 'hello'                      CallNamedPipe: prints hello
  npipe wait echo --timeout 1000               WaitNamedPipe: the exit status tells
  npipe mailslot create logs &                 print what arrives
  npipe mailslot send logs 'disk almost full'

A bare NAME means \\\\.\\pipe\\NAME (\\\\.\\mailslot\\NAME for mailslots).
Exit status: 0 done, 1 failed, 2 bad command line or name, 3 not found,
4 busy or timed out, 5 access denied or already served (docs/CLI.md).";

/// Windows named pipes, mailslots and anonymous pipes on Linux.
#[derive(Debug, Parser)]
#[command(
    name = "npipe",
    version,
    arg_required_else_help = true,
    after_help = EXAMPLES
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// List the pipes and mailslots you can see (name, kind, type, instances, owner, pid).
    #[command(after_help = "Examples:\n  npipe list\n  npipe list --json | jq '.objects[].name'")]
    List(list::ListArgs),
    /// Serve a pipe: an echo, or a command per client, until interrupted.
    #[command(after_help = "Examples:\n  npipe serve upper --exec 'tr a-z A-Z'\n  \
                            npipe serve echo --echo --instances 8 --out-buffer 4096\n  \
                            npipe serve lines --exec 'nl' --message")]
    Serve(serve::ServeArgs),
    /// Send one request and print the one reply (CallNamedPipe).
    #[command(after_help = "Example:\n  npipe call echo 'hello' --timeout 1000")]
    Call(client::CallArgs),
    /// Send MESSAGE and copy the pipe to stdout until the server ends its output.
    #[command(after_help = "Example:\n  npipe send upper 'abc'")]
    Send(client::SendArgs),
    /// Copy stdin to the pipe and the pipe to stdout until both ends are done.
    #[command(after_help = "Examples:\n  echo abc | npipe cat upper\n  \
                            printf 'a\\nb\\n' | npipe cat lines --message")]
    Cat(client::CatArgs),
    /// Wait until an instance of the pipe is free (WaitNamedPipe); the exit status tells.
    #[command(after_help = "Example:\n  npipe wait echo --timeout 1000 && npipe call echo hi")]
    Wait(client::WaitArgs),
    /// Create or write mailslots.
    #[command(subcommand)]
    Mailslot(mailslot::MailslotCmd),
    /// npipe against kernel IPC, peer crates and bare floors, across two processes.
    #[command(after_help = "Examples:\n  npipe bench --quick\n  \
                            npipe bench --only npipe-64k --scenario rtt64 --json")]
    Bench(bench::BenchArgs),
    /// Join Wine's named pipes and npipe's: run npipe-wine-bridge in a Wine prefix.
    #[command(
        name = "wine-bridge",
        after_help = "Examples:\n  npipe wine-bridge --export echo --prefix ~/.wine-game\n  \
                      WINEPREFIX=~/.wine npipe wine-bridge --import game-ipc\n\n\
                      Exit status: the bridge's (0 once the real server is gone), or 1 when \
                      the bridge, the prefix or wine is missing (the line says which)."
    )]
    WineBridge(wine::WineBridgeArgs),
    /// A short tour of Windows named-pipe behaviour, with a child process as the client.
    #[command(after_help = "Example:\n  npipe demo")]
    Demo,
    /// Print a completion script for a shell.
    #[command(after_help = "Example:\n  npipe completions bash > /etc/bash_completion.d/npipe")]
    Completions {
        /// The shell.
        shell: Shell,
    },
    /// The child of `demo` (internal).
    #[command(name = "__demo-client", hide = true)]
    DemoClient { name: String },
    /// The peer of `bench` (internal).
    #[command(name = "__bench-peer", hide = true)]
    BenchPeer(bench::PeerArgs),
    /// The peer of `bench --faults` (internal).
    #[command(name = "__fault-peer", hide = true)]
    FaultPeer {
        #[arg(num_args = 0.., allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// Shells `npipe completions` writes scripts for.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// A failure of a command that reports with its own words.
fn task(what: &str, r: io::Result<()>) -> Outcome {
    r.map_err(|e| Failure::new(what, e))
}

fn completions(shell: Shell) -> Outcome {
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    // clap_complete lists hidden subcommands too: the internal ones are left out here.
    let full = Cli::command();
    let mut cmd = clap::Command::new("npipe")
        .version(env!("CARGO_PKG_VERSION"))
        .subcommands(full.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "npipe", &mut out);
    io::Write::write_all(&mut io::stdout().lock(), &out).on("stdout")
}

fn main() -> ExitCode {
    let r = match Cli::parse().command {
        Cmd::List(a) => list::run(&a),
        Cmd::Serve(a) => serve::run(&a),
        Cmd::Call(a) => client::call(&a),
        Cmd::Send(a) => client::send(&a),
        Cmd::Cat(a) => client::cat(&a),
        Cmd::Wait(a) => client::wait(&a),
        Cmd::Mailslot(c) => mailslot::run(&c),
        Cmd::Bench(a) if a.faults => task("bench --faults", faults::run()),
        Cmd::Bench(a) => task("bench", bench::run(&a)),
        Cmd::WineBridge(a) => wine::run(&a),
        Cmd::Demo => task("demo", demo::demo()),
        Cmd::Completions { shell } => completions(shell),
        Cmd::DemoClient { name } => task("demo client", demo::demo_client(&name)),
        Cmd::BenchPeer(a) => task("bench peer", bench::peer_main(&a)),
        Cmd::FaultPeer { args } => task("fault peer", faults::peer_main(&args)),
    };
    finish(r)
}
