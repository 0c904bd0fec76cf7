//! Mailslots: CreateMailslot, GetMailslotInfo, SetMailslotInfo (W141-W152).

use crate::handles::{insert_obj, with, Object};
use crate::*;

const MAILSLOT_WAIT_FOREVER: DWORD = DWORD::MAX;
const MAILSLOT_NO_MESSAGE: DWORD = DWORD::MAX;

fn create_mailslot(
    name: Option<String>,
    max: DWORD,
    timeout: DWORD,
    policy: Result<Option<npipe::AccessPolicy>, u32>,
) -> HANDLE {
    let Some(name) = name else {
        // W141: a NULL name.
        set_error(ERROR_PATH_NOT_FOUND);
        return INVALID_HANDLE_VALUE;
    };
    let mut opts = MailslotOptions::new();
    opts.max_message_size(max).read_timeout_ms(timeout);
    if !crate::acls::apply_policy(policy, |p| {
        opts.access_policy(p);
    }) {
        return INVALID_HANDLE_VALUE;
    }
    match opts.create(&name) {
        Ok(m) => {
            set_error(ERROR_SUCCESS);
            insert_obj(Object::Mailslot(m))
        }
        Err(e) => {
            fail_io(&e);
            INVALID_HANDLE_VALUE
        }
    }
}

/// `CreateMailslotA`: the descriptor in `sa` sets who may write (see `acls`).
///
/// # Safety
/// `sa` is null or a readable SECURITY_ATTRIBUTES whose descriptor is null or valid;
/// `name` is null or a NUL-terminated string.
#[export_name = "npipe_CreateMailslotA"]
pub unsafe extern "C" fn CreateMailslotA(
    name: *const c_char,
    max_message: DWORD,
    read_timeout: DWORD,
    sa: *mut c_void,
) -> HANDLE {
    // SAFETY: forwarded contract.
    let n = unsafe { name_a(name) };
    // SAFETY: forwarded contract.
    let policy = unsafe { crate::acls::policy_of(sa.cast()) };
    create_mailslot(n, max_message, read_timeout, policy)
}

/// `CreateMailslotW`: the descriptor in `sa` sets who may write (see `acls`).
///
/// # Safety
/// `sa` is null or a readable SECURITY_ATTRIBUTES whose descriptor is null or valid;
/// `name` is null or a NUL-terminated UTF-16 string.
#[export_name = "npipe_CreateMailslotW"]
pub unsafe extern "C" fn CreateMailslotW(
    name: *const u16,
    max_message: DWORD,
    read_timeout: DWORD,
    sa: *mut c_void,
) -> HANDLE {
    // SAFETY: forwarded contract.
    let n = unsafe { name_w(name) };
    // SAFETY: forwarded contract.
    let policy = unsafe { crate::acls::policy_of(sa.cast()) };
    create_mailslot(n, max_message, read_timeout, policy)
}

/// `GetMailslotInfo` (W142, W143, W150).
///
/// # Safety
/// Out pointers are null or writable.
#[export_name = "npipe_GetMailslotInfo"]
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
#[export_name = "npipe_SetMailslotInfo"]
pub extern "C" fn SetMailslotInfo(h: HANDLE, read_timeout: DWORD) -> BOOL {
    with(h, FALSE, |o| {
        let Object::Mailslot(m) = o else {
            return fail(ERROR_INVALID_HANDLE);
        };
        m.set_read_timeout_ms(read_timeout);
        TRUE
    })
}
