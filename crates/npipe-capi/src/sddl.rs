//! SDDL: ConvertStringSecurityDescriptorToSecurityDescriptorA/W, the string form of security
//! descriptors (`O:BAG:SYD:P(A;;GA;;;WD)(D;;GW;;;S-1-22-1-4242)`).
//!
//! Grammar read here (what pipe and mailslot servers write): the `O:`, `G:`, `D:` and `S:`
//! parts in any order; DACL/SACL flags `P`, `AI`, `AR`, `NO_ACCESS_CONTROL` (a NULL DACL);
//! ACEs `(type;flags;rights;object;inherit-object;sid)` with types `A`, `D` (and `AU`, `AL`,
//! `ML` in the SACL), flags `CI OI NP IO ID SA FA`, rights as a number (`0x1F01FF`, `010`
//! octal, as C's `strtoul` reads them) or two-letter codes, no object GUIDs, and SIDs as
//! `S-1-...` or a two-letter alias; ACE types, flags, rights and aliases in either case, and
//! spaces around an ACE's fields and between ACEs, as Windows takes them. A malformed
//! `D:` or `S:` part (an ACE npipe cannot read, an unknown SID in it) fails with
//! ERROR_INVALID_ACL, a bad owner or group SID with ERROR_INVALID_SID, anything else with
//! ERROR_INVALID_PARAMETER (the codes Windows gives, per Wine's conformance tests and its
//! implementation of this call); never a partial descriptor. The result is self-relative, in
//! one LocalFree-able block.

use crate::acls::{Ace, Acl, ALLOWED, DENIED, ERROR_INVALID_ACL, ERROR_UNKNOWN_REVISION};
use crate::descriptors::{Sd, SE_DACL_PRESENT};
use crate::sids::{Sid, ERROR_INVALID_SID};
use crate::*;

/// `SE_DACL_AUTO_INHERIT_REQ`.
const SE_DACL_AUTO_INHERIT_REQ: u16 = 0x0100;
/// `SE_DACL_AUTO_INHERITED`.
const SE_DACL_AUTO_INHERITED: u16 = 0x0400;
/// `SE_DACL_PROTECTED`.
const SE_DACL_PROTECTED: u16 = 0x1000;
/// `SE_SACL_PRESENT`.
const SE_SACL_PRESENT: u16 = 0x0010;

fn rights_code(c: &str) -> Option<u32> {
    Some(match c.to_ascii_uppercase().as_str() {
        "GA" => 0x1000_0000,
        "GR" => 0x8000_0000,
        "GW" => 0x4000_0000,
        "GX" => 0x2000_0000,
        "RC" => 0x0002_0000,
        "SD" => 0x0001_0000,
        "WD" => 0x0004_0000,
        "WO" => 0x0008_0000,
        "RP" => 0x0000_0010,
        "WP" => 0x0000_0020,
        "CC" => 0x0000_0001,
        "DC" => 0x0000_0002,
        "LC" => 0x0000_0004,
        "SW" => 0x0000_0008,
        "LO" => 0x0000_0080,
        "DT" => 0x0000_0040,
        "CR" => 0x0000_0100,
        "FA" => 0x001F_01FF,
        "FR" => 0x0012_0089,
        "FW" => 0x0012_0116,
        "FX" => 0x0012_00A0,
        "NR" => 0x0000_0002,
        "NW" => 0x0000_0001,
        "NX" => 0x0000_0004,
        _ => return None,
    })
}

/// Rights as a number, read as C's `strtoul` with base 0 reads it (hex after `0x`, octal
/// after a leading `0`: `010` is 8, as on Windows), or as two-letter codes.
fn parse_rights(s: &str) -> Result<u32, u32> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u32::from_str_radix(h, 16).map_err(|_| ERROR_INVALID_PARAMETER);
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let radix = if s.len() > 1 && s.starts_with('0') {
            8
        } else {
            10
        };
        return u32::from_str_radix(s, radix).map_err(|_| ERROR_INVALID_PARAMETER);
    }
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return Err(ERROR_INVALID_PARAMETER);
    }
    let mut m = 0;
    for i in (0..s.len()).step_by(2) {
        m |= rights_code(&s[i..i + 2]).ok_or(ERROR_INVALID_PARAMETER)?;
    }
    Ok(m)
}

