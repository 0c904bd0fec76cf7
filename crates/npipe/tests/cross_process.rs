//! Named-pipe behaviour across two real processes. Each test names the facts of
//! `docs/WINDOWS-BEHAVIOUR.md` (W-numbers) it checks. The client side runs in a child process
//! (this test binary re-run in a role).

mod util;

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::Duration;

use npipe::error::code::*;
use npipe::{
    call_named_pipe, wait_named_pipe, win32_code, ClientOptions, Direction, PipeMode, ReadMode,
    ServerOptions, WaitFor,
};
use util::{child, connect_or_fail, eventually, expect_ok, unique_name};

fn ctx<T>(r: io::Result<T>, what: &str) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e} (code {})", win32_code(&e)))
}

fn want_code<T: std::fmt::Debug>(r: io::Result<T>, code: u32, what: &str) -> Result<(), String> {
    match r {
        Err(e) if win32_code(&e) == code => Ok(()),
        other => Err(format!("{what}: expected error {code}, got {other:?}")),
    }
}

fn check(cond: bool, what: &str) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what.to_owned())
    }
}

/// Opens the pipe with a differently cased, slash-separated spelling (W1), writes two byte
/// writes, waits for the reply and exits (closing its end).
fn role_byte_client(name: &str) -> Result<(), String> {
    let other = name.to_uppercase().replace('\\', "/");
    let mut c = ctx(ClientOptions::new().open(&other), "open")?;
    ctx(c.write_all(b"Bit Bucket"), "write 1")?;
    ctx(c.write_all(b"More bits"), "write 2")?;
    let mut buf = [0u8; 32];
    let n = ctx(c.read(&mut buf), "read reply")?;
    check(&buf[..n] == b"reply", "reply content")
}

fn role_message_client(name: &str) -> Result<(), String> {
    let c = ctx(ClientOptions::new().open(name), "open")?;
    ctx(c.send_msg(b"Hello World"), "msg 1")?;
    ctx(c.send_msg(b"More bits"), "msg 2")?;
    ctx(c.send_msg(b""), "empty msg")?;
    // Wait for the server to tell us it is done reading.
    let mut b = [0u8; 8];
    ctx(c.recv_msg(&mut b), "wait for done")?;
    Ok(())
}

