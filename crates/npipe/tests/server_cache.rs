//! The server end's cached connection (`sys::BorrowCell`): a data operation borrows it for as
//! long as it runs, and a DisconnectNamedPipe made meanwhile releases the connection as that
//! operation ends, so its socket closes then, not at the instance's next operation. The
//! client is another process.

mod util;

use std::sync::atomic::{AtomicI32, Ordering::SeqCst};
use std::time::Duration;

use npipe::error::code::ERROR_PIPE_NOT_CONNECTED;
use util::*;

child_roles! {
    "hold_client" => role_hold_client,
}

/// Sockets this process has open.
fn open_sockets() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

/// Whether thread `tid` of this process is asleep (state S in its `stat`): set only once the
/// thread has recorded its id right before its read, so asleep means asleep in the read.
fn asleep(tid: i32) -> bool {
    tid != 0
        && std::fs::read_to_string(format!("/proc/self/task/{tid}/stat"))
            // The state follows the command name, which is in parentheses.
            .is_ok_and(|st| {
                st.rsplit_once(") ")
                    .is_some_and(|(_, rest)| rest.starts_with('S'))
            })
}

/// Opens the pipe, sends one message, then waits in a read until the server disconnects it.
fn role_hold_client(name: &str) -> Result<(), String> {
    let client = open_waiting(name)?;
    client
        .send_msg(b"hello")
        .map_err(|e| format!("send: {e}"))?;
    let mut buf = [0u8; 16];
    match client.recv_msg(&mut buf) {
        Err(e) if npipe::win32_code(&e) == ERROR_PIPE_NOT_CONNECTED => Ok(()),
        other => Err(format!("the read ended with {other:?}, not the disconnect")),
    }
}

#[test]
fn a_disconnect_during_a_blocked_read_closes_the_connection_as_the_read_ends() {
    let name = unique_name("cache");
    let server = message_server(&name, 1);
    let listening = open_sockets();
    let name2 = name.clone();
    let kid = std::thread::spawn(move || expect_ok(child("hold_client", &name2)));
    server.connect().expect("connect");
    let mut buf = [0u8; 16];
    let m = server.recv_msg(&mut buf).expect("the first message");
    assert_eq!(&buf[..m.read], b"hello");
    assert!(
        open_sockets() > listening,
        "the connection holds a socket here"
    );
    let tid = AtomicI32::new(0);
    std::thread::scope(|s| {
        // This read borrows the cached connection until the disconnect ends it.
        let reader = s.spawn(|| {
            // SAFETY: gettid has no preconditions.
            tid.store(unsafe { libc::gettid() }, SeqCst);
            let mut buf = [0u8; 16];
            server.recv_msg(&mut buf)
        });
        // Disconnect only once the read is asleep, waiting for data: it then holds the
        // borrow the disconnect finds.
        assert!(
            eventually(Duration::from_secs(10), || asleep(tid.load(SeqCst))),
            "the reader never went to sleep in its read"
        );
        server.disconnect().expect("disconnect");
        let r = reader.join().expect("the reader thread");
        let code = r.as_ref().err().map(npipe::win32_code);
        assert_eq!(
            code,
            Some(ERROR_PIPE_NOT_CONNECTED),
            "the blocked read ends with the disconnect (W48): {r:?}"
        );
    });
    // No operation follows: the read that borrowed the connection released it as it ended.
    assert!(
        eventually(Duration::from_secs(10), || open_sockets() <= listening),
        "the connection's socket is still open after the disconnect and the read ended: {} \
         sockets, {listening} while listening",
        open_sockets()
    );
    kid.join().expect("the client process");
}

/// The server end stays unwind safe, as it was with a mutex for the cache: a caller may use it
/// across `catch_unwind`. (The client end is not with the `smb` feature, whose remote
/// transport is a trait object; that was so before.)
#[test]
fn the_server_end_is_unwind_safe() {
    fn unwind_safe<T: std::panic::RefUnwindSafe + std::panic::UnwindSafe>() {}
    unwind_safe::<npipe::NamedPipeServer>();
}
