//! Asymmetric fences: a cheap side that only stops the compiler, paired with an expensive side
//! (`membarrier(2)`) that makes every running thread of the process pass a full barrier. For
//! protocols where one side runs on every call and the other rarely (the C ABI's handle
//! lookups against CloseHandle's release of what they used). Also the fence a store-load
//! protocol needs right after a locked read-modify-write ([`fence_after_locked_rmw`]), which
//! x86 has already paid for.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::sync::atomic::{compiler_fence, fence, AtomicU8};

use rustix::thread::{membarrier, MembarrierCommand};

/// Not decided yet: [`AsymmetricFence::prepare`] has not run.
const UNKNOWN: u8 = 0;
/// Registered for expedited private membarriers: the light side is a compiler fence.
const ASYMMETRIC: u8 = 1;
/// membarrier is not available (an old kernel, a seccomp filter): both sides are full fences.
const SYMMETRIC: u8 = 2;

/// A pair of fences: whenever a thread runs [`light`](Self::light) between a store and a load,
/// and another runs [`heavy`](Self::heavy) between a store and a load, at least one of the two
/// loads sees the other thread's store (store-load ordering, as if both ran a full fence).
#[derive(Debug)]
pub struct AsymmetricFence {
    mode: AtomicU8,
}

impl AsymmetricFence {
    /// A fence that decides its mode in [`prepare`](Self::prepare).
    pub const fn new() -> AsymmetricFence {
        AsymmetricFence {
            mode: AtomicU8::new(UNKNOWN),
        }
    }

    /// Decides the mode (registers the process for expedited private membarriers). A thread
    /// must call it before its first [`light`](Self::light); later calls cost one load.
    pub fn prepare(&self) {
        if self.mode.load(Acquire) != UNKNOWN {
            return;
        }
        let ok = membarrier(MembarrierCommand::RegisterPrivateExpedited).is_ok();
        // Release: a thread that sees the mode sees the registration done. Two threads that
        // race here both register, which is harmless, and store the same mode.
        self.mode
            .store(if ok { ASYMMETRIC } else { SYMMETRIC }, Release);
    }

    /// Whether [`prepare`](Self::prepare) has decided the mode.
    #[cfg(test)]
    pub(crate) fn decided(&self) -> bool {
        self.mode.load(Acquire) != UNKNOWN
    }

    /// The cheap side, after [`prepare`](Self::prepare) on this thread.
    #[inline]
    pub fn light(&self) {
        // Relaxed: this thread's own `prepare` stored it, or one that came before.
        if self.mode.load(Relaxed) == ASYMMETRIC {
            compiler_fence(SeqCst);
        } else {
            fence(SeqCst);
        }
    }

    /// The expensive side: every thread of the process passes a full barrier before this
    /// returns. False when that cannot be had (the caller must then act as if every other
    /// thread's light side had not run yet).
    #[must_use]
    pub fn heavy(&self) -> bool {
        // Decided here too: reading UNKNOWN would not show that no light side ran, only that
        // this thread has not seen the mode stored yet (a thread may have stored it, then a
        // hazard, and already loaded past its compiler fence).
        self.prepare();
        fence(SeqCst);
        match self.mode.load(Acquire) {
            ASYMMETRIC => {
                if membarrier(MembarrierCommand::PrivateExpedited).is_ok() {
                    return true;
                }
                // A forked child may not inherit the registration: register again, or fall
                // back to the global command, which needs none (slow, but this is the rare side).
                let again = membarrier(MembarrierCommand::RegisterPrivateExpedited).is_ok()
                    && membarrier(MembarrierCommand::PrivateExpedited).is_ok();
                again || membarrier(MembarrierCommand::Global).is_ok()
            }
            // Symmetric: every light side is a full fence.
            _ => true,
        }
    }
}

impl Default for AsymmetricFence {
    fn default() -> Self {
        Self::new()
    }
}

/// A sequentially consistent fence for a store-load (Dekker) protocol whose store this thread
/// made before a locked read-modify-write it has just done (a compare-exchange, a swap, a
/// fetch-add: on x86 an instruction with the `lock` prefix, or `xchg` with memory), and whose
/// load comes after this call.
///
/// On x86 and x86-64 such an instruction is already a full barrier: loads and stores are not
/// reordered with locked instructions (Intel SDM vol. 3A, "Memory Ordering in P6 and More
/// Recent Processor Families"; AMD APM vol. 2, "Multiprocessor Memory Access Ordering"), so the
/// load cannot pass the store, which is all the protocol asks of `fence(SeqCst)`. Only the
/// compiler has to be stopped, and a second locked instruction (what `fence(SeqCst)` compiles
/// to) would cost tens of cycles for nothing. Rust's memory model does not promise this (an
/// atomic read-modify-write is not a fence for other locations there), so on other targets it
/// is a real fence, and so it is under Miri, which checks the model, not the processor.
/// crossbeam-epoch's pin relies on the same property of x86.
#[inline(always)]
pub(crate) fn fence_after_locked_rmw() {
    if cfg!(any(target_arch = "x86", target_arch = "x86_64")) && !cfg!(miri) {
        compiler_fence(SeqCst);
    } else {
        fence(SeqCst);
    }
}
