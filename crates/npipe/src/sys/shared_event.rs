//! The kernel mechanisms of named events shared across processes: the state page (one sealed
//! memfd page of atomics that every process maps), open-file-description byte-range locks on
//! that memfd (the cross-process lock and the liveness marks of waiting processes), and checks
//! on the eventfds a peer sends.
//!
//! Why OFD locks and not a robust pthread mutex in the page: every process that shares a named
//! event maps the whole page, so a lock word there is writable by any of them. glibc keeps a
//! robust mutex on a per-thread list linked *through the mutex memory* (`__list.__next`); a peer
//! that scribbles on those words makes glibc (at unlock) and the kernel (at thread exit) follow
//! pointers it chose, which is memory corruption, not an error. An OFD lock
//! (`F_OFD_SETLK`) lives in the kernel: nobody can forge or corrupt it, and it is released when
//! its open file description goes, that is when the holding process dies, without any pid.
//! Each process opens its own description of the memfd (through `/proc/self/fd`), because the
//! one that travels over `SCM_RIGHTS` is shared by every receiver.
//!
//! # Safety
//! The module invariants of `sys` apply. The page is a [`Mapping`] of a memfd checked to be
//! exactly [`EVENT_PAGE`] bytes and sealed against shrinking, so every word handed out here is
//! inside a mapping that cannot fault, aligned, and lives as long as the [`EventPage`]. Peers
//! may write any word at any time: callers only use the atomics (never references to plain
//! memory) and validate every value they load. `fcntl` lock calls get a pointer to a live,
//! fully initialised `flock` on our stack.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64};

use super::{check_memfd, memfd_sealed, Errno, Mapping, Result};

/// Size of the state page of a named event.
pub(crate) const EVENT_PAGE: usize = 4096;

/// The state page of one named event, mapped read-write and shared.
#[derive(Debug)]
pub(crate) struct EventPage {
    map: Mapping,
}

impl EventPage {
    /// A new zeroed page and the memfd behind it (close-on-exec, sealed against resizing), to
    /// send to other processes.
    pub(crate) fn create() -> Result<(EventPage, OwnedFd)> {
        let fd = memfd_sealed("npipe-event", EVENT_PAGE)?;
        let map = Mapping::map(fd.as_fd(), EVENT_PAGE)?;
        Ok((EventPage { map }, fd))
    }

    /// Maps a page a peer sent, after checking that it is a memfd of exactly [`EVENT_PAGE`]
    /// bytes sealed against shrinking and growing (so no access can ever fault).
    pub(crate) fn attach(fd: BorrowedFd<'_>) -> Result<EventPage> {
        check_memfd(fd, EVENT_PAGE)?;
        Ok(EventPage {
            map: Mapping::map(fd, EVENT_PAGE)?,
        })
    }

    /// The 32-bit word at byte `off` (4-aligned, inside the page).
    pub(crate) fn u32_at(&self, off: usize) -> &AtomicU32 {
        assert!(
            off.is_multiple_of(4) && off + 4 <= EVENT_PAGE,
            "event page offset {off} out of range"
        );
        // SAFETY:
        // 1. `off + 4 <= EVENT_PAGE`, the mapping's length, and the mapping is page-aligned, so
        //    the word is inside it and 4-aligned;
        // 2. the mapping lives as long as `self`, which the returned reference borrows;
        // 3. an AtomicU32 may alias memory that other processes access concurrently (the page
        //    is only ever accessed through atomics by this crate).
        unsafe { &*(self.map.as_ptr().add(off) as *const AtomicU32) }
    }

    /// The 64-bit word at byte `off` (8-aligned, inside the page).
    pub(crate) fn u64_at(&self, off: usize) -> &AtomicU64 {
        assert!(
            off.is_multiple_of(8) && off + 8 <= EVENT_PAGE,
            "event page offset {off} out of range"
        );
        // SAFETY: as in `u32_at`, with 8-byte alignment and size.
        unsafe { &*(self.map.as_ptr().add(off) as *const AtomicU64) }
    }
}

/// This process's own open file description of an event's memfd: the holder of its OFD locks.
#[derive(Debug)]
pub(crate) struct LockFile {
    fd: OwnedFd,
}

/// `/proc/self/fd/N` with a NUL, built without allocating (it also runs in a fork handler).
fn proc_fd_path(fd: i32, buf: &mut [u8; 32]) -> &CStr {
    const PREFIX: &[u8] = b"/proc/self/fd/";
    buf[..PREFIX.len()].copy_from_slice(PREFIX);
    let mut digits = [0u8; 12];
    let mut n = fd.unsigned_abs();
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut at = PREFIX.len();
    for i in (0..len).rev() {
        buf[at] = digits[i];
        at += 1;
    }
    buf[at] = 0;
    CStr::from_bytes_with_nul(&buf[..=at]).expect("one NUL at the end")
}

