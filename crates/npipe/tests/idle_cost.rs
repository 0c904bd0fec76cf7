//! Idle costs nothing (issue 13: "no CPU while idle"): after a burst of busy round trips, which
//! is when the waits spin longest, ends blocked in reads and a server instance waiting for a
//! client go to sleep, across two processes. Counted, never timed: the CPU time (`getrusage`)
//! of each waiting thread and of the child process across the wait, and the times each waiting
//! thread gave up its CPU (voluntary context switches). A wait that kept spinning uses a large
//! share of the window however loaded the machine is; one that woke up to poll every few
//! milliseconds shows in its context switches; one that sleeps shows in neither.
//!
//! The parent holds the server ends of four connections; the child holds their client ends
//! and a server instance of another pipe waiting in ConnectNamedPipe. On two connections the
//! client waits in a read while the parent sleeps; on the other two the parent's end waits
//! while the client sleeps. Each waiting thread counts its own costs across its read; the
//! child also counts its whole process (its library threads included) across the window. A
//! failure on either side ends the test rather than leaving the other side waiting: the child
//! exits at once, and the parent closes the failed connection.

mod util;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use npipe::{ClientOptions, MsgLen, NamedPipeServer, ReadMode, ServerOptions};
use util::{child, connect_or_fail, expect_ok, unique_name};

/// Connections between the two processes.
const PAIRS: usize = 4;
/// Busy round trips before the idle window.
const WARM: usize = 3_000;
/// How long the waiting ends wait.
const IDLE: Duration = Duration::from_millis(1500);
/// CPU time a waiting thread may use across its wait: its spin (at most half a millisecond
/// while the peer is busy) and its wake-ups, with a wide margin (0.3-4 ms were measured). A
/// thread that spun through the window would use hundreds of milliseconds.
const THREAD_LIMIT_US: u64 = 30_000;
/// Times a waiting thread may give up its CPU across its wait: a sleeping wait wakes a few
/// times a second to probe its peer (8-9 were measured); a wait that polled every 40 ms or
/// more often would need more. The scheduler's preemptions are involuntary: load does not
/// add to this count.
const THREAD_SWITCH_LIMIT: u64 = 40;
/// CPU time the child process may use across the window, every thread of it together (1-2 ms
/// were measured).
const PROCESS_LIMIT_US: u64 = 90_000;

/// What a wait cost: CPU time (user + system) in microseconds, and voluntary context switches.
#[derive(Debug, Clone, Copy)]
struct Cost {
    cpu_us: u64,
    switches: u64,
}

impl Cost {
    /// The costs so far of the calling thread (`RUSAGE_THREAD`) or of the whole process
    /// (`RUSAGE_SELF`).
    fn now(who: libc::c_int) -> Cost {
        let ru = util::rusage(who);
        Cost {
            cpu_us: util::cpu_us(&ru),
            switches: ru.ru_nvcsw as u64,
        }
    }

    /// The costs since `before`.
    fn since(before: Cost, who: libc::c_int) -> Cost {
        let now = Cost::now(who);
        Cost {
            cpu_us: now.cpu_us - before.cpu_us,
            switches: now.switches - before.switches,
        }
    }

    fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.cpu_us.to_le_bytes());
        b[8..].copy_from_slice(&self.switches.to_le_bytes());
        b
    }

    fn from_bytes(b: &[u8]) -> Option<Cost> {
        let b: &[u8; 16] = b.try_into().ok()?;
        Some(Cost {
            cpu_us: u64::from_le_bytes(b[..8].try_into().ok()?),
            switches: u64::from_le_bytes(b[8..].try_into().ok()?),
        })
    }
}

/// Whether pair `k` is one where the client waits (else the server's end waits).
fn client_waits(k: usize) -> bool {
    k.is_multiple_of(2)
}

/// The message that ends a wait.
const WAKE: &[u8] = b"wake";
/// A waiting client's word that its wait begins.
const READY: &[u8] = b"ready";

