//! Handle lookups without atomic read-modify-writes, and the deferred release of the pipe and
//! event entries they may be using.
//!
//! Each thread caches the lookups of the pipe and event handles it used last: a handle value,
//! the entry it named, and the count of closes of such handles ([`CLOSES`]) read before the
//! entry was read from the table. A hit is good while the count has not moved. The cache owns
//! nothing: while a call uses a cached entry, the thread names it in a hazard word of its own,
//! and an entry taken out of the table drops only once no hazard names it: at once in
//! CloseHandle when none does, else later on the releaser thread. The hazard store and the
//! count's load are ordered against the close by an asymmetric fence (a compiler fence here,
//! `membarrier(2)` on the closing side), so a hit costs a few plain loads and stores where the
//! table's guard costs two atomic read-modify-writes.
//!
//! Only pipe ends and events are cached. A pipe end's CloseHandle closes the end at once
//! (`handles::close_last`), so the peer sees the close and the instance and the name go before
//! the entry drops. An event's entry holds nothing but the event, whose name goes with it: it
//! outlives its last CloseHandle only while another thread is inside a call on it (a wait),
//! which keeps the object on Windows too. (Every overlapped call with an event looks it up,
//! and so does the wait for it.) Other objects release what they hold (a descriptor, a
//! mailslot's name) when their entry drops, and they drop at once as before.
//!
//! The hazard words also tell the library's sleep hook ([`on_sleep`]) which entry a call that
//! is about to wait is on, so its handle turns non-signalled while it waits (W27) at no cost to
//! the calls that do not wait; a call through the table, which has no hazard, marks its entry
//! in the thread's record instead ([`TableCall`]).
//!
//! This file owns the cache, the hazard records, the releaser thread and the sleep hook; the
//! table and the list of entries waiting for release (under the table's free-list lock) are
//! `handles`'.

use std::cell::Cell;
use std::mem::ManuallyDrop;
use std::ptr;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64};
use std::sync::Arc;
use std::time::Duration;

use npipe_core::AsymmetricFence;

use crate::handles::{self, Entry, Object};

/// Counts the pipe and event entries taken out of the table. A cached lookup holds while the
/// count has not moved since it was made.
static CLOSES: AtomicU64 = AtomicU64::new(0);

/// Orders a hit's hazard store before its load of [`CLOSES`], against the releaser.
static FENCE: AsymmetricFence = AsymmetricFence::new();

/// Lookups a thread keeps, direct-mapped by handle value.
const RECENT: usize = 8;
/// Hazard words per thread: how deep lookups may nest (a call that looks up another handle
/// inside its own, such as an overlapped ReadFile and its event); deeper ones take the table.
const DEPTH: usize = 4;

/// Whether handles of this object may be cached (see the file's header).
pub(crate) fn cacheable(obj: &Object) -> bool {
    matches!(
        obj,
        Object::Server(_) | Object::Client(_) | Object::Event(_)
    )
}

/// One thread's hazard words. Records are never freed: an exiting thread gives its record
/// back for the next new thread.
#[derive(Debug)]
struct Record {
    hazards: [AtomicPtr<Entry>; DEPTH],
    taken: AtomicBool,
    /// The record pushed before this one; set before this one is published, then fixed.
    next: AtomicPtr<Record>,
}

impl Record {
    /// Clears the hazard words and frees the record for the next thread (its thread is gone,
    /// or never existed in this process: see [`forked`]).
    fn give_back(&self) {
        for h in &self.hazards {
            // Release: a scan that sees a word cleared sees the uses of the entry it named done.
            h.store(ptr::null_mut(), Release);
        }
        // Release: the next thread to take the record finds it cleared.
        self.taken.store(false, Release);
    }
}

/// Every record, newest first (push-only).
static RECORDS: AtomicPtr<Record> = AtomicPtr::new(ptr::null_mut());

