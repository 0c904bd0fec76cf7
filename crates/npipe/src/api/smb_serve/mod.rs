//! Serving SMB clients through Samba: [`SmbExposure`] makes a pipe this process serves
//! reachable as `\\HOST\IPC$\NAME` by listening where smbd looks for pipe servers
//! (`<ncalrpc dir>/np/<name lowercased>`), and relays each SMB open to the pipe as one client
//! whose identity is the remote user's ([`RemoteClient`]). This file owns the listening
//! socket's life (where, taking over stale files, removal); `relay` owns each connection.

mod relay;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::error::code::*;
use crate::semantics::namespace::{self, Kind};
use crate::semantics::pipe::served_here;
use crate::semantics::remote::RemoteIdentity;
use crate::sys;
use crate::Error;

/// Where Debian's Samba keeps its ncalrpc sockets when `testparm` cannot tell.
const DEFAULT_NCALRPC_DIR: &str = "/run/samba/ncalrpc";

/// The pipe names samba-dcerpcd serves in the same directory: never ours.
const SAMBA_NAMES: [&str; 16] = [
    "epmapper",
    "eventlog",
    "fssagentrpc",
    "initshutdown",
    "lsarpc",
    "lsass",
    "mdssvc",
    "netdfs",
    "ntsvcs",
    "plugplay",
    "samr",
    "spoolss",
    "srvsvc",
    "svcctl",
    "winreg",
    "wkssvc",
];

/// `sun_path` holds 108 bytes, the terminating NUL included.
const SUN_PATH_MAX: usize = 107;

/// A remote client of a pipe: an SMB client relayed by an [`SmbExposure`], as smbd vouched for
/// it. [`NamedPipeServer::remote_client`](crate::NamedPipeServer::remote_client) returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemoteClient {
    /// The account name (`ANONYMOUS LOGON` for a null session).
    pub account: String,
    /// The account's domain (the server's NetBIOS name for local accounts).
    pub domain: String,
    /// The Unix uid Samba maps the account to (what impersonation takes on).
    pub uid: u32,
    /// The Unix gid.
    pub gid: u32,
    /// The supplementary groups.
    pub groups: Vec<u32>,
    /// The SMB client's IP address, when smbd told it.
    pub address: Option<String>,
    /// The SMB client's TCP source port, when smbd told it.
    pub port: Option<u16>,
    /// Whether the session was authenticated (false for anonymous and guest logons).
    pub authenticated: bool,
    /// Whether the SMB3 session encrypted the open.
    pub encrypted: bool,
}

impl RemoteClient {
    pub(crate) fn from_identity(r: &RemoteIdentity) -> RemoteClient {
        RemoteClient {
            account: r.account.clone(),
            domain: r.domain.clone(),
            uid: r.uid,
            gid: r.gid,
            groups: r.groups.clone(),
            address: r.address.clone(),
            port: r.port,
            authenticated: r.authenticated,
            encrypted: r.encrypted,
        }
    }
}

/// Builder that exposes a pipe of this process to SMB clients through the local Samba server.
///
/// smbd hands every open of `\\HOST\IPC$\NAME` to a Unix socket at `<np dir>/<name
/// lowercased>` and speaks a short handshake there that names the SMB user. Each SMB open
/// becomes one client of the pipe, relayed in this process: it takes an instance like any
/// client (message boundaries, partial reads and TransactNamedPipe work as far as SMB allows),
/// and the server sees the SMB user as the client: the access policy is checked against it,
/// [`impersonate_client`](crate::NamedPipeServer::impersonate_client) takes on its Unix
/// uid, gid and groups, [`remote_client`](crate::NamedPipeServer::remote_client) tells who
/// and where it is, and an instance made with
/// [`reject_remote_clients`](crate::ServerOptions::reject_remote_clients) refuses it.
///
/// What SMB cannot carry (see `docs/DESIGN.md`, "SMB exposure"):
/// - no ERROR_PIPE_BUSY: when no instance listens, the relay waits up to the pipe's default
///   timeout for one, then closes the SMB open (the client sees a disconnected pipe);
/// - messages are 1 to 65535 bytes: a longer message from the server closes that connection
///   (recorded in [`SmbListener::last_error`]); an empty one is not sent;
/// - a refusal (access policy, every instance rejecting remote clients) fails the SMB open
///   itself, but smbd reports it as STATUS_CONNECTION_DISCONNECTED, not access denied;
/// - at most [`max_connections`](Self::max_connections) SMB opens are relayed at once (two
///   threads each, one per direction); smbd's further opens are closed until one ends.
///
/// # Examples
/// ```no_run
/// use npipe::{PipeMode, ServerOptions, SmbExposure};
///
/// let server = ServerOptions::new().pipe_mode(PipeMode::Message).create(r"\\.\pipe\echo")?;
/// // Needs root (Samba's np directory is root-only) and a running smbd.
/// let smb = SmbExposure::new().expose(r"\\.\pipe\echo")?;
/// println!("SMB clients open \\\\host\\IPC$\\echo via {}", smb.socket_path().display());
/// server.connect()?;
/// if let Some(remote) = server.remote_client()? {
///     println!("{}\\{} from {:?}", remote.domain, remote.account, remote.address);
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct SmbExposure {
    np_dir: Option<PathBuf>,
    require_root_peer: Option<bool>,
    allow_anonymous: bool,
    max_connections: Option<usize>,
}

