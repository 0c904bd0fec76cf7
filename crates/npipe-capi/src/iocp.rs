//! I/O completion ports: `CreateIoCompletionPort`, `GetQueuedCompletionStatus(Ex)`,
//! `PostQueuedCompletionStatus` and `SetFileCompletionNotificationModes`.
//!
//! A port is a queue of completion packets (key, OVERLAPPED pointer, byte count, NTSTATUS) and a
//! [`Signal`] that is set while the queue holds one, so a thread waits for packets as for any
//! object (and may be alerted), and a port handle is waitable as Windows' is. A handle opened
//! with FILE_FLAG_OVERLAPPED and associated with a port (its [`Binding`], set once) queues a
//! packet for each of its overlapped operations as it completes (`overlapped::finish_signals`):
//! - the key and the OVERLAPPED pointer come back for connect, read and write (W105);
//! - a failure found inside the call queues nothing (W50, W105), and neither does an operation
//!   whose OVERLAPPED's hEvent has its low bit set when it is issued (documented for
//!   GetQueuedCompletionStatus); one with a completion routine reports there only;
//! - a success inside the call queues one too, unless FILE_SKIP_COMPLETION_PORT_ON_SUCCESS is
//!   set (W105);
//! - a partial message read inside the call is reported pending and its packet carries
//!   STATUS_BUFFER_OVERFLOW (W72, Windows 8 and later), so GetQueuedCompletionStatus fails it
//!   with ERROR_MORE_DATA and the byte count.
//!
//! The handle is signalled on completion as without a port (W26), except with
//! FILE_SKIP_SET_EVENT_ON_HANDLE. A port-bound handle takes no completion routines
//! (ReadFileEx and WriteFileEx give ERROR_INVALID_PARAMETER, as NtReadFile with an APC on such a
//! file), and its pending operations survive the exit of the thread that issued them (Windows
//! cancels a thread's I/O at its exit only on handles without a port). Packets are handed out
//! first in, first out; the concurrency value is accepted and not enforced (no thread is held
//! back when more than that many run).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use crate::forklock::{ForkGuard, ForkLock};
use crate::handles::{self, Entry, Object};
use crate::overlapped::{status, OvPtr, OVERLAPPED};
use crate::sync::{deadline_of, wait_signals, Signal, Waited, WAIT_IO_COMPLETION, WAIT_TIMEOUT};
use crate::*;

/// `ERROR_ABANDONED_WAIT_0`: the port's handle was closed while the caller waited on it.
const ERROR_ABANDONED_WAIT_0: DWORD = 735;
/// `FILE_SKIP_COMPLETION_PORT_ON_SUCCESS`.
pub(crate) const SKIP_PORT_ON_SUCCESS: u8 = 1;
/// `FILE_SKIP_SET_EVENT_ON_HANDLE`.
pub(crate) const SKIP_SET_EVENT_ON_HANDLE: u8 = 2;
/// `FILE_SKIP_SET_USER_EVENT_ON_FAST_IO`.
const SKIP_USER_EVENT_ON_FAST_IO: u8 = 4;

/// One completion packet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Packet {
    key: usize,
    /// The OVERLAPPED's address (only handed back: the program owns it).
    ov: usize,
    bytes: u32,
    status: u32,
}

/// A completion port (see the module docs).
#[derive(Debug)]
pub(crate) struct Port {
    /// A lock a forked child takes over (`forklock`), as the handles' operation queues.
    packets: ForkLock<VecDeque<Packet>>,
    /// Set while `packets` holds one (changed under its lock), and once the port is closed.
    ready: Signal,
    /// The port's last handle was closed: its waiters leave with ERROR_ABANDONED_WAIT_0.
    closed: AtomicBool,
}

impl Port {
    fn new() -> Port {
        Port {
            packets: ForkLock::default(),
            ready: Signal::new(false, false),
            closed: AtomicBool::new(false),
        }
    }

