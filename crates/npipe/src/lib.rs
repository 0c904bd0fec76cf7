//! # npipe: Windows named pipes on Linux, with Windows' exact behaviour
//!
//! npipe brings the Windows pipe family to Linux as a native library: named pipes in byte and
//! message mode, with instances, busy and wait, partial message reads (`ERROR_MORE_DATA`),
//! peek, transactions, quotas and the LISTENING / CONNECTED / CLOSING / DISCONNECTED states,
//! each with the error Windows gives. No daemon: the server process owns the name, each
//! connection is a Unix control socket plus a shared-memory queue per direction.
//!
//! ```no_run
//! use npipe::{ServerOptions, ClientOptions, PipeMode};
//! use std::io::{Read, Write};
//!
//! let name = r"\\.\pipe\example";
//! let server = ServerOptions::new().pipe_mode(PipeMode::Message).create(name)?;
//! let mut client = ClientOptions::new().open(name)?;
//! server.connect()?;
//! client.write_all(b"hello")?;
//! let mut buf = [0u8; 3];
//! let m = server.recv_msg(&mut buf)?;
//! assert_eq!((m.read, m.left), (3, 2)); // ERROR_MORE_DATA on Windows
//! # Ok::<(), std::io::Error>(())
//! ```
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
//! For event loops, [`nonblocking`] takes reads, writes, transactions and connects in steps
//! that never block, woken by one readiness descriptor per end: the mechanism under the C ABI's
//! overlapped I/O.
//!
//! # Features
//!
//! - `tokio`: `npipe::tokio`, async named pipes that mirror tokio's Windows API
//!   (`tokio::net::windows::named_pipe`), so a tokio program ports by changing its `use` line.
//!
//! What is not emulated (yet): impersonation, security descriptors beyond "same user or root",
//! remote pipes.
#![deny(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod api;
pub mod error;
#[cfg(any(fuzzing, test))]
#[doc(hidden)]
pub mod fuzz;
mod semantics;
mod sys;
mod transport;

pub use api::*;
pub use error::{win32_code, Error};
