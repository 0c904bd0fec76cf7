//! Connection areas kept after a close for the next connection between the same two
//! processes (issue 13: a short connection's largest costs were making, mapping and unmapping
//! its memfd in both processes).
//!
//! How an area comes back:
//! - the server gives every named-pipe connection's area a key (a random number) and tells
//!   the client in its answer;
//! - when the last user of a [`Conn`](super::Conn) in a process goes, its area is *parked*
//!   here instead of unmapped, if it is eligible ([`Conn::parkable`](super::Conn::parkable)):
//!   named by a key and the peer's credentials, mapped in this process since the last fork,
//!   and only the first pages of its rings were ever used (at most [`MAX_TOUCHED`] bytes each
//!   way);
//! - a client's next open to the same server process takes the areas it parked for that
//!   process out of the pool ([`claims`]: at most [`MAX_CLAIMS`], oldest first) and names their
//!   keys. The server takes one it parked itself for the same client process (pid and uid from
//!   `SO_PEERCRED`) with the geometry the pipe wants, zeroes and initialises its header again,
//!   and answers "reused" with its key and no memfd; the client uses its own mapping of that
//!   area and puts the others back. When no key matches, the connection gets a new area as
//!   before.
//!
//! Why this keeps connections apart: an area is reused only when *both* processes parked it,
//! so neither side's old connection is still using it; both processes already shared it, so
//! no third process sees anything it did not. An area that existed at a fork is never used
//! again (the child maps it too): the fork handler bumps [`Pool::epoch`] and retires what is
//! parked, and an area mapped before the fork is not parked later. The one exception is a fork
//! while a client's open is under way: the areas its request named are its own until the
//! answer comes, as the memfd of an open without reuse would be in its descriptor table, and
//! a child forked then may map the connection being opened either way; such areas are not
//! parked again afterwards. A peer that claims keys it did not park, or reuses an area it
//! still uses, only disturbs its own connections: everything read from the shared memory is
//! checked as always. The ring bytes are not cleared: they only ever held data of these two
//! processes, and a ring's reader only reads what its new cursors publish.
//!
//! Bounds: at most [`MAX_PARKED`] areas per process, each parked for at most [`MAX_AGE`]
//! (looked at whenever a connection of the process opens or closes), holding at most its
//! header and the pages its rings used.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::Side;
use crate::sys;
use crate::transport::control::MAX_CLAIMS;

/// Areas a process keeps parked at most (both sides together).
pub(crate) const MAX_PARKED: usize = 16;
/// How long an area stays parked at most.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(2);
/// An area is parked only when neither ring's tail went beyond this (its first lap's first
/// pages), so a parked area holds little memory.
pub(crate) const MAX_TOUCHED: u64 = 64 * 1024;

/// What names a recyclable area: the other process and the key the server gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tag {
    pub peer_pid: u32,
    pub peer_uid: u32,
    pub key: u64,
}

/// A parked area.
#[derive(Debug)]
pub(crate) struct Parked {
    pub side: Side,
    pub tag: Tag,
    pub caps: [u64; 2],
    pub wins: [u64; 2],
    pub map: sys::Mapping,
    /// The fork epoch the area is known to be this process's alone in (set again when taken:
    /// a fork while it was parked would have made it stale).
    pub epoch: u64,
    at: Instant,
}

/// The parked areas of this process.
#[derive(Debug)]
pub(crate) struct Pool {
    parked: Vec<Parked>,
    /// Areas that were parked at a fork, shared with the child since: unmapped (in each
    /// process, its own mappings) at the next use of the pool, never handed out.
    stale: Vec<sys::Mapping>,
    /// Bumped by every fork ([`Pool::forked`]).
    epoch: u64,
}

impl Pool {
    /// Called by the fork handler, holding the pool's lock, just before a fork: every area
    /// mapped now may be shared with the child from now on.
    pub(crate) fn forked(&mut self) {
        self.epoch += 1;
        let parked = std::mem::take(&mut self.parked);
        self.stale.extend(parked.into_iter().map(|p| p.map));
    }

