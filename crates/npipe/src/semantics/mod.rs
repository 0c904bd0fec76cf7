//! L2: Windows semantics on top of the transport: pipe names, instances and their states, the
//! acceptor that matches clients to listening instances, and the per-operation error rules.

pub(crate) mod acceptor;
pub(crate) mod anon;
pub(crate) mod mailslot;
pub(crate) mod namespace;
pub(crate) mod pipe;

mod fork;

pub(crate) use fork::{fork_generation, install as install_fork_handlers};
