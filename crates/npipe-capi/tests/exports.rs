//! The library's symbols against its headers: every Win32 function is defined as `npipe_<name>`
//! and declared so in `npipe/win32.h` with a `#define <name> npipe_<name>`; the plain Win32
//! names are exported too unless the `prefixed` feature is on; nothing else leaks out; the
//! header's version is the crate's. Also builds a translation unit with `NPIPE_NO_WIN32_NAMES`
//! that defines its own `ReadFile` and `CloseHandle` (as a program with another Win32 layer
//! has them) and uses npipe through the prefixed names.

mod cbuild;

use std::collections::BTreeSet;
use std::process::Command;

/// The functions libnpipe.so defines and exports.
fn exported() -> BTreeSet<String> {
    let so = cbuild::lib_dir().join("libnpipe.so");
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(&so)
        .output()
        .expect("run nm (binutils)");
    assert!(out.status.success(), "nm failed on {}", so.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_addr, kind, name) = (f.next()?, f.next()?, f.next()?);
            (kind == "T").then(|| name.to_string())
        })
        .collect()
}

fn header(name: &str) -> String {
    std::fs::read_to_string(cbuild::crate_dir().join("include").join(name)).expect("read header")
}

/// Functions a header declares or defines: identifiers followed by `(` outside comments and
/// preprocessor lines, of the names libnpipe may export (`npipe_`, `ipc_`, `pipe_exists`), and
/// the Win32 names declared unprefixed (`WINAPI Name(`).
fn declared(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.starts_with('#') || line.starts_with('*') || line.starts_with("/*") {
            continue;
        }
        for (i, _) in line.match_indices('(') {
            let head = &line[..i];
            let start = head
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(0, |p| p + 1);
            let name = &head[start..];
            let win32 = head[..start].trim_end().ends_with("WINAPI");
            if win32
                || ["npipe_", "ipc_", "pipe_exists"]
                    .iter()
                    .any(|p| name.starts_with(p))
            {
                out.insert(name.to_string());
            }
        }
    }
    out
}

/// `#define <name> npipe_<name>` lines of win32.h: the Win32 names.
fn win32_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            (f.next()? == "#define").then_some(())?;
            let (name, target) = (f.next()?, f.next()?);
            (f.next().is_none() && target == format!("npipe_{name}")).then(|| name.to_string())
        })
        .collect()
}

#[test]
fn every_win32_function_has_its_prefixed_symbol_and_declaration() {
    let syms = exported();
    let win32 = header("npipe/win32.h");
    let names = win32_names(&win32);
    // Every header that declares libnpipe functions.
    let decls: BTreeSet<String> = ["npipe/win32.h", "aclapi.h", "sddl.h"]
        .iter()
        .flat_map(|h| declared(&header(h)))
        .collect();
    assert!(
        names.len() > 80,
        "only {} Win32 names in win32.h",
        names.len()
    );
    for name in &names {
        let prefixed = format!("npipe_{name}");
        assert!(syms.contains(&prefixed), "{prefixed} is not exported");
        assert!(decls.contains(&prefixed), "{prefixed} is not declared");
        assert!(!decls.contains(name), "{name} is declared unprefixed");
        assert_eq!(
            syms.contains(name),
            !cfg!(feature = "prefixed"),
            "plain {name} exported: {}",
            syms.contains(name)
        );
    }
    // Nothing else: the npipe_ extensions and ipc.h are declared, every plain name is a Win32
    // name with its prefixed twin.
    let ipc = declared(&header("ipc.h"));
    for sym in &syms {
        let ok = if let Some(rest) = sym.strip_prefix("npipe_") {
            decls.contains(sym) || names.contains(rest) || ipc.contains(sym)
        } else {
            names.contains(sym) || ipc.contains(sym)
        };
        assert!(ok, "{sym} is exported but no header declares it");
    }
}

#[test]
fn header_version_is_the_crate_version() {
    let win32 = header("npipe/win32.h");
    let get = |key: &str| -> String {
        win32
            .lines()
            .find_map(|l| l.strip_prefix(&format!("#define {key} ")))
            .unwrap_or_else(|| panic!("{key} not in win32.h"))
            .trim()
            .trim_matches('"')
            .to_string()
    };
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(get("NPIPE_VERSION"), version);
    let parts: Vec<&str> = version.split('.').collect();
    assert_eq!(get("NPIPE_VERSION_MAJOR"), parts[0]);
    assert_eq!(get("NPIPE_VERSION_MINOR"), parts[1]);
    assert_eq!(get("NPIPE_VERSION_PATCH"), parts[2]);
}

#[test]
fn prefixed_names_coexist_with_another_win32_layer() {
    cbuild::run_checks(
        "no_win32_names.c",
        "no-win32-names",
        &[],
        "the NPIPE_NO_WIN32_NAMES program",
    );
}
