//! The server side of named pipes: the registry of names this process serves, each pipe's
//! instances with the LISTENING / CONNECTED / DISCONNECTED state machine, and the answers to
//! client handshakes (the acceptor thread of `semantics::acceptor` delivers them).
//!
//! All mutable server state of the process (every pipe's instances, listening FIFO and parked
//! waiters) sits behind one lock, [`registry`]. It is held only for short bookkeeping (never
//! across a sleep or a join), and a fork handler can take it, so a child forked while other
//! threads were inside the library never inherits it locked (see `semantics::fork`). The data
//! path takes it only when an instance's cached connection is out of date.

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::*;
use crate::semantics::acceptor::{self, refuse, Acceptor, Service};
use crate::semantics::fork_generation;
use crate::semantics::namespace::{self, Kind, Name};
use crate::sys::PeerCred;
use crate::transport::control::{self, Described, Object, PipeInfo, Reply, ReqKind, Request};
use crate::transport::queue::{self, Conn, InPlace, QErr, Reserved, Side};

/// WaitNamedPipe clients one pipe keeps parked; further ones are told to ask again shortly.
pub(crate) const MAX_PARKED: usize = 512;
/// How long a create waits for the process that owns a name to describe its pipe.
const OWNER_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Listening,
    Connected,
    Disconnected,
}

#[derive(Debug)]
pub(crate) struct Slot {
    state: SlotState,
    conn: Option<Arc<Conn>>,
    /// The client's pid as seen from this process (`None`: not visible from our pid namespace).
    client_pid: Option<u32>,
    /// Bumped (under the registry lock) whenever `state` or `conn` changes, or the slot goes
    /// away; shared with the instance's [`ServerEnd`], whose data path trusts its cached
    /// connection while it is unchanged, and which sleeps on it (a futex word) while it
    /// listens, so a new client wakes exactly the thread waiting on that instance.
    epoch: Arc<SlotEpoch>,
    /// The queue the next client of this instance gets, made ahead of time by the thread that
    /// created or disconnected the instance, so neither the acceptor nor the client waits for
    /// that work during the handshake.
    queue: Option<(Conn, OwnedFd)>,
}

/// See [`Slot::epoch`].
#[derive(Debug, Default)]
pub(super) struct SlotEpoch {
    /// The change counter (a futex word). Only equality is compared, so wrapping is harmless.
    pub(super) value: AtomicU32,
    /// Threads sleeping on `value` in `ServerEnd::connect`; changed under the registry lock.
    sleepers: AtomicU32,
    /// The instance's readiness signal (made on first need, see `steps`): signalled on every
    /// change, so an overlapped ConnectNamedPipe learns that a client arrived.
    pub(super) signal: std::sync::OnceLock<Arc<sys::EventFd>>,
}

impl Slot {
    /// The change counter now (read under the registry lock).
    pub(super) fn epoch_value(&self) -> u32 {
        // Relaxed: read under the registry lock, which orders it with `changed`.
        self.epoch.value.load(Ordering::Relaxed)
    }

    /// The connection, when a client is connected.
    pub(super) fn conn_now(&self) -> Option<Arc<Conn>> {
        self.conn.clone()
    }

    /// Whether the instance listens (no client yet).
    pub(super) fn listening(&self) -> bool {
        self.state == SlotState::Listening
    }

    fn changed(&self) {
        // SYNC POINT with the Acquire load in `ServerEnd::conn_for`; the registry lock orders
        // the change itself, and the sleeper count, with `ServerEnd::connect`.
        self.epoch.value.fetch_add(1, Ordering::Release);
        if self.epoch.sleepers.load(Ordering::Relaxed) != 0 {
            sys::futex_wake(&self.epoch.value, u32::MAX);
        }
        if let Some(s) = self.epoch.signal.get() {
            s.signal();
        }
    }
}

/// The mutable state of one served pipe.
#[derive(Debug)]
struct PipeState {
    slots: BTreeMap<u64, Slot>,
    /// Listening instances, FIFO by the time each started listening (W53-W54).
    listeners: VecDeque<u64>,
    /// WaitNamedPipe clients waiting for an instance to listen (W30).
    parked: Vec<OwnedFd>,
    next_slot: u64,
    acceptor: Option<Acceptor>,
}

