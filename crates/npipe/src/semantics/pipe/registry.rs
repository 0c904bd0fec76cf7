//! The registry of pipe names this process serves: each pipe's instance slots (the
//! LISTENING / CONNECTED / DISCONNECTED state machine), its listening FIFO and parked waiters,
//! and the answers to client handshakes (the acceptor thread of `semantics::acceptor` delivers
//! them). `server` owns the instance handle ([`ServerEnd`]) that works on these slots.
//!
//! All mutable server state of the process sits behind one lock, [`registry`]. It is held only
//! for short bookkeeping (never across a sleep or a join), and a fork handler can take it, so a
//! child forked while other threads were inside the library never inherits it locked (see
//! `semantics::fork`). The data path takes it only when an instance's cached connection is out
//! of date.

use std::collections::{BTreeMap, VecDeque};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::*;
use crate::semantics::acceptor::{refuse, Acceptor, Service};
use crate::semantics::namespace::{self, Kind, Name};
use crate::semantics::remote::{self, RemoteIdentity};
use crate::semantics::security::{self, Policy};
use crate::sys::PeerCred;
use crate::transport::control::{self, Area, Described, Object, PipeInfo, Reply, ReqKind, Request};
use crate::transport::queue::{normal_wins, recycle, Conn};

/// WaitNamedPipe clients one pipe keeps parked; further ones are told to ask again shortly.
pub(crate) const MAX_PARKED: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SlotState {
    Listening,
    Connected,
    Disconnected,
}

#[derive(Debug)]
pub(crate) struct Slot {
    pub(super) state: SlotState,
    pub(super) conn: Option<Arc<Conn>>,
    /// The connected client's identity when it is a remote (SMB) client.
    pub(super) remote: Option<Arc<RemoteIdentity>>,
    /// PIPE_REJECT_REMOTE_CLIENTS for this instance.
    pub(super) reject_remote: bool,
    /// Bumped (under the registry lock) whenever `state` or `conn` changes, or the slot goes
    /// away; shared with the instance's [`ServerEnd`], whose data path trusts its cached
    /// connection while it is unchanged, and which sleeps on it (a futex word) while it
    /// listens, so a new client wakes exactly the thread waiting on that instance.
    pub(super) epoch: Arc<SlotEpoch>,
    /// The queue the next client of this instance gets, made ahead of time by the thread that
    /// created or disconnected the instance, so neither the acceptor nor the client waits for
    /// that work during the handshake.
    pub(super) queue: Option<(Conn, OwnedFd)>,
}

/// See [`Slot::epoch`].
#[derive(Debug, Default)]
pub(super) struct SlotEpoch {
    /// The change counter (a futex word). Only equality is compared, so wrapping is harmless.
    pub(super) value: AtomicU32,
    /// Threads sleeping on `value` in `ServerEnd::connect`; changed under the registry lock.
    pub(super) sleepers: AtomicU32,
    /// The instance's readiness signal (made on first need, see `steps`): signalled on every
    /// change, so an overlapped ConnectNamedPipe learns that a client arrived.
    pub(super) signal: std::sync::OnceLock<Arc<sys::EventFd>>,
    /// Whether the server has the current client's security context for
    /// ImpersonateNamedPipeClient: from its open when it asked for static tracking
    /// (`control::context_at_open`), else once the server has read from it (W133). Set or
    /// cleared when a client connects.
    pub(super) read_from_client: AtomicBool,
    /// The connected client's pid as seen from this process; 0 while none is connected, or
    /// when it is not visible from our pid namespace, or for a remote client. Changed under
    /// the registry lock; read without it (every overlapped call asks whether its peer is in
    /// this process).
    pub(super) client_pid: AtomicU32,
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

    pub(super) fn changed(&self) {
        self.changed_later().wake();
    }

