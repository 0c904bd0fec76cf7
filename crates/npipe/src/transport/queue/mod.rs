//! The shared-memory connection: one sealed memfd with a header page and one ring per direction,
//! plus one private page per side for that side's locks and authoritative cursors.
//!
//! Files: `layout` (the shared layout and the checks on values read from it), `bytes` (where
//! records go in a ring, their headers, copies in and out, prefetches), `wait` (spin
//! then futex sleep, hang-up probes), `write` (records, streaming, quota, withdrawal of a
//! record whose writer died), `read` (message and byte reads, peek, mailslot reads, in-place
//! reads), `pace` (how often a caught-up reader looks at the writer's cursor), `quick` (the
//! usual message read and write in one pass, leaving every other case to `read` and `write`),
//! `dead` (records a withdrawn or dead writer left: skipped or dropped), `ready`,
//! `spill` and `step` (readiness, spilled pages, nonblocking steps), `setup` (making a
//! connection's view: create, reuse, attach), `recycle` (areas of closed connections kept for
//! the next connection between the same two processes). This file owns the connection object:
//! mapping, states, wake-ups, readiness, locks.
//!
//! # Trust
//! The peer may be buggy or hostile and can write anything into the shared page at any time.
//! - Each side's own cursor (the writer's tail and counters, the reader's head, message
//!   remainder and counters) and the locks that serialise the threads and forked processes of
//!   one end live in that side's [`sys::SidePage`], which the peer never maps. The shared ring
//!   headers only carry published copies of them.
//! - Every value read from the peer (its tail or head, its counters, record headers, states)
//!   goes through the overflow-proof checks of `layout` before use; a bad one gives
//!   [`QErr::Corrupt`], never a panic, a hang or an out-of-bounds access.
//! - Ring accesses go through [`Conn::copy_in`], [`Conn::copy_out`] and [`Conn::record_at`],
//!   which check their length against the capacity fixed at attach time (in release builds)
//!   and reduce the position modulo it.
//!
//! # Safety
//! Module invariants for the `unsafe` in these files: every field both sides touch is an atomic
//! inside a `#[repr(C)]` struct in the mapping; no `&`/`&mut` to plain ring bytes is created
//! except by [`Reserved`]/[`InPlace`], which hold the lock that makes those bytes theirs alone;
//! all other ring access is raw-pointer copies bounded as above.
#![allow(unsafe_code)]

#[cfg(test)]
mod busy_read_tests;
mod bytes;
#[cfg(test)]
mod close_race_tests;
mod dead;
mod gone;
mod layout;
#[cfg(test)]
mod lazy_arm_tests;
mod pace;
#[cfg(test)]
mod pace_tests;
mod peek;
mod quick;
#[cfg(test)]
mod quick_tests;
mod quota;
#[cfg(test)]
mod quota_tests;
mod read;
mod ready;
pub(crate) mod recycle;
mod setup;
mod spill;
mod step;
#[cfg(test)]
mod sync_cancel_tests;
mod wait;
#[cfg(test)]
mod withdraw_race_tests;
mod write;

pub(crate) use layout::*;
pub(crate) use read::InPlace;
pub(crate) use spill::Spill;
pub(crate) use step::{ReadState, TransactState, WriteState, UNPINNED_EVERYWHERE};
pub(crate) use write::Reserved;

use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering::*};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::sys;

