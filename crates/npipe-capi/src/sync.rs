//! Waitable state and the wait functions of the C ABI: [`Signal`] (the signalled state every
//! waitable object has), events (`CreateEvent`, `OpenEvent`, `SetEvent`, `ResetEvent`,
//! `PulseEvent`), `WaitForSingleObject(Ex)`, `WaitForMultipleObjects(Ex)`, `Sleep`, `SleepEx`
//! and `GetTickCount(64)`.
//!
//! The state machine and the wait itself are the core's ([`npipe::Event`],
//! [`npipe::NamedEvent`], [`npipe::wait_for_multiple`]): a [`Signal`] is a process-local
//! `Event` (unnamed events, pipe and mailslot handles, threads, APC queues: cheap, no
//! descriptor until someone polls) or a `NamedEvent` (a named CreateEvent/OpenEvent: one state
//! shared by every process of the user). A wait takes each object under its lock, so an
//! auto-reset event releases exactly one waiter (in any process) and a wait-all takes every
//! object at once or none; SetEvent and PulseEvent release the waiters of that moment even if
//! the event is reset before they run. An alertable wait looks at its objects first and runs
//! the thread's APCs only when none is signalled, as Windows does.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use npipe::{NamedEvent, WaitObject, WaitOutcome};

use crate::handles::{self, Entry, Object};
use crate::*;

/// `WAIT_OBJECT_0`.
pub(crate) const WAIT_OBJECT_0: DWORD = 0;
/// `WAIT_TIMEOUT`.
pub(crate) const WAIT_TIMEOUT: DWORD = 258;
/// `WAIT_FAILED`.
pub(crate) const WAIT_FAILED: DWORD = 0xFFFF_FFFF;
/// `WAIT_IO_COMPLETION`: an alertable wait ran completion routines or APCs.
pub(crate) const WAIT_IO_COMPLETION: DWORD = 0xC0;
/// `INFINITE`.
pub(crate) const INFINITE: DWORD = 0xFFFF_FFFF;
/// `MAXIMUM_WAIT_OBJECTS`.
pub(crate) const MAXIMUM_WAIT_OBJECTS: DWORD = 64;

/// A wait's handles, signals and objects live on the stack in arrays of this many when the
/// call names no more (WaitForSingleObject, GetOverlappedResult and most multiple waits), else
/// of [`MAXIMUM_WAIT_OBJECTS`]: filling 64 slots cost a wait that finds its object set more
/// than the rest of its work.
const FEW: usize = 4;

/// A signalled / not-signalled state with a pollable descriptor (see the module docs).
#[derive(Debug)]
pub(crate) struct Signal {
    kind: SignalKind,
    /// The overlapped operation that last took this signal as what its completion sets (the
    /// event of its OVERLAPPED, or its handle's own signal, W26), and the issuing thread's
    /// completion routine queue for the Ex calls: its handle and the address of its OVERLAPPED
    /// (only compared: the operation may be long gone). A wait on the signal helps that
    /// operation along before it sleeps (`engine::help`).
    op: Mutex<Option<(Weak<Entry>, usize)>>,
}

#[derive(Debug)]
enum SignalKind {
    /// Process-local.
    Local(npipe::Event),
    /// A named event, shared across processes.
    Named(NamedEvent),
}

impl Signal {
    fn of(kind: SignalKind) -> Signal {
        Signal {
            kind,
            op: Mutex::new(None),
        }
    }

    /// Records the pending operation whose completion sets this signal (see `op`).
    pub(crate) fn bind(&self, entry: &Arc<Entry>, ov: usize) {
        let mut op = self.op.lock().unwrap_or_else(|p| p.into_inner());
        // Bound to the same already (a program that reuses one OVERLAPPED and its event for
        // operation after operation): no new weak reference, no old one dropped.
        if op
            .as_ref()
            .is_some_and(|(e, o)| *o == ov && std::ptr::eq(e.as_ptr(), Arc::as_ptr(entry)))
        {
            return;
        }
        *op = Some((Arc::downgrade(entry), ov));
    }

    /// The operation last bound, if its handle is still there.
    fn bound(&self) -> Option<(Arc<Entry>, usize)> {
        let op = self.op.lock().unwrap_or_else(|p| p.into_inner());
        let (entry, ov) = op.as_ref()?;
        Some((entry.upgrade()?, *ov))
    }

