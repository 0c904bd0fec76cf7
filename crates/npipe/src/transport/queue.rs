//! The shared-memory connection: one sealed memfd with a header page and one ring per direction.
//!
//! # Safety
//!
//! The mapping is shared with a peer process that may be buggy or hostile. Module invariants:
//! - every field both sides touch is an atomic inside a `#[repr(C)]` struct; no `&`/`&mut` to
//!   plain ring bytes is ever created, only raw-pointer copies;
//! - every ring access goes through [`Conn::copy_in`]/[`Conn::copy_out`]/[`Conn::record_at`],
//!   which reduce the position modulo the ring capacity checked at attach time, so no value the
//!   peer writes can move an access outside the mapping;
//! - values the peer can write (positions, lengths, counters, states) are validated before use;
//!   an inconsistent value gives [`QErr::Corrupt`], never a panic, a hang or an out-of-bounds access.
//!
//! # Layout (all little-endian, positions are 64-bit and only ever grow)
//! ```text
//! 0      ConnHeader: magic "NPQ1", version, ring capacities, end states, instance count
//! 1024   RingHeader for ring 0 (server -> client)
//! 2048   RingHeader for ring 1 (client -> server)
//! 4096   ring 0 data (cap0 bytes), then ring 1 data (cap1 bytes)
//! ```
//! A ring holds records `[u32 len][u32 flags][len payload bytes]`; every record header starts
//! 8-byte aligned, so a header never wraps. Payload bytes may wrap and may be published in
//! chunks (a message larger than the free space streams through the ring while the reader
//! drains it). The reader keeps `head` (next byte to read) and `msg_left` (payload bytes left in
//! the current record, or `AT_HEADER`), so every reader of an end, in any thread or process,
//! continues the same message. `bytes_written` counts every declared payload byte, including the
//! part of a streaming message not yet in the ring, so peek and the write quota see pending
//! writes exactly as Windows does (W83, W91-W93).
//!
//! # Wait and wake
//! Each ring has two futex sequence words: `data_seq` (bumped by the writer after publishing) and
//! `space_seq` (bumped by the reader after consuming). A waiter announces itself in the matching
//! `*_waiters` counter, re-checks its condition, then sleeps on the word; a waker bumps the word
//! and calls FUTEX_WAKE only when the counter is non-zero, so an uncontended operation makes no
//! syscall. Sleeps are cut into slices; a slice that times out probes the control socket for the
//! peer's hang-up, so a peer that dies without a word is noticed while waiting.
#![allow(unsafe_code)]

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering::*};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::sys;

/// "NPQ1".
pub(crate) const MAGIC: u32 = u32::from_le_bytes(*b"NPQ1");
/// Layout version.
pub(crate) const VERSION: u32 = 1;
/// Bytes before the first ring.
pub(crate) const HEADER_BYTES: usize = 4096;
const RING_HDR_OFF: [usize; 2] = [1024, 2048];
const REC_HDR: u64 = 8;
const AT_HEADER: u64 = u64::MAX;
/// Record flags a valid peer may set (none are defined yet).
const KNOWN_FLAGS: u32 = 0;
/// Longest single futex sleep before the peer's liveness is probed again.
const SLICE: Duration = Duration::from_millis(200);
/// How long a waiter spins before it sleeps, when another CPU can run the peer: long enough to
/// cover a peer that is busy answering (a round trip is a few microseconds), short enough that
/// an idle connection stops using CPU almost at once.
const SPIN: Duration = Duration::from_micros(30);
/// With spinning off (the peer was found idle), every this many waits spin once more, so a
/// connection that becomes busy again gets spinning back.
const SPIN_RETRY: u32 = 64;
/// After waking a peer that waited on this CPU, a wait sleeps at once (handing the CPU over)
/// except every this many times, when it yield-spins (see `wait_on`).
const STACKED_SPIN: u32 = 8;
/// The control message that carries a reader's readiness eventfd to the writer.
const READINESS_MSG: &[u8] = b"NPE1";
/// A wait skips its hang-up probe before sleeping when this end probed within this many ms.
const PROBE_GAP_MS: u64 = 20;
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

/// Which end of the connection this process holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// The server end (writes ring 0, reads ring 1).
    Server = 0,
    /// The client end (writes ring 1, reads ring 0).
    Client = 1,
}

impl Side {
    fn peer(self) -> Side {
        match self {
            Side::Server => Side::Client,
            Side::Client => Side::Server,
        }
    }
    fn tx(self) -> usize {
        self as usize
    }
    fn rx(self) -> usize {
        1 - self as usize
    }
}

/// Queue failures, mapped to Win32 codes per operation by the semantics layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QErr {
    /// The server disconnected the link (or this end was closed under the operation).
    Disconnected,
    /// The peer had closed before the operation could do anything.
    PeerClosed,
    /// The peer closed while the operation was pending (a write or flush in progress).
    Broken,
    /// PIPE_NOWAIT and nothing to read.
    WouldBlock,
    /// The deadline passed.
    TimedOut,
    /// The caller's buffer is smaller than the whole next message (mailslots); nothing consumed.
    TooSmall(u64),
    /// The peer wrote an impossible value into the shared queue.
    Corrupt(&'static str),
    /// This end was closed by this process ([`Conn::close_here`]) while the operation ran.
    Closed,
}

type QResult<T> = Result<T, QErr>;

#[repr(C)]
struct ConnHeader {
    magic: AtomicU32,
    version: AtomicU32,
    header_bytes: AtomicU32,
    /// A per-object parameter (a mailslot's maximum message size).
    param: AtomicU32,
    ring_cap: [AtomicU64; 2],
    state: [AtomicU32; 2],
    cur_instances: AtomicU32,
    _reserved2: AtomicU32,
    /// The CPU each end last waited on (a scheduling hint, [`NO_CPU`] until known): a waiter
    /// whose peer waited on its own CPU yields while it spins, since the peer may be queued
    /// behind it. Only ever compared, never used as an index.
    cpu: [AtomicU32; 2],
}

/// [`ConnHeader::cpu`] before an end has waited.
const NO_CPU: u32 = u32::MAX;

#[repr(C, align(128))]
struct Line<T>(T);

#[repr(C)]
struct WriterLine {
    tail: AtomicU64,
    bytes_written: AtomicU64,
    msgs_written: AtomicU64,
    lock: AtomicU32,
    _pad: AtomicU32,
}

#[repr(C)]
struct ReaderLine {
    head: AtomicU64,
    msg_left: AtomicU64,
    bytes_read: AtomicU64,
    msgs_read: AtomicU64,
    lock: AtomicU32,
    _pad: AtomicU32,
}

#[repr(C)]
struct WakeLine {
    data_seq: AtomicU32,
    data_waiters: AtomicU32,
    space_seq: AtomicU32,
    space_waiters: AtomicU32,
    /// Sum of the buffer sizes of readers sleeping for data (the nonblocking-write rule W109).
    reader_want: AtomicU64,
    /// Non-zero once the reader of this ring watches a readiness descriptor: the writer then
    /// signals the eventfd the reader sent over the control socket after every publish.
    poll_armed: AtomicU32,
    _pad: AtomicU32,
}

#[repr(C)]
struct RingHeader {
    w: Line<WriterLine>,
    r: Line<ReaderLine>,
    k: Line<WakeLine>,
}

const _: () = assert!(std::mem::size_of::<ConnHeader>() <= RING_HDR_OFF[0]);
const _: () = assert!(std::mem::size_of::<RingHeader>() <= RING_HDR_OFF[1] - RING_HDR_OFF[0]);
const _: () = assert!(RING_HDR_OFF[1] + std::mem::size_of::<RingHeader>() <= HEADER_BYTES);

#[derive(Clone, Copy)]
enum Wake {
    Data,
    Space,
}

/// CLOCK_MONOTONIC in milliseconds (for local rate limits). No lazily set base: a `OnceLock`
/// being set by another thread at a fork would hang the forked child here.
fn mono_ms() -> u64 {
    sys::monotonic_ms()
}

