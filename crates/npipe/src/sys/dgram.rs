//! Many-writer record queues: a SOCK_SEQPACKET socketpair whose sending end is shared by every
//! writer, and sealed memfds for records too large for one packet. Used by
//! mailslots (`semantics::mailslot`).
//!
//! # Safety
//!
//! Besides the invariants of [`crate::sys`]:
//! - a [`SealedView`] maps only a memfd that carries all of `F_SEAL_SHRINK`, `F_SEAL_GROW`,
//!   `F_SEAL_WRITE` and `F_SEAL_SEAL` and whose size, read after the seals, is exactly the mapped
//!   length. Nobody (its creator included) can then change, shrink or grow it, or remove a seal,
//!   so its bytes stay backed and unchanged for as long as the view maps them, and handing them
//!   out as `&[u8]` is sound.
//!
//! What it provides:
//! - [`record_pair`], [`raise_buffers`], [`shutdown`]: the queue; [`send_record_nowait`] for writers,
//!   [`peek_record`] and [`recv_record`] for the reader; [`is_unix_seqpacket`] to check a
//!   socket received from a peer;
//! - [`sealed_copy`] (writer) and [`SealedView`] (reader) for large records.
//!
//! Kernel behaviour this relies on (Linux `net/unix/af_unix.c`):
//! - SEQPACKET, not DGRAM: a connected datagram socket can be connected again, to any datagram
//!   address the caller may reach, and every holder of a duplicate of the sending end shares
//!   its peer, so one writer could redirect every other writer's records to itself. A connected
//!   SEQPACKET socket refuses `connect` with `EISCONN`. Sending works the same for both types
//!   (`unix_seqpacket_sendmsg` calls `unix_dgram_sendmsg`): each record is queued whole and
//!   atomically, in one receive queue, in send order;
//! - the receiver of a socketpair has the sender as its peer, so the `max_dgram_qlen` backlog
//!   check (10 records by default) does not apply; a send fails with `EAGAIN` only when the
//!   records queued from the sending socket use up its `SO_SNDBUF` (kernel accounting, the
//!   "truesize": 768 bytes for a record of up to 192 bytes on x86-64). A record larger than
//!   `SO_SNDBUF - 32` fails with `EMSGSIZE`;
//! - `SO_SNDBUF` requests are clamped to `net.core.wmem_max` (212992 by default) and doubled;
//!   `SO_SNDBUFFORCE` would pass the clamp but needs `CAP_NET_ADMIN`, so it is not used;
//! - a `MSG_PEEK` receive without room for control messages leaves the record's descriptors
//!   with the record and reports `MSG_CTRUNC`; a real receive installs at most as many as fit
//!   and closes the rest (`MSG_CTRUNC` again); `MSG_TRUNC` makes the call return the record's
//!   full length;
//! - when the receiving end is closed, sends fail with `ECONNRESET` or `EPIPE`; when it was shut
//!   down, with `EPIPE`.

#![allow(unsafe_code)]

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::ptr::NonNull;

use rustix::fs::{MemfdFlags, SealFlags};
use rustix::mm::{MapFlags, ProtFlags};
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags,
    SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};

use super::{Errno, Result, MAX_FDS};

/// A connected pair of close-on-exec `AF_UNIX` `SOCK_SEQPACKET` sockets: `(rx, tx)`. Records
/// sent on `tx` (or on any duplicate of it) are read from `rx`, in the order they were sent.
pub(crate) fn record_pair() -> Result<(OwnedFd, OwnedFd)> {
    rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
}

/// Raises `tx`'s send buffer (which bounds how many bytes of records may wait in `rx`'s queue)
/// and `rx`'s receive buffer as far as an unprivileged process may. Returns `tx`'s effective
/// `SO_SNDBUF` (twice `net.core.wmem_max` when the request was clamped).
pub(crate) fn raise_buffers(rx: BorrowedFd<'_>, tx: BorrowedFd<'_>) -> Result<usize> {
    const ASK: usize = 1 << 30;
    rustix::net::sockopt::set_socket_send_buffer_size(tx, ASK)?;
    // Not used for AF_UNIX records today (the sender's buffer is charged), set for symmetry.
    let _ = rustix::net::sockopt::set_socket_recv_buffer_size(rx, ASK);
    rustix::net::sockopt::socket_send_buffer_size(tx)
}

