//! Process-shared robust mutexes in a page that only one side of a connection maps.
//!
//! The ring locks of a connection end serialise that end's readers (or writers): threads of one
//! process, and processes that share the end because one forked the other. They used to live in
//! the connection's memfd, which the *peer* maps too, so a hostile peer could set a lock word
//! and wedge the other side, and a dead owner was detected by probing its pid, which the kernel
//! may reuse. Here instead:
//! - the locks live in a `MAP_SHARED | MAP_ANONYMOUS` page made by this side: forked children
//!   share it, the peer process never has it;
//! - each lock is a `pthread_mutex_t` with `PTHREAD_PROCESS_SHARED` and `PTHREAD_MUTEX_ROBUST`:
//!   when an owner thread dies, the kernel's robust-futex list marks the lock "owner died" and
//!   the next locker gets `EOWNERDEAD` (no pid is ever probed, so pid reuse cannot fool it);
//! - the page also holds a few words of side-private state (atomics) that only lock holders of
//!   this side read and write;
//! - a page whose connection closed is kept for this process's next connection ([`SIDE_POOL`],
//!   at most [`POOL_MAX`] pages) instead of being unmapped and a new one mapped: unmapping a
//!   written shared page costs a TLB shootdown (an IPI to every other CPU running the process,
//!   a VM exit on a virtual machine), and a new page a page fault (issue 13). A page is kept
//!   only when it is this process's alone: made since the last fork (a forked child shares the
//!   pages that existed when it was made, and may still use them through the ends it
//!   inherited) and with both locks free (a lock still held is on its holder's robust list). The
//!   peer never maps a side page, so keeping one never lets anybody see another connection's
//!   state: the page goes to another connection of the same side of the same process, with its
//!   words zeroed. The epoch is only bumped by the library's fork handler, so the layers above
//!   install it before they make the first connection (`semantics::install_fork_handlers`, as
//!   for every process-wide lock).
//!
//! # Safety
//! The mutexes are initialised once, before the page is shared with anyone (a new mapping is
//! private to this process until it forks), and never moved: they stay at fixed offsets of a
//! mapping that lives as long as the [`SidePage`].
#![allow(unsafe_code)]

use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{Errno, Mapping, Result};

/// Robust mutexes in one page.
pub(crate) const SIDE_LOCKS: usize = 2;
/// Side-private words in one page.
pub(crate) const SIDE_WORDS: usize = 48;
/// Bytes reserved per mutex (`pthread_mutex_t` is 40 bytes on x86-64 and aarch64 glibc).
const LOCK_STRIDE: usize = 128;
const WORDS_OFF: usize = SIDE_LOCKS * LOCK_STRIDE;
const PAGE: usize = 4096;

const _: () = assert!(std::mem::size_of::<libc::pthread_mutex_t>() <= LOCK_STRIDE);
const _: () = assert!(WORDS_OFF + SIDE_WORDS * 8 <= PAGE);

/// How a lock was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Locked {
    /// Normally.
    Clean,
    /// The previous owner died holding it: the state it protects may be half updated. The
    /// caller repairs what it can; the lock is already marked consistent again.
    OwnerDied,
}

/// Pages [`SIDE_POOL`] keeps at most.
pub(crate) const POOL_MAX: usize = 64;

/// One page of robust locks and side-private words (see the module docs).
#[derive(Debug)]
pub(crate) struct SidePage {
    /// Dropped by hand: [`SidePage`]'s drop either keeps it in [`SIDE_POOL`] or unmaps it.
    map: ManuallyDrop<Mapping>,
    /// The [`Pool::epoch`] when this page was made or taken from the pool.
    epoch: u64,
}

/// Side pages of closed connections, ready for new ones (see the module docs).
#[derive(Debug)]
pub(crate) struct Pool {
    pages: Vec<Mapping>,
    /// Pages that were in the pool at a fork, shared with the child since: unmapped (in each
    /// process, its own mappings) at the next use of the pool, never handed out.
    stale: Vec<Mapping>,
    /// Bumped by every fork ([`Pool::forked`]): a page of an older epoch may be shared with a
    /// child and is never kept.
    epoch: u64,
}

