//! The shared-memory layout of a connection (what both processes map) and the pure arithmetic
//! on positions read from it: every check that turns a value the peer wrote into a trusted
//! one lives here, overflow-proof and unit-tested.
//!
//! ```text
//! 0      ConnHeader: magic "NPQ1", version, header size, ring capacities, end states,
//!        instance count, per-end CPU hints
//! 1024   RingHeader for ring 0 (server -> client)
//! 2048   RingHeader for ring 1 (client -> server)
//! 4096   ring 0 data (cap0 bytes), then ring 1 data (cap1 bytes)
//! ```
//! All fields are little-endian atomics. A ring holds records `[u32 len][u32 flags][payload]`
//! whose header starts 8-byte aligned (so a header never wraps); positions are 64-bit and only
//! grow. The RingHeader fields are *published copies*: the authoritative cursor of each side
//! lives in that side's private page (`sys::SidePage`), so a peer that scribbles on the shared
//! page can only make the other side see impossible values (which it rejects), never move its
//! cursor.

use std::sync::atomic::{AtomicU32, AtomicU64};

/// "NPQ1".
pub(crate) const MAGIC: u32 = u32::from_le_bytes(*b"NPQ1");
/// Layout version. 2: record flag [`FLAG_CUT`]; ring lock words no longer used. 3: one-shot
/// readiness arming ([`WakeLine::poll_armed`], [`WakeLine::space_armed`]). 4: record windows
/// ([`ConnHeader::ring_win`]), skip markers ([`FLAG_SKIP`]) and [`WriterLine::done_to`].
/// 6: [`ReaderLine::reader_want`] moved off the wake line. 7: [`CutLine::claim`] and
/// [`FLAG_PENDING`]. 8: [`ReaderLine::spin_want`].
pub(crate) const VERSION: u32 = 8;
/// Bytes before the first ring.
pub(crate) const HEADER_BYTES: usize = 4096;
pub(super) const RING_HDR_OFF: [usize; 2] = [1024, 2048];
/// Bytes of a record header.
pub(crate) const REC_HDR: u64 = 8;
/// `msg_left` when the next thing to read is a record header.
pub(crate) const AT_HEADER: u64 = u64::MAX;
/// "No record" in a side-private record position.
pub(crate) const NO_REC: u64 = u64::MAX;
/// Record flag: the writer died (or gave up) in the middle of this record; its length was
/// rewritten to the bytes that made it into the ring, and readers skip what they have not read
/// of it (Windows withdraws the unread rest of a cancelled or dead writer's message, W98, W103).
/// A reader already inside the record learns it from `CutLine::cut_rec` instead (the header
/// may have been overwritten by then).
pub(crate) const FLAG_CUT: u32 = 1;
/// Record flag of a *skip marker*: an empty header (no other flag, length 0) that a writer
/// puts at a position beyond the ring's record window to say that the next record starts at
/// the next lap (see [`ConnHeader::ring_win`]). Not a record: it carries no message and counts
/// in no counter.
pub(crate) const FLAG_SKIP: u32 = 2;
/// Record flag: the record's write was not complete when the record was published (it waited
/// for its quota, or streamed): it may be withdrawn while a reader copies it (a cancel, W98),
/// so the read that delivers it claims it first ([`CutLine::claim`]). A record without it
/// belongs to a write that completed at once, which nothing withdraws: its reader claims
/// nothing.
pub(crate) const FLAG_PENDING: u32 = 4;
/// Record flags a valid peer may set.
pub(crate) const KNOWN_FLAGS: u32 = FLAG_CUT | FLAG_SKIP | FLAG_PENDING;
/// No position a well-behaved writer produces comes near this (it would take 2^62 bytes of
/// traffic); anything above it is rejected, so `pos + REC_HDR + u32 length` never overflows.
pub(crate) const POS_LIMIT: u64 = 1 << 62;
/// Ring capacity bounds (bytes, powers of two).
pub(crate) const MIN_RING: u64 = 4096;
/// See [`MIN_RING`].
pub(crate) const MAX_RING: u64 = 64 << 20;

