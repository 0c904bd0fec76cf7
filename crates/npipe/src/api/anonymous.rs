//! Anonymous pipes: [`create_pipe`] (CreatePipe), and handing an end to a child process.
//!
//! Both ends are close-on-exec, so a child never inherits an end by accident: the classic
//! Windows mistake of a child holding a copy of the write end (so the reader never sees end of
//! file) cannot happen unless an end is passed on purpose, through [`Stdio`] or
//! [`CommandExt::pass_fd`].

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::process::{Command, Stdio};

use super::{HandleState, PeekInfo, PipeInfo, PipeMode, ReadMode};
use crate::error::{code::*, Error};
use crate::semantics::anon::{self, AnonEnd};
use crate::sys;

/// Creates an anonymous pipe: a byte stream from the [`AnonWriter`] to the [`AnonReader`].
/// `size` is the buffer quota (`nSize`; 0 means 4096, W135): writes of up to `size` bytes
/// complete without a reader (W138). Above what the system lets an unprivileged pipe hold
/// (`/proc/sys/fs/pipe-max-size`, 1 MiB by default) the quota is that limit, as `info()`'s
/// buffer sizes report (on Windows too `nSize` is a suggestion).
///
/// # Errors
/// OS errors when no descriptor or memory is left (`ERROR_NOT_ENOUGH_MEMORY` (8) and the
/// like, through [`win32_code`](crate::win32_code)).
///
/// # Examples
/// A child's standard output into a pipe; the reader sees end of file when the child, the
/// last holder of the write end, exits (W137):
/// ```
/// use std::io::Read;
/// use std::process::Command;
///
/// let (mut reader, writer) = npipe::create_pipe(0)?;
/// let mut child = Command::new("echo").arg("hello").stdout(writer).spawn()?;
/// let mut out = String::new();
/// reader.read_to_string(&mut out)?;
/// assert_eq!(out, "hello\n");
/// child.wait()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[doc(alias = "CreatePipe")]
pub fn create_pipe(size: u32) -> io::Result<(AnonReader, AnonWriter)> {
    let (r, w) = anon::create(size)?;
    Ok((AnonReader { end: r }, AnonWriter { end: w }))
}

fn info_of(end: &AnonEnd) -> PipeInfo {
    PipeInfo {
        server_end: end.is_read_end(),
        mode: PipeMode::Byte,
        out_buffer_size: end.quota(),
        in_buffer_size: end.quota(),
        max_instances: 1,
    }
}

fn from_env(var: &str, read_end: bool) -> io::Result<AnonEnd> {
    let bad = |what: String| Error::io(ERROR_INVALID_HANDLE, what);
    let v = std::env::var(var).map_err(|_| bad(format!("the environment has no {var}")))?;
    let n: RawFd = v
        .trim()
        .parse()
        .map_err(|_| bad(format!("{var}={v:?} is not a descriptor number")))?;
    crate::semantics::install_fork_handlers();
    let fd = sys::take_inherited_pipe(n)
        .map_err(|e| bad(format!("{var}={n} is not an open pipe descriptor ({e})")))?;
    Ok(AnonEnd::from_fd(fd, read_end))
}

fn from_owned(fd: OwnedFd, read_end: bool) -> io::Result<AnonEnd> {
    if !sys::is_pipe_fd(fd.as_fd()) {
        return Err(Error::io(
            ERROR_INVALID_HANDLE,
            format!("descriptor {} is not a pipe or socket", fd.as_raw_fd()),
        ));
    }
    sys::set_cloexec(fd.as_fd(), true)
        .map_err(|e| Error::io(ERROR_INVALID_HANDLE, format!("fcntl: {e}")))?;
    Ok(AnonEnd::from_fd(fd, read_end))
}

/// The read end of an anonymous pipe (the server end: `GetNamedPipeInfo` reports
/// `PIPE_SERVER_END`). `read` returns `Ok(0)` once every write end, in every process, is closed
/// and the data is drained (Windows: `ERROR_BROKEN_PIPE`).
pub struct AnonReader {
    end: AnonEnd,
}

/// The write end of an anonymous pipe (the client end). Writing after the read end closed fails
/// with `ERROR_NO_DATA` (`io::ErrorKind::BrokenPipe`); SIGPIPE is never raised.
pub struct AnonWriter {
    end: AnonEnd,
}

