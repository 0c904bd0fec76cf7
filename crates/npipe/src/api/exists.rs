//! Pipe names as ipc.h spells them, and whether a name is served. This file owns the expansion
//! of bare names (`NAME` means `\\.\pipe\NAME`) and the lookup behind [`pipe_exists`]: a scan of
//! the kernel's table of Unix sockets, `/proc/net/unix` (read by `semantics::listing`), for the
//! listening socket a served name is bound to (docs/DESIGN.md, "Names"). Nothing is connected, so the server sees nothing.

use std::borrow::Cow;
use std::time::Duration;

use crate::error::code::*;
use crate::semantics::listing;
use crate::semantics::namespace::{self, Kind};

/// The full pipe name for a name as ipc.h takes it: a bare `NAME` becomes `\\.\pipe\NAME`, a name
/// that starts with two slashes or backslashes (`\\.\pipe\NAME`, `//./pipe/NAME`) is kept.
pub(crate) fn full_pipe_name(name: &str) -> Cow<'_, str> {
    let b = name.as_bytes();
    let sep = |c: u8| c == b'\\' || c == b'/';
    if b.len() >= 2 && sep(b[0]) && sep(b[1]) {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(format!(r"\\.\pipe\{name}"))
    }
}

/// Whether a server of the pipe `name` exists, whether or not an instance is free. `name` is a
/// full name (`\\.\pipe\NAME`) or, as in ipc.h, a bare `NAME`; case does not matter (W1). An
/// invalid name does not exist.
///
/// The answer comes from the table of listening sockets (`/proc/net/unix`), so asking costs the
/// server nothing. Without `/proc`, a `WaitNamedPipe` of one millisecond decides instead (a
/// busy pipe exists too).
///
/// # Examples
/// ```
/// let name = format!("npipe-doc-exists-{}", std::process::id());
/// assert!(!npipe::pipe_exists(&name));
/// let server = npipe::ServerOptions::new().create(&format!(r"\\.\pipe\{name}"))?;
/// assert!(npipe::pipe_exists(&name.to_uppercase()));
/// drop(server);
/// assert!(!npipe::pipe_exists(&name));
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Windows
/// The `pipe_exists` of ipc.h, which lists `\\.\pipe\*` with `FindFirstFileA` and compares
/// names case-insensitively.
pub fn pipe_exists(name: &str) -> bool {
    let full = full_pipe_name(name);
    let Ok(parsed) = namespace::parse(&full, Kind::Pipe) else {
        return false;
    };
    let addr = parsed.address();
    match std::fs::read("/proc/net/unix") {
        Ok(table) => listed(&table, &addr),
        _ => probe(&full),
    }
}

/// `WaitNamedPipe` for a millisecond: success or a timeout (all instances busy) both mean the
/// pipe exists; ERROR_FILE_NOT_FOUND means it does not.
fn probe(full: &str) -> bool {
    match super::wait_named_pipe(full, super::WaitFor::Timeout(Duration::from_millis(1))) {
        Ok(()) => true,
        Err(e) => crate::win32_code(&e) == ERROR_SEM_TIMEOUT,
    }
}

/// Whether `table` (the bytes of `/proc/net/unix`) holds a listening socket bound to the
/// abstract address `addr`.
fn listed(table: &[u8], addr: &[u8]) -> bool {
    listing::listening_abstract(table).iter().any(|a| a == addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &[u8] = b"Num       RefCount Protocol Flags    Type St Inode Path\n\
        0000000000000000: 00000002 00000000 00010000 0005 01 51234 @npipe/pipe/MY PIPE\n\
        0000000000000000: 00000003 00000000 00000000 0005 03 51240 @npipe/pipe/CONNECTED\n\
        0000000000000000: 00000003 00000000 00000000 0001 03  1624\n\
        0000000000000000: 00000002 00000000 00010000 0001 01 12345 /run/some.sock\n";

    #[test]
    fn listening_abstract_sockets_only() {
        assert!(listed(TABLE, b"npipe/pipe/MY PIPE"));
        assert!(!listed(TABLE, b"npipe/pipe/MY"));
        // Same address but not listening (an accepted connection's socket).
        assert!(!listed(TABLE, b"npipe/pipe/CONNECTED"));
        // A path socket is not an abstract one.
        assert!(!listed(TABLE, b"run/some.sock"));
        assert!(!listed(b"", b"npipe/pipe/X"));
        assert!(!listed(b"header\ngarbage line\n", b"npipe/pipe/X"));
    }

    #[test]
    fn bare_and_full_names() {
        assert_eq!(full_pipe_name("test_pipe"), r"\\.\pipe\test_pipe");
        assert_eq!(full_pipe_name(r"\\.\PIPE\x"), r"\\.\PIPE\x");
        assert_eq!(full_pipe_name("//./pipe/x"), "//./pipe/x");
        assert_eq!(full_pipe_name(r"a\b"), r"\\.\pipe\a\b");
        assert_eq!(full_pipe_name(""), r"\\.\pipe\");
    }
}
