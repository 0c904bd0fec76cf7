//! Areas of closed connections kept for the next connection between the same two processes
//! (issue 13, `transport::queue::recycle`). A client process that connects again and again to
//! one server works in a few areas instead of a new memfd each time; every connection sees
//! only its own data, whatever the one before left behind; a forked child never sees a
//! connection its parent makes after the fork; and an area never serves any other process
//! than the two that parked it.
//!
//! The areas a process maps are read from /proc/self/maps (memfds named `npipe-conn`; a
//! memfd's inode number is not handed out again while the system runs).

mod util;

use std::collections::BTreeSet;
use std::io::Write;

use npipe::error::code::*;
use npipe::{win32_code, ClientOptions, ReadMode};
use util::{child, connect_while, unique_name, wait_child};

child_roles! {
    "reuse_client" => role_reuse_client,
    "fork_client" => role_fork_client,
}

/// The message of connection `k` in direction `dir` (0: server to client), `len` bytes.
fn payload(k: usize, dir: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (k as u8).wrapping_mul(29) ^ (i as u8) ^ dir.wrapping_mul(0x3c))
        .collect()
}

/// The inodes of the connection areas mapped in this process now.
fn area_inodes() -> BTreeSet<u64> {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps");
    maps.lines()
        .filter(|l| l.contains("/memfd:npipe-conn"))
        .filter_map(|l| l.split_whitespace().nth(4)?.parse().ok())
        .collect()
}

/// One connection of a client process: checks that it starts empty, sends its message, reads
/// the answer (only its start when `k % 5 == 1`), waits for the server's extra messages
/// (`k % 3 == 0`, and `secret` bytes more) and leaves them unread, and returns the areas
/// mapped while it was open.
fn client_round(name: &str, k: usize, secret: usize) -> Result<BTreeSet<u64>, String> {
    let c = util::open_waiting(name).map_err(|e| format!("connection {k}: {e}"))?;
    c.set_mode(ReadMode::Message, false)
        .map_err(|e| e.to_string())?;
    let avail = c.peek(None).map_err(|e| e.to_string())?.available;
    if avail != 0 {
        return Err(format!(
            "connection {k}: {avail} bytes before anything was sent"
        ));
    }
    (&c).write_all(&payload(k, 1, 1 + k % 300))
        .map_err(|e| e.to_string())?;
    let want = payload(k, 0, 10 + k % 90);
    let mut got = vec![0u8; if k % 5 == 1 { 4 } else { 4096 }];
    let m = c.recv_msg(&mut got).map_err(|e| format!("read {k}: {e}"))?;
    if got[..m.read] != want[..m.read] || m.read + m.left as usize != want.len() {
        return Err(format!("connection {k}: got another connection's data"));
    }
    // What stays unread when this end closes.
    let left = m.left as usize + if k.is_multiple_of(3) { 50 } else { 0 } + secret;
    let end = std::time::Instant::now() + util::PEER_WAIT;
    loop {
        let avail = c.peek(None).map_err(|e| e.to_string())?.available as usize;
        if avail == left {
            break;
        }
        if avail > left || std::time::Instant::now() > end {
            return Err(format!("connection {k}: {avail} bytes unread, want {left}"));
        }
        std::thread::yield_now();
    }
    Ok(area_inodes())
}

/// The server's side of [`client_round`] on `s`, for a client that `ended` watches.
/// `extra`, when given, is written last and left unread.
fn serve_round(
    s: &npipe::NamedPipeServer,
    k: usize,
    extra: Option<&[u8]>,
    ended: impl FnMut() -> Option<String>,
) -> Result<(), String> {
    connect_while(s, ended)?;
    let mut b = vec![0u8; 4096];
    let m = s
        .recv_msg_timeout(&mut b, util::PEER_WAIT)
        .map_err(|e| format!("read {k}: {e}"))?;
    if b[..m.read] != payload(k, 1, 1 + k % 300)[..] {
        return Err(format!("connection {k}: the client's message changed"));
    }
    s.send_msg(&payload(k, 0, 10 + k % 90))
        .map_err(|e| e.to_string())?;
    if k.is_multiple_of(3) {
        s.send_msg(&payload(k, 2, 50)).map_err(|e| e.to_string())?;
    }
    if let Some(secret) = extra {
        s.send_msg(secret).map_err(|e| e.to_string())?;
    }
    // Wait for the client to close (it reads first), so nothing it reads is discarded.
    match s.recv_msg_timeout(&mut b, util::PEER_WAIT) {
        Err(e) if win32_code(&e) == ERROR_BROKEN_PIPE => {}
        other => {
            return Err(format!(
                "connection {k}: want the client's close, got {other:?}"
            ))
        }
    }
    s.disconnect().map_err(|e| e.to_string())
}

