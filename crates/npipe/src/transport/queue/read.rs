//! Reading: message reads that may leave a remainder for the next reader (W67-W68), byte reads
//! that gather across records (W58, W60), peek (W82-W86), mailslot reads of one whole message
//! (W145-W151) and in-place reads.
//!
//! The reader's cursor (head, the rest of the current record, counters, where the current
//! record started) lives in this side's private page under the reader lock. Everything taken
//! from the shared page (the writer's tail and counters, record headers) is checked with the
//! arithmetic of `layout` before it sizes or places a copy: a hostile writer can make reads
//! fail with `Corrupt`, never read outside the ring or return more than the caller's buffer.

use std::sync::atomic::Ordering::*;
use std::sync::Arc;
use std::time::Instant;

use super::write::ring_slices;
use super::*;

/// What a read does after its look found nothing to read ([`Conn::found_nothing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Nothing {
    /// The writer's end is open: wait for data or the close.
    Wait,
    /// The writer's end has closed, and data published before its close is there: read it.
    Again,
    /// The writer's end has closed and nothing is left to read: ERROR_BROKEN_PIPE.
    End,
}

/// One whole inbound message, read in place ([`Conn::read_in_place`]). Holds the reader lock;
/// dropping it consumes the message. It stays on the thread that made it (the lock belongs to
/// that thread).
#[derive(Debug)]
pub(crate) struct InPlace {
    conn: Arc<Conn>,
    dir: usize,
    /// Position of the first payload byte.
    start: u64,
    len: u64,
    /// Not `Send`: the reader lock must be released by the thread that took it.
    _thread: std::marker::PhantomData<*const ()>,
}

impl InPlace {
    /// The message bytes, in order (the second slice is empty unless the message wraps).
    pub(crate) fn slices(&self) -> (&[u8], &[u8]) {
        // SAFETY: the record lies between head and a checked tail the writer published
        // (`read_in_place`), len <= cap, and we hold the reader lock, so no one else reuses or
        // consumes it; a writer following the protocol never writes published bytes.
        unsafe {
            let (p, a, b) = ring_slices(&self.conn, self.dir, self.start, self.len);
            let base = self.conn.data_base(self.dir);
            (
                std::slice::from_raw_parts(p, a),
                std::slice::from_raw_parts(base, b),
            )
        }
    }

    /// The message length.
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }
}

impl Drop for InPlace {
    fn drop(&mut self) {
        if !self.conn.page.holds(RX_LOCK) {
            // A forked child's copy of a message its parent's thread holds: the message and
            // the lock stay the parent's.
            return;
        }
        self.conn.consume(
            self.dir,
            self.start + self.len,
            AT_HEADER,
            self.len,
            1,
            NO_REC,
        );
        // Ours: looked at above.
        self.conn.page.release(RX_LOCK);
    }
}

/// The reader's view of the inbound ring at one moment: the writer's checked tail and our own
/// cursor.
#[derive(Debug, Clone, Copy)]
pub(super) struct View {
    pub(super) tail: u64,
    pub(super) head: u64,
    /// Payload bytes left in the current record, or [`AT_HEADER`].
    pub(super) left: u64,
}

impl Conn {
    /// Our cursor and the writer's published tail, checked against each other.
    pub(super) fn view(&self, dir: usize) -> QResult<View> {
        // Relaxed: private words, written under the reader lock (held by every caller that
        // acts on the result; unlocked callers only use it as a hint).
        let head = self.mine(R_HEAD).load(Relaxed);
        let left = self.mine(R_LEFT).load(Relaxed);
        // SYNC POINT with the Release stores of `tail` in `publish_record`/`publish_tail`:
        // Acquire makes the published record bytes visible before we copy them.
        let w = &self.ring(dir).w.0;
        let tail = w.tail.load(Acquire);
        check_tail(tail, head, self.caps[dir])?;
        // On the line just read: the writer's count of its waits for this reader, for the
        // pace (see `pace`). Relaxed: a hint, whatever the peer wrote.
        let waits = w.waits.load(Relaxed);
        if self.writer_waits_seen.load(Relaxed) != waits {
            self.writer_waits_seen.store(waits, Relaxed);
        }
        // Release: the cache is also read without the reader lock (and stored by a wait's
        // predicate); a thread that loads this value with Acquire and then reads a record
        // header sees the bytes our Acquire load of `tail` made visible here.
        self.tail_seen.store(tail, Release);
        Ok(View { tail, head, left })
    }