/// GetNamedPipeHandleState of an anonymous end: byte read mode, one instance, and whether it
/// is PIPE_NOWAIT.
fn state_of(end: &AnonEnd) -> io::Result<HandleState> {
    Ok(HandleState {
        read_mode: ReadMode::Byte,
        nowait: end.mode_bits()? & 1 != 0,
        instances: 1,
    })
}

fn debug_end(f: &mut fmt::Formatter<'_>, what: &str, end: &AnonEnd) -> fmt::Result {
    f.debug_struct(what)
        .field("fd", &end.fd().as_raw_fd())
        .field("size", &end.quota())
        .finish()
}

/// One line: the descriptor and the buffer size (`nSize`).
impl fmt::Debug for AnonReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_end(f, "AnonReader", &self.end)
    }
}

/// One line: the descriptor and the buffer size (`nSize`).
impl fmt::Debug for AnonWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        debug_end(f, "AnonWriter", &self.end)
    }
}

impl AnonReader {
    /// `GetNamedPipeHandleState`: byte read mode, one instance, and whether the end is
    /// PIPE_NOWAIT (an anonymous pipe is a byte-type pipe with one instance on Windows).
    ///
    /// # Errors
    /// OS errors of `fcntl` only.
    #[doc(alias = "GetNamedPipeHandleState")]
    pub fn handle_state(&self) -> io::Result<HandleState> {
        state_of(&self.end)
    }

    /// `SetNamedPipeHandleState`: PIPE_WAIT (0) or PIPE_NOWAIT (1). In PIPE_NOWAIT mode a read
    /// of an empty pipe fails at once with `ERROR_NO_DATA` (232) instead of waiting (W107), and
    /// a write returns at once with the count of what fitted. Departure: Windows writes
    /// nothing when the whole write does not fit (W108); the kernel pipe takes a part of a
    /// write larger than 4096 bytes (`PIPE_BUF`). The mode belongs to the open pipe end,
    /// shared by the handles duplicated or inherited from it, as a Windows file object's is.
    ///
    /// # Errors
    /// `ERROR_INVALID_PARAMETER` (87) for PIPE_READMODE_MESSAGE or any other bit: an anonymous
    /// pipe is a byte pipe.
    #[doc(alias = "SetNamedPipeHandleState")]
    pub fn set_mode_bits(&self, bits: u32) -> io::Result<()> {
        self.end.set_mode_bits(bits)
    }

    /// Copies up to `buf.len()` bytes without consuming them; `None` only asks how many bytes
    /// wait. Never waits.
    ///
    /// # Errors
    /// `ERROR_BROKEN_PIPE` (109) when the pipe is empty and every writer is gone (W88).
    #[doc(alias = "PeekNamedPipe")]
    pub fn peek(&self, buf: Option<&mut [u8]>) -> io::Result<PeekInfo> {
        let (read, available) = self.end.peek(buf)?;
        Ok(PeekInfo {
            read,
            available,
            left_this_message: 0u32.wrapping_sub(read),
        })
    }

    /// `GetNamedPipeInfo`: server end, byte type, both quotas `nSize`, one instance (W135).
    ///
    /// Unlike the named pipe ends' `info`, this cannot fail: an anonymous end has no close
    /// short of being dropped, and no peer to ask.
    #[doc(alias = "GetNamedPipeInfo")]
    pub fn info(&self) -> PipeInfo {
        info_of(&self.end)
    }

    /// Another handle to the same end (`DuplicateHandle`), also close-on-exec.
    ///
    /// # Errors
    /// OS errors of `dup` (no descriptor left).
    pub fn try_clone(&self) -> io::Result<AnonReader> {
        Ok(AnonReader {
            end: self.end.try_clone()?,
        })
    }

    /// Makes the descriptor inheritable across `exec` (`bInheritHandle`), or not.
    /// [`CommandExt::pass_fd`] is the safer way to hand an end to one child.
    ///
    /// # Errors
    /// OS errors of `fcntl`.
    pub fn set_inheritable(&self, on: bool) -> io::Result<()> {
        self.end.set_inheritable(on)
    }

    /// In a child process: takes the read end a parent passed with [`CommandExt::pass_fd`],
    /// whose descriptor number is in the environment variable `var`.
    ///
    /// # Errors
    /// `ERROR_INVALID_HANDLE` (6) if the variable is missing, is not a number, names a
    /// descriptor that is not an open pipe, or was taken already.
    pub fn from_env(var: &str) -> io::Result<AnonReader> {
        Ok(AnonReader {
            end: from_env(var, true)?,
        })
    }

