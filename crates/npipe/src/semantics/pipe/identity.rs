//! Who is at the other end of a pipe, for ImpersonateNamedPipeClient (the client's uid, gid
//! and groups) and the Get...SessionId calls (the peer's session, fenced by a pidfd).

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use super::*;

impl ServerEnd {
    /// The connected client's identity as the kernel recorded it at connect (uid, gid and
    /// supplementary groups), for ImpersonateNamedPipeClient: ERROR_CANNOT_IMPERSONATE when no
    /// client is connected, or the server has not read from it yet (W133) and it did not open
    /// with static tracking (`SECURITY_SQOS_PRESENT` without `SECURITY_CONTEXT_TRACKING`).
    pub(crate) fn client_identity(&self) -> io::Result<sys::FsIdentity> {
        let cannot = |why: &str| {
            err(
                ERROR_CANNOT_IMPERSONATE,
                format!("cannot impersonate the client of {}: {why}", self.name()),
            )
        };
        let conn = self.connected_conn()?;
        let Some(conn) = conn else {
            return Err(cannot("no client is connected"));
        };
        if !self.read_from_client() {
            return Err(cannot(
                "nothing has been read from it yet (W133), and it did not give its context at \
                 its open (SECURITY_SQOS_PRESENT)",
            ));
        }
        if let Some(r) = self.remote_client()? {
            // A remote (SMB) client is the user smbd vouched for, not the relay.
            return Ok(r.fs_identity());
        }
        let Some(ctl) = conn.ctl() else {
            return Err(cannot("the connection has no control socket"));
        };
        let peer =
            sys::peer_cred(ctl.as_fd()).map_err(|e| os_err(e, "SO_PEERCRED", self.name()))?;
        // Without SO_PEERGROUPS (Linux < 4.13, some architectures) the client gets its
        // primary group only: less than it has, except where a file's mode gives one of its
        // other groups less than everyone (docs/SECURITY.md).
        let groups = sys::peer_groups(ctl.as_fd()).unwrap_or_else(|_| vec![peer.gid]);
        Ok(sys::FsIdentity {
            uid: peer.uid,
            gid: peer.gid,
            groups,
        })
    }

    /// GetNamedPipeHandleState's user name: the name of the user the server would take on by
    /// impersonating the client (its uid's name, or the uid in decimal when the user database
    /// has none), with the errors of [`client_identity`](Self::client_identity).
    pub(crate) fn client_user_name(&self) -> io::Result<String> {
        let id = self.client_identity()?;
        Ok(sys::user_name(id.uid).unwrap_or_else(|| id.uid.to_string()))
    }

    /// GetNamedPipeClientSessionId: the connected client's session (`getsid`), through a pidfd
    /// for that very process (see `sys::peer_session`). ERROR_NOT_FOUND when no client is
    /// connected (W132) or it has exited; ERROR_NOT_SUPPORTED on kernels without
    /// `SO_PEERPIDFD`.
    pub(crate) fn client_session(&self) -> io::Result<u32> {
        let conn = self.connected_conn()?;
        let none = |why: &str| {
            err(
                ERROR_NOT_FOUND,
                format!("no session for the client of {}: {why}", self.name()),
            )
        };
        let conn = conn.ok_or_else(|| none("no client is connected"))?;
        if self.remote_client()?.is_some() {
            return Err(none("it is a remote (SMB) client"));
        }
        let ctl = conn.ctl().ok_or_else(|| none("no control socket"))?;
        let peer =
            sys::peer_cred(ctl.as_fd()).map_err(|e| os_err(e, "SO_PEERCRED", self.name()))?;
        let pid = peer
            .pid
            .ok_or_else(|| none("it runs in a pid namespace this process cannot see"))?;
        session_of(ctl, pid, self.name())
    }
}

/// The session of the peer of `ctl` (pid `pid`), with the errors of the Get...SessionId calls.
pub(crate) fn session_of(ctl: &OwnedFd, pid: u32, name: &str) -> io::Result<u32> {
    sys::peer_session(ctl.as_fd(), pid).map_err(|e| match e {
        sys::Errno::NOPROTOOPT => err(
            ERROR_NOT_SUPPORTED,
            format!(
                "the session of the peer of {name} needs SO_PEERPIDFD (Linux 6.5): without a \
                 pidfd for the peer itself a reused pid could answer for it"
            ),
        ),
        _ => err(
            ERROR_NOT_FOUND,
            format!("the peer of {name} has exited: its session is unknown"),
        ),
    })
}
