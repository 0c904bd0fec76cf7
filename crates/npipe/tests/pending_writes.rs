//! Writes still pending on their quota when the writing process dies or exits (W102, W103),
//! and large messages through small quotas (W90-W93: the quota decides when a write
//! completes, not whether its bytes may wait in the queue).
//!
//! A write larger than the quota is pending until the reader has taken all but `quota` bytes
//! of it; its bytes sit in the queue meanwhile (W92: readers and peek see them). On Windows a
//! process that dies or exits with such a write pending takes the unread rest of it out of the
//! pipe (W103); writes that completed stay readable.

mod util;

use std::time::{Duration, Instant};

use npipe::error::code::*;
use npipe::{win32_code, ClientOptions, PipeMode, ReadMode, ServerOptions};
use util::{child, connect_or_fail, expect_ok, unique_name};

/// Bytes of the pending message: far above the 4 KiB quota, well within the queue.
const BIG: usize = 200_000;

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect()
}

/// Client: writes "first" (completes at once), then `BIG` bytes that stay pending on the 4 KiB
/// quota. `arg` says how it ends: "kill" blocks until killed; "exit" leaves the write pending
/// in another thread and exits the process; "close" is the reference: both writes complete
/// (the server reads) and the process exits.
fn role_pending_writer(arg: &str) -> Result<(), String> {
    let (name, how) = arg.split_once('|').ok_or("arg: name|how")?;
    let c = ClientOptions::new().open(name).map_err(|e| e.to_string())?;
    c.send_msg(b"first").map_err(|e| e.to_string())?;
    match how {
        "kill" | "close" => {
            c.send_msg(&pattern(BIG, 1)).map_err(|e| e.to_string())?;
            Ok(())
        }
        "exit" => {
            let c = std::sync::Arc::new(c);
            let c2 = c.clone();
            std::thread::spawn(move || {
                let _ = c2.send_msg(&pattern(BIG, 1));
            });
            // Give the write time to reach the queue, then leave with it pending.
            std::thread::sleep(Duration::from_millis(300));
            std::process::exit(0)
        }
        _ => Err(format!("unknown mode {how}")),
    }
}

child_roles! {
    "pending_writer" => role_pending_writer,
    "big_writer" => role_big_writer,
    "idle_reader" => role_idle_reader,
    "quota_writer" => role_quota_writer,
    "small_writer" => role_small_writer,
    "cancel_writer" => role_cancel_writer,
}

fn server(name: &str, quota: u32) -> npipe::NamedPipeServer {
    ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .read_mode(ReadMode::Message)
        .in_buffer_size(quota)
        .out_buffer_size(quota)
        .create(name)
        .unwrap()
}

