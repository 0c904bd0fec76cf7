//! The address-range arena that connection mappings are placed in, so that unmapping the
//! memory of closed connections costs one TLB shootdown per batch of connections instead of
//! one (or two) per connection.
//!
//! Why: unmapping a shared mapping whose pages were written makes the kernel flush the TLBs
//! of every CPU that may hold its entries, and when the unmap frees page tables, of the idle
//! ones too (an IPI each, and on a virtual machine a VM exit on both ends). On a 2-vCPU VM
//! that was the largest single cost of a short connection (issue 13).
//!
//! Contract:
//! - the arena reserves one `PROT_NONE` range of [`SLOTS`] slots of [`SLOT_BYTES`] on first
//!   use (nothing is committed; if the reservation fails, or the process has an address-space
//!   limit (`RLIMIT_AS`, which counts reserved space), every mapping takes the ordinary path);
//! - [`take`] hands out a free slot, which the caller maps with `MAP_FIXED` (replacing only the
//!   arena's reservation); no slot is handed out twice while it is in use or waiting;
//! - [`give_back`] either returns a slot's range to the reservation at once (`promptly`), or
//!   lists it as waiting; once [`BATCH`] slots wait (or no slot is free), the caller that
//!   listed the last one returns all of them, one `mmap(MAP_FIXED, PROT_NONE)` per run of
//!   adjacent slots. Slots are handed out in address order (next fit), so the slots of
//!   connections that close one after another are mostly adjacent;
//! - a waiting slot keeps its memfd's pages mapped in this process only (and so alive) until
//!   its batch is returned: the caller lists a slot as waiting only when its connection
//!   touched little memory (see `transport::queue`), so at most [`BATCH`] - 1 small
//!   connections' pages wait. A waiting slot's memory is never mapped again for anybody (an
//!   area kept for the next connection with the same peer is not given back at all, see
//!   `transport::queue::recycle`);
//! - a slot whose range could not be returned to the reservation (the kernel refused the
//!   `mmap`) is unmapped and never handed out again: the kernel may place other mappings in
//!   the hole.
//!
//! Fork: the bookkeeping is ordinary process memory and describes this process's address
//! space, which the child gets a copy of, so both go on using their copies. Its lock is one of
//! those the fork handler holds (`semantics::fork`). A batch that another thread was returning
//! at the fork stays taken in the child: those slots are never handed out there.
//!
//! # Safety
//! Only this file maps with `MAP_FIXED` inside the reserved range, and only over slots it
//! marked taken (by [`take`], for the caller) or waiting (for a batch return), so a fixed
//! mapping never replaces anything but the arena's own reservation or the mapping of a slot
//! whose owner gave it back.
#![allow(unsafe_code)]

use std::sync::{Mutex, MutexGuard};

use rustix::mm::{MapFlags, ProtFlags};

/// Bytes per slot: a connection of the default geometry (a 4 KiB header and two 4 MiB rings)
/// fits, rounded up to whole 2 MiB page-table ranges.
pub(crate) const SLOT_BYTES: usize = 10 << 20;
/// Slots in the arena (1.25 GiB of address space, none of it committed).
pub(crate) const SLOTS: usize = 128;
/// Slots that wait before they are returned together.
pub(crate) const BATCH: usize = 16;

/// The arena's bookkeeping.
#[derive(Debug)]
pub(crate) struct Arena {
    /// The reserved range's address; 0 before the first use, `usize::MAX` when the reservation
    /// failed (the arena is then not used).
    base: usize,
    /// Per slot: free, taken (mapped by a live connection, or waiting) or lost.
    state: Vec<SlotState>,
    /// Where the next search for a free slot starts (next fit).
    cursor: usize,
    /// Slots given back and not yet returned to the reservation.
    waiting: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Free,
    Taken,
    /// Its range could not be reserved again: never handed out.
    Lost,
}

/// The arena of this process. One lock for the process, held only for bookkeeping (never
/// across a syscall but the one-time reservation), so the fork handler can hold it.
pub(crate) static ARENA: Mutex<Arena> = Mutex::new(Arena {
    base: 0,
    state: Vec::new(),
    cursor: 0,
    waiting: Vec::new(),
});

fn lock() -> MutexGuard<'static, Arena> {
    ARENA.lock().unwrap_or_else(|p| p.into_inner())
}

/// A slot handed out by [`take`]: its index and address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slot {
    pub(crate) index: usize,
    pub(crate) addr: *mut u8,
}

