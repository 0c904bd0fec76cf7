//! The shared flavour: this process's handle to a named event, serving the name, the registry.

use super::*;

/// One process's attachment to a named event, shared by all its handles to the event.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(super) obj: Arc<Object>,
    pub(super) att: Mutex<Attach>,
    /// The handshake connection to the serving process, kept open while this process has the
    /// event: its hang-up tells the server this process is done with the name.
    pub(super) _holder: Option<OwnedFd>,
    /// The registry key (the name's address).
    pub(super) key: Vec<u8>,
}

/// The name's service in the creating process: it answers OPEN requests and keeps the name
/// while this process has a handle or another process holds a connection.
#[derive(Debug)]
pub(super) struct Served {
    pub(super) obj: Arc<Object>,
    pub(super) key: Vec<u8>,
    pub(super) acceptor: Mutex<Option<Acceptor>>,
    /// Hang-up watch over the holders' connections (inside the acceptor's epoll set).
    pub(super) poller: sys::Poller,
    /// The holders' connections by token (touched by the acceptor thread only).
    pub(super) holders: Mutex<(BTreeMap<u64, OwnedFd>, u64)>,
    /// Number of holders; changed under the registry lock.
    pub(super) holder_count: AtomicUsize,
    /// Set (under the registry lock) once the service is being stopped.
    pub(super) stopping: AtomicBool,
    /// The process that runs the acceptor.
    pub(super) pid: u32,
}

#[derive(Debug)]
pub(super) struct Entry {
    pub(super) local: Weak<Shared>,
    pub(super) served: Option<Arc<Served>>,
}

/// Serialises CreateEvent's look-up, bind and setup in this process, so that two threads
/// creating one name make one event (taken before the registry; held by the fork handler).
pub(super) static CREATING: Mutex<()> = Mutex::new(());

/// Named events this process has or serves, by address. Never held while a [`Shared`] may be
/// dropped (its drop takes it) or while waiting for an acceptor thread (which takes it).
pub(super) static REGISTRY: Mutex<BTreeMap<Vec<u8>, Entry>> = Mutex::new(BTreeMap::new());

pub(super) fn registry() -> MutexGuard<'static, BTreeMap<Vec<u8>, Entry>> {
    REGISTRY.lock().unwrap_or_else(|p| p.into_inner())
}

