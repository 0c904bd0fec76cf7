//! The floors: the fastest this machine moves the same bytes, measured in the same run as the
//! rows they divide.
//! - `spsc-ring` (64 B rate): a bare single-producer/single-consumer ring of 64 B records in a
//!   shared memfd mapping, the parent producing and the peer process consuming, both spinning.
//!   Each side caches the other's index and rereads it only when the ring looks full (empty).
//! - `ping-pong` (busy round trip): the parent and the peer process flip one shared cache line,
//!   both spinning; each round trip is timed exactly as the message round trips are.
//! - `memcpy` (throughput): one process copying each message size between two buffers.
//!
//! Two more, in `ring`, are the same transfers through a bare shared-memory ring (a cursor and
//! the bytes), the protocol every shared-memory transport builds on: what is left between
//! them and the hardware floors above is the cost of crossing between two CPUs, not software.
//! The rate's own ring floor, `spsc-locked`, is the SPSC ring above with one uncontended lock
//! per side taken and released around each record (a compare-exchange and an exchange, as a
//! futex lock is taken and released): the floor of a design that serialises each side's
//! callers (a pipe end may be shared by threads and processes) with such a lock, as npipe does.
//!
//! This file owns the shared mapping, the pinning of both processes and the peer plumbing,
//! the three hardware floors, and `spsc-locked`, which shares the SPSC ring's code.
//!
//! # Safety
//!
//! The only `unsafe` here maps, reads, writes and unmaps the shared mapping. Module invariants:
//! 1. A [`Mapping`] owns `[ptr, ptr + len)` from its `mmap` to the `munmap` in `Drop`; the
//!    memfd behind it is `len` bytes long (set before mapping by the creator, checked by the
//!    peer), `len` is at least [`LEN`], and the address is page-aligned, which satisfies
//!    `Shared`'s alignment.
//! 2. `Shared` holds only atomics, so a `&Shared` is sound even while the peer writes it. The
//!    record bytes, which the peer writes too, are never referenced: they are copied in or out
//!    through raw pointers, only in slots the ring protocol hands to the copying side.
//! 3. Every index the peer writes is checked against the ring's bounds before it is trusted.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::process::Child;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use npipe::CommandExt;

use super::chan::FD_A;
use super::peer::{finish, peer_command, Role};
use super::stats::{Cell, RoundTrips};
use super::{Plan, Scenario, Transport};

mod ring;
pub(super) use ring::{ring_copy, ring_copy_peer, ring_echo_peer, ring_rtt, W91_QUOTA};

const MAGIC: u64 = u64::from_le_bytes(*b"npbfloor");
const VERSION: u64 = 3;
/// Ring records: 64 B each, 1024 of them (64 KiB, the middle npipe quota).
const RECORD: usize = 64;
const SLOTS: u64 = 1024;
/// The consumer publishes its position every this many records (see `spsc_peer`).
const HEAD_BATCH: u64 = 16;
/// Spin-loop hints the consumer waits after finding the ring empty (see `spsc_peer`).
const EMPTY_BACKOFF: u32 = 32;
/// Where the records start: after the header, on a cache-line boundary.
const RECORDS_OFF: usize = size_of::<Shared>().next_multiple_of(128);
/// The mapping of the SPSC ring and ping-pong floors; the ring floors map more (`ring`).
const LEN: usize = RECORDS_OFF + RECORD * SLOTS as usize;
/// The largest mapping a floor makes (checked by the peer before it maps).
const MAX_LEN: usize = RECORDS_OFF + ring::COPY_RING;
/// How long a cell may spin waiting for its peer before it gives up.
const CELL_DEADLINE: Duration = Duration::from_secs(120);

/// A value alone in its 128-byte line pair (the adjacent-line prefetcher pulls lines in pairs).
#[repr(C, align(128))]
struct Padded<T>(T);

/// The shared mapping's header; the ring records follow it at `RECORDS_OFF`.
#[repr(C)]
struct Shared {
    /// `MAGIC`, `VERSION` and the mapping's length: written by the creator before the peer exists.
    magic: AtomicU64,
    version: AtomicU64,
    len: AtomicU64,
    /// Set to 1 by the peer once it has mapped the memory and is spinning.
    ready: AtomicU64,
    /// Records the consumer (the peer) has copied out.
    head: Padded<AtomicU64>,
    /// Records the producer (the parent) has written.
    tail: Padded<AtomicU64>,
    /// The ring round trip's answers: records the peer has written back (`ring`).
    back: Padded<AtomicU64>,
    /// The ping-pong line: odd values are pings from the parent, even values pongs.
    line: Padded<AtomicU64>,
    /// Set to 1 by the parent when the peer must exit.
    stop: Padded<AtomicU64>,
    /// The locks of `spsc-locked`: the producer's and the consumer's, each taken only by its
    /// own side (see [`SideLock`]).
    producer_lock: Padded<AtomicU32>,
    consumer_lock: Padded<AtomicU32>,
}