    /// Whether it is set, for a spin that polls it: false for a named event, whose state is
    /// behind a lock other processes share (a spin ends soon anyway).
    fn set_locally(&self) -> bool {
        match &self.kind {
            SignalKind::Local(e) => e.is_set(),
            SignalKind::Named(_) => false,
        }
    }

    /// Takes the state if it is set, without waiting (an auto-reset signal is reset), as a wait
    /// on it alone that finds it set does: for a process-local signal; false for a named event,
    /// which the general wait takes.
    fn try_take_locally(&self) -> bool {
        match &self.kind {
            // A manual-reset one stays set: a look, without the state's lock.
            SignalKind::Local(e) if e.is_manual_reset() => e.is_set(),
            SignalKind::Local(e) => e.try_wait(),
            SignalKind::Named(_) => false,
        }
    }

    /// A process-local signal, auto-reset or manual-reset, initially set or not.
    pub(crate) fn new(auto: bool, set: bool) -> Signal {
        Signal::of(SignalKind::Local(npipe::Event::new(!auto, set)))
    }

    /// Sets the state (SetEvent). Internal signals cannot fail; a named event's failure is
    /// reported by [`Signal::try_set`].
    pub(crate) fn set(&self) {
        let _ = self.try_set();
    }

    /// Sets the state, reporting a named event's failure (corrupt shared state, a lock held
    /// by another process for too long).
    pub(crate) fn try_set(&self) -> io::Result<()> {
        match &self.kind {
            SignalKind::Local(e) => {
                e.set();
                Ok(())
            }
            SignalKind::Named(e) => e.set(),
        }
    }

    /// Clears the state (ResetEvent).
    pub(crate) fn reset(&self) {
        let _ = self.try_reset();
    }

    /// Clears the state, reporting a named event's failure.
    pub(crate) fn try_reset(&self) -> io::Result<()> {
        match &self.kind {
            SignalKind::Local(e) => {
                e.reset();
                Ok(())
            }
            SignalKind::Named(e) => e.reset(),
        }
    }

    /// PulseEvent: releases the threads waiting now (one for an auto-reset event) and leaves
    /// the state reset.
    pub(crate) fn try_pulse(&self) -> io::Result<()> {
        match &self.kind {
            SignalKind::Local(e) => {
                e.pulse();
                Ok(())
            }
            SignalKind::Named(e) => e.pulse(),
        }
    }

    /// Whether the state is set (a named event whose state cannot be read counts as not set).
    pub(crate) fn is_set(&self) -> bool {
        match &self.kind {
            SignalKind::Local(e) => e.is_set(),
            SignalKind::Named(e) => e.is_set().unwrap_or(false),
        }
    }

    /// The descriptor that polls readable exactly while the state is set.
    pub(crate) fn fd(&self) -> io::Result<BorrowedFd<'_>> {
        match &self.kind {
            SignalKind::Local(e) => e.wait_fd(),
            SignalKind::Named(e) => Ok(e.as_fd()),
        }
    }

    fn object(&self) -> WaitObject<'_> {
        match &self.kind {
            SignalKind::Local(e) => WaitObject::Event(e),
            SignalKind::Named(e) => WaitObject::Named(e),
        }
    }
}

/// An event object (CreateEvent). Each handle has its own; handles to one named event share
/// its state through the core (one attachment per process).
#[derive(Debug)]
pub(crate) struct Event {
    signal: Signal,
}

impl Event {
    /// Its state.
    pub(crate) fn signal(&self) -> &Signal {
        &self.signal
    }
}

fn event_handle(signal: Signal, code: u32) -> HANDLE {
    let h = handles::insert_obj(Object::Event(Arc::new(Event { signal })));
    if h == INVALID_HANDLE_VALUE {
        return std::ptr::null_mut();
    }
    set_error(code);
    h
}