/// End state values in [`ConnHeader::state`].
pub(crate) const OPEN: u32 = 1;
/// The end was closed (its handle, or its process, is gone). Data it wrote stays readable.
pub(crate) const CLOSED: u32 = 2;
/// The server called DisconnectNamedPipe: the link is dead for both ends, data is discarded.
pub(crate) const DISCONNECTED: u32 = 3;

/// [`ConnHeader::cpu`] before an end has waited.
pub(super) const NO_CPU: u32 = u32::MAX;

#[repr(C)]
pub(super) struct ConnHeader {
    pub magic: AtomicU32,
    pub version: AtomicU32,
    pub header_bytes: AtomicU32,
    /// A per-object parameter (a mailslot's maximum message size).
    pub param: AtomicU32,
    pub ring_cap: [AtomicU64; 2],
    pub state: [AtomicU32; 2],
    pub cur_instances: AtomicU32,
    pub _reserved2: AtomicU32,
    /// The CPU each end last waited on (a scheduling hint, [`NO_CPU`] until known): a waiter
    /// whose peer waited on its own CPU yields while it spins, since the peer may be queued
    /// behind it. Only ever compared, never used as an index.
    pub cpu: [AtomicU32; 2],
    /// Each ring's record window (a power of two, `MIN_RING <= win <= cap`): a small record
    /// ([`SMALL_RECORD`]) is written in the first `win` bytes of a lap (after a skip marker,
    /// see [`FLAG_SKIP`]), so small messages only ever touch that much of the ring; larger
    /// ones go wherever the ring continues. Fixed at creation.
    pub ring_win: [AtomicU64; 2],
}

#[repr(C, align(128))]
pub(super) struct Line<T>(pub T);

/// The writer's published cursor.
#[repr(C)]
pub(super) struct WriterLine {
    pub tail: AtomicU64,
    pub bytes_written: AtomicU64,
    pub msgs_written: AtomicU64,
    /// The end of the last record whose write has completed (returned to its caller): records
    /// after it belong to writes still pending (on their quota, or streaming). A reader that
    /// finds the writer's end closed keeps the records before it and drops the unread rest
    /// (W102, W103: a dead or exiting process's pending writes leave the pipe).
    pub done_to: AtomicU64,
    /// How many times the writer waited for the reader (for room in the ring, or for its
    /// quota), wrapping: a hint for the reader's pace (`Conn::pace`), which reads this line
    /// at every look anyway. Only compared for change; a writer of an older build leaves it 0.
    pub waits: AtomicU64,
}

/// The writer's withdrawal slot, on a line of its own: the reader looks at it on every message
/// it takes, and the writer writes it only when it withdraws a record, so the look costs no
/// transfer of the writer's busy cursor line.
#[repr(C)]
pub(super) struct CutLine {
    /// Header position of the last withdrawn record ([`NO_REC`] if none): a reader in the
    /// middle of that record stops at `cut_end`. The writer writes nothing past `cut_end`
    /// until the reader's head has reached it, so one slot is enough.
    pub cut_rec: AtomicU64,
    /// Where that record now ends.
    pub cut_end: AtomicU64,
    /// Which side got a record whose write may still be pending, when the reader delivers it
    /// and a cancel withdraws it at the same time (W98): two fields, each changed only by its
    /// own side and only by compare-exchange of the whole word, so neither side's last move
    /// is ever lost. The high half is the reader's ([`claim_for_reader`]: the record it
    /// delivers), the low half the writer's ([`claim_for_writer`]: the record it withdraws);
    /// each names a record by its sequence number ([`claim_field`]). 0 until the first.
    pub claim: AtomicU64,
}

/// Compare-exchanges a claim tries before it gives up. An honest peer changes the word at
/// most once per withdrawal or delivery, so only a peer that rewrites it without end makes a
/// claim fail that often, and then the claim ends the way that harms only that peer's data
/// (its message delivered, its write complete) instead of spinning for ever.
const CLAIM_TRIES: usize = 1024;

