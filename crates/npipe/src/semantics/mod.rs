//! L2: Windows semantics on top of the transport: pipe names, instances and their states, the
//! acceptor that matches clients to listening instances, the per-operation error rules, and
//! events (process-local and named, shared across processes) with the wait functions.

pub(crate) mod acceptor;
pub(crate) mod anon;
pub(crate) mod event;
pub(crate) mod listing;
pub(crate) mod mailslot;
pub(crate) mod namespace;
pub(crate) mod pipe;
pub(crate) mod remote;
pub(crate) mod security;

mod fork;

pub(crate) use fork::{fork_generation, install as install_fork_handlers};
