//! Security in the public API: access policies for pipes and mailslots ([`AccessPolicy`]),
//! impersonation of a pipe's client ([`Impersonation`], [`revert_to_self`]), and who is at the
//! other end (the server's uid, session ids).
//!
//! The model is in `docs/SECURITY.md`: any local process in the network namespace can reach a
//! name; the policy decides, from the credentials the kernel recorded at `connect()`, who is
//! admitted and with which access.

use std::io;
use std::marker::PhantomData;
use std::sync::Arc;

use super::{NamedPipeClient, NamedPipeServer};
use crate::semantics::security::{self, Entry, Policy, Subject};

/// Rights an entry of an [`AccessPolicy`] grants or denies: a Win32 access mask. Generic
/// rights are mapped to file rights as Windows maps them for pipes (`GENERIC_READ` →
/// `FILE_GENERIC_READ`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Access(u32);

impl Access {
    /// Reading (`GENERIC_READ`): opens with read access only.
    pub const READ: Access = Access(security::GENERIC_READ);
    /// Writing (`GENERIC_WRITE`): opens with write access only.
    pub const WRITE: Access = Access(security::GENERIC_WRITE);
    /// Everything (`GENERIC_ALL`, the same as `FILE_ALL_ACCESS`).
    pub const ALL: Access = Access(security::GENERIC_ALL);

    /// Any Win32 access mask (for example `FILE_ALL_ACCESS` 0x1F01FF).
    pub const fn from_mask(mask: u32) -> Access {
        Access(mask)
    }

    /// The Win32 access mask.
    pub const fn mask(self) -> u32 {
        self.0
    }
}

impl std::ops::BitOr for Access {
    type Output = Access;
    fn bitor(self, rhs: Access) -> Access {
        Access(self.0 | rhs.0)
    }
}

/// Whom one entry of an [`AccessPolicy`] is about (a trustee, in Win32 terms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trustee {
    /// Every client (the `Everyone` SID, S-1-1-0): local processes, and the remote (SMB)
    /// clients an [`SmbExposure`](crate::SmbExposure) relays.
    Everyone,
    /// The user that created the pipe or mailslot.
    Owner,
    /// One user, by effective uid (SID S-1-22-1-uid).
    Uid(u32),
    /// One group (SID S-1-22-2-gid): matched against the client's effective gid and its
    /// supplementary groups.
    Gid(u32),
    /// The clients of other machines, the remote (SMB) clients an
    /// [`SmbExposure`](crate::SmbExposure) relays (the `NETWORK` SID, S-1-5-2).
    Network,
    /// The processes of this machine, every client but the remote ones (the `INTERACTIVE`
    /// SID, S-1-5-4, which a network logon does not have).
    Local,
    /// Remote clients of an anonymous or guest session (the `ANONYMOUS LOGON` SID, S-1-5-7).
    Anonymous,
    /// Every client but an anonymous remote one (`Authenticated Users`, S-1-5-11, and
    /// `BUILTIN\Users`).
    Authenticated,
}

/// Who may open a pipe or write to a mailslot, and with which access: an ordered list of
/// allow and deny entries, read as Windows reads a DACL (for each requested right, the first
/// entry that names the client and that right decides; a right no entry grants is denied).
///
/// The default is the owning user and root, with full access. A client that the policy grants
/// nothing is refused at accept, before anything is read from it; an open whose desired access
/// is not all granted (a `GENERIC_WRITE` open under a read-only grant) is refused. Both fail
/// with `ERROR_ACCESS_DENIED` (`PermissionDenied`), and the server keeps serving others.
///
/// The policy belongs to the pipe: it is fixed by the first instance; a later instance with a
/// different policy fails with `ERROR_ACCESS_DENIED` (W134).
///
/// # Examples
/// ```
/// use npipe::{Access, AccessPolicy, Trustee};
/// // Root and the members of group 100 may read and write; uid 1234 may only read.
/// let p = AccessPolicy::nobody()
///     .allow(Trustee::Uid(0), Access::ALL)
///     .allow(Trustee::Gid(100), Access::ALL)
///     .allow(Trustee::Uid(1234), Access::READ);
/// # let _ = p;
/// ```
///
/// # Windows
/// The DACL of the security descriptor given to `CreateNamedPipe` or `CreateMailslot`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[doc(alias = "SECURITY_DESCRIPTOR")]
#[doc(alias = "DACL")]
pub struct AccessPolicy {
    pub(crate) inner: Policy,
}

impl Default for AccessPolicy {
    fn default() -> Self {
        Self::owner_and_root()
    }
}

impl AccessPolicy {
    /// The owning user and root, with full access (the default).
    pub fn owner_and_root() -> AccessPolicy {
        AccessPolicy {
            inner: Policy::owner_and_root(),
        }
    }

