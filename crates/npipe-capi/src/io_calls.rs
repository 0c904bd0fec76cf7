//! File I/O on every kind of handle: ReadFile, WriteFile, ReadFileEx, WriteFileEx,
//! FlushFileBuffers.
//!
//! On a handle opened with FILE_FLAG_OVERLAPPED, a pipe end's ReadFile and WriteFile with an
//! OVERLAPPED go through `overlapped::issue` (at once when they can, else pending); everything
//! else runs inside the call, and an OVERLAPPED given with it is filled in as Windows does
//! (W69). Mailslot and anonymous pipe handles are synchronous, as CreateMailslot and CreatePipe
//! make them on Windows.

use std::io::{Read, Write};
use std::sync::Arc;

use crate::handles::{not_pipe, with_entry, Entry, Object};
use crate::overlapped::{self, Buf, Call, Op, Routine, OVERLAPPED};
use crate::*;

/// The call programs make most, kept short: a ReadFile or WriteFile without an OVERLAPPED on a
/// pipe end this thread's lookup cache holds (`lookup`), whose handle's signal nothing has
/// looked at (`Entry::observed`), with a buffer. It makes the same calls the general path
/// makes for that case ([`read_file`] with a null OVERLAPPED) and finishes the same way; what
/// it leaves out is only the dispatch over every kind of handle and OVERLAPPED, which the
/// general path pays on every call. (One function for both, with the pipe call passed in,
/// measured 20 instructions more per write and read pair.)
///
/// `None`: not that case, and nothing was done; the general path takes the call.
///
/// # Safety
/// `buffer` is valid for `size` bytes of writing; `read` is null or writable.
#[inline(always)]
unsafe fn quick_read(
    h: HANDLE,
    buffer: *mut c_void,
    size: DWORD,
    read: *mut DWORD,
) -> Option<BOOL> {
    let r = crate::lookup::with_cached(h as usize, |e| {
        if e.is_observed() {
            return None;
        }
        // SAFETY: valid for size bytes (caller); None for a null pointer with a size.
        let b = unsafe { buf_mut(buffer, size) }?;
        let r = match &e.obj {
            Object::Server(s) => s.recv_msg(b),
            Object::Client(c) => c.recv_msg(b),
            _ => return None,
        };
        // SAFETY: read is null or writable (caller); no OVERLAPPED.
        let ret = unsafe { overlapped::finish_sync(e, r, read, std::ptr::null_mut()) };
        overlapped::settle_for(&e.obj);
        Some(ret)
    });
    r.ok().flatten()
}

/// [`quick_read`] for WriteFile: the general path's [`write_file`] with a null OVERLAPPED.
///
/// # Safety
/// `buffer` is valid for `size` bytes of reading; `written` is null or writable.
#[inline(always)]
unsafe fn quick_write(
    h: HANDLE,
    buffer: *const c_void,
    size: DWORD,
    written: *mut DWORD,
) -> Option<BOOL> {
    let r = crate::lookup::with_cached(h as usize, |e| {
        if e.is_observed() {
            return None;
        }
        // SAFETY: valid for size bytes (caller); None for a null pointer with a size.
        let b = unsafe { buf(buffer, size) }?;
        let r = match &e.obj {
            Object::Client(c) => c.send_msg(b),
            Object::Server(s) => s.send_msg(b),
            _ => return None,
        };
        let r = r.map(|n| MsgLen::new(n, 0));
        // SAFETY: written is null or writable (caller); no OVERLAPPED.
        let ret = unsafe { overlapped::finish_sync(e, r, written, std::ptr::null_mut()) };
        overlapped::settle_for(&e.obj);
        Some(ret)
    });
    r.ok().flatten()
}

fn not_file<T>() -> io::Result<T> {
    Err(npipe::Error::io(
        ERROR_INVALID_HANDLE,
        "the handle is not a file, pipe or mailslot",
    ))
}