    /// The change of [`Slot::changed`] with the futex wake-up left to the caller, who does it
    /// with [`SlotEpoch::wake`] once it has released the registry lock: a thread woken while
    /// the lock is still held would only block on it at once (the acceptor's handshake, which
    /// wakes the thread waiting in ConnectNamedPipe, would cost that thread two sleeps instead
    /// of one). The readiness signal is signalled here, under the lock: whoever sees the change
    /// has seen it signalled, so a signal never arrives after an event loop has cleared its
    /// descriptor and looked (which would be a spurious readiness for its next operation).
    pub(super) fn changed_later(&self) -> Arc<SlotEpoch> {
        // SYNC POINT with the Acquire load in `ServerEnd::with_conn`; the registry lock orders
        // the change itself, and the sleeper count, with `ServerEnd::connect`.
        self.epoch.value.fetch_add(1, Ordering::Release);
        if let Some(s) = self.epoch.signal.get() {
            s.signal();
        }
        self.epoch.clone()
    }
}

impl SlotEpoch {
    /// Wakes the threads sleeping on the change counter after a change made under the
    /// registry lock (held or already released: a sleeper counted under the lock before the
    /// change is still counted, and one that counts itself after it has read the new value
    /// and does not sleep on the old one). A wake-up that comes late only makes a later sleeper
    /// look at its instance again.
    pub(super) fn wake(&self) {
        // Relaxed: the registry lock ordered the count with the change (see above).
        if self.sleepers.load(Ordering::Relaxed) != 0 {
            sys::futex_wake(&self.value, u32::MAX);
        }
    }
}

/// The mutable state of one served pipe.
#[derive(Debug)]
pub(super) struct PipeState {
    pub(super) slots: BTreeMap<u64, Slot>,
    /// Listening instances, FIFO by the time each started listening (W53-W54).
    pub(super) listeners: VecDeque<u64>,
    /// WaitNamedPipe clients waiting for an instance to listen (W30).
    pub(super) parked: Vec<OwnedFd>,
    pub(super) next_slot: u64,
    pub(super) acceptor: Option<Acceptor>,
}

/// One pipe name served by this process: what never changes.
#[derive(Debug)]
pub(super) struct Pipe {
    /// The registry key of its [`PipeState`].
    pub(super) id: u64,
    pub(super) name: Name,
    pub(super) addr: Vec<u8>,
    pub(super) params: PipeParams,
    /// Who may open it (fixed by the first instance, W134).
    pub(super) policy: Arc<Policy>,
    /// The uid that created it (the policy's owner).
    pub(super) owner: u32,
}

/// What an address in the registry stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Addr {
    /// A served pipe.
    Live(u64),
    /// A pipe whose last instance closed and whose acceptor is being stopped: a create waits
    /// until the listener is gone.
    Closing(u64),
}

/// Every pipe this process serves.
#[derive(Debug)]
pub(crate) struct Registry {
    pub(super) pipes: BTreeMap<u64, (Arc<Pipe>, PipeState)>,
    pub(super) by_addr: BTreeMap<Vec<u8>, Addr>,
    pub(super) next_pipe: u64,
}

