//! Asynchronous procedure calls: each thread's queue of completion routines (ReadFileEx,
//! WriteFileEx) and user APCs (QueueUserAPC). They run only in that thread, and only while it
//! waits alertably (SleepEx, WaitForSingleObjectEx, WaitForMultipleObjectsEx,
//! GetOverlappedResultEx with bAlertable), never inside another call (W28, W104).
//!
//! A thread that ends takes its queue with it: the thread-local that holds it closes the
//! queue at thread exit, dropping what is queued and whatever is queued later (completion
//! routines of I/O the thread started, APCs queued by someone who still holds the queue), so
//! nothing waits for a thread that will never wait again. A call made while the thread's
//! locals are being torn down (an I/O started from a thread-local destructor) gets a queue of
//! its own that is closed already: its routines are dropped, never run, and nothing panics.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::os::fd::BorrowedFd;
use std::sync::{Arc, Mutex};

use crate::sync::Signal;

/// A queued call.
pub(crate) type Apc = Box<dyn FnOnce() + Send>;

/// One thread's APC queue.
pub(crate) struct Apcs {
    /// The queued calls; `None` once the thread has ended (closed: nothing is kept).
    queue: Mutex<Option<VecDeque<Apc>>>,
    /// Set while the queue holds something: what an alertable wait polls.
    ready: Signal,
}

impl std::fmt::Debug for Apcs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let q = self.lock();
        f.debug_struct("Apcs")
            .field("queued", &q.as_ref().map_or(0, |q| q.len()))
            .field("closed", &q.is_none())
            .finish()
    }
}

impl Default for Apcs {
    fn default() -> Self {
        Apcs {
            queue: Mutex::new(Some(VecDeque::new())),
            ready: Signal::new(false, false),
        }
    }
}

impl Apcs {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<VecDeque<Apc>>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `f` to run in the owning thread's next alertable wait. Dropped at once when the
    /// thread has ended.
    pub(crate) fn push(&self, f: Apc) {
        let mut q = self.lock();
        match q.as_mut() {
            Some(q) => {
                q.push_back(f);
                self.ready.set();
            }
            None => {
                drop(q);
                drop(f);
            }
        }
    }

    /// Whether something is queued.
    pub(crate) fn queued(&self) -> bool {
        self.ready.is_set()
    }

    /// What an alertable wait polls; it also records the thread's last pending ReadFileEx or
    /// WriteFileEx, which such a wait helps along (see `Signal::bind`).
    pub(crate) fn signal(&self) -> &Signal {
        &self.ready
    }

    /// Closes the queue for good: what is queued is dropped (outside the lock: a call's
    /// captures may queue again, which a closed queue drops too), and so is what comes later.
    fn close(&self) {
        let queued = self.lock().take();
        self.ready.reset();
        drop(queued);
    }

    /// A queue that is closed already (for calls made while the thread's locals are torn
    /// down).
    fn closed() -> Apcs {
        let q = Apcs::default();
        q.close();
        q
    }

    /// Runs everything queued (including what the calls queue themselves), in order. True when
    /// something ran.
    pub(crate) fn run_pending(&self) -> bool {
        let mut ran = false;
        loop {
            let next = {
                let mut guard = self.lock();
                let Some(q) = guard.as_mut() else {
                    return ran;
                };
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

/// The thread-local holder of a thread's queue: closes it when the thread ends.
struct Owner(RefCell<Option<Arc<Apcs>>>);

impl Drop for Owner {
    fn drop(&mut self) {
        if let Some(q) = self.0.get_mut().take() {
            q.close();
        }
    }
}

thread_local! {
    static CURRENT: Owner = const { Owner(RefCell::new(None)) };
}

/// The calling thread's queue (made on first use). During the thread's teardown, when its
/// thread-locals may be gone, a closed queue: what is queued to it is dropped, never run.
pub(crate) fn current() -> Arc<Apcs> {
    CURRENT
        .try_with(|c| match c.0.try_borrow_mut() {
            Ok(mut q) => Some(q.get_or_insert_with(Default::default).clone()),
            Err(_) => None,
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| Arc::new(Apcs::closed()))
}

/// Makes `q` the calling thread's queue (a thread made by CreateThread, whose queue exists
/// before it runs so QueueUserAPC can target it at once). Nothing happens during teardown.
pub(crate) fn install(q: Arc<Apcs>) {
    let _ = CURRENT.try_with(|c| {
        if let Ok(mut cur) = c.0.try_borrow_mut() {
            *cur = Some(q);
        }
    });
}
