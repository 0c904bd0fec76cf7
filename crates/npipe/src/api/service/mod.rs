//! A request/reply service over a message pipe, in the shape of ipc.h's server, and its client.
//! This file owns the worker pool (threads and their pipe instances), the connection loop (read
//! a request, call the handler, send the reply), the connect and disconnect hooks and the
//! graceful stop; `options` holds [`ServiceOptions`] (the set-up), `client` the matching
//! [`ServiceClient`].
//!
//! - One worker thread serves one client at a time on its own pipe instance, so handler calls of
//!   different clients run concurrently and a slow handler delays only its own client.
//! - The pool keeps `ready_workers` workers listening. When one gets a client and fewer are left
//!   listening, it starts another (a thread and an instance), up to `instances`. When a client
//!   leaves, its worker disconnects the instance and listens again, or ends if enough others
//!   listen. With all `instances` serving, a new client's open fails with ERROR_PIPE_BUSY and
//!   [`ServiceClient::connect`] waits in `WaitNamedPipe` until a worker listens again (W30, W32).
//! - Requests are whole messages of at most `max_message_len` bytes. A longer one is refused: the
//!   worker reads its first part, sees that more is left (ERROR_MORE_DATA, W67), does not call
//!   the handler and disconnects the client (`DisconnectNamedPipe`, W44), which discards the rest.
//!   The client's pending write or next read fails with ERROR_PIPE_NOT_CONNECTED.
//! - Stop uses no timeout and no polling. Under the state lock it marks the service stopping
//!   and picks every instance that is waiting for a client, waiting for a request or blocked
//!   sending a reply, and closes them (`CloseHandle`): those waiting for a client under the
//!   lock, the others after it (so a client whose connection the stop ends and that connects
//!   again at once finds no instance of this service), and each of those calls fails with
//!   ERROR_OPERATION_ABORTED (or ERROR_INVALID_HANDLE if it had not started yet: a close is
//!   final). A worker inside the handler or a hook finishes it, sends the reply and closes its
//!   instance at its next step. Every phase change takes the same lock and checks the flag, so
//!   no worker can start waiting after the stop has looked. Stop then waits on a condition
//!   variable until every worker has ended, and joins them.
//! - A reply is first written in PIPE_NOWAIT mode, which writes a message whole or not at all
//!   (W108, W110). Only if the client has left more than the quota unread does the worker write
//!   it blocking (also when the reply alone exceeds the quota), in a phase that stop may abort.
//!   So a stop never waits for a client that does not read, and a reply the handler finished is
//!   not cut off: a close keeps the written data readable for the client (W113). Only a reply
//!   longer than the ring that is still streaming when the stop closes the instance is cut.
//! - A panic in the handler or a hook is caught. That client is disconnected without a reply,
//!   the server goes on, and [`Service::stop`] reports it as ERROR_UNHANDLED_EXCEPTION (574).

mod client;
mod options;

pub use client::ServiceClient;
pub use options::ServiceOptions;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use super::exists::full_pipe_name;
use super::{
    wait_named_pipe, AccessPolicy, ClientOptions, MsgLen, NamedPipeClient, NamedPipeServer,
    PipeMode, ReadMode, ServerOptions, WaitFor,
};
use crate::error::code::*;
use crate::{win32_code, Error};

/// ipc.h's `IPC_MESSAGE_MAX_LENGTH`: the default longest request, NUL included for ipc.h.
const DEFAULT_MAX_MESSAGE_LEN: usize = 4096;
/// ipc.h's `MAX_CLIENT_CONNECTIONS`: the default number of clients served at once.
const DEFAULT_INSTANCES: u32 = 32;
/// The first read of a request or reply uses at most this much buffer; a longer message is read
/// on in a buffer of its exact size, which the first read's ERROR_MORE_DATA count gives.
const FIRST_READ: usize = 64 * 1024;

