//! Security identifiers: the SID layout, the SID calls (AllocateAndInitializeSid, FreeSid,
//! IsValidSid, GetLengthSid, EqualSid, CopySid, ConvertSidToStringSidA/W,
//! ConvertStringSidToSidA/W), the accessors into a caller's SID (GetSidSubAuthority,
//! GetSidSubAuthorityCount, GetSidIdentifierAuthority), the SDDL two-letter aliases, and what
//! each SID means on Linux (a [`Trustee`]).
//!
//! Unix users and groups are SIDs the way Samba writes them: `S-1-22-1-<uid>` and
//! `S-1-22-2-<gid>`. Every SID read from the caller is checked (revision 1, at most 15
//! sub-authorities) before its sub-authorities are read. SIDs npipe hands out are `malloc`
//! blocks: FreeSid and LocalFree (`free`) both release them.

use npipe::Trustee;

use crate::*;

/// `ERROR_INVALID_SID`.
pub(crate) const ERROR_INVALID_SID: u32 = 1337;
/// `ERROR_NONE_MAPPED`.
pub(crate) const ERROR_NONE_MAPPED: u32 = 1332;
/// `SID_MAX_SUB_AUTHORITIES`.
const SID_MAX_SUB_AUTHORITIES: usize = 15;

/// A SID, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sid {
    /// IdentifierAuthority (48 bits, big-endian in memory).
    pub auth: u64,
    /// SubAuthority values.
    pub subs: Vec<u32>,
}

impl Sid {
    pub(crate) fn new(auth: u64, subs: &[u32]) -> Sid {
        Sid {
            auth,
            subs: subs.to_vec(),
        }
    }

    /// Unix user `uid` as Samba writes it, `S-1-22-1-<uid>` ([`Sid::trustee`] reads it back).
    pub(crate) fn unix_user(uid: u32) -> Sid {
        Sid::new(22, &[1, uid])
    }

    /// Unix group `gid` as Samba writes it, `S-1-22-2-<gid>`.
    pub(crate) fn unix_group(gid: u32) -> Sid {
        Sid::new(22, &[2, gid])
    }

    /// Everyone, `S-1-1-0`.
    pub(crate) fn everyone() -> Sid {
        Sid::new(1, &[0])
    }

    /// BUILTIN\Administrators, `S-1-5-32-544` (root, for [`Sid::trustee`]).
    pub(crate) fn administrators() -> Sid {
        Sid::new(5, &[32, 544])
    }

    /// Bytes in memory (`GetLengthSid`).
    pub(crate) fn len(&self) -> usize {
        8 + 4 * self.subs.len()
    }

