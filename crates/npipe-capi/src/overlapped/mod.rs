//! Overlapped operations: how one starts (at once when it can, W56, W69; else handed to the
//! engine) and how it completes (the status words, then the event or the handle, W26, then the
//! completion routine, W104), and how a call given an OVERLAPPED on a synchronous handle fills
//! it in. The OVERLAPPED structure, its status words and the NTSTATUS codes are in `layout`;
//! the operation itself (its buffers and steps) in `op`; GetOverlappedResult(Ex) and
//! CancelIo(Ex) are in `results.rs`, the engine that completes pending operations (and the
//! waiters' help) in `engine.rs`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;

use crate::apc::Apcs;
use crate::handles::{Entry, Object};
use crate::sync::{self, Event};
use crate::*;

mod layout;
mod op;
mod thread_exit;
pub use layout::OVERLAPPED;
pub(crate) use layout::{status, OvPtr};
use op::{failed, msg_outcome, Outcome};
pub(crate) use op::{Buf, Op};

/// Overlapped operations of one handle that have not completed.
#[derive(Debug, Default)]
pub(crate) struct Io {
    /// Operations handed to the engine and not completed, per engine queue (reads, writes,
    /// connects): a new operation of a queue with some waits behind them (issue order, W66,
    /// W93) instead of trying at once.
    outstanding: [AtomicUsize; 3],
    /// Writes with the engine whose bytes are not all in the pipe yet: while there are none, a
    /// new write starts at once behind the pending ones (its bytes visible to readers and peek,
    /// W83, W92), completing after them (the quota targets only grow, W93).
    unwritten: AtomicUsize,
    /// The operations themselves (see `engine`): stepped by the engine, by the issuing call
    /// (the first step) and by waiters helping.
    pub(crate) queues: crate::forklock::ForkLock<crate::engine::Queues>,
    /// The handle's last read that did not complete inside its call was completed by a thread
    /// waiting for it (`engine::help`), not by the engine: the program waits on its reads
    /// right after issuing them, so the next read's first step arms the end lazily (an answer
    /// that arrives before the waiter spins then does not wake the engine for nothing).
    pub(crate) reads_helped: AtomicBool,
}

impl Io {
    /// Whether any operation of the handle is with the engine.
    pub(crate) fn any_outstanding(&self) -> bool {
        // Acquire: pairs with the Release decrement in `complete`.
        self.outstanding
            .iter()
            .any(|n| n.load(Ordering::Acquire) != 0)
    }

    /// Forgets the operations counted (a forked child, whose queues held its parent's).
    pub(crate) fn forget_outstanding(&self) {
        for n in &self.outstanding {
            // Relaxed: under the queue lock, as every change of the counts that matters here.
            n.store(0, Ordering::Relaxed);
        }
        self.unwritten.store(0, Ordering::Relaxed);
    }

    /// Whether an operation that finished at once may also complete at once: not a write behind
    /// pending writes (they complete in issue order, W93), except a zero-byte one (W75).
    fn completes_in_order(&self, op: &Op) -> bool {
        match op {
            Op::Write { buf, .. } if buf.len == 0 => true,
            // Acquire: see `any_outstanding`.
            Op::Write { .. } => {
                self.outstanding[crate::engine::WRITES].load(Ordering::Acquire) == 0
            }
            _ => true,
        }
    }

    /// Whether a new operation of queue `q` must wait behind others instead of trying at once.
    fn busy(&self, op: &Op) -> bool {
        // Acquire: see `any_outstanding`.
        match op {
            // W75: a zero-byte write completes at once, whatever is pending.
            Op::Write { buf, .. } if buf.len == 0 => false,
            Op::Write { .. } => self.unwritten.load(Ordering::Acquire) != 0,
            _ => self.outstanding[crate::engine::queue_of(op)].load(Ordering::Acquire) != 0,
        }
    }
}

/// What a completed operation signals: the caller's event, or the handle when there is none
/// (W26). A completion routine's operation signals the handle (W26: "with an APC only, the
/// handle is signaled") and ignores hEvent, which the caller may use for anything.
#[derive(Debug, Clone)]
pub(crate) enum Notify {
    Event(Arc<Event>),
    Handle,
}

impl Notify {
    fn as_ref(&self) -> NotifyRef<'_> {
        match self {
            Notify::Event(e) => NotifyRef::Event(e),
            Notify::Handle => NotifyRef::Handle,
        }
    }
}

