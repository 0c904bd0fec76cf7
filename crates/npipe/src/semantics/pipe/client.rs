//! The client side of named pipes: opening a client end (CreateFile), the client end's
//! operations and CallNamedPipe (WaitNamedPipe, which shares the open's handshake, is in
//! `wait.rs`).

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::semantics::fork_generation;
use crate::semantics::namespace::{self, Kind, Name};
use crate::sys::PeerCred;
use crate::transport::control::{self, PipeInfo, Reply, ReqKind, Request};
use crate::transport::queue::{recycle, Conn, InPlace, QErr, Reserved, Side};
use crate::transport::watch;

/// How long an open polls for the server's answer before it sleeps (see `exchange_req`).
/// Measured on a 2-vCPU VM: 10 us took connection setup from about 12,900 to 14,500 per second
/// when every connection made a new memfd; once areas were reused (`queue::recycle`), 5 / 10 /
/// 25 / 50 / 100 us gave about 18,700 / 21,800 / 26,000 / 28,000 / 28,000 (the last with a
/// wide spread). An open costs its client at most this much CPU beyond a sleeping wait.
const OPEN_SPIN: Duration = Duration::from_micros(50);

/// A client end (the handle CreateFile returns for a pipe name).
#[derive(Debug)]
pub(crate) struct ClientEnd {
    /// Dropping it lets go of the connection's descriptors before the drop returns.
    conn: watch::Owned,
    pub(super) info: PipeInfo,
    access: u32,
    pub(super) modes: Modes,
    fork_gen: u64,
    name: String,
    /// Set by [`ClientEnd::close`].
    closed: AtomicBool,
    /// The server's pid as this process sees it (`SO_PEERCRED`); `None` when the server runs in
    /// a pid namespace this process cannot see into.
    server_pid: Option<u32>,
    /// The server's effective uid as the kernel recorded it (`SO_PEERCRED`).
    server_uid: u32,
    /// The end's readiness signal (made on first need, see `steps`).
    pub(super) signal: std::sync::OnceLock<Arc<sys::EventFd>>,
}

/// Whom a client accepts as the server of a name: a process of its own user or root, and the
/// one further uid the caller names; or, when the caller requires one uid, that uid alone.
/// Nobody else can serve a client's data, whatever uid the client runs as (root included), so
/// an impostor that took a name first gets nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Trust {
    /// A further uid whose servers this client accepts.
    pub extra_uid: Option<u32>,
    /// The only uid whose servers this client accepts (overrides the rest).
    pub required_uid: Option<u32>,
}

impl Trust {
    fn allows(&self, uid: u32) -> bool {
        if let Some(r) = self.required_uid {
            return uid == r;
        }
        uid == sys::geteuid() || uid == 0 || self.extra_uid == Some(uid)
    }
}

