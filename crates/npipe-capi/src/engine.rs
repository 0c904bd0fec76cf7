//! The overlapped-I/O engine: one thread per process that completes pending operations as
//! their ends become ready. Overlapped I/O never costs a thread per operation: every pending
//! ReadFile, WriteFile, TransactNamedPipe and ConnectNamedPipe of the process is a state
//! machine here, stepped with `npipe::nonblocking` when its end's readiness descriptor fires.
//!
//! - A handle's pending operations live in its entry (`Io::queues`), three FIFO queues
//!   (reads and transactions, writes, connects), each stepped from the front and stopped at the
//!   first operation still pending: operations of one kind complete in issue order (W66, W93).
//!   The issuing call puts an operation there itself ([`submit`], after its own first step,
//!   made under the same lock, came back pending) and tells the engine only when the handle is
//!   not watched yet; [`cancel`] waits until the engine has cancelled, so CancelIoEx and
//!   CloseHandle return with the operations completed.
//! - The engine steps operations *pinned*: a message larger than the ring streams through with
//!   the end's lock held by this thread between steps, the only thread that steps it.
//! - A thread about to sleep until an operation completes ([`help`]: GetOverlappedResult,
//!   a wait on the operation's event) first spins as a blocking call would, and when the peer
//!   answers within microseconds steps the operation's queue itself, unpinned (never an
//!   operation that holds a lock): the completion then costs no wake-up of the engine or of the
//!   waiter.
//! - A watched end's readiness descriptor is in the engine's epoll set; it stays there for a
//!   while after its last operation completed (a handle that issues one operation after another
//!   costs no epoll change and no engine wake-up per operation). A step that met a lock held by
//!   another thread is retried after a millisecond; every 200 ms of quiet the ends with pending
//!   operations check their peer is alive (a forked child's inherited connections have no
//!   hang-up watcher).

use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::Poll;
use std::time::{Duration, Instant};

use npipe_core::nonblocking::{Interest, Readiness};
use rustix::event::{epoll, eventfd, EventfdFlags};

use crate::forklock::ForkGuard;
use crate::handles::{Entry, Object};
use crate::overlapped::{complete, status, Op, OvPtr, Pending};

/// A request to the engine thread.
enum Cmd {
    /// Put this handle's end in the epoll set (if it is not) and step its operations.
    Watch(Arc<Entry>),
    /// The handle is closing with nothing pending: stop watching it (answered once done).
    Unwatch(Arc<Entry>, Arc<Reply>),
    /// Answered after the next pass over the ends that are ready (see [`settle`]).
    Barrier(Arc<Reply>),
    Cancel {
        entry: Arc<Entry>,
        ov: Option<OvPtr>,
        tid: Option<u32>,
        closing: bool,
        /// Reads inside a message end too, with the part they took (see [`cancel_in`]).
        cut: bool,
        reply: Arc<Reply>,
    },
}

/// The answer to a cancel: how many operations it completed.
#[derive(Default)]
struct Reply {
    done: Mutex<Option<usize>>,
    cv: Condvar,
}

/// The engine of this process: its command queue and the eventfd that wakes it.
struct Shared {
    cmds: Mutex<VecDeque<Cmd>>,
    wake: OwnedFd,
    pid: u32,
    /// Which engine this is (never 0): a handle's queues name the engine that watches them.
    gen: u64,
    /// Cleared if the thread ever ends (it never should: a bug that panics in it must not leave
    /// callers of `cancel` or `settle` waiting forever, and the next submit starts a new one).
    alive: std::sync::atomic::AtomicBool,
}

impl Shared {
    fn usable(&self) -> bool {
        // Acquire: pairs with the Release store of the guard in `run`.
        self.pid == pid() && self.alive.load(Ordering::Acquire)
    }
}

impl Reply {
    /// Gives the answer and wakes whoever waits for it.
    fn answer(&self, n: usize) {
        *self.done.lock().unwrap_or_else(|p| p.into_inner()) = Some(n);
        self.cv.notify_all();
    }
}

