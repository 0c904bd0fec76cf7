//! Fork handlers of events (see "Fork" in the module docs of `semantics::event`).

use super::*;

thread_local! {
    /// The guards the prepare handler took, released after the fork (same thread).
    static HELD: std::cell::RefCell<Vec<Box<dyn std::any::Any>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

pub(super) extern "C" fn fork_prepare() {
    HANDLERS.registered();
    if HELD.with(|h| !h.borrow().is_empty()) {
        // Registered twice (see `sys::ForkHandlers`): the first run holds everything already.
        return;
    }
    // Lock order: CREATING, the registry, the gate (as `Shared::create` takes them).
    let creating = CREATING.lock().unwrap_or_else(|p| p.into_inner());
    let reg = registry();
    let gate = GATE.write().unwrap_or_else(|p| p.into_inner());
    HELD.with(|h| {
        let mut h = h.borrow_mut();
        h.push(Box::new(creating));
        h.push(Box::new(reg));
        h.push(Box::new(gate));
    });
}

pub(super) extern "C" fn fork_parent() {
    // The reverse of the order they were taken.
    HELD.with(|h| {
        let mut h = h.borrow_mut();
        while h.pop().is_some() {}
    });
}

pub(super) extern "C" fn fork_child() {
    // Local events see the new epoch at their next lock section (see `Local::words`).
    // Relaxed: the child has this one thread, and threads it starts later are ordered after
    // this by their creation.
    EPOCH.fetch_add(1, Ordering::Relaxed);
    // This thread holds the registry and the gate, so no event lock is held by anyone and the
    // registry can be walked. Each shared event gets its own description (the inherited one
    // and the parent's slot lock on it close here) and no slot. Nothing here allocates.
    HELD.with(|h| {
        let h = h.borrow();
        if let Some(reg) = h
            .get(1)
            .and_then(|r| r.downcast_ref::<MutexGuard<'static, BTreeMap<Vec<u8>, Entry>>>())
        {
            for e in reg.values() {
                if let Some(sh) = e.local.upgrade() {
                    let mut att = sh.att.lock().unwrap_or_else(|p| p.into_inner());
                    // On failure the inherited description stays: this child then shares the
                    // parent's locks (an error of the next lock section is not possible to
                    // report here).
                    let _ = att.lock.reopen();
                    att.slot = None;
                    drop(att);
                    // `sh` came from a live handle, so this is not the last reference (the
                    // threads that held the others are gone, not their references): dropping
                    // it cannot run Shared::drop, which would take the registry we hold. The
                    // check keeps it that way whatever happens.
                    if Arc::strong_count(&sh) > 1 {
                        drop(sh);
                    } else {
                        std::mem::forget(sh);
                    }
                }
            }
        }
    });
    fork_parent();
}

static HANDLERS: sys::ForkHandlers = sys::ForkHandlers::new();

/// Registers the fork handlers once (see `sys::ForkHandlers`).
pub(super) fn install_fork_handlers() {
    HANDLERS.install(fork_prepare, fork_parent, fork_child);
}
