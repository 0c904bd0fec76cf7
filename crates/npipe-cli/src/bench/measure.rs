//! The timing loops: one cell is one (scenario, transport) run `plan.reps` times against one
//! peer process (a fresh peer per repeat for connections), each repeat timed on its own.
//!
//! - Round trips: each one is timed by reading the clock once per round trip (the interval
//!   between consecutive reads), so the per-repeat mean and the histogram agree and the clock
//!   costs one read per round trip, as in the ping-pong floor.
//! - Rates and throughput: the parent sends `count` messages and stops the clock when the
//!   peer's acknowledgement arrives, so every message has been received.
//! - Connections: the peer connects `count` times; the clock includes spawning it.
//!
//! Each repeat of a message row in a scenario with a floor is preceded by one repeat of that
//! floor and one of its ring floor, pinned to the same two CPUs, and the cell keeps the medians
//! of the repeats' ratios ([`Cell::paired`], [`Cell::paired_ring`]). The rate's locked ring, a
//! floor row itself, pairs its repeats with the bare ring's the same way.

use std::io;
use std::time::{Duration, Instant};

use super::chan::{self, Chan};
use super::peer::{self, Role};
use super::stats::{Cell, RoundTrips};
use super::{floors, Plan, Scenario, Transport};

/// Measures one cell; the error text is what the table prints for a failed cell.
pub(super) fn measure(t: Transport, sc: Scenario, plan: Plan) -> Result<Cell, String> {
    measure_io(t, sc, plan).map_err(|e| e.to_string())
}

fn measure_io(t: Transport, sc: Scenario, plan: Plan) -> io::Result<Cell> {
    let count = sc.count(plan.quick);
    let cell = match (t, sc) {
        (Transport::Memcpy, _) => floors::memcpy(sc.msg_size(), count, plan.reps),
        (Transport::SpscRing, _) => Some(floors::spsc_rate::<false>(plan)?),
        (Transport::SpscLocked, _) => Some(locked_ring(plan)?),
        (Transport::PingPong, _) => Some(floors::ping_pong_rtt(plan, &mut RoundTrips::new())?),
        (Transport::RingRtt, _) => Some(floors::ring_rtt(plan, &mut RoundTrips::new())?),
        (Transport::RingCopy, _) => Some(floors::ring_copy(sc.msg_size(), count, None, plan)?),
        (Transport::RingCopyW91, _) => Some(floors::ring_copy(
            sc.msg_size(),
            count,
            Some(floors::W91_QUOTA),
            plan,
        )?),
        (_, Scenario::Cpu) => Some(super::loopback::one_thread(t, count, plan)?),
        (_, Scenario::Connect) => {
            let mut values = Vec::with_capacity(plan.reps);
            for _ in 0..plan.reps {
                let t0 = Instant::now();
                chan::serve_connections(t, count)?;
                values.push(count as f64 / t0.elapsed().as_secs_f64());
            }
            Cell::new(values, None)
        }
        _ => Some(channel(t, sc, count, plan)?),
    };
    cell.ok_or_else(|| io::Error::other("no valid repeat"))
}

/// A message scenario over `t`'s channel.
fn channel(t: Transport, sc: Scenario, count: usize, plan: Plan) -> io::Result<Cell> {
    let role = if sc.is_round_trip() {
        Role::Echo
    } else {
        Role::Sink
    };
    // Pinned like the floors: this thread to one CPU, the peer (told by `peer_command`) to
    // the other; restored when the cell ends.
    let _pinned = match plan.pin.then(floors::floor_cpus).flatten() {
        Some((mine, peers)) => Some(floors::Pinned::new(mine, peers)?),
        None => None,
    };
    let (mut chan, mut child) = chan::spawn_with_chan(t, role, sc.msg_size(), count)?;
    match repeats(chan.as_mut(), sc, count, plan) {
        Ok(cell) => {
            peer::stop(chan.as_mut(), child)?;
            cell.ok_or_else(|| io::Error::other("no valid repeat"))
        }
        Err(e) => {
            drop(chan);
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        }
    }
}

