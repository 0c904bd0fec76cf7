//! Listing the pipes and mailslots a process can see: the scan of the kernel's table of Unix
//! sockets (`/proc/net/unix`) for listening abstract addresses in our namespace, and the
//! Describe exchange (`transport::control`) with the acceptor behind each one.
//!
//! Contract:
//! - a candidate is a listening abstract socket whose address starts with `NS/pipe/`,
//!   `NS/pipe#`, `NS/mailslot/` or `NS/mailslot#` (`NS` as in `namespace`); each address is
//!   asked once, so a pipe with many instances (one listener per name) is listed once;
//! - each candidate is asked with a Describe request, which the server answers without taking
//!   an instance, parking or waking anyone, after the same credential check as any request: a
//!   server of another user (unless we are root) refuses, and its name is left out;
//! - every socket is nonblocking and all candidates of a batch are asked at once and waited for
//!   until one absolute deadline ([`QUERY_TIMEOUT`]): a silent, slow or hostile listener at a
//!   matching address costs at most that long and is left out, whatever it does;
//! - an answer is believed only when it decodes, describes the kind of object its address is
//!   for, and its name maps back to exactly the address we connected to in our namespace (so a
//!   server cannot list itself under another name, and a hashed address gets its real name);
//! - the owner uid and the server pid come from `SO_PEERCRED` (the kernel's word, as of the
//!   server's `listen`), not from the answer.
//!
//! The table prints an abstract address as `@` and its bytes, a newline included: a line that
//! is not a row of the table continues the previous row's address (the connect and the name
//! check above settle whether the joined address is real).

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use super::namespace::{self, Kind};
use super::pipe::err;
use crate::error::code::*;
use crate::sys;
use crate::transport::control::{self, Described, Object, PipeInfo, Reply, ReqKind, Request};

/// How long a listing waits for the answers of one batch of servers.
pub(crate) const QUERY_TIMEOUT: Duration = Duration::from_secs(1);
/// Candidates asked at once (each holds a descriptor until it answers).
const BATCH: usize = 128;
/// `__SO_ACCEPTCON` in the Flags column of `/proc/net/unix`: the socket is listening.
const SO_ACCEPTCON: u32 = 0x0001_0000;
/// The kernel's table of Unix sockets.
const TABLE: &str = "/proc/net/unix";

/// One listed pipe or mailslot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub kind: Kind,
    /// The name as its first instance was created.
    pub name: String,
    /// What follows the `\\.\pipe\` or `\\.\mailslot\` prefix in `name`.
    pub leaf: String,
    /// Instances listening for a client.
    pub listening: u32,
    /// Parameters, instance counts and the pid the server reports.
    pub info: PipeInfo,
    /// The server's effective uid (`SO_PEERCRED`).
    pub owner_uid: u32,
    /// The server's pid in our pid namespace (`SO_PEERCRED`), `None` when not visible here.
    pub server_pid: Option<u32>,
}

/// Every pipe and mailslot of our namespace whose server answers us, sorted by kind (pipes
/// first) and folded name.
pub(crate) fn list() -> io::Result<Vec<Entry>> {
    let table = std::fs::read(TABLE).map_err(|e| {
        err(
            ERROR_NOT_SUPPORTED,
            format!("cannot list pipes: {TABLE} cannot be read: {e}"),
        )
    })?;
    let ns = namespace::namespace();
    let found = candidates(&table, &ns);
    let mut out = Vec::new();
    for batch in found.chunks(BATCH) {
        ask(batch, &ns, &mut out)?;
    }
    out.sort_by_cached_key(|e| (e.kind != Kind::Pipe, e.leaf.to_uppercase()));
    Ok(out)
}

