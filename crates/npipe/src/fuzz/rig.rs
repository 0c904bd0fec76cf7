//! Running a `queue_reader` script: both ends of a real connection, the hostile peer's view of
//! the shared memory, and the model of what the honest ends wrote that every read is checked
//! against.

use super::script::*;
use super::*;

/// What the honest ends have written into one ring and read back, while no hostile write has
/// happened (`valid`); after one, nothing is expected but memory safety and bounded lengths.
#[derive(Debug, Default)]
pub(super) struct Model {
    pub(super) valid: bool,
    /// Every payload byte written, in order.
    pub(super) bytes: Vec<u8>,
    /// `(start, len)` in `bytes` of every non-empty message.
    pub(super) msgs: Vec<(usize, usize)>,
    /// Payload bytes consumed.
    pub(super) pos: usize,
}

impl Model {
    /// The bytes the next write of `len` bytes into ring `ring` carries: a pseudo-random
    /// pattern of the stream offset, so a misplaced, lost or repeated byte shows (unless it
    /// moved by a multiple of the pattern's prime period, which no ring size is).
    pub(super) fn payload(&self, ring: usize, len: usize) -> Vec<u8> {
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

    pub(super) fn wrote(&mut self, data: &[u8]) {
        if !data.is_empty() {
            self.msgs.push((self.bytes.len(), data.len()));
        }
        self.bytes.extend_from_slice(data);
    }

    pub(super) fn unread(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// End (in `bytes`) of the message holding the next unread byte.
    pub(super) fn msg_end(&self) -> Option<usize> {
        let i = self.msgs.partition_point(|&(s, l)| s + l <= self.pos);
        self.msgs
            .get(i)
            .filter(|&&(s, _)| s <= self.pos)
            .map(|&(s, l)| s + l)
    }

    /// Checks that `got` are the next unread bytes (without consuming them).
    pub(super) fn check_next(&self, what: &str, got: &[u8]) {
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
    pub(super) fn consumed(&mut self, what: &str, got: &[u8], left: Option<u64>) {
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
pub(super) struct Rig {
    pub(super) cfg: Config,
    /// `[server, client]`.
    pub(super) ends: [Arc<Conn>; 2],
    /// The peer's mapping of the same memfd.
    pub(super) shm: sys::Mapping,
    pub(super) models: [Model; 2],
    pub(super) trace: bool,
}

pub(super) fn trace_enabled() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("NPIPE_FUZZ_TRACE").is_some_and(|v| v != "0"))
}

pub(super) fn run(cfg: Config, ops: &[Op]) {
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
    pub(super) fn new(cfg: Config, trace: bool) -> Rig {
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

    pub(super) fn load(&self, off: usize, width: usize) -> u64 {
        let mut b = [0u8; 8];
        self.shm
            .read_at(off, &mut b[..width])
            .expect("field inside the header page");
        u64::from_le_bytes(b)
    }

    pub(super) fn store(&self, off: usize, width: usize, v: u64) {
        self.shm
            .write_at(off, &v.to_le_bytes()[..width])
            .expect("field inside the mapping");
    }

    /// The peer wrote something: stop expecting exact data.
    pub(super) fn hostile(&mut self) {
        self.models[0].valid = false;
        self.models[1].valid = false;
    }

    pub(super) fn deadline(long: bool) -> Instant {
        let now = Instant::now();
        if long {
            now + LONG
        } else {
            now
        }
    }

    pub(super) fn step(&mut self, op: &Op) {
        if self.trace {
            eprintln!("{op:?}");
        }
        let res = self.exec(op);
        if self.trace {
            eprintln!("  -> {res}");
        }
    }

    pub(super) fn exec(&mut self, op: &Op) -> String {
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
                let r = conn.reserve(n, false, Some(Self::deadline(long)));
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
    pub(super) fn ring_base(&self, ring: u8) -> usize {
        queue::HEADER_BYTES
            + if ring & 1 == 1 {
                self.cfg.caps[0] as usize
            } else {
                0
            }
    }

    /// End `side` and the model of the ring it writes (server: ring 0, client: ring 1).
    pub(super) fn writer(&mut self, side: u8) -> (Arc<Conn>, &mut Model) {
        let s = side as usize & 1;
        (self.ends[s].clone(), &mut self.models[s])
    }

    /// End `side` and the model of the ring it reads (server: ring 1, client: ring 0).
    pub(super) fn reader(&mut self, side: u8) -> (Arc<Conn>, &mut Model) {
        let s = side as usize & 1;
        (self.ends[s].clone(), &mut self.models[1 - s])
    }
}