/// A record's name in a [`CutLine::claim`] field: its sequence number (`msgs_written`
/// through it, from 1), reduced to 32 bits and never 0 (the empty field). Two records have
/// the same name only 2^32 - 1 records apart, far more than a ring holds.
fn claim_field(seq: u64) -> u64 {
    seq % 0xFFFF_FFFF + 1
}

/// The reader's claim of the record numbered `seq`, which it has copied whole and is about to
/// consume. False when the writer has withdrawn it: its field names the record, or `marked`
/// (asked after each look at the word, which makes every withdrawal the writer made before
/// its last move visible) says the record carries the writer's mark. True when the reader's
/// field now names it: a writer that comes later finds it there and leaves the record alone.
pub(super) fn claim_for_reader(claim: &AtomicU64, seq: u64, marked: impl Fn() -> bool) -> bool {
    // Only a peer that keeps rewriting the word exhausts the tries: its message is delivered.
    take_half(claim, seq, READER_HALF, marked, true)
}

/// The writer's claim of the record numbered `seq`, which it is about to withdraw, made
/// before it marks the record (so the reader cannot have skipped it yet). False when the
/// reader has it: its field names the record, or `passed` (asked after each look at the
/// word) says the reader has moved past it, which it could then only have done by
/// delivering it. True when the writer's field now names it: a reader that comes later finds
/// it there and skips the record.
pub(super) fn claim_for_writer(claim: &AtomicU64, seq: u64, passed: impl Fn() -> bool) -> bool {
    // Only a peer that keeps rewriting the word exhausts the tries: the write stays, delivered.
    take_half(claim, seq, WRITER_HALF, passed, false)
}

/// The shift of the reader's field in [`CutLine::claim`], and of the writer's.
const READER_HALF: u32 = 32;
const WRITER_HALF: u32 = 0;

/// Stores `seq`'s name in the half of `claim` at `mine` (the other half kept) unless the other
/// half names the record or `lost` says so, looked at after each load of the word (Acquire,
/// and AcqRel on the exchange: the side that loses sees what the winner did before). After
/// [`CLAIM_TRIES`] failed exchanges, `exhausted`.
fn take_half(
    claim: &AtomicU64,
    seq: u64,
    mine: u32,
    lost: impl Fn() -> bool,
    exhausted: bool,
) -> bool {
    use std::sync::atomic::Ordering::{AcqRel, Acquire};
    let name = claim_field(seq);
    let theirs = 32 - mine;
    let mut cur = claim.load(Acquire);
    for _ in 0..CLAIM_TRIES {
        if (cur >> theirs) & 0xFFFF_FFFF == name || lost() {
            return false;
        }
        let keep = cur & (0xFFFF_FFFF << theirs);
        match claim.compare_exchange_weak(cur, keep | (name << mine), AcqRel, Acquire) {
            Ok(_) => return true,
            Err(now) => cur = now,
        }
    }
    exhausted
}

/// The reader's published cursor.
#[repr(C)]
pub(super) struct ReaderLine {
    pub head: AtomicU64,
    pub msg_left: AtomicU64,
    pub bytes_read: AtomicU64,
    pub msgs_read: AtomicU64,
    /// Sum of the buffer sizes of readers waiting for data (the nonblocking-write rule W109).
    /// On the reader's own line: the reader changes it around every wait, and the writer's
    /// wake-up check, which reads the wake line after every publish, must not find that line
    /// taken away each time.
    pub reader_want: AtomicU64,
    /// The buffer size of the reader spinning for data with the reader lock held (0 when
    /// none), counted in the same rule as [`ReaderLine::reader_want`]. Only the lock's holder
    /// writes it, so a plain store does, where `reader_want`, which readers sleeping outside
    /// the lock share, takes two locked read-modify-writes per wait: those cost every busy
    /// read that spins one of them on its way from the data's arrival to its caller.
    pub spin_want: AtomicU64,
}