fn align8(x: u64) -> u64 {
    x.wrapping_add(7) & !7
}

/// Ring capacity for a quota: a power of two between [`MIN_RING`] and [`MAX_RING`].
pub(crate) fn ring_capacity(quota: u32, default: u64) -> u64 {
    let want = (quota as u64).max(default).clamp(MIN_RING, MAX_RING);
    want.next_power_of_two()
}

/// Total memfd size for two rings.
pub(crate) fn total_size(caps: [u64; 2]) -> usize {
    HEADER_BYTES + caps[0] as usize + caps[1] as usize
}

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
    /// PIPE_NOWAIT: never wait for the quota (W108-W110).
    pub nonblocking: bool,
}

/// A connected pair's shared memory plus its control socket, seen from one side.
#[derive(Debug)]
pub(crate) struct Conn {
    map: sys::Mapping,
    /// The control socket; `None` for a mailslot, whose writers come and go without a link.
    ctl: Option<OwnedFd>,
    side: Side,
    caps: [u64; 2],
    /// This process's last view of the outbound ring's `head` (a lower bound: `head` only
    /// grows), so a writer re-reads the reader's cache line only when the cached free space is
    /// not enough. Used under the writer lock.
    head_seen: AtomicU64,
    /// Set when this end's last publish had to wake a sleeping peer: the peer is then not
    /// running yet and may be queued on this very CPU, so the next wait hands the CPU over or
    /// yields while it spins (see `wait_on`).
    woke_peer: AtomicBool,
    /// When this end last probed the control socket for a hang-up ([`mono_ms`]).
    probed_at: AtomicU64,
    /// This end's readiness descriptor, made on first request ([`Conn::read_readiness`]).
    readiness: OnceLock<sys::Readiness>,
    /// Held while the readiness descriptor is made, so the peer is sent exactly one eventfd
    /// (the one kept) even when two threads ask at once.
    readiness_made: Mutex<()>,
    /// The eventfd the peer sent for its readiness descriptor (`None`: it sent nothing usable).
    peer_event: OnceLock<Option<OwnedFd>>,
    /// Whether the last spin on this end ended with its condition met; when it did not, later
    /// waits sleep at once (the peer is idle) except for a retry every [`SPIN_RETRY`] waits.
    /// False on a new connection: its first wait sleeps, and spinning starts once a wake-up
    /// shows the peer answering (a server thread does not spin for a client that only connected).
    spin_ok: AtomicBool,
    /// Waits since spinning was turned off, for the periodic retry.
    spin_skipped: AtomicU32,
    /// Waits right after waking a peer that waited on this CPU, for the periodic yield-spin.
    stacked_wakes: AtomicU32,
    /// This process's last Acquire view of the inbound `tail` (a lower bound), so a reader
    /// that is behind reads the writer's cache line only when it runs out of known data.
    tail_seen: AtomicU64,
    /// This process's last Acquire view of the outbound `bytes_read` (a lower bound), so a
    /// writer checks its quota without touching the reader's cache line while far within it.
    read_seen: AtomicU64,
    /// Set by [`Conn::close_here`]: this process closed its handle to the end, so operations
    /// still running in its other threads stop (a forked copy of the end is not affected).
    closed_here: AtomicBool,
}

/// Held while this thread owns a ring lock.
struct LockGuard<'a> {
    word: &'a AtomicU32,
}

const LOCK_WAITERS: u32 = 1 << 31;

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        unlock(self.word);
    }
}

fn unlock(word: &AtomicU32) {
    // SYNC POINT with `Conn::lock` in another thread or process: Release publishes every ring
    // field written under the lock before the lock reads as free.
    let prev = word.swap(0, Release);
    if prev & LOCK_WAITERS != 0 {
        sys::futex_wake(word, 1);
    }
}

/// Space reserved in the outbound ring for one whole message, filled in place
/// ([`Conn::reserve`]). Holds the writer lock; nothing is visible to the reader until
/// [`Reserved::commit`]; dropping it uncommitted abandons the space.
#[derive(Debug)]
pub(crate) struct Reserved {
    conn: std::sync::Arc<Conn>,
    dir: usize,
    /// Position of the record header.
    h: u64,
    len: u64,
}

/// One whole inbound message, read in place ([`Conn::read_in_place`]). Holds the reader lock;
/// dropping it consumes the message.
#[derive(Debug)]
pub(crate) struct InPlace {
    conn: std::sync::Arc<Conn>,
    dir: usize,
    /// Position of the first payload byte.
    start: u64,
    len: u64,
}

/// The ring bytes `[pos, pos + len)` as at most two slices (the second when they wrap).
///
/// # Safety
/// `len <= cap` of ring `dir`, and the caller holds the lock that gives it these bytes: the
/// writer lock for unpublished space past `tail`, or the reader lock for a published record
/// before `tail`. A peer that follows the protocol never touches them meanwhile.
unsafe fn ring_slices(conn: &Conn, dir: usize, pos: u64, len: u64) -> (*mut u8, usize, usize) {
    let cap = conn.caps[dir];
    let off = (pos % cap) as usize;
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
        let c = self.conn.clone();
        let (dir, h, len) = (self.dir, self.h, self.len);
        let bw = c.publish_record(dir, h, len, len);
        drop(self);
        c.notify(dir, Wake::Data);
        c.finish_write(dir, bw, len as usize, len, o, deadline)
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        unlock(&self.conn.ring(self.dir).w.0.lock);
    }
}

impl InPlace {
    /// The message bytes, in order (the second slice is empty unless the message wraps).
    pub(crate) fn slices(&self) -> (&[u8], &[u8]) {
        // SAFETY: the record lies between head and a tail the writer published (checked in
        // `read_in_place`), and we hold the reader lock, so no one reuses or consumes it.
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
        self.conn
            .consume(self.dir, self.start + self.len, AT_HEADER, self.len, 1);
        unlock(&self.conn.ring(self.dir).r.0.lock);
    }
}

impl Conn {
    /// Creates the shared memory for a new connection (server side). Returns the connection and
    /// the memfd to pass to the client.
    pub(crate) fn create(
        ctl: Option<OwnedFd>,
        caps: [u64; 2],
        instances: u32,
    ) -> sys::Result<(Conn, OwnedFd)> {
        let size = total_size(caps);
        let fd = sys::memfd_sealed("npipe-conn", size)?;
        let map = sys::Mapping::map(fd.as_fd(), size)?;
        let conn = Conn::with_map(map, ctl, Side::Server, caps);
        conn.populate_first_pages();
        let h = conn.hdr();
        // Relaxed: nobody else sees the mapping before the memfd is sent, which orders these
        // stores through the socket.
        h.magic.store(MAGIC, Relaxed);
        h.version.store(VERSION, Relaxed);
        h.header_bytes.store(HEADER_BYTES as u32, Relaxed);
        h.ring_cap[0].store(caps[0], Relaxed);
        h.ring_cap[1].store(caps[1], Relaxed);
        h.state[0].store(OPEN, Relaxed);
        h.state[1].store(OPEN, Relaxed);
        h.cpu[0].store(NO_CPU, Relaxed);
        h.cpu[1].store(NO_CPU, Relaxed);
        h.cur_instances.store(instances, Relaxed);
        for d in 0..2 {
            conn.ring(d).r.0.msg_left.store(AT_HEADER, Relaxed);
        }
        fence(Release);
        Ok((conn, fd))
    }

    /// This process's view of a mapped connection, with empty process-local caches.
    fn with_map(map: sys::Mapping, ctl: Option<OwnedFd>, side: Side, caps: [u64; 2]) -> Conn {
        Conn {
            map,
            ctl,
            side,
            caps,
            head_seen: AtomicU64::new(0),
            woke_peer: AtomicBool::new(false),
            probed_at: AtomicU64::new(0),
            readiness: OnceLock::new(),
            readiness_made: Mutex::new(()),
            peer_event: OnceLock::new(),
            spin_ok: AtomicBool::new(false),
            spin_skipped: AtomicU32::new(0),
            stacked_wakes: AtomicU32::new(0),
            tail_seen: AtomicU64::new(0),
            read_seen: AtomicU64::new(0),
            closed_here: AtomicBool::new(false),
        }
    }

