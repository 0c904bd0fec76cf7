//! The server end of a named pipe ([`ServerEnd`], the handle CreateNamedPipe returns): creating
//! an instance, ConnectNamedPipe, DisconnectNamedPipe, the data path over the instance's
//! connection, and the per-instance queries. The instances' shared bookkeeping lives in
//! `registry` behind its one lock.

mod create;

use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::registry::*;
use super::*;
use crate::semantics::fork_generation;
use crate::semantics::remote::RemoteIdentity;
use crate::transport::control::PipeInfo;
use crate::transport::queue::{self, Conn, InPlace, QErr, Reserved, Side};

/// One server instance (the handle CreateNamedPipe returns).
#[derive(Debug)]
pub(crate) struct ServerEnd {
    pipe: Arc<Pipe>,
    pub(super) id: u64,
    pub(super) modes: Modes,
    fork_gen: u64,
    /// The slot's change counter (see [`Slot::epoch`]).
    pub(super) epoch: Arc<SlotEpoch>,
    /// The connection as of an epoch, so a data operation takes neither the registry lock nor
    /// a map lookup. Borrowed for the whole operation, replaced only while no operation
    /// borrows it; nothing waits on it, so it can never block anyone. A forked child that
    /// inherited borrows of threads it does not have never replaces nor empties it: it takes
    /// the registry's path, and keeps the cached connection until the handle is closed.
    cached: sys::BorrowCell<(u32, Arc<Conn>)>,
    /// Set by [`ServerEnd::close`].
    pub(super) closed: AtomicBool,
}

impl ServerEnd {
    pub(super) fn name(&self) -> &str {
        &self.pipe.name.display
    }

    /// The name as given to CreateNamedPipe.
    pub(crate) fn display_name(&self) -> &str {
        self.name()
    }

    pub(super) fn gone(&self) -> io::Error {
        err(
            ERROR_INVALID_HANDLE,
            format!("the handle to {} is closed", self.name()),
        )
    }

    /// The pipe-wide parameters the data path needs. They are fixed at creation, so no lock.
    pub(super) fn info(&self) -> PipeInfo {
        let p = &self.pipe.params;
        PipeInfo {
            message_type: p.message_type,
            direction: p.direction,
            max_instances: p.max_instances,
            out_quota: p.out_quota,
            in_quota: p.in_quota,
            default_timeout: p.default_timeout,
            ..PipeInfo::default()
        }
    }

    /// Runs `f` on this instance's slot under the registry lock (ERROR_INVALID_HANDLE when the
    /// instance is closed).
    pub(super) fn with_slot<R>(&self, f: impl FnOnce(&mut Slot) -> io::Result<R>) -> io::Result<R> {
        let mut reg = registry();
        let slot = reg
            .state(self.pipe.id)
            .and_then(|st| st.slots.get_mut(&self.id))
            .ok_or_else(|| self.gone())?;
        f(slot)
    }

    /// Runs `f` on the connection for a data operation, or gives the state error of this
    /// instance. The connection is borrowed from the cache for as long as `f` runs (two atomic
    /// read-modify-writes, no reference count).
    #[inline]
    pub(super) fn with_conn<R>(
        &self,
        op: Op,
        f: impl FnOnce(&Arc<Conn>) -> io::Result<R>,
    ) -> io::Result<R> {
        // Relaxed: a closed handle fails at once; a close racing with this call is seen through
        // the epoch (the slot is gone) or by the connection itself.
        if self.closed.load(Ordering::Relaxed) {
            return Err(self.gone());
        }
        // SYNC POINT with `Slot::changed`: an unchanged epoch means the cached connection is
        // still this instance's. A change racing with the operation is seen by the operation
        // itself through the connection's shared state, as it would be after the lock.
        let epoch = self.epoch.value.load(Ordering::Acquire);
        let mut f = Some(f);
        let hit = self.cached.borrow(|cached| match cached {
            Some((e, c)) if *e == epoch => {
                self.mark_read(op);
                f.take().map(|f| f(c))
            }
            _ => None,
        });
        if let Some(Some(r)) = hit {
            return r;
        }
        let c = self.conn_from_registry(op)?;
        f.take().expect("not run on a miss")(&c)
    }

    /// The connection for a data operation (an owned reference, for operations in steps), or
    /// the state error of this instance.
    pub(super) fn conn_for(&self, op: Op) -> io::Result<Arc<Conn>> {
        self.with_conn(op, |c| Ok(c.clone()))
    }