/// A free slot for a mapping of `len` bytes, or `None` (too large, the arena is full or could
/// not be reserved): the caller then maps anywhere.
pub(crate) fn take(len: usize) -> Option<Slot> {
    if len > SLOT_BYTES {
        return None;
    }
    let mut a = lock();
    if a.base == 0 {
        // Under an address-space limit (RLIMIT_AS counts reserved space too) the reservation
        // would eat into what the program may map: no arena then.
        let limited = rustix::process::getrlimit(rustix::process::Resource::As)
            .current
            .is_some();
        a.base = if limited {
            usize::MAX
        } else {
            super::memory::reserve(SLOTS * SLOT_BYTES).map_or(usize::MAX, |p| p as usize)
        };
        a.state = vec![SlotState::Free; SLOTS];
    }
    if a.base == usize::MAX {
        return None;
    }
    let start = a.cursor;
    let index = (0..SLOTS)
        .map(|k| (start + k) % SLOTS)
        .find(|&i| a.state[i] == SlotState::Free)?;
    a.state[index] = SlotState::Taken;
    a.cursor = (index + 1) % SLOTS;
    Some(Slot {
        index,
        addr: (a.base + index * SLOT_BYTES) as *mut u8,
    })
}

/// Gives back a slot whose mapping its owner no longer uses (see the module docs): at once
/// when `promptly`, otherwise with the next batch.
///
/// # Safety
/// `slot` came from [`take`] and was not given back since; nothing uses the memory mapped in
/// it any more (no reference to it exists and no copy is in progress).
pub(crate) unsafe fn give_back(slot: Slot, promptly: bool) {
    let (base, mut slots) = {
        let mut a = lock();
        if promptly {
            (a.base, vec![slot.index])
        } else {
            a.waiting.push(slot.index);
            if a.waiting.len() < BATCH && a.state.contains(&SlotState::Free) {
                return;
            }
            (a.base, std::mem::take(&mut a.waiting))
        }
    };
    // Outside the lock: the slots stay taken, so nobody else maps them meanwhile.
    slots.sort_unstable();
    let mut outcome = Vec::with_capacity(slots.len());
    let mut i = 0;
    while i < slots.len() {
        let mut j = i + 1;
        while j < slots.len() && slots[j] == slots[j - 1] + 1 {
            j += 1;
        }
        let addr = (base + slots[i] * SLOT_BYTES) as *mut u8;
        // SAFETY: the run `slots[i..j]` lies inside the arena's reservation, and every slot in
        // it was given back by its owner (caller's contract, or an earlier caller's) and is
        // still marked taken, so nothing else uses or maps those addresses.
        let ok = unsafe { unreserve_run(addr, (j - i) * SLOT_BYTES) };
        outcome.extend(slots[i..j].iter().map(|&s| (s, ok)));
        i = j;
    }
    let mut a = lock();
    for (s, ok) in outcome {
        a.state[s] = if ok { SlotState::Free } else { SlotState::Lost };
    }
}

/// Marks a slot whose mapping failed as never to be handed out again (a failed `MAP_FIXED`
/// may have left a hole where the reservation was).
pub(crate) fn lose(slot: Slot) {
    lock().state[slot.index] = SlotState::Lost;
}

/// Replaces whatever is mapped at `addr .. addr + len` with inaccessible reserved space (one
/// TLB shootdown for the whole run). Returns false, with the range unmapped instead, when the
/// kernel refuses.
///
/// # Safety
/// The range lies inside the arena's reservation and nothing uses what is mapped there.
unsafe fn unreserve_run(addr: *mut u8, len: usize) -> bool {
    // SAFETY: the caller guarantees the range is the arena's and unused, so MAP_FIXED replaces
    // only memory nobody will touch again.
    let r = unsafe {
        rustix::mm::mmap_anonymous(
            addr.cast(),
            len,
            ProtFlags::empty(),
            MapFlags::PRIVATE | MapFlags::NORESERVE | MapFlags::FIXED,
        )
    };
    if r.is_ok() {
        return true;
    }
    // SAFETY: as above; unmapping gives the memory back all the same, and the slots are
    // marked lost so the hole is never mapped with MAP_FIXED again.
    unsafe {
        let _ = rustix::mm::munmap(addr.cast(), len);
    }
    false
}

/// Maps `len` bytes of `fd` read-write and shared at `slot`'s address.
///
/// # Safety
/// `slot` came from [`take`] for at least `len` bytes and is not mapped by anyone else; the
/// caller's contract for the fd is that of [`super::Mapping::map`].
pub(crate) unsafe fn map_at(
    slot: Slot,
    fd: std::os::fd::BorrowedFd<'_>,
    len: usize,
) -> super::Result<*mut u8> {
    // SAFETY: the slot is inside the arena's reservation and marked taken for this caller, so
    // MAP_FIXED replaces only reserved, inaccessible space; the fd's contract is the caller's.
    unsafe { super::memory::map_fd_at(slot.addr, fd, len) }
}
