//! Anonymous pipes (CreatePipe) on kernel pipes.
//!
//! Contract (W-numbers from docs/WINDOWS-BEHAVIOUR.md):
//! - byte type; the read end is the server end, the write end the client end; `nSize` is the
//!   quota and 0 means 4096; one instance (W135);
//! - after the last write end closes (inherited copies included) the remaining data is read
//!   normally, then reads fail with ERROR_BROKEN_PIPE (W137);
//! - the kernel buffer holds at least `nSize` bytes, so a write of up to `nSize` bytes completes
//!   with no reader; a larger write blocks until a reader drains it (W138);
//! - a write after the read end closed fails with ERROR_NO_DATA, and never raises SIGPIPE (W139);
//! - both ends are close-on-exec until the caller makes one inheritable (W140).
//!
//! A kernel pipe rather than the shared-memory queue: an end handed to a child process must work
//! with plain `read(2)`/`write(2)` (a child's stdin/stdout), and the kernel already gives
//! exactly the EOF-after-the-last-writer rule across processes. Departure: the kernel rounds the
//! buffer up to a power-of-two number of pages (at least 4096 bytes), so a write larger than
//! `nSize` but within that rounding completes without a reader.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::pipe::{err, os_err};
use crate::error::code::*;
use crate::sys;

/// The quota `nSize = 0` stands for.
pub(crate) const DEFAULT_SIZE: u32 = 4096;

/// One end of an anonymous pipe.
#[derive(Debug)]
pub(crate) struct AnonEnd {
    fd: OwnedFd,
    quota: u32,
    read_end: bool,
}

const NAME: &str = "an anonymous pipe";

/// CreatePipe: `(read end, write end)` with quota `size` (0 means 4096).
pub(crate) fn create(size: u32) -> io::Result<(AnonEnd, AnonEnd)> {
    let mut quota = if size == 0 { DEFAULT_SIZE } else { size };
    let (r, w) = sys::pipe().map_err(|e| os_err(e, "pipe", NAME))?;
    let fd = w.as_fd();
    // A new pipe holds 64 KiB, or a page or two for a user past pipe-user-pages-soft.
    let now = sys::pipe_size(fd).unwrap_or(65536);
    if quota as usize > now {
        // Above the unprivileged limit (/proc/sys/fs/pipe-max-size, 1 MiB by default), or past
        // the user's soft limit, the kernel refuses: the pipe gets the largest buffer allowed
        // instead, and the quota is what it holds, so a write the quota lets complete never
        // blocks (W138; nSize is a suggestion on Windows too).
        let held = sys::set_pipe_size(fd, quota as usize)
            .or_else(|_| {
                let max = sys::pipe_max_size().ok_or(sys::Errno::INVAL)?;
                sys::set_pipe_size(fd, max)
            })
            .or_else(|_| sys::pipe_size(fd))
            .unwrap_or(now);
        quota = quota.min(u32::try_from(held).unwrap_or(u32::MAX));
    }
    Ok((
        AnonEnd {
            fd: r,
            quota,
            read_end: true,
        },
        AnonEnd {
            fd: w,
            quota,
            read_end: false,
        },
    ))
}

impl AnonEnd {
    /// Wraps a descriptor received from a parent process (see the API's `from_fd`).
    pub(crate) fn from_fd(fd: OwnedFd, read_end: bool) -> AnonEnd {
        AnonEnd {
            fd,
            quota: DEFAULT_SIZE,
            read_end,
        }
    }

    /// Whether this is the read (server) end.
    pub(crate) fn is_read_end(&self) -> bool {
        self.read_end
    }

    /// The quota given at creation (0 replaced by 4096; above what the system lets a pipe
    /// hold, what it holds).
    pub(crate) fn quota(&self) -> u32 {
        self.quota
    }

    /// The descriptor.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Gives up the descriptor.
    pub(crate) fn into_fd(self) -> OwnedFd {
        self.fd
    }

