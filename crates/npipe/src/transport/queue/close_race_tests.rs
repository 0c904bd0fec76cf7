//! Unit tests of a read that finds nothing while the writer replies and closes at once (a
//! server that writes its answer and drops its handle): the reply published just before the
//! close is read, and only the read after it reports the end of the data (W113). The writer's
//! publish and close are run exactly between the read's look and its look at the writer's
//! state ([`after_empty_look`]), the interleaving that lost the reply before.

use std::cell::Cell;
use std::task::Poll;

use super::*;

thread_local! {
    /// What [`after_empty_look`] runs (once) on this thread.
    static AFTER_EMPTY_LOOK: Cell<Option<Box<dyn FnOnce()>>> = const { Cell::new(None) };
}

/// Called by [`Conn::found_nothing`] in unit tests, after the read's look found nothing and
/// before it looks at the writer's state: runs what the test put there, once.
pub(super) fn after_empty_look() {
    if let Some(f) = AFTER_EMPTY_LOOK.take() {
        f();
    }
}

/// A connected pair (server, client) with 64 KiB rings, as the fuzzing rig makes them.
fn pair() -> (Conn, Conn) {
    let caps = [1 << 16, 1 << 16];
    let (server, fd) = Conn::create(None, caps, caps, 1).expect("create a connection");
    let client = Conn::attach(None, fd, caps).expect("attach to it");
    (server, client)
}

/// The write options of a pipe with a 64 KiB quota (the reply fits it: it completes at once).
fn opts(message: bool) -> WriteOpts {
    WriteOpts {
        message,
        quota: 1 << 16,
        wait_quota: true,
        nonblocking: false,
    }
}

/// Has the server write `reply` in steps, as `npipe::tokio` does, and close its end, at the
/// client's next empty look.
fn reply_and_close_at_the_look(server: Conn, reply: &'static [u8], message: bool) {
    AFTER_EMPTY_LOOK.set(Some(Box::new(move || {
        let mut st = WriteState::default();
        let r = server.write_step(&mut st, reply, opts(message), false);
        assert!(matches!(r, Poll::Ready(Ok(n)) if n == reply.len()), "{r:?}");
        server.close_here(true);
        drop(server);
    })));
}

/// The read in steps of `npipe::tokio` (unpinned), byte and message read modes.
#[test]
fn read_step_gets_the_reply_published_just_before_the_close() {
    for message in [false, true] {
        let (s, c) = pair();
        reply_and_close_at_the_look(s, b"cba", message);
        let mut st = ReadState::default();
        let mut buf = [0u8; 256];
        let r = c.read_step(&mut st, &mut buf, message, false);
        assert_eq!(
            r,
            Poll::Ready(Ok(ReadOut { n: 3, left: 0 })),
            "message {message}"
        );
        assert_eq!(&buf[..3], b"cba");
        assert_eq!(
            c.read_step(&mut st, &mut buf, message, false),
            Poll::Ready(Err(QErr::PeerClosed)),
            "then the end of the data"
        );
    }
}

/// The blocking read (and its PIPE_NOWAIT form), byte and message read modes.
#[test]
fn read_gets_the_reply_published_just_before_the_close() {
    for nonblocking in [false, true] {
        for message in [false, true] {
            let (s, c) = pair();
            reply_and_close_at_the_look(s, b"cba", message);
            let mut buf = [0u8; 256];
            let what = format!("nonblocking {nonblocking}, message {message}");
            let r = c.read(&mut buf, message, nonblocking, None);
            assert_eq!(r, Ok(ReadOut { n: 3, left: 0 }), "{what}");
            assert_eq!(&buf[..3], b"cba");
            assert_eq!(
                c.read(&mut buf, message, nonblocking, None),
                Err(QErr::PeerClosed),
                "then the end of the data ({what})"
            );
        }
    }
}

/// A writer that closed with nothing written: the end of the data at once, and a writer still
/// open: nothing yet (the second look changes neither).
#[test]
fn nothing_written_reads_as_the_end_or_nothing_yet() {
    let (s, c) = pair();
    let mut st = ReadState::default();
    let mut buf = [0u8; 16];
    assert_eq!(c.read_step(&mut st, &mut buf, false, false), Poll::Pending);
    assert_eq!(
        c.read(&mut buf, false, true, None),
        Err(QErr::WouldBlock),
        "a PIPE_NOWAIT read finds nothing"
    );
    AFTER_EMPTY_LOOK.set(Some(Box::new(move || s.close_here(true))));
    assert_eq!(
        c.read_step(&mut st, &mut buf, false, false),
        Poll::Ready(Err(QErr::PeerClosed))
    );
    assert_eq!(c.read(&mut buf, false, false, None), Err(QErr::PeerClosed));
}
