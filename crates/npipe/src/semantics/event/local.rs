//! The local flavour: a process-local event, its words under a mutex, its state word (which
//! SetEvent and ResetEvent change without the mutex while nothing watches the event) and its
//! two eventfds.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::AtomicU8;

use super::*;

/// [`Local::word`]: the state (set or not).
const SET: u8 = 1;
/// [`Local::word`]: a wait is registered: a set takes the lock (it releases waiters), and so
/// does a reset or a take.
const WAITING: u8 = 2;
/// [`Local::word`]: a wait polls the state descriptor, or the descriptor was handed out: a
/// change of the state takes the lock (it keeps the descriptor in step); a set of an event
/// that is set already changes nothing and needs no lock.
const POLLED: u8 = 8;
/// [`Local::word`]: both of the above.
const WATCHED: u8 = WAITING | POLLED;
/// [`Local::word`]: a thread holds the words' lock: a change of the state takes the lock too.
const LOCKED: u8 = 4;

#[derive(Debug, Default)]
pub(super) struct LocalWords {
    pub(super) gen: u64,
    pub(super) window: bool,
    pub(super) slot: Slot,
    /// The [`EPOCH`] of the process these words were last used in.
    pub(super) epoch: u64,
    /// Waits polling the state descriptor now (see [`Local::sleep_fd`]).
    pub(super) pollers: u32,
    /// The state descriptor was handed out ([`Local::fd`]): it stays in step for good.
    pub(super) public: bool,
    /// What the state descriptor of this epoch counts (1 or 0), as this process last wrote it.
    /// It lags the state while nobody polls the descriptor: changes made meanwhile leave it
    /// alone, and a sleeper brings it in step ([`sync`]).
    pub(super) fd_on: bool,
}

impl LocalWords {
    /// The [`WAITING`] and [`POLLED`] bits these words call for.
    fn watched(&self) -> u8 {
        let waiting = if self.slot.waiters > 0 { WAITING } else { 0 };
        let polled = if self.pollers > 0 || self.public {
            POLLED
        } else {
            0
        };
        waiting | polled
    }
}

/// The words of a [`Local`], locked: [`LOCKED`] is set in the state word from the lock to the
/// drop, so no change of the state happens without the lock meanwhile; the drop stores the
/// state word with [`WAITING`] and [`POLLED`] as the words now say.
pub(super) struct Words<'a> {
    ev: &'a Local,
    w: MutexGuard<'a, LocalWords>,
}

impl Words<'_> {
    fn state(&self) -> bool {
        // Relaxed: while LOCKED only this thread changes the word.
        self.ev.word.load(Ordering::Relaxed) & SET != 0
    }

    /// Changes the state: Release, so a look that sees it set (the Acquire load of
    /// `Local::is_set`) sees what the setter did before.
    fn put_set(&self, set: bool) {
        let v = self.ev.word.load(Ordering::Relaxed) & !SET;
        self.ev
            .word
            .store(if set { v | SET } else { v }, Ordering::Release);
    }
}

impl Deref for Words<'_> {
    type Target = LocalWords;
    fn deref(&self) -> &LocalWords {
        &self.w
    }
}

impl DerefMut for Words<'_> {
    fn deref_mut(&mut self) -> &mut LocalWords {
        &mut self.w
    }
}

impl Drop for Words<'_> {
    fn drop(&mut self) {
        let watched = self.w.watched();
        // Release: the next lock-free change (an Acquire CAS) and the next holder see the
        // words as this section left them. A plain store: while LOCKED no other thread
        // changes the word (their CAS expects LOCKED clear).
        let set = self.ev.word.load(Ordering::Relaxed) & SET;
        self.ev.word.store(set | watched, Ordering::Release);
    }
}

/// Bumped in every forked child (by the fork handler): a process-local event whose words were
/// last used under another epoch is a copy its process inherited, whose waiters (threads of
/// an ancestor) do not exist here and whose eventfds are shared with that ancestor.
pub(super) static EPOCH: AtomicU64 = AtomicU64::new(0);

pub(super) fn epoch() -> u64 {
    // Relaxed: written only by the fork child handler, before any other code runs in the child.
    EPOCH.load(Ordering::Relaxed)
}

