//! The state machine of an event (both flavours): slots, releases, tokens, claims (see the
//! module docs of `semantics::event`).

/// Most waiters one slot may count (a sanity bound on a value other processes can write).
pub(super) const MAX_WAITERS: u32 = 1 << 24;

/// One process's waiters of one event (the local flavour has exactly one slot).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Slot {
    /// Registered waiters.
    pub(super) waiters: u32,
    /// Of those, the ones registered before the latest release and not yet done with it.
    pub(super) old: u32,
    /// Auto-reset releases by SetEvent given to this slot's old waiters, not yet claimed.
    pub(super) set_tokens: u32,
    /// The same from PulseEvent.
    pub(super) pulse_tokens: u32,
}

/// What was wrong with a value read from an event's state.
pub(super) type Bad = &'static str;

impl Slot {
    pub(super) fn tokens(&self) -> u32 {
        self.set_tokens.saturating_add(self.pulse_tokens)
    }

    /// The slot if its counts are possible.
    pub(super) fn check(self) -> Result<Slot, Bad> {
        let tokens = self.set_tokens.checked_add(self.pulse_tokens);
        if self.waiters > MAX_WAITERS
            || self.old > self.waiters
            || tokens.is_none_or(|t| t > self.old)
        {
            return Err("impossible waiter counts in a slot");
        }
        Ok(self)
    }

    /// The slot with its counts forced into range (repair after a holder died mid-update).
    pub(super) fn clamped(mut self) -> Slot {
        self.waiters = self.waiters.min(MAX_WAITERS);
        self.old = self.old.min(self.waiters);
        self.pulse_tokens = self.pulse_tokens.min(self.old);
        self.set_tokens = self.set_tokens.min(self.old - self.pulse_tokens);
        self
    }

    /// Whether a release given to this slot is still to be claimed.
    pub(super) fn pending(&self, manual: bool) -> bool {
        if manual {
            self.old > 0
        } else {
            self.tokens() > 0
        }
    }
}

/// The words of one event, under its lock. Setters keep the matching eventfd in step.
pub(super) trait Store {
    fn manual(&self) -> bool;
    fn state(&self) -> Result<bool, Bad>;
    fn put_state(&mut self, set: bool);
    fn gen(&self) -> u64;
    fn put_gen(&mut self, gen: u64);
    fn hint(&self) -> u32;
    fn put_hint(&mut self, hint: u32);
    fn slots(&self) -> usize;
    /// Slot `s`, checked ([`Slot::check`]).
    fn slot(&self, s: usize) -> Result<Slot, Bad>;
    fn put_slot(&mut self, s: usize, v: Slot);
    fn window(&self) -> bool;
    fn put_window(&mut self, open: bool);
    /// Whether slot `s` belongs to a live process (always, for this process's own slot).
    fn alive(&self, s: usize) -> bool;
    /// Makes the state descriptor count 0 (called with the state reset: it polled readable
    /// although nothing set it, which only another process writing it can do).
    fn drain_state_fd(&mut self);
    /// The same for the release descriptor with the window closed.
    fn drain_release_fd(&mut self);
}

/// Brings the descriptors of an event whose state or window is off back to 0 when a poll saw
/// them readable: another process wrote them without changing the words (a hostile peer; a
/// crashed holder is repaired through `busy`). Without this, waiters would spin on them.
pub(super) fn fix_stale(st: &mut dyn Store, stale: Stale) -> Result<(), Bad> {
    if stale.state && !st.state()? {
        st.drain_state_fd();
    }
    if stale.release && !st.window() {
        st.drain_release_fd();
    }
    Ok(())
}

/// Which of an object's descriptors the last poll saw readable.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Stale {
    pub(super) state: bool,
    pub(super) release: bool,
}

/// One waiter's registration on one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Reg {
    /// Its process's slot; `None` when none was free: it then only sees the state.
    pub(super) slot: Option<usize>,
    /// `gen` when it registered (or last noticed a release it could not use).
    pub(super) gen: u64,
}

pub(super) fn bump_old(st: &mut dyn Store) -> Result<(), Bad> {
    st.put_gen(st.gen().wrapping_add(1));
    for s in 0..st.slots() {
        let mut v = st.slot(s)?;
        if v.old != v.waiters {
            v.old = v.waiters;
            st.put_slot(s, v);
        }
    }
    Ok(())
}

/// Releases every waiter registered now (manual SetEvent and PulseEvent).
pub(super) fn release_all(st: &mut dyn Store) -> Result<(), Bad> {
    for s in 0..st.slots() {
        if st.slot(s)?.waiters > 0 {
            return bump_old(st);
        }
    }
    Ok(())
}

/// Releases one waiter that has no release yet, if there is one (auto SetEvent, PulseEvent).
/// Slots of dead processes met on the way are cleared.
pub(super) fn release_one(st: &mut dyn Store, pulse: bool) -> Result<bool, Bad> {
    let n = st.slots();
    let start = st.hint() as usize % n;
    let mut chosen = None;
    for k in 0..n {
        let s = (start + k) % n;
        let v = st.slot(s)?;
        if v.waiters > v.tokens() {
            if st.alive(s) {
                chosen = Some(s);
                break;
            }
            st.put_slot(s, Slot::default());
        }
    }
    let Some(s) = chosen else {
        return Ok(false);
    };
    bump_old(st)?;
    let mut v = st.slot(s)?;
    if pulse {
        v.pulse_tokens += 1;
    } else {
        v.set_tokens += 1;
    }
    st.put_slot(s, v.check()?);
    st.put_hint(((s + 1) % n) as u32);
    Ok(true)
}