/// One side's lock of `spsc-locked`, taken and released around each record as a futex lock
/// is: a compare-exchange from free to held, and an exchange back whose old value says
/// whether a waiter must be woken. Only its own side takes it, so it is never contended and
/// its line never leaves that side's CPU: what it costs is the two locked instructions, each
/// of which (on x86) waits until the side's earlier stores, the record's among them, are
/// done.
struct SideLock<'a>(&'a AtomicU32);

impl SideLock<'_> {
    fn lock(&self) -> io::Result<()> {
        self.0
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .map(drop)
            .map_err(|_| io::Error::other("floor: a side's lock was found held"))
    }

    fn unlock(&self) -> io::Result<()> {
        // SeqCst: the exchange a futex unlock makes (its old value tells of waiters); on x86
        // a locked instruction, as npipe's ring lock's release is.
        match self.0.swap(0, Ordering::SeqCst) {
            1 => Ok(()),
            _ => Err(io::Error::other("floor: a side's lock was released unheld")),
        }
    }
}

/// An `mmap` of a floor's memfd (invariant 1).
struct Mapping {
    ptr: NonNull<Shared>,
    len: usize,
}

impl Mapping {
    /// A fresh zeroed memfd of `len` bytes (`LEN..=MAX_LEN`), mapped, with its header written.
    fn create(len: usize) -> io::Result<(Mapping, OwnedFd)> {
        assert!(
            (LEN..=MAX_LEN).contains(&len),
            "floor mapping size out of range"
        );
        let fd = rustix::fs::memfd_create("npipe-bench-floor", rustix::fs::MemfdFlags::CLOEXEC)?;
        rustix::fs::ftruncate(&fd, len as u64)?;
        let m = Mapping::map(&fd, len)?;
        let s = m.shared();
        // Relaxed: the peer is spawned after these stores, and process creation orders them
        // before anything the peer does.
        s.magic.store(MAGIC, Ordering::Relaxed);
        s.version.store(VERSION, Ordering::Relaxed);
        s.len.store(len as u64, Ordering::Relaxed);
        Ok((m, fd))
    }

    /// The peer's mapping of the memfd the parent created, after checking its size and header.
    fn open(fd: &OwnedFd) -> io::Result<Mapping> {
        let len = usize::try_from(rustix::fs::fstat(fd)?.st_size)
            .ok()
            .filter(|l| (LEN..=MAX_LEN).contains(l))
            .ok_or_else(|| io::Error::other("floor: the shared memory has the wrong size"))?;
        let m = Mapping::map(fd, len)?;
        let s = m.shared();
        // Relaxed: written before this process was spawned (see `create`).
        let ok = s.magic.load(Ordering::Relaxed) == MAGIC
            && s.version.load(Ordering::Relaxed) == VERSION
            && s.len.load(Ordering::Relaxed) == len as u64;
        if !ok {
            return Err(io::Error::other(
                "floor: the shared memory has a foreign header",
            ));
        }
        Ok(m)
    }

