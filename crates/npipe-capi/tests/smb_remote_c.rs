//! The C ABI on remote pipes: tests/c/smb_remote.c against a private loopback smbd with a test
//! NPA responder (port 14487). Needs the `smb` feature (`cargo test -p npipe-capi --features
//! smb --test smb_remote_c`); without it, this checks that the WNet calls and remote names fail with
//! ERROR_NOT_SUPPORTED.

mod cbuild;

#[cfg(feature = "smb")]
#[path = "../../npipe-smb/tests/util/mod.rs"]
mod util;

#[cfg(feature = "smb")]
#[test]
fn remote_pipe_through_the_win32_abi() {
    need_samba!();
    let smbd = util::Smbd::start(14487, &[]);
    let _r = util::Responder::start(&smbd.np_dir, "cabi");
    let prog = cbuild::compile_c("smb_remote.c", "smb-remote", &["-Wextra"]);
    let out = std::process::Command::new(&prog)
        .env("LD_LIBRARY_PATH", cbuild::lib_dir())
        .args([smbd.server().as_str(), "cabi", &smbd.user, &smbd.password])
        .output()
        .expect("run smb_remote");
    let _ = std::fs::remove_file(&prog);
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    assert!(out.status.success(), "smb_remote.c failed:\n{text}");
    assert!(text.contains(" passed, 0 failed"), "{text}");
}

#[cfg(not(feature = "smb"))]
#[test]
fn without_the_feature_remote_calls_are_not_supported() {
    let prog = cbuild::compile_c("smb_remote.c", "smb-absent", &["-Wextra"]);
    let out = std::process::Command::new(&prog)
        .env("LD_LIBRARY_PATH", cbuild::lib_dir())
        .arg("absent")
        .output()
        .expect("run smb_remote absent");
    let _ = std::fs::remove_file(&prog);
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    assert!(out.status.success(), "smb_remote.c absent failed:\n{text}");
    assert!(text.contains(" passed, 0 failed"), "{text}");
}
