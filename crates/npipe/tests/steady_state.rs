//! The fast path's promises, counted rather than timed (issue 3): once a connection is warm, a
//! message costs neither side a heap allocation or a page fault; the queue memory is faulted in
//! once and reused. Each side counts its own thread's allocations (a counting global allocator)
//! and minor faults (`getrusage(RUSAGE_THREAD)`) across thousands of round trips between two
//! processes.

mod util;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use npipe::{ClientOptions, PipeMode, ReadMode, ServerOptions};
use util::{child, connect_or_fail, expect_ok, unique_name};

/// Counts the allocations of each thread, then defers to the system allocator.
struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    // try_with: a thread being torn down may still free or allocate.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// allocator contract is the system allocator's; counting touches only a thread-local cell,
// which needs no allocation (const-initialised).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged (see the impl).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// (allocations, minor page faults) of the calling thread so far.
fn thread_costs() -> (u64, u64) {
    let allocs = ALLOCS.with(|c| c.get());
    (allocs, util::rusage(libc::RUSAGE_THREAD).ru_minflt as u64)
}

/// Round trips before counting: several laps of the 64 KiB queue with 72-byte records, so every
/// queue page has been touched and every lazily made structure exists.
const WARM: usize = 5_000;
/// The warm round trip at which each side pauses once before it sends, so that the other side's
/// read sleeps at least once while warming up: a thread's first sleep makes its record for
/// CancelSynchronousIo (`SyncCancel::current`), once per thread. Without the pause a pair that
/// spins through the whole warm-up and sleeps for the first time while counted showed that one
/// allocation.
const PAUSE_AT: usize = WARM / 2;
/// Longer than any spin before a sleep (at most half a millisecond).
const PAUSE: std::time::Duration = std::time::Duration::from_millis(20);
/// Round trips counted.
const COUNTED: usize = 20_000;
const MSG: usize = 64;

/// Client: echoes WARM + COUNTED messages and fails if the counted ones cost it allocations
/// or page faults.
fn role_echo_counted(name: &str) -> Result<(), String> {
    let c = ClientOptions::new().open(name).map_err(|e| e.to_string())?;
    c.set_mode(ReadMode::Message, false)
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; MSG];
    let mut before = (0, 0);
    for i in 0..WARM + COUNTED {
        if i == WARM {
            before = thread_costs();
        }
        let m = c.recv_msg(&mut buf).map_err(|e| e.to_string())?;
        if i == PAUSE_AT {
            std::thread::sleep(PAUSE);
        }
        c.send_msg(&buf[..m.read]).map_err(|e| e.to_string())?;
    }
    let after = thread_costs();
    check(before, after, "client")
}

fn check(before: (u64, u64), after: (u64, u64), who: &str) -> Result<(), String> {
    let allocs = after.0 - before.0;
    let faults = after.1 - before.1;
    // No allocation at all, whether the sides spin or sleep (the sleep path polls the control
    // socket without allocating). Per-message faults would show as thousands; a handful of
    // incidental ones (the kernel's own bookkeeping) is tolerated.
    if allocs > 0 || faults > 8 {
        return Err(format!(
            "{who}: {COUNTED} warm round trips cost {allocs} allocations and {faults} page faults"
        ));
    }
    Ok(())
}

child_roles! {
    "echo_counted" => role_echo_counted,
}

#[test]
fn warm_messages_cost_no_allocation_or_page_fault() {
    let name = unique_name("steady");
    let s = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .read_mode(ReadMode::Message)
        .in_buffer_size(64 << 10)
        .out_buffer_size(64 << 10)
        .create(&name)
        .unwrap();
    let mut kid = child("echo_counted", &name);
    connect_or_fail(&s, &mut kid);
    let mut msg = [0u8; MSG];
    let mut buf = [0u8; MSG];
    let mut before = (0, 0);
    for i in 0..WARM + COUNTED {
        if i == WARM {
            before = thread_costs();
        }
        msg[..8].copy_from_slice(&(i as u64).to_le_bytes());
        if i == PAUSE_AT {
            std::thread::sleep(PAUSE);
        }
        s.send_msg(&msg).unwrap();
        let m = s.recv_msg(&mut buf).unwrap();
        assert_eq!(&buf[..m.read], &msg[..], "echo {i}");
    }
    let after = thread_costs();
    check(before, after, "server").unwrap();
    expect_ok(kid);
}
