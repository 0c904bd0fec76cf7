//! CreateNamedPipe: making a server instance. The first instance of a name binds it (and the
//! process that owns a taken name is asked about its pipe, W23), later ones join the pipe within
//! its instance limit and parameters; the new instance's slot and queue are added under the
//! registry lock together with the bind, so a client never finds the name without an instance
//! to take it. Everything an instance does once made is in the parent module.

use std::collections::{BTreeMap, VecDeque};
use std::os::fd::AsFd;
use std::time::Duration;

use super::*;
use crate::semantics::acceptor::{self, Acceptor, Listener, Service};
use crate::semantics::namespace::{self, Kind, Name};
use crate::semantics::security::Policy;
use crate::transport::control::{self, Reply, ReqKind, Request};

/// How long a create waits for the process that owns a name to describe its pipe.
const OWNER_TIMEOUT: Duration = Duration::from_secs(1);

/// Asks the process that owns `addr` about its pipe (for a create that found the name taken).
/// Only a process of our own user or root is believed; the answer must come within
/// [`OWNER_TIMEOUT`].
fn query_owner(name: &Name, addr: &[u8]) -> io::Result<Option<PipeInfo>> {
    let display = &name.display;
    let Ok(sock) = sys::seqpacket(false) else {
        return Ok(None);
    };
    if sys::connect(sock.as_fd(), addr).is_err() {
        return Ok(None);
    }
    let peer = sys::peer_cred(sock.as_fd()).map_err(|e| os_err(e, "SO_PEERCRED", display))?;
    if !acceptor::peer_allowed(&peer) {
        return Err(err(
            ERROR_ACCESS_DENIED,
            format!("{display} is served by another user (uid {})", peer.uid),
        ));
    }
    let req = Request {
        kind: ReqKind::Query,
        access: 0,
        timeout_ms: 0,
        sqos: 0,
        name: display.clone(),
        token: 0,
        claims: None,
    };
    if sys::send_packet_nowait(sock.as_fd(), &req.encode(), &[]).is_err() {
        return Ok(None);
    }
    let mut buf = [0u8; control::MAX_REP];
    let mut fds = Vec::new();
    let deadline = Some(Instant::now() + OWNER_TIMEOUT);
    let Ok(n) = sys::recv_packet(sock.as_fd(), &mut buf, &mut fds, deadline) else {
        return Ok(None);
    };
    Ok(match Reply::decode(&buf[..n]) {
        Ok(Reply::Info(i)) => Some(i),
        _ => None,
    })
}

impl ServerEnd {
    /// CreateNamedPipe. Returns the instance and whether the pipe already existed (W23).
    pub(crate) fn create(name: &str, cfg: ServerConfig) -> io::Result<(ServerEnd, bool)> {
        let p = cfg.params;
        if !(1..=3).contains(&p.direction) {
            return Err(err(
                ERROR_INVALID_PARAMETER,
                format!("{name}: the open mode must be PIPE_ACCESS_INBOUND, _OUTBOUND or _DUPLEX"),
            ));
        }
        if cfg.read_message && !p.message_type {
            return Err(err(
                ERROR_INVALID_PARAMETER,
                format!("{name}: PIPE_READMODE_MESSAGE needs PIPE_TYPE_MESSAGE"),
            ));
        }
        if p.max_instances == 0 || p.max_instances > UNLIMITED {
            return Err(err(
                ERROR_INVALID_PARAMETER,
                format!("{name}: max instances must be 1..=255 (255 = unlimited)"),
            ));
        }
        let n = namespace::parse(name, Kind::Pipe).map_err(|c| {
            err(
                c,
                format!("{name:?} is not a valid pipe name (\\\\.\\pipe\\NAME)"),
            )
        })?;
        let addr = n.address();
        // The instance's connection cell registers the process for membarriers on its first
        // borrow; done here, the wait that may cost is the creator's, not the first client's.
        sys::prepare_borrow_fence();
        // A name being torn down by another thread is free within a few milliseconds (its
        // acceptor is being joined); wait for it rather than fail.
        let give_up = Instant::now() + Duration::from_secs(2);
        loop {
            match Self::create_once(name, &n, &addr, &cfg)? {
                Some(r) => return Ok(r),
                None if Instant::now() < give_up => std::thread::sleep(Duration::from_millis(1)),
                None => {
                    return Err(err(
                        ERROR_ACCESS_DENIED,
                        format!("{name} is being closed by another thread"),
                    ))
                }
            }
        }
    }

