//! Process-shared ring locks that survive a dead holder, in a page that only one side of a
//! connection maps.
//!
//! The ring locks of a connection end serialise that end's readers (or writers): threads of one
//! process, and processes that share the end because one forked the other. They used to live in
//! the connection's memfd, which the *peer* maps too, so a hostile peer could set a lock word
//! and wedge the other side, and a dead owner was detected by probing its pid, which the kernel
//! may reuse. Here instead:
//! - the locks live in a `MAP_SHARED | MAP_ANONYMOUS` page made by this side: forked children
//!   share it, the peer process never has it;
//! - each lock is one 64-bit word: 0 when free, else its holder's liveness token
//!   (`sys::liveness`: the holder's thread id, and the slot of the robust mutex that thread
//!   holds for its whole life), with bit 31 set while somebody sleeps on it. Taking it is one
//!   compare-exchange and releasing it one exchange (a `FUTEX_WAKE` only when bit 31 was set);
//!   a waiter sleeps on the word's low half (the futex word) and on the holder's liveness mutex
//!   at once. When the holder thread ends, however it ends, the kernel marks its liveness
//!   mutex "owner died" and wakes one sleeper on it, which wakes the others (each looks again
//!   every second in any case); the next taker takes the lock over and is told
//!   ([`Locked::OwnerDied`]). No pid is ever probed, so pid reuse cannot fool it. (Until
//!   issue 13 each lock was a robust `pthread_mutex_t`: the same guarantee, but every lock and
//!   unlock went on and off glibc's robust list, about 300 instructions per 64 B write and
//!   read pair);
//! - the page also holds a few words of side-private state (atomics) that only lock holders of
//!   this side read and write;
//! - a page whose connection closed is kept for this process's next connection ([`SIDE_POOL`],
//!   at most [`POOL_MAX`] pages) instead of being unmapped and a new one mapped: unmapping a
//!   written shared page costs a TLB shootdown (an IPI to every other CPU running the process,
//!   a VM exit on a virtual machine), and a new page a page fault (issue 13). A page is kept
//!   only when it is this process's alone: made since the last fork (a forked child shares the
//!   pages that existed when it was made, and may still use them through the ends it
//!   inherited) and with both locks free. The
//!   peer never maps a side page, so keeping one never lets anybody see another connection's
//!   state: the page goes to another connection of the same side of the same process, with its
//!   words zeroed. The epoch is only bumped by the library's fork handler, so the layers above
//!   install it before they make the first connection (`semantics::install_fork_handlers`, as
//!   for every process-wide lock).
//!
//! # Safety
//! The lock words and side words are plain atomics at fixed offsets of a mapping that lives as
//! long as the [`SidePage`]; the futex calls on a lock word's low half pass its address only.
#![allow(unsafe_code)]

use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use super::{Errno, Mapping, Result};

/// Ring locks in one page.
pub(crate) const SIDE_LOCKS: usize = 2;
/// Side-private words in one page.
pub(crate) const SIDE_WORDS: usize = 48;
/// Bytes reserved per lock word (a cache line of its own, two to keep the adjacent-line
/// prefetcher off the other lock).
const LOCK_STRIDE: usize = 128;
const WORDS_OFF: usize = SIDE_LOCKS * LOCK_STRIDE;
const PAGE: usize = 4096;

const _: () = assert!(WORDS_OFF + SIDE_WORDS * 8 <= PAGE);

/// Bit 31 of a lock word: somebody sleeps on it (a token never has it, see `liveness`).
const SLEEPERS: u64 = 1 << 31;

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

impl SidePage {
    /// A page with [`SIDE_LOCKS`] free locks and zeroed words: one kept from a closed
    /// connection of this process when there is one, else a new one.
    pub(crate) fn new() -> Result<SidePage> {
        // Before any lock of the page can be taken (and so before a fork can share one): the
        // table of the holders' liveness marks.
        super::liveness::table_ready()?;
        let (kept, epoch, stale) = {
            let mut p = pool();
            let stale = std::mem::take(&mut p.stale);
            (p.pages.pop(), p.epoch, stale)
        };
        drop(stale);
        let was_kept = kept.is_some();
        let map = match kept {
            // Both locks free: the page was kept only so.
            Some(map) => map,
            // Zeroed: both locks free.
            None => Mapping::anonymous_shared(PAGE)?,
        };
        let page = SidePage {
            map: ManuallyDrop::new(map),
            epoch,
        };
        if was_kept {
            for i in 0..SIDE_WORDS {
                // Relaxed: the page is this process's alone and unused until returned.
                page.word(i).store(0, Relaxed);
            }
        }
        Ok(page)
    }