    fn queue(&self) -> ForkGuard<'_, VecDeque<Packet>> {
        self.packets.lock()
    }

    fn post(&self, p: Packet) {
        let mut q = self.queue();
        q.push_back(p);
        self.ready.set();
    }

    /// Takes up to `max` packets, oldest first.
    fn take(&self, max: usize, out: &mut Vec<Packet>) {
        let mut q = self.queue();
        let n = max.min(q.len());
        out.extend(q.drain(..n));
        if q.is_empty() && !self.closed.load(Ordering::Acquire) {
            self.ready.reset();
        }
    }

    /// What a wait on the port's handle waits for: a packet queued.
    pub(crate) fn signal(&self) -> &Signal {
        &self.ready
    }

    /// The port's last handle is closed: threads waiting on it leave.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let _q = self.queue();
        self.ready.set();
    }
}

/// A handle's association with a port (CreateIoCompletionPort on a file handle).
#[derive(Debug)]
pub(crate) struct Binding {
    port: Arc<Port>,
    key: usize,
}

/// A handle's completion settings: its port, once associated, and the notification modes.
#[derive(Debug, Default)]
pub(crate) struct Completion {
    binding: OnceLock<Binding>,
    modes: AtomicU8,
}

impl Completion {
    /// Whether the handle is associated with a port.
    pub(crate) fn bound(&self) -> bool {
        self.binding.get().is_some()
    }

    /// Whether completions leave the handle's own signal alone.
    pub(crate) fn skips_handle_signal(&self) -> bool {
        self.modes.load(Ordering::Relaxed) & SKIP_SET_EVENT_ON_HANDLE != 0
    }

    /// Whether an operation that completed inside its call with status `st` queues a packet.
    pub(crate) fn queues_at_once(&self, st: u32) -> bool {
        self.bound()
            && !(st == status::SUCCESS
                && self.modes.load(Ordering::Relaxed) & SKIP_PORT_ON_SUCCESS != 0)
    }

    /// Queues the packet of an operation of this handle that completed, when the handle is
    /// bound. Only the OVERLAPPED's address is kept: the caller decided (with
    /// [`wants_packet`], when the operation was issued) that it gets a packet.
    pub(crate) fn complete(&self, ov: OvPtr, st: u32, n: usize) {
        let Some(b) = self.binding.get() else {
            return;
        };
        b.port.post(Packet {
            key: b.key,
            ov: ov.0 as usize,
            bytes: n as u32,
            status: st,
        });
    }
}

/// Whether an operation issued with `ov` gets a packet from a bound handle: not when the low
/// bit of its hEvent is set. Read while the call that issues the operation runs.
pub(crate) fn wants_packet(ov: OvPtr) -> bool {
    ov.event_handle() as usize & 1 == 0
}

/// The port behind a handle, or ERROR_INVALID_HANDLE.
fn port_of(h: HANDLE) -> Result<Arc<Port>, DWORD> {
    handles::with(h, Err(ERROR_INVALID_HANDLE), |o| match o {
        Object::Port(p) => Ok(p.clone()),
        _ => Err(ERROR_INVALID_HANDLE),
    })
}

/// Binds `e` to `port` with `key`.
fn bind(e: &Entry, port: Arc<Port>, key: usize) -> Result<(), DWORD> {
    if !e.obj.is_file() {
        return Err(ERROR_INVALID_HANDLE);
    }
    // Completion ports serve asynchronous I/O only; a handle is bound once.
    if !e.overlapped {
        return Err(ERROR_INVALID_PARAMETER);
    }
    e.completion
        .binding
        .set(Binding { port, key })
        .map_err(|_| ERROR_INVALID_PARAMETER)
}

/// `CreateIoCompletionPort`: with `file` INVALID_HANDLE_VALUE, a new port (`existing` must be
/// NULL); otherwise binds `file` to `existing` (or to a new port when it is NULL) with `key`
/// and returns the port's handle. NULL on failure.
#[export_name = "npipe_CreateIoCompletionPort"]
pub extern "C" fn CreateIoCompletionPort(
    file: HANDLE,
    existing: HANDLE,
    key: usize,
    _threads: DWORD,
) -> HANDLE {
    let fail_null = |code: DWORD| {
        set_error(code);
        std::ptr::null_mut()
    };
    if file == INVALID_HANDLE_VALUE {
        if !existing.is_null() {
            return fail_null(ERROR_INVALID_PARAMETER);
        }
        return null_if_invalid(handles::insert_obj(Object::Port(Arc::new(Port::new()))));
    }
    let (port, handle) = if existing.is_null() {
        let port = Arc::new(Port::new());
        (port, None)
    } else {
        match port_of(existing) {
            Ok(p) => (p, Some(existing)),
            Err(code) => return fail_null(code),
        }
    };
    let bound = handles::with_entry(file, Err(ERROR_INVALID_HANDLE), |e| {
        bind(e, port.clone(), key)
    });
    if let Err(code) = bound {
        return fail_null(code);
    }
    match handle {
        Some(h) => h,
        // A full table (ERROR_NO_SYSTEM_RESOURCES) leaves the file bound to a port nobody can
        // read.
        None => null_if_invalid(handles::insert_obj(Object::Port(port))),
    }
}

