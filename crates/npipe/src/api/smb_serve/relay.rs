//! The SMB relay: accepts smbd's connections, answers each handshake on a thread of its own
//! (smbd waits for it with no timeout, so the accept loop never does this work), and pumps
//! one relayed connection between smbd's stream (LE16 frames, or raw bytes for a byte pipe)
//! and a client end of the pipe opened on behalf of the remote user.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::code::*;
use crate::semantics::pipe::{
    self, remote_admitted, served_here, ClientEnd, PipeParams, Trust, WaitTimeout, ACCESS_INBOUND,
    ACCESS_OUTBOUND,
};
use crate::semantics::remote::{self, RemoteIdentity};
use crate::sys;
use crate::transport::npa;

/// How long smbd has to send its request once connected (it sends it at once).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);
/// A pipe whose default timeout is 0 waits this long for a free instance (as WaitNamedPipe).
const DEFAULT_WAIT: Duration = Duration::from_millis(50);
/// PIPE_READMODE_MESSAGE.
const READMODE_MESSAGE: u32 = 2;
/// Relayed connections (threads) one exposure serves at once by default; smbd's further
/// opens are closed at once (its client sees the open fail) until one ends.
pub(super) const MAX_RELAYS: usize = 1024;

/// What the listener and its connections share.
pub(super) struct Shared {
    pub pipe: String,
    pub require_root: bool,
    /// Whether unauthenticated (anonymous, guest) sessions are admitted.
    pub allow_anonymous: bool,
    pub last_error: Mutex<Option<String>>,
    /// The relayed connections' streams, to close them all on stop.
    pub live: Mutex<HashMap<u64, UnixStream>>,
    pub stopping: AtomicBool,
    /// Connection threads running now (at most `max_relays`).
    pub running: AtomicUsize,
    pub max_relays: usize,
}

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

impl Shared {
    fn record(&self, what: String) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(what);
    }

    /// Shuts every relayed connection down (their threads then end by themselves).
    pub(super) fn close_all(&self) {
        // Relaxed: the live map's lock orders the flag with `track`.
        self.stopping.store(true, Ordering::Relaxed);
        let live = std::mem::take(&mut *self.live.lock().unwrap_or_else(|p| p.into_inner()));
        for s in live.values() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn track(&self, s: &UnixStream) -> Option<u64> {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        // Relaxed: read under the lock `close_all` takes after setting it.
        if self.stopping.load(Ordering::Relaxed) {
            return None;
        }
        let id = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
        live.insert(id, s.try_clone().ok()?);
        Some(id)
    }

    fn untrack(&self, id: u64) {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }
}

