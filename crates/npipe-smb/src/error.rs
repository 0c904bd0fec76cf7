//! The one error type of this crate, [`SmbError`], and the one NTSTATUS -> Win32 table for the
//! remote-pipe surface (what `RtlNtStatusToDosError` gives on Windows for these statuses).

use std::fmt;

/// Win32 error codes this crate returns (values as in `winerror.h`).
pub mod code {
    /// The operation completed (never returned as an error).
    pub const ERROR_SUCCESS: u32 = 0;
    /// `ERROR_INVALID_FUNCTION`.
    pub const ERROR_INVALID_FUNCTION: u32 = 1;
    /// `ERROR_FILE_NOT_FOUND`: no such pipe on the server.
    pub const ERROR_FILE_NOT_FOUND: u32 = 2;
    /// `ERROR_PATH_NOT_FOUND`.
    pub const ERROR_PATH_NOT_FOUND: u32 = 3;
    /// `ERROR_ACCESS_DENIED`.
    pub const ERROR_ACCESS_DENIED: u32 = 5;
    /// `ERROR_INVALID_HANDLE`: the handle was closed.
    pub const ERROR_INVALID_HANDLE: u32 = 6;
    /// `ERROR_NOT_ENOUGH_MEMORY`.
    pub const ERROR_NOT_ENOUGH_MEMORY: u32 = 8;
    /// `ERROR_HANDLE_EOF`.
    pub const ERROR_HANDLE_EOF: u32 = 38;
    /// `ERROR_NOT_SUPPORTED`: the server (or SMB) cannot do this.
    pub const ERROR_NOT_SUPPORTED: u32 = 50;
    /// `ERROR_BAD_NETPATH`: the server cannot be reached (TCP connect or name lookup failed).
    pub const ERROR_BAD_NETPATH: u32 = 53;
    /// `ERROR_UNEXP_NET_ERR`: the SMB exchange itself failed.
    pub const ERROR_UNEXP_NET_ERR: u32 = 59;
    /// `ERROR_NETNAME_DELETED`: the connection to the server was lost.
    pub const ERROR_NETNAME_DELETED: u32 = 64;
    /// `ERROR_NETWORK_ACCESS_DENIED`: the server refused this account the share.
    pub const ERROR_NETWORK_ACCESS_DENIED: u32 = 65;
    /// `ERROR_BAD_NET_NAME`: the server has no such share (IPC$).
    pub const ERROR_BAD_NET_NAME: u32 = 67;
    /// `ERROR_INVALID_PARAMETER`: also a message over 65535 bytes to Samba.
    pub const ERROR_INVALID_PARAMETER: u32 = 87;
    /// `ERROR_BROKEN_PIPE`.
    pub const ERROR_BROKEN_PIPE: u32 = 109;
    /// `ERROR_SEM_TIMEOUT`.
    pub const ERROR_SEM_TIMEOUT: u32 = 121;
    /// `ERROR_INVALID_NAME`.
    pub const ERROR_INVALID_NAME: u32 = 123;
    /// `ERROR_BAD_PIPE`.
    pub const ERROR_BAD_PIPE: u32 = 230;
    /// `ERROR_PIPE_BUSY`.
    pub const ERROR_PIPE_BUSY: u32 = 231;
    /// `ERROR_NO_DATA`.
    pub const ERROR_NO_DATA: u32 = 232;
    /// `ERROR_PIPE_NOT_CONNECTED`.
    pub const ERROR_PIPE_NOT_CONNECTED: u32 = 233;
    /// `ERROR_MORE_DATA` (a result, not a failure: the data came with it).
    pub const ERROR_MORE_DATA: u32 = 234;
    /// `ERROR_MR_MID_NOT_FOUND`: what Windows gives for a status it has no mapping for.
    pub const ERROR_MR_MID_NOT_FOUND: u32 = 317;
    /// `ERROR_FS_DRIVER_REQUIRED`.
    pub const ERROR_FS_DRIVER_REQUIRED: u32 = 588;
    /// `ERROR_OPERATION_ABORTED`: the handle was closed during the call.
    pub const ERROR_OPERATION_ABORTED: u32 = 995;
    /// `ERROR_IO_DEVICE`.
    pub const ERROR_IO_DEVICE: u32 = 1117;
    /// `ERROR_CONNECTION_REFUSED`.
    pub const ERROR_CONNECTION_REFUSED: u32 = 1225;
    /// `ERROR_LOGON_FAILURE`: unknown user name or bad password.
    pub const ERROR_LOGON_FAILURE: u32 = 1326;
    /// `ERROR_ACCOUNT_RESTRICTION`.
    pub const ERROR_ACCOUNT_RESTRICTION: u32 = 1327;
    /// `ERROR_PASSWORD_EXPIRED`.
    pub const ERROR_PASSWORD_EXPIRED: u32 = 1330;
    /// `ERROR_ACCOUNT_DISABLED`.
    pub const ERROR_ACCOUNT_DISABLED: u32 = 1331;
    /// `ERROR_ACCOUNT_LOCKED_OUT`.
    pub const ERROR_ACCOUNT_LOCKED_OUT: u32 = 1909;
    /// `ERROR_NO_USER_SESSION_KEY`: what Windows gives for an expired SMB session.
    pub const ERROR_NO_USER_SESSION_KEY: u32 = 1394;
    /// `ERROR_NO_SYSTEM_RESOURCES`.
    pub const ERROR_NO_SYSTEM_RESOURCES: u32 = 1450;
    /// `ERROR_NOT_CONNECTED`: no connection entry for that server (`cancel_connection`).
    pub const ERROR_NOT_CONNECTED: u32 = 2250;
}

