//! Bad input and faults: a garbage handshake, a peer killed mid-message, a peer that corrupts
//! the shared queue, names that are too long, parameters Windows rejects. Each must give a clear
//! error, never a panic, a hang or lost data for others.

mod util;

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use npipe::error::code::*;
use npipe::{win32_code, ClientOptions, PipeMode, ReadMode, ServerOptions};
use util::{child, map_queue, open_request, raw_connect, raw_recv, raw_send, unique_name};

/// A garbage handshake is refused and the server keeps serving (issue: bad input).
#[test]
fn garbage_handshake_is_refused_and_server_keeps_serving() {
    let name = unique_name("garbage");
    let s = ServerOptions::new().max_instances(1).create(&name).unwrap();
    for junk in [&b"hello"[..], &[0xff; 64][..], &open_request(&name)[..10]] {
        let fd = raw_connect(&name);
        raw_send(fd, junk);
        let (reply, memfd) = raw_recv(fd);
        assert_eq!(memfd, -1, "no queue for garbage");
        assert_eq!(&reply[..4], b"NPR1");
        assert_eq!(
            u16::from_le_bytes([reply[6], reply[7]]),
            2,
            "an error reply"
        );
        assert_eq!(
            u32::from_le_bytes(reply[8..12].try_into().unwrap()),
            ERROR_INVALID_DATA
        );
        // SAFETY: fd is ours.
        unsafe { libc::close(fd) };
    }
    // A client that connects and says nothing only delays the acceptor.
    let silent = raw_connect(&name);
    let c = ClientOptions::new().open(&name).unwrap();
    c.send_msg(b"still serving").unwrap();
    let mut buf = [0u8; 32];
    let m = s.recv_msg(&mut buf).unwrap();
    assert_eq!(&buf[..m.read], b"still serving");
    // SAFETY: fd is ours.
    unsafe { libc::close(silent) };
}

/// A client that writes hostile values into the shared queue makes the server's operations fail
/// with a clear error (InvalidData, ERROR_BROKEN_PIPE), never a panic, hang or wild access.
#[test]
fn corrupted_queue_gives_an_error_not_ub() {
    for (what, offset, value) in [
        ("tail far beyond the ring", 2048usize, 1u64 << 40),
        (
            "bytes_read ahead of bytes_written",
            1024 + 128 + 16,
            1u64 << 50,
        ),
    ] {
        let name = unique_name("corrupt");
        let s = ServerOptions::new()
            .pipe_mode(PipeMode::Message)
            .create(&name)
            .unwrap();
        let fd = raw_connect(&name);
        raw_send(fd, &open_request(&name));
        let (reply, memfd) = raw_recv(fd);
        assert_eq!(u16::from_le_bytes([reply[6], reply[7]]), 1, "connected");
        assert!(memfd >= 0);
        let caps = [
            u64::from_le_bytes(reply[40..48].try_into().unwrap()),
            u64::from_le_bytes(reply[48..56].try_into().unwrap()),
        ];
        let size = 4096 + (caps[0] + caps[1]) as usize;
        let p = map_queue(memfd, size);
        // SAFETY: `offset + 8 <= size` (a header-page field) and the mapping stays alive.
        unsafe { std::ptr::write_volatile(p.add(offset) as *mut u64, value) };
        let t0 = Instant::now();
        let mut buf = [0u8; 64];
        let e = if offset == 2048 {
            s.recv_msg_timeout(&mut buf, Duration::from_secs(5))
                .unwrap_err()
        } else {
            s.send_msg(b"x")
                .and_then(|_| s.flush_buffers())
                .unwrap_err()
        };
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{what}: {e}");
        assert_eq!(win32_code(&e), ERROR_BROKEN_PIPE, "{what}");
        assert!(t0.elapsed() < Duration::from_secs(5), "{what}: no hang");
        // SAFETY: our fds.
        unsafe {
            libc::close(memfd);
            libc::close(fd);
        }
    }
}

fn role_stream_forever(name: &str) -> Result<(), String> {
    let c = ClientOptions::new().open(name).map_err(|e| e.to_string())?;
    // 64 MiB with a tiny quota: the write streams and blocks until we are killed.
    let big = vec![7u8; 64 << 20];
    c.send_msg(&big).map_err(|e| e.to_string())?;
    Err("the write should not complete".into())
}

