//! Mailslots: one reader (the server) per name, any number of writers, whole datagrams in FIFO
//! order across writers.
//!
//! Contract (W-numbers from docs/WINDOWS-BEHAVIOUR.md):
//! - `\\.\mailslot\[path\]NAME`, case-insensitive; one server per name, a second create fails
//!   with ERROR_ALREADY_EXISTS; the name disappears when the server handle closes (W141, W144,
//!   W152);
//! - a write is one whole message and never waits: it is queued at once or fails (a message
//!   larger than the maximum size: ERROR_INVALID_PARAMETER; a full queue: ERROR_NOT_ENOUGH_QUOTA),
//!   nothing is ever dropped silently (W151);
//! - a read returns exactly one whole message, FIFO across writers, zero-length messages
//!   included; a buffer smaller than the next message fails with ERROR_INSUFFICIENT_BUFFER and
//!   consumes nothing; an empty mailslot fails with ERROR_SEM_TIMEOUT once the read timeout
//!   passes (W145, W146, W149-W151);
//! - GetMailslotInfo gives the maximum size, the exact size of the next message (or
//!   MAILSLOT_NO_MESSAGE) and the number of queued messages (W142, W143, W150).
//!
//! Data path:
//! - The server binds the abstract address of the name (the bind itself is the "one server per
//!   name" rule), creates one SOCK_SEQPACKET socketpair `(rx, tx)` and one sealed memfd whose
//!   ring 1 is the store of unread messages (its capacity is the memory cap). A writer opens
//!   through the handshake on the address and receives a duplicate of `tx`, nothing else: no
//!   writer maps server memory, and writers share no lock.
//! - A write is one record sent on `tx` without waiting: `[TAG_INLINE] message` for messages of
//!   up to [`INLINE_MAX`] bytes, else `[TAG_MEMFD] 0 x7 | length u64` carrying a memfd that holds
//!   the message, sealed against every change. All writers send on one socket description, so
//!   records from every writer wait in `rx`'s one receive queue in the order they were sent.
//!   A full socket buffer fails the write with ERROR_NOT_ENOUGH_QUOTA.
//! - Only server-side code writes the store: [`Shared::drain`] moves records from `rx` into
//!   ring 1 under the ring's writer lock, which makes "take a record, publish it" one step for
//!   every thread and process that drains. It runs in the acceptor thread when `rx` becomes
//!   readable, at the start of every read and GetMailslotInfo (so a message whose send has
//!   returned is visible to them at once, W150), and after every read (which made room).
//!   While the store is full, records stay in the socket, oldest first.
//! - A record of any other shape (a hostile or broken writer) is dropped with its descriptors;
//!   it cannot disturb the records around it.

use std::io;
use std::os::fd::BorrowedFd;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::acceptor::{refuse, Acceptor, Listener, Service};
use super::fork_generation;
use super::namespace::{self, Kind, Name};
use super::pipe::{err, map_q, os_err, request_open, Op, Opened, Trust};
use crate::error::{code::*, Error};
use crate::semantics::security::{self, Policy};
use crate::sys::{self, dgram, PeerCred};
use crate::transport::control::{Area, Described, Object, PipeInfo, Reply, ReqKind, Request};
use crate::transport::queue::{self, Conn, QErr, Side};

