//! The I/O building block for net, process and fs-watch: [`Registration`] (an fd registered with
//! the runtime's kqueue, EV_CLEAR, readiness cached with a tick) and [`EventSource`] (a stream of
//! kevents from a VNODE, PROC, SIGNAL or other knote).

use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{
    AtomicBool,
    Ordering::{Acquire, Release},
};
use std::sync::Arc;
use std::task::{Context, Poll};

use kq_reactor::{note, Filter, Flags, Kevent};

pub use crate::driver::RESERVED_IDENTS;
use crate::runtime::Handle;
pub use crate::scheduled_io::ReadyEvent;
use crate::scheduled_io::{shutdown_error, Direction, ScheduledIo};

/// Which readiness a registration follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interest(u8);

impl Interest {
    /// Readable.
    pub const READABLE: Interest = Interest(1);
    /// Writable.
    pub const WRITABLE: Interest = Interest(2);
    /// Both.
    pub const BOTH: Interest = Interest(3);

    /// Does this interest include readability?
    pub fn is_readable(self) -> bool {
        self.0 & 1 != 0
    }

    /// Does this interest include writability?
    pub fn is_writable(self) -> bool {
        self.0 & 2 != 0
    }
}

impl std::ops::BitOr for Interest {
    type Output = Interest;
    fn bitor(self, rhs: Interest) -> Interest {
        Interest(self.0 | rhs.0)
    }
}

fn no_runtime() -> io::Error {
    io::Error::other(
        crate::runtime::Handle::try_current().err().map_or_else(String::new, |e| e.to_string()),
    )
}

/// An fd registered with the runtime's reactor (READ and/or WRITE knotes with EV_CLEAR).
///
/// The knotes are deleted when the registration is dropped, before the caller closes the fd.
/// Readiness is cached: [`poll_read_ready`](Self::poll_read_ready) returns at once while the last
/// readiness seen has not been cleared; clear it with [`clear_readiness`](Self::clear_readiness)
/// when an operation returns `WouldBlock`.
///
/// Once the runtime has shut down (dropped, or `shutdown_timeout`), waiting for readiness fails
/// with an error instead of waiting for a driver that no longer runs, as tokio's I/O does.
///
/// The fd must be one epoll can watch on Linux: not a regular file, a directory or a device
/// without poll support such as `/dev/null`. The reactor accepts their knotes (a directory's or
/// a device's would never fire; a regular file's is driven by inotify), but an edge-triggered
/// readiness API on them is not what tokio offers: `kq_net::AsyncFd` checks this and fails with
/// `EPERM`, as tokio's does.
pub struct Registration {
    handle: Handle,
    io: Arc<ScheduledIo>,
    fd: usize,
    interest: Interest,
    /// A deferred registration ([`new_deferred`](Self::new_deferred)): whether its knotes exist
    /// yet (set when the first wait makes them). `None`: made at construction. Two first waits
    /// at once (a read half and a write half) may both add the knotes: the second EV_ADD only
    /// modifies them with the same values.
    deferred: Option<AtomicBool>,
}

impl Registration {
    /// Registers `fd` with the current runtime.
    ///
    /// # Errors
    /// Outside a runtime, or on one that has shut down; `AlreadyExists` when `fd` is registered
    /// with this runtime already (as tokio's `EEXIST`); or the reactor's errno (EBADF for a
    /// closed fd, EOPNOTSUPP where fd filters do not exist).
    pub fn new(fd: usize, interest: Interest) -> io::Result<Registration> {
        let handle = Handle::try_current().map_err(|_| no_runtime())?;
        Registration::with_handle(fd, interest, &handle)
    }

