//! Named-pipe operations in steps, for event loops (the C ABI's overlapped I/O, async
//! runtimes): each end's readiness signal, and ReadFile, WriteFile, TransactNamedPipe and
//! ConnectNamedPipe as steps that never sleep (see `transport::queue::step`).
//!
//! - Each end has one readiness signal (an eventfd) for all its connections. It is signalled
//!   when a pending step may get further: the peer published or consumed while this end was
//!   armed, the link changed state (close, disconnect, the peer's death noticed by the hang-up
//!   watcher), a client arrived at a listening instance, or this end was closed. The driver
//!   clears it before it steps its pending operations again; spurious signals are allowed.
//! - A data operation is bound to the connection it started on: after a disconnect it fails
//!   (ERROR_PIPE_NOT_CONNECTED, W48) and never receives a later client's data.
//! - Errors are those of the blocking calls (W44-W52, W113-W115); a close while pending gives
//!   ERROR_OPERATION_ABORTED.

use std::sync::{Arc, OnceLock};
use std::task::Poll;

use super::*;
use crate::transport::queue::{ReadState, TransactState, WriteState};

/// A ReadFile taken in steps. A *pinned* operation may keep the reader lock between steps
/// while a message larger than the ring streams in, so all its steps (and its abort) must be
/// made on one thread; an unpinned one only ever completes whole.
#[derive(Debug, Default)]
pub(crate) struct ReadOp {
    conn: Option<Arc<Conn>>,
    st: ReadState,
    pub(crate) pinned: bool,
}

/// A WriteFile taken in steps (pinned: see [`ReadOp`]; an unpinned write larger than the free
/// ring space waits until it fits whole).
#[derive(Debug, Default)]
pub(crate) struct WriteOp {
    conn: Option<Arc<Conn>>,
    st: WriteState,
    pub(crate) pinned: bool,
}

/// A TransactNamedPipe taken in steps (pinned: see [`ReadOp`]).
#[derive(Debug, Default)]
pub(crate) struct TransactOp {
    conn: Option<Arc<Conn>>,
    st: TransactState,
    pub(crate) pinned: bool,
}

/// A ConnectNamedPipe waiting for a client.
#[derive(Debug)]
pub(crate) struct ConnectOp {
    /// The instance's change counter when it started listening.
    epoch: u32,
}

/// How a ConnectNamedPipe in steps starts.
#[derive(Debug)]
pub(crate) enum ConnectBegin {
    /// A client was already connected (ERROR_PIPE_CONNECTED, W33, W40).
    Connected,
    /// Listening: step it until a client arrives.
    Pending(ConnectOp),
}

impl ReadOp {
    /// Whether the last step found the reader lock busy in another thread (retry shortly: no
    /// signal comes when it is released).
    pub(crate) fn contended(&self) -> bool {
        self.st.contended
    }

    /// See `npipe::nonblocking::ReadOp::arm_lazily`.
    pub(crate) fn arm_lazily(&mut self) {
        self.st.lazy_arm = true;
    }

    /// Whether it has taken part of a message still streaming in.
    pub(crate) fn in_message(&self) -> bool {
        self.st.in_message()
    }

    /// Whether it keeps the reader lock between steps (pinned, inside a message).
    pub(crate) fn holding(&self) -> bool {
        self.st.in_message()
    }
}

impl WriteOp {
    /// See [`ReadOp::contended`].
    pub(crate) fn contended(&self) -> bool {
        self.st.contended
    }

    /// Whether all its bytes are in the pipe (it only waits for the quota).
    pub(crate) fn written(&self) -> bool {
        self.st.written()
    }

    /// See [`ReadOp::holding`] (the writer lock).
    pub(crate) fn holding(&self) -> bool {
        self.st.holding()
    }
}

impl TransactOp {
    /// See [`ReadOp::contended`].
    pub(crate) fn contended(&self) -> bool {
        self.st.read.contended || self.st.write.contended
    }

    /// See [`ReadOp::arm_lazily`]: for the reply's read.
    pub(crate) fn arm_lazily(&mut self) {
        self.st.read.lazy_arm = true;
    }

    /// See [`ReadOp::in_message`].
    pub(crate) fn in_message(&self) -> bool {
        self.st.read.in_message()
    }

