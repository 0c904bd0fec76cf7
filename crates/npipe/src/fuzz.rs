//! Fuzzing entry points. Not part of the API: built only under `--cfg fuzzing` (which cargo-fuzz
//! passes; the targets live in `fuzz/`) and in this crate's unit tests, which run the same entry
//! points over a few thousand inputs from a fixed-seed generator.
//!
//! Both entry points take arbitrary bytes and must never panic, crash, hang or touch memory
//! outside what they own. A panic here is a bug: either in the code under test, or in a check
//! below that states what the code promises.
//!
//! - [`handshake`]: the control-socket frame decoders (`transport::control`), which read bytes a
//!   peer process sends. A frame that decodes must re-encode to itself.
//! - [`queue_reader`]: a real shared-memory connection (`transport::queue::Conn`, server end
//!   created, client end attached to the same memfd, both in this thread) driven by a script: a
//!   hostile peer's writes into the shared header page and rings, interleaved with the honest
//!   operations of both ends. Checks: every returned length lies within the caller's buffer, and
//!   while nothing hostile has happened, every byte read is the next byte written, in order,
//!   message reads stop at message boundaries and byte reads return all they can.
//!
//! # Script format of [`queue_reader`]
//! ```text
//! byte 0   configuration: bits 0-1 ring 0 capacity (4 KiB << n), bits 2-3 ring 1 capacity,
//!          bit 4 message-type pipe (zero-length writes queue empty messages)
//! then     operations until the input ends (at most MAX_OPS): one byte whose low 4 bits pick
//!          the operation (`Op`), bit 4 the end (0 server, 1 client) or the ring, bits 5-6
//!          per-operation flags, bit 7 a 1 ms deadline instead of an already expired one;
//!          then the operation's arguments, little-endian (missing bytes read as 0)
//! ```
//! Every operation either does not wait or waits against a deadline (with both ends in one
//! thread, a wait for the other end always times out), so a script that runs for more than a
//! few milliseconds has found a hang in the code under test. The hostile peer writes only between
//! operations (so a run is deterministic and reproducible). It may write anything anywhere in
//! the shared page, the old ring lock words included: the locks now live in each side's private
//! page, out of the peer's reach.
//!
//! Set `NPIPE_FUZZ_TRACE=1` to print each operation and its result to stderr (for reading a
//! crash input: `NPIPE_FUZZ_TRACE=1 cargo fuzz run queue_reader <artifact>`).

use std::os::fd::AsFd;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::sys;
use crate::transport::control::{Reply, Request};
use crate::transport::queue::{self, Conn, QErr, Side, WriteOpts};

/// Decodes `data` as smbd's named-pipe proxy request (the SMB exposure's handshake) and its
/// first two bytes as a frame header: nothing panics, and what decodes is consistent.
///
/// # Panics
/// When a decoded request has a level outside 4..=8 or its reply is not 36 bytes echoing it.
pub fn npa(data: &[u8]) {
    use crate::transport::npa;
    if let Ok(r) = npa::decode_request(data) {
        assert!(npa::LEVELS.contains(&r.level), "level {} accepted", r.level);
        let rep = npa::encode_reply(r.level, true);
        assert_eq!(&rep[8..12], &r.level.to_le_bytes());
        let _ = r.probe_only();
    }
    if let [a, b, ..] = *data {
        if let Ok(n) = npa::frame_len([a, b]) {
            assert_eq!(npa::frame_header(n), Some([a, b]));
        }
    }
}

/// Decodes `data` as a handshake request and as a reply; whatever decodes must re-encode to the
/// same frame.
///
/// # Panics
/// When a decoded frame does not round-trip (a decoder or encoder bug).
pub fn handshake(data: &[u8]) {
    if let Ok(r) = Request::decode(data) {
        let enc = r.encode();
        assert_eq!(
            Request::decode(&enc).as_ref(),
            Ok(&r),
            "request does not round-trip"
        );
        // The request decoder checks every byte, so the encoding is the input itself.
        assert_eq!(enc, data, "request decoder accepted a non-canonical frame");
    }
    if let Ok(r) = Reply::decode(data) {
        let enc = r.encode();
        assert_eq!(
            Reply::decode(&enc).as_ref(),
            Ok(&r),
            "reply does not round-trip"
        );
        // The reply decoder checks every byte too (the error word of a reply that is not an
        // error and the pad of a Connected/Info body must be 0).
        assert_eq!(enc, data, "reply decoder accepted a non-canonical frame");
        if let Reply::Described(d) = &r {
            described(d);
        }
    }
}

/// A listing's checks on a decoded Describe answer (`semantics::listing::check`), at the
/// address its own name maps to (where a truthful server listens) and at a fixed one: never a
/// panic, and an accepted answer is listed under exactly the name it gave.
fn described(d: &crate::transport::control::Described) {
    use crate::semantics::{listing, namespace};
    let peer = sys::PeerCred {
        pid: None,
        uid: 0,
        gid: 0,
    };
    let mut addrs = vec![b"npipe/pipe/X".to_vec()];
    for kind in [namespace::Kind::Pipe, namespace::Kind::Mailslot] {
        if let Ok(n) = namespace::parse(&d.name, kind) {
            addrs.push(n.address_in("npipe"));
        }
    }
    for addr in addrs {
        if let Some(e) = listing::check(&addr, "npipe", d, peer) {
            assert_eq!(e.name, d.name, "listed under another name than it gave");
            assert!(
                e.listening <= e.info.cur_instances && e.info.cur_instances <= e.info.max_instances
            );
        }
    }
}

/// Runs `data` as a script against a real connection (see the module docs for the format).
///
/// # Panics
/// When an operation returns more than the caller's buffer, or (before any hostile write) reads
/// other bytes than were written, across a message boundary, or fewer than were available.
pub fn queue_reader(data: &[u8]) {
    let (cfg, ops) = parse(data);
    run(cfg, &ops);
}

/// Most operations a script runs.
const MAX_OPS: usize = 64;
/// Bytes of the header page (ring headers included) a raw poke may write.
const HEADER_PAGE: usize = queue::HEADER_BYTES;
/// The longer of the two deadlines.
const LONG: Duration = Duration::from_millis(1);

/// Script configuration (byte 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Config {
    caps: [u64; 2],
    /// Record windows: the whole ring, or a quarter of it (at least the minimum), so small
    /// records skip to the next lap (bits 5 and 6 of the byte).
    wins: [u64; 2],
    message_type: bool,
}

impl Config {
    fn from_byte(b: u8) -> Config {
        let caps = [
            queue::MIN_RING << (b & 3),
            queue::MIN_RING << ((b >> 2) & 3),
        ];
        let win = |d: usize| {
            if b & (0x20 << d) != 0 {
                (caps[d] / 4).max(queue::MIN_RING)
            } else {
                caps[d]
            }
        };
        Config {
            caps,
            wins: [win(0), win(1)],
            message_type: b & 0x10 != 0,
        }
    }

    fn to_byte(self) -> u8 {
        let lg = |c: u64| (c / queue::MIN_RING).trailing_zeros() as u8;
        let small = |d: usize| ((self.wins[d] < self.caps[d]) as u8) << (5 + d);
        lg(self.caps[0])
            | lg(self.caps[1]) << 2
            | (self.message_type as u8) << 4
            | small(0)
            | small(1)
    }
}

/// A shared-memory field a hostile peer may overwrite: offset in the header page, width.
#[derive(Debug, Clone, Copy)]
struct Field {
    name: &'static str,
    off: usize,
    width: usize,
}

const fn f(name: &'static str, off: usize, width: usize) -> Field {
    Field { name, off, width }
}