#[repr(C)]
pub(super) struct WakeLine {
    pub data_seq: AtomicU32,
    pub data_waiters: AtomicU32,
    pub space_seq: AtomicU32,
    pub space_waiters: AtomicU32,
    /// Unused (was `reader_want`, now on the reader's line).
    pub _reserved: AtomicU64,
    /// Set by the reader of this ring when a nonblocking read found nothing and it waits on its
    /// readiness eventfd (sent over the control socket): the writer's next publish clears it
    /// and signals that eventfd. One-shot, so a writer pays the signal only when a reader
    /// waits. [`ARMED`], or [`ARMED_LAZY`]: a thread of the reader is about to spin for the
    /// data itself, and takes the arm back when it starts, so the writer first gives it a
    /// moment (`Conn::notify`). Any other non-zero value (a hostile peer's) counts as armed.
    pub poll_armed: AtomicU32,
    /// The same for the writer of this ring, waiting for room or for its quota: the reader's
    /// next consume clears it and signals the writer's eventfd.
    pub space_armed: AtomicU32,
}

/// [`WakeLine::poll_armed`]: signal at once.
pub(super) const ARMED: u32 = 1;
/// [`WakeLine::poll_armed`]: signal unless the reader takes the arm back within
/// `Conn::notify`'s grace.
pub(super) const ARMED_LAZY: u32 = 2;

#[repr(C)]
pub(super) struct RingHeader {
    pub w: Line<WriterLine>,
    pub r: Line<ReaderLine>,
    pub k: Line<WakeLine>,
    pub c: Line<CutLine>,
}

const _: () = assert!(std::mem::size_of::<ConnHeader>() <= RING_HDR_OFF[0]);
const _: () = assert!(std::mem::size_of::<RingHeader>() <= RING_HDR_OFF[1] - RING_HDR_OFF[0]);
const _: () = assert!(RING_HDR_OFF[1] + std::mem::size_of::<RingHeader>() <= HEADER_BYTES);

/// Which end of the connection this process holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// The server end (writes ring 0, reads ring 1).
    Server = 0,
    /// The client end (writes ring 1, reads ring 0).
    Client = 1,
}

impl Side {
    pub(super) fn peer(self) -> Side {
        match self {
            Side::Server => Side::Client,
            Side::Client => Side::Server,
        }
    }
    /// The ring this side writes.
    pub(super) fn tx(self) -> usize {
        self as usize
    }
    /// The ring this side reads.
    pub(super) fn rx(self) -> usize {
        1 - self as usize
    }
}

/// Queue failures, mapped to Win32 codes per operation by the semantics layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QErr {
    /// The server disconnected the link.
    Disconnected,
    /// The peer had closed before the operation could do anything.
    PeerClosed,
    /// The peer closed while the operation was pending (a write or flush in progress).
    Broken,
    /// Nothing to read and the operation may not wait (PIPE_NOWAIT), or another thread of
    /// this end holds it and the operation may not wait for it.
    WouldBlock,
    /// The deadline passed.
    TimedOut,
    /// The caller's buffer is smaller than the whole next message (mailslots); nothing consumed.
    TooSmall(u64),
    /// The peer wrote an impossible value into the shared queue.
    Corrupt(&'static str),
    /// This end was closed by this process (`Conn::close_here`) while the operation ran.
    Closed,
    /// The thread's blocking wait was cancelled ([`crate::SyncCancel`], CancelSynchronousIo).
    Cancelled,
    /// The system refused what a ring lock needs (memory for the table of holders' marks, a
    /// free slot in it, the futex wait).
    NoResources(&'static str),
}

/// Result of a queue operation.
pub(crate) type QResult<T> = Result<T, QErr>;

/// Result of a read: bytes copied and payload bytes left in the current message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadOut {
    pub n: usize,
    pub left: u64,
}

/// Result of a peek (FSCTL_PIPE_PEEK view).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PeekOut {
    /// Bytes copied into the buffer.
    pub read: usize,
    /// All unread payload bytes, including those of pending writes.
    pub avail: u64,
    /// Remaining length of the first message (0 for byte-type pipes).
    pub msg_len: u64,
    /// Whether anything at all (data or an empty message) is queued.
    pub queued: bool,
}

