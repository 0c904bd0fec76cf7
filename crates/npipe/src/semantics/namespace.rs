//! Pipe, mailslot and event names: parsing, case folding, and the abstract socket address a name
//! maps to.
//!
//! - `\\.\pipe\NAME` and `//./pipe/NAME` (any mix of `\` and `/`, prefix case-insensitive, W1);
//! - NAME may hold any character but NUL, including `< > * ? | " /` and spaces (W4, W5);
//! - a name is normalised as Win32 normalises every path it passes on (GetFullPathName), before
//!   any of this: `/` is `\`, runs of separators are one, `.` segments go, `..` takes the
//!   segment before it with it (never the `\\.\` prefix: `\\.\pipe\..\x` is no pipe name), a
//!   segment's single trailing period goes, and so do the trailing periods and spaces of a
//!   name that does not end in a separator. So `\\.\pipe\/tmp/mpv-socket` (how mpv names its
//!   pipe) is `\\.\pipe\tmp\mpv-socket`, and `name.` is `name`. A name that starts exactly with
//!   `\\?\` skips normalisation, as on Windows (its `/` stays a character of the name);
//! - names are compared case-insensitively (simple uppercase per character), the spelling used at
//!   creation is kept for display;
//! - a full name of 260 UTF-16 units or more (as Windows counts it, a character outside the
//!   Basic Multilingual Plane taking two) fails with ERROR_FILENAME_EXCED_RANGE (W6);
//! - the address is `NS/pipe/FOLDED` in the Linux abstract namespace, or `NS/pipe#HASH` when that
//!   does not fit in `sun_path`; the full folded name is checked in the handshake, so a hash
//!   collision can never connect a client to the wrong pipe. `NS` comes from `NPIPE_NAMESPACE`
//!   (default `npipe`), which isolates tests and containers. Nothing is ever created on disk.
//!
//! Event names ([`parse_event`]) follow the kernel object namespace instead (checked against
//! Windows' answers through the conformance oracle, Wine 8):
//! - names are case-sensitive and any character but `\` and NUL is an ordinary character
//!   (`/`, `*`, spaces, `.`);
//! - `Local\` prefixes are accepted and stripped (`Local\x` is `x`, as in a logon session);
//!   `Global\` selects the global set of names: `Global\x` is a different event from `x`, as in
//!   any session but 0. Prefixes are case-sensitive (`LOCAL\x` is ERROR_PATH_NOT_FOUND), and a
//!   `Local\` after `Global\` stays global (the global directory's `Local` link points to
//!   itself). Both sets are the same per-user namespace here: a name is reachable by every
//!   process of the machine that runs as the creator's user (or root), there are no sessions;
//! - a name is at most 259 UTF-16 units, prefixes included (MAX_PATH with its NUL):
//!   ERROR_FILENAME_EXCED_RANGE beyond, what the ANSI functions give (the wide ones accept up to
//!   32767 on Windows: a departure);
//! - `\` at the start is ERROR_BAD_PATHNAME, nothing after a prefix (or `\` right after it) is
//!   ERROR_INVALID_NAME, a `\` anywhere else (a subdirectory, `Session\N\x`) is
//!   ERROR_PATH_NOT_FOUND, and the names of the namespace's own links (`Local`, `Global`,
//!   `Session`) are ERROR_INVALID_HANDLE (an object of another type has the name);
//! - the address is `NS/event/Local\NAME` or `NS/event/Global\NAME` (hashed like pipe names
//!   when too long).

use crate::error::code::*;

/// Longest accepted full name, in UTF-16 units (W6: Windows' path limit of 260 including NUL).
pub(crate) const MAX_NAME_UNITS: usize = 259;
/// Longest abstract address (`sun_path` is 108 bytes, the leading NUL takes one).
const MAX_ADDR: usize = 107;

/// What kind of object a name refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Pipe,
    Mailslot,
    /// A named event (`CreateEvent` with a name).
    Event,
}

impl Kind {
    /// The word for error messages.
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Kind::Pipe => "pipe",
            Kind::Mailslot => "mailslot",
            Kind::Event => "event",
        }
    }
}

/// A checked, case-folded name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Name {
    /// As the caller spelled it.
    pub display: String,
    /// The part after the prefix, slashes normalised and case folded.
    pub folded: String,
    /// Pipe or mailslot.
    pub kind: Kind,
    /// `\\*\mailslot\NAME`: a domain broadcast (delivered to the local mailslot).
    pub broadcast: bool,
}

