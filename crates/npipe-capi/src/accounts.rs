//! Accounts: the names of users, groups and well-known SIDs, and back (LookupAccountSidA/W,
//! LookupAccountNameA/W), and the calling thread's user name (GetUserNameA/W).
//!
//! Users and groups are named as Samba names them: `S-1-22-1-<uid>` is the user's name (the
//! user database's) in domain "Unix User" (SidTypeUser), `S-1-22-2-<gid>` the group's in
//! "Unix Group" (SidTypeGroup); the well-known SIDs `sids` knows have their Windows names.
//! Only this machine can be asked. Strings go to the caller's buffers as Windows writes them:
//! all or nothing, with the sizes needed (with the NUL) when a buffer is too small.

use crate::sids::{Sid, ERROR_INVALID_SID, ERROR_NONE_MAPPED};
use crate::*;

/// `RPC_S_SERVER_UNAVAILABLE`: what a lookup on another machine gives when it cannot be asked.
const RPC_S_SERVER_UNAVAILABLE: u32 = 1722;

/// `SidTypeUser`.
const SID_TYPE_USER: u32 = 1;
/// `SidTypeGroup`.
const SID_TYPE_GROUP: u32 = 2;
/// `SidTypeAlias` (BUILTIN groups).
const SID_TYPE_ALIAS: u32 = 4;
/// `SidTypeWellKnownGroup`.
const SID_TYPE_WELL_KNOWN_GROUP: u32 = 5;

/// Samba's domain of Unix users.
const UNIX_USER: &str = "Unix User";
/// Samba's domain of Unix groups.
const UNIX_GROUP: &str = "Unix Group";

/// An account: its name, its domain and its SID_NAME_USE.
struct Account {
    name: String,
    domain: &'static str,
    kind: u32,
}

/// The well-known accounts: identifier authority, sub-authorities, name, domain, SID_NAME_USE.
const WELL_KNOWN: [(u64, &[u32], &str, &str, u32); 10] = [
    (1, &[0], "Everyone", "", SID_TYPE_WELL_KNOWN_GROUP),
    (3, &[0], "CREATOR OWNER", "", SID_TYPE_WELL_KNOWN_GROUP),
    (3, &[4], "OWNER RIGHTS", "", SID_TYPE_WELL_KNOWN_GROUP),
    (
        5,
        &[2],
        "NETWORK",
        "NT AUTHORITY",
        SID_TYPE_WELL_KNOWN_GROUP,
    ),
    (
        5,
        &[4],
        "INTERACTIVE",
        "NT AUTHORITY",
        SID_TYPE_WELL_KNOWN_GROUP,
    ),
    (
        5,
        &[7],
        "ANONYMOUS LOGON",
        "NT AUTHORITY",
        SID_TYPE_WELL_KNOWN_GROUP,
    ),
    (
        5,
        &[11],
        "Authenticated Users",
        "NT AUTHORITY",
        SID_TYPE_WELL_KNOWN_GROUP,
    ),
    (
        5,
        &[18],
        "SYSTEM",
        "NT AUTHORITY",
        SID_TYPE_WELL_KNOWN_GROUP,
    ),
    (5, &[32, 544], "Administrators", "BUILTIN", SID_TYPE_ALIAS),
    (5, &[32, 545], "Users", "BUILTIN", SID_TYPE_ALIAS),
];

/// The account a SID names: Unix users and groups (by the user and group databases), the
/// well-known SIDs of [`WELL_KNOWN`]. `None` when nothing maps.
fn account_of(sid: &Sid) -> Option<Account> {
    match (sid.auth, sid.subs.as_slice()) {
        (22, [1, uid]) => Some(Account {
            name: npipe::accounts::user_name(*uid)?,
            domain: UNIX_USER,
            kind: SID_TYPE_USER,
        }),
        (22, [2, gid]) => Some(Account {
            name: npipe::accounts::group_name(*gid)?,
            domain: UNIX_GROUP,
            kind: SID_TYPE_GROUP,
        }),
        (auth, subs) => WELL_KNOWN.iter().find(|w| w.0 == auth && w.1 == subs).map(
            |&(_, _, name, domain, kind)| Account {
                name: name.to_string(),
                domain,
                kind,
            },
        ),
    }
}

