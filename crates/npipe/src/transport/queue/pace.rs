//! The reader's pace: how often a blocking reader that has caught up with its writer looks at
//! the writer's cursor line again (`Conn::pace`), and the writer's count of its waits for the
//! reader that the pace reads (`Conn::note_writer_wait`).
//!
//! Touches only process-local caches of the connection and the reader's private message count,
//! but for the writer's count (`WriterLine::waits`), a hint the writer bumps with a plain store
//! and the reader only compares for change: whatever a peer writes there changes only how long
//! this process's reads wait before a look, within [`PACE_MIN_NS`]..[`PACE_MAX_NS`].

use std::sync::atomic::Ordering::*;

use super::*;

/// The shortest wait between two paced looks at the writer's `tail` (see [`Conn::pace`]),
/// and where the pace starts and goes back to whenever batching does not pay.
pub(super) const PACE_MIN_NS: u64 = 300;
/// The longest: what a message of a writer that streams ahead of its reader may wait at most
/// for the reader's next look. In interleaved rounds on the benchmark VM, 1.2 us against 2.4
/// took 64 B messages at a 4 KiB quota from 18.7-19.2 to 21.0-21.1 M msg/s, and 4 KiB messages
/// at a 64 KiB quota from 19.9-20.0 to 24.9-25.4 GB/s (a writer that fills its quota within
/// one long pace waits at each look), with the 64 and 256 KiB rates within 4%; 4.8 us lost over
/// a quarter at the 4 KiB quota (docs/PERFORMANCE.md, the twenty-fifth part).
pub(super) const PACE_MAX_NS: u64 = 1_200;
/// A look that found at least this many bytes, or at least two messages, found a writer
/// streaming ahead of its reader: the pace may grow (see [`next_pace`]).
pub(super) const PACE_GROW_BYTES: u64 = 2_048;

/// The next pace (see [`Conn::pace`]) after one of `pace` ns, when this process's reads took
/// `msgs` messages of `bytes` ring bytes in all (record headers included) since the last
/// decision. `waited`: a read since found nothing (a blocking one then waited for its data; the
/// writer is not ahead: looking later would only delay its messages). `writer_waited`: the
/// writer waited for this reader since the last decision (for room, or for its quota: looking
/// later would only keep it waiting).
pub(super) fn next_pace(
    pace: u64,
    msgs: u64,
    bytes: u64,
    waited: bool,
    writer_waited: bool,
) -> u64 {
    if waited || msgs == 0 {
        PACE_MIN_NS
    } else if writer_waited || (msgs < 2 && bytes < PACE_GROW_BYTES) {
        (pace / 2).max(PACE_MIN_NS)
    } else {
        (pace * 2).min(PACE_MAX_NS)
    }
}

impl Conn {
    /// A blocking read by a pure consumer (a thread that has not written since it last took
    /// data) that has taken every message it knew of reads the writer's `tail` at most once
    /// per pace: reading it takes the writer's cursor line, and the writer's next locked
    /// instruction then waits for the line to come back, so a reader that looks after every
    /// message makes a fast writer pay a cache-line transfer per message. Paced, the writer
    /// publishes several messages per transfer and the reader takes them as a batch.
    ///
    /// The pace adapts ([`next_pace`]) between [`PACE_MIN_NS`] and [`PACE_MAX_NS`], decided at
    /// each paced read from what this process's reads took since the last decision. It
    /// doubles when they took two messages or more, or [`PACE_GROW_BYTES`] (a writer streaming
    /// ahead: a fixed 3 us pace took the 64 B rate from 0.18-0.21x to 0.27x the bare ring in a
    /// slow regime of the benchmark VM). It halves when they took one small message, or when
    /// the writer waited for this reader meanwhile (`WriterLine::waits`: a writer held to its
    /// quota would wait a whole pace for each look; 4 KiB messages at a 4 KiB quota went 30%
    /// slower at a fixed 2 us pace). It drops back to the minimum when they took nothing or a
    /// read since found nothing, blocking or not (a writer slower than its reader, whose
    /// messages a longer pace would only delay); these two rules come first, then halving.
    /// Called before the reader lock, from blocking reads only (never from nonblocking reads,
    /// steps, peeks or readiness checks), at a record boundary; a thread that wrote is waiting
    /// for an answer, or relays, and is never paced: `wrote` is what [`WROTE`] said when the
    /// read began.
    pub(super) fn pace(&self, wrote: bool) {
        // Relaxed: private words read without the lock, and process-local caches: a stale
        // value only makes this wait or not wait, never changes what the read returns.
        if wrote || self.mine(R_LEFT).load(Relaxed) != AT_HEADER {
            return;
        }
        let seen = self.tail_seen.load(Relaxed);
        if seen > self.mine(R_HEAD).load(Relaxed) {
            return;
        }
        // What this process's reads took since the last decision (the reader has taken every
        // message it knew of), and whether the writer waited for it meanwhile.
        let bytes = seen.saturating_sub(self.paced_tail.load(Relaxed));
        self.paced_tail.store(seen, Relaxed);
        let read = self.mine(R_MSGS).load(Relaxed);
        let msgs = read.saturating_sub(self.paced_msgs.load(Relaxed));
        self.paced_msgs.store(read, Relaxed);
        let waits = self.writer_waits_seen.load(Relaxed);
        let writer_waited = waits != self.paced_waits.load(Relaxed);
        self.paced_waits.store(waits, Relaxed);
        let waited = self.read_waited.load(Relaxed);
        if waited {
            self.read_waited.store(false, Relaxed);
        }
        let pace = next_pace(
            self.pace_ns.load(Relaxed),
            msgs,
            bytes,
            waited,
            writer_waited,
        );
        self.pace_ns.store(pace, Relaxed);
        let last = self.tail_read_at.load(Relaxed);
        let mut now = sys::monotonic_ns();
        while now.wrapping_sub(last) < pace {
            std::hint::spin_loop();
            now = sys::monotonic_ns();
        }
        self.tail_read_at.store(now, Relaxed);
    }

    /// Counts a wait of this end's writer for its reader (for room, or for its quota) in ring
    /// `dir`'s `WriterLine::waits`, on the writer's cursor line, which the reader reads at every
    /// look: a reader that paces its looks (`Conn::pace`) then knows that a longer pace would
    /// keep this writer waiting.
    pub(super) fn note_writer_wait(&self, dir: usize) {
        let w = &self.ring(dir).w.0.waits;
        // Relaxed, and no read-modify-write: a hint that is only compared for change; two
        // writers' counts that land as one still change it.
        w.store(w.load(Relaxed).wrapping_add(1), Relaxed);
    }
}
