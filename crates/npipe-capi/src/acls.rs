//! ACLs: their layout, the calls that build them (InitializeAcl, AddAccessAllowedAce,
//! AddAccessDeniedAce, IsValidAcl, SetEntriesInAclA), and the one place a descriptor's DACL
//! becomes an npipe [`AccessPolicy`] ([`policy_of`], for CreateNamedPipe and CreateMailslot).
//! Security descriptors themselves are `descriptors`'.
//!
//! A descriptor npipe cannot express exactly (an entry for a SID with no Linux meaning, an ACE
//! type other than allow and deny in the DACL) fails the create with
//! ERROR_INVALID_SECURITY_DESCR instead of granting more, or less, than it says. Every ACL
//! read from the caller is walked within its declared `AclSize`, each ACE within its own
//! `AceSize`.

use npipe::{Access, AccessPolicy};

use crate::descriptors::Sd;
use crate::sids::{Sid, ERROR_INVALID_SID, ERROR_NONE_MAPPED};
use crate::*;

/// `ERROR_INVALID_ACL`.
pub(crate) const ERROR_INVALID_ACL: u32 = 1336;
/// `ERROR_UNKNOWN_REVISION`.
pub(crate) const ERROR_UNKNOWN_REVISION: u32 = 1305;
/// `ERROR_ALLOTTED_SPACE_EXCEEDED`.
const ERROR_ALLOTTED_SPACE_EXCEEDED: u32 = 1344;

/// `ACCESS_ALLOWED_ACE_TYPE`.
pub(crate) const ALLOWED: u8 = 0;
/// `ACCESS_DENIED_ACE_TYPE`.
pub(crate) const DENIED: u8 = 1;
/// `INHERIT_ONLY_ACE`: the ACE is only for children, not this object.
const INHERIT_ONLY_ACE: u8 = 0x08;

/// One ACE, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ace {
    pub kind: u8,
    pub flags: u8,
    pub mask: u32,
    pub sid: Sid,
}

/// An ACL, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Acl {
    pub revision: u8,
    pub aces: Vec<Ace>,
}

impl Acl {
    /// The ACL as laid out in memory, `AclSize` being its exact length (or `size` if larger).
    pub(crate) fn bytes(&self, size: usize) -> Vec<u8> {
        let mut body = Vec::new();
        for a in &self.aces {
            let sid = a.sid.bytes();
            body.push(a.kind);
            body.push(a.flags);
            body.extend_from_slice(&((8 + sid.len()) as u16).to_le_bytes());
            body.extend_from_slice(&a.mask.to_le_bytes());
            body.extend_from_slice(&sid);
        }
        let total = (8 + body.len()).max(size);
        let mut v = vec![self.revision.max(2), 0];
        v.extend_from_slice(&(total as u16).to_le_bytes());
        v.extend_from_slice(&(self.aces.len() as u16).to_le_bytes());
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&body);
        v.resize(total, 0);
        v
    }

    /// Decodes an ACL from exactly its `AclSize` bytes.
    pub(crate) fn decode(b: &[u8]) -> Result<Acl, u32> {
        if b.len() < 8 || !(2..=4).contains(&b[0]) {
            return Err(ERROR_INVALID_ACL);
        }
        let count = u16::from_le_bytes([b[4], b[5]]) as usize;
        let mut off = 8;
        let mut aces = Vec::with_capacity(count.min(256));
        for _ in 0..count {
            let h = b.get(off..off + 8).ok_or(ERROR_INVALID_ACL)?;
            let size = u16::from_le_bytes([h[2], h[3]]) as usize;
            let ace = b.get(off..off + size).ok_or(ERROR_INVALID_ACL)?;
            if size < 8 {
                return Err(ERROR_INVALID_ACL);
            }
            let sid = Sid::decode(&ace[8..]).ok_or(ERROR_INVALID_ACL)?;
            aces.push(Ace {
                kind: h[0],
                flags: h[1],
                mask: u32::from_le_bytes([h[4], h[5], h[6], h[7]]),
                sid,
            });
            off += size;
        }
        Ok(Acl {
            revision: b[0],
            aces,
        })
    }

    /// Reads an ACL the caller passed by pointer.
    ///
    /// # Safety
    /// `p` is non-null and points to an ACL readable for its `AclSize`.
    pub(crate) unsafe fn read(p: *const c_void) -> Result<Acl, u32> {
        // SAFETY: an ACL starts with an 8-byte header (caller).
        let head = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), 8) };
        let size = u16::from_le_bytes([head[2], head[3]]) as usize;
        if size < 8 {
            return Err(ERROR_INVALID_ACL);
        }
        // SAFETY: the header announces `size` readable bytes (caller).
        Acl::decode(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), size) })
    }

    /// Bytes the ACEs take now.
    fn used(&self) -> usize {
        8 + self.aces.iter().map(|a| 8 + a.sid.len()).sum::<usize>()
    }
}

