//! [`Kqueue`]: the public face. The protocol by which its threads share it is in `wait.rs`; the
//! platform side the core calls back into in `platform.rs`.

use std::io;
use std::sync::Arc;
use std::time::Duration;

#[cfg_attr(windows, allow(unused_imports))]
use crate::sys::Backend as _;
#[cfg(all(unix, not(loom)))]
use crate::sys::FdBackend as _;
use crate::wait::Shared;
use crate::{Kevent, LockStats};

/// A kqueue: a set of knotes and the events they deliver. See the [crate docs](crate) for the
/// semantics.
///
/// `Kqueue` is `Send + Sync`: any number of threads may call [`kevent`](Kqueue::kevent) at once.
/// On Unix it is also a file descriptor (`AsRawFd`/`AsFd`), readable while events are pending,
/// so it can be registered for READ in another `Kqueue`.
pub struct Kqueue {
    shared: Arc<Shared>,
}

impl Kqueue {
    /// Creates a kqueue.
    ///
    /// # Errors
    /// The OS error if the backend's poller or waker cannot be created (e.g. out of fds).
    pub fn new() -> io::Result<Kqueue> {
        let shared = Shared::new()?;
        #[cfg(all(unix, not(loom)))]
        crate::nest::register(shared.backend.raw_fd(), &shared);
        Ok(Kqueue { shared })
    }

    /// Applies `changes` in order, then collects up to `events.len()` events, waiting at most
    /// `timeout` (`None`: until an event arrives; `Some(Duration::ZERO)`: poll).
    ///
    /// Returns the number of entries written to `events`. A change that fails, or carries
    /// [`Flags::RECEIPT`](crate::Flags::RECEIPT), is echoed into `events` with `flags = ERROR`
    /// and `data` = the errno (0 for a successful receipt); when any such entry is written the
    /// call returns without collecting. With an empty `events` the call returns right after the
    /// changes.
    ///
    /// # Errors
    /// The errno of a failed change when there is no room in `events` to report it (later changes
    /// are then not applied), or an error of the OS wait.
    pub fn kevent(
        &self,
        changes: &[Kevent],
        events: &mut [Kevent],
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        self.shared.kevent(changes, events, timeout)
    }

    /// Deletes this kqueue's knotes `(fd, filter)` for each of `filters` (READ, WRITE, VNODE)
    /// without asking the OS about `fd`, as closing an fd does on FreeBSD (`knote_fdclose`).
    /// Returns how many knotes there were; a missing one is not an error.
    ///
    /// For the owner of `fd` who is about to close it, or who knows it still names the file
    /// its knotes were made for. `EV_DELETE` changes do the same, but each `kevent` call first
    /// takes an `fstat` of the fd, so that a closed fd gives `EBADF` and a closed and reused one
    /// `ENOENT` (and leaves the knotes of a closed fd to be found stale later): this call pays
    /// no system call but the backend's own unwatch, and removes the knotes whatever became of
    /// the fd number.
    ///
    /// # Errors
    /// `EINVAL` for a filter whose ident is not an fd (nothing is deleted then); `EBADF` in a
    /// child process for a kqueue inherited across `fork` (as `kevent`).
    pub fn delete_fd_knotes(&self, fd: usize, filters: &[crate::Filter]) -> io::Result<usize> {
        self.shared.delete_fd_knotes(fd, filters)
    }

    /// The counters of the lock around the knote table and the ready queue.
    pub fn lock_stats(&self) -> LockStats {
        self.shared.state.stats()
    }

    /// The counters of the backend's poll lock (taken by the one thread that polls the OS).
    pub fn poll_lock_stats(&self) -> LockStats {
        self.shared.backend.lock_stats()
    }

    /// Number of registered knotes.
    pub fn len(&self) -> usize {
        self.shared.state.lock().core.len()
    }

    /// True when no knote is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for Kqueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kqueue").finish_non_exhaustive()
    }
}

impl Drop for Kqueue {
    fn drop(&mut self) {
        #[cfg(all(unix, not(loom)))]
        crate::nest::unregister(self.shared.backend.raw_fd());
    }
}

#[cfg(all(unix, not(loom)))]
impl std::os::fd::AsRawFd for Kqueue {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.shared.backend.raw_fd()
    }
}

#[cfg(all(unix, not(loom)))]
impl std::os::fd::AsFd for Kqueue {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        // SAFETY: the backend owns this fd and keeps it open for as long as `self` lives.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(self.shared.backend.raw_fd()) }
    }
}
