//! Fork safety. A process may fork while other threads are inside the library; the child
//! then has only the forking thread, and a lock another thread held at that moment would stay
//! locked in the child for ever. So every process-wide lock of the library is taken by a
//! `pthread_atfork` prepare handler and released again in the parent and in the child:
//! - the pipe registry (`pipe::registry`, all server state of the process),
//! - the hang-up watcher's table (`transport::watch::WATCHER`; taken after the registry, as
//!   the server does when it registers a new connection),
//! - the lock that makes readiness descriptors (`transport::queue::READINESS_MADE`),
//! - the table of inherited descriptors taken over (`sys::TAKEN`).
//!
//! Everything else is built not to need it: per-instance caches are only `try_lock`ed, ring
//! locks live in shared memory as robust mutexes (a holder in the parent still exists and
//! releases them), thread-id caches are gone. The C ABI registers its own handler for its
//! handle table.
//!
//! The handler also counts forks ([`fork_generation`]): an end created before a fork may be
//! shared with a child, so closing it must not tell the peer "closed" (W137).

use std::any::Any;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use crate::sys;

static FORK_GEN: AtomicU64 = AtomicU64::new(0);

/// 0: handlers not registered, 1: being registered, 2: registered.
static INSTALLED: AtomicU8 = AtomicU8::new(0);

thread_local! {
    /// The guards the prepare handler took, released after the fork (same thread).
    static HELD: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
}

extern "C" fn prepare() {
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
    HELD.with(|h| {
        let mut h = h.borrow_mut();
        h.push(Box::new(reg));
        h.push(Box::new(watcher));
        h.push(Box::new(readiness));
        h.push(Box::new(taken));
    });
}

extern "C" fn release() {
    // Dropping the guards unlocks: in the parent as usual, in the child where this thread is
    // the only one and the locks' memory is a copy of the parent's.
    HELD.with(|h| h.borrow_mut().clear());
}

/// Registers the fork handlers once per process (idempotent and cheap after the first call).
/// Not a `Once`: a fork while another thread is inside `call_once` would leave the child's copy
/// running for ever. Two threads racing here: one registers, the other goes on (a fork in that
/// instant can only find the library's locks as free as they were before).
pub(crate) fn install() {
    // Acquire: pairs with the Release store below.
    if INSTALLED.load(Ordering::Acquire) == 2 {
        return;
    }
    if INSTALLED
        .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        sys::at_fork(prepare, release, release);
        INSTALLED.store(2, Ordering::Release);
    }
}

/// A counter bumped by every `fork()`. An end created at generation G whose process has since
/// forked may be shared with a child, so closing it here must not tell the peer "closed": the
/// peer learns it from the control socket's hang-up once the last copy is gone (W137).
pub(crate) fn fork_generation() -> u64 {
    install();
    FORK_GEN.load(Ordering::SeqCst)
}
