//! Process and thread facts: ids, clocks, liveness, CPU placement, fork handlers.
//!
//! # Safety
//! Raw calls here take no pointers of ours beyond what each SAFETY comment names.
#![allow(unsafe_code)]

use std::sync::atomic::AtomicU32;

use super::Errno;

/// CLOCK_MONOTONIC in milliseconds (from the vDSO, no syscall).
pub(crate) fn monotonic_ms() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1000 + t.tv_nsec as u64 / 1_000_000
}

/// Bumped in every forked child, so per-thread caches of kernel ids are refreshed there.
static CHILD_GEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

extern "C" fn on_fork_child() {
    // Relaxed: the child runs single-threaded here; later loads in this thread see it.
    CHILD_GEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// The calling thread's kernel id, cached per thread (it is read on every ring lock; a
/// `pthread_atfork` child handler invalidates the cache in a forked child, whose thread has a
/// new id).
pub(crate) fn gettid() -> u32 {
    use std::cell::Cell;
    use std::sync::atomic::Ordering;
    // Not a `Once`: a fork while another thread is inside `call_once` leaves the child's copy
    // "running" forever, and the child's first ring lock would hang on it. pthread_atfork is
    // serialised with fork by libc; threads racing here may register the handler more than
    // once, which only bumps the generation more than once. A thread caches its id only after
    // registration has completed (its own, or one it saw finished), so a fork by any thread
    // with a cached id runs the handler.
    static REGISTERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    thread_local! {
        static TID: Cell<(u64, u32)> = const { Cell::new((0, 0)) };
    }
    // SYNC POINT with the Release store below: a thread that sees true sees a registered handler.
    if !REGISTERED.load(Ordering::Acquire) {
        // SAFETY: pthread_atfork only records the function pointer; `on_fork_child` is an
        // extern "C" fn with no arguments that only bumps an atomic (async-signal-safe).
        unsafe {
            libc::pthread_atfork(None, None, Some(on_fork_child));
        }
        REGISTERED.store(true, Ordering::Release);
    }
    // Relaxed: see `on_fork_child`.
    let gen = CHILD_GEN.load(Ordering::Relaxed);
    TID.with(|c| {
        let (g, tid) = c.get();
        if g == gen {
            return tid;
        }
        let tid = rustix::thread::gettid().as_raw_nonzero().get() as u32;
        c.set((gen, tid));
        tid
    })
}

/// The calling process's id.
pub(crate) fn getpid() -> u32 {
    rustix::process::getpid().as_raw_nonzero().get() as u32
}

/// The calling process's real user id.
pub(crate) fn getuid() -> u32 {
    rustix::process::getuid().as_raw()
}

/// True while the thread or process `id` exists (signal 0 probe; EPERM still means alive).
pub(crate) fn id_alive(id: u32) -> bool {
    let Some(pid) = rustix::process::Pid::from_raw(id as i32) else {
        return false;
    };
    !matches!(rustix::process::test_kill_process(pid), Err(Errno::SRCH))
}

/// Registers `handler` to run in the parent before every `fork()`.
pub(crate) fn at_fork_prepare(handler: extern "C" fn()) {
    // SAFETY: pthread_atfork only records the function pointers; `handler` is an extern "C" fn
    // with no arguments as required, and the other two handlers are absent.
    unsafe {
        libc::pthread_atfork(Some(handler), None, None);
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