    fn map(fd: &OwnedFd, len: usize) -> io::Result<Mapping> {
        // SAFETY:
        // 1. A null hint lets the kernel choose a fresh range, so no existing memory is replaced.
        // 2. The file is `len` bytes long (set by `create`, checked by `open`), so every mapped
        //    page is backed; the mapping stays valid until `Drop` unmaps it.
        let p = unsafe {
            rustix::mm::mmap(
                ptr::null_mut(),
                len,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::SHARED,
                fd,
                0,
            )
        }?;
        let ptr = NonNull::new(p.cast::<Shared>())
            .ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Mapping { ptr, len })
    }

    fn shared(&self) -> &Shared {
        // SAFETY:
        // 1. `ptr` is valid for `len >= size_of::<Shared>()` bytes and page-aligned (invariant 1).
        // 2. A zero-filled or peer-written `Shared` is valid: every field is an atomic integer,
        //    for which any bit pattern is valid, and atomics may be shared across processes.
        unsafe { self.ptr.as_ref() }
    }

    /// The record slot of ring position `pos`.
    fn slot(&self, pos: u64) -> *mut u8 {
        let index = (pos % SLOTS) as usize;
        // SAFETY: `RECORDS_OFF + index * RECORD + RECORD <= LEN <= len`, so the result and the
        // record it starts lie inside the mapping (invariant 1).
        unsafe {
            self.ptr
                .as_ptr()
                .cast::<u8>()
                .add(RECORDS_OFF + index * RECORD)
        }
    }

    /// The byte at offset `off` of the area after the header (`RECORDS_OFF`), where `n` bytes
    /// from it lie inside the mapping (checked).
    fn area(&self, off: usize, n: usize) -> *mut u8 {
        assert!(
            RECORDS_OFF + off + n <= self.len,
            "floor: a copy past the end of the mapping"
        );
        // SAFETY: `RECORDS_OFF + off + n <= len` (checked above), so the result and the `n`
        // bytes it starts lie inside the mapping (invariant 1).
        unsafe { self.ptr.as_ptr().cast::<u8>().add(RECORDS_OFF + off) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `len` are exactly what `map` mapped, and no reference into the
        // mapping outlives `self` (`shared` borrows it).
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// The parent's watch on a spinning wait: fails when the peer exits or the cell overruns.
struct Watch<'a> {
    child: &'a mut Child,
    deadline: Instant,
    /// Whether both sides run on one CPU (see [`idle`]).
    shared_cpu: bool,
}

impl Watch<'_> {
    /// Spins until `done` returns true.
    fn wait_until(&mut self, mut done: impl FnMut() -> io::Result<bool>) -> io::Result<()> {
        let mut spins = 0u32;
        while !done()? {
            spins = spins.wrapping_add(1);
            idle(spins, self.shared_cpu);
            if spins & 0xffff == 0 {
                if let Some(st) = self.child.try_wait()? {
                    return Err(io::Error::other(format!("floor peer exited: {st}")));
                }
                if Instant::now() > self.deadline {
                    return Err(io::Error::other("floor peer stopped answering"));
                }
            }
        }
        Ok(())
    }
}

/// One turn of a spinning wait that has gone `spins` turns without progress. When both sides
/// share one CPU (a 1-CPU machine: no pinning), every 4,000 turns give the CPU away once, to
/// the side that can make progress. Pinned to two CPUs, yielding would only hand the core to
/// unrelated work, so the wait spins.
fn idle(spins: u32, shared_cpu: bool) {
    if shared_cpu && spins & 0xfff == 0 {
        std::thread::yield_now();
    } else {
        std::hint::spin_loop();
    }
}

/// One turn of a peer's wait that found nothing new, its `spins`-th in a row: true when the
/// parent has told the peer to stop (looked at every 256 turns).
fn peer_idle(s: &Shared, spins: &mut u32, shared_cpu: bool) -> bool {
    *spins = spins.wrapping_add(1);
    // Relaxed: a flag only; nothing is read after it.
    if *spins & 0xff == 0 && s.stop.0.load(Ordering::Relaxed) != 0 {
        return true;
    }
    idle(*spins, shared_cpu);
    false
}

/// The environment variable naming the CPU the floor's peer pins itself to.
pub(super) const CPU_VAR: &str = "NPIPE_BENCH_CPU";

/// The two CPUs a floor spins on: the first two this process may run on, if it may run on two.
/// Pinning makes sure both spinning sides have a core each (the floors assume it), rather than
/// the scheduler stacking them on one core while other work runs on the other. Decided on the
/// first call, before anything is pinned: a floor repeat run next to a message row, whose
/// thread is pinned to one of the two already, pins the same way as the floor's own row.
pub(super) fn floor_cpus() -> Option<(usize, usize)> {
    static CPUS: std::sync::OnceLock<Option<(usize, usize)>> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| {
        let set = rustix::thread::sched_getaffinity(None).ok()?;
        let mut cpus = (0..rustix::thread::CpuSet::MAX_CPU).filter(|&c| set.is_set(c));
        Some((cpus.next()?, cpus.next()?))
    })
}

/// While alive, the calling thread runs on one CPU and peers started by `peer_command` pin
/// themselves to another; dropping it restores the thread's CPUs.
pub(super) struct Pinned {
    saved: rustix::thread::CpuSet,
}

/// The CPU the next peers pin themselves to (`usize::MAX`: none).
static PEER_CPU: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(usize::MAX);