    /// [`with_conn`](Self::with_conn)'s path when the cache does not hold the connection of the
    /// current epoch: the registry's slot, under its lock; cached for the next operations.
    #[inline(never)]
    fn conn_from_registry(&self, op: Op) -> io::Result<Arc<Conn>> {
        let (c, e) = self.with_slot(|slot| match (slot.state, op) {
            (SlotState::Connected, _) => {
                let c = slot.conn.clone().expect("connected slot has a connection");
                // Relaxed: read under the registry lock, which orders it with the change.
                Ok((c, slot.epoch.value.load(Ordering::Relaxed)))
            }
            (SlotState::Listening, Op::Read | Op::Write) => Err(err(
                ERROR_PIPE_LISTENING,
                format!("no client has connected to {} yet", self.name()),
            )),
            (SlotState::Disconnected, Op::Read | Op::Write) => Err(err(
                ERROR_PIPE_NOT_CONNECTED,
                format!("{} is disconnected", self.name()),
            )),
            (_, _) => Err(err(
                ERROR_BAD_PIPE,
                format!("{} is not connected", self.name()),
            )),
        })?;
        // Refused while another operation borrows the cache: the next miss caches it. A
        // disconnect between the registry's answer and here would leave that connection (and
        // its socket) cached until the next operation: looked at again once cached.
        if self.cached.try_set((e, c.clone())).is_ok()
            && self.epoch.value.load(Ordering::Acquire) != e
        {
            self.cached.clear();
        }
        self.mark_read(op);
        Ok(c)
    }

    /// Notes a read (or transact) from the connected client, for ImpersonateNamedPipeClient
    /// (W133). Marked once the operation has the connection: a read that started while the
    /// client was connecting then counts although the connection cleared the mark meanwhile.
    fn mark_read(&self, op: Op) {
        // Relaxed: a flag only ImpersonateNamedPipeClient reads; the read itself is ordered by
        // the connection. Looked at first, so a read stores only the first time.
        if matches!(op, Op::Read | Op::Transact)
            && !self.epoch.read_from_client.load(Ordering::Relaxed)
        {
            self.epoch.read_from_client.store(true, Ordering::Relaxed);
        }
    }

    /// The rights Windows grants a server handle of this pipe's direction (W24): reading data
    /// and attributes inbound, writing them outbound, both for a duplex pipe.
    pub(crate) fn access_rights(&self) -> u32 {
        use crate::semantics::security::{FILE_GENERIC_READ, FILE_GENERIC_WRITE};
        let d = self.pipe.params.direction;
        let mut r = 0;
        if d & ACCESS_INBOUND != 0 {
            r |= FILE_GENERIC_READ;
        }
        if d & ACCESS_OUTBOUND != 0 {
            r |= FILE_GENERIC_WRITE;
        }
        r
    }

    pub(super) fn check_access(&self, op: Op) -> io::Result<()> {
        let d = self.pipe.params.direction;
        let ok = match op {
            Op::Read => d & ACCESS_INBOUND != 0,
            Op::Write => d & ACCESS_OUTBOUND != 0,
            Op::Transact => d == ACCESS_DUPLEX,
            _ => true,
        };
        if ok {
            Ok(())
        } else {
            Err(err(
                ERROR_ACCESS_DENIED,
                format!(
                    "the direction of {} does not allow this server to do that",
                    self.name()
                ),
            ))
        }
    }

