//! FindFirstFile / FindNextFile / FindClose: listing the pipes (`\\.\pipe\*`), the mailslots
//! (`\\.\mailslot\*`) or a directory's files.
//!
//! - Pipes: each pipe this process can see (`npipe::list`: served in this NPIPE_NAMESPACE by
//!   the same user, or any user for root) once, by its name after the prefix as created;
//!   `nFileSizeLow` is the number of instances, as the pipe file system reports it, and the
//!   attributes are FILE_ATTRIBUTE_NORMAL. `\\.\mailslot\*` lists mailslots the same way. The
//!   listing is taken at FindFirstFile.
//! - Files: a path whose last component may hold `*` and `?`; "." and ".." are listed as on
//!   Windows (not at the root), with attributes, times and sizes from `stat`.
//! - Patterns match ASCII letters without case, as Windows' file systems do.
//! - No match: ERROR_FILE_NOT_FOUND; a directory that does not exist: ERROR_PATH_NOT_FOUND; the
//!   end of the listing: ERROR_NO_MORE_FILES.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Mutex;

use crate::handles::CloseHandle;
use crate::handles::{self, Entry, Object};
use crate::*;

/// `ERROR_NO_MORE_FILES`.
const ERROR_NO_MORE_FILES: DWORD = 18;
const FILE_ATTRIBUTE_READONLY: DWORD = 0x1;
const FILE_ATTRIBUTE_DIRECTORY: DWORD = 0x10;
const FILE_ATTRIBUTE_ARCHIVE: DWORD = 0x20;
const FILE_ATTRIBUTE_NORMAL: DWORD = 0x80;
/// Seconds from 1601-01-01 (FILETIME's start) to 1970-01-01.
const EPOCH_DIFF: i64 = 11_644_473_600;

/// `FILETIME`.
#[allow(clippy::upper_case_acronyms)]
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct FILETIME {
    /// Low 32 bits of the 100 ns intervals since 1601.
    pub dw_low_date_time: DWORD,
    /// High 32 bits.
    pub dw_high_date_time: DWORD,
}

/// `WIN32_FIND_DATAA`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct WIN32_FIND_DATAA {
    /// FILE_ATTRIBUTE_* bits.
    pub dw_file_attributes: DWORD,
    /// Creation time (here: the last status change).
    pub ft_creation_time: FILETIME,
    /// Last access.
    pub ft_last_access_time: FILETIME,
    /// Last write.
    pub ft_last_write_time: FILETIME,
    /// Size, high half.
    pub n_file_size_high: DWORD,
    /// Size, low half (for a pipe: its number of instances).
    pub n_file_size_low: DWORD,
    /// Reserved.
    pub dw_reserved0: DWORD,
    /// Reserved.
    pub dw_reserved1: DWORD,
    /// The name, NUL-terminated.
    pub c_file_name: [c_char; 260],
    /// The 8.3 name (empty).
    pub c_alternate_file_name: [c_char; 14],
}

/// One entry of a listing.
#[derive(Debug, Clone)]
struct Found {
    name: String,
    attributes: DWORD,
    times: [FILETIME; 3],
    size: u64,
}

/// A listing in progress (the object of a find handle).
#[derive(Debug)]
pub(crate) struct Search {
    entries: Mutex<std::vec::IntoIter<Found>>,
}

/// Whether `name` matches `pattern` (`*` any run, `?` one character), ASCII case ignored.
fn matches(pattern: &[char], name: &[char]) -> bool {
    let (mut p, mut n) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while n < name.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p].eq_ignore_ascii_case(&name[n])) {
            p += 1;
            n += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some(p);
            mark = n;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            n = mark;
        } else {
            return false;
        }
    }
    while p < pattern.len() && pattern[p] == '*' {
        p += 1;
    }
    p == pattern.len()
}

fn filetime(secs: i64, nsec: i64) -> FILETIME {
    let t = (secs + EPOCH_DIFF)
        .saturating_mul(10_000_000)
        .saturating_add(nsec / 100)
        .max(0) as u64;
    FILETIME {
        dw_low_date_time: t as DWORD,
        dw_high_date_time: (t >> 32) as DWORD,
    }
}

