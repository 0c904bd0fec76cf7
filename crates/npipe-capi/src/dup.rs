//! DuplicateHandle and the per-handle flags (GetHandleInformation, SetHandleInformation).
//!
//! A duplicate is a second handle to the same object (the same file position, the same pipe
//! end, the same event), which closes with the last of its handles; each handle has its own
//! flags (HANDLE_FLAG_INHERIT, HANDLE_FLAG_PROTECT_FROM_CLOSE). Only this process can be the
//! source and the target: `GetCurrentProcess()` or a handle to this process.
//! npipe departs: duplicating into or out of another process fails with ERROR_NOT_SUPPORTED
//! (pass handles to a child through inheritance instead), and dwDesiredAccess is not
//! enforced (a duplicate has the source's access, as with DUPLICATE_SAME_ACCESS).

use std::sync::Arc;

use crate::handles::CloseHandle;
use crate::handles::{self, Entry, Object, HANDLE_FLAG_INHERIT, HANDLE_FLAG_PROTECT_FROM_CLOSE};
use crate::*;

/// `DUPLICATE_CLOSE_SOURCE`.
const DUPLICATE_CLOSE_SOURCE: DWORD = 1;

/// Whether `h` names this process (GetCurrentProcess() or a handle to it).
fn is_this_process(h: HANDLE) -> Result<(), DWORD> {
    if h == INVALID_HANDLE_VALUE {
        return Ok(());
    }
    match handles::get(h) {
        Some(e) => match &e.obj {
            Object::Process(p) if p.done().is_set() => Err(ERROR_ACCESS_DENIED),
            Object::Process(p) if p.pid() == std::process::id() => Ok(()),
            Object::Process(_) => Err(ERROR_NOT_SUPPORTED),
            _ => Err(ERROR_INVALID_HANDLE),
        },
        None => Err(ERROR_INVALID_HANDLE),
    }
}

/// The entry a pseudo handle stands for, made fresh: the calling thread or this process.
fn pseudo_entry(h: HANDLE) -> Option<Arc<Entry>> {
    if h == crate::threads::GetCurrentThread() {
        return Some(Arc::new(Entry::new(
            Object::Thread(crate::threads::current_thread()),
            false,
        )));
    }
    if h == INVALID_HANDLE_VALUE {
        return Some(Arc::new(Entry::new(
            Object::Process(Arc::new(crate::process::this_process())),
            false,
        )));
    }
    None
}

/// `DuplicateHandle`.
///
/// # Errors
/// ERROR_INVALID_HANDLE for a source that is not open (the pseudo handles of the calling
/// thread and process are accepted: the duplicate is a real handle to them); ERROR_NOT_SUPPORTED
/// when either process is another one; ERROR_NO_SYSTEM_RESOURCES when the table is full.
/// With DUPLICATE_CLOSE_SOURCE the source is closed even when the duplication fails.
///
/// # Safety
/// `target` is null or writable.
#[export_name = "npipe_DuplicateHandle"]
pub unsafe extern "C" fn DuplicateHandle(
    source_process: HANDLE,
    source: HANDLE,
    target_process: HANDLE,
    target: *mut HANDLE,
    _access: DWORD,
    inherit: BOOL,
    options: DWORD,
) -> BOOL {
    let close_source = options & DUPLICATE_CLOSE_SOURCE != 0;
    let finish = |ok: BOOL| {
        let pseudo = source == crate::threads::GetCurrentThread() || source == INVALID_HANDLE_VALUE;
        if close_source && !pseudo {
            // The close does not change what the call reports.
            let err = GetLastError();
            CloseHandle(source);
            set_error(err);
        }
        ok
    };
    if let Err(code) = is_this_process(source_process) {
        return fail(code);
    }
    if let Err(code) = is_this_process(target_process) {
        let r = fail(code);
        return finish(r);
    }
    let entry = match pseudo_entry(source) {
        Some(e) => Some((e, true)),
        None => handles::get(source).map(|e| (e, false)),
    };
    let Some((entry, fresh)) = entry else {
        return fail(ERROR_INVALID_HANDLE);
    };
    if target.is_null() {
        // Nothing to return: only the source's closing was asked for.
        return finish(TRUE);
    }
    let flags = if inherit != 0 { HANDLE_FLAG_INHERIT } else { 0 };
    let h = if fresh {
        let Some(e) = Arc::into_inner(entry) else {
            return fail(ERROR_INVALID_HANDLE);
        };
        match handles::try_insert(e) {
            Some(h) => {
                handles::set_flags(h, HANDLE_FLAG_INHERIT, flags);
                Ok(h)
            }
            None => Err(ERROR_NO_SYSTEM_RESOURCES),
        }
    } else {
        handles::duplicate(&entry, flags)
    };
    match h {
        Ok(h) => {
            // SAFETY: non-null and writable (caller).
            unsafe { put(target, h) };
            set_error(ERROR_SUCCESS);
            finish(TRUE)
        }
        Err(code) => {
            let r = fail(code);
            finish(r)
        }
    }
}

/// `GetHandleInformation`: HANDLE_FLAG_INHERIT and HANDLE_FLAG_PROTECT_FROM_CLOSE.
///
/// # Safety
/// `flags` is null or writable.
#[export_name = "npipe_GetHandleInformation"]
pub unsafe extern "C" fn GetHandleInformation(h: HANDLE, flags: *mut DWORD) -> BOOL {
    let Some(f) = handles::flags(h) else {
        return fail(ERROR_INVALID_HANDLE);
    };
    if flags.is_null() {
        return fail(ERROR_NOACCESS);
    }
    // SAFETY: non-null and writable (caller).
    unsafe { put(flags, f) };
    TRUE
}

/// `SetHandleInformation`: sets the flags in `mask` to their values in `flags`.
#[export_name = "npipe_SetHandleInformation"]
pub extern "C" fn SetHandleInformation(h: HANDLE, mask: DWORD, flags: DWORD) -> BOOL {
    let known = HANDLE_FLAG_INHERIT | HANDLE_FLAG_PROTECT_FROM_CLOSE;
    if handles::set_flags(h, mask & known, flags) {
        TRUE
    } else {
        fail(ERROR_INVALID_HANDLE)
    }
}
