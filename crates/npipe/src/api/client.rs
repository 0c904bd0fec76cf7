//! Named pipe clients: [`ClientOptions`] (CreateFile on a pipe name) and [`NamedPipeClient`],
//! and the calls that take a pipe name: [`wait_named_pipe`] and [`call_named_pipe`]. A handle
//! is local or remote (`\\server\pipe\name` over SMB, feature `smb`, see `remote.rs`).

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

#[cfg(feature = "smb")]
use super::remote::RemoteEnd;
use super::zerocopy::EndRef;
use super::{
    deadline, mode_bits, msg, peek_info, read_as_io, split_state, HandleState, Modes, MsgLen,
    MsgRef, MsgWriter, PeekInfo, PipeInfo, PipeMode, ReadMode,
};
use crate::semantics::namespace::split_remote;
use crate::semantics::pipe::{self, ClientEnd, Trust, WaitTimeout};
use crate::semantics::security::{GENERIC_READ, GENERIC_WRITE};

/// Builder for a client end (`CreateFileW` on a pipe name).
///
/// See [`open`](Self::open) for the client's loop on `ERROR_PIPE_BUSY`.
#[derive(Debug, Clone)]
#[doc(alias = "CreateFileW")]
pub struct ClientOptions {
    access: u32,
    sqos: u32,
    trust: Trust,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientOptions {
    /// Read and write access.
    pub fn new() -> ClientOptions {
        ClientOptions {
            access: GENERIC_READ | GENERIC_WRITE,
            sqos: 0,
            trust: Trust::default(),
        }
    }
    /// Request read access (`GENERIC_READ`); needs an outbound or duplex pipe (W22).
    pub fn read(&mut self, on: bool) -> &mut Self {
        self.set(GENERIC_READ, on)
    }
    /// Request write access (`GENERIC_WRITE`); needs an inbound or duplex pipe (W22).
    pub fn write(&mut self, on: bool) -> &mut Self {
        self.set(GENERIC_WRITE, on)
    }
    fn set(&mut self, bit: u32, on: bool) -> &mut Self {
        if on {
            self.access |= bit;
        } else {
            self.access &= !bit;
        }
        self
    }
    /// Raw Win32 desired access.
    pub fn access_mask(&mut self, mask: u32) -> &mut Self {
        self.access = mask;
        self
    }

    /// The security quality of service flags of `CreateFile`'s `dwFlagsAndAttributes`
    /// (`SECURITY_SQOS_PRESENT` with a level such as `SECURITY_IMPERSONATION`, and
    /// `SECURITY_CONTEXT_TRACKING`, `SECURITY_EFFECTIVE_ONLY`); bits outside
    /// `SECURITY_VALID_SQOS_FLAGS` are ignored. Default 0, no quality of service.
    ///
    /// With `SECURITY_SQOS_PRESENT` and static tracking (no `SECURITY_CONTEXT_TRACKING`) the
    /// server may impersonate this client as soon as it is connected, as on Windows, where
    /// the client's context is captured at the open; otherwise only once it has read from
    /// it (W133). The level is not enforced: a server that may take on this user's identity
    /// at all ([`NamedPipeServer::impersonate_client`](crate::NamedPipeServer::impersonate_client))
    /// gets it whole.
    pub fn security_qos_flags(&mut self, flags: u32) -> &mut Self {
        self.sqos = flags;
        self
    }

    /// Also accept a server running as `uid`. By default a client only talks to a server of
    /// its own user or root, whatever user the client runs as (root included): a process of
    /// another user that took the name first would otherwise receive the client's data. Use
    /// this when a service of a known other user is expected to serve the name.
    pub fn trust_server_uid(&mut self, uid: u32) -> &mut Self {
        self.trust.extra_uid = Some(uid);
        self
    }

    /// Accept only a server running as `uid` (its effective uid as the kernel recorded it at
    /// `connect()`), whatever else would be trusted: a process of any other user that took the
    /// name first is refused with ERROR_ACCESS_DENIED before anything is sent to it. See
    /// `docs/SECURITY.md`.
    pub fn require_server_uid(&mut self, uid: u32) -> &mut Self {
        self.trust.required_uid = Some(uid);
        self
    }

    /// Connects to a listening instance of `name`. The client starts in byte read mode and
    /// blocking mode whatever the server uses (W57).
    ///
    /// # Errors
    /// - `ERROR_FILE_NOT_FOUND` (2) when no such pipe exists (W7);
    /// - `ERROR_PIPE_BUSY` (231) when no instance listens: every one is connected, or waits
    ///   for a disconnect or a connect (W32, W55). Wait with [`wait_named_pipe`] and open again;
    /// - `ERROR_ACCESS_DENIED` (5) when the direction forbids the access (W22) or the server
    ///   runs as a user this client does not trust (see
    ///   [`trust_server_uid`](Self::trust_server_uid));
    /// - `ERROR_INVALID_NAME` (123) or `ERROR_FILENAME_EXCED_RANGE` (206) for a bad name;
    /// - `ERROR_SEM_TIMEOUT` (121) when the server process does not answer within 10 s,
    ///   `ERROR_BAD_PIPE` (230) for a malformed answer.
    ///
    /// # Remote pipes
    /// With the `smb` feature, `\\server\pipe\name` (a server other than `.`) opens the pipe
    /// on that server over SMB2/3 (`npipe_smb`; credentials from `npipe::smb::add_connection`
    /// or the environment; `\\host@port\pipe\name` names a port). Its own errors:
    /// `ERROR_BAD_NETPATH` (53) when the server cannot be reached, `ERROR_LOGON_FAILURE` (1326)
    /// for a wrong user name or password. Without the feature such a name fails with
    /// `ERROR_NOT_SUPPORTED` (50). The trust options do not apply to remote servers.
    ///
    /// # Examples
    /// The client's loop: an open that finds every instance busy waits for one to listen and
    /// tries again, since a successful wait reserves nothing (W34).
    /// ```
    /// use npipe::error::code::ERROR_PIPE_BUSY;
    /// use npipe::{win32_code, wait_named_pipe, ClientOptions, ServerOptions, WaitFor};
    /// use std::time::Duration;
    ///
    /// let name = format!(r"\\.\pipe\npipe-doc-busy-{}", std::process::id());
    /// let server = ServerOptions::new().max_instances(1).create(&name)?;
    /// let first = ClientOptions::new().open(&name)?; // takes the only instance
    /// # let freer = std::thread::spawn(move || -> std::io::Result<()> {
    /// #     std::thread::sleep(Duration::from_millis(30));
    /// #     drop(first);
    /// #     server.disconnect()?;
    /// #     server.connect() // listens again: the waiting client gets it
    /// # });
    /// let client = loop {
    ///     match ClientOptions::new().open(&name) {
    ///         Ok(client) => break client,
    ///         Err(e) if win32_code(&e) == ERROR_PIPE_BUSY => {
    ///             wait_named_pipe(&name, WaitFor::Timeout(Duration::from_secs(5)))?;
    ///         }
    ///         Err(e) => return Err(e),
    ///     }
    /// };
    /// # freer.join().unwrap()?;
    /// # drop(client);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open(&self, name: &str) -> io::Result<NamedPipeClient> {
        if let Some((server, rest)) = split_remote(name) {
            #[cfg(feature = "smb")]
            return RemoteEnd::open(server, rest, self.access).map(|r| NamedPipeClient {
                inner: Inner::Remote(r),
            });
            #[cfg(not(feature = "smb"))]
            {
                let _ = (server, rest);
                return Err(super::remote::open_unsupported(name));
            }
        }
        let desired = pipe::Desired {
            access: self.access,
            sqos: self.sqos,
        };
        ClientEnd::open(name, desired, self.trust).map(|end| NamedPipeClient {
            inner: Inner::Local(end),
        })
    }
}

