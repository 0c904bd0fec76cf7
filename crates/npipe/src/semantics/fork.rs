//! Fork safety. A process may fork while other threads are inside the library; the child
//! then has only the forking thread, and a lock another thread held at that moment would stay
//! locked in the child for ever. So every process-wide lock of the library is taken by a
//! `pthread_atfork` prepare handler and released again in the parent and in the child:
//! - the pipe registry (`pipe::registry`, all server state of the process),
//! - the hang-up watcher's table (`transport::watch::WATCHER`; taken after the registry, as
//!   the server does when it registers a new connection),
//! - the lock that makes readiness descriptors (`transport::queue::READINESS_MADE`),
//! - the table of inherited descriptors taken over (`sys::TAKEN`),
//! - the tokens of remote clients (`semantics::remote`),
//! - the arena of connection mappings (`sys::arena`), the pool of side pages
//!   (`sys::SIDE_POOL`) and the pool of parked connection areas
//!   (`transport::queue::recycle::RECYCLED`), whose fork epochs the handler bumps under their
//!   locks;
//! - the list of this process's acceptor listeners (`acceptor::LISTENERS`): the child closes
//!   its copies of them, whose threads it does not have.
//!
//! Everything else is built not to need it: nothing waits on a server end's cached connection
//! (`sys::BorrowCell`; a child that inherited borrows takes the registry's path), ring
//! locks live in shared memory and name their holder's liveness mark, a robust mutex (a holder
//! in the parent still exists and releases them; the forking thread's mark, the one thread-id
//! cache kept, is forgotten in the child); each thread's CancelSynchronousIo record
//! (`sys::cancel`) is a spin lock held for a few instructions, which the child handler releases
//! for the forking thread and a cancel stops waiting for after a second. The C ABI registers
//! its own handler for its handle table.
//!
//! The handler also counts forks ([`fork_generation`]): an end created before a fork may be
//! shared with a child, so closing it must not tell the peer "closed" (W137).

use std::any::Any;
use std::cell::RefCell;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::MutexGuard;

use crate::sys;

static FORK_GEN: AtomicU64 = AtomicU64::new(0);

static HANDLERS: sys::ForkHandlers = sys::ForkHandlers::new();

thread_local! {
    /// The guards the prepare handler took, released after the fork (same thread).
    static HELD: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

extern "C" fn prepare() {
    HANDLERS.registered();
    if HELD.with(|h| !h.borrow().is_empty()) {
        // Registered twice (see `sys::ForkHandlers`): the first run holds everything already.
        return;
    }
    // SeqCst: the counter must be visible to the child and to the parent right after fork.
    FORK_GEN.fetch_add(1, Ordering::SeqCst);
    // Lock order: the registry before the watcher (as in a server handshake); the others are
    // taken alone everywhere else.
    let reg = super::pipe::registry();
    let watcher = crate::transport::watch::WATCHER
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let readiness = crate::transport::queue::READINESS_MADE
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let taken = sys::TAKEN.lock().unwrap_or_else(|p| p.into_inner());
    let remote = super::remote::table();
    let arena = sys::arena::ARENA.lock().unwrap_or_else(|p| p.into_inner());
    let mut side_pool = sys::SIDE_POOL.lock().unwrap_or_else(|p| p.into_inner());
    side_pool.forked();
    let mut recycled = crate::transport::queue::recycle::RECYCLED
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    recycled.forked();
    let listeners = super::acceptor::LISTENERS
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    HELD.with(|h| {
        let mut h = h.borrow_mut();
        h.push(Box::new(reg));
        h.push(Box::new(watcher));
        h.push(Box::new(readiness));
        h.push(Box::new(taken));
        h.push(Box::new(remote));
        h.push(Box::new(arena));
        h.push(Box::new(side_pool));
        h.push(Box::new(recycled));
        h.push(Box::new(listeners));
    });
}

extern "C" fn child() {
    // This thread's CancelSynchronousIo record, which a cancelling thread of the parent may
    // have held (see `sys::cancel`).
    sys::cancel_forked_child();
    // This thread's liveness mark is its parent thread's (see `sys::liveness`).
    sys::liveness_forked_child();
    HELD.with(|h| {
        let mut h = h.borrow_mut();
        if let Some(l) = h
            .last_mut()
            .and_then(|g| g.downcast_mut::<MutexGuard<'static, Vec<RawFd>>>())
        {
            super::acceptor::forget_listeners_in_child(l);
        }
    });
    release();
}

extern "C" fn release() {
    // Dropping the guards unlocks: in the parent as usual, in the child where this thread is
    // the only one and the locks' memory is a copy of the parent's.
    HELD.with(|h| h.borrow_mut().clear());
}

/// Registers the fork handlers once per process; every accessor of a lock they guard calls
/// this first (cheap after the first call; see `sys::ForkHandlers`).
pub(crate) fn install() {
    HANDLERS.install(prepare, release, child);
}

/// Registers this module's handlers and the events' when the library is loaded, before any
/// thread of the program can hold one of their locks.
extern "C" fn install_at_load() {
    install();
    super::event::install_fork_handlers_at_load();
}

crate::run_at_load!(INSTALL_AT_LOAD, install_at_load);

/// A counter bumped by every `fork()`. An end created at generation G whose process has since
/// forked may be shared with a child, so closing it here must not tell the peer "closed": the
/// peer learns it from the control socket's hang-up once the last copy is gone (W137).
pub(crate) fn fork_generation() -> u64 {
    install();
    FORK_GEN.load(Ordering::SeqCst)
}
