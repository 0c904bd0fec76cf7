//! `npipe bench`: npipe against raw kernel IPC and peer crates, across two real processes, in
//! one run, with every row's ratio to the raw SOCK_SEQPACKET socketpair of the same scenario.
//!
//! Each (transport, scenario) spawns this binary again as the peer (`__bench-peer`), which
//! builds its end of the transport from the environment: inherited descriptors (socketpairs,
//! pipe(2)), a pipe name (npipe), a socket name (interprocess) or a one-shot server name
//! (ipc-channel). Messages have fixed sizes, so byte-stream transports read exact lengths.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use interprocess::local_socket::{
    prelude::*, GenericNamespaced, ListenerOptions, Stream as IpStream,
};
use interprocess::TryClone;
use ipc_channel::ipc::{self, IpcBytesReceiver, IpcBytesSender, IpcOneShotServer, IpcSender};
use npipe::nonblocking::{ReadOp, Readiness, WriteOp};
use npipe::{AnonReader, ClientOptions, CommandExt, PipeMode, ReadMode, ServerOptions};
use std::task::Poll;

const FD_A: &str = "NPIPE_BENCH_FD_A";
const FD_B: &str = "NPIPE_BENCH_FD_B";
const NAME_VAR: &str = "NPIPE_BENCH_NAME";
/// npipe's quotas in the benchmark (each direction's queue is sized to match): about the
/// default socket buffer (net.core.wmem_default), and a large configuration.
const NPIPE_QUOTA: u32 = 256 << 10;
const NPIPE_BIG_QUOTA: u32 = 4 << 20;

/// Transports, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Npipe,
    NpipeBig,
    /// npipe driven the event-loop way: nonblocking steps, readiness descriptor, poll(2) (the
    /// mechanism under the C ABI's overlapped I/O).
    NpipeNb,
    SeqPacket,
    Stream,
    Pipe,
    Interprocess,
    IpcChannel,
    Memcpy,
}

impl Transport {
    const ALL: [Transport; 9] = [
        Transport::Npipe,
        Transport::NpipeBig,
        Transport::NpipeNb,
        Transport::SeqPacket,
        Transport::Stream,
        Transport::Pipe,
        Transport::Interprocess,
        Transport::IpcChannel,
        Transport::Memcpy,
    ];

    fn label(self) -> &'static str {
        match self {
            Transport::Npipe => "npipe (256 KiB quota)",
            Transport::NpipeBig => "npipe (4 MiB quota)",
            Transport::NpipeNb => "npipe, event loop",
            Transport::SeqPacket => "SEQPACKET socketpair",
            Transport::Stream => "STREAM socketpair",
            Transport::Pipe => "pipe(2)",
            Transport::Interprocess => "interprocess 2.4",
            Transport::IpcChannel => "ipc-channel 0.23",
            Transport::Memcpy => "memcpy (1 process)",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Transport::Npipe => "npipe",
            Transport::NpipeBig => "npipe-4m",
            Transport::NpipeNb => "npipe-nb",
            Transport::SeqPacket => "seqpacket",
            Transport::Stream => "stream",
            Transport::Pipe => "pipe",
            Transport::Interprocess => "interprocess",
            Transport::IpcChannel => "ipc-channel",
            Transport::Memcpy => "memcpy",
        }
    }

    fn from_key(s: &str) -> Option<Transport> {
        Transport::ALL.into_iter().find(|t| t.key() == s)
    }
}

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// 64 B ping-pong with both sides busy: microseconds per round trip.
    Rtt,
    /// 64 B ping-pong with a 1 ms pause between round trips, so the peer goes to sleep.
    RttIdle,
    /// 64 B messages one way: messages per second.
    Rate,
    /// One-way throughput with messages of the given size: bytes per second.
    Throughput(usize),
    /// Connection setup and teardown: connections per second.
    Connect,
}

impl Scenario {
    fn label(self) -> String {
        match self {
            Scenario::Rtt => "64 B round trip, both busy".into(),
            Scenario::RttIdle => "64 B round trip, peer asleep".into(),
            Scenario::Rate => "64 B one-way rate".into(),
            Scenario::Throughput(s) => format!("one-way throughput, {} messages", size_label(s)),
            Scenario::Connect => "connections per second".into(),
        }
    }

