//! Async named pipes for tokio, mirroring [`tokio::net::windows::named_pipe`]: the builders,
//! the two ends and their methods have the same names, signatures and defaults, so a program
//! written for tokio's Windows pipes ports to Linux by changing its `use` line.
//!
//! ```
//! // use tokio::net::windows::named_pipe::{ClientOptions, ServerOptions};
//! use npipe::tokio::{ClientOptions, ServerOptions};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let pipe_name = format!(r"\\.\pipe\npipe-doc-tokio-{}", std::process::id());
//! let mut server = ServerOptions::new().first_pipe_instance(true).create(&pipe_name)?;
//! let mut client = ClientOptions::new().open(&pipe_name)?;
//! server.connect().await?;
//! client.write_all(b"ping").await?;
//! let mut buf = [0u8; 4];
//! server.read_exact(&mut buf).await?;
//! assert_eq!(&buf, b"ping");
//! # Ok(()) }
//! ```
//!
//! The crate's `tokio` feature gates this module; its examples run with it
//! (`cargo test -p npipe --doc --features tokio`).
//!
//! This module is the crate's `tokio` feature. Every operation runs on npipe's steps that
//! never block ([`crate::nonblocking`]), driven by the end's readiness descriptor registered
//! with tokio's reactor: no operation blocks a runtime thread, with the one exception of
//! [`ClientOptions::open`] (below).
//!
//! # Readiness
//!
//! One eventfd per end (the *readiness descriptor*, also the ends' [`AsFd`](std::os::fd::AsFd))
//! becomes readable when a pending operation of the end may get further. Who signals it, and
//! when (nothing is paid while no operation waits: the signals are armed one-shot by the
//! operation that found nothing to do, see `docs/DESIGN.md`):
//!
//! - *readable*: the peer's writer, at its next publish after a read of this end armed it;
//! - *writable* (room in the quota, or in the ring): the peer's reader, at its next consume
//!   after a write of this end armed it;
//! - *a client arrived* ([`NamedPipeServer::connect`]): the server's acceptor, on every change
//!   of the instance (no arming needed);
//! - *hang-up*: the peer's close or disconnect, or npipe's hang-up watcher when the peer process
//!   dies (within milliseconds), or this end's own close;
//! - *a free instance appeared* for a client whose open found every instance busy:
//!   [`wait_named_pipe`] parks in the server's queue and the server's acceptor answers on the
//!   parked socket, which tokio polls, when an instance is created or listens again. tokio's
//!   documented retry loop (sleep, open again) works unchanged too.
//!
//! [`readable`](NamedPipeServer::readable) and [`writable`](NamedPipeServer::writable) return at
//! once unless the last `try_read` / `try_write` came back with `WouldBlock`; then they wait
//! for the next signal. As with tokio, readiness may be a false positive: the next `try_*` then
//! returns `WouldBlock` again.
//!
//! # Reads, writes and message mode
//!
//! - A read takes a whole message, or in byte read mode what is there, or nothing. In message
//!   read mode a buffer shorter than the message takes its start, and the rest stays for the
//!   next read: `try_read` and `AsyncRead` return the count as tokio does on Windows (mio
//!   treats `ERROR_MORE_DATA` as success), and [`try_read_msg`](NamedPipeServer::try_read_msg) /
//!   [`read_msg`](NamedPipeServer::read_msg) return a [`MsgLen`] whose `left > 0` is
//!   `ERROR_MORE_DATA`. A read is cut to what the shared ring holds (4 MiB and up): a longer
//!   message comes in parts the same way.
//! - A read that finds the peer closed (and everything read) returns `Ok(0)`, as `std::io` does.
//! - A write is done once its bytes are all in the pipe; if the reader is behind by more than
//!   the quota it stays in flight until the quota lets it complete, and the next write, flush
//!   or shutdown waits for it (one write in flight, as mio keeps on Windows). On a message pipe
//!   each write is one message, and a vectored write writes its first non-empty slice, as
//!   tokio's does there (its `is_write_vectored` is false): the next slices go as the next
//!   messages of a `write_all_buf`-style loop, with the same boundaries as on Windows. On a
//!   byte pipe a vectored write takes all its slices at once.
//! - A server instance that no client has connected to yet neither reads nor writes: its reads
//!   and writes wait (`try_*`: `WouldBlock`) until a client arrives, as tokio's do on Windows
//!   until [`connect`](NamedPipeServer::connect) (npipe's also go on when a client arrives
//!   without it).
//! - A message larger than the shared ring (4 MiB and up) cannot move in steps that may run on
//!   different threads: it is written by a dedicated thread, never a runtime worker, and is in
//!   flight like any other write.
//!
//! # Cancellation
//!
//! Every future may be dropped at any await point; what that leaves:
//!
//! - [`NamedPipeServer::connect`]: the instance keeps listening; a client that arrives meanwhile
//!   stays connected, and the next `connect` returns at once. No instance is leaked: the
//!   instance lives as long as the `NamedPipeServer`.
//! - reads (`read`, [`read_msg`](NamedPipeServer::read_msg), `readable`, `ready`): a read takes
//!   its message in the same poll that returns it, so a dropped read has taken nothing and the
//!   next read gets the whole message.
//! - writes (`write`, `writable`, `ready`, `flush`): a write that has not returned has put
//!   nothing in the pipe. One that has returned is delivered whole, even if the end is dropped
//!   while it waits for the quota (its wait ends; the data stays readable after the close).
//!   `write_all` is not cancel safe (as in tokio): parts already returned are delivered.
//!
//! # Errors
//!
//! Errors carry their Win32 code the way tokio's do on Windows where Linux allows it:
//! `e.raw_os_error() == Some(ERROR_PIPE_BUSY as i32)` holds for every pipe-specific code
//! (above 133: busy 231, no data 232, not connected 233, connected 535, listening 536, aborted
//! 995) and for `ERROR_FILE_NOT_FOUND` (2, which is also Linux's `ENOENT`: `kind()` is
//! `NotFound`). Codes that are also Linux errnos of another meaning (access denied 5, broken
//! pipe 109, timeout 121, invalid parameter 87, ...) keep npipe's error, whose `kind()`
//! (`PermissionDenied`, `BrokenPipe`, ...) and message are right, and whose `raw_os_error()` is
//! `None`. [`win32_code`](crate::win32_code) returns the code of every one of them. The full
//! table and its trade-off (a raw code's text is "Unknown error 231" and its kind
//! uncategorized) are at [`crate::error::with_raw_code`].
//!
//! # Differences from tokio on Windows
//!
//! - [`ClientOptions::open`] is synchronous, as in tokio; it makes one round trip with the
//!   server process's acceptor thread, which answers at once without waiting for the server's
//!   application (bounded at 10 s if the server process is stopped).
//! - No security attributes (`create_with_security_attributes_raw`, `write_dac`, `write_owner`,
//!   `access_system_security`): npipe admits clients of the server's
//!   user and root, or whom the extension [`ServerOptions::access_policy`] names (see
//!   `docs/SECURITY.md`). No raw handles: the ends give their readiness descriptor as `AsFd`.
//! - `try_io` and `async_io` are not provided. `try_read_buf` reads through a 16 KiB scratch
//!   buffer per call.
//! - [`ServerOptions::reject_remote_clients`] (default true, as in tokio) refuses the SMB
//!   clients that an [`SmbExposure`](crate::SmbExposure) relays; local clients are never
//!   remote.
//! - Extensions: [`read_msg`](NamedPipeServer::read_msg) / `try_read_msg` (ERROR_MORE_DATA
//!   visible), [`wait_named_pipe`], `from_std` / `get_ref` (the blocking-API end).
//!
//! # Mailslots and anonymous pipes
//!
//! [`Mailslot`] reads the next message of a mailslot as a future. Anonymous pipes are kernel
//! pipes: [`AnonReader::into_tokio`](crate::AnonReader::into_tokio) and
//! [`AnonWriter::into_tokio`](crate::AnonWriter::into_tokio) give tokio's own
//! `tokio::net::unix::pipe::{Receiver, Sender}`.
//!
//! [`tokio::net::windows::named_pipe`]: https://docs.rs/tokio/latest/tokio/net/windows/named_pipe/index.html

