//! L3: the public Rust API: builders, typed pipe ends, `std::io` traits.
//!
//! Error convention of every item here: a failure is an `io::Error` that carries the Win32 code
//! Windows gives for the same call; [`crate::win32_code`] returns it (`ERROR_PIPE_BUSY` = 231,
//! ...), and [`crate::error::code`] names the values. W-numbers in these docs are the facts of
//! `docs/WINDOWS-BEHAVIOUR.md`.

mod anonymous;
mod client;
mod event;
mod exists;
mod listing;
mod mailslot;
pub mod nonblocking;
mod ready;
mod remote;
mod security;
mod server;
mod service;
mod smb_serve;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod tokio;
mod zerocopy;

pub use anonymous::{create_pipe, AnonReader, AnonWriter, CommandExt};
pub use client::{call_named_pipe, wait_named_pipe, ClientOptions, NamedPipeClient, WaitFor};
pub use event::{wait_for_multiple, Event, NamedEvent, WaitObject, WaitOutcome};
pub use exists::pipe_exists;
pub use listing::{list, Listing, ListingKind};
pub use mailslot::{Mailslot, MailslotInfo, MailslotOptions, MailslotWriter};
pub use security::{
    accounts, impersonated_identity, is_impersonating, own_identity, revert_to_self, Access,
    AccessPolicy, Identity, Impersonation, Trustee,
};
pub use server::{NamedPipeServer, ServerOptions};
pub use service::{serve, Peer, Service, ServiceClient, ServiceOptions};
pub use smb_serve::{RemoteClient, SmbExposure, SmbListener};
pub use zerocopy::{MsgRef, MsgWriter};

/// Win32 access rights, the masks [`ClientOptions::access_mask`] takes and
/// [`NamedPipeServer::access_rights`] and [`NamedPipeClient::access_rights`] give, with the
/// values Windows gives them (for pipes, `FILE_APPEND_DATA` is also `FILE_CREATE_PIPE_INSTANCE`).
pub mod rights {
    pub use crate::semantics::security::{
        FILE_ALL_ACCESS, FILE_APPEND_DATA, FILE_GENERIC_EXECUTE, FILE_GENERIC_READ,
        FILE_GENERIC_WRITE, FILE_READ_ATTRIBUTES, FILE_READ_DATA, FILE_WRITE_ATTRIBUTES,
        FILE_WRITE_DATA, GENERIC_ALL, GENERIC_EXECUTE, GENERIC_READ, GENERIC_WRITE,
        MAXIMUM_ALLOWED,
    };
}

/// Remote pipes over SMB (feature `smb`): the credentials and port for a server, as
/// `WNetAddConnection2` on `\\server\IPC$` gives them on Windows. [`ClientOptions::open`],
/// [`wait_named_pipe`] and [`call_named_pipe`] take `\\server\pipe\name` with this feature.
#[cfg(feature = "smb")]
pub mod smb {
    pub use npipe_smb::{add_connection, cancel_connection, Credentials, SmbError};
}

use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use crate::error::code::*;
use crate::semantics::pipe::{self, ACCESS_DUPLEX, ACCESS_INBOUND, ACCESS_OUTBOUND};

/// Pipe type: how writes are kept (`PIPE_TYPE_BYTE` / `PIPE_TYPE_MESSAGE`).
///
/// Not exhaustive: a `match` needs a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PipeMode {
    /// A byte stream: write boundaries are not kept for readers.
    #[default]
    Byte,
    /// Each write is one message; readers may read whole messages.
    Message,
}

/// Read mode of one handle (`PIPE_READMODE_BYTE` / `PIPE_READMODE_MESSAGE`).
///
/// Not exhaustive: a `match` needs a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ReadMode {
    /// Reads gather bytes across messages.
    #[default]
    Byte,
    /// Reads return at most one message; a short buffer leaves the rest for the next read.
    Message,
}

/// Which way data flows (`PIPE_ACCESS_INBOUND` / `_OUTBOUND` / `_DUPLEX`).
///
/// Exhaustive on purpose: these are all the combinations of the two access bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Client to server only.
    Inbound,
    /// Server to client only.
    Outbound,
    /// Both ways.
    #[default]
    Duplex,
}

impl Direction {
    fn bits(self) -> u8 {
        match self {
            Direction::Inbound => ACCESS_INBOUND,
            Direction::Outbound => ACCESS_OUTBOUND,
            Direction::Duplex => ACCESS_DUPLEX,
        }
    }
}

/// The result of a message read: bytes copied and bytes of the message still unread.
///
/// `left > 0` is Windows' `ERROR_MORE_DATA`: the rest stays in the pipe for the next read, by
/// any thread or process reading this end.
///
/// Not exhaustive, so fields can be added; build one with [`MsgLen::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MsgLen {
    /// Bytes copied into the buffer.
    pub read: usize,
    /// Bytes of the current message still in the pipe.
    pub left: u64,
}

