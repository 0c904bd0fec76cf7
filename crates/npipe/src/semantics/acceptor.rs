//! The acceptor of a served name (a pipe or a mailslot): one thread per name that accepts
//! control connections and reads each one's handshake request, without ever letting one
//! client delay another.
//!
//! Contract:
//! - credentials are checked at accept (`SO_PEERCRED`, plus `SO_PEERGROUPS` when the object's
//!   policy names groups), before anything is read: a peer the object's access policy
//!   ([`Service::policy`]; by default the same uid or root) grants nothing is refused with
//!   ERROR_ACCESS_DENIED. Its request is read (and dropped) before the refusal is sent and the
//!   socket closed, because closing a socket with an unread packet makes the kernel reset the
//!   peer's connection and the peer would lose the reason; a refused peer whose request has
//!   not arrived yet waits for it like any other, under the same per-uid cap and deadline;
//! - every accepted socket is nonblocking and waits for its request in one epoll set with an
//!   absolute deadline ([`HANDSHAKE_TIMEOUT`]); a silent client costs a slot until then, and
//!   nobody else waits for it;
//! - at most [`MAX_PENDING_PER_UID`] handshakes per uid (and [`MAX_PENDING`] in all) may be
//!   pending; beyond that a new connection is refused with ERROR_PIPE_BUSY at once;
//! - when the process runs out of descriptors (EMFILE, ENFILE), the service sheds descriptors
//!   that serve nobody and the listener is left alone for [`FD_BACKOFF`] instead of being
//!   retried in a loop (connections wait in the kernel's backlog); once that has lasted
//!   [`REFUSE_AFTER`], the connections in the backlog are taken one at a time into the slot of
//!   the process's reserve descriptor and answered: an open with ERROR_NOT_ENOUGH_MEMORY
//!   (its client would otherwise wait there until its open gives up), a wait with
//!   ERROR_PIPE_BUSY, on which it asks again until its own deadline ([`refuse_for_lack`]);
//!   serving resumes by itself once descriptors are free again;
//! - a request that decodes, is for this object's name and came from an allowed peer is handed
//!   to the [`Service`]; anything else is answered with the Win32 error and dropped;
//! - a Describe request (a listing, which names nothing) is answered here with
//!   [`Service::describe`] and the socket closed: it takes no instance, parks nowhere and wakes
//!   nobody, and it passes the same credential check, caps and deadline as any request;
//! - while connections come close together the thread looks for its next event without
//!   sleeping, for at most [`ACCEPT_SPIN`] at a time ([`Spin`] says when); otherwise it sleeps,
//!   so a name nobody opens costs no CPU.
//!
//! The acceptor stops when its [`Acceptor`] handle is stopped or dropped (in the process that
//! started it; a forked child only forgets its copy). The listener closes with the thread, so
//! the name is free once [`Acceptor::stop`] returns. A forked child closes its copies of the
//! listeners at once ([`LISTENERS`], closed by the fork child handler): the thread that owns
//! them exists only in the parent, and a copy kept in the child would keep each name bound
//! after the parent stopped serving it, with connections queued where nobody accepts them (a
//! client's open then hung until the child exited, and the name could not be made again).

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::namespace::{self, Name};
use super::pipe::err;
use super::security::{self, Policy};
use crate::error::code::*;
use crate::sys::{self, PeerCred};
use crate::transport::control::{self, Described, Reply, ReqKind, Request};

/// How long a connected client has to send its request.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(500);
/// Pending handshakes one uid may have at once.
pub(crate) const MAX_PENDING_PER_UID: usize = 64;
/// Pending handshakes in all.
pub(crate) const MAX_PENDING: usize = 256;
/// How long the listener rests after the process ran out of descriptors.
pub(crate) const FD_BACKOFF: Duration = Duration::from_millis(100);
/// How long the process must have been out of descriptors before the clients in the backlog
/// are refused rather than left to wait for descriptors to come free.
const REFUSE_AFTER: Duration = Duration::from_secs(1);
/// How long [`refuse_for_lack`] waits for the request of a connection it took.
const REQUEST_GRACE: Duration = Duration::from_millis(20);
/// Connections accepted per round before pending requests get their turn.
const ACCEPT_BATCH: usize = 32;
/// How long the thread looks for its next event without sleeping, while connections come
/// close together (see [`Spin`]).
pub(crate) const ACCEPT_SPIN: Duration = Duration::from_micros(100);