/// A client end of a named pipe ([`ClientOptions::open`]).
///
/// It starts in byte read mode and blocking mode (W57). `Read`/`Write` are implemented for
/// `NamedPipeClient` and `&NamedPipeClient`; a read that ends on the server's close returns
/// `Ok(0)`. Once the server disconnects it, every call fails with `ERROR_PIPE_NOT_CONNECTED`
/// (233, W44); after [`close`](Self::close) with `ERROR_INVALID_HANDLE` (6).
///
/// # Examples
/// ```
/// use npipe::{ClientOptions, ServerOptions};
/// use std::io::{BufRead, BufReader, Write};
///
/// let name = format!(r"\\.\pipe\npipe-doc-client-{}", std::process::id());
/// let server = ServerOptions::new().create(&name)?;
/// let mut client = ClientOptions::new().open(&name)?;
/// client.write_all(b"one line\n")?;
/// let mut line = String::new();
/// BufReader::new(&server).read_line(&mut line)?;
/// assert_eq!(line, "one line\n");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct NamedPipeClient {
    inner: Inner,
}

/// A local end, or (feature `smb`) a remote one.
enum Inner {
    Local(ClientEnd),
    #[cfg(feature = "smb")]
    Remote(RemoteEnd),
}

/// One line: name, state, pipe type and this handle's modes (see [`NamedPipeServer`](crate::NamedPipeServer)'s).
impl fmt::Debug for NamedPipeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        #[cfg(feature = "smb")]
        if let Inner::Remote(r) = &self.inner {
            return f
                .debug_struct("NamedPipeClient")
                .field("name", &format_args!("{}", r.name()))
                .field("remote", &true)
                .field("read_mode", &r.read_mode())
                .finish();
        }
        let Some(end) = self.local() else {
            return f.write_str("NamedPipeClient");
        };
        let (state, bits) = end.summary();
        f.debug_struct("NamedPipeClient")
            .field("name", &format_args!("{}", self.name()))
            .field("state", &format_args!("{state}"))
            .field(
                "modes",
                &Modes {
                    message_type: self.is_message_type(),
                    bits,
                },
            )
            .finish()
    }
}

