//! W68 and W137: one end shared by several readers. The remainder of a partly read message
//! belongs to the pipe, not to the reading thread or process; and an end inherited by a child
//! process stays open until every copy is closed.

mod util;

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
    let status = util::wait_forked(pid);
    assert!(util::forked_ok(status), "child read failed: {status:?}");
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
    let status = util::wait_forked(pid);
    assert!(util::forked_ok(status), "child write failed: {status:?}");
    // Now every copy is closed.
    let e = s
        .recv_msg_timeout(&mut buf, Duration::from_secs(5))
        .unwrap_err();
    assert_eq!(win32_code(&e), ERROR_BROKEN_PIPE, "{e}");
}

/// Forks a child that runs `f` with the test's objects and never returns; the parent gets its
/// pid. The child leaves with `_exit`, running no destructors, and is killed when the forking
/// thread ends (PR_SET_PDEATHSIG): a test that fails before it kills the child (which holds
/// copies of both ends, so its loop would never end) leaves nothing running.
fn fork_child(f: impl FnOnce()) -> libc::pid_t {
    // SAFETY: the child only uses already open npipe ends (shared memory and futexes, locks in
    // a page that forked children share) and then leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        f();
        // SAFETY: terminating the forked child without unwinding.
        unsafe { libc::_exit(0) };
    }
    pid
}

fn kill_and_reap(pid: libc::pid_t) {
    // SAFETY: signalling and reaping our own child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
    }
}

/// A message read in place (zero-copy) by a thread that then forks: the child's copy of it,
/// dropped in the child, neither consumes the message nor releases the reader lock (both stay
/// the parent thread's); the parent's drop consumes it once, and the next message follows
/// whole.
#[test]
fn a_forked_copy_of_an_in_place_message_leaves_it_to_the_parent() {
    let (s, c) = message_pair("inplace-fork");
    s.send_msg(b"first").unwrap();
    s.send_msg(b"second").unwrap();
    let m = c.recv_in_place().unwrap();
    // SAFETY: the child only drops its copy of the message (atomics in shared memory) and
    // leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        drop(m);
        // SAFETY: terminating the forked child without unwinding.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: reaping our own child, with a pointer to a local.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    assert_eq!(m.to_vec(), b"first", "the parent's message is intact");
    drop(m);
    let mut b = [0u8; 16];
    let r = c.recv_msg(&mut b).unwrap();
    assert_eq!(&b[..r.read], b"second");
    assert!(r.complete());
    assert_eq!(c.peek(None).unwrap().available, 0);
}

