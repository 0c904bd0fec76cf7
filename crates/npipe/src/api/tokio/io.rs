//! The data path of `npipe::tokio`, shared by both ends: reads, writes with one write in
//! flight (as tokio's Windows pipes keep one), readiness per direction, and the thread that
//! takes a message too large for the shared ring.
//!
//! - A read is one unpinned step ([`crate::nonblocking`]): it takes a whole message (or, in
//!   byte read mode, what is there) or nothing, so no state is kept between polls and a
//!   dropped read has taken nothing. A buffer larger than the inbound ring holds is cut to
//!   what it holds (an unpinned read of more never completes): a longer message then comes in
//!   parts, `ERROR_MORE_DATA` style.
//! - A write is reported done once all its bytes are in the pipe, where the reader and peek
//!   see them. If the reader is behind by more than the quota, the write stays *in flight*
//!   until the quota lets it complete (W91-W93); the next write, flush or shutdown waits for
//!   it first, and reports its error if it failed. A poll that returns `Pending` has put
//!   nothing of its buffer in the pipe, so a dropped write future wrote nothing.
//! - A message larger than the outbound ring can only stream through with the writer lock held
//!   between steps, which ties it to one thread: it is copied and handed to a dedicated thread
//!   (not a runtime worker) that writes it with a pinned operation, waiting on the end's
//!   readiness descriptor in slices of at most 10 ms. It is in flight like any other write.
//!   A byte pipe never needs that: its writes are cut to what the ring holds.
//! - Dropping an end with a write in flight keeps the write: its quota wait ends and it counts
//!   as completed (its data stays readable after the close, as mio keeps writes going on
//!   Windows); a large message still streaming keeps the end open until its thread finishes.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};
use std::time::Duration;

/// The most one `try_read_buf` takes.
const SCRATCH: usize = 16 * 1024;

use super::driver::{self, Hub};
use crate::error::{
    code::{ERROR_BROKEN_PIPE, ERROR_PIPE_LISTENING},
    with_raw_code,
};
use crate::nonblocking::{ReadOp, Readiness, WriteOp};
use crate::{sys, MsgLen};

/// What both blocking-API ends offer the async layer.
pub(super) trait RawEnd: std::fmt::Debug + Send + Sync + 'static {
    fn readiness(&self) -> io::Result<Readiness>;
    fn poll_read(&self, op: &mut ReadOp, buf: &mut [u8]) -> Poll<io::Result<MsgLen>>;
    fn poll_write(&self, op: &mut WriteOp, data: &[u8]) -> Poll<io::Result<usize>>;
    fn abort_write(&self, op: &mut WriteOp) -> bool;
    fn release_write(&self, op: &mut WriteOp) -> bool;
    fn unpinned_limits(&self) -> Option<(usize, usize)>;
    fn is_message_type(&self) -> bool;
}

macro_rules! raw_end {
    ($t:ty) => {
        impl RawEnd for $t {
            fn readiness(&self) -> io::Result<Readiness> {
                <$t>::driver_readiness(self)
            }
            fn poll_read(&self, op: &mut ReadOp, buf: &mut [u8]) -> Poll<io::Result<MsgLen>> {
                <$t>::poll_read(self, op, buf)
            }
            fn poll_write(&self, op: &mut WriteOp, data: &[u8]) -> Poll<io::Result<usize>> {
                <$t>::poll_write(self, op, data)
            }
            fn abort_write(&self, op: &mut WriteOp) -> bool {
                <$t>::abort_write(self, op)
            }
            fn release_write(&self, op: &mut WriteOp) -> bool {
                <$t>::release_write(self, op)
            }
            fn unpinned_limits(&self) -> Option<(usize, usize)> {
                <$t>::unpinned_limits(self)
            }
            fn is_message_type(&self) -> bool {
                <$t>::is_message_type(self)
            }
        }
    };
}
raw_end!(crate::NamedPipeServer);
raw_end!(crate::NamedPipeClient);

/// The outcome of one step.
enum Step<T> {
    Done(io::Result<T>),
    /// Pending with the end armed: a signal comes.
    Wait,
    /// Another thread of this end held a lock the step needed: no signal comes.
    Busy,
}

/// Where the result of a write handed to its own thread appears.
type Cell = Arc<Mutex<Option<io::Result<usize>>>>;

/// A write reported done whose completion is still to come.
#[derive(Debug)]
enum Inflight {
    /// All its bytes are in the pipe; it waits for the quota.
    Quota(WriteOp),
    /// A message larger than the ring, written by a dedicated thread.
    Thread(Cell),
}

