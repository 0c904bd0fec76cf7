//! [`BorrowCell`]: a value that many threads borrow at once without a lock, replaced only while
//! nobody borrows it. A request to empty it that finds borrowers is carried out by the last
//! of them as it leaves, so the value never outlives the borrows by more than that.
//!
//! A borrow costs two atomic read-modify-writes on one word (count in, count out), where a
//! mutex around a reference-counted value costs four (lock, clone, unlock, and the clone's
//! release). The server end keeps its current connection in one, for every data operation.
//!
//! Nothing waits on a cell. A forked child inherits the count of the borrows the parent's
//! threads were in at the fork, threads the child does not have: borrowing still works there,
//! but the value is never replaced nor emptied until the cell itself drops.
//!
//! # Safety
//!
//! `state` counts the borrowers, plus [`WRITER`] while one thread holds the value exclusively.
//! The value is read only by a borrower that counted itself in while `WRITER` was clear, and
//! written only by the thread that set `WRITER` with a compare-exchange from 0 (no borrower, no
//! other writer). Every access to `state` and `stale` is `SeqCst`: a writer's release
//! (`fetch_sub`) comes before a later borrower's count-in in the modification order of
//! `state`, so the borrower sees the new value; a borrower's count-out comes before a writer's
//! successful compare-exchange, so its reads of the old value are done before the write.

#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::fmt;
use std::panic::RefUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

/// The bit of `state` a thread holding the value exclusively sets.
const WRITER: usize = 1 << (usize::BITS - 1);

/// A value borrowed by many threads at once, replaced while nobody borrows it (see the module
/// documentation).
pub(crate) struct BorrowCell<T> {
    /// Borrowers, plus [`WRITER`].
    state: AtomicUsize,
    /// A request to empty the cell that has not been carried out yet: set before the
    /// requester tries to take the cell, cleared by the thread that empties it.
    stale: AtomicBool,
    value: UnsafeCell<Option<T>>,
}

// SAFETY: the value is moved in and out by whichever thread holds WRITER (T: Send) and
// borrowed by several threads at once (T: Sync); `state` orders the two (module docs).
unsafe impl<T: Send + Sync> Sync for BorrowCell<T> {}

// A borrower that panics still counts out (`Leave`), and a value is replaced whole or not at
// all, so a panic leaves no broken state behind: the cell is unwind safe when its value is, as
// the mutex it replaced was.
impl<T: RefUnwindSafe> RefUnwindSafe for BorrowCell<T> {}

impl<T> BorrowCell<T> {
    /// An empty cell.
    pub(crate) const fn new() -> BorrowCell<T> {
        BorrowCell {
            state: AtomicUsize::new(0),
            stale: AtomicBool::new(false),
            value: UnsafeCell::new(None),
        }
    }

    /// Runs `f` on the value (`None` when the cell is empty) while counted as a borrower.
    /// `None` without running `f` when another thread is replacing the value right now.
    #[inline]
    pub(crate) fn borrow<R>(&self, f: impl FnOnce(Option<&T>) -> R) -> Option<R> {
        let before = self.state.fetch_add(1, SeqCst);
        let _leave = Leave(self);
        if before & WRITER != 0 {
            return None;
        }
        // SAFETY: counted in with WRITER clear, so no thread writes the value until this
        // borrower has counted out (`_leave`, after `f`); see the module docs for the order.
        let value = unsafe { (*self.value.get()).as_ref() };
        Some(f(value))
    }

    /// Puts `v` in the cell, in place of what it held, when nobody borrows it; gives `v` back
    /// when someone does.
    pub(crate) fn try_set(&self, v: T) -> Result<(), T> {
        if self
            .state
            .compare_exchange(0, WRITER, SeqCst, SeqCst)
            .is_err()
        {
            return Err(v);
        }
        writer_window();
        // SAFETY: WRITER set from 0: no borrower and no other writer until it is cleared.
        let old = unsafe { (*self.value.get()).replace(v) };
        self.state.fetch_sub(WRITER, SeqCst);
        // An emptying asked for while this thread held the cell is this thread's to do. It
        // leaves `stale` set: should the old value's drop panic, the next borrower to leave
        // last (or the next clear) carries it out instead.
        let asked = self.stale.load(SeqCst);
        drop(old);
        if asked {
            self.clear();
        }
        Ok(())
    }

    /// Empties the cell: now when nobody borrows it, else as the last borrower leaves.
    pub(crate) fn clear(&self) {
        loop {
            // Before the attempt: a holder that makes it fail sees the request when it leaves.
            self.stale.store(true, SeqCst);
            if self
                .state
                .compare_exchange(0, WRITER, SeqCst, SeqCst)
                .is_err()
            {
                return;
            }
            // Cleared before the value is taken: a request made from here on sets it again and
            // is seen below.
            self.stale.store(false, SeqCst);
            writer_window();
            // SAFETY: WRITER set from 0, as in `try_set`.
            let old = unsafe { (*self.value.get()).take() };
            self.state.fetch_sub(WRITER, SeqCst);
            // A request made since `stale` was cleared above, as in `try_set`.
            let asked = self.stale.load(SeqCst);
            drop(old);
            if !asked {
                return;
            }
        }
    }
}

/// In tests, widens the time a writer holds the cell, so that the concurrent test meets a
/// borrower that would come in meanwhile if the exclusion were broken. Nothing otherwise.
#[inline(always)]
fn writer_window() {
    #[cfg(test)]
    for _ in 0..2_000 {
        std::hint::spin_loop();
    }
}

