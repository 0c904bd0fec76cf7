//! `npipe::list`: the pipes and mailslots of other processes, before, during and after they
//! serve; hashed (long) names; `NPIPE_NAMESPACE` isolation; listeners at a matching address
//! that are silent or lie. Servers run in child processes (this test binary re-run in a role)
//! that say "ready" on stdout once their objects exist and end when their stdin closes.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Child, Stdio};

use npipe::error::code::*;
use npipe::{
    list, win32_code, ClientOptions, Direction, ListingKind, Mailslot, PipeMode, ServerOptions,
};
use util::{child_command, unique_name};

/// A long name (hashed into its socket address) derived from `name`.
fn long_of(name: &str) -> String {
    format!("{name}-{}", "L".repeat(200))
}

/// `arg` is a pipe name: serves it (message type, 3 of at most 4 instances, outbound, quotas
/// 1000/2000), a long pipe name derived from it, and a mailslot of the same leaf; says "ready"
/// and waits for stdin to close.
fn role_serve(name: &str) -> Result<(), String> {
    let e = |e: std::io::Error| format!("{e} (code {})", win32_code(&e));
    let mut opts = ServerOptions::new();
    opts.pipe_mode(PipeMode::Message)
        .direction(Direction::Outbound)
        .max_instances(4)
        .out_buffer_size(1000)
        .in_buffer_size(2000);
    let _a = opts.create(name).map_err(e)?;
    let _b = opts.create(name).map_err(e)?;
    let _c = opts.create(name).map_err(e)?;
    let _long = ServerOptions::new().create(&long_of(name)).map_err(e)?;
    let leaf = name.rsplit('\\').next().unwrap_or_default();
    let _slot = Mailslot::create(&format!(r"\\.\mailslot\{leaf}")).map_err(e)?;
    println!("ready");
    std::io::stdout().flush().map_err(|x| x.to_string())?;
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
    Ok(())
}

/// `arg` is `yes NAME` or `no NAME`: whether NAME must be in this process's listing.
fn role_expect(arg: &str) -> Result<(), String> {
    let (want, name) = arg.split_once(' ').ok_or("bad arg")?;
    let found = list().map_err(|e| e.to_string())?;
    let seen = found.iter().any(|l| l.name == name);
    if seen == (want == "yes") {
        Ok(())
    } else {
        Err(format!("{name}: listed = {seen}, wanted {want}: {found:?}"))
    }
}

/// Drops to uid/gid 65534 (nobody) for the rest of this child process.
fn become_nobody() -> Result<(), String> {
    // SAFETY: plain syscalls on this (single-purpose child) process's credentials.
    let ok = unsafe { libc::setgid(65534) == 0 && libc::setuid(65534) == 0 };
    if ok {
        Ok(())
    } else {
        Err(format!("setuid: {}", std::io::Error::last_os_error()))
    }
}

/// As `serve`, running as nobody.
fn role_serve_as_nobody(name: &str) -> Result<(), String> {
    become_nobody()?;
    role_serve(name)
}

/// As `expect`, listing as nobody.
fn role_expect_as_nobody(arg: &str) -> Result<(), String> {
    become_nobody()?;
    role_expect(arg)
}

child_roles! {
    "serve" => role_serve,
    "expect" => role_expect,
    "serve_as_nobody" => role_serve_as_nobody,
    "expect_as_nobody" => role_expect_as_nobody,
}

/// Starts a serving child (with `ns` as its NPIPE_NAMESPACE if given) and waits until it is
/// ready.
fn serve(name: &str, ns: Option<&str>) -> Child {
    serve_role("serve", name, ns)
}

/// [`serve`] with another role.
fn serve_role(role: &str, name: &str, ns: Option<&str>) -> Child {
    let mut cmd = child_command(role, name);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped());
    if let Some(ns) = ns {
        cmd.env("NPIPE_NAMESPACE", ns);
    }
    let mut c = cmd.spawn().expect("spawn server child");
    let out = BufReader::new(c.stdout.take().unwrap());
    for line in out.lines() {
        // The harness prints the test's name on the same line first.
        if line.expect("child stdout").trim_end().ends_with("ready") {
            return c;
        }
    }
    panic!("server child ended before it was ready: {:?}", c.wait());
}

/// Closes the child's stdin and waits for it to exit cleanly (at most `util::CHILD_LIMIT`).
fn stop(mut c: Child) {
    drop(c.stdin.take());
    match util::wait_child(&mut c, util::CHILD_LIMIT) {
        Ok(st) => assert!(st.success(), "server child failed: {st}"),
        Err(e) => panic!("{e}"),
    }
}

fn expect_in(ns: &str, want: bool, name: &str) {
    let arg = format!("{} {name}", if want { "yes" } else { "no" });
    let st = child_command("expect", &arg)
        .env("NPIPE_NAMESPACE", ns)
        .status()
        .expect("spawn lister child");
    assert!(st.success(), "listing in namespace {ns}: {st}");
}

