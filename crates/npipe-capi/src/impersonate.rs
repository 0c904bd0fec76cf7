//! Identity across a pipe: ImpersonateNamedPipeClient and RevertToSelf (the calling thread
//! takes the client's fsuid, fsgid and groups), GetNamedPipeClientComputerNameA, the session
//! ids (GetNamedPipeClientSessionId, GetNamedPipeServerSessionId), and the npipe extension
//! `npipe_get_server_uid` with which a client checks whom it talks to.

use crate::handles::{not_pipe, with, Object};
use crate::*;

/// `ERROR_PIPE_LOCAL`: the pipe is local (no client computer name).
const ERROR_PIPE_LOCAL: u32 = 229;

/// `ImpersonateNamedPipeClient` (W133): the calling thread acts as the client until
/// RevertToSelf; ERROR_CANNOT_IMPERSONATE before the server has read from the client.
///
/// # Safety
/// None beyond the handle contract (any value is checked).
#[export_name = "npipe_ImpersonateNamedPipeClient"]
pub unsafe extern "C" fn ImpersonateNamedPipeClient(h: HANDLE) -> BOOL {
    with(h, FALSE, |o| match o {
        Object::Server(s) => match s.impersonate_client() {
            Ok(guard) => {
                // The thread stays the client until RevertToSelf, which reverts through the
                // same per-thread state the guard would.
                std::mem::forget(guard);
                set_error(ERROR_SUCCESS);
                TRUE
            }
            Err(e) => fail_io(&e),
        },
        // Only the server end can impersonate its client.
        Object::Client(_) => fail(ERROR_CANNOT_IMPERSONATE),
        _ => fail(ERROR_INVALID_FUNCTION),
    })
}

/// `RevertToSelf`: the calling thread gets its own identity back (TRUE when it was not
/// impersonating).
#[export_name = "npipe_RevertToSelf"]
pub extern "C" fn RevertToSelf() -> BOOL {
    match npipe::revert_to_self() {
        Ok(()) => TRUE,
        Err(e) => fail_io(&e),
    }
}

/// `npipe_get_server_uid` (npipe extension): the effective uid of the process serving the
/// pipe, as the kernel recorded it when the client connected; on a server handle, this
/// process's effective uid. A client compares it with the uid it expects before sending
/// anything secret.
///
/// # Safety
/// `uid` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn npipe_get_server_uid(h: HANDLE, uid: *mut u32) -> BOOL {
    with(h, FALSE, |o| {
        if uid.is_null() {
            return fail(ERROR_INSUFFICIENT_BUFFER);
        }
        let r = match o {
            Object::Server(_) => Ok(rustix::process::geteuid().as_raw()),
            Object::Client(c) => c.server_uid(),
            _ => not_pipe(o),
        };
        match r {
            Ok(u) => {
                // SAFETY: non-null and writable (caller).
                unsafe { put(uid, u) };
                TRUE
            }
            Err(e) => fail_io(&e),
        }
    })
}

/// `GetNamedPipeClientComputerNameA`: the IP address of a remote (SMB) client relayed by
/// `npipe_ExposeNamedPipeSmbA`, NUL-terminated (ERROR_INSUFFICIENT_BUFFER when `len` bytes
/// cannot hold it); for a local client ERROR_PIPE_LOCAL, as Windows does for a client on the
/// same machine (a behaviour checked on Windows by the doc-tests of the `firehazard` crate,
/// for instance; Wine lacks the call).
///
/// # Safety
/// `name` is null or writable for `len` bytes.
#[export_name = "npipe_GetNamedPipeClientComputerNameA"]
pub unsafe extern "C" fn GetNamedPipeClientComputerNameA(
    h: HANDLE,
    name: *mut c_char,
    len: u32,
) -> BOOL {
    with(h, FALSE, |o| match remote_address(o) {
        Err(code) => fail(code),
        Ok(addr) => {
            let fits = !name.is_null()
                // SAFETY: `name` is not null (checked) and writable for `len` bytes (caller).
                && unsafe { put_terminated(name.cast::<u8>(), len as usize, addr.as_bytes()) };
            if !fits {
                return fail(ERROR_INSUFFICIENT_BUFFER);
            }
            set_error(ERROR_SUCCESS);
            TRUE
        }
    })
}