    /// Registers `fd` with the runtime of `handle`.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_handle(fd: usize, interest: Interest, handle: &Handle) -> io::Result<Registration> {
        let reg = Registration::claim(fd, interest, handle.clone(), None)?;
        reg.add_knotes()?;
        Ok(reg)
    }

    /// Registers `fd` with the current runtime when it first has to wait, not now: until then
    /// it is taken as ready in every direction of `interest`, so the first operation is simply
    /// tried. For a socket that may never wait (a connection accepted and closed at once), this
    /// saves the knotes, their two `epoll_ctl` calls and two `fstat`s; a socket that waits is
    /// registered before it does, and the fresh watch reports its readiness of that moment
    /// (nothing that happened before is lost: it is what the first operation saw, or is still
    /// there).
    ///
    /// For fds known to be watchable sockets (kq-net's accepted connections): errors that
    /// [`new`](Self::new) reports at once (EBADF, EEXIST from the reactor...) come from the first
    /// wait instead. Windows registers at once (its sockets are re-armed per wait anyway).
    ///
    /// # Errors
    /// Outside a runtime, or on one that has shut down; `AlreadyExists` as [`new`](Self::new).
    pub fn new_deferred(fd: usize, interest: Interest) -> io::Result<Registration> {
        let handle = Handle::try_current().map_err(|_| no_runtime())?;
        if cfg!(windows) {
            return Registration::with_handle(fd, interest, &handle);
        }
        let reg = Registration::claim(fd, interest, handle, Some(AtomicBool::new(false)))?;
        reg.io.assume_ready(interest.is_readable(), interest.is_writable());
        Ok(reg)
    }

    /// A registration of `fd` without knotes yet: the runtime is open and `fd` is claimed
    /// (dropping it gives the claim back).
    fn claim(
        fd: usize,
        interest: Interest,
        handle: Handle,
        deferred: Option<AtomicBool>,
    ) -> io::Result<Registration> {
        handle.shared.driver.check_open()?;
        handle.shared.driver.claim_fd(fd)?;
        let io = Arc::new(ScheduledIo::default());
        Ok(Registration { handle, io, fd, interest, deferred })
    }

    /// The filters of the registration's knotes.
    fn filters(&self) -> impl Iterator<Item = Filter> {
        let wanted = [
            (self.interest.is_readable(), Filter::Read),
            (self.interest.is_writable(), Filter::Write),
        ];
        wanted.into_iter().filter_map(|(on, filter)| on.then_some(filter))
    }

    /// Adds the knotes.
    fn add_knotes(&self) -> io::Result<()> {
        let changes: Vec<Kevent> = self.filters().map(|filter| self.add_change(filter)).collect();
        self.handle.shared.driver.register(&changes)
    }

    /// The EV_ADD of one of the knotes: edge-triggered, and readiness only (the runtime never
    /// needs `data`, and stale readiness just costs a WouldBlock; see `note::NODATA`).
    fn add_change(&self, filter: Filter) -> Kevent {
        Kevent::new(self.fd, filter, Flags::ADD | Flags::CLEAR)
            .with_fflags(note::NODATA)
            .with_udata(self.io.udata())
    }

    /// A deferred registration about to wait: its knotes are made now (once).
    fn ensure_knotes(&self) -> io::Result<()> {
        let Some(made) = &self.deferred else { return Ok(()) };
        if !made.load(Acquire) {
            self.handle.shared.driver.check_open()?;
            self.add_knotes()?;
            made.store(true, Release);
        }
        Ok(())
    }

    /// Are the knotes there (to be deleted on drop)?
    fn has_knotes(&self) -> bool {
        self.deferred.as_ref().is_none_or(|made| made.load(Acquire))
    }

    /// The registered fd.
    pub fn fd(&self) -> usize {
        self.fd
    }

    /// Ready for reading (or hung up), or registers the task's waker.
    ///
    /// # Errors
    /// The runtime has shut down.
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<ReadyEvent>> {
        self.poll_ready(cx, Direction::Read)
    }

    /// Ready for writing (or hung up), or registers the task's waker.
    ///
    /// # Errors
    /// The runtime has shut down.
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<ReadyEvent>> {
        self.poll_ready(cx, Direction::Write)
    }

    fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<io::Result<ReadyEvent>> {
        self.settle(self.io.poll_ready(cx, dir))
    }

    /// What a readiness poll gives the caller: the readiness, or the runtime's shutdown; when
    /// Pending (the waker is stored), the knotes are made now, and report the current readiness
    /// to it.
    fn settle(&self, polled: Poll<ReadyEvent>) -> Poll<io::Result<ReadyEvent>> {
        match polled {
            Poll::Ready(ev) => Poll::Ready(unless_shutdown(ev)),
            Poll::Pending => {
                match self.ensure_knotes().and_then(|()| self.handle.shared.watch(&self.io)) {
                    Ok(()) => Poll::Pending,
                    Err(e) => Poll::Ready(Err(e)),
                }
            }
        }
    }

    /// Forgets the readiness in `event` (after an operation returned `WouldBlock`), unless newer
    /// readiness has arrived since.
    pub fn clear_readiness(&self, event: ReadyEvent) {
        self.io.clear_readiness(event);
        #[cfg(windows)]
        self.rearm(event);
    }

    /// Windows: the AFD poll under mio reports a condition once, then stops watching it until
    /// re-armed, and the reactor re-arms a `NOTE_NODATA` knote when it is re-added (which
    /// evaluates the socket: an event is queued if data came in meanwhile). A `WouldBlock` is
    /// the moment to do it, as mio's own sockets do.
    #[cfg(windows)]
    fn rearm(&self, event: ReadyEvent) {
        let seen = |filter: &Filter| match filter {
            Filter::Read => event.is_readable(),
            _ => event.is_writable(),
        };
        let changes: Vec<Kevent> =
            self.filters().filter(seen).map(|filter| self.add_change(filter)).collect();
        self.handle.shared.driver.rearm(&changes);
    }

    /// Waits until readable. Any number of tasks may wait at once: each is woken (the poll
    /// methods keep one waker per direction, as tokio's do).
    ///
    /// Cancel safe: dropping the future loses nothing.
    pub async fn readable(&self) -> io::Result<ReadyEvent> {
        Readiness { reg: self, dir: Direction::Read, key: None }.await
    }

    /// Waits until writable; any number of tasks may wait at once, as for
    /// [`readable`](Self::readable).
    ///
    /// Cancel safe: dropping the future loses nothing.
    pub async fn writable(&self) -> io::Result<ReadyEvent> {
        Readiness { reg: self, dir: Direction::Write, key: None }.await
    }

    /// Runs a non-blocking operation when ready, clearing readiness and waiting again on
    /// `WouldBlock`: the `&self` async methods of a socket (`recv_from`, `accept`, ...), which
    /// several tasks may await at once, each woken.
    ///
    /// # Errors
    /// The error of `op`, or the runtime has shut down.
    pub async fn async_io<R>(
        &self,
        interest: Interest,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        let dir = if interest.is_readable() { Direction::Read } else { Direction::Write };
        loop {
            let ev = Readiness { reg: self, dir, key: None }.await?;
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear_readiness(ev),
                r => return r,
            }
        }
    }

    /// Runs a non-blocking operation when ready, clearing readiness and waiting again on
    /// `WouldBlock`.
    pub fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        interest: Interest,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            let ev = if interest.is_readable() {
                std::task::ready!(self.poll_read_ready(cx))?
            } else {
                std::task::ready!(self.poll_write_ready(cx))?
            };
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear_readiness(ev),
                r => return Poll::Ready(r),
            }
        }
    }

    /// Runs a non-blocking operation now if the last readiness seen allows it; `WouldBlock`
    /// otherwise. On `WouldBlock` from `op` the readiness is cleared.
    pub fn try_io<R>(
        &self,
        interest: Interest,
        op: impl FnOnce() -> io::Result<R>,
    ) -> io::Result<R> {
        let dir = if interest.is_readable() { Direction::Read } else { Direction::Write };
        let Some(ev) = self.io.ready_now(dir) else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        let ev = unless_shutdown(ev)?;
        match op() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.clear_readiness(ev);
                Err(e)
            }
            r => r,
        }
    }

    /// Deregisters without closing the fd (also done on drop).
    pub fn deregister(self) {}
}

