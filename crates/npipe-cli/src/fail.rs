//! How the command fails: names (a bare `NAME` is `\\.\pipe\NAME`), the one line on stderr
//! that names the object and the reason in words and Windows terms, and the exit codes
//! (documented in docs/CLI.md; clap's usage errors exit with 2 as well).

use std::fmt;
use std::io;
use std::process::ExitCode;

use npipe::error::code::*;
use npipe::win32_code;

/// Success.
pub(crate) const EXIT_OK: u8 = 0;
/// Any failure without a code of its own.
pub(crate) const EXIT_FAILED: u8 = 1;
/// Bad command line: unknown command, flag or value, a name that is no valid name.
pub(crate) const EXIT_USAGE: u8 = 2;
/// No such pipe or mailslot (ERROR_FILE_NOT_FOUND).
pub(crate) const EXIT_NOT_FOUND: u8 = 3;
/// Every instance stayed busy, or the wait timed out (ERROR_PIPE_BUSY, ERROR_SEM_TIMEOUT).
pub(crate) const EXIT_TIMEOUT: u8 = 4;
/// Refused: access denied, or the name is already served (ERROR_ACCESS_DENIED,
/// ERROR_ALREADY_EXISTS).
pub(crate) const EXIT_DENIED: u8 = 5;

/// A failure of a command: what it concerned (a pipe name, or what was being done) and why.
#[derive(Debug)]
pub(crate) struct Failure {
    subject: String,
    err: io::Error,
    usage: bool,
    /// Words that say more than the code's own (for example "already served").
    reason: Option<&'static str>,
    /// Reported as access denied (exit code 5) whatever its code.
    denied: bool,
}

/// What every command returns.
pub(crate) type Outcome = Result<(), Failure>;

impl Failure {
    /// A failure concerning `subject` (a pipe or mailslot name, or an action).
    pub(crate) fn new(subject: impl Into<String>, err: io::Error) -> Failure {
        Failure {
            subject: subject.into(),
            err,
            usage: false,
            reason: None,
            denied: false,
        }
    }

    /// The same failure, told with `reason` instead of the code's usual words.
    pub(crate) fn because(self, reason: &'static str) -> Failure {
        Failure {
            reason: Some(reason),
            ..self
        }
    }

    /// A name another process serves, whichever code the create got (ERROR_ACCESS_DENIED, or
    /// ERROR_PIPE_BUSY when that server has all its instances): exit code 5, as documented.
    pub(crate) fn already_served(self) -> Failure {
        Failure {
            denied: true,
            ..self.because("already served")
        }
    }

    /// A bad command-line value (exit code 2).
    pub(crate) fn usage(subject: impl Into<String>, err: io::Error) -> Failure {
        Failure {
            usage: true,
            ..Failure::new(subject, err)
        }
    }

    /// The Win32 code of the error.
    pub(crate) fn code(&self) -> u32 {
        win32_code(&self.err)
    }

    /// The process exit code for this failure.
    pub(crate) fn exit_code(&self) -> u8 {
        if self.usage {
            return EXIT_USAGE;
        }
        if self.denied {
            return EXIT_DENIED;
        }
        match self.code() {
            // A name the library refused, whichever call found it (docs/CLI.md's table).
            ERROR_INVALID_NAME | ERROR_FILENAME_EXCED_RANGE => EXIT_USAGE,
            ERROR_FILE_NOT_FOUND | ERROR_PATH_NOT_FOUND => EXIT_NOT_FOUND,
            ERROR_PIPE_BUSY | ERROR_SEM_TIMEOUT => EXIT_TIMEOUT,
            ERROR_ACCESS_DENIED | ERROR_ALREADY_EXISTS => EXIT_DENIED,
            _ => EXIT_FAILED,
        }
    }
}

/// The reason in words for the Win32 codes a user meets; `None` for the others (whose own
/// message is shown).
fn words(code: u32) -> Option<&'static str> {
    Some(match code {
        ERROR_FILE_NOT_FOUND => "not found",
        ERROR_PIPE_BUSY => "all instances are busy",
        ERROR_SEM_TIMEOUT => "timed out",
        ERROR_ACCESS_DENIED => "access denied",
        ERROR_ALREADY_EXISTS => "already exists",
        ERROR_INVALID_NAME => "not a valid name",
        ERROR_FILENAME_EXCED_RANGE => "name too long",
        ERROR_BROKEN_PIPE => "the other end closed the pipe",
        ERROR_PIPE_NOT_CONNECTED => "the server disconnected",
        ERROR_NO_DATA => "the pipe is being closed",
        ERROR_MORE_DATA => "the message is longer than the buffer",
        ERROR_NOT_ENOUGH_QUOTA => "the mailslot is full",
        ERROR_OPERATION_ABORTED => "interrupted",
        ERROR_INVALID_PARAMETER => "invalid parameter",
        _ => return None,
    })
}

