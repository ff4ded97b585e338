//! The raw handle the reactor names a socket by: a file descriptor on Unix, the `SOCKET` handle on
//! Windows (through this crate's own `AsRawFd`, in `windows.rs`); and the sockets made
//! non-blocking from their first system call where the OS allows it.

#[cfg(unix)]
pub use std::os::fd::{AsRawFd, RawFd};

#[cfg(windows)]
pub use crate::windows::{AsRawFd, RawFd};

use std::io;
use std::net::{self, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

/// Emits `$yes` where `$cond` holds and `$no` where it does not, with the condition written once
/// (a list of targets written twice, as `any(..)` and `not(any(..))`, drifts).
macro_rules! cfg_else {
    (#[cfg($cond:meta)] { $($yes:item)* } else { $($no:item)* }) => {
        $(#[cfg($cond)] $yes)*
        $(#[cfg(not($cond))] $no)*
    };
}

cfg_else! {
    // Sockets non-blocking (and close-on-exec) from the system call that makes them, where
    // `socket(2)` and `accept4(2)` take the flags: one system call each instead of three and two.
    // The same systems have `MSG_NOSIGNAL`.
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    ))]
    {
        mod flags {
            use super::*;

            /// The `send` flag that keeps a write to a peer gone from raising SIGPIPE.
            pub(crate) const MSG_NOSIGNAL: std::ffi::c_int = libc::MSG_NOSIGNAL;

            /// A new TCP socket, non-blocking from `socket(2)`.
            pub(crate) fn nonblocking_tcp_socket(domain: Domain) -> io::Result<Socket> {
                Socket::new(domain, Type::STREAM.nonblocking(), Some(Protocol::TCP))
            }

            /// Accepts one connection, non-blocking from `accept4(2)`.
            pub(crate) fn accept_nonblocking(
                listener: &net::TcpListener,
            ) -> io::Result<(net::TcpStream, SocketAddr)> {
                let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
                let (socket, addr) = socket2::SockRef::from(listener).accept4(flags)?;
                let addr = addr.as_socket().ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        "accepted a connection without an IP address",
                    )
                })?;
                Ok((socket.into(), addr))
            }
        }
    } else {
        // Elsewhere (macOS, Windows): made, then set non-blocking.
        mod flags {
            use super::*;

            /// No such `send` flag: macOS sockets carry `SO_NOSIGPIPE`, Windows has no SIGPIPE.
            pub(crate) const MSG_NOSIGNAL: std::ffi::c_int = 0;

            /// A new TCP socket, then set non-blocking.
            pub(crate) fn nonblocking_tcp_socket(domain: Domain) -> io::Result<Socket> {
                let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
                socket.set_nonblocking(true)?;
                Ok(socket)
            }

            /// Accepts one connection, then sets it non-blocking.
            pub(crate) fn accept_nonblocking(
                listener: &net::TcpListener,
            ) -> io::Result<(net::TcpStream, SocketAddr)> {
                let (stream, addr) = listener.accept()?;
                stream.set_nonblocking(true)?;
                Ok((stream, addr))
            }
        }
    }
}

pub(crate) use flags::{accept_nonblocking, nonblocking_tcp_socket, MSG_NOSIGNAL};