impl NamedPipeClient {
    /// The local end, or ERROR_NOT_SUPPORTED naming `what` for a remote one.
    pub(super) fn local_for(&self, what: &str) -> io::Result<&ClientEnd> {
        #[cfg(not(feature = "smb"))]
        let _ = what;
        match &self.inner {
            Inner::Local(end) => Ok(end),
            #[cfg(feature = "smb")]
            Inner::Remote(r) => Err(r.unsupported(what)),
        }
    }

    /// The local end, if this is one.
    pub(super) fn local(&self) -> Option<&ClientEnd> {
        match &self.inner {
            Inner::Local(end) => Some(end),
            #[cfg(feature = "smb")]
            Inner::Remote(_) => None,
        }
    }

    /// Whether this handle is a remote (SMB) pipe.
    pub fn is_remote(&self) -> bool {
        self.local().is_none()
    }

    /// Closes this end now (`CloseHandle`), even while other threads are using it: an
    /// operation in progress fails with ERROR_OPERATION_ABORTED (995), every later call with
    /// ERROR_INVALID_HANDLE (6), and the server sees the close (W113-W115). Dropping the value
    /// does the same. Calling it again does nothing.
    #[doc(alias = "CloseHandle")]
    pub fn close(&self) {
        match &self.inner {
            Inner::Local(end) => end.close(),
            #[cfg(feature = "smb")]
            Inner::Remote(r) => r.close(),
        }
    }