    /// See [`ReadOp::holding`] (either lock).
    pub(crate) fn holding(&self) -> bool {
        self.st.read.in_message() || self.st.write.holding()
    }
}

/// The end's signal, made on first need; borrowed (a step needs no reference count of its own).
fn signal_ref<'a>(
    cell: &'a OnceLock<Arc<sys::EventFd>>,
    name: &str,
) -> io::Result<&'a Arc<sys::EventFd>> {
    if let Some(s) = cell.get() {
        return Ok(s);
    }
    let made = sys::EventFd::new().map_err(|e| os_err(e, "readiness eventfd", name))?;
    Ok(cell.get_or_init(|| Arc::new(made)))
}

/// The end's signal, made on first need.
fn signal_of(cell: &OnceLock<Arc<sys::EventFd>>, name: &str) -> io::Result<Arc<sys::EventFd>> {
    signal_ref(cell, name).cloned()
}

fn ready_err<T>(e: io::Error) -> Poll<io::Result<T>> {
    Poll::Ready(Err(e))
}

/// Lends the connection of an operation's first step, after the end's own checks.
trait FirstConn {
    fn with_first<R>(&self, f: impl FnOnce(&Arc<Conn>) -> R) -> io::Result<R>;
}

/// A server end's first step of `Op`: the instance's cached connection.
struct ServerFirst<'a>(&'a ServerEnd, Op);

impl FirstConn for ServerFirst<'_> {
    #[inline(always)]
    fn with_first<R>(&self, f: impl FnOnce(&Arc<Conn>) -> R) -> io::Result<R> {
        self.0.check_access(self.1)?;
        self.0.with_conn(self.1, |c| Ok(f(c)))
    }
}

/// A client end's first step (a write when `Some(true)`, a read when `Some(false)`, a
/// transaction, whose checks are `transact_check`'s, when `None`).
struct ClientFirst<'a>(&'a ClientEnd, Option<bool>);

impl FirstConn for ClientFirst<'_> {
    #[inline(always)]
    fn with_first<R>(&self, f: impl FnOnce(&Arc<Conn>) -> R) -> io::Result<R> {
        if let Some(w) = self.1 {
            self.0.check_access(w)?;
        }
        Ok(f(self.0.open_conn()?))
    }
}

/// Runs a step (`step`) on the operation's connection. Its first step runs on
/// the end's connection as `first` lends it, given the end's signal; the operation keeps a
/// reference of its own only when it goes on, so one that completes at once (the usual
/// overlapped call) takes no reference count.
#[inline(always)]
fn on_conn<T>(
    slot: &mut Option<Arc<Conn>>,
    first: impl FirstConn,
    sig: io::Result<&Arc<sys::EventFd>>,
    mut step: impl FnMut(&Arc<Conn>) -> Poll<io::Result<T>>,
) -> Poll<io::Result<T>> {
    if let Some(c) = slot {
        return step(c);
    }
    let sig = match sig {
        Ok(sig) => sig,
        Err(e) => return ready_err(e),
    };
    let first = first.with_first(|c| {
        c.attach_signal(sig);
        let r = step(c);
        if r.is_pending() {
            *slot = Some(c.clone());
        }
        r
    });
    first.unwrap_or_else(ready_err)
}

fn read_step(
    op: &mut ReadOp,
    first: impl FirstConn,
    sig: io::Result<&Arc<sys::EventFd>>,
    modes: &Modes,
    buf: &mut [u8],
    name: &str,
) -> Poll<io::Result<ReadResult>> {
    let ReadOp { conn, st, pinned } = op;
    on_conn(conn, first, sig, |c| {
        c.read_step(st, buf, modes.read_message(), *pinned)
            .map_err(|e| map_q(e, Op::Read, c.side(), name))
    })
}

