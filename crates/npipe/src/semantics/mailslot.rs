//! Mailslots: one reader (the server) per name, any number of writers, whole datagrams in FIFO
//! order across writers.
//!
//! Contract (W-numbers from WINDOWS-SEMANTICS.md):
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
//! Layout: the server binds the abstract address of the name (the bind itself is the "one server
//! per name" rule) and creates one sealed memfd whose ring 1 holds the queue. A writer connects
//! once, receives that memfd in the handshake, and from then on writes straight into the ring
//! under the ring's writer lock; the socket is closed after the handshake. The queue capacity is
//! the per-mailslot memory cap ([`DEFAULT_CAPACITY`] unless configured).

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::acceptor::{refuse, Acceptor, Service};
use super::fork_generation;
use super::namespace::{self, Kind, Name};
use super::pipe::{err, map_q, os_err, request_open, Op, Opened, Trust};
use crate::error::{code::*, Error};
use crate::sys;
use crate::sys::PeerCred;
use crate::transport::control::{PipeInfo, Reply, ReqKind, Request};
use crate::transport::queue::{self, Conn, QErr, Side};

/// MAILSLOT_WAIT_FOREVER / MAILSLOT_NO_MESSAGE.
pub(crate) const FOREVER: u32 = u32::MAX;
/// Default queue capacity of a mailslot: the bytes its unread messages may occupy, each message
/// taking its length rounded up to 8 plus an 8-byte header.
pub(crate) const DEFAULT_CAPACITY: u64 = 1 << 20;

/// Parameters of a new mailslot.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MailslotConfig {
    /// nMaxMessageSize; 0 means any size.
    pub max_message: u32,
    /// lReadTimeout in milliseconds; [`FOREVER`] waits forever.
    pub read_timeout: u32,
    /// Queue capacity in bytes (rounded up to a power of two, at least one maximum message).
    pub capacity: u64,
}

/// State shared by the server handle and its acceptor thread.
#[derive(Debug)]
struct Shared {
    conn: Conn,
    memfd: OwnedFd,
    name: Name,
    caps: [u64; 2],
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
        (cfg.max_message as u64 + 15) & !7
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

impl MailslotServer {
    /// CreateMailslot (W141-W144).
    pub(crate) fn create(name: &str, cfg: MailslotConfig) -> io::Result<MailslotServer> {
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
        let listener = sys::seqpacket(true).map_err(|e| os_err(e, "socket", name))?;
        match sys::bind_listen(listener.as_fd(), &n.address()) {
            Ok(()) => {}
            Err(sys::Errno::ADDRINUSE) => {
                return Err(err(
                    ERROR_ALREADY_EXISTS,
                    format!("the mailslot {name} already exists"),
                ))
            }
            Err(e) => return Err(os_err(e, "bind", name)),
        }
        let (conn, memfd) = Conn::create(None, caps, 0).map_err(|e| os_err(e, "memfd", name))?;
        conn.set_param(cfg.max_message);
        let shared = Arc::new(Shared {
            conn,
            memfd,
            name: n.clone(),
            caps,
        });
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
        self.shared
            .conn
            .read_whole(buf, self.deadline())
            .map_err(|e| match e {
                QErr::TimedOut => err(
                    ERROR_SEM_TIMEOUT,
                    format!("no message arrived in {name} within the read timeout"),
                ),
                e => map_q(e, Op::Read, Side::Server, name),
            })
    }

