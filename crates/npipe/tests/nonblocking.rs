//! Operations that never block (`npipe::nonblocking`), driven the way an event loop drives
//! them: poll, wait for the end's readiness descriptor, clear it, poll again. Across processes:
//! pending reads, writes held by the quota (W91-W93), connects, transactions, messages larger
//! than the ring with pinned operations, a peer killed or disconnected while an operation is
//! pending (W48, W101), and aborts.

mod util;

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::task::Poll;
use std::time::{Duration, Instant};

use npipe::error::code::*;
use npipe::nonblocking::{ConnectStart, Interest, ReadOp, Readiness, TransactOp, WriteOp};
use npipe::{win32_code, ClientOptions, PipeMode, ReadMode, ServerOptions, WaitFor};
use util::{child, expect_ok, unique_name};

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

/// Drives `step` to completion the event-loop way; also returns how many times it was pending.
fn drive<T>(
    ready: &Readiness,
    mut step: impl FnMut() -> (Poll<std::io::Result<T>>, bool),
) -> (std::io::Result<T>, usize) {
    let end = Instant::now() + Duration::from_secs(30);
    let mut pending = 0;
    loop {
        let (r, contended) = step();
        match r {
            Poll::Ready(r) => return (r, pending),
            Poll::Pending => pending += 1,
        }
        assert!(Instant::now() < end, "the operation never completed");
        if contended {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        if readable(ready.as_fd(), 200) {
            ready.clear();
        }
    }
}

fn open_client(name: &str) -> Result<npipe::NamedPipeClient, String> {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        match ClientOptions::new().open(name) {
            Ok(c) => return Ok(c),
            Err(e) if win32_code(&e) == ERROR_FILE_NOT_FOUND && Instant::now() < end => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) if win32_code(&e) == ERROR_PIPE_BUSY => {
                npipe::wait_named_pipe(name, WaitFor::from_win32(5000))
                    .map_err(|e| e.to_string())?;
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Client: waits 100 ms, writes "hello", then echoes every message until the pipe breaks.
fn role_echo(name: &str) -> Result<(), String> {
    let c = open_client(name)?;
    c.set_mode(ReadMode::Message, false)
        .map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_millis(100));
    c.send_msg(b"hello").map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 4 << 20];
    loop {
        match c.recv_msg(&mut buf) {
            Ok(m) => {
                if m.left != 0 {
                    return Err(format!("a message longer than 4 MiB: {} left", m.left));
                }
                c.send_msg(&buf[..m.read]).map_err(|e| e.to_string())?;
            }
            Err(e) if win32_code(&e) == ERROR_BROKEN_PIPE => return Ok(()),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Client: reads `arg` bytes slowly (1000 at a time, 20 ms apart), then says "done".
fn role_slow_reader(arg: &str) -> Result<(), String> {
    let (name, total) = arg.split_once('|').ok_or("bad arg")?;
    let total: usize = total.parse().map_err(|_| "bad total")?;
    let mut c = open_client(name)?;
    let mut got = 0;
    let mut buf = [0u8; 1000];
    while got < total {
        std::thread::sleep(Duration::from_millis(20));
        let n = c.read(&mut buf).map_err(|e| e.to_string())?;
        if buf[..n].iter().any(|&b| b != b'q') {
            return Err("wrong bytes".into());
        }
        got += n;
    }
    c.write_all(b"done").map_err(|e| e.to_string())?;
    Ok(())
}

/// Client that connects and sleeps until killed.
fn role_sleeper(name: &str) -> Result<(), String> {
    let _c = open_client(name)?;
    std::thread::sleep(Duration::from_secs(60));
    Err("not killed".into())
}

child_roles! {
    "echo" => role_echo,
    "slow_reader" => role_slow_reader,
    "sleeper" => role_sleeper,
}

fn message_server(name: &str) -> npipe::NamedPipeServer {
    ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .read_mode(ReadMode::Message)
        .create(name)
        .unwrap()
}

/// A message server named after `tag`, its readiness, and a client in message read mode,
/// connected the nonblocking way.
fn connected_pair(tag: &str) -> (npipe::NamedPipeServer, Readiness, npipe::NamedPipeClient) {
    let name = unique_name(tag);
    let s = message_server(&name);
    let ready = s.readiness().unwrap();
    let c = ClientOptions::new().open(&name).unwrap();
    c.set_mode(ReadMode::Message, false).unwrap();
    connect(&s, &ready);
    (s, ready, c)
}

/// Connects `s` the nonblocking way; returns how often the connect was pending.
fn connect(s: &npipe::NamedPipeServer, ready: &Readiness) -> usize {
    match s.start_connect().unwrap() {
        ConnectStart::Connected => 0,
        ConnectStart::Pending(op) => {
            let (r, pending) = drive(ready, || (s.poll_connect(&op), false));
            r.unwrap();
            pending
        }
    }
}

#[test]
fn pending_connect_and_read_complete_when_another_process_acts() {
    let name = unique_name("nb-echo");
    let s = message_server(&name);
    let ready = s.readiness().unwrap();
    // Connect before the client exists: pending, then done when it arrives.
    let kid = child("echo", &name);
    connect(&s, &ready);
    // The client writes after 100 ms: the read is pending first (W64), then complete.
    let mut buf = [0u8; 64];
    let mut op = ReadOp::new();
    let (r, pending) = drive(&ready, || (s.poll_read(&mut op, &mut buf), op.contended()));
    let m = r.unwrap();
    assert_eq!(&buf[..m.read], b"hello");
    assert!(pending > 0, "the read was pending before the client wrote");
    // Round trips: a write that fits completes at once, the echo comes back.
    for round in 0..100u32 {
        let msg = format!("round {round}");
        let mut w = WriteOp::new();
        let (r, _) = drive(&ready, || {
            (s.poll_write(&mut w, msg.as_bytes()), w.contended())
        });
        assert_eq!(r.unwrap(), msg.len());
        let mut op = ReadOp::new();
        let (r, _) = drive(&ready, || (s.poll_read(&mut op, &mut buf), op.contended()));
        let m = r.unwrap();
        assert_eq!(&buf[..m.read], msg.as_bytes());
    }
    drop(s);
    expect_ok(kid);
}

/// A read armed lazily (`ReadOp::arm_lazily`) whose thread never spins for it, an event loop
/// that sleeps on the descriptor instead, is still signalled: the peer's publish waits its
/// grace for a take-back that does not come, then signals. No wake-up is lost (W64, W65).
#[test]
fn a_lazily_armed_read_nobody_spins_for_is_still_signalled() {
    let name = unique_name("nb-lazy");
    let s = message_server(&name);
    let ready = s.readiness().unwrap();
    let kid = child("echo", &name);
    connect(&s, &ready);
    let mut buf = [0u8; 64];
    let mut pending = 0;
    for round in 0..=50u32 {
        let want = if round == 0 {
            // The client's first message comes 100 ms after it connected.
            "hello".to_string()
        } else {
            let msg = format!("round {round}");
            let mut w = WriteOp::new();
            let (r, _) = drive(&ready, || {
                (s.poll_write(&mut w, msg.as_bytes()), w.contended())
            });
            assert_eq!(r.unwrap(), msg.len());
            msg
        };
        let mut op = ReadOp::new();
        op.arm_lazily();
        ready.clear();
        let got = match s.poll_read(&mut op, &mut buf) {
            Poll::Ready(r) => r.unwrap(),
            Poll::Pending => {
                pending += 1;
                assert!(
                    readable(ready.as_fd(), 10_000),
                    "round {round}: a lazily armed read was never signalled"
                );
                ready.clear();
                drive(&ready, || (s.poll_read(&mut op, &mut buf), op.contended()))
                    .0
                    .unwrap()
            }
        };
        assert_eq!(&buf[..got.read], want.as_bytes(), "round {round}");
    }
    assert!(pending > 0, "no read was pending: nothing was tested");
    drop(s);
    expect_ok(kid);
}

#[test]
fn a_write_is_pending_until_the_reader_drains_it_below_the_quota() {
    let name = unique_name("nb-quota");
    let s = ServerOptions::new()
        .out_buffer_size(1000)
        .create(&name)
        .unwrap();
    let ready = s.readiness().unwrap();
    let total = 5000usize;
    let kid = child("slow_reader", &format!("{name}|{total}"));
    connect(&s, &ready);
    let data = vec![b'q'; total];
    // Pinned: with the smallest rings (`--cfg npipe_small_ring`) the message is larger than the
    // ring and streams through it.
    let mut w = WriteOp::pinned();
    // W91: 5000 bytes against a quota of 1000 are pending, but in the pipe (W92).
    assert!(s.poll_write(&mut w, &data).is_pending());
    let (r, pending) = drive(&ready, || (s.poll_write(&mut w, &data), w.contended()));
    assert_eq!(r.unwrap(), total);
    assert!(pending > 0);
    let mut buf = [0u8; 8];
    let mut op = ReadOp::new();
    let (r, _) = drive(&ready, || (s.poll_read(&mut op, &mut buf), op.contended()));
    let m = r.unwrap();
    assert_eq!(&buf[..m.read], b"done");
    expect_ok(kid);
}

#[test]
fn messages_larger_than_the_ring_stream_through_pinned_operations() {
    let name = unique_name("nb-big");
    let s = message_server(&name);
    let ready = s.readiness().unwrap();
    let kid = child("echo", &name);
    connect(&s, &ready);
    let mut hello = [0u8; 8];
    let mut op = ReadOp::pinned();
    let (r, _) = drive(&ready, || {
        (s.poll_read(&mut op, &mut hello), op.contended())
    });
    assert_eq!(r.unwrap().read, 5);
    // 1 MiB each way, 16 times the ring: both directions stream.
    let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 7 + i / 251) as u8).collect();
    let mut w = WriteOp::pinned();
    let mut back = vec![0u8; 2 << 20];
    let mut rd = ReadOp::pinned();
    let mut wrote = None;
    let mut got = None;
    let end = Instant::now() + Duration::from_secs(30);
    while wrote.is_none() || got.is_none() {
        assert!(Instant::now() < end, "never finished");
        if wrote.is_none() {
            if let Poll::Ready(r) = s.poll_write(&mut w, &big) {
                wrote = Some(r.unwrap());
            }
        }
        if got.is_none() {
            if let Poll::Ready(r) = s.poll_read(&mut rd, &mut back) {
                got = Some(r.unwrap());
            }
        }
        if (wrote.is_none() || got.is_none()) && readable(ready.as_fd(), 200) {
            ready.clear();
        }
    }
    assert_eq!(wrote, Some(big.len()));
    let m = got.unwrap();
    assert_eq!((m.read, m.left), (big.len(), 0));
    assert!(back[..m.read] == big[..], "the echo is the message");
    drop(s);
    expect_ok(kid);
}

#[test]
fn a_write_streaming_through_its_lock_stays_pinned_until_it_is_done() {
    let (s, ready, c) = connected_pair("nb-held");
    let (_, write_max) = s.unpinned_limits().expect("connected");
    assert!(write_max > 0);
    // More than the ring holds, and nobody reads yet: the write streams what fits, holding the
    // writer lock, and waits for room.
    let big: Vec<u8> = (0..write_max + 4096).map(|i| (i % 251) as u8).collect();
    let mut w = WriteOp::new();
    assert!(s.poll_write(&mut w, &big).is_pending());
    assert!(
        !w.holds_lock(),
        "an unpinned write waits whole, holding nothing"
    );
    assert!(w.unpin());
    w.pin();
    assert!(s.poll_write(&mut w, &big).is_pending());
    assert!(w.holds_lock(), "pinned, it streams and keeps the lock");
    assert!(!w.unpin(), "an operation holding a lock stays pinned");
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; write_max + 8192];
        let m = c.recv_msg(&mut buf).unwrap();
        (buf[..m.read].to_vec(), m.left)
    });
    let (r, _) = drive(&ready, || (s.poll_write(&mut w, &big), w.contended()));
    assert_eq!(r.unwrap(), big.len());
    assert!(!w.holds_lock() && w.unpin(), "done: nothing held");
    let (got, left) = reader.join().unwrap();
    assert_eq!(left, 0);
    assert!(got == big, "the message arrived whole");
}

