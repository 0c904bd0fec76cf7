//! The peer process: this binary re-run as `npipe __bench-peer TRANSPORT ROLE SIZE COUNT`, and
//! the parent's helpers that spawn it and reap it.
//!
//! Protocol of the channel roles: the parent runs one repeat of `COUNT` operations, then sends
//! one byte, 1 for another repeat or 0 to stop. `sink` acknowledges each repeat with one byte
//! once it has read every message. The floors (`floors.rs`) speak through shared memory instead.

use std::io;
use std::process::{Child, Command, Stdio};

use clap::{Args, ValueEnum};

use super::chan::{self, Chan};
use super::{floors, Transport};

/// What the peer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Role {
    /// Sends every message back.
    Echo,
    /// Reads every message; acknowledges each repeat.
    Sink,
    /// Connects, writes one byte and closes, COUNT times.
    Connect,
}

/// `__bench-peer TRANSPORT ROLE SIZE COUNT`.
#[derive(Debug, Args)]
pub(crate) struct PeerArgs {
    #[arg(value_enum)]
    transport: Transport,
    #[arg(value_enum)]
    role: Role,
    size: usize,
    count: usize,
}

/// The command that runs the peer for (`t`, `role`); the caller adds what the transport needs.
pub(super) fn peer_command(
    t: Transport,
    role: Role,
    size: usize,
    count: usize,
) -> io::Result<Command> {
    let role = role
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default();
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args([
        "__bench-peer",
        t.key(),
        &role,
        &size.to_string(),
        &count.to_string(),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null());
    if let Some(cpu) = floors::peer_cpu() {
        cmd.env(floors::CPU_VAR, cpu.to_string());
    }
    Ok(cmd)
}

/// Control bytes the parent sends a message peer before each repeat: the end, a wake-up the
/// peer answers at once, or a repeat that follows.
pub(super) const STOP: u8 = 0;
pub(super) const REPEAT: u8 = 1;
pub(super) const WAKE: u8 = 2;

/// Sends the stop byte and reaps the peer.
pub(super) fn stop(chan: &mut dyn Chan, child: Child) -> io::Result<()> {
    chan.send(&[STOP])?;
    finish(child)
}

/// Reaps the peer; a failed peer fails the cell.
pub(super) fn finish(mut child: Child) -> io::Result<()> {
    let st = child.wait()?;
    if !st.success() {
        return Err(io::Error::other(format!("bench peer failed: {st}")));
    }
    Ok(())
}

/// The peer process.
pub(crate) fn peer_main(args: &PeerArgs) -> io::Result<()> {
    let &PeerArgs {
        transport: t,
        role,
        size,
        count,
    } = args;
    if !t.is_floor() {
        floors::pin_peer()?;
    }
    match (t, role) {
        (Transport::SpscRing, _) => return floors::spsc_peer::<false>(),
        (Transport::SpscLocked, _) => return floors::spsc_peer::<true>(),
        (Transport::PingPong, _) => return floors::ping_pong_peer(),
        (Transport::RingRtt, _) => return floors::ring_echo_peer(),
        (Transport::RingCopy | Transport::RingCopyW91, _) => return floors::ring_copy_peer(size),
        (_, Role::Connect) => return chan::peer_connect(t, count),
        _ => {}
    }
    let mut chan = chan::peer_chan(t)?;
    let mut buf = vec![0u8; size];
    let mut more = [0u8; 1];
    loop {
        // Before each repeat, a control byte: STOP, WAKE (answered at once; the parent sends
        // it after a floor repeat, so the repeat does not begin with a sleeping peer) or
        // REPEAT.
        chan.recv(&mut more)?;
        match more[0] {
            STOP => return Ok(()),
            WAKE => {
                chan.send(&[WAKE])?;
                continue;
            }
            _ => {}
        }
        match role {
            Role::Echo => {
                for _ in 0..count {
                    chan.recv(&mut buf)?;
                    chan.send(&buf)?;
                }
            }
            _ => {
                for _ in 0..count {
                    chan.recv(&mut buf)?;
                }
                chan.send(&[1])?;
            }
        }
    }
}