    /// Reserves one whole outgoing message in the shared queue, to fill in place (see
    /// [`NamedPipeServer::reserve_msg`](crate::NamedPipeServer::reserve_msg)).
    ///
    /// # Errors
    /// `ERROR_INVALID_PARAMETER` (87) when the message is larger than the queue; otherwise
    /// those of [`send_msg`](Self::send_msg).
    pub fn reserve_msg(&self, len: usize) -> io::Result<MsgWriter<'_>> {
        let end = self.local_for("reserve_msg")?;
        Ok(MsgWriter::new(end.reserve(len)?, EndRef::Client(end)))
    }

    /// The next whole message, in place (see [`NamedPipeServer::recv_in_place`](crate::NamedPipeServer::recv_in_place)).
    ///
    /// # Errors
    /// `ERROR_INSUFFICIENT_BUFFER` (122) when the message is larger than the queue or already
    /// partly read; otherwise those of [`recv_msg`](Self::recv_msg).
    pub fn recv_in_place(&self) -> io::Result<MsgRef<'_>> {
        Ok(MsgRef::new(
            self.local_for("recv_in_place")?.read_in_place()?,
        ))
    }

    /// Reads at most one message (message read mode) or gathers bytes (byte read mode)
    /// (`ReadFile`). A message longer than `buf` leaves its rest in the pipe:
    /// [`MsgLen::left`] > 0 is Windows' `ERROR_MORE_DATA` (W67; see
    /// [`NamedPipeServer::recv_msg`](crate::NamedPipeServer::recv_msg) for an example). A new client is in byte read mode (W57):
    /// call [`set_mode`](Self::set_mode) to read messages one by one.
    ///
    /// # Errors
    /// - `ERROR_BROKEN_PIPE` (109) once the server closed and everything was read (W113;
    ///   `io::Read` returns `Ok(0)` instead);
    /// - `ERROR_PIPE_NOT_CONNECTED` (233) after the server disconnected this client (W44);
    /// - `ERROR_NO_DATA` (232, kind `WouldBlock`) in PIPE_NOWAIT mode with nothing to read
    ///   (W107);
    /// - `ERROR_ACCESS_DENIED` (5) when opened without read access (W22);
    /// - `ERROR_OPERATION_ABORTED` (995) / `ERROR_INVALID_HANDLE` (6): closed during / before.
    ///
    /// On a remote pipe `left` is 1 when the server reported more data (SMB does not say how
    /// much); Samba never does on a read, only on a transaction.
    #[doc(alias = "ReadFile")]
    pub fn recv_msg(&self, buf: &mut [u8]) -> io::Result<MsgLen> {
        match &self.inner {
            Inner::Local(end) => end.read(buf, None).map(msg),
            #[cfg(feature = "smb")]
            Inner::Remote(r) => r.read(buf),
        }
    }

    /// [`recv_msg`](Self::recv_msg) waiting at most `timeout`.
    ///
    /// # Errors
    /// `ERROR_SEM_TIMEOUT` (121) when nothing came in time, and those of
    /// [`recv_msg`](Self::recv_msg).
    pub fn recv_msg_timeout(&self, buf: &mut [u8], timeout: Duration) -> io::Result<MsgLen> {
        self.local_for("a read with a timeout")?
            .read(buf, deadline(timeout))
            .map(msg)
    }

    /// Writes one message (or bytes on a byte pipe) (`WriteFile`); returns once the unread
    /// bytes fit the server's `nInBufferSize` quota (W90-W92).
    ///
    /// # Errors
    /// - `ERROR_NO_DATA` (232, kind `BrokenPipe`) when the server end has closed (W114);
    ///   `ERROR_BROKEN_PIPE` (109) when it closes while this write waits for the quota (W115);
    /// - `ERROR_PIPE_NOT_CONNECTED` (233) after the server disconnected this client (W44);
    /// - `ERROR_ACCESS_DENIED` (5) when opened without write access (W22);
    /// - `ERROR_INVALID_PARAMETER` (87) for more than 4 GiB - 1 bytes;
    /// - `ERROR_OPERATION_ABORTED` (995) / `ERROR_INVALID_HANDLE` (6): closed during / before.
    #[doc(alias = "WriteFile")]
    pub fn send_msg(&self, data: &[u8]) -> io::Result<usize> {
        match &self.inner {
            Inner::Local(end) => end.write(data, None),
            #[cfg(feature = "smb")]
            Inner::Remote(r) => r.write(data),
        }
    }

    /// `PeekNamedPipe` (see [`NamedPipeServer::peek`](crate::NamedPipeServer::peek)).
    ///
    /// # Errors
    /// `ERROR_PIPE_NOT_CONNECTED` (233) after a disconnect (W87), `ERROR_BROKEN_PIPE` (109)
    /// once the server closed and everything was read (W88), `ERROR_INVALID_HANDLE` (6) after
    /// [`close`](Self::close).
    #[doc(alias = "PeekNamedPipe")]
    pub fn peek(&self, buf: Option<&mut [u8]>) -> io::Result<PeekInfo> {
        match &self.inner {
            Inner::Local(end) => end.peek(buf).map(peek_info),
            #[cfg(feature = "smb")]
            Inner::Remote(r) => r.peek(buf),
        }
    }

    /// `TransactNamedPipe`: writes `request` as one message, which never waits for the quota
    /// (W126), and waits for one reply message. Needs a message pipe and message read mode.
    ///
    /// # Errors
    /// - `ERROR_BAD_PIPE` (230) on a byte pipe or in byte read mode (W123), or when the
    ///   server has closed (W129);
    /// - `ERROR_PIPE_BUSY` (231) when unread data waits for this end (W125);
    /// - `ERROR_PIPE_NOT_CONNECTED` (233) after a disconnect (W129);
    /// - `ERROR_BROKEN_PIPE` (109) when the server closes before replying;
    /// - `ERROR_ACCESS_DENIED` (5) without both read and write access;
    /// - `ERROR_OPERATION_ABORTED` (995) / `ERROR_INVALID_HANDLE` (6): closed during / before.
    ///
    /// A reply longer than `reply` is not an error: [`MsgLen::left`] > 0 (`ERROR_MORE_DATA`,
    /// W127), and the rest is read with [`recv_msg`](Self::recv_msg).
    ///
    /// # Examples
    /// ```
    /// use npipe::error::code::ERROR_BAD_PIPE;
    /// use npipe::{win32_code, ClientOptions, PipeMode, ReadMode, ServerOptions};
    ///
    /// let name = format!(r"\\.\pipe\npipe-doc-transact-{}", std::process::id());
    /// let server = ServerOptions::new().pipe_mode(PipeMode::Message).create(&name)?;
    /// let echo = std::thread::spawn(move || -> std::io::Result<()> {
    ///     server.connect()?;
    ///     let mut buf = [0u8; 64];
    ///     let m = server.recv_msg(&mut buf)?;
    ///     server.send_msg(&buf[..m.read].to_ascii_uppercase())?;
    ///     server.flush_buffers()
    /// });
    /// let client = ClientOptions::new().open(&name)?;
    /// let mut reply = [0u8; 64];
    /// // A new client reads bytes (W57); a transaction needs message read mode.
    /// let e = client.transact(b"ping", &mut reply).unwrap_err();
    /// assert_eq!(win32_code(&e), ERROR_BAD_PIPE);
    /// client.set_mode(ReadMode::Message, false)?;
    /// let m = client.transact(b"ping", &mut reply)?;
    /// assert_eq!(&reply[..m.read], b"PING");
    /// echo.join().unwrap()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[doc(alias = "TransactNamedPipe")]
    pub fn transact(&self, request: &[u8], reply: &mut [u8]) -> io::Result<MsgLen> {
        match &self.inner {
            Inner::Local(end) => end.transact(request, reply, None).map(msg),
            #[cfg(feature = "smb")]
            Inner::Remote(r) => r.transact(request, reply),
        }
    }

    /// Waits until the server has read everything written so far (`FlushFileBuffers`, W94).
    ///
    /// # Errors
    /// `ERROR_BROKEN_PIPE` (109) when the server closes during the wait (W95),
    /// `ERROR_PIPE_NOT_CONNECTED` (233) when it disconnects this client (W48, W95),
    /// `ERROR_OPERATION_ABORTED` (995) / `ERROR_INVALID_HANDLE` (6): closed during / before.
    ///
    /// On a remote pipe it returns at once: each SMB write completes when the server took it.
    #[doc(alias = "FlushFileBuffers")]
    pub fn flush_buffers(&self) -> io::Result<()> {
        match &self.inner {
            Inner::Local(end) => end.flush(None),
            #[cfg(feature = "smb")]
            Inner::Remote(_) => Ok(()),
        }
    }

    /// A descriptor for `poll`/`epoll` that becomes readable when a read may find data, or the
    /// server end has gone (closed, disconnected, or its process died). Use it with PIPE_NOWAIT
    /// reads ([`set_mode`](Self::set_mode)): a read that finds nothing clears it and arms it
    /// again. Readiness can be spurious. An armed end costs the server one `write` to an
    /// eventfd at its next message. See [`nonblocking`](crate::nonblocking) for the general mechanism. An
    /// extension, not a Win32 call.
    ///
    /// # Errors
    /// Those of [`recv_msg`](Self::recv_msg) for an end that cannot be read, and OS errors
    /// making the descriptor.
    pub fn read_ready_fd(&self) -> io::Result<OwnedFd> {
        self.local_for("read_ready_fd")?.read_ready_fd()
    }

    /// Sets this handle's read mode and wait mode (`SetNamedPipeHandleState`); the server's
    /// modes are its own (W63). Switching to message read mode applies to data already queued
    /// (W61).
    ///
    /// # Errors
    /// `ERROR_INVALID_PARAMETER` (87) for message read mode on a byte pipe (W62),
    /// `ERROR_PIPE_NOT_CONNECTED` (233) after a disconnect, `ERROR_INVALID_HANDLE` (6) after
    /// [`close`](Self::close).
    #[doc(alias = "SetNamedPipeHandleState")]
    pub fn set_mode(&self, read_mode: ReadMode, nowait: bool) -> io::Result<()> {
        self.set_mode_bits(mode_bits(read_mode, nowait))
    }

    /// Sets the mode from raw Win32 bits (PIPE_READMODE_MESSAGE = 2, PIPE_NOWAIT = 1).
    ///
    /// # Errors
    /// As [`set_mode`](Self::set_mode), and `ERROR_INVALID_PARAMETER` (87) for other bits.
    pub fn set_mode_bits(&self, bits: u32) -> io::Result<()> {
        match &self.inner {
            Inner::Local(end) => end.set_mode(bits),
            #[cfg(feature = "smb")]
            Inner::Remote(r) => r.set_mode(bits),
        }
    }

    /// `GetNamedPipeHandleState`: this handle's modes and the pipe's current instance count.
    ///
    /// # Errors
    /// `ERROR_PIPE_NOT_CONNECTED` (233) after a disconnect, `ERROR_INVALID_HANDLE` (6) after
    /// [`close`](Self::close).
    #[doc(alias = "GetNamedPipeHandleStateW")]
    pub fn handle_state(&self) -> io::Result<HandleState> {
        let (b, n) = self.local_for("GetNamedPipeHandleState")?.handle_state()?;
        Ok(split_state(b, n))
    }

    /// `GetNamedPipeInfo` (see [`NamedPipeServer::info`](crate::NamedPipeServer::info)).
    ///
    /// # Errors
    /// `ERROR_PIPE_NOT_CONNECTED` (233) after the server disconnected this client (W52),
    /// `ERROR_INVALID_HANDLE` (6) after [`close`](Self::close).
    #[doc(alias = "GetNamedPipeInfo")]
    pub fn info(&self) -> io::Result<PipeInfo> {
        let (m, out, inb, max) = self.local_for("GetNamedPipeInfo")?.pipe_info()?;
        Ok(PipeInfo {
            server_end: false,
            mode: if m { PipeMode::Message } else { PipeMode::Byte },
            out_buffer_size: out,
            in_buffer_size: inb,
            max_instances: max,
        })
    }

    /// `GetNamedPipeServerProcessId`: the server's process id (W131).
    ///
    /// # Errors
    /// `ERROR_PIPE_NOT_CONNECTED` (233) after a disconnect (W132), `ERROR_NOT_FOUND` (1168)
    /// when the server's process is in a pid namespace this one cannot see,
    /// `ERROR_INVALID_HANDLE` (6) after [`close`](Self::close).
    #[doc(alias = "GetNamedPipeServerProcessId")]
    pub fn server_process_id(&self) -> io::Result<u32> {
        self.local_for("GetNamedPipeServerProcessId")?.server_pid()
    }

    /// `GetNamedPipeClientProcessId`: this process.
    ///
    /// # Errors
    /// As [`server_process_id`](Self::server_process_id), except the pid namespace case.
    #[doc(alias = "GetNamedPipeClientProcessId")]
    pub fn client_process_id(&self) -> io::Result<u32> {
        match self.local() {
            Some(end) => end.client_pid(),
            None => Ok(std::process::id()),
        }
    }

    /// The name this client opened.
    pub fn name(&self) -> &str {
        match &self.inner {
            Inner::Local(end) => end.display_name(),
            #[cfg(feature = "smb")]
            Inner::Remote(r) => r.name(),
        }
    }

    /// Whether the server disconnected this client (`DisconnectNamedPipe`): every call on it
    /// fails with `ERROR_PIPE_NOT_CONNECTED` (233) from now on, and on Windows its handle is no
    /// longer signalled (W45). False while connected, after the server closed its end, and
    /// once this client is closed.
    pub fn is_disconnected(&self) -> bool {
        self.local().is_some_and(ClientEnd::disconnected)
    }

    /// Whether the pipe is message type (a remote pipe reports `true`: SMB does not tell, and
    /// every pipe Samba serves is).
    pub fn is_message_type(&self) -> bool {
        self.local().is_none_or(|end| end.pipe_type_message())
    }
}

