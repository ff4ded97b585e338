//! errno values used where `libc` has no portable name.

/// `EOPNOTSUPP`: the platform cannot provide this filter (`io::ErrorKind::Unsupported`).
#[cfg(unix)]
pub(crate) const EOPNOTSUPP: i32 = libc::EOPNOTSUPP;
/// `EOPNOTSUPP`: the platform cannot provide this filter (`io::ErrorKind::Unsupported`).
#[cfg(not(unix))]
pub(crate) const EOPNOTSUPP: i32 = 130;
