//! Asynchronous procedure calls: each thread's queue of completion routines (ReadFileEx,
//! WriteFileEx) and user APCs (QueueUserAPC). They run only in that thread, and only while it
//! waits alertably (SleepEx, WaitForSingleObjectEx, WaitForMultipleObjectsEx,
//! GetOverlappedResultEx with bAlertable), never inside another call (W28, W104).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::os::fd::BorrowedFd;
use std::sync::{Arc, Mutex};

use crate::sync::Signal;

/// A queued call.
pub(crate) type Apc = Box<dyn FnOnce() + Send>;

/// One thread's APC queue.
pub(crate) struct Apcs {
    queue: Mutex<VecDeque<Apc>>,
    /// Set while the queue holds something: what an alertable wait polls.
    ready: Signal,
}

impl std::fmt::Debug for Apcs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Apcs")
            .field("queued", &self.lock().len())
            .finish()
    }
}

impl Default for Apcs {
    fn default() -> Self {
        Apcs {
            queue: Mutex::new(VecDeque::new()),
            ready: Signal::new(false, false),
        }
    }
}

impl Apcs {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Apc>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `f` to run in the owning thread's next alertable wait.
    pub(crate) fn push(&self, f: Apc) {
        let mut q = self.lock();
        q.push_back(f);
        self.ready.set();
    }

    /// Runs everything queued (including what the calls queue themselves), in order. True when
    /// something ran.
    pub(crate) fn run_pending(&self) -> bool {
        let mut ran = false;
        loop {
            let next = {
                let mut q = self.lock();
                let f = q.pop_front();
                if q.is_empty() {
                    self.ready.reset();
                }
                f
            };
            match next {
                Some(f) => {
                    f();
                    ran = true;
                }
                None => return ran,
            }
        }
    }

    /// Polls readable while something is queued.
    pub(crate) fn fd(&self) -> std::io::Result<BorrowedFd<'_>> {
        self.ready.fd()
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Apcs>>> = const { RefCell::new(None) };
}

/// The calling thread's queue (made on first use).
pub(crate) fn current() -> Arc<Apcs> {
    CURRENT.with(|c| c.borrow_mut().get_or_insert_with(Default::default).clone())
}

/// Makes `q` the calling thread's queue (a thread made by CreateThread, whose queue exists
/// before it runs so QueueUserAPC can target it at once).
pub(crate) fn install(q: Arc<Apcs>) {
    CURRENT.with(|c| *c.borrow_mut() = Some(q));
}
