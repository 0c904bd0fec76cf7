//! `npipe::SyncCancel` (CancelSynchronousIo, W42) through the Rust API: a thread blocked in a
//! server's connect or read is cancelled from another thread (ERROR_OPERATION_ABORTED), a
//! thread blocked in nothing is not, and the pipe loses nothing: the next read gets what the
//! client writes after the cancel.

mod util;

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use npipe::error::code::*;
use npipe::{win32_code, ClientOptions, ServerOptions, SyncCancel};
use util::unique_name;

/// Runs `block` on a thread and cancels it until a cancel finds it asleep (bounded); returns
/// what the call gave.
fn cancel_blocked<T: Send + 'static>(
    block: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        tx.send(SyncCancel::current()).unwrap();
        block()
    });
    let rec = rx.recv().unwrap();
    let t0 = Instant::now();
    while !rec.cancel() {
        assert!(!t.is_finished(), "the call ended by itself");
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the call never slept"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let r = t.join().unwrap();
    assert!(!rec.cancel(), "the cancel ended with the call");
    r
}

#[test]
fn a_thread_in_no_call_has_nothing_to_cancel() {
    assert!(!SyncCancel::current().cancel());
    let (tx, rx) = mpsc::channel();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        tx.send(SyncCancel::current()).unwrap();
        let _ = stop_rx.recv_timeout(Duration::from_secs(20));
    });
    assert!(!rx.recv().unwrap().cancel());
    stop_tx.send(()).unwrap();
    t.join().unwrap();
}

#[test]
fn a_cancelled_connect_and_read_leave_the_pipe_usable() {
    let name = unique_name("sync-cancel");
    let s = Arc::new(ServerOptions::new().create(&name).unwrap());
    let s2 = s.clone();
    let e = cancel_blocked(move || s2.connect()).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_OPERATION_ABORTED, "{e}");

    let c = ClientOptions::new().open(&name).unwrap();
    match s.connect() {
        Ok(()) => {}
        Err(e) => assert_eq!(win32_code(&e), ERROR_PIPE_CONNECTED, "{e}"),
    }
    let s2 = s.clone();
    let e = cancel_blocked(move || {
        let mut buf = [0u8; 16];
        s2.recv_msg(&mut buf).map(|m| m.read)
    })
    .unwrap_err();
    assert_eq!(win32_code(&e), ERROR_OPERATION_ABORTED, "{e}");
    c.send_msg(b"hello").unwrap();
    let mut buf = [0u8; 16];
    let m = s.recv_msg(&mut buf).unwrap();
    assert_eq!(&buf[..m.read], b"hello");
}

/// A cancel wakes the instance's change counter, which a pending nonblocking connect on the
/// same instance also watches: the cancel must not complete that connect without a client.
#[test]
fn a_cancelled_connect_does_not_complete_a_pending_connect_of_the_same_instance() {
    use npipe::nonblocking::ConnectStart;
    use std::task::Poll;
    let name = unique_name("sync-cancel-step");
    let s = Arc::new(ServerOptions::new().create(&name).unwrap());
    let ConnectStart::Pending(op) = s.start_connect().unwrap() else {
        panic!("no client yet, but start_connect said connected");
    };
    assert!(s.poll_connect(&op).is_pending());
    let s2 = s.clone();
    let e = cancel_blocked(move || s2.connect()).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_OPERATION_ABORTED, "{e}");
    assert!(
        s.poll_connect(&op).is_pending(),
        "the cancel completed a connect no client made"
    );
    let _c = ClientOptions::new().open(&name).unwrap();
    let t0 = Instant::now();
    loop {
        match s.poll_connect(&op) {
            Poll::Ready(r) => break r.unwrap(),
            Poll::Pending => {
                assert!(t0.elapsed() < Duration::from_secs(20), "never connected");
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}
