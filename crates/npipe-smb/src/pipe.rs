//! Remote pipe handles: [`RemotePipe`] (CreateFile, ReadFile, WriteFile, TransactNamedPipe,
//! PeekNamedPipe, CloseHandle on `\\server\pipe\name`) and [`wait_named_pipe`], in Win32 terms
//! over any [`SmbPipeTransport`]. This is where NTSTATUS answers become Win32 results.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::credentials::server_key;
use crate::error::{code, status, SmbError};
use crate::smb2_backend::Smb2Transport;
use crate::transport::{Fail, FileHandle, ServerKey, SmbPipeTransport};

/// `FSCTL_PIPE_PEEK`.
const FSCTL_PIPE_PEEK: u32 = 0x0011_400C;
/// `FSCTL_PIPE_WAIT`.
const FSCTL_PIPE_WAIT: u32 = 0x0011_0018;
/// `FSCTL_PIPE_TRANSCEIVE`.
const FSCTL_PIPE_TRANSCEIVE: u32 = 0x0011_C017;
/// Size of `FILE_PIPE_PEEK_BUFFER` before its data.
const PEEK_HEADER: usize = 16;
/// How often the polling fallback of [`wait_named_pipe`] tries to open.
const WAIT_POLL: Duration = Duration::from_millis(20);
/// `NMPWAIT_USE_DEFAULT_WAIT` when the server cannot tell its default: npipe's 50 ms.
const DEFAULT_WAIT: Duration = Duration::from_millis(50);

/// The process-wide transport.
pub(crate) fn transport() -> Arc<dyn SmbPipeTransport> {
    static T: OnceLock<Arc<dyn SmbPipeTransport>> = OnceLock::new();
    Arc::clone(T.get_or_init(|| Arc::new(Smb2Transport::default())))
}

/// Result of a read or transaction: `len` bytes were copied; `more` is Windows'
/// `ERROR_MORE_DATA` (the rest of the message is still in the pipe; read it with
/// [`RemotePipe::read`]). Samba never sets `more` on a plain read (its partial reads look
/// complete), only on a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    /// Bytes copied into the buffer.
    pub len: usize,
    /// The server reported more data of this message (`STATUS_BUFFER_OVERFLOW`).
    pub more: bool,
}

/// What `PeekNamedPipe` reports (`FILE_PIPE_PEEK_BUFFER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peek {
    /// Bytes copied into the buffer.
    pub copied: usize,
    /// Bytes readable in the pipe.
    pub available: u32,
    /// Length of the next message (0 on a byte pipe).
    pub message_len: u32,
}

/// How long [`wait_named_pipe`] waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitTimeout {
    /// The server's default wait (50 ms where the server cannot say).
    Default,
    /// No limit.
    Forever,
    /// At most this long.
    Timeout(Duration),
}

/// Splits the raw `\\server\pipe\name` display name for messages.
fn display(server: &str, name: &str) -> String {
    format!(r"\\{server}\pipe\{name}")
}

fn checked_name(server: &str, name: &str) -> Result<(), SmbError> {
    if name.is_empty() || name.len() > 256 || name.contains('\0') {
        return Err(SmbError::new(
            code::ERROR_INVALID_NAME,
            format!("{}: not a pipe name", display(server, name)),
        ));
    }
    Ok(())
}

/// The transport's failure as the caller's error, naming `what` and the call `op`.
fn map(f: Fail, op: &str, what: &str) -> SmbError {
    match f {
        Fail::Status(nt) => SmbError::from_status(nt, op, what),
        Fail::Other(e) => SmbError::new(e.win32_code(), format!("{what}: {op}: {}", e.message())),
    }
}

/// An open remote pipe: one SMB CREATE on the server's IPC$ tree.
///
/// Every call blocks the calling thread; a read in one thread and a write in another on the
/// same handle run at the same time. [`close`](Self::close) (or drop) makes calls in progress
/// fail with `ERROR_OPERATION_ABORTED` (995) and later ones with `ERROR_INVALID_HANDLE` (6).
pub struct RemotePipe {
    t: Arc<dyn SmbPipeTransport>,
    h: FileHandle,
    name: String,
    closed: AtomicBool,
}