/// [`Notify`] for the issuing call: the event borrowed from the handle lookup (no reference
/// count); an operation that goes pending takes its own ([`NotifyRef::to_owned`]).
#[derive(Debug, Clone, Copy)]
enum NotifyRef<'a> {
    Event(&'a Arc<Event>),
    Handle,
}

impl NotifyRef<'_> {
    fn to_owned(self) -> Notify {
        match self {
            NotifyRef::Event(e) => Notify::Event(e.clone()),
            NotifyRef::Handle => Notify::Handle,
        }
    }
}

/// A completion routine (`LPOVERLAPPED_COMPLETION_ROUTINE`).
pub(crate) type Routine = unsafe extern "C" fn(DWORD, DWORD, *mut OVERLAPPED);

/// An operation the engine holds.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) entry: Arc<Entry>,
    pub(crate) ov: OvPtr,
    op: Op,
    notify: Notify,
    /// ReadFileEx / WriteFileEx: the routine and the issuing thread's APC queue.
    routine: Option<(Routine, Arc<Apcs>)>,
    /// The issuing thread (CancelIo cancels only its own).
    pub(crate) tid: u32,
    /// Counted in [`Io::unwritten`].
    unwritten: bool,
    /// Its OVERLAPPED did not opt out of the completion port's packet (the low bit of hEvent),
    /// read when the operation was issued: the OVERLAPPED's memory is the program's once the
    /// operation has completed.
    to_port: bool,
}

impl Pending {
    /// Its engine queue.
    pub(crate) fn queue(&self) -> usize {
        crate::engine::queue_of(&self.op)
    }

    pub(crate) fn step(&mut self) -> Poll<Outcome> {
        let r = self.op.step(&self.entry.obj);
        self.update_unwritten();
        r
    }

    /// Makes it unpinned for a step by a thread other than the engine; false (and unchanged)
    /// when it holds a lock between steps.
    pub(crate) fn unpin(&mut self) -> bool {
        self.op.unpin()
    }

    /// Whether it keeps an end lock between steps (see [`Pending::unpin`]).
    pub(crate) fn holds_lock(&self) -> bool {
        self.op.holds_lock()
    }

    /// Pinned again after [`Pending::unpin`].
    pub(crate) fn pin(&mut self) {
        self.op.pin();
    }

    /// Keeps an outcome the operation reached out of turn, to be reported in its turn.
    pub(crate) fn hold(&mut self, o: Outcome) {
        self.op = Op::Done(o);
        self.update_unwritten();
    }

    /// Whether it is a write whose bytes are not all in the pipe.
    pub(crate) fn unwritten(&self) -> bool {
        self.unwritten
    }

    fn update_unwritten(&mut self) {
        if self.unwritten && !self.op.unwritten() {
            self.unwritten = false;
            // Release: pairs with the Acquire load in `Io::busy`.
            self.entry.io.unwritten.fetch_sub(1, Ordering::Release);
        }
    }

    pub(crate) fn contended(&self) -> bool {
        self.op.contended()
    }

    /// A read holding part of a message larger than the ring (see `engine::cancel_in`).
    pub(crate) fn in_message(&self) -> bool {
        match &self.op {
            Op::Read { op, .. } => op.in_message(),
            Op::Transact { op, .. } => op.in_message(),
            _ => false,
        }
    }

    pub(crate) fn abort(&mut self) -> Outcome {
        let r = self.op.abort(&self.entry.obj);
        if self.unwritten {
            self.unwritten = false;
            self.entry.io.unwritten.fetch_sub(1, Ordering::Release);
        }
        r
    }
}

/// Completes an operation the engine held: the status words, then the event or handle and the
/// completion routine queued to the issuing thread, and only then the queue count. A write
/// issued meanwhile completes inside its call only once the count says nothing is pending, so
/// its routine (or event) can never come before this one's (W93, W104: the adversarial suite
/// saw a pair of WriteFileEx routines run second-first when the count went first).
pub(crate) fn complete(mut p: Pending, (st, n): Outcome) {
    crate::engine::completed();
    if p.unwritten {
        p.unwritten = false;
        p.entry.io.unwritten.fetch_sub(1, Ordering::Release);
    }
    p.ov.finish(st, n);
    let q = p.queue();
    let to_port = p.to_port;
    let routine = p.routine.take();
    finish_signals(&p.entry, p.ov, st, n, p.notify.as_ref(), routine, to_port);
    // Release: pairs with the Acquire loads in `Io`.
    p.entry.io.outstanding[q].fetch_sub(1, Ordering::Release);
}