mod anon;
mod client;
mod driver;
mod io;
mod mailslot;
mod server;

pub use client::NamedPipeClient;
pub use mailslot::Mailslot;
pub use server::NamedPipeServer;

use std::ffi::OsStr;

use crate::error::code::{ERROR_INVALID_NAME, ERROR_INVALID_PARAMETER};
use crate::error::with_raw_code;
use crate::{Direction, MsgLen, ReadMode};

/// Waits until an instance of the pipe `name` listens (`WaitNamedPipe` without a timeout: wrap
/// it in `tokio::time::timeout`). An npipe extension: tokio's Windows API has none, and its
/// documented client sleeps and retries instead, which works here too.
///
/// The client parks in the server's queue and the server's acceptor answers the moment an
/// instance is created or listens again (a push, no polling): the parked socket is registered
/// with tokio. As on Windows, success reserves nothing: the next open may still find every
/// instance busy (W34), so open in a loop. When the server keeps as many waiting clients as it
/// will (512), this asks again every 20 ms.
///
/// # Errors
/// `ERROR_FILE_NOT_FOUND` (kind `NotFound`) when no such pipe exists, at once or after the
/// pipe went away during the wait.
///
/// # Cancel safety
/// Cancel safe: dropping it closes the parked connection, which the server forgets.
#[doc(alias = "WaitNamedPipeW")]
pub async fn wait_named_pipe(name: impl AsRef<OsStr>) -> std::io::Result<()> {
    use crate::semantics::pipe::{wait_begin, wait_finish, Trust, WaitBegin};
    let name = pipe_name(name.as_ref()).map_err(with_raw_code)?;
    loop {
        match wait_begin(name, Trust::default()).map_err(with_raw_code)? {
            WaitBegin::Ready => return Ok(()),
            WaitBegin::Retry => ::tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            WaitBegin::Parked(sock, _) => {
                let sock = driver::readable(sock).await?;
                if wait_finish(&sock, name) {
                    return Ok(());
                }
            }
        }
    }
}

