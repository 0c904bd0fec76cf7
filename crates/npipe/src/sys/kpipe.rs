//! Kernel pipes (anonymous pipes) and handing descriptors to child processes.
//!
//! # Safety
//! The signal-mask juggling of [`write_nosigpipe`] and the pre-exec hook of
//! [`command_pass_fd`] are the only raw code; each block states its obligations.
#![allow(unsafe_code)]

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::{Errno, Result};

/// A close-on-exec kernel pipe: `(read end, write end)`.
pub(crate) fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
}

/// Sets a pipe's kernel buffer to at least `size` bytes (the kernel rounds up to a power-of-two
/// number of pages). Returns the size in effect.
pub(crate) fn set_pipe_size(fd: BorrowedFd<'_>, size: usize) -> Result<usize> {
    rustix::pipe::fcntl_setpipe_size(fd, size)
}

/// The buffer size of a pipe.
pub(crate) fn pipe_size(fd: BorrowedFd<'_>) -> Result<usize> {
    rustix::pipe::fcntl_getpipe_size(fd)
}

/// The largest pipe buffer an unprivileged process may set (`/proc/sys/fs/pipe-max-size`),
/// when it can be read.
pub(crate) fn pipe_max_size() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
        .ok()?
        .trim()
        .parse()
        .ok()
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

/// Whether `fd` is a kernel pipe (FIFO) or a socket.
pub(crate) fn is_pipe_fd(fd: BorrowedFd<'_>) -> bool {
    rustix::fs::fstat(fd)
        .map(|st| {
            let ft = rustix::fs::FileType::from_raw_mode(st.st_mode);
            ft == rustix::fs::FileType::Fifo || ft == rustix::fs::FileType::Socket
        })
        .unwrap_or(false)
}

/// Descriptors [`take_inherited_pipe`] gave out in this process. One lock for the process, so
/// the fork handler can hold it (see `semantics::fork`).
pub(crate) static TAKEN: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

/// Takes ownership of descriptor `n`, inherited from the parent process, after checking that it
/// is an open pipe (or socket) and that it was not taken before in this process. The descriptor
/// is made close-on-exec, so it is not passed further by accident.
pub(crate) fn take_inherited_pipe(n: i32) -> Result<OwnedFd> {
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