/// Waits until the server's queue holds `n` unread bytes (peek counts a pending write's
/// bytes, W83).
fn wait_available(s: &npipe::NamedPipeServer, n: u32) {
    let end = Instant::now() + Duration::from_secs(10);
    while s.peek(None).map(|p| p.available).unwrap_or(0) < n {
        assert!(Instant::now() < end, "the client's writes never showed up");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// As [`wait_available`], without sleeping: returns within microseconds of the bytes landing,
/// while a writer that just published them is still spinning.
fn spin_until_available(s: &npipe::NamedPipeServer, n: u32) {
    let end = Instant::now() + Duration::from_secs(10);
    while s.peek(None).map(|p| p.available).unwrap_or(0) < n {
        assert!(Instant::now() < end, "the client's writes never showed up");
        std::hint::spin_loop();
    }
}

fn read_first_then_broken(s: &npipe::NamedPipeServer) {
    // Right after the process is known gone (no time for the hang-up watcher): a read that
    // would take a pending write looks at the control socket first.
    let mut buf = vec![0u8; 2 * BIG];
    let m = s.recv_msg(&mut buf).unwrap();
    assert_eq!(&buf[..m.read], b"first", "a completed write stays readable");
    // The pending write left with its process: nothing of it, then the broken pipe.
    let e = s.recv_msg(&mut buf).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_BROKEN_PIPE, "{e}");
    assert_eq!(s.peek(None).map(|p| p.available).unwrap_or(0), 0);
}

/// W103: SIGKILL with a 200,000-byte write pending on a 4 KiB quota: its bytes were in the
/// queue (peek saw them), and after the kill none of them is read; the completed write before
/// it is.
#[test]
fn killed_writer_takes_its_pending_write_along() {
    let name = unique_name("pw-kill");
    let s = server(&name, 4096);
    let mut kid = child("pending_writer", &format!("{name}|kill"));
    connect_or_fail(&s, &mut kid);
    wait_available(&s, (5 + BIG) as u32);
    std::thread::sleep(Duration::from_millis(100));
    assert!(kid.try_wait().unwrap().is_none(), "the big write completed");
    kid.kill().unwrap();
    kid.wait().unwrap();
    read_first_then_broken(&s);
}

/// The same on a byte pipe read in byte mode, where a read gathers across writes: it stops at
/// the end of the completed ones (found by review: the read returned all 200,005 bytes).
#[test]
fn killed_writer_takes_its_pending_write_along_in_byte_mode() {
    let name = unique_name("pw-kill-byte");
    let s = ServerOptions::new()
        .pipe_mode(PipeMode::Byte)
        .read_mode(ReadMode::Byte)
        .in_buffer_size(4096)
        .out_buffer_size(4096)
        .create(&name)
        .unwrap();
    let mut kid = child("pending_writer", &format!("{name}|kill"));
    connect_or_fail(&s, &mut kid);
    wait_available(&s, (5 + BIG) as u32);
    std::thread::sleep(Duration::from_millis(100));
    assert!(kid.try_wait().unwrap().is_none(), "the big write completed");
    kid.kill().unwrap();
    kid.wait().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        s.peek(None).unwrap().available,
        5,
        "peek counts only completed writes"
    );
    let mut buf = vec![0u8; 2 * BIG];
    let m = s.recv_msg(&mut buf).unwrap();
    assert_eq!(&buf[..m.read], b"first", "the pending write was delivered");
    let e = s.recv_msg(&mut buf).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_BROKEN_PIPE, "{e}");
}

/// W102: a process that exits normally with a write pending in another thread: the same.
#[test]
fn exiting_writer_takes_its_pending_write_along() {
    let name = unique_name("pw-exit");
    let s = server(&name, 4096);
    let mut kid = child("pending_writer", &format!("{name}|exit"));
    connect_or_fail(&s, &mut kid);
    expect_ok(kid);
    read_first_then_broken(&s);
}

/// The reference: when the reader takes the big message while the writer waits, the write
/// completes and everything arrives, before and after the writer's exit.
#[test]
fn completed_writes_outlive_the_writer() {
    let name = unique_name("pw-close");
    let s = server(&name, 4096);
    let mut kid = child("pending_writer", &format!("{name}|close"));
    connect_or_fail(&s, &mut kid);
    let mut buf = vec![0u8; 2 * BIG];
    let m = s.recv_msg(&mut buf).unwrap();
    assert_eq!(&buf[..m.read], b"first");
    let m = s.recv_msg(&mut buf).unwrap();
    assert_eq!(m.read, BIG);
    assert!(buf[..BIG] == pattern(BIG, 1)[..]);
    expect_ok(kid);
    let e = s.recv_msg(&mut buf).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_BROKEN_PIPE, "{e}");
}

