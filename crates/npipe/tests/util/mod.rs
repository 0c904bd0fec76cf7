//! Test helpers: unique names and child processes that re-run this test binary in a role
//! (the ipc-channel pattern). A test file calls `child_roles!` with its role functions; the
//! parent spawns `child(role, arg)` and checks the exit status. Also the bounded waits that
//! make a test fail, instead of waiting for ever, when its peer (a child process or a thread)
//! has failed: generous limits for a loaded machine, never a check of speed.
#![allow(dead_code)]

use std::io;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use npipe::error::code::{ERROR_NO_DATA, ERROR_SEM_TIMEOUT};

/// How long a test waits for a peer (a child process or a thread) to take its next step, such
/// as connecting, before it fails.
pub const PEER_WAIT: Duration = Duration::from_secs(60);

/// How long [`expect_ok`] lets a child run before it kills it and fails.
pub const CHILD_LIMIT: Duration = Duration::from_secs(120);

/// A pipe name no other test (or test run) uses.
pub fn unique_name(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        r"\\.\pipe\npipe-test-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The env var that tells a re-run test binary which role to play.
pub const ROLE: &str = "NPIPE_TEST_ROLE";
/// Its argument.
pub const ARG: &str = "NPIPE_TEST_ARG";

/// The env var that tells a child the pid of the process that spawned it.
pub const PARENT: &str = "NPIPE_TEST_PARENT";

/// The command that runs this test binary as a child playing `role` with `arg`. The child is
/// killed when the thread that spawns it ends (see [`die_with_parent`]), so a test that panics
/// leaves no child behind: spawn it from a thread that outlives it.
pub fn child_command(role: &str, arg: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
    cmd.env(PARENT, std::process::id().to_string());
    cmd.args([
        "--exact",
        "child_process_entry",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(ROLE, role)
    .env(ARG, arg)
    .stdout(Stdio::null());
    cmd
}

/// Spawns this test binary as a child playing `role` with `arg`.
pub fn child(role: &str, arg: &str) -> Child {
    child_command(role, arg)
        .spawn()
        .expect("spawn child test process")
}

/// Waits for a child and asserts it exited with status 0; a child still running after
/// [`CHILD_LIMIT`] is killed and the test fails.
#[track_caller]
pub fn expect_ok(mut c: Child) {
    match wait_child(&mut c, CHILD_LIMIT) {
        Ok(st) => assert!(st.success(), "child failed: {st}"),
        Err(e) => panic!("{e}"),
    }
}

/// Waits at most `limit` for `c` to exit. A child still running then is killed and reaped,
/// and the result is an error saying so.
pub fn wait_child(c: &mut Child, limit: Duration) -> Result<ExitStatus, String> {
    let end = Instant::now() + limit;
    let mut nap = Duration::from_millis(1);
    loop {
        if let Some(st) = c.try_wait().map_err(|e| format!("wait child: {e}"))? {
            return Ok(st);
        }
        if Instant::now() >= end {
            let _ = c.kill();
            let st = c.wait();
            return Err(format!(
                "child {} still running after {limit:?}: killed ({st:?})",
                c.id()
            ));
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(20));
    }
}

/// `Some(why)` once the child `kid` has exited: an `ended` test for [`connect_while`].
pub fn child_exited(kid: &mut Child) -> Option<String> {
    let st = kid.try_wait().expect("wait child")?;
    Some(format!("child exited before connecting: {st}"))
}

/// ConnectNamedPipe on `s` for a client that `ended` watches (`Some(why)` once it can no
/// longer connect): waits in short steps, so a client that failed before it opened the pipe
/// ends the wait with an error instead of leaving the server waiting for ever; gives up after
/// [`PEER_WAIT`]. Succeeds also for a client that connected and already closed, whether
/// before the first wait or during one.
pub fn connect_while(
    s: &npipe::NamedPipeServer,
    mut ended: impl FnMut() -> Option<String>,
) -> Result<(), String> {
    let end = Instant::now() + PEER_WAIT;
    loop {
        match s.connect_timeout(Duration::from_millis(50)) {
            Ok(()) => return Ok(()),
            // It came and went between two waits, or before the first (a child that is quick
            // while this process is preempted): it did connect, and what it wrote is there to
            // read. (`connect` waiting through that returns Ok; one called only after the
            // client closed gives ERROR_NO_DATA, W43.)
            Err(e) if npipe::win32_code(&e) == ERROR_NO_DATA => return Ok(()),
            Err(e) if npipe::win32_code(&e) == ERROR_SEM_TIMEOUT => {}
            Err(e) => return Err(format!("connect: {e}")),
        }
        if let Some(why) = ended() {
            // It may have connected just before it ended.
            return match s.connect_timeout(Duration::ZERO) {
                Ok(()) => Ok(()),
                Err(e) if npipe::win32_code(&e) == ERROR_NO_DATA => Ok(()),
                Err(_) => Err(why),
            };
        }
        if Instant::now() >= end {
            return Err(format!("no client connected within {PEER_WAIT:?}"));
        }
    }
}

/// [`connect_while`] for a client in the child process `kid`; panics with the child's status
/// when it exited before connecting, or after [`PEER_WAIT`].
#[track_caller]
pub fn connect_or_fail(s: &npipe::NamedPipeServer, kid: &mut Child) {
    if let Err(e) = connect_while(s, || child_exited(kid)) {
        panic!("{e}");
    }
}

/// [`connect_while`] for a client on the thread `t`; panics when the thread ended (say, with
/// a panic) before connecting, or after [`PEER_WAIT`].
#[track_caller]
pub fn connect_or_fail_thread<T>(s: &npipe::NamedPipeServer, t: &std::thread::JoinHandle<T>) {
    let ended = || {
        t.is_finished()
            .then(|| "client thread ended before connecting".to_string())
    };
    if let Err(e) = connect_while(s, ended) {
        panic!("{e}");
    }
}

/// Reaps the forked child `pid` and returns its wait status; `None` when it was still running
/// after [`PEER_WAIT`] (it is killed and reaped then).
pub fn wait_forked(pid: libc::pid_t) -> Option<libc::c_int> {
    let end = Instant::now() + PEER_WAIT;
    let mut nap = Duration::from_millis(1);
    let mut status = 0;
    loop {
        // SAFETY: polling our own child with a pointer to a local.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(r >= 0, "waitpid {pid}: {}", io::Error::last_os_error());
        if r == pid {
            return Some(status);
        }
        if Instant::now() >= end {
            // SAFETY: killing and reaping our own child, still unreaped (so its pid is ours).
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return None;
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(20));
    }
}

/// Whether a wait status from [`wait_forked`] is a normal exit with status 0.
pub fn forked_ok(status: Option<libc::c_int>) -> bool {
    status.is_some_and(|st| libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0)
}

/// Polls `f` until it returns true or `limit` passes.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

/// In a child role: arms PR_SET_PDEATHSIG (SIGKILL when the thread that spawned this process
/// ends) and exits at once if that parent is already gone. Armed here, after exec, rather than
/// in a `pre_exec` hook: a hook makes `Command` fork instead of using posix_spawn, and a fork
/// runs npipe's fork handlers in the test process, which changes how its ends close (W137).
pub fn die_with_parent() {
    let Some(parent) = std::env::var(PARENT)
        .ok()
        .and_then(|p| p.parse::<libc::pid_t>().ok())
    else {
        return;
    };
    // SAFETY: prctl and getppid with integer arguments only.
    let orphan = unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        libc::getppid() != parent
    };
    if orphan {
        eprintln!("the parent process {parent} is gone");
        std::process::exit(1);
    }
}

/// Ends a child process with `code` at once, after flushing its standard output.
///
/// Not `std::process::exit`: that runs the Rust runtime's clean-up, which unmaps the main
/// thread's signal stack while the main thread (the test harness, waiting for this role's
/// thread) still runs. A role that changed its credentials (`become_user`) made glibc signal
/// every thread (SIGSETXID), and a core dump showed the main thread returning from that
/// handler onto the stack the clean-up had just unmapped: SIGSEGV, about once in 500 runs
/// on a loaded machine.
pub fn exit_now(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // SAFETY: _exit ends the process; nothing after it runs.
    unsafe { libc::_exit(code) }
}

/// Lowers this process's soft RLIMIT_NOFILE to `n` (at most its hard limit); for child roles
/// that run out of descriptors.
pub fn set_nofile(n: u64) -> Result<(), String> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a pointer to a live local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return Err(format!("getrlimit: {}", io::Error::last_os_error()));
        }
        r.rlim_cur = n.min(r.rlim_max);
        if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
            return Err(format!("setrlimit: {}", io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// Dispatches a child role: when this process was spawned by [`child`], runs the role (dying
/// with its parent, [`die_with_parent`]) and exits with 0 on success and 1 (after printing the
/// error) on failure.
#[macro_export]
macro_rules! child_roles {
    ($($name:literal => $f:expr),* $(,)?) => {
        /// Entry point of child processes (does nothing when run as a normal test).
        #[test]
        fn child_process_entry() {
            let Ok(role) = std::env::var(util::ROLE) else { return };
            util::die_with_parent();
            let arg = std::env::var(util::ARG).unwrap_or_default();
            let r: Result<(), String> = match role.as_str() {
                $($name => ($f)(&arg),)*
                other => Err(format!("unknown role {other}")),
            };
            let code = match r {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("child role {role} failed: {e}");
                    1
                }
            };
            util::exit_now(code)
        }
    };
}

/// A raw SOCK_SEQPACKET connection to a pipe's or mailslot's address, bypassing the library.
/// Its blocking receives give up after 30 s (SO_RCVTIMEO), so [`raw_recv`] fails instead of
/// waiting for ever for a reply that never comes.
pub fn raw_connect(name: &str) -> i32 {
    let addr = npipe::socket_address(name).unwrap();
    // SAFETY: plain libc calls with a zeroed sockaddr_un whose path fits (checked below) and a
    // live timeval of the size passed.
    unsafe {
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let mut sa: libc::sockaddr_un = std::mem::zeroed();
        sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
        assert!(addr.len() < sa.sun_path.len());
        for (i, b) in addr.iter().enumerate() {
            sa.sun_path[i + 1] = *b as libc::c_char;
        }
        let len = (std::mem::size_of::<libc::sa_family_t>() + 1 + addr.len()) as libc::socklen_t;
        let r = libc::connect(fd, &sa as *const _ as *const libc::sockaddr, len);
        assert_eq!(r, 0, "connect: {}", io::Error::last_os_error());
        let tv = libc::timeval {
            tv_sec: 30,
            tv_usec: 0,
        };
        let r = libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const libc::timeval as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
        assert_eq!(r, 0, "SO_RCVTIMEO: {}", io::Error::last_os_error());
        fd
    }
}

pub fn raw_send(fd: i32, data: &[u8]) {
    // SAFETY: data is a valid buffer of data.len() bytes.
    let n = unsafe { libc::send(fd, data.as_ptr().cast(), data.len(), libc::MSG_NOSIGNAL) };
    assert_eq!(n, data.len() as isize);
}

/// Receives one packet and at most one descriptor; returns (bytes, fd or -1).
pub fn raw_recv(fd: i32) -> (Vec<u8>, i32) {
    let mut buf = vec![0u8; 256];
    let mut cbuf = [0u64; 8];
    // SAFETY: msghdr points at live buffers of the stated sizes.
    unsafe {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
        let n = libc::recvmsg(fd, &mut msg, libc::MSG_CMSG_CLOEXEC);
        assert!(
            n >= 0,
            "recvmsg (nothing within 30 s?): {}",
            io::Error::last_os_error()
        );
        buf.truncate(n as usize);
        let mut got = -1;
        let c = libc::CMSG_FIRSTHDR(&msg);
        if !c.is_null() && (*c).cmsg_type == libc::SCM_RIGHTS {
            got = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const i32);
        }
        (buf, got)
    }
}

/// The documented handshake request (docs/DESIGN.md), built by hand.
pub fn open_request(name: &str) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(b"NPH1");
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&1u16.to_le_bytes()); // Open
    v.extend_from_slice(&0xC000_0000u32.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&(name.len() as u16).to_le_bytes());
    v.extend_from_slice(name.as_bytes());
    v
}

