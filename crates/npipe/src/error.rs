//! Errors: every failure that Windows would report carries its Win32 error code.
//!
//! Public I/O methods return [`std::io::Result`]. The [`std::io::Error`] wraps an [`Error`]
//! that keeps the Win32 code (`ERROR_PIPE_BUSY` = 231, ...) next to a message naming the pipe,
//! and the [`io::ErrorKind`] comes from one table, [`kind_of`]. Use [`win32_code`] to get the
//! code back from any `io::Error` (including plain OS errors).

use std::fmt;
use std::io;

/// Win32 error codes used by npipe, with their Windows values.
#[allow(missing_docs)]
pub mod code {
    pub const ERROR_SUCCESS: u32 = 0;
    pub const ERROR_INVALID_FUNCTION: u32 = 1;
    pub const ERROR_FILE_NOT_FOUND: u32 = 2;
    pub const ERROR_PATH_NOT_FOUND: u32 = 3;
    pub const ERROR_ACCESS_DENIED: u32 = 5;
    pub const ERROR_INVALID_HANDLE: u32 = 6;
    pub const ERROR_NOT_ENOUGH_MEMORY: u32 = 8;
    pub const ERROR_INVALID_DATA: u32 = 13;
    pub const ERROR_SHARING_VIOLATION: u32 = 32;
    pub const ERROR_NOT_SUPPORTED: u32 = 50;
    pub const ERROR_INVALID_PARAMETER: u32 = 87;
    pub const ERROR_BROKEN_PIPE: u32 = 109;
    pub const ERROR_SEM_TIMEOUT: u32 = 121;
    pub const ERROR_INSUFFICIENT_BUFFER: u32 = 122;
    pub const ERROR_INVALID_NAME: u32 = 123;
    pub const ERROR_ALREADY_EXISTS: u32 = 183;
    pub const ERROR_FILENAME_EXCED_RANGE: u32 = 206;
    pub const ERROR_BAD_PIPE: u32 = 230;
    pub const ERROR_PIPE_BUSY: u32 = 231;
    pub const ERROR_NO_DATA: u32 = 232;
    pub const ERROR_PIPE_NOT_CONNECTED: u32 = 233;
    pub const ERROR_MORE_DATA: u32 = 234;
    pub const WAIT_IO_COMPLETION: u32 = 192;
    pub const WAIT_TIMEOUT: u32 = 258;
    pub const ERROR_PIPE_CONNECTED: u32 = 535;
    pub const ERROR_PIPE_LISTENING: u32 = 536;
    pub const ERROR_UNHANDLED_EXCEPTION: u32 = 574;
    pub const ERROR_OPERATION_ABORTED: u32 = 995;
    pub const ERROR_IO_INCOMPLETE: u32 = 996;
    pub const ERROR_IO_PENDING: u32 = 997;
    pub const ERROR_NOACCESS: u32 = 998;
    pub const ERROR_NOT_FOUND: u32 = 1168;
    pub const ERROR_NOT_ENOUGH_QUOTA: u32 = 1816;
    pub const ERROR_CANNOT_IMPERSONATE: u32 = 1368;
    pub const ERROR_PRIVILEGE_NOT_HELD: u32 = 1314;
    pub const ERROR_INVALID_SECURITY_DESCR: u32 = 1338;
}

use code::*;

/// An npipe failure: a Win32 error code plus a message that says what went wrong and with which
/// name. It travels inside an [`io::Error`]; get it back with [`Error::from_io`] or just the code
/// with [`win32_code`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    code: u32,
    message: String,
}

impl Error {
    /// Builds an `io::Error` with the kind that [`kind_of`] gives for `code`.
    pub fn io(code: u32, message: impl Into<String>) -> io::Error {
        Self::io_kind(kind_of(code), code, message)
    }

    /// Builds an `io::Error` with an explicit kind, for codes whose meaning depends on the
    /// operation (ERROR_NO_DATA is "would block" for a PIPE_NOWAIT read, "closing" for a write).
    pub fn io_kind(kind: io::ErrorKind, code: u32, message: impl Into<String>) -> io::Error {
        io::Error::new(
            kind,
            Error {
                code,
                message: message.into(),
            },
        )
    }

    /// The Win32 error code (`GetLastError()` value).
    pub fn code(&self) -> u32 {
        self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The npipe error inside `e`, if it has one.
    pub fn from_io(e: &io::Error) -> Option<&Error> {
        e.get_ref().and_then(|inner| inner.downcast_ref::<Error>())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} = {})",
            self.message,
            name_of(self.code),
            self.code
        )
    }
}

impl std::error::Error for Error {}

