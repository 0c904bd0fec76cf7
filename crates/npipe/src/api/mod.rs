//! L3: the public Rust API: builders, typed pipe ends, `std::io` traits.

mod anonymous;
mod event;
mod exists;
mod listing;
mod mailslot;
pub mod nonblocking;
mod ready;
mod service;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub mod tokio;
mod zerocopy;

pub use anonymous::{create_pipe, AnonReader, AnonWriter, CommandExt};
pub use event::{wait_for_multiple, Event, NamedEvent, WaitObject, WaitOutcome};
pub use exists::pipe_exists;
pub use listing::{list, Listing, ListingKind};
pub use mailslot::{Mailslot, MailslotInfo, MailslotOptions, MailslotWriter};
pub use service::{serve, Peer, Service, ServiceClient, ServiceOptions};
use zerocopy::EndRef;
pub use zerocopy::{MsgRef, MsgWriter};

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use crate::error::code::*;
use crate::semantics::pipe::{
    self, ClientEnd, PipeParams, ServerConfig, ServerEnd, Trust, WaitTimeout, ACCESS_DUPLEX,
    ACCESS_INBOUND, ACCESS_OUTBOUND, READ_BITS, UNLIMITED, WRITE_BITS,
};

/// Pipe type: how writes are kept (`PIPE_TYPE_BYTE` / `PIPE_TYPE_MESSAGE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PipeMode {
    /// A byte stream: write boundaries are not kept for readers.
    #[default]
    Byte,
    /// Each write is one message; readers may read whole messages.
    Message,
}

/// Read mode of one handle (`PIPE_READMODE_BYTE` / `PIPE_READMODE_MESSAGE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadMode {
    /// Reads gather bytes across messages.
    #[default]
    Byte,
    /// Reads return at most one message; a short buffer leaves the rest for the next read.
    Message,
}

/// Which way data flows (`PIPE_ACCESS_INBOUND` / `_OUTBOUND` / `_DUPLEX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Client to server only.
    Inbound,
    /// Server to client only.
    Outbound,
    /// Both ways.
    #[default]
    Duplex,
}

impl Direction {
    fn bits(self) -> u8 {
        match self {
            Direction::Inbound => ACCESS_INBOUND,
            Direction::Outbound => ACCESS_OUTBOUND,
            Direction::Duplex => ACCESS_DUPLEX,
        }
    }
}

/// The result of a message read: bytes copied and bytes of the message still unread.
///
/// `left > 0` is Windows' `ERROR_MORE_DATA`: the rest stays in the pipe for the next read, by
/// any thread or process reading this end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsgLen {
    /// Bytes copied into the buffer.
    pub read: usize,
    /// Bytes of the current message still in the pipe.
    pub left: u64,
}

impl MsgLen {
    /// Whether the whole message was read.
    pub fn complete(&self) -> bool {
        self.left == 0
    }
}

/// What `PeekNamedPipe` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeekInfo {
    /// Bytes copied into the buffer.
    pub read: u32,
    /// All unread bytes in the pipe, including those of writes still pending on the quota.
    pub available: u32,
    /// `lpBytesLeftThisMessage`: for message pipes, what remains of the first message after the
    /// copied part; for byte pipes Windows reports `0 - read` (W85).
    pub left_this_message: u32,
}

/// `GetNamedPipeInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipeInfo {
    /// `PIPE_SERVER_END` for a server handle.
    pub server_end: bool,
    /// The pipe type.
    pub mode: PipeMode,
    /// `nOutBufferSize` (server to client quota).
    pub out_buffer_size: u32,
    /// `nInBufferSize` (client to server quota).
    pub in_buffer_size: u32,
    /// Max instances; 255 means unlimited.
    pub max_instances: u32,
}

/// `GetNamedPipeHandleState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandleState {
    /// This handle's read mode.
    pub read_mode: ReadMode,
    /// Whether this handle is PIPE_NOWAIT.
    pub nowait: bool,
    /// Current number of instances of the pipe.
    pub instances: u32,
}

