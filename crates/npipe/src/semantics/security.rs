//! Access policies: who may open a served pipe or mailslot, and with which access, decided from
//! the credentials the kernel recorded when the client connected.
//!
//! Contract:
//! - a policy is an ordered list of entries (allow or deny, a subject, an access mask), read
//!   the way Windows reads a DACL: for each bit of the requested access, the first entry whose
//!   subject matches the client and whose mask has that bit decides; a bit no entry mentions is
//!   denied. An empty list admits nobody (an empty DACL); the default policy is the owning user
//!   and root, with full access (npipe's rule before policies existed);
//! - masks are Win32 file access masks; generic rights are mapped to the file-specific rights
//!   first (`GENERIC_READ` → `FILE_GENERIC_READ` and so on), on both the entries and the
//!   request, as Windows' `MapGenericMask` does for files and pipes;
//! - subjects are everyone, one uid, one gid (matched against the client's effective gid and
//!   its supplementary groups, both from the kernel's snapshot at connect), or the owner (the
//!   uid that created the object);
//! - admission (at accept, before anything is read) needs *some* read or write right; the open
//!   itself then needs every right its desired access maps to;
//! - nothing here looks a process up by pid: a recycled pid can never lend its identity.

use std::io;
use std::os::fd::BorrowedFd;

use crate::error::code::*;
use crate::error::Error;
use crate::semantics::remote::RemoteIdentity;
use crate::sys::{self, FsIdentity, PeerCred};

/// The client identity the calling thread impersonates, `None` when it does not.
pub(crate) fn impersonated() -> Option<FsIdentity> {
    sys::with_impersonation(|i| i.map(|i| i.client.clone()))
}

/// The calling thread's own identity: the one it had before impersonating, or its current
/// file-system identity when it does not impersonate.
pub(crate) fn own_identity() -> io::Result<FsIdentity> {
    if let Some(own) = sys::own_while_impersonating() {
        return Ok(own);
    }
    sys::fs_identity().map_err(|e| io::Error::from_raw_os_error(e.raw_os_error()))
}

/// Whether the calling thread impersonates a client now.
pub(crate) fn impersonating() -> bool {
    sys::with_impersonation(|i| i.is_some())
}

/// Makes `client` the calling thread's file-system identity (fsuid, fsgid, supplementary
/// groups); other threads keep theirs. A thread that already runs as the client's user
/// succeeds without a change (an unprivileged server impersonating its own user). Otherwise
/// the switch needs CAP_SETUID and CAP_SETGID: without them the call fails with
/// ERROR_PRIVILEGE_NOT_HELD (Windows would give an identification-level token, with which
/// file opens fail; npipe fails early instead). `what` names the pipe for messages.
pub(crate) fn impersonate(client: &FsIdentity, what: &str) -> io::Result<()> {
    let os = |e: sys::Errno| {
        Error::io(
            ERROR_PRIVILEGE_NOT_HELD,
            format!(
                "cannot take the identity of the client of {what} (uid {}, gid {}): {} (impersonating another user needs CAP_SETUID and CAP_SETGID)",
                client.uid,
                client.gid,
                io::Error::from_raw_os_error(e.raw_os_error())
            ),
        )
    };
    let now = sys::fs_identity().map_err(os)?;
    let own = sys::own_while_impersonating().unwrap_or_else(|| now.clone());
    if now != *client {
        match sys::set_fs_identity(client) {
            Ok(()) => {}
            // An unprivileged thread that already has the client's user: nothing to take on.
            Err(_) if now.uid == client.uid => {}
            Err(e) => return Err(os(e)),
        }
    }
    sys::set_impersonation(Some(sys::Impersonation {
        own,
        client: client.clone(),
    }));
    Ok(())
}