#[test]
fn a_poll_after_spin_ready_arms_the_end_again() {
    let name = unique_name("nb-spin");
    let s = message_server(&name);
    // No connection yet: nothing to spin on, nor for a connect.
    assert!(!s.spin_ready(Interest::READ, || false));
    assert!(s.unpinned_limits().is_none());
    let ready = s.readiness().unwrap();
    let c = ClientOptions::new().open(&name).unwrap();
    connect(&s, &ready);
    assert!(!s.spin_ready(Interest::CONNECT, || false));
    let mut buf = [0u8; 16];
    for round in 0..50u32 {
        let mut op = ReadOp::new();
        assert!(s.poll_read(&mut op, &mut buf).is_pending());
        // Nothing comes: the spin ends (at once when told to stop, or when it runs out) with
        // false, having taken the arm back if it spun.
        assert!(!s.spin_ready(Interest::READ, || round % 2 == 0));
        // The poll a waiter makes before it sleeps arms the end again: the message that comes
        // now signals the descriptor.
        ready.clear();
        assert!(s.poll_read(&mut op, &mut buf).is_pending());
        let msg = format!("message {round}");
        c.send_msg(msg.as_bytes()).unwrap();
        assert!(
            readable(ready.as_fd(), 10_000),
            "the write signalled the armed end"
        );
        let Poll::Ready(r) = s.poll_read(&mut op, &mut buf) else {
            panic!("signalled, and the message is there");
        };
        assert_eq!(&buf[..r.unwrap().read], msg.as_bytes());
    }
    // A peer that closed ends a spin at once (the link is no longer open).
    drop(c);
    let mut op = ReadOp::new();
    let r = loop {
        if let Poll::Ready(r) = s.poll_read(&mut op, &mut buf) {
            break r;
        }
        s.spin_ready(Interest::READ, || false);
    };
    assert_eq!(win32_code(&r.unwrap_err()), ERROR_BROKEN_PIPE);
}

