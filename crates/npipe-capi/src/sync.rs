//! Waitable state and the wait functions: [`Signal`] (the signalled state every waitable
//! object has, with a descriptor that polls readable while it is set), events
//! (`CreateEvent`, `OpenEvent`, `SetEvent`, `ResetEvent`, `PulseEvent`), and
//! `WaitForSingleObject(Ex)`, `WaitForMultipleObjects(Ex)`, `Sleep`, `SleepEx`.
//!
//! A wait polls the descriptors of the objects it waits for (plus the thread's APC descriptor
//! when alertable) and then takes the state under each signal's lock, so an auto-reset event
//! releases exactly one waiter and a wait-all takes every object at once or none.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use rustix::event::{eventfd, poll, EventfdFlags, PollFd, PollFlags, Timespec};

use crate::handles::{self, Object};
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

/// A signalled / not-signalled state with a pollable descriptor. Auto-reset signals are
/// consumed by the wait that takes them.
#[derive(Debug)]
pub(crate) struct Signal {
    auto: bool,
    /// Whether it is set. Every change happens under this lock, together with the matching
    /// change of the eventfd's counter, which is therefore 1 exactly while the state is set.
    set: Mutex<bool>,
    /// The eventfd, made on first need (a pipe handle nobody waits on costs no descriptor).
    fd: OnceLock<OwnedFd>,
}

fn eventfd_add(fd: &OwnedFd) {
    let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
}

fn eventfd_take(fd: &OwnedFd) {
    let mut b = [0u8; 8];
    let _ = rustix::io::read(fd, &mut b);
}

impl Signal {
    /// A signal, auto-reset or manual-reset, initially set or not.
    pub(crate) fn new(auto: bool, set: bool) -> Signal {
        Signal {
            auto,
            set: Mutex::new(set),
            fd: OnceLock::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, bool> {
        self.set.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the state (SetEvent).
    pub(crate) fn set(&self) {
        let mut s = self.lock();
        if !*s {
            *s = true;
            if let Some(fd) = self.fd.get() {
                eventfd_add(fd);
            }
        }
    }

    /// Clears the state (ResetEvent).
    pub(crate) fn reset(&self) {
        let mut s = self.lock();
        if *s {
            *s = false;
            if let Some(fd) = self.fd.get() {
                eventfd_take(fd);
            }
        }
    }

    /// Whether the state is set.
    pub(crate) fn is_set(&self) -> bool {
        *self.lock()
    }

    /// Takes the state for a satisfied wait: an auto-reset signal is cleared. False when it was
    /// not set.
    pub(crate) fn take(&self) -> bool {
        let mut s = self.lock();
        self.take_locked(&mut s)
    }

    fn take_locked(&self, s: &mut bool) -> bool {
        if !*s {
            return false;
        }
        if self.auto {
            *s = false;
            if let Some(fd) = self.fd.get() {
                eventfd_take(fd);
            }
        }
        true
    }

    /// The descriptor that polls readable while the state is set.
    pub(crate) fn fd(&self) -> io::Result<BorrowedFd<'_>> {
        if let Some(fd) = self.fd.get() {
            return Ok(fd.as_fd());
        }
        let s = self.lock();
        if self.fd.get().is_none() {
            let fd = eventfd(*s as u32, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK).map_err(
                |e| {
                    npipe::Error::io(
                        ERROR_NO_SYSTEM_RESOURCES,
                        format!("cannot make an eventfd for a wait: {e}"),
                    )
                },
            )?;
            let _ = self.fd.set(fd);
        }
        drop(s);
        Ok(self.fd.get().expect("made above").as_fd())
    }
}

/// An event object (CreateEvent).
#[derive(Debug)]
pub(crate) struct Event {
    signal: Signal,
    name: Option<String>,
}

impl Event {
    /// Its state.
    pub(crate) fn signal(&self) -> &Signal {
        &self.signal
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        if let Some(n) = &self.name {
            let mut names = names();
            if names.get(n).is_some_and(|w| w.strong_count() == 0) {
                names.remove(n);
            }
        }
    }
}

/// Named events of this process, by name. A name lives while a handle to its event is open.
fn names() -> MutexGuard<'static, HashMap<String, std::sync::Weak<Event>>> {
    static NAMES: OnceLock<Mutex<HashMap<String, std::sync::Weak<Event>>>> = OnceLock::new();
    NAMES
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

fn create_event(manual: BOOL, initial: BOOL, name: Option<String>) -> HANDLE {
    let made = match &name {
        None => Arc::new(Event {
            signal: Signal::new(manual == 0, initial != 0),
            name: None,
        }),
        Some(n) => {
            let mut names = names();
            if let Some(e) = names.get(n).and_then(|w| w.upgrade()) {
                drop(names);
                // The existing event, its own state and reset mode kept.
                let h = handles::insert_obj(Object::Event(e));
                if h == INVALID_HANDLE_VALUE {
                    return std::ptr::null_mut();
                }
                set_error(ERROR_ALREADY_EXISTS);
                return h;
            }
            let e = Arc::new(Event {
                signal: Signal::new(manual == 0, initial != 0),
                name: Some(n.clone()),
            });
            names.insert(n.clone(), Arc::downgrade(&e));
            e
        }
    };
    let h = handles::insert_obj(Object::Event(made));
    if h == INVALID_HANDLE_VALUE {
        return std::ptr::null_mut();
    }
    set_error(ERROR_SUCCESS);
    h
}

/// `CreateEventA`. Named events are shared by the handles of this process (npipe departs:
/// not across processes).
///
/// # Safety
/// `name` is null or a NUL-terminated string.
#[no_mangle]
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
#[no_mangle]
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
    let Some(name) = name else {
        set_error(ERROR_INVALID_PARAMETER);
        return std::ptr::null_mut();
    };
    let found = names().get(&name).and_then(|w| w.upgrade());
    match found {
        Some(e) => {
            let h = handles::insert_obj(Object::Event(e));
            if h == INVALID_HANDLE_VALUE {
                return std::ptr::null_mut();
            }
            set_error(ERROR_SUCCESS);
            h
        }
        None => {
            set_error(ERROR_FILE_NOT_FOUND);
            std::ptr::null_mut()
        }
    }
}

/// `OpenEventA`.
///
/// # Safety
/// `name` is null or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn OpenEventA(_access: DWORD, _inherit: BOOL, name: *const c_char) -> HANDLE {
    // SAFETY: forwarded contract.
    open_event(unsafe { name_a(name) })
}