impl Pinned {
    pub(super) fn new(mine: usize, peers: usize) -> io::Result<Pinned> {
        let saved = rustix::thread::sched_getaffinity(None)?;
        pin(mine)?;
        PEER_CPU.store(peers, std::sync::atomic::Ordering::Relaxed);
        Ok(Pinned { saved })
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        PEER_CPU.store(usize::MAX, std::sync::atomic::Ordering::Relaxed);
        let _ = rustix::thread::sched_setaffinity(None, &self.saved);
    }
}

/// The CPU a peer about to start should pin itself to, if any (see [`Pinned`]).
pub(super) fn peer_cpu() -> Option<usize> {
    let c = PEER_CPU.load(std::sync::atomic::Ordering::Relaxed);
    (c != usize::MAX).then_some(c)
}

/// Pins the calling thread of a peer to the CPU its parent named, if it named one.
pub(super) fn pin_peer() -> io::Result<()> {
    if let Ok(cpu) = std::env::var(CPU_VAR) {
        pin(cpu
            .parse()
            .map_err(|_| io::Error::other(format!("{CPU_VAR}={cpu:?} is not a CPU number")))?)?;
    }
    Ok(())
}

/// Pins the calling thread to `cpu`.
fn pin(cpu: usize) -> io::Result<()> {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    Ok(rustix::thread::sched_setaffinity(None, &set)?)
}

