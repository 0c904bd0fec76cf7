//! What a withdrawn or dead writer left in the inbound ring: skipping records the writer
//! withdrew in the middle (W98, W103), and dropping the pending writes of a writer whose end
//! closed or died, which Windows never delivers (W102, W103). Used by the reads in `read`,
//! always under the reader lock; it moves the reader's cursor only through `consume`.

use std::sync::atomic::Ordering::*;

use super::read::View;
use super::*;

/// See [`Conn::closed_split`].
struct Split {
    /// The end of what the closed writer completed (a record start, or the tail).
    limit: u64,
    /// Payload bytes before `limit`.
    kept: u64,
    /// Declared payload bytes from `limit` to the tail.
    drop_bytes: u64,
    /// Records from `limit` to the tail.
    drop_msgs: u64,
}

impl Conn {
    /// Skips what remains of records the writer withdrew (`FLAG_CUT`): the one being read and
    /// any at the head. Returns the view after that. Needs the reader lock.
    pub(super) fn skip_withdrawn(&self, dir: usize) -> QResult<View> {
        loop {
            let v = self.view(dir)?;
            if v.left == AT_HEADER {
                let h = self.hdr_pos(dir, v.head, v.tail)?;
                if v.tail < h + REC_HDR {
                    return Ok(v);
                }
                let (len, flags) = self.record_at(dir, h)?;
                if flags & FLAG_CUT == 0 {
                    return Ok(v);
                }
                let end = record_end(h, len);
                if end > v.tail {
                    return Err(QErr::Corrupt("withdrawn record beyond the tail"));
                }
                self.consume(dir, end, AT_HEADER, len, 1, NO_REC);
            } else {
                // Relaxed: private, under the reader lock.
                let rec = self.mine(R_REC).load(Relaxed);
                let c = &self.ring(dir).c.0;
                // Acquire: pairs with the Release stores in `withdraw_unfinished` (end first).
                if rec == NO_REC || c.cut_rec.load(Acquire) != rec {
                    return Ok(v);
                }
                let end = c.cut_end.load(Acquire);
                if end < v.head || end > v.tail {
                    return Err(QErr::Corrupt("withdrawn record end out of range"));
                }
                self.consume(dir, end, AT_HEADER, end - v.head, 1, NO_REC);
            }
        }
    }

    /// With the writer's end closed: where what it completed ends and what it never finished
    /// begins (the first record that is incomplete or starts at or after `done_to`: later
    /// writes were pending too, writes completing in order, W93), the payload bytes before
    /// that point, and the bytes and messages the writer declared from there to the tail. The
    /// amounts come from the record headers between the reader's position and the tail (each
    /// step advances by at least a header, so the walk ends), never from the peer's counters.
    fn closed_split(&self, dir: usize, v: View) -> QResult<Split> {
        // Acquire: pairs with the Release stores in `done_locked`/`done_late`. The peer may
        // write any value here; it only decides which of its own data a reader drops.
        let done = self.ring(dir).w.0.done_to.load(Acquire);
        let mut s = Split {
            limit: v.tail,
            kept: 0,
            drop_bytes: 0,
            drop_msgs: 0,
        };
        let mut dropping = false;
        let mut pos = v.head;
        if v.left != AT_HEADER {
            // Relaxed: private, under the reader lock.
            let rec = self.mine(R_REC).load(Relaxed);
            let complete = v.tail - v.head >= v.left;
            if complete && rec < done {
                s.kept += v.left;
            } else {
                dropping = true;
                s.limit = v.head;
                s.drop_bytes += v.left;
                s.drop_msgs += 1;
                if !complete {
                    return Ok(s);
                }
            }
            pos = v.head + v.left;
        }
        loop {
            let h = self.hdr_pos(dir, pos, v.tail)?;
            if v.tail < h + REC_HDR {
                return Ok(s);
            }
            let (len, _) = self.record_at(dir, h)?;
            let end = record_end(h, len);
            if !dropping && (h >= done || end > v.tail) {
                dropping = true;
                s.limit = h;
            }
            if dropping {
                s.drop_bytes += len;
                s.drop_msgs += 1;
            } else {
                s.kept += len;
            }
            if end > v.tail {
                return Ok(s);
            }
            pos = end;
        }
    }