/// The eventfds of one local event, one per process epoch: a forked child gets descriptors
/// of its own (its parent's stay open, unused, for the object's lifetime), so that its sets
/// and resets never touch the descriptors its parent polls. Append-only, so a borrowed
/// descriptor stays valid as long as the event.
#[derive(Debug, Default)]
pub(super) struct FdChain {
    pub(super) head: OnceLock<Box<FdNode>>,
}

#[derive(Debug)]
pub(super) struct FdNode {
    pub(super) epoch: u64,
    pub(super) fd: OwnedFd,
    pub(super) next: OnceLock<Box<FdNode>>,
}

impl FdChain {
    /// The descriptor of `epoch`, if made.
    pub(super) fn get(&self, epoch: u64) -> Option<BorrowedFd<'_>> {
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
    pub(super) fn get_or_make(
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
    pub(super) manual: bool,
    pub(super) words: Mutex<LocalWords>,
    /// The state descriptor (1 while set), made when someone first needs to poll it. Sets and
    /// resets leave it alone while nobody polls it (`pollers` 0, never handed out): an
    /// overlapped call resets and sets its event every time, and nobody but a sleeper looks at
    /// the descriptor. A sleeper brings it in step first ([`Local::sleep_fd`]).
    pub(super) fd: FdChain,
    /// The release descriptor (1 while a release is unclaimed), made at the first registration.
    pub(super) pulse: FdChain,
    /// The state ([`SET`]) and whether a change of it must take the lock ([`WAITING`],
    /// [`POLLED`], [`LOCKED`]). While none is set, SetEvent, ResetEvent and a wait that takes the event
    /// change the state with one compare-exchange and no lock: nobody is registered to be
    /// released and nobody polls the state descriptor, so the state is all there is to change
    /// (an overlapped call resets its event and its completion sets it, every time); a set of
    /// an event that is set already needs only that no wait be registered. A wait's
    /// registration sets WAITING and a poller or a handed-out descriptor POLLED, under the
    /// lock, and every lock section sets LOCKED first, so no lock-free change can slip between
    /// a section's look at the state and what it does about it. In one word, so all are seen
    /// together.
    pub(super) word: AtomicU8,
}

pub(super) struct LocalStore<'a> {
    pub(super) ev: &'a Local,
    pub(super) w: Words<'a>,
}

impl Store for LocalStore<'_> {
    fn manual(&self) -> bool {
        self.ev.manual
    }
    fn state(&self) -> Result<bool, Bad> {
        Ok(self.w.state())
    }
    fn put_state(&mut self, set: bool) {
        if self.w.state() != set {
            // SYNC POINT with the Acquire load in `is_set`.
            self.w.put_set(set);
            // Nobody polls it otherwise: it catches up when somebody does (two system calls
            // saved per change, for an event set and reset by every overlapped call).
            if self.w.public || self.w.pollers > 0 {
                if let Some(fd) = self.ev.fd.get(self.w.epoch) {
                    flip(fd, set);
                    self.w.fd_on = set;
                }
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
        // WAITING follows when the words are unlocked; meanwhile LOCKED keeps every change of
        // the state under the lock.
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
            self.w.fd_on = false;
        }
    }
    fn drain_release_fd(&mut self) {
        if let Some(fd) = self.ev.pulse.get(self.w.epoch) {
            flip(fd, false);
        }
    }
}

/// Brings the state descriptor in step with the state, if it lags (words locked).
fn sync(fd: BorrowedFd<'_>, w: &mut Words<'_>) {
    let set = w.state();
    if w.fd_on != set {
        flip(fd, set);
        w.fd_on = set;
    }
}

/// Makes an eventfd count 1 (`on`) or 0.
pub(super) fn flip(fd: BorrowedFd<'_>, on: bool) {
    if on {
        sys::poke(fd);
    } else {
        sys::eventfd_drain(fd);
    }
}

pub(super) fn no_fd(e: sys::Errno) -> io::Error {
    err(
        ERROR_NO_SYSTEM_RESOURCES,
        format!(
            "cannot make an eventfd for a wait: {}",
            io::Error::from_raw_os_error(e.raw_os_error())
        ),
    )
}

/// ERROR_NO_SYSTEM_RESOURCES: a descriptor for a wait could not be made.
pub(super) const ERROR_NO_SYSTEM_RESOURCES: u32 = 1450;