impl Served {
    /// Decides, under the registry lock, whether the name's service ends now: nobody in this
    /// process has the event and no other process holds it. Returns the acceptor to stop
    /// (outside the lock).
    pub(super) fn maybe_stop(
        self: &Arc<Self>,
        reg: &mut BTreeMap<Vec<u8>, Entry>,
    ) -> Option<Acceptor> {
        // Relaxed: both change only under the registry lock, which we hold.
        if self.holder_count.load(Ordering::Relaxed) > 0 || self.stopping.load(Ordering::Relaxed) {
            return None;
        }
        if let Some(e) = reg.get(&self.key) {
            if e.local.strong_count() > 0 {
                return None;
            }
            if e.served.as_ref().is_some_and(|s| Arc::ptr_eq(s, self)) {
                reg.remove(&self.key);
            }
        }
        // Relaxed: read only under the registry lock, which we hold.
        self.stopping.store(true, Ordering::Relaxed);
        self.acceptor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Forgets the holders that hung up; stops the service when it was the last reason for it.
    pub(super) fn reap(self: &Arc<Self>) {
        let mut ready = Vec::new();
        loop {
            ready.clear();
            let _ = self.poller.wait(Some(Instant::now()), &mut ready);
            if ready.is_empty() {
                return;
            }
            let stop = {
                let mut reg = registry();
                let mut h = self.holders.lock().unwrap_or_else(|p| p.into_inner());
                for ev in &ready {
                    if let Some(sock) = h.0.remove(&ev.token) {
                        let _ = self.poller.delete(sock.as_fd());
                        // Relaxed: under the registry lock.
                        self.holder_count.fetch_sub(1, Ordering::Relaxed);
                    }
                }
                drop(h);
                self.maybe_stop(&mut reg)
            };
            if let Some(mut a) = stop {
                // On the acceptor thread itself: stop() detaches and the loop ends at its next
                // wait, closing the listener.
                a.stop();
            }
        }
    }
}

/// Holders' connections a serving process keeps per event: a bound on the descriptors other
/// processes (of the same user) can make it hold.
pub(super) const MAX_HOLDERS: usize = 4096;

/// The service behind a name's acceptor (the acceptor holds it while it runs).
#[derive(Debug)]
pub(super) struct NameService(Arc<Served>);

impl Service for NameService {
    fn request(&self, sock: OwnedFd, req: Request, _peer: PeerCred) {
        let s = &self.0;
        if req.kind != ReqKind::Open {
            return refuse(&sock, ERROR_INVALID_FUNCTION);
        }
        let Some(memfd) = s.obj.memfd.as_ref() else {
            return refuse(&sock, ERROR_FILE_NOT_FOUND);
        };
        let reg = registry();
        // Relaxed: set under the registry lock, which we hold.
        if s.stopping.load(Ordering::Relaxed) {
            drop(reg);
            return refuse(&sock, ERROR_FILE_NOT_FOUND);
        }
        let info = PipeInfo {
            message_type: s.obj.manual,
            direction: ACCESS_INBOUND,
            max_instances: 1,
            caps: [sys::EVENT_PAGE as u64, 0],
            server_pid: sys::getpid(),
            ..PipeInfo::default()
        };
        let fds = [
            memfd.as_fd(),
            s.obj.state_fd.as_fd(),
            s.obj.release_fd.as_fd(),
        ];
        if sys::send_packet_nowait(sock.as_fd(), &Reply::Connected(info, None).encode(), &fds)
            .is_err()
        {
            return;
        }
        let mut h = s.holders.lock().unwrap_or_else(|p| p.into_inner());
        if h.0.len() >= MAX_HOLDERS {
            // Served, not kept: past this many, the name's lifetime only counts the others.
            return;
        }
        let token = h.1;
        h.1 += 1;
        // Hang-up only: whatever a holder sends is never read.
        if s.poller.add(sock.as_fd(), token, false).is_ok() {
            h.0.insert(token, sock);
            // Relaxed: under the registry lock.
            s.holder_count.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn extra_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.0.poller.fd())
    }

    fn extra_ready(&self) {
        self.0.reap();
    }

