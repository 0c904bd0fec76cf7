//! Unit tests of a CancelSynchronousIo ([`crate::SyncCancel`]) that comes while a blocking
//! wait's condition comes true: the sleep is still registered, so the cancel succeeds, and the
//! call must then fail with ERROR_OPERATION_ABORTED even when it would go back to sleep (a read
//! whose data another reader of the same end took meanwhile). The cancel and the other reader
//! run exactly there ([`before_deregistration`]), on the waiting thread itself, after the
//! wait's last look at its cancel flag.

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::quota_tests::pair;
use super::*;
use crate::SyncCancel;

thread_local! {
    /// What [`before_deregistration`] runs (once) on this thread.
    static BEFORE_DEREGISTRATION: Cell<Option<Box<dyn FnOnce()>>> = const { Cell::new(None) };
}

/// Called by a cancellable wait in unit tests once its condition holds, before it deregisters
/// its sleep: runs what the test put there, once.
pub(super) fn before_deregistration() {
    if let Some(f) = BEFORE_DEREGISTRATION.take() {
        f();
    }
}

/// A blocking read sleeps; the writer publishes a message, which wakes it; at its way out of
/// the wait another thread cancels it (the sleep still registered: TRUE) and a second reader
/// of the same end takes the message. The read must fail with the cancel, not go back to
/// sleep with the cancel lost (it would then end only at its deadline, here a bound on the
/// failure, or never).
#[test]
fn a_cancel_as_the_data_arrives_ends_the_read_even_if_it_would_sleep_again() {
    for message in [true, false] {
        let (s, c) = pair();
        let c = Arc::new(c);
        let (tx, rx) = std::sync::mpsc::channel::<SyncCancel>();
        let reader = {
            let c = c.clone();
            std::thread::spawn(move || {
                let other = c.clone();
                BEFORE_DEREGISTRATION.set(Some(Box::new(move || {
                    // The canceller's turn, at exactly this point.
                    let rec = SyncCancel::current();
                    assert!(
                        rec.cancel(),
                        "the sleep is still registered: the cancel succeeds"
                    );
                    // Another reader of this end takes the message (no reader lock is held
                    // during the wait).
                    let mut buf = [0u8; 16];
                    let r = other.read(&mut buf, message, true, None);
                    assert!(matches!(r, Ok(ReadOut { n: 2, .. })), "{r:?}");
                })));
                tx.send(SyncCancel::current()).unwrap();
                let mut buf = [0u8; 16];
                c.read(
                    &mut buf,
                    message,
                    false,
                    Some(Instant::now() + Duration::from_secs(3)),
                )
            })
        };
        let rec = rx.recv().unwrap();
        // Publish once the read sleeps: a cancel that would find it registered is how we know,
        // so look with the writer's waiter count instead (no cancel from here).
        let k = &c.ring(c.side.rx()).k.0;
        let t0 = Instant::now();
        while k.data_waiters.load(Relaxed) == 0 {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "the read never slept"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let o = WriteOpts {
            message,
            quota: 1 << 16,
            wait_quota: false,
            nonblocking: false,
        };
        assert_eq!(s.write(b"hi", o, None), Ok(2));
        let r = reader.join().unwrap();
        assert_eq!(r, Err(QErr::Cancelled), "message mode {message}");
        assert!(!rec.cancel(), "the cancel ended with the call");
    }
}
