//! The overlapped-I/O engine: one thread per process that completes pending operations as
//! their ends become ready. Overlapped I/O never costs a thread per operation: every pending
//! ReadFile, WriteFile, TransactNamedPipe and ConnectNamedPipe of the process is a state
//! machine here, stepped with `npipe::nonblocking` when its end's readiness descriptor fires.
//!
//! - Callers hand operations over with [`submit`] (after their own first, unpinned step came
//!   back pending) and cancel them with [`cancel`], which waits until the engine has done it,
//!   so CancelIoEx and CloseHandle return with the operations completed.
//! - Per handle, three FIFO queues (reads and transactions, writes, connects), each stepped
//!   from the front and stopped at the first operation still pending: operations of one kind
//!   complete in issue order (W66, W93).
//! - The engine steps operations *pinned*: a message larger than the ring streams through with
//!   the end's lock held by this thread between steps, the only thread that steps it.
//! - An end's readiness descriptor is in the engine's epoll set while it has pending
//!   operations. A step that met a lock held by another thread is retried after a millisecond;
//!   every 200 ms of quiet the ends with pending operations check their peer is alive (a
//!   forked child's inherited connections have no hang-up watcher).

use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::Poll;
use std::time::{Duration, Instant};

use npipe_core::nonblocking::Readiness;
use rustix::event::{epoll, eventfd, EventfdFlags};

use crate::handles::{Entry, Object};
use crate::overlapped::{complete, Op, OvPtr, Pending};