/// The SID an account name names: `DOMAIN\name` or a bare name (well-known names first, then
/// users, then groups, as Windows tries well-known, built-in and then domain accounts).
fn sid_of(full: &str) -> Option<(Sid, &'static str, u32)> {
    let (domain, name) = match full.split_once('\\') {
        Some((d, n)) => (Some(d), n),
        None => (None, full),
    };
    let well_known = WELL_KNOWN.iter().find(|w| {
        w.2.eq_ignore_ascii_case(name) && domain.is_none_or(|d| d.eq_ignore_ascii_case(w.3))
    });
    if let Some(&(auth, subs, _, domain, kind)) = well_known {
        return Some((Sid::new(auth, subs), domain, kind));
    }
    let user =
        || npipe::accounts::user_id(name).map(|u| (Sid::unix_user(u), UNIX_USER, SID_TYPE_USER));
    let group = || {
        npipe::accounts::group_id(name).map(|g| (Sid::unix_group(g), UNIX_GROUP, SID_TYPE_GROUP))
    };
    match domain {
        None => user().or_else(group),
        Some(d) if d.eq_ignore_ascii_case(UNIX_USER) => user(),
        Some(d) if d.eq_ignore_ascii_case(UNIX_GROUP) => group(),
        Some(_) => None,
    }
}

/// Whether a system name is this machine: NULL or empty (other machines cannot be asked).
fn local_system(system: Option<String>) -> bool {
    system.is_none_or(|s| s.is_empty())
}

/// Stores two strings the Lookup calls return, each in a buffer of `*cch` units: on success
/// each count becomes the string's length without its NUL; when either does not fit, both
/// counts become the sizes needed with the NUL, with ERROR_INSUFFICIENT_BUFFER.
///
/// # Safety
/// `a` and `b` are null or writable for `*cch_a` and `*cch_b` units; the counts are non-null
/// and writable.
unsafe fn put_pair<T: Copy + Default>(
    a: *mut T,
    cch_a: *mut DWORD,
    units_a: &[T],
    b: *mut T,
    cch_b: *mut DWORD,
    units_b: &[T],
) -> BOOL {
    // SAFETY: non-null and readable (caller).
    let (cap_a, cap_b) = unsafe { (cch_a.read_unaligned(), cch_b.read_unaligned()) };
    let fits = |p: *mut T, cap: DWORD, units: &[T]| !p.is_null() && units.len() < cap as usize;
    if !fits(a, cap_a, units_a) || !fits(b, cap_b, units_b) {
        // SAFETY: writable (caller).
        unsafe {
            put(cch_a, units_a.len() as DWORD + 1);
            put(cch_b, units_b.len() as DWORD + 1);
        }
        return fail(ERROR_INSUFFICIENT_BUFFER);
    }
    // SAFETY: both fit their buffers (checked), which are writable (caller).
    unsafe {
        put_terminated(a, cap_a as usize, units_a);
        put_terminated(b, cap_b as usize, units_b);
        put(cch_a, units_a.len() as DWORD);
        put(cch_b, units_b.len() as DWORD);
    }
    set_error(ERROR_SUCCESS);
    TRUE
}

/// The shared part of LookupAccountSidA and W: the account, or the error.
///
/// # Safety
/// `sid` is null or a SID.
unsafe fn lookup_sid(
    system: Option<String>,
    sid: *const c_void,
    counts: [*mut DWORD; 2],
    kind: *mut u32,
) -> Result<Account, u32> {
    if counts.iter().any(|c| c.is_null()) || kind.is_null() {
        return Err(ERROR_NOACCESS);
    }
    if !local_system(system) {
        return Err(RPC_S_SERVER_UNAVAILABLE);
    }
    // SAFETY: forwarded contract.
    let sid = unsafe { Sid::read(sid) }.ok_or(ERROR_INVALID_SID)?;
    account_of(&sid).ok_or(ERROR_NONE_MAPPED)
}

/// `LookupAccountSidA`: the account a SID names, on this machine (`system` NULL or empty).
/// `S-1-22-1-<uid>` is the user's name in domain "Unix User" (SidTypeUser), `S-1-22-2-<gid>`
/// the group's in "Unix Group" (SidTypeGroup), as Samba names them; the well-known SIDs
/// (Everyone, SYSTEM, Administrators...) have their Windows names. `*cch_name` and
/// `*cch_domain` give the buffers' sizes in characters; see [`put_pair`] for what they get.
///
/// # Errors
/// ERROR_NONE_MAPPED for a SID that names nothing here; ERROR_INVALID_SID for an invalid
/// one; ERROR_INSUFFICIENT_BUFFER; ERROR_NOACCESS for a NULL count or `kind`;
/// RPC_S_SERVER_UNAVAILABLE for another machine.
///
/// # Safety
/// `system` null or a string; `sid` null or a SID; `name` and `domain` null or writable for
/// their counts; the counts and `kind` null or writable.
#[export_name = "npipe_LookupAccountSidA"]
pub unsafe extern "C" fn LookupAccountSidA(
    system: *const c_char,
    sid: *const c_void,
    name: *mut c_char,
    cch_name: *mut DWORD,
    domain: *mut c_char,
    cch_domain: *mut DWORD,
    kind: *mut u32,
) -> BOOL {
    // SAFETY: forwarded contract.
    let a = match unsafe { lookup_sid(name_a(system), sid, [cch_name, cch_domain], kind) } {
        Ok(a) => a,
        Err(code) => return fail(code),
    };
    // SAFETY: non-null (checked) and writable (caller).
    unsafe { put(kind, a.kind) };
    // SAFETY: forwarded contract.
    unsafe {
        put_pair(
            name.cast::<u8>(),
            cch_name,
            a.name.as_bytes(),
            domain.cast::<u8>(),
            cch_domain,
            a.domain.as_bytes(),
        )
    }
}

