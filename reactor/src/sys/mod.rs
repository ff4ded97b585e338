//! The backends. One switch, here; the OS list lives in `build.rs` (which sets `kq_native`).
//!
//! # The backend contract
//!
//! A backend turns OS sources into *activations*; it never decides delivery semantics (the core
//! does). Every backend defines `Backend` with the same methods:
//!
//! - `Backend::new() -> io::Result<Backend>`
//! - `watch_fd(&self, fd)`: watch `fd` for readability and writability, edge-triggered, reporting
//!   the fd number itself as the token. Watching an fd twice is not an error.
//! - `rearm_fd(&self, fd)`: re-arm the watch so that the fd's current readiness is reported again
//!   as an edge.
//! - `unwatch_fd(&self, fd)`: stop watching (errors, e.g. an fd already closed, are ignored).
//! - `watch_read(&self, fd, token)` / `unwatch_raw(&self, fd)`: the same for the reactor's own fds
//!   (inotify, pidfds, the signal pipe), read interest, under a token with the `OS_TOKEN` bit.
//! - `wait(&self, events, timeout) -> io::Result<usize>`: block until an OS source may have
//!   changed, the waker fired or the timeout passed, appending an [`OsEvent`] per source seen, and
//!   return the number of OS records read (at most [`WAIT_BATCH`]: a full batch means more may be
//!   pending). Only one thread calls `wait` at a time (the reactor's `polling` flag guarantees
//!   it); `Interrupted` may be returned.
//! - `harvest(&self, events) -> io::Result<Harvest>`: the same without blocking, with a buffer of
//!   its own ([`HARVEST_BATCH`] records), so that it may run while another thread is blocked in
//!   `wait`. It may take the waker's record from that thread: it says so (`Harvest::woke`), and
//!   the caller wakes again whoever still needs it.
//! - `wake(&self)`: make a current or the next `wait` return.
//! - `raw_fd(&self)`: the descriptor that is readable when OS events are pending (unix).
//!
//! Level semantics are obtained by re-evaluating the source itself (`source.rs`: zero-timeout
//! `poll(2)`, `FIONREAD`, ...), so an edge-triggered poller is enough everywhere.

use crate::kevent::Filter;

/// Records one blocking `wait` reads at most.
pub(crate) const WAIT_BATCH: usize = 1024;
/// Records one non-blocking `harvest` reads at most.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const HARVEST_BATCH: usize = 256;

/// What one non-blocking `harvest` read.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Harvest {
    /// OS records read (the waker's included); `HARVEST_BATCH` means more may be pending.
    pub records: usize,
    /// The waker's record was among them.
    pub woke: bool,
}

/// Tokens with this bit set name the reactor's own sources, never a user's fd.
pub(crate) const OS_TOKEN: usize = 1 << (usize::BITS - 2);

/// One activation reported by a backend.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct OsEvent {
    /// A user fd (READ/WRITE knotes), or an `OS_TOKEN` source.
    pub token: usize,
    /// For kernel knotes of the native backend: what the kernel reported.
    #[cfg_attr(not(kq_native), allow(dead_code))]
    pub ident: usize,
    #[cfg_attr(not(kq_native), allow(dead_code))]
    pub filter: Filter,
    #[cfg_attr(not(kq_native), allow(dead_code))]
    pub fflags: u32,
    #[cfg_attr(not(kq_native), allow(dead_code))]
    pub data: i64,
    /// For fd tokens: the readiness the OS reported (`READY_*` bits).
    pub ready: u8,
}

/// Readable.
pub(crate) const READY_READ: u8 = 1;
/// Writable.
pub(crate) const READY_WRITE: u8 = 2;
/// The read side hung up.
pub(crate) const READY_RDHUP: u8 = 4;
/// The write side hung up (or the peer is gone).
pub(crate) const READY_WRHUP: u8 = 8;
/// An error is pending.
pub(crate) const READY_ERR: u8 = 16;

#[cfg(all(unix, not(loom), any(target_os = "linux", kq_native)))]
mod signo;
#[cfg(all(unix, not(loom)))]
pub(crate) mod source;
#[cfg(all(unix, not(loom), any(target_os = "linux", kq_native)))]
mod wait_status;

#[cfg(all(target_os = "linux", not(loom), not(kq_native)))]
mod linux;
#[cfg(all(target_os = "linux", not(loom), not(kq_native)))]
pub(crate) use linux::{OsSources, OsState};

#[cfg(all(not(loom), kq_native))]
mod kqueue_notes;
#[cfg(all(not(loom), kq_native))]
pub(crate) use kqueue_notes::{OsSources, OsState};

#[cfg(any(loom, all(not(kq_native), not(target_os = "linux"))))]
mod no_os;
#[cfg(any(loom, all(not(kq_native), not(target_os = "linux"))))]
pub(crate) use no_os::{OsSources, OsState};

#[cfg(loom)]
mod model;
#[cfg(loom)]
pub(crate) use model::Backend;

#[cfg(all(not(loom), kq_native))]
mod kqueue;
#[cfg(all(not(loom), kq_native))]
pub(crate) use self::kqueue::Backend;

#[cfg(all(not(loom), not(kq_native), not(windows)))]
mod emulated;
#[cfg(all(not(loom), not(kq_native), not(windows)))]
pub(crate) use emulated::Backend;

#[cfg(all(windows, not(loom)))]
pub(crate) mod windows;
#[cfg(all(windows, not(loom)))]
pub(crate) use self::windows::Backend;