fn role_hold_until_disconnect(name: &str) -> Result<(), String> {
    let c = ctx(ClientOptions::new().open(name), "open")?;
    ctx(c.send_msg(b"pending data"), "write")?;
    if c.is_disconnected() {
        return Err("disconnected before the server disconnected".into());
    }
    let mut b = [0u8; 8];
    // Blocks until the server disconnects: W44 says ERROR_PIPE_NOT_CONNECTED, data discarded.
    want_code(
        c.recv_msg(&mut b),
        ERROR_PIPE_NOT_CONNECTED,
        "read after disconnect",
    )?;
    if !c.is_disconnected() {
        return Err("is_disconnected is false after the server disconnected".into());
    }
    want_code(
        c.send_msg(b"x"),
        ERROR_PIPE_NOT_CONNECTED,
        "write after disconnect",
    )?;
    want_code(
        c.peek(None),
        ERROR_PIPE_NOT_CONNECTED,
        "peek after disconnect",
    )?;
    want_code(
        c.flush_buffers(),
        ERROR_PIPE_NOT_CONNECTED,
        "flush after disconnect",
    )?;
    // The server keeps no reference to the dead link: its end of the control socket is closed
    // by the disconnect itself (the parent makes no further call until we exit).
    let mut p = libc::pollfd {
        fd: c.as_raw_fd(),
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid pollfd for a descriptor the client owns while `c` lives.
    let n = unsafe { libc::poll(&mut p, 1, 10_000) };
    check(
        n == 1 && p.revents & (libc::POLLHUP | libc::POLLRDHUP) != 0,
        "the server's end of the link is closed after DisconnectNamedPipe",
    )
}

fn role_wait_then_open(name: &str) -> Result<(), String> {
    // The only instance is busy when we start (W32), so waiting parks in the server (W30).
    want_code(
        ClientOptions::new().open(name),
        ERROR_PIPE_BUSY,
        "open while busy",
    )?;
    ctx(
        wait_named_pipe(name, WaitFor::Timeout(Duration::from_secs(20))),
        "wait",
    )?;
    let c = ctx(ClientOptions::new().open(name), "open after wait")?;
    ctx(c.send_msg(b"got it"), "write")?;
    let mut b = [0u8; 4];
    let _ = c.recv_msg(&mut b);
    Ok(())
}

fn role_call(name: &str) -> Result<(), String> {
    let mut out = [0u8; 64];
    let m = ctx(
        call_named_pipe(
            name,
            b"ping",
            &mut out,
            WaitFor::Timeout(Duration::from_secs(20)),
        ),
        "call",
    )?;
    check(&out[..m.read] == b"pong:ping" && m.left == 0, "call reply")?;
    // A reply longer than the buffer: ERROR_MORE_DATA, the rest is discarded with the handle.
    let mut small = [0u8; 4];
    let m = ctx(
        call_named_pipe(
            name,
            b"abc",
            &mut small,
            WaitFor::Timeout(Duration::from_secs(20)),
        ),
        "call 2",
    )?;
    check(
        m.read == 4 && m.left == 4 && &small == b"pong",
        "partial call reply",
    )
}

fn role_transact(name: &str) -> Result<(), String> {
    let c = ctx(ClientOptions::new().open(name), "open")?;
    // W123: transact needs message read mode.
    want_code(
        c.transact(b"x", &mut [0u8; 8]),
        ERROR_BAD_PIPE,
        "transact in byte read mode",
    )?;
    ctx(c.set_mode(ReadMode::Message, false), "set message mode")?;
    let mut buf = [0u8; 6];
    let m = ctx(c.transact(b"abc", &mut buf), "transact")?;
    // W127: the reply is longer than the buffer.
    check(
        m.read == 6 && m.left == 4 && &buf == b"012345",
        "partial reply",
    )?;
    let mut rest = [0u8; 16];
    let m = ctx(c.recv_msg(&mut rest), "rest")?;
    check(&rest[..m.read] == b"6789", "rest of reply")?;
    // W125: unread data in our inbound queue makes the transaction fail with busy.
    let mut sig = [0u8; 8];
    ctx(c.send_msg(b"send zz"), "ask for zz")?;
    if !eventually(Duration::from_secs(10), || {
        c.peek(None).map(|p| p.available == 2).unwrap_or(false)
    }) {
        return Err("zz never arrived".into());
    }
    want_code(
        c.transact(b"y", &mut sig),
        ERROR_PIPE_BUSY,
        "transact with unread data",
    )?;
    Ok(())
}

fn role_quota_reader(name: &str) -> Result<(), String> {
    let c = ctx(ClientOptions::new().open(name), "open")?;
    // W83: the pending 5000-byte write is already visible.
    if !eventually(Duration::from_secs(20), || {
        c.peek(None).map(|p| p.available == 8000).unwrap_or(false)
    }) {
        return Err(format!("peek never showed 8000: {:?}", c.peek(None)));
    }
    let mut buf = vec![0u8; 3000];
    let m = ctx(c.recv_msg(&mut buf), "read 3000")?;
    check(
        m.read == 3000 && buf.iter().all(|&b| b == b'a'),
        "first 3000",
    )?;
    ctx(c.send_msg(b"r"), "signal read")?;
    let mut rest = vec![0u8; 6000];
    let mut got = 0;
    while got < 5000 {
        got += ctx(c.recv_msg(&mut rest[got..]), "read rest")?.read;
    }
    check(
        rest[..5000].iter().all(|&b| b == b'w'),
        "pending write's bytes",
    )?;
    Ok(())
}

fn role_slow_reader(name: &str) -> Result<(), String> {
    let c = ctx(ClientOptions::new().open(name), "open")?;
    ctx(c.set_mode(ReadMode::Message, false), "message mode")?;
    let mut buf = [0u8; 50];
    let m = ctx(c.recv_msg(&mut buf), "first half")?;
    check(m.read == 50 && m.left == 50, "half read")?;
    ctx(c.send_msg(b"half"), "signal")?;
    thread::sleep(Duration::from_millis(400));
    let m = ctx(c.recv_msg(&mut buf), "second half")?;
    check(m.read == 50 && m.left == 0, "second half")
}

fn role_three_clients(name: &str) -> Result<(), String> {
    let mut held = Vec::new();
    for i in 0..3 {
        let c = ctx(ClientOptions::new().open(name), "open")?;
        ctx(c.send_msg(format!("c{i}").as_bytes()), "write")?;
        held.push(c);
    }
    // W55: every instance is taken now.
    want_code(
        ClientOptions::new().open(name),
        ERROR_PIPE_BUSY,
        "fourth open",
    )?;
    let mut b = [0u8; 4];
    let _ = held[0].recv_msg(&mut b);
    Ok(())
}

/// Waits until the server's inbound queue holds exactly `n` unread bytes.
fn wait_available(s: &npipe::NamedPipeServer, n: u32) {
    let ok = eventually(Duration::from_secs(20), || {
        s.peek(None).map(|p| p.available == n).unwrap_or(false)
    });
    assert!(ok, "never saw {n} bytes available: {:?}", s.peek(None));
}

/// Opens the pipe 200 times in a row (waiting while every instance is busy) and checks that
/// each connection echoes its own numbered message, so no two clients ever share a queue.
fn role_many_connections(name: &str) -> Result<(), String> {
    for i in 0u32..200 {
        let c = loop {
            match ClientOptions::new().open(name) {
                Ok(c) => break c,
                Err(e) if win32_code(&e) == ERROR_PIPE_BUSY => {
                    ctx(wait_named_pipe(name, WaitFor::Forever), "wait")?;
                }
                Err(e) => return ctx(Err(e), &format!("open {i}")),
            }
        };
        let msg = format!("connection {i}");
        ctx(c.send_msg(msg.as_bytes()), "send")?;
        let mut buf = [0u8; 64];
        let m = ctx(c.recv_msg(&mut buf), "echo")?;
        check(&buf[..m.read] == msg.as_bytes(), &format!("echo of {msg}"))?;
    }
    Ok(())
}

child_roles! {
    "many_connections" => role_many_connections,
    "three_clients" => role_three_clients,
    "byte_client" => role_byte_client,
    "message_client" => role_message_client,
    "hold_until_disconnect" => role_hold_until_disconnect,
    "wait_then_open" => role_wait_then_open,
    "call" => role_call,
    "transact" => role_transact,
    "quota_reader" => role_quota_reader,
    "slow_reader" => role_slow_reader,
    "open_when_it_appears" => role_open_when_it_appears,
    "normalised_client" => role_normalised_client,
    "hold_one_instance" => role_hold_one_instance,
}

/// Serves a one-instance pipe made with FILE_FLAG_FIRST_PIPE_INSTANCE until a client connects.
fn role_hold_one_instance(name: &str) -> Result<(), String> {
    let s = ctx(
        ServerOptions::new()
            .max_instances(1)
            .first_pipe_instance(true)
            .create(name),
        "create",
    )?;
    ctx(s.connect(), "connect")
}

/// A pipe whose every instance exists refuses another with ERROR_PIPE_BUSY, also a create with
/// FILE_FLAG_FIRST_PIPE_INSTANCE: the instance count is checked first (Windows:
/// STATUS_INSTANCE_NOT_AVAILABLE; Rust's std makes its anonymous pipes this way and tells a name
/// collision by it). With an instance free, the flag gives ERROR_ACCESS_DENIED (W16).
#[test]
fn a_full_pipe_is_busy_even_to_a_first_instance_create() {
    let name = unique_name("full");
    let kid = child("hold_one_instance", &name);
    assert!(
        eventually(Duration::from_secs(20), || {
            wait_named_pipe(&name, WaitFor::Timeout(Duration::from_millis(50))).is_ok()
        }),
        "the other process's instance never listened"
    );
    for first in [true, false] {
        let e = ServerOptions::new()
            .max_instances(1)
            .first_pipe_instance(first)
            .create(&name)
            .unwrap_err();
        assert_eq!(
            win32_code(&e),
            ERROR_PIPE_BUSY,
            "first_pipe_instance({first}): {e}"
        );
    }
    let _c = ClientOptions::new().open(&name).unwrap();
    expect_ok(kid);
    // In one process: the same order.
    let name = unique_name("full-local");
    let _s = ServerOptions::new().max_instances(1).create(&name).unwrap();
    let e = ServerOptions::new()
        .first_pipe_instance(true)
        .create(&name)
        .unwrap_err();
    assert_eq!(win32_code(&e), ERROR_PIPE_BUSY, "{e}");
    let name = unique_name("free-local");
    let _s = ServerOptions::new().max_instances(2).create(&name).unwrap();
    let e = ServerOptions::new()
        .first_pipe_instance(true)
        .create(&name)
        .unwrap_err();
    assert_eq!(win32_code(&e), ERROR_ACCESS_DENIED, "W16: {e}");
}

/// Opens `NAME\tmp\mpv-socket` (waiting for it first), which the server created as
/// `NAME\/tmp/./mpv-socket.`, and sends one message.
fn role_normalised_client(name: &str) -> Result<(), String> {
    let plain = format!(r"{name}\tmp\mpv-socket");
    ctx(
        wait_named_pipe(&plain, WaitFor::Timeout(Duration::from_secs(20))),
        "wait under the plain spelling",
    )?;
    let c = ctx(
        ClientOptions::new().open(&plain),
        "open under the plain spelling",
    )?;
    ctx(c.send_msg(b"normalised"), "write")?;
    Ok(())
}

/// Pipe names are paths that Win32 normalises before the pipe file system sees them
/// (conformance scenario 53): mpv creates `\\.\pipe\/tmp/mpv-socket` and its clients open
/// `\\.\pipe\tmp\mpv-socket`. A name that differs after normalisation stays another pipe.
#[test]
fn names_are_normalised_across_processes() {
    let name = unique_name("norm");
    let s = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .create(&format!(r"{name}\/tmp/./mpv-socket."))
        .unwrap();
    let mut kid = child("normalised_client", &name);
    connect_or_fail(&s, &mut kid);
    let mut buf = [0u8; 32];
    let m = s.recv_msg(&mut buf).unwrap();
    assert_eq!(&buf[..m.read], b"normalised");
    expect_ok(kid);
    let e = ClientOptions::new()
        .open(&format!(r"{name}\tmp..\mpv-socket"))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(win32_code(&e), ERROR_FILE_NOT_FOUND, "{e}");
    let listed = npipe::list().unwrap();
    let leaf = format!(r"{}\tmp\mpv-socket", &name[9..]);
    assert!(
        listed.iter().any(|l| l.leaf == leaf),
        "listed under its normalised name {leaf}"
    );
}

/// Polls for the name `name` as fast as it can and opens it as soon as it exists: the open must
/// succeed (the new pipe's first instance listens from the moment its name can be found),
/// never fail with ERROR_PIPE_BUSY.
fn role_open_when_it_appears(name: &str) -> Result<(), String> {
    let end = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match ClientOptions::new().open(name) {
            Ok(_) => return Ok(()),
            Err(e) if win32_code(&e) == ERROR_FILE_NOT_FOUND => {
                if std::time::Instant::now() > end {
                    return Err(format!("{name} never appeared"));
                }
            }
            Err(e) => {
                return Err(format!(
                    "the open of a pipe that had just appeared failed: {e}"
                ))
            }
        }
    }
}