fn found_file(name: String, m: &std::fs::Metadata) -> Found {
    let mut attributes = if m.is_dir() {
        FILE_ATTRIBUTE_DIRECTORY
    } else {
        FILE_ATTRIBUTE_ARCHIVE
    };
    if m.mode() & 0o222 == 0 {
        attributes |= FILE_ATTRIBUTE_READONLY;
    }
    if attributes == 0 {
        attributes = FILE_ATTRIBUTE_NORMAL;
    }
    Found {
        name,
        attributes,
        times: [
            filetime(m.ctime(), m.ctime_nsec()),
            filetime(m.atime(), m.atime_nsec()),
            filetime(m.mtime(), m.mtime_nsec()),
        ],
        size: if m.is_dir() { 0 } else { m.len() },
    }
}

/// `\\.\pipe\PATTERN` or `\\.\mailslot\PATTERN` (either slash, any case): the kind and the
/// pattern.
fn object_pattern(spec: &str) -> Option<(npipe::ListingKind, &str)> {
    let b = spec.as_bytes();
    let sep = |c: u8| c == b'\\' || c == b'/';
    if b.len() < 4 || !sep(b[0]) || !sep(b[1]) || b[2] != b'.' || !sep(b[3]) {
        return None;
    }
    let rest = &spec[4..];
    let (word, pattern) = rest.split_at(rest.find(['\\', '/'])?);
    let kind = if word.eq_ignore_ascii_case("pipe") {
        npipe::ListingKind::Pipe
    } else if word.eq_ignore_ascii_case("mailslot") {
        npipe::ListingKind::Mailslot
    } else {
        return None;
    };
    Some((kind, &pattern[1..]))
}

/// The listing for `spec`, or the Win32 error.
fn search(spec: &str) -> Result<Vec<Found>, DWORD> {
    if let Some((kind, pattern)) = object_pattern(spec) {
        let pat: Vec<char> = pattern.chars().collect();
        let all = npipe::list().map_err(|e| npipe::win32_code(&e))?;
        let found: Vec<Found> = all
            .into_iter()
            .filter(|l| l.kind == kind && matches(&pat, &l.leaf.chars().collect::<Vec<_>>()))
            .map(|l| Found {
                name: l.leaf,
                attributes: FILE_ATTRIBUTE_NORMAL,
                times: [FILETIME::default(); 3],
                size: l.instances as u64,
            })
            .collect();
        if found.is_empty() {
            return Err(ERROR_FILE_NOT_FOUND);
        }
        return Ok(found);
    }
    if files::is_device_name(spec) {
        return Err(ERROR_BAD_NETPATH);
    }
    let path = Path::new(spec);
    let (dir, pattern) = match spec.rfind('/') {
        Some(i) => (
            Path::new(if i == 0 { "/" } else { &spec[..i] }),
            &spec[i + 1..],
        ),
        None => (Path::new("."), spec),
    };
    if pattern.is_empty() {
        return Err(ERROR_FILE_NOT_FOUND);
    }
    if !pattern.contains(['*', '?']) {
        return match path.metadata() {
            Ok(m) => Ok(vec![found_file(pattern.to_owned(), &m)]),
            Err(_) if !dir.is_dir() => Err(ERROR_PATH_NOT_FOUND),
            Err(_) => Err(ERROR_FILE_NOT_FOUND),
        };
    }
    let rd = std::fs::read_dir(dir).map_err(|e| match e.raw_os_error() {
        Some(libc::EACCES) => ERROR_ACCESS_DENIED,
        _ => ERROR_PATH_NOT_FOUND,
    })?;
    let pat: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let at_root = dir
        .canonicalize()
        .map(|d| d == Path::new("/"))
        .unwrap_or(false);
    if !at_root {
        for dot in [".", ".."] {
            if let (true, Ok(m)) = (
                matches(&pat, &dot.chars().collect::<Vec<_>>()),
                dir.join(dot).metadata(),
            ) {
                out.push(found_file(dot.to_owned(), &m));
            }
        }
    }
    let mut rest: Vec<Found> = rd
        .filter_map(Result::ok)
        .filter_map(|d| {
            let name = String::from_utf8_lossy(d.file_name().as_bytes()).into_owned();
            if !matches(&pat, &name.chars().collect::<Vec<_>>()) {
                return None;
            }
            let m = d.path().metadata().or_else(|_| d.metadata()).ok()?;
            Some(found_file(name, &m))
        })
        .collect();
    rest.sort_by(|a, b| a.name.cmp(&b.name));
    out.extend(rest);
    if out.is_empty() {
        return Err(ERROR_FILE_NOT_FOUND);
    }
    Ok(out)
}