/// Maps a queue memfd received through a raw handshake (read-write, shared), as a hostile peer
/// would, so a test can scribble on it. The mapping is left in place until the process exits.
pub fn map_queue(memfd: i32, size: usize) -> *mut u8 {
    // SAFETY: a fresh shared mapping of a memfd we own; the caller writes only inside `size`.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            memfd,
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED, "mmap: {}", io::Error::last_os_error());
    p.cast()
}

/// A handshake request of any kind (1 Open, 2 Wait, 3 Query) for `name`, built by hand as
/// docs/DESIGN.md documents it.
pub fn request(name: &str, kind: u16, access: u32) -> Vec<u8> {
    let mut v = open_request(name);
    v[6..8].copy_from_slice(&kind.to_le_bytes());
    v[8..12].copy_from_slice(&access.to_le_bytes());
    v
}

/// A raw SOCK_SEQPACKET socket bound to a pipe's abstract address and listening, as a squatter
/// or an impostor server would hold it. Returns the listening descriptor (close-on-exec).
pub fn raw_listen(name: &str) -> i32 {
    let addr = npipe::socket_address(name).unwrap();
    // SAFETY: plain libc calls with a zeroed sockaddr_un whose path fits (checked below).
    unsafe {
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let mut sa: libc::sockaddr_un = std::mem::zeroed();
        sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
        assert!(addr.len() < sa.sun_path.len());
        for (i, b) in addr.iter().enumerate() {
            sa.sun_path[i + 1] = *b as libc::c_char;
        }
        let len = (std::mem::size_of::<libc::sa_family_t>() + 1 + addr.len()) as libc::socklen_t;
        let r = libc::bind(fd, &sa as *const _ as *const libc::sockaddr, len);
        assert_eq!(r, 0, "bind: {}", io::Error::last_os_error());
        assert_eq!(libc::listen(fd, 64), 0, "listen");
        fd
    }
}

