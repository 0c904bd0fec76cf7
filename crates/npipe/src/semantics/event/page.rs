//! The shared flavour's page: the words every process maps, their checks, and the lock.

use super::*;

pub(super) const MAGIC: u32 = u32::from_le_bytes(*b"NEV1");
pub(super) const VERSION: u32 = 1;
pub(super) const OFF_MAGIC: usize = 0;
pub(super) const OFF_VERSION: usize = 4;
pub(super) const OFF_SIZE: usize = 8;
pub(super) const OFF_MANUAL: usize = 12;
pub(super) const OFF_STATE: usize = 16;
pub(super) const OFF_BUSY: usize = 20;
pub(super) const OFF_HINT: usize = 24;
pub(super) const OFF_WINDOW: usize = 28;
pub(super) const OFF_GEN: usize = 32;
pub(super) const OFF_SLOTS: usize = 64;
pub(super) const SLOT_BYTES: usize = 16;
/// Processes that can wait on one named event with release accounting at once.
pub(crate) const SLOTS: usize = (sys::EVENT_PAGE - OFF_SLOTS) / SLOT_BYTES;
/// The byte of the memfd whose OFD lock is the event's lock (beyond the end: locks need no
/// file space).
pub(super) const LOCK_STATE: u64 = 1 << 40;
/// The byte whose OFD lock says "slot 0 is mine"; slot `s` is `LOCK_SLOT0 + s`.
pub(super) const LOCK_SLOT0: u64 = LOCK_STATE + 1;
/// How long a lock section waits for another process to leave its own.
pub(super) const LOCK_LIMIT: Duration = Duration::from_secs(5);

const _: () = assert!(OFF_SLOTS + SLOTS * SLOT_BYTES <= sys::EVENT_PAGE);

/// What every process attached to one named event has: the page and the two eventfds.
#[derive(Debug)]
pub(super) struct Object {
    pub(super) page: sys::EventPage,
    /// The memfd as created: kept by the serving process to send to openers.
    pub(super) memfd: Option<OwnedFd>,
    /// The state descriptor.
    pub(super) state_fd: OwnedFd,
    /// The release descriptor.
    pub(super) release_fd: OwnedFd,
    pub(super) manual: bool,
    /// The memfd's inode: the order in which wait-all locks shared events, the same in every
    /// process, and the identity of the event.
    pub(super) ino: u64,
    pub(super) name: Name,
}

impl Object {
    /// Checks the header words (they never change after creation).
    pub(super) fn check_header(&self) -> Result<(), Bad> {
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

    pub(super) fn bad(&self, what: Bad) -> io::Error {
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
pub(super) struct Attach {
    pub(super) lock: sys::LockFile,
    pub(super) slot: Option<usize>,
    /// When the last search for a free slot found none.
    pub(super) no_slot_since: Option<Instant>,
}

/// The words of a shared event, locked (local mutex + OFD lock, `busy` set).
pub(super) struct SharedStore<'a> {
    pub(super) obj: &'a Object,
    pub(super) att: MutexGuard<'a, Attach>,
}

impl SharedStore<'_> {
    pub(super) fn w32(&self, off: usize) -> u32 {
        // Relaxed: under the event's lock, whose acquisition is fenced.
        self.obj.page.u32_at(off).load(Ordering::Relaxed)
    }
    pub(super) fn put32(&self, off: usize, v: u32) {
        // Relaxed: under the event's lock, whose release is fenced.
        self.obj.page.u32_at(off).store(v, Ordering::Relaxed)
    }
    pub(super) fn raw_slot(&self, s: usize) -> Slot {
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
    pub(super) fn repair(&mut self) -> Result<(), Bad> {
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
    pub(super) fn my_slot(&mut self) -> Option<usize> {
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