    fn lock_word(&self, i: usize) -> &AtomicU64 {
        assert!(i < SIDE_LOCKS, "side lock index out of range");
        // SAFETY: i * LOCK_STRIDE + 8 <= WORDS_OFF < PAGE = the mapping's length, 8-aligned in
        // a page-aligned mapping that lives as long as `self`; an AtomicU64 may alias memory
        // other processes access atomically.
        unsafe { &*(self.map.as_ptr().add(i * LOCK_STRIDE) as *const AtomicU64) }
    }

    /// Side-private word `i` (`i < SIDE_WORDS`), shared with forked children of this side only.
    pub(crate) fn word(&self, i: usize) -> &AtomicU64 {
        assert!(i < SIDE_WORDS, "side word index out of range");
        // SAFETY: WORDS_OFF + 8 * i + 8 <= PAGE (checked at compile time for SIDE_WORDS), the
        // offset is 8-aligned in a page-aligned mapping, the page lives as long as `self`, and
        // an AtomicU64 may alias memory other processes access atomically.
        unsafe { &*(self.map.as_ptr().add(WORDS_OFF + 8 * i) as *const AtomicU64) }
    }

    /// Takes lock `i`, waiting until `deadline` (`None`: forever); `ETIMEDOUT` when it passes,
    /// `EDEADLK` when this thread holds it already. A signal never ends the wait early.
    /// Folded into its caller (`lock_side`): out of line it cost 12 instructions per 64 B write
    /// and read pair.
    #[inline(always)]
    pub(crate) fn lock(&self, i: usize, deadline: Option<Instant>) -> Result<Locked> {
        let me = super::liveness::mine()?;
        if self.take_free(i, me) {
            return Ok(Locked::Clean);
        }
        self.lock_slow(i, me, Some(deadline))
    }

    /// Takes lock `i` if it is free now (`EBUSY` otherwise, also when this thread holds it):
    /// for operations that must never wait (PIPE_NOWAIT). A lock whose holder died is free.
    /// Folded into its callers as `lock` is: the usual write tries first (see
    /// `transport::queue::quick`), and a free lock costs one compare-exchange.
    #[inline(always)]
    pub(crate) fn try_lock(&self, i: usize) -> Result<Locked> {
        let me = super::liveness::mine()?;
        if self.take_free(i, me) {
            return Ok(Locked::Clean);
        }
        self.lock_slow(i, me, None)
    }

    /// Takes lock `i` for the mark `me` if it is free: one compare-exchange, the whole of
    /// `lock` and `try_lock` when nobody holds it.
    #[inline(always)]
    fn take_free(&self, i: usize, me: u64) -> bool {
        // Acquire: what the previous holder wrote under the lock, before its releasing exchange.
        self.lock_word(i)
            .compare_exchange(0, me, Acquire, Relaxed)
            .is_ok()
    }

    /// The lock's contended path; `wait` is `None` for a try, else the deadline.
    #[cold]
    #[inline(never)]
    fn lock_slow(&self, i: usize, me: u64, wait: Option<Option<Instant>>) -> Result<Locked> {
        let w = self.lock_word(i);
        // After a sleep the lock is taken with SLEEPERS set: others may still sleep on it.
        let mut mark = 0;
        // Acquire: as in `lock`.
        let mut v = w.load(Acquire);
        loop {
            if v == 0 {
                match w.compare_exchange(0, me | mark, Acquire, Acquire) {
                    Ok(_) => return Ok(Locked::Clean),
                    Err(now) => {
                        v = now;
                        continue;
                    }
                }
            }
            let holder = v & !SLEEPERS;
            if holder == me {
                // A try finds it busy, as glibc's trylock did (a step of this thread may keep
                // it between calls); a wait would never end.
                return Err(if wait.is_some() {
                    Errno::DEADLK
                } else {
                    Errno::BUSY
                });
            }
            if !super::liveness::alive(holder) {
                // Keep SLEEPERS (and set it when we slept: the dead holder may have taken the
                // lock without it): the others sleeping on it are woken when we release it.
                match w.compare_exchange(v, me | (v & SLEEPERS) | mark, Acquire, Acquire) {
                    Ok(_) => {
                        super::liveness::wake_all_on(holder);
                        return Ok(Locked::OwnerDied);
                    }
                    Err(now) => {
                        v = now;
                        continue;
                    }
                }
            }
            let Some(deadline) = wait else {
                return Err(Errno::BUSY);
            };
            if v & SLEEPERS == 0 {
                // Relaxed: only the value matters; the sleep re-reads it in the kernel.
                if let Err(now) = w.compare_exchange(v, v | SLEEPERS, Relaxed, Acquire) {
                    v = now;
                    continue;
                }
            }
            mark = SLEEPERS;
            let low = (v | SLEEPERS) as u32;
            let woken = super::liveness::sleep(low_half(w), low, holder, deadline)?;
            if !super::liveness::alive(holder) {
                // The kernel woke one sleeper of the dead holder's mark, maybe one woken
                // already for another reason: pass it on, whatever happens to this lock.
                super::liveness::wake_all_on(holder);
            }
            if woken == super::liveness::Woken::TimedOut {
                return Err(Errno::TIMEDOUT);
            }
            v = w.load(Acquire);
        }
    }

