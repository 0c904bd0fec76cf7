//! The `cpu64` scenario: both ends of a transport in this process, driven by one thread that
//! writes a 64 B message and reads it back. With no second CPU there are no cache-line
//! transfers and no wake-ups, so the figure is what the calls themselves cost (handle lookup,
//! locks, bookkeeping, the two copies): the part of a cross-process figure that is this
//! library's own instructions, and a steady measure of the C ABI against the Rust API.

use std::io;
use std::time::Instant;

use npipe::{ClientOptions, ReadMode};

use super::chan::{self, Chan, NpClient, NpServer, SeqChan, StreamChan};
use super::stats::Cell;
use super::{capi, Plan, Transport};

/// Size of each message.
const MSG: usize = 64;

/// Nanoseconds per message (one write and one read) for each repeat of `count` messages.
pub(super) fn one_thread(t: Transport, count: usize, plan: Plan) -> io::Result<Cell> {
    let (mut writer, mut reader) = pair(t)?;
    let msg = [0x5au8; MSG];
    let mut buf = [0u8; MSG];
    let mut values = Vec::with_capacity(plan.reps);
    // One untimed round first: lazily made state (the peer's readiness, caches) is in place.
    writer.send(&msg)?;
    reader.recv(&mut buf)?;
    for _ in 0..plan.reps {
        let t0 = Instant::now();
        for _ in 0..count {
            writer.send(&msg)?;
            reader.recv(&mut buf)?;
        }
        values.push(t0.elapsed().as_nanos() as f64 / count as f64);
    }
    if buf != msg {
        return Err(io::Error::other("cpu64: the message read back differs"));
    }
    Cell::new(values, None).ok_or_else(|| io::Error::other("no valid repeat"))
}

/// Both ends of `t`, connected, in this process: (the end that writes, the end that reads).
fn pair(t: Transport) -> io::Result<(Box<dyn Chan>, Box<dyn Chan>)> {
    Ok(match t {
        Transport::Npipe(q) => {
            let name = format!(r"\\.\pipe\{}", chan::unique("cpu"));
            let server = chan::np_server(&name, q.bytes())?;
            let client = ClientOptions::new().open(&name)?;
            client.set_mode(ReadMode::Message, false)?;
            // The client is already there: ConnectNamedPipe reports it at once.
            server.connect()?;
            (Box::new(NpServer(server)), Box::new(NpClient(client)))
        }
        Transport::NpipeCapi | Transport::NpipeCapiOv => {
            // The overlapped row's calls all complete inside them: what is measured is their
            // own cost (the OVERLAPPED's status words, its event reset and set).
            let ov = t == Transport::NpipeCapiOv;
            let name = format!(r"\\.\pipe\{}", chan::unique("cpu-capi"));
            let mut server = capi::Handle::create_server(&name, 64 << 10, ov)?;
            let client = capi::Handle::open_client(&name, ov)?;
            server.connect()?;
            (Box::new(server), Box::new(client))
        }
        Transport::SeqPacket => {
            let (a, b) = chan::socketpair(rustix::net::SocketType::SEQPACKET)?;
            (Box::new(SeqChan(a)), Box::new(SeqChan(b)))
        }
        Transport::Stream => {
            let (a, b) = chan::socketpair(rustix::net::SocketType::STREAM)?;
            let end = |fd: std::os::fd::OwnedFd| -> io::Result<Box<dyn Chan>> {
                let r = std::fs::File::from(fd.try_clone()?);
                Ok(Box::new(StreamChan(r, std::fs::File::from(fd))))
            };
            (end(a)?, end(b)?)
        }
        Transport::Pipe => {
            let (r1, w1) = io::pipe()?;
            let (r2, w2) = io::pipe()?;
            (Box::new(StreamChan(r2, w1)), Box::new(StreamChan(r1, w2)))
        }
        other => {
            return Err(io::Error::other(format!(
                "{} has no one-thread loopback",
                other.label()
            )))
        }
    })
}