/// Runs a floor's parent side: spawns the peer on a fresh mapping (the two pinned to two
/// CPUs), waits until it is ready, runs `body`, then stops and reaps the peer (killing it if
/// `body` failed) and unpins.
fn with_peer<T>(
    t: Transport,
    body: impl FnOnce(&Mapping, &mut Watch<'_>) -> io::Result<T>,
) -> io::Result<T> {
    with_sized_peer(t, LEN, RECORD, body)
}

/// [`with_peer`] on a mapping of `len` bytes, the peer told to move `size`-byte messages.
fn with_sized_peer<T>(
    t: Transport,
    len: usize,
    size: usize,
    body: impl FnOnce(&Mapping, &mut Watch<'_>) -> io::Result<T>,
) -> io::Result<T> {
    let saved = rustix::thread::sched_getaffinity(None)?;
    let r = pinned_peer(t, len, size, body);
    rustix::thread::sched_setaffinity(None, &saved)?;
    r
}

fn pinned_peer<T>(
    t: Transport,
    len: usize,
    size: usize,
    body: impl FnOnce(&Mapping, &mut Watch<'_>) -> io::Result<T>,
) -> io::Result<T> {
    let (m, fd) = Mapping::create(len)?;
    let mut cmd = peer_command(t, Role::Sink, size, 0)?;
    cmd.pass_fd(fd.as_fd(), 3, FD_A)?;
    let cpus = floor_cpus();
    if let Some((mine, peers)) = cpus {
        pin(mine)?;
        cmd.env(CPU_VAR, peers.to_string());
    }
    let mut child = cmd.spawn()?;
    drop(cmd);
    let s = m.shared();
    let r = {
        let mut w = Watch {
            child: &mut child,
            deadline: Instant::now() + CELL_DEADLINE,
            shared_cpu: cpus.is_none(),
        };
        // SYNC POINT with the store in `open_peer`: the peer has mapped the memory.
        w.wait_until(|| Ok(s.ready.load(Ordering::Acquire) != 0))
            .and_then(|()| body(&m, &mut w))
    };
    // Relaxed: a flag only; the peer reads nothing else after it.
    s.stop.0.store(1, Ordering::Relaxed);
    match r {
        Ok(v) => finish(child).map(|()| v),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        }
    }
}

/// The peer's side of a floor: its mapping, announced as ready, and whether it shares its CPU
/// with the parent (no CPU to pin to was given).
fn open_peer() -> io::Result<(Mapping, bool)> {
    // The peer dies with the parent instead of spinning on alone.
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
    pin_peer()?;
    let var = std::env::var(FD_A).map_err(|_| io::Error::other(format!("{FD_A} is not set")))?;
    let n: u32 = var
        .parse()
        .map_err(|_| io::Error::other(format!("{FD_A}={var:?} is not a descriptor")))?;
    // The inherited descriptor is reopened by path, which needs no unsafe adoption of a raw fd.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/proc/self/fd/{n}"))?;
    let m = Mapping::open(&OwnedFd::from(file))?;
    // SYNC POINT with the load in `with_peer`: the mapping is in place.
    m.shared().ready.store(1, Ordering::Release);
    Ok((m, std::env::var(CPU_VAR).is_err()))
}

/// The 64 B rate through the bare ring, in M msg/s per repeat; with `LOCKED`, each side takes
/// and releases its lock around each record (`spsc-locked`). A constant, so the bare ring's
/// loop carries no trace of the lock.
pub(super) fn spsc_rate<const LOCKED: bool>(plan: Plan) -> io::Result<Cell> {
    let count = Scenario::Rate.count(plan.quick) as u64;
    let t = if LOCKED {
        Transport::SpscLocked
    } else {
        Transport::SpscRing
    };
    let values = with_peer(t, |m, w| {
        let s = m.shared();
        let lock = SideLock(&s.producer_lock.0);
        let msg = [0x5au8; RECORD];
        let (mut tail, mut head_seen) = (0u64, 0u64);
        let mut values = Vec::with_capacity(plan.reps);
        for _ in 0..plan.reps {
            let t0 = Instant::now();
            for _ in 0..count {
                if LOCKED {
                    lock.lock()?;
                }
                if tail - head_seen >= SLOTS {
                    w.wait_until(|| {
                        // SYNC POINT with the head store in `spsc_peer`: the records before
                        // `head` have been copied out, so their slots may be overwritten.
                        head_seen = checked(s.head.0.load(Ordering::Acquire), tail)?;
                        Ok(tail - head_seen < SLOTS)
                    })?;
                }
                // SAFETY: the slot of `tail` is the producer's alone: the record it last held,
                // `tail - SLOTS`, was copied out (`head_seen > tail - SLOTS`, ensured above),
                // and the consumer reads no record at or past `tail` until the store below
                // publishes it. The slot lies inside the mapping (`Mapping::slot`).
                unsafe { ptr::copy_nonoverlapping(msg.as_ptr(), m.slot(tail), RECORD) };
                tail += 1;
                // SYNC POINT with the tail load in `spsc_peer`: publishes the record written.
                s.tail.0.store(tail, Ordering::Release);
                if LOCKED {
                    lock.unlock()?;
                }
            }
            // The repeat ends when the consumer has copied every record out.
            w.wait_until(|| {
                // SYNC POINT with the head store in `spsc_peer`: every record was consumed.
                head_seen = checked(s.head.0.load(Ordering::Acquire), tail)?;
                Ok(head_seen == tail)
            })?;
            values.push(count as f64 / t0.elapsed().as_secs_f64() / 1e6);
        }
        Ok(values)
    })?;
    Cell::new(values, None).ok_or_else(|| io::Error::other("no repeats"))
}

/// A consumer position the peer wrote, checked against the producer's (invariant 3).
fn checked(head: u64, tail: u64) -> io::Result<u64> {
    if head > tail || tail - head > SLOTS {
        return Err(io::Error::other(
            "floor: the peer wrote an impossible ring position",
        ));
    }
    Ok(head)
}

/// The consumer of the bare ring: copies each record out until told to stop; with `LOCKED`,
/// under its lock, taken and released around each record.
pub(super) fn spsc_peer<const LOCKED: bool>() -> io::Result<()> {
    let (m, shared_cpu) = open_peer()?;
    let s = m.shared();
    let lock = SideLock(&s.consumer_lock.0);
    let mut buf = [0u8; RECORD];
    let (mut head, mut tail_seen) = (0u64, 0u64);
    let mut spins = 0u32;
    loop {
        if head == tail_seen {
            // SYNC POINT with the tail store in `spsc_rate`: the records before `tail` are
            // written.
            tail_seen = s.tail.0.load(Ordering::Acquire);
            if tail_seen == head {
                if peer_idle(s, &mut spins, shared_cpu) {
                    return Ok(());
                }
                // Found empty: let the producer run ahead before looking again, so the tail's
                // line moves once per batch of records instead of once per record (when the
                // consumer keeps pace, each record would cost a cache-line round trip).
                for _ in 0..EMPTY_BACKOFF {
                    std::hint::spin_loop();
                }
                continue;
            }
            spins = 0;
            if tail_seen < head || tail_seen - head > SLOTS {
                return Err(io::Error::other(
                    "floor: the parent wrote an impossible ring position",
                ));
            }
        }
        // Taken once a record is known to be there. npipe's reader spins for its data holding
        // its lock (and lets it go only to sleep), but either way a message costs one take and
        // one release.
        if LOCKED {
            lock.lock()?;
        }
        // SAFETY: the slot of `head` is the consumer's alone: `head < tail_seen`, so the record
        // is published, and the producer does not overwrite it until a head store below
        // passes it.
        unsafe { ptr::copy_nonoverlapping(m.slot(head), buf.as_mut_ptr(), RECORD) };
        std::hint::black_box(&mut buf);
        head += 1;
        // The head is published every HEAD_BATCH records and whenever the ring runs empty: the
        // producer reads it only when the ring looks full (and at the end of a repeat), so a
        // store per record would only move its cache line back and forth.
        if head == tail_seen || head % HEAD_BATCH == 0 {
            // SYNC POINT with the head loads in `spsc_rate`: the slots before `head` are free.
            s.head.0.store(head, Ordering::Release);
        }
        if LOCKED {
            lock.unlock()?;
        }
    }
}

/// Busy round trips on one shared line, in microseconds per round trip per repeat, with every
/// round trip in the histogram.
pub(super) fn ping_pong_rtt(plan: Plan, rtts: &mut RoundTrips) -> io::Result<Cell> {
    let count = Scenario::Rtt.count(plan.quick);
    let values = with_peer(Transport::PingPong, |m, w| {
        let line = &m.shared().line.0;
        let mut ping = 1u64;
        let mut values = Vec::with_capacity(plan.reps);
        for _ in 0..plan.reps {
            let t0 = Instant::now();
            let mut prev = t0;
            for _ in 0..count {
                // SYNC POINT with the load in `ping_pong_peer`: the ping. It carries no data,
                // so it orders nothing else; it is the ordering a message hand-off pays for.
                line.store(ping, Ordering::Release);
                // SYNC POINT with the store in `ping_pong_peer`: the pong.
                w.wait_until(|| Ok(line.load(Ordering::Acquire) == ping + 1))?;
                ping += 2;
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

/// The ponging side: answers every odd value with the next even one until told to stop.
pub(super) fn ping_pong_peer() -> io::Result<()> {
    let (m, shared_cpu) = open_peer()?;
    let s = m.shared();
    let mut spins = 0u32;
    loop {
        // SYNC POINT with the store in `ping_pong_rtt`: the ping.
        let v = s.line.0.load(Ordering::Acquire);
        if v % 2 == 1 {
            // SYNC POINT with the load in `ping_pong_rtt`: the pong.
            s.line.0.store(v + 1, Ordering::Release);
            spins = 0;
            continue;
        }
        if peer_idle(s, &mut spins, shared_cpu) {
            return Ok(());
        }
    }
}

/// memcpy of `size`-byte messages in one process, in GB/s per repeat.
pub(super) fn memcpy(size: usize, count: usize, reps: usize) -> Option<Cell> {
    let src = vec![0x5au8; size];
    // The destination starts 64 bytes past a page-aligned offset from the source: glibc's
    // memcpy is ~15x slower here when both share their offset within a page (4K aliasing),
    // and the floor should be memcpy at its best.
    let mut dst_buf = vec![0u8; size + 4096 + 64];
    let shift = (src.as_ptr() as usize + 64).wrapping_sub(dst_buf.as_ptr() as usize) & 4095;
    let dst = &mut dst_buf[shift..shift + size];
    // Untimed: the destination's pages are touched for the first time here, not in the first
    // repeat (a floor repeat paired with a message row is a repeat of one).
    dst.copy_from_slice(&src);
    let values = (0..reps)
        .map(|_| {
            let t0 = Instant::now();
            for _ in 0..count {
                dst.copy_from_slice(std::hint::black_box(&src));
                std::hint::black_box(&mut *dst);
            }
            (count * size) as f64 / t0.elapsed().as_secs_f64() / 1e9
        })
        .collect();
    Cell::new(values, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A side's lock is taken once and released once per record: taking it again before the
    /// release, or releasing it unheld, is an error (a floor run that hits either fails).
    #[test]
    fn a_side_lock_is_taken_and_released_once_per_record() {
        let word = AtomicU32::new(0);
        let l = SideLock(&word);
        l.lock().unwrap();
        assert_eq!(word.load(Ordering::Relaxed), 1);
        assert!(l.lock().is_err(), "taken twice");
        l.unlock().unwrap();
        assert_eq!(word.load(Ordering::Relaxed), 0);
        assert!(l.unlock().is_err(), "released unheld");
        l.lock().unwrap();
        l.unlock().unwrap();
    }
}
