//! The message channels of every transport: one message at a time, fixed sizes, so byte-stream
//! transports read exact lengths. This file owns both ends: the parent's end, which spawns the
//! peer and hands it what it needs through the environment (inherited descriptors for
//! socketpairs and pipe(2), a pipe name for npipe, a socket name for interprocess, a one-shot
//! server name for ipc-channel), and the peer's end, built from that environment.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::process::Child;
use std::task::Poll;

use interprocess::local_socket::{
    prelude::*, GenericNamespaced, ListenerOptions, Stream as IpStream,
};
use interprocess::TryClone;
use ipc_channel::ipc::{self, IpcBytesReceiver, IpcBytesSender, IpcOneShotServer, IpcSender};
use npipe::nonblocking::{ReadOp, Readiness, WriteOp};
use npipe::{AnonReader, ClientOptions, CommandExt, PipeMode, ReadMode, ServerOptions};

use super::peer::{peer_command, Role};
use super::{capi, Transport};

pub(super) const FD_A: &str = "NPIPE_BENCH_FD_A";
pub(super) const FD_B: &str = "NPIPE_BENCH_FD_B";
pub(super) const NAME_VAR: &str = "NPIPE_BENCH_NAME";

/// One message at a time.
pub(super) trait Chan {
    fn send(&mut self, m: &[u8]) -> io::Result<()>;
    /// Receives one message of exactly `buf.len()` bytes.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()>;
}

/// SOCK_SEQPACKET: one record per message; messages above 128 KiB go as 128 KiB records (the
/// default socket buffer cannot hold a larger record).
pub(super) struct SeqChan(pub(super) OwnedFd);

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
pub(super) struct StreamChan<R, W>(pub(super) R, pub(super) W);

impl<R: Read, W: Write> Chan for StreamChan<R, W> {
    fn send(&mut self, m: &[u8]) -> io::Result<()> {
        self.1.write_all(m)
    }
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.0.read_exact(buf)
    }
}

pub(super) struct NpServer(pub(super) npipe::NamedPipeServer);
pub(super) struct NpClient(pub(super) npipe::NamedPipeClient);

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

/// An `npipe::tokio` end on a current-thread runtime of its own: each message is one
/// `block_on` (a write, or a read driven by the reactor).
struct TokioChan<E> {
    rt: tokio::runtime::Runtime,
    end: E,
}

impl<E> TokioChan<E> {
    fn runtime() -> io::Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
    }
}

macro_rules! tokio_chan {
    ($t:ty) => {
        impl Chan for TokioChan<$t> {
            fn send(&mut self, m: &[u8]) -> io::Result<()> {
                use tokio::io::AsyncWriteExt;
                let end = &mut self.end;
                // One write is one message.
                let n = self.rt.block_on(end.write(m))?;
                if n != m.len() {
                    return Err(io::Error::other("npipe tokio: short message write"));
                }
                Ok(())
            }
            fn recv(&mut self, buf: &mut [u8]) -> io::Result<()> {
                let end = &self.end;
                let m = self.rt.block_on(end.read_msg(buf))?;
                if m.read != buf.len() || m.left != 0 {
                    return Err(io::Error::other("npipe tokio: unexpected message length"));
                }
                Ok(())
            }
        }
    };
}
tokio_chan!(npipe::tokio::NamedPipeServer);
tokio_chan!(npipe::tokio::NamedPipeClient);

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

pub(super) fn socketpair(kind: rustix::net::SocketType) -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        kind,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )?)
}

/// A name no other run or job uses.
pub(super) fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "npipe-bench-{tag}-{}-{}",
        std::process::id(),
        // Relaxed: only uniqueness matters, which the atomic read-modify-write gives.
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// An npipe message-pipe server instance at `quota` bytes each way.
pub(super) fn np_server(name: &str, quota: u32) -> io::Result<npipe::NamedPipeServer> {
    ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .read_mode(ReadMode::Message)
        .in_buffer_size(quota)
        .out_buffer_size(quota)
        .create(name)
}