    /// Takes out what is stale or too old, to be unmapped after the lock is released.
    fn expire(&mut self, now: Instant) -> Vec<sys::Mapping> {
        let mut out = std::mem::take(&mut self.stale);
        let mut i = 0;
        while i < self.parked.len() {
            if now.duration_since(self.parked[i].at) > MAX_AGE {
                out.push(self.parked.remove(i).map);
            } else {
                i += 1;
            }
        }
        out
    }
}

/// The pool of this process. Its lock is held only for bookkeeping (mappings are unmapped after
/// it is released) and is one of those the fork handler holds (`semantics::fork`).
pub(crate) static RECYCLED: Mutex<Pool> = Mutex::new(Pool {
    parked: Vec::new(),
    stale: Vec::new(),
    epoch: 0,
});

fn pool() -> MutexGuard<'static, Pool> {
    RECYCLED.lock().unwrap_or_else(|p| p.into_inner())
}

/// The current fork epoch: an area mapped at an older one may be shared with a child.
pub(crate) fn epoch() -> u64 {
    pool().epoch
}

/// A new area key: never 0, and not predictable by other processes.
pub(crate) fn new_key() -> u64 {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    // Relaxed: only needs to differ between calls.
    let n = COUNT.fetch_add(1, Relaxed);
    // The standard library seeds every RandomState from the OS's random source.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(n);
    h.finish().max(1)
}

/// Parks an area mapped at fork epoch `epoch` (see [`Pool::put`]).
pub(super) fn park(
    side: Side,
    tag: Tag,
    caps: [u64; 2],
    wins: [u64; 2],
    map: sys::Mapping,
    epoch: u64,
) {
    put(vec![Parked {
        side,
        tag,
        caps,
        wins,
        map,
        epoch,
        at: Instant::now(),
    }]);
}

/// Puts areas into the pool (parked now, or claimed and not used).
fn put(areas: Vec<Parked>) {
    let old = pool().put(areas, Instant::now());
    // Unmapped outside the lock.
    drop(old);
}

impl Pool {
    /// Inserts `areas` in age order, the oldest going first when the pool is full; returns
    /// what went (too old, evicted, or mapped before a fork: the child may map it too), to be
    /// unmapped after the lock is released.
    fn put(&mut self, areas: Vec<Parked>, now: Instant) -> Vec<sys::Mapping> {
        let mut old = self.expire(now);
        for a in areas {
            if a.epoch != self.epoch {
                old.push(a.map);
                continue;
            }
            let at = self.parked.partition_point(|x| x.at <= a.at);
            self.parked.insert(at, a);
            if self.parked.len() > MAX_PARKED {
                // The oldest goes (perhaps the one just put back): the least likely to be
                // claimed.
                old.push(self.parked.remove(0).map);
            }
        }
        old
    }

    /// Takes out up to `most` areas that `wanted` accepts, oldest first, marked with the
    /// current epoch; also returns what went for age.
    fn take_where(
        &mut self,
        now: Instant,
        most: usize,
        wanted: impl Fn(&Parked) -> bool,
    ) -> (Vec<Parked>, Vec<sys::Mapping>) {
        let old = self.expire(now);
        let epoch = self.epoch;
        let mut found = Vec::new();
        let mut i = 0;
        while i < self.parked.len() && found.len() < most {
            if wanted(&self.parked[i]) {
                found.push(Parked {
                    epoch,
                    ..self.parked.remove(i)
                });
            } else {
                i += 1;
            }
        }
        (found, old)
    }
}

/// Whether `a` is a client's area parked for the server process `pid` of uid `uid`.
fn client_area_for(a: &Parked, pid: u32, uid: u32) -> bool {
    a.side == Side::Client && a.tag.peer_pid == pid && a.tag.peer_uid == uid
}

/// Whether `a` is a server's area parked for the client process `pid` of uid `uid`, named by
/// one of `claims`, of the geometry `caps` and `wins`.
fn server_area_for(
    a: &Parked,
    pid: u32,
    uid: u32,
    claims: &[u64],
    caps: [u64; 2],
    wins: [u64; 2],
) -> bool {
    a.side == Side::Server
        && a.tag.peer_pid == pid
        && a.tag.peer_uid == uid
        && claims.contains(&a.tag.key)
        && a.caps == caps
        && a.wins == wins
}

