//! TCP: [`TcpListener`], [`TcpStream`] and its halves.

use crate::sys::{AsRawFd, RawFd};
use std::io;
use std::net::{self, Shutdown, SocketAddr, ToSocketAddrs};
use std::task::{Context, Poll};

use kq_runtime::io::Interest;
use socket2::{Domain, Protocol, Socket, Type};

use crate::stream;
use crate::AsyncFd;

/// A TCP listening socket.
#[derive(Debug)]
pub struct TcpListener {
    io: AsyncFd<net::TcpListener>,
}

/// A connected TCP socket. Reads and writes through the futures-io traits (and tokio's with
/// the `tokio-io` feature), or `try_read`/`try_write` after `readable`/`writable`.
#[derive(Debug)]
pub struct TcpStream {
    io: AsyncFd<net::TcpStream>,
}

/// Borrowed read half of a [`TcpStream`].
pub type ReadHalf<'a> = stream::ReadHalf<'a, TcpStream>;
/// Borrowed write half of a [`TcpStream`].
pub type WriteHalf<'a> = stream::WriteHalf<'a, TcpStream>;
/// Owned read half of a [`TcpStream`].
pub type OwnedReadHalf = stream::OwnedReadHalf<TcpStream>;
/// Owned write half of a [`TcpStream`] (shuts down the write side when dropped).
pub type OwnedWriteHalf = stream::OwnedWriteHalf<TcpStream>;

/// Resolves `addr` (an error when it names no address).
pub(crate) fn resolve(addr: impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no address to use"));
    }
    Ok(addrs)
}

/// Tries each address in turn, returning the first success or the last error.
pub(crate) fn each_addr<T>(
    addrs: &[SocketAddr],
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for &a in addrs {
        match f(a) {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to use")))
}

impl TcpListener {
    /// Binds to `addr` (SO_REUSEADDR, backlog 1024).
    ///
    /// # Errors
    /// `AddrInUse`, `PermissionDenied`, ... as the OS says; outside a kq runtime.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let addrs = resolve(addr)?;
        each_addr(&addrs, |a| {
            let socket = Socket::new(Domain::for_address(a), Type::STREAM, Some(Protocol::TCP))?;
            socket.set_reuse_address(true)?;
            socket.bind(&a.into())?;
            socket.listen(1024)?;
            TcpListener::from_std(socket.into())
        })
    }

    /// Wraps a std listener (made non-blocking here).
    ///
    /// # Errors
    /// Outside a kq runtime, or if the fd cannot be registered.
    pub fn from_std(listener: net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        Ok(TcpListener { io: AsyncFd::socket(listener, Interest::READABLE)? })
    }

    /// Unwraps into the (non-blocking) std listener.
    pub fn into_std(self) -> io::Result<net::TcpListener> {
        Ok(self.io.into_inner())
    }

    /// Accepts a connection. Cancel safe: no connection is lost if the future is dropped.
    ///
    /// # Errors
    /// An accept error (e.g. `EMFILE` when out of fds); the listener keeps working.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, addr) =
            self.io.async_io(Interest::READABLE, crate::sys::accept_nonblocking).await?;
        // Registered when it first waits: a connection closed at once never is.
        let stream = AsyncFd::deferred_socket(stream, Interest::BOTH).map(|io| TcpStream { io })?;
        Ok((stream, addr))
    }

    /// Polls for a connection.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let (stream, addr) = std::task::ready!(self.io.poll_io(cx, Interest::READABLE, || {
            crate::sys::accept_nonblocking(self.io.get_ref())
        }))?;
        // Registered when it first waits: a connection closed at once never is.
        let stream = AsyncFd::deferred_socket(stream, Interest::BOTH).map(|io| TcpStream { io });
        Poll::Ready(stream.map(|s| (s, addr)))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Sets IP_TTL.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// IP_TTL.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

impl TcpStream {
    /// Connects to `addr` (each resolved address in turn).
    ///
    /// `addr` is resolved with std's [`ToSocketAddrs`] on the calling task's thread: a host
    /// name (not an IP literal) is a blocking `getaddrinfo`, which holds that worker for as
    /// long as the name server takes. tokio hands names to its blocking pool; here, resolve a
    /// name that may be slow with `kq_runtime::task::spawn_blocking` and pass the addresses.
    ///
    /// # Errors
    /// `ConnectionRefused` when nothing listens, `TimedOut`, ... as the OS says.
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let addrs = resolve(addr)?;
        let mut last = None;
        for a in addrs {
            match TcpStream::connect_addr(a).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last
            .unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to use")))
    }

    async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        let socket = crate::sys::nonblocking_tcp_socket(Domain::for_address(addr))?;
        TcpStream::connect_nonblocking(socket, addr).await
    }

    pub(crate) async fn connect_socket(socket: Socket, addr: SocketAddr) -> io::Result<TcpStream> {
        socket.set_nonblocking(true)?;
        TcpStream::connect_nonblocking(socket, addr).await
    }

    async fn connect_nonblocking(socket: Socket, addr: SocketAddr) -> io::Result<TcpStream> {
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            // Windows: a non-blocking connect in progress is WSAEWOULDBLOCK.
            #[cfg(windows)]
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        let stream =
            TcpStream { io: AsyncFd::socket(net::TcpStream::from(socket), Interest::BOTH)? };
        let ready = stream.io.writable().await?.ready();
        // On Linux a connecting TCP socket reports nothing (no EPOLLOUT) until its handshake
        // ends, and a failed one reports EPOLLERR|EPOLLHUP with it (the knote's EV_EOF, kept in
        // the readiness): writable without either is a connection, and SO_ERROR need not be
        // asked (one system call per connect, which tokio pays). Elsewhere, and whenever the
        // readiness shows a hang-up or an error, it is asked.
        let clean =
            ready.is_some_and(|r| !r.is_error() && !r.is_write_closed() && !r.is_read_closed());
        if !(cfg!(any(target_os = "linux", target_os = "android")) && clean) {
            if let Some(e) = stream.io.get_ref().take_error()? {
                return Err(e);
            }
        }
        // Writable without a pending error can still mean "not connected" on some systems (as
        // mio's documentation warns). Not on Linux (above).
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        stream.io.get_ref().peer_addr()?;
        Ok(stream)
    }

    /// Wraps a connected std stream (made non-blocking here).
    ///
    /// # Errors
    /// Outside a kq runtime.
    pub fn from_std(stream: net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        Ok(TcpStream { io: AsyncFd::socket(stream, Interest::BOTH)? })
    }

    /// Unwraps into the (non-blocking) std stream.
    pub fn into_std(self) -> io::Result<net::TcpStream> {
        Ok(self.io.into_inner())
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Sets TCP_NODELAY.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(nodelay)
    }

    /// TCP_NODELAY.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().nodelay()
    }

    /// Sets IP_TTL.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// IP_TTL.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }

    /// SO_ERROR (taking it).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }

    /// Shuts down the read, write or both sides.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// Reads without consuming. Cancel safe.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.async_io(Interest::READABLE, |s| s.peek(buf)).await
    }
}

crate::stream::impl_stream!(TcpStream);