impl SmbExposure {
    /// Samba's own np directory (from `testparm -sv`'s `ncalrpc dir`), smbd's connections
    /// accepted only from root, anonymous SMB sessions refused.
    pub fn new() -> SmbExposure {
        SmbExposure::default()
    }

    /// The directory smbd looks in (Samba's `<ncalrpc dir>/np`), instead of asking `testparm`.
    pub fn np_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.np_dir = Some(dir.into());
        self
    }

    /// Whether to accept handshakes only from a peer whose `SO_PEERCRED` uid is 0. On by
    /// default: smbd always connects as root, and the handshake names the remote user, so a
    /// peer that is not root could otherwise pose as anyone. Turn it off only for a test that
    /// plays smbd without root, in a directory nobody else can reach.
    pub fn require_root_peer(&mut self, on: bool) -> &mut Self {
        self.require_root_peer = Some(on);
        self
    }

    /// Whether anonymous (null) and guest SMB sessions may open the pipe. Off by default, as
    /// Windows refuses null sessions on every pipe outside `NullSessionPipes`; a refused open
    /// fails at once (smbd reports a disconnected pipe). The access policy still applies to
    /// an admitted anonymous client, as the uid Samba maps it to (usually `nobody`).
    pub fn allow_anonymous(&mut self, on: bool) -> &mut Self {
        self.allow_anonymous = on;
        self
    }

    /// How many SMB opens are relayed at once (two threads each; 1024 by default, at least 1).
    /// smbd's further opens are closed at once, and recorded in
    /// [`SmbListener::last_error`], until one ends.
    pub fn max_connections(&mut self, n: usize) -> &mut Self {
        self.max_connections = Some(n.max(1));
        self
    }

    /// Starts relaying SMB opens of the pipe `name` (`\\.\pipe\NAME`), which this process must
    /// serve; stops when the returned [`SmbListener`] is stopped or dropped.
    ///
    /// # Errors
    /// - `ERROR_INVALID_NAME` (123) for a name that is not `\\.\pipe\NAME`, contains `/` or
    ///   `..`, or is one of the pipes Samba serves itself (`lsarpc`, `samr`, `srvsvc`, ...);
    ///   `ERROR_FILENAME_EXCED_RANGE` (206) when the socket path would not fit `sun_path`;
    /// - `ERROR_FILE_NOT_FOUND` (2) when this process does not serve the pipe;
    /// - `ERROR_PATH_NOT_FOUND` (3) when the np directory cannot be found or made;
    /// - `ERROR_ACCESS_DENIED` (5) when a live listener (another server) already holds the
    ///   socket path, or the path is something other than a socket, or binding is not
    ///   permitted (Samba's np directory is root-only).
    pub fn expose(&self, name: &str) -> io::Result<SmbListener> {
        let n = namespace::parse(name, Kind::Pipe).map_err(|c| {
            Error::io(
                c,
                format!("{name:?} is not a valid pipe name (\\\\.\\pipe\\NAME)"),
            )
        })?;
        let leaf = smb_leaf(name)?;
        if served_here(name).is_none() {
            return Err(Error::io(
                ERROR_FILE_NOT_FOUND,
                format!("{name} is not served by this process: create the server first"),
            ));
        }
        let dir = match &self.np_dir {
            Some(d) => d.clone(),
            None => default_np_dir()?,
        };
        ensure_dir(&dir, name)?;
        let path = dir.join(&leaf);
        if path.as_os_str().len() > SUN_PATH_MAX {
            return Err(Error::io(
                ERROR_FILENAME_EXCED_RANGE,
                format!(
                    "the SMB socket path for {name}, {}, is longer than a Unix socket address \
                     allows",
                    path.display()
                ),
            ));
        }
        let listener = bind_fresh(&path, name)?;
        let ino = std::fs::symlink_metadata(&path)
            .map(|m| (m.dev(), m.ino()))
            .ok();
        listener
            .set_nonblocking(true)
            .map_err(|e| os_fail(&e, format!("cannot set up the SMB listener of {name}")))?;
        let stop = Arc::new(sys::EventFd::new().map_err(|e| {
            Error::io(
                ERROR_NOT_ENOUGH_MEMORY,
                format!("cannot set up the SMB listener of {name}: {e}"),
            )
        })?);
        let shared = Arc::new(relay::Shared {
            pipe: n.display.clone(),
            require_root: self.require_root_peer.unwrap_or(true),
            allow_anonymous: self.allow_anonymous,
            last_error: Mutex::new(None),
            live: Mutex::new(HashMap::new()),
            stopping: std::sync::atomic::AtomicBool::new(false),
            running: std::sync::atomic::AtomicUsize::new(0),
            max_relays: self.max_connections.unwrap_or(relay::MAX_RELAYS),
        });
        let thread = {
            let shared = shared.clone();
            let stop = stop.clone();
            let identity = crate::NewThreadIdentity::capture();
            std::thread::Builder::new()
                .name("npipe-smb-accept".into())
                .spawn(move || {
                    identity.adopt();
                    relay::accept_loop(listener, &stop, &shared)
                })
                .map_err(|e| {
                    Error::io(
                        ERROR_NOT_ENOUGH_MEMORY,
                        format!("cannot start the SMB listener of {name}: {e}"),
                    )
                })?
        };
        Ok(SmbListener {
            path,
            ino,
            stop,
            shared,
            thread: Some(thread),
        })
    }
}

