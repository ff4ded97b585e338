//! What TCP and Unix streams share: non-blocking read/write/vectored write/shutdown on an
//! [`AsyncFd`], and the futures-io (and, with `tokio-io`, tokio) trait impls.

use crate::sys::AsRawFd;
use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::task::{Context, Poll};

use kq_runtime::io::Interest;

use crate::AsyncFd;

/// A connected byte stream over an fd: `&T` reads and writes.
pub(crate) trait RawStream: AsRawFd {
    fn shutdown_raw(&self, how: Shutdown) -> io::Result<()>;
    /// A vectored write that never raises SIGPIPE: see [`write_vectored_nosigpipe`].
    fn write_vectored_raw(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
}

impl RawStream for std::net::TcpStream {
    fn shutdown_raw(&self, how: Shutdown) -> io::Result<()> {
        self.shutdown(how)
    }
    fn write_vectored_raw(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        write_vectored_nosigpipe(socket2::SockRef::from(self), bufs)
    }
}

#[cfg(unix)]
impl RawStream for std::os::unix::net::UnixStream {
    fn shutdown_raw(&self, how: Shutdown) -> io::Result<()> {
        self.shutdown(how)
    }
    fn write_vectored_raw(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        write_vectored_nosigpipe(socket2::SockRef::from(self), bufs)
    }
}

/// `sendmsg` with `MSG_NOSIGNAL` where the flag exists, so that a peer gone is an `EPIPE` error
/// and never a SIGPIPE, which ends a program that did not ignore it (Rust binaries ignore it,
/// but CLI tools often restore the default, and kq-net may run inside a C program). std's
/// `write` sends with that flag; its `write_vectored` is a plain `writev`, which raises the
/// signal (tokio's too). macOS has no such flag: its sockets carry `SO_NOSIGPIPE` instead. At
/// most `UIO_MAXIOV` (1024) buffers are written, as std's `writev` caps them, where `sendmsg`
/// would refuse more with `EMSGSIZE`.
fn write_vectored_nosigpipe(s: socket2::SockRef<'_>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    const MAX_IOV: usize = 1024;
    s.send_vectored_with_flags(&bufs[..bufs.len().min(MAX_IOV)], crate::sys::MSG_NOSIGNAL)
}

/// Runs a transfer of up to `len` bytes when ready for `interest`. A transfer shorter than `len`
/// drained the socket (or filled its send buffer): the readiness is cleared at once, as tokio
/// does, which saves the `WouldBlock` call that would find out.
fn poll_transfer(
    reg: &kq_runtime::io::Registration,
    cx: &mut Context<'_>,
    interest: Interest,
    len: usize,
    mut op: impl FnMut() -> io::Result<usize>,
) -> Poll<io::Result<usize>> {
    loop {
        let ev = if interest.is_readable() {
            std::task::ready!(reg.poll_read_ready(cx))?
        } else {
            std::task::ready!(reg.poll_write_ready(cx))?
        };
        match op() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => reg.clear_readiness(ev),
            Ok(n) if n > 0 && n < len => {
                reg.clear_readiness(ev);
                return Poll::Ready(Ok(n));
            }
            r => return Poll::Ready(r),
        }
    }
}