/// RevertToSelf: gives the calling thread its own identity back (nothing to do when it does
/// not impersonate).
pub(crate) fn revert() -> io::Result<()> {
    let Some(was) = sys::set_impersonation(None) else {
        return Ok(());
    };
    if sys::fs_identity().is_ok_and(|now| now == was.own) {
        return Ok(());
    }
    sys::set_fs_identity(&was.own).map_err(|e| {
        // Keep it, so a later revert can try again.
        sys::set_impersonation(Some(was.clone()));
        Error::io(
            ERROR_PRIVILEGE_NOT_HELD,
            format!(
                "cannot give this thread its own identity back: {}",
                io::Error::from_raw_os_error(e.raw_os_error())
            ),
        )
    })
}

/// Checks a remote (SMB) client's open with the Win32 access mask `desired` against
/// `policy`, by the identity smbd vouched for (its uid, gid and groups), never by the relay's.
/// `Everyone` includes remote clients, as it includes network logons on Windows.
pub(crate) fn check_remote(policy: &Policy, owner: u32, r: &RemoteIdentity, desired: u32) -> bool {
    let c = Client {
        cred: PeerCred {
            pid: None,
            uid: r.uid,
            gid: r.gid,
        },
        groups: Some(&r.groups),
        remote: Some(r.authenticated),
    };
    policy.allows(owner, &c, desired)
}

/// Checks the peer of `sock` against `policy`: admission when `desired` is `None`, else an
/// open with that Win32 access mask. The supplementary groups are asked of the kernel only
/// when the policy names a group; a kernel that cannot report them (before Linux 4.13, and on
/// some architectures) leaves only the effective gid to match an allow, and every deny that
/// names a group counts, which can only grant less.
pub(crate) fn check(
    policy: &Policy,
    owner: u32,
    sock: BorrowedFd<'_>,
    peer: &PeerCred,
    desired: Option<u32>,
) -> bool {
    let groups = if policy.needs_groups() {
        sys::peer_groups(sock).ok()
    } else {
        None
    };
    let c = Client {
        cred: *peer,
        groups: groups.as_deref(),
        remote: None,
    };
    match desired {
        None => policy.admits(owner, &c),
        Some(d) => policy.allows(owner, &c, d),
    }
}

/// `FILE_READ_DATA`.
pub const FILE_READ_DATA: u32 = 0x0001;
/// `FILE_WRITE_DATA`.
pub const FILE_WRITE_DATA: u32 = 0x0002;
/// `FILE_APPEND_DATA` (also `FILE_CREATE_PIPE_INSTANCE`).
pub const FILE_APPEND_DATA: u32 = 0x0004;
/// `FILE_READ_ATTRIBUTES`: GetNamedPipeHandleState and GetNamedPipeInfo need it (W120).
pub const FILE_READ_ATTRIBUTES: u32 = 0x0080;
/// `FILE_WRITE_ATTRIBUTES`: SetNamedPipeHandleState needs it (W120).
pub const FILE_WRITE_ATTRIBUTES: u32 = 0x0100;
/// `FILE_GENERIC_READ`.
pub const FILE_GENERIC_READ: u32 = 0x0012_0089;
/// `FILE_GENERIC_WRITE`.
pub const FILE_GENERIC_WRITE: u32 = 0x0012_0116;
/// `FILE_GENERIC_EXECUTE`.
pub const FILE_GENERIC_EXECUTE: u32 = 0x0012_00A0;
/// `FILE_ALL_ACCESS`.
pub const FILE_ALL_ACCESS: u32 = 0x001F_01FF;
/// `GENERIC_READ`.
pub const GENERIC_READ: u32 = 0x8000_0000;
/// `GENERIC_WRITE`.
pub const GENERIC_WRITE: u32 = 0x4000_0000;
/// `GENERIC_EXECUTE`.
pub const GENERIC_EXECUTE: u32 = 0x2000_0000;
/// `GENERIC_ALL`.
pub const GENERIC_ALL: u32 = 0x1000_0000;
/// `MAXIMUM_ALLOWED`: a request for whatever is granted.
pub const MAXIMUM_ALLOWED: u32 = 0x0200_0000;

