//! Security across real processes: access policies (who is admitted, with which access),
//! impersonation of a pipe's client, and clients that refuse an impostor server.
//!
//! Tests that need other users run only as root (CI runs as root): the child process (this
//! test binary re-run in a role) drops to an unused uid such as 4242, which needs no
//! /etc/passwd entry. Without root they print why and return.

mod util;

use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::time::Duration;

use npipe::error::code::*;
use npipe::{
    pipe_exists, win32_code, Access, AccessPolicy, ClientOptions, MailslotOptions, MailslotWriter,
    NamedPipeClient, ServerOptions, Trustee,
};
use util::{become_user, child, connect_or_fail, eventually, expect_ok, unique_name};

fn ctx<T>(r: io::Result<T>, what: &str) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e} (code {})", win32_code(&e)))
}

/// The threads of this process named `name` (as `/proc/self/task/*/comm` shows it), each with
/// its fsuid (the fourth `Uid:` field of its status).
fn fsuids_of_threads(name: &str) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for tid in util::threads_named(std::process::id(), name) {
        let status =
            std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap_or_default();
        let fsuid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(3))
            .and_then(|v| v.parse().ok());
        if let Some(fsuid) = fsuid {
            out.push((tid, fsuid));
        }
    }
    out
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// True when the test may run; otherwise prints why it is skipped.
fn root_or_skip(test: &str) -> bool {
    if !is_root() {
        eprintln!("{test}: skipped (needs root to run a client of another uid)");
    }
    is_root()
}

/// Arguments of the client roles: `uid:gid:g1,g2:access:name` (access: rw, r, w).
struct Who {
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
    access: String,
    name: String,
}

fn who_arg(uid: u32, gid: u32, groups: &[u32], access: &str, name: &str) -> String {
    let gs: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    format!("{uid}:{gid}:{}:{access}:{name}", gs.join(","))
}

fn parse_who(arg: &str) -> Result<Who, String> {
    let mut it = arg.splitn(5, ':');
    let num = |s: Option<&str>| -> Result<u32, String> {
        s.and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad role argument {arg:?}"))
    };
    let uid = num(it.next())?;
    let gid = num(it.next())?;
    let groups = it
        .next()
        .unwrap_or("")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| format!("bad group in {arg:?}")))
        .collect::<Result<Vec<u32>, String>>()?;
    let access = it.next().unwrap_or("rw").to_owned();
    let name = it.next().unwrap_or("").to_owned();
    Ok(Who {
        uid,
        gid,
        groups,
        access,
        name,
    })
}

fn options_for(access: &str) -> ClientOptions {
    let mut o = ClientOptions::new();
    o.read(access.contains('r')).write(access.contains('w'));
    o
}

/// As another user: opens, sends "hello", expects "welcome" back.
fn role_talk(arg: &str) -> Result<(), String> {
    let w = parse_who(arg)?;
    become_user(w.uid, w.gid, &w.groups)?;
    hello_welcome(open_when_free(&options_for(&w.access), &w.name)?)
}

/// Opens like Microsoft's client sample: on ERROR_PIPE_BUSY (the server has not listened
/// again yet, W30), waits for an instance and tries again.
fn open_when_free(o: &ClientOptions, name: &str) -> Result<NamedPipeClient, String> {
    for _ in 0..50 {
        match o.open(name) {
            Err(e) if win32_code(&e) == ERROR_PIPE_BUSY => {
                let _ =
                    npipe::wait_named_pipe(name, npipe::WaitFor::Timeout(Duration::from_secs(5)));
            }
            r => return ctx(r, "open"),
        }
    }
    Err(format!("{name} stayed busy"))
}

/// Sends "hello" on an opened client and expects "welcome" back.
fn hello_welcome(mut c: NamedPipeClient) -> Result<(), String> {
    ctx(c.write_all(b"hello"), "write")?;
    let mut buf = [0u8; 16];
    let n = ctx(c.read(&mut buf), "read")?;
    if &buf[..n] != b"welcome" {
        return Err(format!("unexpected reply {:?}", &buf[..n]));
    }
    Ok(())
}

/// As another user: the open must fail with ERROR_ACCESS_DENIED.
fn role_refused(arg: &str) -> Result<(), String> {
    let w = parse_who(arg)?;
    become_user(w.uid, w.gid, &w.groups)?;
    match options_for(&w.access).open(&w.name) {
        Err(e) if win32_code(&e) == ERROR_ACCESS_DENIED => {
            if e.kind() != io::ErrorKind::PermissionDenied {
                return Err(format!("kind {:?} for ERROR_ACCESS_DENIED", e.kind()));
            }
            Ok(())
        }
        other => Err(format!("expected ERROR_ACCESS_DENIED, got {other:?}")),
    }
}

/// As another user: serves the pipe `name` (an impostor of a root service), reads one message
/// from a client and answers it.
fn role_impostor(arg: &str) -> Result<(), String> {
    let (mut s, msg) = serve_first_as(&parse_who(arg)?)?;
    if msg != b"secret" {
        return Err(format!("unexpected message {msg:?}"));
    }
    ctx(s.write_all(b"ok"), "reply")
}

