//! Unit tests of the quota wait's decision once the reader has gone (`Conn::quota_unmet`), on
//! a connection whose two ends live in this test.

use std::task::Poll;

use super::*;

/// A connected pair (server, client) with 64 KiB rings, as the fuzzing rig makes them.
fn pair() -> (Conn, Conn) {
    let caps = [1 << 16, 1 << 16];
    let (server, fd) = Conn::create(None, caps, caps, 1).expect("create a connection");
    let client = Conn::attach(None, fd, caps).expect("attach to it");
    (server, client)
}

/// The client writes three 1 KiB messages without waiting for its 1 KiB quota; the server
/// reads `taken` of them and closes. Returns what a quota wait of the third write decides
/// after it had found the quota (reader at 2 KiB) unmet.
fn third_write_after_close(taken: usize, close: bool) -> QResult<bool> {
    let (s, c) = pair();
    let o = WriteOpts {
        message: true,
        quota: 1024,
        wait_quota: false,
        nonblocking: false,
    };
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
    c.quota_unmet(c.side.tx(), 3 * 1024 - 1024)
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
        let o = WriteOpts {
            message: true,
            quota: 1024,
            wait_quota: true,
            nonblocking: false,
        };
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
    let o = WriteOpts {
        message: true,
        quota: 256,
        wait_quota: true,
        nonblocking: false,
    };
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
    assert_eq!(c.quota_unmet(c.side.tx(), 512 - 256), Err(QErr::Closed));
    let r = c.write_step(&mut st, &[2u8; 512], o, false);
    assert_eq!(
        r,
        Poll::Ready(Err(QErr::Closed)),
        "the write does not complete"
    );
}
