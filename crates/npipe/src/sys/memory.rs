//! Shared memory: sealed memfds, mappings of them, and futex wait/wake on words inside them.
//!
//! # Safety
//! A [`Mapping`] owns its address range until it is dropped and is only ever created over a
//! memfd whose size was checked and sealed against shrinking (or over anonymous memory), so no
//! access inside it can fault.
#![allow(unsafe_code)]

use std::os::fd::BorrowedFd;
use std::os::fd::OwnedFd;
use std::ptr::NonNull;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use rustix::fs::{MemfdFlags, SealFlags};
use rustix::mm::{MapFlags, ProtFlags};

use super::{Errno, Result};

/// Seals that a connection memfd must carry before a peer maps it: nobody can change its size,
/// so no access inside the checked size can ever raise SIGBUS.
fn required_seals() -> SealFlags {
    SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL
}

/// A close-on-exec memfd of `size` bytes, sealed against resizing.
pub(crate) fn memfd_sealed(name: &str, size: usize) -> Result<OwnedFd> {
    let fd = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
    rustix::fs::ftruncate(&fd, size as u64)?;
    rustix::fs::fcntl_add_seals(&fd, required_seals())?;
    Ok(fd)
}

/// Checks that a memfd received from a peer is exactly `size` bytes and sealed against resizing.
pub(crate) fn check_memfd(fd: BorrowedFd<'_>, size: usize) -> Result<()> {
    let seals = rustix::fs::fcntl_get_seals(fd)?;
    if !seals.contains(SealFlags::SHRINK | SealFlags::GROW) {
        return Err(Errno::PERM);
    }
    let st = rustix::fs::fstat(fd)?;
    if st.st_size as u64 != size as u64 {
        return Err(Errno::INVAL);
    }
    Ok(())
}

/// An owned `MAP_SHARED` read-write mapping of a whole sealed memfd, pre-faulted.
///
/// In fuzzing and unit-test builds the mapping sits between two inaccessible guard pages, so an
/// access that runs past either end faults at once instead of silently reaching a neighbouring
/// mapping (the kernel tends to place mappings next to each other).
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    /// Bytes of `PROT_NONE` guard before and after the mapping (0 in normal builds).
    guard: usize,
    /// The arena slot the mapping sits in (see `sys::arena`), if any.
    slot: Option<super::arena::Slot>,
    /// For a mapping in an arena slot: give the slot back at once on drop rather than with the
    /// next batch (see [`Mapping::unmap_promptly`]).
    promptly: bool,
}

/// Guard size around a [`Mapping`]: one page in fuzzing and unit-test builds, none otherwise.
const GUARD: usize = if cfg!(any(fuzzing, test)) { 4096 } else { 0 };

