//! A small epoll wrapper: level-triggered readability and hang-up on a set of descriptors,
//! each registered with a `u64` token, waited on with an absolute deadline.

use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::time::Instant;

use rustix::event::epoll;

use super::{Errno, Result};

/// What [`Poller::wait`] reports for one descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Event {
    /// The token the descriptor was registered with.
    pub token: u64,
    /// Data (or EOF) can be read.
    pub readable: bool,
    /// The peer hung up or the descriptor is in error.
    pub hup: bool,
}

/// An epoll instance.
#[derive(Debug)]
pub(crate) struct Poller {
    ep: OwnedFd,
}

/// Events one wait collects at most.
const BATCH: usize = 64;

impl Poller {
    /// A new, empty, close-on-exec poller.
    pub(crate) fn new() -> Result<Poller> {
        Ok(Poller {
            ep: epoll::create(epoll::CreateFlags::CLOEXEC)?,
        })
    }

    /// Another handle to the same epoll set (for a thread that waits while others change it).
    pub(crate) fn duplicate(&self) -> Result<Poller> {
        Ok(Poller {
            ep: rustix::io::fcntl_dupfd_cloexec(&self.ep, 0)?,
        })
    }

    fn flags(readable: bool) -> epoll::EventFlags {
        // Hang-up and errors are always reported; RDHUP adds the peer's shutdown.
        if readable {
            epoll::EventFlags::IN | epoll::EventFlags::RDHUP
        } else {
            epoll::EventFlags::empty()
        }
    }

    /// Watches `fd` (for readability when `readable`, else only for hang-up) under `token`.
    pub(crate) fn add(&self, fd: BorrowedFd<'_>, token: u64, readable: bool) -> Result<()> {
        epoll::add(
            &self.ep,
            fd,
            epoll::EventData::new_u64(token),
            Self::flags(readable),
        )
    }

    /// Watches `fd` for readability, edge-triggered: one event each time data arrives, none
    /// for data left unread (for a reader that may have to leave records queued).
    pub(crate) fn add_edge(&self, fd: BorrowedFd<'_>, token: u64) -> Result<()> {
        epoll::add(
            &self.ep,
            fd,
            epoll::EventData::new_u64(token),
            Self::flags(true) | epoll::EventFlags::ET,
        )
    }

    /// The epoll descriptor itself: readable while a watched descriptor is ready, so one poller
    /// can be watched by another (a named event's holder set inside its acceptor's loop).
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.ep.as_fd()
    }

    /// Changes what `fd` is watched for.
    pub(crate) fn modify(&self, fd: BorrowedFd<'_>, token: u64, readable: bool) -> Result<()> {
        epoll::modify(
            &self.ep,
            fd,
            epoll::EventData::new_u64(token),
            Self::flags(readable),
        )
    }

    /// Stops watching `fd` (closing the last descriptor of a file does that too).
    pub(crate) fn delete(&self, fd: BorrowedFd<'_>) -> Result<()> {
        epoll::delete(&self.ep, fd)
    }

    /// Waits until a watched descriptor is ready or `deadline` passes (`None`: no limit), and
    /// appends up to a batch of events to `out` (none on timeout or a signal).
    pub(crate) fn wait(&self, deadline: Option<Instant>, out: &mut Vec<Event>) -> Result<()> {
        let timeout = deadline.map(|d| {
            let left = d.saturating_duration_since(Instant::now());
            rustix::time::Timespec {
                tv_sec: left.as_secs().min(i32::MAX as u64 / 1000) as i64,
                tv_nsec: left.subsec_nanos() as _,
            }
        });
        let mut buf = [MaybeUninit::<epoll::Event>::uninit(); BATCH];
        let got = match epoll::wait(&self.ep, &mut buf, timeout.as_ref()) {
            Ok((got, _)) => got,
            Err(Errno::INTR) => return Ok(()),
            Err(e) => return Err(e),
        };
        out.extend(got.iter().map(|e| {
            let f = e.flags;
            Event {
                token: e.data.u64(),
                readable: f.contains(epoll::EventFlags::IN),
                hup: f.intersects(
                    epoll::EventFlags::HUP | epoll::EventFlags::RDHUP | epoll::EventFlags::ERR,
                ),
            }
        }));
        Ok(())
    }
}
