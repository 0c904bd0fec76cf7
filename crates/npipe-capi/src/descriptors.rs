//! Security descriptors: their layout (absolute and self-relative, [`Sd`]), reading the DACL
//! out of a caller's descriptor, and the calls on descriptors (InitializeSecurityDescriptor,
//! SetSecurityDescriptorDacl and GetSecurityDescriptorDacl, SetSecurityDescriptorOwner and
//! Group, GetSecurityDescriptorOwner and Group, IsValidSecurityDescriptor). The ACLs in them
//! are `acls`'; what a DACL grants is read there.
//!
//! npipe departs in one place: CreateNamedPipe and CreateMailslot read only a descriptor's
//! DACL; its owner and group are recorded and given back, and the object's owner stays the
//! creating user.

use crate::acls::{Acl, ERROR_UNKNOWN_REVISION};
use crate::sids::Sid;
use crate::*;

/// `SE_DACL_PRESENT`.
pub(crate) const SE_DACL_PRESENT: u16 = 0x0004;
/// `SE_DACL_DEFAULTED`.
const SE_DACL_DEFAULTED: u16 = 0x0008;
/// `SE_SELF_RELATIVE`.
pub(crate) const SE_SELF_RELATIVE: u16 = 0x8000;
/// Where the absolute form (`SECURITY_DESCRIPTOR`) keeps its pointers: after the 4-byte
/// header, each pointer-aligned: the owner at 8, the group at 16, the SACL at 24 and the DACL at
/// 32 on 64-bit (4, 8, 12 and 16 on 32-bit).
const PTR: usize = std::mem::size_of::<usize>();
const ABS_OWNER: usize = PTR;
const ABS_GROUP: usize = 2 * PTR;
const ABS_DACL: usize = 4 * PTR;
/// `SECURITY_DESCRIPTOR_MIN_LENGTH`: the absolute form's size (40 bytes on 64-bit, 20 on
/// 32-bit).
const SD_ABSOLUTE_LEN: usize = 5 * PTR;

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
            // SAFETY: an absolute descriptor has its DACL pointer at ABS_DACL (caller).
            unsafe { b.add(ABS_DACL).cast::<*const c_void>().read_unaligned() }
        };
        if acl.is_null() {
            return Ok(Some(None));
        }
        // SAFETY: the DACL of a descriptor is an ACL (caller).
        unsafe { Acl::read(acl) }.map(|a| Some(Some(a)))
    }
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
    // SAFETY: an absolute descriptor is writable for its SD_ABSOLUTE_LEN bytes (caller).
    unsafe {
        b.add(2).cast::<u16>().write_unaligned(control);
        b.add(ABS_DACL)
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
    let (control, p) = match unsafe { descriptor_field(sd, ABS_DACL, 16) } {
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

/// Sets the owner (`at` ABS_OWNER, `flag` SE_OWNER_DEFAULTED) or the group (`at` ABS_GROUP,
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
    // SAFETY: an absolute descriptor is writable for its SD_ABSOLUTE_LEN bytes (caller).
    unsafe {
        b.add(2).cast::<u16>().write_unaligned(control);
        b.add(at).cast::<*mut c_void>().write_unaligned(sid);
    }
    set_error(ERROR_SUCCESS);
    TRUE
}

/// Reads the owner (`abs_at` ABS_OWNER, `rel_at` 4) or the group (ABS_GROUP, 8) of a
/// descriptor, absolute or self-relative, with whether it was defaulted (`flag`).
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
    unsafe { set_sid_field(sd, ABS_OWNER, SE_OWNER_DEFAULTED, owner, defaulted) }
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
    unsafe { set_sid_field(sd, ABS_GROUP, SE_GROUP_DEFAULTED, group, defaulted) }
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
    unsafe { get_sid_field(sd, ABS_OWNER, 4, SE_OWNER_DEFAULTED, owner, defaulted) }
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
    unsafe { get_sid_field(sd, ABS_GROUP, 8, SE_GROUP_DEFAULTED, group, defaulted) }
}