/// `LookupAccountSidW`: as [`LookupAccountSidA`], in UTF-16 (counts in UTF-16 units).
///
/// # Safety
/// As [`LookupAccountSidA`], the strings being UTF-16 (aligned for u16).
#[export_name = "npipe_LookupAccountSidW"]
pub unsafe extern "C" fn LookupAccountSidW(
    system: *const u16,
    sid: *const c_void,
    name: *mut u16,
    cch_name: *mut DWORD,
    domain: *mut u16,
    cch_domain: *mut DWORD,
    kind: *mut u32,
) -> BOOL {
    // SAFETY: forwarded contract.
    let a = match unsafe { lookup_sid(name_w(system), sid, [cch_name, cch_domain], kind) } {
        Ok(a) => a,
        Err(code) => return fail(code),
    };
    // SAFETY: non-null (checked) and writable (caller).
    unsafe { put(kind, a.kind) };
    let n: Vec<u16> = a.name.encode_utf16().collect();
    let d: Vec<u16> = a.domain.encode_utf16().collect();
    // SAFETY: forwarded contract.
    unsafe { put_pair(name, cch_name, &n, domain, cch_domain, &d) }
}

/// LookupAccountNameA and W: stores the SID (`*cb_sid` bytes at `sid`), the domain (`*cch_domain`
/// units at `domain`, encoded by `encode`) and the kind.
///
/// # Safety
/// `sid` null or writable for `*cb_sid` bytes; `domain` null or writable for `*cch_domain`
/// units; `cb_sid`, `cch_domain` and `kind` null or writable.
#[allow(clippy::too_many_arguments)]
unsafe fn lookup_name<T: Copy + Default>(
    system: Option<String>,
    account: Option<String>,
    sid: *mut c_void,
    cb_sid: *mut DWORD,
    domain: *mut T,
    cch_domain: *mut DWORD,
    kind: *mut u32,
    encode: impl FnOnce(&str) -> Vec<T>,
) -> BOOL {
    if cb_sid.is_null() || cch_domain.is_null() || kind.is_null() {
        return fail(ERROR_NOACCESS);
    }
    if !local_system(system) {
        return fail(RPC_S_SERVER_UNAVAILABLE);
    }
    let Some(account) = account else {
        return fail(ERROR_INVALID_PARAMETER);
    };
    let Some((s, d, k)) = sid_of(&account) else {
        return fail(ERROR_NONE_MAPPED);
    };
    let b = s.bytes();
    let units = encode(d);
    // SAFETY: non-null (checked) and readable (caller); both read before anything is written,
    // so two counts at one address are each read as given.
    let (cap, cap_domain) = unsafe {
        (
            cb_sid.read_unaligned() as usize,
            cch_domain.read_unaligned() as usize,
        )
    };
    if sid.is_null() || cap < b.len() || domain.is_null() || cap_domain <= units.len() {
        // SAFETY: writable (caller).
        unsafe {
            put(cb_sid, b.len() as DWORD);
            put(cch_domain, units.len() as DWORD + 1);
        }
        return fail(ERROR_INSUFFICIENT_BUFFER);
    }
    // SAFETY: `sid` is writable for `cap` >= b.len() bytes and `domain` for `cap_domain` >
    // units.len() units (checked, caller); the counts and the kind are writable.
    unsafe {
        std::ptr::copy_nonoverlapping(b.as_ptr(), sid.cast::<u8>(), b.len());
        put_terminated(domain, cap_domain, &units);
        put(cb_sid, b.len() as DWORD);
        put(cch_domain, units.len() as DWORD);
        put(kind, k);
    }
    set_error(ERROR_SUCCESS);
    TRUE
}

