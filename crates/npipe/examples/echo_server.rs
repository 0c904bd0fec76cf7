//! A multi-instance echo server: the Windows server loop with blocking calls and a thread per
//! client.
//!
//! The loop waits for a client on the instance that listens, creates the next instance at once
//! (so a client that arrives meanwhile finds one listening instead of `ERROR_PIPE_BUSY`), and
//! hands the connected instance to a thread that echoes each message back.
//!
//! ```sh
//! # self-contained: serves 3 client processes (this program re-run as a client), then exits
//! cargo run -p npipe --example echo_server
//! # or with echo_client as the client, in two terminals:
//! cargo run -p npipe --example echo_server -- '\\.\pipe\echo' 2
//! cargo run -p npipe --example echo_client -- '\\.\pipe\echo' hello
//! ```

use std::io;
use std::process::{Child, Command};
use std::thread;

use npipe::error::code::{ERROR_BROKEN_PIPE, ERROR_NO_DATA};
use npipe::{win32_code, ClientOptions, NamedPipeServer, PipeMode, ReadMode, ServerOptions};

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [role, name] if role == "--client" => client(name),
        [] => {
            // Self-contained: pick a unique name and start the clients as child processes.
            let name = format!(r"\\.\pipe\npipe-echo-example-{}", std::process::id());
            let server = create(&name, true)?;
            let exe = std::env::current_exe()?;
            let children: Vec<Child> = (0..3)
                .map(|_| Command::new(&exe).args(["--client", &name]).spawn())
                .collect::<io::Result<_>>()?;
            serve(server, &name, 3)?;
            for mut c in children {
                let status = c.wait()?;
                if !status.success() {
                    return Err(io::Error::other(format!("a client failed: {status}")));
                }
            }
            Ok(())
        }
        [name] => serve(create(name, true)?, name, 1),
        [name, count] => {
            let count = count.parse().map_err(io::Error::other)?;
            serve(create(name, true)?, name, count)
        }
        _ => Err(io::Error::other(
            "usage: echo_server [NAME [CLIENTS]] | --client NAME",
        )),
    }
}

/// One instance of a message pipe; the first with `FILE_FLAG_FIRST_PIPE_INSTANCE`, so the
/// server fails (ERROR_ACCESS_DENIED) instead of joining a pipe someone else serves.
fn create(name: &str, first: bool) -> io::Result<NamedPipeServer> {
    ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .first_pipe_instance(first)
        .create(name)
}

/// The server loop: serves `clients` clients, each on a thread, then waits for them.
fn serve(mut server: NamedPipeServer, name: &str, clients: usize) -> io::Result<()> {
    println!("serving {name}");
    let mut workers = Vec::new();
    while workers.len() < clients {
        match server.connect() {
            Ok(()) => {}
            // The client came and went before connect: disconnect and listen again.
            Err(e) if win32_code(&e) == ERROR_NO_DATA => {
                server.disconnect()?;
                continue;
            }
            Err(e) => return Err(e),
        }
        let connected = std::mem::replace(&mut server, create(name, false)?);
        workers.push(thread::spawn(move || echo(connected)));
    }
    for w in workers {
        w.join().expect("echo thread panicked")?;
    }
    println!("served {clients} clients");
    Ok(())
}

/// Echoes every message until the client closes.
fn echo(pipe: NamedPipeServer) -> io::Result<()> {
    let pid = pipe.client_process_id().unwrap_or(0);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let m = match pipe.recv_msg(&mut buf) {
            Ok(m) => m,
            Err(e) if win32_code(&e) == ERROR_BROKEN_PIPE => break, // the client closed
            Err(e) => return Err(e),
        };
        // Messages are at most 64 KiB here; a longer one would come in parts (m.left > 0).
        pipe.send_msg(&buf[..m.read])?;
    }
    println!("client {pid} left");
    Ok(())
}

/// The client role of the self-contained run: the usual busy loop, then two round trips.
fn client(name: &str) -> io::Result<()> {
    let pipe = loop {
        match ClientOptions::new().open(name) {
            Ok(p) => break p,
            Err(e) if win32_code(&e) == npipe::error::code::ERROR_PIPE_BUSY => {
                npipe::wait_named_pipe(name, npipe::WaitFor::Forever)?
            }
            Err(e) => return Err(e),
        }
    };
    pipe.set_mode(ReadMode::Message, false)?;
    for text in ["hello", "world"] {
        let mut reply = [0u8; 64];
        let m = pipe.transact(text.as_bytes(), &mut reply)?;
        assert_eq!(&reply[..m.read], text.as_bytes());
    }
    Ok(())
}
