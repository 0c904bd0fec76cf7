//! Unit tests of the one-pass read and write (`quick`): the usual message goes through them,
//! and every unusual case is left to the general path, which then gives Windows' outcome
//! (W67 a message larger than the buffer, W113 data left by a closed writer, W91 a write past
//! its quota).

use std::sync::atomic::Ordering::*;

use super::quick::GENERAL_ONLY;
use super::quota_tests::{messages, pair};
use super::*;
use crate::test_rng::Rng;

/// [`Conn::read_quick`] as a read calls it, under the reader lock, released with the writers'
/// wake-up when it read.
fn quick_read(c: &Conn, buf: &mut [u8]) -> Option<ReadOut> {
    let g = c
        .lock_side(RX_LOCK, None, false)
        .expect("the reader lock is free");
    let r = c.read_quick(c.side.rx(), buf)?;
    c.release_and_notify(g, c.side.rx(), Wake::Space);
    Some(r)
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
    // Zeros: inside the payload, a quick read that ignored the remainder would find an 8-byte
    // "header" of an empty message at the next aligned position and take it.
    assert_eq!(c.write(&[0u8; 100], messages(QUOTA, true), None), Ok(100));
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

#[test]
fn flagged_records_and_records_not_all_there_are_left_to_the_general_read() {
    let (s, c) = pair();
    let dir = c.side.tx();
    // A record published pending (its write waited for its quota, W91): the read claims it.
    assert_eq!(c.write(b"pending", messages(QUOTA, true), None), Ok(7));
    c.write_record_header(dir, 0, 7, FLAG_PENDING);
    let mut buf = [0u8; 64];
    assert!(quick_read(&s, &mut buf).is_none());
    let r = s
        .read(&mut buf, true, true, None)
        .expect("the claimed message");
    assert_eq!(&buf[..r.n], b"pending");
    // A header that says more than the writer published (a hostile peer: an honest one
    // flags a record whose payload is still coming, and the general read waits for it),
    // up to a length of u32::MAX: declined, nothing copied past the tail, no panic.
    assert_eq!(c.write(b"short", messages(QUOTA, true), None), Ok(5));
    let at = record_end(0, 7).next_multiple_of(8);
    for len in [6, 1000, u32::MAX as u64] {
        c.write_record_header(dir, at, len, 0);
        let mut big = vec![0u8; 2000];
        assert!(quick_read(&s, &mut big).is_none(), "len {len}");
        assert!(big.iter().all(|&b| b == 0), "len {len}: copied");
    }
    c.write_record_header(dir, at, 5, 0);
    let r = quick_read(&s, &mut buf).expect("the repaired record");
    assert_eq!(&buf[..r.n], b"short");
}

#[test]
fn a_record_named_withdrawn_is_left_to_the_general_read() {
    let (s, c) = pair();
    assert_eq!(c.write(b"named", messages(QUOTA, true), None), Ok(5));
    // Named in `cut_rec` without its header's mark: only a peer breaking the protocol.
    c.ring(c.side.tx()).c.0.cut_rec.store(0, Release);
    let mut buf = [0u8; 64];
    assert!(quick_read(&s, &mut buf).is_none());
    assert_eq!(
        s.read(&mut buf, true, true, None),
        Err(QErr::Corrupt("withdrawn record not marked"))
    );
}

#[test]
fn an_end_closed_here_or_disconnected_goes_the_general_way() {
    // The reader's own handle closed.
    let (s, c) = pair();
    assert_eq!(c.write(b"m", messages(QUOTA, true), None), Ok(1));
    s.close_here(false);
    let mut buf = [0u8; 8];
    assert!(quick_read(&s, &mut buf).is_none());
    assert_eq!(s.read(&mut buf, true, true, None), Err(QErr::Closed));
    // The writer's own handle closed.
    c.close_here(false);
    assert_eq!(c.write_quick(b"m", messages(QUOTA, true)), None);
    assert_eq!(
        c.write(b"m", messages(QUOTA, true), None),
        Err(QErr::Closed)
    );
    // Disconnected (DisconnectNamedPipe): W44's error on both sides.
    let (s, c) = pair();
    assert_eq!(c.write(b"m", messages(QUOTA, true), None), Ok(1));
    s.set_state(Side::Server, DISCONNECTED);
    assert!(quick_read(&s, &mut buf).is_none());
    assert_eq!(s.read(&mut buf, true, true, None), Err(QErr::Disconnected));
    assert_eq!(c.write_quick(b"m", messages(QUOTA, true)), None);
    assert_eq!(
        c.write(b"m", messages(QUOTA, true), None),
        Err(QErr::Disconnected)
    );
}

#[test]
fn a_write_without_room_is_left_to_the_general_write() {
    let (s, c) = pair();
    let o = messages(1 << 20, true);
    assert_eq!(c.write_quick(&[1u8; 60 << 10], o), Some(60 << 10));
    // 60 KiB of a 64 KiB ring taken: 8 KiB more does not fit.
    assert_eq!(c.write_quick(&[2u8; 8 << 10], o), None);
    let mut nowait = o;
    nowait.nonblocking = true;
    assert_eq!(c.write(&[2u8; 8 << 10], nowait, None), Ok(0));
    let mut buf = vec![0u8; 64 << 10];
    let r = quick_read(&s, &mut buf).expect("the big one");
    assert_eq!(r.n, 60 << 10);
    // Room again.
    assert_eq!(c.write_quick(&[2u8; 8 << 10], o), Some(8 << 10));
}

/// Runs `f` on this thread with the quick paths off.
fn general<R>(f: impl FnOnce() -> R) -> R {
    GENERAL_ONLY.set(true);
    let r = f();
    GENERAL_ONLY.set(false);
    r
}

/// One call of the differential tests below.
enum Call {
    /// A message of `data`, with a reader's quota of `quota`; `bits` are random, for options.
    Write {
        data: Vec<u8>,
        quota: u64,
        bits: u64,
    },
    /// A read into a buffer of `size` bytes, in message read mode or not.
    Read { size: usize, message: bool },
}

/// A random call: a write of 0 to 20,000 B (every third byte zero, the rest stamped with the
/// write's number) while the client's unread bytes leave room for it, else a read.
fn random_call(rng: &mut Rng, stamp: &mut u8, client: &Conn) -> Call {
    let (unread, _) = client.unread_tx().expect("counters");
    let len = rng.pick(&[0usize, 1, 7, 8, 63, 64, 100, 1000, 5000, 20000]);
    if rng.next().is_multiple_of(2) && unread + len as u64 + 64 < 48 << 10 {
        let s = *stamp;
        *stamp = s.wrapping_add(1);
        let data = (0..len)
            .map(|i| {
                if i.is_multiple_of(3) {
                    0
                } else {
                    s.wrapping_add(i as u8)
                }
            })
            .collect();
        let quota = rng.pick(&[4096u64, 1 << 16]);
        Call::Write {
            data,
            quota,
            bits: rng.next(),
        }
    } else {
        let size = rng.pick(&[0usize, 1, 10, 64, 100, 1000, 8192, 30000]);
        Call::Read {
            size,
            message: !rng.next().is_multiple_of(6),
        }
    }
}

/// Both pairs (server, client) publish the same counters.
fn same_counters(q: [&Conn; 2], g: [&Conn; 2], seed: u64, step: usize) {
    assert_eq!(
        q[0].unread_rx(),
        g[0].unread_rx(),
        "seed {seed} step {step}"
    );
    assert_eq!(
        q[1].unread_tx(),
        g[1].unread_tx(),
        "seed {seed} step {step}"
    );
}

/// Makes two pairs, the quick one and the general one, and 3,000 random calls ([`random_call`])
/// for `seed`: `each` makes each call on both pairs (server, client) and compares them, then
/// the counters both publish are compared. Returns the pairs.
fn on_random_calls(
    seed: u64,
    mut each: impl FnMut(Call, [&Conn; 2], [&Conn; 2], &str),
) -> ([Conn; 2], [Conn; 2]) {
    let mut rng = Rng(seed);
    let (qs, qc) = pair();
    let (gs, gc) = pair();
    let mut stamp = 0u8;
    for step in 0..3000 {
        let call = random_call(&mut rng, &mut stamp, &qc);
        each(
            call,
            [&qs, &qc],
            [&gs, &gc],
            &format!("seed {seed} step {step}"),
        );
        same_counters([&qs, &qc], [&gs, &gc], seed, step);
    }
    ([qs, qc], [gs, gc])
}

/// The same calls on two pairs, one with the quick paths and one without: every result, every
/// byte read and every counter the two sides publish agree, through several laps of the ring,
/// messages larger than the buffers (W67), empty messages (W76), byte-mode reads that gather
/// (W58), PIPE_NOWAIT writes (W107) and the writer's close with data left (W113).
#[test]
fn quick_and_general_paths_agree_on_every_call() {
    for seed in [1u64, 0x9e37_79b9_7f4a_7c15, 42] {
        let ([qs, qc], [gs, gc]) =
            on_random_calls(seed, |call, [qs, qc], [gs, gc], at| match call {
                Call::Write { data, quota, bits } => {
                    let mut o = messages(quota, false);
                    o.nonblocking = bits.is_multiple_of(8);
                    let q = qc.write(&data, o, None);
                    let g = general(|| gc.write(&data, o, None));
                    assert_eq!(q, g, "{at}: write of {}", data.len());
                }
                Call::Read { size, message } => {
                    let (mut qb, mut gb) = (vec![0u8; size], vec![0u8; size]);
                    let q = qs.read(&mut qb, message, true, None);
                    let g = general(|| gs.read(&mut gb, message, true, None));
                    assert_eq!(q, g, "{at}: read of {size}");
                    if let Ok(r) = q {
                        assert_eq!(qb[..r.n], gb[..r.n], "{at}");
                    }
                }
            });
        // The writer closes with data left: read to the end, the same way.
        qc.close_here(true);
        general(|| gc.close_here(true));
        loop {
            let (mut qb, mut gb) = ([0u8; 4096], [0u8; 4096]);
            let q = qs.read(&mut qb, true, true, None);
            let g = general(|| gs.read(&mut gb, true, true, None));
            assert_eq!(q, g, "seed {seed}: after the close");
            match q {
                Ok(r) => assert_eq!(qb[..r.n], gb[..r.n]),
                Err(_) => break,
            }
        }
    }
}

/// As [`quick_and_general_paths_agree_on_every_call`], for the steps overlapped I/O and
/// `npipe::tokio` take (`write_step`, `read_step`), which try the quick paths first (and a read
/// step its unlocked look at an empty ring, `nothing_in`): every step's outcome (done, pending,
/// failed), every byte and every published counter agree. A write that stays pending on its
/// quota (W91) is aborted on both pairs, as a cancel would.
#[test]
fn steps_agree_with_and_without_the_quick_paths() {
    use std::task::Poll;
    for seed in [7u64, 0x2545_f491_4f6c_dd1d, 99] {
        on_random_calls(seed, |call, [qs, qc], [gs, gc], at| match call {
            Call::Write { data, quota, bits } => {
                let o = messages(quota, !bits.is_multiple_of(4));
                let (mut qst, mut gst) = (WriteState::default(), WriteState::default());
                let q = qc.write_step(&mut qst, &data, o, false);
                let g = general(|| gc.write_step(&mut gst, &data, o, false));
                assert_eq!(q, g, "{at}: write of {}", data.len());
                if q.is_pending() {
                    let qa = qc.write_abort(&mut qst);
                    let ga = general(|| gc.write_abort(&mut gst));
                    assert_eq!(qa, ga, "{at}: abort");
                }
            }
            Call::Read { size, message } => {
                let (mut qb, mut gb) = (vec![0u8; size], vec![0u8; size]);
                let (mut qst, mut gst) = (ReadState::default(), ReadState::default());
                let q = qs.read_step(&mut qst, &mut qb, message, false);
                let g = general(|| gs.read_step(&mut gst, &mut gb, message, false));
                assert_eq!(q, g, "{at}: read of {size}");
                if let Poll::Ready(Ok(r)) = q {
                    assert_eq!(qb[..r.n], gb[..r.n], "{at}");
                }
                assert_eq!(qs.read_abort(&mut qst), general(|| gs.read_abort(&mut gst)));
            }
        });
    }
}

/// A read step that takes the usual message in one pass tells a writer waiting for room, as
/// the general step does when it consumes (an overlapped or `npipe::tokio` writer would wait
/// for ever otherwise), and leaves the reader lock free.
#[test]
fn the_read_step_wakes_a_writer_after_its_quick_read() {
    use std::task::Poll;
    let (s, c) = pair();
    let k = &c.ring(c.side.tx()).k.0;
    assert_eq!(c.write_quick(b"wake up", messages(QUOTA, true)), Some(7));
    // A writer asleep for room, as `wait_inner` counts one.
    k.space_waiters.fetch_add(1, SeqCst);
    let seq = k.space_seq.load(SeqCst);
    let (mut buf, mut st) = ([0u8; 64], ReadState::default());
    assert!(matches!(
        s.read_step(&mut st, &mut buf, true, false),
        Poll::Ready(Ok(ReadOut { n: 7, left: 0 }))
    ));
    assert_ne!(k.space_seq.load(SeqCst), seq, "the writer was not woken");
    k.space_waiters.fetch_sub(1, SeqCst);
    assert!(!st.in_message());
    drop(
        s.lock_side(RX_LOCK, None, true)
            .expect("the reader lock is free"),
    );
}

#[test]
fn the_usual_write_and_read_wake_a_sleeping_peer_after_the_lock() {
    let (s, c) = pair();
    let dir = c.side.tx();
    let k = &c.ring(dir).k.0;
    // A reader announced as asleep (`wait_on` counts itself before its last look): the usual
    // write, which wakes it only after releasing the writer lock (`release_and_notify`),
    // still bumps the word it sleeps on.
    k.data_waiters.fetch_add(1, SeqCst);
    let seq = k.data_seq.load(SeqCst);
    assert_eq!(c.write_quick(b"wake up", messages(QUOTA, true)), Some(7));
    assert_ne!(
        k.data_seq.load(SeqCst),
        seq,
        "the sleeping reader was not woken"
    );
    k.data_waiters.fetch_sub(1, SeqCst);
    // The lock was released before the wake-up, not kept.
    drop(
        c.lock_side(TX_LOCK, None, true)
            .expect("the writer lock is free"),
    );
    // A writer announced as asleep for room: the usual read wakes it the same way. Through
    // `read`, whose quick path (`read_quick`, which a whole message that fits takes: see the
    // first test) leaves the wake-up to its caller.
    k.space_waiters.fetch_add(1, SeqCst);
    let seq = k.space_seq.load(SeqCst);
    let mut buf = [0u8; 64];
    let r = s.read(&mut buf, true, false, None).expect("the message");
    assert_eq!(&buf[..r.n], b"wake up");
    assert_ne!(
        k.space_seq.load(SeqCst),
        seq,
        "the sleeping writer was not woken"
    );
    k.space_waiters.fetch_sub(1, SeqCst);
    drop(
        s.lock_side(RX_LOCK, None, true)
            .expect("the reader lock is free"),
    );
}

/// The largest message every connection completes unpinned ([`UNPINNED_EVERYWHERE`], which the
/// C ABI's overlapped calls take without asking the connection for its limits) goes through an
/// unpinned write step and an unpinned read step, each at once, on a connection with the
/// smallest rings a connection may have.
#[test]
fn the_unpinned_size_every_connection_takes_fits_the_smallest_rings() {
    use std::task::Poll;
    let caps = [MIN_RING, MIN_RING];
    let (s, fd) = Conn::create(None, caps, caps, 1).expect("create a connection");
    let c = Conn::attach(None, fd, caps).expect("attach to it");
    let n = UNPINNED_EVERYWHERE as usize;
    for end in [&s, &c] {
        let (r, w) = end.unpinned_limits();
        assert!(r >= n as u64 && w >= n as u64, "{r} {w}");
    }
    let msg = vec![3u8; n];
    let mut ws = WriteState::default();
    assert_eq!(
        c.write_step(&mut ws, &msg, messages(1 << 20, false), false),
        Poll::Ready(Ok(n))
    );
    let (mut buf, mut rs) = (vec![0u8; n], ReadState::default());
    assert_eq!(
        s.read_step(&mut rs, &mut buf, true, false),
        Poll::Ready(Ok(ReadOut { n, left: 0 }))
    );
    assert_eq!(buf, msg);
}
