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
//! while the state is set (the descriptor `npipe_wait_fd` hands out), and the *release*
//! descriptor counts 1 while a release has not been claimed by every waiter it released (the
//! "window"). Both change only under the event's lock, together with the words. A waiter polls
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
//! Every lock section of every event (local or shared) holds a process-wide gate for reading;
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

use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard, Weak};
use std::time::{Duration, Instant};

use super::acceptor::{refuse, Acceptor, Service};
use super::namespace::{self, Name};
use super::pipe::{err, os_err, request_open, Opened, Trust, ACCESS_INBOUND};
use crate::error::{code::*, Error};
use crate::sys::{self, PeerCred};
use crate::transport::control::{PipeInfo, Reply, ReqKind, Request};

/// ERROR_POSSIBLE_DEADLOCK: the shared state stayed locked by another process too long.
pub(crate) const ERROR_POSSIBLE_DEADLOCK: u32 = 1131;

// ---------------------------------------------------------------------------------------------
// The state machine.

/// Most waiters one slot may count (a sanity bound on a value other processes can write).
const MAX_WAITERS: u32 = 1 << 24;

/// One process's waiters of one event (the local flavour has exactly one slot).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Slot {
    /// Registered waiters.
    waiters: u32,
    /// Of those, the ones registered before the latest release and not yet done with it.
    old: u32,
    /// Auto-reset releases by SetEvent given to this slot's old waiters, not yet claimed.
    set_tokens: u32,
    /// The same from PulseEvent.
    pulse_tokens: u32,
}

/// What was wrong with a value read from an event's state.
type Bad = &'static str;

impl Slot {
    fn tokens(&self) -> u32 {
        self.set_tokens.saturating_add(self.pulse_tokens)
    }

    /// The slot if its counts are possible.
    fn check(self) -> Result<Slot, Bad> {
        let tokens = self.set_tokens.checked_add(self.pulse_tokens);
        if self.waiters > MAX_WAITERS
            || self.old > self.waiters
            || tokens.is_none_or(|t| t > self.old)
        {
            return Err("impossible waiter counts in a slot");
        }
        Ok(self)
    }

    /// The slot with its counts forced into range (repair after a holder died mid-update).
    fn clamped(mut self) -> Slot {
        self.waiters = self.waiters.min(MAX_WAITERS);
        self.old = self.old.min(self.waiters);
        self.pulse_tokens = self.pulse_tokens.min(self.old);
        self.set_tokens = self.set_tokens.min(self.old - self.pulse_tokens);
        self
    }

    /// Whether a release given to this slot is still to be claimed.
    fn pending(&self, manual: bool) -> bool {
        if manual {
            self.old > 0
        } else {
            self.tokens() > 0
        }
    }
}

/// The words of one event, under its lock. Setters keep the matching eventfd in step.
trait Store {
    fn manual(&self) -> bool;
    fn state(&self) -> Result<bool, Bad>;
    fn put_state(&mut self, set: bool);
    fn gen(&self) -> u64;
    fn put_gen(&mut self, gen: u64);
    fn hint(&self) -> u32;
    fn put_hint(&mut self, hint: u32);
    fn slots(&self) -> usize;
    /// Slot `s`, checked ([`Slot::check`]).
    fn slot(&self, s: usize) -> Result<Slot, Bad>;
    fn put_slot(&mut self, s: usize, v: Slot);
    fn window(&self) -> bool;
    fn put_window(&mut self, open: bool);
    /// Whether slot `s` belongs to a live process (always, for this process's own slot).
    fn alive(&self, s: usize) -> bool;
    /// Makes the state descriptor count 0 (called with the state reset: it polled readable
    /// although nothing set it, which only another process writing it can do).
    fn drain_state_fd(&mut self);
    /// The same for the release descriptor with the window closed.
    fn drain_release_fd(&mut self);
}

/// Brings the descriptors of an event whose state or window is off back to 0 when a poll saw
/// them readable: another process wrote them without changing the words (a hostile peer; a
/// crashed holder is repaired through `busy`). Without this, waiters would spin on them.
fn fix_stale(st: &mut dyn Store, stale: Stale) -> Result<(), Bad> {
    if stale.state && !st.state()? {
        st.drain_state_fd();
    }
    if stale.release && !st.window() {
        st.drain_release_fd();
    }
    Ok(())
}

/// Which of an object's descriptors the last poll saw readable.
#[derive(Debug, Clone, Copy, Default)]
struct Stale {
    state: bool,
    release: bool,
}

/// One waiter's registration on one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Reg {
    /// Its process's slot; `None` when none was free: it then only sees the state.
    slot: Option<usize>,
    /// `gen` when it registered (or last noticed a release it could not use).
    gen: u64,
}

fn bump_old(st: &mut dyn Store) -> Result<(), Bad> {
    st.put_gen(st.gen().wrapping_add(1));
    for s in 0..st.slots() {
        let mut v = st.slot(s)?;
        if v.old != v.waiters {
            v.old = v.waiters;
            st.put_slot(s, v);
        }
    }
    Ok(())
}

/// Releases every waiter registered now (manual SetEvent and PulseEvent).
fn release_all(st: &mut dyn Store) -> Result<(), Bad> {
    for s in 0..st.slots() {
        if st.slot(s)?.waiters > 0 {
            return bump_old(st);
        }
    }
    Ok(())
}

/// Releases one waiter that has no release yet, if there is one (auto SetEvent, PulseEvent).
/// Slots of dead processes met on the way are cleared.
fn release_one(st: &mut dyn Store, pulse: bool) -> Result<bool, Bad> {
    let n = st.slots();
    let start = st.hint() as usize % n;
    let mut chosen = None;
    for k in 0..n {
        let s = (start + k) % n;
        let v = st.slot(s)?;
        if v.waiters > v.tokens() {
            if st.alive(s) {
                chosen = Some(s);
                break;
            }
            st.put_slot(s, Slot::default());
        }
    }
    let Some(s) = chosen else {
        return Ok(false);
    };
    bump_old(st)?;
    let mut v = st.slot(s)?;
    if pulse {
        v.pulse_tokens += 1;
    } else {
        v.set_tokens += 1;
    }
    st.put_slot(s, v.check()?);
    st.put_hint(((s + 1) % n) as u32);
    Ok(true)
}

/// Opens or closes the release window to match the slots.
fn sync_window(st: &mut dyn Store) -> Result<(), Bad> {
    let manual = st.manual();
    let mut open = false;
    for s in 0..st.slots() {
        if st.slot(s)?.pending(manual) {
            open = true;
            break;
        }
    }
    if open != st.window() {
        st.put_window(open);
    }
    Ok(())
}

/// SetEvent.
fn op_set(st: &mut dyn Store) -> Result<(), Bad> {
    if st.manual() {
        release_all(st)?;
        st.put_state(true);
    } else if !st.state()? && !release_one(st, false)? {
        st.put_state(true);
    }
    sync_window(st)
}

/// ResetEvent.
fn op_reset(st: &mut dyn Store) -> Result<(), Bad> {
    st.state()?;
    st.put_state(false);
    Ok(())
}

/// PulseEvent: the releases of a SetEvent, then the event is left reset.
fn op_pulse(st: &mut dyn Store) -> Result<(), Bad> {
    if st.manual() {
        release_all(st)?;
    } else if !st.state()? {
        release_one(st, true)?;
    }
    st.put_state(false);
    sync_window(st)
}

/// Takes the state for a wait that does not register (or has not yet): an auto event is reset.
fn try_take(st: &mut dyn Store) -> Result<bool, Bad> {
    if !st.state()? {
        return Ok(false);
    }
    if !st.manual() {
        st.put_state(false);
    }
    Ok(true)
}