    /// Maps a connection memfd received from the server (client side) and validates it.
    pub(crate) fn attach(
        ctl: Option<OwnedFd>,
        memfd: OwnedFd,
        caps: [u64; 2],
    ) -> Result<Conn, QErr> {
        for c in caps {
            if !(MIN_RING..=MAX_RING).contains(&c) || !c.is_power_of_two() {
                return Err(QErr::Corrupt("ring capacity out of range"));
            }
        }
        let size = total_size(caps);
        sys::check_memfd(memfd.as_fd(), size)
            .map_err(|_| QErr::Corrupt("memfd not sealed or wrong size"))?;
        let map = sys::Mapping::map(memfd.as_fd(), size)
            .map_err(|_| QErr::Corrupt("cannot map memfd"))?;
        let conn = Conn::with_map(map, ctl, Side::Client, caps);
        conn.populate_first_pages();
        let h = conn.hdr();
        // SYNC POINT with the fence in `create`: Acquire sees the initialised header.
        fence(Acquire);
        if h.magic.load(Relaxed) != MAGIC
            || h.version.load(Relaxed) != VERSION
            || h.header_bytes.load(Relaxed) != HEADER_BYTES as u32
            || h.ring_cap[0].load(Relaxed) != caps[0]
            || h.ring_cap[1].load(Relaxed) != caps[1]
        {
            return Err(QErr::Corrupt("bad queue header"));
        }
        Ok(conn)
    }

    /// Faults in the header page and the first page of each ring in two calls: every
    /// connection touches them at once, and a page fault is the costliest part of setting one
    /// up (the rest of each ring still faults in lazily, as it is used).
    fn populate_first_pages(&self) {
        self.map.populate(0, HEADER_BYTES + 4096);
        self.map
            .populate(HEADER_BYTES + self.caps[0] as usize, 4096);
    }

    fn hdr(&self) -> &ConnHeader {
        // SAFETY:
        // 1. the mapping is at least HEADER_BYTES long and page aligned, so a ConnHeader at
        //    offset 0 is in bounds and aligned;
        // 2. ConnHeader is made only of atomics, so shared mutation by the peer is allowed
        //    through a shared reference, and any bit pattern is a valid value.
        unsafe { &*(self.map.as_ptr() as *const ConnHeader) }
    }

    fn ring(&self, dir: usize) -> &RingHeader {
        // SAFETY: as in `hdr`: RING_HDR_OFF[dir] + size_of::<RingHeader>() <= HEADER_BYTES (checked
        // at compile time), the offset is 128-aligned, and RingHeader holds only atomics.
        unsafe { &*(self.map.as_ptr().add(RING_HDR_OFF[dir & 1]) as *const RingHeader) }
    }

    fn data_base(&self, dir: usize) -> *mut u8 {
        let off = HEADER_BYTES
            + if dir & 1 == 1 {
                self.caps[0] as usize
            } else {
                0
            };
        debug_assert!(off + self.caps[dir & 1] as usize <= self.map.len());
        // SAFETY: off + cap <= map.len() by construction of the layout (total_size).
        unsafe { self.map.as_ptr().add(off) }
    }

