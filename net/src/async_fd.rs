//! [`AsyncFd`]: any fd (`AsRawFd`) registered with the runtime's reactor, with readiness guards.

use crate::sys::{AsRawFd, RawFd};
use std::io;
use std::task::{Context, Poll};

use kq_runtime::io::{Interest, ReadyEvent, Registration};

/// An fd registered with the kq runtime (READ and WRITE knotes with EV_CLEAR).
///
/// The knotes are deleted before the inner value (and its fd) is dropped. The fd must be in
/// non-blocking mode for the `try_io` pattern to work.
///
/// On Linux the fd must be one epoll can watch: a regular file, a directory or a device without
/// poll support (`/dev/null`) is refused at construction with `EPERM`, as tokio's `AsyncFd`
/// does, rather than accepted and never ready. On the BSDs and macOS the kernel's kqueue watches
/// files too (a regular file is readable while its offset is before its end).
pub struct AsyncFd<T: AsRawFd> {
    // Field order matters: the registration (knotes) goes before the fd is closed.
    reg: Registration,
    inner: Option<T>,
}

/// The reactor's ident of an fd (a negative fd is `EBADF`). On Windows the raw handle is a
/// `usize` already.
#[cfg_attr(windows, allow(clippy::useless_conversion))]
fn ident(fd: &impl AsRawFd) -> io::Result<usize> {
    usize::try_from(fd.as_raw_fd()).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))
}

/// Readiness seen by [`AsyncFd::readable`] / [`AsyncFd::writable`].
pub struct AsyncFdReadyGuard<'a, T: AsRawFd> {
    fd: &'a AsyncFd<T>,
    event: Option<ReadyEvent>,
}

impl<T: AsRawFd> AsyncFd<T> {
    /// Registers `inner` for reading and writing.
    ///
    /// # Errors
    /// Outside a kq runtime (or on one that has shut down); `EPERM` (`PermissionDenied`) for an
    /// fd the backend cannot watch (see above); the reactor's error (e.g. EBADF).
    pub fn new(inner: T) -> io::Result<AsyncFd<T>> {
        AsyncFd::with_interest(inner, Interest::BOTH)
    }

    /// Registers `inner` for the given interest.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_interest(inner: T, interest: Interest) -> io::Result<AsyncFd<T>> {
        check_watchable(inner.as_raw_fd())?;
        AsyncFd::socket(inner, interest)
    }

    /// Registers a socket made by this crate (always watchable: no check).
    pub(crate) fn socket(inner: T, interest: Interest) -> io::Result<AsyncFd<T>> {
        let reg = Registration::new(ident(&inner)?, interest)?;
        Ok(AsyncFd { reg, inner: Some(inner) })
    }

    /// A socket made by this crate, registered when it first has to wait
    /// ([`Registration::new_deferred`]): an accepted connection that is closed without ever
    /// waiting costs no knote and no `epoll_ctl`.
    pub(crate) fn deferred_socket(inner: T, interest: Interest) -> io::Result<AsyncFd<T>> {
        let reg = Registration::new_deferred(ident(&inner)?, interest)?;
        Ok(AsyncFd { reg, inner: Some(inner) })
    }

    /// The wrapped value.
    pub fn get_ref(&self) -> &T {
        self.inner.as_ref().expect("inner is present until into_inner")
    }

    /// The wrapped value, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.as_mut().expect("inner is present until into_inner")
    }

    /// Deregisters and returns the wrapped value (its fd stays open).
    pub fn into_inner(mut self) -> T {
        let inner = self.inner.take().expect("inner is present until into_inner");
        drop(self);
        inner
    }

    /// Polls for read readiness.
    pub fn poll_read_ready<'a>(
        &'a self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<AsyncFdReadyGuard<'a, T>>> {
        self.reg.poll_read_ready(cx).map_ok(|ev| AsyncFdReadyGuard { fd: self, event: Some(ev) })
    }

    /// Polls for write readiness.
    pub fn poll_write_ready<'a>(
        &'a self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<AsyncFdReadyGuard<'a, T>>> {
        self.reg.poll_write_ready(cx).map_ok(|ev| AsyncFdReadyGuard { fd: self, event: Some(ev) })
    }

    /// Waits until readable. Cancel safe. Any number of tasks may wait at once, each is woken
    /// (the `poll_*` methods keep one waker per direction, as tokio's do).
    pub async fn readable(&self) -> io::Result<AsyncFdReadyGuard<'_, T>> {
        let ev = self.reg.readable().await?;
        Ok(AsyncFdReadyGuard { fd: self, event: Some(ev) })
    }

    /// Waits until writable. Cancel safe. Any number of tasks may wait at once.
    pub async fn writable(&self) -> io::Result<AsyncFdReadyGuard<'_, T>> {
        let ev = self.reg.writable().await?;
        Ok(AsyncFdReadyGuard { fd: self, event: Some(ev) })
    }

    /// Runs `op` when ready for `interest`, waiting again while it returns `WouldBlock`.
    /// Cancel safe when `op` is. Any number of tasks may wait at once (two tasks in
    /// `recv_from` on one shared socket: each is woken).
    pub async fn async_io<R>(
        &self,
        interest: Interest,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        self.reg.async_io(interest, || op(self.get_ref())).await
    }

    /// Polls `op` when ready for `interest`, clearing readiness and waiting on `WouldBlock`.
    pub fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        interest: Interest,
        op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.reg.poll_io(cx, interest, op)
    }

    /// The registration (for other kq crates).
    pub fn registration(&self) -> &Registration {
        &self.reg
    }
}

