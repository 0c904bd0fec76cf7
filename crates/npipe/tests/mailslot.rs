//! Mailslots across processes (W141-W152): one reader, writers in other processes, whole
//! messages FIFO across writers, exact GetMailslotInfo, timeouts, the memory cap, and faults:
//! writers that are stopped, hostile or handed big messages cannot disturb the others.

mod util;

use std::io::{self, BufRead, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use npipe::error::code::*;
use npipe::{win32_code, Mailslot, MailslotOptions, MailslotWriter};
use util::{child, child_command, eventually, expect_ok, open_request, raw_connect, raw_send};

fn slot_name(tag: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        r"\\.\mailslot\npipe-test\{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn code_of<T: std::fmt::Debug>(r: io::Result<T>) -> u32 {
    win32_code(&r.expect_err("expected an error"))
}

// Child roles ---------------------------------------------------------------------------------

/// Opens the mailslot and sends each `|`-separated part of the argument after the name as one
/// message (`<empty>` is a zero-length message).
fn role_send(arg: &str) -> Result<(), String> {
    let mut parts = arg.split('|');
    let name = parts.next().ok_or("no name")?;
    let w = MailslotWriter::open(name).map_err(|e| e.to_string())?;
    for p in parts {
        let msg: &[u8] = if p == "<empty>" { b"" } else { p.as_bytes() };
        w.send(msg).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Sends `count` messages `TAG:SEQ:` padded to a size that varies with SEQ.
fn role_flood(arg: &str) -> Result<(), String> {
    let v: Vec<&str> = arg.split('|').collect();
    let (name, tag, count) = (
        v[0],
        v[1],
        v[2].parse::<usize>().map_err(|e| e.to_string())?,
    );
    let w = MailslotWriter::open(name).map_err(|e| e.to_string())?;
    for seq in 0..count {
        let mut m = format!("{tag}:{seq}:").into_bytes();
        m.resize(m.len() + (seq * 37) % 300, tag.as_bytes()[0]);
        // A full queue is reported, never silent: retry until the reader made room.
        loop {
            match w.send(&m) {
                Ok(()) => break,
                Err(e) if win32_code(&e) == ERROR_NOT_ENOUGH_QUOTA => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => return Err(format!("send {seq}: {e}")),
            }
        }
    }
    Ok(())
}

/// Tries to create a mailslot that already exists in the parent: must get ERROR_ALREADY_EXISTS.
fn role_create_taken(name: &str) -> Result<(), String> {
    match Mailslot::create(name) {
        Err(e) if win32_code(&e) == ERROR_ALREADY_EXISTS => Ok(()),
        other => Err(format!("expected ERROR_ALREADY_EXISTS, got {other:?}")),
    }
}

/// Creates a small mailslot and sleeps until killed.
fn role_serve_forever(name: &str) -> Result<(), String> {
    let _m = MailslotOptions::new()
        .queue_capacity(4096)
        .create(name)
        .map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_secs(60));
    Ok(())
}

/// Opens the mailslot, sends "ready", stops itself with SIGSTOP, and sends "resumed" once
/// continued.
fn role_open_then_stop(name: &str) -> Result<(), String> {
    let w = MailslotWriter::open(name).map_err(|e| e.to_string())?;
    w.send(b"ready").map_err(|e| e.to_string())?;
    // SAFETY: raise only sends a signal to this process.
    unsafe { libc::raise(libc::SIGSTOP) };
    w.send(b"resumed").map_err(|e| e.to_string())
}

/// Sends `TAG:SEQ:` messages padded to SIZE bytes in a loop until the mailslot closes, with at
/// most WINDOW messages unread: one byte on stdin from the test grants one more.
fn role_stream(arg: &str) -> Result<(), String> {
    let v: Vec<&str> = arg.split('|').collect();
    let (name, tag) = (v[0], v[1]);
    let size: usize = v[2].parse().map_err(|e| format!("{e}"))?;
    let window: usize = v[3].parse().map_err(|e| format!("{e}"))?;
    let w = MailslotWriter::open(name).map_err(|e| e.to_string())?;
    let mut msg = vec![tag.as_bytes()[0]; size];
    let mut stdin = io::stdin().lock();
    for seq in 0usize.. {
        if seq >= window {
            let mut credit = [0u8; 1];
            if io::Read::read(&mut stdin, &mut credit).map_err(|e| e.to_string())? == 0 {
                return Ok(());
            }
        }
        let head = format!("{tag}:{seq}:");
        msg[..head.len()].copy_from_slice(head.as_bytes());
        loop {
            match w.send(&msg) {
                Ok(()) => break,
                Err(e) if win32_code(&e) == ERROR_NOT_ENOUGH_QUOTA => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) if win32_code(&e) == ERROR_NO_DATA => return Ok(()),
                Err(e) => return Err(format!("send {seq}: {e}")),
            }
        }
    }
    Ok(())
}

/// Sends one message per `SIZE:SEED` part after the name, filled with [`pattern`].
fn role_big(arg: &str) -> Result<(), String> {
    let mut parts = arg.split('|');
    let name = parts.next().ok_or("no name")?;
    let w = MailslotWriter::open(name).map_err(|e| e.to_string())?;
    for p in parts {
        let (size, seed) = p.split_once(':').ok_or("SIZE:SEED")?;
        let size: usize = size.parse().map_err(|e| format!("{e}"))?;
        let seed: u8 = seed.parse().map_err(|e| format!("{e}"))?;
        w.send(&pattern(size, seed))
            .map_err(|e| format!("{size} bytes: {e}"))?;
    }
    Ok(())
}

/// What [`role_script`] prints after each send (the test harness prints its own lines too).
const SENT: &str = "npipe-test-sent";

/// Opens a writer and sends what stdin says, one line per message (`s TEXT`, `e` for an empty
/// message, `b SIZE SEED` for [`pattern`]), answering [`SENT`] on stdout after each send
/// returned.
fn role_script(name: &str) -> Result<(), String> {
    let w = MailslotWriter::open(name).map_err(|e| e.to_string())?;
    let mut out = io::stdout().lock();
    for line in io::stdin().lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        let msg = match line.split(' ').collect::<Vec<_>>()[..] {
            ["s", text] => text.as_bytes().to_vec(),
            ["e"] => Vec::new(),
            ["b", size, seed] => pattern(
                size.parse().map_err(|e| format!("{e}"))?,
                seed.parse().map_err(|e| format!("{e}"))?,
            ),
            _ => return Err(format!("bad command {line:?}")),
        };
        w.send(&msg).map_err(|e| format!("{line}: {e}"))?;
        writeln!(out, "{SENT}").map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
    }
    Ok(())
}