/// `OpenEventW`.
///
/// # Safety
/// `name` is null or a NUL-terminated UTF-16 string.
#[no_mangle]
pub unsafe extern "C" fn OpenEventW(_access: DWORD, _inherit: BOOL, name: *const u16) -> HANDLE {
    // SAFETY: forwarded contract.
    open_event(unsafe { name_w(name) })
}

/// The event behind `h`, or the Win32 failure (ERROR_INVALID_HANDLE).
pub(crate) fn event_of(h: HANDLE) -> Option<Arc<Event>> {
    match handles::get(h).map(|e| match &e.obj {
        Object::Event(ev) => Some(ev.clone()),
        _ => None,
    }) {
        Some(Some(e)) => Some(e),
        _ => None,
    }
}

fn with_event(h: HANDLE, f: impl FnOnce(&Event)) -> BOOL {
    match event_of(h) {
        Some(e) => {
            f(&e);
            TRUE
        }
        None => fail(ERROR_INVALID_HANDLE),
    }
}

/// `SetEvent`.
#[no_mangle]
pub extern "C" fn SetEvent(h: HANDLE) -> BOOL {
    with_event(h, |e| e.signal.set())
}

/// `ResetEvent`.
#[no_mangle]
pub extern "C" fn ResetEvent(h: HANDLE) -> BOOL {
    with_event(h, |e| e.signal.reset())
}

/// `PulseEvent`: releases the waiters there are now (one for an auto-reset event), then
/// leaves the event reset. Waiters are released by a brief set, as on Windows, where the
/// documentation calls the function unreliable for the same reason.
#[no_mangle]
pub extern "C" fn PulseEvent(h: HANDLE) -> BOOL {
    with_event(h, |e| {
        e.signal.set();
        std::thread::yield_now();
        e.signal.reset();
    })
}

/// A deadline from a Win32 timeout (`None`: INFINITE).
pub(crate) fn deadline_of(ms: DWORD) -> Option<Instant> {
    (ms != INFINITE).then(|| Instant::now() + Duration::from_millis(ms as u64))
}