/// The fields of the shared header page, as `transport::queue` lays them out (checked against
/// the real layout by `tests::field_table_matches_the_queue_layout`).
const FIELDS: &[Field] = &[
    f("magic", 0, 4),
    f("version", 4, 4),
    f("header_bytes", 8, 4),
    f("param", 12, 4),
    f("ring_cap[0]", 16, 8),
    f("ring_cap[1]", 24, 8),
    f("state[server]", 32, 4),
    f("state[client]", 36, 4),
    f("cur_instances", 40, 4),
    f("cpu[server]", 48, 4),
    f("cpu[client]", 52, 4),
    f("ring_win[0]", 56, 8),
    f("ring_win[1]", 64, 8),
    f("r0.tail", 1024, 8),
    f("r0.bytes_written", 1024 + 8, 8),
    f("r0.msgs_written", 1024 + 16, 8),
    f("r0.done_to", 1024 + 24, 8),
    f("r0.head", 1024 + 128, 8),
    f("r0.msg_left", 1024 + 136, 8),
    f("r0.bytes_read", 1024 + 144, 8),
    f("r0.msgs_read", 1024 + 152, 8),
    f("r0.reader_want", 1024 + 160, 8),
    f("r0.data_seq", 1024 + 256, 4),
    f("r0.data_waiters", 1024 + 260, 4),
    f("r0.space_seq", 1024 + 264, 4),
    f("r0.space_waiters", 1024 + 268, 4),
    f("r0.wake_reserved", 1024 + 272, 8),
    f("r0.poll_armed", 1024 + 280, 4),
    f("r1.tail", 2048, 8),
    f("r1.bytes_written", 2048 + 8, 8),
    f("r1.msgs_written", 2048 + 16, 8),
    f("r1.done_to", 2048 + 24, 8),
    f("r1.head", 2048 + 128, 8),
    f("r1.msg_left", 2048 + 136, 8),
    f("r1.bytes_read", 2048 + 144, 8),
    f("r1.msgs_read", 2048 + 152, 8),
    f("r1.reader_want", 2048 + 160, 8),
    f("r1.data_seq", 2048 + 256, 4),
    f("r1.data_waiters", 2048 + 260, 4),
    f("r1.space_seq", 2048 + 264, 4),
    f("r1.space_waiters", 2048 + 268, 4),
    f("r1.wake_reserved", 2048 + 272, 8),
    f("r1.poll_armed", 2048 + 280, 4),
    // Appended (layout 5): the fields above keep their places in the table (a corpus byte
    // picks a field modulo the table's length, so old inputs may now reach other fields).
    f("r0.cut_rec", 1024 + 384, 8),
    f("r0.cut_end", 1024 + 392, 8),
    f("r1.cut_rec", 2048 + 384, 8),
    f("r1.cut_end", 2048 + 392, 8),
];

/// The index of the field called `name` in [`FIELDS`] (for building scripts).
fn field_index(name: &str) -> u8 {
    FIELDS
        .iter()
        .position(|f| f.name == name)
        .expect("a field of FIELDS") as u8
}

/// Offsets of `tail` and `head` per ring.
const TAIL: [usize; 2] = [1024, 2048];
const HEAD: [usize; 2] = [1024 + 128, 2048 + 128];

/// How a poked value is chosen; relative choices start from the field's current value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Val {
    Small(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    /// `u64::MAX - n`: positions about to wrap.
    NearMax(u16),
    /// `2^63 + n`.
    NearHalf(i16),
    /// `2^32 + n`: just past every u32 length.
    Near4G(i16),
    /// The current value plus `n`.
    Rel(i16),
    /// The current value with bit `n % 64` flipped.
    Flip(u8),
    /// `k` ring capacities plus `n` (for positions).
    Caps(u8, i8),
}

const VAL_KINDS: u8 = 10;

impl Val {
    fn parse(r: &mut Reader<'_>) -> Val {
        match r.u8() % VAL_KINDS {
            0 => Val::Small(r.u8()),
            1 => Val::U16(r.u16()),
            2 => Val::U32(r.u32()),
            3 => Val::U64(r.u64()),
            4 => Val::NearMax(r.u16()),
            5 => Val::NearHalf(r.u16() as i16),
            6 => Val::Near4G(r.u16() as i16),
            7 => Val::Rel(r.u16() as i16),
            8 => Val::Flip(r.u8()),
            _ => Val::Caps(r.u8(), r.u8() as i8),
        }
    }

    fn encode(self, out: &mut Vec<u8>) {
        match self {
            Val::Small(v) => out.extend([0, v]),
            Val::U16(v) => put(out, 1, &v.to_le_bytes()),
            Val::U32(v) => put(out, 2, &v.to_le_bytes()),
            Val::U64(v) => put(out, 3, &v.to_le_bytes()),
            Val::NearMax(v) => put(out, 4, &v.to_le_bytes()),
            Val::NearHalf(v) => put(out, 5, &v.to_le_bytes()),
            Val::Near4G(v) => put(out, 6, &v.to_le_bytes()),
            Val::Rel(v) => put(out, 7, &v.to_le_bytes()),
            Val::Flip(v) => out.extend([8, v]),
            Val::Caps(k, n) => out.extend([9, k, n as u8]),
        }
    }

    fn resolve(self, cur: u64, cap: u64) -> u64 {
        match self {
            Val::Small(v) => v as u64,
            Val::U16(v) => v as u64,
            Val::U32(v) => v as u64,
            Val::U64(v) => v,
            Val::NearMax(v) => u64::MAX - v as u64,
            Val::NearHalf(v) => (1u64 << 63).wrapping_add(v as i64 as u64),
            Val::Near4G(v) => (1u64 << 32).wrapping_add(v as i64 as u64),
            Val::Rel(v) => cur.wrapping_add(v as i64 as u64),
            Val::Flip(v) => cur ^ (1 << (v % 64)),
            Val::Caps(k, n) => (k as u64 * cap).wrapping_add(n as i64 as u64),
        }
    }
}

fn put(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    out.extend_from_slice(bytes);
}

/// A buffer or message size: `v & 0x3f`, `& 0xfff`, `& 0x3fff` or `(v & 0x3fff) * 4` by the top
/// two bits, so small sizes are common and sizes of several ring capacities possible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Size(u16);

impl Size {
    fn get(self) -> usize {
        let v = self.0 as usize;
        match v >> 14 {
            0 => v & 0x3f,
            1 => v & 0xfff,
            2 => v & 0x3fff,
            _ => (v & 0x3fff) * 4,
        }
    }
}

/// One step of a script. `side` is 0 for the server end, 1 for the client end; `ring` is 0
/// (server to client) or 1; `long` picks the 1 ms deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    /// Hostile: overwrite a named header field.
    Poke { field: u8, val: Val },
    /// Hostile: overwrite 1, 2, 4 or 8 bytes anywhere in the header page.
    PokeRaw { off: u16, width: u8, val: Val },
    /// Hostile: write a record header `[len][flags]` `slot` 8-byte slots past the one at the
    /// ring's `head` (where the reader looks for the next header).
    PokeRecord {
        ring: u8,
        slot: u8,
        len: u32,
        flags: u32,
    },
    /// Hostile: write bytes into a ring.
    PokeRing { ring: u8, off: u16, bytes: Vec<u8> },
    /// Hostile: move a ring's `head` to `base` and its `tail` by the same amount.
    Shift { ring: u8, base: Val },
    /// `Conn::write` of a message or byte-stream write.
    Write {
        side: u8,
        len: Size,
        nonblocking: bool,
        wait_quota: bool,
        quota: u16,
        long: bool,
    },
    /// `Conn::read` in message or byte mode.
    Read {
        side: u8,
        buf: Size,
        message_mode: bool,
        nonblocking: bool,
        long: bool,
    },
    /// `Conn::peek`, with or without a buffer.
    Peek { side: u8, buf: Option<Size> },
    /// `Conn::next_message`.
    NextMessage { side: u8 },
    /// `Conn::read_whole`.
    ReadWhole { side: u8, buf: Size, long: bool },
    /// `Conn::flush`.
    Flush { side: u8, long: bool },
    /// `Conn::appender` and `Appender::append` (a mailslot store's writer).
    TryWrite { side: u8, len: Size },
    /// `Conn::reserve`, filled, then committed or dropped.
    Reserve {
        side: u8,
        len: Size,
        commit: bool,
        long: bool,
    },
    /// `Conn::read_in_place`, read through, then dropped (consumed).
    ReadInPlace { side: u8, long: bool },
    /// Honest state change: `Conn::set_state(side, OPEN | CLOSED | DISCONNECTED)`.
    SetState { side: u8, state: u8 },
    /// The cheap queries: peer_open, inbound_pending, capacity, cur_instances, param.
    Query { side: u8 },
}

/// Reads script bytes; past the end every read gives 0.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn done(&self) -> bool {
        self.pos >= self.b.len()
    }
    fn u8(&mut self) -> u8 {
        let v = self.b.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        v
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn u64(&mut self) -> u64 {
        self.u32() as u64 | (self.u32() as u64) << 32
    }
}

fn parse(data: &[u8]) -> (Config, Vec<Op>) {
    let mut r = Reader { b: data, pos: 0 };
    let cfg = Config::from_byte(r.u8());
    let mut ops = Vec::new();
    while !r.done() && ops.len() < MAX_OPS {
        let b = r.u8();
        let side = (b >> 4) & 1;
        let f5 = b & 0x20 != 0;
        let f6 = b & 0x40 != 0;
        let long = b & 0x80 != 0;
        let op = match b & 0xf {
            0 => Op::Poke {
                field: r.u8(),
                val: Val::parse(&mut r),
            },
            1 => Op::PokeRaw {
                off: r.u16(),
                width: 1 << ((b >> 5) & 3),
                val: Val::parse(&mut r),
            },
            2 => Op::PokeRecord {
                ring: side,
                slot: r.u8(),
                len: r.u32(),
                flags: if f5 { r.u32() } else { 0 },
            },
            3 => {
                let off = r.u16();
                let n = (r.u8() & 0x3f) as usize;
                let bytes = (0..n).map(|_| r.u8()).collect();
                Op::PokeRing {
                    ring: side,
                    off,
                    bytes,
                }
            }
            4 => Op::Shift {
                ring: side,
                base: Val::parse(&mut r),
            },
            5 => Op::Write {
                side,
                len: Size(r.u16()),
                nonblocking: f5,
                wait_quota: f6,
                quota: r.u16(),
                long,
            },
            6 => Op::Read {
                side,
                buf: Size(r.u16()),
                message_mode: f5,
                nonblocking: f6,
                long,
            },
            7 => Op::Peek {
                side,
                buf: f5.then(|| Size(r.u16())),
            },
            8 => Op::NextMessage { side },
            9 => Op::ReadWhole {
                side,
                buf: Size(r.u16()),
                long,
            },
            10 => Op::Flush { side, long },
            11 => Op::TryWrite {
                side,
                len: Size(r.u16()),
            },
            12 => Op::Reserve {
                side,
                len: Size(r.u16()),
                commit: f5,
                long,
            },
            13 => Op::ReadInPlace { side, long },
            14 => Op::SetState {
                side,
                state: (b >> 5) & 3,
            },
            _ => Op::Query { side },
        };
        ops.push(op);
    }
    (cfg, ops)
}