/// `ERROR_BAD_NETPATH`: a `\\server\...` name.
const ERROR_BAD_NETPATH: DWORD = 53;

use crate::files;

/// Fills `data` from `f` (the name truncated to 259 bytes).
///
/// # Safety
/// `data` is writable.
unsafe fn fill(data: *mut WIN32_FIND_DATAA, f: &Found) {
    let mut name = [0 as c_char; 260];
    for (d, &s) in name.iter_mut().zip(f.name.as_bytes().iter().take(259)) {
        *d = s as c_char;
    }
    let v = WIN32_FIND_DATAA {
        dw_file_attributes: f.attributes,
        ft_creation_time: f.times[0],
        ft_last_access_time: f.times[1],
        ft_last_write_time: f.times[2],
        n_file_size_high: (f.size >> 32) as DWORD,
        n_file_size_low: f.size as DWORD,
        dw_reserved0: 0,
        dw_reserved1: 0,
        c_file_name: name,
        c_alternate_file_name: [0; 14],
    };
    // SAFETY: writable (caller).
    unsafe { data.write_unaligned(v) };
}

/// `FindFirstFileA` (see the module comment).
///
/// # Safety
/// `spec` is null or NUL-terminated; `data` is null or writable.
#[export_name = "npipe_FindFirstFileA"]
pub unsafe extern "C" fn FindFirstFileA(
    spec: *const c_char,
    data: *mut WIN32_FIND_DATAA,
) -> HANDLE {
    // SAFETY: forwarded contract.
    let Some(spec) = (unsafe { name_a(spec) }) else {
        set_error(ERROR_PATH_NOT_FOUND);
        return INVALID_HANDLE_VALUE;
    };
    if data.is_null() {
        set_error(ERROR_NOACCESS);
        return INVALID_HANDLE_VALUE;
    }
    let found = match search(&spec) {
        Ok(f) if !f.is_empty() => f,
        Ok(_) => {
            set_error(ERROR_FILE_NOT_FOUND);
            return INVALID_HANDLE_VALUE;
        }
        Err(code) => {
            set_error(code);
            return INVALID_HANDLE_VALUE;
        }
    };
    let mut it = found.into_iter();
    if let Some(first) = it.next() {
        // SAFETY: non-null and writable (caller).
        unsafe { fill(data, &first) };
    }
    let h = handles::insert(Entry::new(
        Object::Find(Search {
            entries: Mutex::new(it),
        }),
        false,
    ));
    if h != INVALID_HANDLE_VALUE {
        set_error(ERROR_SUCCESS);
    }
    h
}

/// `FindNextFileA`: the next entry, or FALSE with ERROR_NO_MORE_FILES.
///
/// # Safety
/// `data` is null or writable.
#[export_name = "npipe_FindNextFileA"]
pub unsafe extern "C" fn FindNextFileA(h: HANDLE, data: *mut WIN32_FIND_DATAA) -> BOOL {
    handles::with(h, FALSE, |o| {
        let Object::Find(s) = o else {
            return fail(ERROR_INVALID_HANDLE);
        };
        if data.is_null() {
            return fail(ERROR_NOACCESS);
        }
        let next = s.entries.lock().unwrap_or_else(|p| p.into_inner()).next();
        match next {
            Some(f) => {
                // SAFETY: non-null and writable (caller).
                unsafe { fill(data, &f) };
                TRUE
            }
            None => fail(ERROR_NO_MORE_FILES),
        }
    })
}

/// `FindClose`: ends a listing. ERROR_INVALID_HANDLE for any other handle.
#[export_name = "npipe_FindClose"]
pub extern "C" fn FindClose(h: HANDLE) -> BOOL {
    let is_find = handles::with(h, false, |o| matches!(o, Object::Find(_)));
    if !is_find {
        return fail(ERROR_INVALID_HANDLE);
    }
    CloseHandle(h)
}