/// One pipe name served by this process: what never changes.
#[derive(Debug)]
struct Pipe {
    /// The registry key of its [`PipeState`].
    id: u64,
    name: Name,
    addr: Vec<u8>,
    params: PipeParams,
}

/// What an address in the registry stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Addr {
    /// A served pipe.
    Live(u64),
    /// A pipe whose last instance closed and whose acceptor is being stopped: a create waits
    /// until the listener is gone.
    Closing(u64),
}

/// Every pipe this process serves.
#[derive(Debug)]
pub(crate) struct Registry {
    pipes: BTreeMap<u64, (Arc<Pipe>, PipeState)>,
    by_addr: BTreeMap<Vec<u8>, Addr>,
    next_pipe: u64,
}

impl Registry {
    fn state(&mut self, pipe: u64) -> Option<&mut PipeState> {
        self.pipes.get_mut(&pipe).map(|(_, s)| s)
    }
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    pipes: BTreeMap::new(),
    by_addr: BTreeMap::new(),
    next_pipe: 1,
});

/// The registry lock (see the module docs). Never held across a sleep, a join or a call into
/// another lock of the library.
pub(crate) fn registry() -> MutexGuard<'static, Registry> {
    crate::semantics::install_fork_handlers();
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

impl Pipe {
    fn info(&self, st: &PipeState) -> PipeInfo {
        PipeInfo {
            message_type: self.params.message_type,
            direction: self.params.direction,
            max_instances: self.params.max_instances,
            out_quota: self.params.out_quota,
            in_quota: self.params.in_quota,
            default_timeout: self.params.default_timeout,
            cur_instances: st.slots.len() as u32,
            server_pid: sys::getpid(),
            caps: [
                ring_for(self.params.out_quota),
                ring_for(self.params.in_quota),
            ],
        }
    }

    /// Tells every parked WaitNamedPipe client that an instance listens (W30).
    fn wake_parked(st: &mut PipeState) {
        let ready = Reply::Ready.encode();
        for fd in st.parked.drain(..) {
            let _ = sys::send_packet_nowait(fd.as_fd(), &ready, &[]);
        }
    }

    fn publish_instances(st: &PipeState) {
        let n = st.slots.len() as u32;
        for s in st.slots.values() {
            if let Some(c) = &s.conn {
                c.set_cur_instances(n);
            }
        }
    }

    /// A new connection queue (memfd created, sealed, mapped, header written) for this pipe's
    /// quotas; `None` when the system refuses it (the acceptor then makes one during the
    /// handshake, and if that fails too, refuses the client).
    fn make_queue(&self) -> Option<(Conn, OwnedFd)> {
        let caps = [
            ring_for(self.params.out_quota),
            ring_for(self.params.in_quota),
        ];
        let wins = [
            win_for(self.params.out_quota),
            win_for(self.params.in_quota),
        ];
        Conn::create(None, caps, wins, 0).ok()
    }

    /// Parks a WaitNamedPipe client until an instance listens, if there is room (W30).
    fn park(&self, st: &mut PipeState, sock: OwnedFd) {
        if st.parked.len() >= MAX_PARKED {
            st.parked.retain(|fd| !sys::peer_hung_up(fd.as_fd()));
        }
        if st.parked.len() >= MAX_PARKED {
            // The client asks again after a short pause (see `wait_named_pipe`).
            return refuse(&sock, ERROR_PIPE_BUSY);
        }
        let parked = Reply::Parked {
            default_timeout: self.params.default_timeout,
        };
        if sys::send_packet_nowait(sock.as_fd(), &parked.encode(), &[]).is_ok() {
            st.parked.push(sock);
        }
    }