/// As the user `w` names: serves its pipe to everyone and reads the first client's first
/// message (up to 16 bytes).
fn serve_first_as(w: &Who) -> Result<(npipe::NamedPipeServer, Vec<u8>), String> {
    become_user(w.uid, w.gid, &w.groups)?;
    let mut s = ctx(
        ServerOptions::new()
            .access_policy(AccessPolicy::everyone())
            .create(&w.name),
        "create",
    )?;
    ctx(s.connect(), "connect")?;
    let mut buf = [0u8; 16];
    let n = ctx(s.read(&mut buf), "read")?;
    Ok((s, buf[..n].to_vec()))
}

/// In a session of its own: opens the pipe `arg`, sends "hello", expects "welcome".
fn role_own_session(arg: &str) -> Result<(), String> {
    // SAFETY: setsid has no preconditions; a spawned child is no process group leader.
    if unsafe { libc::setsid() } < 0 {
        return Err(format!("setsid: {}", io::Error::last_os_error()));
    }
    hello_welcome(ctx(ClientOptions::new().open(arg), "open")?)
}

/// As another user: serves `name`, reads one message from a root client, and cannot take the
/// client's identity (ERROR_PRIVILEGE_NOT_HELD, PermissionDenied), nor change its own.
fn role_unprivileged_impersonator(arg: &str) -> Result<(), String> {
    let w = parse_who(arg)?;
    let (mut s, _) = serve_first_as(&w)?;
    match s.impersonate_client() {
        Err(e) if win32_code(&e) == ERROR_PRIVILEGE_NOT_HELD => {
            if e.kind() != io::ErrorKind::PermissionDenied {
                return Err(format!("kind {:?}", e.kind()));
            }
        }
        other => return Err(format!("expected ERROR_PRIVILEGE_NOT_HELD, got {other:?}")),
    }
    if npipe::is_impersonating() {
        return Err("a failed impersonation left the thread impersonating".into());
    }
    let f = std::env::temp_dir().join(format!("npipe-sec-unpriv-{}", std::process::id()));
    ctx(std::fs::write(&f, b"x"), "write a file")?;
    let uid = ctx(std::fs::metadata(&f), "stat")?.uid();
    let _ = std::fs::remove_file(&f);
    if uid != w.uid {
        return Err(format!("the file belongs to {uid}, not {}", w.uid));
    }
    ctx(s.write_all(b"ok"), "reply")
}

/// As a set-user-id root program run by uid 4242 (real uid 4242, effective and saved 0):
/// `name|squatted` must refuse the server of uid 4242 that took it, and a pipe it creates
/// with the default policy must refuse a client of uid 4242 (`name|create`, whose client the
/// parent runs).
fn role_setuid_program(arg: &str) -> Result<(), String> {
    let (name, what) = arg.split_once('|').ok_or("bad arg")?;
    // SAFETY: setresuid takes integers only; this child process has one thread here.
    if unsafe { libc::setresuid(4242, 0, 0) } != 0 {
        return Err(format!("setresuid: {}", io::Error::last_os_error()));
    }
    match what {
        "squatted" => match ClientOptions::new().open(name) {
            Err(e) if win32_code(&e) == ERROR_ACCESS_DENIED => Ok(()),
            r => Err(format!(
                "the impostor of the real uid was not refused: {r:?}"
            )),
        },
        _ => {
            let s = ctx(ServerOptions::new().create(name), "create")?;
            // The parent's client of uid 4242 must be refused: wait until it has tried.
            std::thread::sleep(Duration::from_millis(300));
            drop(s);
            Ok(())
        }
    }
}

/// As uid 4242, gid 4242, without privileges: serves `name` to everyone, reads a client's
/// hello, and while impersonating it (a client of the same user, of another gid) opens a second
/// pipe of its own, then answers.
fn role_same_user_server(name: &str) -> Result<(), String> {
    become_user(4242, 4242, &[])?;
    let everyone = || {
        let mut o = ServerOptions::new();
        o.access_policy(AccessPolicy::everyone());
        o
    };
    let mut s = ctx(everyone().create(name), "create")?;
    let other = format!("{name}-other");
    let _o = ctx(everyone().create(&other), "create the other")?;
    ctx(s.connect(), "connect")?;
    let mut buf = [0u8; 16];
    let n = ctx(s.read(&mut buf), "read")?;
    if &buf[..n] != b"hello" {
        return Err(format!("unexpected {:?}", &buf[..n]));
    }
    {
        let _as_client = ctx(s.impersonate_client(), "impersonate")?;
        ctx(
            ClientOptions::new().open(&other),
            "open while impersonating",
        )?;
    }
    ctx(s.write_all(b"welcome"), "reply")
}

child_roles! {
    "same_user_server" => role_same_user_server,
    "setuid_program" => role_setuid_program,
    "unprivileged_impersonator" => role_unprivileged_impersonator,
    "own_session" => role_own_session,
    "talk" => role_talk,
    "refused" => role_refused,
    "impostor" => role_impostor,
}