impl MsgLen {
    /// A result of `read` bytes with `left` bytes of the message still unread.
    pub fn new(read: usize, left: u64) -> MsgLen {
        MsgLen { read, left }
    }

    /// Whether the whole message was read.
    pub fn complete(&self) -> bool {
        self.left == 0
    }
}

/// What `PeekNamedPipe` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeekInfo {
    /// Bytes copied into the buffer.
    pub read: u32,
    /// All unread bytes in the pipe, including those of writes still pending on the quota.
    pub available: u32,
    /// `lpBytesLeftThisMessage`: for message pipes, what remains of the first message after the
    /// copied part; for byte pipes Windows reports `0 - read` (W85).
    pub left_this_message: u32,
}

/// `GetNamedPipeInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PipeInfo {
    /// `PIPE_SERVER_END` for a server handle.
    pub server_end: bool,
    /// The pipe type.
    pub mode: PipeMode,
    /// `nOutBufferSize` (server to client quota).
    pub out_buffer_size: u32,
    /// `nInBufferSize` (client to server quota).
    pub in_buffer_size: u32,
    /// Max instances; 255 means unlimited.
    pub max_instances: u32,
}

/// `GetNamedPipeHandleState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandleState {
    /// This handle's read mode.
    pub read_mode: ReadMode,
    /// Whether this handle is PIPE_NOWAIT.
    pub nowait: bool,
    /// Current number of instances of the pipe.
    pub instances: u32,
}

fn deadline(t: Duration) -> Option<Instant> {
    Instant::now().checked_add(t)
}

fn read_as_io(r: io::Result<crate::semantics::pipe::ReadResult>) -> io::Result<usize> {
    match r {
        Ok(r) => Ok(r.n),
        Err(e) if crate::win32_code(&e) == ERROR_BROKEN_PIPE => Ok(0),
        Err(e) => Err(e),
    }
}

fn msg(r: crate::semantics::pipe::ReadResult) -> MsgLen {
    MsgLen {
        read: r.n,
        left: r.left,
    }
}

fn peek_info(p: crate::semantics::pipe::Peeked) -> PeekInfo {
    PeekInfo {
        read: p.read,
        available: p.avail,
        left_this_message: p.left,
    }
}

fn split_state(bits: u32, instances: u32) -> HandleState {
    HandleState {
        read_mode: if bits & 2 != 0 {
            ReadMode::Message
        } else {
            ReadMode::Byte
        },
        nowait: bits & 1 != 0,
        instances,
    }
}

fn mode_bits(read_mode: ReadMode, nowait: bool) -> u32 {
    (nowait as u32) | (((read_mode == ReadMode::Message) as u32) << 1)
}

/// The pipe type and this handle's modes, as `Debug` shows them.
struct Modes {
    message_type: bool,
    bits: u32,
}

impl fmt::Debug for Modes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = if self.message_type { "message" } else { "byte" };
        let r = if self.bits & 2 != 0 {
            "message"
        } else {
            "byte"
        };
        let w = if self.bits & 1 != 0 { "nowait" } else { "wait" };
        write!(f, "{t} type, {r} read, {w}")
    }
}

/// The Linux abstract socket address (without its leading NUL byte) a pipe or mailslot name
/// maps to, for diagnostics: it is what `ss -x` or `/proc/net/unix` show as `@ADDRESS`.
///
/// # Errors
/// `ERROR_INVALID_NAME` (123) or `ERROR_FILENAME_EXCED_RANGE` (206) for a bad name.
pub fn socket_address(name: &str) -> io::Result<Vec<u8>> {
    pipe::socket_address(name)
}

/// Whether `name` is a mailslot's name once normalised as Win32 normalises paths
/// (`\\.\mailslot\NAME`, `\\*\mailslot\NAME`, `\\HOST\mailslot\NAME`): how CreateFile
/// tells a mailslot from a pipe. `\\.\mailslot\..\pipe\x` is the pipe `\\.\pipe\x`, and
/// `\\.\pipe\..\mailslot\x` the mailslot `\\.\mailslot\x`.
///
/// # Examples
/// ```
/// assert!(npipe::is_mailslot_name(r"\\.\MailSlot\x"));
/// assert!(npipe::is_mailslot_name(r"//./pipe/../mailslot/x"));
/// assert!(!npipe::is_mailslot_name(r"\\.\mailslot\..\pipe\x"));
/// assert!(!npipe::is_mailslot_name(r"\\.\pipe\x"));
/// ```
pub fn is_mailslot_name(name: &str) -> bool {
    crate::semantics::namespace::is_mailslot_name(name)
}