/// The Win32 error code for any `io::Error`: the code an npipe error carries, or the closest
/// Win32 code for a plain OS error or kind.
///
/// # Examples
/// ```
/// use npipe::error::code::ERROR_FILE_NOT_FOUND;
/// use npipe::{win32_code, ClientOptions};
/// use std::io::ErrorKind;
///
/// let name = format!(r"\\.\pipe\npipe-doc-nobody-{}", std::process::id());
/// let e = ClientOptions::new().open(&name).unwrap_err();
/// assert_eq!(win32_code(&e), ERROR_FILE_NOT_FOUND); // 2, as GetLastError() on Windows
/// assert_eq!(e.kind(), ErrorKind::NotFound); // from the one table, `kind_of`
/// let inner = npipe::Error::from_io(&e).expect("an npipe error");
/// assert!(inner.message().contains(&name)); // the message names the pipe
/// ```
pub fn win32_code(e: &io::Error) -> u32 {
    if let Some(inner) = Error::from_io(e) {
        return inner.code;
    }
    if let Some(errno) = e.raw_os_error() {
        if errno > LAST_ERRNO {
            // No Linux errno has this value: a Win32 code carried as a raw OS error
            // ([`with_raw_code`]).
            return errno as u32;
        }
        return match errno {
            libc::ENOENT | libc::ECONNREFUSED => ERROR_FILE_NOT_FOUND,
            libc::EACCES | libc::EPERM => ERROR_ACCESS_DENIED,
            libc::EBADF => ERROR_INVALID_HANDLE,
            libc::ENOMEM | libc::EMFILE | libc::ENFILE => ERROR_NOT_ENOUGH_MEMORY,
            libc::EINVAL => ERROR_INVALID_PARAMETER,
            libc::EPIPE | libc::ECONNRESET => ERROR_BROKEN_PIPE,
            libc::ETIMEDOUT => ERROR_SEM_TIMEOUT,
            libc::ENAMETOOLONG => ERROR_FILENAME_EXCED_RANGE,
            libc::EAGAIN => ERROR_NO_DATA,
            _ => ERROR_INVALID_FUNCTION,
        };
    }
    match e.kind() {
        io::ErrorKind::NotFound => ERROR_FILE_NOT_FOUND,
        io::ErrorKind::PermissionDenied => ERROR_ACCESS_DENIED,
        io::ErrorKind::InvalidInput => ERROR_INVALID_PARAMETER,
        io::ErrorKind::BrokenPipe => ERROR_BROKEN_PIPE,
        io::ErrorKind::TimedOut => ERROR_SEM_TIMEOUT,
        io::ErrorKind::WouldBlock => ERROR_NO_DATA,
        io::ErrorKind::NotConnected => ERROR_PIPE_NOT_CONNECTED,
        io::ErrorKind::OutOfMemory => ERROR_NOT_ENOUGH_MEMORY,
        _ => ERROR_INVALID_FUNCTION,
    }
}

/// The highest Linux errno value (`EHWPOISON`): a raw OS error above it can only be a Win32
/// code that [`with_raw_code`] put there.
const LAST_ERRNO: i32 = libc::EHWPOISON;

/// `e` with its Win32 code as [`io::Error::raw_os_error`], where that cannot mislead: the
/// error style of `npipe::tokio`, so code written for tokio's Windows named pipes can check
/// `e.raw_os_error() == Some(ERROR_PIPE_BUSY as i32)` unchanged.
///
/// The mapping, by code:
/// - a code above the last Linux errno (133: every pipe-specific code, such as
///   `ERROR_PIPE_BUSY` 231, `ERROR_NO_DATA` 232, `ERROR_PIPE_NOT_CONNECTED` 233,
///   `ERROR_PIPE_CONNECTED` 535, `ERROR_PIPE_LISTENING` 536, `ERROR_OPERATION_ABORTED` 995)
///   becomes `io::Error::from_raw_os_error(code)`. No Linux errno has that number, so the
///   error describes itself as "Unknown error 231 (os error 231)", which names the code and
///   claims nothing false; [`win32_code`] returns the code. The cost: the npipe message (which
///   names the pipe) and the [`io::ErrorKind`] are gone, `kind()` is `Uncategorized` (shown as
///   "uncategorized error"), where Windows' std would say `ResourceBusy` or `BrokenPipe`;
/// - `ERROR_FILE_NOT_FOUND` (2) becomes the raw OS error 2, which is `ENOENT` on Linux: the
///   same meaning, so the text ("No such file or directory") and `kind()` (`NotFound`) hold
///   as on Windows;
/// - every other code (below 134: `ERROR_ACCESS_DENIED` 5, `ERROR_BROKEN_PIPE` 109,
///   `ERROR_SEM_TIMEOUT` 121, `ERROR_INVALID_PARAMETER` 87, ...) keeps npipe's error, whose
///   `kind()` follows [`kind_of`] and whose message names the pipe: as raw OS errors those
///   numbers are Linux errnos of another meaning (5 is `EIO`, 109 `ETOOMANYREFS`), so their
///   text would lie. `raw_os_error()` is `None` for them; check `kind()` (as std on Windows
///   maps them: `PermissionDenied`, `BrokenPipe`, `TimedOut`, `InvalidInput`) or
///   [`win32_code`];
/// - errors without a Win32 code are returned as they are.
pub fn with_raw_code(e: io::Error) -> io::Error {
    let code = match Error::from_io(&e) {
        Some(inner) => inner.code,
        None => return e,
    };
    match i32::try_from(code) {
        Ok(c) if c > LAST_ERRNO || code == ERROR_FILE_NOT_FOUND => io::Error::from_raw_os_error(c),
        _ => e,
    }
}

