//! Mailslots: [`Mailslot`] (the reader, CreateMailslot) and [`MailslotWriter`] (CreateFile on a
//! mailslot name).

use std::fmt;
use std::io;
use std::time::Duration;

use crate::error::code::*;
use crate::semantics::mailslot::{
    MailslotConfig, MailslotServer, MailslotWriter as WriterEnd, DEFAULT_CAPACITY, FOREVER,
};

fn timeout_ms(t: Option<Duration>) -> u32 {
    match t {
        None => FOREVER,
        Some(d) => d.as_millis().min((FOREVER - 1) as u128) as u32,
    }
}

fn timeout_of(ms: u32) -> Option<Duration> {
    (ms != FOREVER).then(|| Duration::from_millis(ms as u64))
}

/// Builds a mailslot (the parameters of `CreateMailslot`).
#[derive(Debug, Clone)]
#[doc(alias = "CreateMailslotA")]
#[doc(alias = "CreateMailslotW")]
pub struct MailslotOptions {
    cfg: MailslotConfig,
}

impl Default for MailslotOptions {
    fn default() -> Self {
        MailslotOptions::new()
    }
}

impl MailslotOptions {
    /// Any message size, reads wait forever, a store of 1 MiB.
    pub fn new() -> MailslotOptions {
        MailslotOptions {
            cfg: MailslotConfig {
                policy: None,
                max_message: 0,
                read_timeout: FOREVER,
                capacity: DEFAULT_CAPACITY,
            },
        }
    }

    /// `nMaxMessageSize`: the largest message a writer may send (0, the default, means any
    /// size the store can hold: its capacity minus 15, for a record's header and alignment).
    /// Larger writes fail with `ERROR_INVALID_PARAMETER` (beyond what the store can hold,
    /// `ERROR_NOT_ENOUGH_QUOTA`).
    pub fn max_message_size(&mut self, bytes: u32) -> &mut Self {
        self.cfg.max_message = bytes;
        self
    }

    /// `lReadTimeout`: how long a read waits for a message (`None`, the default, waits forever;
    /// `Some(Duration::ZERO)` never waits). An expired read fails with `ERROR_SEM_TIMEOUT`.
    pub fn read_timeout(&mut self, t: Option<Duration>) -> &mut Self {
        self.cfg.read_timeout = timeout_ms(t);
        self
    }

    /// The same as [`read_timeout`](Self::read_timeout) in Win32 terms: milliseconds, with
    /// `MAILSLOT_WAIT_FOREVER` (0xFFFFFFFF) for no limit.
    pub fn read_timeout_ms(&mut self, ms: u32) -> &mut Self {
        self.cfg.read_timeout = ms;
        self
    }

    /// The memory cap: how many bytes unread messages may occupy in the reader's store (each
    /// takes its length rounded up to 8 plus 8 bytes). Rounded up to a power of two and to at
    /// least one maximum-size message; at most 64 MiB. Default 1 MiB.
    ///
    /// Writers send to a kernel socket in front of the store; messages move into the store as
    /// it has room. While the store is full, newer messages wait in that socket's buffer, in
    /// order: `SO_SNDBUF`, raised to twice `net.core.wmem_max` (416 KiB with the kernel's
    /// default sysctl), charged 768 bytes per message of up to 191 bytes (x86-64), so some 550
    /// small messages by default. A message over 64 KiB waits there as a sealed memfd whose
    /// memory is charged to its writer. When the socket buffer is full too, a write fails with
    /// `ERROR_NOT_ENOUGH_QUOTA`: messages are never dropped silently.
    pub fn queue_capacity(&mut self, bytes: u64) -> &mut Self {
        self.cfg.capacity = bytes;
        self
    }

    /// Who may write to the mailslot (the DACL of `lpSecurityAttributes`): a writer needs
    /// write access; one the policy does not grant it is refused with ERROR_ACCESS_DENIED at
    /// open. Default: the owning user and root.
    pub fn access_policy(&mut self, policy: super::AccessPolicy) -> &mut Self {
        self.cfg.policy = Some(policy.shared());
        self
    }

