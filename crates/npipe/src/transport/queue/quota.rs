//! When a write completes and when a flush returns: the quota wait of a write whose bytes are
//! in the ring (W90-W93: complete once the unread bytes before it and its own fit the quota),
//! the `done_to` mark that says which writes have completed (W102, W103), and FlushFileBuffers
//! (W94, W95: until the reader has read everything, or all that is left is a cancelled write).
//!
//! Reads only the reader's published counters and this side's private words; writes only
//! `done_to` and process-local caches (`read_seen`). Every decision that a reader's close or
//! this end's close could change looks once more after it (see `quota_unmet`,
//! `count_is_reads`).

use std::sync::atomic::Ordering::*;
use std::time::{Duration, Instant};

use super::*;

/// Pause instructions between two looks at the reader's counters while a write spins for its
/// quota (see `finish_write`).
const QUOTA_GAP: u32 = 16;
/// How long a write spinning for its quota waits, once the quota is met, for a batch beyond it
/// (see `finish_write`).
const BATCH_WAIT: Duration = Duration::from_micros(10);

impl Conn {
    /// Whether everything still unread in the outbound ring is writes withdrawn while they
    /// were pending (cancelled writes, W98, listed in `gone`): the reader has read every
    /// message before and between them, and nothing was written after them. The pipe is empty
    /// then as FlushFileBuffers sees it, which returns TRUE when the queue empties because its
    /// pending writes are cancelled (W95), whether or not anybody reads. Cancels beyond what
    /// the list holds keep the flush waiting for the reader to skip them.
    fn only_withdrawn_unread(&self, dir: usize) -> bool {
        let r = &self.ring(dir).r.0;
        // Acquire: pairs with the Release publish in `consume`.
        let br = r.bytes_read.load(Acquire);
        let mr = r.msgs_read.load(Acquire);
        // Relaxed: private words; a write another thread of this end makes meanwhile makes
        // this false, and the flush waits for the reader.
        let bw = self.mine(W_BYTES).load(Relaxed);
        let mw = self.mine(W_MSGS).load(Relaxed);
        let g = self.gone_unread(dir, br, u64::MAX);
        g.msgs > 0 && bw.checked_sub(br) == Some(g.bytes) && mw.checked_sub(mr) == Some(g.msgs)
    }

    /// Unread bytes of the outbound ring and whether anything at all (data or an empty
    /// message) is still unread there: our own counters against the reader's published ones.
    pub(super) fn unread_tx(&self) -> QResult<(u64, bool)> {
        let dir = self.side.tx();
        let r = &self.ring(dir).r.0;
        // The reader's counters first. Callers may not hold the writer lock, and another
        // writer of this end may publish a record that the reader consumes at once: with our
        // own counters read first, that record would be in the reader's count and not in ours,
        // a false "corrupt" (the adversarial suite hit it once 300 KB records fitted the ring).
        // Acquire: pairs with the reader's Release publish in `consume`, which came after the
        // reader saw the records it counts, published after our private stores: the loads
        // below see at least those.
        let br = r.bytes_read.load(Acquire);
        let mr = r.msgs_read.load(Acquire);
        // Relaxed: private words, ordered by the Acquire loads above.
        let bw = self.mine(W_BYTES).load(Relaxed);
        let mw = self.mine(W_MSGS).load(Relaxed);
        let unread = check_counter(br, bw)?;
        let msgs = check_counter(mr, mw)?;
        Ok((unread, unread > 0 || msgs > 0))
    }

    /// What the reader of ring `dir` has taken, as the quota of a write whose bytes end at
    /// `upto` (`bytes_written` through it) sees it, also kept in `read_seen`. SYNC POINT with
    /// the Release update of `bytes_read` in `consume`. A reader that claims more than was
    /// written is caught by `unread_tx`; for a quota wait a larger value only ends the wait
    /// early, as the reader could by reading.
    pub(super) fn look_read(&self, dir: usize, upto: u64) -> u64 {
        let br = self.ring(dir).r.0.bytes_read.load(Acquire);
        let br = self.count_withdrawn(dir, br, upto);
        // Relaxed: a process-local cache.
        self.read_seen.fetch_max(br, Relaxed);
        br
    }

