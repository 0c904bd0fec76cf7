//! Credentials: the supplementary groups of a socket's peer (`SO_PEERGROUPS`), the session of
//! a socket's peer (through a pidfd, `SO_PEERPIDFD`), and the per-thread file-system identity
//! (fsuid, fsgid, supplementary groups) that impersonation switches.
//!
//! The credentials avoid the pid on purpose: `SO_PEERCRED` and `SO_PEERGROUPS` are snapshots the
//! kernel took when the peer called `connect()`, so a peer that exits and whose pid is reused
//! cannot lend its identity to the new process, and no `/proc/<pid>` lookup is ever made. The
//! one pid lookup (the peer's session, `getsid`) is fenced by a pidfd the kernel gives for the
//! very peer process (`SO_PEERPIDFD`): the answer counts only if that process still exists
//! after the lookup, when its pid cannot have been reused.
//!
//! The identity calls are raw syscalls, never the glibc wrappers: glibc's `setgroups` (and
//! `setuid` and friends) broadcast the change to every thread of the process, whereas the
//! kernel calls change only the calling thread's credentials, which is what impersonation
//! needs. `setfsuid`/`setfsgid` exist only per thread.
//!
//! A thread starts with its creator's credentials, so a thread started by one that impersonates
//! would run as the client; Windows gives a new thread no impersonation token. This file keeps
//! the calling thread's impersonation ([`set_impersonation`]: its own identity and the
//! client's), and [`NewThreadIdentity`] carries the own identity from a creating thread to the
//! thread it starts, which takes it first. Every thread the library starts does
//! (`spawn_thread`, and the C ABI's CreateThread and service threads through the public type).
//!
//! # Safety
//! `getsockopt`, `getgroups` and `setgroups` get a buffer pointer with its exact length in
//! bytes or entries; the other calls take integers only. The module invariants of `sys` apply.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd};

use super::{Errno, Result};

/// A thread's impersonation of a pipe client.
#[derive(Debug, Clone)]
pub(crate) struct Impersonation {
    /// The thread's own identity: what RevertToSelf gives back, and what a thread it starts
    /// runs as.
    pub own: FsIdentity,
    /// The client's it took on: what its thread token says, even where an unprivileged
    /// thread of the client's user kept its own groups.
    pub client: FsIdentity,
}

thread_local! {
    /// The calling thread's impersonation, `None` when it does not impersonate.
    static IMPERSONATION: RefCell<Option<Impersonation>> = const { RefCell::new(None) };
}

/// Reads the calling thread's impersonation (`None` when it does not impersonate, and in the
/// thread's teardown once its thread-locals are gone: a C destructor or `atexit` handler that
/// calls GetUserName or CreateThread then must not abort the process).
pub(crate) fn with_impersonation<R>(f: impl FnOnce(Option<&Impersonation>) -> R) -> R {
    let mut f = Some(f);
    if let Ok(r) = IMPERSONATION.try_with(|i| f.take().expect("runs once")(i.borrow().as_ref())) {
        return r;
    }
    f.take().expect("not run")(None)
}

/// The calling thread's own identity while it impersonates (what RevertToSelf gives back and a
/// thread it starts runs as), `None` when it does not impersonate.
pub(crate) fn own_while_impersonating() -> Option<FsIdentity> {
    with_impersonation(|i| i.map(|i| i.own.clone()))
}

/// Records (`Some`) or ends (`None`) the calling thread's impersonation; gives the one
/// recorded before (`None`, recording nothing, in the thread's teardown once its
/// thread-locals are gone).
pub(crate) fn set_impersonation(now: Option<Impersonation>) -> Option<Impersonation> {
    IMPERSONATION
        .try_with(|i| std::mem::replace(&mut *i.borrow_mut(), now))
        .unwrap_or(None)
}

/// The identity a thread should start with, taken in the thread that starts it
/// ([`NewThreadIdentity::capture`]) and put on first thing in the new one
/// ([`NewThreadIdentity::adopt`]): the creator's own identity when it impersonates, since a
/// Linux thread inherits its creator's credentials and a Windows thread starts without its
/// creator's impersonation token. Nothing to do otherwise.
#[derive(Debug)]
#[must_use = "adopt it in the new thread"]
pub struct NewThreadIdentity(Option<FsIdentity>);

impl NewThreadIdentity {
    /// Takes what a thread the calling thread is about to start must run as.
    pub fn capture() -> Self {
        Self(own_while_impersonating())
    }

