//! The Rust API's side of `tools/callgrind-cost`: both ends of a message pipe in this process,
//! one thread writing 64 B with the client and reading it back with the server N times, the
//! calls `tools/cost/calls.c` makes through the C ABI (64 KiB buffers, message read mode). The
//! tool runs both under callgrind, so the C layer's own instructions are the difference.
//!
//! ```sh
//! cargo run --release -p npipe --example calls_cost -- 10000
//! ```

use std::io;

use npipe::{ClientOptions, PipeMode, ReadMode, ServerOptions};

fn main() -> io::Result<()> {
    let n: usize = match std::env::args().nth(1) {
        Some(a) => a
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "N: a count of pairs"))?,
        None => 10_000,
    };
    let name = format!(r"\\.\pipe\npipe-calls-cost-{}", std::process::id());
    let server = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .max_instances(1)
        .in_buffer_size(64 << 10)
        .out_buffer_size(64 << 10)
        .create(&name)?;
    let client = ClientOptions::new().open(&name)?;
    server.connect()?;
    client.set_mode(ReadMode::Message, false)?;
    let out = [7u8; 64];
    let mut buf = [0u8; 128];
    for _ in 0..n {
        let w = client.send_msg(&out)?;
        let r = server.recv_msg(&mut buf)?;
        if w != 64 || r.read != 64 || r.left != 0 {
            return Err(io::Error::other(format!("wrote {w}, read {r:?}")));
        }
    }
    println!("ok {n}");
    Ok(())
}