type Handler = dyn Fn(&Peer, &[u8], &mut Vec<u8>) + Send + Sync;
type Hook = dyn Fn(&Peer) + Send + Sync;
/// [`ServiceOptions::refuse_if`]'s test of a request.
type Refuse = dyn Fn(&[u8]) -> bool + Send + Sync;

/// One client connection, as the handler and the hooks see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    id: u64,
    process_id: Option<u32>,
}

impl Peer {
    /// A number for this connection, unique within its [`Service`] (1, 2, ...).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The client's process id (`GetNamedPipeClientProcessId`), or `None` when the client had
    /// already gone when it was connected.
    pub fn process_id(&self) -> Option<u32> {
        self.process_id
    }
}

/// Serves `name` with `handler` and the default [`ServiceOptions`] (ipc.h's: 32 clients,
/// requests up to 4096 bytes).
///
/// # Errors
/// As [`ServiceOptions::serve`].
///
/// # Examples
/// ```
/// let name = format!("npipe-doc-upper-{}", std::process::id());
/// let service = npipe::serve(&name, |_peer, request, reply| {
///     reply.extend(request.iter().map(u8::to_ascii_uppercase));
/// })?;
/// let mut client = npipe::ServiceClient::connect(&name)?;
/// assert_eq!(client.call(b"abc")?, b"ABC");
/// service.stop()?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Windows
/// `ipc_server_start`.
pub fn serve<H>(name: &str, handler: H) -> io::Result<Service>
where
    H: Fn(&Peer, &[u8], &mut Vec<u8>) + Send + Sync + 'static,
{
    ServiceOptions::new().serve(name, handler)
}

/// A running request/reply service (see [`ServiceOptions`]). [`stop`](Self::stop) or dropping
/// it stops it gracefully.
pub struct Service {
    shared: Arc<Shared>,
    stopped: bool,
}

impl fmt::Debug for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.lock();
        f.debug_struct("Service")
            .field("name", &format_args!("{}", self.shared.name))
            .field("workers", &st.threads)
            .field("clients", &st.connected)
            .field("stopping", &st.stopping)
            .finish()
    }
}

impl Service {
    /// The full pipe name served (`\\.\pipe\NAME`).
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// How many clients are connected now.
    pub fn clients(&self) -> usize {
        self.shared.lock().connected
    }

    /// Stops the service gracefully and returns when it has stopped:
    ///
    /// - no new client is accepted: a client that tries once the name is gone gets
    ///   ERROR_FILE_NOT_FOUND; one already waiting for a free instance waits on for a server of
    ///   that name to come back ([`ServiceClient::connect`]) or until its time limit
    ///   (ERROR_SEM_TIMEOUT: [`ServiceClient::connect_timeout`], ipc.h's 20 s);
    /// - a handler call in progress finishes and its reply is sent; the client can read it (a
    ///   reply longer than the maximum message length is written blocking and may be cut off);
    ///   a request whose handler has not started yet is not handled;
    /// - every connection is closed (the client's next call fails with ERROR_NO_DATA, its
    ///   request unsent, or ERROR_BROKEN_PIPE if it was sent already: see
    ///   [`ServiceClient::call`]) and
    ///   [`on_disconnect`](ServiceOptions::on_disconnect) runs for each;
    /// - when it returns, no handler or hook runs any more, every worker thread has ended and
    ///   the name no longer exists ([`pipe_exists`](crate::pipe_exists) is false).
    ///
    /// It waits for handler calls in progress, however long they take. Called from inside a
    /// handler or hook of this service, it cannot wait for that call: it returns once every other
    /// worker has ended, and the calling worker ends when its call returns.
    ///
    /// # Errors
    /// The first problem the service met while it ran, with a count when there were more:
    /// ERROR_UNHANDLED_EXCEPTION (574) for a panic in the handler or a hook, or the error of a
    /// worker or instance that could not be started (ERROR_NOT_ENOUGH_MEMORY, ...). The service
    /// is stopped either way.
    ///
    /// # Windows
    /// `ipc_server_stop`, which cancels the pending I/O of every instance with `CancelIoEx` and
    /// waits for each thread; closing the instances does that here.
    #[doc(alias = "ipc_server_stop")]
    pub fn stop(mut self) -> io::Result<()> {
        self.stopped = true;
        self.shared.shutdown()
    }
}

