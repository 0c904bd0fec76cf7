//! `npipe bench --faults`: the fault figures of docs/RELIABILITY.md, measured across real
//! processes, each next to a raw-socket baseline from the same run where one exists:
//! - how long a blocked read takes to notice that the peer was killed (npipe vs. a blocked
//!   `recv` on a SOCK_SEQPACKET socketpair whose peer is killed);
//! - how long a blocked streaming write takes to notice the same;
//! - how long a client takes to open while 60 silent connections of the same user are
//!   pending at the server (vs. with none);
//! - descriptors per connected pair.
//!
//! The killed peer is this binary re-run as `__fault-peer ROLE NAME`.

use std::io;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use npipe::{ClientOptions, PipeMode, ServerOptions};

const RUNS: usize = 5;

fn unique(tag: &str) -> String {
    format!(r"\\.\pipe\npipe-faults-{tag}-{}", std::process::id())
}

fn spawn_peer(role: &str, name: &str) -> io::Result<Child> {
    Command::new(std::env::current_exe()?)
        .args(["__fault-peer", role, name])
        .stdout(Stdio::null())
        .spawn()
}

/// The peer side: opens `name` and does what the role says, until it is killed.
pub(crate) fn peer_main(args: &[String]) -> io::Result<()> {
    let [role, name] = args else {
        return Err(io::Error::other("usage: __fault-peer ROLE NAME"));
    };
    let c = ClientOptions::new().open(name)?;
    match role.as_str() {
        // Says hello, then sleeps until killed.
        "idle" => {
            c.send_msg(b"hello")?;
            loop {
                std::thread::sleep(Duration::from_secs(60));
            }
        }
        // Says hello, then never reads while the server streams into it.
        "stuck" => {
            c.send_msg(b"hello")?;
            loop {
                std::thread::sleep(Duration::from_secs(60));
            }
        }
        other => Err(io::Error::other(format!("unknown role {other}"))),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn kill(mut c: Child) -> Instant {
    let t = Instant::now();
    let _ = c.kill();
    let _ = c.wait();
    t
}

/// A blocked read notices the killed client: milliseconds from the kill to the error.
fn dead_peer_read() -> io::Result<f64> {
    let mut v = Vec::new();
    for i in 0..RUNS {
        let name = unique(&format!("read{i}"));
        let s = ServerOptions::new()
            .pipe_mode(PipeMode::Message)
            .create(&name)?;
        let kid = spawn_peer("idle", &name)?;
        s.connect()?;
        let mut buf = [0u8; 64];
        s.recv_msg(&mut buf)?;
        let ms = std::thread::scope(|sc| {
            let r = sc.spawn(|| {
                let e = s.recv_msg(&mut [0u8; 64]);
                (Instant::now(), e.is_err())
            });
            std::thread::sleep(Duration::from_millis(100));
            let t0 = kill(kid);
            let (t1, failed) = r.join().expect("reader thread");
            assert!(failed, "the read must fail once the peer is dead");
            t1.saturating_duration_since(t0).as_secs_f64() * 1e3
        });
        v.push(ms);
    }
    Ok(median(v))
}

/// A blocked streaming write notices the killed client.
fn dead_peer_write() -> io::Result<f64> {
    let mut v = Vec::new();
    for i in 0..RUNS {
        let name = unique(&format!("write{i}"));
        let s = ServerOptions::new()
            .pipe_mode(PipeMode::Message)
            .out_buffer_size(4096)
            .create(&name)?;
        let kid = spawn_peer("stuck", &name)?;
        s.connect()?;
        s.recv_msg(&mut [0u8; 64])?;
        let ms = std::thread::scope(|sc| {
            let w = sc.spawn(|| {
                let e = s.send_msg(&vec![1u8; 8 << 20]);
                (Instant::now(), e.is_err())
            });
            std::thread::sleep(Duration::from_millis(100));
            let t0 = kill(kid);
            let (t1, failed) = w.join().expect("writer thread");
            assert!(failed, "the write must fail once the peer is dead");
            t1.saturating_duration_since(t0).as_secs_f64() * 1e3
        });
        v.push(ms);
    }
    Ok(median(v))
}

/// The baseline: a blocked `recv` on a SEQPACKET socketpair notices its killed peer.
fn dead_peer_socket() -> io::Result<f64> {
    use rustix::net::{socketpair, AddressFamily, SocketFlags, SocketType};
    let mut v = Vec::new();
    for _ in 0..RUNS {
        let (a, b) = socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::empty(),
            None,
        )?;
        // The child holds `b`: the socketpair is not close-on-exec, so `sleep` inherits it.
        let mut cmd = Command::new("sleep");
        cmd.arg("60");
        let kid = cmd.spawn()?;
        drop(b);
        let ms = std::thread::scope(|sc| {
            let r = sc.spawn(|| {
                let mut buf = [0u8; 8];
                let _ = rustix::net::recv(&a, &mut buf, rustix::net::RecvFlags::empty());
                Instant::now()
            });
            std::thread::sleep(Duration::from_millis(100));
            let t0 = kill(kid);
            let t1 = r.join().expect("reader thread");
            t1.saturating_duration_since(t0).as_secs_f64() * 1e3
        });
        v.push(ms);
    }
    Ok(median(v))
}

/// Milliseconds for an open while `silent` raw connections of this user wait at the server.
fn open_with_silent(silent: usize) -> io::Result<f64> {
    let name = unique(&format!("silent{silent}"));
    let _s = ServerOptions::new().create(&name)?;
    let addr = npipe::socket_address(&name)?;
    let mut hold = Vec::new();
    for _ in 0..silent {
        let fd = rustix::net::socket(
            rustix::net::AddressFamily::UNIX,
            rustix::net::SocketType::SEQPACKET,
            None,
        )?;
        rustix::net::connect(&fd, &rustix::net::SocketAddrUnix::new_abstract_name(&addr)?)?;
        hold.push(fd);
    }
    let mut v = Vec::new();
    for _ in 0..RUNS {
        let t0 = Instant::now();
        let c = ClientOptions::new().open(&name)?;
        v.push(t0.elapsed().as_secs_f64() * 1e3);
        drop(c);
        // The instance must listen again for the next open.
        _s.disconnect().ok();
        _s.connect_timeout(Duration::ZERO).ok();
    }
    Ok(median(v))
}

fn count_fds() -> io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/fd")?.count())
}

