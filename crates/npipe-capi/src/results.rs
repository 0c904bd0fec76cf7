//! Looking at and ending overlapped operations from outside: GetOverlappedResult(Ex), which
//! reads the OVERLAPPED and waits on its event or its handle when asked to (W106), and
//! CancelIo(Ex) (W97), which hand the operations to the engine's cancellation. How operations
//! start and complete is `overlapped.rs`.

use std::sync::Arc;

use crate::handles::{self, Entry};
use crate::overlapped::{event_of, status, OvPtr, OVERLAPPED};
use crate::sync::{self, Event, Signal, Waited};
use crate::*;

/// GetOverlappedResult(Ex): the OVERLAPPED alone says whether the operation is done and how it
/// ended; only a wait needs more: the caller's event, or (with none) the handle, which must
/// then be open (ERROR_INVALID_HANDLE otherwise, as the wait Windows makes would give).
fn wait_result(h: HANDLE, ov: OvPtr, count: *mut DWORD, ms: DWORD, alertable: bool) -> BOOL {
    // Done already (the usual call, after a wait or a completion port said so): reported
    // without the wait's set-up, its deadline's clock read included.
    if ov.status() != status::PENDING {
        return report(ov, count);
    }
    let deadline = sync::deadline_of(ms);
    /// What a wait of GetOverlappedResult waits on.
    enum On {
        Event(Arc<Event>),
        Handle(Arc<Entry>),
    }
    let mut on: Option<On> = None;
    let mut helped = false;
    loop {
        if ov.status() != status::PENDING {
            break;
        }
        if ms == 0 {
            return fail(ERROR_IO_INCOMPLETE);
        }
        if !helped {
            helped = true;
            if let Some(entry) = handles::get(h) {
                // The operation may complete within microseconds: see `engine::help`.
                let apcs = alertable.then(crate::apc::current);
                crate::engine::help(&entry, ov.0 as usize, &mut || {
                    apcs.as_ref().is_some_and(|q| q.queued())
                        || deadline.is_some_and(|d| std::time::Instant::now() >= d)
                });
                continue;
            }
        }
        if on.is_none() {
            on = Some(match event_of(ov) {
                Ok(Some(e)) => On::Event(e),
                Ok(None) => match handles::get(h) {
                    Some(entry) => On::Handle(entry),
                    None => return fail(ERROR_INVALID_HANDLE),
                },
                // An hEvent that is no event (closed, say): the wait fails.
                Err(()) => return fail(ERROR_INVALID_HANDLE),
            });
        }
        let sig: &Signal = match &on {
            Some(On::Event(e)) => e.signal(),
            Some(On::Handle(entry)) => entry.wait_signal(),
            None => return fail(ERROR_INVALID_HANDLE),
        };
        match sync::wait_signals_helped(&[sig], deadline, alertable) {
            Ok(Waited::Object(_)) => {
                if ov.status() == status::PENDING {
                    let queued =
                        handles::get(h).is_some_and(|e| crate::engine::holds(&e, ov.0 as usize));
                    if !queued {
                        // Signalled, and no operation of this handle will ever complete the
                        // OVERLAPPED: the caller set the event itself (as Microsoft's
                        // overlapped server does after ERROR_PIPE_CONNECTED, which leaves
                        // Internal at STATUS_PENDING, W40). Windows reads the OVERLAPPED once
                        // after its wait and counts a pending status as success.
                        break;
                    }
                    // The signal was for another operation (an event or a handle shared by
                    // several, which Windows leaves to the caller): this one completes later,
                    // look again shortly.
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
            Ok(Waited::Apc) => return fail(WAIT_IO_COMPLETION_CODE),
            Ok(Waited::Timeout) => return fail(WAIT_TIMEOUT_CODE),
            Err(e) => return fail_io(&e),
        }
    }
    report(ov, count)
}

/// What GetOverlappedResult reports once the operation is done: the count, and the status as
/// its Win32 error.
fn report(ov: OvPtr, count: *mut DWORD) -> BOOL {
    let st = ov.status();
    let n = ov.count();
    // SAFETY: null or writable (GetOverlappedResultEx's caller).
    unsafe { put(count, n as DWORD) };
    match st {
        // Pending only after a wait that found no operation behind it (wait_result).
        status::SUCCESS | status::PENDING => TRUE,
        _ => fail(status::to_win32(st)),
    }
}

/// The Win32 error GetOverlappedResultEx sets when its wait ran APCs.
const WAIT_IO_COMPLETION_CODE: DWORD = 192;
/// The Win32 error GetOverlappedResultEx sets when its wait timed out.
const WAIT_TIMEOUT_CODE: DWORD = 258;

/// `GetOverlappedResult`.
///
/// # Safety
/// `ov` is a valid OVERLAPPED of an operation issued on `h`; `count` null or writable.
#[export_name = "npipe_GetOverlappedResult"]
pub unsafe extern "C" fn GetOverlappedResult(
    h: HANDLE,
    ov: *mut OVERLAPPED,
    count: *mut DWORD,
    wait: BOOL,
) -> BOOL {
    // SAFETY: forwarded contract.
    unsafe {
        GetOverlappedResultEx(
            h,
            ov,
            count,
            if wait != 0 { sync::INFINITE } else { 0 },
            FALSE,
        )
    }
}

/// `GetOverlappedResultEx` (W106): a timeout of 0 gives ERROR_IO_INCOMPLETE, an elapsed wait
/// WAIT_TIMEOUT, an alertable wait that ran APCs WAIT_IO_COMPLETION (as error codes).
///
/// # Safety
/// `ov` is a valid OVERLAPPED of an operation issued on `h`; `count` null or writable.
#[export_name = "npipe_GetOverlappedResultEx"]
pub unsafe extern "C" fn GetOverlappedResultEx(
    h: HANDLE,
    ov: *mut OVERLAPPED,
    count: *mut DWORD,
    ms: DWORD,
    alertable: BOOL,
) -> BOOL {
    if ov.is_null() {
        return fail(ERROR_INVALID_PARAMETER);
    }
    wait_result(h, OvPtr(ov), count, ms, alertable != 0)
}

/// `CancelIo`: cancels the overlapped operations the calling thread issued on `h`.
#[export_name = "npipe_CancelIo"]
pub extern "C" fn CancelIo(h: HANDLE) -> BOOL {
    handles::with_entry(h, FALSE, |e| {
        crate::engine::cancel(e, None, Some(crate::threads::current_tid()), false);
        TRUE
    })
}

/// `CancelIoEx`: cancels the operation using `ov` (or, with NULL, every overlapped operation of
/// `h`, whichever thread issued it); ERROR_NOT_FOUND when there was none (W97).
///
/// # Safety
/// `ov` is null or the address of an OVERLAPPED (it is only compared).
#[export_name = "npipe_CancelIoEx"]
pub unsafe extern "C" fn CancelIoEx(h: HANDLE, ov: *mut OVERLAPPED) -> BOOL {
    handles::with_entry(h, FALSE, |e| {
        let which = (!ov.is_null()).then_some(OvPtr(ov));
        if crate::engine::cancel(e, which, None, false) == 0 {
            return fail(ERROR_NOT_FOUND);
        }
        TRUE
    })
}