/// Opens a new open file description of the file behind `fd` (read-write, close-on-exec).
/// Allocates nothing.
fn reopen(fd: BorrowedFd<'_>) -> Result<OwnedFd> {
    let mut buf = [0u8; 32];
    let path = proc_fd_path(fd.as_raw_fd(), &mut buf);
    rustix::fs::open(
        path,
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
}

fn flock_at(offset: u64, kind: libc::c_int) -> libc::flock {
    // SAFETY: `flock` is a plain C struct of integers, for which all zeroes is a valid value
    // (and l_pid must be 0 for OFD locks).
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = offset as libc::off_t;
    fl.l_len = 1;
    fl
}

impl LockFile {
    /// A private description of the memfd behind `memfd` (through `/proc/self/fd`; `ENOENT`
    /// when `/proc` is not mounted).
    pub(crate) fn open(memfd: BorrowedFd<'_>) -> Result<LockFile> {
        Ok(LockFile { fd: reopen(memfd)? })
    }

    /// Replaces this description with a new one of the same file, closing the old one: what a
    /// forked child does, since it shares its parent's descriptions (and with them its locks).
    /// Allocates nothing, so it may run in a fork handler.
    pub(crate) fn reopen(&mut self) -> Result<()> {
        self.fd = reopen(self.fd.as_fd())?;
        Ok(())
    }

    fn fcntl(&self, cmd: libc::c_int, fl: &mut libc::flock) -> Result<()> {
        loop {
            // SAFETY: `fl` is a live, initialised flock for the duration of the call; the fd
            // is open (owned by self).
            let r = unsafe { libc::fcntl(self.fd.as_raw_fd(), cmd, fl as *mut libc::flock) };
            if r == 0 {
                return Ok(());
            }
            let e = Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::INVAL);
            if e != Errno::INTR {
                return Err(e);
            }
        }
    }

    /// Takes the exclusive lock on byte `offset` if no other description holds it: `Ok(false)`
    /// when one does. Never waits.
    pub(crate) fn try_lock(&self, offset: u64) -> Result<bool> {
        let mut fl = flock_at(offset, libc::F_WRLCK);
        match self.fcntl(libc::F_OFD_SETLK, &mut fl) {
            Ok(()) => Ok(true),
            Err(Errno::AGAIN) | Err(Errno::ACCESS) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Releases this description's lock on byte `offset` (nothing if it holds none).
    pub(crate) fn unlock(&self, offset: u64) {
        let mut fl = flock_at(offset, libc::F_UNLCK);
        let _ = self.fcntl(libc::F_OFD_SETLK, &mut fl);
    }

    /// Whether another open file description holds a lock on byte `offset`. A lock's holder
    /// is alive by construction: the kernel drops the lock with the last descriptor of its
    /// description, so when a process dies.
    pub(crate) fn held_elsewhere(&self, offset: u64) -> Result<bool> {
        let mut fl = flock_at(offset, libc::F_WRLCK);
        self.fcntl(libc::F_OFD_GETLK, &mut fl)?;
        Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
    }
}

/// The inode number of `fd`'s file (a memfd's is unique on the machine while it exists).
pub(crate) fn inode(fd: BorrowedFd<'_>) -> Result<u64> {
    Ok(rustix::fs::fstat(fd)?.st_ino as u64)
}

/// A new close-on-exec, nonblocking eventfd whose counter starts at `initial` (0 or 1).
pub(crate) fn eventfd_at(initial: bool) -> Result<OwnedFd> {
    rustix::event::eventfd(
        initial as u32,
        rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
    )
}

/// Empties an eventfd's counter (nonblocking: nothing happens when it is already 0).
pub(crate) fn eventfd_drain(fd: BorrowedFd<'_>) {
    let mut b = [0u8; 8];
    let _ = rustix::io::read(fd, &mut b);
}

/// Checks that a descriptor a peer sent is an eventfd (its `/proc/self/fdinfo` entry has an
/// `eventfd-count` line) and makes it nonblocking, so that reading or writing it can never
/// wait, whatever the peer does with its copy.
pub(crate) fn check_eventfd(fd: BorrowedFd<'_>) -> Result<()> {
    let path = format!("/proc/self/fdinfo/{}", fd.as_raw_fd());
    let info = std::fs::read_to_string(path).map_err(|_| Errno::NOENT)?;
    if !info.lines().any(|l| l.starts_with("eventfd-count:")) {
        return Err(Errno::INVAL);
    }
    super::set_nonblocking(fd)
}

/// Polls any number of descriptors for readability until one is ready or `deadline` passes
/// (`None`: no limit). `ready[i]` tells whether `fds[i]` is readable, hung up or in error;
/// all false on timeout. A signal resumes the wait for what is left of the same deadline.
pub(crate) fn poll_many(
    fds: &[BorrowedFd<'_>],
    deadline: Option<std::time::Instant>,
    ready: &mut Vec<bool>,
) -> Result<()> {
    use rustix::event::{PollFd, PollFlags};
    let mut pfds: Vec<PollFd<'_>> = fds
        .iter()
        .map(|fd| PollFd::from_borrowed_fd(*fd, PollFlags::IN))
        .collect();
    loop {
        let ts = deadline.map(|d| {
            let left = d.saturating_duration_since(std::time::Instant::now());
            rustix::time::Timespec {
                tv_sec: left.as_secs().min(i64::MAX as u64) as i64,
                tv_nsec: left.subsec_nanos() as _,
            }
        });
        match rustix::event::poll(&mut pfds, ts.as_ref()) {
            Ok(_) => break,
            Err(Errno::INTR) => {
                if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                    break;
                }
            }
            Err(e) => return Err(e),
        }
    }
    ready.clear();
    ready.extend(pfds.iter().map(|p| {
        p.revents()
            .intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR)
    }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_paths() {
        let mut b = [0u8; 32];
        assert_eq!(proc_fd_path(0, &mut b).to_bytes(), b"/proc/self/fd/0");
        assert_eq!(
            proc_fd_path(2_147_483_647, &mut b).to_bytes(),
            b"/proc/self/fd/2147483647"
        );
    }
}