/// A client that finds a brand-new pipe's name can connect at once: the first instance is
/// listening before the name is visible (it was bound a moment earlier, and a client that
/// opened in between got ERROR_PIPE_BUSY).
#[test]
fn a_new_pipe_takes_a_client_as_soon_as_its_name_exists() {
    for _ in 0..100 {
        let name = unique_name("appear");
        let kid = child("open_when_it_appears", &name);
        // Let the child start polling, then create the pipe under it.
        thread::sleep(Duration::from_millis(20));
        let s = ServerOptions::new().create(&name).unwrap();
        // The child's open is what is checked; the server need not accept it.
        expect_ok(kid);
        drop(s);
    }
}

/// W1, W33, W56, W58, W113, W114: byte pipe round trip, write boundaries merge, close rules.
#[test]
fn byte_pipe_round_trip_and_close() {
    let name = unique_name("byte");
    let mut s = ServerOptions::new().max_instances(1).create(&name).unwrap();
    let mut kid = child("byte_client", &name);
    connect_or_fail(&s, &mut kid);
    wait_available(&s, 19);
    let mut buf = [0u8; 32];
    let n = s.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"Bit BucketMore bits", "W58: byte writes merge");
    s.write_all(b"reply").unwrap();
    expect_ok(kid);
    // The client closed: reads end (W113), writes fail with ERROR_NO_DATA (W114).
    let e = s.recv_msg(&mut buf).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_BROKEN_PIPE);
    assert_eq!(s.read(&mut buf).unwrap(), 0, "io::Read sees EOF");
    assert_eq!(win32_code(&s.send_msg(b"x").unwrap_err()), ERROR_NO_DATA);
    let pid = s.client_process_id().unwrap();
    assert_ne!(
        pid,
        std::process::id(),
        "W131: the child's pid, kept after it closed"
    );
}

