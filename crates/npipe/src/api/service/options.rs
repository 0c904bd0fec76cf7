//! [`ServiceOptions`]: how a [`Service`](super::Service) is set up (instances, workers kept
//! listening, the longest request, access policy, hooks) and the `serve` call that starts its
//! workers.

use super::*;

/// Builder for a request/reply [`Service`]: how many clients at once, how many workers wait
/// ready, the longest request, and hooks for clients coming and going.
///
/// # Examples
/// ```
/// # let name = format!("npipe-doc-echo-{}", std::process::id());
/// let service = npipe::ServiceOptions::new()
///     .instances(8)
///     .max_message_len(64 * 1024)
///     .on_disconnect(|peer| eprintln!("client {} left", peer.id()))
///     .serve(&name, |_peer, request, reply| reply.extend_from_slice(request))?;
/// let mut client = npipe::ServiceClient::connect(&name)?;
/// assert_eq!(client.call(b"echo")?, b"echo");
/// # drop(client);
/// service.stop()?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Windows
/// The server half of ipc.h (`ipc_server_start`): a message-type duplex pipe served by one
/// thread per client. Where ipc.h has one thread listen and hands each connection to a new
/// thread, a worker here serves the client it accepted itself and is reused afterwards.
#[derive(Clone)]
pub struct ServiceOptions {
    instances: u32,
    ready_workers: u32,
    max_message_len: usize,
    on_connect: Option<Arc<Hook>>,
    on_disconnect: Option<Arc<Hook>>,
    refuse: Option<Arc<Refuse>>,
    policy: Option<AccessPolicy>,
}

impl fmt::Debug for ServiceOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceOptions")
            .field("instances", &self.instances)
            .field("ready_workers", &self.ready_workers)
            .field("max_message_len", &self.max_message_len)
            .field("on_connect", &self.on_connect.is_some())
            .field("on_disconnect", &self.on_disconnect.is_some())
            .field("refuse_if", &self.refuse.is_some())
            .field("policy", &self.policy)
            .finish()
    }
}

impl Default for ServiceOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl ServiceOptions {
    /// 32 clients at once, one worker ready, requests of at most 4096 bytes, no hooks (ipc.h's
    /// values).
    pub fn new() -> ServiceOptions {
        ServiceOptions {
            instances: DEFAULT_INSTANCES,
            ready_workers: 1,
            max_message_len: DEFAULT_MAX_MESSAGE_LEN,
            on_connect: None,
            on_disconnect: None,
            refuse: None,
            policy: None,
        }
    }

    /// Who may connect (see [`AccessPolicy`]); by default the serving user and root. ipc.h's
    /// `ipc_server_start` grants [`AccessPolicy::everyone`], as the original does on Windows
    /// (its DACL gives Everyone `FILE_ALL_ACCESS`, so a service can serve other users).
    pub fn access_policy(&mut self, policy: AccessPolicy) -> &mut Self {
        self.policy = Some(policy);
        self
    }

    /// How many clients are served at once (1..=254): the pipe's instance limit and the largest
    /// the worker pool grows. Further clients wait for a free instance.
    pub fn instances(&mut self, n: u32) -> &mut Self {
        self.instances = n;
        self
    }

    /// How many workers wait for clients when the service is idle (1..=`instances`), each
    /// listening on its own instance. More ready workers let a burst of clients connect without
    /// waiting for a worker to start; each costs a thread and an instance.
    pub fn ready_workers(&mut self, n: u32) -> &mut Self {
        self.ready_workers = n;
        self
    }

    /// The longest request accepted, in bytes (1..=4 GiB - 1): longer ones are refused (see
    /// [`serve`](Self::serve)). It is also each direction's write quota
    /// (`nInBufferSize`/`nOutBufferSize`). Replies are not limited.
    pub fn max_message_len(&mut self, n: usize) -> &mut Self {
        self.max_message_len = n;
        self
    }

    /// Called on the client's worker thread when a client has connected, before its first
    /// request.
    pub fn on_connect(&mut self, f: impl Fn(&Peer) + Send + Sync + 'static) -> &mut Self {
        self.on_connect = Some(Arc::new(f));
        self
    }

