//! Writing: one record per write, published whole when it fits, streamed in quarter-ring
//! batches when it does not; mailslot writes that never wait (W151); zero-copy reservations;
//! and the withdrawal of a record whose writer died or gave up in the middle of it (W98,
//! W103). When a write completes (its quota wait) and flush are in `quota.rs`.
//!
//! The writer's cursor (tail, counters, the record in progress) lives in this side's private
//! page and is published to the shared ring header after each step; only the reader's `head`
//! and counters are read from the shared page, and always checked.

use std::sync::atomic::{fence, Ordering::*};
use std::sync::Arc;
use std::time::Instant;

use super::*;

/// Space reserved in the outbound ring for one whole message, filled in place
/// ([`Conn::reserve`]). Holds the writer lock; nothing is visible to the reader until
/// [`Reserved::commit`]; dropping it uncommitted abandons the space. It stays on the thread
/// that made it (the lock belongs to that thread).
#[derive(Debug)]
pub(crate) struct Reserved {
    conn: Arc<Conn>,
    dir: usize,
    /// Position of the record header.
    h: u64,
    len: u64,
    /// Whether it holds the writer lock (not for an empty write on a byte pipe, which takes
    /// no room).
    locked: bool,
    /// Not `Send`: the writer lock must be released by the thread that took it.
    _thread: std::marker::PhantomData<*const ()>,
}

/// The ring bytes `[pos, pos + len)` as at most two slices (the second when they wrap).
///
/// # Safety
/// `len <= cap` of ring `dir`, and the caller holds the lock that gives it these bytes: the
/// writer lock for unpublished space past `tail`, or the reader lock for a published record
/// before `tail`. A peer that follows the protocol never touches them meanwhile.
pub(super) unsafe fn ring_slices(
    conn: &Conn,
    dir: usize,
    pos: u64,
    len: u64,
) -> (*mut u8, usize, usize) {
    let cap = conn.caps[dir];
    let off = ring_off(pos, cap);
    let first = (len as usize).min(cap as usize - off);
    // SAFETY: off < cap, so the pointer is inside ring `dir` (see `data_base`).
    (
        unsafe { conn.data_base(dir).add(off) },
        first,
        len as usize - first,
    )
}

impl Reserved {
    /// The reserved bytes, in order: fill both (the second is empty unless the space wraps).
    pub(crate) fn slices(&mut self) -> (&mut [u8], &mut [u8]) {
        // SAFETY: `reserve` checked len + header <= free space <= cap, and we hold the writer
        // lock: the bytes past `tail` are ours alone until published.
        unsafe {
            let (p, a, b) = ring_slices(&self.conn, self.dir, self.h + REC_HDR, self.len);
            let base = self.conn.data_base(self.dir);
            (
                std::slice::from_raw_parts_mut(p, a),
                std::slice::from_raw_parts_mut(base, b),
            )
        }
    }

    /// Publishes the message (header, counters and tail at once), wakes a sleeping reader and,
    /// like a write, waits for the quota (W91-W93).
    pub(crate) fn commit(self, o: WriteOpts, deadline: Option<Instant>) -> QResult<usize> {
        if self.len == 0 && !o.message {
            // An empty write on a byte pipe queues nothing and wakes no reader (W76, W77), as
            // `Conn::write` does: a record would read as the end of the stream.
            return Ok(0);
        }
        let c = self.conn.clone();
        let (dir, h, len) = (self.dir, self.h, self.len);
        // Relaxed: private, under the writer lock this message holds.
        let bw = c.mine(W_BYTES).load(Relaxed) + len;
        let now = c.quota_met(bw, len, o);
        c.publish_record(dir, h, len, len, !now);
        // Relaxed: private, under the writer lock this message holds.
        let msgs = c.mine(W_MSGS).load(Relaxed);
        c.note_spill(dir, h, len);
        let end = record_end(h, len);
        if now {
            c.done_locked(dir, end);
        }
        drop(self);
        c.notify(dir, Wake::Data);
        if now {
            return Ok(len as usize);
        }
        c.finish_write(dir, bw, (h, end, msgs), len as usize, len, o, deadline)
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        if self.locked {
            self.conn.page.unlock(TX_LOCK);
        }
    }
}