fn repeats(
    chan: &mut dyn Chan,
    sc: Scenario,
    count: usize,
    plan: Plan,
) -> io::Result<Option<Cell>> {
    let size = sc.msg_size();
    let msg = vec![0x5au8; size];
    let mut buf = vec![0u8; size];
    let mut rtts = RoundTrips::new();
    let mut values = Vec::with_capacity(plan.reps);
    let mut ratios = Vec::with_capacity(plan.reps);
    let mut p50_ratios = Vec::with_capacity(plan.reps);
    let mut ring_ratios = Vec::with_capacity(plan.reps);
    for _ in 0..plan.reps {
        // The peer waits for its control byte meanwhile, asleep by the end; woken, it spins
        // for the next one, as it did between repeats before floors were paired. A floor that
        // fails leaves this repeat without a ratio.
        let floor = floor_repeat(sc, plan).ok().flatten();
        let ring = ring_floor_repeat(sc, plan).ok().flatten();
        let mut woke = [0u8; 1];
        chan.send(&[peer::WAKE])?;
        chan.recv(&mut woke)?;
        chan.send(&[peer::REPEAT])?;
        let value = match sc {
            Scenario::Rtt => {
                // This repeat's own round trips too, for its p50 against the floor repeat's.
                let mut mine = RoundTrips::new();
                let t0 = Instant::now();
                let mut prev = t0;
                for _ in 0..count {
                    chan.send(&msg)?;
                    chan.recv(&mut buf)?;
                    let now = Instant::now();
                    rtts.record(now - prev);
                    mine.record(now - prev);
                    prev = now;
                }
                if let Some((p, f)) = mine.p50_us().zip(floor.as_ref().and_then(|f| f.p50)) {
                    p50_ratios.push(p / f);
                }
                (prev - t0).as_secs_f64() * 1e6 / count as f64
            }
            Scenario::RttIdle => {
                let mut total = Duration::ZERO;
                for _ in 0..count {
                    std::thread::sleep(Duration::from_millis(1));
                    let t0 = Instant::now();
                    chan.send(&msg)?;
                    chan.recv(&mut buf)?;
                    let d = t0.elapsed();
                    rtts.record(d);
                    total += d;
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
                if sc == Scenario::Rate {
                    count as f64 / secs / 1e6
                } else {
                    (count * size) as f64 / secs / 1e9
                }
            }
        };
        values.push(value);
        if let Some(f) = &floor {
            ratios.push(value / f.median);
        }
        if let Some(f) = ring {
            ring_ratios.push(value / f);
        }
    }
    Ok(Cell::new(values, sc.is_round_trip().then_some(&rtts))
        .map(|c| c.with_paired(ratios, p50_ratios, ring_ratios)))
}

/// The locked ring's row (`spsc-locked`), each repeat preceded by a repeat of the bare ring,
/// as a message row's are: its `floor` ratio, what one lock per side leaves of the bare ring,
/// is the claim the row exists for, so it is paired too.
fn locked_ring(plan: Plan) -> io::Result<Cell> {
    let once = Plan { reps: 1, ..plan };
    let mut values = Vec::with_capacity(plan.reps);
    let mut ratios = Vec::with_capacity(plan.reps);
    for _ in 0..plan.reps {
        // A bare repeat that fails leaves this repeat without a ratio, as `repeats` does.
        let floor = floor_repeat(Scenario::Rate, plan).ok().flatten();
        let value = floors::spsc_rate::<true>(once)?.median;
        if let Some(f) = floor {
            ratios.push(value / f.median);
        }
        values.push(value);
    }
    Cell::new(values, None)
        .map(|c| c.with_paired(ratios, Vec::new(), Vec::new()))
        .ok_or_else(|| io::Error::other("no valid repeat"))
}

/// One repeat of the scenario's ring floor (`None` for a scenario without one): its value, for
/// the `ring` ratio of the row's repeat that follows it.
fn ring_floor_repeat(sc: Scenario, plan: Plan) -> io::Result<Option<f64>> {
    let once = Plan { reps: 1, ..plan };
    let cell = match sc.ring_floor() {
        Some(Transport::RingRtt) => floors::ring_rtt(once, &mut RoundTrips::new())?,
        Some(Transport::SpscLocked) => floors::spsc_rate::<true>(once)?,
        Some(Transport::RingCopyW91) => floors::ring_copy(
            sc.msg_size(),
            sc.count(plan.quick),
            Some(floors::W91_QUOTA),
            once,
        )?,
        _ => return Ok(None),
    };
    Ok(Some(cell.median))
}

/// One repeat of the scenario's floor (`None` for a scenario without one), for the ratios of
/// the row's repeat that follows it (its p50 too, for busy round trips).
fn floor_repeat(sc: Scenario, plan: Plan) -> io::Result<Option<Cell>> {
    let once = Plan { reps: 1, ..plan };
    Ok(match sc.floor() {
        Some(Transport::SpscRing) => Some(floors::spsc_rate::<false>(once)?),
        Some(Transport::PingPong) => Some(floors::ping_pong_rtt(once, &mut RoundTrips::new())?),
        Some(Transport::Memcpy) => floors::memcpy(sc.msg_size(), sc.count(plan.quick), 1),
        _ => None,
    })
}