/// MAILSLOT_WAIT_FOREVER / MAILSLOT_NO_MESSAGE.
pub(crate) const FOREVER: u32 = u32::MAX;
/// Default capacity of a mailslot's store: the bytes its unread messages may occupy, each
/// message taking its length rounded up to 8 plus an 8-byte header.
pub(crate) const DEFAULT_CAPACITY: u64 = 1 << 20;
/// Largest message a writer sends inside its record; larger ones travel as a sealed memfd.
pub(crate) const INLINE_MAX: usize = 64 * 1024;
/// Record tag: the message follows the tag.
const TAG_INLINE: u8 = 1;
/// Record tag: the message is in the one sealed memfd attached to the record.
const TAG_MEMFD: u8 = 2;
/// Length of a memfd record: tag u8 | seven zero bytes | message length u64 (little-endian).
const MEMFD_RECORD: usize = 16;
/// Bytes a message takes in the store beyond its payload (the ring's record header).
const STORE_RECORD_HEADER: u64 = 8;
/// Bytes a message may need in the store beyond its payload and header: a record header
/// starts 8-byte aligned, so up to 7 bytes of padding after the record before it.
const STORE_RECORD_PAD: u64 = 7;
/// In a process that does not run the acceptor thread (a forked child sharing the server
/// handle), a waiting read drains the socket itself at least this often.
const DRAIN_SLICE: Duration = Duration::from_millis(50);

/// Parameters of a new mailslot.
#[derive(Debug, Clone)]
pub(crate) struct MailslotConfig {
    /// Who may write to it (`None`: the owning user and root).
    pub policy: Option<Arc<Policy>>,
    /// nMaxMessageSize; 0 means any size.
    pub max_message: u32,
    /// lReadTimeout in milliseconds; [`FOREVER`] waits forever.
    pub read_timeout: u32,
    /// Store capacity in bytes (rounded up to a power of two, at least one maximum message).
    pub capacity: u64,
}

/// State shared by the server handle and its acceptor thread.
#[derive(Debug)]
struct Shared {
    /// The store as its reader sees it (ring 1 is read).
    conn: Conn,
    /// The same memory as its writer sees it: only [`Shared::drain`] appends through this.
    store: Conn,
    /// The receiving end of the writers' socket.
    rx: OwnedFd,
    /// The sending end; each writer gets a duplicate.
    tx: OwnedFd,
    name: Name,
    caps: [u64; 2],
    max_message: u32,
    /// The process that runs the acceptor thread.
    owner_pid: u32,
    /// Who may write (see `semantics::security`).
    policy: Arc<Policy>,
    /// The uid that created the mailslot (the policy's owner).
    owner_uid: u32,
    /// The readiness signal of reads in steps, made on first need and attached to `store`,
    /// whose appends (the drains) signal it when a read armed the store.
    signal: std::sync::OnceLock<Arc<sys::EventFd>>,
}

/// The server (reader) end of a mailslot: the handle CreateMailslot returns.
#[derive(Debug)]
pub(crate) struct MailslotServer {
    shared: Arc<Shared>,
    read_timeout: AtomicU32,
    acceptor: Acceptor,
    fork_gen: u64,
}

fn queue_caps(cfg: &MailslotConfig) -> io::Result<[u64; 2]> {
    let need = if cfg.max_message == 0 || cfg.max_message == u32::MAX {
        0
    } else {
        cfg.max_message as u64 + STORE_RECORD_HEADER + STORE_RECORD_PAD
    };
    let want = cfg.capacity.max(need).max(queue::MIN_RING);
    if want > queue::MAX_RING {
        return Err(err(
            ERROR_INVALID_PARAMETER,
            format!(
                "a mailslot queue of {want} bytes is larger than the {} byte limit",
                queue::MAX_RING
            ),
        ));
    }
    Ok([queue::MIN_RING, want.next_power_of_two()])
}

/// The largest message a store of capacity `cap` holds whatever the messages before it left
/// (their padding), within the maximum size `max` (0: any). A message of `cap - 8` bytes fits
/// only a store whose last record ended 8-byte aligned: accepting it otherwise would leave it
/// queued for ever, and every message after it behind it.
fn message_limit(max: u32, cap: u64) -> u64 {
    let store = cap.saturating_sub(STORE_RECORD_HEADER + STORE_RECORD_PAD);
    if max == 0 {
        store
    } else {
        store.min(max as u64)
    }
}

/// What a record in the writers' socket is, judged from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A message of this many bytes after the tag.
    Inline(u64),
    /// A message of this many bytes in the attached memfd.
    Memfd(u64),
    /// Anything else: dropped.
    Bad,
}