/// The listening abstract addresses in `table` (the bytes of `/proc/net/unix`), without the
/// leading `@`, in table order. See the module docs for rows that continue on the next line.
pub(crate) fn listening_abstract(table: &[u8]) -> Vec<Vec<u8>> {
    let table = table.strip_suffix(b"\n").unwrap_or(table);
    let mut out: Vec<Vec<u8>> = Vec::new();
    // Whether the last row was a listening abstract socket (its address is `out`'s last).
    let mut open = false;
    for line in table.split(|&b| b == b'\n').skip(1) {
        match split_line(line) {
            Some((flags, path)) => {
                open = flags & SO_ACCEPTCON != 0 && path.is_some_and(|p| p.first() == Some(&b'@'));
                if let (true, Some(p)) = (open, path) {
                    out.push(p[1..].to_vec());
                }
            }
            None if open => {
                let last = out.last_mut().expect("an open row was pushed");
                last.push(b'\n');
                last.extend_from_slice(line);
            }
            None => {}
        }
    }
    out
}

/// The Flags column and the path (if any) of one row of `/proc/net/unix`
/// (`Num: RefCount Protocol Flags Type St Inode[ Path]`, numbers in hex except the inode);
/// `None` for anything that is not a row.
fn split_line(line: &[u8]) -> Option<(u32, Option<&[u8]>)> {
    let mut rest = line;
    let mut flags = None;
    for field in 0..7 {
        let start = rest.iter().position(|&b| b != b' ')?;
        rest = &rest[start..];
        let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        let text = std::str::from_utf8(&rest[..end]).ok()?;
        match field {
            0 => {
                let num = text.strip_suffix(':')?;
                u64::from_str_radix(num, 16).ok()?;
            }
            3 => flags = Some(u32::from_str_radix(text, 16).ok()?),
            6 => {
                text.parse::<u64>().ok()?;
            }
            _ => {
                u32::from_str_radix(text, 16).ok()?;
            }
        }
        rest = &rest[end..];
    }
    // Exactly one space separates the inode from the path, which may itself hold spaces.
    let path = match rest {
        [] => None,
        _ => Some(rest.strip_prefix(b" ")?),
    };
    Some((flags?, path))
}

/// The kind of object an address of namespace `ns` stands for, if it is one we list.
fn kind_of_addr(addr: &[u8], ns: &str) -> Option<Kind> {
    let rest = addr.strip_prefix(ns.as_bytes())?.strip_prefix(b"/")?;
    for kind in [Kind::Pipe, Kind::Mailslot] {
        if let Some(r) = rest.strip_prefix(kind.noun().as_bytes()) {
            if matches!(r.first(), Some(b'/' | b'#')) && r.len() > 1 {
                return Some(kind);
            }
        }
    }
    None
}

/// The candidates of `table` in namespace `ns`, each address once.
fn candidates(table: &[u8], ns: &str) -> Vec<(Kind, Vec<u8>)> {
    let mut v: Vec<(Kind, Vec<u8>)> = listening_abstract(table)
        .into_iter()
        .filter_map(|a| Some((kind_of_addr(&a, ns)?, a)))
        .collect();
    v.sort_by(|a, b| a.1.cmp(&b.1));
    v.dedup_by(|a, b| a.1 == b.1);
    v
}

/// The entry for the answer `d` of the server at `addr` (namespace `ns`), if it is believable
/// (see the module docs). Pure: the fuzz target runs it over decoded frames.
pub(crate) fn check(addr: &[u8], ns: &str, d: &Described, peer: sys::PeerCred) -> Option<Entry> {
    let kind = kind_of_addr(addr, ns)?;
    let object = match kind {
        Kind::Pipe => Object::Pipe,
        Kind::Mailslot => Object::Mailslot,
        Kind::Event => return None,
    };
    if d.object != object {
        return None;
    }
    let name = namespace::parse(&d.name, kind).ok()?;
    if name.broadcast || name.address_in(ns) != addr {
        return None;
    }
    let i = &d.info;
    let sane = match kind {
        Kind::Pipe => (1..=super::pipe::UNLIMITED).contains(&i.max_instances),
        _ => i.max_instances == 1 && i.cur_instances == 1,
    };
    if !sane || d.listening > i.cur_instances || i.cur_instances > i.max_instances {
        return None;
    }
    Some(Entry {
        kind,
        leaf: namespace::leaf(&d.name)?.to_owned(),
        name: d.name.clone(),
        listening: d.listening,
        info: *i,
        owner_uid: peer.uid,
        server_pid: peer.pid,
    })
}