    /// Every local process, with full access (a NULL DACL).
    pub fn everyone() -> AccessPolicy {
        AccessPolicy {
            inner: Policy::everyone(),
        }
    }

    /// Nobody (an empty DACL); add entries with [`allow`](Self::allow) and
    /// [`deny`](Self::deny).
    pub fn nobody() -> AccessPolicy {
        AccessPolicy {
            inner: Policy { entries: vec![] },
        }
    }

    /// Appends an entry that grants `access` to `who`.
    pub fn allow(self, who: Trustee, access: Access) -> AccessPolicy {
        self.push(true, who, access)
    }

    /// Appends an entry that denies `access` to `who` (it decides only the rights no earlier
    /// entry decided for that client, as in a DACL; put denies first to make them win).
    ///
    /// As on Windows, a denied generic right denies every right it maps to: denying
    /// [`Access::WRITE`] also denies `SYNCHRONIZE` and `READ_CONTROL`, which read opens need
    /// too. To refuse writing only, deny `Access::from_mask(0x6)` (`FILE_WRITE_DATA |
    /// FILE_APPEND_DATA`).
    pub fn deny(self, who: Trustee, access: Access) -> AccessPolicy {
        self.push(false, who, access)
    }

    fn push(mut self, allow: bool, who: Trustee, access: Access) -> AccessPolicy {
        let subject = match who {
            Trustee::Everyone => Subject::Everyone,
            Trustee::Owner => Subject::Owner,
            Trustee::Uid(u) => Subject::Uid(u),
            Trustee::Gid(g) => Subject::Gid(g),
            Trustee::Network => Subject::Network,
            Trustee::Local => Subject::Local,
            Trustee::Anonymous => Subject::Anonymous,
            Trustee::Authenticated => Subject::Authenticated,
        };
        self.inner.entries.push(Entry {
            allow,
            subject,
            mask: access.0,
        });
        self
    }

    /// The entries in order: (allow, trustee, access).
    pub fn entries(&self) -> impl Iterator<Item = (bool, Trustee, Access)> + '_ {
        self.inner.entries.iter().map(|e| {
            let who = match e.subject {
                Subject::Everyone => Trustee::Everyone,
                Subject::Owner => Trustee::Owner,
                Subject::Uid(u) => Trustee::Uid(u),
                Subject::Gid(g) => Trustee::Gid(g),
                Subject::Network => Trustee::Network,
                Subject::Local => Trustee::Local,
                Subject::Anonymous => Trustee::Anonymous,
                Subject::Authenticated => Trustee::Authenticated,
            };
            (e.allow, who, Access(e.mask))
        })
    }

    /// Whether a client (a process of this machine) with these credentials may open with
    /// `desired` (a Win32 access mask) under this policy, `owner` being the uid that created
    /// the object. What the server checks at every open, for tools and tests.
    pub fn allows(&self, owner: u32, uid: u32, gid: u32, groups: &[u32], desired: u32) -> bool {
        let c = security::Client {
            cred: crate::sys::PeerCred {
                pid: None,
                uid,
                gid,
            },
            groups: Some(groups),
            remote: None,
        };
        self.inner.allows(owner, &c, desired)
    }

    pub(crate) fn shared(&self) -> Arc<Policy> {
        Arc::new(self.inner.clone())
    }
}

/// The calling thread acting as a pipe's client: files it opens are checked as the client's
/// (its fsuid, fsgid and supplementary groups are the client's), while the other threads of the
/// process keep the server's identity. Dropping it (or [`revert`](Self::revert)) gives the
/// thread its own identity back.
///
/// It is tied to the thread that made it (neither `Send` nor `Sync`).
///
/// Made by [`NamedPipeServer::impersonate_client`](crate::NamedPipeServer::impersonate_client).
///
/// # Windows
/// [`ImpersonateNamedPipeClient`](https://learn.microsoft.com/windows/win32/api/namedpipeapi/nf-namedpipeapi-impersonatenamedpipeclient)
/// and [`RevertToSelf`](https://learn.microsoft.com/windows/win32/api/securitybaseapi/nf-securitybaseapi-reverttoself).
/// As Windows' documentation asks of a server whose `RevertToSelf` fails, a drop that cannot
/// revert ends the process rather than let the thread go on as the client.
#[derive(Debug)]
#[must_use = "the thread acts as the client only while this lives"]
#[doc(alias = "ImpersonateNamedPipeClient")]
pub struct Impersonation<'a> {
    _server: PhantomData<&'a ()>,
    /// Not Send: the identity belongs to this thread.
    _thread: PhantomData<*const ()>,
}