fn create_event(manual: BOOL, initial: BOOL, name: Option<String>) -> HANDLE {
    match name {
        // Windows: an empty name is no name (a new unnamed event, never ERROR_ALREADY_EXISTS).
        None => event_handle(Signal::new(manual == 0, initial != 0), ERROR_SUCCESS),
        Some(n) if n.is_empty() => {
            event_handle(Signal::new(manual == 0, initial != 0), ERROR_SUCCESS)
        }
        Some(n) => match NamedEvent::create(&n, manual != 0, initial != 0) {
            Ok(e) => {
                let code = if e.already_existed() {
                    ERROR_ALREADY_EXISTS
                } else {
                    ERROR_SUCCESS
                };
                event_handle(Signal::of(SignalKind::Named(e)), code)
            }
            Err(e) => {
                fail_io(&e);
                std::ptr::null_mut()
            }
        },
    }
}

/// `CreateEventA`. A named event is shared with every process of the user (and root) that
/// creates or opens the name; an existing name gives a new handle to that event (its reset
/// mode and state kept) with ERROR_ALREADY_EXISTS. Name errors are Windows': see
/// `npipe::NamedEvent::create`.
///
/// # Safety
/// `name` is null or a NUL-terminated string.
#[export_name = "npipe_CreateEventA"]
pub unsafe extern "C" fn CreateEventA(
    _sa: *mut c_void,
    manual_reset: BOOL,
    initial: BOOL,
    name: *const c_char,
) -> HANDLE {
    // SAFETY: forwarded contract.
    create_event(manual_reset, initial, unsafe { name_a(name) })
}

/// `CreateEventW`.
///
/// # Safety
/// `name` is null or a NUL-terminated UTF-16 string.
#[export_name = "npipe_CreateEventW"]
pub unsafe extern "C" fn CreateEventW(
    _sa: *mut c_void,
    manual_reset: BOOL,
    initial: BOOL,
    name: *const u16,
) -> HANDLE {
    // SAFETY: forwarded contract.
    create_event(manual_reset, initial, unsafe { name_w(name) })
}

fn open_event(name: Option<String>) -> HANDLE {
    let name = match name {
        None => {
            set_error(ERROR_INVALID_PARAMETER);
            return std::ptr::null_mut();
        }
        // Windows opens the namespace directory itself, which is not an event.
        Some(n) if n.is_empty() => {
            set_error(ERROR_INVALID_HANDLE);
            return std::ptr::null_mut();
        }
        Some(n) => n,
    };
    match NamedEvent::open(&name) {
        Ok(e) => event_handle(Signal::of(SignalKind::Named(e)), ERROR_SUCCESS),
        Err(e) => {
            fail_io(&e);
            std::ptr::null_mut()
        }
    }
}

/// `OpenEventA`: NULL name is ERROR_INVALID_PARAMETER, a missing one ERROR_FILE_NOT_FOUND.
/// Access rights and inheritance are not modelled.
///
/// # Safety
/// `name` is null or a NUL-terminated string.
#[export_name = "npipe_OpenEventA"]
pub unsafe extern "C" fn OpenEventA(_access: DWORD, _inherit: BOOL, name: *const c_char) -> HANDLE {
    // SAFETY: forwarded contract.
    open_event(unsafe { name_a(name) })
}

/// `OpenEventW`.
///
/// # Safety
/// `name` is null or a NUL-terminated UTF-16 string.
#[export_name = "npipe_OpenEventW"]
pub unsafe extern "C" fn OpenEventW(_access: DWORD, _inherit: BOOL, name: *const u16) -> HANDLE {
    // SAFETY: forwarded contract.
    open_event(unsafe { name_w(name) })
}

/// Runs `f` on the event behind `h`, borrowed from the handle lookup (no reference count of
/// its own); `None` for a handle that is not an event (the Win32 failure is
/// ERROR_INVALID_HANDLE).
#[inline]
pub(crate) fn peek_event<R>(h: HANDLE, f: impl FnOnce(&Arc<Event>) -> R) -> Option<R> {
    handles::peek(h, |e| match &e.obj {
        Object::Event(ev) => Some(f(ev)),
        _ => None,
    })
    .flatten()
}

/// The event behind `h`, a reference of the caller's own (see [`peek_event`]).
pub(crate) fn event_of(h: HANDLE) -> Option<Arc<Event>> {
    peek_event(h, Arc::clone)
}

fn with_event(h: HANDLE, f: impl FnOnce(&Signal) -> io::Result<()>) -> BOOL {
    match peek_event(h, |e| f(&e.signal)) {
        Some(Ok(())) => TRUE,
        Some(Err(err)) => fail_io(&err),
        None => fail(ERROR_INVALID_HANDLE),
    }
}

