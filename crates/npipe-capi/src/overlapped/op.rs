//! An overlapped operation as the engine and the issuing call hold it: the caller's buffers
//! and the nonblocking step (`npipe::nonblocking`) it is, stepped, pinned and unpinned, looked
//! at (holding a lock, beyond what unpinned steps complete) and aborted, with the outcome it
//! ends with. How operations start and complete is the parent module.

use std::task::Poll;

use npipe::nonblocking::{ConnectOp, ReadOp, TransactOp, WriteOp};

use super::status;
use crate::handles::Object;
use crate::*;

/// A caller's buffer, valid until its operation completes (Win32 contract).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Buf {
    ptr: *mut u8,
    pub(super) len: usize,
}

// SAFETY: only dereferenced under the Win32 contract (the buffer stays valid and untouched by
// the caller until the operation completes), by whichever thread steps the operation.
unsafe impl Send for Buf {}

impl Buf {
    pub(crate) fn new(ptr: *mut c_void, len: DWORD) -> Buf {
        Buf {
            ptr: ptr.cast(),
            len: len as usize,
        }
    }

    /// # Safety
    /// The operation owning it has not completed (the buffer is valid for `len` bytes).
    unsafe fn slice<'a>(&self) -> &'a [u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: non-empty, so checked non-null at issue; valid (caller).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// # Safety
    /// As `slice`, and nobody else reads or writes it meanwhile.
    unsafe fn slice_mut<'a>(&self) -> &'a mut [u8] {
        if self.len == 0 {
            return &mut [];
        }
        // SAFETY: see `slice`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

/// An overlapped operation, with its progress.
#[derive(Debug)]
pub(crate) enum Op {
    Read {
        buf: Buf,
        op: ReadOp,
    },
    Write {
        buf: Buf,
        op: WriteOp,
    },
    Transact {
        req: Buf,
        reply: Buf,
        op: TransactOp,
    },
    Connect {
        op: ConnectOp,
    },
    /// Finished already, waiting to be reported in issue order.
    Done(Outcome),
}

/// The outcome of an operation: (NTSTATUS, bytes).
pub(super) type Outcome = (u32, usize);

pub(super) fn failed(e: &io::Error) -> Outcome {
    (status::from_win32(npipe::win32_code(e)), 0)
}

pub(super) fn msg_outcome(m: MsgLen) -> Outcome {
    let st = if m.left > 0 {
        status::BUFFER_OVERFLOW
    } else {
        status::SUCCESS
    };
    (st, m.read)
}

impl Op {
    /// One step on the handle's object. Pipe ends only (the engine gets nothing else).
    /// A read's (or a transaction's reply's) next step, if it finds nothing, arms the end
    /// lazily (see `npipe::nonblocking::ReadOp::arm_lazily`); other operations arm as usual.
    pub(super) fn arm_lazily(&mut self) {
        match self {
            Op::Read { op, .. } => op.arm_lazily(),
            Op::Transact { op, .. } => op.arm_lazily(),
            _ => {}
        }
    }

    pub(super) fn step(&mut self, obj: &Object) -> Poll<Outcome> {
        fn bad<T>() -> Poll<io::Result<T>> {
            Poll::Ready(Err(npipe::Error::io(
                ERROR_INVALID_HANDLE,
                "not a pipe end",
            )))
        }
        let r: Poll<io::Result<Outcome>> = match self {
            Op::Read { buf, op } => {
                // SAFETY: the operation has not completed, so its buffer is valid and the
                // caller keeps off it (Win32 contract).
                let b = unsafe { buf.slice_mut() };
                match obj {
                    Object::Server(s) => s.poll_read(op, b),
                    Object::Client(c) => c.poll_read(op, b),
                    _ => bad(),
                }
                .map_ok(msg_outcome)
            }
            Op::Write { buf, op } => {
                // SAFETY: as for reads.
                let b = unsafe { buf.slice() };
                match obj {
                    Object::Server(s) => s.poll_write(op, b),
                    Object::Client(c) => c.poll_write(op, b),
                    _ => bad(),
                }
                .map_ok(|n| (status::SUCCESS, n))
            }
            Op::Transact { req, reply, op } => {
                // SAFETY: as for reads; the two buffers are the caller's two arguments.
                let (q, a) = unsafe { (req.slice(), reply.slice_mut()) };
                match obj {
                    Object::Server(s) => s.poll_transact(op, q, a),
                    Object::Client(c) => c.poll_transact(op, q, a),
                    _ => bad(),
                }
                .map_ok(msg_outcome)
            }
            Op::Connect { op } => match obj {
                Object::Server(s) => s.poll_connect(op).map_ok(|()| (status::SUCCESS, 0)),
                _ => bad(),
            },
            Op::Done(o) => Poll::Ready(Ok(*o)),
        };
        r.map(|r| r.unwrap_or_else(|e| failed(&e)))
    }

    pub(super) fn contended(&self) -> bool {
        match self {
            Op::Read { op, .. } => op.contended(),
            Op::Write { op, .. } => op.contended(),
            Op::Transact { op, .. } => op.contended(),
            Op::Connect { .. } | Op::Done(_) => false,
        }
    }

    /// A write whose bytes are not all in the pipe yet.
    pub(super) fn unwritten(&self) -> bool {
        matches!(self, Op::Write { op, .. } if !op.is_written())
    }

    /// From now on the operation is stepped by the engine thread alone.
    pub(super) fn pin(&mut self) {
        match self {
            Op::Read { op, .. } => op.pin(),
            Op::Write { op, .. } => op.pin(),
            Op::Transact { op, .. } => op.pin(),
            Op::Connect { .. } | Op::Done(_) => {}
        }
    }

    /// Whether its unpinned steps cannot complete it: a buffer or message larger than what the
    /// rings hold whole (or, beyond what every connection's rings hold, no connection to
    /// tell). Only the engine's pinned steps get such an operation through, and no readiness
    /// signal may come before they start.
    pub(super) fn beyond_unpinned(&self, obj: &Object) -> bool {
        // Within what every connection's rings hold whole (the usual message): no need to ask
        // the connection.
        use npipe::nonblocking::UNPINNED_ALWAYS as ALWAYS;
        let small = match self {
            Op::Read { buf, .. } => buf.len <= ALWAYS,
            Op::Write { buf, .. } => buf.len <= ALWAYS,
            Op::Transact { req, reply, .. } => req.len <= ALWAYS && reply.len <= ALWAYS,
            Op::Connect { .. } | Op::Done(_) => true,
        };
        if small {
            return false;
        }
        let limits = match obj {
            Object::Server(s) => s.unpinned_limits(),
            Object::Client(c) => c.unpinned_limits(),
            _ => None,
        };
        let Some((read, write)) = limits else {
            return true;
        };
        match self {
            Op::Read { buf, .. } => buf.len > read,
            Op::Write { buf, .. } => buf.len > write,
            Op::Transact { req, reply, .. } => req.len > write || reply.len > read,
            Op::Connect { .. } | Op::Done(_) => false,
        }
    }

    /// Whether it keeps an end lock between steps (the engine's alone to step).
    pub(super) fn holds_lock(&self) -> bool {
        match self {
            Op::Read { op, .. } => op.holds_lock(),
            Op::Write { op, .. } => op.holds_lock(),
            Op::Transact { op, .. } => op.holds_lock(),
            Op::Connect { .. } | Op::Done(_) => false,
        }
    }

    /// Unpinned for one step by another thread, if it holds no lock (see `engine::help`).
    pub(super) fn unpin(&mut self) -> bool {
        match self {
            Op::Read { op, .. } => op.unpin(),
            Op::Write { op, .. } => op.unpin(),
            Op::Transact { op, .. } => op.unpin(),
            Op::Connect { .. } | Op::Done(_) => true,
        }
    }

    /// Ends the operation early (cancel, close): ERROR_OPERATION_ABORTED, or what a read had
    /// already taken of a streaming message.
    pub(super) fn abort(&mut self, obj: &Object) -> Outcome {
        if let Op::Done(o) = self {
            // Finished before the cancel: it completes as it finished.
            return *o;
        }
        let cancelled = (status::CANCELLED, 0);
        let partial = |m: Option<MsgLen>| m.map_or(cancelled, msg_outcome);
        match (self, obj) {
            (Op::Read { op, .. }, Object::Server(s)) => partial(s.abort_read(op)),
            (Op::Read { op, .. }, Object::Client(c)) => partial(c.abort_read(op)),
            // A write whose data could not be taken back (all read already, or another thread
            // writing) is reported done: its data is delivered (W98 otherwise).
            (Op::Write { op, buf }, Object::Server(s)) => {
                if s.abort_write(op) {
                    cancelled
                } else {
                    (status::SUCCESS, buf.len)
                }
            }
            (Op::Write { op, buf }, Object::Client(c)) => {
                if c.abort_write(op) {
                    cancelled
                } else {
                    (status::SUCCESS, buf.len)
                }
            }
            (Op::Transact { op, .. }, Object::Server(s)) => partial(s.abort_transact(op)),
            (Op::Transact { op, .. }, Object::Client(c)) => partial(c.abort_transact(op)),
            _ => cancelled,
        }
    }
}
