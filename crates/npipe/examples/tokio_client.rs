//! tokio's documented named pipe client loop, ported to Linux by changing one `use` line:
//! open, and while every instance is busy (ERROR_PIPE_BUSY) sleep 50 ms and try again.
//!
//! With `--come-and-go` the client opens and closes at once, before the server has connected
//! it: the server's `connect` then fails with ERROR_NO_DATA (see `tokio_server.rs`).

use std::io;
use std::time::Duration;

// On Windows: use tokio::net::windows::named_pipe::ClientOptions;
use npipe::tokio::ClientOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time;
use windows_sys::Win32::Foundation::ERROR_PIPE_BUSY;

#[tokio::main]
async fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let name = args
        .next()
        .unwrap_or_else(|| r"\\.\pipe\npipe-tokio-example".into());
    let come_and_go = args.any(|a| a == "--come-and-go");

    let mut client = loop {
        match ClientOptions::new().open(&name) {
            Ok(client) => break client,
            Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY as i32) => (),
            Err(e) => return Err(e),
        }
        time::sleep(Duration::from_millis(50)).await;
    };
    if come_and_go {
        drop(client);
        return Ok(());
    }
    client.write_all(b"ping").await?;
    let mut buf = [0u8; 64];
    let n = client.read(&mut buf).await?;
    println!("client got {:?}", String::from_utf8_lossy(&buf[..n]));
    Ok(())
}
