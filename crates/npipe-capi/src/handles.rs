//! The handle table: what a `HANDLE` stands for, `CloseHandle`, and the descriptors behind
//! handles (`npipe_handle_fd`, `npipe_wait_fd`).
//!
//! Handles are small integers, multiples of 4 as on Windows, indexing a table of segments of
//! 1,024 slots each. A lookup takes no lock: the segment is found with one atomic load and the
//! slot is an [`ArcSwapOption`], so threads calling ReadFile on different handles (or on the
//! same one) never meet on a lock of the table. A thread's lookups of the pipe handles it used
//! last are cached (`lookup`), without even an atomic read-modify-write. Only creating and
//! closing a handle take the free-list lock, which the fork handler holds so that a child never
//! inherits it locked; it also guards the closed pipe entries waiting for the releaser.

use std::sync::atomic::{AtomicU32, AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use arc_swap::ArcSwapOption;

use crate::lookup;
use crate::overlapped::Io;
use crate::sync::{Event, Signal};
use crate::threads::Thread;
use crate::*;

/// What a handle stands for.
///
/// With a tag of its own (`repr(u8)`), so a call tells a pipe end from the rest with one
/// compare; without it the tag hid in a niche of `File` and took several instructions.
#[derive(Debug)]
#[repr(u8)]
pub(crate) enum Object {
    Server(NamedPipeServer),
    Client(NamedPipeClient),
    Mailslot(Mailslot),
    MailslotWriter(MailslotWriter),
    AnonRead(AnonReader),
    AnonWrite(AnonWriter),
    /// An event; named events share one object between handles.
    Event(Arc<Event>),
    /// A thread made by CreateThread.
    Thread(Arc<Thread>),
    /// A file, a device or a descriptor this process was started with (CreateFile on a path,
    /// GetStdHandle).
    File(crate::files::File),
    /// A process made by CreateProcess (or this process, from DuplicateHandle).
    Process(Arc<crate::process::Process>),
    /// A WaitNamedPipe in progress (`npipe_wait_named_pipe_start`).
    Wait(crate::ready::Wait),
    /// An I/O completion port.
    Port(Arc<crate::iocp::Port>),
    // The objects no wait takes come last, so that `is_waitable` is one compare of the tag.
    /// A search made by FindFirstFile.
    Find(crate::find::Search),
    /// A wait registered with RegisterWaitForSingleObject.
    Registered(Arc<crate::regwait::Registration>),
    /// An access token (OpenProcessToken, OpenThreadToken).
    Token(Arc<crate::token::Token>),
}

impl Object {
    /// Whether it is a file object (a pipe or mailslot end, a file): what Windows' I/O calls
    /// take. The others are no file at all, and those calls fail with ERROR_INVALID_HANDLE on
    /// them (STATUS_OBJECT_TYPE_MISMATCH) before any file system sees the call.
    pub(crate) fn is_file(&self) -> bool {
        match self {
            Object::Server(_)
            | Object::Client(_)
            | Object::Mailslot(_)
            | Object::MailslotWriter(_)
            | Object::AnonRead(_)
            | Object::AnonWrite(_)
            | Object::File(_) => true,
            Object::Event(_)
            | Object::Thread(_)
            | Object::Process(_)
            | Object::Find(_)
            | Object::Wait(_)
            | Object::Port(_)
            | Object::Registered(_)
            | Object::Token(_) => false,
        }
    }

    /// Whether the wait functions take it: every object but a token, a FindFirstFile search
    /// and a registered wait, which are no kernel objects with a signalled state on Windows
    /// (the wait fails with ERROR_INVALID_HANDLE there).
    pub(crate) fn is_waitable(&self) -> bool {
        !matches!(
            self,
            Object::Token(_) | Object::Find(_) | Object::Registered(_)
        )
    }
}

/// `Entry::watch`: something has looked at the handle's signal.
const OBSERVED: u8 = 1;
/// `Entry::watch`: a synchronous call on the unobserved handle waited and reset its signal.
const SYNC_WAITED: u8 = 2;

/// One open handle.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) obj: Object,
    /// Opened with FILE_FLAG_OVERLAPPED: ReadFile, WriteFile, ConnectNamedPipe and
    /// TransactNamedPipe with an OVERLAPPED return ERROR_IO_PENDING instead of waiting.
    pub(crate) overlapped: bool,
    /// The handle's own signalled state, for pipe and mailslot handles (W26): set when the
    /// handle is made, reset when an I/O starts, set when an overlapped I/O without an event
    /// completes. Events and threads have a signal of their own.
    pub(crate) signal: Signal,
    /// [`OBSERVED`] once anything has looked at `signal` (a wait, `npipe_wait_fd`, an
    /// overlapped operation; never cleared). Until then synchronous I/O, which would reset it
    /// and set it again, leaves it alone while it finishes at once: nobody can tell, and it
    /// saves two lock round trips per ReadFile or WriteFile. A synchronous call that comes to
    /// wait resets it all the same and sets [`SYNC_WAITED`] ([`Entry::sync_wait`]), so that
    /// its end sets it again (W27: another thread may look at the handle meanwhile).
    watch: AtomicU8,
    /// Overlapped operations of this handle that have not completed.
    pub(crate) io: Io,
    /// Its completion port, once bound, and its notification modes.
    pub(crate) completion: crate::iocp::Completion,
    /// How many handles name this entry: DuplicateHandle gives a second handle to the same
    /// object, which closes with the last of them.
    handles: AtomicUsize,
    /// For a standard handle over descriptor 0, 1 or 2: puts /dev/null there once the entry is
    /// gone (see `files::StdSlot`).
    pub(crate) std_slot: Option<crate::files::StdSlot>,
    /// For an [`Object::Process`]: this handle is the process's main thread (CreateProcess's
    /// `hThread`), another object than the process for the wait and exit-code calls.
    pub(crate) main_thread: bool,
}

