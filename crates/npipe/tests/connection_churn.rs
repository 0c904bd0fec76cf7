//! Connections made and closed one after another (issue 13): each process now keeps the
//! private lock pages of closed connections for its next ones and places connection mappings
//! in an arena whose slots are unmapped in batches and then reused. Whatever a closed
//! connection left behind (a partly read message, unread data, a large message, a client that
//! vanished after the handshake) must never show through in a later connection, in this
//! process or across processes, and a forked child that still uses an inherited end must never
//! share its lock page with a new connection of its parent.

mod util;

use std::io::{Read, Write};
use std::time::Duration;

use npipe::error::code::*;
use npipe::{win32_code, ClientOptions, PipeMode, ReadMode, ServerOptions};
use util::{child, expect_ok, unique_name};

child_roles! {
    "churn_client" => role_churn_client,
    "limited_address_space" => role_limited_address_space,
}

/// More connections than the arena has slots (128) and than its batch (16), several times.
const ROUNDS: usize = 400;

/// The message of connection `k` in direction `dir` (0: server to client), `len` bytes.
fn payload(k: usize, dir: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (k as u8).wrapping_mul(31) ^ (i as u8) ^ dir.wrapping_mul(0x5a))
        .collect()
}

/// Makes a new or disconnected instance listen without waiting for a client (W30).
fn listen(s: &npipe::NamedPipeServer) {
    match s.connect_timeout(Duration::ZERO) {
        Err(e) if win32_code(&e) == ERROR_SEM_TIMEOUT => {}
        other => panic!("the instance should listen with no client yet: {other:?}"),
    }
}

/// Connection `k` on `s`, seen from both ends in this process: a new client finds the pipe
/// empty, exchanges its messages whole, and leaves something behind when it closes (a partly
/// read message, an unread one, or a large one that went beyond the ring's window).
fn one_connection(s: &npipe::NamedPipeServer, name: &str, k: usize) {
    listen(s);
    let c = ClientOptions::new().open(name).unwrap();
    c.set_mode(ReadMode::Message, false).unwrap();
    s.connect().unwrap();
    // Nothing of an earlier connection is there, on either side.
    assert_eq!(s.peek(None).unwrap().available, 0, "connection {k}");
    assert_eq!(c.peek(None).unwrap().available, 0, "connection {k}");
    let up = payload(k, 1, 1 + k % 200);
    c.send_msg(&up).unwrap();
    let mut b = vec![0u8; 4096];
    let m = s.recv_msg(&mut b).unwrap();
    assert_eq!((&b[..m.read], m.left), (&up[..], 0), "connection {k}");
    let down = payload(k, 0, 10 + k % 50);
    s.send_msg(&down).unwrap();
    let mut head = [0u8; 4];
    match k % 4 {
        // Read only the start: the client's reader state is in the middle of a message.
        0 => {
            let e = c.recv_msg(&mut head).unwrap();
            assert_eq!((&head[..], e.left as usize), (&down[..4], down.len() - 4));
        }
        // Leave the whole message unread.
        1 => {}
        // A message larger than the window (64 KiB), read whole: the mapping held more pages.
        2 => {
            let m = c.recv_msg(&mut b).unwrap();
            assert_eq!(&b[..m.read], &down[..]);
            let big = payload(k, 2, 300_000);
            let writer = std::thread::scope(|sc| {
                let t = sc.spawn(|| s.send_msg(&big));
                let mut got = vec![0u8; big.len()];
                let m = c.recv_msg(&mut got).unwrap();
                assert_eq!((m.read, m.left), (big.len(), 0));
                assert!(got == big, "connection {k}: large message changed");
                t.join().unwrap()
            });
            writer.unwrap();
        }
        _ => {
            let m = c.recv_msg(&mut b).unwrap();
            assert_eq!(&b[..m.read], &down[..]);
        }
    }
    drop(c);
    s.disconnect().unwrap();
}

/// Under an address-space limit the process maps connections without the arena (which would
/// reserve address space the limit counts): a child with RLIMIT_AS set runs the churn.
fn role_limited_address_space(_: &str) -> Result<(), String> {
    let limit = libc::rlimit {
        rlim_cur: 64 << 30,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: a plain setrlimit with a live struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) } != 0 {
        return Err(format!("setrlimit: {}", std::io::Error::last_os_error()));
    }
    std::panic::catch_unwind(|| {
        let name = unique_name("churn-rlimit");
        let s = util::message_server(&name, 1);
        for k in 0..ROUNDS / 4 {
            one_connection(&s, &name, k);
        }
    })
    .map_err(|_| "the churn failed under RLIMIT_AS".to_string())
}

