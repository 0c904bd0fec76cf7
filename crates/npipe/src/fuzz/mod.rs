//! Fuzzing entry points. Not part of the API: built only under `--cfg fuzzing` (which cargo-fuzz
//! passes; the targets live in `fuzz/`) and in this crate's unit tests, which run the same entry
//! points over a few thousand inputs from a fixed-seed generator.
//!
//! Both entry points take arbitrary bytes and must never panic, crash, hang or touch memory
//! outside what they own. A panic here is a bug: either in the code under test, or in a check
//! below that states what the code promises.
//!
//! - [`handshake`]: the control-socket frame decoders (`transport::control`), which read bytes a
//!   peer process sends. A frame that decodes must re-encode to itself.
//! - [`queue_reader`]: a real shared-memory connection (`transport::queue::Conn`, server end
//!   created, client end attached to the same memfd, both in this thread) driven by a script: a
//!   hostile peer's writes into the shared header page and rings, interleaved with the honest
//!   operations of both ends. Checks: every returned length lies within the caller's buffer, and
//!   while nothing hostile has happened, every byte read is the next byte written, in order,
//!   message reads stop at message boundaries and byte reads return all they can.
//!
//! # Script format of [`queue_reader`]
//! ```text
//! byte 0   configuration: bits 0-1 ring 0 capacity (4 KiB << n), bits 2-3 ring 1 capacity,
//!          bit 4 message-type pipe (zero-length writes queue empty messages)
//! then     operations until the input ends (at most MAX_OPS): one byte whose low 4 bits pick
//!          the operation (`Op`), bit 4 the end (0 server, 1 client) or the ring, bits 5-6
//!          per-operation flags, bit 7 a 1 ms deadline instead of an already expired one;
//!          then the operation's arguments, little-endian (missing bytes read as 0)
//! ```
//! Every operation either does not wait or waits against a deadline (with both ends in one
//! thread, a wait for the other end always times out), so a script that runs for more than a
//! few milliseconds has found a hang in the code under test. The hostile peer writes only between
//! operations (so a run is deterministic and reproducible). It may write anything anywhere in
//! the shared page, the old ring lock words included: the locks now live in each side's private
//! page, out of the peer's reach.
//!
//! Set `NPIPE_FUZZ_TRACE=1` to print each operation and its result to stderr (for reading a
//! crash input: `NPIPE_FUZZ_TRACE=1 cargo fuzz run queue_reader <artifact>`).
//!
//! This file holds the entry points and the frame decoders' checks; `script` the script
//! language of [`queue_reader`], `rig` the connection it runs against and the model its reads
//! are checked with, `seeds` the inputs fuzzing starts from, `tests` the unit tests.

use std::os::fd::AsFd;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::sys;
use crate::transport::control::{Reply, Request};
use crate::transport::queue::{self, Conn, QErr, Side, WriteOpts};

/// Decodes `data` as smbd's named-pipe proxy request (the SMB exposure's handshake) and its
/// first two bytes as a frame header: nothing panics, and what decodes is consistent.
///
/// # Panics
/// When a decoded request has a level outside 4..=8 or its reply is not 36 bytes echoing it.
pub fn npa(data: &[u8]) {
    use crate::transport::npa;
    if let Ok(r) = npa::decode_request(data) {
        assert!(npa::LEVELS.contains(&r.level), "level {} accepted", r.level);
        let rep = npa::encode_reply(r.level, true);
        assert_eq!(&rep[8..12], &r.level.to_le_bytes());
        let _ = r.probe_only();
    }
    if let [a, b, ..] = *data {
        if let Ok(n) = npa::frame_len([a, b]) {
            assert_eq!(npa::frame_header(n), Some([a, b]));
        }
    }
}

/// Decodes `data` as a handshake request and as a reply; whatever decodes must re-encode to the
/// same frame.
///
/// # Panics
/// When a decoded frame does not round-trip (a decoder or encoder bug).
pub fn handshake(data: &[u8]) {
    if let Ok(r) = Request::decode(data) {
        let enc = r.encode();
        assert_eq!(
            Request::decode(&enc).as_ref(),
            Ok(&r),
            "request does not round-trip"
        );
        // The request decoder checks every byte, so the encoding is the input itself.
        assert_eq!(enc, data, "request decoder accepted a non-canonical frame");
    }
    if let Ok(r) = Reply::decode(data) {
        let enc = r.encode();
        assert_eq!(
            Reply::decode(&enc).as_ref(),
            Ok(&r),
            "reply does not round-trip"
        );
        // The reply decoder checks every byte too (the error word of a reply that is not an
        // error and the pad of a Connected/Info body must be 0).
        assert_eq!(enc, data, "reply decoder accepted a non-canonical frame");
        if let Reply::Described(d) = &r {
            described(d);
        }
    }
}

/// A listing's checks on a decoded Describe answer (`semantics::listing::check`), at the
/// address its own name maps to (where a truthful server listens) and at a fixed one: never a
/// panic, and an accepted answer is listed under exactly the name it gave.
fn described(d: &crate::transport::control::Described) {
    use crate::semantics::{listing, namespace};
    let peer = sys::PeerCred {
        pid: None,
        uid: 0,
        gid: 0,
    };
    let mut addrs = vec![b"npipe/pipe/X".to_vec()];
    for kind in [namespace::Kind::Pipe, namespace::Kind::Mailslot] {
        if let Ok(n) = namespace::parse(&d.name, kind) {
            addrs.push(n.address_in("npipe"));
        }
    }
    for addr in addrs {
        if let Some(e) = listing::check(&addr, "npipe", d, peer) {
            assert_eq!(e.name, d.name, "listed under another name than it gave");
            assert!(
                e.listening <= e.info.cur_instances && e.info.cur_instances <= e.info.max_instances
            );
        }
    }
}

/// Runs `data` as a script against a real connection (see the module docs for the format).
///
/// # Panics
/// When an operation returns more than the caller's buffer, or (before any hostile write) reads
/// other bytes than were written, across a message boundary, or fewer than were available.
pub fn queue_reader(data: &[u8]) {
    let (cfg, ops) = parse(data);
    run(cfg, &ops);
}

mod rig;
mod script;
mod seeds;
#[cfg(test)]
mod tests;

use rig::run;
use script::parse;
pub use seeds::{handshake_seeds, npa_seeds, queue_seeds};