/// How a write behaves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WriteOpts {
    /// Message-type pipe: a zero-length write queues an empty message.
    pub message: bool,
    /// The reader's quota (W90): the write completes once unread bytes through it fit.
    pub quota: u64,
    /// Wait for the quota (false for the write half of a transaction, W126).
    pub wait_quota: bool,
    /// PIPE_NOWAIT: never wait, for the quota, for ring space or for another writer (W108-W110).
    pub nonblocking: bool,
}

/// Rounds `x` up to a multiple of 8 (`x <= POS_LIMIT`, so it cannot overflow).
pub(crate) fn align8(x: u64) -> u64 {
    (x + 7) & !7
}

/// Ring capacity for a quota: a power of two between [`MIN_RING`] and [`MAX_RING`].
pub(crate) fn ring_capacity(quota: u32, default: u64) -> u64 {
    let want = (quota as u64).max(default).clamp(MIN_RING, MAX_RING);
    want.next_power_of_two()
}

/// The smallest ring of a pipe connection: large messages stream through this much address
/// space whatever the quota (pages are only touched by large messages, and given back when the
/// connection has been idle for a while, see `transport::watch`).
pub(crate) const SPILL_RING: u64 = 4 << 20;

/// The largest record kept in the ring's window (see [`ConnHeader::ring_win`]): a stream of
/// small messages is fastest in a small, cache-hot window; from about a kilobyte up, records
/// are faster going round the whole ring, where the writer seldom writes a line the reader
/// still holds in its cache.
pub(crate) const SMALL_RECORD: u64 = 1024;

/// Payload bytes a writer publishes at a time while it streams a record (and the size above
/// which a record streams even when it fits): the reader copies one piece while the writer
/// copies the next.
pub(crate) const STREAM_CHUNK: u64 = 64 << 10;

/// The first piece a writer publishes of a message that streams (and what a reader waits for
/// at the start of one); the pieces grow from there to [`STREAM_CHUNK`] (see
/// [`stream_piece`]). The reader starts copying a message after this much instead of a whole
/// chunk, which matters between messages, when a write waits for its quota and the reader
/// waits for the next message.
pub(crate) const STREAM_FIRST: u64 = 16 << 10;

/// The piece to publish (or wait for) once `done` bytes of a streaming message are published:
/// as much again, within [`STREAM_FIRST`]..=[`STREAM_CHUNK`] (16, 16, 32, 64, 64... KiB).
pub(crate) fn stream_piece(done: u64) -> u64 {
    done.clamp(STREAM_FIRST, STREAM_CHUNK)
}

/// Where position `pos` falls in a ring of `cap` bytes: `pos % cap`, by a mask. Every ring
/// capacity is a power of two (checked where a connection is built, `Conn::with_map`); a
/// 64-bit division costs tens of cycles, and a write and read of a small message used to make
/// about eight.
#[inline(always)]
pub(crate) fn ring_off(pos: u64, cap: u64) -> usize {
    debug_assert!(cap.is_power_of_two());
    (pos & (cap - 1)) as usize
}

/// The start of the lap after the one that holds `pos`.
pub(crate) fn next_lap(pos: u64, cap: u64) -> u64 {
    (pos | (cap - 1)) + 1
}

/// Checks a ring geometry read from shared memory: capacity and window powers of two within
/// the bounds, the window no larger than the capacity.
pub(crate) fn check_geometry(cap: u64, win: u64) -> QResult<()> {
    let pow2_in = |x: u64| (MIN_RING..=MAX_RING).contains(&x) && x.is_power_of_two();
    if !pow2_in(cap) || !pow2_in(win) || win > cap {
        return Err(QErr::Corrupt("ring capacity or window out of range"));
    }
    Ok(())
}

/// The record windows a connection with rings `caps` gets when `wins` are asked for: each
/// asked window that is a valid one for its ring, else the whole ring.
pub(crate) fn normal_wins(caps: [u64; 2], wins: [u64; 2]) -> [u64; 2] {
    [0, 1].map(|d| {
        if check_geometry(caps[d], wins[d]).is_ok() {
            wins[d]
        } else {
            caps[d]
        }
    })
}