/// The policy a descriptor's DACL says (see the module docs): `None` when it has none (the
/// object's default then applies).
pub(crate) fn policy_from_dacl(dacl: Option<Option<Acl>>) -> Result<Option<AccessPolicy>, u32> {
    let acl = match dacl {
        None => return Ok(None),
        Some(None) => return Ok(Some(AccessPolicy::everyone())),
        Some(Some(acl)) => acl,
    };
    let mut p = AccessPolicy::nobody();
    for a in &acl.aces {
        if a.flags & INHERIT_ONLY_ACE != 0 {
            continue;
        }
        if a.kind != ALLOWED && a.kind != DENIED {
            return Err(ERROR_INVALID_SECURITY_DESCR);
        }
        let who = match a.sid.trustee() {
            Ok(Some(t)) => t,
            Ok(None) => continue,
            Err(()) => return Err(ERROR_INVALID_SECURITY_DESCR),
        };
        let access = Access::from_mask(a.mask);
        p = if a.kind == ALLOWED {
            p.allow(who, access)
        } else {
            p.deny(who, access)
        };
    }
    Ok(Some(p))
}

/// Hands a policy read by [`policy_of`] to `set` (nothing for the default); `false`, with the
/// last error set, when the descriptor could not be expressed.
pub(crate) fn apply_policy(
    policy: Result<Option<AccessPolicy>, u32>,
    set: impl FnOnce(AccessPolicy),
) -> bool {
    match policy {
        Ok(Some(p)) => {
            set(p);
            true
        }
        Ok(None) => true,
        Err(code) => {
            crate::set_error(code);
            false
        }
    }
}

/// The policy of a `SECURITY_ATTRIBUTES` (null: the default).
///
/// # Safety
/// `sa` is null or a readable SECURITY_ATTRIBUTES whose descriptor is null or valid.
pub(crate) unsafe fn policy_of(
    sa: *const crate::anonymous::SECURITY_ATTRIBUTES,
) -> Result<Option<AccessPolicy>, u32> {
    if sa.is_null() {
        return Ok(None);
    }
    // SAFETY: readable (caller).
    let sd = unsafe { (*sa).lp_security_descriptor };
    if sd.is_null() {
        return Ok(None);
    }
    // SAFETY: a valid descriptor (caller).
    let dacl = unsafe { Sd::read_dacl(sd) }.map_err(|_| ERROR_INVALID_SECURITY_DESCR)?;
    policy_from_dacl(dacl)
}

/// `InitializeAcl`.
///
/// # Safety
/// `acl` is null or writable for `len` bytes.
#[export_name = "npipe_InitializeAcl"]
pub unsafe extern "C" fn InitializeAcl(acl: *mut c_void, len: DWORD, revision: DWORD) -> BOOL {
    if acl.is_null() {
        return fail(ERROR_NOACCESS);
    }
    if !(2..=4).contains(&revision) {
        return fail(ERROR_INVALID_PARAMETER);
    }
    if len < 8 {
        return fail(ERROR_INSUFFICIENT_BUFFER);
    }
    if len > 0xFFFC {
        return fail(ERROR_INVALID_PARAMETER);
    }
    let len = (len & !3) as usize;
    let b = Acl {
        revision: revision as u8,
        aces: vec![],
    }
    .bytes(len);
    // SAFETY: writable for `len` bytes (caller), and `b` has exactly `len & !3` bytes.
    unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), acl.cast::<u8>(), 8) };
    // Only the header is written; AclSize covers the caller's whole buffer.
    set_error(ERROR_SUCCESS);
    TRUE
}

