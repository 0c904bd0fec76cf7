//! Library benchmarks (criterion), in one process with two threads: npipe message pipes next to
//! a raw SOCK_SEQPACKET socketpair measured in the same run. After criterion's report, a short
//! summary prints each npipe figure as a ratio to that baseline. The cross-process comparison
//! with more transports is `npipe bench` (crates/npipe-cli).

use std::hint::black_box;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use npipe::{ClientOptions, NamedPipeClient, NamedPipeServer, PipeMode, ReadMode, ServerOptions};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

fn npipe_pair() -> (NamedPipeServer, NamedPipeClient) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        r"\\.\pipe\npipe-criterion-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let s = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .read_mode(ReadMode::Message)
        .create(&name)
        .expect("create");
    let c = ClientOptions::new().open(&name).expect("open");
    c.set_mode(ReadMode::Message, false).expect("mode");
    s.connect().expect("connect");
    (s, c)
}

fn seq_pair() -> (OwnedFd, OwnedFd) {
    rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .expect("socketpair")
}

/// A thread that echoes every message it receives until the channel closes.
fn npipe_echo(c: NamedPipeClient) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut b = vec![0u8; 1 << 16];
        while let Ok(m) = c.recv_msg(&mut b) {
            if c.send_msg(&b[..m.read]).is_err() {
                return;
            }
        }
    })
}

fn seq_echo(fd: OwnedFd) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut b = vec![0u8; 1 << 16];
        while let Ok((n, _)) = rustix::net::recv(&fd, &mut b, RecvFlags::empty()) {
            if n == 0 || rustix::net::send(&fd, &b[..n], SendFlags::empty()).is_err() {
                return;
            }
        }
    })
}

/// Round trips of `size` bytes: npipe, then the SEQPACKET baseline.
fn round_trip(size: usize) -> (impl FnMut(u64) -> Duration, impl FnMut(u64) -> Duration) {
    let (s, c) = npipe_pair();
    npipe_echo(c);
    let (a, b) = seq_pair();
    seq_echo(b);
    let mut buf1 = vec![0u8; size];
    let mut buf2 = vec![0u8; size];
    let np = move |iters: u64| {
        let msg = vec![7u8; size];
        let t0 = Instant::now();
        for _ in 0..iters {
            s.send_msg(&msg).unwrap();
            black_box(s.recv_msg(&mut buf1).unwrap());
        }
        t0.elapsed()
    };
    let seq = move |iters: u64| {
        let msg = vec![7u8; size];
        let t0 = Instant::now();
        for _ in 0..iters {
            rustix::net::send(&a, &msg, SendFlags::empty()).unwrap();
            black_box(rustix::net::recv(&a, &mut buf2, RecvFlags::empty()).unwrap());
        }
        t0.elapsed()
    };
    (np, seq)
}

/// One-way messages of `size` bytes to a draining thread.
fn one_way(size: usize) -> (impl FnMut(u64) -> Duration, impl FnMut(u64) -> Duration) {
    let (s, c) = npipe_pair();
    std::thread::spawn(move || {
        let mut b = vec![0u8; size];
        while c.recv_msg(&mut b).is_ok() {}
    });
    let (a, b) = seq_pair();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; size];
        while let Ok((n, _)) = rustix::net::recv(&b, &mut buf, RecvFlags::empty()) {
            if n == 0 {
                return;
            }
        }
    });
    let np = move |iters: u64| {
        let msg = vec![7u8; size];
        let t0 = Instant::now();
        for _ in 0..iters {
            s.send_msg(&msg).unwrap();
        }
        s.flush_buffers().unwrap();
        t0.elapsed()
    };
    let seq = move |iters: u64| {
        let msg = vec![7u8; size];
        let t0 = Instant::now();
        for _ in 0..iters {
            rustix::net::send(&a, &msg, SendFlags::empty()).unwrap();
        }
        t0.elapsed()
    };
    (np, seq)
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("round_trip_64B");
    let (mut np, mut seq) = round_trip(64);
    g.bench_function("npipe", |b| b.iter_custom(&mut np));
    g.bench_function("seqpacket", |b| b.iter_custom(&mut seq));
    g.finish();

    for size in [64usize, 4096, 65536] {
        let mut g = c.benchmark_group(format!("one_way_{size}B"));
        g.throughput(Throughput::Bytes(size as u64));
        let (mut np, mut seq) = one_way(size);
        g.bench_function("npipe", |b| b.iter_custom(&mut np));
        g.bench_function("seqpacket", |b| b.iter_custom(&mut seq));
        g.finish();
    }

    let mut g = c.benchmark_group("zero_copy_64B_one_way");
    let (s, cl) = npipe_pair();
    std::thread::spawn(move || loop {
        match cl.recv_in_place() {
            Ok(m) => drop(black_box(m)),
            Err(_) => return,
        }
    });
    g.bench_function("npipe", |b| {
        b.iter(|| {
            let mut w = s.reserve_msg(64).unwrap();
            w.as_mut_slices().0.fill(7);
            w.commit().unwrap();
        })
    });
    g.finish();
}

/// Prints npipe / baseline ratios from quick timings made in this same run.
fn ratios() {
    let run = |f: &mut dyn FnMut(u64) -> Duration, n: u64| {
        f(n / 10);
        (0..3).map(|_| f(n)).min().unwrap().as_secs_f64() / n as f64
    };
    println!("\nratios to the SEQPACKET socketpair measured in this run (time per op):");
    let (mut np, mut seq) = round_trip(64);
    let (a, b) = (run(&mut np, 50_000), run(&mut seq, 50_000));
    println!(
        "  64 B round trip  npipe {:.3} us, seqpacket {:.3} us, ratio {:.3}x",
        a * 1e6,
        b * 1e6,
        a / b
    );
    for size in [64usize, 4096, 65536] {
        let n = (200_000_000 / size as u64).clamp(1_000, 400_000);
        let (mut np, mut seq) = one_way(size);
        let (a, b) = (run(&mut np, n), run(&mut seq, n));
        println!(
            "  {size:>5} B one-way npipe {:.3} us, seqpacket {:.3} us, speed-up {:.2}x",
            a * 1e6,
            b * 1e6,
            b / a
        );
    }
}

criterion_group! {
    name = group;
    config = Criterion::default().measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    targets = benches
}

fn main() {
    group();
    Criterion::default().configure_from_args().final_summary();
    ratios();
}