fn write_step(
    op: &mut WriteOp,
    first: impl FirstConn,
    sig: io::Result<&Arc<sys::EventFd>>,
    modes: &Modes,
    info: &PipeInfo,
    data: &[u8],
    name: &str,
) -> Poll<io::Result<usize>> {
    if data.len() as u64 > u32::MAX as u64 {
        return ready_err(err(
            ERROR_INVALID_PARAMETER,
            "a single write is limited to 4 GiB - 1 bytes",
        ));
    }
    let WriteOp { conn, st, pinned } = op;
    on_conn(conn, first, sig, |c| {
        let mut o = write_opts(c, modes, info);
        // A nonblocking handle's writes go through the blocking call, which never waits there.
        o.nonblocking = false;
        c.write_step(st, data, o, *pinned)
            .map_err(|e| map_q(e, Op::Write, c.side(), name))
    })
}

#[allow(clippy::too_many_arguments)]
fn transact_step(
    op: &mut TransactOp,
    first: impl FirstConn,
    sig: io::Result<&Arc<sys::EventFd>>,
    modes: &Modes,
    info: &PipeInfo,
    data: &[u8],
    buf: &mut [u8],
    name: &str,
) -> Poll<io::Result<ReadResult>> {
    let TransactOp { conn, st, pinned } = op;
    let started = conn.is_some();
    on_conn(conn, first, sig, |c| {
        if !started {
            // A failure here leaves the operation unbound (`on_conn` binds only a pending one).
            transact_check(c, modes, info, data, name)?;
        }
        c.transact_step(st, data, buf, *pinned).map_err(|e| {
            let o = if st.wrote() { Op::Read } else { Op::Transact };
            map_q(e, o, c.side(), name)
        })
    })
}

fn abort_read(op: &mut ReadOp) -> Option<ReadResult> {
    let c = op.conn.take()?;
    c.read_abort(&mut op.st)
}

fn abort_write(op: &mut WriteOp) -> bool {
    match op.conn.take() {
        Some(c) => c.write_abort(&mut op.st),
        // Completed in its first step, which kept no connection (see `on_conn`), or never
        // started.
        None => op.st.abort_unbound(),
    }
}

fn abort_transact(op: &mut TransactOp) -> Option<ReadResult> {
    let c = op.conn.take()?;
    c.transact_abort(&mut op.st)
}

/// See `Conn::write_release`.
#[cfg_attr(not(feature = "tokio"), allow(dead_code))] // used by npipe::tokio
fn release_write(op: &mut WriteOp) -> bool {
    match &op.conn {
        Some(c) => c.write_release(&mut op.st),
        // Completed in its first step (see `on_conn`), or never started.
        None => op.st.done(),
    }
}

/// See `npipe::nonblocking::UNPINNED_ALWAYS`: within every connection's [`limits`].
pub(crate) const UNPINNED_ALWAYS: usize = crate::transport::queue::UNPINNED_EVERYWHERE as usize;

fn limits(c: &Conn) -> (usize, usize) {
    let (r, w) = c.unpinned_limits();
    let clamp = |x: u64| usize::try_from(x).unwrap_or(usize::MAX);
    (clamp(r), clamp(w))
}

impl ServerEnd {
    /// Whether the handle is in PIPE_NOWAIT mode (its calls never wait, so they need no steps).
    pub(crate) fn nowait(&self) -> bool {
        self.modes.nowait()
    }

    /// The instance's readiness signal (see the module docs).
    pub(crate) fn signal(&self) -> io::Result<Arc<sys::EventFd>> {
        signal_of(&self.epoch.signal, self.name())
    }

    /// One step of ReadFile.
    pub(crate) fn read_step(
        &self,
        op: &mut ReadOp,
        buf: &mut [u8],
    ) -> Poll<io::Result<ReadResult>> {
        read_step(
            op,
            ServerFirst(self, Op::Read),
            signal_ref(&self.epoch.signal, self.name()),
            &self.modes,
            buf,
            self.name(),
        )
    }

    /// One step of WriteFile.
    pub(crate) fn write_step(&self, op: &mut WriteOp, data: &[u8]) -> Poll<io::Result<usize>> {
        write_step(
            op,
            ServerFirst(self, Op::Write),
            signal_ref(&self.epoch.signal, self.name()),
            &self.modes,
            &self.info(),
            data,
            self.name(),
        )
    }

    /// One step of TransactNamedPipe.
    pub(crate) fn transact_step(
        &self,
        op: &mut TransactOp,
        data: &[u8],
        buf: &mut [u8],
    ) -> Poll<io::Result<ReadResult>> {
        transact_step(
            op,
            ServerFirst(self, Op::Transact),
            signal_ref(&self.epoch.signal, self.name()),
            &self.modes,
            &self.info(),
            data,
            buf,
            self.name(),
        )
    }

