//! `npipe::tokio` in one process: the tokio API's behaviour (connect, reads and writes in both
//! pipe modes, message parts, readiness, errors as tokio users check them, info, disconnect,
//! large messages, quota and the write in flight).
#![cfg(feature = "tokio")]

mod util;

use std::io;
use std::time::Duration;

use npipe::tokio::{
    ClientOptions, NamedPipeClient, NamedPipeServer, PipeEnd, PipeMode, ServerOptions,
};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest};
use util::unique_name;
use windows_sys::Win32::Foundation::{ERROR_NO_DATA, ERROR_PIPE_BUSY, ERROR_PIPE_NOT_CONNECTED};

async fn pair(name: &str, mode: PipeMode) -> (NamedPipeServer, NamedPipeClient) {
    let server = ServerOptions::new().pipe_mode(mode).create(name).unwrap();
    let client = ClientOptions::new().pipe_mode(mode).open(name).unwrap();
    server.connect().await.unwrap();
    (server, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_byte_round_trip() {
    let name = unique_name("tk-byte");
    let (mut server, mut client) = pair(&name, PipeMode::Byte).await;
    client.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    server.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");
    server.write_all(b"pong").await.unwrap();
    client.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"pong");
    drop(server);
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).await.unwrap();
    assert!(
        rest.is_empty(),
        "a closed server reads as the end of the stream"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn tokio_message_parts_show_more_data() {
    let name = unique_name("tk-msg");
    let (server, client) = pair(&name, PipeMode::Message).await;
    client.try_write(b"hello world").unwrap();
    client.try_write(b"").unwrap();
    let mut buf = [0u8; 5];
    let m = server.read_msg(&mut buf).await.unwrap();
    assert_eq!((m.read, m.left), (5, 6), "ERROR_MORE_DATA: 6 bytes left");
    assert_eq!(&buf, b"hello");
    let mut rest = [0u8; 16];
    let m = server.read_msg(&mut rest).await.unwrap();
    assert_eq!((m.read, m.left), (6, 0));
    assert_eq!(&rest[..6], b" world");
    let m = server.read_msg(&mut rest).await.unwrap();
    assert_eq!((m.read, m.left), (0, 0), "the empty message is a message");
    assert_eq!(
        server.try_read(&mut rest).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
}

#[tokio::test(flavor = "current_thread")]
async fn tokio_errors_match_windows_codes() {
    let name = unique_name("tk-err");
    let missing = ClientOptions::new().open(&name).unwrap_err();
    assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    assert_eq!(missing.raw_os_error(), Some(2));

    let mut server = ServerOptions::new().max_instances(1).create(&name).unwrap();
    let client = ClientOptions::new().open(&name).unwrap();
    let busy = ClientOptions::new().open(&name).unwrap_err();
    assert_eq!(busy.raw_os_error(), Some(ERROR_PIPE_BUSY as i32));
    assert_eq!(npipe::win32_code(&busy), ERROR_PIPE_BUSY);

    let again = ServerOptions::new().create(&name).unwrap_err();
    assert_eq!(
        again.raw_os_error(),
        Some(ERROR_PIPE_BUSY as i32),
        "{again}"
    );
    // Every instance exists: busy even to a first-instance create (the count comes first).
    let first = ServerOptions::new()
        .first_pipe_instance(true)
        .create(&name)
        .unwrap_err();
    assert_eq!(
        first.raw_os_error(),
        Some(ERROR_PIPE_BUSY as i32),
        "{first}"
    );
    // With an instance free, the flag is refused as access (W16).
    let roomy = unique_name("tk-err-roomy");
    let _roomy = ServerOptions::new().create(&roomy).unwrap();
    let first = ServerOptions::new()
        .first_pipe_instance(true)
        .create(&roomy)
        .unwrap_err();
    assert_eq!(first.kind(), io::ErrorKind::PermissionDenied);

    // The client came and went before the server's connect: ConnectNamedPipe fails with
    // ERROR_NO_DATA (W43), which tokio on Windows reports as connected (mio's connect); the
    // instance then reads the end of the stream, and its writes fail with ERROR_NO_DATA.
    drop(client);
    server.connect().await.unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(server.read(&mut buf).await.unwrap(), 0);
    let gone = server.write_all(b"late").await.unwrap_err();
    assert_eq!(gone.raw_os_error(), Some(ERROR_NO_DATA as i32));
    server.disconnect().unwrap();
    // A disconnected instance listens again only once connect starts (W30): join! polls the
    // connect first.
    let (connected, client) =
        tokio::join!(server.connect(), async { ClientOptions::new().open(&name) });
    connected.unwrap();
    let mut client = client.unwrap();
    server.disconnect().unwrap();
    let e = client.write(b"ping").await.unwrap_err();
    assert_eq!(e.raw_os_error(), Some(ERROR_PIPE_NOT_CONNECTED as i32));
}

#[tokio::test(flavor = "current_thread")]
async fn tokio_info_mirrors_tokio() {
    let name = unique_name("tk-info");
    let server = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .max_instances(5)
        .out_buffer_size(1000)
        .in_buffer_size(2000)
        .create(&name)
        .unwrap();
    let client = ClientOptions::new().open(&name).unwrap();
    let s = server.info().unwrap();
    assert_eq!(s.end, PipeEnd::Server);
    assert_eq!(s.mode, PipeMode::Message);
    assert_eq!(s.max_instances, 5);
    assert_eq!((s.out_buffer_size, s.in_buffer_size), (1000, 2000));
    let c = client.info().unwrap();
    assert_eq!(c.end, PipeEnd::Client);
    assert_eq!(c.max_instances, 5);
    let neither = ServerOptions::new()
        .access_inbound(false)
        .access_outbound(false)
        .create(unique_name("tk-info"))
        .unwrap_err();
    assert_eq!(neither.kind(), io::ErrorKind::InvalidInput);
}

#[tokio::test(flavor = "current_thread")]
async fn tokio_ready_and_try_io() {
    let name = unique_name("tk-ready");
    let (server, client) = pair(&name, PipeMode::Byte).await;
    let mut buf = [0u8; 64];
    assert_eq!(
        server.try_read(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    let reader = async {
        loop {
            let ready = server.ready(Interest::READABLE).await.unwrap();
            assert!(ready.is_readable());
            match server.try_read(&mut buf) {
                Ok(n) => return n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => panic!("{e}"),
            }
        }
    };
    let writer = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        client.writable().await.unwrap();
        client.try_write(b"hello").unwrap()
    };
    let (n, w) = tokio::join!(reader, writer);
    assert_eq!((n, w), (5, 5));
    assert_eq!(&buf[..5], b"hello");
    // try_read_buf appends to a BufMut (tokio's signature).
    client.try_write(b"more").unwrap();
    server.readable().await.unwrap();
    let mut v: Vec<u8> = b"x".to_vec();
    assert_eq!(server.try_read_buf(&mut v).unwrap(), 4);
    assert_eq!(v, b"xmore");
    assert_eq!(
        server.try_read_buf(&mut v).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_quota_keeps_one_write_in_flight() {
    let name = unique_name("tk-quota");
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
    // The first write goes beyond the quota: it is in the pipe and in flight.
    assert_eq!(server.try_write(&[1u8; 3000]).unwrap(), 3000);
    assert_eq!(client.get_ref().peek(None).unwrap().available, 3000);
    // The next waits for it.
    assert_eq!(
        server.try_write(b"next").unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
    let mut buf = vec![0u8; 4000];
    let reader = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        client.read_msg(&mut buf).await.unwrap()
    };
    let writer = async {
        server.writable().await.unwrap();
        loop {
            match server.try_write(b"next") {
                Ok(n) => return n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => server.writable().await.unwrap(),
                Err(e) => panic!("{e}"),
            }
        }
    };
    let (m, n) = tokio::join!(reader, writer);
    assert_eq!((m.read, m.left, n), (3000, 0, 4));
    let m = client.read_msg(&mut buf).await.unwrap();
    assert_eq!(&buf[..m.read], b"next");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_large_messages_go_whole() {
    let name = unique_name("tk-large");
    let (mut server, mut client) = pair(&name, PipeMode::Message).await;
    let big: Vec<u8> = (0..9 * 1024 * 1024 + 7).map(|i| (i % 251) as u8).collect();
    let expect = big.clone();
    let writer = tokio::spawn(async move {
        client.write_all(&big).await.unwrap();
        client.write_all(b"after").await.unwrap();
        client.flush().await.unwrap();
        client
    });
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let m = server.read_msg(&mut buf).await.unwrap();
        got.extend_from_slice(&buf[..m.read]);
        if m.left == 0 {
            break;
        }
    }
    assert_eq!(got.len(), expect.len());
    assert!(
        got == expect,
        "the large message arrives whole and in order"
    );
    let n = server.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"after");
    drop(writer.await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_wait_named_pipe_wakes_when_an_instance_listens() {
    let name = unique_name("tk-wait");
    let missing = npipe::tokio::wait_named_pipe(&name).await.unwrap_err();
    assert_eq!(missing.kind(), io::ErrorKind::NotFound);

    let server = ServerOptions::new().max_instances(1).create(&name).unwrap();
    let first = ClientOptions::new().open(&name).unwrap();
    server.connect().await.unwrap();
    let busy = ClientOptions::new().open(&name).unwrap_err();
    assert_eq!(busy.raw_os_error(), Some(ERROR_PIPE_BUSY as i32));

    let waiter = tokio::spawn({
        let name = name.clone();
        async move {
            npipe::tokio::wait_named_pipe(&name).await?;
            ClientOptions::new().open(&name)
        }
    });
    // Parked: nothing frees an instance yet.
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert!(
        !waiter.is_finished(),
        "the wait returned while every instance was busy"
    );
    drop(first);
    server.disconnect().unwrap();
    // Bounded: a waiter that failed (or never woke) fails the test instead of leaving the
    // connect waiting for ever.
    let (connected, second) = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(server.connect(), waiter)
    })
    .await
    .expect("the waiting client did not connect within 60 s");
    connected.unwrap();
    let mut second = second.unwrap().unwrap();
    second.write_all(b"in").await.unwrap();
    let mut buf = [0u8; 2];
    let mut s = server;
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"in");
}

/// tokio's `ready` example: one task reads and writes the same pipe through readiness.
#[tokio::test(flavor = "current_thread")]
async fn tokio_ready_loop_reads_and_writes_on_one_task() {
    let name = unique_name("tk-ready-loop");
    // The server's quota is tiny: its writes soon wait for the client to read.
    let server = ServerOptions::new()
        .out_buffer_size(32)
        .create(&name)
        .unwrap();
    let client = ClientOptions::new().open(&name).unwrap();
    server.connect().await.unwrap();
    let peer = async {
        let mut got = 0usize;
        let mut buf = [0u8; 4096];
        client.try_write(b"ping").unwrap();
        while got < 64 * 11 {
            client.readable().await.unwrap();
            match client.try_read(&mut buf) {
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => panic!("{e}"),
            }
        }
        got
    };
    let me = async {
        let (mut sent, mut read) = (0usize, 0usize);
        let mut buf = [0u8; 64];
        while sent < 64 || read < 4 {
            let mut interest = Interest::READABLE;
            if sent < 64 {
                interest = interest.add(Interest::WRITABLE);
            }
            let ready = server.ready(interest).await.unwrap();
            if ready.is_readable() {
                match server.try_read(&mut buf) {
                    Ok(n) => read += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("{e}"),
                }
            }
            if ready.is_writable() && sent < 64 {
                match server.try_write(b"hello world") {
                    Ok(n) => {
                        assert_eq!(n, 11);
                        sent += 1;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("{e}"),
                }
            }
        }
        read
    };
    let (got, read) = tokio::join!(peer, me);
    assert_eq!((got, read), (64 * 11, 4));
}

#[tokio::test(flavor = "current_thread")]
async fn tokio_anonymous_pipe_ends_become_tokio_pipes() {
    let (r, w) = npipe::create_pipe(0).unwrap();
    let mut rx = r.into_tokio().unwrap();
    let mut tx = w.into_tokio().unwrap();
    let reader = tokio::spawn(async move {
        let mut all = Vec::new();
        rx.read_to_end(&mut all).await.unwrap();
        all
    });
    let data = vec![9u8; 300_000];
    tx.write_all(&data).await.unwrap();
    drop(tx);
    assert!(
        reader.await.unwrap() == data,
        "all of it, then the end of the stream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_mailslot_reads_wait_for_messages() {
    let name = unique_name("tk-slot").replace(r"\pipe\", r"\mailslot\");
    let slot = npipe::tokio::Mailslot::create(&name).unwrap();
    let mut buf = [0u8; 64];
    assert!(
        tokio::time::timeout(Duration::from_millis(20), slot.read(&mut buf))
            .await
            .is_err(),
        "nothing to read yet"
    );
    let writer = npipe::MailslotWriter::open(&name).unwrap();
    let sender = tokio::spawn(async move {
        for i in 0..200u32 {
            writer.send(&i.to_le_bytes()).unwrap();
            if i % 16 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        writer.send(&[0u8; 100]).unwrap();
    });
    for i in 0..200u32 {
        let n = tokio::time::timeout(Duration::from_secs(10), slot.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            &buf[..n],
            &i.to_le_bytes(),
            "message {i}, whole and in order"
        );
    }
    sender.await.unwrap();
    let mut small = [0u8; 10];
    let e = slot.read(&mut small).await.unwrap_err();
    assert_eq!(
        e.kind(),
        io::ErrorKind::InvalidInput,
        "ERROR_INSUFFICIENT_BUFFER"
    );
    assert_eq!(slot.recv().await.unwrap(), vec![0u8; 100]);
}

#[tokio::test(flavor = "current_thread")]
async fn tokio_a_listening_instance_waits_for_a_client_to_read_and_write() {
    // tokio on Windows schedules no read on an instance no client has connected to and reports
    // it neither readable nor writable: its try_* calls would block and its reads and writes
    // wait, where npipe's ends report ERROR_PIPE_LISTENING (W46).
    let name = unique_name("tk-listen");
    let mut server = ServerOptions::new().create(&name).unwrap();
    let mut buf = [0u8; 8];
    let would_block = io::ErrorKind::WouldBlock;
    assert_eq!(server.try_read(&mut buf).unwrap_err().kind(), would_block);
    assert_eq!(server.try_write(b"x").unwrap_err().kind(), would_block);
    let short = Duration::from_millis(50);
    assert!(tokio::time::timeout(short, server.readable())
        .await
        .is_err());
    assert!(tokio::time::timeout(short, server.writable())
        .await
        .is_err());
    assert!(tokio::time::timeout(short, server.read(&mut buf))
        .await
        .is_err());

    // A client's arrival (without connect) lets them go on: the write that waited goes, and
    // the read that waits takes the client's message.
    let (wrote, mut client) = tokio::join!(server.write_all(b"hello"), async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        ClientOptions::new().open(&name).unwrap()
    });
    wrote.unwrap();
    let mut got = [0u8; 5];
    client.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"hello");
    client.write_all(b"back").await.unwrap();
    let n = server.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"back");

    // A read that waits from before the client came.
    let name = unique_name("tk-listen-read");
    let mut server = ServerOptions::new().create(&name).unwrap();
    let (n, _client) = tokio::join!(server.read(&mut buf), async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut c = ClientOptions::new().open(&name).unwrap();
        c.write_all(b"first").await.unwrap();
        c
    });
    assert_eq!(&buf[..n.unwrap()], b"first");
}

#[tokio::test(flavor = "current_thread")]
async fn tokio_vectored_writes_keep_windows_message_boundaries() {
    // A message pipe: one slice per write, as std's default write_vectored that tokio's
    // Windows pipes use; write_all_buf-style loops then send each slice as its own message.
    let name = unique_name("tk-vec-msg");
    let (mut server, client) = pair(&name, PipeMode::Message).await;
    assert!(!server.is_write_vectored());
    let slices = [io::IoSlice::new(b"ab"), io::IoSlice::new(b"cd")];
    assert_eq!(server.write_vectored(&slices).await.unwrap(), 2);
    assert_eq!(server.try_write_vectored(&slices[1..]).unwrap(), 2);
    let skip_empty = [io::IoSlice::new(b""), io::IoSlice::new(b"ef")];
    assert_eq!(server.try_write_vectored(&skip_empty).unwrap(), 2);
    let mut buf = [0u8; 16];
    for want in [&b"ab"[..], b"cd", b"ef"] {
        let m = client.read_msg(&mut buf).await.unwrap();
        assert_eq!((&buf[..m.read], m.left), (want, 0));
    }

    // A byte pipe has no boundaries: all the slices go at once.
    let name = unique_name("tk-vec-byte");
    let (mut server, mut client) = pair(&name, PipeMode::Byte).await;
    assert!(server.is_write_vectored());
    assert_eq!(server.write_vectored(&slices).await.unwrap(), 4);
    assert_eq!(server.try_write_vectored(&skip_empty).unwrap(), 2);
    let mut all = [0u8; 6];
    client.read_exact(&mut all).await.unwrap();
    assert_eq!(&all, b"abcdef");
}

#[test]
fn tokio_outside_a_runtime_is_an_error() {
    let name = unique_name("tk-nort");
    let e = ServerOptions::new().create(&name).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::Other, "{e}");
}

/// tokio's clients open with `SECURITY_IDENTIFICATION | SECURITY_SQOS_PRESENT` (static
/// tracking), so the server may impersonate one as soon as it is connected, before any read;
/// with dynamic tracking only after a read (W133).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_clients_can_be_impersonated_at_connect() {
    const SECURITY_CONTEXT_TRACKING: u32 = 0x0004_0000;
    let name = unique_name("tk-sqos");
    let (server, _client) = pair(&name, PipeMode::Byte).await;
    let guard = server.get_ref().impersonate_client().unwrap();
    guard.revert().unwrap();
    drop((server, _client));

    let name = unique_name("tk-sqos-dyn");
    let server = ServerOptions::new().create(&name).unwrap();
    let mut client = ClientOptions::new()
        .security_qos_flags(SECURITY_CONTEXT_TRACKING)
        .open(&name)
        .unwrap();
    server.connect().await.unwrap();
    let e = server.get_ref().impersonate_client().unwrap_err();
    assert_eq!(npipe::win32_code(&e), 1368, "{e}");
    client.write_all(b"x").await.unwrap();
    let mut server = server;
    let mut b = [0u8; 1];
    server.read_exact(&mut b).await.unwrap();
    server
        .get_ref()
        .impersonate_client()
        .unwrap()
        .revert()
        .unwrap();
}
