//! Liveness marks: each thread that takes a ring lock holds, for the rest of its life, one robust
//! mutex in a table shared with the processes this one forks, so any of them can tell whether
//! that thread still lives, and sleep until it dies.
//!
//! The ring locks ([`super::SidePage`]) are plain futex words: taking one is one
//! compare-exchange, releasing it one exchange. What they lack by themselves is what a robust
//! mutex gives: a holder that dies must not wedge the lock. The kernel keeps, per thread, a list
//! of the robust futexes the thread holds (`set_robust_list(2)`), marks each "owner died" when
//! the thread ends, however it ends, and wakes a waiter; that list belongs to glibc, and every
//! robust mutex taken and released goes on and off it (about 300 instructions per 64 B write and
//! read pair, issue 13). Here a thread goes on it once, with its *mark*:
//! - the table is one `MAP_SHARED | MAP_ANONYMOUS` mapping made before this process's first ring
//!   lock (so before any fork that can share a ring lock), of [`SLOTS`] slots; each slot holds a
//!   `PTHREAD_PROCESS_SHARED`, `PTHREAD_MUTEX_ROBUST` mutex and a claim counter;
//! - a thread's first ring lock claims a free slot (a mutex nobody holds, or one whose holder
//!   died), locks its mutex and keeps it until it ends; the mutex's futex word then holds the
//!   thread's id, and the kernel replaces it with "owner died" when the thread ends;
//! - the thread's [`Token`] is its id, its slot and the slot's claim count; a ring lock word holds
//!   its holder's token. A holder is alive while its slot's mutex word still holds its id and the
//!   slot's count is still the one in the token (a thread that reuses the id and claims the same
//!   slot in between would also have to land on the same count);
//! - a thread that waits for a ring lock sleeps on two futexes at once (`futex_waitv(2)`): the
//!   lock word, and the holder's mutex word with its waiters bit set, which the kernel wakes when
//!   the holder dies.
//!
//! The layout of the mutex's first word (the futex word: owner id, `FUTEX_WAITERS`,
//! `FUTEX_OWNER_DIED`) is the kernel's robust-futex ABI, which glibc's robust mutexes follow on
//! every architecture (`__data.__lock`, the first field).
//!
//! A forked child has only the forking thread, whose mark is its parent thread's: the fork
//! handler forgets it ([`forked_child`]) and the thread claims its own on its next lock. A child
//! made without the handlers (`_Fork`) finds out from a private page the kernel zeroed at the
//! fork (`MADV_WIPEONFORK`, [`OWN_AT`]; Linux 4.14, where the advice is allowed). A lock kept
//! across calls (a zero-copy message, a step) is released, and a zero-copy message consumed,
//! only by a thread whose mark the lock names ([`is_mine`]): a child's copy of something the
//! forking thread held locked must not release or consume the parent's. A lock taken and
//! released within one call (a scoped guard, which is not `Send`) is released without the look.
#![allow(unsafe_code)]

// The futex word of glibc's `pthread_mutex_t` is its first field; other C libraries lay the
// mutex out differently.
#[cfg(not(target_env = "gnu"))]
compile_error!("sys::liveness reads the futex word of glibc's robust mutexes");

use std::cell::Cell;
use std::sync::atomic::{
    AtomicPtr, AtomicU32, Ordering::AcqRel, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};
use std::time::{Duration, Instant};

use super::{Errno, Mapping, Result};

/// Slots in the table: marks of threads alive at once, in this process and those it forked
/// (the slot field of a token has 16 bits). Pages of the table that no claim reached are never
/// touched and take no memory; the 4 MiB mapping still counts in full where the system charges
/// shared mappings at `mmap` (strict overcommit, `RLIMIT_AS`).
const SLOTS: usize = 65536;
/// Bytes per slot: the mutex (40 bytes on glibc's 64-bit targets), then the claim count.
const STRIDE: usize = 64;
const COUNT_OFF: usize = 48;
/// A slot's state word, after the count: [`FRESH`], [`INITIALISING`] or [`READY`].
const STATE_OFF: usize = 52;
const FRESH: u32 = 0;
const INITIALISING: u32 = 1;
const READY: u32 = 2;

