//! Unit tests of what a busy read leaves out on its way from the data's arrival to its caller:
//! the locked count of its buffer while it spins (`ReaderLine::spin_want` instead, still
//! counted by nonblocking writers, W109).

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