/// The remote client's address for the ComputerName calls, or the Win32 error.
fn remote_address(o: &Object) -> Result<String, u32> {
    match o {
        Object::Server(s) => match s.remote_client() {
            Ok(Some(r)) => r.address.ok_or(ERROR_PIPE_LOCAL),
            Ok(None) => Err(ERROR_PIPE_LOCAL),
            Err(e) => Err(npipe::win32_code(&e)),
        },
        Object::Client(_) => Err(ERROR_PIPE_LOCAL),
        _ => Err(ERROR_INVALID_FUNCTION),
    }
}

/// Stores a session id result as the Get...SessionId calls do.
///
/// # Safety
/// `id` is null or writable.
unsafe fn session_result(r: io::Result<u32>, id: *mut u32) -> BOOL {
    match r {
        Ok(v) => {
            // SAFETY: non-null (checked by the callers) and writable (caller).
            unsafe { put(id, v) };
            TRUE
        }
        Err(e) => fail_io(&e),
    }
}

/// `GetNamedPipeClientSessionId` (W132): on a server handle the connected client's Linux
/// session id (`getsid`, read through a pidfd for that very process; ERROR_NOT_FOUND after a
/// disconnect or once the client has exited); on a client handle this process's.
///
/// # Safety
/// `id` is null or writable.
#[export_name = "npipe_GetNamedPipeClientSessionId"]
pub unsafe extern "C" fn GetNamedPipeClientSessionId(h: HANDLE, id: *mut u32) -> BOOL {
    with(h, FALSE, |o| {
        if id.is_null() {
            return fail(ERROR_INSUFFICIENT_BUFFER);
        }
        let r = match o {
            Object::Server(s) => s.client_session_id(),
            Object::Client(c) => c.client_process_id().map(|_| c.client_session_id()),
            _ => not_pipe(o),
        };
        // SAFETY: forwarded contract.
        unsafe { session_result(r, id) }
    })
}

/// `GetNamedPipeServerSessionId` (W132): on a client handle the server's Linux session id
/// (as for the client's); on a server handle this process's.
///
/// # Safety
/// `id` is null or writable.
#[export_name = "npipe_GetNamedPipeServerSessionId"]
pub unsafe extern "C" fn GetNamedPipeServerSessionId(h: HANDLE, id: *mut u32) -> BOOL {
    with(h, FALSE, |o| {
        if id.is_null() {
            return fail(ERROR_INSUFFICIENT_BUFFER);
        }
        let r = match o {
            Object::Server(s) => Ok(s.server_session_id()),
            Object::Client(c) => c.server_session_id(),
            _ => not_pipe(o),
        };
        // SAFETY: forwarded contract.
        unsafe { session_result(r, id) }
    })
}

/// `GetNamedPipeClientComputerNameW`: as [`GetNamedPipeClientComputerNameA`], in UTF-16;
/// `len` counts bytes, as on Windows.
///
/// # Safety
/// `name` is null or writable for `len` bytes, aligned for u16.
#[export_name = "npipe_GetNamedPipeClientComputerNameW"]
pub unsafe extern "C" fn GetNamedPipeClientComputerNameW(
    h: HANDLE,
    name: *mut u16,
    len: u32,
) -> BOOL {
    with(h, FALSE, |o| match remote_address(o) {
        Err(code) => fail(code),
        Ok(addr) => {
            let units: Vec<u16> = addr.encode_utf16().collect();
            // SAFETY: `name` is null (refused) or writable and aligned for `len` bytes, so for
            // `len / 2` units (caller).
            if name.is_null() || !unsafe { put_terminated(name, len as usize / 2, &units) } {
                return fail(ERROR_INSUFFICIENT_BUFFER);
            }
            set_error(ERROR_SUCCESS);
            TRUE
        }
    })
}
