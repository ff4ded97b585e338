//! The Windows backend: `mio::Poll` (IOCP and the AFD poll of each socket), with a `mio::Waker`.
//!
//! mio registers only its own socket types, so each watched socket is wrapped in a
//! `mio::net::TcpStream` that never owns it: the wrapper lives in `ManuallyDrop` while the socket
//! is watched, and `unwatch_fd` deregisters it and takes the raw socket back out without closing
//! it. mio's registration only uses the socket handle, so any socket type (a listener, UDP) works.
//!
//! mio emulates edges on Windows: once the AFD poll of a socket reports a condition, that
//! condition is no longer watched until the socket is re-registered. This backend mirrors it per
//! direction (`armed`), and [`Backend::arm`] re-registers a direction the reactor found not ready
//! (see `sys/windows/mod.rs` for when that happens).

use std::collections::HashMap;
use std::io;
use std::mem::ManuallyDrop;
use std::os::windows::io::{FromRawSocket, IntoRawSocket, RawSocket};
use std::time::Duration;

use mio::{Events, Interest, Poll, Token, Waker};

use crate::sync::{lock_std, ProfiledMutex};
use crate::sys::{
    BackendEvent, Harvest, READY_ERR, READY_RDHUP, READY_READ, READY_WRHUP, READY_WRITE,
};

const WAKER: Token = Token(usize::MAX);

/// Direction bits of `armed` (the `READY_READ` / `READY_WRITE` values).
pub(crate) const DIR_READ: u8 = READY_READ;
pub(crate) const DIR_WRITE: u8 = READY_WRITE;

struct Watch {
    /// Never dropped: the socket belongs to the application.
    source: ManuallyDrop<mio::net::TcpStream>,
    /// Directions whose conditions mio's AFD poll is watching now.
    armed: u8,
    /// The AFD poll reported the read side closed (the peer's FIN or a reset): permanent.
    read_closed: bool,
}

/// See the contract in `sys/mod.rs`.
pub(crate) struct Backend {
    poll: ProfiledMutex<(Poll, Events)>,
    registry: mio::Registry,
    waker: Waker,
    /// Watched sockets by handle. A leaf lock: taken under the state lock or the poll lock, never
    /// the other way round.
    watches: std::sync::Mutex<HashMap<usize, Watch>>,
}

fn interest(dirs: u8) -> Interest {
    match (dirs & DIR_READ != 0, dirs & DIR_WRITE != 0) {
        (true, false) => Interest::READABLE,
        (false, true) => Interest::WRITABLE,
        _ => Interest::READABLE | Interest::WRITABLE,
    }
}

