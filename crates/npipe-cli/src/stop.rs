//! How long-running commands (`serve`, `mailslot create`) end: SIGINT (Ctrl-C), SIGTERM and
//! SIGHUP are caught with signal-hook's self-pipe, and the main thread, which does nothing
//! but wait for one, then closes the server's handles so every thread blocked in a pipe call
//! returns (ERROR_OPERATION_ABORTED), and reaps the child processes it started. A worker
//! that fails for good ends the wait the same way through [`Stopper::stop`].
//!
//! Child processes are tracked by pid in [`Children`]. Each runs in a process group of its
//! own (`sh -c` may start processes of its own), and signals go to that whole group, which
//! also keeps a terminal's Ctrl-C away from them: the server decides how they end. A pid
//! leaves the set only after its process has exited and just before it is reaped
//! (`waitid(WNOWAIT)` first), so a signal sent for a pid of the set can never reach a reused
//! pid or group.

use std::collections::HashSet;
use std::io;
use std::sync::Mutex;

use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

/// The caught signals of this process.
#[derive(Debug)]
pub(crate) struct StopSignals {
    signals: Signals,
}

/// Ends [`StopSignals::wait`] from another thread.
#[derive(Debug, Clone)]
pub(crate) struct Stopper(Handle);

impl Stopper {
    /// Makes the waiting main thread go on as if a signal had come.
    pub(crate) fn stop(&self) {
        self.0.close();
    }
}

impl StopSignals {
    /// Catches SIGINT, SIGTERM and SIGHUP from now on (instead of dying of them).
    pub(crate) fn install() -> io::Result<StopSignals> {
        Ok(StopSignals {
            signals: Signals::new([SIGINT, SIGTERM, SIGHUP])?,
        })
    }

    /// A handle that ends [`StopSignals::wait`].
    pub(crate) fn stopper(&self) -> Stopper {
        Stopper(self.signals.handle())
    }

    /// Waits until a signal comes or a [`Stopper`] stops.
    pub(crate) fn wait(&mut self) {
        let _ = self.signals.forever().next();
    }
}

/// Child processes that may still be running.
#[derive(Debug, Default)]
pub(crate) struct Children {
    pids: Mutex<HashSet<u32>>,
    /// Set once the command is stopping: a child started after that is signalled at once.
    stopping: Mutex<bool>,
}

/// Sends `sig` to the process group that the child `pid` leads.
fn signal(pid: u32, sig: Signal) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        let _ = rustix::process::kill_process_group(pid, sig);
    }
}

impl Children {
    /// Tracks the child `child`, started as the leader of a process group of its own
    /// (SIGTERMed at once when the command is already stopping).
    pub(crate) fn add(&self, child: &std::process::Child) {
        let mut pids = self.pids.lock().unwrap_or_else(|p| p.into_inner());
        pids.insert(child.id());
        if *self.stopping.lock().unwrap_or_else(|p| p.into_inner()) {
            signal(child.id(), Signal::TERM);
        }
    }

    /// Sends `sig` to the group of `pid` if it is a tracked child (not yet reaped).
    pub(crate) fn signal(&self, pid: u32, sig: Signal) {
        let pids = self.pids.lock().unwrap_or_else(|p| p.into_inner());
        if pids.contains(&pid) {
            signal(pid, sig);
        }
    }

    /// Marks the command as stopping and sends `sig` to every tracked child.
    pub(crate) fn signal_all(&self, sig: Signal) {
        let pids = self.pids.lock().unwrap_or_else(|p| p.into_inner());
        *self.stopping.lock().unwrap_or_else(|p| p.into_inner()) = true;
        for &pid in pids.iter() {
            signal(pid, sig);
        }
    }

    /// Waits for `child` to exit, stops tracking it, and reaps it.
    pub(crate) fn reap(
        &self,
        child: &mut std::process::Child,
    ) -> io::Result<std::process::ExitStatus> {
        let pid = child.id();
        if let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
            // Wait for the exit without reaping, so the pid stays ours while it is tracked.
            while let Err(rustix::io::Errno::INTR) = rustix::process::waitid(
                WaitId::Pid(p),
                WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
            ) {}
        }
        self.pids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&pid);
        child.wait()
    }
}
