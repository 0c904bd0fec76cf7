//! Eventfds: the readiness signals of pipe ends and the wake-ups of threads blocked in polls;
//! timerfds: the deadlines of waits driven by an outside event loop.
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::OnceLock;
use std::time::Duration;

use super::{Poller, Result};

/// An eventfd used to wake a thread blocked in [`poll_fds`].
#[derive(Debug)]
pub(crate) struct EventFd {
    fd: OwnedFd,
    /// The descriptor handed to the program's own event loop ([`EventFd::private_fd`]), made
    /// on first need.
    private: OnceLock<Poller>,
}

impl EventFd {
    /// A new close-on-exec, nonblocking eventfd.
    pub(crate) fn new() -> Result<EventFd> {
        rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
        )
        .map(|fd| EventFd {
            fd,
            private: OnceLock::new(),
        })
    }

    /// Makes the eventfd readable.
    pub(crate) fn signal(&self) {
        poke(self.fd());
    }

    /// Makes the eventfd unreadable again; true if it had been signalled.
    pub(crate) fn clear(&self) -> bool {
        let mut b = [0u8; 8];
        matches!(rustix::io::read(&self.fd, &mut b), Ok(8))
    }

    /// The descriptor to poll.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// A descriptor that polls readable exactly when the eventfd does, and that only this
    /// process holds: an epoll set watching the eventfd, made on the first call. An end's
    /// readiness eventfd is sent to its peer (which signals it), so its open file lives on in
    /// the peer's process after this one closed the end, and stays in any epoll set it was
    /// added to (epoll forgets a file only when its last descriptor closes, in any process).
    /// This one goes when the end goes.
    pub(crate) fn private_fd(&self) -> Result<BorrowedFd<'_>> {
        if let Some(p) = self.private.get() {
            return Ok(p.fd());
        }
        let p = Poller::new()?;
        p.add(self.fd(), 0, true)?;
        // A racing caller may have set it first: one of the two is kept.
        let _ = self.private.set(p);
        Ok(self
            .private
            .get()
            .expect("set just above or by a racing caller")
            .fd())
    }

    /// The descriptor of [`private_fd`](Self::private_fd) if it was made.
    pub(crate) fn private_fd_made(&self) -> Option<BorrowedFd<'_>> {
        self.private.get().map(Poller::fd)
    }
}

/// Adds 1 to an eventfd: ours ([`EventFd::signal`]) or one a peer sent for its readiness
/// descriptor, which was made nonblocking when it arrived ([`set_nonblocking`]), so this never
/// waits, whatever a hostile peer sent.
pub(crate) fn poke(fd: BorrowedFd<'_>) {
    let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
}

/// Sets `O_NONBLOCK` on `fd`'s open file description.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> Result<()> {
    let fl = rustix::fs::fcntl_getfl(fd)?;
    rustix::fs::fcntl_setfl(fd, fl | rustix::fs::OFlags::NONBLOCK)
}

/// Sets or clears `O_NONBLOCK` on `fd`'s open file description (shared by every descriptor
/// duplicated or inherited from it).
pub(crate) fn set_nonblocking_to(fd: BorrowedFd<'_>, on: bool) -> Result<()> {
    let fl = rustix::fs::fcntl_getfl(fd)?;
    let want = if on {
        fl | rustix::fs::OFlags::NONBLOCK
    } else {
        fl - rustix::fs::OFlags::NONBLOCK
    };
    if want != fl {
        rustix::fs::fcntl_setfl(fd, want)?;
    }
    Ok(())
}

/// Whether `fd`'s open file description is `O_NONBLOCK`.
pub(crate) fn is_nonblocking(fd: BorrowedFd<'_>) -> Result<bool> {
    Ok(rustix::fs::fcntl_getfl(fd)?.contains(rustix::fs::OFlags::NONBLOCK))
}

/// A timerfd on the monotonic clock: polls readable once its time has come, until
/// [`TimerFd::set`] starts it again.
#[derive(Debug)]
pub(crate) struct TimerFd(OwnedFd);

impl TimerFd {
    /// A new close-on-exec, nonblocking, disarmed timerfd.
    pub(crate) fn new() -> Result<TimerFd> {
        use rustix::time::{timerfd_create, TimerfdClockId, TimerfdFlags};
        timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::CLOEXEC | TimerfdFlags::NONBLOCK,
        )
        .map(TimerFd)
    }

    /// Makes the timer fire once, `after` from now (`None`: never), and unreadable until then.
    pub(crate) fn set(&self, after: Option<Duration>) -> Result<()> {
        use rustix::time::{timerfd_settime, Itimerspec, TimerfdTimerFlags, Timespec};
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let value = match after {
            // A zero value disarms a timerfd: a time that has come is one nanosecond.
            Some(d) => Timespec {
                tv_sec: d.as_secs().min(i64::MAX as u64) as i64,
                tv_nsec: d.subsec_nanos().max(u32::from(d.as_secs() == 0)) as _,
            },
            None => zero,
        };
        let spec = Itimerspec {
            it_interval: zero,
            it_value: value,
        };
        timerfd_settime(&self.0, TimerfdTimerFlags::empty(), &spec).map(drop)
    }

    /// The descriptor to poll.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}