fn role_exit_holding_data(name: &str) -> Result<(), String> {
    let c = ClientOptions::new().open(name).map_err(|e| e.to_string())?;
    c.send_msg(b"last words").map_err(|e| e.to_string())?;
    // Exit without closing: the OS closes the socket, the data must stay readable.
    std::process::exit(0)
}

fn role_open_and_hang(name: &str) -> Result<(), String> {
    let c = ClientOptions::new().open(name).map_err(|e| e.to_string())?;
    c.send_msg(b"up").map_err(|e| e.to_string())?;
    // Until killed: the socket closes with the process, the shared state stays OPEN.
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Reads once with a 32 KiB buffer and expects exactly 513 bytes of 0x5a.
fn role_read_513(name: &str) -> Result<(), String> {
    let c = ClientOptions::new().open(name).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 32 << 10];
    let n = (&c).read(&mut buf).map_err(|e| e.to_string())?;
    if n != 513 || buf[..n].iter().any(|&b| b != 0x5a) {
        return Err(format!("read {n} bytes"));
    }
    Ok(())
}

child_roles! {
    "stream_forever" => role_stream_forever,
    "exit_holding_data" => role_exit_holding_data,
    "open_and_hang" => role_open_and_hang,
    "read_513" => role_read_513,
}

/// W108, W109 across two processes: a PIPE_NOWAIT write of 513 bytes past a 512-byte quota
/// writes nothing while no read waits, and all 513 bytes once the other process waits in a
/// read with a 32 KiB buffer (the reader's pending buffer, `reader_want` in the shared page,
/// counts for the writer).
#[test]
fn nowait_write_past_the_quota_goes_to_a_waiting_reader() {
    let name = unique_name("nowait-want");
    let s = ServerOptions::new()
        .max_instances(1)
        .in_buffer_size(512)
        .out_buffer_size(512)
        .create(&name)
        .unwrap();
    let mut kid = child("read_513", &name);
    util::connect_or_fail(&s, &mut kid);
    s.set_mode(ReadMode::Byte, true).unwrap();
    let data = [0x5au8; 513];
    let t0 = Instant::now();
    // Until the child's read waits, the write does not fit (W108) and writes nothing.
    loop {
        match (&s).write(&data) {
            Ok(513) => break,
            Ok(0) => {
                assert!(
                    t0.elapsed() < Duration::from_secs(10),
                    "the waiting read never made room"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            r => panic!("unexpected result {r:?}"),
        }
    }
    util::expect_ok(kid);
}

/// A client killed while the server end only peeks (so no thread ever sleeps on the
/// connection) is still noticed: ERROR_BROKEN_PIPE within a few milliseconds. The hang-up
/// watcher takes every connection that lives a few milliseconds, not only those a thread
/// sleeps on (a killed process leaves its end OPEN in shared memory; only its socket tells).
#[test]
fn a_killed_peer_is_noticed_by_an_end_that_only_peeks() {
    let name = unique_name("peeker");
    let s = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .create(&name)
        .unwrap();
    let mut kid = child("open_and_hang", &name);
    util::connect_or_fail(&s, &mut kid);
    let t0 = Instant::now();
    while s.peek(None).unwrap().available == 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the client's message"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut buf = [0u8; 8];
    let m = s.recv_msg(&mut buf).unwrap();
    assert_eq!(&buf[..m.read], b"up");
    kid.kill().unwrap();
    kid.wait().unwrap();
    let t0 = Instant::now();
    let err = loop {
        match s.peek(None) {
            Ok(p) => {
                assert_eq!(p.available, 0);
                assert!(
                    t0.elapsed() < Duration::from_secs(5),
                    "the client's death is noticed without a wait"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => break e,
        }
    };
    assert_eq!(win32_code(&err), ERROR_BROKEN_PIPE, "{err}");
}

/// A peer killed in the middle of a message gives ERROR_BROKEN_PIPE promptly (never a hang).
#[test]
fn peer_killed_mid_message_gives_broken_pipe() {
    let name = unique_name("killed");
    let s = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .in_buffer_size(1024)
        .create(&name)
        .unwrap();
    let mut kid = child("stream_forever", &name);
    util::connect_or_fail(&s, &mut kid);
    let mut buf = vec![0u8; 1 << 20];
    let m = s.recv_msg(&mut buf).unwrap();
    assert!(m.read > 0 && m.left > 0, "a partial message first");
    kid.kill().unwrap();
    kid.wait().unwrap();
    let t0 = Instant::now();
    let err = loop {
        match s.recv_msg_timeout(&mut buf, Duration::from_secs(10)) {
            Ok(m) if m.read > 0 => continue,
            Ok(m) => panic!("unexpected empty read {m:?}"),
            Err(e) => break e,
        }
    };
    assert_eq!(win32_code(&err), ERROR_BROKEN_PIPE, "{err}");
    assert!(t0.elapsed() < Duration::from_secs(5), "noticed promptly");
}

/// W113: data written by a process that then exits stays readable, then ERROR_BROKEN_PIPE.
#[test]
fn data_outlives_an_exited_writer() {
    let name = unique_name("exited");
    let s = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .create(&name)
        .unwrap();
    let mut kid = child("exit_holding_data", &name);
    util::connect_or_fail(&s, &mut kid);
    util::expect_ok(kid);
    let mut buf = [0u8; 32];
    let m = s.recv_msg(&mut buf).unwrap();
    assert_eq!(&buf[..m.read], b"last words");
    assert_eq!(
        win32_code(&s.recv_msg(&mut buf).unwrap_err()),
        ERROR_BROKEN_PIPE
    );
    assert_eq!(win32_code(&s.send_msg(b"x").unwrap_err()), ERROR_NO_DATA);
}

/// W2, W6, W7, W11, W12, W13, W17: names and parameters Windows rejects.
#[test]
fn invalid_names_and_parameters() {
    let code = |r: io::Result<npipe::NamedPipeServer>| win32_code(&r.unwrap_err());
    assert_eq!(
        code(ServerOptions::new().create("not a named pipe")),
        ERROR_INVALID_NAME
    );
    let long = format!(r"\\.\pipe\{}", "x".repeat(300));
    assert_eq!(
        code(ServerOptions::new().create(&long)),
        ERROR_FILENAME_EXCED_RANGE
    );
    let name = unique_name("params");
    assert_eq!(
        code(
            ServerOptions::new()
                .read_mode(ReadMode::Message)
                .create(&name)
        ),
        ERROR_INVALID_PARAMETER
    );
    assert_eq!(
        code(ServerOptions::new().max_instances(0).create(&name)),
        ERROR_INVALID_PARAMETER
    );
    assert_eq!(
        code(ServerOptions::new().max_instances(256).create(&name)),
        ERROR_INVALID_PARAMETER
    );
    assert!(ServerOptions::from_win32(0, 0, 1, 0, 0, 0).is_err(), "W12");
    let s = ServerOptions::new().max_instances(1).create(&name).unwrap();
    assert_eq!(
        code(ServerOptions::new().max_instances(1).create(&name)),
        ERROR_PIPE_BUSY
    );
    drop(s);
    let e = ClientOptions::new().open(&name).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_FILE_NOT_FOUND);
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    assert!(
        e.to_string().contains(&name),
        "the message names the pipe: {e}"
    );
}

/// W108: a PIPE_NOWAIT write never waits, not even when the shared ring is full while the
/// quota is not (1-byte messages cost a 16-byte record each): it writes nothing instead.
#[test]
fn nowait_writes_never_block_on_a_full_ring() {
    let name = unique_name("nowait-full");
    let _s = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .create(&name)
        .unwrap();
    let c = ClientOptions::new().open(&name).unwrap();
    c.set_mode(ReadMode::Byte, true).unwrap();
    let t0 = Instant::now();
    let (mut full, mut zero) = (0, 0);
    for _ in 0..20_000 {
        match c.send_msg(b"x") {
            Ok(1) => full += 1,
            Ok(0) => zero += 1,
            r => panic!("unexpected result {r:?}"),
        }
    }
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "writes must not wait"
    );
    // At least a 4 KiB ring's worth (16-byte records) goes in before writes are refused.
    assert!(full >= 200 && zero > 0, "written {full}, refused {zero}");
}