/// Builder for a server instance (`CreateNamedPipeW`).
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
    /// `FILE_FLAG_FIRST_PIPE_INSTANCE`: fail with ERROR_ACCESS_DENIED if the pipe exists.
    pub fn first_pipe_instance(&mut self, on: bool) -> &mut Self {
        self.first = on;
        self
    }

    /// Creates one instance of the pipe `name` (`\\.\pipe\NAME`). It listens at once.
    ///
    /// # Errors
    /// ERROR_INVALID_NAME (123), ERROR_INVALID_PARAMETER (87), ERROR_PIPE_BUSY (231) when all
    /// instances exist, ERROR_ACCESS_DENIED (5) for a different direction, a first-instance
    /// request on an existing pipe, or a name owned by another process.
    pub fn create(&self, name: &str) -> io::Result<NamedPipeServer> {
        self.create_ex(name).map(|(s, _)| s)
    }

    /// Like [`create`](Self::create), also telling whether the pipe already existed (the
    /// ERROR_ALREADY_EXISTS that CreateNamedPipe leaves in the last error, W23).
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
            first_instance: self.first,
            read_message: self.read_mode == ReadMode::Message,
            nowait: self.nowait,
        };
        ServerEnd::create(name, cfg).map(|(end, existed)| (NamedPipeServer { end }, existed))
    }

    /// Validates raw Win32 `CreateNamedPipe` arguments and builds options from them.
    ///
    /// # Errors
    /// ERROR_INVALID_PARAMETER for an open mode without a direction or unknown mode bits.
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
            .max_instances(max)
            .out_buffer_size(out)
            .in_buffer_size(inb)
            .default_timeout(timeout)
            .first_pipe_instance(open_mode & 0x0008_0000 != 0);
        Ok(o)
    }
}

fn deadline(t: Duration) -> Option<Instant> {
    Instant::now().checked_add(t)
}

fn read_as_io(r: io::Result<crate::semantics::pipe::ReadResult>) -> io::Result<usize> {
    match r {
        Ok(r) => Ok(r.n),
        Err(e) if crate::win32_code(&e) == ERROR_BROKEN_PIPE => Ok(0),
        Err(e) => Err(e),
    }
}

fn msg(r: crate::semantics::pipe::ReadResult) -> MsgLen {
    MsgLen {
        read: r.n,
        left: r.left,
    }
}

fn peek_info(p: crate::semantics::pipe::Peeked) -> PeekInfo {
    PeekInfo {
        read: p.read,
        available: p.avail,
        left_this_message: p.left,
    }
}

fn split_state(bits: u32, instances: u32) -> HandleState {
    HandleState {
        read_mode: if bits & 2 != 0 {
            ReadMode::Message
        } else {
            ReadMode::Byte
        },
        nowait: bits & 1 != 0,
        instances,
    }
}

fn mode_bits(read_mode: ReadMode, nowait: bool) -> u32 {
    (nowait as u32) | (((read_mode == ReadMode::Message) as u32) << 1)
}

/// One server instance of a named pipe.
///
/// `Read`/`Write` are implemented for `NamedPipeServer` and `&NamedPipeServer`, so threads can
/// share one instance; a read that ends on a peer's close returns `Ok(0)`.
#[derive(Debug)]
pub struct NamedPipeServer {
    end: ServerEnd,
}