/// A running SMB exposure of one pipe (see [`SmbExposure`]). Dropping it stops it.
pub struct SmbListener {
    path: PathBuf,
    /// The socket file we bound, so that stopping never removes someone else's.
    ino: Option<(u64, u64)>,
    stop: Arc<sys::EventFd>,
    shared: Arc<relay::Shared>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for SmbListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmbListener")
            .field("pipe", &self.shared.pipe)
            .field("socket", &self.path)
            .finish()
    }
}

impl SmbListener {
    /// Where smbd connects: `<np dir>/<name lowercased>`.
    pub fn socket_path(&self) -> &Path {
        &self.path
    }

    /// The last thing that went wrong with one SMB connection (a bad handshake, a refused
    /// open, a message too long for SMB), for logs; `None` while all went well. Never
    /// contains handshake bytes.
    pub fn last_error(&self) -> Option<String> {
        self.shared
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Stops accepting, removes the socket file (when it is still the one bound here) and
    /// closes every relayed SMB connection (their clients see a disconnected pipe; the pipe's
    /// server sees its clients close). Idempotent; dropping does the same.
    pub fn stop(&mut self) {
        let Some(t) = self.thread.take() else { return };
        self.stop.signal();
        let _ = t.join();
        let ours = std::fs::symlink_metadata(&self.path)
            .map(|m| (m.dev(), m.ino()))
            .ok();
        if ours.is_some() && ours == self.ino {
            let _ = std::fs::remove_file(&self.path);
        }
        self.shared.close_all();
    }
}

impl Drop for SmbListener {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The socket file name for a pipe name: its NAME part lowercased, checked.
fn smb_leaf(name: &str) -> io::Result<String> {
    let bad = |why: &str| {
        Error::io(
            ERROR_INVALID_NAME,
            format!("{name} cannot be exposed over SMB: {why}"),
        )
    };
    let tail = name
        .get(9..)
        .filter(|_| name.len() > 9)
        .ok_or_else(|| bad("no pipe name"))?;
    let leaf = tail.to_lowercase();
    if leaf.contains('/') || leaf.contains("..") || leaf.contains('\0') {
        return Err(bad("the name contains '/' or '..'"));
    }
    if SAMBA_NAMES.contains(&leaf.as_str()) {
        return Err(bad("Samba serves that name itself"));
    }
    Ok(leaf)
}

/// `<ncalrpc dir>/np` as `testparm -sv` reports it (Debian's default when testparm is absent).
fn default_np_dir() -> io::Result<PathBuf> {
    // Samba's own install places first, so a privileged server does not run whatever
    // `testparm` comes first on a PATH someone else may have set; PATH only when Samba is
    // installed somewhere else.
    let testparm = [
        "/usr/bin/testparm",
        "/usr/local/samba/bin/testparm",
        "/usr/local/bin/testparm",
    ]
    .into_iter()
    .find(|p| Path::new(p).is_file())
    .unwrap_or("testparm");
    let out = std::process::Command::new(testparm)
        .args(["-s", "-v"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output();
    let dir = out
        .ok()
        .and_then(|o| ncalrpc_dir_in(&String::from_utf8_lossy(&o.stdout)))
        .unwrap_or_else(|| DEFAULT_NCALRPC_DIR.to_owned());
    Ok(Path::new(&dir).join("np"))
}

/// The `ncalrpc dir = ...` value in `testparm -sv`'s output.
fn ncalrpc_dir_in(testparm: &str) -> Option<String> {
    testparm
        .lines()
        .filter_map(|l| l.trim().strip_prefix("ncalrpc dir"))
        .filter_map(|rest| rest.trim_start().strip_prefix('='))
        .map(|v| v.trim().to_owned())
        .find(|v| !v.is_empty())
}

/// Makes the np directory root-only (0700, owned by this process's user) when it is missing;
/// an existing one is left as it is.
fn ensure_dir(dir: &Path, name: &str) -> io::Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(Error::io(
            ERROR_PATH_NOT_FOUND,
            format!(
                "cannot make Samba's np directory {} for {name}: {e}",
                dir.display()
            ),
        )),
    }
}

/// Binds a listener at `path`, replacing only a stale socket file (one nobody listens on).
fn bind_fresh(path: &Path, name: &str) -> io::Result<UnixListener> {
    let taken = |why: String| Error::io(ERROR_ACCESS_DENIED, why);
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if !m.file_type().is_socket() {
            return Err(taken(format!(
                "{} exists and is not a socket: not exposing {name} there",
                path.display()
            )));
        }
        match UnixStream::connect(path) {
            Ok(s) => {
                drop(s);
                return Err(taken(format!(
                    "{} is served by another listener: not taking {name}'s SMB name over",
                    path.display()
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                // Stale: whoever bound it is gone (samba-dcerpcd leaves its files behind too).
                let _ = std::fs::remove_file(path);
            }
            Err(e) => {
                return Err(taken(format!(
                    "cannot tell whether {} is in use: {e}",
                    path.display()
                )))
            }
        }
    }
    UnixListener::bind(path).map_err(|e| match e.kind() {
        // Someone bound it between our check and our bind: theirs, not ours.
        io::ErrorKind::AddrInUse => taken(format!(
            "{} was taken while exposing {name}",
            path.display()
        )),
        _ => os_fail(
            &e,
            format!("cannot listen at {} for {name}", path.display()),
        ),
    })
}

/// An OS error with its Win32 code (the crate's errno table) and what was being done.
fn os_fail(e: &io::Error, what: String) -> io::Error {
    Error::io_kind(e.kind(), crate::win32_code(e), format!("{what}: {e}"))
}

/// Whether the peer of `s` is root (what smbd is when it connects).
fn peer_is_root(s: &UnixStream) -> bool {
    sys::peer_cred(s.as_fd()).is_ok_and(|p| p.uid == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ncalrpc_dir_from_testparm() {
        let out = "[global]\n\tlog level = 1\n\tncalrpc dir = /run/samba/ncalrpc\n\tx = y\n";
        assert_eq!(ncalrpc_dir_in(out).as_deref(), Some("/run/samba/ncalrpc"));
        assert_eq!(ncalrpc_dir_in("\tncalrpc dir =\n"), None);
        assert_eq!(ncalrpc_dir_in(""), None);
    }

    #[test]
    fn leaf_names() {
        assert_eq!(smb_leaf(r"\\.\pipe\NPEcho").unwrap(), "npecho");
        for bad in [
            r"\\.\pipe\a/b",
            r"\\.\pipe\..",
            r"\\.\pipe\x..y",
            r"\\.\pipe\LSARPC",
            r"\\.\pipe\srvsvc",
            r"\\.\pipe\",
        ] {
            let e = smb_leaf(bad).unwrap_err();
            assert_eq!(crate::win32_code(&e), ERROR_INVALID_NAME, "{bad}");
        }
    }
}