    /// Like `view`, but with this process's cached tail while it is ahead of `head` (every
    /// byte before a cached tail was published with the Release store we acquired).
    fn view_hint(&self, dir: usize) -> QResult<View> {
        // Relaxed: see `view`.
        let head = self.mine(R_HEAD).load(Relaxed);
        // Acquire: pairs with the Release store in `view` (the bytes before it are visible).
        let seen = self.tail_seen.load(Acquire);
        if seen > head && check_tail(seen, head, self.caps[dir]).is_ok() {
            let left = self.mine(R_LEFT).load(Relaxed);
            return Ok(View {
                tail: seen,
                head,
                left,
            });
        }
        self.view(dir)
    }

    /// What a read does once its look under the reader lock found nothing to read: wait while
    /// the writer's end is open; at its close, report the end of the data only when a second
    /// look still finds nothing. The writer may publish a record and close right after the
    /// first look (a reply written and the handle dropped at once): the Acquire load of its
    /// state here pairs with the Release store of the close (`set_state`, or the hang-up
    /// noticed by `probe_hup`), so every record it published before closing is visible to the
    /// second look, and is read rather than lost behind ERROR_BROKEN_PIPE (W113). Needs the
    /// reader lock; a disconnect, or this end's close, is an error as in `peer_closed`.
    pub(super) fn found_nothing(&self, dir: usize) -> QResult<Nothing> {
        #[cfg(test)]
        close_race_tests::before_close_check();
        if !self.peer_closed()? {
            return Ok(Nothing::Wait);
        }
        Ok(if self.has_data(dir)? {
            Nothing::Again
        } else {
            Nothing::End
        })
    }

    /// Whether a read would find something: a payload byte or an empty record (a hint when
    /// called without the reader lock).
    pub(super) fn has_data(&self, dir: usize) -> QResult<bool> {
        let v = self.view_hint(dir)?;
        if self.data_in(dir, v)? {
            return Ok(true);
        }
        let v = self.view(dir)?;
        self.data_in(dir, v)
    }

    /// Without the reader lock: whether nothing at all is in the ring (no record, no part of
    /// one, nothing left of a message begun) while both ends are open and connected. Then a
    /// read under the lock could only find nothing and wait; anything else (data, an error,
    /// the end of the data) is for that read to find.
    pub(super) fn nothing_in(&self, dir: usize) -> bool {
        // Something this process already saw published past what it read (a writer streaming
        // ahead): not nothing, and the writer's cursor line stays with the writer (the read
        // takes what it saw, as `read_quick` does). Relaxed, both: a hint; the general way
        // decides.
        if super::quick::general_only()
            || self.tail_seen.load(Relaxed) > self.mine(R_HEAD).load(Relaxed)
        {
            return false;
        }
        let Ok(v) = self.view(dir) else {
            return false;
        };
        if v.left != AT_HEADER || v.tail != v.head {
            return false;
        }
        // A writer that publishes and closes right after the look is found closed below, and
        // its record is read the general way (W113).
        #[cfg(test)]
        close_race_tests::before_close_check();
        matches!(self.peer_closed(), Ok(false))
    }

    fn data_in(&self, dir: usize, v: View) -> QResult<bool> {
        Ok(if v.left == AT_HEADER {
            // A header is published before its payload streams in: there is something to read
            // once the record is empty or its first payload byte is there.
            let h = self.hdr_pos(dir, v.head, v.tail)?;
            if v.tail > h + REC_HDR {
                // Found as it arrives, typically: ask for all of its first lines at once.
                self.prefetch_record(dir, h);
                true
            } else {
                v.tail == h + REC_HDR && self.record_at(dir, h)?.0 == 0
            }
        } else {
            v.left == 0 || v.tail > v.head || self.current_withdrawn(dir)
        })
    }