/// `arg`: "name|rounds|most areas|file". Makes `rounds` connections, fails when they used
/// more than `most areas`, and writes the areas' inodes to `file`.
fn role_reuse_client(arg: &str) -> Result<(), String> {
    let p: Vec<&str> = arg.split('|').collect();
    let [name, rounds, most, file] = p[..] else {
        return Err("bad argument".into());
    };
    let rounds: usize = rounds.parse().map_err(|_| "bad count")?;
    let most: usize = most.parse().map_err(|_| "bad bound")?;
    let mut seen = BTreeSet::new();
    for k in 0..rounds {
        seen.extend(client_round(name, k, 0)?);
    }
    let list: Vec<String> = seen.iter().map(|i| i.to_string()).collect();
    std::fs::write(file, list.join("\n")).map_err(|e| e.to_string())?;
    if seen.len() > most {
        return Err(format!(
            "{rounds} connections used {} areas, want at most {most}",
            seen.len()
        ));
    }
    Ok(())
}

fn temp_file(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("npipe-test-{tag}-{}", std::process::id()))
}

fn read_inodes(path: &std::path::Path) -> BTreeSet<u64> {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let _ = std::fs::remove_file(path);
    s.lines().filter_map(|l| l.parse().ok()).collect()
}

/// A client process connecting 100 times in a row works in a few areas (a new memfd per
/// connection would be 100; a park that comes late, after the next open, costs one more), and
/// each connection sees only its own data although the one before left an unread or a partly
/// read message behind.
#[test]
fn a_client_process_reuses_a_few_areas_and_sees_only_its_own_data() {
    const ROUNDS: usize = 100;
    let name = unique_name("reuse");
    let s = util::message_server(&name, 1);
    let file = temp_file("reuse");
    let mut kid = child(
        "reuse_client",
        &format!("{name}|{ROUNDS}|25|{}", file.display()),
    );
    for k in 0..ROUNDS {
        let r = serve_round(&s, k, None, || util::child_exited(&mut kid));
        if let Err(e) = r {
            let _ = kid.kill();
            panic!("{e}");
        }
    }
    let st = wait_child(&mut kid, util::CHILD_LIMIT).unwrap();
    assert!(st.success(), "client failed: {st}");
    assert!(
        !read_inodes(&file).is_empty(),
        "the client wrote what it mapped"
    );
}

/// Two client processes at once, through two instances, each reusing its own areas: every
/// message arrives intact on both sides, and neither client ever maps an area the other used.
#[test]
fn two_client_processes_never_share_an_area() {
    const ROUNDS: usize = 60;
    let name = unique_name("reuse-two");
    let servers = [
        util::message_server(&name, 2),
        util::message_server(&name, 2),
    ];
    let files = [temp_file("reuse-a"), temp_file("reuse-b")];
    let kids: Vec<_> = files
        .iter()
        .map(|f| {
            std::sync::Mutex::new(child(
                "reuse_client",
                &format!("{name}|{ROUNDS}|30|{}", f.display()),
            ))
        })
        .collect();
    let ended = || {
        kids.iter()
            .all(|k| k.lock().unwrap().try_wait().ok().flatten().is_some())
            .then(|| "both clients exited".to_string())
    };
    std::thread::scope(|sc| {
        let served: Vec<_> = servers
            .iter()
            .map(|s| {
                sc.spawn(move || {
                    let mut k = 0;
                    // Each instance serves whichever client comes; the rounds of one client
                    // are numbered by the client, so the server only checks the framing.
                    loop {
                        if connect_while(s, ended).is_err() {
                            return k;
                        }
                        let mut b = vec![0u8; 4096];
                        let Ok(m) = s.recv_msg_timeout(&mut b, util::PEER_WAIT) else {
                            let _ = s.disconnect();
                            continue;
                        };
                        // The client numbers its message k by its length 1 + k % 300.
                        let kk = m.read - 1;
                        assert_eq!(
                            b[..m.read],
                            payload(kk, 1, m.read)[..],
                            "a client's message changed"
                        );
                        let _ = s.send_msg(&payload(kk, 0, 10 + kk % 90));
                        if kk.is_multiple_of(3) {
                            let _ = s.send_msg(&payload(kk, 2, 50));
                        }
                        let _ = s.recv_msg_timeout(&mut b, util::PEER_WAIT);
                        let _ = s.disconnect();
                        k += 1;
                    }
                })
            })
            .collect();
        for kid in &kids {
            let st = wait_child(&mut kid.lock().unwrap(), util::CHILD_LIMIT).unwrap();
            assert!(st.success(), "a client failed: {st}");
        }
        let total: usize = served.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(total, 2 * ROUNDS);
    });
    let a = read_inodes(&files[0]);
    let b = read_inodes(&files[1]);
    assert!(!a.is_empty() && !b.is_empty());
    assert!(
        a.is_disjoint(&b),
        "areas used by both clients: {:?}",
        a.intersection(&b).collect::<Vec<_>>()
    );
}