    fn key(self) -> String {
        match self {
            Scenario::Rtt => "rtt64".into(),
            Scenario::RttIdle => "rtt64_idle".into(),
            Scenario::Rate => "rate64".into(),
            Scenario::Throughput(s) => format!("throughput_{s}"),
            Scenario::Connect => "connect".into(),
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Scenario::Rtt | Scenario::RttIdle => "us",
            Scenario::Rate => "M msg/s",
            Scenario::Throughput(_) => "GB/s",
            Scenario::Connect => "conn/s",
        }
    }

    /// Whether a smaller value is better (times) or a larger one (rates).
    fn lower_is_better(self) -> bool {
        matches!(self, Scenario::Rtt | Scenario::RttIdle)
    }

    fn msg_size(self) -> usize {
        match self {
            Scenario::Throughput(s) => s,
            Scenario::Connect => 1,
            _ => 64,
        }
    }

    /// Operations per repetition (scaled down by `--quick`).
    fn count(self, quick: bool) -> usize {
        let n = match self {
            Scenario::Rtt => 50_000,
            Scenario::RttIdle => 300,
            Scenario::Rate => 400_000,
            Scenario::Throughput(s) => ((1usize << 30) / s).max(16),
            Scenario::Connect => 4_000,
        };
        if quick {
            (n / 10).max(8)
        } else {
            n
        }
    }
}

fn size_label(s: usize) -> String {
    if s >= 1 << 20 {
        format!("{} MiB", s >> 20)
    } else if s >= 1 << 10 {
        format!("{} KiB", s >> 10)
    } else {
        format!("{s} B")
    }
}

// ---------------------------------------------------------------------------------------------
// Channels: one message at a time, fixed sizes.

trait Chan {
    fn send(&mut self, m: &[u8]) -> io::Result<()>;
    /// Receives one message of exactly `buf.len()` bytes.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()>;
}

/// SOCK_SEQPACKET: one record per message; messages above 128 KiB go as 128 KiB records (the
/// default socket buffer cannot hold a larger record).
struct SeqChan(OwnedFd);

const SEQ_RECORD: usize = 128 << 10;

impl Chan for SeqChan {
    fn send(&mut self, m: &[u8]) -> io::Result<()> {
        for part in m.chunks(SEQ_RECORD).chain(m.is_empty().then_some(m)) {
            let n = rustix::net::send(&self.0, part, rustix::net::SendFlags::empty())?;
            if n != part.len() {
                return Err(io::Error::other("short SEQPACKET send"));
            }
        }
        Ok(())
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let mut off = 0;
        while off < buf.len() {
            let end = (off + SEQ_RECORD).min(buf.len());
            let (n, _) =
                rustix::net::recv(&self.0, &mut buf[off..end], rustix::net::RecvFlags::empty())?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            off += n;
        }
        Ok(())
    }
}

/// Any byte stream (STREAM socketpair, pipe(2) pair, interprocess): exact reads.
struct StreamChan<R, W>(R, W);

impl<R: Read, W: Write> Chan for StreamChan<R, W> {
    fn send(&mut self, m: &[u8]) -> io::Result<()> {
        self.1.write_all(m)
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.0.read_exact(buf)
    }
}

struct NpServer(npipe::NamedPipeServer);
struct NpClient(npipe::NamedPipeClient);

fn np_recv(
    f: impl FnOnce(&mut [u8]) -> io::Result<npipe::MsgLen>,
    buf: &mut [u8],
) -> io::Result<()> {
    let m = f(buf)?;
    if m.read != buf.len() || m.left != 0 {
        return Err(io::Error::other("npipe: unexpected message length"));
    }
    Ok(())
}

impl Chan for NpServer {
    fn send(&mut self, m: &[u8]) -> io::Result<()> {
        self.0.send_msg(m).map(|_| ())
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        np_recv(|b| self.0.recv_msg(b), buf)
    }
}

impl Chan for NpClient {
    fn send(&mut self, m: &[u8]) -> io::Result<()> {
        self.0.send_msg(m).map(|_| ())
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        np_recv(|b| self.0.recv_msg(b), buf)
    }
}

