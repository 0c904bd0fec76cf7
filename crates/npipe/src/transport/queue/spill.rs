//! Pages beyond the record window: a connection's ring is at least `SPILL_RING` long so large
//! messages stream through that much address space whatever the quota, while small records
//! stay in the first `win` bytes of each lap (see `ConnHeader::ring_win`). This file notes when
//! a writer touches the pages beyond the window and gives them back once the connection has
//! been idle for a while, so an idle connection costs no more memory than its window. It
//! touches the writer's private state under the writer lock and the ring's published `head`;
//! the release itself runs on the hang-up watcher's thread (`transport::watch`).

use std::sync::atomic::Ordering::*;

use super::{Conn, REC_HDR, TX_LOCK, W_REC, W_TAIL};
use crate::sys;

/// How long an end's outbound ring must go without a record beyond its window before the
/// pages beyond the window are given back (a stream of large messages keeps them).
pub(crate) const SPILL_IDLE_MS: u64 = 1000;

/// What a small record that starts inside the window may write beyond it: the pages given
/// back start after this, so small-message traffic alone never lists a connection.
const OVERHANG: u64 = 4096;
const _: () = assert!(super::SMALL_RECORD + REC_HDR + 8 <= OVERHANG);

/// What [`Conn::release_spill`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spill {
    /// Nothing (left) to give back.
    Done,
    /// Not yet: in use lately, data still unread, or a writer busy; ask again later.
    Later,
}

impl Conn {
    /// Notes a record written at `h` with `len` payload bytes (writer lock held): when it
    /// reaches beyond the window, the end is marked as holding pages to give back, and the
    /// watcher is told once. Inlined: every write asks, and a small record's answer is no.
    #[inline(always)]
    pub(super) fn note_spill(&self, dir: usize, h: u64, len: u64) {
        let (cap, win) = (self.caps[dir], self.wins[dir]);
        if win >= cap || (h & (cap - 1)) + REC_HDR + len <= win + OVERHANG {
            return;
        }
        self.spilled();
    }

    /// [`Conn::note_spill`] for a record beyond the window (large messages only).
    #[inline(never)]
    fn spilled(&self) {
        // SeqCst with `spill_unlisted`: either it sees this timestamp, or we see the flag
        // cleared and list the connection again.
        self.spilled_at.store(sys::monotonic_ms().max(1), SeqCst);
        if !self.spill_listed.swap(true, SeqCst) {
            // The watcher gives the pages back: it must know the connection.
            self.watch_now();
            // Acquire: pairs with `set_watch_token`.
            super::super::watch::spilled(self.watch_token.load(Acquire));
        }
    }

    /// Called by the watcher, under its lock, when it takes the connection off its list:
    /// returns false (and keeps it listed) if a record beyond the window was written since.
    pub(crate) fn spill_unlisted(&self) -> bool {
        self.spill_listed.store(false, SeqCst);
        if self.spilled_at.load(SeqCst) != 0 {
            self.spill_listed.store(true, SeqCst);
            return false;
        }
        true
    }

    /// Gives back the outbound ring's pages beyond its window if the end has written nothing
    /// beyond it for [`SPILL_IDLE_MS`], nothing is in flight (no record streaming, the reader
    /// has taken everything) and no writer of this end holds the lock.
    pub(crate) fn release_spill(&self) -> Spill {
        let dir = self.side.tx();
        // Relaxed: see `note_spill`; re-checked under the lock.
        let at = self.spilled_at.load(Relaxed);
        if at == 0 {
            return Spill::Done;
        }
        if sys::monotonic_ms().saturating_sub(at) < SPILL_IDLE_MS {
            return Spill::Later;
        }
        let Ok(_g) = self.lock_side(TX_LOCK, None, true) else {
            return Spill::Later;
        };
        // Relaxed: private words, under the writer lock we hold.
        let tail = self.mine(W_TAIL).load(Relaxed);
        let streaming = self.mine(W_REC).load(Relaxed) != super::NO_REC;
        // Acquire: pairs with the reader's Release store of `head` in `consume`: the reader
        // is done with every byte before it.
        let head = self.ring(dir).r.0.head.load(Acquire);
        if streaming || head != tail || self.spilled_at.load(Relaxed) != at {
            return Spill::Later;
        }
        let (cap, win) = (self.caps[dir], self.wins[dir]);
        let base = super::HEADER_BYTES + if dir == 1 { self.caps[0] as usize } else { 0 };
        let keep = (win + OVERHANG) as usize;
        // SAFETY: the range is this end's outbound ring beyond its window and overhang. Its
        // bytes are unused: the reader has taken everything written (head == tail), no record
        // is being streamed, and we hold the writer lock, so no writer of this end (in any
        // thread or process) writes there before we let go; a reservation or a pinned write
        // would hold that lock. The next write that goes there finds zeroed pages, as a fresh
        // ring.
        unsafe { self.map.discard(base + keep, cap as usize - keep) };
        // SeqCst: see `note_spill`.
        self.spilled_at.store(0, SeqCst);
        Spill::Done
    }
}