/// Polls `fds` (readable) until one is ready or `deadline` passes. Interrupted polls resume.
fn poll_until(fds: &mut [PollFd<'_>], deadline: Option<Instant>) {
    loop {
        let timeout = deadline.map(|d| {
            let left = d.saturating_duration_since(Instant::now());
            Timespec {
                tv_sec: left.as_secs() as i64,
                tv_nsec: left.subsec_nanos() as _,
            }
        });
        match poll(fds, timeout.as_ref()) {
            Err(rustix::io::Errno::INTR) => continue,
            _ => return,
        }
    }
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

/// Takes every signal of a wait-all at once or none: locks them in address order, checks
/// that all are set, then consumes the auto-reset ones.
fn take_all(sigs: &[&Signal]) -> bool {
    let mut order: Vec<&Signal> = sigs.to_vec();
    order.sort_by_key(|s| *s as *const Signal as usize);
    order.dedup_by_key(|s| *s as *const Signal as usize);
    let mut guards: Vec<(&Signal, MutexGuard<'_, bool>)> =
        order.iter().map(|s| (*s, s.lock())).collect();
    if !guards.iter().all(|(_, g)| **g) {
        return false;
    }
    for (s, g) in guards.iter_mut() {
        s.take_locked(g);
    }
    true
}

/// Waits for any (or all) of `sigs`, running the calling thread's queued APCs when
/// `alertable` (W104: only alertable waits run them).
pub(crate) fn wait_signals(
    sigs: &[&Signal],
    all: bool,
    deadline: Option<Instant>,
    alertable: bool,
) -> io::Result<Waited> {
    let apcs = alertable.then(crate::apc::current);
    loop {
        if let Some(q) = &apcs {
            if q.run_pending() {
                return Ok(Waited::Apc);
            }
        }
        if all {
            if take_all(sigs) {
                return Ok(Waited::Object(0));
            }
        } else if let Some(i) = sigs.iter().position(|s| s.take()) {
            return Ok(Waited::Object(i));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(Waited::Timeout);
        }
        let mut fds = Vec::with_capacity(sigs.len() + 1);
        for s in sigs {
            // A wait-all sleeps only on the objects not set yet: those set would wake it at
            // once, over and over.
            if all && s.is_set() {
                continue;
            }
            fds.push(PollFd::from_borrowed_fd(s.fd()?, PollFlags::IN));
        }
        if let Some(q) = &apcs {
            fds.push(PollFd::from_borrowed_fd(q.fd()?, PollFlags::IN));
        }
        if fds.is_empty() {
            // Wait-all with every object set but one taken by another thread in between:
            // look again.
            std::thread::yield_now();
            continue;
        }
        poll_until(&mut fds, deadline);
    }
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
    let mut entries = Vec::with_capacity(hs.len());
    for &h in hs {
        match crate::threads::waitable(h) {
            Some(e) => entries.push(e),
            None => {
                set_error(ERROR_INVALID_HANDLE);
                return WAIT_FAILED;
            }
        }
    }
    let sigs: Vec<&Signal> = entries.iter().map(|e| e.wait_signal()).collect();
    wait_result(wait_signals(&sigs, all != 0, deadline_of(ms), alertable))
}

/// `WaitForSingleObject`.
#[no_mangle]
pub extern "C" fn WaitForSingleObject(h: HANDLE, ms: DWORD) -> DWORD {
    WaitForSingleObjectEx(h, ms, FALSE)
}

/// `WaitForSingleObjectEx`.
#[no_mangle]
pub extern "C" fn WaitForSingleObjectEx(h: HANDLE, ms: DWORD, alertable: BOOL) -> DWORD {
    let hs = [h];
    // SAFETY: one readable handle.
    unsafe { wait_multiple(1, hs.as_ptr(), TRUE, ms, alertable != 0) }
}

/// `WaitForMultipleObjects` (at most MAXIMUM_WAIT_OBJECTS; 0 or more is ERROR_INVALID_PARAMETER).
///
/// # Safety
/// `handles` is valid for `count` reads.
#[no_mangle]
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
#[no_mangle]
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
#[no_mangle]
pub extern "C" fn Sleep(ms: DWORD) {
    SleepEx(ms, FALSE);
}

/// `SleepEx`: 0 after the time, WAIT_IO_COMPLETION when alertable and APCs ran.
#[no_mangle]
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
#[no_mangle]
pub extern "C" fn GetTickCount() -> DWORD {
    tick_ms() as DWORD
}

/// `GetTickCount64`.
#[no_mangle]
pub extern "C" fn GetTickCount64() -> u64 {
    tick_ms()
}
