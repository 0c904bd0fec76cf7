//! Unit tests of the reader's adaptive pace (`Conn::pace`, `next_pace`) and of the writer's
//! count of its waits that the pace reads (`WriterLine::waits`), on a connection whose two ends
//! live in this test.

use std::time::{Duration, Instant};

use super::pace::{next_pace, PACE_GROW_BYTES, PACE_MAX_NS, PACE_MIN_NS};
use super::quota_tests::{messages, pair};
use super::*;

/// What the pace does after each kind of look.
#[test]
fn the_pace_grows_with_a_streaming_writer_and_drops_when_batching_does_not_pay() {
    // Two messages or more, or one large one: a writer ahead of its reader.
    assert_eq!(
        next_pace(PACE_MIN_NS, 2, 144, false, false),
        2 * PACE_MIN_NS
    );
    assert_eq!(
        next_pace(PACE_MIN_NS, 1, PACE_GROW_BYTES, false, false),
        2 * PACE_MIN_NS
    );
    assert_eq!(next_pace(PACE_MAX_NS, 40, 2880, false, false), PACE_MAX_NS);
    assert_eq!(
        next_pace(PACE_MAX_NS / 2 + 1, 40, 2880, false, false),
        PACE_MAX_NS
    );
    // Nothing found, or a read that had to wait for its data: the shortest pace at once.
    assert_eq!(next_pace(PACE_MAX_NS, 0, 0, false, false), PACE_MIN_NS);
    assert_eq!(next_pace(PACE_MAX_NS, 40, 2880, true, false), PACE_MIN_NS);
    // A writer that waited for this reader, or a single small message: half as long.
    assert_eq!(
        next_pace(PACE_MAX_NS, 40, 2880, false, true),
        PACE_MAX_NS / 2
    );
    assert_eq!(next_pace(PACE_MAX_NS, 1, 72, false, false), PACE_MAX_NS / 2);
    assert_eq!(next_pace(PACE_MIN_NS, 40, 2880, false, true), PACE_MIN_NS);
}

/// Writes `n` 64 B messages with the client on another thread (a thread that wrote is never
/// paced, see `WROTE`), with a 64 KiB quota.
fn write_elsewhere(c: &Conn, n: usize) {
    std::thread::scope(|t| {
        t.spawn(|| {
            for _ in 0..n {
                assert_eq!(c.write(&[5u8; 64], messages(64 << 10, true), None), Ok(64));
            }
        });
    });
}

/// Reads `n` messages with the server, then one more that finds nothing before its deadline.
fn read_all(s: &Conn, n: usize) {
    let mut b = [0u8; 64];
    for _ in 0..n {
        let r = s.read(&mut b, true, false, None).expect("read a message");
        assert_eq!((r.n, r.left), (64, 0));
    }
    let deadline = Instant::now() + Duration::from_millis(20);
    assert_eq!(
        s.read(&mut b, true, false, Some(deadline)),
        Err(QErr::TimedOut)
    );
}

/// A reader that took a batch of several messages at its look paces its next look longer; a
/// look that found nothing sends it back to the shortest pace; a batch whose writer waited for
/// the reader does not grow the pace.
#[test]
fn a_paced_reader_adapts_to_what_its_looks_find() {
    let (s, c) = pair();
    let pace = || s.pace_ns.load(Relaxed);
    // The first read decides on nothing found yet; its look then finds all ten.
    write_elsewhere(&c, 10);
    let mut b = [0u8; 64];
    for _ in 0..10 {
        assert_eq!(s.read(&mut b, true, false, None).map(|r| r.n), Ok(64));
        assert_eq!(pace(), PACE_MIN_NS);
    }
    // The read after them decides on the batch of ten (its wait for data comes after that
    // decision).
    let deadline = Instant::now() + Duration::from_millis(20);
    assert_eq!(
        s.read(&mut b, true, false, Some(deadline)),
        Err(QErr::TimedOut)
    );
    assert_eq!(pace(), 2 * PACE_MIN_NS);
    // The next read's decision finds nothing taken since: the shortest pace again; after
    // another batch of ten, twice that.
    write_elsewhere(&c, 10);
    assert_eq!(s.read(&mut b, true, false, None).map(|r| r.n), Ok(64));
    assert_eq!(pace(), PACE_MIN_NS);
    read_all(&s, 9);
    assert_eq!(pace(), 2 * PACE_MIN_NS);
    // A batch of ten again (after a first decision that found nothing), but the writer
    // waited for this reader meanwhile: no growth.
    write_elsewhere(&c, 10);
    c.note_writer_wait(c.side.tx());
    read_all(&s, 10);
    assert_eq!(pace(), PACE_MIN_NS);
}

