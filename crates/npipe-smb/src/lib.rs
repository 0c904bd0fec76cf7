//! # npipe-smb: remote Windows named pipes over SMB2/3
//!
//! Opens `\\server\pipe\name` the way Windows does: an SMB2/3 connection to the server, a
//! session, a TREE_CONNECT to `IPC$` and one CREATE per handle. ReadFile is an SMB READ,
//! WriteFile an SMB WRITE, TransactNamedPipe the FSCTL_PIPE_TRANSCEIVE IOCTL (with
//! `ERROR_MORE_DATA` on a longer reply, the rest read with ReadFile), PeekNamedPipe and
//! WaitNamedPipe the FSCTL_PIPE_PEEK / FSCTL_PIPE_WAIT IOCTLs. The `npipe` crate routes remote
//! names here with its `smb` feature; this crate does not depend on it.
//!
//! ```no_run
//! use npipe_smb::{add_connection, Credentials, RemotePipe};
//!
//! add_connection("fileserver", Some(Credentials {
//!     user: "alice".into(), domain: "CORP".into(), password: "secret".into(),
//! }), None)?;
//! let pipe = RemotePipe::open("fileserver", "status", 0xC000_0000)?;
//! let mut reply = [0u8; 512];
//! let t = pipe.transact(b"ping", &mut reply)?;
//! println!("{:?} (more: {})", &reply[..t.len], t.more);
//! # Ok::<(), npipe_smb::SmbError>(())
//! ```
//!
//! **Credentials** come from [`add_connection`] (as `WNetAddConnection2` on
//! `\\server\IPC$`), else from `NPIPE_SMB_USER` (may be `DOMAIN\user`), `NPIPE_SMB_PASSWORD`
//! and `NPIPE_SMB_DOMAIN`, else the session is anonymous. The **port** is the connection
//! entry's, else `NPIPE_SMB_PORT`, else 445. Passwords and session keys are never logged or
//! put in error messages.
//!
//! **Runtime:** one process-wide tokio runtime with one worker thread, started on first use,
//! carries every connection; each call blocks its own thread. Connections are shared per
//! (server, port, credentials).
//!
//! **Limits** (Samba 4.17 as the server; see the crate README): no `ERROR_MORE_DATA` on a
//! plain read (Samba returns the first part as if complete), messages of at most 65535 bytes,
//! PeekNamedPipe fails with `ERROR_NOT_SUPPORTED`, WaitNamedPipe polls by opening, no
//! `ERROR_PIPE_BUSY`. A server with `smb encrypt = required` refuses the session
//! (`ERROR_ACCESS_DENIED`): the smb2 client library (0.39) does not announce the encryption
//! capability.
//!
//! MSRV 1.91 (smb2's), above the rest of npipe's 1.87.
#![deny(unsafe_code)]

mod credentials;
pub mod error;
mod pipe;
mod smb2_backend;
mod transport;

pub use credentials::{add_connection, cancel_connection, DEFAULT_PORT};
pub use error::SmbError;
pub use pipe::{wait_named_pipe, Peek, RemotePipe, Transfer, WaitTimeout};
pub use transport::Credentials;

#[cfg(test)]
mod fake_tests;
