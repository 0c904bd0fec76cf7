//! Restarting a service under the same name while its clients reconnect: `Service::stop`
//! followed by `serve` again, the pattern of the ipc.h examples update_service.c and
//! update_helper.c, where a client whose call a restart ends connects again at once and retries
//! the command once. Each served generation answers with its own number, so a client can tell
//! which service it reached.

mod util;

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use npipe::error::code::*;
use npipe::{pipe_exists, win32_code, ClientOptions, Service, ServiceClient, ServiceOptions};
use util::{eventually, unique_name};

/// How long a test waits for a step of a peer thread (or a stop) before it fails: a hang
/// becomes a failure, never a check of speed.
const LONG: Duration = Duration::from_secs(20);

/// The generation number a reply carries.
fn gen_of(reply: &[u8]) -> Result<u64, String> {
    <[u8; 8]>::try_from(reply)
        .map(u64::from_le_bytes)
        .map_err(|_| format!("a reply of {} bytes: {reply:?}", reply.len()))
}

/// Whether a call failed because the service closed the connection (it stopped).
fn ended_by_stop(e: &io::Error) -> bool {
    matches!(win32_code(e), ERROR_BROKEN_PIPE | ERROR_NO_DATA)
}

/// Checks that nothing serves `name` once a stop has returned.
#[track_caller]
fn assert_gone(name: &str, what: &str) {
    assert!(
        !pipe_exists(name),
        "{what}: the name still exists after stop returned"
    );
    match ClientOptions::new().open(name) {
        Ok(_) => panic!("{what}: a client connected after stop returned"),
        Err(e) => assert_eq!(win32_code(&e), ERROR_FILE_NOT_FOUND, "{what}: {e}"),
    }
}

/// Stops `service` on another thread and waits for it at most [`LONG`]: a stop that hangs fails
/// the test instead of blocking it.
#[track_caller]
fn stop_within(service: Service, what: &str) {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(service.stop());
    });
    match rx.recv_timeout(LONG) {
        Ok(r) => r.unwrap_or_else(|e| panic!("{what}: stop: {e}")),
        Err(_) => panic!("{what}: stop did not return within {LONG:?}"),
    }
}

/// Serves generation `g` of `name` for the restart loop: every reply is `g`; a request "slow"
/// is answered after a short pause, so that a stop often finds handler calls in progress.
fn serve_generation(name: &str, g: u64) -> Service {
    ServiceOptions::new()
        .instances(16)
        .ready_workers(6)
        .serve(name, move |_, req, reply| {
            if req == b"slow" {
                thread::sleep(Duration::from_micros(300));
            }
            reply.extend_from_slice(&g.to_le_bytes());
        })
        .unwrap_or_else(|e| panic!("generation {g}: serve failed: {e}"))
}

/// What the clients of the restart loop report to the thread that restarts the service.
#[derive(Default)]
struct Progress {
    state: Mutex<ProgressState>,
    changed: Condvar,
}

#[derive(Default)]
struct ProgressState {
    /// The newest generation each client has had a reply from.
    seen: Vec<u64>,
    /// What went wrong in the clients.
    errors: Vec<String>,
    /// The last generation has stopped: the clients end.
    done: bool,
}

impl Progress {
    /// The state, also after a panic of a thread that held it (the test then fails anyway).
    fn lock(&self) -> MutexGuard<'_, ProgressState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn saw(&self, client: usize, g: u64) {
        let mut st = self.lock();
        st.seen[client] = st.seen[client].max(g);
        drop(st);
        self.changed.notify_all();
    }

    fn fail(&self, why: String) {
        self.lock().errors.push(why);
        self.changed.notify_all();
    }

    fn done(&self) -> bool {
        self.lock().done
    }

    /// Waits until every client has had a reply from generation `g`; panics with the clients'
    /// errors when one failed, or after [`LONG`].
    fn wait_all_saw(&self, g: u64) {
        let (st, t) = self
            .changed
            .wait_timeout_while(self.lock(), LONG, |st| {
                st.errors.is_empty() && st.seen.iter().any(|&s| s < g)
            })
            .unwrap_or_else(PoisonError::into_inner);
        let (errors, seen) = (st.errors.clone(), st.seen.clone());
        drop(st);
        assert!(
            errors.is_empty(),
            "generation {g}: a client failed: {errors:#?}"
        );
        assert!(
            !t.timed_out(),
            "generation {g}: not every client was served within {LONG:?}: {seen:?}"
        );
    }
}