thread_local! {
    /// Set when this thread publishes a record on any connection, cleared when one of its
    /// blocking reads takes data (`Conn::read`): a thread that reads with it clear is a pure
    /// consumer (see `Conn::pace`). Nonblocking reads and steps leave it alone (they are never
    /// paced, and the next blocking read clears it). Per thread, so a thread that writes one
    /// end and reads the other, or relays from one pipe to another, is never taken for one.
    static WROTE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Sets [`WROTE`]. Through `with`, which is one access to the thread-local, folded into the
/// caller: `LocalKey::<Cell<_>>::set` goes through the lazy-initialisation path
/// (`LocalKey::initialize_with` and a closure, out of line), which cost a 64 B write and read
/// pair 24 instructions through the Rust API and 36 through the C ABI (`tools/callgrind-cost`,
/// release build), one `__tls_get_addr` of them.
#[inline(always)]
fn wrote_set() {
    WROTE.with(|w| w.set(true));
}

/// Cache lines a writer asks for ahead of its next record (a 64 B message's record spans at
/// most two; the third covers the next header).
const PREFETCH_LINES: u64 = 3;

/// The control message that carries a reader's readiness eventfd to the writer.
const READINESS_MSG: &[u8] = b"NPE1";
/// How long a close waits for the writer lock of its end (see [`Conn::close_here`]).
const CLOSE_LOCK_WAIT: Duration = Duration::from_millis(100);
/// How long a publish waits for a lazily armed reader to take its arm back (`Conn::grace`):
/// about what an overlapped read's thread takes from issuing the read to spinning in its wait.
const LAZY_GRACE_NS: u64 = 2_000;

// Side-private words ([`sys::SidePage::word`]): the writer's state of the ring this side
// writes, and the reader's state of the ring it reads. Written only under the matching lock.
/// The writer's tail.
const W_TAIL: usize = 0;
/// Payload bytes declared by every record written (pending streaming bytes included).
const W_BYTES: usize = 1;
/// Records written.
const W_MSGS: usize = 2;
/// Header position of a record whose payload is still streaming in ([`NO_REC`] otherwise).
const W_REC: usize = 3;
/// Its declared length.
const W_REC_LEN: usize = 4;
/// `W_BYTES` before that record.
const W_REC_BYTES: usize = 10;
/// `W_MSGS` before that record.
const W_REC_MSGS: usize = 11;
/// The end of the last withdrawn record until the reader's head reaches it ([`NO_REC`]
/// otherwise): nothing is written past it before then.
const W_CUT_END: usize = 12;
/// While the shared withdrawal slot (`cut_rec`/`cut_end`) names a record the reader may not
/// have noticed yet: the reader's `msgs_read` once it is past that record ([`NO_REC`] when the
/// slot is free). The slot is not reused before then.
const W_CUT_MSGS: usize = 13;
/// The list of writes cancelled while pending that the reader has not passed: `gone::GONE_SLOTS`
/// entries of three words from here (see `gone`).
const W_GONE: usize = 16;
/// The largest `msgs_written` through a record `gone` ever listed (0: none).
const W_GONE_LAST: usize = 15;
/// The reader's head.
const R_HEAD: usize = 5;
/// Payload bytes left in the current record, or [`AT_HEADER`].
const R_LEFT: usize = 6;
/// Payload bytes consumed (or skipped as withdrawn).
const R_BYTES: usize = 7;
/// Records consumed.
const R_MSGS: usize = 8;
/// Header position of the record being read ([`NO_REC`] at a header).
const R_REC: usize = 9;
/// Whether the record being read carries [`FLAG_PENDING`] (1) or not (0): its header may be
/// overwritten once consumed, and the read that finishes it claims it when it does.
const R_PEND: usize = 40;

/// The writer lock of the ring this side writes.
const TX_LOCK: usize = 0;
/// The reader lock of the ring this side reads.
const RX_LOCK: usize = 1;

#[derive(Clone, Copy)]
pub(super) enum Wake {
    Data,
    Space,
}

/// A connected pair's shared memory plus its control socket, seen from one side.
#[derive(Debug)]
pub(crate) struct Conn {
    /// Dropped by hand: [`Conn`]'s drop either parks it ([`recycle`]) or unmaps it.
    map: ManuallyDrop<sys::Mapping>,
    /// The fork epoch ([`recycle::epoch`]) read before the area was mapped in this process: an
    /// area mapped before a later fork may be shared with the child and is never parked.
    made_epoch: u64,
    /// Set for a named-pipe connection whose area may be parked when this end's last user
    /// goes (see [`recycle`]).
    recycle: OnceLock<recycle::Tag>,
    /// This side's private page: its ring locks and authoritative cursors.
    page: sys::SidePage,
    /// The control socket; `None` for a mailslot, whose writers come and go without a link.
    ctl: Option<OwnedFd>,
    side: Side,
    caps: [u64; 2],
    /// Each ring's record window (see [`ConnHeader::ring_win`]), fixed at creation and
    /// checked at attach.
    wins: [u64; 2],
    /// This process's last view of the outbound ring's `head` (a lower bound: `head` only
    /// grows), so a writer re-reads the reader's cache line only when the cached free space is
    /// not enough. Used under the writer lock.
    head_seen: AtomicU64,
    /// Set when this end's last publish had to wake a sleeping peer (its futex, or its armed
    /// readiness descriptor): the peer is then not running yet and may be queued on this very
    /// CPU, so the next wait hands the CPU over or yields while it spins (see `wait_on`).
    woke_peer: AtomicBool,
    /// When this end last probed the control socket for a hang-up (`sys::monotonic_ms`).
    probed_at: AtomicU64,
    /// This end's readiness signal, given by the end that owns the connection
    /// ([`Conn::attach_signal`]): the peer signals it when it publishes or consumes while this
    /// end is armed, or changes state; this process signals it when it notices the peer's
    /// hang-up or closes the end.
    signal: OnceLock<Arc<sys::EventFd>>,
    /// The eventfd the peer sent for its readiness descriptor (`None`: it sent nothing usable).
    peer_event: OnceLock<Option<OwnedFd>>,
    /// Whether the last spin on this end ended with its condition met; when it did not, later
    /// waits sleep at once (the peer is idle) except for a retry every `SPIN_RETRY` waits.
    /// False on a new connection: its first wait sleeps, and spinning starts once a wake-up
    /// shows the peer answering (a server thread does not spin for a client that only connected).
    spin_ok: AtomicBool,
    /// Waits since spinning was turned off, for the periodic retry.
    spin_skipped: AtomicU32,
    /// Waits right after waking a peer that waited on this CPU, for the periodic yield-spin.
    stacked_wakes: AtomicU32,
    /// This process's last checked view of the inbound `tail` (a lower bound), so a reader
    /// that is behind reads the writer's cache line only when it runs out of known data.
    tail_seen: AtomicU64,
    /// This process's last view of the inbound `done_to` (a lower bound from an honest writer;
    /// the peer's value only decides which of its own records a reader drops), so a reader
    /// taking records the writer completed long ago does not read the writer's cache line.
    done_seen: AtomicU64,
    /// When a paced read of this process last went on to read the inbound `tail`
    /// ([`sys::monotonic_ns`]; see `Conn::pace`).
    tail_read_at: AtomicU64,
    /// The current pace of those reads, in ns (see `Conn::pace`).
    pace_ns: AtomicU64,
    /// `tail_seen`, the reader's message count and `writer_waits_seen` when a paced read last
    /// decided its pace: what its look found since.
    paced_tail: AtomicU64,
    paced_msgs: AtomicU64,
    paced_waits: AtomicU64,
    /// The inbound writer's count of its waits for this reader (`WriterLine::waits`) at this
    /// process's last look at its cursor.
    writer_waits_seen: AtomicU64,
    /// Set when a read of this process found nothing (a blocking one then waits for its data;
    /// a nonblocking one returns), since the last paced read looked at it: the writer is not
    /// ahead of this end.
    read_waited: AtomicBool,
    /// This process's last checked view of the outbound `bytes_read` (a lower bound), so a
    /// writer checks its quota without touching the reader's cache line while far within it.
    read_seen: AtomicU64,
    /// Set when this process's last quota look found the reader behind (see
    /// `Conn::quota_met_publishing`): a write then publishes on the cached count alone.
    reader_behind: AtomicBool,
    /// Set by [`Conn::close_here`]: this process closed its handle to the end, so operations
    /// still running in its other threads stop (a forked copy of the end is not affected).
    closed_here: AtomicBool,
    /// This connection's token with the hang-up watcher (0: not watched).
    watch_token: AtomicU64,
    /// Set by whoever registers the connection with the watcher (see `transport::watch`).
    watch_claimed: AtomicBool,
    /// This connection, for registering it with the watcher from a `&self` method (set by
    /// [`Conn::watch`]).
    me: OnceLock<std::sync::Weak<Conn>>,
    /// The thread of this process that keeps the writer lock between steps of a streaming
    /// write (`step`), 0 if none: a withdrawal on that thread works under it.
    tx_kept_by: AtomicU64,
    /// When this process last wrote a record reaching beyond the outbound ring's window
    /// (`sys::monotonic_ms`, 0: the pages beyond it are given back), see `spill`.
    spilled_at: AtomicU64,
    /// Whether the watcher has this connection on its list of ends to give pages back for.
    spill_listed: AtomicBool,
    /// What the reader had consumed of the outbound ring when a PIPE_NOWAIT write last found
    /// no room (see `ready`); `u64::MAX` before the first.
    full_mark: AtomicU64,
}

/// [`sys::thread_token`] as the connection's words keep it.
pub(super) fn thread_token() -> u64 {
    sys::thread_token() as u64
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Acquire: pairs with `set_watch_token` (every other user is gone by now anyway).
        super::watch::forget(self.watch_token.load(Acquire), self);
        // Both looked at before `map` is taken out below (the header is in it).
        let parkable = self.parkable();
        let little = self.touched_little();
        // SAFETY: `map` is taken exactly once, here, and not used after: the fields dropped
        // after this function never touch the mapping.
        let mut map = unsafe { ManuallyDrop::take(&mut self.map) };
        if let Some(tag) = parkable {
            return recycle::park(self.side, tag, self.caps, self.wins, map, self.made_epoch);
        }
        if !little {
            map.unmap_promptly();
        }
    }
}

