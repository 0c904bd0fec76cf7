//! Events: [`Event`] (process-local, an unnamed `CreateEvent`), [`NamedEvent`] (shared by every
//! process of the user that creates or opens the name) and [`wait_for_multiple`]
//! (`WaitForMultipleObjectsEx` over both).
//!
//! The mechanism (release generations and tokens, the shared state page, OFD locks, serving
//! the name) is described in the crate's `semantics::event` module.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::semantics::event::{self as sem, Local, Obj, Outcome, Shared};

/// A process-local event: a signalled / not-signalled state that threads wait for, manual
/// or auto reset. Clones are handles to the same event.
///
/// An auto-reset event releases exactly one waiter per [`set`](Event::set) and resets itself;
/// a manual-reset one stays set, releasing every waiter, until [`reset`](Event::reset).
///
/// # Examples
/// ```
/// use npipe::Event;
/// use std::time::Duration;
///
/// let ev = Event::new(false, false); // auto reset, not set
/// let t = {
///     let ev = ev.clone();
///     std::thread::spawn(move || ev.wait().map(|()| "woken"))
/// };
/// ev.set();
/// assert_eq!(t.join().unwrap()?, "woken");
/// assert!(!ev.wait_timeout(Duration::ZERO)?, "the waiter consumed it");
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Windows
/// `CreateEventW(NULL, bManualReset, bInitialState, NULL)`:
/// <https://learn.microsoft.com/en-us/windows/win32/api/synchapi/nf-synchapi-createeventw>.
#[derive(Clone)]
#[doc(alias = "CreateEventW")]
pub struct Event {
    inner: Arc<Local>,
}

impl Event {
    /// A new event: manual reset or auto reset, initially set or not.
    pub fn new(manual_reset: bool, initially_set: bool) -> Event {
        Event {
            inner: Arc::new(Local::new(manual_reset, initially_set)),
        }
    }

    /// Whether it is a manual-reset event.
    pub fn is_manual_reset(&self) -> bool {
        self.inner.manual()
    }

    /// Sets the event. A manual-reset event releases every thread waiting now (even if it is
    /// reset again before they run) and stays set; an auto-reset event releases one waiting
    /// thread and stays reset, or stays set until a wait takes it when nobody waits.
    #[doc(alias = "SetEvent")]
    pub fn set(&self) {
        self.inner.set()
    }

    /// Resets the event. Threads that a [`set`](Event::set) already released stay released.
    #[doc(alias = "ResetEvent")]
    pub fn reset(&self) {
        self.inner.reset()
    }

    /// Releases the threads waiting now (every one for a manual-reset event, one for an
    /// auto-reset event), none that start waiting later, and leaves the event reset.
    ///
    /// # Windows
    /// `PulseEvent`, which Microsoft calls unreliable because a thread that is briefly out of
    /// its wait (running a kernel-mode APC) misses the pulse; here only a wait that has not
    /// registered yet misses it.
    #[doc(alias = "PulseEvent")]
    pub fn pulse(&self) {
        self.inner.pulse()
    }

    /// Whether the event is set now (a snapshot: another thread may take or set it).
    pub fn is_set(&self) -> bool {
        self.inner.is_set()
    }

    /// Takes the event if it is set, without waiting (an auto-reset event is reset): true when
    /// taken. `WaitForSingleObject(h, 0)`.
    pub fn try_wait(&self) -> bool {
        self.inner.try_take()
    }

    /// Waits until the event is set and takes it.
    ///
    /// # Errors
    /// `ERROR_NO_SYSTEM_RESOURCES` (1450) when the descriptors a sleep needs cannot be made.
    pub fn wait(&self) -> io::Result<()> {
        self.wait_until(None).map(|_| ())
    }

    /// [`wait`](Event::wait) for at most `timeout`: false when it passed.
    ///
    /// # Errors
    /// As [`wait`](Event::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> io::Result<bool> {
        self.wait_until(Instant::now().checked_add(timeout))
    }

    /// [`wait`](Event::wait) until `deadline`: false when it passed.
    ///
    /// # Errors
    /// As [`wait`](Event::wait).
    pub fn wait_deadline(&self, deadline: Instant) -> io::Result<bool> {
        self.wait_until(Some(deadline))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> io::Result<bool> {
        let o = [Obj::Local(&self.inner)];
        Ok(sem::wait(&o, false, deadline, None)? == Outcome::Object(0))
    }

    /// A descriptor that polls readable exactly while the event is set, for an epoll or
    /// `poll` loop. Polling consumes nothing: take an auto-reset event with
    /// [`try_wait`](Event::try_wait) (which may find it taken by another waiter).
    ///
    /// # Errors
    /// As [`wait`](Event::wait).
    pub fn wait_fd(&self) -> io::Result<BorrowedFd<'_>> {
        self.inner.fd()
    }
}