impl Entry {
    /// A handle to `obj`, signalled, with no I/O outstanding.
    pub(crate) fn new(obj: Object, overlapped: bool) -> Entry {
        // Before any call can wait on a handle: a synchronous call that waits makes its handle
        // non-signalled (W27, `lookup::on_sleep`). Set once; later calls find it set.
        let _ = npipe_core::set_sleep_hook(crate::lookup::on_sleep);
        Entry {
            obj,
            overlapped,
            signal: Signal::new(false, true),
            watch: AtomicU8::new(0),
            io: Io::default(),
            completion: Default::default(),
            handles: AtomicUsize::new(1),
            std_slot: None,
            main_thread: false,
        }
    }

    /// The state a wait function waits for on this handle.
    pub(crate) fn wait_signal(&self) -> &Signal {
        match &self.obj {
            Object::Event(e) => e.signal(),
            Object::Thread(t) => t.done(),
            Object::Process(p) if self.main_thread => p.main_thread_done(),
            Object::Process(p) => p.done(),
            Object::Port(p) => p.signal(),
            Object::Client(c) if !self.overlapped && c.is_disconnected() => {
                // W45: a client the server disconnected is not signalled. Only on a
                // synchronous handle, where nothing completes later: an overlapped one keeps
                // what its operations (failed by the disconnect) set.
                self.observe();
                self.signal.reset();
                &self.signal
            }
            _ => {
                self.observe();
                &self.signal
            }
        }
    }

    /// Marks the handle's own signal as looked at, before anyone looks (see `watch`).
    pub(crate) fn observe(&self) {
        // Set once for good: an atomic write only the first time (every overlapped call comes
        // here). SeqCst: a synchronous call that loads the word after this sees it.
        if self.watch.load(SeqCst) & OBSERVED == 0 {
            self.watch.fetch_or(OBSERVED, SeqCst);
        }
    }

    /// Whether synchronous I/O must keep the handle's signal exact (see `watch`).
    pub(crate) fn is_observed(&self) -> bool {
        self.watch.load(SeqCst) & OBSERVED != 0
    }

    /// A synchronous call on this handle is about to wait (the library's sleep hook,
    /// `lookup::on_sleep`): unless its start reset the signal already (an observed handle), it
    /// is reset now and [`Entry::sync_ends`] sets it again (W26, W27).
    pub(crate) fn sync_wait(&self) {
        // SeqCst: as in `observe`.
        if self.watch.load(SeqCst) == 0 {
            // The reset before the bit: the end of another call on this handle that takes the
            // bit meanwhile sets the signal after this reset, never before it. (Two calls that
            // wait share the bit: the first to end signals the handle.)
            self.signal.reset();
            self.watch.fetch_or(SYNC_WAITED, SeqCst);
        }
    }