/// Writes one message of 3 quotas (4 KiB each) and exits once the write has completed.
fn role_quota_writer(name: &str) -> Result<(), String> {
    let c = ClientOptions::new().open(name).map_err(|e| e.to_string())?;
    c.send_msg(&pattern(3 * 4096, 9))
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// A server with `quota` connected to a child process in writer `role` (`quota_writer`,
/// `small_writer`).
fn writer_child(
    role: &str,
    tag: &str,
    quota: u32,
) -> (npipe::NamedPipeServer, std::process::Child) {
    let name = unique_name(tag);
    let s = server(&name, quota);
    let mut kid = child(role, &name);
    connect_or_fail(&s, &mut kid);
    (s, kid)
}

/// A 4 KiB-quota server connected to a `quota_writer` child process.
fn quota_writer(tag: &str) -> (npipe::NamedPipeServer, std::process::Child) {
    writer_child("quota_writer", tag, 4096)
}

/// Fails unless the writer child's writes returned Ok (it exits with success then).
fn writer_succeeded(kid: &mut std::process::Child, what: &str) {
    let st = util::wait_child(kid, util::PEER_WAIT);
    assert!(matches!(&st, Ok(st) if st.success()), "{what}: {st:?}");
}

/// W91: a write larger than the quota completes once the reader has left no more than the
/// quota unread, also when the reader stops right there. A reader that takes two quotas of a
/// three-quota message in 1 KiB pieces, as fast as it can, and then reads nothing more: the
/// writer's process exits (its write completed), and the rest stays readable (W102). (A write
/// this large against its quota waits for no batch beyond it; the small-write tests below
/// cover that wait.)
#[test]
fn a_pending_write_completes_when_its_reader_stops_at_the_quota() {
    for round in 0..20 {
        let (s, mut kid) = quota_writer("pw-stop");
        wait_available(&s, 3 * 4096);
        let want = pattern(3 * 4096, 9);
        let mut piece = [0u8; 1024];
        for i in 0..8 {
            let m = s.recv_msg(&mut piece).unwrap();
            assert_eq!(m.read, 1024);
            assert_eq!(m.left, (3 * 4096 - (i + 1) * 1024) as u64, "round {round}");
            assert!(
                piece[..] == want[i * 1024..(i + 1) * 1024],
                "round {round} piece {i}"
            );
        }
        writer_succeeded(
            &mut kid,
            &format!("round {round}: the write never finished"),
        );
        let mut rest = vec![0u8; 3 * 4096];
        let m = s.recv_msg(&mut rest).unwrap();
        assert_eq!((m.read, m.left), (4096, 0), "round {round}");
        assert!(
            rest[..4096] == want[8192..],
            "round {round}: the rest differs"
        );
    }
}

/// W91: once the reader has left no more than the quota unread, the write has completed,
/// whatever happens next: a reader that takes two quotas of a three-quota message in one read
/// and closes at once does not turn the write into ERROR_BROKEN_PIPE (the writer's process
/// exits with success only if its write returned Ok).
#[test]
fn a_met_quota_completes_the_write_although_the_reader_then_closes() {
    for round in 0..60 {
        let (s, mut kid) = quota_writer("pw-close");
        let mut two = vec![0u8; 2 * 4096];
        let m = s.recv_msg(&mut two).unwrap();
        assert_eq!((m.read, m.left), (2 * 4096, 4096), "round {round}");
        drop(s);
        writer_succeeded(
            &mut kid,
            &format!("round {round}: the met quota's write failed"),
        );
    }
}

/// The same with both ends in one process and the reader already in its read when the message
/// comes: it takes two quotas as they land and closes within microseconds, so the writer often
/// looks at its quota only after the close.
#[test]
fn a_met_quota_completes_the_write_although_the_reader_then_closes_threads() {
    met_quota_then_close_threads(
        "pw-close-t",
        4096,
        |c| {
            // The server is in its read by then, and takes the message as it lands.
            std::thread::sleep(Duration::from_millis(2));
            let n = c
                .send_msg(&pattern(3 * 4096, 9))
                .map_err(|e| e.to_string())?;
            (n == 3 * 4096).then_some(()).ok_or(format!("wrote {n}"))
        },
        |s, round| {
            let mut two = vec![0u8; 2 * 4096];
            let m = s.recv_msg(&mut two).unwrap();
            assert_eq!((m.read, m.left), (2 * 4096, 4096), "round {round}");
        },
    );
}

/// 300 rounds with both ends in this process, on a `quota` quota: `write` runs on a client
/// thread while the server takes what meets its quota with `take` and closes at once; the
/// write must have returned Ok (W91).
fn met_quota_then_close_threads(
    tag: &str,
    quota: u32,
    write: fn(&npipe::NamedPipeClient) -> Result<(), String>,
    take: fn(&npipe::NamedPipeServer, usize),
) {
    for round in 0..300 {
        let name = unique_name(tag);
        let s = server(&name, quota);
        let writer = std::thread::spawn({
            let name = name.clone();
            move || {
                let c = ClientOptions::new()
                    .open(&name)
                    .map_err(|e| e.to_string())?;
                write(&c)
            }
        });
        s.connect().unwrap();
        take(&s, round);
        drop(s);
        let r = writer.join().expect("the writer thread");
        assert_eq!(
            r,
            Ok(()),
            "round {round}: the write whose quota was met failed"
        );
    }
}

/// The small writes' size and quota: five such messages fit the smallest ring window (4 KiB,
/// as under `--cfg npipe_small_ring`), so only the quota holds the fifth write back.
const SMALL: usize = 512;
const SMALL_QUOTA: u32 = 4 * SMALL as u32;

/// Writes five SMALL messages to a SMALL_QUOTA quota and exits once the last has completed:
/// the first four fit the quota, the fifth completes once the reader has taken one. Writes
/// this small against the quota (a quarter of it) are the ones a writer at its quota waits a
/// batch beyond it for (`finish_write`).
fn role_small_writer(name: &str) -> Result<(), String> {
    let c = ClientOptions::new().open(name).map_err(|e| e.to_string())?;
    for i in 0..5u8 {
        c.send_msg(&pattern(SMALL, i))
            .map_err(|e| format!("write {i}: {e}"))?;
    }
    Ok(())
}

/// W91 with writes small against the quota: the fifth write stays pending while nothing is
/// read (the writer's process does not exit); a reader that then takes one message of five,
/// as soon as the fifth arrived (the writer still spinning, in most rounds), and reads nothing
/// more: the fifth write completes (the writer waits for a batch beyond the quota only while
/// the reader keeps taking), and the four left stay readable (W102).
#[test]
fn a_small_pending_write_completes_when_its_reader_stops_at_the_quota() {
    for round in 0..20 {
        let (s, mut kid) = writer_child("small_writer", "pw-small-stop", SMALL_QUOTA);
        spin_until_available(&s, 5 * SMALL as u32);
        // Every 10th round: the write is still pending 50 ms later (a wait that long can only
        // err towards passing).
        if round % 10 == 0 {
            std::thread::sleep(Duration::from_millis(50));
            let st = kid.try_wait().expect("wait for the writer");
            assert!(
                st.is_none(),
                "round {round}: the fifth write completed with its quota unmet ({st:?})"
            );
        }
        let mut buf = vec![0u8; 2 * SMALL];
        let m = s.recv_msg(&mut buf).unwrap();
        assert!(
            m.read == SMALL && buf[..SMALL] == pattern(SMALL, 0)[..],
            "round {round}"
        );
        writer_succeeded(
            &mut kid,
            &format!("round {round}: the fifth write never finished"),
        );
        for i in 1..5u8 {
            let m = s.recv_msg(&mut buf).unwrap();
            assert!(
                m.read == SMALL && buf[..SMALL] == pattern(SMALL, i)[..],
                "round {round}: message {i} after the writer left"
            );
        }
    }
}

/// W91 with writes small against the quota, across processes: the reader takes the one
/// message that meets the fifth write's quota and closes at once: the write has completed, not
/// failed with ERROR_BROKEN_PIPE. (The writer is asleep by then, the reader having waited for
/// its records; the `_threads` test below catches it spinning.)
#[test]
fn a_small_write_whose_quota_is_met_completes_although_the_reader_then_closes() {
    for round in 0..60 {
        let (s, mut kid) = writer_child("small_writer", "pw-small-close", SMALL_QUOTA);
        wait_available(&s, 5 * SMALL as u32);
        let mut buf = vec![0u8; SMALL];
        assert_eq!(s.recv_msg(&mut buf).unwrap().read, SMALL, "round {round}");
        drop(s);
        writer_succeeded(
            &mut kid,
            &format!("round {round}: the fifth write failed after its quota was met"),
        );
    }
}

/// The same between threads, timed so that the fifth write is spinning for its quota when the
/// reader takes the message that meets it and closes within microseconds: the writer often
/// looks again only after the close, while it waits for a batch beyond the quota.
#[test]
fn a_small_write_whose_quota_is_met_completes_although_the_reader_then_closes_threads() {
    met_quota_then_close_threads(
        "pw-small-close-t",
        SMALL_QUOTA,
        |c| {
            for i in 0..5u8 {
                c.send_msg(&pattern(SMALL, i))
                    .map_err(|e| format!("write {i}: {e}"))?;
            }
            Ok(())
        },
        |s, round| {
            // The fifth record is in the queue as soon as its write starts waiting.
            spin_until_available(s, 5 * SMALL as u32);
            let mut buf = vec![0u8; SMALL];
            assert_eq!(s.recv_msg(&mut buf).unwrap().read, SMALL, "round {round}");
        },
    );
}

/// Writer of `count` messages of `size` bytes, each a pattern of its index, then a 1-byte
/// end marker, then stays connected and idle for `hold` ms. `arg` = name|size|count[|hold].
fn role_big_writer(arg: &str) -> Result<(), String> {
    let mut it = arg.split('|');
    let (name, size, count) = (
        it.next().ok_or("name")?,
        it.next()
            .and_then(|v| v.parse::<usize>().ok())
            .ok_or("size")?,
        it.next()
            .and_then(|v| v.parse::<usize>().ok())
            .ok_or("count")?,
    );
    let hold = it.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let c = ClientOptions::new().open(name).map_err(|e| e.to_string())?;
    for i in 0..count {
        c.send_msg(&pattern(size, i as u8))
            .map_err(|e| e.to_string())?;
    }
    c.send_msg(b"$").map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_millis(hold));
    Ok(())
}

