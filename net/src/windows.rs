//! Windows: the raw `SOCKET` as the reactor's ident.
//!
//! std has no `AsRawFd` on Windows, and [`AsyncFd`](crate::AsyncFd) needs one trait for the
//! handles it registers: this one, implemented for std's and socket2's sockets and for kq's own
//! socket types (which also implement std's `AsRawSocket`).

use std::os::windows::io::{AsRawSocket, RawSocket};

/// A raw socket handle as the reactor's ident (`SOCKET` as `usize`).
pub type RawFd = usize;

/// A value that owns or borrows a socket: its raw handle, for registration with the reactor.
pub trait AsRawFd {
    /// The raw `SOCKET` handle.
    fn as_raw_fd(&self) -> RawFd;
}

macro_rules! via_as_raw_socket {
    ($($ty:ty),*) => {$(
        impl AsRawFd for $ty {
            fn as_raw_fd(&self) -> RawFd {
                AsRawSocket::as_raw_socket(self) as RawFd
            }
        }
    )*};
}

via_as_raw_socket!(
    std::net::TcpStream,
    std::net::TcpListener,
    std::net::UdpSocket,
    socket2::Socket
);

macro_rules! as_raw_socket {
    ($($ty:ty),*) => {$(
        impl AsRawSocket for $ty {
            fn as_raw_socket(&self) -> RawSocket {
                AsRawFd::as_raw_fd(self) as RawSocket
            }
        }
    )*};
}

as_raw_socket!(crate::TcpStream, crate::TcpListener, crate::UdpSocket, crate::TcpSocket);

impl<T: AsRawFd> AsRawSocket for crate::AsyncFd<T> {
    fn as_raw_socket(&self) -> RawSocket {
        AsRawFd::as_raw_fd(self) as RawSocket
    }
}