    /// Ends a read before it completed; what it already took of a message (see
    /// [`ReadOp`]) comes back as a partial read.
    pub(crate) fn abort_read(&self, op: &mut ReadOp) -> Option<ReadResult> {
        abort_read(op)
    }

    /// Ends a write before it completed; whether its data left the pipe (see
    /// `Conn::write_abort`).
    pub(crate) fn abort_write(&self, op: &mut WriteOp) -> bool {
        abort_write(op)
    }

    /// Ends a transaction before it completed; its request stays in the pipe once written
    /// whole (W99).
    pub(crate) fn abort_transact(&self, op: &mut TransactOp) -> Option<ReadResult> {
        abort_transact(op)
    }

    /// Starts a ConnectNamedPipe that never sleeps: the errors and the already-connected case
    /// of the blocking call (W33, W40, W43, W111), or a pending connect to step.
    pub(crate) fn connect_begin(&self) -> io::Result<ConnectBegin> {
        // The signal first, so the change that completes the connect signals it.
        self.signal()?;
        // Listening now, as of the change counter read in the same hold of the registry lock:
        // a client that connects from here on completes the operation.
        match self.connect_status_nowait()? {
            None => Ok(ConnectBegin::Connected),
            Some(epoch) => Ok(ConnectBegin::Pending(ConnectOp { epoch })),
        }
    }

    /// One step of a pending ConnectNamedPipe: done once a client has connected since it
    /// started; ERROR_OPERATION_ABORTED when the instance was closed meanwhile. A
    /// CancelSynchronousIo of a thread blocked in a synchronous ConnectNamedPipe on the same
    /// instance bumps the counter too, by [`sys::CANCEL_BUMP`], which is no change here.
    pub(crate) fn connect_step(&self, op: &ConnectOp) -> Poll<io::Result<()>> {
        match self.with_slot(|slot| Ok(slot.epoch_value())) {
            Ok(e) if (e ^ op.epoch) & !sys::CANCEL_BUMP != 0 => Poll::Ready(Ok(())),
            Ok(_) => Poll::Pending,
            Err(_) => ready_err(err(
                ERROR_OPERATION_ABORTED,
                format!(
                    "the handle to {} was closed while it waited for a client",
                    self.name()
                ),
            )),
        }
    }

    /// Ends the quota wait of a write whose bytes are all in the pipe, keeping them there
    /// (see `Conn::write_release`); false when the write is not all in the pipe.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))] // used by npipe::tokio
    pub(crate) fn release_write(&self, op: &mut WriteOp) -> bool {
        release_write(op)
    }

    /// Spins briefly until data (`data`) or room may be there on the current connection, or
    /// its link ends, or `stop` says so (see `Conn::spin_ready`); false at once without a
    /// connection.
    pub(crate) fn spin_ready(&self, data: bool, stop: &mut dyn FnMut() -> bool) -> bool {
        // The cached connection, borrowed for the spin (no registry lock, no reference):
        // `Op::Peek` leaves the instance's mark of a read (W133) alone.
        self.with_conn(Op::Peek, |c| Ok(c.spin_ready(data, stop)))
            .unwrap_or(false)
    }

    /// What an unpinned read and write can complete at most on the current connection (see
    /// `Conn::unpinned_limits`); `None` when the instance has no connection.
    pub(crate) fn unpinned_limits(&self) -> Option<(usize, usize)> {
        // As `spin_ready`: the cached connection, no registry lock.
        self.with_conn(Op::Peek, |c| Ok(limits(c))).ok()
    }