/// Messages of every size class through every quota class, across two processes, arrive whole
/// and in order: small ones (which stay in the queue's record window), ones larger than the
/// window (which go round the whole ring and wrap), and ones larger than the ring (which
/// stream). Reads use buffers of the message size, and also smaller ones (ERROR_MORE_DATA).
#[test]
fn every_size_through_every_quota() {
    let sizes: &[usize] = if cfg!(npipe_small_ring) {
        &[1, 3000, 5000, 20_000, 70_000]
    } else {
        &[1, 1000, 70_000, 300_000, 5 << 20]
    };
    for &quota in &[0u32, 4096, 65536, 262144] {
        for &size in sizes {
            let count = ((8 << 20) / size).clamp(3, 400);
            let name = unique_name("pw-sizes");
            let s = server(&name, quota);
            let mut kid = child("big_writer", &format!("{name}|{size}|{count}"));
            connect_or_fail(&s, &mut kid);
            let mut buf = vec![0u8; size];
            let mut small = vec![0u8; (size / 3).max(1)];
            for i in 0..count {
                let want = pattern(size, i as u8);
                if i % 2 == 0 {
                    let m = s.recv_msg(&mut buf).unwrap();
                    assert_eq!(m.read, size, "quota {quota} size {size} message {i}");
                    assert!(buf == want, "quota {quota} size {size} message {i} differs");
                } else {
                    // In pieces: ERROR_MORE_DATA until the last one (W67).
                    let mut got = Vec::new();
                    loop {
                        let m = s.recv_msg(&mut small).unwrap();
                        got.extend_from_slice(&small[..m.read]);
                        if m.left == 0 {
                            break;
                        }
                    }
                    assert!(got == want, "quota {quota} size {size} message {i} differs");
                }
            }
            let m = s.recv_msg(&mut buf).unwrap();
            assert_eq!(&buf[..m.read], b"$");
            expect_ok(kid);
        }
    }
}

