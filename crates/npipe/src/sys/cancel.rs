//! Cancelling another thread's synchronous blocking call (CancelSynchronousIo, W42).
//!
//! Every thread has a [`SyncCancel`] record, made on first need. A blocking call that is about
//! to sleep registers with its thread's record what wakes that sleep (a [`Registration`]): the
//! futex word it sleeps on, or the socket it polls. [`SyncCancel::cancel`] from another thread
//! then finds it under the record's lock, marks it cancelled and wakes the sleeper through the
//! same path an ordinary wake-up takes (a bump of the futex word and a `FUTEX_WAKE`, or a
//! `shutdown` of the polled socket, which the sleeper then sees as readable). The sleeper
//! checks [`Registration::cancelled`] before each sleep and after each wake-up, and on its way
//! out [`Registration::end`] tells it of a cancel that came after its last look (that cancel
//! said it succeeded, so the call fails with it).
//!
//! The record's lock is held by the canceller while it touches the word or the socket, and by
//! the sleeper when it registers and when it deregisters (dropping the [`Registration`]), which
//! it does before the word or socket can go away: that is what keeps the raw address valid.
//! It is a spin lock held for a few instructions; a forked child releases its own thread's
//! record ([`forked_child`]), and a cancel gives up on a record held for a second (only a
//! child's copy of a record held at the fork by a thread the child does not have).
//!
//! A forked child also has copies of the records of its parent's other threads, reachable
//! through the thread handles it inherited, which may say a sleep is registered: a sleep of a
//! thread the child does not have, on a word or a socket the child shares with the parent (a
//! shutdown there would end the parent's wait) or, once the child closed that descriptor, on
//! whatever reuses its number. A registration notes the count of forks this process has seen
//! as a child ([`FORKS`]); a cancel finds nothing to cancel in a registration of another count.
//!
//! A call registers only when it is about to sleep, so a call that does not block never takes
//! the lock. A cancel that finds nothing registered does nothing and says so (the caller maps
//! that to ERROR_NOT_FOUND); a registration starts and ends uncancelled, so a cancel never
//! carries over to the thread's next call.
#![allow(unsafe_code)]

use std::cell::OnceCell;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What wakes the registered sleep, as stored in [`Inner::sleep`]: 0 for none, the address of
/// the futex word the thread sleeps on (4-aligned, so its low bits are 0; bumped, then woken),
/// or `fd << 2 | 1` for a socket the thread polls (shut down, which makes it readable).
#[derive(Debug, Clone, Copy)]
enum Waker {
    Word(usize),
    Socket(RawFd),
}

impl Waker {
    fn encode(self) -> u64 {
        match self {
            Waker::Word(addr) => addr as u64,
            Waker::Socket(fd) => ((fd as u32 as u64) << 2) | 1,
        }
    }

    fn decode(v: u64) -> Option<Waker> {
        match v {
            0 => None,
            v if v & 3 == 1 => Some(Waker::Socket((v >> 2) as u32 as RawFd)),
            v => Some(Waker::Word(v as usize)),
        }
    }
}

/// What a cancel adds to the futex word a thread sleeps on: the word's top bit, so that a
/// counter of changes (a server instance's epoch, which a pending overlapped ConnectNamedPipe
/// compares) can tell a cancel's bump from a change of its own: its own changes add 1 and
/// show in the low 31 bits, a cancel only flips the top one.
pub(crate) const CANCEL_BUMP: u32 = 1 << 31;

/// How long a cancel waits for a record another thread holds (for nanoseconds, normally)
/// before it gives up and reports nothing to cancel: only a forked child's copy of a record
/// that a thread of its parent held at the fork stays held.
const CANCEL_LOCK_WAIT: Duration = Duration::from_secs(1);

/// How many forks made this process (bumped in each forked child by [`forked_child`]): a
/// registration made under a smaller count is a copy of a sleep of the parent's, whose thread
/// this process does not have.
static FORKS: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Default)]
struct Inner {
    /// The record's lock: a spin lock, held for a few instructions (a registration, a
    /// deregistration, a cancel's wake-up), which a forked child can release for the thread it
    /// has ([`forked_child`]).
    locked: AtomicBool,
    /// The sleep in progress (an encoded [`Waker`]), while one is registered; under `locked`.
    sleep: AtomicU64,
    /// Set by a cancel of the registered sleep; cleared when a registration starts and ends.
    cancelled: AtomicBool,
    /// [`FORKS`] when the sleep was registered; under `locked`.
    forks: AtomicU64,
}

