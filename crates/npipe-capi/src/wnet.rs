//! Credentials for remote pipes: `WNetAddConnection2A/W` and `WNetCancelConnection2A/W`,
//! restricted to `\\server\IPC$` (what a Win32 program calls before opening
//! `\\server\pipe\name` as another user). With the `smb` feature they fill npipe's connection
//! entries (`npipe::smb::add_connection`); without it they fail with ERROR_NOT_SUPPORTED.
//!
//! A port can be named as `\\server@port\IPC$` (then open `\\server@port\pipe\name`, the same
//! server name), or for every server with the environment variable `NPIPE_SMB_PORT`.

use crate::*;

/// `ERROR_BAD_NET_NAME`: not `\\server\IPC$`.
const ERROR_BAD_NET_NAME: DWORD = 67;
/// `ERROR_BAD_DEVICE`: a local device name was given (drive letters are not mapped).
const ERROR_BAD_DEVICE: DWORD = 1200;

/// `NETRESOURCEA`.
#[repr(C)]
#[derive(Debug)]
#[allow(clippy::upper_case_acronyms)]
pub struct NETRESOURCEA {
    /// `dwScope` (ignored).
    pub dw_scope: DWORD,
    /// `dwType` (ignored: IPC$ is a pipe share whatever it says).
    pub dw_type: DWORD,
    /// `dwDisplayType` (ignored).
    pub dw_display_type: DWORD,
    /// `dwUsage` (ignored).
    pub dw_usage: DWORD,
    /// `lpLocalName`: must be NULL or empty.
    pub lp_local_name: *mut c_char,
    /// `lpRemoteName`: `\\server\IPC$`.
    pub lp_remote_name: *mut c_char,
    /// `lpComment` (ignored).
    pub lp_comment: *mut c_char,
    /// `lpProvider` (ignored).
    pub lp_provider: *mut c_char,
}

/// `NETRESOURCEW`.
#[repr(C)]
#[derive(Debug)]
#[allow(clippy::upper_case_acronyms)]
pub struct NETRESOURCEW {
    /// `dwScope` (ignored).
    pub dw_scope: DWORD,
    /// `dwType` (ignored).
    pub dw_type: DWORD,
    /// `dwDisplayType` (ignored).
    pub dw_display_type: DWORD,
    /// `dwUsage` (ignored).
    pub dw_usage: DWORD,
    /// `lpLocalName`: must be NULL or empty.
    pub lp_local_name: *mut u16,
    /// `lpRemoteName`: `\\server\IPC$`.
    pub lp_remote_name: *mut u16,
    /// `lpComment` (ignored).
    pub lp_comment: *mut u16,
    /// `lpProvider` (ignored).
    pub lp_provider: *mut u16,
}

/// The server of `\\server\IPC$` (either slash, any case), or `None`.
fn ipc_server(remote: &str) -> Option<&str> {
    let rest = remote
        .strip_prefix("\\\\")
        .or_else(|| remote.strip_prefix("//"))?;
    let (server, share) = rest.split_once(['\\', '/'])?;
    let share = share.trim_end_matches(['\\', '/']);
    (!server.is_empty() && share.eq_ignore_ascii_case("IPC$")).then_some(server)
}

/// Sets the last error to `code` and returns it (the WNet calls return their error).
fn ret(code: DWORD) -> DWORD {
    set_error(code);
    code
}

fn add(
    local: Option<String>,
    remote: Option<String>,
    pass: Option<String>,
    user: Option<String>,
) -> DWORD {
    if local.is_some_and(|l| !l.is_empty()) {
        return ret(ERROR_BAD_DEVICE);
    }
    let Some(remote) = remote else {
        return ret(ERROR_BAD_NET_NAME);
    };
    let Some(server) = ipc_server(&remote) else {
        return ret(ERROR_BAD_NET_NAME);
    };
    #[cfg(feature = "smb")]
    {
        // No user name: an anonymous session (npipe has no logon session to take one from).
        let creds = user.filter(|u| !u.is_empty()).map(|u| {
            let (domain, user) = match u.split_once('\\') {
                Some((d, u)) => (d.to_string(), u.to_string()),
                None => (String::new(), u),
            };
            npipe::smb::Credentials {
                user,
                domain,
                password: pass.unwrap_or_default(),
            }
        });
        match npipe::smb::add_connection(server, creds, None) {
            Ok(()) => ret(ERROR_SUCCESS),
            Err(e) => ret(e.win32_code()),
        }
    }
    #[cfg(not(feature = "smb"))]
    {
        let _ = (server, pass, user);
        ret(ERROR_NOT_SUPPORTED)
    }
}