    /// The SID as laid out in memory.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len());
        v.push(1);
        v.push(self.subs.len() as u8);
        v.extend_from_slice(&self.auth.to_be_bytes()[2..]);
        for s in &self.subs {
            v.extend_from_slice(&s.to_le_bytes());
        }
        v
    }

    /// Decodes a SID from bytes, `None` when malformed (revision, count, length).
    pub(crate) fn decode(b: &[u8]) -> Option<Sid> {
        if b.len() < 8 || b[0] != 1 || b[1] as usize > SID_MAX_SUB_AUTHORITIES {
            return None;
        }
        let n = b[1] as usize;
        if b.len() < 8 + 4 * n {
            return None;
        }
        let mut a = [0u8; 8];
        a[2..].copy_from_slice(&b[2..8]);
        let subs = (0..n)
            .map(|i| u32::from_le_bytes(b[8 + 4 * i..12 + 4 * i].try_into().unwrap_or([0; 4])))
            .collect();
        Some(Sid {
            auth: u64::from_be_bytes(a),
            subs,
        })
    }

    /// Reads a SID the caller passed by pointer: the 8-byte header first, then exactly the
    /// sub-authorities it announces. `None` for NULL or a malformed header.
    ///
    /// # Safety
    /// `p` is null or points to a SID (readable for the length its header gives).
    pub(crate) unsafe fn read(p: *const c_void) -> Option<Sid> {
        if p.is_null() {
            return None;
        }
        // SAFETY: a SID starts with an 8-byte header (caller).
        let head = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), 8) };
        if head[0] != 1 || head[1] as usize > SID_MAX_SUB_AUTHORITIES {
            return None;
        }
        let len = 8 + 4 * head[1] as usize;
        // SAFETY: the header was checked and announces `len` bytes (caller).
        Sid::decode(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) })
    }

    /// `S-1-5-32-544` form.
    pub(crate) fn to_sddl(&self) -> String {
        let mut s = if self.auth >> 32 == 0 {
            format!("S-1-{}", self.auth)
        } else {
            format!("S-1-0x{:012X}", self.auth)
        };
        for x in &self.subs {
            s.push_str(&format!("-{x}"));
        }
        s
    }

    /// Parses `S-1-...` or a two-letter SDDL alias.
    pub(crate) fn parse(s: &str) -> Option<Sid> {
        if let Some(sid) = alias(s) {
            return Some(sid);
        }
        let rest = s.strip_prefix("S-1-").or_else(|| s.strip_prefix("s-1-"))?;
        let mut parts = rest.split('-');
        let a = parts.next()?;
        let auth = if let Some(h) = a.strip_prefix("0x").or_else(|| a.strip_prefix("0X")) {
            u64::from_str_radix(h, 16).ok()?
        } else {
            a.parse::<u64>().ok()?
        };
        if auth >> 48 != 0 {
            return None;
        }
        let subs = parts
            .map(|p| p.parse::<u32>().ok())
            .collect::<Option<Vec<u32>>>()?;
        (subs.len() <= SID_MAX_SUB_AUTHORITIES).then_some(Sid { auth, subs })
    }

    /// A `malloc` copy (FreeSid or LocalFree releases it); null when out of memory.
    pub(crate) fn to_malloc(&self) -> *mut c_void {
        let b = self.bytes();
        // SAFETY: malloc of a non-zero size.
        let p = unsafe { libc::malloc(b.len()) }.cast::<u8>();
        if !p.is_null() {
            // SAFETY: `p` has room for `b.len()` bytes.
            unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), p, b.len()) };
        }
        p.cast()
    }

    /// What this SID stands for on Linux: `Ok(Some(trustee))`, `Ok(None)` for a SID no client
    /// can have (its entries match nobody), or `Err(())` for a SID npipe cannot express.
    pub(crate) fn trustee(&self) -> Result<Option<Trustee>, ()> {
        Ok(Some(match (self.auth, self.subs.as_slice()) {
            // Everyone, local and remote clients alike.
            (1, [0]) => Trustee::Everyone,
            // Authenticated Users and BUILTIN\Users (which holds them): all but anonymous
            // remote sessions.
            (5, [11]) | (5, [32, 545]) => Trustee::Authenticated,
            // INTERACTIVE: the processes of this machine; NETWORK: remote (SMB) clients;
            // ANONYMOUS LOGON: remote clients of an anonymous session.
            (5, [4]) => Trustee::Local,
            (5, [2]) => Trustee::Network,
            (5, [7]) => Trustee::Anonymous,
            // LocalSystem and BUILTIN\Administrators: root.
            (5, [18]) | (5, [32, 544]) => Trustee::Uid(0),
            // CREATOR OWNER and OWNER RIGHTS: the creating user.
            (3, [0]) | (3, [4]) => Trustee::Owner,
            // Samba's Unix users and groups.
            (22, [1, uid]) => Trustee::Uid(*uid),
            (22, [2, gid]) => Trustee::Gid(*gid),
            // Accounts and groups no Linux process belongs to: LOCAL SERVICE, NETWORK SERVICE,
            // SERVICE, PRINCIPAL SELF, RESTRICTED, BUILTIN\Guests, Power Users and Remote
            // Desktop Users, and ALL APPLICATION PACKAGES. Their entries match nobody.
            (5, [19]) | (5, [20]) | (5, [6]) | (5, [10]) | (5, [12]) => return Ok(None),
            (5, [32, 546]) | (5, [32, 547]) | (5, [32, 555]) | (15, [2, 1]) => return Ok(None),
            _ => return Err(()),
        }))
    }
}