impl std::fmt::Debug for RemotePipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemotePipe")
            .field("name", &self.name)
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish()
    }
}

impl RemotePipe {
    /// Opens `\\server\pipe\name` (`CreateFile`) with the Win32 desired access `access`
    /// (`GENERIC_READ` 0x80000000 / `GENERIC_WRITE` 0x40000000), logging on as
    /// [`add_connection`](crate::add_connection) or the environment says.
    ///
    /// # Errors
    /// `ERROR_FILE_NOT_FOUND` (2) when the server has no such pipe, `ERROR_BAD_NETPATH` (53)
    /// when the server cannot be reached, `ERROR_LOGON_FAILURE` (1326) for a wrong user name
    /// or password, `ERROR_ACCESS_DENIED` (5), `ERROR_PIPE_BUSY` (231) from a Windows server
    /// with no free instance (Samba never says busy), `ERROR_INVALID_NAME` (123).
    pub fn open(server: &str, name: &str, access: u32) -> Result<RemotePipe, SmbError> {
        Self::open_with(transport(), server, name, access)
    }

    pub(crate) fn open_with(
        t: Arc<dyn SmbPipeTransport>,
        server: &str,
        name: &str,
        access: u32,
    ) -> Result<RemotePipe, SmbError> {
        let what = display(server, name);
        checked_name(server, name)?;
        let key = server_key(server)?;
        let h = t
            .open(&key, name, access)
            .map_err(|f| map(f, "CreateFile", &what))?;
        Ok(RemotePipe {
            t,
            h,
            name: what,
            closed: AtomicBool::new(false),
        })
    }

