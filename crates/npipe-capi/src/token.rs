//! Access tokens: the token object (`Object::Token`), OpenProcessToken, OpenThreadToken and
//! GetTokenInformation, with the token pseudo handles of GetCurrentProcessToken,
//! GetCurrentThreadToken and GetCurrentThreadEffectiveToken.
//!
//! A token is a snapshot of an identity taken when it is opened: a process token of the
//! calling thread's own uid, gid and groups (of another process, what its `/proc` status
//! says), a thread token of the pipe client the calling thread impersonates. Users and groups
//! are the SIDs `sids` gives them (Samba's `S-1-22-1-<uid>` and `S-1-22-2-<gid>`); `accounts`
//! names them.
//!
//! npipe departs: a token is not waitable (WaitForSingleObject fails with
//! ERROR_INVALID_HANDLE, as Wine's server has it), carries no privileges, and only the calling
//! thread's token can be opened (another thread's handle gives ERROR_NOT_SUPPORTED: whether it
//! impersonates is that thread's own state).

use std::sync::Arc;

use npipe::Identity;

use crate::handles::{self, Object};
use crate::sids::Sid;
use crate::*;

/// `ERROR_NO_TOKEN`.
const ERROR_NO_TOKEN: u32 = 1008;

/// `TOKEN_QUERY`.
const TOKEN_QUERY: u32 = 0x0008;
/// `TOKEN_QUERY_SOURCE`.
const TOKEN_QUERY_SOURCE: u32 = 0x0010;
/// `GENERIC_READ`, mapped to `TOKEN_READ` (which has TOKEN_QUERY).
const GENERIC_READ: u32 = 0x8000_0000;
/// `GENERIC_ALL`.
const GENERIC_ALL: u32 = 0x1000_0000;
/// `MAXIMUM_ALLOWED`: whatever the caller may have, which for its own token is everything.
const MAXIMUM_ALLOWED: u32 = 0x0200_0000;
/// `TOKEN_ALL_ACCESS`.
const TOKEN_ALL_ACCESS: u32 = 0x000F_01FF;

/// The pseudo handle of `GetCurrentProcessToken()`.
const CURRENT_PROCESS_TOKEN: usize = -4isize as usize;
/// The pseudo handle of `GetCurrentThreadToken()`.
const CURRENT_THREAD_TOKEN: usize = -5isize as usize;
/// The pseudo handle of `GetCurrentThreadEffectiveToken()`.
const CURRENT_THREAD_EFFECTIVE_TOKEN: usize = -6isize as usize;

/// `SE_GROUP_MANDATORY | SE_GROUP_ENABLED_BY_DEFAULT | SE_GROUP_ENABLED`.
const GROUP_ENABLED: u32 = 0x7;
/// `SecurityImpersonation`: what a pipe server gets of a client that asked for nothing else.
const SECURITY_IMPERSONATION: u32 = 2;

/// An access token (a process token is `TokenPrimary`, a thread token `TokenImpersonation`).
#[derive(Debug)]
pub(crate) struct Token {
    /// Whom it describes, as it was when the token was opened.
    identity: Identity,
    /// A thread's token of the client it impersonates (TokenImpersonation).
    impersonation: bool,
    /// The access the handle was opened with (the rights GetTokenInformation checks).
    access: u32,
    /// The Linux session, when known (process tokens of this process).
    session: Option<u32>,
}

impl Token {
    /// Whether the handle may query the token (TOKEN_QUERY or a right that includes it).
    fn may_query(&self) -> bool {
        self.access & (TOKEN_QUERY | GENERIC_READ | GENERIC_ALL | MAXIMUM_ALLOWED) != 0
            || self.access & TOKEN_ALL_ACCESS == TOKEN_ALL_ACCESS
    }

    /// The user's SID.
    fn user(&self) -> Sid {
        Sid::unix_user(self.identity.uid)
    }

