//! Named pipes: the per-name registry of a server process, its acceptor thread, server instances
//! with the LISTENING / CONNECTED / CLOSING / DISCONNECTED state machine, and client ends.
//!
//! Contract (W-numbers from docs/WINDOWS-BEHAVIOUR.md):
//! - the first instance's parameters are the pipe's; later instances are checked only against
//!   max instances (ERROR_PIPE_BUSY), direction and an explicit access policy
//!   (ERROR_ACCESS_DENIED) (W13-W16, W134);
//! - a client is admitted only when the pipe's access policy grants it some access, and its
//!   open only with every right it asks for (`semantics::security`), else ERROR_ACCESS_DENIED;
//! - a new instance listens at once; clients get listening instances FIFO by the time each
//!   started listening; none listening gives ERROR_PIPE_BUSY (W32, W53-W55);
//! - WaitNamedPipe parks in the server's queue and is woken when an instance listens (W29-W30);
//! - DisconnectNamedPipe discards data and makes every later operation of the client fail with
//!   ERROR_PIPE_NOT_CONNECTED; closing an end leaves written data readable by the peer, then
//!   ERROR_BROKEN_PIPE, and writes fail with ERROR_NO_DATA (W43-W52, W113-W115);
//! - the name disappears with the last server instance (W9).
//!
//! Instances of one name live in one process. Another process of the same user asking for an
//! instance of a name this process owns is refused with ERROR_ACCESS_DENIED (or ERROR_PIPE_BUSY
//! when the instance limit is reached): there are never two silent namespaces and no takeover.

mod client;
mod identity;
mod registry;
mod server;
mod steps;
mod wait;

pub(crate) use client::*;
pub(crate) use registry::{registry, remote_admitted, served_here};
pub(crate) use server::*;
pub(crate) use steps::*;
pub(crate) use wait::*;

use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{code::*, Error};
use crate::semantics::security::{
    FILE_APPEND_DATA, FILE_READ_DATA, FILE_WRITE_DATA, GENERIC_ALL, GENERIC_READ, GENERIC_WRITE,
    MAXIMUM_ALLOWED,
};
use crate::sys;
use crate::transport::control::PipeInfo;
use crate::transport::queue::{self, Conn, InPlace, QErr, ReadOut, Reserved, Side, WriteOpts};

/// Direction constants (PIPE_ACCESS_*).
pub(crate) const ACCESS_INBOUND: u8 = 1;
/// Server to client.
pub(crate) const ACCESS_OUTBOUND: u8 = 2;
/// Both ways.
pub(crate) const ACCESS_DUPLEX: u8 = 3;
/// PIPE_UNLIMITED_INSTANCES.
pub(crate) const UNLIMITED: u32 = 255;

/// Win32 access bits that grant reading.
pub(crate) const READ_BITS: u32 = GENERIC_READ | GENERIC_ALL | FILE_READ_DATA;
/// Win32 access bits that grant writing.
pub(crate) const WRITE_BITS: u32 = GENERIC_WRITE | GENERIC_ALL | FILE_WRITE_DATA | FILE_APPEND_DATA;

/// Default ring size when the quota is smaller.
const DEFAULT_RING: u64 = 64 * 1024;

/// Record window for a direction with `quota`: the queue that small messages use, the quota
/// rounded up to a power of two, at least 64 KiB. Under `--cfg npipe_small_ring` every window
/// is the minimum (CI runs the suite so).
fn win_for(quota: u32) -> u64 {
    if cfg!(npipe_small_ring) {
        queue::MIN_RING
    } else {
        queue::ring_capacity(quota, DEFAULT_RING)
    }
}

/// Ring capacity for a direction with `quota`: the window, but at least
/// [`queue::SPILL_RING`], so a large message streams through that much address space whatever
/// the quota (see "Large messages" in docs/DESIGN.md). Under `--cfg npipe_small_ring` four
/// windows, so every message larger than 16 KiB streams and small records skip to the next
/// lap every 4 KiB.
fn ring_for(quota: u32) -> u64 {
    if cfg!(npipe_small_ring) {
        4 * queue::MIN_RING
    } else {
        win_for(quota).max(queue::SPILL_RING)
    }
}

/// How long a client waits for the acceptor's answer.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Pipe-wide parameters, fixed by the first instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PipeParams {
    pub direction: u8,
    pub message_type: bool,
    pub max_instances: u32,
    pub out_quota: u32,
    pub in_quota: u32,
    pub default_timeout: u32,
}

/// Everything CreateNamedPipe takes.
#[derive(Debug, Clone)]
pub(crate) struct ServerConfig {
    pub params: PipeParams,
    /// The pipe's access policy; `None`: the default for a new pipe (the owning user and
    /// root), or whatever the pipe has for another instance (W134).
    pub policy: Option<std::sync::Arc<crate::semantics::security::Policy>>,
    pub first_instance: bool,
    pub read_message: bool,
    pub nowait: bool,
    /// PIPE_REJECT_REMOTE_CLIENTS: this instance refuses remote (SMB) clients.
    pub reject_remote: bool,
}

