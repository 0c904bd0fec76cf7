//! Mailslots across processes (W141-W152): one reader, writers in other processes, whole
//! messages FIFO across writers, exact GetMailslotInfo, timeouts, the memory cap, and faults.

mod util;

use std::io::{self, Write};
use std::time::{Duration, Instant};

use npipe::error::code::*;
use npipe::{win32_code, Mailslot, MailslotOptions, MailslotWriter};
use util::{
    child, eventually, expect_ok, map_queue, open_request, raw_connect, raw_recv, raw_send,
};

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

child_roles! {
    "send" => role_send,
    "flood" => role_flood,
    "create_taken" => role_create_taken,
    "serve_forever" => role_serve_forever,
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
    let writer = std::thread::spawn({
        let name = name.clone();
        move || {
            std::thread::sleep(Duration::from_millis(100));
            expect_ok(child("send", &format!("{name}|wake")));
        }
    });
    let n = m.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"wake");
    writer.join().unwrap();
}

/// W151: a short buffer fails with ERROR_INSUFFICIENT_BUFFER and consumes nothing; the maximum
/// message size is enforced; a full queue fails loudly and recovers once drained.
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
    // 100-byte messages take 8 + 104 bytes: 36 fit in 4096.
    let mut sent = 0;
    let full = loop {
        match w.send(&[sent as u8; 100]) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(win32_code(&full), ERROR_NOT_ENOUGH_QUOTA, "{full}");
    assert_eq!(full.kind(), io::ErrorKind::QuotaExceeded);
    assert_eq!(sent, 4096 / 112);
    assert_eq!(m.info().unwrap().count, sent as u32);
    for k in 0..sent {
        assert_eq!(m.recv().unwrap(), vec![k as u8; 100]);
    }
    w.send(b"room again").unwrap();
    assert_eq!(m.recv().unwrap(), b"room again");
}

/// A writer whose mailslot server was killed (so it never closed) gets ERROR_NO_DATA once the
/// queue fills, never a hang or a silent drop.
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
    let e = loop {
        if let Err(e) = w.send(&[1u8; 200]) {
            break e;
        }
    };
    assert_eq!(win32_code(&e), ERROR_NO_DATA, "{e}");
}

/// A writer that scribbles over the shared queue makes the reader fail with InvalidData, never
/// panic, hang or read outside the queue.
#[test]
fn corrupted_queue_is_reported() {
    let name = slot_name("corrupt");
    let m = MailslotOptions::new()
        .read_timeout(Some(Duration::from_secs(5)))
        .create(&name)
        .unwrap();
    let fd = raw_connect(&name);
    raw_send(fd, &open_request(&name));
    let (reply, memfd) = raw_recv(fd);
    assert!(memfd >= 0, "the server sent its queue");
    let cap1 = u64::from_le_bytes(reply[48..56].try_into().unwrap());
    let size = 4096 + 4096 + cap1 as usize;
    let p = map_queue(memfd, size);
    // SAFETY: offset 2048 (ring 1's writer tail) lies in the header page of the live mapping;
    // the descriptors are ours to close.
    unsafe {
        std::ptr::write_volatile(p.add(2048) as *mut u64, 1u64 << 40);
        libc::close(memfd);
        libc::close(fd);
    }
    let t0 = Instant::now();
    let mut buf = [0u8; 64];
    let e = m.read(&mut buf).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    assert!(t0.elapsed() < Duration::from_secs(5), "no hang");
    let e = m.info().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
}
