//! The C ABI row: npipe driven through its Win32-shaped C functions (CreateNamedPipeA,
//! ConnectNamedPipe, CreateFileA, SetNamedPipeHandleState, ReadFile, WriteFile, CloseHandle),
//! exactly as a C program linked against libnpipe calls them, in message mode: synchronous
//! handles, or (the overlapped row) handles opened with FILE_FLAG_OVERLAPPED driven the way
//! Microsoft's overlapped server sample drives them: ReadFile/WriteFile with an OVERLAPPED and
//! a manual-reset event, WaitForSingleObject on the event while pending, then
//! GetOverlappedResult. The functions come from the `npipe-capi` rlib linked into this binary;
//! they are declared here from `include/npipe/win32.h` because the crate exports them only as
//! symbols.
//!
//! # Safety
//!
//! Each call passes pointers that are valid for the sizes the Win32 contract reads or writes:
//! NUL-terminated names (`CString`), buffers of exactly the length passed, and out-`DWORD`s
//! on this stack. `OVERLAPPED` is null (synchronous I/O) or the handle's own, boxed so its
//! address stays put, used by one operation at a time, which is waited for before the call
//! returns. A [`Handle`] owns its handle and event from creation until `CloseHandle` in `Drop`.
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
const FILE_FLAG_OVERLAPPED: Dword = 0x4000_0000;
const INFINITE: Dword = 0xFFFF_FFFF;
const WAIT_OBJECT_0: Dword = 0;
/// ReadFile/WriteFile/ConnectNamedPipe with an OVERLAPPED: the operation goes on.
const ERROR_IO_PENDING: Dword = 997;
const INVALID_HANDLE_VALUE: HANDLE = usize::MAX as HANDLE;
/// ConnectNamedPipe: the client connected before the call (a success).
const ERROR_PIPE_CONNECTED: Dword = 535;