child_roles! {
    "send" => role_send,
    "flood" => role_flood,
    "create_taken" => role_create_taken,
    "serve_forever" => role_serve_forever,
    "open_then_stop" => role_open_then_stop,
    "stream" => role_stream,
    "big" => role_big,
    "script" => role_script,
}

// Helpers -------------------------------------------------------------------------------------

/// `size` bytes that differ with position and `seed`, so a torn, shifted or mixed-up message
/// shows.
fn pattern(size: usize, seed: u8) -> Vec<u8> {
    (0..size)
        .map(|i| (i as u32).wrapping_mul(31).wrapping_add(i as u32 >> 11) as u8 ^ seed)
        .collect()
}

/// Kills (SIGKILL) and reaps a child when dropped, so a failing test leaves no stopped child.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(c: &Child, sig: i32) {
    // SAFETY: kill only sends a signal to our own child process.
    assert_eq!(unsafe { libc::kill(c.id() as i32, sig) }, 0);
}

/// Waits until `c` is stopped (state T in /proc).
fn wait_stopped(c: &Child) {
    let path = format!("/proc/{}/stat", c.id());
    assert!(
        eventually(Duration::from_secs(10), || {
            std::fs::read_to_string(&path).is_ok_and(|s| {
                s.rsplit_once(") ")
                    .is_some_and(|(_, rest)| rest.starts_with('T'))
            })
        }),
        "the child did not stop"
    );
}

/// Sends `msg` from another thread and fails the test unless the send returns at once: a
/// write must never wait for another writer.
fn send_promptly(w: &Arc<MailslotWriter>, msg: Vec<u8>) {
    let (done, result) = mpsc::channel();
    let w = w.clone();
    std::thread::spawn(move || {
        let t0 = Instant::now();
        let r = w.send(&msg).map_err(|e| e.to_string());
        let _ = done.send((r, t0.elapsed()));
    });
    match result.recv_timeout(Duration::from_secs(3)) {
        Ok((Ok(()), took)) => assert!(took < Duration::from_millis(500), "the write took {took:?}"),
        Ok((Err(e), _)) => panic!("the write failed: {e}"),
        Err(_) => panic!("a write waited for a stopped writer"),
    }
}

/// Receives one packet with every descriptor that came with it.
fn recv_with_fds(fd: RawFd) -> (Vec<u8>, Vec<OwnedFd>) {
    let mut buf = vec![0u8; 256];
    let mut cbuf = [0u64; 16];
    let mut fds = Vec::new();
    // SAFETY: msghdr points at live buffers of the stated sizes; every descriptor the kernel
    // installed is taken over exactly once.
    unsafe {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
        let n = libc::recvmsg(fd, &mut msg, libc::MSG_CMSG_CLOEXEC);
        assert!(n >= 0, "recvmsg: {}", io::Error::last_os_error());
        buf.truncate(n as usize);
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let bytes = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let p = libc::CMSG_DATA(c) as *const i32;
                for k in 0..bytes / 4 {
                    fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(p.add(k))));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    (buf, fds)
}

/// The handshake a writer makes, done by hand: the reply and every descriptor sent with it.
fn raw_open(name: &str) -> (Vec<u8>, Vec<OwnedFd>) {
    let fd = raw_connect(name);
    raw_send(fd, &open_request(name));
    let r = recv_with_fds(fd);
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    r
}

/// Sends one record with `fds` attached, never waiting.
fn send_with_fds(fd: RawFd, data: &[u8], fds: &[RawFd]) -> io::Result<()> {
    let mut cbuf = [0u64; 16];
    // SAFETY: msghdr points at live buffers; the control buffer has room for the 8 descriptors
    // a test passes at most (asserted).
    let n = unsafe {
        assert!(fds.len() <= 8);
        let mut iov = libc::iovec {
            iov_base: data.as_ptr() as *mut _,
            iov_len: data.len(),
        };
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        if !fds.is_empty() {
            msg.msg_control = cbuf.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE((4 * fds.len()) as u32) as _;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN((4 * fds.len()) as u32) as _;
            let p = libc::CMSG_DATA(c) as *mut i32;
            for (k, fd) in fds.iter().enumerate() {
                std::ptr::write_unaligned(p.add(k), *fd);
            }
        }
        libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    assert_eq!(n as usize, data.len());
    Ok(())
}

const ALL_SEALS: i32 =
    libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE | libc::F_SEAL_SEAL;

/// A memfd named "npipe-hostile" holding `data`, with `seals` added.
fn memfd(data: &[u8], seals: i32) -> OwnedFd {
    // SAFETY: plain libc calls on a descriptor we create and own.
    unsafe {
        let fd = libc::memfd_create(
            c"npipe-hostile".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        );
        assert!(fd >= 0);
        let fd = OwnedFd::from_raw_fd(fd);
        if !data.is_empty() {
            let n = libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len());
            assert_eq!(n as usize, data.len());
        }
        if seals != 0 {
            assert_eq!(libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals), 0);
        }
        fd
    }
}

