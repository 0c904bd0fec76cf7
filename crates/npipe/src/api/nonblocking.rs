//! Operations that never block, for event loops: the mechanism under the C ABI's overlapped
//! I/O, and the one an async runtime drives.
//!
//! Each pipe end has one *readiness descriptor* ([`NamedPipeServer::readiness`]), an eventfd
//! that polls readable when a pending operation of that end may get further: data or room
//! arrived, a client connected, the link changed state or the peer went away. The protocol is
//! the usual one of edge-style readiness:
//!
//! 1. call `poll_*` with the operation's state; `Poll::Ready` ends it;
//! 2. on `Poll::Pending`, the end is armed: wait until the descriptor polls readable, call
//!    [`Readiness::clear`], and poll every pending operation of that end again (readiness is
//!    shared by the end's operations and may be spurious);
//! 3. when an operation reports [`contended`](ReadOp::contended), another thread of this end
//!    held a lock it needed, and no signal comes when that thread lets go: poll again after a
//!    short pause (a millisecond);
//! 4. an end whose peer process dies is reported by npipe's hang-up watcher within a few
//!    milliseconds; a loop that saw no signal for a long time may call `probe_peer` (a
//!    forked child's inherited connections are not watched).
//!
//! Operations complete in the order the caller polls them; for Windows' issue order (W66, W93)
//! keep reads and writes in FIFO queues and poll each queue from the front, stopping at the
//! first pending one.
//!
//! A *pinned* operation ([`ReadOp::pinned`]) may keep an end lock between polls while a
//! message larger than the free ring space streams through: all its polls and its abort must
//! then come from one thread. Unpinned operations never hold a lock between polls; instead a
//! message that does not fit the ring's free space at once waits until it does, which never
//! happens for a message larger than the ring.
//!
//! An event loop may instead call the PIPE_NOWAIT operations itself and ask the descriptor for
//! what it waits for with `arm` ([`NamedPipeServer::arm`], [`Interest`]); [`PipeWait`] is a
//! `WaitNamedPipe` with a descriptor of its own. This is what the C ABI's `npipe_arm` and
//! `npipe_wait_named_pipe_start` are. The loop's protocol, one end at a time: try the
//! PIPE_NOWAIT calls (a read with nothing there fails with `ERROR_NO_DATA`, a write that does
//! not fit the quota writes nothing or part, a connect on a listening instance fails with
//! `ERROR_PIPE_LISTENING`); `arm` the end with what it still waits for (this clears the
//! descriptor, arms it and signals it at once when something asked for is there already); wait
//! until the descriptor polls readable; try again.
//!
//! Errors: a `poll_*` step ends with the error the blocking call would return in the same
//! state (for example `ERROR_BROKEN_PIPE` (109) from a read once the peer closed and all was
//! read, `ERROR_NO_DATA` (232) from a write after the peer closed: see
//! [`NamedPipeServer::recv_msg`], [`NamedPipeServer::send_msg`] and
//! [`NamedPipeServer::transact`]). The handle's PIPE_NOWAIT setting does not apply to them.
//!
//! # Examples
//! A read in steps, woken by the readiness descriptor (an event loop would wait in `epoll`):
//! ```
//! use npipe::nonblocking::ReadOp;
//! use npipe::{ClientOptions, PipeMode, ServerOptions};
//! use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
//! use std::task::Poll;
//!
//! fn wait_readable(fd: BorrowedFd<'_>) {
//!     let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
//!     // SAFETY: `p` is one valid pollfd for the duration of the call.
//!     unsafe { libc::poll(&mut p, 1, -1) };
//! }
//!
//! let name = format!(r"\\.\pipe\npipe-doc-steps-{}", std::process::id());
//! let server = ServerOptions::new().pipe_mode(PipeMode::Message).create(&name)?;
//! let client = ClientOptions::new().open(&name)?;
//! let ready = server.readiness()?;
//! let mut op = ReadOp::new();
//! let mut buf = [0u8; 16];
//! assert!(server.poll_read(&mut op, &mut buf).is_pending()); // nothing there: armed
//! client.send_msg(b"wake up")?;
//! let m = loop {
//!     wait_readable(ready.as_fd());
//!     ready.clear();
//!     if let Poll::Ready(r) = server.poll_read(&mut op, &mut buf) {
//!         break r?;
//!     }
//! };
//! assert_eq!(&buf[..m.read], b"wake up");
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::task::Poll;

pub use super::ready::{Interest, PipeWait};
use super::{MsgLen, NamedPipeClient, NamedPipeServer};
use crate::semantics::pipe::{self, ConnectBegin};
use crate::sys;