/// Spawns the peer for `t` and returns the parent's end of the channel.
pub(super) fn spawn_with_chan(
    t: Transport,
    role: Role,
    size: usize,
    count: usize,
) -> io::Result<(Box<dyn Chan>, Child)> {
    let mut cmd = peer_command(t, role, size, count)?;
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
        Transport::Npipe(_) | Transport::NpipeNb => {
            let quota = t.quota().map_or(64 << 10, |q| q.bytes());
            let name = format!(r"\\.\pipe\{}", unique("np"));
            let server = np_server(&name, quota)?;
            cmd.env(NAME_VAR, &name);
            let child = cmd.spawn()?;
            server.connect()?;
            if t == Transport::NpipeNb {
                let ready = server.readiness()?;
                return Ok((Box::new(NbChan { end: server, ready }), child));
            }
            Ok((Box::new(NpServer(server)), child))
        }
        Transport::NpipeTokio => {
            let quota = t.quota().map_or(64 << 10, |q| q.bytes());
            let name = format!(r"\\.\pipe\{}", unique("tk"));
            let server = np_server(&name, quota)?;
            cmd.env(NAME_VAR, &name);
            let child = cmd.spawn()?;
            server.connect()?;
            let rt = TokioChan::<()>::runtime()?;
            let end = {
                let _in = rt.enter();
                npipe::tokio::NamedPipeServer::from_std(server)?
            };
            Ok((Box::new(TokioChan { rt, end }), child))
        }
        Transport::NpipeCapi | Transport::NpipeCapiOv => {
            let quota = t.quota().map_or(64 << 10, |q| q.bytes());
            let name = format!(r"\\.\pipe\{}", unique("capi"));
            let mut server =
                capi::Handle::create_server(&name, quota, t == Transport::NpipeCapiOv)?;
            cmd.env(NAME_VAR, &name);
            let child = cmd.spawn()?;
            server.connect()?;
            Ok((Box::new(server), child))
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
        Transport::SpscRing
        | Transport::SpscLocked
        | Transport::PingPong
        | Transport::Memcpy
        | Transport::RingRtt
        | Transport::RingCopy
        | Transport::RingCopyW91 => Err(io::Error::other("a floor has no message channel")),
    }
}

/// The environment variable holding the name the parent chose.
pub(super) fn env_name() -> io::Result<String> {
    std::env::var(NAME_VAR).map_err(|_| io::Error::other(format!("{NAME_VAR} is not set")))
}

/// The peer's end of the channel, built from what the parent put in the environment.
pub(super) fn peer_chan(t: Transport) -> io::Result<Box<dyn Chan>> {
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
        Transport::Npipe(_) => {
            let c = ClientOptions::new().open(&env_name()?)?;
            c.set_mode(ReadMode::Message, false)?;
            Box::new(NpClient(c))
        }
        Transport::NpipeNb => {
            let c = ClientOptions::new().open(&env_name()?)?;
            c.set_mode(ReadMode::Message, false)?;
            let ready = c.readiness()?;
            Box::new(NbChan { end: c, ready })
        }
        Transport::NpipeTokio => {
            let c = ClientOptions::new().open(&env_name()?)?;
            c.set_mode(ReadMode::Message, false)?;
            let rt = TokioChan::<()>::runtime()?;
            let end = {
                let _in = rt.enter();
                npipe::tokio::NamedPipeClient::from_std(c)?
            };
            Box::new(TokioChan { rt, end })
        }
        Transport::NpipeCapi | Transport::NpipeCapiOv => Box::new(capi::Handle::open_client(
            &env_name()?,
            t == Transport::NpipeCapiOv,
        )?),
        Transport::Interprocess => {
            let s = IpStream::connect(env_name()?.to_ns_name::<GenericNamespaced>()?)?;
            let r = s.try_clone()?;
            Box::new(StreamChan(r, s))
        }
        Transport::IpcChannel => {
            let boot = IpcSender::<(IpcBytesSender, IpcBytesReceiver)>::connect(env_name()?)?;
            let (p2c_tx, p2c_rx) = ipc::bytes_channel()?;
            let (c2p_tx, c2p_rx) = ipc::bytes_channel()?;
            boot.send((c2p_tx, p2c_rx))
                .map_err(|e| io::Error::other(format!("ipc-channel: {e:?}")))?;
            Box::new(IpcChan(p2c_tx, c2p_rx))
        }
        Transport::SpscRing
        | Transport::SpscLocked
        | Transport::PingPong
        | Transport::Memcpy
        | Transport::RingRtt
        | Transport::RingCopy
        | Transport::RingCopyW91 => return Err(io::Error::other("a floor has no message channel")),
    })
}

