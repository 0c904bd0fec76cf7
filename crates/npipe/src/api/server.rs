//! Named pipe servers: [`ServerOptions`] (CreateNamedPipe) and [`NamedPipeServer`], one
//! instance, with its connect, data, state and identity calls.

use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use super::zerocopy::EndRef;
use super::{
    deadline, mode_bits, msg, peek_info, read_as_io, split_state, AccessPolicy, Direction,
    HandleState, Modes, MsgLen, MsgRef, MsgWriter, PeekInfo, PipeInfo, PipeMode, ReadMode,
};
use crate::error::code::*;
use crate::semantics::pipe::{
    PipeParams, ServerConfig, ServerEnd, ACCESS_INBOUND, ACCESS_OUTBOUND, UNLIMITED,
};

/// Builder for a server instance (`CreateNamedPipeW`).
///
/// The defaults are a duplex byte pipe, byte read mode, blocking, unlimited instances and
/// 64 KiB quotas; the first instance's parameters are the pipe's (W15).
///
/// # Examples
/// A message pipe of at most two instances:
/// ```
/// use npipe::{PipeMode, ServerOptions};
///
/// let name = format!(r"\\.\pipe\npipe-doc-options-{}", std::process::id());
/// let first = ServerOptions::new()
///     .pipe_mode(PipeMode::Message)
///     .max_instances(2)
///     .in_buffer_size(4096)
///     .create(&name)?;
/// let info = first.info()?;
/// assert_eq!((info.max_instances, info.in_buffer_size), (2, 4096));
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Windows
/// [`CreateNamedPipeW`](https://learn.microsoft.com/windows/win32/api/winbase/nf-winbase-createnamedpipew).
#[derive(Debug, Clone)]
#[doc(alias = "CreateNamedPipeW")]
#[doc(alias = "CreateNamedPipeA")]
pub struct ServerOptions {
    direction: Direction,
    mode: PipeMode,
    read_mode: ReadMode,
    nowait: bool,
    max_instances: u32,
    out_buffer: u32,
    in_buffer: u32,
    default_timeout: u32,
    first: bool,
    policy: Option<AccessPolicy>,
    reject_remote: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerOptions {
    /// Duplex, byte type, byte read mode, unlimited instances, 64 KiB quotas, 50 ms default wait.
    pub fn new() -> ServerOptions {
        ServerOptions {
            direction: Direction::Duplex,
            mode: PipeMode::Byte,
            read_mode: ReadMode::Byte,
            nowait: false,
            max_instances: UNLIMITED,
            out_buffer: 65536,
            in_buffer: 65536,
            default_timeout: 0,
            first: false,
            policy: None,
            reject_remote: false,
        }
    }
    /// Data direction (`PIPE_ACCESS_*`).
    pub fn direction(&mut self, d: Direction) -> &mut Self {
        self.direction = d;
        self
    }
    /// Pipe type. Message type also sets message read mode, as most servers want; call
    /// [`read_mode`](Self::read_mode) afterwards to change that.
    pub fn pipe_mode(&mut self, m: PipeMode) -> &mut Self {
        self.mode = m;
        self.read_mode = match m {
            PipeMode::Byte => ReadMode::Byte,
            PipeMode::Message => ReadMode::Message,
        };
        self
    }
    /// This handle's read mode.
    pub fn read_mode(&mut self, m: ReadMode) -> &mut Self {
        self.read_mode = m;
        self
    }
    /// PIPE_NOWAIT for this handle.
    pub fn nowait(&mut self, on: bool) -> &mut Self {
        self.nowait = on;
        self
    }
    /// Maximum instances, 1..=254, or 255 for unlimited.
    pub fn max_instances(&mut self, n: u32) -> &mut Self {
        self.max_instances = n;
        self
    }
    /// `nOutBufferSize`: unread bytes server-to-client before a write waits.
    pub fn out_buffer_size(&mut self, n: u32) -> &mut Self {
        self.out_buffer = n;
        self
    }
    /// `nInBufferSize`: unread bytes client-to-server before a write waits.
    pub fn in_buffer_size(&mut self, n: u32) -> &mut Self {
        self.in_buffer = n;
        self
    }
    /// `nDefaultTimeOut` in milliseconds for `WaitNamedPipe(NMPWAIT_USE_DEFAULT_WAIT)`.
    pub fn default_timeout(&mut self, ms: u32) -> &mut Self {
        self.default_timeout = ms;
        self
    }
    /// `FILE_FLAG_FIRST_PIPE_INSTANCE`: fail with ERROR_ACCESS_DENIED if the pipe exists
    /// (ERROR_PIPE_BUSY if it also has all its instances, as any create).
    /// This is the server's defence against a process that took the name first (see
    /// `docs/SECURITY.md`).
    pub fn first_pipe_instance(&mut self, on: bool) -> &mut Self {
        self.first = on;
        self
    }
    /// Who may open the pipe and with which access (the DACL of `lpSecurityAttributes`).
    /// Without it a new pipe admits its owning user and root, and another instance keeps the
    /// pipe's policy; another instance with a different policy fails with
    /// ERROR_ACCESS_DENIED (W134).
    pub fn access_policy(&mut self, policy: AccessPolicy) -> &mut Self {
        self.policy = Some(policy);
        self
    }

    /// `PIPE_REJECT_REMOTE_CLIENTS` for this instance: remote clients (SMB clients relayed by
    /// an [`SmbExposure`](crate::SmbExposure)) are refused with `ERROR_ACCESS_DENIED` when this
    /// instance is the one they would get. Off by default, as `PIPE_ACCEPT_REMOTE_CLIENTS` is
    /// Win32's default; local clients are never affected.
    pub fn reject_remote_clients(&mut self, reject: bool) -> &mut Self {
        self.reject_remote = reject;
        self
    }

    /// Creates one instance of the pipe `name` (`\\.\pipe\NAME`, any case, W1). It listens at
    /// once: a client may connect before [`NamedPipeServer::connect`] is called (W33).
    ///
    /// # Errors
    /// - `ERROR_INVALID_NAME` (123) when `name` is not `\\.\pipe\NAME` (W2),
    ///   `ERROR_FILENAME_EXCED_RANGE` (206) when it is too long (W6);
    /// - `ERROR_INVALID_PARAMETER` (87) for byte type with message read mode (W11) or an
    ///   instance limit outside 1..=255 (W17);
    /// - `ERROR_PIPE_BUSY` (231) when the pipe already has its maximum of instances (W13), also
    ///   with [`first_pipe_instance`](Self::first_pipe_instance): the count is checked first;
    /// - `ERROR_ACCESS_DENIED` (5) for a direction other than the existing instances' (W14),
    ///   [`first_pipe_instance`](Self::first_pipe_instance) on an existing pipe with an instance
    ///   free (W16), or a name another process serves (instances of one name live in one
    ///   process);
    /// - an OS error (descriptors, memory) with the closest Win32 code.
    ///
    /// # Examples
    /// ```
    /// use npipe::{win32_code, ServerOptions};
    /// use npipe::error::code::{ERROR_ACCESS_DENIED, ERROR_INVALID_NAME, ERROR_PIPE_BUSY};
    ///
    /// let name = format!(r"\\.\pipe\npipe-doc-create-{}", std::process::id());
    /// let one = ServerOptions::new().max_instances(2).create(&name)?;
    /// let taken = ServerOptions::new().first_pipe_instance(true).create(&name).unwrap_err();
    /// assert_eq!(win32_code(&taken), ERROR_ACCESS_DENIED);
    /// let two = ServerOptions::new().max_instances(2).create(&name)?;
    /// let busy = ServerOptions::new().max_instances(2).create(&name).unwrap_err();
    /// assert_eq!(win32_code(&busy), ERROR_PIPE_BUSY);
    /// let bad = ServerOptions::new().create("not a pipe name").unwrap_err();
    /// assert_eq!(win32_code(&bad), ERROR_INVALID_NAME);
    /// # drop((one, two));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn create(&self, name: &str) -> io::Result<NamedPipeServer> {
        self.create_ex(name).map(|(s, _)| s)
    }

