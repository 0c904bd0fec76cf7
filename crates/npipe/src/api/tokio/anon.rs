//! Anonymous pipes as tokio's `tokio::net::unix::pipe::{Sender, Receiver}`: npipe's anonymous
//! pipes are kernel pipes (see `docs/DESIGN.md`), so tokio's own pipe types drive them.

use std::io;
use std::os::fd::OwnedFd;

use ::tokio::net::unix::pipe::{Receiver, Sender};

impl crate::AnonReader {
    /// This read end as tokio's [`Receiver`] (`AsyncRead`, readiness, `try_read`).
    ///
    /// The descriptor's open file description becomes nonblocking, which every copy of the end
    /// shares (a copy a child process inherited included). Errors are tokio's: plain OS errors,
    /// not Win32 codes (the end of the stream is `Ok(0)`).
    ///
    /// # Errors
    /// Those of tokio's `Receiver::from_owned_fd`.
    ///
    /// # Panics
    /// Outside a tokio runtime with I/O enabled (tokio's rule for its pipes).
    pub fn into_tokio(self) -> io::Result<Receiver> {
        Receiver::from_owned_fd(OwnedFd::from(self))
    }
}

impl crate::AnonWriter {
    /// This write end as tokio's [`Sender`] (`AsyncWrite`, readiness, `try_write`).
    ///
    /// As [`AnonReader::into_tokio`](crate::AnonReader::into_tokio): nonblocking for every
    /// copy, tokio's errors (a write with no reader left fails with `BrokenPipe`, `EPIPE`,
    /// where npipe's own write reports ERROR_NO_DATA).
    ///
    /// # Errors
    /// Those of tokio's `Sender::from_owned_fd`.
    ///
    /// # Panics
    /// Outside a tokio runtime with I/O enabled (tokio's rule for its pipes).
    pub fn into_tokio(self) -> io::Result<Sender> {
        Sender::from_owned_fd(OwnedFd::from(self))
    }
}