    /// Unread payload bytes and whether anything (data or empty messages) is queued inbound:
    /// the writer's published counters against our own.
    pub(super) fn unread_rx(&self) -> QResult<(u64, bool)> {
        let dir = self.side.rx();
        let w = &self.ring(dir).w.0;
        // Our own counters first: a caller without the reader lock (TransactNamedPipe's check)
        // may race with another reader of this end consuming a record published after a
        // writer-counter load, which would look like "read ahead of written". Acquire on the
        // private words pairs with the Release stores of that reader's `consume`, which came
        // after it saw the writer's counters; the writer's counters below are then at least
        // those (only a withdrawal lowers them, never below what was read).
        let br = self.mine(R_BYTES).load(Acquire);
        let mr = self.mine(R_MSGS).load(Acquire);
        // Acquire: pairs with the writer's Release counter updates; only compared here.
        let bw = w.bytes_written.load(Acquire);
        let mw = w.msgs_written.load(Acquire);
        let unread = check_counter(br, bw)?;
        let msgs = check_counter(mr, mw)?;
        let mid_msg = self.mine(R_LEFT).load(Relaxed) != AT_HEADER;
        Ok((unread, msgs > 0 || unread > 0 || mid_msg))
    }

    /// Whether unread data (or an empty message) waits in this end's inbound queue.
    pub(crate) fn inbound_pending(&self) -> QResult<bool> {
        Ok(self.unread_rx()?.1)
    }

    /// Moves our cursor: `head`, the rest of the current record (`AT_HEADER` at a boundary),
    /// payload bytes and records consumed, and where the current record started. Publishes the
    /// new values and wakes writers. Needs the reader lock.
    #[inline]
    pub(super) fn consume(
        &self,
        dir: usize,
        head: u64,
        left: u64,
        bytes: u64,
        msgs: u64,
        rec: u64,
    ) {
        self.consume_unnotified(dir, head, left, bytes, msgs, rec);
        self.notify(dir, Wake::Space);
    }

    /// [`Conn::consume`] without the wake-up of writers: the caller wakes them when it
    /// releases the reader lock (`Conn::release_and_notify`), as the usual read does.
    #[inline(always)]
    pub(super) fn consume_unnotified(
        &self,
        dir: usize,
        head: u64,
        left: u64,
        bytes: u64,
        msgs: u64,
        rec: u64,
    ) {
        let r = &self.ring(dir).r.0;
        // Relaxed: private words under the reader lock, which orders them for the next reader.
        self.mine(R_REC).store(rec, Relaxed);
        self.mine(R_LEFT).store(left, Relaxed);
        self.mine(R_HEAD).store(head, Relaxed);
        r.msg_left.store(left, Relaxed);
        // SYNC POINT with the Acquire loads of `head` in `free_space`: the writer may reuse
        // the space.
        r.head.store(head, Release);
        // Saturating: the amounts are bounded by what the ring holds, but a peer that keeps
        // closing and reopening could in principle push a sum that far.
        if bytes != 0 {
            let br = self.mine(R_BYTES).load(Relaxed).saturating_add(bytes);
            self.mine(R_BYTES).store(br, Release);
            r.bytes_read.store(br, Release);
        }
        if msgs != 0 {
            let mr = self.mine(R_MSGS).load(Relaxed).saturating_add(msgs);
            self.mine(R_MSGS).store(mr, Release);
            r.msgs_read.store(mr, Release);
        }
    }

    /// Reads from the inbound ring. Message mode returns at most the rest of the current message
    /// (`left` > 0 means ERROR_MORE_DATA, W67); byte mode gathers across messages (W58, W60).
    /// `nonblocking` never waits, neither for data nor for another reader of this end.
    pub(crate) fn read(
        &self,
        buf: &mut [u8],
        message_mode: bool,
        nonblocking: bool,
        deadline: Option<Instant>,
    ) -> QResult<ReadOut> {
        // A blocking read clears the thread's [`WROTE`] as it begins, and sets it again if it
        // ends without data: one access to the thread-local per read (each costs a call to
        // `__tls_get_addr` in libnpipe), where clearing it in `consume` took a second one.
        let wrote = !nonblocking && WROTE.replace(false);
        let r = self.read_paced(buf, message_mode, nonblocking, deadline, wrote);
        if wrote && r.is_err() {
            wrote_set();
        }
        r
    }