/// Descriptors one connected pair costs, both ends in this process (the pipe's acceptor,
/// shared by all instances, is not counted).
fn fds_per_pair() -> io::Result<f64> {
    let n = 50;
    let name = unique("fds");
    let first = ServerOptions::new().create(&name)?;
    let _c0 = ClientOptions::new().open(&name)?;
    let before = count_fds()?;
    let mut keep = Vec::new();
    for _ in 0..n {
        let s = ServerOptions::new().create(&name)?;
        let c = ClientOptions::new().open(&name)?;
        s.connect()?;
        keep.push((s, c));
    }
    let per = (count_fds()? - before) as f64 / n as f64;
    drop(keep);
    drop(first);
    Ok(per)
}

/// Prints the figures.
pub(crate) fn run() -> io::Result<()> {
    let sock = dead_peer_socket()?;
    let read = dead_peer_read()?;
    let write = dead_peer_write()?;
    println!("Fault figures (median of {RUNS} runs; ratios against the raw socket in this run)");
    println!("  killed peer noticed by a blocked read:     {read:8.2} ms  ({:.1}x a SEQPACKET recv, {sock:.3} ms)", read / sock);
    println!(
        "  killed peer noticed by a blocked write:    {write:8.2} ms  ({:.1}x)",
        write / sock
    );
    let quiet = open_with_silent(0)?;
    let loaded = open_with_silent(60)?;
    println!("  open with 60 silent connections pending:   {loaded:8.3} ms  ({:.2}x an open with none, {quiet:.3} ms)", loaded / quiet);
    let per = fds_per_pair()?;
    println!(
        "  descriptors per connected pair:            {per:8.1}     (server end + client end)"
    );
    Ok(())
}