    /// An OPEN: the head of the listening FIFO gets the client (W32, W53-W55, W22).
    fn open(&self, st: &mut PipeState, sock: OwnedFd, access: u32, peer: PeerCred) {
        let Some(&id) = st.listeners.front() else {
            return refuse(&sock, ERROR_PIPE_BUSY);
        };
        let d = self.params.direction;
        if (access & READ_BITS != 0 && d & ACCESS_OUTBOUND == 0)
            || (access & WRITE_BITS != 0 && d & ACCESS_INBOUND == 0)
        {
            return refuse(&sock, ERROR_ACCESS_DENIED);
        }
        let info = self.info(st);
        let made = st.slots.get_mut(&id).and_then(|s| s.queue.take());
        let Some((mut conn, memfd)) = made.or_else(|| self.make_queue()) else {
            return refuse(&sock, ERROR_NOT_ENOUGH_MEMORY);
        };
        conn.set_cur_instances(info.cur_instances);
        conn.set_ctl(sock);
        let Some(ctl) = conn.ctl() else { return };
        // A fresh socket's buffer is empty, so this send cannot block; a client that already
        // went away makes it fail, and the instance keeps listening.
        if sys::send_packet_nowait(
            ctl.as_fd(),
            &Reply::Connected(info).encode(),
            &[memfd.as_fd()],
        )
        .is_err()
        {
            return;
        }
        st.listeners.pop_front();
        let conn = Arc::new(conn);
        conn.watch();
        if let Some(slot) = st.slots.get_mut(&id) {
            slot.state = SlotState::Connected;
            slot.conn = Some(conn);
            slot.client_pid = peer.pid;
            slot.changed();
        }
    }
}

impl Service for Pipe {
    fn shed(&self) {
        if let Some(st) = registry().state(self.id) {
            st.parked.retain(|fd| !sys::peer_hung_up(fd.as_fd()));
        }
    }

    fn request(&self, sock: OwnedFd, req: Request, peer: PeerCred) {
        let mut reg = registry();
        let Some(st) = reg.state(self.id) else {
            return refuse(&sock, ERROR_FILE_NOT_FOUND);
        };
        match req.kind {
            ReqKind::Query => {
                let info = Reply::Info(self.info(st)).encode();
                let _ = sys::send_packet_nowait(sock.as_fd(), &info, &[]);
            }
            ReqKind::Wait if !st.listeners.is_empty() => {
                let _ = sys::send_packet_nowait(sock.as_fd(), &Reply::Ready.encode(), &[]);
            }
            ReqKind::Wait => self.park(st, sock),
            ReqKind::Open => self.open(st, sock, req.access, peer),
            // Answered by the acceptor through `describe`.
            ReqKind::Describe => refuse(&sock, ERROR_INVALID_FUNCTION),
        }
    }

    /// For listings: the name as its first instance was created, the parameters and how many
    /// instances exist and listen. Only reads the registry.
    fn describe(&self) -> Result<Described, u32> {
        let mut reg = registry();
        let st = reg.state(self.id).ok_or(ERROR_FILE_NOT_FOUND)?;
        Ok(Described {
            object: Object::Pipe,
            listening: st.listeners.len() as u32,
            info: self.info(st),
            name: self.name.display.clone(),
        })
    }
}

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
    /// a map lookup. Only ever `try_lock`ed: a thread that finds it busy takes the slow path,
    /// so it can never block anyone (nor a forked child that inherited it locked).
    cached: Mutex<Option<(u32, Arc<Conn>)>>,
    /// Set by [`ServerEnd::close`].
    pub(super) closed: AtomicBool,
}