/// A synchronous read on any kind of handle; `at` is the offset an OVERLAPPED gives a file.
#[inline(always)]
fn read_now(o: &Object, b: &mut [u8], at: Option<u64>) -> io::Result<MsgLen> {
    match o {
        Object::File(f) => f.read(b, at).map(|n| MsgLen::new(n, 0)),
        Object::Server(s) => s.recv_msg(b),
        Object::Client(c) => c.recv_msg(b),
        Object::Mailslot(m) => m.read(b).map(|n| MsgLen::new(n, 0)),
        Object::AnonRead(r) => match (&*r).read(b) {
            // W137: end of file once every write end is closed.
            Ok(0) if !b.is_empty() => Err(npipe::Error::io(
                ERROR_BROKEN_PIPE,
                "every write end of the anonymous pipe is closed",
            )),
            Ok(n) => Ok(MsgLen::new(n, 0)),
            Err(e) => Err(e),
        },
        Object::Event(_)
        | Object::Thread(_)
        | Object::Process(_)
        | Object::Find(_)
        | Object::Wait(_)
        | Object::Port(_)
        | Object::Registered(_)
        | Object::Token(_) => not_file(),
        Object::MailslotWriter(_) | Object::AnonWrite(_) => Err(npipe::Error::io(
            ERROR_ACCESS_DENIED,
            "the handle is a write end",
        )),
    }
}

/// A synchronous write on any kind of handle; `at` is the offset an OVERLAPPED gives a file.
#[inline(always)]
fn write_now(o: &Object, b: &[u8], at: Option<u64>) -> io::Result<MsgLen> {
    let n = match o {
        Object::File(f) => f.write(b, at),
        Object::Server(s) => s.send_msg(b),
        Object::Client(c) => c.send_msg(b),
        Object::MailslotWriter(w) => (&*w).write(b),
        Object::AnonWrite(w) => (&*w).write(b),
        Object::Event(_)
        | Object::Thread(_)
        | Object::Process(_)
        | Object::Find(_)
        | Object::Wait(_)
        | Object::Port(_)
        | Object::Registered(_)
        | Object::Token(_) => not_file(),
        // W147: the mailslot (server) handle cannot write.
        Object::Mailslot(_) | Object::AnonRead(_) => Err(npipe::Error::io(
            ERROR_ACCESS_DENIED,
            "the handle is a read end",
        )),
    }?;
    Ok(MsgLen::new(n, 0))
}

/// Whether a call on this handle with an OVERLAPPED goes through the engine: a pipe end opened
/// with FILE_FLAG_OVERLAPPED, not in PIPE_NOWAIT mode (whose calls never wait, W107).
fn steps(e: &Entry) -> bool {
    e.overlapped
        && match &e.obj {
            Object::Server(s) => !s.is_nowait(),
            Object::Client(c) => !c.is_nowait(),
            _ => false,
        }
}

/// A plain call with an OVERLAPPED on an overlapped handle that completes inside the call is
/// reported as an overlapped operation (`overlapped::issue_done`) when the handle is bound to a
/// completion port, so its packet is queued (W105).
fn bound_plain(e: &Entry) -> Option<Call> {
    (e.overlapped && e.completion.bound()).then_some(Call::Plain)
}

/// ReadFile and ReadFileEx.
///
/// # Safety
/// `buffer` valid for `size` bytes of writing until the operation completes; `read` null or
/// writable; `ov` null or a valid OVERLAPPED that stays valid until completion.
#[inline(always)]
unsafe fn read_file(
    e: &Arc<Entry>,
    buffer: *mut c_void,
    size: DWORD,
    read: *mut DWORD,
    ov: *mut OVERLAPPED,
    call: Option<Call>,
) -> BOOL {
    if size > 0 && buffer.is_null() {
        // Checked after the handle, as Windows does.
        return fail(ERROR_NOACCESS);
    }
    if !ov.is_null() && steps(e) {
        let op = Op::Read {
            buf: Buf::new(buffer, size),
            op: Default::default(),
        };
        // SAFETY: forwarded contract.
        return unsafe { overlapped::issue(e, ov, op, call.unwrap_or(Call::Plain), read) };
    }
    // SAFETY: valid for size bytes (caller); non-null when size > 0 (checked).
    let Some(b) = (unsafe { buf_mut(buffer, size) }) else {
        return fail(ERROR_NOACCESS);
    };
    // SAFETY: ov null or valid (caller).
    let at = unsafe { crate::files::offset_of(ov) };
    if let (Some(call), false) = (call.or_else(|| bound_plain(e)), ov.is_null()) {
        // An Ex call on a PIPE_NOWAIT overlapped handle: done at once, the routine queued; or
        // any call on an overlapped handle bound to a completion port (a file, a mailslot
        // writer, a PIPE_NOWAIT pipe), whose packet reports it.
        let r = read_now(&e.obj, b, at);
        // SAFETY: forwarded contract.
        return unsafe { overlapped::issue_done(e, ov, r, call, read) };
    }
    // SAFETY: ov null or valid (caller).
    unsafe { overlapped::begin_sync(e, ov) };
    let r = read_now(&e.obj, b, at);
    // SAFETY: forwarded contract.
    unsafe { overlapped::finish_sync(e, r, read, ov) }
}

