//! kq: an async runtime built on kqueue semantics.
//!
//! This facade re-exports the workspace crates. Today the reactor ([`reactor`]) is complete; the
//! executor, networking, file watching and processes are being built in their own crates.

pub use kq_reactor as reactor;
pub use kq_reactor::{Filter, Flags, Kevent, Kqueue, LockStats};