    /// Whether the end of a synchronous call without an OVERLAPPED signals the handle: it is
    /// observed, or the call (or another one on it) waited and reset it ([`Entry::sync_wait`]).
    /// One load when neither.
    #[inline]
    pub(crate) fn sync_ends(&self) -> bool {
        // SeqCst: as in `observe`.
        let w = self.watch.load(SeqCst);
        w != 0 && (w & OBSERVED != 0 || self.sync_waited_ends())
    }

    /// [`Entry::sync_ends`] after a wait on an unobserved handle.
    #[cold]
    #[inline(never)]
    fn sync_waited_ends(&self) -> bool {
        // SeqCst: as in `observe`.
        self.watch.fetch_and(!SYNC_WAITED, SeqCst) & SYNC_WAITED != 0
    }
}

/// The failure of a named-pipe function called on a mailslot or anonymous pipe handle.
pub(crate) fn not_pipe<T>(o: &Object) -> io::Result<T> {
    if !o.is_file() {
        // Not a file at all: the file system never sees the call (STATUS_OBJECT_TYPE_MISMATCH).
        return Err(npipe::Error::io(
            ERROR_INVALID_HANDLE,
            "the handle is not a file, pipe or mailslot",
        ));
    }
    // A file the named-pipe file system does not own (STATUS_INVALID_DEVICE_REQUEST).
    Err(npipe::Error::io(
        ERROR_INVALID_FUNCTION,
        "the handle is not a named pipe",
    ))
}

/// Slots per segment.
const SEG: usize = 1024;
/// Segments: at most `SEG * SEGS` handles are open at once.
const SEGS: usize = 1024;

/// `HANDLE_FLAG_INHERIT`: CreateProcess with bInheritHandles passes the handle to the child.
pub(crate) const HANDLE_FLAG_INHERIT: DWORD = 1;
/// `HANDLE_FLAG_PROTECT_FROM_CLOSE`: CloseHandle fails (ERROR_INVALID_HANDLE) and keeps it.
pub(crate) const HANDLE_FLAG_PROTECT_FROM_CLOSE: DWORD = 2;

/// One slot of the table: the entry, and the flags of this handle (not of the object: two
/// handles to one object can differ in inheritance).
#[derive(Debug, Default)]
pub(crate) struct Slot {
    entry: ArcSwapOption<Entry>,
    flags: AtomicU32,
}

type Segment = Box<[Slot]>;

/// The segments, made as the table grows (under the free-list lock) and never freed.
static SEGMENTS: [OnceLock<Segment>; SEGS] = [const { OnceLock::new() }; SEGS];

/// Indexes of closed slots to reuse, and the first never-used index.
#[derive(Debug)]
struct FreeList {
    free: Vec<usize>,
    next: usize,
    /// Pipe entries taken out of the table, which the releaser drops once no thread's cached
    /// lookup uses them (see `lookup`).
    retired: Vec<Arc<Entry>>,
    /// The process the releaser thread was started in (a forked child starts its own), and
    /// the thread once it runs.
    releaser: Option<(u32, Option<std::thread::Thread>)>,
}

static FREE: Mutex<FreeList> = Mutex::new(FreeList {
    free: Vec::new(),
    next: 0,
    retired: Vec::new(),
    releaser: None,
});

thread_local! {
    /// The free-list guard the fork prepare handler took, released after the fork.
    static FORK_HELD: std::cell::RefCell<Option<MutexGuard<'static, FreeList>>> =
        const { std::cell::RefCell::new(None) };
}

extern "C" fn fork_prepare() {
    FORK_HANDLERS.registered();
    if FORK_HELD.with(|h| h.borrow().is_some()) {
        // Registered twice (see `npipe::ForkHandlers`): the first run holds the lock already.
        return;
    }
    let g = FREE.lock().unwrap_or_else(|p| p.into_inner());
    FORK_HELD.with(|h| *h.borrow_mut() = Some(g));
}

extern "C" fn fork_release() {
    FORK_HELD.with(|h| h.borrow_mut().take());
}

/// In the child: the free list is released, and the hazard words of the threads the child does
/// not have are cleared (see `lookup::forked`).
extern "C" fn fork_child() {
    fork_release();
    lookup::forked();
}

/// Registers the fork handlers that keep a child from inheriting the free list locked by a
/// thread it does not have (once; not a `Once`, which a fork could copy half-run).
fn install_fork_handlers() {
    FORK_HANDLERS.install(fork_prepare, fork_release, fork_child);
}

