//! Waiting on events: any or all of several, with an alert descriptor and deadlines.

use super::*;

/// One object of a wait.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Obj<'a> {
    Local(&'a Local),
    Shared(&'a Shared),
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The object at this index was taken (wait-all: every object, index 0).
    Object(usize),
    /// The alert descriptor became readable before any object was signalled.
    Alerted,
    /// The deadline passed.
    TimedOut,
}

pub(super) enum Held<'a> {
    Local(LocalStore<'a>),
    Shared(SharedStore<'a>),
}

impl Held<'_> {
    pub(super) fn st(&mut self) -> &mut dyn Store {
        match self {
            Held::Local(s) => s,
            Held::Shared(s) => s,
        }
    }

    pub(super) fn my_slot(&mut self) -> Option<usize> {
        match self {
            Held::Local(_) => Some(0),
            Held::Shared(s) => s.my_slot(),
        }
    }
}

impl<'a> Obj<'a> {
    /// The lock order: local events by address, then shared ones by memfd inode (the same
    /// order in every process). Equal keys are the same event.
    pub(super) fn key(&self) -> (u8, u64) {
        match self {
            Obj::Local(l) => (0, *l as *const Local as usize as u64),
            Obj::Shared(s) => (1, s.obj.ino),
        }
    }

    pub(super) fn manual(&self) -> bool {
        match self {
            Obj::Local(l) => l.manual,
            Obj::Shared(s) => s.obj.manual,
        }
    }

    pub(super) fn lock(&self) -> io::Result<Held<'a>> {
        match *self {
            Obj::Local(l) => Ok(Held::Local(l.store())),
            Obj::Shared(s) => Ok(Held::Shared(s.lock()?)),
        }
    }

    pub(super) fn bad(&self, what: Bad) -> io::Error {
        match self {
            Obj::Local(_) => err(ERROR_INVALID_DATA, format!("event state: {what}")),
            Obj::Shared(s) => s.obj.bad(what),
        }
    }

    /// The state descriptor, for a poll that ends when `sleeping` is dropped.
    fn sleep_fd(&self, sleeping: &mut Sleeping<'a>) -> io::Result<BorrowedFd<'a>> {
        match *self {
            Obj::Local(l) => {
                let fd = l.sleep_fd()?;
                sleeping.0.push(l);
                Ok(fd)
            }
            Obj::Shared(s) => Ok(s.obj.state_fd.as_fd()),
        }
    }

    pub(super) fn release_fd(&self) -> io::Result<BorrowedFd<'a>> {
        match *self {
            Obj::Local(l) => l.pulse_fd(),
            Obj::Shared(s) => Ok(s.obj.release_fd.as_fd()),
        }
    }
}

/// The local events whose state descriptor one poll watches: done with on drop.
struct Sleeping<'a>(Vec<&'a Local>);

impl Drop for Sleeping<'_> {
    fn drop(&mut self) {
        for l in self.0.drain(..) {
            l.slept();
        }
    }
}

/// The registrations of one wait; whatever is still registered is left on drop.
pub(super) struct Waiter<'o, 'a> {
    pub(super) objs: &'o [Obj<'a>],
    pub(super) regs: Vec<Option<Reg>>,
}

impl Drop for Waiter<'_, '_> {
    fn drop(&mut self) {
        for (i, r) in self.regs.iter_mut().enumerate() {
            if let Some(reg) = r.take() {
                let _g = gate();
                if let Ok(mut h) = self.objs[i].lock() {
                    let _ = leave(h.st(), reg);
                }
            }
        }
    }
}

/// Backoff after wake-ups by a release window that was not for this waiter.
pub(super) const BACKOFF_MIN: Duration = Duration::from_millis(1);
pub(super) const BACKOFF_MAX: Duration = Duration::from_millis(32);

impl<'o, 'a> Waiter<'o, 'a> {
    /// Leaves every registration except `keep`.
    pub(super) fn leave_others(&mut self, keep: usize) -> io::Result<()> {
        for i in 0..self.regs.len() {
            if i == keep {
                continue;
            }
            if let Some(reg) = self.regs[i].take() {
                let _g = gate();
                let mut h = self.objs[i].lock()?;
                leave(h.st(), reg).map_err(|w| self.objs[i].bad(w))?;
            }
        }
        Ok(())
    }

    /// Wait-any, first look: each object is checked and registered in one lock section, so
    /// a waiter either takes a set state or is registered before any later release.
    pub(super) fn any_first(&mut self) -> io::Result<Option<usize>> {
        for i in 0..self.objs.len() {
            let o = self.objs[i];
            let g = gate();
            let mut h = o.lock()?;
            if try_take(h.st()).map_err(|w| o.bad(w))? {
                drop(h);
                drop(g);
                self.leave_others(i)?;
                return Ok(Some(i));
            }
            let slot = h.my_slot();
            self.regs[i] = Some(register(h.st(), slot).map_err(|w| o.bad(w))?);
        }
        Ok(None)
    }