/// Reads when ready.
pub(crate) fn poll_read<T>(
    io: &AsyncFd<T>,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>>
where
    T: RawStream,
    for<'a> &'a T: Read,
{
    let len = buf.len();
    poll_transfer(io.registration(), cx, Interest::READABLE, len, || io.get_ref().read(buf))
}

/// Writes when ready.
pub(crate) fn poll_write<T>(
    io: &AsyncFd<T>,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>>
where
    T: RawStream,
    for<'a> &'a T: Write,
{
    poll_transfer(io.registration(), cx, Interest::WRITABLE, buf.len(), || io.get_ref().write(buf))
}

pub(crate) fn poll_write_vectored<T: RawStream>(
    io: &AsyncFd<T>,
    cx: &mut Context<'_>,
    bufs: &[IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    io.poll_io(cx, Interest::WRITABLE, || io.get_ref().write_vectored_raw(bufs))
}

pub(crate) fn shutdown_write<T: RawStream>(io: &AsyncFd<T>) -> io::Result<()> {
    match io.get_ref().shutdown_raw(Shutdown::Write) {
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
        r => r,
    }
}

/// Keeps [`StreamOps`] to this crate's streams: their halves' tokio `AsyncRead` hands
/// `poll_read_priv` an uninitialised buffer, which only a read(2)/recv(2) may be given.
pub(crate) mod sealed {
    pub trait Sealed {}
}

/// The operations a connected stream type provides to its halves and trait impls (implemented
/// by this crate's stream types only: the trait is sealed).
pub trait StreamOps: sealed::Sealed + Send + Sync + 'static {
    #[doc(hidden)]
    fn poll_read_priv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    #[doc(hidden)]
    fn poll_write_priv(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
    #[doc(hidden)]
    fn poll_write_vectored_priv(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>>;
    #[doc(hidden)]
    fn shutdown_priv(&self) -> io::Result<()>;
}

/// The read half of a stream, borrowed (from `split`).
#[derive(Debug)]
pub struct ReadHalf<'a, S>(pub(crate) &'a S);

/// The write half of a stream, borrowed (from `split`).
#[derive(Debug)]
pub struct WriteHalf<'a, S>(pub(crate) &'a S);

/// The read half of a stream, owned (from `into_split`).
#[derive(Debug)]
pub struct OwnedReadHalf<S>(pub(crate) std::sync::Arc<S>);

/// The write half of a stream, owned (from `into_split`). Dropping it shuts the write side
/// down, so the peer sees end-of-file.
#[derive(Debug)]
pub struct OwnedWriteHalf<S: StreamOps>(pub(crate) std::sync::Arc<S>);

impl<S: StreamOps> Drop for OwnedWriteHalf<S> {
    fn drop(&mut self) {
        let _ = self.0.shutdown_priv();
    }
}

impl<S: StreamOps> OwnedReadHalf<S> {
    /// The stream both halves share.
    pub fn as_ref(&self) -> &S {
        &self.0
    }
}

impl<S: StreamOps> OwnedWriteHalf<S> {
    /// The stream both halves share.
    pub fn as_ref(&self) -> &S {
        &self.0
    }
}

macro_rules! delegate_half {
    ([$($g:tt)*] $ty:ty) => {
        impl<$($g)*> $ty {
            #[allow(dead_code)]
            fn poll_read_priv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
                self.0.poll_read_priv(cx, buf)
            }
            #[allow(dead_code)]
            fn poll_write_priv(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                self.0.poll_write_priv(cx, buf)
            }
            #[allow(dead_code)]
            fn poll_write_vectored_priv(&self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
                self.0.poll_write_vectored_priv(cx, bufs)
            }
            #[allow(dead_code)]
            fn shutdown_priv(&self) -> io::Result<()> {
                self.0.shutdown_priv()
            }
        }
    };
}

delegate_half!(['a, S: StreamOps] ReadHalf<'a, S>);
delegate_half!(['a, S: StreamOps] WriteHalf<'a, S>);
delegate_half!([S: StreamOps] OwnedReadHalf<S>);
delegate_half!([S: StreamOps] OwnedWriteHalf<S>);
impl_async_read!(['a, S: StreamOps] ReadHalf<'a, S>);
impl_async_read!([S: StreamOps] OwnedReadHalf<S>);
impl_async_write!(['a, S: StreamOps] WriteHalf<'a, S>);
impl_async_write!([S: StreamOps] OwnedWriteHalf<S>);

/// Implements futures-io's (and, with `tokio-io`, tokio's) AsyncRead for a type with
/// `poll_read_priv(&self, cx, buf)`.
macro_rules! impl_async_read {
    ([$($g:tt)*] $ty:ty) => {
        impl<$($g)*> futures_io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_read_priv(cx, buf)
            }
        }

        #[cfg(feature = "tokio-io")]
        impl<$($g)*> tokio::io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                // Not `initialize_unfilled`: that zeroes the whole unfilled part on every read
                // (hyper's 8 KiB buffer per request: 1 % of an HTTP server's time in memset).
                // SAFETY: the types this macro is used for read with read(2)/recv(2), which
                // only write to the buffer and never read it, so no uninitialised byte is
                // observed (tokio's own `PollEvented::poll_read` does the same); the `n` bytes
                // the call reports are initialised, so `assume_init(n)` holds.
                let n = unsafe {
                    let unfilled = buf.unfilled_mut();
                    let bytes = &mut *(unfilled as *mut [std::mem::MaybeUninit<u8>] as *mut [u8]);
                    let n = std::task::ready!(self.poll_read_priv(cx, bytes))?;
                    buf.assume_init(n);
                    n
                };
                buf.advance(n);
                std::task::Poll::Ready(Ok(()))
            }
        }
    };
}

/// Implements futures-io's (and, with `tokio-io`, tokio's) AsyncWrite for a type with
/// `poll_write_priv`, `poll_write_vectored_priv` and `shutdown_priv`.
macro_rules! impl_async_write {
    ([$($g:tt)*] $ty:ty) => {
        impl<$($g)*> futures_io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_write_priv(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_write_vectored_priv(cx, bufs)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(self.shutdown_priv())
            }
        }

        #[cfg(feature = "tokio-io")]
        impl<$($g)*> tokio::io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_write_priv(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_write_vectored_priv(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(self.shutdown_priv())
            }
        }
    };
}

