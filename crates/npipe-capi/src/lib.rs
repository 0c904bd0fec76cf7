//! The Win32-shaped C ABI of npipe: `include/npipe/win32.h`.
//!
//! Handles are small integers (multiples of 4, as on Windows) indexing a process-wide table;
//! `INVALID_HANDLE_VALUE` is `(HANDLE)-1`. Every function sets the thread-local last error on
//! failure exactly as Windows does, and never unwinds into C.
//!
//! # Safety
//!
//! Every `extern "C"` function takes raw pointers from C. The module-wide rule: a pointer is only
//! dereferenced after a null check, and only for the size the Win32 contract gives it
//! (`nNumberOfBytesToRead` bytes of `lpBuffer`, one `DWORD` for an out count, ...). The caller's
//! obligations are those of the Win32 function of the same name.
#![allow(unsafe_code)]

use std::cell::Cell;
use std::ffi::{c_char, c_void, CStr};
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, MutexGuard};

use npipe::error::code::*;
use npipe::{
    AnonReader, AnonWriter, ClientOptions, Mailslot, MailslotOptions, MailslotWriter, MsgLen,
    NamedPipeClient, NamedPipeServer, ReadMode, ServerOptions, WaitFor,
};
use npipe_core as npipe;
mod ipc;

/// `HANDLE`.
pub type HANDLE = *mut c_void;
/// `DWORD`.
pub type DWORD = u32;
/// `BOOL`.
pub type BOOL = i32;

const TRUE: BOOL = 1;
const FALSE: BOOL = 0;
const INVALID_HANDLE_VALUE: HANDLE = usize::MAX as HANDLE;
const STATUS_SUCCESS: usize = 0;
const MAILSLOT_WAIT_FOREVER: DWORD = DWORD::MAX;
const MAILSLOT_NO_MESSAGE: DWORD = DWORD::MAX;
const STATUS_BUFFER_OVERFLOW: usize = 0x8000_0005;

/// `OVERLAPPED`, as laid out by Win32.
#[repr(C)]
#[derive(Debug)]
pub struct OVERLAPPED {
    /// Completion status (NTSTATUS).
    pub internal: usize,
    /// Bytes transferred.
    pub internal_high: usize,
    /// Offset (unused for pipes).
    pub offset: u32,
    /// Offset high (unused for pipes).
    pub offset_high: u32,
    /// Event (unused: npipe completes every operation before returning).
    pub h_event: HANDLE,
}

thread_local! {
    static LAST_ERROR: Cell<u32> = const { Cell::new(0) };
}

fn set_error(code: u32) {
    LAST_ERROR.with(|c| c.set(code));
}

fn fail_io(e: &io::Error) -> BOOL {
    set_error(npipe::win32_code(e));
    FALSE
}

fn fail(code: u32) -> BOOL {
    set_error(code);
    FALSE
}

#[derive(Debug)]
enum Object {
    Server(NamedPipeServer),
    Client(NamedPipeClient),
    Mailslot(Mailslot),
    MailslotWriter(MailslotWriter),
    AnonRead(AnonReader),
    AnonWrite(AnonWriter),
}

/// The failure of a named-pipe function called on a mailslot or anonymous pipe handle.
fn not_pipe<T>() -> io::Result<T> {
    Err(npipe::Error::io(
        ERROR_INVALID_FUNCTION,
        "the handle is not a named pipe",
    ))
}

/// The slots of the handle table.
type Slots = Vec<Option<Arc<Object>>>;

/// The handle table. Locked only for lookups, inserts and removals, never across a call into
/// the library.
static TABLE: Mutex<Slots> = Mutex::new(Vec::new());

thread_local! {
    /// The table guard the fork prepare handler took, released after the fork.
    static FORK_HELD: std::cell::RefCell<Option<MutexGuard<'static, Slots>>> =
        const { std::cell::RefCell::new(None) };
}

extern "C" fn fork_prepare() {
    let g = TABLE.lock().unwrap_or_else(|p| p.into_inner());
    FORK_HELD.with(|h| *h.borrow_mut() = Some(g));
}

extern "C" fn fork_release() {
    FORK_HELD.with(|h| h.borrow_mut().take());
}

