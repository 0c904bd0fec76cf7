//! A thread's pending overlapped operations end when the thread does: Windows cancels the I/O a
//! thread issued when it exits (for handles not bound to a completion port: those report to
//! the port whatever thread issued them), so the operation completes with ERROR_OPERATION_ABORTED and no longer writes into a
//! buffer the thread may have owned (its stack). Each thread notes the handles it left
//! operations pending on; a thread-local's destructor cancels them at the thread's exit.

use std::cell::RefCell;
use std::sync::{Arc, Weak};

use crate::handles::Entry;

/// The handles a thread has left operations pending on, and the thread's id.
struct Issued {
    tid: u32,
    entries: Vec<Weak<Entry>>,
}

impl Drop for Issued {
    fn drop(&mut self) {
        // The main thread ends with the process (its thread-locals are destroyed by exit()):
        // nothing is left to protect, and the engine may be going down with it.
        if self.tid == std::process::id() {
            return;
        }
        for e in self.entries.drain(..).filter_map(|w| w.upgrade()) {
            if e.io.any_outstanding() {
                // A read inside a large message ends too, with the part it took.
                crate::engine::cancel_exiting(&e, self.tid);
            }
        }
    }
}

thread_local! {
    static ISSUED: RefCell<Issued> = const {
        RefCell::new(Issued {
            tid: 0,
            entries: Vec::new(),
        })
    };
}

/// Notes that the calling thread (`tid`) left an operation pending on `entry`.
pub(super) fn note(entry: &Arc<Entry>, tid: u32) {
    if entry.completion.bound() {
        // Windows leaves a thread's I/O on a handle with a completion port pending when the
        // thread exits: the packet goes to the port.
        return;
    }
    if tid == crate::engine::pid() {
        // The main thread: its note would never be used (see `Issued::drop`).
        return;
    }
    // A thread already exiting (its thread-locals going) has nothing more to note.
    let _ = ISSUED.try_with(|i| {
        let Ok(mut i) = i.try_borrow_mut() else {
            return;
        };
        i.tid = tid;
        if i.entries.iter().any(|w| w.as_ptr() == Arc::as_ptr(entry)) {
            return;
        }
        // Handles that are gone or have nothing pending any more are dropped from the list,
        // so it stays as long as the handles the thread has operations on.
        i.entries
            .retain(|w| w.upgrade().is_some_and(|e| e.io.any_outstanding()));
        i.entries.push(Arc::downgrade(entry));
    });
}