    /// `\\server\pipe\name` as opened.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn live(&self) -> Result<(), SmbError> {
        // Relaxed: only a hint for a clear error; the transport refuses closed handles itself.
        if self.closed.load(Ordering::Relaxed) {
            return Err(SmbError::new(
                code::ERROR_INVALID_HANDLE,
                format!("{}: the handle is closed", self.name),
            ));
        }
        Ok(())
    }

    /// Writes `data` as one message (`WriteFile`).
    ///
    /// # Errors
    /// What the server answers, mapped: `ERROR_INVALID_PARAMETER` (87) for a message over
    /// 65535 bytes to Samba (`STATUS_PORT_MESSAGE_TOO_LONG`), `ERROR_PIPE_NOT_CONNECTED`
    /// (233) after the server closed, `ERROR_NO_DATA` (232) from a Windows server whose end is
    /// closing.
    pub fn write(&self, data: &[u8]) -> Result<usize, SmbError> {
        self.live()?;
        let n = self
            .t
            .write(self.h, data)
            .map_err(|f| map(f, "WriteFile", &self.name))?;
        Ok(n as usize)
    }

    /// Reads at most one message into `buf` (`ReadFile`); waits for one.
    ///
    /// # Errors
    /// `ERROR_PIPE_NOT_CONNECTED` (233) after the server closed (`STATUS_PIPE_DISCONNECTED`),
    /// `ERROR_BROKEN_PIPE` (109) from a Windows server, `ERROR_OPERATION_ABORTED` (995) when
    /// closed meanwhile.
    pub fn read(&self, buf: &mut [u8]) -> Result<Transfer, SmbError> {
        self.live()?;
        let max = buf.len().min(u32::MAX as usize) as u32;
        let (data, more) = self
            .t
            .read(self.h, max)
            .map_err(|f| map(f, "ReadFile", &self.name))?;
        Ok(copy_out(data, more, buf))
    }

    /// `TransactNamedPipe` (FSCTL_PIPE_TRANSCEIVE): writes `request` and reads one reply
    /// message into `reply`; a longer reply gives `more` and its rest stays in the pipe.
    ///
    /// # Errors
    /// As [`write`](Self::write) and [`read`](Self::read); `ERROR_PIPE_BUSY` (231) from a
    /// Windows server when unread data waits (Samba returns that data instead);
    /// `ERROR_NETNAME_DELETED` (64) when the server closed the pipe
    /// (`STATUS_CONNECTION_DISCONNECTED`).
    pub fn transact(&self, request: &[u8], reply: &mut [u8]) -> Result<Transfer, SmbError> {
        self.live()?;
        let max = reply.len().min(u32::MAX as usize) as u32;
        let key = placeholder_key();
        let (data, more) = self
            .t
            .fsctl(&key, Some(self.h), FSCTL_PIPE_TRANSCEIVE, request, max)
            .map_err(|f| map(f, "TransactNamedPipe", &self.name))?;
        Ok(copy_out(data, more, reply))
    }

    /// `PeekNamedPipe` (FSCTL_PIPE_PEEK).
    ///
    /// # Errors
    /// `ERROR_NOT_SUPPORTED` (50) when the server does not implement it: every Samba release
    /// so far answers `STATUS_FS_DRIVER_REQUIRED`. Otherwise as [`read`](Self::read).
    pub fn peek(&self, buf: Option<&mut [u8]>) -> Result<Peek, SmbError> {
        self.live()?;
        let want = buf.as_ref().map_or(0, |b| b.len());
        let max = (PEEK_HEADER + want).min(u32::MAX as usize) as u32;
        let (out, _) = self
            .t
            .fsctl(&placeholder_key(), Some(self.h), FSCTL_PIPE_PEEK, &[], max)
            .map_err(|f| match f {
                Fail::Status(status::FS_DRIVER_REQUIRED) => SmbError::new(
                    code::ERROR_NOT_SUPPORTED,
                    format!(
                        "{}: PeekNamedPipe: the server does not implement FSCTL_PIPE_PEEK \
                         (it answered STATUS_FS_DRIVER_REQUIRED, as Samba does)",
                        self.name
                    ),
                ),
                f => map(f, "PeekNamedPipe", &self.name),
            })?;
        parse_peek(&out, buf).ok_or_else(|| {
            SmbError::new(
                code::ERROR_UNEXP_NET_ERR,
                format!(
                    "{}: PeekNamedPipe: the server's answer is malformed",
                    self.name
                ),
            )
        })
    }

    /// Closes the handle (`CloseHandle`): the server sees the client go. Calls in progress in
    /// other threads fail with `ERROR_OPERATION_ABORTED` (995). A second close does nothing.
    ///
    /// # Errors
    /// What the server answers to CLOSE (the handle is closed here either way).
    pub fn close(&self) -> Result<(), SmbError> {
        if self.closed.swap(true, Ordering::AcqRel) {
            // SYNC POINT with itself: exactly one caller sends the CLOSE.
            return Ok(());
        }
        self.t
            .close(self.h)
            .map_err(|f| map(f, "CloseHandle", &self.name))
    }
}