/// Drops this (child) process to `uid` with primary group `gid` and exactly `groups`, and
/// re-arms its parent-death signal (a credential change clears it).
pub fn become_user(uid: u32, gid: u32, groups: &[u32]) -> Result<(), String> {
    let gs: Vec<libc::gid_t> = groups.to_vec();
    // SAFETY: credential syscalls on this process with plain integers and a live slice of
    // `gs.len()` gids.
    let step = unsafe {
        if libc::setgroups(gs.len(), gs.as_ptr()) != 0 {
            1
        } else if libc::setgid(gid) != 0 {
            2
        } else if libc::setuid(uid) != 0 {
            3
        } else {
            0
        }
    };
    if step != 0 {
        return Err(format!(
            "dropping to uid {uid} failed at step {step}: {}",
            io::Error::last_os_error()
        ));
    }
    // The credential change cleared the parent-death signal: arm it again.
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    Ok(())
}

/// Opens pipe `name`, waiting (WaitNamedPipe) while every instance is busy.
pub fn open_waiting(name: &str) -> Result<npipe::NamedPipeClient, String> {
    loop {
        match npipe::ClientOptions::new().open(name) {
            Ok(c) => return Ok(c),
            Err(e) if npipe::win32_code(&e) == npipe::error::code::ERROR_PIPE_BUSY => {
                npipe::wait_named_pipe(name, npipe::WaitFor::Forever)
                    .map_err(|e| format!("wait: {e}"))?;
            }
            Err(e) => return Err(format!("open {name}: {e}")),
        }
    }
}

