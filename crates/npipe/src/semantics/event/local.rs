//! The local flavour: a process-local event, its words under a mutex and its two eventfds.

use super::*;

#[derive(Debug, Default)]
pub(super) struct LocalWords {
    pub(super) set: bool,
    pub(super) gen: u64,
    pub(super) window: bool,
    pub(super) slot: Slot,
    /// The [`EPOCH`] of the process these words were last used in.
    pub(super) epoch: u64,
    /// Waits polling the state descriptor now (see [`Local::sleep_fd`]).
    pub(super) pollers: u32,
    /// The state descriptor was handed out ([`Local::fd`]): it stays in step for good.
    pub(super) public: bool,
    /// The state descriptor counts 1 exactly while `set` (it may lag while nobody polls it).
    pub(super) synced: bool,
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
    /// `words.set`, written under the lock, readable without it: a reset of an event that is
    /// not set, and a look at the state, take no lock (an overlapped call resets the handle's
    /// own signal every time, which nothing sets when the call has an event).
    pub(super) set_now: AtomicBool,
    /// Whether a wait is registered (`words.slot.waiters > 0`), written under the lock: a set
    /// of an event that is set already and that nobody is registered on changes nothing and
    /// takes no lock (an overlapped call that completes at once sets its event, which the
    /// previous one left set).
    pub(super) waiting: AtomicBool,
}

pub(super) struct LocalStore<'a> {
    pub(super) ev: &'a Local,
    pub(super) w: MutexGuard<'a, LocalWords>,
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
            // SYNC POINT with the Acquire load in `is_set`: a look that sees the state set sees
            // what the setter did before.
            self.ev.set_now.store(set, Ordering::Release);
            if self.w.public || self.w.pollers > 0 {
                if let Some(fd) = self.ev.fd.get(self.w.epoch) {
                    flip(fd, set);
                }
            } else {
                // Nobody polls it: it catches up when somebody does (two system calls saved
                // per change, for an event set and reset by every overlapped call).
                self.w.synced = false;
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
        // SYNC POINT with the SeqCst load in `Local::set` (Dekker: a set that misses this
        // registration completed before it, and had nobody to release).
        self.ev.waiting.store(v.waiters > 0, Ordering::SeqCst);
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

/// Brings the state descriptor in step with the state, if it lags (words locked).
fn sync(fd: BorrowedFd<'_>, w: &mut LocalWords) {
    if !w.synced {
        flip(fd, w.set);
        w.synced = true;
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
                set,
                epoch: epoch(),
                ..LocalWords::default()
            }),
            fd: FdChain::default(),
            pulse: FdChain::default(),
            set_now: AtomicBool::new(set),
            waiting: AtomicBool::new(false),
        }
    }

    /// Whether it is a manual-reset event.
    pub(crate) fn manual(&self) -> bool {
        self.manual
    }

    /// The words, locked; in a process that inherited them, forgotten waiters first.
    pub(super) fn words(&self) -> MutexGuard<'_, LocalWords> {
        let mut w = self.words.lock().unwrap_or_else(|p| p.into_inner());
        let now = epoch();
        if w.epoch != now {
            w.epoch = now;
            w.slot = Slot::default();
            self.waiting.store(false, Ordering::SeqCst);
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

    /// SetEvent. An event that is set, with no wait registered, is left as it is without the
    /// lock: the set changes no state and releases nobody. The compare-exchange still writes
    /// the state word, so a wait that then finds the event set (an Acquire load) sees what
    /// this thread did before the set, as a set under the lock would have shown it.
    pub(crate) fn set(&self) {
        // SeqCst, both: with the SeqCst store in `put_slot`, either this load sees a wait
        // registered meanwhile (and the set takes the lock to release it), or that wait
        // registered after this set, when the event was already set and nobody waited.
        if self
            .set_now
            .compare_exchange(true, true, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
            && !self.waiting.load(Ordering::SeqCst)
        {
            return;
        }
        self.run(op_set)
    }

    /// ResetEvent. An event that is not set stays so without the lock: a set racing with the
    /// look is ordered after the reset, as it could have been anyway.
    pub(crate) fn reset(&self) {
        // Relaxed: coherence gives this thread the state its own earlier calls left, and any
        // other thread's that happened before.
        if self.set_now.load(Ordering::Relaxed) {
            self.run(op_reset)
        }
    }

    /// PulseEvent.
    pub(crate) fn pulse(&self) {
        self.run(op_pulse)
    }

    /// Whether the state is set (releases to waiters are not a state), without the lock.
    pub(crate) fn is_set(&self) -> bool {
        // SYNC POINT with the Release store in `put_state`.
        self.set_now.load(Ordering::Acquire)
    }

    /// Takes the state without waiting (an auto event is reset).
    pub(crate) fn try_take(&self) -> bool {
        self.run(try_take)
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
        let on = if pulse { w.window } else { w.set };
        let epoch = w.epoch;
        let made = which.get(epoch).is_none();
        let fd = which.get_or_make(epoch, || sys::eventfd_at(on).map_err(no_fd))?;
        if made && !pulse {
            w.synced = true;
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