pub(crate) use {impl_async_read, impl_async_write};

/// The methods and trait impls every connected stream type (`struct X { io: AsyncFd<_> }`)
/// shares: readiness, `try_*`, halves, `StreamOps`, the async io traits, `AsRawFd`.
macro_rules! impl_stream {
    ($ty:ident) => {
        impl $ty {
            /// Waits until readable (or hung up). Cancel safe.
            pub async fn readable(&self) -> std::io::Result<()> {
                self.io.readable().await.map(|_| ())
            }

            /// Waits until writable. Cancel safe.
            pub async fn writable(&self) -> std::io::Result<()> {
                self.io.writable().await.map(|_| ())
            }

            /// Reads without waiting: `WouldBlock` when no data is known to be there.
            pub fn try_read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                use std::io::Read;
                let reg = self.io.registration();
                reg.try_io(kq_runtime::io::Interest::READABLE, || self.io.get_ref().read(buf))
            }

            /// Writes without waiting.
            pub fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
                use std::io::Write;
                let reg = self.io.registration();
                reg.try_io(kq_runtime::io::Interest::WRITABLE, || self.io.get_ref().write(buf))
            }

            /// Writes several buffers without waiting.
            pub fn try_write_vectored(&self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                let reg = self.io.registration();
                reg.try_io(kq_runtime::io::Interest::WRITABLE, || $crate::stream::RawStream::write_vectored_raw(self.io.get_ref(), bufs))
            }

            /// Borrowed halves, usable from one task each.
            ///
            /// With `futures_util::AsyncReadExt` in scope, `stream.split()` resolves to that
            /// trait's `split(self)`; call `TcpStream::split(&mut stream)` for this one.
            pub fn split(&mut self) -> ($crate::stream::ReadHalf<'_, $ty>, $crate::stream::WriteHalf<'_, $ty>) {
                ($crate::stream::ReadHalf(self), $crate::stream::WriteHalf(self))
            }

            /// Owned halves, movable to different tasks.
            pub fn into_split(self) -> ($crate::stream::OwnedReadHalf<$ty>, $crate::stream::OwnedWriteHalf<$ty>) {
                let s = std::sync::Arc::new(self);
                ($crate::stream::OwnedReadHalf(s.clone()), $crate::stream::OwnedWriteHalf(s))
            }

            fn poll_read_priv(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::stream::poll_read(&self.io, cx, buf)
            }

            fn poll_write_priv(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::stream::poll_write(&self.io, cx, buf)
            }

            fn poll_write_vectored_priv(
                &self,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $crate::stream::poll_write_vectored(&self.io, cx, bufs)
            }

            fn shutdown_priv(&self) -> std::io::Result<()> {
                $crate::stream::shutdown_write(&self.io)
            }
        }

        impl $crate::stream::sealed::Sealed for $ty {}

        impl $crate::stream::StreamOps for $ty {
            fn poll_read_priv(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $ty::poll_read_priv(self, cx, buf)
            }
            fn poll_write_priv(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $ty::poll_write_priv(self, cx, buf)
            }
            fn poll_write_vectored_priv(
                &self,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                $ty::poll_write_vectored_priv(self, cx, bufs)
            }
            fn shutdown_priv(&self) -> std::io::Result<()> {
                $ty::shutdown_priv(self)
            }
        }

        impl $crate::sys::AsRawFd for $ty {
            fn as_raw_fd(&self) -> $crate::sys::RawFd {
                self.io.as_raw_fd()
            }
        }

        $crate::stream::impl_async_read!([] $ty);
        $crate::stream::impl_async_write!([] $ty);
    };
}

pub(crate) use impl_stream;