/// Connects a control socket to `n` and checks who serves it (see [`Trust`]).
pub(super) fn connect_to(n: &Name, display: &str, trust: Trust) -> io::Result<(OwnedFd, PeerCred)> {
    let sock = sys::seqpacket(false).map_err(|e| os_err(e, "socket", display))?;
    // While this thread impersonates, the server sees the client it impersonates (W120's
    // checks apply to it, as Windows applies them to the thread's token).
    let connected = sys::connect_as_impersonated(|| sys::connect(sock.as_fd(), &n.address()))
        .map_err(|e| {
            err(
                ERROR_ACCESS_DENIED,
                format!(
                    "cannot open {display} as the impersonated client: this thread cannot take                      its identity ({e})"
                ),
            )
        })?;
    match connected {
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
    let peer = sys::peer_cred(sock.as_fd()).map_err(|e| os_err(e, "SO_PEERCRED", display))?;
    if let Some(r) = trust.required_uid.filter(|&r| r != peer.uid) {
        return Err(err(
            ERROR_ACCESS_DENIED,
            format!(
                "{display} is served by uid {}, not by the required uid {r}: an impostor may \
                 have taken the name",
                peer.uid
            ),
        ));
    }
    if !trust.allows(peer.uid) {
        return Err(err(
            ERROR_ACCESS_DENIED,
            format!(
                "{display} is served by another user (uid {}); a client only talks to servers \
                 of its own user or root unless told to trust that uid",
                peer.uid
            ),
        ));
    }
    Ok((sock, peer))
}

/// What an OPEN handshake gave: the control socket, the server's reply (`None` if it closed
/// without one), the descriptors that came with it and the server's credentials.
pub(crate) struct Opened {
    pub sock: OwnedFd,
    pub reply: Option<Reply>,
    pub fds: Vec<OwnedFd>,
    pub server: PeerCred,
    /// The parked areas the request named (see `transport::queue::recycle`); those not taken
    /// go back to the pool when this is dropped.
    pub claimed: recycle::Claimed,
    /// The fork epoch read before the request went out, so before any descriptor of the
    /// answer was in this process (see `Conn::attach_at`).
    pub epoch: u64,
}

/// What CreateFile adds to every access it asks for (W25: an open with access 0 holds
/// 0x00100080), so that any client may wait on its handle and query its pipe
/// (GetNamedPipeHandleState, GetNamedPipeInfo) whatever else it asked for.
const IMPLIED_ACCESS: u32 = 0x0010_0000 | crate::semantics::security::FILE_READ_ATTRIBUTES;

/// The access a client opened with `desired` holds on a pipe of `direction`: `desired` with
/// SYNCHRONIZE and FILE_READ_ATTRIBUTES ([`IMPLIED_ACCESS`]), and with MAXIMUM_ALLOWED the
/// reading and writing the pipe's direction allows a client (the server admitted the open
/// only if its policy grants some right). Windows gives such a handle every right the
/// security descriptor grants; npipe's client ends check reads and writes against these
/// bits.
fn granted_access(desired: u32, direction: u8) -> u32 {
    let desired = desired | IMPLIED_ACCESS;
    if desired & MAXIMUM_ALLOWED == 0 {
        return desired;
    }
    let mut a = desired;
    if direction & ACCESS_OUTBOUND != 0 {
        a |= GENERIC_READ;
    }
    if direction & ACCESS_INBOUND != 0 {
        a |= GENERIC_WRITE;
    }
    a
}

/// Connects to `n` and sends an OPEN request (see [`Opened`]).
pub(crate) fn request_open(n: &Name, name: &str, access: u32, trust: Trust) -> io::Result<Opened> {
    request_open_as(n, name, Desired { access, sqos: 0 }, trust, 0, false)
}

/// What a client asks for at its open: its access mask and its security quality of service
/// flags (CreateFile's `SECURITY_SQOS_PRESENT` with a level and tracking mode, else 0).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Desired {
    pub access: u32,
    pub sqos: u32,
}

/// [`request_open`], as an OPEN_REMOTE request for the remote identity registered under
/// `token` when it is not 0 (see `semantics::remote`); a local open of a pipe (`areas`) claims
/// the areas this process parked with the server's process.
fn request_open_as(
    n: &Name,
    name: &str,
    desired: Desired,
    trust: Trust,
    token: u64,
    areas: bool,
) -> io::Result<Opened> {
    let epoch = recycle::epoch();
    let (sock, server) = connect_to(n, name, trust)?;
    let mut fds = Vec::new();
    let deadline = Instant::now() + REPLY_TIMEOUT;
    let claimed = match (areas && token == 0, server.pid) {
        (true, Some(pid)) => Some(recycle::claims(pid, server.uid)),
        _ => None,
    };
    let reply = exchange_req(
        &sock,
        ReqKind::Open,
        desired,
        name,
        token,
        claimed.as_ref().map(|c| c.keys()),
        &mut fds,
        deadline,
    )?;
    if claimed.is_some() && reply == Some(Reply::Error(ERROR_INVALID_DATA)) {
        // A server of an earlier build refuses the claims field it does not know (as a server
        // refuses a request that came too late): ask once more, without it. The claimed
        // areas go back to the pool, and the refused connection closes first.
        drop((claimed, sock));
        return request_open_as(n, name, desired, trust, token, false);
    }
    Ok(Opened {
        sock,
        reply,
        fds,
        server,
        claimed: claimed.unwrap_or_default(),
        epoch,
    })
}

