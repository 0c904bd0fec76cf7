//! Process and thread facts: ids, clocks, CPU placement, fork handlers.
//!
//! # Safety
//! Raw calls here take no pointers of ours beyond what each SAFETY comment names.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Closes descriptor `fd` in a forked child, where the object that owns it lives only in the
/// parent (a thread's state: the child has a copy of its memory but not the thread, so nothing
/// of the child would ever close it). A bare close(2), safe in a fork child handler.
pub(crate) fn close_orphaned(fd: std::os::fd::RawFd) {
    // SAFETY: the caller passes a descriptor whose only owner is a value no code of this
    // process will use or drop again (it belongs to a thread that does not exist here), so
    // closing it leaves no live owner with a dangling number.
    unsafe { rustix::io::close(fd) }
}

/// CLOCK_MONOTONIC in milliseconds (from the vDSO, no syscall).
pub(crate) fn monotonic_ms() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1000 + t.tv_nsec as u64 / 1_000_000
}

/// CLOCK_MONOTONIC in nanoseconds (from the vDSO, no syscall).
pub(crate) fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// The calling process's id.
pub(crate) fn getpid() -> u32 {
    rustix::process::getpid().as_raw_nonzero().get() as u32
}

/// The calling process's effective user id (what `SO_PEERCRED` reports to its peers).
pub(crate) fn geteuid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Registers fork handlers: `prepare` runs in the forking thread before `fork()`, `parent`
/// and `child` after it in the parent and in the child.
fn at_fork(prepare: extern "C" fn(), parent: extern "C" fn(), child: extern "C" fn()) {
    // SAFETY: pthread_atfork only records the function pointers; each handler is an extern "C"
    // fn with no arguments, as required.
    unsafe {
        libc::pthread_atfork(Some(prepare), Some(parent), Some(child));
    }
}

/// One set of fork handlers, registered once per process: at load time where the library can
/// arrange it ([`run_at_load!`]), else on first use. No thread gets past
/// [`install`](Self::install) before the handlers are in place: a thread that went on while
/// another was still registering could take a lock the handlers guard, and a fork in that
/// instant would leave it locked in the child for ever. Not a `Once`, which a fork could
/// copy half-run: a child forked before the registration finished (its registering thread is
/// gone) registers by itself.
///
/// glibc (2.36 and later) lets `pthread_atfork` return while a fork runs another set's
/// prepare handler, and that fork then skips the new handlers: registering at load time,
/// before any lock of the library can be held, is what closes that window. The handlers must
/// also stand being registered twice (a child that could not tell whether its parent's
/// registration finished registers again): each `prepare` does nothing when this thread
/// already holds what it takes, and calls [`registered`](Self::registered) first.
#[doc(hidden)]
#[derive(Debug)]
pub struct ForkHandlers {
    /// 0: not registered; `pid << 2 | 1`: a thread of process `pid` registers; 2: registered.
    state: AtomicU64,
}

const REGISTERED: u64 = 2;
/// How long a thread waits for another thread of its process to finish registering before
/// it takes the registration as abandoned (a pid reused by a grandchild, or two processes that
/// are both pid 1 in their namespaces, can make a dead registration look like its own).
const REGISTER_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

impl ForkHandlers {
    /// Nothing registered yet.
    pub const fn new() -> ForkHandlers {
        ForkHandlers {
            state: AtomicU64::new(0),
        }
    }

    /// Registers the handlers unless this process has them, and returns once it has them.
    pub fn install(
        &self,
        prepare: extern "C" fn(),
        parent: extern "C" fn(),
        child: extern "C" fn(),
    ) {
        // Acquire: pairs with the Release stores of `install` and `registered`.
        if self.state.load(Ordering::Acquire) == REGISTERED {
            return;
        }
        let mine = (u64::from(std::process::id()) << 2) | 1;
        let mut waiting_since = None;
        loop {
            // AcqRel: the winner's registration is published by the Release store after it.
            match self
                .state
                .compare_exchange(0, mine, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    at_fork(prepare, parent, child);
                    self.state.store(REGISTERED, Ordering::Release);
                    return;
                }
                Err(REGISTERED) => return,
                // Another thread of this process is registering: a few microseconds.
                Err(s) if s == mine => {
                    let since = *waiting_since.get_or_insert_with(std::time::Instant::now);
                    if since.elapsed() < REGISTER_WAIT {
                        std::thread::yield_now();
                    } else {
                        // Nobody finished it: start again (a second registration is harmless).
                        let _ =
                            self.state
                                .compare_exchange(s, 0, Ordering::AcqRel, Ordering::Acquire);
                    }
                }
                // A thread of the parent was registering when it forked this process, before
                // the handlers were in place (else `prepare` would have said so): nobody here
                // finishes it, so start again.
                Err(s) => {
                    let _ = self
                        .state
                        .compare_exchange(s, 0, Ordering::AcqRel, Ordering::Acquire);
                }
            }
        }
    }

    /// Called first by the `prepare` handler: the handlers are in place.
    pub fn registered(&self) {
        // Release: pairs with the Acquire load of `install`.
        self.state.store(REGISTERED, Ordering::Release);
    }
}

