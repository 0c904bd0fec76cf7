//! ACLs and security descriptors: their layouts (absolute and self-relative), the calls that
//! build them (InitializeAcl, AddAccessAllowedAce, AddAccessDeniedAce, IsValidAcl,
//! SetEntriesInAclA, InitializeSecurityDescriptor, SetSecurityDescriptorDacl,
//! SetSecurityDescriptorOwner and Group, GetSecurityDescriptorOwner and Group,
//! GetSecurityDescriptorDacl, IsValidSecurityDescriptor), and the one place a descriptor
//! becomes an npipe [`AccessPolicy`] ([`policy_of`], for CreateNamedPipe and CreateMailslot).
//!
//! A descriptor npipe cannot express exactly (an entry for a SID with no Linux meaning, an ACE
//! type other than allow and deny in the DACL) fails the create with
//! ERROR_INVALID_SECURITY_DESCR instead of granting more, or less, than it says. Every ACL
//! read from the caller is walked within its declared `AclSize`, each ACE within its own
//! `AceSize`.

use npipe::{Access, AccessPolicy};

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
/// `SE_DACL_PRESENT`.
pub(crate) const SE_DACL_PRESENT: u16 = 0x0004;
/// `SE_DACL_DEFAULTED`.
const SE_DACL_DEFAULTED: u16 = 0x0008;
/// `SE_SELF_RELATIVE`.
pub(crate) const SE_SELF_RELATIVE: u16 = 0x8000;
/// `SECURITY_DESCRIPTOR_MIN_LENGTH` on 64-bit: the absolute form.
const SD_ABSOLUTE_LEN: usize = 40;

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

/// A security descriptor, decoded (only what npipe uses and writes back).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Sd {
    pub control: u16,
    pub owner: Option<Sid>,
    pub group: Option<Sid>,
    /// The DACL when present and not NULL.
    pub dacl: Option<Acl>,
    pub sacl: Option<Acl>,
}

impl Sd {
    /// The self-relative form (what ConvertStringSecurityDescriptorToSecurityDescriptor
    /// returns): a 20-byte header, then the SACL, DACL, owner and group.
    pub(crate) fn self_relative(&self) -> Vec<u8> {
        let mut v = vec![0u8; 20];
        v[0] = 1;
        let control = self.control | SE_SELF_RELATIVE;
        v[2..4].copy_from_slice(&control.to_le_bytes());
        let place = |v: &mut Vec<u8>, at: usize, bytes: Option<Vec<u8>>| {
            if let Some(b) = bytes {
                let off = v.len() as u32;
                v[at..at + 4].copy_from_slice(&off.to_le_bytes());
                v.extend_from_slice(&b);
            }
        };
        place(&mut v, 12, self.sacl.as_ref().map(|a| a.bytes(0)));
        place(&mut v, 16, self.dacl.as_ref().map(|a| a.bytes(0)));
        place(&mut v, 4, self.owner.as_ref().map(Sid::bytes));
        place(&mut v, 8, self.group.as_ref().map(Sid::bytes));
        v
    }

