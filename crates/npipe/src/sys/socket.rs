//! Unix SOCK_SEQPACKET sockets on abstract addresses: connect, listen, accept (also with the
//! process's reserve descriptor when it has run out), packets with descriptors (SCM_RIGHTS),
//! peer credentials, and polling with absolute deadlines.
//!
//! Every wait here ends at a deadline computed once, when the call starts: a signal (EINTR)
//! makes the wait resume for what is left, never start over and never end early.
//!
//! # Safety
//! Only the `SO_PEERCRED` query uses `unsafe` (rustix's typed credentials cannot hold the pid 0
//! the kernel reports for a peer in another pid namespace); the module invariants of `sys` apply.
#![allow(unsafe_code)]

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketAddrUnix, SocketFlags, SocketType,
};

use super::{Errno, Result};

/// Largest number of descriptors one control packet carries.
pub(crate) const MAX_FDS: usize = 4;

/// A new close-on-exec `AF_UNIX` `SOCK_SEQPACKET` socket.
pub(crate) fn seqpacket(nonblocking: bool) -> Result<OwnedFd> {
    let mut flags = SocketFlags::CLOEXEC;
    if nonblocking {
        flags |= SocketFlags::NONBLOCK;
    }
    rustix::net::socket_with(AddressFamily::UNIX, SocketType::SEQPACKET, flags, None)
}

fn abstract_addr(name: &[u8]) -> Result<SocketAddrUnix> {
    SocketAddrUnix::new_abstract_name(name)
}

/// Binds `fd` to the abstract address `name` and listens. `EADDRINUSE` means another socket
/// (in this or another process) owns the name.
pub(crate) fn bind_listen(fd: BorrowedFd<'_>, name: &[u8]) -> Result<()> {
    rustix::net::bind(fd, &abstract_addr(name)?)?;
    rustix::net::listen(fd, 512)
}

/// Connects `fd` to the abstract address `name`. `ECONNREFUSED` means nobody listens there;
/// `EAGAIN` that the listener's backlog is full.
pub(crate) fn connect(fd: BorrowedFd<'_>, name: &[u8]) -> Result<()> {
    let addr = abstract_addr(name)?;
    loop {
        match rustix::net::connect(fd, &addr) {
            Err(Errno::INTR) => continue,
            r => return r,
        }
    }
}

/// Accepts one connection as a nonblocking, close-on-exec socket. `EAGAIN` when none is
/// queued; `EMFILE`/`ENFILE` when this process or the system is out of descriptors (the
/// connection then stays queued).
pub(crate) fn accept(fd: BorrowedFd<'_>) -> Result<OwnedFd> {
    loop {
        match rustix::net::accept_with(fd, SocketFlags::CLOEXEC | SocketFlags::NONBLOCK) {
            Err(Errno::INTR) => continue,
            r => return r,
        }
    }
}

/// One descriptor the process keeps in reserve (`/dev/null`), so that a listener can still take
/// a connection when the process is out of descriptors, to refuse it at once rather than leave
/// it in the backlog until its client gives up ([`accept_reserved`]). Taken with `try_lock`
/// only: a forked child whose copy another thread held at the fork has no reserve.
static RESERVE: std::sync::Mutex<Option<OwnedFd>> = std::sync::Mutex::new(None);

fn open_reserve() -> Result<OwnedFd> {
    rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
}

/// Makes the process's reserve descriptor if there is none yet (a listener's start).
pub(crate) fn keep_reserve() {
    if let Ok(mut r) = RESERVE.try_lock() {
        if r.is_none() {
            *r = open_reserve().ok();
        }
    }
}

/// For a listener whose `accept` failed for lack of descriptors: frees the reserve, accepts one
/// connection into its slot, runs `f` on it (which must not keep it), and takes the reserve
/// again. `None` when there is no reserve (another thread is using it, or the slot was taken
/// by another thread before it could be reopened) or nothing could be accepted.
pub(crate) fn accept_reserved<R>(fd: BorrowedFd<'_>, f: impl FnOnce(OwnedFd) -> R) -> Option<R> {
    let mut r = RESERVE.try_lock().ok()?;
    drop(r.take()?);
    let out = accept(fd).ok().map(f);
    *r = open_reserve().ok();
    out
}