/// A named event shared by every process of the user (and root) that creates or opens the
/// name: one state, one set of waiters, wherever they are.
///
/// Names follow Windows' kernel object namespace: case-sensitive, at most 259 UTF-16 units,
/// `Local\` accepted and stripped, `Global\` a separate set of names, no other `\`. Clones
/// are handles to the same event; so are all the `NamedEvent`s of one name in one process.
///
/// The process that creates the name serves it (a thread answers opens) while it or any other
/// process has a handle. The name cannot outlive the creating process: when it exits, other
/// processes' handles keep working, but the name can no longer be opened, and creating it
/// again makes a new event (Windows keeps the name while any handle is open).
///
/// # Examples
/// ```
/// use npipe::NamedEvent;
/// use std::time::Duration;
///
/// let name = format!("npipe-doc-{}", std::process::id());
/// let a = NamedEvent::create(&name, true, false)?; // manual reset, not set
/// let b = NamedEvent::open(&name)?; // in this or any other process of the user
/// b.set()?;
/// assert!(a.wait_timeout(Duration::ZERO)?);
/// let e = NamedEvent::open("npipe-doc-missing").unwrap_err();
/// assert_eq!(npipe::win32_code(&e), 2); // ERROR_FILE_NOT_FOUND
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Windows
/// `CreateEventW` / `OpenEventW` with a name:
/// <https://learn.microsoft.com/en-us/windows/win32/api/synchapi/nf-synchapi-createeventw>.
/// Security attributes, access rights and handle inheritance are not modelled: any process of
/// the same user or root may open, set and wait.
#[derive(Clone)]
#[doc(alias = "CreateEventW")]
#[doc(alias = "OpenEventW")]
pub struct NamedEvent {
    inner: Arc<Shared>,
    existed: bool,
}

impl NamedEvent {
    /// Creates the event `name`, or opens it if it exists in any process (then its reset mode
    /// and state are kept, `manual_reset` and `initially_set` are ignored, and
    /// [`already_existed`](NamedEvent::already_existed) is true: Windows' `ERROR_ALREADY_EXISTS`).
    ///
    /// # Errors
    /// - `ERROR_FILENAME_EXCED_RANGE` (206): more than 259 UTF-16 units;
    /// - `ERROR_INVALID_NAME` (123): empty, or nothing after a `Local\`/`Global\` prefix;
    /// - `ERROR_BAD_PATHNAME` (161): starts with `\`;
    /// - `ERROR_PATH_NOT_FOUND` (3): any other `\`;
    /// - `ERROR_INVALID_HANDLE` (6): `Local`, `Global` or `Session` (the namespace's own links);
    /// - `ERROR_ACCESS_DENIED` (5): the name is served by a process of another user;
    /// - `ERROR_NOT_SUPPORTED` (50): `/proc` is not mounted (each process needs its own open of
    ///   the shared state);
    /// - OS errors (descriptors, memory) with the closest Win32 code.
    #[doc(alias = "CreateEventW")]
    pub fn create(name: &str, manual_reset: bool, initially_set: bool) -> io::Result<NamedEvent> {
        let (inner, existed) = Shared::create(name, manual_reset, initially_set)?;
        Ok(NamedEvent { inner, existed })
    }

    /// Opens the existing event `name`.
    ///
    /// # Errors
    /// `ERROR_FILE_NOT_FOUND` (2) when no process has an event of that name; the name errors
    /// of [`create`](NamedEvent::create); `ERROR_INVALID_DATA` (13) when the serving process
    /// answers with something that is not an event.
    #[doc(alias = "OpenEventW")]
    pub fn open(name: &str) -> io::Result<NamedEvent> {
        Ok(NamedEvent {
            inner: Shared::open(name)?,
            existed: true,
        })
    }

    /// Whether [`create`](NamedEvent::create) found the event already there (always true for
    /// [`open`](NamedEvent::open)).
    pub fn already_existed(&self) -> bool {
        self.existed
    }