    /// The groups a token lists: the primary group, the supplementary ones, Everyone, and for
    /// root BUILTIN\Administrators (which `sids` maps to uid 0).
    fn groups(&self) -> Vec<Sid> {
        let mut gids = vec![self.identity.gid];
        for g in &self.identity.groups {
            if !gids.contains(g) {
                gids.push(*g);
            }
        }
        let mut v: Vec<Sid> = gids.iter().map(|g| Sid::unix_group(*g)).collect();
        v.push(Sid::everyone());
        if self.identity.uid == 0 {
            v.push(Sid::administrators());
        }
        v
    }
}

/// A process token of the calling thread's own identity.
fn own_token(access: u32) -> Result<Token, u32> {
    let identity = npipe::own_identity().map_err(|e| npipe::win32_code(&e))?;
    Ok(Token {
        identity,
        impersonation: false,
        access,
        session: Some(npipe::accounts::session_id()),
    })
}

/// The thread token of the client the calling thread impersonates: ERROR_NO_TOKEN when it
/// does not.
fn thread_token(access: u32) -> Result<Token, u32> {
    let identity = npipe::impersonated_identity().ok_or(ERROR_NO_TOKEN)?;
    Ok(Token {
        identity,
        impersonation: true,
        access,
        session: None,
    })
}

/// The effective uid, gid and groups of process `p` from `/proc/<pid>/status`:
/// ERROR_ACCESS_DENIED when it cannot be read (exited, or hidden from this process).
fn other_process(p: &crate::process::Process, access: u32) -> Result<Token, u32> {
    let pid = p.pid();
    // Read while it cannot be reaped: a reaped pid may already be a stranger's. Checking
    // before and after the read does not do: the reaper sets `done` only after it has reaped.
    let text = p
        .unreaped(|| std::fs::read_to_string(format!("/proc/{pid}/status")))
        .ok_or(ERROR_ACCESS_DENIED)?
        .map_err(|_| ERROR_ACCESS_DENIED)?;
    let field = |key: &str| -> Option<Vec<u32>> {
        let line = text.lines().find_map(|l| l.strip_prefix(key))?;
        line.split_whitespace().map(|x| x.parse().ok()).collect()
    };
    // Real, effective, saved and file-system ids: the token is the effective identity.
    let effective = |key: &str| field(key).and_then(|v| v.get(1).copied());
    let uid = effective("Uid:").ok_or(ERROR_ACCESS_DENIED)?;
    let gid = effective("Gid:").ok_or(ERROR_ACCESS_DENIED)?;
    let groups = field("Groups:").unwrap_or_default();
    Ok(Token {
        identity: Identity { uid, gid, groups },
        impersonation: false,
        access,
        session: None,
    })
}

/// Stores a new token handle in `*out`.
///
/// # Safety
/// `out` is non-null and writable.
unsafe fn hand_out(t: Result<Token, u32>, out: *mut HANDLE) -> BOOL {
    match t {
        Ok(t) => {
            let h = handles::insert_obj(Object::Token(Arc::new(t)));
            if h == INVALID_HANDLE_VALUE {
                return FALSE;
            }
            // SAFETY: non-null and writable (caller).
            unsafe { put(out, h) };
            set_error(ERROR_SUCCESS);
            TRUE
        }
        Err(code) => fail(code),
    }
}

/// `OpenProcessToken`: a primary token of this process (the pseudo handle of
/// GetCurrentProcess or a handle to this process: the calling thread's own identity, also
/// while it impersonates), or of another process from its `/proc` status (its effective uid,
/// gid and groups; ERROR_ACCESS_DENIED once that cannot be read).
///
/// # Errors
/// ERROR_NOACCESS for a NULL `token`; ERROR_INVALID_HANDLE for a handle that is not a
/// process.
///
/// # Safety
/// `token` is null or writable.
#[export_name = "npipe_OpenProcessToken"]
pub unsafe extern "C" fn OpenProcessToken(
    process: HANDLE,
    access: DWORD,
    token: *mut HANDLE,
) -> BOOL {
    if token.is_null() {
        return fail(ERROR_NOACCESS);
    }
    let t = if process == INVALID_HANDLE_VALUE {
        own_token(access)
    } else {
        // CreateProcess's hThread is a thread, no process.
        match handles::get(process)
            .as_deref()
            .filter(|e| !e.main_thread)
            .map(|e| &e.obj)
        {
            Some(Object::Process(p)) if p.pid() == std::process::id() => own_token(access),
            Some(Object::Process(p)) => other_process(p, access),
            _ => Err(ERROR_INVALID_HANDLE),
        }
    };
    // SAFETY: non-null (checked) and writable (caller).
    unsafe { hand_out(t, token) }
}