/// The script bytes for `cfg` and `ops` (the inverse of [`parse`]; seeds and tests build scripts
/// with it).
fn encode(cfg: Config, ops: &[Op]) -> Vec<u8> {
    let mut out = vec![cfg.to_byte()];
    let flags = |kind: u8, side: u8, f5: bool, f6: bool, long: bool| {
        kind | (side & 1) << 4 | (f5 as u8) << 5 | (f6 as u8) << 6 | (long as u8) << 7
    };
    for op in ops {
        match op {
            Op::Poke { field, val } => {
                out.extend([0, *field]);
                val.encode(&mut out);
            }
            Op::PokeRaw { off, width, val } => {
                out.push(1 | (width.trailing_zeros() as u8 & 3) << 5);
                out.extend(off.to_le_bytes());
                val.encode(&mut out);
            }
            Op::PokeRecord {
                ring,
                slot,
                len,
                flags: fl,
            } => {
                out.push(flags(2, *ring, *fl != 0, false, false));
                out.push(*slot);
                out.extend(len.to_le_bytes());
                if *fl != 0 {
                    out.extend(fl.to_le_bytes());
                }
            }
            Op::PokeRing { ring, off, bytes } => {
                out.push(flags(3, *ring, false, false, false));
                out.extend(off.to_le_bytes());
                out.push(bytes.len() as u8);
                out.extend(bytes);
            }
            Op::Shift { ring, base } => {
                out.push(flags(4, *ring, false, false, false));
                base.encode(&mut out);
            }
            Op::Write {
                side,
                len,
                nonblocking,
                wait_quota,
                quota,
                long,
            } => {
                out.push(flags(5, *side, *nonblocking, *wait_quota, *long));
                out.extend(len.0.to_le_bytes());
                out.extend(quota.to_le_bytes());
            }
            Op::Read {
                side,
                buf,
                message_mode,
                nonblocking,
                long,
            } => {
                out.push(flags(6, *side, *message_mode, *nonblocking, *long));
                out.extend(buf.0.to_le_bytes());
            }
            Op::Peek { side, buf } => {
                out.push(flags(7, *side, buf.is_some(), false, false));
                if let Some(b) = buf {
                    out.extend(b.0.to_le_bytes());
                }
            }
            Op::NextMessage { side } => out.push(flags(8, *side, false, false, false)),
            Op::ReadWhole { side, buf, long } => {
                out.push(flags(9, *side, false, false, *long));
                out.extend(buf.0.to_le_bytes());
            }
            Op::Flush { side, long } => out.push(flags(10, *side, false, false, *long)),
            Op::TryWrite { side, len } => {
                out.push(flags(11, *side, false, false, false));
                out.extend(len.0.to_le_bytes());
            }
            Op::Reserve {
                side,
                len,
                commit,
                long,
            } => {
                out.push(flags(12, *side, *commit, false, *long));
                out.extend(len.0.to_le_bytes());
            }
            Op::ReadInPlace { side, long } => out.push(flags(13, *side, false, false, *long)),
            Op::SetState { side, state } => {
                out.push(flags(14, *side, state & 1 != 0, state & 2 != 0, false))
            }
            Op::Query { side } => out.push(flags(15, *side, false, false, false)),
        }
    }
    out
}

/// What the honest ends have written into one ring and read back, while no hostile write has
/// happened (`valid`); after one, nothing is expected but memory safety and bounded lengths.
#[derive(Debug, Default)]
struct Model {
    valid: bool,
    /// Every payload byte written, in order.
    bytes: Vec<u8>,
    /// `(start, len)` in `bytes` of every non-empty message.
    msgs: Vec<(usize, usize)>,
    /// Payload bytes consumed.
    pos: usize,
}

impl Model {
    /// The bytes the next write of `len` bytes into ring `ring` carries: a pseudo-random
    /// pattern of the stream offset, so a misplaced, lost or repeated byte shows (unless it
    /// moved by a multiple of the pattern's prime period, which no ring size is).
    fn payload(&self, ring: usize, len: usize) -> Vec<u8> {
        const PERIOD: usize = 65_521;
        static PATTERN: OnceLock<Vec<u8>> = OnceLock::new();
        let pat = PATTERN.get_or_init(|| {
            let mut x = 0x2545_F491_4F6C_DD1Du64;
            let mut v: Vec<u8> = (0..PERIOD)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 32) as u8
                })
                .collect();
            // Twice over, so any `PERIOD` bytes from an offset below `PERIOD` are one slice.
            v.extend_from_within(..);
            v
        });
        let mut out = Vec::with_capacity(len);
        let mut at = (self.bytes.len() + ring * 4099) % PERIOD;
        while out.len() < len {
            let n = (len - out.len()).min(PERIOD);
            out.extend_from_slice(&pat[at..at + n]);
            at = (at + n) % PERIOD;
        }
        out
    }

    fn wrote(&mut self, data: &[u8]) {
        if !data.is_empty() {
            self.msgs.push((self.bytes.len(), data.len()));
        }
        self.bytes.extend_from_slice(data);
    }

    fn unread(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// End (in `bytes`) of the message holding the next unread byte.
    fn msg_end(&self) -> Option<usize> {
        let i = self.msgs.partition_point(|&(s, l)| s + l <= self.pos);
        self.msgs
            .get(i)
            .filter(|&&(s, _)| s <= self.pos)
            .map(|&(s, l)| s + l)
    }

    /// Checks that `got` are the next unread bytes (without consuming them).
    fn check_next(&self, what: &str, got: &[u8]) {
        if !self.valid {
            return;
        }
        let want = self.bytes.get(self.pos..self.pos + got.len());
        assert!(
            want == Some(got),
            "{what}: {} bytes at stream offset {} are not the bytes written",
            got.len(),
            self.pos
        );
    }

    /// Checks a read that consumed `got` and says `left` bytes of its message remain.
    fn consumed(&mut self, what: &str, got: &[u8], left: Option<u64>) {
        self.check_next(what, got);
        if self.valid {
            if let Some(left) = left {
                if !got.is_empty() || left > 0 {
                    let end = self.msg_end();
                    assert_eq!(
                        end.map(|e| (e - self.pos) as u64),
                        Some(got.len() as u64 + left),
                        "{what}: read {} + left {left} is not the rest of the message at {}",
                        got.len(),
                        self.pos
                    );
                }
            }
        }
        self.pos += got.len();
    }
}

/// Both ends of one connection, the hostile peer's own view of the memory, and the models.
struct Rig {
    cfg: Config,
    /// `[server, client]`.
    ends: [Arc<Conn>; 2],
    /// The peer's mapping of the same memfd.
    shm: sys::Mapping,
    models: [Model; 2],
    trace: bool,
}

fn trace_enabled() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("NPIPE_FUZZ_TRACE").is_some_and(|v| v != "0"))
}

fn run(cfg: Config, ops: &[Op]) {
    let trace = trace_enabled();
    let mut rig = Rig::new(cfg, trace);
    if trace {
        eprintln!("config: {cfg:?}");
    }
    for op in ops {
        rig.step(op);
    }
}

impl Rig {
    /// A fresh connection. Failing to make one is a failure too: with a few pages and three
    /// descriptors per script, it means a leak of descriptors or mappings.
    fn new(cfg: Config, trace: bool) -> Rig {
        let (server, fd) = Conn::create(None, cfg.caps, cfg.wins, 1).expect("create a connection");
        let size = queue::total_size(cfg.caps);
        let peer_fd = fd.try_clone().expect("duplicate the memfd");
        let client = Conn::attach(None, fd, cfg.caps).expect("attach to a fresh connection");
        let shm = sys::Mapping::map(peer_fd.as_fd(), size).expect("map the memfd for the peer");
        Rig {
            cfg,
            ends: [Arc::new(server), Arc::new(client)],
            shm,
            models: [
                Model {
                    valid: true,
                    ..Model::default()
                },
                Model {
                    valid: true,
                    ..Model::default()
                },
            ],
            trace,
        }
    }