/// The largest buffer an unpinned read, and the largest message an unpinned write, completes
/// on every connection, whatever its rings: an operation within it never needs to ask
/// [`NamedPipeServer::unpinned_limits`] (or the client's).
pub const UNPINNED_ALWAYS: usize = pipe::UNPINNED_ALWAYS;

/// An end's readiness descriptor (see the [module docs](self)).
///
/// The descriptor ([`AsFd`]) belongs to this process alone and closes when the end does (its
/// last handle is closed or dropped, and every `Readiness` of it is dropped), so it leaves the
/// program's epoll sets then, even while the peer, which signals the end, lives on.
#[derive(Debug, Clone)]
pub struct Readiness(Arc<sys::EventFd>);

impl Readiness {
    /// Makes the descriptor unreadable until the next signal; call it before polling the
    /// pending operations again.
    pub fn clear(&self) {
        self.0.clear();
    }

    /// The eventfd behind the descriptor, which the peer holds too (it signals the end
    /// through it): for npipe's own drivers, which stop polling it before the end closes
    /// (the C ABI's engine, the tokio driver). Polls readable when the descriptor does.
    #[doc(hidden)]
    pub fn event_fd(&self) -> BorrowedFd<'_> {
        self.0.fd()
    }

    /// The readiness of `sig` for a program: its private descriptor is made now.
    pub(crate) fn for_program(sig: Arc<sys::EventFd>, name: &str) -> io::Result<Readiness> {
        sig.private_fd()
            .map_err(|e| pipe::os_err(e, "readiness descriptor", name))?;
        Ok(Readiness(sig))
    }

    /// The readiness of `sig` for a driver (see [`event_fd`](Self::event_fd)): no private
    /// descriptor is made for it.
    pub(crate) fn for_driver(sig: Arc<sys::EventFd>) -> Readiness {
        Readiness(sig)
    }
}

impl Readiness {
    /// Signals the descriptor from this process (a driver's own event: an operation it
    /// handed to another thread has finished).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))] // used by npipe::tokio
    pub(crate) fn signal(&self) {
        self.0.signal();
    }
}

impl AsFd for Readiness {
    /// The private descriptor (the eventfd itself for a driver's readiness).
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.private_fd_made().unwrap_or_else(|| self.0.fd())
    }
}

/// A read in progress ([`NamedPipeServer::poll_read`]).
#[derive(Debug, Default)]
pub struct ReadOp(pipe::ReadOp);

/// A write in progress ([`NamedPipeServer::poll_write`]).
#[derive(Debug, Default)]
pub struct WriteOp(pipe::WriteOp);

/// A transaction in progress ([`NamedPipeServer::poll_transact`]).
#[derive(Debug, Default)]
pub struct TransactOp(pipe::TransactOp);

/// A ConnectNamedPipe waiting for a client ([`NamedPipeServer::start_connect`]).
#[derive(Debug)]
pub struct ConnectOp(pipe::ConnectOp);

/// How [`NamedPipeServer::start_connect`] starts.
#[derive(Debug)]
pub enum ConnectStart {
    /// A client is already connected (Windows' `ERROR_PIPE_CONNECTED`).
    Connected,
    /// The instance listens: poll the operation until a client arrives.
    Pending(ConnectOp),
}

macro_rules! op_common {
    ($t:ident) => {
        impl $t {
            /// A new operation whose polls may all come from different threads.
            pub fn new() -> Self {
                Self::default()
            }

            /// A new operation that may keep an end lock between polls (see the
            /// [module docs](self)): every poll and the abort must come from one thread.
            pub fn pinned() -> Self {
                let mut op = Self::default();
                op.0.pinned = true;
                op
            }

            /// Makes the operation pinned from now on (see [`pinned`](Self::pinned)). An
            /// unpinned operation holds nothing between polls, so one that came back pending
            /// can be handed to the thread that makes its remaining polls, and pinned there.
            pub fn pin(&mut self) {
                self.0.pinned = true;
            }

            /// Whether it keeps an end lock between polls now (a pinned operation inside a
            /// message larger than the ring): only its own thread may poll it.
            pub fn holds_lock(&self) -> bool {
                self.0.holding()
            }

            /// Makes a pinned operation unpinned again when it holds no lock between polls
            /// (true); one that holds a lock stays pinned (false). A driver that polls from
            /// several threads can let another thread make an unpinned poll this way, and pin
            /// the operation again after it.
            pub fn unpin(&mut self) -> bool {
                if self.0.holding() {
                    return false;
                }
                self.0.pinned = false;
                true
            }

            /// Whether the last poll found a lock of this end busy in another thread: poll
            /// again shortly, no readiness signal comes for that.
            pub fn contended(&self) -> bool {
                self.0.contended()
            }
        }
    };
}
op_common!(ReadOp);