/// NTSTATUS values this crate looks at.
pub mod status {
    /// `STATUS_SUCCESS`.
    pub const SUCCESS: u32 = 0;
    /// `STATUS_BUFFER_OVERFLOW`: a warning, the data came with it.
    pub const BUFFER_OVERFLOW: u32 = 0x8000_0005;
    /// `STATUS_INVALID_HANDLE`.
    pub const INVALID_HANDLE: u32 = 0xC000_0008;
    /// `STATUS_INVALID_PARAMETER`.
    pub const INVALID_PARAMETER: u32 = 0xC000_000D;
    /// `STATUS_INVALID_DEVICE_REQUEST`.
    pub const INVALID_DEVICE_REQUEST: u32 = 0xC000_0010;
    /// `STATUS_END_OF_FILE`.
    pub const END_OF_FILE: u32 = 0xC000_0011;
    /// `STATUS_ACCESS_DENIED`.
    pub const ACCESS_DENIED: u32 = 0xC000_0022;
    /// `STATUS_PORT_MESSAGE_TOO_LONG`: Samba's answer to a message over 65535 bytes.
    pub const PORT_MESSAGE_TOO_LONG: u32 = 0xC000_002F;
    /// `STATUS_OBJECT_NAME_INVALID`.
    pub const OBJECT_NAME_INVALID: u32 = 0xC000_0033;
    /// `STATUS_OBJECT_NAME_NOT_FOUND`.
    pub const OBJECT_NAME_NOT_FOUND: u32 = 0xC000_0034;
    /// `STATUS_OBJECT_PATH_NOT_FOUND`.
    pub const OBJECT_PATH_NOT_FOUND: u32 = 0xC000_003A;
    /// `STATUS_LOGON_FAILURE`.
    pub const LOGON_FAILURE: u32 = 0xC000_006D;
    /// `STATUS_INSTANCE_NOT_AVAILABLE`.
    pub const INSTANCE_NOT_AVAILABLE: u32 = 0xC000_00AB;
    /// `STATUS_PIPE_NOT_AVAILABLE`.
    pub const PIPE_NOT_AVAILABLE: u32 = 0xC000_00AC;
    /// `STATUS_INVALID_PIPE_STATE`.
    pub const INVALID_PIPE_STATE: u32 = 0xC000_00AD;
    /// `STATUS_PIPE_BUSY`.
    pub const PIPE_BUSY: u32 = 0xC000_00AE;
    /// `STATUS_PIPE_DISCONNECTED`.
    pub const PIPE_DISCONNECTED: u32 = 0xC000_00B0;
    /// `STATUS_PIPE_CLOSING`.
    pub const PIPE_CLOSING: u32 = 0xC000_00B1;
    /// `STATUS_IO_TIMEOUT`.
    pub const IO_TIMEOUT: u32 = 0xC000_00B5;
    /// `STATUS_NOT_SUPPORTED`.
    pub const NOT_SUPPORTED: u32 = 0xC000_00BB;
    /// `STATUS_NETWORK_NAME_DELETED`.
    pub const NETWORK_NAME_DELETED: u32 = 0xC000_00C9;
    /// `STATUS_BAD_NETWORK_NAME`.
    pub const BAD_NETWORK_NAME: u32 = 0xC000_00CC;
    /// `STATUS_PIPE_EMPTY`.
    pub const PIPE_EMPTY: u32 = 0xC000_00D9;
    /// `STATUS_CANCELLED`.
    pub const CANCELLED: u32 = 0xC000_0120;
    /// `STATUS_FILE_CLOSED`.
    pub const FILE_CLOSED: u32 = 0xC000_0128;
    /// `STATUS_PIPE_BROKEN`.
    pub const PIPE_BROKEN: u32 = 0xC000_014B;
    /// `STATUS_IO_DEVICE_ERROR`.
    pub const IO_DEVICE_ERROR: u32 = 0xC000_0185;
    /// `STATUS_FS_DRIVER_REQUIRED`: Samba's answer to FSCTL_PIPE_PEEK and FSCTL_PIPE_WAIT.
    pub const FS_DRIVER_REQUIRED: u32 = 0xC000_019C;
    /// `STATUS_CONNECTION_DISCONNECTED`.
    pub const CONNECTION_DISCONNECTED: u32 = 0xC000_020C;
    /// `STATUS_CONNECTION_REFUSED`.
    pub const CONNECTION_REFUSED: u32 = 0xC000_0236;
    /// `STATUS_NO_MEMORY`.
    pub const NO_MEMORY: u32 = 0xC000_0017;
    /// `STATUS_INSUFFICIENT_RESOURCES`.
    pub const INSUFFICIENT_RESOURCES: u32 = 0xC000_009A;
    /// `STATUS_ACCOUNT_RESTRICTION`.
    pub const ACCOUNT_RESTRICTION: u32 = 0xC000_006E;
    /// `STATUS_PASSWORD_EXPIRED`.
    pub const PASSWORD_EXPIRED: u32 = 0xC000_0071;
    /// `STATUS_ACCOUNT_DISABLED`.
    pub const ACCOUNT_DISABLED: u32 = 0xC000_0072;
    /// `STATUS_BAD_NETWORK_PATH`.
    pub const BAD_NETWORK_PATH: u32 = 0xC000_00BE;
    /// `STATUS_NETWORK_ACCESS_DENIED`: the share refused this session.
    pub const NETWORK_ACCESS_DENIED: u32 = 0xC000_00CA;
    /// `STATUS_USER_SESSION_DELETED`: the server logged the session off.
    pub const USER_SESSION_DELETED: u32 = 0xC000_0203;
    /// `STATUS_ACCOUNT_LOCKED_OUT`.
    pub const ACCOUNT_LOCKED_OUT: u32 = 0xC000_0234;
    /// `STATUS_NETWORK_SESSION_EXPIRED`: the session's Kerberos ticket or lifetime ran out.
    pub const NETWORK_SESSION_EXPIRED: u32 = 0xC000_035C;
}