/// The record that announces a message of `len` bytes in an attached memfd.
fn memfd_record(len: u64) -> Vec<u8> {
    let mut r = vec![2u8, 0, 0, 0, 0, 0, 0, 0];
    r.extend_from_slice(&len.to_le_bytes());
    r
}

/// Descriptors of this process whose target mentions `what`.
fn open_fds_named(what: &str) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|t| t.to_string_lossy().contains(what))
        .count()
}

/// A writer process driven line by line ([`role_script`]).
struct Script {
    _child: Reap,
    stdin: std::process::ChildStdin,
    stdout: io::BufReader<std::process::ChildStdout>,
}

impl Script {
    fn start(name: &str) -> Script {
        let mut c = child_command("script", name)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn writer");
        let stdin = c.stdin.take().unwrap();
        let stdout = io::BufReader::new(c.stdout.take().unwrap());
        Script {
            _child: Reap(c),
            stdin,
            stdout,
        }
    }

    /// Sends one message and returns once the writer's send has returned.
    fn send(&mut self, cmd: &str) {
        writeln!(self.stdin, "{cmd}").unwrap();
        loop {
            let mut line = String::new();
            assert_ne!(
                self.stdout.read_line(&mut line).unwrap(),
                0,
                "writer: {cmd}"
            );
            // The harness may have printed "test child_process_entry ... " on the same line.
            if line.trim_end().ends_with(SENT) {
                return;
            }
        }
    }
}

// Tests ---------------------------------------------------------------------------------------

/// W149, W150: two writer processes; whole messages, FIFO across writers, exact next size and
/// count as messages come and go, the empty message kept, then ERROR_SEM_TIMEOUT.
#[test]
fn fifo_whole_messages_across_writer_processes() {
    let name = slot_name("fifo");
    let m = MailslotOptions::new()
        .read_timeout(Some(Duration::ZERO))
        .create(&name)
        .unwrap();
    let i = m.info().unwrap();
    assert_eq!((i.next_size, i.count), (None, 0));
    expect_ok(child("send", &format!("{name}|a")));
    let i = m.info().unwrap();
    assert_eq!((i.next_size, i.count), (Some(1), 1));
    expect_ok(child("send", &format!("{name}|bc|<empty>")));
    let i = m.info().unwrap();
    assert_eq!((i.next_size, i.count), (Some(1), 3));

    let mut buf = [0u8; 64];
    assert_eq!(m.read(&mut buf).unwrap(), 1);
    assert_eq!(&buf[..1], b"a");
    let i = m.info().unwrap();
    assert_eq!((i.next_size, i.count), (Some(2), 2));
    assert_eq!(m.read(&mut buf).unwrap(), 2);
    assert_eq!(&buf[..2], b"bc");
    let i = m.info().unwrap();
    assert_eq!(
        (i.next_size, i.count),
        (Some(0), 1),
        "an empty message is next"
    );
    assert_eq!(m.read(&mut buf).unwrap(), 0);
    let i = m.info().unwrap();
    assert_eq!((i.next_size, i.count), (None, 0));
    assert_eq!(code_of(m.read(&mut buf)), ERROR_SEM_TIMEOUT);
}

/// W149, W151: four writer processes flood one small queue while the reader drains it; every
/// message arrives whole and each writer's messages arrive in order. A full queue makes writers
/// fail with ERROR_NOT_ENOUGH_QUOTA (they retry), nothing is lost or torn.
#[test]
fn concurrent_writer_processes_never_tear_or_lose_messages() {
    let name = slot_name("flood");
    let m = MailslotOptions::new()
        .queue_capacity(8192)
        .read_timeout(Some(Duration::from_secs(20)))
        .create(&name)
        .unwrap();
    const PER: usize = 400;
    let tags = ["A", "B", "C", "D"];
    let kids: Vec<_> = tags
        .iter()
        .map(|t| child("flood", &format!("{name}|{t}|{PER}")))
        .collect();
    let mut next = [0usize; 4];
    let mut buf = vec![0u8; 1024];
    for _ in 0..PER * tags.len() {
        let n = m.read(&mut buf).unwrap();
        let msg = &buf[..n];
        let text = String::from_utf8_lossy(msg);
        let mut f = text.splitn(3, ':');
        let tag = f.next().unwrap();
        let seq: usize = f.next().unwrap().parse().unwrap();
        let t = tags.iter().position(|x| *x == tag).expect("known writer");
        assert_eq!(seq, next[t], "writer {tag} in order");
        next[t] += 1;
        let head = format!("{tag}:{seq}:").len();
        assert_eq!(n, head + (seq * 37) % 300, "whole message");
        assert!(
            msg[head..].iter().all(|&b| b == tag.as_bytes()[0]),
            "intact"
        );
    }
    for k in kids {
        expect_ok(k);
    }
    assert_eq!(m.info().unwrap().count, 0);
}