    /// [`Conn::read`]'s work; `wrote` is what [`WROTE`] said when it began. Folded into its
    /// one caller (left apart, the link-time inliner of the installed library's build outlines
    /// the reader lock and the connection's closure around it).
    #[inline(always)]
    fn read_paced(
        &self,
        buf: &mut [u8],
        message_mode: bool,
        nonblocking: bool,
        deadline: Option<Instant>,
        wrote: bool,
    ) -> QResult<ReadOut> {
        let dir = self.side.rx();
        let ring = self.ring(dir);
        // What this read waits for (see `wait_on`), and the count of waiting readers' buffers
        // that nonblocking writers look at (W109) while it waits.
        let arrived = |c: &Conn| -> QResult<bool> {
            c.link_check()?;
            Ok(c.has_data(dir)? || c.peer_closed()?)
        };
        let want = &ring.r.0.reader_want;
        // Whether this read has had its spin: once, holding the lock (below).
        let mut spun = nonblocking;
        // Set when that spin ended on data: its last look passed the link check and found a
        // record, under the lock this read still holds, so nobody has taken it since.
        let mut found = false;
        loop {
            if !nonblocking {
                self.pace(wrote);
            }
            {
                let g = self.lock_side(RX_LOCK, deadline, nonblocking)?;
                loop {
                    // The spin's look was an instant ago: a busy round trip's answer goes
                    // from its arrival to the caller without the two looks again.
                    let fresh = std::mem::take(&mut found);
                    if message_mode {
                        if let Some(r) = self.read_quick(dir, buf) {
                            self.release_and_notify(g, dir, Wake::Space);
                            return Ok(r);
                        }
                    }
                    if !fresh {
                        self.link_check()?;
                    }
                    // What the dead or closed writer left unfinished is not data.
                    self.recheck_pending_last(dir, !message_mode)?;
                    self.drop_if_peer_gone(dir)?;
                    // Inside a record, a withdrawal shows only in `cut_rec`; at a boundary the
                    // reads below skip withdrawn records themselves.
                    // Relaxed: private, under the reader lock.
                    let inside = self.mine(R_LEFT).load(Relaxed) != AT_HEADER;
                    if inside {
                        self.skip_withdrawn(dir)?;
                    }
                    // A record found at a boundary is still there unless the writer's end is
                    // gone now (then `drop_if_peer_gone` may have dropped it).
                    if (fresh && !inside && !self.peer_gone()?) || self.has_data(dir)? {
                        let r = if message_mode {
                            self.read_message(dir, buf, deadline)?
                        } else {
                            self.read_bytes(dir, buf)?
                        };
                        match r {
                            Some(r) => return Ok(r),
                            // Everything there was withdrawn (or dropped): look again.
                            None => continue,
                        }
                    }
                    // A read that has to wait: the writer is not ahead of this end (see `pace`).
                    // Relaxed: a process-local scheduling hint.
                    if !self.read_waited.load(Relaxed) {
                        self.read_waited.store(true, Relaxed);
                    }
                    // Nothing to read. A blocking read spins for its data here, keeping the
                    // lock, so the record that ends the spin is read at once: giving the lock
                    // up and taking it again would cost the answer of a busy peer two more
                    // atomic operations and these checks again. Another reader of this end
                    // waits meanwhile, as it would for a read in progress.
                    if spun {
                        break;
                    }
                    spun = true;
                    let Some(yielding) = self.spin_plan(dir, Wake::Data) else {
                        break;
                    };
                    // Relaxed: a statistic for nonblocking writers that only the reader lock's
                    // holder writes, see ReaderLine::spin_want.
                    ring.r.0.spin_want.store(buf.len() as u64, Relaxed);
                    let moving = self.moving(dir, Wake::Data);
                    let r = self.spin(deadline, yielding, 1, moving, &mut |c: &Conn| {
                        c.link_check()?;
                        found = c.has_data(dir)?;
                        Ok(found || c.peer_closed()?)
                    });
                    ring.r.0.spin_want.store(0, Relaxed);
                    if !r? {
                        found = false;
                        break;
                    }
                }
                match self.found_nothing(dir)? {
                    Nothing::Wait => {}
                    // Published just before the close: read under the lock again.
                    Nothing::Again => continue,
                    Nothing::End => return Err(QErr::PeerClosed),
                }
            }
            if nonblocking {
                if self.rearm_for_read()? {
                    continue;
                }
                // A peer that died left its state OPEN: only its socket tells.
                if self.probe_hup() {
                    continue;
                }
                return Err(QErr::WouldBlock);
            }
            // Release: a nonblocking writer that sees this count (Acquire) sees the spin's
            // `spin_want` cleared before it, so it never counts this read twice (a statistic
            // for nonblocking writers, see ReaderLine::reader_want).
            want.fetch_add(buf.len() as u64, Release);
            let r = self.wait_after(dir, Wake::Data, deadline, spun, arrived);
            want.fetch_sub(buf.len() as u64, Relaxed);
            r?;
        }
    }