fn parse_flags(s: &str) -> Result<u8, u32> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return Err(ERROR_INVALID_PARAMETER);
    }
    let mut f = 0;
    for i in (0..s.len()).step_by(2) {
        f |= match s[i..i + 2].to_ascii_uppercase().as_str() {
            "OI" => 0x01,
            "CI" => 0x02,
            "NP" => 0x04,
            "IO" => 0x08,
            "ID" => 0x10,
            "SA" => 0x40,
            "FA" => 0x80,
            _ => return Err(ERROR_INVALID_PARAMETER),
        };
    }
    Ok(f)
}

fn parse_sid(s: &str) -> Result<Sid, u32> {
    Sid::parse(s).ok_or(ERROR_INVALID_SID)
}

fn parse_ace(body: &str, sacl: bool) -> Result<Ace, u32> {
    // Windows takes spaces around the fields and lowercase letters (`( a;;ga;;; wd)`).
    let f: Vec<&str> = body.split(';').map(|x| x.trim_matches(' ')).collect();
    if f.len() != 6 {
        return Err(ERROR_INVALID_PARAMETER);
    }
    let kind = match (f[0].to_ascii_uppercase().as_str(), sacl) {
        ("A", false) => ALLOWED,
        ("D", false) => DENIED,
        ("AU", true) => 2,
        ("AL", true) => 3,
        ("ML", true) => 0x11,
        _ => return Err(ERROR_INVALID_PARAMETER),
    };
    if !f[3].is_empty() || !f[4].is_empty() {
        // Object ACEs (GUIDs) are for directory objects, not pipes.
        return Err(ERROR_INVALID_PARAMETER);
    }
    Ok(Ace {
        kind,
        flags: parse_flags(f[1])?,
        mask: parse_rights(f[2])?,
        sid: parse_sid(f[5])?,
    })
}

/// One `D:` or `S:` part: flags, then ACEs. Returns (control bits, ACL or None for
/// NO_ACCESS_CONTROL).
fn parse_acl(s: &str, sacl: bool) -> Result<(u16, Option<Acl>), u32> {
    let mut rest = s;
    let mut control = 0u16;
    let mut null = false;
    loop {
        if let Some(r) = rest.strip_prefix("NO_ACCESS_CONTROL") {
            null = true;
            rest = r;
        } else if let Some(r) = rest.strip_prefix("AR") {
            control |= if sacl { 0 } else { SE_DACL_AUTO_INHERIT_REQ };
            rest = r;
        } else if let Some(r) = rest.strip_prefix("AI") {
            control |= if sacl { 0 } else { SE_DACL_AUTO_INHERITED };
            rest = r;
        } else if let Some(r) = rest.strip_prefix('P') {
            control |= if sacl { 0 } else { SE_DACL_PROTECTED };
            rest = r;
        } else {
            break;
        }
    }
    let mut aces = Vec::new();
    // Spaces before, between and after the ACEs are ignored, as Windows does.
    rest = rest.trim_start_matches(' ');
    while let Some(r) = rest.strip_prefix('(') {
        let end = r.find(')').ok_or(ERROR_INVALID_PARAMETER)?;
        aces.push(parse_ace(&r[..end], sacl)?);
        rest = r[end + 1..].trim_start_matches(' ');
    }
    if !rest.is_empty() || (null && !aces.is_empty()) {
        return Err(ERROR_INVALID_PARAMETER);
    }
    Ok((control, (!null).then_some(Acl { revision: 2, aces })))
}