/// WriteFile and WriteFileEx.
///
/// # Safety
/// As [`read_file`], with `buffer` read.
#[inline(always)]
unsafe fn write_file(
    e: &Arc<Entry>,
    buffer: *const c_void,
    size: DWORD,
    written: *mut DWORD,
    ov: *mut OVERLAPPED,
    call: Option<Call>,
) -> BOOL {
    if size > 0 && buffer.is_null() {
        return fail(ERROR_NOACCESS);
    }
    if !ov.is_null() && steps(e) {
        let op = Op::Write {
            buf: Buf::new(buffer.cast_mut(), size),
            op: Default::default(),
        };
        // SAFETY: forwarded contract.
        return unsafe { overlapped::issue(e, ov, op, call.unwrap_or(Call::Plain), written) };
    }
    // SAFETY: valid for size bytes (caller); non-null when size > 0 (checked).
    let Some(b) = (unsafe { buf(buffer, size) }) else {
        return fail(ERROR_NOACCESS);
    };
    // SAFETY: ov null or valid (caller).
    let at = unsafe { crate::files::offset_of(ov) };
    if let (Some(call), false) = (call.or_else(|| bound_plain(e)), ov.is_null()) {
        let r = write_now(&e.obj, b, at);
        // SAFETY: forwarded contract.
        return unsafe { overlapped::issue_done(e, ov, r, call, written) };
    }
    // SAFETY: ov null or valid (caller).
    unsafe { overlapped::begin_sync(e, ov) };
    let r = write_now(&e.obj, b, at);
    // SAFETY: forwarded contract.
    unsafe { overlapped::finish_sync(e, r, written, ov) }
}

/// `ReadFile`.
///
/// # Safety
/// `buffer` is valid for `size` bytes of writing (until completion, for an overlapped
/// operation); `read` is null or writable; `ov` is null or a valid OVERLAPPED that stays in
/// place until the operation completes.
#[export_name = "npipe_ReadFile"]
pub unsafe extern "C" fn ReadFile(
    h: HANDLE,
    buffer: *mut c_void,
    size: DWORD,
    read: *mut DWORD,
    ov: *mut OVERLAPPED,
) -> BOOL {
    // SAFETY: read is null or writable (caller).
    unsafe { put(read, 0) };
    if ov.is_null() {
        // SAFETY: forwarded contract.
        if let Some(r) = unsafe { quick_read(h, buffer, size, read) } {
            return r;
        }
    }
    // SAFETY: forwarded contract.
    unsafe { read_general(h, buffer, size, read, ov) }
}

/// ReadFile past [`quick_read`]: any handle, with or without an OVERLAPPED. Kept out of line
/// so the quick path's frame stays small.
///
/// # Safety
/// As [`ReadFile`].
#[inline(never)]
unsafe fn read_general(
    h: HANDLE,
    buffer: *mut c_void,
    size: DWORD,
    read: *mut DWORD,
    ov: *mut OVERLAPPED,
) -> BOOL {
    with_entry(h, FALSE, move |e| {
        // SAFETY: forwarded contract.
        // Without an OVERLAPPED with a null pointer the compiler sees: read_file inlined
        // there drops the engine's, the event's and the file offset's steps.
        let r = unsafe {
            if ov.is_null() {
                read_file(e, buffer, size, read, std::ptr::null_mut(), None)
            } else {
                read_file(e, buffer, size, read, ov, None)
            }
        };
        overlapped::settle_for(&e.obj);
        r
    })
}

/// `WriteFile`.
///
/// # Safety
/// As [`ReadFile`], with `buffer` read.
#[export_name = "npipe_WriteFile"]
pub unsafe extern "C" fn WriteFile(
    h: HANDLE,
    buffer: *const c_void,
    size: DWORD,
    written: *mut DWORD,
    ov: *mut OVERLAPPED,
) -> BOOL {
    // SAFETY: written is null or writable (caller).
    unsafe { put(written, 0) };
    if ov.is_null() {
        // SAFETY: forwarded contract.
        if let Some(r) = unsafe { quick_write(h, buffer, size, written) } {
            return r;
        }
    }
    // SAFETY: forwarded contract.
    unsafe { write_general(h, buffer, size, written, ov) }
}