/// Sends one packet, with `fds` attached as `SCM_RIGHTS`. With `nowait` a full socket buffer
/// gives `EAGAIN` instead of blocking.
fn send_with(fd: BorrowedFd<'_>, data: &[u8], fds: &[BorrowedFd<'_>], nowait: bool) -> Result<()> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(Errno::INVAL);
    }
    // MSG_NOSIGNAL: a peer that went away gives EPIPE, never SIGPIPE.
    let mut flags = SendFlags::NOSIGNAL;
    if nowait {
        flags |= SendFlags::DONTWAIT;
    }
    loop {
        match rustix::net::sendmsg(fd, &[IoSlice::new(data)], &mut control, flags) {
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
            Ok(n) if n != data.len() => return Err(Errno::MSGSIZE),
            Ok(_) => return Ok(()),
        }
    }
}

/// Sends one packet, with `fds` attached as `SCM_RIGHTS` (blocking while the peer's buffer is
/// full, as any socket write).
pub(crate) fn send_packet(fd: BorrowedFd<'_>, data: &[u8], fds: &[BorrowedFd<'_>]) -> Result<()> {
    send_with(fd, data, fds, false)
}

/// [`send_packet`] that never blocks: `EAGAIN` when the peer's buffer is full (a peer that
/// stopped reading cannot stall the sender).
pub(crate) fn send_packet_nowait(
    fd: BorrowedFd<'_>,
    data: &[u8],
    fds: &[BorrowedFd<'_>],
) -> Result<()> {
    send_with(fd, data, fds, true)
}

/// Receives one packet without waiting (`EAGAIN` when none is queued) into `buf`; descriptors
/// that came with it are appended to `fds` (close-on-exec). Returns the packet length; 0 means
/// the peer closed. A packet longer than `buf` is an error (`EMSGSIZE`), never silently
/// truncated; descriptors that came with it are still appended (and so closed by the caller).
///
/// A packet the peer sent just before it closed is never reported as the end instead. Linux's
/// SEQPACKET receive looks at the queue, finds it empty, and only then at whether the peer has
/// closed (`__unix_dgram_recvmsg`): a packet queued and a close made between those two looks
/// read as end-of-file, and the packet stays queued behind it. A server that answers and
/// closes at once (a refusal, ERROR_PIPE_BUSY) met a client's receive there now and then: a
/// tracefs trace showed the client's receive enter before the answer's send and return 0 after
/// the close, and the open failed with ERROR_FILE_NOT_FOUND instead of ERROR_PIPE_BUSY. Once
/// the close is seen, everything sent before it is queued, so one more look finds such a
/// packet; a real end reads 0 again. (An empty packet without descriptors, which no npipe
/// peer sends, followed by another one reads as that other one.)
pub(crate) fn recv_packet_nowait(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
) -> Result<usize> {
    let had = fds.len();
    match recv_one(fd, buf, fds)? {
        // An end carries no descriptors: a read of 0 that brought some was an empty packet.
        0 if fds.len() == had => match recv_one(fd, buf, fds) {
            Ok(n) => Ok(n),
            // Nothing behind it: the empty packet, or the end, as the first look said.
            Err(Errno::AGAIN) => Ok(0),
            Err(e) => Err(e),
        },
        n => Ok(n),
    }
}

/// One `recvmsg` of [`recv_packet_nowait`].
fn recv_one(fd: BorrowedFd<'_>, buf: &mut [u8], fds: &mut Vec<OwnedFd>) -> Result<usize> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = loop {
        match rustix::net::recvmsg(
            fd,
            &mut [IoSliceMut::new(buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC | RecvFlags::DONTWAIT,
        ) {
            Err(Errno::INTR) => continue,
            r => break r?,
        }
    };
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = m {
            fds.extend(rights);
        }
    }
    if msg
        .flags
        .intersects(rustix::net::ReturnFlags::TRUNC | rustix::net::ReturnFlags::CTRUNC)
    {
        return Err(Errno::MSGSIZE);
    }
    Ok(msg.bytes)
}

/// Polls `fd` without sleeping until it is readable or hung up, for at most `spin`: for a
/// reply expected within microseconds, where sleeping would add this CPU's idle exit and the
/// wake-up to the wait. Returns whether it became readable (or hung up) meanwhile.
pub(crate) fn spin_until_readable(fd: BorrowedFd<'_>, spin: Duration) -> bool {
    let end = Instant::now() + spin;
    loop {
        match poll_fds([fd], Some(Duration::ZERO)) {
            Ok(r) if r[0].readable || r[0].hup => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
        if Instant::now() >= end {
            return false;
        }
        std::hint::spin_loop();
    }
}

/// Receives one packet (see [`recv_packet_nowait`]), waiting for it until `deadline` (`None`:
/// forever); `ETIMEDOUT` when it passes. Signals never restart or shorten the wait.
pub(crate) fn recv_packet(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
    deadline: Option<Instant>,
) -> Result<usize> {
    loop {
        match recv_packet_nowait(fd, buf, fds) {
            Err(Errno::AGAIN) => {}
            r => return r,
        }
        let r = poll_until([fd], deadline)?;
        if !r[0].readable && !r[0].hup {
            return Err(Errno::TIMEDOUT);
        }
    }
}

/// Credentials of the process at the other end of a connected Unix socket, as the kernel saw
/// them when the connection was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PeerCred {
    /// The peer's pid as seen from this process's pid namespace; `None` when the peer's
    /// process is not visible there (the kernel reports 0).
    pub pid: Option<u32>,
    /// The peer's effective uid.
    pub uid: u32,
    /// The peer's effective gid.
    pub gid: u32,
}

/// `SO_PEERCRED` of a connected Unix socket.
pub(crate) fn peer_cred(fd: BorrowedFd<'_>) -> Result<PeerCred> {
    let mut c = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY:
    // 1. `c` is a live ucred and `len` holds its exact size, so the kernel writes inside it;
    // 2. the fd is open for the duration of the call (borrowed);
    // 3. any bit pattern is a valid ucred (plain integers), so a pid of 0 is fine here.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut c as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::INVAL));
    }
    if len as usize != std::mem::size_of::<libc::ucred>() {
        return Err(Errno::INVAL);
    }
    Ok(PeerCred {
        pid: u32::try_from(c.pid).ok().filter(|&p| p != 0),
        uid: c.uid,
        gid: c.gid,
    })
}