impl Impersonation<'_> {
    pub(crate) fn start(client: &crate::sys::FsIdentity, what: &str) -> io::Result<Self> {
        security::impersonate(client, what)?;
        Ok(Impersonation {
            _server: PhantomData,
            _thread: PhantomData,
        })
    }

    /// Gives the thread its own identity back, reporting a failure instead of ending the
    /// process.
    ///
    /// # Errors
    /// `ERROR_PRIVILEGE_NOT_HELD` (`PermissionDenied`) when the kernel refuses the change
    /// back; the thread still acts as the client then.
    #[doc(alias = "RevertToSelf")]
    pub fn revert(self) -> io::Result<()> {
        let r = security::revert();
        std::mem::forget(self);
        r
    }
}

impl Drop for Impersonation<'_> {
    fn drop(&mut self) {
        if security::revert().is_err() {
            // Going on as the client would hand the client the server's work (see the type's
            // docs): Windows' documentation asks for the process to end.
            std::process::abort();
        }
    }
}

/// `RevertToSelf`: ends any impersonation on the calling thread (see [`Impersonation`]);
/// succeeds when there is none.
///
/// # Errors
/// `ERROR_PRIVILEGE_NOT_HELD` (`PermissionDenied`) when the kernel refuses the change back.
#[doc(alias = "RevertToSelf")]
pub fn revert_to_self() -> io::Result<()> {
    security::revert()
}

/// Whether the calling thread is impersonating a pipe client now.
pub fn is_impersonating() -> bool {
    security::impersonating()
}

/// A user and its groups: whom a thread acts as, what an access token describes
/// (`OpenProcessToken`, `OpenThreadToken` and `GetTokenInformation` in the C ABI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user (fsuid).
    pub uid: u32,
    /// The primary group (fsgid).
    pub gid: u32,
    /// The supplementary groups.
    pub groups: Vec<u32>,
}

impl From<crate::sys::FsIdentity> for Identity {
    fn from(f: crate::sys::FsIdentity) -> Identity {
        Identity {
            uid: f.uid,
            gid: f.gid,
            groups: f.groups,
        }
    }
}

/// The client the calling thread impersonates (see [`Impersonation`]), as the kernel recorded
/// it when the client connected; `None` when the thread does not impersonate.
#[doc(alias = "OpenThreadToken")]
pub fn impersonated_identity() -> Option<Identity> {
    security::impersonated().map(Identity::from)
}

/// The calling thread's own identity (its file-system uid, gid and groups), the one it had
/// before impersonating while it impersonates.
///
/// # Errors
/// The kernel's, should it refuse to report the thread's groups.
#[doc(alias = "OpenProcessToken")]
pub fn own_identity() -> io::Result<Identity> {
    security::own_identity().map(Identity::from)
}

/// The user and group databases (`getpwuid_r`, `getgrgid_r`, `getpwnam_r`, `getgrnam_r`) and
/// this process's session, for the account calls of the C ABI (`LookupAccountSid`,
/// `GetUserName`...).
pub mod accounts {
    /// The name of user `uid`, `None` when the user database has none.
    pub fn user_name(uid: u32) -> Option<String> {
        crate::sys::user_name(uid)
    }

    /// The name of group `gid`, `None` when the group database has none.
    pub fn group_name(gid: u32) -> Option<String> {
        crate::sys::group_name(gid)
    }

    /// The uid of the user called `name`, `None` when there is none.
    pub fn user_id(name: &str) -> Option<u32> {
        crate::sys::user_id(name)
    }

    /// The gid of the group called `name`, `None` when there is none.
    pub fn group_id(name: &str) -> Option<u32> {
        crate::sys::group_id(name)
    }

    /// This process's Linux session id (`getsid(0)`; 0 in the first session).
    pub fn session_id() -> u32 {
        crate::sys::own_session()
    }
}

impl NamedPipeServer {
    /// `GetNamedPipeClientSessionId`: the connected client's Linux session id (`getsid`),
    /// read through a pidfd for that very process, so a reused pid never answers for it.
    ///
    /// # Errors
    /// ERROR_NOT_FOUND (1168) when no client is connected (W132) or it has exited (Windows
    /// would still answer: npipe does not pay for the lookup on every connection);
    /// ERROR_NOT_SUPPORTED (50) on kernels before 6.5 (no `SO_PEERPIDFD`).
    #[doc(alias = "GetNamedPipeClientSessionId")]
    pub fn client_session_id(&self) -> io::Result<u32> {
        self.end.client_session()
    }

    /// `GetNamedPipeServerSessionId`: this process's session id.
    #[doc(alias = "GetNamedPipeServerSessionId")]
    pub fn server_session_id(&self) -> u32 {
        crate::sys::own_session()
    }