    /// ConnectNamedPipe's look at the instance: `Some(Ok(true))` a client is connected
    /// (ERROR_PIPE_CONNECTED, W33), `Some(Ok(false))` one connected while the caller waited, an
    /// error, or `None`: listening (a disconnected instance starts listening here, W30).
    fn connect_state(&self, reg: &mut Registry, waited: bool) -> Option<io::Result<bool>> {
        let nowait = self.modes.nowait();
        let Some(st) = reg.state(self.pipe.id) else {
            return Some(Err(self.connect_gone(waited)));
        };
        let Some(slot) = st.slots.get_mut(&self.id) else {
            return Some(Err(self.connect_gone(waited)));
        };
        match slot.state {
            SlotState::Connected if waited => return Some(Ok(false)),
            SlotState::Connected => {
                let conn = slot.conn.clone().expect("connected slot has a connection");
                conn.probe_hup();
                return Some(match conn.peer_open() {
                    Ok(true) => Ok(true),
                    _ => Err(err(
                        ERROR_NO_DATA,
                        format!(
                            "the client of {} has closed; call DisconnectNamedPipe first",
                            self.name()
                        ),
                    )),
                });
            }
            SlotState::Disconnected => {
                slot.state = SlotState::Listening;
                slot.changed();
                st.listeners.push_back(self.id);
                Pipe::wake_parked(st);
                if nowait {
                    return Some(Err(err(
                        ERROR_PIPE_LISTENING,
                        format!("{} is listening", self.name()),
                    )));
                }
            }
            SlotState::Listening if nowait => {
                return Some(Err(err(
                    ERROR_PIPE_LISTENING,
                    format!("{} is listening", self.name()),
                )));
            }
            SlotState::Listening => {}
        }
        None
    }

    /// ConnectNamedPipe without the wait: `Ok(true)` a client is connected
    /// (ERROR_PIPE_CONNECTED), `Ok(false)` the instance listens now, or the blocking call's
    /// errors (ERROR_NO_DATA W43, ERROR_PIPE_LISTENING for PIPE_NOWAIT W111).
    /// With the instance's change counter read under the same hold of the registry lock, so a
    /// client that connects right after is a change the caller sees (`None`: connected).
    pub(super) fn connect_status_nowait(&self) -> io::Result<Option<u32>> {
        let mut reg = registry();
        match self.connect_state(&mut reg, false) {
            Some(Ok(true)) => Ok(None),
            Some(Ok(false)) => Ok(None),
            Some(Err(e)) => Err(e),
            None => {
                let st = reg.state(self.pipe.id).ok_or_else(|| self.gone())?;
                let slot = st.slots.get(&self.id).ok_or_else(|| self.gone())?;
                Ok(Some(slot.epoch_value()))
            }
        }
    }

    /// ConnectNamedPipe. `Ok(false)`: a client connected during the call; `Ok(true)`: one was
    /// already connected (ERROR_PIPE_CONNECTED, W33). PIPE_NOWAIT gives ERROR_PIPE_LISTENING.
    pub(crate) fn connect(&self, deadline: Option<Instant>) -> io::Result<bool> {
        let mut reg = registry();
        let mut waited = false;
        // Registered on the way to the first sleep: another thread may cancel it
        // (`crate::SyncCancel`, CancelSynchronousIo W42). A client that arrived meanwhile wins.
        let mut cancel: Option<sys::Registration<'_>> = None;
        loop {
            if let Some(r) = self.connect_state(&mut reg, waited) {
                return r;
            }
            if cancel.as_ref().is_some_and(|c| c.cancelled()) {
                return Err(err(
                    ERROR_OPERATION_ABORTED,
                    format!(
                        "the wait for a client of {} was cancelled (CancelSynchronousIo)",
                        self.name()
                    ),
                ));
            }
            // Wait for the acceptor to hand this instance a client: sleep on the slot's epoch,
            // read under the registry lock, so a change made after the lock is released makes
            // the futex wait return at once.
            let timeout = match deadline {
                None => None,
                Some(d) => {
                    let now = Instant::now();
                    if d <= now {
                        return Err(err(
                            ERROR_SEM_TIMEOUT,
                            format!("no client connected to {}", self.name()),
                        ));
                    }
                    Some(d - now)
                }
            };
            let c = cancel.get_or_insert_with(|| sys::Registration::word(&self.epoch.value));
            // Relaxed: read and counted under the registry lock, which orders both with
            // `Slot::changed`. Acquire as well for a cancel, which bumps the counter without
            // that lock: a bump seen here shows its flag below.
            let e = self.epoch.value.load(Ordering::Acquire);
            if c.cancelled() {
                continue;
            }
            self.epoch.sleepers.fetch_add(1, Ordering::Relaxed);
            drop(reg);
            // The call waits from here on (the C ABI's handle turns non-signalled, W27).
            sys::about_to_sleep();
            let _ = sys::futex_wait(&self.epoch.value, e, timeout);
            reg = registry();
            self.epoch.sleepers.fetch_sub(1, Ordering::Relaxed);
            waited = true;
        }
    }

