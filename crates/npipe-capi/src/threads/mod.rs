//! Threads: `CreateThread`, `ExitThread`, thread handles (waitable, signalled when the thread
//! ends), `GetExitCodeThread`, `ResumeThread`, `QueueUserAPC`, `GetCurrentThread` and
//! `GetCurrentThreadId`.
//!
//! # Contract
//! - A thread made by CreateThread is a detached pthread started with `pthread_create`, not
//!   `std::thread`: std's thread start takes a process-wide lock of its own, and a process
//!   forked while another thread held it could never start a thread again (the core's
//!   `sys::process::spawn_thread` starts its threads the same way, for the same reason).
//! - Its id is the Linux tid (`gettid`), the value GetCurrentThreadId gives inside it; CreateThread
//!   returns only after the new thread has reported it.
//! - It runs with its own APC queue installed ([`crate::apc::install`]), so QueueUserAPC and
//!   completion routines reach it from the moment CreateThread returns. APCs queued before it
//!   begins (while CREATE_SUSPENDED) run before its start routine, as on Windows.
//! - Its handle is signalled (manual reset: every wait sees it) once the thread has ended, by
//!   returning or by ExitThread, and stays waitable until CloseHandle. GetExitCodeThread gives
//!   STILL_ACTIVE until then, and the exit code after.
//! - `GetCurrentThread()` is the pseudo handle `(HANDLE)-2`. It is not in the handle table:
//!   [`waitable`] resolves it for the wait functions (a wait on it never completes before its
//!   timeout: the thread cannot end while it waits), and QueueUserAPC, GetExitCodeThread and
//!   ResumeThread accept it.
//!
//! # Ending a thread
//! The per-thread [`Current`] value lives in a thread-local whose destructor publishes the
//! exit code and signals the handle. Thread-local destructors run when the thread returns from
//! its start routine and also after `pthread_exit`, so the handle is signalled either way.
//!
//! ExitThread calls `pthread_exit`, which unwinds the thread's stack with a *forced unwind*.
//! Rust defines a forced unwind only through frames that hold no values with destructors
//! ("plain old frames", RFC 2945), and the ABI meant for frames an unwind may cross is
//! `"C-unwind"`. So ExitThread, the start trampoline ([`thread_main`]) and the start routine's
//! type are all `"C-unwind"`, the trampoline holds nothing with a destructor while the start
//! routine runs, and there is no `catch_unwind` around it (it would stop the forced unwind,
//! and glibc aborts the process: "FATAL: exception not rethrown"). An APC or completion routine runs inside a wait function
//! of this library, whose frames do hold destructors: ExitThread from there is outside what
//! Rust defines (with rustc 1.95 it works, the destructors run as cleanups, and the thread ends
//! with its code), so it is not supported.
//!
//! # Windows
//! Threads are not processes' objects here: a thread handle cannot be inherited or duplicated,
//! and a child made by `fork` has none of its parent's threads (waiting on such a handle in the
//! child never completes). SuspendThread, TerminateThread and thread priorities are not
//! provided.
//!
//! # References
//! - [CreateThread](https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-createthread),
//!   [Thread Stack Size](https://learn.microsoft.com/en-us/windows/win32/procthread/thread-stack-size),
//!   [QueueUserAPC](https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-queueuserapc).
//! - [RFC 2945, "C-unwind" ABI](https://rust-lang.github.io/rfcs/2945-c-unwind-abi.html): forced
//!   unwinding.

mod start;

pub(crate) use start::spawn_service;
use start::*;

use std::cell::{Cell, OnceCell};
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

use crate::apc::Apcs;
use crate::handles::{self, Entry, Object};
use crate::sync::Signal;
use crate::*;

