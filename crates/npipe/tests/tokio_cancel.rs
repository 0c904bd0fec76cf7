//! Cancellation safety of `npipe::tokio`: futures dropped at their await points (timeouts,
//! `select!`) leave the pipe consistent: no lost or duplicated message, no part of one, no
//! half-written message, no leaked instance; and a write in flight survives its end's drop.
#![cfg(feature = "tokio")]

mod util;

use std::io;
use std::time::Duration;

use npipe::tokio::{ClientOptions, PipeMode, ServerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;
use util::unique_name;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_cancel_connect_by_timeout_keeps_the_instance() {
    let name = unique_name("tk-cancel-conn");
    let server = ServerOptions::new().max_instances(1).create(&name).unwrap();
    for _ in 0..3 {
        assert!(timeout(Duration::from_millis(20), server.connect())
            .await
            .is_err());
    }
    // Still the one instance, still listening: a client gets it, and connect sees it.
    let mut client = ClientOptions::new().open(&name).unwrap();
    server.connect().await.unwrap();
    client.write_all(b"hi").await.unwrap();
    let mut buf = [0u8; 2];
    let mut s = server;
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"hi");
    // A client that connects while no connect future exists is not lost either.
    s.disconnect().unwrap();
    let pending = timeout(Duration::from_millis(10), s.connect()).await;
    assert!(pending.is_err(), "no client yet");
    let _c2 = ClientOptions::new().open(&name).unwrap();
    timeout(Duration::from_secs(10), s.connect())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_cancel_read_by_timeout_loses_nothing() {
    let name = unique_name("tk-cancel-read");
    let server = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .create(&name)
        .unwrap();
    let client = ClientOptions::new().open(&name).unwrap();
    server.connect().await.unwrap();
    let mut buf = [0u8; 64];
    assert!(
        timeout(Duration::from_millis(20), server.read_msg(&mut buf))
            .await
            .is_err()
    );
    client.try_write(b"whole message").unwrap();
    let m = timeout(Duration::from_secs(10), server.read_msg(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((&buf[..m.read], m.left), (&b"whole message"[..], 0));
}

/// Reads raced against short timers, while a writer task sends numbered messages: every
/// message arrives once, whole and in order, however many reads were dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_cancel_reads_in_select_lose_no_message() {
    const N: u32 = 2000;
    let name = unique_name("tk-cancel-select");
    let server = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .in_buffer_size(512)
        .create(&name)
        .unwrap();
    let mut client = ClientOptions::new().open(&name).unwrap();
    server.connect().await.unwrap();
    let writer = tokio::spawn(async move {
        for i in 0..N {
            let len = 4 + (i as usize * 37) % 300;
            let mut msg = vec![(i % 251) as u8; len];
            msg[..4].copy_from_slice(&i.to_le_bytes());
            client.write_all(&msg).await.unwrap();
            if i % 64 == 0 {
                tokio::task::yield_now().await;
            }
        }
        client.flush().await.unwrap();
        client
    });
    let mut next = 0u32;
    let mut dropped = 0u32;
    let mut buf = [0u8; 512];
    while next < N {
        tokio::select! {
            r = server.read_msg(&mut buf) => {
                let m = r.unwrap();
                assert_eq!(m.left, 0, "a whole message");
                let i = u32::from_le_bytes(buf[..4].try_into().unwrap());
                assert_eq!(i, next, "in order, none lost or repeated");
                let len = 4 + (i as usize * 37) % 300;
                assert_eq!(m.read, len);
                assert!(buf[4..len].iter().all(|&b| b == (i % 251) as u8));
                next += 1;
            }
            _ = tokio::task::yield_now() => dropped += 1,
        }
    }
    drop(writer.await.unwrap());
    eprintln!("{N} messages, {dropped} reads dropped");
}

/// A write that cannot go in (the one before it waits for the quota) and is dropped has
/// written nothing; the next write's message follows the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_cancel_write_writes_nothing() {
    let name = unique_name("tk-cancel-write");
    let server = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .out_buffer_size(1000)
        .create(&name)
        .unwrap();
    let client = ClientOptions::new()
        .pipe_mode(PipeMode::Message)
        .open(&name)
        .unwrap();
    server.connect().await.unwrap();
    let mut s = server;
    s.write_all(&[1u8; 3000]).await.unwrap(); // in flight: beyond the quota
    assert!(timeout(Duration::from_millis(20), s.write_all(&[2u8; 10]))
        .await
        .is_err());
    let peek = client.get_ref().peek(None).unwrap();
    assert_eq!(
        peek.available, 3000,
        "the dropped write put nothing in the pipe"
    );
    let mut buf = vec![0u8; 4000];
    let m = client.read_msg(&mut buf).await.unwrap();
    assert_eq!((m.read, m.left), (3000, 0));
    s.write_all(&[3u8; 10]).await.unwrap();
    let m = client.read_msg(&mut buf).await.unwrap();
    assert_eq!(&buf[..m.read], &[3u8; 10]);
    assert_eq!(
        client.try_read(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
}

/// Dropping an end whose last write waits for the quota keeps that write: the reader gets it
/// whole, then the end of the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_cancel_drop_keeps_the_write_in_flight() {
    let name = unique_name("tk-cancel-drop");
    let server = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .out_buffer_size(100)
        .create(&name)
        .unwrap();
    let client = ClientOptions::new()
        .pipe_mode(PipeMode::Message)
        .open(&name)
        .unwrap();
    server.connect().await.unwrap();
    assert_eq!(server.try_write(&[7u8; 5000]).unwrap(), 5000);
    drop(server);
    let mut buf = vec![0u8; 8000];
    let m = client.read_msg(&mut buf).await.unwrap();
    assert_eq!((m.read, m.left), (5000, 0));
    assert!(buf[..5000].iter().all(|&b| b == 7));
    let mut c = client;
    assert_eq!(
        c.read(&mut buf).await.unwrap(),
        0,
        "then the end of the stream"
    );
}

/// A large message (more than the ring: written by its own thread) whose writer end is
/// dropped right after handing it off arrives whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_cancel_drop_during_large_write_delivers_it() {
    let name = unique_name("tk-cancel-large");
    let server = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .create(&name)
        .unwrap();
    let client = ClientOptions::new().open(&name).unwrap();
    server.connect().await.unwrap();
    let big: Vec<u8> = (0..6 * 1024 * 1024).map(|i| (i % 253) as u8).collect();
    assert_eq!(server.try_write(&big).unwrap(), big.len());
    drop(server);
    let mut got = Vec::new();
    let mut c = client;
    timeout(Duration::from_secs(60), c.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert!(
        got == big,
        "whole and in order ({} of {} bytes)",
        got.len(),
        big.len()
    );
}