    fn load(&self, off: usize, width: usize) -> u64 {
        let mut b = [0u8; 8];
        self.shm
            .read_at(off, &mut b[..width])
            .expect("field inside the header page");
        u64::from_le_bytes(b)
    }

    fn store(&self, off: usize, width: usize, v: u64) {
        self.shm
            .write_at(off, &v.to_le_bytes()[..width])
            .expect("field inside the mapping");
    }

    /// The peer wrote something: stop expecting exact data.
    fn hostile(&mut self) {
        self.models[0].valid = false;
        self.models[1].valid = false;
    }

    fn deadline(long: bool) -> Instant {
        let now = Instant::now();
        if long {
            now + LONG
        } else {
            now
        }
    }

    fn step(&mut self, op: &Op) {
        if self.trace {
            eprintln!("{op:?}");
        }
        let res = self.exec(op);
        if self.trace {
            eprintln!("  -> {res}");
        }
    }

    fn exec(&mut self, op: &Op) -> String {
        let cfg = self.cfg;
        let cap = |ring: u8| cfg.caps[ring as usize & 1];
        match *op {
            Op::Poke { field, val } => {
                self.hostile();
                let fl = FIELDS[field as usize % FIELDS.len()];
                let ring_cap = if fl.off >= 2048 { cap(1) } else { cap(0) };
                let v = val.resolve(self.load(fl.off, fl.width), ring_cap);
                self.store(fl.off, fl.width, v);
                format!("{} = {v:#x}", fl.name)
            }
            Op::PokeRaw { off, width, val } => {
                self.hostile();
                let width = width as usize;
                let off = (off as usize % HEADER_PAGE).min(HEADER_PAGE - width);
                let v = val.resolve(self.load(off, width), cap(0));
                self.store(off, width, v);
                format!("header[{off}..+{width}] = {v:#x}")
            }
            Op::PokeRecord {
                ring,
                slot,
                len,
                flags,
            } => {
                self.hostile();
                let c = cap(ring);
                // Relative to the next header the reader looks at, as a peer would aim.
                let head = self.load(HEAD[ring as usize & 1], 8);
                let at = (head.wrapping_add(7) & !7).wrapping_add(slot as u64 * 8);
                let off = (at % c) as usize;
                let base = self.ring_base(ring);
                let raw = len as u64 | (flags as u64) << 32;
                self.store(base + off, 8, raw);
                format!("ring {ring} record at {off}: len {len:#x} flags {flags:#x}")
            }
            Op::PokeRing {
                ring,
                off,
                ref bytes,
            } => {
                self.hostile();
                let c = cap(ring) as usize;
                let off = off as usize % c;
                let n = bytes.len().min(c - off);
                let base = self.ring_base(ring);
                self.shm
                    .write_at(base + off, &bytes[..n])
                    .expect("inside the ring");
                format!("ring {ring} bytes at {off}: {n}")
            }
            Op::Shift { ring, base } => {
                self.hostile();
                let r = ring as usize & 1;
                let head = self.load(HEAD[r], 8);
                let tail = self.load(TAIL[r], 8);
                let new_head = base.resolve(head, cap(ring));
                let new_tail = new_head.wrapping_add(tail.wrapping_sub(head));
                self.store(HEAD[r], 8, new_head);
                self.store(TAIL[r], 8, new_tail);
                format!("ring {r}: head {new_head:#x} tail {new_tail:#x}")
            }
            Op::Write {
                side,
                len,
                nonblocking,
                wait_quota,
                quota,
                long,
            } => {
                let (conn, m) = self.writer(side);
                let data = m.payload(side as usize & 1, len.get());
                let o = WriteOpts {
                    message: cfg.message_type,
                    quota: quota as u64,
                    wait_quota,
                    nonblocking,
                };
                let r = conn.write(&data, o, Some(Self::deadline(long)));
                match r {
                    Ok(n) => {
                        assert!(n <= data.len(), "write reports {n} of {} bytes", data.len());
                        if n > 0 || cfg.message_type {
                            m.wrote(&data[..n]);
                        }
                    }
                    // A write that timed out while streaming leaves part of its message.
                    Err(_) => m.valid = false,
                }
                format!("{r:?}")
            }
            Op::Read {
                side,
                buf,
                message_mode,
                nonblocking,
                long,
            } => {
                let (conn, m) = self.reader(side);
                let mut b = vec![0u8; buf.get()];
                let r = conn.read(
                    &mut b,
                    message_mode,
                    nonblocking,
                    Some(Self::deadline(long)),
                );
                if let Ok(out) = r {
                    assert!(out.n <= b.len(), "read {} into {} bytes", out.n, b.len());
                    assert!(out.left <= u32::MAX as u64, "left {} too large", out.left);
                    if message_mode {
                        m.consumed("message read", &b[..out.n], Some(out.left));
                    } else {
                        if m.valid {
                            assert_eq!(
                                out.n,
                                b.len().min(m.unread()),
                                "byte read returns what it can"
                            );
                        }
                        m.consumed("byte read", &b[..out.n], None);
                    }
                }
                format!("{r:?}")
            }
            Op::Peek { side, buf } => {
                let (conn, m) = self.reader(side);
                let mut b = buf.map(|s| vec![0u8; s.get()]);
                let r = conn.peek(b.as_deref_mut(), cfg.message_type);
                if let Ok(p) = r {
                    let blen = b.as_ref().map_or(0, |b| b.len());
                    assert!(p.read <= blen, "peek copied {} into {blen} bytes", p.read);
                    if let Some(b) = &b {
                        m.check_next("peek", &b[..p.read]);
                    }
                    if m.valid {
                        assert_eq!(p.avail, m.unread() as u64, "peek avail");
                    }
                }
                format!("{r:?}")
            }
            Op::NextMessage { side } => {
                let (conn, _) = self.reader(side);
                format!("{:?}", conn.next_message())
            }
            Op::ReadWhole { side, buf, long } => {
                let (conn, m) = self.reader(side);
                let mut b = vec![0u8; buf.get()];
                let r = conn.read_whole(&mut b, Some(Self::deadline(long)));
                match r {
                    Ok(n) => {
                        assert!(n <= b.len(), "read_whole {n} into {} bytes", b.len());
                        m.consumed("read_whole", &b[..n], Some(0));
                    }
                    Err(QErr::TooSmall(len)) => {
                        assert!(len > b.len() as u64, "TooSmall({len}) for {}", b.len())
                    }
                    Err(_) => {}
                }
                format!("{r:?}")
            }
            Op::Flush { side, long } => {
                let (conn, _) = self.writer(side);
                format!("{:?}", conn.flush(Some(Self::deadline(long))))
            }
            Op::TryWrite { side, len } => {
                let (conn, m) = self.writer(side);
                let data = m.payload(side as usize & 1, len.get());
                let r = conn.appender().and_then(|a| a.append(&data));
                if r.is_ok() {
                    m.wrote(&data);
                }
                format!("{r:?}")
            }
            Op::Reserve {
                side,
                len,
                commit,
                long,
            } => {
                let (conn, m) = self.writer(side);
                let n = len.get();
                let r = conn.reserve(n, Some(Self::deadline(long)));
                let Ok(mut res) = r else {
                    return format!("{r:?}");
                };
                let data = m.payload(side as usize & 1, n);
                let (a, b) = res.slices();
                assert_eq!(a.len() + b.len(), n, "reserved slices");
                let (da, db) = data.split_at(a.len());
                a.copy_from_slice(da);
                b.copy_from_slice(db);
                if !commit {
                    drop(res);
                    return "reserved, dropped".into();
                }
                let o = WriteOpts {
                    message: true,
                    quota: 0,
                    wait_quota: false,
                    nonblocking: false,
                };
                // A commit publishes the message whatever the quota wait then says.
                let r = res.commit(o, Some(Self::deadline(long)));
                m.wrote(&data);
                format!("committed: {r:?}")
            }
            Op::ReadInPlace { side, long } => {
                let (conn, m) = self.reader(side);
                let r = conn.read_in_place(Some(Self::deadline(long)));
                let Ok(msg) = r else {
                    return format!("{r:?}");
                };
                let (a, b) = msg.slices();
                let got = [a, b].concat();
                assert_eq!(got.len(), msg.len(), "in-place slices");
                m.consumed("read_in_place", &got, Some(0));
                format!("in place: {} bytes", got.len())
            }
            Op::SetState { side, state } => {
                let s = [queue::OPEN, queue::OPEN, queue::CLOSED, queue::DISCONNECTED]
                    [state as usize & 3];
                let who = if side & 1 == 0 {
                    Side::Server
                } else {
                    Side::Client
                };
                self.ends[side as usize & 1].set_state(who, s);
                format!("{who:?} = {s}")
            }
            Op::Query { side } => {
                let c = &self.ends[side as usize & 1];
                format!(
                    "peer_open {:?} inbound {:?} capacity {} instances {} param {}",
                    c.peer_open(),
                    c.inbound_pending(),
                    c.capacity(),
                    c.cur_instances(),
                    c.param()
                )
            }
        }
    }