/// An npipe end driven as an event loop drives it (`npipe::nonblocking`): poll the step, and
/// while it is pending sleep in poll(2) on the end's readiness descriptor.
struct NbChan<E> {
    end: E,
    ready: Readiness,
}

trait NbEnd {
    fn poll_read(&self, op: &mut ReadOp, buf: &mut [u8]) -> Poll<io::Result<npipe::MsgLen>>;
    fn poll_write(&self, op: &mut WriteOp, data: &[u8]) -> Poll<io::Result<usize>>;
}

impl NbEnd for npipe::NamedPipeServer {
    fn poll_read(&self, op: &mut ReadOp, buf: &mut [u8]) -> Poll<io::Result<npipe::MsgLen>> {
        npipe::NamedPipeServer::poll_read(self, op, buf)
    }
    fn poll_write(&self, op: &mut WriteOp, data: &[u8]) -> Poll<io::Result<usize>> {
        npipe::NamedPipeServer::poll_write(self, op, data)
    }
}

impl NbEnd for npipe::NamedPipeClient {
    fn poll_read(&self, op: &mut ReadOp, buf: &mut [u8]) -> Poll<io::Result<npipe::MsgLen>> {
        npipe::NamedPipeClient::poll_read(self, op, buf)
    }
    fn poll_write(&self, op: &mut WriteOp, data: &[u8]) -> Poll<io::Result<usize>> {
        npipe::NamedPipeClient::poll_write(self, op, data)
    }
}

/// Steps until ready, sleeping on the readiness descriptor in between (1 ms when another
/// thread held a lock the step needed).
fn drive<T>(
    ready: &Readiness,
    mut step: impl FnMut() -> (Poll<io::Result<T>>, bool),
) -> io::Result<T> {
    loop {
        let (r, contended) = step();
        if let Poll::Ready(r) = r {
            return r;
        }
        let timeout = contended.then_some(rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: 1_000_000,
        });
        let mut fds = [rustix::event::PollFd::new(
            ready,
            rustix::event::PollFlags::IN,
        )];
        rustix::event::poll(&mut fds, timeout.as_ref())?;
        ready.clear();
    }
}

impl<E: NbEnd> Chan for NbChan<E> {
    fn send(&mut self, m: &[u8]) -> io::Result<()> {
        let mut op = WriteOp::pinned();
        drive(&self.ready, || {
            (self.end.poll_write(&mut op, m), op.contended())
        })
        .map(|_| ())
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let mut op = ReadOp::pinned();
        let m = drive(&self.ready, || {
            (self.end.poll_read(&mut op, buf), op.contended())
        })?;
        if m.read != buf.len() || m.left != 0 {
            return Err(io::Error::other("npipe: unexpected message length"));
        }
        Ok(())
    }
}

struct IpcChan(IpcBytesSender, IpcBytesReceiver);

impl Chan for IpcChan {
    fn send(&mut self, m: &[u8]) -> io::Result<()> {
        self.0.send(m)
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let v = self
            .1
            .recv()
            .map_err(|e| io::Error::other(format!("ipc-channel: {e:?}")))?;
        if v.len() != buf.len() {
            return Err(io::Error::other("ipc-channel: unexpected message length"));
        }
        buf.copy_from_slice(&v);
        Ok(())
    }
}

fn socketpair(kind: rustix::net::SocketType) -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        kind,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )?)
}

fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "npipe-bench-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn peer_command(t: Transport, role: &str, size: usize, count: usize) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
    cmd.args([
        "__bench-peer",
        t.key(),
        role,
        &size.to_string(),
        &count.to_string(),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null());
    cmd
}

