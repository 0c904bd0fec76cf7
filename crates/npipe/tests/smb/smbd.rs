//! The private loopback smbd the SMB tests run against (`tools/smbd-test-server`), shared by
//! the serving tests (`crates/npipe/tests/smb_serve.rs`) and the remote-pipe client tests
//! (`crates/npipe-smb/tests`, `smb_remote.rs`, `smb_remote_c.rs`), which include this file by
//! path.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (tests run in their crate's directory, two levels below it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Why the Samba tests cannot run here (no root, no smbd, or, when `impacket` is asked for, no
/// `/usr/bin/python3` with impacket), or `None`. Under `CI=true` a missing piece is a failure,
/// never a skip.
pub fn skip_reason(impacket: bool) -> Option<String> {
    let ok = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let why = if !root {
        "the Samba tests need root (smbd and Samba's np/ directory)"
    } else if !ok("sh", &["-c", "command -v smbd"]) {
        "smbd is not installed (apt-get install samba)"
    } else if impacket && !ok("/usr/bin/python3", &["-c", "import impacket"]) {
        "/usr/bin/python3 with impacket is not installed (apt-get install python3-impacket)"
    } else {
        return None;
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true and {why}: the SMB tests must run in CI");
    }
    Some(why.to_string())
}

/// A running private smbd on 127.0.0.1:`port`; stopped on drop.
pub struct Smbd {
    /// The server's own directory (configuration, state, logs); removed on drop.
    pub dir: PathBuf,
    pub port: u16,
    /// Where pipe servers bind for this smbd (`<ncalrpc dir>/np`).
    pub np_dir: PathBuf,
    pub user: String,
    pub password: String,
    /// The Unix uid of `user`.
    pub uid: u32,
}

impl Smbd {
    /// Starts smbd on 127.0.0.1:`port` with extra `[global]` lines (check [`skip_reason`]
    /// first).
    pub fn start(port: u16, conf: &[&str]) -> Smbd {
        let dir = std::env::temp_dir().join(format!("npipe-smbd-{port}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let out = Command::new(workspace_root().join("tools/smbd-test-server"))
            .arg("start")
            .arg(&dir)
            .arg(port.to_string())
            .args(conf)
            .output()
            .expect("run tools/smbd-test-server");
        assert!(
            out.status.success(),
            "smbd-test-server start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .unwrap_or_else(|| panic!("no {k} in {text}"))
                .to_string()
        };
        Smbd {
            port,
            np_dir: PathBuf::from(get("SMB_NP_DIR")),
            user: get("SMB_USER"),
            password: get("SMB_PASSWORD"),
            uid: get("SMB_UID").parse().expect("SMB_UID"),
            dir,
        }
    }

    /// The server name with its port, as npipe's SMB client takes it: `127.0.0.1@port`.
    pub fn server(&self) -> String {
        format!("127.0.0.1@{}", self.port)
    }
}

impl Drop for Smbd {
    fn drop(&mut self) {
        let _ = Command::new(workspace_root().join("tools/smbd-test-server"))
            .arg("stop")
            .arg(&self.dir)
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