    /// Called first in the new thread: it takes its creator's own identity if the creator
    /// impersonated. Best effort: a thread that could not switch back (which needs CAP_SETUID
    /// and CAP_SETGID, which the creator had to impersonate another user) keeps what it got.
    pub fn adopt(self) {
        if let Some(own) = self.0 {
            let _ = set_fs_identity(&own);
        }
    }
}

/// `SO_PEERGROUPS` (Linux 4.13; asm-generic value, as on x86-64 and aarch64).
#[cfg(not(any(
    target_arch = "mips",
    target_arch = "mips64",
    target_arch = "sparc64",
    target_arch = "powerpc",
    target_arch = "powerpc64"
)))]
const SO_PEERGROUPS: libc::c_int = 59;

/// `SO_PEERPIDFD` (Linux 6.5; asm-generic value).
const SO_PEERPIDFD: libc::c_int = 77;

/// Most supplementary groups the kernel allows (`NGROUPS_MAX`).
const NGROUPS_MAX: usize = 65536;

fn last_errno() -> Errno {
    Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::INVAL)
}

/// The supplementary groups of the peer of a connected Unix socket, as the kernel recorded
/// them at `connect()`. `ENOPROTOOPT` on kernels older than 4.13 (or architectures where the
/// option is not wired here).
pub(crate) fn peer_groups(fd: BorrowedFd<'_>) -> Result<Vec<u32>> {
    #[cfg(any(
        target_arch = "mips",
        target_arch = "mips64",
        target_arch = "sparc64",
        target_arch = "powerpc",
        target_arch = "powerpc64"
    ))]
    {
        let _ = fd;
        return Err(Errno::NOPROTOOPT);
    }
    #[cfg(not(any(
        target_arch = "mips",
        target_arch = "mips64",
        target_arch = "sparc64",
        target_arch = "powerpc",
        target_arch = "powerpc64"
    )))]
    {
        let mut groups: Vec<u32> = vec![0; 32];
        loop {
            let mut len = (groups.len() * 4) as libc::socklen_t;
            // SAFETY:
            // 1. `groups` owns `len` bytes of u32s, so the kernel writes inside it;
            // 2. the fd is open for the duration of the call (borrowed);
            // 3. any bit pattern is a valid u32.
            let r = unsafe {
                libc::getsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    SO_PEERGROUPS,
                    groups.as_mut_ptr().cast(),
                    &mut len,
                )
            };
            if r == 0 {
                groups.truncate(len as usize / 4);
                return Ok(groups);
            }
            let e = last_errno();
            // ERANGE: the buffer was too small and `len` now holds the size needed.
            if e == Errno::RANGE && (len as usize) / 4 > groups.len() && groups.len() < NGROUPS_MAX
            {
                groups.resize((len as usize / 4).min(NGROUPS_MAX), 0);
                continue;
            }
            return Err(e);
        }
    }
}

/// The session id (`getsid`) of the peer of a connected Unix socket, whose pid as seen here is
/// `pid`. `ENOPROTOOPT` on kernels without `SO_PEERPIDFD` (before 6.5: without a pidfd for the
/// peer itself, a reused pid could answer for it); `ESRCH` when the peer has exited.
pub(crate) fn peer_session(fd: BorrowedFd<'_>, pid: u32) -> Result<u32> {
    let mut pidfd: libc::c_int = -1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY:
    // 1. `pidfd` is a live c_int and `len` its exact size, so the kernel writes inside it;
    // 2. the fd is open for the duration of the call (borrowed).
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_PEERPIDFD,
            (&mut pidfd as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(last_errno());
    }
    if pidfd < 0 {
        return Err(Errno::INVAL);
    }
    // SAFETY: the kernel just gave us this new descriptor; nothing else owns it.
    let pidfd = unsafe { std::os::fd::OwnedFd::from_raw_fd(pidfd) };
    if pid == 0 || pid > i32::MAX as u32 {
        return Err(Errno::SRCH);
    }
    let sid = raw_getsid(pid as libc::pid_t)?;
    // Signal 0 checks that the pidfd's process still exists: then `pid` was still its pid
    // when getsid ran.
    // SAFETY: a valid pidfd, signal 0 (no signal sent), a null siginfo and no flags.
    let alive = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd() as libc::c_long,
            0 as libc::c_long,
            0usize,
            0 as libc::c_long,
        )
    };
    if alive != 0 {
        return Err(last_errno());
    }
    Ok(sid)
}

/// getsid(2). Session 0 is a real answer (a process that never called setsid under a
/// container's or the kernel's first session), which rustix's `getsid` cannot return (its
/// `Pid` is non-zero and it asserts), so this calls the C library directly.
fn raw_getsid(pid: libc::pid_t) -> Result<u32> {
    // SAFETY: an integer-only call; pid 0 means the caller.
    let sid = unsafe { libc::getsid(pid) };
    if sid < 0 {
        return Err(last_errno());
    }
    Ok(sid as u32)
}