    /// Called once per connection, on its worker thread, when the client has gone: it closed
    /// its end, was refused, its handler panicked, or the service stopped. No handler call of
    /// that connection runs any more.
    pub fn on_disconnect(&mut self, f: impl Fn(&Peer) + Send + Sync + 'static) -> &mut Self {
        self.on_disconnect = Some(Arc::new(f));
        self
    }

    /// Refuses the requests `pred` says to, as a request longer than
    /// [`max_message_len`](Self::max_message_len) is refused: the handler is not called and the
    /// client is disconnected. It runs on the request's worker thread before the handler (ipc.h
    /// refuses this way a request of the maximum length without the NUL its handler is given).
    pub fn refuse_if(&mut self, pred: impl Fn(&[u8]) -> bool + Send + Sync + 'static) -> &mut Self {
        self.refuse = Some(Arc::new(pred));
        self
    }

    /// Starts serving `name` (`\\.\pipe\NAME`, or a bare `NAME` as in ipc.h) and returns once
    /// clients can connect (the ready workers' instances exist and listen, W33). Each request is one message; `handler(peer, request, reply)` gets an
    /// empty `reply`, and whatever it leaves there is sent back as one message, even when empty.
    ///
    /// A request longer than [`max_message_len`](Self::max_message_len) is refused: the handler
    /// is not called and the client is disconnected (its call fails with
    /// ERROR_PIPE_NOT_CONNECTED), then [`on_disconnect`](Self::on_disconnect) runs as for any
    /// other connection.
    ///
    /// A panic in `handler` or a hook ends that client's connection without a reply (the panic
    /// message goes to the panic hook, by default stderr); the service goes on and
    /// [`Service::stop`] reports it. State the closure shares with other threads may be left
    /// half-updated by such a panic, as with any caught panic.
    ///
    /// # Errors
    /// ERROR_INVALID_PARAMETER (87) for an option out of range, ERROR_INVALID_NAME (123) or
    /// ERROR_FILENAME_EXCED_RANGE (206) for a bad name, ERROR_ACCESS_DENIED (5) when the name
    /// is already served (the first instance is created with `FILE_FLAG_FIRST_PIPE_INSTANCE`),
    /// ERROR_NOT_ENOUGH_MEMORY (8) when no thread can be started.
    ///
    /// # Windows
    /// `ipc_server_start`: `CreateNamedPipe(PIPE_ACCESS_DUPLEX, PIPE_TYPE_MESSAGE |
    /// PIPE_READMODE_MESSAGE, instances, max, max)` and a thread per client.
    #[doc(alias = "ipc_server_start")]
    pub fn serve<H>(&self, name: &str, handler: H) -> io::Result<Service>
    where
        H: Fn(&Peer, &[u8], &mut Vec<u8>) + Send + Sync + 'static,
    {
        let name = full_pipe_name(name).into_owned();
        let bad = |what: String| {
            Err(Error::io(
                ERROR_INVALID_PARAMETER,
                format!("{name}: {what}"),
            ))
        };
        if !(1..=254).contains(&self.instances) {
            return bad(format!("instances must be 1..=254, not {}", self.instances));
        }
        if self.ready_workers == 0 || self.ready_workers > self.instances {
            return bad(format!(
                "ready workers must be 1..={} (the instances), not {}",
                self.instances, self.ready_workers
            ));
        }
        let Ok(quota) = u32::try_from(self.max_message_len) else {
            return bad(format!(
                "the maximum message length {} is over 4 GiB - 1",
                self.max_message_len
            ));
        };
        if quota == 0 {
            return bad("the maximum message length must not be 0".into());
        }
        let shared = Arc::new(Shared {
            name,
            instances: self.instances as usize,
            ready: self.ready_workers as usize,
            max_len: self.max_message_len,
            quota,
            handler: Box::new(handler),
            on_connect: self.on_connect.clone(),
            on_disconnect: self.on_disconnect.clone(),
            refuse: self.refuse.clone(),
            policy: self.policy.clone(),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            next_peer: AtomicU64::new(1),
        });
        let service = Service {
            shared: shared.clone(),
            stopped: false,
        };
        let first = shared.create_instance(true)?;
        // The ready workers as the pool tops itself up, the first on `first`: a client may
        // connect to it meanwhile, and its worker starts listeners of its own. On failure
        // `service` is dropped, which stops the workers already started.
        shared.try_top_up(Some(first))?;
        Ok(service)
    }
}
