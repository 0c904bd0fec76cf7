//! The [`SmbPipeTransport`] on the smb2 crate: one process-wide tokio runtime with one worker
//! thread, the cache of connections (one TCP connection, session and IPC$ tree per server,
//! port and credentials) and one SMB CREATE per handle. Nothing else in this crate names smb2.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use smb2::client::connection::Connection;
use smb2::msg::close::CloseRequest;
use smb2::msg::create::{
    CreateDisposition, CreateRequest, CreateResponse, ImpersonationLevel, ShareAccess,
};
use smb2::msg::ioctl::{IoctlRequest, IoctlResponse, SMB2_0_IOCTL_IS_FSCTL};
use smb2::msg::read::{ReadRequest, ReadResponse, SMB2_CHANNEL_NONE};
use smb2::msg::write::{WriteRequest, WriteResponse};
use smb2::pack::{Pack, ReadCursor, Unpack};
use smb2::types::flags::FileAccessMask;
use smb2::types::status::NtStatus;
use smb2::types::{Command, CreditCharge, FileId, OplockLevel, TreeId};
use smb2::{Session, Tree};
use tokio::runtime::Runtime;
use tokio::sync::watch;

use crate::error::{code, SmbError};
use crate::transport::{Chunk, Fail, FileHandle, ServerKey, SmbPipeTransport};

/// How long the TCP connect (name lookup included) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// `FILE_NON_DIRECTORY_FILE`.
const FILE_NON_DIRECTORY_FILE: u32 = 0x40;

/// The runtime every SMB exchange runs on, made on first use.
fn runtime() -> Result<&'static Runtime, Fail> {
    static RT: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("npipe-smb")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| {
        Fail::Other(SmbError::new(
            code::ERROR_NO_SYSTEM_RESOURCES,
            format!("npipe-smb: cannot start the SMB runtime thread: {e}"),
        ))
    })
}

/// Runs the future `make` builds on this thread (`block_on`); the runtime's worker keeps the
/// connections' receive tasks going. From inside another tokio runtime, where a nested
/// `block_on` would panic, it runs on a scoped helper thread instead.
fn run<T: Send, F: Future<Output = Result<T, Fail>>>(
    make: impl FnOnce() -> F + Send,
) -> Result<T, Fail> {
    let rt = runtime()?;
    if tokio::runtime::Handle::try_current().is_err() {
        return rt.block_on(make());
    }
    std::thread::scope(|s| {
        s.spawn(|| rt.block_on(make())).join().unwrap_or_else(|_| {
            Err(other(
                code::ERROR_UNEXP_NET_ERR,
                "npipe-smb: an SMB call panicked".into(),
            ))
        })
    })
}

/// One logged-on connection with its IPC$ tree, shared by every handle opened through it.
struct Link {
    conn: Connection,
    tree: TreeId,
    max_read: u32,
    max_write: u32,
    max_trans: u32,
    /// Kept for the life of the link (the session's keys live in the connection).
    _session: Session,
}

/// One open pipe.
struct Open {
    link: Arc<Link>,
    file: FileId,
    /// Set to `true` by close: calls in progress give up.
    closed: watch::Sender<bool>,
}

/// The smb2-backed transport.
#[derive(Default)]
pub(crate) struct Smb2Transport {
    links: Mutex<HashMap<ServerKey, Arc<Link>>>,
    opens: Mutex<HashMap<u64, Arc<Open>>>,
    next: AtomicU64,
}

impl std::fmt::Debug for Smb2Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smb2Transport").finish_non_exhaustive()
    }
}

fn other(win32: u32, msg: String) -> Fail {
    Fail::Other(SmbError::new(win32, msg))
}

