//! `npipe demo`: a short tour of Windows named-pipe behaviour on Linux, with real pipes between
//! this process and a child process (the hidden `__demo-client` subcommand).

use std::io::{self, Write};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use npipe::{
    call_named_pipe, wait_named_pipe, win32_code, ClientOptions, PipeMode, ReadMode, ServerOptions,
    WaitFor,
};

/// `println!` for the tour: a reader that stopped early (`npipe demo | head`) ends the tour
/// quietly, where `println!` would panic on the broken pipe.
macro_rules! say {
    ($($arg:tt)*) => {
        if writeln!(io::stdout(), $($arg)*).is_err() {
            std::process::exit(0);
        }
    };
}

fn step(title: &str) {
    say!("\n== {title}");
}

fn show(what: &str, r: io::Result<impl std::fmt::Debug>) {
    match r {
        Ok(v) => say!("   {what}: ok {v:?}"),
        Err(e) => say!("   {what}: error {} ({})", win32_code(&e), short(&e)),
    }
}

fn short(e: &io::Error) -> String {
    npipe::Error::from_io(e)
        .map(|x| npipe::error::name_of(x.code()).to_owned())
        .unwrap_or_else(|| e.to_string())
}

/// The child side of the tour: a separate process that talks to the server by name.
pub(crate) fn demo_client(name: &str) -> io::Result<()> {
    let client = ClientOptions::new().open(name)?;
    client.set_mode(ReadMode::Message, false)?;
    // Two messages, then a transaction.
    client.send_msg(b"Hello from the child process")?;
    client.send_msg(b"")?;
    let mut reply = [0u8; 64];
    let m = client.transact(b"ping?", &mut reply)?;
    say!(
        "   [child pid {}] transaction reply: {:?}",
        std::process::id(),
        String::from_utf8_lossy(&reply[..m.read])
    );
    Ok(())
}

pub(crate) fn demo() -> io::Result<()> {
    let name = format!(r"\\.\pipe\npipe-demo-{}", std::process::id());
    say!(
        "npipe demo: Windows named pipes on Linux (pid {})",
        std::process::id()
    );
    say!("pipe name: {name}");

    step("1. A message pipe with one instance; a child process connects and writes");
    let server = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .max_instances(1)
        .in_buffer_size(4096)
        .out_buffer_size(4096)
        .create(&name)?;
    say!("   created the server instance (it listens at once)");
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe).arg("__demo-client").arg(&name).spawn()?;
    server.connect()?;
    say!(
        "   a client connected: its process id is {} (GetNamedPipeClientProcessId)",
        server.client_process_id()?
    );

    step("2. Message mode keeps boundaries; a small buffer leaves the rest in the pipe");
    let mut small = [0u8; 5];
    let m = server.recv_msg(&mut small)?;
    say!(
        "   read 5-byte buffer: {:?}, {} bytes left in this message -> ERROR_MORE_DATA (234)",
        String::from_utf8_lossy(&small[..m.read]),
        m.left
    );
    let mut rest = [0u8; 64];
    let m = server.recv_msg(&mut rest)?;
    say!(
        "   next read: {:?} (complete: {})",
        String::from_utf8_lossy(&rest[..m.read]),
        m.complete()
    );
    let m = server.recv_msg(&mut rest)?;
    say!(
        "   a zero-length message arrives as its own read: {} bytes",
        m.read
    );

    step("3. Busy and wait: the only instance is taken");
    show(
        "second client open",
        ClientOptions::new().open(&name).map(|_| ()),
    );
    let t0 = Instant::now();
    show(
        "WaitNamedPipe(100 ms)",
        wait_named_pipe(&name, WaitFor::Timeout(Duration::from_millis(100))),
    );
    say!("   (returned after {} ms)", t0.elapsed().as_millis());

    step("4. TransactNamedPipe: the child writes a request and waits for one reply message");
    let mut req = [0u8; 64];
    let m = server.recv_msg(&mut req)?;
    say!("   request: {:?}", String::from_utf8_lossy(&req[..m.read]));
    server.send_msg(b"pong!")?;
    let status = child.wait()?;
    say!("   child exited: {status}");
    let mut buf = [0u8; 8];
    show(
        "read after the client closed",
        server.recv_msg(&mut buf).map(|m| m.read),
    );

    step("5. Disconnect, listen again, and CallNamedPipe from another thread");
    server.disconnect()?;
    let n2 = name.clone();
    let caller = thread::spawn(move || {
        let mut out = [0u8; 64];
        call_named_pipe(
            &n2,
            b"call",
            &mut out,
            WaitFor::Timeout(Duration::from_secs(5)),
        )
        .map(|m| String::from_utf8_lossy(&out[..m.read]).into_owned())
    });
    server.connect()?;
    let m = server.recv_msg(&mut req)?;
    say!(
        "   server got {:?}",
        String::from_utf8_lossy(&req[..m.read])
    );
    server.send_msg(b"answer")?;
    show(
        "CallNamedPipe returned",
        caller.join().expect("caller thread"),
    );
    drop(server);
    show(
        "open after the last instance closed",
        ClientOptions::new().open(&name).map(|_| ()),
    );
    say!("\ndone.");
    io::stdout().flush()
}