/// Counts a borrower out; the last one carries out a pending [`BorrowCell::clear`].
struct Leave<'a, T>(&'a BorrowCell<T>);

impl<T> Drop for Leave<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if self.0.state.fetch_sub(1, SeqCst) == 1 && self.0.stale.load(SeqCst) {
            self.0.clear();
        }
    }
}

impl<T> Default for BorrowCell<T> {
    fn default() -> Self {
        BorrowCell::new()
    }
}

impl<T> fmt::Debug for BorrowCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BorrowCell")
            .field("state", &self.state.load(SeqCst))
            .field("stale", &self.stale.load(SeqCst))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::{Arc, Barrier};

    /// A value's liveness, kept (leaked) after the value drops, so that a borrower still
    /// holding a dropped value's probe reads `false` rather than freed memory.
    struct Probe {
        live: AtomicBool,
    }

    /// Counts its drops and marks its probe dead when dropped.
    struct Tracked {
        probe: &'static Probe,
        drops: Arc<AtomicUsize>,
    }

    impl Tracked {
        fn new(drops: &Arc<AtomicUsize>) -> Tracked {
            Tracked {
                probe: Box::leak(Box::new(Probe {
                    live: AtomicBool::new(true),
                })),
                drops: drops.clone(),
            }
        }

        fn live(&self) -> bool {
            self.probe.live.load(SeqCst)
        }
    }

    impl Drop for Tracked {
        fn drop(&mut self) {
            assert!(self.probe.live.swap(false, SeqCst), "dropped twice");
            self.drops.fetch_add(1, SeqCst);
        }
    }

    #[test]
    fn set_borrow_clear() {
        let drops = Arc::new(AtomicUsize::new(0));
        let cell = BorrowCell::new();
        assert_eq!(cell.borrow(|v: Option<&Tracked>| v.is_none()), Some(true));
        assert!(cell.try_set(Tracked::new(&drops)).is_ok());
        assert_eq!(cell.borrow(|v| v.map(Tracked::live)), Some(Some(true)));
        assert!(cell.try_set(Tracked::new(&drops)).is_ok());
        assert_eq!(drops.load(SeqCst), 1, "the replaced value dropped");
        cell.clear();
        assert_eq!(drops.load(SeqCst), 2, "cleared at once with no borrower");
        assert_eq!(cell.borrow(|v| v.is_none()), Some(true));
    }

    #[test]
    fn a_clear_during_a_borrow_is_done_by_the_borrower_as_it_leaves() {
        let drops = Arc::new(AtomicUsize::new(0));
        let cell = BorrowCell::new();
        assert!(cell.try_set(Tracked::new(&drops)).is_ok());
        cell.borrow(|v| {
            let v = v.expect("set");
            cell.clear();
            // Still borrowed: neither dropped nor replaceable.
            assert!(v.live());
            assert_eq!(drops.load(SeqCst), 0);
            assert!(cell.try_set(Tracked::new(&drops)).is_err());
        });
        // The value try_set gave back was dropped by the test (1); the cell's own value went
        // as the borrow ended (2).
        assert_eq!(drops.load(SeqCst), 2);
        assert_eq!(cell.borrow(|v| v.is_none()), Some(true));
    }

    #[test]
    fn nested_borrows_leave_the_clear_to_the_last() {
        let drops = Arc::new(AtomicUsize::new(0));
        let cell = BorrowCell::new();
        assert!(cell.try_set(Tracked::new(&drops)).is_ok());
        cell.borrow(|_| {
            cell.borrow(|_| cell.clear());
            assert_eq!(drops.load(SeqCst), 0, "the outer borrow still holds it");
        });
        assert_eq!(drops.load(SeqCst), 1);
    }

    #[test]
    fn a_panicking_borrower_still_counts_out() {
        let drops = Arc::new(AtomicUsize::new(0));
        let cell = BorrowCell::new();
        assert!(cell.try_set(Tracked::new(&drops)).is_ok());
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            cell.borrow(|_| panic!("inside the borrow"));
        }));
        assert!(r.is_err());
        assert!(
            cell.try_set(Tracked::new(&drops)).is_ok(),
            "no borrower left"
        );
        assert_eq!(drops.load(SeqCst), 1);
    }

    /// Threads borrow a value and keep looking at it while others replace and clear the cell:
    /// no value is dropped while borrowed (its probe), none twice, and every value made is
    /// dropped exactly once by the end.
    #[test]
    fn borrowers_never_see_a_dropped_value() {
        let drops = Arc::new(AtomicUsize::new(0));
        let made = Arc::new(AtomicUsize::new(0));
        let cell = Arc::new(BorrowCell::new());
        let threads = 4;
        let rounds = 20_000;
        let start = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (cell, drops, made, start) =
                    (cell.clone(), drops.clone(), made.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    for r in 0..rounds {
                        match (i + r) % 5 {
                            0 => {
                                made.fetch_add(1, SeqCst);
                                let _ = cell.try_set(Tracked::new(&drops));
                            }
                            1 => cell.clear(),
                            _ => {
                                cell.borrow(|v| {
                                    let Some(t) = v else { return };
                                    // The probe is read once: a value replaced meanwhile
                                    // would be this one, and its drop would show here.
                                    let probe = t.probe;
                                    for _ in 0..50 {
                                        assert!(probe.live.load(SeqCst), "dropped while borrowed");
                                        std::hint::spin_loop();
                                    }
                                });
                            }
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("no thread panicked");
        }
        let cell = Arc::into_inner(cell).expect("the threads are gone");
        drop(cell);
        assert_eq!(drops.load(SeqCst), made.load(SeqCst));
    }
}