/// Whole-message appends to the outbound ring under one hold of its writer lock
/// ([`Conn::appender`]); dropping it releases the lock.
pub(crate) struct Appender<'a> {
    conn: &'a Conn,
    dir: usize,
    _g: SideGuard<'a>,
}

impl std::fmt::Debug for Appender<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appender").field("dir", &self.dir).finish()
    }
}

impl Appender<'_> {
    /// The bytes a whole message of `len` bytes takes at `tail` (padding or the skip to the
    /// next lap, header, payload).
    fn need(&self, tail: u64, len: u64) -> u64 {
        self.conn.place(self.dir, tail, len).0 - tail + REC_HDR + len
    }

    /// Whether one whole message of `len` bytes fits in the free space now.
    pub(crate) fn fits(&self, len: u64) -> QResult<bool> {
        let c = self.conn;
        // Relaxed: private, under the writer lock we hold.
        let tail = c.mine(W_TAIL).load(Relaxed);
        if len > u32::MAX as u64 || REC_HDR + len > c.caps[self.dir] {
            return Ok(false);
        }
        let need = self.need(tail, len);
        Ok(c.free_space(self.dir, tail, need)? >= need)
    }

    /// Appends one whole message: the payload is copied first and the record is published with
    /// a single `tail` store, so a reader sees either nothing or the complete message. Never
    /// waits: `WouldBlock` when it does not fit now.
    pub(crate) fn append(&self, data: &[u8]) -> QResult<()> {
        if !self.fits(data.len() as u64)? {
            return Err(QErr::WouldBlock);
        }
        let c = self.conn;
        // Relaxed: private, under the writer lock we hold.
        let tail = c.mine(W_TAIL).load(Relaxed);
        let (h, marker) = c.place(self.dir, tail, data.len() as u64);
        c.put_skip(self.dir, marker);
        c.copy_in(self.dir, h + REC_HDR, data)?;
        c.publish_record(self.dir, h, data.len() as u64, data.len() as u64, false);
        // Never waits for a quota: complete at once.
        c.done_locked(self.dir, record_end(h, data.len() as u64));
        c.notify(self.dir, Wake::Data);
        Ok(())
    }
}

impl Conn {
    /// Free bytes in the outbound ring after our `tail`, from this process's cached view of
    /// the reader's `head` when that shows at least `need`, else from the shared page (checked).
    pub(super) fn free_space(&self, dir: usize, tail: u64, need: u64) -> QResult<u64> {
        let cap = self.caps[dir];
        // Relaxed: private, under the writer lock.
        let cut = self.mine(W_CUT_END).load(Relaxed);
        if cut != NO_REC {
            // After a withdrawal nothing is written past the cut until the reader has reached
            // it and seen the withdrawal (moved past the record): until then there is no room.
            // Reaching the cut is not enough: a reader that copied up to it without noticing
            // would take what follows for the rest of the record.
            // SYNC POINT with the Release store of `head` in `consume`.
            let head = self.ring(dir).r.0.head.load(Acquire);
            check_head(head, tail, cap)?;
            if head < cut || !self.cut_slot_free(dir) {
                return Ok(0);
            }
            self.mine(W_CUT_END).store(NO_REC, Relaxed);
        }
        // Relaxed: a process-local cache of a value loaded with Acquire below; a stale value
        // is a lower bound of `head`, so it can only understate the free space (or fail the
        // check, when another process of this end wrote far ahead: then it is not used).
        if let Ok(free) = check_head(self.head_seen.load(Relaxed), tail, cap) {
            if free >= need {
                return Ok(free);
            }
        }
        // SYNC POINT with the Release store of `head` in `consume`: Acquire makes sure the
        // reader is done with the bytes before we overwrite them.
        let head = self.ring(dir).r.0.head.load(Acquire);
        let free = check_head(head, tail, cap)?;
        self.head_seen.store(head, Relaxed);
        Ok(free)
    }