/// Serialises the making of readiness descriptors (rare), so the peer is sent exactly the
/// eventfd that is kept when two threads ask at once. One lock for the process, so the fork
/// handler can hold it (see `semantics::fork`).
pub(crate) static READINESS_MADE: Mutex<()> = Mutex::new(());

/// Holds one of this side's ring locks; releases it on drop.
pub(super) struct SideGuard<'a> {
    page: &'a sys::SidePage,
    lock: usize,
    /// Not `Send`: released without a look at whose lock it is (`SidePage::release`), so it
    /// must be dropped by the thread that took it.
    _here: std::marker::PhantomData<*const ()>,
}

impl Drop for SideGuard<'_> {
    fn drop(&mut self) {
        // Taken by this thread in this call (see `SidePage::release`).
        self.page.release(self.lock);
    }
}

impl Conn {
    fn hdr(&self) -> &ConnHeader {
        // SAFETY:
        // 1. the mapping is at least HEADER_BYTES long and page aligned, so a ConnHeader at
        //    offset 0 is in bounds and aligned;
        // 2. ConnHeader is made only of atomics, so shared mutation by the peer is allowed
        //    through a shared reference, and any bit pattern is a valid value.
        unsafe { &*(self.map.as_ptr() as *const ConnHeader) }
    }