/// Appends one ACE to the caller's ACL within its AclSize.
///
/// # Safety
/// `acl` is null or an ACL writable for its AclSize; `sid` null or a SID.
unsafe fn add_ace(
    acl: *mut c_void,
    revision: DWORD,
    kind: u8,
    mask: DWORD,
    sid: *const c_void,
) -> BOOL {
    if acl.is_null() {
        return fail(ERROR_INVALID_ACL);
    }
    // SAFETY: forwarded contract.
    let Some(sid) = (unsafe { Sid::read(sid) }) else {
        return fail(ERROR_INVALID_SID);
    };
    // SAFETY: forwarded contract.
    let mut a = match unsafe { Acl::read(acl) } {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    if !(2..=4).contains(&revision) {
        return fail(ERROR_REVISION_MISMATCH);
    }
    // SAFETY: the header is readable (checked by Acl::read).
    let size = unsafe { u16::from_le_bytes([*acl.cast::<u8>().add(2), *acl.cast::<u8>().add(3)]) }
        as usize;
    a.aces.push(Ace {
        kind,
        flags: 0,
        mask,
        sid,
    });
    if a.used() > size {
        return fail(ERROR_ALLOTTED_SPACE_EXCEEDED);
    }
    a.revision = a.revision.max(revision as u8);
    let used = a.used();
    let b = a.bytes(size);
    // SAFETY: the ACL is writable for its AclSize (caller) and only `used` <= size bytes are
    // written.
    unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), acl.cast::<u8>(), used) };
    set_error(ERROR_SUCCESS);
    TRUE
}

/// `ERROR_REVISION_MISMATCH`.
const ERROR_REVISION_MISMATCH: u32 = 1306;

/// `AddAccessAllowedAce`.
///
/// # Safety
/// `acl` is null or an ACL writable for its AclSize; `sid` null or a SID.
#[export_name = "npipe_AddAccessAllowedAce"]
pub unsafe extern "C" fn AddAccessAllowedAce(
    acl: *mut c_void,
    revision: DWORD,
    mask: DWORD,
    sid: *mut c_void,
) -> BOOL {
    // SAFETY: forwarded contract.
    unsafe { add_ace(acl, revision, ALLOWED, mask, sid) }
}

/// `AddAccessDeniedAce`.
///
/// # Safety
/// `acl` is null or an ACL writable for its AclSize; `sid` null or a SID.
#[export_name = "npipe_AddAccessDeniedAce"]
pub unsafe extern "C" fn AddAccessDeniedAce(
    acl: *mut c_void,
    revision: DWORD,
    mask: DWORD,
    sid: *mut c_void,
) -> BOOL {
    // SAFETY: forwarded contract.
    unsafe { add_ace(acl, revision, DENIED, mask, sid) }
}

/// `IsValidAcl`.
///
/// # Safety
/// `acl` is null or an ACL readable for its AclSize.
#[export_name = "npipe_IsValidAcl"]
pub unsafe extern "C" fn IsValidAcl(acl: *const c_void) -> BOOL {
    if acl.is_null() {
        return fail(ERROR_INVALID_ACL);
    }
    // SAFETY: forwarded contract.
    match unsafe { Acl::read(acl) } {
        Ok(_) => TRUE,
        Err(e) => fail(e),
    }
}

/// `TRUSTEE_A`.
#[repr(C)]
#[derive(Debug)]
pub struct TRUSTEE_A {
    /// Unsupported (must be null, as Windows requires).
    pub p_multiple_trustee: *mut TRUSTEE_A,
    /// `NO_MULTIPLE_TRUSTEE`.
    pub multiple_trustee_operation: i32,
    /// `TRUSTEE_IS_SID` (0) or `TRUSTEE_IS_NAME` (1).
    pub trustee_form: i32,
    /// `TRUSTEE_IS_USER`, `_GROUP`, `_WELL_KNOWN_GROUP`...: informational.
    pub trustee_type: i32,
    /// A PSID (TRUSTEE_IS_SID) or a name (TRUSTEE_IS_NAME).
    pub ptstr_name: *mut c_char,
}

/// `EXPLICIT_ACCESS_A`.
#[repr(C)]
#[derive(Debug)]
pub struct EXPLICIT_ACCESS_A {
    /// The access mask.
    pub grf_access_permissions: DWORD,
    /// `GRANT_ACCESS`, `SET_ACCESS`, `DENY_ACCESS`, `REVOKE_ACCESS`.
    pub grf_access_mode: i32,
    /// Inheritance flags (ACE flags).
    pub grf_inheritance: DWORD,
    /// Whom it is about.
    pub trustee: TRUSTEE_A,
}

