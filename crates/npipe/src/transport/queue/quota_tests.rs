//! Unit tests of the quota wait's decisions (`Conn::quota_unmet`: the reader gone, this end
//! closed, a cancel) and of FlushFileBuffers after a cancelled write, on a connection whose two
//! ends live in this test.

use std::task::Poll;
use std::time::Duration;

use super::*;

/// A connected pair (server, client) with 64 KiB rings, as the fuzzing rig makes them (also
/// for `close_race_tests`).
pub(super) fn pair() -> (Conn, Conn) {
    let caps = [1 << 16, 1 << 16];
    let (server, fd) = Conn::create(None, caps, caps, 1).expect("create a connection");
    let client = Conn::attach(None, fd, caps).expect("attach to it");
    (server, client)
}

/// The options of a message write with quota `quota`, waiting for it or not.
pub(super) fn messages(quota: u64, wait_quota: bool) -> WriteOpts {
    WriteOpts {
        message: true,
        quota,
        wait_quota,
        nonblocking: false,
    }
}

/// The client writes three 1 KiB messages without waiting for its 1 KiB quota; the server
/// reads `taken` of them and closes. Returns what a quota wait of the third write decides
/// after it had found the quota (reader at 2 KiB) unmet.
fn third_write_after_close(taken: usize, close: bool) -> QResult<bool> {
    let (s, c) = pair();
    let o = messages(1024, false);
    for _ in 0..3 {
        assert_eq!(c.write(&[7u8; 1024], o, None), Ok(1024));
    }
    let mut b = [0u8; 1024];
    for _ in 0..taken {
        let r = s.read(&mut b, true, false, None).expect("read a message");
        assert_eq!((r.n, r.left), (1024, 0));
    }
    if close {
        s.close_here(true);
    }
    c.quota_unmet(c.side.tx(), 3 * 1024 - 1024, 3 * 1024)
}

/// W91: a reader that took what meets the quota and then closed, after the wait's look found
/// the quota unmet: the write has completed, it does not fail with ERROR_BROKEN_PIPE.
#[test]
fn met_then_closed_completes() {
    assert_eq!(third_write_after_close(2, true), Ok(true));
    assert_eq!(third_write_after_close(3, true), Ok(true));
}

/// A reader that closed before it met the quota fails the write (W115); one still open keeps
/// it waiting.
#[test]
fn unmet_and_closed_fails_unmet_and_open_waits() {
    assert_eq!(third_write_after_close(1, true), Err(QErr::Broken));
    assert_eq!(third_write_after_close(0, true), Err(QErr::Broken));
    assert_eq!(third_write_after_close(1, false), Ok(false));
}

/// W91, W98: a write taken in steps that waits for its quota and is cancelled after the
/// reader took what meets the quota, before a step looked again (the engine had not stepped
/// it yet): the write completed when the reader took that, so the cancel finds nothing to
/// cancel and its message stays in the pipe, delivered. Cancelled while the quota is still
/// unmet, its message leaves the pipe.
#[test]
fn cancel_after_the_quota_is_met_keeps_the_write() {
    for met in [false, true] {
        let (s, c) = pair();
        let o = messages(1024, true);
        // Fits the quota: completes at once.
        assert_eq!(c.write(&[1u8; 1024], o, None), Ok(1024));
        // 1024 + 512 unread: pending until the reader takes 512.
        let mut st = WriteState::default();
        let r = c.write_step(&mut st, &[2u8; 512], o, false);
        assert!(r.is_pending(), "{r:?}");
        let mut b = [0u8; 2048];
        if met {
            let r = s.read(&mut b, true, false, None);
            assert_eq!(r, Ok(ReadOut { n: 1024, left: 0 }));
        }
        assert_eq!(
            c.write_abort(&mut st),
            !met,
            "whether the cancel took the message back (met {met})"
        );
        if !met {
            let r = s.read(&mut b, true, false, None);
            assert_eq!(r, Ok(ReadOut { n: 1024, left: 0 }));
            assert_eq!(
                s.read(&mut b, true, true, None),
                Err(QErr::WouldBlock),
                "the cancelled message is gone"
            );
        } else {
            let r = s.read(&mut b, true, true, None);
            assert_eq!(
                r,
                Ok(ReadOut { n: 512, left: 0 }),
                "the completed write is read"
            );
            assert!(b[..512].iter().all(|&x| x == 2));
        }
    }
}