/// Maps an smb2 error met while setting up a link to `key`.
fn setup_error(key: &ServerKey, stage: &str, e: smb2::Error) -> Fail {
    let server = format!(r"\\{}:{}", key.host, key.port);
    match e {
        smb2::Error::Protocol { status, .. } => Fail::Other(SmbError::from_status(
            status.0,
            stage,
            &server,
        )),
        smb2::Error::GuestSessionRefused { .. } => other(
            code::ERROR_LOGON_FAILURE,
            format!("{server}: {stage}: the server offered a guest session instead of the named account (wrong user name or password)"),
        ),
        smb2::Error::Auth { message } => other(
            code::ERROR_LOGON_FAILURE,
            format!("{server}: {stage}: authentication failed: {message}"),
        ),
        e => other(code::ERROR_UNEXP_NET_ERR, format!("{server}: {stage}: {e}")),
    }
}

/// Maps an smb2 error of a call on an open link.
fn call_error(e: smb2::Error) -> Fail {
    match e {
        smb2::Error::Protocol { status, .. } => Fail::Status(status.0),
        smb2::Error::Disconnected | smb2::Error::Io(_) => other(
            code::ERROR_NETNAME_DELETED,
            format!("the connection to the server was lost: {e}"),
        ),
        smb2::Error::Timeout | smb2::Error::ServerUnresponsive { .. } => other(
            code::ERROR_SEM_TIMEOUT,
            format!("the server stopped answering: {e}"),
        ),
        e => other(code::ERROR_UNEXP_NET_ERR, e.to_string()),
    }
}

async fn connect(key: ServerKey) -> Result<Link, Fail> {
    let addr = if key.host.contains(':') && !key.host.starts_with('[') {
        format!("[{}]:{}", key.host, key.port)
    } else {
        format!("{}:{}", key.host, key.port)
    };
    let mut conn = Connection::connect(&addr, CONNECT_TIMEOUT)
        .await
        .map_err(|e| {
            other(
                code::ERROR_BAD_NETPATH,
                format!(r"\\{}:{}: cannot reach the server: {e}", key.host, key.port),
            )
        })?;
    conn.negotiate()
        .await
        .map_err(|e| setup_error(&key, "NEGOTIATE", e))?;
    let (user, pass, dom) = match &key.creds {
        Some(c) => (c.user.as_str(), c.password.as_str(), c.domain.as_str()),
        None => ("", "", ""),
    };
    let session = Session::setup(&mut conn, user, pass, dom)
        .await
        .map_err(|e| setup_error(&key, "SESSION_SETUP", e))?;
    let tree = Tree::connect(&mut conn, "IPC$")
        .await
        .map_err(|e| setup_error(&key, "TREE_CONNECT IPC$", e))?;
    let params = conn.params();
    let max_read = params.as_ref().map_or(65536, |p| p.max_read_size.max(1));
    let max_write = params.as_ref().map_or(65536, |p| p.max_write_size.max(1));
    // SMB 2.0.2 has no multi-credit requests: one IOCTL carries at most 64 KiB.
    let max_trans = params.as_ref().map_or(65536, |p| match p.dialect {
        smb2::types::Dialect::Smb2_0_2 => p.max_transact_size.clamp(1, 65536),
        _ => p.max_transact_size.max(1),
    });
    Ok(Link {
        conn,
        tree: tree.tree_id,
        max_read,
        max_write,
        max_trans,
        _session: session,
    })
}

/// Credit charge for a request or response of `len` bytes (MS-SMB2 3.2.4.1.5).
fn charge(link: &Link, len: usize) -> CreditCharge {
    let multi = link
        .conn
        .params()
        .is_some_and(|p| p.dialect != smb2::types::Dialect::Smb2_0_2);
    if !multi {
        return CreditCharge(1);
    }
    CreditCharge(len.div_ceil(65536).clamp(1, u16::MAX as usize) as u16)
}

/// Sends one request and returns the frame's status and body. Success and
/// STATUS_BUFFER_OVERFLOW keep the body; anything else is `Fail::Status`.
async fn exec(
    link: &Link,
    cmd: Command,
    body: &dyn Pack,
    len: usize,
) -> Result<(bool, Vec<u8>), Fail> {
    let frame = link
        .conn
        .execute_with_credits(cmd, body, Some(link.tree), charge(link, len))
        .await
        .map_err(call_error)?;
    let st = frame.header.status;
    if st == NtStatus::SUCCESS {
        Ok((false, frame.body))
    } else if st.0 == crate::error::status::BUFFER_OVERFLOW {
        Ok((true, frame.body))
    } else {
        Err(Fail::Status(st.0))
    }
}

