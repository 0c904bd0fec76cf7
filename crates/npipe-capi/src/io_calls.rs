//! File I/O on every kind of handle: ReadFile, WriteFile, FlushFileBuffers (and, with
//! `overlapped`, their asynchronous forms).

use std::io::{Read, Write};

use crate::handles::{not_pipe, with, Object};
use crate::overlapped::{finish_read, status, OVERLAPPED};
use crate::*;

/// `ReadFile` on a pipe handle.
///
/// # Safety
/// `buffer` is valid for `size` bytes of writing; `read` and `ov` are null or writable.
#[no_mangle]
pub unsafe extern "C" fn ReadFile(
    h: HANDLE,
    buffer: *mut c_void,
    size: DWORD,
    read: *mut DWORD,
    ov: *mut OVERLAPPED,
) -> BOOL {
    // SAFETY: read is null or writable (caller).
    unsafe { put(read, 0) };
    with(h, FALSE, |o| {
        // SAFETY: buffer is valid for size bytes (caller). Checked after the handle, as
        // Windows does.
        let Some(b) = (unsafe { buf_mut(buffer, size) }) else {
            return fail(ERROR_NOACCESS);
        };
        let r = match o {
            Object::Server(s) => s.recv_msg(b),
            Object::Client(c) => c.recv_msg(b),
            Object::Mailslot(m) => m.read(b).map(|n| MsgLen { read: n, left: 0 }),
            Object::AnonRead(r) => match (&*r).read(b) {
                // W137: end of file once every write end is closed.
                Ok(0) if !b.is_empty() => Err(npipe::Error::io(
                    ERROR_BROKEN_PIPE,
                    "every write end of the anonymous pipe is closed",
                )),
                Ok(n) => Ok(MsgLen { read: n, left: 0 }),
                Err(e) => Err(e),
            },
            Object::Event(_) | Object::Thread(_) => Err(npipe::Error::io(
                ERROR_INVALID_HANDLE,
                "the handle is not a file, pipe or mailslot",
            )),
            Object::MailslotWriter(_) | Object::AnonWrite(_) => Err(npipe::Error::io(
                ERROR_ACCESS_DENIED,
                "the handle is a write end",
            )),
        };
        // SAFETY: forwarded contract.
        unsafe { finish_read(r, read, ov) }
    })
}

/// `WriteFile` on a pipe handle.
///
/// # Safety
/// `buffer` is valid for `size` bytes of reading; `written` and `ov` are null or writable.
#[no_mangle]
pub unsafe extern "C" fn WriteFile(
    h: HANDLE,
    buffer: *const c_void,
    size: DWORD,
    written: *mut DWORD,
    ov: *mut OVERLAPPED,
) -> BOOL {
    // SAFETY: written is null or writable (caller).
    unsafe { put(written, 0) };
    with(h, FALSE, |o| {
        // SAFETY: buffer is valid for size bytes (caller). Checked after the handle, as
        // Windows does.
        let Some(b) = (unsafe { buf(buffer, size) }) else {
            return fail(ERROR_NOACCESS);
        };
        let r = match o {
            Object::Server(s) => s.send_msg(b),
            Object::Client(c) => c.send_msg(b),
            Object::MailslotWriter(w) => (&*w).write(b),
            Object::AnonWrite(w) => (&*w).write(b),
            // W147: the mailslot (server) handle cannot write.
            Object::Event(_) | Object::Thread(_) => Err(npipe::Error::io(
                ERROR_INVALID_HANDLE,
                "the handle is not a file, pipe or mailslot",
            )),
            Object::Mailslot(_) | Object::AnonRead(_) => Err(npipe::Error::io(
                ERROR_ACCESS_DENIED,
                "the handle is a read end",
            )),
        };
        match r {
            Ok(n) => {
                // SAFETY: written and ov are null or writable (caller).
                unsafe {
                    put(written, n as DWORD);
                    if !ov.is_null() {
                        (*ov).internal = status::SUCCESS as usize;
                        (*ov).internal_high = n;
                    }
                }
                TRUE
            }
            Err(e) => fail_io(&e),
        }
    })
}

/// `FlushFileBuffers`.
#[no_mangle]
pub extern "C" fn FlushFileBuffers(h: HANDLE) -> BOOL {
    with(h, FALSE, |o| {
        let r = match o {
            Object::Server(s) => s.flush_buffers(),
            Object::Client(c) => c.flush_buffers(),
            Object::AnonWrite(w) => w.flush_buffers(),
            _ => not_pipe(),
        };
        match r {
            Ok(()) => TRUE,
            Err(e) => fail_io(&e),
        }
    })
}

