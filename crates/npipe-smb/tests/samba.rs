//! RemotePipe against a private loopback smbd (tools/smbd-test-server) with a test NPA
//! responder as the pipe server: logons, the Win32 errors of a failed open, the data phase
//! (messages, partial reads, transact overflow, size limits, a server that closes,
//! concurrency), the protocol and signing matrix, encryption (a known failure), and an open
//! after the server dropped the session.
//! Ports 14480-14490 (the serving-side tests use the lower part of 14450-14499).

mod util;

use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use npipe_smb::error::code;
use npipe_smb::{add_connection, cancel_connection, Credentials, RemotePipe};
use util::{pattern, Responder, Smbd};

const RW: u32 = 0xC000_0000;

/// How long a test waits for one of its threads before it fails instead of blocking.
const LIMIT: Duration = Duration::from_secs(60);

fn user(s: &Smbd) -> Option<Credentials> {
    Some(Credentials {
        user: s.user.clone(),
        domain: String::new(),
        password: s.password.clone(),
    })
}

#[test]
fn logons_and_open_errors() {
    need_samba!();
    let smbd = Smbd::start(14480, &[]);
    let _r = Responder::start(&smbd.np_dir, "logons");
    let server = smbd.server();

    // A named user.
    add_connection(&server, user(&smbd), None).unwrap();
    let p = RemotePipe::open(&server, "logons", RW).unwrap();
    p.write(b"hi").unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(p.read(&mut buf).unwrap().len, 2);
    drop(p);

    // Missing pipe.
    let e = RemotePipe::open(&server, "nosuchpipe", RW).unwrap_err();
    assert_eq!(e.win32_code(), code::ERROR_FILE_NOT_FOUND, "{e}");
    assert!(e.message().contains("nosuchpipe"), "{e}");

    // Wrong password: smbd maps it to guest (map to guest = bad user), which a named logon
    // refuses; either way ERROR_LOGON_FAILURE.
    let bad = Credentials {
        password: "wrong".into(),
        ..user(&smbd).unwrap()
    };
    add_connection(&server, Some(bad), None).unwrap();
    let e = RemotePipe::open(&server, "logons", RW).unwrap_err();
    assert_eq!(e.win32_code(), code::ERROR_LOGON_FAILURE, "{e}");
    assert!(!e.to_string().contains("wrong"), "the password leaked: {e}");

    // Anonymous.
    add_connection(&server, None, None).unwrap();
    let p = RemotePipe::open(&server, "logons", RW).unwrap();
    assert_eq!(p.transact(b"anon", &mut buf).unwrap().len, 4);
    drop(p);
    cancel_connection(&server).unwrap();
    let e = cancel_connection(&server).unwrap_err();
    assert_eq!(e.win32_code(), code::ERROR_NOT_CONNECTED);

    // Nothing listens on 14489.
    add_connection("127.0.0.1@14489", None, None).unwrap();
    let e = RemotePipe::open("127.0.0.1@14489", "logons", RW).unwrap_err();
    assert_eq!(e.win32_code(), code::ERROR_BAD_NETPATH, "{e}");
}

#[test]
fn data_phase() {
    need_samba!();
    let smbd = Smbd::start(14481, &[]);
    let _r = Responder::start(&smbd.np_dir, "data");
    let server = smbd.server();
    add_connection(&server, user(&smbd), None).unwrap();
    let p = RemotePipe::open(&server, "data", RW).unwrap();
    let mut buf = vec![0u8; 70_000];

    // Message boundaries: three replies, three reads.
    p.write(b"multi:3").unwrap();
    for want in [&b"m0"[..], b"m1", b"m2"] {
        let t = p.read(&mut buf).unwrap();
        assert_eq!(&buf[..t.len], want);
    }

    // Partial read, then the rest (Samba reports no more-data on READ).
    p.write(b"echo:partial").unwrap();
    let t = p.read(&mut buf[..4]).unwrap();
    assert_eq!(&buf[..t.len], b"echo");
    let t = p.read(&mut buf).unwrap();
    assert_eq!(&buf[..t.len], b":partial");

    // Transact with a small buffer: ERROR_MORE_DATA (more), then the rest by read.
    let t = p.transact(b"big:5000", &mut buf[..1024]).unwrap();
    assert_eq!((t.len, t.more), (1024, true));
    assert_eq!(&buf[..1024], &pattern(5000)[..1024]);
    let t = p.read(&mut buf).unwrap();
    assert_eq!(&buf[..t.len], &pattern(5000)[1024..]);

    // 65535 bytes both ways.
    let big = pattern(65_535);
    assert_eq!(p.write(&big).unwrap(), 65_535);
    let t = p.read(&mut buf).unwrap();
    assert_eq!((t.len, buf[..t.len] == big[..]), (65_535, true));

    // More than a message can hold: refused, the pipe stays usable.
    let e = p.write(&pattern(65_536)).unwrap_err();
    assert_eq!(e.win32_code(), code::ERROR_INVALID_PARAMETER, "{e}");
    let t = p.transact(b"still", &mut buf).unwrap();
    assert_eq!(&buf[..t.len], b"still");

    // Peek: Samba does not implement it.
    let e = p.peek(None).unwrap_err();
    assert_eq!(e.win32_code(), code::ERROR_NOT_SUPPORTED, "{e}");

    // The server closes: reads fail with ERROR_PIPE_NOT_CONNECTED.
    p.write(b"bye").unwrap();
    let e = p.read(&mut buf).unwrap_err();
    assert_eq!(e.win32_code(), code::ERROR_PIPE_NOT_CONNECTED, "{e}");
    let e = p.write(b"x").unwrap_err();
    assert_eq!(e.win32_code(), code::ERROR_PIPE_NOT_CONNECTED, "{e}");
}