impl Drop for Service {
    /// Stops the service as [`Service::stop`] does, discarding its report.
    fn drop(&mut self) {
        if !self.stopped {
            let _ = self.shared.shutdown();
        }
    }
}

/// What a worker is doing, which decides whether a stop may close its instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// In `connect()`, or about to be: a stop closes the instance.
    Listening,
    /// Waiting for the next request: a stop closes the instance.
    Reading,
    /// In the handler, a hook or the PIPE_NOWAIT reply write: a stop lets it finish.
    Busy,
    /// Writing a reply the client has not made room for: a stop closes the instance.
    BlockedSend,
}

/// One worker: its instance (shared with its thread, so a stop can close it) and its phase.
#[derive(Debug)]
struct Worker {
    pipe: Arc<NamedPipeServer>,
    phase: Phase,
    thread: ThreadId,
}

/// Everything that changes, under one lock.
#[derive(Debug, Default)]
struct State {
    stopping: bool,
    /// Workers alive, plus those being started.
    threads: usize,
    /// Workers in the listening phase, plus those being started (their instance listens from
    /// its creation, W33).
    listening: usize,
    /// Clients connected.
    connected: usize,
    workers: HashMap<u64, Worker>,
    next_worker: u64,
    handles: Vec<JoinHandle<()>>,
    /// The first problem met while running, and how many there were.
    problem: Option<io::Error>,
    problems: u64,
}

impl State {
    fn record(&mut self, e: io::Error) {
        self.problems += 1;
        self.problem.get_or_insert(e);
    }
}

/// The service's configuration, handler and state, shared by the handle and every worker.
struct Shared {
    name: String,
    instances: usize,
    ready: usize,
    max_len: usize,
    quota: u32,
    handler: Box<Handler>,
    on_connect: Option<Arc<Hook>>,
    on_disconnect: Option<Arc<Hook>>,
    refuse: Option<Arc<Refuse>>,
    /// Who may connect (`None`: the default policy).
    policy: Option<AccessPolicy>,
    state: Mutex<State>,
    /// Signalled whenever a worker ends.
    changed: Condvar,
    next_peer: AtomicU64,
}

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The client closed its end (or the link failed): disconnect and listen again.
    Left,
    /// The server ended it (a request too long, a panic): disconnect and listen again.
    Dropped,
    /// The service is stopping: close the instance and end the worker.
    Stopping,
}

/// A worker's reusable buffers.
#[derive(Debug, Default)]
struct Buffers {
    request: Vec<u8>,
    reply: Vec<u8>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One instance of the service's pipe: message type, duplex, the quota both ways.
    fn create_instance(&self, first: bool) -> io::Result<NamedPipeServer> {
        let mut opts = ServerOptions::new();
        opts.pipe_mode(PipeMode::Message)
            .max_instances(self.instances as u32)
            .out_buffer_size(self.quota)
            .in_buffer_size(self.quota)
            .first_pipe_instance(first);
        if let Some(p) = &self.policy {
            opts.access_policy(p.clone());
        }
        opts.create(&self.name)
    }

    /// Starts more workers while fewer than `ready` listen and the pool has room. A failure is
    /// recorded and ends the attempt; the next connection that ends tries again.
    fn top_up(self: &Arc<Self>) {
        if let Err(e) = self.try_top_up(None) {
            self.lock().record(e);
        }
    }