/// The queue's memory: a connection that carried large messages and then sits idle gives
/// back the ring's pages beyond its record window (the writer's process does, about a second
/// after its last large message; see "Large messages" in docs/DESIGN.md). The reader's mapping
/// of those pages goes too, so the reading process's resident shared memory falls back while
/// the connection stays open. Measured in a child process of its own (the other tests of this
/// binary map queues of their own meanwhile).
#[test]
fn idle_connection_gives_back_large_message_pages() {
    if cfg!(npipe_small_ring) {
        return;
    }
    expect_ok(child("idle_reader", ""));
}

/// The reading process of `idle_connection_gives_back_large_message_pages`.
fn role_idle_reader(_: &str) -> Result<(), String> {
    let name = unique_name("pw-idle");
    let s = server(&name, 4096);
    let mut kid = child("big_writer", &format!("{name}|1000000|12|8000"));
    let before = shmem_kib();
    let transfer = (|| -> Result<(), String> {
        util::connect_while(&s, || util::child_exited(&mut kid))?;
        let mut buf = vec![0u8; 1_000_000];
        for _ in 0..13 {
            s.recv_msg(&mut buf).map_err(|e| e.to_string())?;
        }
        Ok(())
    })();
    let busy = shmem_kib();
    let released =
        transfer.is_ok() && util::eventually(Duration::from_secs(6), || shmem_kib() + 2048 < busy);
    let now = shmem_kib();
    let _ = kid.kill();
    let _ = kid.wait();
    transfer?;
    if busy < before + 2048 {
        return Err(format!(
            "reading 12 MB through the queue mapped only {} KiB",
            busy - before
        ));
    }
    if !released {
        return Err(format!(
            "resident shared memory stayed at {now} KiB ({busy} KiB after the transfer, \
             {before} KiB before)"
        ));
    }
    Ok(())
}

