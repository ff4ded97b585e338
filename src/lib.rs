//! kq: an async runtime built on kqueue semantics.
//!
//! This facade re-exports the workspace crates:
//!
//! - [`reactor`]: the kqueue model ([`Kqueue`], [`Kevent`], filters, one profiled lock).
//! - [`Runtime`], [`runtime`], [`spawn`], [`task`], [`time`]: the executor, tokio-shaped.
//! - [`io`]: registering fds and kevent streams with the runtime.
//! - [`net`]: TCP, UDP and Unix sockets.
//! - [`process`]: child processes (`Command`, `Child`, async pipes) and `watch(pid)`; [`signal`]:
//!   signal streams and `ctrl_c()`, over PROC and SIGNAL knotes.
//! - [`fs_watch`]: a recursive file watcher, a `Stream` of Create / Remove / Modify / Rename
//!   events (Unix).
//! - [`main`] and [`test`]: `#[kq::main]`, `#[kq::test]`.
//!
//! ```
//! #[kq::main(flavor = "current_thread")]
//! async fn main() {
//!     let h = kq::spawn(async { 1 + 1 });
//!     assert_eq!(h.await.unwrap(), 2);
//! }
//! ```

#[cfg(unix)]
pub use kq_fs_watch as fs_watch;
pub use kq_macros::{main, test};
pub use kq_net as net;
#[cfg(unix)]
pub use kq_process::{process, signal};
pub use kq_reactor as reactor;
pub use kq_reactor::{Filter, Flags, Kevent, Kqueue, LockStats};
pub use kq_runtime::io;
pub use kq_runtime::{runtime, spawn, task, time, Runtime};

/// The README's code blocks, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
