//! Idle costs nothing (issue 13: "no CPU while idle"): after a burst of busy round trips, which
//! is when the waits spin longest, ends blocked in reads and a server instance waiting for a
//! client go to sleep, across two processes. Counted in CPU time (`getrusage`), never in wall
//! time: a waiting thread that kept spinning or polling would use a large share of the window
//! however loaded the machine is, and one that sleeps uses almost none.
//!
//! The parent holds the server ends of four connections; the child holds their client ends
//! and a server instance of another pipe waiting in ConnectNamedPipe. On two connections the
//! client waits in a read while the parent sleeps; on the other two the parent's end waits
//! while the client sleeps. Each waiting thread counts its own CPU time across its read; the
//! child also counts its whole process (its library threads included) across the window.

mod util;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use npipe::{ClientOptions, NamedPipeServer, PipeMode, ReadMode, ServerOptions};
use util::{child, connect_or_fail, expect_ok, unique_name};

/// Connections between the two processes.
const PAIRS: usize = 4;
/// Busy round trips before the idle window.
const WARM: usize = 3_000;
/// How long the waiting ends wait.
const IDLE: Duration = Duration::from_millis(1500);
/// CPU time a waiting thread may use across its wait: its spin (at most half a millisecond
/// while the peer is busy) and its wake-ups, with a wide margin. A thread that spun or polled
/// through the window would use hundreds of milliseconds.
const THREAD_LIMIT_US: u64 = 30_000;
/// CPU time the child process may use across the window, every thread of it together.
const PROCESS_LIMIT_US: u64 = 90_000;

/// CPU time (user + system) of the calling thread, or of the whole process, in microseconds.
fn cpu_us(who: libc::c_int) -> u64 {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `ru` is a valid, writable rusage; `who` is RUSAGE_THREAD or RUSAGE_SELF.
    let rc = unsafe { libc::getrusage(who, ru.as_mut_ptr()) };
    assert_eq!(rc, 0, "getrusage");
    // SAFETY: getrusage succeeded and filled the struct (zeroed before, too).
    let ru = unsafe { ru.assume_init() };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    us(ru.ru_utime) + us(ru.ru_stime)
}

/// Whether pair `k` is one where the client waits (else the server's end waits).
fn client_waits(k: usize) -> bool {
    k.is_multiple_of(2)
}

/// The message that ends a wait.
const WAKE: &[u8] = b"wake";

/// One client of the child: echoes WARM messages, then waits (or sleeps and wakes the
/// server's end) and reports its CPU time across the wait in its last message.
fn client(name: &str, k: usize, start: &Barrier, idle: &Barrier) -> Result<(), String> {
    let c = ClientOptions::new()
        .open(name)
        .map_err(|e| format!("open: {e}"))?;
    c.set_mode(ReadMode::Message, false)
        .map_err(|e| e.to_string())?;
    // Which pair this is: the clients connect in any order.
    c.send_msg(&(k as u64).to_le_bytes())
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 64];
    for i in 0..WARM {
        let m = c.recv_msg(&mut buf).map_err(|e| format!("warm {i}: {e}"))?;
        c.send_msg(&buf[..m.read]).map_err(|e| e.to_string())?;
    }
    start.wait();
    if client_waits(k) {
        let before = cpu_us(libc::RUSAGE_THREAD);
        let m = c
            .recv_msg(&mut buf)
            .map_err(|e| format!("idle read: {e}"))?;
        let used = cpu_us(libc::RUSAGE_THREAD) - before;
        if &buf[..m.read] != WAKE {
            return Err(format!("pair {k}: woken by {:?}", &buf[..m.read]));
        }
        idle.wait();
        c.send_msg(&used.to_le_bytes()).map_err(|e| e.to_string())?;
    } else {
        thread::sleep(IDLE);
        c.send_msg(WAKE).map_err(|e| e.to_string())?;
        idle.wait();
    }
    // The parent's last word: the connection still works after the window.
    let m = c
        .recv_msg(&mut buf)
        .map_err(|e| format!("last read: {e}"))?;
    if &buf[..m.read] != b"bye" {
        return Err(format!("pair {k}: last message {:?}", &buf[..m.read]));
    }
    Ok(())
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
            thread::spawn(move || client(&name, k, &start, &idle))
        })
        .collect();
    let listener = thread::spawn(move || listen.connect().map(|()| listen));
    start.wait();
    let before = cpu_us(libc::RUSAGE_SELF);
    idle.wait();
    let used = cpu_us(libc::RUSAGE_SELF) - before;
    for (k, t) in threads.into_iter().enumerate() {
        t.join().map_err(|_| format!("client {k} panicked"))??;
    }
    let listen = listener
        .join()
        .map_err(|_| "the listening thread panicked".to_string())?
        .map_err(|e| format!("ConnectNamedPipe after the window: {e}"))?;
    drop(listen);
    if used > PROCESS_LIMIT_US {
        return Err(format!(
            "the child used {used} us of CPU in a {IDLE:?} window with every end waiting \
             (limit {PROCESS_LIMIT_US} us)"
        ));
    }
    Ok(())
}