/// `SetEvent`.
#[export_name = "npipe_SetEvent"]
pub extern "C" fn SetEvent(h: HANDLE) -> BOOL {
    with_event(h, Signal::try_set)
}

/// `ResetEvent`.
#[export_name = "npipe_ResetEvent"]
pub extern "C" fn ResetEvent(h: HANDLE) -> BOOL {
    with_event(h, Signal::try_reset)
}

/// `PulseEvent`: releases every thread waiting at this moment (manual reset) or one of them
/// (auto reset), in any process for a named event, and none that starts waiting later; the
/// event is left reset. Unlike on Windows, where a waiter briefly out of its wait (running a
/// kernel-mode APC) misses the pulse, only a wait that has not started misses it.
#[export_name = "npipe_PulseEvent"]
pub extern "C" fn PulseEvent(h: HANDLE) -> BOOL {
    with_event(h, Signal::try_pulse)
}

/// A deadline from a Win32 timeout (`None`: INFINITE).
pub(crate) fn deadline_of(ms: DWORD) -> Option<Instant> {
    (ms != INFINITE).then(|| Instant::now() + Duration::from_millis(ms as u64))
}

/// The outcome of [`wait_signals`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waited {
    /// The object at this index was taken (or all of them, for wait-all: index 0).
    Object(usize),
    /// Completion routines or APCs ran (alertable waits only).
    Apc,
    /// The deadline passed.
    Timeout,
}

/// Waits for any (or all) of `sigs`. An alertable wait (W104: only alertable waits run APCs)
/// looks at the objects first: an object signalled when it looks wins, and the thread's APCs
/// stay queued (Windows: `WaitForSingleObjectEx` on a set event with an APC queued returns
/// WAIT_OBJECT_0); otherwise queued APCs run and the wait returns WAIT_IO_COMPLETION.
#[inline]
pub(crate) fn wait_signals(
    sigs: &[&Signal],
    all: bool,
    deadline: Option<Instant>,
    alertable: bool,
) -> io::Result<Waited> {
    wait_signals_as(sigs, all, deadline, alertable, true)
}

/// [`wait_signals`] for a caller that has helped the operation it waits for itself
/// (GetOverlappedResult, which knows its OVERLAPPED): no second help.
#[inline]
pub(crate) fn wait_signals_helped(
    sigs: &[&Signal],
    deadline: Option<Instant>,
    alertable: bool,
) -> io::Result<Waited> {
    wait_signals_as(sigs, false, deadline, alertable, false)
}

#[inline]
fn wait_signals_as(
    sigs: &[&Signal],
    all: bool,
    deadline: Option<Instant>,
    alertable: bool,
    help: bool,
) -> io::Result<Waited> {
    // One signal that is set already (an overlapped operation that completed inside its call,
    // an event set before the wait): taken at once, without the wait's set-up.
    if taken_at_once(sigs, alertable) {
        return Ok(Waited::Object(0));
    }
    wait_signals_set_up(sigs, all, deadline, alertable, help)
}

/// Whether a wait on `sigs` is one on a single process-local signal that is set, which it
/// takes (an auto-reset one is reset). Not for an alertable wait, which looks at the thread's
/// queued routines as well.
#[inline(always)]
fn taken_at_once(sigs: &[&Signal], alertable: bool) -> bool {
    matches!(sigs, [sig] if !alertable && sig.try_take_locally())
}

/// [`wait_signals_as`] past its look at one set signal.
#[inline(never)]
fn wait_signals_set_up(
    sigs: &[&Signal],
    all: bool,
    deadline: Option<Instant>,
    alertable: bool,
    help: bool,
) -> io::Result<Waited> {
    let apcs = alertable.then(crate::apc::current);
    if help
        && (!all || sigs.len() == 1)
        && help_then_take(sigs, apcs.as_deref(), deadline, alertable)
    {
        return Ok(Waited::Object(0));
    }
    if sigs.len() > MAXIMUM_WAIT_OBJECTS as usize {
        return Err(npipe::Error::io(
            ERROR_INVALID_PARAMETER,
            "more than MAXIMUM_WAIT_OBJECTS objects to wait for",
        ));
    }
    // On the stack, sized to the call (see `FEW`).
    if sigs.len() <= FEW {
        wait_objects::<FEW>(sigs, all, deadline, apcs.as_deref())
    } else {
        wait_objects::<{ MAXIMUM_WAIT_OBJECTS as usize }>(sigs, all, deadline, apcs.as_deref())
    }
}