const TOKEN_LISTENER: u64 = 0;
const TOKEN_STOP: u64 = 1;
const TOKEN_EXTRA: u64 = 2;
const TOKEN_FIRST_PENDING: u64 = 3;

/// What a served object does with a checked request.
pub(crate) trait Service: Send + Sync + 'static {
    /// Answers one request. `sock` is nonblocking; `peer` are its credentials. Never called
    /// for Describe requests (see [`Service::describe`]).
    fn request(&self, sock: OwnedFd, req: Request, peer: PeerCred);

    /// What a listing shows about this object, or the Win32 error to refuse with (objects that
    /// are not listed, such as named events, keep the default).
    fn describe(&self) -> Result<Described, u32> {
        Err(ERROR_INVALID_FUNCTION)
    }

    /// A further descriptor for the acceptor thread to watch, edge-triggered (a mailslot's
    /// receiving socket).
    fn extra_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }

    /// Called on the acceptor thread each time data arrives on [`Service::extra_fd`].
    fn extra_ready(&self) {}

    /// The object's access policy and its owner's uid; `None` for the fixed rule
    /// ([`peer_allowed`]: the same user or root).
    fn policy(&self) -> Option<(&Policy, u32)> {
        None
    }

    /// Called when the process ran out of descriptors: give back any that serve nobody (a
    /// pipe's parked waiters whose clients have gone).
    fn shed(&self) {}
}

/// Answers a handshake with a Win32 error code, without ever waiting.
pub(crate) fn refuse(sock: &OwnedFd, code: u32) {
    let _ = sys::send_packet_nowait(sock.as_fd(), &Reply::Error(code).encode(), &[]);
}

/// Answers a connection taken while the process is out of descriptors. Its request is read
/// first (see the module docs: a client sends it as soon as it has connected, so it is waited
/// for a moment; descriptors it carries cannot be installed and are dropped by the kernel).
/// An open (or a second server's query) fails with ERROR_NOT_ENOUGH_MEMORY, as EMFILE does
/// elsewhere; a WaitNamedPipe is told ERROR_PIPE_BUSY, on which it asks again until its own
/// deadline, since the shortage may end before it; a listing, or a request that did not come,
/// gets no answer (a listing leaves this process out; a client reconnects or fails as when
/// a server goes away).
fn refuse_for_lack(sock: OwnedFd) {
    let mut buf = [0u8; control::MAX_REQ];
    let mut fds = Vec::new();
    let _ = sys::poll_fds([sock.as_fd()], Some(REQUEST_GRACE));
    let kind = match sys::recv_packet_nowait(sock.as_fd(), &mut buf, &mut fds) {
        Ok(n) if n > 0 => Request::decode(&buf[..n]).ok().map(|r| r.kind),
        _ => None,
    };
    drop(fds);
    match kind {
        Some(ReqKind::Wait) => refuse(&sock, ERROR_PIPE_BUSY),
        Some(ReqKind::Describe) | None => {}
        Some(_) => refuse(&sock, ERROR_NOT_ENOUGH_MEMORY),
    }
}

/// Whether a peer with these credentials may talk to objects of this process that have no
/// policy of their own (named events), and whether an answer about a name is believed: the
/// same user or root.
pub(crate) fn peer_allowed(peer: &PeerCred) -> bool {
    peer.uid == sys::geteuid() || peer.uid == 0
}

/// Whether `service` admits the peer of `sock` (see [`Service::policy`]). This very process
/// is always admitted: its SMB relay opens for remote clients, whose own identity the open
/// itself is judged by (see `semantics::remote`), and any other open of its own is judged
/// at open time as usual.
fn admitted(service: &dyn Service, sock: &OwnedFd, peer: &PeerCred) -> bool {
    if peer.pid == Some(sys::getpid()) && peer.uid == sys::geteuid() {
        return true;
    }
    match service.policy() {
        None => peer_allowed(peer),
        Some((policy, owner)) => security::check(policy, owner, sock.as_fd(), peer, None),
    }
}

/// The descriptors of this process's [`Listener`]s, for the fork child handler to close (see
/// the module docs). A listener is listed, under this lock, from the call that makes its socket
/// to the call that closes it, so a descriptor listed here is always a live listener, and a
/// fork (whose prepare handler takes the lock) never copies a listener that is not listed.
pub(crate) static LISTENERS: Mutex<Vec<RawFd>> = Mutex::new(Vec::new());