/// Registers the fork handlers that keep a child from inheriting the table locked by a thread
/// it does not have (once; not a `Once`, which a fork could copy half-run).
fn install_fork_handlers() {
    use std::sync::atomic::{AtomicU8, Ordering};
    static STATE: AtomicU8 = AtomicU8::new(0);
    // Acquire: pairs with the Release store below.
    if STATE.load(Ordering::Acquire) == 2 {
        return;
    }
    if STATE
        .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        // SAFETY: pthread_atfork only records the three extern "C" fn pointers, which take no
        // arguments as required.
        unsafe {
            libc::pthread_atfork(Some(fork_prepare), Some(fork_release), Some(fork_release));
        }
        STATE.store(2, Ordering::Release);
    }
}

fn lock_table() -> MutexGuard<'static, Slots> {
    install_fork_handlers();
    TABLE.lock().unwrap_or_else(|p| p.into_inner())
}

fn insert(o: Object) -> HANDLE {
    let mut t = lock_table();
    let idx = match t.iter().position(|s| s.is_none()) {
        Some(i) => i,
        None => {
            t.push(None);
            t.len() - 1
        }
    };
    t[idx] = Some(Arc::new(o));
    ((idx + 1) * 4) as HANDLE
}

fn index_of(h: HANDLE) -> Option<usize> {
    let v = h as usize;
    if v == 0 || !v.is_multiple_of(4) || h == INVALID_HANDLE_VALUE {
        return None;
    }
    Some(v / 4 - 1)
}

fn get(h: HANDLE) -> Option<Arc<Object>> {
    let i = index_of(h)?;
    lock_table().get(i).and_then(|s| s.clone())
}

/// Runs `f` on the object behind `h`, or fails with ERROR_INVALID_HANDLE.
fn with<R>(h: HANDLE, on_bad: R, f: impl FnOnce(&Object) -> R) -> R {
    match get(h) {
        Some(o) => f(&o),
        None => {
            set_error(ERROR_INVALID_HANDLE);
            on_bad
        }
    }
}

/// Decodes an ANSI name: UTF-8 when valid, else each byte as Latin-1.
///
/// # Safety
/// `p` is null or a NUL-terminated string.
unsafe fn name_a(p: *const c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: non-null and NUL-terminated by the caller's contract.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    Some(match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    })
}

/// Decodes a UTF-16 name. A name holding an unpaired surrogate has no UTF-8 spelling; it
/// becomes a name with a NUL in it, which no pipe or mailslot can have, so it fails with
/// ERROR_INVALID_NAME (create) or ERROR_FILE_NOT_FOUND (open) instead of aliasing another
/// name, as lossy decoding (every such unit as U+FFFD) would.
///
/// # Safety
/// `p` is null or a NUL-terminated UTF-16 string.
unsafe fn name_w(p: *const u16) -> Option<String> {
    if p.is_null() {
        return None;
    }
    let mut n = 0usize;
    // SAFETY: the string is NUL-terminated, so every index up to the terminator is readable.
    while unsafe { *p.add(n) } != 0 {
        n += 1;
    }
    // SAFETY: the n units before the terminator are readable.
    let units = unsafe { std::slice::from_raw_parts(p, n) };
    Some(
        String::from_utf16(units)
            .unwrap_or_else(|_| "\0(a name with an unpaired UTF-16 surrogate)".to_owned()),
    )
}

/// Stores `v` through `p` when `p` is not null.
///
/// # Safety
/// `p` is null or valid for writing a `T`.
unsafe fn put<T>(p: *mut T, v: T) {
    if !p.is_null() {
        // SAFETY: non-null and writable by the caller's contract.
        unsafe { p.write_unaligned(v) };
    }
}

/// A mutable byte slice over a C buffer: empty when zero-sized, `None` for a NULL pointer with
/// a non-zero size (Windows fails such a call with ERROR_NOACCESS).
///
/// # Safety
/// `p` is null or valid for `n` bytes of writing for the returned lifetime.
unsafe fn buf_mut<'a>(p: *mut c_void, n: DWORD) -> Option<&'a mut [u8]> {
    if n == 0 {
        return Some(&mut []);
    }
    if p.is_null() {
        return None;
    }
    // SAFETY: valid for n bytes by the caller's contract.
    Some(unsafe { std::slice::from_raw_parts_mut(p.cast::<u8>(), n as usize) })
}