/// The wait of [`wait_signals_as`] with the signals' objects in an array of `N` (at least
/// `sigs.len()`).
fn wait_objects<const N: usize>(
    sigs: &[&Signal],
    all: bool,
    deadline: Option<Instant>,
    apcs: Option<&crate::apc::Apcs>,
) -> io::Result<Waited> {
    let mut objs = [current_process().object(); N];
    for (o, s) in objs.iter_mut().zip(sigs) {
        *o = s.object();
    }
    let objs = &objs[..sigs.len()];
    loop {
        let alert = match apcs {
            Some(q) => Some(q.fd()?),
            None => None,
        };
        match npipe::wait_for_multiple(objs, all, deadline, alert)? {
            WaitOutcome::Object(i) => return Ok(Waited::Object(i)),
            WaitOutcome::TimedOut => return Ok(Waited::Timeout),
            WaitOutcome::Alerted => {
                if apcs.is_some_and(|q| q.run_pending()) {
                    return Ok(Waited::Apc);
                }
                // Readable but emptied in between: wait on.
            }
            // `WaitOutcome` is not exhaustive; an outcome added later is mapped when this ABI
            // learns it.
            _ => {
                return Err(npipe::Error::io(
                    npipe::error::code::ERROR_NOT_SUPPORTED,
                    "a wait outcome this C ABI does not know",
                ))
            }
        }
    }
}

/// Before a wait-any sleeps: the overlapped operations its signals wait for (the one each
/// signal last bound), then the thread's last ReadFileEx/WriteFileEx when it is alertable, each
/// get the spin a blocking call makes, to let their peers answer (`engine::help`: nothing for
/// an operation that completed, or whose peer looks idle). It ends as soon as any of the
/// signals is set, a routine is queued or the deadline passes.
fn help_before_sleep(sigs: &[&Signal], apcs: Option<&crate::apc::Apcs>, deadline: Option<Instant>) {
    let mut stop = || {
        sigs.iter().any(|s| s.set_locally())
            || apcs.is_some_and(|q| q.queued())
            || deadline.is_some_and(|d| Instant::now() >= d)
    };
    let ops = sigs
        .iter()
        .copied()
        .chain(apcs.map(|q| q.signal()))
        .filter_map(|s| s.bound());
    for (entry, ov) in ops {
        if stop() {
            return;
        }
        crate::engine::help(&entry, ov, &mut stop);
    }
}

/// The help of a wait before it sleeps ([`help_before_sleep`]; none once the deadline has
/// passed), then its look at one set signal ([`taken_at_once`]): true when the help completed
/// the operation (its usual end) and the signal was taken, without the wait itself.
#[inline]
fn help_then_take(
    sigs: &[&Signal],
    apcs: Option<&crate::apc::Apcs>,
    deadline: Option<Instant>,
    alertable: bool,
) -> bool {
    if deadline.is_some_and(|d| d <= Instant::now()) {
        return false;
    }
    help_before_sleep(sigs, apcs, deadline);
    taken_at_once(sigs, alertable)
}

fn wait_result(r: io::Result<Waited>) -> DWORD {
    match r {
        Ok(Waited::Object(i)) => WAIT_OBJECT_0 + i as DWORD,
        Ok(Waited::Apc) => WAIT_IO_COMPLETION,
        Ok(Waited::Timeout) => WAIT_TIMEOUT,
        Err(e) => {
            fail_io(&e);
            WAIT_FAILED
        }
    }
}

/// # Safety
/// `handles` is valid for `count` reads when `count > 0`.
unsafe fn wait_multiple(
    count: DWORD,
    handles: *const HANDLE,
    all: BOOL,
    ms: DWORD,
    alertable: bool,
) -> DWORD {
    if count == 0 || count > MAXIMUM_WAIT_OBJECTS {
        set_error(ERROR_INVALID_PARAMETER);
        return WAIT_FAILED;
    }
    if handles.is_null() {
        set_error(ERROR_NOACCESS);
        return WAIT_FAILED;
    }
    // SAFETY: valid for count reads (caller).
    let hs = unsafe { std::slice::from_raw_parts(handles, count as usize) };
    if hs.len() <= FEW {
        wait_handles::<FEW>(hs, all != 0, ms, alertable)
    } else {
        wait_handles::<{ MAXIMUM_WAIT_OBJECTS as usize }>(hs, all != 0, ms, alertable)
    }
}

