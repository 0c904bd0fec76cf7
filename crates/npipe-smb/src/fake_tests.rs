//! The pipe layer over a scripted fake transport: the statuses only a Windows server gives
//! (PIPE_BUSY, BUFFER_OVERFLOW on READ, a working FSCTL_PIPE_PEEK / FSCTL_PIPE_WAIT) and the
//! Samba answers, mapped to Win32 results.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{code, status};
use crate::pipe::{wait_with, RemotePipe, WaitTimeout};
use crate::transport::{Chunk, Fail, FileHandle, ServerKey, SmbPipeTransport};

/// Each call takes the next scripted answer and records its name.
#[derive(Default)]
struct Fake {
    script: Mutex<VecDeque<Result<Chunk, Fail>>>,
    calls: Mutex<Vec<String>>,
}

impl Fake {
    fn new(script: Vec<Result<Chunk, Fail>>) -> Arc<Fake> {
        Arc::new(Fake {
            script: Mutex::new(script.into()),
            calls: Mutex::default(),
        })
    }
    fn next(&self, call: String) -> Result<Chunk, Fail> {
        self.calls.lock().unwrap().push(call);
        self.script
            .lock()
            .unwrap()
            .pop_front()
            .expect("the test scripted fewer answers than calls")
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

impl SmbPipeTransport for Fake {
    fn open(&self, _: &ServerKey, name: &str, _: u32) -> Result<FileHandle, Fail> {
        self.next(format!("open {name}")).map(|_| FileHandle(7))
    }
    fn write(&self, _: FileHandle, data: &[u8]) -> Result<u32, Fail> {
        self.next(format!("write {}", data.len()))
            .map(|_| data.len() as u32)
    }
    fn read(&self, _: FileHandle, max: u32) -> Result<Chunk, Fail> {
        self.next(format!("read {max}"))
    }
    fn fsctl(
        &self,
        _: &ServerKey,
        h: Option<FileHandle>,
        code: u32,
        _: &[u8],
        max: u32,
    ) -> Result<Chunk, Fail> {
        self.next(format!("fsctl {code:#x} {} {max}", h.is_some()))
    }
    fn close(&self, _: FileHandle) -> Result<(), Fail> {
        self.next("close".into()).map(drop)
    }
    fn forget_server(&self, _: &str) {}
}

fn ok(data: &[u8], more: bool) -> Result<Chunk, Fail> {
    Ok((data.to_vec(), more))
}

fn st(nt: u32) -> Result<Chunk, Fail> {
    Err(Fail::Status(nt))
}

fn open(fake: &Arc<Fake>) -> RemotePipe {
    RemotePipe::open_with(fake.clone(), "winhost", "svc", 0xC000_0000).unwrap()
}

#[test]
fn windows_pipe_busy_on_open_is_error_pipe_busy() {
    let fake = Fake::new(vec![st(status::PIPE_BUSY)]);
    let e = RemotePipe::open_with(fake.clone(), "winhost", "svc", 0xC000_0000).unwrap_err();
    assert_eq!(e.win32_code(), code::ERROR_PIPE_BUSY);
    assert!(e.message().contains(r"\\winhost\pipe\svc"), "{e}");
}

#[test]
fn read_overflow_gives_the_data_and_more() {
    let fake = Fake::new(vec![
        ok(b"", false),
        ok(b"abcd", true),
        ok(b"ef", false),
        ok(b"", false),
    ]);
    let p = open(&fake);
    let mut buf = [0u8; 4];
    let t = p.read(&mut buf).unwrap();
    assert_eq!((t.len, t.more, &buf), (4, true, b"abcd"));
    let t = p.read(&mut buf).unwrap();
    assert_eq!((t.len, t.more, &buf[..2]), (2, false, &b"ef"[..]));
    drop(p);
    assert_eq!(fake.calls(), ["open svc", "read 4", "read 4", "close"]);
}

#[test]
fn a_server_sending_more_than_asked_is_cut_and_reported() {
    let fake = Fake::new(vec![ok(b"", false), ok(b"abcdef", false), ok(b"", false)]);
    let p = open(&fake);
    let mut buf = [0u8; 3];
    let t = p.read(&mut buf).unwrap();
    assert_eq!((t.len, t.more, &buf), (3, true, b"abc"));
}

#[test]
fn transact_overflow_then_error_mapping() {
    let fake = Fake::new(vec![
        ok(b"", false),
        ok(b"xy", true),
        st(status::PIPE_BUSY),
        st(status::CONNECTION_DISCONNECTED),
        ok(b"", false),
    ]);
    let p = open(&fake);
    let mut buf = [0u8; 2];
    let t = p.transact(b"q", &mut buf).unwrap();
    assert_eq!((t.len, t.more), (2, true));
    let e = p.transact(b"q", &mut buf).unwrap_err();
    assert_eq!(e.win32_code(), code::ERROR_PIPE_BUSY);
    let e = p.transact(b"q", &mut buf).unwrap_err();
    assert_eq!(e.win32_code(), code::ERROR_NETNAME_DELETED);
    assert_eq!(e.nt_status(), Some(status::CONNECTION_DISCONNECTED));
    assert_eq!(fake.calls()[1], "fsctl 0x11c017 true 2");
}

#[test]
fn peek_on_samba_is_not_supported_and_parses_windows_answers() {
    let mut answer = vec![3, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0];
    answer.extend_from_slice(b"hel");
    let fake = Fake::new(vec![
        ok(b"", false),
        st(status::FS_DRIVER_REQUIRED),
        Ok((answer, true)),
        ok(&[1, 2, 3], false),
        ok(b"", false),
    ]);
    let p = open(&fake);
    let e = p.peek(None).unwrap_err();
    assert_eq!(e.win32_code(), code::ERROR_NOT_SUPPORTED);
    assert!(e.message().contains("FSCTL_PIPE_PEEK"), "{e}");
    let mut buf = [0u8; 3];
    let pk = p.peek(Some(&mut buf)).unwrap();
    assert_eq!((pk.copied, pk.available, pk.message_len), (3, 9, 9));
    assert_eq!(&buf, b"hel");
    // A truncated answer is an error, not a panic.
    let e = p.peek(None).unwrap_err();
    assert_eq!(e.win32_code(), code::ERROR_UNEXP_NET_ERR);
}

#[test]
fn wait_uses_fsctl_where_the_server_has_it() {
    let fake = Fake::new(vec![ok(b"", false), st(status::IO_TIMEOUT)]);
    wait_with(fake.clone(), "winhost", "svc", WaitTimeout::Default).unwrap();
    let e = wait_with(fake.clone(), "winhost", "svc", WaitTimeout::Forever).unwrap_err();
    assert_eq!(e.win32_code(), code::ERROR_SEM_TIMEOUT);
    assert_eq!(
        fake.calls(),
        ["fsctl 0x110018 false 0", "fsctl 0x110018 false 0"]
    );
}

#[test]
fn wait_polls_where_the_server_lacks_fsctl_pipe_wait() {
    let fake = Fake::new(vec![
        st(status::FS_DRIVER_REQUIRED),
        st(status::PIPE_BUSY),
        st(status::PIPE_NOT_AVAILABLE),
        ok(b"", false),
        ok(b"", false),
    ]);
    let wait = WaitTimeout::Timeout(Duration::from_secs(3600));
    wait_with(fake.clone(), "winhost", "svc", wait).unwrap();
    assert_eq!(
        fake.calls(),
        [
            "fsctl 0x110018 false 0",
            "open svc",
            "open svc",
            "open svc",
            "close"
        ]
    );
}

#[test]
fn wait_polling_stops_on_missing_pipe_and_times_out_when_busy() {
    let fake = Fake::new(vec![
        st(status::FS_DRIVER_REQUIRED),
        st(status::OBJECT_NAME_NOT_FOUND),
    ]);
    let e = wait_with(fake.clone(), "winhost", "svc", WaitTimeout::Forever).unwrap_err();
    assert_eq!(e.win32_code(), code::ERROR_FILE_NOT_FOUND);

    let mut script = vec![st(status::FS_DRIVER_REQUIRED)];
    script.extend((0..10_000).map(|_| st(status::PIPE_BUSY)));
    let fake = Fake::new(script);
    let wait = WaitTimeout::Timeout(Duration::from_millis(30));
    let e = wait_with(fake.clone(), "winhost", "svc", wait).unwrap_err();
    assert_eq!(e.win32_code(), code::ERROR_SEM_TIMEOUT);
}

#[test]
fn close_is_once_and_later_calls_fail_invalid_handle() {
    let fake = Fake::new(vec![ok(b"", false), ok(b"", false)]);
    let p = open(&fake);
    p.close().unwrap();
    p.close().unwrap();
    let e = p.write(b"x").unwrap_err();
    assert_eq!(e.win32_code(), code::ERROR_INVALID_HANDLE);
    drop(p);
    assert_eq!(fake.calls(), ["open svc", "close"]);
}

#[test]
fn write_too_long_for_samba_is_invalid_parameter() {
    let fake = Fake::new(vec![
        ok(b"", false),
        st(status::PORT_MESSAGE_TOO_LONG),
        ok(b"", false),
    ]);
    let p = open(&fake);
    let e = p.write(&[0u8; 70_000]).unwrap_err();
    assert_eq!(e.win32_code(), code::ERROR_INVALID_PARAMETER);
    assert!(e.message().contains("STATUS_PORT_MESSAGE_TOO_LONG"), "{e}");
}

#[test]
fn bad_names_are_refused_before_any_call() {
    let fake = Fake::new(vec![]);
    for (server, name) in [
        ("", "x"),
        ("a\\b", "x"),
        ("host", ""),
        (".", "x"),
        ("@1", "x"),
    ] {
        let e = RemotePipe::open_with(fake.clone(), server, name, 0).unwrap_err();
        assert_eq!(
            e.win32_code(),
            code::ERROR_INVALID_NAME,
            "{server:?} {name:?}"
        );
    }
    assert!(fake.calls().is_empty());
}

#[test]
fn credentials_debug_hides_the_password() {
    let c = crate::Credentials {
        user: "u".into(),
        domain: "d".into(),
        password: "hunter2".into(),
    };
    assert!(!format!("{c:?}").contains("hunter2"));
}