/// The calling process's session id (0 when it belongs to session 0).
pub(crate) fn own_session() -> u32 {
    raw_getsid(0).unwrap_or(0)
}

/// Runs a reentrant database lookup (`getpwuid_r` and its kin) with a buffer that grows
/// while the call says ERANGE (up to 1 MiB); `attempt` gives `Err(())` for ERANGE, else what
/// it found. Whatever it returns must not borrow the buffer.
fn with_growing_buffer<T>(
    mut attempt: impl FnMut(&mut [u8]) -> std::result::Result<Option<T>, ()>,
) -> Option<T> {
    let mut buf = vec![0u8; 1024];
    loop {
        match attempt(&mut buf) {
            Err(()) if buf.len() < 1 << 20 => buf.resize(buf.len() * 4, 0),
            Err(()) => return None,
            Ok(found) => return found,
        }
    }
}

/// `Err(())` for ERANGE, `Ok(false)` for a failure or nothing found, `Ok(true)` when found.
fn lookup_rc<E>(rc: libc::c_int, found: *mut E) -> std::result::Result<bool, ()> {
    if rc == libc::ERANGE {
        return Err(());
    }
    Ok(rc == 0 && !found.is_null())
}

/// The name of user `uid` in the user database (`getpwuid_r`), or `None` when it has none.
pub(crate) fn user_name(uid: u32) -> Option<String> {
    with_growing_buffer(|buf| {
        // SAFETY: an all-zero `passwd` is a valid value of the plain C struct (null pointers,
        // zero integers); getpwuid_r only writes it.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: `pw`, `buf` (for `buf.len()` bytes) and `found` are valid for writing for the
        // whole call; the strings it sets point into `buf`, which outlives their use below.
        let rc = unsafe {
            libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut found)
        };
        if !lookup_rc(rc, found)? || pw.pw_name.is_null() {
            return Ok(None);
        }
        // SAFETY: on success `pw_name` is a NUL-terminated string inside `buf`.
        let name = unsafe { std::ffi::CStr::from_ptr(pw.pw_name) };
        Ok(Some(name.to_string_lossy().into_owned()))
    })
}

/// The name of group `gid` in the group database (`getgrgid_r`), or `None` when it has none.
pub(crate) fn group_name(gid: u32) -> Option<String> {
    with_growing_buffer(|buf| {
        // SAFETY: an all-zero `group` is a valid value of the plain C struct (null pointers,
        // zero integers); getgrgid_r only writes it.
        let mut gr: libc::group = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::group = std::ptr::null_mut();
        // SAFETY: `gr`, `buf` (for `buf.len()` bytes) and `found` are valid for writing for the
        // whole call; the strings it sets point into `buf`, which outlives their use below.
        let rc = unsafe {
            libc::getgrgid_r(gid, &mut gr, buf.as_mut_ptr().cast(), buf.len(), &mut found)
        };
        if !lookup_rc(rc, found)? || gr.gr_name.is_null() {
            return Ok(None);
        }
        // SAFETY: on success `gr_name` is a NUL-terminated string inside `buf`.
        let name = unsafe { std::ffi::CStr::from_ptr(gr.gr_name) };
        Ok(Some(name.to_string_lossy().into_owned()))
    })
}

/// The uid of the user named `name` in the user database (`getpwnam_r`), or `None`.
pub(crate) fn user_id(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    with_growing_buffer(|buf| {
        // SAFETY: an all-zero `passwd` is a valid value of the plain C struct; getpwnam_r only
        // writes it.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: `c` is NUL-terminated; `pw`, `buf` (for `buf.len()` bytes) and `found` are
        // valid for writing for the whole call.
        let rc = unsafe {
            libc::getpwnam_r(
                c.as_ptr(),
                &mut pw,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut found,
            )
        };
        Ok(lookup_rc(rc, found)?.then_some(pw.pw_uid))
    })
}

/// The gid of the group named `name` in the group database (`getgrnam_r`), or `None`.
pub(crate) fn group_id(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    with_growing_buffer(|buf| {
        // SAFETY: an all-zero `group` is a valid value of the plain C struct; getgrnam_r only
        // writes it.
        let mut gr: libc::group = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::group = std::ptr::null_mut();
        // SAFETY: `c` is NUL-terminated; `gr`, `buf` (for `buf.len()` bytes) and `found` are
        // valid for writing for the whole call.
        let rc = unsafe {
            libc::getgrnam_r(
                c.as_ptr(),
                &mut gr,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut found,
            )
        };
        Ok(lookup_rc(rc, found)?.then_some(gr.gr_gid))
    })
}