impl ReadOp {
    /// Whether the read has already taken part of a message larger than the ring, which is
    /// still streaming in (a pinned read): aborting it now would leave the caller with part of
    /// a message, so a canceller may rather let it complete.
    pub fn in_message(&self) -> bool {
        self.0.in_message()
    }

    /// For the next poll only: if it finds nothing, it arms the end *lazily*. The peer's next
    /// publish then waits a moment (about 2 us at most) for a thread of this process to take
    /// the arm back with `spin_ready` before it signals the readiness descriptor. For a driver
    /// whose thread is about to spin for this read itself (a wait on the operation right after
    /// issuing it), so that an answer arriving in between does not wake the event loop for
    /// nothing. A driver whose threads do not come costs the peer's publish the wait: use it
    /// only when they usually do.
    pub fn arm_lazily(&mut self) {
        self.0.arm_lazily();
    }
}

impl TransactOp {
    /// See [`ReadOp::in_message`].
    pub fn in_message(&self) -> bool {
        self.0.in_message()
    }

    /// See [`ReadOp::arm_lazily`]: the next poll, if it wrote the request and finds no reply
    /// yet, arms the end lazily.
    pub fn arm_lazily(&mut self) {
        self.0.arm_lazily();
    }
}

impl WriteOp {
    /// Whether all of the write's bytes are in the pipe, where readers see them (W92): it only
    /// waits for the quota now, so a later write can start behind it without overtaking it.
    pub fn is_written(&self) -> bool {
        self.0.written()
    }
}
op_common!(WriteOp);
op_common!(TransactOp);

fn msg(r: Poll<io::Result<pipe::ReadResult>>) -> Poll<io::Result<MsgLen>> {
    r.map_ok(|m| MsgLen {
        read: m.n,
        left: m.left,
    })
}

/// The nonblocking steps of a remote (SMB) client, which has none.
fn not_local(name: &str) -> io::Error {
    crate::error::Error::io(
        crate::error::code::ERROR_NOT_SUPPORTED,
        format!("{name}: readiness and nonblocking steps are not available on a remote (SMB) pipe"),
    )
}

impl NamedPipeServer {
    fn nb(&self) -> Option<&crate::semantics::pipe::ServerEnd> {
        Some(&self.end)
    }
}

impl NamedPipeClient {
    fn nb(&self) -> Option<&crate::semantics::pipe::ClientEnd> {
        self.local()
    }
}