/// A Describe request on its way.
struct Asked<'a> {
    sock: OwnedFd,
    addr: &'a [u8],
    peer: sys::PeerCred,
}

/// Sends a Describe request to every address of `batch` and collects the believable answers
/// that come before the deadline.
fn ask(batch: &[(Kind, Vec<u8>)], ns: &str, out: &mut Vec<Entry>) -> io::Result<()> {
    let os = |e: sys::Errno, what: &str| super::pipe::os_err(e, what, "the pipe listing");
    let poller = sys::Poller::new().map_err(|e| os(e, "epoll_create"))?;
    let req = Request {
        kind: ReqKind::Describe,
        access: 0,
        timeout_ms: 0,
        sqos: 0,
        name: String::new(),
        token: 0,
        claims: None,
    }
    .encode();
    let mut asked: Vec<Option<Asked<'_>>> = Vec::with_capacity(batch.len());
    for (_, addr) in batch {
        asked.push(start(addr, &req, &poller, asked.len() as u64));
    }
    let mut left = asked.iter().filter(|a| a.is_some()).count();
    let deadline = Instant::now() + QUERY_TIMEOUT;
    let mut ready = Vec::new();
    let mut buf = vec![0u8; control::MAX_DESCRIBED_REP];
    while left > 0 && Instant::now() < deadline {
        ready.clear();
        poller
            .wait(Some(deadline), &mut ready)
            .map_err(|e| os(e, "epoll_wait"))?;
        for ev in &ready {
            let Some(slot) = asked.get_mut(ev.token as usize) else {
                continue;
            };
            let Some(a) = slot else { continue };
            let mut fds = Vec::new();
            let got = sys::recv_packet_nowait(a.sock.as_fd(), &mut buf, &mut fds);
            // A reply carries no descriptors; any that came are closed here.
            drop(fds);
            match got {
                Err(sys::Errno::AGAIN) if !ev.hup => continue,
                Ok(n) if n > 0 => {
                    if let Ok(Reply::Described(d)) = Reply::decode(&buf[..n]) {
                        out.extend(check(a.addr, ns, &d, a.peer));
                    }
                }
                _ => {}
            }
            // Answered, refused or gone: done with this one (closing it unregisters it).
            *slot = None;
            left -= 1;
        }
    }
    Ok(())
}