impl Drop for RemotePipe {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// Calls on an open handle need no server key (the handle knows its link).
fn placeholder_key() -> ServerKey {
    ServerKey {
        host: String::new(),
        port: 0,
        creds: None,
    }
}

fn copy_out(data: Vec<u8>, more: bool, buf: &mut [u8]) -> Transfer {
    // A server never sends more than asked; if one did, the excess is reported as `more`
    // rather than copied past the buffer.
    let len = data.len().min(buf.len());
    buf[..len].copy_from_slice(&data[..len]);
    Transfer {
        len,
        more: more || data.len() > len,
    }
}

/// Reads `FILE_PIPE_PEEK_BUFFER`: state, available, message count, message length, data.
fn parse_peek(out: &[u8], buf: Option<&mut [u8]>) -> Option<Peek> {
    let u =
        |i: usize| -> Option<u32> { Some(u32::from_le_bytes(out.get(i..i + 4)?.try_into().ok()?)) };
    let available = u(4)?;
    let message_len = u(12)?;
    let data = &out[PEEK_HEADER..];
    let copied = match buf {
        Some(b) => {
            let n = data.len().min(b.len());
            b[..n].copy_from_slice(&data[..n]);
            n
        }
        None => 0,
    };
    Some(Peek {
        copied,
        available,
        message_len,
    })
}

/// `FSCTL_PIPE_WAIT` input: Timeout (i64, 100 ns units), NameLength, TimeoutSpecified,
/// padding, Name (UTF-16LE).
fn wait_input(name: &str, timeout: Option<Duration>) -> Vec<u8> {
    let wide: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let ticks = timeout.map_or(0, |d| (d.as_nanos() / 100).min(i64::MAX as u128) as i64);
    let mut v = Vec::with_capacity(14 + wide.len());
    v.extend_from_slice(&(-ticks).to_le_bytes());
    v.extend_from_slice(&(wide.len() as u32).to_le_bytes());
    v.push(timeout.is_some() as u8);
    v.push(0);
    v.extend_from_slice(&wide);
    v
}

/// `WaitNamedPipe` on `\\server\pipe\name`: FSCTL_PIPE_WAIT, or, where the server does not
/// implement it (Samba), opening and closing the pipe every 20 ms until it opens or the time
/// is up. Such a probe reaches the pipe's server as a client that connects and leaves.
///
/// # Errors
/// `ERROR_FILE_NOT_FOUND` (2) at once when there is no such pipe, `ERROR_SEM_TIMEOUT` (121)
/// when no instance was free in time, and the connection errors of [`RemotePipe::open`].
pub fn wait_named_pipe(server: &str, name: &str, wait: WaitTimeout) -> Result<(), SmbError> {
    wait_with(transport(), server, name, wait)
}

pub(crate) fn wait_with(
    t: Arc<dyn SmbPipeTransport>,
    server: &str,
    name: &str,
    wait: WaitTimeout,
) -> Result<(), SmbError> {
    let what = display(server, name);
    checked_name(server, name)?;
    let key = server_key(server)?;
    let limit = match wait {
        WaitTimeout::Default => None,
        WaitTimeout::Forever => Some(Duration::from_secs(u32::MAX as u64 / 1000 * 1000)),
        WaitTimeout::Timeout(d) => Some(d),
    };
    let input = wait_input(name, limit);
    let timeout = || {
        SmbError::new(
            code::ERROR_SEM_TIMEOUT,
            format!("{what}: WaitNamedPipe: no instance became free in time"),
        )
    };
    match t.fsctl(&key, None, FSCTL_PIPE_WAIT, &input, 0) {
        Ok(_) => return Ok(()),
        Err(Fail::Status(
            status::FS_DRIVER_REQUIRED | status::NOT_SUPPORTED | status::INVALID_DEVICE_REQUEST,
        )) => {}
        Err(Fail::Status(status::IO_TIMEOUT)) => return Err(timeout()),
        Err(f) => return Err(map(f, "WaitNamedPipe", &what)),
    }
    let deadline = match wait {
        WaitTimeout::Default => Instant::now().checked_add(DEFAULT_WAIT),
        WaitTimeout::Forever => None,
        WaitTimeout::Timeout(d) => Instant::now().checked_add(d),
    };
    loop {
        match t.open(&key, name, 0) {
            Ok(h) => {
                let _ = t.close(h);
                return Ok(());
            }
            Err(Fail::Status(
                status::PIPE_BUSY | status::PIPE_NOT_AVAILABLE | status::INSTANCE_NOT_AVAILABLE,
            )) => {}
            Err(f) => return Err(map(f, "WaitNamedPipe", &what)),
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return Err(timeout());
        }
        let nap = deadline.map_or(WAIT_POLL, |d| (d - now).min(WAIT_POLL));
        std::thread::sleep(nap);
    }
}