/// `rd_blocked` / `wr_blocked` when the last attempt did not find the end blocked.
const NOT_BLOCKED: u64 = u64::MAX;

/// One end as the async layer drives it.
#[derive(Debug)]
pub(super) struct Io<E: RawEnd> {
    pub(super) end: Arc<E>,
    sig: Readiness,
    rd: Hub,
    wr: Hub,
    /// The read hub's generation when a read last came back pending, or [`NOT_BLOCKED`].
    rd_blocked: AtomicU64,
    /// The same for writes.
    wr_blocked: AtomicU64,
    inflight: Mutex<Option<Inflight>>,
}

pub(super) fn would_block() -> io::Error {
    io::Error::from(io::ErrorKind::WouldBlock)
}

fn is_eof(e: &io::Error) -> bool {
    crate::win32_code(e) == ERROR_BROKEN_PIPE
}

/// A server instance no client has connected to yet (`ERROR_PIPE_LISTENING`): its reads and
/// writes wait until one does, as tokio's do on Windows (mio schedules no read on a listening
/// instance and reports it neither readable nor writable). A client's arrival signals the
/// end's descriptor, armed or not, so the step runs again then.
fn is_listening(e: &io::Error) -> bool {
    crate::win32_code(e) == ERROR_PIPE_LISTENING
}

impl<E: RawEnd> Io<E> {
    /// Registers `end`'s readiness descriptor with the current runtime.
    pub(super) fn new(end: E) -> io::Result<Io<E>> {
        let sig = end.readiness().map_err(with_raw_code)?;
        Ok(Io {
            rd: Hub::new(&sig)?,
            wr: Hub::new(&sig)?,
            sig,
            end: Arc::new(end),
            rd_blocked: AtomicU64::new(NOT_BLOCKED),
            wr_blocked: AtomicU64::new(NOT_BLOCKED),
            inflight: Mutex::new(None),
        })
    }