fn register(st: &mut dyn Store, slot: Option<usize>) -> Result<Reg, Bad> {
    let gen = st.gen();
    let slot = match slot {
        Some(s) => {
            let mut v = st.slot(s)?;
            if v.waiters >= MAX_WAITERS {
                None
            } else {
                v.waiters += 1;
                st.put_slot(s, v);
                Some(s)
            }
        }
        None => None,
    };
    Ok(Reg { slot, gen })
}

/// Whether a release is waiting for this waiter.
fn released(st: &dyn Store, reg: Reg) -> Result<bool, Bad> {
    let Some(s) = reg.slot else {
        return Ok(false);
    };
    if reg.gen == st.gen() {
        return Ok(false);
    }
    Ok(st.manual() || st.slot(s)?.tokens() > 0)
}

/// Claims the release [`released`] found and ends the registration.
fn claim(st: &mut dyn Store, reg: Reg) -> Result<(), Bad> {
    let Some(s) = reg.slot else {
        return Ok(());
    };
    let mut v = st.slot(s)?;
    let gone = "a slot counts fewer waiters than wait";
    v.waiters = v.waiters.checked_sub(1).ok_or(gone)?;
    v.old = v.old.checked_sub(1).ok_or(gone)?;
    if !st.manual() {
        if v.set_tokens > 0 {
            v.set_tokens -= 1;
        } else {
            v.pulse_tokens = v.pulse_tokens.checked_sub(1).ok_or(gone)?;
        }
    }
    st.put_slot(s, v.check()?);
    sync_window(st)
}

/// Ends a registration without claiming anything. A release this waiter could have claimed
/// goes to the next waiter (SetEvent; or sets the event when nobody waits) or is dropped
/// (PulseEvent).
fn leave(st: &mut dyn Store, reg: Reg) -> Result<(), Bad> {
    let Some(s) = reg.slot else {
        return Ok(());
    };
    let mut v = st.slot(s)?;
    let gone = "a slot counts fewer waiters than wait";
    v.waiters = v.waiters.checked_sub(1).ok_or(gone)?;
    let mut handover = 0;
    if reg.gen != st.gen() {
        v.old = v.old.checked_sub(1).ok_or(gone)?;
        while v.tokens() > v.old {
            if v.pulse_tokens > 0 {
                v.pulse_tokens -= 1;
            } else {
                v.set_tokens -= 1;
                handover += 1;
            }
        }
    }
    st.put_slot(s, v.check()?);
    for _ in 0..handover {
        if !release_one(st, false)? {
            st.put_state(true);
        }
    }
    sync_window(st)
}

/// A wait-all waiter saw a manual release it cannot use (its other objects are not all
/// signalled): it is done with that release and waits on as a new waiter.
fn notice(st: &mut dyn Store, reg: &mut Reg) -> Result<(), Bad> {
    let Some(s) = reg.slot else {
        return Ok(());
    };
    let gen = st.gen();
    if reg.gen != gen {
        let mut v = st.slot(s)?;
        v.old = v
            .old
            .checked_sub(1)
            .ok_or("a slot counts fewer waiters than wait")?;
        st.put_slot(s, v.check()?);
        reg.gen = gen;
    }
    sync_window(st)
}

/// Clears the slots of processes that are gone, and closes the window if only they held it.
fn sweep(st: &mut dyn Store) -> Result<(), Bad> {
    for s in 0..st.slots() {
        let v = st.slot(s)?;
        if v != Slot::default() && !st.alive(s) {
            st.put_slot(s, Slot::default());
        }
    }
    sync_window(st)
}

// ---------------------------------------------------------------------------------------------
// Fork gate.

/// Held for reading by every lock section of every event, and for writing by the fork
/// prepare handler (see the module docs).
static GATE: RwLock<()> = RwLock::new(());

fn gate() -> RwLockReadGuard<'static, ()> {
    GATE.read().unwrap_or_else(|p| p.into_inner())
}

// ---------------------------------------------------------------------------------------------
// The local flavour.

#[derive(Debug, Default)]
struct LocalWords {
    set: bool,
    gen: u64,
    window: bool,
    slot: Slot,
    /// The [`EPOCH`] of the process these words were last used in.
    epoch: u64,
}

/// Bumped in every forked child (by the fork handler): a process-local event whose words were
/// last used under another epoch is a copy its process inherited, whose waiters (threads of
/// an ancestor) do not exist here and whose eventfds are shared with that ancestor.
static EPOCH: AtomicU64 = AtomicU64::new(0);

fn epoch() -> u64 {
    // Relaxed: written only by the fork child handler, before any other code runs in the child.
    EPOCH.load(Ordering::Relaxed)
}

/// The eventfds of one local event, one per process epoch: a forked child gets descriptors
/// of its own (its parent's stay open, unused, for the object's lifetime), so that its sets
/// and resets never touch the descriptors its parent polls. Append-only, so a borrowed
/// descriptor stays valid as long as the event.
#[derive(Debug, Default)]
struct FdChain {
    head: OnceLock<Box<FdNode>>,
}

#[derive(Debug)]
struct FdNode {
    epoch: u64,
    fd: OwnedFd,
    next: OnceLock<Box<FdNode>>,
}

impl FdChain {
    /// The descriptor of `epoch`, if made.
    fn get(&self, epoch: u64) -> Option<BorrowedFd<'_>> {
        let mut at = &self.head;
        while let Some(n) = at.get() {
            if n.epoch == epoch {
                return Some(n.fd.as_fd());
            }
            at = &n.next;
        }
        None
    }

    /// The descriptor of `epoch`, made with `make` if needed (the caller serialises makers).
    fn get_or_make(
        &self,
        epoch: u64,
        make: impl FnOnce() -> io::Result<OwnedFd>,
    ) -> io::Result<BorrowedFd<'_>> {
        let mut at = &self.head;
        while let Some(n) = at.get() {
            if n.epoch == epoch {
                return Ok(n.fd.as_fd());
            }
            at = &n.next;
        }
        let node = Box::new(FdNode {
            epoch,
            fd: make()?,
            next: OnceLock::new(),
        });
        // The caller serialises makers, so the slot is still empty.
        let _ = at.set(node);
        let n = at.get().expect("set above");
        Ok(n.fd.as_fd())
    }
}

/// A process-local event: an unnamed CreateEvent, the signal of a pipe handle or a thread.
/// Cheap: a mutex and two eventfds made on first need. In a forked child it starts afresh:
/// the parent's waiters are not counted and the child polls descriptors of its own.
#[derive(Debug)]
pub(crate) struct Local {
    manual: bool,
    words: Mutex<LocalWords>,
    /// The state descriptor (1 while set), made when someone first needs to poll it.
    fd: FdChain,
    /// The release descriptor (1 while a release is unclaimed), made at the first registration.
    pulse: FdChain,
}

struct LocalStore<'a> {
    ev: &'a Local,
    w: MutexGuard<'a, LocalWords>,
}

impl Store for LocalStore<'_> {
    fn manual(&self) -> bool {
        self.ev.manual
    }
    fn state(&self) -> Result<bool, Bad> {
        Ok(self.w.set)
    }
    fn put_state(&mut self, set: bool) {
        if self.w.set != set {
            self.w.set = set;
            if let Some(fd) = self.ev.fd.get(self.w.epoch) {
                flip(fd, set);
            }
        }
    }
    fn gen(&self) -> u64 {
        self.w.gen
    }
    fn put_gen(&mut self, gen: u64) {
        self.w.gen = gen;
    }
    fn hint(&self) -> u32 {
        0
    }
    fn put_hint(&mut self, _hint: u32) {}
    fn slots(&self) -> usize {
        1
    }
    fn slot(&self, _s: usize) -> Result<Slot, Bad> {
        Ok(self.w.slot)
    }
    fn put_slot(&mut self, _s: usize, v: Slot) {
        self.w.slot = v;
    }
    fn window(&self) -> bool {
        self.w.window
    }
    fn put_window(&mut self, open: bool) {
        self.w.window = open;
        if let Some(fd) = self.ev.pulse.get(self.w.epoch) {
            flip(fd, open);
        }
    }
    fn alive(&self, _s: usize) -> bool {
        true
    }
    fn drain_state_fd(&mut self) {
        if let Some(fd) = self.ev.fd.get(self.w.epoch) {
            flip(fd, false);
        }
    }
    fn drain_release_fd(&mut self) {
        if let Some(fd) = self.ev.pulse.get(self.w.epoch) {
            flip(fd, false);
        }
    }
}

