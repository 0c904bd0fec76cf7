//! The internal seam between the pipe semantics (src/pipe.rs) and an SMB client library: the
//! [`SmbPipeTransport`] trait and the values that cross it. The smb2 crate implements it today
//! (src/smb2_backend.rs); the unit tests implement it with a scripted fake that returns the
//! statuses only a Windows server gives.
//!
//! Contract for every implementation:
//! - each call blocks the calling thread until the server answers (or the handle is closed:
//!   then the call fails with `ERROR_OPERATION_ABORTED`), and may be made from any thread;
//! - a read and a write on one handle from two threads run at the same time;
//! - a server answer other than success comes back as [`Fail::Status`] with the raw NTSTATUS,
//!   untranslated; a `STATUS_BUFFER_OVERFLOW` answer that carries data is a success with
//!   `overflow = true`;
//! - failures that are not a server answer (TCP, name lookup, logon refused by the library)
//!   come back as [`Fail::Other`], already mapped and naming the server, never a password.

use std::fmt;

use crate::error::SmbError;

/// Logon credentials for a server (what `WNetAddConnection2` takes).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Credentials {
    /// User name; empty for an anonymous (null) session.
    pub user: String,
    /// Domain or workgroup; may be empty.
    pub domain: String,
    /// Password. Never printed: `Debug` shows `***`.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("domain", &self.domain)
            .field("password", &"***")
            .finish()
    }
}

/// Which server, on which port, as whom: the key of the connection cache.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ServerKey {
    pub host: String,
    pub port: u16,
    /// `None`: anonymous.
    pub creds: Option<Credentials>,
}

/// One open pipe on a transport (one SMB CREATE).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FileHandle(pub u64);

/// Why a transport call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fail {
    /// The server answered this NTSTATUS.
    Status(u32),
    /// Anything else, already mapped to its Win32 code.
    Other(SmbError),
}

/// Output of a read or an FSCTL: the bytes and whether the server said there is more
/// (`STATUS_BUFFER_OVERFLOW`).
pub(crate) type Chunk = (Vec<u8>, bool);

/// What the pipe layer needs from an SMB client (see the module docs for the contract).
pub(crate) trait SmbPipeTransport: Send + Sync {
    /// CREATE `name` (without the `pipe\` prefix) on the server's IPC$ tree with the Win32
    /// desired access `access` (`GENERIC_READ` / `GENERIC_WRITE` bits).
    fn open(&self, server: &ServerKey, name: &str, access: u32) -> Result<FileHandle, Fail>;
    /// WRITE all of `data` as one message; returns the count the server took.
    fn write(&self, h: FileHandle, data: &[u8]) -> Result<u32, Fail>;
    /// READ at most `max` bytes.
    fn read(&self, h: FileHandle, max: u32) -> Result<Chunk, Fail>;
    /// IOCTL `code` as an FSCTL on `h`, or on the server's IPC$ tree with the all-ones file id
    /// when `h` is `None` (FSCTL_PIPE_WAIT).
    fn fsctl(
        &self,
        server: &ServerKey,
        h: Option<FileHandle>,
        code: u32,
        input: &[u8],
        max_out: u32,
    ) -> Result<Chunk, Fail>;
    /// CLOSE; calls in progress on `h` fail with `ERROR_OPERATION_ABORTED`.
    fn close(&self, h: FileHandle) -> Result<(), Fail>;
    /// Drop cached connections to `host` (after its credentials changed).
    fn forget_server(&self, host: &str);
}