/// The pipe mode of a named pipe, set through [`ServerOptions::pipe_mode`] (and the read mode
/// of a client, [`ClientOptions::pipe_mode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PipeMode {
    /// Data is a stream of bytes: write boundaries are not kept (`PIPE_TYPE_BYTE`).
    Byte,
    /// Each write is one message, read whole or in parts (`PIPE_TYPE_MESSAGE` with
    /// `PIPE_READMODE_MESSAGE`).
    Message,
}

/// Which end of a named pipe a handle is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PipeEnd {
    /// The client end ([`NamedPipeClient`]).
    Client,
    /// The server end ([`NamedPipeServer`]).
    Server,
}

/// Information about a named pipe ([`NamedPipeServer::info`], [`NamedPipeClient::info`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PipeInfo {
    /// The pipe type.
    pub mode: PipeMode,
    /// Which end this is.
    pub end: PipeEnd,
    /// The instance limit; 255 is `PIPE_UNLIMITED_INSTANCES`.
    pub max_instances: u32,
    /// `nOutBufferSize`: the quota from server to client.
    pub out_buffer_size: u32,
    /// `nInBufferSize`: the quota from client to server.
    pub in_buffer_size: u32,
}

impl PipeInfo {
    fn from_info(i: crate::PipeInfo) -> PipeInfo {
        PipeInfo {
            mode: match i.mode {
                crate::PipeMode::Byte => PipeMode::Byte,
                crate::PipeMode::Message => PipeMode::Message,
            },
            end: if i.server_end {
                PipeEnd::Server
            } else {
                PipeEnd::Client
            },
            max_instances: i.max_instances,
            out_buffer_size: i.out_buffer_size,
            in_buffer_size: i.in_buffer_size,
        }
    }
}

