//! fork() while other threads are inside the library: the child must never inherit one of the
//! library's locks held by a thread that does not exist in it. Threads hammer creation, opens,
//! transfers and closes while the main thread forks; every child uses the library at once and
//! must finish, also when the fork races the process's first use of the library (while the
//! fork handlers are being registered).

mod util;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Barrier;

use npipe::{ClientOptions, PipeMode, ServerOptions};
use util::{child, expect_ok};

fn round_trip(name: &str) -> bool {
    let Ok(s) = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .create(name)
    else {
        return false;
    };
    let Ok(c) = ClientOptions::new().open(name) else {
        return false;
    };
    if s.connect().is_err() || c.send_msg(b"ping").is_err() {
        return false;
    }
    let mut b = [0u8; 8];
    matches!(s.recv_msg(&mut b), Ok(m) if &b[..m.read] == b"ping")
}

/// Forks a child that makes one round trip of its own; false when it did not finish within
/// `util::PEER_WAIT` (it is killed then). Panics when the child finished and failed.
fn fork_one_round_trip(k: usize) -> bool {
    // SAFETY: the child only runs library code and leaves with _exit, running no destructors
    // of the parent's objects.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let name = format!(r"\\.\pipe\npipe-test-forkchild-{}-{k}", std::process::id());
        let ok = round_trip(&name);
        // SAFETY: terminating the child without unwinding.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let Some(status) = util::wait_forked(pid) else {
        return false;
    };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child {k} failed its round trip"
    );
    true
}

/// Stops the hammering threads also when the forking thread panics (else the scope would wait
/// for them for ever).
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs `f` on this thread while three threads make round trips (all four start together);
/// returns what `f` returned and how many round trips the threads made.
fn while_hammering<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let stop = AtomicBool::new(false);
    let rounds = AtomicUsize::new(0);
    let start = Barrier::new(4);
    let r = std::thread::scope(|sc| {
        for t in 0..3 {
            let (stop, rounds, start) = (&stop, &rounds, &start);
            sc.spawn(move || {
                start.wait();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let name = format!(
                        r"\\.\pipe\npipe-test-forkstorm-{}-{t}-{i}",
                        std::process::id()
                    );
                    assert!(round_trip(&name), "the parent's own traffic failed");
                    rounds.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            });
        }
        let _stop = StopOnDrop(&stop);
        start.wait();
        f()
    });
    (r, rounds.load(Ordering::Relaxed))
}

#[test]
fn children_forked_during_heavy_use_never_hang() {
    let (hung, rounds) = while_hammering(|| (0..200).find(|&k| !fork_one_round_trip(k)));
    assert_eq!(hung, None, "a child forked during heavy use hung");
    assert!(rounds > 0);
}

/// In a fresh process: threads start using the library while this one forks at once. The
/// fork handlers are registered when the library is loaded; before that was so, a fork could
/// fall into their registration on first use, and a thread that went on before they were in
/// place took the registry lock into the child with it.
fn role_first_use(_: &str) -> Result<(), String> {
    let (ok, _) = while_hammering(|| (0..3).all(fork_one_round_trip));
    if ok {
        Ok(())
    } else {
        Err("a child forked during the first use of the library hung".into())
    }
}

/// A forked child that outlives its parent's service of a name keeps no hold on the name: the
/// acceptor threads that serve names exist only in the parent, so the child's copies of their
/// listeners are closed at the fork. Without that, the name stayed bound while the child lived:
/// an open hung or failed with a wrong code, and the name could not be made again. A pipe
/// and a named event, each served by this process, with a child forked meanwhile that sleeps
/// through the checks (with the bug, the first open waits for as long as that child lives, and
/// the parent's wait for this process gives up).
fn role_forked_child_keeps_no_name(_: &str) -> Result<(), String> {
    use npipe::{win32_code, NamedEvent};
    use std::time::Duration;
    let e2s = |e: std::io::Error| format!("{e} (code {})", win32_code(&e));
    let pipe = format!(r"\\.\pipe\npipe-test-forkname-{}", std::process::id());
    let event = format!("npipe-test-forkname-{}", std::process::id());
    let server = ServerOptions::new().create(&pipe).map_err(e2s)?;
    let ev = NamedEvent::create(&event, true, false).map_err(e2s)?;
    // SAFETY: the child only sleeps and leaves with _exit, running no destructors.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err("fork failed".into());
    }
    if pid == 0 {
        // It lives until this process kills it, or dies (with the bug, an open here waited
        // for as long as it lived).
        // SAFETY: a plain prctl on the calling process.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
        std::thread::sleep(Duration::from_secs(600));
        // SAFETY: terminating the child without unwinding.
        unsafe { libc::_exit(0) };
    }
    drop(server);
    drop(ev);
    let outcome = (|| {
        match ClientOptions::new().open(&pipe) {
            Err(e) if win32_code(&e) == 2 => {}
            Err(e) => return Err(format!("opening the closed pipe: {}", e2s(e))),
            Ok(_) => return Err("opened a pipe whose server closed".into()),
        }
        match NamedEvent::open(&event) {
            Err(e) if win32_code(&e) == 2 => {}
            Err(e) => return Err(format!("opening the closed event: {}", e2s(e))),
            Ok(_) => return Err("opened an event nobody has".into()),
        }
        ServerOptions::new()
            .first_pipe_instance(true)
            .create(&pipe)
            .map_err(|e| format!("making the pipe again: {}", e2s(e)))?;
        let again = NamedEvent::create(&event, true, false).map_err(e2s)?;
        if again.already_existed() {
            return Err("the event's name was still taken".into());
        }
        Ok(())
    })();
    // SAFETY: signalling and reaping our own child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    outcome
}

child_roles! {
    "first_use" => role_first_use,
    "forked_child_keeps_no_name" => role_forked_child_keeps_no_name,
}

#[test]
fn a_forked_child_keeps_no_name_of_its_parent() {
    expect_ok(child("forked_child_keeps_no_name", ""));
}

#[test]
fn forks_racing_the_first_use_never_hang() {
    for _ in 0..150 {
        expect_ok(child("first_use", ""));
    }
}
