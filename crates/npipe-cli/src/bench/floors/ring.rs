//! The ring floors: the busy round trip and throughput through a bare shared-memory ring, the
//! protocol under every shared-memory transport, and nothing else. Both sides spin, pinned to
//! two CPUs; there is no lock, wake-up, framing or check of the kind a real transport needs.
//! - `ring-rtt` (busy round trip): a 64 B record each way, through one ring per direction. A
//!   hand-off moves two cache lines from one CPU to the other: the cursor the reader watches,
//!   then the record (the ping-pong floor moves one line, and carries no data).
//! - `ring-copy` (throughput): messages copied into a 4 MiB ring in 16 KiB pieces, each
//!   published as soon as it is written, and copied out by the peer as the pieces arrive: one
//!   copy per CPU, in parallel, the second reading what the other CPU wrote (the memcpy floor
//!   reads what its own CPU wrote).
//! - `ring-copy-w91` (throughput): the same, with writes that complete as Windows' do (W91):
//!   after each message the producer waits until at most [`W91_QUOTA`] bytes of it are
//!   unread, as a blocking write at that quota must before the next one can start.
//!
//! What separates a transport from these floors is its own software; what separates these
//! floors from the hardware floors is the cost of the transfer between two CPUs.
//!
//! # Safety
//!
//! As in the parent module: the mapping's invariants 1 to 3. Record and data bytes are only
//! copied through raw pointers, in the parts of the ring the protocol hands to the copying side.
#![allow(unsafe_code)]

use std::io;
use std::ptr;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::{open_peer, peer_idle, with_peer, with_sized_peer, RECORD, SLOTS};
use crate::bench::stats::{Cell, RoundTrips};
use crate::bench::{Plan, Scenario, Transport};

/// The copy ring's size: npipe's ring for large messages (`SPILL_RING`) is the same.
pub(in crate::bench) const COPY_RING: usize = 4 << 20;
/// What the producer copies in before it publishes (on a 2-vCPU VM, 16 and 64 KiB pieces
/// measured the same).
const COPY_PIECE: usize = 16 << 10;
/// The quota of `ring-copy-w91`: the middle npipe row's (4 and 256 KiB measured the same).
pub(in crate::bench) const W91_QUOTA: u64 = 64 << 10;
/// Record slots per direction of the round-trip rings (the two share the floor's slots).
const HALF: u64 = SLOTS / 2;

/// Busy 64 B round trips through two bare rings, in microseconds per round trip per repeat,
/// with every round trip in the histogram.
pub(in crate::bench) fn ring_rtt(plan: Plan, rtts: &mut RoundTrips) -> io::Result<Cell> {
    let count = Scenario::Rtt.count(plan.quick);
    let values = with_peer(Transport::RingRtt, |m, w| {
        let s = m.shared();
        let msg = [0x5au8; RECORD];
        let mut buf = [0u8; RECORD];
        let mut pos = 0u64;
        let mut values = Vec::with_capacity(plan.reps);
        for _ in 0..plan.reps {
            let t0 = Instant::now();
            let mut prev = t0;
            for _ in 0..count {
                // SAFETY: the slot of `pos` in the outbound ring is the parent's alone: the
                // peer read the record it last held before answering it, and it reads no
                // record at or past `pos` until the store below publishes it.
                unsafe { ptr::copy_nonoverlapping(msg.as_ptr(), m.slot(pos % HALF), RECORD) };
                pos += 1;
                // SYNC POINT with the tail load in `ring_echo_peer`: publishes the record.
                s.tail.0.store(pos, Ordering::Release);
                w.wait_until(|| {
                    // SYNC POINT with the `back` store in `ring_echo_peer`: the answer is
                    // written.
                    let back = s.back.0.load(Ordering::Acquire);
                    if back > pos {
                        return Err(io::Error::other(
                            "floor: the peer wrote an impossible ring position",
                        ));
                    }
                    Ok(back == pos)
                })?;
                // SAFETY: the answer's slot was published by the store awaited above, and the
                // peer writes it again only after the parent's next record.
                unsafe {
                    ptr::copy_nonoverlapping(
                        m.slot(HALF + (pos - 1) % HALF),
                        buf.as_mut_ptr(),
                        RECORD,
                    )
                };
                std::hint::black_box(&mut buf);
                let now = Instant::now();
                rtts.record(now - prev);
                prev = now;
            }
            values.push((prev - t0).as_secs_f64() * 1e6 / count as f64);
        }
        Ok(values)
    })?;
    Cell::new(values, Some(rtts)).ok_or_else(|| io::Error::other("no repeats"))
}

/// The answering side of [`ring_rtt`]: copies each record out and writes it back through the
/// other ring, until told to stop.
pub(in crate::bench) fn ring_echo_peer() -> io::Result<()> {
    let (m, shared_cpu) = open_peer()?;
    let s = m.shared();
    let mut buf = [0u8; RECORD];
    let mut seen = 0u64;
    let mut spins = 0u32;
    loop {
        // SYNC POINT with the tail store in `ring_rtt`: the record before `tail` is written.
        let tail = s.tail.0.load(Ordering::Acquire);
        if tail == seen {
            if peer_idle(s, &mut spins, shared_cpu) {
                return Ok(());
            }
            continue;
        }
        spins = 0;
        if tail != seen + 1 {
            return Err(io::Error::other(
                "floor: the parent wrote an impossible ring position",
            ));
        }
        // SAFETY: the record of `seen` is published (`tail` passed it) and the parent writes
        // its slot again only after this answer; the answer's slot is the peer's alone until
        // the `back` store publishes it, and the parent reads it once, before its next record.
        unsafe {
            ptr::copy_nonoverlapping(m.slot(seen % HALF), buf.as_mut_ptr(), RECORD);
            ptr::copy_nonoverlapping(buf.as_ptr(), m.slot(HALF + seen % HALF), RECORD);
        }
        seen = tail;
        // SYNC POINT with the `back` load in `ring_rtt`: the answer is written.
        s.back.0.store(seen, Ordering::Release);
    }
}