/// Registers the C ABI's fork handlers (the handle table's and the engine's) when libnpipe is
/// loaded, before any thread of the program can hold their locks (see `npipe::ForkHandlers`).
extern "C" fn install_fork_handlers_at_load() {
    install_fork_handlers();
    crate::engine::install_fork_handlers();
}

npipe_core::run_at_load!(FORK_HANDLERS_AT_LOAD, install_fork_handlers_at_load);

static FORK_HANDLERS: npipe_core::ForkHandlers = npipe_core::ForkHandlers::new();

fn free_list() -> MutexGuard<'static, FreeList> {
    install_fork_handlers();
    FREE.lock().unwrap_or_else(|p| p.into_inner())
}

fn slot(i: usize) -> Option<&'static Slot> {
    SEGMENTS.get(i / SEG)?.get()?.get(i % SEG)
}

/// Adds a handle for `e`. `None` when the table is full (a million handles).
pub(crate) fn try_insert(e: Entry) -> Option<HANDLE> {
    try_insert_shared(Arc::new(e), 0)
}

/// Adds a handle with `flags` for an entry that may have handles already (the caller counted
/// this one in). `None` when the table is full.
fn try_insert_shared(e: Arc<Entry>, flags: DWORD) -> Option<HANDLE> {
    crate::inherit::adopt_inherited();
    let mut fl = free_list();
    let i = match fl.free.pop() {
        Some(i) => i,
        None => {
            let i = fl.next;
            if i >= SEG * SEGS {
                return None;
            }
            init_segment(i);
            fl.next += 1;
            i
        }
    };
    let s = slot(i)?;
    s.flags.store(flags, SeqCst);
    s.entry.store(Some(e));
    Some(((i + 1) * 4) as HANDLE)
}

fn init_segment(i: usize) {
    SEGMENTS[i / SEG].get_or_init(|| (0..SEG).map(|_| Slot::default()).collect());
}

/// Puts `e` at the handle value `h`, which must not have been handed out yet: the handles a
/// parent passed to this process keep their values (see `inherit::adopt_inherited`). Called
/// before any other handle exists. False when `h` is not a handle value or is taken.
pub(crate) fn insert_at(h: usize, e: Entry, flags: DWORD) -> bool {
    let Some(i) = index_of(h as HANDLE) else {
        return false;
    };
    if i >= SEG * SEGS {
        return false;
    }
    let mut fl = free_list();
    if i < fl.next && !fl.free.contains(&i) {
        return false;
    }
    fl.free.retain(|&f| f != i);
    while fl.next <= i {
        let n = fl.next;
        init_segment(n);
        if n != i {
            fl.free.push(n);
        }
        fl.next += 1;
    }
    let Some(s) = slot(i) else {
        return false;
    };
    s.flags.store(flags, SeqCst);
    s.entry.store(Some(Arc::new(e)));
    true
}

/// Another handle to the entry of `h`, with `flags`. ERROR_INVALID_HANDLE when `h` is not
/// open, ERROR_NO_SYSTEM_RESOURCES when the table is full.
pub(crate) fn duplicate(e: &Arc<Entry>, flags: DWORD) -> Result<HANDLE, DWORD> {
    if !retain(e) {
        return Err(ERROR_INVALID_HANDLE);
    }
    match try_insert_shared(e.clone(), flags) {
        Some(h) => Ok(h),
        None => {
            e.handles.fetch_sub(1, SeqCst);
            Err(ERROR_NO_SYSTEM_RESOURCES)
        }
    }
}

/// The flags of handle `h` (HANDLE_FLAG_*), or `None` when it is not open.
pub(crate) fn flags(h: HANDLE) -> Option<DWORD> {
    crate::inherit::adopt_inherited();
    let s = slot(index_of(h)?)?;
    s.entry.load().as_ref()?;
    Some(s.flags.load(SeqCst))
}

/// Sets the flags of `h` chosen by `mask` to `value`. False when `h` is not open.
pub(crate) fn set_flags(h: HANDLE, mask: DWORD, value: DWORD) -> bool {
    crate::inherit::adopt_inherited();
    let Some(s) = index_of(h).and_then(slot) else {
        return false;
    };
    // Under the free-list lock: the handle cannot be closed and its slot reused in between.
    let _fl = free_list();
    if s.entry.load().is_none() {
        return false;
    }
    let _ = s
        .flags
        .fetch_update(SeqCst, SeqCst, |f| Some((f & !mask) | (value & mask)));
    true
}