    /// Like [`create`](Self::create), also telling whether the pipe already existed (the
    /// ERROR_ALREADY_EXISTS that CreateNamedPipe leaves in the last error, W23).
    ///
    /// # Errors
    /// As [`create`](Self::create).
    pub fn create_ex(&self, name: &str) -> io::Result<(NamedPipeServer, bool)> {
        let cfg = ServerConfig {
            params: PipeParams {
                direction: self.direction.bits(),
                message_type: self.mode == PipeMode::Message,
                max_instances: self.max_instances,
                out_quota: self.out_buffer,
                in_quota: self.in_buffer,
                default_timeout: self.default_timeout,
            },
            policy: self.policy.as_ref().map(AccessPolicy::shared),
            first_instance: self.first,
            read_message: self.read_mode == ReadMode::Message,
            nowait: self.nowait,
            reject_remote: self.reject_remote,
        };
        ServerEnd::create(name, cfg).map(|(end, existed)| (NamedPipeServer { end }, existed))
    }

    /// Validates raw Win32 `CreateNamedPipe` arguments and builds options from them.
    ///
    /// Nothing is checked against a pipe yet: [`create`](Self::create) does that.
    ///
    /// # Errors
    /// `ERROR_INVALID_PARAMETER` (87) for an open mode without a direction (W12) or unknown pipe
    /// mode bits.
    pub fn from_win32(
        open_mode: u32,
        pipe_mode: u32,
        max: u32,
        out: u32,
        inb: u32,
        timeout: u32,
    ) -> io::Result<ServerOptions> {
        let direction = match open_mode & 3 {
            1 => Direction::Inbound,
            2 => Direction::Outbound,
            3 => Direction::Duplex,
            _ => {
                return Err(crate::Error::io(
                    ERROR_INVALID_PARAMETER,
                    "the open mode must include PIPE_ACCESS_INBOUND, _OUTBOUND or _DUPLEX",
                ))
            }
        };
        if pipe_mode & !0xF != 0 {
            return Err(crate::Error::io(
                ERROR_INVALID_PARAMETER,
                "unknown pipe mode bits",
            ));
        }
        let mut o = ServerOptions::new();
        o.direction(direction)
            .pipe_mode(if pipe_mode & 4 != 0 {
                PipeMode::Message
            } else {
                PipeMode::Byte
            })
            .read_mode(if pipe_mode & 2 != 0 {
                ReadMode::Message
            } else {
                ReadMode::Byte
            })
            .nowait(pipe_mode & 1 != 0)
            .reject_remote_clients(pipe_mode & 8 != 0)
            .max_instances(max)
            .out_buffer_size(out)
            .in_buffer_size(inb)
            .default_timeout(timeout)
            .first_pipe_instance(open_mode & 0x0008_0000 != 0);
        Ok(o)
    }
}

