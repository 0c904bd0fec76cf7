//! Unit tests of what a busy read leaves out on its way from the data's arrival to its caller:
//! the locked count of its buffer while it spins (`ReaderLine::spin_want` instead, still
//! counted by nonblocking writers, W109, and cleared when its holder dies), and the claim and dead-writer probe of a record
//! flagged pending although its reader had taken everything (`Conn::quota_met_publishing`).

use std::sync::atomic::Ordering::{Acquire, Relaxed};
use std::time::{Duration, Instant};

use super::quota_tests::{messages, pair};
use super::*;

/// What nonblocking writers count of the readers waiting on ring `dir`: the sleepers' sum
/// and the spinner's buffer, loaded in the writer's order (so a read on its way from its spin
/// to sleep is never seen in both).
fn wanted(c: &Conn, dir: usize) -> (u64, u64) {
    let r = &c.ring(dir).r.0;
    let sleeping = r.reader_want.load(Acquire);
    (sleeping, r.spin_want.load(Relaxed))
}

/// The options of a PIPE_NOWAIT byte write at a 512-byte quota.
fn nowait() -> WriteOpts {
    WriteOpts {
        message: false,
        quota: 512,
        wait_quota: true,
        nonblocking: true,
    }
}

/// W108, W109 through each count alone: a PIPE_NOWAIT byte write of 513 bytes past a 512-byte
/// quota writes nothing while no read waits, and all of it while a read with a 4 KiB buffer
/// waits, whether that read is asleep (`reader_want`) or spinning (`spin_want`).
#[test]
fn a_nowait_write_counts_a_sleeping_and_a_spinning_read() {
    for spinning in [false, true] {
        let (s, c) = pair();
        let r = &c.ring(c.side.tx()).r.0;
        assert_eq!(c.write(&[1u8; 513], nowait(), None), Ok(0));
        let count = if spinning {
            &r.spin_want
        } else {
            &r.reader_want
        };
        count.store(4096, Relaxed);
        assert_eq!(c.write(&[1u8; 513], nowait(), None), Ok(513), "{spinning}");
        count.store(0, Relaxed);
        let mut b = [0u8; 1024];
        assert_eq!(s.read(&mut b, false, true, None).map(|r| r.n), Ok(513));
    }
}

/// A reader that dies holding the reader lock while it spins (its thread ends with the lock
/// taken and its buffer in `spin_want`): the next reader to take the lock finds the owner dead
/// and clears the count, which no nonblocking writer should go on honouring.
#[test]
fn a_dead_spinners_count_is_cleared_by_the_next_reader() {
    let (s, _c) = pair();
    let s = Arc::new(s);
    let dir = s.side.rx();
    {
        let s = s.clone();
        std::thread::spawn(move || {
            let g = s.lock_side(RX_LOCK, None, false).expect("the reader lock");
            s.ring(dir).r.0.spin_want.store(4096, Relaxed);
            // The thread ends holding the lock, as one killed in its spin would.
            std::mem::forget(g);
        })
        .join()
        .unwrap();
    }
    assert_eq!(s.ring(dir).r.0.spin_want.load(Relaxed), 4096);
    let g = s
        .lock_side(RX_LOCK, None, false)
        .expect("the lock, from its dead owner");
    assert_eq!(s.ring(dir).r.0.spin_want.load(Relaxed), 0);
    drop(g);
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
    let nowait = nowait();
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
    // The read moves its count from `spin_want` to `reader_want` when it goes from its spin
    // to sleep: a write that looks in between finds neither, and writes nothing.
    loop {
        match c.write(&[1u8; 513], nowait, None) {
            Ok(513) => break,
            Ok(0) => assert!(t0.elapsed() < Duration::from_secs(10), "never counted"),
            r => panic!("unexpected {r:?}"),
        }
    }
    assert_eq!(reader.join().unwrap(), Ok(513));
    assert_eq!(wanted(&c, dir), (0, 0));
}

/// A busy exchange at a 4 KiB quota: each 64 B message is read before the next is written,
/// so every write's quota is met as it is published. None of the records may carry
/// FLAG_PENDING (which costs its reader a claim and a probe). Before the writer looked at the
/// reader's count ahead of the publish, the cached count ran out about every 64 messages and
/// 15 of these 1,000 records were flagged.
#[test]
fn a_writer_whose_reader_keeps_up_flags_no_record_pending() {
    let (s, c) = pair();
    let dir = c.side.tx();
    let o = messages(4096, true);
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

/// A message read that finds no record after all (the spin saw one, then a peer that said it
/// closed had it dropped and said it was open again): nothing read, nothing consumed, no
/// stale ring bytes taken for a header.
#[test]
fn a_message_read_that_finds_no_record_reads_nothing() {
    let (s, c) = pair();
    let dir = s.side.rx();
    let mut b = [0u8; 64];
    assert_eq!(s.read_message(dir, &mut b, None), Ok(None));
    // Relaxed: private, the reader's own cursor; this thread is its only user.
    assert_eq!(s.mine(R_HEAD).load(Relaxed), 0);
    let o = messages(4096, true);
    assert_eq!(c.write(b"next", o, None), Ok(4));
    let r = s.read(&mut b, true, false, None).unwrap();
    assert_eq!(&b[..r.n], b"next");
}
