//! Readiness descriptors across processes: an end's `read_ready_fd` polls readable when a read
//! may find data or the peer has gone (closed or killed), and a PIPE_NOWAIT read that finds
//! nothing clears it, so an event loop can wait for several pipes with poll/epoll.

mod util;

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use npipe::error::code::*;
use npipe::{win32_code, ClientOptions, PipeMode, ReadMode, ServerOptions, WaitFor};
use util::{child, connect_or_fail, expect_ok, unique_name};

/// Whether `fd` polls readable within `ms` milliseconds.
fn readable(fd: BorrowedFd<'_>, ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, and the descriptor stays open for the call.
    let n = unsafe { libc::poll(&mut p, 1, ms) };
    n == 1 && p.revents & libc::POLLIN != 0
}

/// Client: answers "ping" with "pong" and returns on "bye", waiting only through its own
/// readiness descriptor with PIPE_NOWAIT reads.
fn role_pong(name: &str) -> Result<(), String> {
    let c = ClientOptions::new().open(name).map_err(|e| e.to_string())?;
    let fd = c.read_ready_fd().map_err(|e| e.to_string())?;
    c.set_mode(ReadMode::Message, true)
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 16];
    loop {
        if !readable(fd.as_fd(), 10_000) {
            return Err("the readiness descriptor never fired".into());
        }
        match c.recv_msg(&mut buf) {
            Ok(m) if &buf[..m.read] == b"ping" => {
                c.send_msg(b"pong").map_err(|e| e.to_string())?;
            }
            Ok(m) if &buf[..m.read] == b"bye" => return Ok(()),
            Ok(m) => return Err(format!("unexpected {:?}", &buf[..m.read])),
            Err(e) if win32_code(&e) == ERROR_NO_DATA => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Server that connects one client, sends nothing, and waits to be killed.
fn role_silent_server(name: &str) -> Result<(), String> {
    let s = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .create(name)
        .map_err(|e| e.to_string())?;
    s.connect().map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_secs(60));
    Err("not killed".into())
}

child_roles! {
    "pong" => role_pong,
    "silent_server" => role_silent_server,
}

#[test]
fn readiness_follows_data_and_hang_up() {
    let name = unique_name("ready");
    let s = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .create(&name)
        .unwrap();
    let mut kid = child("pong", &name);
    connect_or_fail(&s, &mut kid);
    let fd = s.read_ready_fd().unwrap();
    s.set_mode(ReadMode::Message, true).unwrap();
    let mut buf = [0u8; 16];
    // Nothing has been sent: a read finds no data and leaves the descriptor quiet.
    let e = s.recv_msg(&mut buf).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_NO_DATA, "{e}");
    assert!(
        !readable(fd.as_fd(), 0),
        "quiet after a read that found nothing"
    );
    for round in 0..50 {
        s.send_msg(b"ping").unwrap();
        assert!(
            readable(fd.as_fd(), 10_000),
            "round {round}: the answer shows"
        );
        let m = s.recv_msg(&mut buf).unwrap();
        assert_eq!(&buf[..m.read], b"pong", "round {round}");
        let e = s.recv_msg(&mut buf).unwrap_err();
        assert_eq!(win32_code(&e), ERROR_NO_DATA, "round {round}: {e}");
        assert!(!readable(fd.as_fd(), 0), "round {round}: quiet again");
    }
    s.send_msg(b"bye").unwrap();
    // The client closes: the descriptor fires for the hang-up, and the read says so.
    assert!(readable(fd.as_fd(), 10_000), "the hang-up shows");
    let end = Instant::now() + util::PEER_WAIT;
    let e = loop {
        match s.recv_msg(&mut buf) {
            Err(e) if win32_code(&e) == ERROR_NO_DATA => {
                assert!(
                    Instant::now() < end,
                    "no ERROR_BROKEN_PIPE after the hang-up"
                );
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) => break e,
            Ok(m) => panic!("unexpected message {:?}", &buf[..m.read]),
        }
    };
    assert_eq!(win32_code(&e), ERROR_BROKEN_PIPE, "{e}");
    expect_ok(kid);
}

#[test]
fn readiness_fires_when_the_server_process_is_killed() {
    let name = unique_name("ready-kill");
    let mut kid = child("silent_server", &name);
    // Until the child serves the pipe; a child that failed first ends the test instead.
    let end = Instant::now() + util::PEER_WAIT;
    let c = loop {
        match ClientOptions::new().open(&name) {
            Ok(c) => break c,
            Err(e) if win32_code(&e) == ERROR_FILE_NOT_FOUND => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) if win32_code(&e) == ERROR_PIPE_BUSY => {
                match npipe::wait_named_pipe(&name, WaitFor::Timeout(Duration::from_secs(1))) {
                    Ok(()) => {}
                    Err(e)
                        if [ERROR_SEM_TIMEOUT, ERROR_FILE_NOT_FOUND].contains(&win32_code(&e)) => {}
                    Err(e) => panic!("wait: {e}"),
                }
            }
            Err(e) => panic!("open: {e}"),
        }
        if let Some(st) = kid.try_wait().unwrap() {
            panic!("the server child exited before serving: {st}");
        }
        assert!(
            Instant::now() < end,
            "the server child did not serve within {:?}",
            util::PEER_WAIT
        );
    };
    let fd = c.read_ready_fd().unwrap();
    c.set_mode(ReadMode::Message, true).unwrap();
    let mut buf = [0u8; 16];
    let e = c.recv_msg(&mut buf).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_NO_DATA, "{e}");
    assert!(!readable(fd.as_fd(), 0), "quiet while the server lives");
    kid.kill().unwrap();
    kid.wait().unwrap();
    assert!(readable(fd.as_fd(), 10_000), "the death shows");
    let e = c.recv_msg(&mut buf).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_BROKEN_PIPE, "{e}");
}