/// Makes an eventfd count 1 (`on`) or 0.
fn flip(fd: BorrowedFd<'_>, on: bool) {
    if on {
        sys::poke(fd);
    } else {
        sys::eventfd_drain(fd);
    }
}

fn no_fd(e: sys::Errno) -> io::Error {
    err(
        ERROR_NO_SYSTEM_RESOURCES,
        format!(
            "cannot make an eventfd for a wait: {}",
            io::Error::from_raw_os_error(e.raw_os_error())
        ),
    )
}

/// ERROR_NO_SYSTEM_RESOURCES: a descriptor for a wait could not be made.
const ERROR_NO_SYSTEM_RESOURCES: u32 = 1450;

impl Local {
    /// A new event, manual or auto reset, set or not.
    pub(crate) fn new(manual: bool, set: bool) -> Local {
        install_fork_handlers();
        Local {
            manual,
            words: Mutex::new(LocalWords {
                set,
                epoch: epoch(),
                ..LocalWords::default()
            }),
            fd: FdChain::default(),
            pulse: FdChain::default(),
        }
    }

    /// Whether it is a manual-reset event.
    pub(crate) fn manual(&self) -> bool {
        self.manual
    }

    /// The words, locked; in a process that inherited them, forgotten waiters first.
    fn words(&self) -> MutexGuard<'_, LocalWords> {
        let mut w = self.words.lock().unwrap_or_else(|p| p.into_inner());
        let now = epoch();
        if w.epoch != now {
            w.epoch = now;
            w.slot = Slot::default();
            w.window = false;
        }
        w
    }

    fn store(&self) -> LocalStore<'_> {
        LocalStore {
            ev: self,
            w: self.words(),
        }
    }

    fn run<T: Default>(&self, f: impl FnOnce(&mut dyn Store) -> Result<T, Bad>) -> T {
        let _g = gate();
        let mut st = self.store();
        // The local words are only written by this module's functions, which keep them valid,
        // so none of them fails here; a failure would be a bug of this module (loud in debug
        // builds, a no-op in release ones, never a panic across the C ABI).
        let r = f(&mut st);
        debug_assert!(
            r.is_ok(),
            "local event words out of range: {r:?}",
            r = r.as_ref().err()
        );
        r.unwrap_or_default()
    }

    /// SetEvent.
    pub(crate) fn set(&self) {
        self.run(op_set)
    }

    /// ResetEvent.
    pub(crate) fn reset(&self) {
        self.run(op_reset)
    }

    /// PulseEvent.
    pub(crate) fn pulse(&self) {
        self.run(op_pulse)
    }

    /// Whether the state is set (releases to waiters are not a state).
    pub(crate) fn is_set(&self) -> bool {
        self.run(|st| st.state())
    }

    /// Takes the state without waiting (an auto event is reset).
    pub(crate) fn try_take(&self) -> bool {
        self.run(try_take)
    }

    fn lazy_fd<'a>(&'a self, which: &'a FdChain, pulse: bool) -> io::Result<BorrowedFd<'a>> {
        if let Some(fd) = which.get(epoch()) {
            return Ok(fd);
        }
        let _g = gate();
        let w = self.words();
        let on = if pulse { w.window } else { w.set };
        which.get_or_make(w.epoch, || sys::eventfd_at(on).map_err(no_fd))
    }

    /// The state descriptor: polls readable exactly while the state is set.
    pub(crate) fn fd(&self) -> io::Result<BorrowedFd<'_>> {
        self.lazy_fd(&self.fd, false)
    }

    fn pulse_fd(&self) -> io::Result<BorrowedFd<'_>> {
        self.lazy_fd(&self.pulse, true)
    }
}

// ---------------------------------------------------------------------------------------------
// The shared flavour: the page.

const MAGIC: u32 = u32::from_le_bytes(*b"NEV1");
const VERSION: u32 = 1;
const OFF_MAGIC: usize = 0;
const OFF_VERSION: usize = 4;
const OFF_SIZE: usize = 8;
const OFF_MANUAL: usize = 12;
const OFF_STATE: usize = 16;
const OFF_BUSY: usize = 20;
const OFF_HINT: usize = 24;
const OFF_WINDOW: usize = 28;
const OFF_GEN: usize = 32;
const OFF_SLOTS: usize = 64;
const SLOT_BYTES: usize = 16;
/// Processes that can wait on one named event with release accounting at once.
pub(crate) const SLOTS: usize = (sys::EVENT_PAGE - OFF_SLOTS) / SLOT_BYTES;
/// The byte of the memfd whose OFD lock is the event's lock (beyond the end: locks need no
/// file space).
const LOCK_STATE: u64 = 1 << 40;
/// The byte whose OFD lock says "slot 0 is mine"; slot `s` is `LOCK_SLOT0 + s`.
const LOCK_SLOT0: u64 = LOCK_STATE + 1;
/// How long a lock section waits for another process to leave its own.
const LOCK_LIMIT: Duration = Duration::from_secs(5);

const _: () = assert!(OFF_SLOTS + SLOTS * SLOT_BYTES <= sys::EVENT_PAGE);

/// What every process attached to one named event has: the page and the two eventfds.
#[derive(Debug)]
struct Object {
    page: sys::EventPage,
    /// The memfd as created: kept by the serving process to send to openers.
    memfd: Option<OwnedFd>,
    /// The state descriptor.
    state_fd: OwnedFd,
    /// The release descriptor.
    release_fd: OwnedFd,
    manual: bool,
    /// The memfd's inode: the order in which wait-all locks shared events, the same in every
    /// process, and the identity of the event.
    ino: u64,
    name: Name,
}

impl Object {
    /// Checks the header words (they never change after creation).
    fn check_header(&self) -> Result<(), Bad> {
        let p = &self.page;
        // Relaxed: under the event's lock (fenced in `Shared::lock`).
        let r = |off| p.u32_at(off).load(Ordering::Relaxed);
        if r(OFF_MAGIC) != MAGIC || r(OFF_VERSION) != VERSION {
            return Err("bad magic or version");
        }
        if r(OFF_SIZE) as usize != sys::EVENT_PAGE {
            return Err("bad page size");
        }
        if r(OFF_MANUAL) != self.manual as u32 {
            return Err("the reset mode changed");
        }
        Ok(())
    }

    fn bad(&self, what: Bad) -> io::Error {
        Error::io_kind(
            io::ErrorKind::InvalidData,
            ERROR_INVALID_DATA,
            format!(
                "the shared state of the event {:?} is corrupt: {what}",
                self.name.display
            ),
        )
    }
}

/// This process's attachment to a shared event: its own open file description (its locks) and
/// its slot.
#[derive(Debug)]
struct Attach {
    lock: sys::LockFile,
    slot: Option<usize>,
    /// When the last search for a free slot found none.
    no_slot_since: Option<Instant>,
}

/// The words of a shared event, locked (local mutex + OFD lock, `busy` set).
struct SharedStore<'a> {
    obj: &'a Object,
    att: MutexGuard<'a, Attach>,
}

