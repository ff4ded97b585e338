//! The readiness a backend reports for an fd, as bits of a `u8` (the core reads them in
//! `activate_edge`; every backend writes them).

/// Readable.
pub(crate) const READ: u8 = 1;
/// Writable.
pub(crate) const WRITE: u8 = 2;
/// The read side hung up.
pub(crate) const RDHUP: u8 = 4;
/// The write side hung up (or the peer is gone).
pub(crate) const WRHUP: u8 = 8;
/// An error is pending.
pub(crate) const ERR: u8 = 16;
