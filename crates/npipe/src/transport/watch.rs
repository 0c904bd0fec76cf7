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
//! - While the thread holds connections it upgraded (a probe, a sweep, a registration), it says
//!   so in [`HOLD`]; an end's close waits for that to end ([`settle`], [`Owned`]), so the
//!   connection, and the descriptors it holds, go before the close returns even when the
//!   watcher upgraded it a moment before.

use std::collections::HashMap;
use std::ops::Deref;
use std::os::fd::AsFd;
use std::sync::atomic::{fence, AtomicU64, Ordering};
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

/// While the watcher thread holds connections it upgraded: its process id in the high half and
/// a count of its holds in the low half; 0 otherwise. A forked child sees its parent's value,
/// whose process id is not its own.
static HOLD: AtomicU64 = AtomicU64::new(0);

/// Runs `f` (which upgrades connections and lets them go before it returns) as a hold.
fn holding<R>(f: impl FnOnce() -> R) -> R {
    static HOLDS: AtomicU64 = AtomicU64::new(0);
    let n = HOLDS.fetch_add(1, Ordering::Relaxed) & u64::from(u32::MAX);
    HOLD.store(u64::from(sys::getpid()) << 32 | n, Ordering::Relaxed);
    // SYNC POINT with the fence in `settle` (Dekker, on a connection's reference count): either
    // a closer that dropped its reference sees this hold, or the upgrades below see the drop
    // (and fail when it was the last).
    fence(Ordering::SeqCst);
    let r = f();
    // Release: the connections were let go (and their descriptors closed) before.
    HOLD.store(0, Ordering::Release);
    r
}

/// Called by an end's close after it dropped its references to its connection: waits until
/// the watcher no longer holds a connection it upgraded before that drop, so the connection
/// (its memory, its socket, the end's readiness descriptor it shares) is gone when the close
/// returns, unless another thread of the program still uses the end. Costs a fence and a load
/// when the watcher holds nothing. The wait is bounded (a hold is a probe or a sweep: a few
/// system calls), in case the watcher is stopped in a debugger or the like.
pub(crate) fn settle() {
    // SYNC POINT with the fence in `holding`.
    fence(Ordering::SeqCst);
    let seen = HOLD.load(Ordering::Acquire);
    if seen == 0 || seen >> 32 != u64::from(sys::getpid()) {
        return;
    }
    let deadline = Instant::now() + SETTLE_WAIT;
    let mut looks = 0u32;
    // Acquire: pairs with the Release that ends the hold.
    while HOLD.load(Ordering::Acquire) == seen && Instant::now() < deadline {
        looks += 1;
        if looks < 64 {
            std::thread::yield_now();
        } else {
            // The watcher was preempted in the middle of its hold: give it the CPU.
            std::thread::sleep(Duration::from_micros(50));
        }
    }
}

/// How long [`settle`] waits at most.
const SETTLE_WAIT: Duration = Duration::from_millis(100);

/// An end's own reference to its connection: dropping it drops the reference, then waits for
/// the watcher ([`settle`]), so whoever drops the end's last reference lets go of the
/// connection's descriptors before going on.
#[derive(Debug)]
pub(crate) struct Owned(Option<Arc<Conn>>);

impl Owned {
    pub(crate) fn new(conn: Arc<Conn>) -> Owned {
        Owned(Some(conn))
    }
}

impl Deref for Owned {
    type Target = Arc<Conn>;
    fn deref(&self) -> &Arc<Conn> {
        self.0.as_ref().expect("only `drop` takes the connection")
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        drop(self.0.take());
        settle();
    }
}

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
    holding(|| {
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
    });
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
            let gone = holding(|| {
                let conn = {
                    let mut w = lock();
                    let Some(w) = w.as_mut() else { return true };
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
                    #[cfg(test)]
                    tests::pause_in_hold();
                }
                false
            });
            if gone {
                return;
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
    holding(sweep_held);
}

fn sweep_held() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    /// Set by the test: the watcher's next probe keeps its connection 50 ms (within `SETTLE_WAIT`), as a watcher
    /// preempted in the middle of it would.
    static PAUSE: AtomicBool = AtomicBool::new(false);
    /// Set by the watcher when it starts that pause.
    static PAUSED: AtomicBool = AtomicBool::new(false);

    pub(super) fn pause_in_hold() {
        if PAUSE.swap(false, Ordering::Relaxed) {
            PAUSED.store(true, Ordering::Release);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// An end's close lets go of its connection before it returns although the watcher
    /// upgraded it for the peer's hang-up a moment before.
    #[test]
    fn an_owned_connection_is_gone_when_its_drop_returns_despite_a_probe_in_progress() {
        let caps = [1 << 16, 1 << 16];
        let (a, b) = sys::dgram::record_pair().expect("socketpair");
        let (server, fd) = Conn::create(Some(a), caps, caps, 1).expect("create a connection");
        let client = Conn::attach(Some(b), fd, caps).expect("attach to it");
        let server = Arc::new(server);
        server.watch();
        watch_now(&server);
        PAUSE.store(true, Ordering::Relaxed);
        drop(client); // its socket closes: the watcher wakes and probes the server's end
        let t0 = Instant::now();
        while !PAUSED.load(Ordering::Acquire) {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "the watcher never probed"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let weak = Arc::downgrade(&server);
        drop(Owned::new(server));
        assert!(
            weak.upgrade().is_none(),
            "the connection outlived its owner's drop (the watcher still held it)"
        );
    }
}