/// `OpenThreadToken`: the impersonation token of the calling thread (the pseudo handle of
/// GetCurrentThread or a handle to it), the identity of the pipe client it impersonates;
/// ERROR_NO_TOKEN when it does not impersonate, as on Windows. `open_as_self` changes
/// nothing: opening one's own token needs no access check here.
///
/// # Errors
/// ERROR_NOACCESS for a NULL `token`; ERROR_INVALID_HANDLE for a handle that is not a thread;
/// ERROR_NOT_SUPPORTED for another thread (see the module docs).
///
/// # Safety
/// `token` is null or writable.
#[export_name = "npipe_OpenThreadToken"]
pub unsafe extern "C" fn OpenThreadToken(
    thread: HANDLE,
    access: DWORD,
    open_as_self: BOOL,
    token: *mut HANDLE,
) -> BOOL {
    let _ = open_as_self;
    if token.is_null() {
        return fail(ERROR_NOACCESS);
    }
    let t = if crate::threads::is_pseudo(thread) {
        thread_token(access)
    } else {
        match handles::get(thread).as_deref().map(|e| &e.obj) {
            Some(Object::Thread(t)) if Arc::ptr_eq(t, &crate::threads::current_thread()) => {
                thread_token(access)
            }
            Some(Object::Thread(_)) => Err(ERROR_NOT_SUPPORTED),
            _ => Err(ERROR_INVALID_HANDLE),
        }
    };
    // SAFETY: non-null (checked) and writable (caller).
    unsafe { hand_out(t, token) }
}

/// The token behind `h`: an open token handle or one of the three token pseudo handles.
fn token_of(h: HANDLE) -> Result<Arc<Token>, u32> {
    let pseudo = TOKEN_QUERY | TOKEN_QUERY_SOURCE;
    match h as usize {
        CURRENT_PROCESS_TOKEN => own_token(pseudo).map(Arc::new),
        CURRENT_THREAD_TOKEN => thread_token(pseudo).map(Arc::new),
        CURRENT_THREAD_EFFECTIVE_TOKEN => thread_token(pseudo)
            .or_else(|_| own_token(pseudo))
            .map(Arc::new),
        _ => match handles::get(h).as_deref().map(|e| &e.obj) {
            Some(Object::Token(t)) => Ok(t.clone()),
            _ => Err(ERROR_INVALID_HANDLE),
        },
    }
}

/// Appends a pointer-sized value.
fn push_ptr(v: &mut Vec<u8>, p: usize) {
    v.extend_from_slice(&p.to_ne_bytes());
}

/// A `SID_AND_ATTRIBUTES` whose SID lies at `sid_at`, padded to its C size.
fn push_sid_and_attributes(v: &mut Vec<u8>, sid_at: usize, attributes: u32) {
    let start = v.len();
    push_ptr(v, sid_at);
    v.extend_from_slice(&attributes.to_ne_bytes());
    v.resize(start + SID_AND_ATTRIBUTES, 0);
}

/// Size of a pointer.
const PTR: usize = std::mem::size_of::<usize>();
/// Size of `SID_AND_ATTRIBUTES` (a pointer and a DWORD, padded to the pointer's alignment):
/// 16 bytes on 64-bit targets, 8 on 32-bit ones.
const SID_AND_ATTRIBUTES: usize = (PTR + 4).next_multiple_of(PTR);

