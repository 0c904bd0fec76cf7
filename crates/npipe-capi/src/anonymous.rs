//! Anonymous pipes: CreatePipe (W135-W140).

use crate::handles::{insert_obj, Object, HANDLE_FLAG_INHERIT};
use crate::*;

/// `SECURITY_ATTRIBUTES`, as laid out by Win32.
#[repr(C)]
#[derive(Debug)]
pub struct SECURITY_ATTRIBUTES {
    /// Size of the structure.
    pub n_length: DWORD,
    /// Security descriptor: the access policy of named pipes and mailslots (see `acls`);
    /// anonymous pipes have no name to reach and ignore it.
    pub lp_security_descriptor: *mut c_void,
    /// Whether the handles are inheritable (HANDLE_FLAG_INHERIT: CreateProcess with
    /// bInheritHandles passes them).
    pub b_inherit_handle: BOOL,
}

/// `CreatePipe` (W135-W140): `*read` gets the read (server) end, `*write` the write end.
///
/// # Safety
/// `read` and `write` are null or writable; `sa` is null or a readable SECURITY_ATTRIBUTES.
#[export_name = "npipe_CreatePipe"]
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
    let (hr, hw) = (
        insert_obj(Object::AnonRead(r)),
        insert_obj(Object::AnonWrite(w)),
    );
    if hr == INVALID_HANDLE_VALUE || hw == INVALID_HANDLE_VALUE {
        crate::handles::CloseHandle(hr);
        crate::handles::CloseHandle(hw);
        return fail(ERROR_NO_SYSTEM_RESOURCES);
    }
    if inherit {
        // W140: bInheritHandle makes both handles inheritable: CreateProcess with
        // bInheritHandles passes them. The descriptors stay close-on-exec, so no other exec
        // (system(), posix_spawn) carries them by accident.
        crate::handles::set_flags(hr, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT);
        crate::handles::set_flags(hw, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT);
    }
    // SAFETY: both non-null and writable (caller).
    unsafe {
        put(read, hr);
        put(write, hw);
    }
    set_error(ERROR_SUCCESS);
    TRUE
}
