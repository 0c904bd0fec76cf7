//! L0: the kernel boundary. Every syscall npipe makes goes through this module.
//!
//! # Safety
//!
//! This module (and only this module, `transport::queue` and the C ABI crate) may use `unsafe`.
//! Module-wide invariants:
//! - every file descriptor is an [`OwnedFd`]/[`BorrowedFd`], so none is closed twice or used after
//!   close;
//! - a [`Mapping`] owns its address range until it is dropped, and is only ever created over a
//!   memfd whose size was checked and sealed against shrinking, so no access inside it can fault;
//! - futexes operate on `AtomicU32`s inside such shared mappings and never use
//!   `FUTEX_PRIVATE_FLAG`, because the other process waits on the same word.
//!
//! What it provides:
//! - SOCK_SEQPACKET Unix sockets on abstract addresses: [`seqpacket`], [`bind_listen`],
//!   [`connect`], [`accept`], packets with file descriptors ([`send_packet`], [`recv_packet`]),
//!   peer credentials ([`peer_cred`]), [`poll_fds`];
//! - sealed memfds ([`memfd_sealed`], [`check_memfd`]) and [`Mapping`] (in fuzzing and unit-test
//!   builds between guard pages, with bounds-checked `read_at`/`write_at` to play the peer);
//! - futex wait/wake on shared words ([`futex_wait`], [`futex_wake`]);
//! - an [`EventFd`] to wake a poller; process and thread ids and liveness.
#![allow(unsafe_code)]

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};
use rustix::fs::{MemfdFlags, SealFlags};
use rustix::mm::{MapFlags, ProtFlags};
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketAddrUnix, SocketFlags, SocketType,
};

pub(crate) use rustix::io::Errno;

/// Result of a syscall wrapper.
pub(crate) type Result<T> = rustix::io::Result<T>;

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

/// Connects `fd` to the abstract address `name`. `ECONNREFUSED` means nobody listens there.
pub(crate) fn connect(fd: BorrowedFd<'_>, name: &[u8]) -> Result<()> {
    loop {
        match rustix::net::connect(fd, &abstract_addr(name)?) {
            Err(Errno::INTR) => continue,
            r => return r,
        }
    }
}

/// Accepts one connection as a blocking, close-on-exec socket. `EAGAIN` when none is queued on
/// a nonblocking listener.
pub(crate) fn accept(fd: BorrowedFd<'_>) -> Result<OwnedFd> {
    loop {
        match rustix::net::accept_with(fd, SocketFlags::CLOEXEC) {
            Err(Errno::INTR) => continue,
            r => return r,
        }
    }
}

/// Sends one packet, with `fds` attached as `SCM_RIGHTS`.
pub(crate) fn send_packet(fd: BorrowedFd<'_>, data: &[u8], fds: &[BorrowedFd<'_>]) -> Result<()> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(Errno::INVAL);
    }
    loop {
        // MSG_NOSIGNAL: a peer that went away gives EPIPE, never SIGPIPE.
        match rustix::net::sendmsg(fd, &[IoSlice::new(data)], &mut control, SendFlags::NOSIGNAL) {
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
            Ok(n) if n != data.len() => return Err(Errno::MSGSIZE),
            Ok(_) => return Ok(()),
        }
    }
}

/// Receives one packet into `buf`; descriptors that came with it are appended to `fds`
/// (close-on-exec). Returns the packet length; 0 means the peer closed. A packet longer than
/// `buf` is an error (`EMSGSIZE`), never silently truncated.
pub(crate) fn recv_packet(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
) -> Result<usize> {
    recv_packet_with(fd, buf, fds, RecvFlags::empty())
}

/// [`recv_packet`] that fails with `AGAIN` instead of blocking when no packet is queued.
pub(crate) fn recv_packet_nowait(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
) -> Result<usize> {
    recv_packet_with(fd, buf, fds, RecvFlags::DONTWAIT)
}

