//! The `npipe` command line, run as a program: help and version succeed on stdout, bad input
//! fails with status 2 and names the valid choices, and a one-repeat bench emits its JSON.
//! The pipe commands (serve, cat, call, list, ...) are in `commands.rs`. No test asserts a
//! timing.

use std::process::{Command, Output};

fn npipe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_npipe"))
        .args(args)
        .output()
        .expect("run npipe")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `npipe bench --quick --json --repeats 1` of these scenarios and transports, checked to
/// have succeeded.
fn bench_json(scenarios: &str, only: &str) -> Output {
    let o = npipe(&[
        "bench",
        "--quick",
        "--json",
        "--repeats",
        "1",
        "--scenario",
        scenarios,
        "--only",
        only,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    o
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The JSON row of scenario `sc` and transport `t` in a bench's output.
fn json_row(out: &str, sc: &str, t: &str) -> String {
    out.lines()
        .find(|l| {
            l.contains(&format!("\"scenario\": \"{sc}\""))
                && l.contains(&format!("\"transport\": \"{t}\""))
        })
        .unwrap_or_else(|| panic!("no {sc}/{t} row in:\n{out}"))
        .to_owned()
}

#[test]
fn cli_help_prints_to_stdout_and_succeeds() {
    let o = npipe(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("bench"), "{}", stdout(&o));
    assert!(
        !stdout(&o).contains("__bench-peer"),
        "internal peers stay hidden"
    );
}

#[test]
fn cli_bench_help_lists_options_and_does_not_run() {
    let o = npipe(&["bench", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    for opt in [
        "--quick",
        "--json",
        "--faults",
        "--only",
        "--scenario",
        "--repeats",
    ] {
        assert!(out.contains(opt), "{opt} missing from:\n{out}");
    }
    assert!(!out.contains("measurements in") && !stderr(&o).contains("cells,"));
}

#[test]
fn cli_version() {
    let o = npipe(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with("npipe "), "{}", stdout(&o));
}

#[test]
fn cli_unknown_subcommand_and_flag_exit_2() {
    for args in [
        &["frobnicate"][..],
        &["bench", "--frob"],
        &["demo", "extra"],
    ] {
        let o = npipe(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains("error:"), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn cli_unknown_transport_names_the_valid_ones() {
    let o = npipe(&["bench", "--only", "npipe,nope"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("nope") && err.contains("npipe-64k") && err.contains("ipc-channel"));
}

#[test]
fn cli_unknown_scenario_names_the_valid_ones() {
    let o = npipe(&["bench", "--scenario", "rtt64,warp"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("warp") && err.contains("rate64") && err.contains("connect"));
}

#[test]
fn cli_bad_repeats_and_faults_combinations_exit_2() {
    for args in [
        &["bench", "--repeats", "0"][..],
        &["bench", "--repeats", "x"],
        &["bench", "--faults", "--json"],
    ] {
        assert_eq!(npipe(args).status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn cli_internal_peer_rejects_bad_arguments() {
    let o = npipe(&["__bench-peer", "nope", "echo", "64", "1"]);
    assert_eq!(o.status.code(), Some(2));
}

/// cpu64: both ends on one thread, for the transports that have an in-process pair, with
/// the C ABI's goal against the Rust API; a transport without one (interprocess) is left out.
#[test]
fn cli_bench_cpu64_rows_and_goal() {
    let out = stdout(&bench_json(
        "cpu64",
        "npipe-64k,npipe-capi,pipe,interprocess",
    ));
    for t in ["npipe-64k", "npipe-capi", "pipe", "seqpacket"] {
        let row = out
            .lines()
            .find(|l| l.contains(&format!("\"transport\": \"{t}\"")))
            .unwrap_or_else(|| panic!("no {t} row in:\n{out}"));
        assert!(
            row.contains("\"unit\": \"ns/msg\"") && row.contains("\"error\": null"),
            "{row}"
        );
    }
    assert!(!out.contains("\"transport\": \"interprocess\""), "{out}");
    assert!(
        out.contains("\"goal\": \"C ABI / Rust API, 64 B write then read"),
        "{out}"
    );
}

#[test]
fn cli_bench_json_one_repeat() {
    let o = bench_json("rtt64,rate64", "npipe-64k");
    let out = stdout(&o);
    for field in [
        "\"transport\": \"ping-pong\"",
        "\"transport\": \"spsc-ring\"",
        "\"transport\": \"npipe-64k\"",
        "\"transport\": \"seqpacket\"",
        "\"ratio_floor\"",
        "\"ratio_floor_cells\"",
        "\"p99_us\"",
        "\"goals\"",
    ] {
        assert!(out.contains(field), "{field} missing from:\n{out}");
    }
    assert!(!out.contains("npipe-4k"), "--only selects rows");
    assert!(!stderr(&o).contains('\r'), "no progress frames in a log");
    // The npipe rows' ratios to the floor: paired per repeat, and cell over cell.
    for sc in ["rtt64", "rate64"] {
        let row = json_row(&out, sc, "npipe-64k");
        for field in ["ratio_floor", "ratio_floor_cells"] {
            assert!(!row.contains(&format!("\"{field}\": null")), "{row}");
        }
        assert!(row.contains("\"floor_paired\": true"), "{row}");
    }
    let rtt = json_row(&out, "rtt64", "npipe-64k");
    assert!(!rtt.contains("\"max_us\": null"), "{rtt}");
}

/// The 512 B quota row (Microsoft's samples' buffer size): 64 B messages and 4 KiB ones, each
/// of the latter eight quotas, go through it and give a figure.
#[test]
fn cli_bench_512_byte_quota_row() {
    let out = stdout(&bench_json("rate64,throughput_4096", "npipe-512"));
    for sc in ["rate64", "throughput_4096"] {
        let row = json_row(&out, sc, "npipe-512");
        assert!(row.contains("\"error\": null"), "{row}");
        assert!(!row.contains("\"value\": null"), "{row}");
    }
    assert!(!out.contains("\"transport\": \"npipe-4k\""), "{out}");
}

/// The ring floors run in the scenarios they belong to, and every npipe row of those scenarios
/// gets its ratio to the W91 ring copy (throughput), to the bare rings (round trip) or to the
/// SPSC ring with a lock per side (rate).
#[test]
fn cli_bench_ring_floors_and_ratios() {
    let out = stdout(&bench_json("rtt64,throughput_65536,rate64", "npipe-64k"));
    let row = |sc: &str, t: &str| json_row(&out, sc, t);
    // The locked ring's ratio to the bare ring is paired per repeat.
    let locked = row("rate64", "spsc-locked");
    assert!(locked.contains("\"floor_paired\": true"), "{locked}");
    for (sc, t) in [
        ("rate64", "spsc-locked"),
        ("rtt64", "ring-rtt"),
        ("throughput_65536", "ring-copy"),
        ("throughput_65536", "ring-copy-w91"),
    ] {
        let r = row(sc, t);
        assert!(r.contains("\"error\": null"), "{r}");
        assert!(!r.contains("\"value\": null"), "{r}");
    }
    let rtt = row("rtt64", "npipe-64k");
    assert!(rtt.contains("\"ring_floor\": \"ring-rtt\""), "{rtt}");
    let tp = row("throughput_65536", "npipe-64k");
    assert!(tp.contains("\"ring_floor\": \"ring-copy-w91\""), "{tp}");
    let rate = row("rate64", "npipe-64k");
    assert!(rate.contains("\"ring_floor\": \"spsc-locked\""), "{rate}");
    for r in [rtt, tp, rate] {
        assert!(!r.contains("\"ratio_ring\": null"), "{r}");
        // Paired: the ring floor's repeat next to the row's own ran and gave a value.
        assert!(r.contains("\"ring_paired\": true"), "{r}");
    }
    // Each ring floor runs only in the scenarios it belongs to.
    assert!(
        !out.lines()
            .any(|l| l.contains("\"scenario\": \"rtt64\"")
                && l.contains("\"transport\": \"ring-copy")),
        "{out}"
    );
    assert!(
        !out.lines()
            .any(|l| l.contains("\"scenario\": \"throughput_65536\"")
                && l.contains("\"transport\": \"ring-rtt\"")),
        "{out}"
    );
    assert!(
        !out.lines().any(|l| !l.contains("\"scenario\": \"rate64\"")
            && l.contains("\"transport\": \"spsc-locked\"")),
        "{out}"
    );
}

#[test]
fn cli_help_has_every_command_and_examples() {
    let out = stdout(&npipe(&["--help"]));
    for cmd in [
        "list",
        "serve",
        "call",
        "send",
        "cat",
        "wait",
        "mailslot",
        "bench",
        "demo",
        "completions",
    ] {
        assert!(out.contains(&format!("  {cmd} ")), "{cmd} missing:\n{out}");
    }
    assert!(out.contains("Examples:") && out.contains("Exit status"));
    for cmd in [
        &["list"][..],
        &["serve"],
        &["call"],
        &["send"],
        &["cat"],
        &["wait"],
        &["mailslot", "create"],
        &["mailslot", "send"],
        &["bench"],
        &["demo"],
        &["completions"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let o = npipe(&args);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        let out = stdout(&o);
        assert!(out.contains("Example"), "{args:?} has no example:\n{out}");
        assert!(
            out.contains(&format!("npipe {}", cmd.join(" "))),
            "{args:?}:\n{out}"
        );
    }
}

#[test]
fn cli_completions_for_each_shell() {
    for (shell, mark) in [
        ("bash", "_npipe"),
        ("zsh", "#compdef npipe"),
        ("fish", "complete -c npipe"),
    ] {
        let o = npipe(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}");
        let out = stdout(&o);
        assert!(
            out.contains(mark) && out.contains("serve"),
            "{shell}:\n{out}"
        );
        // The internal subcommands (the demo's child, the benchmark's peers) are not offered.
        for internal in ["demo-client", "bench-peer", "fault-peer"] {
            assert!(!out.contains(internal), "{shell} offers {internal}:\n{out}");
        }
    }
    let o = npipe(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("tcsh") && stderr(&o).contains("bash"));
}

#[test]
fn cli_bad_flags_and_values_exit_2_and_say_which() {
    for (args, names) in [
        (&["serve", "x", "--echo", "--frob"][..], "--frob"),
        (&["serve", "x", "--echo", "--instances", "0"], "--instances"),
        (&["serve", "x", "--echo", "--instances", "many"], "many"),
        (&["serve", "x"], "--echo"),
        (&["serve", "x", "--echo", "--exec", "cat"], "--exec"),
        (&["serve", "x", "--echo", "--message"], "--exec"),
        (&["call", "x"], "MESSAGE"),
        (&["wait", "x", "--timeout", "-1"], "-1"),
        (&["wait", "x", "--timeout", "soon"], "soon"),
        (&["mailslot", "frob"], "frob"),
        (&["list", "extra"], "extra"),
    ] {
        let o = npipe(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(names), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn cli_missing_pipe_is_one_line_with_the_windows_code() {
    let ns = format!("npipe-cli-missing-{}", std::process::id());
    for args in [
        &["call", "nope", "x"][..],
        &["send", "nope", "x"],
        &["cat", "nope"],
        &["wait", "nope"],
        &["wait", "nope", "--timeout", "0"],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_npipe"))
            .args(args)
            .env("NPIPE_NAMESPACE", &ns)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(3), "{args:?}");
        assert_eq!(
            stderr(&o),
            "npipe: \\\\.\\pipe\\nope: not found (ERROR_FILE_NOT_FOUND)\n",
            "{args:?}"
        );
        assert!(o.stdout.is_empty());
    }
    let o = npipe(&["mailslot", "send", "nope-box", "x"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).starts_with("npipe: \\\\.\\mailslot\\nope-box: not found"));
}

#[test]
fn cli_bad_names_exit_2() {
    let long = "x".repeat(300);
    let o = npipe(&["call", &long, "m"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).ends_with(": name too long (ERROR_FILENAME_EXCED_RANGE)\n"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stderr(&o).lines().count(), 1);
    for args in [
        &["wait", r"\\.\mailslot\x"][..],
        &["serve", r"\\.\pipe\", "--echo"],
        &["mailslot", "create", r"\\.\pipe\x"],
        &["cat", r"\\server\pipe\x"],
    ] {
        let o = npipe(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&o).contains("(ERROR_INVALID_NAME)"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn cli_wine_bridge_says_what_is_missing() {
    // One direction, exactly.
    for args in [
        &["wine-bridge"][..],
        &["wine-bridge", "--export", "a", "--import", "b"],
    ] {
        assert_eq!(npipe(args).status.code(), Some(2), "{args:?}");
    }
    // A bridge that is not there (or no wine on this machine): status 1, one line saying which.
    let o = npipe(&[
        "wine-bridge",
        "--export",
        "x",
        "--bridge",
        "/nonexistent/npipe-wine-bridge.exe",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("npipe: wine-bridge: ")
            && (err.contains("no bridge at /nonexistent") || err.contains("`wine` is not on PATH")),
        "{err}"
    );
}