#[test]
fn concurrent_read_and_write_and_many_handles() {
    need_samba!();
    let smbd = Smbd::start(14482, &[]);
    let _r = Responder::start(&smbd.np_dir, "conc");
    let server = smbd.server();
    add_connection(&server, user(&smbd), None).unwrap();

    // One thread reads (the READ waits in smbd) while another writes on the same handle. Its
    // result comes through a channel, waited for at most 60 s: a lost message fails the test
    // instead of leaving the reader (and a join) waiting for ever.
    let p = Arc::new(RemotePipe::open(&server, "conc", RW).unwrap());
    let (tx, got) = mpsc::channel();
    {
        let p = p.clone();
        thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = [0u8; 64];
            for _ in 0..20 {
                match p.read(&mut buf) {
                    Ok(t) => got.push(buf[..t.len].to_vec()),
                    Err(e) => {
                        let _ = tx.send(Err(format!("read {}: {e}", got.len())));
                        return;
                    }
                }
            }
            let _ = tx.send(Ok(got));
        });
    }
    for i in 0..20 {
        p.write(format!("msg{i}").as_bytes()).unwrap();
    }
    let got = got
        .recv_timeout(LIMIT)
        .expect("the reader did not get 20 messages within 60 s")
        .unwrap();
    let want: Vec<Vec<u8>> = (0..20).map(|i| format!("msg{i}").into_bytes()).collect();
    assert_eq!(got, want);

    // A read blocked in the server ends with ERROR_OPERATION_ABORTED when the handle closes.
    let (tx, blocked) = mpsc::channel();
    {
        let p = p.clone();
        thread::spawn(move || {
            let _ = tx.send(
                p.read(&mut [0u8; 8])
                    .map(|t| t.len)
                    .map_err(|e| e.win32_code()),
            );
        });
    }
    thread::sleep(Duration::from_millis(200));
    p.close().unwrap();
    let r = blocked
        .recv_timeout(LIMIT)
        .expect("close did not end the blocked read within 60 s");
    assert_eq!(r, Err(code::ERROR_OPERATION_ABORTED));

    // Many handles at once, each its own instance.
    let handles: Vec<RemotePipe> = (0..32)
        .map(|_| RemotePipe::open(&server, "conc", RW).unwrap())
        .collect();
    let threads: Vec<_> = handles
        .into_iter()
        .enumerate()
        .map(|(i, h)| {
            thread::spawn(move || {
                let mut buf = [0u8; 32];
                let req = format!("h{i}");
                let t = h.transact(req.as_bytes(), &mut buf).unwrap();
                assert_eq!(&buf[..t.len], req.as_bytes());
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// Opens, transacts and closes as user and anonymous on a server started with `conf`.
fn round_trip(port: u16, conf: &[&str]) {
    let smbd = Smbd::start(port, conf);
    let _r = Responder::start(&smbd.np_dir, "matrix");
    let server = smbd.server();
    for creds in [user(&smbd), None] {
        add_connection(&server, creds.clone(), None).unwrap();
        if creds.is_none() && conf.contains(&"server signing = mandatory") {
            // Known failure of smb2 0.39: on a null session with signing required it signs
            // with a key smbd does not use, and refuses smbd's TREE_CONNECT answer. This
            // flips, and must be turned around, once the library is fixed.
            let e = RemotePipe::open(&server, "matrix", RW).unwrap_err();
            assert_eq!(e.win32_code(), code::ERROR_UNEXP_NET_ERR, "{conf:?}: {e}");
            assert!(e.message().contains("signature"), "{e}");
            continue;
        }
        let p = RemotePipe::open(&server, "matrix", RW)
            .unwrap_or_else(|e| panic!("{conf:?} anonymous={}: {e}", creds.is_none()));
        let mut buf = [0u8; 70_000];
        let t = p.transact(b"hello", &mut buf).unwrap();
        assert_eq!(&buf[..t.len], b"hello", "{conf:?}");
        p.write(&pattern(65_535)).unwrap();
        assert_eq!(p.read(&mut buf).unwrap().len, 65_535, "{conf:?}");
    }
}

#[test]
fn protocols_and_signing() {
    need_samba!();
    round_trip(14483, &["server signing = mandatory"]);
    round_trip(14483, &[]);
    for proto in ["SMB2_02", "SMB2_10", "SMB3_00", "SMB3_02", "SMB3_11"] {
        let line = format!("server max protocol = {proto}");
        round_trip(14483, &[&line, "server signing = mandatory"]);
    }
}

/// smb2 0.39 does not announce SMB2_CAP_ENCRYPTION, so smbd refuses the session when it
/// requires encryption (NOTES A.2). This test flips, and must be turned around, once the
/// library sets it.
#[test]
fn encryption_required_is_a_known_failure() {
    need_samba!();
    let smbd = Smbd::start(14484, &["server smb encrypt = required"]);
    let _r = Responder::start(&smbd.np_dir, "enc");
    let server = smbd.server();
    add_connection(&server, user(&smbd), None).unwrap();
    let e = RemotePipe::open(&server, "enc", RW).unwrap_err();
    assert_eq!(e.win32_code(), code::ERROR_ACCESS_DENIED, "{e}");
}

#[test]
fn credentials_from_the_environment() {
    need_samba!();
    let smbd = Smbd::start(14485, &[]);
    let _r = Responder::start(&smbd.np_dir, "envcreds");
    // This test alone reads the environment; every other test names its server's entry.
    std::env::set_var("NPIPE_SMB_USER", &smbd.user);
    std::env::set_var("NPIPE_SMB_PASSWORD", &smbd.password);
    std::env::set_var("NPIPE_SMB_PORT", smbd.port.to_string());
    let p = RemotePipe::open("127.0.0.1", "envcreds", RW).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(p.transact(b"env", &mut buf).unwrap().len, 3);
    drop(p);
    std::env::set_var("NPIPE_SMB_PASSWORD", "wrong");
    // Other credentials make another cache key: a new logon, which fails.
    let e = RemotePipe::open("127.0.0.1", "envcreds", RW).unwrap_err();
    assert_eq!(e.win32_code(), code::ERROR_LOGON_FAILURE, "{e}");
}

/// The server drops the session's tree (as when an administrator closes the share, or smbd
/// restarts the session): the cached connection answers STATUS_NETWORK_NAME_DELETED, and the
/// next open connects and logs on again instead of failing for as long as the process runs.
#[test]
fn an_open_after_the_server_dropped_the_session_connects_again() {
    need_samba!();
    let smbd = Smbd::start(14490, &[]);
    let _r = Responder::start(&smbd.np_dir, "dropped");
    let server = smbd.server();
    add_connection(&server, user(&smbd), None).unwrap();
    let mut buf = [0u8; 16];
    let old = RemotePipe::open(&server, "dropped", RW).unwrap();
    assert_eq!(old.transact(b"one", &mut buf).unwrap().len, 3);
    let out = std::process::Command::new("smbcontrol")
        .args([
            "-s",
            &format!("{}/smb.conf", smbd.dir.display()),
            "smbd",
            "close-share",
            "IPC$",
        ])
        .output()
        .expect("run smbcontrol");
    assert!(
        out.status.success(),
        "smbcontrol: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The share really went: the handle opened before it fails (STATUS_NETWORK_NAME_DELETED).
    let e = old.transact(b"old", &mut buf).unwrap_err();
    assert_eq!(e.win32_code(), code::ERROR_NETNAME_DELETED, "{e}");
    drop(old);
    let p = RemotePipe::open(&server, "dropped", RW).expect("open after the share was closed");
    assert_eq!(p.transact(b"two", &mut buf).unwrap().len, 3);
}