#[test]
fn a_pending_read_fails_with_broken_pipe_when_the_peer_is_killed() {
    let name = unique_name("nb-kill");
    let s = message_server(&name);
    let ready = s.readiness().unwrap();
    let mut kid = child("sleeper", &name);
    connect(&s, &ready);
    let mut buf = [0u8; 16];
    let mut op = ReadOp::new();
    assert!(s.poll_read(&mut op, &mut buf).is_pending());
    kid.kill().unwrap();
    kid.wait().unwrap();
    let (r, _) = drive(&ready, || (s.poll_read(&mut op, &mut buf), op.contended()));
    let e = r.unwrap_err();
    assert_eq!(win32_code(&e), ERROR_BROKEN_PIPE, "{e}");
}

#[test]
fn disconnect_fails_pending_operations_and_a_new_client_is_not_theirs() {
    let name = unique_name("nb-disc");
    let s = message_server(&name);
    let ready = s.readiness().unwrap();
    let c1 = ClientOptions::new().open(&name).unwrap();
    connect(&s, &ready);
    let mut buf = [0u8; 16];
    let mut op = ReadOp::new();
    assert!(s.poll_read(&mut op, &mut buf).is_pending());
    s.disconnect().unwrap();
    // W48: the pending read fails; the signal says so.
    assert!(readable(ready.as_fd(), 5000));
    ready.clear();
    let e = match s.poll_read(&mut op, &mut buf) {
        Poll::Ready(Err(e)) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(win32_code(&e), ERROR_PIPE_NOT_CONNECTED, "{e}");
    drop(c1);
    // A new client: a new read gets its data.
    let mut pending = ReadOp::new();
    assert!(matches!(
        s.start_connect().unwrap(),
        ConnectStart::Pending(_)
    ));
    let c2 = ClientOptions::new().open(&name).unwrap();
    c2.send_msg(b"second").unwrap();
    let (r, _) = drive(&ready, || (s.poll_read(&mut pending, &mut buf), false));
    let m = r.unwrap();
    assert_eq!(&buf[..m.read], b"second");
}

#[test]
fn aborting_a_streaming_write_withdraws_its_unread_part() {
    let (s, ready, c) = connected_pair("nb-abort");
    let big = vec![7u8; 1 << 20];
    let mut w = WriteOp::pinned();
    assert!(s.poll_write(&mut w, &big).is_pending(), "1 MiB cannot fit");
    // The client takes the first part of the message while this thread streams it...
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 100_000];
        let m = c.recv_msg(&mut buf).unwrap();
        (c, m)
    });
    while !reader.is_finished() {
        assert!(s.poll_write(&mut w, &big).is_pending());
        if readable(ready.as_fd(), 20) {
            ready.clear();
        }
    }
    let (c, m) = reader.join().unwrap();
    assert_eq!(m.read, 100_000);
    assert!(m.left > 0);
    // ...the write is aborted: the rest is withdrawn (W98), the next message is intact.
    // (Nothing is written past a withdrawn record until the reader has passed it, so the
    // next write completes once the client reads again.)
    s.abort_write(&mut w);
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 100_000];
        let m = c.recv_msg(&mut buf).unwrap();
        buf[..m.read].to_vec()
    });
    let mut w2 = WriteOp::new();
    let (r, _) = drive(&ready, || (s.poll_write(&mut w2, b"next"), w2.contended()));
    assert_eq!(r.unwrap(), 4);
    assert_eq!(reader.join().unwrap(), b"next");
}