/// Waits for a reply from the engine, giving up if the engine thread has ended.
fn wait_reply(e: &Shared, reply: &Reply) -> Option<usize> {
    let mut done = reply.done.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if let Some(n) = *done {
            return Some(n);
        }
        if !e.usable() {
            return None;
        }
        done = reply
            .cv
            .wait_timeout(done, Duration::from_millis(100))
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
}

/// Operations the engine holds, in the whole process (so [`settle`] costs nothing while there
/// are none).
static PENDING: AtomicUsize = AtomicUsize::new(0);

/// The running engine (`None` until the first overlapped operation goes pending; replaced in
/// a forked child, which does not have its parent's thread).
static ENGINE: Mutex<Option<Arc<Shared>>> = Mutex::new(None);

thread_local! {
    static FORK_HELD: std::cell::RefCell<Option<MutexGuard<'static, Option<Arc<Shared>>>>> =
        const { std::cell::RefCell::new(None) };
}

extern "C" fn fork_prepare() {
    FORK_HANDLERS.registered();
    if FORK_HELD.with(|h| h.borrow().is_some()) {
        // Registered twice (see `npipe::ForkHandlers`): the first run holds the lock already.
        return;
    }
    let g = ENGINE.lock().unwrap_or_else(|p| p.into_inner());
    FORK_HELD.with(|h| *h.borrow_mut() = Some(g));
}

extern "C" fn fork_release() {
    FORK_HELD.with(|h| h.borrow_mut().take());
}

extern "C" fn fork_child() {
    // Relaxed: the child runs only this thread now.
    PID.store(std::process::id(), Ordering::Relaxed);
    // The parent's engine did not come along.
    LIVE_GEN.store(0, Ordering::Relaxed);
    fork_release();
}

pub(crate) fn install_fork_handlers() {
    FORK_HANDLERS.install(fork_prepare, fork_release, fork_child);
}

/// This process's id once known, renewed in a forked child (by the fork handler, installed
/// before any handle exists): asked on every overlapped call, and getpid is a system call.
static PID: AtomicU32 = AtomicU32::new(0);

/// This process's id (see [`PID`]).
pub(crate) fn pid() -> u32 {
    // Relaxed: the value is the same from every thread of the process.
    match PID.load(Ordering::Relaxed) {
        0 => {
            install_fork_handlers();
            let p = std::process::id();
            PID.store(p, Ordering::Relaxed);
            p
        }
        p => p,
    }
}

static FORK_HANDLERS: npipe_core::ForkHandlers = npipe_core::ForkHandlers::new();

/// The engine, started on first use.
fn engine() -> std::io::Result<Arc<Shared>> {
    install_fork_handlers();
    let mut g = ENGINE.lock().unwrap_or_else(|p| p.into_inner());
    let pid = pid();
    if let Some(e) = g.as_ref().filter(|e| e.usable()) {
        return Ok(e.clone());
    }
    let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
    /// Engines started so far in this process (and its forked children).
    static GEN: AtomicU64 = AtomicU64::new(0);
    let shared = Arc::new(Shared {
        cmds: Mutex::new(VecDeque::new()),
        wake,
        pid,
        // Relaxed: a counter, only compared for equality.
        gen: GEN.fetch_add(1, Ordering::Relaxed) + 1,
        alive: std::sync::atomic::AtomicBool::new(true),
    });
    let ep = epoll::create(epoll::CreateFlags::CLOEXEC)?;
    epoll::add(
        &ep,
        shared.wake.as_fd(),
        epoll::EventData::new_u64(WAKE),
        epoll::EventFlags::IN,
    )?;
    let s = shared.clone();
    crate::threads::spawn_service("npipe-overlapped", move || run(s, ep))?;
    *g = Some(shared.clone());
    // Relaxed: see `LIVE_GEN`.
    LIVE_GEN.store(shared.gen, Ordering::Relaxed);
    Ok(shared)
}

/// The number (`Shared::gen`) of the engine running in this process, 0 while none runs (not
/// started yet, ended, or left in the parent of a fork). A submit to a handle that engine
/// watches already needs nothing else of it, so it skips the engine's lookup (a lock and a
/// reference). Set when an engine starts, cleared when its thread ends and in a forked child.
static LIVE_GEN: AtomicU64 = AtomicU64::new(0);

