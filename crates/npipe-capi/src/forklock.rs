//! A mutex that a forked child can take over: the lock of a handle's overlapped operations
//! (`Io::queues`), which the engine thread and waiting threads hold while they step them. A
//! thread of the parent that held it at the fork does not exist in the child, so the child
//! finds it free. (A std mutex would stay locked in the child for ever, and a fork handler that
//! waits for it deadlocks against the library's other fork handlers: a step holds this lock
//! while it takes theirs.)
//!
//! The lock word holds the holder's process id (0: free). A waiter spins a little, as std's
//! mutex does, then sleeps on the word (a process-private futex) until the holder lets go.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{fence, AtomicU32, Ordering};

use rustix::thread::futex;

/// A mutex over a `T` that a forked child takes over when its parent held it (see the module).
#[derive(Debug, Default)]
pub(crate) struct ForkLock<T> {
    /// The process id of the holder, 0 when free.
    owner: AtomicU32,
    /// Threads asleep on `owner` (or about to be).
    sleepers: AtomicU32,
    data: UnsafeCell<T>,
}

// SAFETY: `data` is only reached through a `ForkGuard`, of which there is at most one per
// process at a time (the lock word), so `T: Send` suffices, as for `std::sync::Mutex`.
unsafe impl<T: Send> Sync for ForkLock<T> {}

/// Looks this many times before a waiter sleeps (std's mutex spins as long).
const SPINS: u32 = 100;

impl<T> ForkLock<T> {
    /// Locks it: waits while another thread of this process holds it; takes it from a holder
    /// of another process (the parent this process was forked from).
    pub(crate) fn lock(&self) -> ForkGuard<'_, T> {
        let me = crate::engine::pid();
        let mut spins = 0u32;
        loop {
            // Relaxed: the compare-exchange below decides.
            let cur = self.owner.load(Ordering::Relaxed);
            if cur != me {
                // Acquire: pairs with the Release of `ForkGuard::drop`, so the previous
                // holder's writes to `data` are seen.
                if self
                    .owner
                    .compare_exchange(cur, me, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    if cur != 0 {
                        // Taken over from the parent: its sleepers are not in this process.
                        // Relaxed: nobody here sleeps on a lock a thread of ours never held.
                        self.sleepers.store(0, Ordering::Relaxed);
                    }
                    return ForkGuard { lock: self };
                }
                continue;
            }
            if spins < SPINS {
                spins += 1;
                std::hint::spin_loop();
                continue;
            }
            // SeqCst: the Dekker pairing with `ForkGuard::drop` (our count before its look,
            // or its release before the futex's look at the word).
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            // EAGAIN (the word changed already), EINTR and wake-ups all mean: look again.
            let _ = futex::wait(&self.owner, futex::Flags::PRIVATE, me, None);
            self.sleepers.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The held lock; unlocks on drop.
pub(crate) struct ForkGuard<'a, T> {
    lock: &'a ForkLock<T>,
}

impl<T> Deref for ForkGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard is the only access to `data` in the process while it lives (the
        // lock word holds this process's id; only this guard clears it).
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for ForkGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only borrow through the guard.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for ForkGuard<'_, T> {
    fn drop(&mut self) {
        // Release: pairs with the Acquire of the next `lock`.
        self.lock.owner.store(0, Ordering::Release);
        // SeqCst: see `lock` (a sleeper counted before this fence is seen after it).
        fence(Ordering::SeqCst);
        // Relaxed: ordered by the fence above.
        if self.lock.sleepers.load(Ordering::Relaxed) != 0 {
            let _ = futex::wake(&self.lock.owner, futex::Flags::PRIVATE, 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{mpsc, Arc};
    use std::time::{Duration, Instant};

    /// Waits for child `pid` for up to 10 s: its exit code, or `None` (killed) if it hangs.
    fn wait_child(pid: libc::pid_t) -> Option<i32> {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let mut st = 0;
            // SAFETY: `st` is a valid out-pointer; `pid` is our child.
            let r = unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
            if r == pid {
                return libc::WIFEXITED(st).then(|| libc::WEXITSTATUS(st));
            }
            if Instant::now() > end {
                // SAFETY: our child, still running: killed and reaped.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    libc::waitpid(pid, &mut st, 0);
                }
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_forked_child_takes_over_a_lock_a_thread_of_its_parent_held() {
        let lock = Arc::new(ForkLock::<u32>::default());
        let (held_tx, held_rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let holder = {
            let lock = lock.clone();
            std::thread::spawn(move || {
                let mut g = lock.lock();
                *g = 7;
                held_tx.send(()).unwrap();
                done_rx.recv().unwrap();
            })
        };
        held_rx.recv().unwrap();
        // SAFETY: the child only takes the lock, reads the value and exits at once.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let code = if *lock.lock() == 7 { 0 } else { 1 };
            // SAFETY: leaves the forked child without running the test harness's exit.
            unsafe { libc::_exit(code) };
        }
        assert!(pid > 0, "fork failed");
        assert_eq!(
            wait_child(pid),
            Some(0),
            "the child took the lock its parent's thread held"
        );
        // In this process the lock is still the holder's until it lets go.
        done_tx.send(()).unwrap();
        holder.join().unwrap();
        assert_eq!(*lock.lock(), 7);
    }
}