const NOT_USED_ACCESS: i32 = 0;
const GRANT_ACCESS: i32 = 1;
const SET_ACCESS: i32 = 2;
const DENY_ACCESS: i32 = 3;
const REVOKE_ACCESS: i32 = 4;

/// The SID of a trustee.
///
/// # Safety
/// `t` is readable; its name is null, a SID or a NUL-terminated string as its form says.
unsafe fn trustee_sid(t: &TRUSTEE_A) -> Result<Sid, u32> {
    match t.trustee_form {
        // SAFETY: TRUSTEE_IS_SID: the name is a PSID (caller).
        0 => unsafe { Sid::read(t.ptstr_name.cast()) }.ok_or(ERROR_INVALID_SID),
        1 => {
            // SAFETY: TRUSTEE_IS_NAME: a string (caller).
            let name = unsafe { name_a(t.ptstr_name) }.ok_or(ERROR_INVALID_PARAMETER)?;
            if name.eq_ignore_ascii_case("CURRENT_USER") {
                Ok(Sid::unix_user(rustix::process::geteuid().as_raw()))
            } else if name.eq_ignore_ascii_case("Everyone") {
                Ok(Sid::everyone())
            } else {
                Err(ERROR_NONE_MAPPED)
            }
        }
        _ => Err(ERROR_INVALID_PARAMETER),
    }
}

/// `SetEntriesInAclA`: a new ACL (LocalFree-able) from `old` (may be null) and the entries;
/// returns a Win32 error code. Denies come first in the result, as Windows orders explicit
/// entries.
///
/// # Safety
/// `list` is null or `count` readable entries; `old` null or an ACL; `new` null or writable.
#[export_name = "npipe_SetEntriesInAclA"]
pub unsafe extern "C" fn SetEntriesInAclA(
    count: u32,
    list: *const EXPLICIT_ACCESS_A,
    old: *const c_void,
    new: *mut *mut c_void,
) -> DWORD {
    if new.is_null() || (count > 0 && list.is_null()) {
        return ERROR_INVALID_PARAMETER;
    }
    let mut acl = if old.is_null() {
        Acl {
            revision: 2,
            aces: vec![],
        }
    } else {
        // SAFETY: an ACL (caller).
        match unsafe { Acl::read(old) } {
            Ok(a) => a,
            Err(e) => return e,
        }
    };
    let entries = if count == 0 {
        &[][..]
    } else {
        // SAFETY: `list` is non-null (checked) and holds `count` readable entries (caller).
        unsafe { std::slice::from_raw_parts(list, count as usize) }
    };
    for e in entries {
        // SAFETY: the trustee is as its form says (caller).
        let sid = match unsafe { trustee_sid(&e.trustee) } {
            Ok(s) => s,
            Err(c) => return c,
        };
        let flags = (e.grf_inheritance & 0x1F) as u8;
        let ace = |kind| Ace {
            kind,
            flags,
            mask: e.grf_access_permissions,
            sid: sid.clone(),
        };
        match e.grf_access_mode {
            NOT_USED_ACCESS => {}
            GRANT_ACCESS => acl.aces.push(ace(ALLOWED)),
            SET_ACCESS => {
                acl.aces.retain(|a| a.sid != sid);
                acl.aces.push(ace(ALLOWED));
            }
            DENY_ACCESS => acl.aces.push(ace(DENIED)),
            REVOKE_ACCESS => acl.aces.retain(|a| !(a.sid == sid && a.kind == ALLOWED)),
            _ => return ERROR_INVALID_PARAMETER,
        }
    }
    // Explicit denies before allows (stable within each kind).
    acl.aces.sort_by_key(|a| (a.kind != DENIED) as u8);
    if acl.used() > 0xFFFC {
        return ERROR_INVALID_PARAMETER;
    }
    let b = acl.bytes(0);
    // SAFETY: malloc of a non-zero size; LocalFree (free) releases it.
    let p = unsafe { libc::malloc(b.len()) }.cast::<u8>();
    if p.is_null() {
        return ERROR_NOT_ENOUGH_MEMORY;
    }
    // SAFETY: `p` has room for `b.len()` bytes; `new` is writable (caller).
    unsafe {
        std::ptr::copy_nonoverlapping(b.as_ptr(), p, b.len());
        put(new, p.cast::<c_void>());
    }
    ERROR_SUCCESS
}
