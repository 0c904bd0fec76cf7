//! Zero-copy messages across processes: a message filled in place in the shared queue arrives
//! whole, one read in place releases its space when dropped, including messages that wrap
//! around the end of the queue.

mod util;

use std::time::Duration;

use npipe::error::code::*;
use npipe::{win32_code, ClientOptions, PipeMode, ReadMode, ServerOptions};
use util::{child, connect_or_fail, expect_ok, unique_name};

const COUNT: usize = 200;

/// Message `i`: a pattern whose size varies so that messages wrap around the end of the queue.
/// Messages that fit the queue's record window (64 KiB, or 4 KiB when the suite runs with
/// `--cfg npipe_small_ring`) start each lap at its beginning and never wrap; larger ones go
/// round the whole ring (4 MiB, or 16 KiB).
fn pattern(i: usize) -> Vec<u8> {
    let base = if cfg!(npipe_small_ring) { 5000 } else { 70_000 };
    (0..base + 7 * i).map(|k| (k * 31 + i) as u8).collect()
}

/// Client: reads COUNT messages in place, checks them, and answers each in place.
fn role_echo_in_place(name: &str) -> Result<(), String> {
    let c = ClientOptions::new().open(name).map_err(|e| e.to_string())?;
    c.set_mode(ReadMode::Message, false)
        .map_err(|e| e.to_string())?;
    let mut wrapped = 0;
    for i in 0..COUNT {
        let m = c.recv_in_place().map_err(|e| e.to_string())?;
        let (_, b) = m.as_slices();
        if !b.is_empty() {
            wrapped += 1;
        }
        if m.to_vec() != pattern(i) {
            return Err(format!("message {i} differs"));
        }
        drop(m);
        let mut w = c.reserve_msg(8).map_err(|e| e.to_string())?;
        w.fill(&(i as u64).to_le_bytes())
            .map_err(|e| e.to_string())?;
        w.commit().map_err(|e| e.to_string())?;
    }
    if wrapped == 0 {
        return Err("no message wrapped around the queue".into());
    }
    Ok(())
}

/// Client: commits an empty reservation, then (a moment later) sends "abcdef" and leaves.
fn role_empty_then_data(name: &str) -> Result<(), String> {
    let c = ClientOptions::new().open(name).map_err(|e| e.to_string())?;
    let w = c.reserve_msg(0).map_err(|e| e.to_string())?;
    let n = w.commit().map_err(|e| e.to_string())?;
    if n != 0 {
        return Err(format!("an empty commit wrote {n}"));
    }
    std::thread::sleep(Duration::from_millis(200));
    c.send_msg(b"abcdef").map_err(|e| e.to_string())?;
    Ok(())
}

child_roles! {
    "echo_in_place" => role_echo_in_place,
    "empty_then_data" => role_empty_then_data,
}

/// An empty reservation on a byte pipe whose queue is full takes no room and waits for none,
/// as an empty write there does not (W76): it commits at once, writing 0, while another
/// thread's large write waits for the reader.
#[test]
fn an_empty_reservation_on_a_full_byte_pipe_does_not_wait() {
    use std::io::Read;
    let name = unique_name("zerocopy-empty-full");
    let mut s = ServerOptions::new().create(&name).unwrap();
    let c = ClientOptions::new().open(&name).unwrap();
    s.connect().unwrap();
    const BIG: usize = 8 << 20;
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| c.send_msg(&vec![1u8; BIG]).unwrap());
        // Let the large write fill the queue and wait for room.
        std::thread::sleep(Duration::from_millis(200));
        let (tx, rx) = std::sync::mpsc::channel();
        let c = &c;
        scope.spawn(move || {
            let r = c.reserve_msg(0).and_then(|w| w.commit());
            let _ = tx.send(r.map_err(|e| e.to_string()));
        });
        let waited = rx.recv_timeout(Duration::from_secs(5));
        let mut got = vec![0u8; BIG];
        s.read_exact(&mut got).unwrap();
        assert_eq!(writer.join().unwrap(), BIG);
        assert_eq!(waited, Ok(Ok(0)), "the empty reservation waited for room");
    });
    assert_eq!(s.peek(None).unwrap().available, 0, "it queued nothing");
}

/// W76, W77: an empty committed reservation on a byte pipe queues nothing, as an empty write
/// does there, so a stream reader sees no end of file before the data that follows it.
#[test]
fn an_empty_reservation_on_a_byte_pipe_queues_nothing() {
    use std::io::Read;
    let name = unique_name("zerocopy-empty");
    let s = ServerOptions::new().create(&name).unwrap();
    let mut kid = child("empty_then_data", &name);
    connect_or_fail(&s, &mut kid);
    let mut all = Vec::new();
    (&s).read_to_end(&mut all).unwrap();
    expect_ok(kid);
    assert_eq!(
        all, b"abcdef",
        "an empty record read as the end of the stream"
    );
}

#[test]
fn in_place_messages_cross_processes_and_wrap() {
    let name = unique_name("zerocopy");
    let s = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .read_mode(ReadMode::Message)
        .create(&name)
        .unwrap();
    let mut kid = child("echo_in_place", &name);
    connect_or_fail(&s, &mut kid);
    for i in 0..COUNT {
        let data = pattern(i);
        let mut w = s.reserve_msg(data.len()).unwrap();
        // Fill through the slices directly, as a producer writing in place would.
        let (a, b) = w.as_mut_slices();
        let (x, y) = data.split_at(a.len());
        a.copy_from_slice(x);
        b.copy_from_slice(y);
        assert_eq!(w.commit().unwrap(), data.len());
        let m = s.recv_in_place().unwrap();
        assert_eq!(m.to_vec(), (i as u64).to_le_bytes());
    }
    expect_ok(kid);
}

#[test]
fn reservations_that_cannot_work_fail_cleanly() {
    let name = unique_name("zerocopy-limits");
    let s = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .create(&name)
        .unwrap();
    let c = ClientOptions::new().open(&name).unwrap();
    s.connect().unwrap();
    // Larger than the queue: a plain write streams it, a reservation cannot hold it.
    let e = c.reserve_msg(1 << 30).unwrap_err();
    assert_eq!(win32_code(&e), ERROR_INVALID_PARAMETER);
    // Wrong fill length.
    let mut w = c.reserve_msg(4).unwrap();
    assert_eq!(
        win32_code(&w.fill(b"12345").unwrap_err()),
        ERROR_INVALID_PARAMETER
    );
    // Dropped without commit: nothing is sent, and the queue is usable again.
    drop(w);
    assert_eq!(s.peek(None).unwrap().available, 0);
    c.send_msg(b"plain").unwrap();
    let m = s.recv_in_place().unwrap();
    assert_eq!(m.to_vec(), b"plain");
    drop(m);
    // A message larger than the queue (its whole ring: 4 MiB) is read with recv_msg, not in
    // place.
    let big = vec![9u8; 5 << 20];
    let t = std::thread::spawn(move || {
        c.send_msg(&big).unwrap();
        c
    });
    std::thread::sleep(Duration::from_millis(50));
    let e = s.recv_in_place().unwrap_err();
    assert_eq!(win32_code(&e), ERROR_INSUFFICIENT_BUFFER);
    let mut buf = vec![0u8; 5 << 20];
    let mut got = 0;
    while got < buf.len() {
        got += s.recv_msg(&mut buf[got..]).unwrap().read;
    }
    assert!(buf.iter().all(|&b| b == 9));
    let c = t.join().unwrap();
    // An empty message in place.
    c.send_msg(b"").unwrap();
    let m = s.recv_in_place().unwrap();
    assert!(m.is_empty());
}