fn records() -> impl Iterator<Item = &'static Record> {
    // Acquire: pairs with the Release publication in `take_record`.
    let mut p = RECORDS.load(Acquire);
    std::iter::from_fn(move || {
        // SAFETY: records are leaked boxes, never freed, fully set before being published.
        let r = unsafe { p.as_ref() }?;
        p = r.next.load(Acquire);
        Some(r)
    })
}

/// A free record for the calling thread, or a new one.
fn take_record() -> &'static Record {
    for r in records() {
        // Acquire: pairs with the Release in `Record::give_back`, after the last thread cleared it.
        if !r.taken.load(Relaxed)
            && r.taken
                .compare_exchange(false, true, Acquire, Relaxed)
                .is_ok()
        {
            return r;
        }
    }
    let r: &'static Record = Box::leak(Box::new(Record {
        hazards: [const { AtomicPtr::new(ptr::null_mut()) }; DEPTH],
        taken: AtomicBool::new(true),
        next: AtomicPtr::new(ptr::null_mut()),
    }));
    let mut head = RECORDS.load(Relaxed);
    loop {
        r.next.store(head, Relaxed);
        // Release: a thread that finds the record sees its fields.
        match RECORDS.compare_exchange(head, ptr::from_ref(r).cast_mut(), Release, Relaxed) {
            Ok(_) => return r,
            Err(now) => head = now,
        }
    }
}

/// In a forked child, which has only the thread that forked: the hazard words of every other
/// thread's record name entries that no call uses any more (the calls were on threads the
/// child does not have). They are cleared and the records given back; left as they were, a
/// pipe entry one of them named would never drop in the child (its descriptors held open)
/// and the releaser would look at it every 100 ms for the child's whole life.
pub(crate) fn forked() {
    let mine = LOCAL.try_with(|l| l.record.get()).ok().flatten();
    for r in records() {
        if !mine.is_some_and(|m| ptr::eq(m, r)) {
            r.give_back();
        }
    }
}

/// One cached lookup: handle `h` named `entry` when [`CLOSES`] read `closes`.
#[derive(Debug, Clone, Copy)]
struct Cached {
    h: usize,
    closes: u64,
    entry: *const Entry,
}

const EMPTY: Cached = Cached {
    h: 0,
    closes: 0,
    entry: ptr::null(),
};

/// A thread's cache, its hazard record and how many of the record's words are in use.
///
/// It has no destructor, so a lookup reaches it without the lazy registration check a
/// thread-local with one costs on every access; [`GiveBack`] returns the record at thread exit.
#[derive(Debug)]
struct Local {
    record: Cell<Option<&'static Record>>,
    depth: Cell<usize>,
    cache: [Cell<Cached>; RECENT],
    /// The entry of this thread's call through the table in progress, or null, and the hit
    /// depth when it began (see [`TableCall`]).
    table_call: Cell<(*const Entry, usize)>,
}

/// Gives the thread's hazard record back when the thread exits (registered when the thread
/// takes one, in [`remember`]), and empties the thread's cache, which could only hit with a
/// record.
struct GiveBack;

impl Drop for GiveBack {
    fn drop(&mut self) {
        let _ = LOCAL.try_with(|l| {
            if let Some(r) = l.record.take() {
                for c in &l.cache {
                    c.set(EMPTY);
                }
                r.give_back();
            }
        });
    }
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            record: Cell::new(None),
            depth: Cell::new(0),
            cache: [const { Cell::new(EMPTY) }; RECENT],
            table_call: Cell::new((ptr::null(), 0)),
        }
    };
    static GIVE_BACK: GiveBack = const { GiveBack };
}

/// Ends a hit: the hazard word is cleared (after every use of the entry) and freed.
struct Hit<'a> {
    local: &'a Local,
    hazard: &'static AtomicPtr<Entry>,
    depth: usize,
}

impl Drop for Hit<'_> {
    fn drop(&mut self) {
        // Release: the releaser's Acquire scan that sees the word cleared sees every use of
        // the entry done.
        self.hazard.store(ptr::null_mut(), Release);
        self.local.depth.set(self.depth);
    }
}