const _: () = assert!(std::mem::size_of::<libc::pthread_mutex_t>() <= COUNT_OFF);
const _: () = assert!(STATE_OFF + 4 <= STRIDE);

/// The kernel's robust-futex bits (`linux/futex.h`).
const FUTEX_WAITERS: u32 = 0x8000_0000;
const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
/// The thread id's bits of a robust futex word; thread ids never reach bit 30.
const TID_MASK: u32 = 0x3fff_ffff;

/// A thread's mark: `tid | slot << 32 | count << 48`; never 0, and bit 31 is always clear (the
/// ring lock word keeps its own waiters bit there).
pub(crate) type Token = u64;

/// The table: `SLOTS * STRIDE` bytes of a `MAP_SHARED | MAP_ANONYMOUS` mapping that stays
/// mapped for the process's life.
#[derive(Clone, Copy)]
struct Table {
    base: *mut u8,
}

/// The table's address; null until it is made. An atomic rather than a `OnceLock`, so a fork
/// while another thread makes it leaves nothing half done in the child (which would find the
/// table missing and make its own: it shares no lock with anybody yet).
static TABLE_AT: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());

/// The first word of a private page the kernel zeroes in a forked child (`MADV_WIPEONFORK`),
/// made with the table: the pid of the process whose threads claimed their tokens here, set
/// by the first claim in a child. A thread keeps the value its claim saw next to its token,
/// so the forking thread's copy in a child made without the fork handlers (`_Fork`) no longer
/// matches and claims again. [`NO_OWN`] (always 0) when the kernel refused the advice (before
/// 4.14): the fork handler is then the only reset. Null until the table is made.
static OWN_AT: AtomicPtr<AtomicU32> = AtomicPtr::new(std::ptr::null_mut());
static NO_OWN: AtomicU32 = AtomicU32::new(0);

/// A thread's token and the [`OWN_AT`] value its claim saw.
struct Mine {
    token: Cell<Token>,
    own: Cell<u32>,
}

thread_local! {
    /// This thread's token; 0 until its first ring lock (and again in a forked child).
    static MINE: Mine = const {
        Mine {
            token: Cell::new(0),
            own: Cell::new(0),
        }
    };
}

/// The table, mapped on first use. Called when a side page is made, so the table exists before
/// any ring lock that a later fork could share.
pub(crate) fn table_ready() -> Result<()> {
    table().map(|_| ())
}

#[inline]
fn table() -> Result<Table> {
    // Acquire: the mapping's address published by `make_table`.
    let base = TABLE_AT.load(Acquire);
    if base.is_null() {
        return make_table();
    }
    Ok(Table { base })
}

#[cold]
fn make_table() -> Result<Table> {
    // Before the table is published, so before any token exists.
    make_own_page();
    let map = Mapping::anonymous_shared(SLOTS * STRIDE)?;
    let mine = map.as_ptr();
    // AcqRel: publishes the new mapping (zeroed: every slot FRESH), or reads the winner's.
    match TABLE_AT.compare_exchange(std::ptr::null_mut(), mine, AcqRel, Acquire) {
        Ok(_) => {
            // Mapped for the process's life (tokens in side pages name its slots).
            std::mem::forget(map);
            Ok(Table { base: mine })
        }
        // Another thread made it first: ours is unmapped.
        Err(base) => Ok(Table { base }),
    }
}