/// Accepts the client `kid` and answers its "hello" with "welcome". A child that fails
/// before it connects never leaves the server waiting: the test fails with its status.
fn serve_one(s: &mut npipe::NamedPipeServer, mut kid: std::process::Child) {
    connect_or_fail(s, &mut kid);
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello");
    s.write_all(b"welcome").unwrap();
    s.flush().unwrap();
    expect_ok(kid);
}

#[test]
fn everyone_policy_serves_a_client_of_another_uid() {
    if !root_or_skip("everyone_policy_serves_a_client_of_another_uid") {
        return;
    }
    let name = unique_name("sec-everyone");
    let mut s = ServerOptions::new()
        .access_policy(AccessPolicy::everyone())
        .create(&name)
        .unwrap();
    let kid = child("talk", &who_arg(4242, 4242, &[], "rw", &name));
    serve_one(&mut s, kid);
}

#[test]
fn default_policy_refuses_another_uid() {
    if !root_or_skip("default_policy_refuses_another_uid") {
        return;
    }
    let name = unique_name("sec-default");
    let _s = ServerOptions::new().create(&name).unwrap();
    expect_ok(child("refused", &who_arg(4242, 4242, &[], "rw", &name)));
}

#[test]
fn group_policy_refuses_an_outsider_and_keeps_serving() {
    if !root_or_skip("group_policy_refuses_an_outsider_and_keeps_serving") {
        return;
    }
    let name = unique_name("sec-group");
    let mut s = ServerOptions::new()
        .access_policy(AccessPolicy::nobody().allow(Trustee::Gid(4300), Access::ALL))
        .max_instances(1)
        .create(&name)
        .unwrap();
    // Outside the group: refused at accept, and the instance keeps listening.
    expect_ok(child("refused", &who_arg(4243, 4243, &[], "rw", &name)));
    // A member through a supplementary group (SO_PEERGROUPS), then one through its primary
    // gid: both served by the same instance in turn.
    let kid = child("talk", &who_arg(4242, 4242, &[4300], "rw", &name));
    serve_one(&mut s, kid);
    s.disconnect().unwrap();
    let kid = child("talk", &who_arg(4244, 4300, &[], "rw", &name));
    serve_one(&mut s, kid);
}

#[test]
fn read_only_grant_refuses_a_write_open_of_another_uid() {
    if !root_or_skip("read_only_grant_refuses_a_write_open_of_another_uid") {
        return;
    }
    let name = unique_name("sec-ro-x");
    let mut s = ServerOptions::new()
        .access_policy(
            AccessPolicy::owner_and_root().allow(Trustee::Uid(4242), Access::READ | Access::WRITE),
        )
        .create(&name)
        .unwrap();
    let name2 = unique_name("sec-ro-y");
    let _ro = ServerOptions::new()
        .access_policy(AccessPolicy::owner_and_root().allow(Trustee::Uid(4242), Access::READ))
        .create(&name2)
        .unwrap();
    expect_ok(child("refused", &who_arg(4242, 4242, &[], "w", &name2)));
    expect_ok(child("refused", &who_arg(4242, 4242, &[], "rw", &name2)));
    let kid = child("talk", &who_arg(4242, 4242, &[], "rw", &name));
    serve_one(&mut s, kid);
}

/// In one process (any user): a read-only grant admits read opens and refuses write opens.
#[test]
fn read_only_grant_in_process() {
    let name = unique_name("sec-ro");
    let s = ServerOptions::new()
        .access_policy(AccessPolicy::nobody().allow(Trustee::Everyone, Access::READ))
        .create(&name)
        .unwrap();
    let e = ClientOptions::new().open(&name).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_ACCESS_DENIED, "{e}");
    assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
    let e = ClientOptions::new()
        .read(false)
        .write(true)
        .open(&name)
        .unwrap_err();
    assert_eq!(win32_code(&e), ERROR_ACCESS_DENIED, "{e}");
    let mut c = ClientOptions::new().write(false).open(&name).unwrap();
    s.connect().unwrap();
    (&s).write_all(b"data").unwrap();
    let mut b = [0u8; 4];
    c.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"data");
}

