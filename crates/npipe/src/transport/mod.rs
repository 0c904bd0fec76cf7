//! L1: the transport. A connection is a SOCK_SEQPACKET control socket (handshake, liveness) plus
//! a shared-memory queue per direction.
//!
//! Contract of [`queue::Conn`], the one transport every pipe end uses:
//! - records keep their boundaries and may be read whole (message mode) or as a byte stream;
//! - a partly read record's remainder stays at the head for every reader of the end;
//! - zero-length records exist and are delivered;
//! - a write's bytes are visible to the reader as soon as they are written, and the writer
//!   can wait until unread bytes through its write fit a quota;
//! - state changes (closed, disconnected) and the peer's death wake every sleeper;
//! - nothing the peer writes into shared memory can cause an out-of-bounds access or a panic.

pub(crate) mod control;
pub(crate) mod npa;
pub(crate) mod queue;
pub(crate) mod watch;