/// Spawns the peer for `t` and returns the parent's end of the channel.
fn spawn_with_chan(
    t: Transport,
    role: &str,
    size: usize,
    count: usize,
) -> io::Result<(Box<dyn Chan>, Child)> {
    let mut cmd = peer_command(t, role, size, count);
    match t {
        Transport::SeqPacket | Transport::Stream => {
            let kind = if t == Transport::SeqPacket {
                rustix::net::SocketType::SEQPACKET
            } else {
                rustix::net::SocketType::STREAM
            };
            let (a, b) = socketpair(kind)?;
            cmd.pass_fd(b.as_fd(), 3, FD_A)?;
            let child = cmd.spawn()?;
            drop(cmd);
            let chan: Box<dyn Chan> = if t == Transport::SeqPacket {
                Box::new(SeqChan(a))
            } else {
                let r = std::fs::File::from(a.try_clone()?);
                Box::new(StreamChan(r, std::fs::File::from(a)))
            };
            Ok((chan, child))
        }
        Transport::Pipe => {
            let (p2c_r, p2c_w) = io::pipe()?;
            let (c2p_r, c2p_w) = io::pipe()?;
            cmd.pass_fd(p2c_r.as_fd(), 3, FD_A)?;
            cmd.pass_fd(c2p_w.as_fd(), 4, FD_B)?;
            let child = cmd.spawn()?;
            drop(cmd);
            Ok((Box::new(StreamChan(c2p_r, p2c_w)), child))
        }
        Transport::Npipe | Transport::NpipeBig | Transport::NpipeNb => {
            let quota = if t == Transport::NpipeBig {
                NPIPE_BIG_QUOTA
            } else {
                NPIPE_QUOTA
            };
            let name = format!(r"\\.\pipe\{}", unique("np"));
            // Quotas of 256 KiB, about the default socket buffer (net.core.wmem_default).
            let server = ServerOptions::new()
                .pipe_mode(PipeMode::Message)
                .read_mode(ReadMode::Message)
                .in_buffer_size(quota)
                .out_buffer_size(quota)
                .create(&name)?;
            cmd.env(NAME_VAR, &name);
            let child = cmd.spawn()?;
            server.connect()?;
            if t == Transport::NpipeNb {
                let ready = server.readiness()?;
                return Ok((Box::new(NbChan { end: server, ready }), child));
            }
            Ok((Box::new(NpServer(server)), child))
        }
        Transport::Interprocess => {
            let name = unique("ip");
            let listener = ListenerOptions::new()
                .name(name.clone().to_ns_name::<GenericNamespaced>()?)
                .create_sync()?;
            cmd.env(NAME_VAR, &name);
            let child = cmd.spawn()?;
            let s = listener.accept()?;
            let r = s.try_clone()?;
            Ok((Box::new(StreamChan(r, s)), child))
        }
        Transport::IpcChannel => {
            let (server, name) = IpcOneShotServer::<(IpcBytesSender, IpcBytesReceiver)>::new()?;
            cmd.env(NAME_VAR, &name);
            let child = cmd.spawn()?;
            let (_, (tx, rx)) = server
                .accept()
                .map_err(|e| io::Error::other(format!("ipc-channel accept: {e:?}")))?;
            Ok((Box::new(IpcChan(tx, rx)), child))
        }
        Transport::Memcpy => Err(io::Error::other("memcpy has no peer")),
    }
}

/// The peer's end of the channel, built from what the parent put in the environment.
fn peer_chan(t: Transport) -> io::Result<Box<dyn Chan>> {
    let name = || std::env::var(NAME_VAR).map_err(|_| io::Error::other("no name given"));
    Ok(match t {
        Transport::SeqPacket => Box::new(SeqChan(AnonReader::from_env(FD_A)?.into())),
        Transport::Stream => {
            let fd: OwnedFd = AnonReader::from_env(FD_A)?.into();
            let r = std::fs::File::from(fd.try_clone()?);
            Box::new(StreamChan(r, std::fs::File::from(fd)))
        }
        Transport::Pipe => {
            let r: OwnedFd = AnonReader::from_env(FD_A)?.into();
            let w: OwnedFd = npipe::AnonWriter::from_env(FD_B)?.into();
            Box::new(StreamChan(std::fs::File::from(r), std::fs::File::from(w)))
        }
        Transport::Npipe | Transport::NpipeBig => {
            let c = ClientOptions::new().open(&name()?)?;
            c.set_mode(ReadMode::Message, false)?;
            Box::new(NpClient(c))
        }
        Transport::NpipeNb => {
            let c = ClientOptions::new().open(&name()?)?;
            c.set_mode(ReadMode::Message, false)?;
            let ready = c.readiness()?;
            Box::new(NbChan { end: c, ready })
        }
        Transport::Interprocess => {
            let s = IpStream::connect(name()?.to_ns_name::<GenericNamespaced>()?)?;
            let r = s.try_clone()?;
            Box::new(StreamChan(r, s))
        }
        Transport::IpcChannel => {
            let boot = IpcSender::<(IpcBytesSender, IpcBytesReceiver)>::connect(name()?)?;
            let (p2c_tx, p2c_rx) = ipc::bytes_channel()?;
            let (c2p_tx, c2p_rx) = ipc::bytes_channel()?;
            boot.send((c2p_tx, p2c_rx))
                .map_err(|e| io::Error::other(format!("ipc-channel: {e:?}")))?;
            Box::new(IpcChan(p2c_tx, c2p_rx))
        }
        Transport::Memcpy => return Err(io::Error::other("memcpy has no peer")),
    })
}

