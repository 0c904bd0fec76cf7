//! The npipe extension that exposes a pipe of this process to SMB clients through the local
//! Samba server (`npipe_ExposeNamedPipeSmbA`, `npipe_UnexposeNamedPipeSmbA`): a table of the
//! running exposures by pipe name, each an `SmbExposure` listener of the Rust API.

use std::collections::HashMap;
use std::ffi::c_char;
use std::sync::Mutex;

use npipe::{SmbExposure, SmbListener};

use crate::*;

/// The running exposures, by pipe name folded to lower case.
static EXPOSED: Mutex<Option<HashMap<String, SmbListener>>> = Mutex::new(None);

fn table<R>(f: impl FnOnce(&mut HashMap<String, SmbListener>) -> R) -> R {
    let mut g = EXPOSED.lock().unwrap_or_else(|p| p.into_inner());
    f(g.get_or_insert_with(HashMap::new))
}

/// `npipe_ExposeNamedPipeSmbA` (npipe extension): makes the pipe `name` (`\\.\pipe\NAME`),
/// which this process must serve already, reachable by SMB clients as `\\HOST\IPC$\NAME`
/// through the local smbd; `np_dir` is Samba's `<ncalrpc dir>/np`, or NULL to ask `testparm`.
/// Errors as `SmbExposure::expose`, and ERROR_ALREADY_EXISTS when this process exposes the
/// name already.
///
/// # Safety
/// `name` and `np_dir` are null or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn npipe_ExposeNamedPipeSmbA(
    name: *const c_char,
    np_dir: *const c_char,
) -> BOOL {
    // SAFETY: forwarded contract.
    let Some(name) = (unsafe { name_a(name) }) else {
        return fail(ERROR_INVALID_PARAMETER);
    };
    // SAFETY: forwarded contract.
    let dir = unsafe { name_a(np_dir) };
    let key = name.to_lowercase();
    table(|t| {
        if t.contains_key(&key) {
            return fail(ERROR_ALREADY_EXISTS);
        }
        let mut opts = SmbExposure::new();
        if let Some(d) = dir {
            opts.np_dir(d);
        }
        match opts.expose(&name) {
            Ok(l) => {
                t.insert(key, l);
                set_error(ERROR_SUCCESS);
                TRUE
            }
            Err(e) => fail_io(&e),
        }
    })
}

/// `npipe_UnexposeNamedPipeSmbA` (npipe extension): stops what `npipe_ExposeNamedPipeSmbA`
/// started for `name`: the socket goes, and relayed SMB clients are disconnected.
/// ERROR_FILE_NOT_FOUND when the name is not exposed.
///
/// # Safety
/// `name` is null or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn npipe_UnexposeNamedPipeSmbA(name: *const c_char) -> BOOL {
    // SAFETY: forwarded contract.
    let Some(name) = (unsafe { name_a(name) }) else {
        return fail(ERROR_INVALID_PARAMETER);
    };
    // Stopped outside the table's lock: stopping joins the listener thread.
    let l = table(|t| t.remove(&name.to_lowercase()));
    match l {
        Some(mut l) => {
            l.stop();
            TRUE
        }
        None => fail(ERROR_FILE_NOT_FOUND),
    }
}