/// A request to the engine thread.
enum Cmd {
    Submit(Pending),
    /// Answered after the next pass over the ends that are ready (see [`settle`]).
    Barrier(Arc<Reply>),
    Cancel {
        entry: Arc<Entry>,
        ov: Option<OvPtr>,
        tid: Option<u32>,
        closing: bool,
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
    /// Cleared if the thread ever ends (it never should: a bug that panics in it must not leave
    /// callers of `cancel` or `settle` waiting forever, and the next submit starts a new one).
    alive: std::sync::atomic::AtomicBool,
}

impl Shared {
    fn usable(&self) -> bool {
        // Acquire: pairs with the Release store of the guard in `run`.
        self.pid == std::process::id() && self.alive.load(Ordering::Acquire)
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

pub(crate) fn install_fork_handlers() {
    FORK_HANDLERS.install(fork_prepare, fork_release, fork_release);
}

static FORK_HANDLERS: npipe_core::ForkHandlers = npipe_core::ForkHandlers::new();

/// The engine, started on first use.
fn engine() -> std::io::Result<Arc<Shared>> {
    install_fork_handlers();
    let mut g = ENGINE.lock().unwrap_or_else(|p| p.into_inner());
    let pid = std::process::id();
    if let Some(e) = g.as_ref().filter(|e| e.usable()) {
        return Ok(e.clone());
    }
    let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
    let shared = Arc::new(Shared {
        cmds: Mutex::new(VecDeque::new()),
        wake,
        pid,
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
    Ok(shared)
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

/// Hands a pending operation to the engine. On failure (no thread or descriptor could be
/// made) the operation comes back.
pub(crate) fn submit(p: Pending) -> Result<(), Box<(Pending, std::io::Error)>> {
    match engine() {
        Ok(e) => {
            // Relaxed: a count; `settle` only skips work when it reads 0 (see there).
            PENDING.fetch_add(1, Ordering::Relaxed);
            push(&e, Cmd::Submit(p));
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
    let e = {
        let g = ENGINE.lock().unwrap_or_else(|p| p.into_inner());
        match g.as_ref().filter(|e| e.usable()) {
            Some(e) => e.clone(),
            None => return,
        }
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
    if !entry.io.any_outstanding() {
        return 0;
    }
    let e = {
        let g = ENGINE.lock().unwrap_or_else(|p| p.into_inner());
        match g.as_ref().filter(|e| e.usable()) {
            Some(e) => e.clone(),
            None => return 0,
        }
    };
    let reply = Arc::new(Reply::default());
    push(
        &e,
        Cmd::Cancel {
            entry: entry.clone(),
            ov,
            tid,
            closing,
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

/// One handle's pending operations, as the engine holds them.
struct Queues {
    entry: Arc<Entry>,
    /// Reads and transactions, writes, connects.
    q: [VecDeque<Pending>; 3],
    /// The end's readiness descriptor, in the epoll set while anything is pending.
    ready: Option<Readiness>,
    /// A step met a lock held elsewhere: retry soon.
    contended: bool,
}

impl Queues {
    fn is_empty(&self) -> bool {
        self.q.iter().all(|q| q.is_empty())
    }
}

fn key(e: &Arc<Entry>) -> u64 {
    Arc::as_ptr(e) as usize as u64
}

fn readiness(obj: &Object) -> Option<Readiness> {
    match obj {
        Object::Server(s) => s.readiness().ok(),
        Object::Client(c) => c.readiness().ok(),
        _ => None,
    }
}

/// The engine thread.
fn run(sh: Arc<Shared>, ep: OwnedFd) {
    /// Marks the engine dead however its thread ends.
    struct Alive(Arc<Shared>);
    impl Drop for Alive {
        fn drop(&mut self) {
            // Release: pairs with the Acquire load in `Shared::usable`.
            self.0.alive.store(false, Ordering::Release);
        }
    }
    let _alive = Alive(sh.clone());
    let mut ends: HashMap<u64, Queues> = HashMap::new();
    let mut buf = [std::mem::MaybeUninit::<epoll::Event>::uninit(); 64];
    let mut last_probe = Instant::now();
    loop {
        let timeout = if ends.values().any(|q| q.contended || q.ready.is_none()) {
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
                Cmd::Submit(p) => {
                    let k = key(&p.entry);
                    let qs = ends.entry(k).or_insert_with(|| Queues {
                        entry: p.entry.clone(),
                        q: Default::default(),
                        ready: None,
                        contended: false,
                    });
                    if qs.ready.is_none() {
                        if let Some(r) = readiness(&qs.entry.obj) {
                            let _ = epoll::add(
                                &ep,
                                r.as_fd(),
                                epoll::EventData::new_u64(k),
                                epoll::EventFlags::IN,
                            );
                            qs.ready = Some(r);
                        }
                    }
                    qs.q[p.queue()].push_back(p);
                    ready.push(k);
                }
                Cmd::Cancel {
                    entry,
                    ov,
                    tid,
                    closing,
                    reply,
                } => {
                    let n = ends
                        .get_mut(&key(&entry))
                        .map_or(0, |qs| cancel_in(qs, ov, tid, closing));
                    *reply.done.lock().unwrap_or_else(|p| p.into_inner()) = Some(n);
                    reply.cv.notify_all();
                    ready.push(key(&entry));
                }
            }
        }
        if last_probe.elapsed() >= PROBE {
            last_probe = Instant::now();
            for (k, qs) in ends.iter() {
                probe(&qs.entry.obj);
                ready.push(*k);
            }
        }
        for (k, qs) in ends.iter_mut() {
            // An end whose readiness descriptor could not be made (descriptors exhausted) is
            // stepped at the retry pace instead.
            if qs.contended || qs.ready.is_none() {
                ready.push(*k);
            }
        }
        ready.sort_unstable();
        ready.dedup();
        for k in ready {
            let Some(qs) = ends.get_mut(&k) else { continue };
            if let Some(r) = &qs.ready {
                r.clear();
            }
            step_all(qs);
            if qs.is_empty() {
                if let Some(r) = qs.ready.take() {
                    let _ = epoll::delete(&ep, r.as_fd());
                }
                ends.remove(&k);
            }
        }
        for r in barriers {
            *r.done.lock().unwrap_or_else(|p| p.into_inner()) = Some(0);
            r.cv.notify_all();
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

/// Steps each queue of one handle from the front until an operation stays pending. Writes go
/// on past a pending write whose bytes are all in the pipe (it only waits for its quota): the
/// next one starts behind it, and completes after it (W92, W93).
fn step_all(qs: &mut Queues) {
    qs.contended = false;
    for (i, q) in qs.q.iter_mut().enumerate() {
        let mut at = 0;
        // A write ahead of this one is still pending: this one may go into the pipe, but
        // completes only after it.
        let mut behind = false;
        while at < q.len() {
            let p = &mut q[at];
            match p.step() {
                Poll::Ready(r) if behind => {
                    p.hold(r);
                    at += 1;
                }
                Poll::Ready(r) => {
                    let p = q.remove(at).expect("index in range");
                    complete(p, r);
                }
                Poll::Pending => {
                    qs.contended |= p.contended();
                    if i == WRITES && !p.unwritten() {
                        behind = true;
                        at += 1;
                        continue;
                    }
                    break;
                }
            }
        }
    }
}

/// The queue of writes.
pub(crate) const WRITES: usize = 1;

/// Cancels the matching operations of one handle (W41, W97): each ends now with
/// ERROR_OPERATION_ABORTED, except a read in the middle of a message larger than the ring,
/// which completes with the message (or, when the handle closes, with the part it took). The
/// others stay, in order.
fn cancel_in(qs: &mut Queues, ov: Option<OvPtr>, tid: Option<u32>, closing: bool) -> usize {
    let mut n = 0;
    for q in qs.q.iter_mut() {
        let mut keep = VecDeque::with_capacity(q.len());
        for mut p in q.drain(..) {
            let hit = ov.is_none_or(|o| o.0 == p.ov.0) && tid.is_none_or(|t| t == p.tid);
            if hit && !closing && p.in_message() {
                // The read already holds part of a message larger than the ring: cancelling it
                // now would hand the caller a piece of a message (W97: a read is cancelled with
                // nothing, or satisfied). Its completion wins the race: it ends when the rest
                // arrives (or the writer goes, when the message is withdrawn).
                keep.push_back(p);
                n += 1;
            } else if hit {
                let r = p.abort();
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