macro_rules! end_ops {
    ($t:ident) => {
        impl $t {
            /// Whether this handle is in PIPE_NOWAIT mode: its blocking calls never wait, so an
            /// event loop can call them directly (the `poll_*` steps ignore the mode).
            pub fn is_nowait(&self) -> bool {
                self.nb().is_some_and(|end| end.nowait())
            }

            /// The end's readiness descriptor (see the [module docs](self) and [`Readiness`]).
            ///
            /// # Errors
            /// OS errors making the descriptor (only the first call makes it).
            pub fn readiness(&self) -> io::Result<Readiness> {
                let sig = self.nb().ok_or_else(|| not_local(self.name()))?.signal()?;
                Readiness::for_program(sig, self.name())
            }

            /// The end's readiness for npipe's own drivers (the C ABI's engine): its
            /// descriptor is the eventfd ([`Readiness::event_fd`]), and no private one is made.
            ///
            /// # Errors
            /// As [`readiness`](Self::readiness).
            #[doc(hidden)]
            pub fn driver_readiness(&self) -> io::Result<Readiness> {
                let sig = self.nb().ok_or_else(|| not_local(self.name()))?.signal()?;
                Ok(Readiness::for_driver(sig))
            }

            /// One step of a read (`ReadFile`): in message read mode at most the rest of one
            /// message (`left > 0`: `ERROR_MORE_DATA`), in byte read mode what is there. Ready
            /// as soon as anything can be returned; a zero-byte read is ready when data
            /// arrives, and leaves it. The handle's PIPE_NOWAIT setting does not apply.
            ///
            /// # Errors
            /// Those of the blocking `recv_msg` ([`NamedPipeServer::recv_msg`],
            /// [`NamedPipeClient::recv_msg`]).
            pub fn poll_read(&self, op: &mut ReadOp, buf: &mut [u8]) -> Poll<io::Result<MsgLen>> {
                let Some(end) = self.nb() else {
                    return Poll::Ready(Err(not_local(self.name())));
                };
                msg(end.read_step(&mut op.0, buf))
            }

            /// Ends a read before it completed. What a pinned read had already taken of a
            /// streaming message is returned as a partial read (the rest stays in the pipe).
            pub fn abort_read(&self, op: &mut ReadOp) -> Option<MsgLen> {
                self.nb()?.abort_read(&mut op.0).map(|m| MsgLen {
                    read: m.n,
                    left: m.left,
                })
            }

            /// One step of a write (`WriteFile`): ready once all of `data` is in the pipe and
            /// the unread bytes through it fit the reader's quota (W91-W93). Pass the same
            /// `data` to every poll of one operation.
            ///
            /// # Errors
            /// Those of the blocking `send_msg` ([`NamedPipeServer::send_msg`],
            /// [`NamedPipeClient::send_msg`]).
            pub fn poll_write(&self, op: &mut WriteOp, data: &[u8]) -> Poll<io::Result<usize>> {
                let Some(end) = self.nb() else {
                    return Poll::Ready(Err(not_local(self.name())));
                };
                end.write_step(&mut op.0, data)
            }

            /// Ends a write before it completed: the unread part of its message leaves the
            /// pipe, whether it was still streaming or waiting for the quota (W98). Returns
            /// false when its data is delivered all the same (the reader had taken it all, or
            /// another thread of this end was writing): report the write as done, then.
            pub fn abort_write(&self, op: &mut WriteOp) -> bool {
                self.nb().is_some_and(|end| end.abort_write(&mut op.0))
            }

            /// One step of a transaction (`TransactNamedPipe`): writes `request` as one message
            /// (never waiting for the quota, W126), then reads one message into `reply`. Pass
            /// the same buffers to every poll of one operation.
            ///
            /// # Errors
            /// Those of the blocking `transact` ([`NamedPipeServer::transact`],
            /// [`NamedPipeClient::transact`]).
            pub fn poll_transact(
                &self,
                op: &mut TransactOp,
                request: &[u8],
                reply: &mut [u8],
            ) -> Poll<io::Result<MsgLen>> {
                let Some(end) = self.nb() else {
                    return Poll::Ready(Err(not_local(self.name())));
                };
                msg(end.transact_step(&mut op.0, request, reply))
            }

            /// Ends a transaction before it completed; its request stays in the pipe once
            /// written (W99).
            pub fn abort_transact(&self, op: &mut TransactOp) -> Option<MsgLen> {
                self.nb()?.abort_transact(&mut op.0).map(|m| MsgLen {
                    read: m.n,
                    left: m.left,
                })
            }

            /// Ends the quota wait of a write whose bytes are all in the pipe without taking
            /// them back: the write counts as completed, so its message stays readable after
            /// this end closes. False (nothing done) when the write is not all in the pipe.
            #[cfg_attr(not(feature = "tokio"), allow(dead_code))] // used by npipe::tokio
            pub(crate) fn release_write(&self, op: &mut WriteOp) -> bool {
                self.nb().is_some_and(|end| end.release_write(&mut op.0))
            }

            /// The largest buffer an unpinned read and the largest message an unpinned write
            /// can complete on the current connection (what the rings hold whole); `None`
            /// without a connection. An operation beyond them needs pinned polls to get
            /// through: a driver that made an unpinned poll should then poll it pinned soon,
            /// as no readiness signal may come for it.
            pub fn unpinned_limits(&self) -> Option<(usize, usize)> {
                self.nb()?.unpinned_limits()
            }

            /// Checks now whether the peer process is still there, signalling the readiness
            /// descriptor if it is gone.
            pub fn probe_peer(&self) {
                if let Some(end) = self.nb() {
                    end.probe()
                }
            }
        }
    };
}
end_ops!(NamedPipeServer);
end_ops!(NamedPipeClient);

impl NamedPipeServer {
    /// Starts a `ConnectNamedPipe` that never blocks: [`ConnectStart::Connected`] when a client
    /// is already connected (`ERROR_PIPE_CONNECTED`), else the instance listens (a
    /// disconnected one starts listening again) and the operation is polled with
    /// [`poll_connect`](Self::poll_connect). The errors are the blocking call's:
    /// `ERROR_NO_DATA` when the client already closed (W43), `ERROR_PIPE_LISTENING` for a
    /// PIPE_NOWAIT handle (W111).
    ///
    /// # Errors
    /// As [`connect`](Self::connect): `ERROR_NO_DATA` (232), `ERROR_PIPE_LISTENING` (536),
    /// `ERROR_INVALID_HANDLE` (6) after a close.
    pub fn start_connect(&self) -> io::Result<ConnectStart> {
        Ok(match self.end.connect_begin()? {
            ConnectBegin::Connected => ConnectStart::Connected,
            ConnectBegin::Pending(op) => ConnectStart::Pending(ConnectOp(op)),
        })
    }

    /// Ready once a client has connected since [`start_connect`](Self::start_connect).
    ///
    /// # Errors
    /// `ERROR_OPERATION_ABORTED` (995) when this instance was closed meanwhile.
    pub fn poll_connect(&self, op: &ConnectOp) -> Poll<io::Result<()>> {
        self.end.connect_step(&op.0)
    }
}