/// Total memfd size for two rings.
pub(crate) fn total_size(caps: [u64; 2]) -> usize {
    HEADER_BYTES + caps[0] as usize + caps[1] as usize
}

/// Checks a peer's `tail` against this reader's own `head`: the unread bytes `tail - head`,
/// or `Corrupt` when the tail is behind the head, beyond the ring, or past [`POS_LIMIT`].
pub(crate) fn check_tail(tail: u64, head: u64, cap: u64) -> QResult<u64> {
    if tail > POS_LIMIT {
        return Err(QErr::Corrupt("ring tail out of range"));
    }
    match tail.checked_sub(head) {
        Some(unread) if unread <= cap => Ok(unread),
        _ => Err(QErr::Corrupt("ring positions out of range")),
    }
}

/// Checks a peer's `head` against this writer's own `tail`: the free bytes, or `Corrupt` when
/// the head is ahead of the tail or more than a ring behind it.
pub(crate) fn check_head(head: u64, tail: u64, cap: u64) -> QResult<u64> {
    match tail.checked_sub(head) {
        Some(used) if used <= cap => Ok(cap - used),
        _ => Err(QErr::Corrupt("ring positions out of range")),
    }
}

/// Checks a peer's read counter against this writer's own write counter: the unread amount.
pub(crate) fn check_counter(read: u64, written: u64) -> QResult<u64> {
    written
        .checked_sub(read)
        .ok_or(QErr::Corrupt("read counters ahead of write counters"))
}

/// Decodes a record header word: `(len, flags)`, rejecting unknown flags.
pub(crate) fn decode_record(raw: u64) -> QResult<(u64, u32)> {
    let (len, flags) = (raw & 0xffff_ffff, (raw >> 32) as u32);
    if flags & !KNOWN_FLAGS != 0 {
        return Err(QErr::Corrupt("unknown record flags"));
    }
    Ok((len, flags))
}

