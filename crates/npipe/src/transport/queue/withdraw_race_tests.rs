//! Unit tests of a cancel that races the read delivering the message (W98): the write's record
//! is all in the ring, waiting for its quota, and the reader has copied all of it. The cancel
//! runs exactly at the reader's claim ([`at_claim`]): before it, the message leaves the pipe and
//! the read goes on with the next one; after it, the message is delivered and the cancel finds
//! nothing to cancel. Either way the two sides agree, whatever read takes the message: a
//! message read (whole, or the rest of one begun by an earlier read), a byte read, a read in
//! steps, a read in place. Then the orders with two pending writes: the reader taking both while
//! the cancel of the first waits to claim it ([`before_withdrawal_claim`]), and cancels of both
//! at the reader's claim of the first, in either order.

use std::cell::Cell;
use std::task::Poll;

use super::quota_tests::pair;
use super::*;

/// A test's step and the point of the claim where it runs (see [`at_claim`]).
type ClaimHook = (bool, Box<dyn FnOnce()>);

thread_local! {
    /// What [`at_claim`] runs (once) on this thread, and at which point.
    static AT_CLAIM: Cell<Option<ClaimHook>> = const { Cell::new(None) };
}

/// Called by `claim_delivery` in unit tests, for a record whose write may still be pending:
/// just before the reader's claim (`claimed` false) and just after it took the record
/// (`claimed` true). Runs what the test put there for that point, once.
pub(super) fn at_claim(claimed: bool) {
    if let Some((when, f)) = AT_CLAIM.take() {
        if when == claimed {
            f();
        } else {
            AT_CLAIM.set(Some((when, f)));
        }
    }
}

thread_local! {
    /// What [`before_withdrawal_claim`] runs (once) on this thread.
    static BEFORE_WITHDRAWAL_CLAIM: Cell<Option<Box<dyn FnOnce()>>> = const { Cell::new(None) };
}

/// Called by `withdraw_written` in unit tests, after its look at the reader's head and before
/// its claim: runs what the test put there, once.
pub(super) fn before_withdrawal_claim() {
    if let Some(f) = BEFORE_WITHDRAWAL_CLAIM.take() {
        f();
    }
}

/// A message write with quota `quota` that waits for it.
fn waiting(quota: u64) -> WriteOpts {
    WriteOpts {
        message: true,
        quota,
        wait_quota: true,
        nonblocking: false,
    }
}

/// The ways a reader takes a message. Each returns the bytes it delivered.
#[derive(Debug, Clone, Copy)]
enum Reader {
    Message,
    /// The first 100 bytes by one read (ERROR_MORE_DATA), the rest by a second one, which
    /// is the read the cancel races with.
    MessageInTwo,
    Bytes,
    Steps,
    InPlace,
}

const READERS: [Reader; 5] = [
    Reader::Message,
    Reader::MessageInTwo,
    Reader::Bytes,
    Reader::Steps,
    Reader::InPlace,
];

/// The pending message's length and its bytes.
const LEN: usize = 512;

impl Reader {
    /// Reads before the race: the first part of the message for `MessageInTwo`.
    fn before(self, s: &Conn) {
        if let Reader::MessageInTwo = self {
            let mut b = [0u8; 100];
            assert_eq!(
                s.read(&mut b, true, false, None),
                Ok(ReadOut {
                    n: 100,
                    left: LEN as u64 - 100
                })
            );
        }
    }

    /// The read that races the cancel.
    fn read(self, s: &Arc<Conn>) -> Vec<u8> {
        let mut b = vec![0u8; 2048];
        let n = match self {
            Reader::Message | Reader::MessageInTwo => {
                s.read(&mut b, true, false, None).expect("read").n
            }
            Reader::Bytes => s.read(&mut b, false, false, None).expect("read").n,
            Reader::Steps => {
                let mut st = ReadState::default();
                match s.read_step(&mut st, &mut b, true, false) {
                    Poll::Ready(Ok(r)) => r.n,
                    r => panic!("a read step: {r:?}"),
                }
            }
            Reader::InPlace => {
                let m = s.read_in_place(None).expect("read in place");
                let (a, z) = m.slices();
                b[..a.len()].copy_from_slice(a);
                b[a.len()..a.len() + z.len()].copy_from_slice(z);
                m.len()
            }
        };
        b.truncate(n);
        b
    }
}