impl SharedStore<'_> {
    fn w32(&self, off: usize) -> u32 {
        // Relaxed: under the event's lock, whose acquisition is fenced.
        self.obj.page.u32_at(off).load(Ordering::Relaxed)
    }
    fn put32(&self, off: usize, v: u32) {
        // Relaxed: under the event's lock, whose release is fenced.
        self.obj.page.u32_at(off).store(v, Ordering::Relaxed)
    }
    fn raw_slot(&self, s: usize) -> Slot {
        let b = OFF_SLOTS + s * SLOT_BYTES;
        Slot {
            waiters: self.w32(b),
            old: self.w32(b + 4),
            set_tokens: self.w32(b + 8),
            pulse_tokens: self.w32(b + 12),
        }
    }

    /// After a holder died mid-update: counts clamped, dead slots cleared, both eventfds
    /// re-derived from the words.
    fn repair(&mut self) -> Result<(), Bad> {
        for s in 0..SLOTS {
            let v = self.raw_slot(s);
            let c = v.clamped();
            if c != v {
                self.put_slot(s, c);
            }
        }
        let set = self.state()?;
        flip(self.obj.state_fd.as_fd(), false);
        flip(self.obj.state_fd.as_fd(), set);
        self.put32(OFF_WINDOW, 0);
        flip(self.obj.release_fd.as_fd(), false);
        sweep(self)
    }

    /// This process's slot, taken on first need (`None` when all are taken).
    fn my_slot(&mut self) -> Option<usize> {
        if self.att.slot.is_some() {
            return self.att.slot;
        }
        if self
            .att
            .no_slot_since
            .is_some_and(|t| t.elapsed() < Duration::from_secs(1))
        {
            return None;
        }
        let start = sys::getpid() as usize % SLOTS;
        for k in 0..SLOTS {
            let s = (start + k) % SLOTS;
            if let Ok(true) = self.att.lock.try_lock(LOCK_SLOT0 + s as u64) {
                // Whatever a previous owner left there is void: it is gone.
                self.put_slot(s, Slot::default());
                self.att.slot = Some(s);
                self.att.no_slot_since = None;
                return Some(s);
            }
        }
        self.att.no_slot_since = Some(Instant::now());
        None
    }
}

impl Store for SharedStore<'_> {
    fn manual(&self) -> bool {
        self.obj.manual
    }
    fn state(&self) -> Result<bool, Bad> {
        match self.w32(OFF_STATE) {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err("a state word that is neither 0 nor 1"),
        }
    }
    fn put_state(&mut self, set: bool) {
        if self.w32(OFF_STATE) != set as u32 {
            self.put32(OFF_STATE, set as u32);
            flip(self.obj.state_fd.as_fd(), set);
        }
    }
    fn gen(&self) -> u64 {
        // Relaxed: under the event's lock.
        self.obj.page.u64_at(OFF_GEN).load(Ordering::Relaxed)
    }
    fn put_gen(&mut self, gen: u64) {
        // Relaxed: under the event's lock.
        self.obj.page.u64_at(OFF_GEN).store(gen, Ordering::Relaxed)
    }
    fn hint(&self) -> u32 {
        self.w32(OFF_HINT)
    }
    fn put_hint(&mut self, hint: u32) {
        self.put32(OFF_HINT, hint)
    }
    fn slots(&self) -> usize {
        SLOTS
    }
    fn slot(&self, s: usize) -> Result<Slot, Bad> {
        self.raw_slot(s).check()
    }
    fn put_slot(&mut self, s: usize, v: Slot) {
        let b = OFF_SLOTS + s * SLOT_BYTES;
        self.put32(b, v.waiters);
        self.put32(b + 4, v.old);
        self.put32(b + 8, v.set_tokens);
        self.put32(b + 12, v.pulse_tokens);
    }
    fn window(&self) -> bool {
        self.w32(OFF_WINDOW) != 0
    }
    fn put_window(&mut self, open: bool) {
        self.put32(OFF_WINDOW, open as u32);
        flip(self.obj.release_fd.as_fd(), open);
    }
    fn alive(&self, s: usize) -> bool {
        if self.att.slot == Some(s) {
            return true;
        }
        // An error (it cannot happen on a memfd) counts as alive: nothing is cleared.
        self.att
            .lock
            .held_elsewhere(LOCK_SLOT0 + s as u64)
            .unwrap_or(true)
    }
    fn drain_state_fd(&mut self) {
        flip(self.obj.state_fd.as_fd(), false);
    }
    fn drain_release_fd(&mut self) {
        flip(self.obj.release_fd.as_fd(), false);
    }
}

impl Drop for SharedStore<'_> {
    fn drop(&mut self) {
        self.put32(OFF_BUSY, 0);
        // SYNC POINT with the Acquire fence in `Shared::lock` of the next holder (any
        // process): every word written in this section is visible to it. (The kernel's lock
        // hand-over orders them as well; the fence states it.)
        fence(Ordering::Release);
        self.att.lock.unlock(LOCK_STATE);
    }
}

// ---------------------------------------------------------------------------------------------
// The shared flavour: this process's handle, serving, the registry.

/// One process's attachment to a named event, shared by all its handles to the event.
#[derive(Debug)]
pub(crate) struct Shared {
    obj: Arc<Object>,
    att: Mutex<Attach>,
    /// The handshake connection to the serving process, kept open while this process has the
    /// event: its hang-up tells the server this process is done with the name.
    _holder: Option<OwnedFd>,
    /// The registry key (the name's address).
    key: Vec<u8>,
}

/// The name's service in the creating process: it answers OPEN requests and keeps the name
/// while this process has a handle or another process holds a connection.
#[derive(Debug)]
struct Served {
    obj: Arc<Object>,
    key: Vec<u8>,
    acceptor: Mutex<Option<Acceptor>>,
    /// Hang-up watch over the holders' connections (inside the acceptor's epoll set).
    poller: sys::Poller,
    /// The holders' connections by token (touched by the acceptor thread only).
    holders: Mutex<(BTreeMap<u64, OwnedFd>, u64)>,
    /// Number of holders; changed under the registry lock.
    holder_count: AtomicUsize,
    /// Set (under the registry lock) once the service is being stopped.
    stopping: AtomicBool,
    /// The process that runs the acceptor.
    pid: u32,
}

#[derive(Debug)]
struct Entry {
    local: Weak<Shared>,
    served: Option<Arc<Served>>,
}

/// Serialises CreateEvent's look-up, bind and setup in this process, so that two threads
/// creating one name make one event (taken before the registry; held by the fork handler).
static CREATING: Mutex<()> = Mutex::new(());

/// Named events this process has or serves, by address. Never held while a [`Shared`] may be
/// dropped (its drop takes it) or while waiting for an acceptor thread (which takes it).
static REGISTRY: Mutex<BTreeMap<Vec<u8>, Entry>> = Mutex::new(BTreeMap::new());

fn registry() -> MutexGuard<'static, BTreeMap<Vec<u8>, Entry>> {
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