fn unpack<T: Unpack>(body: &[u8]) -> Result<T, Fail> {
    let mut cur = ReadCursor::new(body);
    T::unpack(&mut cur).map_err(|e| {
        other(
            code::ERROR_UNEXP_NET_ERR,
            format!("malformed answer from the server: {e}"),
        )
    })
}

/// Runs `fut` unless the handle gets closed first.
async fn abortable<T>(
    mut closed: watch::Receiver<bool>,
    fut: impl Future<Output = Result<T, Fail>>,
) -> Result<T, Fail> {
    if *closed.borrow() {
        return Err(aborted());
    }
    tokio::select! {
        r = fut => r,
        _ = closed.wait_for(|c| *c) => Err(aborted()),
    }
}

fn aborted() -> Fail {
    other(
        code::ERROR_OPERATION_ABORTED,
        "the handle was closed during the call".into(),
    )
}

impl Smb2Transport {
    fn link(&self, key: &ServerKey) -> Result<Arc<Link>, Fail> {
        if let Some(l) = self.links.lock().unwrap().get(key) {
            if !l.conn.is_disconnected() {
                return Ok(Arc::clone(l));
            }
        }
        let link = Arc::new(run(|| connect(key.clone()))?);
        let mut links = self.links.lock().unwrap();
        // Another thread may have connected meanwhile: either link works; keep the newest.
        links.insert(key.clone(), Arc::clone(&link));
        Ok(link)
    }

    fn get(&self, h: FileHandle) -> Result<Arc<Open>, Fail> {
        self.opens
            .lock()
            .unwrap()
            .get(&h.0)
            .cloned()
            .ok_or_else(|| other(code::ERROR_INVALID_HANDLE, "the handle is closed".into()))
    }
}

impl Smb2Transport {
    /// Forgets `link` as the cached connection of `key` (if it still is), so the next open
    /// connects and logs on again.
    fn evict(&self, key: &ServerKey, link: &Arc<Link>) {
        let mut links = self.links.lock().unwrap();
        if links.get(key).is_some_and(|l| Arc::ptr_eq(l, link)) {
            links.remove(key);
        }
    }

    /// One CREATE of `name` on the cached (or a new) connection to `server`; a failure comes
    /// with the connection it happened on.
    fn open_on(
        &self,
        server: &ServerKey,
        name: &str,
        access: u32,
    ) -> Result<FileHandle, (Fail, Option<Arc<Link>>)> {
        let link = self.link(server).map_err(|e| (e, None))?;
        let mut mask = FileAccessMask::FILE_READ_ATTRIBUTES | FileAccessMask::SYNCHRONIZE;
        if access & 0x8000_0000 != 0 {
            mask |= FileAccessMask::FILE_READ_DATA;
        }
        if access & 0x4000_0000 != 0 {
            mask |= FileAccessMask::FILE_WRITE_DATA;
        }
        let req = CreateRequest {
            requested_oplock_level: OplockLevel::None,
            impersonation_level: ImpersonationLevel::Impersonation,
            desired_access: FileAccessMask::new(mask),
            file_attributes: 0,
            share_access: ShareAccess(ShareAccess::FILE_SHARE_READ | ShareAccess::FILE_SHARE_WRITE),
            create_disposition: CreateDisposition::FileOpen,
            create_options: FILE_NON_DIRECTORY_FILE,
            name: name.to_string(),
            create_contexts: vec![],
        };
        let l = Arc::clone(&link);
        let resp: CreateResponse = match run(move || async move {
            let (_, body) = exec(&l, Command::Create, &req, 0).await?;
            unpack(&body)
        }) {
            Ok(r) => r,
            Err(e) => return Err((e, Some(link))),
        };
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (closed, _) = watch::channel(false);
        self.opens.lock().unwrap().insert(
            id,
            Arc::new(Open {
                link,
                file: resp.file_id,
                closed,
            }),
        );
        Ok(FileHandle(id))
    }
}