fn cancel(name: Option<String>) -> DWORD {
    let Some(server) = name.as_deref().and_then(ipc_server) else {
        return ret(ERROR_NOT_CONNECTED);
    };
    #[cfg(feature = "smb")]
    {
        match npipe::smb::cancel_connection(server) {
            Ok(()) => ret(ERROR_SUCCESS),
            Err(e) => ret(e.win32_code()),
        }
    }
    #[cfg(not(feature = "smb"))]
    {
        let _ = server;
        ret(ERROR_NOT_SUPPORTED)
    }
}

/// `ERROR_NOT_CONNECTED`.
const ERROR_NOT_CONNECTED: DWORD = 2250;

/// `WNetAddConnection2A` on `\\server\IPC$`: later opens of `\\server\pipe\...` log on as
/// `user` (`DOMAIN\user` allowed; NULL or empty: anonymous) with `password`. Returns the
/// error code (0 on success), also set as the last error.
///
/// # Safety
/// `res` is null or a readable NETRESOURCEA whose strings are null or NUL-terminated;
/// `password` and `user` are null or NUL-terminated.
#[export_name = "npipe_WNetAddConnection2A"]
pub unsafe extern "C" fn WNetAddConnection2A(
    res: *const NETRESOURCEA,
    password: *const c_char,
    user: *const c_char,
    _flags: DWORD,
) -> DWORD {
    if res.is_null() {
        return ret(ERROR_INVALID_PARAMETER);
    }
    // SAFETY: res is readable and its strings null or NUL-terminated (caller).
    let (local, remote) = unsafe { (name_a((*res).lp_local_name), name_a((*res).lp_remote_name)) };
    // SAFETY: null or NUL-terminated (caller).
    let (pass, user) = unsafe { (name_a(password), name_a(user)) };
    add(local, remote, pass, user)
}

/// `WNetAddConnection2W`: as [`WNetAddConnection2A`].
///
/// # Safety
/// As [`WNetAddConnection2A`], with UTF-16 strings.
#[export_name = "npipe_WNetAddConnection2W"]
pub unsafe extern "C" fn WNetAddConnection2W(
    res: *const NETRESOURCEW,
    password: *const u16,
    user: *const u16,
    _flags: DWORD,
) -> DWORD {
    if res.is_null() {
        return ret(ERROR_INVALID_PARAMETER);
    }
    // SAFETY: res is readable and its strings null or NUL-terminated (caller).
    let (local, remote) = unsafe { (name_w((*res).lp_local_name), name_w((*res).lp_remote_name)) };
    // SAFETY: null or NUL-terminated (caller).
    let (pass, user) = unsafe { (name_w(password), name_w(user)) };
    add(local, remote, pass, user)
}

/// `WNetCancelConnection2A` on `\\server\IPC$`: forgets the credentials
/// [`WNetAddConnection2A`] gave; open handles keep working. ERROR_NOT_CONNECTED (2250) when
/// there were none.
///
/// # Safety
/// `name` is null or NUL-terminated.
#[export_name = "npipe_WNetCancelConnection2A"]
pub unsafe extern "C" fn WNetCancelConnection2A(
    name: *const c_char,
    _flags: DWORD,
    _force: BOOL,
) -> DWORD {
    // SAFETY: null or NUL-terminated (caller).
    cancel(unsafe { name_a(name) })
}

/// `WNetCancelConnection2W`: as [`WNetCancelConnection2A`].
///
/// # Safety
/// `name` is null or NUL-terminated UTF-16.
#[export_name = "npipe_WNetCancelConnection2W"]
pub unsafe extern "C" fn WNetCancelConnection2W(
    name: *const u16,
    _flags: DWORD,
    _force: BOOL,
) -> DWORD {
    // SAFETY: null or NUL-terminated (caller).
    cancel(unsafe { name_w(name) })
}

#[cfg(test)]
mod tests {
    use super::ipc_server;

    #[test]
    fn only_ipc_shares() {
        assert_eq!(ipc_server(r"\\srv\IPC$"), Some("srv"));
        assert_eq!(ipc_server(r"//srv@4450/ipc$/"), Some("srv@4450"));
        for bad in [
            r"\\srv\share",
            r"\\srv",
            r"\\\IPC$",
            r"srv\IPC$",
            r"\\srv\IPC$\x",
        ] {
            assert_eq!(ipc_server(bad), None, "{bad}");
        }
    }
}