/// `STILL_ACTIVE`: the exit code of a thread that has not ended (STATUS_PENDING).
pub(crate) const STILL_ACTIVE: DWORD = 259;
/// `CREATE_SUSPENDED`: the thread does not run until ResumeThread.
const CREATE_SUSPENDED: DWORD = 0x0000_0004;
/// `STACK_SIZE_PARAM_IS_A_RESERVATION`: `dwStackSize` is the reserve, not the commit, size.
const STACK_SIZE_PARAM_IS_A_RESERVATION: DWORD = 0x0001_0000;
/// `ERROR_GEN_FAILURE` (STATUS_UNSUCCESSFUL): QueueUserAPC to a thread that has ended.
const ERROR_GEN_FAILURE: DWORD = 31;
/// The `GetCurrentThread()` pseudo handle, `(HANDLE)(LONG_PTR)-2`.
const CURRENT_THREAD: HANDLE = (usize::MAX - 1) as HANDLE;
/// The smallest stack a thread gets: Windows' allocation granularity (64 KiB), which is also
/// room for the static TLS glibc carves out of a thread's stack.
const MIN_STACK: usize = 64 * 1024;
/// Windows rounds a commit size larger than the default reserve up to a multiple of 1 MiB.
const RESERVE_GRANULE: usize = 1024 * 1024;

/// `LPTHREAD_START_ROUTINE`. `"C-unwind"` because ExitThread's forced unwind leaves through
/// it; the calling convention is C's.
pub type ThreadStart = unsafe extern "C-unwind" fn(*mut c_void) -> DWORD;

/// `PAPCFUNC`.
pub type ApcFunc = unsafe extern "C-unwind" fn(usize);

extern "C-unwind" {
    /// libc's `pthread_exit`, declared `"C-unwind"`: it leaves by a forced unwind (the `libc`
    /// crate declares it plain `"C"`).
    fn pthread_exit(value: *mut c_void) -> !;
}

/// Whether a thread made by CreateThread has started and may run.
#[derive(Debug)]
struct Gate {
    /// The thread has stored its id in [`Thread::tid`].
    started: bool,
    /// ResumeThread calls still needed before it runs its start routine (0 or 1: there is no
    /// SuspendThread).
    suspend_count: u32,
}

/// A thread: one made by CreateThread, or (for the pseudo handle) any other thread that asked
/// about itself.
#[derive(Debug)]
pub(crate) struct Thread {
    /// Set (manual reset) when the thread has ended.
    done: Signal,
    /// The exit code (STILL_ACTIVE until the thread has ended).
    pub(crate) code: AtomicU32,
    /// Its id (GetCurrentThreadId in that thread); 0 until it has started.
    pub(crate) tid: AtomicU32,
    /// Its APC queue.
    pub(crate) apcs: Arc<Apcs>,
    /// Start-up handshake and suspension.
    gate: Mutex<Gate>,
    /// Notified when `gate` changes.
    gate_changed: Condvar,
    /// The thread's record of the blocking call it sleeps in (CancelSynchronousIo); set by the
    /// thread itself before CreateThread returns.
    sync: OnceLock<npipe::SyncCancel>,
}

impl Thread {
    /// A thread that has not started (`suspended`: it waits for ResumeThread once started).
    fn unstarted(suspended: bool) -> Thread {
        Thread {
            done: Signal::new(false, false),
            code: AtomicU32::new(STILL_ACTIVE),
            tid: AtomicU32::new(0),
            apcs: Arc::default(),
            gate: Mutex::new(Gate {
                started: false,
                suspend_count: suspended as u32,
            }),
            gate_changed: Condvar::new(),
            sync: OnceLock::new(),
        }
    }

    /// The calling thread, which CreateThread did not make: running, with the queue `apcs`.
    fn running(apcs: Arc<Apcs>) -> Thread {
        Thread {
            done: Signal::new(false, false),
            code: AtomicU32::new(STILL_ACTIVE),
            tid: AtomicU32::new(current_tid()),
            apcs,
            gate: Mutex::new(Gate {
                started: true,
                suspend_count: 0,
            }),
            gate_changed: Condvar::new(),
            sync: OnceLock::from(npipe::SyncCancel::current()),
        }
    }

    /// Set when the thread has ended.
    pub(crate) fn done(&self) -> &Signal {
        &self.done
    }

    fn gate(&self) -> MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// In the new thread: stores its id and its cancellation record, and tells CreateThread.
    fn report_started(&self, tid: DWORD) {
        let _ = self.sync.set(npipe::SyncCancel::current());
        // Relaxed: the gate's lock, taken next, orders it before CreateThread reads it.
        self.tid.store(tid, Ordering::Relaxed);
        self.gate().started = true;
        self.gate_changed.notify_all();
    }