impl SmbPipeTransport for Smb2Transport {
    fn open(&self, server: &ServerKey, name: &str, access: u32) -> Result<FileHandle, Fail> {
        match self.open_on(server, name, access) {
            // The cached session expired or was logged off (the server restarted, or its
            // lifetime ran out): once more on a fresh connection, as Windows' redirector
            // reconnects.
            Err((Fail::Status(st), Some(link))) if crate::error::session_gone(st) => {
                self.evict(server, &link);
                self.open_on(server, name, access).map_err(|(e, _)| e)
            }
            r => r.map_err(|(e, _)| e),
        }
    }

    fn write(&self, h: FileHandle, data: &[u8]) -> Result<u32, Fail> {
        let o = self.get(h)?;
        if data.len() > o.link.max_write as usize {
            // More than one WRITE could carry would split the message: refuse it whole.
            return Err(Fail::Status(crate::error::status::INVALID_PARAMETER));
        }
        let req = WriteRequest {
            data_offset: 0x70,
            offset: 0,
            file_id: o.file,
            channel: 0,
            remaining_bytes: 0,
            write_channel_info_offset: 0,
            write_channel_info_length: 0,
            flags: 0,
            data: data.to_vec(),
        };
        let rx = o.closed.subscribe();
        let len = data.len();
        run(move || {
            abortable(rx, async move {
                let (_, body) = exec(&o.link, Command::Write, &req, len).await?;
                Ok(unpack::<WriteResponse>(&body)?.count)
            })
        })
    }

    fn read(&self, h: FileHandle, max: u32) -> Result<Chunk, Fail> {
        let o = self.get(h)?;
        let max = max.min(o.link.max_read);
        let req = ReadRequest {
            padding: 0x50,
            flags: 0,
            length: max,
            offset: 0,
            file_id: o.file,
            minimum_count: 0,
            channel: SMB2_CHANNEL_NONE,
            remaining_bytes: 0,
            read_channel_info: vec![],
        };
        let rx = o.closed.subscribe();
        run(move || {
            abortable(rx, async move {
                let (more, body) = exec(&o.link, Command::Read, &req, max as usize).await?;
                Ok((unpack::<ReadResponse>(&body)?.data, more))
            })
        })
    }

    fn fsctl(
        &self,
        server: &ServerKey,
        h: Option<FileHandle>,
        ctl: u32,
        input: &[u8],
        max_out: u32,
    ) -> Result<Chunk, Fail> {
        let (link, file, rx) = match h {
            Some(h) => {
                let o = self.get(h)?;
                (Arc::clone(&o.link), o.file, Some(o.closed.subscribe()))
            }
            None => (self.link(server)?, FileId::SENTINEL, None),
        };
        let req = IoctlRequest {
            ctl_code: ctl,
            file_id: file,
            max_input_response: 0,
            // A longer answer comes as STATUS_BUFFER_OVERFLOW, its rest left in the pipe.
            max_output_response: max_out.min(link.max_trans),
            flags: SMB2_0_IOCTL_IS_FSCTL,
            input_data: input.to_vec(),
        };
        let len = input.len().max(req.max_output_response as usize);
        run(move || async move {
            let fut = async {
                let (more, body) = exec(&link, Command::Ioctl, &req, len).await?;
                Ok((unpack::<IoctlResponse>(&body)?.output_data, more))
            };
            match rx {
                Some(rx) => abortable(rx, fut).await,
                None => fut.await,
            }
        })
    }

    fn close(&self, h: FileHandle) -> Result<(), Fail> {
        let o = self
            .opens
            .lock()
            .unwrap()
            .remove(&h.0)
            .ok_or_else(|| other(code::ERROR_INVALID_HANDLE, "the handle is closed".into()))?;
        o.closed.send_replace(true);
        let req = CloseRequest {
            flags: 0,
            file_id: o.file,
        };
        run(move || async move {
            exec(&o.link, Command::Close, &req, 0).await?;
            Ok(())
        })
    }

    fn forget_server(&self, host: &str) {
        self.links
            .lock()
            .unwrap()
            .retain(|k, _| !k.host.eq_ignore_ascii_case(host));
    }
}