/// The rights each end reports, named by `npipe::rights` (W24: a server's follow its pipe's
/// direction; a client's are its desired access, generic rights mapped, MAXIMUM_ALLOWED as
/// what the direction allows).
#[test]
fn access_rights_by_direction_and_desired_access() {
    use npipe::rights::*;
    use npipe::Direction;
    for (d, server, max_client) in [
        (Direction::Inbound, FILE_GENERIC_READ, GENERIC_WRITE),
        (Direction::Outbound, FILE_GENERIC_WRITE, GENERIC_READ),
        (
            Direction::Duplex,
            FILE_GENERIC_READ | FILE_GENERIC_WRITE,
            GENERIC_READ | GENERIC_WRITE,
        ),
    ] {
        let name = unique_name("sec-rights");
        let s = ServerOptions::new().direction(d).create(&name).unwrap();
        assert_eq!(s.access_rights(), server, "{d:?} server");
        let c = ClientOptions::new()
            .access_mask(MAXIMUM_ALLOWED)
            .open(&name)
            .unwrap();
        let got = c.access_rights();
        assert_eq!(
            got & (FILE_GENERIC_READ | FILE_GENERIC_WRITE),
            (if max_client & GENERIC_READ != 0 {
                FILE_GENERIC_READ
            } else {
                0
            }) | (if max_client & GENERIC_WRITE != 0 {
                FILE_GENERIC_WRITE
            } else {
                0
            }) | FILE_READ_ATTRIBUTES, // what CreateFile adds to any access (W25)
            "{d:?} MAXIMUM_ALLOWED client: {got:#x}"
        );
    }
    let name = unique_name("sec-rights");
    let _s = ServerOptions::new().create(&name).unwrap();
    let c = ClientOptions::new().write(false).open(&name).unwrap();
    assert_eq!(c.access_rights(), FILE_GENERIC_READ, "a read-only client");
    assert_eq!(c.access_rights() & FILE_WRITE_ATTRIBUTES, 0);
    assert_ne!(c.access_rights() & FILE_READ_ATTRIBUTES, 0);
}

/// A deny entry ahead of an allow wins, as in a DACL; the owner entry names this user.
#[test]
fn deny_before_allow_in_process() {
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let name = unique_name("sec-deny");
    let _s = ServerOptions::new()
        .access_policy(
            AccessPolicy::nobody()
                // FILE_WRITE_DATA | FILE_APPEND_DATA: denying GENERIC_WRITE would also deny
                // SYNCHRONIZE and READ_CONTROL, which read opens need too (as on Windows).
                .deny(Trustee::Uid(me), Access::from_mask(0x6))
                .allow(Trustee::Everyone, Access::ALL),
        )
        .create(&name)
        .unwrap();
    let e = ClientOptions::new().open(&name).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_ACCESS_DENIED);
    ClientOptions::new().write(false).open(&name).unwrap();
    let name2 = unique_name("sec-owner");
    let _s2 = ServerOptions::new()
        .access_policy(AccessPolicy::nobody().allow(Trustee::Owner, Access::ALL))
        .create(&name2)
        .unwrap();
    ClientOptions::new().open(&name2).unwrap();
    let name3 = unique_name("sec-nobody");
    let _s3 = ServerOptions::new()
        .access_policy(AccessPolicy::nobody())
        .create(&name3)
        .unwrap();
    let e = ClientOptions::new().open(&name3).unwrap_err();
    assert_eq!(
        win32_code(&e),
        ERROR_ACCESS_DENIED,
        "an empty policy admits nobody"
    );
}

/// W134: another instance keeps the pipe's policy; a different explicit one is refused.
#[test]
fn instances_share_the_pipe_policy() {
    let name = unique_name("sec-w134");
    let _a = ServerOptions::new()
        .access_policy(AccessPolicy::nobody().allow(Trustee::Everyone, Access::READ))
        .create(&name)
        .unwrap();
    let e = ServerOptions::new()
        .access_policy(AccessPolicy::everyone())
        .create(&name)
        .unwrap_err();
    assert_eq!(win32_code(&e), ERROR_ACCESS_DENIED, "{e}");
    let _b = ServerOptions::new().create(&name).unwrap();
    let _c = ServerOptions::new()
        .access_policy(AccessPolicy::nobody().allow(Trustee::Everyone, Access::READ))
        .create(&name)
        .unwrap();
    // The inheriting instance answers under the pipe's (read-only) policy.
    let e = ClientOptions::new().open(&name).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_ACCESS_DENIED);
}

/// A mailslot's policy: a writer needs write access.
#[test]
fn mailslot_policy_refuses_writers() {
    let name = format!(r"\\.\mailslot\npipe-test-sec-ms-{}", std::process::id());
    let ms = MailslotOptions::new()
        .access_policy(AccessPolicy::nobody().allow(Trustee::Everyone, Access::READ))
        .create(&name)
        .unwrap();
    let e = MailslotWriter::open(&name).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_ACCESS_DENIED, "{e}");
    drop(ms);
    let _ms = MailslotOptions::new()
        .access_policy(AccessPolicy::nobody().allow(Trustee::Everyone, Access::WRITE))
        .create(&name)
        .unwrap();
    let w = MailslotWriter::open(&name).unwrap();
    w.send(b"x").unwrap();
}

/// A scratch directory anyone may create files in.
fn scratch_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("npipe-sec-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o1777)).unwrap();
    d
}