/// What GetTokenInformation writes for `class` into a buffer at address `base` (the SIDs after
/// the structures that point to them, as Windows lays them out), or the Win32 error. `base`
/// is any address the caller passed (a size query may pass one with a length of 0): the
/// addresses wrap rather than overflow, and matter only once the bytes are copied there.
fn information(t: &Token, class: u32, base: usize) -> Result<Vec<u8>, u32> {
    let mut v = Vec::new();
    match class {
        // TokenUser: TOKEN_USER, then the SID.
        1 => {
            push_sid_and_attributes(&mut v, base.wrapping_add(SID_AND_ATTRIBUTES), 0);
            v.extend_from_slice(&t.user().bytes());
        }
        // TokenGroups: TOKEN_GROUPS (count, padding, the array), then the SIDs.
        2 => {
            let groups = t.groups();
            let head = PTR + groups.len() * SID_AND_ATTRIBUTES;
            v.extend_from_slice(&(groups.len() as u32).to_ne_bytes());
            v.resize(PTR, 0);
            let mut at = base.wrapping_add(head);
            for g in &groups {
                push_sid_and_attributes(&mut v, at, GROUP_ENABLED);
                at = at.wrapping_add(g.len());
            }
            for g in &groups {
                v.extend_from_slice(&g.bytes());
            }
        }
        // TokenOwner (the user, the default owner of what it creates) and TokenPrimaryGroup.
        4 | 5 => {
            let sid = if class == 4 {
                t.user()
            } else {
                Sid::unix_group(t.identity.gid)
            };
            push_ptr(&mut v, base.wrapping_add(PTR));
            v.extend_from_slice(&sid.bytes());
        }
        // TokenType: TokenPrimary (1) or TokenImpersonation (2).
        8 => v.extend_from_slice(&(1 + t.impersonation as u32).to_ne_bytes()),
        // TokenImpersonationLevel: only of an impersonation token.
        9 if t.impersonation => v.extend_from_slice(&SECURITY_IMPERSONATION.to_ne_bytes()),
        // TokenSessionId.
        12 => v.extend_from_slice(&t.session.ok_or(ERROR_INVALID_PARAMETER)?.to_ne_bytes()),
        // TokenElevation: TokenIsElevated for root.
        20 => v.extend_from_slice(&((t.identity.uid == 0) as u32).to_ne_bytes()),
        // Any other class, known to Windows or not (STATUS_INVALID_INFO_CLASS for one it does
        // not know).
        _ => return Err(ERROR_INVALID_PARAMETER),
    }
    Ok(v)
}

/// `GetTokenInformation` for TokenUser (1), TokenGroups (2), TokenOwner (4),
/// TokenPrimaryGroup (5), TokenType (8), TokenImpersonationLevel (9, impersonation tokens
/// only), TokenSessionId (12, this process's tokens only) and TokenElevation (20). `*ret` gets
/// the size the class takes; a buffer smaller than that (NULL with a length of 0 asks for the
/// size) fails with ERROR_INSUFFICIENT_BUFFER.
///
/// # Errors
/// ERROR_INVALID_HANDLE for a handle that is not a token; ERROR_NO_TOKEN for
/// GetCurrentThreadToken() on a thread that does not impersonate; ERROR_ACCESS_DENIED for a
/// handle opened without TOKEN_QUERY; ERROR_NOACCESS for a NULL `ret`, or a NULL buffer with a
/// length; ERROR_INVALID_PARAMETER for any other class (npipe departs: Windows knows more),
/// for TokenImpersonationLevel of a primary token (as Windows) and TokenSessionId of a
/// client's or another process's token (npipe departs: unknown).
///
/// # Safety
/// `info` is null or writable for `len` bytes; `ret` null or writable.
#[export_name = "npipe_GetTokenInformation"]
pub unsafe extern "C" fn GetTokenInformation(
    token: HANDLE,
    class: DWORD,
    info: *mut c_void,
    len: DWORD,
    ret: *mut DWORD,
) -> BOOL {
    let t = match token_of(token) {
        Ok(t) => t,
        Err(code) => return fail(code),
    };
    if !t.may_query() {
        return fail(ERROR_ACCESS_DENIED);
    }
    if ret.is_null() || (info.is_null() && len != 0) {
        return fail(ERROR_NOACCESS);
    }
    let bytes = match information(&t, class, info as usize) {
        Ok(b) => b,
        Err(code) => return fail(code),
    };
    // SAFETY: non-null (checked) and writable (caller).
    unsafe { put(ret, bytes.len() as DWORD) };
    if (len as usize) < bytes.len() {
        return fail(ERROR_INSUFFICIENT_BUFFER);
    }
    // SAFETY: `info` is non-null (len >= bytes.len() > 0) and writable for `len` bytes
    // (caller); `bytes` is a distinct allocation.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), info.cast::<u8>(), bytes.len()) };
    set_error(ERROR_SUCCESS);
    TRUE
}

