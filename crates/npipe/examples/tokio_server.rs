//! tokio's documented named pipe server loop, ported to Linux by changing one `use` line.
//!
//! The first instance is made with `first_pipe_instance`; each connected instance is handed
//! to a task only after the next one listens, so a client never finds the pipe missing. A
//! client that connected and closed again before `connect` ran (ERROR_NO_DATA) is dropped and
//! the instance listens again.
//!
//! ```sh
//! cargo run -p npipe --features tokio --example tokio_server -- '\\.\pipe\demo' 3
//! cargo run -p npipe --features tokio --example tokio_client -- '\\.\pipe\demo'
//! ```
//!
//! Serves the given number of clients (default 1) with "pong" to each "ping", then exits.

use std::io;

// On Windows: use tokio::net::windows::named_pipe::ServerOptions;
use npipe::tokio::ServerOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use windows_sys::Win32::Foundation::ERROR_NO_DATA;

#[tokio::main]
async fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let name = args
        .next()
        .unwrap_or_else(|| r"\\.\pipe\npipe-tokio-example".into());
    let clients: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1);

    let mut server = ServerOptions::new()
        .first_pipe_instance(true)
        .create(&name)?;
    let mut tasks = Vec::new();
    while tasks.len() < clients {
        match server.connect().await {
            Ok(()) => {}
            // The client came and went before we connected: listen again.
            Err(e) if e.raw_os_error() == Some(ERROR_NO_DATA as i32) => {
                eprintln!("a client left before it was served");
                server.disconnect()?;
                continue;
            }
            Err(e) => return Err(e),
        }
        let mut connected = server;
        // The next instance listens before this one is handed off.
        server = ServerOptions::new().create(&name)?;
        tasks.push(tokio::spawn(async move {
            let mut buf = [0u8; 64];
            let n = connected.read(&mut buf).await?;
            if n == 0 {
                // Connected, then gone before it wrote anything.
                eprintln!("a client left without a request");
                return Ok(());
            }
            println!("server got {:?}", String::from_utf8_lossy(&buf[..n]));
            connected.write_all(b"pong").await?;
            connected.flush().await?;
            Ok::<_, io::Error>(())
        }));
    }
    for t in tasks {
        t.await.expect("client task panicked")?;
    }
    Ok(())
}