impl Local {
    /// A new event, manual or auto reset, set or not.
    pub(crate) fn new(manual: bool, set: bool) -> Local {
        install_fork_handlers();
        Local {
            manual,
            words: Mutex::new(LocalWords {
                epoch: epoch(),
                ..LocalWords::default()
            }),
            fd: FdChain::default(),
            pulse: FdChain::default(),
            word: AtomicU8::new(if set { SET } else { 0 }),
        }
    }

    /// Whether it is a manual-reset event.
    pub(crate) fn manual(&self) -> bool {
        self.manual
    }

    /// The words, locked; in a process that inherited them, forgotten waiters first.
    pub(super) fn words(&self) -> Words<'_> {
        let w = self.words.lock().unwrap_or_else(|p| p.into_inner());
        // Acquire: the state the last lock-free change left, with what its thread did before.
        self.word.fetch_or(LOCKED, Ordering::Acquire);
        let mut w = Words { ev: self, w };
        let now = epoch();
        if w.epoch != now {
            w.epoch = now;
            w.slot = Slot::default();
            w.window = false;
            w.pollers = 0;
            w.public = false;
        }
        w
    }

    pub(super) fn store(&self) -> LocalStore<'_> {
        LocalStore {
            ev: self,
            w: self.words(),
        }
    }

    pub(super) fn run<T: Default>(&self, f: impl FnOnce(&mut dyn Store) -> Result<T, Bad>) -> T {
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

    /// SetEvent. While nothing watches the event (see [`Local::word`]) the set is the state's
    /// and nothing else's: one compare-exchange, no lock; so is a set of an event that is set
    /// already and that no wait is registered on (its descriptor, if polled, shows it set
    /// already). It writes the word even when the event is set already, so a wait that then
    /// finds it set (an Acquire load) sees what this thread did before the set, as a set under
    /// the lock would have shown it.
    pub(crate) fn set(&self) {
        // Relaxed: the compare-exchange decides.
        let mut v = self.word.load(Ordering::Relaxed);
        while v & (WAITING | LOCKED) == 0 && (v & SET != 0 || v & POLLED == 0) {
            // Release: see above.
            match self
                .word
                .compare_exchange_weak(v, v | SET, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) => v = now,
            }
        }
        self.run(op_set)
    }

    /// ResetEvent. An event that is not set stays so without the lock (a set racing with the
    /// look is ordered after the reset, as it could have been anyway); one that nothing
    /// watches is reset with one compare-exchange, as [`Local::set`] sets it.
    pub(crate) fn reset(&self) {
        // Relaxed: coherence gives this thread the state its own earlier calls left, and any
        // other thread's that happened before; the compare-exchange decides.
        let mut v = self.word.load(Ordering::Relaxed);
        while v & SET != 0 {
            if v & (WATCHED | LOCKED) != 0 {
                return self.run(op_reset);
            }
            match self
                .word
                .compare_exchange_weak(v, v & !SET, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) => v = now,
            }
        }
    }

    /// PulseEvent.
    pub(crate) fn pulse(&self) {
        self.run(op_pulse)
    }

    /// Whether the state is set (releases to waiters are not a state), without the lock.
    pub(crate) fn is_set(&self) -> bool {
        // SYNC POINT with the Release stores of the state (`Words::put_set`, `Local::set`).
        self.word.load(Ordering::Acquire) & SET != 0
    }

    /// Takes the state without waiting (an auto event is reset).
    pub(crate) fn try_take(&self) -> bool {
        match self.take_quick() {
            Some(taken) => taken,
            None => self.run(try_take),
        }
    }

    /// [`try_take`] without the lock where it needs none: an event that is not set is not
    /// taken, a set manual one is taken by looking, a set auto one that nothing watches is
    /// reset with one compare-exchange. `None`: the lock decides.
    pub(super) fn take_quick(&self) -> Option<bool> {
        // Acquire, as `is_set`: a take sees what the setter did before.
        let mut v = self.word.load(Ordering::Acquire);
        loop {
            if v & SET == 0 {
                return Some(false);
            }
            if self.manual {
                return Some(true);
            }
            if v & (WATCHED | LOCKED) != 0 {
                return None;
            }
            match self
                .word
                .compare_exchange_weak(v, v & !SET, Ordering::Acquire, Ordering::Acquire)
            {
                Ok(_) => return Some(true),
                Err(now) => v = now,
            }
        }
    }

    pub(super) fn lazy_fd<'a>(
        &'a self,
        which: &'a FdChain,
        pulse: bool,
    ) -> io::Result<BorrowedFd<'a>> {
        if let Some(fd) = which.get(epoch()) {
            return Ok(fd);
        }
        let _g = gate();
        let mut w = self.words();
        let on = if pulse { w.window } else { w.state() };
        let epoch = w.epoch;
        let made = which.get(epoch).is_none();
        let fd = which.get_or_make(epoch, || sys::eventfd_at(on).map_err(no_fd))?;
        if made && !pulse {
            w.fd_on = on;
        }
        Ok(fd)
    }

    /// The state descriptor for outside pollers (`Event::wait_fd`, the C ABI's
    /// `npipe_wait_fd`): polls readable exactly while the state is set, from now on.
    pub(crate) fn fd(&self) -> io::Result<BorrowedFd<'_>> {
        let fd = self.lazy_fd(&self.fd, false)?;
        let _g = gate();
        let mut w = self.words();
        w.public = true;
        sync(fd, &mut w);
        Ok(fd)
    }

    /// The state descriptor for a wait about to poll it: in step with the state until the
    /// matching [`Local::slept`]. While nobody polls it, sets and resets leave it alone.
    pub(super) fn sleep_fd(&self) -> io::Result<BorrowedFd<'_>> {
        let fd = self.lazy_fd(&self.fd, false)?;
        let _g = gate();
        let mut w = self.words();
        sync(fd, &mut w);
        w.pollers += 1;
        Ok(fd)
    }

    /// The end of a poll that [`Local::sleep_fd`] began.
    pub(super) fn slept(&self) {
        let _g = gate();
        let mut w = self.words();
        w.pollers = w.pollers.saturating_sub(1);
    }

    pub(super) fn pulse_fd(&self) -> io::Result<BorrowedFd<'_>> {
        self.lazy_fd(&self.pulse, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    /// A wait registered on the event (its set-up's first lock section), not yet asleep.
    fn registered(ev: &Local) -> Reg {
        let _g = gate();
        let mut st = ev.store();
        register(&mut st, Some(0)).expect("register")
    }

    #[test]
    fn a_set_releases_a_registered_wait_that_is_not_asleep_yet() {
        // Between a wait's registration and its sleep nobody polls the state descriptor; the
        // registration alone must send sets through the lock, which releases waiters at the
        // moment of the set (a manual set followed at once by a reset still releases the wait,
        // as on Windows: see the module docs of `semantics::event`).
        for manual in [true, false] {
            let ev = Local::new(manual, false);
            let reg = registered(&ev);
            ev.set();
            if manual {
                ev.reset();
            }
            let _g = gate();
            let mut st = ev.store();
            assert!(
                released(&st, reg).expect("released"),
                "manual {manual}: the set released the registered wait"
            );
            // Auto: the release is the wait's, not the state's.
            assert_eq!(
                st.state(),
                Ok(false),
                "manual {manual}: the state stays reset"
            );
            claim(&mut st, reg).expect("claim");
        }
    }

    #[test]
    fn no_change_slips_into_a_lock_section() {
        // A section looks at the state and acts on what it saw (a wait's registration, a
        // try-take): a set, reset or take from another thread meanwhile waits for its end.
        type Change = fn(&Local);
        let changes: [(&str, bool, bool, Change); 4] = [
            ("set", false, false, |ev| ev.set()),
            ("reset", false, true, |ev| ev.reset()),
            ("take", false, true, |ev| {
                ev.try_take();
            }),
            ("manual set", true, false, |ev| ev.set()),
        ];
        for (what, manual, initially, change) in changes {
            let ev = Arc::new(Local::new(manual, initially));
            let done = Arc::new(AtomicBool::new(false));
            let st = ev.store();
            let t = {
                let (ev, done) = (ev.clone(), done.clone());
                std::thread::spawn(move || {
                    change(&ev);
                    done.store(true, Ordering::SeqCst);
                })
            };
            std::thread::sleep(Duration::from_millis(50));
            assert!(
                !done.load(Ordering::SeqCst),
                "{what}: changed the state inside another thread's lock section"
            );
            assert_eq!(
                st.state(),
                Ok(initially),
                "{what}: state changed under the lock"
            );
            drop(st);
            t.join().unwrap();
            assert_eq!(
                ev.is_set(),
                !initially,
                "{what}: done once the section ended"
            );
        }
    }
}
