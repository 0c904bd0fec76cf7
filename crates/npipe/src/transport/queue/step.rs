//! Operations that never sleep, taken in steps: the reads, writes and transactions of event
//! loops (the C ABI's overlapped I/O, async runtimes). A step either finishes the operation or
//! returns `Pending` with this end's readiness signal armed, so the peer signals it when a
//! next step may get further (see `Conn::arm`); the driver clears the signal before it steps
//! again.
//!
//! A step that must stop in the middle of a message larger than the free ring space keeps the
//! ring lock (the reader's, so nobody else takes the rest of a message being delivered; the
//! writer's, so nobody writes into the middle of a record being streamed) only when the caller
//! allows it with `hold`: the lock then belongs to the calling thread, which must make every
//! later step, and the abort, of that operation. Without `hold` such an operation makes no
//! progress at all and stays `Pending` until the space or the data is there at once.

use std::sync::atomic::Ordering::*;
use std::task::Poll;

use super::read::Nothing;
use super::*;

/// What a ring holds whole less its capacity ([`Conn::unpinned_limits`]): a record's header
/// and its alignment.
const UNPINNED_SLACK: u64 = REC_HDR + 8;

/// The largest read and the largest message an unpinned step completes on every connection:
/// what the smallest ring a connection may have ([`MIN_RING`], checked on every attach) holds
/// whole. An operation within it never needs [`Conn::unpinned_limits`].
pub(crate) const UNPINNED_EVERYWHERE: u64 = MIN_RING - UNPINNED_SLACK;

/// The progress of a read taken in steps ([`Conn::read_step`]).
#[derive(Debug, Default)]
pub(crate) struct ReadState {
    /// Bytes already copied into the caller's buffer (a message streaming in).
    got: usize,
    /// This thread holds the reader lock between steps.
    holding: bool,
    /// The last step found the lock held by another thread of this end: no signal comes when
    /// it is released, so the driver retries after a short pause.
    pub(crate) contended: bool,
    /// The next step, if it finds nothing, arms the end lazily (`Conn::arm_as`): its thread is
    /// about to spin for the data. Taken by that step, whatever it finds.
    pub(crate) lazy_arm: bool,
}

impl ReadState {
    /// Whether the read has taken part of a message that is still streaming in (it keeps the
    /// reader lock until the rest comes).
    pub(crate) fn in_message(&self) -> bool {
        self.holding
    }
}

/// Where a write taken in steps is.
#[derive(Debug, Default)]
enum WritePhase {
    /// Nothing written yet.
    #[default]
    Start,
    /// Its record is published and the payload streams in; this thread holds the writer lock.
    Streaming {
        /// Where its record starts.
        rec: u64,
        /// Next ring position to fill.
        tail: u64,
        /// Payload bytes already in the ring.
        off: usize,
        /// `bytes_written` through this record.
        end: u64,
        /// `msgs_written` through this record.
        msgs: u64,
    },
    /// Everything is in the ring; waiting until the unread bytes through it fit the quota.
    Quota {
        end: u64,
        /// Where its record starts in the ring (its header) and ends.
        rec: u64,
        rec_end: u64,
        /// `msgs_written` through this record.
        msgs: u64,
        /// Whether its record was published with [`FLAG_PENDING`]. Without it, the write met
        /// its quota when it was published: it completed then, and nothing withdraws it (its
        /// reader does not claim it).
        flagged: bool,
    },
    /// Completed (an abort then leaves its message alone).
    Done,
}

/// The progress of a write taken in steps ([`Conn::write_step`]).
#[derive(Debug, Default)]
pub(crate) struct WriteState {
    phase: WritePhase,
    /// Bytes the write reports (less than asked only for PIPE_NOWAIT).
    take: usize,
    /// The quota its completion waits for ([`WriteOpts::quota`]), `u64::MAX` for a write that
    /// completes as soon as it is in the ring: an abort in its quota wait looks at it.
    quota: u64,
    /// See [`ReadState::contended`].
    pub(crate) contended: bool,
}

impl WriteState {
    /// Whether the operation holds the writer lock (its steps and abort stay on this thread).
    pub(crate) fn holding(&self) -> bool {
        matches!(self.phase, WritePhase::Streaming { .. })
    }

