//! Readiness for event loops that call the PIPE_NOWAIT operations themselves (the C ABI's
//! `npipe_arm` and `npipe_wait_named_pipe_start`): [`Interest`] and `arm` on both ends, and
//! [`PipeWait`], a WaitNamedPipe whose descriptor polls readable when an instance is free.
//! Re-exported from [`crate::nonblocking`].
//!
//! The loop's protocol, one end at a time:
//!
//! 1. try what it wants to do with the calls of a PIPE_NOWAIT handle (they never wait, W107-W111:
//!    a read with nothing there fails with `ERROR_NO_DATA`, a write that does not fit the
//!    quota writes nothing (a message) or part (bytes), a connect on a listening instance fails
//!    with `ERROR_PIPE_LISTENING`);
//! 2. `arm` the end with what it still waits for: this clears the readiness descriptor, arms
//!    it, and signals it at once when something asked for is there already;
//! 3. wait until the descriptor polls readable, then go to 1. Readiness may be spurious.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::task::Poll;
use std::time::{Duration, Instant};

use super::{NamedPipeClient, NamedPipeServer, WaitFor};
use crate::error::code::{ERROR_INVALID_PARAMETER, ERROR_SEM_TIMEOUT};
use crate::error::Error;
use crate::semantics::pipe::{wait_begin, wait_finish, Trust, WaitBegin};
use crate::sys;

/// What [`NamedPipeServer::arm`] and [`NamedPipeClient::arm`] ask the readiness descriptor to
/// report. Combine with `|`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Interest(u32);

impl Interest {
    /// Data to read, or an empty message.
    pub const READ: Interest = Interest(1);
    /// The reader consumed something since the last PIPE_NOWAIT write that did not fit: a
    /// retry may fit now. Before any such write, it is reported at once.
    pub const WRITE: Interest = Interest(2);
    /// A client connected to a listening server instance (servers only; a listening instance
    /// always reports this, whatever was asked).
    pub const CONNECT: Interest = Interest(4);
    /// The link is no longer open: the peer closed or died, or the server disconnected. Every
    /// interest reports this too.
    pub const HANGUP: Interest = Interest(8);

    /// From the bits of the constants above; `None` for other bits.
    pub fn from_bits(bits: u32) -> Option<Interest> {
        (bits & !15 == 0).then_some(Interest(bits))
    }

    /// The bits.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// Whether every bit of `other` is in `self`.
    pub fn contains(self, other: Interest) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Interest {
    type Output = Interest;
    fn bitor(self, rhs: Interest) -> Interest {
        Interest(self.0 | rhs.0)
    }
}

impl NamedPipeServer {
    /// Spins for a few microseconds, as a blocking call does before it sleeps (and only when
    /// it would: not while the peer looks idle), until what `interest` asks for may be there:
    /// data or an empty message for [`Interest::READ`], a consume by the reader since the call
    /// for [`Interest::WRITE`], and a link that is no longer open for both. Never sleeps. True
    /// means a pending operation's next poll may get further (another thread may still take it
    /// first); false that the spin ran out, that `stop` returned true (it is asked between
    /// looks: the caller's own reason to end the spin, say another object it waits for was
    /// set), or that the interest has nothing to spin on (connect, hang-up alone) or there is
    /// no connection.
    ///
    /// For a thread about to sleep until a pending operation completes: polling it itself
    /// when the peer answers within microseconds saves the sleep and the wake-up. When it
    /// spins, it first takes back the end's arm for `interest` (the peer then publishes without
    /// signalling the readiness descriptor, which would only wake the event loop for nothing):
    /// afterwards, poll the pending operations of that interest again (a poll that stays
    /// pending arms again) before anyone sleeps on the descriptor, and not while another
    /// thread keeps a lock for one of them (a pinned operation inside a message, which only its
    /// own thread's polls re-arm).
    pub fn spin_ready(&self, interest: Interest, mut stop: impl FnMut() -> bool) -> bool {
        match spin_kind(interest) {
            Some(data) => self.end.spin_ready(data, &mut stop),
            None => false,
        }
    }