/// The current [`OWN_AT`] value (0 before the table exists, when no token exists either).
#[inline]
fn own_word() -> u32 {
    // Relaxed: a thread with a token made or found the table (an Acquire load that followed
    // the Release publication of OWN_AT); the word changes only in a single-threaded child
    // before its first claim, or at a claim that sets it to the same pid.
    let p = OWN_AT.load(Relaxed);
    if p.is_null() {
        return 0;
    }
    // SAFETY: a non-null OWN_AT is NO_OWN or the first word of a private page mapped for the
    // process's life (`make_own_page`).
    unsafe { &*p }.load(Relaxed)
}

/// Makes [`OWN_AT`] (once; a racing loser unmaps its page).
fn make_own_page() {
    if !OWN_AT.load(Acquire).is_null() {
        return;
    }
    // SAFETY: a fresh private anonymous page at an address the kernel picks; the advice only
    // changes what a child sees.
    let page = unsafe {
        rustix::mm::mmap_anonymous(
            std::ptr::null_mut(),
            4096,
            rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
            rustix::mm::MapFlags::PRIVATE,
        )
    };
    let own: *mut AtomicU32 = match page {
        Ok(page) => {
            // SAFETY: advice on the page just mapped.
            match unsafe { rustix::mm::madvise(page, 4096, rustix::mm::Advice::LinuxWipeOnFork) } {
                Ok(()) => {
                    let w = page.cast::<AtomicU32>();
                    // SAFETY: the page's first word, ours alone until published below.
                    unsafe { &*w }.store(std::process::id(), Relaxed);
                    w
                }
                Err(_) => {
                    // SAFETY: unmapping the page just mapped, which nothing else has seen.
                    let _ = unsafe { rustix::mm::munmap(page, 4096) };
                    std::ptr::addr_of!(NO_OWN).cast_mut()
                }
            }
        }
        Err(_) => std::ptr::addr_of!(NO_OWN).cast_mut(),
    };
    // AcqRel: publishes the pid stored above (the table's own publication follows it).
    if let Err(_other) = OWN_AT.compare_exchange(std::ptr::null_mut(), own, AcqRel, Acquire) {
        if own != std::ptr::addr_of!(NO_OWN).cast_mut() {
            // SAFETY: our page, seen by nobody: another thread published first.
            let _ = unsafe { rustix::mm::munmap(own.cast(), 4096) };
        }
    }
}

/// At a claim: the [`OWN_AT`] value for this process, set to its pid first when a forked
/// child's page reads 0.
fn own_for_claim() -> u32 {
    let p = OWN_AT.load(Acquire);
    if p.is_null() || p == std::ptr::addr_of!(NO_OWN).cast_mut() {
        return 0;
    }
    // SAFETY: as in `own_word`.
    let w = unsafe { &*p };
    if w.load(Relaxed) == 0 {
        w.store(std::process::id(), Relaxed);
    }
    w.load(Relaxed)
}

impl Table {
    fn mutex(&self, slot: usize) -> *mut libc::pthread_mutex_t {
        assert!(slot < SLOTS, "liveness slot out of range");
        // SAFETY: slot * STRIDE + STRIDE <= SLOTS * STRIDE, the mapping's length.
        unsafe { self.base.add(slot * STRIDE).cast() }
    }