/// [`wait_multiple`] with its entries and signals on the stack, in arrays of `N` (at least
/// `hs.len()`): a wait allocates nothing.
fn wait_handles<const N: usize>(hs: &[HANDLE], all: bool, ms: DWORD, alertable: bool) -> DWORD {
    let mut entries: [Option<Arc<Entry>>; N] = [const { None }; N];
    for (slot, &h) in entries.iter_mut().zip(hs) {
        if h == INVALID_HANDLE_VALUE {
            // GetCurrentProcess(): the process cannot end while it waits for itself.
            continue;
        }
        match crate::threads::waitable(h) {
            Some(e) if e.obj.is_waitable() => *slot = Some(e),
            _ => {
                set_error(ERROR_INVALID_HANDLE);
                return WAIT_FAILED;
            }
        }
    }
    let process = current_process();
    let mut sigs = [process; N];
    for (sig, e) in sigs.iter_mut().zip(&entries[..hs.len()]) {
        if let Some(e) = e {
            *sig = e.wait_signal();
        }
    }
    // Wait-all naming one object twice fails with ERROR_INVALID_PARAMETER (the core checks,
    // after every handle was found valid, as Windows does).
    wait_result(wait_signals(
        &sigs[..hs.len()],
        all,
        deadline_of(ms),
        alertable,
    ))
}

/// The state of the pseudo handle `(HANDLE)-1` (`GetCurrentProcess()`, the value of
/// INVALID_HANDLE_VALUE): the process, which is never signalled while it runs. A wait on it
/// times out (with INFINITE it never returns, as on Windows); two of them in a wait-all are
/// the same object.
fn current_process() -> &'static Signal {
    static PROCESS: OnceLock<Signal> = OnceLock::new();
    PROCESS.get_or_init(|| Signal::new(false, false))
}

/// `WaitForSingleObject`.
#[export_name = "npipe_WaitForSingleObject"]
pub extern "C" fn WaitForSingleObject(h: HANDLE, ms: DWORD) -> DWORD {
    WaitForSingleObjectEx(h, ms, FALSE)
}

/// `WaitForSingleObjectEx`.
#[export_name = "npipe_WaitForSingleObjectEx"]
pub extern "C" fn WaitForSingleObjectEx(h: HANDLE, ms: DWORD, alertable: BOOL) -> DWORD {
    if h == INVALID_HANDLE_VALUE || crate::threads::is_pseudo(h) {
        let hs = [h];
        // SAFETY: one readable handle.
        return unsafe { wait_multiple(1, hs.as_ptr(), TRUE, ms, alertable != 0) };
    }
    // A handle the thread's cache holds (an event, a pipe end) and that is set is waited on
    // through the cache: no reference count, no table guard (see `handles::with_entry`); so
    // is the help a wait gives the operation it waits for (a bounded spin, see
    // `engine::help`), which usually completes it. One that may block is waited on through a
    // reference of the wait's own, so the cache's hazard is not held while it sleeps (an event
    // closed meanwhile then drops as the wait ends).
    let deadline = deadline_of(ms);
    let alertable = alertable != 0;
    let blocking = handles::with_entry(h, Err(WAIT_FAILED), |e| {
        if !e.obj.is_waitable() {
            set_error(ERROR_INVALID_HANDLE);
            return Err(WAIT_FAILED);
        }
        let sig = e.wait_signal();
        if sig.set_locally() {
            return Err(wait_result(wait_signals(
                &[sig],
                false,
                deadline,
                alertable,
            )));
        }
        if !alertable && help_then_take(&[sig], None, deadline, false) {
            return Err(WAIT_OBJECT_0);
        }
        Ok(e.clone())
    });
    match blocking {
        // Helped already, unless alertable (the help then looks at the thread's routines too).
        Ok(e) => wait_result(wait_signals_as(
            &[e.wait_signal()],
            false,
            deadline,
            alertable,
            alertable,
        )),
        Err(r) => r,
    }
}