    /// Arms the end's readiness descriptor ([`readiness`](Self::readiness)) for `interest`
    /// (see [`crate::nonblocking`]): clears it, arms it one-shot, and signals it at once when
    /// something asked for is there already (data, room since the last write that did not
    /// fit, a client, a link that is no longer open). A listening instance needs no arm: a
    /// client's arrival always signals.
    ///
    /// Operations in steps (`poll_*`) and `arm` clear the same descriptor: drive an end with
    /// one of the two.
    ///
    /// # Errors
    /// `ERROR_INVALID_HANDLE` when this instance was closed; the descriptor's own errors.
    pub fn arm(&self, interest: Interest) -> io::Result<()> {
        self.end.arm(
            interest.contains(Interest::READ),
            interest.contains(Interest::WRITE),
            interest.contains(Interest::HANGUP),
            interest.contains(Interest::CONNECT),
        )
    }
}

/// What [`NamedPipeServer::spin_ready`] spins on: data (true) or room (false).
fn spin_kind(interest: Interest) -> Option<bool> {
    if interest.contains(Interest::READ) {
        Some(true)
    } else if interest.contains(Interest::WRITE) {
        Some(false)
    } else {
        None
    }
}

impl NamedPipeClient {
    /// See [`NamedPipeServer::spin_ready`]; false on a remote (SMB) pipe.
    pub fn spin_ready(&self, interest: Interest, mut stop: impl FnMut() -> bool) -> bool {
        match (spin_kind(interest), self.local_for("spin")) {
            (Some(data), Ok(end)) => end.spin_ready(data, &mut stop),
            _ => false,
        }
    }

    /// See [`NamedPipeServer::arm`].
    ///
    /// # Errors
    /// `ERROR_INVALID_PARAMETER` for [`Interest::CONNECT`], which only a server end has.
    pub fn arm(&self, interest: Interest) -> io::Result<()> {
        if interest.contains(Interest::CONNECT) {
            return Err(Error::io(
                ERROR_INVALID_PARAMETER,
                "a client end has no connect readiness",
            ));
        }
        self.local_for("readiness")?.arm(
            interest.contains(Interest::READ),
            interest.contains(Interest::WRITE),
            interest.contains(Interest::HANGUP),
        )
    }
}

/// How long a wait refused by a full server waits before it asks again.
const RETRY: Duration = Duration::from_millis(20);

/// A `WaitNamedPipe` that never blocks: [`start`](Self::start) asks the server once, the
/// descriptor ([`AsFd`], an epoll set: stable for the whole wait) polls readable when
/// [`poll`](Self::poll) may have an answer. While parked, the server's acceptor pushes the
/// answer the moment an instance listens; a server that holds as many waiting clients as it
/// will is asked again every 20 ms; the deadline is a timerfd in the same set.
///
/// As for `WaitNamedPipe`, success reserves nothing: the next open may still find every
/// instance busy (W34).
///
/// # Examples
/// ```
/// use npipe::nonblocking::PipeWait;
/// use npipe::{ClientOptions, ServerOptions, WaitFor};
/// use std::time::Duration;
///
/// let name = format!(r"\\.\pipe\npipe-doc-pipewait-{}", std::process::id());
/// let server = ServerOptions::new().max_instances(1).create(&name)?;
/// let busy = ClientOptions::new().open(&name)?; // the only instance
/// let mut wait = PipeWait::start(&name, WaitFor::Timeout(Duration::from_secs(5)))?;
/// assert!(wait.poll().is_pending()); // an event loop now polls `wait.as_fd()`
/// drop(busy);
/// server.disconnect()?;
/// std::thread::spawn(move || server.connect()); // listens again
/// while wait.poll().is_pending() {
///     std::thread::sleep(Duration::from_millis(1)); // stands for the event loop's wait
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct PipeWait {
    name: String,
    set: sys::Poller,
    timer: sys::TimerFd,
    /// The parked connection to the server, while parked.
    parked: Option<OwnedFd>,
    /// When to ask again, after the server refused to park this wait.
    retry_at: Option<Instant>,
    start: Instant,
    /// `None` until the server told its default (NMPWAIT_USE_DEFAULT_WAIT), then `Some(None)`
    /// for forever or `Some(Some(t))`.
    deadline: Option<Option<Instant>>,
    done: bool,
}

/// The token of the parked socket in the set (the timer's is 0).
const PARKED: u64 = 1;

fn os(e: sys::Errno, what: &str, name: &str) -> io::Error {
    crate::semantics::pipe::os_err(e, what, name)
}

impl PipeWait {
    /// Starts waiting for an instance of `name`: connects to the server's process and asks
    /// once (one local round trip, never waiting for the server's application).
    ///
    /// # Errors
    /// `ERROR_FILE_NOT_FOUND` when no such pipe exists (W8); the server's refusal; descriptors
    /// that could not be made.
    #[doc(alias = "WaitNamedPipeW")]
    pub fn start(name: &str, wait: WaitFor) -> io::Result<PipeWait> {
        let start = Instant::now();
        let set = sys::Poller::new().map_err(|e| os(e, "epoll set", name))?;
        let timer = sys::TimerFd::new().map_err(|e| os(e, "timerfd", name))?;
        set.add(timer.fd(), 0, true)
            .map_err(|e| os(e, "epoll set", name))?;
        let deadline = match wait {
            WaitFor::Default => None,
            WaitFor::Forever => Some(None),
            WaitFor::Timeout(d) => Some(Some(start + d)),
        };
        let mut w = PipeWait {
            name: name.to_owned(),
            set,
            timer,
            parked: None,
            retry_at: None,
            start,
            deadline,
            done: false,
        };
        w.ask()?;
        Ok(w)
    }