/// [`Inner::locked`], held.
struct Held<'a>(&'a Inner);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        // Release: what we did under the lock is seen by the next holder.
        self.0.locked.store(false, Ordering::Release);
    }
}

impl Inner {
    /// Takes the lock; with `bound`, gives up (`None`) after that long.
    fn lock(&self, bound: Option<Duration>) -> Option<Held<'_>> {
        let mut since: Option<Instant> = None;
        let mut spins = 0u32;
        loop {
            // Acquire: pairs with the Release store of `Held::drop`.
            if !self.locked.swap(true, Ordering::Acquire) {
                return Some(Held(self));
            }
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
                continue;
            }
            if let Some(b) = bound {
                if since.get_or_insert_with(Instant::now).elapsed() >= b {
                    return None;
                }
            }
            std::thread::yield_now();
        }
    }
}

/// One thread's record of the synchronous blocking call it is sleeping in, if any, through
/// which another thread cancels that call (Win32's `CancelSynchronousIo`). Get the calling
/// thread's with [`SyncCancel::current`], keep it (it is cheap to clone and may outlive the
/// thread), and call [`SyncCancel::cancel`] from any thread.
///
/// The calls that can be cancelled are the blocking waits of the pipe calls: a read waiting for
/// data, a write waiting for room or for its quota (its message is then taken back unless the
/// reader already took it), a flush, a transaction's wait for its reply, a server's wait for a
/// client (ConnectNamedPipe), a client's wait for a free instance (WaitNamedPipe) and a
/// mailslot read. A cancelled call fails with ERROR_OPERATION_ABORTED (995).
#[derive(Debug, Clone)]
pub struct SyncCancel(Arc<Inner>);

thread_local! {
    static MINE: OnceCell<SyncCancel> = const { OnceCell::new() };
}

impl SyncCancel {
    /// The calling thread's record (made on first use). While the thread-locals are being torn
    /// down, a record of its own that nothing registers in.
    pub fn current() -> SyncCancel {
        MINE.try_with(|c| c.get_or_init(|| SyncCancel(Arc::default())).clone())
            .unwrap_or_else(|_| SyncCancel(Arc::default()))
    }

    /// Cancels the blocking call the thread is sleeping in: true if there was one (it then
    /// returns ERROR_OPERATION_ABORTED, unless what it waited for came first), false if the
    /// thread was not sleeping in a call that can be cancelled (no call, a call that has not
    /// reached its sleep yet or has left it, or an overlapped operation).
    pub fn cancel(&self) -> bool {
        let Some(_held) = self.0.lock(Some(CANCEL_LOCK_WAIT)) else {
            return false;
        };
        // Relaxed: under the lock.
        let Some(w) = Waker::decode(self.0.sleep.load(Ordering::Relaxed)) else {
            return false;
        };
        // Relaxed: `forks` under the lock; FORKS changes only in a forked child's handler,
        // before the child has another thread. A sleep registered before this process was
        // forked is not this process's (see the module's notes).
        if self.0.forks.load(Ordering::Relaxed) != FORKS.load(Ordering::Relaxed) {
            return false;
        }
        // SeqCst: the sleeper reads the flag after it read the futex word; the bump below comes
        // after this store, so a sleeper that saw the bump sees the flag.
        self.0.cancelled.store(true, Ordering::SeqCst);
        match w {
            Waker::Word(addr) => {
                // SAFETY: the sleeper registered this address from a live `&AtomicU32` and
                // deregisters (under this lock, which we hold) before the borrow ends.
                let word = unsafe { &*(addr as *const AtomicU32) };
                // Release: a sleeper that loads the new value sees the flag (stored before).
                word.fetch_add(CANCEL_BUMP, Ordering::Release);
                super::futex_wake(word, u32::MAX);
            }
            Waker::Socket(fd) => {
                // SAFETY: the sleeper registered this descriptor from a live `BorrowedFd` and
                // deregisters (under this lock, which we hold) before the borrow ends.
                let fd = unsafe { BorrowedFd::borrow_raw(fd) };
                let _ = rustix::net::shutdown(fd, rustix::net::Shutdown::Both);
            }
        }
        true
    }
}