    /// Reads the DACL part of a caller's descriptor, absolute or self-relative: `Ok(None)`
    /// when there is no DACL (SE_DACL_PRESENT clear), `Ok(Some(None))` for a NULL DACL.
    ///
    /// # Safety
    /// `p` is non-null and points to a security descriptor.
    pub(crate) unsafe fn read_dacl(p: *const c_void) -> Result<Option<Option<Acl>>, u32> {
        let b = p.cast::<u8>();
        // SAFETY: a descriptor starts with revision, Sbz1 and control (caller).
        let (rev, control) = unsafe { (*b, u16::from_le_bytes([*b.add(2), *b.add(3)])) };
        if rev != 1 {
            return Err(ERROR_UNKNOWN_REVISION);
        }
        if control & SE_DACL_PRESENT == 0 {
            return Ok(None);
        }
        let acl: *const c_void = if control & SE_SELF_RELATIVE != 0 {
            // SAFETY: a self-relative descriptor has its DACL offset at 16 (caller).
            let off = unsafe { b.add(16).cast::<u32>().read_unaligned() } as usize;
            if off == 0 {
                std::ptr::null()
            } else if off < 20 {
                return Err(ERROR_INVALID_SECURITY_DESCR);
            } else {
                // SAFETY: the offset is inside the caller's descriptor (caller).
                unsafe { b.add(off) }.cast()
            }
        } else {
            // SAFETY: an absolute descriptor has its DACL pointer at 32 (caller).
            unsafe { b.add(32).cast::<*const c_void>().read_unaligned() }
        };
        if acl.is_null() {
            return Ok(Some(None));
        }
        // SAFETY: the DACL of a descriptor is an ACL (caller).
        unsafe { Acl::read(acl) }.map(|a| Some(Some(a)))
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

/// `InitializeSecurityDescriptor`: an empty absolute descriptor (no DACL: the default policy).
///
/// # Safety
/// `sd` is null or writable for SECURITY_DESCRIPTOR_MIN_LENGTH bytes.
#[export_name = "npipe_InitializeSecurityDescriptor"]
pub unsafe extern "C" fn InitializeSecurityDescriptor(sd: *mut c_void, revision: DWORD) -> BOOL {
    if sd.is_null() {
        return fail(ERROR_NOACCESS);
    }
    if revision != 1 {
        return fail(ERROR_UNKNOWN_REVISION);
    }
    // SAFETY: writable for the absolute form's size (caller).
    unsafe {
        std::ptr::write_bytes(sd.cast::<u8>(), 0, SD_ABSOLUTE_LEN);
        *sd.cast::<u8>() = 1;
    }
    set_error(ERROR_SUCCESS);
    TRUE
}

/// Checks an absolute descriptor the caller means to change: its revision and form.
///
/// # Safety
/// `sd` is null or a readable descriptor header.
unsafe fn absolute(sd: *const c_void) -> Result<u16, u32> {
    if sd.is_null() {
        return Err(ERROR_NOACCESS);
    }
    let b = sd.cast::<u8>();
    // SAFETY: a readable header (caller).
    let (rev, control) = unsafe { (*b, u16::from_le_bytes([*b.add(2), *b.add(3)])) };
    if rev != 1 {
        return Err(ERROR_UNKNOWN_REVISION);
    }
    if control & SE_SELF_RELATIVE != 0 {
        return Err(ERROR_INVALID_SECURITY_DESCR);
    }
    Ok(control)
}

/// `SetSecurityDescriptorDacl`: a present DACL of NULL means everyone.
///
/// # Safety
/// `sd` is null or an absolute descriptor; `acl` null or an ACL that outlives its use.
#[export_name = "npipe_SetSecurityDescriptorDacl"]
pub unsafe extern "C" fn SetSecurityDescriptorDacl(
    sd: *mut c_void,
    present: BOOL,
    acl: *mut c_void,
    defaulted: BOOL,
) -> BOOL {
    // SAFETY: forwarded contract.
    let control = match unsafe { absolute(sd) } {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let mut control = control & !(SE_DACL_PRESENT | SE_DACL_DEFAULTED);
    if present != 0 {
        control |= SE_DACL_PRESENT;
        if defaulted != 0 {
            control |= SE_DACL_DEFAULTED;
        }
    }
    let b = sd.cast::<u8>();
    // SAFETY: an absolute descriptor is writable for its 40 bytes (caller).
    unsafe {
        b.add(2).cast::<u16>().write_unaligned(control);
        b.add(32)
            .cast::<*mut c_void>()
            .write_unaligned(if present != 0 {
                acl
            } else {
                std::ptr::null_mut()
            });
    }
    set_error(ERROR_SUCCESS);
    TRUE
}

/// `GetSecurityDescriptorDacl`.
///
/// # Safety
/// `sd` null or a descriptor; the out pointers null or writable.
#[export_name = "npipe_GetSecurityDescriptorDacl"]
pub unsafe extern "C" fn GetSecurityDescriptorDacl(
    sd: *const c_void,
    present: *mut BOOL,
    acl: *mut *mut c_void,
    defaulted: *mut BOOL,
) -> BOOL {
    if sd.is_null() || present.is_null() || acl.is_null() || defaulted.is_null() {
        return fail(ERROR_NOACCESS);
    }
    // SAFETY: a readable descriptor (caller).
    let (control, p) = match unsafe { descriptor_field(sd, 32, 16) } {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let p = if control & SE_DACL_PRESENT == 0 {
        std::ptr::null_mut()
    } else {
        p
    };
    // SAFETY: writable out pointers (caller).
    unsafe {
        put(present, (control & SE_DACL_PRESENT != 0) as BOOL);
        put(acl, p);
        put(defaulted, (control & SE_DACL_DEFAULTED != 0) as BOOL);
    }
    set_error(ERROR_SUCCESS);
    TRUE
}

/// The control word of a descriptor, absolute or self-relative, and what its SID or ACL field
/// names: in an absolute descriptor the pointer at byte `abs_at`, in a self-relative one the
/// offset at byte `rel_at` from its start (0: none, NULL).
///
/// # Safety
/// `sd` is a readable descriptor (its header, and in a self-relative one the offsets lead into
/// it).
unsafe fn descriptor_field(
    sd: *const c_void,
    abs_at: usize,
    rel_at: usize,
) -> Result<(u16, *mut c_void), u32> {
    let b = sd.cast::<u8>();
    // SAFETY: a readable header (caller).
    let (rev, control) = unsafe { (*b, u16::from_le_bytes([*b.add(2), *b.add(3)])) };
    if rev != 1 {
        return Err(ERROR_UNKNOWN_REVISION);
    }
    let p: *mut c_void = if control & SE_SELF_RELATIVE != 0 {
        // SAFETY: the offsets of a self-relative descriptor's header (caller).
        let off = unsafe { b.add(rel_at).cast::<u32>().read_unaligned() } as usize;
        if off == 0 {
            std::ptr::null_mut()
        } else {
            // SAFETY: the offset is inside the caller's descriptor (caller).
            unsafe { b.add(off) as *mut c_void }
        }
    } else {
        // SAFETY: the pointers of an absolute descriptor (caller).
        unsafe { b.add(abs_at).cast::<*mut c_void>().read_unaligned() }
    };
    Ok((control, p))
}

/// `IsValidSecurityDescriptor`: the revision, and a present DACL that decodes.
///
/// # Safety
/// `sd` is null or a descriptor.
#[export_name = "npipe_IsValidSecurityDescriptor"]
pub unsafe extern "C" fn IsValidSecurityDescriptor(sd: *const c_void) -> BOOL {
    if sd.is_null() {
        return fail(ERROR_INVALID_SECURITY_DESCR);
    }
    // SAFETY: forwarded contract.
    match unsafe { Sd::read_dacl(sd) } {
        Ok(_) => TRUE,
        Err(ERROR_UNKNOWN_REVISION) => fail(ERROR_INVALID_SECURITY_DESCR),
        Err(e) => fail(e),
    }
}

/// `SE_OWNER_DEFAULTED`.
const SE_OWNER_DEFAULTED: u16 = 0x0001;
/// `SE_GROUP_DEFAULTED`.
const SE_GROUP_DEFAULTED: u16 = 0x0002;

/// Sets the owner (`at` 8, `flag` SE_OWNER_DEFAULTED) or the group (`at` 16,
/// SE_GROUP_DEFAULTED) of an absolute descriptor: the pointer is stored as given (NULL: none),
/// as Windows stores it, unchecked until the descriptor is used.
///
/// # Safety
/// `sd` is null or an absolute descriptor.
unsafe fn set_sid_field(
    sd: *mut c_void,
    at: usize,
    flag: u16,
    sid: *mut c_void,
    defaulted: BOOL,
) -> BOOL {
    // SAFETY: forwarded contract.
    let control = match unsafe { absolute(sd) } {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let control = if defaulted != 0 {
        control | flag
    } else {
        control & !flag
    };
    let b = sd.cast::<u8>();
    // SAFETY: an absolute descriptor is writable for its 40 bytes (caller).
    unsafe {
        b.add(2).cast::<u16>().write_unaligned(control);
        b.add(at).cast::<*mut c_void>().write_unaligned(sid);
    }
    set_error(ERROR_SUCCESS);
    TRUE
}

/// Reads the owner (`abs_at` 8, `rel_at` 4) or the group (16, 8) of a descriptor, absolute or
/// self-relative, with whether it was defaulted (`flag`).
///
/// # Safety
/// `sd` null or a descriptor; `sid` and `defaulted` null or writable.
unsafe fn get_sid_field(
    sd: *const c_void,
    abs_at: usize,
    rel_at: usize,
    flag: u16,
    sid: *mut *mut c_void,
    defaulted: *mut BOOL,
) -> BOOL {
    if sd.is_null() || sid.is_null() || defaulted.is_null() {
        return fail(ERROR_NOACCESS);
    }
    // SAFETY: a readable descriptor (caller).
    let (control, p) = match unsafe { descriptor_field(sd, abs_at, rel_at) } {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    // SAFETY: writable out pointers (caller).
    unsafe {
        put(sid, p);
        put(defaulted, (control & flag != 0) as BOOL);
    }
    set_error(ERROR_SUCCESS);
    TRUE
}

/// `SetSecurityDescriptorOwner`. npipe departs: CreateNamedPipe and CreateMailslot read only
/// the DACL; the object's owner (the `Owner` trustee, CREATOR OWNER) stays the creating user,
/// whatever owner the descriptor names.
///
/// # Safety
/// `sd` is null or an absolute descriptor; `owner` null or a SID that outlives its use.
#[export_name = "npipe_SetSecurityDescriptorOwner"]
pub unsafe extern "C" fn SetSecurityDescriptorOwner(
    sd: *mut c_void,
    owner: *mut c_void,
    defaulted: BOOL,
) -> BOOL {
    // SAFETY: forwarded contract.
    unsafe { set_sid_field(sd, 8, SE_OWNER_DEFAULTED, owner, defaulted) }
}

/// `SetSecurityDescriptorGroup` (recorded; CreateNamedPipe does not read it).
///
/// # Safety
/// `sd` is null or an absolute descriptor; `group` null or a SID that outlives its use.
#[export_name = "npipe_SetSecurityDescriptorGroup"]
pub unsafe extern "C" fn SetSecurityDescriptorGroup(
    sd: *mut c_void,
    group: *mut c_void,
    defaulted: BOOL,
) -> BOOL {
    // SAFETY: forwarded contract.
    unsafe { set_sid_field(sd, 16, SE_GROUP_DEFAULTED, group, defaulted) }
}

/// `GetSecurityDescriptorOwner`: the owner SID (NULL when none) of an absolute or
/// self-relative descriptor.
///
/// # Safety
/// `sd` null or a descriptor; the out pointers null or writable.
#[export_name = "npipe_GetSecurityDescriptorOwner"]
pub unsafe extern "C" fn GetSecurityDescriptorOwner(
    sd: *const c_void,
    owner: *mut *mut c_void,
    defaulted: *mut BOOL,
) -> BOOL {
    // SAFETY: forwarded contract.
    unsafe { get_sid_field(sd, 8, 4, SE_OWNER_DEFAULTED, owner, defaulted) }
}

/// `GetSecurityDescriptorGroup`: the primary group SID (NULL when none).
///
/// # Safety
/// `sd` null or a descriptor; the out pointers null or writable.
#[export_name = "npipe_GetSecurityDescriptorGroup"]
pub unsafe extern "C" fn GetSecurityDescriptorGroup(
    sd: *const c_void,
    group: *mut *mut c_void,
    defaulted: *mut BOOL,
) -> BOOL {
    // SAFETY: forwarded contract.
    unsafe { get_sid_field(sd, 16, 8, SE_GROUP_DEFAULTED, group, defaulted) }
}
