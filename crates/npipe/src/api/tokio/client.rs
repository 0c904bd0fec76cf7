//! `npipe::tokio::NamedPipeClient`: a client end driven by tokio.

use std::io;

use super::io::Io;
use super::{data_methods, io_traits, MsgLen, PipeInfo};
use crate::error::with_raw_code;

/// A named pipe client for tokio, as
/// [`tokio::net::windows::named_pipe::NamedPipeClient`](https://docs.rs/tokio/latest/tokio/net/windows/named_pipe/struct.NamedPipeClient.html).
///
/// Open it with [`ClientOptions::open`](super::ClientOptions::open). `NotFound` means no
/// server exists; `ERROR_PIPE_BUSY` means every instance is taken: sleep and try again.
///
/// ```
/// use std::time::Duration;
/// use npipe::tokio::ClientOptions;
/// use tokio::time;
/// use windows_sys::Win32::Foundation::ERROR_PIPE_BUSY;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let pipe_name = format!(r"\\.\pipe\named-pipe-idiomatic-client-{}", std::process::id());
/// # let server = npipe::tokio::ServerOptions::new().max_instances(1).create(&pipe_name)?;
/// # let first = ClientOptions::new().open(&pipe_name)?; // every instance busy
/// # tokio::spawn(async move {
/// #     time::sleep(Duration::from_millis(60)).await;
/// #     drop(first);
/// #     server.disconnect()?;
/// #     server.connect().await
/// # });
/// let client = loop {
///     match ClientOptions::new().open(&pipe_name) {
///         Ok(client) => break client,
///         Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY as i32) => (),
///         Err(e) => return Err(e),
///     }
///     time::sleep(Duration::from_millis(50)).await;
/// };
/// /* use the connected client */
/// # drop(client);
/// # Ok(()) }
/// ```
pub struct NamedPipeClient {
    io: Io<crate::NamedPipeClient>,
}

/// The blocking end's one line (name, state, modes).
impl std::fmt::Debug for NamedPipeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.io.end, f)
    }
}

impl NamedPipeClient {
    /// Wraps a client end of the blocking API (registering its readiness descriptor with the
    /// current runtime). Its PIPE_NOWAIT setting does not apply to the async calls.
    ///
    /// # Errors
    /// Outside a tokio runtime (a runtime without I/O enabled panics, as for tokio's own types).
    pub fn from_std(end: crate::NamedPipeClient) -> io::Result<NamedPipeClient> {
        Ok(NamedPipeClient { io: Io::new(end)? })
    }

    /// `GetNamedPipeInfo`.
    ///
    /// # Errors
    /// `ERROR_PIPE_NOT_CONNECTED` (233) after the server disconnected this client.
    #[doc(alias = "GetNamedPipeInfo")]
    pub fn info(&self) -> io::Result<PipeInfo> {
        self.io
            .end
            .info()
            .map(PipeInfo::from_info)
            .map_err(with_raw_code)
    }

    data_methods!(crate::NamedPipeClient);
}

io_traits!(NamedPipeClient);