/// The waiting end's read, with the calling thread's costs across it: the read must end with
/// [`WAKE`]. `recv` is the end's `recv_msg`.
fn wait_for_wake(recv: impl FnOnce(&mut [u8]) -> std::io::Result<MsgLen>) -> Result<Cost, String> {
    let mut buf = [0u8; 64];
    let before = Cost::now(libc::RUSAGE_THREAD);
    let m = recv(&mut buf).map_err(|e| format!("idle read: {e}"))?;
    let cost = Cost::since(before, libc::RUSAGE_THREAD);
    if &buf[..m.read] != WAKE {
        return Err(format!("woken by {:?}", &buf[..m.read]));
    }
    Ok(cost)
}

/// One client of the child: tells the parent its pair number, echoes WARM messages, then waits
/// (or sleeps and wakes the server's end) and reports its costs across the wait.
fn client(name: &str, k: usize, start: &Barrier, idle: &Barrier) -> Result<(), String> {
    let c = ClientOptions::new()
        .open(name)
        .map_err(|e| format!("open: {e}"))?;
    c.set_mode(ReadMode::Message, false)
        .map_err(|e| format!("message read mode: {e}"))?;
    // Which pair this is: the clients connect in any order.
    c.send_msg(&(k as u64).to_le_bytes())
        .map_err(|e| format!("send the pair number: {e}"))?;
    let mut buf = [0u8; 64];
    for i in 0..WARM {
        let m = c.recv_msg(&mut buf).map_err(|e| format!("warm {i}: {e}"))?;
        c.send_msg(&buf[..m.read])
            .map_err(|e| format!("echo {i}: {e}"))?;
    }
    start.wait();
    if client_waits(k) {
        // The parent's sleep starts from here, so this read waits the whole window.
        c.send_msg(READY).map_err(|e| format!("send ready: {e}"))?;
        let cost = wait_for_wake(|b| c.recv_msg(b))?;
        idle.wait();
        c.send_msg(&cost.to_bytes())
            .map_err(|e| format!("send the report: {e}"))?;
    } else {
        thread::sleep(IDLE);
        c.send_msg(WAKE).map_err(|e| format!("send wake: {e}"))?;
        idle.wait();
    }
    // The parent's last word: the connection still works after the window.
    let m = c
        .recv_msg(&mut buf)
        .map_err(|e| format!("last read: {e}"))?;
    if &buf[..m.read] != b"bye" {
        return Err(format!("last message {:?}", &buf[..m.read]));
    }
    Ok(())
}

/// Ends the child at once with `why`: the other clients would wait at a barrier for ever, and
/// the parent sees its connections break.
fn fail_now(why: String) -> ! {
    eprintln!("child role idle_clients failed: {why}");
    util::exit_now(1)
}

/// The child: the clients, and a listening instance of `{name}-listen` that waits for a
/// client through the window; checks the process's CPU time across it.
fn role_idle_clients(name: &str) -> Result<(), String> {
    let listen = ServerOptions::new()
        .create(&format!("{name}-listen"))
        .map_err(|e| format!("create the listening instance: {e}"))?;
    // Every client and the main thread meet before the window and after it.
    let start = Arc::new(Barrier::new(PAIRS + 1));
    let idle = Arc::new(Barrier::new(PAIRS + 1));
    let threads: Vec<_> = (0..PAIRS)
        .map(|k| {
            let (name, start, idle) = (name.to_string(), start.clone(), idle.clone());
            thread::spawn(move || {
                if let Err(e) = client(&name, k, &start, &idle) {
                    fail_now(format!("client {k}: {e}"));
                }
            })
        })
        .collect();
    let listener = thread::spawn(move || match listen.connect() {
        Ok(()) => listen,
        Err(e) => fail_now(format!("ConnectNamedPipe after the window: {e}")),
    });
    start.wait();
    let before = Cost::now(libc::RUSAGE_SELF);
    idle.wait();
    let cost = Cost::since(before, libc::RUSAGE_SELF);
    for (k, t) in threads.into_iter().enumerate() {
        t.join().map_err(|_| format!("client {k} panicked"))?;
    }
    let listen = listener
        .join()
        .map_err(|_| "the listening thread panicked".to_string())?;
    drop(listen);
    if cost.cpu_us > PROCESS_LIMIT_US {
        return Err(format!(
            "the child used {} us of CPU in a {IDLE:?} window with every end waiting \
             (limit {PROCESS_LIMIT_US} us)",
            cost.cpu_us
        ));
    }
    Ok(())
}

