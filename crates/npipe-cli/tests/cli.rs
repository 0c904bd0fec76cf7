//! The `npipe` command line, run as a program: help and version succeed on stdout, bad input
//! fails with status 2 and names the valid choices, and a one-repeat bench emits its JSON.
//! No test asserts a timing.

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

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
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

#[test]
fn cli_bench_json_one_repeat() {
    let o = npipe(&[
        "bench",
        "--quick",
        "--json",
        "--repeats",
        "1",
        "--scenario",
        "rtt64,rate64",
        "--only",
        "npipe-64k",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    for field in [
        "\"transport\": \"ping-pong\"",
        "\"transport\": \"spsc-ring\"",
        "\"transport\": \"npipe-64k\"",
        "\"transport\": \"seqpacket\"",
        "\"ratio_floor\"",
        "\"p99_us\"",
        "\"goals\"",
    ] {
        assert!(out.contains(field), "{field} missing from:\n{out}");
    }
    assert!(!out.contains("npipe-4k"), "--only selects rows");
}