// ---------------------------------------------------------------------------------------------
// Roles.

/// The peer process: `__bench-peer TRANSPORT ROLE SIZE COUNT`.
pub(crate) fn peer_main(args: &[String]) -> io::Result<()> {
    let [t, role, size, count] = args else {
        return Err(io::Error::other(
            "usage: __bench-peer TRANSPORT ROLE SIZE COUNT",
        ));
    };
    let t = Transport::from_key(t).ok_or_else(|| io::Error::other("unknown transport"))?;
    let size: usize = size.parse().map_err(io::Error::other)?;
    let count: usize = count.parse().map_err(io::Error::other)?;
    if role == "connect" {
        return peer_connect(t, count);
    }
    let mut chan = peer_chan(t)?;
    let mut buf = vec![0u8; size];
    match role.as_str() {
        // `count` round trips per repetition; after each repetition the parent sends one byte:
        // 1 for another repetition, 0 to stop.
        "echo" => loop {
            for _ in 0..count {
                chan.recv(&mut buf)?;
                chan.send(&buf)?;
            }
            let mut more = [0u8; 1];
            chan.recv(&mut more)?;
            if more[0] == 0 {
                return Ok(());
            }
        },
        "sink" => loop {
            for _ in 0..count {
                chan.recv(&mut buf)?;
            }
            chan.send(&[1])?;
            let mut more = [0u8; 1];
            chan.recv(&mut more)?;
            if more[0] == 0 {
                return Ok(());
            }
        },
        _ => Err(io::Error::other("unknown role")),
    }
}

/// A close-on-exec Unix socket of the raw transport `t` (SEQPACKET or STREAM) and the abstract
/// address `name`, for the connection benchmark's two sides.
fn raw_unix_socket(
    t: Transport,
    name: &str,
) -> io::Result<(std::os::fd::OwnedFd, rustix::net::SocketAddrUnix)> {
    let kind = if t == Transport::SeqPacket {
        rustix::net::SocketType::SEQPACKET
    } else {
        rustix::net::SocketType::STREAM
    };
    let s = rustix::net::socket_with(
        rustix::net::AddressFamily::UNIX,
        kind,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )?;
    Ok((
        s,
        rustix::net::SocketAddrUnix::new_abstract_name(name.as_bytes())?,
    ))
}

/// Connects and disconnects `count` times as fast as the server lets it.
fn peer_connect(t: Transport, count: usize) -> io::Result<()> {
    let name = std::env::var(NAME_VAR).map_err(|_| io::Error::other("no name given"))?;
    for _ in 0..count {
        match t {
            Transport::Npipe => loop {
                match ClientOptions::new().open(&name) {
                    Ok(mut c) => {
                        c.write_all(&[1])?;
                        break;
                    }
                    Err(e) if npipe::win32_code(&e) == npipe::error::code::ERROR_PIPE_BUSY => {
                        npipe::wait_named_pipe(&name, npipe::WaitFor::Forever)?;
                    }
                    Err(e) => return Err(e),
                }
            },
            Transport::SeqPacket | Transport::Stream => {
                let (s, addr) = raw_unix_socket(t, &name)?;
                rustix::net::connect(&s, &addr)?;
                rustix::net::send(&s, &[1], rustix::net::SendFlags::empty())?;
            }
            Transport::Interprocess => {
                let mut s = IpStream::connect(name.clone().to_ns_name::<GenericNamespaced>()?)?;
                s.write_all(&[1])?;
            }
            _ => {
                return Err(io::Error::other(
                    "no connection benchmark for this transport",
                ))
            }
        }
    }
    Ok(())
}