    /// Drops what the writer's closed end never finished, once the reader has reached it (see
    /// [`Conn::closed_split`]): on Windows the pending writes of a process that dies or exits
    /// leave the pipe (W102, W103) while completed writes stay readable, and a reader never
    /// gets a torn message. The counters advance by what the writer declared. Needs the reader
    /// lock; call it only with the peer closed. Returns whether it dropped anything.
    pub(super) fn drop_dead_record(&self, dir: usize) -> QResult<bool> {
        let v = self.view(dir)?;
        let s = self.closed_split(dir, v)?;
        let at = if v.left == AT_HEADER {
            self.hdr_pos(dir, v.head, v.tail)?
        } else {
            v.head
        };
        if s.drop_msgs == 0 || s.limit > at {
            return Ok(false);
        }
        self.consume(dir, v.tail, AT_HEADER, s.drop_bytes, s.drop_msgs, NO_REC);
        Ok(true)
    }

    /// What a byte read or a peek may see while the writer's end is closed: the view cut at
    /// the end of its completed writes, and at most the bytes before that. `gone` is the
    /// writer's state ([`Conn::peer_gone`]) loaded before `v` was taken: a close is believed
    /// only with a view taken after it, which shows everything the writer published and
    /// completed before closing. With the state loaded after the view, a writer that
    /// published the rest of a write, completed it and closed in between had that write cut
    /// off as unfinished at the view's stale tail (a byte read of zero bytes, a peek of none).
    pub(super) fn readable_after_close(
        &self,
        dir: usize,
        v: View,
        avail: u64,
        gone: bool,
    ) -> QResult<(View, u64)> {
        if !gone {
            return Ok((v, avail));
        }
        let s = self.closed_split(dir, v)?;
        Ok((
            View {
                tail: s.limit.max(v.head),
                ..v
            },
            avail.min(s.kept),
        ))
    }

    /// Before a read delivers data of a write that is still pending (it starts at or after
    /// `done_to`): whether the writer's end hung up (its process died or exited) before the
    /// hang-up watcher said so (it does within about a millisecond), so that the data is
    /// dropped rather than delivered (W102, W103) also to a reader that learnt of the death
    /// another way (waiting for the process). One poll(2), only then. A message read looks at
    /// the record it would take, and only when it is the last one in the ring (a record with
    /// others after it costs nothing); a byte read or a peek, which gather across records,
    /// look at whether anything published is pending at all. Needs the reader lock.
    pub(super) fn recheck_pending_last(&self, dir: usize, gathering: bool) -> QResult<()> {
        if self.peer_gone()? {
            return Ok(());
        }
        if !gathering && self.taken_record_known_done(dir)? {
            return Ok(());
        }
        let v = self.view(dir)?;
        // Acquire: pairs with the Release stores in `done_locked`/`done_late`.
        let done = self.ring(dir).w.0.done_to.load(Acquire);
        // Relaxed: a process-local cache.
        self.done_seen.store(done, Relaxed);
        if done >= v.tail {
            // Every published write has completed (the usual case): nothing to look at.
            return Ok(());
        }
        if gathering {
            self.probe_hup();
            return Ok(());
        }
        let (start, end) = if v.left == AT_HEADER {
            let h = self.hdr_pos(dir, v.head, v.tail)?;
            if v.tail < h + REC_HDR {
                return Ok(());
            }
            (h, record_end(h, self.record_at(dir, h)?.0))
        } else {
            // Relaxed: private, under the reader lock.
            (
                self.mine(R_REC).load(Relaxed),
                v.head.saturating_add(v.left),
            )
        };
        if end < v.tail || start < done {
            return Ok(());
        }
        self.probe_hup();
        Ok(())
    }

    /// Whether a message read would take a whole record that this process already knows to be
    /// complete or followed by others, from its cached views of `tail` and `done_to` alone:
    /// while the writer is ahead, a reader then never reads the writer's cursor line (which
    /// the writer dirties on every message). `false` means "look at the shared values".
    /// Needs the reader lock.
    fn taken_record_known_done(&self, dir: usize) -> QResult<bool> {
        // Relaxed: private words under the reader lock, and `done_seen`, a process-local cache
        // that only decides whether to probe.
        if self.mine(R_LEFT).load(Relaxed) != AT_HEADER {
            return Ok(false);
        }
        let head = self.mine(R_HEAD).load(Relaxed);
        // Acquire: pairs with the Release store in `view` (the header before it is visible).
        let seen = self.tail_seen.load(Acquire);
        if seen <= head || check_tail(seen, head, self.caps[dir]).is_err() {
            return Ok(false);
        }
        let h = self.hdr_pos(dir, head, seen)?;
        if seen < h + REC_HDR {
            return Ok(false);
        }
        let end = record_end(h, self.record_at(dir, h)?.0);
        Ok(end <= seen && (end < seen || end <= self.done_seen.load(Relaxed)))
    }

