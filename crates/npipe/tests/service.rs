//! The request/reply service (`npipe::serve`, `ServiceOptions`, `ServiceClient`) and
//! `pipe_exists`: the Rust counterpart of ipc.h. Clients and servers in other processes are this
//! test binary re-run in a role.

mod util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use npipe::error::code::*;
use npipe::{
    pipe_exists, serve, win32_code, ClientOptions, Peer, PipeMode, ReadMode, ServerOptions,
    Service, ServiceClient, ServiceOptions,
};
use util::{child, eventually, expect_ok, unique_name};

const LONG: Duration = Duration::from_secs(20);

/// The bare name (ipc.h style) of a unique full name.
fn bare(full: &str) -> String {
    full.trim_start_matches(r"\\.\pipe\").to_owned()
}

/// A service that echoes each request after a prefix.
fn echo(name: &str) -> Service {
    serve(name, |_, req, reply| {
        reply.extend_from_slice(b"echo:");
        reply.extend_from_slice(req);
    })
    .unwrap()
}

/// Child: `name|n`: connects, makes `n` ordered calls to a counting service, checks each reply.
fn role_caller(arg: &str) -> Result<(), String> {
    let (name, n) = arg.split_once('|').ok_or("bad arg")?;
    let n: usize = n.parse().map_err(|e| format!("{e}"))?;
    let mut c = ServiceClient::connect(name).map_err(|e| e.to_string())?;
    for i in 0..n {
        let req = format!("request {i}");
        let rep = c.call(req.as_bytes()).map_err(|e| e.to_string())?;
        if rep != format!("reply to {req}").as_bytes() {
            return Err(format!("call {i}: got {:?}", String::from_utf8_lossy(&rep)));
        }
    }
    Ok(())
}

/// Child: serves `name` (echo, and "quit" stops it) until told to quit.
fn role_server(name: &str) -> Result<(), String> {
    let (tx, rx) = mpsc::channel::<()>();
    let tx = Mutex::new(tx);
    let s = serve(name, move |peer, req, reply| {
        if req == b"quit" {
            let _ = tx.lock().unwrap().send(());
        }
        reply.extend_from_slice(format!("{}:", peer.process_id().unwrap_or(0)).as_bytes());
        reply.extend_from_slice(req);
    })
    .map_err(|e| e.to_string())?;
    rx.recv_timeout(LONG).map_err(|_| "no quit request")?;
    s.stop().map_err(|e| e.to_string())
}

/// Child: calls `name` in a loop across the parent's restarts of its service, as the ipc.h
/// update helper does: when a call fails because a stop ended the connection, it connects
/// again at once and retries the call once, which must be served by a newer generation (the
/// replies are the generation's number). Ends on the reply "quit".
fn role_retrier(name: &str) -> Result<(), String> {
    let connect = || -> Result<ServiceClient, String> {
        let end = Instant::now() + LONG;
        loop {
            match ServiceClient::connect(name) {
                Ok(c) => return Ok(c),
                Err(e) if win32_code(&e) == ERROR_FILE_NOT_FOUND && Instant::now() < end => {
                    thread::sleep(Duration::from_millis(1));
                }
                Err(e) => return Err(format!("connect: {e}")),
            }
        }
    };
    // The generation whose stop ended the last connection, until a newer one has answered.
    let mut ended_by: Option<u64> = None;
    let mut c = connect()?;
    let mut this_gen: Option<u64> = None;
    loop {
        match c.call(b"x") {
            Ok(r) if r == b"quit" => return Ok(()),
            Ok(r) => {
                let g: u64 = String::from_utf8_lossy(&r)
                    .parse()
                    .map_err(|e| format!("reply {r:?}: {e}"))?;
                if let Some(old) = ended_by.filter(|&old| g <= old) {
                    return Err(format!(
                        "generation {old} ended a connection, the next one reached {g}"
                    ));
                }
                ended_by = None;
                this_gen = Some(g);
            }
            Err(e) if [ERROR_BROKEN_PIPE, ERROR_NO_DATA].contains(&win32_code(&e)) => {
                match (this_gen, ended_by) {
                    (Some(g), _) => ended_by = Some(g),
                    (None, Some(g)) => {
                        return Err(format!(
                            "generation {g}'s stop ended a connection, and the retry on the \
                             connection made at once failed too: {e}"
                        ))
                    }
                    (None, None) => return Err(format!("the first call failed: {e}")),
                }
                c = connect()?;
                this_gen = None;
            }
            Err(e) => return Err(format!("call: {e}")),
        }
    }
}

/// Child: `name|n`: `n` times, connects, sends "notify" without waiting for a reply, and
/// leaves at once (ipc_client_send, then ipc_client_disconnect).
fn role_notifier(arg: &str) -> Result<(), String> {
    let (name, n) = arg.split_once('|').ok_or("bad arg")?;
    let n: usize = n.parse().map_err(|e| format!("{e}"))?;
    for i in 0..n {
        let c = ServiceClient::connect(name).map_err(|e| format!("connect {i}: {e}"))?;
        c.send(b"notify").map_err(|e| format!("send {i}: {e}"))?;
    }
    Ok(())
}

child_roles! {
    "caller" => role_caller,
    "server" => role_server,
    "retrier" => role_retrier,
    "notifier" => role_notifier,
}

/// A service whose replies are "reply to " + request.
fn replier(name: &str) -> Service {
    serve(name, |_, req, reply| {
        reply.extend_from_slice(b"reply to ");
        reply.extend_from_slice(req);
    })
    .unwrap()
}

#[test]
fn round_trip_with_bare_and_full_names() {
    let full = unique_name("svc-names");
    let s = echo(&bare(&full));
    assert_eq!(s.name(), full);
    // W1: names are case-insensitive, and a full name reaches the same service.
    let mut c = ServiceClient::connect(&full.to_uppercase()).unwrap();
    assert_eq!(c.call(b"hello").unwrap(), b"echo:hello");
    let mut c2 = ServiceClient::connect(&bare(&full)).unwrap();
    assert_eq!(c2.call(b"x").unwrap(), b"echo:x");
    assert_eq!(c.call(b"again").unwrap(), b"echo:again");
    s.stop().unwrap();
}

#[test]
fn pipe_exists_follows_the_service() {
    let full = unique_name("svc-exists");
    assert!(!pipe_exists(&full));
    assert!(!pipe_exists(&bare(&full)));
    let s = echo(&full);
    assert!(pipe_exists(&full));
    assert!(pipe_exists(&bare(&full).to_uppercase()));
    // A busy pipe exists too: hold its only instance.
    let busy = unique_name("svc-exists-busy");
    let one = ServerOptions::new().max_instances(1).create(&busy).unwrap();
    let _client = ClientOptions::new().open(&busy).unwrap();
    assert!(pipe_exists(&busy));
    drop(one);
    assert!(!pipe_exists(&busy));
    assert!(!pipe_exists(""), "an invalid name does not exist");
    s.stop().unwrap();
    assert!(!pipe_exists(&full), "the name is gone once stop returns");
    let e = ServiceClient::connect(&full).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_FILE_NOT_FOUND, "{e}");
}