    /// GetMailslotInfo: (max message size, next size or None, message count, read timeout).
    pub(crate) fn info(&self) -> io::Result<(u32, Option<u32>, u32, u32)> {
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

    /// Bytes the queue can hold (the memory cap).
    pub(crate) fn capacity(&self) -> u64 {
        self.shared.caps[1]
    }
}

impl Service for Shared {
    /// One writer's handshake: send it the queue.
    fn request(&self, sock: OwnedFd, req: Request, _peer: PeerCred) {
        if req.kind != ReqKind::Open {
            return refuse(&sock, ERROR_INVALID_FUNCTION);
        }
        // Described as what a mailslot is: inbound messages, one reader.
        let info = PipeInfo {
            message_type: true,
            direction: super::pipe::ACCESS_INBOUND,
            max_instances: 1,
            caps: self.caps,
            server_pid: sys::getpid(),
            ..PipeInfo::default()
        };
        let _ = sys::send_packet_nowait(
            sock.as_fd(),
            &Reply::Connected(info).encode(),
            &[self.memfd.as_fd()],
        );
    }
}

impl Drop for MailslotServer {
    fn drop(&mut self) {
        if fork_generation() == self.fork_gen {
            // Writers' later writes fail instead of queueing into a mailslot nobody reads.
            self.shared.conn.set_state(Side::Server, queue::CLOSED);
        }
        // The listener closes with the thread: the name disappears (W152).
        self.acceptor.stop();
    }
}

/// A writer handle: CreateFile on a mailslot name.
#[derive(Debug)]
pub(crate) struct MailslotWriter {
    conn: Conn,
    name: Name,
}

impl MailslotWriter {
    /// CreateFile on `\\.\mailslot\NAME` or `\\*\mailslot\NAME` (W141, W148, W152).
    pub(crate) fn open(name: &str) -> io::Result<MailslotWriter> {
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
        // The socket is only needed for the handshake: a writer keeps just the mapping.
        let Opened { reply, mut fds, .. } = request_open(&n, name, 0, Trust::default())?;
        let bad = |what: &str| {
            Error::io_kind(
                io::ErrorKind::InvalidData,
                ERROR_BAD_PIPE,
                format!("the server of the mailslot {name} {what}"),
            )
        };
        match reply {
            Some(Reply::Connected(info)) => {
                let memfd = fds.pop().ok_or_else(|| bad("sent no queue"))?;
                let conn = Conn::attach(None, memfd, info.caps)
                    .map_err(|e| map_q(e, Op::Write, Side::Client, name))?;
                Ok(MailslotWriter { conn, name: n })
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

    /// WriteFile: queues one whole message or fails at once (W151).
    pub(crate) fn write(&self, data: &[u8]) -> io::Result<usize> {
        let name = self.display_name();
        let max = self.conn.param();
        if max != 0 && data.len() as u64 > max as u64 {
            return Err(err(
                ERROR_INVALID_PARAMETER,
                format!(
                    "a {} byte message is larger than the {max} byte maximum of {name}",
                    data.len()
                ),
            ));
        }
        match self.conn.try_write_message(data) {
            Ok(()) => Ok(data.len()),
            Err(QErr::PeerClosed | QErr::Disconnected) => Err(err(
                ERROR_NO_DATA,
                format!("the mailslot {name} was closed by its server"),
            )),
            Err(QErr::WouldBlock) => {
                if !self.server_alive() {
                    return Err(err(
                        ERROR_NO_DATA,
                        format!("the server of the mailslot {name} is gone"),
                    ));
                }
                Err(err(
                    ERROR_NOT_ENOUGH_QUOTA,
                    format!(
                        "the queue of {name} is full ({} bytes of unread messages); \
                         the {} byte message was not sent",
                        self.conn.capacity(),
                        data.len()
                    ),
                ))
            }
            Err(e) => Err(map_q(e, Op::Write, Side::Client, name)),
        }
    }

    /// Whether a server still listens on the name (checked only when the queue is full, to tell
    /// a slow reader from one whose process died without closing).
    fn server_alive(&self) -> bool {
        let Ok(sock) = sys::seqpacket(true) else {
            return true;
        };
        !matches!(
            sys::connect(sock.as_fd(), &self.name.address()),
            Err(sys::Errno::CONNREFUSED) | Err(sys::Errno::NOENT)
        )
    }
}