#[test]
fn connections_work_under_an_address_space_limit() {
    expect_ok(child("limited_address_space", ""));
}

#[test]
fn many_connections_in_a_row_see_only_their_own_data() {
    let name = unique_name("churn");
    let s = util::message_server(&name, 1);
    for k in 0..ROUNDS {
        one_connection(&s, &name, k);
    }
}

/// Connection `k` of a loop over a long-lived connection: one round trip that must come
/// through intact while connections come and go around it.
fn long_lived_round_trip(s: &npipe::NamedPipeServer, c: &npipe::NamedPipeClient, k: usize) {
    let mut b = [0u8; 64];
    let up = payload(k, 3, 33);
    c.send_msg(&up).unwrap();
    let m = s.recv_msg(&mut b).unwrap();
    assert_eq!(&b[..m.read], &up[..], "long-lived connection, round {k}");
    let down = payload(k, 4, 17);
    s.send_msg(&down).unwrap();
    let m = c.recv_msg(&mut b).unwrap();
    assert_eq!(&b[..m.read], &down[..], "long-lived connection, round {k}");
}

#[test]
fn a_long_lived_connection_survives_churn_around_it() {
    let name = unique_name("churn-around");
    // The first instance listens first, so it gets the long-lived client; the second serves
    // the rest, whose memory comes and goes around the long-lived connection's.
    let keep = util::message_server(&name, 2);
    let churn = util::message_server(&name, 2);
    let c = ClientOptions::new().open(&name).unwrap();
    c.set_mode(ReadMode::Message, false).unwrap();
    keep.connect().unwrap();
    for k in 0..ROUNDS {
        one_connection(&churn, &name, k);
        long_lived_round_trip(&keep, &c, k);
    }
}

/// A client that vanishes right after the handshake, without ever mapping the connection
/// (as one killed there would): the instance sees it gone, and its next client is served as
/// if nothing had happened.
#[test]
fn clients_vanishing_after_the_handshake_leave_nothing_behind() {
    let name = unique_name("churn-vanish");
    let s = util::message_server(&name, 1);
    for k in 0..ROUNDS / 4 {
        listen(&s);
        let fd = util::raw_connect(&name);
        util::raw_send(fd, &util::open_request(&name));
        let (reply, memfd) = util::raw_recv(fd);
        assert!(
            reply.starts_with(b"NPR1") && memfd >= 0,
            "round {k}: no queue"
        );
        // SAFETY: closing descriptors this test owns.
        unsafe {
            libc::close(memfd);
            libc::close(fd);
        }
        // ConnectNamedPipe reports the client that already left (W43) or the one that is
        // connected; either way the instance is disconnected and listens again.
        match s.connect() {
            Ok(()) => {}
            Err(e) => assert_eq!(win32_code(&e), ERROR_NO_DATA, "round {k}: {e}"),
        }
        s.disconnect().unwrap();
        one_connection(&s, &name, k);
    }
}

/// The child's side of [`connections_from_another_process_see_only_their_own_data`]: `arg`
/// connections in a row, each sending its message and checking the server's answer.
fn role_churn_client(arg: &str) -> Result<(), String> {
    let (name, rounds) = arg.split_once('|').ok_or("bad argument")?;
    let rounds: usize = rounds.parse().map_err(|_| "bad count")?;
    for k in 0..rounds {
        let mut c = util::open_waiting(name).map_err(|e| format!("connection {k}: {e}"))?;
        let avail = c.peek(None).map_err(|e| e.to_string())?.available;
        if avail != 0 {
            return Err(format!(
                "connection {k}: {avail} bytes before anything was sent"
            ));
        }
        c.write_all(&payload(k, 1, 1 + k % 100))
            .map_err(|e| e.to_string())?;
        let want = payload(k, 0, 20);
        let mut got = vec![0u8; want.len()];
        c.read_exact(&mut got).map_err(|e| e.to_string())?;
        if got != want {
            return Err(format!("connection {k}: got another connection's data"));
        }
    }
    Ok(())
}