impl Backend {
    pub(crate) fn new() -> io::Result<Backend> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = Waker::new(&registry, WAKER)?;
        Ok(Backend {
            poll: ProfiledMutex::new((poll, Events::with_capacity(crate::sys::WAIT_BATCH))),
            registry,
            waker,
            watches: Default::default(),
        })
    }

    /// Watches socket `fd` for both directions (a second call re-arms both).
    pub(crate) fn watch_fd(&self, fd: usize) -> io::Result<()> {
        let mut watches = lock_std(&self.watches);
        if let Some(w) = watches.get_mut(&fd) {
            self.registry.reregister(&mut *w.source, Token(fd), interest(DIR_READ | DIR_WRITE))?;
            w.armed = DIR_READ | DIR_WRITE;
            return Ok(());
        }
        // SAFETY: `fd` is an open socket (the caller checked it with getsockopt under the
        // reactor's lock); the wrapper is never dropped, so it never closes the socket.
        let stream = unsafe { mio::net::TcpStream::from_raw_socket(fd as RawSocket) };
        let mut source = ManuallyDrop::new(stream);
        if let Err(e) =
            self.registry.register(&mut *source, Token(fd), interest(DIR_READ | DIR_WRITE))
        {
            let _ = ManuallyDrop::into_inner(source).into_raw_socket();
            return Err(e);
        }
        watches.insert(fd, Watch { source, armed: DIR_READ | DIR_WRITE, read_closed: false });
        Ok(())
    }

    /// Re-arms both directions: the AFD poll then reports the socket's current readiness.
    pub(crate) fn rearm_fd(&self, fd: usize) -> io::Result<()> {
        self.arm(fd, DIR_READ | DIR_WRITE, true)
    }

    /// Makes sure the AFD poll watches `dirs` of `fd` (re-registering if mio stopped watching
    /// any of them after reporting it; with `force`, re-registering anyway).
    pub(crate) fn arm(&self, fd: usize, dirs: u8, force: bool) -> io::Result<()> {
        let mut watches = lock_std(&self.watches);
        let Some(w) = watches.get_mut(&fd) else { return Ok(()) };
        if !force && w.armed & dirs == dirs {
            return Ok(());
        }
        let want = w.armed | dirs;
        self.registry.reregister(&mut *w.source, Token(fd), interest(want))?;
        w.armed = want;
        Ok(())
    }

    /// Whether the AFD poll has reported the read side of `fd` closed. `WSAPoll` only says
    /// `POLLHUP` (under wine, not at all for a FIN) and a peek cannot see past unread data, so this
    /// is how a READ knote learns of end-of-file while bytes are still to be read.
    pub(crate) fn read_closed(&self, fd: usize) -> bool {
        lock_std(&self.watches).get(&fd).is_some_and(|w| w.read_closed)
    }

    pub(crate) fn unwatch_fd(&self, fd: usize) {
        let Some(mut w) = lock_std(&self.watches).remove(&fd) else { return };
        let _ = self.registry.deregister(&mut *w.source);
        // Back to a raw handle: the socket stays open (it is the application's).
        let _ = ManuallyDrop::into_inner(w.source).into_raw_socket();
    }

    pub(crate) fn wait(
        &self,
        out: &mut Vec<BackendEvent>,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        let mut guard = self.poll.lock();
        Ok(self.poll_into(&mut guard, out, timeout)?.records)
    }

    /// See the contract in `sys/mod.rs`. mio's poll serves one thread at a time: while another
    /// thread holds it (blocked in [`wait`](Self::wait)), that thread reports what the OS has as
    /// soon as it comes (a completion wakes it), so there is nothing to take here.
    pub(crate) fn harvest(&self, out: &mut Vec<BackendEvent>) -> io::Result<Harvest> {
        match self.poll.try_lock() {
            Some(mut guard) => self.poll_into(&mut guard, out, Some(Duration::ZERO)),
            None => Ok(Harvest::default()),
        }
    }

    fn poll_into(
        &self,
        guard: &mut (Poll, Events),
        out: &mut Vec<BackendEvent>,
        timeout: Option<Duration>,
    ) -> io::Result<Harvest> {
        let (poll, events) = guard;
        poll.poll(events, timeout)?;
        let mut harvest = Harvest::default();
        let mut watches = None;
        for e in events.iter() {
            harvest.records += 1;
            if e.token() == WAKER {
                harvest.woke = true;
                continue;
            }
            let ready = [
                (e.is_readable(), READY_READ),
                (e.is_writable(), READY_WRITE),
                (e.is_read_closed(), READY_RDHUP),
                (e.is_write_closed(), READY_WRHUP),
                (e.is_error(), READY_ERR),
            ];
            let ready = ready.iter().filter(|(on, _)| *on).fold(0, |acc, (_, bit)| acc | bit);
            // mio stopped watching what it reported (its edge emulation): mirror it.
            let mut fired = 0;
            if ready & (READY_READ | READY_RDHUP | READY_ERR) != 0 {
                fired |= DIR_READ;
            }
            if ready & (READY_WRITE | READY_WRHUP | READY_ERR) != 0 {
                fired |= DIR_WRITE;
            }
            let watches = watches.get_or_insert_with(|| lock_std(&self.watches));
            if let Some(w) = watches.get_mut(&e.token().0) {
                w.armed &= !fired;
                w.read_closed |= ready & READY_RDHUP != 0;
            }
            out.push(BackendEvent { token: e.token().0, ready, ..BackendEvent::default() });
        }
        Ok(harvest)
    }

    pub(crate) fn wake(&self) {
        // A failed wake means a completion is already queued for the waker.
        let _ = self.waker.wake();
    }

    pub(crate) fn lock_stats(&self) -> crate::LockStats {
        self.poll.stats()
    }
}

impl Drop for Backend {
    /// A kqueue dropped with sockets still watched: each wrapper is deregistered (freeing mio's
    /// per-socket state) and its handle taken back out, never closed.
    fn drop(&mut self) {
        let watches = std::mem::take(&mut *lock_std(&self.watches));
        for (_, mut w) in watches {
            let _ = self.registry.deregister(&mut *w.source);
            let _ = ManuallyDrop::into_inner(w.source).into_raw_socket();
        }
    }
}