impl io::Read for &NamedPipeClient {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.inner {
            Inner::Local(end) => read_as_io(end.read(buf, None)),
            #[cfg(feature = "smb")]
            Inner::Remote(r) => match r.read(buf) {
                Ok(m) => Ok(m.read),
                // SMB reports a server's close as a disconnect (STATUS_PIPE_DISCONNECTED):
                // both are the end of the stream here, as ERROR_BROKEN_PIPE is locally.
                Err(e)
                    if [
                        crate::error::code::ERROR_BROKEN_PIPE,
                        crate::error::code::ERROR_PIPE_NOT_CONNECTED,
                    ]
                    .contains(&crate::win32_code(&e)) =>
                {
                    Ok(0)
                }
                Err(e) => Err(e),
            },
        }
    }
}

impl io::Read for NamedPipeClient {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl io::Write for &NamedPipeClient {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(u32::MAX as usize);
        self.send_msg(&buf[..n])
    }
    fn flush(&mut self) -> io::Result<()> {
        self.flush_buffers()
    }
}

impl io::Write for NamedPipeClient {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        (&*self).flush()
    }
}

impl AsFd for NamedPipeClient {
    /// The control socket: it reports hang-up when the server end goes away. A remote pipe
    /// has none: its descriptor is an eventfd that is never signalled.
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.inner {
            Inner::Local(end) => end.ctl_fd(),
            #[cfg(feature = "smb")]
            Inner::Remote(r) => r.fd(),
        }
    }
}