    /// Message read, with the reader lock held and, as a look found, at least one record (or
    /// part) present. `None` when what was there turned out to be withdrawn, or is not there
    /// after all (a hostile peer's records dropped since that look): look again.
    pub(super) fn read_message(
        &self,
        dir: usize,
        buf: &mut [u8],
        deadline: Option<Instant>,
    ) -> QResult<Option<ReadOut>> {
        let mut v = self.view_hint(dir)?;
        if v.left == AT_HEADER && v.tail < self.hdr_pos(dir, v.head, v.tail)? + REC_HDR {
            v = self.view(dir)?;
            if v.tail < self.hdr_pos(dir, v.head, v.tail)? + REC_HDR {
                // No record after all (a peer that said it closed, and its records were
                // dropped, then said it was open again): nothing to read, look again.
                return Ok(None);
            }
        }
        let mut head = v.head;
        let mut left = v.left;
        if left == AT_HEADER {
            let h = self.hdr_pos(dir, head, v.tail)?;
            let (len, flags) = self.record_at(dir, h)?;
            if flags & FLAG_CUT != 0 {
                return self.skip_withdrawn(dir).map(|_| None);
            }
            let end = record_end(h, len);
            let mut tail = v.tail;
            if len <= buf.len() as u64 && tail < end {
                // The cached tail may be behind: look at the published one.
                tail = self.view(dir)?.tail;
            }
            if len <= buf.len() as u64 && tail >= end {
                // The whole message is there and fits: one copy, one consume. `tail >= end`
                // with a checked tail bounds `len` by the ring.
                self.copy_out(dir, h + REC_HDR, &mut buf[..len as usize])?;
                // A write cancelled while we copied it (W98): not delivered after all.
                // Acquire: pairs with the Release store of `cut_rec` in `mark_cut`.
                if self.ring(dir).c.0.cut_rec.load(Acquire) == h {
                    // The writer marks the header before it names the record in `cut_rec`
                    // (and we are at the header, so it was not overwritten): a header without
                    // the mark is the peer's doing, and skipping would find nothing to skip.
                    if self.record_at(dir, h)?.1 & FLAG_CUT == 0 {
                        return Err(QErr::Corrupt("withdrawn record not marked"));
                    }
                    return self.skip_withdrawn(dir).map(|_| None);
                }
                // A cancel that comes after this look (the claim settles which came first).
                if !self.claim_delivery(dir, h, flags & FLAG_PENDING != 0, true, 0) {
                    return self.skip_lost(dir, end, len).map(|_| None);
                }
                self.consume(dir, end, AT_HEADER, len, 1, NO_REC);
                return Ok(Some(ReadOut {
                    n: len as usize,
                    left: 0,
                }));
            }
            head = h + REC_HDR;
            left = len;
            self.set_reading_pending(flags & FLAG_PENDING != 0);
            self.consume(dir, head, left, 0, 0, h);
        }
        let want = (buf.len() as u64).min(left) as usize;
        let mut got = 0usize;
        while got < want {
            if self.current_withdrawn(dir) {
                // The writer died or gave up in the middle of this message: its unread rest is
                // withdrawn (W98, W103), including what this call copied so far, which the
                // caller never saw. The read goes on with the next message.
                self.skip_withdrawn(dir)?;
                return Ok(None);
            }
            let v = self.view(dir)?;
            // At most a quarter of the ring per copy, consumed at once: the writer refills
            // behind us while we copy the next quarter (copying all that is there before
            // consuming any of it would make the two sides take turns).
            let avail = check_tail(v.tail, head, self.caps[dir])?
                .min((want - got) as u64)
                .min(STREAM_CHUNK) as usize;
            if avail == 0 {
                // The writer is still streaming this message: wait for more (W126 large writes),
                // as much as it publishes at a time at this point of the message (see
                // `stream_piece`) when that much is still to come.
                // Relaxed: private, under the reader lock.
                let rec = self.mine(R_REC).load(Relaxed);
                let done = head.saturating_sub(rec.saturating_add(REC_HDR));
                let batch = self.stream_batch(dir, done, (want - got) as u64).max(1);
                let r = self.wait_on_uncancellable(dir, Wake::Data, deadline, |c| {
                    // The writer's state before the view: a close seen here came after all it
                    // published, which the view then shows (a reply streamed in whole and the
                    // handle closed at once is read whole, not dropped as torn); a close after
                    // it wakes this wait again.
                    let gone = c.peer_gone()?;
                    let v = c.view(dir)?;
                    if check_tail(v.tail, head, c.caps[dir])? >= batch || c.current_withdrawn(dir) {
                        return Ok(true);
                    }
                    #[cfg(test)]
                    close_race_tests::before_close_check();
                    c.link_check()?;
                    if gone {
                        return Err(QErr::PeerClosed);
                    }
                    Ok(false)
                });
                match r {
                    Ok(()) => continue,
                    // The writer's end is gone in the middle of the message, which will never
                    // be complete: its unread part is gone (W102, W103), and so is what this
                    // call copied of it, which the caller never saw.
                    Err(QErr::PeerClosed) => {
                        self.drop_dead_record(dir)?;
                        return Ok(None);
                    }
                    // Hand back what we have; the rest stays as the remainder of the message.
                    Err(_) if got > 0 => break,
                    Err(e) => return Err(e),
                }
            }
            self.copy_out(dir, head, &mut buf[got..got + avail])?;
            if self.current_withdrawn(dir) {
                // Withdrawn while we copied: see the whole-message case above.
                self.skip_withdrawn(dir)?;
                return Ok(None);
            }
            got += avail;
            head += avail as u64;
            left -= avail as u64;
            let done = left == 0;
            // Relaxed: private, under the reader lock.
            let rec = self.mine(R_REC).load(Relaxed);
            if done && !self.claim_delivery(dir, rec, self.reading_pending(), false, 0) {
                // Withdrawn after our last look (see the whole-message case above): this
                // piece was not consumed yet.
                self.skip_lost(dir, head, avail as u64)?;
                return Ok(None);
            }
            let rec = if done { NO_REC } else { rec };
            self.consume(
                dir,
                head,
                if done { AT_HEADER } else { left },
                avail as u64,
                done as u64,
                rec,
            );
        }
        if left == 0 {
            if want == 0 {
                // An empty message read by any buffer (W76).
                self.consume(dir, head, AT_HEADER, 0, 1, NO_REC);
            }
            return Ok(Some(ReadOut { n: got, left: 0 }));
        }
        Ok(Some(ReadOut { n: got, left }))
    }