/// W133 and impersonation: ERROR_CANNOT_IMPERSONATE before anything was read; after a read,
/// a file the impersonating thread creates belongs to the client, one another thread creates
/// meanwhile belongs to root, and after the revert the thread creates root's files again.
/// Files only root may open are refused while impersonating.
#[test]
fn impersonating_root_server_creates_files_as_the_client() {
    if !root_or_skip("impersonating_root_server_creates_files_as_the_client") {
        return;
    }
    let dir = scratch_dir("imp");
    let secret = dir.join("root-only");
    std::fs::write(&secret, b"s").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let name = unique_name("sec-imp");
    let mut s = ServerOptions::new()
        .access_policy(AccessPolicy::everyone())
        .create(&name)
        .unwrap();
    let e = s.impersonate_client().unwrap_err();
    assert_eq!(win32_code(&e), ERROR_CANNOT_IMPERSONATE, "listening: {e}");
    let mut kid = child("talk", &who_arg(4242, 4243, &[4300], "rw", &name));
    connect_or_fail(&s, &mut kid);
    assert!(eventually(Duration::from_secs(5), || s
        .peek(None)
        .is_ok_and(|p| p.available >= 5)));
    let e = s.impersonate_client().unwrap_err();
    assert_eq!(
        win32_code(&e),
        ERROR_CANNOT_IMPERSONATE,
        "W133: nothing read yet: {e}"
    );
    assert_eq!(
        win32_code(&s.client_user_name().unwrap_err()),
        ERROR_CANNOT_IMPERSONATE,
        "the user name is read by impersonating (W133)"
    );
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello");
    // uid 4242 has no name in the user database: its number stands for it.
    assert_eq!(s.client_user_name().unwrap(), "4242");
    assert!(
        !npipe::is_impersonating(),
        "asking the name changes nothing"
    );
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let other = dir.join("other-thread");
    let other_thread = std::thread::spawn(move || {
        wait.recv().unwrap();
        std::fs::write(&other, b"o").unwrap();
        other
    });
    {
        let own = npipe::own_identity().unwrap();
        assert_eq!(
            npipe::impersonated_identity(),
            None,
            "not impersonating yet"
        );
        let guard = s.impersonate_client().unwrap();
        assert!(npipe::is_impersonating());
        let id = npipe::impersonated_identity().expect("the client's identity");
        assert_eq!((id.uid, id.gid), (4242, 4243), "the thread token's user");
        assert!(
            id.groups.contains(&4300),
            "with its groups: {:?}",
            id.groups
        );
        assert_eq!(
            npipe::own_identity().unwrap(),
            own,
            "its own while impersonating"
        );
        let f = dir.join("as-client");
        std::fs::write(&f, b"c").unwrap();
        let m = std::fs::metadata(&f).unwrap();
        assert_eq!((m.uid(), m.gid()), (4242, 4243), "owned by the client");
        let e = std::fs::read(&secret).unwrap_err();
        assert_eq!(
            e.kind(),
            io::ErrorKind::PermissionDenied,
            "checked as the client"
        );
        // Another thread of the server (started before the impersonation: a thread started
        // by an impersonating thread copies its identity, see docs/SECURITY.md) is not
        // affected.
        go.send(()).unwrap();
        let other = other_thread.join().unwrap();
        assert_eq!(std::fs::metadata(&other).unwrap().uid(), 0);
        // Threads started while impersonating run as the process, as a Windows thread starts
        // with the process token: one a program starts with NewThreadIdentity...
        let identity = npipe::NewThreadIdentity::capture();
        let adopted = dir.join("adopted-thread");
        let a2 = adopted.clone();
        std::thread::spawn(move || {
            identity.adopt();
            std::fs::write(&a2, b"a").unwrap();
        })
        .join()
        .unwrap();
        assert_eq!(
            std::fs::metadata(&adopted).unwrap().uid(),
            0,
            "a thread that adopts its creator's own identity runs as root"
        );
        // ...and the library's own: the acceptor thread of a pipe created now.
        let before = fsuids_of_threads("npipe-acceptor");
        let created_now = ServerOptions::new()
            .create(&unique_name("sec-imp-acc"))
            .unwrap();
        // The new thread takes its identity as it starts, after `create` returned; acceptors
        // other tests start meanwhile are root's too.
        let started = || -> Vec<u32> {
            fsuids_of_threads("npipe-acceptor")
                .into_iter()
                .filter(|(tid, _)| !before.iter().any(|(t, _)| t == tid))
                .map(|(_, fsuid)| fsuid)
                .collect()
        };
        let root_only = |f: &[u32]| !f.is_empty() && f.iter().all(|&u| u == 0);
        assert!(
            eventually(Duration::from_secs(5), || root_only(&started())),
            "the new acceptor thread's fsuid: {:?}",
            started()
        );
        drop(created_now);
        std::fs::File::open(&secret).unwrap_err();
        guard.revert().unwrap();
    }
    assert!(!npipe::is_impersonating());
    assert_eq!(npipe::impersonated_identity(), None, "reverted");
    let f = dir.join("after-revert");
    std::fs::write(&f, b"r").unwrap();
    assert_eq!(std::fs::metadata(&f).unwrap().uid(), 0, "root again");
    std::fs::read(&secret).unwrap();
    // The closure form, and the drop of a guard, revert too.
    let owner = s
        .as_client(|| {
            let f = dir.join("closure");
            std::fs::write(&f, b"x").unwrap();
            std::fs::metadata(&f).unwrap().uid()
        })
        .unwrap();
    assert_eq!(owner, 4242);
    drop(s.impersonate_client().unwrap());
    std::fs::read(&secret).unwrap();
    s.write_all(b"welcome").unwrap();
    expect_ok(kid);
    // W133: it still works after the client has gone.
    drop(s.impersonate_client().unwrap());
    s.disconnect().unwrap();
    let e = s.impersonate_client().unwrap_err();
    assert_eq!(
        win32_code(&e),
        ERROR_CANNOT_IMPERSONATE,
        "disconnected: {e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A server impersonating a client of its own user succeeds without any change (the only
/// impersonation an unprivileged server can do); RevertToSelf without impersonation is fine.
#[test]
fn impersonating_a_client_of_the_same_user() {
    let name = unique_name("sec-self");
    let s = ServerOptions::new().create(&name).unwrap();
    let mut c = ClientOptions::new().open(&name).unwrap();
    s.connect().unwrap();
    c.write_all(b"x").unwrap();
    let mut b = [0u8; 1];
    (&s).read_exact(&mut b).unwrap();
    let dir = std::env::temp_dir();
    let f = dir.join(format!("npipe-sec-self-{}", std::process::id()));
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let expected = std::process::Command::new("id")
        .args(["-un", &me.to_string()])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| me.to_string());
    assert_eq!(s.client_user_name().unwrap(), expected);
    let owner = s
        .as_client(|| {
            std::fs::write(&f, b"x").unwrap();
            std::fs::metadata(&f).unwrap().uid()
        })
        .unwrap();
    // SAFETY: geteuid has no preconditions.
    assert_eq!(owner, unsafe { libc::geteuid() });
    let _ = std::fs::remove_file(&f);
    npipe::revert_to_self().unwrap();
    assert!(!npipe::is_impersonating());
}

#[test]
fn client_requiring_the_owner_refuses_an_impostor() {
    if !root_or_skip("client_requiring_the_owner_refuses_an_impostor") {
        return;
    }
    let name = unique_name("sec-impostor");
    let kid = child("impostor", &who_arg(4242, 4242, &[], "rw", &name));
    assert!(eventually(Duration::from_secs(10), || pipe_exists(&name)));
    // The real service runs as root: a client that requires uid 0 refuses the impostor
    // before sending anything.
    let e = ClientOptions::new()
        .require_server_uid(0)
        .open(&name)
        .unwrap_err();
    assert_eq!(win32_code(&e), ERROR_ACCESS_DENIED, "{e}");
    assert!(e.to_string().contains("4242"), "{e}");
    // By default a client trusts only its own user and root, so it refuses it too.
    let e = ClientOptions::new().open(&name).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_ACCESS_DENIED, "{e}");
    // Requiring that very uid is how a client talks to a known service of another user.
    let mut c = ClientOptions::new()
        .require_server_uid(4242)
        .open(&name)
        .unwrap();
    assert_eq!(c.server_uid().unwrap(), 4242);
    c.write_all(b"secret").unwrap();
    let mut b = [0u8; 2];
    c.read_exact(&mut b).unwrap();
    expect_ok(kid);
}

