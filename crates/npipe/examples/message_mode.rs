//! Message pipes: whole messages, partial reads with `ERROR_MORE_DATA`, peek and
//! transactions, with both ends in one process (the server on a thread).
//!
//! ```sh
//! cargo run -p npipe --example message_mode
//! ```
//!
//! On Windows a `ReadFile` whose buffer is shorter than the message fails with
//! `ERROR_MORE_DATA` (234) and the rest stays in the pipe (W67 in docs/WINDOWS-BEHAVIOUR.md);
//! npipe's `recv_msg` returns the same as a count: `MsgLen { read, left }`, `left > 0` being
//! `ERROR_MORE_DATA`.

use std::io;
use std::thread;

use npipe::error::code::ERROR_BROKEN_PIPE;
use npipe::{win32_code, ClientOptions, NamedPipeServer, PipeMode, ReadMode, ServerOptions};

fn main() -> io::Result<()> {
    let name = format!(r"\\.\pipe\npipe-message-example-{}", std::process::id());
    // Message type; the server handle reads in message read mode (pipe_mode sets both).
    let server = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .create(&name)?;
    let server = thread::spawn(move || serve(server));

    let client = ClientOptions::new().open(&name)?;
    // Three writes are three messages, whatever their sizes.
    for m in [
        &b"short"[..],
        b"a message longer than the server's buffer",
        b"",
    ] {
        client.send_msg(m)?;
    }
    // A transaction needs message read mode; a new client reads bytes (W57).
    client.set_mode(ReadMode::Message, false)?;
    let mut reply = [0u8; 8];
    let m = client.transact(b"how many?", &mut reply)?;
    println!(
        "transact: {:?}, {} more bytes of the reply (ERROR_MORE_DATA)",
        String::from_utf8_lossy(&reply[..m.read]),
        m.left
    );
    // The rest of the reply is still in the pipe: plain reads get it.
    let mut rest = vec![0u8; m.left as usize];
    let r = client.recv_msg(&mut rest)?;
    assert!(r.complete());
    println!("rest of the reply: {:?}", String::from_utf8_lossy(&rest));
    drop(client);
    server.join().expect("server panicked")
}

fn serve(pipe: NamedPipeServer) -> io::Result<()> {
    pipe.connect()?;
    let mut buf = [0u8; 8]; // deliberately small
    let mut messages = 0;
    loop {
        // Peek first: how much waits, and how long the next message is.
        if let Ok(p) = pipe.peek(None) {
            if p.available > 0 {
                println!(
                    "peek: {} bytes waiting, next message {} bytes",
                    p.available, p.left_this_message
                );
            }
        }
        let mut message = Vec::new();
        loop {
            let m = match pipe.recv_msg(&mut buf) {
                Ok(m) => m,
                Err(e) if win32_code(&e) == ERROR_BROKEN_PIPE => return Ok(()), // client gone
                Err(e) => return Err(e),
            };
            message.extend_from_slice(&buf[..m.read]);
            if m.complete() {
                break;
            }
            println!("  read {} bytes, ERROR_MORE_DATA: {} left", m.read, m.left);
        }
        messages += 1;
        println!(
            "message {messages}: {:?} ({} bytes)",
            String::from_utf8_lossy(&message),
            message.len()
        );
        if message == b"how many?" {
            pipe.send_msg(format!("{} messages before this question", messages - 1).as_bytes())?;
        }
    }
}
