//! Readiness asked for by an outside event loop (the C ABI's `npipe_arm`): arming an end's
//! readiness signal for several conditions at once, each re-checked after the arm, and the
//! mark that makes "room for the write that did not fit" checkable without knowing the write.
//!
//! - Data and hang-up arm `poll_armed` of the inbound ring (the peer's publish and the peer's
//!   state change swap it); room arms `space_armed` of the outbound ring (the peer's consume
//!   swaps it). Both are one-shot, as for the steps (see `Conn::arm`).
//! - After arming, each condition is looked at once more (the Dekker pairing of `arm` and
//!   `notify`): data (a record or a byte unread), a link that is no longer open (the peer
//!   closed, a disconnect, this end closed), and room: the reader consumed something since the
//!   last PIPE_NOWAIT write that found no room ([`Conn::note_full`]). "Room" cannot be re-checked
//!   as a level, because whether a write fits depends on its size; the mark is exact instead: a
//!   consume after that write either moved the mark before the re-check or signals after the arm.

use std::sync::atomic::Ordering::*;

use super::*;

impl Conn {
    /// What the reader has consumed of the outbound ring: bytes plus messages, both only
    /// growing, so any consume changes it.
    fn consumed_tx(&self) -> u64 {
        let r = &self.ring(self.side.tx()).r.0;
        // SYNC POINT with the reader's Release publish in `consume` (and, through the SeqCst
        // fence of `arm` before the re-check, with the fence in `notify`): a consume that did
        // not see our arm is seen here.
        r.bytes_read
            .load(Acquire)
            .wrapping_add(r.msgs_read.load(Acquire))
    }

    /// The mark to take before a PIPE_NOWAIT write decides whether it fits (see
    /// [`Conn::note_full`]).
    pub(super) fn full_mark_now(&self) -> u64 {
        self.consumed_tx()
    }

    /// Records that a PIPE_NOWAIT write that took `mark` before deciding found no room: an
    /// arm for room signals once the reader consumes anything after that.
    pub(super) fn note_full(&self, mark: u64) {
        // Relaxed: read by this process's `arm_ready`, which re-loads the shared counters with
        // Acquire itself; a stale mark only makes a spurious signal or waits for the next
        // consume, which signals.
        self.full_mark.store(mark, Relaxed);
    }

    /// Arms this end's readiness signal for data (`data`), room (`space`) and a change of the
    /// link (`hangup`), then re-checks: true when one of them, or a link that is no longer
    /// open, holds already (the caller signals the descriptor itself then).
    pub(crate) fn arm_ready(&self, data: bool, space: bool, hangup: bool) -> bool {
        if data || hangup {
            self.arm(Wake::Data);
        }
        if space {
            self.arm(Wake::Space);
        }
        if !matches!(self.peer_open(), Ok(true)) {
            return true;
        }
        if data && self.has_data(self.side.rx()).unwrap_or(true) {
            return true;
        }
        // Relaxed: see `note_full`.
        let mark = self.full_mark.load(Relaxed);
        space && (mark == u64::MAX || mark != self.consumed_tx())
    }
}