    /// Byte-mode read, with the reader lock held: gathers up to `buf.len()` of the available
    /// bytes across records, consuming empty messages on the way (W60, W76) and skipping
    /// withdrawn ones. `None` when what was there turned out to be withdrawn.
    pub(super) fn read_bytes(&self, dir: usize, buf: &mut [u8]) -> QResult<Option<ReadOut>> {
        let (avail, _) = self.unread_rx()?;
        // The writer's state before the view, as in `found_nothing`: a close seen here came
        // after everything the view shows, so the cut at what the closed writer completed is
        // made on a view that has all of it. Read after the view, a writer that published the
        // rest of a write, completed it and closed in between had that write cut off as
        // unfinished at the view's stale tail, and the read returned zero bytes (W113).
        let gone = self.peer_gone()?;
        if gone && self.drop_dead_record(dir)? {
            // What the closed writer never finished began at our position (a close after the
            // read's checks): it is gone, look again (the next record, or the end of the
            // data); never a zero-byte read of nothing.
            return Ok(None);
        }
        let v = self.view(dir)?;
        #[cfg(test)]
        close_race_tests::before_close_check();
        let (v, avail) = self.readable_after_close(dir, v, avail, gone)?;
        let target = (buf.len() as u64).min(avail) as usize;
        let (tail, mut head, mut left) = (v.tail, v.head, v.left);
        // Relaxed: private, under the reader lock.
        let mut rec = self.mine(R_REC).load(Relaxed);
        let mut n = 0usize;
        let mut msgs = 0u64;
        let mut skipped = 0u64;
        // What consumes before the last one took: bytes of `n`, whether anything was skipped
        // or completed at all.
        let (mut n_consumed, mut any_skipped, mut any_msgs) = (0usize, false, false);
        // Whether the record being copied began in this call (its header is not consumed), and
        // whether it was published pending.
        let mut fresh = false;
        let mut pend = self.reading_pending();
        loop {
            if left == AT_HEADER {
                let h = self.hdr_pos(dir, head, tail)?;
                if tail < h + REC_HDR {
                    break;
                }
                let (len, flags) = self.record_at(dir, h)?;
                if flags & FLAG_CUT != 0 {
                    // Withdrawn: skip it whole (its bytes are published, so `end <= tail`).
                    let end = record_end(h, len);
                    if end > tail {
                        return Err(QErr::Corrupt("withdrawn record beyond the tail"));
                    }
                    head = end;
                    skipped += len;
                    msgs += 1;
                    continue;
                }
                head = h + REC_HDR;
                left = len;
                rec = h;
                fresh = true;
                pend = flags & FLAG_PENDING != 0;
            }
            let c = (left.min(tail - head) as usize).min(target - n);
            if c > 0 {
                self.copy_out(dir, head, &mut buf[n..n + c])?;
            }
            n += c;
            head += c as u64;
            left -= c as u64;
            if left == 0 {
                if !self.claim_delivery(dir, rec, pend, fresh, msgs) {
                    // Withdrawn after this read looked at it (W98): what this call copied of
                    // it is not delivered, and counts as skipped.
                    n -= c;
                    skipped += c as u64;
                }
                left = AT_HEADER;
                rec = NO_REC;
                msgs += 1;
                if pend {
                    // A claimed record is consumed before the read claims another: the writer
                    // finds the reader's claim, or its count past the record, for each one.
                    let bytes = (n - n_consumed) as u64 + skipped;
                    self.consume(dir, head, AT_HEADER, bytes, msgs, NO_REC);
                    (n_consumed, any_skipped, any_msgs) = (n, any_skipped || skipped > 0, true);
                    (skipped, msgs) = (0, 0);
                }
            } else if c == 0 {
                break;
            }
            if n >= target {
                break;
            }
        }
        if left != AT_HEADER {
            self.set_reading_pending(pend);
        }
        self.consume(
            dir,
            head,
            left,
            (n - n_consumed) as u64 + skipped,
            msgs,
            rec,
        );
        let (skipped, msgs) = (any_skipped || skipped > 0, any_msgs || msgs > 0);
        if n == 0 && (skipped || !msgs) && target > 0 {
            return Ok(None);
        }
        Ok(Some(ReadOut { n, left: 0 }))
    }