/// Runs `f` on this thread's cached entry of `h` when the cache holds; gives `f` back when not.
#[inline(always)]
pub(crate) fn with_cached<R, F: FnOnce(&Arc<Entry>) -> R>(h: usize, f: F) -> Result<R, F> {
    let mut f = Some(f);
    let hit = LOCAL.try_with(|l| {
        let c = l.cache[(h / 4) % RECENT].get();
        if c.h != h || c.entry.is_null() {
            return None;
        }
        let depth = l.depth.get();
        let hazard = &l.record.get()?.hazards.get(depth)?;
        // Taken before it is stored: a call in a signal handler that interrupts this one uses
        // the next word instead of clearing this one.
        l.depth.set(depth + 1);
        // Release, as every store to a hazard word: a scan that reads this value (rather than
        // the clear `Hit::drop` stored before it) must also see the uses of the entry the word
        // named before done. A Relaxed store would not carry them (a release sequence holds
        // only read-modify-writes), and a weakly ordered CPU may make it visible before the
        // loads of that entry have completed.
        hazard.store(c.entry.cast_mut(), Release);
        // The hazard store comes before the load below; the closer's membarrier makes either
        // its scan see the hazard or this load see the close that retired the entry.
        FENCE.light();
        if CLOSES.load(Relaxed) != c.closes {
            // Release: as above.
            hazard.store(ptr::null_mut(), Release);
            l.depth.set(depth);
            return None;
        }
        let _hit = Hit {
            local: l,
            hazard,
            depth,
        };
        // SAFETY: `c.entry` came from `Arc::as_ptr` of the table's reference, and no pipe
        // entry left the table since (the count is unchanged after the hazard was published).
        // A close from now on sees this hazard and retires the table's reference to the
        // releaser, which keeps it while the hazard names the entry: the Arc stays valid until
        // `_hit` drops. It is never dropped here (ManuallyDrop), so the borrowed reference count
        // is untouched; `f` may clone it, which counts a reference of its own.
        let entry = ManuallyDrop::new(unsafe { Arc::from_raw(c.entry) });
        Some(f.take().expect("runs once")(&entry))
    });
    match hit {
        Ok(Some(r)) => Ok(r),
        _ => Err(f.expect("not run on a miss")),
    }
}

/// A call that found its entry through the table (no hazard names it): the entry is this
/// thread's for [`on_sleep`] while the guard lives, which the caller keeps for the call.
pub(crate) struct TableCall<'a> {
    prev: Option<(*const Entry, usize)>,
    _entry: std::marker::PhantomData<&'a Entry>,
}

impl TableCall<'_> {
    /// Marks `e` (borrowed for the guard's life, so it outlives the mark).
    pub(crate) fn new(e: &Entry) -> TableCall<'_> {
        TableCall {
            prev: LOCAL
                .try_with(|l| l.table_call.replace((ptr::from_ref(e), l.depth.get())))
                .ok(),
            _entry: std::marker::PhantomData,
        }
    }
}

impl Drop for TableCall<'_> {
    fn drop(&mut self) {
        if let Some(prev) = self.prev {
            let _ = LOCAL.try_with(|l| l.table_call.set(prev));
        }
    }
}

/// The library's sleep hook (`npipe::set_sleep_hook`, set when the first handle is made): a
/// blocking call of this thread is about to wait. The call is on the entry its thread's
/// innermost hit names (the hazard word it is using), or the table call's; that entry's
/// synchronous wait begins (`Entry::sync_wait`, W27). Only pipe calls wait through the hook,
/// and a call on another handle inside one (an OVERLAPPED's event) is over before it waits.
pub(crate) fn on_sleep() {
    let _ = LOCAL.try_with(|l| {
        // The innermost of the two: a table call is inside the hits that began before it.
        let (mut e, at) = l.table_call.get();
        let depth = l.depth.get();
        if e.is_null() || depth > at {
            let (Some(r), Some(d)) = (l.record.get(), depth.checked_sub(1)) else {
                return;
            };
            // Relaxed: this thread's own word, stored by this thread.
            e = r
                .hazards
                .get(d)
                .map_or(ptr::null_mut(), |h| h.load(Relaxed));
        }
        if e.is_null() {
            return;
        }
        // SAFETY: a hazard word of this thread names an entry its hit keeps alive until the
        // hit ends, after this call (the sleep is inside the hit); the table call's entry is
        // borrowed by its guard, which outlives the call. The one exception is a word in the
        // few instructions between its store and the hit's check of the close count, which a
        // signal handler could interrupt with a blocking pipe call of its own that makes no
        // lookup (the Rust API, CallNamedPipe): the library's calls are not async-signal-safe
        // (they allocate and lock), so a handler must not make them.
        unsafe { &*e }.sync_wait();
    });
}

