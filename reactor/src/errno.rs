//! errno values and their conversion to `io::Error`, the same on every platform.
//!
//! Error entries carry the errno of the running platform (libc's value). On Windows, where an
//! `io::Error`'s raw code is a Windows error rather than an errno, the conversion maps the errnos
//! kqueue gives to the matching `io::ErrorKind`.

use std::io;

/// `EOPNOTSUPP`: the platform cannot provide this filter (`io::ErrorKind::Unsupported`).
#[cfg(unix)]
#[cfg_attr(kq_native, allow(dead_code))]
pub(crate) const EOPNOTSUPP: i32 = libc::EOPNOTSUPP;
/// `EOPNOTSUPP`: the platform cannot provide this filter (`io::ErrorKind::Unsupported`).
#[cfg(not(unix))]
pub(crate) const EOPNOTSUPP: i32 = 130;

/// The `io::Error` for an errno reported by a change.
pub(crate) fn to_io_error(errno: i32) -> io::Error {
    #[cfg(unix)]
    return io::Error::from_raw_os_error(errno);
    #[cfg(not(unix))]
    {
        let kind = match errno {
            EOPNOTSUPP => io::ErrorKind::Unsupported,
            libc::ENOENT | libc::ESRCH => io::ErrorKind::NotFound,
            libc::EINVAL | libc::EBADF => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, format!("kqueue change failed (errno {errno})"))
    }
}