/// The Win32 code Windows gives for `nt` (`RtlNtStatusToDosError`), for the statuses a remote
/// pipe meets; any other status gives `ERROR_MR_MID_NOT_FOUND` (317), as on Windows.
pub fn win32_of_status(nt: u32) -> u32 {
    use code::*;
    use status as s;
    match nt {
        s::SUCCESS => ERROR_SUCCESS,
        s::BUFFER_OVERFLOW => ERROR_MORE_DATA,
        s::OBJECT_NAME_NOT_FOUND => ERROR_FILE_NOT_FOUND,
        s::OBJECT_PATH_NOT_FOUND => ERROR_PATH_NOT_FOUND,
        s::OBJECT_NAME_INVALID => ERROR_INVALID_NAME,
        s::ACCESS_DENIED => ERROR_ACCESS_DENIED,
        s::PIPE_BUSY | s::PIPE_NOT_AVAILABLE | s::INSTANCE_NOT_AVAILABLE => ERROR_PIPE_BUSY,
        s::INVALID_PIPE_STATE => ERROR_BAD_PIPE,
        s::PIPE_DISCONNECTED => ERROR_PIPE_NOT_CONNECTED,
        s::PIPE_CLOSING | s::PIPE_EMPTY => ERROR_NO_DATA,
        s::PIPE_BROKEN => ERROR_BROKEN_PIPE,
        s::IO_TIMEOUT => ERROR_SEM_TIMEOUT,
        s::LOGON_FAILURE => ERROR_LOGON_FAILURE,
        s::BAD_NETWORK_NAME => ERROR_BAD_NET_NAME,
        s::NETWORK_NAME_DELETED | s::CONNECTION_DISCONNECTED => ERROR_NETNAME_DELETED,
        s::FS_DRIVER_REQUIRED => ERROR_FS_DRIVER_REQUIRED,
        s::INVALID_PARAMETER | s::PORT_MESSAGE_TOO_LONG => ERROR_INVALID_PARAMETER,
        s::INVALID_DEVICE_REQUEST => ERROR_INVALID_FUNCTION,
        s::NOT_SUPPORTED => ERROR_NOT_SUPPORTED,
        s::INVALID_HANDLE | s::FILE_CLOSED => ERROR_INVALID_HANDLE,
        s::END_OF_FILE => ERROR_HANDLE_EOF,
        s::CANCELLED => ERROR_OPERATION_ABORTED,
        s::IO_DEVICE_ERROR => ERROR_IO_DEVICE,
        s::CONNECTION_REFUSED => ERROR_CONNECTION_REFUSED,
        s::NO_MEMORY => ERROR_NOT_ENOUGH_MEMORY,
        s::INSUFFICIENT_RESOURCES => ERROR_NO_SYSTEM_RESOURCES,
        s::ACCOUNT_RESTRICTION => ERROR_ACCOUNT_RESTRICTION,
        s::PASSWORD_EXPIRED => ERROR_PASSWORD_EXPIRED,
        s::ACCOUNT_DISABLED => ERROR_ACCOUNT_DISABLED,
        s::ACCOUNT_LOCKED_OUT => ERROR_ACCOUNT_LOCKED_OUT,
        s::BAD_NETWORK_PATH => ERROR_BAD_NETPATH,
        s::NETWORK_ACCESS_DENIED => ERROR_NETWORK_ACCESS_DENIED,
        s::USER_SESSION_DELETED => ERROR_UNEXP_NET_ERR,
        s::NETWORK_SESSION_EXPIRED => ERROR_NO_USER_SESSION_KEY,
        _ => ERROR_MR_MID_NOT_FOUND,
    }
}