/// W141, W143, W144, W152: name rules, one server per name (also from another process), the
/// name disappears with the server, pseudo-directories and case-insensitive lookup, and
/// `\\*\mailslot\` reaching the local mailslot.
#[test]
fn names_and_lifetime() {
    assert_eq!(code_of(Mailslot::create("blah")), ERROR_INVALID_NAME);
    assert_eq!(
        code_of(Mailslot::create(r"\\*\mailslot\x")),
        ERROR_INVALID_NAME
    );
    assert_eq!(
        code_of(Mailslot::create(r"\\.\pipe\not-a-mailslot")),
        ERROR_INVALID_NAME
    );
    let name = slot_name(r"Dir\Sub");
    let m = MailslotOptions::new()
        .read_timeout(Some(Duration::ZERO))
        .create(&name)
        .unwrap();
    let i = m.info().unwrap();
    assert_eq!(
        (i.max_message_size, i.read_timeout),
        (0, Some(Duration::ZERO))
    );
    assert_eq!(code_of(Mailslot::create(&name)), ERROR_ALREADY_EXISTS);
    expect_ok(child("create_taken", &name));

    let upper = name.to_uppercase().replace('\\', "/");
    let w = MailslotWriter::open(&upper).unwrap();
    w.send(b"case").unwrap();
    let bcast = name.replacen(r"\\.\", r"\\*\", 1);
    let wb = MailslotWriter::open(&bcast).unwrap();
    (&wb).write_all(b"broadcast").unwrap();
    assert_eq!(m.recv().unwrap(), b"case");
    assert_eq!(m.recv().unwrap(), b"broadcast");

    drop(m);
    assert_eq!(code_of(w.send(b"late")), ERROR_NO_DATA);
    // The name is gone and free again. A child being spawned by another test may hold a copy of
    // the listening socket until its exec, so allow for that window.
    assert!(eventually(Duration::from_secs(10), || {
        MailslotWriter::open(&name).is_err_and(|e| win32_code(&e) == ERROR_FILE_NOT_FOUND)
    }));
    let mut again = None;
    assert!(eventually(Duration::from_secs(10), || {
        again = Mailslot::create(&name).ok();
        again.is_some()
    }));
}

/// W145, W146, W152: timeout 0 fails at once, a timeout fails after it passes, SetMailslotInfo
/// changes it, and a read waiting forever is woken by a write from another process.
#[test]
fn read_timeouts() {
    let name = slot_name("timeout");
    let m = MailslotOptions::new()
        .read_timeout(Some(Duration::ZERO))
        .create(&name)
        .unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(code_of(m.read(&mut buf)), ERROR_SEM_TIMEOUT);
    assert_eq!(code_of(m.read(&mut [])), ERROR_SEM_TIMEOUT, "0-byte read");
    m.set_read_timeout(Some(Duration::from_millis(300)));
    assert_eq!(
        m.info().unwrap().read_timeout,
        Some(Duration::from_millis(300))
    );
    let t0 = Instant::now();
    let e = m.read(&mut buf).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_SEM_TIMEOUT);
    assert_eq!(e.kind(), io::ErrorKind::TimedOut);
    assert!(
        t0.elapsed() >= Duration::from_millis(280),
        "waited the timeout"
    );

    m.set_read_timeout(None);
    // A writer child that fails (or hangs, killed at the limit) sends nothing: this thread then
    // wakes the read below itself, with a message of its own, so the test fails instead of
    // waiting for ever.
    let writer = std::thread::spawn({
        let name = name.clone();
        move || {
            std::thread::sleep(Duration::from_millis(100));
            let mut kid = child("send", &format!("{name}|wake"));
            let r = match util::wait_child(&mut kid, util::CHILD_LIMIT) {
                Ok(st) if st.success() => Ok(()),
                Ok(st) => Err(format!("the writer child failed: {st}")),
                Err(e) => Err(e),
            };
            if r.is_err() {
                let _ = MailslotWriter::open(&name).and_then(|w| w.send(b"no wake"));
            }
            r
        }
    });
    let n = m.read(&mut buf).unwrap();
    if let Err(e) = writer.join().unwrap() {
        panic!("{e}");
    }
    assert_eq!(&buf[..n], b"wake");
}

/// W151: a short buffer fails with ERROR_INSUFFICIENT_BUFFER and consumes nothing; the maximum
/// message size is enforced; a full queue fails loudly and recovers once drained. The queue is
/// the store (its capacity is the memory cap) plus the kernel socket buffer in front of it:
/// messages wait there, in order, while the store is full.
#[test]
fn sizes_quota_and_short_buffers() {
    let name = slot_name("sizes");
    let m = MailslotOptions::new()
        .max_message_size(100)
        .queue_capacity(4096)
        .read_timeout(Some(Duration::ZERO))
        .create(&name)
        .unwrap();
    assert_eq!(m.queue_capacity(), 4096);
    let w = MailslotWriter::open(&name).unwrap();
    w.send(b"0123456789").unwrap();
    let mut small = [0u8; 4];
    let e = m.read(&mut small).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_INSUFFICIENT_BUFFER);
    assert_eq!(m.info().unwrap().next_size, Some(10), "not consumed");
    assert_eq!(m.recv().unwrap(), b"0123456789");

    assert_eq!(code_of(w.send(&[7u8; 101])), ERROR_INVALID_PARAMETER);
    let msg = |k: u32| {
        let mut v = vec![(k % 251) as u8; 100];
        v[..4].copy_from_slice(&k.to_le_bytes());
        v
    };
    let mut sent = 0u32;
    let full = loop {
        match w.send(&msg(sent)) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(win32_code(&full), ERROR_NOT_ENOUGH_QUOTA, "{full}");
    assert_eq!(full.kind(), io::ErrorKind::QuotaExceeded);
    // 100-byte messages take 8 + 104 bytes of the store: 36 fit in 4096. The rest waited in
    // the socket buffer; GetMailslotInfo counts what the store holds (docs/DESIGN.md).
    let in_store = 4096 / 112;
    assert!(sent > in_store, "only {sent} messages were queued");
    eprintln!(
        "a 4096-byte store took {in_store} 100-byte messages, the socket buffer {} more",
        sent - in_store
    );
    assert_eq!(m.info().unwrap().count, in_store);
    for k in 0..sent {
        assert_eq!(m.recv().unwrap(), msg(k), "message {k}");
    }
    assert_eq!(m.info().unwrap().count, 0);
    w.send(b"room again").unwrap();
    assert_eq!(m.recv().unwrap(), b"room again");
}