fn recv_packet_with(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
    flags: RecvFlags,
) -> Result<usize> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = loop {
        match rustix::net::recvmsg(
            fd,
            &mut [IoSliceMut::new(buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC | flags,
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
    if msg.flags.contains(rustix::net::ReturnFlags::TRUNC) {
        return Err(Errno::MSGSIZE);
    }
    Ok(msg.bytes)
}

/// Credentials of the process at the other end of a connected Unix socket, as the kernel saw
/// them when the connection was made: `(pid, uid, gid)`.
pub(crate) fn peer_cred(fd: BorrowedFd<'_>) -> Result<(u32, u32, u32)> {
    let c = rustix::net::sockopt::socket_peercred(fd)?;
    Ok((
        c.pid.as_raw_nonzero().get() as u32,
        c.uid.as_raw(),
        c.gid.as_raw(),
    ))
}

/// Bounds how long a blocking `recv` on `fd` may wait.
pub(crate) fn set_recv_timeout(fd: BorrowedFd<'_>, t: Duration) -> Result<()> {
    rustix::net::sockopt::set_socket_timeout(fd, rustix::net::sockopt::Timeout::Recv, Some(t))
}

/// What [`poll_fds`] reports per descriptor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Ready {
    /// Data (or EOF) can be read.
    pub readable: bool,
    /// The peer closed (`POLLHUP`/`POLLRDHUP`/`POLLERR`).
    pub hup: bool,
}

/// Polls descriptors for readability and hang-up. `None` waits forever. Returns one [`Ready`]
/// per descriptor; all false on timeout. Allocates nothing (it runs on the sleep path of every
/// wait).
pub(crate) fn poll_fds<const N: usize>(
    fds: [BorrowedFd<'_>; N],
    timeout: Option<Duration>,
) -> Result<[Ready; N]> {
    let mut pfds = fds.map(|fd| PollFd::from_borrowed_fd(fd, PollFlags::IN | PollFlags::RDHUP));
    let ts = timeout.map(|t| rustix::time::Timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: t.subsec_nanos() as _,
    });
    match rustix::event::poll(&mut pfds, ts.as_ref()) {
        Ok(_) | Err(Errno::INTR) => {}
        Err(e) => return Err(e),
    }
    Ok(pfds.map(|p| {
        let r = p.revents();
        Ready {
            readable: r.contains(PollFlags::IN),
            hup: r.intersects(PollFlags::HUP | PollFlags::RDHUP | PollFlags::ERR),
        }
    }))
}

/// True when the peer of the connected socket `fd` has closed its end (no waiting).
pub(crate) fn peer_hung_up(fd: BorrowedFd<'_>) -> bool {
    poll_fds([fd], Some(Duration::ZERO))
        .map(|r| r[0].hup)
        .unwrap_or(true)
}

/// Seals that a connection memfd must carry before a peer maps it: nobody can change its size,
/// so no access inside the checked size can ever raise SIGBUS.
fn required_seals() -> SealFlags {
    SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL
}

/// A close-on-exec memfd of `size` bytes, sealed against resizing.
pub(crate) fn memfd_sealed(name: &str, size: usize) -> Result<OwnedFd> {
    let fd = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
    rustix::fs::ftruncate(&fd, size as u64)?;
    rustix::fs::fcntl_add_seals(&fd, required_seals())?;
    Ok(fd)
}

/// Checks that a memfd received from a peer is exactly `size` bytes and sealed against resizing.
pub(crate) fn check_memfd(fd: BorrowedFd<'_>, size: usize) -> Result<()> {
    let seals = rustix::fs::fcntl_get_seals(fd)?;
    if !seals.contains(SealFlags::SHRINK | SealFlags::GROW) {
        return Err(Errno::PERM);
    }
    let st = rustix::fs::fstat(fd)?;
    if st.st_size as u64 != size as u64 {
        return Err(Errno::INVAL);
    }
    Ok(())
}

/// An owned `MAP_SHARED` read-write mapping of a whole sealed memfd, pre-faulted.
///
/// In fuzzing and unit-test builds the mapping sits between two inaccessible guard pages, so an
/// access that runs past either end faults at once instead of silently reaching a neighbouring
/// mapping (the kernel tends to place mappings next to each other).
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    /// Bytes of `PROT_NONE` guard before and after the mapping (0 in normal builds).
    guard: usize,
}

/// Guard size around a [`Mapping`]: one page in fuzzing and unit-test builds, none otherwise.
const GUARD: usize = if cfg!(any(fuzzing, test)) { 4096 } else { 0 };

// SAFETY: a Mapping is a plain address range; all access to its contents goes through atomics
// or through raw-pointer copies whose synchronisation the queue layer establishes.
unsafe impl Send for Mapping {}
// SAFETY: see the Send impl; shared references only hand out the base pointer.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps all `len` bytes of `fd`, which the caller has created with [`memfd_sealed`] or
    /// checked with [`check_memfd`] to be exactly `len` bytes and unshrinkable.
    pub(crate) fn map(fd: BorrowedFd<'_>, len: usize) -> Result<Mapping> {
        if GUARD != 0 {
            return Mapping::map_guarded(fd, len);
        }
        // SAFETY:
        // 1. a null hint lets the kernel pick a fresh range, so no existing mapping is replaced;
        // 2. the fd is a memfd of exactly `len` bytes sealed against shrinking (caller), so every
        //    byte of the range stays backed for the mapping's lifetime.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                fd,
                0,
            )?
        };
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or(Errno::NOMEM)?;
        Ok(Mapping { ptr, len, guard: 0 })
    }

    /// [`Mapping::map`] with [`GUARD`] bytes of `PROT_NONE` on each side: an inaccessible range
    /// is reserved first and the memfd is mapped over its middle.
    fn map_guarded(fd: BorrowedFd<'_>, len: usize) -> Result<Mapping> {
        let total = len.checked_add(2 * GUARD).ok_or(Errno::NOMEM)?;
        // SAFETY: a null hint lets the kernel pick a fresh range, so no existing mapping is
        // replaced; the range is inaccessible and only reserves addresses.
        let base = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                total,
                ProtFlags::empty(),
                MapFlags::PRIVATE | MapFlags::NORESERVE,
            )?
        };
        // SAFETY:
        // 1. `base + GUARD .. base + GUARD + len` lies inside the reservation made above, which
        //    this function owns, so MAP_FIXED replaces nothing but that reservation;
        // 2. the fd is a memfd of exactly `len` bytes sealed against shrinking (caller), so every
        //    byte of the range stays backed for the mapping's lifetime.
        let mapped = unsafe {
            rustix::mm::mmap(
                base.cast::<u8>().add(GUARD).cast(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED | MapFlags::FIXED,
                fd,
                0,
            )
        };
        match mapped {
            Ok(ptr) => {
                let ptr = NonNull::new(ptr.cast::<u8>()).ok_or(Errno::NOMEM)?;
                Ok(Mapping {
                    ptr,
                    len,
                    guard: GUARD,
                })
            }
            Err(e) => {
                // SAFETY: exactly the reservation made above, which nothing else uses.
                unsafe {
                    let _ = rustix::mm::munmap(base, total);
                }
                Err(e)
            }
        }
    }

    /// Pre-faults `[offset, offset + len)` (clamped to the mapping) for writing with one
    /// syscall instead of one page fault per page. Best effort: older kernels lack it, and the
    /// pages then fault in on first use as usual.
    pub(crate) fn populate(&self, offset: usize, len: usize) {
        let start = offset.min(self.len);
        let len = len.min(self.len - start);
        if len == 0 {
            return;
        }
        // SAFETY: the range lies inside this mapping (clamped above) and MADV_POPULATE_WRITE
        // only faults pages in: it neither changes their contents nor the mapping.
        unsafe {
            let _ = rustix::mm::madvise(
                self.ptr.as_ptr().add(start).cast(),
                len,
                rustix::mm::Advice::LinuxPopulateWrite,
            );
        }
    }

    /// Base address of the mapping.
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Copies `dst.len()` bytes at `offset` out of the mapping. `INVAL` when the range is not
    /// inside it. For tests and fuzzing, which look at the shared memory as a peer would.
    #[cfg(any(fuzzing, test))]
    pub(crate) fn read_at(&self, offset: usize, dst: &mut [u8]) -> Result<()> {
        let end = offset.checked_add(dst.len()).ok_or(Errno::INVAL)?;
        if end > self.len {
            return Err(Errno::INVAL);
        }
        // SAFETY:
        // 1. `offset + dst.len() <= len` (checked above), so the source range is inside the
        //    mapping, which lives as long as `self`;
        // 2. `dst` is private memory, so the ranges cannot overlap;
        // 3. the mapping holds plain bytes and atomics that any process may change at any time;
        //    this crate never keeps a reference to them (module invariant), so a copy is a read
        //    like the peer's.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.ptr.as_ptr().add(offset),
                dst.as_mut_ptr(),
                dst.len(),
            );
        }
        Ok(())
    }

    /// Copies `src` into the mapping at `offset`, exactly as a peer process sharing it could.
    /// `INVAL` when the range is not inside it. For tests and fuzzing, which play a hostile peer.
    #[cfg(any(fuzzing, test))]
    pub(crate) fn write_at(&self, offset: usize, src: &[u8]) -> Result<()> {
        let end = offset.checked_add(src.len()).ok_or(Errno::INVAL)?;
        if end > self.len {
            return Err(Errno::INVAL);
        }
        // SAFETY:
        // 1. `offset + src.len() <= len` (checked above), so the destination range is inside
        //    the mapping, which lives as long as `self`;
        // 2. `src` is private memory, so the ranges cannot overlap;
        // 3. the peer may write any byte of the mapping at any time, so every user of it copies
        //    or uses atomics and never holds a reference to these bytes (module invariant): this
        //    write is one the peer could have made.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.as_ptr().add(offset), src.len());
        }
        Ok(())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr - guard .. ptr + len + guard` is exactly the range this Mapping reserved
        // or mapped (guard is 0 without guard pages), and nothing borrows from the mapping beyond
        // the Mapping's lifetime (the queue layer holds it in the same Arc as its users).
        unsafe {
            let _ = rustix::mm::munmap(
                self.ptr.as_ptr().sub(self.guard).cast(),
                self.len + 2 * self.guard,
            );
        }
    }
}

/// Sleeps while `*word == expected`, at most `timeout`. Returns `Ok(true)` when woken or when the
/// value already differed, `Ok(false)` on timeout.
pub(crate) fn futex_wait(
    word: &AtomicU32,
    expected: u32,
    timeout: Option<Duration>,
) -> Result<bool> {
    use rustix::thread::futex;
    let ts = timeout.map(|t| rustix::time::Timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: t.subsec_nanos() as _,
    });
    // Not FUTEX_PRIVATE_FLAG: the word lives in a MAP_SHARED mapping and the waker may be
    // another process.
    match futex::wait(word, futex::Flags::empty(), expected, ts.as_ref()) {
        Ok(()) | Err(Errno::AGAIN) | Err(Errno::INTR) => Ok(true),
        Err(Errno::TIMEDOUT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Wakes up to `n` sleepers on `word` (in any process).
pub(crate) fn futex_wake(word: &AtomicU32, n: u32) {
    use rustix::thread::futex;
    let _ = futex::wake(word, futex::Flags::empty(), n);
}

/// CLOCK_MONOTONIC in milliseconds (from the vDSO, no syscall).
pub(crate) fn monotonic_ms() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1000 + t.tv_nsec as u64 / 1_000_000
}

/// Bumped in every forked child, so per-thread caches of kernel ids are refreshed there.
static CHILD_GEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

extern "C" fn on_fork_child() {
    // Relaxed: the child runs single-threaded here; later loads in this thread see it.
    CHILD_GEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// The calling thread's kernel id, cached per thread (it is read on every ring lock; a
/// `pthread_atfork` child handler invalidates the cache in a forked child, whose thread has a
/// new id).
pub(crate) fn gettid() -> u32 {
    use std::cell::Cell;
    use std::sync::atomic::Ordering;
    // Not a `Once`: a fork while another thread is inside `call_once` leaves the child's copy
    // "running" forever, and the child's first ring lock would hang on it. pthread_atfork is
    // serialised with fork by libc; threads racing here may register the handler more than
    // once, which only bumps the generation more than once. A thread caches its id only after
    // registration has completed (its own, or one it saw finished), so a fork by any thread
    // with a cached id runs the handler.
    static REGISTERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    thread_local! {
        static TID: Cell<(u64, u32)> = const { Cell::new((0, 0)) };
    }
    // SYNC POINT with the Release store below: a thread that sees true sees a registered handler.
    if !REGISTERED.load(Ordering::Acquire) {
        // SAFETY: pthread_atfork only records the function pointer; `on_fork_child` is an
        // extern "C" fn with no arguments that only bumps an atomic (async-signal-safe).
        unsafe {
            libc::pthread_atfork(None, None, Some(on_fork_child));
        }
        REGISTERED.store(true, Ordering::Release);
    }
    // Relaxed: see `on_fork_child`.
    let gen = CHILD_GEN.load(Ordering::Relaxed);
    TID.with(|c| {
        let (g, tid) = c.get();
        if g == gen {
            return tid;
        }
        let tid = rustix::thread::gettid().as_raw_nonzero().get() as u32;
        c.set((gen, tid));
        tid
    })
}

/// The calling process's id.
pub(crate) fn getpid() -> u32 {
    rustix::process::getpid().as_raw_nonzero().get() as u32
}

/// The calling process's real user id.
pub(crate) fn getuid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// True while the thread or process `id` exists (signal 0 probe; EPERM still means alive).
pub(crate) fn id_alive(id: u32) -> bool {
    let Some(pid) = rustix::process::Pid::from_raw(id as i32) else {
        return false;
    };
    !matches!(rustix::process::test_kill_process(pid), Err(Errno::SRCH))
}

/// An eventfd used to wake a thread blocked in [`poll_fds`].
#[derive(Debug)]
pub(crate) struct EventFd(OwnedFd);

impl EventFd {
    /// A new close-on-exec, nonblocking eventfd.
    pub(crate) fn new() -> Result<EventFd> {
        rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
        )
        .map(EventFd)
    }

    /// Makes the eventfd readable.
    pub(crate) fn signal(&self) {
        poke(self.fd());
    }

    /// Makes the eventfd unreadable again; true if it had been signalled.
    pub(crate) fn clear(&self) -> bool {
        let mut b = [0u8; 8];
        matches!(rustix::io::read(&self.0, &mut b), Ok(8))
    }

    /// The descriptor to poll.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// A readiness descriptor for one connection end: an epoll instance that becomes readable when
/// its eventfd is signalled (the peer published data) or the control socket reports hang-up.
#[derive(Debug)]
pub(crate) struct Readiness {
    epoll: OwnedFd,
    event: EventFd,
}

impl Readiness {
    /// Watches a new eventfd and the control socket `ctl`.
    pub(crate) fn new(ctl: BorrowedFd<'_>) -> Result<Readiness> {
        use rustix::event::epoll;
        let event = EventFd::new()?;
        let ep = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        epoll::add(
            &ep,
            event.fd(),
            epoll::EventData::new_u64(0),
            epoll::EventFlags::IN,
        )?;
        // Hang-up and errors are always reported; RDHUP adds the peer's shutdown.
        epoll::add(
            &ep,
            ctl,
            epoll::EventData::new_u64(1),
            epoll::EventFlags::RDHUP,
        )?;
        Ok(Readiness { epoll: ep, event })
    }

    /// The descriptor to poll.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }

    /// The eventfd the peer signals.
    pub(crate) fn event(&self) -> &EventFd {
        &self.event
    }
}

/// Adds 1 to an eventfd: ours ([`EventFd::signal`]) or one a peer sent for its readiness
/// descriptor, which was made nonblocking when it arrived ([`set_nonblocking`]), so this never
/// waits, whatever a hostile peer sent.
pub(crate) fn poke(fd: BorrowedFd<'_>) {
    let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
}

/// Sets `O_NONBLOCK` on `fd`'s open file description.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> Result<()> {
    let fl = rustix::fs::fcntl_getfl(fd)?;
    rustix::fs::fcntl_setfl(fd, fl | rustix::fs::OFlags::NONBLOCK)
}

/// Registers `handler` to run in the parent before every `fork()`.
pub(crate) fn at_fork_prepare(handler: extern "C" fn()) {
    // SAFETY: pthread_atfork only records the function pointers; `handler` is an extern "C" fn
    // with no arguments as required, and the other two handlers are absent.
    unsafe {
        libc::pthread_atfork(Some(handler), None, None);
    }
}

// ---------------------------------------------------------------------------------------------
// Kernel pipes (anonymous pipes) and handing descriptors to child processes.

/// A close-on-exec kernel pipe: `(read end, write end)`.
pub(crate) fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
}

/// Sets a pipe's kernel buffer to at least `size` bytes (the kernel rounds up to a power-of-two
/// number of pages). Returns the size in effect.
pub(crate) fn set_pipe_size(fd: BorrowedFd<'_>, size: usize) -> Result<usize> {
    rustix::pipe::fcntl_setpipe_size(fd, size)
}

/// Bytes waiting in a pipe (FIONREAD).
pub(crate) fn bytes_available(fd: BorrowedFd<'_>) -> Result<u64> {
    rustix::io::ioctl_fionread(fd)
}

/// `read(2)`, retried on EINTR.
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize> {
    loop {
        match rustix::io::read(fd, &mut *buf) {
            Err(Errno::INTR) => continue,
            r => return r,
        }
    }
}

/// Copies up to `buf.len()` bytes from the front of the pipe `fd` without consuming them: the
/// bytes are duplicated into a scratch pipe with `tee(2)` and read from there.
pub(crate) fn pipe_peek(fd: BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize> {
    if buf.is_empty() {
        return Ok(0);
    }
    let (r, w) = pipe()?;
    // The scratch pipe must be able to hold what the caller asks for (up to the kernel's
    // unprivileged limit); a smaller peek is still correct, just shorter.
    if buf.len() > 65536 {
        let _ = set_pipe_size(w.as_fd(), buf.len().min(1 << 20));
    }
    let n = match rustix::pipe::tee(fd, &w, buf.len(), rustix::pipe::SpliceFlags::NONBLOCK) {
        Ok(n) => n,
        Err(Errno::AGAIN) => 0,
        Err(e) => return Err(e),
    };
    let mut got = 0;
    while got < n {
        match read(r.as_fd(), &mut buf[got..n])? {
            0 => break,
            k => got += k,
        }
    }
    Ok(got)
}

/// `write(2)` that reports a reader-less pipe as `EPIPE` without raising SIGPIPE in the
/// process: SIGPIPE is blocked in this thread for the call, and a SIGPIPE the call itself raised
/// is consumed before the mask is restored. Retried on EINTR.
pub(crate) fn write_nosigpipe(fd: BorrowedFd<'_>, data: &[u8]) -> Result<usize> {
    // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialise it before use.
    let mut pipe_set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut pending: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to local sigset_t values; these calls only touch the signal mask of
    // the calling thread and the pending set.
    let was_pending = unsafe {
        libc::sigemptyset(&mut pipe_set);
        libc::sigaddset(&mut pipe_set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &pipe_set, &mut old);
        libc::sigpending(&mut pending);
        libc::sigismember(&pending, libc::SIGPIPE) == 1
    };
    let r = loop {
        match rustix::io::write(fd, data) {
            Err(Errno::INTR) => continue,
            r => break r,
        }
    };
    if r == Err(Errno::PIPE) && !was_pending {
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: valid pointers; consumes the SIGPIPE this write raised (it is blocked, so it is
        // pending for this thread) so that it never reaches the process once unblocked.
        unsafe {
            while libc::sigtimedwait(&pipe_set, std::ptr::null_mut(), &zero) == -1
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
            {}
        }
    }
    // SAFETY: restores the mask saved above for this thread.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
    r
}

/// Sets or clears close-on-exec (a handle's "inheritable" flag, W140).
pub(crate) fn set_cloexec(fd: BorrowedFd<'_>, cloexec: bool) -> Result<()> {
    let flags = if cloexec {
        rustix::io::FdFlags::CLOEXEC
    } else {
        rustix::io::FdFlags::empty()
    };
    rustix::io::fcntl_setfd(fd, flags)
}

/// A close-on-exec duplicate numbered at least `min`.
pub(crate) fn dup_at_least(fd: BorrowedFd<'_>, min: i32) -> Result<OwnedFd> {
    rustix::io::fcntl_dupfd_cloexec(fd, min)
}

/// Arranges for `fd` to appear as descriptor `target` (without close-on-exec) in the program
/// `cmd` runs; `fd` stays owned by the command until it is dropped.
pub(crate) fn command_pass_fd(cmd: &mut std::process::Command, fd: OwnedFd, target: i32) {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let src = fd.as_raw_fd();
    // SAFETY: the closure runs in the forked child before exec and only calls dup2 and fcntl,
    // which are async-signal-safe; it allocates nothing and takes no lock. `fd` is moved into
    // the closure, so `src` stays open in the parent until the command is dropped, and the child
    // inherits it.
    unsafe {
        cmd.pre_exec(move || {
            let _keep = &fd;
            if src == target {
                if libc::fcntl(target, libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(src, target) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Takes ownership of descriptor `n`, inherited from the parent process, after checking that it
/// is an open pipe (or socket) and that it was not taken before in this process. The descriptor
/// is made close-on-exec, so it is not passed further by accident.
pub(crate) fn take_inherited_pipe(n: i32) -> Result<OwnedFd> {
    use std::sync::Mutex;
    static TAKEN: Mutex<Vec<i32>> = Mutex::new(Vec::new());
    if n < 0 {
        return Err(Errno::BADF);
    }
    let mut taken = TAKEN.lock().unwrap_or_else(|p| p.into_inner());
    if taken.contains(&n) {
        return Err(Errno::BADF);
    }
    // SAFETY: F_GETFD on any number is harmless; it fails with EBADF when nothing is open there.
    if unsafe { libc::fcntl(n, libc::F_GETFD) } == -1 {
        return Err(Errno::BADF);
    }
    // SAFETY: `n` is open (checked above) and stays open while `probe` is used, since only this
    // function, holding TAKEN, closes it (by never giving it up twice).
    let probe = unsafe { BorrowedFd::borrow_raw(n) };
    let st = rustix::fs::fstat(probe)?;
    let ft = rustix::fs::FileType::from_raw_mode(st.st_mode);
    if ft != rustix::fs::FileType::Fifo && ft != rustix::fs::FileType::Socket {
        return Err(Errno::NOTSUP);
    }
    set_cloexec(probe, true)?;
    taken.push(n);
    // SAFETY: `n` is open (fstat succeeded), it came from the parent for this purpose (the
    // caller's contract, named by the environment variable), and TAKEN makes sure no second
    // OwnedFd is ever built for it in this process.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(n) })
}

/// The CPU this thread is running on (a hint: it may move at any time).
pub(crate) fn current_cpu() -> u32 {
    // SAFETY: sched_getcpu takes no arguments and touches no memory of ours; glibc answers
    // from the rseq area or the vDSO, without a syscall on current kernels.
    let c = unsafe { libc::sched_getcpu() };
    u32::try_from(c).unwrap_or(u32::MAX)
}

/// How many CPUs this process may run on (its affinity mask), read once. Waiters only spin when
/// this is above one: with a single usable CPU the peer cannot run while we spin.
pub(crate) fn usable_cpus() -> u32 {
    use std::sync::atomic::Ordering;
    static CPUS: AtomicU32 = AtomicU32::new(0);
    // Relaxed: a cached constant; two threads computing it at once store the same value.
    let c = CPUS.load(Ordering::Relaxed);
    if c != 0 {
        return c;
    }
    let n = rustix::thread::sched_getaffinity(None)
        .map(|s| s.count())
        .unwrap_or(1)
        .max(1);
    CPUS.store(n, Ordering::Relaxed);
    n
}