/// A byte slice over a C buffer: empty when zero-sized, `None` for a NULL pointer with a
/// non-zero size (ERROR_NOACCESS).
///
/// # Safety
/// `p` is null or valid for `n` bytes of reading for the returned lifetime.
unsafe fn buf<'a>(p: *const c_void, n: DWORD) -> Option<&'a [u8]> {
    if n == 0 {
        return Some(&[]);
    }
    if p.is_null() {
        return None;
    }
    // SAFETY: valid for n bytes by the caller's contract.
    Some(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), n as usize) })
}

/// `GetLastError`.
#[no_mangle]
pub extern "C" fn GetLastError() -> DWORD {
    LAST_ERROR.with(|c| c.get())
}

/// `SetLastError`.
#[no_mangle]
pub extern "C" fn SetLastError(code: DWORD) {
    set_error(code);
}

/// `GetCurrentProcessId`.
#[no_mangle]
pub extern "C" fn GetCurrentProcessId() -> DWORD {
    std::process::id()
}

/// `CloseHandle`.
#[no_mangle]
pub extern "C" fn CloseHandle(h: HANDLE) -> BOOL {
    let Some(i) = index_of(h) else {
        return fail(ERROR_INVALID_HANDLE);
    };
    let obj = {
        let mut t = lock_table();
        match t.get_mut(i) {
            Some(slot) => slot.take(),
            None => None,
        }
    };
    match obj {
        Some(o) => {
            // Other threads may still hold the object inside a call: close the end now so
            // their blocked operations end (ERROR_OPERATION_ABORTED) and the peer is told,
            // rather than when the last reference goes.
            match &*o {
                Object::Server(s) => s.close(),
                Object::Client(c) => c.close(),
                _ => {}
            }
            drop(o);
            TRUE
        }
        None => fail(ERROR_INVALID_HANDLE),
    }
}

fn create_named_pipe(
    name: Option<String>,
    open_mode: DWORD,
    pipe_mode: DWORD,
    max: DWORD,
    out: DWORD,
    inb: DWORD,
    timeout: DWORD,
) -> HANDLE {
    let Some(name) = name else {
        set_error(ERROR_PATH_NOT_FOUND);
        return INVALID_HANDLE_VALUE;
    };
    let opts = match ServerOptions::from_win32(open_mode, pipe_mode, max, out, inb, timeout) {
        Ok(o) => o,
        Err(e) => {
            fail_io(&e);
            return INVALID_HANDLE_VALUE;
        }
    };
    match opts.create_ex(&name) {
        Ok((s, existed)) => {
            set_error(if existed {
                ERROR_ALREADY_EXISTS
            } else {
                ERROR_SUCCESS
            });
            insert(Object::Server(s))
        }
        Err(e) => {
            fail_io(&e);
            INVALID_HANDLE_VALUE
        }
    }
}

/// `CreateNamedPipeA`.
///
/// # Safety
/// `name` is null or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn CreateNamedPipeA(
    name: *const c_char,
    open_mode: DWORD,
    pipe_mode: DWORD,
    max: DWORD,
    out: DWORD,
    inb: DWORD,
    timeout: DWORD,
    _sa: *mut c_void,
) -> HANDLE {
    // SAFETY: forwarded contract.
    let n = unsafe { name_a(name) };
    create_named_pipe(n, open_mode, pipe_mode, max, out, inb, timeout)
}

/// `CreateNamedPipeW`.
///
/// # Safety
/// `name` is null or a NUL-terminated UTF-16 string.
#[no_mangle]
pub unsafe extern "C" fn CreateNamedPipeW(
    name: *const u16,
    open_mode: DWORD,
    pipe_mode: DWORD,
    max: DWORD,
    out: DWORD,
    inb: DWORD,
    timeout: DWORD,
    _sa: *mut c_void,
) -> HANDLE {
    // SAFETY: forwarded contract.
    let n = unsafe { name_w(name) };
    create_named_pipe(n, open_mode, pipe_mode, max, out, inb, timeout)
}