    /// The error of a ConnectNamedPipe whose instance went away: closed while it waited
    /// (ERROR_OPERATION_ABORTED) or before it started (ERROR_INVALID_HANDLE).
    fn connect_gone(&self, waited: bool) -> io::Error {
        if waited {
            err(
                ERROR_OPERATION_ABORTED,
                format!(
                    "the handle to {} was closed while it waited for a client",
                    self.name()
                ),
            )
        } else {
            self.gone()
        }
    }

    /// DisconnectNamedPipe (W44-W45, W132).
    pub(crate) fn disconnect(&self) -> io::Result<()> {
        let needs_queue = self.with_slot(|slot| match slot.state {
            SlotState::Listening => Err(err(
                ERROR_PIPE_LISTENING,
                format!("{} is listening", self.name()),
            )),
            SlotState::Disconnected => Err(err(
                ERROR_PIPE_NOT_CONNECTED,
                format!("{} is already disconnected", self.name()),
            )),
            SlotState::Connected => {
                if let Some(c) = slot.conn.take() {
                    c.set_state(Side::Server, queue::DISCONNECTED);
                }
                slot.state = SlotState::Disconnected;
                // Relaxed: under the registry lock; a reader racing with the disconnection
                // may still see the pid, as a call just before it would.
                slot.epoch.client_pid.store(0, Ordering::Relaxed);
                slot.remote = None;
                slot.changed();
                Ok(slot.queue.is_none())
            }
        })?;
        if needs_queue {
            // The next client's queue, made here rather than in its handshake.
            if let Some(q) = self.pipe.make_queue() {
                let _ = self.with_slot(|slot| {
                    slot.queue.get_or_insert(q);
                    Ok(())
                });
            }
        }
        // The link is gone: drop the cached connection too, so its socket closes now (the
        // client sees the hang-up) rather than at this instance's next operation. An operation
        // borrowing it right now drops it as it ends.
        self.cached.clear();
        Ok(())
    }

    /// ReadFile.
    pub(crate) fn read(&self, buf: &mut [u8], deadline: Option<Instant>) -> io::Result<ReadResult> {
        self.check_access(Op::Read)?;
        self.with_conn(Op::Read, |c| {
            conn_read(c, &self.modes, buf, deadline, self.name())
        })
    }

    /// A descriptor that polls readable when data may be waiting or the client has gone, for
    /// the current connection (see [`read_ready_fd`]).
    pub(crate) fn read_ready_fd(&self) -> io::Result<OwnedFd> {
        self.check_access(Op::Read)?;
        let c = self.conn_for(Op::Read)?;
        let sig = self.signal()?;
        read_ready_fd(&c, &sig, self.name())
    }

    /// WriteFile.
    pub(crate) fn write(&self, data: &[u8], deadline: Option<Instant>) -> io::Result<usize> {
        self.check_access(Op::Write)?;
        self.with_conn(Op::Write, |c| {
            conn_write(c, &self.modes, &self.info(), data, deadline, self.name())
        })
    }

    /// Zero-copy write: reserves one whole message.
    pub(crate) fn reserve(&self, len: usize) -> io::Result<Reserved> {
        self.check_access(Op::Write)?;
        self.with_conn(Op::Write, |c| {
            conn_reserve(c, len, &self.info(), self.name())
        })
    }

    /// Publishes a reserved message.
    pub(crate) fn commit(&self, r: Reserved) -> io::Result<usize> {
        self.with_conn(Op::Write, |c| {
            r.commit(write_opts(c, &self.modes, &self.info()), None)
                .map_err(|e| map_q(e, Op::Write, Side::Server, self.name()))
        })
    }

    /// Zero-copy read of the next whole message.
    pub(crate) fn read_in_place(&self) -> io::Result<InPlace> {
        self.check_access(Op::Read)?;
        self.with_conn(Op::Read, |c| conn_read_in_place(c, self.name()))
    }

    /// PeekNamedPipe.
    pub(crate) fn peek(&self, buf: Option<&mut [u8]>) -> io::Result<Peeked> {
        self.with_conn(Op::Peek, |c| conn_peek(c, &self.info(), buf, self.name()))
    }

    /// FlushFileBuffers (W94-W95): succeeds at once when not connected.
    pub(crate) fn flush(&self, deadline: Option<Instant>) -> io::Result<()> {
        // Listening or disconnected: nothing to flush (W95).
        let Some(c) = self.with_slot(|slot| Ok(slot.conn.clone()))? else {
            return Ok(());
        };
        match c.flush(deadline) {
            Ok(()) | Err(QErr::Disconnected) => Ok(()),
            Err(e) => Err(map_q(e, Op::Flush, Side::Server, self.name())),
        }
    }

