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

/// The errno of an OS error, and `EIO` for one that carries none (the one fallback of the crate).
#[cfg_attr(not(all(unix, not(loom))), allow(dead_code))]
pub(crate) fn of(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(EIO)
}

/// The errno of the calling thread's last failed OS call (`EIO` if it has none).
#[cfg(unix)]
#[cfg_attr(loom, allow(dead_code))]
pub(crate) fn last() -> i32 {
    of(&io::Error::last_os_error())
}

#[cfg(unix)]
const EIO: i32 = libc::EIO;
#[cfg(not(unix))]
const EIO: i32 = 5;

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
        io::Error::new(kind, ChangeErrno(errno))
    }
}

/// The errno of a failed change, carried inside the `io::Error` where the raw OS code cannot
/// hold it (Windows).
#[derive(Debug)]
struct ChangeErrno(i32);

impl std::fmt::Display for ChangeErrno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "kqueue change failed (errno {})", self.0)
    }
}

impl std::error::Error for ChangeErrno {}

/// The kqueue errno an error of [`Kqueue::kevent`](crate::Kqueue::kevent) carries, on every
/// platform: the raw OS error on Unix; on Windows, where an `io::Error`'s raw code is a Windows
/// error, the errno the reactor put inside it (the `data` an `EV_ERROR` entry would have had).
/// `None` for an error that carries none.
pub fn errno_of(e: &io::Error) -> Option<i32> {
    if let Some(carried) = e.get_ref().and_then(|inner| inner.downcast_ref::<ChangeErrno>()) {
        return Some(carried.0);
    }
    if cfg!(unix) {
        e.raw_os_error()
    } else {
        None
    }
}

/// The `io::Error` for a failed change on `filter`: as [`to_io_error`], and for the resource
/// limits of Linux's VNODE emulation, a message naming the sysctl to raise.
pub(crate) fn change_error(errno: i32, filter: crate::Filter) -> io::Error {
    #[cfg(target_os = "linux")]
    if filter == crate::Filter::Vnode {
        let sysctl = match errno {
            libc::ENOSPC => Some("fs.inotify.max_user_watches"),
            libc::EMFILE => Some("fs.inotify.max_user_instances"),
            _ => None,
        };
        if let Some(sysctl) = sysctl {
            let kind = io::Error::from_raw_os_error(errno).kind();
            let msg = format!("inotify limit reached (errno {errno}): raise the {sysctl} sysctl");
            return io::Error::new(kind, msg);
        }
    }
    let _ = filter;
    to_io_error(errno)
}