/// The SDDL two-letter SID aliases npipe knows.
pub(crate) fn alias(s: &str) -> Option<Sid> {
    Some(match s.to_ascii_uppercase().as_str() {
        "WD" => Sid::everyone(),
        "AU" => Sid::new(5, &[11]),
        "IU" => Sid::new(5, &[4]),
        "NU" => Sid::new(5, &[2]),
        "AN" => Sid::new(5, &[7]),
        "SY" => Sid::new(5, &[18]),
        "BA" => Sid::administrators(),
        "BU" => Sid::new(5, &[32, 545]),
        "CO" => Sid::new(3, &[0]),
        "OW" => Sid::new(3, &[4]),
        "LS" => Sid::new(5, &[19]),
        "NS" => Sid::new(5, &[20]),
        "SU" => Sid::new(5, &[6]),
        "PS" => Sid::new(5, &[10]),
        "RC" => Sid::new(5, &[12]),
        "BG" => Sid::new(5, &[32, 546]),
        "PU" => Sid::new(5, &[32, 547]),
        "RD" => Sid::new(5, &[32, 555]),
        "AC" => Sid::new(15, &[2, 1]),
        // Mandatory integrity labels (a SACL's ML entries, which npipe reads and ignores).
        "LW" => Sid::new(16, &[0x1000]),
        "ME" => Sid::new(16, &[0x2000]),
        "HI" => Sid::new(16, &[0x3000]),
        "SI" => Sid::new(16, &[0x4000]),
        _ => return None,
    })
}

/// `SID_IDENTIFIER_AUTHORITY`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct SID_IDENTIFIER_AUTHORITY {
    /// The 48-bit authority, most significant byte first.
    pub value: [u8; 6],
}

/// `AllocateAndInitializeSid`: a SID of `count` (at most 8; more is ERROR_INVALID_SID, as
/// Windows' RtlAllocateAndInitializeSid answers) sub-authorities.
///
/// # Safety
/// `auth` is null or readable; `out` is null or writable.
#[export_name = "npipe_AllocateAndInitializeSid"]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn AllocateAndInitializeSid(
    auth: *const SID_IDENTIFIER_AUTHORITY,
    count: u8,
    s0: DWORD,
    s1: DWORD,
    s2: DWORD,
    s3: DWORD,
    s4: DWORD,
    s5: DWORD,
    s6: DWORD,
    s7: DWORD,
    out: *mut *mut c_void,
) -> BOOL {
    if auth.is_null() || out.is_null() {
        return fail(ERROR_INVALID_PARAMETER);
    }
    if count > 8 {
        return fail(ERROR_INVALID_SID);
    }
    // SAFETY: non-null and readable (caller).
    let a = unsafe { auth.read_unaligned() }.value;
    let mut b = [0u8; 8];
    b[2..].copy_from_slice(&a);
    let subs = [s0, s1, s2, s3, s4, s5, s6, s7];
    let p = Sid::new(u64::from_be_bytes(b), &subs[..count as usize]).to_malloc();
    if p.is_null() {
        return fail(ERROR_NOT_ENOUGH_MEMORY);
    }
    // SAFETY: non-null and writable (caller).
    unsafe { put(out, p) };
    set_error(ERROR_SUCCESS);
    TRUE
}

/// `FreeSid`: releases a SID from AllocateAndInitializeSid; returns NULL.
///
/// # Safety
/// `sid` is null or a SID npipe allocated, not yet freed.
#[export_name = "npipe_FreeSid"]
pub unsafe extern "C" fn FreeSid(sid: *mut c_void) -> *mut c_void {
    // SAFETY: null or a malloc block of ours (caller).
    unsafe { libc::free(sid) };
    std::ptr::null_mut()
}