    /// TransactNamedPipe (W123-W129).
    pub(crate) fn transact(
        &self,
        data: &[u8],
        buf: &mut [u8],
        deadline: Option<Instant>,
    ) -> io::Result<ReadResult> {
        self.check_access(Op::Transact)?;
        self.with_conn(Op::Transact, |c| {
            conn_transact(
                c,
                &self.modes,
                &self.info(),
                data,
                buf,
                deadline,
                self.name(),
            )
        })
    }

    /// GetNamedPipeHandleState: (state bits, current instances); ERROR_INVALID_HANDLE once
    /// closed.
    pub(crate) fn handle_state(&self) -> io::Result<(u32, u32)> {
        let mut reg = registry();
        let st = reg.state(self.pipe.id).ok_or_else(|| self.gone())?;
        if !st.slots.contains_key(&self.id) {
            return Err(self.gone());
        }
        Ok((self.modes.state_bits(), st.slots.len() as u32))
    }

    /// SetNamedPipeHandleState.
    pub(crate) fn set_mode(&self, mode: u32) -> io::Result<()> {
        self.modes.set(mode, self.pipe.params.message_type)
    }

    /// GetNamedPipeInfo: (message type, out quota, in quota, max instances); ERROR_INVALID_HANDLE
    /// once closed.
    pub(crate) fn pipe_info(&self) -> io::Result<(bool, u32, u32, u32)> {
        // Relaxed: see `with_conn`.
        if self.closed.load(Ordering::Relaxed) {
            return Err(self.gone());
        }
        let p = self.pipe.params;
        Ok((p.message_type, p.out_quota, p.in_quota, p.max_instances))
    }

    /// The connected client's identity when it is a remote (SMB) client.
    pub(crate) fn remote_client(&self) -> io::Result<Option<Arc<RemoteIdentity>>> {
        self.of_connected(|slot| slot.remote.clone())
    }

    /// What `f` takes from the slot while a client is connected (`None` while listening or
    /// disconnected; a client that closed is still connected until DisconnectNamedPipe).
    fn of_connected<T>(&self, f: impl FnOnce(&Slot) -> Option<T>) -> io::Result<Option<T>> {
        self.with_slot(|slot| {
            Ok(match slot.state {
                SlotState::Connected => f(slot),
                _ => None,
            })
        })
    }

    /// GetNamedPipeClientProcessId (W131-W132): ERROR_NOT_FOUND when no client is connected,
    /// when the client's process is not visible from this process's pid namespace, or when
    /// the client is remote (SMB tells no process id). Inlined where it is called: the C ABI
    /// asks it after every ReadFile and WriteFile while overlapped operations are pending (is
    /// the client in this process?).
    #[inline]
    pub(crate) fn client_pid(&self) -> io::Result<u32> {
        // Relaxed: a closed handle fails at once (its slot is gone; the lock's path says so).
        if !self.closed.load(Ordering::Relaxed) {
            // Acquire: pairs with the store made when the client connected.
            let pid = self.epoch.client_pid.load(Ordering::Acquire);
            if pid != 0 {
                return Ok(pid);
            }
        }
        self.no_client_pid()
    }

    /// [`client_pid`](Self::client_pid) without a pid: why, under the lock.
    #[cold]
    #[inline(never)]
    fn no_client_pid(&self) -> io::Result<u32> {
        let r = self.with_slot(|slot| {
            let pid = slot.epoch.client_pid.load(Ordering::Relaxed);
            Ok((slot.state, (pid != 0).then_some(pid), slot.remote.is_some()))
        })?;
        match r {
            (_, Some(pid), _) => Ok(pid),
            (SlotState::Connected, None, true) => Err(err(
                ERROR_NOT_FOUND,
                format!(
                    "the client of {} is remote (SMB): its process id is unknown",
                    self.name()
                ),
            )),
            (SlotState::Connected, None, false) => Err(err(
                ERROR_NOT_FOUND,
                format!(
                    "the client of {} runs in a pid namespace this process cannot see",
                    self.name()
                ),
            )),
            _ => Err(err(
                ERROR_NOT_FOUND,
                format!("no client is connected to {}", self.name()),
            )),
        }
    }