/// The engine, if one runs in this process (none is started).
fn running() -> Option<Arc<Shared>> {
    let g = ENGINE.lock().unwrap_or_else(|p| p.into_inner());
    g.as_ref().filter(|e| e.usable()).cloned()
}

fn poke(fd: &OwnedFd) {
    let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
}

fn push(e: &Shared, c: Cmd) {
    e.cmds
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push_back(c);
    poke(&e.wake);
}

/// Puts a pending operation in its handle's queues (`qs`, locked by the caller, who made the
/// operation's first step under that lock), and has the engine watch the handle if it does not
/// yet, or step it at once when `urgent` (only pinned steps can get it through). On failure
/// (no thread or descriptor could be made) the operation comes back.
pub(crate) fn submit(
    qs: &mut Queues,
    p: Pending,
    urgent: bool,
) -> Result<(), Box<(Pending, std::io::Error)>> {
    // Relaxed: a handle watched by the running engine (the usual case for a handle that
    // issues operation after operation): the engine steps it on its readiness signal, as
    // below. An engine ending meanwhile is the same race as one ending right after the
    // lookup below.
    if !urgent && qs.watched != 0 && qs.watched == LIVE_GEN.load(Ordering::Relaxed) {
        // Relaxed: see below.
        PENDING.fetch_add(1, Ordering::Relaxed);
        qs.q[p.queue()].push_back(p);
        return Ok(());
    }
    match engine() {
        Ok(e) => {
            // Relaxed: a count; `settle` only skips work when it reads 0 (see there).
            PENDING.fetch_add(1, Ordering::Relaxed);
            let entry = p.entry.clone();
            qs.q[p.queue()].push_back(p);
            if qs.watched != e.gen || urgent {
                // The engine steps the end once it is in the epoll set: a readiness signal
                // that came before (after this operation's first step armed it) is not lost.
                qs.watched = e.gen;
                push(&e, Cmd::Watch(entry));
            }
            Ok(())
        }
        Err(err) => Err(Box::new((p, err))),
    }
}

/// Waits until the engine has stepped, after this call began, every end whose readiness was
/// signalled before it: a call of this process that may complete one of its own pending
/// operations (a write to a local peer that has a read pending, say) returns only once that
/// operation has completed, as on Windows, where the kernel completes it inside the call.
/// Free when the engine holds nothing.
pub(crate) fn settle() {
    // Relaxed: an operation submitted concurrently by another thread is not this call's to
    // wait for; one submitted earlier by this thread is seen (program order).
    if PENDING.load(Ordering::Relaxed) == 0 {
        return;
    }
    let Some(e) = running() else {
        return;
    };
    let reply = Arc::new(Reply::default());
    push(&e, Cmd::Barrier(reply.clone()));
    wait_reply(&e, &reply);
}

/// Whether the engine holds any operation (a hint: see [`settle`]).
pub(crate) fn busy() -> bool {
    // Relaxed: see `settle`.
    PENDING.load(Ordering::Relaxed) != 0
}

/// Counts an operation the engine completed (see [`settle`]).
pub(crate) fn completed() {
    // Relaxed: see `settle`.
    PENDING.fetch_sub(1, Ordering::Relaxed);
}

/// Cancels the pending operations of `entry` (only the one using `ov`, or only those issued by
/// thread `tid`, when given), completing them with ERROR_OPERATION_ABORTED before it returns.
/// Returns how many it cancelled.
pub(crate) fn cancel(
    entry: &Arc<Entry>,
    ov: Option<OvPtr>,
    tid: Option<u32>,
    closing: bool,
) -> usize {
    cancel_as(entry, ov, tid, closing, closing)
}

/// Cancels every pending operation thread `tid` issued on `entry` as the thread exits: as a
/// close does, reads already inside a message end too (with the part they took), since no
/// operation may write into the exited thread's buffers later; the handle stays watched.
pub(crate) fn cancel_exiting(entry: &Arc<Entry>, tid: u32) -> usize {
    cancel_as(entry, None, Some(tid), false, true)
}

