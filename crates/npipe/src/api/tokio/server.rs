//! `npipe::tokio::NamedPipeServer`: a server instance driven by tokio, with its connect that
//! waits on the instance's readiness descriptor.

use std::io;

use super::io::Io;
use super::{data_methods, io_traits, MsgLen, PipeInfo};
use crate::error::{code::ERROR_NO_DATA, with_raw_code};
use crate::nonblocking::ConnectStart;

/// A named pipe server instance for tokio, as
/// [`tokio::net::windows::named_pipe::NamedPipeServer`](https://docs.rs/tokio/latest/tokio/net/windows/named_pipe/struct.NamedPipeServer.html).
///
/// Keep one instance listening at all times, or clients fail with `NotFound`: tokio's server
/// loop creates the next instance before it hands the connected one to a task.
///
/// ```
/// use npipe::tokio::ServerOptions;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let pipe_name = format!(r"\\.\pipe\named-pipe-idiomatic-server-{}", std::process::id());
/// let mut server = ServerOptions::new().first_pipe_instance(true).create(&pipe_name)?;
/// # let client = npipe::tokio::ClientOptions::new().open(&pipe_name)?;
/// loop {
///     server.connect().await?;
///     let connected = server;
///     server = ServerOptions::new().create(&pipe_name)?;
///     tokio::spawn(async move {
///         /* use the connected client */
///         drop(connected);
///     });
/// #   break;
/// }
/// # drop(client);
/// # Ok(()) }
/// ```
pub struct NamedPipeServer {
    io: Io<crate::NamedPipeServer>,
}

/// The blocking end's one line (name, state, modes).
impl std::fmt::Debug for NamedPipeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.io.end, f)
    }
}

impl NamedPipeServer {
    /// Wraps a server instance of the blocking API (registering its readiness descriptor with
    /// the current runtime). Its PIPE_NOWAIT setting does not apply to the async calls.
    ///
    /// # Errors
    /// Outside a tokio runtime (a runtime without I/O enabled panics, as for tokio's own types).
    pub fn from_std(end: crate::NamedPipeServer) -> io::Result<NamedPipeServer> {
        Ok(NamedPipeServer { io: Io::new(end)? })
    }

    /// `GetNamedPipeInfo`.
    ///
    /// # Errors
    /// `ERROR_INVALID_HANDLE` (6) once the instance is closed.
    #[doc(alias = "GetNamedPipeInfo")]
    pub fn info(&self) -> io::Result<PipeInfo> {
        self.io
            .end
            .info()
            .map(PipeInfo::from_info)
            .map_err(with_raw_code)
    }

    /// Waits for a client to connect (`ConnectNamedPipe`); returns at once if one already has,
    /// also when that client has closed again since (where `ConnectNamedPipe` fails with
    /// `ERROR_NO_DATA`, tokio on Windows reports the instance connected, as mio does): the
    /// instance's reads then return `Ok(0)` and its writes fail with `ERROR_NO_DATA` (232), so
    /// a server loop that hands each connected instance to a task serves such a client as an
    /// empty one.
    ///
    /// # Errors
    /// `ERROR_OPERATION_ABORTED` (995) when the instance is closed meanwhile.
    ///
    /// # Cancel safety
    /// Cancel safe: the instance keeps listening; a client that connects meanwhile stays
    /// connected and the next call returns at once.
    #[doc(alias = "ConnectNamedPipe")]
    pub async fn connect(&self) -> io::Result<()> {
        let op = match self.io.end.start_connect() {
            Ok(ConnectStart::Connected) => return Ok(()),
            Ok(ConnectStart::Pending(op)) => op,
            // The client came and went: connected, as mio's `connect` reports it.
            Err(e) if crate::win32_code(&e) == ERROR_NO_DATA => return Ok(()),
            Err(e) => return Err(with_raw_code(e)),
        };
        let hub = self.io.read_hub();
        loop {
            let seen = hub.gen();
            match self.io.end.poll_connect(&op) {
                std::task::Poll::Ready(r) => return r.map_err(with_raw_code),
                std::task::Poll::Pending => hub.wait(seen).await?,
            }
        }
    }

    /// Drops the client (`DisconnectNamedPipe`): unread data in both directions is discarded
    /// (a write still in flight too) and the client's next operation fails with
    /// `ERROR_PIPE_NOT_CONNECTED` (233). [`connect`](Self::connect) listens again.
    ///
    /// # Errors
    /// `ERROR_PIPE_NOT_CONNECTED` (233) when already disconnected, `ERROR_PIPE_LISTENING` (536)
    /// when no client has connected, in the [module's error style](super#errors).
    #[doc(alias = "DisconnectNamedPipe")]
    pub fn disconnect(&self) -> io::Result<()> {
        let r = self.io.end.disconnect().map_err(with_raw_code);
        self.io.discard_inflight();
        r
    }

    data_methods!(crate::NamedPipeServer);
}

io_traits!(NamedPipeServer);