/// The policy answers the same question a server asks at every open.
#[test]
fn policy_allows_mirrors_the_server() {
    let p = AccessPolicy::nobody()
        .allow(Trustee::Gid(7), Access::READ)
        .deny(Trustee::Uid(5), Access::ALL)
        .allow(Trustee::Everyone, Access::WRITE);
    const R: u32 = 0x8000_0000;
    const W: u32 = 0x4000_0000;
    assert!(p.allows(0, 5, 7, &[], R), "the group's read comes first");
    assert!(!p.allows(0, 5, 7, &[], W), "then the deny");
    assert!(p.allows(0, 6, 1, &[7], R | W));
    assert!(!p.allows(0, 6, 1, &[], R));
    assert_eq!(p.entries().count(), 3);
}

/// The tokio server takes a policy too (an npipe extension).
#[tokio::test]
async fn tokio_server_access_policy() {
    let name = unique_name("sec-tokio");
    let mut opts = npipe::tokio::ServerOptions::new();
    opts.access_policy(AccessPolicy::nobody().allow(Trustee::Everyone, Access::READ));
    let _s = opts.create(&name).unwrap();
    let e = npipe::tokio::ClientOptions::new().open(&name).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_ACCESS_DENIED, "{e}");
    npipe::tokio::ClientOptions::new()
        .write(false)
        .open(&name)
        .unwrap();
}