/// Maps generic rights to file rights (`MapGenericMask` with the file mapping).
pub(crate) fn map_generic(mask: u32) -> u32 {
    let mut m = mask & !(GENERIC_READ | GENERIC_WRITE | GENERIC_EXECUTE | GENERIC_ALL);
    if mask & GENERIC_READ != 0 {
        m |= FILE_GENERIC_READ;
    }
    if mask & GENERIC_WRITE != 0 {
        m |= FILE_GENERIC_WRITE;
    }
    if mask & GENERIC_EXECUTE != 0 {
        m |= FILE_GENERIC_EXECUTE;
    }
    if mask & GENERIC_ALL != 0 {
        m |= FILE_ALL_ACCESS;
    }
    m
}

/// Whom one entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Subject {
    /// Every client, local or remote (SMB).
    Everyone,
    /// The uid that created the object.
    Owner,
    /// One effective uid.
    Uid(u32),
    /// One gid: the effective gid or a supplementary group.
    Gid(u32),
    /// A remote (SMB) client.
    Network,
    /// A process of this machine.
    Local,
    /// A remote client of an anonymous or guest session.
    Anonymous,
    /// Every client but an anonymous remote one.
    Authenticated,
}

/// One entry of a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Entry {
    /// Allow (true) or deny (false).
    pub allow: bool,
    /// Whom it is about.
    pub subject: Subject,
    /// Win32 access mask (generic rights allowed; mapped when evaluated).
    pub mask: u32,
}

/// An ordered list of entries (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Policy {
    pub entries: Vec<Entry>,
}

/// Who a client is, as the kernel recorded it at connect.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Client<'a> {
    pub cred: PeerCred,
    /// Supplementary groups (`None` when the kernel cannot report them: only the effective
    /// gid is then matched, which can only grant less).
    pub groups: Option<&'a [u32]>,
    /// For a remote (SMB) client, whether its session is authenticated; `None` for a process
    /// of this machine.
    pub remote: Option<bool>,
}

impl Policy {
    /// The owning user and root, with full access.
    pub(crate) fn owner_and_root() -> Policy {
        Policy {
            entries: vec![
                Entry {
                    allow: true,
                    subject: Subject::Owner,
                    mask: FILE_ALL_ACCESS,
                },
                Entry {
                    allow: true,
                    subject: Subject::Uid(0),
                    mask: FILE_ALL_ACCESS,
                },
            ],
        }
    }

    /// Everyone, with full access (a NULL DACL).
    pub(crate) fn everyone() -> Policy {
        Policy {
            entries: vec![Entry {
                allow: true,
                subject: Subject::Everyone,
                mask: FILE_ALL_ACCESS,
            }],
        }
    }

    /// Whether evaluating needs the client's supplementary groups.
    pub(crate) fn needs_groups(&self) -> bool {
        self.entries
            .iter()
            .any(|e| matches!(e.subject, Subject::Gid(_)))
    }

    fn matches(subject: Subject, owner: u32, c: &Client<'_>) -> bool {
        match subject {
            Subject::Everyone => true,
            Subject::Owner => c.cred.uid == owner,
            Subject::Uid(u) => c.cred.uid == u,
            Subject::Gid(g) => c.cred.gid == g || c.groups.is_some_and(|gs| gs.contains(&g)),
            Subject::Network => c.remote.is_some(),
            Subject::Local => c.remote.is_none(),
            Subject::Anonymous => c.remote == Some(false),
            Subject::Authenticated => c.remote != Some(false),
        }
    }

    /// The rights this policy grants the client (file rights, generic ones mapped), evaluated
    /// in order as Windows evaluates a DACL.
    pub(crate) fn granted(&self, owner: u32, c: &Client<'_>) -> u32 {
        let mut granted = 0u32;
        let mut denied = 0u32;
        for e in &self.entries {
            // A client whose supplementary groups are unknown (the kernel could not report
            // them) may be in a denied group: a deny naming a group counts for it, so an
            // unknown never grants more than Windows would.
            let unknown_group = matches!(e.subject, Subject::Gid(_)) && c.groups.is_none();
            if !(Self::matches(e.subject, owner, c) || (!e.allow && unknown_group)) {
                continue;
            }
            let m = map_generic(e.mask);
            if e.allow {
                granted |= m & !denied;
            } else {
                denied |= m & !granted;
            }
        }
        granted
    }