    /// The reader's count `br` of ring `dir` with the bytes of writes cancelled while
    /// pending counted as taken, until the reader passes them: they leave the pipe at the
    /// cancel (W98), so the writes queued behind them wait only for what is really before them
    /// (W92: after the cancel of a large pending write, a 1-byte write behind it fits the
    /// quota at once) and a write after the cancel does not wait for the reader to skip them.
    /// The reader counts them when it skips them, so the count only ever grows. A write before
    /// a cancelled one (`upto` short of its end) does not count it: it is not in front of that
    /// write, and counted it would complete the write while its own bytes are still unread
    /// beyond its quota.
    fn count_withdrawn(&self, dir: usize, br: u64, upto: u64) -> u64 {
        br.saturating_add(self.gone_unread(dir, br, upto).bytes)
    }

    /// Why a write waiting for its quota (or a flush) cannot go on waiting: the link or the
    /// counters are broken, or the reader has gone.
    pub(super) fn quota_broken(&self) -> QResult<()> {
        self.link_check()?;
        if self.peer_closed()? {
            return Err(QErr::Broken);
        }
        self.unread_tx()?;
        Ok(())
    }

    /// For a wait that found the quota unmet (the reader had taken less than `target` of ring
    /// `dir`): `Ok(false)` to go on waiting, `Ok(true)` if the quota is met after all, else why
    /// the write fails. A reader that takes what meets the quota and closes at once can do
    /// both between the look that found the quota unmet and the check (a thread can be
    /// preempted there); it published its count before it closed, so one more look after a
    /// failed check decides (W91: a write whose quota was met has completed).
    pub(super) fn quota_unmet(&self, dir: usize, target: u64, upto: u64) -> QResult<bool> {
        match self.quota_broken() {
            Ok(()) => Ok(false),
            Err(e) => match self.quota_reached(dir, target, upto)? {
                true => Ok(true),
                false => Err(e),
            },
        }
    }

    /// Whether the reader of ring `dir` has taken `target` bytes, as a write's quota wait may
    /// count it (see [`Conn::count_is_reads`]).
    pub(super) fn quota_reached(&self, dir: usize, target: u64, upto: u64) -> QResult<bool> {
        if self.look_read(dir, upto) < target {
            return Ok(false);
        }
        self.count_is_reads()?;
        Ok(true)
    }

    /// Call after a look at the reader's count of the outbound ring that a write's quota wait
    /// (or a flush) would take as met: fails when this end's state is CLOSED, when the count
    /// may hold bytes the reader dropped rather than read. The reader drops a closed writer's
    /// pending writes (W98, W102, W103) and counts them as taken; a write that waited while
    /// another thread closed its end (CloseHandle) would take that for a read that met its
    /// quota and report complete a write the reader never got. It fails instead, as an
    /// operation of a closed handle. Loaded after the count, an OPEN state shows the count
    /// holds no drop: a reader drops only after it saw the close, so a count that holds a
    /// drop carries the close with it (Release/Acquire through the count).
    pub(super) fn count_is_reads(&self) -> QResult<()> {
        if self.state_of(self.side)? == CLOSED {
            self.link_check()?;
            return Err(QErr::Closed);
        }
        Ok(())
    }

    /// Whether a write whose record brought `bytes_written` to `bw` is complete as soon as
    /// its bytes are in the ring (W91): no quota to wait for, or the reader already took
    /// enough (by this process's last look).
    pub(super) fn quota_met(&self, bw: u64, len: u64, o: WriteOpts) -> bool {
        // Relaxed: a process-local cache of a value loaded with Acquire.
        !o.wait_quota
            || o.nonblocking
            || len == 0
            || self.read_seen.load(Relaxed) >= bw.saturating_sub(o.quota)
    }