    /// Size of the next inbound message (`None` when nothing is queued) and the number of
    /// queued messages (GetMailslotInfo, W150).
    pub(crate) fn next_message(&self) -> QResult<(Option<u64>, u64)> {
        let dir = self.side.rx();
        let ring = self.ring(dir);
        let _g = self.lock_side(RX_LOCK, None, false)?;
        self.drop_if_peer_gone(dir)?;
        let View { tail, head, left } = self.skip_withdrawn(dir)?;
        let next = if left != AT_HEADER {
            Some(left)
        } else if tail >= self.hdr_pos(dir, head, tail)? + REC_HDR {
            Some(self.record_at(dir, self.hdr_pos(dir, head, tail)?)?.0)
        } else {
            None
        };
        // Acquire: pairs with the Release counter updates; only compared here.
        let mw = ring.w.0.msgs_written.load(Acquire);
        // Relaxed: private, under the reader lock.
        let count = check_counter(self.mine(R_MSGS).load(Relaxed), mw)?;
        // A record is published after its count: never report fewer messages than are visible.
        Ok((next, count.max(next.is_some() as u64)))
    }

    /// Reads one whole inbound message into `buf`, waiting until `deadline` for one to arrive
    /// (mailslot reads, W145-W151). A buffer smaller than the message gives `TooSmall` and
    /// consumes nothing.
    pub(crate) fn read_whole(&self, buf: &mut [u8], deadline: Option<Instant>) -> QResult<usize> {
        let dir = self.side.rx();
        loop {
            {
                let _g = self.lock_side(RX_LOCK, deadline, false)?;
                self.link_check()?;
                self.drop_if_peer_gone(dir)?;
                let v = self.skip_withdrawn(dir)?;
                if self.has_data(dir)? {
                    let len = if v.left != AT_HEADER {
                        v.left
                    } else {
                        self.record_at(dir, self.hdr_pos(dir, v.head, v.tail)?)?.0
                    };
                    if (buf.len() as u64) < len {
                        return Err(QErr::TooSmall(len));
                    }
                    if let Some(r) = self.read_message(dir, buf, deadline)? {
                        return Ok(r.n);
                    }
                    continue;
                }
            }
            self.wait_on(dir, Wake::Data, deadline, |c| {
                c.link_check()?;
                c.has_data(dir)
            })?;
        }
    }

