//! Checklist item 42 (KQUEUE.md sections 2 and 7; issue 8, item 4): a kqueue is not inherited across fork. The child
//! gets `EBADF` from every `kevent` on an inherited kqueue, for changes and collection alike, and
//! takes none of the parent's events (on Linux the child shares the parent's epoll instance, so
//! a collection in the child would steal them); the parent keeps them. A child can make and use
//! kqueues of its own.
//!
//! Each test really forks. The child does only what is safe after fork in a threaded program
//! (no locks another thread may hold, no output) and reports through its exit code, which the
//! parent reads with a bounded wait.
// Unix-only: fork(2).
#![cfg(unix)]
mod util;

use std::io;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use kq_reactor::{note, Filter, Flags, Kevent, Kqueue};
use util::*;

/// One fork at a time in this binary.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Forks; the child runs `child` and `_exit`s with its result. Returns the child's exit code,
/// waiting at most 20 s (then the child is killed and the test fails).
fn in_child(child: impl FnOnce() -> i32) -> i32 {
    // SAFETY: fork has no preconditions; the child only runs `child` and `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
    if pid == 0 {
        let code = child();
        // SAFETY: leaves the child at once, without running the parent's atexit handlers.
        unsafe { libc::_exit(code) };
    }
    let (in_time, status) = reap(pid);
    assert!(in_time, "the child hung");
    assert!(libc::WIFEXITED(status), "the child died: status {status:#x}");
    libc::WEXITSTATUS(status)
}

/// Waits at most 20 s for our child `pid` to exit (then kills it) and reaps it: whether it
/// exited in time, and its wait status.
#[cfg(target_os = "linux")] // Linux: a pidfd gives a bounded blocking wait.
fn reap(pid: libc::pid_t) -> (bool, i32) {
    // SAFETY: pidfd_open of our own child.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    assert!(pidfd >= 0, "pidfd_open: {}", io::Error::last_os_error());
    let mut pfd = libc::pollfd { fd: pidfd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd; a bounded wait for the child's exit.
    let ready = unsafe { libc::poll(&mut pfd, 1, 20_000) };
    if ready != 1 {
        // SAFETY: our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let mut status = 0;
    // SAFETY: reaps our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    // SAFETY: closes the pidfd opened above.
    unsafe { libc::close(pidfd) };
    (ready == 1, status)
}

/// Waits at most 20 s for our child `pid` to exit (then kills it) and reaps it: whether it
/// exited in time, and its wait status.
#[cfg(not(target_os = "linux"))] // No pidfd: waitpid(WNOHANG) looked at every millisecond.
fn reap(pid: libc::pid_t) -> (bool, i32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut status = 0;
    loop {
        // SAFETY: reaps our own child if it has exited; never blocks.
        let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(rc >= 0, "waitpid: {}", io::Error::last_os_error());
        if rc == pid {
            return (true, status);
        }
        if std::time::Instant::now() >= deadline {
            // SAFETY: our own child, not reaped yet.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            // SAFETY: reaps our own (killed) child.
            assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
            return (false, status);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The errno of a failed call, 0 for success (no allocation: fine in a child).
fn errno_of(r: io::Result<usize>) -> i32 {
    match r {
        Ok(_) => 0,
        Err(e) => e.raw_os_error().unwrap_or(-1),
    }
}

#[test]
fn child_gets_ebadf_and_the_parent_keeps_its_events() -> io::Result<()> {
    let _serial = serial();
    let kq = Kqueue::new()?;
    let (r, w) = pipe()?;
    register(
        &kq,
        &[
            add(ident(&r), Filter::Read, Flags::CLEAR).with_udata(1),
            add(2, Filter::User, Flags::CLEAR).with_udata(2),
        ],
    )?;
    write_fd(&w, b"for the parent")?;
    let code = in_child(|| {
        let mut events = [Kevent::default(); 8];
        // A poll, a blocking collection and a change: all EBADF, nothing taken.
        let poll = errno_of(kq.kevent(&[], &mut events, Some(Duration::ZERO)));
        let block = errno_of(kq.kevent(&[], &mut events, None));
        let trigger = Kevent::new(2, Filter::User, Flags::empty()).with_fflags(note::TRIGGER);
        let change = errno_of(kq.kevent(&[trigger], &mut [], None));
        match (poll, block, change) {
            (libc::EBADF, libc::EBADF, libc::EBADF) => 0,
            (0, _, _) => 10, // the child collected: the parent's events were at risk
            _ => 20,
        }
    });
    assert_eq!(code, 0, "the child's kevent on the inherited kqueue must fail with EBADF");
    let evs = collect(&kq, Some(Duration::from_secs(5)))?;
    assert_eq!(evs.len(), 1, "the parent keeps its event, and the child's trigger did nothing");
    assert_eq!((evs[0].udata, evs[0].data), (1, 14));
    Ok(())
}

#[test]
fn parent_blocked_in_kevent_is_unaffected_by_a_child() -> io::Result<()> {
    let _serial = serial();
    let kq = std::sync::Arc::new(Kqueue::new()?);
    let (r, w) = pipe()?;
    register(&kq, &[add(ident(&r), Filter::Read, Flags::empty()).with_udata(5)])?;
    let waiter = {
        let kq = kq.clone();
        std::thread::spawn(move || collect(&kq, Some(Duration::from_secs(20))))
    };
    let code = in_child(|| {
        let mut events = [Kevent::default(); 4];
        errno_of(kq.kevent(&[], &mut events, Some(Duration::ZERO)))
    });
    assert_eq!(code, libc::EBADF);
    write_fd(&w, b"x")?;
    let evs = waiter.join().expect("waiter")?;
    assert_eq!(evs.iter().map(|e| e.udata).collect::<Vec<_>>(), [5]);
    Ok(())
}

#[test]
fn child_can_use_kqueues_of_its_own() -> io::Result<()> {
    let _serial = serial();
    let inherited = Kqueue::new()?;
    let code = in_child(|| {
        let Ok(kq) = Kqueue::new() else { return 30 };
        let Ok((r, w)) = pipe() else { return 31 };
        let changes = [
            add(ident(&r), Filter::Read, Flags::empty()).with_udata(1),
            add(2, Filter::User, Flags::empty()).with_fflags(note::TRIGGER).with_udata(2),
            add(3, Filter::Timer, Flags::ONESHOT).with_data(1).with_udata(3),
        ];
        if kq.kevent(&changes, &mut [], None).is_err() || write_fd(&w, b"x").is_err() {
            return 32;
        }
        let mut seen = 0u64;
        let mut events = [Kevent::default(); 8];
        let start = std::time::Instant::now();
        // The level knotes keep every call short: loop until the 1 ms timer has fired too.
        while start.elapsed() < Duration::from_secs(10) {
            let Ok(n) = kq.kevent(&[], &mut events, Some(Duration::from_secs(5))) else {
                return 33;
            };
            for ev in &events[..n] {
                seen |= 1 << ev.udata;
            }
            if seen == 0b1110 {
                break;
            }
        }
        let old = errno_of(inherited.kevent(&[], &mut events, Some(Duration::ZERO)));
        match (seen, old) {
            (0b1110, libc::EBADF) => 0,
            (0b1110, _) => 34,
            _ => 35,
        }
    });
    assert_eq!(code, 0, "the child's own kqueue works; the inherited one is EBADF");
    assert_eq!(errno_of(inherited.kevent(&[], &mut [Kevent::default()], Some(Duration::ZERO))), 0);
    Ok(())
}