/// Parses a whole SDDL string.
pub(crate) fn parse(s: &str) -> Result<Sd, u32> {
    let mut sd = Sd::default();
    // Leading spaces are ignored, as Windows does.
    let s = s.trim_start_matches(' ');
    // Split at each `X:` that starts a part (a `:` never occurs inside a part).
    let mut starts: Vec<usize> = s
        .match_indices(':')
        .map(|(i, _)| i.checked_sub(1).ok_or(ERROR_INVALID_PARAMETER))
        .collect::<Result<_, _>>()?;
    if starts.first().is_some_and(|&i| i != 0) || (starts.is_empty() && !s.is_empty()) {
        return Err(ERROR_INVALID_PARAMETER);
    }
    starts.push(s.len());
    let mut seen = [false; 4];
    for w in starts.windows(2) {
        // A part is a tag, a colon and a body: `get` also refuses a tag that is not one ASCII
        // character (a slice inside a multi-byte one).
        let part = s.get(w[0]..w[1]).ok_or(ERROR_INVALID_PARAMETER)?;
        let (tag, body) = match (part.as_bytes(), part.get(2..)) {
            ([t, b':', ..], Some(body)) => (*t, body),
            _ => return Err(ERROR_INVALID_PARAMETER),
        };
        let slot = match tag {
            b'O' => 0,
            b'G' => 1,
            b'D' => 2,
            b'S' => 3,
            _ => return Err(ERROR_INVALID_PARAMETER),
        };
        if std::mem::replace(&mut seen[slot], true) {
            return Err(ERROR_INVALID_PARAMETER);
        }
        match tag {
            b'O' => sd.owner = Some(parse_sid(body.trim_matches(' '))?),
            b'G' => sd.group = Some(parse_sid(body.trim_matches(' '))?),
            b'D' => {
                let (c, acl) = parse_acl(body, false).map_err(|_| ERROR_INVALID_ACL)?;
                sd.control |= c | SE_DACL_PRESENT;
                sd.dacl = acl;
            }
            _ => {
                let (_, acl) = parse_acl(body, true).map_err(|_| ERROR_INVALID_ACL)?;
                sd.control |= SE_SACL_PRESENT;
                sd.sacl = acl;
            }
        }
    }
    Ok(sd)
}

/// The common part of the A and W calls.
///
/// # Safety
/// `out` and `len` are null or writable.
unsafe fn convert(
    text: Option<String>,
    revision: DWORD,
    out: *mut *mut c_void,
    len: *mut u32,
) -> BOOL {
    let Some(text) = text else {
        return fail(ERROR_INVALID_PARAMETER);
    };
    if out.is_null() {
        return fail(ERROR_INVALID_PARAMETER);
    }
    if revision != 1 {
        return fail(ERROR_UNKNOWN_REVISION);
    }
    let sd = match parse(&text) {
        Ok(sd) => sd,
        Err(e) => return fail(e),
    };
    let b = sd.self_relative();
    // SAFETY: malloc of a non-zero size; LocalFree (free) releases it.
    let p = unsafe { libc::malloc(b.len()) }.cast::<u8>();
    if p.is_null() {
        return fail(ERROR_NOT_ENOUGH_MEMORY);
    }
    // SAFETY: `p` has room for `b.len()` bytes; the out pointers are writable (caller).
    unsafe {
        std::ptr::copy_nonoverlapping(b.as_ptr(), p, b.len());
        put(out, p.cast::<c_void>());
        put(len, b.len() as u32);
    }
    set_error(ERROR_SUCCESS);
    TRUE
}

/// `ConvertStringSecurityDescriptorToSecurityDescriptorA` (see the module docs).
///
/// # Safety
/// `text` is null or NUL-terminated; `out` and `len` null or writable.
#[export_name = "npipe_ConvertStringSecurityDescriptorToSecurityDescriptorA"]
pub unsafe extern "C" fn ConvertStringSecurityDescriptorToSecurityDescriptorA(
    text: *const c_char,
    revision: DWORD,
    out: *mut *mut c_void,
    len: *mut u32,
) -> BOOL {
    // SAFETY: forwarded contract.
    unsafe { convert(name_a(text), revision, out, len) }
}

