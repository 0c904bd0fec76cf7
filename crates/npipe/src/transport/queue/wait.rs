//! Waiting: a short spin while the peer may answer within microseconds, then a futex sleep on
//! a sequence word of the shared ring header, cut into slices that probe the control socket so
//! a peer that died without a word is noticed (see "Wait and wake" in docs/DESIGN.md).

use std::sync::atomic::{fence, AtomicU64, Ordering::*};
use std::time::{Duration, Instant};

use super::{Conn, QErr, QResult, Wake, NO_CPU};
use crate::sys;

/// Longest single futex sleep before the peer's liveness is probed again.
pub(super) const SLICE: Duration = Duration::from_millis(200);
/// How long a waiter spins before it sleeps, when another CPU can run the peer: long enough to
/// cover a peer that is busy answering (a round trip is a few microseconds), short enough that
/// an idle connection stops using CPU almost at once.
const SPIN: Duration = Duration::from_micros(30);
/// How long a spin goes on, [`SPIN`] at a time, while the peer keeps moving the ring the wait
/// is about (consuming, for a writer waiting for room or for its quota; publishing, for a
/// reader inside a message that streams in): a peer busy copying a large message answers
/// within that time, and sleeping meanwhile would have it wake this thread at every batch it
/// moves, only for it to find its condition not met yet and sleep again.
const SPIN_BUSY: Duration = Duration::from_micros(500);
/// With spinning off (the peer was found idle), every this many waits spin once more, so a
/// connection that becomes busy again gets spinning back.
const SPIN_RETRY: u32 = 64;
/// After waking a peer that waited on this CPU, a wait sleeps at once (handing the CPU over)
/// except every this many times, when it yield-spins (see `wait_on`).
const STACKED_SPIN: u32 = 8;
/// A wait skips its hang-up probe before sleeping when this end probed within this many ms.
const PROBE_GAP_MS: u64 = 20;

impl Conn {
    /// Sleeps until the link ends: the peer closed or disconnected, or this end was closed
    /// (every one of those wakes the sleepers of both rings; a peer that died is noticed by the
    /// slices' hang-up probes). For an end that never reads, which has no read to notice it
    /// (the library's own relay thread: no CancelSynchronousIo ends it).
    pub(crate) fn wait_link_ends(&self) {
        let _ = self.wait_on_uncancellable(self.side.rx(), Wake::Data, None, |c| {
            Ok(!matches!(c.peer_open(), Ok(true)))
        });
    }

    /// Sleeps until `ready` is true, the deadline passes (`TimedOut`) or `ready` fails.
    pub(super) fn wait_on(
        &self,
        dir: usize,
        which: Wake,
        deadline: Option<Instant>,
        ready: impl FnMut(&Conn) -> QResult<bool>,
    ) -> QResult<()> {
        self.wait_after(dir, which, deadline, false, ready)
    }

    /// [`Conn::wait_on`] for a caller that has already had its spin (`spun`: it spun as
    /// [`Conn::spin_plan`] said, or was told not to): such a wait goes to sleep at once.
    ///
    /// Its sleep can be cancelled from another thread ([`crate::SyncCancel`]): the wait then
    /// fails with [`QErr::Cancelled`], unless `ready` held before the sleep was registered (a
    /// cancel that found it registered always ends it, even when `ready` came true meanwhile).
    pub(super) fn wait_after(
        &self,
        dir: usize,
        which: Wake,
        deadline: Option<Instant>,
        spun: bool,
        ready: impl FnMut(&Conn) -> QResult<bool>,
    ) -> QResult<()> {
        self.wait_inner(dir, which, deadline, spun, true, ready)
    }

    /// [`Conn::wait_on`] that no [`crate::SyncCancel`] ends: for a read inside a message it has
    /// already taken part of, which would lose that part (an overlapped read there is not cut
    /// short by a cancel either), and for waits that are no Win32 call.
    pub(super) fn wait_on_uncancellable(
        &self,
        dir: usize,
        which: Wake,
        deadline: Option<Instant>,
        ready: impl FnMut(&Conn) -> QResult<bool>,
    ) -> QResult<()> {
        self.wait_inner(dir, which, deadline, false, false, ready)
    }