impl Registry {
    pub(super) fn state(&mut self, pipe: u64) -> Option<&mut PipeState> {
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

/// The parameters of the pipe `name` (`\\.\pipe\NAME`) when this process serves it now.
pub(crate) fn served_here(name: &str) -> Option<PipeParams> {
    let n = namespace::parse(name, Kind::Pipe).ok()?;
    let reg = registry();
    match reg.by_addr.get(&n.address())? {
        Addr::Live(id) => reg.pipes.get(id).map(|(p, _)| p.params),
        Addr::Closing(_) => None,
    }
}

/// Whether the remote client `r` could open the pipe `name` served here with `access` (the
/// SMB relay asks before it answers smbd, so that a refusal fails the SMB open itself): the
/// pipe's access policy grants it, and some instance accepts remote clients. `None` when this
/// process does not serve `name`. The open itself checks again, against the instance it gets.
pub(crate) fn remote_admitted(name: &str, r: &RemoteIdentity, access: u32) -> Option<bool> {
    let n = namespace::parse(name, Kind::Pipe).ok()?;
    let reg = registry();
    let Addr::Live(id) = reg.by_addr.get(&n.address())? else {
        return None;
    };
    let (pipe, st) = reg.pipes.get(id)?;
    let some_accepts = st.slots.values().any(|s| !s.reject_remote);
    Some(some_accepts && security::check_remote(&pipe.policy, pipe.owner, r, access))
}

impl Pipe {
    pub(super) fn info(&self, st: &PipeState) -> PipeInfo {
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
    pub(super) fn wake_parked(st: &mut PipeState) {
        let ready = Reply::Ready.encode();
        for fd in st.parked.drain(..) {
            let _ = sys::send_packet_nowait(fd.as_fd(), &ready, &[]);
        }
    }

    pub(super) fn publish_instances(st: &PipeState) {
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
    pub(super) fn make_queue(&self) -> Option<(Conn, OwnedFd)> {
        Self::queue_for(&self.params)
    }

    /// [`make_queue`](Self::make_queue) for a pipe with `params` that may not exist yet.
    pub(super) fn queue_for(params: &PipeParams) -> Option<(Conn, OwnedFd)> {
        let (caps, wins) = Self::geometry(params);
        Conn::create(None, caps, wins, 0).ok()
    }

    /// The ring capacities and record windows of a connection of a pipe with `params`.
    fn geometry(params: &PipeParams) -> ([u64; 2], [u64; 2]) {
        let caps = [ring_for(params.out_quota), ring_for(params.in_quota)];
        let wins = [win_for(params.out_quota), win_for(params.in_quota)];
        (caps, normal_wins(caps, wins))
    }

    /// Parks a WaitNamedPipe client until an instance listens, if there is room (W30).
    pub(super) fn park(&self, st: &mut PipeState, sock: OwnedFd) {
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

    /// An OPEN: the head of the listening FIFO gets the client (W32, W53-W55, W22). A remote
    /// client (`remote`, see `semantics::remote`) is judged by its own identity, and an
    /// instance that rejects remote clients refuses it. Returns the instance's change counter
    /// when it got a client: the caller wakes it ([`SlotEpoch::wake`]) after releasing the
    /// registry lock.
    ///
    /// A local client's connection may get an area it parked earlier with this process
    /// (`claims`, see `transport::queue::recycle`) instead of the instance's new one.
    pub(super) fn open(
        &self,
        st: &mut PipeState,
        sock: OwnedFd,
        desired: super::Desired,
        peer: PeerCred,
        remote: Option<Arc<RemoteIdentity>>,
        claims: Option<&[u64]>,
    ) -> Option<Arc<SlotEpoch>> {
        let (access, sqos) = (desired.access, desired.sqos);
        let Some(&id) = st.listeners.front() else {
            refuse(&sock, ERROR_PIPE_BUSY);
            return None;
        };
        let allowed = match &remote {
            None => security::check(&self.policy, self.owner, sock.as_fd(), &peer, Some(access)),
            Some(r) => {
                let rejects = st.slots.get(&id).is_some_and(|s| s.reject_remote);
                !rejects && security::check_remote(&self.policy, self.owner, r, access)
            }
        };
        if !allowed {
            refuse(&sock, ERROR_ACCESS_DENIED);
            return None;
        }
        let d = self.params.direction;
        if (access & READ_BITS != 0 && d & ACCESS_OUTBOUND == 0)
            || (access & WRITE_BITS != 0 && d & ACCESS_INBOUND == 0)
        {
            refuse(&sock, ERROR_ACCESS_DENIED);
            return None;
        }
        let info = self.info(st);
        // Areas are kept only between two local processes that both know who the other is,
        // and for a client that knows areas (its request has the claims field).
        let client = peer.pid.filter(|_| remote.is_none() && claims.is_some());
        let claims = claims.unwrap_or_default();
        let reused = client.and_then(|pid| {
            let (caps, wins) = Self::geometry(&self.params);
            recycle::take_server(pid, peer.uid, claims, caps, wins)
        });
        let (mut conn, memfd, area) = match reused {
            Some(p) => {
                let key = p.tag.key;
                let Ok(conn) = Conn::reuse(p, info.cur_instances) else {
                    refuse(&sock, ERROR_NOT_ENOUGH_MEMORY);
                    return None;
                };
                (conn, None, Area { key, reused: true })
            }
            None => {
                let made = st.slots.get_mut(&id).and_then(|s| s.queue.take());
                let Some((conn, memfd)) = made.or_else(|| self.make_queue()) else {
                    refuse(&sock, ERROR_NOT_ENOUGH_MEMORY);
                    return None;
                };
                let key = client.map_or(0, |_| recycle::new_key());
                (conn, Some(memfd), Area { key, reused: false })
            }
        };
        conn.set_cur_instances(info.cur_instances);
        conn.set_ctl(sock);
        let ctl = conn.ctl()?;
        let fds: Vec<_> = memfd.iter().map(|m| m.as_fd()).collect();
        // A fresh socket's buffer is empty, so this send cannot block; a client that already
        // went away makes it fail, and the instance keeps listening (a reused area is unmapped
        // then: the client's claim says it parked it, but it may never come back).
        let reply = Reply::Connected(info, client.map(|_| area));
        if sys::send_packet_nowait(ctl.as_fd(), &reply.encode(), &fds).is_err() {
            return None;
        }
        if let (Some(pid), true) = (client, area.key != 0) {
            conn.set_recycle(recycle::Tag {
                peer_pid: pid,
                peer_uid: peer.uid,
                key: area.key,
            });
        }
        st.listeners.pop_front();
        let conn = Arc::new(conn);
        conn.watch();
        let slot = st.slots.get_mut(&id)?;
        slot.state = SlotState::Connected;
        slot.conn = Some(conn);
        let pid = if remote.is_some() { None } else { peer.pid };
        // Release: pairs with the Acquire load in `ServerEnd::client_pid`, which finds the
        // client connected once it sees its pid.
        slot.epoch
            .client_pid
            .store(pid.unwrap_or(0), Ordering::Release);
        slot.remote = remote;
        // Nothing is read from this client yet (W133): a read marks it once it has the
        // connection, which is after this (under the same lock); a client that asked for
        // static tracking gave its context with the open. Relaxed: set under the registry
        // lock before the change is published.
        slot.epoch
            .read_from_client
            .store(control::context_at_open(sqos), Ordering::Relaxed);
        Some(slot.changed_later())
    }
}

impl Service for Pipe {
    fn policy(&self) -> Option<(&Policy, u32)> {
        Some((&self.policy, self.owner))
    }

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
        let desired = super::Desired {
            access: req.access,
            sqos: req.sqos,
        };
        // The instance an open connected, whose ConnectNamedPipe is woken after the lock.
        let woken = match req.kind {
            ReqKind::Query => {
                let info = Reply::Info(self.info(st)).encode();
                let _ = sys::send_packet_nowait(sock.as_fd(), &info, &[]);
                None
            }
            ReqKind::Wait if !st.listeners.is_empty() => {
                let _ = sys::send_packet_nowait(sock.as_fd(), &Reply::Ready.encode(), &[]);
                None
            }
            ReqKind::Wait => {
                self.park(st, sock);
                None
            }
            ReqKind::Open => self.open(st, sock, desired, peer, None, req.claims.as_deref()),
            ReqKind::OpenRemote => match remote::claim(req.token, &peer) {
                Some(r) => self.open(st, sock, desired, peer, Some(r), None),
                // Not this process, or a token nobody registered: nobody's identity to take.
                None => {
                    refuse(&sock, ERROR_ACCESS_DENIED);
                    None
                }
            },
            // Answered by the acceptor through `describe`.
            ReqKind::Describe => {
                refuse(&sock, ERROR_INVALID_FUNCTION);
                None
            }
        };
        drop(reg);
        if let Some(e) = woken {
            e.wake();
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