    /// [`Conn::quota_met`] for a whole record about to be published by a blocking write, with
    /// one look at the reader's count when the cached one says no and the last look did not
    /// find the reader behind. A record whose write is not complete at its publish carries
    /// [`FLAG_PENDING`], and its reader pays for that: a claim (a compare-exchange) and, for
    /// the last record in the ring, a poll(2) of the control socket for a dead writer
    /// (`recheck_pending_last`). The cached count only moves at a look, so in a busy exchange
    /// at a 4 KiB quota the cache ran out about every 60 messages of 64 B, each of them
    /// flagged although the reader had taken everything, and the quota wait's look right after
    /// the publish found the quota met. This is that look, taken before the publish instead:
    /// the write completes at once when its quota is met (W91). When the reader is short of
    /// the quota wait's batch (`batch_target`), it counts as behind: later writes publish on
    /// the cache alone, and once that runs out flagged, until a quota wait's first look finds
    /// the batch taken: a writer that runs ahead of its reader looks at most once more each
    /// time it falls behind (each look pulls the reader's counters' line over; see
    /// `finish_write`). Needs the writer lock.
    #[inline]
    pub(super) fn quota_met_publishing(&self, dir: usize, bw: u64, len: u64, o: WriteOpts) -> bool {
        self.quota_met(bw, len, o) || self.quota_met_on_look(dir, bw, len, o)
    }

    /// The look of [`Conn::quota_met_publishing`], out of the write's way (once per batch).
    #[cold]
    #[inline(never)]
    fn quota_met_on_look(&self, dir: usize, bw: u64, len: u64, o: WriteOpts) -> bool {
        // Relaxed: a process-local hint.
        if self.reader_behind.load(Relaxed) {
            return false;
        }
        let br = self.look_read(dir, bw);
        self.reader_behind
            .store(br < batch_target(bw, len, o.quota), Relaxed);
        // The count may hold a drop rather than reads (see `count_is_reads`): the quota wait
        // decides that case, as before.
        br >= bw.saturating_sub(o.quota) && self.count_is_reads().is_ok()
    }

    /// Publishes that every write through the record ending at `end` has completed, with the
    /// writer lock held (records complete in lock order then, so a store is enough).
    pub(super) fn done_locked(&self, dir: usize, end: u64) {
        // Release: pairs with the Acquire load in `drop_dead_records`.
        self.ring(dir).w.0.done_to.store(end, Release);
    }

    /// The same for a write that completed after its quota wait, without the lock: a later
    /// write may have completed (and published a larger end) meanwhile.
    pub(super) fn done_late(&self, dir: usize, end: u64) {
        // Release: as in `done_locked`.
        self.ring(dir).w.0.done_to.fetch_max(end, Release);
    }

