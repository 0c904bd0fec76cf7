//! [`BorrowCell`]: a value that many threads borrow at once without a lock, replaced only while
//! nobody borrows it. A request to empty it that finds borrowers is carried out by the last
//! of them as it leaves, so the value never outlives the borrows by more than that.
//!
//! A cell is biased to one thread, its *owner* (the first thread that borrows it). The owner's
//! borrows take no atomic read-modify-write: it marks itself in (`owner_in`, a word only it
//! writes), passes the light side of an [`AsymmetricFence`], and looks for a writer. Any other
//! thread counts itself in and out of `state` (two read-modify-writes, as every borrow did
//! before: about 14 ns per borrow on the 2-vCPU Xeon VM, over a tenth of a 64 B write and read
//! of the server end, which keeps its current connection in one). A writer that is not the
//! owner passes the fence's heavy side (`membarrier(2)`) before it looks at `owner_in`: cells
//! change once per connection, data operations run per message.
//!
//! Nothing waits on a cell. A forked child inherits the parent's borrows at the fork, made by
//! threads the child does not have (the count, and `owner_in` when the owner was inside one):
//! borrowing still works there, but the value is never replaced nor emptied until the cell
//! itself drops.
//!
//! # Safety
//!
//! `state` counts the counted borrowers, plus [`WRITER`] while one thread holds the value
//! exclusively. The value is read only by a borrower that came in while `WRITER` was clear, and
//! written only by the thread that set `WRITER` with a compare-exchange from 0 (no counted
//! borrower, no other writer) and then found `owner_in` clear. Counted borrowers: every
//! access to `state` and `stale` is `SeqCst`, so a writer's release (`fetch_sub`) comes before
//! a later borrower's count-in in the modification order of `state` (the borrower sees the new
//! value), and a borrower's count-out comes before a writer's successful compare-exchange (its
//! reads of the old value are done before the write). The owner: it stores `owner_in`, passes
//! the light fence, then loads `state`; a writer sets `WRITER`, passes the heavy fence (or is
//! the owner thread itself, which is not inside a borrow), then loads `owner_in`: one of the
//! two loads sees the other's store, so the owner backs off or the writer does. The owner's
//! clear of `owner_in` is a Release store, read by the writer with Acquire: the owner's reads
//! of the value happen before the write. A request to empty the cell made while the owner is
//! inside is ordered the same way against its leaving (`stale` stored, heavy fence, `owner_in`
//! loaded; `owner_in` cleared, light fence, `stale` loaded), so the owner carries it out. A
//! writer that looks at the mark again after its own attempt failed (`asked_meanwhile`) passes
//! the heavy side first, for the same reason. Where the heavy side cannot be had (membarrier
//! failing after the mode was chosen), a writer on another thread gives up and leaves the
//! request to the owner's next leave.

#![allow(unsafe_code)]

use std::cell::UnsafeCell;
use std::fmt;
use std::panic::RefUnwindSafe;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::sync::atomic::{fence, AtomicBool, AtomicUsize};

use super::{thread_token, AsymmetricFence};

/// The bit of `state` a thread holding the value exclusively sets.
const WRITER: usize = 1 << (usize::BITS - 1);

/// Orders an owner's mark against a writer's look (see the module documentation).
static FENCE: AsymmetricFence = AsymmetricFence::new();

/// Decides the cells' fence mode now, which registers the process for expedited private
/// membarriers. The kernel makes a registration wait for an RCU grace period once the process
/// has more than one thread (9-15 ms measured on a 2-vCPU VM); made by a cell's first borrow,
/// that wait fell on the first read or write of each new server end, all at once, while the
/// client waited for them. The server calls this when it creates a pipe instead.
pub(crate) fn prepare_fence() {
    FENCE.prepare();
}

/// Whether the cells' fence mode is decided (tests).
#[cfg(test)]
pub(crate) fn fence_decided() -> bool {
    FENCE.decided()
}

/// Why a writer could not take a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    /// A counted borrower is in, or another writer holds the cell.
    Busy,
    /// The owner is inside a borrow.
    OwnerIn,
    /// A thread other than the owner could not have the heavy side of the fence.
    NoFence,
}