fn listeners() -> std::sync::MutexGuard<'static, Vec<RawFd>> {
    super::fork::install();
    LISTENERS.lock().unwrap_or_else(|p| p.into_inner())
}

/// In a forked child: closes the copies of the parent's listeners (`list`, the child's copy of
/// [`LISTENERS`], locked by the prepare handler) and forgets them. Nothing here allocates.
pub(crate) fn forget_listeners_in_child(list: &mut Vec<RawFd>) {
    for fd in list.drain(..) {
        sys::close_orphaned(fd);
    }
}

/// The listening socket of a served name, listed in [`LISTENERS`] for as long as it is open.
#[derive(Debug)]
pub(crate) struct Listener(Option<OwnedFd>);

impl Listener {
    /// A nonblocking listening socket bound to `addr`; the failing call's name with its error
    /// (`EADDRINUSE` from "bind": the name is taken).
    pub(crate) fn bind(addr: &[u8]) -> Result<Listener, (sys::Errno, &'static str)> {
        // The socket is made under the lock: a fork in between would give the child a copy of
        // a socket that the bind below makes the name's.
        let mut list = listeners();
        let sock = sys::seqpacket(true).map_err(|e| (e, "socket"))?;
        sys::bind_listen(sock.as_fd(), addr).map_err(|e| (e, "bind"))?;
        list.push(sock.as_raw_fd());
        Ok(Listener(Some(sock)))
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_ref().expect("open until dropped").as_fd()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // Unlisted and closed under the lock: a listed number is never another file, and no
        // fork sees it closed but listed, or open but unlisted.
        let mut list = listeners();
        if let Some(sock) = self.0.take() {
            let fd = sock.as_raw_fd();
            list.retain(|&l| l != fd);
            drop(sock);
        }
    }
}

/// A running acceptor thread.
#[derive(Debug)]
pub(crate) struct Acceptor {
    stop: Arc<sys::EventFd>,
    thread: Option<sys::RawThread>,
    /// The process that runs the thread (a forked child has the handle, not the thread).
    owner_pid: u32,
}

impl Acceptor {
    /// Starts the thread serving `listener` (a nonblocking listening socket bound to `name`).
    pub(crate) fn spawn(
        thread_name: &str,
        name: Name,
        listener: Listener,
        service: Arc<dyn Service>,
    ) -> io::Result<Acceptor> {
        let what = name.display.clone();
        let os = |e: sys::Errno, call: &str| super::pipe::os_err(e, call, &what);
        // For the day the process runs out of descriptors (see `accept_batch`).
        sys::keep_reserve();
        let stop = Arc::new(sys::EventFd::new().map_err(|e| os(e, "eventfd"))?);
        let poller = sys::Poller::new().map_err(|e| os(e, "epoll_create"))?;
        poller
            .add(listener.fd(), TOKEN_LISTENER, true)
            .and_then(|()| poller.add(stop.fd(), TOKEN_STOP, true))
            .map_err(|e| os(e, "epoll_ctl"))?;
        if let Some(fd) = service.extra_fd() {
            poller
                .add_edge(fd, TOKEN_EXTRA)
                .map_err(|e| os(e, "epoll_ctl"))?;
        }
        let mut state = Loop {
            _stop: stop.clone(),
            name,
            listener,
            poller,
            service,
            pending: HashMap::new(),
            per_uid: HashMap::new(),
            next_token: TOKEN_FIRST_PENDING,
            paused_until: None,
            out_of_fds_since: None,
            spin: Spin::new(sys::usable_cpus()),
            idle: Duration::ZERO,
        };
        let thread = sys::spawn_thread(thread_name, move || state.run()).map_err(|e| {
            err(
                ERROR_NOT_ENOUGH_MEMORY,
                format!("cannot start the acceptor thread for {what}: {e}"),
            )
        })?;
        Ok(Acceptor {
            stop,
            thread: Some(thread),
            owner_pid: sys::getpid(),
        })
    }