/// The count of pipe and event closes, read before a lookup reads the table (see [`remember`]).
pub(crate) fn closes() -> u64 {
    // Acquire: pairs with the Release in `closed`: a count that includes a close comes with
    // that close's emptied slot.
    CLOSES.load(Acquire)
}

/// Caches the lookup of handle `h`: `e`, read from the table after [`closes`] gave `closes`.
pub(crate) fn remember(h: usize, closes: u64, e: &Arc<Entry>) {
    if !cacheable(&e.obj) {
        return;
    }
    let _ = LOCAL.try_with(|l| {
        if l.record.get().is_none() {
            // Registers the record's return at thread exit; a call from a thread-local
            // destructor that runs after GiveBack's caches nothing.
            if GIVE_BACK.try_with(|_| ()).is_err() {
                return;
            }
            FENCE.prepare();
            l.record.set(Some(take_record()));
        }
        l.cache[(h / 4) % RECENT].set(Cached {
            h,
            closes,
            entry: Arc::as_ptr(e),
        });
    });
}

/// Notes that a cacheable entry left the table: every cached lookup made before misses.
/// Called after the slot was emptied, before the table's reference is retired.
pub(crate) fn closed() {
    // Release: see `closes`.
    CLOSES.fetch_add(1, Release);
}

/// The entries some thread's hazard names now.
fn hazarded() -> Vec<*const Entry> {
    records()
        .flat_map(|r| r.hazards.iter())
        // Acquire: pairs with the Release clear in `Hit::drop`.
        .map(|h| h.load(Acquire).cast_const())
        .filter(|p| !p.is_null())
        .collect()
}

/// Drops the entries of `batch` no hazard names; gives back the others (a thread is inside a
/// call on them, or the fence could not be had).
pub(crate) fn release_unused(batch: Vec<Arc<Entry>>) -> Vec<Arc<Entry>> {
    if batch.is_empty() || !FENCE.heavy() {
        return batch;
    }
    let busy = hazarded();
    let (keep, free): (Vec<_>, Vec<_>) = batch
        .into_iter()
        .partition(|e| busy.contains(&Arc::as_ptr(e)));
    drop(free);
    keep
}

/// How long the releaser gathers closes before one fence covers them all.
const GATHER: Duration = Duration::from_millis(1);
/// How long it waits at most before looking again at an entry a call still uses.
const RETRY_MAX: Duration = Duration::from_millis(100);