/// A value borrowed by many threads at once, replaced while nobody borrows it (see the module
/// documentation).
pub(crate) struct BorrowCell<T> {
    /// Counted borrowers, plus [`WRITER`].
    state: AtomicUsize,
    /// The thread the cell is biased to ([`thread_token`]), 0 until the first borrow.
    owner: AtomicUsize,
    /// Whether the owner is inside a borrow; written only by the owner.
    owner_in: AtomicBool,
    /// A request to empty the cell that has not been carried out yet: set before the
    /// requester tries to take the cell, cleared by the thread that empties it.
    stale: AtomicBool,
    value: UnsafeCell<Option<T>>,
    /// Tests: the heavy side fails for this cell, as when membarrier stops working.
    #[cfg(test)]
    no_fence: AtomicBool,
}

// SAFETY: the value is moved in and out by whichever thread holds WRITER (T: Send) and
// borrowed by several threads at once (T: Sync); `state` and `owner_in` order the two (module
// docs).
unsafe impl<T: Send + Sync> Sync for BorrowCell<T> {}

// A borrower that panics still leaves (`Leave`), and a value is replaced whole or not at all,
// so a panic leaves no broken state behind: the cell is unwind safe when its value is, as the
// mutex it replaced was.
impl<T: RefUnwindSafe> RefUnwindSafe for BorrowCell<T> {}

impl<T> BorrowCell<T> {
    /// An empty cell.
    pub(crate) const fn new() -> BorrowCell<T> {
        BorrowCell {
            state: AtomicUsize::new(0),
            owner: AtomicUsize::new(0),
            owner_in: AtomicBool::new(false),
            stale: AtomicBool::new(false),
            value: UnsafeCell::new(None),
            #[cfg(test)]
            no_fence: AtomicBool::new(false),
        }
    }

    /// The heavy side of the fence, for a writer that is not the owner.
    fn heavy(&self) -> bool {
        #[cfg(test)]
        if self.no_fence.load(SeqCst) {
            return false;
        }
        FENCE.heavy()
    }

    /// Whether the calling thread is the cell's owner; the first thread to ask becomes it.
    #[inline]
    fn owned_here(&self, me: usize) -> bool {
        // Relaxed: the owner never changes once set, and only ever names a live thread's token
        // or a thread that had it before (the same thread as far as this cell can tell).
        match self.owner.load(Relaxed) {
            0 => {
                // Before the first light side this thread may pass for this cell.
                FENCE.prepare();
                self.owner.compare_exchange(0, me, Relaxed, Relaxed).is_ok()
            }
            o => o == me,
        }
    }