/// Every open handle with HANDLE_FLAG_INHERIT: its value and entry.
pub(crate) fn inheritable() -> Vec<(usize, Arc<Entry>)> {
    crate::inherit::adopt_inherited();
    let next = free_list().next;
    (0..next)
        .filter_map(|i| {
            let s = slot(i)?;
            let e = s.entry.load_full()?;
            (s.flags.load(SeqCst) & HANDLE_FLAG_INHERIT != 0).then_some(((i + 1) * 4, e))
        })
        .collect()
}

/// Adds a handle for `e`, or sets ERROR_NO_SYSTEM_RESOURCES and gives INVALID_HANDLE_VALUE.
pub(crate) fn insert(e: Entry) -> HANDLE {
    try_insert(e).unwrap_or_else(|| {
        set_error(ERROR_NO_SYSTEM_RESOURCES);
        INVALID_HANDLE_VALUE
    })
}

/// Adds a handle for `obj` (not overlapped).
pub(crate) fn insert_obj(obj: Object) -> HANDLE {
    insert(Entry::new(obj, false))
}

fn index_of(h: HANDLE) -> Option<usize> {
    let v = h as usize;
    if v == 0 || !v.is_multiple_of(4) || h == INVALID_HANDLE_VALUE {
        return None;
    }
    Some(v / 4 - 1)
}

/// The open handle `h`, if it is in the table now (no adoption of inherited handles: for
/// that adoption itself).
pub(crate) fn get_present(h: HANDLE) -> Option<Arc<Entry>> {
    slot(index_of(h)?).and_then(|s| s.entry.load_full())
}

/// The open handle `h`, if it is one.
pub(crate) fn get(h: HANDLE) -> Option<Arc<Entry>> {
    let i = index_of(h)?;
    match slot(i).and_then(|s| s.entry.load_full()) {
        Some(e) => Some(e),
        // A handle the parent passed may not be in the table yet: take them in, look again.
        None if crate::inherit::adopt_inherited() => slot(i)?.entry.load_full(),
        None => None,
    }
}

/// Runs `f` on the entry of `h` borrowed through the table's guard, without a reference count
/// of its own and without the last-error: `None` for a handle that names nothing. For lookups
/// of objects the thread cache does not hold (an OVERLAPPED's event, on every overlapped call).
///
/// Found in the thread's cache when it holds `h` (pipe ends and events, see `lookup`), as
/// [`with_entry`] does, with no atomic read-modify-write.
#[inline(always)]
pub(crate) fn peek<R>(h: HANDLE, f: impl FnOnce(&Arc<Entry>) -> R) -> Option<R> {
    match lookup::with_cached(h as usize, f) {
        Ok(r) => Some(r),
        Err(f) => peek_table(h, f),
    }
}

/// [`peek`] through the table, when the thread's cache does not hold `h`.
#[inline(never)]
fn peek_table<R>(h: HANDLE, f: impl FnOnce(&Arc<Entry>) -> R) -> Option<R> {
    if let Some(s) = index_of(h).and_then(slot) {
        // Read before the slot, as in `with_table_entry`.
        let closes = lookup::closes();
        if let Some(e) = &*s.entry.load() {
            lookup::remember(h as usize, closes, e);
            return Some(f(e));
        }
    }
    get(h).map(|e| f(&e))
}

/// Runs `f` on the handle `h`, or fails with ERROR_INVALID_HANDLE.
///
/// A pipe handle this thread used lately is found in its cache (`lookup`). Otherwise the entry
/// is borrowed through the table's guard rather than cloned, which saves two reference count
/// updates. A CloseHandle meanwhile takes the entry out of the table as usual; the guard, or
/// the releaser for a cached entry, keeps it alive until `f` returns.
///
/// Inlined, so that a call's arguments reach `f` in registers when the thread's cache holds the
/// handle (moved through memory, the closure was stored in pieces and loaded whole, which the
/// CPU cannot forward); the table's path is a function of its own.
#[inline(always)]
pub(crate) fn with_entry<R>(h: HANDLE, on_bad: R, f: impl FnOnce(&Arc<Entry>) -> R) -> R {
    match lookup::with_cached(h as usize, f) {
        Ok(r) => r,
        Err(f) => with_table_entry(h, on_bad, f),
    }
}