    /// Whether the client may be admitted at all: some right to read or write the data.
    pub(crate) fn admits(&self, owner: u32, c: &Client<'_>) -> bool {
        self.granted(owner, c) & (FILE_READ_DATA | FILE_WRITE_DATA | FILE_APPEND_DATA) != 0
    }

    /// Whether an open with `desired` (a Win32 access mask) is granted. `MAXIMUM_ALLOWED`
    /// asks for whatever is granted (at least something).
    pub(crate) fn allows(&self, owner: u32, c: &Client<'_>, desired: u32) -> bool {
        let granted = self.granted(owner, c);
        if desired & MAXIMUM_ALLOWED != 0 {
            let rest = map_generic(desired & !MAXIMUM_ALLOWED);
            return granted != 0 && rest & !granted == 0;
        }
        let want = map_generic(desired);
        want & !granted == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(uid: u32, gid: u32, groups: &[u32]) -> Client<'_> {
        Client {
            cred: PeerCred {
                pid: None,
                uid,
                gid,
            },
            groups: Some(groups),
            remote: None,
        }
    }

    fn entry(allow: bool, subject: Subject, mask: u32) -> Entry {
        Entry {
            allow,
            subject,
            mask,
        }
    }

    const RW: u32 = GENERIC_READ | GENERIC_WRITE;

    #[test]
    fn default_is_owner_and_root() {
        let p = Policy::owner_and_root();
        assert!(p.allows(1000, &client(1000, 1000, &[]), RW));
        assert!(p.allows(1000, &client(0, 0, &[]), RW));
        assert!(!p.admits(1000, &client(1001, 1000, &[1000])));
    }

    #[test]
    fn everyone_admits_anyone() {
        assert!(Policy::everyone().allows(0, &client(4242, 4242, &[]), RW));
    }

    #[test]
    fn empty_admits_nobody() {
        let p = Policy { entries: vec![] };
        assert!(!p.admits(0, &client(0, 0, &[])));
    }

    #[test]
    fn groups_match_primary_and_supplementary() {
        let p = Policy {
            entries: vec![entry(true, Subject::Gid(50), GENERIC_ALL)],
        };
        assert!(p.needs_groups());
        assert!(p.allows(0, &client(7, 50, &[]), RW));
        assert!(p.allows(0, &client(7, 8, &[3, 50]), RW));
        assert!(!p.admits(0, &client(7, 8, &[3, 51])));
        let no_groups = Client {
            groups: None,
            ..client(7, 8, &[])
        };
        assert!(!p.admits(0, &no_groups));
    }

    #[test]
    fn network_local_and_anonymous_tell_remote_clients_apart() {
        let remote = |authenticated| Client {
            remote: Some(authenticated),
            ..client(1001, 1001, &[])
        };
        let local = client(1001, 1001, &[]);
        // The classic "keep remote clients out": deny NETWORK, allow Everyone.
        let p = Policy {
            entries: vec![
                entry(false, Subject::Network, GENERIC_ALL),
                entry(true, Subject::Everyone, GENERIC_ALL),
            ],
        };
        assert!(p.admits(0, &local));
        assert!(!p.admits(0, &remote(true)));
        // INTERACTIVE only: local processes.
        let p = Policy {
            entries: vec![entry(true, Subject::Local, GENERIC_ALL)],
        };
        assert!(p.admits(0, &local) && !p.admits(0, &remote(true)));
        // Deny ANONYMOUS LOGON, allow Authenticated Users: a named remote user gets in.
        let p = Policy {
            entries: vec![
                entry(false, Subject::Anonymous, GENERIC_ALL),
                entry(true, Subject::Everyone, GENERIC_ALL),
            ],
        };
        assert!(p.admits(0, &remote(true)) && !p.admits(0, &remote(false)));
        let p = Policy {
            entries: vec![entry(true, Subject::Authenticated, GENERIC_ALL)],
        };
        assert!(p.admits(0, &local) && p.admits(0, &remote(true)) && !p.admits(0, &remote(false)));
    }