/// Connects to `addr` without waiting, notes the server's credentials, sends the request and
/// watches the socket under `token`; `None` when any step fails (nobody listens there any more,
/// its backlog is full, ...): that address is left out.
fn start<'a>(addr: &'a [u8], req: &[u8], poller: &sys::Poller, token: u64) -> Option<Asked<'a>> {
    let sock = sys::seqpacket(true).ok()?;
    sys::connect(sock.as_fd(), addr).ok()?;
    let peer = sys::peer_cred(sock.as_fd()).ok()?;
    sys::send_packet_nowait(sock.as_fd(), req, &[]).ok()?;
    poller.add(sock.as_fd(), token, true).ok()?;
    Some(Asked { sock, addr, peer })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &[u8] = b"Num       RefCount Protocol Flags    Type St Inode Path\n\
        0000000000000000: 00000002 00000000 00010000 0005 01 51234 @npipe/pipe/MY PIPE\n\
        0000000000000000: 00000003 00000000 00000000 0005 03 51240 @npipe/pipe/CONNECTED\n\
        0000000000000000: 00000002 00000000 00010000 0005 01 51241 @npipe/pipe/TWO\n\
        LINES\n\
        0000000000000000: 00000003 00000000 00000000 0001 03  1624\n\
        not a row\n\
        0000000000000000: 00000002 00000000 00010000 0005 01 51242 @npipe/mailslot#00ff\n\
        0000000000000000: 00000002 00000000 00010000 0005 01 51243 @npipe/event/Local\\E\n\
        0000000000000000: 00000002 00000000 00010000 0005 01 51244 @other/pipe/X\n\
        0000000000000000: 00000002 00000000 00010000 0005 01 51245 @npipe/pipe/\n\
        0000000000000000: 00000002 00000000 00010000 0001 01 12345 /run/some.sock\n";

    #[test]
    fn listening_abstract_rows_and_continuations() {
        let all = listening_abstract(TABLE);
        assert_eq!(
            all,
            [
                &b"npipe/pipe/MY PIPE"[..],
                b"npipe/pipe/TWO\nLINES",
                b"npipe/mailslot#00ff",
                b"npipe/event/Local\\E",
                b"other/pipe/X",
                b"npipe/pipe/",
            ]
        );
        assert!(listening_abstract(b"").is_empty());
        assert!(listening_abstract(b"header\ngarbage line\n").is_empty());
    }

    #[test]
    fn candidates_are_this_namespace_pipes_and_mailslots() {
        let c = candidates(TABLE, "npipe");
        let kinds: Vec<Kind> = c.iter().map(|x| x.0).collect();
        assert_eq!(kinds, [Kind::Mailslot, Kind::Pipe, Kind::Pipe]);
        assert_eq!(candidates(TABLE, "other").len(), 1);
        assert!(candidates(TABLE, "npip").is_empty());
    }

    fn peer() -> sys::PeerCred {
        sys::PeerCred {
            pid: Some(7),
            uid: 1000,
            gid: 1000,
        }
    }

    fn answer(name: &str, object: Object) -> Described {
        Described {
            object,
            listening: 1,
            info: PipeInfo {
                direction: 3,
                max_instances: 4,
                cur_instances: 2,
                ..PipeInfo::default()
            },
            name: name.into(),
        }
    }

    #[test]
    fn answers_must_match_their_address() {
        let name = r"\\.\pipe\Some\Pipe";
        let addr = namespace::parse(name, Kind::Pipe).unwrap().address_in("ns");
        let e = check(&addr, "ns", &answer(name, Object::Pipe), peer()).unwrap();
        assert_eq!((e.leaf.as_str(), e.owner_uid), (r"Some\Pipe", 1000));
        // Another name, another namespace, the wrong kind, nonsense counts.
        assert!(check(
            &addr,
            "ns",
            &answer(r"\\.\pipe\Other", Object::Pipe),
            peer()
        )
        .is_none());
        assert!(check(&addr, "ns2", &answer(name, Object::Pipe), peer()).is_none());
        assert!(check(&addr, "ns", &answer(name, Object::Mailslot), peer()).is_none());
        let mut d = answer(name, Object::Pipe);
        d.info.max_instances = 0;
        assert!(check(&addr, "ns", &d, peer()).is_none());
        let mut d = answer(name, Object::Pipe);
        d.listening = 3;
        assert!(check(&addr, "ns", &d, peer()).is_none());
        // A hashed address gets its name from the answer.
        let long = format!(r"\\.\pipe\{}", "L".repeat(200));
        let addr = namespace::parse(&long, Kind::Pipe)
            .unwrap()
            .address_in("ns");
        assert!(addr.windows(5).any(|w| w == b"pipe#"));
        assert!(check(&addr, "ns", &answer(&long, Object::Pipe), peer()).is_some());
        // A mailslot is one instance; a broadcast name is no server's name.
        let ms = r"\\.\mailslot\box";
        let addr = namespace::parse(ms, Kind::Mailslot)
            .unwrap()
            .address_in("ns");
        let mut d = answer(ms, Object::Mailslot);
        assert!(check(&addr, "ns", &d, peer()).is_none());
        (d.info.max_instances, d.info.cur_instances) = (1, 1);
        assert!(check(&addr, "ns", &d, peer()).is_some());
        d.name = r"\\*\mailslot\box".into();
        assert!(check(&addr, "ns", &d, peer()).is_none());
    }
}