/// Sends one request on a connected control socket and receives the server's reply by
/// `deadline` (`None` if the server closed without one), with the descriptors that came with it.
pub(super) fn exchange(
    sock: &OwnedFd,
    kind: ReqKind,
    access: u32,
    name: &str,
    fds: &mut Vec<OwnedFd>,
    deadline: Instant,
) -> io::Result<Option<Reply>> {
    exchange_req(
        sock,
        kind,
        Desired { access, sqos: 0 },
        name,
        0,
        None,
        fds,
        deadline,
    )
}

/// [`exchange`] with a remote identity's token (OPEN_REMOTE when not 0) and the keys of
/// parked areas (an OPEN's).
#[allow(clippy::too_many_arguments)]
fn exchange_req(
    sock: &OwnedFd,
    kind: ReqKind,
    desired: Desired,
    name: &str,
    token: u64,
    claims: Option<Vec<u64>>,
    fds: &mut Vec<OwnedFd>,
    deadline: Instant,
) -> io::Result<Option<Reply>> {
    let req = Request {
        kind: if token != 0 {
            ReqKind::OpenRemote
        } else {
            kind
        },
        access: desired.access,
        timeout_ms: 0,
        sqos: desired.sqos & control::VALID_SQOS,
        name: name.to_owned(),
        token,
        claims,
    };
    match sys::send_packet_nowait(sock.as_fd(), &req.encode(), &[]) {
        Ok(()) => {}
        // The server closed the connection before reading anything (its pipe went away, or it
        // refused the connection at accept): the same as a close without a reply, but the
        // refusal's reason may be waiting to be read.
        Err(sys::Errno::PIPE | sys::Errno::CONNRESET) => {
            return Ok(recv_reply(sock, name, fds, Instant::now()).unwrap_or(None))
        }
        Err(e) => return Err(os_err(e, "send", name)),
    }
    if matches!(req.kind, ReqKind::Open | ReqKind::OpenRemote) && sys::usable_cpus() > 1 {
        // The acceptor answers an open within microseconds when it runs on another CPU:
        // looking for the answer a little before sleeping saves this CPU's idle exit and the
        // wake-up (issue 13; a Wait may be parked for long, so it sleeps at once).
        sys::spin_until_readable(sock.as_fd(), OPEN_SPIN);
    }
    recv_reply(sock, name, fds, deadline)
}