impl fmt::Display for Failure {
    /// `npipe: SUBJECT: REASON (ERROR_NAME)`, one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code();
        match (
            npipe::Error::from_io(&self.err),
            self.reason.or(words(code)),
        ) {
            (_, Some(w)) => write!(f, "npipe: {}: {w}", self.subject)?,
            (Some(e), None) => write!(f, "npipe: {}: {}", self.subject, e.message())?,
            (None, None) => write!(f, "npipe: {}: {}", self.subject, self.err)?,
        }
        if npipe::Error::from_io(&self.err).is_some() || self.reason.or(words(code)).is_some() {
            write!(f, " ({})", npipe::error::name_of(code))?;
        }
        Ok(())
    }
}

/// Prints a failure (one line on stderr) and turns the outcome into the exit code.
pub(crate) fn finish(r: Outcome) -> ExitCode {
    match r {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(f) => {
            // One line, whatever the error text held.
            eprintln!("{}", f.to_string().replace(['\n', '\r'], " "));
            ExitCode::from(f.exit_code())
        }
    }
}

/// Adds `subject` to an `io::Result`.
pub(crate) trait Context<T> {
    fn on(self, subject: &str) -> Result<T, Failure>;
}

impl<T> Context<T> for io::Result<T> {
    fn on(self, subject: &str) -> Result<T, Failure> {
        self.map_err(|e| Failure::new(subject, e))
    }
}

/// The kind of object a name argument stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Pipe,
    Mailslot,
}

/// The full name for a name argument: a bare `NAME` becomes `\\.\pipe\NAME` (or
/// `\\.\mailslot\NAME`); a name that starts with two slashes or backslashes is kept. A name
/// that is not valid for `kind` (or too long) is a usage error.
pub(crate) fn full_name(arg: &str, kind: Kind) -> Result<String, Failure> {
    let word = match kind {
        Kind::Pipe => "pipe",
        Kind::Mailslot => "mailslot",
    };
    let b = arg.as_bytes();
    let sep = |c: u8| c == b'\\' || c == b'/';
    let full = if b.len() >= 2 && sep(b[0]) && sep(b[1]) {
        arg.to_owned()
    } else {
        format!(r"\\.\{word}\{arg}")
    };
    let bad = |code| Failure::usage(&full, npipe::Error::io(code, format!("{full}: bad name")));
    // The library checks the characters and the length; the kind is ours to check.
    let parts: Vec<&str> = full.splitn(5, ['\\', '/']).collect();
    if parts.len() < 5 || !parts[3].eq_ignore_ascii_case(word) || parts[4].is_empty() {
        return Err(bad(ERROR_INVALID_NAME));
    }
    npipe::socket_address(&full).map_err(|e| Failure::usage(&full, e))?;
    Ok(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(full_name("x", Kind::Pipe).unwrap(), r"\\.\pipe\x");
        assert_eq!(
            full_name("a/b", Kind::Mailslot).unwrap(),
            r"\\.\mailslot\a/b"
        );
        assert_eq!(full_name("//./PIPE/x", Kind::Pipe).unwrap(), "//./PIPE/x");
        for (arg, kind) in [
            (r"\\.\mailslot\x", Kind::Pipe),
            (r"\\.\pipe\x", Kind::Mailslot),
            (r"\\.\pipe\", Kind::Pipe),
            (r"\\host\pipe\x", Kind::Pipe),
            ("", Kind::Pipe),
        ] {
            let e = full_name(arg, kind).unwrap_err();
            assert_eq!(e.exit_code(), EXIT_USAGE, "{arg}");
        }
        let e = full_name(&"x".repeat(300), Kind::Pipe).unwrap_err();
        assert_eq!(
            (e.code(), e.exit_code()),
            (ERROR_FILENAME_EXCED_RANGE, EXIT_USAGE)
        );
        assert!(e
            .to_string()
            .ends_with("name too long (ERROR_FILENAME_EXCED_RANGE)"));
    }

    #[test]
    fn lines_and_codes() {
        let f = Failure::new(r"\\.\pipe\foo", npipe::Error::io(ERROR_FILE_NOT_FOUND, "x"));
        assert_eq!(
            f.to_string(),
            r"npipe: \\.\pipe\foo: not found (ERROR_FILE_NOT_FOUND)"
        );
        assert_eq!(f.exit_code(), EXIT_NOT_FOUND);
        let f = Failure::new("run", io::Error::other("plain"));
        assert_eq!(
            (f.to_string().as_str(), f.exit_code()),
            ("npipe: run: plain", 1)
        );
        for (code, exit) in [
            (ERROR_PIPE_BUSY, EXIT_TIMEOUT),
            (ERROR_SEM_TIMEOUT, EXIT_TIMEOUT),
            (ERROR_ACCESS_DENIED, EXIT_DENIED),
            (ERROR_ALREADY_EXISTS, EXIT_DENIED),
            (ERROR_BROKEN_PIPE, EXIT_FAILED),
        ] {
            assert_eq!(
                Failure::new("x", npipe::Error::io(code, "m")).exit_code(),
                exit
            );
        }
    }
}