/// Whether `nt` says the session or its IPC$ tree is gone for good: a cached connection that
/// answered it is dropped, and the next open logs on again. (CONNECTION_DISCONNECTED is not
/// one: smbd answers it for one pipe whose server refused or closed the open.)
pub(crate) fn session_gone(nt: u32) -> bool {
    use status as s;
    matches!(
        nt,
        s::USER_SESSION_DELETED | s::NETWORK_SESSION_EXPIRED | s::NETWORK_NAME_DELETED
    )
}

/// The name of a status of [`status`], for messages; `None` for others.
fn status_name(nt: u32) -> Option<&'static str> {
    use status as s;
    Some(match nt {
        s::BUFFER_OVERFLOW => "STATUS_BUFFER_OVERFLOW",
        s::INVALID_HANDLE => "STATUS_INVALID_HANDLE",
        s::INVALID_PARAMETER => "STATUS_INVALID_PARAMETER",
        s::INVALID_DEVICE_REQUEST => "STATUS_INVALID_DEVICE_REQUEST",
        s::END_OF_FILE => "STATUS_END_OF_FILE",
        s::ACCESS_DENIED => "STATUS_ACCESS_DENIED",
        s::PORT_MESSAGE_TOO_LONG => "STATUS_PORT_MESSAGE_TOO_LONG",
        s::OBJECT_NAME_INVALID => "STATUS_OBJECT_NAME_INVALID",
        s::OBJECT_NAME_NOT_FOUND => "STATUS_OBJECT_NAME_NOT_FOUND",
        s::OBJECT_PATH_NOT_FOUND => "STATUS_OBJECT_PATH_NOT_FOUND",
        s::LOGON_FAILURE => "STATUS_LOGON_FAILURE",
        s::INSTANCE_NOT_AVAILABLE => "STATUS_INSTANCE_NOT_AVAILABLE",
        s::PIPE_NOT_AVAILABLE => "STATUS_PIPE_NOT_AVAILABLE",
        s::INVALID_PIPE_STATE => "STATUS_INVALID_PIPE_STATE",
        s::PIPE_BUSY => "STATUS_PIPE_BUSY",
        s::PIPE_DISCONNECTED => "STATUS_PIPE_DISCONNECTED",
        s::PIPE_CLOSING => "STATUS_PIPE_CLOSING",
        s::IO_TIMEOUT => "STATUS_IO_TIMEOUT",
        s::NOT_SUPPORTED => "STATUS_NOT_SUPPORTED",
        s::NETWORK_NAME_DELETED => "STATUS_NETWORK_NAME_DELETED",
        s::BAD_NETWORK_NAME => "STATUS_BAD_NETWORK_NAME",
        s::PIPE_EMPTY => "STATUS_PIPE_EMPTY",
        s::CANCELLED => "STATUS_CANCELLED",
        s::FILE_CLOSED => "STATUS_FILE_CLOSED",
        s::PIPE_BROKEN => "STATUS_PIPE_BROKEN",
        s::IO_DEVICE_ERROR => "STATUS_IO_DEVICE_ERROR",
        s::FS_DRIVER_REQUIRED => "STATUS_FS_DRIVER_REQUIRED",
        s::CONNECTION_DISCONNECTED => "STATUS_CONNECTION_DISCONNECTED",
        s::CONNECTION_REFUSED => "STATUS_CONNECTION_REFUSED",
        s::NO_MEMORY => "STATUS_NO_MEMORY",
        s::INSUFFICIENT_RESOURCES => "STATUS_INSUFFICIENT_RESOURCES",
        s::ACCOUNT_RESTRICTION => "STATUS_ACCOUNT_RESTRICTION",
        s::PASSWORD_EXPIRED => "STATUS_PASSWORD_EXPIRED",
        s::ACCOUNT_DISABLED => "STATUS_ACCOUNT_DISABLED",
        s::ACCOUNT_LOCKED_OUT => "STATUS_ACCOUNT_LOCKED_OUT",
        s::BAD_NETWORK_PATH => "STATUS_BAD_NETWORK_PATH",
        s::NETWORK_ACCESS_DENIED => "STATUS_NETWORK_ACCESS_DENIED",
        s::USER_SESSION_DELETED => "STATUS_USER_SESSION_DELETED",
        s::NETWORK_SESSION_EXPIRED => "STATUS_NETWORK_SESSION_EXPIRED",
        _ => return None,
    })
}