    /// Waits for one whole inbound message and returns it in place (message-type pipes). A
    /// message larger than the ring, or one already partly read, gives `TooSmall` with its
    /// remaining length: read it with [`Conn::read`].
    pub(crate) fn read_in_place(self: &Arc<Self>, deadline: Option<Instant>) -> QResult<InPlace> {
        let dir = self.side.rx();
        // Set once the peer was seen closed: one more look under the lock (a record published
        // just before the close counts), then nothing more can come.
        let mut peer_gone = false;
        loop {
            let g = self.lock_side(RX_LOCK, deadline, false)?;
            self.link_check()?;
            self.drop_if_peer_gone(dir)?;
            let View { tail, head, left } = self.skip_withdrawn(dir)?;
            if left != AT_HEADER {
                return Err(QErr::TooSmall(left));
            }
            let h = self.hdr_pos(dir, head, tail)?;
            let complete = if tail >= h + REC_HDR {
                let (len, flags) = self.record_at(dir, h)?;
                if REC_HDR + len > self.caps[dir] {
                    return Err(QErr::TooSmall(len));
                }
                (tail >= record_end(h, len)).then_some((len, flags & FLAG_PENDING != 0))
            } else {
                None
            };
            if let Some((len, pending)) = complete {
                if !self.claim_delivery(dir, h, pending, true, 0) {
                    self.skip_lost(dir, record_end(h, len), len)?;
                    continue;
                }
                std::mem::forget(g);
                return Ok(InPlace {
                    conn: self.clone(),
                    dir,
                    start: h + REC_HDR,
                    len,
                    _thread: std::marker::PhantomData,
                });
            }
            drop(g);
            if peer_gone {
                // A record still incomplete after the peer closed never completes (the unread
                // counters may say otherwise: the peer writes them).
                return Err(QErr::PeerClosed);
            }
            if self.peer_closed()? {
                peer_gone = true;
                continue;
            }
            self.wait_on(dir, Wake::Data, deadline, |c| {
                c.link_check()?;
                let v = c.view(dir)?;
                if v.left != AT_HEADER {
                    return Ok(true);
                }
                let h = c.hdr_pos(dir, v.head, v.tail)?;
                if v.tail < h + REC_HDR {
                    return c.peer_closed();
                }
                let (len, flags) = c.record_at(dir, h)?;
                Ok(flags & FLAG_CUT != 0
                    || v.tail >= record_end(h, len)
                    || REC_HDR + len > c.caps[dir]
                    || c.peer_closed()?)
            })?;
        }
    }
}
