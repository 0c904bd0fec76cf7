//! Thread-pool waits: `RegisterWaitForSingleObject`, `UnregisterWait` and `UnregisterWaitEx`,
//! with which a program (Qt's `QWinEventNotifier`, for one) has a callback run when an object
//! is signalled, or when a timeout passes, without a thread of its own.
//!
//! Each registration has a thread of the library's (`threads::spawn_service`) that waits on the
//! object and on the registration's cancel signal, as WaitForMultipleObjects does (so an
//! auto-reset event is taken by the wait that reports it), and calls the callback with FALSE
//! when the object was signalled, TRUE when the timeout passed. Without WT_EXECUTEONLYONCE it
//! waits again: a manual-reset object that stays signalled has its callback called over and
//! over, as on Windows. The registration holds a reference to the object's entry, so a handle
//! closed under it cannot leave the thread waiting on freed state.
//!
//! UnregisterWait stops it: no callback starts once it has returned; one that is running
//! finishes, and then the call fails with ERROR_IO_PENDING (the unregistration still holds).
//! UnregisterWaitEx with INVALID_HANDLE_VALUE waits for a running callback to return (unless
//! it is called from that callback), and with an event sets the event once none runs.
//! npipe departs: each registration has its thread (Windows shares a pool), and the WT_*
//! flags other than WT_EXECUTEONLYONCE only say where a callback may run, which changes nothing
//! here.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::handles::{self, Entry, Object};
use crate::sync::{deadline_of, wait_signals, Signal, Waited};
use crate::*;

/// `WT_EXECUTEONLYONCE`.
const WT_EXECUTEONLYONCE: u32 = 0x8;
/// `WAITORTIMERCALLBACK`.
pub(crate) type WaitCallback = unsafe extern "C" fn(*mut c_void, u8);

/// One registered wait (the handle RegisterWaitForSingleObject gives).
#[derive(Debug)]
pub(crate) struct Registration {
    /// Set by UnregisterWait(Ex): the thread leaves its wait.
    cancel: Signal,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Unregistered: no callback starts any more.
    cancelled: bool,
    /// A callback runs now, on the thread with this id.
    running: Option<u32>,
    /// The thread has left.
    finished: bool,
    /// What UnregisterWaitEx asked to be set once the thread has left.
    notify: Option<Arc<Entry>>,
}