fn shape(head: &[u8], seen: dgram::RecordHead, limit: u64) -> Shape {
    let s = match head.first() {
        Some(&TAG_INLINE) if !seen.has_fds && seen.len - 1 <= INLINE_MAX => {
            Shape::Inline(seen.len as u64 - 1)
        }
        Some(&TAG_MEMFD)
            if seen.has_fds
                && seen.len == MEMFD_RECORD
                && head.len() == MEMFD_RECORD
                && head[1..8].iter().all(|&b| b == 0) =>
        {
            let len = u64::from_le_bytes(head[8..16].try_into().expect("8 bytes"));
            if len == 0 {
                return Shape::Bad;
            }
            Shape::Memfd(len)
        }
        _ => return Shape::Bad,
    };
    match s {
        Shape::Inline(n) | Shape::Memfd(n) if n > limit => Shape::Bad,
        s => s,
    }
}

impl MailslotServer {
    /// CreateMailslot (W141-W144).
    pub(crate) fn create(name: &str, cfg: MailslotConfig) -> io::Result<MailslotServer> {
        super::install_fork_handlers();
        let n = namespace::parse(name, Kind::Mailslot)
            .ok()
            .filter(|n| !n.broadcast)
            .ok_or_else(|| {
                err(
                    ERROR_INVALID_NAME,
                    format!("{name:?} is not a valid mailslot name (\\\\.\\mailslot\\NAME)"),
                )
            })?;
        let caps = queue_caps(&cfg)?;
        let listener = match Listener::bind(&n.address()) {
            Ok(l) => l,
            Err((sys::Errno::ADDRINUSE, _)) => {
                return Err(err(
                    ERROR_ALREADY_EXISTS,
                    format!("the mailslot {name} already exists"),
                ))
            }
            Err((e, call)) => return Err(os_err(e, call, name)),
        };
        let (conn, memfd) =
            Conn::create(None, caps, caps, 0).map_err(|e| os_err(e, "memfd", name))?;
        conn.set_param(cfg.max_message);
        let store = Conn::attach(None, memfd, caps).map_err(|e| {
            err(
                ERROR_NOT_ENOUGH_MEMORY,
                format!("cannot map the store of the mailslot {name}: {e:?}"),
            )
        })?;
        let (rx, tx) = dgram::record_pair().map_err(|e| os_err(e, "socketpair", name))?;
        dgram::raise_buffers(rx.as_fd(), tx.as_fd())
            .map_err(|e| os_err(e, "setsockopt(SO_SNDBUF)", name))?;
        let shared = Arc::new(Shared {
            conn,
            store,
            rx,
            tx,
            name: n.clone(),
            caps,
            max_message: cfg.max_message,
            owner_pid: sys::getpid(),
            policy: cfg
                .policy
                .clone()
                .unwrap_or_else(|| Arc::new(Policy::owner_and_root())),
            owner_uid: sys::geteuid(),
            signal: std::sync::OnceLock::new(),
        });
        // The acceptor answers writers' handshakes and, each time records arrive on `rx`
        // (edge-triggered: records left behind while the store is full do not keep it busy),
        // drains them into the store.
        let acceptor = Acceptor::spawn(
            "npipe-mailslot",
            n,
            listener,
            shared.clone() as Arc<dyn Service>,
        )?;
        Ok(MailslotServer {
            shared,
            read_timeout: AtomicU32::new(cfg.read_timeout),
            acceptor,
            fork_gen: fork_generation(),
        })
    }

    /// The name as given at creation.
    pub(crate) fn display_name(&self) -> &str {
        &self.shared.name.display
    }

    fn deadline(&self) -> Option<Instant> {
        match self.read_timeout() {
            FOREVER => None,
            ms => Some(Instant::now() + Duration::from_millis(ms as u64)),
        }
    }

