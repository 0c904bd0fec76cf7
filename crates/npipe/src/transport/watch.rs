//! The hang-up watcher: one thread per process, one epoll set over the control socket of every
//! connection, so the death or close of a peer process wakes this side's sleepers at once
//! instead of at their next probe (sleepers wait on futexes in shared memory, which a dying
//! peer cannot signal).
//!
//! - A connection registers when it is established ([`watch`]) and leaves when it is dropped
//!   (`Conn::drop` calls [`forget`]); registering costs one `epoll_ctl`, nothing on the data
//!   path.
//! - On a hang-up the watcher marks the peer closed in the shared header and wakes every
//!   sleeper of both rings (`Conn::probe_hup`), then stops watching that socket.
//! - The thread starts with the first registration. A forked child does not have its parent's
//!   thread: its first registration starts a watcher of its own (connections it inherited keep
//!   relying on the sleepers' own probes). Its lock is one of those the fork handler holds.
//! - The same thread gives back the pages a connection used beyond its ring's record window
//!   for large messages once the connection has been idle for a while (`queue::spill`): a
//!   writer that goes beyond the window lists its connection here ([`spilled`]); while the list
//!   is not empty the thread wakes every `SWEEP` to look, otherwise it sleeps without a
//!   timeout (no CPU while idle).

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use super::queue::{Conn, Spill};
use crate::sys;

/// How often the thread looks at the connections that hold pages to give back.
const SWEEP: Duration = Duration::from_millis(250);
/// The token of the thread's wake-up eventfd (connection tokens start at 1).
const WAKE: u64 = 0;

/// The watcher of this process.
#[derive(Debug)]
pub(crate) struct Watcher {
    poller: sys::Poller,
    conns: HashMap<u64, Weak<Conn>>,
    next_token: u64,
    /// The process whose thread serves `poller`.
    owner_pid: u32,
    /// Connections (by token) holding pages beyond their window to give back when idle; kept
    /// here even after their peer hung up (they leave `conns` then).
    spills: HashMap<u64, Weak<Conn>>,
    /// Wakes the thread when `spills` stops being empty.
    wake: Arc<sys::EventFd>,
}

/// The process's watcher (`None` until the first registration). One lock for the process, so
/// the fork handler can hold it.
pub(crate) static WATCHER: Mutex<Option<Watcher>> = Mutex::new(None);

fn lock() -> MutexGuard<'static, Option<Watcher>> {
    WATCHER.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts watching `conn`'s control socket; returns its token (0: not watched, the sleepers'
/// probes still notice a hang-up).
pub(crate) fn watch(conn: &Arc<Conn>) -> u64 {
    let Some(ctl) = conn.ctl() else { return 0 };
    let mut w = lock();
    let pid = sys::getpid();
    if w.as_ref().is_none_or(|w| w.owner_pid != pid) {
        // First use, or a forked child holding a copy of the parent's watcher (whose thread
        // it does not have): start one for this process.
        let Ok(poller) = sys::Poller::new() else {
            return 0;
        };
        let Ok(fd) = poller.duplicate() else {
            return 0;
        };
        let Ok(wake) = sys::EventFd::new() else {
            return 0;
        };
        if poller.add(wake.fd(), WAKE, true).is_err() {
            return 0;
        }
        match sys::spawn_thread("npipe-watch", move || run(fd)) {
            // Runs for the life of the process.
            Ok(t) => t.detach(),
            Err(_) => return 0,
        }
        *w = Some(Watcher {
            poller,
            conns: HashMap::new(),
            next_token: 1,
            owner_pid: pid,
            spills: HashMap::new(),
            wake: Arc::new(wake),
        });
    }
    let Some(w) = w.as_mut() else { return 0 };
    let token = w.next_token;
    // Only hang-up and errors: never readable interest, so packets on the socket (readiness
    // descriptors) do not wake the watcher.
    if w.poller.add(ctl.as_fd(), token, false).is_err() {
        return 0;
    }
    w.next_token += 1;
    w.conns.insert(token, Arc::downgrade(conn));
    token
}

/// Stops watching the connection registered under `token` (its socket is about to close).
pub(crate) fn forget(token: u64, conn: &Conn) {
    if token == 0 {
        return;
    }
    let mut w = lock();
    if let Some(w) = w.as_mut().filter(|w| w.owner_pid == sys::getpid()) {
        w.conns.remove(&token);
        w.spills.remove(&token);
        if let Some(ctl) = conn.ctl() {
            let _ = w.poller.delete(ctl.as_fd());
        }
    }
}

/// Lists the connection registered under `token` as holding pages to give back when idle
/// (0, or a watcher of another process: nobody gives them back before the connection closes).
pub(crate) fn spilled(token: u64) {
    if token == 0 {
        return;
    }
    let mut w = lock();
    if let Some(w) = w.as_mut().filter(|w| w.owner_pid == sys::getpid()) {
        let Some(conn) = w.conns.get(&token).cloned() else {
            return;
        };
        if w.spills.is_empty() {
            w.wake.signal();
        }
        w.spills.insert(token, conn);
    }
}

/// The watcher thread: waits for hang-ups and wakes the sleepers of each connection, and
/// gives back idle connections' pages beyond their windows.
fn run(poller: sys::Poller) {
    let mut events = Vec::with_capacity(64);
    loop {
        events.clear();
        let sweeping = lock().as_ref().is_some_and(|w| !w.spills.is_empty());
        let deadline = sweeping.then(|| Instant::now() + SWEEP);
        if poller.wait(deadline, &mut events).is_err() {
            return;
        }
        for ev in &events {
            if ev.token == WAKE {
                if let Some(w) = lock().as_ref() {
                    w.wake.clear();
                }
                continue;
            }
            let conn = {
                let mut w = lock();
                let Some(w) = w.as_mut() else { return };
                let conn = w.conns.remove(&ev.token).and_then(|c| c.upgrade());
                if let Some(c) = &conn {
                    if let Some(ctl) = c.ctl() {
                        let _ = w.poller.delete(ctl.as_fd());
                    }
                }
                conn
            };
            // Outside the lock: marks the peer closed and wakes every sleeper.
            if let Some(c) = conn {
                c.probe_hup();
            }
        }
        if sweeping {
            sweep();
        }
    }
}

/// Asks every listed connection to give back its pages beyond the window; drops those that
/// did (or are gone) from the list.
fn sweep() {
    let listed: Vec<(u64, Option<Arc<Conn>>)> = match lock().as_ref() {
        Some(w) => w.spills.iter().map(|(t, c)| (*t, c.upgrade())).collect(),
        None => return,
    };
    // Outside the lock: a release takes the connection's writer lock (without waiting).
    let done: Vec<(u64, Option<Arc<Conn>>)> = listed
        .into_iter()
        .filter(|(_, c)| c.as_ref().is_none_or(|c| c.release_spill() == Spill::Done))
        .collect();
    let mut guard = lock();
    if let Some(w) = guard.as_mut() {
        for (t, c) in &done {
            // A connection that wrote beyond its window again meanwhile stays listed.
            if c.as_ref().is_none_or(|c| c.spill_unlisted()) {
                w.spills.remove(t);
            }
        }
    }
    // The connections are let go outside the lock: dropping the last one unregisters it.
    drop(guard);
    drop(done);
}
