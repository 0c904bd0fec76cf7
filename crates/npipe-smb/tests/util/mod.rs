//! Test support for the SMB client tests: a private loopback smbd (tools/smbd-test-server)
//! and a small NPA responder standing in for the pipe server behind smbd (NOTES 2.2: the
//! 36-byte handshake reply, then LE16-framed messages). Also used by npipe's and npipe-capi's
//! SMB tests through `#[path]`.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

#[path = "../../../npipe/tests/smb/smbd.rs"]
mod smbd;
pub use smbd::Smbd;

/// Why Samba tests cannot run here, or `None`; with `CI=true` a missing smbd is a failure.
pub fn skip_reason() -> Option<String> {
    smbd::skip_reason(false)
}

/// Returns early from a test, printing why, when Samba tests cannot run.
#[macro_export]
macro_rules! need_samba {
    () => {
        if let Some(why) = util::skip_reason() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

/// An NPA responder bound at `<np_dir>/<name>`: per connection, answers the handshake and
/// then, per message: `bye` closes the connection, `multi:N` sends N messages `m0`..,
/// `big:N` sends one N-byte message, anything else is echoed back unchanged.
pub struct Responder {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    accept: Option<thread::JoinHandle<()>>,
}

impl Responder {
    pub fn start(np_dir: &Path, name: &str) -> Responder {
        let path = np_dir.join(name.to_ascii_lowercase());
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).expect("bind the NPA socket");
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let accept = thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(c) = conn {
                    thread::spawn(move || {
                        let _ = serve(c);
                    });
                }
            }
        });
        Responder {
            path,
            stop,
            accept: Some(accept),
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve(mut c: UnixStream) -> std::io::Result<()> {
    let mut len = [0u8; 4];
    c.read_exact(&mut len)?;
    let l = u32::from_be_bytes(len) as usize;
    if !(12..=0xFF_FFFF).contains(&l) {
        return Ok(());
    }
    let mut req = vec![0u8; l];
    c.read_exact(&mut req)?;
    if &req[0..4] != b"NPAM" {
        return Ok(());
    }
    let level = &req[4..8];
    let mut rep = Vec::with_capacity(36);
    rep.extend_from_slice(&32u32.to_be_bytes());
    rep.extend_from_slice(b"NPAM");
    rep.extend_from_slice(level);
    rep.extend_from_slice(level);
    rep.extend_from_slice(&2u16.to_le_bytes());
    rep.extend_from_slice(&0x05FFu16.to_le_bytes());
    rep.extend_from_slice(&0u32.to_le_bytes());
    rep.extend_from_slice(&4096u64.to_le_bytes());
    rep.extend_from_slice(&0u32.to_le_bytes());
    c.write_all(&rep)?;
    loop {
        let mut h = [0u8; 2];
        if c.read_exact(&mut h).is_err() {
            return Ok(());
        }
        let mut msg = vec![0u8; u16::from_le_bytes(h) as usize];
        c.read_exact(&mut msg)?;
        let text = String::from_utf8_lossy(&msg).into_owned();
        if text == "bye" {
            return Ok(());
        } else if let Some(n) = text.strip_prefix("multi:") {
            for i in 0..n.parse::<usize>().unwrap_or(0) {
                send(&mut c, format!("m{i}").as_bytes())?;
            }
        } else if let Some(n) = text.strip_prefix("big:") {
            send(&mut c, &pattern(n.parse().unwrap_or(1)))?;
        } else {
            send(&mut c, &msg)?;
        }
    }
}

fn send(c: &mut UnixStream, m: &[u8]) -> std::io::Result<()> {
    let mut f = (m.len() as u16).to_le_bytes().to_vec();
    f.extend_from_slice(m);
    c.write_all(&f)
}

/// `n` bytes of a recognisable pattern.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}