/// Receives one reply by `deadline` (absolute: signals neither restart nor shorten the wait).
pub(crate) fn recv_reply(
    sock: &OwnedFd,
    display: &str,
    fds: &mut Vec<OwnedFd>,
    deadline: Instant,
) -> io::Result<Option<Reply>> {
    let mut buf = [0u8; control::MAX_REP];
    let bad = |what: &str| {
        Error::io_kind(
            io::ErrorKind::InvalidData,
            ERROR_BAD_PIPE,
            format!("the server of {display} sent a bad handshake: {what}"),
        )
    };
    let n = match sys::recv_packet(sock.as_fd(), &mut buf, fds, Some(deadline)) {
        Ok(0) => return Ok(None),
        Ok(n) => n,
        Err(sys::Errno::TIMEDOUT) => {
            return Err(err(
                ERROR_SEM_TIMEOUT,
                format!("the server of {display} did not answer"),
            ))
        }
        Err(sys::Errno::MSGSIZE) => return Err(bad("reply too long")),
        Err(sys::Errno::CONNRESET) => return Ok(None),
        Err(e) => return Err(os_err(e, "recv", display)),
    };
    Reply::decode(&buf[..n]).map(Some).map_err(|b| bad(b.0))
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
    pub(crate) fn open(name: &str, desired: Desired, trust: Trust) -> io::Result<ClientEnd> {
        Self::open_as(name, desired, trust, 0)
    }

    /// [`open`](Self::open) on behalf of the remote client registered under `token` (see
    /// `semantics::remote`; 0 for a local open). Only the process that serves `name` can
    /// open this way.
    pub(crate) fn open_as(
        name: &str,
        desired: Desired,
        trust: Trust,
        token: u64,
    ) -> io::Result<ClientEnd> {
        let access = desired.access;
        // Before any lock the fork handlers guard (the hang-up watcher's, below).
        crate::semantics::install_fork_handlers();
        let n = parse_client_name(name)?;
        let Opened {
            sock,
            reply,
            mut fds,
            server,
            mut claimed,
            epoch,
        } = request_open_as(&n, name, desired, trust, token, true)?;
        match reply {
            Some(Reply::Connected(info, area)) => {
                let area = area.unwrap_or_default();
                let bad = |what: &str| {
                    Error::io_kind(
                        io::ErrorKind::InvalidData,
                        ERROR_BAD_PIPE,
                        format!("the server of {name} {what}"),
                    )
                };
                let conn = if area.reused {
                    if !fds.is_empty() {
                        return Err(bad("sent a descriptor with a reused area"));
                    }
                    let parked = claimed
                        .take(area.key)
                        .ok_or_else(|| bad("reused an area this open did not claim"))?;
                    Conn::attach_reused(Some(sock), parked, info.caps)
                } else {
                    let memfd = fds
                        .pop()
                        .filter(|_| fds.is_empty())
                        .ok_or_else(|| bad("did not send exactly one queue"))?;
                    Conn::attach_at(Some(sock), memfd, info.caps, epoch)
                }
                .map_err(|e| map_q(e, Op::Read, Side::Client, name))?;
                if let (Some(pid), true) = (server.pid, area.key != 0 && token == 0) {
                    conn.set_recycle(recycle::Tag {
                        peer_pid: pid,
                        peer_uid: server.uid,
                        key: area.key,
                    });
                }
                let conn = Arc::new(conn);
                conn.watch();
                Ok(ClientEnd {
                    conn: watch::Owned::new(conn),
                    info,
                    access: granted_access(access, info.direction),
                    modes: Modes::new(false, false),
                    fork_gen: fork_generation(),
                    name: name.to_owned(),
                    closed: AtomicBool::new(false),
                    server_pid: server.pid,
                    server_uid: server.uid,
                    signal: std::sync::OnceLock::new(),
                })
            }
            Some(Reply::Error(ERROR_PIPE_BUSY)) => Err(err(
                ERROR_PIPE_BUSY,
                format!("all instances of {name} are busy"),
            )),
            Some(Reply::Error(ERROR_ACCESS_DENIED)) => Err(err(
                ERROR_ACCESS_DENIED,
                format!(
                    "the server of {name} refused the access (the pipe's direction, or this user)"
                ),
            )),
            Some(Reply::Error(ERROR_NOT_ENOUGH_MEMORY)) => Err(err(
                ERROR_NOT_ENOUGH_MEMORY,
                format!("the server of {name} is out of descriptors or memory"),
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

    pub(super) fn name(&self) -> &str {
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
    pub(super) fn open_conn(&self) -> io::Result<&Arc<Conn>> {
        // Relaxed: see `close`.
        if self.closed.load(Ordering::Relaxed) {
            return Err(err(
                ERROR_INVALID_HANDLE,
                format!("the handle to {} is closed", self.name()),
            ));
        }
        Ok(&*self.conn)
    }

    /// Whether the server disconnected this client (DisconnectNamedPipe): its calls fail with
    /// ERROR_PIPE_NOT_CONNECTED from now on. False for a closed handle or a server that closed.
    pub(crate) fn disconnected(&self) -> bool {
        !self.closed.load(Ordering::Relaxed)
            && matches!(self.conn.peer_open(), Err(QErr::Disconnected))
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

    /// The file rights of this handle: the access it was opened with, generic rights mapped
    /// (MAXIMUM_ALLOWED resolved at the open, see `granted_access`).
    pub(crate) fn access_rights(&self) -> u32 {
        crate::semantics::security::map_generic(self.access)
    }

    pub(super) fn check_access(&self, write: bool) -> io::Result<()> {
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

    /// Returns once the server closed or disconnected this client, or the end was closed here.
    pub(crate) fn wait_until_ended(&self) {
        if let Ok(c) = self.open_conn() {
            c.wait_link_ends();
        }
    }

    /// A descriptor that polls readable when data may be waiting or the server end has gone
    /// (see [`read_ready_fd`]).
    pub(crate) fn read_ready_fd(&self) -> io::Result<OwnedFd> {
        self.check_access(false)?;
        let sig = self.signal()?;
        read_ready_fd(self.open_conn()?, &sig, self.name())
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
        conn_reserve(self.open_conn()?, len, &self.info, self.name())
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

    /// GetNamedPipeServerProcessId (W131). The pid as the kernel reports it to this process,
    /// so it is right across pid namespaces; ERROR_NOT_FOUND when the server's process is not
    /// visible from here.
    pub(crate) fn server_pid(&self) -> io::Result<u32> {
        self.live()?;
        self.server_pid.ok_or_else(|| {
            err(
                ERROR_NOT_FOUND,
                format!(
                    "the server of {} runs in a pid namespace this process cannot see",
                    self.name()
                ),
            )
        })
    }

    /// GetNamedPipeServerSessionId: the server's session (see `ServerEnd::client_session`).
    pub(crate) fn server_session(&self) -> io::Result<u32> {
        let conn = self.live()?;
        let pid = self.server_pid()?;
        let ctl = conn.ctl().ok_or_else(|| {
            err(
                ERROR_NOT_FOUND,
                format!("{} has no control socket", self.name()),
            )
        })?;
        super::identity::session_of(ctl, pid, self.name())
    }

    /// The server's effective uid when the connection was made (`SO_PEERCRED`).
    pub(crate) fn server_uid(&self) -> io::Result<u32> {
        self.live()?;
        Ok(self.server_uid)
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

    /// For `Debug`: the state in one word (connected, closing when the server has closed,
    /// disconnected, or closed) and this handle's mode bits (PIPE_READMODE_MESSAGE = 2,
    /// PIPE_NOWAIT = 1).
    pub(crate) fn summary(&self) -> (&'static str, u32) {
        // Relaxed: a label for a human, not an ordering decision.
        let state = if self.closed.load(Ordering::Relaxed) {
            "closed"
        } else {
            match self.conn.peer_open() {
                Ok(true) => "connected",
                Ok(false) => "closing",
                Err(QErr::Disconnected) => "disconnected",
                Err(_) => "closed",
            }
        };
        (state, self.modes.state_bits())
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

/// CallNamedPipe (W130): open (waiting once if busy), message read mode, transact, close.
pub(crate) fn call_named_pipe(
    name: &str,
    data: &[u8],
    buf: &mut [u8],
    timeout: WaitTimeout,
) -> io::Result<ReadResult> {
    let access = GENERIC_READ | GENERIC_WRITE;
    let trust = Trust::default();
    let desired = Desired { access, sqos: 0 };
    let client = match ClientEnd::open(name, desired, trust) {
        Ok(c) => c,
        Err(_) => {
            wait_named_pipe(name, timeout, trust)?;
            ClientEnd::open(name, desired, trust)?
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maximum_allowed_takes_what_the_direction_allows() {
        let read = GENERIC_READ;
        let write = GENERIC_WRITE;
        let duplex = ACCESS_INBOUND | ACCESS_OUTBOUND;
        assert_eq!(
            granted_access(read, duplex),
            read | IMPLIED_ACCESS,
            "an explicit mask stays, with what CreateFile adds"
        );
        assert_eq!(granted_access(0, duplex), 0x0010_0080, "W25");
        let all = granted_access(MAXIMUM_ALLOWED, duplex);
        assert!(all & read != 0 && all & write != 0);
        // Inbound: the server reads, so the client writes only; outbound the other way.
        let inbound = granted_access(MAXIMUM_ALLOWED, ACCESS_INBOUND);
        assert!(inbound & write != 0 && inbound & READ_BITS == 0);
        let outbound = granted_access(MAXIMUM_ALLOWED, ACCESS_OUTBOUND);
        assert!(outbound & read != 0 && outbound & WRITE_BITS == 0);
    }
}