    /// Copies `src` into ring `dir` at position `pos` (wrapping).
    fn copy_in(&self, dir: usize, pos: u64, src: &[u8]) {
        let cap = self.caps[dir];
        debug_assert!(src.len() as u64 <= cap);
        let off = (pos % cap) as usize;
        let first = src.len().min(cap as usize - off);
        let base = self.data_base(dir);
        // SAFETY:
        // 1. off < cap and first <= cap - off, so [off, off+first) is inside the ring;
        // 2. the remainder (src.len() - first <= cap - first... <= off) starts at the ring base;
        // 3. src is a private buffer, so the ranges cannot overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), base.add(off), first);
            std::ptr::copy_nonoverlapping(src.as_ptr().add(first), base, src.len() - first);
        }
    }

    /// Copies ring bytes at `pos` (wrapping) into `dst`.
    fn copy_out(&self, dir: usize, pos: u64, dst: &mut [u8]) {
        let cap = self.caps[dir];
        debug_assert!(dst.len() as u64 <= cap);
        let off = (pos % cap) as usize;
        let first = dst.len().min(cap as usize - off);
        let base = self.data_base(dir);
        // SAFETY: the same bounds as `copy_in`; dst is private memory so nothing overlaps. The
        // peer cannot be writing these bytes: they lie between head and a tail it published.
        unsafe {
            std::ptr::copy_nonoverlapping(base.add(off), dst.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(base, dst.as_mut_ptr().add(first), dst.len() - first);
        }
    }

    /// Reads the record header at 8-aligned `pos`: `(len, flags)`.
    fn record_at(&self, dir: usize, pos: u64) -> (u64, u32) {
        let off = (pos % self.caps[dir]) as usize & !7;
        // SAFETY: off is 8-aligned and off + 8 <= cap (cap is a multiple of 8), so the read is in
        // bounds and aligned; a volatile read never assumes the peer left the bytes unchanged.
        let raw = unsafe { std::ptr::read_volatile(self.data_base(dir).add(off) as *const u64) };
        (raw & 0xffff_ffff, (raw >> 32) as u32)
    }

    fn write_record_header(&self, dir: usize, pos: u64, len: u64, flags: u32) {
        let off = (pos % self.caps[dir]) as usize & !7;
        let raw = len | ((flags as u64) << 32);
        // SAFETY: as in `record_at`; the writer lock makes this thread the only writer of the
        // unpublished bytes past `tail`.
        unsafe { std::ptr::write_volatile(self.data_base(dir).add(off) as *mut u64, raw) };
    }

    /// Capacity of this end's outbound ring.
    pub(crate) fn capacity(&self) -> u64 {
        self.caps[self.side.tx()]
    }

    /// Writes the header of a `len`-byte record at `h`, counts it, and publishes `tail` past the
    /// header and the first `copied` payload bytes (already in the ring). Needs the writer lock.
    /// Returns the new `bytes_written`.
    fn publish_record(&self, dir: usize, h: u64, len: u64, copied: u64) -> u64 {
        let w = &self.ring(dir).w.0;
        self.write_record_header(dir, h, len, 0);
        // Relaxed loads: these fields are only written under the writer lock, which we hold.
        let bw = w.bytes_written.load(Relaxed) + len;
        w.bytes_written.store(bw, Release);
        w.msgs_written
            .store(w.msgs_written.load(Relaxed) + 1, Release);
        // SYNC POINT with the Acquire load of `tail` in `snapshot`: the header, the counters and
        // the copied payload become visible together with the new tail.
        w.tail.store(h + REC_HDR + copied, Release);
        bw
    }

    /// This end.
    pub(crate) fn side(&self) -> Side {
        self.side
    }

    /// Gives a connection made ahead of time its control socket.
    pub(crate) fn set_ctl(&mut self, ctl: OwnedFd) {
        self.ctl = Some(ctl);
    }

    /// The control socket (for hang-up probes), if this connection has one.
    pub(crate) fn ctl(&self) -> Option<&OwnedFd> {
        self.ctl.as_ref()
    }

    /// Sets this end's state and wakes every sleeper of both rings.
    pub(crate) fn set_state(&self, side: Side, state: u32) {
        // SYNC POINT with the state loads in `link_check`/`peer_closed`: Release orders the
        // state after everything this end wrote before closing.
        self.hdr().state[side as usize].store(state, Release);
        self.wake_all();
    }

    /// Current instance count as published by the server.
    pub(crate) fn cur_instances(&self) -> u32 {
        // Relaxed: an informational counter with no data depending on it.
        self.hdr().cur_instances.load(Relaxed)
    }

    /// Publishes the instance count (server side).
    pub(crate) fn set_cur_instances(&self, n: u32) {
        // Relaxed: see `cur_instances`.
        self.hdr().cur_instances.store(n, Relaxed);
    }

    /// The object parameter published by the creator (a mailslot's maximum message size).
    pub(crate) fn param(&self) -> u32 {
        // Relaxed: set once before the memfd is shared (ordered by the socket), or changed by
        // the owner as a plain setting with no data depending on it.
        self.hdr().param.load(Relaxed)
    }

    /// Publishes the object parameter (creator side).
    pub(crate) fn set_param(&self, v: u32) {
        // Relaxed: see `param`.
        self.hdr().param.store(v, Relaxed);
    }

    fn state_of(&self, side: Side) -> QResult<u32> {
        // SYNC POINT with `set_state`.
        let s = self.hdr().state[side as usize].load(Acquire);
        match s {
            OPEN | CLOSED | DISCONNECTED => Ok(s),
            _ => Err(QErr::Corrupt("bad end state")),
        }
    }

    /// Closes this process's use of the end while other threads may still be inside an
    /// operation on it: they return [`QErr::Closed`] at their next check (every wait checks
    /// after each wake-up, and every sleeper is woken here). With `tell_peer` the end's shared
    /// state becomes CLOSED as well, which the peer sees at once (without it, the peer learns of
    /// the close from the control socket's hang-up when the last copy of the end is gone).
    pub(crate) fn close_here(&self, tell_peer: bool) {
        // Relaxed: the wake-up below (a Release bump and a futex wake) orders it for sleepers,
        // and running operations re-check it at every step.
        self.closed_here.store(true, Relaxed);
        if tell_peer {
            self.set_state(self.side, CLOSED);
        } else {
            self.wake_all();
        }
    }

    /// Fails when the link is disconnected or this end is closed.
    fn link_check(&self) -> QResult<()> {
        // Relaxed: see `close_here`.
        if self.closed_here.load(Relaxed) {
            return Err(QErr::Closed);
        }
        if self.state_of(Side::Server)? == DISCONNECTED
            || self.state_of(Side::Client)? == DISCONNECTED
        {
            return Err(QErr::Disconnected);
        }
        if self.state_of(self.side)? != OPEN {
            return Err(QErr::Disconnected);
        }
        Ok(())
    }

    /// The link state as the semantics layer sees it: `Ok(true)` connected, `Ok(false)` the peer
    /// closed, `Err(Disconnected)` disconnected.
    pub(crate) fn peer_open(&self) -> QResult<bool> {
        self.link_check()?;
        Ok(!self.peer_closed()?)
    }

    fn peer_closed(&self) -> QResult<bool> {
        Ok(self.state_of(self.side.peer())? != OPEN)
    }

    /// Probes the control socket: if the peer hung up, records it as closed and wakes sleepers.
    pub(crate) fn probe_hup(&self) -> bool {
        let Some(ctl) = &self.ctl else {
            return false;
        };
        // Relaxed: a rate hint for `wait_on`.
        self.probed_at.store(mono_ms(), Relaxed);
        if sys::peer_hung_up(ctl.as_fd()) {
            let st = &self.hdr().state[self.side.peer() as usize];
            // A hang-up after a disconnect keeps DISCONNECTED.
            let _ = st.compare_exchange(OPEN, CLOSED, AcqRel, Acquire);
            self.wake_all();
            return true;
        }
        false
    }

    fn wake_all(&self) {
        for d in 0..2 {
            let k = &self.ring(d).k.0;
            // SYNC POINT with the futex waits in `wait_on`: the bump makes a racing sleeper's
            // FUTEX_WAIT fail with EAGAIN; the fence pairs with the one after its announcement
            // (as in `notify`), so a sleeper that is not counted yet re-checks after the bump.
            k.data_seq.fetch_add(1, Release);
            k.space_seq.fetch_add(1, Release);
            fence(SeqCst);
            if k.data_waiters.load(Relaxed) != 0 {
                sys::futex_wake(&k.data_seq, u32::MAX);
            }
            if k.space_waiters.load(Relaxed) != 0 {
                sys::futex_wake(&k.space_seq, u32::MAX);
            }
        }
    }

    fn notify(&self, dir: usize, which: Wake) {
        let k = &self.ring(dir).k.0;
        let (seq, waiters) = match which {
            Wake::Data => (&k.data_seq, &k.data_waiters),
            Wake::Space => (&k.space_seq, &k.space_waiters),
        };
        // SYNC POINT with the fence after `waiters.fetch_add` in `wait_on` (Dekker): either the
        // sleeper's re-check sees what we published before this call, or we see its waiter count,
        // bump the word it sleeps on (so a FUTEX_WAIT that has not started yet returns at once)
        // and wake it. With nobody asleep a publish costs no shared write beyond the data.
        fence(SeqCst);
        if waiters.load(Relaxed) != 0 {
            seq.fetch_add(1, Release);
            sys::futex_wake(seq, u32::MAX);
            // Relaxed: a local scheduling hint.
            self.woke_peer.store(true, Relaxed);
        }
        // SYNC POINT with the fence after `poll_armed` is set in `read_readiness` (the same
        // Dekker pattern): either the reader's check after arming sees this publish, or we see
        // the flag and signal its eventfd.
        if matches!(which, Wake::Data) && k.poll_armed.load(Relaxed) != 0 {
            self.poke_peer();
        }
    }

    /// Signals the peer's readiness eventfd, fetching it from the control socket the first time
    /// (the peer sends it before it sets `poll_armed`, so it is queued by the time we look).
    fn poke_peer(&self) {
        let fd = self.peer_event.get_or_init(|| {
            let ctl = self.ctl.as_ref()?;
            let mut buf = [0u8; 8];
            let mut fds = Vec::new();
            let n = sys::recv_packet_nowait(ctl.as_fd(), &mut buf, &mut fds).ok()?;
            if n != READINESS_MSG.len() || buf[..n] != READINESS_MSG[..] || fds.len() != 1 {
                return None;
            }
            let fd = fds.pop()?;
            // Whatever a peer sent, signalling it must never block this writer.
            sys::set_nonblocking(fd.as_fd()).ok()?;
            Some(fd)
        });
        if let Some(fd) = fd {
            sys::poke(fd.as_fd());
        }
    }

    /// A descriptor that polls readable when data may be waiting in this end's inbound ring or
    /// the peer has gone: an epoll instance over an eventfd that the peer's writes signal and
    /// the control socket. The first call sends the eventfd to the peer over the control socket
    /// and arms the ring; from then on every publish costs the writer one `write` to it. A
    /// nonblocking read that finds nothing clears it. `None` for a connection without a
    /// control socket (a mailslot's).
    pub(crate) fn read_readiness(&self) -> Option<std::io::Result<BorrowedFd<'_>>> {
        let ctl = self.ctl.as_ref()?;
        if let Some(r) = self.readiness.get() {
            return Some(Ok(r.fd()));
        }
        let _made = self
            .readiness_made
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(r) = self.readiness.get() {
            return Some(Ok(r.fd()));
        }
        let made = sys::Readiness::new(ctl.as_fd()).and_then(|r| {
            sys::send_packet(ctl.as_fd(), READINESS_MSG, &[r.event().fd()])?;
            Ok(r)
        });
        let r = match made {
            Ok(r) => r,
            Err(e) => return Some(Err(e.into())),
        };
        // Spurious readiness is allowed: start signalled, so data already queued is seen.
        r.event().signal();
        let r = self.readiness.get_or_init(|| r);
        let k = &self.ring(self.side.rx()).k.0;
        k.poll_armed.store(1, Relaxed);
        fence(SeqCst);
        Some(Ok(r.fd()))
    }

    /// For a nonblocking read that found nothing: clears this end's readiness eventfd, and says
    /// whether the read should look again (it was signalled, so data may have just arrived).
    fn clear_readiness(&self) -> bool {
        self.readiness.get().is_some_and(|r| r.event().clear())
    }

    /// Sleeps until `ready` is true, the deadline passes (`TimedOut`) or `ready` fails.
    fn wait_on(
        &self,
        dir: usize,
        which: Wake,
        deadline: Option<Instant>,
        mut ready: impl FnMut(&Conn) -> QResult<bool>,
    ) -> QResult<()> {
        let k = &self.ring(dir).k.0;
        let (seq, waiters) = match which {
            Wake::Data => (&k.data_seq, &k.data_waiters),
            Wake::Space => (&k.space_seq, &k.space_waiters),
        };
        if ready(self)? {
            return Ok(());
        }
        // Spin first while another CPU can run the peer: a busy peer answers within microseconds
        // and neither side then makes a syscall. Spin when spinning paid off last time, or when
        // this end just woke the peer (its answer is on the way; sleeping now would cost this
        // CPU an idle exit as well). If the peer may be queued behind this thread (it was just
        // woken, or it last waited on this CPU), yield while spinning so it runs at once; a
        // pair stacked on one CPU then stays runnable, which lets the load balancer separate it.
        // One case sleeps at once: the peer was just woken on this CPU. Handing it the CPU by
        // sleeping is the cheapest round trip for an idle pair; every STACKED_SPIN-th time the
        // wait yield-spins instead, so a busy pair is never stuck handing the CPU back and forth.
        // Relaxed throughout: local scheduling hints.
        let woke = self.woke_peer.swap(false, Relaxed);
        if sys::usable_cpus() > 1 {
            let cpu = sys::current_cpu();
            let cpus = &self.hdr().cpu;
            let mine = &cpus[self.side as usize];
            if mine.load(Relaxed) != cpu {
                mine.store(cpu, Relaxed);
            }
            let stacked = cpus[self.side.peer() as usize].load(Relaxed) == cpu;
            let hand_over = woke
                && stacked
                && self.stacked_wakes.fetch_add(1, Relaxed) % STACKED_SPIN != STACKED_SPIN - 1;
            let spin = !hand_over
                && (woke
                    || self.spin_ok.load(Relaxed)
                    || self.spin_skipped.fetch_add(1, Relaxed) % SPIN_RETRY == SPIN_RETRY - 1);
            if spin && self.spin(deadline, woke || stacked, &mut ready)? {
                return Ok(());
            }
        }
        // A peer that died leaves its state OPEN; its hang-up shows on the control socket. Probe
        // it before sleeping unless this end probed lately, and then make the first sleep short
        // instead, so a connection that sleeps on every message keeps the syscall off its round
        // trip while a death is still noticed within PROBE_GAP (within SLICE when the peer dies
        // during a long sleep, as before).
        let mut probed = mono_ms().wrapping_sub(self.probed_at.load(Relaxed)) < PROBE_GAP_MS;
        let mut longest = if probed {
            Duration::from_millis(PROBE_GAP_MS)
        } else {
            SLICE
        };
        loop {
            if ready(self)? {
                return Ok(());
            }
            if !probed {
                probed = true;
                if self.probe_hup() {
                    continue;
                }
            }
            let slice = match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if d <= now {
                        return Err(QErr::TimedOut);
                    }
                    (d - now).min(longest)
                }
                None => longest,
            };
            // SYNC POINT with `notify`: Acquire pairs with its Release bump.
            let s = seq.load(Acquire);
            waiters.fetch_add(1, SeqCst);
            fence(SeqCst);
            match ready(self) {
                Ok(false) => {}
                other => {
                    waiters.fetch_sub(1, SeqCst);
                    other?;
                    return Ok(());
                }
            }
            let woke = sys::futex_wait(seq, s, Some(slice)).unwrap_or(false);
            waiters.fetch_sub(1, SeqCst);
            if !woke {
                self.probe_hup();
                longest = SLICE;
            }
        }
    }

    /// Polls `ready` for up to [`SPIN`] (or until the deadline), yielding the CPU between
    /// rounds when `yielding`; records in `spin_ok` whether it paid off.
    fn spin(
        &self,
        deadline: Option<Instant>,
        yielding: bool,
        ready: &mut impl FnMut(&Conn) -> QResult<bool>,
    ) -> QResult<bool> {
        let start = Instant::now();
        let end = match deadline {
            Some(d) => (start + SPIN).min(d),
            None => start + SPIN,
        };
        loop {
            if yielding {
                std::thread::yield_now();
            }
            for _ in 0..64 {
                if ready(self)? {
                    // Relaxed: a local scheduling hint.
                    self.spin_ok.store(true, Relaxed);
                    return Ok(true);
                }
                std::hint::spin_loop();
            }
            if Instant::now() >= end {
                self.spin_ok.store(false, Relaxed);
                return Ok(false);
            }
        }
    }

    /// Takes a ring lock (a futex word holding the owner's thread id). A lock whose owner died
    /// is taken over, so a process killed inside a read or write cannot wedge the others.
    fn lock<'a>(
        &'a self,
        word: &'a AtomicU32,
        deadline: Option<Instant>,
    ) -> QResult<LockGuard<'a>> {
        let me = sys::gettid() & !LOCK_WAITERS;
        let mut mine = me;
        loop {
            // SYNC POINT with `LockGuard::drop`: Acquire sees the ring fields the last owner wrote.
            let cur = match word.compare_exchange(0, mine, Acquire, Relaxed) {
                Ok(_) => return Ok(LockGuard { word }),
                Err(cur) => cur,
            };
            let owner = cur & !LOCK_WAITERS;
            if owner == me {
                return Err(QErr::Corrupt("ring lock already held by this thread"));
            }
            if owner == 0 {
                // Free but with the waiters bit: take it keeping the bit.
                if word
                    .compare_exchange(cur, me | LOCK_WAITERS, Acquire, Relaxed)
                    .is_ok()
                {
                    return Ok(LockGuard { word });
                }
                continue;
            }
            if cur & LOCK_WAITERS == 0
                && word
                    .compare_exchange(cur, cur | LOCK_WAITERS, Relaxed, Relaxed)
                    .is_err()
            {
                continue;
            }
            let slice = match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if d <= now {
                        return Err(QErr::TimedOut);
                    }
                    (d - now).min(SLICE / 2)
                }
                None => SLICE / 2,
            };
            let woke = sys::futex_wait(word, cur | LOCK_WAITERS, Some(slice)).unwrap_or(false);
            // After sleeping, take the lock as contended so our unlock wakes the next waiter.
            mine = me | LOCK_WAITERS;
            if !woke && !sys::id_alive(owner) {
                // The owner died holding the lock: take it over.
                if word
                    .compare_exchange(cur | LOCK_WAITERS, me | LOCK_WAITERS, Acquire, Relaxed)
                    .is_ok()
                {
                    return Ok(LockGuard { word });
                }
            }
            self.link_check()?;
        }
    }

    /// Reads `tail`, `head`, `msg_left` of ring `dir` and checks them against each other.
    fn snapshot(&self, dir: usize) -> QResult<(u64, u64, u64)> {
        let r = self.ring(dir);
        // SYNC POINT with the Release store of `tail` in `write`: Acquire makes the published
        // record bytes visible before we copy them.
        let tail = r.w.0.tail.load(Acquire);
        // Relaxed: a process-local cache (see `snapshot_hint`).
        self.tail_seen.store(tail, Relaxed);
        // Relaxed: head and msg_left are only written under the reader lock, which we hold (or
        // we only use them as a hint, in `has_data`).
        let head = r.r.0.head.load(Relaxed);
        let left = r.r.0.msg_left.load(Relaxed);
        if tail < head || tail - head > self.caps[dir] {
            return Err(QErr::Corrupt("ring positions out of range"));
        }
        if left != AT_HEADER && left > u32::MAX as u64 {
            return Err(QErr::Corrupt("message remainder out of range"));
        }
        Ok((tail, head, left))
    }

    /// Like `snapshot`, but with this process's cached `tail` while it is ahead of `head`
    /// (every byte before a cached tail was published with the Release store we Acquired).
    fn snapshot_hint(&self, dir: usize) -> QResult<(u64, u64, u64)> {
        let r = self.ring(dir);
        // Relaxed: see `snapshot`.
        let head = r.r.0.head.load(Relaxed);
        // Relaxed: a process-local cache of a value loaded with Acquire.
        let seen = self.tail_seen.load(Relaxed);
        if seen > head && seen - head <= self.caps[dir] {
            let left = r.r.0.msg_left.load(Relaxed);
            if left != AT_HEADER && left > u32::MAX as u64 {
                return Err(QErr::Corrupt("message remainder out of range"));
            }
            return Ok((seen, head, left));
        }
        self.snapshot(dir)
    }

    fn has_data(&self, dir: usize) -> QResult<bool> {
        let (tail, head, left) = self.snapshot_hint(dir)?;
        if self.data_in(dir, tail, head, left) {
            return Ok(true);
        }
        let (tail, head, left) = self.snapshot(dir)?;
        Ok(self.data_in(dir, tail, head, left))
    }

    fn data_in(&self, dir: usize, tail: u64, head: u64, left: u64) -> bool {
        if left == AT_HEADER {
            // A header is published before its payload streams in: there is something to read
            // once the record is empty or its first payload byte is there.
            let h = align8(head);
            tail >= h + REC_HDR && (tail > h + REC_HDR || self.record_at(dir, h).0 == 0)
        } else {
            left == 0 || tail > head
        }
    }

    /// Unread payload bytes and whether anything (data or empty messages) is queued in `dir`.
    fn unread(&self, dir: usize) -> QResult<(u64, bool)> {
        let r = self.ring(dir);
        // Acquire: pairs with the Release updates in `write`/`read`; we only compare counters.
        let bw = r.w.0.bytes_written.load(Acquire);
        let br = r.r.0.bytes_read.load(Acquire);
        let mw = r.w.0.msgs_written.load(Acquire);
        let mr = r.r.0.msgs_read.load(Acquire);
        if br > bw || mr > mw {
            return Err(QErr::Corrupt("read counters ahead of write counters"));
        }
        let mid_msg = r.r.0.msg_left.load(Relaxed) != AT_HEADER;
        Ok((bw - br, mw > mr || bw > br || mid_msg))
    }

    /// Whether unread data (or an empty message) waits in this end's inbound queue.
    pub(crate) fn inbound_pending(&self) -> QResult<bool> {
        Ok(self.unread(self.side.rx())?.1)
    }

    /// Appends one message (or byte-stream write) to the outbound ring. Returns the number of
    /// bytes written (less than `data.len()` only for PIPE_NOWAIT, W108-W110).
    pub(crate) fn write(
        &self,
        data: &[u8],
        o: WriteOpts,
        deadline: Option<Instant>,
    ) -> QResult<usize> {
        let dir = self.side.tx();
        self.link_check()?;
        if self.peer_closed()? {
            return Err(QErr::PeerClosed);
        }
        if data.is_empty() && !o.message {
            return Ok(0);
        }
        debug_assert!(data.len() as u64 <= u32::MAX as u64);
        let ring = self.ring(dir);
        let mut take = data.len();
        if o.nonblocking {
            let (unread, _) = self.unread(dir)?;
            // Relaxed: a hint about sleeping readers, as racy on Windows as here.
            let want = ring.k.0.reader_want.load(Relaxed);
            let n = data.len() as u64;
            if unread + n > o.quota + want {
                if o.message {
                    return Ok(0);
                }
                take = want.saturating_sub(unread).min(n) as usize;
                if take == 0 {
                    return Ok(0);
                }
            }
        }
        let data = &data[..take];
        let len = data.len() as u64;
        let cap = self.caps[dir];
        let w = &ring.w.0;
        let my_end;
        {
            let _g = self.lock(&w.lock, deadline)?;
            self.link_check()?;
            // Relaxed: tail, bytes_written, msgs_written are only written under this lock.
            let mut tail = w.tail.load(Relaxed);
            let space = |c: &Conn, need: u64, tail: u64| -> QResult<bool> {
                // Relaxed: written under the writer lock we hold; the value came from an
                // Acquire load below, so the bytes before it are released by the reader.
                let seen = c.head_seen.load(Relaxed);
                if seen <= tail && tail - seen <= cap && cap - (tail - seen) >= need {
                    return Ok(true);
                }
                // SYNC POINT with the Release store of `head` in `consume`: Acquire makes sure
                // the reader is done with the bytes before we overwrite them.
                let head = c.ring(dir).r.0.head.load(Acquire);
                if tail < head || tail - head > cap {
                    return Err(QErr::Corrupt("ring positions out of range"));
                }
                c.head_seen.store(head, Relaxed);
                Ok(cap - (tail - head) >= need)
            };
            // Record header at the next 8-aligned position.
            let h = align8(tail);
            let need = h + REC_HDR - tail;
            if space(self, need + len, tail)? {
                // The whole record fits: payload first, then header, counters and tail in one
                // publish and one wake check.
                self.copy_in(dir, h + REC_HDR, data);
                my_end = self.publish_record(dir, h, len, len);
                self.notify(dir, Wake::Data);
                drop(_g);
                return self.finish_write(dir, my_end, take, len, o, deadline);
            }
            if !space(self, need, tail)? {
                self.wait_on(dir, Wake::Space, deadline, |c| {
                    c.link_check()?;
                    if c.peer_closed()? {
                        return Err(QErr::PeerClosed);
                    }
                    space(c, need, tail)
                })?;
            }
            // Header and counters now; the payload streams in after it.
            let bw = self.publish_record(dir, h, len, 0);
            tail = h + REC_HDR;
            self.notify(dir, Wake::Data);
            let mut off = 0usize;
            while off < data.len() {
                let head = ring.r.0.head.load(Acquire);
                if tail < head || tail - head > cap {
                    return Err(QErr::Corrupt("ring positions out of range"));
                }
                let free = cap - (tail - head);
                // Stream in chunks of at least a quarter of the ring (or the rest): fewer
                // hand-offs between the two sides. The reader waits for as much, and since
                // free + unread = cap, one of the two can always proceed.
                let batch = (cap / 4).min((data.len() - off) as u64);
                if free < batch {
                    self.wait_on(dir, Wake::Space, deadline, |c| {
                        c.link_check()?;
                        if c.peer_closed()? {
                            return Err(QErr::Broken);
                        }
                        space(c, batch, tail)
                    })?;
                    continue;
                }
                let chunk = (free as usize).min(data.len() - off);
                self.copy_in(dir, tail, &data[off..off + chunk]);
                off += chunk;
                tail += chunk as u64;
                // SYNC POINT with `snapshot`: publishes the chunk.
                w.tail.store(tail, Release);
                self.notify(dir, Wake::Data);
            }
            my_end = bw;
        }
        self.finish_write(dir, my_end, take, len, o, deadline)
    }

    /// The end of a write once its bytes are in the ring: W91-W93, complete once the unread
    /// bytes through this write fit the reader's quota.
    fn finish_write(
        &self,
        dir: usize,
        my_end: u64,
        take: usize,
        len: u64,
        o: WriteOpts,
        deadline: Option<Instant>,
    ) -> QResult<usize> {
        if !o.wait_quota || o.nonblocking || len == 0 {
            return Ok(take);
        }
        let r = &self.ring(dir).r.0;
        let target = my_end.saturating_sub(o.quota);
        // Relaxed: a process-local cache of a value loaded with Acquire.
        if self.read_seen.load(Relaxed) >= target {
            return Ok(take);
        }
        self.wait_on(dir, Wake::Space, deadline, |c| {
            // SYNC POINT with the Release update of `bytes_read` in `consume`.
            let br = r.bytes_read.load(Acquire);
            c.read_seen.fetch_max(br, Relaxed);
            if br >= target {
                return Ok(true);
            }
            c.link_check()?;
            if c.peer_closed()? {
                return Err(QErr::Broken);
            }
            Ok(false)
        })?;
        Ok(take)
    }

    /// Publishes reader progress and wakes writers.
    fn consume(&self, dir: usize, head: u64, left: u64, bytes: u64, msgs: u64) {
        let r = &self.ring(dir).r.0;
        r.msg_left.store(left, Relaxed);
        // SYNC POINT with the Acquire loads of `head` in `write`: the writer may reuse the space.
        r.head.store(head, Release);
        // The reader lock (held by every caller) serialises these updates: plain stores suffice.
        if bytes != 0 {
            r.bytes_read
                .store(r.bytes_read.load(Relaxed) + bytes, Release);
        }
        if msgs != 0 {
            r.msgs_read.store(r.msgs_read.load(Relaxed) + msgs, Release);
        }
        self.notify(dir, Wake::Space);
    }

    /// Reads from the inbound ring. Message mode returns at most the rest of the current message
    /// (`left` > 0 means ERROR_MORE_DATA, W67); byte mode gathers across messages (W58, W60).
    pub(crate) fn read(
        &self,
        buf: &mut [u8],
        message_mode: bool,
        nonblocking: bool,
        deadline: Option<Instant>,
    ) -> QResult<ReadOut> {
        let dir = self.side.rx();
        let ring = self.ring(dir);
        loop {
            {
                let _g = self.lock(&ring.r.0.lock, deadline)?;
                self.link_check()?;
                if self.has_data(dir)? {
                    return if message_mode {
                        self.read_message(dir, buf, deadline)
                    } else {
                        self.read_bytes(dir, buf)
                    };
                }
            }
            if self.peer_closed()? {
                return Err(QErr::PeerClosed);
            }
            if nonblocking {
                if self.clear_readiness() {
                    continue;
                }
                // A peer that died left its state OPEN: only its socket tells.
                if self.probe_hup() {
                    continue;
                }
                return Err(QErr::WouldBlock);
            }
            let want = &ring.k.0.reader_want;
            // Relaxed: a statistic for nonblocking writers, see WakeLine::reader_want.
            want.fetch_add(buf.len() as u64, Relaxed);
            let r = self.wait_on(dir, Wake::Data, deadline, |c| {
                c.link_check()?;
                Ok(c.has_data(dir)? || c.peer_closed()?)
            });
            want.fetch_sub(buf.len() as u64, Relaxed);
            r?;
        }
    }

    /// Message read, with the reader lock held and at least one record (or part) present.
    fn read_message(
        &self,
        dir: usize,
        buf: &mut [u8],
        deadline: Option<Instant>,
    ) -> QResult<ReadOut> {
        let (mut tail, mut head, mut left) = self.snapshot_hint(dir)?;
        if left == AT_HEADER && tail < align8(head) + REC_HDR {
            (tail, head, left) = self.snapshot(dir)?;
        }
        if left == AT_HEADER {
            let h = align8(head);
            let (len, flags) = self.record_at(dir, h);
            if flags & !KNOWN_FLAGS != 0 {
                return Err(QErr::Corrupt("unknown record flags"));
            }
            if len <= buf.len() as u64 && tail < h + REC_HDR + len {
                // The cached tail may be behind: look at the published one.
                tail = self.snapshot(dir)?.0;
            }
            if len <= buf.len() as u64 && tail >= h + REC_HDR + len {
                // The whole message is there and fits: one copy, one consume.
                self.copy_out(dir, h + REC_HDR, &mut buf[..len as usize]);
                self.consume(dir, h + REC_HDR + len, AT_HEADER, len, 1);
                return Ok(ReadOut {
                    n: len as usize,
                    left: 0,
                });
            }
            head = h + REC_HDR;
            left = len;
            self.consume(dir, head, left, 0, 0);
        }
        let want = (buf.len() as u64).min(left) as usize;
        let mut got = 0usize;
        while got < want {
            let (tail, _, _) = self.snapshot(dir)?;
            let avail = ((tail - head) as usize).min(want - got);
            if avail == 0 {
                // The writer is still streaming this message: wait for more (W126 large writes),
                // a quarter of the ring at a time when that much is still to come (see `write`).
                let batch = (self.caps[dir] / 4).min((want - got) as u64).max(1);
                let r = self.wait_on(dir, Wake::Data, deadline, |c| {
                    let (t, _, _) = c.snapshot(dir)?;
                    if t >= head + batch {
                        return Ok(true);
                    }
                    c.link_check()?;
                    if c.peer_closed()? {
                        return Err(QErr::PeerClosed);
                    }
                    Ok(false)
                });
                match r {
                    Ok(()) => continue,
                    // Hand back what we have; the rest stays as the remainder of the message.
                    Err(_) if got > 0 => break,
                    Err(e) => return Err(e),
                }
            }
            self.copy_out(dir, head, &mut buf[got..got + avail]);
            got += avail;
            head += avail as u64;
            left -= avail as u64;
            let done = left == 0;
            self.consume(
                dir,
                head,
                if done { AT_HEADER } else { left },
                avail as u64,
                done as u64,
            );
        }
        if left == 0 {
            if want == 0 {
                // An empty message read by any buffer (W76).
                self.consume(dir, head, AT_HEADER, 0, 1);
            }
            return Ok(ReadOut { n: got, left: 0 });
        }
        Ok(ReadOut { n: got, left })
    }

    /// Byte-mode read, with the reader lock held: gathers up to `buf.len()` of the available
    /// bytes across records, consuming empty messages on the way (W60, W76).
    fn read_bytes(&self, dir: usize, buf: &mut [u8]) -> QResult<ReadOut> {
        let (tail, mut head, mut left) = self.snapshot(dir)?;
        let (avail, _) = self.unread(dir)?;
        let target = (buf.len() as u64).min(avail) as usize;
        let mut n = 0usize;
        let mut msgs = 0u64;
        loop {
            if left == AT_HEADER {
                let h = align8(head);
                if tail < h + REC_HDR {
                    break;
                }
                let (len, flags) = self.record_at(dir, h);
                if flags & !KNOWN_FLAGS != 0 {
                    return Err(QErr::Corrupt("unknown record flags"));
                }
                head = h + REC_HDR;
                left = len;
            }
            let c = (left.min(tail - head) as usize).min(target - n);
            if c > 0 {
                self.copy_out(dir, head, &mut buf[n..n + c]);
            }
            n += c;
            head += c as u64;
            left -= c as u64;
            if left == 0 {
                left = AT_HEADER;
                msgs += 1;
            } else if c == 0 {
                break;
            }
            if n >= target {
                break;
            }
        }
        self.consume(dir, head, left, n as u64, msgs);
        Ok(ReadOut { n, left: 0 })
    }

    /// Copies without consuming (PeekNamedPipe). On a message-type pipe at most the rest of the
    /// first message is copied (W84).
    pub(crate) fn peek(&self, mut buf: Option<&mut [u8]>, message_type: bool) -> QResult<PeekOut> {
        let dir = self.side.rx();
        let _g = self.lock(&self.ring(dir).r.0.lock, None)?;
        let (tail, head, left) = self.snapshot(dir)?;
        let (avail, queued) = self.unread(dir)?;
        let mut pos = head;
        let mut rec_left = left;
        // Remaining length of the first message.
        let first_len = if left != AT_HEADER {
            left
        } else if tail >= align8(head) + REC_HDR {
            self.record_at(dir, align8(head)).0
        } else {
            0
        };
        let cap_len = buf.as_ref().map_or(0, |b| b.len()) as u64;
        let mut want = cap_len.min(avail);
        let msg_len = if message_type && avail > 0 {
            first_len
        } else {
            0
        };
        if message_type && avail > 0 {
            want = want.min(first_len);
        }
        let mut n = 0u64;
        while n < want {
            if rec_left == AT_HEADER || rec_left == 0 {
                let h = align8(pos);
                if tail < h + REC_HDR {
                    break;
                }
                rec_left = self.record_at(dir, h).0;
                pos = h + REC_HDR;
                continue;
            }
            let c = rec_left.min(tail - pos).min(want - n);
            if c == 0 {
                break;
            }
            if let Some(b) = buf.as_deref_mut() {
                self.copy_out(dir, pos, &mut b[n as usize..(n + c) as usize]);
            }
            n += c;
            pos += c;
            rec_left -= c;
        }
        Ok(PeekOut {
            read: n as usize,
            avail,
            msg_len,
            queued,
        })
    }

    /// Waits until the peer has read everything this end wrote (FlushFileBuffers, W94-W95).
    pub(crate) fn flush(&self, deadline: Option<Instant>) -> QResult<()> {
        let dir = self.side.tx();
        self.link_check()?;
        if self.peer_closed()? {
            return Ok(());
        }
        self.wait_on(dir, Wake::Space, deadline, |c| {
            if !c.unread(dir)?.1 {
                return Ok(true);
            }
            c.link_check()?;
            if c.peer_closed()? {
                return Err(QErr::Broken);
            }
            Ok(false)
        })
    }
    /// Appends one whole message without ever waiting for space (mailslot writers, W151): the
    /// payload is copied first and the record is published with a single `tail` store, so a
    /// reader sees either nothing or the complete message. `WouldBlock` when it does not fit now.
    pub(crate) fn try_write_message(&self, data: &[u8]) -> QResult<()> {
        let dir = self.side.tx();
        self.link_check()?;
        if self.peer_closed()? {
            return Err(QErr::PeerClosed);
        }
        let len = data.len() as u64;
        let cap = self.caps[dir];
        if len > u32::MAX as u64 || REC_HDR + len > cap {
            return Err(QErr::WouldBlock);
        }
        let ring = self.ring(dir);
        let w = &ring.w.0;
        let _g = self.lock(&w.lock, None)?;
        // Relaxed: tail and the write counters are only written under this lock.
        let tail = w.tail.load(Relaxed);
        // SYNC POINT with the Release store of `head` in `consume`: the reader is done with the
        // bytes before we overwrite them.
        let head = ring.r.0.head.load(Acquire);
        if tail < head || tail - head > cap {
            return Err(QErr::Corrupt("ring positions out of range"));
        }
        let h = align8(tail);
        if cap - (tail - head) < h - tail + REC_HDR + len {
            return Err(QErr::WouldBlock);
        }
        self.copy_in(dir, h + REC_HDR, data);
        self.publish_record(dir, h, len, len);
        self.notify(dir, Wake::Data);
        Ok(())
    }

    /// Size of the next inbound message (`None` when nothing is queued) and the number of
    /// queued messages (GetMailslotInfo, W150).
    pub(crate) fn next_message(&self) -> QResult<(Option<u64>, u64)> {
        let dir = self.side.rx();
        let ring = self.ring(dir);
        let _g = self.lock(&ring.r.0.lock, None)?;
        let (tail, head, left) = self.snapshot(dir)?;
        let next = if left != AT_HEADER {
            Some(left)
        } else if tail >= align8(head) + REC_HDR {
            Some(self.record_at(dir, align8(head)).0)
        } else {
            None
        };
        // Acquire: pairs with the Release counter updates; only compared here.
        let mw = ring.w.0.msgs_written.load(Acquire);
        let mr = ring.r.0.msgs_read.load(Acquire);
        if mr > mw {
            return Err(QErr::Corrupt("read counters ahead of write counters"));
        }
        // A record is published after its count: never report fewer messages than are visible.
        let count = (mw - mr).max(next.is_some() as u64);
        Ok((next, count))
    }

    /// Reads one whole inbound message into `buf`, waiting until `deadline` for one to arrive
    /// (mailslot reads, W145-W151). A buffer smaller than the message gives `TooSmall` and
    /// consumes nothing.
    pub(crate) fn read_whole(&self, buf: &mut [u8], deadline: Option<Instant>) -> QResult<usize> {
        let dir = self.side.rx();
        let ring = self.ring(dir);
        loop {
            {
                let _g = self.lock(&ring.r.0.lock, deadline)?;
                self.link_check()?;
                if self.has_data(dir)? {
                    let (_, head, left) = self.snapshot(dir)?;
                    let len = if left != AT_HEADER {
                        left
                    } else {
                        self.record_at(dir, align8(head)).0
                    };
                    if (buf.len() as u64) < len {
                        return Err(QErr::TooSmall(len));
                    }
                    return Ok(self.read_message(dir, buf, deadline)?.n);
                }
            }
            self.wait_on(dir, Wake::Data, deadline, |c| {
                c.link_check()?;
                c.has_data(dir)
            })?;
        }
    }
    /// Reserves room for one whole message of `len` bytes in the outbound ring, waiting for
    /// space like a write. `WouldBlock` if the message can never fit (larger than the ring).
    pub(crate) fn reserve(
        self: &std::sync::Arc<Self>,
        len: usize,
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
        let w = &self.ring(dir).w.0;
        let g = self.lock(&w.lock, deadline)?;
        // From here the lock is released by `Reserved::drop` (or below on error).
        std::mem::forget(g);
        let fail = |e| {
            unlock(&w.lock);
            Err(e)
        };
        // Relaxed: tail is only written under the writer lock.
        let tail = w.tail.load(Relaxed);
        let h = align8(tail);
        let need = h - tail + REC_HDR + len as u64;
        let space = |c: &Conn| -> QResult<bool> {
            // SYNC POINT with the Release store of `head` in `consume`.
            let head = c.ring(dir).r.0.head.load(Acquire);
            if tail < head || tail - head > cap {
                return Err(QErr::Corrupt("ring positions out of range"));
            }
            Ok(cap - (tail - head) >= need)
        };
        match space(self) {
            Ok(true) => {}
            Ok(false) => {
                if let Err(e) = self.wait_on(dir, Wake::Space, deadline, |c| {
                    c.link_check()?;
                    if c.peer_closed()? {
                        return Err(QErr::PeerClosed);
                    }
                    space(c)
                }) {
                    return fail(e);
                }
            }
            Err(e) => return fail(e),
        }
        Ok(Reserved {
            conn: self.clone(),
            dir,
            h,
            len: len as u64,
        })
    }

    /// Waits for one whole inbound message and returns it in place (message-type pipes). A
    /// message larger than the ring, or one already partly read, gives `TooSmall` with its
    /// remaining length: read it with [`Conn::read`].
    pub(crate) fn read_in_place(
        self: &std::sync::Arc<Self>,
        deadline: Option<Instant>,
    ) -> QResult<InPlace> {
        let dir = self.side.rx();
        let r = &self.ring(dir).r.0;
        loop {
            let g = self.lock(&r.lock, deadline)?;
            self.link_check()?;
            let (tail, head, left) = self.snapshot(dir)?;
            if left != AT_HEADER {
                return Err(QErr::TooSmall(left));
            }
            let h = align8(head);
            let complete = if tail >= h + REC_HDR {
                let (len, flags) = self.record_at(dir, h);
                if flags & !KNOWN_FLAGS != 0 {
                    return Err(QErr::Corrupt("unknown record flags"));
                }
                if REC_HDR + len > self.caps[dir] {
                    return Err(QErr::TooSmall(len));
                }
                (tail >= h + REC_HDR + len).then_some(len)
            } else {
                None
            };
            if let Some(len) = complete {
                std::mem::forget(g);
                return Ok(InPlace {
                    conn: self.clone(),
                    dir,
                    start: h + REC_HDR,
                    len,
                });
            }
            drop(g);
            if self.peer_closed()? && !self.unread(dir)?.1 {
                return Err(QErr::PeerClosed);
            }
            self.wait_on(dir, Wake::Data, deadline, |c| {
                c.link_check()?;
                let (t, hd, l) = c.snapshot(dir)?;
                if l != AT_HEADER {
                    return Ok(true);
                }
                let h = align8(hd);
                if t < h + REC_HDR {
                    return c.peer_closed();
                }
                let len = c.record_at(dir, h).0;
                Ok(t >= h + REC_HDR + len || REC_HDR + len > c.caps[dir] || c.peer_closed()?)
            })?;
        }
    }
}