    /// ReadFile on the mailslot: one whole message (W145, W146, W149-W151).
    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let name = self.display_name();
        let deadline = self.deadline();
        // The acceptor thread drains new records and wakes sleeping readers; a process without
        // it (a forked child) sleeps in slices and drains between them.
        let acceptor_here = sys::getpid() == self.shared.owner_pid;
        loop {
            self.shared.drain();
            let until = match deadline {
                _ if acceptor_here => deadline,
                Some(d) => Some(d.min(Instant::now() + DRAIN_SLICE)),
                None => Some(Instant::now() + DRAIN_SLICE),
            };
            match self.shared.conn.read_whole(buf, until) {
                Ok(n) => {
                    // The read made room: move records that waited for it into the store, so
                    // another reader asleep on an empty store is not left waiting for them.
                    self.shared.drain();
                    return Ok(n);
                }
                Err(QErr::TimedOut) if until != deadline => continue,
                Err(QErr::TimedOut) => {
                    return Err(err(
                        ERROR_SEM_TIMEOUT,
                        format!("no message arrived in {name} within the read timeout"),
                    ))
                }
                Err(e) => return Err(map_q(e, Op::Read, Side::Server, name)),
            }
        }
    }

    /// The readiness signal of [`read_step`](Self::read_step): an eventfd that polls readable
    /// when a message may have arrived since a step came back pending. Signalled by the drains
    /// of the creating process's acceptor thread (a forked child's copy gets no signals).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))] // used by npipe::tokio
    pub(crate) fn signal(&self) -> io::Result<Arc<sys::EventFd>> {
        let sh = &self.shared;
        if let Some(s) = sh.signal.get() {
            return Ok(s.clone());
        }
        let made = sys::EventFd::new().map_err(|e| os_err(e, "eventfd", self.display_name()))?;
        let sig = sh.signal.get_or_init(|| Arc::new(made)).clone();
        // The store's writer signals its own descriptor (it has no control socket).
        sh.store.attach_signal(&sig);
        sh.conn.attach_signal(&sig);
        Ok(sig)
    }

    /// ReadFile on the mailslot in one step that never sleeps: a whole message, or `Pending`
    /// with the store armed (see [`signal`](Self::signal)); `contended` as in
    /// `Conn::read_whole_step`. The handle's read timeout does not apply.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))] // used by npipe::tokio
    pub(crate) fn read_step(
        &self,
        buf: &mut [u8],
        contended: &mut bool,
    ) -> std::task::Poll<io::Result<usize>> {
        self.shared.drain();
        match self.shared.conn.read_whole_step(buf, contended) {
            std::task::Poll::Ready(Ok(n)) => {
                // As in `read`: move in what waited for the room this read made.
                self.shared.drain();
                std::task::Poll::Ready(Ok(n))
            }
            std::task::Poll::Ready(Err(e)) => {
                std::task::Poll::Ready(Err(map_q(e, Op::Read, Side::Server, self.display_name())))
            }
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }

    /// GetMailslotInfo: (max message size, next size or None, message count, read timeout).
    pub(crate) fn info(&self) -> io::Result<(u32, Option<u32>, u32, u32)> {
        self.shared.drain();
        let (next, count) = self
            .shared
            .conn
            .next_message()
            .map_err(|e| map_q(e, Op::Peek, Side::Server, self.display_name()))?;
        Ok((
            self.shared.conn.param(),
            next.map(|n| n as u32),
            count.min(u32::MAX as u64) as u32,
            self.read_timeout(),
        ))
    }

    /// The read timeout in milliseconds ([`FOREVER`] waits forever).
    pub(crate) fn read_timeout(&self) -> u32 {
        // Relaxed: a plain setting.
        self.read_timeout.load(Ordering::Relaxed)
    }

    /// SetMailslotInfo (W152).
    pub(crate) fn set_read_timeout(&self, ms: u32) {
        // Relaxed: a plain setting.
        self.read_timeout.store(ms, Ordering::Relaxed);
    }

    /// Bytes the store can hold (the memory cap).
    pub(crate) fn capacity(&self) -> u64 {
        self.shared.caps[1]
    }
}