/// The releaser thread: waits for retired entries (`handles::dispose` wakes it), then releases
/// what no hazard names, a batch at a time. An entry a call still uses (a thread blocked in a
/// read through another handle to the same pipe end) is looked at again later, less often the
/// longer it stays.
pub(crate) fn releaser() {
    handles::releaser_started(std::thread::current());
    let mut wait = GATHER;
    loop {
        std::thread::sleep(wait);
        let batch = handles::take_retired();
        if batch.is_empty() {
            wait = GATHER;
            std::thread::park();
            continue;
        }
        let keep = release_unused(batch);
        wait = if keep.is_empty() {
            GATHER
        } else {
            (wait * 2).min(RETRY_MAX)
        };
        handles::put_back_retired(keep);
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::CString;

    use super::*;
    use crate::handles::CloseHandle;
    use crate::io_calls::{ReadFile, WriteFile};
    use crate::pipes::{CreateFileA, CreateNamedPipeA};
    use crate::{HANDLE, INVALID_HANDLE_VALUE};

    /// Threads that used cached lookups and exited leave their hazard records for the next
    /// threads (`GiveBack`), instead of each leaving one more record behind.
    #[test]
    fn exiting_threads_give_their_records_back() {
        let name = CString::new(format!(
            r"\\.\pipe\npipe-lookup-records-{}",
            std::process::id()
        ))
        .expect("no NUL");
        // SAFETY: a NUL-terminated name, no security attributes.
        let s =
            unsafe { CreateNamedPipeA(name.as_ptr(), 3, 4 | 2, 1, 4096, 4096, 0, ptr::null_mut()) };
        assert_ne!(s, INVALID_HANDLE_VALUE);
        // SAFETY: as above; GENERIC_READ | GENERIC_WRITE, OPEN_EXISTING.
        let c = unsafe {
            CreateFileA(
                name.as_ptr(),
                0xC000_0000,
                0,
                ptr::null_mut(),
                3,
                0,
                ptr::null_mut(),
            )
        };
        assert_ne!(c, INVALID_HANDLE_VALUE);
        let (s, c) = (s as usize, c as usize);
        let round = move || {
            let mut buf = [0u8; 8];
            let mut n = 0;
            for _ in 0..3 {
                // SAFETY: valid buffers and count; no OVERLAPPED.
                unsafe {
                    assert_eq!(
                        WriteFile(
                            c as HANDLE,
                            b"abc".as_ptr().cast(),
                            3,
                            &mut n,
                            ptr::null_mut()
                        ),
                        1
                    );
                    assert_eq!(
                        ReadFile(
                            s as HANDLE,
                            buf.as_mut_ptr().cast(),
                            8,
                            &mut n,
                            ptr::null_mut()
                        ),
                        1
                    );
                }
                assert_eq!(&buf[..n as usize], b"abc");
            }
            // The lookups were cached: the thread holds a record.
            assert!(LOCAL.with(|l| l.record.get().is_some()));
        };
        std::thread::spawn(round).join().expect("first thread");
        let before = records().count();
        for _ in 0..20 {
            std::thread::spawn(round).join().expect("thread");
        }
        // Each thread gave its record back for the next: 20 threads that did not would add
        // 20 (other tests in this process may take a few at the same time).
        assert!(records().count() < before + 10);

        // Calls from a thread-local destructor that runs after GiveBack's (registered before
        // the thread's first call, so it runs later) still work, and take no record.
        struct Late(Arc<AtomicBool>, usize, usize);
        impl Drop for Late {
            fn drop(&mut self) {
                let (s, c) = (self.1, self.2);
                let mut buf = [0u8; 8];
                let mut n = 0;
                let mut ok = true;
                for _ in 0..3 {
                    // SAFETY: valid buffers and count; no OVERLAPPED.
                    unsafe {
                        ok &= WriteFile(
                            c as HANDLE,
                            b"xyz".as_ptr().cast(),
                            3,
                            &mut n,
                            ptr::null_mut(),
                        ) == 1;
                        ok &= ReadFile(
                            s as HANDLE,
                            buf.as_mut_ptr().cast(),
                            8,
                            &mut n,
                            ptr::null_mut(),
                        ) == 1;
                    }
                    ok &= &buf[..n as usize] == b"xyz";
                }
                let none = LOCAL.with(|l| l.record.get().is_none());
                self.0.store(ok && none, Relaxed);
            }
        }
        thread_local! {
            static LATE: std::cell::RefCell<Option<Late>> = const { std::cell::RefCell::new(None) };
        }
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        std::thread::spawn(move || {
            LATE.with(|l| *l.borrow_mut() = Some(Late(d, s, c)));
            round();
        })
        .join()
        .expect("thread with a late destructor");
        assert!(
            done.load(Relaxed),
            "calls after GiveBack failed or took a record"
        );
        assert!(records().count() < before + 10);
        assert_eq!(CloseHandle(c as HANDLE), 1);
        assert_eq!(CloseHandle(s as HANDLE), 1);
    }
}