/// `EPERM` for an fd that epoll cannot watch (regular files, directories, devices without poll
/// support), as tokio's `AsyncFd`: the reactor would accept its knotes, but a directory's or a
/// device's would never fire. Sockets and FIFOs pass
/// on one `fstat`; anything else is tried in a throwaway epoll instance. Other errors (EBADF...)
/// are left for the registration to report.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn check_watchable(fd: RawFd) -> io::Result<()> {
    // SAFETY: an all-zero `stat` is a valid value for fstat to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes one stat through a valid, exclusive pointer.
    if unsafe { libc::fstat(fd, &mut st) } == 0
        && matches!(st.st_mode & libc::S_IFMT, libc::S_IFSOCK | libc::S_IFIFO)
    {
        return Ok(());
    }
    // SAFETY: epoll_create1 has no memory arguments; the fd is closed below.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Ok(()); // cannot tell: the registration decides
    }
    let mut ev = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLET) as u32,
        u64: 0,
    };
    // SAFETY: `ep` is the epoll fd created above; `ev` is a valid epoll_event.
    let rc = unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) };
    let err = (rc != 0).then(io::Error::last_os_error);
    // SAFETY: `ep` was created above and is closed once (closing it drops the watch too).
    unsafe { libc::close(ep) };
    match err {
        Some(e) if e.raw_os_error() == Some(libc::EPERM) => Err(e),
        _ => Ok(()),
    }
}

/// The kernel's kqueue watches every kind of fd (and the emulated backends of other systems are
/// not checked).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn check_watchable(_fd: RawFd) -> io::Result<()> {
    Ok(())
}

impl<T: AsRawFd> AsRawFd for AsyncFd<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.get_ref().as_raw_fd()
    }
}

impl<T: AsRawFd + std::fmt::Debug> std::fmt::Debug for AsyncFd<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncFd").field("inner", &self.inner).finish()
    }
}

impl<'a, T: AsRawFd> AsyncFdReadyGuard<'a, T> {
    /// Forgets this readiness (call after an operation returned `WouldBlock`).
    pub fn clear_ready(&mut self) {
        if let Some(ev) = self.event.take() {
            self.fd.reg.clear_readiness(ev);
        }
    }

    /// Keeps the readiness (the default when the guard is dropped).
    pub fn retain_ready(&mut self) {
        self.event = None;
    }

    /// Runs `op`; on `WouldBlock` clears the readiness and returns `Err(TryIoError)`.
    pub fn try_io<R>(
        &mut self,
        op: impl FnOnce(&'a AsyncFd<T>) -> io::Result<R>,
    ) -> Result<io::Result<R>, TryIoError> {
        match op(self.fd) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.clear_ready();
                Err(TryIoError(()))
            }
            r => Ok(r),
        }
    }

    /// The registered value.
    pub fn get_inner(&self) -> &'a T {
        self.fd.get_ref()
    }

    /// Readiness flags seen.
    pub fn ready(&self) -> Option<ReadyEvent> {
        self.event
    }
}

/// The operation in [`AsyncFdReadyGuard::try_io`] would have blocked.
#[derive(Debug)]
pub struct TryIoError(());