    /// Whether all of the write's bytes are in the ring (it only waits for its quota now, so
    /// a later write can go in behind it without overtaking it).
    pub(crate) fn written(&self) -> bool {
        matches!(self.phase, WritePhase::Quota { .. } | WritePhase::Done)
    }

    /// Whether the write completed (all its bytes are in the pipe and its quota was met).
    pub(crate) fn done(&self) -> bool {
        matches!(self.phase, WritePhase::Done)
    }

    /// [`Conn::write_abort`] of a write that never got a connection of its own: one that
    /// completed in its first step (its data stays delivered: false) or never started (true).
    pub(crate) fn abort_unbound(&mut self) -> bool {
        let done = self.done();
        self.phase = WritePhase::Start;
        !done
    }
}

/// The progress of a transaction (a message written, then one read) taken in steps.
#[derive(Debug, Default)]
pub(crate) struct TransactState {
    pub(crate) write: WriteState,
    wrote: bool,
    pub(crate) read: ReadState,
}

impl TransactState {
    /// Whether the request has been written whole (cancelling then keeps it, W99).
    pub(crate) fn wrote(&self) -> bool {
        self.wrote
    }
}

impl Conn {
    /// One step of a read (message mode: at most the rest of one message, `left` > 0 meaning
    /// ERROR_MORE_DATA; byte mode: what is there, across records). Completes as soon as
    /// anything can be returned (W65); a zero-byte read completes when data arrives, leaving it
    /// (W78, W79).
    pub(crate) fn read_step(
        &self,
        st: &mut ReadState,
        buf: &mut [u8],
        message_mode: bool,
        hold: bool,
    ) -> Poll<QResult<ReadOut>> {
        st.contended = false;
        // For this step's arm only (see `ReadState::lazy_arm`).
        let lazy = std::mem::take(&mut st.lazy_arm);
        let mut armed = false;
        // Nothing in the ring (a read issued before its answer, the usual pending read): arm
        // and look once more, without the reader lock. The look after the arm pairs with the
        // writer's publish and its look at the arm (Dekker, see `arm`): either it sees the
        // arm and signals, or this look sees what it published. Whatever either look finds
        // goes the general way below (armed already when the second look found it).
        if !st.holding && st.got == 0 && self.nothing_in(self.side.rx()) {
            self.arm_as(Wake::Data, lazy);
            if self.nothing_in(self.side.rx()) {
                return Poll::Pending;
            }
            armed = true;
        }
        loop {
            if !st.holding {
                match self.lock_side(RX_LOCK, None, true) {
                    Err(QErr::WouldBlock) => {
                        st.contended = true;
                        return Poll::Pending;
                    }
                    Err(e) => return Poll::Ready(Err(e)),
                    Ok(g) => {
                        // The usual message, whole and at once: the blocking read's quick path
                        // (`quick.rs`), which completes only what the general path below would
                        // complete the same way, and is released as the blocking read releases
                        // it (the writer told of the room). Not inside a message this read
                        // already took part of.
                        if message_mode && st.got == 0 {
                            let dir = self.side.rx();
                            if let Some(r) = self.read_quick(dir, buf) {
                                self.release_and_notify(g, dir, Wake::Space);
                                return Poll::Ready(Ok(r));
                            }
                        }
                        // The step unlocks by hand: the lock may outlive this call.
                        std::mem::forget(g);
                    }
                }
                st.holding = true;
            }
            let r = self.read_step_locked(st, buf, message_mode, hold);
            if r.is_pending() && st.got > 0 {
                // In the middle of a message that streams in (`hold`): keep the lock.
                if !armed {
                    self.arm(Wake::Data);
                    armed = true;
                    continue;
                }
                return Poll::Pending;
            }
            self.page.unlock(RX_LOCK);
            st.holding = false;
            if r.is_ready() || armed {
                return r;
            }
            self.arm_as(Wake::Data, lazy);
            armed = true;
        }
    }