/// `IsValidSid`.
///
/// # Safety
/// `sid` is null or points to a SID.
#[export_name = "npipe_IsValidSid"]
pub unsafe extern "C" fn IsValidSid(sid: *const c_void) -> BOOL {
    // SAFETY: forwarded contract.
    match unsafe { Sid::read(sid) } {
        Some(_) => TRUE,
        None => fail(ERROR_INVALID_SID),
    }
}

/// `GetLengthSid`: bytes of a valid SID (0 for an invalid one, with ERROR_INVALID_SID).
///
/// # Safety
/// `sid` is null or points to a SID.
#[export_name = "npipe_GetLengthSid"]
pub unsafe extern "C" fn GetLengthSid(sid: *const c_void) -> DWORD {
    // SAFETY: forwarded contract.
    match unsafe { Sid::read(sid) } {
        Some(s) => s.len() as DWORD,
        None => {
            set_error(ERROR_INVALID_SID);
            0
        }
    }
}

/// `EqualSid`: FALSE with ERROR_SUCCESS for two different valid SIDs, FALSE with
/// ERROR_INVALID_SID when either is invalid.
///
/// # Safety
/// `a` and `b` are null or point to SIDs.
#[export_name = "npipe_EqualSid"]
pub unsafe extern "C" fn EqualSid(a: *const c_void, b: *const c_void) -> BOOL {
    // SAFETY: forwarded contract.
    let (x, y) = unsafe { (Sid::read(a), Sid::read(b)) };
    match (x, y) {
        (Some(x), Some(y)) => {
            set_error(ERROR_SUCCESS);
            (x == y) as BOOL
        }
        _ => fail(ERROR_INVALID_SID),
    }
}

/// `ConvertSidToStringSidA`: `*out` gets a LocalFree-able `S-1-...` string.
///
/// # Safety
/// `sid` is null or points to a SID; `out` is null or writable.
#[export_name = "npipe_ConvertSidToStringSidA"]
pub unsafe extern "C" fn ConvertSidToStringSidA(sid: *const c_void, out: *mut *mut c_char) -> BOOL {
    // SAFETY: forwarded contract. The text is ASCII, with no NUL.
    unsafe { sid_to_local_string(sid, out, |t| t.bytes().map(|b| b as c_char).collect()) }
}

/// ConvertSidToStringSidA/W: `*out` gets the `S-1-...` text of `sid`, encoded by `encode`, in a
/// LocalFree-able block.
///
/// # Safety
/// `sid` is null or points to a SID; `out` is null or writable.
unsafe fn sid_to_local_string<T: Copy>(
    sid: *const c_void,
    out: *mut *mut T,
    encode: impl FnOnce(&str) -> Vec<T>,
) -> BOOL {
    if out.is_null() {
        return fail(ERROR_INVALID_PARAMETER);
    }
    // SAFETY: forwarded contract.
    let Some(s) = (unsafe { Sid::read(sid) }) else {
        return fail(ERROR_INVALID_SID);
    };
    let p = local_terminated(&encode(&s.to_sddl()));
    if p.is_null() {
        return fail(ERROR_NOT_ENOUGH_MEMORY);
    }
    // SAFETY: non-null and writable (caller).
    unsafe { put(out, p) };
    set_error(ERROR_SUCCESS);
    TRUE
}

/// `ConvertStringSidToSidA`: `S-1-...` or an SDDL alias (`WD`, `BA`, ...) to a LocalFree-able
/// SID; ERROR_INVALID_SID for anything else.
///
/// # Safety
/// `text` is null or a NUL-terminated string; `out` is null or writable.
#[export_name = "npipe_ConvertStringSidToSidA"]
pub unsafe extern "C" fn ConvertStringSidToSidA(
    text: *const c_char,
    out: *mut *mut c_void,
) -> BOOL {
    if text.is_null() || out.is_null() {
        return fail(ERROR_INVALID_PARAMETER);
    }
    // SAFETY: forwarded contract.
    let s = unsafe { name_a(text) }.unwrap_or_default();
    // SAFETY: `out` is non-null and writable (caller).
    unsafe { sid_from_string(&s, out) }
}