    #[test]
    fn unknown_groups_meet_every_group_deny() {
        // The kernel could not report the client's supplementary groups: it may be in group
        // 4300, so the deny counts; an allow for a group it may not be in grants nothing.
        let p = Policy {
            entries: vec![
                entry(false, Subject::Gid(4300), GENERIC_ALL),
                entry(true, Subject::Everyone, GENERIC_ALL),
            ],
        };
        let unknown = Client {
            groups: None,
            ..client(7, 8, &[])
        };
        assert!(!p.admits(0, &unknown));
        assert!(p.admits(0, &client(7, 8, &[3])), "known not to be in it");
        assert!(!p.admits(0, &client(7, 8, &[4300])));
        let after = Policy {
            entries: vec![
                entry(true, Subject::Everyone, GENERIC_ALL),
                entry(false, Subject::Gid(4300), GENERIC_ALL),
            ],
        };
        assert!(
            after.admits(0, &unknown),
            "a deny after the grant changes nothing"
        );
    }

    #[test]
    fn read_only_grant_refuses_write() {
        let p = Policy {
            entries: vec![entry(true, Subject::Everyone, GENERIC_READ)],
        };
        let c = client(9, 9, &[]);
        assert!(p.admits(0, &c));
        assert!(p.allows(0, &c, GENERIC_READ));
        assert!(!p.allows(0, &c, GENERIC_WRITE));
        assert!(!p.allows(0, &c, RW));
        assert!(p.allows(0, &c, MAXIMUM_ALLOWED));
    }

    #[test]
    fn order_decides_like_a_dacl() {
        // Deny first: the deny wins for the uid; allow first: the allow wins.
        let deny_first = Policy {
            entries: vec![
                entry(false, Subject::Uid(5), FILE_WRITE_DATA | FILE_APPEND_DATA),
                entry(true, Subject::Everyone, GENERIC_ALL),
            ],
        };
        let c = client(5, 5, &[]);
        assert!(deny_first.allows(0, &c, GENERIC_READ));
        assert!(!deny_first.allows(0, &c, GENERIC_WRITE));
        assert!(deny_first.allows(0, &client(6, 6, &[]), RW));
        let allow_first = Policy {
            entries: vec![
                entry(true, Subject::Everyone, GENERIC_ALL),
                entry(false, Subject::Uid(5), GENERIC_WRITE),
            ],
        };
        assert!(allow_first.allows(0, &c, RW));
        // As on Windows, denying GENERIC_WRITE also denies SYNCHRONIZE and READ_CONTROL, which
        // a GENERIC_READ open needs.
        let deny_generic = Policy {
            entries: vec![
                entry(false, Subject::Uid(5), GENERIC_WRITE),
                entry(true, Subject::Everyone, GENERIC_ALL),
            ],
        };
        assert!(!deny_generic.allows(0, &c, GENERIC_READ));
        assert!(deny_generic.allows(0, &c, FILE_READ_DATA));
    }

    #[test]
    fn generic_mapping() {
        assert_eq!(map_generic(GENERIC_READ), FILE_GENERIC_READ);
        assert_eq!(map_generic(GENERIC_ALL), FILE_ALL_ACCESS);
        assert_eq!(map_generic(FILE_READ_DATA), FILE_READ_DATA);
        // A grant of FILE_READ_DATA alone does not cover GENERIC_READ (which also needs
        // READ_CONTROL, SYNCHRONIZE and the attribute rights), as on Windows.
        let p = Policy {
            entries: vec![entry(true, Subject::Everyone, FILE_READ_DATA)],
        };
        assert!(!p.allows(0, &client(1, 1, &[]), GENERIC_READ));
        assert!(p.allows(0, &client(1, 1, &[]), FILE_READ_DATA));
    }
}
