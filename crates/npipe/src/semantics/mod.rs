//! L2: Windows semantics on top of the transport: pipe names, instances and their states, the
//! acceptor that matches clients to listening instances, and the per-operation error rules.

pub(crate) mod acceptor;
pub(crate) mod anon;
pub(crate) mod mailslot;
pub(crate) mod namespace;
pub(crate) mod pipe;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

use crate::sys;

static FORK_GEN: AtomicU64 = AtomicU64::new(0);
static ATFORK: Once = Once::new();

extern "C" fn on_fork() {
    // SeqCst: the counter must be visible to the child and to the parent right after fork.
    FORK_GEN.fetch_add(1, Ordering::SeqCst);
}

/// A counter bumped by every `fork()`. An end created at generation G whose process has since
/// forked may be shared with a child, so closing it here must not tell the peer "closed": the
/// peer learns it from the control socket's hang-up once the last copy is gone (W137).
pub(crate) fn fork_generation() -> u64 {
    ATFORK.call_once(|| sys::at_fork_prepare(on_fork));
    FORK_GEN.load(Ordering::SeqCst)
}
