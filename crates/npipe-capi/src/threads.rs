//! Threads: CreateThread, thread handles (waitable, signalled when the thread ends), exit codes.

use std::sync::atomic::AtomicU32;
use std::sync::Arc;

use crate::apc::Apcs;
use crate::sync::Signal;

/// A thread made by CreateThread.
#[derive(Debug)]
pub(crate) struct Thread {
    /// Set (manual reset) when the thread has ended.
    done: Signal,
    /// The exit code (STILL_ACTIVE while it runs).
    pub(crate) code: AtomicU32,
    /// Its id (GetCurrentThreadId in that thread).
    pub(crate) tid: AtomicU32,
    /// Its APC queue.
    pub(crate) apcs: Arc<Apcs>,
}

impl Thread {
    /// Set when the thread has ended.
    pub(crate) fn done(&self) -> &Signal {
        &self.done
    }
}
