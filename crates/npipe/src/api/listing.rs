//! The public listing of pipes and mailslots ([`list`], [`Listing`]): what Windows gives by
//! enumerating `\\.\pipe\*`. The mechanism (a scan of the socket table, then a Describe
//! exchange with each server) is `semantics::listing`.

use std::io;

use super::{Direction, PipeMode};
use crate::semantics::listing;
use crate::semantics::namespace::Kind;
use crate::semantics::pipe::{ACCESS_INBOUND, ACCESS_OUTBOUND};

/// What a [`Listing`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ListingKind {
    /// A named pipe (`\\.\pipe\NAME`).
    Pipe,
    /// A mailslot (`\\.\mailslot\NAME`).
    Mailslot,
}

/// One pipe or mailslot that [`list`] found.
///
/// A mailslot is listed as one message-type, inbound instance of one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Listing {
    /// Pipe or mailslot.
    pub kind: ListingKind,
    /// The full name as the first instance was created (`\\.\pipe\Foo`, that spelling once
    /// normalised as a path: `//./pipe/a//b.` is listed as `\\.\pipe\a\b`).
    pub name: String,
    /// The name without its prefix (`Foo`), the way Windows' enumeration of `\\.\pipe\*`
    /// reports it.
    pub leaf: String,
    /// The pipe type (`PIPE_TYPE_BYTE` / `PIPE_TYPE_MESSAGE`); always `Message` for a mailslot.
    pub pipe_mode: PipeMode,
    /// Which way data flows; always `Inbound` for a mailslot.
    pub direction: Direction,
    /// Instances that exist now (connected or not).
    pub instances: u32,
    /// Instances listening for a client now (a connect would succeed).
    pub listening: u32,
    /// `nMaxInstances`; 255 is `PIPE_UNLIMITED_INSTANCES`.
    pub max_instances: u32,
    /// `nOutBufferSize` (server to client); a mailslot's `nMaxMessageSize` (0: any size).
    pub out_buffer_size: u32,
    /// `nInBufferSize` (client to server); 0 for a mailslot.
    pub in_buffer_size: u32,
    /// The effective uid of the serving process, as the kernel reports it.
    pub owner_uid: u32,
    /// The pid of the serving process (the one that created the name), as seen from this
    /// process; `None` when that process is in a pid namespace this one cannot see.
    pub server_pid: Option<u32>,
}

/// Lists the pipes and mailslots that this process can see, pipes first, each sorted by name
/// (case-insensitively).
///
/// Visible means: served in this process's namespace (`NPIPE_NAMESPACE`, default `npipe`) by
/// a process that admits this one, that is runs as the same user, or this process is root.
/// A pipe is listed once however many instances it has. Asking costs a server no instance and
/// wakes none of its waiters (a `ConnectNamedPipe` or `WaitNamedPipe` in progress sees
/// nothing). A server that does not answer within a second (hung, or not an npipe server at
/// all) is left out; the call never waits longer than that per 128 candidates.
///
/// # Errors
/// ERROR_NOT_SUPPORTED when the kernel's socket table (`/proc/net/unix`) cannot be read;
/// ERROR_NOT_ENOUGH_MEMORY (or another OS error) when no descriptor is left to ask with.
///
/// # Examples
/// ```
/// let name = format!(r"\\.\pipe\npipe-doc-list-{}", std::process::id());
/// let server = npipe::ServerOptions::new().max_instances(3).create(&name)?;
/// let found = npipe::list()?;
/// let me = found.iter().find(|l| l.name == name).expect("listed");
/// assert_eq!((me.instances, me.listening, me.max_instances), (1, 1, 3));
/// assert_eq!(me.server_pid, Some(std::process::id()));
/// drop(server);
/// assert!(npipe::list()?.iter().all(|l| l.name != name));
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Windows
/// `FindFirstFileW(L"\\\\.\\pipe\\*")` / `FindNextFileW`, which report each pipe's leaf name;
/// Sysinternals' PipeList shows the current and maximum instance counts from the same
/// directory listing. Windows lists every user's pipes; here a server of
/// another user answers only root, so without root its pipes are left out. Mailslots are
/// listed too (Windows enumerates them separately, under `\\.\mailslot\*`).
#[doc(alias = "FindFirstFileW")]
#[doc(alias = "FindNextFileW")]
#[doc(alias = "PipeList")]
pub fn list() -> io::Result<Vec<Listing>> {
    Ok(listing::list()?.into_iter().map(from_entry).collect())
}

fn from_entry(e: listing::Entry) -> Listing {
    let i = e.info;
    Listing {
        kind: match e.kind {
            Kind::Mailslot => ListingKind::Mailslot,
            _ => ListingKind::Pipe,
        },
        name: e.name,
        leaf: e.leaf,
        pipe_mode: if i.message_type {
            PipeMode::Message
        } else {
            PipeMode::Byte
        },
        direction: match i.direction {
            ACCESS_INBOUND => Direction::Inbound,
            ACCESS_OUTBOUND => Direction::Outbound,
            _ => Direction::Duplex,
        },
        instances: i.cur_instances,
        listening: e.listening,
        max_instances: i.max_instances,
        out_buffer_size: i.out_quota,
        in_buffer_size: i.in_quota,
        owner_uid: e.owner_uid,
        server_pid: e.server_pid,
    }
}
