//! # npipe: Windows named pipes on Linux, with Windows' exact behaviour
//!
//! npipe brings the Windows pipe family to Linux as a native library: named pipes in byte and
//! message mode, with instances, busy and wait, partial message reads (`ERROR_MORE_DATA`),
//! peek, transactions, quotas and the LISTENING / CONNECTED / CLOSING / DISCONNECTED states,
//! each with the error Windows gives. No daemon: the server process owns the name, each
//! connection is a Unix control socket plus a shared-memory queue per direction.
//!
//! ```
//! use npipe::{ClientOptions, PipeMode, ServerOptions};
//! use std::io::Write;
//!
//! let name = format!(r"\\.\pipe\example-{}", std::process::id());
//! let server = ServerOptions::new().pipe_mode(PipeMode::Message).create(&name)?;
//! let mut client = ClientOptions::new().open(&name)?;
//! server.connect()?;
//! client.write_all(b"hello")?;
//! let mut buf = [0u8; 3];
//! let m = server.recv_msg(&mut buf)?;
//! assert_eq!((m.read, m.left), (3, 2)); // ERROR_MORE_DATA on Windows
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Where to start: [`ServerOptions`] and [`NamedPipeServer`] (the server loop),
//! [`ClientOptions::open`] (the client's loop on `ERROR_PIPE_BUSY`),
//! [`NamedPipeServer::recv_msg`] (partial message reads), [`NamedPipeClient::transact`] and
//! [`call_named_pipe`], [`Mailslot`], [`create_pipe`]. Runnable programs are in
//! `crates/npipe/examples/`.
//!
//! Mailslots ([`Mailslot`], [`MailslotWriter`]) and anonymous pipes ([`create_pipe`], with
//! [`CommandExt::pass_fd`] to hand an end to a child process) complete the family.
//!
//! For plain request/reply IPC, [`serve`] runs a handler per request on a pool of worker threads
//! and [`ServiceClient::call`] calls it: the shape of the ipc.h C library, which libnpipe also
//! offers as is.
//!
//! Every error is an [`std::io::Error`] whose Win32 code [`win32_code`] returns
//! (for example 231 for `ERROR_PIPE_BUSY`).
//!
//! # Errors
//!
//! The `# Errors` section of each call names the Win32 codes it returns, with their values, in
//! the situations Windows returns them. To test for one, compare [`win32_code`] with a
//! constant of [`error::code`]: `win32_code(&e) == ERROR_PIPE_BUSY`. The
//! [`io::ErrorKind`](std::io::ErrorKind) follows from the code through one table
//! ([`error::kind_of`]: `ERROR_PIPE_BUSY` is `ResourceBusy`, `ERROR_BROKEN_PIPE` and
//! `ERROR_NO_DATA` are `BrokenPipe`, ...), and the message names the pipe. The async ends of
//! `npipe::tokio` (feature `tokio`) also carry the code as `raw_os_error()` where no Linux
//! errno has that number, as tokio's Windows pipes do ([`error::with_raw_code`]).
//!
//! For event loops, [`nonblocking`] takes reads, writes, transactions and connects in steps
//! that never block, woken by one readiness descriptor per end: the mechanism under the C ABI's
//! overlapped I/O.
//!
//! # Windows behaviour and W-numbers
//!
//! The Windows behaviour npipe reproduces is summarised, fact by fact, in
//! `docs/WINDOWS-BEHAVIOUR.md` in the repository. Docs and comments cite those facts by number:
//! "W67" is fact 67 there (partial message reads and `ERROR_MORE_DATA`).
//!
//! # Features
//!
//! - `tokio`: `npipe::tokio`, async named pipes that mirror tokio's Windows API
//!   (`tokio::net::windows::named_pipe`), so a tokio program ports by changing its `use` line.
//!
//! - `smb`: remote pipes, `\\server\pipe\name` over SMB2/3 through the `npipe-smb` crate
//!   ([`ClientOptions::open`], [`wait_named_pipe`], [`call_named_pipe`], credentials with
//!   `npipe::smb::add_connection`). Needs Rust 1.91. Without it a remote name fails with
//!   `ERROR_NOT_SUPPORTED` (50).
//!
//! # Security and scope
//!
//! Who may connect is the pipe's [`AccessPolicy`] (by default its owner and root), checked
//! from the kernel's credentials of the peer; a server can act as its client
//! ([`NamedPipeServer::impersonate_client`]) and a client can require its server's uid
//! ([`ClientOptions::require_server_uid`]). npipe talks to npipe processes in the same network
//! namespace (and `NPIPE_NAMESPACE`); Windows programs are reached through SMB (serving with
//! [`SmbExposure`]; opening `\\server\pipe\name` with the `smb` feature) and Wine programs
//! through the Wine bridge. Not emulated: security tokens,
//! SACLs, and handles duplicated into another process. `docs/SECURITY.md` and the README's
//! "Scope and departures" give the details.
#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod api;
pub mod error;
#[cfg(any(fuzzing, test))]
#[doc(hidden)]
pub mod fuzz;
mod semantics;
mod sys;
#[cfg(test)]
mod test_rng;
mod transport;

pub use api::*;
pub use error::{win32_code, Error};
/// For the C ABI crate, whose handles turn non-signalled while a synchronous call on them
/// waits (W27): not part of the API.
#[doc(hidden)]
pub use sys::set_sleep_hook;
/// For the C ABI crate, whose handle table and engine have fork handlers of their own, and
/// whose handle lookups pair with CloseHandle through an asymmetric fence: not part of the API.
#[doc(hidden)]
pub use sys::{AsymmetricFence, ForkHandlers};
pub use sys::{NewThreadIdentity, SyncCancel};