/// `ConvertStringSecurityDescriptorToSecurityDescriptorW` (see the module docs).
///
/// # Safety
/// `text` is null or NUL-terminated UTF-16; `out` and `len` null or writable.
#[export_name = "npipe_ConvertStringSecurityDescriptorToSecurityDescriptorW"]
pub unsafe extern "C" fn ConvertStringSecurityDescriptorToSecurityDescriptorW(
    text: *const u16,
    revision: DWORD,
    out: *mut *mut c_void,
    len: *mut u32,
) -> BOOL {
    // SAFETY: forwarded contract.
    unsafe { convert(name_w(text), revision, out, len) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acls::policy_from_dacl;
    use npipe::{Access, AccessPolicy, Trustee};

    fn policy(s: &str) -> Result<Option<AccessPolicy>, u32> {
        let sd = parse(s)?;
        let b = sd.self_relative();
        // Read back through the same path CreateNamedPipe uses.
        // SAFETY: `b` is a whole self-relative descriptor.
        let dacl = unsafe { Sd::read_dacl(b.as_ptr().cast()) }?;
        policy_from_dacl(dacl)
    }

    #[test]
    fn everyone_full_access() {
        let p = policy("D:(A;;GA;;;WD)").unwrap().unwrap();
        assert_eq!(
            p,
            AccessPolicy::nobody().allow(Trustee::Everyone, Access::from_mask(0x1000_0000))
        );
    }

    #[test]
    fn parts_flags_and_sids() {
        let p = policy("O:BAG:SYD:PAI(D;OICI;FW;;;S-1-22-1-4242)(A;;0x1f01ff;;;S-1-22-2-100)(A;;FR;;;NU)S:(ML;;NW;;;S-1-16-4096)")
            .unwrap()
            .unwrap();
        let e: Vec<_> = p.entries().collect();
        assert_eq!(e.len(), 3, "{e:?}");
        assert_eq!(e[2], (true, Trustee::Network, Access::from_mask(0x120089)));
        assert_eq!(
            e[0],
            (false, Trustee::Uid(4242), Access::from_mask(0x120116))
        );
        assert_eq!(e[1], (true, Trustee::Gid(100), Access::from_mask(0x1F01FF)));
        assert_eq!(
            policy("D:NO_ACCESS_CONTROL").unwrap(),
            Some(AccessPolicy::everyone())
        );
        assert_eq!(policy("O:BA").unwrap(), None, "no DACL: the default");
        assert_eq!(policy("D:").unwrap(), Some(AccessPolicy::nobody()));
    }

    /// What Windows reads that is easy to get wrong: numbers as C's `strtoul` reads them
    /// (`010` is octal 8), lowercase letters, spaces around fields and between ACEs, and the
    /// integrity label and service aliases of a common descriptor.
    #[test]
    fn numbers_case_spaces_and_aliases_as_windows_reads_them() {
        let mask = |s: &str| {
            let p = policy(s).unwrap().unwrap();
            let e: Vec<_> = p.entries().collect();
            e[0].2
        };
        assert_eq!(mask("D:(A;;010;;;WD)"), Access::from_mask(0o10));
        assert_eq!(mask("D:(A;;10;;;WD)"), Access::from_mask(10));
        assert_eq!(mask("D:(A;;0;;;WD)"), Access::from_mask(0));
        assert_eq!(parse("D:(A;;08;;;WD)").map(|_| ()), Err(ERROR_INVALID_ACL));
        let lower = policy("d:(a;;ga;;;wd)");
        assert_eq!(
            lower,
            Err(ERROR_INVALID_PARAMETER),
            "the part tag stays uppercase"
        );
        assert_eq!(
            policy(" D: (a;oici;ga;;;wd) ( D; ; FW ; ; ; S-1-22-1-7 ) ").unwrap(),
            policy("D:(A;OICI;GA;;;WD)(D;;FW;;;S-1-22-1-7)").unwrap()
        );
        let common = policy("D:(A;;GA;;;SY)(A;;GA;;;BA)(A;;GRGW;;;AU)(A;;GA;;;LS)S:(ML;;NW;;;LW)")
            .unwrap()
            .unwrap();
        assert_eq!(
            common.entries().count(),
            3,
            "LOCAL SERVICE matches no process"
        );
    }

    #[test]
    fn malformed_and_inexpressible() {
        for bad in [
            "D:(A;;GA;;;WD",
            "D:(A;;GA;;WD)",
            "D:(X;;GA;;;WD)",
            "D:(A;;QQ;;;WD)",
            "D:(A;ZZ;GA;;;WD)",
            "D:(A;;GA;;;S-1-x)",
            "D:(A;;GA;;;QZ)",
            "D:(OA;;GA;1234;;WD)",
            "D:NO_ACCESS_CONTROL(A;;GA;;;WD)",
        ] {
            assert_eq!(parse(bad).map(|_| ()), Err(ERROR_INVALID_ACL), "{bad}");
        }
        for bad in [
            "X:(A;;GA;;;WD)",
            "D:(A;;GA;;;WD)D:(A;;GA;;;WD)",
            ":",
            "junk",
            "D::",
            "\u{e9}:(A;;GA;;;WD)",
            "D:(A;;GA;;;WD)\u{e9}:",
        ] {
            assert_eq!(
                parse(bad).map(|_| ()),
                Err(ERROR_INVALID_PARAMETER),
                "{bad}"
            );
        }
        assert_eq!(parse("O:QZ").map(|_| ()), Err(ERROR_INVALID_SID));
        // Parses, but names a domain user npipe cannot map: the create must fail.
        assert_eq!(
            policy("D:(A;;GA;;;S-1-5-21-1-2-3-1001)"),
            Err(ERROR_INVALID_SECURITY_DESCR)
        );
    }

    /// Mutated descriptors and random bytes: every input is parsed or refused with a Win32
    /// code, never a panic; whatever parses reads back through the create path, and random
    /// ACL and SID bytes decode or are refused within their length.
    #[test]
    fn hostile_strings_and_bytes_never_panic() {
        let seeds = [
            "O:BAG:SYD:PAI(D;OICI;FW;;;S-1-22-1-4242)(A;;0x1f01ff;;;S-1-22-2-100)S:(ML;;NW;;;S-1-16-4096)",
            "D:(A;;GA;;;WD)(A;;GRGW;;;BA)",
            "D:NO_ACCESS_CONTROL",
        ];
        let alphabet = "DOGS:();AP0x1fS-WDBAGAGRGW,;)(ICNPO9é\u{1F600}".as_bytes();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..20_000 {
            let mut b = seeds[round % seeds.len()].as_bytes().to_vec();
            for _ in 0..(next() % 4 + 1) {
                let i = (next() as usize) % (b.len() + 1);
                match next() % 3 {
                    0 if i < b.len() => {
                        b.remove(i);
                    }
                    1 => b.insert(i, alphabet[(next() as usize) % alphabet.len()]),
                    _ if i < b.len() => b[i] = alphabet[(next() as usize) % alphabet.len()],
                    _ => {}
                }
            }
            let text = String::from_utf8_lossy(&b);
            match parse(&text) {
                Ok(sd) => {
                    let bytes = sd.self_relative();
                    // SAFETY: `bytes` is a whole self-relative descriptor.
                    let _ = unsafe { Sd::read_dacl(bytes.as_ptr().cast()) }
                        .map(crate::acls::policy_from_dacl);
                }
                Err(e) => assert!(
                    [
                        ERROR_INVALID_PARAMETER,
                        ERROR_INVALID_ACL,
                        ERROR_INVALID_SID
                    ]
                    .contains(&e),
                    "{text}: {e}"
                ),
            }
            let raw: Vec<u8> = (0..(next() % 64)).map(|_| next() as u8).collect();
            let _ = Acl::decode(&raw);
            let _ = Sid::decode(&raw);
        }
    }
}