    fn ring(&self, dir: usize) -> &RingHeader {
        // SAFETY: as in `hdr`: RING_HDR_OFF[dir] + size_of::<RingHeader>() <= HEADER_BYTES (checked
        // at compile time), the offset is 128-aligned, and RingHeader holds only atomics.
        unsafe { &*(self.map.as_ptr().add(RING_HDR_OFF[dir & 1]) as *const RingHeader) }
    }

    /// A side-private word (see `W_*`/`R_*`).
    fn mine(&self, word: usize) -> &AtomicU64 {
        self.page.word(word)
    }

    fn data_base(&self, dir: usize) -> *mut u8 {
        let off = HEADER_BYTES
            + if dir & 1 == 1 {
                self.caps[0] as usize
            } else {
                0
            };
        // SAFETY: off + cap <= map.len() by construction of the layout (total_size).
        unsafe { self.map.as_ptr().add(off) }
    }

    /// Takes one of this side's ring locks (`TX_LOCK` or `RX_LOCK`), waiting until `deadline`
    /// unless `nowait` (then `WouldBlock` when another thread or process of this end holds it).
    /// A lock whose holder died is taken over and the state it protected repaired first.
    /// Folded into its callers: the installed library's build (one unit, link-time
    /// optimised) otherwise calls it, twice per write-and-read pair.
    #[inline(always)]
    fn lock_side(
        &self,
        lock: usize,
        deadline: Option<Instant>,
        nowait: bool,
    ) -> QResult<SideGuard<'_>> {
        let r = if nowait {
            self.page.try_lock(lock)
        } else {
            self.page.lock(lock, deadline)
        };
        let how = match r {
            Ok(how) => how,
            Err(sys::Errno::BUSY) => return Err(QErr::WouldBlock),
            Err(sys::Errno::TIMEDOUT) => return Err(QErr::TimedOut),
            Err(sys::Errno::DEADLK) => {
                return Err(QErr::Corrupt("ring lock already held by this thread"))
            }
            Err(sys::Errno::AGAIN) => {
                return Err(QErr::NoResources(
                    "every slot of the lock holders' table is taken",
                ))
            }
            Err(_) => return Err(QErr::NoResources("the ring lock's wait failed")),
        };
        let g = SideGuard {
            page: &self.page,
            lock,
            _here: std::marker::PhantomData,
        };
        if how == sys::Locked::OwnerDied {
            if lock == TX_LOCK {
                // A writer of this end died in the middle of a record: withdraw it (W103).
                self.withdraw_unfinished();
            } else {
                // A reader died spinning: it wants nothing any more.
                // Relaxed: a hint, written only under the reader lock, which we hold.
                self.ring(self.side.rx()).r.0.spin_want.store(0, Relaxed);
            }
        }
        Ok(g)
    }

    /// Has the process's hang-up watcher wake this end's sleepers when the peer hangs up (see
    /// `transport::watch`: registered within a few milliseconds, or at once by
    /// [`Conn::watch_now`]). Call once, when the connection is established.
    pub(crate) fn watch(self: &std::sync::Arc<Self>) {
        let _ = self.me.set(Arc::downgrade(self));
        super::watch::watch(self);
    }

    /// Registers the connection with the watcher now, if [`Conn::watch`] offered it and it is
    /// not registered yet: something is about to depend on the watcher (a sleeper, an armed
    /// readiness signal, pages to give back). One `epoll_ctl` the first time, a load after.
    /// Kept out of line: it sits on the way to a sleep, next to the spin loop of `wait_on`.
    #[cold]
    #[inline(never)]
    pub(super) fn watch_now(&self) {
        // Relaxed: a hint; `claim_watch` decides who registers.
        if self.watch_claimed.load(Relaxed) {
            return;
        }
        if let Some(me) = self.me.get().and_then(std::sync::Weak::upgrade) {
            super::watch::watch_now(&me);
        }
    }

    /// Claims the registration with the watcher (true once, for whoever asks first).
    pub(crate) fn claim_watch(&self) -> bool {
        !self.watch_claimed.swap(true, AcqRel)
    }

    /// Records the token the watcher registered the connection under.
    pub(crate) fn set_watch_token(&self, token: u64) {
        // Release: pairs with the Acquire load in `drop` and `note_spill`.
        self.watch_token.store(token, Release);
    }

    /// Capacity of this end's outbound ring.
    pub(crate) fn capacity(&self) -> u64 {
        self.caps[self.side.tx()]
    }

    /// This end.
    pub(crate) fn side(&self) -> Side {
        self.side
    }

    /// Gives a connection made ahead of time its control socket.
    pub(crate) fn set_ctl(&mut self, ctl: OwnedFd) {
        self.ctl = Some(ctl);
    }

    /// The control socket (for hang-up probes), if this connection has one.
    pub(crate) fn ctl(&self) -> Option<&OwnedFd> {
        self.ctl.as_ref()
    }

    /// Sets this end's state and wakes every sleeper of both rings, and the peer's readiness
    /// signal when the peer is armed.
    pub(crate) fn set_state(&self, side: Side, state: u32) {
        // SYNC POINT with the state loads in `link_check`/`peer_closed`: Release orders the
        // state after everything this end wrote before closing.
        self.hdr().state[side as usize].store(state, Release);
        self.wake_all();
        // The peer armed for data on the ring we write, or for room on the ring we read.
        let data = &self.ring(self.side.tx()).k.0.poll_armed;
        let space = &self.ring(self.side.rx()).k.0.space_armed;
        // Two swaps, no short circuit: both are disarmed.
        if (data.swap(0, Relaxed) | space.swap(0, Relaxed)) != 0 {
            self.poke_peer();
        }
    }

    /// Current instance count as published by the server.
    pub(crate) fn cur_instances(&self) -> u32 {
        // Relaxed: an informational counter with no data depending on it.
        self.hdr().cur_instances.load(Relaxed)
    }

    /// Publishes the instance count (server side).
    pub(crate) fn set_cur_instances(&self, n: u32) {
        // Relaxed: see `cur_instances`.
        self.hdr().cur_instances.store(n, Relaxed);
    }

    /// The object parameter published by the creator (a mailslot's maximum message size).
    pub(crate) fn param(&self) -> u32 {
        // Relaxed: set once before the memfd is shared (ordered by the socket), or changed by
        // the owner as a plain setting with no data depending on it.
        self.hdr().param.load(Relaxed)
    }

    /// Publishes the object parameter (creator side).
    pub(crate) fn set_param(&self, v: u32) {
        // Relaxed: see `param`.
        self.hdr().param.store(v, Relaxed);
    }

    fn state_of(&self, side: Side) -> QResult<u32> {
        // SYNC POINT with `set_state`.
        let s = self.hdr().state[side as usize].load(Acquire);
        match s {
            OPEN | CLOSED | DISCONNECTED => Ok(s),
            _ => Err(QErr::Corrupt("bad end state")),
        }
    }

    /// Closes this process's use of the end while other threads may still be inside an
    /// operation on it: they return [`QErr::Closed`] at their next check (every wait checks
    /// after each wake-up, and every sleeper is woken here). With `tell_peer` the end's shared
    /// state becomes CLOSED as well, which the peer sees at once (without it, the peer learns of
    /// the close from the control socket's hang-up when the last copy of the end is gone).
    pub(crate) fn close_here(&self, tell_peer: bool) {
        // Relaxed: the wake-up below (a Release bump and a futex wake) orders it for sleepers,
        // and running operations re-check it at every step.
        self.closed_here.store(true, Relaxed);
        // Then the writer lock, for a moment: a write of another thread that published its
        // record holds it until the record is marked complete (`done_to`), and the peer's
        // reader, once it sees this end closed, drops what is not (W102, W103): a write that
        // reports success would be lost. A writer of this end that died in the middle of a
        // record leaves it to the next writer to withdraw; taking the lock does it, so the
        // peer's reader is not left waiting for the rest.
        let locked = match self.lock_side(TX_LOCK, None, true) {
            Err(QErr::WouldBlock) => {
                // A writer of this end asleep under its lock (streaming a message, waiting for
                // room) wakes, sees the close and lets the lock go. The wait is bounded: an
                // operation in steps may keep the lock between its steps (it gets
                // ERROR_OPERATION_ABORTED at its next one), and this thread may hold it itself.
                self.wake_all();
                self.lock_side(TX_LOCK, Some(Instant::now() + CLOSE_LOCK_WAIT), false)
            }
            r => r,
        };
        if tell_peer {
            self.set_state(self.side, CLOSED);
        } else {
            self.wake_all();
        }
        drop(locked);
    }

    /// Fails when this end was closed, the link is disconnected or this end's state is not OPEN.
    fn link_check(&self) -> QResult<()> {
        // Relaxed: see `close_here`.
        if self.closed_here.load(Relaxed) {
            return Err(QErr::Closed);
        }
        if self.state_of(Side::Server)? == DISCONNECTED
            || self.state_of(Side::Client)? == DISCONNECTED
        {
            return Err(QErr::Disconnected);
        }
        if self.state_of(self.side)? != OPEN {
            return Err(QErr::Disconnected);
        }
        Ok(())
    }

    /// The link state as the semantics layer sees it: `Ok(true)` connected, `Ok(false)` the peer
    /// closed, `Err(Disconnected)` disconnected.
    pub(crate) fn peer_open(&self) -> QResult<bool> {
        self.link_check()?;
        Ok(!self.peer_closed()?)
    }

    /// Whether the peer has closed. A disconnect (or this end's close) is an error here, never
    /// "peer closed": a DisconnectNamedPipe that lands between a caller's link check and this
    /// one must still read as ERROR_PIPE_NOT_CONNECTED (W44), not ERROR_BROKEN_PIPE.
    fn peer_closed(&self) -> QResult<bool> {
        let peer = self.state_of(self.side.peer())?;
        self.link_check()?;
        Ok(peer != OPEN)
    }

    /// Probes the control socket: if the peer hung up, records it as closed and wakes sleepers.
    pub(crate) fn probe_hup(&self) -> bool {
        let Some(ctl) = &self.ctl else {
            return false;
        };
        // Relaxed: a rate hint for `wait_on`.
        self.probed_at.store(sys::monotonic_ms(), Relaxed);
        if sys::peer_hung_up(ctl.as_fd()) {
            let st = &self.hdr().state[self.side.peer() as usize];
            // A hang-up after a disconnect keeps DISCONNECTED.
            let _ = st.compare_exchange(OPEN, CLOSED, AcqRel, Acquire);
            self.wake_all();
            return true;
        }
        false
    }

    fn wake_all(&self) {
        for d in 0..2 {
            let k = &self.ring(d).k.0;
            // SYNC POINT with the futex waits in `wait_on`: the bump makes a racing sleeper's
            // FUTEX_WAIT fail with EAGAIN; the fence pairs with the one after its announcement
            // (as in `notify`), so a sleeper that is not counted yet re-checks after the bump.
            k.data_seq.fetch_add(1, Release);
            k.space_seq.fetch_add(1, Release);
            fence(SeqCst);
            if k.data_waiters.load(Relaxed) != 0 {
                sys::futex_wake(&k.data_seq, u32::MAX);
            }
            if k.space_waiters.load(Relaxed) != 0 {
                sys::futex_wake(&k.space_seq, u32::MAX);
            }
        }
        self.poke_own();
    }

    fn notify(&self, dir: usize, which: Wake) {
        // SYNC POINT with the fence after `waiters.fetch_add` in `wait_on` (Dekker): either the
        // sleeper's re-check sees what we published before this call, or we see its waiter count,
        // bump the word it sleeps on (so a FUTEX_WAIT that has not started yet returns at once)
        // and wake it. With nobody asleep a publish costs no shared write beyond the data.
        fence(SeqCst);
        self.notify_fenced(dir, which);
    }

    /// Releases this side's ring lock `g`, then does what [`Conn::notify`] does for what was
    /// published under it. The lock's release is a locked exchange (`SidePage::release`),
    /// which on x86 is already the full fence `notify` needs between the publication and its
    /// looks at the sleepers (`sys::fence_after_locked_rmw`): one locked instruction less per
    /// message for the usual read and write (`quick`). A sleeper or an armed end that the
    /// looks miss re-checks after announcing itself, as for `notify`, and another thread of
    /// this end that takes the lock in between changes nothing: the looks only wake.
    #[inline]
    fn release_and_notify(&self, g: SideGuard<'_>, dir: usize, which: Wake) {
        drop(g);
        sys::fence_after_locked_rmw();
        self.notify_fenced(dir, which);
    }

    /// [`Conn::notify`] after its fence. Its two looks are inlined (every publish makes them,
    /// and between busy peers, which spin rather than sleep, they find nobody); what they
    /// find is handled out of line.
    #[inline(always)]
    fn notify_fenced(&self, dir: usize, which: Wake) {
        let k = &self.ring(dir).k.0;
        let (waiters, armed) = match which {
            Wake::Data => (&k.data_waiters, &k.poll_armed),
            Wake::Space => (&k.space_waiters, &k.space_armed),
        };
        // Relaxed, after the caller's fence (`notify`, `release_and_notify`). SYNC POINT with
        // the fence after a sleeper's count (`wait_inner`) and an end's arming (`arm_as`), the
        // Dekker pattern: either it sees what we published, or these looks see it. Seeing
        // nobody, we are done. `wake_found` looks again: a value that changed since is a
        // sleeper that left (it looks at the data again after a later fence) or an arming
        // already taken, which the swap there settles.
        if waiters.load(Relaxed) != 0 || armed.load(Relaxed) != 0 {
            self.wake_found(dir, which);
        }
    }

    /// What [`Conn::notify_fenced`] does once a look found a sleeper or an armed end. Out of
    /// line, not rare: an end that sleeps or waits in an event loop gets here on every
    /// message its peer publishes.
    #[inline(never)]
    fn wake_found(&self, dir: usize, which: Wake) {
        let k = &self.ring(dir).k.0;
        let (seq, waiters) = match which {
            Wake::Data => (&k.data_seq, &k.data_waiters),
            Wake::Space => (&k.space_seq, &k.space_waiters),
        };
        if waiters.load(Relaxed) != 0 {
            seq.fetch_add(1, Release);
            sys::futex_wake(seq, u32::MAX);
            // Relaxed: a local scheduling hint.
            self.woke_peer.store(true, Relaxed);
        }
        // SYNC POINT with the fence in `arm` (the same Dekker pattern): either the armed end's
        // re-check after arming sees what we published, or we see the flag, clear it and
        // signal its eventfd. One-shot: the armed end re-arms when it finds nothing again.
        let armed = match which {
            Wake::Data => &k.poll_armed,
            Wake::Space => &k.space_armed,
        };
        if armed.load(Relaxed) != 0 && {
            self.grace(armed);
            armed.swap(0, Relaxed) != 0
        } {
            self.poke_peer();
            // Relaxed: a local scheduling hint. The peer's event loop was asleep and answers
            // soon: the next wait spins for it (see `spin_plan`).
            self.woke_peer.store(true, Relaxed);
        }
    }

    /// Signals this end's own readiness signal, if it has one.
    fn poke_own(&self) {
        if let Some(s) = self.signal.get() {
            s.signal();
        }
    }

    /// Signals the peer's readiness eventfd, fetching it from the control socket the first time
    /// (the peer sends it before it arms, so it is queued by the time we look). A connection
    /// without a control socket is a mailslot's store, whose writer is this process: its own
    /// signal is the reader's.
    fn poke_peer(&self) {
        if self.ctl.is_none() {
            self.poke_own();
            return;
        }
        let fd = match self.peer_event.get() {
            Some(fd) => fd,
            None => self.fetch_peer_event(),
        };
        if let Some(fd) = fd {
            sys::poke(fd.as_fd());
        }
    }

    /// Takes the peer's readiness eventfd from the control socket, once (under the readiness
    /// lock, so a fork never copies a half-done initialisation).
    fn fetch_peer_event(&self) -> &Option<OwnedFd> {
        let _made = READINESS_MADE.lock().unwrap_or_else(|p| p.into_inner());
        self.peer_event.get_or_init(|| {
            let ctl = self.ctl.as_ref()?;
            let mut buf = [0u8; 8];
            let mut fds = Vec::new();
            let n = sys::recv_packet_nowait(ctl.as_fd(), &mut buf, &mut fds).ok()?;
            if n != READINESS_MSG.len() || buf[..n] != READINESS_MSG[..] || fds.len() != 1 {
                return None;
            }
            let fd = fds.pop()?;
            // Whatever a peer sent, signalling it must never block this writer.
            sys::set_nonblocking(fd.as_fd()).ok()?;
            Some(fd)
        })
    }

    /// Makes `sig` this end's readiness signal (see [`Conn::signal`]), sending it to the peer
    /// over the control socket the first time. An end keeps one signal for all its
    /// connections; a connection takes the first it is given.
    pub(crate) fn attach_signal(&self, sig: &Arc<sys::EventFd>) {
        if self.signal.get().is_some() {
            return;
        }
        let _made = READINESS_MADE.lock().unwrap_or_else(|p| p.into_inner());
        if self.signal.get().is_some() {
            return;
        }
        if let Some(ctl) = &self.ctl {
            // A peer that is gone never reads it; its hang-up is noticed by other means (the
            // watcher, probes), which signal `sig` locally.
            let _ = sys::send_packet(ctl.as_fd(), READINESS_MSG, &[sig.fd()]);
        }
        let _ = self.signal.set(sig.clone());
    }

    /// Arms this end's readiness signal for `which` (see [`WakeLine::poll_armed`]): the peer's
    /// next publish (`Data`) or consume (`Space`) signals it. The caller must look at its
    /// condition again afterwards: what the peer did before the arm signals nothing.
    pub(super) fn arm(&self, which: Wake) {
        self.arm_as(which, false);
    }

    /// [`Conn::arm`]; with `lazy` (data only), the peer's publish gives a thread of this process
    /// that is about to spin for the data ([`Conn::spin_ready`], which takes the arm back) a
    /// moment before it signals: an overlapped read issued just before its thread waits on it.
    pub(super) fn arm_as(&self, which: Wake, lazy: bool) {
        // A peer that dies while this end waits on its readiness descriptor must signal it.
        self.watch_now();
        let (flag, how) = match which {
            Wake::Data => (
                &self.ring(self.side.rx()).k.0.poll_armed,
                if lazy {
                    layout::ARMED_LAZY
                } else {
                    layout::ARMED
                },
            ),
            Wake::Space => (&self.ring(self.side.tx()).k.0.space_armed, layout::ARMED),
        };
        flag.store(how, Relaxed);
        // SYNC POINT with the fence in `notify`, or the lock's release in `release_and_notify`
        // (Dekker).
        fence(SeqCst);
    }

    /// For a publish that found the peer's reader armed: when it is armed lazily, waits up to
    /// [`LAZY_GRACE_NS`] for the flag to change (a thread of the reader took the arm back and
    /// spins for the data, or armed it again for good); the caller then takes whatever arm is
    /// left and signals. Bounded: a reader that armed lazily and did not come, or a hostile
    /// one, costs a publish at most the grace.
    #[cold]
    fn grace(&self, armed: &AtomicU32) {
        if armed.load(Relaxed) != layout::ARMED_LAZY {
            return;
        }
        #[cfg(test)]
        lazy_arm_tests::in_grace(armed);
        let start = sys::monotonic_ns();
        let mut looks = 0u32;
        loop {
            std::hint::spin_loop();
            // Relaxed: the flag alone is decided on; the data was published before the fence.
            if armed.load(Relaxed) != layout::ARMED_LAZY {
                return;
            }
            looks = looks.wrapping_add(1);
            if looks.is_multiple_of(32) && sys::monotonic_ns().saturating_sub(start) > LAZY_GRACE_NS
            {
                return;
            }
        }
    }

    /// For a nonblocking read that found nothing on an end with a readiness signal: clears the
    /// signal and arms it for data, so it polls readable again when a read may find something.
    /// Returns whether there is something to read already (look again).
    fn rearm_for_read(&self) -> QResult<bool> {
        let Some(s) = self.signal.get() else {
            return Ok(false);
        };
        s.clear();
        self.arm(Wake::Data);
        Ok(self.has_data(self.side.rx())? || self.peer_closed()?)
    }
}