    /// Releases lock `i`, which the caller knows to be this thread's (a scoped guard, which
    /// took it earlier in the same call, or a caller that asked [`SidePage::holds`]): unlike
    /// [`SidePage::unlock`], no look at whose it is. (The look made a 64 B write and read pair
    /// 41 instructions dearer, the guards' drops no longer folding into the calls.)
    #[inline]
    pub(crate) fn release(&self, i: usize) {
        self.release_word(self.lock_word(i));
    }

    /// Releases lock `i`, which the calling thread holds. Does nothing when the lock names
    /// another thread, as glibc's unlock of a mutex another thread owns did: a forked child
    /// that drops its copy of something the forking thread held locked (a zero-copy message)
    /// must not release its parent's lock.
    #[inline]
    pub(crate) fn unlock(&self, i: usize) {
        if self.holds(i) {
            self.release(i);
        }
    }

    /// Whether lock `i` names the calling thread's mark.
    #[inline]
    pub(crate) fn holds(&self, i: usize) -> bool {
        // Relaxed: only this thread can have stored its own token; others only add SLEEPERS.
        super::liveness::is_mine(self.lock_word(i).load(Relaxed) & !SLEEPERS)
    }

    #[inline]
    fn release_word(&self, w: &AtomicU64) {
        // Release (at least): what we wrote under the lock, before the next holder's Acquire.
        // SYNC POINT with the sleepers of the peer (`Conn::release_and_notify`): on x86 this
        // exchange is the full barrier between what was published under the lock and the
        // looks at the peer's sleepers after it, so it must stay a read-modify-write. SeqCst
        // for that: LLVM may turn a Release or Relaxed exchange whose old value goes unused
        // into a plain store, never a SeqCst one; on x86 both are the same `xchg`.
        if w.swap(0, SeqCst) & SLEEPERS != 0 {
            super::liveness::futex_wake_one_raw(low_half(w));
        }
    }
}

