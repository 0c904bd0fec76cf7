//! SMB clients reach npipe servers through Samba: a private loopback smbd
//! (`tools/smbd-test-server`), an npipe server of this test process exposed with
//! `SmbExposure`, and impacket (`tests/smb/impacket_client.py`, run by /usr/bin/python3) as the
//! independent SMB client. Needs root, smbd and python3-impacket: without them each test skips
//! with a printed reason, except under CI=true, where it fails.
//!
//! The socket-file tests (stale, live, removal, names) and the hostile-handshake tests need
//! no Samba.

#[macro_use]
mod util;
#[path = "smb/npa_request.rs"]
mod npa_request;

use npa_request::npa_request;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;

use npipe::error::code::*;
use npipe::{
    win32_code, AccessPolicy, ClientOptions, NamedPipeServer, PipeMode, ServerOptions, SmbExposure,
    Trustee,
};

#[path = "smb/smbd.rs"]
mod smbd;
use smbd::{workspace_root, Smbd};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A private smbd on 127.0.0.1:`port`, or `None` (printed) when this machine cannot run one
/// with impacket beside it; under CI=true that is a failure instead.
fn start_smbd(port: u16, conf: &[&str]) -> Option<Smbd> {
    if let Some(why) = smbd::skip_reason(true) {
        eprintln!("skipping: {why}");
        return None;
    }
    Some(Smbd::start(port, conf))
}