/// The calling thread's file-system identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FsIdentity {
    /// fsuid.
    pub uid: u32,
    /// fsgid.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
}

fn raw_setfsuid(uid: u32) -> u32 {
    // SAFETY: an integer-only syscall; it changes the calling thread's fsuid only.
    unsafe { libc::syscall(libc::SYS_setfsuid, uid as libc::c_long) as u32 }
}

fn raw_setfsgid(gid: u32) -> u32 {
    // SAFETY: an integer-only syscall; it changes the calling thread's fsgid only.
    unsafe { libc::syscall(libc::SYS_setfsgid, gid as libc::c_long) as u32 }
}

fn raw_getgroups() -> Result<Vec<u32>> {
    // SAFETY: a size of 0 asks for the count only; no buffer is touched.
    let n = unsafe { libc::syscall(libc::SYS_getgroups, 0 as libc::c_long, 0usize) };
    if n < 0 {
        return Err(last_errno());
    }
    let mut groups = vec![0u32; n as usize];
    // SAFETY: `groups` holds exactly `n` gid_t (u32) entries for the kernel to fill.
    let m = unsafe {
        libc::syscall(
            libc::SYS_getgroups,
            n as libc::c_long,
            groups.as_mut_ptr() as usize,
        )
    };
    if m < 0 {
        return Err(last_errno());
    }
    groups.truncate(m as usize);
    Ok(groups)
}

fn raw_setgroups(groups: &[u32]) -> Result<()> {
    if groups.len() > NGROUPS_MAX {
        return Err(Errno::INVAL);
    }
    // SAFETY: `groups` holds exactly `len` gid_t (u32) entries the kernel only reads. The raw
    // syscall changes the calling thread's groups only (glibc's wrapper would change every
    // thread's).
    let r = unsafe {
        libc::syscall(
            libc::SYS_setgroups,
            groups.len() as libc::c_long,
            groups.as_ptr() as usize,
        )
    };
    if r < 0 {
        return Err(last_errno());
    }
    Ok(())
}

/// The calling thread's current file-system identity.
pub(crate) fn fs_identity() -> Result<FsIdentity> {
    // setfsuid(-1) and setfsgid(-1) are always refused and return the current value.
    Ok(FsIdentity {
        uid: raw_setfsuid(u32::MAX),
        gid: raw_setfsgid(u32::MAX),
        groups: raw_getgroups()?,
    })
}

/// Makes `id` the calling thread's file-system identity (fsuid, fsgid, supplementary groups),
/// leaving every other thread as it was. Needs CAP_SETUID and CAP_SETGID (`EPERM` otherwise);
/// on failure the thread's identity is put back as it was before the call.
pub(crate) fn set_fs_identity(id: &FsIdentity) -> Result<()> {
    let before = fs_identity()?;
    raw_setgroups(&id.groups)?;
    raw_setfsgid(id.gid);
    raw_setfsuid(id.uid);
    // setfsuid/setfsgid report no errors: read the values back.
    if raw_setfsuid(u32::MAX) != id.uid || raw_setfsgid(u32::MAX) != id.gid {
        raw_setfsuid(before.uid);
        raw_setfsgid(before.gid);
        let _ = raw_setgroups(&before.groups);
        return Err(Errno::PERM);
    }
    Ok(())
}

fn raw_getres(call: libc::c_long) -> [u32; 3] {
    let mut ids = [0u32; 3];
    // SAFETY: getresuid/getresgid write one id_t (u32) through each of the three pointers,
    // which point to distinct elements of `ids`.
    unsafe {
        libc::syscall(
            call,
            &mut ids[0] as *mut u32 as usize,
            &mut ids[1] as *mut u32 as usize,
            &mut ids[2] as *mut u32 as usize,
        )
    };
    ids
}

fn raw_set_effective(call: libc::c_long, id: u32) -> Result<()> {
    // SAFETY: an integer-only syscall (-1 leaves the real and saved ids); the raw call
    // changes the calling thread's credentials only (glibc's wrapper would change every
    // thread's).
    let r = unsafe {
        libc::syscall(
            call,
            -1 as libc::c_long,
            id as libc::c_long,
            -1 as libc::c_long,
        )
    };
    if r < 0 {
        return Err(last_errno());
    }
    Ok(())
}

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

/// `struct __user_cap_data_struct`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// `_LINUX_CAPABILITY_VERSION_3`: two `CapData`, 64 capabilities.
const CAP_V3: u32 = 0x2008_0522;