/// A write waiting for its quota when its own end closes (another thread's CloseHandle): the
/// reader then drops the pending write (W102, W103, W98) and counts its bytes as taken. The
/// wait must not take that count for a read that met its quota and report a write the reader
/// never got as complete: it fails as an operation of a closed handle.
#[test]
fn a_write_dropped_at_its_own_close_does_not_complete() {
    let (s, c) = pair();
    let o = messages(256, true);
    // 512 unread with a 256 quota: pending until the reader takes 256 of it.
    let mut st = WriteState::default();
    let r = c.write_step(&mut st, &[2u8; 512], o, false);
    assert!(r.is_pending(), "{r:?}");
    c.close_here(true);
    let mut b = [0u8; 1024];
    assert_eq!(
        s.read(&mut b, true, false, None),
        Err(QErr::PeerClosed),
        "the pending write left the pipe with its closed end"
    );
    assert_eq!(
        c.quota_unmet(c.side.tx(), 512 - 256, 512),
        Err(QErr::Closed)
    );
    let r = c.write_step(&mut st, &[2u8; 512], o, false);
    assert_eq!(
        r,
        Poll::Ready(Err(QErr::Closed)),
        "the write does not complete"
    );
}

/// W95: FlushFileBuffers returns TRUE when the queue empties because its pending write is
/// cancelled, with nobody reading; unread data before the cancelled write, or written after
/// it, keeps it waiting for the reader (W94).
#[test]
fn a_flush_ends_when_the_cancelled_write_was_all_that_was_unread() {
    let o = messages(1024, true);
    let soon = || Some(Instant::now() + Duration::from_millis(100));
    let pending = |c: &Conn| {
        let mut st = WriteState::default();
        let r = c.write_step(&mut st, &[2u8; 2048], o, false);
        assert!(r.is_pending(), "{r:?}");
        assert!(c.write_abort(&mut st), "the cancel takes the message back");
    };
    // The cancelled write alone.
    let (_s, c) = pair();
    pending(&c);
    assert_eq!(c.flush(soon()), Ok(()), "nothing left to read");
    // A message before it, unread: the flush waits until it is read.
    let (s, c) = pair();
    assert_eq!(c.write(&[1u8; 100], o, None), Ok(100));
    pending(&c);
    assert_eq!(c.flush(soon()), Err(QErr::TimedOut), "100 bytes are unread");
    let mut b = [0u8; 4096];
    let r = s.read(&mut b, true, false, None);
    assert_eq!(r, Ok(ReadOut { n: 100, left: 0 }));
    assert_eq!(
        c.flush(soon()),
        Ok(()),
        "then only the cancelled write is left"
    );
    // A message after it (written without its quota wait: the withdrawn bytes still count
    // against the quota until the reader passes them): the flush waits for that one.
    let (s, c) = pair();
    pending(&c);
    let now = WriteOpts {
        wait_quota: false,
        ..o
    };
    assert_eq!(c.write(&[3u8; 10], now, None), Ok(10));
    assert_eq!(c.flush(soon()), Err(QErr::TimedOut), "10 bytes are unread");
    let r = s.read(&mut b, true, false, None);
    assert_eq!(
        r,
        Ok(ReadOut { n: 10, left: 0 }),
        "the cancelled write is skipped"
    );
    assert_eq!(c.flush(soon()), Ok(()));
}