impl NamedPipeServer {
    /// Reserves one whole outgoing message of `len` bytes in the shared queue, to fill in place
    /// and [`commit`](MsgWriter::commit): no copy through a user buffer. Waits for room like a
    /// write. ERROR_INVALID_PARAMETER when the message is larger than the queue (a plain write
    /// streams such messages).
    pub fn reserve_msg(&self, len: usize) -> io::Result<MsgWriter<'_>> {
        Ok(MsgWriter::new(
            self.end.reserve(len)?,
            EndRef::Server(&self.end),
        ))
    }

    /// Waits for the next whole message and returns it in place, without copying; dropping the
    /// [`MsgRef`] releases its space. ERROR_INSUFFICIENT_BUFFER when the message is larger than
    /// the queue or already partly read (read it with [`recv_msg`](Self::recv_msg)).
    pub fn recv_in_place(&self) -> io::Result<MsgRef<'_>> {
        Ok(MsgRef::new(self.end.read_in_place()?))
    }

    /// Waits for a client (`ConnectNamedPipe`). Succeeds at once if one already connected
    /// (ERROR_PIPE_CONNECTED on Windows, W33).
    ///
    /// # Errors
    /// ERROR_NO_DATA if the client already closed (call [`disconnect`](Self::disconnect)),
    /// ERROR_PIPE_LISTENING for a PIPE_NOWAIT handle with no client.
    #[doc(alias = "ConnectNamedPipe")]
    pub fn connect(&self) -> io::Result<()> {
        self.end.connect(None).map(|_| ())
    }

    /// Like [`connect`](Self::connect), giving up after `timeout` with ERROR_SEM_TIMEOUT.
    pub fn connect_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.end.connect(deadline(timeout)).map(|_| ())
    }

    /// Like [`connect`](Self::connect), telling whether a client was already connected
    /// (`true` is ConnectNamedPipe's FALSE + ERROR_PIPE_CONNECTED).
    pub fn connect_status(&self) -> io::Result<bool> {
        self.end.connect(None)
    }

    /// Drops the client (`DisconnectNamedPipe`): unread data is discarded and every later
    /// operation on the client fails with ERROR_PIPE_NOT_CONNECTED (W44).
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
    #[doc(alias = "CloseHandle")]
    pub fn close(&self) {
        self.end.close()
    }

    /// Reads at most one message (message read mode) or gathers bytes (byte read mode).
    #[doc(alias = "ReadFile")]
    pub fn recv_msg(&self, buf: &mut [u8]) -> io::Result<MsgLen> {
        self.end.read(buf, None).map(msg)
    }

    /// [`recv_msg`](Self::recv_msg) with a timeout (ERROR_SEM_TIMEOUT).
    pub fn recv_msg_timeout(&self, buf: &mut [u8], timeout: Duration) -> io::Result<MsgLen> {
        self.end.read(buf, deadline(timeout)).map(msg)
    }

    /// Writes one message (or bytes, on a byte pipe); returns once it fits the quota.
    #[doc(alias = "WriteFile")]
    pub fn send_msg(&self, data: &[u8]) -> io::Result<usize> {
        self.end.write(data, None)
    }

    /// Copies without consuming (`PeekNamedPipe`). `None` only asks for counts.
    #[doc(alias = "PeekNamedPipe")]
    pub fn peek(&self, buf: Option<&mut [u8]>) -> io::Result<PeekInfo> {
        self.end.peek(buf).map(peek_info)
    }

    /// Writes `request` and reads one reply message (`TransactNamedPipe`).
    #[doc(alias = "TransactNamedPipe")]
    pub fn transact(&self, request: &[u8], reply: &mut [u8]) -> io::Result<MsgLen> {
        self.end.transact(request, reply, None).map(msg)
    }

    /// Waits until the client has read everything written so far (`FlushFileBuffers`).
    #[doc(alias = "FlushFileBuffers")]
    pub fn flush_buffers(&self) -> io::Result<()> {
        self.end.flush(None)
    }

    /// A descriptor for `poll`/`epoll` that becomes readable when a read may find data, or the
    /// client has gone. Use it with PIPE_NOWAIT reads ([`set_mode`](Self::set_mode)): a read
    /// that finds nothing clears it and arms it again, so the readiness is level-triggered in
    /// effect (read until "no data", then poll again). Readiness can be spurious. An armed end
    /// costs the writer one `write` to an eventfd at its next message, an idle one nothing. The
    /// descriptor is the end's for all its connections (see [`nonblocking`] for the general
    /// mechanism). This is an extension, not a Win32 call.
    pub fn read_ready_fd(&self) -> io::Result<OwnedFd> {
        self.end.read_ready_fd()
    }

    /// Sets this handle's read mode and wait mode (`SetNamedPipeHandleState`).
    #[doc(alias = "SetNamedPipeHandleState")]
    pub fn set_mode(&self, read_mode: ReadMode, nowait: bool) -> io::Result<()> {
        self.end.set_mode(mode_bits(read_mode, nowait))
    }

    /// Sets the mode from raw Win32 bits (PIPE_READMODE_MESSAGE = 2, PIPE_NOWAIT = 1).
    pub fn set_mode_bits(&self, bits: u32) -> io::Result<()> {
        self.end.set_mode(bits)
    }

    /// `GetNamedPipeHandleState`.
    #[doc(alias = "GetNamedPipeHandleStateW")]
    pub fn handle_state(&self) -> HandleState {
        let (b, n) = self.end.handle_state();
        split_state(b, n)
    }

    /// `GetNamedPipeInfo`.
    #[doc(alias = "GetNamedPipeInfo")]
    pub fn info(&self) -> PipeInfo {
        let (m, out, inb, max) = self.end.pipe_info();
        PipeInfo {
            server_end: true,
            mode: if m { PipeMode::Message } else { PipeMode::Byte },
            out_buffer_size: out,
            in_buffer_size: inb,
            max_instances: max,
        }
    }

    /// `GetNamedPipeClientProcessId`: ERROR_NOT_FOUND after a disconnect (W132).
    #[doc(alias = "GetNamedPipeClientProcessId")]
    pub fn client_process_id(&self) -> io::Result<u32> {
        self.end.client_pid()
    }

    /// `GetNamedPipeServerProcessId`: this process.
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