/// `capget` (`set` false) or `capset` (`set` true) of the calling thread's capability sets
/// through `d`.
fn cap_call(set: bool, d: *mut [CapData; 2]) -> Result<()> {
    let mut h = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let nr = if set {
        libc::SYS_capset
    } else {
        libc::SYS_capget
    };
    // SAFETY: a version 3 header and the two data structs that version reads or fills, which
    // `d` points to (the callers' locals); pid 0 is the calling thread, whose sets only change.
    let r = unsafe { libc::syscall(nr, &mut h as *mut CapHeader as usize, d as usize) };
    if r < 0 {
        return Err(last_errno());
    }
    Ok(())
}

/// The calling thread's capability sets.
fn capget() -> Result<[CapData; 2]> {
    let mut d = [CapData::default(); 2];
    cap_call(false, &mut d)?;
    Ok(d)
}

/// Sets the calling thread's capability sets.
fn capset(d: &[CapData; 2]) -> Result<()> {
    let mut d = *d;
    cap_call(true, &mut d)
}

/// Runs `connect` as the client the calling thread impersonates: the thread's effective uid
/// and gid are the client's for the call (its groups are already), so the kernel records the
/// client as the connecting peer (`SO_PEERCRED` takes the effective ids, `SO_PEERGROUPS` the
/// groups), and a server checks an open made while impersonating against the client, as
/// Windows checks it against the thread's token. Without an impersonation, or with one of
/// the thread's own effective ids, `connect` runs as it is; so it does for a client of the
/// thread's own user whose gid the thread may not take (as `impersonate` lets such a thread
/// keep its own groups).
///
/// Afterwards the thread's effective ids, file-system ids and capability sets are exactly what
/// they were (the kernel clears the effective capabilities when the effective uid leaves 0 and
/// fills them from the permitted ones when it comes back: they are put back as they were);
/// a thread that cannot be put back ends the process rather than act with the client's ids.
///
/// `EPERM`, without running `connect`, when the thread could not take the client's ids, could
/// not be sure to get its own back (its effective ids are neither its real nor its saved
/// ones), or would lose its permitted capabilities on the way (the kernel clears them when
/// every uid of a thread that had a 0 becomes non-zero: a server whose real and saved uids are
/// not 0 cannot open as a root client, nor a set-user-id root one as another user): an open
/// must not go out under the server's identity while it impersonates.
pub(crate) fn connect_as_impersonated<R>(connect: impl FnOnce() -> R) -> Result<R> {
    let Some(client) = with_impersonation(|i| i.map(|i| i.client.clone())) else {
        return Ok(connect());
    };
    let [ruid, euid, suid] = raw_getres(libc::SYS_getresuid);
    let [rgid, egid, sgid] = raw_getres(libc::SYS_getresgid);
    if client.uid == euid && client.gid == egid {
        return Ok(connect());
    }
    if (euid != ruid && euid != suid) || (egid != rgid && egid != sgid) {
        return Err(Errno::PERM);
    }
    if ruid != 0 && suid != 0 && (euid == 0 || client.uid == 0) && client.uid != euid {
        return Err(Errno::PERM);
    }
    let fs = fs_identity()?;
    let caps = capget()?;
    // The gid first, while the uid may still hold CAP_SETGID.
    if let Err(e) = raw_set_effective(libc::SYS_setresgid, client.gid) {
        raw_setfsgid(fs.gid);
        if client.uid == euid {
            return Ok(connect());
        }
        return Err(e);
    }
    let r = if client.uid == euid {
        Ok(())
    } else {
        raw_set_effective(libc::SYS_setresuid, client.uid)
    }
    .map(|()| connect());
    // Back to our own ids (allowed: each is our real or saved one), our capabilities as they
    // were, and the impersonation's file-system ids, which the kernel made follow the
    // effective ids.
    let back = raw_set_effective(libc::SYS_setresuid, euid)
        .and_then(|()| raw_set_effective(libc::SYS_setresgid, egid))
        .and_then(|()| capset(&caps));
    raw_setfsuid(fs.uid);
    raw_setfsgid(fs.gid);
    let now_u = raw_getres(libc::SYS_getresuid);
    let now_g = raw_getres(libc::SYS_getresgid);
    if back.is_err()
        || now_u != [ruid, euid, suid]
        || now_g != [rgid, egid, sgid]
        || raw_setfsuid(u32::MAX) != fs.uid
        || raw_setfsgid(u32::MAX) != fs.gid
        || capget().ok() != Some(caps)
    {
        // A thread left with other ids or capabilities would act with them outside the
        // impersonation.
        std::process::abort();
    }
    r
}
