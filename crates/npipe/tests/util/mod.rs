//! Test helpers: unique names and child processes that re-run this test binary in a role
//! (the ipc-channel pattern). A test file calls `child_roles!` with its role functions; the
//! parent spawns `child(role, arg)` and checks the exit status.
#![allow(dead_code)]

use std::io;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

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

/// The command that runs this test binary as a child playing `role` with `arg`.
pub fn child_command(role: &str, arg: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
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

/// Waits for a child and asserts it exited with status 0.
pub fn expect_ok(mut c: Child) {
    let st = c.wait().expect("wait child");
    assert!(st.success(), "child failed: {st}");
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

/// Dispatches a child role: when this process was spawned by [`child`], runs the role and
/// exits with 0 on success and 1 (after printing the error) on failure.
#[macro_export]
macro_rules! child_roles {
    ($($name:literal => $f:expr),* $(,)?) => {
        /// Entry point of child processes (does nothing when run as a normal test).
        #[test]
        fn child_process_entry() {
            let Ok(role) = std::env::var(util::ROLE) else { return };
            let arg = std::env::var(util::ARG).unwrap_or_default();
            let r: Result<(), String> = match role.as_str() {
                $($name => ($f)(&arg),)*
                other => Err(format!("unknown role {other}")),
            };
            match r {
                Ok(()) => std::process::exit(0),
                Err(e) => {
                    eprintln!("child role {role} failed: {e}");
                    std::process::exit(1)
                }
            }
        }
    };
}

/// A raw SOCK_SEQPACKET connection to a pipe's or mailslot's address, bypassing the library.
pub fn raw_connect(name: &str) -> i32 {
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
        let r = libc::connect(fd, &sa as *const _ as *const libc::sockaddr, len);
        assert_eq!(r, 0, "connect: {}", io::Error::last_os_error());
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
        assert!(n >= 0, "recvmsg: {}", io::Error::last_os_error());
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