/// `WaitForMultipleObjects` (1 to MAXIMUM_WAIT_OBJECTS handles, else ERROR_INVALID_PARAMETER;
/// the same object twice in a wait-all is ERROR_INVALID_PARAMETER too).
///
/// # Safety
/// `handles` is valid for `count` reads.
#[export_name = "npipe_WaitForMultipleObjects"]
pub unsafe extern "C" fn WaitForMultipleObjects(
    count: DWORD,
    handles: *const HANDLE,
    all: BOOL,
    ms: DWORD,
) -> DWORD {
    // SAFETY: forwarded contract.
    unsafe { wait_multiple(count, handles, all, ms, false) }
}

/// `WaitForMultipleObjectsEx`.
///
/// # Safety
/// `handles` is valid for `count` reads.
#[export_name = "npipe_WaitForMultipleObjectsEx"]
pub unsafe extern "C" fn WaitForMultipleObjectsEx(
    count: DWORD,
    handles: *const HANDLE,
    all: BOOL,
    ms: DWORD,
    alertable: BOOL,
) -> DWORD {
    // SAFETY: forwarded contract.
    unsafe { wait_multiple(count, handles, all, ms, alertable != 0) }
}

/// `Sleep`.
#[export_name = "npipe_Sleep"]
pub extern "C" fn Sleep(ms: DWORD) {
    SleepEx(ms, FALSE);
}

/// `SleepEx`: 0 after the time, WAIT_IO_COMPLETION when alertable and APCs ran.
#[export_name = "npipe_SleepEx"]
pub extern "C" fn SleepEx(ms: DWORD, alertable: BOOL) -> DWORD {
    let deadline = deadline_of(ms);
    if alertable == 0 {
        match deadline {
            Some(d) => {
                let now = Instant::now();
                if d > now {
                    std::thread::sleep(d - now);
                }
            }
            None => loop {
                std::thread::park();
            },
        }
        return 0;
    }
    match wait_signals(&[], false, deadline, true) {
        Ok(Waited::Apc) => WAIT_IO_COMPLETION,
        _ => 0,
    }
}

/// Milliseconds since an arbitrary start (CLOCK_MONOTONIC, like the system uptime Windows
/// counts from).
fn tick_ms() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1000 + t.tv_nsec as u64 / 1_000_000
}

/// `GetTickCount`: wraps after 49.7 days, as on Windows.
#[export_name = "npipe_GetTickCount"]
pub extern "C" fn GetTickCount() -> DWORD {
    tick_ms() as DWORD
}

/// `QueryPerformanceFrequency`: the counter of QueryPerformanceCounter runs at 10 MHz, as on
/// current Windows; never fails.
///
/// # Safety
/// `freq` is null or writable.
#[export_name = "npipe_QueryPerformanceFrequency"]
pub unsafe extern "C" fn QueryPerformanceFrequency(freq: *mut i64) -> BOOL {
    if freq.is_null() {
        return fail(ERROR_NOACCESS);
    }
    // SAFETY: checked non-null above; writable by the caller's contract.
    unsafe { freq.write_unaligned(PERF_HZ) };
    TRUE
}

/// `QueryPerformanceCounter`: the monotonic clock in ticks of 100 ns (QueryPerformanceFrequency).
///
/// # Safety
/// `count` is null or writable.
#[export_name = "npipe_QueryPerformanceCounter"]
pub unsafe extern "C" fn QueryPerformanceCounter(count: *mut i64) -> BOOL {
    if count.is_null() {
        return fail(ERROR_NOACCESS);
    }
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let ticks = t.tv_sec as i64 * PERF_HZ + t.tv_nsec as i64 / (1_000_000_000 / PERF_HZ);
    // SAFETY: checked non-null above; writable by the caller's contract.
    unsafe { count.write_unaligned(ticks) };
    TRUE
}

/// The performance counter's frequency: 10 MHz, Windows' usual value.
const PERF_HZ: i64 = 10_000_000;

/// `GetTickCount64`.
#[export_name = "npipe_GetTickCount64"]
pub extern "C" fn GetTickCount64() -> u64 {
    tick_ms()
}