#[test]
fn listing_shows_another_process_while_it_serves() {
    let name = unique_name("list-xproc");
    let leaf = name.rsplit('\\').next().unwrap().to_owned();
    assert!(list().unwrap().iter().all(|l| !l.name.contains(&leaf)));

    let c = serve(&name, None);
    let pid = c.id();
    let found = list().unwrap();
    let mine: Vec<_> = found.iter().filter(|l| l.name.contains(&leaf)).collect();
    assert_eq!(mine.len(), 3, "{mine:?}");

    // One entry for the pipe of three instances, with its parameters.
    let p = mine.iter().find(|l| l.name == name).expect("pipe listed");
    assert_eq!(p.kind, ListingKind::Pipe);
    assert_eq!(p.leaf, leaf);
    assert_eq!(
        (p.pipe_mode, p.direction),
        (PipeMode::Message, Direction::Outbound)
    );
    assert_eq!((p.instances, p.listening, p.max_instances), (3, 3, 4));
    assert_eq!((p.out_buffer_size, p.in_buffer_size), (1000, 2000));
    assert_eq!(p.server_pid, Some(pid));
    // SAFETY: getuid has no preconditions.
    assert_eq!(p.owner_uid, unsafe { libc::getuid() });

    // The long name is hashed in its address and listed under its real name.
    let long = long_of(&name);
    assert!(npipe::socket_address(&long)
        .unwrap()
        .windows(5)
        .any(|w| w == b"pipe#"));
    let l = mine
        .iter()
        .find(|l| l.name == long)
        .expect("long pipe listed");
    assert_eq!(
        (l.pipe_mode, l.instances, l.max_instances),
        (PipeMode::Byte, 1, 255)
    );

    let m = mine
        .iter()
        .find(|l| l.kind == ListingKind::Mailslot)
        .expect("mailslot listed");
    assert_eq!(m.name, format!(r"\\.\mailslot\{leaf}"));
    assert_eq!(
        (m.instances, m.max_instances, m.server_pid),
        (1, 1, Some(pid))
    );
    // Pipes come before mailslots.
    let pos = |n: &str| found.iter().position(|l| l.name == n).unwrap();
    assert!(pos(&name) < pos(&m.name));

    stop(c);
    assert!(list().unwrap().iter().all(|l| !l.name.contains(&leaf)));
}

#[test]
fn listing_keeps_to_its_namespace() {
    let name = unique_name("list-ns");
    let ns = format!("npipe-test-ns-{}", std::process::id());
    let c = serve(&name, Some(&ns));
    expect_in(&ns, true, &name);
    expect_in(&ns, true, &long_of(&name));
    expect_in(&format!("{ns}x"), false, &name);
    assert!(list().unwrap().iter().all(|l| l.name != name));
    stop(c);
    expect_in(&ns, false, &name);
}

/// The Describe request passes the same credential check as an open: root sees another user's
/// pipe (with that owner), another user does not see root's. Needs root to switch users.
#[test]
fn listing_follows_the_admission_rule() {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        eprintln!("listing_follows_the_admission_rule: needs root, not run");
        return;
    }
    let theirs = unique_name("list-nobody");
    let c = serve_role("serve_as_nobody", &theirs, None);
    let found = list().unwrap();
    let l = found
        .iter()
        .find(|l| l.name == theirs)
        .expect("root sees it");
    assert_eq!((l.owner_uid, l.server_pid), (65534, Some(c.id())));
    stop(c);

    let mine = unique_name("list-root");
    let _server = ServerOptions::new().create(&mine).unwrap();
    let st = child_command("expect_as_nobody", &format!("no {mine}"))
        .status()
        .unwrap();
    assert!(st.success(), "another user's listing showed root's pipe");
    // Root's own listing shows it (the check above is not vacuous).
    assert!(list().unwrap().iter().any(|l| l.name == mine));
}

#[test]
fn listing_takes_no_instance_and_wakes_no_one() {
    let name = unique_name("list-quiet");
    let server = ServerOptions::new()
        .max_instances(1)
        .nowait(true)
        .create(&name)
        .unwrap();
    for _ in 0..3 {
        let l = list().unwrap();
        let me = l.iter().find(|l| l.name == name).expect("listed");
        assert_eq!((me.instances, me.listening), (1, 1));
    }
    // Still listening with no client: a PIPE_NOWAIT connect says so.
    let e = server.connect().unwrap_err();
    assert_eq!(win32_code(&e), ERROR_PIPE_LISTENING);
    // The one instance is still free for a real client.
    let _client = ClientOptions::new().open(&name).unwrap();
    assert!(server.connect_status().unwrap());
    let l = list().unwrap();
    let me = l.iter().find(|l| l.name == name).expect("listed");
    assert_eq!((me.instances, me.listening), (1, 0));
}