    fn check(&self, want_read: bool) -> io::Result<()> {
        if self.read_end != want_read {
            let what = if want_read { "read from" } else { "write to" };
            return Err(err(
                ERROR_ACCESS_DENIED,
                format!("cannot {what} this end of {NAME}"),
            ));
        }
        Ok(())
    }

    /// Reads what is there (blocking until something is). `Ok(0)` with a non-empty buffer is
    /// end of file: every write end is closed (W137). A read of no bytes waits as a read of
    /// some would, then takes nothing: `Ok(0)` once data waits, ERROR_BROKEN_PIPE once every
    /// write end is closed with nothing left, as a zero-byte ReadFile does on Windows (the
    /// readiness wait of libuv and of programs like it; W78 for named pipes).
    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.check(true)?;
        if buf.is_empty() {
            let fd = self.fd.as_fd();
            // PIPE_NOWAIT: a look, not a wait (W107).
            let nowait = self.is_nowait()?;
            let wait = nowait.then_some(std::time::Duration::ZERO);
            loop {
                let ready = sys::poll_fds([fd], wait).map_err(|e| os_err(e, "poll", NAME))?;
                let avail = sys::bytes_available(fd).map_err(|e| os_err(e, "FIONREAD", NAME))?;
                if avail > 0 {
                    return Ok(0);
                }
                if ready[0].hup {
                    return Err(err(
                        ERROR_BROKEN_PIPE,
                        format!("every write end of {NAME} is closed"),
                    ));
                }
                if nowait {
                    return Err(no_data());
                }
                // Another reader of the same end took the data between the wake-up and the
                // count: wait again.
            }
        }
        match sys::read(self.fd.as_fd(), buf) {
            Err(sys::Errno::AGAIN) => Err(no_data()),
            r => r.map_err(|e| os_err(e, "read", NAME)),
        }
    }

    /// Whether the end is in PIPE_NOWAIT mode: its open file description is nonblocking
    /// (shared, as a Windows file object's mode is, with the handles duplicated or inherited
    /// from it).
    pub(crate) fn is_nowait(&self) -> io::Result<bool> {
        sys::is_nonblocking(self.fd.as_fd()).map_err(|e| os_err(e, "fcntl", NAME))
    }

    /// GetNamedPipeHandleState's mode bits: PIPE_NOWAIT (1) or not; always byte read mode.
    pub(crate) fn mode_bits(&self) -> io::Result<u32> {
        Ok(self.is_nowait()? as u32)
    }

    /// SetNamedPipeHandleState: PIPE_WAIT or PIPE_NOWAIT, in byte read mode. An anonymous pipe
    /// is a byte pipe: PIPE_READMODE_MESSAGE, or any other bit, is ERROR_INVALID_PARAMETER, as
    /// on a byte-type named pipe.
    pub(crate) fn set_mode_bits(&self, bits: u32) -> io::Result<()> {
        if bits & !1 != 0 {
            return Err(err(
                ERROR_INVALID_PARAMETER,
                format!("{NAME} is a byte pipe: only PIPE_WAIT and PIPE_NOWAIT apply"),
            ));
        }
        sys::set_nonblocking_to(self.fd.as_fd(), bits & 1 != 0)
            .map_err(|e| os_err(e, "fcntl", NAME))
    }

    /// Writes all of `data`, blocking while the buffer is full (W138). ERROR_NO_DATA once the
    /// read end is closed (W139).
    pub(crate) fn write(&self, data: &[u8]) -> io::Result<usize> {
        self.check(false)?;
        if data.is_empty() {
            // write(2) of nothing succeeds whatever the read end does; Windows' fails once
            // the read end is closed, as any write does (W139). A closed read end shows as
            // an error condition on the write end.
            let gone = sys::poll_fds([self.fd.as_fd()], Some(std::time::Duration::ZERO))
                .map(|r| r[0].hup)
                .unwrap_or(false);
            if gone {
                return Err(err(
                    ERROR_NO_DATA,
                    format!("the read end of {NAME} is closed"),
                ));
            }
            return Ok(0);
        }
        let mut off = 0;
        while off < data.len() {
            match sys::write_nosigpipe(self.fd.as_fd(), &data[off..]) {
                Ok(n) => off += n,
                // PIPE_NOWAIT: the write returns with what fitted. Departure: Windows writes
                // nothing when the whole write does not fit (W108); the kernel pipe under an
                // anonymous pipe takes a part of a write larger than PIPE_BUF.
                Err(sys::Errno::AGAIN) => return Ok(off),
                Err(sys::Errno::PIPE) => {
                    return Err(err(
                        ERROR_NO_DATA,
                        format!("the read end of {NAME} is closed"),
                    ))
                }
                Err(e) => return Err(os_err(e, "write", NAME)),
            }
        }
        Ok(off)
    }

    /// PeekNamedPipe: bytes copied and bytes available. ERROR_BROKEN_PIPE when the pipe is empty
    /// and every write end is closed.
    pub(crate) fn peek(&self, buf: Option<&mut [u8]>) -> io::Result<(u32, u32)> {
        self.check(true)?;
        let avail =
            sys::bytes_available(self.fd.as_fd()).map_err(|e| os_err(e, "FIONREAD", NAME))?;
        if avail == 0 {
            let hup = sys::poll_fds([self.fd.as_fd()], Some(std::time::Duration::ZERO))
                .map(|r| r[0].hup && !r[0].readable)
                .unwrap_or(false);
            if hup {
                return Err(err(
                    ERROR_BROKEN_PIPE,
                    format!("every write end of {NAME} is closed"),
                ));
            }
        }
        let read = match buf {
            Some(b) if avail > 0 => {
                let n = b.len().min(avail as usize);
                sys::pipe_peek(self.fd.as_fd(), &mut b[..n]).map_err(|e| os_err(e, "tee", NAME))?
            }
            _ => 0,
        };
        Ok((read as u32, avail.min(u32::MAX as u64) as u32))
    }

    /// FlushFileBuffers on the write end: waits until the reader has taken every byte, or fails
    /// with ERROR_BROKEN_PIPE when the read end closes first. The kernel has no completion
    /// signal for this, so it re-checks every millisecond.
    pub(crate) fn flush(&self) -> io::Result<()> {
        self.check(false)?;
        loop {
            let left =
                sys::bytes_available(self.fd.as_fd()).map_err(|e| os_err(e, "FIONREAD", NAME))?;
            if left == 0 {
                return Ok(());
            }
            if sys::poll_fds([self.fd.as_fd()], Some(std::time::Duration::ZERO))
                .map(|r| r[0].hup)
                .unwrap_or(true)
            {
                return Err(err(
                    ERROR_BROKEN_PIPE,
                    format!("the read end of {NAME} closed before reading everything"),
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// DuplicateHandle: another close-on-exec descriptor for the same end.
    pub(crate) fn try_clone(&self) -> io::Result<AnonEnd> {
        Ok(AnonEnd {
            fd: sys::dup_at_least(self.fd.as_fd(), 0).map_err(|e| os_err(e, "dup", NAME))?,
            quota: self.quota,
            read_end: self.read_end,
        })
    }

    /// Makes the descriptor inheritable by programs this process executes, or not (W140).
    pub(crate) fn set_inheritable(&self, on: bool) -> io::Result<()> {
        sys::set_cloexec(self.fd.as_fd(), !on).map_err(|e| os_err(e, "fcntl", NAME))
    }
}

/// A PIPE_NOWAIT read that found nothing (W107): `WouldBlock`, as a named pipe's.
fn no_data() -> io::Error {
    crate::Error::io_kind(
        io::ErrorKind::WouldBlock,
        ERROR_NO_DATA,
        format!("{NAME} is empty (PIPE_NOWAIT)"),
    )
}