    /// Starts a `len`-byte record whose header goes at `h` and publishes `tail` past the header
    /// and the first `copied` payload bytes (already in the ring). Needs the writer lock.
    /// Returns the new `bytes_written`.
    ///
    /// The private cursor is updated before the shared copy, so a writer that dies at any point
    /// leaves enough behind for the next one to repair: a whole record is either not yet in the
    /// private cursor (invisible, harmless) or is, and the repair republishes it; a record whose
    /// payload streams in is marked in progress first and the mark cleared last, so the repair
    /// can withdraw it ([`Conn::withdraw_unfinished`]).
    pub(super) fn publish_record(
        &self,
        dir: usize,
        h: u64,
        len: u64,
        copied: u64,
        pending: bool,
    ) -> u64 {
        self.publish_record_inline(dir, h, len, copied, pending)
    }

    /// [`Conn::publish_record`] folded into its caller: the usual write's
    /// (`Conn::write_quick`), which saves the call (19-23 instructions per 64 B write and read
    /// pair through the Rust API, 16 through the C ABI). The other writers keep the call.
    #[inline(always)]
    pub(super) fn publish_record_inline(
        &self,
        dir: usize,
        h: u64,
        len: u64,
        copied: u64,
        pending: bool,
    ) -> u64 {
        let w = &self.ring(dir).w.0;
        wrote_set();
        // Relaxed loads: private words, written only under the writer lock, which we hold.
        let bw0 = self.mine(W_BYTES).load(Relaxed);
        let mw0 = self.mine(W_MSGS).load(Relaxed);
        let whole = copied == len;
        if !whole {
            // Release: a process of this end that takes the lock after our death reads the
            // marker with the values stored before it.
            self.mine(W_REC_LEN).store(len, Relaxed);
            self.mine(W_REC_BYTES).store(bw0, Relaxed);
            self.mine(W_REC_MSGS).store(mw0, Relaxed);
            self.mine(W_REC).store(h, Release);
        }
        // A streaming record is pending until its last byte is in (and its quota met).
        let flags = if pending || !whole { FLAG_PENDING } else { 0 };
        self.write_record_header(dir, h, len, flags);
        let (bw, mw, tail) = (bw0 + len, mw0 + 1, h + REC_HDR + copied);
        self.mine(W_BYTES).store(bw, Relaxed);
        self.mine(W_MSGS).store(mw, Relaxed);
        self.mine(W_TAIL).store(tail, Release);
        w.bytes_written.store(bw, Release);
        w.msgs_written.store(mw, Release);
        // SYNC POINT with the Acquire load of `tail` in the reader's view: the header, the
        // counters and the copied payload become visible together with the new tail.
        w.tail.store(tail, Release);
        bw
    }

    /// Publishes `tail` after more payload of the record in progress reached the ring.
    pub(super) fn publish_tail(&self, dir: usize, tail: u64, done: bool) {
        self.mine(W_TAIL).store(tail, Release);
        // SYNC POINT with the reader's snapshot: publishes the chunk.
        self.ring(dir).w.0.tail.store(tail, Release);
        if done {
            self.mine(W_REC).store(NO_REC, Release);
        }
    }

