//! The readiness driver of `npipe::tokio`: one end's readiness eventfd registered with tokio's
//! reactor, and the rule that decides when a pending step runs again.
//!
//! The end's eventfd (see [`crate::nonblocking`]) is shared by every pending operation of the
//! end, whatever it waits for (data, quota room, a client). tokio registers descriptors
//! edge-triggered, and an eventfd reports an edge on every write to it, so each signal the
//! peer sends after an operation armed the end is one tokio event. A waiter that takes an event
//! clears tokio's readiness; another operation of the same end, armed for a different
//! condition, must not lose the event it was waiting for. The rule (a [`Hub`] per registration):
//!
//! 1. before a step, read the hub's generation `g`;
//! 2. if the step is pending (the end is armed), register with tokio for readiness;
//! 3. if readiness is set, take it: bump the generation, then clear tokio's readiness (tokio
//!    clears only if no newer event arrived since the one taken) and step again;
//! 4. if not, and the generation differs from `g`, someone took an event since our step: step
//!    again; otherwise sleep until the next event.
//!
//! A signal after our step's arm either is still in tokio's readiness when we register (taken in
//! 3), or was taken by someone who bumped the generation after our step began (seen in 4):
//! tokio's clear only clears an event whose tick the clearer saw, and the clearer bumped before
//! clearing. So no operation sleeps through the signal meant for it; extra steps are the cost.
//!
//! Two hubs per end: `poll_read_ready`-style polls keep one waker per direction, so the read
//! half (AsyncRead, `poll_read_ready`) and the write half (AsyncWrite, `poll_write_ready`) each
//! get their own registration (a duplicate of the eventfd), and a split pipe never loses a
//! wake-up to the other half. The async methods use the same hubs' waiter lists, which take any
//! number of tasks.

use std::future::Future;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::task::{Context, Poll};

use ::tokio::io::unix::AsyncFd;
use ::tokio::io::Interest;

use crate::nonblocking::Readiness;

/// A duplicate of an end's readiness eventfd, as tokio registers it.
#[derive(Debug)]
struct SignalFd(OwnedFd);

impl AsRawFd for SignalFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// One registration of an end's readiness eventfd with tokio (see the module docs).
#[derive(Debug)]
pub(super) struct Hub {
    fd: AsyncFd<SignalFd>,
    /// Bumped by every taker of an event, before it clears tokio's readiness.
    gen: AtomicU64,
    sig: Readiness,
}

impl Hub {
    /// Registers a duplicate of `sig` with the current tokio runtime (an error outside one,
    /// as tokio's own pipes).
    pub(super) fn new(sig: &Readiness) -> io::Result<Hub> {
        in_runtime()?;
        let fd = sig.event_fd().try_clone_to_owned()?;
        // tokio 1.54 deprecates the safe constructor because a type's `as_raw_fd` could return
        // a descriptor it does not own, or a different one later; `SignalFd` owns its
        // descriptor and always returns it, so the call is sound here, and the crate keeps its
        // `unsafe` code inside `sys/` (the replacement, `register_with_interest`, is `unsafe`).
        #[allow(deprecated)]
        let fd = AsyncFd::with_interest(SignalFd(fd), Interest::READABLE)?;
        Ok(Hub {
            fd,
            gen: AtomicU64::new(0),
            sig: sig.clone(),
        })
    }

    /// The generation to read before a step (rule 1).
    pub(super) fn gen(&self) -> u64 {
        // SYNC POINT with the SeqCst bump in `take`: a step that begins after a bump sees it.
        self.gen.load(SeqCst)
    }

    /// Rule 3: an event is ours; the caller steps again.
    fn take(&self, mut guard: ::tokio::io::unix::AsyncFdReadyGuard<'_, SignalFd>) {
        // SYNC POINT with the SeqCst load in `gen`/`settle`: a waiter whose registration finds
        // the readiness cleared below sees this bump.
        self.gen.fetch_add(1, SeqCst);
        guard.clear_ready();
        // The counter is drained for descriptors polled level-triggered (`AsFd` users); tokio's
        // edge registration needs no drain, and a signal after this read is a new edge.
        self.sig.clear();
    }

    /// Rule 4 after a registration that found no readiness.
    fn settle(&self, seen: u64) -> Poll<io::Result<()>> {
        // SYNC POINT with the bump in `take` (see there).
        if self.gen.load(SeqCst) != seen {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    /// Poll form (one waker: AsyncRead or AsyncWrite of this hub): `Ready(Ok)` means "step
    /// again", after a step that was pending and began at generation `seen`.
    pub(super) fn poll_wait(&self, cx: &mut Context<'_>, seen: u64) -> Poll<io::Result<()>> {
        match self.fd.poll_read_ready(cx) {
            Poll::Ready(Ok(g)) => {
                self.take(g);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.settle(seen),
        }
    }

    /// Async form (any number of tasks): returns when a step that was pending and began at
    /// generation `seen` should run again. Cancel safe: dropping it takes nothing.
    pub(super) async fn wait(&self, seen: u64) -> io::Result<()> {
        let mut ready = pin!(self.fd.readable());
        std::future::poll_fn(|cx| match ready.as_mut().poll(cx) {
            Poll::Ready(Ok(g)) => {
                self.take(g);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.settle(seen),
        })
        .await
    }

    /// The registered descriptor.
    pub(super) fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.get_ref().0.as_fd()
    }
}

/// An error outside a tokio runtime (where registering would panic).
fn in_runtime() -> io::Result<()> {
    ::tokio::runtime::Handle::try_current()
        .map(drop)
        .map_err(io::Error::other)
}

/// Waits until `fd` polls readable (or hung up), registered with the current runtime for this
/// one wait. Cancel safe: dropping it drops the registration and `fd`.
pub(super) async fn readable(fd: OwnedFd) -> io::Result<OwnedFd> {
    // See `Hub::new` for why the deprecated constructor is sound here.
    in_runtime()?;
    #[allow(deprecated)]
    let afd = AsyncFd::with_interest(SignalFd(fd), Interest::READABLE)?;
    drop(afd.readable().await?);
    Ok(afd.into_inner().0)
}

/// Waits for an end whose step found a lock of the end held by another thread (no signal
/// comes when it is released): lets the runtime run other tasks, then steps again.
pub(super) fn poll_contended<T>(cx: &mut Context<'_>) -> Poll<T> {
    cx.waker().wake_by_ref();
    Poll::Pending
}

/// Async form of [`poll_contended`].
pub(super) async fn contended() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}