fn pipe_name(addr: &OsStr) -> std::io::Result<&str> {
    addr.to_str().ok_or_else(|| {
        crate::Error::io(
            ERROR_INVALID_NAME,
            format!("{addr:?} is not valid UTF-8, so it names no pipe"),
        )
    })
}

/// A builder for named pipe servers (`CreateNamedPipeW`), with tokio's defaults: duplex, byte
/// type, unlimited instances, 64 KiB quotas, remote clients rejected.
///
/// # Windows
/// [`tokio::net::windows::named_pipe::ServerOptions`](https://docs.rs/tokio/latest/tokio/net/windows/named_pipe/struct.ServerOptions.html)
#[derive(Debug, Clone)]
#[doc(alias = "CreateNamedPipeW")]
pub struct ServerOptions {
    access_inbound: bool,
    access_outbound: bool,
    first_pipe_instance: bool,
    pipe_mode: PipeMode,
    reject_remote_clients: bool,
    max_instances: u32,
    out_buffer_size: u32,
    in_buffer_size: u32,
    policy: Option<crate::AccessPolicy>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerOptions {
    /// A builder with the default settings.
    pub fn new() -> ServerOptions {
        ServerOptions {
            access_inbound: true,
            access_outbound: true,
            first_pipe_instance: false,
            pipe_mode: PipeMode::Byte,
            reject_remote_clients: true,
            max_instances: 255,
            out_buffer_size: 65536,
            in_buffer_size: 65536,
            policy: None,
        }
    }

    /// The pipe mode (default [`PipeMode::Byte`]); message mode also sets message read mode.
    pub fn pipe_mode(&mut self, pipe_mode: PipeMode) -> &mut Self {
        self.pipe_mode = pipe_mode;
        self
    }

    /// Whether data may flow from client to server (`PIPE_ACCESS_INBOUND`; default true).
    /// With both directions off, [`create`](Self::create) fails with
    /// `ERROR_INVALID_PARAMETER`.
    pub fn access_inbound(&mut self, allowed: bool) -> &mut Self {
        self.access_inbound = allowed;
        self
    }

    /// Whether data may flow from server to client (`PIPE_ACCESS_OUTBOUND`; default true).
    pub fn access_outbound(&mut self, allowed: bool) -> &mut Self {
        self.access_outbound = allowed;
        self
    }

    /// `FILE_FLAG_FIRST_PIPE_INSTANCE`: [`create`](Self::create) fails with
    /// `ERROR_ACCESS_DENIED` (kind `PermissionDenied`) if the pipe exists, or with
    /// `ERROR_PIPE_BUSY` if it also has all its instances, as on Windows.
    pub fn first_pipe_instance(&mut self, first: bool) -> &mut Self {
        self.first_pipe_instance = first;
        self
    }

    /// `PIPE_REJECT_REMOTE_CLIENTS` (default true): refuse remote (SMB) clients, see
    /// [`crate::ServerOptions::reject_remote_clients`].
    pub fn reject_remote_clients(&mut self, reject: bool) -> &mut Self {
        self.reject_remote_clients = reject;
        self
    }

    /// The maximum number of instances (default unlimited).
    ///
    /// # Panics
    /// If `instances` is 255 or more, as tokio does.
    #[track_caller]
    pub fn max_instances(&mut self, instances: usize) -> &mut Self {
        assert!(instances < 255, "cannot specify more than 254 instances");
        self.max_instances = instances as u32;
        self
    }

    /// `nOutBufferSize`: unread bytes from server to client before a write waits.
    pub fn out_buffer_size(&mut self, buffer: u32) -> &mut Self {
        self.out_buffer_size = buffer;
        self
    }

    /// `nInBufferSize`: unread bytes from client to server before a write waits.
    pub fn in_buffer_size(&mut self, buffer: u32) -> &mut Self {
        self.in_buffer_size = buffer;
        self
    }

    /// npipe extension: who may open the pipe (see [`crate::AccessPolicy`]); by default the
    /// server's user and root.
    pub fn access_policy(&mut self, policy: crate::AccessPolicy) -> &mut Self {
        self.policy = Some(policy);
        self
    }

    /// Creates an instance of the pipe `addr` (`\\.\pipe\NAME`), listening at once.
    ///
    /// # Errors
    /// Outside a tokio runtime (a runtime without I/O enabled panics, as for tokio's own
    /// types). `ERROR_INVALID_PARAMETER` (87) with neither direction, `ERROR_PIPE_BUSY` (231)
    /// when every instance exists, `ERROR_ACCESS_DENIED` (5) for a first instance of an
    /// existing pipe or another direction, `ERROR_INVALID_NAME` (123) for a bad name (see
    /// [Errors](self#errors) for how each shows).
    pub fn create(&self, addr: impl AsRef<OsStr>) -> std::io::Result<NamedPipeServer> {
        let direction = match (self.access_inbound, self.access_outbound) {
            (true, true) => Direction::Duplex,
            (true, false) => Direction::Inbound,
            (false, true) => Direction::Outbound,
            (false, false) => {
                return Err(with_raw_code(crate::Error::io(
                    ERROR_INVALID_PARAMETER,
                    "a pipe needs access_inbound or access_outbound",
                )))
            }
        };
        let name = pipe_name(addr.as_ref()).map_err(with_raw_code)?;
        let mode = match self.pipe_mode {
            PipeMode::Byte => crate::PipeMode::Byte,
            PipeMode::Message => crate::PipeMode::Message,
        };
        let mut opts = crate::ServerOptions::new();
        opts.direction(direction)
            .pipe_mode(mode)
            .max_instances(self.max_instances)
            .out_buffer_size(self.out_buffer_size)
            .in_buffer_size(self.in_buffer_size)
            .first_pipe_instance(self.first_pipe_instance)
            .reject_remote_clients(self.reject_remote_clients);
        if let Some(p) = &self.policy {
            opts.access_policy(p.clone());
        }
        let end = opts.create(name).map_err(with_raw_code)?;
        NamedPipeServer::from_std(end)
    }
}

/// A builder for named pipe clients (`CreateFileW` on a pipe name), with tokio's defaults:
/// read and write access, byte read mode.
///
/// # Windows
/// [`tokio::net::windows::named_pipe::ClientOptions`](https://docs.rs/tokio/latest/tokio/net/windows/named_pipe/struct.ClientOptions.html)
#[derive(Debug, Clone)]
#[doc(alias = "CreateFileW")]
pub struct ClientOptions {
    read: bool,
    write: bool,
    pipe_mode: PipeMode,
    security_qos_flags: u32,
}

/// `SECURITY_SQOS_PRESENT`.
const SECURITY_SQOS_PRESENT: u32 = 0x0010_0000;
/// `SECURITY_IDENTIFICATION`.
const SECURITY_IDENTIFICATION: u32 = 0x0001_0000;

impl Default for ClientOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientOptions {
    /// A builder with the default settings.
    pub fn new() -> ClientOptions {
        ClientOptions {
            read: true,
            write: true,
            pipe_mode: PipeMode::Byte,
            security_qos_flags: SECURITY_IDENTIFICATION | SECURITY_SQOS_PRESENT,
        }
    }