#[test]
fn a_write_completed_in_its_first_step_is_not_withdrawn_by_an_abort() {
    // The first step runs on the end's connection without keeping it (an overlapped write
    // that completes at once takes no reference): an abort afterwards must still say that the
    // data stays delivered, as it does for a write that completed in a later step.
    let (s, _ready, c) = connected_pair("nb-done-abort");
    let mut w = WriteOp::new();
    assert!(matches!(s.poll_write(&mut w, b"hello"), Poll::Ready(Ok(5))));
    assert!(!s.abort_write(&mut w), "a completed write is not withdrawn");
    let mut buf = [0u8; 16];
    let m = c.recv_msg(&mut buf).unwrap();
    assert_eq!(&buf[..m.read], b"hello");
    // A write that never started has nothing in the pipe.
    assert!(s.abort_write(&mut WriteOp::new()));
}

#[test]
fn a_transaction_step_checks_the_pipe_before_it_writes() {
    // The first step of a transaction looks at the pipe before it writes anything (W123,
    // W125), and a transaction after the failures goes through.
    let (s, _ready, c) = connected_pair("nb-transact-checks");
    let mut reply = [0u8; 16];
    let fails = |t: &mut TransactOp, reply: &mut [u8]| match s.poll_transact(t, b"req", reply) {
        Poll::Ready(Err(e)) => win32_code(&e),
        other => panic!("{other:?}"),
    };
    // W125: unread data in the caller's inbound queue.
    c.send_msg(b"unread").unwrap();
    let mut t = TransactOp::new();
    assert_eq!(fails(&mut t, &mut reply), ERROR_PIPE_BUSY, "W125");
    assert_eq!(s.recv_msg(&mut reply).unwrap().read, 6);
    // W123: the caller in byte read mode.
    s.set_mode(ReadMode::Byte, false).unwrap();
    assert_eq!(
        fails(&mut TransactOp::new(), &mut reply),
        ERROR_BAD_PIPE,
        "W123"
    );
    s.set_mode(ReadMode::Message, false).unwrap();
    // Neither failed transaction wrote its request.
    assert_eq!(c.peek(None).unwrap().available, 0, "nothing was written");
    let mut t = TransactOp::new();
    assert!(s.poll_transact(&mut t, b"req", &mut reply).is_pending());
    let m = c.recv_msg(&mut reply).unwrap();
    assert_eq!(&reply[..m.read], b"req");
}