impl Service for Shared {
    /// One writer's handshake: send it the sending end of the socket, nothing else.
    fn policy(&self) -> Option<(&Policy, u32)> {
        Some((&self.policy, self.owner_uid))
    }

    fn request(&self, sock: OwnedFd, req: Request, peer: PeerCred) {
        if req.kind != ReqKind::Open {
            return refuse(&sock, ERROR_INVALID_FUNCTION);
        }
        // A writer needs the right to write data, whatever access it opened with (W148).
        if !security::check(
            &self.policy,
            self.owner_uid,
            sock.as_fd(),
            &peer,
            Some(security::FILE_WRITE_DATA),
        ) {
            return refuse(&sock, ERROR_ACCESS_DENIED);
        }
        // Described as what a mailslot is: inbound messages, one reader. `out_quota` carries
        // nMaxMessageSize and `caps[1]` the store's capacity, which bound what a writer sends.
        let info = PipeInfo {
            message_type: true,
            direction: super::pipe::ACCESS_INBOUND,
            max_instances: 1,
            out_quota: self.max_message,
            caps: self.caps,
            server_pid: sys::getpid(),
            ..PipeInfo::default()
        };
        let _ = sys::send_packet_nowait(
            sock.as_fd(),
            &Reply::Connected(info, None).encode(),
            &[self.tx.as_fd()],
        );
    }

    /// For listings: one reader, always ready for writers; `out_quota` is nMaxMessageSize.
    fn describe(&self) -> Result<Described, u32> {
        Ok(Described {
            object: Object::Mailslot,
            listening: 1,
            info: PipeInfo {
                message_type: true,
                direction: super::pipe::ACCESS_INBOUND,
                max_instances: 1,
                cur_instances: 1,
                out_quota: self.max_message,
                caps: self.caps,
                server_pid: sys::getpid(),
                ..PipeInfo::default()
            },
            name: self.name.display.clone(),
        })
    }

    fn extra_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.rx.as_fd())
    }

    fn extra_ready(&self) {
        self.drain();
    }
}