/// Serves `count` connections for the connection benchmark: the peer connects, sends one
/// byte and closes, `count` times; the server side accepts each and reads the byte. Returns
/// when the peer has exited.
pub(super) fn serve_connections(t: Transport, count: usize) -> io::Result<()> {
    let name = unique("conn");
    let mut cmd = peer_command(t, Role::Connect, 1, count)?;
    match t {
        Transport::Npipe(q) => serve_npipe_connections(cmd, &name, q.bytes(), count),
        Transport::SeqPacket | Transport::Stream => {
            let (l, addr) = raw_unix_socket(t, &name)?;
            rustix::net::bind(&l, &addr)?;
            rustix::net::listen(&l, 128)?;
            cmd.env(NAME_VAR, &name);
            let child = cmd.spawn()?;
            let mut b = [0u8; 1];
            for _ in 0..count {
                let c = rustix::net::accept_with(&l, rustix::net::SocketFlags::CLOEXEC)?;
                rustix::net::recv(&c, &mut b, rustix::net::RecvFlags::empty())?;
            }
            super::peer::finish(child)
        }
        Transport::Interprocess => {
            let listener = ListenerOptions::new()
                .name(name.clone().to_ns_name::<GenericNamespaced>()?)
                .create_sync()?;
            cmd.env(NAME_VAR, &name);
            let child = cmd.spawn()?;
            let mut b = [0u8; 1];
            for _ in 0..count {
                let mut s = listener.accept()?;
                s.read_exact(&mut b)?;
            }
            super::peer::finish(child)
        }
        _ => Err(io::Error::other(
            "no connection benchmark for this transport",
        )),
    }
}

/// npipe: ConnectNamedPipe, ReadFile, DisconnectNamedPipe on a pool of instances, one thread
/// each.
fn serve_npipe_connections(
    mut cmd: std::process::Command,
    name: &str,
    quota: u32,
    count: usize,
) -> io::Result<()> {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    const INSTANCES: usize = 4;
    let pipe = format!(r"\\.\pipe\{name}");
    cmd.env(NAME_VAR, &pipe);
    let servers: Vec<_> = (0..INSTANCES)
        .map(|_| {
            ServerOptions::new()
                .max_instances(INSTANCES as u32)
                .in_buffer_size(quota)
                .out_buffer_size(quota)
                .create(&pipe)
        })
        .collect::<io::Result<_>>()?;
    let child = cmd.spawn()?;
    // Relaxed throughout: these counters only steer when the threads stop; the data each
    // connection carries is ordered by the pipe itself.
    let done = AtomicUsize::new(0);
    let exited = AtomicUsize::new(0);
    std::thread::scope(|sc| {
        for s in &servers {
            let (done, exited) = (&done, &exited);
            sc.spawn(move || {
                let mut b = [0u8; 1];
                while done.load(Relaxed) < count {
                    match s.connect() {
                        Ok(_) => {
                            let _ = (&*s).read(&mut b);
                        }
                        // The client connected, wrote and closed before this call
                        // (ConnectNamedPipe then fails like Windows): it was served.
                        Err(e) if npipe::win32_code(&e) == npipe::error::code::ERROR_NO_DATA => {}
                        Err(_) => break,
                    }
                    done.fetch_add(1, Relaxed);
                    let _ = s.disconnect();
                }
                exited.fetch_add(1, Relaxed);
            });
        }
        let r = super::peer::finish(child);
        // Servers still waiting in connect() are released by throwaway clients.
        done.store(count, Relaxed);
        while exited.load(Relaxed) < INSTANCES {
            let _ = ClientOptions::new().open(&pipe);
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        r
    })
}

/// A close-on-exec Unix socket of the raw transport `t` (SEQPACKET or STREAM) and the abstract
/// address `name`, for the connection benchmark's two sides.
fn raw_unix_socket(t: Transport, name: &str) -> io::Result<(OwnedFd, rustix::net::SocketAddrUnix)> {
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

/// The peer's side of the connection benchmark: connects and disconnects `count` times as fast
/// as the server lets it.
pub(super) fn peer_connect(t: Transport, count: usize) -> io::Result<()> {
    let name = env_name()?;
    for _ in 0..count {
        match t {
            Transport::Npipe(_) => loop {
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
