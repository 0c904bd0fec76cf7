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

/// A thread started with `pthread_create` directly ([`spawn_thread`]).
///
/// The library's own threads (acceptors, the hang-up watcher) start this way rather than with
/// `std::thread`: std's thread start-up takes a process-wide lock of its own (to register the
/// thread's stack-overflow guard), and a process forked while another thread held that lock
/// could never start a thread again; pipes created in such a child start an acceptor. glibc
/// makes `pthread_create` itself safe after a fork.
#[derive(Debug)]
pub(crate) struct RawThread {
    id: libc::pthread_t,
}

/// The closure a [`RawThread`] runs.
type Body = Box<dyn FnOnce() + Send + 'static>;

extern "C" fn raw_thread_start(arg: *mut libc::c_void) -> *mut libc::c_void {
    // SAFETY: `arg` is the `Box<Body>` leaked by `spawn_thread` for this thread alone, and it
    // is taken back exactly once, here.
    let body = unsafe { Box::from_raw(arg.cast::<Body>()) };
    // A panic must not unwind out of an extern "C" function: it ends this thread only.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(*body));
    std::ptr::null_mut()
}

/// Starts `body` on a new thread named `name` (at most 15 bytes are kept).
pub(crate) fn spawn_thread(
    name: &str,
    body: impl FnOnce() + Send + 'static,
) -> std::io::Result<RawThread> {
    let arg = Box::into_raw(Box::new(Box::new(body) as Body));
    let mut id: libc::pthread_t = 0;
    // SAFETY: `id` is a valid out pointer; default attributes; the start routine is an
    // extern "C" fn that takes ownership of `arg`, a leaked Box that lives until it does.
    let r =
        unsafe { libc::pthread_create(&mut id, std::ptr::null(), raw_thread_start, arg.cast()) };
    if r != 0 {
        // SAFETY: the thread was not created, so `arg` is still ours to free.
        drop(unsafe { Box::from_raw(arg) });
        return Err(std::io::Error::from_raw_os_error(r));
    }
    let mut short = [0u8; 16];
    let n = name.len().min(15);
    short[..n].copy_from_slice(&name.as_bytes()[..n]);
    // SAFETY: `short` is NUL-terminated (at most 15 bytes copied into 16 zeroed ones) and `id`
    // is a thread we just created and have not joined; naming is best effort.
    unsafe {
        libc::pthread_setname_np(id, short.as_ptr().cast());
    }
    Ok(RawThread { id })
}

impl RawThread {
    /// Whether this is the calling thread.
    pub(crate) fn is_current(&self) -> bool {
        // SAFETY: pthread_self and pthread_equal take no pointers.
        unsafe { libc::pthread_equal(self.id, libc::pthread_self()) != 0 }
    }

    /// Waits for the thread to end.
    pub(crate) fn join(self) {
        // SAFETY: `id` is a joinable thread of this process that nobody joined before (join
        // takes `self` by value and RawThread is not Clone).
        unsafe {
            libc::pthread_join(self.id, std::ptr::null_mut());
        }
    }

    /// Lets the thread run on unjoined (its resources are freed when it ends).
    pub(crate) fn detach(self) {
        // SAFETY: as in `join`: a joinable thread nobody joined or detached before.
        unsafe {
            libc::pthread_detach(self.id);
        }
    }
}