/// A writer whose mailslot server was killed (so it never closed) gets ERROR_NO_DATA, never a
/// hang or a silent drop.
#[test]
fn server_killed_writer_gets_an_error() {
    let name = slot_name("killed");
    let mut srv = child("serve_forever", &name);
    let mut w = None;
    assert!(eventually(Duration::from_secs(10), || {
        w = MailslotWriter::open(&name).ok();
        w.is_some()
    }));
    let w = w.unwrap();
    srv.kill().unwrap();
    srv.wait().unwrap();
    // Sends until one fails (the first ones may still succeed); a writer that never gets the
    // error fails here after 60 s instead of looping for ever.
    let end = Instant::now() + util::PEER_WAIT;
    let e = loop {
        if let Err(e) = w.send(&[1u8; 200]) {
            break e;
        }
        assert!(
            Instant::now() < end,
            "sends to a killed server never failed"
        );
    };
    assert_eq!(win32_code(&e), ERROR_NO_DATA, "{e}");
}

/// The audit's first hole: a writer used to map the server's queue read-write. Now the
/// handshake hands a writer one socket and nothing else; whatever it tries with it (read from
/// it, map it, connect it elsewhere), the other writers' messages reach the reader whole and in
/// order, and none reaches the hostile writer.
#[test]
fn writer_receives_only_a_socket() {
    let name = slot_name("onlysock");
    let m = MailslotOptions::new()
        .read_timeout(Some(Duration::from_secs(20)))
        .create(&name)
        .unwrap();
    let (reply, fds) = raw_open(&name);
    assert_eq!(&reply[..4], b"NPR1");
    assert_eq!(u16::from_le_bytes([reply[6], reply[7]]), 1, "connected");
    assert_eq!(fds.len(), 1, "exactly one descriptor");
    let fd = fds[0].as_raw_fd();
    // SAFETY: plain libc calls on a descriptor we own, with valid out-pointers.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        assert_eq!(libc::fstat(fd, &mut st), 0);
        assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFSOCK, "a socket");
        assert_eq!(libc::fcntl(fd, libc::F_GET_SEALS), -1, "not a memfd");
        let p = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_SHARED,
            fd,
            0,
        );
        assert_eq!(p, libc::MAP_FAILED, "nothing to map");
    }
    let try_read = || {
        let mut b = [0u8; 512];
        // SAFETY: b is a valid buffer of its length.
        let n = unsafe { libc::recv(fd, b.as_mut_ptr().cast(), b.len(), libc::MSG_DONTWAIT) };
        assert_eq!(n, -1, "the writer's socket never carries messages to it");
    };
    try_read();
    // Connecting the shared socket elsewhere (as a datagram socket would allow, redirecting
    // every writer's messages) is refused.
    let decoy_name = format!("npipe-test-decoy-{}", std::process::id());
    let decoy = {
        use std::os::linux::net::SocketAddrExt;
        let addr =
            std::os::unix::net::SocketAddr::from_abstract_name(decoy_name.as_bytes()).unwrap();
        std::os::unix::net::UnixDatagram::bind_addr(&addr).unwrap()
    };
    // SAFETY: a zeroed sockaddr_un is valid; the name fits (asserted).
    let mut sa: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
    assert!(decoy_name.len() < sa.sun_path.len());
    for (i, b) in decoy_name.bytes().enumerate() {
        sa.sun_path[i + 1] = b as libc::c_char;
    }
    let len = (std::mem::size_of::<libc::sa_family_t>() + 1 + decoy_name.len()) as libc::socklen_t;
    // SAFETY: sa is a valid sockaddr_un of at least `len` bytes.
    let r = unsafe { libc::connect(fd, &sa as *const _ as *const libc::sockaddr, len) };
    assert_eq!(r, -1, "the shared socket cannot be connected elsewhere");

    const PER: usize = 200;
    let tags = ["A", "B"];
    let kids: Vec<_> = tags
        .iter()
        .map(|t| child("flood", &format!("{name}|{t}|{PER}")))
        .collect();
    let mut next = [0usize; 2];
    let mut buf = vec![0u8; 1024];
    for _ in 0..PER * tags.len() {
        let n = m.read(&mut buf).unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let mut f = text.splitn(3, ':');
        let tag = f.next().unwrap();
        let seq: usize = f.next().unwrap().parse().unwrap();
        let t = tags.iter().position(|x| *x == tag).expect("known writer");
        assert_eq!(seq, next[t], "writer {tag} in order");
        next[t] += 1;
        let head = format!("{tag}:{seq}:").len();
        assert_eq!(n, head + (seq * 37) % 300, "whole message");
        try_read();
    }
    for k in kids {
        expect_ok(k);
    }
    let mut b = [0u8; 8];
    decoy.set_nonblocking(true).unwrap();
    assert!(decoy.recv(&mut b).is_err(), "nothing went to the decoy");
    assert_eq!(m.info().unwrap().count, 0);
}