/// The areas a client's open claims: taken out of the pool while the handshake runs, so
/// nothing else takes, ages out or evicts them meanwhile; those not used go back when this is
/// dropped.
#[derive(Debug, Default)]
pub(crate) struct Claimed(Vec<Parked>);

impl Claimed {
    /// Their keys, for the request.
    pub(crate) fn keys(&self) -> Vec<u64> {
        self.0.iter().map(|a| a.tag.key).collect()
    }

    /// The claimed area `key` (the server reused it), taken for the new connection.
    pub(crate) fn take(&mut self, key: u64) -> Option<Parked> {
        let i = self.0.iter().position(|a| a.tag.key == key)?;
        Some(self.0.remove(i))
    }
}

impl Drop for Claimed {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            put(std::mem::take(&mut self.0));
        }
    }
}

/// A client's claims for an open to the server process `server_pid` (of uid `server_uid`):
/// the areas it parked for that process, oldest first.
pub(crate) fn claims(server_pid: u32, server_uid: u32) -> Claimed {
    let (mine, old) = pool().take_where(Instant::now(), MAX_CLAIMS, |a| {
        client_area_for(a, server_pid, server_uid)
    });
    drop(old);
    Claimed(mine)
}

/// The server's side: an area it parked for the client process `pid` of uid `uid`, named by
/// one of the client's `claims`, with the geometry `caps` and `wins`.
pub(crate) fn take_server(
    pid: u32,
    uid: u32,
    claims: &[u64],
    caps: [u64; 2],
    wins: [u64; 2],
) -> Option<Parked> {
    if claims.is_empty() {
        return None;
    }
    let (mut found, old) = pool().take_where(Instant::now(), 1, |a| {
        server_area_for(a, pid, uid, claims, caps, wins)
    });
    drop(old);
    found.pop()
}

impl super::Conn {
    /// Marks this connection's area as parkable when this end's last user goes (see
    /// the module docs); `tag` names the peer process and the area's key.
    pub(crate) fn set_recycle(&self, tag: Tag) {
        let _ = self.recycle.set(tag);
    }

