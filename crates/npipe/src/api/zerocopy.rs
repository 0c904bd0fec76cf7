//! Zero-copy messages: fill an outgoing message in place in the shared queue
//! ([`MsgWriter`]), or read an incoming one in place ([`MsgRef`]).

use std::io;

use crate::semantics::pipe::{ClientEnd, ServerEnd};
use crate::transport::queue::{InPlace, Reserved};

/// Either end of a connection, for the guards' commit step.
#[derive(Debug, Clone, Copy)]
pub(crate) enum EndRef<'a> {
    Server(&'a ServerEnd),
    Client(&'a ClientEnd),
}

/// Room for one whole outgoing message, reserved in the shared queue and filled in place.
///
/// Nothing reaches the reader until [`commit`](Self::commit); dropping the writer abandons the
/// message. While it lives, other writers of this end wait (it holds the queue's writer lock),
/// so fill it and commit promptly.
#[derive(Debug)]
pub struct MsgWriter<'a> {
    res: Reserved,
    end: EndRef<'a>,
}

impl<'a> MsgWriter<'a> {
    pub(crate) fn new(res: Reserved, end: EndRef<'a>) -> MsgWriter<'a> {
        MsgWriter { res, end }
    }

    /// The message bytes to fill, in order. The second slice is empty unless the reserved space
    /// wraps around the end of the queue.
    pub fn as_mut_slices(&mut self) -> (&mut [u8], &mut [u8]) {
        self.res.slices()
    }

    /// Copies `data`, exactly the reserved length, into the message.
    ///
    /// # Errors
    /// `ERROR_INVALID_PARAMETER` (87) for any other length.
    pub fn fill(&mut self, data: &[u8]) -> io::Result<()> {
        let (a, b) = self.res.slices();
        if a.len() + b.len() != data.len() {
            return Err(crate::Error::io(
                crate::error::code::ERROR_INVALID_PARAMETER,
                format!(
                    "{} bytes given for a {} byte reservation",
                    data.len(),
                    a.len() + b.len()
                ),
            ));
        }
        let (x, y) = data.split_at(a.len());
        a.copy_from_slice(x);
        b.copy_from_slice(y);
        Ok(())
    }

    /// Publishes the message (one store makes it visible, a sleeping reader is woken) and, like
    /// a write, returns once the unread bytes fit the reader's quota.
    ///
    /// # Errors
    /// Those of a write (`send_msg`): `ERROR_NO_DATA` (232) when the peer has closed,
    /// `ERROR_PIPE_NOT_CONNECTED` (233) after a disconnect, `ERROR_BROKEN_PIPE` (109) when the
    /// peer closes while this waits for the quota.
    pub fn commit(self) -> io::Result<usize> {
        match self.end {
            EndRef::Server(s) => s.commit(self.res),
            EndRef::Client(c) => c.commit(self.res),
        }
    }
}

/// One whole incoming message, read in place from the shared queue. Dropping it releases the
/// space (and counts the message as read). While it lives, other readers of this end wait.
#[derive(Debug)]
pub struct MsgRef<'a> {
    msg: InPlace,
    _end: std::marker::PhantomData<&'a ()>,
}

impl MsgRef<'_> {
    pub(crate) fn new(msg: InPlace) -> Self {
        MsgRef {
            msg,
            _end: std::marker::PhantomData,
        }
    }

    /// The message bytes, in order (the second slice is empty unless the message wraps).
    pub fn as_slices(&self) -> (&[u8], &[u8]) {
        self.msg.slices()
    }

    /// The message length.
    pub fn len(&self) -> usize {
        self.msg.len()
    }

    /// Whether this is an empty message.
    pub fn is_empty(&self) -> bool {
        self.msg.len() == 0
    }

    /// Copies the message out.
    pub fn to_vec(&self) -> Vec<u8> {
        let (a, b) = self.msg.slices();
        let mut v = Vec::with_capacity(a.len() + b.len());
        v.extend_from_slice(a);
        v.extend_from_slice(b);
        v
    }
}