    fn shed(&self) {
        self.0.reap();
    }
}

pub(super) fn name_err(code: u32, name: &str) -> io::Error {
    let what = match code {
        ERROR_FILENAME_EXCED_RANGE => "is longer than 259 characters (MAX_PATH)",
        ERROR_PATH_NOT_FOUND => {
            "names a subdirectory of the object namespace (only Local\\ and Global\\ exist)"
        }
        ERROR_INVALID_HANDLE => "is the name of an object of another type",
        _ => "is not a valid event name",
    };
    err(code, format!("the event name {name:?} {what}"))
}

/// A new attachment of this process to `obj` (its own lock description, no slot yet).
pub(super) fn attach(
    obj: Arc<Object>,
    memfd: BorrowedFd<'_>,
    holder: Option<OwnedFd>,
    key: Vec<u8>,
) -> io::Result<Arc<Shared>> {
    let lock = sys::LockFile::open(memfd).map_err(|e| {
        err(
            ERROR_NOT_SUPPORTED,
            format!(
                "cannot open a private description of the event {:?} through /proc/self/fd \
                 (is /proc mounted?): {}",
                obj.name.display,
                io::Error::from_raw_os_error(e.raw_os_error())
            ),
        )
    })?;
    Ok(Arc::new(Shared {
        obj,
        att: Mutex::new(Attach {
            lock,
            slot: None,
            no_slot_since: None,
        }),
        _holder: holder,
        key,
    }))
}

/// This process's attachment to the name at `key`, if it has one (or serves the name).
pub(super) fn local_attachment(
    reg: &mut BTreeMap<Vec<u8>, Entry>,
    key: &[u8],
) -> io::Result<Option<Arc<Shared>>> {
    let Some(e) = reg.get_mut(key) else {
        return Ok(None);
    };
    if let Some(sh) = e.local.upgrade() {
        return Ok(Some(sh));
    }
    match e.served.clone() {
        // Relaxed: set under the registry lock, which the caller holds.
        Some(s) if !s.stopping.load(Ordering::Relaxed) => {
            let memfd = s
                .obj
                .memfd
                .as_ref()
                .expect("the serving process keeps the memfd");
            let sh = attach(s.obj.clone(), memfd.as_fd(), None, key.to_vec())?;
            e.local = Arc::downgrade(&sh);
            Ok(Some(sh))
        }
        _ => Ok(None),
    }
}

/// Creates the event and starts serving its name (`listener` is bound to the address).
pub(super) fn serve_new(
    n: Name,
    key: Vec<u8>,
    listener: Listener,
    manual: bool,
    initial: bool,
) -> io::Result<Arc<Shared>> {
    let display = n.display.clone();
    let os = |e: sys::Errno, what: &str| os_err(e, what, &display);
    let (page, memfd) = sys::EventPage::create().map_err(|e| os(e, "memfd"))?;
    // Relaxed: nobody else sees the page before it is sent (the send orders it).
    let put = |off, v| page.u32_at(off).store(v, Ordering::Relaxed);
    put(OFF_MAGIC, MAGIC);
    put(OFF_VERSION, VERSION);
    put(OFF_SIZE, sys::EVENT_PAGE as u32);
    put(OFF_MANUAL, manual as u32);
    put(OFF_STATE, initial as u32);
    let state_fd = sys::eventfd_at(initial).map_err(|e| os(e, "eventfd"))?;
    let release_fd = sys::eventfd_at(false).map_err(|e| os(e, "eventfd"))?;
    let ino = sys::inode(memfd.as_fd()).map_err(|e| os(e, "fstat"))?;
    let obj = Arc::new(Object {
        page,
        memfd: Some(memfd),
        state_fd,
        release_fd,
        manual,
        ino,
        name: n.clone(),
    });
    let served = Arc::new(Served {
        obj: obj.clone(),
        key: key.clone(),
        acceptor: Mutex::new(None),
        poller: sys::Poller::new().map_err(|e| os(e, "epoll_create"))?,
        holders: Mutex::new((BTreeMap::new(), 0)),
        holder_count: AtomicUsize::new(0),
        stopping: AtomicBool::new(false),
        pid: sys::getpid(),
    });
    let memfd = obj.memfd.as_ref().expect("made above").as_fd();
    let sh = attach(obj.clone(), memfd, None, key.clone())?;
    // The service starts under the registry lock, which its requests and hang-ups take first:
    // none is handled before the acceptor is stored and the entry is in. (A holder that opened
    // and hung up in between found no entry and no acceptor: the service marked itself
    // stopping without anything to stop, and refused every open of the name from then on.)
    let mut reg = registry();
    let acceptor = Acceptor::spawn(
        "npipe-event",
        n,
        listener,
        Arc::new(NameService(served.clone())) as Arc<dyn Service>,
    )?;
    *served.acceptor.lock().unwrap_or_else(|p| p.into_inner()) = Some(acceptor);
    reg.insert(
        key,
        Entry {
            local: Arc::downgrade(&sh),
            served: Some(served),
        },
    );
    drop(reg);
    Ok(sh)
}

/// Opens the event that another process serves at `n`'s address.
pub(super) fn open_remote(n: &Name, key: Vec<u8>) -> io::Result<Arc<Shared>> {
    let name = &n.display;
    let Opened {
        sock, reply, fds, ..
    } = request_open(n, name, 0, Trust::default())?;
    let bad = |what: &str| {
        Error::io_kind(
            io::ErrorKind::InvalidData,
            ERROR_INVALID_DATA,
            format!("the server of the event {name:?} {what}"),
        )
    };
    let info = match reply {
        Some(Reply::Connected(info, None | Some(Area { reused: false, .. }))) => info,
        Some(Reply::Error(c)) => {
            return Err(err(
                c,
                format!("the server of the event {name:?} refused it"),
            ))
        }
        None => {
            return Err(err(
                ERROR_FILE_NOT_FOUND,
                format!("the event {name:?} went away while opening"),
            ))
        }
        Some(_) => return Err(bad("sent an unexpected reply")),
    };
    let [memfd, state_fd, release_fd]: [OwnedFd; 3] = fds
        .try_into()
        .map_err(|_| bad("did not send exactly three descriptors"))?;
    if info.caps[0] != sys::EVENT_PAGE as u64 {
        return Err(bad("announced a state page of the wrong size"));
    }
    let page = sys::EventPage::attach(memfd.as_fd())
        .map_err(|_| bad("sent a state page that is not a sealed memfd of one page"))?;
    sys::check_eventfd(state_fd.as_fd())
        .and_then(|()| sys::check_eventfd(release_fd.as_fd()))
        .map_err(|_| bad("sent a descriptor that is not an eventfd"))?;
    let ino = sys::inode(memfd.as_fd()).map_err(|e| os_err(e, "fstat", name))?;
    // Relaxed: the page came with the reply; its header is checked again under every lock.
    let manual = match page.u32_at(OFF_MANUAL).load(Ordering::Relaxed) {
        0 => false,
        1 => true,
        _ => return Err(bad("sent a state page with a bad reset mode")),
    };
    let obj = Arc::new(Object {
        page,
        memfd: None,
        state_fd,
        release_fd,
        manual,
        ino,
        name: n.clone(),
    });
    obj.check_header().map_err(|w| obj.bad(w))?;
    attach(obj, memfd.as_fd(), Some(sock), key)
}

/// How long CreateEvent retries while a name it found taken turns out to be going away.
pub(super) const CREATE_RACE: Duration = Duration::from_secs(2);

impl Shared {
    /// CreateEvent with a name: the existing event (`true`: ERROR_ALREADY_EXISTS; its reset
    /// mode and state are kept, `manual` and `initial` ignored) or a new one this process
    /// serves.
    pub(crate) fn create(
        name: &str,
        manual: bool,
        initial: bool,
    ) -> io::Result<(Arc<Shared>, bool)> {
        let n = namespace::parse_event(name).map_err(|c| name_err(c, name))?;
        install_fork_handlers();
        let key = n.address();
        let give_up = Instant::now() + CREATE_RACE;
        loop {
            {
                let _creating = CREATING.lock().unwrap_or_else(|p| p.into_inner());
                let found = local_attachment(&mut registry(), &key)?;
                if let Some(sh) = found {
                    return Ok((sh, true));
                }
                match Listener::bind(&key) {
                    Ok(listener) => {
                        let sh = serve_new(n, key, listener, manual, initial)?;
                        return Ok((sh, false));
                    }
                    Err((sys::Errno::ADDRINUSE, _)) => {}
                    Err((e, call)) => return Err(os_err(e, call, name)),
                }
            }
            match open_remote(&n, key.clone()) {
                Ok(sh) => return Ok((register_opened(sh)?, true)),
                // The owner is going away (or refused us while stopping): the address frees
                // up when its acceptor has stopped.
                Err(e)
                    if crate::error::win32_code(&e) == ERROR_FILE_NOT_FOUND
                        && Instant::now() < give_up =>
                {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// OpenEvent: the existing event of that name, or ERROR_FILE_NOT_FOUND.
    pub(crate) fn open(name: &str) -> io::Result<Arc<Shared>> {
        let n = namespace::parse_event(name).map_err(|c| {
            // OpenEvent of a name that could never be created finds nothing of that name,
            // except for the codes Windows gives for the path itself.
            name_err(c, name)
        })?;
        install_fork_handlers();
        let key = n.address();
        let found = local_attachment(&mut registry(), &key)?;
        if let Some(sh) = found {
            return Ok(sh);
        }
        register_opened(open_remote(&n, key)?)
    }

    /// The name as given.
    pub(crate) fn name(&self) -> &str {
        &self.obj.name.display
    }

    /// Whether it is a manual-reset event.
    pub(crate) fn manual(&self) -> bool {
        self.obj.manual
    }

    /// The state descriptor: polls readable exactly while the state is set, in every process.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.obj.state_fd.as_fd()
    }

    /// Locks the shared words (see the module docs).
    pub(super) fn lock(&self) -> io::Result<SharedStore<'_>> {
        let att = self.att.lock().unwrap_or_else(|p| p.into_inner());
        let start = Instant::now();
        let mut pause = Duration::from_micros(20);
        let mut spins = 0;
        loop {
            match att.lock.try_lock(LOCK_STATE) {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => return Err(os_err(e, "fcntl(F_OFD_SETLK)", self.name())),
            }
            if start.elapsed() >= LOCK_LIMIT {
                return Err(err(
                    ERROR_POSSIBLE_DEADLOCK,
                    format!(
                        "the shared state of the event {:?} stayed locked by another process \
                         for {} s",
                        self.name(),
                        LOCK_LIMIT.as_secs()
                    ),
                ));
            }
            if spins < 16 {
                spins += 1;
                std::thread::yield_now();
            } else {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(1));
            }
        }
        // SYNC POINT with the Release fence in `SharedStore::drop` of the previous holder (any
        // process): its writes to the page are visible from here on.
        fence(Ordering::Acquire);
        let mut st = SharedStore {
            obj: &self.obj,
            att,
        };
        // On an error the store's drop releases the lock (and clears `busy`, which we never
        // set then: harmless, `busy` is only a hint for repair).
        st.obj.check_header().map_err(|w| self.obj.bad(w))?;
        if st.w32(OFF_BUSY) != 0 {
            st.repair().map_err(|w| self.obj.bad(w))?;
        }
        st.put32(OFF_BUSY, 1);
        Ok(st)
    }

    pub(super) fn run<T>(&self, f: impl FnOnce(&mut dyn Store) -> Result<T, Bad>) -> io::Result<T> {
        let _g = gate();
        let mut st = self.lock()?;
        f(&mut st).map_err(|w| self.obj.bad(w))
    }

    /// SetEvent.
    pub(crate) fn set(&self) -> io::Result<()> {
        self.run(op_set)
    }

    /// ResetEvent.
    pub(crate) fn reset(&self) -> io::Result<()> {
        self.run(op_reset)
    }

    /// PulseEvent.
    pub(crate) fn pulse(&self) -> io::Result<()> {
        self.run(op_pulse)
    }

    /// Whether the state is set.
    pub(crate) fn is_set(&self) -> io::Result<bool> {
        self.run(|st| st.state())
    }

    /// Takes the state without waiting.
    pub(crate) fn try_take(&self) -> io::Result<bool> {
        self.run(try_take)
    }
}

/// Records a freshly opened attachment, unless another thread of this process attached to the
/// same name meanwhile (then that one is used and ours closes).
pub(super) fn register_opened(sh: Arc<Shared>) -> io::Result<Arc<Shared>> {
    let mut reg = registry();
    let existing = local_attachment(&mut reg, &sh.key);
    if let Ok(None) = existing {
        reg.insert(
            sh.key.clone(),
            Entry {
                local: Arc::downgrade(&sh),
                served: None,
            },
        );
        return Ok(sh);
    }
    // `sh` is dropped after the registry lock (its drop takes the lock).
    drop(reg);
    drop(sh);
    Ok(existing?.expect("checked above"))
}

impl Drop for Shared {
    fn drop(&mut self) {
        let stop = {
            let mut reg = registry();
            let me = self as *const Shared;
            let Some(e) = reg.get_mut(&self.key) else {
                return;
            };
            if e.local.as_ptr() == me {
                e.local = Weak::new();
            }
            if e.local.strong_count() > 0 {
                None
            } else {
                match e.served.clone() {
                    Some(s) if s.pid == sys::getpid() => s.maybe_stop(&mut reg),
                    // A forked child never serves: it only forgets the name.
                    _ => {
                        reg.remove(&self.key);
                        None
                    }
                }
            }
        };
        if let Some(mut a) = stop {
            a.stop();
        }
    }
}