/// W59, W61, W67, W73, W76, W85, W86: message boundaries, partial reads and peek counts.
#[test]
fn message_mode_partial_reads() {
    let name = unique_name("msg");
    let s = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .create(&name)
        .unwrap();
    let kid = child("message_client", &name);
    s.connect().unwrap();
    wait_available(&s, 20);
    let p = s.peek(Some(&mut [0u8; 4])).unwrap();
    assert_eq!(
        (p.read, p.available, p.left_this_message),
        (4, 20, 7),
        "W85"
    );
    let mut b4 = [0u8; 4];
    let m = s.recv_msg(&mut b4).unwrap();
    assert_eq!((m.read, m.left, &b4), (4, 7, b"Hell"), "W67");
    let p = s.peek(None).unwrap();
    assert_eq!(
        (p.read, p.available, p.left_this_message),
        (0, 16, 7),
        "W86"
    );
    let mut big = [0u8; 32];
    let m = s.recv_msg(&mut big).unwrap();
    assert_eq!(&big[..m.read], b"o World");
    assert!(m.complete());
    let m = s.recv_msg(&mut big).unwrap();
    assert_eq!(&big[..m.read], b"More bits", "W59: one message per read");
    let m = s.recv_msg(&mut big).unwrap();
    assert_eq!((m.read, m.left), (0, 0), "W76: the empty message");
    s.send_msg(b"done").unwrap();
    expect_ok(kid);
}