impl Served {
    /// Decides, under the registry lock, whether the name's service ends now: nobody in this
    /// process has the event and no other process holds it. Returns the acceptor to stop
    /// (outside the lock).
    fn maybe_stop(self: &Arc<Self>, reg: &mut BTreeMap<Vec<u8>, Entry>) -> Option<Acceptor> {
        // Relaxed: both change only under the registry lock, which we hold.
        if self.holder_count.load(Ordering::Relaxed) > 0 || self.stopping.load(Ordering::Relaxed) {
            return None;
        }
        if let Some(e) = reg.get(&self.key) {
            if e.local.strong_count() > 0 {
                return None;
            }
            if e.served.as_ref().is_some_and(|s| Arc::ptr_eq(s, self)) {
                reg.remove(&self.key);
            }
        }
        // Relaxed: read only under the registry lock, which we hold.
        self.stopping.store(true, Ordering::Relaxed);
        self.acceptor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Forgets the holders that hung up; stops the service when it was the last reason for it.
    fn reap(self: &Arc<Self>) {
        let mut ready = Vec::new();
        loop {
            ready.clear();
            let _ = self.poller.wait(Some(Instant::now()), &mut ready);
            if ready.is_empty() {
                return;
            }
            let stop = {
                let mut reg = registry();
                let mut h = self.holders.lock().unwrap_or_else(|p| p.into_inner());
                for ev in &ready {
                    if let Some(sock) = h.0.remove(&ev.token) {
                        let _ = self.poller.delete(sock.as_fd());
                        // Relaxed: under the registry lock.
                        self.holder_count.fetch_sub(1, Ordering::Relaxed);
                    }
                }
                drop(h);
                self.maybe_stop(&mut reg)
            };
            if let Some(mut a) = stop {
                // On the acceptor thread itself: stop() detaches and the loop ends at its next
                // wait, closing the listener.
                a.stop();
            }
        }
    }
}

/// Holders' connections a serving process keeps per event: a bound on the descriptors other
/// processes (of the same user) can make it hold.
const MAX_HOLDERS: usize = 4096;

/// The service behind a name's acceptor (the acceptor holds it while it runs).
#[derive(Debug)]
struct NameService(Arc<Served>);

impl Service for NameService {
    fn request(&self, sock: OwnedFd, req: Request, _peer: PeerCred) {
        let s = &self.0;
        if req.kind != ReqKind::Open {
            return refuse(&sock, ERROR_INVALID_FUNCTION);
        }
        let Some(memfd) = s.obj.memfd.as_ref() else {
            return refuse(&sock, ERROR_FILE_NOT_FOUND);
        };
        let reg = registry();
        // Relaxed: set under the registry lock, which we hold.
        if s.stopping.load(Ordering::Relaxed) {
            drop(reg);
            return refuse(&sock, ERROR_FILE_NOT_FOUND);
        }
        let info = PipeInfo {
            message_type: s.obj.manual,
            direction: ACCESS_INBOUND,
            max_instances: 1,
            caps: [sys::EVENT_PAGE as u64, 0],
            server_pid: sys::getpid(),
            ..PipeInfo::default()
        };
        let fds = [
            memfd.as_fd(),
            s.obj.state_fd.as_fd(),
            s.obj.release_fd.as_fd(),
        ];
        if sys::send_packet_nowait(sock.as_fd(), &Reply::Connected(info).encode(), &fds).is_err() {
            return;
        }
        let mut h = s.holders.lock().unwrap_or_else(|p| p.into_inner());
        if h.0.len() >= MAX_HOLDERS {
            // Served, not kept: past this many, the name's lifetime only counts the others.
            return;
        }
        let token = h.1;
        h.1 += 1;
        // Hang-up only: whatever a holder sends is never read.
        if s.poller.add(sock.as_fd(), token, false).is_ok() {
            h.0.insert(token, sock);
            // Relaxed: under the registry lock.
            s.holder_count.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn extra_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.0.poller.fd())
    }

    fn extra_ready(&self) {
        self.0.reap();
    }

