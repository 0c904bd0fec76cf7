//! Unit tests of the one-pass read and write (`quick`): the usual message goes through them,
//! and every unusual case is left to the general path, which then gives Windows' outcome
//! (W67 a message larger than the buffer, W113 data left by a closed writer, W91 a write past
//! its quota).

use super::quota_tests::{messages, pair};
use super::*;

/// [`Conn::read_quick`] as a read calls it, under the reader lock.
fn quick_read(c: &Conn, buf: &mut [u8]) -> Option<ReadOut> {
    let _g = c
        .lock_side(RX_LOCK, None, false)
        .expect("the reader lock is free");
    c.read_quick(c.side.rx(), buf)
}

const QUOTA: u64 = 1 << 16;

#[test]
fn the_usual_message_goes_the_quick_way_both_ways() {
    let (s, c) = pair();
    let o = messages(QUOTA, true);
    for (i, msg) in [&b"hello"[..], &[9u8; 1000][..], &b"x"[..]]
        .iter()
        .enumerate()
    {
        assert_eq!(c.write_quick(msg, o), Some(msg.len()), "write {i}");
        let mut buf = [0u8; 1024];
        let r = quick_read(&s, &mut buf).expect("a quick read");
        assert_eq!((r.n, r.left), (msg.len(), 0), "read {i}");
        assert_eq!(&buf[..r.n], *msg);
    }
    // Nothing left: the quick read declines, and the general one finds nothing either.
    let mut buf = [0u8; 16];
    assert!(quick_read(&s, &mut buf).is_none());
    assert_eq!(s.read(&mut buf, true, true, None), Err(QErr::WouldBlock));
    // The counters both sides publish moved as the general path moves them.
    assert_eq!(s.unread_rx(), Ok((0, false)));
    assert_eq!(c.unread_tx().map(|(u, _)| u), Ok(0));
}

#[test]
fn a_message_larger_than_the_buffer_is_left_to_the_general_read() {
    let (s, c) = pair();
    assert_eq!(c.write(&[5u8; 100], messages(QUOTA, true), None), Ok(100));
    let mut small = [0u8; 10];
    assert!(quick_read(&s, &mut small).is_none());
    // W67: the first part, and the rest as the message's remainder.
    let r = s.read(&mut small, true, true, None).expect("a read");
    assert_eq!((r.n, r.left), (10, 90));
    // Inside a message now: the remainder is the general path's too.
    let mut big = [0u8; 128];
    assert!(quick_read(&s, &mut big).is_none());
    let r = s.read(&mut big, true, true, None).expect("the rest");
    assert_eq!((r.n, r.left), (90, 0));
}

#[test]
fn data_of_a_closed_writer_is_left_to_the_general_read() {
    let (s, c) = pair();
    assert_eq!(c.write(b"last words", messages(QUOTA, true), None), Ok(10));
    c.close_here(true);
    let mut buf = [0u8; 64];
    assert!(quick_read(&s, &mut buf).is_none());
    // W113: read, then the end of the data.
    let r = s
        .read(&mut buf, true, false, None)
        .expect("the last message");
    assert_eq!(&buf[..r.n], b"last words");
    assert_eq!(s.read(&mut buf, true, false, None), Err(QErr::PeerClosed));
}

#[test]
fn the_last_record_of_a_write_not_marked_complete_is_left_to_the_general_read() {
    let (s, c) = pair();
    assert_eq!(c.write(b"first", messages(QUOTA, true), None), Ok(5));
    assert_eq!(c.write(b"second", messages(QUOTA, true), None), Ok(6));
    // As a writer still inside its second write would leave it: complete up to the first.
    let dir = c.side.tx();
    let first_end = record_end(0, 5);
    c.ring(dir).w.0.done_to.store(first_end, Release);
    let mut buf = [0u8; 64];
    // The first record is followed by another: quick.
    let r = quick_read(&s, &mut buf).expect("the first, quick");
    assert_eq!(&buf[..r.n], b"first");
    // The second is the last published one and not marked: the general path's.
    assert!(quick_read(&s, &mut buf).is_none());
    // Marked now: quick again.
    c.ring(dir).w.0.done_to.store(u64::MAX >> 2, Release);
    let r = quick_read(&s, &mut buf).expect("the second, quick");
    assert_eq!(&buf[..r.n], b"second");
}

#[test]
fn unusual_writes_are_left_to_the_general_write() {
    let (s, c) = pair();
    // PIPE_NOWAIT and empty writes.
    let mut nowait = messages(QUOTA, true);
    nowait.nonblocking = true;
    assert_eq!(c.write_quick(b"a", nowait), None);
    assert_eq!(c.write_quick(b"", messages(QUOTA, true)), None);
    // The second 1 KiB message is past a 1 KiB quota that the reader has not taken (W91).
    let o = messages(1024, true);
    assert_eq!(c.write_quick(&[1u8; 1024], o), Some(1024));
    assert_eq!(c.write_quick(&[2u8; 1024], o), None);
    // Nothing was published by the declined write.
    assert_eq!(c.unread_tx().map(|(u, _)| u), Ok(1024));
    // Another thread holds the writer lock: the quick write does not wait for it.
    {
        let _g = c.lock_side(TX_LOCK, None, false).expect("the writer lock");
        let c = &c;
        std::thread::scope(|t| {
            t.spawn(|| assert_eq!(c.write_quick(b"b", messages(QUOTA, true)), None));
        });
    }
    // The reader closed: the general write says so.
    s.close_here(true);
    assert_eq!(c.write_quick(b"c", messages(QUOTA, true)), None);
    assert_eq!(
        c.write(b"c", messages(QUOTA, true), None),
        Err(QErr::PeerClosed)
    );
}