    /// Takes a descriptor this process already owns (a kernel pipe or a socket, for example
    /// standard input) as the read end of an anonymous pipe; it is made close-on-exec.
    ///
    /// # Errors
    /// `ERROR_INVALID_HANDLE` (6) for any other kind of descriptor.
    pub fn from_fd(fd: OwnedFd) -> io::Result<AnonReader> {
        Ok(AnonReader {
            end: from_owned(fd, true)?,
        })
    }
}

impl AnonWriter {
    /// `GetNamedPipeHandleState`, as [`AnonReader::handle_state`].
    ///
    /// # Errors
    /// OS errors of `fcntl` only.
    #[doc(alias = "GetNamedPipeHandleState")]
    pub fn handle_state(&self) -> io::Result<HandleState> {
        state_of(&self.end)
    }

    /// `SetNamedPipeHandleState`, as [`AnonReader::set_mode_bits`]: in PIPE_NOWAIT mode a
    /// write returns at once with the count of what fitted.
    ///
    /// # Errors
    /// `ERROR_INVALID_PARAMETER` (87) for any bit but PIPE_NOWAIT.
    #[doc(alias = "SetNamedPipeHandleState")]
    pub fn set_mode_bits(&self, bits: u32) -> io::Result<()> {
        self.end.set_mode_bits(bits)
    }

    /// `GetNamedPipeInfo`: client end, byte type, both quotas `nSize`, one instance (W135).
    /// Cannot fail (see [`AnonReader::info`]).
    #[doc(alias = "GetNamedPipeInfo")]
    pub fn info(&self) -> PipeInfo {
        info_of(&self.end)
    }

    /// Another handle to the same end (`DuplicateHandle`), also close-on-exec. End of file
    /// reaches the reader only after every copy is closed (W137).
    ///
    /// # Errors
    /// OS errors of `dup` (no descriptor left).
    pub fn try_clone(&self) -> io::Result<AnonWriter> {
        Ok(AnonWriter {
            end: self.end.try_clone()?,
        })
    }

    /// Makes the descriptor inheritable across `exec` (`bInheritHandle`), or not.
    /// [`CommandExt::pass_fd`] is the safer way to hand an end to one child.
    ///
    /// # Errors
    /// OS errors of `fcntl`.
    pub fn set_inheritable(&self, on: bool) -> io::Result<()> {
        self.end.set_inheritable(on)
    }

    /// Waits until the reader has read everything written so far (`FlushFileBuffers`).
    ///
    /// # Errors
    /// `ERROR_BROKEN_PIPE` (109) if the read end closes first.
    #[doc(alias = "FlushFileBuffers")]
    pub fn flush_buffers(&self) -> io::Result<()> {
        self.end.flush()
    }

    /// In a child process: takes the write end a parent passed with [`CommandExt::pass_fd`]
    /// (see [`AnonReader::from_env`]).
    ///
    /// # Errors
    /// As [`AnonReader::from_env`].
    pub fn from_env(var: &str) -> io::Result<AnonWriter> {
        Ok(AnonWriter {
            end: from_env(var, false)?,
        })
    }

    /// Takes a descriptor this process already owns (a kernel pipe or a socket, for example
    /// standard output) as the write end of an anonymous pipe (see [`AnonReader::from_fd`]).
    ///
    /// # Errors
    /// `ERROR_INVALID_HANDLE` (6) for a descriptor that is not a pipe or socket.
    pub fn from_fd(fd: OwnedFd) -> io::Result<AnonWriter> {
        Ok(AnonWriter {
            end: from_owned(fd, false)?,
        })
    }
}

impl io::Read for &AnonReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.end.read(buf)
    }
}

impl io::Read for AnonReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.end.read(buf)
    }
}

/// A write completes whole (blocking while the buffer is full), as `WriteFile` does.
impl io::Write for &AnonWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.end.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A write completes whole (blocking while the buffer is full), as `WriteFile` does.
impl io::Write for AnonWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.end.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsFd for AnonReader {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.end.fd()
    }
}

impl AsFd for AnonWriter {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.end.fd()
    }
}

impl AsRawFd for AnonReader {
    fn as_raw_fd(&self) -> RawFd {
        self.end.fd().as_raw_fd()
    }
}