    fn read_step_locked(
        &self,
        st: &mut ReadState,
        buf: &mut [u8],
        message_mode: bool,
        hold: bool,
    ) -> Poll<QResult<ReadOut>> {
        let dir = self.side.rx();
        macro_rules! tri {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(e) => return Poll::Ready(Err(e)),
                }
            };
        }
        loop {
            tri!(self.link_check());
            if st.got == 0 {
                tri!(self.recheck_pending_last(dir, !message_mode));
            }
            if st.got == 0 && tri!(self.peer_gone()) {
                // A record the dead or closed writer left unfinished is not data.
                tri!(self.drop_dead_record(dir));
            }
            // Relaxed: private, under the reader lock.
            if self.mine(R_LEFT).load(Relaxed) != AT_HEADER {
                if self.current_withdrawn(dir) && st.got > 0 {
                    // The writer of the message being delivered died or gave up: its unread
                    // rest is withdrawn, and so is what this read copied of it (the caller never
                    // saw it), as a blocking read does.
                    st.got = 0;
                }
                tri!(self.skip_withdrawn(dir));
            }
            if st.got > 0 {
                match self.read_more(st, buf) {
                    Some(r) => return r,
                    None => continue,
                }
            }
            if !tri!(self.has_data(dir)) {
                match tri!(self.found_nothing(dir)) {
                    Nothing::Wait => return Poll::Pending,
                    // Published just before the close: look again from the top.
                    Nothing::Again => continue,
                    Nothing::End => return Poll::Ready(Err(QErr::PeerClosed)),
                }
            }
            if !message_mode {
                match tri!(self.read_bytes(dir, buf)) {
                    Some(r) => return Poll::Ready(Ok(r)),
                    None => continue,
                }
            }
            let v = tri!(self.view(dir));
            // The rest of the current message: where its payload continues and how much of it
            // there is.
            let (start, len, pending) = if v.left == AT_HEADER {
                let h = tri!(self.hdr_pos(dir, v.head, v.tail));
                let (len, flags) = tri!(self.record_at(dir, h));
                if flags & FLAG_CUT != 0 {
                    tri!(self.skip_withdrawn(dir));
                    continue;
                }
                (h + REC_HDR, len, flags & FLAG_PENDING != 0)
            } else {
                (v.head, v.left, self.reading_pending())
            };
            let want = (buf.len() as u64).min(len);
            let there = v.tail.saturating_sub(start).min(len);
            if there >= want {
                // Everything this read returns is in the ring: the blocking read's path, which
                // then never waits.
                match tri!(self.read_message(dir, buf, None)) {
                    Some(r) => return Poll::Ready(Ok(r)),
                    None => continue,
                }
            }
            // Wait until the message (or a buffer's worth) is there whole, as long as the ring
            // can hold that much: consuming it in pieces would tie the lock to this thread and
            // leave a cancelled read with part of a message. Only more than the ring streams
            // through a pinned read.
            let ring_holds = self.caps[dir] - REC_HDR - 8;
            if !hold || want <= ring_holds {
                return Poll::Pending;
            }
            // A message larger than the free space streams in: take what is there and keep
            // the lock until the rest comes (or the buffer is full).
            if v.left == AT_HEADER {
                self.set_reading_pending(pending);
                self.consume(dir, start, len, 0, 0, start - REC_HDR);
            }
            match self.read_more(st, buf) {
                Some(r) => return r,
                None => continue,
            }
        }
    }

    /// Copies what has arrived of the message being delivered (reader lock held, cursor inside
    /// the record). `None` when the message turned out to be withdrawn: look again.
    fn read_more(&self, st: &mut ReadState, buf: &mut [u8]) -> Option<Poll<QResult<ReadOut>>> {
        let dir = self.side.rx();
        // The writer's state before the view: a close seen here came after all it published,
        // which the view then shows; a close after it signals the end again (see `read_step`).
        let gone = match self.peer_gone() {
            Ok(g) => g,
            Err(e) => return Some(Poll::Ready(Err(e))),
        };
        let v = match self.view(dir) {
            Ok(v) => v,
            Err(e) => return Some(Poll::Ready(Err(e))),
        };
        let left = v.left;
        let want = ((buf.len() - st.got) as u64).min(left) as usize;
        let avail = match check_tail(v.tail, v.head, self.caps[dir]) {
            Ok(a) => a.min(want as u64) as usize,
            Err(e) => return Some(Poll::Ready(Err(e))),
        };
        if avail > 0 {
            if let Err(e) = self.copy_out(dir, v.head, &mut buf[st.got..st.got + avail]) {
                return Some(Poll::Ready(Err(e)));
            }
            let rest = left - avail as u64;
            // Relaxed: private, under the reader lock.
            let rec = self.mine(R_REC).load(Relaxed);
            let end = v.head + avail as u64;
            if rest == 0 && !self.claim_delivery(dir, rec, self.reading_pending(), false, 0) {
                // Withdrawn after the last look (W98): nothing of it is delivered.
                st.got = 0;
                return match self.skip_lost(dir, end, avail as u64) {
                    Ok(()) => None,
                    Err(e) => Some(Poll::Ready(Err(e))),
                };
            }
            let rec = if rest == 0 { NO_REC } else { rec };
            let next = if rest == 0 { AT_HEADER } else { rest };
            self.consume(
                dir,
                v.head + avail as u64,
                next,
                avail as u64,
                (rest == 0) as u64,
                rec,
            );
            st.got += avail;
            if rest == 0 || st.got == buf.len() {
                let n = std::mem::take(&mut st.got);
                return Some(Poll::Ready(Ok(ReadOut { n, left: rest })));
            }
        }
        #[cfg(test)]
        close_race_tests::before_close_check();
        match self.link_check().map(|()| gone) {
            // The rest never comes: the writer's end is gone in the middle of the message, so
            // its unread part is gone (W102, W103) and what this read copied of it too, as a
            // blocking read does.
            Ok(true) => {
                st.got = 0;
                if let Err(e) = self.drop_dead_record(dir) {
                    return Some(Poll::Ready(Err(e)));
                }
                Some(Poll::Ready(Err(QErr::PeerClosed)))
            }
            Ok(false) => Some(Poll::Pending),
            Err(e) => Some(Poll::Ready(Err(e))),
        }
    }

    /// Ends a read taken in steps before it completed (cancelled, or its handle closed): the
    /// lock is released. Returns what it had already copied of a streaming message (which
    /// stays consumed: the caller reports it as a partial read).
    pub(crate) fn read_abort(&self, st: &mut ReadState) -> Option<ReadOut> {
        if !st.holding {
            return None;
        }
        st.holding = false;
        self.page.unlock(RX_LOCK);
        let n = std::mem::take(&mut st.got);
        // Relaxed: private; the lock was ours until just now and only this thread reads it.
        let left = self.mine(R_LEFT).load(Relaxed);
        (n > 0).then_some(ReadOut {
            n,
            left: if left == AT_HEADER { 0 } else { left },
        })
    }

    /// One step of a write: the bytes go into the ring (streaming through it, holding the
    /// writer lock, when the message is larger than the free space and `hold`), then the write
    /// completes once the unread bytes through it fit the quota (W91-W93).
    pub(crate) fn write_step(
        &self,
        st: &mut WriteState,
        data: &[u8],
        o: WriteOpts,
        hold: bool,
    ) -> Poll<QResult<usize>> {
        st.contended = false;
        let dir = self.side.tx();
        let mut armed = false;
        loop {
            let r = match st.phase {
                // The usual message, whole and at once: the blocking write's quick path
                // (`quick.rs`), which completes only what the general path would complete the
                // same way, quota included.
                WritePhase::Start => match self.write_quick(data, o) {
                    Some(n) => {
                        st.take = n;
                        Poll::Ready(Ok(None))
                    }
                    None => self.write_start(st, data, o, hold),
                },
                WritePhase::Streaming { .. } => self.write_stream(st, data),
                WritePhase::Quota { end, rec_end, .. } => {
                    self.write_quota(dir, end, rec_end, st.take, o)
                }
                WritePhase::Done => Poll::Ready(Ok(None)),
            };
            match r {
                Poll::Ready(Err(e)) => {
                    if st.holding() {
                        // Gave up in the middle: the next write starts at a record boundary.
                        self.withdraw_unfinished();
                        self.release_kept_tx();
                        st.phase = WritePhase::Start;
                    }
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(Some(()))) => continue,
                Poll::Ready(Ok(None)) => {
                    st.phase = WritePhase::Done;
                    return Poll::Ready(Ok(st.take));
                }
                Poll::Pending if st.contended || armed => return Poll::Pending,
                Poll::Pending => {
                    self.arm(Wake::Space);
                    armed = true;
                }
            }
        }
    }

    /// `Ready(Ok(Some(())))`: moved to another phase; `Ready(Ok(None))`: done.
    fn write_start(
        &self,
        st: &mut WriteState,
        data: &[u8],
        o: WriteOpts,
        hold: bool,
    ) -> Poll<QResult<Option<()>>> {
        let dir = self.side.tx();
        let r = (|| -> QResult<Option<u64>> {
            self.link_check()?;
            if self.peer_closed()? {
                return Err(QErr::PeerClosed);
            }
            if data.len() as u64 > u32::MAX as u64 {
                return Err(QErr::TooSmall(data.len() as u64));
            }
            Ok(None)
        })();
        if let Err(e) = r {
            return Poll::Ready(Err(e));
        }
        st.take = data.len();
        st.quota = if o.wait_quota && !o.nonblocking && !data.is_empty() {
            o.quota
        } else {
            u64::MAX
        };
        if data.is_empty() && !o.message {
            return Poll::Ready(Ok(None));
        }
        match self.lock_side(TX_LOCK, None, true) {
            Err(QErr::WouldBlock) => {
                st.contended = true;
                return Poll::Pending;
            }
            Err(e) => return Poll::Ready(Err(e)),
            // Unlocked by hand below: the lock may outlive this call.
            Ok(g) => std::mem::forget(g),
        }
        let r = (|| -> QResult<Poll<Option<()>>> {
            self.link_check()?;
            // Relaxed: private, written only under the writer lock we hold.
            let tail = self.mine(W_TAIL).load(Relaxed);
            let len = data.len() as u64;
            let (h, marker) = self.place(dir, tail, len);
            let need = h - tail + REC_HDR;
            let free = self.free_space(dir, tail, need + len)?;
            if free >= need + len {
                self.put_skip(dir, marker);
                self.copy_in(dir, h + REC_HDR, data)?;
                // Relaxed: private, under the writer lock we hold.
                let bw = self.mine(W_BYTES).load(Relaxed) + len;
                let flagged = !self.quota_met(bw, len, o);
                let end = self.publish_record(dir, h, len, len, flagged);
                self.note_spill(dir, h, len);
                self.notify(dir, Wake::Data);
                st.phase = WritePhase::Quota {
                    end,
                    rec: h,
                    rec_end: record_end(h, len),
                    // Relaxed: private, under the writer lock we hold.
                    msgs: self.mine(W_MSGS).load(Relaxed),
                    flagged,
                };
                return Ok(Poll::Ready(Some(())));
            }
            if !hold || free < need {
                return Ok(Poll::Pending);
            }
            self.put_skip(dir, marker);
            let end = self.publish_record(dir, h, len, 0, true);
            self.note_spill(dir, h, len);
            self.notify(dir, Wake::Data);
            st.phase = WritePhase::Streaming {
                rec: h,
                tail: h + REC_HDR,
                off: 0,
                end,
                // Relaxed: private, under the writer lock we hold.
                msgs: self.mine(W_MSGS).load(Relaxed),
            };
            // Relaxed: read only by this thread (see `withdraw_written`).
            self.tx_kept_by.store(thread_token(), Relaxed);
            Ok(Poll::Ready(Some(())))
        })();
        if !st.holding() {
            self.page.unlock(TX_LOCK);
        }
        match r {
            Ok(Poll::Ready(x)) => Poll::Ready(Ok(x)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Streams more of the payload as the reader frees space (writer lock held).
    fn write_stream(&self, st: &mut WriteState, data: &[u8]) -> Poll<QResult<Option<()>>> {
        let dir = self.side.tx();
        let WritePhase::Streaming {
            rec,
            mut tail,
            mut off,
            end,
            msgs,
        } = st.phase
        else {
            return Poll::Ready(Ok(Some(())));
        };
        let r = (|| -> QResult<bool> {
            self.link_check()?;
            if self.peer_closed()? {
                return Err(QErr::Broken);
            }
            let mut moved = false;
            while off < data.len() {
                // As the blocking write streams: wait for room for the next piece (at most a
                // quarter of the ring), publish a piece at a time.
                let piece = stream_piece(off as u64);
                let batch = self.stream_batch(dir, off as u64, (data.len() - off) as u64);
                let free = self.free_space(dir, tail, batch)?;
                if free < batch {
                    break;
                }
                let chunk = (free.min(piece) as usize).min(data.len() - off);
                self.copy_in(dir, tail, &data[off..off + chunk])?;
                off += chunk;
                tail += chunk as u64;
                self.publish_tail(dir, tail, off == data.len());
                self.notify(dir, Wake::Data);
                moved = true;
            }
            Ok(moved)
        })();
        match r {
            Err(e) => Poll::Ready(Err(e)),
            Ok(_) if off == data.len() => {
                self.release_kept_tx();
                st.phase = WritePhase::Quota {
                    end,
                    rec,
                    rec_end: tail,
                    msgs,
                    flagged: true,
                };
                Poll::Ready(Ok(Some(())))
            }
            Ok(_) => {
                st.phase = WritePhase::Streaming {
                    rec,
                    tail,
                    off,
                    end,
                    msgs,
                };
                Poll::Pending
            }
        }
    }

    /// The quota wait of a write whose bytes are all in the ring.
    fn write_quota(
        &self,
        dir: usize,
        end: u64,
        rec_end: u64,
        take: usize,
        o: WriteOpts,
    ) -> Poll<QResult<Option<()>>> {
        if !o.wait_quota || o.nonblocking || take == 0 {
            self.done_late(dir, rec_end);
            return Poll::Ready(Ok(None));
        }
        let target = end.saturating_sub(o.quota);
        let met = match self.quota_reached(dir, target, end) {
            Ok(false) => self.quota_unmet(dir, target, end),
            r => r,
        };
        match met {
            Ok(true) => {
                self.done_late(dir, rec_end);
                Poll::Ready(Ok(None))
            }
            Ok(false) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Ends a write taken in steps before it completed (cancelled, or its handle closed): the
    /// unread part of its message leaves the pipe (W98), whether it was still streaming or
    /// all in the ring waiting for the quota; the reader goes on with the next message.
    ///
    /// Returns whether the write's data left the pipe (or never entered it). False when the
    /// reader had already taken all of it, the write had completed, or another thread of this
    /// end was writing and kept the lock: the data is then delivered, and the write should
    /// report success rather than a cancellation that did not happen.
    pub(crate) fn write_abort(&self, st: &mut WriteState) -> bool {
        let withdrawn = match st.phase {
            WritePhase::Streaming { .. } => {
                self.withdraw_unfinished();
                self.release_kept_tx();
                true
            }
            WritePhase::Quota {
                end,
                rec,
                rec_end,
                msgs,
                flagged,
            } => {
                let dir = self.side.tx();
                // The reader may have taken what meets the quota since the last step looked
                // (the driver had not stepped the write again yet): the write completed then
                // (W91), a cancel finds nothing to cancel, and its message stays in the pipe.
                // Only a write still pending leaves it (W98). A reader that meets the quota
                // after this look finds the message withdrawn: the cancel came first. A write
                // whose record is not flagged pending completed when it was published, whatever
                // the quota's look says now (a closed end, say): its reader does not claim it.
                let target = end.saturating_sub(st.quota);
                if !flagged || matches!(self.quota_reached(dir, target, end), Ok(true)) {
                    self.done_late(dir, rec_end);
                    false
                } else {
                    self.withdraw_written(rec, rec_end, msgs, end)
                }
            }
            WritePhase::Start => true,
            WritePhase::Done => false,
        };
        st.phase = WritePhase::Start;
        withdrawn
    }

    /// Ends the quota wait of a write whose bytes are all in the ring without taking them
    /// back: the write counts as completed (its record stays readable after this end closes,
    /// like every completed write), as if the reader had caught up. A write that is not in the
    /// ring yet (or still streaming) is left alone: the caller aborts those instead. Returns
    /// whether the write is now complete.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))] // used by npipe::tokio
    pub(crate) fn write_release(&self, st: &mut WriteState) -> bool {
        match st.phase {
            WritePhase::Quota { rec_end, .. } => {
                self.done_late(self.side.tx(), rec_end);
                st.phase = WritePhase::Done;
                true
            }
            WritePhase::Done => true,
            WritePhase::Start | WritePhase::Streaming { .. } => false,
        }
    }

    /// The largest read (inbound ring) and the largest record (outbound ring) that an
    /// unpinned step can complete: what each ring holds whole. An unpinned read with a larger
    /// buffer, or an unpinned write of a larger message, stays pending until it fits, which it
    /// never does.
    pub(crate) fn unpinned_limits(&self) -> (u64, u64) {
        let holds = |d: usize| self.caps[d].saturating_sub(UNPINNED_SLACK);
        (holds(self.side.rx()), holds(self.side.tx()))
    }

    /// A mailslot's ReadFile that never sleeps ([`Conn::read_whole`] in one step): one whole
    /// message (`TooSmall` with its length when `buf` is shorter, nothing consumed), or
    /// `Pending` with the end armed for data when the store is empty. `contended` is set when
    /// another reader held the lock (no signal comes for that: step again shortly).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))] // used by npipe::tokio
    pub(crate) fn read_whole_step(
        &self,
        buf: &mut [u8],
        contended: &mut bool,
    ) -> Poll<QResult<usize>> {
        *contended = false;
        let dir = self.side.rx();
        let _g = match self.lock_side(RX_LOCK, None, true) {
            Ok(g) => g,
            Err(QErr::WouldBlock) => {
                *contended = true;
                return Poll::Pending;
            }
            Err(e) => return Poll::Ready(Err(e)),
        };
        let mut armed = false;
        let r = (|| -> QResult<Option<usize>> {
            loop {
                self.link_check()?;
                self.drop_if_peer_gone(dir)?;
                let v = self.skip_withdrawn(dir)?;
                if !self.has_data(dir)? {
                    if armed {
                        return Ok(None);
                    }
                    // Arm, then look once more: what the writer published before the arm
                    // signals nothing.
                    self.arm(Wake::Data);
                    armed = true;
                    continue;
                }
                let len = if v.left != AT_HEADER {
                    v.left
                } else {
                    self.record_at(dir, self.hdr_pos(dir, v.head, v.tail)?)?.0
                };
                if (buf.len() as u64) < len {
                    return Err(QErr::TooSmall(len));
                }
                // The store's records are published whole, so this never waits; `None` means
                // it skipped a withdrawn record (or found none after all): look again.
                if let Some(r) = self.read_message(dir, buf, None)? {
                    return Ok(Some(r.n));
                }
            }
        })();
        match r {
            Ok(Some(n)) => Poll::Ready(Ok(n)),
            Ok(None) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    /// Releases the writer lock a streaming write kept between its steps.
    fn release_kept_tx(&self) {
        // Relaxed: see `write_start`.
        self.tx_kept_by.store(0, Relaxed);
        self.page.unlock(TX_LOCK);
    }

    /// One step of a transaction: the request is written (never waiting for the quota, W126),
    /// then one message is read (message mode).
    pub(crate) fn transact_step(
        &self,
        st: &mut TransactState,
        data: &[u8],
        buf: &mut [u8],
        hold: bool,
    ) -> Poll<QResult<ReadOut>> {
        if !st.wrote {
            let o = WriteOpts {
                message: true,
                quota: 0,
                wait_quota: false,
                nonblocking: false,
            };
            match self.write_step(&mut st.write, data, o, hold) {
                Poll::Ready(Ok(_)) => st.wrote = true,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.read_step(&mut st.read, buf, true, hold)
    }

    /// Ends a transaction taken in steps before it completed.
    pub(crate) fn transact_abort(&self, st: &mut TransactState) -> Option<ReadOut> {
        self.write_abort(&mut st.write);
        self.read_abort(&mut st.read)
    }
}