/// The client's write of [`LEN`] bytes of 2 waits for its 256-byte quota; the server reads it
/// with `reader`, and the client cancels the write at the reader's claim (`claimed`: just
/// after it, else just before). Returns whether the cancel took the message back, and what
/// the read delivered. Before the claim, the client also writes a short message of 3s that
/// completes at once, for the read to go on with.
fn cancel_at_the_claim(reader: Reader, claimed: bool) -> (bool, Vec<u8>) {
    let (s, c) = pair();
    let (s, c) = (Arc::new(s), Arc::new(c));
    let mut st = WriteState::default();
    let r = c.write_step(&mut st, &[2u8; LEN], waiting(256), false);
    assert!(r.is_pending(), "{r:?}");
    reader.before(&s);
    let withdrawn = std::rc::Rc::new(Cell::new(None));
    {
        let (c, withdrawn) = (c.clone(), withdrawn.clone());
        AT_CLAIM.set(Some((
            claimed,
            Box::new(move || {
                withdrawn.set(Some(c.write_abort(&mut st)));
                if !claimed {
                    let o = WriteOpts {
                        wait_quota: false,
                        ..waiting(256)
                    };
                    assert_eq!(c.write(&[3u8; 100], o, None), Ok(100));
                }
            }),
        )));
    }
    let got = reader.read(&s);
    AT_CLAIM.set(None);
    let withdrawn = withdrawn.get().expect("the cancel ran at the claim");
    (withdrawn, got)
}

/// A cancel that comes just after the reader claimed the message finds it delivered: the
/// write completes (nothing to cancel) and the read returns the whole message.
#[test]
fn a_cancel_after_the_claim_finds_the_message_delivered() {
    for reader in READERS {
        let (withdrawn, got) = cancel_at_the_claim(reader, true);
        assert!(
            !withdrawn,
            "{reader:?}: the cancel says it took the message back"
        );
        let whole = match reader {
            Reader::MessageInTwo => LEN - 100,
            _ => LEN,
        };
        assert_eq!(got, vec![2u8; whole], "{reader:?}");
    }
}

/// A cancel that comes after the reader copied the message but before its claim takes the
/// message back (W98): the read does not deliver it and goes on with the next message.
#[test]
fn a_cancel_before_the_claim_takes_the_message_back() {
    for reader in READERS {
        let (withdrawn, got) = cancel_at_the_claim(reader, false);
        assert!(
            withdrawn,
            "{reader:?}: the cancel found nothing to take back"
        );
        assert_eq!(got, vec![3u8; 100], "{reader:?}: the next message");
    }
}

/// Two writes of [`LEN`] bytes (1s, then 2s) waiting for their 256-byte quota, each taken in
/// steps as the C ABI's engine takes overlapped writes.
fn two_pending(c: &Conn) -> (WriteState, WriteState) {
    let (mut a, mut b) = (WriteState::default(), WriteState::default());
    for (st, byte) in [(&mut a, 1u8), (&mut b, 2u8)] {
        let r = c.write_step(st, &[byte; LEN], waiting(256), false);
        assert!(r.is_pending(), "{r:?}");
    }
    (a, b)
}

/// The cancel of the first write looked at the reader's head (not there yet) and is about to
/// claim the record when the reader takes both messages, each claimed as it is delivered: the
/// reader's field then names the second, and the cancel must still find the first delivered
/// (the reader has moved past it, which it can only have done by delivering it). Reported as
/// cancelled, a delivered message would be a write both done and not done.
#[test]
fn a_cancel_that_finds_the_reader_past_the_message_leaves_it_delivered() {
    let (s, c) = pair();
    let s = Arc::new(s);
    let (mut a, _b) = two_pending(&c);
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    {
        let (s, got) = (s.clone(), got.clone());
        BEFORE_WITHDRAWAL_CLAIM.set(Some(Box::new(move || {
            for _ in 0..2 {
                got.lock().unwrap().push(Reader::Message.read(&s));
            }
        })));
    }
    assert!(
        !c.write_abort(&mut a),
        "the cancel took a delivered message back"
    );
    BEFORE_WITHDRAWAL_CLAIM.set(None);
    assert_eq!(*got.lock().unwrap(), vec![vec![1u8; LEN], vec![2u8; LEN]]);
}