/// Hostile records on the writers' socket: every malformed record is dropped with its
/// descriptors (closed, never mapped unless sealed and of the announced size); the reader never
/// returns garbage or hangs, and the good messages around them all arrive, in order.
#[test]
fn hostile_records_are_dropped() {
    let name = slot_name("hostile");
    let m = MailslotOptions::new()
        .read_timeout(Some(Duration::from_secs(5)))
        .create(&name)
        .unwrap();
    let (_, mut fds) = raw_open(&name);
    let tx = fds.pop().expect("the writer's socket");
    let w = MailslotWriter::open(&name).unwrap();
    let body = pattern(100, 1);
    let mut pipe = [0i32; 2];
    // SAFETY: pipe2 writes two new descriptors into the array, which we then own.
    let r = unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0);
    // SAFETY: both were just created by pipe2 and are owned here only.
    let (pipe_r, pipe_w) =
        unsafe { (OwnedFd::from_raw_fd(pipe[0]), OwnedFd::from_raw_fd(pipe[1])) };
    let sealed = || memfd(&body, ALL_SEALS);
    let mut padded = memfd_record(100);
    padded[3] = 1;
    let mut long = memfd_record(100);
    long.push(0);
    let mut big_inline = vec![1u8];
    big_inline.extend(pattern(100 << 10, 2));
    let cases: Vec<(&str, Vec<u8>, Vec<OwnedFd>)> = vec![
        (
            "length header larger than the memfd",
            memfd_record(200),
            vec![sealed()],
        ),
        (
            "length header smaller than the memfd",
            memfd_record(50),
            vec![sealed()],
        ),
        ("memfd not sealed", memfd_record(100), vec![memfd(&body, 0)]),
        (
            "memfd still writable",
            memfd_record(100),
            vec![memfd(
                &body,
                libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL,
            )],
        ),
        (
            "memfd seals not sealed",
            memfd_record(100),
            vec![memfd(
                &body,
                libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE,
            )],
        ),
        ("two memfds", memfd_record(100), vec![sealed(), sealed()]),
        (
            "six memfds",
            memfd_record(100),
            (0..6).map(|_| sealed()).collect(),
        ),
        ("a pipe instead of a memfd", memfd_record(100), vec![pipe_r]),
        (
            "the writer's own socket",
            memfd_record(100),
            vec![tx.try_clone().unwrap()],
        ),
        (
            "memfd record without a descriptor",
            memfd_record(100),
            vec![],
        ),
        (
            "memfd record cut short",
            memfd_record(100)[..15].to_vec(),
            vec![sealed()],
        ),
        ("memfd record too long", long, vec![sealed()]),
        ("memfd record with padding set", padded, vec![sealed()]),
        (
            "zero-length memfd message",
            memfd_record(0),
            vec![memfd(&[], ALL_SEALS)],
        ),
        (
            "length beyond the store",
            memfd_record(1 << 40),
            vec![sealed()],
        ),
        (
            "inline record with a descriptor",
            b"\x01abc".to_vec(),
            vec![sealed()],
        ),
        ("inline record beyond the inline limit", big_inline, vec![]),
        ("empty record", vec![], vec![]),
        ("unknown tag", b"\x07hello".to_vec(), vec![]),
    ];
    let mut expected = Vec::new();
    for (i, (what, rec, fds)) in cases.into_iter().enumerate() {
        let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
        send_with_fds(tx.as_raw_fd(), &rec, &raw).unwrap_or_else(|e| panic!("{what}: {e}"));
        drop(fds);
        let good = format!("good {i} after {what}").into_bytes();
        w.send(&good).unwrap();
        expected.push(good);
    }
    // Well-formed records sent by hand are accepted: the test speaks the real protocol.
    send_with_fds(tx.as_raw_fd(), b"\x01by hand", &[]).unwrap();
    expected.push(b"by hand".to_vec());
    let big = pattern(100 << 10, 3);
    let fd = memfd(&big, ALL_SEALS);
    send_with_fds(
        tx.as_raw_fd(),
        &memfd_record(big.len() as u64),
        &[fd.as_raw_fd()],
    )
    .unwrap();
    drop(fd);
    expected.push(big);

    let mut buf = vec![0u8; 1 << 20];
    for (k, want) in expected.iter().enumerate() {
        let t0 = Instant::now();
        let n = m
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("message {k}: {e}"));
        assert!(t0.elapsed() < Duration::from_secs(2), "no wait");
        assert_eq!(&buf[..n], &want[..], "message {k}");
    }
    m.set_read_timeout(Some(Duration::ZERO));
    assert_eq!(code_of(m.read(&mut buf)), ERROR_SEM_TIMEOUT, "nothing else");
    let i = m.info().unwrap();
    assert_eq!((i.next_size, i.count), (None, 0));
    // Every descriptor the hostile records carried was closed by the reader: no memfd of ours
    // is open any more, and the pipe has no read end left anywhere.
    assert_eq!(open_fds_named("npipe-hostile"), 0);
    // (A child another test is spawning may hold a copy until its exec: allow for that.)
    let read_end_closed = || {
        let mut p = libc::pollfd {
            fd: pipe_w.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut p, 1, 0) == 1 && p.revents & libc::POLLERR != 0 }
    };
    assert!(
        eventually(Duration::from_secs(10), read_end_closed),
        "the pipe's read end was closed"
    );
    // The mailslot still works for everyone.
    w.send(b"after").unwrap();
    assert_eq!(m.recv().unwrap(), b"after");
}