    /// The mutex's futex word (see the module docs).
    fn futex(&self, slot: usize) -> &'static AtomicU32 {
        // SAFETY: the first 4 bytes of the slot, 4-aligned in a page-aligned mapping that lives
        // for the process's life. glibc changes the word with atomic instructions (and reads it
        // with plain loads, which on the supported targets are atomic for an aligned word), the
        // kernel with atomic ones.
        unsafe { &*(self.mutex(slot) as *const AtomicU32) }
    }

    fn word(&self, slot: usize, off: usize) -> &'static AtomicU32 {
        assert!(slot < SLOTS, "liveness slot out of range");
        // SAFETY: inside the slot (off + 4 <= STRIDE, checked at compile time for the two
        // offsets used), 4-aligned, in a mapping that lives for the process's life.
        unsafe { &*(self.base.add(slot * STRIDE + off) as *const AtomicU32) }
    }

    /// Claims `slot` for the calling thread if it is free: its mutex is taken (and kept).
    fn try_claim(&self, slot: usize) -> bool {
        let state = self.word(slot, STATE_OFF);
        // Acquire: pairs with the Release store of READY, after the mutex was initialised.
        match state.load(Acquire) {
            READY => {}
            FRESH => {
                if state
                    .compare_exchange(FRESH, INITIALISING, Acquire, Relaxed)
                    .is_err()
                {
                    return false;
                }
                let m = self.mutex(slot);
                // SAFETY: INITIALISING is ours, so nobody else touches this mutex until READY
                // is stored; `attr` is initialised before use and destroyed after.
                let ok = unsafe {
                    let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
                    let ok = libc::pthread_mutexattr_init(&mut attr) == 0
                        && libc::pthread_mutexattr_setpshared(
                            &mut attr,
                            libc::PTHREAD_PROCESS_SHARED,
                        ) == 0
                        && libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST)
                            == 0
                        && libc::pthread_mutex_init(m, &attr) == 0;
                    libc::pthread_mutexattr_destroy(&mut attr);
                    ok
                };
                if !ok {
                    // Left INITIALISING: never used (as when a process is killed right here:
                    // one slot of 65,536 lost to the processes sharing the table).
                    return false;
                }
                // Release: the initialised mutex before READY.
                state.store(READY, Release);
            }
            _ => return false,
        }
        // SAFETY: an initialised robust process-shared mutex inside the live table.
        match unsafe { libc::pthread_mutex_trylock(self.mutex(slot)) } {
            0 => true,
            libc::EOWNERDEAD => {
                // SAFETY: EOWNERDEAD hands the mutex to us; it protects no data, so it is
                // consistent as it stands.
                unsafe { libc::pthread_mutex_consistent(self.mutex(slot)) };
                true
            }
            _ => false,
        }
    }
}

/// The calling thread's token, claiming a slot on the first call.
#[inline]
pub(crate) fn mine() -> Result<Token> {
    let (t, own) = MINE.with(|m| (m.token.get(), m.own.get()));
    if t != 0 && own == own_word() {
        return Ok(t);
    }
    claim()
}

/// Whether `t` is the calling thread's token (never true in a forked child that has not
/// claimed its own yet, whose copy of the forking thread's token is not its own).
#[inline]
pub(crate) fn is_mine(t: Token) -> bool {
    let (m, own) = MINE.with(|m| (m.token.get(), m.own.get()));
    m != 0 && m == t && own == own_word()
}

#[cold]
#[inline(never)]
fn claim() -> Result<Token> {
    let table = table()?;
    let tid = rustix::thread::gettid().as_raw_nonzero().get() as u32;
    if tid & !TID_MASK != 0 {
        return Err(Errno::RANGE);
    }
    for slot in 0..SLOTS {
        if table.try_claim(slot) {
            // Release: after the trylock put our id in the mutex word. Between the two, a
            // checker can take a dead holder of this slot with our id (a reused thread id) for
            // alive; a sleeper looks again at least every second (`sleep`), by when the count has
            // moved on.
            let count = table
                .word(slot, COUNT_OFF)
                .fetch_add(1, Release)
                .wrapping_add(1);
            let t = u64::from(tid) | (slot as u64) << 32 | u64::from(count & 0xffff) << 48;
            let own = own_for_claim();
            MINE.with(|m| {
                m.token.set(t);
                m.own.set(own);
            });
            return Ok(t);
        }
    }
    Err(Errno::AGAIN)
}

/// In a forked child (its `pthread_atfork` child handler): the forking thread's mark is its
/// parent thread's, which goes on living there; this thread claims its own on its next lock.
pub(crate) fn forked_child() {
    MINE.with(|m| m.token.set(0));
}

