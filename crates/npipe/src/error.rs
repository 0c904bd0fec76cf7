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
pub fn win32_code(e: &io::Error) -> u32 {
    if let Some(inner) = Error::from_io(e) {
        return inner.code;
    }
    if let Some(errno) = e.raw_os_error() {
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

/// The `io::ErrorKind` that goes with a Win32 code (the one table of the mapping).
pub fn kind_of(code: u32) -> io::ErrorKind {
    use io::ErrorKind as K;
    match code {
        ERROR_FILE_NOT_FOUND | ERROR_PATH_NOT_FOUND | ERROR_NOT_FOUND => K::NotFound,
        ERROR_ACCESS_DENIED | ERROR_SHARING_VIOLATION => K::PermissionDenied,
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
        ] {
            assert_eq!(kind_of(c), k, "code {c}");
            assert_eq!(win32_code(&Error::io(c, "x")), c);
        }
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