    /// Withdraws the record in progress of this end's outbound ring, if there is one: its
    /// writer died holding the lock, or gave up (a deadline, a close) in the middle of it. The
    /// record keeps the payload bytes already in the ring, its header says so (`FLAG_CUT`) and
    /// readers skip whatever of it they have not read: on Windows the unread rest of a
    /// cancelled or dead writer's message is withdrawn (W98, W103). The declared bytes that
    /// never came stop counting against the quota. Needs the writer lock.
    pub(super) fn withdraw_unfinished(&self) {
        let dir = self.side.tx();
        // Acquire: pairs with the Release stores of `publish_record`.
        let h = self.mine(W_REC).load(Acquire);
        if h == NO_REC {
            // No record in progress; a writer that died between its private and shared stores
            // of a whole record left the shared copy behind: republish it.
            let w = &self.ring(dir).w.0;
            w.bytes_written
                .store(self.mine(W_BYTES).load(Relaxed), Release);
            w.msgs_written
                .store(self.mine(W_MSGS).load(Relaxed), Release);
            w.tail.store(self.mine(W_TAIL).load(Acquire), Release);
            return;
        }
        let len = self.mine(W_REC_LEN).load(Relaxed);
        let bw0 = self.mine(W_REC_BYTES).load(Relaxed);
        let mw0 = self.mine(W_REC_MSGS).load(Relaxed);
        let tail = self.mine(W_TAIL).load(Acquire);
        let w = &self.ring(dir).w.0;
        if tail < h + REC_HDR {
            // The record never became visible: as if it had not been started.
            self.mine(W_BYTES).store(bw0, Relaxed);
            self.mine(W_MSGS).store(mw0, Relaxed);
            w.bytes_written.store(bw0, Release);
            w.msgs_written.store(mw0, Release);
        } else {
            let got = (tail - h - REC_HDR).min(len);
            if got < len {
                // Readers not yet at the record see the flag in its header; a reader inside it
                // (whose header may be overwritten by now) sees `cut_rec`.
                let end = h + REC_HDR + got;
                self.mark_cut(dir, h, Some(got), end, mw0 + 1);
                self.mine(W_CUT_END).store(end, Relaxed);
            }
            self.mine(W_BYTES).store(bw0 + got, Relaxed);
            self.mine(W_MSGS).store(mw0 + 1, Relaxed);
            w.bytes_written.store(bw0 + got, Release);
            w.msgs_written.store(mw0 + 1, Release);
        }
        // SYNC POINT with the reader's snapshot: the rewritten header and counters are visible
        // before (or with) the tail; the tail itself may lag if the writer died between its
        // private and shared stores.
        w.tail.store(tail, Release);
        self.mine(W_REC).store(NO_REC, Release);
        self.notify(dir, Wake::Data);
    }

    /// Whether the shared withdrawal slot may name a new record: free, or the reader has moved
    /// past the record it names (so it has seen that withdrawal). Needs the writer lock.
    fn cut_slot_free(&self, dir: usize) -> bool {
        // Relaxed: private, under the writer lock.
        let need = self.mine(W_CUT_MSGS).load(Relaxed);
        if need == NO_REC {
            return true;
        }
        // SYNC POINT with the Release store of `msgs_read` in `consume`. A hostile reader that
        // claims more only frees the slot early, which can only harm its own reads.
        if self.ring(dir).r.0.msgs_read.load(Acquire) >= need {
            self.mine(W_CUT_MSGS).store(NO_REC, Relaxed);
            return true;
        }
        false
    }

    /// Marks the record at `h` withdrawn: its header gets [`FLAG_CUT`] (and `len`, when given,
    /// the bytes it keeps) while it is still in the ring, for readers not yet at it; then, when
    /// the slot is free, `cut_rec`/`cut_end` name it for a reader inside it, until the reader's
    /// `msgs_read` reaches `msgs_after`. When the slot is still taken, the reader has not moved
    /// past the record that holds it, so it has not read this one's header yet: by the fences
    /// (here after the header, in `consume`'s `notify` before the reader reads the next header)
    /// it sees the flag. Needs the writer lock.
    fn mark_cut(&self, dir: usize, h: u64, len: Option<u64>, end: u64, msgs_after: u64) {
        // Relaxed: private, under the writer lock.
        let tail = self.mine(W_TAIL).load(Relaxed);
        if tail <= h + self.caps[dir] {
            let len = match len {
                Some(l) => l,
                None => match self.record_at(dir, h) {
                    Ok((l, _)) => l,
                    Err(_) => return,
                },
            };
            self.write_record_header(dir, h, len, FLAG_CUT);
        }
        // SYNC POINT with the fence in the reader's `notify` after it publishes `msgs_read`
        // (Dekker: it sees the flag, or we see it has moved on and the slot is free).
        fence(SeqCst);
        if self.cut_slot_free(dir) {
            let c = &self.ring(dir).c.0;
            // Release: a reader that sees `cut_rec` sees the end stored before it.
            c.cut_end.store(end, Release);
            c.cut_rec.store(h, Release);
            // Relaxed: private, under the writer lock.
            self.mine(W_CUT_MSGS).store(msgs_after, Relaxed);
        }
    }

