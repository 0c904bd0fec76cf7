//! Named pipes in a caller's own epoll loop through the C ABI (`tests/c/ready_loop.c`):
//! `npipe_ready_fd`, `npipe_arm` and the PIPE_NOWAIT calls in a server loop that never blocks,
//! serving three client processes, and `npipe_wait_named_pipe_start` / `_poll` in a client
//! waiting for a free instance.

mod cbuild;

#[test]
fn ready_loop() {
    cbuild::run_checks(
        "ready_loop.c",
        "ready-loop",
        &["-D_DEFAULT_SOURCE"],
        "ready_loop",
    );
}