impl AsRawFd for NamedPipeClient {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// How long [`wait_named_pipe`] waits.
///
/// Not exhaustive (`CallNamedPipe`'s `NMPWAIT_NOWAIT` may join).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitFor {
    /// `NMPWAIT_USE_DEFAULT_WAIT`: the pipe's default timeout (50 ms if it is 0).
    Default,
    /// `NMPWAIT_WAIT_FOREVER`.
    Forever,
    /// At most this long.
    Timeout(Duration),
}

impl WaitFor {
    fn raw(self) -> WaitTimeout {
        match self {
            WaitFor::Default => WaitTimeout::Default,
            WaitFor::Forever => WaitTimeout::Forever,
            WaitFor::Timeout(d) => WaitTimeout::Ms(d.as_millis().min(u32::MAX as u128 - 1) as u32),
        }
    }

    /// From the Win32 `nTimeOut` value (0 default, 0xFFFFFFFF forever, else milliseconds).
    pub fn from_win32(ms: u32) -> WaitFor {
        match ms {
            0 => WaitFor::Default,
            u32::MAX => WaitFor::Forever,
            ms => WaitFor::Timeout(Duration::from_millis(ms as u64)),
        }
    }
}

/// Waits until an instance of `name` listens (`WaitNamedPipeW`). Success reserves nothing: the
/// next open may still find every instance busy (W34), so call it in a loop around
/// [`ClientOptions::open`] (see there for the loop). It is woken when an instance is created or
/// a disconnected one listens again (W30).
///
/// # Errors
/// - `ERROR_FILE_NOT_FOUND` (2) at once when no such pipe exists, whatever the timeout (W8);
/// - `ERROR_SEM_TIMEOUT` (121) when no instance listened in time (W29);
/// - `ERROR_PATH_NOT_FOUND` (3) for a name that is not a pipe's once normalised (a mailslot,
///   another device, `\\.\pipe\..\x`), `ERROR_INVALID_PARAMETER` (87) for `\\.\pipe\`
///   itself, `ERROR_FILE_NOT_FOUND` (2) for the empty name;
/// - `ERROR_ACCESS_DENIED` (5) for a server of a user this process does not trust.
///
/// # Examples
/// ```
/// use npipe::error::code::{ERROR_FILE_NOT_FOUND, ERROR_SEM_TIMEOUT};
/// use npipe::{wait_named_pipe, win32_code, ClientOptions, ServerOptions, WaitFor};
/// use std::time::Duration;
///
/// let name = format!(r"\\.\pipe\npipe-doc-wait-{}", std::process::id());
/// let e = wait_named_pipe(&name, WaitFor::Forever).unwrap_err();
/// assert_eq!(win32_code(&e), ERROR_FILE_NOT_FOUND); // at once
/// let server = ServerOptions::new().max_instances(1).create(&name)?;
/// wait_named_pipe(&name, WaitFor::Default)?; // it listens
/// let _client = ClientOptions::new().open(&name)?;
/// let e = wait_named_pipe(&name, WaitFor::Timeout(Duration::from_millis(10))).unwrap_err();
/// assert_eq!(win32_code(&e), ERROR_SEM_TIMEOUT);
/// # drop(server);
/// # Ok::<(), std::io::Error>(())
/// ```
#[doc(alias = "WaitNamedPipeW")]
pub fn wait_named_pipe(name: &str, wait: WaitFor) -> io::Result<()> {
    if let Some((server, rest)) = split_remote(name) {
        return super::remote::wait(name, server, rest, wait);
    }
    pipe::wait_named_pipe(name, wait.raw(), Trust::default())
}

