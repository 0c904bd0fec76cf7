//! [`ServiceClient`], the client of a [`Service`](super::Service) (ipc.h's client half): it
//! connects, waiting while every instance is busy, sends a request as one message and reads
//! the reply, and explains the ways a service ends a call.

use super::*;

/// A client of a [`Service`] (or of any message-type pipe server that answers each request
/// with one message): [`call`](Self::call) sends a request and returns the reply.
///
/// # Windows
/// The client half of ipc.h (`ipc_client_connect`, `ipc_client_send`, `ipc_client_receive`).
#[derive(Debug)]
pub struct ServiceClient {
    pipe: NamedPipeClient,
}

impl ServiceClient {
    /// Connects to the service `name` (`\\.\pipe\NAME` or a bare `NAME`). While every
    /// instance is busy it waits (`WaitNamedPipe`) for one to be free, without a time limit.
    ///
    /// The client reads in message read mode. A byte-type pipe (a server made with
    /// [`ServerOptions`], not a [`Service`]) has no message boundaries: there [`recv`](Self::recv)
    /// returns the bytes that are there and [`call`](Self::call) what one read gets, as ipc.h's
    /// client does on Windows.
    ///
    /// # Errors
    /// ERROR_FILE_NOT_FOUND (2) when nothing serves `name` (at once; if the server goes away
    /// while this waits, the wait goes on until a server of that name is back),
    /// ERROR_ACCESS_DENIED (5) for a server of another user.
    ///
    /// # Windows
    /// `ipc_client_connect`: `CreateFile`, on ERROR_PIPE_BUSY `WaitNamedPipe` and again. ipc.h
    /// leaves its client in byte read mode, where Windows never reports ERROR_MORE_DATA;
    /// npipe's client switches to message read mode (`SetNamedPipeHandleState`) on a
    /// message-type pipe, so a reply longer than the buffer comes in parts, as ipc.h's
    /// `IPC_RECEIVE_STATUS_MORE_DATA` intends.
    #[doc(alias = "ipc_client_connect")]
    pub fn connect(name: &str) -> io::Result<ServiceClient> {
        Self::open(name, None)
    }

    /// Like [`connect`](Self::connect), giving up with ERROR_SEM_TIMEOUT (121) when no instance
    /// has become free within `timeout`.
    ///
    /// # Errors
    /// As [`connect`](Self::connect), and ERROR_SEM_TIMEOUT.
    pub fn connect_timeout(name: &str, timeout: Duration) -> io::Result<ServiceClient> {
        Self::open(name, Some(Instant::now().checked_add(timeout)))
    }

    /// `deadline`: `None` waits forever, `Some(None)` too (a timeout too large to represent).
    fn open(name: &str, deadline: Option<Option<Instant>>) -> io::Result<ServiceClient> {
        let name = full_pipe_name(name);
        loop {
            match ClientOptions::new().open(&name) {
                Ok(pipe) => {
                    if pipe.is_message_type() {
                        pipe.set_mode(ReadMode::Message, false)?;
                    }
                    return Ok(ServiceClient { pipe });
                }
                Err(e) if win32_code(&e) == ERROR_PIPE_BUSY => {
                    let wait = match deadline.flatten() {
                        None => WaitFor::Forever,
                        Some(d) => {
                            let left = d.saturating_duration_since(Instant::now());
                            if left.is_zero() {
                                return Err(Error::io(
                                    ERROR_SEM_TIMEOUT,
                                    format!("every instance of {name} stayed busy"),
                                ));
                            }
                            WaitFor::Timeout(left)
                        }
                    };
                    // W34: success reserves nothing, so the open may find all busy again.
                    wait_named_pipe(&name, wait)?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends `request` as one message and returns the reply, however long.
    ///
    /// # Errors
    /// ERROR_PIPE_NOT_CONNECTED (233) when the server ended the connection without a reply
    /// (the request was longer than its maximum message length, or its handler panicked),
    /// ERROR_NO_DATA (232) when it had closed the connection (it stopped) before the request
    /// was sent, ERROR_BROKEN_PIPE (109) when it closed it while the reply was awaited: a
    /// write to a closed pipe and a read from one fail so on Windows (W113, W114). Either way
    /// the connection is over: connect again.
    ///
    /// # Windows
    /// `ipc_client_send` followed by `ipc_client_receive` until `IPC_RECEIVE_STATUS_DONE`.
    pub fn call(&mut self, request: &[u8]) -> io::Result<Vec<u8>> {
        let mut reply = Vec::new();
        self.call_into(request, &mut reply)?;
        Ok(reply)
    }

    /// Like [`call`](Self::call), into `reply` (cleared first; its capacity is reused).
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub fn call_into(&mut self, request: &[u8], reply: &mut Vec<u8>) -> io::Result<()> {
        reply.clear();
        self.send(request)?;
        let mut filled = 0usize;
        let mut chunk = reply.capacity().clamp(4096, FIRST_READ);
        loop {
            reply.resize(filled + chunk, 0);
            match self.pipe.recv_msg(&mut reply[filled..]) {
                Ok(m) => {
                    filled += m.read;
                    if m.left == 0 {
                        reply.truncate(filled);
                        return Ok(());
                    }
                    // W67: the rest of the message stays in the pipe; `left` says how much.
                    chunk = m.left as usize;
                }
                Err(e) => {
                    reply.clear();
                    return Err(self.explain(e, Some(request.len())));
                }
            }
        }
    }

    /// Sends one request without waiting for the reply; [`recv`](Self::recv) reads it. Returns
    /// once the server's quota has room for the request.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    ///
    /// # Windows
    /// `ipc_client_send`.
    #[doc(alias = "ipc_client_send")]
    pub fn send(&self, request: &[u8]) -> io::Result<()> {
        match self.pipe.send_msg(request) {
            Ok(_) => Ok(()),
            Err(e) => Err(self.explain(e, Some(request.len()))),
        }
    }

    /// Reads the next reply, or the next part of it: `left > 0` when `buf` was too small
    /// (ERROR_MORE_DATA on Windows, W67); the rest comes with the next call.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    ///
    /// # Windows
    /// `ipc_client_receive`.
    #[doc(alias = "ipc_client_receive")]
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<MsgLen> {
        self.pipe.recv_msg(buf).map_err(|e| self.explain(e, None))
    }

    /// Says what a failed call means for this protocol, keeping the Win32 code.
    fn explain(&self, e: io::Error, request_len: Option<usize>) -> io::Error {
        let code = win32_code(&e);
        let name = self.pipe.name();
        match code {
            ERROR_PIPE_NOT_CONNECTED => {
                let len =
                    request_len.map_or(String::new(), |n| format!(" (this one has {n} bytes)"));
                Error::io(
                    code,
                    format!(
                        "the server of {name} ended the connection without a reply: it refuses a \
                         request longer than its maximum message length{len}, and drops a client \
                         whose handler fails"
                    ),
                )
            }
            ERROR_BROKEN_PIPE | ERROR_NO_DATA => Error::io(
                code,
                format!("the server of {name} closed the connection (it stopped)"),
            ),
            _ => e,
        }
    }

    /// The full pipe name.
    pub fn name(&self) -> &str {
        self.pipe.name()
    }

    /// The pipe end, for anything else a client of this pipe may do.
    pub fn pipe(&self) -> &NamedPipeClient {
        &self.pipe
    }

    /// The pipe end.
    pub fn into_pipe(self) -> NamedPipeClient {
        self.pipe
    }
}