/// W44, W45, W48, W49, W132: disconnect discards data, fails the client, and the instance is
/// reused for the next client.
#[test]
fn disconnect_fails_client_and_instance_is_reused() {
    let name = unique_name("disc");
    let s = ServerOptions::new().max_instances(1).create(&name).unwrap();
    let mut kid = child("hold_until_disconnect", &name);
    connect_or_fail(&s, &mut kid);
    wait_available(&s, 12);
    let pid = s.client_process_id().unwrap();
    assert_ne!(pid, std::process::id());
    // Give the child time to block in its read, so the disconnect wakes a sleeper.
    thread::sleep(Duration::from_millis(100));
    s.disconnect().unwrap();
    expect_ok(kid);
    assert_eq!(
        win32_code(&s.client_process_id().unwrap_err()),
        ERROR_NOT_FOUND,
        "W132"
    );
    assert_eq!(
        win32_code(&s.disconnect().unwrap_err()),
        ERROR_PIPE_NOT_CONNECTED,
        "W45"
    );
    assert_eq!(
        win32_code(&s.peek(None).unwrap_err()),
        ERROR_BAD_PIPE,
        "W45"
    );
    assert_eq!(
        win32_code(&s.recv_msg(&mut [0u8; 4]).unwrap_err()),
        ERROR_PIPE_NOT_CONNECTED,
        "W44: buffered data is gone"
    );
    // W49: reuse. The instance listens again before the client starts (a disconnected
    // instance answers ERROR_PIPE_BUSY until then, W30); a client that fails anyway makes
    // the connect time out instead of waiting for ever.
    s.start_connect().unwrap();
    let kid2 = child("byte_client", &name);
    s.connect_timeout(Duration::from_secs(60)).unwrap();
    wait_available(&s, 19);
    let mut buf = [0u8; 32];
    assert_eq!(s.recv_msg(&mut buf).unwrap().read, 19);
    s.send_msg(b"reply").unwrap();
    expect_ok(kid2);
    // The instance still holds its (gone) client until a disconnect; a closed handle has no
    // client at all.
    assert_ne!(s.client_process_id().unwrap(), std::process::id());
    s.close();
    assert_eq!(
        win32_code(&s.client_process_id().unwrap_err()),
        ERROR_INVALID_HANDLE,
        "the client's pid after CloseHandle"
    );
}