impl Drop for Registration {
    fn drop(&mut self) {
        let driver = &self.handle.shared.driver;
        if self.has_knotes() {
            let mut filters = [Filter::Read; 2];
            let mut n = 0;
            for filter in self.filters() {
                filters[n] = filter;
                n += 1;
            }
            driver.delete_fd_knotes(self.fd, &filters[..n]);
        }
        driver.unclaim_fd(self.fd);
        driver.release(self.io.clone());
    }
}

/// A wait for readiness in one direction as one of any number of waiters (its entry in the
/// resource's waiter list lives as long as the future).
struct Readiness<'a> {
    reg: &'a Registration,
    dir: Direction,
    key: Option<usize>,
}

impl Future for Readiness<'_> {
    type Output = io::Result<ReadyEvent>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.reg.settle(this.reg.io.poll_ready_shared(cx, this.dir, &mut this.key))
    }
}

impl Drop for Readiness<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.reg.io.remove_waiter(key);
        }
    }
}

/// Readiness, or the error of a runtime that has shut down.
fn unless_shutdown(ev: ReadyEvent) -> io::Result<ReadyEvent> {
    if ev.is_shutdown() {
        return Err(shutdown_error());
    }
    Ok(ev)
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("fd", &self.fd)
            .field("interest", &self.interest)
            .finish()
    }
}