/// Shuts both directions of `rx` down. For a SEQPACKET pair the kernel mirrors this onto the
/// peer, so every later send on any duplicate of `tx` fails with `EPIPE`, whoever else still
/// holds a copy of `rx`.
pub(crate) fn shutdown(rx: BorrowedFd<'_>) -> Result<()> {
    rustix::net::shutdown(rx, rustix::net::Shutdown::Both)
}

/// True when `fd` is an `AF_UNIX` `SOCK_SEQPACKET` socket.
pub(crate) fn is_unix_seqpacket(fd: BorrowedFd<'_>) -> bool {
    matches!(
        rustix::net::sockopt::socket_type(fd),
        Ok(SocketType::SEQPACKET)
    ) && matches!(
        rustix::net::sockopt::socket_domain(fd),
        Ok(AddressFamily::UNIX)
    )
}

/// Sends one record, `head` followed by `body` (gathered, not copied), with `fds` attached as
/// `SCM_RIGHTS`. Never waits (`MSG_DONTWAIT`) and never raises SIGPIPE (`MSG_NOSIGNAL`):
/// `EAGAIN` when the send buffer is full, `EMSGSIZE` when the record can never fit it, `EPIPE` /
/// `ECONNRESET` when the receiving end is gone or shut down.
pub(crate) fn send_record_nowait(
    fd: BorrowedFd<'_>,
    head: &[u8],
    body: &[u8],
    fds: &[BorrowedFd<'_>],
) -> Result<()> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(Errno::INVAL);
    }
    let iov = [IoSlice::new(head), IoSlice::new(body)];
    loop {
        match rustix::net::sendmsg(
            fd,
            &iov,
            &mut control,
            SendFlags::DONTWAIT | SendFlags::NOSIGNAL,
        ) {
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
            // A record is sent whole or not at all.
            Ok(n) if n != head.len() + body.len() => return Err(Errno::MSGSIZE),
            Ok(_) => return Ok(()),
        }
    }
}

/// The record at the head of a queue, as [`peek_record`] saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordHead {
    /// The record's full length (it may be longer than the buffer).
    pub len: usize,
    /// Descriptors are attached to it.
    pub has_fds: bool,
}

/// Looks at the record at the head of `fd`'s queue without consuming it: copies up to
/// `buf.len()` bytes and returns its full length. Its descriptors stay with it (there is no room
/// for them here, which the kernel reports as `MSG_CTRUNC`). `None` when nothing is queued. A
/// return of length 0 is an empty record or, once the sending side was shut down and the queue
/// is empty, the end of the stream.
pub(crate) fn peek_record(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<Option<RecordHead>> {
    let mut control = RecvAncillaryBuffer::default();
    let flags = RecvFlags::PEEK | RecvFlags::TRUNC | RecvFlags::DONTWAIT;
    loop {
        match rustix::net::recvmsg(fd, &mut [IoSliceMut::new(buf)], &mut control, flags) {
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => return Ok(None),
            Err(e) => return Err(e),
            Ok(m) => {
                return Ok(Some(RecordHead {
                    len: m.bytes,
                    has_fds: m.flags.contains(ReturnFlags::CTRUNC),
                }))
            }
        }
    }
}

/// A record taken by [`recv_record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record {
    /// The record's full length; bytes past `buf.len()` were discarded.
    pub len: usize,
    /// Descriptors came with it that did not fit the control buffer (the kernel closed them).
    pub fds_lost: bool,
}