/// CreateIoCompletionPort fails with NULL, where the table gives INVALID_HANDLE_VALUE (the
/// error set).
fn null_if_invalid(h: HANDLE) -> HANDLE {
    if h == INVALID_HANDLE_VALUE {
        std::ptr::null_mut()
    } else {
        h
    }
}

/// Waits until `port` has packets, its deadline passes, APCs ran (alertable) or it closes;
/// then takes up to `max`.
fn dequeue(
    port: &Port,
    max: usize,
    ms: DWORD,
    alertable: bool,
    out: &mut Vec<Packet>,
) -> Result<(), DWORD> {
    let deadline = deadline_of(ms);
    loop {
        if port.closed.load(Ordering::Acquire) {
            return Err(ERROR_ABANDONED_WAIT_0);
        }
        port.take(max, out);
        if !out.is_empty() {
            return Ok(());
        }
        match wait_signals(&[port.signal()], false, deadline, alertable) {
            Ok(Waited::Object(_)) => {}
            Ok(Waited::Apc) => return Err(WAIT_IO_COMPLETION),
            Ok(Waited::Timeout) => return Err(WAIT_TIMEOUT),
            Err(e) => return Err(npipe::win32_code(&e)),
        }
    }
}

/// `GetQueuedCompletionStatus`: the oldest packet of the port, waiting up to `ms`. TRUE for a
/// successful operation; FALSE with the operation's error and `*ov` set for a failed one (a
/// partial message: ERROR_MORE_DATA); FALSE with `*ov` NULL for a timeout (WAIT_TIMEOUT) or a
/// port closed meanwhile (ERROR_ABANDONED_WAIT_0).
///
/// # Safety
/// `bytes`, `key` and `ov` are null (ERROR_NOACCESS) or writable.
#[export_name = "npipe_GetQueuedCompletionStatus"]
pub unsafe extern "C" fn GetQueuedCompletionStatus(
    port: HANDLE,
    bytes: *mut DWORD,
    key: *mut usize,
    ov: *mut *mut OVERLAPPED,
    ms: DWORD,
) -> BOOL {
    if ov.is_null() {
        return fail(ERROR_NOACCESS);
    }
    // SAFETY: non-null (checked) and writable (caller). Every failure of the call itself (as
    // against a packet of a failed operation) leaves it NULL, as kernel32 does: a loop that
    // tells the two apart by it must not see the previous packet's again.
    unsafe { *ov = std::ptr::null_mut() };
    if bytes.is_null() || key.is_null() {
        return fail(ERROR_NOACCESS);
    }
    let port = match port_of(port) {
        Ok(p) => p,
        Err(code) => return fail(code),
    };
    let mut got = Vec::with_capacity(1);
    match dequeue(&port, 1, ms, false, &mut got) {
        Ok(()) => {
            let p = got[0];
            // SAFETY: non-null (checked) and writable (caller).
            unsafe {
                *bytes = p.bytes;
                *key = p.key;
                *ov = p.ov as *mut OVERLAPPED;
            }
            if p.status & 0x8000_0000 != 0 {
                // An error or a warning (a partial message): FALSE with its code.
                return fail(status::to_win32(p.status));
            }
            set_error(ERROR_SUCCESS);
            TRUE
        }
        Err(code) => fail(code),
    }
}