fn fold_char(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// Splits `\\host\keyword\rest` (separators `\` or `/`) into its three parts; `None` when
/// the name has no such shape.
fn split_unc(s: &str) -> Option<(&str, &str, &str)> {
    let b = s.as_bytes();
    let sep = |c: u8| c == b'\\' || c == b'/';
    if b.len() < 4 || !sep(b[0]) || !sep(b[1]) {
        return None;
    }
    let host_end = 2 + b[2..].iter().position(|&c| sep(c))?;
    let rest = &s[host_end + 1..];
    let kw_end = rest.as_bytes().iter().position(|&c| sep(c))?;
    Some((&s[2..host_end], &rest[..kw_end], &rest[kw_end + 1..]))
}

/// Splits `\\.\pipe\rest` (or `\\.\mailslot\rest`) into its kind and rest. The host part
/// must be `.` (remote names go through [`split_remote`]) or `*` for mailslot broadcast.
fn split_prefix(s: &str) -> Option<(Kind, bool, &str)> {
    let (host, kw, rest) = split_unc(s)?;
    let broadcast = host == "*";
    if host != "." && !broadcast {
        return None;
    }
    let kind = if kw.eq_ignore_ascii_case("pipe") && !broadcast {
        Kind::Pipe
    } else if kw.eq_ignore_ascii_case("mailslot") {
        Kind::Mailslot
    } else {
        return None;
    };
    Some((kind, broadcast, rest))
}

/// Splits a remote pipe name `\\server\pipe\rest` (host other than `.`, `?` and `*`) into the
/// server and the pipe's name on it; `None` for anything else, local names included.
pub(crate) fn split_remote(s: &str) -> Option<(&str, &str)> {
    let (host, kw, rest) = split_unc(s)?;
    if host.is_empty()
        || host == "."
        || host == "?"
        || host == "*"
        || !kw.eq_ignore_ascii_case("pipe")
    {
        return None;
    }
    (!rest.is_empty()).then_some((host, rest))
}

/// Parses the name WaitNamedPipe waits for, failing as it does before the pipe file system sees
/// the name (Wine's kernelbase, conformance scenario 57): ERROR_PATH_NOT_FOUND for a name that
/// normalises to anything but `\\.\pipe\NAME` (a mailslot, another device, a relative
/// path, `\\.\pipe` itself), ERROR_INVALID_PARAMETER for the empty pipe name `\\.\pipe\`,
/// ERROR_FILE_NOT_FOUND for the empty string, ERROR_FILENAME_EXCED_RANGE for a name too long.
pub(crate) fn parse_wait(s: &str) -> Result<Name, u32> {
    match parse(s, Kind::Pipe) {
        Ok(n) => Ok(n),
        Err(ERROR_FILENAME_EXCED_RANGE) => Err(ERROR_FILENAME_EXCED_RANGE),
        Err(_) if s.is_empty() => Err(ERROR_FILE_NOT_FOUND),
        Err(_) => {
            let pipe_root = normalize(s)
                .as_deref()
                .and_then(split_prefix)
                .is_some_and(|(kind, _, rest)| kind == Kind::Pipe && rest.is_empty());
            Err(if pipe_root {
                ERROR_INVALID_PARAMETER
            } else {
                ERROR_PATH_NOT_FOUND
            })
        }
    }
}

/// Whether `s`, normalised, is `\\HOST\mailslot\...` (any host): where CreateFile sends it.
pub(crate) fn is_mailslot_name(s: &str) -> bool {
    normalize(s)
        .as_deref()
        .and_then(split_unc)
        .is_some_and(|(_, kw, _)| kw.eq_ignore_ascii_case("mailslot"))
}

/// Parses a full pipe or mailslot name. Errors are Win32 codes: ERROR_INVALID_NAME for
/// anything that is not such a name (W2), ERROR_FILENAME_EXCED_RANGE when too long (W6).
pub(crate) fn parse(s: &str, want: Kind) -> Result<Name, u32> {
    if want == Kind::Event {
        return parse_event(s);
    }
    if s.contains('\0') {
        return Err(ERROR_INVALID_NAME);
    }
    if s.encode_utf16().count() > MAX_NAME_UNITS {
        return Err(ERROR_FILENAME_EXCED_RANGE);
    }
    let normal = normalize(s).ok_or(ERROR_INVALID_NAME)?;
    let (kind, broadcast, rest) = split_prefix(&normal).ok_or(ERROR_INVALID_NAME)?;
    if kind != want || rest.is_empty() {
        return Err(ERROR_INVALID_NAME);
    }
    let folded: String = rest.chars().map(fold_char).collect();
    Ok(Name {
        display: normal.clone(),
        folded,
        kind,
        broadcast,
    })
}

/// The name as Win32's path normalisation leaves it (see the module docs), spelled
/// `\\HOST\rest` with the caller's case; `None` when it is no `\\HOST\...` name at all. A
/// name that starts exactly with `\\?\` comes back as given (only `\\?\` becomes `\\.\`).
fn normalize(s: &str) -> Option<String> {
    if let Some(rest) = s.strip_prefix(r"\\?\") {
        return Some(format!(r"\\.\{rest}"));
    }
    let sep = |c: char| c == '\\' || c == '/';
    let mut chars = s.chars();
    if !(chars.next().is_some_and(sep) && chars.next().is_some_and(sep)) {
        return None;
    }
    // Runs of separators after the first two are one: the host is the first segment.
    let body = chars.as_str().trim_start_matches(sep);
    let (host, path) = body.split_once(sep).unwrap_or((body, ""));
    // `//?/pipe/x` is normalised to `\\?\pipe\x`, the same device as `\\.\`.
    let host = if host == "?" { "." } else { host };
    // A name that ends in a separator keeps its last segment's trailing periods and spaces.
    let open_end = !path.is_empty() && !path.ends_with(sep);
    let mut segs: Vec<&str> = vec![host];
    for seg in path.split(sep) {
        match seg {
            "" | "." => {}
            // The root of a device path is its `\\.\` prefix: `..` takes the device name
            // (`pipe`) too, never the host.
            ".." => {
                if segs.len() > 1 {
                    segs.pop();
                }
            }
            // A segment's single trailing period goes (`a.` is `a`; `a..` and `...` stay).
            _ => segs.push(match seg.strip_suffix('.') {
                Some(t) if !t.ends_with('.') => t,
                _ => seg,
            }),
        }
    }
    let mut out = String::with_capacity(s.len());
    out.push_str(r"\\");
    out.push_str(&segs.join(r"\"));
    if open_end {
        let kept = out.trim_end_matches(['.', ' ']).len();
        out.truncate(kept);
    } else if segs.len() > 1 {
        out.push('\\');
    }
    Some(out)
}

/// ERROR_BAD_PATHNAME: an event name that starts with `\`.
pub(crate) const ERROR_BAD_PATHNAME: u32 = 161;

/// Longest event name in UTF-16 units, prefixes included (MAX_PATH less its NUL).
pub(crate) const MAX_EVENT_NAME_UNITS: usize = 259;

/// Parses a kernel object name for a named event (see the module docs for the rules). The empty
/// name is not a name: callers treat it as "unnamed" (CreateEvent) or refuse it (OpenEvent).
pub(crate) fn parse_event(s: &str) -> Result<Name, u32> {
    if s.contains('\0') {
        return Err(ERROR_INVALID_NAME);
    }
    if s.encode_utf16().count() > MAX_EVENT_NAME_UNITS {
        return Err(ERROR_FILENAME_EXCED_RANGE);
    }
    if s.starts_with('\\') {
        return Err(ERROR_BAD_PATHNAME);
    }
    let mut global = false;
    let mut rest = s;
    loop {
        if let Some(r) = rest.strip_prefix("Global\\") {
            global = true;
            rest = r;
        } else if let Some(r) = rest.strip_prefix("Local\\") {
            rest = r;
        } else {
            break;
        }
    }
    if rest.is_empty() || rest.starts_with('\\') {
        return Err(ERROR_INVALID_NAME);
    }
    if rest.contains('\\') {
        return Err(ERROR_PATH_NOT_FOUND);
    }
    if matches!(rest, "Local" | "Global" | "Session") {
        return Err(ERROR_INVALID_HANDLE);
    }
    let scope = if global { "Global" } else { "Local" };
    Ok(Name {
        display: s.to_owned(),
        folded: format!("{scope}\\{rest}"),
        kind: Kind::Event,
        broadcast: false,
    })
}

/// The namespace prefix from `NPIPE_NAMESPACE` (default `npipe`, at most 40 bytes used).
pub(crate) fn namespace() -> String {
    let ns = std::env::var("NPIPE_NAMESPACE").unwrap_or_default();
    let ns = if ns.is_empty() {
        "npipe".to_owned()
    } else {
        ns
    };
    let mut end = ns.len().min(40);
    while !ns.is_char_boundary(end) {
        end -= 1;
    }
    ns[..end].to_owned()
}

/// 128-bit FNV-1a (two 64-bit lanes with different offsets), stable across builds.
fn hash128(data: &[u8]) -> u128 {
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x6c62_272e_07bb_0142;
    for &x in data {
        a = (a ^ x as u64).wrapping_mul(0x0000_0100_0000_01b3);
        b = (b ^ x as u64)
            .wrapping_mul(0x0000_0100_0000_01b3)
            .rotate_left(5);
    }
    ((a as u128) << 64) | b as u128
}

/// The part of a full pipe or mailslot name after its prefix, as spelled (`Foo` for
/// `\\.\pipe\Foo`); `None` when `s` is no such name.
pub(crate) fn leaf(s: &str) -> Option<&str> {
    split_prefix(s).map(|(_, _, rest)| rest)
}

impl Name {
    /// The abstract socket address (without the leading NUL) for this name.
    pub(crate) fn address(&self) -> Vec<u8> {
        self.address_in(&namespace())
    }

    /// The abstract socket address of this name in the namespace `ns`.
    pub(crate) fn address_in(&self, ns: &str) -> Vec<u8> {
        let kw = self.kind.noun();
        let plain = format!("{ns}/{kw}/{}", self.folded);
        if plain.len() <= MAX_ADDR {
            return plain.into_bytes();
        }
        format!("{ns}/{kw}#{:032x}", hash128(self.folded.as_bytes())).into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CreateFile's routing and WaitNamedPipe's errors follow the normalised name (scenario 57).
    #[test]
    fn routing_and_wait_errors_follow_the_normalised_name() {
        for slot in [
            r"\\.\mailslot\x",
            r"\\*\MAILSLOT\x",
            r"\\host\mailslot\x",
            r"\\.\pipe\..\mailslot\x",
            "//./pipe/./../mailslot/x",
            r"\\?\mailslot\x",
        ] {
            assert!(is_mailslot_name(slot), "{slot}");
        }
        for not_slot in [
            r"\\.\pipe\x",
            r"\\.\mailslot\..\pipe\x",
            r"\\.\mailslot",
            "mailslot",
            "",
        ] {
            assert!(!is_mailslot_name(not_slot), "{not_slot}");
        }
        assert_eq!(
            parse_wait(r"\\.\mailslot\..\pipe\x").unwrap().display,
            r"\\.\pipe\x"
        );
        let code = |s: &str| parse_wait(s).err();
        assert_eq!(code(r"\\.\pipe\x"), None);
        for path_not_found in [
            r"\\.\mailslot\x",
            r"\\.\foo\x",
            r"\\.\pipe\..\x",
            r"\\.\pipe",
            "x",
            r"\\?\mailslot\x",
        ] {
            assert_eq!(
                code(path_not_found),
                Some(ERROR_PATH_NOT_FOUND),
                "{path_not_found}"
            );
        }
        assert_eq!(code(r"\\.\pipe\"), Some(ERROR_INVALID_PARAMETER));
        assert_eq!(code(""), Some(ERROR_FILE_NOT_FOUND));
        let long = format!(r"\\.\pipe\{}", "a".repeat(300));
        assert_eq!(code(&long), Some(ERROR_FILENAME_EXCED_RANGE));
    }

    #[test]
    fn remote_names() {
        assert_eq!(split_remote(r"\\srv\pipe\x"), Some(("srv", "x")));
        assert_eq!(split_remote("//srv/PIPE/a\\b"), Some(("srv", "a\\b")));
        assert_eq!(
            split_remote(r"\\10.0.0.1@4450\pipe\x"),
            Some(("10.0.0.1@4450", "x"))
        );
        for local in [
            r"\\.\pipe\x",
            r"\\*\pipe\x",
            r"\\srv\mailslot\x",
            r"\\srv\pipe\",
            r"\\\pipe\x",
            "srv",
        ] {
            assert_eq!(split_remote(local), None, "{local}");
        }
    }

    #[test]
    fn prefixes_and_case() {
        let a = parse(r"\\.\PiPe\Tests_Pipe.c", Kind::Pipe).unwrap();
        let b = parse("//./pipe/TESTS_PIPE.C", Kind::Pipe).unwrap();
        assert_eq!(a.folded, b.folded);
        assert_eq!(a.address(), b.address());
        assert_eq!(a.display, r"\\.\PiPe\Tests_Pipe.c");
    }

    #[test]
    fn odd_characters_are_names() {
        let n = parse(r#"\\.\pipe\a<>*?|"/b c"#, Kind::Pipe).unwrap();
        assert_eq!(n.folded, r#"A<>*?|"\B C"#);
        assert!(parse(r"\\.\pipe\test3\pipe", Kind::Pipe).is_ok());
    }

    #[test]
    fn invalid_names() {
        assert_eq!(
            parse("not a named pipe", Kind::Pipe),
            Err(ERROR_INVALID_NAME)
        );
        assert_eq!(parse(r"\\.\pipe\", Kind::Pipe), Err(ERROR_INVALID_NAME));
        assert_eq!(parse(r"\\.\pipes\x", Kind::Pipe), Err(ERROR_INVALID_NAME));
        assert_eq!(parse(r"\\host\pipe\x", Kind::Pipe), Err(ERROR_INVALID_NAME));
        assert_eq!(
            parse("\\\\.\\pipe\\a\0b", Kind::Pipe),
            Err(ERROR_INVALID_NAME)
        );
        assert_eq!(
            parse(r"\\.\mailslot\x", Kind::Pipe),
            Err(ERROR_INVALID_NAME)
        );
        let long = format!(r"\\.\pipe\{}", "x".repeat(251));
        assert_eq!(parse(&long, Kind::Pipe), Err(ERROR_FILENAME_EXCED_RANGE));
        let ok = format!(r"\\.\pipe\{}", "x".repeat(250));
        assert!(parse(&ok, Kind::Pipe).is_ok());
        // Counted in UTF-16 units, as Windows counts them: a character outside the BMP is two.
        let wide = format!(r"\\.\pipe\{}x", "\u{1F600}".repeat(125));
        assert_eq!(parse(&wide, Kind::Pipe), Err(ERROR_FILENAME_EXCED_RANGE));
        let fits = format!(r"\\.\pipe\{}", "\u{1F600}".repeat(125));
        assert!(parse(&fits, Kind::Pipe).is_ok());
    }

    /// Win32's path normalisation (conformance scenario 53 has Windows' answers through Wine).
    #[test]
    fn names_are_normalised_as_paths() {
        let folded = |s: &str| parse(s, Kind::Pipe).map(|n| n.folded);
        for (given, same) in [
            (r"\\.\pipe\/tmp/mpv-socket", r"\\.\pipe\tmp\mpv-socket"),
            (r"\\.\pipe\a\\b", r"\\.\pipe\a\b"),
            (r"//.//pipe///a/./b", r"\\.\pipe\a\b"),
            (r"\\.\pipe\a\x\..\b", r"\\.\pipe\a\b"),
            (r"\\.\pipe\..\pipe\b", r"\\.\pipe\b"),
            (r"\\.\pipe\name. . ", r"\\.\pipe\name"),
            (r"\\.\pipe\seg.\x", r"\\.\pipe\seg\x"),
            (r"\\?\pipe\verb", r"\\.\pipe\verb"),
            (r"//?/pipe/verb", r"\\.\pipe\verb"),
        ] {
            assert_eq!(folded(given), folded(same), "{given}");
        }
        for (given, other) in [
            (r"\\.\pipe\seg..\x", r"\\.\pipe\seg.\x"),
            (r"\\.\pipe\t\", r"\\.\pipe\t"),
            (r"\\?\pipe\v.", r"\\.\pipe\v"),
            (r"\\?\pipe\a/b", r"\\.\pipe\a/b"),
        ] {
            assert!(folded(given).is_ok(), "{given}");
            assert_ne!(folded(given), folded(other), "{given}");
        }
        assert_eq!(folded(r"\\.\pipe\x\..\...\y").unwrap(), r"...\Y");
        for bad in [
            r"\\.\pipe\..\x",
            r"\\.\pipe\. .",
            r"\\.\pipe\a\..",
            r"\\.\pipe\\",
        ] {
            assert_eq!(folded(bad), Err(ERROR_INVALID_NAME), "{bad}");
        }
        let n = parse(r"//./PIPE//Tmp/./Sock.", Kind::Pipe).unwrap();
        assert_eq!(
            n.display, r"\\.\PIPE\Tmp\Sock",
            "the normalised spelling, case kept"
        );
        assert_eq!(leaf(&n.display), Some(r"Tmp\Sock"));
    }

    #[test]
    fn long_names_hash_and_differ() {
        let a = parse(&format!(r"\\.\pipe\{}", "a".repeat(200)), Kind::Pipe).unwrap();
        let mut s = "a".repeat(200);
        s.replace_range(10..11, "Z");
        let b = parse(&format!(r"\\.\pipe\{s}"), Kind::Pipe).unwrap();
        assert!(a.address().len() <= MAX_ADDR);
        assert_ne!(a.address(), b.address());
    }

    #[test]
    fn event_names() {
        let a = parse_event("nev_Case").unwrap();
        let b = parse_event("NEV_CASE").unwrap();
        assert_ne!(a.address(), b.address(), "event names are case-sensitive");
        assert_eq!(
            parse_event(r"Local\nev_Case").unwrap().address(),
            a.address()
        );
        assert_eq!(
            parse_event(r"Local\Local\nev_Case").unwrap().folded,
            a.folded
        );
        let g = parse_event(r"Global\nev_Case").unwrap();
        assert_ne!(g.address(), a.address(), "Global\\ is its own set of names");
        assert_eq!(
            parse_event(r"Local\Global\nev_Case").unwrap().folded,
            g.folded
        );
        assert_eq!(
            parse_event(r"Global\Local\nev_Case").unwrap().folded,
            g.folded
        );
        assert_eq!(parse_event(r"LOCAL\x"), Err(ERROR_PATH_NOT_FOUND));
        assert_eq!(parse_event(r"a\b"), Err(ERROR_PATH_NOT_FOUND));
        assert_eq!(parse_event(r"x\"), Err(ERROR_PATH_NOT_FOUND));
        assert_eq!(parse_event(r"Session\1\x"), Err(ERROR_PATH_NOT_FOUND));
        assert_eq!(parse_event(r"Local\"), Err(ERROR_INVALID_NAME));
        assert_eq!(parse_event(r"Global\"), Err(ERROR_INVALID_NAME));
        assert_eq!(parse_event(r"Local\\x"), Err(ERROR_INVALID_NAME));
        assert_eq!(parse_event(r"\x"), Err(ERROR_BAD_PATHNAME));
        assert_eq!(parse_event("Local"), Err(ERROR_INVALID_HANDLE));
        assert_eq!(parse_event("Global"), Err(ERROR_INVALID_HANDLE));
        assert!(parse_event("a/b *?.").is_ok());
        assert!(parse_event(".").is_ok());
        assert!(parse_event(&"x".repeat(259)).is_ok());
        assert_eq!(
            parse_event(&"x".repeat(260)),
            Err(ERROR_FILENAME_EXCED_RANGE)
        );
        let local = format!(r"Local\{}", "x".repeat(253));
        assert!(parse_event(&local).is_ok());
        assert_eq!(
            parse_event(&format!("{local}x")),
            Err(ERROR_FILENAME_EXCED_RANGE)
        );
        // One UTF-16 unit per BMP character, two for others: the limit counts units.
        assert!(parse_event(&"é".repeat(259)).is_ok());
        assert_eq!(
            parse_event(&"😀".repeat(130)),
            Err(ERROR_FILENAME_EXCED_RANGE)
        );
        assert_eq!(parse(r"Local\x", Kind::Event).unwrap().kind, Kind::Event);
        assert!(parse_event(&"y".repeat(250)).unwrap().address().len() <= MAX_ADDR);
    }

    #[test]
    fn mailslot_names() {
        let m = parse(r"\\.\mailslot\abc\def\ghi", Kind::Mailslot).unwrap();
        assert_eq!(m.folded, r"ABC\DEF\GHI");
        assert_eq!(parse("blah", Kind::Mailslot), Err(ERROR_INVALID_NAME));
    }
}