// SAFETY: a Mapping is a plain address range; all access to its contents goes through atomics
// or through raw-pointer copies whose synchronisation the queue layer establishes.
unsafe impl Send for Mapping {}
// SAFETY: see the Send impl; shared references only hand out the base pointer.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps all `len` bytes of `fd`, which the caller has created with [`memfd_sealed`] or
    /// checked with [`check_memfd`] to be exactly `len` bytes and unshrinkable.
    pub(crate) fn map(fd: BorrowedFd<'_>, len: usize) -> Result<Mapping> {
        if GUARD != 0 {
            return Mapping::map_guarded(fd, len);
        }
        // SAFETY:
        // 1. a null hint lets the kernel pick a fresh range, so no existing mapping is replaced;
        // 2. the fd is a memfd of exactly `len` bytes sealed against shrinking (caller), so every
        //    byte of the range stays backed for the mapping's lifetime.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                fd,
                0,
            )?
        };
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or(Errno::NOMEM)?;
        Ok(Mapping::plain(ptr, len, 0))
    }

    fn plain(ptr: NonNull<u8>, len: usize, guard: usize) -> Mapping {
        Mapping {
            ptr,
            len,
            guard,
            slot: None,
            promptly: false,
        }
    }

    /// [`Mapping::map`] for a connection's memfd: placed in a slot of the process's arena when
    /// one is free and the mapping fits (see `sys::arena`), so that its unmapping is batched
    /// with other connections' on drop, unless [`Mapping::unmap_promptly`] was called.
    pub(crate) fn map_conn(fd: BorrowedFd<'_>, len: usize) -> Result<Mapping> {
        if GUARD != 0 {
            return Mapping::map_guarded(fd, len);
        }
        let Some(slot) = super::arena::take(len) else {
            return Mapping::map(fd, len);
        };
        // SAFETY:
        // 1. the slot was just taken for `len` bytes and nobody else maps it;
        // 2. the fd is a memfd of exactly `len` bytes sealed against shrinking (caller), so every
        //    byte of the range stays backed for the mapping's lifetime.
        match unsafe { super::arena::map_at(slot, fd, len) } {
            Ok(p) => {
                let ptr = NonNull::new(p).ok_or(Errno::NOMEM)?;
                Ok(Mapping {
                    ptr,
                    len,
                    guard: 0,
                    slot: Some(slot),
                    promptly: false,
                })
            }
            Err(e) => {
                super::arena::lose(slot);
                Err(e)
            }
        }
    }

    /// Asks for this mapping's range to be given back at once when it is dropped, instead of
    /// with the next batch of its arena (for a connection that may hold many pages).
    pub(crate) fn unmap_promptly(&mut self) {
        self.promptly = true;
    }

    /// [`Mapping::map`] with [`GUARD`] bytes of `PROT_NONE` on each side: an inaccessible range
    /// is reserved first and the memfd is mapped over its middle.
    fn map_guarded(fd: BorrowedFd<'_>, len: usize) -> Result<Mapping> {
        let total = len.checked_add(2 * GUARD).ok_or(Errno::NOMEM)?;
        let base = reserve(total)?;
        // SAFETY:
        // 1. `base + GUARD .. base + GUARD + len` lies inside the reservation made above, which
        //    this function owns, so MAP_FIXED replaces nothing but that reservation;
        // 2. the fd is a memfd of exactly `len` bytes sealed against shrinking (caller), so every
        //    byte of the range stays backed for the mapping's lifetime.
        let mapped = unsafe { map_fd_at(base.cast::<u8>().add(GUARD), fd, len) };
        match mapped {
            Ok(ptr) => {
                let ptr = NonNull::new(ptr).ok_or(Errno::NOMEM)?;
                Ok(Mapping::plain(ptr, len, GUARD))
            }
            Err(e) => {
                // SAFETY: exactly the reservation made above, which nothing else uses.
                unsafe {
                    let _ = rustix::mm::munmap(base, total);
                }
                Err(e)
            }
        }
    }

    /// A new `MAP_SHARED | MAP_ANONYMOUS` read-write mapping of `len` zeroed bytes: shared with
    /// children this process forks, never with any other process.
    pub(crate) fn anonymous_shared(len: usize) -> Result<Mapping> {
        // SAFETY: a null hint lets the kernel pick a fresh range, so no existing mapping is
        // replaced; anonymous memory stays backed for the mapping's lifetime.
        let ptr = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
            )?
        };
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or(Errno::NOMEM)?;
        Ok(Mapping::plain(ptr, len, 0))
    }

    /// Pre-faults `[offset, offset + len)` (clamped to the mapping) for writing with one
    /// syscall instead of one page fault per page. Best effort: older kernels lack it, and the
    /// pages then fault in on first use as usual.
    pub(crate) fn populate(&self, offset: usize, len: usize) {
        let start = offset.min(self.len);
        let len = len.min(self.len - start);
        if len == 0 {
            return;
        }
        // SAFETY: the range lies inside this mapping (clamped above) and MADV_POPULATE_WRITE
        // only faults pages in: it neither changes their contents nor the mapping.
        unsafe {
            let _ = rustix::mm::madvise(
                self.ptr.as_ptr().add(start).cast(),
                len,
                rustix::mm::Advice::LinuxPopulateWrite,
            );
        }
    }

    /// Gives back the pages of `[offset, offset + len)` (page aligned, clamped to the mapping)
    /// of a shared file mapping: the file keeps its size, the range reads as zeros from then
    /// on, in this process and in every other that maps the file, and costs no memory until
    /// written again (MADV_REMOVE, a hole punched in the file). Best effort.
    ///
    /// # Safety
    /// Nobody may rely on the bytes in the range any more: the caller holds whatever lock
    /// makes them unused (no reference to them exists, and no copy of them is in progress).
    pub(crate) unsafe fn discard(&self, offset: usize, len: usize) {
        let start = offset.min(self.len);
        let len = len.min(self.len - start);
        if len == 0 || !start.is_multiple_of(4096) {
            return;
        }
        // SAFETY: the range lies inside this mapping (clamped above); the caller guarantees
        // that nothing uses its bytes; MADV_REMOVE leaves the mapping itself in place.
        unsafe {
            let _ = rustix::mm::madvise(
                self.ptr.as_ptr().add(start).cast(),
                len,
                rustix::mm::Advice::LinuxRemove,
            );
        }
    }

    /// Base address of the mapping.
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Copies `dst.len()` bytes at `offset` out of the mapping. `INVAL` when the range is not
    /// inside it. For tests and fuzzing, which look at the shared memory as a peer would.
    #[cfg(any(fuzzing, test))]
    pub(crate) fn read_at(&self, offset: usize, dst: &mut [u8]) -> Result<()> {
        let end = offset.checked_add(dst.len()).ok_or(Errno::INVAL)?;
        if end > self.len {
            return Err(Errno::INVAL);
        }
        // SAFETY:
        // 1. `offset + dst.len() <= len` (checked above), so the source range is inside the
        //    mapping, which lives as long as `self`;
        // 2. `dst` is private memory, so the ranges cannot overlap;
        // 3. the mapping holds plain bytes and atomics that any process may change at any time;
        //    this crate never keeps a reference to them (module invariant), so a copy is a read
        //    like the peer's.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.ptr.as_ptr().add(offset),
                dst.as_mut_ptr(),
                dst.len(),
            );
        }
        Ok(())
    }

    /// Copies `src` into the mapping at `offset`, exactly as a peer process sharing it could.
    /// `INVAL` when the range is not inside it. For tests and fuzzing, which play a hostile peer.
    #[cfg(any(fuzzing, test))]
    pub(crate) fn write_at(&self, offset: usize, src: &[u8]) -> Result<()> {
        let end = offset.checked_add(src.len()).ok_or(Errno::INVAL)?;
        if end > self.len {
            return Err(Errno::INVAL);
        }
        // SAFETY:
        // 1. `offset + src.len() <= len` (checked above), so the destination range is inside
        //    the mapping, which lives as long as `self`;
        // 2. `src` is private memory, so the ranges cannot overlap;
        // 3. the peer may write any byte of the mapping at any time, so every user of it copies
        //    or uses atomics and never holds a reference to these bytes (module invariant): this
        //    write is one the peer could have made.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.as_ptr().add(offset), src.len());
        }
        Ok(())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            // SAFETY: the slot was taken for this mapping and is given back once, here; nothing
            // borrows from the mapping beyond the Mapping's lifetime (see below).
            unsafe { super::arena::give_back(slot, self.promptly) };
            return;
        }
        // SAFETY: `ptr - guard .. ptr + len + guard` is exactly the range this Mapping reserved
        // or mapped (guard is 0 without guard pages), and nothing borrows from the mapping beyond
        // the Mapping's lifetime (the queue layer holds it in the same Arc as its users).
        unsafe {
            let _ = rustix::mm::munmap(
                self.ptr.as_ptr().sub(self.guard).cast(),
                self.len + 2 * self.guard,
            );
        }
    }
}

