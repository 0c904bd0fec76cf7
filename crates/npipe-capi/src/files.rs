//! Ordinary files and standard handles: CreateFile on a path that is not a pipe or mailslot,
//! GetStdHandle/SetStdHandle, and the file calls programs mix with pipes (GetFileType,
//! GetFileSize(Ex), SetFilePointer(Ex), SetEndOfFile, DeleteFile).
//!
//! A file handle is a descriptor (`Object::File`); ReadFile and WriteFile on it are `read(2)`
//! and `write(2)` (`pread`/`pwrite` at the OVERLAPPED's offset when one is given, completing at
//! once). The standard handles are made on first use over descriptors 0, 1 and 2: a pipe there
//! becomes an anonymous pipe end (so PeekNamedPipe, GetNamedPipeInfo and end-of-file as
//! ERROR_BROKEN_PIPE behave as on Windows), anything else a file handle. Closing a standard
//! handle closes the program's descriptor too, as on Windows, but leaves /dev/null in its place
//! so that a file opened later never lands on descriptor 0, 1 or 2 by accident.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::handles::{self, Entry, Object};
use crate::*;

/// `FILE_TYPE_UNKNOWN`.
const FILE_TYPE_UNKNOWN: DWORD = 0;
/// `FILE_TYPE_DISK`.
const FILE_TYPE_DISK: DWORD = 1;
/// `FILE_TYPE_CHAR`.
const FILE_TYPE_CHAR: DWORD = 2;
/// `FILE_TYPE_PIPE`.
const FILE_TYPE_PIPE: DWORD = 3;

use npipe::rights::{
    FILE_APPEND_DATA, FILE_READ_DATA, FILE_WRITE_DATA, GENERIC_ALL, GENERIC_READ, GENERIC_WRITE,
};
const CREATE_NEW: DWORD = 1;
const CREATE_ALWAYS: DWORD = 2;
const OPEN_EXISTING: DWORD = 3;
const OPEN_ALWAYS: DWORD = 4;
const TRUNCATE_EXISTING: DWORD = 5;
const FILE_ATTRIBUTE_READONLY: DWORD = 0x1;
const FILE_FLAG_DELETE_ON_CLOSE: DWORD = 0x0400_0000;
const FILE_FLAG_BACKUP_SEMANTICS: DWORD = 0x0200_0000;
/// `ERROR_FILE_EXISTS`: CREATE_NEW on an existing file.
pub(crate) const ERROR_FILE_EXISTS: DWORD = 80;
/// `ERROR_TOO_MANY_OPEN_FILES`.
const ERROR_TOO_MANY_OPEN_FILES: DWORD = 4;
/// `ERROR_DISK_FULL`.
const ERROR_DISK_FULL: DWORD = 112;
/// `ERROR_NEGATIVE_SEEK`.
const ERROR_NEGATIVE_SEEK: DWORD = 131;
/// `ERROR_DIR_NOT_EMPTY`.
const ERROR_DIR_NOT_EMPTY: DWORD = 145;
/// `ERROR_CANT_RESOLVE_FILENAME`: a symbolic link loop.
const ERROR_CANT_RESOLVE_FILENAME: DWORD = 1921;
/// `ERROR_IO_DEVICE`.
const ERROR_IO_DEVICE: DWORD = 1117;
/// `INVALID_SET_FILE_POINTER` and `INVALID_FILE_SIZE`.
const INVALID_DWORD: DWORD = u32::MAX;

/// What kind of thing a file handle is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A regular file: positions, sizes, end of file as a 0-byte read.
    Disk,
    /// A directory (opened with FILE_FLAG_BACKUP_SEMANTICS): no reading or writing.
    Dir,
    /// A terminal or other character device.
    Char,
    /// A FIFO that was not taken as an anonymous pipe end (a named FIFO opened both ways):
    /// end of file is ERROR_BROKEN_PIPE.
    Pipe,
    /// A socket (on a standard descriptor, for example): as a pipe, written with MSG_NOSIGNAL.
    Socket,
}

