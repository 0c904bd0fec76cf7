//! Events: the signalled state behind `CreateEvent`, process-local ([`Local`]) or shared by
//! every process that creates or opens a name ([`Shared`]), and the wait that takes any or all
//! of several of them at once ([`wait`]).
//!
//! # The state machine (both flavours)
//! An event is a state (set or not, manual or auto reset) plus the waiters registered on it.
//! Windows releases waiters *at the moment* of a SetEvent or PulseEvent: a manual SetEvent
//! releases every thread waiting then, even if ResetEvent follows at once; an auto SetEvent
//! with a thread waiting releases that thread and leaves the event reset; PulseEvent releases
//! the waiters of that moment (all, or one for auto) and leaves the event reset. A sleeper here
//! wakes some time after the call, so a release is recorded, under the event's lock, where the
//! waiter will find it:
//! - every waiter registers (per process *slot*: a count of waiters) and remembers the event's
//!   release generation `gen`; a release bumps `gen`, so "registered before the release" is
//!   `my gen != gen`, and marks every registered waiter *old* (`old = waiters` per slot);
//! - manual: an old waiter is released (it claims: `old -= 1`);
//! - auto: a release gives one *token* to a slot with an old waiter that has none (tokens never
//!   outnumber old waiters); an old waiter of that slot claims it. Tokens of SetEvent and of
//!   PulseEvent are counted apart: a waiter that leaves while it could have claimed one (it took
//!   another object of a wait-any) hands a SetEvent token to the next waiter, or sets the event
//!   if nobody waits (a SetEvent is never lost), and drops a PulseEvent token;
//! - the state word is only the *persistent* signal: set when a manual event is set, or an auto
//!   one with nobody to release;
//! - only wait-any waiters take auto releases; a wait-all waiter of an auto event just looks at
//!   the state. A manual release satisfies a wait-all only if its other objects are signalled
//!   when it looks; otherwise it goes on waiting as a new waiter (on Windows, only if they are
//!   at the moment of the release: an approximation, by the time of a wake-up).
//!
//! Two eventfds per event keep sleepers pollable: the *state* descriptor counts 1 exactly
//! while the state is set (the descriptor `npipe_wait_fd` hands out; a local event's may lag
//! while nobody polls it, and is brought in step before anyone does), and the *release*
//! descriptor counts 1 while a release has not been claimed by every waiter it released (the
//! "window"). Both change only under the event's lock, together with the words (a local
//! event that nothing watches, no wait registered and nobody polling its state descriptor,
//! changes its state without the lock: see `Local::word`). A waiter polls
//! both; one woken by a window that is not for it backs off (1 ms doubling to 32 ms, still
//! polling the state descriptors) instead of spinning until the released waiters claim.
//!
//! # The shared flavour (named events)
//! - The creating process binds the abstract address of the name (`NS/event/Local\NAME`, see
//!   `namespace.rs`) and serves it with the generic acceptor ([`super::acceptor`]): credentials
//!   are checked at accept (same uid or root), and an OPEN request is answered with `Connected`
//!   (a [`PipeInfo`] whose `message_type` is the manual-reset flag and `caps[0]` the page size)
//!   carrying three descriptors: the state page (a sealed memfd of one page), the state eventfd
//!   and the release eventfd. They are the same files in every process. An opener checks that
//!   it got exactly those (memfd seals and size, `eventfd-count` in fdinfo), that the server runs
//!   as its uid or root, and validates the page header.
//! - The page holds the words above (magic, version, size, manual flag, state, `gen`, one slot
//!   per waiting process). Every process locks it with an OFD lock on its *own* open file
//!   description of the memfd (see `sys::shared_event` for why not a robust pthread mutex),
//!   after a process-local mutex that serialises its own threads; the wait for the OFD lock is
//!   bounded (5 s, then ERROR_POSSIBLE_DEADLOCK), so a peer that holds it for ever cannot hang a
//!   SetEvent. A `busy` word set while the lock is held tells the next locker that a holder died
//!   in the middle of an update: it clamps the slot counts, drops dead slots and re-derives both
//!   eventfds from the words.
//! - A process takes a slot the first time it waits: slot `s` is its while it holds the OFD lock
//!   on byte `LOCK_SLOT0 + s` of its description. Whether a slot's owner lives is that lock
//!   (`F_OFD_GETLK`), never a pid, so a waiter killed in a wait cannot keep a release or a window
//!   for ever: releases skip and sweeps clear slots whose owner is gone. 252 slots fit the
//!   page; a process that finds none waits on the state alone (SetEvent still wakes it, but a
//!   PulseEvent or a SetEvent followed at once by ResetEvent may pass it by).
//! - Every value read from the page is checked before it is used (header fields exact, state 0
//!   or 1, per slot `tokens <= old <= waiters <= 2^24`): a bad value is an error
//!   (`InvalidData`, ERROR_INVALID_DATA), never an out-of-bounds access, a panic or a hang.
//!   A peer of the same uid can still do what any holder of the event can: set it, reset it,
//!   release our waiters, or read the eventfds empty (then a waiter sleeps until the next
//!   change, as after a ResetEvent).
//! - Lifetime of the name: it is served by the creating process for as long as that process
//!   has a handle *or* another process holds one: an opener keeps its handshake socket open
//!   while it has the event, and the server watches those sockets for hang-up (an epoll set
//!   inside the acceptor's loop; at most 4096 are kept, a bound on what other processes can
//!   make the creator hold). When the last one goes and the creator has no handle left,
//!   the acceptor stops and the name is free (a later OpenEvent fails with
//!   ERROR_FILE_NOT_FOUND, as on Windows). **Departure**: the name cannot outlive the creating
//!   process. When it dies, the handles other processes hold keep working on the shared state
//!   (the page and eventfds are theirs too), and a process that holds one still finds its
//!   event by name, but in a process without a handle OpenEvent of the name fails with
//!   ERROR_FILE_NOT_FOUND and CreateEvent makes a new, different event.
//! - One [`Shared`] per event per process (a registry by address, and one creation at a time
//!   in a process), so handles of one process share its local lock, its slot and its
//!   connection.
//!
//! # Why this design
//! - The state lives in shared memory that every process maps, not in the creating process
//!   behind requests: SetEvent and a wait that finds the event set cost two `fcntl`s and no
//!   round trip, and the state outlives the creating process for everyone who holds it.
//! - The name is an abstract socket served by the creator, like a pipe's: nothing on disk,
//!   nothing stale after a crash, the same credential check as pipes, and hang-ups tell the
//!   creator who still holds the event.
//! - Locks are kernel objects (OFD locks) because every process can write the page.
//! - Releases are recorded (generations, slots, tokens) rather than left to a race between a
//!   set and a reset, which is what made PulseEvent miss waiters.
//!
//! # Fork
//! Every lock section of every event (local or shared) holds a process-wide gate for reading
//! (a local event's lock-free change of its state word is one atomic instruction, whole or not
//! at all in a child, and takes no gate);
//! the `pthread_atfork` prepare handler takes the creation lock, the event registry and then
//! the gate for writing, so no thread is inside an event's lock when the process forks (the
//! rule of `fork.rs`). In the child:
//! - each shared event gets a new open file description of its memfd (the inherited one, and
//!   with it the parent's slot lock, is closed) and no slot: the child takes its own the first
//!   time it waits;
//! - process-local events start a new epoch: the waiters their words count are the parent's
//!   threads, which the child does not have, so they are forgotten, and the child polls new
//!   eventfds (the inherited ones stay the parent's);
//! - a forked child does not serve its parent's names.

