//! The acceptor thread spins while connections come close together (issue 13), and goes back
//! to sleep when they stop, across two processes. A child opens the pipe [`TRICKLE`] times
//! [`GAP`] apart, then another child [`BURST`] times back to back, so the acceptor spins
//! between those; every open must be served. Across the [`QUIET`] window after the burst the
//! acceptor may use [`QUIET_LIMIT_US`] of CPU: a spin or two, not a thread that kept spinning.
//! Counted, never timed: the acceptor thread's CPU time (its CPU-time clock). This test binary
//! serves one name, so it has one acceptor thread. The burst ends with [`TAIL`] raw
//! connections made back to back, which queue for the acceptor, so a spin is under way when
//! the burst ends even on a loaded machine where the last opens come apart.
//!
//! When the thread spins (not for connections that come further apart than 100 us) is the unit
//! tests' matter (`semantics::acceptor`): its CPU per connection varies too much with the build
//! and the machine to show a spin of 100 us.

mod util;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use npipe::error::code::ERROR_NO_DATA;
use npipe::NamedPipeServer;
use util::{child, expect_ok, unique_name};

/// Connections of the first child, one at a time.
const TRICKLE: usize = 100;
/// The pause between them.
const GAP: Duration = Duration::from_millis(3);
/// Connections of the second child, back to back from one thread per instance (so that they
/// come close together even in a debug build).
const BURST: usize = 400;
/// How long the test watches the acceptor after the burst.
const QUIET: Duration = Duration::from_millis(500);
/// Acceptor CPU across that window: one spin is 100 us; a thread that kept spinning would
/// use most of the window.
const QUIET_LIMIT_US: u64 = 10_000;
/// Server instances, one thread each.
const INSTANCES: usize = 4;
/// Raw connections that end the burst, made back to back and closed at once.
const TAIL: usize = 8;

/// This process's acceptor thread (its id), found by its name.
fn acceptor_tid() -> libc::pid_t {
    let found = util::threads_named(std::process::id(), "npipe-acceptor");
    assert_eq!(found.len(), 1, "one acceptor thread expected: {found:?}");
    found[0] as libc::pid_t
}

/// The CPU time so far of thread `tid` of this process, in microseconds: its CPU-time clock,
/// the clock id `pthread_getcpuclockid` would give (the kernel's per-thread scheduler clock).
fn thread_cpu_us(tid: libc::pid_t) -> u64 {
    const PER_THREAD_SCHED: libc::clockid_t = 6;
    let clock = ((!(tid as u32)) << 3) as libc::clockid_t | PER_THREAD_SCHED;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live timespec the kernel writes; a clock id that names no thread of
    // this process makes the call fail, which is checked.
    let r = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(
        r,
        0,
        "the CPU clock of thread {tid}: {}",
        std::io::Error::last_os_error()
    );
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

/// The child: `threads` threads each open the pipe `count` times, writing one byte each time,
/// with `gap_ms` between.
fn role_opener(arg: &str) -> Result<(), String> {
    let mut parts = arg.splitn(4, ' ');
    let (Some(threads), Some(count), Some(gap), Some(name)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("bad argument {arg:?}"));
    };
    let threads: usize = threads.parse().map_err(|e| format!("threads: {e}"))?;
    let count: usize = count.parse().map_err(|e| format!("count: {e}"))?;
    let gap = Duration::from_millis(gap.parse().map_err(|e| format!("gap: {e}"))?);
    // The threads' last opens come together, so the burst ends at once.
    let last = Arc::new(Barrier::new(threads));
    let openers: Vec<_> = (0..threads)
        .map(|_| {
            let (name, last) = (name.to_string(), last.clone());
            thread::spawn(move || open_many(&name, count, gap, &last))
        })
        .collect();
    for t in openers {
        t.join()
            .map_err(|_| "an opening thread panicked".to_string())??;
    }
    Ok(())
}

fn open_many(name: &str, count: usize, gap: Duration, last: &Barrier) -> Result<(), String> {
    for i in 0..count {
        if i + 1 == count {
            last.wait();
        }
        let c = util::open_waiting(name).map_err(|e| format!("open {i}: {e}"))?;
        c.send_msg(&[HELLO])
            .map_err(|e| format!("write {i}: {e}"))?;
        drop(c);
        if !gap.is_zero() {
            thread::sleep(gap);
        }
    }
    Ok(())
}

child_roles! {
    "opener" => role_opener,
}

/// The byte a client writes.
const HELLO: u8 = 1;
/// The byte that ends a server thread.
const LAST: u8 = 2;

/// One server instance's thread: connect, read the byte, disconnect, until a client writes
/// [`LAST`]. Returns how many [`HELLO`]s it read.
fn serve(s: NamedPipeServer) -> usize {
    let mut buf = [0u8; 8];
    let mut served = 0;
    loop {
        match s.connect() {
            Ok(()) => {}
            // The client came, wrote and left before this thread's first ConnectNamedPipe
            // (the instance listened from its creation, W53): its byte is there to read.
            Err(e) if npipe::win32_code(&e) == ERROR_NO_DATA => {}
            Err(e) => panic!("ConnectNamedPipe: {e}"),
        }
        let m = s.recv_msg(&mut buf).expect("read the client's byte");
        match &buf[..m.read] {
            [HELLO] => served += 1,
            [LAST] => return served,
            other => panic!("a client wrote {other:?}"),
        }
        s.disconnect().expect("DisconnectNamedPipe");
    }
}

#[test]
fn the_acceptor_serves_a_burst_of_opens_and_sleeps_once_it_ends() {
    let name = unique_name("accept-spin");
    let threads: Vec<_> = (0..INSTANCES)
        .map(|_| {
            let s = util::message_server(&name, INSTANCES as u32);
            thread::spawn(move || serve(s))
        })
        .collect();

    expect_ok(child(
        "opener",
        &format!("1 {TRICKLE} {} {name}", GAP.as_millis()),
    ));

    let acceptor = acceptor_tid();
    let start = thread_cpu_us(acceptor);
    expect_ok(child(
        "opener",
        &format!("{INSTANCES} {} 0 {name}", BURST / INSTANCES),
    ));
    let tail: Vec<i32> = (0..TAIL).map(|_| util::raw_connect(&name)).collect();
    for fd in tail {
        // SAFETY: `fd` is a socket this test opened and closes once.
        unsafe { libc::close(fd) };
    }
    let before = thread_cpu_us(acceptor);
    assert!(
        before > start,
        "the acceptor's CPU clock did not move across {BURST} opens"
    );
    thread::sleep(QUIET);
    let quiet = thread_cpu_us(acceptor) - before;

    // Each thread ends with the client that writes LAST (instances are taken in the order
    // they began to listen, W54, and a thread that ended listens no more).
    for _ in 0..INSTANCES {
        let c = util::open_waiting(&name).expect("a last open");
        c.send_msg(&[LAST]).expect("a last write");
    }
    let served: usize = threads
        .into_iter()
        .map(|t| t.join().expect("a server thread failed"))
        .sum();
    assert_eq!(served, TRICKLE + BURST, "every open was served");
    assert!(
        quiet <= QUIET_LIMIT_US,
        "the acceptor used {quiet} us of CPU in the {QUIET:?} after a burst of connections \
         ended (limit {QUIET_LIMIT_US} us): it kept spinning"
    );
}