/// [`with_entry`] through the table, when the thread's cache does not hold `h`.
#[inline(never)]
fn with_table_entry<R>(h: HANDLE, on_bad: R, f: impl FnOnce(&Arc<Entry>) -> R) -> R {
    if let Some(s) = index_of(h).and_then(slot) {
        // Read before the slot: a close after this read makes the cached lookup miss.
        let closes = lookup::closes();
        let g = s.entry.load();
        if let Some(e) = &*g {
            lookup::remember(h as usize, closes, e);
            // No hazard names it: the sleep hook finds it here (W27).
            let _call = lookup::TableCall::new(e);
            return f(e);
        }
    }
    match get(h) {
        Some(e) => {
            let _call = lookup::TableCall::new(&e);
            f(&e)
        }
        None => {
            set_error(ERROR_INVALID_HANDLE);
            on_bad
        }
    }
}

/// Runs `f` on the object behind `h`, or fails with ERROR_INVALID_HANDLE.
pub(crate) fn with<R>(h: HANDLE, on_bad: R, f: impl FnOnce(&Object) -> R) -> R {
    with_entry(h, on_bad, |e| f(&e.obj))
}

/// Takes `h` out of the table: later lookups fail. Gives the table's reference to the entry
/// (for [`dispose`]) and whether it was the last handle of its entry (the caller then closes
/// the object); the error is the code CloseHandle gives.
fn remove(h: HANDLE) -> Result<(Arc<Entry>, bool), DWORD> {
    crate::inherit::adopt_inherited();
    let i = index_of(h).ok_or(ERROR_INVALID_HANDLE)?;
    let s = slot(i).ok_or(ERROR_INVALID_HANDLE)?;
    let mut fl = free_list();
    if s.entry.load().is_some() && s.flags.load(SeqCst) & HANDLE_FLAG_PROTECT_FROM_CLOSE != 0 {
        return Err(ERROR_INVALID_HANDLE);
    }
    let e = s.entry.swap(None).ok_or(ERROR_INVALID_HANDLE)?;
    if lookup::cacheable(&e.obj) {
        lookup::closed();
    }
    fl.free.push(i);
    drop(fl);
    let last = e.handles.fetch_sub(1, SeqCst) == 1;
    Ok((e, last))
}

/// `CloseHandle`. The object closes with its last handle (DuplicateHandle makes more).
#[export_name = "npipe_CloseHandle"]
pub extern "C" fn CloseHandle(h: HANDLE) -> BOOL {
    // The pseudo handles of the current process (the value of INVALID_HANDLE_VALUE) and thread
    // name no table entry: closing one has no effect and succeeds, as Microsoft documents for
    // GetCurrentProcess and GetCurrentThread.
    if h == INVALID_HANDLE_VALUE || crate::threads::is_pseudo(h) {
        return TRUE;
    }
    match remove(h) {
        Ok((e, last)) => {
            if last {
                close_last(&e);
            }
            dispose(e);
        }
        Err(code) => return fail(code),
    }
    TRUE
}

/// Lets go of the table's reference to an entry taken out of it: at once, or, for a pipe entry
/// a thread's cached lookup is using right now, through the releaser.
///
/// A pipe entry no hazard names drops here, before CloseHandle returns, as every entry did
/// before lookups were cached: its descriptors (the readiness descriptor a caller's epoll set
/// may hold, the connection's socket and memory) must not outlive the handle. Deferring them
/// all to the releaser let a program that connects and closes in a loop run out of
/// descriptors, the more so while one entry stays in use and the releaser looks only every
/// 100 ms. The fence this costs is about what the entry's unmapping costs anyway.
fn dispose(e: Arc<Entry>) {
    if !lookup::cacheable(&e.obj) {
        return;
    }
    let Some(e) = lookup::release_unused(vec![e]).pop() else {
        return;
    };
    let mut fl = free_list();
    let wake = fl.retired.is_empty();
    fl.retired.push(e);
    let me = std::process::id();
    if fl.releaser.as_ref().is_some_and(|(pid, _)| *pid != me) {
        fl.releaser = None;
    }
    if fl.releaser.is_none() {
        // Not std::thread: see `spawn_service`. The thread takes the list when it starts.
        match crate::threads::spawn_service("npipe-release", lookup::releaser) {
            Ok(()) => fl.releaser = Some((me, None)),
            Err(_) => {
                // No thread to be had: release here what no call uses; the rest waits for the
                // next close.
                let batch = std::mem::take(&mut fl.retired);
                drop(fl);
                let keep = lookup::release_unused(batch);
                free_list().retired.extend(keep);
                return;
            }
        }
    }
    if wake {
        if let Some((_, Some(t))) = &fl.releaser {
            t.unpark();
        }
    }
}