    /// [`top_up`](Self::top_up), giving back the first failure; the first worker it starts
    /// takes `first` (`serve`'s first instance) when given. Each reservation checks the counts
    /// under the lock, so workers started at the same time by a client's worker (a client may
    /// connect while `serve` still starts the ready workers) never take the pool past
    /// `instances`.
    pub(super) fn try_top_up(
        self: &Arc<Self>,
        mut first: Option<NamedPipeServer>,
    ) -> io::Result<()> {
        loop {
            {
                let mut st = self.lock();
                if st.stopping || st.listening >= self.ready || st.threads >= self.instances {
                    return Ok(());
                }
                st.threads += 1;
                st.listening += 1;
            }
            self.start_worker(first.take())?;
        }
    }

    /// Starts one reserved worker on `pipe`, or on a new instance. On failure the reservation is
    /// undone.
    fn start_worker(self: &Arc<Self>, pipe: Option<NamedPipeServer>) -> io::Result<()> {
        let undo = |pipe: Option<&NamedPipeServer>| {
            // The instance goes first, so a stop that sees the count drop finds the name gone.
            if let Some(p) = pipe {
                p.close();
            }
            let mut st = self.lock();
            st.threads -= 1;
            st.listening -= 1;
            drop(st);
            self.changed.notify_all();
        };
        // The instance is created under the state lock: a stop either finds it among the
        // workers and closes it, or ran before and no instance is created. An instance created
        // outside the lock could take a client after the stop had closed the others, and then
        // end that client too. The create holds the lock for a bounded time only (at most the
        // name's teardown wait when it is being closed, `ServerOptions::create`), and takes no
        // lock of this service.
        let mut st = self.lock();
        if st.stopping {
            drop(st);
            undo(pipe.as_ref());
            return Ok(());
        }
        let pipe = match pipe.map_or_else(|| self.create_instance(false), Ok) {
            Ok(p) => Arc::new(p),
            Err(e) => {
                drop(st);
                undo(None);
                return Err(e);
            }
        };
        let id = st.next_worker;
        st.next_worker += 1;
        let (shared, p2) = (self.clone(), pipe.clone());
        let identity = crate::NewThreadIdentity::capture();
        match thread::Builder::new()
            .name("npipe-service".into())
            .spawn(move || {
                identity.adopt();
                worker(shared, id, p2)
            }) {
            Ok(h) => {
                st.workers.insert(
                    id,
                    Worker {
                        pipe,
                        phase: Phase::Listening,
                        thread: h.thread().id(),
                    },
                );
                // Handles of workers that ended while the service ran: dropping a finished
                // thread's handle releases it.
                st.handles.retain(|h| !h.is_finished());
                st.handles.push(h);
                Ok(())
            }
            Err(e) => {
                drop(st);
                undo(Some(&pipe));
                Err(Error::io(
                    ERROR_NOT_ENOUGH_MEMORY,
                    format!("{}: cannot start a worker thread: {e}", self.name),
                ))
            }
        }
    }

    /// Moves worker `id` to `phase`, unless the service is stopping (then `false`).
    fn enter(&self, id: u64, phase: Phase) -> bool {
        let mut st = self.lock();
        if st.stopping {
            return false;
        }
        if let Some(w) = st.workers.get_mut(&id) {
            w.phase = phase;
        }
        true
    }

    /// How a connection whose I/O failed ends: a stop closed it, or the client went.
    fn after_error(&self) -> End {
        if self.lock().stopping {
            End::Stopping
        } else {
            End::Left
        }
    }