/// Takes the record at the head of `fd`'s queue without waiting: up to `buf.len()` bytes into
/// `buf` (the rest of a longer record is discarded) and its descriptors, close-on-exec, into
/// `fds` (at most [`MAX_FDS`]; more are closed by the kernel and reported). `None` when nothing
/// is queued.
pub(crate) fn recv_record(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
) -> Result<Option<Record>> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let flags = RecvFlags::TRUNC | RecvFlags::DONTWAIT | RecvFlags::CMSG_CLOEXEC;
    let m = loop {
        match rustix::net::recvmsg(fd, &mut [IoSliceMut::new(buf)], &mut control, flags) {
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => return Ok(None),
            r => break r?,
        }
    };
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = msg {
            fds.extend(rights);
        }
    }
    Ok(Some(Record {
        len: m.bytes,
        fds_lost: m.flags.contains(ReturnFlags::CTRUNC),
    }))
}

/// Seals a memfd must carry before a reader maps it read-only and trusts its bytes.
fn frozen() -> SealFlags {
    SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL
}

/// A close-on-exec memfd holding a copy of `data`, sealed against every change (shrink, grow,
/// write, and further sealing): once sent, nobody can alter what the reader maps.
pub(crate) fn sealed_copy(data: &[u8]) -> Result<OwnedFd> {
    let fd =
        rustix::fs::memfd_create("npipe-msg", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
    // Sized first, so the writes below never extend the file piecemeal.
    rustix::fs::ftruncate(&fd, data.len() as u64)?;
    let mut done = 0;
    while done < data.len() {
        match rustix::io::pwrite(&fd, &data[done..], done as u64) {
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
            Ok(0) => return Err(Errno::NOSPC),
            Ok(n) => done += n,
        }
    }
    // F_SEAL_WRITE is refused while a writable shared mapping exists; there is none.
    rustix::fs::fcntl_add_seals(&fd, frozen())?;
    Ok(fd)
}

/// A read-only mapping of a sealed memfd received from another process.
#[derive(Debug)]
pub(crate) struct SealedView {
    ptr: NonNull<u8>,
    len: usize,
}

impl SealedView {
    /// Maps `fd` read-only after checking that it is a memfd carrying all of the seals
    /// `SHRINK | GROW | WRITE | SEAL` (anything else that cannot be sealed fails `F_GET_SEALS`
    /// with `EINVAL`; missing seals give `EPERM`) and that it is exactly `len` bytes long
    /// (`EINVAL` otherwise, and for `len == 0`).
    pub(crate) fn open(fd: BorrowedFd<'_>, len: usize) -> Result<SealedView> {
        // Seals first: once SHRINK/GROW/SEAL are set the size read next can never change.
        let seals = rustix::fs::fcntl_get_seals(fd)?;
        if !seals.contains(frozen()) {
            return Err(Errno::PERM);
        }
        let st = rustix::fs::fstat(fd)?;
        if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile
            || len == 0
            || st.st_size < 0
            || st.st_size as u64 != len as u64
        {
            return Err(Errno::INVAL);
        }
        // SAFETY:
        // 1. a null hint lets the kernel pick a fresh range, so no existing mapping is replaced;
        // 2. the memfd is exactly `len` bytes and sealed against shrinking, growing and sealing
        //    (checked above), so every byte of the range stays backed while it is mapped: no
        //    access inside it can fault;
        // 3. it is also sealed against writing, so no process can change the bytes while we
        //    hold references to them (see `bytes`).
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ,
                MapFlags::SHARED,
                fd,
                0,
            )?
        };
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or(Errno::NOMEM)?;
        Ok(SealedView { ptr, len })
    }

    /// The memfd's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY:
        // 1. ptr/len is a live read-only mapping owned by self, unmapped only in Drop, so it
        //    outlives the returned borrow;
        // 2. the memfd is sealed against writes, shrinking and seal changes (checked in `open`):
        //    the bytes are initialised, always backed, and never mutated while borrowed.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for SealedView {
    fn drop(&mut self) {
        // SAFETY: ptr/len are exactly what mmap returned, and no borrow from `bytes` outlives
        // self.
        unsafe {
            let _ = rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}