/// `ConvertSidToStringSidW`: as `ConvertSidToStringSidA`, a LocalFree-able UTF-16 string.
///
/// # Safety
/// `sid` is null or points to a SID; `out` is null or writable.
#[export_name = "npipe_ConvertSidToStringSidW"]
pub unsafe extern "C" fn ConvertSidToStringSidW(sid: *const c_void, out: *mut *mut u16) -> BOOL {
    // SAFETY: forwarded contract.
    unsafe { sid_to_local_string(sid, out, |t| t.encode_utf16().collect()) }
}

/// `ConvertStringSidToSidW`: as `ConvertStringSidToSidA`, from UTF-16.
///
/// # Safety
/// `text` is null or a NUL-terminated UTF-16 string; `out` is null or writable.
#[export_name = "npipe_ConvertStringSidToSidW"]
pub unsafe extern "C" fn ConvertStringSidToSidW(text: *const u16, out: *mut *mut c_void) -> BOOL {
    if text.is_null() || out.is_null() {
        return fail(ERROR_INVALID_PARAMETER);
    }
    // SAFETY: forwarded contract.
    let s = unsafe { name_w(text) }.unwrap_or_default();
    // SAFETY: `out` is non-null and writable (caller).
    unsafe { sid_from_string(&s, out) }
}

/// ConvertStringSidToSidA and W once the text is decoded: the SID in a LocalFree-able block
/// stored in `*out`.
///
/// # Safety
/// `out` is non-null and writable.
unsafe fn sid_from_string(s: &str, out: *mut *mut c_void) -> BOOL {
    let Some(sid) = Sid::parse(s) else {
        return fail(ERROR_INVALID_SID);
    };
    let p = sid.to_malloc();
    if p.is_null() {
        return fail(ERROR_NOT_ENOUGH_MEMORY);
    }
    // SAFETY: non-null and writable (caller).
    unsafe { put(out, p) };
    set_error(ERROR_SUCCESS);
    TRUE
}

/// `CopySid`: copies a valid SID into `len` bytes at `dest`.
///
/// # Errors
/// ERROR_INVALID_SID for an invalid source; ERROR_INSUFFICIENT_BUFFER when `len` is smaller
/// than its length; ERROR_NOACCESS for a NULL `dest`.
///
/// # Safety
/// `src` is null or a SID; `dest` null or writable for `len` bytes.
#[export_name = "npipe_CopySid"]
pub unsafe extern "C" fn CopySid(len: DWORD, dest: *mut c_void, src: *const c_void) -> BOOL {
    // SAFETY: forwarded contract.
    let Some(sid) = (unsafe { Sid::read(src) }) else {
        return fail(ERROR_INVALID_SID);
    };
    let b = sid.bytes();
    if (len as usize) < b.len() {
        return fail(ERROR_INSUFFICIENT_BUFFER);
    }
    if dest.is_null() {
        return fail(ERROR_NOACCESS);
    }
    // SAFETY: `dest` is non-null (checked) and writable for `len` >= b.len() bytes (caller);
    // the bytes come from `b`, a copy of our own, so `dest` may even be `src`.
    unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), dest.cast::<u8>(), b.len()) };
    set_error(ERROR_SUCCESS);
    TRUE
}

/// `GetSidSubAuthority`: the address of sub-authority `n` inside the caller's SID; NULL with
/// ERROR_INVALID_SID for an invalid SID, ERROR_INVALID_PARAMETER for an index past its count
/// (Windows leaves both undefined).
///
/// # Safety
/// `sid` is null or a SID.
#[export_name = "npipe_GetSidSubAuthority"]
pub unsafe extern "C" fn GetSidSubAuthority(sid: *mut c_void, n: DWORD) -> *mut DWORD {
    // SAFETY: forwarded contract.
    let Some(s) = (unsafe { Sid::read(sid) }) else {
        set_error(ERROR_INVALID_SID);
        return std::ptr::null_mut();
    };
    if n as usize >= s.subs.len() {
        set_error(ERROR_INVALID_PARAMETER);
        return std::ptr::null_mut();
    }
    set_error(ERROR_SUCCESS);
    // SAFETY: sub-authority `n` lies inside the SID, whose header announced it (checked).
    unsafe { sid.cast::<u8>().add(8 + 4 * n as usize).cast() }
}

