//! Named pipes: the per-name registry of a server process, its acceptor thread, server instances
//! with the LISTENING / CONNECTED / CLOSING / DISCONNECTED state machine, and client ends.
//!
//! Contract (W-numbers from WINDOWS-SEMANTICS.md):
//! - the first instance's parameters are the pipe's; later instances are checked only against
//!   max instances (ERROR_PIPE_BUSY) and direction (ERROR_ACCESS_DENIED) (W13-W16);
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

use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::fork_generation;
use super::namespace::{self, Kind, Name};
use crate::error::{code::*, Error};
use crate::sys;
use crate::transport::control::{self, PipeInfo, Reply, ReqKind, Request};
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
pub(crate) const READ_BITS: u32 = 0x8000_0000 | 0x1000_0000 | 0x0000_0001;
/// Win32 access bits that grant writing.
pub(crate) const WRITE_BITS: u32 = 0x4000_0000 | 0x1000_0000 | 0x0000_0002 | 0x0000_0004;

/// Default ring size when the quota is smaller.
const DEFAULT_RING: u64 = 64 * 1024;

/// Ring capacity for a direction with `quota`. Under `--cfg npipe_small_ring` every ring is the
/// minimum, so every message larger than 4 KiB streams through the ring (CI runs the suite so).
fn ring_for(quota: u32) -> u64 {
    if cfg!(npipe_small_ring) {
        queue::MIN_RING
    } else {
        queue::ring_capacity(quota, DEFAULT_RING)
    }
}