    /// Creates the mailslot `name` (`\\.\mailslot\NAME`, any case; pseudo-directories such
    /// as `\\.\mailslot\a\b` are allowed, W152).
    ///
    /// # Errors
    /// - `ERROR_INVALID_NAME` (123) unless the name is `\\.\mailslot\NAME` (W141), or when
    ///   it is too long;
    /// - `ERROR_ALREADY_EXISTS` (183) when a mailslot of that name exists, in any process of
    ///   any user (W144);
    /// - `ERROR_INVALID_PARAMETER` (87) for a maximum message size the capacity limit cannot
    ///   hold;
    /// - OS errors (memory, descriptors) with the closest Win32 code.
    ///
    /// # Examples
    /// ```
    /// use npipe::MailslotOptions;
    /// use std::time::Duration;
    ///
    /// let name = format!(r"\\.\mailslot\npipe-doc-options-{}", std::process::id());
    /// let slot = MailslotOptions::new()
    ///     .max_message_size(512)
    ///     .read_timeout(Some(Duration::from_millis(100)))
    ///     .create(&name)?;
    /// assert_eq!(slot.info()?.max_message_size, 512);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn create(&self, name: &str) -> io::Result<Mailslot> {
        Ok(Mailslot {
            end: MailslotServer::create(name, self.cfg.clone())?,
        })
    }
}

/// What `GetMailslotInfo` reports.
///
/// Not exhaustive, so fields can be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[doc(alias = "GetMailslotInfo")]
pub struct MailslotInfo {
    /// The maximum message size given at creation (0: any size).
    pub max_message_size: u32,
    /// Size of the next message, `None` when the mailslot is empty (`MAILSLOT_NO_MESSAGE`).
    /// `Some(0)` is a queued empty message.
    pub next_size: Option<u32>,
    /// Number of queued messages.
    pub count: u32,
    /// The read timeout (`None`: forever).
    pub read_timeout: Option<Duration>,
}

/// The reading end of a mailslot: receives whole messages from any number of writers, in the
/// order they were written (W149). The mailslot's name exists as long as this value does
/// (W152).
///
/// # Examples
/// ```
/// use npipe::error::code::{ERROR_INSUFFICIENT_BUFFER, ERROR_SEM_TIMEOUT};
/// use npipe::{win32_code, Mailslot, MailslotWriter};
/// use std::time::Duration;
///
/// let name = format!(r"\\.\mailslot\npipe-doc-mailslot-{}", std::process::id());
/// let slot = Mailslot::create(&name)?;
/// let (a, b) = (MailslotWriter::open(&name)?, MailslotWriter::open(&name)?);
/// a.send(b"from a")?;
/// b.send(b"and from b")?;
/// let info = slot.info()?;
/// assert_eq!((info.next_size, info.count), (Some(6), 2));
///
/// let mut small = [0u8; 4];
/// let e = slot.read(&mut small).unwrap_err(); // a message is never cut
/// assert_eq!(win32_code(&e), ERROR_INSUFFICIENT_BUFFER);
/// assert_eq!(slot.recv()?, b"from a");
/// assert_eq!(slot.recv()?, b"and from b");
///
/// slot.set_read_timeout(Some(Duration::ZERO));
/// let e = slot.recv().unwrap_err();
/// assert_eq!(win32_code(&e), ERROR_SEM_TIMEOUT);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Mailslot {
    pub(super) end: MailslotServer,
}

impl Mailslot {
    /// Creates a mailslot with the default options ([`MailslotOptions::new`]).
    ///
    /// # Errors
    /// As [`MailslotOptions::create`].
    pub fn create(name: &str) -> io::Result<Mailslot> {
        MailslotOptions::new().create(name)
    }

    /// The name given at creation.
    pub fn name(&self) -> &str {
        self.end.display_name()
    }