/// The audit's second hole: writers shared a lock, so one stopped with SIGSTOP (right after
/// opening, or in the middle of a write) blocked every other writer. Now each write of the
/// others returns at once and the reader gets them.
#[test]
fn stopped_writer_does_not_delay_other_writers() {
    let name = slot_name("sigstop");
    let m = Arc::new(
        MailslotOptions::new()
            .queue_capacity(4 << 20)
            .read_timeout(Some(Duration::from_secs(20)))
            .create(&name)
            .unwrap(),
    );
    let w = Arc::new(MailslotWriter::open(&name).unwrap());

    // Stopped right after opening.
    let mut k = Reap(child("open_then_stop", &name));
    assert_eq!(m.recv().unwrap(), b"ready");
    wait_stopped(&k.0);
    for i in 0..50 {
        send_promptly(&w, format!("p{i}").into_bytes());
    }
    for i in 0..50 {
        assert_eq!(m.recv().unwrap(), format!("p{i}").into_bytes());
    }
    signal(&k.0, libc::SIGCONT);
    assert_eq!(m.recv().unwrap(), b"resumed");
    let st = util::wait_child(&mut k.0, util::CHILD_LIMIT).unwrap_or_else(|e| panic!("{e}"));
    assert!(st.success(), "{st}");

    // Stopped again and again in the middle of a loop of 1 MiB writes.
    const SIZE: usize = 1 << 20;
    let mut s = child_command("stream", &format!("{name}|S|{SIZE}|4"))
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut credits = s.stdin.take().unwrap();
    let s = Reap(s);
    let reader = std::thread::spawn({
        let m = m.clone();
        move || {
            let mut xs = Vec::new();
            let mut next = 0usize;
            let mut buf = vec![0u8; SIZE];
            loop {
                let n = m.read(&mut buf).unwrap();
                let msg = &buf[..n];
                if msg == b"done" {
                    return (xs, next);
                }
                if msg.starts_with(b"S:") {
                    let head = format!("S:{next}:");
                    assert!(msg.starts_with(head.as_bytes()), "stream in order");
                    assert_eq!(n, SIZE, "whole");
                    assert!(msg[head.len()..].iter().all(|&b| b == b'S'), "intact");
                    next += 1;
                    let _ = credits.write_all(b"+");
                } else {
                    xs.push(String::from_utf8(msg.to_vec()).unwrap());
                }
            }
        }
    });
    for round in 0..30u64 {
        std::thread::sleep(Duration::from_micros(300 + (round * 7919) % 3000));
        signal(&s.0, libc::SIGSTOP);
        wait_stopped(&s.0);
        send_promptly(&w, format!("x{round}").into_bytes());
        signal(&s.0, libc::SIGCONT);
    }
    drop(s);
    w.send(b"done").unwrap();
    let (xs, streamed) = reader.join().unwrap();
    let want: Vec<String> = (0..30).map(|r| format!("x{r}")).collect();
    assert_eq!(xs, want);
    assert!(streamed > 0, "the stopped writer did write");
}

/// Big messages go through a sealed memfd across processes, intact, including while the store
/// is full and they wait in the socket after their writer exited; the inline/memfd boundary
/// and the store's limit hold.
#[test]
fn big_messages_cross_processes_intact() {
    let name = slot_name("big");
    let m = MailslotOptions::new()
        .queue_capacity(4 << 20)
        .read_timeout(Some(Duration::from_secs(10)))
        .create(&name)
        .unwrap();
    let sizes = [
        (64 << 10, 1u8),
        ((64 << 10) + 1, 2),
        (300 << 10, 3),
        (1 << 20, 4),
        (0, 5),
        (3 << 20, 6),
        (7, 7),
        (1 << 20, 8),
    ];
    let arg: Vec<String> = sizes.iter().map(|(n, s)| format!("{n}:{s}")).collect();
    // More than the store holds: the last ones wait in the socket, with their memfds, after
    // the writer has exited.
    expect_ok(child("big", &format!("{name}|{}", arg.join("|"))));
    let mut buf = vec![0u8; 4 << 20];
    for (n, seed) in sizes {
        assert_eq!(m.info().unwrap().next_size, Some(n as u32));
        let got = m.read(&mut buf[..n]).unwrap();
        assert_eq!(got, n);
        assert!(buf[..n] == pattern(n, seed)[..], "{n} byte message intact");
    }
    assert_eq!(m.info().unwrap().count, 0);

    // The largest message a writer may send fits whatever the record before it left: after
    // a 13 byte one (a record that ends off the 8 byte alignment), it is delivered, and so is
    // the message after it (a limit of capacity - 8 left both queued for ever).
    let most = (4 << 20) - 15;
    expect_ok(child("big", &format!("{name}|13:10|{most}:9|5:11")));
    for (n, seed) in [(13, 10), (most, 9), (5, 11)] {
        assert_eq!(m.recv().unwrap(), pattern(n, seed), "{n} byte message");
    }
    let w = MailslotWriter::open(&name).unwrap();
    let e = w.send(&vec![0u8; most + 1]).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_NOT_ENOUGH_QUOTA, "{e}");
}

/// A maximum message size that decides the store's capacity leaves room for the largest
/// message after any other: 13 bytes, then the maximum, then 5, from another process, all
/// arrive (a store sized without the alignment before a record kept the maximum queued for
/// ever).
#[test]
fn the_maximum_message_fits_after_any_other() {
    let name = slot_name("max-fit");
    let max = 4096 - 8;
    let m = MailslotOptions::new()
        .queue_capacity(4096)
        .max_message_size(max as u32)
        .read_timeout(Some(Duration::from_secs(10)))
        .create(&name)
        .unwrap();
    expect_ok(child("big", &format!("{name}|13:1|{max}:2|5:3")));
    for (n, seed) in [(13, 1), (max, 2), (5, 3)] {
        assert_eq!(m.recv().unwrap(), pattern(n, seed), "{n} byte message");
    }
}