/// A write that waits for its quota, and one that waits for room in the ring, each count in
/// the writer's line, where the reader's next look at the cursor finds the count.
#[test]
fn a_writer_that_waits_for_its_reader_is_counted_where_the_reader_looks() {
    let (s, c) = pair();
    let dir = c.side.tx();
    let waits = || c.ring(dir).w.0.waits.load(Relaxed);
    assert_eq!(waits(), 0);
    // The quota: the second 1 KiB message waits until the first is read.
    std::thread::scope(|t| {
        t.spawn(|| {
            let o = messages(1024, true);
            assert_eq!(c.write(&[1u8; 1024], o, None), Ok(1024));
            assert_eq!(c.write(&[2u8; 1024], o, None), Ok(1024));
        });
        // The second write is published and cannot return before a read: it counts its wait
        // (a sleep here instead would let a writer paused past it find the quota met).
        while waits() == 0 {
            std::thread::yield_now();
        }
        assert_eq!(c.ring(dir).w.0.msgs_written.load(Acquire), 2);
        let mut b = [0u8; 1024];
        for _ in 0..2 {
            assert_eq!(s.read(&mut b, true, false, None).map(|r| r.n), Ok(1024));
        }
    });
    let after_quota = waits();
    assert!(after_quota > 0, "a quota wait was not counted");
    // Room: fill the 64 KiB ring without waiting for the quota, until a write finds no room
    // before its deadline (each message fits in one piece, nothing of it written then).
    let o = messages(64 << 10, false);
    let mut sent = 0;
    loop {
        let deadline = Instant::now() + Duration::from_millis(20);
        match c.write(&[3u8; 8 << 10], o, Some(deadline)) {
            Ok(n) => assert_eq!(n, 8 << 10),
            Err(e) => {
                assert_eq!(e, QErr::TimedOut);
                break;
            }
        }
        sent += 1;
        assert!(sent < 16, "a 64 KiB ring took {sent} messages of 8 KiB");
    }
    assert!(sent > 0);
    assert!(waits() > after_quota, "a wait for room was not counted");
    // The reader's look at the cursor takes the count with it.
    s.view(s.side.rx()).expect("a look at the cursor");
    assert_eq!(s.writer_waits_seen.load(Relaxed), waits());
}

/// A read that found nothing since the last decision (here a nonblocking one) means the writer
/// is not ahead: the next decision goes back to the shortest pace even after a batch (without
/// that read, the same batch doubles it: `a_paced_reader_adapts_to_what_its_looks_find`).
#[test]
fn a_read_that_found_nothing_resets_the_pace_despite_a_batch() {
    let (s, c) = pair();
    let pace = || s.pace_ns.load(Relaxed);
    write_elsewhere(&c, 10);
    read_all(&s, 10);
    assert_eq!(pace(), 2 * PACE_MIN_NS);
    // The first read of the next batch decides on nothing taken since the timed-out read.
    write_elsewhere(&c, 10);
    let mut b = [0u8; 64];
    for _ in 0..10 {
        assert_eq!(s.read(&mut b, true, false, None).map(|r| r.n), Ok(64));
    }
    assert_eq!(pace(), PACE_MIN_NS);
    // A nonblocking read finds nothing: it is not paced, and it tells the next decision that
    // the reader caught up.
    assert_eq!(s.read(&mut b, true, true, None), Err(QErr::WouldBlock));
    assert_eq!(pace(), PACE_MIN_NS);
    let deadline = Instant::now() + Duration::from_millis(20);
    assert_eq!(
        s.read(&mut b, true, false, Some(deadline)),
        Err(QErr::TimedOut)
    );
    // Ten taken since the last decision, but a read found nothing meanwhile.
    assert_eq!(pace(), PACE_MIN_NS);
}