    /// Makes the calling thread act as the connected client (its fsuid, fsgid and
    /// supplementary groups) until the returned guard is dropped; other threads are not
    /// affected. See [`Impersonation`] and `docs/SECURITY.md`.
    ///
    /// # Errors
    /// ERROR_CANNOT_IMPERSONATE (1368, `Unsupported`) when no client is connected, or nothing
    /// has been read from it yet (W133) and it did not open with static tracking
    /// ([`ClientOptions::security_qos_flags`](crate::ClientOptions::security_qos_flags));
    /// ERROR_PRIVILEGE_NOT_HELD (1314, `PermissionDenied`)
    /// when the client is another user and this process lacks CAP_SETUID/CAP_SETGID.
    #[doc(alias = "ImpersonateNamedPipeClient")]
    pub fn impersonate_client(&self) -> io::Result<Impersonation<'_>> {
        let id = self.end.client_identity()?;
        Impersonation::start(&id, self.end.display_name())
    }

    /// The connected client's user name, as `GetNamedPipeHandleState` gives it in
    /// `lpUserName` (and .NET's `GetImpersonationUserName`): the name of the user that
    /// [`impersonate_client`](Self::impersonate_client) would act as, or its uid in decimal
    /// when the user database has no name for it. This thread's identity does not change.
    ///
    /// # Errors
    /// ERROR_CANNOT_IMPERSONATE (1368) when no client is connected or nothing has been read
    /// from it yet (W133), as Windows, which impersonates the client to answer.
    #[doc(alias = "GetNamedPipeHandleState")]
    pub fn client_user_name(&self) -> io::Result<String> {
        self.end.client_user_name()
    }

    /// The file rights Windows grants this server handle, from the pipe's direction (W24):
    /// `FILE_GENERIC_READ` (0x00120089) inbound, `FILE_GENERIC_WRITE` (0x00120116) outbound,
    /// both for a duplex pipe. The C ABI checks its calls against them as Windows does
    /// (W120): reading the handle state or the pipe information needs
    /// `FILE_READ_ATTRIBUTES`, setting the state `FILE_WRITE_ATTRIBUTES`, a peek
    /// `FILE_READ_DATA`.
    pub fn access_rights(&self) -> u32 {
        self.end.access_rights()
    }

    /// Runs `f` on this thread as the connected client (see
    /// [`impersonate_client`](Self::impersonate_client)), then reverts.
    ///
    /// # Errors
    /// As [`impersonate_client`](Self::impersonate_client), and the revert's error.
    pub fn as_client<R>(&self, f: impl FnOnce() -> R) -> io::Result<R> {
        let guard = self.impersonate_client()?;
        let r = f();
        guard.revert()?;
        Ok(r)
    }
}

impl NamedPipeClient {
    /// `GetNamedPipeServerSessionId`: the server's Linux session id (see
    /// [`NamedPipeServer::client_session_id`]).
    ///
    /// # Errors
    /// ERROR_PIPE_NOT_CONNECTED after a disconnect (W132), ERROR_NOT_FOUND when the server has
    /// exited, ERROR_NOT_SUPPORTED on kernels before 6.5.
    #[doc(alias = "GetNamedPipeServerSessionId")]
    pub fn server_session_id(&self) -> io::Result<u32> {
        self.local_for("GetNamedPipeServerSessionId")?
            .server_session()
    }

    /// `GetNamedPipeClientSessionId`: this process's session id.
    #[doc(alias = "GetNamedPipeClientSessionId")]
    pub fn client_session_id(&self) -> u32 {
        crate::sys::own_session()
    }

    /// The file rights of this client handle: its desired access with the generic rights
    /// mapped (`GENERIC_READ` is `FILE_GENERIC_READ`, 0x00120089, and so on; `MAXIMUM_ALLOWED`
    /// as what the pipe's direction allows). See
    /// [`NamedPipeServer::access_rights`](crate::NamedPipeServer::access_rights) for what the
    /// C ABI checks against them. A remote (SMB) client reports `FILE_ALL_ACCESS`: the server
    /// checks its calls.
    pub fn access_rights(&self) -> u32 {
        self.local()
            .map_or(crate::semantics::security::FILE_ALL_ACCESS, |c| {
                c.access_rights()
            })
    }

    /// The server's effective uid, as the kernel recorded it when the connection was made (an
    /// npipe extension: Windows clients ask the server's token instead).
    ///
    /// # Errors
    /// ERROR_PIPE_NOT_CONNECTED after the server disconnected this client.
    pub fn server_uid(&self) -> io::Result<u32> {
        self.local_for("the server's uid")?.server_uid()
    }
}