    /// Asks the server (again); on `Ready` the wait is done and the descriptor signalled.
    fn ask(&mut self) -> io::Result<()> {
        if let Some(s) = self.parked.take() {
            let _ = self.set.delete(s.as_fd());
        }
        self.retry_at = None;
        match wait_begin(&self.name, Trust::default())? {
            WaitBegin::Ready => self.done = true,
            WaitBegin::Parked(sock, default_ms) => {
                let start = self.start;
                self.deadline.get_or_insert_with(|| {
                    let ms = if default_ms == 0 { 50 } else { default_ms };
                    Some(start + Duration::from_millis(ms as u64))
                });
                self.set
                    .add(sock.as_fd(), PARKED, true)
                    .map_err(|e| os(e, "epoll set", &self.name))?;
                self.parked = Some(sock);
            }
            WaitBegin::Retry => self.retry_at = Some(Instant::now() + RETRY),
        }
        self.set_timer()
    }

    /// Sets the timer to the next time `poll` has something to do: the deadline or the retry;
    /// at once when the wait is done.
    fn set_timer(&self) -> io::Result<()> {
        let now = Instant::now();
        let at = if self.done {
            Some(now)
        } else {
            let deadline = self.deadline.flatten();
            match (deadline, self.retry_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        };
        self.timer
            .set(at.map(|t| t.saturating_duration_since(now)))
            .map_err(|e| os(e, "timerfd", &self.name))
    }

    /// Looks at the wait: `Ready(Ok)` once an instance listens (open it now; again after that),
    /// `Pending` while it waits (the descriptor polls readable when to look again).
    ///
    /// # Errors
    /// `ERROR_SEM_TIMEOUT` once the deadline has passed; `ERROR_FILE_NOT_FOUND` when the pipe
    /// went away during the wait.
    pub fn poll(&mut self) -> Poll<io::Result<()>> {
        if self.done {
            return Poll::Ready(Ok(()));
        }
        let r = self.step();
        if let Err(e) = self.set_timer() {
            return Poll::Ready(Err(e));
        }
        match r {
            Ok(true) => Poll::Ready(Ok(())),
            Ok(false) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn step(&mut self) -> io::Result<bool> {
        if let Some(sock) = &self.parked {
            let r = sys::poll_until([sock.as_fd()], Some(Instant::now()))
                .map_err(|e| os(e, "poll", &self.name))?;
            if r[0].readable || r[0].hup {
                if wait_finish(sock, &self.name) {
                    self.done = true;
                    return Ok(true);
                }
                // The server closed the pipe: ask again (it may be gone: ERROR_FILE_NOT_FOUND).
                self.ask()?;
                return Ok(self.done);
            }
        }
        if self.deadline.flatten().is_some_and(|d| d <= Instant::now()) {
            return Err(Error::io(
                ERROR_SEM_TIMEOUT,
                format!("no instance of {} became free", self.name),
            ));
        }
        if self.retry_at.is_some_and(|t| t <= Instant::now()) {
            self.ask()?;
        }
        Ok(self.done)
    }
}

impl AsFd for PipeWait {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.set.fd()
    }
}