/// Opens `name` (waiting once if busy), switches to message read mode, transacts, closes
/// (`CallNamedPipeW`, W130). A reply longer than `reply` has `left > 0` and its rest is lost
/// with the handle.
///
/// # Errors
/// - those of [`ClientOptions::open`] (`ERROR_FILE_NOT_FOUND` (2), ...), and of
///   [`wait_named_pipe`] when the one wait fails (`ERROR_SEM_TIMEOUT` (121));
/// - `ERROR_INVALID_PARAMETER` (87) on a byte pipe, which has no message read mode;
/// - those of [`NamedPipeClient::transact`].
///
/// # Examples
/// ```
/// use npipe::{call_named_pipe, PipeMode, ServerOptions, WaitFor};
///
/// let name = format!(r"\\.\pipe\npipe-doc-call-{}", std::process::id());
/// let server = ServerOptions::new().pipe_mode(PipeMode::Message).create(&name)?;
/// let answer = std::thread::spawn(move || -> std::io::Result<()> {
///     server.connect()?;
///     let mut buf = [0u8; 16];
///     let m = server.recv_msg(&mut buf)?;
///     assert_eq!(&buf[..m.read], b"time?");
///     server.send_msg(b"teatime").map(drop) // readable after the close too (W113)
/// });
/// let mut reply = [0u8; 3];
/// let m = call_named_pipe(&name, b"time?", &mut reply, WaitFor::Default)?;
/// assert_eq!((&reply[..], m.left), (&b"tea"[..], 4)); // ERROR_MORE_DATA: the rest is lost
/// answer.join().unwrap()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[doc(alias = "CallNamedPipeW")]
pub fn call_named_pipe(
    name: &str,
    request: &[u8],
    reply: &mut [u8],
    wait: WaitFor,
) -> io::Result<MsgLen> {
    if let Some((server, rest)) = split_remote(name) {
        return super::remote::call(name, server, rest, request, reply, wait);
    }
    pipe::call_named_pipe(name, request, reply, wait.raw()).map(msg)
}