impl Registration {
    /// Stops it: no callback starts from now on, and the thread leaves its wait (its handle's
    /// close, UnregisterWait(Ex)).
    pub(crate) fn stop(&self) {
        self.state().cancelled = true;
        self.cancel.set();
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // No code runs under the lock that can panic and leave the state half-changed.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Sets an event entry (what UnregisterWaitEx named).
fn set_event(e: &Entry) {
    if let Object::Event(ev) = &e.obj {
        ev.signal().set();
    }
}

/// The registration's thread: wait, call back, until cancelled (or once).
fn run(
    reg: Arc<Registration>,
    obj: Arc<Entry>,
    cb: WaitCallback,
    ctx: usize,
    ms: DWORD,
    once: bool,
) {
    let me = crate::threads::current_tid();
    loop {
        // The cancel signal first: when both are set, the unregistration wins.
        let timed_out = match wait_signals(
            &[&reg.cancel, obj.wait_signal()],
            false,
            deadline_of(ms),
            false,
        ) {
            Ok(Waited::Object(1)) => false,
            Ok(Waited::Timeout) => true,
            Ok(Waited::Apc) => continue,
            Ok(Waited::Object(_)) | Err(_) => break,
        };
        {
            let mut st = reg.state();
            if st.cancelled {
                break;
            }
            st.running = Some(me);
        }
        // SAFETY: the program's callback and context, called as RegisterWaitForSingleObject
        // documents (its contract: both stay valid until the wait is unregistered).
        unsafe { cb(ctx as *mut c_void, timed_out as u8) };
        reg.state().running = None;
        reg.changed.notify_all();
        if once {
            break;
        }
    }
    let notify = {
        let mut st = reg.state();
        st.finished = true;
        st.notify.take()
    };
    reg.changed.notify_all();
    if let Some(e) = notify {
        set_event(&e);
    }
}

/// `RegisterWaitForSingleObject`: `*wait` gets the registration's handle.
///
/// # Safety
/// `wait` is writable; `callback` and `context` stay valid until the wait is unregistered.
#[export_name = "npipe_RegisterWaitForSingleObject"]
pub unsafe extern "C" fn RegisterWaitForSingleObject(
    wait: *mut HANDLE,
    object: HANDLE,
    callback: Option<WaitCallback>,
    context: *mut c_void,
    ms: DWORD,
    flags: DWORD,
) -> BOOL {
    if wait.is_null() {
        return fail(ERROR_NOACCESS);
    }
    let Some(cb) = callback else {
        return fail(ERROR_INVALID_PARAMETER);
    };
    let Some(obj) = handles::get(object).filter(|e| e.obj.is_waitable()) else {
        return fail(ERROR_INVALID_HANDLE);
    };
    let reg = Arc::new(Registration {
        cancel: Signal::new(false, false),
        state: Mutex::new(State::default()),
        changed: Condvar::new(),
    });
    let h = handles::insert_obj(Object::Registered(reg.clone()));
    if h == INVALID_HANDLE_VALUE {
        return FALSE;
    }
    let (r, ctx, once) = (
        reg.clone(),
        context as usize,
        flags & WT_EXECUTEONLYONCE != 0,
    );
    if let Err(e) =
        crate::threads::spawn_service("npipe-wait", move || run(r, obj, cb, ctx, ms, once))
    {
        handles::CloseHandle(h);
        return fail_io(&e);
    }
    // SAFETY: non-null (checked) and writable (caller).
    unsafe { *wait = h };
    TRUE
}

/// Unregisters `h`; `completion` as UnregisterWaitEx takes it (NULL: do not wait).
fn unregister(h: HANDLE, completion: HANDLE) -> BOOL {
    let reg = match handles::with(h, None, |o| match o {
        Object::Registered(r) => Some(r.clone()),
        _ => None,
    }) {
        Some(r) => r,
        None => return fail(ERROR_INVALID_HANDLE),
    };
    let notify = if completion.is_null() || completion == INVALID_HANDLE_VALUE {
        None
    } else {
        match handles::get(completion) {
            Some(e) if matches!(e.obj, Object::Event(_)) => Some(e),
            _ => return fail(ERROR_INVALID_HANDLE),
        }
    };
    // The close stops it (`close_last`).
    handles::CloseHandle(h);
    let me = crate::threads::current_tid();
    let mut st = reg.state();
    if completion == INVALID_HANDLE_VALUE && st.running != Some(me) {
        // Wait for a running callback to return (not the caller's own: it would never).
        while st.running.is_some() {
            st = reg.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        return TRUE;
    }
    let running = st.running.is_some();
    if let Some(e) = notify {
        if st.finished || !running {
            drop(st);
            set_event(&e);
        } else {
            st.notify = Some(e);
        }
    }
    if running {
        // ERROR_IO_PENDING: a callback still runs; the wait is unregistered all the same.
        return fail(ERROR_IO_PENDING);
    }
    TRUE
}

/// `UnregisterWait`.
#[export_name = "npipe_UnregisterWait"]
pub extern "C" fn UnregisterWait(h: HANDLE) -> BOOL {
    unregister(h, std::ptr::null_mut())
}

/// `UnregisterWaitEx`: `completion` INVALID_HANDLE_VALUE waits for a running callback, an event
/// handle is set once none runs, NULL returns at once.
#[export_name = "npipe_UnregisterWaitEx"]
pub extern "C" fn UnregisterWaitEx(h: HANDLE, completion: HANDLE) -> BOOL {
    unregister(h, completion)
}
