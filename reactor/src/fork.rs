//! fork: a kqueue is not inherited by a child process (FreeBSD's rule). On Linux the child would
//! share the parent's epoll instance and take its events, so a `pthread_atfork` child handler
//! bumps a process-wide fork generation; a kqueue created in another generation answers every
//! `kevent` with `EBADF`, before touching any lock or the OS. The parent is unaffected.
//!
//! Raw `clone`/`vfork` children that skip the atfork handlers are not detected (a `vfork` child
//! may only `exec` or `_exit` anyway).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

static GENERATION: AtomicU64 = AtomicU64::new(0);

extern "C" fn in_child() {
    // Async-signal-safe: one atomic add in the only thread of the child.
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// The current fork generation, installing the atfork handler on first use.
pub(crate) fn generation() -> u64 {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // SAFETY: registers a handler that only does an atomic add; pthread_atfork copies the
        // function pointers. A failure (ENOMEM) leaves fork undetected, which is what it was.
        unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
    });
    current()
}

/// The current fork generation (no installation: for the checks on hot paths).
pub(crate) fn current() -> u64 {
    GENERATION.load(Ordering::Relaxed)
}