/// Asks the process that owns `addr` about its pipe (for a create that found the name taken).
/// Only a process of our own user or root is believed; the answer must come within
/// [`OWNER_TIMEOUT`].
fn query_owner(name: &Name, addr: &[u8]) -> io::Result<Option<PipeInfo>> {
    let display = &name.display;
    let Ok(sock) = sys::seqpacket(false) else {
        return Ok(None);
    };
    if sys::connect(sock.as_fd(), addr).is_err() {
        return Ok(None);
    }
    let peer = sys::peer_cred(sock.as_fd()).map_err(|e| os_err(e, "SO_PEERCRED", display))?;
    if !acceptor::peer_allowed(&peer) {
        return Err(err(
            ERROR_ACCESS_DENIED,
            format!("{display} is served by another user (uid {})", peer.uid),
        ));
    }
    let req = Request {
        kind: ReqKind::Query,
        access: 0,
        timeout_ms: 0,
        name: display.clone(),
    };
    if sys::send_packet_nowait(sock.as_fd(), &req.encode(), &[]).is_err() {
        return Ok(None);
    }
    let mut buf = [0u8; control::MAX_REP];
    let mut fds = Vec::new();
    let deadline = Some(Instant::now() + OWNER_TIMEOUT);
    let Ok(n) = sys::recv_packet(sock.as_fd(), &mut buf, &mut fds, deadline) else {
        return Ok(None);
    };
    Ok(match Reply::decode(&buf[..n]) {
        Ok(Reply::Info(i)) => Some(i),
        _ => None,
    })
}

impl ServerEnd {
    /// CreateNamedPipe. Returns the instance and whether the pipe already existed (W23).
    pub(crate) fn create(name: &str, cfg: ServerConfig) -> io::Result<(ServerEnd, bool)> {
        let p = cfg.params;
        if !(1..=3).contains(&p.direction) {
            return Err(err(
                ERROR_INVALID_PARAMETER,
                format!("{name}: the open mode must be PIPE_ACCESS_INBOUND, _OUTBOUND or _DUPLEX"),
            ));
        }
        if cfg.read_message && !p.message_type {
            return Err(err(
                ERROR_INVALID_PARAMETER,
                format!("{name}: PIPE_READMODE_MESSAGE needs PIPE_TYPE_MESSAGE"),
            ));
        }
        if p.max_instances == 0 || p.max_instances > UNLIMITED {
            return Err(err(
                ERROR_INVALID_PARAMETER,
                format!("{name}: max instances must be 1..=255 (255 = unlimited)"),
            ));
        }
        let n = namespace::parse(name, Kind::Pipe).map_err(|c| {
            err(
                c,
                format!("{name:?} is not a valid pipe name (\\\\.\\pipe\\NAME)"),
            )
        })?;
        let addr = n.address();
        // A name being torn down by another thread is free within a few milliseconds (its
        // acceptor is being joined); wait for it rather than fail.
        let give_up = Instant::now() + Duration::from_secs(2);
        loop {
            match Self::create_once(name, &n, &addr, cfg)? {
                Some(r) => return Ok(r),
                None if Instant::now() < give_up => std::thread::sleep(Duration::from_millis(1)),
                None => {
                    return Err(err(
                        ERROR_ACCESS_DENIED,
                        format!("{name} is being closed by another thread"),
                    ))
                }
            }
        }
    }

    /// The error for a name another process serves.
    fn taken(name: &str, n: &Name, addr: &[u8], first_instance: bool) -> io::Error {
        if first_instance {
            return err(
                ERROR_ACCESS_DENIED,
                format!("{name} already exists (FILE_FLAG_FIRST_PIPE_INSTANCE)"),
            );
        }
        match query_owner(n, addr) {
            Err(e) => e,
            Ok(Some(i)) if i.max_instances != UNLIMITED && i.cur_instances >= i.max_instances => {
                err(
                    ERROR_PIPE_BUSY,
                    format!("all {} instances of {name} exist", i.max_instances),
                )
            }
            Ok(_) => err(
                ERROR_ACCESS_DENIED,
                format!(
                    "{name} is served by another process; instances of one name must come \
                     from one process"
                ),
            ),
        }
    }

