//! The script language of `queue_reader`: its configuration byte, the shared fields a hostile
//! peer writes and the values it writes, the operations, and their decoding and encoding.

use super::*;

/// Most operations a script runs.
pub(super) const MAX_OPS: usize = 64;
/// Bytes of the header page (ring headers included) a raw poke may write.
pub(super) const HEADER_PAGE: usize = queue::HEADER_BYTES;
/// The longer of the two deadlines.
pub(super) const LONG: Duration = Duration::from_millis(1);

/// Script configuration (byte 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Config {
    pub(super) caps: [u64; 2],
    /// Record windows: the whole ring, or a quarter of it (at least the minimum), so small
    /// records skip to the next lap (bits 5 and 6 of the byte).
    pub(super) wins: [u64; 2],
    pub(super) message_type: bool,
}

impl Config {
    pub(super) fn from_byte(b: u8) -> Config {
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

    pub(super) fn to_byte(self) -> u8 {
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
pub(super) struct Field {
    pub(super) name: &'static str,
    pub(super) off: usize,
    pub(super) width: usize,
}

pub(super) const fn f(name: &'static str, off: usize, width: usize) -> Field {
    Field { name, off, width }
}

/// The fields of the shared header page, as `transport::queue` lays them out (checked against
/// the real layout by `tests::field_table_matches_the_queue_layout`).
pub(super) const FIELDS: &[Field] = &[
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
    f("r0.spin_want", 1024 + 168, 8),
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
    f("r1.spin_want", 2048 + 168, 8),
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
pub(super) fn field_index(name: &str) -> u8 {
    FIELDS
        .iter()
        .position(|f| f.name == name)
        .expect("a field of FIELDS") as u8
}

/// Offsets of `tail` and `head` per ring.
pub(super) const TAIL: [usize; 2] = [1024, 2048];
pub(super) const HEAD: [usize; 2] = [1024 + 128, 2048 + 128];

/// How a poked value is chosen; relative choices start from the field's current value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Val {
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

pub(super) const VAL_KINDS: u8 = 10;

impl Val {
    pub(super) fn parse(r: &mut Reader<'_>) -> Val {
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

    pub(super) fn encode(self, out: &mut Vec<u8>) {
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

    pub(super) fn resolve(self, cur: u64, cap: u64) -> u64 {
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

pub(super) fn put(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    out.extend_from_slice(bytes);
}

/// A buffer or message size: `v & 0x3f`, `& 0xfff`, `& 0x3fff` or `(v & 0x3fff) * 4` by the top
/// two bits, so small sizes are common and sizes of several ring capacities possible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Size(pub(super) u16);

impl Size {
    pub(super) fn get(self) -> usize {
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
pub(super) enum Op {
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
pub(super) struct Reader<'a> {
    pub(super) b: &'a [u8],
    pub(super) pos: usize,
}

impl Reader<'_> {
    pub(super) fn done(&self) -> bool {
        self.pos >= self.b.len()
    }
    pub(super) fn u8(&mut self) -> u8 {
        let v = self.b.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        v
    }
    pub(super) fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    pub(super) fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    pub(super) fn u64(&mut self) -> u64 {
        self.u32() as u64 | (self.u32() as u64) << 32
    }
}

pub(super) fn parse(data: &[u8]) -> (Config, Vec<Op>) {
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
pub(super) fn encode(cfg: Config, ops: &[Op]) -> Vec<u8> {
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