/// `OVERLAPPED_ENTRY`: one packet of GetQueuedCompletionStatusEx.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
#[allow(non_snake_case)]
pub struct OVERLAPPED_ENTRY {
    pub lpCompletionKey: usize,
    pub lpOverlapped: *mut OVERLAPPED,
    /// The operation's NTSTATUS.
    pub Internal: usize,
    pub dwNumberOfBytesTransferred: DWORD,
}

/// `GetQueuedCompletionStatusEx`: up to `count` packets at once (at least one, waiting up to
/// `ms`); FALSE with WAIT_TIMEOUT, with WAIT_IO_COMPLETION when an alertable wait ran APCs, or
/// ERROR_ABANDONED_WAIT_0 (and `*removed` 0).
///
/// # Safety
/// `entries` is writable for `count` entries; `removed` is writable.
#[export_name = "npipe_GetQueuedCompletionStatusEx"]
pub unsafe extern "C" fn GetQueuedCompletionStatusEx(
    port: HANDLE,
    entries: *mut OVERLAPPED_ENTRY,
    count: u32,
    removed: *mut u32,
    ms: DWORD,
    alertable: BOOL,
) -> BOOL {
    if count == 0 {
        return fail(ERROR_INVALID_PARAMETER);
    }
    if entries.is_null() || removed.is_null() {
        return fail(ERROR_NOACCESS);
    }
    let port = match port_of(port) {
        Ok(p) => p,
        Err(code) => return fail(code),
    };
    let mut got = Vec::new();
    let r = dequeue(&port, count as usize, ms, alertable != 0, &mut got);
    // SAFETY: writable (caller).
    unsafe { *removed = got.len() as u32 };
    for (i, p) in got.iter().enumerate() {
        // SAFETY: i < count entries, writable (caller).
        unsafe {
            entries.add(i).write(OVERLAPPED_ENTRY {
                lpCompletionKey: p.key,
                lpOverlapped: p.ov as *mut OVERLAPPED,
                Internal: p.status as usize,
                dwNumberOfBytesTransferred: p.bytes,
            })
        };
    }
    match r {
        Ok(()) => {
            set_error(ERROR_SUCCESS);
            TRUE
        }
        Err(code) => fail(code),
    }
}

/// `PostQueuedCompletionStatus`: queues a packet of the caller's (a successful status).
#[export_name = "npipe_PostQueuedCompletionStatus"]
pub extern "C" fn PostQueuedCompletionStatus(
    port: HANDLE,
    bytes: DWORD,
    key: usize,
    ov: *mut OVERLAPPED,
) -> BOOL {
    match port_of(port) {
        Ok(p) => {
            p.post(Packet {
                key,
                ov: ov as usize,
                bytes,
                status: status::SUCCESS,
            });
            TRUE
        }
        Err(code) => fail(code),
    }
}

/// `SetFileCompletionNotificationModes` on a handle opened for overlapped I/O (a synchronous
/// one: ERROR_INVALID_PARAMETER): FILE_SKIP_COMPLETION_PORT_ON_SUCCESS,
/// FILE_SKIP_SET_EVENT_ON_HANDLE (which also leaves the handle unsignalled from now on, W26)
/// and FILE_SKIP_SET_USER_EVENT_ON_FAST_IO (accepted: npipe has no fast I/O path that would skip
/// the event); other bits: ERROR_INVALID_PARAMETER. The modes stay set.
#[export_name = "npipe_SetFileCompletionNotificationModes"]
pub extern "C" fn SetFileCompletionNotificationModes(h: HANDLE, flags: u8) -> BOOL {
    if flags & !(SKIP_PORT_ON_SUCCESS | SKIP_SET_EVENT_ON_HANDLE | SKIP_USER_EVENT_ON_FAST_IO) != 0
    {
        return fail(ERROR_INVALID_PARAMETER);
    }
    handles::with_entry(h, FALSE, |e| {
        if !e.obj.is_file() {
            return fail(ERROR_INVALID_HANDLE);
        }
        if !e.overlapped {
            return fail(ERROR_INVALID_PARAMETER);
        }
        e.completion.modes.fetch_or(flags, Ordering::Relaxed);
        if flags & SKIP_SET_EVENT_ON_HANDLE != 0 {
            // Unsignalled from now on (Wine's test_completion, which runs on Windows).
            e.observe();
            e.signal.reset();
        }
        TRUE
    })
}