#[test]
fn ordered_round_trips_between_processes() {
    let name = unique_name("svc-xproc");
    let s = replier(&name);
    let kids: Vec<_> = (0..3)
        .map(|_| child("caller", &format!("{name}|64")))
        .collect();
    for k in kids {
        expect_ok(k);
    }
    s.stop().unwrap();
}

#[test]
fn a_server_in_another_process() {
    let name = unique_name("svc-remote-server");
    let kid = child("server", &name);
    assert!(
        eventually(LONG, || pipe_exists(&name)),
        "the child never served"
    );
    let mut c = ServiceClient::connect(&name).unwrap();
    let pid = kid.id();
    assert_eq!(
        c.call(b"ping").unwrap(),
        format!("{}:ping", std::process::id()).as_bytes()
    );
    assert_eq!(
        c.call(b"quit").unwrap(),
        format!("{}:quit", std::process::id()).as_bytes()
    );
    assert_eq!(c.pipe().server_process_id().unwrap(), pid);
    expect_ok(kid);
    assert!(!pipe_exists(&name));
}

#[test]
fn hooks_run_once_per_connection_and_name_the_client() {
    let name = unique_name("svc-hooks");
    let (tx, rx) = mpsc::channel::<(&'static str, Peer)>();
    let (tc, td) = (Mutex::new(tx.clone()), Mutex::new(tx));
    let requests = Arc::new(AtomicUsize::new(0));
    let r2 = requests.clone();
    let s = ServiceOptions::new()
        .on_connect(move |p| tc.lock().unwrap().send(("connect", *p)).unwrap())
        .on_disconnect(move |p| td.lock().unwrap().send(("disconnect", *p)).unwrap())
        .serve(&name, move |_, req, reply| {
            r2.fetch_add(1, Ordering::SeqCst);
            reply.extend_from_slice(b"reply to ");
            reply.extend_from_slice(req);
        })
        .unwrap();
    let kid = child("caller", &format!("{name}|5"));
    let pid = kid.id();
    expect_ok(kid);
    let (what, first) = rx.recv_timeout(LONG).unwrap();
    assert_eq!(what, "connect");
    assert_eq!(first.process_id(), Some(pid));
    let (what, second) = rx.recv_timeout(LONG).unwrap();
    assert_eq!((what, second), ("disconnect", first));
    assert_eq!(requests.load(Ordering::SeqCst), 5);
    // A second connection is another peer.
    let mut c = ServiceClient::connect(&name).unwrap();
    c.call(b"x").unwrap();
    let (what, third) = rx.recv_timeout(LONG).unwrap();
    assert_eq!(what, "connect");
    assert_ne!(third.id(), first.id());
    assert_eq!(third.process_id(), Some(std::process::id()));
    drop(c);
    assert_eq!(rx.recv_timeout(LONG).unwrap(), ("disconnect", third));
    s.stop().unwrap();
    assert!(rx.try_recv().is_err(), "no hook runs twice");
}

#[test]
fn a_request_at_the_limit_is_served_and_a_longer_one_refused() {
    let name = unique_name("svc-limit");
    let calls = Arc::new(AtomicUsize::new(0));
    let left = Arc::new(AtomicUsize::new(0));
    let (c2, l2) = (calls.clone(), left.clone());
    let s = ServiceOptions::new()
        .max_message_len(1000)
        .on_disconnect(move |_| {
            l2.fetch_add(1, Ordering::SeqCst);
        })
        .serve(&name, move |_, req, reply| {
            c2.fetch_add(1, Ordering::SeqCst);
            reply.extend_from_slice(&(req.len() as u32).to_le_bytes());
        })
        .unwrap();
    let mut c = ServiceClient::connect(&name).unwrap();
    assert_eq!(c.call(&[7u8; 1000]).unwrap(), 1000u32.to_le_bytes());
    // W67: the server reads the first part, sees more, and disconnects the client (W44).
    let e = c.call(&[7u8; 1001]).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_PIPE_NOT_CONNECTED, "{e}");
    assert!(e.to_string().contains("1001"), "{e}");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the handler never saw it");
    assert!(eventually(LONG, || left.load(Ordering::SeqCst) == 1));
    // Far over the quota: the client's write waits until the disconnect ends it (W48).
    let mut c = ServiceClient::connect(&name).unwrap();
    let e = c.call(&vec![1u8; 1 << 20]).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_PIPE_NOT_CONNECTED, "{e}");
    assert!(eventually(LONG, || left.load(Ordering::SeqCst) == 2));
    // The service goes on.
    let mut c = ServiceClient::connect(&name).unwrap();
    assert_eq!(c.call(b"ok").unwrap(), 2u32.to_le_bytes());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    s.stop().unwrap();
}