/// Signals a completion: the event or the handle (W26), then either the completion routine or,
/// when `to_port`, the packet of a handle bound to a completion port (`iocp`; never both, as
/// Windows' I/O manager queues one or the other). `to_port` is false for an OVERLAPPED that
/// opted out and for a success inside the call with FILE_SKIP_COMPLETION_PORT_ON_SUCCESS; this
/// reads nothing of the OVERLAPPED, whose memory is the program's once `ov.finish` ran.
fn finish_signals(
    entry: &Entry,
    ov: OvPtr,
    st: u32,
    n: usize,
    notify: NotifyRef<'_>,
    routine: Option<(Routine, Arc<Apcs>)>,
    to_port: bool,
) {
    match notify {
        NotifyRef::Event(e) => e.signal().set(),
        NotifyRef::Handle if entry.completion.skips_handle_signal() => {}
        NotifyRef::Handle => entry.signal.set(),
    }
    if to_port && routine.is_none() {
        entry.completion.complete(ov, st, n);
    }
    if let Some((f, apcs)) = routine {
        let err = status::to_win32(st);
        let ovp = ov.0 as usize;
        apcs.push(Box::new(move || {
            // SAFETY: the routine and OVERLAPPED the caller gave (Win32 contract: both stay
            // valid until the routine has run), called on the issuing thread in an alertable
            // wait.
            unsafe { f(err, n as DWORD, ovp as *mut OVERLAPPED) }
        }));
    }
}

/// Whether the other end of the pipe behind `obj` is in this process (whose pending operations
/// a call on `obj` may complete).
pub(crate) fn peer_is_local(obj: &Object) -> bool {
    let me = crate::engine::pid();
    match obj {
        Object::Server(s) => s.client_process_id().ok() == Some(me),
        Object::Client(c) => c.server_process_id().ok() == Some(me),
        _ => false,
    }
}

/// After a call on `obj` that may have made an operation of its peer ready (data written or
/// read, a link closed or disconnected, a client connected): when that peer is in this process
/// and has operations with the engine, returns only once the engine has stepped them, so they
/// have completed by the time the call returns, as on Windows.
#[inline]
pub(crate) fn settle_for(obj: &Object) {
    if crate::engine::busy() {
        settle_local(obj);
    }
}

/// [`settle_for`] once the engine holds operations.
#[cold]
#[inline(never)]
fn settle_local(obj: &Object) {
    if peer_is_local(obj) {
        crate::engine::settle();
    }
}

/// Cancels every overlapped operation of a handle being closed.
pub(crate) fn cancel_all(entry: &Arc<Entry>) {
    crate::engine::cancel(entry, None, None, true);
}

/// Which call is issuing, for the Win32 return conventions.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Call {
    /// ReadFile, WriteFile, TransactNamedPipe: FALSE + ERROR_IO_PENDING while pending.
    Plain,
    /// ReadFileEx, WriteFileEx: TRUE while pending; the routine reports the result.
    Ex(Routine),
    /// ConnectNamedPipe.
    Connect,
    /// TransactNamedPipe: as Plain, except that a failure found at the start is reported as a
    /// pending operation that completed with the error (Windows 8 and later, W123).
    Transact,
}

/// The event of an OVERLAPPED (`OvPtr::event`). `Err` for a handle that is not an event.
pub(crate) fn event_of(ov: OvPtr) -> Result<Option<Arc<Event>>, ()> {
    let h = ov.event();
    if h.is_null() {
        return Ok(None);
    }
    sync::event_of(h).map(Some).ok_or(())
}