/// What [`poll_fds`] reports per descriptor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Ready {
    /// Data (or EOF) can be read.
    pub readable: bool,
    /// The peer closed (`POLLHUP`/`POLLRDHUP`/`POLLERR`).
    pub hup: bool,
}

/// Polls descriptors for readability and hang-up for at most `timeout` (`None`: no limit).
/// Returns one [`Ready`] per descriptor; all false when the time is up. A signal resumes the
/// wait for the time left. Allocates nothing (it runs on the sleep path of every wait).
pub(crate) fn poll_fds<const N: usize>(
    fds: [BorrowedFd<'_>; N],
    timeout: Option<Duration>,
) -> Result<[Ready; N]> {
    poll_until(fds, timeout.and_then(|t| Instant::now().checked_add(t)))
}

/// [`poll_fds`] with an absolute deadline (`None`: no limit).
pub(crate) fn poll_until<const N: usize>(
    fds: [BorrowedFd<'_>; N],
    deadline: Option<Instant>,
) -> Result<[Ready; N]> {
    loop {
        let mut pfds = fds.map(|fd| PollFd::from_borrowed_fd(fd, PollFlags::IN | PollFlags::RDHUP));
        let ts = match deadline {
            None => None,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                Some(rustix::time::Timespec {
                    tv_sec: left.as_secs().min(i64::MAX as u64) as i64,
                    tv_nsec: left.subsec_nanos() as _,
                })
            }
        };
        match rustix::event::poll(&mut pfds, ts.as_ref()) {
            Ok(_) => {}
            // A signal: resume for what is left of the same deadline.
            Err(Errno::INTR) => {
                if deadline.is_some_and(|d| Instant::now() < d) || deadline.is_none() {
                    continue;
                }
            }
            Err(e) => return Err(e),
        }
        return Ok(pfds.map(|p| {
            let r = p.revents();
            Ready {
                readable: r.contains(PollFlags::IN),
                hup: r.intersects(PollFlags::HUP | PollFlags::RDHUP | PollFlags::ERR),
            }
        }));
    }
}

/// True when the peer of the connected socket `fd` has closed its end (no waiting).
pub(crate) fn peer_hung_up(fd: BorrowedFd<'_>) -> bool {
    poll_fds([fd], Some(Duration::ZERO))
        .map(|r| r[0].hup)
        .unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    /// A connected SEQPACKET pair, as a control connection is.
    fn pair() -> (OwnedFd, OwnedFd) {
        super::super::dgram::record_pair().expect("socketpair")
    }

    #[test]
    fn a_packet_sent_before_the_close_is_read_before_the_end() {
        let (a, b) = pair();
        send_packet_nowait(b.as_fd(), b"busy", &[]).unwrap();
        drop(b);
        let (mut buf, mut fds) = ([0u8; 16], Vec::new());
        assert_eq!(recv_packet_nowait(a.as_fd(), &mut buf, &mut fds), Ok(4));
        assert_eq!(&buf[..4], b"busy");
        // The end, and the end again: a second look does not turn it into anything else.
        assert_eq!(recv_packet_nowait(a.as_fd(), &mut buf, &mut fds), Ok(0));
        assert_eq!(recv_packet_nowait(a.as_fd(), &mut buf, &mut fds), Ok(0));
        assert!(fds.is_empty());
    }

    /// The second look after a read of 0, which is what finds a packet the kernel reported as
    /// the end (see `recv_packet_nowait`): the race itself needs the receiving thread to be
    /// held up inside the call, but its second look is seen here, where the first read of 0
    /// is an empty packet.
    #[test]
    fn a_read_of_nothing_looks_once_more() {
        let (a, b) = pair();
        let (x, _y) = pair();
        send_packet_nowait(b.as_fd(), b"", &[]).unwrap();
        send_packet_nowait(b.as_fd(), b"reply", &[x.as_fd()]).unwrap();
        let (mut buf, mut fds) = ([0u8; 16], Vec::new());
        assert_eq!(recv_packet_nowait(a.as_fd(), &mut buf, &mut fds), Ok(5));
        assert_eq!(&buf[..5], b"reply");
        assert_eq!(fds.len(), 1, "the packet's descriptor comes with it");
        // Nothing behind an empty packet: 0, as before, and the peer is still there.
        send_packet_nowait(b.as_fd(), b"", &[]).unwrap();
        assert_eq!(recv_packet_nowait(a.as_fd(), &mut buf, &mut fds), Ok(0));
        assert_eq!(
            recv_packet_nowait(a.as_fd(), &mut buf, &mut fds),
            Err(Errno::AGAIN)
        );
        // An empty packet that brought a descriptor is no end: no second look.
        send_packet_nowait(b.as_fd(), b"", &[x.as_fd()]).unwrap();
        send_packet_nowait(b.as_fd(), b"next", &[]).unwrap();
        fds.clear();
        assert_eq!(recv_packet_nowait(a.as_fd(), &mut buf, &mut fds), Ok(0));
        assert_eq!(fds.len(), 1);
        assert_eq!(recv_packet_nowait(a.as_fd(), &mut buf, &mut fds), Ok(4));
        // A packet too long for the buffer behind an empty one is still an error, never cut.
        send_packet_nowait(b.as_fd(), b"", &[]).unwrap();
        send_packet_nowait(b.as_fd(), &[7u8; 32], &[]).unwrap();
        assert_eq!(
            recv_packet_nowait(a.as_fd(), &mut buf, &mut fds),
            Err(Errno::MSGSIZE)
        );
    }
}