/// GetNamedPipeClientSessionId / ServerSessionId: the client's Linux session, read through a
/// pidfd (SO_PEERPIDFD); ERROR_NOT_FOUND after a disconnect (W132) and once the client is gone.
#[test]
fn session_ids_across_processes() {
    let name = unique_name("sec-session");
    let mut s = ServerOptions::new().create(&name).unwrap();
    let mut kid = child("own_session", &name);
    connect_or_fail(&s, &mut kid);
    match s.client_session_id() {
        Ok(sid) => {
            assert_eq!(
                sid,
                s.client_process_id().unwrap(),
                "the child leads its session"
            );
            assert_ne!(sid, s.server_session_id());
        }
        Err(e) if win32_code(&e) == ERROR_NOT_SUPPORTED => {
            eprintln!("session_ids_across_processes: no SO_PEERPIDFD (Linux < 6.5): {e}");
        }
        Err(e) => panic!("client_session_id: {e}"),
    }
    serve_one(&mut s, kid);
    let e = s.client_session_id().unwrap_err();
    assert!(
        [ERROR_NOT_FOUND, ERROR_NOT_SUPPORTED].contains(&win32_code(&e)),
        "the client has exited: {e}"
    );
    s.disconnect().unwrap();
    let e = s.client_session_id().unwrap_err();
    assert_eq!(win32_code(&e), ERROR_NOT_FOUND, "W132: {e}");
    // In one process both ends report this process's session.
    let name = unique_name("sec-session-here");
    let s = ServerOptions::new().create(&name).unwrap();
    let c = ClientOptions::new().open(&name).unwrap();
    s.connect().unwrap();
    let own = c.client_session_id();
    assert_eq!(s.server_session_id(), own);
    if let Ok(sid) = c.server_session_id() {
        assert_eq!(sid, own);
        assert_eq!(s.client_session_id().unwrap(), own);
    }
}

/// A server without CAP_SETUID/CAP_SETGID cannot take another user's identity:
/// ERROR_PRIVILEGE_NOT_HELD, and its thread keeps its own (docs/SECURITY.md).
#[test]
fn unprivileged_server_cannot_impersonate_another_user() {
    if !root_or_skip("unprivileged_server_cannot_impersonate_another_user") {
        return;
    }
    let name = unique_name("sec-unpriv");
    let kid = child(
        "unprivileged_impersonator",
        &who_arg(4242, 4242, &[], "rw", &name),
    );
    assert!(eventually(Duration::from_secs(10), || pipe_exists(&name)));
    let mut c = ClientOptions::new()
        .require_server_uid(4242)
        .open(&name)
        .unwrap();
    c.write_all(b"hello").unwrap();
    let mut b = [0u8; 2];
    c.read_exact(&mut b).unwrap();
    expect_ok(kid);
}

/// W133: a read makes ImpersonateNamedPipeClient possible also when it started while the
/// client was connecting. A read that begins then marks the instance and waits for the
/// connection being set up; the connection's reset of that mark must come before the client
/// can write, not after the read was let through.
#[test]
fn a_read_that_races_the_connection_counts_for_impersonation() {
    for k in 0..300 {
        let name = unique_name("imp-race");
        let s = ServerOptions::new().create(&name).unwrap();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let n = name.clone();
        let client = std::thread::spawn(move || {
            let mut c = ClientOptions::new().open(&n).unwrap();
            c.write_all(b"x").unwrap();
            // Keep the client connected until the server has impersonated it.
            let _ = done_rx.recv_timeout(util::PEER_WAIT);
        });
        let mut b = [0u8; 1];
        let end = std::time::Instant::now() + util::PEER_WAIT;
        loop {
            match (&s).read(&mut b) {
                Ok(1) => break,
                Err(e)
                    if win32_code(&e) == ERROR_PIPE_LISTENING
                        && std::time::Instant::now() < end => {}
                other => panic!("round {k}: read: {other:?}"),
            }
        }
        let r = s.impersonate_client().map(|g| g.revert());
        let _ = done_tx.send(());
        client.join().unwrap();
        match r {
            Ok(Ok(())) => {}
            other => panic!("round {k}: impersonating after a read: {other:?}"),
        }
    }
}

/// A pipe `tag` that admits everyone, whose client (uid 4242 in another process, the "talk"
/// role) has connected and sent its hello, which is read: what the server may impersonate.
/// Answer "welcome" and `expect_ok` the child to end.
fn talking_client(tag: &str) -> (npipe::NamedPipeServer, std::process::Child) {
    let name = unique_name(tag);
    let mut s = ServerOptions::new()
        .access_policy(AccessPolicy::everyone())
        .create(&name)
        .unwrap();
    let mut kid = child("talk", &who_arg(4242, 4243, &[], "rw", &name));
    connect_or_fail(&s, &mut kid);
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello");
    (s, kid)
}