/// Builder for a client end (`CreateFileW` on a pipe name).
#[derive(Debug, Clone)]
#[doc(alias = "CreateFileW")]
pub struct ClientOptions {
    access: u32,
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
            access: 0x8000_0000 | 0x4000_0000,
            trust: Trust::default(),
        }
    }
    /// Request read access (`GENERIC_READ`); needs an outbound or duplex pipe (W22).
    pub fn read(&mut self, on: bool) -> &mut Self {
        self.set(READ_BITS & 0x8000_0000, on)
    }
    /// Request write access (`GENERIC_WRITE`); needs an inbound or duplex pipe (W22).
    pub fn write(&mut self, on: bool) -> &mut Self {
        self.set(WRITE_BITS & 0x4000_0000, on)
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

    /// Also accept a server running as `uid`. By default a client only talks to a server of
    /// its own user or root, whatever user the client runs as (root included): a process of
    /// another user that took the name first would otherwise receive the client's data. Use
    /// this when a service of a known other user is expected to serve the name.
    pub fn trust_server_uid(&mut self, uid: u32) -> &mut Self {
        self.trust.extra_uid = Some(uid);
        self
    }

    /// Connects to a listening instance of `name`. The client starts in byte read mode and
    /// blocking mode whatever the server uses (W57).
    ///
    /// # Errors
    /// ERROR_FILE_NOT_FOUND (2) when no such pipe exists, ERROR_PIPE_BUSY (231) when no
    /// instance listens, ERROR_ACCESS_DENIED (5) when the direction forbids the access or the
    /// server runs as a user this client does not trust (see
    /// [`trust_server_uid`](Self::trust_server_uid)), ERROR_SEM_TIMEOUT (121) when the server
    /// does not answer within 10 s, ERROR_BAD_PIPE (230) for a malformed answer.
    pub fn open(&self, name: &str) -> io::Result<NamedPipeClient> {
        ClientEnd::open(name, self.access, self.trust).map(|end| NamedPipeClient { end })
    }
}

/// A client end of a named pipe.
#[derive(Debug)]
pub struct NamedPipeClient {
    end: ClientEnd,
}

impl NamedPipeClient {
    /// Closes this end now (`CloseHandle`), even while other threads are using it: an
    /// operation in progress fails with ERROR_OPERATION_ABORTED (995), every later call with
    /// ERROR_INVALID_HANDLE (6), and the server sees the close (W113-W115). Dropping the value
    /// does the same. Calling it again does nothing.
    #[doc(alias = "CloseHandle")]
    pub fn close(&self) {
        self.end.close()
    }