/// How an overlapped call starts, common to every call: Internal = STATUS_PENDING, the handle
/// reset (W64); then `f` with what completion signals, the OVERLAPPED's event borrowed from
/// the handle lookup for as long as `f` runs. The event is reset once the call knows the
/// operation does not complete inside it ([`reset_event`]): Windows resets it first (W40, W64),
/// and an operation that completes inside the call then sets it, which leaves the state a set
/// alone leaves (another thread could only have looked at the event before the reset or after
/// the set).
fn begin<R>(
    entry: &Entry,
    ov: OvPtr,
    call: Call,
    f: impl FnOnce(NotifyRef<'_>) -> R,
) -> Result<R, DWORD> {
    let start = || {
        ov.start();
        // From now on the handle's signal is kept exact, synchronous calls included.
        entry.observe();
        entry.signal.reset();
    };
    let h = ov.event();
    if matches!(call, Call::Ex(_)) || h.is_null() {
        start();
        return Ok(f(NotifyRef::Handle));
    }
    sync::peek_event(h, |ev| {
        start();
        f(NotifyRef::Event(ev))
    })
    .ok_or(ERROR_INVALID_HANDLE)
}

/// The event's reset of `begin`, for a call whose operation goes pending or fails at once
/// (W64, W101: a failure found at the start leaves the event reset).
fn reset_event(notify: NotifyRef<'_>) {
    if let NotifyRef::Event(e) = notify {
        e.signal().reset();
    }
}

/// Issues an operation on a handle opened with FILE_FLAG_OVERLAPPED: completes it at once when
/// it can (W56: TRUE and the count; W70: ERROR_MORE_DATA and a count of 0), fails it at once
/// with the status words untouched (W47, W101), or hands it to the engine (FALSE +
/// ERROR_IO_PENDING; TRUE for the Ex calls).
///
/// # Safety
/// `ov` is a valid OVERLAPPED and the buffers in `op` stay valid until the operation completes;
/// `count` is null or writable.
pub(crate) unsafe fn issue(
    entry: &Arc<Entry>,
    ov: *mut OVERLAPPED,
    op: Op,
    call: Call,
    count: *mut DWORD,
) -> BOOL {
    let ov = OvPtr(ov);
    // SAFETY: null or writable (caller).
    unsafe { put(count, 0) };
    // Borrowed by the call below, not moved into it: an operation is about 200 bytes.
    let mut op = op;
    // SAFETY: forwarded contract.
    begin(entry, ov, call, |notify| unsafe {
        go(entry, ov, &mut op, notify, call, count)
    })
    .unwrap_or_else(fail)
}

/// Overlapped ConnectNamedPipe (W39-W41): pending until a client arrives, or at once
/// ERROR_PIPE_CONNECTED (the status words untouched, the event reset, W40) or the error.
///
/// # Safety
/// `ov` is a valid OVERLAPPED that stays valid until the operation completes.
pub(crate) unsafe fn issue_connect(
    entry: &Arc<Entry>,
    s: &NamedPipeServer,
    ov: *mut OVERLAPPED,
) -> BOOL {
    let ov = OvPtr(ov);
    begin(entry, ov, Call::Connect, |notify| match s.start_connect() {
        Ok(npipe::nonblocking::ConnectStart::Connected) => {
            reset_event(notify);
            fail(ERROR_PIPE_CONNECTED)
        }
        Err(e) => {
            reset_event(notify);
            fail_io(&e)
        }
        // SAFETY: forwarded contract; no count.
        Ok(npipe::nonblocking::ConnectStart::Pending(op)) => unsafe {
            go(
                entry,
                ov,
                &mut Op::Connect { op },
                notify,
                Call::Connect,
                std::ptr::null_mut(),
            )
        },
    })
    .unwrap_or_else(fail)
}

/// The rest of `issue` once the status words and the event are reset.
///
/// # Safety
/// As `issue`.
unsafe fn go(
    entry: &Arc<Entry>,
    ov: OvPtr,
    op: &mut Op,
    notify: NotifyRef<'_>,
    call: Call,
    count: *mut DWORD,
) -> BOOL {
    let q = crate::engine::queue_of(op);
    // The first step and the queueing under the queue lock: the engine (or a helper) steps
    // this queue only before the step or after the operation is in it, so a readiness signal
    // after the step's arm finds it there.
    let mut qs = crate::engine::queues(entry);
    // A connect is never done inside the call (a client that arrives meanwhile completes it
    // through the engine): ConnectNamedPipe with an OVERLAPPED never returns TRUE (W39, W40).
    if !matches!(op, Op::Connect { .. }) && !entry.io.busy(op) {
        // Nothing of this kind is queued before it: try now, on this thread, unpinned (so it
        // takes no lock with it if it has to wait).
        // Relaxed: a hint about the program's habits.
        if entry.io.reads_helped.load(Ordering::Relaxed) {
            op.arm_lazily();
        }
        if let Poll::Ready(o) = op.step(&entry.obj) {
            if !entry.io.completes_in_order(op) {
                // A write whose bytes went in behind pending writes: it completes after them
                // (W93), so the engine reports it in its turn.
                *op = Op::Done(o);
            } else {
                drop(qs);
                return finish_now(entry, ov, o, notify, call, count);
            }
        }
    }
    // Pending: the event is reset before the operation is queued, after which a completion
    // may set it (the engine and the helpers step it only once it is queued, under this lock).
    reset_event(notify);
    // The engine steps it at once when only its pinned steps can get it through.
    let urgent = op.beyond_unpinned(&entry.obj);
    op.pin();
    let routine = match call {
        Call::Ex(f) => Some((f, crate::apc::current())),
        _ => None,
    };
    // Release: pairs with the Acquire loads in `Io`.
    entry.io.outstanding[q].fetch_add(1, Ordering::Release);
    let unwritten = op.unwritten();
    if unwritten {
        entry.io.unwritten.fetch_add(1, Ordering::Release);
    }
    // A wait on what its completion sets helps it along (see `engine::help`).
    match (notify, &routine) {
        (_, Some((_, apcs))) => apcs.signal().bind(entry, ov.0 as usize),
        (NotifyRef::Event(e), None) => e.signal().bind(entry, ov.0 as usize),
        (NotifyRef::Handle, None) => entry.signal.bind(entry, ov.0 as usize),
    }
    let tid = crate::threads::current_tid();
    let p = Pending {
        entry: entry.clone(),
        ov,
        // The caller's is left behind as done, never looked at again.
        op: std::mem::replace(op, Op::Done((status::SUCCESS, 0))),
        notify: notify.to_owned(),
        routine,
        tid,
        unwritten,
        to_port: crate::iocp::wants_packet(ov),
    };
    if let Err(back) = crate::engine::submit(&mut qs, p, urgent) {
        drop(qs);
        let (mut p, e) = *back;
        entry.io.outstanding[q].fetch_sub(1, Ordering::Release);
        p.abort();
        return fail_io(&e);
    }
    drop(qs);
    // Cancelled if this thread exits first, as on Windows.
    thread_exit::note(entry, tid);
    match call {
        Call::Ex(_) => {
            set_error(ERROR_SUCCESS);
            TRUE
        }
        _ => fail(ERROR_IO_PENDING),
    }
}

/// Issues a call that completes inside it on an overlapped handle (a PIPE_NOWAIT pipe, a
/// mailslot writer): the result is reported as an overlapped operation that completed at once.
///
/// # Safety
/// `ov` is a valid OVERLAPPED; `count` null or writable.
pub(crate) unsafe fn issue_done(
    entry: &Entry,
    ov: *mut OVERLAPPED,
    r: io::Result<MsgLen>,
    call: Call,
    count: *mut DWORD,
) -> BOOL {
    let ov = OvPtr(ov);
    // SAFETY: null or writable (caller).
    unsafe { put(count, 0) };
    let o = match r {
        Ok(m) => msg_outcome(m),
        Err(e) => failed(&e),
    };
    begin(entry, ov, call, |notify| {
        finish_now(entry, ov, o, notify, call, count)
    })
    .unwrap_or_else(fail)
}

/// An operation that finished inside the issuing call.
fn finish_now(
    entry: &Entry,
    ov: OvPtr,
    (st, n): Outcome,
    notify: NotifyRef<'_>,
    call: Call,
    count: *mut DWORD,
) -> BOOL {
    if st != status::SUCCESS && st != status::BUFFER_OVERFLOW {
        if matches!(call, Call::Transact) {
            // W123 (Windows 8+): pending, then completed with the error.
            let to_port = crate::iocp::wants_packet(ov);
            ov.finish(st, n);
            finish_signals(entry, ov, st, n, notify, None, to_port);
            return fail(ERROR_IO_PENDING);
        }
        // An immediate failure: the status words and the routine are untouched, the event
        // reset (W47, W101).
        reset_event(notify);
        return fail(status::to_win32(st));
    }
    let to_port = entry.completion.queues_at_once(st) && crate::iocp::wants_packet(ov);
    ov.finish(st, n);
    let routine = match call {
        Call::Ex(f) => Some((f, crate::apc::current())),
        _ => None,
    };
    finish_signals(entry, ov, st, n, notify, routine, to_port);
    if st == status::BUFFER_OVERFLOW && to_port {
        // W72 (Windows 8+): on a handle bound to a port a partial message is reported pending,
        // and its packet carries the warning.
        return fail(ERROR_IO_PENDING);
    }
    if st == status::BUFFER_OVERFLOW {
        // W70: the count is reported through GetOverlappedResult, not here.
        return fail(ERROR_MORE_DATA);
    }
    // SAFETY: null or writable (caller of `issue`).
    unsafe { put(count, n as DWORD) };
    set_error(ERROR_SUCCESS);
    TRUE
}

/// Completes a read-like result the Win32 way: FALSE + ERROR_MORE_DATA for a partial message.
///
/// # Safety
/// `count` and `ov` are null or valid for writing.
#[inline]
pub(crate) unsafe fn finish_read(
    r: io::Result<MsgLen>,
    count: *mut DWORD,
    ov: *mut OVERLAPPED,
) -> BOOL {
    match r {
        Ok(m) => {
            let more = m.left > 0;
            if !ov.is_null() {
                // SAFETY: ov is non-null and writable (caller).
                unsafe {
                    (*ov).internal = if more {
                        status::BUFFER_OVERFLOW as usize
                    } else {
                        status::SUCCESS as usize
                    };
                    (*ov).internal_high = m.read;
                }
            }
            // W69: with an OVERLAPPED a partial read reports 0 through lpNumberOfBytesRead.
            let reported = if more && !ov.is_null() {
                0
            } else {
                m.read as DWORD
            };
            // SAFETY: count is null or writable (caller).
            unsafe { put(count, reported) };
            if more {
                fail(ERROR_MORE_DATA)
            } else {
                TRUE
            }
        }
        Err(e) => fail_io(&e),
    }
}

/// Finishes a call made with an OVERLAPPED on a handle without FILE_FLAG_OVERLAPPED, which ran
/// to its end inside the call: the status words and the event are filled in as on Windows
/// (W69), then the result is returned the synchronous way.
///
/// # Safety
/// `ov` is null or a valid OVERLAPPED; `count` null or writable.
#[inline(always)]
pub(crate) unsafe fn finish_sync(
    entry: &Entry,
    r: io::Result<MsgLen>,
    count: *mut DWORD,
    ov: *mut OVERLAPPED,
) -> BOOL {
    let ok = r.is_ok();
    // SAFETY: forwarded contract.
    let ret = unsafe { finish_read(r, count, ov) };
    let h = if ov.is_null() {
        std::ptr::null_mut()
    } else {
        OvPtr(ov).event()
    };
    // The OVERLAPPED's event, borrowed from its lookup; a failure leaves it alone, as an
    // overlapped operation that fails at once does. Without one (or with a handle that is not
    // an event) the handle itself.
    if !h.is_null()
        && sync::peek_event(h, |e| {
            if ok {
                e.signal().set()
            }
        })
        .is_some()
    {
        return ret;
    }
    end_sync(entry);
    ret
}

/// The end of a synchronous call without an OVERLAPPED (or whose OVERLAPPED has no event):
/// the handle is signalled again when the call kept its signal exact or waited (W26).
#[inline]
pub(crate) fn end_sync(entry: &Entry) {
    if entry.sync_ends() && !entry.completion.skips_handle_signal() {
        entry.signal.set();
    }
}

/// Resets what a synchronous call on `entry` with `ov` completes (the event, or the handle):
/// any I/O started on a handle makes it non-signalled (W26, W27). A handle whose signal
/// nothing has looked at is left alone unless the call comes to wait (`Entry::sync_wait`); a
/// call with an OVERLAPPED, rare on a synchronous handle, keeps it exact from then on, since
/// its event rather than the handle is what its completion signals.
///
/// # Safety
/// `ov` is null or a valid OVERLAPPED.
#[inline]
pub(crate) unsafe fn begin_sync(entry: &Entry, ov: *mut OVERLAPPED) {
    if !ov.is_null() {
        let ov = OvPtr(ov);
        ov.start();
        if let Ok(Some(e)) = event_of(ov) {
            e.signal().reset();
        }
        entry.observe();
    }
    if entry.is_observed() {
        entry.signal.reset();
    }
}
