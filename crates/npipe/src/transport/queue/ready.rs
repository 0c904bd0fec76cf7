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
//! - [`Conn::spin_ready`] is the other way round: no arm, a short spin on the same conditions,
//!   for a thread about to sleep until an operation in steps completes, which takes the
//!   completion itself when the peer answers within microseconds.

use std::sync::atomic::Ordering::*;

use super::*;

/// How many spins [`Conn::spin_ready`] makes right after this end woke its peer's event loop.
const WOKE_SPINS: u32 = 5;
/// [`Conn::spin_ready`] asks its caller whether to stop once every this many looks.
const STOP_EVERY: u32 = 16;

impl Conn {
    /// What the reader has consumed of the outbound ring: bytes plus messages, both only
    /// growing, so any consume changes it.
    fn consumed_tx(&self) -> u64 {
        let r = &self.ring(self.side.tx()).r.0;
        // SYNC POINT with the reader's Release publish in `consume` (and, through the SeqCst
        // fence of `arm` before the re-check, with the fence in `notify` or the lock's release
        // in `release_and_notify`): a consume that did not see our arm is seen here.
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

    /// Spins as a blocking wait does before it sleeps ([`Conn::spin_plan`] decides whether,
    /// and [`Conn::spin`] for how long), until data (`data`) or room (otherwise: the reader
    /// consumed something since the call) may be there, or the link is no longer open. Takes
    /// back this end's arm for it first: while a thread spins, the peer publishes (or
    /// consumes) without signalling the readiness descriptor, which would only wake an event
    /// loop for nothing. The caller steps its pending operations afterwards, which arms again
    /// (see the API's `spin_ready`). Never sleeps. False when the spin ran out first or the plan
    /// said to sleep at once; true means a step may get further (a hint: another thread may
    /// take it first). The spin also ends, with false, as soon as `stop` returns true (the
    /// caller's own reason to stop waiting: another object it waits for was set).
    pub(crate) fn spin_ready(&self, data: bool, stop: &mut dyn FnMut() -> bool) -> bool {
        let (dir, which, armed) = if data {
            let dir = self.side.rx();
            (dir, Wake::Data, &self.ring(dir).k.0.poll_armed)
        } else {
            let dir = self.side.tx();
            (dir, Wake::Space, &self.ring(dir).k.0.space_armed)
        };
        // Relaxed: a local scheduling hint (consumed by `spin_plan` below).
        let woke = self.woke_peer.load(Relaxed);
        let Some(yielding) = self.spin_plan(dir, which) else {
            return false;
        };
        // Relaxed: a publish that still saw the arm signals (spuriously, as allowed); one that
        // sees it taken back does not, and this spin sees what it published.
        armed.store(0, Relaxed);
        let mark = self.consumed_tx();
        let moving = self.moving(dir, which);
        let mut stopped = false;
        let mut looks = 0u32;
        let mut ready = |c: &Conn| {
            // `stop` may take a lock: asked every few looks only.
            looks = looks.wrapping_add(1);
            if looks.is_multiple_of(STOP_EVERY) && stop() {
                stopped = true;
                return Ok(true);
            }
            Ok(!matches!(c.peer_open(), Ok(true))
                || if data {
                    c.has_data(dir)?
                } else {
                    c.consumed_tx() != mark
                })
        };
        // A peer just woken through its event loop answers after two wake-ups (its loop's,
        // then the waiting thread's): spin for that long.
        let rounds = if woke { WOKE_SPINS } else { 1 };
        for _ in 0..rounds {
            match self.spin(None, yielding, 1, moving, &mut ready) {
                Ok(false) => continue,
                Ok(true) => return !stopped,
                // A ring that fails a check: a step reports it.
                Err(_) => return true,
            }
        }
        false
    }
}