fn parts(t: Token) -> (u32, usize, u32) {
    (
        (t & u64::from(TID_MASK)) as u32,
        ((t >> 32) & 0xffff) as usize,
        (t >> 48) as u32,
    )
}

/// Whether the thread of token `t` is still alive. A token names a slot of this process's
/// table (tokens are only ever stored in side pages, which the peer never maps).
pub(crate) fn alive(t: Token) -> bool {
    let Ok(table) = table() else { return false };
    let (tid, slot, count) = parts(t);
    if slot >= SLOTS {
        return false;
    }
    // Acquire: the claim's Release increment (see `claim`).
    let c = table.word(slot, COUNT_OFF).load(Acquire);
    let w = table.futex(slot).load(Acquire);
    w & TID_MASK == tid && w & FUTEX_OWNER_DIED == 0 && c & 0xffff == count
}

/// What [`sleep`] ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Woken {
    /// Woken, or a value had changed already: look again.
    Again,
    /// `deadline` passed.
    TimedOut,
}

/// Set when the kernel has no `futex_waitv` (before 5.16).
static NO_WAITV: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[cfg(test)]
thread_local! {
    static TEST_NO_WAITV: Cell<bool> = const { Cell::new(false) };
}

/// Tests: the calling thread behaves as on a kernel without `futex_waitv`.
#[cfg(test)]
pub(crate) fn without_waitv() {
    TEST_NO_WAITV.with(|t| t.set(true));
}

/// Tests: whether sleepers use `futex_waitv` (no fallback was taken in this process).
#[cfg(test)]
pub(crate) fn waitv_in_use() -> bool {
    !NO_WAITV.load(Relaxed)
}

fn no_waitv() -> bool {
    #[cfg(test)]
    if TEST_NO_WAITV.with(Cell::get) {
        return true;
    }
    NO_WAITV.load(Relaxed)
}

/// The longest a sleeper sleeps before it looks at the holder again by itself. The kernel
/// wakes one sleeper of a mark when its thread dies, and that sleeper wakes the others
/// ([`wake_all_on`]); this bounds the wait when that sleeper cannot (it was woken for
/// another reason first and its wake-up was spent, or its process was killed right then).
/// Tests make it long, so that what they measure is the wakes, not this.
const LOOK_AGAIN: Duration = Duration::from_secs(if cfg!(test) { 10 } else { 1 });