    /// The error for a name another process serves: ERROR_PIPE_BUSY when all its instances
    /// exist, whatever the flags (the pipe file system checks the count first), else
    /// ERROR_ACCESS_DENIED.
    fn taken(name: &str, n: &Name, addr: &[u8], first_instance: bool) -> io::Error {
        let first = || {
            err(
                ERROR_ACCESS_DENIED,
                format!("{name} already exists (FILE_FLAG_FIRST_PIPE_INSTANCE)"),
            )
        };
        match query_owner(n, addr) {
            Ok(Some(i)) if i.max_instances != UNLIMITED && i.cur_instances >= i.max_instances => {
                err(
                    ERROR_PIPE_BUSY,
                    format!("all {} instances of {name} exist", i.max_instances),
                )
            }
            _ if first_instance => first(),
            Err(e) => e,
            Ok(_) => err(
                ERROR_ACCESS_DENIED,
                format!(
                    "{name} is served by another process; instances of one name must come \
                     from one process"
                ),
            ),
        }
    }

    /// One attempt; `Ok(None)` when the name was being torn down and the caller should retry.
    fn create_once(
        name: &str,
        n: &Name,
        addr: &[u8],
        cfg: &ServerConfig,
    ) -> io::Result<Option<(ServerEnd, bool)>> {
        let p = cfg.params;
        // A new pipe's first instance listens from the moment its name is bound, so a client
        // that finds the name can connect at once (as on Windows, where the name appears with
        // its instance): its queue is made before the lock, and the instance is added in the
        // same lock section as the bind. (If the name turns out to exist, this one is dropped.)
        let fresh = if registry().by_addr.contains_key(addr) {
            None
        } else {
            Pipe::queue_for(&p)
        };
        let mut reg = registry();
        let (pipe, existed) = match reg.by_addr.get(addr).copied() {
            Some(Addr::Closing(_)) => return Ok(None),
            Some(Addr::Live(id)) => {
                let pipe = reg.pipes[&id].0.clone();
                if pipe.name.folded != n.folded {
                    return Err(err(
                        ERROR_ACCESS_DENIED,
                        format!("{name}: another pipe name maps to the same address"),
                    ));
                }
                (pipe, true)
            }
            None => {
                let l = match Listener::bind(addr) {
                    Ok(l) => l,
                    Err((sys::Errno::ADDRINUSE, _)) => {
                        drop(reg);
                        return Err(Self::taken(name, n, addr, cfg.first_instance));
                    }
                    Err((e, call)) => return Err(os_err(e, call, name)),
                };
                let id = reg.next_pipe;
                reg.next_pipe += 1;
                let pipe = Arc::new(Pipe {
                    id,
                    name: n.clone(),
                    addr: addr.to_vec(),
                    params: p,
                    policy: cfg
                        .policy
                        .clone()
                        .unwrap_or_else(|| Arc::new(Policy::owner_and_root())),
                    owner: sys::geteuid(),
                });
                let acceptor = Acceptor::spawn(
                    "npipe-acceptor",
                    n.clone(),
                    l,
                    pipe.clone() as Arc<dyn Service>,
                )?;
                let st = PipeState {
                    slots: BTreeMap::new(),
                    listeners: VecDeque::new(),
                    parked: Vec::new(),
                    next_slot: 1,
                    acceptor: Some(acceptor),
                };
                reg.pipes.insert(id, (pipe.clone(), st));
                reg.by_addr.insert(addr.to_vec(), Addr::Live(id));
                (pipe, false)
            }
        };
        let (queue, mut reg) = if existed {
            drop(reg);
            // The first client's queue, made outside the registry lock (the acceptor needs
            // it).
            let queue = pipe.make_queue();
            (queue, registry())
        } else {
            (fresh, reg)
        };
        let Some(st) = reg.state(pipe.id) else {
            // The pipe closed meanwhile: start over.
            return Ok(None);
        };
        if existed {
            // The instance count first: a full pipe is ERROR_PIPE_BUSY even to a create with
            // FILE_FLAG_FIRST_PIPE_INSTANCE (STATUS_INSTANCE_NOT_AVAILABLE on Windows).
            let max = pipe.params.max_instances;
            if max != UNLIMITED && st.slots.len() as u32 >= max {
                return Err(err(
                    ERROR_PIPE_BUSY,
                    format!("all {max} instances of {name} exist"),
                ));
            }
            if cfg.first_instance {
                return Err(err(
                    ERROR_ACCESS_DENIED,
                    format!("{name} already exists (FILE_FLAG_FIRST_PIPE_INSTANCE)"),
                ));
            }
            if pipe.params.direction != p.direction {
                return Err(err(
                    ERROR_ACCESS_DENIED,
                    format!("{name} exists with another direction"),
                ));
            }
            if cfg.policy.as_ref().is_some_and(|q| **q != *pipe.policy) {
                // W134: another instance keeps the pipe's descriptor; a different explicit one
                // is refused.
                return Err(err(
                    ERROR_ACCESS_DENIED,
                    format!("{name} exists with another access policy"),
                ));
            }
        }
        let id = st.next_slot;
        st.next_slot += 1;
        let epoch = Arc::new(SlotEpoch::default());
        st.slots.insert(
            id,
            Slot {
                state: SlotState::Listening,
                conn: None,
                remote: None,
                reject_remote: cfg.reject_remote,
                epoch: epoch.clone(),
                queue,
            },
        );
        st.listeners.push_back(id);
        Pipe::publish_instances(st);
        Pipe::wake_parked(st);
        drop(reg);
        Ok(Some((
            ServerEnd {
                pipe,
                id,
                modes: Modes::new(cfg.read_message, cfg.nowait),
                fork_gen: fork_generation(),
                epoch,
                cached: sys::BorrowCell::new(),
                closed: AtomicBool::new(false),
            },
            existed,
        )))
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    /// The half of [`creating_a_pipe_prepares_the_cells_fence`] that runs in a fresh process
    /// (the fence is decided once per process); does nothing unless asked to.
    #[test]
    fn fence_child() {
        if std::env::var_os("NPIPE_FENCE_CHILD").is_none() {
            return;
        }
        assert!(
            !crate::sys::borrow_fence_decided(),
            "decided before any pipe"
        );
        let name = format!(r"\\.\pipe\npipe-fence-{}", std::process::id());
        let _s = crate::ServerOptions::new().create(&name).expect("create");
        assert!(
            crate::sys::borrow_fence_decided(),
            "not decided by the creation"
        );
    }

    /// Creating a pipe registers the process for membarriers (the connection cells' fence), so
    /// the first read or write of a server end, with a client waiting, does not: in a process
    /// with several threads the registration waits for an RCU grace period (9-15 ms measured).
    #[test]
    fn creating_a_pipe_prepares_the_cells_fence() {
        let exe = std::env::current_exe().expect("test binary");
        let out = Command::new(exe)
            .args([
                "--exact",
                "semantics::pipe::server::create::tests::fence_child",
                "--nocapture",
            ])
            .env("NPIPE_FENCE_CHILD", "1")
            .output()
            .expect("run the child");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "child: {}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