/// What runs on the thread of a synchronous blocking call as it goes to sleep (see
/// [`set_sleep_hook`]).
static SLEEP_HOOK: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Sets the function that every blocking call of the library runs on its own thread when it
/// is about to sleep, after its spin (once per wait that comes to a sleep; not for a call that
/// finds what it waits for). The C ABI makes a handle non-signalled there while a synchronous
/// call on it waits (W27), which it does not do for calls that finish at once. One per
/// process: false, and nothing changed, when one is set already.
pub fn set_sleep_hook(hook: fn()) -> bool {
    SLEEP_HOOK.set(hook).is_ok()
}

/// Runs the [`set_sleep_hook`] function, if any: called by each blocking wait on its way to
/// sleep. The hook must not call back into the library's pipe calls: the waiting call may hold
/// a lock of its end (a message streaming through the ring keeps the writer lock).
pub(crate) fn about_to_sleep() {
    if let Some(f) = SLEEP_HOOK.get() {
        f();
    }
}

/// In a forked child (its `pthread_atfork` child handler): counts the fork, so the copies of
/// the parent's threads' registrations are nothing to cancel here, and the calling thread, the
/// only one there, releases its record, which a cancelling thread of the parent may have held
/// at the fork (that thread is not in the child to release it).
pub(crate) fn forked_child() {
    // Relaxed: the child has no other thread yet; threads it starts later are ordered after
    // this by their creation.
    FORKS.fetch_add(1, Ordering::Relaxed);
    release_mine();
}

/// The calling thread releases its record's lock (see [`forked_child`]).
fn release_mine() {
    let _ = MINE.try_with(|c| {
        if let Some(r) = c.get() {
            // Release: as `Held::drop`.
            r.0.locked.store(false, Ordering::Release);
        }
    });
}

/// A sleep registered with the calling thread's [`SyncCancel`]; [`Registration::end`] or
/// dropping it deregisters.
#[derive(Debug)]
pub(crate) struct Registration<'a> {
    rec: SyncCancel,
    /// Set by [`Registration::end`], which has deregistered already.
    ended: bool,
    /// The word or socket stays borrowed while registered.
    _borrow: PhantomData<&'a ()>,
}