/// Sleeps until the futex word at `word` (a 32-bit word in a shared mapping) no longer holds
/// `expected`, or the thread of `holder` dies, or `deadline` passes. Returns at once when
/// either has happened already. Spurious returns are allowed: the caller looks again.
pub(crate) fn sleep(
    word: *const u32,
    expected: u32,
    holder: Token,
    deadline: Option<Instant>,
) -> Result<Woken> {
    let table = table()?;
    let (tid, slot, _) = parts(holder);
    if slot >= SLOTS || !alive(holder) {
        return Ok(Woken::Again);
    }
    // Ask the kernel to wake sleepers when the holder dies: its waiters bit.
    let f = table.futex(slot);
    let mut w = f.load(Acquire);
    loop {
        if w & TID_MASK != tid || w & FUTEX_OWNER_DIED != 0 {
            return Ok(Woken::Again);
        }
        if w & FUTEX_WAITERS != 0 {
            break;
        }
        // Relaxed: the value is only compared; the sleep below re-reads it in the kernel.
        match f.compare_exchange_weak(w, w | FUTEX_WAITERS, Relaxed, Relaxed) {
            Ok(_) => {
                w |= FUTEX_WAITERS;
                break;
            }
            Err(now) => w = now,
        }
    }
    let look_again = Instant::now() + LOOK_AGAIN;
    let (until, capped) = match deadline {
        Some(d) if d <= look_again => (d, false),
        _ => (look_again, true),
    };
    let ts = monotonic_timespec(until);
    if !no_waitv() {
        use rustix::thread::futex;
        let mut ws = [futex::Wait::new(), futex::Wait::new()];
        ws[0].val = u64::from(expected);
        ws[0].uaddr = futex::WaitPtr::new(word as *mut _);
        // Not FUTEX2_PRIVATE: both words live in MAP_SHARED mappings, and the waker (the
        // holder, or the kernel at its death) may be another process.
        ws[0].flags = futex::WaitFlags::SIZE_U32;
        ws[1].val = u64::from(w);
        ws[1].uaddr = futex::WaitPtr::new(f.as_ptr().cast());
        ws[1].flags = futex::WaitFlags::SIZE_U32;
        match futex::waitv(
            &ws,
            futex::WaitvFlags::empty(),
            Some(&ts),
            rustix::time::ClockId::Monotonic,
        ) {
            Ok(_) | Err(Errno::AGAIN) | Err(Errno::INTR) => return Ok(Woken::Again),
            Err(Errno::TIMEDOUT) if capped => return Ok(Woken::Again),
            Err(Errno::TIMEDOUT) => return Ok(Woken::TimedOut),
            // No futex_waitv: before 5.16, or refused by a seccomp filter that predates it.
            Err(Errno::NOSYS) | Err(Errno::PERM) | Err(Errno::ACCESS) => {
                NO_WAITV.store(true, Relaxed)
            }
            Err(e) => return Err(e),
        }
    }
    // Kernels before 5.16 (and valgrind): sleep on the lock word alone and look at the holder
    // every 20 ms.
    let step = Instant::now() + Duration::from_millis(20);
    futex_wait_raw(
        word,
        expected,
        until.min(step).saturating_duration_since(Instant::now()),
    );
    match deadline {
        Some(d) if Instant::now() >= d => Ok(Woken::TimedOut),
        _ => Ok(Woken::Again),
    }
}

/// `FUTEX_WAIT` (shared) on the 32-bit word at `word` for at most `timeout`. A raw address:
/// the ring lock's futex word is half of a 64-bit atomic, which Rust code only ever accesses
/// whole.
fn futex_wait_raw(word: *const u32, expected: u32, timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as _,
    };
    // SAFETY: FUTEX_WAIT only reads the word (the caller's live, 4-aligned lock word) and the
    // timespec, which lives across the call; any outcome (woken, changed, timed out,
    // interrupted) sends the caller back to look again.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word,
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
        );
    }
}

/// `FUTEX_WAKE` (shared) of one sleeper on the 32-bit word at `word` (see [`futex_wait_raw`]
/// for why an address).
pub(crate) fn futex_wake_one_raw(word: *const u32) {
    // SAFETY: FUTEX_WAKE does not access the word's memory through the pointer beyond
    // hashing its address; the word lives in a shared mapping that outlives the call.
    unsafe {
        libc::syscall(libc::SYS_futex, word, libc::FUTEX_WAKE, 1);
    }
}

/// Wakes every sleeper on the mark of `holder`, found dead: the kernel woke one at the death,
/// and the others may wait for other locks the holder held. Called by whoever finds a holder
/// it slept on dead, whether it takes that lock over or not.
pub(crate) fn wake_all_on(holder: Token) {
    let Ok(table) = table() else { return };
    let (_, slot, _) = parts(holder);
    if slot < SLOTS {
        super::futex_wake(table.futex(slot), u32::MAX);
    }
}

/// `deadline` as an absolute CLOCK_MONOTONIC timespec (clamped at now).
fn monotonic_timespec(deadline: Instant) -> rustix::time::Timespec {
    let left = deadline.saturating_duration_since(Instant::now());
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let now = Duration::new(now.tv_sec as u64, now.tv_nsec as u32);
    let at = now.saturating_add(left);
    rustix::time::Timespec {
        tv_sec: at.as_secs().min(i64::MAX as u64) as i64,
        tv_nsec: at.subsec_nanos() as _,
    }
}