    fn shed(&self) {
        self.0.reap();
    }
}

fn name_err(code: u32, name: &str) -> io::Error {
    let what = match code {
        ERROR_FILENAME_EXCED_RANGE => "is longer than 259 characters (MAX_PATH)",
        ERROR_PATH_NOT_FOUND => {
            "names a subdirectory of the object namespace (only Local\\ and Global\\ exist)"
        }
        ERROR_INVALID_HANDLE => "is the name of an object of another type",
        _ => "is not a valid event name",
    };
    err(code, format!("the event name {name:?} {what}"))
}

/// A new attachment of this process to `obj` (its own lock description, no slot yet).
fn attach(
    obj: Arc<Object>,
    memfd: BorrowedFd<'_>,
    holder: Option<OwnedFd>,
    key: Vec<u8>,
) -> io::Result<Arc<Shared>> {
    let lock = sys::LockFile::open(memfd).map_err(|e| {
        err(
            ERROR_NOT_SUPPORTED,
            format!(
                "cannot open a private description of the event {:?} through /proc/self/fd \
                 (is /proc mounted?): {}",
                obj.name.display,
                io::Error::from_raw_os_error(e.raw_os_error())
            ),
        )
    })?;
    Ok(Arc::new(Shared {
        obj,
        att: Mutex::new(Attach {
            lock,
            slot: None,
            no_slot_since: None,
        }),
        _holder: holder,
        key,
    }))
}

/// This process's attachment to the name at `key`, if it has one (or serves the name).
fn local_attachment(
    reg: &mut BTreeMap<Vec<u8>, Entry>,
    key: &[u8],
) -> io::Result<Option<Arc<Shared>>> {
    let Some(e) = reg.get_mut(key) else {
        return Ok(None);
    };
    if let Some(sh) = e.local.upgrade() {
        return Ok(Some(sh));
    }
    match e.served.clone() {
        // Relaxed: set under the registry lock, which the caller holds.
        Some(s) if !s.stopping.load(Ordering::Relaxed) => {
            let memfd = s
                .obj
                .memfd
                .as_ref()
                .expect("the serving process keeps the memfd");
            let sh = attach(s.obj.clone(), memfd.as_fd(), None, key.to_vec())?;
            e.local = Arc::downgrade(&sh);
            Ok(Some(sh))
        }
        _ => Ok(None),
    }
}

/// Creates the event and starts serving its name (`listener` is bound to the address).
fn serve_new(
    n: Name,
    key: Vec<u8>,
    listener: OwnedFd,
    manual: bool,
    initial: bool,
) -> io::Result<Arc<Shared>> {
    let display = n.display.clone();
    let os = |e: sys::Errno, what: &str| os_err(e, what, &display);
    let (page, memfd) = sys::EventPage::create().map_err(|e| os(e, "memfd"))?;
    // Relaxed: nobody else sees the page before it is sent (the send orders it).
    let put = |off, v| page.u32_at(off).store(v, Ordering::Relaxed);
    put(OFF_MAGIC, MAGIC);
    put(OFF_VERSION, VERSION);
    put(OFF_SIZE, sys::EVENT_PAGE as u32);
    put(OFF_MANUAL, manual as u32);
    put(OFF_STATE, initial as u32);
    let state_fd = sys::eventfd_at(initial).map_err(|e| os(e, "eventfd"))?;
    let release_fd = sys::eventfd_at(false).map_err(|e| os(e, "eventfd"))?;
    let ino = sys::inode(memfd.as_fd()).map_err(|e| os(e, "fstat"))?;
    let obj = Arc::new(Object {
        page,
        memfd: Some(memfd),
        state_fd,
        release_fd,
        manual,
        ino,
        name: n.clone(),
    });
    let served = Arc::new(Served {
        obj: obj.clone(),
        key: key.clone(),
        acceptor: Mutex::new(None),
        poller: sys::Poller::new().map_err(|e| os(e, "epoll_create"))?,
        holders: Mutex::new((BTreeMap::new(), 0)),
        holder_count: AtomicUsize::new(0),
        stopping: AtomicBool::new(false),
        pid: sys::getpid(),
    });
    let memfd = obj.memfd.as_ref().expect("made above").as_fd();
    let sh = attach(obj.clone(), memfd, None, key.clone())?;
    let acceptor = Acceptor::spawn(
        "npipe-event",
        n,
        listener,
        Arc::new(NameService(served.clone())) as Arc<dyn Service>,
    )?;
    *served.acceptor.lock().unwrap_or_else(|p| p.into_inner()) = Some(acceptor);
    registry().insert(
        key,
        Entry {
            local: Arc::downgrade(&sh),
            served: Some(served),
        },
    );
    Ok(sh)
}

/// Opens the event that another process serves at `n`'s address.
fn open_remote(n: &Name, key: Vec<u8>) -> io::Result<Arc<Shared>> {
    let name = &n.display;
    let Opened {
        sock, reply, fds, ..
    } = request_open(n, name, 0, Trust::default())?;
    let bad = |what: &str| {
        Error::io_kind(
            io::ErrorKind::InvalidData,
            ERROR_INVALID_DATA,
            format!("the server of the event {name:?} {what}"),
        )
    };
    let info = match reply {
        Some(Reply::Connected(info)) => info,
        Some(Reply::Error(c)) => {
            return Err(err(
                c,
                format!("the server of the event {name:?} refused it"),
            ))
        }
        None => {
            return Err(err(
                ERROR_FILE_NOT_FOUND,
                format!("the event {name:?} went away while opening"),
            ))
        }
        Some(_) => return Err(bad("sent an unexpected reply")),
    };
    let [memfd, state_fd, release_fd]: [OwnedFd; 3] = fds
        .try_into()
        .map_err(|_| bad("did not send exactly three descriptors"))?;
    if info.caps[0] != sys::EVENT_PAGE as u64 {
        return Err(bad("announced a state page of the wrong size"));
    }
    let page = sys::EventPage::attach(memfd.as_fd())
        .map_err(|_| bad("sent a state page that is not a sealed memfd of one page"))?;
    sys::check_eventfd(state_fd.as_fd())
        .and_then(|()| sys::check_eventfd(release_fd.as_fd()))
        .map_err(|_| bad("sent a descriptor that is not an eventfd"))?;
    let ino = sys::inode(memfd.as_fd()).map_err(|e| os_err(e, "fstat", name))?;
    // Relaxed: the page came with the reply; its header is checked again under every lock.
    let manual = match page.u32_at(OFF_MANUAL).load(Ordering::Relaxed) {
        0 => false,
        1 => true,
        _ => return Err(bad("sent a state page with a bad reset mode")),
    };
    let obj = Arc::new(Object {
        page,
        memfd: None,
        state_fd,
        release_fd,
        manual,
        ino,
        name: n.clone(),
    });
    obj.check_header().map_err(|w| obj.bad(w))?;
    attach(obj, memfd.as_fd(), Some(sock), key)
}

/// How long CreateEvent retries while a name it found taken turns out to be going away.
const CREATE_RACE: Duration = Duration::from_secs(2);

impl Shared {
    /// CreateEvent with a name: the existing event (`true`: ERROR_ALREADY_EXISTS; its reset
    /// mode and state are kept, `manual` and `initial` ignored) or a new one this process
    /// serves.
    pub(crate) fn create(
        name: &str,
        manual: bool,
        initial: bool,
    ) -> io::Result<(Arc<Shared>, bool)> {
        let n = namespace::parse_event(name).map_err(|c| name_err(c, name))?;
        install_fork_handlers();
        let key = n.address();
        let give_up = Instant::now() + CREATE_RACE;
        loop {
            {
                let _creating = CREATING.lock().unwrap_or_else(|p| p.into_inner());
                let found = local_attachment(&mut registry(), &key)?;
                if let Some(sh) = found {
                    return Ok((sh, true));
                }
                let listener = sys::seqpacket(true).map_err(|e| os_err(e, "socket", name))?;
                match sys::bind_listen(listener.as_fd(), &key) {
                    Ok(()) => {
                        let sh = serve_new(n, key, listener, manual, initial)?;
                        return Ok((sh, false));
                    }
                    Err(sys::Errno::ADDRINUSE) => {}
                    Err(e) => return Err(os_err(e, "bind", name)),
                }
            }
            match open_remote(&n, key.clone()) {
                Ok(sh) => return Ok((register_opened(sh)?, true)),
                // The owner is going away (or refused us while stopping): the address frees
                // up when its acceptor has stopped.
                Err(e)
                    if crate::error::win32_code(&e) == ERROR_FILE_NOT_FOUND
                        && Instant::now() < give_up =>
                {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// OpenEvent: the existing event of that name, or ERROR_FILE_NOT_FOUND.
    pub(crate) fn open(name: &str) -> io::Result<Arc<Shared>> {
        let n = namespace::parse_event(name).map_err(|c| {
            // OpenEvent of a name that could never be created finds nothing of that name,
            // except for the codes Windows gives for the path itself.
            name_err(c, name)
        })?;
        install_fork_handlers();
        let key = n.address();
        let found = local_attachment(&mut registry(), &key)?;
        if let Some(sh) = found {
            return Ok(sh);
        }
        register_opened(open_remote(&n, key)?)
    }

    /// The name as given.
    pub(crate) fn name(&self) -> &str {
        &self.obj.name.display
    }

    /// Whether it is a manual-reset event.
    pub(crate) fn manual(&self) -> bool {
        self.obj.manual
    }

    /// The state descriptor: polls readable exactly while the state is set, in every process.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.obj.state_fd.as_fd()
    }

    /// Locks the shared words (see the module docs).
    fn lock(&self) -> io::Result<SharedStore<'_>> {
        let att = self.att.lock().unwrap_or_else(|p| p.into_inner());
        let start = Instant::now();
        let mut pause = Duration::from_micros(20);
        let mut spins = 0;
        loop {
            match att.lock.try_lock(LOCK_STATE) {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => return Err(os_err(e, "fcntl(F_OFD_SETLK)", self.name())),
            }
            if start.elapsed() >= LOCK_LIMIT {
                return Err(err(
                    ERROR_POSSIBLE_DEADLOCK,
                    format!(
                        "the shared state of the event {:?} stayed locked by another process \
                         for {} s",
                        self.name(),
                        LOCK_LIMIT.as_secs()
                    ),
                ));
            }
            if spins < 16 {
                spins += 1;
                std::thread::yield_now();
            } else {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(1));
            }
        }
        // SYNC POINT with the Release fence in `SharedStore::drop` of the previous holder (any
        // process): its writes to the page are visible from here on.
        fence(Ordering::Acquire);
        let mut st = SharedStore {
            obj: &self.obj,
            att,
        };
        // On an error the store's drop releases the lock (and clears `busy`, which we never
        // set then: harmless, `busy` is only a hint for repair).
        st.obj.check_header().map_err(|w| self.obj.bad(w))?;
        if st.w32(OFF_BUSY) != 0 {
            st.repair().map_err(|w| self.obj.bad(w))?;
        }
        st.put32(OFF_BUSY, 1);
        Ok(st)
    }

    fn run<T>(&self, f: impl FnOnce(&mut dyn Store) -> Result<T, Bad>) -> io::Result<T> {
        let _g = gate();
        let mut st = self.lock()?;
        f(&mut st).map_err(|w| self.obj.bad(w))
    }

    /// SetEvent.
    pub(crate) fn set(&self) -> io::Result<()> {
        self.run(op_set)
    }

    /// ResetEvent.
    pub(crate) fn reset(&self) -> io::Result<()> {
        self.run(op_reset)
    }

    /// PulseEvent.
    pub(crate) fn pulse(&self) -> io::Result<()> {
        self.run(op_pulse)
    }

    /// Whether the state is set.
    pub(crate) fn is_set(&self) -> io::Result<bool> {
        self.run(|st| st.state())
    }

    /// Takes the state without waiting.
    pub(crate) fn try_take(&self) -> io::Result<bool> {
        self.run(try_take)
    }
}

/// Records a freshly opened attachment, unless another thread of this process attached to the
/// same name meanwhile (then that one is used and ours closes).
fn register_opened(sh: Arc<Shared>) -> io::Result<Arc<Shared>> {
    let mut reg = registry();
    let existing = local_attachment(&mut reg, &sh.key);
    if let Ok(None) = existing {
        reg.insert(
            sh.key.clone(),
            Entry {
                local: Arc::downgrade(&sh),
                served: None,
            },
        );
        return Ok(sh);
    }
    // `sh` is dropped after the registry lock (its drop takes the lock).
    drop(reg);
    drop(sh);
    Ok(existing?.expect("checked above"))
}

impl Drop for Shared {
    fn drop(&mut self) {
        let stop = {
            let mut reg = registry();
            let me = self as *const Shared;
            let Some(e) = reg.get_mut(&self.key) else {
                return;
            };
            if e.local.as_ptr() == me {
                e.local = Weak::new();
            }
            if e.local.strong_count() > 0 {
                None
            } else {
                match e.served.clone() {
                    Some(s) if s.pid == sys::getpid() => s.maybe_stop(&mut reg),
                    // A forked child never serves: it only forgets the name.
                    _ => {
                        reg.remove(&self.key);
                        None
                    }
                }
            }
        };
        if let Some(mut a) = stop {
            a.stop();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Fork handlers.

thread_local! {
    /// The guards the prepare handler took, released after the fork (same thread).
    static HELD: std::cell::RefCell<Vec<Box<dyn std::any::Any>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

extern "C" fn fork_prepare() {
    // Lock order: CREATING, the registry, the gate (as `Shared::create` takes them).
    let creating = CREATING.lock().unwrap_or_else(|p| p.into_inner());
    let reg = registry();
    let gate = GATE.write().unwrap_or_else(|p| p.into_inner());
    HELD.with(|h| {
        let mut h = h.borrow_mut();
        h.push(Box::new(creating));
        h.push(Box::new(reg));
        h.push(Box::new(gate));
    });
}

extern "C" fn fork_parent() {
    // The reverse of the order they were taken.
    HELD.with(|h| {
        let mut h = h.borrow_mut();
        while h.pop().is_some() {}
    });
}

extern "C" fn fork_child() {
    // Local events see the new epoch at their next lock section (see `Local::words`).
    // Relaxed: the child has this one thread, and threads it starts later are ordered after
    // this by their creation.
    EPOCH.fetch_add(1, Ordering::Relaxed);
    // This thread holds the registry and the gate, so no event lock is held by anyone and the
    // registry can be walked. Each shared event gets its own description (the inherited one
    // and the parent's slot lock on it close here) and no slot. Nothing here allocates.
    HELD.with(|h| {
        let h = h.borrow();
        if let Some(reg) = h
            .get(1)
            .and_then(|r| r.downcast_ref::<MutexGuard<'static, BTreeMap<Vec<u8>, Entry>>>())
        {
            for e in reg.values() {
                if let Some(sh) = e.local.upgrade() {
                    let mut att = sh.att.lock().unwrap_or_else(|p| p.into_inner());
                    // On failure the inherited description stays: this child then shares the
                    // parent's locks (an error of the next lock section is not possible to
                    // report here).
                    let _ = att.lock.reopen();
                    att.slot = None;
                    drop(att);
                    // `sh` came from a live handle, so this is not the last reference (the
                    // threads that held the others are gone, not their references): dropping
                    // it cannot run Shared::drop, which would take the registry we hold. The
                    // check keeps it that way whatever happens.
                    if Arc::strong_count(&sh) > 1 {
                        drop(sh);
                    } else {
                        std::mem::forget(sh);
                    }
                }
            }
        }
    });
    fork_parent();
}

/// Registers the fork handlers once (not a `Once`: see `fork.rs`).
fn install_fork_handlers() {
    static STATE: AtomicU8 = AtomicU8::new(0);
    // SYNC POINT with the Release store below: a thread that sees 2 sees the handlers
    // registered.
    if STATE.load(Ordering::Acquire) == 2 {
        return;
    }
    if STATE
        .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        sys::at_fork(fork_prepare, fork_parent, fork_child);
        // SYNC POINT with the Acquire load above (in any thread): the registration is done.
        STATE.store(2, Ordering::Release);
    }
}

// ---------------------------------------------------------------------------------------------
// Waiting.

/// One object of a wait.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Obj<'a> {
    Local(&'a Local),
    Shared(&'a Shared),
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The object at this index was taken (wait-all: every object, index 0).
    Object(usize),
    /// The alert descriptor became readable before any object was signalled.
    Alerted,
    /// The deadline passed.
    TimedOut,
}

enum Held<'a> {
    Local(LocalStore<'a>),
    Shared(SharedStore<'a>),
}

impl Held<'_> {
    fn st(&mut self) -> &mut dyn Store {
        match self {
            Held::Local(s) => s,
            Held::Shared(s) => s,
        }
    }

    fn my_slot(&mut self) -> Option<usize> {
        match self {
            Held::Local(_) => Some(0),
            Held::Shared(s) => s.my_slot(),
        }
    }
}

impl<'a> Obj<'a> {
    /// The lock order: local events by address, then shared ones by memfd inode (the same
    /// order in every process). Equal keys are the same event.
    fn key(&self) -> (u8, u64) {
        match self {
            Obj::Local(l) => (0, *l as *const Local as usize as u64),
            Obj::Shared(s) => (1, s.obj.ino),
        }
    }

    fn manual(&self) -> bool {
        match self {
            Obj::Local(l) => l.manual,
            Obj::Shared(s) => s.obj.manual,
        }
    }

    fn lock(&self) -> io::Result<Held<'a>> {
        match *self {
            Obj::Local(l) => Ok(Held::Local(l.store())),
            Obj::Shared(s) => Ok(Held::Shared(s.lock()?)),
        }
    }

    fn bad(&self, what: Bad) -> io::Error {
        match self {
            Obj::Local(_) => err(ERROR_INVALID_DATA, format!("event state: {what}")),
            Obj::Shared(s) => s.obj.bad(what),
        }
    }

    fn state_fd(&self) -> io::Result<BorrowedFd<'a>> {
        match *self {
            Obj::Local(l) => l.fd(),
            Obj::Shared(s) => Ok(s.obj.state_fd.as_fd()),
        }
    }

    fn release_fd(&self) -> io::Result<BorrowedFd<'a>> {
        match *self {
            Obj::Local(l) => l.pulse_fd(),
            Obj::Shared(s) => Ok(s.obj.release_fd.as_fd()),
        }
    }
}

/// The registrations of one wait; whatever is still registered is left on drop.
struct Waiter<'o, 'a> {
    objs: &'o [Obj<'a>],
    regs: Vec<Option<Reg>>,
}

impl Drop for Waiter<'_, '_> {
    fn drop(&mut self) {
        for (i, r) in self.regs.iter_mut().enumerate() {
            if let Some(reg) = r.take() {
                let _g = gate();
                if let Ok(mut h) = self.objs[i].lock() {
                    let _ = leave(h.st(), reg);
                }
            }
        }
    }
}

/// Backoff after wake-ups by a release window that was not for this waiter.
const BACKOFF_MIN: Duration = Duration::from_millis(1);
const BACKOFF_MAX: Duration = Duration::from_millis(32);

impl<'o, 'a> Waiter<'o, 'a> {
    /// Leaves every registration except `keep`.
    fn leave_others(&mut self, keep: usize) -> io::Result<()> {
        for i in 0..self.regs.len() {
            if i == keep {
                continue;
            }
            if let Some(reg) = self.regs[i].take() {
                let _g = gate();
                let mut h = self.objs[i].lock()?;
                leave(h.st(), reg).map_err(|w| self.objs[i].bad(w))?;
            }
        }
        Ok(())
    }