/// A failed remote-pipe call: the Win32 code Windows would give, the server's NTSTATUS when
/// the failure came from one, and a message naming the pipe (never a password or key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmbError {
    win32: u32,
    status: Option<u32>,
    message: String,
}

impl SmbError {
    /// A failure with no NTSTATUS (network, name, local checks).
    pub fn new(win32: u32, message: impl Into<String>) -> SmbError {
        SmbError {
            win32,
            status: None,
            message: message.into(),
        }
    }

    /// A failure the server reported as `nt` during `op` on `what` (a pipe or server name).
    pub fn from_status(nt: u32, op: &str, what: &str) -> SmbError {
        let name = status_name(nt).map_or_else(String::new, |n| format!("{n} "));
        SmbError {
            win32: win32_of_status(nt),
            status: Some(nt),
            message: format!("{what}: {op}: the server answered {name}(0x{nt:08X})"),
        }
    }

    /// The Win32 error code.
    pub fn win32_code(&self) -> u32 {
        self.win32
    }

    /// The NTSTATUS the server answered, when the failure came from the server.
    pub fn nt_status(&self) -> Option<u32> {
        self.status
    }

    /// The message (names the pipe or server).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for SmbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (Win32 error {})", self.message, self.win32)
    }
}

impl std::error::Error for SmbError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_covers_the_pipe_statuses() {
        use code::*;
        let cases = [
            (status::BUFFER_OVERFLOW, ERROR_MORE_DATA),
            (status::OBJECT_NAME_NOT_FOUND, ERROR_FILE_NOT_FOUND),
            (status::PIPE_BUSY, ERROR_PIPE_BUSY),
            (status::PIPE_NOT_AVAILABLE, ERROR_PIPE_BUSY),
            (status::INSTANCE_NOT_AVAILABLE, ERROR_PIPE_BUSY),
            (status::INVALID_PIPE_STATE, ERROR_BAD_PIPE),
            (status::PIPE_DISCONNECTED, ERROR_PIPE_NOT_CONNECTED),
            (status::PIPE_CLOSING, ERROR_NO_DATA),
            (status::PIPE_EMPTY, ERROR_NO_DATA),
            (status::PIPE_BROKEN, ERROR_BROKEN_PIPE),
            (status::IO_TIMEOUT, ERROR_SEM_TIMEOUT),
            (status::LOGON_FAILURE, ERROR_LOGON_FAILURE),
            (status::BAD_NETWORK_NAME, ERROR_BAD_NET_NAME),
            (status::FS_DRIVER_REQUIRED, ERROR_FS_DRIVER_REQUIRED),
            (status::PORT_MESSAGE_TOO_LONG, ERROR_INVALID_PARAMETER),
            (status::CONNECTION_DISCONNECTED, ERROR_NETNAME_DELETED),
            (status::NETWORK_SESSION_EXPIRED, ERROR_NO_USER_SESSION_KEY),
            (status::NO_MEMORY, ERROR_NOT_ENOUGH_MEMORY),
            (status::ACCOUNT_RESTRICTION, ERROR_ACCOUNT_RESTRICTION),
            (status::USER_SESSION_DELETED, ERROR_UNEXP_NET_ERR),
            (status::NETWORK_ACCESS_DENIED, ERROR_NETWORK_ACCESS_DENIED),
            (status::BAD_NETWORK_PATH, ERROR_BAD_NETPATH),
            (status::INSUFFICIENT_RESOURCES, ERROR_NO_SYSTEM_RESOURCES),
            (status::ACCOUNT_DISABLED, ERROR_ACCOUNT_DISABLED),
            (status::ACCOUNT_LOCKED_OUT, ERROR_ACCOUNT_LOCKED_OUT),
            (status::PASSWORD_EXPIRED, ERROR_PASSWORD_EXPIRED),
            (0xC0FF_FFFF, ERROR_MR_MID_NOT_FOUND),
        ];
        for (nt, want) in cases {
            assert_eq!(win32_of_status(nt), want, "status 0x{nt:08X}");
        }
    }

    #[test]
    fn message_names_the_pipe_and_status() {
        let e = SmbError::from_status(status::PIPE_DISCONNECTED, "ReadFile", r"\\h\pipe\x");
        assert_eq!(e.win32_code(), code::ERROR_PIPE_NOT_CONNECTED);
        assert_eq!(e.nt_status(), Some(status::PIPE_DISCONNECTED));
        assert!(e.message().contains(r"\\h\pipe\x"), "{e}");
        assert!(e.message().contains("STATUS_PIPE_DISCONNECTED"), "{e}");
    }
}
