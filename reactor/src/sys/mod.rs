//! The backends and the OS sources, chosen together for each target in one switch (below).
//!
//! A backend turns OS sources into *activations*; it never decides delivery semantics (the core
//! does). Its contract is the [`Backend`] trait (and [`FdBackend`] for those that watch fds), so
//! the compiler checks that every backend keeps it. Level semantics are obtained by re-evaluating
//! the source itself (`source.rs`: zero-timeout `poll(2)`, `FIONREAD`, ...), so an
//! edge-triggered poller is enough everywhere.

use std::io;
use std::time::Duration;

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

/// One activation reported by a backend (any source: a user fd, or an `OS_TOKEN` source).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct BackendEvent {
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

/// What an OS source's event asks of the core beyond updating the source's own knotes: done by
/// the caller once the sources are no longer borrowed, since the core calls back into them.
#[cfg_attr(not(all(not(loom), not(kq_native), target_os = "linux")), allow(dead_code))]
#[derive(Clone, Copy, Debug)]
pub(crate) enum FollowUp {
    /// An edge of the READ knote on the regular file `fd` (Linux: a write inotify saw).
    FileEdge(usize),
    /// The knote `(ident, filter)` goes without an event (FreeBSD's `EV_DROP`: a PROC knote
    /// that asked for no note, once its process exited).
    Drop(usize, Filter),
}

/// The readiness bits of a [`BackendEvent`] (defined by the core, which reads them).
#[cfg_attr(any(loom, kq_native), allow(unused_imports))]
pub(crate) use crate::core::ready::{
    ERR as READY_ERR, RDHUP as READY_RDHUP, READ as READY_READ, WRHUP as READY_WRHUP,
    WRITE as READY_WRITE,
};

/// The contract of a backend. (The Windows backend keeps it in `sys/windows/contract.rs`, by
/// delegating to its inherent methods, which the reactor's calls then resolve to.)
#[cfg_attr(windows, allow(dead_code))]
pub(crate) trait Backend: Sized + Send + Sync {
    /// A new poller with its waker.
    fn new() -> io::Result<Self>;
    /// Blocks until an OS source may have changed, the waker fired or the timeout passed,
    /// appending a [`BackendEvent`] per source seen, and returns the number of OS records read
    /// (at most [`WAIT_BATCH`]: a full batch means more may be pending). Only one thread calls
    /// `wait` at a time (the reactor's `polling` flag guarantees it); `Interrupted` may be
    /// returned.
    fn wait(&self, events: &mut Vec<BackendEvent>, timeout: Option<Duration>) -> io::Result<usize>;
    /// The same without blocking, with a buffer of its own ([`HARVEST_BATCH`] records), so that
    /// it may run while another thread is blocked in `wait`. It may take the waker's record from
    /// that thread: it says so (`Harvest::woke`), and the caller wakes again whoever still needs
    /// it.
    fn harvest(&self, events: &mut Vec<BackendEvent>) -> io::Result<Harvest>;
    /// Makes a current or the next `wait` return.
    fn wake(&self);
    /// The counters of the poll lock.
    fn lock_stats(&self) -> crate::LockStats;
}

/// The contract of a backend that watches file descriptors (every one but the loom model).
#[cfg_attr(any(loom, windows), allow(dead_code))]
pub(crate) trait FdBackend: Backend {
    /// Watches `fd` for readability and writability, edge-triggered, reporting the fd number
    /// itself as the token. Watching an fd twice is not an error.
    fn watch_fd(&self, fd: usize) -> io::Result<()>;
    /// Re-arms the watch so that the fd's current readiness is reported again as an edge.
    fn rearm_fd(&self, fd: usize) -> io::Result<()>;
    /// Stops watching (errors, e.g. an fd already closed, are ignored).
    fn unwatch_fd(&self, fd: usize);
    /// Stops watching `fd` and says whether it still named the watched file, as the OS tells:
    /// `Some(Ok)` it did (the watch is gone), `Some(Err(EBADF))` the fd is closed; `None` when
    /// the OS cannot tell (another file now has the number, or no watch was found), and the
    /// caller decides as it would have without asking. An epoll or kqueue watch belongs to the
    /// file it was made for, so removing it answers the question an `fstat` would.
    fn unwatch_fd_checked(&self, _fd: usize) -> Option<Result<(), i32>> {
        None
    }
    /// The descriptor that is readable when OS events are pending.
    #[cfg(unix)]
    fn raw_fd(&self) -> std::os::fd::RawFd;
}

#[cfg(all(unix, not(loom)))]
mod signo;
#[cfg(all(unix, not(loom)))]
pub(crate) mod source;
#[cfg(all(unix, not(loom)))]
mod wait_status;

/// The core, with this target's per-knote state of its OS sources.
pub(crate) type Core = crate::core::Core<OsSourceState>;
/// A knote of this target's core.
pub(crate) type Knote = crate::core::Knote<OsSourceState>;
/// What a knote of this target's core watches.
pub(crate) type Kind = crate::core::Kind<OsSourceState>;

// The backend switch: each arm names the backend of a target and its VNODE/PROC/SIGNAL sources
// (`OsSources`, `OsSourceState`). The OS list of `kq_native` is in `build.rs`.

// The loom model: no OS sources, a waker standing for the real ones.
#[cfg(loom)]
mod model;
#[cfg(loom)]
mod no_os;
#[cfg(loom)]
pub(crate) use {
    model::ModelBackend as OsBackend,
    no_os::{OsSourceState, OsSources},
};

// FreeBSD, macOS, NetBSD, OpenBSD, DragonFly: the kernel's kqueue, and its own knotes.
#[cfg(all(not(loom), kq_native))]
mod native;
#[cfg(all(not(loom), kq_native))]
pub(crate) use native::{
    sources::{OsSourceState, OsSources},
    NativeBackend as OsBackend,
};

// Linux: mio (epoll), with inotify, pidfd and a signal pipe.
#[cfg(all(not(loom), not(kq_native), target_os = "linux"))]
mod linux;
#[cfg(all(not(loom), not(kq_native), target_os = "linux"))]
mod mio_poll;
#[cfg(all(not(loom), not(kq_native), target_os = "linux"))]
pub(crate) use {
    linux::{OsSourceState, OsSources},
    mio_poll::MioBackend as OsBackend,
};

// Windows: mio (IOCP and AFD) for sockets; no VNODE, PROC or SIGNAL.
#[cfg(all(not(loom), windows))]
mod no_os;
#[cfg(all(not(loom), windows))]
pub(crate) mod windows;
#[cfg(all(not(loom), windows))]
pub(crate) use {
    no_os::{OsSourceState, OsSources},
    windows::Backend as OsBackend,
};

#[cfg(not(any(loom, kq_native, target_os = "linux", windows)))]
compile_error!(
    "kq has no backend for this target: it runs on Linux, Windows and the kqueue systems \
     (FreeBSD, macOS, NetBSD, OpenBSD, DragonFly)"
);