    /// The name as given when this process first created or opened it.
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// Whether it is a manual-reset event.
    pub fn is_manual_reset(&self) -> bool {
        self.inner.manual()
    }

    /// Sets the event (see [`Event::set`]): waiters in every process are released.
    ///
    /// # Errors
    /// `ERROR_INVALID_DATA` (13, `InvalidData`) when the shared state holds impossible values
    /// (another process wrote them); `ERROR_POSSIBLE_DEADLOCK` (1131) when another process
    /// kept the shared state locked for 5 s.
    #[doc(alias = "SetEvent")]
    pub fn set(&self) -> io::Result<()> {
        self.inner.set()
    }

    /// Resets the event (see [`Event::reset`]).
    ///
    /// # Errors
    /// As [`set`](NamedEvent::set).
    #[doc(alias = "ResetEvent")]
    pub fn reset(&self) -> io::Result<()> {
        self.inner.reset()
    }

    /// Releases the threads waiting now in every process (all, or one for an auto-reset
    /// event) and leaves the event reset (see [`Event::pulse`]).
    ///
    /// # Errors
    /// As [`set`](NamedEvent::set).
    #[doc(alias = "PulseEvent")]
    pub fn pulse(&self) -> io::Result<()> {
        self.inner.pulse()
    }

    /// Whether the event is set now.
    ///
    /// # Errors
    /// As [`set`](NamedEvent::set).
    pub fn is_set(&self) -> io::Result<bool> {
        self.inner.is_set()
    }

    /// Takes the event if it is set, without waiting: true when taken.
    ///
    /// # Errors
    /// As [`set`](NamedEvent::set).
    pub fn try_wait(&self) -> io::Result<bool> {
        self.inner.try_take()
    }

    /// Waits until the event is set (or this waiter is released) and takes it.
    ///
    /// # Errors
    /// As [`set`](NamedEvent::set).
    pub fn wait(&self) -> io::Result<()> {
        self.wait_until(None).map(|_| ())
    }

    /// [`wait`](NamedEvent::wait) for at most `timeout`: false when it passed.
    ///
    /// # Errors
    /// As [`set`](NamedEvent::set).
    pub fn wait_timeout(&self, timeout: Duration) -> io::Result<bool> {
        self.wait_until(Instant::now().checked_add(timeout))
    }

    /// [`wait`](NamedEvent::wait) until `deadline`: false when it passed.
    ///
    /// # Errors
    /// As [`set`](NamedEvent::set).
    pub fn wait_deadline(&self, deadline: Instant) -> io::Result<bool> {
        self.wait_until(Some(deadline))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> io::Result<bool> {
        let o = [Obj::Shared(&self.inner)];
        Ok(sem::wait(&o, false, deadline, None)? == Outcome::Object(0))
    }
}

/// The descriptor that polls readable exactly while the event is set, in every process (the
/// same eventfd everywhere). Polling consumes nothing; do not read or write it.
impl AsFd for NamedEvent {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.fd()
    }
}

/// One line: the reset mode and whether the event is set now.
impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("manual_reset", &self.is_manual_reset())
            .field("set", &self.is_set())
            .finish()
    }
}

/// One line: the name and the reset mode. Not the state: reading it takes a lock other
/// processes share, which formatting must not wait for.
impl fmt::Debug for NamedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamedEvent")
            .field("name", &format_args!("{}", self.name()))
            .field("manual_reset", &self.is_manual_reset())
            .finish()
    }
}

/// One object of a [`wait_for_multiple`].
#[derive(Debug, Clone, Copy)]
pub enum WaitObject<'a> {
    /// A process-local event.
    Event(&'a Event),
    /// A named event.
    Named(&'a NamedEvent),
}

impl<'a> From<&'a Event> for WaitObject<'a> {
    fn from(e: &'a Event) -> Self {
        WaitObject::Event(e)
    }
}

impl<'a> From<&'a NamedEvent> for WaitObject<'a> {
    fn from(e: &'a NamedEvent) -> Self {
        WaitObject::Named(e)
    }
}

/// How a [`wait_for_multiple`] ended.
///
/// Not exhaustive (an abandoned mutex, `WAIT_ABANDONED`, may join when mutexes do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitOutcome {
    /// The object at this index was signalled and taken (`WAIT_OBJECT_0 + index`); for a
    /// wait for all, every object was, and the index is 0.
    Object(usize),
    /// The alert descriptor polled readable before any object was signalled
    /// (`WAIT_IO_COMPLETION`, once the caller has run its APCs).
    Alerted,
    /// The deadline passed (`WAIT_TIMEOUT`).
    TimedOut,
}

