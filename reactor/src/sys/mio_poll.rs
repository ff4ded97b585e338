//! The mio backend (Linux): `mio::Poll` over epoll, edge-triggered, with a `mio::Waker` for
//! wake-ups.

use std::io;
use std::time::Duration;

use mio::{Events, Poll, Token, Waker};

use super::{Backend, BackendEvent, FdBackend, Harvest};
use crate::sync::ProfiledMutex;

const WAKER: Token = Token(usize::MAX);

/// A backend: see the contract, [`Backend`](crate::sys::Backend).
pub(crate) struct MioBackend {
    poll: ProfiledMutex<(Poll, Events)>,
    #[cfg_attr(not(unix), allow(dead_code))]
    registry: mio::Registry,
    waker: Waker,
    #[cfg(unix)]
    fd: std::os::fd::RawFd,
}

impl Backend for MioBackend {
    fn new() -> io::Result<MioBackend> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = Waker::new(&registry, WAKER)?;
        #[cfg(unix)]
        let fd = std::os::fd::AsRawFd::as_raw_fd(&poll);
        Ok(MioBackend {
            poll: ProfiledMutex::new((poll, Events::with_capacity(super::WAIT_BATCH))),
            registry,
            waker,
            #[cfg(unix)]
            fd,
        })
    }

    fn wait(&self, out: &mut Vec<BackendEvent>, timeout: Option<Duration>) -> io::Result<usize> {
        let mut guard = self.poll.lock();
        let (poll, events) = &mut *guard;
        poll.poll(events, timeout)?;
        let records = events.iter().count();
        for e in events.iter().filter(|e| e.token() != WAKER) {
            let ready = [
                (e.is_readable(), super::READY_READ),
                (e.is_writable(), super::READY_WRITE),
                (e.is_read_closed(), super::READY_RDHUP),
                (e.is_write_closed(), super::READY_WRHUP),
                (e.is_error(), super::READY_ERR),
            ];
            let ready = ready.iter().filter(|(on, _)| *on).fold(0, |acc, (_, bit)| acc | bit);
            out.push(BackendEvent { token: e.token().0, ready, ..BackendEvent::default() });
        }
        Ok(records)
    }

    /// One non-blocking `epoll_wait` with a buffer of its own, so that it may run while another
    /// thread is blocked in [`wait`](Self::wait). The readiness bits are decoded as mio decodes
    /// them.
    #[cfg(unix)]
    fn harvest(&self, out: &mut Vec<BackendEvent>) -> io::Result<Harvest> {
        let mut buf = [libc::epoll_event { events: 0, u64: 0 }; super::HARVEST_BATCH];
        // SAFETY: `buf` is valid for HARVEST_BATCH records; a zero timeout never blocks.
        let n = unsafe {
            libc::epoll_wait(self.fd, buf.as_mut_ptr(), super::HARVEST_BATCH as libc::c_int, 0)
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(Harvest::default());
            }
            return Err(e);
        }
        let mut h = Harvest { records: n as usize, woke: false };
        for ev in &buf[..h.records] {
            let token = ev.u64 as usize;
            if token == WAKER.0 {
                h.woke = true;
                continue;
            }
            let bits = ev.events as libc::c_int;
            let has = |b: libc::c_int| bits & b != 0;
            let mut ready = 0;
            if has(libc::EPOLLIN) || has(libc::EPOLLPRI) {
                ready |= super::READY_READ;
            }
            if has(libc::EPOLLOUT) {
                ready |= super::READY_WRITE;
            }
            if has(libc::EPOLLHUP) || (has(libc::EPOLLIN) && has(libc::EPOLLRDHUP)) {
                ready |= super::READY_RDHUP;
            }
            if has(libc::EPOLLHUP)
                || (has(libc::EPOLLOUT) && has(libc::EPOLLERR))
                || bits == libc::EPOLLERR
            {
                ready |= super::READY_WRHUP;
            }
            if has(libc::EPOLLERR) {
                ready |= super::READY_ERR;
            }
            out.push(BackendEvent { token, ready, ..BackendEvent::default() });
        }
        Ok(h)
    }

    /// Windows: no fd is ever watched, so the OS has nothing to report but the waker.
    #[cfg(not(unix))]
    fn harvest(&self, _out: &mut Vec<BackendEvent>) -> io::Result<Harvest> {
        Ok(Harvest::default())
    }

    fn wake(&self) {
        // A failed wake can only mean the eventfd counter is saturated, i.e. a wake is pending.
        let _ = self.waker.wake();
    }

    fn lock_stats(&self) -> crate::LockStats {
        self.poll.stats()
    }
}

impl FdBackend for MioBackend {
    #[cfg(unix)]
    fn watch_fd(&self, fd: usize) -> io::Result<()> {
        use mio::{unix::SourceFd, Interest};
        let raw = fd as std::os::fd::RawFd;
        let interest = Interest::READABLE | Interest::WRITABLE;
        match self.registry.register(&mut SourceFd(&raw), Token(fd), interest) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                self.registry.reregister(&mut SourceFd(&raw), Token(fd), interest)
            }
            // Regular files cannot be watched by epoll; they are always ready, which the level
            // evaluation reports without a watch.
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => Ok(()),
            r => r,
        }
    }

    /// Re-arms the watch of `fd`: epoll then reports its current readiness as a new edge.
    #[cfg(unix)]
    fn rearm_fd(&self, fd: usize) -> io::Result<()> {
        use mio::{unix::SourceFd, Interest};
        let raw = fd as std::os::fd::RawFd;
        let interest = Interest::READABLE | Interest::WRITABLE;
        self.registry.reregister(&mut SourceFd(&raw), Token(fd), interest)
    }

    #[cfg(unix)]
    fn unwatch_fd(&self, fd: usize) {
        let _ = self.unwatch_fd_checked(fd);
    }

    /// epoll keys a watch by file and fd number: `EPOLL_CTL_DEL` on a number that now names
    /// another file fails with `ENOENT`, on a closed one with `EBADF`.
    #[cfg(unix)]
    fn unwatch_fd_checked(&self, fd: usize) -> Option<Result<(), i32>> {
        let raw = fd as std::os::fd::RawFd;
        match self.registry.deregister(&mut mio::unix::SourceFd(&raw)) {
            Ok(()) => Some(Ok(())),
            Err(e) if e.raw_os_error() == Some(libc::EBADF) => Some(Err(libc::EBADF)),
            Err(_) => None,
        }
    }

    #[cfg(unix)]
    fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd
    }
}

impl MioBackend {
    /// Watches one of the reactor's own fds for reading, under `token`.
    #[cfg(unix)]
    pub(crate) fn watch_read(&self, fd: std::os::fd::RawFd, token: usize) -> io::Result<()> {
        let source = &mut mio::unix::SourceFd(&fd);
        self.registry.register(source, Token(token), mio::Interest::READABLE)
    }

    /// Stops watching one of the reactor's own fds.
    #[cfg(unix)]
    pub(crate) fn unwatch_raw(&self, fd: std::os::fd::RawFd) {
        let _ = self.registry.deregister(&mut mio::unix::SourceFd(&fd));
    }
}