    /// Runs user code, turning a panic into a recorded problem (`false`).
    fn guarded(&self, what: &str, f: impl FnOnce()) -> bool {
        match panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok(()) => true,
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic without a message".into());
                self.lock().record(Error::io(
                    ERROR_UNHANDLED_EXCEPTION,
                    format!("the {what} of {} panicked: {msg}", self.name),
                ));
                false
            }
        }
    }

    /// Serves the client just connected to `pipe` until it goes, then disconnects it (or closes
    /// the instance when stopping) and runs the disconnect hook.
    fn serve(&self, id: u64, pipe: &NamedPipeServer, bufs: &mut Buffers) -> End {
        let peer = Peer {
            id: self.next_peer.fetch_add(1, Ordering::Relaxed), // Relaxed: a counter only.
            process_id: pipe.client_process_id().ok(),
        };
        let mut end = End::Left;
        if let Some(hook) = &self.on_connect {
            if !self.guarded("connect hook", || hook(&peer)) {
                end = End::Dropped;
            }
        }
        if end == End::Left {
            end = self.exchange(id, pipe, &peer, bufs);
        }
        match end {
            End::Stopping => pipe.close(),
            End::Left | End::Dropped => {
                // Fails only when a stop closed the instance meanwhile, which ends the worker.
                let _ = pipe.disconnect();
            }
        }
        self.lock().connected -= 1;
        if let Some(hook) = &self.on_disconnect {
            self.guarded("disconnect hook", || hook(&peer));
        }
        end
    }

    /// The request/reply loop of one connection.
    fn exchange(&self, id: u64, pipe: &NamedPipeServer, peer: &Peer, bufs: &mut Buffers) -> End {
        loop {
            if !self.enter(id, Phase::Reading) {
                return End::Stopping;
            }
            let len = match read_request(pipe, &mut bufs.request, self.max_len) {
                Ok(Some(n)) => n,
                Ok(None) => return End::Dropped,
                Err(_) => return self.after_error(),
            };
            if let Some(refuse) = &self.refuse {
                let request = &bufs.request[..len];
                let mut refused = false;
                if !self.guarded("refuse_if", || refused = refuse(request)) || refused {
                    return End::Dropped;
                }
            }
            if !self.enter(id, Phase::Busy) {
                return End::Stopping;
            }
            bufs.reply.clear();
            let (request, reply) = (&bufs.request[..len], &mut bufs.reply);
            if !self.guarded("handler", || (self.handler)(peer, request, reply)) {
                return End::Dropped;
            }
            if self.send_reply(id, pipe, &bufs.reply).is_err() {
                return self.after_error();
            }
        }
    }

    /// Writes a reply: PIPE_NOWAIT first (whole or nothing, W110), then, if the client has left
    /// too much unread, blocking in a phase a stop may abort.
    fn send_reply(&self, id: u64, pipe: &NamedPipeServer, reply: &[u8]) -> io::Result<()> {
        pipe.set_mode(ReadMode::Message, true)?;
        let sent = pipe.send_msg(reply);
        pipe.set_mode(ReadMode::Message, false)?;
        match sent? {
            0 if !reply.is_empty() => {
                if !self.enter(id, Phase::BlockedSend) {
                    return Err(Error::io(
                        ERROR_OPERATION_ABORTED,
                        format!("{} is stopping", self.name),
                    ));
                }
                pipe.send_msg(reply).map(drop)
            }
            _ => Ok(()),
        }
    }

    /// Stops the service (see [`Service::stop`]).
    fn shutdown(&self) -> io::Result<()> {
        let me = thread::current().id();
        let (to_close, inside) = {
            let mut st = self.lock();
            st.stopping = true;
            let inside = st.workers.values().any(|w| w.thread == me);
            // The instances waiting for a client are closed here, under the lock that set the
            // flag: a worker that ends its connection because the service is stopping sees the
            // flag under this lock, so after they are gone, and a client whose connection the
            // stop ends finds no instance of this service to connect to again (the name gone,
            // or ERROR_PIPE_BUSY while connected instances remain). Closing takes only the
            // pipe registry's lock, never this one; their workers wake with
            // ERROR_OPERATION_ABORTED and wait for this lock. A client that had just connected
            // to one of them, before its worker left the listening phase, is ended here too.
            for w in st.workers.values() {
                if w.phase == Phase::Listening {
                    w.pipe.close();
                }
            }
            let to_close: Vec<Arc<NamedPipeServer>> = st
                .workers
                .values()
                .filter(|w| !matches!(w.phase, Phase::Busy | Phase::Listening))
                .map(|w| w.pipe.clone())
                .collect();
            (to_close, inside)
        };
        // The connected ones, outside the lock.
        for pipe in &to_close {
            pipe.close();
        }
        drop(to_close);
        let mut st = self.lock();
        while st.threads > usize::from(inside) {
            st = self
                .changed
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let handles = std::mem::take(&mut st.handles);
        let (problem, problems) = (st.problem.take(), st.problems);
        drop(st);
        for h in handles {
            if h.thread().id() != me {
                // Workers catch the panics of user code; one of their own would already have
                // been counted down by their exit guard.
                let _ = h.join();
            }
        }
        match problem {
            None => Ok(()),
            Some(e) if problems <= 1 => Err(e),
            Some(e) => Err(Error::io(
                win32_code(&e),
                format!("{e} (the first of {problems} problems)"),
            )),
        }
    }
}

