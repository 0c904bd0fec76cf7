//! A ring's bytes: where a record goes (`place`, skip markers, header positions), record
//! headers, the bounded copies in and out, and the cache-line prefetches around them. Touches
//! only the ring data area, through raw pointers bounded by the capacity fixed at attach time
//! (the module invariants in `mod.rs`); the cursors and locks are the callers'.

use super::*;

impl Conn {
    /// Starts taking back the ring lines of the next small record, which goes where
    /// [`Conn::place`] puts one after `end` (at `end`, or at the start of the next lap when
    /// `end` is past the window): the reader read those lines a lap ago and still holds them,
    /// and writing them would otherwise make the writer's next locked instruction wait for
    /// each transfer (see `sys::prefetch_for_write`). Only when `free`, the room known after
    /// this record, covers the lines, so lines holding unread records are never taken from the
    /// reader. A hint: touches no memory, and needs no lock (after the lock is released, so the
    /// unlock does not wait behind it).
    pub(super) fn prefetch_next(&self, dir: usize, end: u64, free: u64) {
        let span = 64 * PREFETCH_LINES;
        if free < span + REC_HDR {
            return;
        }
        let (h, _) = self.place(dir, end, 64);
        // From the first line boundary on: a line that holds the end of the record just
        // written is this writer's already, and a reader about to copy that record needs it.
        let first = h.next_multiple_of(64);
        if first - end + span > free {
            return;
        }
        let cap = self.caps[dir];
        let base = self.data_base(dir);
        for k in 0..PREFETCH_LINES {
            let off = ring_off(first + 64 * k, cap);
            // The pointer stays inside the ring (off < cap); the hint never faults anyway.
            sys::prefetch_for_write(base.wrapping_add(off));
        }
    }

    /// Starts fetching the first two lines of the record whose header is at `h` in ring `dir`:
    /// the header's line and the next, which a small record's payload ends in. Read one after
    /// the other (the header, then the payload it sizes), each would be a separate wait for a
    /// line the writer's CPU holds; asked for together, the two transfers overlap. A hint:
    /// touches no memory.
    #[inline(always)]
    pub(super) fn prefetch_record(&self, dir: usize, h: u64) {
        let cap = self.caps[dir];
        let base = self.data_base(dir);
        for k in 0..2 {
            let off = ring_off(h + 64 * k, cap);
            // The pointer stays inside the ring (off < cap); the hint never faults anyway.
            sys::prefetch_for_read(base.wrapping_add(off));
        }
    }

