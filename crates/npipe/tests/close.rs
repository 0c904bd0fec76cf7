//! Closing a handle while other threads are blocked in it (CloseHandle from another thread):
//! the blocked operation ends with ERROR_OPERATION_ABORTED, later calls fail with
//! ERROR_INVALID_HANDLE, and the peer process sees the close at once (W113-W115).

mod util;

use std::sync::Arc;
use std::time::{Duration, Instant};

use npipe::error::code::*;
use npipe::{win32_code, ClientOptions, PipeMode, ServerOptions};
use util::{child, connect_or_fail, expect_ok, unique_name};

/// Opens the pipe, then checks that the server's close shows: the read fails with
/// ERROR_BROKEN_PIPE and a write with ERROR_NO_DATA, within a few seconds.
fn role_sees_close(name: &str) -> Result<(), String> {
    let c = ClientOptions::new().open(name).map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let mut buf = [0u8; 16];
    let e = c
        .recv_msg_timeout(&mut buf, Duration::from_secs(20))
        .err()
        .ok_or("read succeeded")?;
    if win32_code(&e) != ERROR_BROKEN_PIPE {
        return Err(format!("read after the server's close: {e}"));
    }
    if t0.elapsed() > Duration::from_secs(10) {
        return Err("the close took too long to show".into());
    }
    match c.send_msg(b"x") {
        Err(e) if win32_code(&e) == ERROR_NO_DATA => Ok(()),
        r => Err(format!("write after the server's close: {r:?}")),
    }
}

/// Opens the pipe and writes one message, then waits for the server to close.
fn role_write_then_wait(name: &str) -> Result<(), String> {
    let c = ClientOptions::new().open(name).map_err(|e| e.to_string())?;
    c.send_msg(b"ping").map_err(|e| e.to_string())?;
    let mut buf = [0u8; 16];
    let _ = c.recv_msg_timeout(&mut buf, Duration::from_secs(20));
    Ok(())
}

child_roles! {
    "sees_close" => role_sees_close,
    "write_then_wait" => role_write_then_wait,
}

/// Runs `block` in a thread, closes with `close` once it is blocked, and returns the error the
/// blocked call gave and how long after the close it came.
fn close_under<T: Send + Sync + 'static>(
    obj: Arc<T>,
    block: impl FnOnce(&T) -> std::io::Result<()> + Send + 'static,
    close: impl FnOnce(&T),
) -> (std::io::Error, Duration) {
    let o2 = obj.clone();
    let t = std::thread::spawn(move || block(&o2));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!t.is_finished(), "the operation should block");
    let t0 = Instant::now();
    close(&obj);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !t.is_finished() {
        assert!(
            Instant::now() < deadline,
            "the blocked operation did not end after the close"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let e = t.join().unwrap().expect_err("the blocked call must fail");
    (e, t0.elapsed())
}

#[test]
fn close_aborts_a_blocked_connect() {
    let name = unique_name("close-connect");
    let s = Arc::new(ServerOptions::new().create(&name).unwrap());
    let (e, took) = close_under(s.clone(), |s| s.connect(), |s| s.close());
    assert_eq!(win32_code(&e), ERROR_OPERATION_ABORTED, "{e}");
    assert!(took < Duration::from_secs(5));
    assert_eq!(win32_code(&s.connect().unwrap_err()), ERROR_INVALID_HANDLE);
    // The name went with the last instance (W9).
    let e = ClientOptions::new().open(&name).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_FILE_NOT_FOUND);
}

