//! Unit tests of the lazy arm (`Conn::arm_as`, `Conn::grace`): a publish that finds the reader
//! armed lazily gives the reader's thread a moment to take the arm back before it signals the
//! reader's readiness eventfd. Taken back in that moment, nothing is signalled (the reader
//! spins for the data); not taken back, the signal comes after the moment, so no wake-up is
//! lost; armed normally, it comes at once. The reader's thread acts exactly inside the grace
//! through [`in_grace`].

use std::cell::Cell;

use super::*;

/// What a reader's thread does while a publish waits for it, given the flag.
type ReaderActs = Box<dyn FnOnce(&AtomicU32)>;

thread_local! {
    /// What [`in_grace`] runs (once) on this thread, given the flag the publish waits on.
    static IN_GRACE: Cell<Option<ReaderActs>> = const { Cell::new(None) };
    /// Whether a grace started on this thread since the test reset it.
    static GRACED: Cell<bool> = const { Cell::new(false) };
}

/// Called by a publish when it starts waiting for a lazily armed reader.
pub(super) fn in_grace(armed: &AtomicU32) {
    GRACED.set(true);
    if let Some(f) = IN_GRACE.take() {
        f(armed);
    }
}

/// A connected pair with control sockets, the reader (server) with a readiness signal sent to
/// the writer (client), as an end with pending overlapped reads has.
fn pair_with_signal() -> (Conn, Conn, Arc<sys::EventFd>) {
    let caps = [1 << 16, 1 << 16];
    let (a, b) = sys::dgram::record_pair().expect("socketpair");
    let (server, fd) = Conn::create(Some(a), caps, caps, 1).expect("create a connection");
    let client = Conn::attach(Some(b), fd, caps).expect("attach to it");
    let sig = Arc::new(sys::EventFd::new().expect("eventfd"));
    server.attach_signal(&sig);
    (server, client, sig)
}

fn opts() -> WriteOpts {
    WriteOpts {
        message: true,
        quota: 1 << 16,
        wait_quota: true,
        nonblocking: false,
    }
}

fn read_one(server: &Conn) {
    let mut buf = [0u8; 16];
    let r = server
        .read(&mut buf, true, false, None)
        .expect("read the message");
    assert_eq!(&buf[..r.n], b"answer");
}

#[test]
fn a_lazy_arm_taken_back_during_the_grace_signals_nothing() {
    let (server, client, sig) = pair_with_signal();
    server.arm_as(Wake::Data, true);
    GRACED.set(false);
    // The reader's thread arrives while the publish waits: it takes the arm back, as
    // `spin_ready` does, and would spin for the data.
    IN_GRACE.set(Some(Box::new(|armed: &AtomicU32| armed.store(0, Relaxed))));
    assert_eq!(client.write(b"answer", opts(), None), Ok(6));
    assert!(GRACED.get(), "the publish saw the lazy arm and waited");
    assert!(
        !sig.clear(),
        "a reader that took its arm back was signalled anyway"
    );
    read_one(&server);
}

#[test]
fn a_lazy_arm_nobody_takes_back_signals_after_the_grace() {
    let (server, client, sig) = pair_with_signal();
    server.arm_as(Wake::Data, true);
    GRACED.set(false);
    let t0 = Instant::now();
    assert_eq!(client.write(b"answer", opts(), None), Ok(6));
    let took = t0.elapsed();
    assert!(GRACED.get(), "the publish saw the lazy arm and waited");
    assert!(
        took >= Duration::from_nanos(LAZY_GRACE_NS),
        "the publish signalled after {took:?}, before the grace ended"
    );
    assert!(sig.clear(), "the wake-up of a lazily armed reader was lost");
    read_one(&server);
}

#[test]
fn a_lazy_arm_made_normal_during_the_grace_signals_at_once() {
    let (server, client, sig) = pair_with_signal();
    server.arm_as(Wake::Data, true);
    // The reader's thread gave up spinning and armed for good (before it sleeps).
    IN_GRACE.set(Some(Box::new(|armed: &AtomicU32| {
        armed.store(layout::ARMED, Relaxed)
    })));
    assert_eq!(client.write(b"answer", opts(), None), Ok(6));
    assert!(
        sig.clear(),
        "the wake-up of a reader that armed again was lost"
    );
    read_one(&server);
}

#[test]
fn a_normal_arm_signals_without_a_grace() {
    let (server, client, sig) = pair_with_signal();
    server.arm(Wake::Data);
    GRACED.set(false);
    assert_eq!(client.write(b"answer", opts(), None), Ok(6));
    assert!(!GRACED.get(), "a normal arm made the publish wait");
    assert!(sig.clear(), "the armed reader was not signalled");
    read_one(&server);
}