/// What the server writes to a client after its fork, and what the forked child must never
/// find in the areas it inherited.
const AFTER_FORK: &[u8] = b"written-only-after-the-fork";

/// Whether any connection area mapped in this process holds `needle` (read through
/// /proc/self/mem, so a range the kernel refuses is skipped instead of faulting).
fn areas_hold(needle: &[u8]) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let Ok(mut mem) = std::fs::File::open("/proc/self/mem") else {
        return false;
    };
    for l in maps.lines().filter(|l| l.contains("/memfd:npipe-conn")) {
        let Some((a, b)) = l.split_whitespace().next().and_then(|r| r.split_once('-')) else {
            continue;
        };
        let (Ok(a), Ok(b)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) else {
            continue;
        };
        // The header and the first pages of each ring are all a small connection uses.
        let mut buf = vec![0u8; ((b - a) as usize).min(8 << 20)];
        if mem.seek(SeekFrom::Start(a)).is_err() {
            continue;
        }
        let n = mem.read(&mut buf).unwrap_or(0);
        if buf[..n].windows(needle.len()).any(|w| w == needle) {
            return true;
        }
    }
    false
}

/// `arg`: "name|rounds". Makes `rounds` connections (leaving areas parked), forks a child that
/// keeps every mapping it inherited, and makes `rounds` more, whose server writes
/// [`AFTER_FORK`]: the child must never see it in anything it inherited (no area the child
/// maps may serve the parent again), and the parent keeps reusing areas.
fn role_fork_client(arg: &str) -> Result<(), String> {
    let (name, rounds) = arg.split_once('|').ok_or("bad argument")?;
    let rounds: usize = rounds.parse().map_err(|_| "bad count")?;
    let mut before = BTreeSet::new();
    for k in 0..rounds {
        before.extend(client_round(name, k, 0)?);
    }
    before.extend(area_inodes());
    let mut fds = [0; 2];
    // SAFETY: a plain pipe(2) into a live array.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err("pipe failed".into());
    }
    // SAFETY: the child only reads its own memory and leaves with _exit, running no
    // destructors.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err("fork failed".into());
    }
    if pid == 0 {
        // SAFETY: closing the write end this child does not use.
        unsafe { libc::close(fds[1]) };
        let mut leaked = false;
        loop {
            leaked |= areas_hold(AFTER_FORK);
            let mut p = libc::pollfd {
                fd: fds[0],
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: poll on one live pollfd.
            let r = unsafe { libc::poll(&mut p, 1, 5) };
            if r != 0 {
                // The parent is done (its write end closed): one last look.
                leaked |= areas_hold(AFTER_FORK);
                break;
            }
        }
        // SAFETY: terminating the child without unwinding.
        unsafe { libc::_exit(if leaked { 3 } else { 0 }) };
    }
    // SAFETY: closing the read end this process does not use.
    unsafe { libc::close(fds[0]) };
    let mut after = BTreeSet::new();
    let mut r = Ok(());
    for k in rounds..2 * rounds {
        match client_round(name, k, AFTER_FORK.len()) {
            Ok(seen) => after.extend(seen),
            Err(e) => {
                r = Err(e);
                break;
            }
        }
    }
    // SAFETY: closing our write end tells the child we are done.
    unsafe { libc::close(fds[1]) };
    let status = util::wait_forked(pid);
    r?;
    if !util::forked_ok(status) {
        return Err(format!(
            "the forked child saw what the server wrote after the fork ({status:?})"
        ));
    }
    // Areas parked before the fork were left out of the child, so they may serve again.
    let new: Vec<_> = after.difference(&before).collect();
    if new.len() > rounds / 2 {
        return Err(format!(
            "{rounds} connections after the fork used {} new areas",
            new.len()
        ));
    }
    Ok(())
}

