//! Starting pthreads: the stack size CreateThread asks for, pthread attributes, the start
//! trampoline of a CreateThread thread (its id, its APC queue, its exit), and the library's own
//! service threads. Thread handles and the Win32 calls are in the parent module.

use super::*;

/// The stack size to ask pthread_create for, from CreateThread's `dwStackSize`: `Ok(None)`
/// for the default, `Err(())` when the size cannot be represented.
///
/// As on Windows: 0 is the default; with STACK_SIZE_PARAM_IS_A_RESERVATION the size is the
/// whole stack (rounded up to pages, and to at least 64 KiB); without it the size is the
/// initially committed part, and the stack is the default one unless the size is larger, in
/// which case it is the size rounded up to 1 MiB.
pub(super) fn stack_size(
    requested: usize,
    reservation: bool,
    default: usize,
    page: usize,
) -> Result<Option<usize>, ()> {
    fn round_up(n: usize, to: usize) -> Result<usize, ()> {
        n.checked_next_multiple_of(to).ok_or(())
    }
    if requested == 0 {
        return Ok(None);
    }
    if reservation {
        let floor = MIN_STACK.max(libc::PTHREAD_STACK_MIN);
        return Ok(Some(round_up(requested.max(floor), page)?));
    }
    if requested <= default {
        return Ok(None);
    }
    Ok(Some(round_up(round_up(requested, RESERVE_GRANULE)?, page)?))
}

/// What the new thread takes over from CreateThread.
#[derive(Debug)]
pub(super) struct Start {
    pub(super) thread: Arc<Thread>,
    pub(super) routine: ThreadStart,
    pub(super) param: *mut c_void,
    /// What the new thread runs as: the process, even when its creator impersonates a pipe
    /// client (a Windows thread starts without its creator's impersonation token).
    pub(super) identity: npipe::NewThreadIdentity,
}

/// The new thread's start function (given to pthread_create).
///
/// Nothing with a destructor is alive in this frame while the start routine runs: ExitThread's
/// forced unwind crosses it (RFC 2945). Everything that owns something lives in [`enter`] and
/// the thread-local [`Current`].
extern "C-unwind" fn thread_main(arg: *mut c_void) -> *mut c_void {
    // SAFETY: `arg` is the `Box<Start>` CreateThread leaked for this thread alone.
    let Some((routine, param)) = (unsafe { enter(arg) }) else {
        return std::ptr::null_mut();
    };
    run_early_apcs();
    // SAFETY: CreateThread's caller gave a routine that takes this parameter (its contract).
    let code = unsafe { routine(param) };
    let _ = CURRENT.try_with(|c| current_in(c).exit_code.set(Some(code)));
    std::ptr::null_mut()
    // The thread-local `Current` is dropped after this returns: the handle is signalled.
}

/// Sets the new thread up: its `Current`, its APC queue, the handshake with CreateThread and
/// the wait while suspended. The routine and parameter to run; `None` if setting up panicked
/// (the thread then ends at once, with the exit code STILL_ACTIVE).
///
/// # Safety
/// `arg` is a `Box<Start>` from `Box::into_raw`, owned by the calling thread.
unsafe fn enter(arg: *mut c_void) -> Option<(ThreadStart, *mut c_void)> {
    // SAFETY: a leaked Box<Start> that only this thread takes back (the caller's contract).
    let start = unsafe { Box::from_raw(arg.cast::<Start>()) };
    let Start {
        thread,
        routine,
        param,
        identity,
    } = *start;
    let set_up = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        identity.adopt();
        crate::apc::install(thread.apcs.clone());
        let _ = CURRENT.try_with(|c| c.set(Current::new(thread.clone())));
        thread.report_started(current_tid());
        thread.wait_resumed();
    }));
    if set_up.is_err() {
        // Whatever failed, CreateThread must not wait forever.
        thread.report_started(current_tid());
        return None;
    }
    Some((routine, param))
}

/// Runs the APCs queued before the thread began (while it was suspended): on Windows a thread
/// begins by calling them. Outside `catch_unwind`, which would turn an ExitThread inside one of
/// them into an abort.
fn run_early_apcs() {
    let _ = CURRENT.try_with(|c| {
        if let Some(cur) = c.get() {
            cur.thread.apcs.run_pending();
        }
    });
}

/// pthread attributes, destroyed when dropped.
struct Attr(Box<libc::pthread_attr_t>);

impl std::fmt::Debug for Attr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Attr")
    }
}

impl Attr {
    /// Default attributes, detached.
    fn detached() -> Result<Attr, i32> {
        // SAFETY: pthread_attr_t is plain data that pthread_attr_init overwrites; all-zero is a
        // valid value to hold until then.
        let mut a =
            Box::new(unsafe { MaybeUninit::<libc::pthread_attr_t>::zeroed().assume_init() });
        // SAFETY: `a` is storage for one pthread_attr_t.
        let r = unsafe { libc::pthread_attr_init(&mut *a) };
        if r != 0 {
            return Err(r);
        }
        let mut attr = Attr(a);
        // SAFETY: initialised above; PTHREAD_CREATE_DETACHED is a valid state.
        let r =
            unsafe { libc::pthread_attr_setdetachstate(attr.ptr(), libc::PTHREAD_CREATE_DETACHED) };
        if r != 0 {
            return Err(r);
        }
        Ok(attr)
    }