/// Called by the releaser thread as it starts: later closes wake it.
pub(crate) fn releaser_started(t: std::thread::Thread) {
    let mut fl = free_list();
    if let Some((pid, slot)) = &mut fl.releaser {
        if *pid == std::process::id() {
            *slot = Some(t);
        }
    }
}

/// The pipe entries waiting for the releaser (taken: the caller puts back what it keeps).
pub(crate) fn take_retired() -> Vec<Arc<Entry>> {
    std::mem::take(&mut free_list().retired)
}

/// Puts back what the releaser could not release yet.
pub(crate) fn put_back_retired(keep: Vec<Arc<Entry>>) {
    if !keep.is_empty() {
        free_list().retired.extend(keep);
    }
}

/// Counts one more holder of `e` (a duplicate handle, or a relay standing in for a child's
/// inherited handle); [`release`] ends it. False when the last handle has closed already (a
/// CloseHandle raced the caller): the object is closed and must not be handed out again.
pub(crate) fn retain(e: &Arc<Entry>) -> bool {
    e.handles
        .fetch_update(SeqCst, SeqCst, |n| (n > 0).then_some(n + 1))
        .is_ok()
}

/// Ends a holder counted by [`retain`]; the last one closes the object.
pub(crate) fn release(e: Arc<Entry>) {
    if e.handles.fetch_sub(1, SeqCst) == 1 {
        close_last(&e);
    }
}

/// Closes the object of an entry whose last handle is gone.
fn close_last(e: &Arc<Entry>) {
    // Overlapped operations of this handle end first, with ERROR_BROKEN_PIPE (their events are
    // signalled, W31), so none is left holding a lock of the end.
    crate::overlapped::cancel_all(e);
    let local = crate::engine::busy() && crate::overlapped::peer_is_local(&e.obj);
    // Other threads may still hold the object inside a call: close the end now so their
    // blocked operations end (ERROR_OPERATION_ABORTED) and the peer is told, rather than when
    // the last reference goes.
    match &e.obj {
        Object::Server(s) => s.close(),
        Object::Client(c) => c.close(),
        Object::Port(p) => p.close(),
        Object::Registered(r) => r.stop(),
        _ => {}
    }
    if local {
        // The peer's pending operations in this process have completed (ERROR_BROKEN_PIPE)
        // by the time this returns, as on Windows.
        crate::engine::settle();
    }
}

/// `npipe_handle_fd`: the descriptor behind an anonymous pipe handle (like the CRT's
/// `_open_osfhandle` in reverse), to hand the end to a child with `dup2` before `exec`. The
/// handle keeps owning it. -1 with ERROR_INVALID_HANDLE for any other handle.
#[no_mangle]
pub extern "C" fn npipe_handle_fd(h: HANDLE) -> i32 {
    use std::os::fd::AsRawFd;
    with(h, -1, |o| match o {
        Object::AnonRead(r) => r.as_raw_fd(),
        Object::AnonWrite(w) => w.as_raw_fd(),
        Object::File(f) => f.as_raw_fd(),
        _ => {
            set_error(ERROR_INVALID_HANDLE);
            -1
        }
    })
}

/// `npipe_wait_fd`: a descriptor that polls readable while the object `h` is signalled (an
/// event, a thread, a pipe or mailslot handle), for an epoll or libuv loop. The handle keeps
/// owning it. Polling consumes nothing: after an auto-reset event polls readable, a wait
/// function still has to take it (WaitForSingleObject(h, 0)). -1 with ERROR_INVALID_HANDLE for
/// a handle that is not open or not waitable (a token), or the error that kept the descriptor
/// from being made.
#[no_mangle]
pub extern "C" fn npipe_wait_fd(h: HANDLE) -> i32 {
    use std::os::fd::AsRawFd;
    with_entry(h, -1, |e| {
        match e.obj.is_waitable().then(|| e.wait_signal().fd()) {
            None => {
                set_error(ERROR_INVALID_HANDLE);
                -1
            }
            Some(Ok(fd)) => fd.as_raw_fd(),
            Some(Err(err)) => {
                fail_io(&err);
                -1
            }
        }
    })
}