    /// The connection of the connected client (see `of_connected`).
    pub(super) fn connected_conn(&self) -> io::Result<Option<Arc<Conn>>> {
        self.of_connected(|slot| slot.conn.clone())
    }

    /// Whether the server has read from the current client (W133).
    pub(super) fn read_from_client(&self) -> bool {
        // Relaxed: see `check_access`.
        self.epoch.read_from_client.load(Ordering::Relaxed)
    }

    /// Whether the pipe is message type.
    pub(crate) fn pipe_type_message(&self) -> bool {
        self.pipe.params.message_type
    }

    /// For `Debug`: the instance's number within its pipe in this process (1, 2, ...), its
    /// state in one word (listening, connected, closing when the client has closed,
    /// disconnected, or closed), and this handle's mode bits (PIPE_READMODE_MESSAGE = 2,
    /// PIPE_NOWAIT = 1).
    pub(crate) fn summary(&self) -> (u64, &'static str, u32) {
        // Relaxed: a label for a human, not an ordering decision.
        let state = if self.closed.load(Ordering::Relaxed) {
            "closed"
        } else {
            // The connection is looked at outside the registry lock.
            match self.with_slot(|slot| Ok((slot.state, slot.conn.clone()))) {
                Err(_) => "closed",
                Ok((SlotState::Listening, _)) => "listening",
                Ok((SlotState::Disconnected, _)) => "disconnected",
                Ok((SlotState::Connected, None)) => "connected",
                Ok((SlotState::Connected, Some(c))) => match c.peer_open() {
                    Ok(true) => "connected",
                    Ok(false) => "closing",
                    Err(_) => "disconnected",
                },
            }
        };
        (self.id, state, self.modes.state_bits())
    }

    /// The pipe's direction bits.
    pub(crate) fn direction(&self) -> u8 {
        self.pipe.params.direction
    }

    /// CloseHandle: the instance goes away now, even while other threads are inside an
    /// operation on it. A ConnectNamedPipe or a data operation in flight returns
    /// ERROR_OPERATION_ABORTED, later calls ERROR_INVALID_HANDLE; the client sees the close
    /// (W113-W115). The last instance takes the name with it (W9). Idempotent.
    pub(crate) fn close(&self) {
        // Relaxed: the registry lock below orders the close with every slot access.
        if self.closed.swap(true, Ordering::Relaxed) {
            return;
        }
        let forked = fork_generation() != self.fork_gen;
        let mut reg = registry();
        let Some(st) = reg.state(self.pipe.id) else {
            return;
        };
        if let Some(slot) = st.slots.remove(&self.id) {
            // Relaxed: under the registry lock (`closed` already fails every reader).
            slot.epoch.client_pid.store(0, Ordering::Relaxed);
            slot.changed();
            if let Some(c) = slot.conn {
                c.set_cur_instances(st.slots.len() as u32);
                c.close_here(!forked);
            }
        }
        st.listeners.retain(|&i| i != self.id);
        Pipe::publish_instances(st);
        let last = st.slots.is_empty();
        let torn_down = if last {
            // The last instance is gone: the name disappears (W9). Creates of the name wait
            // while the acceptor stops (Addr::Closing), outside the lock.
            let (_, st) = reg
                .pipes
                .remove(&self.pipe.id)
                .expect("state checked above");
            if reg.by_addr.get(&self.pipe.addr) == Some(&Addr::Live(self.pipe.id)) {
                reg.by_addr
                    .insert(self.pipe.addr.clone(), Addr::Closing(self.pipe.id));
            }
            Some(st)
        } else {
            None
        };
        drop(reg);
        self.cached.clear();
        if let Some(mut st) = torn_down {
            st.parked.clear();
            if let Some(mut a) = st.acceptor.take() {
                a.stop();
            }
            let mut reg = registry();
            if reg.by_addr.get(&self.pipe.addr) == Some(&Addr::Closing(self.pipe.id)) {
                reg.by_addr.remove(&self.pipe.addr);
            }
        }
        // The slot's and the cache's references are gone: once the watcher lets go of one it
        // may have upgraded meanwhile, the connection is dropped (unless another thread is
        // inside an operation on this end), and its descriptors with it.
        crate::transport::watch::settle();
    }
}

impl Drop for ServerEnd {
    fn drop(&mut self) {
        self.close();
    }
}
