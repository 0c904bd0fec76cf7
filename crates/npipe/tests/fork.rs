//! fork() while other threads are inside the library: the child must never inherit one of the
//! library's locks held by a thread that does not exist in it. Threads hammer creation, opens,
//! transfers and closes while the main thread forks; every child uses the library at once and
//! must finish.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use npipe::{ClientOptions, PipeMode, ServerOptions};

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

#[test]
fn children_forked_during_heavy_use_never_hang() {
    let stop = AtomicBool::new(false);
    let rounds = AtomicUsize::new(0);
    let hung = std::thread::scope(|sc| {
        for t in 0..3 {
            let (stop, rounds) = (&stop, &rounds);
            sc.spawn(move || {
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
        let mut hung = 0;
        'forks: for k in 0..200 {
            // SAFETY: the child only runs library code and leaves with _exit, running no
            // destructors of the parent's objects.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                let name = format!(r"\\.\pipe\npipe-test-forkchild-{}-{k}", std::process::id());
                let ok = round_trip(&name);
                // SAFETY: terminating the child without unwinding.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) };
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut status = 0;
            loop {
                // SAFETY: polling our own child.
                let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
                if r == pid {
                    assert!(
                        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                        "child {k} failed its round trip"
                    );
                    break;
                }
                if Instant::now() > deadline {
                    hung += 1;
                    // SAFETY: killing and reaping our own hung child.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                        libc::waitpid(pid, &mut status, 0);
                    }
                    break 'forks;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        stop.store(true, Ordering::Relaxed);
        hung
    });
    assert_eq!(hung, 0, "children hung after fork");
    assert!(rounds.load(Ordering::Relaxed) > 0);
}
