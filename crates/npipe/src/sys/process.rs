//! Process and thread facts: ids, clocks, CPU placement, fork handlers.
//!
//! # Safety
//! Raw calls here take no pointers of ours beyond what each SAFETY comment names.
#![allow(unsafe_code)]

use std::sync::atomic::AtomicU32;

/// CLOCK_MONOTONIC in milliseconds (from the vDSO, no syscall).
pub(crate) fn monotonic_ms() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1000 + t.tv_nsec as u64 / 1_000_000
}

/// The calling process's id.
pub(crate) fn getpid() -> u32 {
    rustix::process::getpid().as_raw_nonzero().get() as u32
}

/// The calling process's real user id.
pub(crate) fn getuid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// Registers fork handlers: `prepare` runs in the forking thread before `fork()`, `parent`
/// and `child` after it in the parent and in the child.
pub(crate) fn at_fork(prepare: extern "C" fn(), parent: extern "C" fn(), child: extern "C" fn()) {
    // SAFETY: pthread_atfork only records the function pointers; each handler is an extern "C"
    // fn with no arguments, as required.
    unsafe {
        libc::pthread_atfork(Some(prepare), Some(parent), Some(child));
    }
}

/// The CPU this thread is running on (a hint: it may move at any time).
pub(crate) fn current_cpu() -> u32 {
    // SAFETY: sched_getcpu takes no arguments and touches no memory of ours; glibc answers
    // from the rseq area or the vDSO, without a syscall on current kernels.
    let c = unsafe { libc::sched_getcpu() };
    u32::try_from(c).unwrap_or(u32::MAX)
}

/// How many CPUs this process may run on (its affinity mask), read once. Waiters only spin when
/// this is above one: with a single usable CPU the peer cannot run while we spin.
pub(crate) fn usable_cpus() -> u32 {
    use std::sync::atomic::Ordering;
    static CPUS: AtomicU32 = AtomicU32::new(0);
    // Relaxed: a cached constant; two threads computing it at once store the same value.
    let c = CPUS.load(Ordering::Relaxed);
    if c != 0 {
        return c;
    }
    let n = rustix::thread::sched_getaffinity(None)
        .map(|s| s.count())
        .unwrap_or(1)
        .max(1);
    CPUS.store(n, Ordering::Relaxed);
    n
}