/// W29, W30, W32, W34, W55: busy while the only instance is taken; a waiting client in another
/// process is woken when a disconnected instance listens again.
#[test]
fn busy_then_wait_wakes_when_instance_listens() {
    let name = unique_name("busy");
    let s = ServerOptions::new().max_instances(1).create(&name).unwrap();
    let holder = ClientOptions::new().open(&name).unwrap();
    assert!(s.connect_status().unwrap(), "W33: client came first");
    let mut kid = child("wait_then_open", &name);
    // Let the child find the pipe busy and park.
    thread::sleep(Duration::from_millis(300));
    s.disconnect().unwrap();
    drop(holder);
    connect_or_fail(&s, &mut kid);
    let mut buf = [0u8; 16];
    let m = s.recv_msg(&mut buf).unwrap();
    assert_eq!(&buf[..m.read], b"got it");
    drop(s);
    expect_ok(kid);
    // W8: the name is gone with its last instance.
    assert_eq!(
        win32_code(&wait_named_pipe(&name, WaitFor::Timeout(Duration::from_secs(1))).unwrap_err()),
        ERROR_FILE_NOT_FOUND
    );
}

/// W124, W125, W127, W123: TransactNamedPipe between processes.
#[test]
fn transact_across_processes() {
    let name = unique_name("transact");
    let s = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .create(&name)
        .unwrap();
    let mut kid = child("transact", &name);
    connect_or_fail(&s, &mut kid);
    let mut buf = [0u8; 16];
    let m = s.recv_msg(&mut buf).unwrap();
    assert_eq!(&buf[..m.read], b"abc");
    s.send_msg(b"0123456789").unwrap();
    let m = s.recv_msg(&mut buf).unwrap();
    assert_eq!(&buf[..m.read], b"send zz");
    s.send_msg(b"zz").unwrap();
    expect_ok(kid);
    // The busy transaction wrote nothing (W125).
    assert_eq!(
        win32_code(&s.recv_msg(&mut buf).unwrap_err()),
        ERROR_BROKEN_PIPE
    );
}