    /// Copies `src` into ring `dir` at position `pos` (wrapping). `Corrupt` (nothing copied)
    /// when `src` is longer than the ring, which no caller should ask for.
    #[inline(always)]
    pub(super) fn copy_in(&self, dir: usize, pos: u64, src: &[u8]) -> QResult<()> {
        let cap = self.caps[dir];
        if src.len() as u64 > cap {
            return Err(QErr::Corrupt("copy longer than the ring"));
        }
        let off = ring_off(pos, cap);
        let first = src.len().min(cap as usize - off);
        let base = self.data_base(dir);
        // SAFETY:
        // 1. off < cap and first <= cap - off, so [off, off+first) is inside the ring;
        // 2. the remainder src.len() - first <= cap - first starts at the ring base and
        //    ends at most at `off` (src.len() <= cap, checked above);
        // 3. src is a private buffer, so the ranges cannot overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), base.add(off), first);
            // Most copies do not wrap: no second call into memcpy for nothing.
            if first < src.len() {
                std::ptr::copy_nonoverlapping(src.as_ptr().add(first), base, src.len() - first);
            }
        }
        Ok(())
    }

    /// Copies ring bytes at `pos` (wrapping) into `dst`. `Corrupt` (nothing copied) when `dst`
    /// is longer than the ring: lengths always come from checked positions, so this only
    /// catches a bug, in every build.
    #[inline(always)]
    pub(super) fn copy_out(&self, dir: usize, pos: u64, dst: &mut [u8]) -> QResult<()> {
        let cap = self.caps[dir];
        if dst.len() as u64 > cap {
            return Err(QErr::Corrupt("copy longer than the ring"));
        }
        let off = ring_off(pos, cap);
        let first = dst.len().min(cap as usize - off);
        let base = self.data_base(dir);
        // SAFETY: the same bounds as `copy_in`; dst is private memory so nothing overlaps. The
        // peer may be writing these bytes only if it breaks the protocol, and then it only
        // changes what we copy, never where.
        unsafe {
            std::ptr::copy_nonoverlapping(base.add(off), dst.as_mut_ptr(), first);
            if first < dst.len() {
                std::ptr::copy_nonoverlapping(base, dst.as_mut_ptr().add(first), dst.len() - first);
            }
        }
        Ok(())
    }

    /// Reader side: where the record after a reader at `pos` starts, given the published
    /// `tail` (checked against `pos`): the next 8-aligned position, or the next lap when a
    /// skip marker sits there. A marker is honoured only beyond the ring's window and only
    /// exactly as a writer makes it; anything else with the flag is `Corrupt`.
    pub(super) fn hdr_pos(&self, dir: usize, pos: u64, tail: u64) -> QResult<u64> {
        let h = align8(pos);
        let cap = self.caps[dir];
        if h & (cap - 1) < self.wins[dir] || tail < h + REC_HDR {
            return Ok(h);
        }
        let raw = self.raw_header(dir, h);
        if (raw >> 32) as u32 & FLAG_SKIP == 0 {
            return Ok(h);
        }
        if raw != (FLAG_SKIP as u64) << 32 {
            return Err(QErr::Corrupt("malformed skip marker"));
        }
        Ok(next_lap(h, cap))
    }

    /// Writer side: where a record of `len` payload bytes goes after `tail`, and where its
    /// skip marker goes if it needs one: a small record (at most [`SMALL_RECORD`] bytes) that
    /// would start beyond the window goes to the next lap; larger records go on where the ring
    /// continues.
    pub(super) fn place(&self, dir: usize, tail: u64, len: u64) -> (u64, Option<u64>) {
        let a = align8(tail);
        let (cap, win) = (self.caps[dir], self.wins[dir]);
        if a & (cap - 1) >= win && len <= SMALL_RECORD && REC_HDR + len <= win {
            (next_lap(a, cap), Some(a))
        } else {
            (a, None)
        }
    }

    /// Writes the skip marker a [`Conn::place`] asked for (before the record's publish makes
    /// it visible). Needs the writer lock.
    pub(super) fn put_skip(&self, dir: usize, marker: Option<u64>) {
        if let Some(m) = marker {
            self.write_record_header(dir, m, 0, FLAG_SKIP);
        }
    }

    /// The raw header word at 8-aligned `pos`.
    #[inline(always)]
    pub(super) fn raw_header(&self, dir: usize, pos: u64) -> u64 {
        let off = ring_off(pos, self.caps[dir]) & !7;
        // SAFETY: off is 8-aligned and off + 8 <= cap (cap is a multiple of 8), so the read is in
        // bounds and aligned; a volatile read never assumes the peer left the bytes unchanged.
        unsafe { std::ptr::read_volatile(self.data_base(dir).add(off) as *const u64) }
    }

    /// Reads and checks the record header at 8-aligned `pos`: `(len, flags)`. A skip marker
    /// where a record starts is `Corrupt` (readers resolve markers with [`Conn::hdr_pos`]).
    #[inline(always)]
    pub(super) fn record_at(&self, dir: usize, pos: u64) -> QResult<(u64, u32)> {
        let (len, flags) = decode_record(self.raw_header(dir, pos))?;
        if flags & FLAG_SKIP != 0 {
            return Err(QErr::Corrupt("skip marker where a record starts"));
        }
        Ok((len, flags))
    }

    pub(super) fn write_record_header(&self, dir: usize, pos: u64, len: u64, flags: u32) {
        let off = ring_off(pos, self.caps[dir]) & !7;
        let raw = len | ((flags as u64) << 32);
        // SAFETY: as in `record_at`; the writer lock makes this thread the only writer of the
        // unpublished bytes past `tail` (and of a record it withdraws).
        unsafe { std::ptr::write_volatile(self.data_base(dir).add(off) as *mut u64, raw) };
    }
}