    /// The readiness descriptor tokio polls.
    pub(super) fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.rd.fd()
    }

    pub(super) fn read_hub(&self) -> &Hub {
        &self.rd
    }

    // ---- reads ----

    fn read_step(&self, buf: &mut [u8]) -> Step<MsgLen> {
        let mut op = ReadOp::new();
        match self.end.poll_read(&mut op, buf) {
            Poll::Ready(Err(e)) if is_listening(&e) => Step::Wait,
            Poll::Ready(r) => Step::Done(r),
            Poll::Pending if op.contended() => Step::Busy,
            Poll::Pending => match self.end.unpinned_limits() {
                // An unpinned read of more than the ring holds never completes.
                Some((max, _)) if max > 0 && buf.len() > max => self.read_step(&mut buf[..max]),
                _ => Step::Wait,
            },
        }
    }

    /// One read attempt that never waits.
    pub(super) fn try_read_msg(&self, buf: &mut [u8]) -> io::Result<MsgLen> {
        let seen = self.rd.gen();
        match self.read_step(buf) {
            Step::Done(r) => {
                self.rd_blocked.store(NOT_BLOCKED, SeqCst);
                r.map_err(with_raw_code)
            }
            Step::Wait => {
                self.rd_blocked.store(seen, SeqCst);
                Err(would_block())
            }
            Step::Busy => Err(would_block()),
        }
    }

    /// `try_read`: a read that ends on the peer's close returns `Ok(0)`.
    pub(super) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match self.try_read_msg(buf) {
            Ok(m) => Ok(m.read),
            Err(e) if is_eof(&e) => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// `try_read_buf`: [`try_read`](Self::try_read) into `buf`'s spare capacity, through a
    /// scratch buffer on the stack (at most [`SCRATCH`] bytes per call: a longer message stays
    /// for the next read, as with a short buffer).
    pub(super) fn try_read_buf<B: bytes::BufMut>(&self, buf: &mut B) -> io::Result<usize> {
        let mut scratch = [0u8; SCRATCH];
        let n = buf.chunk_mut().len().min(SCRATCH);
        let got = self.try_read(&mut scratch[..n])?;
        buf.put_slice(&scratch[..got]);
        Ok(got)
    }

    /// A read driven to completion from `poll` (AsyncRead).
    pub(super) fn poll_read_msg(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<MsgLen>> {
        loop {
            let seen = self.rd.gen();
            match self.read_step(buf) {
                Step::Done(r) => {
                    self.rd_blocked.store(NOT_BLOCKED, SeqCst);
                    return Poll::Ready(r.map_err(with_raw_code));
                }
                Step::Busy => return driver::poll_contended(cx),
                Step::Wait => ready!(self.rd.poll_wait(cx, seen))?,
            }
        }
    }

    /// The same, as an async method.
    pub(super) async fn read_msg(&self, buf: &mut [u8]) -> io::Result<MsgLen> {
        loop {
            let seen = self.rd.gen();
            match self.read_step(buf) {
                Step::Done(r) => {
                    self.rd_blocked.store(NOT_BLOCKED, SeqCst);
                    return r.map_err(with_raw_code);
                }
                Step::Busy => driver::contended().await,
                Step::Wait => self.rd.wait(seen).await?,
            }
        }
    }

    /// AsyncRead's read: the peer's close reads as the end of the stream.
    pub(super) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut ::tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        match ready!(self.poll_read_msg(cx, buf.initialize_unfilled())) {
            Ok(m) => {
                buf.advance(m.read);
                Poll::Ready(Ok(()))
            }
            Err(e) if is_eof(&e) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Readiness for reads: at once unless the last read came back pending, else after the
    /// next signal (which may be spurious).
    pub(super) async fn readable(&self) -> io::Result<()> {
        let seen = self.rd_blocked.load(SeqCst);
        if seen != NOT_BLOCKED {
            self.rd.wait(seen).await?;
            let _ = self
                .rd_blocked
                .compare_exchange(seen, NOT_BLOCKED, SeqCst, SeqCst);
        }
        Ok(())
    }

    /// Poll form of [`readable`](Self::readable).
    pub(super) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let seen = self.rd_blocked.load(SeqCst);
        if seen != NOT_BLOCKED {
            ready!(self.rd.poll_wait(cx, seen))?;
            let _ = self
                .rd_blocked
                .compare_exchange(seen, NOT_BLOCKED, SeqCst, SeqCst);
        }
        Poll::Ready(Ok(()))
    }

    // ---- writes ----

    /// Moves the write in flight on; `Done(Ok)` when there is none (any more).
    fn finish_inflight(&self, slot: &mut Option<Inflight>) -> Step<()> {
        let r = match slot {
            None => return Step::Done(Ok(())),
            // A write in its quota phase never looks at its data again.
            Some(Inflight::Quota(op)) => match self.end.poll_write(op, &[]) {
                Poll::Ready(r) => r.map(drop),
                Poll::Pending if op.contended() => return Step::Busy,
                Poll::Pending => return Step::Wait,
            },
            Some(Inflight::Thread(cell)) => {
                match cell.lock().unwrap_or_else(PoisonError::into_inner).take() {
                    Some(r) => r.map(drop),
                    // Its thread signals the end's descriptor when it is done.
                    None => return Step::Wait,
                }
            }
        };
        *slot = None;
        Step::Done(r)
    }

    fn write_step(&self, data: &[u8]) -> Step<usize> {
        let mut slot = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        match self.finish_inflight(&mut slot) {
            Step::Done(Ok(())) => self.start_write(&mut slot, data),
            Step::Done(Err(e)) => Step::Done(Err(e)),
            Step::Wait => Step::Wait,
            Step::Busy => Step::Busy,
        }
    }

    fn start_write(&self, slot: &mut Option<Inflight>, data: &[u8]) -> Step<usize> {
        let mut op = WriteOp::new();
        match self.end.poll_write(&mut op, data) {
            Poll::Ready(Err(e)) if is_listening(&e) => Step::Wait,
            Poll::Ready(r) => Step::Done(r),
            Poll::Pending if op.is_written() => {
                *slot = Some(Inflight::Quota(op));
                Step::Done(Ok(data.len()))
            }
            Poll::Pending => {
                let busy = op.contended();
                // Nothing of it is in the pipe: an unpinned write goes in whole or not at all.
                self.end.abort_write(&mut op);
                if busy {
                    return Step::Busy;
                }
                match self.end.unpinned_limits() {
                    Some((_, max)) if max > 0 && data.len() > max => {
                        if !self.end.is_message_type() {
                            return self.start_write(slot, &data[..max]);
                        }
                        match self.spawn_large(data) {
                            Ok(cell) => {
                                *slot = Some(Inflight::Thread(cell));
                                Step::Done(Ok(data.len()))
                            }
                            Err(e) => Step::Done(Err(e)),
                        }
                    }
                    _ => Step::Wait,
                }
            }
        }
    }

    /// Hands a message larger than the ring to a thread of its own (see the module docs).
    fn spawn_large(&self, data: &[u8]) -> io::Result<Cell> {
        let end = self.end.clone();
        let sig = self.sig.clone();
        let data = data.to_vec();
        let cell: Cell = Arc::new(Mutex::new(None));
        let out = cell.clone();
        let identity = crate::NewThreadIdentity::capture();
        std::thread::Builder::new()
            .name("npipe-tokio-write".into())
            .spawn(move || {
                identity.adopt();
                let r = write_pinned(&*end, &data, &sig);
                *out.lock().unwrap_or_else(PoisonError::into_inner) = Some(r);
                sig.signal();
            })?;
        Ok(cell)
    }

    /// One write attempt that never waits.
    pub(super) fn try_write(&self, data: &[u8]) -> io::Result<usize> {
        let seen = self.wr.gen();
        match self.write_step(data) {
            Step::Done(r) => {
                self.wr_blocked.store(NOT_BLOCKED, SeqCst);
                r.map_err(with_raw_code)
            }
            Step::Wait => {
                self.wr_blocked.store(seen, SeqCst);
                Err(would_block())
            }
            Step::Busy => Err(would_block()),
        }
    }

    /// AsyncWrite's write.
    pub(super) fn poll_write(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            let seen = self.wr.gen();
            match self.write_step(data) {
                Step::Done(r) => {
                    self.wr_blocked.store(NOT_BLOCKED, SeqCst);
                    return Poll::Ready(r.map_err(with_raw_code));
                }
                Step::Busy => return driver::poll_contended(cx),
                Step::Wait => ready!(self.wr.poll_wait(cx, seen))?,
            }
        }
    }

    /// AsyncWrite's flush: the write in flight completes.
    pub(super) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let seen = self.wr.gen();
            let step = {
                let mut slot = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
                self.finish_inflight(&mut slot)
            };
            match step {
                Step::Done(r) => return Poll::Ready(r.map_err(with_raw_code)),
                Step::Busy => return driver::poll_contended(cx),
                Step::Wait => ready!(self.wr.poll_wait(cx, seen))?,
            }
        }
    }

    /// Readiness for writes (see [`readable`](Self::readable)).
    pub(super) async fn writable(&self) -> io::Result<()> {
        let seen = self.wr_blocked.load(SeqCst);
        if seen != NOT_BLOCKED {
            self.wr.wait(seen).await?;
            let _ = self
                .wr_blocked
                .compare_exchange(seen, NOT_BLOCKED, SeqCst, SeqCst);
        }
        Ok(())
    }

    /// Poll form of [`writable`](Self::writable).
    pub(super) fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let seen = self.wr_blocked.load(SeqCst);
        if seen != NOT_BLOCKED {
            ready!(self.wr.poll_wait(cx, seen))?;
            let _ = self
                .wr_blocked
                .compare_exchange(seen, NOT_BLOCKED, SeqCst, SeqCst);
        }
        Poll::Ready(Ok(()))
    }

    /// Whether the last read (`READABLE`) or write (`WRITABLE`) came back pending.
    pub(super) fn blocked(&self) -> (bool, bool) {
        (
            self.rd_blocked.load(SeqCst) != NOT_BLOCKED,
            self.wr_blocked.load(SeqCst) != NOT_BLOCKED,
        )
    }

    /// Forgets that the last read / write came back pending (a readiness reported to the
    /// caller, who tries again).
    pub(super) fn unblock(&self, read: bool, write: bool) {
        if read {
            self.rd_blocked.store(NOT_BLOCKED, SeqCst);
        }
        if write {
            self.wr_blocked.store(NOT_BLOCKED, SeqCst);
        }
    }

    /// Forgets the write in flight (a disconnect discards its data anyway).
    pub(super) fn discard_inflight(&self) {
        self.inflight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

impl<E: RawEnd> Drop for Io<E> {
    fn drop(&mut self) {
        let slot = self
            .inflight
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(Inflight::Quota(op)) = slot {
            // Its bytes are in the pipe: it completes now, so the close keeps them (see the
            // module docs).
            self.end.release_write(op);
        }
    }
}

/// Writes one message larger than the ring on a thread of its own: a pinned operation (every
/// step and the lock it keeps stay on this thread), woken by the end's descriptor and in any
/// case every 10 ms (another driver of the end may drain the descriptor first), or every 1 ms
/// while another thread holds the writer lock.
fn write_pinned<E: RawEnd>(end: &E, data: &[u8], sig: &Readiness) -> io::Result<usize> {
    let mut op = WriteOp::pinned();
    loop {
        if let Poll::Ready(r) = end.poll_write(&mut op, data) {
            return r;
        }
        let slice = Duration::from_millis(if op.contended() { 1 } else { 10 });
        let _ = sys::poll_fds([sig.event_fd()], Some(slice));
        sig.clear();
    }
}
