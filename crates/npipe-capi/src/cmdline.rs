//! Windows command lines: splitting one into arguments as CreateProcess's C runtime does,
//! quoting arguments back into one (GetCommandLineA), and finding the program the first
//! argument names (beside the caller, the current directory, then PATH; `x.exe` also finds
//! `x`).

use std::ffi::c_char;
use std::path::{Path, PathBuf};

/// Splits a command line with the rules of the C runtime: whitespace separates arguments
/// outside double quotes; 2n backslashes before a quote are n backslashes and the quote
/// toggles quoting, 2n+1 are n and a literal quote; `""` inside quotes is a literal quote;
/// other backslashes are literal. The first argument (the program) is read more simply, as
/// the runtime reads it: every quote toggles quoting and is dropped, backslashes are literal,
/// and it ends at whitespace outside quotes, so `"a b"c` is `a bc`, and a line that starts
/// with whitespace has an empty first argument.
pub(crate) fn split_command_line(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    if !chars.is_empty() {
        let mut prog = String::new();
        let mut quoted = false;
        while i < chars.len() {
            let c = chars[i];
            if c == '"' {
                quoted = !quoted;
            } else if !quoted && (c == ' ' || c == '\t') {
                break;
            } else {
                prog.push(c);
            }
            i += 1;
        }
        args.push(prog);
    }
    loop {
        while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t') {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        let mut arg = String::new();
        let mut quoted = false;
        while i < chars.len() {
            let c = chars[i];
            if (c == ' ' || c == '\t') && !quoted {
                break;
            }
            if c == '\\' {
                let start = i;
                while i < chars.len() && chars[i] == '\\' {
                    i += 1;
                }
                let n = i - start;
                if i < chars.len() && chars[i] == '"' {
                    arg.extend(std::iter::repeat_n('\\', n / 2));
                    if n % 2 == 1 {
                        arg.push('"');
                        i += 1;
                    }
                } else {
                    arg.extend(std::iter::repeat_n('\\', n));
                }
                continue;
            }
            if c == '"' {
                if quoted && i + 1 < chars.len() && chars[i + 1] == '"' {
                    arg.push('"');
                    i += 2;
                    continue;
                }
                quoted = !quoted;
                i += 1;
                continue;
            }
            arg.push(c);
            i += 1;
        }
        args.push(arg);
    }
    args
}

pub(crate) fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Finds the program `name` as CreateProcess does (see the module comment).
pub(crate) fn resolve(name: &str) -> Option<PathBuf> {
    let mut names = vec![name.to_owned()];
    if let Some(stem) = name
        .len()
        .checked_sub(4)
        .filter(|&n| name.is_char_boundary(n) && name[n..].eq_ignore_ascii_case(".exe"))
        .map(|n| &name[..n])
    {
        names.push(stem.to_owned());
    }
    if name.contains('/') {
        // A path: relative to this process's current directory, as on Windows.
        return names
            .into_iter()
            .map(PathBuf::from)
            .find(|p| is_executable(p));
    }
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(d) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        dirs.push(d);
    }
    // The current directory of this process (lpCurrentDirectory is the child's, not where
    // the program is looked for).
    dirs.push(PathBuf::from("."));
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.iter()
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| is_executable(p))
}

/// The environment variable in which CreateProcess gives its child the command line as the
/// caller wrote it (see [`GetCommandLineA`]).
pub(crate) const COMMAND_LINE_VAR: &str = "NPIPE_COMMAND_LINE";

/// `GetCommandLineA`: the command line CreateProcess was given, as it was written, when this
/// process was started by it (its child gets it in [`COMMAND_LINE_VAR`], believed only when
/// it splits into this very program's arguments, so one inherited by a process started
/// otherwise is ignored); else this program's arguments joined with Windows' quoting (the
/// inverse of the splitting). In a string that lives as long as the process.
#[export_name = "npipe_GetCommandLineA"]
pub extern "C" fn GetCommandLineA() -> *const c_char {
    static LINE: std::sync::OnceLock<std::ffi::CString> = std::sync::OnceLock::new();
    LINE.get_or_init(|| {
        let args: Vec<String> = std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let line = std::env::var(COMMAND_LINE_VAR)
            .ok()
            .filter(|raw| split_command_line(raw) == args)
            .unwrap_or_else(|| {
                args.iter()
                    .map(|a| quote_arg(a))
                    .collect::<Vec<_>>()
                    .join(" ")
            });
        std::ffi::CString::new(line.replace('\0', " ")).unwrap_or_default()
    })
    .as_ptr()
}

/// One argument quoted so that [`split_command_line`] gives it back.
pub(crate) fn quote_arg(a: &str) -> String {
    if !a.is_empty() && !a.contains([' ', '\t', '"']) {
        return a.to_owned();
    }
    let mut out = String::from("\"");
    let mut backslashes = 0;
    for c in a.chars() {
        match c {
            '\\' => backslashes += 1,
            '"' => {
                out.extend(std::iter::repeat_n('\\', backslashes * 2 + 1));
                out.push('"');
                backslashes = 0;
            }
            c => {
                out.extend(std::iter::repeat_n('\\', backslashes));
                out.push(c);
                backslashes = 0;
            }
        }
    }
    out.extend(std::iter::repeat_n('\\', backslashes * 2));
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_split_as_windows_does() {
        assert_eq!(split_command_line("child"), ["child"]);
        assert_eq!(
            split_command_line(r#""C:\a b\x.exe" one "two three"  four"#),
            [r"C:\a b\x.exe", "one", "two three", "four"]
        );
        // 2n backslashes before a quote: n, and the quote toggles quoting.
        assert_eq!(split_command_line(r#"p a\\"b c" d"#), ["p", r"a\b c", "d"]);
        // 2n+1: n and a literal quote.
        assert_eq!(split_command_line(r#"p a\\\"b"#), ["p", r#"a\"b"#]);
        // Backslashes elsewhere are literal; "" inside quotes is a quote.
        assert_eq!(
            split_command_line(r#"p a\b "x""y""#),
            ["p", r"a\b", r#"x"y"#]
        );
        assert_eq!(split_command_line(""), Vec::<String>::new());
        // The program name: quotes toggle and are dropped, and it ends at whitespace outside
        // them; a leading blank makes it empty (CommandLineToArgvW's documentation, and the C
        // runtime under Wine).
        assert_eq!(split_command_line("  "), [""]);
        assert_eq!(split_command_line(" first second"), ["", "first", "second"]);
        assert_eq!(split_command_line(r#""child.exe"x a"#), ["child.exex", "a"]);
        assert_eq!(split_command_line(r#"a"b c"d e"#), ["ab cd", "e"]);
        assert_eq!(split_command_line(r#""C:\dir\""#), [r"C:\dir\"]);
    }

    #[test]
    fn quoting_round_trips() {
        for a in [
            "plain",
            "two words",
            r#"quote"inside"#,
            r"trailing\",
            r#"back\\slash""#,
            "",
        ] {
            let line = format!("prog {}", quote_arg(a));
            assert_eq!(split_command_line(&line), ["prog", a], "{line}");
        }
    }
}