/// Accepts smbd's connections until `stop` is signalled; each gets a thread.
pub(super) fn accept_loop(listener: UnixListener, stop: &sys::EventFd, shared: &Arc<Shared>) {
    loop {
        let Ok(r) = sys::poll_fds([listener.as_fd(), stop.fd()], None) else {
            return;
        };
        if r[1].readable {
            return;
        }
        loop {
            match listener.accept() {
                Ok((s, _)) => {
                    // Relaxed: a counter; the thread's end decrements it.
                    if shared.running.fetch_add(1, Ordering::Relaxed) >= shared.max_relays {
                        shared.running.fetch_sub(1, Ordering::Relaxed);
                        shared.record(format!(
                            "SMB client of {}: {} relayed connections already: closed",
                            shared.pipe, shared.max_relays
                        ));
                        continue;
                    }
                    let sh = shared.clone();
                    let identity = crate::NewThreadIdentity::capture();
                    let spawned = std::thread::Builder::new()
                        .name("npipe-smb-conn".into())
                        .spawn(move || {
                            identity.adopt();
                            // Gives the slot back however the thread ends (a panic too).
                            let _slot = Slot(&sh.running);
                            connection(s, &sh);
                        });
                    if let Err(e) = spawned {
                        // The stream went with the closure: smbd sees a closed connection.
                        shared.running.fetch_sub(1, Ordering::Relaxed);
                        shared.record(format!("SMB client of {}: no thread: {e}", shared.pipe));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    // Out of descriptors and the like: let the backlog hold smbd a moment
                    // rather than spin on a listener that stays readable.
                    std::thread::sleep(Duration::from_millis(50));
                    break;
                }
            }
        }
    }
}

/// One place of [`Shared::running`], given back when dropped.
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        // Relaxed: a counter.
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One connection from smbd: handshake, open, pump. Whatever ends it early is recorded before
/// the stream closes, so smbd's client never sees the end before the record exists.
fn connection(s: UnixStream, shared: &Shared) {
    if let Err(why) = relay(&s, shared) {
        shared.record(format!("SMB client of {}: {why}", shared.pipe));
    }
    let _ = s.shutdown(Shutdown::Both);
}

fn relay(s: &UnixStream, shared: &Shared) -> Result<(), String> {
    if shared.require_root && !super::peer_is_root(s) {
        return Err("a handshake from a peer that is not root was dropped".into());
    }
    let req = read_request(s)?;
    let Some(session) = req.session.clone() else {
        return Err(format!(
            "the handshake (level {}) carries no identity we can decode: dropped",
            req.level
        ));
    };
    if !session.authenticated && !shared.allow_anonymous && !req.probe_only() {
        // Refused before the reply, so the SMB open itself fails.
        return Err(format!(
            "an anonymous SMB session ({}\\{}) was refused (SmbExposure::allow_anonymous)",
            session.domain, session.account
        ));
    }
    // Relaxed: a late stop is caught again under the lock in `track`.
    if shared.stopping.load(Ordering::Relaxed) {
        return Err("the exposure is stopping".into());
    }
    let Some(params) = served_here(&shared.pipe) else {
        return Err("the pipe is not served any more".into());
    };
    let identity = RemoteIdentity {
        uid: session.uid,
        gid: session.gid,
        groups: session.groups,
        account: session.account,
        domain: session.domain,
        authenticated: session.authenticated,
        encrypted: session.encryption.is_some(),
        address: req.client_addr.clone(),
        port: req.client_port,
    };
    let access = access_for(&params);
    if !req.probe_only() && remote_admitted(&shared.pipe, &identity, access) != Some(true) {
        // Refused before the reply, so the SMB open itself fails (SMB carries no
        // ERROR_ACCESS_DENIED back from here; closing is the only refusal smbd passes on).
        return Err(format!(
            "{}\\{} (uid {}) was refused: the pipe's access policy does not grant it, or every \
             instance rejects remote clients",
            identity.domain, identity.account, identity.uid
        ));
    }
    let mut w = s;
    w.write_all(&npa::encode_reply(req.level, params.message_type))
        .map_err(|e| format!("cannot answer the handshake: {e}"))?;
    if req.probe_only() || sys::peer_hung_up(s.as_fd()) {
        // An existence probe (or an open closed at once): never a client of the pipe.
        return Ok(());
    }
    let _ = s.set_read_timeout(None);
    let _ = s.set_write_timeout(None);
    let ticket = remote::register(identity);
    let Some(id) = shared.track(s) else {
        return Ok(());
    };
    let end = open(&shared.pipe, &params, access, ticket.token(), s);
    drop(ticket);
    let r = match end {
        Ok(end) => pump(s, Arc::new(end), &params, shared),
        Err(e) => Err(format!("the open was refused: {e}")),
    };
    shared.untrack(id);
    r
}

/// The longest handshake accepted: smbd's are under 1 KiB (a few KiB with a large group
/// list); the protocol allows 16 MiB, which a peer could make us allocate per connection.
const MAX_REQUEST: usize = 64 * 1024;

/// Reads and decodes smbd's request within [`HANDSHAKE_TIMEOUT`].
fn read_request(mut s: &UnixStream) -> Result<npa::Request, String> {
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    let mut head = [0u8; 4];
    read_by(&mut s, &mut head, deadline)?;
    let l = npa::request_len(head).map_err(|b| format!("bad handshake: {}", b.0))?;
    if l > MAX_REQUEST {
        return Err(format!(
            "bad handshake: {l} bytes announced, more than the {MAX_REQUEST} accepted"
        ));
    }
    let mut b = vec![0u8; 4 + l];
    b[..4].copy_from_slice(&head);
    read_by(&mut s, &mut b[4..], deadline)?;
    npa::decode_request(&b).map_err(|b| format!("bad handshake: {}", b.0))
}

fn read_by(s: &mut &UnixStream, buf: &mut [u8], deadline: Instant) -> Result<(), String> {
    let mut got = 0;
    while got < buf.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("smbd's handshake did not come in time".into());
        }
        let _ = s.set_read_timeout(Some(left));
        match s.read(&mut buf[got..]) {
            Ok(0) => return Err("the connection closed during the handshake".into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err("smbd's handshake did not come in time".into())
            }
            Err(e) => return Err(format!("reading the handshake: {e}")),
        }
    }
    Ok(())
}