/// `GetSidSubAuthorityCount`: the address of the SID's sub-authority count; NULL with
/// ERROR_INVALID_SID for an invalid SID.
///
/// # Safety
/// `sid` is null or a SID.
#[export_name = "npipe_GetSidSubAuthorityCount"]
pub unsafe extern "C" fn GetSidSubAuthorityCount(sid: *mut c_void) -> *mut u8 {
    // SAFETY: forwarded contract.
    if unsafe { Sid::read(sid) }.is_none() {
        set_error(ERROR_INVALID_SID);
        return std::ptr::null_mut();
    }
    set_error(ERROR_SUCCESS);
    // SAFETY: byte 1 of a valid SID.
    unsafe { sid.cast::<u8>().add(1) }
}

/// `GetSidIdentifierAuthority`: the address of the SID's identifier authority; NULL with
/// ERROR_INVALID_SID for an invalid SID.
///
/// # Safety
/// `sid` is null or a SID.
#[export_name = "npipe_GetSidIdentifierAuthority"]
pub unsafe extern "C" fn GetSidIdentifierAuthority(
    sid: *mut c_void,
) -> *mut SID_IDENTIFIER_AUTHORITY {
    // SAFETY: forwarded contract.
    if unsafe { Sid::read(sid) }.is_none() {
        set_error(ERROR_INVALID_SID);
        return std::ptr::null_mut();
    }
    set_error(ERROR_SUCCESS);
    // SAFETY: bytes 2..8 of a valid SID (the struct has alignment 1).
    unsafe { sid.cast::<u8>().add(2).cast() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sid_round_trips() {
        for s in [
            "S-1-1-0",
            "S-1-5-32-544",
            "S-1-22-1-4242",
            "S-1-0x123456789ABC-1",
        ] {
            let sid = Sid::parse(s).unwrap();
            assert_eq!(sid.to_sddl(), s);
            assert_eq!(Sid::decode(&sid.bytes()), Some(sid));
        }
        assert_eq!(Sid::parse("WD").unwrap().to_sddl(), "S-1-1-0");
        for bad in [
            "",
            "S-1",
            "S-2-1-0",
            "S-1-x",
            "S-1-1-",
            "XX",
            "S-1-0x1000000000000-1",
        ] {
            assert!(Sid::parse(bad).is_none(), "{bad}");
        }
        let long = format!("S-1-5{}", "-1".repeat(16));
        assert!(Sid::parse(&long).is_none());
        assert!(Sid::decode(&[1, 2, 0, 0, 0, 0, 0, 5, 1, 0, 0, 0]).is_none());
    }

    #[test]
    fn sids_map_to_trustees() {
        let t = |s: &str| Sid::parse(s).unwrap().trustee();
        assert_eq!(t("WD"), Ok(Some(Trustee::Everyone)));
        assert_eq!(t("BA"), Ok(Some(Trustee::Uid(0))));
        assert_eq!(t("S-1-22-2-100"), Ok(Some(Trustee::Gid(100))));
        assert_eq!(t("NU"), Ok(Some(Trustee::Network)));
        assert_eq!(t("IU"), Ok(Some(Trustee::Local)));
        assert_eq!(t("AN"), Ok(Some(Trustee::Anonymous)));
        assert_eq!(t("AU"), Ok(Some(Trustee::Authenticated)));
        assert_eq!(t("LS"), Ok(None));
        assert_eq!(t("S-1-5-21-1-2-3-1001"), Err(()));
    }
}