/// Whether `name` is `\\host\mailslot\...` (either slash, any case).
fn is_mailslot_name(name: &str) -> bool {
    let mut parts = name.split(['\\', '/']);
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some(""), Some(""), Some(_), Some(kw)) if kw.eq_ignore_ascii_case("mailslot")
    )
}

fn create_file(name: Option<String>, access: DWORD) -> HANDLE {
    let Some(name) = name else {
        set_error(ERROR_PATH_NOT_FOUND);
        return INVALID_HANDLE_VALUE;
    };
    if is_mailslot_name(&name) {
        // W148: any access and share mode opens a writer.
        return match MailslotWriter::open(&name) {
            Ok(w) => {
                set_error(ERROR_SUCCESS);
                insert(Object::MailslotWriter(w))
            }
            Err(e) => {
                fail_io(&e);
                INVALID_HANDLE_VALUE
            }
        };
    }
    match ClientOptions::new().access_mask(access).open(&name) {
        Ok(c) => {
            set_error(ERROR_SUCCESS);
            insert(Object::Client(c))
        }
        Err(e) => {
            fail_io(&e);
            INVALID_HANDLE_VALUE
        }
    }
}

/// `CreateFileA` on a pipe name.
///
/// # Safety
/// `name` is null or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn CreateFileA(
    name: *const c_char,
    access: DWORD,
    _share: DWORD,
    _sa: *mut c_void,
    _disposition: DWORD,
    _flags: DWORD,
    _template: HANDLE,
) -> HANDLE {
    // SAFETY: forwarded contract.
    let n = unsafe { name_a(name) };
    create_file(n, access)
}

/// `CreateFileW` on a pipe name.
///
/// # Safety
/// `name` is null or a NUL-terminated UTF-16 string.
#[no_mangle]
pub unsafe extern "C" fn CreateFileW(
    name: *const u16,
    access: DWORD,
    _share: DWORD,
    _sa: *mut c_void,
    _disposition: DWORD,
    _flags: DWORD,
    _template: HANDLE,
) -> HANDLE {
    // SAFETY: forwarded contract.
    let n = unsafe { name_w(name) };
    create_file(n, access)
}

/// `ConnectNamedPipe`.
#[no_mangle]
pub extern "C" fn ConnectNamedPipe(h: HANDLE, _ov: *mut OVERLAPPED) -> BOOL {
    with(h, FALSE, |o| match o {
        Object::Server(s) => match s.connect_status() {
            Ok(false) => TRUE,
            Ok(true) => fail(ERROR_PIPE_CONNECTED),
            Err(e) => fail_io(&e),
        },
        _ => fail(ERROR_INVALID_FUNCTION),
    })
}

/// `DisconnectNamedPipe`.
#[no_mangle]
pub extern "C" fn DisconnectNamedPipe(h: HANDLE) -> BOOL {
    with(h, FALSE, |o| match o {
        Object::Server(s) => match s.disconnect() {
            Ok(()) => TRUE,
            Err(e) => fail_io(&e),
        },
        _ => fail(ERROR_INVALID_FUNCTION),
    })
}