    fn wait_inner(
        &self,
        dir: usize,
        which: Wake,
        deadline: Option<Instant>,
        spun: bool,
        cancellable: bool,
        mut ready: impl FnMut(&Conn) -> QResult<bool>,
    ) -> QResult<()> {
        let k = &self.ring(dir).k.0;
        let (seq, waiters) = match which {
            Wake::Data => (&k.data_seq, &k.data_waiters),
            Wake::Space => (&k.space_seq, &k.space_waiters),
        };
        if ready(self)? {
            return Ok(());
        }
        if let Wake::Space = which {
            self.note_writer_wait(dir);
        }
        if !spun {
            if let Some(yielding) = self.spin_plan(dir, which) {
                if self.spin(deadline, yielding, 1, self.moving(dir, which), &mut ready)? {
                    return Ok(());
                }
            }
        }
        // A peer that died leaves its state OPEN; its hang-up shows on the control socket. Probe
        // it before sleeping unless this end probed lately, and then make the first sleep short
        // instead, so a connection that sleeps on every message keeps the syscall off its round
        // trip while a death is still noticed within PROBE_GAP (within SLICE when the peer dies
        // during a long sleep, as before).
        let mut probed =
            sys::monotonic_ms().wrapping_sub(self.probed_at.load(Relaxed)) < PROBE_GAP_MS;
        let mut longest = if probed {
            Duration::from_millis(PROBE_GAP_MS)
        } else {
            SLICE
        };
        // A sleeper relies on the watcher to hear at once of a peer that dies.
        self.watch_now();
        // The call waits from here on (the C ABI's handle turns non-signalled, W27).
        sys::about_to_sleep();
        // Registered only here, on the way to a sleep: a call that does not sleep never takes
        // the record's lock. A cancel bumps `seq` and wakes it, as a publish does.
        let cancel = cancellable.then(|| sys::Registration::word(seq));
        let cancelled = || cancel.as_ref().is_some_and(|c| c.cancelled());
        loop {
            if ready(self)? {
                break;
            }
            if cancelled() {
                return Err(QErr::Cancelled);
            }
            if !probed {
                probed = true;
                if self.probe_hup() {
                    continue;
                }
            }
            let slice = match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if d <= now {
                        return Err(QErr::TimedOut);
                    }
                    (d - now).min(longest)
                }
                None => longest,
            };
            // SYNC POINT with `notify`: Acquire pairs with its Release bump.
            let s = seq.load(Acquire);
            waiters.fetch_add(1, SeqCst);
            // SYNC POINT with the fence in `notify`, or the lock's release in
            // `release_and_notify` (Dekker: see there).
            fence(SeqCst);
            match ready(self) {
                Ok(false) => {}
                other => {
                    waiters.fetch_sub(1, SeqCst);
                    other?;
                    break;
                }
            }
            // After the load of `s`: a cancel whose bump `s` already holds shows here, and a
            // later one makes the futex wait return at once.
            if cancelled() {
                waiters.fetch_sub(1, SeqCst);
                return Err(QErr::Cancelled);
            }
            let woke = sys::futex_wait(seq, s, Some(slice)).unwrap_or(false);
            waiters.fetch_sub(1, SeqCst);
            if !woke {
                self.probe_hup();
                longest = SLICE;
            }
        }
        #[cfg(test)]
        super::sync_cancel_tests::before_deregistration();
        // Ready, but a cancel may have come after the last look: it said it succeeded, and the
        // caller may go back to sleep (a read whose data another reader took, a write's next
        // piece), so the wait fails with it. A caller whose condition settles it (a write whose
        // quota was met) looks at its condition again.
        if cancel.is_some_and(|c| c.end()) {
            return Err(QErr::Cancelled);
        }
        Ok(())
    }

    /// Whether a wait on ring `dir` for `which` spins before it sleeps, and if so whether it
    /// yields the CPU between rounds (`Some(yielding)`); `None`: it sleeps at once. Called once
    /// per wait (it consumes this end's note that it just woke the peer).
    pub(super) fn spin_plan(&self, dir: usize, which: Wake) -> Option<bool> {
        // Spin first while another CPU can run the peer: a busy peer answers within microseconds
        // and neither side then makes a syscall. Spin when spinning paid off last time, or when
        // this end just woke the peer (its answer is on the way; sleeping now would cost this
        // CPU an idle exit as well). If the peer may be queued behind this thread (it was just
        // woken, or it last waited on this CPU), yield while spinning so it runs at once; a
        // pair stacked on one CPU then stays runnable, which lets the load balancer separate it.
        // One case sleeps at once: the peer was just woken on this CPU. Handing it the CPU by
        // sleeping is the cheapest round trip for an idle pair; every STACKED_SPIN-th time the
        // wait yield-spins instead, so a busy pair is never stuck handing the CPU back and forth.
        // Relaxed throughout: local scheduling hints.
        // Spinning needs the peer to run meanwhile: this thread may run on several CPUs, or
        // (pinned to one) the peer last waited on another CPU than ours.
        let woke = self.woke_peer.swap(false, Relaxed);
        let cpu = sys::current_cpu();
        let cpus = &self.hdr().cpu;
        let mine = &cpus[self.side as usize];
        if mine.load(Relaxed) != cpu {
            mine.store(cpu, Relaxed);
        }
        let peer_cpu = cpus[self.side.peer() as usize].load(Relaxed);
        if sys::usable_cpus() > 1 || (peer_cpu != NO_CPU && peer_cpu != cpu) {
            let stacked = peer_cpu == cpu;
            let hand_over = woke
                && stacked
                && self.stacked_wakes.fetch_add(1, Relaxed) % STACKED_SPIN != STACKED_SPIN - 1;
            let spin = !hand_over
                && (woke
                    || self.spin_ok.load(Relaxed)
                    || self.peer_working(dir, which)
                    || self.spin_skipped.fetch_add(1, Relaxed) % SPIN_RETRY == SPIN_RETRY - 1);
            if spin {
                return Some(woke || stacked);
            }
        }
        None
    }

    /// What moves while the peer works on ring `dir`: the reader's head for a writer waiting
    /// for room, the writer's tail for a reader.
    pub(super) fn moving(&self, dir: usize, which: Wake) -> &AtomicU64 {
        let ring = self.ring(dir);
        match which {
            Wake::Space => &ring.r.0.head,
            Wake::Data => &ring.w.0.tail,
        }
    }

    /// Whether the peer has work on ring `dir` that ends this wait and is not asleep: a writer
    /// waiting for room or for its quota waits on a reader that has its records to take, and a
    /// reader inside a message waits on a writer that has the rest to publish. Such a wait
    /// spins even after a spin that failed (which only says that the peer was idle once): the
    /// peer moves the ring batch by batch, and a sleeper would be woken by every batch.
    fn peer_working(&self, dir: usize, which: Wake) -> bool {
        let k = &self.ring(dir).k.0;
        // Relaxed: scheduling hints (the peer's waiter counts, our own cursor).
        match which {
            Wake::Space => k.data_waiters.load(Relaxed) == 0,
            Wake::Data => {
                dir == self.side.rx()
                    && self.mine(super::R_LEFT).load(Relaxed) != super::AT_HEADER
                    && k.space_waiters.load(Relaxed) == 0
            }
        }
    }

    /// Polls `ready` for up to [`SPIN`] (or until the deadline), `gap` pause instructions
    /// apart (a round of polls takes about 64 pauses whatever the gap), yielding the CPU
    /// between rounds when `yielding`; records in `spin_ok` whether it paid off. While
    /// `moving` (a shared cursor the peer advances as it works on this ring) changed during
    /// the last [`SPIN`], the spin goes on, up to [`SPIN_BUSY`] in all.
    pub(super) fn spin(
        &self,
        deadline: Option<Instant>,
        yielding: bool,
        gap: u32,
        moving: &AtomicU64,
        ready: &mut impl FnMut(&Conn) -> QResult<bool>,
    ) -> QResult<bool> {
        let start = Instant::now();
        let limit = |t: Instant| match deadline {
            Some(d) => t.min(d),
            None => t,
        };
        let mut end = limit(start + SPIN);
        let busy_end = limit(start + SPIN_BUSY);
        // Relaxed: only compared, as a sign of the peer's activity.
        let mut seen = moving.load(Relaxed);
        loop {
            if yielding {
                std::thread::yield_now();
            }
            for _ in 0..(64 / gap.max(1)).max(1) {
                if ready(self)? {
                    // Relaxed: a local scheduling hint.
                    self.spin_ok.store(true, Relaxed);
                    return Ok(true);
                }
                for _ in 0..gap {
                    std::hint::spin_loop();
                }
            }
            let now = Instant::now();
            if now >= end {
                let at = moving.load(Relaxed);
                if at != seen && now < busy_end {
                    // The peer is busy with this ring: its answer may be a few batches away.
                    seen = at;
                    end = limit(now + SPIN).min(busy_end);
                    continue;
                }
                self.spin_ok.store(false, Relaxed);
                return Ok(false);
            }
        }
    }
}