    /// The tag to park this connection's area under, if it may be parked: it has one, and
    /// only the first pages of its rings were ever used (the peer's tail is believed for this
    /// choice: a peer that lies keeps its own pages mapped a little longer, within the pool's
    /// bounds). The fork epoch is checked by the pool.
    pub(super) fn parkable(&self) -> Option<Tag> {
        let tag = *self.recycle.get()?;
        self.ctl.as_ref()?;
        // Relaxed: read after every user of the connection in this process is gone.
        (0..2)
            .all(|d| {
                let t = self.ring(d).w.0.tail.load(Relaxed);
                t <= self.wins[d] && t <= MAX_TOUCHED
            })
            .then_some(tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area() -> sys::Mapping {
        sys::Mapping::anonymous_shared(4096).unwrap()
    }

    fn tag(pid: u32, key: u64) -> Tag {
        Tag {
            peer_pid: pid,
            peer_uid: 1000,
            key,
        }
    }

    const CAPS: [u64; 2] = [1 << 16, 1 << 16];

    fn parked(side: Side, pid: u32, key: u64, at: Instant) -> Parked {
        Parked {
            side,
            tag: tag(pid, key),
            caps: CAPS,
            wins: CAPS,
            map: area(),
            epoch: 0,
            at,
        }
    }

    /// The pool's bookkeeping, on a pool of the test's own (the process's pool is shared by
    /// every test thread).
    #[test]
    fn matching_order_and_bounds() {
        let mut p = Pool {
            parked: Vec::new(),
            stale: Vec::new(),
            epoch: 0,
        };
        let t0 = Instant::now();
        let old = p.put(
            vec![
                parked(Side::Client, 7, 11, t0),
                parked(Side::Server, 9, 22, t0),
            ],
            t0,
        );
        assert!(old.is_empty());
        // A client finds its areas only for the same server process and uid.
        let (c, _) = p.take_where(t0, MAX_CLAIMS, |a| client_area_for(a, 7, 0));
        assert!(c.is_empty());
        let (c, _) = p.take_where(t0, MAX_CLAIMS, |a| client_area_for(a, 8, 1000));
        assert!(c.is_empty());
        // The server finds its area only for the same client, a named key and its geometry.
        let s = |p: &mut Pool, pid, uid, claims: &[u64], caps| {
            p.take_where(t0, 1, |a| server_area_for(a, pid, uid, claims, caps, CAPS))
                .0
                .pop()
        };
        assert!(s(&mut p, 10, 1000, &[22], CAPS).is_none());
        assert!(s(&mut p, 9, 0, &[22], CAPS).is_none());
        assert!(s(&mut p, 9, 1000, &[23], CAPS).is_none());
        assert!(s(&mut p, 9, 1000, &[22], [1 << 17, 1 << 16]).is_none());
        assert!(s(&mut p, 9, 1000, &[11], CAPS).is_none(), "a client area");
        let got = s(&mut p, 9, 1000, &[5, 22], CAPS).unwrap();
        assert_eq!(got.tag.key, 22);
        assert!(s(&mut p, 9, 1000, &[22], CAPS).is_none(), "taken once");
        let (c, _) = p.take_where(t0, MAX_CLAIMS, |a| client_area_for(a, 7, 1000));
        assert_eq!(c.len(), 1);
        assert!(p.parked.is_empty());
        // At most MAX_PARKED are kept, the oldest going first; areas come back in age order.
        let t = |k: u64| t0 + Duration::from_millis(k);
        let areas = (0..MAX_PARKED as u64 + 3)
            .map(|k| parked(Side::Client, 70, 100 + k, t(k)))
            .collect();
        assert_eq!(p.put(areas, t0).len(), 3, "the three oldest went");
        let (c, _) = p.take_where(t0, MAX_CLAIMS, |a| client_area_for(a, 70, 1000));
        let keys: Vec<u64> = c.iter().map(|a| a.tag.key).collect();
        assert_eq!(keys, (103..103 + MAX_CLAIMS as u64).collect::<Vec<_>>());
        p.put(c, t0);
        let (again, _) = p.take_where(t0, MAX_CLAIMS, |a| client_area_for(a, 70, 1000));
        assert_eq!(again.iter().map(|a| a.tag.key).collect::<Vec<_>>(), keys);
        // A full pool that gets back an area older than all it holds lets that one go.
        p.put(again, t0);
        assert_eq!(p.parked.len(), MAX_PARKED);
        let stale = parked(Side::Client, 70, 1, t0 - Duration::from_secs(1));
        assert_eq!(p.put(vec![stale], t0).len(), 1);
        assert!(p.parked.iter().all(|a| a.tag.key != 1));
        // Areas parked longer than MAX_AGE go at the next look.
        let (_, old) = p.take_where(t0 + MAX_AGE + Duration::from_secs(1), 0, |_| true);
        assert_eq!(old.len(), MAX_PARKED);
        assert!(p.parked.is_empty());
        // A fork retires what is parked, and what was mapped before it is refused.
        p.put(vec![parked(Side::Server, 1, 1, t0)], t0);
        p.forked();
        assert!(p.parked.is_empty());
        assert_eq!(p.put(vec![parked(Side::Server, 1, 2, t0)], t0).len(), 2);
        assert!(p.parked.is_empty());
    }

    /// The process's pool: a claim holds the areas it took until it is dropped (a pid no
    /// process has keeps other tests out).
    #[test]
    fn parking_and_claims_in_the_process_pool() {
        const NOBODY: u32 = u32::MAX - 7;
        let e = epoch();
        park(Side::Client, tag(NOBODY, 11), CAPS, CAPS, area(), e);
        {
            let mut c = claims(NOBODY, 1000);
            assert_eq!(c.keys(), vec![11]);
            assert!(
                claims(NOBODY, 1000).keys().is_empty(),
                "held by the first claim"
            );
            assert!(c.take(12).is_none());
        }
        let mut c = claims(NOBODY, 1000);
        assert_eq!(
            c.take(11).unwrap().tag.key,
            11,
            "given back when the claim was dropped"
        );
        drop(c);
        assert!(
            claims(NOBODY, 1000).keys().is_empty(),
            "a taken area is not given back"
        );
        let (a, b) = (new_key(), new_key());
        assert!(a != b && a != 0 && b != 0);
    }
}