impl Registration<'_> {
    fn new(w: Waker) -> Registration<'static> {
        let rec = SyncCancel::current();
        {
            let _held = rec.0.lock(None);
            // Relaxed: under the lock a canceller takes before it sets the flag.
            rec.0.cancelled.store(false, Ordering::Relaxed);
            rec.0
                .forks
                .store(FORKS.load(Ordering::Relaxed), Ordering::Relaxed);
            rec.0.sleep.store(w.encode(), Ordering::Relaxed);
        }
        Registration {
            rec,
            ended: false,
            _borrow: PhantomData,
        }
    }

    /// Registers a sleep on the futex word `word`: a cancel adds [`CANCEL_BUMP`] to it and
    /// wakes its sleepers (a spurious wake-up for any other sleeper, who re-checks its
    /// condition).
    pub(crate) fn word(word: &AtomicU32) -> Registration<'_> {
        Registration::new(Waker::Word(word as *const AtomicU32 as usize))
    }

    /// Registers a poll of the socket `fd`: a cancel shuts it down for good.
    pub(crate) fn socket(fd: BorrowedFd<'_>) -> Registration<'_> {
        Registration::new(Waker::Socket(fd.as_raw_fd()))
    }

    /// Whether the sleep was cancelled: check it before every sleep (after reading the futex
    /// word the sleep compares) and after every wake-up.
    pub(crate) fn cancelled(&self) -> bool {
        // SeqCst: see `SyncCancel::cancel`.
        self.rec.0.cancelled.load(Ordering::SeqCst)
    }

    /// Deregisters, and says whether the sleep was cancelled while registered, including by a
    /// cancel that came after the sleeper's last look at [`Registration::cancelled`]. That
    /// cancel reported success, so the call must fail with it: a wait whose condition came
    /// true while a cancel ran calls this on its way out, or a caller that goes back to sleep
    /// (a read whose data another reader took, a write streaming its next piece) would sleep
    /// on with the cancel lost, the flag cleared by its next registration.
    pub(crate) fn end(mut self) -> bool {
        self.ended = true;
        self.deregister()
    }

    /// Clears the record under its lock: after this no cancel finds the sleep. Returns whether
    /// one had.
    fn deregister(&self) -> bool {
        let _held = self.rec.0.lock(None);
        // Relaxed: under the lock, as in `new`.
        let was = self.rec.0.cancelled.load(Ordering::Relaxed);
        self.rec.0.sleep.store(0, Ordering::Relaxed);
        self.rec.0.cancelled.store(false, Ordering::Relaxed);
        was
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.deregister();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn nothing_registered_is_nothing_to_cancel() {
        assert!(!SyncCancel::current().cancel());
    }

    #[test]
    fn a_record_held_at_a_fork_is_released_in_the_child() {
        let rec = SyncCancel::current();
        // As a cancelling thread of the parent leaves it, holding the lock at the fork.
        std::mem::forget(rec.0.lock(None));
        assert!(!rec.cancel(), "a cancel gives up on a record held too long");
        // The lock's part of `forked_child` (counting a fork here would make the sleeps that
        // the tests running beside this one registered before it nothing to cancel).
        release_mine();
        assert!(rec.0.lock(Some(Duration::ZERO)).is_some());
        let word = AtomicU32::new(0);
        let reg = Registration::word(&word);
        assert!(rec.cancel() && reg.cancelled());
    }

    #[test]
    fn a_cancel_after_the_last_look_is_reported_by_end() {
        let rec = SyncCancel::current();
        let word = AtomicU32::new(0);
        let reg = Registration::word(&word);
        assert!(!reg.cancelled());
        assert!(rec.cancel(), "registered: the cancel succeeds");
        assert!(reg.end(), "the cancel is not lost with the registration");
        assert!(!rec.cancel(), "nothing registered any more");
        let reg = Registration::word(&word);
        assert!(
            !reg.cancelled() && !reg.end(),
            "nor carried over to the next sleep"
        );
    }

    /// A forked child (a raw `clone`: no fork handlers run in this test process; the child
    /// runs the one it needs itself) finds nothing to cancel in its copy of the record of a
    /// parent's thread that sleeps polling a socket: a shutdown there would end the parent's
    /// poll. The parent's sleep is still registered and cancellable after.
    #[test]
    fn a_forked_child_finds_nothing_to_cancel_in_a_parent_thread() {
        use std::io::Read;
        use std::os::fd::AsFd;
        use std::os::unix::net::UnixStream;
        // This thread's record exists before the fork: the child's handler only stores to it.
        let _ = SyncCancel::current();
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            let (a, _b) = UnixStream::pair().unwrap();
            let reg = Registration::socket(a.as_fd());
            tx.send((SyncCancel::current(), a.try_clone().unwrap()))
                .unwrap();
            let _ = stop_rx.recv();
            reg.end()
        });
        let (rec, a) = rx.recv().unwrap();
        // SAFETY: clone with only SIGCHLD is fork without the fork handlers. The child touches
        // no lock but the record's spin lock (free: nothing else cancels this record), does
        // not allocate, and leaves by `_exit`.
        let pid =
            unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD as libc::c_long, 0, 0, 0, 0) };
        if pid == 0 {
            forked_child();
            let code = if rec.cancel() { 1 } else { 0 };
            // SAFETY: ends the child at once, running nothing of the parent's.
            unsafe { libc::_exit(code) };
        }
        assert!(pid > 0, "clone: {}", std::io::Error::last_os_error());
        let mut status = 0;
        // SAFETY: reaping our own child, with a pointer to a local.
        let r = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
        assert_eq!(r, pid as libc::pid_t);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "the child cancelled its copy of a parent thread's sleep (status {status:#x})"
        );
        // Not shut down by the child: nothing to read, and no end of file.
        a.set_nonblocking(true).unwrap();
        let r = (&a).read(&mut [0u8; 1]);
        assert!(
            matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "{r:?}"
        );
        assert!(rec.cancel(), "the parent's sleep is still registered");
        stop_tx.send(()).unwrap();
        assert!(t.join().unwrap(), "and cancelled by the parent");
    }

    #[test]
    fn a_cancel_wakes_the_sleep_and_ends_with_it() {
        let word = Arc::new(AtomicU32::new(0));
        let (tx, rx) = std::sync::mpsc::channel();
        let w = word.clone();
        let t = std::thread::spawn(move || {
            tx.send(SyncCancel::current()).unwrap();
            let reg = Registration::word(&w);
            loop {
                let s = w.load(Ordering::Acquire);
                if reg.cancelled() {
                    break;
                }
                let _ = crate::sys::futex_wait(&w, s, Some(Duration::from_secs(30)));
            }
            drop(reg);
            // The cancel ended with the call: nothing left to cancel.
            !SyncCancel::current().cancel()
        });
        let rec = rx.recv().unwrap();
        while !rec.cancel() {
            std::thread::yield_now();
        }
        assert!(t.join().unwrap());
        assert!(!rec.cancel(), "the thread left its sleep");
    }
}