/// Both writes cancelled at the reader's claim of the first, in either order (a CancelIoEx of
/// every write of the handle, or of one and then the other): after the claim, the first is
/// delivered and only the second leaves the pipe, even when the second's cancel came first;
/// before it, both leave the pipe and the read gets the message after them.
#[test]
fn two_cancels_at_the_claim_agree_with_the_reader() {
    for claimed in [false, true] {
        for second_first in [false, true] {
            let (s, c) = pair();
            let (s, c) = (Arc::new(s), Arc::new(c));
            let (a, b) = two_pending(&c);
            let outcome = Arc::new(std::sync::Mutex::new(None));
            {
                let (c, outcome) = (c.clone(), outcome.clone());
                AT_CLAIM.set(Some((
                    claimed,
                    Box::new(move || {
                        let (mut a, mut b) = (a, b);
                        let (wa, wb) = if second_first {
                            let wb = c.write_abort(&mut b);
                            (c.write_abort(&mut a), wb)
                        } else {
                            let wa = c.write_abort(&mut a);
                            (wa, c.write_abort(&mut b))
                        };
                        let o = WriteOpts {
                            wait_quota: false,
                            ..waiting(256)
                        };
                        assert_eq!(c.write(&[3u8; 100], o, None), Ok(100));
                        *outcome.lock().unwrap() = Some((wa, wb));
                    }),
                )));
            }
            let first = Reader::Message.read(&s);
            AT_CLAIM.set(None);
            let (wa, wb) = outcome
                .lock()
                .unwrap()
                .expect("the cancels ran at the claim");
            let case = format!("claimed {claimed}, second cancelled first {second_first}");
            assert!(wb, "{case}: the second write was not taken back");
            assert_eq!(wa, !claimed, "{case}: the first write's cancel");
            if claimed {
                assert_eq!(first, vec![1u8; LEN], "{case}");
                assert_eq!(Reader::Message.read(&s), vec![3u8; 100], "{case}");
            } else {
                assert_eq!(first, vec![3u8; 100], "{case}");
            }
        }
    }
}

/// A storm at the queue itself: one thread writes messages in steps (as the C ABI's engine
/// does), several pending at once against a small quota, and cancels pending ones at random
/// moments, in any order; another thread reads them in every way a reader takes a whole
/// message. Whatever the interleaving, a write that completed was delivered and a cancelled one
/// was not (W98), and the reader gets each message once, whole, in order.
#[test]
fn a_storm_of_cancels_agrees_with_the_reader() {
    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicBool, Ordering::*};
    const N: u64 = 20_000;
    let (s, c) = pair();
    let (s, c) = (Arc::new(s), Arc::new(c));
    let finished = Arc::new(AtomicBool::new(false));
    let reader = {
        let (s, finished) = (s.clone(), finished.clone());
        std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut b = vec![0u8; 1024];
            let mut turn = 0u32;
            loop {
                turn = turn.wrapping_add(1);
                let soon = Some(std::time::Instant::now() + std::time::Duration::from_millis(5));
                let r: QResult<Vec<u8>> = match turn % 3 {
                    0 => s.read(&mut b, true, false, soon).map(|r| b[..r.n].to_vec()),
                    1 => {
                        let mut st = ReadState::default();
                        match s.read_step(&mut st, &mut b, true, false) {
                            Poll::Ready(r) => r.map(|r| b[..r.n].to_vec()),
                            Poll::Pending => Err(QErr::WouldBlock),
                        }
                    }
                    _ => s.read_in_place(soon).map(|m| {
                        let (a, z) = m.slices();
                        [a, z].concat()
                    }),
                };
                match r {
                    Ok(m) => {
                        assert!(m.len() >= 8, "a torn message: {} bytes", m.len());
                        let seq = u64::from_le_bytes(m[..8].try_into().unwrap());
                        assert!(
                            m[8..].iter().all(|&x| x == seq as u8),
                            "message {seq} is not whole"
                        );
                        got.push(seq);
                    }
                    Err(QErr::WouldBlock) | Err(QErr::TimedOut) => {
                        if finished.load(Acquire) && !s.inbound_pending().unwrap() {
                            return got;
                        }
                        std::thread::yield_now();
                    }
                    Err(e) => panic!("read: {e:?}"),
                }
            }
        })
    };
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move |m: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % m
    };
    let (mut done, mut cancelled) = (Vec::new(), Vec::new());
    let mut pending: VecDeque<(u64, WriteState, Vec<u8>)> = VecDeque::new();
    let o = waiting(2048);
    for seq in 0..N {
        // Step the pending writes in order, as the engine does; a new write starts only once
        // every earlier one is all in the ring (`written`), so none overtakes another (W93).
        loop {
            while let Some((seq, st, m)) = pending.front_mut() {
                match c.write_step(st, m, o, false) {
                    Poll::Ready(Ok(_)) => {
                        done.push(*seq);
                        pending.pop_front();
                    }
                    Poll::Pending => break,
                    Poll::Ready(Err(e)) => panic!("write {seq}: {e:?}"),
                }
            }
            let mut all_in = true;
            for (seq, st, m) in pending.iter_mut() {
                if !st.written() {
                    match c.write_step(st, m, o, false) {
                        Poll::Pending => {}
                        r => panic!("write {seq} behind a pending one: {r:?}"),
                    }
                    all_in &= st.written();
                }
            }
            // At most 6 pending: then wait for the reader (stepping them) rather than cancel.
            if all_in && pending.len() < 6 {
                break;
            }
            std::thread::yield_now();
        }
        let mut m = seq.to_le_bytes().to_vec();
        m.resize(8 + next(600) as usize, seq as u8);
        let mut st = WriteState::default();
        match c.write_step(&mut st, &m, o, false) {
            Poll::Ready(Ok(_)) => done.push(seq),
            Poll::Pending => pending.push_back((seq, st, m)),
            Poll::Ready(Err(e)) => panic!("write {seq}: {e:?}"),
        }
        if !pending.is_empty() && next(5) == 0 {
            let i = next(pending.len() as u64) as usize;
            let (seq, mut st, _) = pending.remove(i).unwrap();
            if c.write_abort(&mut st) {
                cancelled.push(seq);
            } else {
                done.push(seq);
            }
        }
    }
    for (seq, mut st, _) in pending.drain(..) {
        if c.write_abort(&mut st) {
            cancelled.push(seq);
        } else {
            done.push(seq);
        }
    }
    finished.store(true, Release);
    let got = reader.join().expect("the reader");
    let bad: Vec<_> = got.windows(2).filter(|w| w[0] >= w[1]).take(5).collect();
    assert!(
        bad.is_empty(),
        "in order, each once: {bad:?} of {}",
        got.len()
    );
    let got: std::collections::HashSet<u64> = got.into_iter().collect();
    let lost: Vec<_> = done.iter().filter(|s| !got.contains(s)).collect();
    let both: Vec<_> = cancelled.iter().filter(|s| got.contains(s)).collect();
    assert!(lost.is_empty(), "completed but not delivered: {lost:?}");
    assert!(both.is_empty(), "cancelled yet delivered: {both:?}");
    assert_eq!(
        got.len(),
        done.len(),
        "delivered only what completed ({} cancelled)",
        cancelled.len()
    );
    assert!(!cancelled.is_empty(), "the storm cancelled nothing");
}