    fn ptr(&mut self) -> *mut libc::pthread_attr_t {
        &mut *self.0
    }

    /// The stack size threads get by default (glibc's, from RLIMIT_STACK).
    fn stack_size(&mut self) -> Result<usize, i32> {
        let mut n = 0usize;
        // SAFETY: initialised attributes; `n` is writable.
        match unsafe { libc::pthread_attr_getstacksize(self.ptr(), &mut n) } {
            0 => Ok(n),
            r => Err(r),
        }
    }

    fn set_stack_size(&mut self, n: usize) -> Result<(), i32> {
        // SAFETY: initialised attributes; an invalid size is refused with EINVAL.
        match unsafe { libc::pthread_attr_setstacksize(self.ptr(), n) } {
            0 => Ok(()),
            r => Err(r),
        }
    }
}

impl Drop for Attr {
    fn drop(&mut self) {
        // SAFETY: initialised by pthread_attr_init (an `Attr` exists only after it succeeded)
        // and not used after this.
        unsafe { libc::pthread_attr_destroy(self.ptr()) };
    }
}

/// Starts the pthread for `start`, with the stack CreateThread's `dwStackSize` asks for. The
/// errno of the call that failed.
pub(super) fn spawn(start: Start, requested: usize, reservation: bool) -> Result<(), i32> {
    let mut attr = Attr::detached()?;
    let default = attr.stack_size()?;
    let page = rustix::param::page_size();
    if let Some(n) = stack_size(requested, reservation, default, page).map_err(|()| libc::ENOMEM)? {
        attr.set_stack_size(n)?;
    }
    // SAFETY: `thread_main` is "C-unwind", whose calling convention is C's, so calling it
    // through the plain "C" pointer type pthread_create takes is the same call.
    let entry = unsafe {
        std::mem::transmute::<
            extern "C-unwind" fn(*mut c_void) -> *mut c_void,
            extern "C" fn(*mut c_void) -> *mut c_void,
        >(thread_main)
    };
    let arg = Box::into_raw(Box::new(start));
    let mut id: libc::pthread_t = 0;
    // SAFETY: 1. `id` is writable; 2. `attr` holds initialised attributes; 3. `entry` takes
    // ownership of `arg`, a leaked Box that lives until it does.
    let r = unsafe { libc::pthread_create(&mut id, attr.ptr(), entry, arg.cast()) };
    if r != 0 {
        // SAFETY: no thread was made, so `arg` is still ours to free.
        drop(unsafe { Box::from_raw(arg) });
        return Err(r);
    }
    Ok(())
}

/// Starts a detached thread of the library's own (the overlapped-I/O engine, the releaser of
/// closed pipe entries) running `f`, with pthread_create rather than std::thread: std's thread
/// start takes a process lock of its own, which a child forked at the wrong moment inherits
/// held.
pub(crate) fn spawn_service(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    type Job = Box<dyn FnOnce() + Send>;
    extern "C" fn service_main(arg: *mut c_void) -> *mut c_void {
        // SAFETY: `arg` is the Box<Job> spawn_service leaked for this thread alone.
        let job = unsafe { Box::from_raw(arg.cast::<Job>()) };
        // A panic must not unwind into pthread's frames: it ends this thread only.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
        std::ptr::null_mut()
    }
    let mut attr = Attr::detached().map_err(std::io::Error::from_raw_os_error)?;
    let name = std::ffi::CString::new(name.chars().take(15).collect::<String>()).ok();
    // The library's thread runs as the process, not as a client its creator impersonates.
    let identity = npipe::NewThreadIdentity::capture();
    let job: Box<Job> = Box::new(Box::new(move || {
        identity.adopt();
        if let Some(n) = name {
            // SAFETY: names the calling thread; `n` is NUL-terminated, at most 15 bytes + NUL.
            unsafe { libc::pthread_setname_np(libc::pthread_self(), n.as_ptr()) };
        }
        f()
    }));
    let arg = Box::into_raw(job);
    let mut id: libc::pthread_t = 0;
    // SAFETY: 1. `id` is writable; 2. `attr` holds initialised attributes; 3. `service_main`
    // takes ownership of `arg`, a leaked Box that lives until it does.
    let r = unsafe { libc::pthread_create(&mut id, attr.ptr(), service_main, arg.cast()) };
    if r != 0 {
        // SAFETY: no thread was made, so `arg` is still ours to free.
        drop(unsafe { Box::from_raw(arg) });
        return Err(std::io::Error::from_raw_os_error(r));
    }
    Ok(())
}