    /// In CreateThread: waits for the new thread's id.
    fn wait_started(&self) -> DWORD {
        let mut g = self.gate();
        while !g.started {
            g = self.gate_changed.wait(g).unwrap_or_else(|p| p.into_inner());
        }
        drop(g);
        // Relaxed: stored before `started` was set under the lock we took.
        self.tid.load(Ordering::Relaxed)
    }

    /// In the new thread: waits until it is not suspended.
    fn wait_resumed(&self) {
        let mut g = self.gate();
        while g.suspend_count > 0 {
            g = self.gate_changed.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// ResumeThread: decrements the suspend count, letting the thread run when it reaches 0.
    /// The count before.
    fn resume(&self) -> DWORD {
        let mut g = self.gate();
        let before = g.suspend_count;
        if before > 0 {
            g.suspend_count -= 1;
            if g.suspend_count == 0 {
                self.gate_changed.notify_all();
            }
        }
        before
    }

    /// GetExitCodeThread's answer.
    fn exit_code(&self) -> DWORD {
        // Acquire: SYNC POINT with the Release store in `Current::drop`: a caller that saw
        // the handle signalled sees the final code.
        self.code.load(Ordering::Acquire)
    }
}

/// What the calling thread knows about itself, in a thread-local whose destructor is how a
/// thread's end becomes visible.
#[derive(Debug)]
struct Current {
    thread: Arc<Thread>,
    /// The code the start routine returned or ExitThread gave, published when the thread ends.
    exit_code: Cell<Option<DWORD>>,
    /// The table entry the pseudo handle stands for in waits, made on first need.
    entry: OnceCell<Arc<Entry>>,
}

impl Current {
    fn new(thread: Arc<Thread>) -> Current {
        Current {
            thread,
            exit_code: Cell::new(None),
            entry: OnceCell::new(),
        }
    }
}

impl Drop for Current {
    /// The thread is ending (returned from its start routine, or ExitThread): publishes the
    /// exit code, then signals the handle.
    fn drop(&mut self) {
        if let Some(code) = self.exit_code.get() {
            // Release: SYNC POINT with the Acquire load in `Thread::exit_code`.
            self.thread.code.store(code, Ordering::Release);
        }
        self.thread.done.set();
    }
}

thread_local! {
    static CURRENT: OnceCell<Current> = const { OnceCell::new() };
}

/// The calling thread's [`Current`], made for a thread CreateThread did not start.
fn current_in(c: &OnceCell<Current>) -> &Current {
    c.get_or_init(|| Current::new(Arc::new(Thread::running(crate::apc::current()))))
}

/// The calling thread. While the thread-locals are being torn down (a call from another
/// thread-local's destructor), a stand-in that is running and shares nothing.
pub(crate) fn current_thread() -> Arc<Thread> {
    CURRENT
        .try_with(|c| current_in(c).thread.clone())
        .unwrap_or_else(|_| Arc::new(Thread::running(Arc::default())))
}

thread_local! {
    /// The calling thread's tid and the process id it was asked in (0, 0 until then): a tid
    /// is asked on every overlapped operation that goes pending, and gettid is a system call.
    /// A forked child's thread has a new tid, and the engine renews the process id in the
    /// child ([`crate::engine::pid`]), so a value from before the fork is never used.
    static TID: Cell<(u32, DWORD)> = const { Cell::new((0, 0)) };
}

/// The Linux tid of the calling thread.
pub(crate) fn current_tid() -> DWORD {
    let pid = crate::engine::pid();
    let ask = || rustix::thread::gettid().as_raw_nonzero().get() as DWORD;
    // Outside the thread-local's lifetime (a late destructor), the system call.
    TID.try_with(|t| match t.get() {
        (p, tid) if p == pid => tid,
        _ => {
            let tid = ask();
            t.set((pid, tid));
            tid
        }
    })
    .unwrap_or_else(|_| ask())
}

/// Whether `h` is the pseudo handle of the calling thread (`GetCurrentThread()`), which names
/// no table entry.
pub(crate) fn is_pseudo(h: HANDLE) -> bool {
    h == CURRENT_THREAD
}

/// The handle `h` as a wait function sees it: the pseudo handle `GetCurrentThread()` is an
/// entry for the calling thread (never signalled while it waits), anything else is looked up
/// in the table.
pub(crate) fn waitable(h: HANDLE) -> Option<Arc<Entry>> {
    if h != CURRENT_THREAD {
        return handles::get(h);
    }
    let make = |t: Arc<Thread>| Arc::new(Entry::new(Object::Thread(t), false));
    Some(
        CURRENT
            .try_with(|c| {
                let cur = current_in(c);
                cur.entry.get_or_init(|| make(cur.thread.clone())).clone()
            })
            .unwrap_or_else(|_| make(Arc::new(Thread::running(Arc::default())))),
    )
}

/// The thread behind `h` (a CreateThread handle or the pseudo handle), or `None` for any
/// other handle.
fn thread_of(h: HANDLE) -> Option<Arc<Thread>> {
    if h == CURRENT_THREAD {
        return Some(current_thread());
    }
    match &handles::get(h)?.obj {
        Object::Thread(t) => Some(t.clone()),
        _ => None,
    }
}

/// `CreateThread`: starts `start(param)` on a new thread and returns a handle to it, or NULL.
///
/// `dwStackSize` is read as Windows does (see [`stack_size`]); `lpThreadId`, when not null,
/// receives the thread's id before the call returns.
///
/// # Errors
/// - ERROR_INVALID_PARAMETER: `start` is NULL, or `flags` has a bit other than
///   CREATE_SUSPENDED and STACK_SIZE_PARAM_IS_A_RESERVATION;
/// - ERROR_NOT_ENOUGH_MEMORY: no thread or stack could be made;
/// - ERROR_NO_SYSTEM_RESOURCES: the handle table is full.
///
/// # Safety
/// `thread_id` is null or writable; `start` may be called with `param` on another thread.
///
/// # Windows
/// `lpThreadAttributes` is ignored (handles are not inherited). The thread id is the Linux tid.
#[export_name = "npipe_CreateThread"]
pub unsafe extern "C" fn CreateThread(
    _attributes: *mut c_void,
    stack_size: usize,
    start: Option<ThreadStart>,
    param: *mut c_void,
    flags: DWORD,
    thread_id: *mut DWORD,
) -> HANDLE {
    let Some(routine) = start else {
        set_error(ERROR_INVALID_PARAMETER);
        return std::ptr::null_mut();
    };
    if flags & !(CREATE_SUSPENDED | STACK_SIZE_PARAM_IS_A_RESERVATION) != 0 {
        set_error(ERROR_INVALID_PARAMETER);
        return std::ptr::null_mut();
    }
    let thread = Arc::new(Thread::unstarted(flags & CREATE_SUSPENDED != 0));
    // The handle first: a full table fails the call before a thread exists.
    let h = handles::insert_obj(Object::Thread(thread.clone()));
    if h == INVALID_HANDLE_VALUE {
        return std::ptr::null_mut();
    }
    let start = Start {
        thread: thread.clone(),
        routine,
        param,
        identity: npipe::NewThreadIdentity::capture(),
    };
    let reservation = flags & STACK_SIZE_PARAM_IS_A_RESERVATION != 0;
    if spawn(start, stack_size, reservation).is_err() {
        handles::CloseHandle(h);
        // EAGAIN (no memory for the stack, or the thread limit), ENOMEM, EINVAL (a stack too
        // small for the static TLS): Windows fails a thread it cannot reserve a stack for with
        // ERROR_NOT_ENOUGH_MEMORY.
        set_error(ERROR_NOT_ENOUGH_MEMORY);
        return std::ptr::null_mut();
    }
    let tid = thread.wait_started();
    // SAFETY: null or writable (caller).
    unsafe { put(thread_id, tid) };
    h
}

/// `ExitThread`: ends the calling thread with the exit code `code`. Its handle is signalled
/// and GetExitCodeThread gives `code` (even STILL_ACTIVE, as on Windows).
///
/// The thread ends with `pthread_exit`: its stack is unwound (C++ destructors and `cleanup`
/// attributes run), then thread-local destructors run. On a thread CreateThread did not make
/// it ends that thread the same way; on the main thread the process goes on running its other
/// threads and exits, with status 0, when the last one ends (Windows gives the process the
/// last thread's exit code).
///
/// # Safety
/// - No frame between the caller and the thread's start holds a Rust value with a destructor
///   (the forced unwind crosses them): call it from the thread's own code, not from inside an
///   APC or a completion routine (they run inside this library's wait functions), and never on
///   a thread started by Rust's `std::thread` (its `catch_unwind` stops the forced unwind, and
///   glibc aborts the process).
///
/// # Windows
/// [ExitThread](https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-exitthread).
/// Windows can end a thread from anywhere, an APC included.
#[export_name = "npipe_ExitThread"]
pub unsafe extern "C-unwind" fn ExitThread(code: DWORD) -> ! {
    record_exit(code);
    // SAFETY: this frame holds nothing with a destructor (record_exit has returned) and its ABI
    // is "C-unwind", so the forced unwind may leave through it; the frames above it qualify too
    // (the caller's contract).
    unsafe { pthread_exit(std::ptr::null_mut()) }
}

/// Records the exit code ExitThread publishes when the thread-locals are torn down.
fn record_exit(code: DWORD) {
    let _ = CURRENT.try_with(|c| current_in(c).exit_code.set(Some(code)));
}

/// `GetCurrentThreadId`: the Linux tid of the calling thread.
#[export_name = "npipe_GetCurrentThreadId"]
pub extern "C" fn GetCurrentThreadId() -> DWORD {
    current_tid()
}

/// `GetCurrentThread`: the pseudo handle `(HANDLE)-2`, which stands for the calling thread in
/// the wait functions, QueueUserAPC, GetExitCodeThread and ResumeThread. It needs no
/// CloseHandle.
#[export_name = "npipe_GetCurrentThread"]
pub extern "C" fn GetCurrentThread() -> HANDLE {
    CURRENT_THREAD
}

/// `GetExitCodeThread`: STILL_ACTIVE (259) while the thread runs, then its exit code.
///
/// # Errors
/// ERROR_INVALID_HANDLE for a handle that is not a thread; then ERROR_NOACCESS for a NULL
/// `code`.
///
/// # Safety
/// `code` is null or writable.
#[export_name = "npipe_GetExitCodeThread"]
pub unsafe extern "C" fn GetExitCodeThread(h: HANDLE, code: *mut DWORD) -> BOOL {
    // A child process's main thread (CreateProcess's hThread) ends with the process, with its
    // exit code.
    let c = match (thread_of(h), crate::process::main_thread_of(h)) {
        (Some(t), _) => t.exit_code(),
        (None, Some(p)) => p.exit_code(),
        (None, None) => return fail(ERROR_INVALID_HANDLE),
    };
    if code.is_null() {
        return fail(ERROR_NOACCESS);
    }
    // SAFETY: non-null and writable (caller).
    unsafe { put(code, c) };
    TRUE
}

/// `ResumeThread`: the suspend count before the call (1 for a thread created with
/// CREATE_SUSPENDED, which then runs; 0 otherwise, with no effect).
///
/// # Errors
/// `(DWORD)-1` with ERROR_INVALID_HANDLE for a handle that is not a thread.
#[export_name = "npipe_ResumeThread"]
pub extern "C" fn ResumeThread(h: HANDLE) -> DWORD {
    match thread_of(h) {
        Some(t) => t.resume(),
        // A child process's main thread runs from the start (CREATE_SUSPENDED is refused).
        None if crate::process::main_thread_of(h).is_some() => 0,
        None => {
            set_error(ERROR_INVALID_HANDLE);
            DWORD::MAX
        }
    }
}

/// `QueueUserAPC`: queues `apc(data)` to run in the thread's next alertable wait (SleepEx,
/// WaitForSingleObjectEx, WaitForMultipleObjectsEx with `bAlertable`), which then returns
/// WAIT_IO_COMPLETION. Nonzero on success.
///
/// # Errors
/// 0 with ERROR_INVALID_HANDLE for a handle that is not a thread, ERROR_INVALID_PARAMETER for a
/// NULL `apc`, ERROR_GEN_FAILURE (STATUS_UNSUCCESSFUL) for a thread that has ended.
///
/// # Safety
/// `apc` may be called with `data` on the target thread.
#[export_name = "npipe_QueueUserAPC"]
pub unsafe extern "C" fn QueueUserAPC(apc: Option<ApcFunc>, h: HANDLE, data: usize) -> DWORD {
    let Some(t) = thread_of(h) else {
        set_error(ERROR_INVALID_HANDLE);
        return 0;
    };
    let Some(f) = apc else {
        set_error(ERROR_INVALID_PARAMETER);
        return 0;
    };
    if t.done().is_set() {
        // A thread's APCs end with it (Windows refuses to queue them once it is terminating).
        set_error(ERROR_GEN_FAILURE);
        return 0;
    }
    t.apcs.push(Box::new(move || {
        // SAFETY: the caller of QueueUserAPC gave a function that takes `data`.
        unsafe { f(data) }
    }));
    1
}

/// `CancelSynchronousIo`: cancels the synchronous call the thread is blocked in (W42). TRUE
/// when there was one, which then fails with ERROR_OPERATION_ABORTED (unless what it waited
/// for came first); the last error is left alone.
///
/// # Errors
/// FALSE with ERROR_NOT_FOUND when the thread is blocked in no call that can be cancelled (no
/// call, overlapped I/O only, a call that has not reached its wait yet or has left it, a read
/// on an anonymous pipe); ERROR_INVALID_HANDLE for a handle that is not a thread.
///
/// # Windows
/// Which calls can be cancelled: see `npipe::SyncCancel`. An anonymous pipe's read is a
/// kernel pipe's and cannot be (a departure).
#[export_name = "npipe_CancelSynchronousIo"]
pub extern "C" fn CancelSynchronousIo(h: HANDLE) -> BOOL {
    let Some(t) = thread_of(h) else {
        return fail(ERROR_INVALID_HANDLE);
    };
    match t.sync.get() {
        Some(s) if s.cancel() => TRUE,
        _ => fail(ERROR_NOT_FOUND),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handles::CloseHandle;
    use crate::sync::{WaitForSingleObject, WAIT_OBJECT_0, WAIT_TIMEOUT};

    const PAGE: usize = 4096;
    const DEFAULT: usize = 8 << 20;

    #[test]
    fn stack_size_zero_is_the_default() {
        assert_eq!(stack_size(0, false, DEFAULT, PAGE), Ok(None));
        assert_eq!(stack_size(0, true, DEFAULT, PAGE), Ok(None));
    }

    #[test]
    fn stack_size_commit_below_the_default_keeps_the_default() {
        assert_eq!(stack_size(4096, false, DEFAULT, PAGE), Ok(None));
        assert_eq!(stack_size(DEFAULT, false, DEFAULT, PAGE), Ok(None));
    }

    #[test]
    fn stack_size_commit_above_the_default_rounds_to_a_mebibyte() {
        assert_eq!(
            stack_size(DEFAULT + 1, false, DEFAULT, PAGE),
            Ok(Some(DEFAULT + (1 << 20)))
        );
    }

    #[test]
    fn stack_size_reservation_is_the_stack() {
        assert_eq!(stack_size(1, true, DEFAULT, PAGE), Ok(Some(MIN_STACK)));
        assert_eq!(
            stack_size(256 * 1024 + 1, true, DEFAULT, PAGE),
            Ok(Some(256 * 1024 + PAGE))
        );
        assert_eq!(
            stack_size(64 << 20, true, DEFAULT, PAGE),
            Ok(Some(64 << 20))
        );
    }

    #[test]
    fn stack_size_overflow_is_an_error() {
        assert_eq!(stack_size(usize::MAX, true, DEFAULT, PAGE), Err(()));
        assert_eq!(stack_size(usize::MAX, false, DEFAULT, PAGE), Err(()));
    }

    unsafe extern "C-unwind" fn returns_param(p: *mut c_void) -> DWORD {
        p as usize as DWORD
    }

    unsafe extern "C-unwind" fn exits_with_param(p: *mut c_void) -> DWORD {
        // SAFETY: called by `thread_main` of a CreateThread thread; this frame holds nothing.
        unsafe { ExitThread(p as usize as DWORD) }
    }

    fn create(routine: ThreadStart, param: usize, flags: DWORD) -> (HANDLE, DWORD) {
        let mut tid = 0;
        // SAFETY: `tid` is writable; the routines take any parameter.
        let h = unsafe {
            CreateThread(
                std::ptr::null_mut(),
                0,
                Some(routine),
                param as *mut c_void,
                flags,
                &mut tid,
            )
        };
        assert!(!h.is_null(), "CreateThread failed: {}", GetLastError());
        (h, tid)
    }

    fn exit_code(h: HANDLE) -> DWORD {
        let mut code = 0;
        // SAFETY: `code` is writable.
        assert_eq!(unsafe { GetExitCodeThread(h, &mut code) }, TRUE);
        code
    }

    #[test]
    fn returned_and_exit_thread_codes() {
        let (h, tid) = create(returns_param, 42, 0);
        assert_ne!(tid, 0);
        assert_ne!(tid, GetCurrentThreadId());
        assert_eq!(WaitForSingleObject(h, 5000), WAIT_OBJECT_0);
        assert_eq!(exit_code(h), 42);
        assert_eq!(CloseHandle(h), TRUE);

        let (h, _) = create(exits_with_param, 7, 0);
        assert_eq!(WaitForSingleObject(h, 5000), WAIT_OBJECT_0);
        assert_eq!(WaitForSingleObject(h, 0), WAIT_OBJECT_0, "manual reset");
        assert_eq!(exit_code(h), 7);
        assert_eq!(CloseHandle(h), TRUE);
    }

    #[test]
    fn suspended_thread_waits_for_resume() {
        let (h, tid) = create(returns_param, 5, CREATE_SUSPENDED);
        assert_ne!(tid, 0, "the id is known before the thread runs");
        assert_eq!(WaitForSingleObject(h, 50), WAIT_TIMEOUT);
        assert_eq!(exit_code(h), STILL_ACTIVE);
        assert_eq!(ResumeThread(h), 1);
        assert_eq!(WaitForSingleObject(h, 5000), WAIT_OBJECT_0);
        assert_eq!(ResumeThread(h), 0);
        assert_eq!(exit_code(h), 5);
        assert_eq!(CloseHandle(h), TRUE);
    }

    #[test]
    fn bad_arguments() {
        let mut tid = 0;
        // SAFETY: `tid` is writable; no routine runs.
        let h = unsafe {
            CreateThread(
                std::ptr::null_mut(),
                0,
                None,
                std::ptr::null_mut(),
                0,
                &mut tid,
            )
        };
        assert!(h.is_null());
        assert_eq!(GetLastError(), ERROR_INVALID_PARAMETER);
        // SAFETY: as above; the flags are refused before a thread starts.
        let h = unsafe {
            CreateThread(
                std::ptr::null_mut(),
                0,
                Some(returns_param),
                std::ptr::null_mut(),
                0x8,
                &mut tid,
            )
        };
        assert!(h.is_null());
        assert_eq!(GetLastError(), ERROR_INVALID_PARAMETER);
        assert_eq!(ResumeThread(INVALID_HANDLE_VALUE), DWORD::MAX);
        assert_eq!(GetLastError(), ERROR_INVALID_HANDLE);
        // SAFETY: a NULL out pointer is checked, never written.
        let r = unsafe { GetExitCodeThread(CURRENT_THREAD, std::ptr::null_mut()) };
        assert_eq!(r, FALSE);
        assert_eq!(GetLastError(), ERROR_NOACCESS);
    }

    #[test]
    fn pseudo_handle_is_the_calling_thread() {
        assert_eq!(GetCurrentThread(), CURRENT_THREAD);
        assert_eq!(exit_code(GetCurrentThread()), STILL_ACTIVE);
        assert_eq!(ResumeThread(GetCurrentThread()), 0);
        assert_eq!(WaitForSingleObject(GetCurrentThread(), 20), WAIT_TIMEOUT);
        let a = waitable(CURRENT_THREAD).expect("pseudo handle");
        let b = waitable(CURRENT_THREAD).expect("pseudo handle");
        assert!(Arc::ptr_eq(&a, &b), "one entry per thread");
    }
}