#[cfg(test)]
mod tests {
    use std::alloc::Layout;

    use super::*;

    /// The C layout of `SID_AND_ATTRIBUTES` on this target: its size, and the offset of the
    /// `Groups` array in `TOKEN_GROUPS` (after the DWORD count).
    fn c_layout() -> (usize, usize) {
        let pointer = Layout::new::<*const u8>();
        let (entry, _) = pointer.extend(Layout::new::<u32>()).unwrap();
        let entry = entry.pad_to_align();
        let (_, groups_at) = Layout::new::<u32>().extend(entry).unwrap();
        (entry.size(), groups_at)
    }

    /// The pointer-sized value at `at`.
    fn ptr_at(v: &[u8], at: usize) -> usize {
        usize::from_ne_bytes(v[at..at + PTR].try_into().unwrap())
    }

    fn token() -> Token {
        Token {
            identity: Identity {
                uid: 1000,
                gid: 100,
                groups: vec![100, 27, 4242],
            },
            impersonation: false,
            access: TOKEN_QUERY,
            session: Some(0),
        }
    }

    /// Each SID pointer a class stores points, inside the buffer, at the SID C expects there
    /// (on a 32-bit target SID_AND_ATTRIBUTES is 8 bytes, not 12).
    #[test]
    fn token_information_has_the_c_layout() {
        let (entry, groups_at) = c_layout();
        let base = 0x1000;
        let t = token();

        let user = information(&t, 1, base).unwrap();
        assert_eq!(user.len(), entry + t.user().len());
        assert_eq!(ptr_at(&user, 0), base + entry, "TOKEN_USER.User.Sid");
        assert_eq!(Sid::decode(&user[entry..]), Some(t.user()));

        let groups = information(&t, 2, base).unwrap();
        let want = t.groups();
        assert_eq!(
            u32::from_ne_bytes(groups[..4].try_into().unwrap()) as usize,
            want.len()
        );
        let mut end = groups_at + want.len() * entry;
        for (i, sid) in want.iter().enumerate() {
            let at = groups_at + i * entry;
            let sid_at = ptr_at(&groups, at) - base;
            assert_eq!(sid_at, end, "Groups[{i}].Sid follows the previous SID");
            assert_eq!(Sid::decode(&groups[sid_at..]).as_ref(), Some(sid));
            let attributes = u32::from_ne_bytes(groups[at + PTR..at + PTR + 4].try_into().unwrap());
            assert_eq!(attributes, GROUP_ENABLED, "Groups[{i}].Attributes");
            end += sid.len();
        }
        assert_eq!(groups.len(), end, "nothing after the last SID");
    }

    /// A buffer address so high that the SID addresses wrap: only the size can matter then (a
    /// length of 0), and computing the addresses must not overflow.
    #[test]
    fn token_information_at_the_top_of_the_address_space() {
        let t = token();
        let top = usize::MAX - 7;
        assert!(information(&t, 1, top).is_ok());
        assert!(information(&t, 2, top).is_ok());
        assert!(information(&t, 4, top).is_ok());
    }
}