    /// Reads the next whole message into `buf` and returns its length (0 for an empty message).
    /// Waits up to the read timeout.
    ///
    /// # Errors
    /// `ERROR_SEM_TIMEOUT` (121) when no message came within the read timeout (at once for a
    /// timeout of zero, W145-W146); `ERROR_INSUFFICIENT_BUFFER` (122) when `buf` is smaller
    /// than the message, which stays queued (W151).
    #[doc(alias = "ReadFile")]
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.end.read(buf)
    }

    /// Reads the next whole message into a new vector (waiting as [`read`](Self::read) does).
    ///
    /// # Errors
    /// `ERROR_SEM_TIMEOUT` (121) as for [`read`](Self::read).
    pub fn recv(&self) -> io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        loop {
            match self.end.read(&mut buf) {
                Ok(n) => {
                    buf.truncate(n);
                    return Ok(buf);
                }
                Err(e) if crate::win32_code(&e) == ERROR_INSUFFICIENT_BUFFER => {
                    // Another handle may have read in between; ask again.
                    let want = self.end.info()?.1.unwrap_or(0) as usize;
                    buf.resize(want.max(buf.len() * 2).max(64), 0);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Size of the next message and the number of queued messages. While the store is full
    /// (see [`MailslotOptions::queue_capacity`]), the count covers the messages in the store;
    /// those still waiting in the socket in front of it are counted once reads make room.
    ///
    /// # Errors
    /// Only OS errors while moving waiting messages into the store (rare: memory).
    #[doc(alias = "GetMailslotInfo")]
    pub fn info(&self) -> io::Result<MailslotInfo> {
        let (max, next, count, timeout) = self.end.info()?;
        Ok(MailslotInfo {
            max_message_size: max,
            next_size: next,
            count,
            read_timeout: timeout_of(timeout),
        })
    }

    /// Changes the read timeout for every later read (`None`: wait forever).
    #[doc(alias = "SetMailslotInfo")]
    pub fn set_read_timeout(&self, t: Option<Duration>) {
        self.end.set_read_timeout(timeout_ms(t));
    }

    /// [`set_read_timeout`](Self::set_read_timeout) in milliseconds (`MAILSLOT_WAIT_FOREVER`
    /// for no limit).
    pub fn set_read_timeout_ms(&self, ms: u32) {
        self.end.set_read_timeout(ms);
    }

    /// The store's capacity in bytes, the memory cap (see [`MailslotOptions::queue_capacity`]).
    pub fn queue_capacity(&self) -> u64 {
        self.end.capacity()
    }
}

/// A writer to a mailslot. Each write is one whole message; writes never wait.
///
/// A writer holds one socket shared by all writers of the mailslot (a duplicate received when
/// it opened) and nothing else: it never maps the reader's memory and takes no lock that other
/// writers take, so a writer that stops, crashes or misbehaves cannot read, lose or hold up
/// anyone else's messages.
pub struct MailslotWriter {
    end: WriterEnd,
}

/// One line: the name and the read timeout (`None`: forever).
impl fmt::Debug for Mailslot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailslot")
            .field("name", &format_args!("{}", self.name()))
            .field("read_timeout", &timeout_of(self.end.read_timeout()))
            .finish()
    }
}

/// One line: the name.
impl fmt::Debug for MailslotWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailslotWriter")
            .field("name", &format_args!("{}", self.name()))
            .finish()
    }
}

impl MailslotWriter {
    /// Opens a writer to `\\.\mailslot\NAME` (or `\\*\mailslot\NAME`, which reaches the local
    /// mailslot of that name). Any number of writers may open one mailslot (W148). See
    /// [`Mailslot`] for an example.
    ///
    /// # Errors
    /// `ERROR_FILE_NOT_FOUND` (2) when no such mailslot exists, also for a name that is not a
    /// mailslot name (W141); `ERROR_ACCESS_DENIED` (5) for a mailslot of a user this process
    /// does not trust; `ERROR_BAD_PIPE` (230) for a malformed answer.
    #[doc(alias = "CreateFileA")]
    pub fn open(name: &str) -> io::Result<MailslotWriter> {
        Ok(MailslotWriter {
            end: WriterEnd::open(name)?,
        })
    }

    /// The name given at open.
    pub fn name(&self) -> &str {
        self.end.display_name()
    }

    /// Queues `msg` as one message (an empty `msg` is an empty message) with one nonblocking
    /// send. Never waits (W151).
    ///
    /// # Errors
    /// Fails at once: `ERROR_INVALID_PARAMETER` (87) above the maximum size,
    /// `ERROR_NOT_ENOUGH_QUOTA` (1816) when the message can never fit the store or the store
    /// and the socket buffer in front of it are full, `ERROR_NO_DATA` (232) when the mailslot's
    /// reader is gone.
    #[doc(alias = "WriteFile")]
    pub fn send(&self, msg: &[u8]) -> io::Result<()> {
        self.end.write(msg).map(|_| ())
    }
}

/// Each `write` is one message.
impl io::Write for &MailslotWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.end.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Each `write` is one message.
impl io::Write for MailslotWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.end.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
