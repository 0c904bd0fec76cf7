//! Handles a parent passed: the `NPIPE_INHERITED_HANDLES` variable CreateProcess writes for
//! its child (each inheritable handle's value, the child's descriptor, its kind, device and
//! inode), and taking those handles in at their values before the child makes a handle of its
//! own.

use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU8, Ordering::SeqCst};

use crate::handles::{self, Entry, Object, HANDLE_FLAG_INHERIT};
use crate::npipe;

/// The environment variable that lists the handles a child inherited.
pub(crate) const INHERITED_VAR: &str = "NPIPE_INHERITED_HANDLES";

/// One entry of [`INHERITED_VAR`]: handle `value` arrives as descriptor `fd` of kind `kind`
/// (`r`/`w` anonymous pipe ends, `f<bits>` files), which is the file `dev`:`ino`.
pub(crate) fn listing_item(value: usize, fd: RawFd, kind: &str, dev: u64, ino: u64) -> String {
    format!("{value}={fd}{kind}:{dev}:{ino}")
}

/// Takes the inherited handles in when libnpipe is loaded (an `.init_array` constructor: at
/// program start, or at `dlopen`): their descriptors become close-on-exec at once, so a
/// `system()` or `posix_spawn` before the program's first npipe call cannot carry them
/// further. The variable is removed when the process has one thread (program start), so no
/// later program sees it; with more threads (a late `dlopen`) another thread may be reading
/// the environment, and it stays (the dev/inode check makes a stale one harmless). Lookups
/// and the table's entry points also call [`adopt_inherited`], for a static link that leaves
/// this constructor's object out.
extern "C" fn adopt_at_load() {
    if adopt_inherited() && one_thread() {
        std::env::remove_var(INHERITED_VAR);
    }
}

/// Whether this process has exactly one thread.
fn one_thread() -> bool {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count() == 1)
        .unwrap_or(false)
}

#[used]
#[link_section = ".init_array"]
static ADOPT_AT_LOAD: extern "C" fn() = adopt_at_load;

/// 0: not looked at, 1: being taken in, 2: done.
static ADOPTED: AtomicU8 = AtomicU8::new(0);

/// Takes in the handles a parent passed through NPIPE_INHERITED_HANDLES, at their values,
/// before this process makes a handle of its own. Each entry is `value=fd<kind>:dev:ino`; a
/// descriptor that is not open, or is not the file the parent saw (dev and inode differ: the
/// variable reached a later program by accident), is skipped. True when this call took them
/// in (so a lookup that missed may look again).
pub(crate) fn adopt_inherited() -> bool {
    if ADOPTED.load(SeqCst) == 2 {
        return false;
    }
    if ADOPTED.compare_exchange(0, 1, SeqCst, SeqCst).is_err() {
        while ADOPTED.load(SeqCst) != 2 {
            std::thread::yield_now();
        }
        // Another thread took them in while this one waited: a lookup that missed looks again.
        return true;
    }
    if let Some(list) = std::env::var_os(INHERITED_VAR) {
        let mut taken = Vec::new();
        for item in list.to_string_lossy().split(',') {
            adopt_one(item, &mut taken);
        }
    }
    ADOPTED.store(2, SeqCst);
    true
}

/// Takes in one entry of the listing; `taken` holds the descriptors above 2 that entries
/// before it took, which none may own twice.
fn adopt_one(item: &str, taken: &mut Vec<RawFd>) -> Option<()> {
    let (value, rest) = item.split_once('=')?;
    let value: usize = value.parse().ok()?;
    let mut parts = rest.split(':');
    let head = parts.next()?;
    let dev: u64 = parts.next()?.parse().ok()?;
    let ino: u64 = parts.next()?.parse().ok()?;
    let split = head.find(|c: char| !c.is_ascii_digit())?;
    let fd: RawFd = head[..split].parse().ok()?;
    let kind = &head[split..];
    if fd < 0 {
        return None;
    }
    // SAFETY: F_GETFD on any number only asks whether it is open.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return None;
    }
    // SAFETY: `fd` is open (checked); it is borrowed only for the fstat below.
    let st = rustix::fs::fstat(unsafe { BorrowedFd::borrow_raw(fd) }).ok()?;
    if st.st_dev as u64 != dev || st.st_ino as u64 != ino {
        return None;
    }
    // A standard descriptor: the handle the parent gave as this standard handle, which is
    // also this inheritable handle, as on Windows (closing it releases the pipe). It is made
    // over a copy, as GetStdHandle makes its handles, and stands for the descriptor; listed
    // again for another standard descriptor, the same handle stands for that one too.
    // A descriptor above 2 is owned by the first entry that names it, and by no other.
    if fd >= 3 {
        if taken.contains(&fd) {
            return None;
        }
        taken.push(fd);
    }
    if let Some(e) = handles::get_present(value as crate::HANDLE) {
        // Taken in already: at a standard descriptor listed first, which this one is too, or
        // whose copy for an earlier build's child this is (closed here: the parent made it
        // for this listing alone).
        if fd < 3 {
            e.std_slot.as_ref()?.add(fd);
            crate::files::adopt_std(fd, value);
        } else {
            // SAFETY: the parent passed this descriptor for this listing entry alone, checked
            // to be the same file; nothing in this process owns it (`taken`).
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        return Some(());
    }
    let owned = if fd < 3 {
        // SAFETY: `fd` is open (checked); it is borrowed only to be copied above 2,
        // close-on-exec, into a descriptor the handle owns.
        rustix::io::fcntl_dupfd_cloexec(unsafe { BorrowedFd::borrow_raw(fd) }, 3).ok()?
    } else {
        // SAFETY: the parent passed this descriptor for this handle alone (checked to be the
        // same file), nothing in this process has taken it (adoption runs before any handle
        // exists), and no entry before this one took it (`taken`).
        unsafe { OwnedFd::from_raw_fd(fd) }
    };
    let obj = match kind {
        "r" => Object::AnonRead(npipe::AnonReader::from_fd(owned).ok()?),
        "w" => Object::AnonWrite(npipe::AnonWriter::from_fd(owned).ok()?),
        k if k.starts_with('f') => {
            let bits: u8 = k[1..].parse().ok()?;
            rustix::io::fcntl_setfd(&owned, rustix::io::FdFlags::CLOEXEC).ok()?;
            Object::File(crate::files::File::adopt(owned, bits)?)
        }
        _ => return None,
    };
    let mut e = Entry::new(obj, false);
    if fd < 3 {
        e.std_slot = Some(crate::files::StdSlot::new(fd));
    }
    if !handles::insert_at(value, e, HANDLE_FLAG_INHERIT) {
        return None;
    }
    if fd < 3 {
        crate::files::adopt_std(fd, value);
    }
    Some(())
}