    /// Stops the thread and waits for it, so the listener (and with it the name) is gone when
    /// this returns. In a forked child the thread does not exist and the eventfd is shared with
    /// the parent, so nothing is signalled or joined there.
    pub(crate) fn stop(&mut self) {
        if sys::getpid() != self.owner_pid {
            // Joining would wait forever for a thread that only the parent has: forget the
            // handle without touching the thread.
            self.thread = None;
            return;
        }
        let Some(t) = self.thread.take() else { return };
        self.stop.signal();
        if t.is_current() {
            t.detach();
        } else {
            t.join();
        }
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A connection whose request has not arrived yet.
struct Pending {
    sock: OwnedFd,
    peer: PeerCred,
    deadline: Instant,
    /// Refused at admission: its request is read only to be answered with this refusal.
    denied: bool,
}

/// The acceptor thread's state.
struct Loop {
    /// The stop signal, kept open while the thread runs: a stop from the thread itself (a
    /// service that ends its own name) drops the [`Acceptor`] right after signalling, and epoll
    /// forgets a file whose last descriptor closes, its pending event with it, so the thread
    /// would never see the stop (it served on with the name bound, refusing every open, and
    /// the name could not be made again).
    _stop: Arc<sys::EventFd>,
    name: Name,
    listener: Listener,
    poller: sys::Poller,
    service: Arc<dyn Service>,
    pending: HashMap<u64, Pending>,
    per_uid: HashMap<u32, usize>,
    next_token: u64,
    /// Set while the listener rests after descriptor exhaustion.
    paused_until: Option<Instant>,
    /// When accepting first failed for lack of descriptors, since the last connection accepted.
    out_of_fds_since: Option<Instant>,
    spin: Spin,
    /// How long the thread waited for its last events.
    idle: Duration,
}

/// When the acceptor thread looks for its next event without sleeping (issue 13). A sleeping
/// thread is woken by each connection, and on a virtual machine waking an idle CPU takes tens
/// of microseconds, about as long as the handshake itself; a client that opens, works and
/// closes in a loop waits that long each time. The thread spins:
/// - only when the process may run on more than one CPU (the clients need one too);
/// - only while the last connection came within [`ACCEPT_SPIN`] of the thread's being free
///   for it (its wake-up included), or was already waiting: a server whose clients come
///   further apart than that never spins;
/// - for at most [`ACCEPT_SPIN`] at a time; a spin that finds nothing ends the streak, as does
///   a round of events with no connection or request in it (a mailslot's records alone), so
///   the end of a burst costs one spin and the thread then sleeps until the next connection;
/// - yielding its CPU between looks: a thread queued on the same CPU (often the server thread
///   whose ConnectNamedPipe this thread has just ended) runs at once instead of after the
///   spin. This measured 0-20% more connections per second than a spin that keeps the CPU.
#[derive(Debug)]
struct Spin {
    allowed: bool,
    streak: bool,
}

impl Spin {
    fn new(cpus: u32) -> Spin {
        Spin {
            allowed: cpus > 1,
            streak: false,
        }
    }

    /// A connection was accepted after the thread had waited `idle` for it (zero: it was
    /// waiting already).
    fn accepted(&mut self, idle: Duration) {
        self.streak = self.allowed && idle <= ACCEPT_SPIN;
    }

    /// How long to look for the next event before sleeping (zero: sleep at once).
    fn budget(&self) -> Duration {
        if self.streak {
            ACCEPT_SPIN
        } else {
            Duration::ZERO
        }
    }

    /// A spin found nothing, or the thread was woken by something else than connections: the
    /// burst is over.
    fn end_streak(&mut self) {
        self.streak = false;
    }
}

impl Loop {
    fn run(&mut self) {
        let mut ready = Vec::with_capacity(64);
        loop {
            let deadline = self
                .pending
                .values()
                .map(|p| p.deadline)
                .chain(self.paused_until)
                .min();
            ready.clear();
            let free = Instant::now();
            if self.spin_for_events(&mut ready).is_err()
                || (ready.is_empty() && self.poller.wait(deadline, &mut ready).is_err())
            {
                // Nothing sensible to do but stop serving; the name goes with the thread.
                return;
            }
            self.idle = free.elapsed();
            if !ready
                .iter()
                .any(|e| e.token == TOKEN_LISTENER || e.token >= TOKEN_FIRST_PENDING)
            {
                // Not a connection's doing (a mailslot's records): no reason to spin.
                self.spin.end_streak();
            }
            for ev in &ready {
                match ev.token {
                    TOKEN_STOP => return,
                    TOKEN_LISTENER => self.accept_batch(),
                    TOKEN_EXTRA => self.service.extra_ready(),
                    t => self.on_pending(t),
                }
            }
            self.expire();
        }
    }

    /// Looks for events without sleeping for as long as [`Spin`] allows; `ready` stays empty
    /// when none came.
    fn spin_for_events(&mut self, ready: &mut Vec<sys::Event>) -> Result<(), sys::Errno> {
        let budget = self.spin.budget();
        if budget.is_zero() {
            return Ok(());
        }
        let start = Instant::now();
        let end = start + budget;
        loop {
            // A deadline that has passed: epoll looks without waiting.
            self.poller.wait(Some(start), ready)?;
            if !ready.is_empty() {
                return Ok(());
            }
            if Instant::now() >= end {
                self.spin.end_streak();
                return Ok(());
            }
            // Yield, not a pause: see `Spin`.
            std::thread::yield_now();
        }
    }

    /// Accepts up to a batch of connections.
    fn accept_batch(&mut self) {
        // The first connection came after the thread had waited `self.idle` (with whatever
        // else came in the same round); the others were waiting already.
        let mut idle = self.idle;
        let mut shed = false;
        for _ in 0..ACCEPT_BATCH {
            match sys::accept(self.listener.fd()) {
                Ok(sock) => {
                    if self.out_of_fds_since.take().is_some() {
                        // The reserve may have gone to another thread during the shortage.
                        sys::keep_reserve();
                    }
                    self.spin.accepted(idle);
                    idle = Duration::ZERO;
                    self.admit(sock);
                }
                Err(sys::Errno::AGAIN) => return,
                Err(
                    sys::Errno::MFILE | sys::Errno::NFILE | sys::Errno::NOBUFS | sys::Errno::NOMEM,
                ) => {
                    // Out of descriptors: give back what serves nobody, and look again.
                    if !shed {
                        shed = true;
                        self.service.shed();
                        continue;
                    }
                    // Still out. Once that has lasted [`REFUSE_AFTER`], the clients waiting in
                    // the backlog are told, through the reserve descriptor, with the error the
                    // server's own calls give for EMFILE (they would otherwise wait there until
                    // their open gives up, 10 s); a shorter shortage they wait out. Then rest
                    // instead of spinning on a listener that stays readable.
                    let now = Instant::now();
                    let since = *self.out_of_fds_since.get_or_insert(now);
                    if now.duration_since(since) >= REFUSE_AFTER {
                        for _ in 0..ACCEPT_BATCH {
                            let listener = self.listener.fd();
                            if sys::accept_reserved(listener, refuse_for_lack).is_none() {
                                break;
                            }
                        }
                    }
                    self.pause();
                    return;
                }
                // ECONNABORTED and the like concern one connection only.
                Err(_) => {}
            }
        }
    }

    fn pause(&mut self) {
        if self
            .poller
            .modify(self.listener.fd(), TOKEN_LISTENER, false)
            .is_ok()
        {
            self.paused_until = Some(Instant::now() + FD_BACKOFF);
        }
    }

    /// Checks a new connection's credentials and either reads its request at once (it is
    /// usually there already) or makes it pending.
    fn admit(&mut self, sock: OwnedFd) {
        let Ok(peer) = sys::peer_cred(sock.as_fd()) else {
            return;
        };
        let denied = !admitted(self.service.as_ref(), &sock, &peer);
        let Some(sock) = self.try_request(sock, peer, denied) else {
            return;
        };
        let mine = self.per_uid.get(&peer.uid).copied().unwrap_or(0);
        if mine >= MAX_PENDING_PER_UID || self.pending.len() >= MAX_PENDING {
            return refuse(
                &sock,
                if denied {
                    ERROR_ACCESS_DENIED
                } else {
                    ERROR_PIPE_BUSY
                },
            );
        }
        self.track(sock, peer, Instant::now() + HANDSHAKE_TIMEOUT, denied);
    }

    /// Makes a connection pending: watched for its request until `deadline`.
    fn track(&mut self, sock: OwnedFd, peer: PeerCred, deadline: Instant, denied: bool) {
        let token = self.next_token;
        self.next_token += 1;
        if self.poller.add(sock.as_fd(), token, true).is_err() {
            return refuse(&sock, ERROR_NOT_ENOUGH_MEMORY);
        }
        *self.per_uid.entry(peer.uid).or_insert(0) += 1;
        self.pending.insert(
            token,
            Pending {
                sock,
                peer,
                deadline,
                denied,
            },
        );
    }

    /// Reads the request if it is there: hands it over (or refuses it; always when `denied`)
    /// and returns `None`; returns the socket when nothing has arrived yet.
    fn try_request(&self, sock: OwnedFd, peer: PeerCred, denied: bool) -> Option<OwnedFd> {
        let mut buf = [0u8; control::MAX_REQ];
        let mut fds = Vec::new();
        let n = match sys::recv_packet_nowait(sock.as_fd(), &mut buf, &mut fds) {
            Err(sys::Errno::AGAIN) => return Some(sock),
            Ok(0) => return None,
            Ok(n) => n,
            Err(_) => {
                refuse(&sock, ERROR_INVALID_DATA);
                return None;
            }
        };
        // A request carries no descriptors; any that came are closed here.
        drop(fds);
        if denied {
            // Read, so the refusal reaches the peer (see the module docs).
            refuse(&sock, ERROR_ACCESS_DENIED);
            return None;
        }
        let Ok(req) = Request::decode(&buf[..n]) else {
            refuse(&sock, ERROR_INVALID_DATA);
            return None;
        };
        if req.kind == ReqKind::Describe {
            // The decoder made sure it names nothing; the reply goes out without waiting and
            // the socket closes with this call.
            match self.service.describe() {
                Ok(d) => {
                    let _ =
                        sys::send_packet_nowait(sock.as_fd(), &Reply::Described(d).encode(), &[]);
                }
                Err(code) => refuse(&sock, code),
            }
            return None;
        }
        match namespace::parse(&req.name, self.name.kind) {
            Ok(n) if n.folded == self.name.folded => self.service.request(sock, req, peer),
            _ => refuse(&sock, ERROR_FILE_NOT_FOUND),
        }
        None
    }

    fn forget(&mut self, token: u64) -> Option<Pending> {
        let p = self.pending.remove(&token)?;
        let _ = self.poller.delete(p.sock.as_fd());
        if let Some(n) = self.per_uid.get_mut(&p.peer.uid) {
            *n -= 1;
            if *n == 0 {
                self.per_uid.remove(&p.peer.uid);
            }
        }
        Some(p)
    }

    fn on_pending(&mut self, token: u64) {
        let Some(p) = self.forget(token) else {
            return;
        };
        let deadline = p.deadline;
        if let Some(sock) = self.try_request(p.sock, p.peer, p.denied) {
            // Woken without a packet to read: keep waiting for it, with the same deadline.
            self.track(sock, p.peer, deadline, p.denied);
        }
    }

    /// Drops connections whose request did not come in time, and wakes the listener after a
    /// rest.
    fn expire(&mut self) {
        let now = Instant::now();
        let late: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(&t, _)| t)
            .collect();
        for t in late {
            if let Some(p) = self.forget(t) {
                refuse(
                    &p.sock,
                    if p.denied {
                        ERROR_ACCESS_DENIED
                    } else {
                        ERROR_INVALID_DATA
                    },
                );
            }
        }
        if self.paused_until.is_some_and(|d| d <= now)
            && self
                .poller
                .modify(self.listener.fd(), TOKEN_LISTENER, true)
                .is_ok()
        {
            self.paused_until = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLOSE: Duration = Duration::from_micros(40);
    const APART: Duration = Duration::from_millis(2);

    #[test]
    fn connections_further_apart_than_a_spin_never_make_the_thread_spin() {
        let mut s = Spin::new(2);
        for _ in 0..100 {
            s.accepted(APART);
            assert_eq!(s.budget(), Duration::ZERO);
        }
    }

    #[test]
    fn a_burst_spins_until_a_spin_finds_nothing_or_a_connection_comes_late() {
        let mut s = Spin::new(2);
        s.accepted(APART);
        assert_eq!(s.budget(), Duration::ZERO, "one connection is no burst");
        s.accepted(CLOSE);
        assert_eq!(s.budget(), ACCEPT_SPIN);
        s.accepted(Duration::ZERO);
        assert_eq!(
            s.budget(),
            ACCEPT_SPIN,
            "a connection that was waiting already"
        );
        // The burst ends: one spin finds nothing, and the thread sleeps from then on, even
        // for events that are not connections.
        s.end_streak();
        assert_eq!(s.budget(), Duration::ZERO);
        s.accepted(CLOSE);
        assert_eq!(s.budget(), ACCEPT_SPIN);
        s.accepted(APART);
        assert_eq!(
            s.budget(),
            Duration::ZERO,
            "a late connection ends the streak"
        );
    }

    #[test]
    fn with_one_cpu_the_thread_never_spins() {
        let mut s = Spin::new(1);
        for _ in 0..10 {
            s.accepted(Duration::ZERO);
            assert_eq!(s.budget(), Duration::ZERO);
        }
    }
}