#[test]
fn connections_from_another_process_see_only_their_own_data() {
    let name = unique_name("churn-cross");
    let s = ServerOptions::new().create(&name).unwrap();
    let mut kid = child("churn_client", &format!("{name}|{ROUNDS}"));
    for k in 0..ROUNDS {
        util::connect_or_fail(&s, &mut kid);
        let want = payload(k, 1, 1 + k % 100);
        let mut got = vec![0u8; want.len()];
        (&s).read_exact(&mut got).unwrap();
        assert!(got == want, "connection {k}: got another connection's data");
        (&s).write_all(&payload(k, 0, 20)).unwrap();
        // The client reads the answer, then closes: a disconnect before would discard it.
        match s.flush_buffers() {
            Ok(()) => {}
            Err(e) => assert_eq!(win32_code(&e), ERROR_BROKEN_PIPE, "connection {k}: {e}"),
        }
        s.disconnect().unwrap();
    }
    expect_ok(kid);
}

/// One round of [`WIDE`] connections open at once on the instances `servers` of `name`, each
/// with a round trip: takes as many lock pages of the process as it can.
fn wide_round(servers: &[npipe::NamedPipeServer], name: &str, k: usize) -> Result<(), String> {
    for s in servers {
        listen(s);
    }
    // Clients go to the listening instances in the order they started listening (W53).
    let clients: Vec<_> = servers
        .iter()
        .map(|_| ClientOptions::new().open(name))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("open: {e}"))?;
    let mut b = [0u8; 64];
    for (j, (s, c)) in servers.iter().zip(&clients).enumerate() {
        s.connect().map_err(|e| format!("connect: {e}"))?;
        let up = payload(k * WIDE + j, 6, 24);
        c.send_msg(&up).map_err(|e| format!("send: {e}"))?;
        let m = s.recv_msg(&mut b).map_err(|e| format!("recv: {e}"))?;
        if b[..m.read] != up[..] {
            return Err(format!(
                "round {k}, connection {j}: another connection's data"
            ));
        }
    }
    drop(clients);
    for s in servers {
        s.disconnect().map_err(|e| format!("disconnect: {e}"))?;
    }
    Ok(())
}

/// Connections a [`wide_round`] holds open at once.
const WIDE: usize = 6;

fn wide_servers(name: &str) -> Vec<npipe::NamedPipeServer> {
    (0..WIDE)
        .map(|_| util::message_server(name, WIDE as u32))
        .collect()
}

/// A forked child goes on writing through a client end it inherited while the parent, which
/// closed its copy, makes and closes connections (and so does the child): the end's lock page
/// is shared with the child, and so are the pages either process had kept for reuse when it
/// forked, so none of them may go to a new connection. The quota is one message, so each of
/// the child's writes waits until the parent has read the one before, after its next round of
/// connections: the two interleave.
#[test]
fn a_forked_child_keeps_the_lock_page_of_its_inherited_end() {
    const MESSAGES: usize = ROUNDS / 4;
    let name = unique_name("churn-fork");
    let s = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .read_mode(ReadMode::Message)
        .in_buffer_size(40)
        .create(&name)
        .unwrap();
    let c = ClientOptions::new().open(&name).unwrap();
    s.connect().unwrap();
    // Keep some pages for reuse before the fork.
    let wide = unique_name("churn-fork-wide");
    let servers = wide_servers(&wide);
    wide_round(&servers, &wide, 0).unwrap();
    // SAFETY: the child only runs library code and leaves with _exit, running no destructors
    // of the parent's objects.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let mine = format!("{wide}-child");
        // AssertUnwindSafe: the child exits right after; nothing observes state a panic broke
        // (and with the `smb` feature a client holds a transport that is not RefUnwindSafe).
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let servers = wide_servers(&mine);
            (0..MESSAGES).all(|k| {
                c.send_msg(&payload(k, 5, 40)).is_ok() && wide_round(&servers, &mine, k).is_ok()
            })
        }))
        .unwrap_or_default();
        // SAFETY: terminating the child without unwinding.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    // The parent's copy goes; the child's stays open (W137).
    drop(c);
    let mut b = [0u8; 64];
    for k in 0..MESSAGES {
        wide_round(&servers, &wide, k).unwrap();
        // Bounded: a child that failed may leave its end open in a zombie's last moments.
        let m = s.recv_msg_timeout(&mut b, util::PEER_WAIT).unwrap();
        assert_eq!(
            &b[..m.read],
            &payload(k, 5, 40)[..],
            "message {k} of the child"
        );
    }
    assert!(util::forked_ok(util::wait_forked(pid)), "the child failed");
}