/// Completes a read-like result the Win32 way: FALSE + ERROR_MORE_DATA for a partial message.
///
/// # Safety
/// `count` and `ov` are null or valid for writing.
unsafe fn finish_read(r: io::Result<MsgLen>, count: *mut DWORD, ov: *mut OVERLAPPED) -> BOOL {
    match r {
        Ok(m) => {
            let more = m.left > 0;
            if !ov.is_null() {
                // SAFETY: ov is non-null and writable (caller).
                unsafe {
                    (*ov).internal = if more {
                        STATUS_BUFFER_OVERFLOW
                    } else {
                        STATUS_SUCCESS
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
                        (*ov).internal = STATUS_SUCCESS;
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

/// `PeekNamedPipe`.
///
/// # Safety
/// `buffer` is valid for `size` bytes when `size > 0`; the out pointers are null or writable.
#[no_mangle]
pub unsafe extern "C" fn PeekNamedPipe(
    h: HANDLE,
    buffer: *mut c_void,
    size: DWORD,
    read: *mut DWORD,
    avail: *mut DWORD,
    left: *mut DWORD,
) -> BOOL {
    // SAFETY: valid for size bytes when non-null (caller); W82: (LPVOID)1 with size 0 is never
    // touched because buf_mut returns an empty slice for size 0.
    let given = unsafe { buf_mut(buffer, size) };
    // A NULL buffer is documented as "no data is to be read", whatever the size: Windows peeks
    // into a buffer of its own and reports the count without copying it anywhere.
    let mut scratch = Vec::new();
    let b = match given {
        Some(b) if !b.is_empty() => Some(b),
        Some(_) => None,
        None => {
            scratch.resize((size as usize).min(16 << 20), 0u8);
            Some(&mut scratch[..])
        }
    };
    with(h, FALSE, |o| {
        let r = match o {
            Object::Server(s) => s.peek(b),
            Object::Client(c) => c.peek(b),
            Object::AnonRead(r) => r.peek(b),
            _ => not_pipe(),
        };
        match r {
            Ok(p) => {
                // SAFETY: out pointers are null or writable (caller).
                unsafe {
                    put(read, p.read);
                    put(avail, p.available);
                    put(left, p.left_this_message);
                }
                TRUE
            }
            Err(e) => fail_io(&e),
        }
    })
}

/// `TransactNamedPipe`.
///
/// # Safety
/// `inb` is valid for `in_size` bytes of reading, `outb` for `out_size` bytes of writing; `read`
/// and `ov` are null or writable.
#[no_mangle]
pub unsafe extern "C" fn TransactNamedPipe(
    h: HANDLE,
    inb: *mut c_void,
    in_size: DWORD,
    outb: *mut c_void,
    out_size: DWORD,
    read: *mut DWORD,
    ov: *mut OVERLAPPED,
) -> BOOL {
    // SAFETY: read is null or writable (caller).
    unsafe { put(read, 0) };
    with(h, FALSE, |o| {
        // SAFETY: buffers valid for their sizes (caller); checked after the handle.
        let (Some(req), Some(rep)) = (unsafe { (buf(inb, in_size), buf_mut(outb, out_size)) })
        else {
            return fail(ERROR_NOACCESS);
        };
        let r = match o {
            Object::Server(s) => s.transact(req, rep),
            Object::Client(c) => c.transact(req, rep),
            _ => not_pipe(),
        };
        // SAFETY: forwarded contract.
        unsafe { finish_read(r, read, ov) }
    })
}

/// # Safety
/// Buffers valid for their sizes; `read` null or writable.
unsafe fn call_named_pipe(
    name: Option<String>,
    inb: *mut c_void,
    in_size: DWORD,
    outb: *mut c_void,
    out_size: DWORD,
    read: *mut DWORD,
    timeout: DWORD,
) -> BOOL {
    // SAFETY: read is null or writable (caller).
    unsafe { put(read, 0) };
    let Some(name) = name else {
        return fail(ERROR_PATH_NOT_FOUND);
    };
    // SAFETY: buffers valid for their sizes (caller).
    let (Some(req), Some(rep)) = (unsafe { (buf(inb, in_size), buf_mut(outb, out_size)) }) else {
        return fail(ERROR_NOACCESS);
    };
    let r = npipe::call_named_pipe(&name, req, rep, WaitFor::from_win32(timeout));
    // SAFETY: forwarded contract.
    unsafe { finish_read(r, read, std::ptr::null_mut()) }
}

/// `CallNamedPipeA`.
///
/// # Safety
/// `name` NUL-terminated; buffers valid for their sizes; `read` null or writable.
#[no_mangle]
pub unsafe extern "C" fn CallNamedPipeA(
    name: *const c_char,
    inb: *mut c_void,
    in_size: DWORD,
    outb: *mut c_void,
    out_size: DWORD,
    read: *mut DWORD,
    timeout: DWORD,
) -> BOOL {
    // SAFETY: forwarded contract.
    unsafe { call_named_pipe(name_a(name), inb, in_size, outb, out_size, read, timeout) }
}

/// `CallNamedPipeW`.
///
/// # Safety
/// `name` NUL-terminated UTF-16; buffers valid for their sizes; `read` null or writable.
#[no_mangle]
pub unsafe extern "C" fn CallNamedPipeW(
    name: *const u16,
    inb: *mut c_void,
    in_size: DWORD,
    outb: *mut c_void,
    out_size: DWORD,
    read: *mut DWORD,
    timeout: DWORD,
) -> BOOL {
    // SAFETY: forwarded contract.
    unsafe { call_named_pipe(name_w(name), inb, in_size, outb, out_size, read, timeout) }
}

fn wait_named_pipe(name: Option<String>, timeout: DWORD) -> BOOL {
    let Some(name) = name else {
        return fail(ERROR_PATH_NOT_FOUND);
    };
    match npipe::wait_named_pipe(&name, WaitFor::from_win32(timeout)) {
        Ok(()) => TRUE,
        Err(e) => fail_io(&e),
    }
}

/// `WaitNamedPipeA`.
///
/// # Safety
/// `name` is null or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn WaitNamedPipeA(name: *const c_char, timeout: DWORD) -> BOOL {
    // SAFETY: forwarded contract.
    wait_named_pipe(unsafe { name_a(name) }, timeout)
}

/// `WaitNamedPipeW`.
///
/// # Safety
/// `name` is null or NUL-terminated UTF-16.
#[no_mangle]
pub unsafe extern "C" fn WaitNamedPipeW(name: *const u16, timeout: DWORD) -> BOOL {
    // SAFETY: forwarded contract.
    wait_named_pipe(unsafe { name_w(name) }, timeout)
}

/// `SetNamedPipeHandleState`. The collection parameters apply to remote pipes only and are
/// ignored, as Wine does.
///
/// # Safety
/// `mode` is null or readable.
#[no_mangle]
pub unsafe extern "C" fn SetNamedPipeHandleState(
    h: HANDLE,
    mode: *mut DWORD,
    _max_collection: *mut DWORD,
    _collect_timeout: *mut DWORD,
) -> BOOL {
    let m = if mode.is_null() {
        None
    } else {
        // SAFETY: non-null and readable (caller).
        Some(unsafe { mode.read_unaligned() })
    };
    with(h, FALSE, |o| {
        let Some(m) = m else { return TRUE };
        let r = match o {
            Object::Server(s) => s.set_mode_bits(m),
            Object::Client(c) => c.set_mode_bits(m),
            _ => not_pipe(),
        };
        match r {
            Ok(()) => TRUE,
            Err(e) => fail_io(&e),
        }
    })
}

/// # Safety
/// Out pointers null or writable.
unsafe fn handle_state(
    h: HANDLE,
    state: *mut DWORD,
    cur: *mut DWORD,
    max_collection: *mut DWORD,
    collect_timeout: *mut DWORD,
    user_name_given: bool,
) -> BOOL {
    with(h, FALSE, |o| {
        // W118: the collection parameters and the user name are for remote pipes.
        if !max_collection.is_null() || !collect_timeout.is_null() || user_name_given {
            return fail(ERROR_INVALID_PARAMETER);
        }
        let st = match o {
            Object::Server(s) => Ok(s.handle_state()),
            Object::Client(c) => c.handle_state(),
            _ => not_pipe(),
        };
        match st {
            Ok(st) => {
                let bits = (st.nowait as DWORD)
                    | if st.read_mode == ReadMode::Message {
                        2
                    } else {
                        0
                    };
                // SAFETY: out pointers null or writable (caller).
                unsafe {
                    put(state, bits);
                    put(cur, st.instances);
                }
                TRUE
            }
            Err(e) => fail_io(&e),
        }
    })
}

/// `GetNamedPipeHandleStateA`.
///
/// # Safety
/// Out pointers are null or writable.
#[no_mangle]
pub unsafe extern "C" fn GetNamedPipeHandleStateA(
    h: HANDLE,
    state: *mut DWORD,
    cur: *mut DWORD,
    max_collection: *mut DWORD,
    collect_timeout: *mut DWORD,
    user: *mut c_char,
    _user_size: DWORD,
) -> BOOL {
    // SAFETY: forwarded contract.
    unsafe {
        handle_state(
            h,
            state,
            cur,
            max_collection,
            collect_timeout,
            !user.is_null(),
        )
    }
}

/// `GetNamedPipeHandleStateW`.
///
/// # Safety
/// Out pointers are null or writable.
#[no_mangle]
pub unsafe extern "C" fn GetNamedPipeHandleStateW(
    h: HANDLE,
    state: *mut DWORD,
    cur: *mut DWORD,
    max_collection: *mut DWORD,
    collect_timeout: *mut DWORD,
    user: *mut u16,
    _user_size: DWORD,
) -> BOOL {
    // SAFETY: forwarded contract.
    unsafe {
        handle_state(
            h,
            state,
            cur,
            max_collection,
            collect_timeout,
            !user.is_null(),
        )
    }
}

/// `GetNamedPipeInfo`.
///
/// # Safety
/// Out pointers are null or writable.
#[no_mangle]
pub unsafe extern "C" fn GetNamedPipeInfo(
    h: HANDLE,
    flags: *mut DWORD,
    out: *mut DWORD,
    inb: *mut DWORD,
    max: *mut DWORD,
) -> BOOL {
    with(h, FALSE, |o| {
        let info = match o {
            Object::Server(s) => Ok(s.info()),
            Object::Client(c) => c.info(),
            Object::AnonRead(r) => Ok(r.info()),
            Object::AnonWrite(w) => Ok(w.info()),
            _ => not_pipe(),
        };
        match info {
            Ok(i) => {
                let f = (i.server_end as DWORD)
                    | if i.mode == npipe::PipeMode::Message {
                        4
                    } else {
                        0
                    };
                // SAFETY: out pointers null or writable (caller).
                unsafe {
                    put(flags, f);
                    put(out, i.out_buffer_size);
                    put(inb, i.in_buffer_size);
                    put(max, i.max_instances);
                }
                TRUE
            }
            Err(e) => fail_io(&e),
        }
    })
}

/// `GetNamedPipeClientProcessId`.
///
/// # Safety
/// `id` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn GetNamedPipeClientProcessId(h: HANDLE, id: *mut u32) -> BOOL {
    with(h, FALSE, |o| {
        if id.is_null() {
            return fail(ERROR_INSUFFICIENT_BUFFER);
        }
        let r = match o {
            Object::Server(s) => s.client_process_id(),
            Object::Client(c) => c.client_process_id(),
            _ => not_pipe(),
        };
        match r {
            Ok(p) => {
                // SAFETY: id is non-null and writable (caller).
                unsafe { put(id, p) };
                TRUE
            }
            Err(e) => fail_io(&e),
        }
    })
}

/// `GetNamedPipeServerProcessId`.
///
/// # Safety
/// `id` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn GetNamedPipeServerProcessId(h: HANDLE, id: *mut u32) -> BOOL {
    with(h, FALSE, |o| {
        if id.is_null() {
            return fail(ERROR_INSUFFICIENT_BUFFER);
        }
        let r = match o {
            Object::Server(s) => Ok(s.server_process_id()),
            Object::Client(c) => c.server_process_id(),
            _ => not_pipe(),
        };
        match r {
            Ok(p) => {
                // SAFETY: id is non-null and writable (caller).
                unsafe { put(id, p) };
                TRUE
            }
            Err(e) => fail_io(&e),
        }
    })
}

fn create_mailslot(name: Option<String>, max: DWORD, timeout: DWORD) -> HANDLE {
    let Some(name) = name else {
        // W141: a NULL name.
        set_error(ERROR_PATH_NOT_FOUND);
        return INVALID_HANDLE_VALUE;
    };
    match MailslotOptions::new()
        .max_message_size(max)
        .read_timeout_ms(timeout)
        .create(&name)
    {
        Ok(m) => {
            set_error(ERROR_SUCCESS);
            insert(Object::Mailslot(m))
        }
        Err(e) => {
            fail_io(&e);
            INVALID_HANDLE_VALUE
        }
    }
}

/// `CreateMailslotA`.
///
/// # Safety
/// `name` is null or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn CreateMailslotA(
    name: *const c_char,
    max_message: DWORD,
    read_timeout: DWORD,
    _sa: *mut c_void,
) -> HANDLE {
    // SAFETY: forwarded contract.
    let n = unsafe { name_a(name) };
    create_mailslot(n, max_message, read_timeout)
}

/// `CreateMailslotW`.
///
/// # Safety
/// `name` is null or a NUL-terminated UTF-16 string.
#[no_mangle]
pub unsafe extern "C" fn CreateMailslotW(
    name: *const u16,
    max_message: DWORD,
    read_timeout: DWORD,
    _sa: *mut c_void,
) -> HANDLE {
    // SAFETY: forwarded contract.
    let n = unsafe { name_w(name) };
    create_mailslot(n, max_message, read_timeout)
}

/// `GetMailslotInfo` (W142, W143, W150).
///
/// # Safety
/// Out pointers are null or writable.
#[no_mangle]
pub unsafe extern "C" fn GetMailslotInfo(
    h: HANDLE,
    max_message: *mut DWORD,
    next_size: *mut DWORD,
    count: *mut DWORD,
    read_timeout: *mut DWORD,
) -> BOOL {
    with(h, FALSE, |o| {
        let Object::Mailslot(m) = o else {
            return fail(ERROR_INVALID_HANDLE);
        };
        match m.info() {
            Ok(i) => {
                let timeout = i
                    .read_timeout
                    .map_or(MAILSLOT_WAIT_FOREVER, |d| d.as_millis() as DWORD);
                // SAFETY: out pointers null or writable (caller).
                unsafe {
                    put(max_message, i.max_message_size);
                    put(next_size, i.next_size.unwrap_or(MAILSLOT_NO_MESSAGE));
                    put(count, i.count);
                    put(read_timeout, timeout);
                }
                TRUE
            }
            Err(e) => fail_io(&e),
        }
    })
}

/// `SetMailslotInfo`: the read timeout for every later read (W152).
#[no_mangle]
pub extern "C" fn SetMailslotInfo(h: HANDLE, read_timeout: DWORD) -> BOOL {
    with(h, FALSE, |o| {
        let Object::Mailslot(m) = o else {
            return fail(ERROR_INVALID_HANDLE);
        };
        m.set_read_timeout_ms(read_timeout);
        TRUE
    })
}

/// `SECURITY_ATTRIBUTES`, as laid out by Win32.
#[repr(C)]
#[derive(Debug)]
pub struct SECURITY_ATTRIBUTES {
    /// Size of the structure.
    pub n_length: DWORD,
    /// Security descriptor (ignored: access is "same user or root").
    pub lp_security_descriptor: *mut c_void,
    /// Whether the handles are inherited by programs this process executes.
    pub b_inherit_handle: BOOL,
}

/// `CreatePipe` (W135-W140): `*read` gets the read (server) end, `*write` the write end.
///
/// # Safety
/// `read` and `write` are null or writable; `sa` is null or a readable SECURITY_ATTRIBUTES.
#[no_mangle]
pub unsafe extern "C" fn CreatePipe(
    read: *mut HANDLE,
    write: *mut HANDLE,
    sa: *const SECURITY_ATTRIBUTES,
    size: DWORD,
) -> BOOL {
    if read.is_null() || write.is_null() {
        return fail(ERROR_INVALID_PARAMETER);
    }
    // SAFETY: sa is null or readable (caller).
    let inherit = !sa.is_null() && unsafe { (*sa).b_inherit_handle } != 0;
    let (r, w) = match npipe::create_pipe(size) {
        Ok(p) => p,
        Err(e) => return fail_io(&e),
    };
    if inherit {
        // W140: bInheritHandle makes both handles inheritable.
        if let Err(e) = r.set_inheritable(true).and(w.set_inheritable(true)) {
            return fail_io(&e);
        }
    }
    // SAFETY: both non-null and writable (caller).
    unsafe {
        put(read, insert(Object::AnonRead(r)));
        put(write, insert(Object::AnonWrite(w)));
    }
    set_error(ERROR_SUCCESS);
    TRUE
}

/// `npipe_handle_fd`: the descriptor behind an anonymous pipe handle (like the CRT's
/// `_open_osfhandle` in reverse), to hand the end to a child with `dup2` before `exec`. The
/// handle keeps owning it. -1 with ERROR_INVALID_HANDLE for any other handle.
#[no_mangle]
pub extern "C" fn npipe_handle_fd(h: HANDLE) -> i32 {
    use std::os::fd::AsRawFd;
    with(h, -1, |o| match o {
        Object::AnonRead(r) => r.as_raw_fd(),
        Object::AnonWrite(w) => w.as_raw_fd(),
        _ => {
            set_error(ERROR_INVALID_HANDLE);
            -1
        }
    })
}