/// How long the acceptor waits for a connected client's request before dropping it.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(500);
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
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServerConfig {
    pub params: PipeParams,
    pub first_instance: bool,
    pub read_message: bool,
    pub nowait: bool,
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

/// Zero-copy write, step 1: room for one whole message in the outbound ring.
fn conn_reserve(c: &Arc<Conn>, len: usize, name: &str) -> io::Result<Reserved> {
    c.reserve(len, None).map_err(|e| match e {
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
        .peek(buf, info.message_type)
        .map_err(|e| map_q(e, Op::Peek, side, name))?;
    match c.peer_open() {
        Err(e) => return Err(map_q(e, Op::Peek, side, name)),
        Ok(false) if !p.queued => return Err(map_q(QErr::PeerClosed, Op::Peek, side, name)),
        _ => {}
    }
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

// ---------------------------------------------------------------------------------------------
// The server side.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Listening,
    Connected,
    Disconnected,
}

#[derive(Debug)]
struct Slot {
    state: SlotState,
    conn: Option<Arc<Conn>>,
    client_pid: Option<u32>,
    /// Bumped (under the pipe lock) whenever `state` or `conn` changes, or the slot goes away;
    /// shared with the instance's [`ServerEnd`], whose data path trusts its cached connection
    /// while it is unchanged, and which sleeps on it (a futex word) while it listens, so a new
    /// client wakes exactly the thread waiting on that instance.
    epoch: Arc<SlotEpoch>,
    /// The queue the next client of this instance gets, made ahead of time by the thread that
    /// created or disconnected the instance, so neither the acceptor nor the client waits for
    /// that work during the handshake.
    queue: Option<(Conn, OwnedFd)>,
}

/// See [`Slot::epoch`].
#[derive(Debug, Default)]
struct SlotEpoch {
    /// The change counter (a futex word). Only equality is compared, so wrapping is harmless.
    value: AtomicU32,
    /// Threads sleeping on `value` in `ServerEnd::connect`; changed under the pipe lock.
    sleepers: AtomicU32,
}

impl Slot {
    fn changed(&self) {
        // SYNC POINT with the Acquire load in `ServerEnd::conn_for`; the pipe lock orders the
        // change itself, and the sleeper count, with `ServerEnd::connect`.
        self.epoch.value.fetch_add(1, Ordering::Release);
        if self.epoch.sleepers.load(Ordering::Relaxed) != 0 {
            sys::futex_wake(&self.epoch.value, u32::MAX);
        }
    }
}

#[derive(Debug)]
struct Inner {
    slots: HashMap<u64, Slot>,
    listeners: VecDeque<u64>,
    parked: Vec<OwnedFd>,
    next_id: u64,
    closed: bool,
}

/// One pipe name served by this process.
#[derive(Debug)]
struct Pipe {
    name: Name,
    addr: Vec<u8>,
    params: PipeParams,
    inner: Mutex<Inner>,
    stop: sys::EventFd,
    listener: Mutex<Option<OwnedFd>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The process that runs the acceptor thread.
    owner_pid: u32,
}

fn registry() -> &'static Mutex<HashMap<Vec<u8>, Arc<Pipe>>> {
    static R: OnceLock<Mutex<HashMap<Vec<u8>, Arc<Pipe>>>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Accepts connections on the nonblocking listener `lfd` and hands each to `handle` until
/// `stop` is signalled (the acceptor thread of a pipe or mailslot name).
pub(crate) fn accept_loop(lfd: &OwnedFd, stop: &sys::EventFd, mut handle: impl FnMut(OwnedFd)) {
    loop {
        let r = match sys::poll_fds([lfd.as_fd(), stop.fd()], None) {
            Ok(r) => r,
            Err(_) => return,
        };
        if r[1].readable {
            return;
        }
        if !r[0].readable {
            continue;
        }
        if let Ok(sock) = sys::accept(lfd.as_fd()) {
            handle(sock);
        }
    }
}

/// Stops an acceptor thread started by process `owner_pid`. In a forked child the thread does not
/// exist and the eventfd is shared with the parent, so nothing is signalled or joined there.
pub(crate) fn stop_acceptor(stop: &sys::EventFd, thread: Option<JoinHandle<()>>, owner_pid: u32) {
    if sys::getpid() != owner_pid {
        // Joining would wait forever for a thread that only the parent has.
        std::mem::forget(thread);
        return;
    }
    stop.signal();
    if let Some(t) = thread {
        if t.thread().id() != std::thread::current().id() {
            let _ = t.join();
        }
    }
}

/// Answers a handshake with a Win32 error code.
pub(crate) fn refuse(sock: &OwnedFd, code: u32) {
    let _ = sys::send_packet(sock.as_fd(), &Reply::Error(code).encode(), &[]);
}

/// Reads and checks one handshake request for the object `name`: the frame must decode, the
/// peer must run as this user or root, and the name must be this object's. Returns the request
/// and the peer's pid; a bad request is answered (or dropped) here and gives `None`.
pub(crate) fn read_request(sock: &OwnedFd, name: &Name) -> Option<(Request, u32)> {
    let _ = sys::set_recv_timeout(sock.as_fd(), HANDSHAKE_TIMEOUT);
    let mut buf = vec![0u8; control::MAX_REQ];
    let mut fds = Vec::new();
    let Ok(n) = sys::recv_packet(sock.as_fd(), &mut buf, &mut fds) else {
        refuse(sock, ERROR_INVALID_DATA);
        return None;
    };
    let Ok(req) = Request::decode(&buf[..n]) else {
        refuse(sock, ERROR_INVALID_DATA);
        return None;
    };
    let (pid, uid, _) = sys::peer_cred(sock.as_fd()).ok()?;
    let me = sys::getuid();
    if uid != me && uid != 0 {
        refuse(sock, ERROR_ACCESS_DENIED);
        return None;
    }
    match namespace::parse(&req.name, name.kind) {
        Ok(n) if n.folded == name.folded => Some((req, pid)),
        _ => {
            refuse(sock, ERROR_FILE_NOT_FOUND);
            None
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Pipe {
    fn info(&self, inner: &Inner) -> PipeInfo {
        PipeInfo {
            message_type: self.params.message_type,
            direction: self.params.direction,
            max_instances: self.params.max_instances,
            out_quota: self.params.out_quota,
            in_quota: self.params.in_quota,
            default_timeout: self.params.default_timeout,
            cur_instances: inner.slots.len() as u32,
            server_pid: sys::getpid(),
            caps: [
                ring_for(self.params.out_quota),
                ring_for(self.params.in_quota),
            ],
        }
    }

    /// Tells every parked WaitNamedPipe client that an instance listens (W30).
    fn wake_parked(&self, inner: &mut Inner) {
        let ready = Reply::Ready.encode();
        for fd in inner.parked.drain(..) {
            let _ = sys::send_packet(fd.as_fd(), &ready, &[]);
        }
    }

    fn publish_instances(inner: &Inner) {
        let n = inner.slots.len() as u32;
        for s in inner.slots.values() {
            if let Some(c) = &s.conn {
                c.set_cur_instances(n);
            }
        }
    }

    fn acceptor(self: Arc<Self>, lfd: OwnedFd) {
        accept_loop(&lfd, &self.stop, |sock| self.handle(sock));
    }

    /// A new connection queue (memfd created, sealed, mapped, header written) for this pipe's
    /// quotas; `None` when the system refuses it (the acceptor then makes one during the
    /// handshake, and if that fails too, drops the client, whose open fails).
    fn make_queue(&self) -> Option<(Conn, OwnedFd)> {
        let caps = [
            ring_for(self.params.out_quota),
            ring_for(self.params.in_quota),
        ];
        Conn::create(None, caps, 0).ok()
    }

    fn refuse(sock: &OwnedFd, code: u32) {
        refuse(sock, code);
    }

    /// One client request: a garbage or slow client is dropped and the server keeps serving.
    fn handle(&self, sock: OwnedFd) {
        let Some((req, pid)) = read_request(&sock, &self.name) else {
            return;
        };
        let mut inner = lock(&self.inner);
        if inner.closed {
            return Self::refuse(&sock, ERROR_FILE_NOT_FOUND);
        }
        match req.kind {
            ReqKind::Query => {
                let _ =
                    sys::send_packet(sock.as_fd(), &Reply::Info(self.info(&inner)).encode(), &[]);
            }
            ReqKind::Wait => {
                if !inner.listeners.is_empty() {
                    let _ = sys::send_packet(sock.as_fd(), &Reply::Ready.encode(), &[]);
                } else {
                    let parked = Reply::Parked {
                        default_timeout: self.params.default_timeout,
                    };
                    if sys::send_packet(sock.as_fd(), &parked.encode(), &[]).is_ok() {
                        inner.parked.retain(|fd| !sys::peer_hung_up(fd.as_fd()));
                        inner.parked.push(sock);
                    }
                }
            }
            ReqKind::Open => {
                let Some(&id) = inner.listeners.front() else {
                    return Self::refuse(&sock, ERROR_PIPE_BUSY);
                };
                let d = self.params.direction;
                if (req.access & READ_BITS != 0 && d & ACCESS_OUTBOUND == 0)
                    || (req.access & WRITE_BITS != 0 && d & ACCESS_INBOUND == 0)
                {
                    return Self::refuse(&sock, ERROR_ACCESS_DENIED);
                }
                let info = self.info(&inner);
                let made = inner.slots.get_mut(&id).and_then(|s| s.queue.take());
                let Some((mut conn, memfd)) = made.or_else(|| self.make_queue()) else {
                    return;
                };
                conn.set_cur_instances(info.cur_instances);
                conn.set_ctl(sock);
                let Some(ctl) = conn.ctl() else { return };
                if sys::send_packet(
                    ctl.as_fd(),
                    &Reply::Connected(info).encode(),
                    &[memfd.as_fd()],
                )
                .is_err()
                {
                    return;
                }
                inner.listeners.pop_front();
                if let Some(slot) = inner.slots.get_mut(&id) {
                    slot.state = SlotState::Connected;
                    slot.conn = Some(Arc::new(conn));
                    slot.client_pid = Some(pid);
                    slot.changed();
                }
            }
        }
    }
}

/// One server instance (the handle CreateNamedPipe returns).
#[derive(Debug)]
pub(crate) struct ServerEnd {
    pipe: Arc<Pipe>,
    id: u64,
    modes: Modes,
    fork_gen: u64,
    /// The slot's change counter (see [`Slot::epoch`]).
    epoch: Arc<SlotEpoch>,
    /// The connection as of an epoch, so a data operation takes neither the pipe lock (shared
    /// with the acceptor and every other instance) nor a map lookup.
    cached: Mutex<Option<(u32, Arc<Conn>)>>,
    /// Set by [`ServerEnd::close`].
    closed: AtomicBool,
}

fn spawn_pipe(
    name: Name,
    addr: Vec<u8>,
    params: PipeParams,
    listener: OwnedFd,
) -> io::Result<Arc<Pipe>> {
    let stop = sys::EventFd::new().map_err(|e| os_err(e, "eventfd", &name.display))?;
    let pipe = Arc::new(Pipe {
        name,
        addr,
        params,
        inner: Mutex::new(Inner {
            slots: HashMap::new(),
            listeners: VecDeque::new(),
            parked: Vec::new(),
            next_id: 1,
            closed: false,
        }),
        stop,
        listener: Mutex::new(Some(listener)),
        thread: Mutex::new(None),
        owner_pid: sys::getpid(),
    });
    let p2 = pipe.clone();
    let lfd = lock(&pipe.listener)
        .as_ref()
        .expect("listener present at creation")
        .try_clone()
        .map_err(|e| {
            err(
                ERROR_NOT_ENOUGH_MEMORY,
                format!("cannot duplicate the listener: {e}"),
            )
        })?;
    let t = std::thread::Builder::new()
        .name("npipe-acceptor".into())
        .spawn(move || p2.acceptor(lfd))
        .map_err(|e| {
            err(
                ERROR_NOT_ENOUGH_MEMORY,
                format!("cannot start the acceptor thread: {e}"),
            )
        })?;
    *lock(&pipe.thread) = Some(t);
    Ok(pipe)
}

/// Asks the process that owns `addr` about its pipe (for a create that found the name taken).
fn query_owner(name: &Name, addr: &[u8]) -> Option<PipeInfo> {
    let sock = sys::seqpacket(false).ok()?;
    sys::connect(sock.as_fd(), addr).ok()?;
    let req = Request {
        kind: ReqKind::Query,
        access: 0,
        timeout_ms: 0,
        name: name.display.clone(),
    };
    sys::send_packet(sock.as_fd(), &req.encode(), &[]).ok()?;
    sys::set_recv_timeout(sock.as_fd(), REPLY_TIMEOUT).ok()?;
    let mut buf = [0u8; control::MAX_REP];
    let mut fds = Vec::new();
    let n = sys::recv_packet(sock.as_fd(), &mut buf, &mut fds).ok()?;
    match Reply::decode(&buf[..n]).ok()? {
        Reply::Info(i) => Some(i),
        _ => None,
    }
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
        let mut attempts = 0;
        loop {
            attempts += 1;
            match Self::create_once(name, &n, &addr, cfg)? {
                Some(r) => return Ok(r),
                None if attempts < 100 => std::thread::sleep(Duration::from_millis(1)),
                None => {
                    return Err(err(
                        ERROR_ACCESS_DENIED,
                        format!("{name} is being closed by another thread"),
                    ))
                }
            }
        }
    }

    /// One attempt; `Ok(None)` when the pipe was closing under us and the caller should retry.
    fn create_once(
        name: &str,
        n: &Name,
        addr: &[u8],
        cfg: ServerConfig,
    ) -> io::Result<Option<(ServerEnd, bool)>> {
        let p = cfg.params;
        let mut reg = lock(registry());
        let (pipe, existed) = match reg.get(addr) {
            Some(pipe) => {
                if pipe.name.folded != n.folded {
                    return Err(err(
                        ERROR_ACCESS_DENIED,
                        format!("{name}: another pipe name maps to the same address"),
                    ));
                }
                (pipe.clone(), true)
            }
            None => {
                let l = sys::seqpacket(true).map_err(|e| os_err(e, "socket", name))?;
                match sys::bind_listen(l.as_fd(), addr) {
                    Ok(()) => {}
                    Err(sys::Errno::ADDRINUSE) => {
                        drop(reg);
                        if cfg.first_instance {
                            return Err(err(
                                ERROR_ACCESS_DENIED,
                                format!("{name} already exists (FILE_FLAG_FIRST_PIPE_INSTANCE)"),
                            ));
                        }
                        if let Some(i) = query_owner(n, addr) {
                            if i.max_instances != UNLIMITED && i.cur_instances >= i.max_instances {
                                return Err(err(
                                    ERROR_PIPE_BUSY,
                                    format!("all {} instances of {name} exist", i.max_instances),
                                ));
                            }
                        }
                        return Err(err(
                            ERROR_ACCESS_DENIED,
                            format!("{name} is served by another process; instances of one name must come from one process"),
                        ));
                    }
                    Err(e) => return Err(os_err(e, "bind", name)),
                }
                let pipe = spawn_pipe(n.clone(), addr.to_vec(), p, l)?;
                reg.insert(addr.to_vec(), pipe.clone());
                (pipe, false)
            }
        };
        drop(reg);
        // The first client's queue, made before the pipe lock is taken (the acceptor needs it).
        let queue = pipe.make_queue();
        let mut inner = lock(&pipe.inner);
        if inner.closed {
            return Ok(None);
        }
        if existed {
            if cfg.first_instance {
                return Err(err(
                    ERROR_ACCESS_DENIED,
                    format!("{name} already exists (FILE_FLAG_FIRST_PIPE_INSTANCE)"),
                ));
            }
            let max = pipe.params.max_instances;
            if max != UNLIMITED && inner.slots.len() as u32 >= max {
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
        let id = inner.next_id;
        inner.next_id += 1;
        let epoch = Arc::new(SlotEpoch::default());
        inner.slots.insert(
            id,
            Slot {
                state: SlotState::Listening,
                conn: None,
                client_pid: None,
                epoch: epoch.clone(),
                queue,
            },
        );
        inner.listeners.push_back(id);
        Pipe::publish_instances(&inner);
        pipe.wake_parked(&mut inner);
        drop(inner);
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

    fn name(&self) -> &str {
        &self.pipe.name.display
    }

    /// The name as given to CreateNamedPipe.
    pub(crate) fn display_name(&self) -> &str {
        self.name()
    }

    /// The pipe-wide parameters the data path needs. They are fixed at creation, so no lock.
    fn info(&self) -> PipeInfo {
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

    /// The connection for a data operation, or the state error of this instance.
    fn conn_for(&self, op: Op) -> io::Result<Arc<Conn>> {
        // Relaxed: a closed handle fails at once; a close racing with this call is seen through
        // the epoch (the slot is gone) or by the connection itself.
        if self.closed.load(Ordering::Relaxed) {
            return Err(err(
                ERROR_INVALID_HANDLE,
                format!("the handle to {} is closed", self.name()),
            ));
        }
        // SYNC POINT with `Slot::changed`: an unchanged epoch means the cached connection is
        // still this instance's. A change racing with the operation is seen by the operation
        // itself through the connection's shared state, as it would be after the lock.
        let epoch = self.epoch.value.load(Ordering::Acquire);
        if let Some((e, c)) = &*lock(&self.cached) {
            if *e == epoch {
                return Ok(c.clone());
            }
        }
        // Lock order: the pipe lock is never taken while `cached` is held.
        let inner = lock(&self.pipe.inner);
        let slot = inner
            .slots
            .get(&self.id)
            .ok_or_else(|| err(ERROR_INVALID_HANDLE, "the instance is closed"))?;
        match (slot.state, op) {
            (SlotState::Connected, _) => {
                let c = slot.conn.clone().expect("connected slot has a connection");
                // Relaxed: read under the pipe lock, which orders it with the change.
                let e = slot.epoch.value.load(Ordering::Relaxed);
                drop(inner);
                *lock(&self.cached) = Some((e, c.clone()));
                Ok(c)
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
        }
    }

    fn check_access(&self, op: Op) -> io::Result<()> {
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

    /// ConnectNamedPipe. `Ok(false)`: a client connected during the call; `Ok(true)`: one was
    /// already connected (ERROR_PIPE_CONNECTED, W33). PIPE_NOWAIT gives ERROR_PIPE_LISTENING.
    pub(crate) fn connect(&self, deadline: Option<Instant>) -> io::Result<bool> {
        let mut inner = lock(&self.pipe.inner);
        loop {
            let nowait = self.modes.nowait();
            let slot = inner
                .slots
                .get_mut(&self.id)
                .ok_or_else(|| err(ERROR_INVALID_HANDLE, "the instance is closed"))?;
            match slot.state {
                SlotState::Connected => {
                    let conn = slot.conn.clone().expect("connected slot has a connection");
                    conn.probe_hup();
                    return match conn.peer_open() {
                        Ok(true) => Ok(true),
                        _ => Err(err(
                            ERROR_NO_DATA,
                            format!(
                                "the client of {} has closed; call DisconnectNamedPipe first",
                                self.name()
                            ),
                        )),
                    };
                }
                SlotState::Disconnected => {
                    slot.state = SlotState::Listening;
                    slot.changed();
                    inner.listeners.push_back(self.id);
                    self.pipe.wake_parked(&mut inner);
                    if nowait {
                        return Err(err(
                            ERROR_PIPE_LISTENING,
                            format!("{} is listening", self.name()),
                        ));
                    }
                }
                SlotState::Listening => {
                    if nowait {
                        return Err(err(
                            ERROR_PIPE_LISTENING,
                            format!("{} is listening", self.name()),
                        ));
                    }
                }
            }
            // Wait for the acceptor to hand this instance a client: sleep on the slot's epoch,
            // read under the pipe lock, so a change made after the lock is released makes the
            // futex wait return at once.
            loop {
                let st = inner.slots.get(&self.id).map(|s| s.state);
                if st != Some(SlotState::Listening) {
                    break;
                }
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
                // Relaxed: read and counted under the pipe lock, which orders both with
                // `Slot::changed`.
                let e = self.epoch.value.load(Ordering::Relaxed);
                self.epoch.sleepers.fetch_add(1, Ordering::Relaxed);
                drop(inner);
                let _ = sys::futex_wait(&self.epoch.value, e, timeout);
                inner = lock(&self.pipe.inner);
                self.epoch.sleepers.fetch_sub(1, Ordering::Relaxed);
            }
            match inner.slots.get(&self.id).map(|s| s.state) {
                Some(SlotState::Connected) => return Ok(false),
                None => {
                    return Err(err(
                        ERROR_OPERATION_ABORTED,
                        format!(
                            "the handle to {} was closed while it waited for a client",
                            self.name()
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
    }

    /// DisconnectNamedPipe (W44-W45, W132).
    pub(crate) fn disconnect(&self) -> io::Result<()> {
        let mut inner = lock(&self.pipe.inner);
        let slot = inner
            .slots
            .get_mut(&self.id)
            .ok_or_else(|| err(ERROR_INVALID_HANDLE, "the instance is closed"))?;
        let r = match slot.state {
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
                Ok(())
            }
        };
        let needs_queue = r.is_ok() && slot.queue.is_none();
        drop(inner);
        if needs_queue {
            // The next client's queue, made here rather than in its handshake.
            if let Some(q) = self.pipe.make_queue() {
                if let Some(slot) = lock(&self.pipe.inner).slots.get_mut(&self.id) {
                    slot.queue.get_or_insert(q);
                }
            }
        }
        // The link is gone: drop the cached connection too, so its socket closes now (the
        // client sees the hang-up) rather than at this instance's next operation.
        *lock(&self.cached) = None;
        r
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
        read_ready_fd(&c, self.name())
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
        let c = {
            let inner = lock(&self.pipe.inner);
            match inner.slots.get(&self.id) {
                None => return Err(err(ERROR_INVALID_HANDLE, "the instance is closed")),
                // Listening or disconnected: nothing to flush (W95).
                Some(slot) => match &slot.conn {
                    None => return Ok(()),
                    Some(c) => c.clone(),
                },
            }
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
        let n = lock(&self.pipe.inner).slots.len() as u32;
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

    /// GetNamedPipeClientProcessId (W131-W132).
    pub(crate) fn client_pid(&self) -> io::Result<u32> {
        let inner = lock(&self.pipe.inner);
        inner
            .slots
            .get(&self.id)
            .and_then(|s| s.client_pid)
            .ok_or_else(|| {
                err(
                    ERROR_NOT_FOUND,
                    format!("no client is connected to {}", self.name()),
                )
            })
    }

    /// Unread bytes waiting for this server, if connected.
    pub(crate) fn pipe_type_message(&self) -> bool {
        self.pipe.params.message_type
    }

    /// The pipe's direction bits.
    pub(crate) fn direction(&self) -> u8 {
        self.pipe.params.direction
    }
}

impl Drop for ServerEnd {
    fn drop(&mut self) {
        self.close();
    }
}

impl ServerEnd {
    /// CloseHandle: the instance goes away now, even while other threads are inside an
    /// operation on it. A ConnectNamedPipe or a data operation in flight returns
    /// ERROR_OPERATION_ABORTED, later calls ERROR_INVALID_HANDLE; the client sees the close
    /// (W113-W115). The last instance takes the name with it (W9). Idempotent.
    pub(crate) fn close(&self) {
        // Relaxed: the pipe lock below orders the close with every slot access.
        if self.closed.swap(true, Ordering::Relaxed) {
            return;
        }
        let forked = fork_generation() != self.fork_gen;
        let mut inner = lock(&self.pipe.inner);
        if let Some(slot) = inner.slots.remove(&self.id) {
            slot.changed();
            if let Some(c) = slot.conn {
                c.set_cur_instances(inner.slots.len() as u32);
                c.close_here(!forked);
            }
        }
        inner.listeners.retain(|&i| i != self.id);
        Pipe::publish_instances(&inner);
        if !inner.slots.is_empty() {
            drop(inner);
            *lock(&self.cached) = None;
            return;
        }
        inner.closed = true;
        inner.parked.clear();
        drop(inner);
        *lock(&self.cached) = None;
        // The last instance is gone: the name disappears (W9).
        let mut reg = lock(registry());
        if reg
            .get(&self.pipe.addr)
            .is_some_and(|p| Arc::ptr_eq(p, &self.pipe))
        {
            reg.remove(&self.pipe.addr);
        }
        stop_acceptor(
            &self.pipe.stop,
            lock(&self.pipe.thread).take(),
            self.pipe.owner_pid,
        );
        lock(&self.pipe.listener).take();
        drop(reg);
    }
}

// ---------------------------------------------------------------------------------------------
// The client side.

/// A client end (the handle CreateFile returns for a pipe name).
#[derive(Debug)]
pub(crate) struct ClientEnd {
    conn: Arc<Conn>,
    info: PipeInfo,
    access: u32,
    modes: Modes,
    fork_gen: u64,
    name: String,
    /// Set by [`ClientEnd::close`].
    closed: AtomicBool,
}

/// The readiness descriptor of a connection end, duplicated for the caller: readable when a
/// read may find data (or the end of the link); a nonblocking read that finds nothing clears it.
/// It belongs to this connection: after the server disconnects, ask again for the next one.
fn read_ready_fd(c: &Conn, name: &str) -> io::Result<OwnedFd> {
    let Some(fd) = c.read_readiness() else {
        return Err(err(
            ERROR_NOT_SUPPORTED,
            format!("{name} has no link to watch for readiness"),
        ));
    };
    fd.and_then(|fd| fd.try_clone_to_owned()).map_err(|e| {
        let errno = sys::Errno::from_io_error(&e).unwrap_or(sys::Errno::INVAL);
        os_err(errno, "readiness descriptor", name)
    })
}

fn connect_to(n: &Name, display: &str) -> io::Result<OwnedFd> {
    let sock = sys::seqpacket(false).map_err(|e| os_err(e, "socket", display))?;
    match sys::connect(sock.as_fd(), &n.address()) {
        Ok(()) => {}
        Err(sys::Errno::CONNREFUSED) | Err(sys::Errno::NOENT) => {
            return Err(err(
                ERROR_FILE_NOT_FOUND,
                format!("no {} named {display}", n.kind.noun()),
            ))
        }
        Err(sys::Errno::AGAIN) => {
            return Err(err(
                ERROR_PIPE_BUSY,
                format!("{display} is too busy to accept connections"),
            ))
        }
        Err(e) => return Err(os_err(e, "connect", display)),
    }
    // Only talk to a server of our own user or root: no impostor can serve our names.
    let (_, uid, _) =
        sys::peer_cred(sock.as_fd()).map_err(|e| os_err(e, "SO_PEERCRED", display))?;
    let me = sys::getuid();
    if uid != me && uid != 0 && me != 0 {
        return Err(err(
            ERROR_ACCESS_DENIED,
            format!("{display} is served by another user (uid {uid})"),
        ));
    }
    Ok(sock)
}

/// Connects to `n` and sends an OPEN request: the socket, the server's reply (`None` if it
/// closed without one) and the descriptors that came with it.
pub(crate) fn request_open(
    n: &Name,
    name: &str,
    access: u32,
) -> io::Result<(OwnedFd, Option<Reply>, Vec<OwnedFd>)> {
    let sock = connect_to(n, name)?;
    let mut fds = Vec::new();
    let reply = exchange(&sock, ReqKind::Open, access, name, &mut fds)?;
    Ok((sock, reply, fds))
}

/// Sends one request on a connected control socket and receives the server's reply (`None` if
/// it closed without one), with the descriptors that came with it.
fn exchange(
    sock: &OwnedFd,
    kind: ReqKind,
    access: u32,
    name: &str,
    fds: &mut Vec<OwnedFd>,
) -> io::Result<Option<Reply>> {
    let req = Request {
        kind,
        access,
        timeout_ms: 0,
        name: name.to_owned(),
    };
    sys::send_packet(sock.as_fd(), &req.encode(), &[]).map_err(|e| os_err(e, "send", name))?;
    sys::set_recv_timeout(sock.as_fd(), REPLY_TIMEOUT)
        .map_err(|e| os_err(e, "setsockopt", name))?;
    recv_reply(sock, name, fds)
}

fn recv_reply(sock: &OwnedFd, display: &str, fds: &mut Vec<OwnedFd>) -> io::Result<Option<Reply>> {
    let mut buf = [0u8; control::MAX_REP];
    let n = match sys::recv_packet(sock.as_fd(), &mut buf, fds) {
        Ok(0) => return Ok(None),
        Ok(n) => n,
        Err(sys::Errno::AGAIN) => {
            return Err(err(
                ERROR_SEM_TIMEOUT,
                format!("the server of {display} did not answer"),
            ))
        }
        Err(e) => return Err(os_err(e, "recv", display)),
    };
    Reply::decode(&buf[..n]).map(Some).map_err(|b| {
        Error::io_kind(
            io::ErrorKind::InvalidData,
            ERROR_BAD_PIPE,
            format!("the server of {display} sent a bad handshake: {}", b.0),
        )
    })
}

fn parse_client_name(name: &str) -> io::Result<Name> {
    namespace::parse(name, Kind::Pipe).map_err(|c| {
        let c = if c == ERROR_INVALID_NAME {
            ERROR_FILE_NOT_FOUND
        } else {
            c
        };
        err(
            c,
            format!("{name:?} is not a valid pipe name (\\\\.\\pipe\\NAME)"),
        )
    })
}

impl ClientEnd {
    /// CreateFile on a pipe name (W7, W22, W32, W57).
    pub(crate) fn open(name: &str, access: u32) -> io::Result<ClientEnd> {
        let n = parse_client_name(name)?;
        let (sock, reply, mut fds) = request_open(&n, name, access)?;
        match reply {
            Some(Reply::Connected(info)) => {
                let memfd = fds.pop().ok_or_else(|| {
                    Error::io_kind(
                        io::ErrorKind::InvalidData,
                        ERROR_BAD_PIPE,
                        format!("the server of {name} sent no queue"),
                    )
                })?;
                let conn = Conn::attach(Some(sock), memfd, info.caps)
                    .map_err(|e| map_q(e, Op::Read, Side::Client, name))?;
                Ok(ClientEnd {
                    conn: Arc::new(conn),
                    info,
                    access,
                    modes: Modes::new(false, false),
                    fork_gen: fork_generation(),
                    name: name.to_owned(),
                    closed: AtomicBool::new(false),
                })
            }
            Some(Reply::Error(ERROR_PIPE_BUSY)) => Err(err(
                ERROR_PIPE_BUSY,
                format!("all instances of {name} are busy"),
            )),
            Some(Reply::Error(ERROR_ACCESS_DENIED)) => Err(err(
                ERROR_ACCESS_DENIED,
                format!("the direction of {name} does not allow the requested access"),
            )),
            Some(Reply::Error(c)) => Err(err(
                c,
                format!("the server of {name} refused the connection"),
            )),
            None => Err(err(
                ERROR_FILE_NOT_FOUND,
                format!("{name} closed while connecting"),
            )),
            Some(_) => Err(Error::io_kind(
                io::ErrorKind::InvalidData,
                ERROR_BAD_PIPE,
                format!("unexpected handshake reply from {name}"),
            )),
        }
    }

    fn name(&self) -> &str {
        &self.name
    }

    /// CloseHandle: the end closes now, even while other threads are inside an operation on it
    /// (they return ERROR_OPERATION_ABORTED; later calls get ERROR_INVALID_HANDLE), and the
    /// server sees the close (W113-W115). Idempotent.
    pub(crate) fn close(&self) {
        // Relaxed: the connection's own close flag orders what operations see.
        if !self.closed.swap(true, Ordering::Relaxed) {
            self.conn.close_here(fork_generation() == self.fork_gen);
        }
    }

    /// Fails with ERROR_INVALID_HANDLE once [`ClientEnd::close`] ran.
    fn open_conn(&self) -> io::Result<&Arc<Conn>> {
        // Relaxed: see `close`.
        if self.closed.load(Ordering::Relaxed) {
            return Err(err(
                ERROR_INVALID_HANDLE,
                format!("the handle to {} is closed", self.name()),
            ));
        }
        Ok(&self.conn)
    }

    /// The name the client opened.
    pub(crate) fn display_name(&self) -> &str {
        &self.name
    }

    fn live(&self) -> io::Result<&Conn> {
        match self.open_conn()?.peer_open() {
            Err(QErr::Disconnected) => Err(err(
                ERROR_PIPE_NOT_CONNECTED,
                format!("{} was disconnected by the server", self.name()),
            )),
            _ => Ok(&**self.open_conn()?),
        }
    }

    fn check_access(&self, write: bool) -> io::Result<()> {
        let bits = if write { WRITE_BITS } else { READ_BITS };
        if self.access & bits == 0 {
            return Err(err(
                ERROR_ACCESS_DENIED,
                format!(
                    "this client of {} was opened without {} access",
                    self.name(),
                    if write { "write" } else { "read" }
                ),
            ));
        }
        Ok(())
    }

    /// ReadFile.
    pub(crate) fn read(&self, buf: &mut [u8], deadline: Option<Instant>) -> io::Result<ReadResult> {
        self.check_access(false)?;
        conn_read(self.open_conn()?, &self.modes, buf, deadline, self.name())
    }

    /// A descriptor that polls readable when data may be waiting or the server end has gone
    /// (see [`read_ready_fd`]).
    pub(crate) fn read_ready_fd(&self) -> io::Result<OwnedFd> {
        self.check_access(false)?;
        read_ready_fd(self.open_conn()?, self.name())
    }

    /// WriteFile.
    pub(crate) fn write(&self, data: &[u8], deadline: Option<Instant>) -> io::Result<usize> {
        self.check_access(true)?;
        conn_write(
            self.open_conn()?,
            &self.modes,
            &self.info,
            data,
            deadline,
            self.name(),
        )
    }

    /// Zero-copy write: reserves one whole message.
    pub(crate) fn reserve(&self, len: usize) -> io::Result<Reserved> {
        self.check_access(true)?;
        conn_reserve(self.open_conn()?, len, self.name())
    }

    /// Publishes a reserved message.
    pub(crate) fn commit(&self, r: Reserved) -> io::Result<usize> {
        r.commit(write_opts(self.open_conn()?, &self.modes, &self.info), None)
            .map_err(|e| map_q(e, Op::Write, Side::Client, self.name()))
    }

    /// Zero-copy read of the next whole message.
    pub(crate) fn read_in_place(&self) -> io::Result<InPlace> {
        self.check_access(false)?;
        conn_read_in_place(self.open_conn()?, self.name())
    }

    /// PeekNamedPipe.
    pub(crate) fn peek(&self, buf: Option<&mut [u8]>) -> io::Result<Peeked> {
        conn_peek(self.open_conn()?, &self.info, buf, self.name())
    }

    /// FlushFileBuffers.
    pub(crate) fn flush(&self, deadline: Option<Instant>) -> io::Result<()> {
        self.open_conn()?
            .flush(deadline)
            .map_err(|e| map_q(e, Op::Flush, Side::Client, self.name()))
    }

    /// TransactNamedPipe.
    pub(crate) fn transact(
        &self,
        data: &[u8],
        buf: &mut [u8],
        deadline: Option<Instant>,
    ) -> io::Result<ReadResult> {
        self.check_access(false)?;
        self.check_access(true)?;
        conn_transact(
            self.open_conn()?,
            &self.modes,
            &self.info,
            data,
            buf,
            deadline,
            self.name(),
        )
    }

    /// GetNamedPipeHandleState: (state bits, current instances).
    pub(crate) fn handle_state(&self) -> io::Result<(u32, u32)> {
        let c = self.live()?;
        Ok((self.modes.state_bits(), c.cur_instances()))
    }

    /// SetNamedPipeHandleState.
    pub(crate) fn set_mode(&self, mode: u32) -> io::Result<()> {
        self.live()?;
        self.modes.set(mode, self.info.message_type)
    }

    /// GetNamedPipeInfo: (message type, out quota, in quota, max instances).
    pub(crate) fn pipe_info(&self) -> io::Result<(bool, u32, u32, u32)> {
        self.live()?;
        let i = self.info;
        Ok((i.message_type, i.out_quota, i.in_quota, i.max_instances))
    }

    /// GetNamedPipeServerProcessId.
    pub(crate) fn server_pid(&self) -> io::Result<u32> {
        self.live()?;
        Ok(self.info.server_pid)
    }

    /// GetNamedPipeClientProcessId (this process).
    pub(crate) fn client_pid(&self) -> io::Result<u32> {
        self.live()?;
        Ok(sys::getpid())
    }

    /// Whether the pipe is message type.
    pub(crate) fn pipe_type_message(&self) -> bool {
        self.info.message_type
    }

    /// The control socket of the connection.
    pub(crate) fn ctl_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        // `open` always attaches a pipe client's connection with its control socket; only
        // mailslot connections have none.
        self.conn
            .ctl()
            .expect("a pipe client connection has a control socket")
            .as_fd()
    }
}

impl Drop for ClientEnd {
    fn drop(&mut self) {
        self.close();
    }
}

/// WaitNamedPipe (W8, W29-W30, W35): parks in the server's queue until an instance listens.
pub(crate) fn wait_named_pipe(name: &str, timeout: WaitTimeout) -> io::Result<()> {
    let n = namespace::parse(name, Kind::Pipe).map_err(|_| {
        err(
            ERROR_FILE_NOT_FOUND,
            format!("{name:?} is not a valid pipe name"),
        )
    })?;
    let start = Instant::now();
    let mut deadline: Option<Option<Instant>> = match timeout {
        WaitTimeout::Forever => Some(None),
        WaitTimeout::Ms(ms) => Some(Some(start + Duration::from_millis(ms as u64))),
        WaitTimeout::Default => None,
    };
    let mut first = true;
    loop {
        let sock = match connect_to(&n, name) {
            Ok(s) => s,
            Err(e) if first => return Err(e),
            Err(_) => {
                // The pipe went away while we waited; it may come back before the deadline.
                if let Some(Some(d)) = deadline {
                    if Instant::now() >= d {
                        return Err(err(
                            ERROR_SEM_TIMEOUT,
                            format!("no instance of {name} became free"),
                        ));
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        first = false;
        let mut fds = Vec::new();
        match exchange(&sock, ReqKind::Wait, 0, name, &mut fds)? {
            Some(Reply::Ready) => return Ok(()),
            Some(Reply::Parked { default_timeout }) => {
                let d = *deadline.get_or_insert_with(|| {
                    let ms = if default_timeout == 0 {
                        50
                    } else {
                        default_timeout
                    };
                    Some(start + Duration::from_millis(ms as u64))
                });
                let remaining = d.map(|d| d.saturating_duration_since(Instant::now()));
                if remaining == Some(Duration::ZERO) {
                    return Err(err(
                        ERROR_SEM_TIMEOUT,
                        format!("no instance of {name} became free"),
                    ));
                }
                let r = sys::poll_fds([sock.as_fd()], remaining)
                    .map_err(|e| os_err(e, "poll", name))?;
                if r[0].readable {
                    if let Ok(Some(Reply::Ready)) = recv_reply(&sock, name, &mut fds) {
                        return Ok(());
                    }
                    // The server closed the pipe: loop and reconnect until the deadline.
                    continue;
                }
                return Err(err(
                    ERROR_SEM_TIMEOUT,
                    format!("no instance of {name} became free"),
                ));
            }
            Some(Reply::Error(c)) => {
                return Err(err(c, format!("the server of {name} refused the wait")))
            }
            None => continue,
            Some(_) => {
                return Err(Error::io_kind(
                    io::ErrorKind::InvalidData,
                    ERROR_BAD_PIPE,
                    format!("unexpected handshake reply from {name}"),
                ))
            }
        }
    }
}

/// CallNamedPipe (W130): open (waiting once if busy), message read mode, transact, close.
pub(crate) fn call_named_pipe(
    name: &str,
    data: &[u8],
    buf: &mut [u8],
    timeout: WaitTimeout,
) -> io::Result<ReadResult> {
    let access = 0x8000_0000 | 0x4000_0000;
    let client = match ClientEnd::open(name, access) {
        Ok(c) => c,
        Err(_) => {
            wait_named_pipe(name, timeout)?;
            ClientEnd::open(name, access)?
        }
    };
    client.set_mode(2)?;
    client.transact(data, buf, None)
}

/// The abstract socket address (without the leading NUL) that serves `name`.
pub(crate) fn socket_address(name: &str) -> io::Result<Vec<u8>> {
    namespace::parse(name, Kind::Pipe)
        .or_else(|_| namespace::parse(name, Kind::Mailslot))
        .map(|n| n.address())
        .map_err(|c| err(c, format!("{name:?} is not a valid pipe or mailslot name")))
}
