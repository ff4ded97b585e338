//! Unix-domain sockets: [`UnixListener`], [`UnixStream`], [`UnixDatagram`].

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::{self, SocketAddr};
use std::path::Path;
use std::task::{Context, Poll};

use kq_runtime::io::Interest;

use crate::AsyncFd;

/// Borrowed read half of a [`UnixStream`].
pub type ReadHalf<'a> = crate::stream::ReadHalf<'a, UnixStream>;
/// Borrowed write half of a [`UnixStream`].
pub type WriteHalf<'a> = crate::stream::WriteHalf<'a, UnixStream>;
/// Owned read half of a [`UnixStream`].
pub type OwnedReadHalf = crate::stream::OwnedReadHalf<UnixStream>;
/// Owned write half of a [`UnixStream`] (shuts down the write side when dropped).
pub type OwnedWriteHalf = crate::stream::OwnedWriteHalf<UnixStream>;

/// A Unix-domain listening socket.
#[derive(Debug)]
pub struct UnixListener {
    io: AsyncFd<net::UnixListener>,
}

/// A connected Unix-domain stream.
#[derive(Debug)]
pub struct UnixStream {
    io: AsyncFd<net::UnixStream>,
}

/// A Unix-domain datagram socket.
#[derive(Debug)]
pub struct UnixDatagram {
    io: AsyncFd<net::UnixDatagram>,
}

impl UnixListener {
    /// Binds to `path`. On Linux and Android, a path whose first byte is NUL (`"\0name"`) names
    /// `name` in the abstract namespace, as tokio's `bind` takes it (and as
    /// [`UnixStream::connect`] connects to it).
    ///
    /// # Errors
    /// `AddrInUse` if the path (or abstract name) is taken, `InvalidInput` for a path too long
    /// for `sun_path`, and other bind errors; outside a kq runtime.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        UnixListener::from_std(bind_listener(path.as_ref())?)
    }

    /// Wraps a std listener (made non-blocking here).
    pub fn from_std(listener: net::UnixListener) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        Ok(UnixListener { io: AsyncFd::socket(listener, Interest::READABLE)? })
    }

    /// Accepts a connection. Cancel safe.
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (s, a) = self.io.async_io(Interest::READABLE, |l| l.accept()).await?;
        Ok((UnixStream::from_std(s)?, a))
    }

    /// Polls for a connection.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        let (s, a) = std::task::ready!(self
            .io
            .poll_io(cx, Interest::READABLE, || self.io.get_ref().accept()))?;
        Poll::Ready(UnixStream::from_std(s).map(|s| (s, a)))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

/// std's `UnixListener::bind`, which refuses a path with a NUL byte ("paths must not contain
/// interior null bytes"): on Linux and Android a leading NUL is an abstract name, bound here
/// through `SocketAddr::from_abstract_name`.
fn bind_listener(path: &Path) -> io::Result<net::UnixListener> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        #[cfg(target_os = "android")]
        use std::os::android::net::SocketAddrExt;
        #[cfg(target_os = "linux")]
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::ffi::OsStrExt;
        if let Some(name) = path.as_os_str().as_bytes().strip_prefix(b"\0") {
            return net::UnixListener::bind_addr(&SocketAddr::from_abstract_name(name)?);
        }
    }
    net::UnixListener::bind(path)
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

impl UnixStream {
    /// Connects to `path`.
    ///
    /// # Errors
    /// `NotFound`, `ConnectionRefused`, ... as the OS says.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        use socket2::{Domain, SockAddr, Socket, Type};
        let addr = SockAddr::unix(path)?;
        // Non-blocking before the connect: a blocking one would hold this runtime thread for
        // as long as the listener's backlog is full. Linux completes a Unix-domain connect at
        // once or reports a full backlog as `WouldBlock` (returned, as tokio's connect does);
        // where the OS answers EINPROGRESS, the connection is waited for.
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        socket.set_nonblocking(true)?;
        let in_progress = match socket.connect(&addr) {
            Ok(()) => false,
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => true,
            Err(e) => return Err(e),
        };
        let stream = UnixStream::from_std(socket.into())?;
        if in_progress {
            stream.io.writable().await?;
            if let Some(e) = stream.io.get_ref().take_error()? {
                return Err(e);
            }
        }
        Ok(stream)
    }

    /// A connected pair.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = net::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }

    /// Wraps a std stream (made non-blocking here).
    pub fn from_std(stream: net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        Ok(UnixStream { io: AsyncFd::socket(stream, Interest::BOTH)? })
    }

    /// Unwraps into the (non-blocking) std stream.
    pub fn into_std(self) -> io::Result<net::UnixStream> {
        Ok(self.io.into_inner())
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Shuts down the read, write or both sides.
    pub fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }
}

crate::stream::impl_stream!(UnixStream);

impl UnixDatagram {
    /// Binds to `path`.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(net::UnixDatagram::bind(path)?)
    }

    /// An unbound socket.
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(net::UnixDatagram::unbound()?)
    }

    /// A connected pair.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = net::UnixDatagram::pair()?;
        Ok((UnixDatagram::from_std(a)?, UnixDatagram::from_std(b)?))
    }

    /// Wraps a std socket (made non-blocking here).
    pub fn from_std(socket: net::UnixDatagram) -> io::Result<UnixDatagram> {
        socket.set_nonblocking(true)?;
        Ok(UnixDatagram { io: AsyncFd::socket(socket, Interest::BOTH)? })
    }

    /// Sets the default peer.
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.io.get_ref().connect(path)
    }

    /// Sends to the connected peer. Cancel safe.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.async_io(Interest::WRITABLE, |s| s.send(buf)).await
    }

    /// Receives from the connected peer. Cancel safe.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.async_io(Interest::READABLE, |s| s.recv(buf)).await
    }

    /// Sends to `path`. Cancel safe.
    pub async fn send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let path = path.as_ref();
        self.io.async_io(Interest::WRITABLE, |s| s.send_to(buf, path)).await
    }

    /// Receives a datagram and its sender. Cancel safe.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.async_io(Interest::READABLE, |s| s.recv_from(buf)).await
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

impl AsRawFd for UnixDatagram {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}