/// Where a hook step puts what its cancel returned (`None` until it ran).
type Answer = std::rc::Rc<Cell<Option<bool>>>;

/// A hook step that cancels the write `st` of `c`, and where it puts what the cancel returned.
fn cancel_step(c: &Arc<Conn>, mut st: WriteState) -> (Answer, Box<dyn FnOnce()>) {
    let withdrawn = std::rc::Rc::new(Cell::new(None));
    let (c, put) = (c.clone(), withdrawn.clone());
    (
        withdrawn,
        Box::new(move || put.set(Some(c.write_abort(&mut st)))),
    )
}

/// A write that completes at once behind a pending one (an empty message completes whatever
/// its quota) moves `done_to` past the pending one, so `done_to` cannot tell a reader that a
/// record is safe: the pending one is still claimed, and a cancel at its claim takes it back
/// (W98). The read then returns the empty message.
#[test]
fn a_write_completed_behind_a_pending_one_does_not_shield_it() {
    let (s, c) = pair();
    let (s, c) = (Arc::new(s), Arc::new(c));
    let mut st = WriteState::default();
    assert!(c
        .write_step(&mut st, &[2u8; LEN], waiting(256), false)
        .is_pending());
    assert_eq!(c.write(&[], waiting(256), None), Ok(0), "the empty message");
    let (withdrawn, cancel) = cancel_step(&c, st);
    AT_CLAIM.set(Some((false, cancel)));
    let mut b = [0u8; 1024];
    let r = s.read(&mut b, true, false, None);
    AT_CLAIM.set(None);
    assert_eq!(withdrawn.get(), Some(true), "the cancel ran at the claim");
    assert_eq!(
        r,
        Ok(ReadOut { n: 0, left: 0 }),
        "the empty message, not the cancelled one"
    );
}

/// A byte read that gathers two pending messages consumes the first before it claims the
/// second: a cancel of the first that comes after the second's claim finds the reader past the
/// first (delivered), although the reader's claim now names the second. (Consumed together,
/// the cancel found neither and reported the first cancelled while the read delivered it.)
#[test]
fn a_byte_read_consumes_each_pending_message_before_claiming_the_next() {
    let (s, c) = pair();
    let c = Arc::new(c);
    let (a, mut b) = two_pending(&c);
    let (withdrawn, cancel) = cancel_step(&c, a);
    // After the first claim, arm the hook again for the second.
    AT_CLAIM.set(Some((
        true,
        Box::new(move || AT_CLAIM.set(Some((true, cancel)))),
    )));
    let mut buf = [0u8; 4096];
    let r = s.read(&mut buf, false, true, None);
    AT_CLAIM.set(None);
    assert_eq!(withdrawn.get(), Some(false), "the first was delivered");
    assert_eq!(
        r,
        Ok(ReadOut {
            n: 2 * LEN,
            left: 0
        }),
        "both, gathered"
    );
    assert!(buf[..LEN].iter().all(|&x| x == 1) && buf[LEN..2 * LEN].iter().all(|&x| x == 2));
    assert!(!c.write_abort(&mut b), "the second was delivered too");
}