/// Waits until `cond` holds (for at most 10 s).
fn until(mut cond: impl FnMut() -> bool) {
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(std::time::Instant::now() < end, "timed out waiting");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A message pipe whose client writes stream (a small in-quota) and whose client end is then
/// shared with a forked child that starts a 4 MiB message and is killed in the middle of it.
/// W98/W103: the unread rest of a dead writer's message is withdrawn; the next message of the
/// surviving copy of the end arrives whole, after `reader_first` bytes of the dead one (if any).
fn writer_killed_mid_message(tag: &str, reader_first: usize) {
    let n = name(tag);
    let s = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .in_buffer_size(4096)
        .create(&n)
        .unwrap();
    let c = ClientOptions::new().open(&n).unwrap();
    s.connect().unwrap();
    let pid = fork_child(|| {
        let _ = c.send_msg(&vec![7u8; 4 << 20]);
    });
    // The child's record is visible, its payload still streaming.
    until(|| s.peek(None).map(|p| p.available > 0).unwrap_or(false));
    if reader_first > 0 {
        let mut b = vec![0u8; reader_first];
        let m = s.recv_msg(&mut b).unwrap();
        assert_eq!(m.read, reader_first);
        assert!(m.left > 0, "a partial message (ERROR_MORE_DATA)");
        assert!(b.iter().all(|&x| x == 7));
    }
    kill_and_reap(pid);
    // No panic inside the scope while the writer may still be blocked (the scope would wait
    // for it for ever): a failed check closes the end, which aborts the write, and fails after.
    let (checked, wrote) = std::thread::scope(|sc| {
        let w = sc.spawn(|| c.send_msg(b"next"));
        let mut buf = vec![0u8; 8 << 20];
        let checked = match s.recv_msg_timeout(&mut buf, Duration::from_secs(10)) {
            Err(e) => Err(format!("the next message never arrived: {e}")),
            Ok(m) if &buf[..m.read] != b"next" => Err(format!(
                "nothing of the dead message is delivered: got {} bytes starting {:?}",
                m.read,
                &buf[..m.read.min(16)]
            )),
            Ok(m) if !m.complete() => Err(format!("\"next\" came incomplete: {m:?}")),
            Ok(_) => Ok(()),
        };
        if checked.is_err() {
            c.close();
        }
        (checked, w.join())
    });
    if let Err(e) = checked {
        panic!("{e}");
    }
    assert_eq!(wrote.unwrap().unwrap(), 4, "the survivor's write completes");
    // Nothing else is queued: the withdrawn bytes no longer count (W83).
    let p = s.peek(None).unwrap();
    assert_eq!(p.available, 0);
}

#[test]
fn writer_killed_before_its_message_was_read_is_withdrawn() {
    writer_killed_mid_message("killed-w0", 0);
}

#[test]
fn writer_killed_after_part_of_its_message_was_read_is_withdrawn() {
    writer_killed_mid_message("killed-w1", 1000);
}

/// A forked reader killed while it holds the end's reader lock does not wedge the surviving
/// copy: the kernel hands the lock over (no pid is probed, so pid reuse cannot fool it). To be
/// sure the reader holds the lock, a forked writer streaming messages is killed first: the
/// reader is then stuck inside a message that will never complete, holding the lock, when it
/// is killed in turn. The survivor's next write withdraws the dead writer's message and the
/// survivor's read takes the lock over and gets that write whole.
#[test]
fn reader_killed_holding_the_lock_does_not_wedge_the_end() {
    let n = name("killed-r");
    let s = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .out_buffer_size(4096)
        .create(&n)
        .unwrap();
    let c = ClientOptions::new().open(&n).unwrap();
    c.set_mode(ReadMode::Message, false).unwrap();
    s.connect().unwrap();
    let big = 16usize << 20;
    let writer = fork_child(|| loop {
        if s.send_msg(&vec![9u8; big]).is_err() {
            return;
        }
    });
    let reader = fork_child(|| {
        let mut b = vec![0u8; 1 << 20];
        while c.recv_msg(&mut b).is_ok() {}
    });
    std::thread::sleep(Duration::from_millis(300));
    kill_and_reap(writer);
    // The reader now waits, holding the reader lock, for the rest of a message that will
    // never come.
    std::thread::sleep(Duration::from_millis(200));
    kill_and_reap(reader);
    // As above: no panic inside the scope while the writer may be blocked; a failed check
    // closes the writing end (aborting its write) and fails after the scope.
    let (checked, took, wrote) = std::thread::scope(|sc| {
        let w = sc.spawn(|| s.send_msg(b"next"));
        let mut buf = vec![0u8; big];
        let t0 = std::time::Instant::now();
        let checked = loop {
            let m = match c.recv_msg_timeout(&mut buf, Duration::from_secs(10)) {
                Ok(m) => m,
                Err(e) => break Err(format!("the survivor reads on: {e}")),
            };
            if &buf[..m.read] == b"next" {
                break Ok(());
            }
            // Whole messages the dead writer finished before it died are fine.
            if !(m.complete() && m.read == big && buf[..m.read].iter().all(|&x| x == 9)) {
                break Err(format!(
                    "only whole earlier messages may come before the survivor's: {} bytes, \
                     left {}",
                    m.read, m.left
                ));
            }
        };
        let took = t0.elapsed();
        if checked.is_err() {
            s.close();
        }
        (checked, took, w.join())
    });
    if let Err(e) = checked {
        panic!("{e}");
    }
    assert!(took < Duration::from_secs(10));
    assert_eq!(wrote.unwrap().unwrap(), 4);
}

/// Readers that wait on one end at the same time, in two threads of this process and in a
/// forked child, while the other end writes in bursts (some messages back to back, so a waiting
/// reader finds them while it spins holding the end's reader lock; some after a pause, so the
/// readers are asleep): every message goes to exactly one reader, whole, and every reader ends.
/// A reader that kept the lock past its spin, or lost or repeated a record handed over between
/// two readers, fails it (a reader that takes more messages than were written, or waits 10 s
/// for one, stops with an error rather than hang the test).
#[test]
fn readers_in_threads_and_a_child_take_each_message_once() {
    const MSGS: u64 = 600;
    const READERS: usize = 3;
    let (s, c) = message_pair("many-readers");
    s.connect().unwrap();
    // What the child takes goes back to the parent through a kernel pipe, 8 bytes a message.
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let [from_child, to_child] = fds;
    // Each reader takes messages until it takes a stop message (seq u64::MAX).
    let read_all = |c: &npipe::NamedPipeClient| -> Result<Vec<u64>, String> {
        let mut got = Vec::new();
        let mut b = [0u8; 64];
        loop {
            let m = c
                .recv_msg_timeout(&mut b, Duration::from_secs(10))
                .map_err(|e| format!("a reader's read: {e}"))?;
            if !(m.complete() && m.read == 16) {
                return Err(format!("not a whole message: {m:?}"));
            }
            let seq = u64::from_le_bytes(b[..8].try_into().unwrap());
            if b[8..16] != (!seq).to_le_bytes() {
                return Err(format!("message {seq} carries other bytes"));
            }
            if seq == u64::MAX {
                return Ok(got);
            }
            if got.len() as u64 >= MSGS {
                return Err("a reader took more messages than were written".into());
            }
            got.push(seq);
        }
    };
    let kid = fork_child(|| match read_all(&c) {
        Ok(got) => {
            for seq in got {
                let b = seq.to_le_bytes();
                // SAFETY: writing 8 bytes from a live buffer to the pipe's write end.
                assert_eq!(unsafe { libc::write(to_child, b.as_ptr().cast(), 8) }, 8);
            }
        }
        Err(e) => {
            eprintln!("child reader: {e}");
            // SAFETY: leaving the forked child at once, with a failure status.
            unsafe { libc::_exit(2) };
        }
    });
    // SAFETY: the parent's copy of the write end; the child keeps its own until it exits.
    unsafe { libc::close(to_child) };
    let (mut got, failed) = std::thread::scope(|sc| {
        let readers: Vec<_> = (0..READERS - 1)
            .map(|_| sc.spawn(|| read_all(&c)))
            .collect();
        let writer = sc.spawn(|| {
            for seq in (0..MSGS).chain(std::iter::repeat_n(u64::MAX, READERS)) {
                if seq % 50 == 0 {
                    // Long enough for every waiting reader to stop spinning and sleep.
                    std::thread::sleep(Duration::from_millis(2));
                }
                let mut m = [0u8; 16];
                m[..8].copy_from_slice(&seq.to_le_bytes());
                m[8..].copy_from_slice(&(!seq).to_le_bytes());
                if s.send_msg(&m).is_err() {
                    return;
                }
            }
        });
        let mut got = Vec::new();
        let mut failed = Vec::new();
        for r in readers {
            match r.join().expect("a reader thread") {
                Ok(v) => got.extend(v),
                Err(e) => failed.push(e),
            }
        }
        if !failed.is_empty() {
            // Ends a write waiting for readers that stopped.
            s.close();
        }
        writer.join().expect("the writer thread");
        (got, failed)
    });
    if !failed.is_empty() {
        kill_and_reap(kid);
        panic!("{failed:?}");
    }
    let mut status = 0;
    // SAFETY: reaping our own child.
    assert_eq!(unsafe { libc::waitpid(kid, &mut status, 0) }, kid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the child reader failed: status {status:#x}"
    );
    let mut b = [0u8; 8];
    // SAFETY: reading into a live 8-byte buffer from the pipe's read end, which is closed after.
    while unsafe { libc::read(from_child, b.as_mut_ptr().cast(), 8) } == 8 {
        got.push(u64::from_le_bytes(b));
    }
    // SAFETY: closing our read end once.
    unsafe { libc::close(from_child) };
    got.sort_unstable();
    assert_eq!(
        got,
        (0..MSGS).collect::<Vec<_>>(),
        "each message exactly once"
    );
}

/// A read that waits gives the end's reader lock up when it goes to sleep: a peek from another
/// thread meanwhile answers at once (nothing there) instead of waiting for the read's data.
#[test]
fn a_peek_answers_while_another_thread_waits_in_a_read() {
    let (s, c) = message_pair("peek-while-read");
    s.connect().unwrap();
    let c = std::sync::Arc::new(c);
    let reader = {
        let c = c.clone();
        std::thread::spawn(move || {
            let mut b = [0u8; 16];
            let m = c.recv_msg(&mut b).unwrap();
            b[..m.read].to_vec()
        })
    };
    // Past the reader's spin: it sleeps now.
    std::thread::sleep(Duration::from_millis(50));
    let (tx, rx) = std::sync::mpsc::channel();
    {
        // Not joined: a peek that never answers must fail the test, not hang it.
        let c = c.clone();
        std::thread::spawn(move || {
            let _ = tx.send(c.peek(None).map(|p| p.available));
        });
    }
    let answer = rx.recv_timeout(Duration::from_secs(5));
    s.send_msg(b"late").unwrap();
    match answer {
        Ok(Ok(available)) => assert_eq!(available, 0),
        Ok(Err(e)) => panic!("the peek failed: {e}"),
        Err(_) => panic!("the peek waited for the sleeping read"),
    }
    assert_eq!(reader.join().unwrap(), b"late");
}
