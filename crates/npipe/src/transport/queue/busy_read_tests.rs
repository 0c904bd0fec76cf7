//! Unit tests of what a busy read leaves out on its way from the data's arrival to its caller:
//! the locked count of its buffer while it spins (`ReaderLine::spin_want` instead, still
//! counted by nonblocking writers, W109) and the dead-writer probe for a record whose write
//! completed as it was published (`Conn::recheck_pending_last`).

use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use super::quota_tests::pair;
use super::*;

/// What nonblocking writers count of the readers waiting on ring `dir`: the sleepers' sum
/// and the spinner's buffer.
fn wanted(c: &Conn, dir: usize) -> (u64, u64) {
    let r = &c.ring(dir).r.0;
    (r.reader_want.load(Relaxed), r.spin_want.load(Relaxed))
}

/// W109 through both counts: a PIPE_NOWAIT byte write of 513 bytes past a 512-byte quota goes
/// whole to a blocking read with a 4 KiB buffer, whether that read is spinning (its buffer in
/// `spin_want`) or asleep (in `reader_want`) when the writer looks; and once the read has
/// returned, neither count holds anything.
#[test]
fn a_nowait_write_counts_a_waiting_reads_buffer_spinning_or_asleep() {
    let (s, c) = pair();
    let (s, c) = (Arc::new(s), Arc::new(c));
    let dir = c.side.tx();
    let nowait = WriteOpts {
        message: false,
        quota: 512,
        wait_quota: true,
        nonblocking: true,
    };
    // Nobody reads yet: past the quota, nothing is written (W108).
    assert_eq!(c.write(&[1u8; 513], nowait, None), Ok(0));
    let reader = {
        let s = s.clone();
        std::thread::spawn(move || {
            let mut b = [0u8; 4096];
            s.read(&mut b, false, false, None).map(|r| r.n)
        })
    };
    let t0 = Instant::now();
    let seen = loop {
        let w = wanted(&c, dir);
        if w != (0, 0) {
            break w;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the read never waited"
        );
        std::hint::spin_loop();
    };
    assert!(seen == (4096, 0) || seen == (0, 4096), "counted {seen:?}");
    assert_eq!(c.write(&[1u8; 513], nowait, None), Ok(513));
    assert_eq!(reader.join().unwrap(), Ok(513));
    assert_eq!(wanted(&c, dir), (0, 0));
}

/// A connection pair with control sockets, so that a probe for a dead writer shows in
/// `probed_at` (a pair without them has nothing to probe).
fn pair_with_ctl() -> (Conn, Conn, UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().expect("socketpair");
    let (a2, b2) = (a.try_clone().unwrap(), b.try_clone().unwrap());
    let caps = [1 << 16, 1 << 16];
    let (server, fd) = Conn::create(Some(a.into()), caps, caps, 1).expect("create");
    let client = Conn::attach(Some(b.into()), fd, caps).expect("attach");
    (server, client, a2, b2)
}

/// Whether a message read's pre-check probed the control socket for a dead writer, for the
/// last record in the ring whose completion the writer has not marked in `done_to` yet (a
/// reader that catches it between the writer's `tail` and `done_to` stores), published with
/// or without [`FLAG_PENDING`].
fn probes_unmarked_last_record(pending: bool) -> bool {
    let (s, c, _a, _b) = pair_with_ctl();
    let dir = c.side.tx();
    let o = WriteOpts {
        message: true,
        quota: 1 << 16,
        wait_quota: true,
        nonblocking: false,
    };
    let done_before = c.ring(dir).w.0.done_to.load(Relaxed);
    assert_eq!(c.write(b"hello", o, None), Ok(5));
    // As the reader sees the ring between the two stores: the record published, its
    // completion not marked.
    c.ring(dir).w.0.done_to.store(done_before, Relaxed);
    if pending {
        // Relaxed: private, the writer's own cursor.
        let h = c.mine(W_TAIL).load(Relaxed) - REC_HDR - 5;
        c.write_record_header(dir, h, 5, FLAG_PENDING);
    }
    // The reader's cached views, as a spin's look leaves them.
    s.view(dir).unwrap();
    s.probed_at.store(0, Relaxed);
    s.recheck_pending_last(dir, false).unwrap();
    let probed = s.probed_at.load(Relaxed) != 0;
    let mut b = [0u8; 16];
    let r = s.read(&mut b, true, false, None).unwrap();
    assert_eq!(&b[..r.n], b"hello");
    probed
}

/// A record published without FLAG_PENDING belongs to a write that completed as it was
/// published: no probe, even before `done_to` says so. A record published pending is still
/// probed for.
#[test]
fn a_record_published_complete_is_not_probed_for() {
    assert!(!probes_unmarked_last_record(false));
    assert!(probes_unmarked_last_record(true));
}

/// A busy exchange at a 4 KiB quota: each 64 B message is read before the next is written,
/// so every write's quota is met as it is published. None of the records may carry
/// FLAG_PENDING (which costs its reader a claim and a probe). Before the writer looked at the
/// reader's count ahead of the publish, the cached count ran out about every 66 messages and
/// 15 of these 1,000 records were flagged.
#[test]
fn a_writer_whose_reader_keeps_up_flags_no_record_pending() {
    let (s, c) = pair();
    let dir = c.side.tx();
    let o = WriteOpts {
        message: true,
        quota: 4096,
        wait_quota: true,
        nonblocking: false,
    };
    let mut flagged = 0;
    let mut b = [0u8; 64];
    for i in 0..1000u32 {
        assert_eq!(c.write(&[i as u8; 64], o, None), Ok(64));
        // Relaxed: private, the writer's own cursor; this thread wrote it.
        let h = c.mine(W_TAIL).load(Relaxed) - REC_HDR - 64;
        let (len, flags) = c.record_at(dir, h).unwrap();
        assert_eq!(len, 64);
        if flags & FLAG_PENDING != 0 {
            flagged += 1;
        }
        let r = s.read(&mut b, true, false, None).unwrap();
        assert_eq!((r.n, b[0]), (64, i as u8));
    }
    assert_eq!(flagged, 0);
}