/// How long WaitNamedPipe waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitTimeout {
    /// NMPWAIT_USE_DEFAULT_WAIT: the pipe's default (50 ms when that is 0).
    Default,
    /// NMPWAIT_WAIT_FOREVER.
    Forever,
    /// Milliseconds.
    Ms(u32),
}

pub(crate) fn err(code: u32, msg: impl Into<String>) -> io::Error {
    Error::io(code, msg)
}

pub(crate) fn os_err(e: sys::Errno, what: &str, name: &str) -> io::Error {
    let ioe = io::Error::from_raw_os_error(e.raw_os_error());
    Error::io_kind(
        ioe.kind(),
        crate::error::win32_code(&ioe),
        format!("{what} for {name}: {ioe}"),
    )
}

/// Which operation failed, for the per-operation error rules (W44-W52).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Read,
    Write,
    Peek,
    Flush,
    Transact,
}

pub(crate) fn map_q(e: QErr, op: Op, side: Side, name: &str) -> io::Error {
    match (e, op) {
        (QErr::Disconnected, Op::Peek | Op::Transact) if side == Side::Server => {
            err(ERROR_BAD_PIPE, format!("{name} is not connected"))
        }
        (QErr::Disconnected, _) => err(
            ERROR_PIPE_NOT_CONNECTED,
            format!("{name} was disconnected by the server"),
        ),
        (QErr::PeerClosed, Op::Write) => {
            err(ERROR_NO_DATA, format!("the other end of {name} is closed"))
        }
        (QErr::PeerClosed, Op::Transact) => {
            err(ERROR_BAD_PIPE, format!("the other end of {name} is closed"))
        }
        (QErr::PeerClosed | QErr::Broken, _) => {
            err(ERROR_BROKEN_PIPE, format!("the other end of {name} closed"))
        }
        (QErr::WouldBlock, _) => Error::io_kind(
            io::ErrorKind::WouldBlock,
            ERROR_NO_DATA,
            format!("no data waiting in {name} (PIPE_NOWAIT)"),
        ),
        (QErr::TimedOut, _) => err(ERROR_SEM_TIMEOUT, format!("timed out on {name}")),
        (QErr::TooSmall(len), _) => err(
            ERROR_INSUFFICIENT_BUFFER,
            format!("the next message in {name} has {len} bytes, more than the buffer holds"),
        ),
        (QErr::Corrupt(what), _) => Error::io_kind(
            io::ErrorKind::InvalidData,
            ERROR_BROKEN_PIPE,
            format!("the peer corrupted the shared queue of {name}: {what}"),
        ),
        (QErr::Closed, _) => err(
            ERROR_OPERATION_ABORTED,
            format!("the handle to {name} was closed during the operation"),
        ),
        (QErr::Cancelled, _) => err(
            ERROR_OPERATION_ABORTED,
            format!("the blocking call on {name} was cancelled (CancelSynchronousIo)"),
        ),
        (QErr::NoResources(what), _) => Error::io_kind(
            io::ErrorKind::OutOfMemory,
            ERROR_NOT_ENOUGH_MEMORY,
            format!("not enough system resources to lock {name}: {what}"),
        ),
    }
}

/// Result of a read: bytes read and bytes left in the message (ERROR_MORE_DATA when > 0).
pub(crate) type ReadResult = ReadOut;

/// PeekNamedPipe results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Peeked {
    pub read: u32,
    pub avail: u32,
    pub left: u32,
}

/// Per-handle modes (read mode and PIPE_NOWAIT) shared by both end types.
#[derive(Debug)]
struct Modes {
    read_message: AtomicBool,
    nowait: AtomicBool,
}