/// The mapping of the copy ring.
const COPY_LEN: usize = super::MAX_LEN;

/// `size`-byte messages through the bare copy ring, in GB/s per repeat; with `quota`, each
/// message is complete only once at most `quota` bytes of it are unread (W91).
pub(in crate::bench) fn ring_copy(
    size: usize,
    count: usize,
    quota: Option<u64>,
    plan: Plan,
) -> io::Result<Cell> {
    let ring = COPY_RING as u64;
    let t = if quota.is_some() {
        Transport::RingCopyW91
    } else {
        Transport::RingCopy
    };
    let values = with_sized_peer(t, COPY_LEN, size, |m, w| {
        let s = m.shared();
        let src = vec![0x5au8; size];
        let (mut tail, mut head_seen) = (0u64, 0u64);
        let mut values = Vec::with_capacity(plan.reps);
        for _ in 0..plan.reps {
            let t0 = Instant::now();
            for _ in 0..count {
                let mut done = 0;
                while done < size {
                    let at = (tail % ring) as usize;
                    let n = COPY_PIECE.min(size - done).min(COPY_RING - at);
                    if tail + n as u64 - head_seen > ring {
                        w.wait_until(|| {
                            // SYNC POINT with the head store in `ring_copy_peer`: the bytes
                            // before `head` have been copied out and may be overwritten.
                            head_seen = checked_bytes(s.head.0.load(Ordering::Acquire), tail)?;
                            Ok(tail + n as u64 - head_seen <= ring)
                        })?;
                    }
                    let piece = &src[done..done + n];
                    // SAFETY: ring bytes `tail..tail + n` are the producer's alone: what they
                    // last held was copied out (`head_seen >= tail + n - ring`, ensured above),
                    // and the peer reads nothing at or past `tail` until the store below
                    // publishes it. `Mapping::area` checks they lie inside the mapping.
                    unsafe { ptr::copy_nonoverlapping(piece.as_ptr(), m.area(at, n), n) };
                    done += n;
                    tail += n as u64;
                    // SYNC POINT with the tail load in `ring_copy_peer`: publishes the piece.
                    s.tail.0.store(tail, Ordering::Release);
                }
                if let Some(q) = quota.filter(|&q| tail - head_seen > q) {
                    w.wait_until(|| {
                        // SYNC POINT with the head store in `ring_copy_peer`: all but `q`
                        // bytes of the message have been copied out.
                        head_seen = checked_bytes(s.head.0.load(Ordering::Acquire), tail)?;
                        Ok(tail - head_seen <= q)
                    })?;
                }
            }
            // The repeat ends when the peer has copied every byte out.
            w.wait_until(|| {
                // SYNC POINT with the head store in `ring_copy_peer`: every byte was consumed.
                head_seen = checked_bytes(s.head.0.load(Ordering::Acquire), tail)?;
                Ok(head_seen == tail)
            })?;
            values.push((count * size) as f64 / t0.elapsed().as_secs_f64() / 1e9);
        }
        Ok(values)
    })?;
    Cell::new(values, None).ok_or_else(|| io::Error::other("no repeats"))
}

/// A consumer byte position the peer wrote, checked against the producer's (invariant 3).
fn checked_bytes(head: u64, tail: u64) -> io::Result<u64> {
    if head > tail || tail - head > COPY_RING as u64 {
        return Err(io::Error::other(
            "floor: the peer wrote an impossible ring position",
        ));
    }
    Ok(head)
}

/// The consumer of the copy ring: copies `size`-byte messages out as their pieces arrive,
/// until told to stop.
pub(in crate::bench) fn ring_copy_peer(size: usize) -> io::Result<()> {
    if size == 0 {
        return Err(io::Error::other("floor: a copy ring of empty messages"));
    }
    let (m, shared_cpu) = open_peer()?;
    let s = m.shared();
    let ring = COPY_RING as u64;
    let mut dst = vec![0u8; size];
    let (mut head, mut tail_seen, mut got) = (0u64, 0u64, 0usize);
    let mut spins = 0u32;
    loop {
        if head == tail_seen {
            // SYNC POINT with the tail store in `ring_copy`: the bytes before `tail` are
            // written.
            tail_seen = s.tail.0.load(Ordering::Acquire);
            if tail_seen == head {
                if peer_idle(s, &mut spins, shared_cpu) {
                    return Ok(());
                }
                continue;
            }
            spins = 0;
            if tail_seen < head || tail_seen - head > ring {
                return Err(io::Error::other(
                    "floor: the parent wrote an impossible ring position",
                ));
            }
        }
        let at = (head % ring) as usize;
        let n = ((tail_seen - head) as usize)
            .min(size - got)
            .min(COPY_RING - at);
        let out = &mut dst[got..got + n];
        // SAFETY: ring bytes `head..head + n` are published (`tail_seen` passed them) and the
        // parent overwrites them only after the head store below passes them.
        // `Mapping::area` checks they lie inside the mapping.
        unsafe { ptr::copy_nonoverlapping(m.area(at, n), out.as_mut_ptr(), n) };
        got += n;
        head += n as u64;
        // SYNC POINT with the head loads in `ring_copy`: the bytes before `head` are free.
        s.head.0.store(head, Ordering::Release);
        if got == size {
            std::hint::black_box(&mut dst);
            got = 0;
        }
    }
}