    /// Runs `f` on the value (`None` when the cell is empty) while inside a borrow. `None`
    /// without running `f` when another thread is replacing the value right now.
    #[inline]
    pub(crate) fn borrow<R>(&self, f: impl FnOnce(Option<&T>) -> R) -> Option<R> {
        // Relaxed: only this thread writes `owner_in` when it owns the cell; a nested borrow
        // (already in) counts itself as any other thread does.
        if self.owned_here(thread_token()) && !self.owner_in.load(Relaxed) {
            // Release, as every store to it: a writer that reads the clear below rather than
            // this mark must see the reads of the value before it done (see `OwnerLeave`).
            self.owner_in.store(true, Release);
            let _leave = OwnerLeave(self);
            // The mark comes before this load: a writer that is not this thread passes the
            // heavy side between setting WRITER and looking at the mark.
            FENCE.light();
            // Acquire: a writer's release of WRITER came with the value it wrote.
            if self.state.load(Acquire) & WRITER != 0 {
                return None;
            }
            // SAFETY: marked in with WRITER clear after the fence, so no thread writes the
            // value until the mark is cleared (`_leave`, after `f`); see the module docs.
            let value = unsafe { (*self.value.get()).as_ref() };
            return Some(f(value));
        }
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

    /// Takes the cell exclusively (sets WRITER) when no borrower is in; otherwise says why
    /// not, with the cell left as it was.
    fn take(&self) -> Result<(), Refused> {
        if self
            .state
            .compare_exchange(0, WRITER, SeqCst, SeqCst)
            .is_err()
        {
            return Err(Refused::Busy);
        }
        // The owner's mark: this thread's own when it is the owner (not inside a borrow unless
        // it is nested in one, and then the mark is set), else looked at past the heavy side.
        // Relaxed: the owner never changes once set.
        let mine = self.owner.load(Relaxed) == thread_token();
        let refused = if !mine && !self.heavy() {
            Some(Refused::NoFence)
        // Acquire: pairs with the owner's Release clear of its mark.
        } else if self.owner_in.load(Acquire) {
            Some(Refused::OwnerIn)
        } else {
            None
        };
        match refused {
            None => Ok(()),
            Some(r) => {
                self.state.fetch_sub(WRITER, SeqCst);
                Err(r)
            }
        }
    }

    /// Whether an emptying asked for while this thread held the cell (and made the asker's
    /// own attempt fail) is this thread's to carry out: asked, and no borrower left to do it.
    /// The owner's leave (its mark cleared, then `stale` looked at) is ordered against this
    /// thread's look at the mark only by the heavy side, as in [`take`](Self::take): without
    /// it the mark can still read set after the owner left having missed the request.
    fn asked_meanwhile(&self) -> bool {
        if !self.stale.load(SeqCst) || self.state.load(SeqCst) != 0 {
            return false;
        }
        // Relaxed: the owner never changes once set.
        if self.owner.load(Relaxed) != thread_token() && !self.heavy() {
            // No fence to be had: the owner's next leave carries the request out.
            return false;
        }
        !self.owner_in.load(SeqCst)
    }

    /// Puts `v` in the cell, in place of what it held, when nobody borrows it; gives `v` back
    /// when someone does.
    pub(crate) fn try_set(&self, v: T) -> Result<(), T> {
        if let Err(why) = self.take() {
            if why != Refused::NoFence && self.asked_meanwhile() {
                self.clear();
            }
            return Err(v);
        }
        writer_window();
        // SAFETY: WRITER set from 0 and the owner's mark clear: no borrower and no other
        // writer until it is cleared.
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
            match self.take() {
                Ok(()) => {}
                // Without the fence (membarrier failed after the mode was chosen) no thread
                // but the owner can tell the owner is out: its next leave sees the request
                // and carries it out. Going round again here would spin for ever.
                Err(Refused::NoFence) => return,
                Err(_) => {
                    // A borrower that left while this thread held the cell found it taken;
                    // with none left in, the request is this thread's again.
                    if self.asked_meanwhile() {
                        continue;
                    }
                    return;
                }
            }
            // Cleared before the value is taken: a request made from here on sets it again and
            // is seen below.
            self.stale.store(false, SeqCst);
            writer_window();
            // SAFETY: WRITER set from 0 and the owner's mark clear, as in `try_set`.
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

/// Clears the owner's mark; carries out a [`BorrowCell::clear`] asked for meanwhile.
struct OwnerLeave<'a, T>(&'a BorrowCell<T>);

impl<T> Drop for OwnerLeave<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // Release: a writer's Acquire load that reads the clear sees the reads of the value
        // done.
        self.0.owner_in.store(false, Release);
        // The clear comes before the load of `stale`: a clear that found the mark set stored
        // `stale` before its heavy side.
        FENCE.light();
        // Relaxed: the fence above orders it; the slow path below is SeqCst throughout.
        if self.0.stale.load(Relaxed) {
            // Orders the clear of the mark before the writer's release of WRITER that this
            // thread's attempt may meet (`asked_meanwhile`).
            fence(SeqCst);
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
            .field("owner_in", &self.owner_in.load(SeqCst))
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

    #[test]
    fn the_first_borrower_owns_the_cell_and_others_count_in() {
        let drops = Arc::new(AtomicUsize::new(0));
        let cell = Arc::new(BorrowCell::new());
        assert!(cell.try_set(Tracked::new(&drops)).is_ok());
        cell.borrow(|_| {
            assert!(
                cell.owner_in.load(SeqCst),
                "this thread's borrow marks it in"
            );
            assert_eq!(cell.state.load(SeqCst), 0, "without counting");
        });
        let other = cell.clone();
        std::thread::spawn(move || {
            other.borrow(|_| {
                assert!(!other.owner_in.load(SeqCst), "not the owner's mark");
                assert_eq!(other.state.load(SeqCst), 1, "another thread counts in");
            })
        })
        .join()
        .expect("no panic");
        assert_eq!(cell.state.load(SeqCst), 0);
    }

    /// Another thread asks to replace and to empty the cell while its owner is inside a
    /// borrow: the replacement is refused, the emptying is left to the owner, which carries it
    /// out as it leaves.
    #[test]
    fn a_writer_on_another_thread_waits_for_the_owner_to_leave() {
        let drops = Arc::new(AtomicUsize::new(0));
        let cell = Arc::new(BorrowCell::new());
        assert!(cell.try_set(Tracked::new(&drops)).is_ok());
        let inside = Arc::new(Barrier::new(2));
        let asked = Arc::new(Barrier::new(2));
        let (c, d, i, a) = (cell.clone(), drops.clone(), inside.clone(), asked.clone());
        let writer = std::thread::spawn(move || {
            i.wait();
            let refused = c.try_set(Tracked::new(&d)).is_err();
            c.clear();
            a.wait();
            refused
        });
        cell.borrow(|v| {
            inside.wait();
            asked.wait();
            assert!(
                v.expect("set").live(),
                "not dropped while the owner is inside"
            );
        });
        assert!(writer.join().expect("no panic"), "replacing was refused");
        // The refused value (1) and the cell's, emptied as the owner left (2).
        assert_eq!(drops.load(SeqCst), 2);
        assert_eq!(cell.borrow(|v| v.is_none()), Some(true));
    }

    /// membarrier fails after the mode was chosen (a seccomp filter installed later): a writer
    /// on another thread cannot tell whether the owner is inside. Its clear returns at once
    /// (it spun for ever) and the owner carries it out as it next leaves; a replacement is
    /// refused.
    #[test]
    fn without_the_fence_a_clear_is_left_to_the_owner() {
        let drops = Arc::new(AtomicUsize::new(0));
        let cell = Arc::new(BorrowCell::new());
        assert!(cell.try_set(Tracked::new(&drops)).is_ok());
        cell.borrow(|_| ());
        cell.no_fence.store(true, SeqCst);
        let (c, d) = (cell.clone(), drops.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let refused = c.try_set(Tracked::new(&d)).is_err();
            c.clear();
            tx.send(refused).unwrap();
        });
        let refused = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the clear returns");
        assert!(refused, "a replacement needs the fence");
        assert_eq!(drops.load(SeqCst), 1, "only the refused value dropped");
        cell.borrow(|v| assert!(v.is_some(), "still there until the owner leaves"));
        assert_eq!(drops.load(SeqCst), 2, "the owner's leave emptied it");
        assert_eq!(cell.borrow(|v| v.is_none()), Some(true));
    }

    /// One thread owns the cell and borrows it again and again while the others replace and
    /// clear it (each of their writes passes the heavy fence), and borrow it counted.
    #[test]
    fn the_owner_never_sees_a_value_dropped_by_other_threads() {
        let drops = Arc::new(AtomicUsize::new(0));
        let made = Arc::new(AtomicUsize::new(1));
        let cell = Arc::new(BorrowCell::new());
        assert!(cell.try_set(Tracked::new(&drops)).is_ok());
        cell.borrow(|_| ());
        let stop = Arc::new(AtomicBool::new(false));
        let others: Vec<_> = (0..2)
            .map(|i| {
                let (cell, drops, made, stop) =
                    (cell.clone(), drops.clone(), made.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut r = i;
                    while !stop.load(SeqCst) {
                        match r % 3 {
                            0 => {
                                made.fetch_add(1, SeqCst);
                                let _ = cell.try_set(Tracked::new(&drops));
                            }
                            1 => cell.clear(),
                            _ => {
                                cell.borrow(|v| v.map(|t| assert!(t.live(), "dropped")));
                            }
                        }
                        r += 1;
                    }
                })
            })
            .collect();
        for _ in 0..20_000 {
            cell.borrow(|v| {
                let Some(t) = v else { return };
                let probe = t.probe;
                for _ in 0..50 {
                    assert!(
                        probe.live.load(SeqCst),
                        "dropped while the owner borrowed it"
                    );
                    std::hint::spin_loop();
                }
            });
        }
        stop.store(true, SeqCst);
        for h in others {
            h.join().expect("no thread panicked");
        }
        let cell = Arc::into_inner(cell).expect("the threads are gone");
        drop(cell);
        assert_eq!(drops.load(SeqCst), made.load(SeqCst));
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