/// An instance of a message pipe in message read mode, of at most `instances` instances.
pub fn message_server(name: &str, instances: u32) -> npipe::NamedPipeServer {
    npipe::ServerOptions::new()
        .pipe_mode(npipe::PipeMode::Message)
        .read_mode(npipe::ReadMode::Message)
        .max_instances(instances)
        .create(name)
        .unwrap()
}

/// `getrusage(who)`: the resources the calling thread (`RUSAGE_THREAD`) or this process
/// (`RUSAGE_SELF`) has used so far.
pub fn rusage(who: libc::c_int) -> libc::rusage {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `ru` is a valid, writable rusage; `who` is one of the values getrusage takes
    // (checked by its result).
    let rc = unsafe { libc::getrusage(who, ru.as_mut_ptr()) };
    assert_eq!(rc, 0, "getrusage({who}): {}", io::Error::last_os_error());
    // SAFETY: getrusage succeeded and filled the struct (zeroed before, too).
    unsafe { ru.assume_init() }
}

/// The CPU time (user + system) in `ru`, in microseconds.
pub fn cpu_us(ru: &libc::rusage) -> u64 {
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    us(ru.ru_utime) + us(ru.ru_stime)
}

/// The threads of process `pid` named `comm` (their ids), from /proc: empty when the process
/// is gone or has none.
pub fn threads_named(pid: u32, comm: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    dir.flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|n| n.trim_end() == comm)
        })
        .filter_map(|t| t.file_name().to_str()?.parse().ok())
        .collect()
}
