//! Child processes (`kq::process`): [`Command`], [`Child`] with async pipes, and [`watch`] for
//! any process's exit (and, where the platform has them, forks and execs).
//!
//! Exit comes from PROC NOTE_EXIT knotes (a pidfd on Linux, the kernel's kqueue on the BSDs and
//! macOS): no SIGCHLD handler is installed, so other libraries' SIGCHLD handlers keep working,
//! and a child is reaped only through its own handle, never with `waitpid(-1)`.

mod child;
mod command;
mod pipe;
mod reaper;
mod watch;

pub use child::Child;
pub use command::Command;
pub use pipe::{ChildStderr, ChildStdin, ChildStdout};
pub use std::process::{ExitStatus, Output, Stdio};
pub use watch::{watch, watch_with, ProcEvent, ProcEvents, Watch};

/// The PROC notes every knote of this crate asks for (one knote per pid and runtime is shared by
/// a [`Child`] and the [`watch`] streams on it, so they all ask for the same).
#[cfg(target_os = "linux")]
const PROC_NOTES: u32 = kq_reactor::note::EXIT;
#[cfg(not(target_os = "linux"))]
const PROC_NOTES: u32 = kq_reactor::note::EXIT | kq_reactor::note::FORK | kq_reactor::note::EXEC;
