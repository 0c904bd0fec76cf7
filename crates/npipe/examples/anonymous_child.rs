//! Anonymous pipes to a child process: the child reads its standard input from one pipe and
//! writes its results to another, handed over at descriptor 3 with `CommandExt::pass_fd`
//! (its standard output stays the terminal). The child is this program re-run with `--child`.
//!
//! ```sh
//! cargo run -p npipe --example anonymous_child
//! ```
//!
//! Every end npipe makes is close-on-exec, so the child gets exactly the ends passed to it,
//! and the parent's reader sees end of file when the child exits: the Windows mistake of a
//! child inheriting a stray copy of the write end (W137) cannot happen by accident.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::process::Command;

use npipe::{create_pipe, AnonWriter, CommandExt};

const RESULT_FD: &str = "NPIPE_EXAMPLE_RESULT_FD";

fn main() -> io::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("--child") {
        return child();
    }
    let (input_r, mut input_w) = create_pipe(0)?;
    let (mut result_r, result_w) = create_pipe(0)?;
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("--child").stdin(input_r);
    cmd.pass_fd(&result_w, 3, RESULT_FD)?;
    drop(result_w);
    let mut child = cmd.spawn()?;
    drop(cmd); // the Command's copies of the ends: without this no end of file comes

    for word in ["pipes", "for", "children"] {
        writeln!(input_w, "{word}")?;
    }
    drop(input_w); // end of file for the child's stdin

    let mut results = String::new();
    result_r.read_to_string(&mut results)?; // ends when the child exits
    print!("{results}");
    if !child.wait()?.success() {
        return Err(io::Error::other("the child failed"));
    }
    Ok(())
}

/// The child: upper-cases each line of stdin into the pipe at descriptor 3.
fn child() -> io::Result<()> {
    let mut out = AnonWriter::from_env(RESULT_FD)?;
    for line in BufReader::new(io::stdin()).lines() {
        writeln!(out, "{}", line?.to_uppercase())?;
    }
    println!("child: done"); // the terminal, not the pipe
    Ok(())
}