/// W130: CallNamedPipe from another process, twice, against a server that disconnects and
/// listens again between calls.
#[test]
fn call_named_pipe_across_processes() {
    let name = unique_name("call");
    let s = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .max_instances(1)
        .create(&name)
        .unwrap();
    let mut kid = child("call", &name);
    for _ in 0..2 {
        connect_or_fail(&s, &mut kid);
        let mut buf = [0u8; 16];
        let m = s.recv_msg(&mut buf).unwrap();
        let mut reply = b"pong:".to_vec();
        reply.extend_from_slice(&buf[..m.read]);
        s.send_msg(&reply).unwrap();
        // The caller closes after reading; wait for that, then recycle the instance.
        assert_eq!(
            win32_code(&s.recv_msg(&mut buf).unwrap_err()),
            ERROR_BROKEN_PIPE
        );
        s.disconnect().unwrap();
    }
    expect_ok(kid);
}

/// W83, W90, W91, W92: a write completes when the unread bytes through it fit the reader's
/// quota; until then its bytes are already readable and counted by peek.
#[test]
fn quota_pending_write_is_visible_and_completes_after_read() {
    let name = unique_name("quota");
    let s = ServerOptions::new()
        .out_buffer_size(5000)
        .in_buffer_size(6000)
        .create(&name)
        .unwrap();
    let mut kid = child("quota_reader", &name);
    connect_or_fail(&s, &mut kid);
    assert_eq!(
        s.send_msg(&[b'a'; 3000]).unwrap(),
        3000,
        "W91: fits at once"
    );
    let done = std::sync::atomic::AtomicBool::new(false);
    thread::scope(|sc| {
        let t = sc.spawn(|| {
            let n = s.send_msg(&[b'w'; 5000]).unwrap();
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            n
        });
        // The child reads the first 3000 only after peek showed 8000, then signals.
        let mut sig = [0u8; 1];
        s.recv_msg(&mut sig).unwrap();
        assert_eq!(t.join().unwrap(), 5000, "W92: completes with its full size");
    });
    assert!(done.load(std::sync::atomic::Ordering::SeqCst));
    expect_ok(kid);
}

