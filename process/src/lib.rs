//! kq-process: async child processes, process-exit watching and signal streams over PROC and
//! SIGNAL knotes, shaped like `tokio::process` and `tokio::signal` (re-exported by the facade
//! as `kq::process` and `kq::signal`).
//!
//! - [`process::Command`] / [`process::Child`]: spawn, `wait` (a PROC NOTE_EXIT knote; a pidfd on
//!   Linux), `kill` (through the pidfd on Linux), async stdin/stdout/stderr pipes (futures-io,
//!   and tokio's io traits with the `tokio-io` feature), `output`, `status`.
//! - [`process::watch`]: exit (and fork/exec where the platform has them) of any process.
//! - [`signal::signal`] and [`signal::ctrl_c`]: streams of signal deliveries over SIGNAL knotes.
//!
//! No SIGCHLD handler is installed. Children dropped before they exit are reaped in the
//! background by a thread of this crate woken by PROC knotes (so no zombie is left, even when the
//! runtime is gone), each through its own pidfd: the status of a child kq did not spawn is never
//! taken.
//!
//! Unix only (the crate is empty elsewhere).

#![cfg(unix)]

mod hub;
pub mod process;
pub mod signal;
mod sync;
mod sys;