fn stop(chan: &mut dyn Chan, child: Child) -> io::Result<()> {
    chan.send(&[0])?;
    finish(child)
}

fn finish(mut child: Child) -> io::Result<()> {
    let st = child.wait()?;
    if !st.success() {
        return Err(io::Error::other(format!("bench peer failed: {st}")));
    }
    Ok(())
}

const REPS: usize = 3;

/// Runs one (transport, scenario): the best of [`REPS`] repetitions, in the scenario's unit.
fn measure(t: Transport, sc: Scenario, quick: bool) -> io::Result<f64> {
    let size = sc.msg_size();
    let count = sc.count(quick);
    if t == Transport::Memcpy {
        return Ok(measure_memcpy(sc, count));
    }
    if sc == Scenario::Connect {
        return measure_connect(t, count);
    }
    let role = match sc {
        Scenario::Rtt | Scenario::RttIdle => "echo",
        _ => "sink",
    };
    let (mut chan, child) = spawn_with_chan(t, role, size, count)?;
    let msg = vec![0x5au8; size];
    let mut buf = vec![0u8; size];
    let mut best = if sc.lower_is_better() { f64::MAX } else { 0.0 };
    for rep in 0..REPS {
        let value = match sc {
            Scenario::Rtt => {
                let t0 = Instant::now();
                for _ in 0..count {
                    chan.send(&msg)?;
                    chan.recv(&mut buf)?;
                }
                t0.elapsed().as_secs_f64() * 1e6 / count as f64
            }
            Scenario::RttIdle => {
                let mut total = Duration::ZERO;
                for _ in 0..count {
                    std::thread::sleep(Duration::from_millis(1));
                    let t0 = Instant::now();
                    chan.send(&msg)?;
                    chan.recv(&mut buf)?;
                    total += t0.elapsed();
                }
                total.as_secs_f64() * 1e6 / count as f64
            }
            _ => {
                let t0 = Instant::now();
                for _ in 0..count {
                    chan.send(&msg)?;
                }
                let mut ack = [0u8; 1];
                chan.recv(&mut ack)?;
                let secs = t0.elapsed().as_secs_f64();
                match sc {
                    Scenario::Rate => count as f64 / secs / 1e6,
                    _ => (count * size) as f64 / secs / 1e9,
                }
            }
        };
        best = if sc.lower_is_better() {
            best.min(value)
        } else {
            best.max(value)
        };
        if rep + 1 < REPS {
            chan.send(&[1])?;
        }
    }
    stop(chan.as_mut(), child)?;
    Ok(best)
}

fn measure_memcpy(sc: Scenario, count: usize) -> f64 {
    let Scenario::Throughput(size) = sc else {
        return f64::NAN;
    };
    let src = vec![0x5au8; size];
    // The destination starts 64 bytes past a page-aligned offset from the source: glibc's
    // memcpy is ~15x slower here when both share their offset within a page (4K aliasing),
    // and the baseline should be memcpy at its best.
    let mut dst_buf = vec![0u8; size + 4096 + 64];
    let shift = (src.as_ptr() as usize + 64).wrapping_sub(dst_buf.as_ptr() as usize) & 4095;
    let dst = &mut dst_buf[shift..shift + size];
    let mut best = 0.0f64;
    for _ in 0..REPS {
        let t0 = Instant::now();
        for i in 0..count {
            dst.copy_from_slice(&src);
            std::hint::black_box(&mut *dst);
            if i == 0 {
                std::hint::black_box(&src);
            }
        }
        best = best.max((count * size) as f64 / t0.elapsed().as_secs_f64() / 1e9);
    }
    best
}

