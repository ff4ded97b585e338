//! The raw handle the reactor names a socket by: a file descriptor on Unix, the `SOCKET` handle on
//! Windows (through this crate's own `AsRawFd`, in `windows.rs`).

#[cfg(unix)]
pub use std::os::fd::{AsRawFd, RawFd};

#[cfg(windows)]
pub use crate::windows::{AsRawFd, RawFd};
