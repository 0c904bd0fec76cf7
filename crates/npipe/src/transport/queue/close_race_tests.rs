//! Unit tests of a read (or a peek) that looks at the ring while the writer completes its write
//! and closes at once (a server that writes its answer and drops its handle): what the writer
//! published before the close is read, and only the read after it reports the end of the data
//! (W113).
//! The writer's publish and close run exactly between the read's look at the ring and its
//! decision with the writer's state ([`before_close_check`]), the interleaving that lost the
//! reply (a read that found nothing) or tore it (a message read partly) before.

use std::cell::Cell;
use std::task::Poll;

use super::quick::GENERAL_ONLY;
use super::quota_tests::pair;
use super::*;

thread_local! {
    /// What [`before_close_check`] runs (once) on this thread.
    static BEFORE_CLOSE_CHECK: Cell<Option<Box<dyn FnOnce()>>> = const { Cell::new(None) };
}

/// Called by the reads in unit tests where they have looked at the ring (and found nothing, or
/// less than they wait for) and are about to decide with the writer's state: runs what the
/// test put there, once.
pub(super) fn before_close_check() {
    if let Some(f) = BEFORE_CLOSE_CHECK.take() {
        f();
    }
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
/// client's next decision with its state.
fn reply_and_close_at_the_check(server: Conn, reply: &'static [u8], message: bool) {
    BEFORE_CLOSE_CHECK.set(Some(Box::new(move || {
        let mut st = WriteState::default();
        let r = server.write_step(&mut st, reply, opts(message), false);
        assert!(matches!(r, Poll::Ready(Ok(n)) if n == reply.len()), "{r:?}");
        server.close_here(true);
        drop(server);
    })));
}

/// The read in steps of `npipe::tokio` (unpinned), byte and message read modes: the publish
/// and close land in the step's unlocked look at an empty ring (`nothing_in`), and, with that
/// look off (`GENERAL_ONLY`), in its decision under the reader lock.
#[test]
fn read_step_gets_the_reply_published_just_before_the_close() {
    for general in [false, true] {
        GENERAL_ONLY.set(general);
        for message in [false, true] {
            let (s, c) = pair();
            reply_and_close_at_the_check(s, b"cba", message);
            let mut st = ReadState::default();
            let mut buf = [0u8; 256];
            let what = format!("message {message}, general only {general}");
            let r = c.read_step(&mut st, &mut buf, message, false);
            assert_eq!(r, Poll::Ready(Ok(ReadOut { n: 3, left: 0 })), "{what}");
            assert_eq!(&buf[..3], b"cba");
            assert_eq!(
                c.read_step(&mut st, &mut buf, message, false),
                Poll::Ready(Err(QErr::PeerClosed)),
                "then the end of the data ({what})"
            );
        }
    }
    GENERAL_ONLY.set(false);
}

/// A read step whose unlocked look finds the ring empty arms and looks again: a reply
/// published between the two looks (the writer stays open) is read by that step, not left
/// for a signal (the step's look pairs with the writer's look at the arm).
#[test]
fn read_step_gets_a_reply_published_between_its_looks() {
    for message in [false, true] {
        let (s, c) = pair();
        // The writer stays open until the read is done.
        let s = std::rc::Rc::new(s);
        let writer = s.clone();
        BEFORE_CLOSE_CHECK.set(Some(Box::new(move || {
            let mut st = WriteState::default();
            let r = writer.write_step(&mut st, b"late", opts(message), false);
            assert!(matches!(r, Poll::Ready(Ok(4))), "{r:?}");
        })));
        let mut st = ReadState::default();
        let mut buf = [0u8; 64];
        assert_eq!(
            c.read_step(&mut st, &mut buf, message, false),
            Poll::Ready(Ok(ReadOut { n: 4, left: 0 })),
            "message {message}"
        );
        assert_eq!(&buf[..4], b"late");
        drop(s);
    }
}

/// The blocking read (and its PIPE_NOWAIT form), byte and message read modes.
#[test]
fn read_gets_the_reply_published_just_before_the_close() {
    for nonblocking in [false, true] {
        for message in [false, true] {
            let (s, c) = pair();
            reply_and_close_at_the_check(s, b"cba", message);
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
    BEFORE_CLOSE_CHECK.set(Some(Box::new(move || s.close_here(true))));
    assert_eq!(
        c.read_step(&mut st, &mut buf, false, false),
        Poll::Ready(Err(QErr::PeerClosed))
    );
    assert_eq!(c.read(&mut buf, false, false, None), Err(QErr::PeerClosed));
}

/// A message larger than the ring: the server streams it in a pinned write in steps (as the
/// C ABI's overlapped writes and `npipe::tokio`'s large-message thread do), of which the first
/// has published what the ring holds.
const LARGE: usize = 100_000;

fn large_message() -> Vec<u8> {
    (0..LARGE).map(|i| (i % 251) as u8).collect()
}

/// Starts the large message's write: what fits is published, the rest waits for room.
fn start_large(server: &Conn, msg: &[u8]) -> WriteState {
    start_large_as(server, msg, true)
}

/// [`start_large`] as a message-type (`message`) or a byte-type pipe's write.
fn start_large_as(server: &Conn, msg: &[u8], message: bool) -> WriteState {
    let mut st = WriteState::default();
    let r = server.write_step(&mut st, msg, opts(message), true);
    assert!(r.is_pending(), "{r:?}");
    st
}

/// Has the server stream the rest of the large message (the reader has made room), complete
/// the write and close its end, at the client's next decision with its state.
fn finish_large_and_close_at_the_check(server: Conn, st: WriteState, msg: Vec<u8>) {
    finish_large_as_and_close_at_the_check(server, st, msg, true);
}

/// [`finish_large_and_close_at_the_check`] for a write started by [`start_large_as`].
fn finish_large_as_and_close_at_the_check(
    server: Conn,
    mut st: WriteState,
    msg: Vec<u8>,
    message: bool,
) {
    BEFORE_CLOSE_CHECK.set(Some(Box::new(move || {
        let r = server.write_step(&mut st, &msg, opts(message), true);
        assert_eq!(r, Poll::Ready(Ok(LARGE)), "the write completes");
        server.close_here(true);
        drop(server);
    })));
}

/// A pinned read in steps that has taken part of the message when the rest comes and the
/// writer closes: the whole message, not a torn one and the end of the data.
#[test]
fn read_step_gets_the_rest_published_just_before_the_close() {
    let (s, c) = pair();
    let msg = large_message();
    let st = start_large(&s, &msg);
    finish_large_and_close_at_the_check(s, st, msg.clone());
    let mut rs = ReadState::default();
    let mut buf = vec![0u8; LARGE + 1];
    let mut r = c.read_step(&mut rs, &mut buf, true, true);
    // A pending step keeps the lock and what it took; the next one goes on.
    for _ in 0..4 {
        if r.is_ready() {
            break;
        }
        r = c.read_step(&mut rs, &mut buf, true, true);
    }
    assert_eq!(r, Poll::Ready(Ok(ReadOut { n: LARGE, left: 0 })));
    assert!(buf[..LARGE] == msg[..], "the message, whole");
    assert_eq!(
        c.read_step(&mut rs, &mut buf, true, true),
        Poll::Ready(Err(QErr::PeerClosed)),
        "then the end of the data"
    );
}

/// The blocking message read that waits for the rest of a message when it comes and the
/// writer closes: the whole message.
#[test]
fn read_gets_the_rest_published_just_before_the_close() {
    let (s, c) = pair();
    let msg = large_message();
    let st = start_large(&s, &msg);
    finish_large_and_close_at_the_check(s, st, msg.clone());
    let mut buf = vec![0u8; LARGE + 1];
    assert_eq!(
        c.read(&mut buf, true, false, None),
        Ok(ReadOut { n: LARGE, left: 0 })
    );
    assert!(buf[..LARGE] == msg[..], "the message, whole");
    assert_eq!(
        c.read(&mut buf, true, false, None),
        Err(QErr::PeerClosed),
        "then the end of the data"
    );
}

/// PeekNamedPipe: a reply published and its writer closed right after the peek's look leaves
/// that peek an empty look (it came first), and the next peek sees the reply, not the end of
/// the data; the end shows once the reply is read.
#[test]
fn peek_sees_the_reply_published_just_before_the_close() {
    for message in [false, true] {
        let (s, c) = pair();
        reply_and_close_at_the_check(s, b"cba", message);
        let what = format!("message {message}");
        let p = c.peek_at_close(None, message).expect("the first peek");
        assert!(!p.queued && p.avail == 0, "{what}: {p:?}");
        let mut buf = [0u8; 16];
        let p = c
            .peek_at_close(Some(&mut buf), message)
            .expect("the second peek");
        assert_eq!((p.read, p.avail, p.queued), (3, 3, true), "{what}");
        assert_eq!(&buf[..3], b"cba");
        assert_eq!(
            c.read(&mut buf, message, false, None),
            Ok(ReadOut { n: 3, left: 0 }),
            "{what}"
        );
        assert_eq!(
            c.peek_at_close(None, message).map(|p| p.queued),
            Err(QErr::PeerClosed),
            "then the end of the data ({what})"
        );
    }
}

/// A byte-type pipe whose writer streams a large write: the client's first read takes part of
/// it (making room for the rest). Returns the pair's client, the bytes it read, and the
/// message; the server finishes its write and closes at the client's next decision with its
/// state.
fn large_byte_write_partly_read() -> (Conn, usize, Vec<u8>) {
    let (s, c) = pair();
    let msg = large_message();
    let st = start_large_as(&s, &msg, false);
    let mut buf = vec![0u8; 40_000];
    let first = c
        .read(&mut buf, false, false, None)
        .expect("the first read");
    assert!(first.n > 0 && first.n < LARGE, "{first:?}");
    assert!(buf[..first.n] == msg[..first.n]);
    finish_large_as_and_close_at_the_check(s, st, msg.clone(), false);
    (c, first.n, msg)
}

/// A byte read (blocking, PIPE_NOWAIT, and in steps) in the middle of a write whose rest is
/// published, completed and closed between the read's look at the ring and its cut of what
/// the closed writer completed: the read gets what its look saw (it came first) and the next
/// ones the rest, then the end of the data; never a zero-byte read (which `read_to_end` takes
/// for the end of the data) with the rest left behind (W113).
#[test]
fn byte_read_gets_the_rest_published_just_before_the_close() {
    for how in ["blocking", "nonblocking", "step"] {
        let (c, first, msg) = large_byte_write_partly_read();
        let mut buf = vec![0u8; LARGE];
        let mut st = ReadState::default();
        let mut read = |buf: &mut [u8]| match how {
            "blocking" => c.read(buf, false, false, None),
            "nonblocking" => c.read(buf, false, true, None),
            _ => match c.read_step(&mut st, buf, false, false) {
                Poll::Ready(r) => r,
                Poll::Pending => Err(QErr::WouldBlock),
            },
        };
        let mut got = Vec::new();
        loop {
            match read(&mut buf) {
                Ok(r) => {
                    assert!(r.n > 0, "{how}: a zero-byte read after {} bytes", got.len());
                    got.extend_from_slice(&buf[..r.n]);
                }
                Err(e) => {
                    assert_eq!(e, QErr::PeerClosed, "{how}");
                    break;
                }
            }
        }
        assert_eq!(got.len(), LARGE - first, "{how}");
        assert!(got[..] == msg[first..], "{how}: the rest, whole");
    }
}

/// PeekNamedPipe in the same interleaving: the peek that looked before the close sees the
/// pending write's bytes (W92), not an empty pipe; the next sees all of the rest.
#[test]
fn peek_counts_the_rest_published_just_before_the_close() {
    let (c, first, msg) = large_byte_write_partly_read();
    let mut buf = vec![0u8; LARGE];
    let p = c
        .peek_at_close(Some(&mut buf), false)
        .expect("the first peek");
    assert_eq!(p.avail, (LARGE - first) as u64, "{p:?}");
    assert!(
        p.read > 0 && buf[..p.read] == msg[first..first + p.read],
        "{p:?}"
    );
    let p = c
        .peek_at_close(Some(&mut buf), false)
        .expect("the second peek");
    assert_eq!((p.read, p.avail), (LARGE - first, (LARGE - first) as u64));
    assert!(buf[..LARGE - first] == msg[first..]);
}

/// Leaves a server whose write stopped in the middle as it is: this thread still holds its
/// writer lock (a streaming step keeps it), and the connection stays mapped and unreleased, as
/// a writer process that exits in the middle leaves it until its liveness mark is found dead.
fn keep_torn(server: Conn, st: WriteState) {
    assert!(st.holding());
    std::mem::forget(server);
}

/// A byte read in the middle of a write whose writer's end closes with the write unfinished
/// (its process exits: W102, W103) after the read's checks at the top of its loop, which saw
/// the writer open: the gather that follows (`read_bytes`, run here in the state the read
/// reaches then) drops the unfinished rest and looks again, which reports the end of the
/// data. It never completes as a zero-byte read: that is neither what a read before the close
/// gets (the bytes there) nor one after it (ERROR_BROKEN_PIPE).
#[test]
fn byte_read_of_a_write_torn_after_its_checks_is_the_end_not_zero_bytes() {
    let (s, c) = pair();
    let msg = large_message();
    let st = start_large_as(&s, &msg, false);
    let mut buf = vec![0u8; 40_000];
    let first = c
        .read(&mut buf, false, false, None)
        .expect("the first read");
    assert!(first.n > 0 && first.n < LARGE, "{first:?}");
    s.close_here(true);
    keep_torn(s, st);
    let r = c.read_bytes(c.side.rx(), &mut buf);
    assert!(
        !matches!(r, Ok(Some(ReadOut { n: 0, .. }))),
        "a zero-byte read: {r:?}"
    );
    assert_eq!(c.read(&mut buf, false, false, None), Err(QErr::PeerClosed));
}

/// PeekNamedPipe in the middle of that write, its writer closing with it unfinished right
/// after the peek's look: the peek came first and sees the pending bytes (W92), not an
/// empty pipe with something queued; the next peek reports the end (W113).
#[test]
fn peek_of_a_write_torn_after_its_look_came_first() {
    let (s, c) = pair();
    let msg = large_message();
    let st = start_large_as(&s, &msg, false);
    let mut buf = vec![0u8; 40_000];
    let first = c
        .read(&mut buf, false, false, None)
        .expect("the first read");
    BEFORE_CLOSE_CHECK.set(Some(Box::new(move || {
        s.close_here(true);
        keep_torn(s, st);
    })));
    let p = c
        .peek_at_close(Some(&mut buf), false)
        .expect("the first peek");
    assert_eq!(p.avail, (LARGE - first.n) as u64, "{p:?}");
    assert!(
        p.read > 0 && buf[..p.read] == msg[first.n..first.n + p.read],
        "{p:?}"
    );
    assert_eq!(
        c.peek_at_close(None, false).map(|p| p.avail),
        Err(QErr::PeerClosed)
    );
}

/// Another thread closes the writer's end while a write has published its record but not yet
/// marked it complete (`done_to`), and the reader reads right then: the peer's reader drops
/// what a closed writer did not complete (W102, W103), so the close waits for the mark. The
/// reader gets the message the write reports as written, and then the end of the data (W113).
#[test]
fn a_close_during_a_write_waits_for_the_write_to_complete() {
    use std::sync::{Arc, Mutex};
    let (s, c) = pair();
    let (s, c) = (Arc::new(s), Arc::new(c));
    let closer: Arc<Mutex<Option<std::thread::JoinHandle<()>>>> = Default::default();
    let got: Arc<Mutex<Option<QResult<Vec<u8>>>>> = Default::default();
    {
        let (s, c, closer, got) = (s.clone(), c.clone(), closer.clone(), got.clone());
        BEFORE_CLOSE_CHECK.set(Some(Box::new(move || {
            let t = std::thread::spawn(move || s.close_here(true));
            *closer.lock().unwrap() = Some(t);
            // Long enough for the close to reach the writer lock this write holds.
            std::thread::sleep(std::time::Duration::from_millis(50));
            let mut buf = [0u8; 64];
            let r = c.read(&mut buf, true, false, None);
            *got.lock().unwrap() = Some(r.map(|r| buf[..r.n].to_vec()));
        })));
    }
    assert_eq!(s.write(b"last words", opts(true), None), Ok(10));
    closer
        .lock()
        .unwrap()
        .take()
        .expect("the close ran inside the write")
        .join()
        .unwrap();
    let read = got
        .lock()
        .unwrap()
        .take()
        .expect("the read ran inside the write");
    assert_eq!(read, Ok(b"last words".to_vec()));
    let mut buf = [0u8; 64];
    assert_eq!(c.read(&mut buf, true, false, None), Err(QErr::PeerClosed));
}

/// A byte read in steps that has taken everything a large write published so far (it is
/// inside that record, with nothing more in the ring) when the writer gives up: the record's
/// rest is withdrawn, and the next step must deal with it under the reader lock as the general
/// path does, not take the empty ring for nothing to do (`nothing_in` looks only at a reader
/// between records). Compared with a pair whose steps take the general path only.
#[test]
fn a_read_step_inside_a_withdrawn_record_goes_the_general_way() {
    let run = |general: bool| {
        GENERAL_ONLY.set(general);
        let (s, c) = pair();
        let msg = large_message();
        let mut ws = start_large_as(&s, &msg, false);
        let mut buf = vec![0u8; LARGE + 1];
        let mut rs = ReadState::default();
        let first = c.read_step(&mut rs, &mut buf, false, false);
        let Poll::Ready(Ok(first)) = first else {
            panic!("the first step reads what was published: {first:?}");
        };
        assert!(first.n > 0 && first.n < LARGE, "{first:?}");
        assert!(s.write_abort(&mut ws), "the rest is withdrawn");
        let next = c.read_step(&mut rs, &mut buf, false, false);
        let after = (c.mine(R_LEFT).load(Relaxed), c.unread_rx());
        GENERAL_ONLY.set(false);
        (first.n, next, after)
    };
    assert_eq!(run(false), run(true));
}