impl Shared {
    /// Moves records from `rx` into the store, oldest first, until the socket is empty or the
    /// next one does not fit (it stays queued: nothing is dropped). Records of the wrong shape
    /// are dropped with their descriptors. Runs under the store's writer lock, so a reader that
    /// drains first also waits for a drain in progress elsewhere to publish. Errors leave the
    /// records queued; the read that follows reports the store's own state.
    fn drain(&self) {
        let Ok(app) = self.store.appender() else {
            return;
        };
        let rx = self.rx.as_fd();
        let limit = message_limit(self.max_message, self.caps[1]);
        // Every message takes at least 8 bytes of the store, so a drain that is not cut short
        // by a full store moves at most this many; the bound only stops a flood of dropped
        // records from keeping one call busy for ever. (Not FIONREAD for a bound on bytes: on
        // a SEQPACKET socket it walks the whole queue.)
        let mut records = self.caps[1] / STORE_RECORD_HEADER + 1;
        let mut head = [0u8; MEMFD_RECORD];
        let mut fds = Vec::new();
        while records > 0 {
            records -= 1;
            let seen = match dgram::peek_record(rx, &mut head) {
                Ok(Some(s)) => s,
                _ => return,
            };
            let copied = seen.len.min(MEMFD_RECORD);
            let kind = shape(&head[..copied], seen, limit);
            match kind {
                Shape::Inline(len) | Shape::Memfd(len) => match app.fits(len) {
                    Ok(true) => {}
                    // The store is full: leave it queued, in order.
                    _ => return,
                },
                Shape::Bad => {}
            }
            fds.clear();
            let msg = match kind {
                Shape::Inline(_) => {
                    let mut buf = vec![0u8; seen.len];
                    match dgram::recv_record(rx, &mut buf, &mut fds) {
                        Ok(Some(r)) if r.len == seen.len && !r.fds_lost && fds.is_empty() => {
                            Some(Message::Inline(buf))
                        }
                        Ok(Some(_)) => None,
                        _ => return,
                    }
                }
                Shape::Memfd(len) => {
                    let mut rec = [0u8; MEMFD_RECORD];
                    match dgram::recv_record(rx, &mut rec, &mut fds) {
                        Ok(Some(r))
                            if r.len == MEMFD_RECORD
                                && rec == head
                                && !r.fds_lost
                                && fds.len() == 1 =>
                        {
                            usize::try_from(len)
                                .ok()
                                .and_then(|len| dgram::SealedView::open(fds[0].as_fd(), len).ok())
                                .map(Message::Memfd)
                        }
                        Ok(Some(_)) => None,
                        _ => return,
                    }
                }
                Shape::Bad => {
                    let hung_up = seen.len == 0 && sys::peer_hung_up(rx);
                    match dgram::recv_record(rx, &mut [], &mut fds) {
                        // An empty record, or the end of the stream after a writer shut the
                        // shared socket down: the record (if any) is gone, stop here.
                        Ok(Some(_)) if hung_up => return,
                        Ok(Some(_)) => None,
                        _ => return,
                    }
                }
            };
            if let Some(m) = msg {
                // A memfd that passed the checks is never the store's own (sealed without
                // F_SEAL_WRITE, and F_SEAL_SEAL forbids adding it), so the copy cannot overlap.
                let bytes = match &m {
                    Message::Inline(b) => &b[1..],
                    Message::Memfd(v) => v.bytes(),
                };
                if app.append(bytes).is_err() {
                    // Checked to fit above, under the same lock: only a broken store fails here.
                    return;
                }
            }
            // Descriptors of a dropped record are closed here.
            fds.clear();
        }
    }
}

/// A message taken from the socket, on its way into the store.
enum Message {
    Inline(Vec<u8>),
    Memfd(dgram::SealedView),
}

impl Drop for MailslotServer {
    fn drop(&mut self) {
        if fork_generation() == self.fork_gen {
            // No other process can hold this handle: close the mailslot for good. Readers
            // asleep in this process wake, and the shut-down socket fails every later write
            // with ERROR_NO_DATA at once, even while a child being spawned still holds a copy
            // of `rx` until its exec.
            self.shared.conn.set_state(Side::Server, queue::CLOSED);
            let _ = dgram::shutdown(self.shared.rx.as_fd());
        }
        // The listener closes with the thread: the name disappears (W152).
        self.acceptor.stop();
    }
}

/// A writer handle: CreateFile on a mailslot name. It holds only its duplicate of the
/// mailslot's sending socket.
#[derive(Debug)]
pub(crate) struct MailslotWriter {
    tx: OwnedFd,
    name: Name,
    /// nMaxMessageSize (0: any size), from the handshake.
    max_message: u32,
    /// The capacity of the server's store, from the handshake.
    store: u64,
}