/// Opens made while impersonating are checked against the client, as Windows checks them
/// against the thread's token: a root server that impersonates uid 4242 cannot open its own
/// root-only pipe or mailslot on the client's behalf (they were opened as root), can open a
/// pipe that admits everyone (whose server then sees uid 4242), and after the revert opens
/// the root-only ones again. Another thread meanwhile opens as root.
#[test]
fn opens_while_impersonating_are_the_clients() {
    if !root_or_skip("opens_while_impersonating_are_the_clients") {
        return;
    }
    let private = unique_name("sec-imp-private");
    let _p = ServerOptions::new()
        .max_instances(4)
        .create(&private)
        .unwrap();
    let _p2 = ServerOptions::new().create(&private).unwrap();
    let public = unique_name("sec-imp-public");
    let pub_server = ServerOptions::new()
        .access_policy(AccessPolicy::everyone())
        .create(&public)
        .unwrap();
    let slot = unique_name("sec-imp-slot").replace(r"\pipe\", r"\mailslot\");
    let _m = MailslotOptions::new().create(&slot).unwrap();
    let (mut s, kid) = talking_client("sec-imp-open");
    {
        let _as_client = s.impersonate_client().unwrap();
        let e = ClientOptions::new().open(&private).unwrap_err();
        assert_eq!(win32_code(&e), ERROR_ACCESS_DENIED, "root-only pipe: {e}");
        let e = MailslotWriter::open(&slot).unwrap_err();
        assert_eq!(
            win32_code(&e),
            ERROR_ACCESS_DENIED,
            "root-only mailslot: {e}"
        );
        let root_thread = std::thread::spawn({
            let private = private.clone();
            move || ClientOptions::new().open(&private).map(drop)
        });
        root_thread
            .join()
            .unwrap()
            .expect("another thread opens as root");
        let c = ClientOptions::new().open(&public).unwrap();
        let mut w = pub_server;
        w.connect().unwrap();
        let mut c = c;
        c.write_all(b"x").unwrap();
        w.read_exact(&mut [0u8; 1]).unwrap();
        assert_eq!(
            w.client_user_name().unwrap(),
            "4242",
            "the public pipe saw the client"
        );
    }
    ClientOptions::new()
        .open(&private)
        .expect("after the revert, as root");
    MailslotWriter::open(&slot).expect("after the revert, as root");
    s.write_all(b"welcome").unwrap();
    expect_ok(kid);
}

/// A set-user-id program is one user throughout, its effective one (as servers see it): it
/// refuses a server of its real uid as an impostor, and the pipes it creates belong to its
/// effective uid, so its real uid's clients are refused by the default policy.
#[test]
fn a_set_user_id_program_is_its_effective_user() {
    if !root_or_skip("a_set_user_id_program_is_its_effective_user") {
        return;
    }
    let name = unique_name("sec-setuid-squat");
    let mut impostor = child("impostor", &who_arg(4242, 4242, &[], "rw", &name));
    assert!(eventually(Duration::from_secs(10), || pipe_exists(&name)));
    expect_ok(child("setuid_program", &format!("{name}|squatted")));
    let _ = impostor.kill();
    let _ = impostor.wait();

    let name = unique_name("sec-setuid-create");
    let kid = child("setuid_program", &format!("{name}|create"));
    assert!(eventually(Duration::from_secs(10), || pipe_exists(&name)));
    expect_ok(child("refused", &who_arg(4242, 4242, &[], "rw", &name)));
    expect_ok(kid);
}

/// The calling thread's effective capabilities, from /proc/thread-self/status.
fn cap_eff() -> String {
    std::fs::read_to_string("/proc/thread-self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap()
        .trim()
        .to_owned()
}

/// An open while impersonating leaves the thread's credentials as they were: a root server
/// that trimmed its effective capabilities keeps them trimmed (the kernel refills them from the
/// permitted set when the effective uid comes back to 0), and its ids are its own again.
#[test]
fn an_open_while_impersonating_keeps_the_threads_credentials() {
    if !root_or_skip("an_open_while_impersonating_keeps_the_threads_credentials") {
        return;
    }
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut h = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let mut d = [Data::default(); 2];
    // SAFETY: capget and capset with a version 3 header and its two data structs, on this
    // test's own thread (nextest runs each test in a process of its own).
    unsafe {
        assert_eq!(
            libc::syscall(libc::SYS_capget, &mut h as *mut Header, d.as_mut_ptr()),
            0
        );
        // Drop CAP_NET_BIND_SERVICE (10) from the effective set only.
        d[0].effective &= !(1 << 10);
        assert_eq!(
            libc::syscall(libc::SYS_capset, &mut h as *mut Header, d.as_ptr()),
            0
        );
    }
    let trimmed = cap_eff();
    let public = unique_name("sec-imp-caps-public");
    let _p = ServerOptions::new()
        .access_policy(AccessPolicy::everyone())
        .create(&public)
        .unwrap();
    let (mut s, kid) = talking_client("sec-imp-caps");
    {
        let _as_client = s.impersonate_client().unwrap();
        // (Taking the client's file-system uid cleared the file capabilities.)
        let during = cap_eff();
        ClientOptions::new()
            .open(&public)
            .expect("the public pipe admits the client");
        assert_eq!(cap_eff(), during, "while impersonating, after the open");
    }
    assert_eq!(cap_eff(), trimmed, "after the revert");
    // SAFETY: geteuid and getegid have no preconditions.
    assert_eq!(unsafe { (libc::geteuid(), libc::getegid()) }, (0, 0));
    s.write_all(b"welcome").unwrap();
    expect_ok(kid);
}

/// An unprivileged server impersonating a client of its own user but another gid still opens
/// while impersonating (it may not take the gid, as it may not for the impersonation itself).
#[test]
fn an_unprivileged_server_opens_while_impersonating_its_own_user() {
    if !root_or_skip("an_unprivileged_server_opens_while_impersonating_its_own_user") {
        return;
    }
    let name = unique_name("sec-imp-same");
    let server = child("same_user_server", &name);
    assert!(eventually(Duration::from_secs(10), || pipe_exists(&name)));
    expect_ok(child("talk", &who_arg(4242, 4300, &[], "rw", &name)));
    expect_ok(server);
}
