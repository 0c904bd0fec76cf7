//! W68 and W137: one end shared by several readers. The remainder of a partly read message
//! belongs to the pipe, not to the reading thread or process; and an end inherited by a child
//! process stays open until every copy is closed.

use std::time::Duration;

use npipe::error::code::*;
use npipe::{win32_code, ClientOptions, PipeMode, ReadMode, ServerOptions};

fn name(tag: &str) -> String {
    format!(r"\\.\pipe\npipe-test-shared-{tag}-{}", std::process::id())
}

/// A message pipe and a client switched to message read mode.
fn message_pair(tag: &str) -> (npipe::NamedPipeServer, npipe::NamedPipeClient) {
    let n = name(tag);
    let s = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .create(&n)
        .unwrap();
    let c = ClientOptions::new().open(&n).unwrap();
    c.set_mode(ReadMode::Message, false).unwrap();
    (s, c)
}

/// Threads: A reads 4, B reads the next 4, B reads the rest (W68).
#[test]
fn threads_continue_one_message() {
    let (s, c) = message_pair("threads");
    s.send_msg(b"Hello World").unwrap();
    let a = std::thread::scope(|sc| {
        sc.spawn(|| {
            let mut b = [0u8; 4];
            let m = c.recv_msg(&mut b).unwrap();
            (b, m.left)
        })
        .join()
        .unwrap()
    });
    assert_eq!(a, (*b"Hell", 7));
    let (b1, b2) = std::thread::scope(|sc| {
        sc.spawn(|| {
            let mut b = [0u8; 4];
            let m1 = c.recv_msg(&mut b).unwrap();
            let mut rest = [0u8; 32];
            let m2 = c.recv_msg(&mut rest).unwrap();
            ((b, m1.left), rest[..m2.read].to_vec())
        })
        .join()
        .unwrap()
    });
    assert_eq!(b1, (*b"o Wo", 3));
    assert_eq!(b2, b"rld");
}

/// Processes: a forked child reads the first 4 bytes of a message through the inherited end;
/// the parent continues the same message (W68 "also across processes").
#[test]
fn forked_process_continues_one_message() {
    let (s, c) = message_pair("fork");
    s.send_msg(b"0123456789AB").unwrap();
    // SAFETY: the child only reads through the already open end (futexes and copies, no locks
    // another thread could hold) and leaves with _exit, running no destructors.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let mut b = [0u8; 4];
        let ok = matches!(c.recv_msg(&mut b), Ok(m) if m.read == 4 && m.left == 8 && &b == b"0123");
        // SAFETY: terminating the forked child without unwinding.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child read failed"
    );
    let mut rest = [0u8; 32];
    let m = c.recv_msg(&mut rest).unwrap();
    assert_eq!(&rest[..m.read], b"456789AB");
    assert!(m.complete());
}

/// W137: an end that a child inherited stays open while the child holds it; the server sees
/// the close only once the last copy is gone.
#[test]
fn inherited_end_closes_with_its_last_copy() {
    let n = name("inherit");
    let s = ServerOptions::new().create(&n).unwrap();
    let c = ClientOptions::new().open(&n).unwrap();
    let mut pipefd = [0i32; 2];
    // SAFETY: pipe(2) into a local array.
    assert_eq!(unsafe { libc::pipe(pipefd.as_mut_ptr()) }, 0);
    // SAFETY: the child blocks on a plain read(2) and writes through the inherited end before
    // leaving with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let mut b = [0u8; 1];
        // SAFETY: reading one byte from our pipe.
        unsafe {
            libc::close(pipefd[1]);
            libc::read(pipefd[0], b.as_mut_ptr().cast(), 1);
        }
        let ok = c.send_msg(b"from the child").is_ok();
        // SAFETY: terminating the forked child without unwinding.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    // SAFETY: closing our copy of the read side.
    unsafe { libc::close(pipefd[0]) };
    // The parent closes its copy: the child's copy keeps the end open.
    drop(c);
    let mut buf = [0u8; 32];
    let e = s
        .recv_msg_timeout(&mut buf, Duration::from_millis(300))
        .unwrap_err();
    assert_eq!(win32_code(&e), ERROR_SEM_TIMEOUT, "still open: {e}");
    // SAFETY: one byte to release the child.
    unsafe {
        libc::write(pipefd[1], b"g".as_ptr().cast(), 1);
        libc::close(pipefd[1]);
    }
    let m = s.recv_msg(&mut buf).unwrap();
    assert_eq!(&buf[..m.read], b"from the child");
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    // Now every copy is closed.
    let e = s
        .recv_msg_timeout(&mut buf, Duration::from_secs(5))
        .unwrap_err();
    assert_eq!(win32_code(&e), ERROR_BROKEN_PIPE, "{e}");
}
