//! A mailslot with writers in other processes: this program creates the mailslot and starts
//! three copies of itself as writers; each sends a few messages, and the reader prints them
//! as they come, in order, each whole.
//!
//! ```sh
//! cargo run -p npipe --example mailslot
//! ```

use std::io;
use std::process::Command;
use std::time::Duration;

use npipe::error::code::ERROR_SEM_TIMEOUT;
use npipe::{win32_code, MailslotOptions, MailslotWriter};

const WRITERS: usize = 3;
const EACH: usize = 4;

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [role, name, id] = args.as_slice() {
        if role == "--write" {
            return write(name, id);
        }
    }
    let name = format!(r"\\.\mailslot\npipe-example-{}", std::process::id());
    // Reads wait at most 5 s: a writer that died must not hang the example.
    let slot = MailslotOptions::new()
        .read_timeout(Some(Duration::from_secs(5)))
        .create(&name)?;
    let exe = std::env::current_exe()?;
    let mut writers = Vec::new();
    for id in 0..WRITERS {
        writers.push(
            Command::new(&exe)
                .args(["--write", &name, &id.to_string()])
                .spawn()?,
        );
    }
    for _ in 0..WRITERS * EACH {
        match slot.recv() {
            Ok(m) => println!("{}", String::from_utf8_lossy(&m)),
            Err(e) if win32_code(&e) == ERROR_SEM_TIMEOUT => {
                return Err(io::Error::other("a writer did not send its messages"))
            }
            Err(e) => return Err(e),
        }
    }
    for mut w in writers {
        if !w.wait()?.success() {
            return Err(io::Error::other("a writer failed"));
        }
    }
    let info = slot.info()?;
    println!("left in the mailslot: {} messages", info.count);
    Ok(())
}

/// The writer role: `EACH` messages; a write never waits.
fn write(name: &str, id: &str) -> io::Result<()> {
    let w = MailslotWriter::open(name)?;
    for i in 0..EACH {
        w.send(format!("writer {id}, message {i}").as_bytes())?;
    }
    Ok(())
}