/// Connections per second: the peer connects, sends one byte and closes, `count` times; the
/// server side accepts each, reads the byte and closes (npipe: ConnectNamedPipe, ReadFile,
/// DisconnectNamedPipe on a pool of instances).
fn measure_connect(t: Transport, count: usize) -> io::Result<f64> {
    let name = unique("conn");
    let mut cmd = peer_command(t, "connect", 1, count);
    match t {
        Transport::Npipe => {
            let pipe = format!(r"\\.\pipe\{name}");
            cmd.env(NAME_VAR, &pipe);
            const INSTANCES: usize = 4;
            let servers: Vec<_> = (0..INSTANCES)
                .map(|_| {
                    ServerOptions::new()
                        .max_instances(INSTANCES as u32)
                        .create(&pipe)
                })
                .collect::<io::Result<_>>()?;
            let t0 = Instant::now();
            let child = cmd.spawn()?;
            let done = std::sync::atomic::AtomicUsize::new(0);
            let exited = std::sync::atomic::AtomicUsize::new(0);
            std::thread::scope(|sc| {
                for s in &servers {
                    let (done, exited) = (&done, &exited);
                    sc.spawn(move || {
                        let mut b = [0u8; 1];
                        while done.load(std::sync::atomic::Ordering::Relaxed) < count {
                            match s.connect() {
                                Ok(_) => {
                                    let _ = (&*s).read(&mut b);
                                }
                                // The client connected, wrote and closed before this call
                                // (ConnectNamedPipe then fails like Windows): it was served.
                                Err(e)
                                    if npipe::win32_code(&e)
                                        == npipe::error::code::ERROR_NO_DATA => {}
                                Err(_) => break,
                            }
                            done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let _ = s.disconnect();
                        }
                        exited.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    });
                }
                let r = finish(child);
                // Servers still waiting in connect() are released by throwaway clients.
                done.store(count, std::sync::atomic::Ordering::Relaxed);
                while exited.load(std::sync::atomic::Ordering::Relaxed) < INSTANCES {
                    let _ = ClientOptions::new().open(&pipe);
                    std::thread::sleep(Duration::from_millis(1));
                }
                r
            })?;
            Ok(count as f64 / t0.elapsed().as_secs_f64())
        }
        Transport::SeqPacket | Transport::Stream => {
            let (l, addr) = raw_unix_socket(t, &name)?;
            rustix::net::bind(&l, &addr)?;
            rustix::net::listen(&l, 128)?;
            cmd.env(NAME_VAR, &name);
            let t0 = Instant::now();
            let child = cmd.spawn()?;
            let mut b = [0u8; 1];
            for _ in 0..count {
                let c = rustix::net::accept_with(&l, rustix::net::SocketFlags::CLOEXEC)?;
                rustix::net::recv(&c, &mut b, rustix::net::RecvFlags::empty())?;
            }
            finish(child)?;
            Ok(count as f64 / t0.elapsed().as_secs_f64())
        }
        Transport::Interprocess => {
            let listener = ListenerOptions::new()
                .name(name.clone().to_ns_name::<GenericNamespaced>()?)
                .create_sync()?;
            cmd.env(NAME_VAR, &name);
            let t0 = Instant::now();
            let child = cmd.spawn()?;
            let mut b = [0u8; 1];
            for _ in 0..count {
                let mut s = listener.accept()?;
                s.read_exact(&mut b)?;
            }
            finish(child)?;
            Ok(count as f64 / t0.elapsed().as_secs_f64())
        }
        _ => Ok(f64::NAN),
    }
}

// ---------------------------------------------------------------------------------------------
// The table.

struct Row {
    scenario: Scenario,
    transport: Transport,
    value: Option<f64>,
    note: String,
}

fn applicable(t: Transport, sc: Scenario) -> bool {
    match (t, sc) {
        (Transport::Memcpy, Scenario::Throughput(_)) => true,
        (Transport::Memcpy, _) => false,
        (
            Transport::Pipe | Transport::IpcChannel | Transport::NpipeBig | Transport::NpipeNb,
            Scenario::Connect,
        ) => false,
        _ => true,
    }
}