/// The `io::ErrorKind` that goes with a Win32 code (the one table of the mapping).
pub fn kind_of(code: u32) -> io::ErrorKind {
    use io::ErrorKind as K;
    match code {
        ERROR_FILE_NOT_FOUND | ERROR_PATH_NOT_FOUND | ERROR_NOT_FOUND => K::NotFound,
        ERROR_ACCESS_DENIED | ERROR_SHARING_VIOLATION | ERROR_PRIVILEGE_NOT_HELD => {
            K::PermissionDenied
        }
        ERROR_INVALID_SECURITY_DESCR => K::InvalidInput,
        ERROR_INVALID_HANDLE
        | ERROR_INVALID_PARAMETER
        | ERROR_INSUFFICIENT_BUFFER
        | ERROR_NOACCESS => K::InvalidInput,
        ERROR_INVALID_NAME | ERROR_FILENAME_EXCED_RANGE => K::InvalidFilename,
        ERROR_INVALID_DATA => K::InvalidData,
        ERROR_NOT_ENOUGH_MEMORY => K::OutOfMemory,
        ERROR_NOT_ENOUGH_QUOTA => K::QuotaExceeded,
        ERROR_ALREADY_EXISTS | ERROR_PIPE_CONNECTED => K::AlreadyExists,
        ERROR_BROKEN_PIPE | ERROR_NO_DATA => K::BrokenPipe,
        ERROR_SEM_TIMEOUT | WAIT_TIMEOUT => K::TimedOut,
        ERROR_PIPE_BUSY => K::ResourceBusy,
        ERROR_PIPE_NOT_CONNECTED => K::NotConnected,
        ERROR_PIPE_LISTENING | ERROR_IO_PENDING | ERROR_IO_INCOMPLETE => K::WouldBlock,
        ERROR_OPERATION_ABORTED => K::Interrupted,
        ERROR_INVALID_FUNCTION | ERROR_NOT_SUPPORTED | ERROR_CANNOT_IMPERSONATE => K::Unsupported,
        ERROR_BAD_PIPE => K::InvalidInput,
        ERROR_MORE_DATA => K::Other,
        _ => K::Other,
    }
}