    /// Withdraws what the reader has not read of a whole record already in the outbound ring
    /// (a cancelled write waiting for its quota, W98), records after it staying. `msgs_after`
    /// is `msgs_written` and `bytes_after` `bytes_written` through it. Returns false when its
    /// data stays in the pipe: the reader already took all of it, or another thread of this
    /// end is writing (holding the lock).
    pub(super) fn withdraw_written(
        &self,
        rec: u64,
        rec_end: u64,
        msgs_after: u64,
        bytes_after: u64,
    ) -> bool {
        let dir = self.side.tx();
        // On the thread that keeps the lock between the steps of a streaming write (the C
        // ABI's engine, cancelling a write queued before it), the lock is already ours.
        // Relaxed: only ever equal to this thread's own token when this thread stored it.
        let kept_here = self.tx_kept_by.load(Relaxed) == thread_token();
        let _g = if kept_here {
            None
        } else {
            match self.lock_side(TX_LOCK, None, true) {
                Ok(g) => Some(g),
                Err(_) => return false,
            }
        };
        // SYNC POINT with the Release store of `head` in `consume`.
        let head = self.ring(dir).r.0.head.load(Acquire);
        // Relaxed: private, under the writer lock.
        let tail = self.mine(W_TAIL).load(Relaxed);
        if check_head(head, tail, self.caps[dir]).is_err() || head >= rec_end {
            // Read already (or a corrupt head, which the next operation reports).
            return false;
        }
        #[cfg(test)]
        withdraw_race_tests::before_withdrawal_claim();
        // Claimed before it is marked, so the reader cannot have skipped it yet: a reader that
        // has moved past it delivered it (see `claim_for_writer`, `Conn::claim_delivery`).
        let r = &self.ring(dir).r.0;
        // Acquire: pairs with the Release store of `msgs_read` in `consume`.
        let passed = || r.msgs_read.load(Acquire) >= msgs_after;
        if !claim_for_writer(&self.ring(dir).c.0.claim, msgs_after, passed) {
            // The reader had copied all of it and claimed it first: it is delivered, and the
            // write completes.
            return false;
        }
        if let Ok((len, _)) = self.record_at(dir, rec) {
            self.list_gone(dir, msgs_after, bytes_after, len);
        }
        self.mark_cut(dir, rec, None, rec_end, msgs_after);
        self.notify(dir, Wake::Data);
        // A flush waiting for the reader, and writes queued behind this one waiting for their
        // quota, may be over now (W92, W95).
        self.notify(dir, Wake::Space);
        true
    }

