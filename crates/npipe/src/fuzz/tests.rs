//! The entry points over a few thousand inputs from a fixed-seed generator, and the scripts
//! that pin down what each check catches.

use super::rig::*;
use super::script::*;
use super::*;
use crate::test_rng::Rng;

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
    use super::super::script::*;
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
    use super::super::script::*;
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