/// The symbolic Win32 name of a code, for messages.
pub fn name_of(code: u32) -> &'static str {
    match code {
        ERROR_SUCCESS => "ERROR_SUCCESS",
        ERROR_INVALID_FUNCTION => "ERROR_INVALID_FUNCTION",
        ERROR_FILE_NOT_FOUND => "ERROR_FILE_NOT_FOUND",
        ERROR_PATH_NOT_FOUND => "ERROR_PATH_NOT_FOUND",
        ERROR_ACCESS_DENIED => "ERROR_ACCESS_DENIED",
        ERROR_INVALID_HANDLE => "ERROR_INVALID_HANDLE",
        ERROR_NOT_ENOUGH_MEMORY => "ERROR_NOT_ENOUGH_MEMORY",
        ERROR_INVALID_DATA => "ERROR_INVALID_DATA",
        ERROR_SHARING_VIOLATION => "ERROR_SHARING_VIOLATION",
        ERROR_NOT_SUPPORTED => "ERROR_NOT_SUPPORTED",
        ERROR_INVALID_PARAMETER => "ERROR_INVALID_PARAMETER",
        ERROR_BROKEN_PIPE => "ERROR_BROKEN_PIPE",
        ERROR_SEM_TIMEOUT => "ERROR_SEM_TIMEOUT",
        ERROR_INSUFFICIENT_BUFFER => "ERROR_INSUFFICIENT_BUFFER",
        ERROR_INVALID_NAME => "ERROR_INVALID_NAME",
        ERROR_ALREADY_EXISTS => "ERROR_ALREADY_EXISTS",
        ERROR_NOT_ENOUGH_QUOTA => "ERROR_NOT_ENOUGH_QUOTA",
        ERROR_FILENAME_EXCED_RANGE => "ERROR_FILENAME_EXCED_RANGE",
        ERROR_BAD_PIPE => "ERROR_BAD_PIPE",
        ERROR_PIPE_BUSY => "ERROR_PIPE_BUSY",
        ERROR_NO_DATA => "ERROR_NO_DATA",
        ERROR_PIPE_NOT_CONNECTED => "ERROR_PIPE_NOT_CONNECTED",
        ERROR_MORE_DATA => "ERROR_MORE_DATA",
        WAIT_IO_COMPLETION => "WAIT_IO_COMPLETION",
        WAIT_TIMEOUT => "WAIT_TIMEOUT",
        ERROR_PIPE_CONNECTED => "ERROR_PIPE_CONNECTED",
        ERROR_PIPE_LISTENING => "ERROR_PIPE_LISTENING",
        ERROR_UNHANDLED_EXCEPTION => "ERROR_UNHANDLED_EXCEPTION",
        ERROR_OPERATION_ABORTED => "ERROR_OPERATION_ABORTED",
        ERROR_IO_INCOMPLETE => "ERROR_IO_INCOMPLETE",
        ERROR_IO_PENDING => "ERROR_IO_PENDING",
        ERROR_NOACCESS => "ERROR_NOACCESS",
        ERROR_NOT_FOUND => "ERROR_NOT_FOUND",
        ERROR_CANNOT_IMPERSONATE => "ERROR_CANNOT_IMPERSONATE",
        ERROR_PRIVILEGE_NOT_HELD => "ERROR_PRIVILEGE_NOT_HELD",
        ERROR_INVALID_SECURITY_DESCR => "ERROR_INVALID_SECURITY_DESCR",
        _ => "ERROR_UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_survives_io_error() {
        let e = Error::io(ERROR_PIPE_BUSY, r"all instances of \\.\pipe\x are busy");
        assert_eq!(win32_code(&e), 231);
        assert_eq!(e.kind(), io::ErrorKind::ResourceBusy);
        assert!(e.to_string().contains("ERROR_PIPE_BUSY"));
        assert!(e.to_string().contains(r"\\.\pipe\x"));
    }

    #[test]
    fn kinds_follow_the_table() {
        for (c, k) in [
            (ERROR_FILE_NOT_FOUND, io::ErrorKind::NotFound),
            (ERROR_ACCESS_DENIED, io::ErrorKind::PermissionDenied),
            (ERROR_BROKEN_PIPE, io::ErrorKind::BrokenPipe),
            (ERROR_SEM_TIMEOUT, io::ErrorKind::TimedOut),
            (ERROR_PIPE_NOT_CONNECTED, io::ErrorKind::NotConnected),
            (ERROR_INVALID_NAME, io::ErrorKind::InvalidFilename),
            (ERROR_PRIVILEGE_NOT_HELD, io::ErrorKind::PermissionDenied),
            (ERROR_INVALID_SECURITY_DESCR, io::ErrorKind::InvalidInput),
            (ERROR_CANNOT_IMPERSONATE, io::ErrorKind::Unsupported),
        ] {
            assert_eq!(kind_of(c), k, "code {c}");
            assert_eq!(win32_code(&Error::io(c, "x")), c);
        }
    }

    #[test]
    fn raw_codes_only_where_no_errno_has_the_number() {
        let busy = with_raw_code(Error::io(ERROR_PIPE_BUSY, "busy"));
        assert_eq!(busy.raw_os_error(), Some(231));
        assert_eq!(win32_code(&busy), ERROR_PIPE_BUSY);
        assert!(busy.to_string().contains("231"), "{busy}");
        let gone = with_raw_code(Error::io(ERROR_FILE_NOT_FOUND, "no pipe"));
        assert_eq!(gone.raw_os_error(), Some(2));
        assert_eq!(gone.kind(), io::ErrorKind::NotFound);
        assert_eq!(win32_code(&gone), ERROR_FILE_NOT_FOUND);
        let broken = with_raw_code(Error::io(ERROR_BROKEN_PIPE, r"\\.\pipe\x closed"));
        assert_eq!(broken.raw_os_error(), None);
        assert_eq!(broken.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(win32_code(&broken), ERROR_BROKEN_PIPE);
        assert!(broken.to_string().contains("ERROR_BROKEN_PIPE"));
        let plain = with_raw_code(io::Error::from_raw_os_error(libc::EPIPE));
        assert_eq!(plain.raw_os_error(), Some(libc::EPIPE));
        assert_eq!(win32_code(&plain), ERROR_BROKEN_PIPE);
    }

    #[test]
    fn os_errors_map_to_codes() {
        assert_eq!(
            win32_code(&io::Error::from_raw_os_error(libc::ECONNREFUSED)),
            ERROR_FILE_NOT_FOUND
        );
        assert_eq!(
            win32_code(&io::Error::from_raw_os_error(libc::EPIPE)),
            ERROR_BROKEN_PIPE
        );
    }
}