/// `LookupAccountNameA`: the SID of an account on this machine, `DOMAIN\name` or a bare name:
/// the well-known names (Everyone, SYSTEM, BUILTIN\Administrators...), then users (domain
/// "Unix User"), then groups ("Unix Group"). `*cb_sid` is the SID buffer's size in bytes and
/// `*cch_domain` the domain's in characters; when either is too small both get the sizes
/// needed (the domain's with its NUL), with ERROR_INSUFFICIENT_BUFFER.
///
/// # Errors
/// ERROR_NONE_MAPPED for a name nothing has; ERROR_INVALID_PARAMETER for a NULL name;
/// ERROR_NOACCESS for a NULL count or `kind`; RPC_S_SERVER_UNAVAILABLE for another machine.
///
/// # Safety
/// `system` and `account` null or strings; `sid` null or writable for `*cb_sid` bytes,
/// `domain` for `*cch_domain` characters; the counts and `kind` null or writable.
#[export_name = "npipe_LookupAccountNameA"]
pub unsafe extern "C" fn LookupAccountNameA(
    system: *const c_char,
    account: *const c_char,
    sid: *mut c_void,
    cb_sid: *mut DWORD,
    domain: *mut c_char,
    cch_domain: *mut DWORD,
    kind: *mut u32,
) -> BOOL {
    // SAFETY: forwarded contract.
    unsafe {
        lookup_name(
            name_a(system),
            name_a(account),
            sid,
            cb_sid,
            domain.cast::<u8>(),
            cch_domain,
            kind,
            |d| d.as_bytes().to_vec(),
        )
    }
}

/// `LookupAccountNameW`: as [`LookupAccountNameA`], in UTF-16.
///
/// # Safety
/// As [`LookupAccountNameA`], the strings being UTF-16 (aligned for u16).
#[export_name = "npipe_LookupAccountNameW"]
pub unsafe extern "C" fn LookupAccountNameW(
    system: *const u16,
    account: *const u16,
    sid: *mut c_void,
    cb_sid: *mut DWORD,
    domain: *mut u16,
    cch_domain: *mut DWORD,
    kind: *mut u32,
) -> BOOL {
    // SAFETY: forwarded contract.
    unsafe {
        lookup_name(
            name_w(system),
            name_w(account),
            sid,
            cb_sid,
            domain,
            cch_domain,
            kind,
            |d| d.encode_utf16().collect(),
        )
    }
}

/// The calling thread's user name: the client's while it impersonates, as Windows answers;
/// the uid in decimal when the user database has no name (as GetNamedPipeHandleState).
fn thread_user() -> Result<String, u32> {
    let uid = match npipe::impersonated_identity() {
        Some(id) => id.uid,
        None => {
            npipe::own_identity()
                .map_err(|e| npipe::win32_code(&e))?
                .uid
        }
    };
    Ok(npipe::accounts::user_name(uid).unwrap_or_else(|| uid.to_string()))
}

/// Stores GetUserName's answer: `*len` gets the characters written with the NUL, or the size
/// needed with ERROR_INSUFFICIENT_BUFFER.
///
/// # Safety
/// `buf` null or writable for `*len` units; `len` non-null and writable.
unsafe fn put_user<T: Copy + Default>(buf: *mut T, len: *mut DWORD, units: &[T]) -> BOOL {
    // SAFETY: non-null and readable (caller).
    let cap = unsafe { len.read_unaligned() } as usize;
    // SAFETY: `buf` is null (refused) or writable for `cap` units (caller).
    if buf.is_null() || !unsafe { put_terminated(buf, cap, units) } {
        // SAFETY: writable (caller).
        unsafe { put(len, units.len() as DWORD + 1) };
        return fail(ERROR_INSUFFICIENT_BUFFER);
    }
    // SAFETY: writable (caller).
    unsafe { put(len, units.len() as DWORD + 1) };
    set_error(ERROR_SUCCESS);
    TRUE
}

/// `GetUserNameA`: the calling thread's user (the client's while it impersonates). `*len` is
/// the buffer's size in characters and gets the length written with the NUL.
///
/// # Errors
/// ERROR_INSUFFICIENT_BUFFER with `*len` the size needed (with the NUL); ERROR_NOACCESS for a
/// NULL `len`.
///
/// # Safety
/// `buf` null or writable for `*len` bytes; `len` null or writable.
#[export_name = "npipe_GetUserNameA"]
pub unsafe extern "C" fn GetUserNameA(buf: *mut c_char, len: *mut DWORD) -> BOOL {
    if len.is_null() {
        return fail(ERROR_NOACCESS);
    }
    match thread_user() {
        // SAFETY: forwarded contract.
        Ok(name) => unsafe { put_user(buf.cast::<u8>(), len, name.as_bytes()) },
        Err(code) => fail(code),
    }
}

/// `GetUserNameW`: as [`GetUserNameA`], in UTF-16 units.
///
/// # Safety
/// `buf` null or writable for `*len` units, aligned for u16; `len` null or writable.
#[export_name = "npipe_GetUserNameW"]
pub unsafe extern "C" fn GetUserNameW(buf: *mut u16, len: *mut DWORD) -> BOOL {
    if len.is_null() {
        return fail(ERROR_NOACCESS);
    }
    match thread_user() {
        Ok(name) => {
            let units: Vec<u16> = name.encode_utf16().collect();
            // SAFETY: forwarded contract.
            unsafe { put_user(buf, len, &units) }
        }
        Err(code) => fail(code),
    }
}