child_roles! {
    "idle_clients" => role_idle_clients,
}

/// The parent's side of a connection: learns its pair from the client, sends the warm
/// messages, then waits or wakes. Returns the pair and the costs of its waiting end across
/// its wait (this thread's own, or the child's report).
fn server_side(s: &NamedPipeServer) -> Result<(usize, Cost), String> {
    let mut msg = [0u8; 64];
    let mut buf = [0u8; 64];
    let m = s.recv_msg(&mut buf).map_err(|e| format!("pair: {e}"))?;
    let k = buf[..m.read]
        .try_into()
        .map(|b| u64::from_le_bytes(b) as usize)
        .map_err(|_| format!("a pair number of {} bytes", m.read))?;
    for i in 0..WARM {
        msg[..8].copy_from_slice(&(i as u64).to_le_bytes());
        s.send_msg(&msg)
            .map_err(|e| format!("pair {k}: send {i}: {e}"))?;
        let m = s
            .recv_msg(&mut buf)
            .map_err(|e| format!("pair {k}: warm {i}: {e}"))?;
        if buf[..m.read] != msg[..] {
            return Err(format!("pair {k}: echo {i} differs"));
        }
    }
    let cost = if client_waits(k) {
        let m = s
            .recv_msg(&mut buf)
            .map_err(|e| format!("pair {k}: ready: {e}"))?;
        if &buf[..m.read] != READY {
            return Err(format!("pair {k}: {:?} instead of ready", &buf[..m.read]));
        }
        thread::sleep(IDLE);
        s.send_msg(WAKE)
            .map_err(|e| format!("pair {k}: send wake: {e}"))?;
        let m = s
            .recv_msg(&mut buf)
            .map_err(|e| format!("pair {k}: report: {e}"))?;
        Cost::from_bytes(&buf[..m.read])
            .ok_or_else(|| format!("pair {k}: a report of {} bytes", m.read))?
    } else {
        wait_for_wake(|b| s.recv_msg(b)).map_err(|e| format!("pair {k}: {e}"))?
    };
    s.send_msg(b"bye")
        .map_err(|e| format!("pair {k}: send bye: {e}"))?;
    Ok((k, cost))
}

#[test]
fn ends_waiting_after_a_busy_exchange_use_no_cpu() {
    let name = unique_name("idle");
    let servers: Vec<NamedPipeServer> = (0..PAIRS)
        .map(|_| util::message_server(&name, PAIRS as u32))
        .collect();
    let mut kid = child("idle_clients", &name);
    for s in &servers {
        connect_or_fail(s, &mut kid);
    }
    // A side that fails closes its end at once (the drop), which breaks the child's client:
    // the child then exits instead of waiting for it.
    let sides: Vec<_> = servers
        .into_iter()
        .map(|s| thread::spawn(move || server_side(&s).map(|r| (r, s))))
        .collect();
    let mut costs = Vec::new();
    // The server ends stay open until the child has read its last message and exited.
    let mut keep = Vec::new();
    for t in sides {
        let (r, s) = t
            .join()
            .expect("server thread")
            .unwrap_or_else(|e| panic!("{e}"));
        costs.push(r);
        keep.push(s);
    }
    // The child's listening instance waited through the window: a client still gets it.
    let listen_name = format!("{name}-listen");
    let c = util::eventually(Duration::from_secs(30), || {
        ClientOptions::new().open(&listen_name).is_ok()
    });
    assert!(
        c,
        "the child's listening instance took no client after the window"
    );
    expect_ok(kid);
    for &(k, cost) in &costs {
        let who = if client_waits(k) { "client" } else { "server" };
        assert!(
            cost.cpu_us <= THREAD_LIMIT_US,
            "pair {k}: the {who} end used {} us of CPU waiting {IDLE:?} for a message \
             (limit {THREAD_LIMIT_US} us): it did not go to sleep",
            cost.cpu_us
        );
        assert!(
            cost.switches <= THREAD_SWITCH_LIMIT,
            "pair {k}: the {who} end gave up its CPU {} times waiting {IDLE:?} for a message \
             (limit {THREAD_SWITCH_LIMIT}): it kept waking up",
            cost.switches
        );
    }
    drop(keep);
}