/// The end of a record whose header sits at `h` (`h <= POS_LIMIT`, so no overflow).
pub(crate) fn record_end(h: u64, len: u64) -> u64 {
    h + REC_HDR + len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_checks_reject_every_wrap() {
        let cap = 65536;
        assert_eq!(check_tail(100, 40, cap), Ok(60));
        assert_eq!(check_tail(40, 40, cap), Ok(0));
        assert!(check_tail(39, 40, cap).is_err(), "tail behind head");
        assert!(
            check_tail(40 + cap + 1, 40, cap).is_err(),
            "more than a ring"
        );
        assert!(
            check_tail(u64::MAX - 3, u64::MAX - 7, cap).is_err(),
            "near 2^64"
        );
        assert!(check_tail(POS_LIMIT + 1, POS_LIMIT - 5, cap).is_err());
        assert_eq!(check_tail(POS_LIMIT, POS_LIMIT - 5, cap), Ok(5));
    }

    #[test]
    fn head_checks_reject_every_wrap() {
        let cap = 4096;
        assert_eq!(check_head(0, 0, cap), Ok(cap));
        assert_eq!(check_head(10, 4106, cap), Ok(0));
        assert!(check_head(11, 10, cap).is_err(), "head ahead of tail");
        assert!(check_head(0, 4097, cap).is_err(), "more than a ring behind");
        assert!(check_head(u64::MAX, 3, cap).is_err());
    }

    #[test]
    fn laps_and_geometry() {
        let (cap, win) = (1 << 20, 1 << 16);
        assert_eq!(next_lap(0, cap), cap);
        assert_eq!(next_lap(cap - 8, cap), cap);
        assert_eq!(next_lap(3 * cap + win, cap), 4 * cap);
        assert_eq!(next_lap(POS_LIMIT - 8, MAX_RING), POS_LIMIT);
        assert!(check_geometry(cap, win).is_ok());
        assert!(check_geometry(cap, cap).is_ok());
        assert!(
            check_geometry(win, cap).is_err(),
            "window larger than the ring"
        );
        assert!(check_geometry(cap, win + 8).is_err());
        assert!(check_geometry(cap, 0).is_err());
        assert!(check_geometry(MAX_RING * 2, win).is_err());
    }

    #[test]
    fn counters_and_records() {
        assert_eq!(check_counter(5, 9), Ok(4));
        assert!(check_counter(10, 9).is_err());
        assert_eq!(decode_record(0x0000_0001_0000_0010), Ok((16, FLAG_CUT)));
        assert_eq!(decode_record(0x0000_0002_0000_0000), Ok((0, FLAG_SKIP)));
        assert_eq!(decode_record(0x0000_0004_0000_0010), Ok((16, FLAG_PENDING)));
        assert!(decode_record(0x0000_0008_0000_0010).is_err());
        // The largest legal header at the largest legal position cannot overflow.
        assert_eq!(
            record_end(POS_LIMIT, u32::MAX as u64),
            POS_LIMIT + 8 + u32::MAX as u64
        );
        assert_eq!(align8(POS_LIMIT - 1), POS_LIMIT);
    }

    /// A record's claim goes to the first side that takes it, and only to it; each side's
    /// later claims of other records keep the other side's field.
    #[test]
    fn claims_exclude_each_other() {
        let never = || false;
        let c = AtomicU64::new(0);
        assert!(claim_for_reader(&c, 1, never));
        assert!(!claim_for_writer(&c, 1, never), "the reader has it");
        assert!(claim_for_writer(&c, 2, never));
        assert!(!claim_for_reader(&c, 2, never), "the writer has it");
        assert!(claim_for_reader(&c, 3, never));
        assert!(claim_for_writer(&c, 4, never));
        assert!(!claim_for_writer(&c, 3, never), "the reader's field kept 3");
        assert!(!claim_for_reader(&c, 4, never), "the writer's field kept 4");
        assert!(!claim_for_reader(&c, 5, || true), "marked");
        assert!(!claim_for_writer(&c, 5, || true), "passed");
        assert!(claim_for_reader(&c, 5, never));
    }

    /// A word that changes under every compare-exchange (a peer rewriting it without end)
    /// ends a claim after [`CLAIM_TRIES`] tries instead of spinning: the reader delivers, the
    /// writer leaves its write in the pipe.
    #[test]
    fn a_word_that_never_settles_ends_the_claim() {
        let c = AtomicU64::new(0);
        let bump = || {
            c.fetch_add(1 << 40, std::sync::atomic::Ordering::Relaxed);
            false
        };
        assert!(claim_for_reader(&c, 7, bump));
        let c2 = AtomicU64::new(0);
        let bump2 = || {
            c2.fetch_add(1 << 40, std::sync::atomic::Ordering::Relaxed);
            false
        };
        assert!(!claim_for_writer(&c2, 7, bump2));
    }

    /// Names are never 0 and differ for records less than 2^32 - 1 apart.
    #[test]
    fn claim_fields() {
        for seq in [1, 2, 0xFFFF_FFFE, 0xFFFF_FFFF, 1 << 40, 1 << 62] {
            let f = claim_field(seq);
            assert!(f != 0 && f <= 0xFFFF_FFFF, "{seq}");
            assert_ne!(f, claim_field(seq.wrapping_add(1)), "{seq}");
        }
        assert_eq!(claim_field(5), claim_field(5 + 0xFFFF_FFFF));
    }

    /// Every (head, tail) pair around the edges: a checked tail always leaves `head + unread`
    /// inside the ring's window, so copies sized by it stay in bounds.
    #[test]
    fn exhaustive_small_window() {
        let cap = 64u64;
        for head in (0..300u64).chain([POS_LIMIT - 70, u64::MAX - 70]) {
            for d in 0..140u64 {
                let tail = head.wrapping_add(d);
                match check_tail(tail, head, cap) {
                    Ok(u) => {
                        assert!(u <= cap);
                        assert_eq!(head + u, tail);
                        assert!(tail <= POS_LIMIT);
                    }
                    Err(_) => assert!(d > cap || tail > POS_LIMIT || tail < head),
                }
            }
        }
    }
}