    /// The end of a write once its bytes are in the ring: W91-W93, complete once the unread
    /// bytes through this write fit the reader's quota.
    /// `my_end` is `bytes_written` through this write; `rec` is its record's position, end
    /// and `msgs_written` through it, for taking the message back when the wait is cancelled
    /// ([`crate::SyncCancel`]; as a cancelled overlapped write, W98: unless the reader had
    /// taken it, in which case the write completes).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn finish_write(
        &self,
        dir: usize,
        my_end: u64,
        (rec, rec_end, msgs): (u64, u64, u64),
        take: usize,
        len: u64,
        o: WriteOpts,
        deadline: Option<Instant>,
    ) -> QResult<usize> {
        if self.quota_met(my_end, len, o) {
            // The cached count too may hold a drop (see `count_is_reads`).
            self.count_is_reads()?;
            self.done_late(dir, rec_end);
            return Ok(take);
        }
        let r = &self.ring(dir).r.0;
        let target = my_end.saturating_sub(o.quota);
        let look = |c: &Conn| c.look_read(dir, my_end);
        // A broken link or a reader gone fails the wait only while the quota is not met (once
        // it is, the write has completed, W91): see `quota_unmet`.
        // While spinning on a reader that is taking records, wait for a batch beyond the quota
        // (half of it, at most up to this write's end) and look only every QUOTA_GAP pauses.
        // Every look pulls the reader's counters' line to this CPU, and the reader's next
        // consume then waits for it at its wake-up check's fence: looked at on every message,
        // a writer ahead of its reader halved the 64 B rate at small quotas. Once the quota is
        // met the write completes at the next look where the reader took nothing since the
        // last, where the link has broken, or after BATCH_WAIT; a spin that ends and a
        // sleeping wait check the quota itself.
        //
        // Only for writes small against the quota (`batch_target`).
        let batch = batch_target(my_end, len, o.quota);
        let br = look(self);
        // Relaxed: a process-local hint for `quota_met_publishing`.
        self.reader_behind.store(br < batch, Relaxed);
        if br >= batch {
            self.count_is_reads()?;
            self.done_late(dir, rec_end);
            return Ok(take);
        }
        self.note_writer_wait(dir);
        if let Some(yielding) = self.spin_plan(dir, Wake::Space) {
            let mut last = br;
            let mut met_at: Option<Instant> = None;
            let mut ready = |c: &Conn| -> QResult<bool> {
                let br = look(c);
                if br >= batch {
                    c.count_is_reads()?;
                    return Ok(true);
                }
                let paused = br == last;
                last = br;
                if br >= target {
                    c.count_is_reads()?;
                    let now = Instant::now();
                    let waited = now - *met_at.get_or_insert(now);
                    return Ok(paused || waited >= BATCH_WAIT || c.quota_broken().is_err());
                }
                c.quota_unmet(dir, target, my_end)
            };
            if self.spin(deadline, yielding, QUOTA_GAP, &r.head, &mut ready)? {
                self.done_late(dir, rec_end);
                return Ok(take);
            }
        }
        let r = self.wait_after(dir, Wake::Space, deadline, true, |c| {
            if c.quota_reached(dir, target, my_end)? {
                return Ok(true);
            }
            c.quota_unmet(dir, target, my_end)
        });
        match r {
            Ok(()) => {}
            // Cancelled: the message leaves the pipe unless the reader met the quota or took
            // it first (the write then completed, as in `write_abort`).
            Err(QErr::Cancelled)
                if !matches!(self.quota_reached(dir, target, my_end), Ok(true))
                    && self.withdraw_written(rec, rec_end, msgs, my_end) =>
            {
                return Err(QErr::Cancelled);
            }
            Err(QErr::Cancelled) => {}
            Err(e) => return Err(e),
        }
        self.done_late(dir, rec_end);
        Ok(take)
    }

    /// Waits until the peer has read everything this end wrote (FlushFileBuffers, W94-W95).
    pub(crate) fn flush(&self, deadline: Option<Instant>) -> QResult<()> {
        let dir = self.side.tx();
        self.link_check()?;
        if self.peer_closed()? {
            return Ok(());
        }
        self.wait_on(dir, Wake::Space, deadline, |c| {
            if !c.unread_tx()?.1 || c.only_withdrawn_unread(dir) {
                // Not a queue emptied by the reader dropping what this end left pending at
                // its close (see `count_is_reads`).
                c.count_is_reads()?;
                return Ok(true);
            }
            match c.quota_broken() {
                Ok(()) => Ok(false),
                // A reader that took the rest and closed between the two looks: the flush
                // was over (W94), as in `quota_unmet`.
                Err(_) if !c.unread_tx()?.1 => c.count_is_reads().map(|()| true),
                Err(e) => Err(e),
            }
        })
    }
}

/// What the reader's count must reach at the first look of a quota wait of a `len`-byte write
/// whose bytes end at `my_end` for the write to complete at once: a batch beyond the quota
/// (half of it, at most up to the write's end), so that the cached count then covers the
/// next writes (see `finish_write`). Only for writes small against the quota: a reader of
/// records as large as a quarter of it or more moves its count in steps that large, so the
/// batch would hold the write until the reader had taken its own record (or a look saw no
/// step), and the writer's next copy would no longer overlap the reader's. Such a write
/// completes at the first look that finds its quota met.
fn batch_target(my_end: u64, len: u64, quota: u64) -> u64 {
    let target = my_end.saturating_sub(quota);
    if len.saturating_mul(4) <= quota {
        target.saturating_add(quota / 2).min(my_end)
    } else {
        target
    }
}