/// A stream of the kevents of one knote (VNODE, PROC, SIGNAL, TIMER, USER...) registered with
/// the runtime's reactor. The knote is deleted on drop.
///
/// The knote is registered with `EV_CLEAR`: each activation is delivered once. (A level knote
/// would be reported again by every collection while its condition holds: the stream would
/// fill with copies and the runtime's driver would never sleep.) Idents in [`RESERVED_IDENTS`]
/// are the runtime's own and refused.
///
/// A stream keeps at most 1024 unread events; later activations are merged into the last one,
/// as kqueue merges activations not yet retrieved (flags and fflags OR'ed, TIMER and SIGNAL
/// counts added), so a stream nobody reads holds bounded memory.
///
/// With `EV_DISPATCH` the knote is disabled after its first event and nothing enables it again:
/// use `EV_ONESHOT` for a single event (the stream then ends).
///
/// Once the runtime has shut down, the stream ends (`None`) after the events already received.
pub struct EventSource {
    handle: Handle,
    io: Arc<ScheduledIo>,
    ident: usize,
    filter: Filter,
    done: bool,
}

impl EventSource {
    /// Registers `change` (EV_ADD and EV_CLEAR are implied; udata is the runtime's) with the
    /// current runtime.
    ///
    /// # Errors
    /// `InvalidInput` for an ident in [`RESERVED_IDENTS`]; outside a runtime, or on one that has
    /// shut down; or the reactor's errno for the change (ESRCH, EINVAL, EOPNOTSUPP...).
    pub fn new(change: Kevent) -> io::Result<EventSource> {
        if RESERVED_IDENTS.contains(&change.ident) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "EventSource: ident {:#x} is reserved for the runtime's own knotes (idents \
                     from {:#x} up)",
                    change.ident,
                    RESERVED_IDENTS.start()
                ),
            ));
        }
        let handle = Handle::try_current().map_err(|_| no_runtime())?;
        handle.shared.driver.check_open()?;
        let io = Arc::new(ScheduledIo::for_stream());
        let flags = change.flags | Flags::ADD | Flags::CLEAR;
        let kev = Kevent { flags, udata: io.udata(), ..change };
        let source =
            EventSource { handle, io, ident: change.ident, filter: change.filter, done: false };
        source.handle.shared.driver.register(&[kev])?;
        Ok(source)
    }

    /// The next event. After an event with EV_ONESHOT or a PROC exit, the stream ends.
    pub fn poll_next_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Kevent>> {
        if self.done {
            return Poll::Ready(None);
        }
        let coop = std::task::ready!(crate::coop::poll_proceed(cx));
        let polled = match self.io.poll_event(cx) {
            Poll::Pending if self.handle.shared.watch(&self.io).is_err() => Poll::Ready(None),
            polled => polled,
        };
        let Some(ev) = std::task::ready!(polled) else {
            coop.made_progress();
            self.done = true;
            return Poll::Ready(None);
        };
        coop.made_progress();
        if ev.flags.contains(Flags::ONESHOT) {
            self.done = true;
        }
        Poll::Ready(Some(ev))
    }

    /// Waits for the next event (`None` once the knote is gone, or the runtime has shut down).
    pub async fn next_event(&mut self) -> Option<Kevent> {
        poll_fn(|cx| self.poll_next_event(cx)).await
    }
}

impl futures_core::Stream for EventSource {
    type Item = Kevent;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Kevent>> {
        self.get_mut().poll_next_event(cx)
    }
}

impl Drop for EventSource {
    fn drop(&mut self) {
        let driver = &self.handle.shared.driver;
        driver.deregister(&[Kevent::new(self.ident, self.filter, Flags::DELETE)]);
        driver.release(self.io.clone());
    }
}

impl std::fmt::Debug for EventSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventSource")
            .field("ident", &self.ident)
            .field("filter", &self.filter)
            .finish()
    }
}