    /// One attempt; `Ok(None)` when the name was being torn down and the caller should retry.
    fn create_once(
        name: &str,
        n: &Name,
        addr: &[u8],
        cfg: ServerConfig,
    ) -> io::Result<Option<(ServerEnd, bool)>> {
        let p = cfg.params;
        let mut reg = registry();
        let (pipe, existed) = match reg.by_addr.get(addr).copied() {
            Some(Addr::Closing(_)) => return Ok(None),
            Some(Addr::Live(id)) => {
                let pipe = reg.pipes[&id].0.clone();
                if pipe.name.folded != n.folded {
                    return Err(err(
                        ERROR_ACCESS_DENIED,
                        format!("{name}: another pipe name maps to the same address"),
                    ));
                }
                (pipe, true)
            }
            None => {
                let l = sys::seqpacket(true).map_err(|e| os_err(e, "socket", name))?;
                match sys::bind_listen(l.as_fd(), addr) {
                    Ok(()) => {}
                    Err(sys::Errno::ADDRINUSE) => {
                        drop(reg);
                        return Err(Self::taken(name, n, addr, cfg.first_instance));
                    }
                    Err(e) => return Err(os_err(e, "bind", name)),
                }
                let id = reg.next_pipe;
                reg.next_pipe += 1;
                let pipe = Arc::new(Pipe {
                    id,
                    name: n.clone(),
                    addr: addr.to_vec(),
                    params: p,
                });
                let acceptor = Acceptor::spawn(
                    "npipe-acceptor",
                    n.clone(),
                    l,
                    pipe.clone() as Arc<dyn Service>,
                )?;
                let st = PipeState {
                    slots: BTreeMap::new(),
                    listeners: VecDeque::new(),
                    parked: Vec::new(),
                    next_slot: 1,
                    acceptor: Some(acceptor),
                };
                reg.pipes.insert(id, (pipe.clone(), st));
                reg.by_addr.insert(addr.to_vec(), Addr::Live(id));
                (pipe, false)
            }
        };
        drop(reg);
        // The first client's queue, made before the registry lock is taken (the acceptor
        // needs it).
        let queue = pipe.make_queue();
        let mut reg = registry();
        let Some(st) = reg.state(pipe.id) else {
            // The pipe closed meanwhile: start over.
            return Ok(None);
        };
        if existed {
            if cfg.first_instance {
                return Err(err(
                    ERROR_ACCESS_DENIED,
                    format!("{name} already exists (FILE_FLAG_FIRST_PIPE_INSTANCE)"),
                ));
            }
            let max = pipe.params.max_instances;
            if max != UNLIMITED && st.slots.len() as u32 >= max {
                return Err(err(
                    ERROR_PIPE_BUSY,
                    format!("all {max} instances of {name} exist"),
                ));
            }
            if pipe.params.direction != p.direction {
                return Err(err(
                    ERROR_ACCESS_DENIED,
                    format!("{name} exists with another direction"),
                ));
            }
        }
        let id = st.next_slot;
        st.next_slot += 1;
        let epoch = Arc::new(SlotEpoch::default());
        st.slots.insert(
            id,
            Slot {
                state: SlotState::Listening,
                conn: None,
                client_pid: None,
                epoch: epoch.clone(),
                queue,
            },
        );
        st.listeners.push_back(id);
        Pipe::publish_instances(st);
        Pipe::wake_parked(st);
        drop(reg);
        Ok(Some((
            ServerEnd {
                pipe,
                id,
                modes: Modes::new(cfg.read_message, cfg.nowait),
                fork_gen: fork_generation(),
                epoch,
                cached: Mutex::new(None),
                closed: AtomicBool::new(false),
            },
            existed,
        )))
    }

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

