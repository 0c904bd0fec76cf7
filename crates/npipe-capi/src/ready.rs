//! Readiness descriptors for a caller's own event loop (an npipe extension): `npipe_ready_fd`,
//! `npipe_arm`, and the WaitNamedPipe that never blocks (`npipe_wait_named_pipe_start`,
//! `npipe_wait_named_pipe_poll`). The mechanisms are the core's: a pipe end's readiness
//! descriptor (`npipe::nonblocking::Readiness`, which only this process holds) armed through
//! `npipe::nonblocking::Interest`, and `npipe::nonblocking::PipeWait`.
//!
//! The loop's operations are the PIPE_NOWAIT calls (ReadFile, WriteFile, ConnectNamedPipe),
//! which never wait (W107-W111); this module only says when to call them again.

use std::os::fd::{AsFd, AsRawFd};
use std::sync::Mutex;
use std::task::Poll;

use npipe::nonblocking::{Interest, PipeWait};

use crate::handles::{self, with, Entry, Object};
use crate::*;

/// `NPIPE_READY_CONNECT`, as `npipe::nonblocking::Interest::CONNECT`.
const CONNECT: DWORD = 4;

/// The object of a handle made by `npipe_wait_named_pipe_start`.
#[derive(Debug)]
pub(crate) struct Wait(Mutex<PipeWait>);

impl Wait {
    fn lock(&self) -> std::sync::MutexGuard<'_, PipeWait> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `npipe_ready_fd`: the readiness descriptor of a named pipe end, or of a wait made by
/// `npipe_wait_named_pipe_start`. The handle keeps owning it. -1 with ERROR_INVALID_HANDLE for
/// a handle that is not open or of another kind; the error that kept it from being made.
#[no_mangle]
pub extern "C" fn npipe_ready_fd(h: HANDLE) -> i32 {
    let r = with(h, None, |o| match o {
        Object::Server(s) => Some(s.readiness().map(|r| r.as_fd().as_raw_fd())),
        Object::Client(c) => Some(c.readiness().map(|r| r.as_fd().as_raw_fd())),
        Object::Wait(w) => Some(Ok(w.lock().as_fd().as_raw_fd())),
        _ => {
            set_error(ERROR_INVALID_HANDLE);
            None
        }
    });
    match r {
        Some(Ok(fd)) => fd,
        Some(Err(e)) => {
            fail_io(&e);
            -1
        }
        None => -1,
    }
}

/// `npipe_arm`: clears the end's readiness descriptor, arms it for `events`, and signals it at
/// once when one of them holds already. FALSE with ERROR_INVALID_PARAMETER for no event, an
/// unknown bit or NPIPE_READY_CONNECT on a client; ERROR_INVALID_HANDLE for a handle that is
/// not a named pipe end; ERROR_INVALID_FUNCTION while overlapped operations are pending on it
/// (the engine clears the same descriptor).
#[no_mangle]
pub extern "C" fn npipe_arm(h: HANDLE, events: DWORD) -> BOOL {
    handles::with_entry(h, FALSE, |e| {
        let Some(interest) = Interest::from_bits(events).filter(|_| events != 0) else {
            return fail(ERROR_INVALID_PARAMETER);
        };
        if !matches!(e.obj, Object::Server(_) | Object::Client(_)) {
            return fail(ERROR_INVALID_HANDLE);
        }
        if matches!(e.obj, Object::Client(_)) && events & CONNECT != 0 {
            return fail(ERROR_INVALID_PARAMETER);
        }
        if pending(e) {
            return fail(ERROR_INVALID_FUNCTION);
        }
        let r = match &e.obj {
            Object::Server(s) => s.arm(interest),
            Object::Client(c) => c.arm(interest),
            _ => return fail(ERROR_INVALID_HANDLE),
        };
        match r {
            Ok(()) => TRUE,
            Err(err) => fail_io(&err),
        }
    })
}

/// Whether overlapped operations of this handle are still pending.
fn pending(e: &Entry) -> bool {
    e.overlapped && e.io.any_outstanding()
}

/// `npipe_wait_named_pipe_start`: WaitNamedPipeA that returns at once with a handle whose
/// `npipe_ready_fd` polls readable when `npipe_wait_named_pipe_poll` may have its answer.
///
/// # Safety
/// `name` is null or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn npipe_wait_named_pipe_start(
    name: *const c_char,
    timeout: DWORD,
) -> HANDLE {
    // SAFETY: null or NUL-terminated (caller).
    let Some(name) = (unsafe { name_a(name) }) else {
        set_error(ERROR_INVALID_PARAMETER);
        return INVALID_HANDLE_VALUE;
    };
    match PipeWait::start(&name, WaitFor::from_win32(timeout)) {
        Ok(w) => handles::insert_obj(Object::Wait(Wait(Mutex::new(w)))),
        Err(e) => {
            fail_io(&e);
            INVALID_HANDLE_VALUE
        }
    }
}

/// `npipe_wait_named_pipe_poll`: TRUE once an instance listens (and at every later call);
/// FALSE with ERROR_IO_INCOMPLETE while waiting, ERROR_SEM_TIMEOUT after the deadline,
/// ERROR_FILE_NOT_FOUND when the pipe went away, ERROR_INVALID_HANDLE for a handle that is not
/// such a wait.
#[no_mangle]
pub extern "C" fn npipe_wait_named_pipe_poll(h: HANDLE) -> BOOL {
    with(h, FALSE, |o| {
        let Object::Wait(w) = o else {
            return fail(ERROR_INVALID_HANDLE);
        };
        let r = w.lock().poll();
        match r {
            Poll::Ready(Ok(())) => TRUE,
            Poll::Ready(Err(e)) => fail_io(&e),
            Poll::Pending => fail(ERROR_IO_INCOMPLETE),
        }
    })
}
