//! The C ABI row: npipe driven through its Win32-shaped C functions (CreateNamedPipeA,
//! ConnectNamedPipe, CreateFileA, SetNamedPipeHandleState, ReadFile, WriteFile, CloseHandle),
//! exactly as a C program linked against libnpipe calls them, in message mode, synchronous
//! handles. The functions come from the `npipe-capi` rlib linked into this binary; they are
//! declared here from `include/npipe/win32.h` because the crate exports them only as symbols.
//!
//! # Safety
//!
//! Each call passes pointers that are valid for the sizes the Win32 contract reads or writes:
//! NUL-terminated names (`CString`), buffers of exactly the length passed, and out-`DWORD`s
//! on this stack. `OVERLAPPED` is always null (synchronous I/O). A [`Handle`] owns its handle
//! from creation until `CloseHandle` in `Drop`.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_void, CString};
use std::io;

use npipe_capi::{HANDLE, OVERLAPPED};

use super::chan::Chan;

type Dword = u32;
type Bool = i32;

const PIPE_ACCESS_DUPLEX: Dword = 0x3;
const PIPE_TYPE_MESSAGE: Dword = 0x4;
const PIPE_READMODE_MESSAGE: Dword = 0x2;
const PIPE_WAIT: Dword = 0x0;
const GENERIC_READ: Dword = 0x8000_0000;
const GENERIC_WRITE: Dword = 0x4000_0000;
const OPEN_EXISTING: Dword = 3;
const INVALID_HANDLE_VALUE: HANDLE = usize::MAX as HANDLE;
/// ConnectNamedPipe: the client connected before the call (a success).
const ERROR_PIPE_CONNECTED: Dword = 535;

extern "C" {
    fn GetLastError() -> Dword;
    fn CloseHandle(h: HANDLE) -> Bool;
    fn CreateNamedPipeA(
        name: *const c_char,
        open_mode: Dword,
        pipe_mode: Dword,
        max_instances: Dword,
        out_size: Dword,
        in_size: Dword,
        timeout: Dword,
        sa: *mut c_void,
    ) -> HANDLE;
    fn ConnectNamedPipe(h: HANDLE, ov: *mut OVERLAPPED) -> Bool;
    fn CreateFileA(
        name: *const c_char,
        access: Dword,
        share: Dword,
        sa: *mut c_void,
        disposition: Dword,
        flags: Dword,
        template: HANDLE,
    ) -> HANDLE;
    fn SetNamedPipeHandleState(
        h: HANDLE,
        mode: *mut Dword,
        max_collection: *mut Dword,
        timeout: *mut Dword,
    ) -> Bool;
    fn ReadFile(
        h: HANDLE,
        buf: *mut c_void,
        size: Dword,
        read: *mut Dword,
        ov: *mut OVERLAPPED,
    ) -> Bool;
    fn WriteFile(
        h: HANDLE,
        buf: *const c_void,
        size: Dword,
        written: *mut Dword,
        ov: *mut OVERLAPPED,
    ) -> Bool;
}

/// The calling thread's last error as an `io::Error`, named as Win32 names it.
fn last_error(call: &str) -> io::Error {
    // SAFETY: takes nothing; reads this thread's last error.
    let code = unsafe { GetLastError() };
    io::Error::other(format!("{call} failed: Win32 error {code}"))
}

fn c_name(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::other("a pipe name with a NUL"))
}

#[inline]
fn dword(n: usize) -> io::Result<Dword> {
    Dword::try_from(n).map_err(|_| io::Error::other("a message over 4 GiB"))
}

/// One end of a pipe opened through the C ABI.
#[derive(Debug)]
pub(super) struct Handle(HANDLE);

impl Handle {
    /// `CreateNamedPipeA`: one duplex message-mode instance with `quota` bytes each way.
    pub(super) fn create_server(name: &str, quota: u32) -> io::Result<Handle> {
        let name = c_name(name)?;
        // SAFETY: `name` is NUL-terminated; the security attributes may be null.
        let h = unsafe {
            CreateNamedPipeA(
                name.as_ptr(),
                PIPE_ACCESS_DUPLEX,
                PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT,
                1,
                quota,
                quota,
                0,
                std::ptr::null_mut(),
            )
        };
        if h == INVALID_HANDLE_VALUE {
            return Err(last_error("CreateNamedPipeA"));
        }
        Ok(Handle(h))
    }

    /// `ConnectNamedPipe`, synchronous: returns once a client has connected.
    pub(super) fn connect(&self) -> io::Result<()> {
        // SAFETY: a null OVERLAPPED asks for a synchronous call.
        if unsafe { ConnectNamedPipe(self.0, std::ptr::null_mut()) } == 0 {
            // SAFETY: takes nothing; reads this thread's last error.
            if unsafe { GetLastError() } != ERROR_PIPE_CONNECTED {
                return Err(last_error("ConnectNamedPipe"));
            }
        }
        Ok(())
    }

    /// `CreateFileA` on the pipe, then `SetNamedPipeHandleState(PIPE_READMODE_MESSAGE)`.
    pub(super) fn open_client(name: &str) -> io::Result<Handle> {
        let name = c_name(name)?;
        // SAFETY: `name` is NUL-terminated; the security attributes and the template may be
        // null.
        let h = unsafe {
            CreateFileA(
                name.as_ptr(),
                GENERIC_READ | GENERIC_WRITE,
                0,
                std::ptr::null_mut(),
                OPEN_EXISTING,
                0,
                std::ptr::null_mut(),
            )
        };
        if h == INVALID_HANDLE_VALUE {
            return Err(last_error("CreateFileA"));
        }
        let h = Handle(h);
        let mut mode = PIPE_READMODE_MESSAGE;
        // SAFETY: `mode` is a readable DWORD; the collection parameters may be null.
        let ok = unsafe {
            SetNamedPipeHandleState(h.0, &mut mode, std::ptr::null_mut(), std::ptr::null_mut())
        };
        if ok == 0 {
            return Err(last_error("SetNamedPipeHandleState"));
        }
        Ok(h)
    }
}

impl Chan for Handle {
    fn send(&mut self, m: &[u8]) -> io::Result<()> {
        let mut written: Dword = 0;
        // SAFETY: `m` is readable for `m.len()` bytes; `written` is a writable DWORD; the
        // OVERLAPPED is null (synchronous).
        let ok = unsafe {
            WriteFile(
                self.0,
                m.as_ptr().cast(),
                dword(m.len())?,
                &mut written,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(last_error("WriteFile"));
        }
        if written as usize != m.len() {
            return Err(io::Error::other("WriteFile: short write"));
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let mut read: Dword = 0;
        // SAFETY: `buf` is writable for `buf.len()` bytes; `read` is a writable DWORD; the
        // OVERLAPPED is null (synchronous).
        let ok = unsafe {
            ReadFile(
                self.0,
                buf.as_mut_ptr().cast(),
                dword(buf.len())?,
                &mut read,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(last_error("ReadFile"));
        }
        if read as usize != buf.len() {
            return Err(io::Error::other("ReadFile: unexpected message length"));
        }
        Ok(())
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: this `Handle` owns the handle, which nothing uses after this.
        unsafe { CloseHandle(self.0) };
    }
}