/// Opens or closes the release window to match the slots.
pub(super) fn sync_window(st: &mut dyn Store) -> Result<(), Bad> {
    let manual = st.manual();
    let mut open = false;
    for s in 0..st.slots() {
        if st.slot(s)?.pending(manual) {
            open = true;
            break;
        }
    }
    if open != st.window() {
        st.put_window(open);
    }
    Ok(())
}

/// SetEvent.
pub(super) fn op_set(st: &mut dyn Store) -> Result<(), Bad> {
    if st.manual() {
        release_all(st)?;
        st.put_state(true);
    } else if !st.state()? && !release_one(st, false)? {
        st.put_state(true);
    }
    sync_window(st)
}

/// ResetEvent.
pub(super) fn op_reset(st: &mut dyn Store) -> Result<(), Bad> {
    st.state()?;
    st.put_state(false);
    Ok(())
}

/// PulseEvent: the releases of a SetEvent, then the event is left reset.
pub(super) fn op_pulse(st: &mut dyn Store) -> Result<(), Bad> {
    if st.manual() {
        release_all(st)?;
    } else if !st.state()? {
        release_one(st, true)?;
    }
    st.put_state(false);
    sync_window(st)
}

/// Takes the state for a wait that does not register (or has not yet): an auto event is reset.
pub(super) fn try_take(st: &mut dyn Store) -> Result<bool, Bad> {
    if !st.state()? {
        return Ok(false);
    }
    if !st.manual() {
        st.put_state(false);
    }
    Ok(true)
}

pub(super) fn register(st: &mut dyn Store, slot: Option<usize>) -> Result<Reg, Bad> {
    let gen = st.gen();
    let slot = match slot {
        Some(s) => {
            let mut v = st.slot(s)?;
            if v.waiters >= MAX_WAITERS {
                None
            } else {
                v.waiters += 1;
                st.put_slot(s, v);
                Some(s)
            }
        }
        None => None,
    };
    Ok(Reg { slot, gen })
}

/// Whether a release is waiting for this waiter.
pub(super) fn released(st: &dyn Store, reg: Reg) -> Result<bool, Bad> {
    let Some(s) = reg.slot else {
        return Ok(false);
    };
    if reg.gen == st.gen() {
        return Ok(false);
    }
    Ok(st.manual() || st.slot(s)?.tokens() > 0)
}

/// Claims the release [`released`] found and ends the registration.
pub(super) fn claim(st: &mut dyn Store, reg: Reg) -> Result<(), Bad> {
    let Some(s) = reg.slot else {
        return Ok(());
    };
    let mut v = st.slot(s)?;
    let gone = "a slot counts fewer waiters than wait";
    v.waiters = v.waiters.checked_sub(1).ok_or(gone)?;
    v.old = v.old.checked_sub(1).ok_or(gone)?;
    if !st.manual() {
        if v.set_tokens > 0 {
            v.set_tokens -= 1;
        } else {
            v.pulse_tokens = v.pulse_tokens.checked_sub(1).ok_or(gone)?;
        }
    }
    st.put_slot(s, v.check()?);
    sync_window(st)
}

/// Ends a registration without claiming anything. A release this waiter could have claimed
/// goes to the next waiter (SetEvent; or sets the event when nobody waits) or is dropped
/// (PulseEvent).
pub(super) fn leave(st: &mut dyn Store, reg: Reg) -> Result<(), Bad> {
    let Some(s) = reg.slot else {
        return Ok(());
    };
    let mut v = st.slot(s)?;
    let gone = "a slot counts fewer waiters than wait";
    v.waiters = v.waiters.checked_sub(1).ok_or(gone)?;
    let mut handover = 0;
    if reg.gen != st.gen() {
        v.old = v.old.checked_sub(1).ok_or(gone)?;
        while v.tokens() > v.old {
            if v.pulse_tokens > 0 {
                v.pulse_tokens -= 1;
            } else {
                v.set_tokens -= 1;
                handover += 1;
            }
        }
    }
    st.put_slot(s, v.check()?);
    for _ in 0..handover {
        if !release_one(st, false)? {
            st.put_state(true);
        }
    }
    sync_window(st)
}

/// A wait-all waiter saw a manual release it cannot use (its other objects are not all
/// signalled): it is done with that release and waits on as a new waiter.
pub(super) fn notice(st: &mut dyn Store, reg: &mut Reg) -> Result<(), Bad> {
    let Some(s) = reg.slot else {
        return Ok(());
    };
    let gen = st.gen();
    if reg.gen != gen {
        let mut v = st.slot(s)?;
        v.old = v
            .old
            .checked_sub(1)
            .ok_or("a slot counts fewer waiters than wait")?;
        st.put_slot(s, v.check()?);
        reg.gen = gen;
    }
    sync_window(st)
}

/// Clears the slots of processes that are gone, and closes the window if only they held it.
pub(super) fn sweep(st: &mut dyn Store) -> Result<(), Bad> {
    for s in 0..st.slots() {
        let v = st.slot(s)?;
        if v != Slot::default() && !st.alive(s) {
            st.put_slot(s, Slot::default());
        }
    }
    sync_window(st)
}