#[test]
fn transactions_in_steps() {
    let name = unique_name("nb-transact");
    let s = message_server(&name);
    let ready = s.readiness().unwrap();
    let kid = child("echo", &name);
    connect(&s, &ready);
    let mut hello = [0u8; 8];
    let mut op = ReadOp::new();
    let (r, _) = drive(&ready, || {
        (s.poll_read(&mut op, &mut hello), op.contended())
    });
    assert_eq!(r.unwrap().read, 5);
    for i in 0..20 {
        let req = format!("request {i}");
        let mut reply = [0u8; 64];
        let mut t = TransactOp::new();
        let (r, _) = drive(&ready, || {
            (
                s.poll_transact(&mut t, req.as_bytes(), &mut reply),
                t.contended(),
            )
        });
        let m = r.unwrap();
        assert_eq!(&reply[..m.read], req.as_bytes());
    }
    // A reply longer than the buffer: ERROR_MORE_DATA's shape (W127).
    let mut reply = [0u8; 4];
    let mut t = TransactOp::new();
    let (r, _) = drive(&ready, || {
        (
            s.poll_transact(&mut t, b"longer reply", &mut reply),
            t.contended(),
        )
    });
    let m = r.unwrap();
    assert_eq!((m.read, m.left), (4, 8));
    let mut rest = [0u8; 16];
    let m = s.recv_msg(&mut rest).unwrap();
    assert_eq!(&rest[..m.read], b"er reply");
    drop(s);
    expect_ok(kid);
}

