//! The emulated backend (Linux; Windows for timers and user events): `mio::Poll`, edge-triggered,
//! with a `mio::Waker` for wake-ups.

use std::io;
use std::time::Duration;

use mio::{Events, Poll, Token, Waker};

use super::OsEvent;
use crate::sync::ProfiledMutex;

const WAKER: Token = Token(usize::MAX);

/// See the contract in `sys/mod.rs`.
pub(crate) struct Backend {
    poll: ProfiledMutex<(Poll, Events)>,
    #[cfg_attr(not(unix), allow(dead_code))]
    registry: mio::Registry,
    waker: Waker,
    #[cfg(unix)]
    fd: std::os::fd::RawFd,
}

impl Backend {
    pub(crate) fn new() -> io::Result<Backend> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = Waker::new(&registry, WAKER)?;
        #[cfg(unix)]
        let fd = std::os::fd::AsRawFd::as_raw_fd(&poll);
        Ok(Backend {
            poll: ProfiledMutex::new((poll, Events::with_capacity(1024))),
            registry,
            waker,
            #[cfg(unix)]
            fd,
        })
    }

    #[cfg(unix)]
    pub(crate) fn watch_fd(&self, fd: usize) -> io::Result<()> {
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
    pub(crate) fn rearm_fd(&self, fd: usize) -> io::Result<()> {
        use mio::{unix::SourceFd, Interest};
        let raw = fd as std::os::fd::RawFd;
        let interest = Interest::READABLE | Interest::WRITABLE;
        self.registry.reregister(&mut SourceFd(&raw), Token(fd), interest)
    }

    #[cfg(unix)]
    pub(crate) fn unwatch_fd(&self, fd: usize) {
        let raw = fd as std::os::fd::RawFd;
        let _ = self.registry.deregister(&mut mio::unix::SourceFd(&raw));
    }

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

    pub(crate) fn wait(&self, out: &mut Vec<OsEvent>, timeout: Option<Duration>) -> io::Result<()> {
        let mut guard = self.poll.lock();
        let (poll, events) = &mut *guard;
        poll.poll(events, timeout)?;
        for e in events.iter().filter(|e| e.token() != WAKER) {
            let ready = [
                (e.is_readable(), super::READY_READ),
                (e.is_writable(), super::READY_WRITE),
                (e.is_read_closed(), super::READY_RDHUP),
                (e.is_write_closed(), super::READY_WRHUP),
                (e.is_error(), super::READY_ERR),
            ];
            let ready = ready.iter().filter(|(on, _)| *on).fold(0, |acc, (_, bit)| acc | bit);
            out.push(OsEvent { token: e.token().0, ready, ..OsEvent::default() });
        }
        Ok(())
    }

    pub(crate) fn wake(&self) {
        // A failed wake can only mean the eventfd counter is saturated, i.e. a wake is pending.
        let _ = self.waker.wake();
    }

    #[cfg(unix)]
    pub(crate) fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd
    }

    pub(crate) fn lock_stats(&self) -> crate::LockStats {
        self.poll.stats()
    }
}
