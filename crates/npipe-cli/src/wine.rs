//! `npipe wine-bridge`: runs npipe-wine-bridge, the winelib program of tools/wine-bridge that
//! joins Wine's named pipes and npipe's. This module only finds what it needs (the bridge, the
//! Wine prefix, `wine` on PATH), says clearly what is missing, and then replaces this process
//! with `wine npipe-wine-bridge.exe --export|--import NAME` in that prefix.

use std::env;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::{ArgGroup, Args};

use crate::fail::{full_name, Failure, Kind, Outcome};

/// The bridge's file name, as winegcc writes it (a launcher script next to the `.exe.so`).
const BRIDGE: &str = "npipe-wine-bridge.exe";

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("direction").required(true).args(["export", "import"])))]
pub(crate) struct WineBridgeArgs {
    /// Make the npipe server NAME reachable as \\.\pipe\NAME by Wine programs.
    #[arg(long, value_name = "NAME")]
    export: Option<String>,
    /// Make the Wine server NAME reachable as \\.\pipe\NAME by npipe clients.
    #[arg(long, value_name = "NAME")]
    import: Option<String>,
    /// The Wine prefix of the Windows programs [default: $WINEPREFIX, else ~/.wine].
    #[arg(long, value_name = "DIR")]
    prefix: Option<PathBuf>,
    /// The bridge [default: $NPIPE_WINE_BRIDGE, else npipe-wine-bridge.exe next to this
    /// program, else ../wine-bridge/ from it (the build tree's target/wine-bridge)].
    #[arg(long, value_name = "PATH")]
    bridge: Option<PathBuf>,
    /// Print each connection's end on stderr.
    #[arg(long)]
    verbose: bool,
}

fn missing(what: String) -> Failure {
    Failure::new("wine-bridge", io::Error::other(what))
}

/// The bridge: the flag, the variable, or the first candidate near this program.
fn find_bridge(flag: Option<&Path>) -> Result<PathBuf, Failure> {
    let usable = |p: &Path| p.is_file() && p.with_extension("exe.so").is_file();
    if let Some(p) = flag
        .map(Path::to_path_buf)
        .or_else(|| env::var_os("NPIPE_WINE_BRIDGE").map(PathBuf::from))
    {
        return if usable(&p) {
            Ok(p)
        } else {
            Err(missing(format!(
                "no bridge at {} (it needs {} and {}.so, built by `make -C tools/wine-bridge`)",
                p.display(),
                BRIDGE,
                BRIDGE
            )))
        };
    }
    let exe = env::current_exe().map_err(|e| Failure::new("wine-bridge", e))?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    let candidates = [dir.join(BRIDGE), dir.join("../wine-bridge").join(BRIDGE)];
    candidates
        .iter()
        .find(|p| usable(p))
        .cloned()
        .ok_or_else(|| {
            missing(format!(
                "npipe-wine-bridge not found (looked in {} and {}); build it with \
             `make -C tools/wine-bridge` (needs winegcc: Debian's wine64-tools), or give \
             --bridge PATH or NPIPE_WINE_BRIDGE",
                candidates[0].display(),
                candidates[1].display()
            ))
        })
}

/// The Wine prefix: the flag, $WINEPREFIX, or ~/.wine; it must exist (the bridge has to run
/// in the prefix of the Windows programs, and Wine would silently create a new one). A prefix
/// is recognised by its drive_c (system.reg appears only once wineserver has saved it).
fn find_prefix(flag: Option<&Path>) -> Result<PathBuf, Failure> {
    let p = flag
        .map(Path::to_path_buf)
        .or_else(|| env::var_os("WINEPREFIX").map(PathBuf::from))
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".wine")))
        .ok_or_else(|| missing("no Wine prefix: give --prefix DIR or set WINEPREFIX".into()))?;
    if p.join("drive_c").is_dir() {
        Ok(p)
    } else {
        Err(missing(format!(
            "{} is not a Wine prefix (no drive_c): give the prefix of the Windows programs \
             with --prefix DIR or WINEPREFIX",
            p.display()
        )))
    }
}

/// `wine` on PATH.
fn find_wine() -> Result<PathBuf, Failure> {
    env::var_os("PATH")
        .iter()
        .flat_map(env::split_paths)
        .map(|d| d.join("wine"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            missing("`wine` is not on PATH (Debian: apt-get install wine wine64)".into())
        })
}

pub(crate) fn run(a: &WineBridgeArgs) -> Outcome {
    let (flag, name) = match (&a.export, &a.import) {
        (Some(n), _) => ("--export", n),
        (None, Some(n)) => ("--import", n),
        (None, None) => unreachable!("clap requires one of them"),
    };
    let full = full_name(name, Kind::Pipe)?;
    // The bridge takes \\.\pipe\REST with backslashes, as Win32 spells it.
    let rest = full.splitn(5, ['\\', '/']).nth(4).unwrap_or_default();
    let path = format!(r"\\.\pipe\{rest}");
    let wine = find_wine()?;
    let bridge = find_bridge(a.bridge.as_deref())?;
    let prefix = find_prefix(a.prefix.as_deref())?;
    let mut cmd = Command::new(wine);
    cmd.arg(&bridge)
        .arg(flag)
        .arg(&path)
        .env("WINEPREFIX", &prefix);
    if a.verbose {
        cmd.arg("--verbose");
    }
    if env::var_os("WINEDEBUG").is_none() {
        cmd.env("WINEDEBUG", "-all");
    }
    // Only returns on failure; the bridge's exit status becomes ours.
    Err(Failure::new("wine-bridge: wine", cmd.exec()))
}
