//! A program written for tokio's Windows named pipes (`tokio::net::windows::named_pipe`),
//! compiled against `npipe::tokio` with only its `use` line changed, and run: tokio's
//! documented server loop (the next instance listens before the connected one is handed off),
//! its client loop (ERROR_PIPE_BUSY: sleep 50 ms, open again), and a client that comes and goes
//! before the server connects it (which tokio's connect reports as connected, as mio treats
//! ConnectNamedPipe's ERROR_NO_DATA: its connection then reads the end of the stream).
#![cfg(feature = "tokio")]

mod util;

/// The program as written for Windows; only the first `use` line differs.
mod windows_program {
    // use tokio::net::windows::named_pipe::{ClientOptions, ServerOptions};
    use npipe::tokio::{ClientOptions, NamedPipeServer, ServerOptions};
    use std::io;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::time;
    use windows_sys::Win32::Foundation::ERROR_PIPE_BUSY;

    /// The first instance, constructed early so that clients can connect (tokio's advice).
    pub fn first_instance(name: &str) -> io::Result<NamedPipeServer> {
        ServerOptions::new().first_pipe_instance(true).create(name)
    }

    /// Serves `clients` connections: each connected instance answers one request with its
    /// reversal. Returns how many clients left without a request (their read was the end of
    /// the stream).
    pub async fn server(
        mut server: NamedPipeServer,
        name: String,
        clients: usize,
    ) -> io::Result<usize> {
        let mut tasks = Vec::new();
        while tasks.len() < clients {
            server.connect().await?;
            let mut connected_client = server;
            server = ServerOptions::new().create(&name)?;
            tasks.push(tokio::spawn(async move {
                let mut buf = vec![0u8; 256];
                let n = connected_client.read(&mut buf).await?;
                if n == 0 {
                    return Ok::<_, io::Error>(false);
                }
                buf.truncate(n);
                buf.reverse();
                connected_client.write_all(&buf).await?;
                Ok(true)
            }));
        }
        let mut gone = 0;
        for t in tasks {
            if !t.await.expect("connection task")? {
                gone += 1;
            }
        }
        Ok(gone)
    }

    /// Opens (retrying while busy), sends `request`, returns the reply.
    pub async fn client(name: &str, request: &[u8]) -> io::Result<Vec<u8>> {
        let mut client = loop {
            match ClientOptions::new().open(name) {
                Ok(client) => break client,
                Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY as i32) => (),
                Err(e) => return Err(e),
            }

            time::sleep(Duration::from_millis(50)).await;
        };
        client.write_all(request).await?;
        let mut reply = Vec::new();
        client.read_to_end(&mut reply).await?;
        Ok(reply)
    }

    /// Opens and closes at once.
    pub fn come_and_go(name: &str) -> io::Result<()> {
        drop(ClientOptions::new().open(name)?);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_port_documented_loops_run_unchanged() {
    let name = util::unique_name("tk-port");
    let first = windows_program::first_instance(&name).unwrap();
    let server = tokio::spawn(windows_program::server(first, name.clone(), 8));
    // Clients race for the one listening instance: most find it busy and retry.
    let mut clients = Vec::new();
    for i in 0..8u8 {
        let name = name.clone();
        clients.push(tokio::spawn(async move {
            let req = [b'a' + i, b'b', b'c'];
            let reply = windows_program::client(&name, &req).await.unwrap();
            assert_eq!(reply, [b'c', b'b', b'a' + i]);
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    assert_eq!(server.await.unwrap().unwrap(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn tokio_port_client_that_comes_and_goes() {
    let name = util::unique_name("tk-port-gone");
    // The instance listens from its creation: this client connects and leaves before the
    // server loop first calls connect.
    let first = windows_program::first_instance(&name).unwrap();
    windows_program::come_and_go(&name).unwrap();
    let (gone, reply) = tokio::join!(
        windows_program::server(first, name.clone(), 2),
        windows_program::client(&name, b"xyz")
    );
    assert_eq!(reply.unwrap(), b"zyx");
    assert_eq!(
        gone.unwrap(),
        1,
        "the client that came and went was connected and read as an empty one"
    );
}
