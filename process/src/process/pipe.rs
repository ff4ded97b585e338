//! The child's stdin, stdout and stderr as async pipes: non-blocking fds registered with the
//! runtime (kq-net's [`AsyncFd`], READ or WRITE knotes with EV_CLEAR). futures-io's
//! `AsyncRead`/`AsyncWrite` always; tokio's behind the `tokio-io` feature.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::process::Stdio;
use std::task::{Context, Poll};

use kq_net::AsyncFd;
use kq_runtime::io::Interest;

use crate::sys;

/// One end of a pipe, registered with the runtime.
#[derive(Debug)]
struct Pipe {
    /// `None` once closed (`poll_close` on stdin).
    fd: Option<AsyncFd<File>>,
}

impl Pipe {
    fn new(fd: OwnedFd, interest: Interest) -> io::Result<Pipe> {
        sys::set_nonblocking(fd.as_raw_fd(), true)?;
        Ok(Pipe { fd: Some(AsyncFd::with_interest(File::from(fd), interest)?) })
    }

    fn fd(&self) -> io::Result<&AsyncFd<File>> {
        self.fd.as_ref().ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "pipe closed"))
    }

    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let fd = self.fd()?;
        fd.poll_io(cx, Interest::READABLE, || fd.get_ref().read(buf))
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let fd = self.fd()?;
        fd.poll_io(cx, Interest::WRITABLE, || fd.get_ref().write(buf))
    }

    fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let fd = self.fd()?;
        fd.poll_io(cx, Interest::WRITABLE, || fd.get_ref().write_vectored(bufs))
    }

    fn into_owned(mut self) -> io::Result<OwnedFd> {
        let fd = self.fd.take().ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        Ok(OwnedFd::from(fd.into_inner()))
    }

    /// The fd, or -1 once closed.
    fn raw(&self) -> RawFd {
        self.fd.as_ref().map_or(-1, |f| f.get_ref().as_raw_fd())
    }
}

macro_rules! pipe_type {
    ($(#[$doc:meta])* $name:ident, $std:ty, $interest:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name {
            pipe: Pipe,
        }

        impl $name {
            pub(crate) fn from_std(std: $std) -> io::Result<$name> {
                Ok($name { pipe: Pipe::new(OwnedFd::from(std), $interest)? })
            }

            /// Deregisters the pipe and returns its fd, made blocking again as tokio's is: the
            /// usual next step is `Stdio::from(fd)` for another child, and a program given a
            /// non-blocking pipe fails with EAGAIN (`cat: Resource temporarily unavailable`).
            ///
            /// # Errors
            /// `NotConnected` after `close`; fcntl's error.
            pub fn into_owned_fd(self) -> io::Result<OwnedFd> {
                let fd = self.pipe.into_owned()?;
                sys::set_nonblocking(fd.as_raw_fd(), false)?;
                Ok(fd)
            }

            /// The pipe as a [`Stdio`] for another command (`a | b`) (blocking again, as
            /// programs expect).
            ///
            /// # Errors
            /// `NotConnected` after `close`; fcntl's error.
            pub fn into_stdio(self) -> io::Result<Stdio> {
                Ok(Stdio::from(self.into_owned_fd()?))
            }
        }

        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.pipe.raw()
            }
        }
    };
}

pipe_type!(
    /// The child's stdin (the write end of a pipe). Dropping it (or `close`) closes the pipe,
    /// so the child reads end-of-file.
    ChildStdin,
    std::process::ChildStdin,
    Interest::WRITABLE
);
pipe_type!(
    /// The child's stdout (the read end of a pipe).
    ChildStdout,
    std::process::ChildStdout,
    Interest::READABLE
);
pipe_type!(
    /// The child's stderr (the read end of a pipe).
    ChildStderr,
    std::process::ChildStderr,
    Interest::READABLE
);

macro_rules! impl_read {
    ($name:ident) => {
        impl futures_io::AsyncRead for $name {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                self.pipe.poll_read(cx, buf)
            }
        }

        #[cfg(feature = "tokio-io")]
        impl tokio::io::AsyncRead for $name {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                let n = std::task::ready!(self.pipe.poll_read(cx, buf.initialize_unfilled()))?;
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
        }
    };
}

impl_read!(ChildStdout);
impl_read!(ChildStderr);

impl futures_io::AsyncWrite for ChildStdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.pipe.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.pipe.poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Closes the pipe: the child reads end-of-file.
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().pipe.fd = None;
        Poll::Ready(Ok(()))
    }
}

#[cfg(feature = "tokio-io")]
impl tokio::io::AsyncWrite for ChildStdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.pipe.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.pipe.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Closes the pipe: the child reads end-of-file.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().pipe.fd = None;
        Poll::Ready(Ok(()))
    }
}