    /// `GENERIC_READ` (default true); needs an outbound or duplex pipe.
    pub fn read(&mut self, allowed: bool) -> &mut Self {
        self.read = allowed;
        self
    }

    /// `GENERIC_WRITE` (default true); needs an inbound or duplex pipe.
    pub fn write(&mut self, allowed: bool) -> &mut Self {
        self.write = allowed;
        self
    }

    /// The security quality of service flags of the open (`SECURITY_IDENTIFICATION` by
    /// default, as tokio's; `SECURITY_SQOS_PRESENT` is always added). See
    /// [`crate::ClientOptions::security_qos_flags`] for what the server gets from them.
    pub fn security_qos_flags(&mut self, flags: u32) -> &mut Self {
        self.security_qos_flags = flags | SECURITY_SQOS_PRESENT;
        self
    }

    /// The read mode of the client: [`PipeMode::Message`] switches it to message read mode
    /// after the open (`SetNamedPipeHandleState`), as tokio does.
    pub fn pipe_mode(&mut self, pipe_mode: PipeMode) -> &mut Self {
        self.pipe_mode = pipe_mode;
        self
    }

    /// Opens a client of the pipe `addr` (synchronous, as tokio's: one round trip with the
    /// server process's acceptor thread, see the [module docs](self#differences-from-tokio-on-windows)).
    ///
    /// # Errors
    /// Outside a tokio runtime (a runtime without I/O enabled panics, as for tokio's own types), as tokio's. `ERROR_FILE_NOT_FOUND` (kind
    /// `NotFound`) when no such pipe exists; `ERROR_PIPE_BUSY` when no instance listens: sleep
    /// and try again, as in tokio's example (`raw_os_error() == Some(231)`);
    /// `ERROR_ACCESS_DENIED` when the direction forbids the access.
    pub fn open(&self, addr: impl AsRef<OsStr>) -> std::io::Result<NamedPipeClient> {
        let name = pipe_name(addr.as_ref()).map_err(with_raw_code)?;
        let end = crate::ClientOptions::new()
            .read(self.read)
            .write(self.write)
            .security_qos_flags(self.security_qos_flags)
            .open(name)
            .map_err(with_raw_code)?;
        if self.pipe_mode == PipeMode::Message {
            end.set_mode(ReadMode::Message, false)
                .map_err(with_raw_code)?;
        }
        NamedPipeClient::from_std(end)
    }
}

/// The methods both ends share, with the same documentation.
macro_rules! data_methods {
    ($end:ty) => {
        /// Waits for any of the requested ready states. As with tokio, it may complete
        /// without the pipe being ready (the next `try_*` then returns `WouldBlock`); check
        /// the returned set. See the [module docs](super#readiness).
        ///
        /// Cancel safe: dropping it takes nothing.
        ///
        /// # Errors
        /// Only when the runtime's I/O driver fails (for example it has shut down): a closed
        /// or disconnected pipe is reported as ready, and the next `try_*` returns its error.
        pub async fn ready(
            &self,
            interest: ::tokio::io::Interest,
        ) -> std::io::Result<::tokio::io::Ready> {
            use ::tokio::io::Ready;
            let (rb, wb) = self.io.blocked();
            let mut ready = Ready::EMPTY;
            if interest.is_readable() && !rb {
                ready |= Ready::READABLE;
            }
            if interest.is_writable() && !wb {
                ready |= Ready::WRITABLE;
            }
            if !ready.is_empty() {
                return Ok(ready);
            }
            // Every signal reaches both registrations of the end: wait on one, and report
            // every requested state (a false positive is allowed; the next `try_*` tells).
            if interest.is_readable() {
                self.io.readable().await?;
            } else {
                self.io.writable().await?;
            }
            self.io
                .unblock(interest.is_readable(), interest.is_writable());
            Ok(super::interest_ready(interest))
        }

        /// Waits until the pipe may be readable (see [`ready`](Self::ready)); pair it with
        /// [`try_read`](Self::try_read). Cancel safe.
        ///
        /// # Errors
        /// As [`ready`](Self::ready).
        pub async fn readable(&self) -> std::io::Result<()> {
            self.io.readable().await
        }

        /// Polls for read readiness (only the last task polling it is woken, as tokio's).
        ///
        /// # Errors
        /// As [`ready`](Self::ready).
        pub fn poll_read_ready(
            &self,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            self.io.poll_read_ready(cx)
        }

        /// Reads what is there without waiting: `WouldBlock` when nothing is. In message read
        /// mode at most one message; a short buffer leaves its rest for the next read (use
        /// [`try_read_msg`](Self::try_read_msg) to see `ERROR_MORE_DATA`). `Ok(0)` when the
        /// peer closed and everything was read.
        ///
        /// # Errors
        /// `WouldBlock` when nothing is there; otherwise the errors of the blocking
        /// `recv_msg` (for example `ERROR_PIPE_NOT_CONNECTED`: `raw_os_error() == Some(233)`
        /// after a disconnect), in the [module's error style](super#errors).
        #[doc(alias = "ReadFile")]
        pub fn try_read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.io.try_read(buf)
        }

        /// [`try_read`](Self::try_read) into the first non-empty buffer.
        ///
        /// # Errors
        /// As [`try_read`](Self::try_read).
        pub fn try_read_vectored(
            &self,
            bufs: &mut [std::io::IoSliceMut<'_>],
        ) -> std::io::Result<usize> {
            match bufs.iter_mut().find(|b| !b.is_empty()) {
                Some(b) => self.io.try_read(b),
                None => Ok(0),
            }
        }

        /// [`try_read`](Self::try_read) into `buf`'s spare capacity, advancing it (tokio's
        /// `try_read_buf`). Takes at most 16 KiB per call: the rest of a longer message stays
        /// for the next read.
        ///
        /// # Errors
        /// As [`try_read`](Self::try_read).
        pub fn try_read_buf<B: bytes::BufMut>(&self, buf: &mut B) -> std::io::Result<usize> {
            self.io.try_read_buf(buf)
        }

        /// Like [`try_read`](Self::try_read), returning how much of the message is still
        /// unread (`left > 0` is `ERROR_MORE_DATA`). The peer's close is an error here
        /// (`ERROR_BROKEN_PIPE`, kind `BrokenPipe`).
        ///
        /// # Errors
        /// As [`try_read`](Self::try_read), and `ERROR_BROKEN_PIPE` (109) at the end.
        pub fn try_read_msg(&self, buf: &mut [u8]) -> std::io::Result<MsgLen> {
            self.io.try_read_msg(buf)
        }

        /// Waits for and reads one message (message read mode) or what is there (byte read
        /// mode), returning how much of the message is still unread (`left > 0` is
        /// `ERROR_MORE_DATA`, the rest stays for the next read). An npipe extension.
        ///
        /// Cancel safe: the message is taken in the poll that returns it.
        ///
        /// # Errors
        /// Those of the blocking `recv_msg` in the [module's error style](super#errors):
        /// `ERROR_BROKEN_PIPE` (109) once the peer closed and everything was read,
        /// `ERROR_PIPE_NOT_CONNECTED` (233) after a disconnect, and so on.
        ///
        /// # Examples
        /// ```
        /// use npipe::tokio::{ClientOptions, PipeMode, ServerOptions};
        ///
        /// # #[tokio::main(flavor = "current_thread")]
        /// # async fn main() -> std::io::Result<()> {
        /// let name = format!(r"\\.\pipe\npipe-doc-tokio-msg-{}", std::process::id());
        /// let server = ServerOptions::new().pipe_mode(PipeMode::Message).create(&name)?;
        /// let client = ClientOptions::new().pipe_mode(PipeMode::Message).open(&name)?;
        /// server.connect().await?;
        /// server.try_write(b"Hello World")?;
        /// let mut buf = [0u8; 5];
        /// let m = client.read_msg(&mut buf).await?;
        /// assert_eq!((&buf[..], m.left), (&b"Hello"[..], 6)); // ERROR_MORE_DATA
        /// let mut rest = [0u8; 16];
        /// let m = client.read_msg(&mut rest).await?;
        /// assert_eq!(&rest[..m.read], b" World");
        /// # Ok(()) }
        /// ```
        #[doc(alias = "ReadFile")]
        pub async fn read_msg(&self, buf: &mut [u8]) -> std::io::Result<MsgLen> {
            self.io.read_msg(buf).await
        }

        /// Waits until the pipe may be writable (see [`ready`](Self::ready)); pair it with
        /// [`try_write`](Self::try_write). Cancel safe.
        ///
        /// # Errors
        /// As [`ready`](Self::ready).
        pub async fn writable(&self) -> std::io::Result<()> {
            self.io.writable().await
        }

        /// Polls for write readiness (only the last task polling it is woken, as tokio's).
        ///
        /// # Errors
        /// As [`ready`](Self::ready).
        pub fn poll_write_ready(
            &self,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            self.io.poll_write_ready(cx)
        }

        /// Writes without waiting: the count once all of `buf` is in the pipe (one message on
        /// a message pipe; a byte pipe may take less), `WouldBlock` when nothing could go in
        /// (the write before it still waits for the quota, or there is no room).
        ///
        /// # Errors
        /// `WouldBlock` as above; otherwise the errors of the blocking `send_msg` in the
        /// [module's error style](super#errors) (`ERROR_NO_DATA`: `raw_os_error() ==
        /// Some(232)` once the peer closed, ...).
        #[doc(alias = "WriteFile")]
        pub fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
            self.io.try_write(buf)
        }

        /// [`try_write`](Self::try_write) of the slices: on a message pipe of the first
        /// non-empty one (one message, as tokio's on Windows writes), on a byte pipe of all of
        /// them at once.
        ///
        /// # Errors
        /// As [`try_write`](Self::try_write).
        pub fn try_write_vectored(&self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
            match super::vectored(bufs, self.io.end.is_message_type()) {
                super::Vectored::One(one) => self.io.try_write(one),
                super::Vectored::All(all) => self.io.try_write(&all),
            }
        }

        /// The blocking-API end underneath, for the calls that never wait (`peek`,
        /// `handle_state`, process ids). Its waiting calls would block a runtime thread.
        pub fn get_ref(&self) -> &$end {
            &self.io.end
        }
    };
}
use data_methods;