fn cancel_as(
    entry: &Arc<Entry>,
    ov: Option<OvPtr>,
    tid: Option<u32>,
    closing: bool,
    cut: bool,
) -> usize {
    if !entry.io.any_outstanding() {
        if closing && queues(entry).watched != 0 {
            // Nothing to cancel, but the engine still watches the handle (it lingers after
            // the last operation): it lets go of it, and of the end's readiness descriptor,
            // before CloseHandle returns.
            if let Some(e) = running() {
                let reply = Arc::new(Reply::default());
                push(&e, Cmd::Unwatch(entry.clone(), reply.clone()));
                wait_reply(&e, &reply);
            }
        }
        return 0;
    }
    let Some(e) = running() else {
        return 0;
    };
    let reply = Arc::new(Reply::default());
    push(
        &e,
        Cmd::Cancel {
            entry: entry.clone(),
            ov,
            tid,
            closing,
            cut,
            reply: reply.clone(),
        },
    );
    wait_reply(&e, &reply).unwrap_or(0)
}

/// The epoll token of the wake-up eventfd.
const WAKE: u64 = u64::MAX;
/// How soon a step that met a busy lock is retried.
const RETRY: Duration = Duration::from_millis(1);
/// How often ends with pending operations check their peer when nothing else happens.
const PROBE: Duration = Duration::from_millis(200);

/// One handle's pending operations (in its entry, `Io::queues`).
#[derive(Debug, Default)]
pub(crate) struct Queues {
    /// Reads and transactions, writes, connects.
    q: [VecDeque<Pending>; 3],
    /// The engine (`Shared::gen`) that watches the handle; 0 for none.
    watched: u64,
    /// The process the operations belong to (0 before the first): a forked child finds its
    /// parent's operations here, which are not its own to step.
    pid: u32,
}

impl Queues {
    fn is_empty(&self) -> bool {
        self.q.iter().all(|q| q.is_empty())
    }

    /// Whether one of the queues holds the operation using the OVERLAPPED at `ov`.
    fn holds(&self, ov: usize) -> Option<usize> {
        (0..self.q.len()).find(|&i| self.q[i].iter().any(|p| p.ov.0 as usize == ov))
    }
}

/// Whether an operation using the OVERLAPPED at `ov` (an address, only compared) is queued on
/// `entry`: issued and not completed. An operation completes under the queues' lock (its
/// status written before it leaves them), so an OVERLAPPED found in none of them whose status
/// still says pending was never an operation of this handle's (W40's connect that found its
/// client, which leaves it untouched).
pub(crate) fn holds(entry: &Entry, ov: usize) -> bool {
    queues(entry).holds(ov).is_some()
}

/// The queues of `entry`, locked (a lock a forked child takes over, `forklock`), emptied first
/// in a forked child of the process whose operations they held (their threads, locks and
/// engine stayed in the parent; the child forgets them, as it never had them).
pub(crate) fn queues(entry: &Entry) -> ForkGuard<'_, Queues> {
    let mut qs = entry.io.queues.lock();
    let me = pid();
    if qs.pid != me {
        if qs.pid != 0 {
            for q in qs.q.iter_mut() {
                for p in q.drain(..) {
                    // Not dropped: a pinned operation may hold a lock of the parent's thread.
                    std::mem::forget(p);
                }
            }
            entry.io.forget_outstanding();
        }
        qs.pid = me;
        qs.watched = 0;
    }
    qs
}

fn key(e: &Arc<Entry>) -> u64 {
    Arc::as_ptr(e) as usize as u64
}

fn readiness(obj: &Object) -> Option<Readiness> {
    match obj {
        Object::Server(s) => s.driver_readiness().ok(),
        Object::Client(c) => c.driver_readiness().ok(),
        _ => None,
    }
}

/// How long an end stays in the epoll set after its last operation completed.
const LINGER: Duration = PROBE;

/// A handle the engine watches.
struct Watched {
    entry: Arc<Entry>,
    /// The end's readiness descriptor, in the epoll set while watched.
    ready: Option<Readiness>,
    /// A step met a lock held elsewhere: retry soon.
    contended: bool,
    /// Since when its queues are empty.
    idle_since: Option<Instant>,
}