/// Three threads blocked in ConnectNamedPipe on one instance: the close ends every one of the
/// waits, not one (the wake-up of all sleepers woke only the first: the kernel read its count,
/// u32::MAX, as -1, and the other two slept for ever).
#[test]
fn close_aborts_every_blocked_connect() {
    let name = unique_name("close-connects");
    let s = Arc::new(ServerOptions::new().create(&name).unwrap());
    let waits: Vec<_> = (0..3)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || s.connect())
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        waits.iter().all(|t| !t.is_finished()),
        "the connects should block"
    );
    s.close();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !waits.iter().all(|t| t.is_finished()) {
        assert!(
            Instant::now() < deadline,
            "{} of 3 blocked connects still wait 10 s after the close",
            waits.iter().filter(|t| !t.is_finished()).count()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    for t in waits {
        let e = t.join().unwrap().expect_err("a connect after the close");
        assert_eq!(win32_code(&e), ERROR_OPERATION_ABORTED, "{e}");
    }
}

#[test]
fn close_aborts_a_blocked_server_read_and_tells_the_client() {
    let name = unique_name("close-sread");
    let s = Arc::new(
        ServerOptions::new()
            .pipe_mode(PipeMode::Message)
            .create(&name)
            .unwrap(),
    );
    let mut kid = child("sees_close", &name);
    connect_or_fail(&s, &mut kid);
    let (e, took) = close_under(
        s.clone(),
        |s| s.recv_msg(&mut [0u8; 16]).map(|_| ()),
        |s| s.close(),
    );
    assert_eq!(win32_code(&e), ERROR_OPERATION_ABORTED, "{e}");
    assert!(took < Duration::from_secs(5));
    let e = s.recv_msg(&mut [0u8; 4]).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_INVALID_HANDLE, "{e}");
    assert_eq!(
        win32_code(&s.send_msg(b"x").unwrap_err()),
        ERROR_INVALID_HANDLE
    );
    expect_ok(kid);
}

#[test]
fn close_aborts_a_blocked_client_read_and_tells_the_server() {
    let name = unique_name("close-cread");
    let s = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .create(&name)
        .unwrap();
    let c = Arc::new(ClientOptions::new().open(&name).unwrap());
    s.connect().unwrap();
    let (e, _) = close_under(
        c.clone(),
        |c| c.recv_msg(&mut [0u8; 16]).map(|_| ()),
        |c| c.close(),
    );
    assert_eq!(win32_code(&e), ERROR_OPERATION_ABORTED, "{e}");
    assert_eq!(
        win32_code(&c.send_msg(b"x").unwrap_err()),
        ERROR_INVALID_HANDLE
    );
    // The server sees the client gone: reads fail with ERROR_BROKEN_PIPE, writes with
    // ERROR_NO_DATA, ConnectNamedPipe with ERROR_NO_DATA (W43).
    let e = s.recv_msg(&mut [0u8; 4]).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_BROKEN_PIPE, "{e}");
    assert_eq!(win32_code(&s.send_msg(b"x").unwrap_err()), ERROR_NO_DATA);
    assert_eq!(win32_code(&s.connect().unwrap_err()), ERROR_NO_DATA);
}

/// Data written before the close of one end stays readable by the other (W113).
#[test]
fn data_written_before_a_close_stays_readable() {
    let name = unique_name("close-data");
    let s = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .create(&name)
        .unwrap();
    let mut kid = child("write_then_wait", &name);
    connect_or_fail(&s, &mut kid);
    let mut buf = [0u8; 16];
    let m = s.recv_msg(&mut buf).unwrap();
    assert_eq!(&buf[..m.read], b"ping");
    s.send_msg(b"pong").unwrap();
    s.close();
    expect_ok(kid);
}

/// The information calls fail alike on both ends once closed: `info` and `handle_state` with
/// ERROR_INVALID_HANDLE (the server's used to succeed after a close, the client's did not).
#[test]
fn info_fails_on_either_closed_end() {
    let name = unique_name("close-info");
    let s = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .create(&name)
        .unwrap();
    let c = ClientOptions::new().open(&name).unwrap();
    assert!(s.info().unwrap().server_end);
    assert_eq!(s.handle_state().unwrap().instances, 1);
    assert!(!c.info().unwrap().server_end);
    c.close();
    s.close();
    for e in [
        s.info().unwrap_err(),
        s.handle_state().unwrap_err(),
        c.info().unwrap_err(),
        c.handle_state().unwrap_err(),
    ] {
        assert_eq!(win32_code(&e), ERROR_INVALID_HANDLE, "{e}");
    }
}
