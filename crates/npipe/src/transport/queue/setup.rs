//! Making a connection's view: the server's new area (memfd, mapping, header), the server's
//! reuse of a parked area, and the client's attach to either, with the checks on what the
//! server wrote. Nothing here runs once the connection is in use.

use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering::*};
use std::sync::OnceLock;

use super::*;

impl Conn {
    /// Creates the shared memory for a new connection (server side). Returns the connection and
    /// the memfd to pass to the client.
    ///
    /// `wins` are the record windows (each a power of two no larger than its ring): small
    /// records stay in them, larger ones may use the whole ring.
    pub(crate) fn create(
        ctl: Option<OwnedFd>,
        caps: [u64; 2],
        wins: [u64; 2],
        instances: u32,
    ) -> sys::Result<(Conn, OwnedFd)> {
        let size = total_size(caps);
        // Read before the mapping exists: a fork after this read makes the area unparkable.
        let epoch = recycle::epoch();
        let fd = sys::memfd_sealed("npipe-conn", size)?;
        let map = sys::Mapping::map_conn(fd.as_fd(), size)?;
        let conn = Conn::with_map(map, epoch, ctl, Side::Server, caps, normal_wins(caps, wins))?;
        conn.populate_first_pages();
        conn.init_server(instances);
        Ok((conn, fd))
    }

    /// A new connection (server side) in an area parked by this process for the same client
    /// process, which parked its own mapping of it too (see [`recycle`]): the header is
    /// cleared and initialised again as in [`Conn::create`]; the client is told to take its
    /// mapping back instead of being sent a memfd.
    pub(crate) fn reuse(p: recycle::Parked, instances: u32) -> sys::Result<Conn> {
        let conn = Conn::with_map(p.map, p.epoch, None, Side::Server, p.caps, p.wins)?;
        conn.clear_header();
        conn.init_server(instances);
        Ok(conn)
    }

    /// Zeroes the header page, as a new memfd's is.
    fn clear_header(&self) {
        let words = self.map.as_ptr() as *const AtomicU64;
        for i in 0..HEADER_BYTES / 8 {
            // SAFETY: the mapping is at least HEADER_BYTES long and page aligned, so each word
            // is in bounds and aligned; the header page is made only of atomics (or padding
            // nothing reads), and a peer may write it at any time anyway, so atomic stores are
            // the right access; any bit pattern is a valid AtomicU64. Where a word covers two
            // AtomicU32 fields the access is mixed-size: no other thread of this process uses
            // the area until this connection is made, and the peer's accesses are another
            // process's, as always.
            unsafe { (*words.add(i)).store(0, Relaxed) };
        }
    }

    /// Writes a new connection's header (server side) into a zeroed header page. Nobody else
    /// uses the mapping before the reply to the client is sent, which orders these stores (a
    /// new area is in no other process yet; a reused one the client parked, so it waits for
    /// the reply too).
    fn init_server(&self, instances: u32) {
        let (conn, caps, wins) = (self, self.caps, self.wins);
        let h = conn.hdr();
        // Relaxed: nobody else uses the mapping before the reply is sent, which orders these
        // stores through the socket.
        h.magic.store(MAGIC, Relaxed);
        h.version.store(VERSION, Relaxed);
        h.header_bytes.store(HEADER_BYTES as u32, Relaxed);
        h.ring_cap[0].store(caps[0], Relaxed);
        h.ring_cap[1].store(caps[1], Relaxed);
        h.ring_win[0].store(wins[0], Relaxed);
        h.ring_win[1].store(wins[1], Relaxed);
        h.state[0].store(OPEN, Relaxed);
        h.state[1].store(OPEN, Relaxed);
        h.cpu[0].store(NO_CPU, Relaxed);
        h.cpu[1].store(NO_CPU, Relaxed);
        h.cur_instances.store(instances, Relaxed);
        for d in 0..2 {
            conn.ring(d).r.0.msg_left.store(AT_HEADER, Relaxed);
            conn.ring(d).c.0.cut_rec.store(NO_REC, Relaxed);
            conn.ring(d).c.0.cut_end.store(NO_REC, Relaxed);
            conn.ring(d).c.0.claim.store(0, Relaxed);
        }
        fence(Release);
    }

    /// This process's view of a mapped connection, with a new private page and empty caches.
    fn with_map(
        map: sys::Mapping,
        made_epoch: u64,
        ctl: Option<OwnedFd>,
        side: Side,
        caps: [u64; 2],
        wins: [u64; 2],
    ) -> sys::Result<Conn> {
        // The ring offsets are masks (`ring_off`): every capacity must be a power of two.
        // Those read from shared memory are checked before this; this holds every other path.
        if !caps.iter().all(|c| c.is_power_of_two()) {
            return Err(sys::Errno::INVAL);
        }
        let page = sys::SidePage::new()?;
        // Relaxed: the page is new and private to this process until it forks.
        page.word(R_LEFT).store(AT_HEADER, Relaxed);
        page.word(R_REC).store(NO_REC, Relaxed);
        page.word(W_REC).store(NO_REC, Relaxed);
        page.word(W_CUT_END).store(NO_REC, Relaxed);
        page.word(W_CUT_MSGS).store(NO_REC, Relaxed);
        Ok(Conn {
            map: ManuallyDrop::new(map),
            made_epoch,
            recycle: OnceLock::new(),
            page,
            ctl,
            side,
            caps,
            wins,
            head_seen: AtomicU64::new(0),
            woke_peer: AtomicBool::new(false),
            probed_at: AtomicU64::new(0),
            signal: OnceLock::new(),
            peer_event: OnceLock::new(),
            spin_ok: AtomicBool::new(false),
            spin_skipped: AtomicU32::new(0),
            stacked_wakes: AtomicU32::new(0),
            tail_seen: AtomicU64::new(0),
            done_seen: AtomicU64::new(0),
            tail_read_at: AtomicU64::new(0),
            pace_ns: AtomicU64::new(pace::PACE_MIN_NS),
            paced_tail: AtomicU64::new(0),
            paced_msgs: AtomicU64::new(0),
            paced_waits: AtomicU64::new(0),
            writer_waits_seen: AtomicU64::new(0),
            read_waited: AtomicBool::new(false),
            read_seen: AtomicU64::new(0),
            reader_behind: AtomicBool::new(false),
            closed_here: AtomicBool::new(false),
            watch_token: AtomicU64::new(0),
            watch_claimed: AtomicBool::new(false),
            me: OnceLock::new(),
            tx_kept_by: AtomicU64::new(0),
            spilled_at: AtomicU64::new(0),
            spill_listed: AtomicBool::new(false),
            full_mark: AtomicU64::new(u64::MAX),
        })
    }