/// The engine thread.
fn run(sh: Arc<Shared>, ep: OwnedFd) {
    /// Marks the engine dead however its thread ends.
    struct Alive(Arc<Shared>);
    impl Drop for Alive {
        fn drop(&mut self) {
            // Release: pairs with the Acquire load in `Shared::usable`.
            self.0.alive.store(false, Ordering::Release);
            // Relaxed: `submit`'s look at it only skips the lookup of this engine, whose end
            // it would find as this store does; another engine's number stays.
            let _ = LIVE_GEN.compare_exchange(self.0.gen, 0, Ordering::Relaxed, Ordering::Relaxed);
        }
    }
    let _alive = Alive(sh.clone());
    let mut ends: HashMap<u64, Watched> = HashMap::new();
    let mut buf = [std::mem::MaybeUninit::<epoll::Event>::uninit(); 64];
    let mut last_probe = Instant::now();
    loop {
        let timeout = if ends.values().any(|w| w.contended || w.ready.is_none()) {
            Some(RETRY)
        } else if !ends.is_empty() {
            Some(PROBE.saturating_sub(last_probe.elapsed()))
        } else {
            None
        };
        let ts = timeout.map(|t| rustix::time::Timespec {
            tv_sec: t.as_secs() as i64,
            tv_nsec: t.subsec_nanos() as _,
        });
        let events: &[epoll::Event] = match epoll::wait(&ep, &mut buf, ts.as_ref()) {
            Ok((got, _)) => got,
            Err(_) => &[],
        };
        let mut ready: Vec<u64> = Vec::new();
        let mut barriers: Vec<Arc<Reply>> = Vec::new();
        for ev in events.iter() {
            let k = ev.data.u64();
            if k == WAKE {
                let mut b = [0u8; 8];
                let _ = rustix::io::read(&sh.wake, &mut b);
            } else {
                ready.push(k);
            }
        }
        let cmds: Vec<Cmd> = sh
            .cmds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect();
        for c in cmds {
            match c {
                Cmd::Barrier(r) => {
                    // Every end signalled before the barrier was pushed is stepped below
                    // (its descriptor polls readable now, whether or not this wait saw it).
                    ready.extend(ends.keys().copied());
                    barriers.push(r);
                }
                Cmd::Watch(entry) => {
                    let k = key(&entry);
                    let w = ends.entry(k).or_insert_with(|| Watched {
                        entry,
                        ready: None,
                        contended: false,
                        idle_since: None,
                    });
                    if w.ready.is_none() {
                        if let Some(r) = readiness(&w.entry.obj) {
                            let _ = epoll::add(
                                &ep,
                                r.event_fd(),
                                epoll::EventData::new_u64(k),
                                epoll::EventFlags::IN,
                            );
                            w.ready = Some(r);
                        }
                    }
                    ready.push(k);
                }
                Cmd::Cancel {
                    entry,
                    ov,
                    tid,
                    closing,
                    cut,
                    reply,
                } => {
                    let n = cancel_in(&mut queues(&entry), ov, tid, closing, cut);
                    if closing {
                        // Before the answer: CloseHandle returns with the end's descriptors
                        // let go.
                        unwatch(&ep, &mut ends, &entry);
                    } else {
                        ready.push(key(&entry));
                    }
                    reply.answer(n);
                }
                Cmd::Unwatch(entry, reply) => {
                    unwatch(&ep, &mut ends, &entry);
                    reply.answer(0);
                }
            }
        }
        if last_probe.elapsed() >= PROBE {
            last_probe = Instant::now();
            for (k, w) in ends.iter() {
                if w.idle_since.is_none() {
                    probe(&w.entry.obj);
                }
                ready.push(*k);
            }
        }
        for (k, w) in ends.iter_mut() {
            // An end whose readiness descriptor could not be made (descriptors exhausted) is
            // stepped at the retry pace instead.
            if w.contended || w.ready.is_none() {
                ready.push(*k);
            }
        }
        ready.sort_unstable();
        ready.dedup();
        for k in ready {
            let Some(w) = ends.get_mut(&k) else { continue };
            if let Some(r) = &w.ready {
                r.clear();
            }
            let mut qs = queues(&w.entry);
            w.contended = step_all(&mut qs, By::Engine);
            if !qs.is_empty() {
                w.idle_since = None;
                continue;
            }
            let now = Instant::now();
            if now.duration_since(*w.idle_since.get_or_insert(now)) < LINGER {
                continue;
            }
            drop(qs);
            let entry = w.entry.clone();
            unwatch(&ep, &mut ends, &entry);
        }
        for r in barriers {
            r.answer(0);
        }
    }
}