/// This process's resident shared memory (RssShmem in /proc/self/status), KiB.
fn shmem_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("RssShmem:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Client of a 1 KiB-quota server that reads nothing until this process exits: two 1.5 KiB
/// writes go pending on the quota and are cancelled, the later first (their data leaves the
/// pipe, W98); a flush then returns at once (W95: the queue emptied because its pending writes
/// were cancelled), and a 10-byte write completes without waiting for a reader (W92: nothing is
/// unread before it). Every step that would wait for the reader instead never ends, and the
/// parent's wait for this process fails. (The two records fit the 4 KiB record window of the
/// tiny rings CI also tests: cancelled records keep their ring space until the reader skips
/// them, see docs/DESIGN.md.)
fn role_cancel_writer(name: &str) -> Result<(), String> {
    use npipe::nonblocking::WriteOp;
    let c = ClientOptions::new().open(name).map_err(|e| e.to_string())?;
    let (mut first, mut second) = (WriteOp::new(), WriteOp::new());
    let big = pattern(1536, 9);
    for op in [&mut first, &mut second] {
        if c.poll_write(op, &big).is_ready() {
            return Err("1.5 KiB against a 1 KiB quota completed at once".into());
        }
    }
    for op in [&mut second, &mut first] {
        if !c.abort_write(op) {
            return Err("the cancel kept a pending write".into());
        }
    }
    c.flush_buffers().map_err(|e| format!("flush: {e}"))?;
    c.send_msg(&[3u8; 10])
        .map_err(|e| format!("write after the cancel: {e}"))?;
    Ok(())
}

/// W92, W95, W98 across two processes: the writer cancels two pending writes, flushes and
/// writes again while the server reads nothing; then the server finds only the later message.
#[test]
fn a_cancelled_pending_write_leaves_nothing_to_wait_for() {
    let (s, mut kid) = writer_child("cancel_writer", "cancel-flush", 1024);
    writer_succeeded(&mut kid, "cancel, flush and write without a reader");
    let mut buf = [0u8; 4096];
    let m = s
        .recv_msg(&mut buf)
        .expect("the message written after the cancel");
    assert_eq!(m.left, 0);
    assert_eq!(
        &buf[..m.read],
        &[3u8; 10],
        "only the message written after the cancel"
    );
    let e = s.recv_msg(&mut buf).expect_err("then the end of the data");
    assert_eq!(win32_code(&e), ERROR_BROKEN_PIPE, "{e}");
}