/// One server instance of a named pipe.
///
/// `Read`/`Write` are implemented for `NamedPipeServer` and `&NamedPipeServer`, so threads can
/// share one instance; a read that ends on a peer's close returns `Ok(0)`.
///
/// An instance is LISTENING from creation, CONNECTED once a client opened it, CLOSING when
/// that client closed its end, DISCONNECTED after [`disconnect`](Self::disconnect) until
/// [`connect`](Self::connect) makes it listen again. What each call returns in each state is
/// the Windows table (W43-W52): for example a read while listening fails with
/// `ERROR_PIPE_LISTENING` (536), after a disconnect with `ERROR_PIPE_NOT_CONNECTED` (233).
/// Every call fails with `ERROR_INVALID_HANDLE` (6) after [`close`](Self::close), and one in
/// progress during the close with `ERROR_OPERATION_ABORTED` (995).
///
/// # Examples
/// The Windows server loop: wait for a client, create the next instance at once (so a client
/// arriving meanwhile finds one listening rather than `ERROR_PIPE_BUSY`), and serve the
/// connected one on a thread of its own.
/// ```
/// use npipe::{ClientOptions, ServerOptions};
/// use std::io::{Read, Write};
/// use std::thread;
///
/// let name = format!(r"\\.\pipe\npipe-doc-server-loop-{}", std::process::id());
/// let mut server = ServerOptions::new().first_pipe_instance(true).create(&name)?;
/// # let clients = { let name = name.clone(); thread::spawn(move || -> std::io::Result<()> {
/// #     for i in 0..3u8 {
/// #         let mut c = ClientOptions::new().open(&name)?;
/// #         c.write_all(&[i])?;
/// #         let mut b = [0u8];
/// #         c.read_exact(&mut b)?;
/// #         assert_eq!(b[0], i + 1);
/// #     }
/// #     Ok(())
/// # }) };
/// let mut workers = Vec::new();
/// for _ in 0..3 {
///     // A real server loops for ever; this one serves three clients.
///     server.connect()?;
///     let connected = std::mem::replace(&mut server, ServerOptions::new().create(&name)?);
///     workers.push(thread::spawn(move || -> std::io::Result<()> {
///         let mut pipe = &connected;
///         let mut request = [0u8];
///         pipe.read_exact(&mut request)?;
///         pipe.write_all(&[request[0] + 1])?;
///         pipe.flush() // FlushFileBuffers: returns once the client has read the reply
///     }));
/// }
/// for w in workers {
///     w.join().unwrap()?;
/// }
/// # clients.join().unwrap()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct NamedPipeServer {
    pub(super) end: ServerEnd,
}