impl Default for ForkHandlers {
    fn default() -> ForkHandlers {
        ForkHandlers::new()
    }
}

/// Declares `$name`, an ELF `.init_array` entry that runs `$f` (an `extern "C" fn()`) when
/// the program or library is loaded: before `main`, and for a library loaded later before any
/// thread can call into it. For registrations that must not race the program's own threads
/// (see [`ForkHandlers`]). `$f` must be safe to run before `main`: no thread-locals of the
/// program, no allocation that relies on the program having started.
#[macro_export]
#[doc(hidden)]
macro_rules! run_at_load {
    ($name:ident, $f:path) => {
        // SAFETY (of the attribute): the entry is a plain `extern "C" fn()` pointer; the
        // loader calls it with (argc, argv, envp), which a function of no arguments ignores
        // under the C calling convention.
        #[allow(unsafe_code)]
        #[used]
        #[link_section = ".init_array"]
        static $name: extern "C" fn() = $f;
    };
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
    // The new thread runs as the process, not as a client its creator impersonates.
    let identity = super::NewThreadIdentity::capture();
    let body = move || {
        identity.adopt();
        body()
    };
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

/// A value that identifies the calling thread among the live threads of this process, never 0:
/// the thread pointer (the address of the thread's control block, which the C library gives
/// each thread and which is its own until it exits). Cheaper than an id from the kernel, and
/// it needs no cache.
///
/// On x86-64 and AArch64 it is one instruction: the register that holds it (the psABI puts the
/// control block's own address at `%fs:0`; AArch64 keeps it in `TPIDR_EL0`). Reading a
/// thread-local's address instead costs a call to `__tls_get_addr` when this crate is linked
/// into a shared library (libnpipe), and several of these per message showed in the C ABI's
/// instruction count (docs/PERFORMANCE.md, sixteenth part).
#[inline]
pub(crate) fn thread_token() -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        let tp: usize;
        // SAFETY: reads the thread pointer's first word, which on x86-64 Linux (glibc and
        // musl alike, as the psABI's TLS layout requires) is the control block's own address;
        // the load has no side effect and touches no memory Rust owns.
        unsafe {
            std::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) tp,
                options(nostack, preserves_flags, readonly, pure));
        }
        tp
    }
    #[cfg(target_arch = "aarch64")]
    {
        let tp: usize;
        // SAFETY: reads the thread-pointer register, which EL0 code may read; no memory access.
        unsafe {
            std::arch::asm!("mrs {}, tpidr_el0", out(reg) tp,
                options(nostack, preserves_flags, nomem, pure));
        }
        tp
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        thread_local! {
            static ME: u8 = const { 0 };
        }
        ME.with(|m| m as *const u8 as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::thread_token;

    /// The token is never 0, the same for the whole life of a thread, and different for every
    /// thread alive at the same time (what the borrow cells and the queue's writer-kept mark
    /// rely on).
    #[test]
    fn thread_token_is_unique_among_live_threads() {
        let me = thread_token();
        assert_ne!(me, 0);
        assert_eq!(me, thread_token());
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(9));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let b = barrier.clone();
                std::thread::spawn(move || {
                    let t = thread_token();
                    // All nine are alive here at once.
                    b.wait();
                    assert_eq!(t, thread_token());
                    t
                })
            })
            .collect();
        barrier.wait();
        let mut all: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        all.push(me);
        assert!(all.iter().all(|&t| t != 0));
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 9, "two live threads had the same token");
    }
}
