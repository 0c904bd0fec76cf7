//! Relays that let a named pipe end be a child process's standard handle: the child gets one
//! end of a kernel pipe, and a thread of this process copies between the other end and the
//! named pipe end, as the child's own handle would on Windows.
//!
//! - Standard input: each message (or run of bytes) read from the named pipe end is written to
//!   the kernel pipe; the relay ends when the named pipe end fails (its peer closed it) or the
//!   child closes its standard input (or exits), noticed within 100 ms while no message comes.
//! - Standard output and error: what the child writes is read from the kernel pipe and written
//!   to the named pipe end, one WriteFile per read; the relay ends at end of file, when the
//!   child and every process it passed the descriptor to have closed it.
//!
//! The relay holds its own reference to the end (as the child's inherited handle would), so the
//! parent may close its handle at once; the end closes when the last of the two is done.
//! npipe departs: the relay runs in this process, so the child's copy of the end lasts only as
//! long as this process.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::sync::Arc;

use crate::handles::{self, Entry, Object};
use crate::*;

/// A relay made for one standard descriptor of a child, started once the child runs.
pub(crate) struct Relay {
    entry: Option<Arc<Entry>>,
    dir: Dir,
}

enum Dir {
    /// Named pipe end to the child's standard input.
    ToChild(npipe::AnonWriter),
    /// The child's standard output or error to the named pipe end.
    FromChild(npipe::AnonReader),
    /// Handed to the thread already.
    Done,
}

impl Relay {
    /// A relay for the named pipe end of `e`: `to_child` for standard input. Returns the
    /// descriptor the child gets.
    pub(crate) fn start(e: &Arc<Entry>, to_child: bool) -> io::Result<(Relay, OwnedFd)> {
        let (r, w) = npipe::create_pipe(65536)?;
        if !handles::retain(e) {
            return Err(npipe::Error::io(
                ERROR_INVALID_HANDLE,
                "the pipe end was closed meanwhile",
            ));
        }
        let relay = |dir| Relay {
            entry: Some(e.clone()),
            dir,
        };
        Ok(if to_child {
            (relay(Dir::ToChild(w)), OwnedFd::from(r))
        } else {
            (relay(Dir::FromChild(r)), OwnedFd::from(w))
        })
    }

    /// Starts the copying thread (or, if no thread can be made, gives the end back).
    pub(crate) fn run(mut self) {
        let Some(entry) = self.entry.take() else {
            return;
        };
        let dir = std::mem::replace(&mut self.dir, Dir::Done);
        let e2 = entry.clone();
        let started = crate::threads::spawn_service("npipe-relay", move || {
            copy(&e2, dir);
            handles::release(e2);
        });
        if started.is_err() {
            handles::release(entry);
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(e) = self.entry.take() {
            handles::release(e);
        }
    }
}

/// How often a relay to a child's standard input looks whether the child closed it, while no
/// message comes.
const CHECK_CHILD: std::time::Duration = std::time::Duration::from_millis(100);

/// Whether every reader of the kernel pipe behind `w` is gone (the child closed its standard
/// input or exited): poll reports POLLERR on a write end without readers.
fn reader_gone(w: &npipe::AnonWriter) -> bool {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    use std::os::fd::AsFd;
    let fd = w.as_fd();
    let mut fds = [PollFd::new(&fd, PollFlags::OUT)];
    // A zero timeout: only asks.
    poll(&mut fds, Some(&Timespec::default())).is_ok() && fds[0].revents().contains(PollFlags::ERR)
}

fn copy(e: &Entry, dir: Dir) {
    let mut buf = vec![0u8; 65536];
    match dir {
        Dir::ToChild(w) => loop {
            let r = match &e.obj {
                Object::Server(s) => s.recv_msg_timeout(&mut buf, CHECK_CHILD),
                Object::Client(c) => c.recv_msg_timeout(&mut buf, CHECK_CHILD),
                _ => return,
            };
            // A message longer than the buffer arrives in parts (ERROR_MORE_DATA is not an
            // error here); each part goes on as bytes. With nothing to read, see whether the
            // child still has its standard input open.
            let n = match r {
                Ok(m) => m.read,
                Err(err) if npipe::win32_code(&err) == ERROR_SEM_TIMEOUT => {
                    if reader_gone(&w) {
                        return;
                    }
                    continue;
                }
                Err(_) => return,
            };
            if n > 0 && (&w).write_all(&buf[..n]).is_err() {
                return;
            }
        },
        Dir::FromChild(r) => loop {
            let n = match (&r).read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let sent = match &e.obj {
                Object::Server(s) => s.send_msg(&buf[..n]),
                Object::Client(c) => c.send_msg(&buf[..n]),
                _ => return,
            };
            if sent.is_err() {
                return;
            }
        },
        Dir::Done => {}
    }
}