    /// Readiness for an outside event loop: clears the instance's signal, arms it for data
    /// (`read`), room (`write`) and hang-up, then signals it at once when one of them, or a
    /// client for `connect`, is there already. A listening instance arms nothing: a client's
    /// arrival always signals. A disconnected one signals at once (the calls report it).
    pub(crate) fn arm(
        &self,
        read: bool,
        write: bool,
        hangup: bool,
        connect: bool,
    ) -> io::Result<()> {
        let sig = self.signal()?;
        // Cleared before the state is read: a change from here on signals again.
        sig.clear();
        let now = match self.with_slot(|slot| Ok((slot.listening(), slot.conn_now())))? {
            (true, _) => false,
            (false, Some(c)) => {
                c.attach_signal(&sig);
                connect || c.arm_ready(read, write, hangup)
            }
            (false, None) => true,
        };
        if now {
            sig.signal();
        }
        Ok(())
    }

    /// Checks whether the client's process is still there (for drivers that noticed no
    /// signal for a while: a peer that died is normally reported by the hang-up watcher).
    pub(crate) fn probe(&self) {
        if let Ok(Some(c)) = self.with_slot(|slot| Ok(slot.conn_now())) {
            c.probe_hup();
        }
    }
}

impl ClientEnd {
    /// See [`ServerEnd::nowait`].
    pub(crate) fn nowait(&self) -> bool {
        self.modes.nowait()
    }

    /// The end's readiness signal (see the module docs).
    pub(crate) fn signal(&self) -> io::Result<Arc<sys::EventFd>> {
        signal_of(&self.signal, self.name())
    }

    /// One step of ReadFile.
    pub(crate) fn read_step(
        &self,
        op: &mut ReadOp,
        buf: &mut [u8],
    ) -> Poll<io::Result<ReadResult>> {
        read_step(
            op,
            ClientFirst(self, Some(false)),
            signal_ref(&self.signal, self.name()),
            &self.modes,
            buf,
            self.name(),
        )
    }

    /// One step of WriteFile.
    pub(crate) fn write_step(&self, op: &mut WriteOp, data: &[u8]) -> Poll<io::Result<usize>> {
        write_step(
            op,
            ClientFirst(self, Some(true)),
            signal_ref(&self.signal, self.name()),
            &self.modes,
            &self.info,
            data,
            self.name(),
        )
    }

    /// One step of TransactNamedPipe.
    pub(crate) fn transact_step(
        &self,
        op: &mut TransactOp,
        data: &[u8],
        buf: &mut [u8],
    ) -> Poll<io::Result<ReadResult>> {
        transact_step(
            op,
            ClientFirst(self, None),
            signal_ref(&self.signal, self.name()),
            &self.modes,
            &self.info,
            data,
            buf,
            self.name(),
        )
    }

    /// See [`ServerEnd::abort_read`].
    pub(crate) fn abort_read(&self, op: &mut ReadOp) -> Option<ReadResult> {
        abort_read(op)
    }

    /// See [`ServerEnd::abort_write`].
    pub(crate) fn abort_write(&self, op: &mut WriteOp) -> bool {
        abort_write(op)
    }

    /// See [`ServerEnd::abort_transact`].
    pub(crate) fn abort_transact(&self, op: &mut TransactOp) -> Option<ReadResult> {
        abort_transact(op)
    }

    /// See [`ServerEnd::release_write`].
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))] // used by npipe::tokio
    pub(crate) fn release_write(&self, op: &mut WriteOp) -> bool {
        release_write(op)
    }

    /// See [`ServerEnd::unpinned_limits`].
    pub(crate) fn unpinned_limits(&self) -> Option<(usize, usize)> {
        self.open_conn().ok().map(|c| limits(c))
    }

    /// See [`ServerEnd::spin_ready`].
    pub(crate) fn spin_ready(&self, data: bool, stop: &mut dyn FnMut() -> bool) -> bool {
        self.open_conn().is_ok_and(|c| c.spin_ready(data, stop))
    }

    /// See [`ServerEnd::arm`]; an end the server disconnected signals at once.
    pub(crate) fn arm(&self, read: bool, write: bool, hangup: bool) -> io::Result<()> {
        let sig = self.signal()?;
        sig.clear();
        let now = match self.open_conn() {
            Ok(c) => {
                c.attach_signal(&sig);
                c.arm_ready(read, write, hangup)
            }
            Err(_) => true,
        };
        if now {
            sig.signal();
        }
        Ok(())
    }

    /// See [`ServerEnd::probe`].
    pub(crate) fn probe(&self) {
        if let Ok(c) = self.open_conn() {
            c.probe_hup();
        }
    }
}