/// Runs impacket against `pipe` (the part after `\\.\pipe\`) as the test user (or
/// anonymously) and returns one map per result line.
fn impacket(smbd: &Smbd, pipe: &str, anonymous: bool, ops: &str) -> Vec<HashMap<String, String>> {
    let (user, pw) = if anonymous {
        ("", "")
    } else {
        (smbd.user.as_str(), smbd.password.as_str())
    };
    let cfg = format!(
        r#"{{"port": {}, "user": "{user}", "password": "{pw}", "pipe": "{pipe}", "ops": {ops}}}"#,
        smbd.port
    );
    let mut child = Command::new("/usr/bin/python3")
        .arg(workspace_root().join("crates/npipe/tests/smb/impacket_client.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run impacket");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(cfg.as_bytes())
        .unwrap();
    let out = child.wait_with_output().expect("run impacket");
    eprintln!("impacket stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "impacket client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            l.split(' ')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// A pipe name and its SMB name (the part after `\\.\pipe\`).
fn names(tag: &str) -> (String, String) {
    let name = util::unique_name(tag);
    let smb = name[9..].to_owned();
    (name, smb)
}

/// What the echo server saw, in order: "connected", "eof <code>", "disconnected".
type Events = mpsc::Receiver<String>;

/// The echo server's next event, waited for at most 60 s (its thread keeps the channel open,
/// so a plain `recv` would wait for ever for an event that never comes).
#[track_caller]
fn next(events: &Events) -> String {
    events
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the echo server saw nothing within 60 s")
}

/// An echo server on `name`: each connected instance is served on its own thread, and a new
/// instance is made for the next client. Commands: `multi:N` (N messages m0..), `big:N`
/// (one N-byte message), `who` (the remote client), `imp:PATH` (create PATH as the client),
/// `bye` (disconnect); messages over 1000 bytes are answered with `len:N`; anything else with
/// `echo:` + the message.
fn echo_server(name: &str, opts: ServerOptions) -> Events {
    let (tx, rx) = mpsc::channel();
    let mut server = opts.create(name).unwrap();
    let name = name.to_owned();
    thread::spawn(move || loop {
        if server.connect().is_err() {
            return;
        }
        let next = opts.create(&name).unwrap();
        let connected = std::mem::replace(&mut server, next);
        let tx = tx.clone();
        thread::spawn(move || serve_one(&connected, &tx));
    });
    rx
}

fn serve_one(s: &NamedPipeServer, tx: &mpsc::Sender<String>) {
    let _ = tx.send("connected".into());
    let mut buf = vec![0u8; 70000];
    loop {
        let m = match s.recv_msg(&mut buf) {
            Ok(m) => m,
            Err(e) => {
                let _ = tx.send(format!("eof {}", win32_code(&e)));
                return;
            }
        };
        let msg = &buf[..m.read];
        let text = String::from_utf8_lossy(msg).into_owned();
        let reply: Vec<Vec<u8>> = if let Some(n) = text.strip_prefix("multi:") {
            (0..n.parse().unwrap())
                .map(|i| format!("m{i}").into_bytes())
                .collect()
        } else if let Some(n) = text.strip_prefix("big:") {
            vec![vec![b'x'; n.parse().unwrap()]]
        } else if text == "who" {
            let r = s.remote_client().unwrap();
            let pid = s.client_process_id().map_err(|e| win32_code(&e));
            vec![match r {
                None => "local".to_string().into_bytes(),
                Some(r) => format!(
                    "uid={} gid={} account={} domain={} auth={} addr={} port={} pid={:?}",
                    r.uid,
                    r.gid,
                    r.account.replace(' ', "_"),
                    r.domain.replace(' ', "_"),
                    r.authenticated,
                    r.address.unwrap_or_default(),
                    r.port.is_some(),
                    pid
                )
                .into_bytes(),
            }]
        } else if let Some(path) = text.strip_prefix("imp:") {
            let r = s.as_client(|| std::fs::File::create(path).map(drop));
            vec![match r {
                Ok(Ok(())) => b"ok".to_vec(),
                Ok(Err(e)) => format!("create: {e}").into_bytes(),
                Err(e) => format!("impersonate: {}", win32_code(&e)).into_bytes(),
            }]
        } else if text == "bye" {
            let _ = s.disconnect();
            let _ = tx.send("disconnected".into());
            return;
        } else if msg.len() > 1000 {
            vec![format!("len:{}", msg.len()).into_bytes()]
        } else {
            let mut v = b"echo:".to_vec();
            v.extend_from_slice(msg);
            vec![v]
        };
        for r in reply {
            if s.send_msg(&r).is_err() {
                let _ = tx.send("send failed".into());
                return;
            }
        }
    }
}

fn message_opts() -> ServerOptions {
    let mut o = ServerOptions::new();
    // A generous default timeout: a relayed client waits that long for the echo server to
    // make its next instance (SMB has no PIPE_BUSY to retry on).
    o.pipe_mode(PipeMode::Message)
        .access_policy(AccessPolicy::everyone())
        .default_timeout(10_000);
    o
}

fn expose(smbd: &Smbd, name: &str) -> npipe::SmbListener {
    SmbExposure::new()
        .np_dir(&smbd.np_dir)
        .expose(name)
        .unwrap()
}

/// The data of result `i`, as text.
fn text(r: &[HashMap<String, String>], i: usize) -> String {
    let d = r[i]
        .get("data")
        .unwrap_or_else(|| panic!("result {i} has no data: {r:?}"));
    String::from_utf8(unhex(d)).unwrap()
}

fn status(r: &[HashMap<String, String>], i: usize) -> &str {
    r[i].get("status")
        .map(String::as_str)
        .unwrap_or_else(|| panic!("result {i} did not fail: {r:?}"))
}

/// Write/read, transact, boundaries both ways, partial reads, an overflowing transact, the
/// 65535-byte limit both ways and the 65536 refusal, as the test user.
/// Opens `smb` through smbd (anonymously or as the test user) and checks that the exposure
/// refused it before smbd's handshake was answered: the open itself fails
/// (STATUS_CONNECTION_DISCONNECTED), the listener's last error names `why`, and no client
/// reached the server.
fn assert_refused_at_open(
    smbd: &Smbd,
    smb: &str,
    anonymous: bool,
    l: &npipe::SmbListener,
    events: &Events,
    why: &str,
) {
    let r = impacket(
        smbd,
        smb,
        anonymous,
        &format!(r#"[["transact", "{}", 4096]]"#, hex(b"x")),
    );
    assert_eq!(
        r[0].get("open_status").map(String::as_str),
        Some("0xC000020C"),
        "{r:?}"
    );
    assert!(
        l.last_error().unwrap_or_default().contains(why),
        "{:?}",
        l.last_error()
    );
    assert!(
        events.try_recv().is_err(),
        "a refused SMB client reached the server"
    );
}

#[test]
fn echo_as_user() {
    let Some(smbd) = start_smbd(14460, &[]) else {
        return;
    };
    let (name, smb) = names("smb-echo");
    let _events = echo_server(&name, message_opts());
    let _l = expose(&smbd, &name);
    let big = hex(&vec![b'y'; 65535]);
    let too_big = hex(&vec![b'z'; 65536]);
    let ops = format!(
        r#"[["write", "{hello}"], ["read", 4096], ["transact", "{ping}", 4096],
            ["write", "61"], ["write", "6262"], ["write", "636363"],
            ["read", 4096], ["read", 4096], ["read", 4096],
            ["write", "{multi}"], ["read", 4096], ["read", 4096], ["read", 4096],
            ["write", "{partial}"], ["read", 4], ["read", 4096],
            ["transact", "{big5000}", 1024], ["read", 8192],
            ["write", "{big}"], ["read", 4096],
            ["write", "{b65535}"], ["read", 70000],
            ["write", "{too_big}"], ["transact", "{after}", 4096]]"#,
        hello = hex(b"hello"),
        ping = hex(b"ping"),
        multi = hex(b"multi:3"),
        partial = hex(b"partial"),
        big5000 = hex(b"big:5000"),
        b65535 = hex(b"big:65535"),
        after = hex(b"after"),
    );
    let r = impacket(&smbd, &smb, false, &ops);
    assert!(r[0].contains_key("dialect"), "{r:?}");
    assert_eq!(r[1]["n"], "5");
    assert_eq!(text(&r, 2), "echo:hello");
    assert_eq!(text(&r, 3), "echo:ping");
    assert_eq!(
        (text(&r, 7), text(&r, 8), text(&r, 9)),
        ("echo:a".into(), "echo:bb".into(), "echo:ccc".into())
    );
    assert_eq!(
        (text(&r, 11), text(&r, 12), text(&r, 13)),
        ("m0".into(), "m1".into(), "m2".into())
    );
    assert_eq!(
        (text(&r, 15), text(&r, 16)),
        ("echo".into(), ":partial".into())
    );
    // A 5000-byte reply to a transact with room for 1024: STATUS_BUFFER_OVERFLOW, and the
    // rest of the message stays for the next read.
    assert_eq!(
        r[17].get("overflow").map(String::as_str),
        Some("True"),
        "{:?}",
        &r[17]
    );
    assert_eq!(unhex(&r[18]["data"]).len(), 5000 - 1024);
    assert_eq!(text(&r, 20), "len:65535");
    assert_eq!(unhex(&r[22]["data"]), vec![b'x'; 65535]);
    // 65536 bytes cannot cross smbd (STATUS_PORT_MESSAGE_TOO_LONG); the pipe stays usable.
    assert_eq!(status(&r, 23), "0xC000002F");
    assert_eq!(text(&r, 24), "echo:after");
}

/// A byte-type pipe is relayed as raw bytes (smbd's byte mode, file_type 1), without frames.
#[test]
fn byte_pipe() {
    let Some(smbd) = start_smbd(14474, &[]) else {
        return;
    };
    let (name, smb) = names("smb-byte");
    let mut o = ServerOptions::new();
    o.pipe_mode(PipeMode::Byte)
        .access_policy(AccessPolicy::everyone())
        .default_timeout(10_000);
    let _events = echo_server(&name, o);
    let _l = expose(&smbd, &name);
    let r = impacket(
        &smbd,
        &smb,
        false,
        &format!(r#"[["write", "{}"], ["readn", 10]]"#, hex(b"hello")),
    );
    assert_eq!(text(&r, 2), "echo:hello", "{r:?}");
}

/// A null session is refused by default (Windows' RestrictNullSessAccess), even on a pipe open
/// to everyone; with `allow_anonymous` it arrives as ANONYMOUS LOGON (uid nobody).
#[test]
fn echo_anonymous() {
    let Some(smbd) = start_smbd(14461, &[]) else {
        return;
    };
    let (name, smb) = names("smb-anon");
    let events = echo_server(&name, message_opts());
    // Refused by default (Windows' RestrictNullSessAccess), before the open completes, even
    // though the pipe's policy grants Everyone.
    let mut l = expose(&smbd, &name);
    assert_refused_at_open(&smbd, &smb, true, &l, &events, "anonymous");
    l.stop();
    let _l = SmbExposure::new()
        .np_dir(&smbd.np_dir)
        .allow_anonymous(true)
        .expose(&name)
        .unwrap();
    let r = impacket(
        &smbd,
        &smb,
        true,
        &format!(r#"[["transact", "{}", 4096]]"#, hex(b"who")),
    );
    let who = text(&r, 1);
    assert!(who.contains("account=ANONYMOUS_LOGON"), "{who}");
    assert!(who.contains("auth=false"), "{who}");
}

/// The server sees the SMB user (uid, account, address), not the relay; impersonating it
/// creates a file owned by that uid; its process id is unknown (remote).
#[test]
fn identity_and_impersonation() {
    let Some(smbd) = start_smbd(14462, &[]) else {
        return;
    };
    let (name, smb) = names("smb-who");
    let _events = echo_server(&name, message_opts());
    let _l = expose(&smbd, &name);
    let dir = smbd.dir.join("imp");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let file = dir.join("made-by-client");
    let ops = format!(
        r#"[["transact", "{}", 4096], ["transact", "{}", 4096]]"#,
        hex(b"who"),
        hex(format!("imp:{}", file.display()).as_bytes())
    );
    let r = impacket(&smbd, &smb, false, &ops);
    let who = text(&r, 1);
    let uid = smbd.uid;
    assert!(who.starts_with(&format!("uid={uid} ")), "{who}");
    assert!(who.contains("account=npipe-smb"), "{who}");
    assert!(who.contains("auth=true"), "{who}");
    assert!(who.contains("addr=127.0.0.1"), "{who}");
    assert!(who.contains("port=true"), "{who}");
    assert!(
        who.contains(&format!("pid=Err({ERROR_NOT_FOUND})")),
        "{who}"
    );
    assert_eq!(text(&r, 2), "ok");
    assert_eq!(std::fs::metadata(&file).unwrap().uid(), uid);
}

/// An access policy that denies the SMB user's uid refuses its open (SMB cannot carry the
/// refusal: the open is closed and the client's next call fails), and the server never sees
/// that client; a local client still gets in.
#[test]
fn policy_denies_remote_uid() {
    let Some(smbd) = start_smbd(14463, &[]) else {
        return;
    };
    let (name, smb) = names("smb-deny");
    let mut o = message_opts();
    o.access_policy(
        AccessPolicy::nobody()
            .deny(Trustee::Uid(smbd.uid), npipe::Access::ALL)
            .allow(Trustee::Everyone, npipe::Access::ALL),
    );
    let events = echo_server(&name, o);
    let l = expose(&smbd, &name);
    assert_refused_at_open(&smbd, &smb, false, &l, &events, "refused");
    let mut c = ClientOptions::new().open(&name).unwrap();
    c.write_all(b"local").unwrap();
    let mut b = [0u8; 64];
    let n = c.read(&mut b).unwrap();
    assert_eq!(&b[..n], b"echo:local");
    assert_eq!(next(&events), "connected");
}

/// A policy that denies NETWORK (the SID every network logon carries) and allows Everyone
/// refuses SMB clients and only them, as on Windows; INTERACTIVE grants local clients only.
#[test]
fn policy_denies_network() {
    let Some(smbd) = start_smbd(14480, &[]) else {
        return;
    };
    for (tag, policy) in [
        (
            "smb-deny-nu",
            AccessPolicy::nobody()
                .deny(Trustee::Network, npipe::Access::ALL)
                .allow(Trustee::Everyone, npipe::Access::ALL),
        ),
        (
            "smb-iu-only",
            AccessPolicy::nobody().allow(Trustee::Local, npipe::Access::ALL),
        ),
    ] {
        let (name, smb) = names(tag);
        let mut o = message_opts();
        o.access_policy(policy);
        let events = echo_server(&name, o);
        let l = expose(&smbd, &name);
        assert_refused_at_open(&smbd, &smb, false, &l, &events, "refused");
        let c = ClientOptions::new().open(&name).unwrap();
        drop(c);
        assert_eq!(next(&events), "connected", "{tag}: a local client");
    }
}

/// PIPE_REJECT_REMOTE_CLIENTS refuses SMB clients and only them.
#[test]
fn reject_remote_clients() {
    let Some(smbd) = start_smbd(14464, &[]) else {
        return;
    };
    let (name, smb) = names("smb-reject");
    let mut o = message_opts();
    o.reject_remote_clients(true);
    let events = echo_server(&name, o);
    let l = expose(&smbd, &name);
    assert_refused_at_open(&smbd, &smb, false, &l, &events, "refused");
    let c = ClientOptions::new().open(&name).unwrap();
    drop(c);
    assert_eq!(next(&events), "connected");
}

/// Many SMB clients at once, each an instance of its own.
#[test]
fn many_concurrent_clients() {
    let Some(smbd) = start_smbd(14465, &[]) else {
        return;
    };
    let (name, smb) = names("smb-many");
    let _events = echo_server(&name, message_opts());
    let l = expose(&smbd, &name);
    let r = impacket(&smbd, &smb, false, r#"[["parallel", 16]]"#);
    assert_eq!(r[0]["ok"], "16", "{r:?} {:?}", l.last_error());
}

/// The SMB client's close is the server's EOF; the server's disconnect is the client's
/// STATUS_PIPE_DISCONNECTED.
#[test]
fn close_and_disconnect() {
    let Some(smbd) = start_smbd(14466, &[]) else {
        return;
    };
    let (name, smb) = names("smb-close");
    let events = echo_server(&name, message_opts());
    let _l = expose(&smbd, &name);
    let r = impacket(
        &smbd,
        &smb,
        false,
        &format!(r#"[["transact", "{}", 4096], ["close"]]"#, hex(b"hi")),
    );
    assert_eq!(text(&r, 1), "echo:hi");
    assert_eq!(next(&events), "connected");
    assert_eq!(next(&events), format!("eof {ERROR_BROKEN_PIPE}"));
    let r = impacket(
        &smbd,
        &smb,
        false,
        &format!(
            r#"[["write", "{}"], ["read", 4096], ["read", 4096]]"#,
            hex(b"bye")
        ),
    );
    assert_eq!(status(&r, 2), "0xC00000B0", "{r:?}");
    assert_eq!(status(&r, 3), "0xC00000B0", "{r:?}");
    assert_eq!(next(&events), "connected");
    assert_eq!(next(&events), "disconnected");
}

/// A message over 65535 bytes towards SMB closes that connection, with a recorded reason.
#[test]
fn oversized_message_closes_the_connection() {
    let Some(smbd) = start_smbd(14467, &[]) else {
        return;
    };
    let (name, smb) = names("smb-oversize");
    let _events = echo_server(&name, message_opts());
    let l = expose(&smbd, &name);
    let r = impacket(
        &smbd,
        &smb,
        false,
        &format!(r#"[["write", "{}"], ["read", 70000]]"#, hex(b"big:65536")),
    );
    assert_eq!(status(&r, 2), "0xC00000B0", "{r:?}");
    let e = l.last_error().unwrap();
    assert!(e.contains("65536 bytes"), "{e}");
}

fn one_echo(port: u16, conf: &[&str], dialect: Option<&str>) {
    let Some(smbd) = start_smbd(port, conf) else {
        return;
    };
    let (name, smb) = names("smb-conf");
    let _events = echo_server(&name, message_opts());
    let _l = expose(&smbd, &name);
    let r = impacket(
        &smbd,
        &smb,
        false,
        &format!(r#"[["transact", "{}", 4096]]"#, hex(b"c")),
    );
    if let Some(d) = dialect {
        assert_eq!(r[0]["dialect"], d, "{r:?}");
    }
    assert_eq!(text(&r, 1), "echo:c");
}

#[test]
fn signing_mandatory() {
    one_echo(14468, &["server signing = mandatory"], None);
}

#[test]
fn dialect_smb2_02() {
    one_echo(14469, &["server max protocol = SMB2_02"], Some("0x0202"));
}

#[test]
fn dialect_smb2_10() {
    one_echo(14470, &["server max protocol = SMB2_10"], Some("0x0210"));
}

#[test]
fn dialect_smb3_00() {
    one_echo(14471, &["server max protocol = SMB3_00"], Some("0x0300"));
}

/// impacket 0.10 offers 2.0.2, 2.1 and 3.0 only: under a 3.0.2 maximum it negotiates 3.0.
#[test]
fn dialect_smb3_02_maximum() {
    one_echo(14472, &["server max protocol = SMB3_02"], Some("0x0300"));
}

#[test]
fn dialect_smb3_11_signing_mandatory() {
    one_echo(
        14473,
        &[
            "server max protocol = SMB3_11",
            "server signing = mandatory",
        ],
        None,
    );
}

// --- No Samba needed below: the socket file and the handshake, with this test as smbd. ---

fn temp_np(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("npipe-np-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The np directory is made 0700 when missing; a stale socket file is replaced, a live one is
/// never taken over, and the socket goes away on stop.
#[test]
fn socket_file_lifecycle() {
    let np = temp_np("life");
    let (name, leaf) = names("smb-Life");
    let leaf = leaf.to_lowercase();
    let _server = message_opts().create(&name).unwrap();
    let mut l = SmbExposure::new().np_dir(&np).expose(&name).unwrap();
    assert_eq!(l.socket_path(), np.join(&leaf));
    assert_eq!(std::fs::metadata(&np).unwrap().mode() & 0o777, 0o700);
    // Live: a second exposure does not take it over.
    let e = SmbExposure::new().np_dir(&np).expose(&name).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_ACCESS_DENIED);
    assert!(UnixStream::connect(np.join(&leaf)).is_ok());
    l.stop();
    assert!(!np.join(&leaf).exists());
    // Stale: a socket file nobody listens on is replaced.
    drop(UnixListener::bind(np.join(&leaf)).unwrap());
    assert!(np.join(&leaf).exists());
    let l = SmbExposure::new().np_dir(&np).expose(&name).unwrap();
    assert!(UnixStream::connect(np.join(&leaf)).is_ok());
    drop(l);
    assert!(!np.join(&leaf).exists());
    // Someone else's live listener is left alone, even after a failed exposure.
    let other = UnixListener::bind(np.join(&leaf)).unwrap();
    let e = SmbExposure::new().np_dir(&np).expose(&name).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_ACCESS_DENIED);
    assert!(np.join(&leaf).exists());
    drop(other);
    // A file that is not a socket is never removed.
    std::fs::remove_file(np.join(&leaf)).unwrap();
    std::fs::write(np.join(&leaf), b"keep").unwrap();
    let e = SmbExposure::new().np_dir(&np).expose(&name).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_ACCESS_DENIED);
    assert_eq!(std::fs::read(np.join(&leaf)).unwrap(), b"keep");
    let _ = std::fs::remove_dir_all(&np);
}

#[test]
fn refused_names() {
    let np = temp_np("names");
    for (n, code) in [
        (r"\\.\pipe\LSARPC", ERROR_INVALID_NAME),
        (r"\\.\pipe\srvsvc", ERROR_INVALID_NAME),
        (r"\\.\pipe\a..b", ERROR_INVALID_NAME),
    ] {
        let _s = message_opts().create(n).ok();
        let e = SmbExposure::new().np_dir(&np).expose(n).unwrap_err();
        assert_eq!(win32_code(&e), code, "{n}");
    }
    // Not served by this process.
    let (name, _) = names("smb-unserved");
    let e = SmbExposure::new().np_dir(&np).expose(&name).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_FILE_NOT_FOUND);
    // Too long for sun_path.
    let long = format!(r"\\.\pipe\{}", "x".repeat(120));
    let _s = message_opts().create(&long).unwrap();
    let e = SmbExposure::new().np_dir(&np).expose(&long).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_FILENAME_EXCED_RANGE);
    let _ = std::fs::remove_dir_all(&np);
}

/// Exposes `name` in the test's own np directory `np` for a test that plays smbd itself
/// (`require_root_peer(false)`: the test is the peer); returns the listener and the socket
/// path.
fn play_smbd(
    np: &std::path::Path,
    name: &str,
    leaf: &str,
    exposure: &mut SmbExposure,
) -> (npipe::SmbListener, PathBuf) {
    let l = exposure
        .np_dir(np)
        .require_root_peer(false)
        .expose(name)
        .unwrap();
    (l, np.join(leaf.to_lowercase()))
}

/// A connection to the relay's socket at `path`, as smbd makes it. Its reads give up after
/// 60 s, so a relay that never answers or never closes fails the test instead of blocking it.
fn relay_connect(path: &std::path::Path) -> UnixStream {
    let s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    s
}

/// Reads until EOF (the relay closed) or `limit` bytes; an error counts as EOF, except the
/// read timeout of [`relay_connect`] (nothing within 60 s), which fails the test.
#[track_caller]
fn read_all(s: &mut UnixStream, limit: usize) -> Vec<u8> {
    let mut v = Vec::new();
    let mut b = [0u8; 256];
    while v.len() < limit {
        match s.read(&mut b) {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("the relay neither answered nor closed within its read timeout: {e}")
            }
            Ok(0) | Err(_) => break,
            Ok(n) => v.extend_from_slice(&b[..n]),
        }
    }
    v
}

/// This test plays smbd: garbage, a bad magic and a silent peer are closed without a reply;
/// a probe gets the reply and never becomes a client; a real request becomes a client whose
/// frames are messages both ways.
#[test]
fn hostile_and_probe_handshakes() {
    let np = temp_np("hostile");
    let (name, leaf) = names("smb-hostile");
    let events = echo_server(&name, message_opts());
    let (l, path) = play_smbd(&np, &name, &leaf, &mut SmbExposure::new());
    for bad in [
        vec![0u8, 0, 0, 0],
        vec![0xFF, 0, 0, 0],
        b"\0\0\0\x08XXXM\x07\0\0\0".to_vec(),
        b"\0\0\0\x08NPAM\x09\0\0\0".to_vec(),
    ] {
        let mut s = relay_connect(&path);
        s.write_all(&bad).unwrap();
        assert_eq!(read_all(&mut s, 64), Vec::<u8>::new(), "{bad:?}");
    }
    // Silent: dropped after the handshake deadline, unanswered.
    let mut s = relay_connect(&path);
    assert_eq!(read_all(&mut s, 64), Vec::<u8>::new());
    assert!(l.last_error().unwrap().contains("in time"));
    // Truncated in the middle: the relay waits for the rest, then drops it.
    let req = npa_request(0);
    let mut s = relay_connect(&path);
    s.write_all(&req[..100]).unwrap();
    assert_eq!(read_all(&mut s, 64), Vec::<u8>::new());
    // A probe: answered, never a client.
    let probe = npa_request(4);
    let mut s = relay_connect(&path);
    s.write_all(&probe).unwrap();
    let reply = read_all(&mut s, 100);
    assert_eq!(reply.len(), 36);
    assert_eq!(&reply[..8], b"\0\0\0\x20NPAM");
    assert_eq!(reply[16], 2);
    // A real request: a client (uid 1001, allowed by the policy), who it says it is.
    let mut s = relay_connect(&path);
    s.write_all(&req).unwrap();
    let mut reply = [0u8; 36];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(next(&events), "connected", "the probe became a client");
    s.write_all(b"\x03\0abc").unwrap();
    let mut f = [0u8; 10];
    s.read_exact(&mut f).unwrap();
    assert_eq!(&f, b"\x08\0echo:abc");
    // A zero-length frame is a protocol error: the connection ends, the server sees EOF.
    s.write_all(b"\0\0").unwrap();
    assert_eq!(read_all(&mut s, 64), Vec::<u8>::new());
    assert_eq!(next(&events), format!("eof {ERROR_BROKEN_PIPE}"));
    drop(l);
    // Exactly one client in all: neither the probe nor a refused handshake became one.
    assert!(events.try_recv().is_err());
    let _ = std::fs::remove_dir_all(&np);
}

/// A relayed client waits up to the pipe's default timeout for a free instance, then is
/// closed (SMB has no PIPE_BUSY); once an instance frees up, the next one gets in.
#[test]
fn busy_pipe_closes_after_default_timeout() {
    let req = npa_request(0);
    let np = temp_np("busy");
    let (name, leaf) = names("smb-busy");
    let mut o = message_opts();
    o.max_instances(1).default_timeout(100);
    let server = o.create(&name).unwrap();
    let local = ClientOptions::new().open(&name).unwrap();
    server.connect().unwrap();
    let (l, path) = play_smbd(&np, &name, &leaf, &mut SmbExposure::new());
    let mut s = relay_connect(&path);
    s.write_all(&req).unwrap();
    let mut reply = [0u8; 36];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(read_all(&mut s, 64), Vec::<u8>::new());
    assert!(
        l.last_error().unwrap().contains("busy"),
        "{:?}",
        l.last_error()
    );
    drop(local);
    server.disconnect().unwrap();
    // Listening again before the relayed open, which waits only 100 ms for an instance.
    server.start_connect().unwrap();
    let mut s = relay_connect(&path);
    s.write_all(&req).unwrap();
    s.read_exact(&mut reply).unwrap();
    server
        .connect_timeout(std::time::Duration::from_secs(60))
        .unwrap();
    assert!(server.remote_client().unwrap().is_some());
    let _ = std::fs::remove_dir_all(&np);
}

/// An inbound-only pipe (the SMB client only writes): the relay carries nothing back, yet
/// notices the server's disconnect and closes the SMB open, so the client learns it.
#[test]
fn inbound_only_pipe_sees_the_server_disconnect() {
    let req = npa_request(0);
    let np = temp_np("inbound");
    let (name, leaf) = names("smb-inbound");
    let server = message_opts()
        .direction(npipe::Direction::Inbound)
        .create(&name)
        .unwrap();
    let (l, path) = play_smbd(&np, &name, &leaf, &mut SmbExposure::new());
    let mut s = relay_connect(&path);
    s.write_all(&req).unwrap();
    let mut reply = [0u8; 36];
    s.read_exact(&mut reply).unwrap();
    server
        .connect_timeout(std::time::Duration::from_secs(60))
        .unwrap();
    s.write_all(b"\x02\0hi").unwrap();
    let mut b = [0u8; 8];
    let m = server
        .recv_msg_timeout(&mut b, std::time::Duration::from_secs(60))
        .unwrap();
    assert_eq!(&b[..m.read], b"hi");
    server.disconnect().unwrap();
    // EOF, not the timeout: the relay closed the SMB open.
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut rest = [0u8; 16];
    match s.read(&mut rest) {
        Ok(0) => {}
        other => panic!("expected the relay to close the SMB open, got {other:?}"),
    }
    drop(l);
    let _ = std::fs::remove_dir_all(&np);
}

/// With `max_connections(1)`, a second SMB open while one is relayed is closed unanswered and
/// recorded; once the first ends, the next one is relayed again.
#[test]
fn relayed_connections_are_capped() {
    let req = npa_request(0);
    let np = temp_np("cap");
    let (name, leaf) = names("smb-cap");
    let events = echo_server(&name, message_opts());
    let (l, path) = play_smbd(&np, &name, &leaf, SmbExposure::new().max_connections(1));
    let mut reply = [0u8; 36];
    let mut first = relay_connect(&path);
    first.write_all(&req).unwrap();
    first.read_exact(&mut reply).unwrap();
    assert_eq!(next(&events), "connected");
    let mut second = relay_connect(&path);
    let _ = second.write_all(&req);
    assert_eq!(read_all(&mut second, 64), Vec::<u8>::new());
    let why = l.last_error().unwrap_or_default();
    assert!(why.contains("1 relayed connections already"), "{why}");
    drop(first);
    assert_eq!(next(&events), format!("eof {ERROR_BROKEN_PIPE}"));
    // The first relay's thread ends just after the server saw its client go; the stream of
    // the relayed open is kept until the server has seen it connect.
    let mut relayed = None;
    util::eventually(std::time::Duration::from_secs(10), || {
        let mut s = relay_connect(&path);
        // A capped open is closed at once, perhaps before the request is written.
        let ok = s.write_all(&req).is_ok() && s.read_exact(&mut reply).is_ok();
        relayed = ok.then_some(s);
        ok
    });
    assert!(
        relayed.is_some(),
        "no connection was relayed after the first one ended"
    );
    assert_eq!(next(&events), "connected");
    let _ = std::fs::remove_dir_all(&np);
}

/// The relay, running as root, answers only a root peer (smbd connects as root): a handshake
/// from another user is dropped unanswered and never becomes a client.
#[test]
fn non_root_peer_is_refused() {
    if !is_root() {
        eprintln!("skipping: needs root to be a relay that other users can reach");
        return;
    }
    let np = temp_np("nonroot");
    std::fs::create_dir_all(&np).unwrap();
    std::fs::set_permissions(&np, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let (name, leaf) = names("smb-nonroot");
    let events = echo_server(&name, message_opts());
    let l = SmbExposure::new().np_dir(&np).expose(&name).unwrap();
    let path = np.join(leaf.to_lowercase());
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    util::expect_ok(util::child("handshake_as_nobody", path.to_str().unwrap()));
    assert!(
        l.last_error().unwrap().contains("not root"),
        "{:?}",
        l.last_error()
    );
    assert!(
        events.try_recv().is_err(),
        "a non-root peer became a client"
    );
    // Root (this process) is answered.
    let mut s = relay_connect(&path);
    s.write_all(&npa_request(0)).unwrap();
    let mut reply = [0u8; 36];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(next(&events), "connected");
    drop(l);
    let _ = std::fs::remove_dir_all(&np);
}

/// Child role: as uid nobody, sends a valid request to the socket at `path` and expects the
/// connection closed without a reply.
fn role_handshake_as_nobody(path: &str) -> Result<(), String> {
    util::become_user(65534, 65534, &[])?;
    let mut s = UnixStream::connect(path).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .map_err(|e| format!("read timeout: {e}"))?;
    // The relay may close the connection before the request is even written (it checks the
    // peer at accept): a write that finds it closed is the refusal too.
    match s.write_all(&npa_request(0)) {
        Ok(()) => {}
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ) =>
        {
            return Ok(());
        }
        Err(e) => return Err(format!("write: {e}")),
    }
    let got = read_all(&mut s, 64);
    if got.is_empty() {
        Ok(())
    } else {
        Err(format!("a non-root peer got {} reply bytes", got.len()))
    }
}

/// Only the relay's own process can open as a remote client: while a relayed open waits for an
/// instance (its identity registered), another process that sends OPEN_REMOTE requests with
/// every small token is refused with ERROR_ACCESS_DENIED, never given an identity (a claimed
/// one would have met the busy instance and got ERROR_PIPE_BUSY instead).
#[test]
fn another_process_cannot_claim_a_remote_identity() {
    let np = temp_np("claim");
    let (name, leaf) = names("smb-claim");
    let mut o = message_opts();
    o.max_instances(1).default_timeout(60_000);
    let server = o.create(&name).unwrap();
    let local = ClientOptions::new().open(&name).unwrap();
    server.connect().unwrap();
    let (_l, path) = play_smbd(&np, &name, &leaf, &mut SmbExposure::new());
    let mut s = relay_connect(&path);
    s.write_all(&npa_request(0)).unwrap();
    let mut reply = [0u8; 36];
    s.read_exact(&mut reply).unwrap();
    util::expect_ok(util::child("claim_tokens", &name));
    // The relayed open is still waiting, and gets the instance once it is free.
    drop(local);
    server.disconnect().unwrap();
    // Bounded: a relayed open that gave up (or a bug) fails here instead of waiting for ever.
    server
        .connect_timeout(std::time::Duration::from_secs(60))
        .unwrap();
    let r = server.remote_client().unwrap().unwrap();
    assert_eq!((r.uid, r.account.as_str()), (1001, "user"));
    let _ = std::fs::remove_dir_all(&np);
}

/// Child role: OPEN_REMOTE requests for the pipe `name` with tokens 1..=256, each refused
/// with ERROR_ACCESS_DENIED.
fn role_claim_tokens(name: &str) -> Result<(), String> {
    for token in 1u64..=256 {
        let fd = util::raw_connect(name);
        let mut req = util::request(name, 5, 0xC000_0000);
        req.extend_from_slice(&token.to_le_bytes());
        util::raw_send(fd, &req);
        let (rep, _) = util::raw_recv(fd);
        // SAFETY: closing the descriptor raw_connect returned, once.
        unsafe { libc::close(fd) };
        let kind = rep.get(6..8).map(|b| u16::from_le_bytes([b[0], b[1]]));
        let code = rep
            .get(8..12)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        if kind != Some(2) || code != Some(ERROR_ACCESS_DENIED) {
            return Err(format!(
                "token {token}: reply kind {kind:?}, error {code:?}"
            ));
        }
    }
    Ok(())
}

child_roles! {
    "handshake_as_nobody" => role_handshake_as_nobody,
    "claim_tokens" => role_claim_tokens,
}