    /// Appends one message (or byte-stream write) to the outbound ring. Returns the number of
    /// bytes written (less than `data.len()` only for PIPE_NOWAIT, W108-W110).
    pub(crate) fn write(
        &self,
        data: &[u8],
        o: WriteOpts,
        deadline: Option<Instant>,
    ) -> QResult<usize> {
        if let Some(n) = self.write_quick(data, o) {
            return Ok(n);
        }
        let dir = self.side.tx();
        self.link_check()?;
        if self.peer_closed()? {
            return Err(QErr::PeerClosed);
        }
        if data.is_empty() && !o.message {
            return Ok(0);
        }
        if data.len() as u64 > u32::MAX as u64 {
            return Err(QErr::TooSmall(data.len() as u64));
        }
        let ring = self.ring(dir);
        let mut take = data.len();
        // Taken before deciding, so a consume after the decision moves it (see `ready`).
        let mark = if o.nonblocking {
            self.full_mark_now()
        } else {
            0
        };
        if o.nonblocking {
            let (unread, _) = self.unread_tx()?;
            // A hint about waiting readers (sleeping, or spinning), as racy on Windows as here.
            // The peer writes both, so only saturating arithmetic touches them. Acquire, and
            // `spin_want` after it: a read counted in `reader_want` on its way from its spin to
            // sleep is not counted in `spin_want` as well (Release in `read`).
            let r = &ring.r.0;
            let sleeping = r.reader_want.load(Acquire);
            let want = sleeping.saturating_add(r.spin_want.load(Relaxed));
            let n = data.len() as u64;
            if unread.saturating_add(n) > o.quota.saturating_add(want) {
                if o.message {
                    self.note_full(mark);
                    return Ok(0);
                }
                take = want.saturating_sub(unread).min(n) as usize;
                if take == 0 {
                    self.note_full(mark);
                    return Ok(0);
                }
            }
        }
        let _g = match self.lock_side(TX_LOCK, deadline, o.nonblocking) {
            // Another writer of this end is in the middle of a write: a nonblocking write
            // never waits for it, and writes nothing (W108).
            Err(QErr::WouldBlock) => {
                self.note_full(mark);
                return Ok(0);
            }
            r => r?,
        };
        self.link_check()?;
        // Relaxed: private, written only under the writer lock we hold.
        let tail = self.mine(W_TAIL).load(Relaxed);
        // Record header at the next 8-aligned position (or the next lap, see `place`).
        let (h, marker) = self.place(dir, tail, take as u64);
        let need = h - tail + REC_HDR;
        let free = self.free_space(dir, tail, need + take as u64)?;
        if o.nonblocking && free < need + take as u64 {
            // The ring itself is full (records cost more than their payload): a nonblocking
            // write never waits for room. A message goes whole or not at all; a byte write
            // takes what fits.
            if o.message || free <= need {
                self.note_full(mark);
                return Ok(0);
            }
            take = (free - need) as usize;
        }
        let data = &data[..take];
        let len = data.len() as u64;
        if free >= need + len && len <= STREAM_CHUNK {
            // The whole record fits: payload first, then header, counters and tail in one
            // publish and one wake check.
            self.put_skip(dir, marker);
            self.copy_in(dir, h + REC_HDR, data)?;
            // Relaxed: private, under the writer lock.
            let bw = self.mine(W_BYTES).load(Relaxed) + len;
            let now = self.quota_met_publishing(dir, bw, len, o);
            self.publish_record(dir, h, len, len, !now);
            // Relaxed: private, under the writer lock.
            let msgs = self.mine(W_MSGS).load(Relaxed);
            #[cfg(test)]
            close_race_tests::before_close_check();
            self.note_spill(dir, h, len);
            let end = record_end(h, len);
            if now {
                self.done_locked(dir, end);
            }
            self.notify(dir, Wake::Data);
            drop(_g);
            if len <= SMALL_RECORD {
                self.prefetch_next(dir, end, free - (need + len));
            }
            if now {
                return Ok(take);
            }
            return self.finish_write(dir, bw, (h, end, msgs), take, len, o, deadline);
        }
        let space = |c: &Conn, need: u64, tail: u64| -> QResult<bool> {
            Ok(c.free_space(dir, tail, need)? >= need)
        };
        if free < need {
            self.wait_on(dir, Wake::Space, deadline, |c| {
                c.link_check()?;
                if c.peer_closed()? {
                    return Err(QErr::PeerClosed);
                }
                space(c, need, tail)
            })?;
        }
        // Header and counters now; the payload streams in after it.
        self.put_skip(dir, marker);
        let bw = self.publish_record(dir, h, len, 0, true);
        // Relaxed: private, under the writer lock.
        let msgs = self.mine(W_MSGS).load(Relaxed);
        self.note_spill(dir, h, len);
        self.notify(dir, Wake::Data);
        if let Err(e) = self.stream(dir, h + REC_HDR, data, deadline) {
            // Gave up in the middle (deadline, close, the peer gone): withdraw the rest so the
            // next write starts at a record boundary and nothing torn is delivered.
            self.withdraw_unfinished();
            return Err(e);
        }
        let end = record_end(h, len);
        if self.quota_met(bw, len, o) {
            self.done_locked(dir, end);
            return Ok(take);
        }
        drop(_g);
        self.finish_write(dir, bw, (h, end, msgs), take, len, o, deadline)
    }