    /// [`Conn::drop_dead_record`] when the peer's end is gone. Needs the reader lock.
    pub(super) fn drop_if_peer_gone(&self, dir: usize) -> QResult<()> {
        if self.peer_gone()? {
            self.drop_dead_record(dir)?;
        }
        Ok(())
    }

    /// Whether the peer's end is closed or disconnected (one load, for the readers' checks).
    pub(super) fn peer_gone(&self) -> QResult<bool> {
        Ok(self.state_of(self.side.peer())? != OPEN)
    }

    /// Before the consume that delivers the last bytes of the record at `h`: whether the
    /// record is still this reader's to deliver, or was withdrawn meanwhile. A record published
    /// with [`FLAG_PENDING`] (`pending`) belongs to a write that may still be pending, and a
    /// cancel withdraws it (W98) while this read copies it: a look at the writer's mark before
    /// the consume leaves a window in which the cancel reports the write aborted and the
    /// reader delivers the message anyway. The claim closes it ([`claim_for_reader`] against
    /// the writer's [`claim_for_writer`]). `at_header`: the record's header is still
    /// unconsumed (it may carry the mark); `earlier` counts the records this read completed
    /// before it and has not consumed yet. A record without the flag costs nothing (its write
    /// completed when it was published, and nothing withdraws it); a pending one a
    /// compare-exchange on the withdrawal line, which the writer writes only when it
    /// withdraws. `false`: skip it ([`Conn::skip_lost`]). Needs the reader lock.
    #[inline]
    pub(super) fn claim_delivery(
        &self,
        dir: usize,
        h: u64,
        pending: bool,
        at_header: bool,
        earlier: u64,
    ) -> bool {
        !pending || self.claim_pending(dir, h, at_header, earlier)
    }

    /// Whether the record being read (the reader is inside it) was published pending.
    pub(super) fn reading_pending(&self) -> bool {
        // Relaxed: private, under the reader lock.
        self.mine(R_PEND).load(Relaxed) != 0
    }

    /// Notes whether the record the reader now stands inside was published pending.
    pub(super) fn set_reading_pending(&self, pending: bool) {
        // Relaxed: private, under the reader lock.
        self.mine(R_PEND).store(pending as u64, Relaxed);
    }

    /// The claim of [`Conn::claim_delivery`] for a record whose write may be pending.
    #[cold]
    fn claim_pending(&self, dir: usize, h: u64, at_header: bool, earlier: u64) -> bool {
        #[cfg(test)]
        withdraw_race_tests::at_claim(false);
        // Relaxed: private, under the reader lock.
        let seq = self.mine(R_MSGS).load(Relaxed) + earlier + 1;
        let c = &self.ring(dir).c.0;
        // The writer withdraws a record before us only after it claimed it; one it withdrew
        // before its last claim of another is marked (its header while we have not consumed
        // it, `cut_rec` once we are inside: the slot was free then, see `mark_cut`).
        let marked = || {
            // Acquire: pairs with the Release store in `mark_cut`.
            c.cut_rec.load(Acquire) == h
                || (at_header && self.record_at(dir, h).is_ok_and(|(_, f)| f & FLAG_CUT != 0))
        };
        if !claim_for_reader(&c.claim, seq, marked) {
            return false;
        }
        #[cfg(test)]
        withdraw_race_tests::at_claim(true);
        true
    }

    /// Skips the record being read, ending at `end`, that [`Conn::claim_delivery`] found
    /// withdrawn: `bytes` of its payload were not consumed yet. The writer marks it only after
    /// its claim, so the mark may not be there yet; the reader skips it by itself. Needs the
    /// reader lock.
    pub(super) fn skip_lost(&self, dir: usize, end: u64, bytes: u64) -> QResult<()> {
        let v = self.view(dir)?;
        if end < v.head || end > v.tail {
            return Err(QErr::Corrupt("withdrawn record end out of range"));
        }
        self.consume(dir, end, AT_HEADER, bytes, 1, NO_REC);
        Ok(())
    }

    /// Whether the record being read was withdrawn (a hint for waits, no lock needed).
    pub(super) fn current_withdrawn(&self, dir: usize) -> bool {
        // Relaxed: a hint; the reader lock holder re-checks in `skip_withdrawn`.
        let rec = self.mine(R_REC).load(Relaxed);
        rec != NO_REC && self.ring(dir).c.0.cut_rec.load(Acquire) == rec
    }
}