    /// Maps a connection memfd received from the server (client side) and validates it.
    pub(crate) fn attach(
        ctl: Option<OwnedFd>,
        memfd: OwnedFd,
        caps: [u64; 2],
    ) -> Result<Conn, QErr> {
        Conn::attach_at(ctl, memfd, caps, recycle::epoch())
    }

    /// [`Conn::attach`] for a memfd that came into this process at fork epoch `epoch` or later
    /// (read before it could arrive: a fork after that may have given the child the
    /// descriptor, and the area is then never parked).
    pub(crate) fn attach_at(
        ctl: Option<OwnedFd>,
        memfd: OwnedFd,
        caps: [u64; 2],
        epoch: u64,
    ) -> Result<Conn, QErr> {
        for c in caps {
            if !(MIN_RING..=MAX_RING).contains(&c) || !c.is_power_of_two() {
                return Err(QErr::Corrupt("ring capacity out of range"));
            }
        }
        let size = total_size(caps);
        sys::check_memfd(memfd.as_fd(), size)
            .map_err(|_| QErr::Corrupt("memfd not sealed or wrong size"))?;
        let map = sys::Mapping::map_conn(memfd.as_fd(), size)
            .map_err(|_| QErr::Corrupt("cannot map memfd"))?;
        Conn::attach_map(map, epoch, ctl, caps, true)
    }

    /// [`Conn::attach`] for a connection the server made in an area this process parked (see
    /// [`recycle`]): the mapping is taken back, and the header the server initialised again
    /// is checked as a new one is.
    pub(crate) fn attach_reused(
        ctl: Option<OwnedFd>,
        p: recycle::Parked,
        caps: [u64; 2],
    ) -> Result<Conn, QErr> {
        if p.caps != caps {
            return Err(QErr::Corrupt("a reused area of another geometry"));
        }
        Conn::attach_map(p.map, p.epoch, ctl, caps, false)
    }

    /// The client's view of a mapped connection, checked (see [`Conn::attach`]).
    fn attach_map(
        map: sys::Mapping,
        epoch: u64,
        ctl: Option<OwnedFd>,
        caps: [u64; 2],
        populate: bool,
    ) -> Result<Conn, QErr> {
        // The windows start as the whole rings (no skips) until read from the header below.
        let mut conn = Conn::with_map(map, epoch, ctl, Side::Client, caps, caps)
            .map_err(|_| QErr::NoResources("cannot make the private lock page"))?;
        if populate {
            conn.populate_first_pages();
        }
        let h = conn.hdr();
        // SYNC POINT with the fence in `create`: Acquire sees the initialised header.
        fence(Acquire);
        // The windows are only in the header: read once (the peer cannot change them later)
        // and checked before anything uses them.
        let wins = [h.ring_win[0].load(Relaxed), h.ring_win[1].load(Relaxed)];
        for d in 0..2 {
            check_geometry(caps[d], wins[d])?;
        }
        if h.magic.load(Relaxed) != MAGIC
            || h.version.load(Relaxed) != VERSION
            || h.header_bytes.load(Relaxed) != HEADER_BYTES as u32
            || h.ring_cap[0].load(Relaxed) != caps[0]
            || h.ring_cap[1].load(Relaxed) != caps[1]
        {
            return Err(QErr::Corrupt("bad queue header"));
        }
        conn.wins = wins;
        Ok(conn)
    }

    /// Whether every record ever written on this connection lies within the windows of the
    /// rings' first laps (both published tails within the window), so the mapping holds at most
    /// the header and the windows' pages and may wait for its arena batch to be unmapped (see
    /// `sys::arena`); otherwise it may hold up to whole rings and is unmapped at once. The
    /// peer's tail is only believed for this choice: a peer that lies makes its own pages wait
    /// for at most one batch.
    pub(super) fn touched_little(&self) -> bool {
        // Relaxed: a heuristic read after every user of the connection is gone.
        (0..2).all(|d| self.ring(d).w.0.tail.load(Relaxed) <= self.wins[d])
    }

    /// Faults in the header page and the first page of each ring in two calls: every
    /// connection touches them at once, and a page fault is the costliest part of setting one
    /// up (the rest of each ring still faults in lazily, as it is used).
    fn populate_first_pages(&self) {
        self.map.populate(0, HEADER_BYTES + 4096);
        self.map
            .populate(HEADER_BYTES + self.caps[0] as usize, 4096);
    }
}
