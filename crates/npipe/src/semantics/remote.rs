//! Remote (SMB) client identities inside this process: the registry through which the SMB
//! relay of `api::smb_serve` hands a remote client's identity to the pipe server it opens.
//!
//! Contract:
//! - the relay registers the identity decoded from smbd's handshake and gets a [`Ticket`]
//!   (a process-unique token); it sends the token in an OPEN_REMOTE request on its own local
//!   connection to the pipe;
//! - the server claims a token only when `SO_PEERCRED` says the connecting peer is this very
//!   process (same pid, same effective uid): no other process can make a connection look
//!   remote or borrow a remote user's identity, whatever token it guesses;
//! - a token stays valid until its ticket is dropped (an open that finds every instance busy
//!   is retried with the same token); the relay drops it as soon as its open is answered;
//! - the claimed identity replaces the relay's credentials for everything the server decides
//!   about that client: the access policy, impersonation, `PIPE_REJECT_REMOTE_CLIENTS` and
//!   the client-identity queries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::sys::{self, PeerCred};

/// Who a remote client is, as smbd vouched for it (its session's Unix token and names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteIdentity {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub account: String,
    pub domain: String,
    pub authenticated: bool,
    pub encrypted: bool,
    /// The SMB client's IP address.
    pub address: Option<String>,
    /// The SMB client's TCP source port.
    pub port: Option<u16>,
}

impl RemoteIdentity {
    /// The identity to impersonate.
    pub(crate) fn fs_identity(&self) -> sys::FsIdentity {
        sys::FsIdentity {
            uid: self.uid,
            gid: self.gid,
            groups: if self.groups.is_empty() {
                vec![self.gid]
            } else {
                self.groups.clone()
            },
        }
    }
}

pub(crate) struct Table {
    next: u64,
    entries: HashMap<u64, Arc<RemoteIdentity>>,
}

static TABLE: Mutex<Option<Table>> = Mutex::new(None);

/// The token table, locked (held by the fork handlers across a fork).
pub(crate) fn table() -> MutexGuard<'static, Option<Table>> {
    super::install_fork_handlers();
    TABLE.lock().unwrap_or_else(|p| p.into_inner())
}

fn with<R>(f: impl FnOnce(&mut Table) -> R) -> R {
    let mut g = table();
    let t = g.get_or_insert_with(|| Table {
        next: 1,
        entries: HashMap::new(),
    });
    f(t)
}

/// A registered identity; its token is withdrawn when this is dropped.
#[derive(Debug)]
pub(crate) struct Ticket(u64);

impl Ticket {
    /// The token to send in the OPEN_REMOTE request (never 0).
    pub(crate) fn token(&self) -> u64 {
        self.0
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        with(|t| t.entries.remove(&self.0));
    }
}

/// Registers `id` for one claim.
pub(crate) fn register(id: RemoteIdentity) -> Ticket {
    with(|t| {
        let token = t.next;
        t.next += 1;
        t.entries.insert(token, Arc::new(id));
        Ticket(token)
    })
}

/// The identity registered under `token`, when `peer` is this process.
pub(crate) fn claim(token: u64, peer: &PeerCred) -> Option<Arc<RemoteIdentity>> {
    if peer.pid != Some(sys::getpid()) || peer.uid != sys::geteuid() {
        return None;
    }
    with(|t| t.entries.get(&token).cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> RemoteIdentity {
        RemoteIdentity {
            uid: 4242,
            gid: 4243,
            groups: vec![],
            account: "a".into(),
            domain: "D".into(),
            authenticated: true,
            encrypted: false,
            address: Some("127.0.0.1".into()),
            port: Some(1),
        }
    }

    fn me() -> PeerCred {
        PeerCred {
            pid: Some(sys::getpid()),
            uid: sys::geteuid(),
            gid: 0,
        }
    }

    #[test]
    fn claimed_by_this_process_only() {
        let t = register(id());
        let other = PeerCred {
            pid: Some(sys::getpid() + 1),
            ..me()
        };
        assert_eq!(claim(t.token(), &other), None);
        let hidden = PeerCred { pid: None, ..me() };
        assert_eq!(claim(t.token(), &hidden), None);
        let got = claim(t.token(), &me()).unwrap();
        assert_eq!(got.uid, 4242);
        assert_eq!(got.fs_identity().groups, vec![4243]);
        // A retry (every instance was busy) finds it again.
        assert!(claim(t.token(), &me()).is_some());
    }

    #[test]
    fn dropped_ticket_is_withdrawn() {
        let t = register(id());
        let token = t.token();
        assert_ne!(token, 0);
        drop(t);
        assert_eq!(claim(token, &me()), None);
    }
}