impl AsRawFd for AnonWriter {
    fn as_raw_fd(&self) -> RawFd {
        self.end.fd().as_raw_fd()
    }
}

impl From<AnonReader> for OwnedFd {
    fn from(r: AnonReader) -> OwnedFd {
        r.end.into_fd()
    }
}

impl From<AnonWriter> for OwnedFd {
    fn from(w: AnonWriter) -> OwnedFd {
        w.end.into_fd()
    }
}

/// The child's stdin (or any stdio slot) reads from this end.
impl From<AnonReader> for Stdio {
    fn from(r: AnonReader) -> Stdio {
        Stdio::from(OwnedFd::from(r))
    }
}

/// The child's stdout or stderr writes into this end.
impl From<AnonWriter> for Stdio {
    fn from(w: AnonWriter) -> Stdio {
        Stdio::from(OwnedFd::from(w))
    }
}

/// Hands a pipe end (or any descriptor) to a child process at a chosen descriptor number.
pub trait CommandExt: sealed::Sealed {
    /// The program this command runs finds `end` open as descriptor `child_fd` (0 to 255,
    /// without close-on-exec), and the environment variable `env_var` set to that number (the
    /// child can call [`AnonReader::from_env`] / [`AnonWriter::from_env`]). Nothing else this
    /// process has open leaks into the child: npipe's descriptors are all close-on-exec.
    ///
    /// `end` is duplicated now; drop the original whenever you like. The duplicate lives until
    /// the `Command` is dropped, so drop the `Command` after spawning for the reader to see end
    /// of file when the child exits.
    ///
    /// # Errors
    /// `ERROR_INVALID_PARAMETER` (87) for `child_fd` outside 0..=255 or an `env_var` that is
    /// empty or holds `=` or NUL; `ERROR_NOT_ENOUGH_MEMORY` (8) when the descriptor cannot be
    /// duplicated.
    ///
    /// # Examples
    /// The child writes to descriptor 3 while its standard output stays its own; an npipe child
    /// would call `AnonWriter::from_env("RESULT_FD")` instead of using the number.
    /// ```
    /// use npipe::CommandExt;
    /// use std::io::Read;
    /// use std::process::Command;
    ///
    /// let (mut reader, writer) = npipe::create_pipe(0)?;
    /// let mut cmd = Command::new("sh");
    /// cmd.args(["-c", r#"echo "fd $RESULT_FD" >&3"#]);
    /// cmd.pass_fd(&writer, 3, "RESULT_FD")?;
    /// drop(writer);
    /// let mut child = cmd.spawn()?;
    /// drop(cmd); // its duplicate of the end, so the reader sees end of file
    /// let mut got = String::new();
    /// reader.read_to_string(&mut got)?;
    /// assert_eq!(got, "fd 3\n");
    /// child.wait()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn pass_fd(
        &mut self,
        end: impl AsFd,
        child_fd: RawFd,
        env_var: &str,
    ) -> io::Result<&mut Command>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for std::process::Command {}
}

/// Descriptor numbers a child may ask for; the parent-side duplicates live above them, so no
/// duplicate is ever overwritten by another end's `dup2` in the child.
const CHILD_FD_LIMIT: RawFd = 256;

impl CommandExt for Command {
    fn pass_fd(
        &mut self,
        end: impl AsFd,
        child_fd: RawFd,
        env_var: &str,
    ) -> io::Result<&mut Command> {
        if !(0..CHILD_FD_LIMIT).contains(&child_fd) {
            return Err(Error::io(
                ERROR_INVALID_PARAMETER,
                format!("descriptor number {child_fd} for {env_var} is not in 0..{CHILD_FD_LIMIT}"),
            ));
        }
        if env_var.is_empty() || env_var.contains(['=', '\0']) {
            return Err(Error::io(
                ERROR_INVALID_PARAMETER,
                format!("{env_var:?} is not a valid environment variable name"),
            ));
        }
        let dup = sys::dup_at_least(end.as_fd(), CHILD_FD_LIMIT).map_err(|e| {
            Error::io(
                ERROR_NOT_ENOUGH_MEMORY,
                format!("cannot duplicate the descriptor for {env_var}: {e}"),
            )
        })?;
        sys::command_pass_fd(self, dup, child_fd);
        self.env(env_var, child_fd.to_string());
        Ok(self)
    }
}