/// Stops watching a handle whose queues are empty (its descriptor leaves the epoll set); the
/// next submit asks for a watch again. Nothing happens while operations are queued.
fn unwatch(ep: &OwnedFd, ends: &mut HashMap<u64, Watched>, entry: &Arc<Entry>) {
    let k = key(entry);
    let mut qs = queues(entry);
    if !qs.is_empty() {
        return;
    }
    // Unwatched under the lock: a submit either came before (and the queues are not empty) or
    // sees it and asks again.
    qs.watched = 0;
    drop(qs);
    if let Some(mut w) = ends.remove(&k) {
        if let Some(r) = w.ready.take() {
            let _ = epoll::delete(ep, r.event_fd());
        }
    }
}

fn probe(obj: &Object) {
    match obj {
        Object::Server(s) => s.probe_peer(),
        Object::Client(c) => c.probe_peer(),
        _ => {}
    }
}

/// Who steps: the engine thread (pinned steps), or a waiting thread helping ([`help`]:
/// unpinned steps, never of an operation that holds a lock, which only the engine may step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    Engine,
    Helper,
}

/// Steps each queue of one handle from the front until an operation stays pending (see
/// [`step_queue`]). Returns whether a step met a lock held by another thread.
fn step_all(qs: &mut Queues, by: By) -> bool {
    let mut contended = false;
    for i in 0..qs.q.len() {
        contended |= step_queue(qs, i, by).contended;
    }
    contended
}

/// How a pass over one queue ended.
#[derive(Debug, Default)]
struct Stepped {
    /// A step met a lock held by another thread (no signal comes when it is released).
    contended: bool,
    /// A helper stopped at an operation that holds a lock (the engine's to step).
    stuck: bool,
}

/// Steps queue `i` from the front until an operation stays pending. Writes go on past a
/// pending write whose bytes are all in the pipe (it only waits for its quota): the next one
/// starts behind it, and completes after it (W92, W93).
fn step_queue(qs: &mut Queues, i: usize, by: By) -> Stepped {
    let q = &mut qs.q[i];
    let mut out = Stepped::default();
    let mut at = 0;
    // A write ahead of this one is still pending: this one may go into the pipe, but
    // completes only after it.
    let mut behind = false;
    while at < q.len() {
        let p = &mut q[at];
        let r = match by {
            By::Engine => p.step(),
            By::Helper => {
                if !p.unpin() {
                    out.stuck = true;
                    break;
                }
                let r = p.step();
                p.pin();
                r
            }
        };
        match r {
            Poll::Ready(r) if behind => {
                p.hold(r);
                at += 1;
            }
            Poll::Ready(r) => {
                let p = q.remove(at).expect("index in range");
                if i == 0 {
                    // Relaxed: a hint for the handle's next read (`Io::reads_helped`).
                    p.entry
                        .io
                        .reads_helped
                        .store(matches!(by, By::Helper), Ordering::Relaxed);
                }
                complete(p, r);
            }
            Poll::Pending => {
                out.contended |= p.contended();
                if i == WRITES && !p.unwritten() {
                    behind = true;
                    at += 1;
                    continue;
                }
                break;
            }
        }
    }
    out
}

/// How many times a waiter spins for its operation and steps its queue before it sleeps.
const HELP_ROUNDS: u32 = 8;