    /// Wait-any, first look: each object is checked and registered in one lock section, so
    /// a waiter either takes a set state or is registered before any later release.
    fn any_first(&mut self) -> io::Result<Option<usize>> {
        for i in 0..self.objs.len() {
            let o = self.objs[i];
            let g = gate();
            let mut h = o.lock()?;
            if try_take(h.st()).map_err(|w| o.bad(w))? {
                drop(h);
                drop(g);
                self.leave_others(i)?;
                return Ok(Some(i));
            }
            let slot = h.my_slot();
            self.regs[i] = Some(register(h.st(), slot).map_err(|w| o.bad(w))?);
        }
        Ok(None)
    }

    /// Wait-any, later looks: a release for us first, then a set state, lowest index first.
    /// Returns the object taken, and whether a release window was open that was not ours.
    fn any_check(&mut self, stale: &[Stale]) -> io::Result<(Option<usize>, bool)> {
        let mut foreign_window = false;
        for i in 0..self.objs.len() {
            let o = self.objs[i];
            let g = gate();
            let mut h = o.lock()?;
            let st = h.st();
            let b = |w| o.bad(w);
            if let Some(reg) = self.regs[i] {
                if released(st, reg).map_err(b)? {
                    claim(st, reg).map_err(b)?;
                    self.regs[i] = None;
                    drop(h);
                    drop(g);
                    self.leave_others(i)?;
                    return Ok((Some(i), false));
                }
            }
            if try_take(st).map_err(b)? {
                if let Some(reg) = self.regs[i].take() {
                    leave(st, reg).map_err(b)?;
                }
                drop(h);
                drop(g);
                self.leave_others(i)?;
                return Ok((Some(i), false));
            }
            fix_stale(st, stale.get(i).copied().unwrap_or_default()).map_err(b)?;
            if st.window() {
                foreign_window = true;
                sweep(st).map_err(b)?;
            }
        }
        Ok((None, foreign_window))
    }