impl Pool {
    /// Called by the fork handler, holding the pool's lock, just before a fork: every page that
    /// exists now may be shared with the child from now on.
    pub(crate) fn forked(&mut self) {
        self.epoch += 1;
        let pages = std::mem::take(&mut self.pages);
        self.stale.extend(pages);
    }
}

/// The pool of this process. Its lock is held only for bookkeeping (never across a syscall:
/// pages are unmapped after it is released) and is one of those the fork handler holds
/// (`semantics::fork`).
pub(crate) static SIDE_POOL: Mutex<Pool> = Mutex::new(Pool {
    pages: Vec::new(),
    stale: Vec::new(),
    epoch: 0,
});

fn pool() -> MutexGuard<'static, Pool> {
    SIDE_POOL.lock().unwrap_or_else(|p| p.into_inner())
}

extern "C" {
    // glibc >= 2.30: like pthread_mutex_timedlock, with the clock named (CLOCK_MONOTONIC, so a
    // change of the wall clock neither shortens nor stretches a wait).
    fn pthread_mutex_clocklock(
        mutex: *mut libc::pthread_mutex_t,
        clock: libc::clockid_t,
        abstime: *const libc::timespec,
    ) -> libc::c_int;
}

impl SidePage {
    /// A page with [`SIDE_LOCKS`] unlocked robust, process-shared mutexes and zeroed words: one
    /// kept from a closed connection of this process when there is one, else a new one.
    pub(crate) fn new() -> Result<SidePage> {
        let (kept, epoch, stale) = {
            let mut p = pool();
            let stale = std::mem::take(&mut p.stale);
            (p.pages.pop(), p.epoch, stale)
        };
        drop(stale);
        if let Some(map) = kept {
            let page = SidePage {
                map: ManuallyDrop::new(map),
                epoch,
            };
            for i in 0..SIDE_WORDS {
                // Relaxed: the page is this process's alone and unused until returned.
                page.word(i).store(0, Relaxed);
            }
            return Ok(page);
        }
        let map = Mapping::anonymous_shared(PAGE)?;
        let page = SidePage {
            map: ManuallyDrop::new(map),
            epoch,
        };
        // SAFETY:
        // 1. `attr` is initialised by pthread_mutexattr_init before any other use and destroyed
        //    at the end;
        // 2. each mutex pointer is inside the fresh mapping (LOCK_STRIDE-spaced, 8-aligned,
        //    size checked at compile time) and nobody else can see the page yet, so initialising
        //    it cannot race with a user.
        unsafe {
            let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
            if libc::pthread_mutexattr_init(&mut attr) != 0 {
                return Err(Errno::NOMEM);
            }
            let ok = libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED)
                == 0
                && libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST) == 0
                && (0..SIDE_LOCKS).all(|i| libc::pthread_mutex_init(page.mutex(i), &attr) == 0);
            libc::pthread_mutexattr_destroy(&mut attr);
            if !ok {
                return Err(Errno::NOMEM);
            }
        }
        Ok(page)
    }

    fn mutex(&self, i: usize) -> *mut libc::pthread_mutex_t {
        assert!(i < SIDE_LOCKS, "side lock index out of range");
        // SAFETY: i * LOCK_STRIDE + LOCK_STRIDE <= WORDS_OFF < PAGE = the mapping's length.
        unsafe { self.map.as_ptr().add(i * LOCK_STRIDE).cast() }
    }

    /// Side-private word `i` (`i < SIDE_WORDS`), shared with forked children of this side only.
    pub(crate) fn word(&self, i: usize) -> &AtomicU64 {
        assert!(i < SIDE_WORDS, "side word index out of range");
        // SAFETY: WORDS_OFF + 8 * i + 8 <= PAGE (checked at compile time for SIDE_WORDS), the
        // offset is 8-aligned in a page-aligned mapping, the page lives as long as `self`, and
        // an AtomicU64 may alias memory other processes access atomically.
        unsafe { &*(self.map.as_ptr().add(WORDS_OFF + 8 * i) as *const AtomicU64) }
    }

    /// Takes lock `i`, waiting until `deadline` (`None`: forever); `ETIMEDOUT` when it passes.
    /// A signal never ends the wait early.
    pub(crate) fn lock(&self, i: usize, deadline: Option<Instant>) -> Result<Locked> {
        let m = self.mutex(i);
        let r = match deadline {
            // SAFETY: `m` is an initialised robust mutex inside our live mapping.
            None => unsafe { libc::pthread_mutex_lock(m) },
            Some(d) => {
                let ts = monotonic_timespec(d);
                // SAFETY: as above; `ts` is a valid timespec for the duration of the call.
                unsafe { pthread_mutex_clocklock(m, libc::CLOCK_MONOTONIC, &ts) }
            }
        };
        self.finish_lock(m, r)
    }

    /// Takes lock `i` if it is free now (`EBUSY` otherwise): for operations that must never
    /// wait (PIPE_NOWAIT).
    pub(crate) fn try_lock(&self, i: usize) -> Result<Locked> {
        let m = self.mutex(i);
        // SAFETY: `m` is an initialised robust mutex inside our live mapping.
        let r = unsafe { libc::pthread_mutex_trylock(m) };
        self.finish_lock(m, r)
    }

    fn finish_lock(&self, m: *mut libc::pthread_mutex_t, r: libc::c_int) -> Result<Locked> {
        match r {
            0 => Ok(Locked::Clean),
            libc::EOWNERDEAD => {
                // SAFETY: we own the mutex (EOWNERDEAD hands it over); marking it consistent
                // lets it be used again after this owner's repair.
                unsafe { libc::pthread_mutex_consistent(m) };
                Ok(Locked::OwnerDied)
            }
            libc::EDEADLK => Err(Errno::DEADLK),
            e => Err(Errno::from_raw_os_error(e)),
        }
    }

    /// Releases lock `i`, which the calling thread holds.
    pub(crate) fn unlock(&self, i: usize) {
        // SAFETY: `m` is an initialised robust mutex inside our live mapping; the caller holds
        // it (the queue layer's guards guarantee that).
        unsafe {
            libc::pthread_mutex_unlock(self.mutex(i));
        }
    }
}