    /// Reserves one whole outgoing message in the shared queue, to fill in place (see
    /// [`NamedPipeServer::reserve_msg`]).
    pub fn reserve_msg(&self, len: usize) -> io::Result<MsgWriter<'_>> {
        Ok(MsgWriter::new(
            self.end.reserve(len)?,
            EndRef::Client(&self.end),
        ))
    }

    /// The next whole message, in place (see [`NamedPipeServer::recv_in_place`]).
    pub fn recv_in_place(&self) -> io::Result<MsgRef<'_>> {
        Ok(MsgRef::new(self.end.read_in_place()?))
    }

    /// Reads at most one message (message read mode) or gathers bytes (byte read mode).
    #[doc(alias = "ReadFile")]
    pub fn recv_msg(&self, buf: &mut [u8]) -> io::Result<MsgLen> {
        self.end.read(buf, None).map(msg)
    }

    /// [`recv_msg`](Self::recv_msg) with a timeout (ERROR_SEM_TIMEOUT).
    pub fn recv_msg_timeout(&self, buf: &mut [u8], timeout: Duration) -> io::Result<MsgLen> {
        self.end.read(buf, deadline(timeout)).map(msg)
    }

    /// Writes one message (or bytes on a byte pipe).
    #[doc(alias = "WriteFile")]
    pub fn send_msg(&self, data: &[u8]) -> io::Result<usize> {
        self.end.write(data, None)
    }

    /// `PeekNamedPipe`.
    #[doc(alias = "PeekNamedPipe")]
    pub fn peek(&self, buf: Option<&mut [u8]>) -> io::Result<PeekInfo> {
        self.end.peek(buf).map(peek_info)
    }

    /// `TransactNamedPipe`: needs message read mode (ERROR_BAD_PIPE otherwise).
    #[doc(alias = "TransactNamedPipe")]
    pub fn transact(&self, request: &[u8], reply: &mut [u8]) -> io::Result<MsgLen> {
        self.end.transact(request, reply, None).map(msg)
    }

    /// `FlushFileBuffers`.
    #[doc(alias = "FlushFileBuffers")]
    pub fn flush_buffers(&self) -> io::Result<()> {
        self.end.flush(None)
    }

    /// A descriptor for `poll`/`epoll` that becomes readable when a read may find data, or the
    /// server end has gone (closed, disconnected, or its process died). Use it with PIPE_NOWAIT
    /// reads ([`set_mode`](Self::set_mode)): a read that finds nothing clears it and arms it
    /// again. Readiness can be spurious. An armed end costs the server one `write` to an
    /// eventfd at its next message. See [`nonblocking`] for the general mechanism. An
    /// extension, not a Win32 call.
    pub fn read_ready_fd(&self) -> io::Result<OwnedFd> {
        self.end.read_ready_fd()
    }

    /// `SetNamedPipeHandleState`.
    #[doc(alias = "SetNamedPipeHandleState")]
    pub fn set_mode(&self, read_mode: ReadMode, nowait: bool) -> io::Result<()> {
        self.end.set_mode(mode_bits(read_mode, nowait))
    }

    /// Sets the mode from raw Win32 bits.
    pub fn set_mode_bits(&self, bits: u32) -> io::Result<()> {
        self.end.set_mode(bits)
    }

    /// `GetNamedPipeHandleState`.
    #[doc(alias = "GetNamedPipeHandleStateW")]
    pub fn handle_state(&self) -> io::Result<HandleState> {
        let (b, n) = self.end.handle_state()?;
        Ok(split_state(b, n))
    }

    /// `GetNamedPipeInfo`.
    #[doc(alias = "GetNamedPipeInfo")]
    pub fn info(&self) -> io::Result<PipeInfo> {
        let (m, out, inb, max) = self.end.pipe_info()?;
        Ok(PipeInfo {
            server_end: false,
            mode: if m { PipeMode::Message } else { PipeMode::Byte },
            out_buffer_size: out,
            in_buffer_size: inb,
            max_instances: max,
        })
    }

    /// `GetNamedPipeServerProcessId`.
    #[doc(alias = "GetNamedPipeServerProcessId")]
    pub fn server_process_id(&self) -> io::Result<u32> {
        self.end.server_pid()
    }

    /// `GetNamedPipeClientProcessId`: this process.
    #[doc(alias = "GetNamedPipeClientProcessId")]
    pub fn client_process_id(&self) -> io::Result<u32> {
        self.end.client_pid()
    }

    /// The name this client opened.
    pub fn name(&self) -> &str {
        self.end.display_name()
    }

    /// Whether the pipe is message type.
    pub fn is_message_type(&self) -> bool {
        self.end.pipe_type_message()
    }
}

impl io::Read for &NamedPipeClient {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        read_as_io(self.end.read(buf, None))
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
        self.end.write(&buf[..n], None)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.end.flush(None)
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
    /// The control socket: it reports hang-up when the server end goes away.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.end.ctl_fd()
    }
}

impl AsRawFd for NamedPipeClient {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// How long [`wait_named_pipe`] waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
/// next open may still find every instance busy (W34).
///
/// # Errors
/// ERROR_FILE_NOT_FOUND at once when no such pipe exists (W8), ERROR_SEM_TIMEOUT (121) on timeout.
#[doc(alias = "WaitNamedPipeW")]
pub fn wait_named_pipe(name: &str, wait: WaitFor) -> io::Result<()> {
    pipe::wait_named_pipe(name, wait.raw(), Trust::default())
}

/// Opens `name` (waiting once if busy), switches to message read mode, transacts, closes
/// (`CallNamedPipeW`, W130).
#[doc(alias = "CallNamedPipeW")]
pub fn call_named_pipe(
    name: &str,
    request: &[u8],
    reply: &mut [u8],
    wait: WaitFor,
) -> io::Result<MsgLen> {
    pipe::call_named_pipe(name, request, reply, wait.raw()).map(msg)
}

/// The Linux abstract socket address (without its leading NUL byte) a pipe or mailslot name
/// maps to, for
/// diagnostics: it is what `ss -x` or `/proc/net/unix` show as `@ADDRESS`.
///
/// # Errors
/// ERROR_INVALID_NAME or ERROR_FILENAME_EXCED_RANGE for a bad name.
pub fn socket_address(name: &str) -> io::Result<Vec<u8>> {
    pipe::socket_address(name)
}