/// W94: FlushFileBuffers returns only after the other process has read everything.
#[test]
fn flush_waits_for_the_reader() {
    let name = unique_name("flush");
    let s = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .create(&name)
        .unwrap();
    s.flush_buffers().unwrap(); // W95: listening -> succeeds at once
    let mut kid = child("slow_reader", &name);
    connect_or_fail(&s, &mut kid);
    s.flush_buffers().unwrap(); // empty pipe -> at once
    s.send_msg(&[b'f'; 100]).unwrap();
    let flushed = std::sync::atomic::AtomicBool::new(false);
    thread::scope(|sc| {
        sc.spawn(|| {
            s.flush_buffers().unwrap();
            flushed.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let mut sig = [0u8; 8];
        let m = s.recv_msg(&mut sig).unwrap();
        assert_eq!(&sig[..m.read], b"half");
        // Half of the message is unread and the child sleeps before reading it.
        assert!(
            !flushed.load(std::sync::atomic::Ordering::SeqCst),
            "flush returned early"
        );
    });
    assert!(flushed.load(std::sync::atomic::Ordering::SeqCst));
    expect_ok(kid);
}

/// W14, W16, W22: direction, access rights and first-instance rules.
#[test]
fn direction_and_access_rules() {
    let name = unique_name("dir");
    let s = ServerOptions::new()
        .direction(Direction::Inbound)
        .max_instances(2)
        .create(&name)
        .unwrap();
    let e = ClientOptions::new()
        .read(true)
        .write(false)
        .open(&name)
        .unwrap_err();
    assert_eq!(win32_code(&e), ERROR_ACCESS_DENIED, "W22");
    let c = ClientOptions::new()
        .read(false)
        .write(true)
        .open(&name)
        .unwrap();
    assert_eq!(
        win32_code(&c.recv_msg(&mut [0u8; 4]).unwrap_err()),
        ERROR_ACCESS_DENIED
    );
    assert_eq!(
        win32_code(&s.send_msg(b"x").unwrap_err()),
        ERROR_ACCESS_DENIED
    );
    let e = ServerOptions::new()
        .direction(Direction::Outbound)
        .max_instances(2)
        .create(&name)
        .unwrap_err();
    assert_eq!(win32_code(&e), ERROR_ACCESS_DENIED, "W14");
    let e = ServerOptions::new()
        .direction(Direction::Inbound)
        .first_pipe_instance(true)
        .create(&name)
        .unwrap_err();
    assert_eq!(win32_code(&e), ERROR_ACCESS_DENIED, "W16");
}

/// W53, W54, W55: clients get listening instances in the order they started listening, and a
/// pending ConnectNamedPipe does not move an instance ahead.
#[test]
fn clients_match_instances_fifo() {
    let name = unique_name("fifo");
    let servers: Vec<_> = (0..3)
        .map(|_| ServerOptions::new().max_instances(3).create(&name).unwrap())
        .collect();
    let mut kid = child("three_clients", &name);
    let mut got = Vec::new();
    for s in &servers {
        connect_or_fail(s, &mut kid);
        let mut b = [0u8; 4];
        let m = s.recv_msg(&mut b).unwrap();
        got.push(String::from_utf8_lossy(&b[..m.read]).into_owned());
    }
    assert_eq!(got, ["c0", "c1", "c2"], "creation order");
    servers[0].send_msg(b"bye").unwrap();
    expect_ok(kid);
}

/// W49, W29, W34: four instances served by four threads, each connecting, echoing and
/// disconnecting in a loop, against 200 sequential clients of another process. Every instance
/// hands each new client a fresh queue made ahead of time, and a thread sleeping in
/// ConnectNamedPipe is woken by its own client only.
#[test]
fn many_sequential_connections_across_instances() {
    let name = unique_name("many");
    let servers: Vec<_> = (0..4)
        .map(|_| {
            ServerOptions::new()
                .pipe_mode(PipeMode::Message)
                .read_mode(ReadMode::Message)
                .max_instances(4)
                .create(&name)
                .unwrap()
        })
        .collect();
    let mut kid = child("many_connections", &name);
    let served = std::sync::atomic::AtomicU32::new(0);
    // Set once the child has ended (or was killed at the limit): the threads stop then also
    // when the child failed before its 200th connection, else the scope would wait for them
    // for ever. The child's status is checked after the scope.
    let done = std::sync::atomic::AtomicBool::new(false);
    let status = thread::scope(|sc| {
        for s in &servers {
            let (served, done) = (&served, &done);
            sc.spawn(move || {
                while served.load(std::sync::atomic::Ordering::SeqCst) < 200
                    && !done.load(std::sync::atomic::Ordering::SeqCst)
                {
                    if s.connect_timeout(Duration::from_millis(200)).is_err() {
                        continue;
                    }
                    let mut buf = [0u8; 64];
                    if let Ok(m) = s.recv_msg(&mut buf) {
                        s.send_msg(&buf[..m.read]).unwrap();
                        // The echo is read before the client closes, so it counts.
                        let mut end = [0u8; 1];
                        let _ = s.recv_msg(&mut end);
                        served.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    s.disconnect().unwrap();
                }
            });
        }
        let status = util::wait_child(&mut kid, util::CHILD_LIMIT);
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        status
    });
    match status {
        Ok(st) => assert!(st.success(), "child failed: {st}"),
        Err(e) => panic!("{e}"),
    }
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 200);
}