/// An open file (or device) handle.
#[derive(Debug)]
pub(crate) struct File {
    file: std::fs::File,
    kind: Kind,
    read: bool,
    write: bool,
    /// FILE_FLAG_DELETE_ON_CLOSE: the path to unlink when the last handle closes.
    delete_on_close: Option<PathBuf>,
}

impl File {
    fn new(fd: OwnedFd, read: bool, write: bool) -> io::Result<File> {
        let file = std::fs::File::from(fd);
        let ft = file.metadata()?.file_type();
        let kind = if ft.is_file() {
            Kind::Disk
        } else if ft.is_dir() {
            Kind::Dir
        } else if ft.is_fifo() {
            Kind::Pipe
        } else if ft.is_socket() {
            Kind::Socket
        } else {
            Kind::Char
        };
        Ok(File {
            file,
            kind,
            read,
            write,
            delete_on_close: None,
        })
    }

    /// Read (1) and write (2) access, for a child that inherits the handle.
    pub(crate) fn access_bits(&self) -> u8 {
        self.read as u8 | (self.write as u8) << 1
    }

    /// A file handle a parent passed (see `inherit::adopt_inherited`).
    pub(crate) fn adopt(fd: OwnedFd, bits: u8) -> Option<File> {
        File::new(fd, bits & 1 != 0, bits & 2 != 0).ok()
    }

    /// The descriptor (the handle keeps owning it).
    pub(crate) fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// A borrowed descriptor, to pass the file to a child process.
    pub(crate) fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.file.as_fd()
    }

    /// ReadFile: at `at` (an OVERLAPPED's offset) or the file position.
    pub(crate) fn read(&self, buf: &mut [u8], at: Option<u64>) -> io::Result<usize> {
        if self.kind == Kind::Dir {
            return Err(npipe::Error::io(
                ERROR_INVALID_FUNCTION,
                "cannot read a directory handle",
            ));
        }
        if !self.read {
            return Err(npipe::Error::io(
                ERROR_ACCESS_DENIED,
                "the file was not opened for reading",
            ));
        }
        let r = match at {
            Some(off) if self.kind == Kind::Disk => self.file.read_at(buf, off),
            _ => (&self.file).read(buf),
        };
        match r {
            // A pipe at end of file: every writer is gone (W137).
            Ok(0) if matches!(self.kind, Kind::Pipe | Kind::Socket) && !buf.is_empty() => Err(
                npipe::Error::io(ERROR_BROKEN_PIPE, "every write end of the pipe is closed"),
            ),
            Ok(n) => Ok(n),
            Err(e) => Err(os_error(&e, "read", None)),
        }
    }

    /// WriteFile: every byte, at `at` or the file position.
    pub(crate) fn write(&self, data: &[u8], at: Option<u64>) -> io::Result<usize> {
        if self.kind == Kind::Dir {
            return Err(npipe::Error::io(
                ERROR_INVALID_FUNCTION,
                "cannot write a directory handle",
            ));
        }
        if !self.write {
            return Err(npipe::Error::io(
                ERROR_ACCESS_DENIED,
                "the file was not opened for writing",
            ));
        }
        let r = match (at, self.kind) {
            (Some(off), Kind::Disk) => self.file.write_all_at(data, off),
            (_, Kind::Socket) => send_all(&self.file, data),
            // A FIFO a File holds was opened for reading too (a write-only one is an anonymous
            // pipe end), so it always has a reader: no SIGPIPE.
            _ => (&self.file).write_all(data),
        };
        r.map(|()| data.len())
            .map_err(|e| os_error(&e, "write", None))
    }

    /// FlushFileBuffers: fsync for a disk file; nothing to do for a device.
    pub(crate) fn flush(&self) -> io::Result<()> {
        match self.kind {
            Kind::Disk if self.write => self
                .file
                .sync_all()
                .map_err(|e| os_error(&e, "fsync", None)),
            Kind::Disk | Kind::Dir => Err(npipe::Error::io(
                ERROR_ACCESS_DENIED,
                "the file was not opened for writing",
            )),
            Kind::Char | Kind::Pipe | Kind::Socket => Ok(()),
        }
    }

    fn file_type(&self) -> DWORD {
        match self.kind {
            Kind::Disk | Kind::Dir => FILE_TYPE_DISK,
            Kind::Char => FILE_TYPE_CHAR,
            Kind::Pipe | Kind::Socket => FILE_TYPE_PIPE,
        }
    }
}