    /// Offset of ring `ring`'s data in the mapping.
    fn ring_base(&self, ring: u8) -> usize {
        queue::HEADER_BYTES
            + if ring & 1 == 1 {
                self.cfg.caps[0] as usize
            } else {
                0
            }
    }

    /// End `side` and the model of the ring it writes (server: ring 0, client: ring 1).
    fn writer(&mut self, side: u8) -> (Arc<Conn>, &mut Model) {
        let s = side as usize & 1;
        (self.ends[s].clone(), &mut self.models[s])
    }

    /// End `side` and the model of the ring it reads (server: ring 1, client: ring 0).
    fn reader(&mut self, side: u8) -> (Arc<Conn>, &mut Model) {
        let s = side as usize & 1;
        (self.ends[s].clone(), &mut self.models[1 - s])
    }
}

/// Scripts to start fuzzing from: honest traffic of each kind, and a few hostile writes. Each is
/// `(name, script bytes)`.
pub fn queue_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let msg = Config {
        caps: [queue::MIN_RING; 2],
        wins: [queue::MIN_RING; 2],
        message_type: true,
    };
    let byte = Config {
        message_type: false,
        ..msg
    };
    let w = |side, len| Op::Write {
        side,
        len: Size(len),
        nonblocking: false,
        wait_quota: false,
        quota: 0,
        long: false,
    };
    let rd = |side, buf, message_mode| Op::Read {
        side,
        buf: Size(buf),
        message_mode,
        nonblocking: true,
        long: false,
    };
    let sz = |n: u16| 0x4000 | n;
    // 16 KiB rings with 4 KiB record windows: small records skip to the next lap.
    let windows = Config {
        caps: [4 * queue::MIN_RING; 2],
        wins: [queue::MIN_RING; 2],
        message_type: true,
    };
    vec![
        (
            "windows",
            encode(
                windows,
                &[
                    w(0, 0x8000 | 5000),
                    rd(1, 0x8000 | 6000, true),
                    w(0, 0x8000 | 100),
                    w(0, 0x8000 | 3000),
                    rd(1, 0x8000 | 6000, true),
                    rd(1, 0x8000 | 6000, true),
                    w(1, 0x8000 | 9000),
                    rd(0, 0x8000 | 100, true),
                    rd(0, 0x8000 | 9000, true),
                ],
            ),
        ),
        (
            "messages",
            encode(
                msg,
                &[
                    w(0, 5),
                    w(0, 0),
                    w(0, 40),
                    rd(1, 3, true),
                    rd(1, 3, true),
                    rd(1, 0, true),
                    rd(1, 40, true),
                    Op::Peek {
                        side: 1,
                        buf: Some(Size(8)),
                    },
                    Op::NextMessage { side: 1 },
                ],
            ),
        ),
        (
            "bytes-both-ways",
            encode(
                byte,
                &[
                    w(0, 10),
                    w(1, 20),
                    w(0, 7),
                    rd(1, 16, false),
                    rd(0, 64, false),
                    rd(1, 16, false),
                    Op::Flush {
                        side: 0,
                        long: false,
                    },
                ],
            ),
        ),
        (
            "wrap",
            encode(
                msg,
                &[
                    w(0, sz(3000)),
                    rd(1, sz(3000), true),
                    w(0, sz(3000)),
                    rd(1, sz(1000), true),
                    rd(1, sz(2048), true),
                    Op::ReadWhole {
                        side: 1,
                        buf: Size(sz(100)),
                        long: false,
                    },
                ],
            ),
        ),
        (
            "mailslot",
            encode(
                msg,
                &[
                    Op::TryWrite {
                        side: 1,
                        len: Size(30),
                    },
                    Op::TryWrite {
                        side: 1,
                        len: Size(0),
                    },
                    Op::NextMessage { side: 0 },
                    Op::ReadWhole {
                        side: 0,
                        buf: Size(10),
                        long: false,
                    },
                    Op::ReadWhole {
                        side: 0,
                        buf: Size(30),
                        long: false,
                    },
                    Op::ReadWhole {
                        side: 0,
                        buf: Size(0),
                        long: false,
                    },
                ],
            ),
        ),
        (
            "zero-copy",
            encode(
                msg,
                &[
                    Op::Reserve {
                        side: 0,
                        len: Size(sz(2000)),
                        commit: true,
                        long: false,
                    },
                    Op::ReadInPlace {
                        side: 1,
                        long: false,
                    },
                    Op::Reserve {
                        side: 0,
                        len: Size(sz(3000)),
                        commit: true,
                        long: false,
                    },
                    Op::ReadInPlace {
                        side: 1,
                        long: false,
                    },
                ],
            ),
        ),
        (
            "states",
            encode(
                msg,
                &[
                    w(1, 4),
                    Op::SetState { side: 1, state: 2 },
                    rd(0, 8, true),
                    rd(0, 8, true),
                    Op::Query { side: 0 },
                    Op::SetState { side: 0, state: 3 },
                    Op::Query { side: 1 },
                ],
            ),
        ),
        (
            "hostile-record",
            encode(
                msg,
                &[
                    w(0, 16),
                    Op::PokeRecord {
                        ring: 0,
                        slot: 0,
                        len: 4000,
                        flags: 0,
                    },
                    rd(1, sz(4095), true),
                    Op::Peek {
                        side: 1,
                        buf: Some(Size(sz(4095))),
                    },
                ],
            ),
        ),
        (
            "hostile-positions",
            encode(
                byte,
                &[
                    w(0, 16),
                    Op::Poke {
                        field: field_index("r0.tail"),
                        val: Val::Rel(8),
                    },
                    Op::Poke {
                        field: field_index("r0.msg_left"),
                        val: Val::Small(3),
                    },
                    rd(1, 64, false),
                    Op::Shift {
                        ring: 0,
                        base: Val::Caps(3, 0),
                    },
                    rd(1, 64, false),
                ],
            ),
        ),
    ]
}

/// smbd requests to start fuzzing from: a level-7 request with a client address, a session
/// with a token of two SIDs (the NPA flags SID among them), a Unix token and user names, in the
/// layout smbd 4.17 sends (the captured samples stay outside the repository); and the same
/// request at level 8 and without its session.
pub fn npa_seeds() -> Vec<(&'static str, Vec<u8>)> {
    fn u32s(v: &mut Vec<u8>, xs: &[u32]) {
        for x in xs {
            v.extend_from_slice(&x.to_le_bytes());
        }
    }
    fn string(v: &mut Vec<u8>, s: &str) {
        while !v.len().is_multiple_of(4) {
            v.push(0);
        }
        let n = s.len() as u32 + 1;
        u32s(v, &[n, 0, n]);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
    }
    fn align(v: &mut Vec<u8>, to: usize) {
        while !v.len().is_multiple_of(to) {
            v.push(0);
        }
    }
    let build = |level: u32, session: bool| {
        let mut v = vec![0u8; 4];
        v.extend_from_slice(b"NPAM");
        u32s(&mut v, &[level, level, 1, 0, 0x20004, 40000, 0, 0, 445]);
        u32s(&mut v, &[if session { 0x20008 } else { 0 }]);
        string(&mut v, "192.0.2.7");
        if session {
            align(&mut v, 4);
            u32s(&mut v, &[0x2000c, 0]); // session_info, no gssapi credentials
            u32s(&mut v, &[0x20010, 0x20014, 0x20018, 0, 0, 16]);
            v.extend_from_slice(&[0xAA; 16]); // a session key
            u32s(&mut v, &[0]);
            v.extend_from_slice(&[0x11; 16]); // GUID
            align(&mut v, 8);
            u32s(&mut v, &[3, 3]);
            v.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 1]);
            u32s(&mut v, &[0]); // S-1-1-0
            v.extend_from_slice(&[1, 2, 0, 0, 0, 0, 0, 22]);
            u32s(&mut v, &[1, 1001]); // S-1-22-1-1001, the Unix user
            v.extend_from_slice(&[1, 2, 0, 0, 0, 0, 0, 22]);
            u32s(&mut v, &[2041152804, 0]); // NPA flags
            align(&mut v, 8);
            v.extend_from_slice(&[0; 12]); // privilege and rights masks
            u32s(&mut v, &[1]);
            align(&mut v, 8);
            for id in [1001u64, 1001, 1] {
                v.extend_from_slice(&id.to_le_bytes());
            }
            align(&mut v, 8);
            v.extend_from_slice(&1001u64.to_le_bytes());
            u32s(&mut v, &[0x2001c, 0, 0, 0x20020, 0, 0, 0, 0, 0, 0, 0]);
            v.extend_from_slice(&[0; 56]); // times, counts, flags
            u32s(&mut v, &[1]); // authenticated
            string(&mut v, "user");
            string(&mut v, "DOMAIN");
        }
        let l = (v.len() - 4) as u32;
        v[..4].copy_from_slice(&l.to_be_bytes());
        v
    };
    vec![
        ("level7", build(7, true)),
        ("level8", build(8, true)),
        ("no-session", build(7, false)),
    ]
}