extern "C" {
    fn GetLastError() -> Dword;
    fn CreateEventA(sa: *mut c_void, manual: Bool, initial: Bool, name: *const c_char) -> HANDLE;
    fn WaitForSingleObject(h: HANDLE, ms: Dword) -> Dword;
    fn GetOverlappedResult(h: HANDLE, ov: *mut OVERLAPPED, n: *mut Dword, wait: Bool) -> Bool;
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
pub(super) struct Handle {
    h: HANDLE,
    /// Overlapped handles: the OVERLAPPED every call uses, and its event.
    ov: Option<Box<OVERLAPPED>>,
}

/// A zeroed OVERLAPPED with a new manual-reset event.
fn new_overlapped() -> io::Result<Box<OVERLAPPED>> {
    // SAFETY: no security attributes, no name.
    let ev = unsafe { CreateEventA(std::ptr::null_mut(), 1, 0, std::ptr::null()) };
    if ev.is_null() {
        return Err(last_error("CreateEventA"));
    }
    Ok(Box::new(OVERLAPPED {
        internal: 0,
        internal_high: 0,
        offset: 0,
        offset_high: 0,
        h_event: ev,
    }))
}

impl Handle {
    /// `CreateNamedPipeA`: one duplex message-mode instance with `quota` bytes each way,
    /// opened with FILE_FLAG_OVERLAPPED when `overlapped`.
    pub(super) fn create_server(name: &str, quota: u32, overlapped: bool) -> io::Result<Handle> {
        let name = c_name(name)?;
        // SAFETY: `name` is NUL-terminated; the security attributes may be null.
        let h = unsafe {
            CreateNamedPipeA(
                name.as_ptr(),
                PIPE_ACCESS_DUPLEX | if overlapped { FILE_FLAG_OVERLAPPED } else { 0 },
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
        let mut me = Handle { h, ov: None };
        if overlapped {
            me.ov = Some(new_overlapped()?);
        }
        Ok(me)
    }

    /// `ConnectNamedPipe`: returns once a client has connected.
    pub(super) fn connect(&mut self) -> io::Result<()> {
        let ov = self.ov_ptr();
        // SAFETY: the OVERLAPPED is null (synchronous) or this handle's own, waited for below.
        if unsafe { ConnectNamedPipe(self.h, ov) } == 0 {
            // SAFETY: takes nothing; reads this thread's last error.
            match unsafe { GetLastError() } {
                ERROR_PIPE_CONNECTED => {}
                ERROR_IO_PENDING => {
                    self.finish("ConnectNamedPipe")?;
                }
                _ => return Err(last_error("ConnectNamedPipe")),
            }
        }
        Ok(())
    }

    /// The OVERLAPPED to pass: null for a synchronous handle.
    fn ov_ptr(&mut self) -> *mut OVERLAPPED {
        self.ov
            .as_deref_mut()
            .map_or(std::ptr::null_mut(), |o| o as *mut OVERLAPPED)
    }

    /// Waits for the pending operation on the handle's OVERLAPPED (WaitForSingleObject on its
    /// event, then GetOverlappedResult without waiting): its byte count.
    fn finish(&mut self, call: &str) -> io::Result<Dword> {
        let h = self.h;
        let ov = self.ov_ptr();
        if ov.is_null() {
            return Err(io::Error::other(format!(
                "{call}: pending on a synchronous handle"
            )));
        }
        // SAFETY: `ov` is this handle's boxed OVERLAPPED; its event is a valid handle.
        if unsafe { WaitForSingleObject((*ov).h_event, INFINITE) } != WAIT_OBJECT_0 {
            return Err(last_error("WaitForSingleObject"));
        }
        let mut n: Dword = 0;
        // SAFETY: `ov` is the OVERLAPPED of the operation just waited for; `n` is writable.
        if unsafe { GetOverlappedResult(h, ov, &mut n, 0) } == 0 {
            return Err(last_error(call));
        }
        Ok(n)
    }

    /// `CreateFileA` on the pipe (with FILE_FLAG_OVERLAPPED when `overlapped`), then
    /// `SetNamedPipeHandleState(PIPE_READMODE_MESSAGE)`.
    pub(super) fn open_client(name: &str, overlapped: bool) -> io::Result<Handle> {
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
                if overlapped { FILE_FLAG_OVERLAPPED } else { 0 },
                std::ptr::null_mut(),
            )
        };
        if h == INVALID_HANDLE_VALUE {
            return Err(last_error("CreateFileA"));
        }
        let mut h = Handle { h, ov: None };
        if overlapped {
            h.ov = Some(new_overlapped()?);
        }
        let mut mode = PIPE_READMODE_MESSAGE;
        // SAFETY: `mode` is a readable DWORD; the collection parameters may be null.
        let ok = unsafe {
            SetNamedPipeHandleState(h.h, &mut mode, std::ptr::null_mut(), std::ptr::null_mut())
        };
        if ok == 0 {
            return Err(last_error("SetNamedPipeHandleState"));
        }
        Ok(h)
    }
}

impl Handle {
    /// The end of a ReadFile or WriteFile that returned `ok`: the byte count, waited for when
    /// the call went pending on an overlapped handle.
    fn done(&mut self, ok: Bool, n: Dword, call: &str) -> io::Result<Dword> {
        if ok != 0 {
            return Ok(n);
        }
        // SAFETY: takes nothing; reads this thread's last error.
        if self.ov.is_some() && unsafe { GetLastError() } == ERROR_IO_PENDING {
            return self.finish(call);
        }
        Err(last_error(call))
    }
}

impl Chan for Handle {
    fn send(&mut self, m: &[u8]) -> io::Result<()> {
        let mut written: Dword = 0;
        let ov = self.ov_ptr();
        // SAFETY: `m` is readable for `m.len()` bytes and stays so until the write completes
        // (waited for below); `written` is a writable DWORD; the OVERLAPPED is null or this
        // handle's own, free (its last operation was waited for).
        let ok = unsafe { WriteFile(self.h, m.as_ptr().cast(), dword(m.len())?, &mut written, ov) };
        if self.done(ok, written, "WriteFile")? as usize != m.len() {
            return Err(io::Error::other("WriteFile: short write"));
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let mut read: Dword = 0;
        let ov = self.ov_ptr();
        // SAFETY: `buf` is writable for `buf.len()` bytes and stays so until the read completes
        // (waited for below); `read` is a writable DWORD; the OVERLAPPED as in `send`.
        let ok = unsafe {
            ReadFile(
                self.h,
                buf.as_mut_ptr().cast(),
                dword(buf.len())?,
                &mut read,
                ov,
            )
        };
        if self.done(ok, read, "ReadFile")? as usize != buf.len() {
            return Err(io::Error::other("ReadFile: unexpected message length"));
        }
        Ok(())
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: this `Handle` owns the handle and the event, which nothing uses after this
        // (no operation is pending: each was waited for).
        unsafe {
            CloseHandle(self.h);
            if let Some(ov) = &self.ov {
                CloseHandle(ov.h_event);
            }
        }
    }
}
