//! Eventfds and the epoll-based readiness descriptor of a connection end.
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::Result;

/// An eventfd used to wake a thread blocked in [`poll_fds`].
#[derive(Debug)]
pub(crate) struct EventFd(OwnedFd);

impl EventFd {
    /// A new close-on-exec, nonblocking eventfd.
    pub(crate) fn new() -> Result<EventFd> {
        rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
        )
        .map(EventFd)
    }

    /// Makes the eventfd readable.
    pub(crate) fn signal(&self) {
        poke(self.fd());
    }

    /// Makes the eventfd unreadable again; true if it had been signalled.
    pub(crate) fn clear(&self) -> bool {
        let mut b = [0u8; 8];
        matches!(rustix::io::read(&self.0, &mut b), Ok(8))
    }

    /// The descriptor to poll.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// A readiness descriptor for one connection end: an epoll instance that becomes readable when
/// its eventfd is signalled (the peer published data) or the control socket reports hang-up.
#[derive(Debug)]
pub(crate) struct Readiness {
    epoll: OwnedFd,
    event: EventFd,
}

impl Readiness {
    /// Watches a new eventfd and the control socket `ctl`.
    pub(crate) fn new(ctl: BorrowedFd<'_>) -> Result<Readiness> {
        use rustix::event::epoll;
        let event = EventFd::new()?;
        let ep = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        epoll::add(
            &ep,
            event.fd(),
            epoll::EventData::new_u64(0),
            epoll::EventFlags::IN,
        )?;
        // Hang-up and errors are always reported; RDHUP adds the peer's shutdown.
        epoll::add(
            &ep,
            ctl,
            epoll::EventData::new_u64(1),
            epoll::EventFlags::RDHUP,
        )?;
        Ok(Readiness { epoll: ep, event })
    }

    /// The descriptor to poll.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }

    /// The eventfd the peer signals.
    pub(crate) fn event(&self) -> &EventFd {
        &self.event
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
