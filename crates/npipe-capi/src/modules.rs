//! Module handles: GetModuleHandleA/W, LoadLibraryA/W, FreeLibrary and GetProcAddress, for
//! programs that look up optional Win32 functions at run time (Qt finds CancelIoEx so, libuv
//! and others the functions newer Windows versions added). The system DLLs whose functions
//! libnpipe provides (kernel32, kernelbase, advapi32, mpr) are one module, libnpipe itself, and
//! GetProcAddress finds in it every Win32 function the headers declare; the program itself
//! (GetModuleHandle(NULL)) is the other module. Any other library is ERROR_MOD_NOT_FOUND: npipe
//! loads no Windows DLL.

use std::ffi::{c_char, c_void, CStr};

use crate::*;

/// `ERROR_MOD_NOT_FOUND`.
const ERROR_MOD_NOT_FOUND: DWORD = 126;
/// `ERROR_PROC_NOT_FOUND`.
const ERROR_PROC_NOT_FOUND: DWORD = 127;

/// The objects whose addresses stand for the two modules (never dereferenced as anything).
static PROGRAM: u8 = 0;
static SYSTEM: u8 = 0;

/// The program's module handle (GetModuleHandle(NULL)).
pub(crate) fn program() -> HANDLE {
    std::ptr::addr_of!(PROGRAM) as HANDLE
}

fn system() -> HANDLE {
    std::ptr::addr_of!(SYSTEM) as HANDLE
}

/// The module a DLL name stands for: `kernel32`, `kernel32.dll`, `KERNEL32.DLL`, a path ending
/// in one of them (`C:\Windows\System32\kernel32.dll`), and the other DLLs libnpipe stands in
/// for.
fn module_of(name: &str) -> Option<HANDLE> {
    let base = name.rsplit(['\\', '/']).next().unwrap_or(name);
    let lower = base.to_ascii_lowercase();
    let stem = lower.strip_suffix(".dll").unwrap_or(&lower);
    matches!(stem, "kernel32" | "kernelbase" | "advapi32" | "mpr").then(system)
}

/// GetModuleHandle of `name` (`None`: the program).
fn by_name(name: Option<String>) -> HANDLE {
    let Some(h) = name.map_or(Some(program()), |n| module_of(&n)) else {
        set_error(ERROR_MOD_NOT_FOUND);
        return std::ptr::null_mut();
    };
    set_error(ERROR_SUCCESS);
    h
}

/// `GetModuleHandleA`: NULL is the program; the system DLLs libnpipe provides are libnpipe;
/// anything else is NULL with ERROR_MOD_NOT_FOUND.
///
/// # Safety
/// `name` is null or NUL-terminated.
#[export_name = "npipe_GetModuleHandleA"]
pub unsafe extern "C" fn GetModuleHandleA(name: *const c_char) -> HANDLE {
    // SAFETY: forwarded contract.
    by_name(unsafe { name_a(name) })
}

/// `GetModuleHandleW`, as [`GetModuleHandleA`].
///
/// # Safety
/// `name` is null or NUL-terminated UTF-16.
#[export_name = "npipe_GetModuleHandleW"]
pub unsafe extern "C" fn GetModuleHandleW(name: *const u16) -> HANDLE {
    // SAFETY: forwarded contract.
    by_name(unsafe { name_w(name) })
}

/// LoadLibrary of `name`: as GetModuleHandle, but a library must be named.
fn load(name: Option<String>) -> HANDLE {
    if name.is_none() {
        set_error(ERROR_INVALID_PARAMETER);
        return std::ptr::null_mut();
    }
    by_name(name)
}

/// `LoadLibraryA`: the system DLLs libnpipe provides (as [`GetModuleHandleA`]); any other
/// library NULL with ERROR_MOD_NOT_FOUND, and NULL itself ERROR_INVALID_PARAMETER.
///
/// # Safety
/// `name` is null or NUL-terminated.
#[export_name = "npipe_LoadLibraryA"]
pub unsafe extern "C" fn LoadLibraryA(name: *const c_char) -> HANDLE {
    // SAFETY: forwarded contract.
    load(unsafe { name_a(name) })
}

/// `LoadLibraryW`, as [`LoadLibraryA`].
///
/// # Safety
/// `name` is null or NUL-terminated UTF-16.
#[export_name = "npipe_LoadLibraryW"]
pub unsafe extern "C" fn LoadLibraryW(name: *const u16) -> HANDLE {
    // SAFETY: forwarded contract.
    load(unsafe { name_w(name) })
}

/// `FreeLibrary`: TRUE for a module handle these calls gave (the modules stay loaded, as
/// system DLLs do), else ERROR_INVALID_HANDLE.
#[export_name = "npipe_FreeLibrary"]
pub extern "C" fn FreeLibrary(module: HANDLE) -> BOOL {
    if module == system() || module == program() {
        set_error(ERROR_SUCCESS);
        TRUE
    } else {
        fail(ERROR_INVALID_HANDLE)
    }
}

/// `GetProcAddress`: in the system module, the function of that Win32 name libnpipe provides
/// (its `npipe_` symbol, which the headers map the name to); NULL with ERROR_PROC_NOT_FOUND for
/// a name it does not provide, an ordinal, or the program's module (which exports nothing
/// here); ERROR_MOD_NOT_FOUND for a handle that is no module.
///
/// # Safety
/// `name` is an ordinal (below 0x10000) or a NUL-terminated string.
#[export_name = "npipe_GetProcAddress"]
pub unsafe extern "C" fn GetProcAddress(module: HANDLE, name: *const c_char) -> *mut c_void {
    if module != system() && module != program() {
        set_error(ERROR_MOD_NOT_FOUND);
        return std::ptr::null_mut();
    }
    if (name as usize) < 0x10000 || module == program() {
        set_error(ERROR_PROC_NOT_FOUND);
        return std::ptr::null_mut();
    }
    // SAFETY: a string pointer (not an ordinal), NUL-terminated (caller).
    let name = unsafe { CStr::from_ptr(name) }.to_bytes();
    match crate::win32_names::address_of(name) {
        Some(f) => {
            set_error(ERROR_SUCCESS);
            f.cast_mut()
        }
        None => {
            set_error(ERROR_PROC_NOT_FOUND);
            std::ptr::null_mut()
        }
    }
}