/// W92, W98: the bytes of a write cancelled while pending leave the pipe at the cancel, so a
/// write queued behind it that fits the quota with them gone completes without waiting for a
/// reader, and so does a new write; the reader, later, skips them and reads the writes.
#[test]
fn writes_behind_a_cancelled_write_wait_only_for_what_is_before_them() {
    let o = messages(1024, true);
    let (s, c) = pair();
    // 100 bytes read by nobody yet, then a pending 2 KiB write, then a pending 10-byte one.
    assert_eq!(c.write(&[1u8; 100], o, None), Ok(100));
    let mut big = WriteState::default();
    assert!(c.write_step(&mut big, &[2u8; 2048], o, false).is_pending());
    let mut small = WriteState::default();
    let r = c.write_step(&mut small, &[3u8; 10], o, false);
    assert!(r.is_pending(), "{r:?}");
    assert!(c.write_abort(&mut big), "the cancel takes the 2 KiB back");
    // 100 + 10 unread before the small write's end: within the quota.
    let r = c.write_step(&mut small, &[3u8; 10], o, false);
    assert_eq!(r, Poll::Ready(Ok(10)), "the write behind it completes");
    // A new write: 100 + 10 + 900 unread with it, within the quota.
    let soon = Some(Instant::now() + Duration::from_millis(100));
    assert_eq!(
        c.write(&[4u8; 900], o, soon),
        Ok(900),
        "a new write does not wait"
    );
    // Beyond the quota with the cancelled bytes gone, still pending: 100 + 10 + 900 + 100.
    let mut more = WriteState::default();
    let r = c.write_step(&mut more, &[5u8; 100], o, false);
    assert!(r.is_pending(), "what is really unread still counts: {r:?}");
    assert!(c.write_abort(&mut more));
    let mut b = [0u8; 4096];
    for (n, x) in [(100, 1u8), (10, 3), (900, 4)] {
        let r = s.read(&mut b, true, true, None);
        assert_eq!(r, Ok(ReadOut { n, left: 0 }));
        assert!(b[..n].iter().all(|&y| y == x), "message of {x}");
    }
    assert_eq!(s.read(&mut b, true, true, None), Err(QErr::WouldBlock));
}

/// W92, W95, W98: two pending writes cancelled, in either order, with nobody reading: both
/// leave the pipe at their cancels, so FlushFileBuffers returns at once and a new write that
/// fits the quota completes without waiting for the reader; the reader then skips both and
/// reads the new one. (Only the cancel the withdrawal slot named used to count: the flush
/// waited for a reader to skip the other.)
#[test]
fn two_cancelled_writes_leave_the_pipe_at_once() {
    let o = messages(1024, true);
    let soon = || Some(Instant::now() + Duration::from_millis(100));
    for second_first in [false, true] {
        let (s, c) = pair();
        let mut a = WriteState::default();
        let mut b = WriteState::default();
        assert!(c.write_step(&mut a, &[2u8; 2048], o, false).is_pending());
        assert!(c.write_step(&mut b, &[3u8; 2048], o, false).is_pending());
        if second_first {
            assert!(c.write_abort(&mut b));
            assert!(c.write_abort(&mut a));
        } else {
            assert!(c.write_abort(&mut a));
            assert!(c.write_abort(&mut b));
        }
        assert_eq!(c.flush(soon()), Ok(()), "second first {second_first}");
        assert_eq!(
            c.write(&[4u8; 1000], o, soon()),
            Ok(1000),
            "second first {second_first}: a new write within the quota"
        );
        let mut buf = [0u8; 4096];
        let r = s.read(&mut buf, true, true, None);
        assert_eq!(
            r,
            Ok(ReadOut { n: 1000, left: 0 }),
            "second first {second_first}"
        );
        assert!(buf[..1000].iter().all(|&x| x == 4));
        assert_eq!(c.flush(soon()), Ok(()));
    }
}

/// More cancelled writes than the list holds: the ones beyond it count once the reader skips
/// them, as every cancel did before the list (the flush waits for the reader, no longer).
#[test]
fn cancels_beyond_the_list_wait_for_the_reader() {
    let o = messages(64, true);
    let soon = || Some(Instant::now() + Duration::from_millis(100));
    let (s, c) = pair();
    let mut states: Vec<WriteState> = (0..super::gone::GONE_SLOTS + 1)
        .map(|_| WriteState::default())
        .collect();
    for st in &mut states {
        assert!(c.write_step(st, &[5u8; 128], o, false).is_pending());
    }
    for st in &mut states {
        assert!(c.write_abort(st));
    }
    assert_eq!(c.flush(soon()), Err(QErr::TimedOut), "one is not listed");
    let mut buf = [0u8; 256];
    assert_eq!(s.read(&mut buf, true, true, None), Err(QErr::WouldBlock));
    assert_eq!(c.flush(soon()), Ok(()), "the reader skipped them all");
}