/// WriteFile past [`quick_write`], as [`read_general`].
///
/// # Safety
/// As [`WriteFile`].
#[inline(never)]
unsafe fn write_general(
    h: HANDLE,
    buffer: *const c_void,
    size: DWORD,
    written: *mut DWORD,
    ov: *mut OVERLAPPED,
) -> BOOL {
    with_entry(h, FALSE, move |e| {
        // SAFETY: forwarded contract.
        // As in read_general.
        let r = unsafe {
            if ov.is_null() {
                write_file(e, buffer, size, written, std::ptr::null_mut(), None)
            } else {
                write_file(e, buffer, size, written, ov, None)
            }
        };
        overlapped::settle_for(&e.obj);
        r
    })
}

/// The checks ReadFileEx and WriteFileEx make before anything else: an OVERLAPPED, and a handle
/// opened for overlapped I/O (a synchronous handle takes no completion routine:
/// ERROR_INVALID_PARAMETER, as NtReadFile's STATUS_INVALID_PARAMETER).
fn ex_checks(e: &Entry, ov: *mut OVERLAPPED, routine: Option<Routine>) -> Result<Call, DWORD> {
    let Some(f) = routine else {
        return Err(ERROR_INVALID_PARAMETER);
    };
    // A handle bound to a completion port reports there, never through a routine.
    if ov.is_null() || !e.overlapped || e.completion.bound() {
        return Err(ERROR_INVALID_PARAMETER);
    }
    Ok(Call::Ex(f))
}

/// `ReadFileEx`: the routine runs in this thread's next alertable wait once the read completes
/// (W104), including when it completes at once.
///
/// # Safety
/// As [`ReadFile`]; `routine` may be called with `ov` on this thread later.
#[export_name = "npipe_ReadFileEx"]
pub unsafe extern "C" fn ReadFileEx(
    h: HANDLE,
    buffer: *mut c_void,
    size: DWORD,
    ov: *mut OVERLAPPED,
    routine: Option<Routine>,
) -> BOOL {
    with_entry(h, FALSE, |e| match ex_checks(e, ov, routine) {
        Ok(call) => {
            // SAFETY: forwarded contract.
            let r = unsafe { read_file(e, buffer, size, std::ptr::null_mut(), ov, Some(call)) };
            overlapped::settle_for(&e.obj);
            r
        }
        Err(code) => fail(code),
    })
}

/// `WriteFileEx`.
///
/// # Safety
/// As [`ReadFileEx`], with `buffer` read.
#[export_name = "npipe_WriteFileEx"]
pub unsafe extern "C" fn WriteFileEx(
    h: HANDLE,
    buffer: *const c_void,
    size: DWORD,
    ov: *mut OVERLAPPED,
    routine: Option<Routine>,
) -> BOOL {
    with_entry(h, FALSE, |e| match ex_checks(e, ov, routine) {
        Ok(call) => {
            // SAFETY: forwarded contract.
            let r = unsafe { write_file(e, buffer, size, std::ptr::null_mut(), ov, Some(call)) };
            overlapped::settle_for(&e.obj);
            r
        }
        Err(code) => fail(code),
    })
}

/// `FlushFileBuffers`: always synchronous, also on an overlapped handle (W94). A synchronous
/// call like the others as far as the handle's signal goes (W26, W27): a flush that waits
/// makes it non-signalled until it ends.
#[export_name = "npipe_FlushFileBuffers"]
pub extern "C" fn FlushFileBuffers(h: HANDLE) -> BOOL {
    with_entry(h, FALSE, |e| {
        let o = &e.obj;
        // SAFETY: no OVERLAPPED.
        unsafe { overlapped::begin_sync(e, std::ptr::null_mut()) };
        let r = match o {
            Object::Server(s) => s.flush_buffers(),
            Object::Client(c) => c.flush_buffers(),
            Object::AnonWrite(w) => w.flush_buffers(),
            Object::File(f) => f.flush(),
            _ => not_pipe(o),
        };
        overlapped::end_sync(e);
        match r {
            Ok(()) => TRUE,
            Err(e) => fail_io(&e),
        }
    })
}