impl Drop for SidePage {
    fn drop(&mut self) {
        // Looked at before `map` is taken out below (the locks live in it).
        let free = (0..SIDE_LOCKS).all(|i| self.is_free(i));
        // SAFETY: `map` is taken exactly once, here, and not used after (only `epoch` is).
        let map = unsafe { ManuallyDrop::take(&mut self.map) };
        if !free {
            // A lock is held (a thread keeps it between steps) or its holder died: the page is
            // unmapped as before, never reused.
            return drop(map);
        }
        let refused = {
            let mut p = pool();
            if self.epoch == p.epoch && p.pages.len() < POOL_MAX {
                p.pages.push(map);
                None
            } else {
                Some(map)
            }
        };
        // Unmapped outside the lock.
        drop(refused);
    }
}

impl SidePage {
    /// Whether lock `i` is free and consistent (taken and released again to find out), so
    /// the page can serve another connection.
    fn is_free(&self, i: usize) -> bool {
        let m = self.mutex(i);
        // SAFETY: `m` is an initialised robust mutex inside our live mapping.
        match unsafe { libc::pthread_mutex_trylock(m) } {
            0 => {
                // SAFETY: this thread has just taken it.
                unsafe { libc::pthread_mutex_unlock(m) };
                true
            }
            libc::EOWNERDEAD => {
                // SAFETY: EOWNERDEAD hands the mutex to us: mark it usable and release it, so
                // nothing is left on this thread's robust list; the page is not reused anyway.
                unsafe {
                    libc::pthread_mutex_consistent(m);
                    libc::pthread_mutex_unlock(m);
                }
                false
            }
            _ => false,
        }
    }
}

/// `deadline` as an absolute CLOCK_MONOTONIC timespec (clamped at now).
fn monotonic_timespec(deadline: Instant) -> libc::timespec {
    let left = deadline.saturating_duration_since(Instant::now());
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let now = Duration::new(now.tv_sec as u64, now.tv_nsec as u32);
    let at = now.saturating_add(left);
    libc::timespec {
        tv_sec: at.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: at.subsec_nanos() as _,
    }
}