/// Handshake frames to start fuzzing from: one valid frame of each kind.
pub fn handshake_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use crate::transport::control::{PipeInfo, ReqKind};
    let info = PipeInfo {
        message_type: true,
        direction: 3,
        max_instances: 4,
        out_quota: 1024,
        in_quota: 4096,
        default_timeout: 50,
        cur_instances: 1,
        server_pid: 1234,
        caps: [65536, 65536],
    };
    let req = |kind| Request {
        kind,
        access: 0xC000_0000,
        timeout_ms: 50,
        name: r"\\.\pipe\seed".into(),
        token: 0,
    };
    vec![
        ("open", req(ReqKind::Open).encode()),
        ("wait", req(ReqKind::Wait).encode()),
        ("query", req(ReqKind::Query).encode()),
        (
            "describe",
            Request {
                kind: ReqKind::Describe,
                access: 0,
                timeout_ms: 0,
                name: String::new(),
                token: 0,
            }
            .encode(),
        ),
        (
            "described",
            Reply::Described(crate::transport::control::Described {
                object: crate::transport::control::Object::Pipe,
                listening: 1,
                info,
                name: r"\\.\pipe\seed".into(),
            })
            .encode(),
        ),
        ("connected", Reply::Connected(info).encode()),
        ("info", Reply::Info(info).encode()),
        ("error", Reply::Error(231).encode()),
        ("ready", Reply::Ready.encode()),
        (
            "parked",
            Reply::Parked {
                default_timeout: 50,
            }
            .encode(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed-seed xorshift64 generator: the same inputs on every run.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// Runs `f` on `input`, naming the input if it panics.
    fn run_named(what: &str, i: usize, input: &[u8], f: fn(&[u8])) {
        if std::panic::catch_unwind(|| f(input)).is_err() {
            panic!("{what} input #{i} failed: {}{REPLAY}", hex(input));
        }
    }

    /// How to read a failing input (appended to failure messages).
    const REPLAY: &str = "\n(replay it step by step with NPIPE_FUZZ_TRACE=1 \
        NPIPE_FUZZ_REPLAY=TARGET:HEX cargo test -p npipe --lib fuzz::tests::replay -- \
        --ignored --nocapture)";

    /// Runs `f` on every input in a worker thread and fails, naming the input, when one panics
    /// or runs for longer than [`HANG`] (a hang must fail the suite, not stall it).
    fn run_guarded(what: &'static str, inputs: Vec<Vec<u8>>, f: fn(&[u8])) {
        use std::sync::mpsc;
        enum Event {
            Start(usize),
            Failed(usize),
            Done,
        }
        let inputs = Arc::new(inputs);
        let (tx, rx) = mpsc::channel();
        let work = inputs.clone();
        std::thread::spawn(move || {
            for (i, input) in work.iter().enumerate() {
                let _ = tx.send(Event::Start(i));
                if std::panic::catch_unwind(|| f(input)).is_err() {
                    let _ = tx.send(Event::Failed(i));
                    return;
                }
            }
            let _ = tx.send(Event::Done);
        });
        let mut current = 0;
        loop {
            match rx.recv_timeout(HANG) {
                Ok(Event::Start(i)) => current = i,
                Ok(Event::Failed(i)) => {
                    panic!("{what} input #{i} failed: {}{REPLAY}", hex(&inputs[i]))
                }
                Ok(Event::Done) => return,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                    "{what} input #{current} hangs (over {HANG:?}): {}{REPLAY}",
                    hex(&inputs[current])
                ),
                Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: worker vanished"),
            }
        }
    }

    /// How long one input may run in [`run_guarded`]: every wait in a script is 1 ms at most.
    const HANG: Duration = Duration::from_secs(10);

    /// The NPA seeds decode as meant (so the fuzzer starts from deep inside the decoder).
    #[test]
    fn npa_seeds_decode() {
        use crate::transport::npa::decode_request;
        let seeds = npa_seeds();
        let r = decode_request(&seeds[0].1).unwrap();
        let s = r.session.unwrap();
        assert_eq!(
            (s.uid, s.gid, s.groups.as_slice()),
            (1001, 1001, &[1001][..])
        );
        assert_eq!((s.account.as_str(), s.domain.as_str()), ("user", "DOMAIN"));
        assert!(s.authenticated);
        assert_eq!(s.npa_flags, Some(0));
        assert_eq!(r.client_addr.as_deref(), Some("192.0.2.7"));
        // Level 8 is answered but its identity is not decoded (its token layout differs).
        assert!(decode_request(&seeds[1].1).unwrap().session.is_none());
        assert!(decode_request(&seeds[2].1).unwrap().session.is_none());
    }

    #[test]
    fn handshake_random_and_mutated_frames() {
        let mut rng = Rng(0x6e70_6970_6531);
        let seeds: Vec<Vec<u8>> = handshake_seeds().into_iter().map(|s| s.1).collect();
        for i in 0..20_000 {
            let input = if i % 4 == 0 {
                let n = rng.below(80) as usize;
                rng.bytes(n)
            } else {
                // A valid frame with a few bytes changed, cut or added.
                let mut v = seeds[rng.below(seeds.len() as u64) as usize].clone();
                for _ in 0..1 + rng.below(3) {
                    match rng.below(4) {
                        0 if !v.is_empty() => {
                            let at = rng.below(v.len() as u64) as usize;
                            v[at] = rng.next() as u8;
                        }
                        1 => v.truncate(rng.below(v.len() as u64 + 1) as usize),
                        2 => v.push(rng.next() as u8),
                        _ if v.len() > 16 => {
                            // The name length or body: a small change keeps the frame plausible.
                            let at = 16 + rng.below(v.len() as u64 - 16) as usize;
                            v[at] ^= 1 << rng.below(8);
                        }
                        _ => {}
                    }
                }
                v
            };
            run_named("handshake", i, &input, handshake);
        }
    }

    /// One random operation, biased towards what finds bugs: real traffic, buffers around the
    /// ring capacity, positions that are about to wrap.
    fn random_op(rng: &mut Rng) -> Op {
        let side = rng.below(2) as u8;
        // Mostly the expired deadline: a 1 ms wait per operation would make the suite slow.
        let long = rng.below(32) == 0;
        let size = |rng: &mut Rng| Size(rng.next() as u16);
        let val = |rng: &mut Rng| {
            let b = rng.bytes(10);
            Val::parse(&mut Reader { b: &b, pos: 0 })
        };
        match rng.below(20) {
            0 => Op::Poke {
                field: rng.next() as u8,
                val: val(rng),
            },
            1 => Op::PokeRaw {
                off: rng.next() as u16,
                width: 1 << rng.below(4),
                val: val(rng),
            },
            2 => Op::PokeRecord {
                ring: side,
                slot: if rng.below(2) == 0 {
                    0
                } else {
                    rng.next() as u8
                },
                len: if rng.below(2) == 0 {
                    rng.below(70_000) as u32
                } else {
                    rng.next() as u32
                },
                flags: if rng.below(8) == 0 {
                    rng.next() as u32
                } else {
                    0
                },
            },
            3 => {
                let n = rng.below(16) as usize;
                Op::PokeRing {
                    ring: side,
                    off: rng.next() as u16,
                    bytes: rng.bytes(n),
                }
            }
            4 => Op::Shift {
                ring: side,
                base: val(rng),
            },
            5..=8 => Op::Write {
                side,
                len: size(rng),
                nonblocking: rng.below(4) == 0,
                wait_quota: rng.below(4) == 0,
                quota: rng.next() as u16,
                long,
            },
            9..=12 => Op::Read {
                side,
                buf: size(rng),
                message_mode: rng.below(2) == 0,
                nonblocking: rng.below(2) == 0,
                long,
            },
            13 => Op::Peek {
                side,
                buf: (rng.below(4) != 0).then(|| size(rng)),
            },
            14 => Op::NextMessage { side },
            15 => Op::ReadWhole {
                side,
                buf: size(rng),
                long,
            },
            16 => Op::TryWrite {
                side,
                len: size(rng),
            },
            17 => Op::Reserve {
                side,
                len: size(rng),
                commit: rng.below(4) != 0,
                long,
            },
            18 => Op::ReadInPlace { side, long },
            _ => match rng.below(3) {
                0 => Op::Flush { side, long },
                1 => Op::SetState {
                    side,
                    state: rng.below(4) as u8,
                },
                _ => Op::Query { side },
            },
        }
    }

    #[test]
    fn queue_random_scripts() {
        let mut rng = Rng(0x7175_6575_6531);
        let t0 = Instant::now();
        let mut inputs = Vec::new();
        for i in 0..3000 {
            let input = if i % 3 == 0 {
                let n = rng.below(200) as usize;
                rng.bytes(n)
            } else {
                let cfg = Config::from_byte(rng.next() as u8 & 0x1f);
                // Half the scripts are honest only, so the data checks apply throughout.
                let honest = rng.below(2) == 0;
                let n = rng.below(24) as usize;
                let ops: Vec<Op> = (0..n)
                    .map(|_| loop {
                        let op = random_op(&mut rng);
                        let poke = matches!(
                            op,
                            Op::Poke { .. }
                                | Op::PokeRaw { .. }
                                | Op::PokeRecord { .. }
                                | Op::PokeRing { .. }
                                | Op::Shift { .. }
                        );
                        if !(honest && poke) {
                            break op;
                        }
                    })
                    .collect();
                encode(cfg, &ops)
            };
            inputs.push(input);
        }
        run_guarded("queue_reader", inputs, queue_reader);
        // The suite's budget: a few seconds in a debug build.
        assert!(t0.elapsed() < Duration::from_secs(60), "{:?}", t0.elapsed());
    }

    #[test]
    fn scripts_encode_and_parse_back() {
        let mut rng = Rng(0x5eed);
        for _ in 0..2000 {
            let cfg = Config::from_byte(rng.next() as u8 & 0x1f);
            let ops: Vec<Op> = (0..rng.below(20)).map(|_| random_op(&mut rng)).collect();
            let ops: Vec<Op> = ops
                .into_iter()
                .map(|op| match op {
                    // Only 6 bits of a poke's length survive the encoding.
                    Op::PokeRing { ring, off, bytes } => Op::PokeRing {
                        ring,
                        off,
                        bytes: bytes[..bytes.len().min(0x3f)].to_vec(),
                    },
                    // The encoding has one bit of flags' presence: zero flags are not sent.
                    op => op,
                })
                .collect();
            assert_eq!(parse(&encode(cfg, &ops)), (cfg, ops));
        }
    }

    /// The hostile peer's field table is the real layout: fields written by the honest code
    /// through `Conn` read back at the table's offsets.
    #[test]
    fn field_table_matches_the_queue_layout() {
        let cfg = Config {
            caps: [queue::MIN_RING, 4 * queue::MIN_RING],
            wins: [queue::MIN_RING, queue::MIN_RING],
            message_type: true,
        };
        let rig = Rig::new(cfg, false);
        let field = |name: &str| {
            let f = FIELDS.iter().find(|f| f.name == name).unwrap();
            rig.load(f.off, f.width)
        };
        assert_eq!(field("magic"), queue::MAGIC as u64);
        assert_eq!(field("version"), queue::VERSION as u64);
        assert_eq!(field("header_bytes"), queue::HEADER_BYTES as u64);
        assert_eq!(field("ring_cap[0]"), cfg.caps[0]);
        assert_eq!(field("ring_cap[1]"), cfg.caps[1]);
        assert_eq!(field("ring_win[0]"), cfg.wins[0]);
        assert_eq!(field("ring_win[1]"), cfg.wins[1]);
        assert_eq!(field("state[server]"), queue::OPEN as u64);
        assert_eq!(field("state[client]"), queue::OPEN as u64);
        assert_eq!(field("cur_instances"), 1);
        rig.ends[0].set_param(0x1234_5678);
        assert_eq!(field("param"), 0x1234_5678);
        let o = WriteOpts {
            message: true,
            quota: 0,
            wait_quota: false,
            nonblocking: false,
        };
        for (r, side) in [(0usize, 0usize), (1, 1)] {
            let p = |n: &str| format!("r{r}.{n}");
            assert_eq!(field(&p("msg_left")), u64::MAX, "AT_HEADER after create");
            assert_eq!(
                field(&p("cut_rec")),
                u64::MAX,
                "no withdrawn record after create"
            );
            assert_eq!(
                field(&p("cut_end")),
                u64::MAX,
                "no withdrawn record after create"
            );
            rig.ends[side].write(b"12345", o, None).unwrap();
            assert_eq!(field(&p("tail")), 8 + 5);
            assert_eq!(field(&p("bytes_written")), 5);
            assert_eq!(field(&p("msgs_written")), 1);
            let mut rec = [0u8; 8];
            rig.shm.read_at(rig.ring_base(r as u8), &mut rec).unwrap();
            assert_eq!(
                u64::from_le_bytes(rec),
                5,
                "record header at the ring start"
            );
            let mut b = [0u8; 2];
            let out = rig.ends[1 - side].read(&mut b, true, true, None).unwrap();
            assert_eq!((out.n, out.left), (2, 3));
            assert_eq!(field(&p("head")), 8 + 2);
            assert_eq!(field(&p("msg_left")), 3);
            assert_eq!(field(&p("bytes_read")), 2);
            assert_eq!(field(&p("msgs_read")), 0);
            let mut b = [0u8; 8];
            rig.ends[1 - side].read(&mut b, true, true, None).unwrap();
            assert_eq!(field(&p("msgs_read")), 1);
            assert_eq!(field(&p("msg_left")), u64::MAX);
            // No reader waits: nobody wants data.
            assert_eq!(field(&p("reader_want")), 0);
            // The old lock words in the shared page are not locks any more: a peer that sets
            // them stops nobody (the locks live in each side's private page; the reader's is
            // `reader_want` now, a hint for nonblocking writes). A `done_to` the peer writes
            // only matters once it closes.
            rig.store(rig_field(&p("done_to")).off, 4, 0x7fff_0001);
            rig.store(rig_field(&p("reader_want")).off, 8, 0x7fff_0001);
            assert_eq!(rig.ends[side].write(b"x", o, None), Ok(1));
            assert!(rig.ends[1 - side].peek(None, true).is_ok());
            let mut b = [0u8; 8];
            rig.ends[1 - side].read(&mut b, true, true, None).unwrap();
        }
        let side_state = |s: Side| match s {
            Side::Server => field("state[server]"),
            Side::Client => field("state[client]"),
        };
        rig.ends[1].set_state(Side::Client, queue::CLOSED);
        assert_eq!(side_state(Side::Client), queue::CLOSED as u64);
        // The wake words move when sleepers are woken; poll_armed is covered by the table's
        // position next to them.
        let before = field("r0.data_seq");
        rig.ends[0].set_state(Side::Server, queue::OPEN);
        assert_ne!(field("r0.data_seq"), before);
    }

    fn rig_field(name: &str) -> Field {
        *FIELDS.iter().find(|f| f.name == name).unwrap()
    }

    /// Runs one input with tracing, for reading a crash without cargo-fuzz:
    /// `NPIPE_FUZZ_TRACE=1 NPIPE_FUZZ_REPLAY=queue_reader:INPUT cargo test -p npipe --lib
    /// fuzz::tests::replay -- --ignored --nocapture`, where INPUT is a file or the input in hex
    /// (as the random tests print a failing one).
    #[test]
    #[ignore = "runs the input named by NPIPE_FUZZ_REPLAY"]
    fn replay() {
        let spec = std::env::var("NPIPE_FUZZ_REPLAY").expect("NPIPE_FUZZ_REPLAY=TARGET:INPUT");
        let (target, arg) = spec.split_once(':').expect("TARGET:INPUT");
        let input = if std::path::Path::new(arg).exists() {
            std::fs::read(arg).unwrap()
        } else {
            (0..arg.len() / 2)
                .map(|i| u8::from_str_radix(&arg[2 * i..2 * i + 2], 16).expect("a file or hex"))
                .collect()
        };
        match target {
            "queue_reader" => queue_reader(&input),
            "handshake" => handshake(&input),
            "npa" => npa(&input),
            t => panic!("unknown target {t}"),
        }
    }

    /// The seeds run clean, and with `NPIPE_FUZZ_SEEDS=DIR` they are written to
    /// `DIR/<target>/seed-<name>` (how CI seeds the fuzzer's corpus).
    #[test]
    fn seeds_run_clean() {
        let dir = std::env::var_os("NPIPE_FUZZ_SEEDS").map(std::path::PathBuf::from);
        for (target, seeds, f) in [
            ("queue_reader", queue_seeds(), queue_reader as fn(&[u8])),
            ("handshake", handshake_seeds(), handshake),
            ("npa", npa_seeds(), npa),
        ] {
            for (i, (name, input)) in seeds.iter().enumerate() {
                run_named(name, i, input, f);
                if let Some(dir) = &dir {
                    let d = dir.join(target);
                    std::fs::create_dir_all(&d).unwrap();
                    std::fs::write(d.join(format!("seed-{name}")), input).unwrap();
                }
            }
        }
    }

    /// The honest seeds keep their data checks on to the end (no seed loses its model early by
    /// accident), and the checks do fire: a wrong byte is caught.
    #[test]
    fn data_checks_apply_and_fire() {
        let (cfg, ops) = parse(&queue_seeds()[0].1);
        let mut rig = Rig::new(cfg, false);
        for op in &ops {
            rig.step(op);
        }
        assert!(rig.models[0].valid && rig.models[0].pos > 0);
        // A message written, one byte changed under the reader without the model knowing.
        let mut rig = Rig::new(cfg, false);
        rig.step(&Op::Write {
            side: 0,
            len: Size(4),
            nonblocking: false,
            wait_quota: false,
            quota: 0,
            long: false,
        });
        rig.shm.write_at(rig.ring_base(0) + 8 + 1, &[0xEE]).unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rig.step(&Op::Read {
                side: 1,
                buf: Size(4),
                message_mode: true,
                nonblocking: true,
                long: false,
            })
        }));
        assert!(r.is_err(), "a changed byte must fail the data check");
    }

    /// Inputs the fuzzer found in `transport::queue`, kept as readable scripts. Each is ignored
    /// until its bug is fixed; then drop the `ignore` and it guards the fix. Run them with
    /// `cargo test -p npipe --lib fuzz::tests::found -- --ignored`.
    /// Skip markers (record windows smaller than the ring) in the hands of a hostile peer:
    /// misplaced or malformed markers are corruption, never a loop, a panic or a stray read.
    mod markers {
        use super::super::*;
        use super::run_guarded;

        /// 16 KiB rings with 4 KiB windows.
        const WIN4K: Config = Config {
            caps: [4 * queue::MIN_RING; 2],
            wins: [queue::MIN_RING; 2],
            message_type: true,
        };

        /// A write of exactly `len` bytes (at most 16,383).
        fn write(side: u8, len: u16) -> Op {
            Op::Write {
                side,
                len: Size(0x8000 | len),
                nonblocking: false,
                wait_quota: false,
                quota: 0,
                long: false,
            }
        }

        fn read(side: u8) -> Op {
            Op::Read {
                side,
                buf: Size(0x8000 | 6000),
                message_mode: true,
                nonblocking: true,
                long: false,
            }
        }

        fn poke(len: u32, flags: u32) -> Op {
            Op::PokeRecord {
                ring: 0,
                slot: 0,
                len,
                flags,
            }
        }

        fn check(ops: &[Op]) {
            run_guarded("markers", vec![encode(WIN4K, ops)], queue_reader);
        }

        /// Small records after large ones skip to the next lap; every read works.
        #[test]
        fn honest_traffic_skips_and_wraps() {
            let mut ops = Vec::new();
            for i in 0..40u16 {
                ops.push(write(0, if i % 3 == 0 { 5000 } else { 100 + i }));
                ops.push(read(1));
            }
            check(&ops);
        }

        /// Found by review: a peer that says it closed, with `done_to` at 0 and its
        /// `bytes_written` near 2^64, made the reader drop "the rest" by the peer's counters
        /// (its private byte count jumped to 2^64 - 1), then reopened and published one more
        /// record: the next consume overflowed. Drops now count what the record headers say.
        #[test]
        fn closing_peer_with_huge_counters() {
            let poke = |name: &str, val: Val| Op::Poke {
                field: field_index(name),
                val,
            };
            check(&[
                write(0, 1),
                poke("r0.done_to", Val::Small(0)),
                poke("r0.bytes_written", Val::NearMax(0)),
                Op::SetState { side: 0, state: 2 },
                read(1),
                Op::SetState { side: 0, state: 1 },
                write(0, 1),
                poke("r0.bytes_written", Val::NearMax(0)),
                read(1),
                read(1),
            ]);
        }

        /// A marker at a record start inside the window.
        #[test]
        fn marker_inside_the_window() {
            check(&[write(0, 100), poke(0, queue::FLAG_SKIP), read(1), read(1)]);
        }

        /// A marker beyond the window with a length, or with another flag.
        #[test]
        fn malformed_marker_beyond_the_window() {
            let (skip, cut) = (queue::FLAG_SKIP, queue::FLAG_CUT);
            for (len, flags) in [(5, skip), (0, skip | cut), (u32::MAX, skip)] {
                check(&[
                    write(0, 5000),
                    read(1),
                    write(0, 100),
                    poke(len, flags),
                    read(1),
                    read(1),
                ]);
            }
        }
    }

    mod found {
        use super::super::*;
        use super::run_guarded;

        const MSG4K: Config = Config {
            caps: [queue::MIN_RING; 2],
            wins: [queue::MIN_RING; 2],
            message_type: true,
        };
        const BYTE4K: Config = Config {
            caps: [queue::MIN_RING; 2],
            wins: [queue::MIN_RING; 2],
            message_type: false,
        };

        fn write(side: u8, len: u16, long: bool) -> Op {
            Op::Write {
                side,
                len: Size(len),
                nonblocking: false,
                wait_quota: false,
                quota: 0,
                long,
            }
        }

        fn check(cfg: Config, ops: &[Op]) {
            run_guarded("found", vec![encode(cfg, ops)], queue_reader);
        }

        /// head = tail = 2^64 - 1: `align8(tail)` wraps to 0 and the free-space arithmetic of
        /// a mailslot write underflows (overflow panic; in release a wrong record position).
        /// The fuzzer's first crash (6 bytes: `10 04 b8 00 00 4b`).
        #[test]
        fn positions_at_the_top_break_try_write() {
            check(
                MSG4K,
                &[
                    Op::Shift {
                        ring: 0,
                        base: Val::NearMax(0),
                    },
                    Op::TryWrite {
                        side: 0,
                        len: Size(0),
                    },
                ],
            );
        }

        /// 16 bytes written, then head and tail moved to 2^64 - 100 (still 24 apart) and the
        /// next record header made to say 30,000 bytes: `h + REC_HDR + len` wraps, so the
        /// message read believes the whole record is there and copies 30,000 bytes out of a
        /// 4 KiB ring, past the end of the mapping (SIGSEGV on the guard page in an optimised
        /// build; overflow panic with overflow checks).
        #[test]
        fn wrapped_record_end_reads_past_the_mapping() {
            check(
                MSG4K,
                &[
                    write(0, 16, false),
                    Op::Shift {
                        ring: 0,
                        base: Val::NearMax(100),
                    },
                    Op::PokeRecord {
                        ring: 0,
                        slot: 0,
                        len: 30_000,
                        flags: 0,
                    },
                    Op::Read {
                        side: 1,
                        buf: Size(0xC000 | 7500),
                        message_mode: true,
                        nonblocking: true,
                        long: false,
                    },
                ],
            );
        }

        /// head = tail = 2^64 - 1 and bytes_written raised so peek thinks bytes are unread:
        /// `align8(head)` wraps to 0 and peek walks empty record headers from position 0 up to
        /// 2^64, 8 bytes at a time, holding the reader lock (a hang, in every build).
        #[test]
        fn wrapped_head_makes_peek_walk_forever() {
            check(
                BYTE4K,
                &[
                    Op::Shift {
                        ring: 0,
                        base: Val::NearMax(0),
                    },
                    Op::Poke {
                        field: field_index("r0.bytes_written"),
                        val: Val::U16(59_367),
                    },
                    Op::Peek {
                        side: 1,
                        buf: Some(Size(100)),
                    },
                ],
            );
        }

        /// No hostile write at all: a message that fits the ring but not its free space
        /// streams, the writer stops half way (here its deadline; in life its process dies)
        /// and closes. read_in_place then loops forever at full CPU: the record never
        /// completes, and its wait returns at once because the peer is closed, while the
        /// PeerClosed exit requires nothing unread. Its deadline is never checked.
        #[test]
        fn read_in_place_spins_when_the_writer_died_mid_message() {
            check(
                MSG4K,
                &[
                    write(1, 0x4000 | 3000, false),
                    write(1, 0x4000 | 3000, true),
                    Op::ReadInPlace {
                        side: 0,
                        long: false,
                    },
                    Op::SetState { side: 1, state: 2 },
                    Op::ReadInPlace {
                        side: 0,
                        long: true,
                    },
                ],
            );
        }

        /// A streaming write gives up (its deadline) and withdraws its record: the header gets
        /// `FLAG_CUT` and `cut_rec` names it. The peer then rewrites the header to a plain
        /// 4,000-byte record. The reader copies it, sees `cut_rec` name it, and skips withdrawn
        /// records, which finds none (the flag is gone): the read returns "nothing delivered"
        /// without moving and loops for ever, holding the reader lock (found by CI's fuzz run).
        #[test]
        fn unmarked_withdrawn_record_makes_the_read_loop() {
            check(
                MSG4K,
                &[
                    write(0, 63248, false),
                    Op::PokeRecord {
                        ring: 0,
                        slot: 0,
                        len: 4000,
                        flags: 0,
                    },
                    Op::Read {
                        side: 1,
                        buf: Size(20479),
                        message_mode: true,
                        nonblocking: true,
                        long: false,
                    },
                ],
            );
        }

        /// A write-side counter set near 2^64 by the peer: `bytes_written + len` overflows
        /// in publish_record (a panic with overflow checks, which the module contract rules
        /// out; wraps harmlessly in release). bytes_read, msgs_written and the nonblocking
        /// write's `unread + n` / `quota + reader_want` overflow the same way.
        #[test]
        fn counters_near_the_top_overflow() {
            check(
                MSG4K,
                &[
                    Op::Poke {
                        field: field_index("r0.bytes_written"),
                        val: Val::NearMax(0),
                    },
                    write(0, 5, false),
                ],
            );
        }
    }
}