#[test]
fn silent_listener_at_a_pipe_address_is_left_out() {
    let name = unique_name("list-silent");
    let long = long_of(&unique_name("list-silent"));
    // SAFETY: raw_listen returns a fresh descriptor that nothing else owns.
    let _silent = unsafe { OwnedFd::from_raw_fd(util::raw_listen(&name)) };
    // SAFETY: as above.
    let _silent_long = unsafe { OwnedFd::from_raw_fd(util::raw_listen(&long)) };
    let real = unique_name("list-real");
    let _server = ServerOptions::new().create(&real).unwrap();
    let found = list().unwrap();
    assert!(found.iter().all(|l| l.name != name && l.name != long));
    assert!(found.iter().any(|l| l.name == real));
}

/// A hostile server at the address of `at`: answers every connection with `reply` (after
/// reading the request) until [`FakeServer::stop`].
struct FakeServer {
    fd: i32,
    thread: std::thread::JoinHandle<()>,
}

impl FakeServer {
    fn start(at: &str, reply: Vec<u8>) -> FakeServer {
        let fd = util::raw_listen(at);
        let thread = std::thread::spawn(move || loop {
            // SAFETY: `fd` stays open until `stop` has joined this thread.
            let conn = unsafe { libc::accept4(fd, std::ptr::null_mut(), std::ptr::null_mut(), 0) };
            if conn < 0 {
                // `stop` shut the listener down.
                return;
            }
            // SAFETY: `conn` is the descriptor accept4 just made.
            let conn = unsafe { OwnedFd::from_raw_fd(conn) };
            let fd = std::os::fd::AsRawFd::as_raw_fd(&conn);
            let _ = util::raw_recv(fd);
            // SAFETY: `reply` is a live buffer of its length.
            unsafe { libc::send(fd, reply.as_ptr().cast(), reply.len(), libc::MSG_NOSIGNAL) };
        });
        FakeServer { fd, thread }
    }

    fn stop(self) {
        // SAFETY: shutting down the listener this struct owns wakes the blocked accept4.
        unsafe { libc::shutdown(self.fd, libc::SHUT_RDWR) };
        self.thread.join().unwrap();
        // SAFETY: the thread is gone; nothing else uses the descriptor.
        unsafe { libc::close(self.fd) };
    }
}

/// A Described reply (docs/DESIGN.md, "Handshake frames") built by hand.
fn described(object: u8, name: &str, listening: u32, cur: u32, max: u32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(b"NPR1");
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&6u16.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(&[object, 0, 0, 0]);
    v.extend_from_slice(&listening.to_le_bytes());
    v.extend_from_slice(&[1, 3, 0, 0]);
    for x in [max, 64, 64, 50, cur, 1] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.extend_from_slice(&[0u8; 16]);
    v.extend_from_slice(&(name.len() as u16).to_le_bytes());
    v.extend_from_slice(name.as_bytes());
    v
}

#[test]
fn lying_listeners_are_left_out_and_honest_frames_believed() {
    // Claims another name than the one its address is for.
    let liar = unique_name("list-liar");
    let claimed = unique_name("list-claimed");
    let t1 = FakeServer::start(&liar, described(1, &claimed, 1, 1, 1));
    // Claims to be a mailslot at a pipe address.
    let kind = unique_name("list-kind");
    let t2 = FakeServer::start(&kind, described(2, &kind, 1, 1, 1));
    // More instances listening than exist.
    let count = unique_name("list-count");
    let t3 = FakeServer::start(&count, described(1, &count, 2, 1, 4));
    // Garbage.
    let junk = unique_name("list-junk");
    let t4 = FakeServer::start(&junk, b"NPR1 this is no frame".to_vec());
    // A frame built by hand as the design documents it is believed (the format is what the
    // documentation says).
    let honest = unique_name("list-honest");
    let t5 = FakeServer::start(&honest, described(1, &honest, 1, 2, 3));
    let found = list().unwrap();
    for n in [&liar, &claimed, &kind, &count, &junk] {
        assert!(found.iter().all(|l| &l.name != n), "{n} listed: {found:?}");
    }
    let h = found
        .iter()
        .find(|l| l.name == honest)
        .expect("honest listed");
    assert_eq!((h.listening, h.instances, h.max_instances), (1, 2, 3));
    assert_eq!(h.server_pid, Some(std::process::id()));
    for t in [t1, t2, t3, t4, t5] {
        t.stop();
    }
}

#[test]
fn mailslot_listing_is_one_reader() {
    let leaf = unique_name("list-slot")
        .rsplit('\\')
        .next()
        .unwrap()
        .to_owned();
    let name = format!(r"\\.\MailSlot\{leaf}\Sub");
    let slot = npipe::MailslotOptions::new()
        .max_message_size(300)
        .create(&name)
        .unwrap();
    let l = list().unwrap();
    let me = l.iter().find(|l| l.name == name).expect("listed");
    assert_eq!(me.kind, ListingKind::Mailslot);
    assert_eq!(me.leaf, format!(r"{leaf}\Sub"));
    assert_eq!(
        (me.pipe_mode, me.direction),
        (PipeMode::Message, Direction::Inbound)
    );
    assert_eq!(
        (me.instances, me.max_instances, me.out_buffer_size),
        (1, 1, 300)
    );
    // Listing is no write: nothing arrived.
    assert_eq!(slot.info().unwrap().count, 0);
}