/// Called by a thread about to sleep until the operation using the OVERLAPPED at `ov` (an
/// address, only compared) on `entry` completes: while the peer answers within microseconds
/// (`spin_ready`, the spin a blocking call makes before it sleeps, with the end's arm taken
/// back meanwhile so the peer does not wake the engine for nothing), steps the operation's
/// queue itself, so the operation completes without waking the engine or this thread. Returns
/// when it completed, when the spin runs out or `stop` says so, or after a few rounds; the
/// caller then waits as before (the engine completes the operation). Every round ends with a
/// step of the queue, which arms the end again while an operation stays pending.
pub(crate) fn help(entry: &Arc<Entry>, ov: usize, stop: &mut dyn FnMut() -> bool) {
    // Whether the front of queue `i` is streaming through the engine's lock: its steps re-arm,
    // not ours.
    let streaming = |qs: &Queues, i: usize| qs.q[i].front().is_none_or(|p| p.holds_lock());
    let (i, interest) = {
        let qs = queues(entry);
        let Some(i) = qs.holds(ov) else {
            return;
        };
        let interest = match i {
            0 => Interest::READ,
            WRITES => Interest::WRITE,
            // A connect: nothing to spin on.
            _ => return,
        };
        if streaming(&qs, i) {
            return;
        }
        (i, interest)
    };
    let mut handover = false;
    for _ in 0..HELP_ROUNDS {
        let ready = match &entry.obj {
            Object::Server(s) => s.spin_ready(interest, &mut *stop),
            Object::Client(c) => c.spin_ready(interest, &mut *stop),
            _ => false,
        };
        let mut qs = queues(entry);
        let out = step_queue(&mut qs, i, By::Helper);
        // The operation stays in its own queue until it completes.
        let done = !qs.q[i].iter().any(|p| p.ov.0 as usize == ov);
        let next_streams = streaming(&qs, i);
        drop(qs);
        // The engine steps the queue when a step met a busy lock (no signal comes when it is
        // released), or when an operation holding a lock stopped us: its arm may have been
        // taken back while we spun.
        handover = out.contended || out.stuck;
        if done || !ready || out.stuck || next_streams {
            break;
        }
    }
    if handover {
        if let Some(e) = running() {
            push(&e, Cmd::Watch(entry.clone()));
        }
    }
}

/// The queue of writes.
pub(crate) const WRITES: usize = 1;

/// Cancels the matching operations of one handle (W41, W97): each ends now with
/// ERROR_OPERATION_ABORTED (ERROR_BROKEN_PIPE when `closing`: the handle's last close), except a read in the middle of a message larger than the ring,
/// which completes with the message (or, when `cut` (the handle closes, or the thread that
/// issued it exits), with the part it took). The others stay, in order.
fn cancel_in(
    qs: &mut Queues,
    ov: Option<OvPtr>,
    tid: Option<u32>,
    closing: bool,
    cut: bool,
) -> usize {
    let mut n = 0;
    for q in qs.q.iter_mut() {
        let mut keep = VecDeque::with_capacity(q.len());
        for mut p in q.drain(..) {
            let hit = ov.is_none_or(|o| o.0 == p.ov.0) && tid.is_none_or(|t| t == p.tid);
            if hit && !cut && p.in_message() {
                // The read already holds part of a message larger than the ring: cancelling it
                // now would hand the caller a piece of a message (W97: a read is cancelled with
                // nothing, or satisfied). Its completion wins the race: it ends when the rest
                // arrives (or the writer goes, when the message is withdrawn).
                keep.push_back(p);
                n += 1;
            } else if hit {
                let mut r = p.abort();
                if closing && r.0 == status::CANCELLED {
                    // The handle's last close is no cancel: the pipe file system's cleanup
                    // completes what the closing end has pending with STATUS_PIPE_BROKEN
                    // (ERROR_BROKEN_PIPE), as Wine does and NPFS as ReactOS rebuilt it.
                    r.0 = status::PIPE_BROKEN;
                }
                complete(p, r);
                n += 1;
            } else {
                keep.push_back(p);
            }
        }
        *q = keep;
    }
    n
}

/// The kinds of queue, for [`Pending::queue`].
pub(crate) fn queue_of(op: &Op) -> usize {
    match op {
        Op::Read { .. } | Op::Transact { .. } => 0,
        Op::Write { .. } | Op::Done(_) => WRITES,
        Op::Connect { .. } => 2,
    }
}