impl Modes {
    fn new(read_message: bool, nowait: bool) -> Modes {
        Modes {
            read_message: AtomicBool::new(read_message),
            nowait: AtomicBool::new(nowait),
        }
    }
    fn read_message(&self) -> bool {
        // Relaxed: a per-handle flag; no data is published through it.
        self.read_message.load(Ordering::Relaxed)
    }
    fn nowait(&self) -> bool {
        // Relaxed: see read_message.
        self.nowait.load(Ordering::Relaxed)
    }
    fn state_bits(&self) -> u32 {
        (self.nowait() as u32) | ((self.read_message() as u32) << 1)
    }
    fn set(&self, mode: u32, message_type: bool) -> io::Result<()> {
        if mode & !3 != 0 || (mode & 2 != 0 && !message_type) {
            return Err(err(
                ERROR_INVALID_PARAMETER,
                "PIPE_READMODE_MESSAGE needs a message-type pipe, and only read mode and wait mode bits are valid",
            ));
        }
        // Relaxed: see read_message.
        self.read_message.store(mode & 2 != 0, Ordering::Relaxed);
        self.nowait.store(mode & 1 != 0, Ordering::Relaxed);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Data operations on a connection, shared by both end types.

#[inline(always)]
fn conn_read(
    c: &Conn,
    m: &Modes,
    buf: &mut [u8],
    deadline: Option<Instant>,
    name: &str,
) -> io::Result<ReadResult> {
    c.read(buf, m.read_message(), m.nowait(), deadline)
        .map_err(|e| map_q(e, Op::Read, c.side(), name))
}

#[inline(always)]
fn conn_write(
    c: &Conn,
    m: &Modes,
    info: &PipeInfo,
    data: &[u8],
    deadline: Option<Instant>,
    name: &str,
) -> io::Result<usize> {
    if data.len() as u64 > u32::MAX as u64 {
        return Err(err(
            ERROR_INVALID_PARAMETER,
            "a single write is limited to 4 GiB - 1 bytes",
        ));
    }
    c.write(data, write_opts(c, m, info), deadline)
        .map_err(|e| map_q(e, Op::Write, c.side(), name))
}

#[inline]
fn write_opts(c: &Conn, m: &Modes, info: &PipeInfo) -> WriteOpts {
    let quota = match c.side() {
        Side::Server => info.out_quota,
        Side::Client => info.in_quota,
    } as u64;
    WriteOpts {
        message: info.message_type,
        quota,
        wait_quota: true,
        nonblocking: m.nowait(),
    }
}

/// Zero-copy write, step 1: room for one whole message in the outbound ring. An empty one on
/// a byte pipe takes no room and waits for none (its commit queues nothing, W76).
fn conn_reserve(c: &Arc<Conn>, len: usize, info: &PipeInfo, name: &str) -> io::Result<Reserved> {
    let nothing = len == 0 && !info.message_type;
    c.reserve(len, nothing, None).map_err(|e| match e {
        QErr::WouldBlock => err(
            ERROR_INVALID_PARAMETER,
            format!(
                "a {len} byte message does not fit in the queue of {name} ({} bytes): use a \
                 plain write, which streams it",
                c.capacity()
            ),
        ),
        e => map_q(e, Op::Write, c.side(), name),
    })
}

/// Zero-copy read: the next whole message in place.
fn conn_read_in_place(c: &Arc<Conn>, name: &str) -> io::Result<InPlace> {
    c.read_in_place(None)
        .map_err(|e| map_q(e, Op::Read, c.side(), name))
}

fn conn_peek(c: &Conn, info: &PipeInfo, buf: Option<&mut [u8]>, name: &str) -> io::Result<Peeked> {
    let side = c.side();
    let p = c
        .peek_at_close(buf, info.message_type)
        .map_err(|e| map_q(e, Op::Peek, side, name))?;
    let left = if info.message_type {
        (p.msg_len - p.read as u64) as u32
    } else {
        0u32.wrapping_sub(p.read as u32)
    };
    Ok(Peeked {
        read: p.read as u32,
        avail: p.avail.min(u32::MAX as u64) as u32,
        left,
    })
}

/// The readiness descriptor of an end, duplicated for the caller: readable when a read may find
/// data or the link changed (see `steps`). A nonblocking read that finds nothing clears it and
/// arms it again. It starts signalled (spurious readiness is allowed), so data already queued
/// is seen.
fn read_ready_fd(c: &Conn, sig: &Arc<sys::EventFd>, name: &str) -> io::Result<OwnedFd> {
    c.attach_signal(sig);
    sig.signal();
    sig.fd().try_clone_to_owned().map_err(|e| {
        let errno = sys::Errno::from_io_error(&e).unwrap_or(sys::Errno::INVAL);
        os_err(errno, "readiness descriptor", name)
    })
}

/// What TransactNamedPipe checks before it writes (W123, W125, W129).
fn transact_check(c: &Conn, m: &Modes, info: &PipeInfo, data: &[u8], name: &str) -> io::Result<()> {
    let side = c.side();
    match c.peer_open() {
        Err(e) => return Err(map_q(e, Op::Transact, side, name)),
        Ok(false) => return Err(map_q(QErr::PeerClosed, Op::Transact, side, name)),
        Ok(true) => {}
    }
    if !info.message_type || !m.read_message() {
        return Err(err(
            ERROR_BAD_PIPE,
            format!("TransactNamedPipe on {name} needs a message-type pipe in message read mode"),
        ));
    }
    if c.inbound_pending()
        .map_err(|e| map_q(e, Op::Transact, side, name))?
    {
        return Err(err(
            ERROR_PIPE_BUSY,
            format!("{name} holds unread data, so a transaction cannot start"),
        ));
    }
    if data.len() as u64 > u32::MAX as u64 {
        return Err(err(
            ERROR_INVALID_PARAMETER,
            "a single write is limited to 4 GiB - 1 bytes",
        ));
    }
    Ok(())
}

fn conn_transact(
    c: &Conn,
    m: &Modes,
    info: &PipeInfo,
    data: &[u8],
    buf: &mut [u8],
    deadline: Option<Instant>,
    name: &str,
) -> io::Result<ReadResult> {
    let side = c.side();
    transact_check(c, m, info, data, name)?;
    let o = WriteOpts {
        message: true,
        quota: 0,
        wait_quota: false,
        nonblocking: false,
    };
    c.write(data, o, deadline)
        .map_err(|e| map_q(e, Op::Transact, side, name))?;
    c.read(buf, true, false, deadline)
        .map_err(|e| map_q(e, Op::Read, side, name))
}