/// Sleeps while `*word == expected`, at most `timeout`. Returns `Ok(true)` when woken or when the
/// value already differed, `Ok(false)` on timeout.
pub(crate) fn futex_wait(
    word: &AtomicU32,
    expected: u32,
    timeout: Option<Duration>,
) -> Result<bool> {
    use rustix::thread::futex;
    let ts = timeout.map(|t| rustix::time::Timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: t.subsec_nanos() as _,
    });
    // Not FUTEX_PRIVATE_FLAG: the word lives in a MAP_SHARED mapping and the waker may be
    // another process.
    match futex::wait(word, futex::Flags::empty(), expected, ts.as_ref()) {
        Ok(()) | Err(Errno::AGAIN) | Err(Errno::INTR) => Ok(true),
        Err(Errno::TIMEDOUT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Wakes up to `n` sleepers on `word` (in any process); `u32::MAX` wakes them all. Returns how
/// many it woke.
pub(crate) fn futex_wake(word: &AtomicU32, n: u32) -> usize {
    use rustix::thread::futex;
    // The kernel takes the count as a C int and stops after the first sleeper when it is
    // negative: u32::MAX would wake one.
    futex::wake(word, futex::Flags::empty(), n.min(i32::MAX as u32)).unwrap_or(0)
}

/// Asks for the cache line holding `p` in a state this CPU may write without waiting
/// (PREFETCHW on x86-64, `PRFM PSTL1KEEP` on AArch64; nothing elsewhere, or on an x86-64 CPU
/// without the instruction). A hint only: it never faults, whatever `p` is, and changes no
/// memory. Used to start taking back, ahead of the next write, the ring lines the peer's
/// reader last read, so the transfer overlaps the writer's work instead of stalling its next
/// locked instruction.
#[inline]
pub(crate) fn prefetch_for_write(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    if has_prefetchw() {
        // SAFETY: PREFETCHW is a hint: it never faults (not even on an unmapped address),
        // writes no register but the flags it preserves, and no memory; the CPU has it.
        unsafe {
            std::arch::asm!("prefetchw [{0}]", in(reg) p, options(nostack, preserves_flags, readonly));
        }
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: PRFM is a hint: it never faults and changes no register or memory.
    unsafe {
        std::arch::asm!("prfm pstl1keep, [{0}]", in(reg) p, options(nostack, preserves_flags, readonly));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = p;
}

/// Asks for the cache line holding `p` for reading (PREFETCHT0 on x86-64, `PRFM PLDL1KEEP` on
/// AArch64; nothing elsewhere). A hint only: it never faults, whatever `p` is, and changes no
/// memory. Used by a reader that has just seen a record published, to fetch all of the
/// record's lines from the writer's CPU at once instead of one after another.
#[inline]
pub(crate) fn prefetch_for_read(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 (SSE, in every x86-64 CPU) is a hint: it never faults (not even on an
    // unmapped address), writes no register or memory and preserves the flags.
    unsafe {
        std::arch::asm!("prefetcht0 [{0}]", in(reg) p, options(nostack, preserves_flags, readonly));
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: PRFM is a hint: it never faults and changes no register or memory.
    unsafe {
        std::arch::asm!("prfm pldl1keep, [{0}]", in(reg) p, options(nostack, preserves_flags, readonly));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = p;
}

/// Whether this x86-64 CPU has PREFETCHW (CPUID 8000_0001h, ECX bit 8), asked once.
#[cfg(target_arch = "x86_64")]
fn has_prefetchw() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
    // 0: not asked yet, 1: yes, 2: no. Relaxed: every thread computes the same answer.
    static KNOWN: AtomicU8 = AtomicU8::new(0);
    match KNOWN.load(Relaxed) {
        1 => true,
        2 => false,
        _ => {
            // SAFETY: CPUID exists on every x86-64 CPU; leaf 8000_0000h gives the highest
            // extended leaf, so 8000_0001h is only asked for where it exists. (`__cpuid` is a
            // safe function in newer Rust and an unsafe one at the MSRV.)
            #[allow(unused_unsafe)]
            let yes = unsafe {
                std::arch::x86_64::__cpuid(0x8000_0000).eax >= 0x8000_0001
                    && std::arch::x86_64::__cpuid(0x8000_0001).ecx & (1 << 8) != 0
            };
            KNOWN.store(if yes { 1 } else { 2 }, Relaxed);
            yes
        }
    }
}

/// Reserves `len` bytes of inaccessible, uncommitted address space (for guard pages and the
/// connection arena); its address.
pub(super) fn reserve(len: usize) -> Result<*mut std::ffi::c_void> {
    // SAFETY: a null hint lets the kernel pick a fresh range, so no existing mapping is
    // replaced; the range is inaccessible, uncommitted (NORESERVE) and only reserves addresses.
    unsafe {
        rustix::mm::mmap_anonymous(
            std::ptr::null_mut(),
            len,
            ProtFlags::empty(),
            MapFlags::PRIVATE | MapFlags::NORESERVE,
        )
    }
}

/// Maps `len` bytes of `fd` read-write and shared at `addr`, replacing what was there.
///
/// # Safety
/// `addr .. addr + len` lies inside a reservation the caller owns (see [`reserve`]) that
/// nothing else uses, and `fd` is a memfd of at least `len` bytes sealed against shrinking.
pub(super) unsafe fn map_fd_at(addr: *mut u8, fd: BorrowedFd<'_>, len: usize) -> Result<*mut u8> {
    // SAFETY: the caller's contract: MAP_FIXED replaces only its own reservation, and every
    // byte of the range stays backed for the mapping's lifetime.
    let p = unsafe {
        rustix::mm::mmap(
            addr.cast(),
            len,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::SHARED | MapFlags::FIXED,
            fd,
            0,
        )?
    };
    Ok(p.cast())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// `futex_wake(word, u32::MAX)` wakes every sleeper, not one (the kernel reads the count as
    /// a C int, and u32::MAX is -1 there). Three threads sleep on one word; one wake must count
    /// three. A thread that had not fallen asleep yet on a loaded machine makes a round count
    /// fewer, so up to five rounds are tried; waking one per call never counts more than one.
    #[test]
    fn waking_all_wakes_every_sleeper() {
        let round = || {
            let word = std::sync::Arc::new(AtomicU32::new(0));
            let sleepers: Vec<_> = (0..3)
                .map(|_| {
                    let w = word.clone();
                    std::thread::spawn(move || futex_wait(&w, 0, Some(Duration::from_secs(2))))
                })
                .collect();
            std::thread::sleep(Duration::from_millis(100));
            let n = futex_wake(&word, u32::MAX);
            for s in sleepers {
                s.join().unwrap().unwrap();
            }
            n
        };
        let mut most = 0;
        for _ in 0..5 {
            most = most.max(round());
            if most == 3 {
                break;
            }
        }
        assert_eq!(
            most, 3,
            "one call to wake them all woke {most} of 3 sleepers"
        );
    }
}