#[test]
fn closing_a_listening_instance_aborts_its_pending_connect() {
    let name = unique_name("nb-close");
    let s = message_server(&name);
    let ready = s.readiness().unwrap();
    let op = match s.start_connect().unwrap() {
        ConnectStart::Pending(op) => op,
        ConnectStart::Connected => panic!("nobody connected"),
    };
    assert!(s.poll_connect(&op).is_pending());
    s.close();
    assert!(readable(ready.as_fd(), 5000), "the close signals");
    let e = match s.poll_connect(&op) {
        Poll::Ready(Err(e)) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(win32_code(&e), ERROR_OPERATION_ABORTED, "{e}");
}

#[test]
fn a_zero_byte_read_completes_when_data_arrives_and_leaves_it() {
    let name = unique_name("nb-zero");
    let s = ServerOptions::new().create(&name).unwrap();
    let ready = s.readiness().unwrap();
    let mut c = ClientOptions::new().open(&name).unwrap();
    connect(&s, &ready);
    let mut op = ReadOp::new();
    let mut none: [u8; 0] = [];
    assert!(s.poll_read(&mut op, &mut none).is_pending());
    c.write_all(b"x").unwrap();
    let (r, _) = drive(&ready, || (s.poll_read(&mut op, &mut none), false));
    assert_eq!(r.unwrap().read, 0);
    // W78: the byte is still there.
    let mut buf = [0u8; 4];
    let mut s2 = &s;
    assert_eq!(s2.read(&mut buf).unwrap(), 1);
}