mod fork;
mod local;
mod page;
mod shared;
mod state;
mod wait;

use fork::*;

/// Registers the events' fork handlers (called when the library is loaded; see
/// `semantics::fork`).
pub(super) fn install_fork_handlers_at_load() {
    install_fork_handlers();
}
pub(crate) use local::*;
pub(crate) use page::*;
pub(crate) use shared::*;
use state::*;
pub(crate) use wait::*;

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard, Weak};
use std::time::{Duration, Instant};

use crate::error::{code::*, Error};
use crate::semantics::acceptor::{refuse, Acceptor, Listener, Service};
use crate::semantics::namespace::{self, Name};
use crate::semantics::pipe::{err, os_err, request_open, Opened, Trust, ACCESS_INBOUND};
use crate::sys::{self, PeerCred};
use crate::transport::control::{Area, PipeInfo, Reply, ReqKind, Request};

/// ERROR_POSSIBLE_DEADLOCK: the shared state stayed locked by another process too long.
pub(crate) const ERROR_POSSIBLE_DEADLOCK: u32 = 1131;

/// Held for reading by every lock section of every event, and for writing by the fork
/// prepare handler (see the module docs).
static GATE: RwLock<()> = RwLock::new(());

fn gate() -> RwLockReadGuard<'static, ()> {
    GATE.read().unwrap_or_else(|p| p.into_inner())
}