#[test]
fn a_forked_child_never_sees_connections_made_after_the_fork() {
    const ROUNDS: usize = 30;
    let name = unique_name("reuse-fork");
    let s = util::message_server(&name, 1);
    let mut kid = child("fork_client", &format!("{name}|{ROUNDS}"));
    for k in 0..2 * ROUNDS {
        let extra = (k >= ROUNDS).then_some(AFTER_FORK);
        if let Err(e) = serve_round(&s, k, extra, || util::child_exited(&mut kid)) {
            let _ = kid.kill();
            panic!("{e}");
        }
    }
    let st = wait_child(&mut kid, util::CHILD_LIMIT).unwrap();
    assert!(st.success(), "client failed: {st}");
}

/// A fake server's answer to a request.
type Answer = fn(&[u8]) -> Vec<u8>;

/// A fake server: accepts `answers.len()` connections on `name` one after another, reads each
/// one's request and sends the answer `answers[i](request)`; returns the requests.
fn fake_server(name: &str, answers: Vec<Answer>) -> std::thread::JoinHandle<Vec<Vec<u8>>> {
    let lfd = util::raw_listen(name);
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        for answer in answers {
            // SAFETY: accepting on our listening socket without an address buffer.
            let fd = unsafe { libc::accept(lfd, std::ptr::null_mut(), std::ptr::null_mut()) };
            assert!(fd >= 0);
            let (req, _) = util::raw_recv(fd);
            util::raw_send(fd, &answer(&req));
            seen.push(req);
            // Let the client read the answer before the socket goes.
            let _ = util::raw_recv(fd);
            // SAFETY: closing a descriptor this thread owns.
            unsafe { libc::close(fd) };
        }
        // SAFETY: as above.
        unsafe { libc::close(lfd) };
        seen
    })
}

/// A reply frame's start (docs/DESIGN.md, "Handshake frames"): kind and error code.
fn reply_head(kind: u16, error: u32) -> Vec<u8> {
    let mut v = b"NPR1".to_vec();
    v.extend_from_slice(&1u16.to_le_bytes());
    v.extend_from_slice(&kind.to_le_bytes());
    v.extend_from_slice(&error.to_le_bytes());
    v
}

/// The length of an Open request without the claims field: the fixed part and the name.
fn plain_len(req: &[u8]) -> usize {
    18 + u16::from_le_bytes([req[16], req[17]]) as usize
}

/// A server of an earlier build refuses an Open with the claims field it does not know
/// (ERROR_INVALID_DATA, "trailing bytes"): the client asks again without it and gets that
/// server's real answer.
#[test]
fn a_client_asks_again_without_claims_when_an_earlier_server_refuses_them() {
    let name = unique_name("reuse-old");
    let server = fake_server(
        &name,
        vec![
            // Refuses trailing bytes as the decoder of an earlier build does; the second
            // answer is the server's real one.
            |req: &[u8]| reply_head(2, if req.len() > plain_len(req) { 13 } else { 1 }),
            |_: &[u8]| reply_head(2, ERROR_ACCESS_DENIED),
        ],
    );
    let e = ClientOptions::new()
        .open(&name)
        .expect_err("the fake server refuses");
    assert_eq!(win32_code(&e), ERROR_ACCESS_DENIED, "{e}");
    let seen = server.join().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(
        seen[0].len() > plain_len(&seen[0]),
        "the first request carries the claims field"
    );
    assert_eq!(seen[1].len(), plain_len(&seen[1]), "the second does not");
}

/// A server that answers "reused" for an area the open did not name: ERROR_BAD_PIPE with
/// `InvalidData`, as any other bad handshake.
#[test]
fn a_reuse_the_client_did_not_claim_is_a_bad_pipe() {
    let name = unique_name("reuse-unclaimed");
    let server = fake_server(
        &name,
        vec![|_: &[u8]| {
            let mut v = reply_head(1, 0);
            v.extend_from_slice(&[1, 3, 0, 0]);
            for x in [1u32, 4096, 4096, 50, 1, 1] {
                v.extend_from_slice(&x.to_le_bytes());
            }
            v.extend_from_slice(&(1u64 << 16).to_le_bytes());
            v.extend_from_slice(&(1u64 << 16).to_le_bytes());
            v.extend_from_slice(&0x5eed_5eed_5eed_5eedu64.to_le_bytes());
            v.extend_from_slice(&[1, 0, 0, 0]);
            v
        }],
    );
    let e = ClientOptions::new()
        .open(&name)
        .expect_err("an area nobody claimed");
    assert_eq!(
        (e.kind(), win32_code(&e)),
        (std::io::ErrorKind::InvalidData, ERROR_BAD_PIPE),
        "{e}"
    );
    server.join().unwrap();
}
