//! kq-net: sockets on the kq runtime, shaped like tokio's `net`.
//!
//! [`TcpListener`], [`TcpStream`] (with borrowed and owned halves), [`TcpSocket`],
//! [`UdpSocket`], [`UnixListener`], [`UnixStream`], [`UnixDatagram`], and [`AsyncFd`] for any
//! other fd. Streams implement the futures-io `AsyncRead`/`AsyncWrite` traits, and tokio's with
//! the `tokio-io` feature (so hyper, through hyper-util's `TokioIo`, runs on kq).
//!
//! Each socket is registered with EV_CLEAR READ/WRITE knotes; the knotes are deleted before the
//! fd is closed. An accepted connection is registered when it first has to wait (until then it
//! is taken as ready, and its first operation is simply tried): one accepted and closed at once
//! costs no knote and no `epoll_ctl` (`Registration::new_deferred`). Readiness is cached per socket, so a read that finds data takes no reactor lock.
//!
//! On Windows (through the reactor's mio/AFD backend): the TCP and UDP types and [`AsyncFd`] over
//! a socket handle (`AsRawFd` there is this crate's trait: the raw `SOCKET` as the reactor's
//! ident; the socket types also implement std's `AsRawSocket`). Unix sockets are Unix-only.

mod async_fd;
mod socket;
pub(crate) mod stream;
mod sys;
pub mod tcp;
mod udp;
#[cfg(unix)]
pub mod unix;
#[cfg(windows)]
mod windows;

pub use async_fd::{AsyncFd, AsyncFdReadyGuard, TryIoError};
pub use socket::TcpSocket;
pub use stream::StreamOps;
pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
#[cfg(unix)]
pub use unix::{UnixDatagram, UnixListener, UnixStream};
#[cfg(windows)]
pub use windows::{AsRawFd, RawFd};