child_roles! {
    "idle_clients" => role_idle_clients,
}

/// The parent's side of a connection: learns its pair from the client, sends the warm
/// messages, then waits or wakes. Returns the pair and the CPU time its waiting end used
/// across its wait (this thread's own, or the child's report).
fn server_side(s: &NamedPipeServer) -> Result<(usize, u64), String> {
    let mut msg = [0u8; 64];
    let mut buf = [0u8; 64];
    let m = s.recv_msg(&mut buf).map_err(|e| format!("pair: {e}"))?;
    let k = buf[..m.read]
        .try_into()
        .map(|b| u64::from_le_bytes(b) as usize)
        .map_err(|_| format!("a pair number of {} bytes", m.read))?;
    for i in 0..WARM {
        msg[..8].copy_from_slice(&(i as u64).to_le_bytes());
        s.send_msg(&msg).map_err(|e| e.to_string())?;
        let m = s.recv_msg(&mut buf).map_err(|e| format!("warm {i}: {e}"))?;
        if buf[..m.read] != msg[..] {
            return Err(format!("pair {k}: echo {i} differs"));
        }
    }
    let used = if client_waits(k) {
        thread::sleep(IDLE);
        s.send_msg(WAKE).map_err(|e| e.to_string())?;
        let m = s.recv_msg(&mut buf).map_err(|e| format!("report: {e}"))?;
        let b: [u8; 8] = buf[..m.read]
            .try_into()
            .map_err(|_| format!("pair {k}: report of {} bytes", m.read))?;
        u64::from_le_bytes(b)
    } else {
        let before = cpu_us(libc::RUSAGE_THREAD);
        let m = s
            .recv_msg(&mut buf)
            .map_err(|e| format!("idle read: {e}"))?;
        let used = cpu_us(libc::RUSAGE_THREAD) - before;
        if &buf[..m.read] != WAKE {
            return Err(format!("pair {k}: woken by {:?}", &buf[..m.read]));
        }
        used
    };
    s.send_msg(b"bye").map_err(|e| e.to_string())?;
    Ok((k, used))
}

#[test]
fn ends_waiting_after_a_busy_exchange_use_no_cpu() {
    let name = unique_name("idle");
    let servers: Vec<NamedPipeServer> = (0..PAIRS)
        .map(|_| {
            ServerOptions::new()
                .pipe_mode(PipeMode::Message)
                .read_mode(ReadMode::Message)
                .max_instances(PAIRS as u32)
                .create(&name)
                .unwrap()
        })
        .collect();
    let mut kid = child("idle_clients", &name);
    for s in &servers {
        connect_or_fail(s, &mut kid);
    }
    let sides: Vec<_> = servers
        .into_iter()
        .map(|s| thread::spawn(move || (server_side(&s), s)))
        .collect();
    let mut used = Vec::new();
    let mut keep = Vec::new();
    for t in sides {
        let (r, s) = t.join().expect("server thread");
        used.push(r.unwrap_or_else(|e| panic!("{e}")));
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
    for &(k, us) in &used {
        let who = if client_waits(k) { "client" } else { "server" };
        assert!(
            us <= THREAD_LIMIT_US,
            "pair {k}: the {who} end used {us} us of CPU waiting {IDLE:?} for a message \
             (limit {THREAD_LIMIT_US} us): it did not go to sleep"
        );
    }
    drop(keep);
}
