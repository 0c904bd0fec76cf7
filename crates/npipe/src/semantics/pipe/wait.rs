//! WaitNamedPipe: a client parked in the server's queue until an instance listens (W8,
//! W29-W30, W35), blocking ([`wait_named_pipe`]) or in two steps for event loops
//! ([`wait_begin`], then [`wait_finish`] once the parked socket polls readable). It uses the
//! client side's handshake (`client.rs`) and touches no connection.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use super::client::{connect_to, exchange};
use super::*;
use crate::semantics::namespace;
use crate::transport::control::{Reply, ReqKind};

/// How long WaitNamedPipe sleeps before asking again when the server refused to park it (it
/// holds as many waiting clients as it will).
const WAIT_RETRY: Duration = Duration::from_millis(20);

/// WaitNamedPipe (W8, W29-W30, W35): parks in the server's queue until an instance listens.
/// Every deadline is absolute: signals neither cut the wait short nor restart it.
pub(crate) fn wait_named_pipe(name: &str, timeout: WaitTimeout, trust: Trust) -> io::Result<()> {
    let n = namespace::parse_wait(name).map_err(|code| {
        err(
            code,
            format!("{name:?} is not a local pipe name to wait for"),
        )
    })?;
    let start = Instant::now();
    let timed_out = || {
        err(
            ERROR_SEM_TIMEOUT,
            format!("no instance of {name} became free"),
        )
    };
    // The overall deadline: `None` until the server told us its default (NMPWAIT_USE_DEFAULT_WAIT),
    // then `Some(None)` for forever or `Some(Some(t))`.
    let mut deadline: Option<Option<Instant>> = match timeout {
        WaitTimeout::Forever => Some(None),
        WaitTimeout::Ms(ms) => Some(Some(start + Duration::from_millis(ms as u64))),
        WaitTimeout::Default => None,
    };
    // Sleeps `d` unless the deadline comes first; false when the deadline has passed.
    let pause = |deadline: Option<Option<Instant>>, d: Duration| -> bool {
        let until = Instant::now() + d;
        let until = match deadline {
            Some(Some(t)) if t <= Instant::now() => return false,
            Some(Some(t)) => until.min(t),
            _ => until,
        };
        std::thread::sleep(until.saturating_duration_since(Instant::now()));
        true
    };
    let mut first = true;
    loop {
        let sock = match connect_to(&n, name, trust) {
            Ok((s, _)) => s,
            Err(e) if first => return Err(e),
            Err(_) => {
                // The pipe went away while we waited; it may come back before the deadline.
                if !pause(deadline, Duration::from_millis(10)) {
                    return Err(timed_out());
                }
                continue;
            }
        };
        first = false;
        let mut fds = Vec::new();
        let answer_by = match deadline {
            Some(Some(t)) => t.min(Instant::now() + REPLY_TIMEOUT),
            _ => Instant::now() + REPLY_TIMEOUT,
        };
        match exchange(&sock, ReqKind::Wait, 0, name, &mut fds, answer_by)? {
            Some(Reply::Ready) => return Ok(()),
            Some(Reply::Parked { default_timeout }) => {
                let d = *deadline.get_or_insert_with(|| {
                    let ms = if default_timeout == 0 {
                        50
                    } else {
                        default_timeout
                    };
                    Some(start + Duration::from_millis(ms as u64))
                });
                if d.is_some_and(|d| d <= Instant::now()) {
                    return Err(timed_out());
                }
                // Another thread may cancel the wait (`crate::SyncCancel`, CancelSynchronousIo):
                // it shuts the parked socket down, which ends the poll. Looked at as the sleep
                // is deregistered: a cancel that came after the poll said it succeeded, and
                // this loop may park again (the server closed the pipe), which would lose it.
                let cancel = sys::Registration::socket(sock.as_fd());
                let r = sys::poll_until([sock.as_fd()], d).map_err(|e| os_err(e, "poll", name))?;
                if cancel.end() {
                    return Err(err(
                        ERROR_OPERATION_ABORTED,
                        format!("the wait for an instance of {name} was cancelled"),
                    ));
                }
                if r[0].readable || r[0].hup {
                    if let Ok(Some(Reply::Ready)) =
                        recv_reply(&sock, name, &mut fds, Instant::now() + REPLY_TIMEOUT)
                    {
                        return Ok(());
                    }
                    // The server closed the pipe: reconnect until the deadline.
                    continue;
                }
                return Err(timed_out());
            }
            // The server holds as many waiting clients as it will: ask again shortly.
            Some(Reply::Error(ERROR_PIPE_BUSY)) => {
                if !pause(deadline, WAIT_RETRY) {
                    return Err(timed_out());
                }
            }
            Some(Reply::Error(c)) => {
                return Err(err(c, format!("the server of {name} refused the wait")))
            }
            None => continue,
            Some(_) => {
                return Err(Error::io_kind(
                    io::ErrorKind::InvalidData,
                    ERROR_BAD_PIPE,
                    format!("unexpected handshake reply from {name}"),
                ))
            }
        }
    }
}

/// How an asynchronous WaitNamedPipe continues after asking the server once
/// ([`wait_begin`]).
#[derive(Debug)]
pub(crate) enum WaitBegin {
    /// An instance listens now.
    Ready,
    /// Parked in the server's queue: the socket polls readable when an instance listens (a
    /// `Ready` reply, read it with [`wait_finish`]) or the server closed the pipe. With the
    /// pipe's default timeout in milliseconds (NMPWAIT_USE_DEFAULT_WAIT; 0 means 50).
    Parked(OwnedFd, u32),
    /// The server holds as many waiting clients as it will: ask again shortly.
    Retry,
}

/// WaitNamedPipe for event loops, step 1: connects and asks once. The server answers at once
/// (its acceptor never waits for the application), so this costs one local round trip.
/// ERROR_FILE_NOT_FOUND when no such pipe exists (W8).
pub(crate) fn wait_begin(name: &str, trust: Trust) -> io::Result<WaitBegin> {
    let n = namespace::parse_wait(name).map_err(|code| {
        err(
            code,
            format!("{name:?} is not a local pipe name to wait for"),
        )
    })?;
    let (sock, _) = connect_to(&n, name, trust)?;
    let mut fds = Vec::new();
    match exchange(
        &sock,
        ReqKind::Wait,
        0,
        name,
        &mut fds,
        Instant::now() + REPLY_TIMEOUT,
    )? {
        Some(Reply::Ready) => Ok(WaitBegin::Ready),
        Some(Reply::Parked { default_timeout }) => Ok(WaitBegin::Parked(sock, default_timeout)),
        Some(Reply::Error(ERROR_PIPE_BUSY)) => Ok(WaitBegin::Retry),
        Some(Reply::Error(c)) => Err(err(c, format!("the server of {name} refused the wait"))),
        // The pipe closed between the connect and the answer: it may come back.
        None => Ok(WaitBegin::Retry),
        Some(_) => Err(Error::io_kind(
            io::ErrorKind::InvalidData,
            ERROR_BAD_PIPE,
            format!("unexpected handshake reply from {name}"),
        )),
    }
}

/// WaitNamedPipe for event loops, step 2, once the parked socket polls readable: true when an
/// instance listens, false when the server closed the pipe instead (ask again).
pub(crate) fn wait_finish(sock: &OwnedFd, name: &str) -> bool {
    let mut fds = Vec::new();
    matches!(
        recv_reply(sock, name, &mut fds, Instant::now()),
        Ok(Some(Reply::Ready))
    )
}
