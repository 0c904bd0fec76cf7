//! L0: the kernel boundary. Every syscall npipe makes goes through this module.
//!
//! # Safety
//!
//! This module (and only this module, `transport::queue` and the C ABI crate) may use `unsafe`.
//! Module-wide invariants:
//! - every file descriptor is an [`OwnedFd`](std::os::fd::OwnedFd) or a
//!   [`BorrowedFd`](std::os::fd::BorrowedFd), so none is closed twice or used after close;
//! - a [`Mapping`] owns its address range until it is dropped, and is only ever created over a
//!   memfd whose size was checked and sealed against shrinking (or over anonymous memory), so no
//!   access inside it can fault;
//! - futexes on shared mappings never use `FUTEX_PRIVATE_FLAG`, because another process waits
//!   on the same word.
//!
//! What it provides, one file per mechanism:
//! - `socket`: SOCK_SEQPACKET Unix sockets on abstract addresses ([`seqpacket`],
//!   [`bind_listen`], [`connect`], [`accept`]), packets with descriptors ([`send_packet`],
//!   [`recv_packet`]), peer credentials ([`peer_cred`]), polling with absolute deadlines
//!   ([`poll_fds`]);
//! - `memory`: sealed memfds ([`memfd_sealed`], [`check_memfd`]), [`Mapping`], futex wait/wake
//!   ([`futex_wait`], [`futex_wake`]);
//! - `arena`: the address range connection mappings are placed in ([`Mapping::map_conn`]), so
//!   that closed connections are unmapped in batches (one TLB shootdown per batch);
//! - `robust`: process-shared ring locks in a page only one side of a connection maps
//!   ([`SidePage`]): a lock holder that dies is detected by the kernel, never by pid;
//! - `liveness`: each locking thread's liveness mark, a robust mutex it holds for life in a
//!   table its process's forked children share, which the ring locks check and sleep on;
//! - `dgram`: the many-writer record queue of a mailslot (a SEQPACKET socketpair whose sending
//!   end every writer shares) and sealed memfds for large records;
//! - `event`: [`EventFd`], the readiness signal of pipe ends; [`TimerFd`], deadlines a caller's
//!   event loop polls;
//! - `creds`: the supplementary groups of a socket's peer ([`peer_groups`]) and the calling
//!   thread's file-system identity ([`fs_identity`], [`set_fs_identity`]) for impersonation;
//!   the user and group databases ([`user_name`], [`group_name`], [`user_id`], [`group_id`]);
//! - `process`: ids (and [`thread_token`], a thread's identity without a syscall), clocks, CPU
//!   placement, fork handlers;
//! - `fence`: [`AsymmetricFence`], a compiler fence paired with `membarrier(2)`;
//! - `borrow_cell`: [`BorrowCell`], a value many threads borrow without a lock and that is
//!   replaced only while nobody borrows it (the server end's current connection);
//! - `kpipe`: kernel pipes and handing descriptors to child processes;
//! - `shared_event`: the state page of a named event shared across processes
//!   ([`EventPage`]), open-file-description byte locks on it ([`LockFile`]: the cross-process
//!   lock and the liveness marks of waiting processes) and checks on received eventfds;
//! - `cancel`: [`SyncCancel`], each thread's record of the blocking call it sleeps in, through
//!   which another thread cancels it (CancelSynchronousIo), and the [`Registration`] of a sleep.

pub(crate) mod arena;
mod borrow_cell;
mod cancel;
mod creds;
pub(crate) mod dgram;
mod event;
mod fence;
mod kpipe;
mod liveness;
mod memory;
mod poller;
mod process;
mod robust;
mod shared_event;
mod socket;

#[cfg(test)]
pub(crate) use borrow_cell::fence_decided as borrow_fence_decided;
pub(crate) use borrow_cell::{prepare_fence as prepare_borrow_fence, BorrowCell};
pub(crate) use cancel::{
    about_to_sleep, forked_child as cancel_forked_child, Registration, CANCEL_BUMP,
};
pub use cancel::{set_sleep_hook, SyncCancel};
pub use creds::NewThreadIdentity;
pub(crate) use creds::*;
pub(crate) use event::*;
pub(crate) use fence::fence_after_locked_rmw;
pub use fence::AsymmetricFence;
pub(crate) use kpipe::*;
pub(crate) use liveness::forked_child as liveness_forked_child;
pub(crate) use memory::*;
pub(crate) use poller::*;
pub use process::ForkHandlers;
pub(crate) use process::*;
pub(crate) use robust::*;
pub(crate) use shared_event::*;
pub(crate) use socket::*;

pub(crate) use rustix::io::Errno;

/// Result of a syscall wrapper.
pub(crate) type Result<T> = rustix::io::Result<T>;