/// Reads one request into `buf` (kept as a reusable buffer: its length is its usable size).
/// `Ok(None)`: the request is longer than `max` and was left unread beyond its first part.
fn read_request(
    pipe: &NamedPipeServer,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<usize>> {
    if buf.is_empty() {
        buf.resize(max.min(FIRST_READ), 0);
    }
    let first = pipe.recv_msg(buf)?;
    if first.left == 0 {
        return Ok(Some(first.read));
    }
    let total = first.read as u64 + first.left;
    if total > max as u64 {
        return Ok(None);
    }
    // The rest of a request longer than the first read's buffer (W67: it stays in the pipe).
    let total = total as usize;
    if buf.len() < total {
        buf.resize(total, 0);
    }
    let mut have = first.read;
    while have < total {
        let m = pipe.recv_msg(&mut buf[have..total])?;
        have += m.read;
        if m.left == 0 {
            break;
        }
    }
    Ok(Some(have))
}

/// Ends a worker whatever way its thread leaves: closes its instance, then counts it down.
struct ExitGuard<'a> {
    shared: &'a Arc<Shared>,
    id: u64,
    pipe: &'a NamedPipeServer,
}

impl Drop for ExitGuard<'_> {
    fn drop(&mut self) {
        // The instance first: a stop that sees the count reach zero finds the name gone.
        self.pipe.close();
        let mut st = self.shared.lock();
        st.workers.remove(&self.id);
        st.threads -= 1;
        drop(st);
        self.shared.changed.notify_all();
        // A worker that ended on an error may have been the one listening.
        self.shared.top_up();
    }
}

/// A worker thread: listen, serve the client, listen again or end.
fn worker(shared: Arc<Shared>, id: u64, pipe: Arc<NamedPipeServer>) {
    let _exit = ExitGuard {
        shared: &shared,
        id,
        pipe: &pipe,
    };
    let mut bufs = Buffers::default();
    loop {
        let r = pipe.connect();
        {
            let mut st = shared.lock();
            st.listening -= 1;
            if st.stopping {
                return;
            }
            match r {
                Ok(()) => {}
                // The client came and went before this connect (W43): what it wrote stays
                // readable after its close (W113), so it is served like any other connection
                // (its requests are handled, their replies fail, its reads end the exchange);
                // a disconnect here would discard a request its client saw written.
                Err(e) if win32_code(&e) == ERROR_NO_DATA => {}
                Err(e) => {
                    st.record(e);
                    return;
                }
            }
            st.connected += 1;
            if let Some(w) = st.workers.get_mut(&id) {
                w.phase = Phase::Busy;
            }
        }
        shared.top_up();
        if shared.serve(id, &pipe, &mut bufs) == End::Stopping {
            return;
        }
        let mut st = shared.lock();
        if st.stopping || st.listening >= shared.ready {
            return;
        }
        st.listening += 1;
        if let Some(w) = st.workers.get_mut(&id) {
            w.phase = Phase::Listening;
        }
    }
}
