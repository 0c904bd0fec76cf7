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
// The exported functions carry Win32's names (their symbols are `npipe_` + the name).
#![allow(non_snake_case)]
//!
//! # Rooms
//! - `handles`: the handle table, CloseHandle, the descriptors behind handles;
//! - `pipes`: named pipes (create, open, connect, peek, transact, state and info);
//! - `io`: ReadFile, WriteFile, ReadFileEx, WriteFileEx, FlushFileBuffers on every kind of handle;
//! - `mailslots`, `anonymous`: the other two pipe kinds;
//! - `overlapped`: OVERLAPPED, NTSTATUS codes, completion, GetOverlappedResult(Ex), CancelIo(Ex);
//! - `engine`: the thread that completes overlapped operations as their ends become ready;
//! - `sync`: events and the wait functions; `apc`: per-thread completion-routine queues;
//! - `threads`: CreateThread and thread handles; `ipc`: the `ipc.h` API;
//! - `files`: CreateFile on paths, standard handles, file sizes and positions;
//! - `process`: CreateProcess, process handles, inheritance into the child; `relay`: named
//!   pipe ends as a child's standard handles; `dup`: DuplicateHandle and handle flags;
//! - `find`: FindFirstFile over pipes and directories; `messages`: FormatMessage;
//! - `sids`, `acls`, `descriptors`, `sddl`: SIDs, ACLs and security descriptors (and their
//!   SDDL strings), mapped onto npipe access policies for CreateNamedPipe and CreateMailslot;
//!   `impersonate`: ImpersonateNamedPipeClient, RevertToSelf, the server's uid for clients;
//!   `token`: access tokens (OpenProcessToken, OpenThreadToken, GetTokenInformation);
//!   `accounts`: account names (LookupAccountSid, LookupAccountName, GetUserName);
//! - `ready`: readiness descriptors for the caller's event loop (`npipe_ready_fd`, `npipe_arm`,
//!   `npipe_wait_named_pipe_start`).

use std::cell::Cell;
use std::ffi::{c_char, c_void, CStr};
use std::io;

use npipe::error::code::*;
use npipe::{
    AnonReader, AnonWriter, ClientOptions, Mailslot, MailslotOptions, MailslotWriter, MsgLen,
    NamedPipeClient, NamedPipeServer, ReadMode, ServerOptions, WaitFor,
};
use npipe_core as npipe;

mod accounts;
mod acls;
mod anonymous;
mod apc;
mod cmdline;
mod descriptors;
mod dup;
mod engine;
mod files;
mod find;
mod forklock;
mod handles;
mod impersonate;
mod inherit;
mod io_calls;
mod iocp;
mod ipc;
mod lookup;
mod mailslots;
mod messages;
mod modules;
mod overlapped;
mod pipes;
mod process;
mod ready;
mod regwait;
mod relay;
mod results;
mod sddl;
mod sids;
mod smb;
mod sync;
mod threads;
mod token;
mod win32_names;
mod wnet;

pub use overlapped::OVERLAPPED;
pub use process::{PROCESS_INFORMATION, STARTUPINFOA};

/// `HANDLE`.
pub type HANDLE = *mut c_void;
/// `DWORD`.
pub type DWORD = u32;
/// `BOOL`.
pub type BOOL = i32;

const TRUE: BOOL = 1;
const FALSE: BOOL = 0;
const INVALID_HANDLE_VALUE: HANDLE = usize::MAX as HANDLE;
/// `ERROR_NO_SYSTEM_RESOURCES`.
const ERROR_NO_SYSTEM_RESOURCES: u32 = 1450;

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

/// Copies `units` and a terminating NUL into a caller's buffer of `cap` units (bytes for an
/// ANSI string, `u16` for UTF-16), as the calls that return a name do; false, with nothing
/// written, when they do not fit.
///
/// # Safety
/// `p` is writable for `cap` units.
unsafe fn put_terminated<T: Copy + Default>(p: *mut T, cap: usize, units: &[T]) -> bool {
    if units.len() >= cap {
        return false;
    }
    // SAFETY: units.len() + 1 <= cap units, writable (caller); the source is a distinct slice.
    unsafe {
        std::ptr::copy_nonoverlapping(units.as_ptr(), p, units.len());
        p.add(units.len()).write(T::default());
    }
    true
}

/// `units` and a terminating NUL in a new block the caller releases with LocalFree (`free`),
/// as the calls that hand out a string do (ConvertSidToStringSid); null when out of memory.
fn local_terminated<T: Copy>(units: &[T]) -> *mut T {
    // SAFETY: calloc of a non-zero size (at least the terminator); the block is zeroed.
    let p = unsafe { libc::calloc(units.len() + 1, std::mem::size_of::<T>()) }.cast::<T>();
    if !p.is_null() {
        // SAFETY: `p` has room for the units and the zeroed terminator after them.
        unsafe { std::ptr::copy_nonoverlapping(units.as_ptr(), p, units.len()) };
    }
    p
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

/// Decodes a UTF-16 name. An unpaired surrogate has no UTF-8 spelling; it becomes a NUL,
/// which no pipe, mailslot or file name can hold, so the name fails (ERROR_INVALID_NAME on
/// create, ERROR_FILE_NOT_FOUND on open) instead of aliasing another name, as lossy decoding
/// (every such unit as U+FFFD) would. The rest of the name keeps its meaning (a `\\.\pipe\`
/// prefix still makes it a pipe name).
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
        char::decode_utf16(units.iter().copied())
            .map(|c| c.unwrap_or('\0'))
            .collect(),
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

/// `npipe_version`: the library's version, "major.minor.patch" (the headers' `NPIPE_VERSION` is
/// the version they were written for).
#[no_mangle]
pub extern "C" fn npipe_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// `GetLastError`.
#[export_name = "npipe_GetLastError"]
pub extern "C" fn GetLastError() -> DWORD {
    LAST_ERROR.with(|c| c.get())
}

/// `SetLastError`.
#[export_name = "npipe_SetLastError"]
pub extern "C" fn SetLastError(code: DWORD) {
    set_error(code);
}

/// `GetCurrentProcessId`.
#[export_name = "npipe_GetCurrentProcessId"]
pub extern "C" fn GetCurrentProcessId() -> DWORD {
    std::process::id()
}
