//! The hang-up watcher: one thread per process, one epoll set over the control socket of every
//! connection, so the death or close of a peer process wakes this side's sleepers at once
//! instead of at their next probe (sleepers wait on futexes in shared memory, which a dying
//! peer cannot signal).
//!
//! - A connection is offered when it is established ([`watch`]: no syscall) and registered
//!   (one `epoll_ctl`) either when something starts depending on the watcher ([`watch_now`]: a
//!   thread about to sleep on it, a readiness descriptor armed, pages to give back) or once it
//!   has lived [`DEFER`], whichever comes first; it leaves when it is dropped (`Conn::drop`
//!   calls [`forget`]). A connection that is set up, used without sleeping and closed within
//!   `DEFER` (a client that connects, writes and leaves) costs the watcher nothing, not even
//!   a wake-up when its peer hangs up. Until it is registered, a peer that dies unannounced
//!   shows through the probes of the operations (every wait probes before sleeping, a
//!   nonblocking read that finds nothing probes).
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
/// How long an established connection may go unregistered (see the module docs).
const DEFER: Duration = Duration::from_millis(5);

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
    /// Wakes the thread when `spills` or `offered` stops being empty.
    wake: Arc<sys::EventFd>,
    /// Connections offered by [`watch`] and not registered yet, with when the first of them
    /// was offered: the thread registers those still alive `DEFER` after that.
    offered: Vec<Weak<Conn>>,
    offered_at: Option<Instant>,
}

/// The process's watcher (`None` until the first registration). One lock for the process, so
/// the fork handler can hold it.
pub(crate) static WATCHER: Mutex<Option<Watcher>> = Mutex::new(None);

fn lock() -> MutexGuard<'static, Option<Watcher>> {
    WATCHER.lock().unwrap_or_else(|p| p.into_inner())
}

/// Offers `conn` to the watcher (no syscall): it is registered within [`DEFER`], or at once by
/// [`watch_now`]. Call once, when the connection is established.
pub(crate) fn watch(conn: &Arc<Conn>) {
    if conn.ctl().is_none() {
        return;
    }
    let mut w = lock();
    let Some(w) = started(&mut w) else { return };
    if w.offered.is_empty() {
        w.offered_at = Some(Instant::now());
        // The thread may sleep without a deadline: have it take the new one.
        w.wake.signal();
    }
    w.offered.push(Arc::downgrade(conn));
}

/// Registers `conn` now if it is not registered yet (see [`Conn::watch_now`]).
pub(crate) fn watch_now(conn: &Arc<Conn>) {
    let mut w = lock();
    if let Some(w) = started(&mut w) {
        register(w, conn);
    }
}

/// The watcher of this process, started on first use (or in a forked child holding a copy of
/// its parent's, whose thread it does not have).
fn started(w: &mut Option<Watcher>) -> Option<&mut Watcher> {
    let pid = sys::getpid();
    if w.as_ref().is_none_or(|w| w.owner_pid != pid) {
        let poller = sys::Poller::new().ok()?;
        let fd = poller.duplicate().ok()?;
        let wake = sys::EventFd::new().ok()?;
        poller.add(wake.fd(), WAKE, true).ok()?;
        // Runs for the life of the process.
        sys::spawn_thread("npipe-watch", move || run(fd))
            .ok()?
            .detach();
        *w = Some(Watcher {
            poller,
            conns: HashMap::new(),
            next_token: 1,
            owner_pid: pid,
            spills: HashMap::new(),
            wake: Arc::new(wake),
            offered: Vec::new(),
            offered_at: None,
        });
    }
    w.as_mut()
}

/// Starts watching `conn`'s control socket unless it is watched already (or another thread is
/// registering it); gives the connection its token.
fn register(w: &mut Watcher, conn: &Arc<Conn>) {
    let Some(ctl) = conn.ctl() else { return };
    if !conn.claim_watch() {
        return;
    }
    let token = w.next_token;
    // Only hang-up and errors: never readable interest, so packets on the socket (readiness
    // descriptors) do not wake the watcher.
    if w.poller.add(ctl.as_fd(), token, false).is_err() {
        return;
    }
    w.next_token += 1;
    w.conns.insert(token, Arc::downgrade(conn));
    conn.set_watch_token(token);
}

/// Registers the offered connections that are still alive.
fn register_offered() {
    let offered = match lock().as_mut() {
        Some(w) => {
            w.offered_at = None;
            std::mem::take(&mut w.offered)
        }
        None => return,
    };
    let alive: Vec<Arc<Conn>> = offered.iter().filter_map(Weak::upgrade).collect();
    {
        let mut w = lock();
        if let Some(w) = w.as_mut() {
            for c in &alive {
                register(w, c);
            }
        }
    }
    // Let go outside the lock: dropping the last reference unregisters a connection.
    drop(alive);
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
        let (sweeping, offered_at) = match lock().as_ref() {
            Some(w) => (!w.spills.is_empty(), w.offered_at),
            None => (false, None),
        };
        let deadline = match (sweeping.then(|| Instant::now() + SWEEP), offered_at) {
            (Some(a), Some(b)) => Some(a.min(b + DEFER)),
            (a, b) => a.or(b.map(|b| b + DEFER)),
        };
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
        if offered_at.is_some_and(|t| t.elapsed() >= DEFER) {
            register_offered();
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
