//! Writes cancelled while pending (W98) whose records the reader has not passed yet: their
//! bytes left the pipe at the cancel, so quota waits and FlushFileBuffers count them as taken
//! (W92, W95) although the reader only skips them later. A list of [`GONE_SLOTS`] entries in
//! this side's private page, written under the writer lock by `withdraw_written`, read without
//! it by quota waits of any thread of this end (`count_withdrawn`, `only_withdrawn_unread`).
//!
//! `W_GONE_LAST` holds the largest `msgs_written` ever listed, so a look finds at once that the
//! reader has passed them all (or that nothing was ever listed). Each entry is three words:
//! `msgs_written` through the record (0 for an empty slot), then `W_BYTES` through it and its
//! length. The first word doubles as the entry's version: the writer clears it before it
//! changes the other two and stores it last, and a reader that finds it changed across its
//! look skips the entry. Skipping counts less as taken, which only makes a wait longer; a
//! writer that dies in the middle leaves an empty slot, never a reader stuck. Only the reader's
//! published `msgs_read` and `bytes_read` are read from the shared page.

use std::sync::atomic::fence;
use std::sync::atomic::Ordering::*;

use super::*;

/// Entries in the list; a cancel beyond them (that many unpassed at once) is counted only
/// when the reader skips its record, as every cancel was before the list.
pub(super) const GONE_SLOTS: usize = 8;

/// The first word of entry `i`.
const fn slot(i: usize) -> usize {
    W_GONE + 3 * i
}

/// The cancelled writes' bytes that the reader has not passed, for one look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Gone {
    /// Payload bytes still to be skipped, of records that end at or before the look's limit.
    pub(super) bytes: u64,
    /// Records still to be skipped (whole or in part).
    pub(super) msgs: u64,
}

impl Conn {
    /// Lists the record that a cancel just withdrew: `msgs_after` and `bytes_after` are
    /// `msgs_written` and `W_BYTES` through it. Entries the reader has passed are dropped
    /// first; with every slot still taken, the record is not listed. Needs the writer lock.
    pub(super) fn list_gone(&self, dir: usize, msgs_after: u64, bytes_after: u64, len: u64) {
        // Acquire: pairs with the Release publish in `consume`. A reader that claims more
        // only frees slots early, which only shortens its own waits' view.
        let read = self.ring(dir).r.0.msgs_read.load(Acquire);
        // Relaxed: private, under the writer lock (a look that loads an entry's version with
        // Acquire sees this raise too).
        let last = self.mine(W_GONE_LAST).load(Relaxed);
        self.mine(W_GONE_LAST).store(last.max(msgs_after), Relaxed);
        for i in 0..GONE_SLOTS {
            let m = self.mine(slot(i)).load(Relaxed);
            if m != 0 && m > read {
                continue;
            }
            // Relaxed, then a Release fence: a reader that loads the new version (Acquire)
            // sees the words; one whose look straddles the change sees the version move.
            self.mine(slot(i)).store(0, Relaxed);
            fence(Release);
            self.mine(slot(i) + 1).store(bytes_after, Relaxed);
            self.mine(slot(i) + 2).store(len, Relaxed);
            self.mine(slot(i)).store(msgs_after, Release);
            return;
        }
    }

    /// What the listed cancelled writes still hold in ring `dir`, as the quota of a write
    /// whose bytes end at `upto` sees it (records after `upto` are not in front of it), with
    /// the reader at `br` bytes. The reader's record count is loaded here, after `br`; any
    /// order is safe: a record the reader passed in between counts 0 by `br` or by the count.
    #[inline]
    pub(super) fn gone_unread(&self, dir: usize, br: u64, upto: u64) -> Gone {
        // Relaxed: private; `list_gone` raises it under the writer lock before it lists.
        let last = self.mine(W_GONE_LAST).load(Relaxed);
        if last == 0 {
            // Nothing was ever cancelled while pending (the usual case): one private word.
            return Gone::default();
        }
        // Acquire: pairs with the Release publish in `consume` (on the line the caller just
        // loaded `bytes_read` from).
        let read = self.ring(dir).r.0.msgs_read.load(Acquire);
        if last <= read {
            // The reader has passed every listed record.
            return Gone::default();
        }
        self.gone_listed(br, upto, read)
    }

    /// The look of [`Conn::gone_unread`] at the entries, with the reader at `read` records.
    #[cold]
    fn gone_listed(&self, br: u64, upto: u64, read: u64) -> Gone {
        let mut g = Gone::default();
        for i in 0..GONE_SLOTS {
            // Acquire: pairs with the Release store of the version in `list_gone`.
            let m = self.mine(slot(i)).load(Acquire);
            if m == 0 || m <= read {
                continue;
            }
            let end = self.mine(slot(i) + 1).load(Relaxed);
            let len = self.mine(slot(i) + 2).load(Relaxed);
            // Acquire: the words above were read before the version is looked at again.
            fence(Acquire);
            if self.mine(slot(i)).load(Relaxed) != m || end > upto {
                continue;
            }
            // Before the record, all of it is still to be skipped; inside it, what is left.
            let left = end.saturating_sub(br).min(len);
            g.bytes = g.bytes.saturating_add(left);
            g.msgs += 1;
        }
        g
    }
}