/// The address of the futex word of a lock word: its low 32 bits (the holder's thread id and
/// the sleepers bit).
fn low_half(w: &AtomicU64) -> *const u32 {
    let p = w.as_ptr() as *const u32;
    if cfg!(target_endian = "big") {
        p.wrapping_add(1)
    } else {
        p
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
    /// Whether lock `i` is free, so the page can serve another connection.
    fn is_free(&self, i: usize) -> bool {
        // Acquire: a holder's last writes to the page before it released the lock.
        self.lock_word(i).load(Acquire) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::SeqCst;
    use std::sync::Arc;
    use std::time::Duration;

    fn kernel_at_least(major: u32, minor: u32) -> bool {
        let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut n = r
            .split(|c: char| !c.is_ascii_digit())
            .map(|x| x.parse::<u32>());
        match (n.next(), n.next()) {
            (Some(Ok(a)), Some(Ok(b))) => (a, b) >= (major, minor),
            _ => false,
        }
    }

    fn page() -> Arc<SidePage> {
        Arc::new(SidePage::new().unwrap())
    }

    /// Waits until somebody sleeps on lock `i` (its sleepers bit), at most 10 s.
    fn until_slept_on(p: &SidePage, i: usize) {
        let end = Instant::now() + Duration::from_secs(10);
        while p.lock_word(i).load(SeqCst) & SLEEPERS == 0 {
            assert!(Instant::now() < end, "nobody went to sleep on lock {i}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_lock_excludes_others_and_its_own_holder_again() {
        let p = page();
        assert_eq!(p.lock(0, None), Ok(Locked::Clean));
        assert_eq!(p.lock(0, None), Err(Errno::DEADLK));
        assert_eq!(p.try_lock(0), Err(Errno::BUSY));
        // The other lock is independent.
        assert_eq!(p.try_lock(1), Ok(Locked::Clean));
        let q = p.clone();
        let r = std::thread::spawn(move || q.try_lock(0)).join().unwrap();
        assert_eq!(r, Err(Errno::BUSY));
        let q = p.clone();
        let at = Instant::now() + Duration::from_millis(50);
        let r = std::thread::spawn(move || q.lock(0, Some(at)))
            .join()
            .unwrap();
        assert_eq!(r, Err(Errno::TIMEDOUT));
        assert!(Instant::now() >= at);
        p.unlock(0);
        p.unlock(1);
        assert!(p.is_free(0) && p.is_free(1));
        let q = p.clone();
        let r = std::thread::spawn(move || {
            let r = q.try_lock(0);
            q.unlock(0);
            r
        });
        assert_eq!(r.join().unwrap(), Ok(Locked::Clean));
    }

    /// A waiter sleeps until the holder releases, then takes the lock cleanly; the release
    /// leaves the word free.
    #[test]
    fn a_sleeping_waiter_gets_the_lock_when_it_is_released() {
        let p = page();
        assert_eq!(p.lock(0, None), Ok(Locked::Clean));
        let q = p.clone();
        let w = std::thread::spawn(move || {
            let r = q.lock(0, Some(Instant::now() + Duration::from_secs(20)));
            q.unlock(0);
            r
        });
        until_slept_on(&p, 0);
        let released = Instant::now();
        p.unlock(0);
        assert_eq!(w.join().unwrap(), Ok(Locked::Clean));
        // Woken by the release, not by its own look again (10 s in tests).
        assert!(released.elapsed() < Duration::from_secs(5));
        assert!(p.is_free(0));
    }

    /// A thread that ends holding a lock (without releasing it) leaves it to the next taker,
    /// who is told: at once when nobody waited, and by waking the sleepers when somebody did:
    /// two on one lock and one on the other, all within the 20 s they wait (the kernel wakes
    /// one sleeper at the death, which wakes the others; the sleepers' own look again, every
    /// 10 s in tests, is a backstop, not what this measures: the waits end well before).
    #[test]
    fn a_holder_thread_that_ends_is_detected_by_takers_and_sleepers() {
        holder_thread_ends(false);
    }

    /// As above on a kernel without `futex_waitv` (before 5.16), where a sleeper looks at the
    /// holder's mark every 20 ms.
    #[test]
    fn a_holder_thread_that_ends_is_detected_without_futex_waitv() {
        holder_thread_ends(true);
    }

    fn holder_thread_ends(no_waitv: bool) {
        let p = page();
        let q = p.clone();
        std::thread::spawn(move || {
            assert_eq!(q.lock(0, None), Ok(Locked::Clean));
        })
        .join()
        .unwrap();
        assert_eq!(p.try_lock(0), Ok(Locked::OwnerDied));
        p.unlock(0);
        assert_eq!(p.lock(0, None), Ok(Locked::Clean));
        p.unlock(0);

        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let q = p.clone();
        let holder = std::thread::spawn(move || {
            assert_eq!(q.lock(0, None), Ok(Locked::Clean));
            assert_eq!(q.lock(1, None), Ok(Locked::Clean));
            let _ = rx.recv();
        });
        while p.is_free(1) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let waiters: Vec<_> = [0, 0, 1]
            .into_iter()
            .map(|i| {
                let q = p.clone();
                std::thread::spawn(move || {
                    if no_waitv {
                        super::super::liveness::without_waitv();
                    }
                    let at = Instant::now() + Duration::from_secs(20);
                    let r = q.lock(i, Some(at));
                    if r.is_ok() {
                        // Long enough for the other sleeper of the lock to sleep again.
                        std::thread::sleep(Duration::from_millis(50));
                        q.unlock(i);
                    }
                    (r, Instant::now())
                })
            })
            .collect();
        until_slept_on(&p, 0);
        until_slept_on(&p, 1);
        // All three asleep (no way to see it from here but time).
        std::thread::sleep(Duration::from_millis(100));
        drop(tx);
        holder.join().unwrap();
        let died = Instant::now();
        let mut told = 0;
        for w in waiters {
            let (r, at) = w.join().unwrap();
            match r {
                Ok(Locked::OwnerDied) => told += 1,
                Ok(Locked::Clean) => {}
                e => panic!("a sleeper got {e:?}"),
            }
            assert!(
                at.duration_since(died) < Duration::from_secs(5),
                "a sleeper waited {:?} after the holder ended",
                at.duration_since(died)
            );
        }
        // One taker of each lock is told; the second sleeper of lock 0 gets it cleanly.
        assert_eq!(told, 2);
        if !no_waitv && kernel_at_least(5, 16) {
            // The wakes above came from futex_waitv, not from the 20 ms fallback's looks.
            assert!(super::super::liveness::waitv_in_use());
        }
        assert!(p.is_free(0) && p.is_free(1));
    }

    /// A forked child that holds a lock and is killed: the parent's sleeper wakes and takes it
    /// over (the child's mark is its own, claimed after the fork, not the forking thread's).
    #[test]
    fn a_forked_holder_killed_wakes_the_sleeper() {
        let p = page();
        // This thread's mark exists before the fork: the child must not reuse it.
        assert_eq!(p.lock(1, None), Ok(Locked::Clean));
        p.unlock(1);
        let mut fds = [0; 2];
        // SAFETY: a pipe into a local array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: the child only takes the lock (atomics, gettid and the mark's trylock, no
        // allocation), writes one byte and pauses until it is killed; it never returns.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let ok = p.lock(0, None) == Ok(Locked::Clean);
            // SAFETY: writing one byte from the stack to the pipe, then waiting for the kill.
            unsafe {
                libc::write(fds[1], [u8::from(ok)].as_ptr().cast(), 1);
                loop {
                    libc::pause();
                }
            }
        }
        let mut b = [0u8; 1];
        // SAFETY: reading one byte into a local buffer.
        assert_eq!(unsafe { libc::read(fds[0], b.as_mut_ptr().cast(), 1) }, 1);
        assert_eq!(b[0], 1, "the child took the lock");
        // The child's mark is not this thread's.
        let held = p.lock_word(0).load(SeqCst) & !SLEEPERS;
        assert!(held != 0 && !super::super::liveness::is_mine(held));
        let q = p.clone();
        let w = std::thread::spawn(move || {
            let r = q.lock(0, Some(Instant::now() + Duration::from_secs(20)));
            if r.is_ok() {
                q.unlock(0);
            }
            r
        });
        until_slept_on(&p, 0);
        // SAFETY: signalling and reaping our own child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
        let died = Instant::now();
        assert_eq!(w.join().unwrap(), Ok(Locked::OwnerDied));
        // Woken by the kernel at the death (across processes), not by its own look again.
        assert!(died.elapsed() < Duration::from_secs(5));
        assert!(p.is_free(0));
    }

    extern "C" {
        /// glibc 2.34: fork without the fork handlers.
        fn _Fork() -> libc::pid_t;
    }

    /// A child forked without the fork handlers (`_Fork`) still takes its own mark: it waits
    /// for a lock the forking thread holds instead of taking it for its own (EDEADLK), and its
    /// release of that lock (dropping a copy of something the thread held) leaves it held.
    #[test]
    fn a_child_forked_without_handlers_has_its_own_mark() {
        let p = page();
        assert_eq!(p.lock(0, None), Ok(Locked::Clean));
        let me = super::super::liveness::mine().unwrap();
        // SAFETY: the child only takes and releases a lock (atomics, a futex wait, gettid and
        // the mark's trylock; no allocation) and leaves by `_exit`.
        let pid = unsafe { _Fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let waited = p.lock(0, Some(Instant::now() + Duration::from_millis(100)));
            p.unlock(0);
            let code = match waited {
                Err(Errno::TIMEDOUT) => 0,
                Err(Errno::DEADLK) => 1,
                _ => 2,
            };
            // SAFETY: ends the child at once.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: reaping our own child, with a pointer to a local.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status));
        assert_eq!(
            libc::WEXITSTATUS(status),
            0,
            "the child's lock did not wait for the parent's holder (1: it took it for its own)"
        );
        assert_eq!(
            p.lock_word(0).load(SeqCst) & !SLEEPERS,
            me,
            "the child released it"
        );
        p.unlock(0);
        assert!(p.is_free(0));
    }

    /// Marks of ended threads are claimed again: threads that come and go one after another
    /// do not use up the table.
    #[test]
    fn the_marks_of_ended_threads_are_reused() {
        let p = page();
        let mut slots = std::collections::HashSet::new();
        for _ in 0..200 {
            let q = p.clone();
            let t = std::thread::spawn(move || {
                q.lock(0, None).unwrap();
                q.unlock(0);
                super::super::liveness::mine().unwrap()
            })
            .join()
            .unwrap();
            slots.insert((t >> 32) & 0xffff);
        }
        assert!(slots.len() < 100, "{} slots for 200 threads", slots.len());
    }
}