/// What a vectored write writes.
enum Vectored<'a> {
    /// One slice as it is (maybe empty).
    One(&'a [u8]),
    /// Several slices gathered into one write.
    All(Vec<u8>),
}

/// The write of `bufs`: on a message pipe its first non-empty slice, one message, as std's
/// default `write_vectored` (which tokio's Windows pipes use) writes; on a byte pipe all of
/// them, where boundaries do not exist.
fn vectored<'a>(bufs: &'a [std::io::IoSlice<'a>], message_type: bool) -> Vectored<'a> {
    let mut parts = bufs.iter().filter(|b| !b.is_empty());
    match (parts.next(), parts.next()) {
        (None, _) => Vectored::One(&[]),
        (Some(one), None) => Vectored::One(one),
        (Some(first), Some(_)) if message_type => Vectored::One(first),
        _ => {
            let mut all = Vec::with_capacity(bufs.iter().map(|b| b.len()).sum());
            for b in bufs {
                all.extend_from_slice(b);
            }
            Vectored::All(all)
        }
    }
}

fn interest_ready(interest: ::tokio::io::Interest) -> ::tokio::io::Ready {
    use ::tokio::io::Ready;
    let mut r = Ready::EMPTY;
    if interest.is_readable() {
        r |= Ready::READABLE;
    }
    if interest.is_writable() {
        r |= Ready::WRITABLE;
    }
    r
}

/// AsyncRead, AsyncWrite and the descriptor traits for one end type.
macro_rules! io_traits {
    ($t:ty) => {
        impl ::tokio::io::AsyncRead for $t {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut ::tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.io.poll_read(cx, buf)
            }
        }

        impl ::tokio::io::AsyncWrite for $t {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.io.poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                match super::vectored(bufs, self.io.end.is_message_type()) {
                    super::Vectored::One(one) => self.io.poll_write(cx, one),
                    super::Vectored::All(all) => self.io.poll_write(cx, &all),
                }
            }

            /// False on a message pipe, as tokio's on Windows: a vectored write there writes
            /// one slice (see `poll_write_vectored`).
            fn is_write_vectored(&self) -> bool {
                !self.io.end.is_message_type()
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.io.poll_flush(cx)
            }

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.io.poll_flush(cx)
            }
        }

        impl std::os::fd::AsFd for $t {
            /// The end's readiness descriptor: it polls readable when a pending operation of
            /// the end may get further (see the [module docs](super#readiness)), for any
            /// reactor. Poll it; reading it is npipe's business.
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.io.fd()
            }
        }

        impl std::os::fd::AsRawFd for $t {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(&std::os::fd::AsFd::as_fd(self))
            }
        }
    };
}
use io_traits;