impl MailslotWriter {
    /// CreateFile on `\\.\mailslot\NAME` or `\\*\mailslot\NAME` (W141, W148, W152).
    pub(crate) fn open(name: &str) -> io::Result<MailslotWriter> {
        super::install_fork_handlers();
        let n = namespace::parse(name, Kind::Mailslot).map_err(|c| {
            let c = if c == ERROR_INVALID_NAME {
                ERROR_FILE_NOT_FOUND
            } else {
                c
            };
            err(
                c,
                format!("{name:?} is not a valid mailslot name (\\\\.\\mailslot\\NAME)"),
            )
        })?;
        // The handshake socket closes at the end of this call: a writer keeps just `tx`.
        let Opened { reply, mut fds, .. } = request_open(&n, name, 0, Trust::default())?;
        let bad = |what: &str| {
            Error::io_kind(
                io::ErrorKind::InvalidData,
                ERROR_BAD_PIPE,
                format!("the server of the mailslot {name} {what}"),
            )
        };
        match reply {
            Some(Reply::Connected(info, None | Some(Area { reused: false, .. }))) => {
                let tx = match (fds.pop(), fds.is_empty()) {
                    (Some(fd), true) if dgram::is_unix_seqpacket(fd.as_fd()) => fd,
                    _ => return Err(bad("did not send exactly one socket")),
                };
                let store = info.caps[1];
                if !(queue::MIN_RING..=queue::MAX_RING).contains(&store) {
                    return Err(bad("announced an impossible queue size"));
                }
                Ok(MailslotWriter {
                    tx,
                    name: n,
                    max_message: info.out_quota,
                    store,
                })
            }
            Some(Reply::Error(c)) => Err(err(
                c,
                format!("the server of the mailslot {name} refused the writer"),
            )),
            None => Err(err(
                ERROR_FILE_NOT_FOUND,
                format!("the mailslot {name} closed while opening"),
            )),
            Some(_) => Err(bad("sent an unexpected reply")),
        }
    }

    /// The name as given at open.
    pub(crate) fn display_name(&self) -> &str {
        &self.name.display
    }

    /// WriteFile: queues one whole message or fails at once (W151). One nonblocking send; no
    /// lock, no shared memory, no wait.
    pub(crate) fn write(&self, data: &[u8]) -> io::Result<usize> {
        let name = self.display_name();
        let max = self.max_message;
        let len = data.len() as u64;
        if max != 0 && len > max as u64 {
            return Err(err(
                ERROR_INVALID_PARAMETER,
                format!("a {len} byte message is larger than the {max} byte maximum of {name}"),
            ));
        }
        if len > message_limit(0, self.store) {
            return Err(err(
                ERROR_NOT_ENOUGH_QUOTA,
                format!(
                    "a {len} byte message can never fit the {} byte queue of {name}",
                    self.store
                ),
            ));
        }
        let sent = if data.len() <= INLINE_MAX {
            match dgram::send_record_nowait(self.tx.as_fd(), &[TAG_INLINE], data, &[]) {
                // A socket buffer too small for this record (an unusually low wmem_max).
                Err(sys::Errno::MSGSIZE) => self.send_memfd(data)?,
                r => r,
            }
        } else {
            self.send_memfd(data)?
        };
        match sent {
            Ok(()) => Ok(data.len()),
            Err(sys::Errno::AGAIN) | Err(sys::Errno::TOOMANYREFS) | Err(sys::Errno::NOBUFS) => {
                Err(err(
                    ERROR_NOT_ENOUGH_QUOTA,
                    format!(
                        "the queue of {name} is full (its {} byte store and the socket buffer \
                         in front of it); the {len} byte message was not sent",
                        self.store
                    ),
                ))
            }
            Err(
                sys::Errno::PIPE
                | sys::Errno::CONNRESET
                | sys::Errno::CONNREFUSED
                | sys::Errno::NOTCONN,
            ) => Err(err(
                ERROR_NO_DATA,
                format!("the mailslot {name} was closed by its server"),
            )),
            Err(e) => Err(os_err(e, "send", name)),
        }
    }

    /// Sends `data` as a sealed memfd. The outer error is the memfd's; the inner one the send's.
    fn send_memfd(&self, data: &[u8]) -> io::Result<sys::Result<()>> {
        let fd = dgram::sealed_copy(data).map_err(|e| os_err(e, "memfd", self.display_name()))?;
        let mut rec = [0u8; MEMFD_RECORD];
        rec[0] = TAG_MEMFD;
        rec[8..].copy_from_slice(&(data.len() as u64).to_le_bytes());
        Ok(dgram::send_record_nowait(
            self.tx.as_fd(),
            &rec,
            &[],
            &[fd.as_fd()],
        ))
    }
}