/// Waits until any (`wait_all` false) or all (`wait_all` true) of `objects` are signalled, the
/// `deadline` passes (`None`: no limit), or `alert` polls readable, whichever comes first, and
/// takes what it waited for: auto-reset events are reset, a release is claimed.
///
/// - Wait-any returns the lowest index among the objects signalled when it looks.
/// - Wait-all takes every object at once or none, under all their locks (across processes for
///   named events): a failed look consumes nothing.
/// - The objects are looked at before the alert: an object that is signalled wins over a
///   readable alert, as on Windows, where an alertable wait on a signalled object returns it
///   and leaves the APC queued.
/// - An empty `objects` with an alert is an alertable sleep; with neither, a sleep until the
///   deadline (for ever without one). A wait-all on one object is a wait on that object.
///
/// # Errors
/// `ERROR_INVALID_PARAMETER` (87) for a wait-all that names one event twice (through any
/// handles, as Windows' `STATUS_INVALID_PARAMETER_MIX`); the errors of [`NamedEvent::set`].
///
/// # Examples
/// ```
/// use npipe::{wait_for_multiple, Event, WaitOutcome};
/// use std::time::{Duration, Instant};
///
/// let (a, b) = (Event::new(false, false), Event::new(true, true));
/// let soon = Some(Instant::now() + Duration::from_millis(10));
/// let objs = [(&a).into(), (&b).into()];
/// assert_eq!(wait_for_multiple(&objs, false, soon, None)?, WaitOutcome::Object(1));
/// assert_eq!(wait_for_multiple(&objs, true, soon, None)?, WaitOutcome::TimedOut);
/// a.set();
/// assert_eq!(wait_for_multiple(&objs, true, soon, None)?, WaitOutcome::Object(0));
/// assert!(!a.is_set() && b.is_set());
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Windows
/// `WaitForMultipleObjectsEx`, with `alert` standing for the thread's APC queue:
/// <https://learn.microsoft.com/en-us/windows/win32/api/synchapi/nf-synchapi-waitformultipleobjectsex>.
/// Windows limits the count to 64 (`MAXIMUM_WAIT_OBJECTS`); this function does not.
#[doc(alias = "WaitForMultipleObjectsEx")]
#[doc(alias = "WaitForSingleObjectEx")]
pub fn wait_for_multiple<'a>(
    objects: &[WaitObject<'a>],
    wait_all: bool,
    deadline: Option<Instant>,
    alert: Option<BorrowedFd<'_>>,
) -> io::Result<WaitOutcome> {
    // On the stack, sized to the call (most waits name one object: filling 64 slots cost a
    // wait that finds its object set more than the rest of its work); beyond 64, which a Win32
    // wait never passes, on the heap.
    let outcome = match objects.len() {
        1..=4 => wait_on_stack::<4>(objects, wait_all, deadline, alert)?,
        5..=64 => wait_on_stack::<64>(objects, wait_all, deadline, alert)?,
        _ => {
            let heap: Vec<Obj<'a>> = objects.iter().map(core_object).collect();
            sem::wait(&heap, wait_all, deadline, alert)?
        }
    };
    Ok(match outcome {
        Outcome::Object(i) => WaitOutcome::Object(i),
        Outcome::Alerted => WaitOutcome::Alerted,
        Outcome::TimedOut => WaitOutcome::TimedOut,
    })
}

/// The core's view of a wait object.
fn core_object<'a>(o: &WaitObject<'a>) -> Obj<'a> {
    match *o {
        WaitObject::Event(e) => Obj::Local(&e.inner),
        WaitObject::Named(n) => Obj::Shared(&n.inner),
    }
}

/// [`wait_for_multiple`] with the core's objects in an array of `N` on the stack
/// (`1 <= objects.len() <= N`).
fn wait_on_stack<'a, const N: usize>(
    objects: &[WaitObject<'a>],
    wait_all: bool,
    deadline: Option<Instant>,
    alert: Option<BorrowedFd<'_>>,
) -> io::Result<Outcome> {
    let mut stack = [core_object(&objects[0]); N];
    for (s, o) in stack.iter_mut().zip(objects) {
        *s = core_object(o);
    }
    sem::wait(&stack[..objects.len()], wait_all, deadline, alert)
}