/// `npipe bench [--quick] [--json] [--only TRANSPORT,...] [--scenario KEY,...]`.
pub(crate) fn run(args: &[String]) -> io::Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let json = args.iter().any(|a| a == "--json");
    let only: Option<Vec<Transport>> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.split(',').filter_map(Transport::from_key).collect());
    let pick: Option<Vec<String>> = args
        .iter()
        .position(|a| a == "--scenario")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.split(',').map(str::to_owned).collect());
    let mut scenarios = vec![
        Scenario::Rtt,
        Scenario::RttIdle,
        Scenario::Rate,
        Scenario::Throughput(4 << 10),
        Scenario::Throughput(64 << 10),
        Scenario::Throughput(1 << 20),
        Scenario::Throughput(16 << 20),
        Scenario::Connect,
    ];
    if let Some(p) = &pick {
        scenarios.retain(|sc| p.contains(&sc.key()));
    }
    let mut transports: Vec<Transport> = Transport::ALL.to_vec();
    if let Some(o) = &only {
        transports.retain(|t| o.contains(t) || *t == Transport::SeqPacket);
    }
    let jobs: Vec<(Scenario, Transport)> = scenarios
        .iter()
        .flat_map(|&sc| transports.iter().map(move |&t| (sc, t)))
        .filter(|&(sc, t)| applicable(t, sc))
        .collect();
    let mut rows = Vec::new();
    let started = Instant::now();
    for (i, &(sc, t)) in jobs.iter().enumerate() {
        eprint!(
            "\r[{:>2}/{}] {:<34} {:<22}",
            i + 1,
            jobs.len(),
            sc.label(),
            t.label()
        );
        let _ = io::stderr().flush();
        let (value, note) = match measure(t, sc, quick) {
            Ok(v) => (Some(v), String::new()),
            Err(e) => (None, e.to_string()),
        };
        rows.push(Row {
            scenario: sc,
            transport: t,
            value,
            note,
        });
    }
    eprintln!(
        "\r{:<70}\r{} measurements in {:.1} s",
        "",
        jobs.len(),
        started.elapsed().as_secs_f64()
    );
    if json {
        print_json(&rows);
    } else {
        print_table(&rows, &scenarios);
    }
    Ok(())
}

fn baseline(rows: &[Row], sc: Scenario) -> Option<f64> {
    rows.iter()
        .find(|r| r.scenario == sc && r.transport == Transport::SeqPacket)
        .and_then(|r| r.value)
}

fn ratio(rows: &[Row], r: &Row) -> Option<f64> {
    Some(r.value? / baseline(rows, r.scenario)?)
}

fn print_table(rows: &[Row], scenarios: &[Scenario]) {
    println!("Each row's ratio is value / raw SEQPACKET socketpair value of the same scenario.");
    println!("Round trips: lower is better. Rates and throughput: higher is better.\n");
    for &sc in scenarios {
        println!("{} ({})", sc.label(), sc.unit());
        for r in rows.iter().filter(|r| r.scenario == sc) {
            match (r.value, ratio(rows, r)) {
                (Some(v), Some(x)) => {
                    println!(
                        "  {:<24} {:>12} {:>9.3}x",
                        r.transport.label(),
                        fmt_value(v),
                        x
                    )
                }
                (Some(v), None) => {
                    println!("  {:<24} {:>12}", r.transport.label(), fmt_value(v))
                }
                (None, _) => println!(
                    "  {:<24} {:>12}  ({})",
                    r.transport.label(),
                    "failed",
                    r.note
                ),
            }
        }
        println!();
    }
}

fn fmt_value(v: f64) -> String {
    if v >= 1000.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn json_num(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v}"),
        _ => "null".into(),
    }
}

fn print_json(rows: &[Row]) {
    println!("{{\"baseline\": \"seqpacket\", \"rows\": [");
    for (i, r) in rows.iter().enumerate() {
        println!(
            "  {{\"scenario\": {}, \"transport\": {}, \"unit\": {}, \"value\": {}, \"ratio\": {}, \"lower_is_better\": {}, \"error\": {}}}{}",
            json_str(&r.scenario.key()),
            json_str(r.transport.key()),
            json_str(r.scenario.unit()),
            json_num(r.value),
            json_num(ratio(rows, r)),
            r.scenario.lower_is_better(),
            if r.note.is_empty() { "null".into() } else { json_str(&r.note) },
            if i + 1 < rows.len() { "," } else { "" }
        );
    }
    println!("]}}");
}