impl Drop for File {
    fn drop(&mut self) {
        if let Some(p) = self.delete_on_close.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Whether `fd` is a FIFO (a kernel pipe).
fn is_fifo(fd: &OwnedFd) -> bool {
    rustix::fs::fstat(fd)
        .map(|st| rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Fifo)
        .unwrap_or(false)
}

/// Writes all of `data` to a socket with MSG_NOSIGNAL, so a peer that is gone is
/// ERROR_NO_DATA and never SIGPIPE.
fn send_all(file: &std::fs::File, data: &[u8]) -> io::Result<()> {
    let mut off = 0;
    while off < data.len() {
        match rustix::net::send(file, &data[off..], rustix::net::SendFlags::NOSIGNAL) {
            Ok(n) => off += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Maps an OS error of a file operation to its Win32 code, with a message naming `path`.
fn os_error(e: &io::Error, what: &str, path: Option<&Path>) -> io::Error {
    let errno = e.raw_os_error().unwrap_or(0);
    let code = match errno {
        libc::ENOENT => match path.and_then(Path::parent) {
            Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => ERROR_PATH_NOT_FOUND,
            _ => ERROR_FILE_NOT_FOUND,
        },
        libc::ENOTDIR => ERROR_PATH_NOT_FOUND,
        libc::EACCES | libc::EPERM | libc::EROFS | libc::EISDIR => ERROR_ACCESS_DENIED,
        libc::EEXIST => ERROR_FILE_EXISTS,
        libc::ENAMETOOLONG => ERROR_FILENAME_EXCED_RANGE,
        libc::ELOOP => ERROR_CANT_RESOLVE_FILENAME,
        libc::EMFILE | libc::ENFILE => ERROR_TOO_MANY_OPEN_FILES,
        libc::ENOSPC | libc::EDQUOT | libc::EFBIG => ERROR_DISK_FULL,
        libc::EINVAL => ERROR_INVALID_PARAMETER,
        libc::EBADF => ERROR_INVALID_HANDLE,
        libc::EPIPE => ERROR_NO_DATA,
        libc::ESPIPE => ERROR_INVALID_FUNCTION,
        libc::ETXTBSY | libc::EBUSY => ERROR_SHARING_VIOLATION,
        libc::ENOTEMPTY => ERROR_DIR_NOT_EMPTY,
        libc::ENOMEM => ERROR_NOT_ENOUGH_MEMORY,
        libc::EIO => ERROR_IO_DEVICE,
        libc::ENXIO | libc::ENODEV => ERROR_FILE_NOT_FOUND,
        _ => ERROR_GEN_FAILURE,
    };
    let msg = match path {
        Some(p) => format!("{what} {}: {e}", p.display()),
        None => format!("{what}: {e}"),
    };
    npipe::Error::io(code, msg)
}

/// `ERROR_GEN_FAILURE`.
const ERROR_GEN_FAILURE: DWORD = 31;

/// Whether CreateFile's `name` is a device or network name (`\\x\...`, either slash), which
/// only pipes and mailslots can be here; anything else is a file path.
pub(crate) fn is_device_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2 && matches!(b[0], b'\\' | b'/') && matches!(b[1], b'\\' | b'/')
}

/// CreateFile on a path: the disposition, access and attributes as Windows reads them.
pub(crate) fn create_file(name: &str, access: DWORD, disposition: DWORD, flags: DWORD) -> HANDLE {
    let path = PathBuf::from(if name.eq_ignore_ascii_case("nul") {
        "/dev/null"
    } else {
        name
    });
    if name.is_empty() {
        set_error(ERROR_PATH_NOT_FOUND);
        return INVALID_HANDLE_VALUE;
    }
    if name.contains('\0') {
        set_error(ERROR_INVALID_NAME);
        return INVALID_HANDLE_VALUE;
    }
    let read = access & (GENERIC_READ | GENERIC_ALL | FILE_READ_DATA) != 0;
    let write = access & (GENERIC_WRITE | GENERIC_ALL | FILE_WRITE_DATA | FILE_APPEND_DATA) != 0;
    let append_only = access & FILE_APPEND_DATA != 0
        && access & (GENERIC_WRITE | GENERIC_ALL | FILE_WRITE_DATA) == 0;
    let existed = path.metadata().is_ok();
    if disposition == CREATE_NEW && existed {
        set_error(ERROR_FILE_EXISTS);
        return INVALID_HANDLE_VALUE;
    }
    let mut o = OpenOptions::new();
    o.read(read).write(write).append(append_only);
    if !read && !write {
        // Access 0 (or attributes only): a handle to ask about the file, not to use its data.
        o.read(true).custom_flags(libc::O_PATH);
    }
    if flags & FILE_ATTRIBUTE_READONLY != 0 {
        o.mode(0o444);
    }
    // The standard library creates and truncates only through a descriptor that may write,
    // and O_PATH (access 0) ignores O_CREAT: a handle that does not write has its file made
    // first by a separate open, and an existing one truncated by one (below); the handle's
    // own descriptor has exactly the access asked for.
    let creates = matches!(disposition, CREATE_NEW | CREATE_ALWAYS | OPEN_ALWAYS);
    match disposition {
        CREATE_NEW if write => {
            o.create_new(true);
        }
        CREATE_ALWAYS if write => {
            o.create(true).truncate(true);
        }
        OPEN_ALWAYS if write => {
            o.create(true);
        }
        CREATE_NEW | CREATE_ALWAYS | OPEN_ALWAYS | OPEN_EXISTING => {}
        TRUNCATE_EXISTING => {
            if !write {
                set_error(ERROR_INVALID_PARAMETER);
                return INVALID_HANDLE_VALUE;
            }
            o.truncate(true);
        }
        _ => {
            set_error(ERROR_INVALID_PARAMETER);
            return INVALID_HANDLE_VALUE;
        }
    }
    if creates && !write && !existed {
        let mut c = OpenOptions::new();
        c.write(true);
        if disposition == CREATE_NEW {
            c.create_new(true);
        } else {
            c.create(true);
        }
        if flags & FILE_ATTRIBUTE_READONLY != 0 {
            c.mode(0o444);
        }
        if let Err(e) = c.open(&path) {
            fail_io(&os_error(&e, "CreateFile", Some(&path)));
            return INVALID_HANDLE_VALUE;
        }
    }
    let opened = match o.open(&path) {
        Ok(f) => f,
        Err(e) => {
            fail_io(&os_error(&e, "CreateFile", Some(&path)));
            return INVALID_HANDLE_VALUE;
        }
    };
    let fd = OwnedFd::from(opened);
    if is_fifo(&fd) && read != write {
        // A named FIFO opened one way is a pipe end: end of file is ERROR_BROKEN_PIPE, a
        // write with no reader ERROR_NO_DATA (never SIGPIPE).
        let obj = if read {
            npipe::AnonReader::from_fd(fd).map(Object::AnonRead)
        } else {
            npipe::AnonWriter::from_fd(fd).map(Object::AnonWrite)
        };
        return match obj {
            Ok(o) => {
                let h = handles::insert(Entry::new(o, false));
                if h != INVALID_HANDLE_VALUE {
                    set_error(ERROR_SUCCESS);
                }
                h
            }
            Err(e) => {
                fail_io(&e);
                INVALID_HANDLE_VALUE
            }
        };
    }
    let mut file = match File::new(fd, read, write) {
        Ok(f) => f,
        Err(e) => {
            fail_io(&os_error(&e, "fstat", Some(&path)));
            return INVALID_HANDLE_VALUE;
        }
    };
    if file.kind == Kind::Dir && flags & FILE_FLAG_BACKUP_SEMANTICS == 0 {
        set_error(ERROR_ACCESS_DENIED);
        return INVALID_HANDLE_VALUE;
    }
    if file.kind == Kind::Disk && disposition == CREATE_ALWAYS && existed && !write {
        // CREATE_ALWAYS replaces the file even on a handle that only reads.
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path);
    }
    if flags & FILE_FLAG_DELETE_ON_CLOSE != 0 {
        file.delete_on_close = Some(path.clone());
    }
    let h = handles::insert(Entry::new(
        Object::File(file),
        flags & crate::pipes::FILE_FLAG_OVERLAPPED != 0,
    ));
    if h != INVALID_HANDLE_VALUE {
        // CREATE_ALWAYS and OPEN_ALWAYS tell whether the file was there.
        let note = (disposition == CREATE_ALWAYS || disposition == OPEN_ALWAYS) && existed;
        set_error(if note {
            ERROR_ALREADY_EXISTS
        } else {
            ERROR_SUCCESS
        });
    }
    h
}

// ---------------------------------------------------------------------------------------------
// Standard handles

/// `STD_INPUT_HANDLE`, `STD_OUTPUT_HANDLE`, `STD_ERROR_HANDLE` as their index (0, 1, 2).
fn std_index(which: DWORD) -> Option<usize> {
    match which as i32 {
        -10 => Some(0),
        -11 => Some(1),
        -12 => Some(2),
        _ => None,
    }
}

/// The standard handles: `None` until first asked for (then made over descriptor 0, 1 or 2),
/// `Some(h)` once made or set by SetStdHandle (h may be NULL: no handle).
static STD: Mutex<[Option<usize>; 3]> = Mutex::new([None; 3]);

/// Puts /dev/null on the standard descriptors a handle stands for once it is gone, so its
/// pipe or file is released (the reader sees end of file) while the numbers stay taken. One
/// handle may stand for several (a parent that gave its child one handle as standard output
/// and error): a bit per descriptor 0, 1, 2.
#[derive(Debug)]
pub(crate) struct StdSlot(std::sync::atomic::AtomicU8);

impl StdSlot {
    pub(crate) fn new(n: RawFd) -> StdSlot {
        StdSlot(std::sync::atomic::AtomicU8::new(1 << n))
    }

    /// Makes the handle stand for descriptor `n` (0, 1 or 2) as well.
    pub(crate) fn add(&self, n: RawFd) {
        self.0
            .fetch_or(1 << n, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for StdSlot {
    fn drop(&mut self) {
        let bits = *self.0.get_mut();
        if let Ok(null) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
        {
            for n in (0..3).filter(|n| bits & (1 << n) != 0) {
                // SAFETY: dup2 only replaces descriptor n (0, 1 or 2, which this handle
                // stood for and the program gave up by closing it) with a copy of `null`.
                unsafe { libc::dup2(null.as_raw_fd(), n) };
            }
        }
    }
}

/// Records that standard handle `n` is the inherited handle `value` (see
/// `inherit::adopt_inherited`): GetStdHandle gives that value, as on Windows, where a child's
/// standard handle is the very handle its parent passed.
pub(crate) fn adopt_std(n: RawFd, value: usize) {
    if let Some(slot) = STD
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_mut(n as usize)
    {
        *slot = Some(value);
    }
}

/// Makes the handle for standard descriptor `n`: an anonymous pipe end for a FIFO, a file
/// handle otherwise. NULL when nothing is open there.
fn make_std(n: RawFd) -> HANDLE {
    // SAFETY: F_DUPFD_CLOEXEC on any number only creates a new descriptor (or fails with
    // EBADF when `n` is not open); the new one is owned by the OwnedFd below.
    let dup = unsafe { libc::fcntl(n, libc::F_DUPFD_CLOEXEC, 3) };
    if dup < 0 {
        return std::ptr::null_mut();
    }
    // SAFETY: `dup` was just created and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(dup) };
    // The access the descriptor was opened with (a shell's `< file` is read-only).
    let mode = rustix::fs::fcntl_getfl(&fd)
        .map(|f| f & rustix::fs::OFlags::RWMODE)
        .unwrap_or(rustix::fs::OFlags::RDWR);
    let (r, w) = (
        mode != rustix::fs::OFlags::WRONLY,
        mode != rustix::fs::OFlags::RDONLY,
    );
    let obj = match (is_fifo(&fd), n) {
        (true, 0) => npipe::AnonReader::from_fd(fd).map(Object::AnonRead),
        (true, _) => npipe::AnonWriter::from_fd(fd).map(Object::AnonWrite),
        (false, _) => File::new(fd, r, w).map(Object::File),
    };
    let Ok(obj) = obj else {
        return std::ptr::null_mut();
    };
    let mut e = Entry::new(obj, false);
    e.std_slot = Some(StdSlot::new(n));
    handles::insert(e)
}

/// `GetStdHandle`: the handle for standard input, output or error, made over descriptor 0, 1
/// or 2 on first use (the same value every time until SetStdHandle or CloseHandle). NULL when
/// the descriptor is not open; INVALID_HANDLE_VALUE and ERROR_INVALID_HANDLE for another
/// `nStdHandle`.
#[export_name = "npipe_GetStdHandle"]
pub extern "C" fn GetStdHandle(which: DWORD) -> HANDLE {
    let Some(i) = std_index(which) else {
        set_error(ERROR_INVALID_HANDLE);
        return INVALID_HANDLE_VALUE;
    };
    // Handles a parent passed may be standard handles (`adopt_std` takes STD): taken in before
    // the lock, for a static link whose load-time adoption did not run.
    crate::inherit::adopt_inherited();
    let mut std = STD.lock().unwrap_or_else(|p| p.into_inner());
    match std[i] {
        Some(h) => h as HANDLE,
        None => {
            let h = make_std(i as RawFd);
            std[i] = Some(h as usize);
            h
        }
    }
}

/// `SetStdHandle`: what GetStdHandle returns from now on, and what CreateProcess gives a child
/// as its standard handles without STARTF_USESTDHANDLES. The program's own descriptors 0, 1
/// and 2 stay as they are (printf is not redirected, as the C runtime on Windows is not).
#[export_name = "npipe_SetStdHandle"]
pub extern "C" fn SetStdHandle(which: DWORD, h: HANDLE) -> BOOL {
    let Some(i) = std_index(which) else {
        return fail(ERROR_INVALID_HANDLE);
    };
    crate::inherit::adopt_inherited();
    STD.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(h as usize);
    TRUE
}

/// Whether standard handle `i` was made or set (otherwise a child simply keeps descriptor `i`).
pub(crate) fn std_was_taken(i: usize) -> bool {
    crate::inherit::adopt_inherited();
    STD.lock().unwrap_or_else(|p| p.into_inner())[i].is_some()
}

/// The current standard handles, for CreateProcess (made over 0, 1, 2 where not yet asked for).
pub(crate) fn std_handles() -> [HANDLE; 3] {
    [
        GetStdHandle(-10i32 as DWORD),
        GetStdHandle(-11i32 as DWORD),
        GetStdHandle(-12i32 as DWORD),
    ]
}

// ---------------------------------------------------------------------------------------------
// File calls

/// `GetFileType`: FILE_TYPE_PIPE for every pipe and mailslot handle, FILE_TYPE_DISK for a
/// file, FILE_TYPE_CHAR for a terminal or device; FILE_TYPE_UNKNOWN with ERROR_INVALID_HANDLE
/// for anything else.
#[export_name = "npipe_GetFileType"]
pub extern "C" fn GetFileType(h: HANDLE) -> DWORD {
    handles::with(h, FILE_TYPE_UNKNOWN, |o| {
        let t = match o {
            Object::File(f) => f.file_type(),
            Object::Server(_)
            | Object::Client(_)
            | Object::Mailslot(_)
            | Object::MailslotWriter(_)
            | Object::AnonRead(_)
            | Object::AnonWrite(_) => FILE_TYPE_PIPE,
            _ => {
                set_error(ERROR_INVALID_HANDLE);
                return FILE_TYPE_UNKNOWN;
            }
        };
        set_error(ERROR_SUCCESS);
        t
    })
}

/// Runs `f` on the disk file behind `h`: ERROR_INVALID_HANDLE for a handle that is not open or
/// not a file, ERROR_INVALID_FUNCTION for a pipe or device (no size, no position).
fn with_disk<R: Copy>(h: HANDLE, on_bad: R, f: impl FnOnce(&File) -> io::Result<R>) -> R {
    handles::with(h, on_bad, |o| {
        let r = match o {
            Object::File(file) if file.kind == Kind::Disk => f(file),
            Object::File(_)
            | Object::Server(_)
            | Object::Client(_)
            | Object::Mailslot(_)
            | Object::MailslotWriter(_)
            | Object::AnonRead(_)
            | Object::AnonWrite(_) => Err(npipe::Error::io(
                ERROR_INVALID_FUNCTION,
                "the handle is not a disk file",
            )),
            _ => Err(npipe::Error::io(ERROR_INVALID_HANDLE, "not a file handle")),
        };
        match r {
            Ok(v) => v,
            Err(e) => {
                fail_io(&e);
                on_bad
            }
        }
    })
}

fn file_len(f: &std::fs::File) -> io::Result<u64> {
    f.metadata()
        .map(|m| m.len())
        .map_err(|e| os_error(&e, "fstat", None))
}

/// `GetFileSizeEx`.
///
/// # Safety
/// `size` is null or writable.
#[export_name = "npipe_GetFileSizeEx"]
pub unsafe extern "C" fn GetFileSizeEx(h: HANDLE, size: *mut i64) -> BOOL {
    with_disk(h, FALSE, |f| {
        let n = file_len(&f.file)?;
        if size.is_null() {
            return Err(npipe::Error::io(ERROR_NOACCESS, "lpFileSize is NULL"));
        }
        // SAFETY: non-null and writable (caller).
        unsafe { put(size, n as i64) };
        Ok(TRUE)
    })
}

/// `GetFileSize`: the low 32 bits, the high ones through `high`. INVALID_FILE_SIZE with an
/// error code on failure (a size whose low part is 0xFFFFFFFF returns it with NO_ERROR).
///
/// # Safety
/// `high` is null or writable.
#[export_name = "npipe_GetFileSize"]
pub unsafe extern "C" fn GetFileSize(h: HANDLE, high: *mut DWORD) -> DWORD {
    with_disk(h, INVALID_DWORD, |f| {
        let n = file_len(&f.file)?;
        // SAFETY: null or writable (caller).
        unsafe { put(high, (n >> 32) as DWORD) };
        set_error(ERROR_SUCCESS);
        Ok(n as DWORD)
    })
}

fn seek(f: &std::fs::File, distance: i64, method: DWORD) -> io::Result<u64> {
    let to = match method {
        0 => {
            if distance < 0 {
                return Err(npipe::Error::io(
                    ERROR_NEGATIVE_SEEK,
                    "cannot move before the start of the file",
                ));
            }
            SeekFrom::Start(distance as u64)
        }
        1 => SeekFrom::Current(distance),
        2 => SeekFrom::End(distance),
        _ => {
            return Err(npipe::Error::io(
                ERROR_INVALID_PARAMETER,
                format!("dwMoveMethod {method} is not FILE_BEGIN, FILE_CURRENT or FILE_END"),
            ))
        }
    };
    let mut f = f;
    f.seek(to).map_err(|e| match e.raw_os_error() {
        Some(libc::EINVAL) => npipe::Error::io(
            ERROR_NEGATIVE_SEEK,
            "cannot move before the start of the file",
        ),
        _ => os_error(&e, "lseek", None),
    })
}

/// `SetFilePointerEx` (FILE_BEGIN 0, FILE_CURRENT 1, FILE_END 2).
///
/// # Safety
/// `new_pos` is null or writable.
#[export_name = "npipe_SetFilePointerEx"]
pub unsafe extern "C" fn SetFilePointerEx(
    h: HANDLE,
    distance: i64,
    new_pos: *mut i64,
    method: DWORD,
) -> BOOL {
    with_disk(h, FALSE, |f| {
        let p = seek(&f.file, distance, method)?;
        // SAFETY: null or writable (caller).
        unsafe { put(new_pos, p as i64) };
        Ok(TRUE)
    })
}

/// `SetFilePointer`: with `high` NULL the distance is a signed 32-bit value; otherwise `*high`
/// holds its upper half and receives the new position's.
///
/// # Safety
/// `high` is null or readable and writable.
#[export_name = "npipe_SetFilePointer"]
pub unsafe extern "C" fn SetFilePointer(
    h: HANDLE,
    low: i32,
    high: *mut i32,
    method: DWORD,
) -> DWORD {
    let distance = if high.is_null() {
        low as i64
    } else {
        // SAFETY: non-null and readable (caller).
        let hi = unsafe { high.read_unaligned() };
        ((hi as i64) << 32) | (low as u32 as i64)
    };
    with_disk(h, INVALID_DWORD, |f| {
        let p = seek(&f.file, distance, method)?;
        if high.is_null() && p > u32::MAX as u64 {
            return Err(npipe::Error::io(
                ERROR_INVALID_PARAMETER,
                "the new position needs lpDistanceToMoveHigh",
            ));
        }
        // SAFETY: null or writable (caller).
        unsafe { put(high, (p >> 32) as i32) };
        set_error(ERROR_SUCCESS);
        Ok(p as DWORD)
    })
}

/// `SetEndOfFile`: the file ends at the current position.
#[export_name = "npipe_SetEndOfFile"]
pub extern "C" fn SetEndOfFile(h: HANDLE) -> BOOL {
    with_disk(h, FALSE, |f| {
        if !f.write {
            return Err(npipe::Error::io(
                ERROR_ACCESS_DENIED,
                "the file was not opened for writing",
            ));
        }
        let mut g = &f.file;
        let pos = g
            .stream_position()
            .map_err(|e| os_error(&e, "lseek", None))?;
        f.file
            .set_len(pos)
            .map_err(|e| os_error(&e, "ftruncate", None))?;
        Ok(TRUE)
    })
}

/// `DeleteFileA`.
///
/// # Safety
/// `name` is null or a NUL-terminated string.
#[export_name = "npipe_DeleteFileA"]
pub unsafe extern "C" fn DeleteFileA(name: *const c_char) -> BOOL {
    // SAFETY: forwarded contract.
    let Some(n) = (unsafe { name_a(name) }) else {
        return fail(ERROR_PATH_NOT_FOUND);
    };
    let p = Path::new(&n);
    if p.is_dir() {
        return fail(ERROR_ACCESS_DENIED);
    }
    match std::fs::remove_file(p) {
        Ok(()) => TRUE,
        Err(e) => fail_io(&os_error(&e, "DeleteFile", Some(p))),
    }
}

/// The offset an OVERLAPPED gives a file operation, when `ov` is not null.
///
/// # Safety
/// `ov` is null or a valid OVERLAPPED.
#[inline]
pub(crate) unsafe fn offset_of(ov: *const crate::OVERLAPPED) -> Option<u64> {
    if ov.is_null() {
        return None;
    }
    // SAFETY: non-null and valid (caller).
    let o = unsafe { &*ov };
    Some(((o.offset_high as u64) << 32) | o.offset as u64)
}