/// The access a relayed open asks for: what the pipe's direction lets a client do (an SMB
/// client's own access mask does not reach us).
fn access_for(p: &PipeParams) -> u32 {
    let mut access = 0u32;
    if p.direction & ACCESS_OUTBOUND != 0 {
        access |= 0x8000_0000; // GENERIC_READ
    }
    if p.direction & ACCESS_INBOUND != 0 {
        access |= 0x4000_0000; // GENERIC_WRITE
    }
    access
}

/// Opens the pipe for the remote client registered under `token`, waiting up to the pipe's
/// default timeout for a free instance (SMB has no PIPE_BUSY to tell the client).
fn open(
    name: &str,
    p: &PipeParams,
    access: u32,
    token: u64,
    s: &UnixStream,
) -> std::io::Result<ClientEnd> {
    let wait = match p.default_timeout {
        0 => DEFAULT_WAIT,
        ms => Duration::from_millis(ms.into()),
    };
    let deadline = Instant::now() + wait;
    loop {
        // No quality of service: the identity smbd vouched for is taken at the first read,
        // as a local client's without one.
        let desired = pipe::Desired { access, sqos: 0 };
        match ClientEnd::open_as(name, desired, Trust::default(), token) {
            Err(e) if crate::win32_code(&e) == ERROR_PIPE_BUSY => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() || sys::peer_hung_up(s.as_fd()) {
                    return Err(e);
                }
                let ms = left.as_millis().clamp(1, u32::MAX as u128) as u32;
                match pipe::wait_named_pipe(name, WaitTimeout::Ms(ms), Trust::default()) {
                    Ok(()) => {}
                    Err(w) if crate::win32_code(&w) == ERROR_SEM_TIMEOUT => return Err(e),
                    Err(w) => return Err(w),
                }
            }
            Ok(end) => {
                if p.message_type {
                    end.set_mode(READMODE_MESSAGE)?;
                }
                return Ok(end);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Relays until either side ends: smbd's EOF closes the client end (the server sees its client
/// close); the server's disconnect or close shuts the stream (smbd tells its client the pipe
/// is disconnected).
fn pump(
    s: &UnixStream,
    end: Arc<ClientEnd>,
    p: &PipeParams,
    shared: &Shared,
) -> Result<(), String> {
    let message = p.message_type;
    let to_smb = p.direction & ACCESS_OUTBOUND != 0;
    let inbound = {
        let end = end.clone();
        let s = s.try_clone().map_err(|e| format!("cannot relay: {e}"))?;
        let writes = p.direction & ACCESS_INBOUND != 0;
        let identity = crate::NewThreadIdentity::capture();
        std::thread::Builder::new()
            .name("npipe-smb-in".into())
            .spawn(move || {
                identity.adopt();
                let r = smb_to_pipe(&s, &end, message, writes);
                // The SMB client closed (or sent garbage): the pipe's server sees a close.
                end.close();
                let _ = s.shutdown(Shutdown::Both);
                r
            })
            .map_err(|e| format!("cannot relay: {e}"))?
    };
    let out = if to_smb {
        pipe_to_smb(s, &end, message)
    } else {
        // Nothing to carry this way: wait for the server to disconnect or close (or for the
        // SMB client's end, which closes `end`), so the SMB client learns it at its next call.
        end.wait_until_ended();
        Ok(())
    };
    if let Err(why) = &out {
        // Recorded before the close that the SMB client sees.
        shared.record(format!("SMB client of {}: {why}", shared.pipe));
    }
    // The server's side ended (or a message could not be framed): close the SMB open.
    let _ = s.shutdown(Shutdown::Both);
    end.close();
    inbound
        .join()
        .unwrap_or_else(|_| Err("the relay thread panicked".into()))
}

/// smbd → pipe: each frame is one message (message pipes), or raw bytes (byte pipes).
fn smb_to_pipe(
    mut s: &UnixStream,
    end: &ClientEnd,
    message: bool,
    writes: bool,
) -> Result<(), String> {
    let mut buf = vec![0u8; npa::MAX_FRAME];
    loop {
        let data = if message {
            let mut head = [0u8; 2];
            match read_full(&mut s, &mut head) {
                Ok(true) => {}
                Ok(false) => return Ok(()),
                Err(e) => return Err(e),
            }
            let n = npa::frame_len(head).map_err(|b| format!("smbd sent a bad frame: {}", b.0))?;
            match read_full(&mut s, &mut buf[..n]) {
                Ok(true) => {}
                Ok(false) => return Err("smbd closed in the middle of a frame".into()),
                Err(e) => return Err(e),
            }
            &buf[..n]
        } else {
            match s.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => &buf[..n],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Our own shutdown after the server went away.
                Err(_) => return Ok(()),
            }
        };
        if !writes {
            return Err("the SMB client wrote to an outbound-only pipe".into());
        }
        if end.write(data, None).is_err() {
            // The server disconnected or closed: the other direction reports it.
            return Ok(());
        }
    }
}

/// Fills `buf`; `Ok(false)` on EOF before its first byte (a clean end), an error on EOF inside.
fn read_full(s: &mut &UnixStream, buf: &mut [u8]) -> Result<bool, String> {
    let mut got = 0;
    while got < buf.len() {
        match s.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err("smbd closed in the middle of a frame".into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Our own shutdown (the server went away) or a reset: the end either way.
            Err(_) => return Ok(false),
        }
    }
    Ok(true)
}

/// pipe → smbd: each message is one frame (message pipes), or raw bytes (byte pipes). A
/// message over 65535 bytes cannot be framed: the connection is closed with an error.
fn pipe_to_smb(mut s: &UnixStream, end: &ClientEnd, message: bool) -> Result<(), String> {
    let mut buf = vec![0u8; 2 + npa::MAX_FRAME];
    loop {
        let r = match end.read(&mut buf[2..], None) {
            Ok(r) => r,
            // Disconnected, closed, or our own close after smbd's EOF.
            Err(_) => return Ok(()),
        };
        if message {
            if r.left > 0 {
                return Err(format!(
                    "the server sent a message of {} bytes; SMB carries at most {} per \
                     message, so the connection was closed",
                    r.n as u64 + r.left,
                    npa::MAX_FRAME
                ));
            }
            // An empty message has no frame (smbd would fail the client's read): not sent.
            let Some(head) = npa::frame_header(r.n) else {
                continue;
            };
            buf[..2].copy_from_slice(&head);
            if s.write_all(&buf[..2 + r.n]).is_err() {
                return Ok(());
            }
        } else if r.n > 0 && s.write_all(&buf[2..2 + r.n]).is_err() {
            return Ok(());
        }
    }
}
