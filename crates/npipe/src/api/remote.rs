//! Remote pipe ends (`\\server\pipe\name`, feature `smb`): [`RemoteEnd`] adapts an
//! `npipe_smb::RemotePipe` to the client handle's calls, keeping the handle's read mode here
//! (SMB servers such as Samba refuse to set it), and the remote forms of `WaitNamedPipe` and
//! `CallNamedPipe`. Without the feature, remote names fail with ERROR_NOT_SUPPORTED.

use std::io;
#[cfg(feature = "smb")]
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
#[cfg(feature = "smb")]
use std::sync::atomic::{AtomicU32, Ordering};

use super::{MsgLen, WaitFor};
#[cfg(feature = "smb")]
use super::{PeekInfo, ReadMode};
use crate::error::code::ERROR_NOT_SUPPORTED;
#[cfg(feature = "smb")]
use crate::error::code::{ERROR_BAD_PIPE, ERROR_INVALID_PARAMETER};
use crate::error::Error;

/// The error for a remote name in a build without the `smb` feature.
#[cfg(not(feature = "smb"))]
fn no_smb(name: &str) -> io::Error {
    Error::io(
        ERROR_NOT_SUPPORTED,
        format!("{name}: remote pipes need npipe built with the `smb` feature"),
    )
}

/// A remote end: what `NamedPipeClient` holds for `\\server\pipe\name`.
#[cfg(feature = "smb")]
pub(crate) struct RemoteEnd {
    pipe: npipe_smb::RemotePipe,
    /// PIPE_READMODE_MESSAGE (2); PIPE_NOWAIT is refused.
    mode: AtomicU32,
    /// An eventfd that is never signalled, for `AsFd` only (a remote handle has no descriptor
    /// of its own).
    fd: OwnedFd,
}

#[cfg(feature = "smb")]
fn smb_err(e: npipe_smb::SmbError) -> io::Error {
    Error::io(e.win32_code(), e.message().to_string())
}

#[cfg(feature = "smb")]
impl RemoteEnd {
    /// `CreateFile` on `\\server\pipe\rest`.
    pub(crate) fn open(server: &str, rest: &str, access: u32) -> io::Result<RemoteEnd> {
        let pipe = npipe_smb::RemotePipe::open(server, rest, access).map_err(smb_err)?;
        let fd = crate::sys::eventfd_at(false).map_err(|e| {
            Error::io(
                crate::error::code::ERROR_NOT_ENOUGH_MEMORY,
                format!("{}: no eventfd: {e}", pipe.name()),
            )
        })?;
        Ok(RemoteEnd {
            pipe,
            mode: AtomicU32::new(0),
            fd,
        })
    }

    pub(crate) fn name(&self) -> &str {
        self.pipe.name()
    }

    fn message_mode(&self) -> bool {
        // Relaxed: the mode is a value of its own, ordered with nothing else.
        self.mode.load(Ordering::Relaxed) & 2 != 0
    }

    pub(crate) fn unsupported(&self, what: &str) -> io::Error {
        Error::io(
            ERROR_NOT_SUPPORTED,
            format!(
                "{}: {what} is not available on a remote (SMB) pipe",
                self.name()
            ),
        )
    }

    /// `ReadFile`. In message read mode a longer message gives `left` = 1 (`ERROR_MORE_DATA`:
    /// SMB does not say how much is left); in byte read mode it is never reported.
    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<MsgLen> {
        let t = self.pipe.read(buf).map_err(smb_err)?;
        Ok(MsgLen {
            read: t.len,
            left: (t.more && self.message_mode()) as u64,
        })
    }

    pub(crate) fn write(&self, data: &[u8]) -> io::Result<usize> {
        self.pipe.write(data).map_err(smb_err)
    }

    /// `TransactNamedPipe`: message read mode is needed, as for a local pipe (W123).
    pub(crate) fn transact(&self, request: &[u8], reply: &mut [u8]) -> io::Result<MsgLen> {
        if !self.message_mode() {
            return Err(Error::io(
                ERROR_BAD_PIPE,
                format!(
                    "{}: TransactNamedPipe needs message read mode (SetNamedPipeHandleState)",
                    self.name()
                ),
            ));
        }
        let t = self.pipe.transact(request, reply).map_err(smb_err)?;
        Ok(MsgLen {
            read: t.len,
            left: t.more as u64,
        })
    }

    pub(crate) fn peek(&self, buf: Option<&mut [u8]>) -> io::Result<PeekInfo> {
        let p = self.pipe.peek(buf).map_err(smb_err)?;
        Ok(PeekInfo {
            read: p.copied as u32,
            available: p.available,
            left_this_message: p.message_len.saturating_sub(p.copied as u32),
        })
    }

    /// `SetNamedPipeHandleState`, kept on this side: PIPE_READMODE_MESSAGE only.
    pub(crate) fn set_mode(&self, bits: u32) -> io::Result<()> {
        if bits & !3 != 0 {
            return Err(Error::io(
                ERROR_INVALID_PARAMETER,
                format!("{}: mode bits {bits:#x} are not pipe modes", self.name()),
            ));
        }
        if bits & 1 != 0 {
            return Err(self.unsupported("PIPE_NOWAIT"));
        }
        self.mode.store(bits, Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn read_mode(&self) -> ReadMode {
        if self.message_mode() {
            ReadMode::Message
        } else {
            ReadMode::Byte
        }
    }

    pub(crate) fn close(&self) {
        let _ = self.pipe.close();
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(feature = "smb")]
fn smb_wait(wait: WaitFor) -> npipe_smb::WaitTimeout {
    match wait {
        WaitFor::Default => npipe_smb::WaitTimeout::Default,
        WaitFor::Forever => npipe_smb::WaitTimeout::Forever,
        WaitFor::Timeout(d) => npipe_smb::WaitTimeout::Timeout(d),
    }
}

/// `WaitNamedPipe` on `\\server\pipe\rest`.
pub(crate) fn wait(name: &str, server: &str, rest: &str, wait: WaitFor) -> io::Result<()> {
    #[cfg(feature = "smb")]
    {
        let _ = name;
        npipe_smb::wait_named_pipe(server, rest, smb_wait(wait)).map_err(smb_err)
    }
    #[cfg(not(feature = "smb"))]
    {
        let _ = (server, rest, wait);
        Err(no_smb(name))
    }
}

/// `CallNamedPipe` on `\\server\pipe\rest`: open (waiting once when busy), message read
/// mode, transact, close.
pub(crate) fn call(
    name: &str,
    server: &str,
    rest: &str,
    request: &[u8],
    reply: &mut [u8],
    wait_for: WaitFor,
) -> io::Result<MsgLen> {
    #[cfg(feature = "smb")]
    {
        let rw = 0x8000_0000 | 0x4000_0000;
        let end = match RemoteEnd::open(server, rest, rw) {
            Err(e) if crate::error::win32_code(&e) == crate::error::code::ERROR_PIPE_BUSY => {
                wait(name, server, rest, wait_for)?;
                RemoteEnd::open(server, rest, rw)?
            }
            r => r?,
        };
        end.set_mode(2)?;
        let r = end.transact(request, reply);
        end.close();
        r
    }
    #[cfg(not(feature = "smb"))]
    {
        let _ = (server, rest, request, reply, wait_for);
        Err(no_smb(name))
    }
}

/// `CreateFile` on a remote name in a build without the feature.
#[cfg(not(feature = "smb"))]
pub(crate) fn open_unsupported(name: &str) -> io::Error {
    no_smb(name)
}
