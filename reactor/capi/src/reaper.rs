//! The reaper thread, which frees a kqueue as soon as its descriptor is closed, and the
//! `pthread_atfork` handlers that keep kqueues out of forked children.
//!
//! The reaper owns an epoll set holding the read end kq keeps of every kqueue's pipe, registered
//! with no event but the hang-up (which epoll always reports) and `EPOLLONESHOT`. When a C program
//! closes the last copy of a kqueue descriptor, the read end hangs up and the reaper releases the
//! kqueue within the time it takes to be scheduled: there is no polling period.

use std::cell::RefCell;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Once, RwLockWriteGuard};

use crate::table::{self, Table};

/// Starts the reaper of this process if it is not running (the first `kqueue()`, or the first in a
/// forked child), and installs the fork handlers once.
pub fn ensure(table: &mut Table) -> Result<(), i32> {
    static ATFORK: Once = Once::new();
    let mut atfork = Ok(());
    ATFORK.call_once(|| {
        // SAFETY: the three handlers are `extern "C"` functions that never unwind.
        let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
        if rc != 0 {
            atfork = Err(rc);
        }
    });
    atfork?;
    let me = table::pid();
    if table.reaper.as_ref().is_some_and(|(_, pid)| *pid == me) {
        return Ok(());
    }
    // SAFETY: plain syscall; the result is checked.
    let raw = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if raw < 0 {
        return Err(table::errno());
    }
    // SAFETY: a fresh descriptor that the table owns from now on.
    let epoll = unsafe { OwnedFd::from_raw_fd(raw) };
    std::thread::Builder::new()
        .name("kq-capi-reaper".into())
        .stack_size(256 * 1024)
        .spawn(move || run(raw))
        .map_err(|e| e.raw_os_error().unwrap_or(libc::EAGAIN))?;
    table.reaper = Some((epoll, me));
    Ok(())
}

/// Adds kq's read end `fd` of a kqueue's pipe to the reaper's set under `serial`.
pub fn watch(table: &Table, fd: RawFd, serial: u64) -> Result<(), i32> {
    let Some((epoll, _)) = &table.reaper else { return Err(libc::EBADF) };
    let mut ev = libc::epoll_event { events: libc::EPOLLONESHOT as u32, u64: serial };
    // SAFETY: both descriptors are open; `ev` is a valid epoll_event.
    if unsafe { libc::epoll_ctl(epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) } != 0 {
        return Err(table::errno());
    }
    Ok(())
}

/// The reaper's loop: release each kqueue whose read end hung up.
fn run(epoll: RawFd) {
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 32];
    loop {
        // SAFETY: `events` is valid for 32 entries.
        let n = unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), 32, -1) };
        if n < 0 {
            if table::errno() == libc::EINTR {
                continue;
            }
            return;
        }
        for ev in &events[..n as usize] {
            let serial = ev.u64;
            // A panic here would be a bug; it must not end the reaper.
            let _ = std::panic::catch_unwind(|| table::release(serial));
        }
    }
}

type Stash = Option<RwLockWriteGuard<'static, Option<Table>>>;

thread_local! {
    /// The table lock, held by the forking thread across `fork()` so that the child finds the
    /// table consistent and unlocked.
    static STASH: RefCell<Stash> = const { RefCell::new(None) };
}

extern "C" fn prepare() {
    let _ = std::panic::catch_unwind(|| {
        let guard = table::write();
        STASH.with(|s| *s.borrow_mut() = Some(guard));
    });
}

extern "C" fn parent() {
    let _ = std::panic::catch_unwind(|| {
        STASH.with(|s| s.borrow_mut().take());
    });
}

extern "C" fn child() {
    let _ = std::panic::catch_unwind(|| {
        STASH.with(|s| {
            if let Some(mut guard) = s.borrow_mut().take() {
                table::forget_in_child(&mut guard);
            }
        });
    });
}
