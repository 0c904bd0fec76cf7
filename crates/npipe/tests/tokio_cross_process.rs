//! `npipe::tokio` across two processes, each on a multi-threaded runtime: the client side is
//! this test binary re-run as a child (see `util`). Messages of every size (a large one goes
//! through its writer thread), a client that waits on a busy pipe, a read and a write issued
//! on an instance before its client exists, and a peer killed while a read waits (the hang-up
//! reaches the reactor through the readiness descriptor).
#![cfg(feature = "tokio")]

mod util;

use std::time::Duration;

use npipe::tokio::{ClientOptions, NamedPipeClient, PipeMode, ServerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;
use util::{child, expect_ok, unique_name};
use windows_sys::Win32::Foundation::ERROR_PIPE_BUSY;

const SIZES: [usize; 7] = [0, 1, 100, 4096, 65_536, 1 << 20, (5 << 20) + 3];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

async fn open_retrying(name: &str, mode: PipeMode) -> Result<NamedPipeClient, String> {
    loop {
        match ClientOptions::new().pipe_mode(mode).open(name) {
            Ok(c) => return Ok(c),
            Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY as i32) => {}
            Err(e) => return Err(format!("open: {e}")),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Reads one whole message (in parts if it is longer than the buffer).
async fn read_whole(p: &impl ReadMsg) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let m = p.read_msg(&mut buf).await?;
        out.extend_from_slice(&buf[..m.read]);
        if m.left == 0 {
            return Ok(out);
        }
    }
}

trait ReadMsg {
    async fn read_msg(&self, buf: &mut [u8]) -> std::io::Result<npipe::MsgLen>;
}
impl ReadMsg for npipe::tokio::NamedPipeServer {
    async fn read_msg(&self, buf: &mut [u8]) -> std::io::Result<npipe::MsgLen> {
        npipe::tokio::NamedPipeServer::read_msg(self, buf).await
    }
}
impl ReadMsg for NamedPipeClient {
    async fn read_msg(&self, buf: &mut [u8]) -> std::io::Result<npipe::MsgLen> {
        NamedPipeClient::read_msg(self, buf).await
    }
}

/// Child: sends a message of each size, expects one of the same size back, then "bye".
fn role_echo_client(name: &str) -> Result<(), String> {
    runtime().block_on(async {
        let mut c = open_retrying(name, PipeMode::Message).await?;
        for (k, &len) in SIZES.iter().enumerate() {
            let msg = pattern(len, k as u8);
            // One write is one message (`write_all` would send nothing for an empty one).
            let n = c
                .write(&msg)
                .await
                .map_err(|e| format!("write {len}: {e}"))?;
            if n != len {
                return Err(format!("wrote {n} of {len}"));
            }
            let back = read_whole(&c)
                .await
                .map_err(|e| format!("read {len}: {e}"))?;
            if back != pattern(len, !(k as u8)) {
                return Err(format!(
                    "reply of {len} bytes differs ({} bytes)",
                    back.len()
                ));
            }
        }
        c.write_all(b"bye").await.map_err(|e| e.to_string())?;
        c.flush().await.map_err(|e| e.to_string())
    })
}

/// Child: says hello, then waits to be killed.
fn role_hello_then_hang(name: &str) -> Result<(), String> {
    runtime().block_on(async {
        let mut c = open_retrying(name, PipeMode::Byte).await?;
        c.write_all(b"hello").await.map_err(|e| e.to_string())?;
        tokio::time::sleep(Duration::from_secs(120)).await;
        Err("not killed".into())
    })
}

/// Child: says hello, then expects "world" back.
fn role_hello_then_world(name: &str) -> Result<(), String> {
    runtime().block_on(async {
        let mut c = open_retrying(name, PipeMode::Byte).await?;
        c.write_all(b"hello").await.map_err(|e| e.to_string())?;
        let mut buf = [0u8; 5];
        timeout(Duration::from_secs(30), c.read_exact(&mut buf))
            .await
            .map_err(|_| "no answer".to_string())?
            .map_err(|e| e.to_string())?;
        if &buf != b"world" {
            return Err(format!("answer {buf:?}"));
        }
        Ok(())
    })
}

child_roles! {
    "echo_client" => role_echo_client,
    "hello_then_hang" => role_hello_then_hang,
    "hello_then_world" => role_hello_then_world,
}

#[test]
fn tokio_cross_process_messages_of_every_size() {
    let name = unique_name("tk-xp");
    runtime().block_on(async {
        let server = ServerOptions::new()
            .pipe_mode(PipeMode::Message)
            .max_instances(1)
            .create(&name)
            .unwrap();
        // A local client holds the one instance first: the child finds it busy and retries.
        let local = ClientOptions::new().open(&name).unwrap();
        let kid = child("echo_client", &name);
        server.connect().await.unwrap();
        drop(local);
        let mut buf = [0u8; 1];
        let mut s = server;
        assert_eq!(s.read(&mut buf).await.unwrap(), 0, "the local client left");
        s.disconnect().unwrap();
        timeout(Duration::from_secs(30), s.connect())
            .await
            .unwrap()
            .unwrap();
        for (k, &len) in SIZES.iter().enumerate() {
            let got = timeout(Duration::from_secs(60), read_whole(&s))
                .await
                .unwrap()
                .unwrap();
            assert!(got == pattern(len, k as u8), "message {k} ({len} bytes)");
            assert_eq!(s.write(&pattern(len, !(k as u8))).await.unwrap(), len);
        }
        let bye = read_whole(&s).await.unwrap();
        assert_eq!(bye, b"bye");
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
        tokio::task::spawn_blocking(move || expect_ok(kid))
            .await
            .unwrap();
    });
}

/// A read and a write on an instance no client has opened yet wait for one, as tokio's do on
/// Windows (no `connect()` first), and complete once a client in another process arrives.
#[test]
fn tokio_cross_process_io_on_a_listening_instance_waits_for_the_client() {
    let name = unique_name("tk-xp-listen");
    runtime().block_on(async {
        let server = std::sync::Arc::new(ServerOptions::new().create(&name).unwrap());
        let (r, w) = (server.clone(), server.clone());
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 5];
            let mut got = 0;
            while got < 5 {
                r.readable().await?;
                match r.try_read(&mut buf[got..]) {
                    Ok(n) => got += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(buf)
        });
        let writer = tokio::spawn(async move {
            loop {
                w.writable().await?;
                match w.try_write(b"world") {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !reader.is_finished() && !writer.is_finished(),
            "no client yet"
        );
        let kid = child("hello_then_world", &name);
        let got = timeout(Duration::from_secs(30), reader)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&got.unwrap(), b"hello");
        let sent = timeout(Duration::from_secs(30), writer)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(sent.unwrap(), 5);
        tokio::task::spawn_blocking(move || expect_ok(kid))
            .await
            .unwrap();
    });
}

#[test]
fn tokio_cross_process_killed_peer_ends_a_waiting_read() {
    let name = unique_name("tk-xp-kill");
    runtime().block_on(async {
        let server = ServerOptions::new().create(&name).unwrap();
        let mut kid = child("hello_then_hang", &name);
        timeout(Duration::from_secs(30), server.connect())
            .await
            .unwrap()
            .unwrap();
        let mut s = server;
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
        let reader = tokio::spawn(async move {
            let mut more = [0u8; 8];
            let n = s.read(&mut more).await;
            (s, n)
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        kid.kill().unwrap();
        kid.wait().unwrap();
        let (_s, n) = timeout(Duration::from_secs(30), reader)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            n.unwrap(),
            0,
            "the dead client reads as the end of the stream"
        );
    });
}