    /// Wait-any, later looks: a release for us first, then a set state, lowest index first.
    /// Returns the object taken, and whether a release window was open that was not ours.
    pub(super) fn any_check(&mut self, stale: &[Stale]) -> io::Result<(Option<usize>, bool)> {
        let mut foreign_window = false;
        for i in 0..self.objs.len() {
            let o = self.objs[i];
            let g = gate();
            let mut h = o.lock()?;
            let st = h.st();
            let b = |w| o.bad(w);
            if let Some(reg) = self.regs[i] {
                if released(st, reg).map_err(b)? {
                    claim(st, reg).map_err(b)?;
                    self.regs[i] = None;
                    drop(h);
                    drop(g);
                    self.leave_others(i)?;
                    return Ok((Some(i), false));
                }
            }
            if try_take(st).map_err(b)? {
                if let Some(reg) = self.regs[i].take() {
                    leave(st, reg).map_err(b)?;
                }
                drop(h);
                drop(g);
                self.leave_others(i)?;
                return Ok((Some(i), false));
            }
            fix_stale(st, stale.get(i).copied().unwrap_or_default()).map_err(b)?;
            if st.window() {
                foreign_window = true;
                sweep(st).map_err(b)?;
            }
        }
        Ok((None, foreign_window))
    }

    /// Wait-all: one look at every object under all their locks (taken in the global order).
    /// Registers the manual events it still waits on. Returns true when it took them all, and
    /// which objects are set (for what to poll) and whether a foreign window was open.
    pub(super) fn all_check(
        &mut self,
        order: &[usize],
        set: &mut [bool],
        stale: &[Stale],
    ) -> io::Result<(bool, bool)> {
        let _g = gate();
        let mut held: Vec<(usize, Held<'a>)> = Vec::with_capacity(order.len());
        for &i in order {
            held.push((i, self.objs[i].lock()?));
        }
        let mut all = true;
        let mut rel = vec![false; self.objs.len()];
        for (i, h) in held.iter_mut() {
            let (i, o) = (*i, self.objs[*i]);
            let st = h.st();
            let b = |w| o.bad(w);
            rel[i] = match self.regs[i] {
                Some(reg) => released(st, reg).map_err(b)?,
                None => false,
            };
            set[i] = st.state().map_err(b)?;
            if !rel[i] && !set[i] {
                all = false;
            }
        }
        let mut foreign_window = false;
        for (i, h) in held.iter_mut() {
            let (i, o) = (*i, self.objs[*i]);
            let b = |w| o.bad(w);
            let st = h.st();
            if all {
                if rel[i] {
                    claim(
                        st,
                        self.regs[i].take().expect("released implies registered"),
                    )
                    .map_err(b)?;
                } else {
                    try_take(st).map_err(b)?;
                    if let Some(reg) = self.regs[i].take() {
                        leave(st, reg).map_err(b)?;
                    }
                }
            } else if o.manual() {
                match &mut self.regs[i] {
                    Some(reg) if rel[i] => notice(st, reg).map_err(b)?,
                    Some(_) => {}
                    None => {
                        let slot = h.my_slot();
                        self.regs[i] = Some(register(h.st(), slot).map_err(b)?);
                    }
                }
                let st = h.st();
                if st.window() && !rel[i] {
                    foreign_window = true;
                    sweep(st).map_err(b)?;
                }
            }
            if !all {
                fix_stale(h.st(), stale[i]).map_err(b)?;
            }
        }
        Ok((all, foreign_window))
    }
}

/// Wait-any's look before anything is allocated or registered: the leading process-local
/// events, in order, each taken when its lock-free state says it is set. The first object
/// that is not local ends the look (an earlier index must win over a later one, and a shared
/// event is looked at under its lock only). `None`: the full wait decides.
fn take_set_local(objs: &[Obj<'_>]) -> io::Result<Option<usize>> {
    for (i, o) in objs.iter().enumerate() {
        let Obj::Local(l) = o else { return Ok(None) };
        // A set manual-reset event is taken by looking, and a set auto-reset one that nothing
        // watches by one compare-exchange: neither the gate nor the event's lock is needed
        // (`Local::take_quick`). An overlapped call that completes at once leaves its event
        // set, and its caller's wait lands here.
        match l.take_quick() {
            Some(true) => return Ok(Some(i)),
            Some(false) => continue,
            None => {}
        }
        let _g = gate();
        let mut h = o.lock()?;
        if try_take(h.st()).map_err(|w| o.bad(w))? {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// Waits until one (`all` false) or every (`all` true) object is signalled, `deadline` passes
/// (`None`: never) or `alert` polls readable, and takes what it waited for: an auto-reset event
/// is reset, a release is claimed. Objects are checked before the alert: an alertable wait on
/// a signalled object returns the object (Windows does the same).
///
/// Wait-all with the same event twice (the same object, through any handles) fails with
/// ERROR_INVALID_PARAMETER, as on Windows (`STATUS_INVALID_PARAMETER_MIX`). No objects and no
/// alert is a plain sleep until the deadline.
pub(crate) fn wait(
    objs: &[Obj<'_>],
    all: bool,
    deadline: Option<Instant>,
    alert: Option<BorrowedFd<'_>>,
) -> io::Result<Outcome> {
    // One object: waiting for all is waiting for any (and an auto-reset event then takes
    // releases, which only wait-any waiters do).
    let all = all && objs.len() > 1;
    if !all {
        if let Some(i) = take_set_local(objs)? {
            return Ok(Outcome::Object(i));
        }
    }
    let mut order: Vec<usize> = (0..objs.len()).collect();
    order.sort_by_key(|&i| objs[i].key());
    if all
        && order
            .windows(2)
            .any(|w| objs[w[0]].key() == objs[w[1]].key())
    {
        return Err(err(
            ERROR_INVALID_PARAMETER,
            "a wait for all objects names the same object twice",
        ));
    }
    let mut w = Waiter {
        objs,
        regs: vec![None; objs.len()],
    };
    let mut set = vec![false; objs.len()];
    let mut alerted = false;
    let mut expired = false;
    let mut backoff: Option<Duration> = None;
    let mut first = true;
    let mut fds: Vec<BorrowedFd<'_>> = Vec::new();
    // Which object (and which of its descriptors, true: release) each polled descriptor is.
    let mut owner: Vec<Option<(usize, bool)>> = Vec::new();
    let mut stale = vec![Stale::default(); objs.len()];
    let mut ready = Vec::new();
    loop {
        let foreign = if all {
            let (done, foreign) = w.all_check(&order, &mut set, &stale)?;
            if done {
                return Ok(Outcome::Object(0));
            }
            foreign
        } else if first {
            if let Some(i) = w.any_first()? {
                return Ok(Outcome::Object(i));
            }
            false
        } else {
            let (got, foreign) = w.any_check(&stale)?;
            if let Some(i) = got {
                return Ok(Outcome::Object(i));
            }
            foreign
        };
        first = false;
        if alerted {
            return Ok(Outcome::Alerted);
        }
        if expired {
            return Ok(Outcome::TimedOut);
        }
        // Sleep. A window that woke us for nothing makes the next sleeps leave the release
        // descriptors out for a while (state descriptors and the alert are still polled).
        backoff = if foreign {
            Some(backoff.map_or(BACKOFF_MIN, |b| (b * 2).min(BACKOFF_MAX)))
        } else {
            None
        };
        fds.clear();
        owner.clear();
        let mut sleeping = Sleeping(Vec::new());
        for (i, o) in objs.iter().enumerate() {
            // A wait-all sleeps only on the objects not set: those set would wake it at once
            // (one of them taken by another thread meanwhile shows in the next look).
            if !(all && set[i]) {
                fds.push(o.sleep_fd(&mut sleeping)?);
                owner.push(Some((i, false)));
            }
            if backoff.is_none() && w.regs[i].is_some() {
                fds.push(o.release_fd()?);
                owner.push(Some((i, true)));
            }
        }
        if let Some(a) = alert {
            fds.push(a);
            owner.push(None);
        }
        let until = match (deadline, backoff) {
            (Some(d), Some(b)) => Some(d.min(Instant::now() + b)),
            (None, Some(b)) => Some(Instant::now() + b),
            (d, None) => d,
        };
        // No descriptors and no deadline (a wait for nothing, forever) sleeps for ever.
        sys::poll_many(&fds, until, &mut ready).map_err(|e| os_err(e, "poll", "a wait"))?;
        drop(sleeping);
        alerted = alert.is_some() && ready.last().copied().unwrap_or(false);
        expired = deadline.is_some_and(|d| Instant::now() >= d);
        stale.fill(Stale::default());
        for (k, &r) in ready.iter().enumerate() {
            match owner.get(k) {
                Some(Some((i, false))) if r => stale[*i].state = true,
                Some(Some((i, true))) if r => stale[*i].release = true,
                _ => {}
            }
        }
    }
}