    /// Wait-all: one look at every object under all their locks (taken in the global order).
    /// Registers the manual events it still waits on. Returns true when it took them all, and
    /// which objects are set (for what to poll) and whether a foreign window was open.
    fn all_check(
        &mut self,
        order: &[usize],
        set: &mut [bool],
        stale: &[Stale],
    ) -> io::Result<(bool, bool)> {
        let _g = gate();
        let mut held: Vec<(usize, Held<'a>)> = Vec::with_capacity(order.len());
        for &i in order {
            held.push((i, self.objs[i].lock()?));
        }
        let mut all = true;
        let mut rel = vec![false; self.objs.len()];
        for (i, h) in held.iter_mut() {
            let (i, o) = (*i, self.objs[*i]);
            let st = h.st();
            let b = |w| o.bad(w);
            rel[i] = match self.regs[i] {
                Some(reg) => released(st, reg).map_err(b)?,
                None => false,
            };
            set[i] = st.state().map_err(b)?;
            if !rel[i] && !set[i] {
                all = false;
            }
        }
        let mut foreign_window = false;
        for (i, h) in held.iter_mut() {
            let (i, o) = (*i, self.objs[*i]);
            let b = |w| o.bad(w);
            let st = h.st();
            if all {
                if rel[i] {
                    claim(
                        st,
                        self.regs[i].take().expect("released implies registered"),
                    )
                    .map_err(b)?;
                } else {
                    try_take(st).map_err(b)?;
                    if let Some(reg) = self.regs[i].take() {
                        leave(st, reg).map_err(b)?;
                    }
                }
            } else if o.manual() {
                match &mut self.regs[i] {
                    Some(reg) if rel[i] => notice(st, reg).map_err(b)?,
                    Some(_) => {}
                    None => {
                        let slot = h.my_slot();
                        self.regs[i] = Some(register(h.st(), slot).map_err(b)?);
                    }
                }
                let st = h.st();
                if st.window() && !rel[i] {
                    foreign_window = true;
                    sweep(st).map_err(b)?;
                }
            }
            if !all {
                fix_stale(h.st(), stale[i]).map_err(b)?;
            }
        }
        Ok((all, foreign_window))
    }
}

/// Waits until one (`all` false) or every (`all` true) object is signalled, `deadline` passes
/// (`None`: never) or `alert` polls readable, and takes what it waited for: an auto-reset event
/// is reset, a release is claimed. Objects are checked before the alert: an alertable wait on
/// a signalled object returns the object (Windows does the same).
///
/// Wait-all with the same event twice (the same object, through any handles) fails with
/// ERROR_INVALID_PARAMETER, as on Windows (`STATUS_INVALID_PARAMETER_MIX`). No objects and no
/// alert is a plain sleep until the deadline.
pub(crate) fn wait(
    objs: &[Obj<'_>],
    all: bool,
    deadline: Option<Instant>,
    alert: Option<BorrowedFd<'_>>,
) -> io::Result<Outcome> {
    // One object: waiting for all is waiting for any (and an auto-reset event then takes
    // releases, which only wait-any waiters do).
    let all = all && objs.len() > 1;
    let mut order: Vec<usize> = (0..objs.len()).collect();
    order.sort_by_key(|&i| objs[i].key());
    if all
        && order
            .windows(2)
            .any(|w| objs[w[0]].key() == objs[w[1]].key())
    {
        return Err(err(
            ERROR_INVALID_PARAMETER,
            "a wait for all objects names the same object twice",
        ));
    }
    let mut w = Waiter {
        objs,
        regs: vec![None; objs.len()],
    };
    let mut set = vec![false; objs.len()];
    let mut alerted = false;
    let mut expired = false;
    let mut backoff: Option<Duration> = None;
    let mut first = true;
    let mut fds: Vec<BorrowedFd<'_>> = Vec::new();
    // Which object (and which of its descriptors, true: release) each polled descriptor is.
    let mut owner: Vec<Option<(usize, bool)>> = Vec::new();
    let mut stale = vec![Stale::default(); objs.len()];
    let mut ready = Vec::new();
    loop {
        let foreign = if all {
            let (done, foreign) = w.all_check(&order, &mut set, &stale)?;
            if done {
                return Ok(Outcome::Object(0));
            }
            foreign
        } else if first {
            if let Some(i) = w.any_first()? {
                return Ok(Outcome::Object(i));
            }
            false
        } else {
            let (got, foreign) = w.any_check(&stale)?;
            if let Some(i) = got {
                return Ok(Outcome::Object(i));
            }
            foreign
        };
        first = false;
        if alerted {
            return Ok(Outcome::Alerted);
        }
        if expired {
            return Ok(Outcome::TimedOut);
        }
        // Sleep. A window that woke us for nothing makes the next sleeps leave the release
        // descriptors out for a while (state descriptors and the alert are still polled).
        backoff = if foreign {
            Some(backoff.map_or(BACKOFF_MIN, |b| (b * 2).min(BACKOFF_MAX)))
        } else {
            None
        };
        fds.clear();
        owner.clear();
        for (i, o) in objs.iter().enumerate() {
            // A wait-all sleeps only on the objects not set: those set would wake it at once
            // (one of them taken by another thread meanwhile shows in the next look).
            if !(all && set[i]) {
                fds.push(o.state_fd()?);
                owner.push(Some((i, false)));
            }
            if backoff.is_none() && w.regs[i].is_some() {
                fds.push(o.release_fd()?);
                owner.push(Some((i, true)));
            }
        }
        if let Some(a) = alert {
            fds.push(a);
            owner.push(None);
        }
        let until = match (deadline, backoff) {
            (Some(d), Some(b)) => Some(d.min(Instant::now() + b)),
            (None, Some(b)) => Some(Instant::now() + b),
            (d, None) => d,
        };
        // No descriptors and no deadline (a wait for nothing, forever) sleeps for ever.
        sys::poll_many(&fds, until, &mut ready).map_err(|e| os_err(e, "poll", "a wait"))?;
        alerted = alert.is_some() && ready.last().copied().unwrap_or(false);
        expired = deadline.is_some_and(|d| Instant::now() >= d);
        stale.fill(Stale::default());
        for (k, &r) in ready.iter().enumerate() {
            match owner.get(k) {
                Some(Some((i, false))) if r => stale[*i].state = true,
                Some(Some((i, true))) if r => stale[*i].release = true,
                _ => {}
            }
        }
    }
}