    /// The connection for a data operation, or the state error of this instance.
    pub(super) fn conn_for(&self, op: Op) -> io::Result<Arc<Conn>> {
        // Relaxed: a closed handle fails at once; a close racing with this call is seen through
        // the epoch (the slot is gone) or by the connection itself.
        if self.closed.load(Ordering::Relaxed) {
            return Err(self.gone());
        }
        // SYNC POINT with `Slot::changed`: an unchanged epoch means the cached connection is
        // still this instance's. A change racing with the operation is seen by the operation
        // itself through the connection's shared state, as it would be after the lock.
        let epoch = self.epoch.value.load(Ordering::Acquire);
        if let Ok(cached) = self.cached.try_lock() {
            if let Some((e, c)) = &*cached {
                if *e == epoch {
                    return Ok(c.clone());
                }
            }
        }
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
        if let Ok(mut cached) = self.cached.try_lock() {
            *cached = Some((e, c.clone()));
        }
        Ok(c)
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
        loop {
            if let Some(r) = self.connect_state(&mut reg, waited) {
                return r;
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
            // Relaxed: read and counted under the registry lock, which orders both with
            // `Slot::changed`.
            let e = self.epoch.value.load(Ordering::Relaxed);
            self.epoch.sleepers.fetch_add(1, Ordering::Relaxed);
            drop(reg);
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
                slot.client_pid = None;
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
        // client sees the hang-up) rather than at this instance's next operation. A thread
        // holding it right now only delays that until its operation ends.
        if let Ok(mut cached) = self.cached.try_lock() {
            *cached = None;
        }
        Ok(())
    }

    /// ReadFile.
    pub(crate) fn read(&self, buf: &mut [u8], deadline: Option<Instant>) -> io::Result<ReadResult> {
        self.check_access(Op::Read)?;
        let c = self.conn_for(Op::Read)?;
        conn_read(&c, &self.modes, buf, deadline, self.name())
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
        let c = self.conn_for(Op::Write)?;
        conn_write(&c, &self.modes, &self.info(), data, deadline, self.name())
    }

    /// Zero-copy write: reserves one whole message.
    pub(crate) fn reserve(&self, len: usize) -> io::Result<Reserved> {
        self.check_access(Op::Write)?;
        let c = self.conn_for(Op::Write)?;
        conn_reserve(&c, len, self.name())
    }

    /// Publishes a reserved message.
    pub(crate) fn commit(&self, r: Reserved) -> io::Result<usize> {
        let c = self.conn_for(Op::Write)?;
        r.commit(write_opts(&c, &self.modes, &self.info()), None)
            .map_err(|e| map_q(e, Op::Write, Side::Server, self.name()))
    }

    /// Zero-copy read of the next whole message.
    pub(crate) fn read_in_place(&self) -> io::Result<InPlace> {
        self.check_access(Op::Read)?;
        let c = self.conn_for(Op::Read)?;
        conn_read_in_place(&c, self.name())
    }

    /// PeekNamedPipe.
    pub(crate) fn peek(&self, buf: Option<&mut [u8]>) -> io::Result<Peeked> {
        let c = self.conn_for(Op::Peek)?;
        conn_peek(&c, &self.info(), buf, self.name())
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
        let c = self.conn_for(Op::Transact)?;
        conn_transact(
            &c,
            &self.modes,
            &self.info(),
            data,
            buf,
            deadline,
            self.name(),
        )
    }

    /// GetNamedPipeHandleState: (state bits, current instances).
    pub(crate) fn handle_state(&self) -> (u32, u32) {
        let n = registry()
            .state(self.pipe.id)
            .map_or(0, |st| st.slots.len() as u32);
        (self.modes.state_bits(), n)
    }

    /// SetNamedPipeHandleState.
    pub(crate) fn set_mode(&self, mode: u32) -> io::Result<()> {
        self.modes.set(mode, self.pipe.params.message_type)
    }

    /// GetNamedPipeInfo: (message type, out quota, in quota, max instances).
    pub(crate) fn pipe_info(&self) -> (bool, u32, u32, u32) {
        let p = self.pipe.params;
        (p.message_type, p.out_quota, p.in_quota, p.max_instances)
    }

    /// GetNamedPipeClientProcessId (W131-W132): ERROR_NOT_FOUND when no client is connected,
    /// or when the client's process is not visible from this process's pid namespace.
    pub(crate) fn client_pid(&self) -> io::Result<u32> {
        let r = self.with_slot(|slot| Ok((slot.state, slot.client_pid)))?;
        match r {
            (_, Some(pid)) => Ok(pid),
            (SlotState::Connected, None) => Err(err(
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

    /// Whether the pipe is message type.
    pub(crate) fn pipe_type_message(&self) -> bool {
        self.pipe.params.message_type
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
        if let Ok(mut cached) = self.cached.try_lock() {
            *cached = None;
        }
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
    }
}

impl Drop for ServerEnd {
    fn drop(&mut self) {
        self.close();
    }
}
