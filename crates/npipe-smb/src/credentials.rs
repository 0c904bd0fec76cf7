//! Who to log on as, and on which port, per server: the connection entries of
//! [`add_connection`] (`WNetAddConnection2` on `\\server\IPC$`), else the environment
//! (`NPIPE_SMB_USER`, `NPIPE_SMB_PASSWORD`, `NPIPE_SMB_DOMAIN`, `NPIPE_SMB_PORT`), else an
//! anonymous session on port 445.
//!
//! A server name may carry its port as `host@port` (`\\127.0.0.1@14450\pipe\x`), the
//! convention of Windows' WebDAV redirector; a port named so wins over every other source.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::error::{code, SmbError};
use crate::transport::{Credentials, ServerKey};

/// The SMB port when nothing names another.
pub const DEFAULT_PORT: u16 = 445;

#[derive(Clone, Debug)]
struct Entry {
    // Keyed by the lowercased server name as given (with its `@port`, if any).
    creds: Option<Credentials>,
    port: Option<u16>,
}

fn entries() -> &'static Mutex<HashMap<String, Entry>> {
    static E: OnceLock<Mutex<HashMap<String, Entry>>> = OnceLock::new();
    E.get_or_init(Default::default)
}

/// Splits `host@port`; a server name without a valid `@port` suffix is all host.
fn split_port(server: &str) -> (&str, Option<u16>) {
    match server.rsplit_once('@') {
        Some((host, port)) => match port.parse::<u16>() {
            Ok(p) if p != 0 && !host.is_empty() => (host, Some(p)),
            _ => (server, None),
        },
        None => (server, None),
    }
}

/// Checks a server name (host name or IP address, no separators, maybe `@port`) and returns
/// its map key.
pub(crate) fn check_server(server: &str) -> Result<String, SmbError> {
    if server.is_empty()
        || server.len() > 255
        || server == "."
        || server == "*"
        || server.starts_with('@')
        || server.contains(['\\', '/', '\0'])
    {
        return Err(SmbError::new(
            code::ERROR_INVALID_NAME,
            format!("{server:?} is not a server name"),
        ));
    }
    Ok(server.to_ascii_lowercase())
}

/// Records how to log on to `server` (`WNetAddConnection2` on `\\server\IPC$`): later opens
/// of `\\server\pipe\...` use `creds` (`None`: an anonymous session) and `port` (`None`: the
/// environment's `NPIPE_SMB_PORT`, else 445). Replacing an entry drops the cached connections
/// to that server, so the next open logs on anew; open handles keep theirs.
///
/// # Errors
/// `ERROR_INVALID_NAME` (123) for a name that is not a server name, `ERROR_INVALID_PARAMETER`
/// (87) for port 0.
pub fn add_connection(
    server: &str,
    creds: Option<Credentials>,
    port: Option<u16>,
) -> Result<(), SmbError> {
    let key = check_server(server)?;
    if port == Some(0) {
        return Err(SmbError::new(
            code::ERROR_INVALID_PARAMETER,
            format!(r"\\{server}: port 0 is not a port"),
        ));
    }
    entries().lock().unwrap().insert(key, Entry { creds, port });
    crate::pipe::transport().forget_server(split_port(server).0);
    Ok(())
}

/// Removes the entry [`add_connection`] made for `server` (`WNetCancelConnection2`) and drops
/// the cached connections to it; open handles keep working.
///
/// # Errors
/// `ERROR_NOT_CONNECTED` (2250) when there is no entry for `server`, `ERROR_INVALID_NAME`
/// (123) for a name that is not a server name.
pub fn cancel_connection(server: &str) -> Result<(), SmbError> {
    let key = check_server(server)?;
    if entries().lock().unwrap().remove(&key).is_none() {
        return Err(SmbError::new(
            code::ERROR_NOT_CONNECTED,
            format!(r"\\{server}\IPC$: no connection was added for this server"),
        ));
    }
    crate::pipe::transport().forget_server(split_port(server).0);
    Ok(())
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Credentials from the environment, or `None` (anonymous). `NPIPE_SMB_USER` may be
/// `DOMAIN\user`.
fn env_creds() -> Option<Credentials> {
    let user = env("NPIPE_SMB_USER")?;
    let (domain, user) = match user.split_once('\\') {
        Some((d, u)) => (d.to_string(), u.to_string()),
        None => (env("NPIPE_SMB_DOMAIN").unwrap_or_default(), user),
    };
    Some(Credentials {
        user,
        domain,
        password: env("NPIPE_SMB_PASSWORD").unwrap_or_default(),
    })
}

fn env_port(server: &str) -> Result<u16, SmbError> {
    match env("NPIPE_SMB_PORT") {
        None => Ok(DEFAULT_PORT),
        Some(p) => p.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(|| {
            SmbError::new(
                code::ERROR_INVALID_PARAMETER,
                format!(r"\\{server}: NPIPE_SMB_PORT={p:?} is not a port number"),
            )
        }),
    }
}

/// The cache key for `server`: host, port and credentials as the entries and environment say.
pub(crate) fn server_key(server: &str) -> Result<ServerKey, SmbError> {
    let key = check_server(server)?;
    let (host, explicit) = split_port(&key);
    let entry = entries().lock().unwrap().get(&key).cloned();
    let (creds, port) = match entry {
        Some(e) => (
            e.creds,
            match e.port {
                Some(p) => p,
                None => env_port(server)?,
            },
        ),
        None => (env_creds(), env_port(server)?),
    };
    Ok(ServerKey {
        host: host.to_string(),
        port: explicit.unwrap_or(port),
        creds: creds.filter(|c| !c.user.is_empty()),
    })
}