    /// How much of a streaming message moves per hand-off once `done` bytes of it are
    /// published and `left` more are to come (what a writer waits for room for, and a reader
    /// for): a piece ([`stream_piece`]), at most a quarter of the ring.
    pub(super) fn stream_batch(&self, dir: usize, done: u64, left: u64) -> u64 {
        (self.caps[dir] / 4).min(stream_piece(done)).min(left)
    }

    /// Streams `data` into the outbound ring from `tail` on, as the reader frees space, in
    /// pieces of [`stream_piece`] (at most a quarter of the ring; the reader waits for as
    /// much, and since free + unread = cap, one of the two can always proceed).
    fn stream(
        &self,
        dir: usize,
        mut tail: u64,
        data: &[u8],
        deadline: Option<Instant>,
    ) -> QResult<()> {
        let mut off = 0usize;
        while off < data.len() {
            let batch = self.stream_batch(dir, off as u64, (data.len() - off) as u64);
            let free = self.free_space(dir, tail, batch)?;
            if free < batch {
                self.wait_on(dir, Wake::Space, deadline, |c| {
                    c.link_check()?;
                    if c.peer_closed()? {
                        return Err(QErr::Broken);
                    }
                    Ok(c.free_space(dir, tail, batch)? >= batch)
                })?;
                continue;
            }
            // One piece per publish, so the reader copies one piece while we copy the next.
            let chunk = (free.min(stream_piece(off as u64)) as usize).min(data.len() - off);
            self.copy_in(dir, tail, &data[off..off + chunk])?;
            off += chunk;
            tail += chunk as u64;
            self.publish_tail(dir, tail, off == data.len());
            self.notify(dir, Wake::Data);
        }
        Ok(())
    }

    /// Takes the outbound ring's writer lock for a batch of whole-message appends that never wait
    /// for space (a mailslot server moving records from its socket into its store, W151). The
    /// caller works under the same lock between appends, so "take a record, then publish it"
    /// is one step for every thread and process that drains the socket.
    pub(crate) fn appender(&self) -> QResult<Appender<'_>> {
        self.link_check()?;
        if self.peer_closed()? {
            return Err(QErr::PeerClosed);
        }
        Ok(Appender {
            conn: self,
            dir: self.side.tx(),
            _g: self.lock_side(TX_LOCK, None, false)?,
        })
    }

    /// Reserves room for one whole message of `len` bytes in the outbound ring, waiting for
    /// space like a write. `WouldBlock` if the message can never fit (larger than the ring).
    pub(crate) fn reserve(
        self: &Arc<Self>,
        len: usize,
        nothing: bool,
        deadline: Option<Instant>,
    ) -> QResult<Reserved> {
        let dir = self.side.tx();
        let cap = self.caps[dir];
        if len as u64 > u32::MAX as u64 || REC_HDR + 8 + len as u64 > cap {
            return Err(QErr::WouldBlock);
        }
        self.link_check()?;
        if self.peer_closed()? {
            return Err(QErr::PeerClosed);
        }
        if nothing && len == 0 {
            // Takes no room and publishes nothing: no lock, no wait for space.
            return Ok(Reserved {
                conn: self.clone(),
                dir,
                h: 0,
                len: 0,
                locked: false,
                _thread: std::marker::PhantomData,
            });
        }
        let g = self.lock_side(TX_LOCK, deadline, false)?;
        // Relaxed: private, written only under the writer lock we hold.
        let tail = self.mine(W_TAIL).load(Relaxed);
        let (h, marker) = self.place(dir, tail, len as u64);
        let need = h - tail + REC_HDR + len as u64;
        if self.free_space(dir, tail, need)? < need {
            self.wait_on(dir, Wake::Space, deadline, |c| {
                c.link_check()?;
                if c.peer_closed()? {
                    return Err(QErr::PeerClosed);
                }
                Ok(c.free_space(dir, tail, need)? >= need)
            })?;
        }
        // Published with the record (or never, if it is dropped unused).
        self.put_skip(dir, marker);
        // From here the lock is released by `Reserved::drop`.
        std::mem::forget(g);
        Ok(Reserved {
            conn: self.clone(),
            dir,
            h,
            len: len as u64,
            locked: true,
            _thread: std::marker::PhantomData,
        })
    }
}