/// Ends the clients of the restart loop when the test ends, also when it fails.
struct SetDone(Arc<Progress>);

impl Drop for SetDone {
    fn drop(&mut self) {
        self.0.lock().done = true;
        self.0.changed.notify_all();
    }
}

/// Connects to `name` at once, and again while nothing serves it (between two generations) or
/// every instance is busy; `None` once the test is done.
fn reconnect(name: &str, p: &Progress) -> Result<Option<ServiceClient>, String> {
    let end = Instant::now() + LONG;
    loop {
        match ServiceClient::connect_timeout(name, Duration::from_millis(100)) {
            Ok(c) => return Ok(Some(c)),
            Err(e) if matches!(win32_code(&e), ERROR_FILE_NOT_FOUND | ERROR_SEM_TIMEOUT) => {}
            Err(e) => return Err(format!("connect: {e}")),
        }
        if p.done() {
            return Ok(None);
        }
        if Instant::now() >= end {
            return Err(format!("no generation to connect to within {LONG:?}"));
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// A client of the restart loop: calls on one connection until a stop ends it, then connects
/// again at once and retries the call once, which must be served by a newer generation.
/// Returns the generation of each of its connections, in order.
fn restart_client(name: &str, me: usize, slow: bool, p: &Progress) -> Result<Vec<u64>, String> {
    let request: &[u8] = if slow { b"slow" } else { b"fast" };
    let mut generations = Vec::new();
    // The generation whose stop ended this client's previous connection, until a new
    // connection has been served.
    let mut ended_by: Option<u64> = None;
    while let Some(mut c) = reconnect(name, p)? {
        let mut this_gen: Option<u64> = None;
        loop {
            match c.call(request) {
                Ok(reply) => {
                    let h = gen_of(&reply).map_err(|e| format!("client {me}: {e}"))?;
                    match this_gen {
                        None => {
                            if let Some(g) = ended_by.filter(|&g| h <= g) {
                                return Err(format!(
                                    "client {me}: generation {g}'s stop ended its connection, \
                                     and the connection it made at once was served by \
                                     generation {h}"
                                ));
                            }
                            ended_by = None;
                            this_gen = Some(h);
                            generations.push(h);
                            p.saw(me, h);
                        }
                        Some(g) if g != h => {
                            return Err(format!(
                                "client {me}: one connection served by generations {g} and {h}"
                            ));
                        }
                        Some(_) => {}
                    }
                }
                Err(e) if ended_by_stop(&e) => match (this_gen, ended_by) {
                    (Some(g), _) => {
                        ended_by = Some(g);
                        break;
                    }
                    (None, Some(g)) => {
                        return Err(format!(
                            "client {me}: generation {g}'s stop ended its connection, and the \
                             retry on the connection it made at once failed too (ended by the \
                             same stop?): {e}"
                        ));
                    }
                    (None, None) => {
                        return Err(format!(
                            "client {me}: its first connection ended before any reply: {e}"
                        ));
                    }
                },
                Err(e) => return Err(format!("client {me}: call: {e}")),
            }
        }
    }
    Ok(generations)
}

/// The restart loop: one thread serves a name, stops it and serves it again, 40 times, while
/// six clients call it in a loop and, when a call fails, connect again at once and retry once.
/// Each generation is stopped only once every client has had a reply from it, so every client
/// has exactly one connection per generation, and a stop finds them reading, inside the
/// handler or between two calls. Checks that a retry after a stop never fails (the connection
/// made at once never reaches an instance of the stopping service, whose stop would end it a
/// second time) and is always served by a newer generation, that each client's connections
/// are served by generations 1, 2, ... in order, and that once `stop` has returned the name is
/// gone (`pipe_exists` false, a connect fails with ERROR_FILE_NOT_FOUND).
#[test]
fn a_client_retrying_across_restarts_is_served_by_the_next_generation() {
    const GENERATIONS: u64 = 40;
    const CLIENTS: usize = 6;
    let name = unique_name("restart-loop");
    let progress = Arc::new(Progress::default());
    progress.lock().seen = vec![0; CLIENTS];
    let done = SetDone(progress.clone());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|me| {
            let (name, p) = (name.clone(), progress.clone());
            thread::spawn(move || {
                let r = restart_client(&name, me, me % 2 == 0, &p);
                if let Err(e) = &r {
                    p.fail(e.clone());
                }
                r
            })
        })
        .collect();
    for g in 1..=GENERATIONS {
        let service = serve_generation(&name, g);
        progress.wait_all_saw(g);
        stop_within(service, &format!("generation {g}"));
        assert_gone(&name, &format!("generation {g}"));
    }
    drop(done);
    assert!(
        eventually(LONG, || clients.iter().all(|t| t.is_finished())),
        "a client did not end after the last generation stopped"
    );
    let expected: Vec<u64> = (1..=GENERATIONS).collect();
    for (me, t) in clients.into_iter().enumerate() {
        let generations = t.join().unwrap().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            generations, expected,
            "client {me}: the generations of its connections"
        );
    }
    assert!(progress.lock().errors.is_empty());
}

/// A client waiting in `ServiceClient::connect` for a free instance of a busy service (both
/// instances held by other clients) while the service restarts, five times. Checks that the
/// stop ends the holders' connections without handing their instances to the waiter (it is
/// never served by the stopping generation: its call would fail), that the name is gone once
/// `stop` returns, and that the waiter is then served by the next generation.
#[test]
fn a_client_waiting_for_a_busy_service_is_served_by_the_restarted_one() {
    const ROUNDS: u64 = 5;
    let name = unique_name("restart-waiter");
    let serve_gen = |g: u64| {
        ServiceOptions::new()
            .instances(2)
            .serve(&name, move |_, _, reply| {
                reply.extend_from_slice(&g.to_le_bytes())
            })
            .unwrap_or_else(|e| panic!("generation {g}: serve failed: {e}"))
    };
    let mut service = serve_gen(1);
    for g in 1..=ROUNDS {
        let mut holders: Vec<ServiceClient> = (0..2)
            .map(|_| ServiceClient::connect(&name).unwrap())
            .collect();
        for h in &mut holders {
            assert_eq!(gen_of(&h.call(b"hold").unwrap()), Ok(g));
        }
        let (tx, rx) = mpsc::channel();
        let n2 = name.clone();
        thread::spawn(move || {
            let end = Instant::now() + LONG;
            let r = loop {
                match ServiceClient::connect_timeout(&n2, LONG) {
                    Ok(mut c) => break c.call(b"waited").map_err(|e| e.to_string()),
                    // Between the stop and the next serve, if it was not waiting yet.
                    Err(e) if win32_code(&e) == ERROR_FILE_NOT_FOUND && Instant::now() < end => {
                        thread::sleep(Duration::from_millis(1));
                    }
                    Err(e) => break Err(format!("connect: {e}")),
                }
            };
            let _ = tx.send(r);
        });
        // Give it time to start waiting (the checks hold whether it did or not).
        thread::sleep(Duration::from_millis(50));
        assert_eq!(
            rx.try_recv(),
            Err(TryRecvError::Empty),
            "round {g}: the waiter got through while both instances were held"
        );
        stop_within(service, &format!("generation {g}"));
        assert_gone(&name, &format!("generation {g}"));
        assert_eq!(
            rx.try_recv(),
            Err(TryRecvError::Empty),
            "round {g}: the waiter was answered while nothing served the name"
        );
        for h in &mut holders {
            let e = h.call(b"again").unwrap_err();
            assert!(ended_by_stop(&e), "round {g}: a holder's call: {e}");
        }
        service = serve_gen(g + 1);
        let reply = rx
            .recv_timeout(LONG)
            .unwrap_or_else(|_| panic!("round {g}: the waiter was not served within {LONG:?}"))
            .unwrap_or_else(|e| panic!("round {g}: the waiter's call failed: {e}"));
        assert_eq!(gen_of(&reply), Ok(g + 1), "round {g}: the waiter's reply");
    }
    stop_within(service, "the last generation");
    assert_gone(&name, "the last generation");
}

/// Stopping a service while eight clients are each inside a handler call, with a second
/// request of each already sent behind the first. The handlers wait for a gate that opens only
/// once the stop has begun (the service accepts no client any more: an open finds every
/// instance busy) and checks that `stop` has not returned then. Then checks that `stop`
/// returns without error, that every call in progress gets its reply, that no request queued
/// behind one is handled, that each client's next read fails as the connection was closed
/// (no client hangs), that the disconnect hook ran for every client, that no handler or hook
/// runs after `stop` returned, and that the name is gone.
#[test]
fn stop_lets_calls_in_progress_finish_and_handles_no_queued_request() {
    const N: usize = 8;
    let name = unique_name("restart-midcall");
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let entered_tx = Mutex::new(entered_tx);
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let stopped = Arc::new(AtomicBool::new(false));
    let late = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(Mutex::new(Vec::<(u64, Vec<u8>)>::new()));
    let gone = Arc::new(Mutex::new(Vec::<u64>::new()));
    let (g2, s2, l2, c2) = (gate.clone(), stopped.clone(), late.clone(), calls.clone());
    let (s3, l3, gone3) = (stopped.clone(), late.clone(), gone.clone());
    let service = ServiceOptions::new()
        .instances(N as u32 + 4)
        .ready_workers(4)
        .on_disconnect(move |peer| {
            if s3.load(Ordering::SeqCst) {
                l3.fetch_add(1, Ordering::SeqCst);
            }
            gone3.lock().unwrap().push(peer.id());
        })
        .serve(&name, move |peer, req, reply| {
            if s2.load(Ordering::SeqCst) {
                l2.fetch_add(1, Ordering::SeqCst);
            }
            c2.lock().unwrap().push((peer.id(), req.to_vec()));
            entered_tx.lock().unwrap().send(()).unwrap();
            let (open, cv) = &*g2;
            let (open, t) = cv
                .wait_timeout_while(open.lock().unwrap(), LONG, |open| !*open)
                .unwrap();
            drop(open);
            if t.timed_out() {
                reply.extend_from_slice(b"the gate never opened");
            } else {
                reply.extend_from_slice(b"reply to ");
                reply.extend_from_slice(req);
            }
        })
        .unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    // Each client says when both its requests are sent: the gate opens only after that, so a
    // second request is always queued behind a call in progress (not sent after its reply).
    let (sent_tx, sent_rx) = mpsc::channel::<()>();
    for i in 0..N {
        let (name, done_tx, sent_tx) = (name.clone(), done_tx.clone(), sent_tx.clone());
        thread::spawn(move || {
            let r = (|| -> io::Result<(Vec<u8>, io::Error)> {
                let c = ServiceClient::connect(&name)?;
                c.send(format!("first {i}").as_bytes())?;
                c.send(format!("second {i}").as_bytes())?;
                let _ = sent_tx.send(());
                let mut buf = vec![0u8; 64];
                let m = c.recv(&mut buf)?;
                buf.truncate(m.read);
                let after = c
                    .recv(&mut [0u8; 64])
                    .err()
                    .unwrap_or_else(|| io::Error::other("a second reply"));
                Ok((buf, after))
            })();
            let _ = done_tx.send((i, r));
        });
    }
    for k in 0..N {
        entered_rx
            .recv_timeout(LONG)
            .unwrap_or_else(|_| panic!("only {k} of {N} handler calls started"));
    }
    for k in 0..N {
        sent_rx
            .recv_timeout(LONG)
            .unwrap_or_else(|_| panic!("only {k} of {N} clients sent their second request"));
    }
    let (stop_tx, stop_rx) = mpsc::channel();
    let s4 = stopped.clone();
    thread::spawn(move || {
        let r = service.stop();
        s4.store(true, Ordering::SeqCst);
        let _ = stop_tx.send(r);
    });
    // Four workers listen until the stop closes them; then every instance left is one whose
    // handler is waiting at the gate, so an open finds them all busy.
    let began = eventually(LONG, || match ClientOptions::new().open(&name) {
        Ok(probe) => {
            drop(probe);
            false
        }
        Err(e) if win32_code(&e) == ERROR_PIPE_BUSY => true,
        Err(e) => panic!("an open while the handlers run: {e}"),
    });
    assert!(began, "the stop never closed the listening instances");
    assert_eq!(
        stop_rx.try_recv().map(|r| r.map_err(|e| e.to_string())),
        Err(TryRecvError::Empty),
        "stop returned while handler calls were in progress"
    );
    {
        let calls = calls.lock().unwrap();
        let gone = gone.lock().unwrap();
        assert!(
            calls.iter().all(|(peer, _)| !gone.contains(peer)),
            "a disconnect hook ran during its connection's handler call"
        );
    }
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    stop_rx
        .recv_timeout(LONG)
        .expect("stop did not return after the handlers did")
        .expect("stop reported a problem");
    assert_gone(&name, "the stopped service");
    for _ in 0..N {
        let (i, r) = done_rx
            .recv_timeout(LONG)
            .expect("a client hung after the stop");
        let (reply, after) = r.unwrap_or_else(|e| panic!("client {i}: {e}"));
        assert_eq!(
            String::from_utf8_lossy(&reply),
            format!("reply to first {i}"),
            "client {i}: the reply to the call in progress"
        );
        assert!(
            ended_by_stop(&after),
            "client {i}: the read after the reply: {after}"
        );
    }
    let calls = calls.lock().unwrap();
    let mut requests: Vec<String> = calls
        .iter()
        .map(|(_, r)| String::from_utf8_lossy(r).into_owned())
        .collect();
    requests.sort();
    let mut expected: Vec<String> = (0..N).map(|i| format!("first {i}")).collect();
    expected.sort();
    assert_eq!(
        requests, expected,
        "the handler calls: only the calls in progress"
    );
    let gone = gone.lock().unwrap();
    for (peer, req) in calls.iter() {
        assert!(
            gone.contains(peer),
            "no disconnect hook for the client of {:?}",
            String::from_utf8_lossy(req)
        );
    }
    assert_eq!(
        late.load(Ordering::SeqCst),
        0,
        "a handler or hook ran after stop returned"
    );
}

/// `serve` while clients keep trying to connect, as they do when a service restarts: a client
/// that takes the first instance while `serve` still starts its ready workers makes its worker
/// start listeners too, and the two together must not go past `instances` (before, `serve`
/// failed with ERROR_PIPE_BUSY, "all 4 instances exist", or a worker's failure came back from
/// `stop`). Every `serve` and every `stop` must succeed.
#[test]
fn serve_stays_within_its_instances_while_clients_connect() {
    let name = unique_name("restart-burst");
    let running = Arc::new(AtomicBool::new(true));
    let connected = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (name, running, connected) = (name.clone(), running.clone(), connected.clone());
            thread::spawn(move || {
                while running.load(Ordering::SeqCst) {
                    match ClientOptions::new().open(&name) {
                        // Held a moment, so the instance stays taken while `serve` goes on.
                        Ok(c) => {
                            connected.fetch_add(1, Ordering::SeqCst);
                            thread::sleep(Duration::from_micros(200));
                            drop(c);
                        }
                        Err(_) => thread::yield_now(),
                    }
                }
            })
        })
        .collect();
    for round in 0..60 {
        let service = ServiceOptions::new()
            .instances(4)
            .ready_workers(4)
            .serve(&name, |_, req, reply| reply.extend_from_slice(req))
            .unwrap_or_else(|e| panic!("round {round}: serve: {e}"));
        thread::sleep(Duration::from_millis(2));
        service
            .stop()
            .unwrap_or_else(|e| panic!("round {round}: stop: {e}"));
    }
    running.store(false, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    // The clients did connect while the services ran (otherwise nothing was tested).
    assert!(connected.load(Ordering::SeqCst) > 0);
}