/// W149, W150 with two live writer processes taking turns: the exact next-size/count table,
/// then FIFO order and counts with memfd messages between small ones.
#[test]
fn fifo_and_info_across_two_live_writers() {
    let name = slot_name("turns");
    let m = MailslotOptions::new()
        .queue_capacity(4 << 20)
        .read_timeout(Some(Duration::ZERO))
        .create(&name)
        .unwrap();
    let mut a = Script::start(&name);
    let mut b = Script::start(&name);
    let info = |m: &Mailslot| {
        let i = m.info().unwrap();
        (i.next_size, i.count)
    };
    let mut buf = vec![0u8; 1 << 20];
    // W150's table.
    assert_eq!(info(&m), (None, 0));
    a.send("s a");
    assert_eq!(info(&m), (Some(1), 1));
    b.send("s bc");
    assert_eq!(info(&m), (Some(1), 2));
    a.send("e");
    assert_eq!(info(&m), (Some(1), 3));
    assert_eq!(m.read(&mut buf).unwrap(), 1);
    assert_eq!(&buf[..1], b"a");
    assert_eq!(info(&m), (Some(2), 2));
    assert_eq!(m.read(&mut buf).unwrap(), 2);
    assert_eq!(&buf[..2], b"bc");
    assert_eq!(info(&m), (Some(0), 1));
    assert_eq!(m.read(&mut buf).unwrap(), 0);
    assert_eq!(info(&m), (None, 0));
    assert_eq!(code_of(m.read(&mut buf)), ERROR_SEM_TIMEOUT);

    // Turns with big messages in between.
    let mut ws = [a, b];
    let steps = [
        ("s 1", 0, b"1".to_vec()),
        ("b 300000 11", 1, pattern(300000, 11)),
        ("s 2", 0, b"2".to_vec()),
        ("e", 1, Vec::new()),
        ("b 70000 12", 0, pattern(70000, 12)),
        ("s 3", 1, b"3".to_vec()),
    ];
    let mut want = Vec::new();
    for (k, (cmd, w, msg)) in steps.into_iter().enumerate() {
        ws[w].send(cmd);
        want.push(msg);
        assert_eq!(info(&m), (Some(1), k as u32 + 1), "after {cmd}");
    }
    for (k, msg) in want.iter().enumerate() {
        assert_eq!(info(&m), (Some(msg.len() as u32), (want.len() - k) as u32));
        let n = m.read(&mut buf).unwrap();
        assert_eq!(&buf[..n], &msg[..], "message {k}");
    }
    assert_eq!(info(&m), (None, 0));
}

/// Departure (docs/DESIGN.md): a server handle shared with a forked child works there too.
/// The child's reads drain the socket themselves, also after the creating process closed its
/// handle (which stops its acceptor thread but keeps the mailslot, W152, since the child still
/// holds it).
#[test]
fn forked_child_reads_through_the_server_handle() {
    let name = slot_name("fork");
    let m = MailslotOptions::new()
        .read_timeout(Some(Duration::from_secs(10)))
        .create(&name)
        .unwrap();
    let w = MailslotWriter::open(&name).unwrap();
    // SAFETY: the child only reads through the already open handle (socket calls, futexes,
    // copies and small allocations, which glibc keeps usable after fork) and leaves with
    // _exit, running no destructors.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let mut buf = [0u8; 16];
        let mut ok = true;
        for want in [&b"one"[..], b"two", b"three"] {
            ok &= matches!(m.read(&mut buf), Ok(n) if &buf[..n] == want);
        }
        // SAFETY: terminating the forked child without unwinding.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    w.send(b"one").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    w.send(b"two").unwrap();
    drop(m);
    w.send(b"three").unwrap();
    let status = util::wait_forked(pid);
    assert!(
        util::forked_ok(status),
        "the child's reads failed: {status:?}"
    );
    // The child's exit closed the last copy: the mailslot is gone. (A child another test is
    // spawning may hold a copy until its exec: allow for that.)
    assert!(eventually(Duration::from_secs(10), || {
        w.send(b"late")
            .is_err_and(|e| win32_code(&e) == ERROR_NO_DATA)
    }));
}

/// Writers that connect and never send their handshake request hold up neither the opening of
/// other writers nor the delivery to a reader asleep in ReadFile (the acceptor thread that
/// answers handshakes is also the one that moves messages in and wakes readers).
#[test]
fn silent_handshakes_delay_nobody() {
    let name = slot_name("silent");
    let m = MailslotOptions::new()
        .read_timeout(Some(Duration::from_secs(10)))
        .create(&name)
        .unwrap();
    let silent: Vec<RawFd> = (0..8).map(|_| raw_connect(&name)).collect();
    let t0 = Instant::now();
    let w = MailslotWriter::open(&name).unwrap();
    assert!(t0.elapsed() < Duration::from_secs(1), "open waited");
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        w.send(b"through").unwrap();
    });
    let t0 = Instant::now();
    assert_eq!(m.recv().unwrap(), b"through");
    assert!(t0.elapsed() < Duration::from_secs(1), "the read waited");
    sender.join().unwrap();
    for fd in silent {
        // SAFETY: fd is ours.
        unsafe { libc::close(fd) };
    }
}
