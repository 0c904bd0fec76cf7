//! The usual message read and write, each in one pass.
//!
//! A read: both ends open, the reader at a record boundary, and a whole record there that fits
//! the caller's buffer, was published complete (no flag) and is neither the last published
//! record of a write still pending nor named as withdrawn. It is taken with one look at the
//! states, one at the record and one copy and consume, where the general path (`read.rs`) asks
//! each of its questions separately and several of them twice.
//!
//! A write: a blocking write of a record that fits the room and the quota this process already
//! knows of, with the writer lock free. One look at the states under the lock, where the
//! general path (`write.rs`) looks three times (before the lock for the peer's close, and
//! again under it).
//!
//! The steps of overlapped I/O and `npipe::tokio` (`step.rs`) try them first as well: a read
//! step not inside a message, and a write step at its start.
//!
//! Anything else (a closed or disconnected end, a remainder, a flag, a skip marker, a record
//! that does not fit or is not all there, a value that fails a check, a busy lock) makes them
//! return `None`, and the general path then decides, errors included. What they may have done
//! by then is what the general path does on its own way there: process-local caches (the
//! tail, `done_to`, the reader's count, the reader's head), unpublished ring bytes, the
//! caller's buffer (a read that finds its record named as withdrawn after the copy), the room
//! held back after a withdrawal given free again (`free_space`), and the repair of a record
//! left by a writer that died holding the lock (`lock_side`, which a close does too). So this
//! file adds no outcome of its own: every call it completes is one the general path completes
//! the same way, which `quick_tests` checks by running both on the same calls. Touches the
//! side's private words and the shared page under that side's ring lock only, but for the
//! wake-up of a sleeping peer, which comes after the lock's release (`release_and_notify`:
//! the release's locked exchange is the wake-up's fence on x86).

use std::sync::atomic::Ordering::*;

use super::*;

#[cfg(test)]
thread_local! {
    /// Set by `quick_tests` to send this thread's calls the general way.
    pub(super) static GENERAL_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the quick paths (and the read step's unlocked look, `Conn::nothing_in`) are off on
/// this thread (tests only).
#[inline(always)]
pub(super) fn general_only() -> bool {
    #[cfg(test)]
    return GENERAL_ONLY.get();
    #[cfg(not(test))]
    false
}

impl Conn {
    /// Both ends open and this process's handle not closed: all that `link_check`,
    /// `peer_closed` and `peer_gone` ask of the general paths, in one look.
    #[inline(always)]
    fn both_open_here(&self) -> bool {
        let st = &self.hdr().state;
        // Relaxed: see `close_here`. Acquire: SYNC POINT with `set_state`, as in `state_of`.
        !self.closed_here.load(Relaxed)
            && st[0].load(Acquire) == OPEN
            && st[1].load(Acquire) == OPEN
    }

    /// The whole next message of ring `dir` into `buf`, when the usual case above holds.
    /// Needs the reader lock, which the caller releases with `release_and_notify(.., Wake::Space)`
    /// when this returns a message: that wakes a writer waiting for the room it freed.
    #[inline]
    pub(super) fn read_quick(&self, dir: usize, buf: &mut [u8]) -> Option<ReadOut> {
        if general_only() || !self.both_open_here() {
            return None;
        }
        // Relaxed: private words, under the reader lock.
        if self.mine(R_LEFT).load(Relaxed) != AT_HEADER {
            return None;
        }
        let head = self.mine(R_HEAD).load(Relaxed);
        let cap = self.caps[dir];
        // Acquire: pairs with the Release store in `view` (the bytes before it are visible).
        let mut tail = self.tail_seen.load(Acquire);
        if tail < align8(head) + REC_HDR || check_tail(tail, head, cap).is_err() {
            // Nothing known to be there: the writer's published tail, once.
            tail = self.view(dir).ok()?.tail;
        }
        let h = self.hdr_pos(dir, head, tail).ok()?;
        if tail < h + REC_HDR {
            return None;
        }
        // Both lines of a small record at once (see `prefetch_record`).
        self.prefetch_record(dir, h);
        let (len, flags) = self.record_at(dir, h).ok()?;
        let end = record_end(h, len);
        if flags != 0 || len > buf.len() as u64 || end > tail {
            return None;
        }
        // The last published record, which a writer still in its write may have left
        // unfinished (`recheck_pending_last` probes for a dead one): quick only once the
        // writer said its writes up to here completed.
        // Relaxed: a process-local cache, as in `recheck_pending_last`.
        if end == tail && end > self.done_seen.load(Relaxed) {
            // Acquire: pairs with the Release stores in `done_locked`/`done_late`.
            let done = self.ring(dir).w.0.done_to.load(Acquire);
            self.done_seen.store(done, Relaxed);
            if done < end {
                return None;
            }
        }
        // `end <= tail` with a checked tail bounds `len` by the ring.
        self.copy_out(dir, h + REC_HDR, &mut buf[..len as usize])
            .ok()?;
        // Named as withdrawn while we copied (only a peer that breaks the protocol names a
        // record published complete): the general path says what that is.
        // Acquire: pairs with the Release store of `cut_rec` in `mark_cut`.
        if self.ring(dir).c.0.cut_rec.load(Acquire) == h {
            return None;
        }
        self.consume_unnotified(dir, end, AT_HEADER, len, 1, NO_REC);
        Some(ReadOut {
            n: len as usize,
            left: 0,
        })
    }

    /// A blocking write of `data` as one whole record, when the usual case above holds: the
    /// written count, as the general path returns it.
    #[inline(always)]
    pub(super) fn write_quick(&self, data: &[u8], o: WriteOpts) -> Option<usize> {
        let len = data.len() as u64;
        if general_only() || o.nonblocking || len == 0 || len > STREAM_CHUNK {
            return None;
        }
        // Try only: a writer that would wait for the lock is told of a close before it waits
        // (the general path's order).
        let g = self.lock_side(TX_LOCK, None, true).ok()?;
        if !self.both_open_here() {
            return None;
        }
        let dir = self.side.tx();
        // Relaxed: private, written only under the writer lock we hold.
        let tail = self.mine(W_TAIL).load(Relaxed);
        let (h, marker) = self.place(dir, tail, len);
        let need = h - tail + REC_HDR + len;
        let free = self.free_space(dir, tail, need).ok()?;
        // Relaxed: private, under the writer lock.
        let bw = self.mine(W_BYTES).load(Relaxed) + len;
        // The quota as this process last saw the reader's count; a look is the general
        // path's, which also handles a write that has to wait for it.
        if free < need || !self.quota_met(bw, len, o) {
            return None;
        }
        self.put_skip(dir, marker);
        self.copy_in(dir, h + REC_HDR, data).ok()?;
        self.publish_record_inline(dir, h, len, len, false);
        #[cfg(test)]
        close_race_tests::before_close_check();
        self.note_spill(dir, h, len);
        let end = record_end(h, len);
        self.done_locked(dir, end);
        self.release_and_notify(g, dir, Wake::Data);
        if len <= SMALL_RECORD {
            self.prefetch_next(dir, end, free - need);
        }
        Some(len as usize)
    }
}