impl fmt::Debug for NamedPipeServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (instance, state, bits) = self.end.summary();
        f.debug_struct("NamedPipeServer")
            .field("name", &format_args!("{}", self.name()))
            .field("instance", &instance)
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

impl NamedPipeServer {
    /// Reserves one whole outgoing message of `len` bytes in the shared queue, to fill in place
    /// and [`commit`](MsgWriter::commit): no copy through a user buffer. Waits for room like a
    /// write. An extension, not a Win32 call.
    ///
    /// # Errors
    /// `ERROR_INVALID_PARAMETER` (87) when the message is larger than the queue (a plain write
    /// streams such messages); otherwise those of [`send_msg`](Self::send_msg).
    ///
    /// # Examples
    /// ```
    /// use npipe::{ClientOptions, PipeMode, ServerOptions};
    ///
    /// let name = format!(r"\\.\pipe\npipe-doc-zero-copy-{}", std::process::id());
    /// let server = ServerOptions::new().pipe_mode(PipeMode::Message).create(&name)?;
    /// let client = ClientOptions::new().open(&name)?;
    /// let mut msg = server.reserve_msg(5)?;
    /// msg.fill(b"hello")?;
    /// msg.commit()?;
    /// let got = client.recv_in_place()?;
    /// assert_eq!(got.to_vec(), b"hello");
    /// drop(got); // releases the message's space
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn reserve_msg(&self, len: usize) -> io::Result<MsgWriter<'_>> {
        Ok(MsgWriter::new(
            self.end.reserve(len)?,
            EndRef::Server(&self.end),
        ))
    }

    /// Waits for the next whole message and returns it in place, without copying; dropping the
    /// [`MsgRef`] releases its space (see [`reserve_msg`](Self::reserve_msg) for an example).
    ///
    /// # Errors
    /// `ERROR_INSUFFICIENT_BUFFER` (122) when the message is larger than the queue or already
    /// partly read (read it with [`recv_msg`](Self::recv_msg)); otherwise those of
    /// [`recv_msg`](Self::recv_msg).
    pub fn recv_in_place(&self) -> io::Result<MsgRef<'_>> {
        Ok(MsgRef::new(self.end.read_in_place()?))
    }

    /// Waits for a client (`ConnectNamedPipe`). Succeeds at once if one already connected
    /// (ERROR_PIPE_CONNECTED on Windows, W33). A disconnected instance starts listening again
    /// (W49).
    ///
    /// # Errors
    /// - `ERROR_NO_DATA` (232) if the client already closed its end: call
    ///   [`disconnect`](Self::disconnect) first (W43);
    /// - `ERROR_PIPE_LISTENING` (536) for a PIPE_NOWAIT handle with no client (W111);
    /// - `ERROR_OPERATION_ABORTED` (995) when [`close`](Self::close) ends the wait,
    ///   `ERROR_INVALID_HANDLE` (6) after it.
    ///
    /// See [`NamedPipeServer`] for a server loop.
    #[doc(alias = "ConnectNamedPipe")]
    pub fn connect(&self) -> io::Result<()> {
        self.end.connect(None).map(|_| ())
    }

    /// Like [`connect`](Self::connect), giving up after `timeout`.
    ///
    /// # Errors
    /// `ERROR_SEM_TIMEOUT` (121) when no client came in time, and those of
    /// [`connect`](Self::connect).
    pub fn connect_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.end.connect(deadline(timeout)).map(|_| ())
    }

    /// Like [`connect`](Self::connect), telling whether a client was already connected
    /// (`true` is ConnectNamedPipe's FALSE + ERROR_PIPE_CONNECTED).
    ///
    /// # Errors
    /// Those of [`connect`](Self::connect).
    pub fn connect_status(&self) -> io::Result<bool> {
        self.end.connect(None)
    }

    /// Drops the client (`DisconnectNamedPipe`): unread data is discarded and every later
    /// operation on the client fails with ERROR_PIPE_NOT_CONNECTED (W44). The instance accepts
    /// no client until [`connect`](Self::connect) makes it listen again (W32).
    ///
    /// # Errors
    /// `ERROR_PIPE_NOT_CONNECTED` (233) when already disconnected (W45), `ERROR_PIPE_LISTENING`
    /// (536) when no client has connected, `ERROR_INVALID_HANDLE` (6) after
    /// [`close`](Self::close).
    ///
    /// # Examples
    /// Reusing one instance for the next client:
    /// ```
    /// use npipe::error::code::ERROR_PIPE_NOT_CONNECTED;
    /// use npipe::{win32_code, ClientOptions, ServerOptions};
    ///
    /// let name = format!(r"\\.\pipe\npipe-doc-disconnect-{}", std::process::id());
    /// let server = ServerOptions::new().create(&name)?;
    /// let first = ClientOptions::new().open(&name)?;
    /// server.disconnect()?;
    /// let e = first.send_msg(b"late").unwrap_err();
    /// assert_eq!(win32_code(&e), ERROR_PIPE_NOT_CONNECTED);
    /// # let second = std::thread::spawn({ let name = name.clone(); move || {
    /// #     npipe::wait_named_pipe(&name, npipe::WaitFor::Forever)?;
    /// #     ClientOptions::new().open(&name)
    /// # }});
    /// server.connect()?; // listens again; the next client gets this instance
    /// # second.join().unwrap()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[doc(alias = "DisconnectNamedPipe")]
    pub fn disconnect(&self) -> io::Result<()> {
        self.end.disconnect()
    }

    /// Closes this instance now (`CloseHandle`), even while other threads are using it: a
    /// [`connect`](Self::connect) or data operation in progress fails with
    /// ERROR_OPERATION_ABORTED (995), every later call with ERROR_INVALID_HANDLE (6), and the
    /// client sees the close (its reads end with ERROR_BROKEN_PIPE once the data written before
    /// is read, its writes fail with ERROR_NO_DATA; W113-W115). Dropping the value does the
    /// same; this is for stopping a server whose threads are blocked in it. Calling it again
    /// does nothing.
    ///
    /// # Examples
    /// ```
    /// use npipe::error::code::ERROR_OPERATION_ABORTED;
    /// use npipe::{win32_code, ServerOptions};
    /// use std::sync::Arc;
    ///
    /// let name = format!(r"\\.\pipe\npipe-doc-close-{}", std::process::id());
    /// let server = Arc::new(ServerOptions::new().create(&name)?);
    /// let waiter = std::thread::spawn({
    ///     let server = server.clone();
    ///     move || server.connect()
    /// });
    /// # std::thread::sleep(std::time::Duration::from_millis(20));
    /// server.close(); // stop: the blocked connect returns
    /// let e = waiter.join().unwrap().unwrap_err();
    /// # // The close may also come before the thread starts waiting: ERROR_INVALID_HANDLE.
    /// assert!(matches!(win32_code(&e), ERROR_OPERATION_ABORTED | 6));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[doc(alias = "CloseHandle")]
    pub fn close(&self) {
        self.end.close()
    }

    /// Reads at most one message (message read mode) or gathers bytes (byte read mode)
    /// (`ReadFile`). Waits until something is there; returns what is there, up to `buf.len()`.
    ///
    /// A message longer than `buf` is not lost: the start is copied and
    /// [`MsgLen::left`] says how much remains, which the next reads return (Windows' FALSE +
    /// `ERROR_MORE_DATA` (234), W67). The rest belongs to the pipe, so any thread reading this
    /// end continues it (W68). A byte read mode handle never sees `left > 0` (W60).
    ///
    /// # Errors
    /// - `ERROR_BROKEN_PIPE` (109) once the client closed and everything it wrote was read
    ///   (W113; `io::Read` returns `Ok(0)` instead);
    /// - `ERROR_PIPE_LISTENING` (536) before a client connected (W46),
    ///   `ERROR_PIPE_NOT_CONNECTED` (233) after [`disconnect`](Self::disconnect) (W44);
    /// - `ERROR_NO_DATA` (232, kind `WouldBlock`) for a PIPE_NOWAIT handle with nothing to read
    ///   (W107);
    /// - `ERROR_ACCESS_DENIED` (5) on an outbound pipe, which the server cannot read;
    /// - `ERROR_OPERATION_ABORTED` (995) / `ERROR_INVALID_HANDLE` (6): closed during / before.
    ///
    /// # Examples
    /// Reading a message in parts:
    /// ```
    /// use npipe::{ClientOptions, PipeMode, ServerOptions};
    ///
    /// let name = format!(r"\\.\pipe\npipe-doc-more-data-{}", std::process::id());
    /// let server = ServerOptions::new().pipe_mode(PipeMode::Message).create(&name)?;
    /// let client = ClientOptions::new().open(&name)?;
    /// client.send_msg(b"Hello World")?;
    ///
    /// let mut message = Vec::new();
    /// let mut buf = [0u8; 4];
    /// loop {
    ///     let m = server.recv_msg(&mut buf)?;
    ///     message.extend_from_slice(&buf[..m.read]);
    ///     if m.complete() {
    ///         break;
    ///     }
    ///     // ERROR_MORE_DATA on Windows: m.left bytes of this message are still in the pipe.
    /// }
    /// assert_eq!(message, b"Hello World");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[doc(alias = "ReadFile")]
    pub fn recv_msg(&self, buf: &mut [u8]) -> io::Result<MsgLen> {
        self.end.read(buf, None).map(msg)
    }

    /// [`recv_msg`](Self::recv_msg) waiting at most `timeout`.
    ///
    /// # Errors
    /// `ERROR_SEM_TIMEOUT` (121) when nothing came in time, and those of
    /// [`recv_msg`](Self::recv_msg).
    pub fn recv_msg_timeout(&self, buf: &mut [u8], timeout: Duration) -> io::Result<MsgLen> {
        self.end.read(buf, deadline(timeout)).map(msg)
    }

    /// Writes one message (or bytes, on a byte pipe) (`WriteFile`). Its bytes are readable at
    /// once; the call returns once the unread bytes, this write's included, fit the quota
    /// (`nOutBufferSize`, W90-W92). A zero-length write is an empty message on a message pipe
    /// and nothing on a byte pipe (W75-W76).
    ///
    /// # Errors
    /// - `ERROR_NO_DATA` (232, kind `BrokenPipe`) when the client has closed (W114);
    ///   `ERROR_BROKEN_PIPE` (109) when it closes while this write waits for the quota (W115);
    /// - `ERROR_PIPE_LISTENING` (536) before a client connected (W46),
    ///   `ERROR_PIPE_NOT_CONNECTED` (233) after a disconnect (W44, W48);
    /// - `ERROR_ACCESS_DENIED` (5) on an inbound pipe, which the server cannot write;
    /// - `ERROR_INVALID_PARAMETER` (87) for more than 4 GiB - 1 bytes;
    /// - `ERROR_OPERATION_ABORTED` (995) / `ERROR_INVALID_HANDLE` (6): closed during / before.
    ///
    /// A PIPE_NOWAIT handle never waits: a message that does not fit writes nothing (`Ok(0)`),
    /// bytes write what fits (W108).
    #[doc(alias = "WriteFile")]
    pub fn send_msg(&self, data: &[u8]) -> io::Result<usize> {
        self.end.write(data, None)
    }

    /// Copies without consuming (`PeekNamedPipe`). `None` only asks for counts. Never waits
    /// (W82). On a message pipe at most the rest of the first message is copied (W84); empty
    /// messages are not seen (W76).
    ///
    /// # Errors
    /// - `ERROR_BAD_PIPE` (230) on an instance that is listening or disconnected (W87);
    /// - `ERROR_BROKEN_PIPE` (109) once the client closed and everything was read (W88);
    /// - `ERROR_INVALID_HANDLE` (6) after [`close`](Self::close).
    ///
    /// # Examples
    /// ```
    /// use npipe::{ClientOptions, PipeMode, ServerOptions};
    ///
    /// let name = format!(r"\\.\pipe\npipe-doc-peek-{}", std::process::id());
    /// let server = ServerOptions::new().pipe_mode(PipeMode::Message).create(&name)?;
    /// let client = ClientOptions::new().open(&name)?;
    /// client.send_msg(b"Hello World")?;
    /// client.send_msg(b"again")?;
    /// let mut buf = [0u8; 4];
    /// let p = server.peek(Some(&mut buf))?;
    /// assert_eq!(&buf, b"Hell");
    /// assert_eq!((p.read, p.available, p.left_this_message), (4, 16, 7));
    /// assert_eq!(server.peek(None)?.available, 16); // nothing was consumed
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[doc(alias = "PeekNamedPipe")]
    pub fn peek(&self, buf: Option<&mut [u8]>) -> io::Result<PeekInfo> {
        self.end.peek(buf).map(peek_info)
    }

    /// Writes `request` as one message and reads one reply message (`TransactNamedPipe`); the
    /// server may be the caller as well as the client (W124). See
    /// [`NamedPipeClient::transact`](crate::NamedPipeClient::transact) for an example.
    ///
    /// # Errors
    /// - `ERROR_BAD_PIPE` (230) on a byte pipe or in byte read mode (W123), or when the
    ///   instance is not connected or the client closed (W129);
    /// - `ERROR_PIPE_BUSY` (231) when unread data waits for this end (W125);
    /// - `ERROR_BROKEN_PIPE` (109) when the client closes before replying;
    /// - `ERROR_ACCESS_DENIED` (5) on a pipe that is not duplex;
    /// - `ERROR_OPERATION_ABORTED` (995) / `ERROR_INVALID_HANDLE` (6): closed during / before.
    ///
    /// A reply longer than `reply` is not an error: [`MsgLen::left`] > 0 (W127).
    #[doc(alias = "TransactNamedPipe")]
    pub fn transact(&self, request: &[u8], reply: &mut [u8]) -> io::Result<MsgLen> {
        self.end.transact(request, reply, None).map(msg)
    }

    /// Waits until the client has read everything written so far (`FlushFileBuffers`), also
    /// what writes still waiting on the quota put in the pipe (W94). Returns at once when
    /// nothing is unread, or when no client is connected or it has closed (W95).
    ///
    /// # Errors
    /// `ERROR_BROKEN_PIPE` (109) when the client closes during the wait,
    /// `ERROR_PIPE_NOT_CONNECTED` (233) when the instance is disconnected during it (W95),
    /// `ERROR_OPERATION_ABORTED` (995) / `ERROR_INVALID_HANDLE` (6): closed during / before.
    #[doc(alias = "FlushFileBuffers")]
    pub fn flush_buffers(&self) -> io::Result<()> {
        self.end.flush(None)
    }

    /// A descriptor for `poll`/`epoll` that becomes readable when a read may find data, or the
    /// client has gone. Use it with PIPE_NOWAIT reads ([`set_mode`](Self::set_mode)): a read
    /// that finds nothing clears it and arms it again, so the readiness is level-triggered in
    /// effect (read until "no data", then poll again). Readiness can be spurious. An armed end
    /// costs the writer one `write` to an eventfd at its next message, an idle one nothing. The
    /// descriptor is the end's for all its connections (see [`nonblocking`](crate::nonblocking) for the general
    /// mechanism). This is an extension, not a Win32 call.
    ///
    /// # Errors
    /// Those of [`recv_msg`](Self::recv_msg) for a connection that cannot be read (listening,
    /// disconnected, outbound, closed), and OS errors making the descriptor.
    pub fn read_ready_fd(&self) -> io::Result<OwnedFd> {
        self.end.read_ready_fd()
    }

    /// Sets this handle's read mode and wait mode (`SetNamedPipeHandleState`). The modes belong
    /// to this handle: the client's are its own (W63, W112).
    ///
    /// # Errors
    /// `ERROR_INVALID_PARAMETER` (87) for message read mode on a byte pipe (W62).
    #[doc(alias = "SetNamedPipeHandleState")]
    pub fn set_mode(&self, read_mode: ReadMode, nowait: bool) -> io::Result<()> {
        self.end.set_mode(mode_bits(read_mode, nowait))
    }

    /// Sets the mode from raw Win32 bits (PIPE_READMODE_MESSAGE = 2, PIPE_NOWAIT = 1).
    ///
    /// # Errors
    /// `ERROR_INVALID_PARAMETER` (87) for other bits, or message read mode on a byte pipe.
    pub fn set_mode_bits(&self, bits: u32) -> io::Result<()> {
        self.end.set_mode(bits)
    }

    /// `GetNamedPipeHandleState`: this handle's modes and the pipe's current instance count.
    ///
    /// # Errors
    /// `ERROR_INVALID_HANDLE` (6) after [`close`](Self::close).
    #[doc(alias = "GetNamedPipeHandleStateW")]
    pub fn handle_state(&self) -> io::Result<HandleState> {
        let (b, n) = self.end.handle_state()?;
        Ok(split_state(b, n))
    }

    /// `GetNamedPipeInfo`: the pipe's type, quotas and instance limit as the first instance
    /// set them (W15, W19-W20).
    ///
    /// # Errors
    /// `ERROR_INVALID_HANDLE` (6) after [`close`](Self::close), as for the client's
    /// [`info`](crate::NamedPipeClient::info).
    ///
    /// # Examples
    /// ```
    /// use npipe::{ClientOptions, PipeMode, ServerOptions};
    ///
    /// let name = format!(r"\\.\pipe\npipe-doc-info-{}", std::process::id());
    /// let server = ServerOptions::new()
    ///     .pipe_mode(PipeMode::Message)
    ///     .out_buffer_size(1024)
    ///     .create(&name)?;
    /// let client = ClientOptions::new().open(&name)?;
    /// let (s, c) = (server.info()?, client.info()?);
    /// assert!(s.server_end && !c.server_end);
    /// assert_eq!((s.mode, c.mode), (PipeMode::Message, PipeMode::Message));
    /// assert_eq!(c.out_buffer_size, 1024);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[doc(alias = "GetNamedPipeInfo")]
    pub fn info(&self) -> io::Result<PipeInfo> {
        let (m, out, inb, max) = self.end.pipe_info()?;
        Ok(PipeInfo {
            server_end: true,
            mode: if m { PipeMode::Message } else { PipeMode::Byte },
            out_buffer_size: out,
            in_buffer_size: inb,
            max_instances: max,
        })
    }

    /// `GetNamedPipeClientProcessId`: the connected client's process id.
    ///
    /// # Errors
    /// `ERROR_NOT_FOUND` (1168) when no client is connected, for example after a disconnect
    /// (W132), when the client's process is in a pid namespace this one cannot see, or when
    /// the client is remote (SMB);
    /// `ERROR_INVALID_HANDLE` (6) after [`close`](Self::close).
    #[doc(alias = "GetNamedPipeClientProcessId")]
    #[inline]
    pub fn client_process_id(&self) -> io::Result<u32> {
        self.end.client_pid()
    }

    /// The connected client when it is a remote (SMB) client relayed by an
    /// [`SmbExposure`](crate::SmbExposure): who smbd says it is and where it connects from;
    /// `None` for a local client or while no client is connected.
    ///
    /// # Errors
    /// `ERROR_INVALID_HANDLE` (6) after [`close`](Self::close).
    pub fn remote_client(&self) -> io::Result<Option<super::RemoteClient>> {
        Ok(self
            .end
            .remote_client()?
            .map(|r| super::RemoteClient::from_identity(&r)))
    }

    /// `GetNamedPipeServerProcessId`: this process, which cannot fail on a server.
    #[doc(alias = "GetNamedPipeServerProcessId")]
    pub fn server_process_id(&self) -> u32 {
        std::process::id()
    }

    /// The name as given at creation.
    pub fn name(&self) -> &str {
        self.end.display_name()
    }

    /// The pipe's direction.
    pub fn direction(&self) -> Direction {
        match self.end.direction() {
            ACCESS_INBOUND => Direction::Inbound,
            ACCESS_OUTBOUND => Direction::Outbound,
            _ => Direction::Duplex,
        }
    }

    /// Whether the pipe is message type.
    pub fn is_message_type(&self) -> bool {
        self.end.pipe_type_message()
    }
}

impl io::Read for &NamedPipeServer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_as_io(self.end.read(buf, None))
    }
}

impl io::Read for NamedPipeServer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl io::Write for &NamedPipeServer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(u32::MAX as usize);
        self.end.write(&buf[..n], None)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.end.flush(None)
    }
}

impl io::Write for NamedPipeServer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        (&*self).flush()
    }
}
