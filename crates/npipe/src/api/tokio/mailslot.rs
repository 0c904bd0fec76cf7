//! `npipe::tokio::Mailslot`: the reader of a mailslot for tokio, woken when the creating
//! process's acceptor thread moves a message into the store (an npipe extension: tokio has no
//! mailslots).

use std::io;
use std::task::Poll;

use super::driver::{self, Hub};
use crate::error::code::ERROR_INSUFFICIENT_BUFFER;
use crate::error::with_raw_code;
use crate::nonblocking::Readiness;

/// A mailslot (its server, reading end) whose reads are futures.
///
/// Writers stay [`MailslotWriter`](crate::MailslotWriter)s: a write never waits (a full queue
/// fails at once with `ERROR_NOT_ENOUGH_QUOTA`), so it needs no async form.
///
/// Readiness: each write lands in the mailslot's socket; the acceptor thread of the process
/// that created the mailslot moves it into the shared store and, when a read came back pending
/// (armed), signals the mailslot's readiness eventfd, which tokio polls. A read that finds the
/// store empty arms it and looks once more. Only the creating process runs that acceptor, so a
/// copy of the mailslot inherited by a forked child gets no signals here.
pub struct Mailslot {
    inner: crate::Mailslot,
    hub: Hub,
}

/// The blocking mailslot's one line (name, read timeout).
impl std::fmt::Debug for Mailslot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.inner, f)
    }
}

impl Mailslot {
    /// Creates a mailslot with the default options ([`MailslotOptions`](crate::MailslotOptions)).
    ///
    /// # Errors
    /// Those of [`crate::Mailslot::create`], and outside a tokio runtime with I/O enabled.
    pub fn create(name: &str) -> io::Result<Mailslot> {
        Mailslot::from_std(crate::Mailslot::create(name).map_err(with_raw_code)?)
    }

    /// Wraps a mailslot of the blocking API (registering its readiness eventfd with the
    /// current runtime). Its read timeout does not apply to the async reads: use
    /// `tokio::time::timeout`.
    ///
    /// # Errors
    /// Outside a tokio runtime (a runtime without I/O enabled panics, as for tokio's own types).
    pub fn from_std(inner: crate::Mailslot) -> io::Result<Mailslot> {
        let sig = inner.end.signal().map_err(with_raw_code)?;
        let hub = Hub::new(&Readiness::for_driver(sig))?;
        Ok(Mailslot { inner, hub })
    }

    /// The blocking-API mailslot underneath (its `info` never waits; its `read` would block a
    /// runtime thread).
    pub fn get_ref(&self) -> &crate::Mailslot {
        &self.inner
    }

    /// Reads the next whole message into `buf`, waiting for one; returns its length (0 for an
    /// empty message).
    ///
    /// # Errors
    /// `ERROR_INSUFFICIENT_BUFFER` (kind `InvalidInput`) when `buf` is shorter than the
    /// message, which stays queued.
    ///
    /// # Cancel safety
    /// Cancel safe: a message is taken in the poll that returns it.
    #[doc(alias = "ReadFile")]
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let seen = self.hub.gen();
            let mut contended = false;
            match self.inner.end.read_step(buf, &mut contended) {
                Poll::Ready(r) => return r.map_err(with_raw_code),
                Poll::Pending if contended => driver::contended().await,
                Poll::Pending => self.hub.wait(seen).await?,
            }
        }
    }

    /// Reads the next whole message into a new vector, waiting for one. Cancel safe.
    ///
    /// # Errors
    /// `ERROR_SEM_TIMEOUT` (121) after the mailslot's read timeout, as
    /// [`crate::Mailslot::read`].
    ///
    /// # Examples
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let name = format!(r"\\.\mailslot\npipe-doc-tokio-{}", std::process::id());
    /// let slot = npipe::tokio::Mailslot::create(&name)?;
    /// let writer = npipe::MailslotWriter::open(&name)?;
    /// let reader = tokio::spawn(async move { slot.recv().await });
    /// writer.send(b"hello")?;
    /// assert_eq!(reader.await.unwrap()?, b"hello");
    /// # Ok(()) }
    /// ```
    pub async fn recv(&self) -> io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        loop {
            match self.read(&mut buf).await {
                Ok(n) => {
                    buf.truncate(n);
                    return Ok(buf);
                }
                Err(e) if crate::win32_code(&e) == ERROR_INSUFFICIENT_BUFFER => {
                    // Another reader may have taken it meanwhile: ask for the next size.
                    let want = self.inner.info()?.next_size.unwrap_or(0) as usize;
                    buf.resize(want.max(buf.len() * 2).max(64), 0);
                }
                Err(e) => return Err(e),
            }
        }
    }
}
