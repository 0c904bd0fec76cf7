//! An echo client with the Windows retry loop: an open that finds every instance busy
//! (`ERROR_PIPE_BUSY`) waits with `WaitNamedPipe` and tries again, since a successful wait
//! reserves nothing (W34 in docs/WINDOWS-BEHAVIOUR.md).
//!
//! ```sh
//! # self-contained: a one-instance echo server on a thread and three clients racing for it
//! cargo run -p npipe --example echo_client
//! # against echo_server (see there):
//! cargo run -p npipe --example echo_client -- '\\.\pipe\echo' hello
//! ```

use std::io;
use std::thread;
use std::time::Duration;

use npipe::error::code::{ERROR_BROKEN_PIPE, ERROR_PIPE_BUSY};
use npipe::{
    wait_named_pipe, win32_code, ClientOptions, NamedPipeClient, PipeMode, ReadMode, ServerOptions,
    WaitFor,
};

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => self_contained(),
        [name, text] => {
            let reply = call(&connect(name)?, text)?;
            println!("{reply}");
            Ok(())
        }
        _ => Err(io::Error::other("usage: echo_client [NAME TEXT]")),
    }
}

/// Opens `name`, waiting while every instance is busy (at most 5 s per wait).
fn connect(name: &str) -> io::Result<NamedPipeClient> {
    let pipe = loop {
        match ClientOptions::new().open(name) {
            Ok(pipe) => break pipe,
            Err(e) if win32_code(&e) == ERROR_PIPE_BUSY => {
                println!("{name} is busy, waiting");
                wait_named_pipe(name, WaitFor::Timeout(Duration::from_secs(5)))?;
            }
            Err(e) => return Err(e),
        }
    };
    // A client starts in byte read mode (W57); echo_server's pipe is a message pipe.
    if pipe.is_message_type() {
        pipe.set_mode(ReadMode::Message, false)?;
    }
    Ok(pipe)
}

/// One request and its reply (`TransactNamedPipe`).
fn call(pipe: &NamedPipeClient, text: &str) -> io::Result<String> {
    let mut reply = vec![0u8; 64 * 1024];
    let m = pipe.transact(text.as_bytes(), &mut reply)?;
    Ok(String::from_utf8_lossy(&reply[..m.read]).into_owned())
}

/// A server of one instance that serves three clients one after the other, and three client
/// threads that start together: two of them find the instance busy and wait.
fn self_contained() -> io::Result<()> {
    let name = format!(r"\\.\pipe\npipe-echo-client-example-{}", std::process::id());
    let server = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .max_instances(1)
        .create(&name)?;
    let server = thread::spawn(move || -> io::Result<()> {
        let mut buf = [0u8; 256];
        for _ in 0..3 {
            server.connect()?;
            loop {
                match server.recv_msg(&mut buf) {
                    Ok(m) => {
                        server.send_msg(&buf[..m.read])?;
                    }
                    Err(e) if win32_code(&e) == ERROR_BROKEN_PIPE => break,
                    Err(e) => return Err(e),
                }
            }
            // The client closed: drop it and listen for the next one (W49).
            server.disconnect()?;
        }
        Ok(())
    });
    let clients: Vec<_> = (0..3)
        .map(|i| {
            let name = name.clone();
            thread::spawn(move || -> io::Result<()> {
                let pipe = connect(&name)?;
                let text = format!("hello from client {i}");
                let reply = call(&pipe, &text)?;
                assert_eq!(reply, text);
                println!("{reply}");
                thread::sleep(Duration::from_millis(20)); // hold the instance a little
                Ok(())
            })
        })
        .collect();
    for c in clients {
        c.join().expect("client panicked")?;
    }
    server.join().expect("server panicked")
}