/// A service of `name` that counts the "notify" requests it handles, and checks that it
/// handles exactly `n` of them once `send` has sent them, then stops it.
fn every_notification_handled(name: &str, n: usize, send: impl FnOnce()) {
    let handled = Arc::new(AtomicUsize::new(0));
    let count = handled.clone();
    let svc = serve(name, move |_, req, _| {
        assert_eq!(req, b"notify");
        count.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    send();
    eventually(LONG, || handled.load(Ordering::SeqCst) >= n);
    assert_eq!(
        handled.load(Ordering::SeqCst),
        n,
        "every request sent was handled"
    );
    svc.stop().unwrap();
}

#[test]
fn a_request_sent_before_a_client_leaves_is_handled() {
    // A client that sends and closes at once (ipc_client_send, then ipc_client_disconnect)
    // often reaches an instance before its worker's connect, which then finds it gone
    // (ERROR_NO_DATA, W43); what it wrote stays readable after its close (W113) and must
    // still reach the handler.
    let name = unique_name("svc-fire-forget");
    const N: usize = 300;
    every_notification_handled(&name, N, || {
        for _ in 0..N {
            let c = ServiceClient::connect(&name).unwrap();
            c.send(b"notify").unwrap();
        }
    });
}

#[test]
fn requests_sent_by_clients_in_other_processes_that_leave_at_once_are_handled() {
    // As above, with the clients in two other processes, which is how ipc.h's notifications
    // are sent.
    let name = unique_name("svc-fire-forget-xp");
    const EACH: usize = 150;
    every_notification_handled(&name, 2 * EACH, || {
        let kids: Vec<_> = (0..2)
            .map(|_| child("notifier", &format!("{name}|{EACH}")))
            .collect();
        for kid in kids {
            expect_ok(kid);
        }
    });
}

#[test]
fn refuse_if_refuses_as_the_length_limit_does() {
    let name = unique_name("svc-refuse");
    let calls = Arc::new(AtomicUsize::new(0));
    let left = Arc::new(AtomicUsize::new(0));
    let (c2, l2) = (calls.clone(), left.clone());
    let s = ServiceOptions::new()
        .refuse_if(|req| req.starts_with(b"bad"))
        .on_disconnect(move |_| {
            l2.fetch_add(1, Ordering::SeqCst);
        })
        .serve(&name, move |_, req, reply| {
            c2.fetch_add(1, Ordering::SeqCst);
            reply.extend_from_slice(req);
        })
        .unwrap();
    let mut c = ServiceClient::connect(&name).unwrap();
    assert_eq!(c.call(b"good").unwrap(), b"good");
    let e = c.call(b"bad one").unwrap_err();
    assert_eq!(win32_code(&e), ERROR_PIPE_NOT_CONNECTED, "{e}");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the handler never saw it");
    assert!(eventually(LONG, || left.load(Ordering::SeqCst) == 1));
    let mut c = ServiceClient::connect(&name).unwrap();
    assert_eq!(c.call(b"fine").unwrap(), b"fine");
    s.stop().unwrap();
}

#[test]
fn replies_are_not_limited_and_empty_messages_travel() {
    let name = unique_name("svc-sizes");
    let s = ServiceOptions::new()
        .max_message_len(100)
        .serve(&name, |_, req, reply| {
            if req == b"big" {
                reply.extend((0..300_000u32).map(|i| (i % 251) as u8));
            } else if !req.is_empty() {
                reply.extend_from_slice(req);
            }
        })
        .unwrap();
    let mut c = ServiceClient::connect(&name).unwrap();
    let big = c.call(b"big").unwrap();
    assert_eq!(big.len(), 300_000);
    assert!(big.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
    // A zero-length request is a message too (W76), and so is the empty reply.
    assert_eq!(c.call(b"").unwrap(), b"");
    let mut reply = Vec::with_capacity(8);
    c.call_into(b"again", &mut reply).unwrap();
    assert_eq!(reply, b"again");
    s.stop().unwrap();
}

#[test]
fn handlers_of_different_clients_run_concurrently() {
    const N: usize = 4;
    let name = unique_name("svc-concurrent");
    let inside = Arc::new((Mutex::new(0usize), Condvar::new()));
    let i2 = inside.clone();
    let s = serve(&name, move |_, _, reply| {
        // Every handler waits until all N are inside at once: only concurrent calls get there.
        let (m, cv) = &*i2;
        let mut n = m.lock().unwrap();
        *n += 1;
        cv.notify_all();
        let (n, t) = cv.wait_timeout_while(n, LONG, |n| *n < N).unwrap();
        drop(n);
        reply.extend_from_slice(if t.timed_out() { b"alone" } else { b"together" });
    })
    .unwrap();
    let threads: Vec<_> = (0..N)
        .map(|_| {
            let name = name.clone();
            thread::spawn(move || ServiceClient::connect(&name).unwrap().call(b"go").unwrap())
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), b"together");
    }
    s.stop().unwrap();
}

#[test]
fn a_client_beyond_the_instances_waits_for_a_free_one() {
    let name = unique_name("svc-full");
    let s = ServiceOptions::new()
        .instances(2)
        .serve(&name, |_, req, reply| reply.extend_from_slice(req))
        .unwrap();
    let mut a = ServiceClient::connect(&name).unwrap();
    let mut b = ServiceClient::connect(&name).unwrap();
    a.call(b"a").unwrap();
    b.call(b"b").unwrap();
    assert_eq!(s.clients(), 2);
    // W32: no instance listens, so the open is busy and the client waits (W30) until timeout.
    let e = ServiceClient::connect_timeout(&name, Duration::from_millis(300)).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_SEM_TIMEOUT, "{e}");
    let n2 = name.clone();
    let third = thread::spawn(move || {
        let mut c = ServiceClient::connect(&n2)?;
        c.call(b"third")
    });
    thread::sleep(Duration::from_millis(300));
    assert!(!third.is_finished(), "the third client must wait");
    drop(a);
    let t0 = Instant::now();
    while !third.is_finished() {
        assert!(t0.elapsed() < LONG, "the third client was never served");
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(third.join().unwrap().unwrap(), b"third");
    assert_eq!(b.call(b"still").unwrap(), b"still");
    s.stop().unwrap();
}

#[test]
fn ready_workers_take_a_burst_without_busy() {
    let name = unique_name("svc-ready");
    let s = ServiceOptions::new()
        .ready_workers(3)
        .serve(&name, |_, req, reply| reply.extend_from_slice(req))
        .unwrap();
    // Three instances listen from the start (W33), so three plain opens succeed at once.
    let opened: Vec<_> = (0..3)
        .map(|_| ClientOptions::new().open(&name).unwrap())
        .collect();
    for c in &opened {
        c.set_mode(ReadMode::Message, false).unwrap();
        let mut buf = [0u8; 8];
        let m = c.transact(b"t", &mut buf).unwrap();
        assert_eq!(&buf[..m.read], b"t");
    }
    drop(opened);
    assert!(eventually(LONG, || s.clients() == 0));
    s.stop().unwrap();
}

#[test]
fn many_threads_connect_at_once() {
    const N: usize = 32;
    let name = unique_name("svc-burst");
    let s = replier(&name);
    let gate = Arc::new(Barrier::new(N));
    let threads: Vec<_> = (0..N)
        .map(|t| {
            let (name, gate) = (name.clone(), gate.clone());
            thread::spawn(move || {
                gate.wait();
                let mut c = ServiceClient::connect(&name).unwrap();
                for i in 0..10 {
                    let req = format!("{t}/{i}");
                    assert_eq!(
                        c.call(req.as_bytes()).unwrap(),
                        format!("reply to {req}").as_bytes()
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(eventually(LONG, || s.clients() == 0));
    s.stop().unwrap();
}

#[test]
fn stop_waits_for_a_handler_in_progress_and_its_reply_arrives() {
    let name = unique_name("svc-stop-busy");
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let started_tx = Mutex::new(started_tx);
    let finished = Arc::new(AtomicUsize::new(0));
    let f2 = finished.clone();
    let s = serve(&name, move |_, _, reply| {
        started_tx.lock().unwrap().send(()).unwrap();
        thread::sleep(Duration::from_millis(500));
        f2.fetch_add(1, Ordering::SeqCst);
        reply.extend_from_slice(b"done");
    })
    .unwrap();
    let n2 = name.clone();
    let caller = thread::spawn(move || {
        let mut c = ServiceClient::connect(&n2).unwrap();
        let first = c.call(b"slow");
        (first, c.call(b"after"))
    });
    started_rx.recv_timeout(LONG).unwrap();
    s.stop().unwrap();
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "stop returned before the handler did"
    );
    assert!(!pipe_exists(&name));
    let (first, second) = caller.join().unwrap();
    // W113: the reply written before the close is still read.
    assert_eq!(first.unwrap(), b"done");
    let e = second.unwrap_err();
    assert!(
        [ERROR_BROKEN_PIPE, ERROR_NO_DATA].contains(&win32_code(&e)),
        "{e}"
    );
}

#[test]
fn stop_ends_idle_clients_and_runs_their_disconnect_hooks() {
    let name = unique_name("svc-stop-idle");
    let left = Arc::new(AtomicUsize::new(0));
    let l2 = left.clone();
    let s = ServiceOptions::new()
        .on_disconnect(move |_| {
            l2.fetch_add(1, Ordering::SeqCst);
        })
        .serve(&name, |_, req, reply| reply.extend_from_slice(req))
        .unwrap();
    let mut clients: Vec<_> = (0..5)
        .map(|_| ServiceClient::connect(&name).unwrap())
        .collect();
    for c in &mut clients {
        c.call(b"x").unwrap();
    }
    let t0 = Instant::now();
    s.stop().unwrap();
    assert!(t0.elapsed() < LONG);
    assert_eq!(
        left.load(Ordering::SeqCst),
        5,
        "stop returns after every hook"
    );
    // The request cannot be sent on a connection the stop closed: ERROR_NO_DATA, as a write
    // to a closed pipe fails on Windows (W114; `ServiceClient::call`'s documented errors).
    for c in &mut clients {
        let e = c.call(b"y").unwrap_err();
        assert_eq!(win32_code(&e), ERROR_NO_DATA, "{e}");
    }
}

/// A client whose connection a stop ends, and that connects again at once, must not reach the
/// stopping service: the stop closes the instances waiting for a client before the connected
/// ones (the ipc.h helper that reconnects across a service restart relies on it). Before,
/// the order was the worker map's, and the reconnect often took a listening instance that the
/// same stop then closed.
#[test]
fn a_client_ended_by_a_stop_finds_no_instance_left_to_connect_to() {
    for round in 0..20 {
        let name = unique_name("svc-stop-order");
        let s = ServiceOptions::new()
            .instances(16)
            .ready_workers(8)
            .serve(&name, |_, req, reply| reply.extend_from_slice(req))
            .unwrap();
        let mut c = ServiceClient::connect(&name).unwrap();
        c.call(b"x").unwrap(); // its worker now waits for the next request
        let (tx, rx) = mpsc::channel();
        let reader = thread::spawn(move || {
            let mut buf = [0u8; 8];
            let e = c.recv(&mut buf).unwrap_err();
            // Connect again at once, as a client that retries does.
            let again = ClientOptions::new().open(&name);
            tx.send(()).unwrap();
            (e, again.map(drop))
        });
        // The reader blocks, and the pool tops its listeners up again after this connection.
        thread::sleep(Duration::from_millis(20));
        s.stop().unwrap();
        rx.recv_timeout(LONG).unwrap();
        let (e, again) = reader.join().unwrap();
        assert_eq!(win32_code(&e), ERROR_BROKEN_PIPE, "round {round}: {e}");
        let e = again.expect_err("connected to a service that was stopping");
        assert_eq!(win32_code(&e), ERROR_FILE_NOT_FOUND, "round {round}: {e}");
    }
}

/// Across two processes: this process stops and serves its name again, 15 times, each time once
/// the client in the other process has been served by the running generation; the client
/// retries a call once after a stop ended its connection (`role_retrier`), and that retry must
/// succeed on a newer generation. The pattern of the ipc.h update service and its helper.
#[test]
fn a_client_in_another_process_retries_across_restarts() {
    let name = unique_name("svc-restart-xproc");
    let kid = child("retrier", &name);
    let generation = |g: u64| {
        let (tx, rx) = mpsc::channel::<()>();
        let tx = Mutex::new(tx);
        let s = ServiceOptions::new()
            .ready_workers(4)
            .serve(&name, move |_, _, reply| {
                let _ = tx.lock().unwrap().send(());
                reply.extend_from_slice(g.to_string().as_bytes());
            })
            .unwrap();
        (s, rx)
    };
    for g in 1..=15 {
        let (s, served) = generation(g);
        served
            .recv_timeout(LONG)
            .unwrap_or_else(|_| panic!("generation {g}: the client never called"));
        s.stop().unwrap();
    }
    let last = serve(&name, |_, _, reply| reply.extend_from_slice(b"quit")).unwrap();
    expect_ok(kid);
    last.stop().unwrap();
}

#[test]
fn stop_does_not_wait_for_a_client_that_does_not_read() {
    let name = unique_name("svc-stop-unread");
    let s = ServiceOptions::new()
        .max_message_len(1000)
        .serve(&name, |_, _, reply| reply.resize(1000, b'r'))
        .unwrap();
    let c = ServiceClient::connect(&name).unwrap();
    // Three requests, no reads: the second reply no longer fits the 1000-byte quota (W91), so
    // its worker blocks in the write (W110: the PIPE_NOWAIT attempt wrote nothing).
    for _ in 0..3 {
        c.pipe().send_msg(b"q").unwrap();
    }
    assert!(eventually(LONG, || c.pipe().peek(None).unwrap().available >= 2000));
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || tx.send(s.stop()).unwrap());
    rx.recv_timeout(LONG)
        .expect("stop waited for the client")
        .unwrap();
    // W113: what was written stays readable after the close.
    let mut buf = vec![0u8; 1000];
    let m = c.pipe().recv_msg(&mut buf).unwrap();
    assert_eq!((m.read, m.left), (1000, 0));
    assert!(buf.iter().all(|&b| b == b'r'));
}

#[test]
fn a_panicking_handler_drops_its_client_and_stop_reports_it() {
    let name = unique_name("svc-panic");
    let left = Arc::new(AtomicUsize::new(0));
    let l2 = left.clone();
    let s = ServiceOptions::new()
        .on_disconnect(move |_| {
            l2.fetch_add(1, Ordering::SeqCst);
        })
        .serve(&name, |_, req, reply| {
            if req == b"boom" {
                panic!("handler asked to fail");
            }
            reply.extend_from_slice(req);
        })
        .unwrap();
    let mut a = ServiceClient::connect(&name).unwrap();
    let mut b = ServiceClient::connect(&name).unwrap();
    let e = a.call(b"boom").unwrap_err();
    assert_eq!(win32_code(&e), ERROR_PIPE_NOT_CONNECTED, "{e}");
    assert!(eventually(LONG, || left.load(Ordering::SeqCst) == 1));
    assert_eq!(b.call(b"fine").unwrap(), b"fine");
    let mut c = ServiceClient::connect(&name).unwrap();
    assert_eq!(c.call(b"new").unwrap(), b"new");
    let e = s.stop().unwrap_err();
    assert_eq!(win32_code(&e), ERROR_UNHANDLED_EXCEPTION, "{e}");
    assert!(e.to_string().contains("handler asked to fail"), "{e}");
    assert!(e.to_string().contains(&name), "{e}");
}

#[test]
fn stop_from_inside_a_handler_returns() {
    let name = unique_name("svc-stop-inside");
    let slot: Arc<Mutex<Option<Service>>> = Arc::new(Mutex::new(None));
    let s2 = slot.clone();
    let s = serve(&name, move |_, req, reply| {
        if req == b"stop" {
            let me = s2.lock().unwrap().take().expect("service stored");
            me.stop().unwrap();
            reply.extend_from_slice(b"stopped");
        }
    })
    .unwrap();
    *slot.lock().unwrap() = Some(s);
    let mut idle = ServiceClient::connect(&name).unwrap();
    idle.call(b"hi").unwrap();
    let mut c = ServiceClient::connect(&name).unwrap();
    assert_eq!(c.call(b"stop").unwrap(), b"stopped");
    assert!(idle.call(b"hi").is_err(), "the other client was ended");
    assert!(eventually(LONG, || !pipe_exists(&name)));
}

#[test]
fn dropping_the_service_stops_it() {
    let name = unique_name("svc-drop");
    let s = echo(&name);
    let mut c = ServiceClient::connect(&name).unwrap();
    c.call(b"x").unwrap();
    drop(s);
    assert!(!pipe_exists(&name));
    assert!(c.call(b"y").is_err());
}

#[test]
fn options_out_of_range_and_a_name_already_served() {
    let name = unique_name("svc-options");
    let check = |o: &ServiceOptions| {
        let e = o.serve(&name, |_, _, _| {}).unwrap_err();
        assert_eq!(win32_code(&e), ERROR_INVALID_PARAMETER, "{e}");
        assert!(e.to_string().contains(&name), "{e}");
    };
    check(ServiceOptions::new().instances(0));
    check(ServiceOptions::new().instances(255));
    check(ServiceOptions::new().ready_workers(0));
    check(ServiceOptions::new().instances(2).ready_workers(3));
    check(ServiceOptions::new().max_message_len(0));
    let e = serve(r"\\.\pipe\", |_, _, _| {}).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_INVALID_NAME, "{e}");
    let s = echo(&name);
    // W16: the first instance is FILE_FLAG_FIRST_PIPE_INSTANCE, so the name is this service's.
    let e = serve(&name, |_, _, _| {}).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_ACCESS_DENIED, "{e}");
    let mut c = ServiceClient::connect(&name).unwrap();
    assert_eq!(c.call(b"mine").unwrap(), b"echo:mine");
    s.stop().unwrap();
}

#[test]
fn interoperates_with_plain_pipe_ends() {
    // A ServiceClient calling a server made with ServerOptions (CreateNamedPipe).
    let name = unique_name("svc-interop");
    let server = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .create(&name)
        .unwrap();
    let n2 = name.clone();
    let t = thread::spawn(move || ServiceClient::connect(&n2).unwrap().call(b"question"));
    util::connect_or_fail_thread(&server, &t);
    let mut buf = [0u8; 64];
    let m = server.recv_msg(&mut buf).unwrap();
    assert_eq!(&buf[..m.read], b"question");
    server.send_msg(b"answer").unwrap();
    assert_eq!(t.join().unwrap().unwrap(), b"answer");
    drop(server);
    // A byte-type server: no message boundaries, a call returns what one read gets.
    let server = ServerOptions::new().create(&name).unwrap();
    let mut c = ServiceClient::connect(&name).unwrap();
    assert!(!c.pipe().is_message_type());
    server.connect().unwrap();
    let t = thread::spawn(move || {
        let m = server.recv_msg(&mut [0u8; 8]).unwrap();
        server.send_msg(b"bytes").unwrap();
        m.read
    });
    assert_eq!(c.call(b"q").unwrap(), b"bytes");
    assert_eq!(t.join().unwrap(), 1);
    drop(c);
    // A plain client (CreateFile + TransactNamedPipe) calling a service.
    let s = echo(&name);
    let c = ClientOptions::new().open(&name).unwrap();
    c.set_mode(ReadMode::Message, false).unwrap();
    let mut buf = [0u8; 4];
    let m = c.transact(b"abcdef", &mut buf).unwrap();
    // W127: a reply longer than the buffer leaves the rest to read.
    assert_eq!((m.read, m.left), (4, 7));
    let mut rest = [0u8; 16];
    let m = c.recv_msg(&mut rest).unwrap();
    assert_eq!(&rest[..m.read], b":abcdef");
    s.stop().unwrap();
}

#[test]
fn debug_output_names_the_pipe() {
    let name = unique_name("svc-debug");
    let mut o = ServiceOptions::new();
    o.instances(3).on_connect(|_| {});
    let text = format!("{o:?}");
    assert!(
        text.contains("instances: 3") && text.contains("on_connect: true"),
        "{text}"
    );
    let s = o.serve(&name, |_, _, _| {}).unwrap();
    // The name as written, like the pipe ends' `Debug` (not escaped).
    assert!(format!("{s:?}").contains(&name));
    let c = ServiceClient::connect(&name).unwrap();
    assert!(format!("{c:?}").contains("ServiceClient"));
    s.stop().unwrap();
}
